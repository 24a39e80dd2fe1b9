"""Raw-HTTP tests of the Horizon simulator: every endpoint, its paging, filters, errors and faults."""

from __future__ import annotations

import base64
import functools
import json
import time

import pytest
import requests

from conftest import SimControl  # pylint: disable=import-error
from core import Simulator  # pylint: disable=import-error
import horizon as hz  # pylint: disable=import-error

LIFETIME = 1800.0


def _start(tmp_path_factory, version, fleet=30):
    sim = Simulator(providers=('horizon',), fleet=fleet, seed=11, time_scale=1.0, tls=True,
                    horizon_version=version, token_lifetime=LIFETIME,
                    state_dir=str(tmp_path_factory.mktemp('hzsim%s' % version)))
    return sim, sim.start()


@pytest.fixture(scope='module')
def hsim(tmp_path_factory):
    sim, info = _start(tmp_path_factory, '2512')
    yield sim, info
    sim.stop()


@pytest.fixture(scope='module')
def hsim2406(tmp_path_factory):
    sim, info = _start(tmp_path_factory, '2406')
    yield sim, info
    sim.stop()


class Api:
    """A bare Horizon REST client (requests, no retries)."""

    def __init__(self, info):
        self.conn = info['horizon']
        self.base = self.conn['endpoint'] + '/rest'
        self.verify = info['ca_path']
        self.access = None
        self.refresh = None
        # keep-alive: one TLS handshake per test, not per call. verify goes with every call because a
        # Session's own verify loses against REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment.
        self.http = requests.Session()
        self.http.request = functools.partial(self.http.request, verify=self.verify)

    def login(self, **over):
        body = {'username': self.conn['username'], 'password': self.conn['password'], 'domain': self.conn['domain']}
        body.update(over)
        r = self.http.post(self.base + '/login', json=body, timeout=10)
        if r.status_code == 200:
            self.access, self.refresh = r.json()['access_token'], r.json()['refresh_token']
        return r

    def headers(self):
        return {'Authorization': 'Bearer %s' % self.access} if self.access else {}

    def get(self, path, **params):
        if 'filter' in params and not isinstance(params['filter'], str):
            params['filter'] = json.dumps(params['filter'])
        return self.http.get(self.base + path, params=params, headers=self.headers(), timeout=10)

    def post(self, path, body=None, params=None, raw=None):
        kw = {'data': raw} if raw is not None else {'json': body}
        return self.http.post(self.base + path, params=params, headers=self.headers(), timeout=10, **kw)

    def machines(self, version=2, **params):
        r = self.get('/inventory/v%d/machines' % version, **params)
        assert r.status_code == 200, r.text
        return r.json()

    def machine(self, mid):
        r = self.get('/inventory/v1/machines/%s' % mid)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def ctl(hsim):
    info = hsim[1]
    c = SimControl(info, 'horizon')
    c.reset()
    return c


@pytest.fixture
def api(hsim, ctl):
    a = Api(hsim[1])
    assert a.login().status_code == 200
    return a


@pytest.fixture
def ctl2406(hsim2406):
    c = SimControl(hsim2406[1], 'horizon')
    c.reset()
    return c


@pytest.fixture
def api2406(hsim2406, ctl2406):
    a = Api(hsim2406[1])
    assert a.login().status_code == 200
    return a


def desktops(ctl):
    return ctl.state()['desktops']


def pick(ctl, pred, n=1):
    found = [d for d in desktops(ctl) if pred(d)]
    assert len(found) >= n, 'fleet has fewer than %d matching desktops' % n
    return found[:n]


def idle_on(d):
    return d['power'] == 'on' and not d['sessions'] and not d['maintenance'] and not d['transitioning']


def with_session(state):
    return lambda d: d['power'] == 'on' and any(s['state'] == state for s in d['sessions'])


def error_key(resp):
    return resp.json()['errors'][0]['error_key']


def jwt_claims(token):
    payload = token.split('.')[1]
    return json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))


# =========================================================================== auth


def test_login_returns_jwt_like_tokens(ctl, hsim):
    api = Api(hsim[1])
    r = api.login()
    assert r.status_code == 200
    assert set(r.json()) == {'access_token', 'refresh_token'}
    access = jwt_claims(api.access)
    refresh = jwt_claims(api.refresh)
    assert api.access.count('.') == 2
    assert access['token type'] == 'access token' and refresh['token type'] == 'refresh token'
    assert access['exp'] - access['nbf'] == int(LIFETIME)
    assert refresh['exp'] - refresh['nbf'] == int(LIFETIME * hz.REFRESH_LIFETIME_FACTOR)
    assert ctl.state()['horizon']['active_logins'] == 1


@pytest.mark.parametrize('over', [
    {'password': 'wrong'},
    {'domain': 'OTHER'},
    {'username': 'svc-vdifleet@example.com'},  # UPN login is not supported
    {'username': 'someone-else'},
])
def test_login_refused_with_401(ctl, hsim, over):
    api = Api(hsim[1])
    r = api.login(**over)
    assert r.status_code == 401
    assert r.json()['status'] == 'UNAUTHORIZED'
    assert error_key(r) == 'common.login.failed'
    assert hsim[1]['horizon']['password'] not in r.text
    assert ctl.state()['horizon']['logins'] == 0


@pytest.mark.parametrize('drop', ['username', 'password', 'domain'])
def test_login_field_missing_is_400(ctl, hsim, drop):
    api = Api(hsim[1])
    body = {'username': 'a', 'password': 'b', 'domain': 'c'}
    del body[drop]
    r = requests.post(api.base + '/login', json=body, verify=api.verify, timeout=10)
    assert r.status_code == 400 and error_key(r) == 'common.property.mandatory'
    assert drop in r.json()['errors'][0]['error_message']


