"""desktop_pool_power, session_message, session_logoff, session_info and desktop_info on Huawei Cloud Workspace,
through ansible-playbook against the simulator.

Plays are few and hold several tasks (ansible-playbook start-up dominates the run time). Where a play mixes a
check-mode task, a real run and a second run, the simulator's *total* write count proves what each did: e.g.
``writes == 1`` with one pool action means the check-mode run and the second run wrote nothing.
"""

from __future__ import annotations

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
CHECK = {'check_mode': True}

pytestmark = pytest.mark.parametrize('provider_name', ['huaweicloud'])

#: desktop_pool_power state -> (power every member starts in, final simulator power, pool op_type)
WHOLE_POOL = {
    'stopped': ('on', 'off', 'os-stop'),
    'started': ('off', 'on', 'os-start'),
    'hibernated': ('on', 'hibernated', 'hibernate'),
    'restarted': ('on', 'on', 'reboot'),
}
NORMALIZED = {'on': 'powered_on', 'off': 'powered_off', 'hibernated': 'suspended'}


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


def session_setup(sim, index=0):
    """Pool ``index``: every member running with one session (every third disconnected), except one running
    desktop without a session and one stopped desktop."""
    pool, members = setup_pool(sim, 'on', index)
    for n, d in enumerate(members):
        sim.patch(d['id'], sessions=[{'user': d['name'] + '-u', 'state': 'connected' if n % 3 else 'disconnected'}])
    idle, off = members[1], members[2]
    sim.patch(idle['id'], sessions=[])
    sim.patch(off['id'], power='off', sessions=[])
    sim.clear_stats()
    return pool, members, idle, off


def ok(*results):
    for r in results:
        assert not r.get('failed'), r.get('msg')


# --------------------------------------------------------------------------- desktop_pool_power


@pytest.mark.parametrize('state', sorted(WHOLE_POOL))
def test_whole_pool_is_one_pool_action(sim, simulator, run_play, actions, state):
    start, final, op_type = WHOLE_POOL[state]
    pool, members = setup_pool(sim, start)
    ids = sorted(d['id'] for d in members)
    force = state == 'stopped'
    task = {'pool': pool['name'], 'state': state, 'force': force}
    tasks = [(POWER, task, CHECK), (POWER, task)]
    if state != 'restarted':  # restarted is never idempotent: a second run would restart every desktop again
        tasks.append((POWER, dict(task, pool=pool['id'])))
    res = run_play(sim.module_args(), tasks, diff=True)
    check, r, again = res['r0'], res['r1'], res.results.get('r2', {})
    ok(check, r, again)

    # check mode: the plan only
    assert check['changed'] is True and check['summary']['changed'] == len(members) and check['jobs'] == []
    assert all(e['after'] == {'power_state': NORMALIZED[final]} for e in check['desktops'])

    # the real run: one pool action, its job followed, every desktop read back at the target
    assert r['changed'] is True
    assert r['summary'] == {'total': len(members), 'changed': len(members), 'unchanged': 0, 'failed': 0}
    assert sorted(e['id'] for e in r['desktops']) == ids
    assert all(e['before'] == {'power_state': NORMALIZED[start]} for e in r['desktops'])
    assert all(e['after'] == {'power_state': NORMALIZED[final]} for e in r['desktops'])
    assert len(r['jobs']) == 1 and r['jobs'][0]['scope'] == 'pool' and r['jobs'][0]['status'] == 'success'
    job = simulator[0].providers['huaweicloud'].jobs[r['jobs'][0]['id']]  # the job the simulator ran
    assert job['pool_id'] == pool['id'] and sorted(sub['desktop_id'] for sub in job['sub_jobs']) == ids
    assert set(power_of(sim)[i] for i in ids) == {final}

    stats = sim.stats()
    by_op = stats['by_op']
    assert set(by_op) == {'list_desktop_pools', 'list_desktops', POOL_ACTION, 'show_job'}, by_op
    assert by_op['list_desktop_pools'] == len(tasks) and by_op['show_job'] >= 1
    assert by_op[POOL_ACTION] == 1 and stats['writes'] == 1  # check mode and the second run wrote nothing
    assert actions == [{'op_type': op_type, 'type': 'HARD' if force else 'SOFT'}]
    if again:
        assert again['changed'] is False and again['summary']['unchanged'] == len(members) and again['jobs'] == []
    assert all(v == NORMALIZED[final] for v in r['diff']['after'].values()) and len(r['diff']['after']) == len(members)


