"""HuaweiAdapter against the Huawei Cloud Workspace simulator: request counts, read-back, errors, retries, auth."""

from __future__ import annotations

import json

import pytest

from outcomes import texts, unknown  # pylint: disable=import-error
from sim_helpers import controlled, running  # pylint: disable=import-error

import huaweicloud as H  # the simulator module (tests/simulator is on sys.path)

from ansible_collections.vdi.fleet.plugins.module_utils import service
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ApiError, AuthError, ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers import base
from ansible_collections.vdi.fleet.plugins.module_utils.providers.huaweicloud import HuaweiAdapter, power_state
from ansible_collections.vdi.fleet.plugins.module_utils.transport import Poller, RetryPolicy

POWER = {'on': base.POWERED_ON, 'off': base.POWERED_OFF, 'hibernated': base.SUSPENDED}


@pytest.fixture(scope='module')
def hw_simulator(tmp_path_factory):
    with running(tmp_path_factory, 'huaweicloud', 11, 'hwsim-adapter') as simulator:
        yield simulator


@pytest.fixture
def ctl(hw_simulator, monkeypatch):
    with controlled(hw_simulator, 'huaweicloud', monkeypatch) as c:
        yield c
    hw_simulator[0].options.pop('huawei_clock_skew', None)


def make(ctl, **override):
    args = ctl.module_args(**override)
    args = dict((k, v) for k, v in args.items() if v is not None)
    adapter = HuaweiAdapter(args, policy=RetryPolicy(retries=4, base=0.01, cap=0.05))
    adapter.throttle_wait = 0.01
    return adapter


def password_args(ctl, **override):
    args = dict(ctl.sim.providers['huaweicloud'].password_credentials())
    args.update(access_key=None, secret_key=None, project_id=None)
    args.update(override)
    return args


@pytest.fixture
def adapter(ctl):
    a = make(ctl)
    yield a
    a.close()


def ops(ctl):
    return ctl.stats()['by_op']


def flags(ctl):
    return dict((d['id'], d['maintenance']) for d in ctl.state()['desktops'])


# --------------------------------------------------------------------------- listing


def test_list_pools_one_request(ctl, adapter):
    pools = adapter.list_pools()
    assert sorted(p['id'] for p in pools) == sorted(p['id'] for p in ctl.state()['pools'])
    assert all(p['name'].startswith('wks-pool-') and p['raw']['desktop_count'] for p in pools)
    assert ops(ctl) == {'list_desktop_pools': 1}


def test_list_desktops_normalized_in_one_request(ctl, adapter):
    adapter.list_pools()
    ctl.clear_stats()
    found = adapter.list_desktops()
    assert ops(ctl) == {'list_desktops': 1}
    st = dict((d['id'], d) for d in ctl.state()['desktops'])
    names = dict((p['id'], p['name']) for p in ctl.state()['pools'])
    assert sorted(d['id'] for d in found) == sorted(st)
    for d in found:
        s = st[d['id']]
        assert d['name'] == s['name'] and d['pool'] == s['pool'] and d['pool_name'] == names[s['pool']]
        assert d['maintenance'] is False and d['power_state'] == POWER[s['power']]
        assert d['sessions'] == (1 if s['sessions'] else 0)
        assert d['address'] == s['address'] and d['users'] and d['raw']['desktop_id'] == d['id']


def test_list_desktops_pages_with_1000(ctl, adapter):
    ctl.reset(fleet=1001)
    found = adapter.list_desktops()
    assert len(set(d['id'] for d in found)) == 1001
    assert ops(ctl) == {'list_desktops': 2}
    log = ctl.stats(log=True)['log']
    assert [e['status'] for e in log] == [200, 200]