def test_login_variants_accepted(ctl, hsim):
    api = Api(hsim[1])
    pw = hsim[1]['horizon']['password']
    assert api.login(password=list(pw)).status_code == 200  # the spec's char[] form
    assert api.login(domain='example.com', username='SVC-VDIFLEET').status_code == 200
    r = requests.post(api.base + '/login', data='not json', verify=api.verify, timeout=10,
                      headers={'Content-Type': 'application/json'})
    assert r.status_code == 400


def test_missing_or_bad_token_is_401(ctl, hsim):
    api = Api(hsim[1])
    r = api.get('/inventory/v1/machines')
    assert r.status_code == 401 and r.headers['WWW-Authenticate'] == 'Bearer'
    assert error_key(r) == 'common.user.not.authenticated'
    api.access = 'abc.def.ghi'
    assert api.get('/inventory/v1/machines').status_code == 401
    api.login()
    api.access = api.refresh  # a refresh token is no access token
    assert api.get('/inventory/v1/machines').status_code == 401


def test_token_expiry_then_refresh(ctl, api):
    assert api.get('/config/v2/environment-properties').status_code == 200
    ctl.advance(LIFETIME + 1)
    r = api.get('/config/v2/environment-properties')
    assert r.status_code == 401
    r = api.http.post(api.base + '/refresh', json={'refresh_token': api.refresh}, timeout=10)
    assert r.status_code == 200 and set(r.json()) == {'access_token'}
    api.access = r.json()['access_token']
    assert api.get('/config/v2/environment-properties').status_code == 200
    # the refresh token itself expires after REFRESH_LIFETIME_FACTOR access lifetimes
    ctl.advance(LIFETIME * hz.REFRESH_LIFETIME_FACTOR)
    r = api.http.post(api.base + '/refresh', json={'refresh_token': api.refresh}, timeout=10)
    assert r.status_code == hz.REFRESH_FAILURE_STATUS
    assert error_key(r) == 'common.refresh.token.invalid'
    r = api.http.post(api.base + '/refresh', json={}, timeout=10)
    assert r.status_code == 400


def test_logout_invalidates_both_tokens(ctl, api):
    assert ctl.state()['horizon']['active_logins'] == 1
    r = api.http.post(api.base + '/logout', json={'refresh_token': api.refresh}, timeout=10)
    assert r.status_code == 200 and r.content == b''
    assert api.get('/inventory/v1/machines').status_code == 401
    r = api.http.post(api.base + '/refresh', json={'refresh_token': api.refresh}, timeout=10)
    assert r.status_code == hz.REFRESH_FAILURE_STATUS
    r = api.http.post(api.base + '/logout', json={'refresh_token': api.refresh}, timeout=10)
    assert r.status_code == 400
    assert ctl.state()['horizon']['active_logins'] == 0


def test_environment_properties(api, api2406):
    r = api.get('/config/v2/environment-properties')
    assert r.status_code == 200
    env = r.json()
    assert env['local_connection_server_version'] == hz.connection_server_version('2512') == '8.17.0'
    assert env['local_connection_server_build'].isdigit()
    assert env['deployment_type'] == 'GENERAL' and env['ip_mode'] == 'IPv4'
    env = api2406.get('/config/v2/environment-properties').json()
    assert env['local_connection_server_version'] == '8.13.0'
    assert hz.connection_server_version('2411') == '8.14.0'  # an unknown release gets the next minor


# =========================================================================== machines


def test_machine_fields_v1_and_v2(ctl, api):
    state = {d['id']: d for d in desktops(ctl)}
    v1 = api.machines(1)
    v2 = api.machines(2)
    assert [m['id'] for m in v1] == [m['id'] for m in v2] == list(state)
    for m1, m2 in zip(v1, v2):
        d = state[m1['id']]
        assert 'session_id' not in m1 and 'access_group_id' not in m1 and 'aliases' not in m1
        assert m2['access_group_id'] and m2['aliases'] == []
        assert m2.get('session_id') == (d['sessions'][0]['id'] if d['sessions'] else None)
        assert m1['type'] == 'MANAGED_MACHINE' and m1['desktop_pool_id'] == d['pool']
        assert m1['name'] == d['name'] and m1['dns_name'].startswith(d['name'])
        assert m1['user_ids'][0].startswith('S-1-5-21-')
        mmd = m1['managed_machine_data']
        assert mmd['in_maintenance_mode'] is False
        assert mmd['virtual_machine_power_state'] == {'on': 'POWERED_ON', 'off': 'POWERED_OFF',
                                                      'suspended': 'SUSPENDED'}[d['power']]
        if d['power'] != 'on':
            assert m1['state'] == 'PROVISIONED'
        elif d['sessions']:
            assert m1['state'] in ('CONNECTED', 'DISCONNECTED')
        else:
            assert m1['state'] == 'AVAILABLE'
    assert {'PROVISIONED', 'CONNECTED', 'DISCONNECTED', 'AVAILABLE'} <= {m['state'] for m in v1}


def test_get_machine_by_id(ctl, api):
    d = desktops(ctl)[0]
    assert api.machine(d['id'])['name'] == d['name']
    r = api.get('/inventory/v1/machines/00000000-0000-4000-8000-000000000000')
    assert r.status_code == 404 and error_key(r) == 'inventory.machine.not.found'


