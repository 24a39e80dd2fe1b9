"""desktop_pool_power, session_message, session_logoff, session_info and desktop_info on Huawei Cloud Workspace,
through ansible-playbook against the simulator."""

from __future__ import annotations

import math
from collections import Counter

import pytest

import huaweicloud as H  # the simulator module (tests/simulator is on sys.path)

POWER = 'vdi.fleet.desktop_pool_power'
MESSAGE = 'vdi.fleet.session_message'
LOGOFF = 'vdi.fleet.session_logoff'
SESSIONS = 'vdi.fleet.session_info'
INFO = 'vdi.fleet.desktop_info'

POOL_ACTION = 'execute_desktop_pool_action'
BATCH_ACTION = 'batch_run_desktops'
POOL_NOTIFY = 'send_desktop_pool_notifications'
NOTIFY = 'send_notifications'
LOGOFF_OP = 'batch_logoff_desktops'

pytestmark = pytest.mark.parametrize('provider_name', ['huaweicloud'])

#: desktop_pool_power state -> (power every member starts in, final simulator power, pool op_type)
WHOLE_POOL = {
    'stopped': ('on', 'off', 'os-stop'),
    'started': ('off', 'on', 'os-start'),
    'hibernated': ('on', 'hibernated', 'hibernate'),
    'restarted': ('on', 'on', 'reboot'),
}


@pytest.fixture
def actions(simulator, monkeypatch):
    """Bodies of every power request (pool and batch) the in-process simulator received, in order."""
    provider = simulator[0].providers['huaweicloud']
    seen = []
    original = H.HuaweiSim._action_type

    def spy(body):
        seen.append(dict(body))
        return original(body)

    monkeypatch.setattr(provider, '_action_type', spy)
    return seen


def pool_members(state: dict, pool_id: str) -> list[dict]:
    return [d for d in state['desktops'] if d['pool'] == pool_id]


def power_of(sim) -> dict:
    return {d['id']: d['power'] for d in sim.state()['desktops']}


def setup_pool(sim, power='on', index=0):
    """Pool ``index`` with every member at ``power`` (sessions only on running desktops), stats zeroed."""
    state = sim.state()
    pool = state['pools'][index]
    members = pool_members(state, pool['id'])
    for d in members:
        sim.patch(d['id'], power=power, sessions=d['sessions'] if power == 'on' else [])
    sim.clear_stats()
    return pool, members


# --------------------------------------------------------------------------- desktop_pool_power


@pytest.mark.parametrize('state', sorted(WHOLE_POOL))
def test_whole_pool_is_one_pool_action(sim, simulator, run_play, actions, state):
    start, final, op_type = WHOLE_POOL[state]
    pool, members = setup_pool(sim, start)
    ids = sorted(d['id'] for d in members)
    force = state == 'stopped'

    # check mode: the plan, and not one write
    r = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': state, 'force': force})], check=True)['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True and r['summary']['changed'] == len(members) and r['jobs'] == []
    assert sim.stats()['writes'] == 0 and actions == []
    assert set(power_of(sim)[i] for i in ids) == {start}

    sim.clear_stats()
    r = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': state, 'force': force})], diff=True)['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True
    assert r['summary'] == {'total': len(members), 'changed': len(members), 'unchanged': 0, 'failed': 0}
    assert sorted(e['id'] for e in r['desktops']) == ids
    assert all(e['after'] == {'power_state': {'on': 'powered_on', 'off': 'powered_off',
                                                  'hibernated': 'suspended'}[final]} for e in r['desktops'])
    assert len(r['jobs']) == 1 and r['jobs'][0]['scope'] == 'pool' and r['jobs'][0]['status'] == 'success'
    by_op = sim.stats()['by_op']
    assert by_op[POOL_ACTION] == 1 and BATCH_ACTION not in by_op, by_op
    assert by_op['show_job'] >= 1 and by_op['list_desktop_pools'] == 1
    assert set(by_op) == {'list_desktop_pools', 'list_desktops', POOL_ACTION, 'show_job'}, by_op
    assert sim.stats()['writes'] == 1
    assert actions == [{'op_type': op_type, 'type': 'HARD' if force else 'SOFT'}]
    assert set(power_of(sim)[i] for i in ids) == {final}
    job = simulator[0].providers['huaweicloud'].jobs[r['jobs'][0]['id']]  # the job the simulator ran
    assert job['pool_id'] == pool['id'] and sorted(sub['desktop_id'] for sub in job['sub_jobs']) == ids

    sim.clear_stats()
    again = run_play(sim.module_args(), [(POWER, {'pool': pool['id'], 'state': state})])['r0']
    assert not again.get('failed'), again.get('msg')
    if state == 'restarted':  # never idempotent: every running desktop is restarted again
        assert again['changed'] is True and sim.stats()['by_op'][POOL_ACTION] == 1
    else:
        assert again['changed'] is False and again['summary']['unchanged'] == len(members)
        assert sim.stats()['writes'] == 0 and again['jobs'] == []