def test_list_desktops_by_pool_and_by_ids(ctl, adapter):
    ctl.reset(fleet=330)
    st = ctl.state()
    pools = [p['id'] for p in st['pools']]
    found = adapter.list_desktops(pool_ids=pools[:2])
    assert ops(ctl) == {'list_desktops': 1}
    assert len(found) == 220 and set(d['pool'] for d in found) == set(pools[:2])
    ctl.clear_stats()
    ids = [d['id'] for d in st['desktops']][:250] + ['00000000-0000-4000-8000-000000000000']
    found = adapter.list_desktops(desktop_ids=ids + ids[:5])
    assert ops(ctl) == {'list_desktops': 3}  # 251 unique ids, 100 per request
    assert sorted(d['id'] for d in found) == sorted(ids[:250])
    ctl.clear_stats()
    both = adapter.list_desktops(pool_ids=pools[:1], desktop_ids=ids[:30])
    assert ops(ctl) == {'list_desktops': 1} and all(d['pool'] == pools[0] for d in both) and both
    assert adapter.list_desktops(desktop_ids=[]) == [] and adapter.list_desktops(pool_ids=[]) == []
    assert ops(ctl) == {'list_desktops': 1}


def test_power_state_normalization(ctl, adapter):
    st = ctl.state()['desktops']
    on = [d['id'] for d in st if d['power'] == 'on']
    ctl.patch(on[0], transition={'kind': 'reboot', 'power': 'on', 'seconds': 60, 'task_status': 'rebooting'})
    ctl.patch(on[1], extra={'status': 'ERROR'})
    ctl.patch(on[2], power='hibernated')
    found = dict((d['id'], d) for d in adapter.list_desktops(desktop_ids=on[:3]))
    assert found[on[0]]['power_state'] == base.TRANSITIONING and found[on[0]]['raw']['task_status'] == 'rebooting'
    assert found[on[1]]['power_state'] == base.UNKNOWN
    assert found[on[2]]['power_state'] == base.SUSPENDED
    assert power_state('SHUTOFF', None) == base.POWERED_OFF and power_state('SHUTOFF', 'powering-on') == base.TRANSITIONING
    assert power_state('', None) == base.UNKNOWN
    # every task_status the simulator shows (the SDK's values), including a forced reboot and hibernation
    assert set(power_state('ACTIVE', t) for t in set(H.TASK_STATUS.values())) == {base.TRANSITIONING}
    assert {'rebooting_hard', 'powering-off'} <= set(H.TASK_STATUS.values())


def test_forced_reboot_is_followed_to_the_end(ctl, adapter):
    on = [d['id'] for d in ctl.state()['desktops'] if d['power'] == 'on'][:2]
    assert adapter.power(on, 'restart', force=True) == ({}, [])
    ctl.advance(1)
    found = adapter.list_desktops(desktop_ids=on)
    assert set(d['raw']['task_status'] for d in found) == {'rebooting_hard'}
    assert set(d['power_state'] for d in found) == {base.TRANSITIONING}
    ctl.advance(120)
    assert set(d['power_state'] for d in adapter.list_desktops(desktop_ids=on)) == {base.POWERED_ON}


def test_list_sessions_from_connect_status(ctl, adapter):
    st = ctl.state()['desktops']
    found = adapter.list_desktops()
    ctl.clear_stats()
    sessions = adapter.list_sessions(found)
    assert ops(ctl) == {'list_desktops': 1}
    expected = dict((d['id'], d['sessions'][0]) for d in st if d['sessions'])
    assert sorted(s['desktop_id'] for s in sessions) == sorted(expected)
    for s in sessions:
        assert s['state'] == expected[s['desktop_id']]['state'] and s['user'] == expected[s['desktop_id']]['user']
        assert s['session_id'] == '%s:%s' % (s['desktop_id'], s['user'])


def test_list_sessions_fresh_records_and_whole_pools(ctl, adapter):
    found = adapter.list_desktops()
    by_ids = adapter.list_sessions(found)
    ctl.clear_stats()
    assert adapter.list_sessions(found, fresh=True) == by_ids and ops(ctl) == {}  # the records carry connect_status
    pool_id = found[0]['pool']
    members = [d for d in found if d['pool'] == pool_id]
    assert members
    ctl.clear_stats()
    polled = adapter.list_sessions(members, pool_ids=[pool_id])
    assert ops(ctl) == {'list_desktops': 1}
    assert sorted(s['session_id'] for s in polled) == sorted(s['session_id'] for s in by_ids if s['pool'] == pool_id)
    # records without raw are re-read
    bare = [dict((k, v) for k, v in d.items() if k != 'raw') for d in members]
    ctl.clear_stats()
    assert sorted(s['session_id'] for s in adapter.list_sessions(bare, fresh=True)) == sorted(s['session_id'] for s in polled)
    assert ops(ctl) == {'list_desktops': 1}