def test_maintenance_with_session_state_assumption(ctl, api):
    d = pick(ctl, with_session('connected'))[0]
    ctl.patch(d['id'], maintenance=True)
    m = api.machines(2, filter={'type': 'Equals', 'name': 'id', 'value': d['id']})[0]
    assert m['managed_machine_data']['in_maintenance_mode'] is True
    assert m['session_id'] == d['sessions'][0]['id']
    assert m['state'] == ('MAINTENANCE' if hz.MAINTENANCE_STATE_WITH_SESSION == 'MAINTENANCE' else 'CONNECTED')


def test_unmanaged_machine_and_state_override(ctl, api):
    a, b = pick(ctl, idle_on, 2)
    ctl.patch(a['id'], extra={'unmanaged': True}, maintenance=True)
    ctl.patch(b['id'], extra={'state': 'AGENT_UNREACHABLE'})
    ma, mb = api.machine(a['id']), api.machine(b['id'])
    assert ma['type'] == 'UNMANAGED_MACHINE' and 'managed_machine_data' not in ma and ma['state'] == 'MAINTENANCE'
    assert mb['state'] == 'AGENT_UNREACHABLE'


# --------------------------------------------------------------------------- paging


def _page(api, page, size, path='/inventory/v1/machines', **extra):
    return api.get(path, page=page, size=size, **extra)


def test_paging_empty_fleet(ctl, api):
    ctl.reset(fleet=0)
    api.login()
    r = api.get('/inventory/v1/machines')
    assert r.status_code == 200 and r.json() == [] and 'HAS_MORE_RECORDS' not in r.headers
    r = _page(api, 1, 10)
    assert r.status_code == 200 and r.json() == [] and 'HAS_MORE_RECORDS' not in r.headers
    assert r.headers['X-TOTAL-COUNT'] == '0'
    r = _page(api, 2, 10)
    assert r.status_code == 400 and error_key(r) == 'common.pagination.page.invalid'
    assert api.get('/inventory/v1/desktop-pools').json()[0]['name'] == 'hzn-pool-01'
    assert api.get('/inventory/v1/sessions', page=1, size=10).json() == []


def test_paging_one_machine(ctl, api):
    ctl.reset(fleet=1)
    api.login()
    r = _page(api, 1, 1)
    assert r.status_code == 200 and len(r.json()) == 1 and 'HAS_MORE_RECORDS' not in r.headers
    assert _page(api, 2, 1).status_code == 400
    r = _page(api, 1, 1000)
    assert len(r.json()) == 1 and 'HAS_MORE_RECORDS' not in r.headers


@pytest.mark.parametrize('size', [5, 30])
def test_paging_exactly_one_page(ctl, api, size):
    ctl.reset(fleet=size)
    api.login()
    r = _page(api, 1, size)
    assert len(r.json()) == size and 'HAS_MORE_RECORDS' not in r.headers
    assert r.headers['X-TOTAL-COUNT'] == str(size)
    assert _page(api, 2, size).status_code == 400


def test_paging_one_page_plus_one(ctl, api):
    ctl.reset(fleet=6)
    api.login()
    r = _page(api, 1, 5)
    assert len(r.json()) == 5 and r.headers['HAS_MORE_RECORDS'] == 'TRUE'
    r2 = _page(api, 2, 5)
    assert len(r2.json()) == 1 and 'HAS_MORE_RECORDS' not in r2.headers
    assert _page(api, 3, 5).status_code == 400
    ids = [m['id'] for m in r.json() + r2.json()]
    assert sorted(ids) == sorted(d['id'] for d in desktops(ctl))


def test_paging_at_max_size_1001_machines(ctl, api):
    ctl.reset(fleet=1001)
    api.login()
    r = _page(api, 1, 1000)
    assert len(r.json()) == 1000 and r.headers['HAS_MORE_RECORDS'] == 'TRUE'
    assert r.headers['X-TOTAL-COUNT'] == '1001'
    r2 = _page(api, 2, 1000)
    assert len(r2.json()) == 1 and 'HAS_MORE_RECORDS' not in r2.headers
    assert len({m['id'] for m in r.json() + r2.json()}) == 1001
    r = _page(api, 1, 1001)
    assert r.status_code == 400 and error_key(r) == 'common.pagination.size.exceeded'


def test_paging_walk_small_pages(ctl, api):
    seen = []
    page = 1
    while True:
        r = _page(api, page, 7, path='/inventory/v2/machines')
        assert r.status_code == 200
        seen += [m['id'] for m in r.json()]
        if r.headers.get('HAS_MORE_RECORDS') != 'TRUE':
            break
        page += 1
    assert page == 5 and seen == [d['id'] for d in desktops(ctl)]


@pytest.mark.parametrize('params', [
    {'page': 1}, {'size': 10}, {'page': 0, 'size': 10}, {'page': 1, 'size': 0}, {'page': -1, 'size': 5},
    {'page': 'a', 'size': 5}, {'page': 1, 'size': 1001},
])
def test_paging_invalid_parameters(api, params):
    for path in ('/inventory/v1/machines', '/inventory/v1/sessions', '/inventory/v2/desktop-pools'):
        r = api.get(path, **params)
        assert r.status_code == 400, (path, params)
        assert r.json()['status'] == 'BAD_REQUEST'


def test_sorting(ctl, api):
    names = [m['name'] for m in api.machines(1, sort_by='name', order_by='DESC')]
    assert names == sorted(names, reverse=True)
    assert api.get('/inventory/v1/machines', order_by='ASC').status_code == 400
    assert api.get('/inventory/v1/machines', sort_by='in_maintenance_mode').status_code == 400


