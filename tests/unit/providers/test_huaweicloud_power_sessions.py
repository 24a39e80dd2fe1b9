"""HuaweiAdapter pool notifications, never-twice sends, logoff notices and the IAM password path (simulator).

test_huaweicloud_adapter.py covers listing, maintenance, per-desktop power/notifications and AK/SK auth; this
file covers what it does not: ``options['whole_pool']`` (SendDesktopPoolNotifications), failures after a send
may have reached the server, unreadable or unfinished jobs, and the ``huaweicloud_password`` ready block.
"""

from __future__ import annotations

from collections import Counter

import pytest

from outcomes import texts  # pylint: disable=import-error
from sim_helpers import controlled, running, sim_poller  # pylint: disable=import-error

from conftest import SimControl

import huaweicloud as H  # the simulator module (tests/simulator is on sys.path)

from ansible_collections.vdi.fleet.plugins.module_utils import service
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers import huaweicloud as adapter_mod
from ansible_collections.vdi.fleet.plugins.module_utils.providers.huaweicloud import HuaweiAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy

POOL_NOTIFY = 'send_desktop_pool_notifications'
NOTIFY = 'send_notifications'


@pytest.fixture(scope='module')
def hw_simulator(tmp_path_factory):
    with running(tmp_path_factory, 'huaweicloud', 29, 'hwsim-power-sessions') as simulator:
        yield simulator


@pytest.fixture
def ctl(hw_simulator, monkeypatch):
    with controlled(hw_simulator, 'huaweicloud', monkeypatch) as c:
        yield c


def make(args, ctl):
    args = dict((k, v) for k, v in args.items() if v is not None)
    a = HuaweiAdapter(args, policy=RetryPolicy(retries=4, base=0.01, cap=0.05))
    a.throttle_wait = 0.01
    a.poller_factory = sim_poller(ctl.sim)
    return a


@pytest.fixture
def adapter(ctl):
    a = make(ctl.module_args(), ctl)
    yield a
    a.close()


def ops(ctl):
    return ctl.stats()['by_op']


def pool_fixture(ctl, index=0):
    """A pool with known shape: every member on with one connected session, except one running desktop
    without a session and one powered-off desktop. Returns (pool record from the state, members, idle, off)."""
    st = ctl.state()
    pool = st['pools'][index]
    members = [d for d in st['desktops'] if d['pool'] == pool['id']]
    for d in members:
        ctl.patch(d['id'], power='on', sessions=[{'user': d['name'] + '-user', 'state': 'connected'}])
    idle, off = members[1]['id'], members[2]['id']
    ctl.patch(idle, sessions=[])
    ctl.patch(off, power='off', sessions=[])
    ctl.clear_stats()
    return pool, [d['id'] for d in members], idle, off


def pool_sessions(adapter, pool_id):
    desks = adapter.list_desktops(pool_ids=[pool_id])
    return adapter.list_sessions(desks)


def deliveries(ctl):
    return Counter(m['session_id'] for m in ctl.state()['messages'])


# --------------------------------------------------------------------------- limits and options


def test_message_limit_matches_the_simulator_and_logoff_takes_a_message(adapter):
    assert adapter.message_limit == H.NOTIFICATION_MAX_LENGTH == adapter_mod.MESSAGE_LIMIT
    adapter.check_logoff_options(message='Patching in 5 minutes')
    adapter.check_logoff_options(message='x' * adapter.message_limit)
    adapter.check_logoff_options(force=True)
    with pytest.raises(ConfigError) as exc:
        adapter.check_logoff_options(message='x' * (adapter.message_limit + 1))
    assert str(adapter.message_limit) in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        adapter.check_logoff_options(message='   ')
    assert 'empty' in str(exc.value)


# --------------------------------------------------------------------------- pool notifications