# --------------------------------------------------------------------------- maintenance


def test_enter_and_exit_maintenance_with_read_back(ctl, adapter):
    selection = service.select(adapter, pool=ctl.state()['pools'][0]['name'])
    ids = [d['id'] for d in selection.desktops]
    ctl.clear_stats()
    entries = service.ensure_maintenance(adapter, selection, True)
    assert all(e['changed'] and not e['failed'] for e in entries) and len(entries) == len(ids) == 10
    assert ops(ctl) == {'set_maintenance_mode': 1, 'list_desktops': 1}
    assert all(flags(ctl)[i] for i in ids)
    assert sum(flags(ctl).values()) == len(ids)
    # idempotent: a second run sends nothing
    ctl.clear_stats()
    selection = service.select(adapter, pool=ids and selection.pool['id'])
    again = service.ensure_maintenance(adapter, selection, True)
    assert not any(e['changed'] for e in again)
    assert 'set_maintenance_mode' not in ops(ctl)
    assert adapter.set_maintenance(ids, False) == {}
    assert not any(flags(ctl).values())


def test_maintenance_batches_of_100(ctl, adapter):
    ctl.reset(fleet=250)
    ids = [d['id'] for d in ctl.state()['desktops']]
    assert adapter.set_maintenance(ids, True) == {}
    assert ops(ctl) == {'set_maintenance_mode': 3}
    log = ctl.stats(log=True)['log']
    assert all(e['status'] == 200 for e in log)
    assert all(flags(ctl).values())


def test_per_id_refusal_is_isolated(ctl, adapter):
    ids = [d['id'] for d in ctl.state()['desktops']][:8]
    ghost = '00000000-0000-4000-8000-000000000000'
    ctl.faults([{'kind': 'perid', 'ids': [ids[5]], 'ops': ['set_maintenance_mode']}])
    failures = adapter.set_maintenance(ids + [ghost], True)
    failures = texts(failures)
    assert sorted(failures) == sorted([ids[5], ghost])
    assert ids[5] in failures[ids[5]] and H.DESKTOP_REFUSED[1] in failures[ids[5]]
    assert H.DESKTOP_NOT_FOUND[1] in failures[ghost] and 'does not exist' in failures[ghost]
    st = flags(ctl)
    assert all(st[i] for i in ids if i != ids[5]) and st[ids[5]] is False
    puts = ops(ctl)['set_maintenance_mode']
    assert 3 <= puts <= 1 + 2 * 2 * 4  # halving around two bad ids in a batch of 9


def test_throttling_is_waited_out(ctl, adapter):
    ctl.faults([{'kind': 'throttle', 'ops': ['list_desktops'], 'count': 2, 'retry_after': 0.01}])
    found = adapter.list_desktops()
    assert len(found) == 30 and ops(ctl) == {'list_desktops': 3}
    assert adapter.http.counters['throttled'] == 2
    ids = [d['id'] for d in found[:3]]
    ctl.faults([{'kind': 'throttle', 'ops': ['set_maintenance_mode'], 'count': 1, 'retry_after': 0.01}])
    assert adapter.set_maintenance(ids, True) == {}
    assert ops(ctl)['set_maintenance_mode'] == 2  # a throttled write applied nothing: safe to re-send
    assert all(flags(ctl)[i] for i in ids)


