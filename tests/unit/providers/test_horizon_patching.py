"""HorizonAdapter image rollout (instant-clone push image) against the in-process Horizon simulator (2512).

What the simulator received is checked three ways: the request statistics (``by_op``, ``writes``), the state
(machine and pool images), and the exact requests that left the adapter (a spy on the HTTP session), whose push
bodies are checked field by field against DesktopPoolPushImageSpecV2 of the 2512 spec.
"""

from __future__ import annotations

import pytest

from sim_helpers import controlled, outcomes, running, sim_poller, spy, subset  # pylint: disable=import-error

import horizon_patching as HP  # pylint: disable=import-error

from ansible_collections.vdi.fleet.plugins.module_utils import patching, service
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers.horizon import HorizonAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy

NEW = 'vm-1001/snapshot-2026-11'
NEWER = 'vm-1001/snapshot-2026-12'
BASE = 'vm-1001/snapshot-2026-10'
PUSH = '/action/schedule-push-image'
#: DesktopPoolPushImageSpecV2 (2512): every property, and the required one
PUSH_SPEC_V2 = {'add_virtual_tpm', 'compute_profile_num_cores_per_socket', 'compute_profile_num_cpus',
                'compute_profile_ram_mb', 'im_stream_id', 'im_tag_id', 'logoff_policy', 'machine_ids',
                'parent_vm_id', 'selective_push_image', 'snapshot_id', 'start_time', 'stop_on_first_error'}


@pytest.fixture(autouse=True)
def _no_ca_bundle_env(monkeypatch):
    monkeypatch.delenv('REQUESTS_CA_BUNDLE', raising=False)
    monkeypatch.delenv('CURL_CA_BUNDLE', raising=False)


@pytest.fixture(scope='module')
def hz(tmp_path_factory):
    with running(tmp_path_factory, 'horizon', 41, 'hzimg') as simulator:
        yield simulator


@pytest.fixture
def ctl(hz, monkeypatch):
    with controlled(hz, 'horizon', monkeypatch) as c:
        yield c


@pytest.fixture
def adapter(ctl):
    a = spy(HorizonAdapter(ctl.module_args(), policy=RetryPolicy(retries=2, base=0.001, cap=0.01)))
    yield a
    a.close()


def roll(adapter, ctl, selection, image=NEW, **kw):
    kw.setdefault('logoff_policy', 'force')
    kw.setdefault('wait_timeout', 900)
    return patching.rollout_image(adapter, selection, image, poller_factory=sim_poller(ctl.sim), **kw)


def images(ctl):
    return dict((d['id'], '/'.join(d['extra']['image'][1:])) for d in ctl.state()['desktops'])


def pool_state(ctl, pool_id):
    return ctl.state()['pool_images'][pool_id]


def whole_pool(adapter, ctl, index=0):
    pool = ctl.state()['pools'][index]
    ctl.clear_stats()
    return pool, service.select(adapter, pool=pool['name'])


def test_whole_pool_canary_then_promote(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl)
    ids = [d['id'] for d in sel.desktops]
    entries, jobs = roll(adapter, ctl, sel, canary=2)
    assert [e['id'] for e in entries] == ids
    assert set(outcomes(entries).values()) == {'done'}
    assert [e['stage'] for e in entries] == ['canary', 'canary'] + ['rest'] * (len(ids) - 2)
    assert all(e['before'] == {'image': BASE} and e['after'] == {'image': NEW} for e in entries)
    # the canary is a selective push to exactly those machines; the rest follows by promoting the held image
    canary_push, = adapter.sent.bodies(PUSH)
    assert set(canary_push) <= PUSH_SPEC_V2 and 'logoff_policy' in canary_push
    assert canary_push == {'parent_vm_id': 'vm-1001', 'snapshot_id': 'snapshot-2026-11', 'logoff_policy': 'FORCE_LOGOFF',
                           'stop_on_first_error': True, 'selective_push_image': True, 'machine_ids': ids[:2]}
    assert adapter.sent.bodies('/action/promote-pending-image') == [None]
    stats = ctl.stats()
    assert stats['writes'] == 2 and stats['by_op']['schedule_push_image'] == 1
    assert stats['by_op']['promote_pending_image'] == 1
    assert set(images(ctl)[i] for i in ids) == {NEW}
    assert pool_state(ctl, pool['id']) == {'current': NEW, 'pending': None, 'pending_state': None, 'operation': 'NONE'}
    assert [(j['action'], j['scope'], j['stage'], j['status']) for j in jobs] == [
        ('schedule-push-image (selective)', 'desktops', 'canary', 'success'),
        ('promote-pending-image', 'pool', 'rest', 'success')]
    assert jobs[1]['image_before'] == BASE and jobs[1]['image_after'] == NEW
    # a second run changes nothing and writes nothing
    ctl.clear_stats()
    again, jobs = roll(adapter, ctl, service.select(adapter, pool=pool['name']), canary=2)
    assert set(outcomes(again).values()) == {'unchanged'} and jobs == []
    assert ctl.stats()['writes'] == 0


