"""HorizonAdapter against the in-process Horizon simulator: request counts, paging, filters, auth, faults."""

from __future__ import annotations

import json

import pytest

from outcomes import texts, unknown  # pylint: disable=import-error
import requests
from sim_helpers import running  # pylint: disable=import-error

from conftest import SimControl  # pylint: disable=import-error
import horizon as hzsim  # pylint: disable=import-error

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ApiError, AuthError, ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers import base
from ansible_collections.vdi.fleet.plugins.module_utils.providers.horizon import (
    HorizonAdapter, or_filter, release_of, version_tuple)
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy, retry_after_of

LIFETIME = 1800.0


@pytest.fixture(autouse=True)
def _no_ca_bundle_env(monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a Session's verify (ca_path); see report.
    monkeypatch.delenv('REQUESTS_CA_BUNDLE', raising=False)
    monkeypatch.delenv('CURL_CA_BUNDLE', raising=False)


@pytest.fixture(scope='module')
def hsim(tmp_path_factory):
    with running(tmp_path_factory, 'horizon', 5, 'hzadapter', token_lifetime=LIFETIME) as simulator:
        yield simulator


@pytest.fixture
def ctl(hsim):
    c = SimControl(hsim[1], 'horizon')
    c.reset()
    return c


class Sleeps(list):
    """Records the retry waits instead of sleeping (truthy even when empty, for RetryPolicy's ``sleep or``)."""

    def __call__(self, seconds):
        self.append(seconds)

    def __bool__(self):
        return True


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def make(ctl, sleeps):
    made = []

    def factory(**over):
        params = ctl.module_args(**over)
        adapter = HorizonAdapter(params, policy=RetryPolicy(retries=4, base=0.001, cap=0.01, sleep=sleeps))
        made.append(adapter)
        return adapter

    yield factory
    for adapter in made:
        adapter.http.close()


def ops(ctl):
    return ctl.stats()['by_op']


def state_by_id(ctl):
    return {d['id']: d for d in ctl.state()['desktops']}


# =========================================================================== inventory


def test_list_pools_one_login_one_get(ctl, make):
    adapter = make()
    pools = adapter.list_pools()
    want = ctl.state()['pools']
    assert [(p['id'], p['name']) for p in pools] == [(p['id'], p['name']) for p in want]
    assert pools[0]['raw']['type'] == 'AUTOMATED'
    assert ops(ctl) == {'login': 1, 'list_pools': 1}


def test_list_all_desktops_normalized(ctl, make):
    adapter = make()
    got = adapter.list_desktops()
    assert ops(ctl) == {'login': 1, 'list_machines_v2': 1, 'list_pools': 1}
    state = state_by_id(ctl)
    names = {p['id']: p['name'] for p in ctl.state()['pools']}
    assert [d['id'] for d in got] == list(state)
    power = {'on': base.POWERED_ON, 'off': base.POWERED_OFF, 'suspended': base.SUSPENDED}
    for d in got:
        s = state[d['id']]
        assert d['name'] == s['name'] and d['pool'] == s['pool'] and d['pool_name'] == names[s['pool']]
        assert d['maintenance'] is False
        assert d['power_state'] == power[s['power']]
        assert d['sessions'] == len(s['sessions'])
        assert d['address'].startswith(s['name'])
        assert len(d['users']) == 1 and d['raw']['id'] == d['id']
    assert {d['power_state'] for d in got} >= {base.POWERED_ON, base.POWERED_OFF}
    assert any(d['sessions'] for d in got)
    # the pool names are cached: a second listing costs one page only
    ctl.clear_stats()
    adapter.list_desktops()
    assert ops(ctl) == {'list_machines_v2': 1}


@pytest.mark.parametrize('fleet,pages', [(0, 1), (1000, 1), (2000, 2), (2001, 3)])
def test_paging_until_has_more_records_absent(ctl, make, fleet, pages):
    ctl.reset(fleet=fleet)
    got = make().list_desktops()
    assert len(got) == fleet and len({d['id'] for d in got}) == fleet
    by_op = ops(ctl)
    assert by_op['list_machines_v2'] == pages and by_op['login'] == 1
    assert ctl.stats()['by_status'].get('400') is None  # never asked for a page past the end


def test_filter_by_pools(ctl, make):
    state = ctl.state()
    pools = [p['id'] for p in state['pools']]
    adapter = make()
    one = adapter.list_desktops(pool_ids=[pools[0]])
    assert {d['pool'] for d in one} == {pools[0]}
    assert len(one) == sum(1 for d in state['desktops'] if d['pool'] == pools[0])
    two = adapter.list_desktops(pool_ids=pools[:2])
    assert len(two) == sum(1 for d in state['desktops'] if d['pool'] in pools[:2])
    assert ops(ctl)['list_machines_v2'] == 2
    assert adapter.list_desktops(pool_ids=['no-such-pool']) == []


def test_filter_by_ids_chunked(ctl, make):
    ctl.reset(fleet=150)
    state = ctl.state()
    ids = [d['id'] for d in state['desktops']][:100]
    unknown = '99999999-9999-4999-8999-999999999999'
    adapter = make()
    got = adapter.list_desktops(desktop_ids=ids + [unknown, ids[0]])
    assert sorted(d['id'] for d in got) == sorted(ids)
    # 101 distinct ids in Or-filters of 40: three requests, each URL well under the 8 KB limit
    assert ops(ctl)['list_machines_v2'] == 3
    pool0 = state['pools'][0]['id']
    both = adapter.list_desktops(pool_ids=[pool0], desktop_ids=ids[:10])
    assert sorted(d['id'] for d in both) == sorted(d['id'] for d in state['desktops'][:10] if d['pool'] == pool0)


def test_empty_selections_send_nothing(ctl, make):
    adapter = make()
    assert adapter.list_desktops(desktop_ids=[]) == []
    assert adapter.list_desktops(pool_ids=[]) == []
    assert adapter.set_maintenance([], True) == {}
    assert ops(ctl) == {}


def test_normalize_special_states(ctl, make):
    state = ctl.state()['desktops']
    idle = [d['id'] for d in state if d['power'] == 'on' and not d['sessions']]
    conn = next(d['id'] for d in state if d['sessions'])
    ctl.patch(idle[0], extra={'unmanaged': True}, maintenance=True)
    ctl.patch(idle[1], extra={'state': 'PROVISIONING'})
    ctl.patch(idle[2], transition={'kind': 'restart', 'power': 'on', 'seconds': 60})
    ctl.patch(conn, maintenance=True)
    got = {d['id']: d for d in make().list_desktops(desktop_ids=idle[:3] + [conn])}
    assert got[idle[0]]['maintenance'] is True and got[idle[0]]['power_state'] == base.POWERED_ON
    assert got[idle[1]]['power_state'] == base.TRANSITIONING
    assert got[idle[2]]['power_state'] == base.TRANSITIONING
    # in maintenance with a session: the state may say MAINTENANCE, the session still counts
    assert got[conn]['maintenance'] is True and got[conn]['sessions'] == 1


def test_v1_fallback_when_v2_missing(ctl, make):
    adapter = make()
    adapter.machines_path = '/inventory/v99/machines'
    got = adapter.list_desktops()
    assert len(got) == 30 and adapter.machines_path == '/inventory/v1/machines'
    assert ops(ctl)['list_machines'] == 1
    # v1 has no session_id: sessions come from the state
    state = state_by_id(ctl)
    assert sum(d['sessions'] for d in got) == sum(1 for s in state.values() if s['sessions'])


# =========================================================================== maintenance


def test_enter_and_exit_maintenance_read_back(ctl, make):
    ids = [d['id'] for d in ctl.state()['desktops']]
    adapter = make()
    assert adapter.set_maintenance(ids, True) == {}
    assert all(d['maintenance'] for d in ctl.state()['desktops'])
    assert all(d['maintenance'] for d in adapter.list_desktops(desktop_ids=ids))
    assert adapter.set_maintenance(ids[:5], False) == {}
    after = {d['id']: d['maintenance'] for d in adapter.list_desktops()}
    assert [after[i] for i in ids[:6]] == [False] * 5 + [True]
    by_op = ops(ctl)
    assert by_op['enter_maintenance'] == 1 and by_op['exit_maintenance'] == 1 and by_op['login'] == 1


def test_per_id_failure_and_unknown_id_only_for_that_id(ctl, make):
    ids = [d['id'] for d in ctl.state()['desktops']][:6]
    unknown = '11111111-2222-4333-8444-555555555555'
    ctl.faults([{'kind': 'perid', 'ids': [ids[2]], 'ops': ['enter_maintenance']}])
    failures = make().set_maintenance(ids + [unknown], True)
    failures = texts(failures)
    assert set(failures) == {ids[2], unknown}
    assert 'inventory.machine.not.found' in failures[unknown] and '404' in failures[unknown]
    assert hzsim.PERID_FAULT[1] in failures[ids[2]]
    state = state_by_id(ctl)
    assert [state[i]['maintenance'] for i in ids] == [True, True, False, True, True, True]
    assert ops(ctl)['enter_maintenance'] == 1


def test_whole_request_400_is_isolated(ctl, make):
    ids = [d['id'] for d in ctl.state()['desktops']][:8]
    ctl.patch(ids[5], maintenance=True)  # someone else got there first
    failures = make().set_maintenance(ids, True)
    failures = texts(failures)
    assert list(failures) == [ids[5]] and 'inventory.machine.state.invalid' in failures[ids[5]]
    assert all(d['maintenance'] for d in ctl.state()['desktops'] if d['id'] in ids)
    assert ops(ctl)['enter_maintenance'] <= 1 + 2 * 3  # halving 8 ids: about 2 * log2(8) extra calls


def test_held_machine_and_enforce(ctl, make):
    ids = [d['id'] for d in ctl.state()['desktops']][:3]
    ctl.patch(ids[1], extra={'held': True})
    adapter = make()
    failures = adapter.set_maintenance(ids, True)
    failures = texts(failures)
    assert list(failures) == [ids[1]] and 'inventory.machine.held' in failures[ids[1]]
    assert adapter.set_maintenance([ids[1]], True, enforce=True) == {}
    assert all(state_by_id(ctl)[i]['maintenance'] for i in ids)


def test_item_failures_parsing():
    results = [
        {'id': 'a', 'status_code': 200},
        {'id': 'b', 'status_code': 404,
         'errors': [{'error_key': 'inventory.machine.not.found', 'error_message': 'gone'}]},
        {'id': 'c', 'status_code': 400, 'error_messages': ['Entity does not exist.']},
        {'id': 'd', 'status_code': 204},
    ]
    got = HorizonAdapter.item_failures(['a', 'b', 'c', 'd', 'e'], results)
    assert unknown(got) == {'e'}  # no result: the outcome of that machine is not known
    assert texts(got) == {'b': 'HTTP 404: gone (inventory.machine.not.found)', 'c': 'HTTP 400: Entity does not exist.',
                          'e': 'Horizon returned no result for this machine; its state is unknown.'}


# =========================================================================== auth


def test_token_expiry_recovers_with_one_refresh(ctl, make):
    adapter = make()
    adapter.list_pools()
    ctl.advance(LIFETIME + 1)
    assert len(adapter.list_desktops()) == 30
    by_op = ops(ctl)
    assert by_op['login'] == 1 and by_op['refresh'] == 1
    assert ctl.stats()['by_status']['401'] == 1
    # the refresh token expired too: refresh fails once, then one new login
    ctl.advance(LIFETIME * hzsim.REFRESH_LIFETIME_FACTOR + 1)
    ctl.clear_stats()
    assert make_ids(adapter)
    assert ops(ctl) == {'list_machines_v2': 2, 'refresh': 1, 'login': 1}


def make_ids(adapter):
    return [d['id'] for d in adapter.list_desktops()]


def test_wrong_password_is_auth_error_without_secret(ctl, make):
    adapter = make(password='Sup3r-Secret-Value')
    with pytest.raises(AuthError) as exc:
        adapter.list_pools()
    msg = str(exc.value)
    assert 'Sup3r-Secret-Value' not in msg
    assert 'sAMAccountName' in msg and 'domain' in msg and 'HTTP 401' in msg
    assert exc.value.code == 'common.login.failed'
    assert ops(ctl) == {'login': 1}


@pytest.mark.parametrize('over,word', [
    ({'username': 'svc-vdifleet@example.com'}, 'UPN'),
    ({'domain': None}, 'domain'),
    ({'password': None}, 'password'),
    ({'endpoint': None}, 'endpoint'),
])
def test_config_errors_before_any_request(ctl, make, over, word):
    with pytest.raises(ConfigError) as exc:
        make(**over)
    assert word in str(exc.value)
    assert ops(ctl) == {}


def test_down_level_logon_name_and_rest_suffix(ctl, make):
    conn = ctl.module_args()
    adapter = make(username='%s\\%s' % (conn['domain'], conn['username']), domain=None,
                   endpoint=conn['endpoint'] + '/rest/')
    assert len(adapter.list_pools()) == len(ctl.state()['pools'])
    assert adapter.http.endpoint == conn['endpoint'] + '/rest'


def test_close_logs_out(ctl, make):
    adapter = make()
    adapter.list_pools()
    assert ctl.state()['horizon']['active_logins'] == 1
    adapter.close()
    assert ctl.state()['horizon']['active_logins'] == 0
    assert ops(ctl)['logout'] == 1
    adapter.close()  # twice: nothing more to do
    assert ops(ctl)['logout'] == 1
    fresh = make()
    fresh.close()  # never logged in: no request
    assert ops(ctl)['logout'] == 1


@pytest.mark.parametrize('kind', ['5xx', 'drop', 'throttle'])
def test_close_never_raises(ctl, make, kind):
    adapter = make()
    adapter.list_pools()
    ctl.faults([{'kind': kind, 'rate': 1.0, 'ops': ['logout'], 'retry_after': 0.01}])
    adapter.close()
    assert ops(ctl)['logout'] == 1


# =========================================================================== faults


def test_throttling_waited_out(ctl, make, sleeps):
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['list_machines_v2'], 'count': 2, 'retry_after': 0.05}])
    assert len(make().list_desktops()) == 30
    assert ops(ctl)['list_machines_v2'] == 3
    assert len(sleeps) == 2 and all(s >= 0.05 for s in sleeps)