def test_throttle_without_retry_after_uses_the_huawei_wait(ctl):
    a = make(ctl)
    a.throttle_wait = 0.2
    waits = []
    a.http.policy.sleep = waits.append
    ctl.faults([{'kind': 'throttle', 'ops': ['list_desktop_pools'], 'count': 1}])
    a.list_pools()
    assert len(waits) == 1 and waits[0] >= 0.2
    ctl.faults([{'kind': 'throttle', 'ops': ['list_desktop_pools']}])
    with pytest.raises(ApiError) as exc:
        a.list_pools()
    assert exc.value.throttle and exc.value.code == 'APIG.0308' and exc.value.status == 429
    a.close()


def test_5xx_retried_on_get_not_on_put(ctl, adapter):
    ctl.faults([{'kind': '5xx', 'rate': 1, 'ops': ['list_desktops'], 'count': 1}])
    assert len(adapter.list_desktops()) == 30
    assert ops(ctl) == {'list_desktops': 2}
    ids = [d['id'] for d in ctl.state()['desktops'][:2]]
    ctl.clear_stats()
    ctl.faults([{'kind': '5xx', 'rate': 1, 'ops': ['set_maintenance_mode'], 'count': 1, 'phase': 'after'}])
    failures = adapter.set_maintenance(ids, True)
    raw_failures, failures = failures, texts(failures)
    assert set(failures) == set(ids) and unknown(raw_failures) == set(ids)
    assert all('HTTP 500' in m and H.SERVER_ERROR[1] in m for m in failures.values())
    assert ops(ctl) == {'set_maintenance_mode': 1}
    assert all(flags(ctl)[i] for i in ids)  # applied although the answer was an error: the re-read shows it


# --------------------------------------------------------------------------- power and jobs


def sim_poller(ctl):
    """Pollers that advance the simulated clock instead of sleeping."""
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds
        ctl.advance(seconds)

    return lambda timeout: Poller(timeout, initial=5.0, factor=1.5, cap=15.0, sleep=sleep, clock=lambda: now[0])


def test_power_batches_and_per_desktop_refusals(ctl, adapter):
    st = ctl.state()['desktops']
    on = [d['id'] for d in st if d['power'] == 'on'][:3]
    off = [d['id'] for d in st if d['power'] == 'off'][:1]
    ghost = '00000000-0000-4000-8000-000000000000'
    failures, jobs = adapter.power(on + off + [ghost], 'stop')
    failures = texts(failures)
    assert jobs == [] and sorted(failures) == sorted(off + [ghost])
    assert failures[off[0]].startswith(H.ACTION_STATE_REFUSED + ': ') and 'does not exist' in failures[ghost]
    assert 2 <= ops(ctl)['batch_run_desktops'] <= 7
    found = dict((d['id'], d) for d in adapter.list_desktops(desktop_ids=on))
    assert all(found[i]['power_state'] == base.TRANSITIONING for i in on)
    ctl.advance(100)
    found = dict((d['id'], d) for d in adapter.list_desktops(desktop_ids=on))
    assert all(found[i]['power_state'] == base.POWERED_OFF for i in on)
    ctl.reset(fleet=250)
    ctl.clear_stats()
    ids = [d['id'] for d in ctl.state()['desktops'] if d['power'] == 'on']
    failures, jobs = adapter.power(ids, 'restart', force=True)
    failures = texts(failures)
    assert failures == {} and ops(ctl) == {'batch_run_desktops': 3}


def test_pool_power_job_followed_with_failures(ctl, adapter):
    pool_id = ctl.state()['pools'][0]['id']
    members = [d['id'] for d in ctl.state()['desktops'] if d['pool'] == pool_id and d['power'] == 'on']
    ctl.faults([{'kind': 'perid', 'ids': [members[0]], 'ops': ['execute_desktop_pool_action']}])
    job_id = adapter.pool_power(pool_id, 'hibernate')
    assert job_id and adapter.get_job(job_id)['status'] == 'pending'
    ctl.advance(200)
    info = adapter.get_job(job_id)
    off = [d['id'] for d in ctl.state()['desktops'] if d['pool'] == pool_id and d['power'] == 'off']
    assert info['status'] == 'success' and sorted(info['failures']) == sorted([members[0]] + off)
    assert H.ACTION_FAULT in info['failures'][members[0]] and info['message']
    assert all(H.ACTION_STATE_REFUSED in info['failures'][i] for i in off)  # a stopped desktop cannot hibernate
    assert ops(ctl) == {'execute_desktop_pool_action': 1, 'show_job': 2}


