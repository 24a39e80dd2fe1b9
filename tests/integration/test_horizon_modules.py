"""desktop_pool_power, session_message, session_logoff and session_info on Horizon, through ansible-playbook.

Most tests use the shared simulator (Horizon 2512, clock 60x). The ones that need a machine action to
outlive ``wait_timeout``, or another server version, start their own Horizon simulator with a real-time
clock (``servers``).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from core import Simulator  # pylint: disable=import-error


def _sim_control_class():
    """``SimControl`` of tests/conftest.py (``conftest`` here names tests/integration/conftest.py)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'conftest.py')
    spec = importlib.util.spec_from_file_location('vdi_fleet_tests_conftest', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimControl


SimControl = _sim_control_class()

POWER = 'vdi.fleet.desktop_pool_power'
MESSAGE = 'vdi.fleet.session_message'
LOGOFF = 'vdi.fleet.session_logoff'
SESSION_INFO = 'vdi.fleet.session_info'

horizon_only = pytest.mark.parametrize('provider_name', ['horizon'])


@pytest.fixture(scope='module')
def servers(tmp_path_factory):
    """Horizon-only simulators with a real-time clock, by version (started on first use)."""
    started = {}

    def get(version):
        if version not in started:
            sim = Simulator(providers=('horizon',), fleet=12, seed=3, time_scale=1.0, tls=True, horizon_version=version,
                            state_dir=str(tmp_path_factory.mktemp('hzint%s' % version)))
            started[version] = (sim, sim.start())
        ctl = SimControl(started[version][1], 'horizon')
        ctl.reset()
        return ctl

    yield get
    for sim, _info in started.values():
        sim.stop()


def members(state: dict, pool: dict) -> list[dict]:
    return [d for d in state['desktops'] if d['pool'] == pool['id']]


def by_id(state: dict) -> dict:
    return {d['id']: d for d in state['desktops']}


def entries_by_id(result: dict, key: str = 'desktops') -> dict:
    return {e['id']: e for e in result[key]}


def no_session_pool(sim) -> dict:
    """A pool whose desktops have no session (and are all powered on), made so through the simulator."""
    state = sim.state()
    pool = state['pools'][0]
    for d in members(state, pool):
        sim.patch(d['id'], sessions=[], power='on')
    return pool


# =========================================================================== desktop_pool_power


@horizon_only
def test_restart_whole_pool_and_again(sim, run_play):
    pool = no_session_pool(sim)
    state = sim.state()
    group = members(state, pool)
    off = group[-1]
    sim.patch(off['id'], power='off')
    sim.clear_stats()
    # restarted is not a state one "is in": the same task twice restarts every powered-on desktop twice
    res = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'restarted'}),
                                       (POWER, {'pool': pool['id'], 'state': 'restarted'})])
    r, again = res['r0'], res['r1']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True and r['jobs'] == []
    assert r['summary'] == {'total': len(group), 'changed': len(group) - 1, 'unchanged': 1, 'failed': 0}
    got = entries_by_id(r)
    assert got[off['id']]['changed'] is False and 'powered_off' in got[off['id']]['msg']
    for d in group[:-1]:
        e = got[d['id']]
        assert e['msg'] == 'restart done'
        assert e['before'] == {'power_state': 'powered_on'} and e['after'] == {'power_state': 'powered_on'}
    assert not again.get('failed'), again.get('msg')
    assert again['changed'] is True and again['summary'] == r['summary']
    assert all(e['msg'] == 'restart done' for e in again['desktops'] if e['id'] != off['id'])
    stats = sim.stats()
    # one restart call for the whole pool per run, the server version read once per run, nothing else written
    assert stats['by_op']['restart_machines'] == 2 and stats['by_op']['get_environment'] == 2
    assert stats['writes'] == 2
    assert all(not d['transitioning'] and d['power'] == 'on' for d in members(sim.state(), pool) if d['id'] != off['id'])


@horizon_only
def test_restart_with_sessions_needs_logoff_or_force(sim, run_play):
    state = sim.state()
    pool = state['pools'][0]
    group = members(state, pool)
    with_session = {d['id'] for d in group if d['sessions']}
    assert with_session and len(with_session) < len(group)
    sim.clear_stats()
    res = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'restarted'}),
                                       (POWER, {'pool': pool['name'], 'state': 'restarted', 'force': True})])
    r, forced = res['r0'], res['r1']
    # Horizon 2512 refuses, per machine, a restart of a machine with sessions (no forceOperation)
    assert r['failed'] is True
    for e in r['desktops']:
        if e['id'] in with_session:
            assert e['failed'] and 'outstanding sessions' in e['msg'] and 'session_logoff' in e['msg'], e
        else:
            assert not e['failed'] and e['msg'] == 'restart done', e
    # then force: a hard reset (bare-array body) of every machine, sessions or not
    assert not forced.get('failed'), forced.get('msg')
    assert forced['summary']['changed'] == len(group)
    assert sim.stats()['by_op']['reset_machines'] == 1 and sim.stats()['by_op']['restart_machines'] == 1
    assert not any(d['sessions'] for d in members(sim.state(), pool))