def test_partial_pool_uses_batch_action_on_only_those(sim, run_play, actions):
    pool, members = setup_pool(sim, 'on')
    already = members[4]
    sim.patch(already['id'], power='off', sessions=[])
    sim.clear_stats()
    r = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'stopped'})])['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['summary'] == {'total': len(members), 'changed': len(members) - 1, 'unchanged': 1, 'failed': 0}
    entry = [e for e in r['desktops'] if e['id'] == already['id']][0]
    assert entry['changed'] is False and entry['msg'] == 'already powered_off'
    by_op = sim.stats()['by_op']
    assert POOL_ACTION not in by_op and by_op[BATCH_ACTION] == math.ceil((len(members) - 1) / 100)
    assert len(actions) == 1 and actions[0]['op_type'] == 'os-stop' and actions[0]['type'] == 'SOFT'
    assert sorted(actions[0]['desktop_ids']) == sorted(d['id'] for d in members if d['id'] != already['id'])
    assert r['jobs'] == []  # BatchRunDesktops returns no job: the desktops are polled
    assert all(p == 'off' for i, p in power_of(sim).items() if i in {d['id'] for d in members})


def test_mixed_started_from_off_and_hibernated_is_batched(sim, run_play, actions):
    pool, members = setup_pool(sim, 'off')
    sim.patch(members[0]['id'], power='hibernated')
    sim.clear_stats()
    r = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'started', 'force': True})])['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['summary']['changed'] == len(members)
    by_op = sim.stats()['by_op']
    assert POOL_ACTION not in by_op and by_op[BATCH_ACTION] == 2  # wakeup and start are separate plans
    assert {a['op_type'] for a in actions} == {'os-start'} and {a['type'] for a in actions} == {'HARD'}
    assert sorted(i for a in actions for i in a['desktop_ids']) == sorted(d['id'] for d in members)
    assert all(power_of(sim)[d['id']] == 'on' for d in members)


def test_failed_sub_job_fails_that_desktop_only(sim, run_play):
    pool, members = setup_pool(sim, 'on')
    bad = members[3]
    sim.faults([{'kind': 'perid', 'ids': [bad['id']], 'ops': [POOL_ACTION]}])
    try:
        r = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'hibernated'})])['r0']
    finally:
        sim.faults([])
    assert r['failed'] is True
    assert r['msg'].startswith('1 of %d desktops failed: %s (' % (len(members), bad['name']))
    entries = {e['id']: e for e in r['desktops']}
    assert entries[bad['id']]['failed'] and H.ACTION_FAULT in entries[bad['id']]['msg']
    assert 'The operation failed on the desktop %s' % bad['id'] in entries[bad['id']]['msg']
    assert entries[bad['id']]['after'] == {'power_state': 'powered_on'}
    assert r['summary'] == {'total': len(members), 'changed': len(members), 'unchanged': 0, 'failed': 1}
    assert len(r['jobs']) == 1 and r['jobs'][0]['status'] == 'success'  # a partly failed job ends SUCCESS
    by_op = sim.stats()['by_op']
    assert by_op[POOL_ACTION] == 1 and BATCH_ACTION not in by_op
    power = power_of(sim)
    assert power[bad['id']] == 'on'
    assert all(power[d['id']] == 'hibernated' for d in members if d['id'] != bad['id'])