# --------------------------------------------------------------------------- filters


def test_filter_equals_or_and_not(ctl, api):
    state = desktops(ctl)
    pools = sorted({d['pool'] for d in state})
    in_pool = [d['id'] for d in state if d['pool'] == pools[0]]
    got = api.machines(1, filter={'type': 'Equals', 'name': 'desktop_pool_id', 'value': pools[0]})
    assert [m['id'] for m in got] == in_pool
    two = [state[0]['id'], state[5]['id']]
    got = api.machines(1, filter={'type': 'Or', 'filters': [{'type': 'Equals', 'name': 'id', 'value': i} for i in two]})
    assert [m['id'] for m in got] == two
    got = api.machines(1, filter={'type': 'And', 'filters': [
        {'type': 'Equals', 'name': 'desktop_pool_id', 'value': pools[0]},
        {'type': 'Equals', 'name': 'state', 'value': 'AVAILABLE'}]})
    assert {m['id'] for m in got} == {d['id'] for d in state if d['pool'] == pools[0] and idle_on(d)}
    got = api.machines(1, filter={'type': 'Not', 'filter': {'type': 'Equals', 'name': 'desktop_pool_id',
                                                            'value': pools[0]}})
    assert len(got) == len(state) - len(in_pool)
    off = [d['id'] for d in state if d['power'] == 'off']
    got = api.machines(1, filter={'type': 'Equals', 'name': 'managed_machine_data.virtual_machine_power_state',
                                  'value': 'POWERED_OFF'})
    assert [m['id'] for m in got] == off


def test_filter_string_matches(ctl, api):
    state = desktops(ctl)
    d = state[3]
    assert [m['id'] for m in api.machines(1, filter={'type': 'StartsWith', 'name': 'name', 'value': d['name']})] == [d['id']]
    assert len(api.machines(1, filter={'type': 'Contains', 'name': 'name', 'value': 'hzn-'})) == len(state)
    assert len(api.machines(1, filter={'type': 'EndsWith', 'name': 'dns_name', 'value': '.example.com'})) == len(state)
    sid = api.machine(d['id'])['user_ids'][0]
    got = api.machines(1, filter={'type': 'NotEquals', 'name': 'user_ids', 'value': sid})
    assert d['id'] not in [m['id'] for m in got] and len(got) == len(state) - 1
    got = api.machines(1, filter={'type': 'Contains', 'name': 'name', 'value': [state[0]['name'], state[1]['name']]})
    assert len(got) == 2


@pytest.mark.parametrize('flt,key', [
    ({'type': 'Equals', 'name': 'managed_machine_data.in_maintenance_mode', 'value': True},
     'common.filter.field.unsupported'),
    ({'type': 'Equals', 'name': 'in_maintenance_mode', 'value': True}, 'common.filter.field.unsupported'),
    ({'type': 'StartsWith', 'name': 'id', 'value': 'a'}, 'common.filter.type.unsupported'),
    ({'type': 'In', 'name': 'id', 'value': ['a']}, 'common.filter.type.invalid'),
    ({'type': 'Or', 'filters': []}, 'common.filter.invalid'),
    ({'type': 'Equals', 'name': 'id'}, 'common.filter.invalid'),
    ({'type': 'Equals', 'name': 'id', 'value': ['a', 'b']}, 'common.filter.invalid'),
    ({'name': 'id', 'value': 'a'}, 'common.filter.invalid'),
    ('desktop_pool_id eq x', 'common.filter.invalid'),
])
def test_filter_refused(api, flt, key):
    r = api.get('/inventory/v1/machines', filter=flt if isinstance(flt, dict) else flt)
    assert r.status_code == 400 and error_key(r) == key


def test_request_line_too_long_is_html_400(ctl, api):
    ids = [d['id'] for d in desktops(ctl)] * 4  # ~120 ids: over 8 KB once encoded
    r = api.get('/inventory/v1/machines', filter={'type': 'Or', 'filters': [
        {'type': 'Equals', 'name': 'id', 'value': i} for i in ids]})
    assert r.status_code == 400 and r.headers['Content-Type'].startswith('text/html')


def test_unknown_path_is_404(api):
    r = api.get('/inventory/v1/no-such-thing')
    assert r.status_code == 404 and r.json()['error'] == 'Not Found'


# --------------------------------------------------------------------------- pools


def test_desktop_pools_v1_and_v2(ctl, api):
    pools = ctl.state()['pools']
    r = api.get('/inventory/v1/desktop-pools', page=1, size=1)  # v1 has no paging: parameters ignored
    assert r.status_code == 200 and [p['id'] for p in r.json()] == [p['id'] for p in pools]
    p1 = r.json()[0]
    assert p1['name'] == pools[0]['name'] and p1['type'] == 'AUTOMATED' and 'settings' in p1
    r = api.get('/inventory/v2/desktop-pools', page=1, size=2)
    assert len(r.json()) == 2 and r.headers['HAS_MORE_RECORDS'] == 'TRUE'
    assert r.json()[0]['user_assignment'] in ('DEDICATED', 'FLOATING')
    r = api.get('/inventory/v2/desktop-pools', filter={'type': 'Equals', 'name': 'name', 'value': pools[1]['name']})
    assert [p['id'] for p in r.json()] == [pools[1]['id']]
    assert api.get('/inventory/v2/desktop-pools', filter={'type': 'EndsWith', 'name': 'name', 'value': '1'}).status_code == 400