@horizon_only
def test_stopped(sim, run_play):
    state = sim.state()
    pool = state['pools'][1]
    group = members(state, pool)
    already_off = group[0]
    sim.patch(already_off['id'], power='off')
    busy = next(d for d in group[1:] if d['sessions'])
    picked = [already_off['id'], busy['id']] + [d['id'] for d in group[1:] if not d['sessions']][:2]
    sim.clear_stats()
    r = run_play(sim.module_args(), [(POWER, {'desktops': picked, 'state': 'stopped', 'force': True})])['r0']
    assert not r.get('failed'), r.get('msg')
    got = entries_by_id(r)
    assert got[already_off['id']]['changed'] is False and got[already_off['id']]['msg'] == 'already powered_off'
    for i in picked[1:]:
        assert got[i]['changed'] and got[i]['after'] == {'power_state': 'powered_off'}, got[i]
    after = by_id(sim.state())
    assert all(after[i]['power'] == 'off' for i in picked)
    # forceOperation=true let the machine with a session shut down too
    assert after[busy['id']]['sessions'] == []
    assert sim.stats()['by_op']['shutdown_machines'] == 1 and sim.stats()['writes'] == 1


@horizon_only
def test_power_on_and_suspend_refused_before_any_request(sim, run_play):
    pool = sim.state()['pools'][0]
    sim.clear_stats()
    res = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'started'}),
                                       (POWER, {'desktops': [sim.state()['desktops'][0]['id']], 'state': 'hibernated'})])
    for r in (res['r0'], res['r1']):
        assert r['failed'] is True
        assert 'vmware.vmware.vm_powerstate' in r['msg'] and 'power policy' in r['msg']
    assert sim.stats()['writes'] == 0 and sim.stats()['total'] == 0


@horizon_only
def test_power_check_mode_sends_no_write(sim, run_play):
    pool = no_session_pool(sim)
    group = members(sim.state(), pool)
    sim.clear_stats()
    res = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'restarted'}),
                                       (POWER, {'pool': pool['name'], 'state': 'stopped'})], check=True, diff=True)
    for r in (res['r0'], res['r1']):
        assert not r.get('failed'), r.get('msg')
        assert r['changed'] is True and r['summary']['changed'] == len(group)
        assert all(e['msg'].startswith('would ') for e in r['desktops'])
    assert res['r1']['diff']['after'] == {d['name']: 'powered_off' for d in group}
    assert sim.stats()['writes'] == 0
    assert not any(d['transitioning'] for d in sim.state()['desktops'])


@horizon_only
def test_wait_timeout_names_desktops_still_transitioning(sim, run_play):
    state = sim.state()
    pool = state['pools'][2]
    group = members(state, pool)
    stuck = group[:2]
    for d in stuck:  # a long operation started by someone else (10 simulated hours)
        sim.patch(d['id'], transition={'kind': 'restart', 'power': 'on', 'seconds': 36000})
    r = run_play(sim.module_args(), [(POWER, {'pool': pool['name'], 'state': 'restarted', 'force': True,
                                              'wait_timeout': 2})])['r0']
    assert r['failed'] is True
    got = entries_by_id(r)
    for d in stuck:
        e = got[d['id']]
        assert e['failed'] and e['changed'] is False and e['msg'] == 'still transitioning after 2s; not acted on'
        assert d['name'] in r['msg']
    assert r['summary'] == {'total': len(group), 'changed': len(group) - 2, 'unchanged': 0, 'failed': 2}
    assert r['msg'].startswith('2 of %d desktops failed' % len(group))