def test_whole_pool_uses_one_pool_notification(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    sessions = pool_sessions(adapter, pool['id'])
    assert sorted(s['desktop_id'] for s in sessions) == sorted(set(members) - {idle, off})
    ctl.clear_stats()
    outcome = adapter.send_message(sessions, 'Patching at 22:00', options={'whole_pool': {'id': pool['id'],
                                                                                          'name': pool['name']}})
    assert outcome == dict((s['session_id'], None) for s in sessions)
    by_op = ops(ctl)
    assert by_op[POOL_NOTIFY] == 1 and NOTIFY not in by_op and by_op['show_job'] >= 1
    assert set(by_op) == {POOL_NOTIFY, 'show_job'}
    got = deliveries(ctl)
    sim_sessions = [s['id'] for d in ctl.state()['desktops'] if d['pool'] == pool['id'] for s in d['sessions']]
    assert sorted(got) == sorted(sim_sessions) and set(got.values()) == {1}
    assert {m['text'] for m in ctl.state()['messages']} == {'Patching at 22:00'}
    # the powered-off desktop's sub-job failed (not running) but it had no session: nobody is reported failed
    jobs = ctl.sim.providers['huaweicloud'].jobs
    assert any(sub['desktop_id'] == off and sub['result'] == H.SUB_JOB_FAILED for j in jobs.values()
               for sub in j['sub_jobs'])


def test_pool_sub_job_failure_fails_only_that_desktops_sessions(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    bad = members[3]
    ctl.patch(bad, sessions=[{'user': 'alice', 'state': 'connected'}, {'user': 'bob', 'state': 'disconnected'}])
    sessions = pool_sessions(adapter, pool['id'])
    ctl.faults([{'kind': 'perid', 'ids': [bad], 'ops': [POOL_NOTIFY]}])
    ctl.clear_stats()
    outcome = adapter.send_message(sessions, 'hello', options={'whole_pool': {'id': pool['id'], 'name': pool['name']}})
    outcome = texts(outcome)
    failed = dict((sid, err) for sid, err in outcome.items() if err)
    assert [s['desktop_id'] for s in sessions if s['session_id'] in failed] == [bad]
    assert H.ACTION_FAULT in failed[next(s['session_id'] for s in sessions if s['desktop_id'] == bad)]
    assert ops(ctl)[POOL_NOTIFY] == 1 and NOTIFY not in ops(ctl)
    got = deliveries(ctl)
    assert bad not in {m['desktop_id'] for m in ctl.state()['messages']} and set(got.values()) == {1}


def test_pool_notification_5xx_after_is_failed_and_never_resent(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    sessions = pool_sessions(adapter, pool['id'])
    ctl.faults([{'kind': '5xx', 'rate': 1, 'ops': [POOL_NOTIFY], 'count': 1, 'phase': 'after'}])
    ctl.clear_stats()
    outcome = adapter.send_message(sessions, 'once only', options={'whole_pool': {'id': pool['id'], 'name': pool['name']}})
    outcome = texts(outcome)
    assert set(outcome) == set(s['session_id'] for s in sessions)
    assert all(err and 'HTTP 500' in err and H.SERVER_ERROR[1] in err for err in outcome.values())
    assert ops(ctl) == {POOL_NOTIFY: 1}  # no retry, no fallback to the per-desktop call, no job to follow
    ctl.sim.clock.advance(120)  # the job the server did create runs to its end
    ctl.state()
    got = deliveries(ctl)
    assert got and max(got.values()) == 1  # at most one delivery per session, despite the error answer


def test_pool_notification_lost_answer_is_failed_and_never_resent(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    sessions = pool_sessions(adapter, pool['id'])
    ctl.faults([{'kind': 'drop', 'rate': 1, 'ops': [POOL_NOTIFY], 'count': 1, 'phase': 'after'}])
    ctl.clear_stats()
    outcome = adapter.send_message(sessions, 'once only', options={'whole_pool': {'id': pool['id'], 'name': pool['name']}})
    outcome = texts(outcome)
    assert all(err and 'lost' in err for err in outcome.values())
    assert ops(ctl) == {POOL_NOTIFY: 1}
    ctl.sim.clock.advance(120)
    assert max(deliveries(ctl).values()) == 1


def test_throttled_pool_notification_is_retried_and_delivered_once(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    sessions = pool_sessions(adapter, pool['id'])
    ctl.faults([{'kind': 'throttle', 'ops': [POOL_NOTIFY], 'count': 2, 'retry_after': 0.01}])
    ctl.clear_stats()
    outcome = adapter.send_message(sessions, 'hi', options={'whole_pool': {'id': pool['id'], 'name': pool['name']}})
    outcome = texts(outcome)
    assert all(err is None for err in outcome.values())
    assert ops(ctl)[POOL_NOTIFY] == 3 and ctl.stats()['faults'] == {'throttle': 2}
    got = deliveries(ctl)
    assert len(got) == len(sessions) and set(got.values()) == {1}


def test_pool_call_refused_before_applying_falls_back_to_desktop_calls(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    sessions = pool_sessions(adapter, pool['id'])
    ghost = dict(pool_id='00000000-0000-4000-8000-0000000000aa')
    for s in sessions:
        s['pool'] = ghost['pool_id']  # the pool vanished between the listing and the send
    ctl.clear_stats()
    outcome = adapter.send_message(sessions, 'hi', options={'whole_pool': {'id': ghost['pool_id'], 'name': 'gone'}})
    outcome = texts(outcome)
    assert all(err is None for err in outcome.values())
    assert ops(ctl)[POOL_NOTIFY] == 1 and ops(ctl)[NOTIFY] == 1  # 400 WKS.0001: nothing applied, desktops call
    got = deliveries(ctl)
    assert len(got) == len(sessions) and set(got.values()) == {1}


def test_sessions_outside_the_pool_go_through_the_desktop_call(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    sessions = pool_sessions(adapter, pool['id'])
    other = [d for d in ctl.state()['desktops'] if d['pool'] != pool['id'] and d['power'] == 'on']
    ctl.patch(other[0]['id'], sessions=[{'user': 'carol', 'state': 'connected'}])
    extra = adapter.list_sessions(adapter.list_desktops(desktop_ids=[other[0]['id']]))
    ctl.clear_stats()
    outcome = adapter.send_message(sessions + extra, 'hi', options={'whole_pool': {'id': pool['id'], 'name': pool['name']}})
    outcome = texts(outcome)
    assert all(err is None for err in outcome.values()) and len(outcome) == len(sessions) + 1
    assert ops(ctl)[POOL_NOTIFY] == 1 and ops(ctl)[NOTIFY] == 1
    log = [e for e in ctl.stats(log=True)['log'] if e['write']]
    assert len(log) == 2
    assert [m['user'] for m in ctl.state()['messages'] if m['desktop_id'] == other[0]['id']] == ['carol']


def test_service_passes_the_whole_pool(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    targets, entries, whole = service.target_sessions(adapter, pool=pool['name'])
    assert whole and whole['id'] == pool['id']
    assert sorted(e['desktop_id'] for e in entries if e['skipped']) == sorted([idle, off])
    ctl.clear_stats()
    sent = service.send_messages(adapter, targets, 'maintenance tonight', whole_pool=whole)
    assert all(e['sent'] and not e['failed'] for e in sent) and len(sent) == len(members) - 2
    assert ops(ctl)[POOL_NOTIFY] == 1 and NOTIFY not in ops(ctl)
    # a selection of some desktops of the pool is not a whole pool: the per-desktop call
    targets, entries, whole = service.target_sessions(adapter, desktops=members[:5])
    assert whole is None
    ctl.clear_stats()
    sent = service.send_messages(adapter, targets, 'again', whole_pool=whole)
    assert ops(ctl)[NOTIFY] == 1 and POOL_NOTIFY not in ops(ctl)


# --------------------------------------------------------------------------- jobs that cannot be confirmed


def test_unreadable_job_marks_its_sessions_not_confirmed_without_resending(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    sessions = pool_sessions(adapter, pool['id'])
    ctl.faults([{'kind': '5xx', 'rate': 1, 'ops': ['show_job']}])
    ctl.clear_stats()
    outcome = adapter.send_message(sessions, 'hi', options={'whole_pool': {'id': pool['id'], 'name': pool['name']}})
    outcome = texts(outcome)
    assert all(err and 'could not be read' in err and 'not confirmed' in err for err in outcome.values())
    # the read is a safe call: asked again on every poll until the timeout; the send is never repeated
    assert ops(ctl)[POOL_NOTIFY] == 1 and ops(ctl)['show_job'] > 5


def test_job_still_running_after_the_timeout(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    sessions = pool_sessions(adapter, pool['id'])
    adapter.message_timeout = 1  # simulated seconds; the job waits JOB_QUEUE_SECONDS before running
    outcome = adapter.send_message(sessions, 'hi', options={'whole_pool': {'id': pool['id'], 'name': pool['name']}})
    outcome = texts(outcome)
    assert all(err and 'still running after 1s' in err for err in outcome.values())
    assert ops(ctl)[POOL_NOTIFY] == 1


# --------------------------------------------------------------------------- logoff


def test_logoff_5xx_after_is_failed_and_the_notice_shown_once(ctl, adapter):
    pool, members, idle, off = pool_fixture(ctl)
    sessions = pool_sessions(adapter, pool['id'])
    ctl.faults([{'kind': '5xx', 'rate': 1, 'ops': ['batch_logoff_desktops'], 'count': 1, 'phase': 'after'}])
    ctl.clear_stats()
    outcome = adapter.logoff(sessions, message='Logging you off for patching')
    outcome = texts(outcome)
    assert all(err and 'HTTP 500' in err for err in outcome.values())
    assert ops(ctl) == {'batch_logoff_desktops': 1}
    got = deliveries(ctl)
    assert len(got) == len(sessions) and set(got.values()) == {1}
    assert {m['message_type'] for m in ctl.state()['messages']} == {'logoff'}
    ctl.sim.clock.advance(H.LOGOFF_SECONDS + 1)
    assert pool_sessions(adapter, pool['id']) == []


# --------------------------------------------------------------------------- IAM password credentials


def test_password_ready_block_runs_power_and_messages(ctl):
    sim, info = ctl.sim, ctl.info
    assert {'huaweicloud_password', 'huaweicloud_sts'} <= set(info)
    pw = SimControl(info, 'huaweicloud_password')
    args = pw.module_args()
    assert args['provider'] == 'huaweicloud' and args['username'] == H.IAM_USER and 'access_key' not in args
    a = make(args, ctl)
    assert a.auth_mode == 'password'
    try:
        pool, members, idle, off = pool_fixture(ctl)
        ctl.patch(off, power='on')
        selection = service.select(a, pool=pool['name'])
        entries, jobs = service.ensure_power(a, selection, 'stopped', force=True, poller_factory=sim_poller(ctl.sim))
        assert not any(e['failed'] for e in entries), entries
        assert [j['scope'] for j in jobs] == ['pool'] and jobs[0]['status'] == 'success'
        assert all(d['power'] == 'off' for d in ctl.state()['desktops'] if d['pool'] == pool['id'])
        by_op = ops(ctl)
        assert by_op['keystone_create_user_token_by_password'] == 1 and by_op['execute_desktop_pool_action'] == 1
        assert 'batch_run_desktops' not in by_op
        assert a.project_id == ctl.conn['project_id']
        # messages and logoff with the same token
        ctl.patch(members[0], power='on', sessions=[{'user': 'dave', 'state': 'connected'}])
        sessions = a.list_sessions(a.list_desktops(desktop_ids=[members[0]]))
        assert a.send_message(sessions, 'hello') == {sessions[0]['session_id']: None}
        assert a.logoff(sessions, message='bye') == {sessions[0]['session_id']: None}
        assert ops(ctl)['keystone_create_user_token_by_password'] == 1
        assert [m['message_type'] for m in ctl.state()['messages']] == ['notification', 'logoff']
        assert ctl.stats()['by_status'].get('401') is None
    finally:
        a.close()
    assert sim.providers['huaweicloud'].tokens  # the simulated IAM issued the token used above
