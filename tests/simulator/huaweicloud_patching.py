"""Huawei Cloud Workspace image rebuilds and script executions for the simulator (mixed into ``HuaweiSim``).

Field names and enums follow the SDK models (huaweicloudsdkworkspace 3.1.219, ``v2.model``): ListImages
(``ImageInfo``), RebuildDesktopPool (``RebuildDesktopPoolReq``), BatchRebuildDesktopsSystemDisk
(``RebuildDesktopsReq``), ExecuteScriptOrCommand (``ExecuteScriptOrCommandReq``), ExecuteDesktopPoolScript
(``ExecuteDesktopPoolScriptsReq``), ListScriptRecords / ShowScriptRecordDetail (``ScriptRecordSimpleInfo``,
``ShowScriptRecordDetailResponse``) and ShowDesktopPoolsScriptExecTasks (``ScriptExecutionTask``). Rebuilds are
jobs like the pool power action (ShowJob, ListItaSubJobs, one sub-job per desktop); a desktop's image is
``metadata['metering.image_id']`` of its ListDesktopsDetail record.

Every choice where the SDK and the notes are silent is a named constant or function below; the README lists them.
"""

from __future__ import annotations

import sys
import time
import uuid

try:
    from . import guest
    from .core import Desktop, Request, Response, Route
except ImportError:  # loaded as a top-level module (tests put tests/simulator on sys.path)
    import guest  # type: ignore
    from core import Desktop, Request, Response, Route  # type: ignore

# =========================================================================== assumptions