def test_failed_canary_touches_nothing_else(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl, 1)
    ids = [d['id'] for d in sel.desktops]
    ctl.faults([{'kind': 'perid', 'ops': ['schedule_push_image'], 'ids': [ids[1]]}])
    entries, jobs = roll(adapter, ctl, sel, canary=2)
    by = dict((e['id'], e) for e in entries)
    assert by[ids[0]]['outcome'] == 'done'
    assert by[ids[1]]['outcome'] == 'refused' and by[ids[1]]['failed']
    assert 'customization failed' in by[ids[1]]['msg'] and '(canary)' in by[ids[1]]['msg']
    rest = [by[i] for i in ids[2:]]
    assert set(e['outcome'] for e in rest) == {'skipped'} and not any(e['failed'] or e['changed'] for e in rest)
    assert all('the canary failed on %s' % by[ids[1]]['name'] in e['msg'] for e in rest)
    assert ctl.stats()['writes'] == 1 and 'promote_pending_image' not in ctl.stats()['by_op']
    now = images(ctl)
    assert all(now[i] == BASE for i in ids[1:])
    assert pool_state(ctl, pool['id'])['current'] == BASE
    assert pool_state(ctl, pool['id'])['pending'] == NEW  # held, not promoted
    assert [j['status'] for j in jobs] == ['success']  # the image published; a machine failed
    # the same image again: the held image goes to the next canary (apply-image), then it is promoted
    ctl.faults([])
    ctl.clear_stats()
    entries, jobs = roll(adapter, ctl, service.select(adapter, pool=pool['name']), canary=2)
    by = dict((e['id'], e) for e in entries)
    assert by[ids[0]]['outcome'] == 'unchanged' and by[ids[1]]['outcome'] == 'done'
    assert adapter.sent.queries('/action/apply-image', 'POST')[-1] == {'pending_image': ['true']}
    assert adapter.sent.bodies('/action/apply-image')[-1] == ids[1:3]
    assert ctl.stats()['by_op'].get('schedule_push_image') is None
    assert ctl.stats()['by_op']['promote_pending_image'] == 1
    assert set(images(ctl)[i] for i in ids) == {NEW}


def test_check_mode_plans_and_writes_nothing(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl, 2)
    entries, jobs = roll(adapter, ctl, sel, canary=[sel.desktops[3]['name']], check_mode=True)
    assert ctl.stats()['writes'] == 0
    assert [e['stage'] for e in entries].count('canary') == 1 and entries[3]['stage'] == 'canary'
    assert all(e['changed'] and e['after'] == {'image': NEW} and 'check mode' in e['msg'] for e in entries)
    assert jobs[0]['status'] == 'planned' and jobs[0]['image_after'] == NEW
    assert set(images(ctl).values()) == {BASE}


def test_wait_for_logoff_and_force(adapter, ctl):
    _pool, sel = whole_pool(adapter, ctl)
    state = dict((d['id'], d) for d in ctl.state()['desktops'])
    busy = next(d for d in sel.desktops if any(s['state'] == 'connected' for s in state[d['id']]['sessions']))
    idle = next(d for d in sel.desktops if d['sessions'] == 0)
    entries, _jobs = roll(adapter, ctl, subset([busy, idle]), logoff_policy='wait', wait_timeout=600)
    by = dict((e['id'], e) for e in entries)
    assert by[idle['id']]['outcome'] == 'done'
    assert by[busy['id']]['failed'] and 'still busy' in by[busy['id']]['msg'] and 'wait_timeout' in by[busy['id']]['msg']
    assert adapter.sent.bodies(PUSH)[0]['logoff_policy'] == 'WAIT_FOR_LOGOFF'
    state = dict((d['id'], d) for d in ctl.state()['desktops'])
    assert state[busy['id']]['sessions'] and state[busy['id']]['extra']['push_state'] == 'SCHEDULED'