# =========================================================================== maintenance


def test_enter_and_exit_maintenance(ctl, api):
    a, b = pick(ctl, lambda d: not d['maintenance'], 2)
    ids = [a['id'], b['id']]
    r = api.post('/inventory/v1/machines/action/enter-maintenance', ids)
    assert r.status_code == 200
    assert r.json() == [{'id': a['id'], 'status_code': 200}, {'id': b['id'], 'status_code': 200}]
    for m in (api.machine(a['id']), api.machine(b['id'])):
        assert m['managed_machine_data']['in_maintenance_mode'] is True and m['state'] == 'MAINTENANCE'
    assert {d['id'] for d in desktops(ctl) if d['maintenance']} == set(ids)
    r = api.post('/inventory/v1/machines/action/exit-maintenance', ids)
    assert [i['status_code'] for i in r.json()] == [200, 200]
    assert not any(d['maintenance'] for d in desktops(ctl))
    assert api.machine(a['id'])['state'] != 'MAINTENANCE'
    stats = ctl.stats()
    assert stats['by_op']['enter_maintenance'] == 1 and stats['by_op']['exit_maintenance'] == 1
    assert stats['writes'] == 2


def test_maintenance_repeat_is_whole_request_400(ctl, api):
    assert hz.MAINTENANCE_REPEAT == 'request_400'
    a, b = pick(ctl, lambda d: not d['maintenance'], 2)
    ctl.patch(a['id'], maintenance=True)
    r = api.post('/inventory/v1/machines/action/enter-maintenance', [b['id'], a['id']])
    assert r.status_code == 400 and error_key(r) == 'inventory.machine.state.invalid'
    assert {d['id'] for d in desktops(ctl) if d['maintenance']} == {a['id']}  # nothing applied
    r = api.post('/inventory/v1/machines/action/exit-maintenance', [b['id']])
    assert r.status_code == 400
    assert api.post('/inventory/v1/machines/action/exit-maintenance', [a['id']]).status_code == 200


def test_maintenance_unknown_id_and_perid_fault(ctl, api):
    a, b, c = pick(ctl, lambda d: not d['maintenance'], 3)
    ctl.faults([{'kind': 'perid', 'ids': [b['id']], 'ops': ['enter_maintenance']}])
    unknown = '11111111-2222-4333-8444-555555555555'
    r = api.post('/inventory/v1/machines/action/enter-maintenance', [a['id'], unknown, b['id'], c['id']])
    assert r.status_code == 200
    items = r.json()
    assert [i['id'] for i in items] == [a['id'], unknown, b['id'], c['id']]
    assert items[0] == {'id': a['id'], 'status_code': 200}
    assert items[1]['status_code'] == 404 and items[1]['errors'][0]['error_key'] == 'inventory.machine.not.found'
    assert items[2]['status_code'] == hz.PERID_FAULT[0] and items[2]['errors'][0]['error_key'] == hz.PERID_FAULT[1]
    assert isinstance(items[2]['timestamp'], int)
    assert items[3]['status_code'] == 200
    assert {d['id'] for d in desktops(ctl) if d['maintenance']} == {a['id'], c['id']}


@pytest.mark.parametrize('body', [{'machine_ids': ['x']}, [], ['a', 'a'], [1, 2], 'x'])
def test_maintenance_wrong_body_is_400(api, body):
    r = api.post('/inventory/v1/machines/action/enter-maintenance', body)
    assert r.status_code == 400 and r.json()['status'] == 'BAD_REQUEST'


def test_maintenance_malformed_json_is_400(api):
    r = api.post('/inventory/v1/machines/action/enter-maintenance', raw=b'[not json',
                 params=None)
    assert r.status_code == 400


def test_held_machine_needs_enforce(ctl, api):
    a, b = pick(ctl, lambda d: not d['maintenance'], 2)
    ctl.patch(a['id'], extra={'held': True})
    r = api.post('/inventory/v1/machines/action/enter-maintenance', [a['id'], b['id']])
    items = r.json()
    assert items[0]['status_code'] == 400 and items[0]['errors'][0]['error_key'] == 'inventory.machine.held'
    assert items[1]['status_code'] == 200
    r = api.post('/inventory/v1/machines/action/enter-maintenance', [a['id']], params={'enforce': 'false'})
    assert r.json()[0]['status_code'] == 400
    r = api.post('/inventory/v1/machines/action/enter-maintenance', [a['id']], params={'enforce': 'true'})
    assert r.json() == [{'id': a['id'], 'status_code': 200}]
    r = api.post('/inventory/v1/machines/action/exit-maintenance', [a['id']], params={'enforce': 'maybe'})
    assert r.status_code == 200  # exit has no enforce parameter: ignored
    assert api.post('/inventory/v1/machines/action/enter-maintenance', [b['id']],
                    params={'enforce': 'maybe'}).status_code == 400


# =========================================================================== power actions


