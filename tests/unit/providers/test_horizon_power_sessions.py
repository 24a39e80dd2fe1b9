"""HorizonAdapter power and session operations against in-process Horizon simulators (2406 and 2512 servers).

What the simulator received is checked three ways: its request statistics (``by_op``, ``by_status``,
``writes``), its state (transitions, sessions, delivered messages), and the exact bodies that left the
adapter (a spy on the HTTP session), so that the body shape per server version is asserted directly.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from outcomes import texts  # pylint: disable=import-error

from conftest import SimControl  # pylint: disable=import-error
from core import Simulator  # pylint: disable=import-error
import horizon as hzsim  # pylint: disable=import-error

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers import horizon as hzmod
from ansible_collections.vdi.fleet.plugins.module_utils.providers.horizon import HorizonAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.service import Selection, ensure_power
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy

RESTART = '/rest/inventory/v1/machines/action/restart'
RESET = '/rest/inventory/v1/machines/action/reset'
SHUTDOWN = '/rest/inventory/v1/machines/action/shutdown'
SEND = '/rest/inventory/v1/sessions/action/send-message'
LOGOFF = '/rest/inventory/v1/sessions/action/logoff'
SESSIONS = '/rest/inventory/v1/sessions'


@pytest.fixture(autouse=True)
def _no_ca_bundle_env(monkeypatch):
    monkeypatch.delenv('REQUESTS_CA_BUNDLE', raising=False)
    monkeypatch.delenv('CURL_CA_BUNDLE', raising=False)


@pytest.fixture(scope='module')
def servers(tmp_path_factory):
    """Horizon simulators by version, started on first use (real-time clock: tests advance it)."""
    started = {}

    def get(version):
        if version not in started:
            sim = Simulator(providers=('horizon',), fleet=30, seed=23, time_scale=1.0, tls=True,
                            horizon_version=version, state_dir=str(tmp_path_factory.mktemp('hzps%s' % version)))
            started[version] = (sim, sim.start())
        return started[version][1]

    yield get
    for sim, _info in started.values():
        sim.stop()


@pytest.fixture
def version():
    return '2512'


@pytest.fixture
def ctl(servers, version):
    c = SimControl(servers(version), 'horizon')
    c.reset()
    return c


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)

    def __bool__(self):
        return True


@pytest.fixture
def sleeps():
    return Sleeps()


class Sent(list):
    """Every request that left an adapter: (method, path, query dict, decoded JSON body)."""

    def bodies(self, path):
        return [body for method, p, query, body in self if p == path and method == 'POST']

    def queries(self, path):
        return [query for method, p, query, body in self if p == path]


@pytest.fixture
def make(ctl, sleeps):
    made = []

    def factory(**over):
        adapter = HorizonAdapter(ctl.module_args(**over), policy=RetryPolicy(retries=3, base=0.001, cap=0.01, sleep=sleeps))
        sent = Sent()
        original = adapter.http.session.request

        def spy(method, url, data=None, **kwargs):
            parts = urlsplit(url)
            sent.append((method, parts.path, parse_qs(parts.query), json.loads(data) if data else None))
            return original(method, url, data=data, **kwargs)

        adapter.http.session.request = spy
        adapter.sent = sent
        made.append(adapter)
        return adapter

    yield factory
    for adapter in made:
        adapter.http.close()


def ops(ctl):
    return ctl.stats()['by_op']


def desktops(ctl):
    return ctl.state()['desktops']


def by_id(ctl):
    return {d['id']: d for d in desktops(ctl)}


def idle_on(d):
    return d['power'] == 'on' and not d['sessions'] and not d['transitioning']


def busy(d):
    return d['power'] == 'on' and any(s['state'] == 'connected' for s in d['sessions'])


def pick(ctl, pred, n=1):
    found = [d for d in desktops(ctl) if pred(d)]
    assert len(found) >= n
    return found[:n]


def sessions_of(ctl, state=None):
    return [(d, s) for d in desktops(ctl) for s in d['sessions'] if state is None or s['state'] == state]


# =========================================================================== power


@pytest.mark.parametrize('version', ['2406', '2512'])
def test_restart_body_shape_follows_server_version(ctl, make, version):
    idle, = pick(ctl, idle_on)
    loaded, = pick(ctl, busy)
    adapter = make()
    failures, jobs = adapter.power([idle['id'], loaded['id'], idle['id']], 'restart')
    failures = texts(failures)
    assert jobs == []
    assert adapter.sent.bodies(RESTART) == (
        [[idle['id'], loaded['id']]] if version == '2406'
        else [{'machineIds': [idle['id'], loaded['id']], 'forceOperation': False}])
    assert ops(ctl) == {'login': 1, 'get_environment': 1, 'restart_machines': 1}
    assert ctl.stats()['by_status'] == {'200': 3}  # the server took the body as it came
    state = by_id(ctl)
    assert state[idle['id']]['transition']['kind'] == 'restart'
    if version == '2406':
        # no forceOperation before 2412: the machine with a session is restarted too
        assert failures == {}
        assert state[loaded['id']]['transition']['kind'] == 'restart'
    else:
        # from 2412 a machine with sessions is refused without forceOperation, per id, with a way out
        assert list(failures) == [loaded['id']]
        assert 'inventory.machine.sessions.outstanding' in failures[loaded['id']]
        assert 'session_logoff' in failures[loaded['id']] and 'force' in failures[loaded['id']]
        assert state[loaded['id']]['transition'] is None and state[loaded['id']]['sessions']
    ctl.advance(hzsim.RESTART_SECONDS[1] + 1)
    after = {d['id']: d for d in adapter.list_desktops(desktop_ids=[idle['id'], loaded['id']])}
    assert after[idle['id']]['power_state'] == 'powered_on'


@pytest.mark.parametrize('version', ['2406', '2512'])
def test_force_restart_is_reset_with_array_body(ctl, make, version):
    machines = pick(ctl, busy, 2)
    ids = [d['id'] for d in machines]
    adapter = make()
    failures, jobs = adapter.power(ids, 'restart', force=True)
    failures = texts(failures)
    assert (failures, jobs) == ({}, [])
    assert adapter.sent.bodies(RESET) == [ids] and adapter.sent.bodies(RESTART) == []
    assert ops(ctl)['reset_machines'] == 1 and ctl.stats()['writes'] == 1
    state = by_id(ctl)
    for i in ids:
        assert state[i]['transition']['kind'] == 'reset' and state[i]['sessions'] == []
    listed = {d['id']: d for d in adapter.list_desktops(desktop_ids=ids)}
    assert all(listed[i]['power_state'] == 'transitioning' for i in ids)


@pytest.mark.parametrize('version,force', [('2406', False), ('2512', False), ('2512', True)])
def test_shutdown(ctl, make, version, force):
    idle, = pick(ctl, idle_on)
    loaded, = pick(ctl, busy)
    adapter = make()
    failures, jobs = adapter.power([idle['id'], loaded['id']], 'stop', force=force)
    failures = texts(failures)
    assert jobs == []
    body = adapter.sent.bodies(SHUTDOWN)
    if version == '2406':
        assert body == [[idle['id'], loaded['id']]]
    else:
        assert body == [{'machineIds': [idle['id'], loaded['id']], 'forceOperation': force}]
    assert ops(ctl)['shutdown_machines'] == 1
    refused = version == '2512' and not force
    assert list(failures) == ([loaded['id']] if refused else [])
    ctl.advance(hzsim.SHUTDOWN_SECONDS[1] + 1)
    state = by_id(ctl)
    assert state[idle['id']]['power'] == 'off'
    assert state[loaded['id']]['power'] == ('on' if refused else 'off')


def test_shutdown_before_2406_refused_before_any_write(servers):
    c = SimControl(servers('2312'), 'horizon')
    c.reset()
    adapter = HorizonAdapter(c.module_args(), policy=RetryPolicy(retries=1, base=0.001, cap=0.01))
    try:
        ids = [d['id'] for d in c.state()['desktops'] if idle_on(d)][:3]
        with pytest.raises(ConfigError) as exc:
            adapter.power(ids, 'stop')
        assert '2406' in str(exc.value) and 'vmware.vmware.vm_powerstate' in str(exc.value)
        assert c.stats()['writes'] == 0 and ops(c) == {'login': 1, 'get_environment': 1}
        # restart still works there, with the array body
        assert adapter.power(ids[:1], 'restart') == ({}, [])
        assert ops(c)['restart_machines'] == 1
    finally:
        adapter.http.close()


def test_per_id_refusals(ctl, make):
    good = [d['id'] for d in pick(ctl, idle_on, 4)]
    off = ctl.patch(good.pop(), power='off')
    unknown = '11111111-2222-4333-8444-555555555555'
    ctl.faults([{'kind': 'perid', 'ids': [good[1]], 'ops': ['restart_machines']}])
    failures, jobs = make().power(good + [off['id'], unknown], 'restart')
    failures = texts(failures)
    assert jobs == []
    assert set(failures) == {good[1], off['id'], unknown}
    assert hzsim.PERID_FAULT[1] in failures[good[1]]
    assert 'inventory.machine.power.state.invalid' in failures[off['id']]
    assert 'HTTP 404' in failures[unknown]
    assert ops(ctl)['restart_machines'] == 1
    state = by_id(ctl)
    assert [state[i]['transitioning'] for i in good] == [True, False, True]


def test_batches_of_action_batch_size(ctl, make):
    ids = [d['id'] for d in desktops(ctl) if idle_on(d)]
    assert len(ids) >= 7
    adapter = make()
    adapter.action_batch_size = 3
    failures, _jobs = adapter.power(ids, 'restart')
    failures = texts(failures)
    assert failures == {}
    assert ops(ctl)['restart_machines'] == -(-len(ids) // 3)
    assert [b['machineIds'] for b in adapter.sent.bodies(RESTART)] == [ids[i:i + 3] for i in range(0, len(ids), 3)]


@pytest.mark.parametrize('phase', ['after', 'before'])
def test_5xx_on_restart_never_resent(ctl, make, phase):
    ids = [d['id'] for d in pick(ctl, idle_on, 3)]
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['restart_machines'], 'count': 1, 'phase': phase}])
    failures, _jobs = make().power(ids, 'restart')
    failures = texts(failures)
    assert set(failures) == set(ids)
    assert all('HTTP 500' in m and 'not re-sent' in m for m in failures.values())
    assert ops(ctl)['restart_machines'] == 1
    state = by_id(ctl)
    assert [state[i]['transitioning'] for i in ids] == [phase == 'after'] * 3


def test_unknown_version_tries_object_then_array(monkeypatch, servers):
    c = SimControl(servers('2406'), 'horizon')
    c.reset()
    adapter = HorizonAdapter(c.module_args(), policy=RetryPolicy(retries=1, base=0.001, cap=0.01))
    monkeypatch.setattr(adapter, 'server_version', lambda: {'version': None, 'build': None, 'version_tuple': (),
                                                            'release': None})
    try:
        mid = next(d['id'] for d in c.state()['desktops'] if idle_on(d))
        assert adapter.power([mid], 'restart') == ({}, [])
        assert ops(c)['restart_machines'] == 2 and c.stats()['by_status']['400'] == 1
        assert next(d for d in c.state()['desktops'] if d['id'] == mid)['transition']['kind'] == 'restart'
    finally:
        adapter.http.close()


def test_unsupported_power_states_fail_before_any_request(ctl, make):
    adapter = make()
    for state in ('powered_on', 'suspended'):
        reason = adapter.unsupported_power[state]
        assert 'vmware.vmware.vm_powerstate' in reason and 'power policy' in reason
    assert 'restarted' not in adapter.unsupported_power and 'powered_off' not in adapter.unsupported_power
    ids = [desktops(ctl)[0]['id']]
    for action in ('start', 'hibernate', 'wakeup'):
        with pytest.raises(ConfigError):
            adapter.power(ids, action)
    selection = Selection([], [], {})
    with pytest.raises(ConfigError) as exc:
        ensure_power(adapter, selection, 'started')
    assert 'power-on' in str(exc.value)
    with pytest.raises(NotImplementedError):
        adapter.get_job('x')
    assert ops(ctl) == {}


def test_empty_power_sends_nothing(ctl, make):
    assert make().power([], 'restart') == ({}, [])
    assert ops(ctl) == {}


# =========================================================================== sessions listing


def test_list_sessions_normalized_one_request(ctl, make):
    adapter = make()
    found = adapter.list_desktops()
    ctl.clear_stats()
    got = adapter.list_sessions(found)
    assert ops(ctl) == {'list_sessions': 1}
    expected = sessions_of(ctl)
    assert [s['session_id'] for s in got] == [s['id'] for d, s in expected]
    for rec, (d, s) in zip(got, expected):
        assert rec['desktop_id'] == d['id'] and rec['desktop_name'] == d['name'] and rec['pool'] == d['pool']
        assert rec['state'] == s['state']
        assert rec['start_time'] == time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(int(s['start_time'] * 1000) / 1000))
        assert rec['user'].startswith('S-1-5-21-') and rec['user'] == rec['user_id'] == rec['raw']['user_id']
    # at most 40 machines per filter, and never a second page for them
    query = adapter.sent.queries(SESSIONS)[0]
    assert query['size'] == ['1000'] and json.loads(query['filter'][0])['type'] == 'Or'


def test_list_sessions_subset_only_given_machines(ctl, make):
    adapter = make()
    found = adapter.list_desktops()
    with_session = [d for d in found if d['sessions']][:3]
    got = adapter.list_sessions(with_session + [d for d in found if not d['sessions']][:2])
    assert sorted(s['desktop_id'] for s in got) == sorted(d['id'] for d in with_session)
    assert adapter.list_sessions([]) == []


def test_list_sessions_by_pool_when_cheaper(ctl, make):
    ctl.reset(fleet=300)  # 3 pools of 100
    pool = ctl.state()['pools'][0]['id']
    adapter = make()
    members = adapter.list_desktops(pool_ids=[pool])
    assert len(members) == 100
    ctl.clear_stats()
    got = adapter.list_sessions(members)
    # by machine it would take 3 requests (40 ids per filter); by pool 1
    assert ops(ctl) == {'list_sessions': 1}
    assert json.loads(adapter.sent.queries(SESSIONS)[-1]['filter'][0]) == {
        'type': 'Equals', 'name': 'desktop_pool_id', 'value': pool}
    assert sorted(s['session_id'] for s in got) == sorted(s['id'] for d, s in sessions_of(ctl) if d['pool'] == pool)
    # a subset of the pool: the pool filter still costs one page; only the given machines are kept
    ctl.clear_stats()
    part = members[:60]
    got = adapter.list_sessions(part)
    assert ops(ctl) == {'list_sessions': 1}
    assert {s['desktop_id'] for s in got} == {d['id'] for d in part if d['sessions']}


def test_list_sessions_by_machine_when_pools_are_big(ctl, make):
    ctl.reset(fleet=3000)  # 10 pools of 300: by pool, 3 pages; 45 machines by id, 2 requests
    adapter = make()
    everything = adapter.list_desktops()
    picked = everything[::67][:45]
    ctl.clear_stats()
    got = adapter.list_sessions(picked)
    assert ops(ctl) == {'list_sessions': 2}
    assert {s['desktop_id'] for s in got} == {d['id'] for d in picked if d['sessions']}


def test_list_sessions_pages_to_the_end(ctl, make):
    ctl.reset(fleet=2500)  # about 1375 sessions in 10 pools
    adapter = make()
    everything = adapter.list_desktops()
    ctl.clear_stats()
    got = adapter.list_sessions(everything)
    total = len(sessions_of(ctl))
    assert total > 1000 and len(got) == total and len({s['session_id'] for s in got}) == total
    assert ops(ctl) == {'list_sessions': -(-total // 1000)}
    assert ctl.stats()['by_status'] == {'200': -(-total // 1000)}  # never a page past the end


def test_session_user_name_when_the_record_has_one(make):
    adapter = make()
    rec = adapter._session({'id': 's1', 'machine_id': 'm1', 'user_id': 'S-1-5-21-1', 'user_name': 'jdoe',  # pylint: disable=protected-access
                            'domain_name': 'EXAMPLE', 'session_state': 'PENDING', 'start_time': 0},
                           {'id': 'm1', 'name': 'hzn-0001', 'pool': 'p1'})
    assert rec['user'] == 'EXAMPLE\\jdoe' and rec['user_id'] == 'S-1-5-21-1'
    assert rec['state'] == 'unknown' and rec['start_time'] == '1970-01-01T00:00:00Z' and rec['pool'] == 'p1'


# =========================================================================== messages


def listed_sessions(adapter):
    return adapter.list_sessions(adapter.list_desktops())


def test_send_message_all_sessions_in_one_call(ctl, make):
    adapter = make()
    sessions = listed_sessions(adapter)
    connected = [s for s in sessions if s['state'] == 'connected']
    disconnected = [s for s in sessions if s['state'] == 'disconnected']
    assert len(connected) > 5 and disconnected
    ctl.clear_stats()
    outcome = adapter.send_message(sessions, 'Patching at 22:00', message_type='warning', title='ignored')
    outcome = texts(outcome)
    assert ops(ctl) == {'send_message': 1}
    body, = adapter.sent.bodies(SEND)
    assert body == {'message': 'Patching at 22:00', 'message_type': 'WARNING',
                    'session_ids': [s['session_id'] for s in sessions]}
    assert set(outcome) == {s['session_id'] for s in sessions}
    assert all(outcome[s['session_id']] is None for s in connected)
    # the simulator refuses disconnected sessions per id; each gets its own reason
    assert all('inventory.session.not.connected' in outcome[s['session_id']] for s in disconnected)
    msgs = ctl.state()['messages']
    assert sorted(m['session_id'] for m in msgs) == sorted(s['session_id'] for s in connected)
    assert {(m['text'], m['message_type']) for m in msgs} == {('Patching at 22:00', 'WARNING')}


def test_send_message_per_id_failures(ctl, make):
    adapter = make()
    connected = [s for s in listed_sessions(adapter) if s['state'] == 'connected'][:4]
    ghost = dict(connected[0], session_id='no-such-session')
    ctl.faults([{'kind': 'perid', 'ids': [connected[2]['session_id']], 'ops': ['send_message']}])
    outcome = adapter.send_message(connected + [ghost], 'hello', message_type='error')
    outcome = texts(outcome)
    assert [outcome[s['session_id']] is None for s in connected] == [True, True, False, True]
    assert hzsim.PERID_FAULT[1] in outcome[connected[2]['session_id']]
    assert 'HTTP 404' in outcome['no-such-session']
    assert ops(ctl)['send_message'] == 1
    assert sorted(m['session_id'] for m in ctl.state()['messages']) == sorted(
        s['session_id'] for n, s in enumerate(connected) if n != 2)


@pytest.mark.parametrize('kind,phase', [('5xx', 'after'), ('5xx', 'before'), ('drop', 'after')])
def test_send_message_failure_never_resent(ctl, make, kind, phase):
    adapter = make()
    connected = [s for s in listed_sessions(adapter) if s['state'] == 'connected']
    ctl.clear_stats()
    ctl.faults([{'kind': kind, 'rate': 1.0, 'ops': ['send_message'], 'count': 1, 'phase': phase}])
    outcome = adapter.send_message(connected, 'Save your work', message_type='info')
    outcome = texts(outcome)
    assert set(outcome) == {s['session_id'] for s in connected}
    assert all(msg and 'not re-sent' in msg for msg in outcome.values())
    assert ops(ctl) == {'send_message': 1} and ctl.stats()['writes'] == 1
    msgs = ctl.state()['messages']
    if phase == 'after':
        # applied by the server, answer lost: every user got it exactly once
        assert sorted(m['session_id'] for m in msgs) == sorted(s['session_id'] for s in connected)
    else:
        assert msgs == []


def test_send_message_throttled_then_delivered_once(ctl, make, sleeps):
    adapter = make()
    connected = [s for s in listed_sessions(adapter) if s['state'] == 'connected']
    ctl.clear_stats()
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['send_message'], 'count': 2, 'retry_after': 0.05}])
    outcome = adapter.send_message(connected, 'hello')
    outcome = texts(outcome)
    assert all(v is None for v in outcome.values())
    assert ops(ctl) == {'send_message': 3} and ctl.stats()['faults'] == {'throttle': 2}
    assert len(sleeps) == 2 and all(s >= 0.05 for s in sleeps)
    msgs = ctl.state()['messages']
    assert sorted(m['session_id'] for m in msgs) == sorted(s['session_id'] for s in connected)


def test_send_message_throttled_past_the_retries_fails_its_sessions(ctl, make):
    adapter = make()
    connected = [s for s in listed_sessions(adapter) if s['state'] == 'connected']
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['send_message'], 'retry_after': 0.01}])
    outcome = adapter.send_message(connected, 'hello')
    outcome = texts(outcome)
    assert all('HTTP 429' in v and 'common.api-throttle-limit.exceeded.error' in v for v in outcome.values())
    assert ctl.state()['messages'] == []
    assert ops(ctl)['send_message'] == 4  # first try + 3 retries, all answered 429 (nothing applied)


def test_send_message_refused_as_a_whole(ctl, make):
    adapter = make()
    connected = [s for s in listed_sessions(adapter) if s['state'] == 'connected'][:3]
    outcome = adapter.send_message(connected, '')  # the server refuses an empty message (HTTP 400)
    outcome = texts(outcome)
    assert all('HTTP 400' in v and 'message is mandatory' in v for v in outcome.values())
    assert all('not re-sent' not in v for v in outcome.values())
    assert ops(ctl)['send_message'] == 1 and ctl.state()['messages'] == []


def test_send_message_chunks_of_1000(ctl, make):
    ctl.reset(fleet=2500)
    adapter = make()
    connected = [s for s in listed_sessions(adapter) if s['state'] == 'connected']
    assert len(connected) > 1000
    ctl.clear_stats()
    outcome = adapter.send_message(connected, 'hello')
    outcome = texts(outcome)
    assert all(v is None for v in outcome.values())
    assert ops(ctl) == {'send_message': -(-len(connected) // hzmod.SESSION_BATCH)}
    assert [len(b['session_ids']) for b in adapter.sent.bodies(SEND)] == [1000, len(connected) - 1000]
    assert len(ctl.state()['messages']) == len(connected)


def test_message_limit_and_bad_type(ctl, make):
    adapter = make()
    assert adapter.message_limit == hzmod.MESSAGE_LIMIT == 4096
    with pytest.raises(ConfigError):
        adapter.send_message([{'session_id': 'x'}], 'hi', message_type='notice')
    assert adapter.send_message([], 'hi') == {}
    assert ops(ctl) == {}


# =========================================================================== logoff


def test_logoff_unforced_and_forced(ctl, make):
    adapter = make()
    sessions = listed_sessions(adapter)
    connected = [s for s in sessions if s['state'] == 'connected'][:3]
    disconnected = [s for s in sessions if s['state'] == 'disconnected'][:2]
    ctl.clear_stats()
    outcome = adapter.logoff(connected + disconnected, force=False)
    outcome = texts(outcome)
    assert adapter.sent.queries(LOGOFF) == [{'forced': ['false']}]
    assert adapter.sent.bodies(LOGOFF) == [[s['session_id'] for s in connected + disconnected]]
    # a normal logoff is refused per id for sessions that may be locked (connected ones in the simulator)
    assert all('inventory.session.locked' in outcome[s['session_id']] for s in connected)
    assert all(outcome[s['session_id']] is None for s in disconnected)
    outcome = adapter.logoff(connected, force=True)
    outcome = texts(outcome)
    assert adapter.sent.queries(LOGOFF)[-1] == {'forced': ['true']}
    assert all(v is None for v in outcome.values())
    assert ops(ctl) == {'logoff_sessions': 2}
    ctl.advance(hzsim.LOGOFF_SECONDS + 1)
    left = {s['id'] for d, s in sessions_of(ctl)}
    assert not left & {s['session_id'] for s in connected + disconnected}


def test_logoff_per_id_and_5xx(ctl, make):
    adapter = make()
    connected = [s for s in listed_sessions(adapter) if s['state'] == 'connected'][:3]
    ctl.faults([{'kind': 'perid', 'ids': [connected[0]['session_id']], 'ops': ['logoff_sessions']}])
    outcome = adapter.logoff(connected, force=True)
    outcome = texts(outcome)
    assert [outcome[s['session_id']] is None for s in connected] == [False, True, True]
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['logoff_sessions'], 'count': 1, 'phase': 'after'}])
    outcome = adapter.logoff(connected[:1], force=True)
    outcome = texts(outcome)
    assert 'not re-sent' in outcome[connected[0]['session_id']]
    assert ops(ctl)['logoff_sessions'] == 2


def test_logoff_message_refused_before_any_request(ctl, make):
    adapter = make()
    adapter.check_logoff_options(force=True, message=None)
    with pytest.raises(ConfigError) as exc:
        adapter.check_logoff_options(force=False, message='Bye')
    assert 'session_message' in str(exc.value)
    with pytest.raises(ConfigError):
        adapter.logoff([{'session_id': 'x'}], message='Bye')
    assert ops(ctl) == {}
