"""Alibaba Cloud EDS image rebuilds and in-guest commands for the simulator (mixed into ``AlicloudSim``).

Per the SDK models (alibabacloud_ecd20200930 5.5.0): ``RebuildDesktops`` (``RegionId``, ``DesktopId.N`` 1-20,
``ImageId``, ``OperateType``, ``AfterStatus``, ``Language``; answers ``RebuildResults[]`` of ``DesktopId``, ``Code``,
``Message``), ``ModifyDesktopGroup`` (``DesktopGroupId``, ``ImageId``), and ``RunCommand``/``DescribeInvocations``
for scripts other than the message popup: the agent runs the text as :mod:`guest` reads it, and the invocation
reports the exit code and the output per desktop. A desktop's image is ``ImageId`` of DescribeDesktops, a
group's that of DescribeDesktopGroups.

Every choice where the SDK is silent is a named constant or function below; the README lists them.
"""

from __future__ import annotations

import json
import re
import sys

try:
    from . import guest
    from .core import Desktop, Request, Response, Route
except ImportError:  # loaded as a top-level module (tests put tests/simulator on sys.path)
    import guest  # type: ignore
    from core import Desktop, Request, Response, Route  # type: ignore

# =========================================================================== assumptions

#: Images of the account (DescribeImages is not simulated): image id -> OsType. Desktops and groups start on
#: BASE_IMAGE (the ImageId the simulator always showed).
BASE_IMAGE = 'm-sim0000000000042'
IMAGES = {BASE_IMAGE: 'Windows', 'm-sim0000000000043': 'Windows', 'm-sim0000000000044': 'Windows',
          'm-simlinux00000001': 'Linux'}
#: RebuildDesktops: 1-20 DesktopId.N (SDK). An unknown desktop or image rejects the whole call (404
#: InvalidDesktopId.NotFound / InvalidImageId.NotFound, nothing applied). A desktop that is not Running or
#: Stopped, or refused by a ``perid`` fault (operation RebuildDesktops), gets its own RebuildResults Code
#: ``IncorrectDesktopStatus`` (the others go); an accepted one has Code ``success`` (SDK: "success indicates
#: success"). The rebuild takes REBUILD_SECONDS, DesktopStatus ``Rebuilding`` (documented), ends the sessions,
#: and leaves the desktop Running (or Stopped with AfterStatus=Stopped) on the new image. Without ImageId the
#: desktop is rebuilt on its current image. OperateType must be ``replace`` when given.
REBUILD_LIMIT = 20
REBUILD_SECONDS = 90.0
REBUILD_STATES = ('Running', 'Stopped')
AFTER_STATUSES = ('Running', 'Stopped')
IMAGE_NOT_FOUND = (404, 'InvalidImageId.NotFound')
GROUP_NOT_FOUND = (404, 'InvalidDesktopGroupId.NotFound')
REBUILD_REFUSED = 'IncorrectDesktopStatus'
#: RunCommand scripts that are not the popup (``MSG_SCRIPT_TEMPLATE``) are run by the agent: Windows desktops only
#: (RunBatScript, RunPowerShellScript), ``Timeout`` seconds at most (then InvocationStatus Timeout,
#: ExecutionTimeout); a non-zero exit is Failed/ExitCodeNonzero (SDK error codes); a desktop not Running is
#: Invalid/InstanceNotRunning, a non-Windows one Invalid/CommandNotApplicable, a ``perid`` fault (RunCommand)
#: Aborted/ClientNotRunning. Output is kept up to OUTPUT_MAX characters (SDK: longer output is truncated).
OUTPUT_MAX = 24 * 1024
#: A script that calls ``msg`` in any other form than the popup pattern fails (exit code 1): the popup is checked
#: exactly, so that a client that builds it any other way is caught.
MSG_CALL_RE = re.compile(r'(?im)(^|[\s;&|])msg(\.exe)?\s')
MSG_CALL_FAILS = (1, "msg: the simulated desktop shows a message only through the popup pattern", 5.0)
#: Test hooks on a desktop (``/_sim/desktops/<id>`` ``extra``): ``guest_exit`` (int) is the exit code of every
#: command there, ``guest_output`` (str) is appended to its output.