def test_restart_2512_takes_object_body(ctl, api):
    idle = pick(ctl, idle_on)[0]
    busy = pick(ctl, with_session('connected'))[0]
    r = api.post('/inventory/v1/machines/action/restart', [idle['id']])
    assert r.status_code == 400  # bare array refused from 2412
    r = api.post('/inventory/v1/machines/action/restart', {'machineIds': [idle['id'], busy['id']],
                                                           'forceOperation': False})
    items = r.json()
    assert items[0] == {'id': idle['id'], 'status_code': 200}
    assert items[1]['status_code'] == 400
    assert items[1]['errors'][0]['error_key'] == 'inventory.machine.sessions.outstanding'
    assert api.machine(idle['id'])['state'] == 'IN_PROGRESS'
    assert api.machine(busy['id'])['state'] == 'CONNECTED'
    r = api.post('/inventory/v1/machines/action/restart', {'machineIds': [busy['id']], 'forceOperation': True})
    assert r.json() == [{'id': busy['id'], 'status_code': 200}]
    m = api.machine(busy['id'])
    assert m['state'] == 'IN_PROGRESS' and m['managed_machine_data']['virtual_machine_power_state'] == 'POWERED_ON'
    assert api.get('/inventory/v1/sessions', filter={'type': 'Equals', 'name': 'machine_id',
                                                     'value': busy['id']}).json() == []
    ctl.advance(hz.RESTART_SECONDS[1] + 1)
    for mid in (idle['id'], busy['id']):
        m = api.machine(mid)
        assert m['state'] == 'AVAILABLE' and m['managed_machine_data']['virtual_machine_power_state'] == 'POWERED_ON'
    assert api.post('/inventory/v1/machines/action/restart', {'machineIds': [idle['id']], 'extra': 1}).status_code == 400
    assert api.post('/inventory/v1/machines/action/restart', {'forceOperation': True}).status_code == 400


def test_restart_refusals_per_id(ctl, api):
    off = pick(ctl, lambda d: d['power'] == 'off')[0]
    idle = pick(ctl, idle_on)[0]
    unknown = '11111111-2222-4333-8444-555555555555'
    body = {'machineIds': [off['id'], unknown, idle['id']], 'forceOperation': True}
    items = api.post('/inventory/v1/machines/action/restart', body).json()
    assert items[0]['status_code'] == 400
    assert items[0]['errors'][0]['error_key'] == 'inventory.machine.power.state.invalid'
    assert items[1]['status_code'] == 404
    assert items[2]['status_code'] == 200
    items = api.post('/inventory/v1/machines/action/restart', {'machineIds': [idle['id']], 'forceOperation': True}).json()
    assert items[0]['errors'][0]['error_key'] == 'inventory.machine.operation.in.progress'


def test_reset_is_array_and_ends_sessions(ctl, api):
    busy = pick(ctl, with_session('connected'))[0]
    assert api.post('/inventory/v1/machines/action/reset', {'machineIds': [busy['id']]}).status_code == 400
    r = api.post('/inventory/v1/machines/action/reset', [busy['id']])
    assert r.json() == [{'id': busy['id'], 'status_code': 200}]
    d = next(x for x in desktops(ctl) if x['id'] == busy['id'])
    assert d['sessions'] == [] and d['transition']['kind'] == 'reset'
    ctl.advance(hz.RESET_SECONDS[1] + 1)
    assert api.machine(busy['id'])['state'] == 'AVAILABLE'


def test_shutdown_powers_off(ctl, api):
    idle = pick(ctl, idle_on)[0]
    assert api.post('/inventory/v1/machines/action/shutdown', [idle['id']]).status_code == 400
    r = api.post('/inventory/v1/machines/action/shutdown', {'machineIds': [idle['id']], 'forceOperation': False})
    assert r.json() == [{'id': idle['id'], 'status_code': 200}]
    assert api.machine(idle['id'])['state'] == 'IN_PROGRESS'
    ctl.advance(hz.SHUTDOWN_SECONDS[1] + 1)
    m = api.machine(idle['id'])
    assert m['state'] == 'PROVISIONED' and m['managed_machine_data']['virtual_machine_power_state'] == 'POWERED_OFF'
    assert next(x for x in desktops(ctl) if x['id'] == idle['id'])['power'] == 'off'


def test_2406_bodies_are_arrays(ctl2406, api2406):
    state = ctl2406.state()['desktops']
    busy = next(d for d in state if with_session('connected')(d))
    idle = next(d for d in state if idle_on(d))
    r = api2406.post('/inventory/v1/machines/action/restart', {'machineIds': [idle['id']], 'forceOperation': True})
    assert r.status_code == 400
    r = api2406.post('/inventory/v1/machines/action/restart', [busy['id']])  # no forceOperation before 2412
    assert r.json() == [{'id': busy['id'], 'status_code': 200}]
    r = api2406.post('/inventory/v1/machines/action/shutdown', [idle['id']])
    assert r.json() == [{'id': idle['id'], 'status_code': 200}]
    assert api2406.post('/inventory/v1/machines/action/shutdown',
                        {'machineIds': [idle['id']], 'forceOperation': True}).status_code == 400
    ctl2406.advance(120)
    after = {d['id']: d for d in ctl2406.state()['desktops']}
    assert after[idle['id']]['power'] == 'off' and after[busy['id']]['power'] == 'on'
    assert after[busy['id']]['sessions'] == []


def test_shutdown_absent_before_2406(tmp_path_factory):
    sim, info = _start(tmp_path_factory, '2312', fleet=3)
    try:
        api = Api(info)
        api.login()
        mid = SimControl(info, 'horizon').state()['desktops'][0]['id']
        r = api.post('/inventory/v1/machines/action/shutdown', [mid])
        assert r.status_code == 404
        assert api.post('/inventory/v1/machines/action/restart', [mid]).status_code == 200
        assert api.get('/config/v2/environment-properties').json()['local_connection_server_version'] == '8.12.0'
    finally:
        sim.stop()


# =========================================================================== sessions