def test_wait_timeout_names_the_desktops_still_transitioning(sim, run_play):
    pool, members = setup_pool(sim, 'on')
    targets = members[:3]
    r = run_play(sim.module_args(), [(POWER, {'desktops': [d['name'] for d in targets], 'state': 'stopped',
                                              'wait_timeout': 0})])['r0']
    assert r['failed'] is True
    assert r['msg'].startswith('3 of 3 desktops failed: ')
    for d in targets:
        assert '%s (stop requested but the desktop is transitioning, not powered_off, after 0s (wait_timeout))' \
            % d['name'] in r['msg']
    assert all(e['changed'] and e['failed'] for e in r['desktops'])
    assert sim.stats()['by_op'][BATCH_ACTION] == 1

    # a desktop stuck in a task is waited for, then reported without being acted on
    stuck = members[5]
    sim.patch(stuck['id'], extra={'task_status': 'rebooting'})
    sim.clear_stats()
    r = run_play(sim.module_args(), [(POWER, {'desktops': [stuck['id'], members[6]['id']], 'state': 'stopped',
                                              'wait_timeout': 1})])['r0']
    assert r['failed'] is True
    assert r['msg'] == '1 of 2 desktops failed: %s (still transitioning after 1s; not acted on)' % stuck['name']
    entries = {e['id']: e for e in r['desktops']}
    assert entries[stuck['id']]['changed'] is False
    assert entries[members[6]['id']]['changed'] and not entries[members[6]['id']]['failed']
    assert sim.stats()['by_op'][BATCH_ACTION] == 1


# --------------------------------------------------------------------------- session_message


def session_setup(sim, index=0):
    """Pool ``index``: every member running; sessions on all but two (one running without a session, one off)."""
    pool, members = setup_pool(sim, 'on', index)
    for n, d in enumerate(members):
        sim.patch(d['id'], sessions=[{'user': d['name'] + '-u', 'state': 'connected' if n % 3 else 'disconnected'}])
    idle, off = members[1], members[2]
    sim.patch(idle['id'], sessions=[])
    sim.patch(off['id'], power='off', sessions=[])
    sim.clear_stats()
    return pool, members, idle, off


def test_message_to_a_pool_uses_the_pool_notification(sim, run_play):
    pool, members, idle, off = session_setup(sim)
    r = run_play(sim.module_args(), [(MESSAGE, {'pool': pool['name'], 'message': 'Patching at 22:00',
                                                'message_type': 'warning', 'title': 'IT'})])['r0']
    assert not r.get('failed'), r.get('msg')
    with_session = len(members) - 2
    assert r['changed'] is True
    assert r['summary'] == {'total': len(members), 'sent': with_session, 'skipped': 2, 'failed': 0}
    skipped = sorted(e['desktop_id'] for e in r['sessions'] if e['skipped'])
    assert skipped == sorted([idle['id'], off['id']])
    sent = [e for e in r['sessions'] if e.get('sent')]
    assert all(e['session_id'] == '%s:%s' % (e['desktop_id'], e['user']) for e in sent)
    by_op = sim.stats()['by_op']
    assert by_op[POOL_NOTIFY] == 1 and NOTIFY not in by_op and by_op['show_job'] >= 1
    assert sim.stats()['writes'] == 1
    got = Counter(m['desktop_id'] for m in sim.state()['messages'])
    assert set(got) == {d['id'] for d in members} - {idle['id'], off['id']} and set(got.values()) == {1}
    assert {m['text'] for m in sim.state()['messages']} == {'Patching at 22:00'}