def test_get_job_pages_sub_jobs_beyond_the_embedded_ones(ctl, adapter):
    ctl.reset(fleet=330)
    pool_id = ctl.state()['pools'][0]['id']
    members = [d['id'] for d in ctl.state()['desktops'] if d['pool'] == pool_id]
    last = members[-1]
    ctl.faults([{'kind': 'perid', 'ids': [last], 'ops': ['execute_desktop_pool_action']}])
    job_id = adapter.pool_power(pool_id, 'stop', force=True)
    ctl.advance(300)
    info = adapter.get_job(job_id)
    assert last in info['failures'] and len(info['raw']['sub_jobs']) == 100
    assert ops(ctl)['list_ita_sub_jobs'] == 1


def test_ensure_power_stops_a_pool_through_the_service(ctl, adapter):
    pool = ctl.state()['pools'][1]
    selection = service.select(adapter, pool=pool['name'])
    entries, jobs = service.ensure_power(adapter, selection, 'stopped', poller_factory=sim_poller(ctl))
    assert not any(e['failed'] for e in entries), entries
    assert all(d['power'] == 'off' for d in ctl.state()['desktops'] if d['pool'] == pool['id'])
    assert 'batch_run_desktops' in ops(ctl) or 'execute_desktop_pool_action' in ops(ctl)


# --------------------------------------------------------------------------- messages and logoff


def test_send_message_follows_the_job(ctl, adapter):
    adapter.poller_factory = sim_poller(ctl)
    desks = adapter.list_desktops()
    sessions = adapter.list_sessions(desks)
    bad = sessions[0]['desktop_id']
    ctl.faults([{'kind': 'perid', 'ids': [bad], 'ops': ['send_notifications']}])
    ctl.clear_stats()
    outcome = adapter.send_message(sessions, 'Patching at 22:00', message_type='warning', title='ignored')
    outcome = texts(outcome)
    assert set(outcome) == set(s['session_id'] for s in sessions)
    assert outcome[sessions[0]['session_id']] and H.ACTION_FAULT in outcome[sessions[0]['session_id']]
    assert all(v is None for k, v in outcome.items() if k != sessions[0]['session_id'])
    assert ops(ctl)['send_notifications'] == 1 and ops(ctl)['show_job'] >= 1
    delivered = ctl.state()['messages']
    assert {m['desktop_id'] for m in delivered} == {s['desktop_id'] for s in sessions} - {bad}
    assert len(delivered) == len(set(m['session_id'] for m in delivered))


def test_send_message_refused_call_marks_its_sessions(ctl, adapter):
    adapter.poller_factory = sim_poller(ctl)
    sessions = adapter.list_sessions(adapter.list_desktops())
    ctl.faults([{'kind': 'throttle', 'ops': ['send_notifications']}])
    outcome = adapter.send_message(sessions, 'hello')
    outcome = texts(outcome)
    assert all(v and 'APIG.0308' in v for v in outcome.values())
    assert ctl.state()['messages'] == []
    ctl.faults([{'kind': '5xx', 'ops': ['send_notifications'], 'phase': 'after', 'count': 1}])
    ctl.clear_stats()
    outcome = adapter.send_message(sessions, 'hello')
    outcome = texts(outcome)
    assert ops(ctl) == {'send_notifications': 1}  # never re-sent once it may have reached the server
    assert all(v for v in outcome.values())


def test_logoff_with_message(ctl, adapter):
    sessions = adapter.list_sessions(adapter.list_desktops())
    adapter.check_logoff_options(force=False, message='bye')
    with pytest.raises(ConfigError):
        adapter.check_logoff_options(message='x' * (adapter.message_limit + 1))
    ctl.clear_stats()
    outcome = adapter.logoff(sessions, message='Logging off for patching')
    outcome = texts(outcome)
    assert ops(ctl) == {'batch_logoff_desktops': 1}
    assert all(v is None for v in outcome.values()) and set(outcome) == set(s['session_id'] for s in sessions)
    ctl.advance(H.LOGOFF_SECONDS + 1)
    assert adapter.list_sessions(adapter.list_desktops()) == []
    assert {m['message_type'] for m in ctl.state()['messages']} == {'logoff'}


