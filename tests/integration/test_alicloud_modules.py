"""desktop_pool_power, session_message, session_logoff and session_info on Alibaba Cloud EDS, through ansible-playbook."""

from __future__ import annotations

import math

import pytest

POWER = 'vdi.fleet.desktop_pool_power'
MESSAGE = 'vdi.fleet.session_message'
LOGOFF = 'vdi.fleet.session_logoff'
SESSIONS = 'vdi.fleet.session_info'

pytestmark = pytest.mark.parametrize('provider_name', ['alicloud'])

#: Must reach the users exactly as written (no Jinja markers: Ansible itself would template those).
HOSTILE = [
    'It\'s "quoted" & piped | 100% ^caret <in> >out `tick` $env:USERNAME $(Get-Date) \'; Remove-Item C:\\ ; \'',
    'line one\nline two\r\n"; shutdown /s /t 0 & echo "\n',
    'Grüße 你好 ✓',
    ('Wartung ✓ 你好 😀 %PATH% ' * 200)[:2289],  # the adapter's worst-case limit (4-byte characters fit too)
]


def pool_members(state: dict, pool_id: str) -> list[dict]:
    return [d for d in state['desktops'] if d['pool'] == pool_id]


def desktops_by_id(sim) -> dict:
    return {d['id']: d for d in sim.state()['desktops']}


def setup_pool(sim, hibernated=1, off=2):
    """First pool: every desktop running, except ``hibernated`` hibernated and ``off`` stopped ones."""
    state = sim.state()
    pool = state['pools'][0]
    members = pool_members(state, pool['id'])
    for n, d in enumerate(members):
        power = 'hibernated' if n < hibernated else 'off' if n < hibernated + off else 'on'
        if d['power'] != power:
            sim.patch(d['id'], power=power, sessions=[] if power != 'on' else d['sessions'])
    return pool, pool_members(sim.state(), pool['id'])


def bisect_cost(n: int, bad: set, size: int = 100) -> int:
    pending, calls = [list(range(n))[i:i + size] for i in range(0, n, size)], 0
    while pending:
        batch = pending.pop(0)
        calls += 1
        if any(i in bad for i in batch) and len(batch) > 1:
            half = len(batch) // 2
            pending[0:0] = [batch[:half], batch[half:]]
    return calls


# --------------------------------------------------------------------------- desktop_pool_power


def test_started_wakes_up_hibernated_and_is_idempotent(sim, run_play):
    pool, members = setup_pool(sim)
    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (POWER, {'pool': pool['name'], 'state': 'started'}),
        (POWER, {'pool': pool['id'], 'state': 'started'}),
    ], diff=True)
    r, again = res['r0'], res['r1']
    assert not r.get('failed'), r.get('msg')
    by_id = {e['id']: e for e in r['desktops']}
    assert r['summary'] == {'total': len(members), 'changed': 3, 'unchanged': len(members) - 3, 'failed': 0}
    assert by_id[members[0]['id']]['before'] == {'power_state': 'suspended'}
    assert all(by_id[d['id']]['after'] == {'power_state': 'powered_on'} for d in members)
    assert all(by_id[d['id']]['before'] == {'power_state': 'powered_off'} for d in members[1:3])
    assert r['jobs'] == []
    assert set(r['diff']['after'].values()) == {'powered_on'} and len(r['diff']['after']) == 3
    assert all(desktops_by_id(sim)[d['id']]['power'] == 'on' for d in members)
    # the second run changes nothing: the only writes are the first run's one wakeup and one start
    assert again['changed'] is False and again['summary']['unchanged'] == len(members)
    ops = sim.stats()['by_op']
    assert ops['WakeupDesktops'] == 1 and ops['StartDesktops'] == 1 and sim.stats()['writes'] == 2