def test_list_sessions_fields_and_filters(ctl, api):
    state = desktops(ctl)
    expected = [(d, s) for d in state for s in d['sessions']]
    r = api.get('/inventory/v1/sessions')
    assert r.status_code == 200
    got = r.json()
    assert [s['id'] for s in got] == [s['id'] for d, s in expected]
    for rec, (d, s) in zip(got, expected):
        assert rec['machine_id'] == d['id'] and rec['desktop_pool_id'] == d['pool']
        assert rec['session_type'] == 'DESKTOP'
        assert rec['session_state'] == s['state'].upper()
        assert rec['start_time'] == int(s['start_time'] * 1000)
        assert rec['user_id'].startswith('S-1-5-21-')
        assert ('session_protocol' in rec) == (s['state'] == 'connected')
    disc = api.get('/inventory/v1/sessions', filter={'type': 'Equals', 'name': 'session_state',
                                                     'value': 'DISCONNECTED'}).json()
    assert {s['id'] for s in disc} == {s['id'] for d, s in expected if s['state'] == 'disconnected'}
    d0, s0 = expected[0]
    one = api.get('/inventory/v1/sessions', filter={'type': 'And', 'filters': [
        {'type': 'Equals', 'name': 'machine_id', 'value': d0['id']},
        {'type': 'Equals', 'name': 'user_id', 'value': got[0]['user_id']}]}).json()
    assert [s['id'] for s in one] == [s0['id']]
    either = api.get('/inventory/v1/sessions', filter={'type': 'Or', 'filters': [
        {'type': 'Equals', 'name': 'id', 'value': s['id']} for d, s in expected[:3]]}).json()
    assert len(either) == 3
    t = got[0]['start_time']
    between = api.get('/inventory/v1/sessions', filter={'type': 'Between', 'name': 'start_time',
                                                        'from_value': t, 'to_value': t}).json()
    assert s0['id'] in [s['id'] for s in between]
    r = api.get('/inventory/v1/sessions', filter={'type': 'StartsWith', 'name': 'machine_id', 'value': 'a'})
    assert r.status_code == 400
    r = api.get('/inventory/v1/sessions', page=1, size=3)
    assert len(r.json()) == 3 and r.headers['HAS_MORE_RECORDS'] == 'TRUE'
    assert r.headers['X-TOTAL-COUNT'] == str(len(expected))
    r = api.get('/inventory/v1/sessions/%s' % s0['id'])
    assert r.status_code == 200 and r.json()['id'] == s0['id']
    assert api.get('/inventory/v1/sessions/nope').status_code == 404


def test_send_message(ctl, api):
    conn = [s['id'] for d in desktops(ctl) for s in d['sessions'] if s['state'] == 'connected']
    disc = [s['id'] for d in desktops(ctl) for s in d['sessions'] if s['state'] == 'disconnected']
    ctl.faults([{'kind': 'perid', 'ids': [conn[1]], 'ops': ['send_message']}])
    body = {'message': 'Maintenance at 22:00', 'message_type': 'WARNING',
            'session_ids': [conn[0], conn[1], disc[0], 'no-such-session']}
    r = api.post('/inventory/v1/sessions/action/send-message', body)
    assert r.status_code == 200
    items = r.json()
    assert items[0] == {'id': conn[0], 'status_code': 200}
    assert items[1]['status_code'] == hz.PERID_FAULT[0]
    assert items[2]['status_code'] == 400 and items[2]['errors'][0]['error_key'] == 'inventory.session.not.connected'
    assert items[3]['status_code'] == 404 and items[3]['errors'][0]['error_key'] == 'inventory.session.not.found'
    msgs = ctl.state()['messages']
    assert len(msgs) == 1
    assert msgs[0]['session_id'] == conn[0] and msgs[0]['text'] == 'Maintenance at 22:00'
    assert msgs[0]['message_type'] == 'WARNING' and msgs[0]['user'].startswith('user')
    assert msgs[0]['desktop_id'] == next(d['id'] for d in desktops(ctl) if any(s['id'] == conn[0] for s in d['sessions']))


@pytest.mark.parametrize('body', [
    {'message': 'x', 'message_type': 'NOTICE', 'session_ids': ['a']},
    {'message': 'x', 'session_ids': ['a']},
    {'message_type': 'INFO', 'session_ids': ['a']},
    {'message': 'x', 'message_type': 'INFO'},
    {'message': 'x', 'message_type': 'INFO', 'session_ids': []},
    ['a'],
])
def test_send_message_bad_body(ctl, api, body):
    r = api.post('/inventory/v1/sessions/action/send-message', body)
    assert r.status_code == 400
    assert ctl.state()['messages'] == []