# --------------------------------------------------------------------------- authentication


def test_wrong_secret_key_is_an_auth_error_without_the_secret(ctl):
    a = make(ctl, secret_key='Wrong-Secret-Key-0123456789')
    with pytest.raises(AuthError) as exc:
        a.list_pools()
    text = str(exc.value)
    assert exc.value.status == 401 and exc.value.code == 'APIGW.0301'
    assert 'access_key/secret_key' in text and 'clock' in text
    assert 'Wrong-Secret-Key-0123456789' not in text and H.SECRET_KEY not in text
    assert ops(ctl) == {'list_desktop_pools': 1}  # not retried


def test_sts_token_never_in_the_error(ctl):
    a = make(ctl, **dict(ctl.sim.providers['huaweicloud'].sts_credentials(), secret_key='bad-sts-secret'))
    with pytest.raises(AuthError) as exc:
        a.list_pools()
    assert 'canonicalRequest' in str(exc.value) and 'x-security-token:******' in str(exc.value)
    assert H.STS_TOKEN not in str(exc.value) and 'bad-sts-secret' not in str(exc.value)
    good = make(ctl, **ctl.sim.providers['huaweicloud'].sts_credentials())
    assert len(good.list_desktops()) == 30


def test_clock_skew_is_an_auth_error_naming_the_clock(ctl, adapter):
    ctl.sim.options['huawei_clock_skew'] = 1800
    with pytest.raises(AuthError) as exc:
        adapter.list_desktops()
    assert exc.value.code == 'APIGW.0303' and 'clock' in str(exc.value)


def test_project_of_another_account_is_an_auth_error(ctl):
    a = make(ctl, project_id='f' * 32)
    with pytest.raises(AuthError) as exc:
        a.list_desktops()
    assert exc.value.status == 403 and 'project_id' in str(exc.value)


def test_project_discovered_from_region_with_aksk(ctl):
    a = make(ctl, project_id=None)
    assert len(a.list_desktops()) == 30 and a.project_id == ctl.conn['project_id']
    assert ops(ctl) == {'keystone_list_projects': 1, 'list_desktops': 1}
    a.list_pools()
    assert ops(ctl)['keystone_list_projects'] == 1
    with pytest.raises(ConfigError) as exc:
        make(ctl, project_id=None, region='xx-nowhere-1').list_pools()
    assert 'xx-nowhere-1' in str(exc.value) and 'project_id' in str(exc.value)


def test_token_auth_path(ctl):
    a = make(ctl, **password_args(ctl))
    assert a.auth_mode == 'password'
    assert len(a.list_desktops()) == 30 and a.project_id == ctl.conn['project_id']
    assert ops(ctl) == {'keystone_create_user_token_by_password': 1, 'list_desktops': 1}
    ids = [d['id'] for d in ctl.state()['desktops'][:3]]
    assert a.set_maintenance(ids, True) == {}
    assert all(flags(ctl)[i] for i in ids)
    # a second adapter in the same process reuses the cached token
    b = make(ctl, **password_args(ctl))
    b.list_pools()
    assert ops(ctl)['keystone_create_user_token_by_password'] == 1
    # after 24 h the token is refused once, renewed, and the call goes through
    ctl.advance(H.TOKEN_LIFETIME + 1)
    ctl.clear_stats()
    assert len(a.list_pools()) == 3
    assert ops(ctl) == {'list_desktop_pools': 2, 'keystone_create_user_token_by_password': 1}
    assert ctl.stats()['by_status'] == {'401': 1, '201': 1, '200': 1}


def test_wrong_password_is_an_auth_error_without_the_password(ctl):
    a = make(ctl, **password_args(ctl, password='Not-The-Password-42'))
    with pytest.raises(AuthError) as exc:
        a.list_desktops()
    text = str(exc.value)
    assert exc.value.status == 401 and 'The username or password is wrong' in text
    assert 'username' in text and 'domain' in text and 'Not-The-Password-42' not in text
    assert ops(ctl) == {'keystone_create_user_token_by_password': 1}