def test_message_to_a_pool_without_sessions_sends_nothing(sim, run_play):
    pool, members = setup_pool(sim, 'on', 1)
    for d in members:
        sim.patch(d['id'], sessions=[])
    sim.clear_stats()
    r = run_play(sim.module_args(), [(MESSAGE, {'pool': pool['id'], 'message': 'anyone?'})])['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is False
    assert r['summary'] == {'total': len(members), 'sent': 0, 'skipped': len(members), 'failed': 0}
    assert sim.stats()['writes'] == 0 and sim.state()['messages'] == []


def test_message_never_sent_twice_after_a_5xx(sim, run_play):
    pool, members, idle, off = session_setup(sim)
    sim.faults([{'kind': '5xx', 'rate': 1, 'ops': [POOL_NOTIFY, NOTIFY], 'count': 1, 'phase': 'after'}])
    try:
        r = run_play(sim.module_args(), [(MESSAGE, {'pool': pool['name'], 'message': 'once'})])['r0']
    finally:
        sim.faults([])
    assert r['failed'] is True
    failed = [e for e in r['sessions'] if e['failed']]
    assert len(failed) == len(members) - 2 and not any(e.get('sent') for e in r['sessions'])
    assert all('not sent: Huawei Cloud answered HTTP 500 %s' % H.SERVER_ERROR[1] in e['msg'] for e in failed)
    by_op = sim.stats()['by_op']
    assert by_op[POOL_NOTIFY] == 1 and NOTIFY not in by_op and 'show_job' not in by_op
    sim.advance(120)  # the job the server created anyway runs to its end
    got = Counter(m['desktop_id'] for m in sim.state()['messages'])
    assert got and max(got.values()) == 1


def test_message_check_mode_sends_nothing(sim, run_play):
    pool, members, idle, off = session_setup(sim)
    r = run_play(sim.module_args(), [(MESSAGE, {'pool': pool['name'], 'message': 'would'})], check=True)['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True and r['summary']['sent'] == 0 and r['summary']['skipped'] == 2
    assert all(e['msg'] == 'would send info message (check mode)' for e in r['sessions'] if not e['skipped'])
    assert sim.stats()['writes'] == 0 and sim.state()['messages'] == []


def test_message_longer_than_the_limit_fails_before_any_write(sim, run_play):
    pool, members, idle, off = session_setup(sim)
    r = run_play(sim.module_args(), [(MESSAGE, {'pool': pool['name'], 'message': 'x' * (H.NOTIFICATION_MAX_LENGTH + 1)})])['r0']
    assert r['failed'] is True and str(H.NOTIFICATION_MAX_LENGTH) in r['msg']
    assert sim.stats()['total'] == 0


# --------------------------------------------------------------------------- session_logoff


def test_logoff_with_a_message_then_idempotent(sim, run_play):
    pool, members, idle, off = session_setup(sim)
    names = [d['name'] for d in members[:6]]  # includes the idle and the stopped desktop
    with_session = [d for d in members[:6] if d['id'] not in (idle['id'], off['id'])]

    r = run_play(sim.module_args(), [(LOGOFF, {'desktops': names, 'message': 'Logging you off for patching'})],
                 check=True)['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True and r['summary'] == {'total': 6, 'logged_off': 0, 'skipped': 2, 'failed': 0}
    assert sim.stats()['writes'] == 0 and sim.state()['messages'] == []

    sim.clear_stats()
    r = run_play(sim.module_args(), [(LOGOFF, {'desktops': names, 'message': 'Logging you off for patching',
                                               'wait': True, 'wait_timeout': 60})])['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['summary'] == {'total': 6, 'logged_off': len(with_session), 'skipped': 2, 'failed': 0}
    assert sim.stats()['by_op'][LOGOFF_OP] == 1 and sim.stats()['writes'] == 1
    msgs = sim.state()['messages']
    assert sorted(m['desktop_id'] for m in msgs) == sorted(d['id'] for d in with_session)
    assert {m['message_type'] for m in msgs} == {'logoff'} and {m['text'] for m in msgs} == {'Logging you off for patching'}
    state = {d['id']: d for d in sim.state()['desktops']}
    assert all(state[d['id']]['sessions'] == [] for d in with_session)

    sim.clear_stats()
    again = run_play(sim.module_args(), [(LOGOFF, {'desktops': names, 'message': 'Logging you off for patching'})])['r0']
    assert not again.get('failed'), again.get('msg')
    assert again['changed'] is False and again['summary']['skipped'] == 6
    assert sim.stats()['writes'] == 0


def test_logoff_blank_message_is_refused_before_any_request(sim, run_play):
    pool, members, idle, off = session_setup(sim)
    r = run_play(sim.module_args(), [(LOGOFF, {'pool': pool['name'], 'message': '  '})])['r0']
    assert r['failed'] is True and 'message is empty' in r['msg']
    assert sim.stats()['total'] == 0


# --------------------------------------------------------------------------- session_info


def test_session_info(sim, run_play):
    pool, members, idle, off = session_setup(sim)
    res = run_play(sim.module_args(), [
        (SESSIONS, {'pool': pool['name']}),
        (SESSIONS, {'desktops': [members[0]['name']], 'include_raw': True}),
    ])
    r, one = res['r0'], res['r1']
    assert not r.get('failed') and not one.get('failed'), (r.get('msg'), one.get('msg'))
    assert r['changed'] is False
    truth = {d['id']: d for d in pool_members(sim.state(), pool['id'])}
    expected = {i: d['sessions'][0]['state'] for i, d in truth.items() if d['sessions']}
    assert {s['desktop_id']: s['state'] for s in r['sessions']} == expected
    assert all(s['session_id'] == '%s:%s' % (s['desktop_id'], s['user']) and s['pool'] == pool['id']
               and 'raw' not in s for s in r['sessions'])
    assert r['summary'] == {'total': len(expected), 'connected': sum(1 for v in expected.values() if v == 'connected'),
                            'disconnected': sum(1 for v in expected.values() if v == 'disconnected'), 'unknown': 0,
                            'desktops': len(members)}
    assert len(one['sessions']) == 1 and one['sessions'][0]['raw']['desktop_id'] == members[0]['id']
    assert sim.stats()['writes'] == 0


# --------------------------------------------------------------------------- IAM password credentials


def test_modules_with_iam_password_credentials(sim, simulator, run_play, actions):
    password = type(sim)(simulator[1], 'huaweicloud_password')  # tests/conftest.py SimControl on the ready block
    conn = password.module_args()
    assert conn['username'] == H.IAM_USER and 'access_key' not in conn and 'project_id' not in conn
    pool, members, idle, off = session_setup(sim)
    res = run_play(conn, [
        (INFO, {'pool': pool['name'], 'gather_sessions': True}),
        (MESSAGE, {'desktops': [members[0]['id'], members[3]['id']], 'message': 'hello from IAM'}),
        (POWER, {'pool': pool['name'], 'state': 'stopped'}),
    ])
    info, msg, power = res['r0'], res['r1'], res['r2']
    assert not info.get('failed') and not msg.get('failed') and not power.get('failed'), \
        (info.get('msg'), msg.get('msg'), power.get('msg'))
    assert len(info['desktops']) == len(members)
    assert msg['summary']['sent'] == 2
    assert power['summary']['changed'] == len(members) - 1 and power['summary']['unchanged'] == 1
    by_op = sim.stats()['by_op']
    # one token per module run (three processes), never an AK/SK signature
    assert by_op['keystone_create_user_token_by_password'] == 3 and 'keystone_list_projects' not in by_op
    assert by_op[NOTIFY] == 1 and by_op[BATCH_ACTION] == 1 and POOL_ACTION not in by_op
    assert sim.stats()['by_status'].get('401') is None
    assert all(p == 'off' for i, p in power_of(sim).items() if i in {d['id'] for d in members})