def test_logoff_and_disconnect(ctl, api):
    state = desktops(ctl)
    conn_d = next(d for d in state if with_session('connected')(d))
    disc_d = next(d for d in state if with_session('disconnected')(d))
    conn, disc = conn_d['sessions'][0]['id'], disc_d['sessions'][0]['id']
    r = api.post('/inventory/v1/sessions/action/logoff', [conn, disc])
    items = r.json()
    assert items[0]['status_code'] == 400 and items[0]['errors'][0]['error_key'] == 'inventory.session.locked'
    assert items[1] == {'id': disc, 'status_code': 200}
    assert api.get('/inventory/v1/sessions/%s' % disc).status_code == 200  # logoff takes a moment
    assert ctl.state()['horizon']['pending_logoffs'] == [disc]
    r = api.post('/inventory/v1/sessions/action/logoff', [conn], params={'forced': 'true'})
    assert r.json() == [{'id': conn, 'status_code': 200}]
    ctl.advance(hz.LOGOFF_SECONDS + 1)
    assert api.get('/inventory/v1/sessions/%s' % conn).status_code == 404
    assert api.get('/inventory/v1/sessions/%s' % disc).status_code == 404
    assert api.machine(conn_d['id'])['state'] == 'AVAILABLE'
    assert api.machine(disc_d['id'])['state'] == 'AVAILABLE'
    r = api.post('/inventory/v1/sessions/action/logoff', [conn], params={'forced': 'true'})
    assert r.json()[0]['status_code'] == 404
    assert api.post('/inventory/v1/sessions/action/logoff', [conn], params={'forced': 'perhaps'}).status_code == 400
    other = next(d for d in desktops(ctl) if with_session('connected')(d))
    sid = other['sessions'][0]['id']
    r = api.post('/inventory/v1/sessions/action/disconnect', [sid])
    assert r.json() == [{'id': sid, 'status_code': 200}]
    assert api.machine(other['id'])['state'] == 'DISCONNECTED'
    assert api.post('/inventory/v1/sessions/action/disconnect', {'session_ids': [sid]}).status_code == 400


# =========================================================================== faults and control


def test_throttle_fault(ctl, api):
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['list_machines'], 'count': 1, 'retry_after': 0.05}])
    r = api.get('/inventory/v1/machines')
    assert r.status_code == 429
    assert r.headers['X-Rate-Limit-Retry-After-Seconds'] == '0.05'
    body = r.json()
    assert body['status'] == 'TOO_MANY_REQUESTS' and isinstance(body['timestamp'], int)
    assert body['errors'] == [{'error_key': 'common.api-throttle-limit.exceeded.error',
                               'error_message': 'API throttling limit have been exceeded. Retry after some time.'}]
    assert api.get('/inventory/v1/machines').status_code == 200  # count exhausted
    stats = ctl.stats()
    assert stats['faults'] == {'throttle': 1} and stats['by_op']['list_machines'] == 2
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['login'], 'count': 1, 'retry_after': 2}])
    r = api.login()
    assert r.status_code == 429 and r.headers['X-Rate-Limit-Retry-After-Seconds'] == '2'


def test_5xx_fault(ctl, api):
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['list_sessions'], 'count': 1}])
    r = api.get('/inventory/v1/sessions')
    assert r.status_code == 500 and r.json()['status'] == 'INTERNAL_SERVER_ERROR'
    assert r.json()['errors'][0]['error_key'] == 'common.internal.server.error'
    assert api.get('/inventory/v1/sessions').status_code == 200


def test_5xx_after_write_applies_it(ctl, api):
    d = pick(ctl, lambda x: not x['maintenance'])[0]
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['enter_maintenance'], 'count': 1, 'phase': 'after'}])
    r = api.post('/inventory/v1/machines/action/enter-maintenance', [d['id']])
    assert r.status_code == 500
    assert api.machine(d['id'])['managed_machine_data']['in_maintenance_mode'] is True
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['exit_maintenance'], 'count': 1, 'phase': 'before'}])
    assert api.post('/inventory/v1/machines/action/exit-maintenance', [d['id']]).status_code == 500
    assert api.machine(d['id'])['managed_machine_data']['in_maintenance_mode'] is True


def test_drop_fault(ctl, api):
    ctl.faults([{'kind': 'drop', 'rate': 1.0, 'ops': ['list_pools'], 'count': 1}])
    with pytest.raises(requests.ConnectionError):
        api.get('/inventory/v1/desktop-pools')
    assert api.get('/inventory/v1/desktop-pools').status_code == 200
    assert ctl.stats()['by_status'].get('dropped') == 1


def test_latency_fault(ctl, api):
    ctl.faults([{'kind': 'latency', 'rate': 1.0, 'ops': ['get_environment'], 'min_ms': 150, 'max_ms': 150}])
    start = time.monotonic()
    assert api.get('/config/v2/environment-properties').status_code == 200
    assert time.monotonic() - start >= 0.15
    start = time.monotonic()
    assert api.get('/inventory/v1/desktop-pools').status_code == 200
    assert time.monotonic() - start < 0.15


def test_perid_fault_on_power_and_logoff(ctl, api):
    idle = pick(ctl, idle_on, 2)
    disc = pick(ctl, with_session('disconnected'))[0]['sessions'][0]['id']
    ctl.faults([{'kind': 'perid', 'ids': [idle[0]['id'], disc], 'ops': ['reset_machines', 'logoff_sessions']}])
    items = api.post('/inventory/v1/machines/action/reset', [idle[0]['id'], idle[1]['id']]).json()
    assert [i['status_code'] for i in items] == [hz.PERID_FAULT[0], 200]
    assert api.post('/inventory/v1/sessions/action/logoff', [disc]).json()[0]['status_code'] == hz.PERID_FAULT[0]


def test_state_and_stats_reflect_changes(ctl, api):
    d = pick(ctl, lambda x: not x['maintenance'])[0]
    ctl.clear_stats()
    api.get('/inventory/v1/machines', page=1, size=10)
    api.post('/inventory/v1/machines/action/enter-maintenance', [d['id']])
    st = ctl.state()
    rec = next(x for x in st['desktops'] if x['id'] == d['id'])
    assert rec['maintenance'] is True and rec['horizon_state'] in ('MAINTENANCE',)
    assert st['horizon']['version'] == '2512'
    stats = ctl.stats()
    assert stats['by_op'] == {'list_machines': 1, 'enter_maintenance': 1}
    assert stats['writes'] == 1 and stats['by_method'] == {'GET': 1, 'POST': 1}