def test_selected_machines_then_whole_pool(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl)
    first = sel.desktops[:3]
    entries, jobs = roll(adapter, ctl, subset(first))
    assert set(outcomes(entries).values()) == {'done'} and [j['scope'] for j in jobs] == ['desktops']
    assert adapter.sent.bodies(PUSH)[0]['machine_ids'] == [d['id'] for d in first]
    assert pool_state(ctl, pool['id'])['current'] == BASE and pool_state(ctl, pool['id'])['pending'] == NEW
    # more selected machines: the held image is applied to them (no second push)
    entries, _jobs = roll(adapter, ctl, subset(sel.desktops[3:5]))
    assert set(outcomes(entries).values()) == {'done'}
    assert len(adapter.sent.bodies(PUSH)) == 1 and adapter.sent.bodies('/action/apply-image')[-1] == [
        d['id'] for d in sel.desktops[3:5]]
    # the whole pool: promote only
    ctl.clear_stats()
    entries, jobs = roll(adapter, ctl, service.select(adapter, pool=pool['name']))
    assert [outcomes(entries)[d['id']] for d in sel.desktops[:5]] == ['unchanged'] * 5
    assert set(outcomes(entries)[d['id']] for d in sel.desktops[5:]) == {'done'}
    assert ctl.stats()['writes'] == 1 and ctl.stats()['by_op']['promote_pending_image'] == 1
    assert pool_state(ctl, pool['id'])['current'] == NEW


def test_push_without_canary_start_time_and_no_wait(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl)
    entries, jobs = roll(adapter, ctl, sel, image='im:im-stream-w11/im-tag-2026-12', start_time='2030-01-02T03:04:05Z',
                         stop_on_failure=False, wait=False)
    body, = adapter.sent.bodies(PUSH)
    assert body == {'im_stream_id': 'im-stream-w11', 'im_tag_id': 'im-tag-2026-12', 'logoff_policy': 'FORCE_LOGOFF',
                    'stop_on_first_error': False, 'start_time': 1893553445000}
    assert all('requested' in e['msg'] and 'not waited for' in e['msg'] for e in entries)
    assert jobs[0]['status'] == 'pending' and jobs[0]['scope'] == 'pool'
    assert pool_state(ctl, pool['id'])['pending_state'] == 'PENDING_PUBLISH'
    # another image while this one is scheduled: refused before any write
    ctl.clear_stats()
    with pytest.raises(ConfigError, match='holds pending image'):
        roll(adapter, ctl, service.select(adapter, pool=pool['name']), image=NEWER)
    assert ctl.stats()['writes'] == 0


def test_not_instant_clone_is_refused_before_any_write(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl)
    ctl.provider_sim.pool_info[pool['id']]['source'] = 'FULL_CLONE'
    with pytest.raises(ConfigError, match='instant-clone pools only'):
        roll(adapter, ctl, sel)
    assert ctl.stats()['writes'] == 0


def test_what_horizon_cannot_do_fails_before_any_request(ctl):
    ctl.clear_stats()
    a = HorizonAdapter(ctl.module_args())
    with pytest.raises(ConfigError, match='has no grace time'):
        patching.check_image_options(a, True, 'force', grace_minutes=5)
    with pytest.raises(ConfigError, match='shows no notice'):
        patching.check_image_options(a, True, 'force', notice='save your work')
    with pytest.raises(ConfigError, match='needs wait=true'):
        patching.check_image_options(a, True, 'wait', canary=2, wait=False)
    with pytest.raises(ConfigError, match='ISO 8601'):
        patching.check_image_options(a, True, 'wait', start_time='tomorrow')
    for bad in ('vm-1001', '/snapshot-1', 'im:/tag', ''):
        with pytest.raises(ConfigError, match='image'):
            a.parse_image(bad)
    with pytest.raises(ConfigError, match='inventory plugin'):
        patching.check_command_options(a, command='Get-Date')
    a.close()
    assert ctl.stats()['total'] == 0
    assert HP.BASE_IMAGE == ('vm',) + tuple(BASE.split('/'))