def test_throttling_outlives_retries(ctl, make):
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['list_pools'], 'retry_after': 0.01}])
    with pytest.raises(ApiError) as exc:
        make().list_pools()
    assert exc.value.throttle and exc.value.status == 429 and exc.value.retry_after == 0.01
    assert exc.value.code == 'common.api-throttle-limit.exceeded.error'
    assert ops(ctl)['list_pools'] == 5  # first try + 4 retries


def test_5xx_on_get_retried(ctl, make):
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['list_machines_v2'], 'count': 1},
                {'kind': 'drop', 'rate': 1.0, 'ops': ['list_pools'], 'count': 1}])
    assert len(make().list_desktops()) == 30
    by_op = ops(ctl)
    assert by_op['list_machines_v2'] == 2 and by_op['list_pools'] == 2


@pytest.mark.parametrize('phase', ['after', 'before'])
def test_5xx_on_enter_maintenance_not_retried(ctl, make, phase):
    ids = [d['id'] for d in ctl.state()['desktops']][:4]
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['enter_maintenance'], 'count': 1, 'phase': phase}])
    failures = make().set_maintenance(ids, True)
    failures = texts(failures)
    assert set(failures) == set(ids) and all('HTTP 500' in m for m in failures.values())
    assert ops(ctl)['enter_maintenance'] == 1
    applied = [state_by_id(ctl)[i]['maintenance'] for i in ids]
    assert applied == [phase == 'after'] * 4