@horizon_only
def test_wait_timeout_expiry_of_the_action_itself(servers, run_play, provider_name):
    """Real-time clock: a restart takes 20 to 60 s, far longer than wait_timeout=1 (Horizon 2406, array bodies)."""
    ctl = servers('2406')
    state = ctl.state()
    pool = state['pools'][0]
    group = [d for d in members(state, pool) if d['power'] == 'on']
    r = run_play(ctl.module_args(), [(POWER, {'pool': pool['name'], 'state': 'restarted', 'wait_timeout': 1})])['r0']
    assert r['failed'] is True
    got = entries_by_id(r)
    for d in group:  # before 2412 there is no forceOperation: machines with sessions restart too
        e = got[d['id']]
        assert e['changed'] and e['failed'], e
        assert e['msg'] == 'restart requested but the desktop is transitioning, not powered_on, after 1s (wait_timeout)'
    assert all(d['name'] in r['msg'] for d in group[:5])
    assert ctl.stats()['by_op']['restart_machines'] == 1
    assert all(d['transitioning'] for d in ctl.state()['desktops'] if d['id'] in got and d['power'] == 'on')


@horizon_only
def test_stopped_needs_horizon_2406(servers, run_play, provider_name):
    ctl = servers('2312')
    pool = ctl.state()['pools'][0]
    r = run_play(ctl.module_args(), [(POWER, {'pool': pool['name'], 'state': 'stopped'})])['r0']
    assert r['failed'] is True and '2406' in r['msg'] and 'vmware.vmware.vm_powerstate' in r['msg']
    assert ctl.stats()['writes'] == 0


# =========================================================================== session_message


@horizon_only
def test_message_pool_with_sessions(sim, run_play):
    state = sim.state()
    pool = state['pools'][2]
    group = members(state, pool)
    connected = {s['id'] for d in group for s in d['sessions'] if s['state'] == 'connected'}
    disconnected = {s['id'] for d in group for s in d['sessions'] if s['state'] == 'disconnected'}
    idle = [d for d in group if not d['sessions']]
    assert connected and disconnected and idle
    sim.clear_stats()
    r = run_play(sim.module_args(), [(MESSAGE, {'pool': pool['name'], 'msg': 'Patching starts at 22:00',
                                                'message_type': 'warning', 'fail_on_error': False})])['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True
    assert r['summary'] == {'total': len(group), 'sent': len(connected), 'changed': len(connected), 'skipped': len(idle),
                            'failed': len(disconnected)}
    for e in r['sessions']:
        if e['session_id'] in connected:
            assert e['sent'] and e['msg'] == 'message sent'
        elif e['session_id'] in disconnected:  # Horizon shows messages to connected sessions only
            assert e['failed'] and 'not connected' in e['msg']
        else:
            assert e['skipped'] and e['session_id'] is None and not e['changed']
    msgs = sim.state()['messages']
    assert sorted(m['session_id'] for m in msgs) == sorted(connected)
    assert {(m['text'], m['message_type']) for m in msgs} == {('Patching starts at 22:00', 'WARNING')}
    assert sim.stats()['by_op']['send_message'] == 1 and sim.stats()['writes'] == 1


@horizon_only
def test_message_pool_without_sessions_skipped(sim, run_play):
    pool = no_session_pool(sim)
    sim.clear_stats()
    r = run_play(sim.module_args(), [(MESSAGE, {'pool': pool['name'], 'msg': 'hello'})])['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is False and r['summary']['skipped'] == r['summary']['total'] > 0
    assert all(e['skipped'] for e in r['sessions'])
    assert sim.stats()['writes'] == 0 and sim.state()['messages'] == []


@horizon_only
def test_message_never_sent_twice_after_5xx(sim, run_play):
    state = sim.state()
    pool = state['pools'][0]
    connected = sorted(s['id'] for d in members(state, pool) for s in d['sessions'] if s['state'] == 'connected')
    sim.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['send_message'], 'count': 1, 'phase': 'after'}])
    try:
        r = run_play(sim.module_args(), [(MESSAGE, {'pool': pool['name'], 'msg': 'Save your work'})])['r0']
    finally:
        sim.faults([])
    assert r['failed'] is True
    sent_to = [e for e in r['sessions'] if e['session_id']]
    assert sorted(e['session_id'] for e in sent_to) == connected
    assert all(e['failed'] and not e['sent'] and 'not re-sent' in e['msg'] for e in sent_to)
    # the server applied it once; the client never sent it again
    assert sorted(m['session_id'] for m in sim.state()['messages']) == connected
    assert sim.stats()['by_op']['send_message'] == 1


@horizon_only
def test_message_check_mode_and_length(sim, run_play):
    pool = sim.state()['pools'][0]
    sim.clear_stats()
    res = run_play(sim.module_args(), [(MESSAGE, {'pool': pool['name'], 'msg': 'hello'}),
                                       (MESSAGE, {'pool': pool['name'], 'msg': 'x' * 4097})], check=True)
    r, too_long = res['r0'], res['r1']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True
    assert all(e['msg'].startswith('would send') for e in r['sessions'] if e['session_id'])
    assert too_long['failed'] and '4097' in too_long['msg'] and '4096' in too_long['msg']
    assert sim.stats()['writes'] == 0 and sim.state()['messages'] == []