def test_some_desktops_need_it_batch_action_on_only_those(sim, run_play, actions):
    """Pool 1: stopped with one desktop already off (batch action on the others); pool 2: started from off and
    hibernated desktops, which os-start covers alike (one pool action)."""
    state = sim.state()
    stop_pool, start_pool = state['pools'][0], state['pools'][1]
    stop_members = setup_pool(sim, 'on', 0)[1]
    start_members = setup_pool(sim, 'off', 1)[1]
    already, sleeping = stop_members[4], start_members[0]
    sim.patch(already['id'], power='off', sessions=[])
    sim.patch(sleeping['id'], power='hibernated')
    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (POWER, {'pool': stop_pool['name'], 'state': 'stopped'}),
        (POWER, {'pool': start_pool['name'], 'state': 'started', 'force': True}),
    ])
    stop, start = res['r0'], res['r1']
    ok(stop, start)
    assert stop['summary'] == {'total': len(stop_members), 'changed': len(stop_members) - 1, 'unchanged': 1, 'failed': 0}
    entry = [e for e in stop['desktops'] if e['id'] == already['id']][0]
    assert entry['changed'] is False and entry['msg'] == 'already powered_off'
    assert stop['jobs'] == []  # BatchRunDesktops returns no job: the desktops themselves are polled
    assert start['summary']['changed'] == len(start_members)
    by_op = sim.stats()['by_op']
    assert by_op[BATCH_ACTION] == 1 and by_op[POOL_ACTION] == 1  # the stop pool is partial; the start pool whole
    assert actions[0]['op_type'] == 'os-stop' and actions[0]['type'] == 'SOFT'
    assert sorted(actions[0]['desktop_ids']) == sorted(d['id'] for d in stop_members if d['id'] != already['id'])
    assert actions[1] == {'op_type': 'os-start', 'type': 'HARD'}
    power = power_of(sim)
    assert all(power[d['id']] == 'off' for d in stop_members) and all(power[d['id']] == 'on' for d in start_members)


def test_failed_sub_job_fails_that_desktop_only(sim, run_play):
    pool, members = setup_pool(sim, 'on')
    bad = members[3]
    sim.faults([{'kind': 'perid', 'ids': [bad['id']], 'ops': [POOL_ACTION]}])
    try:
        r = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'hibernated'})])['r0']
    finally:
        sim.faults([])
    assert r['failed'] is True
    assert r['msg'].startswith('1 of %d desktops failed: %s (hibernate failed: ' % (len(members), bad['name']))
    entries = {e['id']: e for e in r['desktops']}
    assert entries[bad['id']]['failed'] and H.ACTION_FAULT in entries[bad['id']]['msg']
    assert 'The operation failed on the desktop %s' % bad['id'] in entries[bad['id']]['msg']
    assert entries[bad['id']]['after'] == {'power_state': 'powered_on'}
    assert r['summary'] == {'total': len(members), 'changed': len(members), 'unchanged': 0, 'failed': 1}
    assert len(r['jobs']) == 1 and r['jobs'][0]['status'] == 'success'  # a partly failed job ends SUCCESS
    by_op = sim.stats()['by_op']
    assert by_op[POOL_ACTION] == 1 and BATCH_ACTION not in by_op and sim.stats()['writes'] == 1
    power = power_of(sim)
    assert power[bad['id']] == 'on'
    assert all(power[d['id']] == 'hibernated' for d in members if d['id'] != bad['id'])


def test_wait_timeout_names_the_desktops_still_transitioning(sim, run_play):
    pool, members = setup_pool(sim, 'on')
    targets, stuck, other = members[:3], members[5], members[6]
    sim.patch(stuck['id'], extra={'task_status': 'rebooting'})  # a task that never ends
    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (POWER, {'desktops': [d['name'] for d in targets], 'state': 'stopped', 'wait_timeout': 0}),
        (POWER, {'desktops': [stuck['id'], other['id']], 'state': 'stopped', 'wait_timeout': 1}),
    ])
    r, r2 = res['r0'], res['r1']
    # the operation outlives wait_timeout
    assert r['failed'] is True and r['msg'].startswith('3 of 3 desktops failed: ')
    for d in targets:
        assert '%s (stop requested but the desktop is transitioning, not powered_off, after 0s (wait_timeout))' \
            % d['name'] in r['msg']
    assert all(e['changed'] and e['failed'] for e in r['desktops'])
    # a desktop already in a task is waited for, then reported without being acted on
    assert r2['failed'] is True
    assert r2['msg'] == '1 of 2 desktops failed: %s (still transitioning after 1s; not acted on)' % stuck['name']
    entries = {e['id']: e for e in r2['desktops']}
    assert entries[stuck['id']]['changed'] is False and entries[stuck['id']]['before'] == {'power_state': 'transitioning'}
    assert entries[other['id']]['changed'] and not entries[other['id']]['failed']
    assert sim.stats()['by_op'][BATCH_ACTION] == 2 and POOL_ACTION not in sim.stats()['by_op']
    assert power_of(sim)[stuck['id']] == 'on'