def test_server_version_cached(ctl, make):
    adapter = make()
    v = adapter.server_version()
    assert v == {'version': '8.17.0', 'build': v['build'], 'version_tuple': (8, 17, 0), 'release': '2512'}
    adapter.server_version()
    assert ops(ctl) == {'login': 1, 'get_environment': 1}


def test_version_helpers():
    assert version_tuple('8.14.0') == (8, 14, 0) and version_tuple(None) == ()
    assert release_of('8.14.1') == '2412' and release_of('9.0.0') is None
    assert or_filter('id', ['a']) == {'type': 'Equals', 'name': 'id', 'value': 'a'}
    assert or_filter('id', ['a', 'b'])['type'] == 'Or'


# =========================================================================== classify_error


def fake_response(status, body=None, text=None, headers=None):
    resp = requests.models.Response()
    resp.status_code = status
    resp.reason = 'Reason'
    if body is not None:
        resp._content = json.dumps(body).encode()  # pylint: disable=protected-access
        resp.headers['Content-Type'] = 'application/json'
    else:
        resp._content = (text or '').encode()  # pylint: disable=protected-access
    resp.headers.update(headers or {})
    return resp


def classify(*args, **kw):
    adapter = HorizonAdapter({'endpoint': 'https://cs.example.com', 'username': 'u', 'password': 'p',
                              'domain': 'D'})
    return adapter.classify_error(fake_response(*args, **kw))


