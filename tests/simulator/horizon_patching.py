"""Horizon instant-clone image operations for the simulator (mixed into :class:`horizon.HorizonSim`).

Per the 2512 spec: ``GET /inventory/v2/desktop-pools/{id}`` (DesktopPoolInfoV2 with ``provisioning_settings`` and
``provisioning_status_data``), ``POST /inventory/v2/desktop-pools/{id}/action/schedule-push-image``
(DesktopPoolPushImageSpecV2, answers BulkItemResponseInfo[]), and the v1 pool actions ``promote-pending-image``,
``apply-image`` (``pending_image`` query, body: machine ids) and ``cancel-scheduled-push-image``. Machines (v2
listings) carry their image in ``managed_machine_data.base_vm_id``/``base_vm_snapshot_id`` (or the image catalog
stream and tag), the pending image and the ``PUSH_IMAGE`` operation with its ``operation_state``.

Every choice where the spec is silent is a named constant or function below; the README lists them.
"""

from __future__ import annotations

from typing import Any

try:
    from .core import Desktop, Request, Response, Route
except ImportError:  # loaded as a top-level module (tests put tests/simulator on sys.path)
    from core import Desktop, Request, Response, Route  # type: ignore

# =========================================================================== assumptions

#: Base images the simulated vCenter has: parent VM id -> its snapshot ids. Every pool starts on BASE_IMAGE.
BASE_VMS = {'vm-1001': ('snapshot-2026-10', 'snapshot-2026-11', 'snapshot-2026-12'),
            'vm-1002': ('snapshot-lnx-1',)}
#: Image catalog streams -> tags (image management); usable like a parent VM and snapshot.
IM_STREAMS = {'im-stream-w11': ('im-tag-2026-11', 'im-tag-2026-12')}
BASE_IMAGE = ('vm', 'vm-1001', 'snapshot-2026-10')
#: Simulated seconds a pending image takes to publish, and one machine to be recreated on an image.
PUBLISH_SECONDS = 120.0
RECREATE_SECONDS = 45.0
#: The v2 push answers one BulkItemResponseInfo per machine of ``machine_ids`` (selective), else one for the pool.
PUSH_ITEMS_PER_MACHINE = True
#: A ``perid`` fault on a machine (operation ``schedule_push_image``, ``promote_pending_image`` or ``apply_image``)
#: makes its recreation fail: state PROVISIONING_ERROR, ``operation_state`` FAULT, ``clone_error_message`` set; it
#: keeps its old image. With ``stop_on_first_error`` no further machine of that operation is recreated and a
#: non-selective push ends with the pending image FAILED (the pool keeps its current image).
CLONE_ERROR = 'Instant clone customization failed: the guest did not respond (simulated fault).'
#: WAIT_FOR_LOGOFF: a machine with a CONNECTED session waits (operation_state SCHEDULED) until it has none; a
#: DISCONNECTED session does not hold it (the spec: "wait for connected users to disconnect").
#: FORCE_LOGOFF: the sessions end when the machine is recreated (the global grace period is not simulated).
#: Errors (error keys are not published): pool not instant clone 400 ``inventory.desktop.pool.not.instant.clone``;
#: another operation on the pool 400 ``inventory.desktop.pool.operation.in.progress`` (a reschedule with identical
#: parameters but start_time is accepted); unknown base VM/snapshot or stream/tag 400
#: ``inventory.push.image.base.image.not.found``; promote or apply of a pending image that is not READY_HELD (or
#: READY) 400 ``inventory.desktop.pool.pending.image.not.ready``; unknown pool 404 ``inventory.desktop.pool.not.found``.
NOT_INSTANT_CLONE = 'inventory.desktop.pool.not.instant.clone'
IN_PROGRESS = 'inventory.desktop.pool.operation.in.progress'
IMAGE_NOT_FOUND = 'inventory.push.image.base.image.not.found'
NOT_READY = 'inventory.desktop.pool.pending.image.not.ready'
POOL_NOT_FOUND = 'inventory.desktop.pool.not.found'
PUSH_FIELDS = ('add_virtual_tpm', 'compute_profile_num_cores_per_socket', 'compute_profile_num_cpus',
               'compute_profile_ram_mb', 'im_stream_id', 'im_tag_id', 'logoff_policy', 'machine_ids', 'parent_vm_id',
               'selective_push_image', 'snapshot_id', 'start_time', 'stop_on_first_error')