# =========================================================================== session_logoff


@horizon_only
def test_logoff_pool_then_nothing_left(sim, run_play):
    state = sim.state()
    pool = state['pools'][1]
    sessions = {s['id'] for d in members(state, pool) for s in d['sessions']}
    assert sessions
    sim.clear_stats()
    res = run_play(sim.module_args(), [(LOGOFF, {'pool': pool['name'], 'force': True, 'wait': True}),
                                       (LOGOFF, {'pool': pool['name'], 'force': True})])
    r, again = res['r0'], res['r1']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True and r['summary']['logged_off'] == len(sessions)
    assert all(e['logged_off'] and e['msg'] == 'logged off' for e in r['sessions'] if e['session_id'])
    assert not any(d['sessions'] for d in members(sim.state(), pool))
    # the second run finds nothing to log off: changed false and no second write
    assert not again.get('failed'), again.get('msg')
    assert again['changed'] is False and again['summary']['skipped'] == again['summary']['total'] > 0
    assert sim.stats()['by_op']['logoff_sessions'] == 1 and sim.stats()['writes'] == 1


@horizon_only
def test_logoff_unforced_refused_for_connected(sim, run_play):
    state = sim.state()
    pool = state['pools'][2]
    group = members(state, pool)
    connected = {s['id'] for d in group for s in d['sessions'] if s['state'] == 'connected'}
    disconnected = {s['id'] for d in group for s in d['sessions'] if s['state'] == 'disconnected'}
    r = run_play(sim.module_args(), [(LOGOFF, {'pool': pool['name'], 'fail_on_error': False})])['r0']
    assert not r.get('failed'), r.get('msg')
    for e in r['sessions']:
        if e['session_id'] in connected:
            assert e['failed'] and 'locked' in e['msg']
        elif e['session_id'] in disconnected:
            assert e['changed'] and not e['failed'] and e['msg'] == 'logoff requested'
    assert set(sim.state()['horizon']['pending_logoffs']) <= disconnected


@horizon_only
def test_logoff_check_mode_and_message_refused(sim, run_play):
    pool = sim.state()['pools'][0]
    sim.clear_stats()
    res = run_play(sim.module_args(), [(LOGOFF, {'pool': pool['name'], 'force': True}),
                                       (LOGOFF, {'pool': pool['name'], 'msg': 'Bye'})], check=True)
    r, with_message = res['r0'], res['r1']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True and all(e['msg'] == 'would log off (check mode)' for e in r['sessions'] if e['session_id'])
    assert with_message['failed'] and 'session_message' in with_message['msg']
    assert sim.stats()['writes'] == 0
    assert sim.state()['horizon']['pending_logoffs'] == []


# =========================================================================== session_info


@horizon_only
def test_session_info(sim, run_play):
    state = sim.state()
    pool = state['pools'][1]
    group = members(state, pool)
    truth = {s['id']: (d, s) for d in group for s in d['sessions']}
    sim.clear_stats()
    busy = next(d for d in group if d['sessions'])
    res = run_play(sim.module_args(), [(SESSION_INFO, {'pool': pool['name']}),
                                       (SESSION_INFO, {'desktops': [busy['name']], 'include_raw': True})])
    r = res['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is False
    assert sorted(s['session_id'] for s in r['sessions']) == sorted(truth)
    for s in r['sessions']:
        d, t = truth[s['session_id']]
        assert s['desktop_id'] == d['id'] and s['desktop_name'] == d['name'] and s['pool'] == pool['id']
        assert s['state'] == t['state'] and s['user'].startswith('S-1-5-21-')
        assert s['start_time'].endswith('Z') and 'raw' not in s
    assert r['summary'] == {'total': len(truth), 'desktops': len(group),
                            'connected': sum(1 for d, s in truth.values() if s['state'] == 'connected'),
                            'disconnected': sum(1 for d, s in truth.values() if s['state'] == 'disconnected'),
                            'unknown': 0}
    one = res['r1']
    assert [s['desktop_id'] for s in one['sessions']] == [busy['id']]
    assert one['sessions'][0]['raw']['machine_id'] == busy['id']
    by_op = sim.stats()['by_op']
    # two module runs: one login, one sessions request and one logout each
    assert by_op['list_sessions'] == 2 and by_op['login'] == 2 and by_op['logout'] == 2
    assert sim.stats()['writes'] == 0