# --------------------------------------------------------------------------- session_message


def test_message_to_pools_check_mode_sent_and_skipped(sim, run_play):
    pool, members, idle, off = session_setup(sim, 0)
    quiet_pool, quiet = setup_pool(sim, 'on', 1)
    for d in quiet:
        sim.patch(d['id'], sessions=[])
    sim.clear_stats()
    task = {'pool': pool['name'], 'msg': 'Patching at 22:00', 'message_type': 'warning', 'title': 'IT'}
    res = run_play(sim.module_args(), [
        (MESSAGE, task, CHECK),
        (MESSAGE, task),
        (MESSAGE, {'pool': quiet_pool['id'], 'msg': 'anyone?'}),
    ])
    check, r, nobody = res['r0'], res['r1'], res['r2']
    ok(check, r, nobody)
    with_session = len(members) - 2

    assert check['changed'] is True and check['summary'] == {'total': len(members), 'sent': 0, 'changed': len(members) - 2, 'skipped': 2, 'failed': 0}
    assert all(e['msg'] == 'would send warning message (check mode)' for e in check['sessions'] if not e['skipped'])

    assert r['changed'] is True
    assert r['summary'] == {'total': len(members), 'sent': with_session, 'changed': with_session, 'skipped': 2, 'failed': 0}
    assert sorted(e['desktop_id'] for e in r['sessions'] if e['skipped']) == sorted([idle['id'], off['id']])
    sent = [e for e in r['sessions'] if e.get('sent')]
    assert len(sent) == with_session and all(e['session_id'] == '%s:%s' % (e['desktop_id'], e['user']) for e in sent)

    assert nobody['changed'] is False
    assert nobody['summary'] == {'total': len(quiet), 'sent': 0, 'changed': 0, 'skipped': len(quiet), 'failed': 0}

    stats = sim.stats()
    assert stats['by_op'][POOL_NOTIFY] == 1 and NOTIFY not in stats['by_op'] and stats['by_op']['show_job'] >= 1
    assert stats['writes'] == 1  # neither check mode nor the pool without sessions sent anything
    got = Counter(m['desktop_id'] for m in sim.state()['messages'])
    assert set(got) == {d['id'] for d in members} - {idle['id'], off['id']} and set(got.values()) == {1}
    assert {m['text'] for m in sim.state()['messages']} == {'Patching at 22:00'}


def test_message_never_sent_twice_after_a_5xx(sim, run_play):
    pool, members, idle, off = session_setup(sim)
    sim.faults([{'kind': '5xx', 'rate': 1, 'ops': [POOL_NOTIFY, NOTIFY], 'count': 1, 'phase': 'after'}])
    try:
        res = run_play(sim.module_args(), [
            (MESSAGE, {'pool': pool['name'], 'msg': 'x' * (H.NOTIFICATION_MAX_LENGTH + 1)}),
            (MESSAGE, {'pool': pool['name'], 'msg': 'once'}),
        ])
    finally:
        sim.faults([])
    too_long, r = res['r0'], res['r1']
    assert too_long['failed'] is True and str(H.NOTIFICATION_MAX_LENGTH) in too_long['msg']
    assert r['failed'] is True
    failed = [e for e in r['sessions'] if e['failed']]
    assert len(failed) == len(members) - 2 and not any(e.get('sent') for e in r['sessions'])
    assert all('not sent: Huawei Cloud answered HTTP 500 %s' % H.SERVER_ERROR[1] in e['msg'] for e in failed)
    by_op = sim.stats()['by_op']
    assert by_op[POOL_NOTIFY] == 1 and NOTIFY not in by_op and 'show_job' not in by_op
    assert sim.stats()['writes'] == 1  # the over-long message sent nothing; the failed send was not repeated
    sim.advance(120)  # the job the server created anyway runs to its end
    got = Counter(m['desktop_id'] for m in sim.state()['messages'])
    assert got and max(got.values()) == 1


# --------------------------------------------------------------------------- session_logoff and session_info