#: Images ListImages shows (ImageInfo fields). Every pool and desktop starts on BASE_IMAGE.
BASE_IMAGE = '3a9d0f1e-7d1c-4b5e-9a0f-5c8e2b7d4a10'
IMAGES = {
    BASE_IMAGE: {'image_type': 'gold', 'os_type': 'Windows', 'name': 'Workspace_Windows_Server_2022_DataCenter',
                 'os_version': '2022'},
    '8f2c6b1a-4e5d-4c3b-9a2f-1d0e7c6b5a41': {'image_type': 'private', 'os_type': 'Windows',
                                             'name': 'golden-win2022-2026-11', 'os_version': '2022'},
    '8f2c6b1a-4e5d-4c3b-9a2f-1d0e7c6b5a42': {'image_type': 'private', 'os_type': 'Windows',
                                             'name': 'golden-win2022-2026-12', 'os_version': '2022'},
    '5b7e9d3c-2a1f-4e6d-8c0b-9f8e7d6c5b43': {'image_type': 'private', 'os_type': 'Linux',
                                             'name': 'golden-ubuntu-2204', 'os_version': '22.04'},
}
#: Stored scripts (script ids -> type and text) for ``script_ids``.
SCRIPTS = {
    'sim-script-patch': {'name': 'apply-patches', 'type': 'POWERSHELL', 'text': 'Write-Output patched\nexit 0'},
    'sim-script-fail': {'name': 'failing-check', 'type': 'POWERSHELL', 'text': 'Write-Output check failed\nexit 5'},
    'sim-script-shell': {'name': 'linux-update', 'type': 'SHELL', 'text': 'echo updated\nexit 0'},
}
#: RebuildDesktopsReq ``desktop_ids``: at most 100 (the notes); RebuildDesktopPoolReq ``desktop_ids``: not published,
#: taken as the pool's size. ``message``: at most 400 characters, non-blank; ``delay_time``: 0-15 minutes.
REBUILD_BATCH_LIMIT = 100
REBUILD_MESSAGE_MAX = 400
DELAY_TIME_RANGE = (0, 15)
IMAGE_TYPES = ('gold', 'private', 'market')
HANDLE_TYPES = ('ONLY_FOR_EXPAND', 'FOR_EXPAND_AND_IDLE', 'FOR_EXPAND_AND_ALL')
#: RebuildDesktopPoolReq without ``handle_type``: only new desktops get the image (the least destructive reading).
DEFAULT_HANDLE_TYPE = 'ONLY_FOR_EXPAND'
#: A pool rebuild changes the pool's ``image_id`` at once and rebuilds the desktops its handle_type covers (or its
#: ``desktop_ids``); a covered desktop already on the image gets a successful no-op sub-job (as pool power actions
#: do). A rebuild ends the desktop's sessions and takes REBUILD_SECONDS after the grace time (``delay_time``
#: minutes); ``task_status`` is ``rebuilding`` meanwhile (documented value); the desktop is ACTIVE afterwards.
REBUILD_SECONDS = 90.0
REBUILD_TASK_STATUS = 'rebuilding'
JOB_TYPE_REBUILD = 'rebuildDesktops'
#: Rebuild refusals per desktop (failed sub-jobs): busy, or a run state other than ACTIVE/SHUTOFF, or an
#: injected ``perid`` fault (operations ``rebuild_desktop_pool`` and ``batch_rebuild_desktops_system_disk``).
REBUILD_STATES = ('ACTIVE', 'SHUTOFF')
#: An unknown image or stored script: 404 WKS.0202 for the whole call, nothing applied.
#: ExecuteScriptOrCommandReq ``resource_ids``: at most 100 (not published); ``command``: at most 16384
#: characters (not published); ``execution_timeout``: 1-1440 minutes (default 1, SDK; the maximum is not
#: published). ``gray_fail_threshold`` is required with a gray batch and must be lower than the gray batch
#: size (SDK: "less than gray_count"); gray ids must be among the targets.
SCRIPT_BATCH_LIMIT = 100
COMMAND_MAX = 16384
EXECUTION_TIMEOUT_RANGE = (1, 1440)
COMMAND_TYPES = ('POWERSHELL', 'BAT', 'SHELL')
POST_FINISH = ('stop', 'reboot')
#: ListScriptRecords ``limit`` 1-100 (default 10); ShowDesktopPoolsScriptExecTasks ``limit`` 0-100 (default 10).
RECORDS_LIMIT = (100, 10)
TASKS_LIMIT = (100, 10)
#: Simulated seconds before a script task's first batch starts.
SCRIPT_QUEUE_SECONDS = 3.0
#: Record outcomes, decided when the task is created from the desktop's state then: the agent runs the text as
#: :mod:`guest` reads it. ``result_code`` is the exit code as a decimal string once a script ran (SUCCESS for 0,
#: FAILED otherwise); a desktop that is not ACTIVE, an OS the command type does not fit (POWERSHELL and BAT need
#: Windows, SHELL Linux), a script that outruns ``execution_timeout``, or a ``perid`` fault (operations
#: ``execute_script_or_command`` / ``execute_desktop_pool_script``) is FAILED with the WKS code below. The
#: desktops after a gray batch whose failures reached ``gray_fail_threshold`` end SKIP; they wait (WAITING)
#: until the gray batch ended. ``execute_order``: 1 gray, 2 after the gray batch, 0 without one (SDK).
SCRIPT_NOT_RUNNING = ('WKS.00010120', 'The desktop is not running; the script was not executed.')
SCRIPT_OS_MISMATCH = ('WKS.00010122', 'The command type does not fit the operating system of the desktop.')
SCRIPT_TIMEOUT = ('WKS.00010121', 'The script did not finish within execution_timeout.')
SCRIPT_AGENT_FAULT = ('WKS.00010118', 'The agent of the desktop did not respond.')
RECORD_SKIPPED = 'SKIP'
#: Script task status (ScriptExecutionTask): INIT, RUNNING, FINISH, FAILED (every record failed).
OS_OF_TYPE = {'POWERSHELL': 'Windows', 'BAT': 'Windows', 'SHELL': 'Linux'}