def test_stopped_and_hibernated_are_idempotent(sim, run_play):
    pool, members = setup_pool(sim, hibernated=0, off=1)
    running = [d['id'] for d in members[1:]]
    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (POWER, {'desktops': running[:4], 'state': 'hibernated'}),
        (POWER, {'desktops': running[:4], 'state': 'hibernated'}),
    ])
    first, second = res['r0'], res['r1']
    assert not first.get('failed'), first.get('msg')
    assert first['summary']['changed'] == 4 and all(e['after'] == {'power_state': 'suspended'} for e in first['desktops'])
    assert second['changed'] is False and second['summary']['unchanged'] == 4
    assert sim.stats()['by_op']['HibernateDesktops'] == 1 and sim.stats()['writes'] == 1
    assert all(desktops_by_id(sim)[i]['power'] == 'hibernated' for i in running[:4])

    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (POWER, {'pool': pool['name'], 'state': 'stopped'}),
        (POWER, {'pool': pool['name'], 'state': 'stopped'}),
    ])
    first, second = res['r0'], res['r1']
    # StopDesktops needs Running: the hibernated desktops fail before any request, the others are stopped
    assert first['failed'] is True
    assert first['summary'] == {'total': len(members), 'changed': len(members) - 5, 'unchanged': 1, 'failed': 4}
    refused = [e for e in first['desktops'] if e['failed']]
    assert sorted(e['id'] for e in refused) == sorted(running[:4])
    assert all('wake up' in e['msg'] and e['after'] == {'power_state': 'suspended'} for e in refused)
    assert second['failed'] is True and second['changed'] is False
    assert second['summary'] == {'total': len(members), 'changed': 0, 'unchanged': len(members) - 4, 'failed': 4}
    assert sim.stats()['by_op']['StopDesktops'] == 1  # one batch, only the running desktops
    state = desktops_by_id(sim)
    assert all(state[d['id']]['power'] == 'off' for d in members if d['id'] not in running[:4])


def test_hibernate_of_a_stopped_desktop_fails_alone(sim, run_play):
    pool, members = setup_pool(sim, hibernated=0, off=1)
    r = run_play(sim.module_args(), [(POWER, {'desktops': [members[0]['id'], members[1]['id']], 'state': 'hibernated'})])['r0']
    assert r['failed'] is True
    by_id = {e['id']: e for e in r['desktops']}
    assert by_id[members[0]['id']]['failed'] and 'start it before' in by_id[members[0]['id']]['msg']
    assert by_id[members[1]['id']]['changed'] and not by_id[members[1]['id']]['failed']


def test_restarted_acts_on_running_desktops_only(sim, run_play):
    pool, members = setup_pool(sim)
    running = [d for d in members if d['power'] == 'on']
    sim.clear_stats()
    r = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'restarted'})])['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['summary'] == {'total': len(members), 'changed': len(running), 'unchanged': 3, 'failed': 0}
    assert sim.stats()['by_op']['RebootDesktops'] == math.ceil(len(running) / 100)
    assert sim.stats()['writes'] == 1
    state = desktops_by_id(sim)
    assert all(state[d['id']]['power'] == 'on' and state[d['id']]['sessions'] == [] for d in running)
    assert state[members[0]['id']]['power'] == 'hibernated'


def test_check_mode_sends_no_write(sim, run_play):
    pool, members = setup_pool(sim)
    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (POWER, {'pool': pool['name'], 'state': 'stopped'}),
        (POWER, {'pool': pool['name'], 'state': 'started'}),
        (POWER, {'pool': pool['name'], 'state': 'restarted'}),
    ], check=True, diff=True)
    stop, start, restart = res['r0'], res['r1'], res['r2']
    # the hibernated desktop cannot be stopped before it is woken up: planned as failed, not acted on
    assert stop['changed'] and stop['summary']['changed'] == len(members) - 3 and stop['summary']['failed'] == 1
    assert start['summary']['changed'] == 3 and restart['summary']['changed'] == len(members) - 3
    assert all('check mode' in e['msg'] for e in stop['desktops'] if e['changed'])
    assert sim.stats()['writes'] == 0
    assert not any(d['transitioning'] for d in sim.state()['desktops'])


def test_wait_timeout_too_short_names_the_transitioning_desktops(sim, run_play):
    pool, members = setup_pool(sim, hibernated=0, off=0)
    chosen = members[:2]
    task = {'desktops': [d['name'] for d in chosen], 'state': 'stopped', 'wait_timeout': 0}
    r = run_play(sim.module_args(), [(POWER, task)])['r0']
    assert r['failed'] is True
    assert '2 of 2 desktops failed' in r['msg']
    for d in chosen:
        assert d['name'] in r['msg']
    assert 'transitioning, not powered_off' in r['msg'] and 'wait_timeout' in r['msg']
    assert all(e['changed'] and e['failed'] and e['after'] == {'power_state': 'transitioning'} for e in r['desktops'])