def test_session_info_and_logoff_with_a_message(sim, run_play):
    pool, members, idle, off = session_setup(sim)
    picked = members[:6]  # includes the idle and the stopped desktop
    names = [d['name'] for d in picked]
    with_session = [d for d in picked if d['id'] not in (idle['id'], off['id'])]
    notice = 'Logging you off for patching'
    truth = {d['id']: d for d in pool_members(sim.state(), pool['id'])}
    res = run_play(sim.module_args(), [
        (SESSIONS, {'pool': pool['name']}),
        (SESSIONS, {'desktops': [members[0]['name']], 'include_raw': True}),
        (LOGOFF, {'pool': pool['name'], 'msg': '  '}),
        (LOGOFF, {'desktops': names, 'msg': notice}, CHECK),
        (LOGOFF, {'desktops': names, 'msg': notice, 'wait': True, 'wait_timeout': 60}),
        (LOGOFF, {'desktops': names, 'msg': notice}),
    ])
    info, one, blank, check, r, again = (res['r%d' % n] for n in range(6))
    ok(info, one, check, r, again)

    # session_info: one session per desktop with a user session, id <desktop id>:<user>
    expected = {i: d['sessions'][0]['state'] for i, d in truth.items() if d['sessions']}
    assert info['changed'] is False
    assert {s['desktop_id']: s['state'] for s in info['sessions']} == expected
    assert all(s['session_id'] == '%s:%s' % (s['desktop_id'], s['user']) and s['pool'] == pool['id']
               and 'raw' not in s for s in info['sessions'])
    assert info['summary'] == {'total': len(expected), 'connected': sum(1 for v in expected.values() if v == 'connected'),
                               'disconnected': sum(1 for v in expected.values() if v == 'disconnected'),
                               'unknown': 0, 'desktops': len(members)}
    assert len(one['sessions']) == 1 and one['sessions'][0]['raw']['desktop_id'] == members[0]['id']

    # a blank notice is refused before any request; check mode sends nothing
    assert blank['failed'] is True and 'empty' in blank['msg']
    assert check['changed'] is True and check['summary'] == {'total': 6, 'logged_off': 0, 'changed': 4, 'skipped': 2, 'failed': 0}

    # the logoff: one call, the notice shown once to each user, the sessions gone
    assert r['changed'] is True
    assert r['summary'] == {'total': 6, 'logged_off': len(with_session), 'changed': len(with_session), 'skipped': 2, 'failed': 0}
    msgs = sim.state()['messages']
    assert sorted(m['desktop_id'] for m in msgs) == sorted(d['id'] for d in with_session)
    assert {m['message_type'] for m in msgs} == {'logoff'} and {m['text'] for m in msgs} == {notice}
    state = {d['id']: d for d in sim.state()['desktops']}
    assert all(state[d['id']]['sessions'] == [] for d in with_session)
    assert state[members[6]['id']]['sessions']  # not selected: untouched

    # second run: nothing left to log off
    assert again['changed'] is False and again['summary'] == {'total': 6, 'logged_off': 0, 'changed': 0, 'skipped': 6, 'failed': 0}
    stats = sim.stats()
    assert stats['by_op'][LOGOFF_OP] == 1 and stats['writes'] == 1


# --------------------------------------------------------------------------- IAM password credentials


def test_modules_with_iam_password_credentials(sim, simulator, run_play):
    password = type(sim)(simulator[1], 'huaweicloud_password')  # tests/conftest.py SimControl on that ready block
    conn = password.module_args()
    assert conn['username'] == H.IAM_USER and 'access_key' not in conn and 'project_id' not in conn
    pool, members, idle, off = session_setup(sim)
    res = run_play(conn, [
        (INFO, {'pool': pool['name'], 'gather_sessions': True}),
        (MESSAGE, {'desktops': [members[0]['id'], members[3]['id']], 'msg': 'hello from IAM'}),
        (POWER, {'pool': pool['name'], 'state': 'stopped'}),
    ])
    info, msg, power = res['r0'], res['r1'], res['r2']
    ok(info, msg, power)
    assert len(info['desktops']) == len(members) and sum(d['sessions'] for d in info['desktops']) == len(members) - 2
    assert msg['summary']['sent'] == 2
    assert power['summary']['changed'] == len(members) - 1 and power['summary']['unchanged'] == 1
    by_op = sim.stats()['by_op']
    # one token per module run (three processes); the project comes from the token, not from an AK/SK lookup
    assert by_op['keystone_create_user_token_by_password'] == 3 and 'keystone_list_projects' not in by_op
    assert by_op[NOTIFY] == 1 and by_op[BATCH_ACTION] == 1 and POOL_ACTION not in by_op
    assert sim.stats()['by_status'].get('401') is None
    assert all(p == 'off' for i, p in power_of(sim).items() if i in {d['id'] for d in members})