class Refusal(Exception):
    """A refusal of the whole call, answered with the Workspace error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> Refusal:
    return Refusal(400, 'WKS.0001', message)


def _iso(ts: float) -> str:
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ts))


class HuaweiPatching:
    """Image rebuilds (jobs) and script executions (tasks, records); needs the HuaweiSim attributes."""

    def _hsim(self):
        """The simulator module this class is mixed into (its WksError, constants and helpers)."""
        return sys.modules[type(self).__module__]

    def _refusing(self, handler):
        def run(req: Request) -> Response:
            try:
                return handler(req)
            except Refusal as exc:
                return self.wks_error(exc.status, exc.code, exc.message)
        return run

    def patching_routes(self, pid: str) -> list:
        r = self._refusing
        return [
            Route('GET', pid + '/images', 'list_images', r(self.h_list_images)),
            Route('POST', pid + '/desktop-pools/{pool_id}/rebuild', 'rebuild_desktop_pool', r(self.h_rebuild_pool),
                  write=True),
            Route('POST', pid + '/desktops/rebuild', 'batch_rebuild_desktops_system_disk', r(self.h_rebuild_desktops),
                  write=True),
            Route('POST', pid + '/script-executions', 'execute_script_or_command', r(self.h_execute), write=True),
            Route('POST', pid + '/desktop-pools/{pool_id}/script-executions', 'execute_desktop_pool_script',
                  r(self.h_execute_pool), write=True),
            Route('GET', pid + '/script-execution-records', 'list_script_records', r(self.h_list_records)),
            Route('GET', pid + '/script-execution-records/{record_id}', 'show_script_record_detail',
                  r(self.h_show_record)),
            Route('GET', pid + '/desktop-pools/script-execution-tasks/detail', 'show_desktop_pools_script_exec_tasks',
                  r(self.h_pool_tasks)),
        ]

    def reset_patching(self) -> None:
        self.pool_images = dict((p.id, BASE_IMAGE) for p in self.pools)
        for d in self.desktops.values():
            d.extra['image_id'] = BASE_IMAGE
        self.script_tasks: dict[str, dict] = {}
        self.script_records: dict[str, dict] = {}
        self.commands_run: list[dict] = []

    def image_metadata(self, d: Desktop) -> dict:
        """The DesktopDetailInfo ``metadata`` keys of the desktop's image."""
        image = d.extra.get('image_id', BASE_IMAGE)
        return {'metering.image_id': image, 'image_name': IMAGES.get(image, {}).get('name', image)}

    def pool_image(self, pool_id: str) -> str:
        return self.pool_images.get(pool_id, BASE_IMAGE)

    # ------------------------------------------------------------------ images
    def h_list_images(self, req: Request) -> Response:
        rows = [dict(id=i, architecture='x86', disk_format='zvhd2', min_ram=0, min_disk=80, product_code=None,
                     created_at='2026-10-01T00:00:00Z', kms_id=None, **info) for i, info in sorted(IMAGES.items())]
        for name in ('image_id', 'image_type', 'os_type'):
            value = req.q(name)
            if value:
                rows = [r for r in rows if r['id' if name == 'image_id' else name] == value]
        page = self._page(req, rows, (100, 100))
        return self.ok({'images': page, 'total_count': len(rows)})

    def _image_body(self, body: dict) -> str:
        """The image of a rebuild body, validated against the catalog (image_type and os_type must fit)."""
        image = body.get('image_id')
        if not isinstance(image, str) or not image:
            raise _invalid('The parameter image_id is required.')
        if image not in IMAGES:
            raise Refusal(404, 'WKS.0202', 'The image %s does not exist.' % image)
        if body.get('image_type') is not None and body['image_type'] not in IMAGE_TYPES:
            raise _invalid('The parameter image_type must be one of %s.' % ', '.join(IMAGE_TYPES))
        for key in ('image_type', 'os_type'):
            if body.get(key) is not None and body[key] != IMAGES[image][key]:
                raise _invalid('The parameter %s %s does not match the image %s.' % (key, body[key], image))
        delay = body.get('delay_time')
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int)
                                  or not DELAY_TIME_RANGE[0] <= delay <= DELAY_TIME_RANGE[1]):
            raise _invalid('The parameter delay_time must be an integer from %d to %d.' % DELAY_TIME_RANGE)
        message = body.get('message')
        if message is not None and (not isinstance(message, str) or not message.strip()
                                    or len(message) > REBUILD_MESSAGE_MAX):
            raise _invalid('The parameter message must be a non-blank string of at most %d characters.'
                           % REBUILD_MESSAGE_MAX)
        return image

    def h_rebuild_pool(self, req: Request) -> Response:
        pool = self._pool(req.params['pool_id'])
        body = self._body(req)
        image = self._image_body(body)
        handle = body.get('handle_type', DEFAULT_HANDLE_TYPE)
        if handle not in HANDLE_TYPES:
            raise _invalid('The parameter handle_type must be one of %s.' % ', '.join(HANDLE_TYPES))
        if body.get('is_fix') is not None and not isinstance(body['is_fix'], bool):
            raise _invalid('The parameter is_fix must be a boolean.')
        members = [self.desktops[i] for i in pool.desktop_ids if i in self.desktops]
        if body.get('desktop_ids') is not None:
            ids = self._ids(body, 'desktop_ids', max(1, len(members)))
            outside = [i for i in ids if i not in set(pool.desktop_ids)]
            if outside:
                raise _invalid('The desktops %s are not in the desktop pool %s.' % (', '.join(outside), pool.id))
            targets = [self.desktops[i] for i in ids]
        elif handle == 'ONLY_FOR_EXPAND':
            targets = []
        elif handle == 'FOR_EXPAND_AND_IDLE':
            targets = [d for d in members if not d.sessions]
        else:
            targets = members
        if body.get('is_fix'):
            targets = [d for d in targets if d.extra.get('image_id') != self.pool_images.get(pool.id)]
        self.pool_images[pool.id] = image
        job = self._rebuild_job(targets, image, body, 'rebuild_desktop_pool', pool.id)
        return self.ok({'job_id': job['id']})

    def h_rebuild_desktops(self, req: Request) -> Response:
        body = self._body(req)
        ids = self._ids(body, 'desktop_ids', REBUILD_BATCH_LIMIT)
        image = self._image_body(body)
        desktops = self._known(ids)
        job = self._rebuild_job(desktops, image, body, 'batch_rebuild_desktops_system_disk', None)
        return self.ok({'job_id': job['id']})

    def _rebuild_job(self, desktops: list, image: str, body: dict, op_name: str, pool_id: str | None) -> dict:
        """A job with one sub-job per desktop (the shape ShowJob and ListItaSubJobs render)."""
        h = self._hsim()
        now = self.sim.clock.now()
        begin = now + h.JOB_QUEUE_SECONDS
        start = begin + 60.0 * (body.get('delay_time') or 0)
        job = {'id': str(uuid.uuid4()), 'kind': 'rebuild', 'job_type': JOB_TYPE_REBUILD, 'created': now,
               'begin': begin, 'end': None, 'pool_id': pool_id, 'text': body.get('message'), 'op': 'rebuild',
               'sub_jobs': []}
        for d in desktops:
            sub = {'id': str(uuid.uuid4()), 'job_id': job['id'], 'desktop_id': d.id, 'desktop_name': d.name,
                   'user_name': d.users[0] if d.users else None, 'ip_address': d.address, 'begin': begin,
                   'end': begin + 1.0, 'fail': None, 'result': None}
            status = self.status_of(d)
            if self.sim.faults.perid_fails(op_name, d.id):
                sub['fail'] = (h.ACTION_FAULT, 'The rebuild failed on the desktop %s. Contact technical support.' % d.id)
            elif d.transition is not None or d.extra.get('task_status'):
                sub['fail'] = (h.ACTION_BUSY, 'The desktop %s is busy. Try again later.' % d.id)
            elif status not in REBUILD_STATES:
                sub['fail'] = (h.ACTION_STATE_REFUSED, 'The desktop %s is %s; it cannot be rebuilt.' % (d.id, status))
            elif d.extra.get('image_id') != image or pool_id is None:
                sub['end'] = start + REBUILD_SECONDS
                d.transition = {'kind': 'rebuild', 'power': 'on', 'image': image, 'begin': start, 'until': sub['end'],
                                'task_status': REBUILD_TASK_STATUS, 'job': job['id']}
                for s in d.sessions if body.get('message') else []:
                    self.messages.append({'session_id': s.id, 'desktop_id': d.id, 'user': s.user,
                                          'text': body['message'], 'message_type': 'rebuild', 'time': now})
            job['sub_jobs'].append(sub)
        self.jobs[job['id']] = job
        self.active_jobs.append(job)
        return job

    def finish_transition(self, desktop: Desktop, transition: dict) -> None:
        super().finish_transition(desktop, transition)
        if transition.get('kind') == 'rebuild':
            desktop.extra['image_id'] = transition['image']
            desktop.sessions = []

    # ------------------------------------------------------------------ script executions
    def _script_spec(self, body: dict, command_key: str, targets: list, gray_key: str) -> dict:
        """The validated parts of a script execution body (both request models)."""
        script_ids, command = body.get('script_ids'), body.get(command_key)
        if bool(script_ids) == bool(command):
            raise _invalid('Exactly one of script_ids and %s is required.' % command_key)
        if script_ids is not None:
            if not isinstance(script_ids, list) or not all(isinstance(x, str) and x for x in script_ids):
                raise _invalid('The parameter script_ids must be a list of script ids.')
            unknown = [x for x in script_ids if x not in SCRIPTS]
            if unknown:
                raise Refusal(404, 'WKS.0202', 'The scripts %s do not exist.' % ', '.join(unknown))
        else:
            if not isinstance(command, str) or not command.strip() or len(command) > COMMAND_MAX:
                raise _invalid('The parameter %s must be a non-blank string of at most %d characters.'
                               % (command_key, COMMAND_MAX))
            if body.get('command_type') not in COMMAND_TYPES:
                raise _invalid('The parameter command_type must be one of %s.' % ', '.join(COMMAND_TYPES))
        timeout = body.get('execution_timeout', 1)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not (
                EXECUTION_TIMEOUT_RANGE[0] <= timeout <= EXECUTION_TIMEOUT_RANGE[1]):
            raise _invalid('The parameter execution_timeout must be an integer from %d to %d (minutes).'
                           % EXECUTION_TIMEOUT_RANGE)
        gray = self._gray(body, targets, gray_key)
        return {'script_ids': script_ids, 'command': command, 'command_type': body.get('command_type'),
                'timeout': timeout, 'gray': gray, 'threshold': body.get('gray_fail_threshold')}

    @staticmethod
    def _gray(body: dict, targets: list, gray_key: str) -> list:
        count, ids, threshold = body.get('gray_count'), body.get(gray_key), body.get('gray_fail_threshold')
        gray = []
        if count is not None:
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count < len(targets):
                raise _invalid('The parameter gray_count must be an integer from 1 to %d.' % (len(targets) - 1))
            gray = targets[:count]
        elif ids is not None:
            if not isinstance(ids, list) or not ids or any(i not in set(targets) for i in ids):
                raise _invalid('The parameter %s must list desktops of the execution.' % gray_key)
            gray = list(dict.fromkeys(ids))
        if gray:
            if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold < len(gray):
                raise _invalid('The parameter gray_fail_threshold is required with a gray batch and must be from 1 to '
                               '%d (less than the gray batch).' % (len(gray) - 1))
        elif threshold is not None:
            raise _invalid('The parameter gray_fail_threshold needs a gray batch.')
        return gray

    def h_execute(self, req: Request) -> Response:
        body = self._body(req)
        if body.get('resource_type') != 'DESKTOP':
            raise _invalid('The parameter resource_type must be DESKTOP.')
        ids = self._ids(body, 'resource_ids', SCRIPT_BATCH_LIMIT)
        spec = self._script_spec(body, 'command', ids, 'gray_resource_ids')
        desktops = self._known(ids)
        task = self._script_task(desktops, spec, 'execute_script_or_command', None)
        return self.ok({'task_id': task['id']})

    def h_execute_pool(self, req: Request) -> Response:
        pool = self._pool(req.params['pool_id'])
        body = self._body(req)
        members = [i for i in pool.desktop_ids if i in self.desktops]
        if body.get('desktop_ids') is not None:
            ids = self._ids(body, 'desktop_ids', max(1, len(members)))
            if any(i not in set(members) for i in ids):
                raise _invalid('The parameter desktop_ids must list desktops of the pool %s.' % pool.id)
        else:
            ids = members
        if body.get('post_finish') is not None and body['post_finish'] not in POST_FINISH:
            raise _invalid('The parameter post_finish must be stop or reboot.')
        spec = self._script_spec(body, 'command_content', ids, 'gray_desktop_ids')
        task = self._script_task([self.desktops[i] for i in ids], spec, 'execute_desktop_pool_script', pool.id)
        return self.ok({'task_id': task['id']})

    def _script_task(self, desktops: list, spec: dict, op_name: str, pool_id: str | None) -> dict:
        """A task with one record per desktop (per stored script); every outcome is decided now (see above)."""
        now = self.sim.clock.now()
        task = {'id': str(uuid.uuid4()), 'pool_id': pool_id, 'spec': spec, 'created': now, 'records': []}
        gray = set(spec['gray'])
        scripts = [(sid, SCRIPTS[sid]['type'], SCRIPTS[sid]['text']) for sid in spec['script_ids']] \
            if spec['script_ids'] else [(None, spec['command_type'], spec['command'])]
        start = now + SCRIPT_QUEUE_SECONDS
        first = [self._record(task, d, s, op_name, start, 1 if gray else 0) for d in desktops if d.id in gray
                 for s in scripts]
        gray_end = max([r['end'] for r in first] or [start])
        failed = sum(1 for r in first if r['final'] != 'SUCCESS')
        skip = bool(gray) and failed >= spec['threshold']
        for d in desktops:
            if d.id not in gray:
                for s in scripts:
                    self._record(task, d, s, op_name, gray_end if gray else start, 2 if gray else 0, skip=skip)
        self.script_tasks[task['id']] = task
        return task

    def _record(self, task, d, script, op_name, begin, order, skip=False) -> dict:
        script_id, ctype, text = script
        rec = {'id': str(uuid.uuid4()), 'task_id': task['id'], 'script_id': script_id, 'resource_id': d.id,
               'resource_name': d.name, 'execute_order': order, 'begin': begin, 'end': begin, 'result_code': None,
               'reason': None, 'output': '', 'final': None}
        code = None
        if skip:
            rec['final'] = RECORD_SKIPPED
            rec['reason'] = 'Skipped: the gray batch reached gray_fail_threshold.'
        elif self.sim.faults.perid_fails(op_name, d.id):
            code = SCRIPT_AGENT_FAULT
        elif self.status_of(d) != 'ACTIVE':
            code = SCRIPT_NOT_RUNNING
        elif OS_OF_TYPE[ctype] != d.os_type:
            code = SCRIPT_OS_MISMATCH
        else:
            exit_code, output, seconds = guest.run(text)
            exit_code = d.extra.get('guest_exit', exit_code)  # test hooks, as for Alibaba Cloud
            output += d.extra.get('guest_output', '')
            limit = task['spec']['timeout'] * 60.0
            rec['end'] = begin + min(seconds, limit)
            self.commands_run.append({'task_id': task['id'], 'record_id': rec['id'], 'desktop_id': d.id,
                                      'command_type': ctype, 'script_id': script_id, 'text': text, 'time': begin})
            if seconds > limit:
                code = SCRIPT_TIMEOUT
            else:
                rec.update(final='SUCCESS' if exit_code == 0 else 'FAILED', result_code=str(exit_code), output=output)
        if code:
            rec.update(final='FAILED', result_code=code[0], reason=code[1], end=max(rec['end'], begin + 1.0))
        task['records'].append(rec['id'])
        self.script_records[rec['id']] = rec
        return rec

    def _record_status(self, rec: dict, now: float) -> str:
        if now >= rec['end']:
            return rec['final']
        return 'RUNNING' if now >= rec['begin'] else 'WAITING'

    def record_info(self, rec: dict, now: float, detail: bool = False) -> dict:
        status = self._record_status(rec, now)
        done = status not in ('RUNNING', 'WAITING')
        script = SCRIPTS.get(rec['script_id']) or {}
        out = {'id': rec['id'], 'script_id': rec['script_id'], 'script_name': script.get('name'),
               'script_task_id': rec['task_id'], 'resource_id': rec['resource_id'],
               'resource_name': rec['resource_name'], 'resource_type': 'DESKTOP',
               'start_time': _iso(rec['begin']) if status != 'WAITING' else None,
               'end_time': _iso(rec['end']) if done else None, 'status': status,
               'execute_order': rec['execute_order'], 'result_code': rec['result_code'] if done else None,
               'reason': rec['reason'] if done else None}
        if detail:
            out['output'] = rec['output'] if done else ''
        return out

    def h_list_records(self, req: Request) -> Response:
        now = self.sim.clock.now()
        task_id = req.q('script_task_id')
        rows = [self.script_records[r] for r in self.script_tasks[task_id]['records']] if task_id in self.script_tasks \
            else [] if task_id else list(self.script_records.values())
        ids = self._list(req, 'resource_id')
        if ids:
            rows = [r for r in rows if r['resource_id'] in set(ids)]
        status = req.q('status')
        if status:
            rows = [r for r in rows if self._record_status(r, now) == status]
        offset = self._int(req, 'offset', 0, 0, 2 ** 31 - 1)
        limit = self._int(req, 'limit', RECORDS_LIMIT[1], 1, RECORDS_LIMIT[0])
        page = rows[offset:offset + limit]
        return self.ok({'count': len(rows), 'script_records': [self.record_info(r, now) for r in page]})

    def h_show_record(self, req: Request) -> Response:
        rec = self.script_records.get(req.params['record_id'])
        if rec is None:
            raise Refusal(404, 'WKS.0202', 'The script execution record %s does not exist.' % req.params['record_id'])
        return self.ok(self.record_info(rec, self.sim.clock.now(), detail=True))

    def h_pool_tasks(self, req: Request) -> Response:
        now = self.sim.clock.now()
        tasks = [t for t in self.script_tasks.values() if t['pool_id']]
        pool_id, wanted = req.q('desktop_pool_id'), self._list(req, 'task_id')
        tasks = [t for t in tasks if (not pool_id or t['pool_id'] == pool_id) and (not wanted or t['id'] in wanted)]
        out = []
        for t in tasks:
            states = [self._record_status(self.script_records[r], now) for r in t['records']]
            running = any(s in ('RUNNING', 'WAITING') for s in states)
            status = 'RUNNING' if running else 'FAILED' if states and all(s == 'FAILED' for s in states) else 'FINISH'
            out.append({'id': t['id'], 'desktop_pool_id': t['pool_id'], 'desktop_pool_name': next(
                (p.name for p in self.pools if p.id == t['pool_id']), None),
                'command_content': t['spec']['command'], 'command_type': t['spec']['command_type'],
                'start_time': _iso(t['created']), 'end_time': None if running else _iso(max(
                    self.script_records[r]['end'] for r in t['records'])) if t['records'] else None,
                'status': status, 'success_num': states.count('SUCCESS'), 'failed_num': states.count('FAILED'),
                'skip_num': states.count(RECORD_SKIPPED)})
        offset = self._int(req, 'offset', 0, 0, 2 ** 31 - 1)
        limit = self._int(req, 'limit', TASKS_LIMIT[1], 0, TASKS_LIMIT[0])
        return self.ok({'script_execution_tasks': out[offset:offset + limit], 'total_count': len(out)})

    def state(self) -> dict:
        out = super().state()
        out['pool_images'] = dict(self.pool_images)
        out['commands'] = list(self.commands_run)
        return out