def test_refused_desktop_is_isolated(sim, run_play):
    pool, members = setup_pool(sim, hibernated=0, off=0)
    refused = members[4]
    sim.faults([{'kind': 'perid', 'ids': [refused['id']], 'ops': ['StopDesktops']}])
    try:
        sim.clear_stats()
        r = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'stopped'})])['r0']
    finally:
        sim.faults([])
    assert r['failed'] is True and r['summary']['failed'] == 1 and r['summary']['changed'] == len(members) - 1
    bad = [e for e in r['desktops'] if e['id'] == refused['id']][0]
    assert 'provider refused to stop' in bad['msg'] and 'IncorrectDesktopStatus' in bad['msg']
    assert bad['msg'] in r['msg'] or refused['name'] in r['msg']
    assert sim.stats()['by_op']['StopDesktops'] == bisect_cost(len(members), {4})
    state = desktops_by_id(sim)
    assert {d['id'] for d in members if state[d['id']]['power'] == 'off'} == {d['id'] for d in members} - {refused['id']}


# --------------------------------------------------------------------------- session_message


def test_message_without_delivery_option_and_logoff_fail_before_any_request(sim, run_play):
    before = sim.state()
    pool = before['pools'][0]
    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (MESSAGE, {'pool': pool['name'], 'msg': 'hello'}),
        (LOGOFF, {'pool': pool['name'], 'force': True}),
    ])
    r, logoff = res['r0'], res['r1']
    assert r['failed'] is True
    assert 'no API that sends a free-text message' in r['msg']
    assert 'alicloud_console_message_id' in r['msg'] and 'alicloud_delivery=run_command' in r['msg']
    assert 'Windows' in r['msg'] and 'RunCommand' in r['msg']
    assert logoff['failed'] is True
    assert 'no API that logs a user off' in logoff['msg'] and 'DisconnectDesktopSessions' in logoff['msg']
    assert 'desktop_pool_power' in logoff['msg']
    assert sim.stats()['total'] == 0
    assert [d['sessions'] for d in sim.state()['desktops']] == [d['sessions'] for d in before['desktops']]


def test_console_message(sim, run_play):
    state = sim.state()
    pool = state['pools'][0]
    members = pool_members(state, pool['id'])
    with_session = [d for d in members if d['sessions']]
    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (MESSAGE, {'pool': pool['name'], 'msg': 'see console', 'alicloud_console_message_id': 'msg-sim-maintenance'}),
        (MESSAGE, {'pool': pool['name'], 'msg': 'see console', 'alicloud_console_message_id': 'msg-sim-draft'}),
    ])
    ok, draft = res['r0'], res['r1']
    assert not ok.get('failed'), ok.get('msg')
    assert ok['summary'] == {'total': len(members), 'sent': len(with_session), 'changed': len(with_session),
                             'skipped': len(members) - len(with_session), 'failed': 0}
    assert draft['failed'] is True and 'InvalidMessageStatus' in draft['msg']
    assert draft['summary']['sent'] == 0 and draft['summary']['failed'] == len(with_session)
    assert sim.stats()['by_op']['SendConsoleMessage'] == 2
    sim.advance(30)
    got = [m for m in sim.state()['messages'] if m['message_type'] == 'console:msg-sim-maintenance']
    every = [s['id'] for d in sim.state()['desktops'] for s in d['sessions']]
    assert sorted(m['session_id'] for m in got) == sorted(every)  # the message's own target: AllUsers


def test_run_command_hostile_texts_arrive_exactly(sim, run_play):
    state = sim.state()
    pool = state['pools'][1]
    members = pool_members(state, pool['id'])
    sessions = sorted((d['id'], s['user']) for d in members for s in d['sessions'])
    assert sessions
    sim.clear_stats()
    res = run_play(sim.module_args(), [(MESSAGE, {'pool': pool['name'], 'msg': text,
                                                  'alicloud_delivery': 'run_command'}) for text in HOSTILE])
    for n, text in enumerate(HOSTILE):
        r = res['r%d' % n]
        assert not r.get('failed'), r.get('msg')
        assert r['changed'] is True and r['summary']['sent'] == len(sessions)
        got = sorted((m['desktop_id'], m['user']) for m in sim.state()['messages']
                     if m['message_type'] == 'msg' and m['text'] == text)
        assert got == sessions, repr(text)
    assert len(sim.state()['messages']) == len(HOSTILE) * len(sessions)
    assert sim.stats()['by_op']['RunCommand'] == len(HOSTILE)