LOGOFF_POLICIES = ('FORCE_LOGOFF', 'WAIT_FOR_LOGOFF')


def image_key(body: dict) -> tuple | None:
    """The image of a push body: ``('vm', parent_vm_id, snapshot_id)`` or ``('im', stream, tag)``; None if unknown."""
    vm, snap, stream, tag = (body.get(k) for k in ('parent_vm_id', 'snapshot_id', 'im_stream_id', 'im_tag_id'))
    if vm and snap and snap in BASE_VMS.get(vm, ()):
        return ('vm', vm, snap)
    if stream and tag and tag in IM_STREAMS.get(stream, ()):
        return ('im', stream, tag)
    return None


def image_fields(key: tuple | None, prefix: str = '') -> dict:
    """Machine (ManagedMachineDataV2) image fields of an image key."""
    if key is None:
        return {}
    if key[0] == 'vm':
        return {prefix + 'base_vm_id': key[1], prefix + 'base_vm_snapshot_id': key[2]}
    return {prefix + 'image_management_stream_id': key[1], prefix + 'image_management_tag_id': key[2]}


class HorizonPatching:
    """Pool image state and push operations; needs the HorizonSim attributes (desktops, pools, sim, error...)."""

    # ------------------------------------------------------------------ setup
    def patching_routes(self) -> list:
        inv = '/rest/inventory/v1/desktop-pools/{id}/action/'
        return [
            Route('GET', '/rest/inventory/v2/desktop-pools/{id}', 'get_pool_v2', self.h_get_pool_v2),
            Route('POST', '/rest/inventory/v2/desktop-pools/{id}/action/schedule-push-image', 'schedule_push_image',
                  self.h_push_image, write=True),
            Route('POST', inv + 'promote-pending-image', 'promote_pending_image', self.h_promote, write=True),
            Route('POST', inv + 'apply-image', 'apply_image', self.h_apply_image, write=True),
            Route('POST', inv + 'cancel-scheduled-push-image', 'cancel_scheduled_push_image', self.h_cancel,
                  write=True),
        ]

    def reset_patching(self) -> None:
        self.pool_images: dict[str, dict] = {}
        for p in self.pools:
            self.pool_images[p.id] = {'current': BASE_IMAGE, 'pending': None, 'pending_state': None, 'error': None,
                                      'operation': 'NONE', 'settings': None, 'op': None}
        self.apply_ops: list[dict] = []
        for d in self.desktops.values():
            d.extra['image'] = BASE_IMAGE

    # ------------------------------------------------------------------ rendering
    def pool_image_fields(self, pool_id: str) -> dict:
        """DesktopPoolInfoV2 ``provisioning_settings`` and ``provisioning_status_data`` of a pool."""
        st = self.pool_images[pool_id]
        cur, pend = st['current'], st['pending']
        settings = {'datacenter_id': 'datacenter-2', 'host_or_cluster_id': 'domain-c8', 'resource_pool_id': 'resgroup-9',
                    'vm_folder_id': 'group-v4', 'add_virtual_tpm': False}
        settings.update({'parent_vm_id': cur[1], 'base_snapshot_id': cur[2]} if cur[0] == 'vm'
                        else {'im_stream_id': cur[1], 'im_tag_id': cur[2]})
        status = {'instant_clone_current_image_state': 'READY', 'instant_clone_operation': st['operation']}
        if pend is not None:
            status.update({'instant_clone_pending_image_parent_vm_id': pend[1],
                           'instant_clone_pending_image_snapshot_id': pend[2]} if pend[0] == 'vm' else
                          {'instant_clone_pending_im_stream_id': pend[1], 'instant_clone_pending_im_tag_id': pend[2]})
            status['instant_clone_pending_image_state'] = st['pending_state']
            status['instant_clone_pending_image_progress'] = 100 if st['pending_state'] in ('READY', 'READY_HELD') else 0
        if st['error']:
            status['instant_clone_pending_image_error'] = st['error']
        if st['settings']:
            status['instant_clone_push_image_settings'] = dict(st['settings'])
        return {'provisioning_settings': settings, 'provisioning_status_data': status}

    def machine_image_fields(self, d: Desktop) -> dict:
        """ManagedMachineDataV2 image fields of a machine: its image, the pending one, the push operation."""
        out = image_fields(d.extra.get('image'))
        st = self.pool_images.get(d.pool_id) or {}
        out.update(image_fields(st.get('pending'), 'pending_'))
        push = d.extra.get('push_state')
        if push:
            out.update(operation='PUSH_IMAGE', operation_state=push)
        if d.extra.get('clone_error'):
            out['clone_error_message'] = d.extra['clone_error']
        return out

    # ------------------------------------------------------------------ handlers
    def _pool_or_404(self, pool_id: str):
        pool = next((p for p in self.pools if p.id == pool_id), None)
        return pool

    def h_get_pool_v2(self, req: Request) -> Response:
        pool = self._pool_or_404(req.params['id'])
        if pool is None:
            return self.error(404, POOL_NOT_FOUND, 'Desktop pool %s not found.' % req.params['id'])
        return Response(200, self.render_pool(pool, 2))

    def _check_push(self, pool, body: Any):
        """The push spec, validated as DesktopPoolPushImageSpecV2; an error Response or (spec, image key)."""
        if not isinstance(body, dict):
            return self.error(400, 'common.request.body.invalid', 'The request body must be a DesktopPoolPushImageSpecV2.')
        unknown = sorted(set(body) - set(PUSH_FIELDS))
        if unknown:
            return self.error(400, 'common.request.body.invalid', 'Unrecognized field(s) %s.' % ', '.join(unknown))
        if body.get('logoff_policy') not in LOGOFF_POLICIES:
            return self.error(400, 'common.property.mandatory', 'logoff_policy is mandatory: FORCE_LOGOFF or '
                                                                'WAIT_FOR_LOGOFF.')
        vm_pair, im_pair = bool(body.get('parent_vm_id') or body.get('snapshot_id')), bool(
            body.get('im_stream_id') or body.get('im_tag_id'))
        if vm_pair == im_pair:
            return self.error(400, 'common.request.body.invalid', 'Either parent VM and snapshot or image management '
                                                                  'stream and tag are to be specified.')
        for name in ('selective_push_image', 'stop_on_first_error', 'add_virtual_tpm'):
            if name in body and not isinstance(body[name], bool):
                return self.error(400, 'common.request.body.invalid', '%s must be a boolean.' % name)
        if 'start_time' in body and (isinstance(body['start_time'], bool) or not isinstance(body['start_time'], int)):
            return self.error(400, 'common.request.body.invalid', 'start_time must be epoch milliseconds.')
        if 'machine_ids' in body and not body.get('selective_push_image'):
            return self.error(400, 'common.request.body.invalid', 'machine_ids can be set only with selective_push_image.')
        if body.get('selective_push_image') and not body.get('machine_ids'):
            return self.error(400, 'common.request.body.invalid', 'selective_push_image needs machine_ids.')
        key = image_key(body)
        if key is None:
            names = ('parent_vm_id', 'snapshot_id', 'im_stream_id', 'im_tag_id')
            return self.error(400, IMAGE_NOT_FOUND, 'The base image %s is not found in vCenter.'
                              % '/'.join(str(body.get(k)) for k in names if body.get(k)))
        if self.pool_info.get(pool.id, {}).get('source', 'INSTANT_CLONE') != 'INSTANT_CLONE':
            return self.error(400, NOT_INSTANT_CLONE, 'Desktop pool %s is not an instant clone desktop pool.' % pool.name)
        return body, key

    def h_push_image(self, req: Request) -> Response:
        pool = self._pool_or_404(req.params['id'])
        if pool is None:
            return self.error(404, POOL_NOT_FOUND, 'Desktop pool %s not found.' % req.params['id'])
        checked = self._check_push(pool, self._body(req))
        if isinstance(checked, Response):
            return checked
        spec, key = checked
        st = self.pool_images[pool.id]
        now = self.sim.clock.now()
        start = max(now, spec.get('start_time', 0) / 1000.0)
        op = st['op']
        if op is not None or st['pending'] is not None:
            same = op is not None and op['started'] is None and dict(op['spec'], start_time=None) == dict(
                spec, start_time=None)
            if not same:
                return self.error(400, IN_PROGRESS, 'Another operation is in progress on desktop pool %s, or it holds '
                                                    'a pending image.' % pool.name)
            op['start'] = start
            return Response(200, self._push_items(pool, spec))
        machines = [m for m in spec.get('machine_ids') or [] if m in self.desktops
                    and self.desktops[m].pool_id == pool.id]
        st.update(pending=key, pending_state='PENDING_PUBLISH', error=None, operation='SCHEDULE_PUSH_IMAGE',
                  settings={'logoff_policy': spec['logoff_policy'], 'start_time': int(start * 1000),
                            'stop_on_first_error': spec.get('stop_on_first_error', True),
                            'add_virtual_tpm': spec.get('add_virtual_tpm', False)})
        st['op'] = {'kind': 'selective' if spec.get('selective_push_image') else 'push', 'spec': dict(spec),
                    'start': start, 'started': None, 'image': key, 'queue': machines, 'running': [], 'failed': [],
                    'fault_op': 'schedule_push_image'}
        return Response(200, self._push_items(pool, spec))

    def _push_items(self, pool, spec: dict) -> list:
        if not (spec.get('selective_push_image') and PUSH_ITEMS_PER_MACHINE):
            return [self._item_ok(pool.id)]
        out = []
        for mid in spec.get('machine_ids') or []:
            d = self.desktops.get(mid)
            if d is None:
                out.append(self._item_err(mid, 404, 'inventory.machine.not.found', 'Machine %s not found.' % mid))
            elif d.pool_id != pool.id:
                out.append(self._item_err(mid, 400, 'inventory.machine.not.in.desktop.pool',
                                          'Machine %s is not in desktop pool %s.' % (d.name, pool.name)))
            else:
                out.append(self._item_ok(mid))
        return out

    def h_promote(self, req: Request) -> Response:
        pool = self._pool_or_404(req.params['id'])
        if pool is None:
            return self.error(404, POOL_NOT_FOUND, 'Desktop pool %s not found.' % req.params['id'])
        st = self.pool_images[pool.id]
        if st['pending'] is None or st['pending_state'] not in ('READY_HELD', 'READY') or st['op'] is not None:
            return self.error(400, NOT_READY, 'Desktop pool %s has no pending image in a ready held state.' % pool.name)
        st.update(current=st['pending'], pending=None, pending_state=None, operation='SCHEDULE_PUSH_IMAGE')
        now = self.sim.clock.now()
        queue = [i for i in pool.desktop_ids if i in self.desktops and self.desktops[i].extra.get('image') != st['current']]
        st['op'] = {'kind': 'promote', 'spec': dict(st['settings'] or {}), 'start': now, 'started': now,
                    'image': st['current'], 'queue': queue, 'running': [], 'failed': [],
                    'fault_op': 'promote_pending_image'}
        return Response(204)

    def h_apply_image(self, req: Request) -> Response:
        pool = self._pool_or_404(req.params['id'])
        if pool is None:
            return self.error(404, POOL_NOT_FOUND, 'Desktop pool %s not found.' % req.params['id'])
        pending = self._bool_param(req, 'pending_image') or False
        ids = self._id_list(self._body(req), 'machine')
        st = self.pool_images[pool.id]
        if pending and (st['pending'] is None or st['pending_state'] != 'READY_HELD'):
            return self.error(400, NOT_READY, 'Pending image can only be applied if it is in READY_HELD state.')
        image = st['pending'] if pending else st['current']
        results, queue = [], []
        for mid in ids:
            d = self.desktops.get(mid)
            if d is None:
                results.append(self._item_err(mid, 404, 'inventory.machine.not.found', 'Machine %s not found.' % mid))
            elif d.pool_id != pool.id:
                results.append(self._item_err(mid, 400, 'inventory.machine.not.in.desktop.pool',
                                              'Machine %s is not in desktop pool %s.' % (d.name, pool.name)))
            elif d.transition is not None:
                results.append(self._item_err(mid, 400, 'inventory.machine.operation.in.progress',
                                              'Another operation is in progress on machine %s.' % d.name))
            else:
                queue.append(mid)
                results.append(self._item_ok(mid))
        if queue:
            now = self.sim.clock.now()
            self.apply_ops.append({'kind': 'apply', 'pool': pool.id, 'spec': dict(st['settings'] or {
                'logoff_policy': 'FORCE_LOGOFF', 'stop_on_first_error': False}), 'start': now, 'started': now,
                'image': image, 'queue': queue, 'running': [], 'failed': [], 'fault_op': 'apply_image'})
        return Response(200, results)

    def h_cancel(self, req: Request) -> Response:
        pool = self._pool_or_404(req.params['id'])
        if pool is None:
            return self.error(404, POOL_NOT_FOUND, 'Desktop pool %s not found.' % req.params['id'])
        st = self.pool_images[pool.id]
        op = st['op']
        if op is not None and op['kind'] in ('push', 'selective') and op['started'] is None:
            st.update(op=None, pending=None, pending_state=None, operation='NONE', error=None)
        elif op is None and st['pending_state'] in ('READY_HELD', 'READY', 'FAILED'):
            st.update(pending=None, pending_state=None, error=None)
        return Response(204)

    # ------------------------------------------------------------------ time
    def settle(self) -> None:
        super().settle()
        self.settle_patching()

    def settle_patching(self) -> None:
        now = self.sim.clock.now()
        for pool_id, st in self.pool_images.items():
            op = st['op']
            if op is None:
                continue
            if op['started'] is None:
                if now < op['start']:
                    continue
                st['pending_state'] = 'PUBLISHING'
                if now < op['start'] + PUBLISH_SECONDS:
                    continue
                op['started'] = op['start'] + PUBLISH_SECONDS
                st['pending_state'] = 'READY_HELD' if op['kind'] == 'selective' else 'READY'
                if op['kind'] == 'push':
                    pool = next(p for p in self.pools if p.id == pool_id)
                    op['queue'] = [i for i in pool.desktop_ids if i in self.desktops
                                   and self.desktops[i].extra.get('image') != op['image']]
            if self._advance(op, now):
                self._end_op(st, op)
        for op in list(self.apply_ops):
            if self._advance(op, now):
                self.apply_ops.remove(op)

    def _advance(self, op: dict, now: float) -> bool:
        """Start the machines of ``op`` that may start, finish those due; True once the operation is over."""
        stop = op['spec'].get('stop_on_first_error', True) and op['failed']
        for mid in list(op['queue']):
            d = self.desktops.get(mid)
            if d is None:
                op['queue'].remove(mid)
                continue
            if stop:
                d.extra.pop('push_state', None)
                continue
            connected = any(s.state == 'connected' for s in d.sessions)
            waits = op['spec'].get('logoff_policy') == 'WAIT_FOR_LOGOFF' and connected
            if waits or d.transition is not None:
                d.extra['push_state'] = 'SCHEDULED'
                continue
            op['queue'].remove(mid)
            begin = now if d.extra.get('push_state') == 'SCHEDULED' else op['started']  # waited for a logoff
            if self.sim.faults.perid_fails(op['fault_op'], mid):
                d.extra.update(push_state='FAULT', clone_error=CLONE_ERROR, state='PROVISIONING_ERROR')
                op['failed'].append(mid)
                stop = op['spec'].get('stop_on_first_error', True)
                continue
            d.extra.update(push_state='PROGRESSING')
            d.extra.pop('clone_error', None)
            d.extra.pop('state', None)
            d.transition = {'kind': 'push_image', 'power': 'on', 'image': op['image'], 'begin': begin,
                            'until': begin + RECREATE_SECONDS}
            op['running'].append(mid)
        for mid in list(op['running']):
            d = self.desktops.get(mid)
            t = d.transition if d else None
            if t is not None and t.get('kind') == 'push_image' and t['until'] <= now:
                self.finish_transition(d, t)
            if d is None or d.transition is None:
                op['running'].remove(mid)
        if stop:
            op['queue'] = []
        return not op['queue'] and not op['running']

    def _end_op(self, st: dict, op: dict) -> None:
        st['op'] = None
        st['operation'] = 'NONE'
        if op['kind'] == 'push':
            if op['failed'] and op['spec'].get('stop_on_first_error', True):
                st.update(pending_state='FAILED', error='Push image stopped on the first error: %s'
                          % ', '.join(self.desktops[m].name for m in op['failed'] if m in self.desktops))
            else:
                st.update(current=op['image'], pending=None, pending_state=None)

    def finish_transition(self, desktop: Desktop, transition: dict) -> None:
        super().finish_transition(desktop, transition)
        if transition.get('kind') == 'push_image':
            desktop.extra['image'] = transition['image']
            desktop.extra['push_state'] = 'COMPLETED'
            desktop.sessions = []  # a recreated machine starts without sessions (it keeps its maintenance flag)

    def state(self) -> dict:
        out = super().state()
        out['pool_images'] = dict((pid, {'current': '/'.join(st['current'][1:]),
                                         'pending': '/'.join(st['pending'][1:]) if st['pending'] else None,
                                         'pending_state': st['pending_state'], 'operation': st['operation']})
                                  for pid, st in self.pool_images.items())
        return out