def test_classify_error_shapes():
    err = classify(429, {'status': 'TOO_MANY_REQUESTS', 'timestamp': 1, 'errors': [
        {'error_key': 'common.api-throttle-limit.exceeded.error', 'error_message': 'slow down'}]},
        headers={'X-Rate-Limit-Retry-After-Seconds': '3'})
    assert err.throttle and err.code == 'common.api-throttle-limit.exceeded.error'
    # the delay Horizon asks for is read once, by the transport, for every provider
    assert retry_after_of(fake_response(429, {}, headers={'X-Rate-Limit-Retry-After-Seconds': '3'})) == 3.0
    err = classify(400, {'error_messages': ['Entity does not exist.', 'Property is mandatory.']})
    assert err.message == 'Entity does not exist.; Property is mandatory.' and not err.throttle
    err = classify(404, {'error_key': 'inventory.machine.not.found', 'error_message': 'no machine'})
    assert err.code == 'inventory.machine.not.found' and err.message == 'no machine'
    err = classify(400, text='<html><body><h1>HTTP Status 400 - Bad Request</h1></body></html>')
    assert err.message == 'HTTP Status 400 - Bad Request' and err.status == 400
    err = classify(502, text='')
    assert err.message == 'Reason' and 'HTTP 502' in err.msg
    err = classify(404, {'timestamp': 1, 'status': 404, 'error': 'Not Found', 'path': '/rest/x'})
    assert err.message == 'Not Found'


def test_wrong_endpoint_path_explained(ctl, make):
    adapter = make(endpoint=ctl.module_args()['endpoint'] + '/portal')
    with pytest.raises(ApiError) as exc:
        adapter.list_pools()
    assert not isinstance(exc.value, AuthError)
    assert 'does not exist (HTTP 404)' in str(exc.value) and 'Check endpoint' in str(exc.value)


def test_forbidden_becomes_auth_error_naming_privileges(ctl, make, monkeypatch):
    adapter = make()
    adapter.list_pools()

    def forbidden(*args, **kwargs):
        raise ApiError('Horizon answered HTTP 403', status=403, code='common.forbidden', message='Forbidden')

    monkeypatch.setattr(adapter.http, 'request', forbidden)
    with pytest.raises(AuthError) as exc:
        adapter.set_maintenance([ctl.state()['desktops'][0]['id']], True)
    assert 'MACHINE_MAINTENANCE' in str(exc.value) and exc.value.status == 403