class Refusal(Exception):
    """A refusal of the whole call, answered with the ecd error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class AlicloudPatching:
    """RebuildDesktops, ModifyDesktopGroup and agent commands; needs the AlicloudSim attributes."""

    def _asim(self):
        """The simulator module this class is mixed into (its ApiFault, WRITE_ACTIONS and helpers)."""
        return sys.modules[type(self).__module__]

    def add_patching_routes(self) -> None:
        """Register RebuildDesktops and ModifyDesktopGroup; RunCommand also runs scripts other than the popup."""
        for action, handler in (('RebuildDesktops', self.rebuild_desktops),
                                ('ModifyDesktopGroup', self.modify_desktop_group)):
            route = Route('POST', '/', action, self._wrap(self._refusing(handler)), write=True)
            self.actions[action] = route
            self.routes.append(route)
        self.actions['RunCommand'].handler = self._wrap(self.run_any_command)

    def _refusing(self, handler):
        def run(req: Request) -> Response:
            try:
                return handler(req)
            except Refusal as exc:
                return self.error(exc.status, exc.code, exc.message)
        return run

    def reset_patching(self) -> None:
        self.group_images = dict((p.id, BASE_IMAGE) for p in self.pools)
        for d in self.desktops.values():
            d.extra['image_id'] = BASE_IMAGE
        self.commands_run: list[dict] = []

    def image_of(self, d: Desktop) -> str:
        return d.extra.get('image_id', BASE_IMAGE)

    def group_image(self, group_id: str) -> str:
        return self.group_images.get(group_id, BASE_IMAGE)

    # ------------------------------------------------------------------ images
    def rebuild_desktops(self, req: Request) -> Response:
        a = self._asim()
        p = self.params(req)
        self._region(p)
        ids = p.list('DesktopId', REBUILD_LIMIT)
        if not ids:
            raise a.missing('DesktopId')
        image = p.get('ImageId')
        if image and image not in IMAGES:
            raise Refusal(IMAGE_NOT_FOUND[0], IMAGE_NOT_FOUND[1], 'The specified image %s does not exist.' % image)
        if p.get('OperateType') and p.get('OperateType') != 'replace':
            raise a.invalid('OperateType', 'Valid value: replace.')
        after = p.get('AfterStatus') or 'Running'
        if after not in AFTER_STATUSES:
            raise a.invalid('AfterStatus', 'Valid values: %s.' % ', '.join(AFTER_STATUSES))
        desktops = self._known(ids)
        now = self.sim.clock.now()
        results = []
        for d in desktops:
            status = self.status_of(d)
            if self.sim.faults.perid_fails('RebuildDesktops', d.id) or status not in REBUILD_STATES:
                results.append({'DesktopId': d.id, 'Code': REBUILD_REFUSED,
                                'Message': 'The current status of desktop %s (%s) does not support this operation.'
                                % (d.id, status)})
                continue
            d.sessions = []
            d.extra['status'] = 'Rebuilding'
            d.transition = {'kind': 'rebuild', 'power': 'on' if after == 'Running' else 'off', 'begin': now,
                            'until': now + REBUILD_SECONDS, 'image': image or self.image_of(d)}
            results.append({'DesktopId': d.id, 'Code': 'success'})
        return self.ok({'RebuildResults': results})

    def modify_desktop_group(self, req: Request) -> Response:
        a = self._asim()
        p = self.params(req)
        self._region(p)
        group_id = p.get('DesktopGroupId')
        if not group_id:
            raise a.missing('DesktopGroupId')
        if group_id not in self.group_images:
            raise Refusal(GROUP_NOT_FOUND[0], GROUP_NOT_FOUND[1], 'The specified desktop group %s does not exist.'
                          % group_id)
        image = p.get('ImageId')
        if image:
            if image not in IMAGES:
                raise Refusal(IMAGE_NOT_FOUND[0], IMAGE_NOT_FOUND[1], 'The specified image %s does not exist.' % image)
            self.group_images[group_id] = image
        return self.ok({})

    def finish_transition(self, desktop: Desktop, transition: dict) -> None:
        super().finish_transition(desktop, transition)
        if transition.get('kind') == 'rebuild':
            desktop.extra['image_id'] = transition['image']
            desktop.extra.pop('status', None)
            desktop.sessions = []

    # ------------------------------------------------------------------ commands
    def run_any_command(self, req: Request) -> Response:
        """RunCommand as the simulator always handled it, then: a script that is not the popup runs in the guest."""
        resp = self.run_command(req)
        if resp.status != 200:
            return resp
        inv = self.invocations.get(json.loads(resp.data.decode('utf-8')).get('InvokeId'))
        if inv is not None and inv.get('text') is None:
            script = inv['script']
            exit_code, output, seconds = MSG_CALL_FAILS if MSG_CALL_RE.search(script) else guest.run(script)
            inv['command'] = {'exit_code': exit_code, 'output': output[:OUTPUT_MAX], 'seconds': seconds}
            inv['until'] = inv['created'] + min(seconds, float(inv['timeout']))
        return resp

    def settle(self) -> None:
        super().settle()
        now = self.sim.clock.now()
        for inv in self.invocations.values():
            if inv.get('command') and inv['status'] == 'Running' and inv['until'] <= now:
                self._finish_command(inv)

    def _finish_command(self, inv: dict) -> None:
        run = inv['command']
        timed_out = run['seconds'] > float(inv['timeout'])
        for t in inv['targets']:
            if t.get('status'):
                continue  # decided when the task was created
            d = self.desktops.get(t['desktop_id'])
            outcome, exit_code, output = self._command_outcome(d, t, run, timed_out)
            status, code, info = outcome
            t.update(status=status, error_code=code, error_info=info, output=output, exit_code=exit_code,
                     finish=inv['until'])
            if status in ('Success', 'Failed', 'Timeout'):
                self.commands_run.append({'invoke_id': inv['id'], 'desktop_id': t['desktop_id'], 'type': inv['type'],
                                          'text': inv['script'], 'exit_code': exit_code, 'time': inv['created']})
        states = set(t['status'] == 'Success' for t in inv['targets'])
        inv['status'] = 'Success' if states == {True} else 'Failed' if states == {False} else 'PartialFailed'

    def _command_outcome(self, d, target: dict, run: dict, timed_out: bool):
        """((InvocationStatus, ErrorCode, ErrorInfo), exit code, output) of one desktop (SDK error codes)."""
        if d is None:
            return ('Error', 'InstanceReleased', 'the instance has released when create task'), None, ''
        if target.get('fault'):
            return ('Aborted', 'ClientNotRunning', 'the aliyun service is not running on the instance'), None, ''
        if self.status_of(d) != 'Running':
            return ('Invalid', 'InstanceNotRunning', 'the instance is not running when create task'), None, ''
        if d.os_type != 'Windows':
            return ('Invalid', 'CommandNotApplicable', 'the command is not applicable'), None, ''
        output = run['output'] + d.extra.get('guest_output', '')
        exit_code = d.extra.get('guest_exit', run['exit_code'])
        if timed_out:
            return ('Timeout', 'ExecutionTimeout', 'the command execution has been timeout'), None, output
        if exit_code != 0:
            return ('Failed', 'ExitCodeNonzero', 'the command execution exit code is not zero'), exit_code, output
        return ('Success', '', ''), 0, output

    def state(self) -> dict:
        out = super().state()
        out['pool_images'] = dict(self.group_images)
        out['commands'] = list(self.commands_run)
        return out