def test_password_with_a_region_without_project_is_a_config_error(ctl):
    a = make(ctl, **password_args(ctl, region='xx-nowhere-1'))
    with pytest.raises(ConfigError) as exc:
        a.list_pools()
    assert 'xx-nowhere-1' in str(exc.value) and 'project' in str(exc.value) and H.IAM_PASSWORD not in str(exc.value)


# --------------------------------------------------------------------------- configuration


def test_default_endpoints_and_iam(monkeypatch):
    monkeypatch.delenv('HUAWEICLOUD_SDK_IAM_ENDPOINT', raising=False)
    a = HuaweiAdapter({'region': 'cn-north-4', 'access_key': 'AK', 'secret_key': 'SK'})
    assert a.endpoint == 'https://workspace.cn-north-4.myhuaweicloud.com'
    assert a.iam_endpoint() == 'https://iam.cn-north-4.myhuaweicloud.com'
    b = HuaweiAdapter({'endpoint': 'https://vdi-gw.example.com:8443', 'region': 'ap-southeast-1', 'access_key': 'AK',
                       'secret_key': 'SK'})
    assert b.iam_endpoint() == 'https://vdi-gw.example.com:8443'
    monkeypatch.setenv('HUAWEICLOUD_SDK_IAM_ENDPOINT', 'https://iam.example.com/')
    assert a.iam_endpoint() == 'https://iam.example.com'


@pytest.mark.parametrize('params, text', [
    ({'access_key': 'AK', 'secret_key': 'SK'}, 'region'),
    ({'region': 'r', 'access_key': 'AK'}, 'secret_key'),
    ({'region': 'r', 'access_key': 'AK', 'secret_key': 'SK', 'username': 'u', 'password': 'p'}, 'not both'),
    ({'region': 'r', 'username': 'u', 'password': 'p'}, 'domain'),
    ({'region': 'r'}, 'access_key'),
])
def test_configuration_errors(params, text):
    with pytest.raises(ConfigError) as exc:
        HuaweiAdapter(params)
    assert text in str(exc.value)


class Resp:
    def __init__(self, status, body, headers=None):
        self.status_code = status
        self.content = json.dumps(body).encode() if body is not None else b''
        self.text = self.content.decode()
        self.headers = headers or {}
        self.reason = 'reason'

    def json(self):
        return json.loads(self.text)


@pytest.mark.parametrize('status, body, kind, throttle', [
    (401, {'error_code': 'APIG.0301', 'error_msg': 'Incorrect IAM authentication information: x'}, AuthError, False),
    (401, {'error_code': 'APIGW.0307', 'error_msg': 'The token must be updated.'}, AuthError, False),
    (403, {'error_code': 'APIG.0302', 'error_msg': 'not authorized'}, AuthError, False),
    (429, {'error_code': 'APIGW.0308', 'error_msg': 'The throttling threshold has been reached'}, ApiError, True),
    (400, {'error_code': 'WKS.0001', 'error_msg': 'bad', 'error_detail': 'x'}, ApiError, False),
    (404, {'errorCode': 'WKS.0202', 'errorMsg': 'gone'}, ApiError, False),
    (500, {'outer': {'code': 'X.1', 'message': 'nested'}}, ApiError, False),
])
def test_classify_error_shapes(status, body, kind, throttle):
    a = HuaweiAdapter({'region': 'cn-north-4', 'access_key': 'AK', 'secret_key': 'SK'})
    err = a.classify_error(Resp(status, body, {'X-Request-Id': 'rid-1'}))
    assert err.__class__ is kind and err.throttle is throttle and err.status == status
    assert err.request_id == 'rid-1' and err.code
    if throttle:
        assert err.retry_after == a.throttle_wait
    if kind is AuthError and status == 401:
        assert 'access_key/secret_key' in err.msg and 'clock' in err.msg