def test_run_command_pool_with_and_without_sessions(sim, run_play):
    state = sim.state()
    busy, empty = state['pools'][0], state['pools'][2]
    for d in pool_members(state, empty['id']):
        sim.patch(d['id'], sessions=[])
    members = pool_members(state, busy['id'])
    with_session = [d for d in members if d['sessions']]
    linux = with_session[0]
    sim.patch(linux['id'], os_type='Linux')
    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (MESSAGE, {'pool': empty['name'], 'msg': 'nobody here', 'alicloud_delivery': 'run_command'}),
        (MESSAGE, {'pool': busy['name'], 'msg': 'Patch window', 'title': 'IT',
                   'alicloud_delivery': 'run_command', 'fail_on_error': False}),
    ])
    nobody, r = res['r0'], res['r1']
    assert not nobody.get('failed') and nobody['changed'] is False
    assert all(e['skipped'] and not e['changed'] and not e.get('sent') for e in nobody['sessions'])
    assert nobody['summary']['skipped'] == len(pool_members(state, empty['id']))
    assert not r.get('failed') and r['changed'] is True
    assert r['summary'] == {'total': len(members), 'sent': len(with_session) - 1, 'changed': len(with_session) - 1,
                            'skipped': len(members) - len(with_session), 'failed': 1}
    bad = [e for e in r['sessions'] if e['desktop_id'] == linux['id']][0]
    assert bad['failed'] and 'CommandNotApplicable' in bad['msg']
    assert sim.stats()['by_op']['RunCommand'] == 1
    got = [m for m in sim.state()['messages'] if m['message_type'] == 'msg']
    assert sorted(m['desktop_id'] for m in got) == sorted(d['id'] for d in with_session[1:])
    assert {m['text'] for m in got} == {'IT\nPatch window'}


def test_message_check_mode_sends_nothing(sim, run_play):
    pool = sim.state()['pools'][0]
    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (MESSAGE, {'pool': pool['name'], 'msg': 'dry', 'alicloud_delivery': 'run_command'}),
        (MESSAGE, {'pool': pool['name'], 'msg': 'dry', 'alicloud_console_message_id': 'msg-sim-maintenance'}),
    ], check=True)
    for r in (res['r0'], res['r1']):
        assert not r.get('failed'), r.get('msg')
        assert r['changed'] is True and all('check mode' in e['msg'] for e in r['sessions'] if not e['skipped'])
    assert sim.stats()['writes'] == 0
    sim.advance(30)
    assert sim.state()['messages'] == []


# --------------------------------------------------------------------------- session_info


def test_session_info(sim, run_play):
    state = sim.state()
    pool = state['pools'][0]
    members = pool_members(state, pool['id'])
    sim.clear_stats()
    res = run_play(sim.module_args(), [(SESSIONS, {'pool': pool['name']}), (SESSIONS, {'include_raw': True})],
                   check=True)
    in_pool, everything = res['r0'], res['r1']
    assert not in_pool.get('failed') and not everything.get('failed'), (in_pool.get('msg'), everything.get('msg'))
    expected = sorted((d['id'], s['user'], s['state']) for d in members for s in d['sessions'])
    assert sorted((s['desktop_id'], s['user'], s['state']) for s in in_pool['sessions']) == expected
    assert all(s['pool'] == pool['id'] and 'raw' not in s for s in in_pool['sessions'])
    assert in_pool['summary']['desktops'] == len(members) and in_pool['summary']['total'] == len(expected)
    assert everything['summary']['total'] == sum(len(d['sessions']) for d in state['desktops'])
    assert all(s['raw']['DesktopId'] == s['desktop_id'] for s in everything['sessions'])
    assert sim.stats()['writes'] == 0
