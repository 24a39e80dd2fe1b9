"""The Huawei Cloud Workspace simulator: requests signed by the vendor SDK, vendor-shaped errors, every endpoint."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from conftest import SimControl
from core import Simulator

import huaweicloud as H  # tests/simulator is on sys.path (conftest)


@pytest.fixture(scope='module')
def hw_simulator(tmp_path_factory):
    """A Huawei-only simulator on a real-time clock (jobs and transitions move with ctl.advance)."""
    sim = Simulator(providers=('huaweicloud',), fleet=30, seed=7, time_scale=1.0, tls=True,
                    state_dir=str(tmp_path_factory.mktemp('hwsim')))
    info = sim.start()
    yield sim, info
    sim.stop()


@pytest.fixture
def ctl(hw_simulator):
    sim, info = hw_simulator
    c = SimControl(info, 'huaweicloud')
    c.reset()
    c.sim = sim
    c.pid = c.conn['project_id']
    yield c
    sim.options.pop('huawei_clock_skew', None)
    c.faults([])


# --------------------------------------------------------------------------- vendor-signed client


def sdk_prepare(ctl, method, path, query=(), body=None, ak=H.ACCESS_KEY, sk=H.SECRET_KEY, project='default',
                token=None, date=None):
    """A request built and signed exactly as huaweicloudsdkcore does (BasicCredentials.sign_request)."""
    host = urlsplit(ctl.endpoint).netloc
    if not path.startswith('/v'):
        path = '/v2/%s/%s' % (ctl.pid, path)
    data = json.dumps(body) if body is not None else ''
    headers = {'Content-Type': 'application/json', 'User-Agent': 'huaweicloud-usdk-python/3.0'}
    if date is not None:
        headers['X-Sdk-Date'] = date
    req = SdkRequest(method=method, schema='https', host=host, resource_path=path, query_params=list(query),
                     header_params=headers, body=data)
    creds = BasicCredentials(ak, sk, ctl.pid if project == 'default' else project)
    if token:
        creds = creds.with_security_token(token)
    signed = creds.sign_request(req)
    body_bytes = signed.body.encode() if isinstance(signed.body, str) else signed.body
    return {'method': method, 'url': 'https://%s%s' % (host, signed.uri), 'headers': dict(signed.header_params),
            'data': body_bytes or None}


def send(ctl, prepared):
    return requests.request(prepared['method'], prepared['url'], headers=prepared['headers'], data=prepared['data'],
                            verify=ctl.info['ca_path'], timeout=30)


def hw(ctl, method, path, query=(), body=None, **kw):
    return send(ctl, sdk_prepare(ctl, method, path, query, body, **kw))


def token_call(ctl, method, path, token, query=None, body=None):
    if not path.startswith('/v'):
        path = '/v2/%s/%s' % (ctl.pid, path)
    return requests.request(method, ctl.endpoint + path, params=query, json=body, verify=ctl.info['ca_path'],
                            headers={'X-Auth-Token': token, 'Content-Type': 'application/json'}, timeout=30)


def get_token(ctl, user=H.IAM_USER, password=H.IAM_PASSWORD, domain=H.DOMAIN_NAME, scope=None):
    body = {'auth': {'identity': {'methods': ['password'], 'password': {
        'user': {'name': user, 'password': password, 'domain': {'name': domain}}}},
        'scope': {'project': scope or {'name': H.REGION}}}}
    return requests.post(ctl.endpoint + '/v3/auth/tokens?nocatalog=true', json=body, verify=ctl.info['ca_path'],
                         headers={'Content-Type': 'application/json;charset=utf8'}, timeout=30)


def state(ctl):
    return {d['id']: d for d in ctl.state()['desktops']}


def desktops(ctl, **query):
    resp = hw(ctl, 'GET', 'desktops', list(query.items()))
    assert resp.status_code == 200, resp.text
    return resp.json()['desktops']


def assert_gateway(resp, status, code, text=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body['error_code'] == code
    assert body['request_id'] and resp.headers['X-Request-Id'] == body['request_id']
    if text:
        assert text in body['error_msg']
    return body


def assert_wks(resp, status, code, text=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body['error_code'] == code and body['error_msg']
    assert resp.headers.get('X-Request-Id')
    if text:
        assert text in body['error_msg']
    return body


# --------------------------------------------------------------------------- signature


def test_sdk_signed_requests_are_accepted(ctl):
    ids = [d['desktop_id'] for d in desktops(ctl)][:3]
    resp = hw(ctl, 'GET', 'desktops/detail', [('desktop_id', list(reversed(ids))), ('in_maintenance_mode', False),
                                              ('limit', 10), ('offset', 0)])
    assert resp.status_code == 200 and resp.json()['total_count'] == 3
    resp = hw(ctl, 'GET', 'desktops/detail', [('computer_name', u'wks é&=+/~ 中文%'), ('user_names', ['a b', 'ü'])])
    assert resp.status_code == 200 and resp.json() == {'desktops': [], 'total_count': 0}
    resp = hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids, 'in_maintenance_mode': True})
    assert resp.status_code == 200 and resp.content == b''
    assert all(state(ctl)[i]['maintenance'] for i in ids)
    resp = hw(ctl, 'POST', 'desktops/notifications', body={'desktop_ids': ids[:1], 'notifications': u'Wartung – 请注销'})
    assert resp.status_code == 200 and resp.json()['job_id']


def test_tampered_query_is_rejected(ctl):
    prepared = sdk_prepare(ctl, 'GET', 'desktops', [('limit', 2)])
    prepared['url'] = prepared['url'].replace('limit=2', 'limit=3')
    body = assert_gateway(send(ctl, prepared), 401, 'APIGW.0301', 'verify aksk signature fail')
    assert body['error_msg'].startswith('Incorrect IAM authentication information')
    assert 'canonicalRequest:GET|/v2/%s/desktops/|limit=3|' % ctl.pid in body['error_msg']


def test_tampered_body_is_rejected_and_nothing_applied(ctl):
    target = desktops(ctl)[0]['desktop_id']
    prepared = sdk_prepare(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': [target], 'in_maintenance_mode': False})
    prepared['data'] = json.dumps({'desktop_ids': [target], 'in_maintenance_mode': True}).encode()
    assert_gateway(send(ctl, prepared), 401, 'APIGW.0301', 'verify aksk signature fail')
    assert state(ctl)[target]['maintenance'] is False


def test_tampered_signed_header_and_path_are_rejected(ctl):
    prepared = sdk_prepare(ctl, 'GET', 'desktops')
    prepared['headers']['User-Agent'] = 'someone-else'
    assert_gateway(send(ctl, prepared), 401, 'APIGW.0301')
    prepared = sdk_prepare(ctl, 'GET', 'desktops')
    prepared['url'] = prepared['url'].replace('/desktops', '/desktop-pools')
    assert_gateway(send(ctl, prepared), 401, 'APIGW.0301')


def test_wrong_secret_and_unknown_access_key(ctl):
    assert_gateway(hw(ctl, 'GET', 'desktops', sk='not-the-secret'), 401, 'APIGW.0301', 'verify aksk signature fail')
    body = assert_gateway(hw(ctl, 'GET', 'desktops', ak='HPUAUNKNOWN000000000'), 401, 'APIGW.0301', 'ak not exist')
    assert 'HPUAUNKNOWN000000000' not in body['error_msg']


def test_signature_date_window(ctl):
    def date(offset):
        return time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(time.time() + offset))

    assert hw(ctl, 'GET', 'desktops', date=date(-600)).status_code == 200
    assert hw(ctl, 'GET', 'desktops', date=date(600)).status_code == 200
    body = assert_gateway(hw(ctl, 'GET', 'desktops', date=date(-1200)), 401, 'APIGW.0303', 'signature expired')
    assert 'server time:' in body['error_msg']
    assert_gateway(hw(ctl, 'GET', 'desktops', date=date(1200)), 401, 'APIGW.0303')
    ctl.sim.options['huawei_clock_skew'] = 3600  # the server clock runs an hour ahead
    assert_gateway(hw(ctl, 'GET', 'desktops'), 401, 'APIGW.0303')
    assert hw(ctl, 'GET', 'desktops', date=date(3600)).status_code == 200
    ctl.sim.options.pop('huawei_clock_skew')
    bad = sdk_prepare(ctl, 'GET', 'desktops')
    bad['headers']['X-Sdk-Date'] = '2026-01-01T00:00:00Z'
    assert_gateway(send(ctl, bad), 401, 'APIGW.0301', 'x-sdk-date')


def test_missing_or_malformed_authorization(ctl):
    resp = requests.get(ctl.endpoint + '/v2/%s/desktops' % ctl.pid, verify=ctl.info['ca_path'], timeout=30)
    assert_gateway(resp, 401, 'APIGW.0301')
    prepared = sdk_prepare(ctl, 'GET', 'desktops')
    prepared['headers']['Authorization'] = prepared['headers']['Authorization'].replace(
        'SignedHeaders=content-type;host;', 'SignedHeaders=content-type;')
    assert_gateway(send(ctl, prepared), 401, 'APIGW.0301', 'host and x-sdk-date')
    prepared['headers']['Authorization'] = 'AWS4-HMAC-SHA256 Credential=x'
    assert_gateway(send(ctl, prepared), 401, 'APIGW.0301', 'malformed')


def test_sts_credentials(ctl):
    assert hw(ctl, 'GET', 'desktops', ak=H.STS_ACCESS_KEY, sk=H.STS_SECRET_KEY, token=H.STS_TOKEN).status_code == 200
    assert_gateway(hw(ctl, 'GET', 'desktops', ak=H.STS_ACCESS_KEY, sk=H.STS_SECRET_KEY), 401, 'APIGW.0301',
                   'security token')
    assert_gateway(hw(ctl, 'GET', 'desktops', ak=H.STS_ACCESS_KEY, sk=H.STS_SECRET_KEY, token=H.STS_TOKEN + 'x'),
                   401, 'APIGW.0301')
    assert_gateway(hw(ctl, 'GET', 'desktops', token=H.STS_TOKEN), 401, 'APIGW.0301', 'permanent AK')
    assert ctl.sim.providers['huaweicloud'].sts_credentials()['security_token'] == H.STS_TOKEN


def test_project_must_be_the_credentials_project(ctl):
    other = 'f' * 32
    assert_gateway(hw(ctl, 'GET', '/v2/%s/desktops' % other, project=other), 403, 'APIGW.0302')
    assert_gateway(hw(ctl, 'GET', '/v2/%s/desktops' % other, project=None), 403, 'APIGW.0302')
    assert_gateway(hw(ctl, 'GET', 'desktops', project=other), 403, 'APIGW.0302', 'X-Project-Id')


def test_unknown_route_is_gateway_404(ctl):
    assert_gateway(hw(ctl, 'GET', 'no-such-thing'), 404, 'APIGW.0101', 'does not exist')
    assert_gateway(hw(ctl, 'DELETE', 'desktops/detail'), 404, 'APIGW.0101')


# --------------------------------------------------------------------------- IAM


def test_iam_project_discovery_signed_without_project(ctl):
    resp = hw(ctl, 'GET', '/v3/projects', [('name', H.REGION)], project=None)
    assert resp.status_code == 200, resp.text
    projects = resp.json()['projects']
    assert [p['id'] for p in projects] == [ctl.pid] and projects[0]['name'] == H.REGION
    assert hw(ctl, 'GET', '/v3/projects', [('name', 'xx-nowhere-1')], project=None).json()['projects'] == []
    assert len(hw(ctl, 'GET', '/v3/projects', project=None).json()['projects']) == 2  # region + MOS
    assert ctl.conn['region'] == H.REGION and len(ctl.pid) == 32 and int(ctl.pid, 16) >= 0


def test_iam_password_token_flow(ctl):
    resp = get_token(ctl)
    assert resp.status_code == 201, resp.text
    token = resp.headers['X-Subject-Token']
    assert len(token) > 2000  # real tokens are several KB: nothing may cap the header size
    info = resp.json()['token']
    assert info['project']['id'] == ctl.pid and info['expires_at'].endswith('Z') and 'catalog' not in info
    listed = token_call(ctl, 'GET', 'desktops', token, query={'limit': 5})
    assert listed.status_code == 200 and len(listed.json()['desktops']) == 5
    assert token_call(ctl, 'GET', '/v3/projects', token).status_code == 200
    by_id = get_token(ctl, scope={'id': ctl.pid})
    assert by_id.status_code == 201 and by_id.json()['token']['project']['id'] == ctl.pid
    assert ctl.stats()['by_op']['keystone_create_user_token_by_password'] == 2
    # a token scoped to another project of the account does not open this project's URLs
    mos = get_token(ctl, scope={'name': 'MOS'}).headers['X-Subject-Token']
    assert_gateway(token_call(ctl, 'GET', 'desktops', mos), 403, 'APIGW.0302')
    # expiry: 24 h of simulated time
    ctl.advance(H.TOKEN_LIFETIME + 1)
    assert_gateway(token_call(ctl, 'GET', 'desktops', token), 401, 'APIGW.0307', 'The token must be updated')
    assert_gateway(token_call(ctl, 'GET', 'desktops', 'MIIgarbage'), 401, 'APIGW.0301', 'decrypt token fail')


@pytest.mark.parametrize('kwargs, status, text', [
    ({'password': 'wrong'}, 401, 'The username or password is wrong.'),
    ({'user': 'nobody'}, 401, 'The username or password is wrong.'),
    ({'domain': 'other-account'}, 401, 'The username or password is wrong.'),
    ({'scope': {'name': 'xx-nowhere-1'}}, 400, 'project'),
])
def test_iam_token_refusals(ctl, kwargs, status, text):
    resp = get_token(ctl, **kwargs)
    assert resp.status_code == status
    err = resp.json()['error']
    assert err['code'] == status and text in err['message']
    assert 'X-Subject-Token' not in resp.headers


def test_iam_token_malformed_body(ctl):
    resp = requests.post(ctl.endpoint + '/v3/auth/tokens', data=b'{not json', verify=ctl.info['ca_path'], timeout=30)
    assert resp.status_code == 400 and resp.json()['error']['code'] == 400


# --------------------------------------------------------------------------- listing


def test_list_desktops_simple_records(ctl):
    rows = desktops(ctl)
    assert len(rows) == 30
    first = rows[0]
    for key in ('desktop_id', 'computer_name', 'pool_id', 'in_maintenance_mode', 'status', 'task_status',
                'connect_status', 'user_name', 'attach_user_infos', 'ip_address', 'desktop_type'):
        assert key in first
    st = state(ctl)
    for rec in rows:
        d = st[rec['desktop_id']]
        assert rec['pool_id'] == d['pool'] and rec['computer_name'] == d['name']
        assert rec['status'] == {'on': 'ACTIVE', 'off': 'SHUTOFF', 'hibernated': 'HIBERNATED'}[d['power']]
        expect = 'UNREGISTER' if d['power'] != 'on' else (
            'CONNECTED' if any(s['state'] == 'connected' for s in d['sessions'])
            else 'DISCONNECTED' if d['sessions'] else 'REGISTERED')
        assert rec['connect_status'] == expect
        assert rec['task_status'] is None and rec['in_maintenance_mode'] is False
    assert {r['status'] for r in rows} >= {'ACTIVE'}


def test_list_desktops_filters_and_limits(ctl):
    rows = desktops(ctl)
    pools = sorted({r['pool_id'] for r in rows})
    two = desktops(ctl, pool_id='%s,%s' % (pools[0], pools[1]))
    assert {r['pool_id'] for r in two} == set(pools[:2]) and len(two) == sum(1 for r in rows if r['pool_id'] in pools[:2])
    ids = [r['desktop_id'] for r in rows[:4]]
    resp = hw(ctl, 'GET', 'desktops', [('desktop_id', ids)])
    assert sorted(r['desktop_id'] for r in resp.json()['desktops']) == sorted(ids)
    assert hw(ctl, 'GET', 'desktops', [('desktop_id', ['00000000-0000-4000-8000-000000000000'])]).json() == \
        {'total_count': 0, 'desktops': []}
    assert_wks(hw(ctl, 'GET', 'desktops', [('desktop_id', ['id-%d' % i for i in range(101)])]), 400, 'WKS.0001', '100')
    assert_wks(hw(ctl, 'GET', 'desktops', [('limit', 1001)]), 400, 'WKS.0001', 'limit')
    assert_wks(hw(ctl, 'GET', 'desktops', [('limit', 'ten')]), 400, 'WKS.0001')
    assert_wks(hw(ctl, 'GET', 'desktops', [('status', 'RUNNING')]), 400, 'WKS.0001', 'status')
    zero = hw(ctl, 'GET', 'desktops', [('limit', 0)]).json()
    assert zero == {'total_count': 30, 'desktops': []}
    shut = desktops(ctl, status='SHUTOFF')
    assert all(r['status'] == 'SHUTOFF' for r in shut)


def test_list_desktops_detail_records_and_limits(ctl):
    resp = hw(ctl, 'GET', 'desktops/detail')
    assert resp.status_code == 200
    data = resp.json()
    assert data['total_count'] == 30 and len(data['desktops']) == 30
    rec = data['desktops'][0]
    assert 'pool_id' not in rec  # faithful: the detailed record does not say which pool
    for key in ('desktop_id', 'computer_name', 'status', 'task_status', 'in_maintenance_mode', 'login_status',
                'user_name', 'attach_user_infos', 'desktop_type', 'ipv4', 'ip_addresses', 'process'):
        assert key in rec
    assert rec['desktop_type'] == 'POOLED'
    assert_wks(hw(ctl, 'GET', 'desktops/detail', [('limit', 501)]), 400, 'WKS.0001', 'limit')
    assert hw(ctl, 'GET', 'desktops/detail', [('limit', 500)]).status_code == 200
    target = rec['desktop_id']
    ctl.patch(target, maintenance=True)
    inm = hw(ctl, 'GET', 'desktops/detail', [('in_maintenance_mode', True)]).json()
    assert [d['desktop_id'] for d in inm['desktops']] == [target] and inm['total_count'] == 1
    assert_wks(hw(ctl, 'GET', 'desktops/detail', [('in_maintenance_mode', 'yes')]), 400, 'WKS.0001')
    named = hw(ctl, 'GET', 'desktops/detail', [('computer_names', [rec['computer_name']])]).json()
    assert named['total_count'] == 1
    srt = hw(ctl, 'GET', 'desktops/detail', [('sort_field', 'computer_name'), ('sort_type', 'DESC')]).json()['desktops']
    assert [d['computer_name'] for d in srt] == sorted((d['computer_name'] for d in srt), reverse=True)


def test_show_desktop_detail(ctl):
    target = desktops(ctl)[0]['desktop_id']
    resp = hw(ctl, 'GET', 'desktops/%s' % target)
    assert resp.status_code == 200 and resp.json()['desktop']['desktop_id'] == target
    assert_wks(hw(ctl, 'GET', 'desktops/00000000-0000-4000-8000-000000000000'), 404, 'WKS.0202')


def _walk(ctl, path, key, limit):
    rows, offset, calls = [], 0, 0
    while True:
        data = hw(ctl, 'GET', path, [('offset', offset), ('limit', limit)]).json()
        calls += 1
        rows += data[key]
        offset += len(data[key])
        if not data[key] or offset >= data['total_count']:
            return rows, calls, data['total_count']


@pytest.mark.parametrize('fleet, limit, calls', [
    (0, 1000, 1), (1, 1000, 1), (7, 7, 1), (8, 7, 2), (1000, 1000, 1), (1001, 1000, 2),
])
def test_paging_edges_simple_list(ctl, fleet, limit, calls):
    ctl.reset(fleet=fleet)
    rows, made, total = _walk(ctl, 'desktops', 'desktops', limit)
    assert total == fleet and made == calls
    assert len({r['desktop_id'] for r in rows}) == fleet


@pytest.mark.parametrize('fleet, limit, calls', [(0, 500, 1), (1, 500, 1), (500, 500, 1), (501, 500, 2), (5, 2, 3)])
def test_paging_edges_detail_list(ctl, fleet, limit, calls):
    ctl.reset(fleet=fleet)
    rows, made, total = _walk(ctl, 'desktops/detail', 'desktops', limit)
    assert total == fleet and made == calls and len({r['desktop_id'] for r in rows}) == fleet
    default = hw(ctl, 'GET', 'desktops/detail').json()
    assert len(default['desktops']) == min(fleet, 500)


def test_desktop_pools(ctl):
    data = hw(ctl, 'GET', 'desktop-pools').json()
    assert data['total_count'] == 3 and len(data['desktop_pools']) == 3
    pool = data['desktop_pools'][0]
    for key in ('id', 'name', 'type', 'status', 'desktop_count', 'desktop_used', 'in_maintenance_mode'):
        assert key in pool
    assert sum(p['desktop_count'] for p in data['desktop_pools']) == 30
    page = hw(ctl, 'GET', 'desktop-pools', [('offset', 2), ('limit', 1)]).json()
    assert page['total_count'] == 3 and [p['id'] for p in page['desktop_pools']] == [data['desktop_pools'][2]['id']]
    assert_wks(hw(ctl, 'GET', 'desktop-pools', [('limit', 1001)]), 400, 'WKS.0001')
    shown = hw(ctl, 'GET', 'desktop-pools/%s' % pool['id'])
    assert shown.status_code == 200 and shown.json()['id'] == pool['id'] and 'desktop_pool' not in shown.json()
    assert_wks(hw(ctl, 'GET', 'desktop-pools/00000000-0000-4000-8000-000000000000'), 400, 'WKS.0001')


# --------------------------------------------------------------------------- maintenance


def test_maintenance_mode_set_and_cleared(ctl):
    ids = [r['desktop_id'] for r in desktops(ctl)[:5]]
    resp = hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids, 'in_maintenance_mode': True})
    assert resp.status_code == 200 and resp.content == b''
    assert {r['desktop_id'] for r in desktops(ctl) if r['in_maintenance_mode']} == set(ids)
    again = hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids, 'in_maintenance_mode': True})
    assert again.status_code == 200  # setting the same value again is accepted
    hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids[:2], 'in_maintenance_mode': False})
    assert {r['desktop_id'] for r in desktops(ctl) if r['in_maintenance_mode']} == set(ids[2:])
    assert ctl.stats()['writes'] == 3


def test_maintenance_mode_validation(ctl):
    ids = [r['desktop_id'] for r in desktops(ctl)]
    assert_wks(hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids[:1]}), 400, 'WKS.0001',
               'in_maintenance_mode')
    assert_wks(hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'in_maintenance_mode': True}), 400, 'WKS.0001',
               'desktop_ids')
    assert_wks(hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids[:1], 'in_maintenance_mode': 'true'}),
               400, 'WKS.0001')
    assert_wks(hw(ctl, 'PUT', 'desktops/maintenance-mode'), 400, 'WKS.0001', 'empty')
    many = ids + ['00000000-0000-4000-8000-%012d' % i for i in range(71)]
    assert_wks(hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': many, 'in_maintenance_mode': True}),
               400, 'WKS.0001', '100')
    ghost = '00000000-0000-4000-8000-000000000000'
    assert_wks(hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids[:3] + [ghost], 'in_maintenance_mode': True}),
               404, 'WKS.0202', ghost)
    assert not any(d['maintenance'] for d in ctl.state()['desktops'])  # nothing applied


def test_maintenance_perid_fault_rejects_whole_call(ctl):
    ids = [r['desktop_id'] for r in desktops(ctl)[:4]]
    ctl.faults([{'kind': 'perid', 'ids': [ids[2]], 'ops': ['set_maintenance_mode']}])
    body = assert_wks(hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids, 'in_maintenance_mode': True}),
                      *H.DESKTOP_REFUSED)
    assert ids[2] in body['error_msg']
    assert not any(d['maintenance'] for d in ctl.state()['desktops'])
    ok = hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids[:2], 'in_maintenance_mode': True})
    assert ok.status_code == 200


# --------------------------------------------------------------------------- power


def test_batch_action_accepts_and_refuses_per_desktop(ctl):
    rows = desktops(ctl)
    on = [r['desktop_id'] for r in rows if r['status'] == 'ACTIVE'][:3]
    off = [r['desktop_id'] for r in rows if r['status'] == 'SHUTOFF'][:1]
    ctl.faults([{'kind': 'perid', 'ids': [on[2]], 'ops': ['batch_run_desktops']}])
    resp = hw(ctl, 'POST', 'desktops/action', body={'desktop_ids': on + off, 'op_type': 'os-stop', 'type': 'SOFT'})
    assert resp.status_code == 200
    data = resp.json()
    assert 'job_id' not in data
    failed = {f['desktop_id']: f for f in data['failed_operation_list']}
    assert set(failed) == {on[2], off[0]}
    assert failed[off[0]]['error_code'] == H.ACTION_STATE_REFUSED and 'SHUTOFF' in failed[off[0]]['error_msg']
    assert failed[on[2]]['error_code'] == H.ACTION_FAULT and failed[on[2]]['desktop_name']
    now = {r['desktop_id']: r for r in desktops(ctl)}
    assert [now[i]['task_status'] for i in on[:2]] == ['powering-off', 'powering-off']
    assert now[on[0]]['status'] == 'ACTIVE' and now[on[2]]['task_status'] is None
    busy = hw(ctl, 'POST', 'desktops/action', body={'desktop_ids': on[:1], 'op_type': 'reboot'}).json()
    assert busy['failed_operation_list'][0]['error_code'] == H.ACTION_BUSY
    ctl.advance(100)
    now = {r['desktop_id']: r for r in desktops(ctl)}
    assert [(now[i]['status'], now[i]['task_status']) for i in on[:2]] == [('SHUTOFF', None)] * 2
    assert now[on[2]]['status'] == 'ACTIVE'
    assert all(not d['sessions'] for d in ctl.state()['desktops'] if d['id'] in on[:2])


def test_batch_action_state_rules_and_validation(ctl):
    rows = desktops(ctl)
    active = [r['desktop_id'] for r in rows if r['status'] == 'ACTIVE']
    refused = hw(ctl, 'POST', 'desktops/action', body={'desktop_ids': active[:2], 'op_type': 'os-start'}).json()
    assert [f['error_code'] for f in refused['failed_operation_list']] == [H.ACTION_STATE_REFUSED] * 2
    ok = hw(ctl, 'POST', 'desktops/action', body={'desktop_ids': active[:1], 'op_type': 'os-hibernate'}).json()
    assert ok['failed_operation_list'] == []
    ctl.advance(100)
    assert {r['desktop_id']: r for r in desktops(ctl)}[active[0]]['status'] == 'HIBERNATED'
    assert_wks(hw(ctl, 'POST', 'desktops/action', body={'desktop_ids': active[:1], 'op_type': 'hibernate'}), 400, 'WKS.0001')
    assert_wks(hw(ctl, 'POST', 'desktops/action', body={'desktop_ids': active[:1], 'op_type': 'reboot', 'type': 'SOFTLY'}),
               400, 'WKS.0001')
    assert_wks(hw(ctl, 'POST', 'desktops/action', body={'desktop_ids': [], 'op_type': 'reboot'}), 400, 'WKS.0001')
    many = ['00000000-0000-4000-8000-%012d' % i for i in range(101)]
    assert_wks(hw(ctl, 'POST', 'desktops/action', body={'desktop_ids': many, 'op_type': 'reboot'}), 400, 'WKS.0001', '100')
    ctl.patch(active[1], extra={'status': 'ERROR'})
    assert {r['desktop_id']: r for r in desktops(ctl)}[active[1]]['status'] == 'ERROR'


def _pool_of(ctl, index=0):
    pools = hw(ctl, 'GET', 'desktop-pools').json()['desktop_pools']
    return pools[index]


def _job(ctl, job_id):
    resp = hw(ctl, 'GET', 'workspace-jobs/%s' % job_id)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_pool_action_job_lifecycle_with_a_failed_sub_job(ctl):
    pool = _pool_of(ctl)
    members = desktops(ctl, pool_id=pool['id'])
    bad = next(r['desktop_id'] for r in members if r['status'] == 'ACTIVE')
    ctl.faults([{'kind': 'perid', 'ids': [bad], 'ops': ['execute_desktop_pool_action']}])
    assert_wks(hw(ctl, 'POST', 'desktop-pools/%s/action' % pool['id'], body={'op_type': 'os-hibernate'}), 400, 'WKS.0001')
    resp = hw(ctl, 'POST', 'desktop-pools/%s/action' % pool['id'], body={'op_type': 'os-stop', 'type': 'HARD'})
    assert resp.status_code == 200 and set(resp.json()) == {'job_id'}
    job = _job(ctl, resp.json()['job_id'])
    assert job['status'] == 'WAITING' and job['sub_jobs_total'] == len(members) == len(job['sub_jobs'])
    assert {s['status'] for s in job['sub_jobs']} == {'WAITING'} and job['end_time'] is None
    assert job['job_type'] == H.JOB_TYPE_POOL_ACTION
    ctl.advance(H.JOB_QUEUE_SECONDS + 1)
    job = _job(ctl, job['id'])
    assert job['status'] == 'RUNNING'
    running = {r['desktop_id']: r for r in desktops(ctl, pool_id=pool['id'])}
    assert any(r['task_status'] == 'powering-off' for r in running.values())
    ctl.advance(200)
    job = _job(ctl, job['id'])
    subs = {s['entities']['desktop_id']: s for s in job['sub_jobs']}
    assert subs[bad]['status'] == H.SUB_JOB_FAILED and subs[bad]['error_code'] == H.ACTION_FAULT and subs[bad]['fail_reason']
    assert all(s['status'] == 'SUCCESS' and s['process'] == 100 for i, s in subs.items() if i != bad)
    assert job['status'] == H.JOB_PARTIAL_FAILURE_STATUS and job['end_time']
    final = {r['desktop_id']: r['status'] for r in desktops(ctl, pool_id=pool['id'])}
    assert final[bad] == 'ACTIVE'
    assert all(v == 'SHUTOFF' for k, v in final.items() if k != bad)


def test_pool_action_all_failed_is_fail_and_noop_succeeds(ctl):
    pool = _pool_of(ctl, 1)
    members = [r['desktop_id'] for r in desktops(ctl, pool_id=pool['id'])]
    ctl.faults([{'kind': 'perid', 'ids': members, 'ops': ['execute_desktop_pool_action']}])
    job_id = hw(ctl, 'POST', 'desktop-pools/%s/action' % pool['id'], body={'op_type': 'reboot'}).json()['job_id']
    ctl.advance(60)
    job = _job(ctl, job_id)
    assert job['status'] == H.JOB_FAILED and job['job_error_code'] == H.ACTION_FAULT and job['fail_reason']
    ctl.faults([])
    ctl.reset()
    pool = _pool_of(ctl, 1)
    job_id = hw(ctl, 'POST', 'desktop-pools/%s/action' % pool['id'], body={'op_type': 'os-start'}).json()['job_id']
    ctl.advance(200)
    job = _job(ctl, job_id)
    # ACTIVE desktops were already started (sub-job SUCCESS, nothing done); the others were started
    assert job['status'] == 'SUCCESS'
    assert all(r['status'] == 'ACTIVE' for r in desktops(ctl, pool_id=pool['id']))
    hib = hw(ctl, 'POST', 'desktop-pools/%s/action' % pool['id'], body={'op_type': 'hibernate'})
    assert hib.status_code == 200


def test_show_job_embeds_at_most_100_and_sub_jobs_page(ctl):
    ctl.reset(fleet=330)  # 3 pools of 110
    pool = _pool_of(ctl)
    assert pool['desktop_count'] == 110
    not_running = sum(1 for r in desktops(ctl, pool_id=pool['id']) if r['status'] != 'ACTIVE')
    assert not_running
    job_id = hw(ctl, 'POST', 'desktop-pools/%s/action' % pool['id'], body={'op_type': 'reboot'}).json()['job_id']
    job = _job(ctl, job_id)
    assert job['sub_jobs_total'] == 110 and len(job['sub_jobs']) == H.JOB_EMBEDDED_SUB_JOBS
    first = hw(ctl, 'GET', 'workspace-sub-jobs', [('job_id', job_id), ('offset', 0), ('limit', 100)]).json()
    rest = hw(ctl, 'GET', 'workspace-sub-jobs', [('job_id', job_id), ('offset', 100), ('limit', 100)]).json()
    assert first['total_count'] == rest['total_count'] == 110 and len(first['jobs']) == 100 and len(rest['jobs']) == 10
    ids = {s['id'] for s in first['jobs']} | {s['id'] for s in rest['jobs']}
    assert len(ids) == 110 and all(s['job_id'] == job_id for s in rest['jobs'])
    assert len(hw(ctl, 'GET', 'workspace-sub-jobs', [('job_id', job_id)]).json()['jobs']) == 110  # default 1000
    assert_wks(hw(ctl, 'GET', 'workspace-sub-jobs', [('job_id', job_id), ('limit', 1001)]), 400, 'WKS.0001')
    assert_wks(hw(ctl, 'GET', 'workspace-sub-jobs'), 400, 'WKS.0001')
    assert_wks(hw(ctl, 'GET', 'workspace-sub-jobs', [('job_id', 'nope')]), 404, 'WKS.0202')
    assert_wks(hw(ctl, 'GET', 'workspace-jobs/nope'), 404, 'WKS.0202')
    ctl.advance(300)
    done = hw(ctl, 'GET', 'workspace-sub-jobs', [('job_id', job_id), ('status', 'SUCCESS')]).json()
    refused = hw(ctl, 'GET', 'workspace-sub-jobs', [('job_id', job_id), ('status', 'FAILED')]).json()
    assert done['total_count'] == 110 - not_running and refused['total_count'] == not_running  # reboot needs ACTIVE
    assert {s['error_code'] for s in refused['jobs']} == {H.ACTION_STATE_REFUSED}
    query = [('job_type', H.JOB_TYPE_POOL_ACTION), ('desktop_pool_id', pool['id'])]
    by_type = hw(ctl, 'GET', 'workspace-sub-jobs', query).json()
    assert by_type['total_count'] == 110


# --------------------------------------------------------------------------- notifications and logoff


def test_notifications_delivered_once_per_session(ctl):
    st = state(ctl)
    with_sessions = [i for i, d in st.items() if d['sessions'] and d['power'] == 'on'][:3]
    off = [i for i, d in st.items() if d['power'] == 'off'][:1]
    bad = with_sessions[2]
    ctl.faults([{'kind': 'perid', 'ids': [bad], 'ops': ['send_notifications']}])
    resp = hw(ctl, 'POST', 'desktops/notifications',
              body={'desktop_ids': with_sessions + off, 'notifications': 'Maintenance at 22:00'})
    job_id = resp.json()['job_id']
    assert ctl.state()['messages'] == []  # delivered by the job, not by the call
    ctl.advance(30)
    job = _job(ctl, job_id)
    subs = {s['entities']['desktop_id']: s for s in job['sub_jobs']}
    assert subs[bad]['status'] == H.SUB_JOB_FAILED and subs[off[0]]['status'] == H.SUB_JOB_FAILED
    assert subs[off[0]]['error_code'] == H.NOTIFY_NOT_RUNNING
    assert job['status'] == H.JOB_PARTIAL_FAILURE_STATUS
    messages = ctl.state()['messages']
    expected = {s['id'] for i in with_sessions[:2] for s in st[i]['sessions']}
    assert {m['session_id'] for m in messages} == expected and len(messages) == len(expected)
    assert all(m['text'] == 'Maintenance at 22:00' for m in messages)
    ctl.advance(30)
    hw(ctl, 'GET', 'desktops')
    assert len(ctl.state()['messages']) == len(expected)  # never twice


def test_notification_limits(ctl):
    ids = [r['desktop_id'] for r in desktops(ctl)]
    long_text = 'x' * (H.NOTIFICATION_MAX_LENGTH + 1)
    assert_wks(hw(ctl, 'POST', 'desktops/notifications', body={'desktop_ids': ids[:1], 'notifications': long_text}),
               400, 'WKS.0001')
    assert_wks(hw(ctl, 'POST', 'desktops/notifications', body={'desktop_ids': ids[:1]}), 400, 'WKS.0001')
    many = ids + ['00000000-0000-4000-8000-%012d' % i for i in range(71)]
    assert_wks(hw(ctl, 'POST', 'desktops/notifications', body={'desktop_ids': many, 'notifications': 'x'}),
               400, 'WKS.0001', '100')
    assert_wks(hw(ctl, 'POST', 'desktops/notifications', body={'desktop_ids': ['ghost'], 'notifications': 'x'}),
               404, 'WKS.0202')
    assert ctl.stats()['by_op']['send_notifications'] == 4


def test_pool_notifications(ctl):
    pool = _pool_of(ctl)
    st = state(ctl)
    members = [d for d in st.values() if d['pool'] == pool['id']]
    job_id = hw(ctl, 'POST', 'desktop-pools/%s/notifications' % pool['id'], body={'notifications': 'Bye'}).json()['job_id']
    ctl.advance(30)
    job = _job(ctl, job_id)
    assert job['sub_jobs_total'] == len(members)
    expected = {s['id'] for d in members if d['power'] == 'on' for s in d['sessions']}
    assert {m['session_id'] for m in ctl.state()['messages']} == expected
    failed = {s['entities']['desktop_id'] for s in job['sub_jobs'] if s['status'] == H.SUB_JOB_FAILED}
    assert failed == {d['id'] for d in members if d['power'] != 'on'}
    assert_wks(hw(ctl, 'POST', 'desktop-pools/%s/notifications' % pool['id'], body={}), 400, 'WKS.0001')


def test_logoff_ends_sessions_after_a_delay(ctl):
    st = state(ctl)
    targets = [i for i, d in st.items() if d['sessions'] and d['power'] == 'on'][:2]
    idle = [i for i, d in st.items() if not d['sessions'] and d['power'] == 'on'][:1]
    resp = hw(ctl, 'POST', 'desktops/logoff', body={'desktop_ids': targets + idle, 'message': 'Logging you off'})
    assert resp.status_code == 200 and resp.content == b''
    assert all(state(ctl)[i]['sessions'] for i in targets)
    notices = ctl.state()['messages']
    assert {m['desktop_id'] for m in notices} == set(targets) and {m['message_type'] for m in notices} == {'logoff'}
    ctl.advance(H.LOGOFF_SECONDS + 1)
    after = {r['desktop_id']: r for r in desktops(ctl)}
    assert all(after[i]['connect_status'] == 'REGISTERED' for i in targets)
    assert_wks(hw(ctl, 'POST', 'desktops/logoff', body={'desktop_ids': ['ghost']}), 404, 'WKS.0202')
    ctl.faults([{'kind': 'perid', 'ids': [idle[0]], 'ops': ['batch_logoff_desktops']}])
    assert_wks(hw(ctl, 'POST', 'desktops/logoff', body={'desktop_ids': idle}), *H.DESKTOP_REFUSED)


# --------------------------------------------------------------------------- faults


def test_throttle_answer_is_vendor_shaped_and_applies_nothing(ctl):
    ids = [r['desktop_id'] for r in desktops(ctl)[:2]]
    ctl.faults([{'kind': 'throttle', 'ops': ['set_maintenance_mode'], 'count': 1, 'retry_after': 0.05}])
    resp = hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids, 'in_maintenance_mode': True})
    body = assert_gateway(resp, 429, 'APIG.0308', 'The throttling threshold has been reached')
    assert 'Retry-After' not in resp.headers and 'ratelimit,limit:' in body['error_msg']
    assert not any(d['maintenance'] for d in ctl.state()['desktops'])
    assert hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids, 'in_maintenance_mode': True}).status_code == 200
    stats = ctl.stats()
    assert stats['by_op']['set_maintenance_mode'] == 2 and stats['faults'] == {'throttle': 1}
    assert stats['by_status']['429'] == 1


def test_server_error_after_applying_a_write(ctl):
    ids = [r['desktop_id'] for r in desktops(ctl)[:2]]
    ctl.faults([{'kind': '5xx', 'ops': ['set_maintenance_mode'], 'count': 1, 'phase': 'after'}])
    resp = hw(ctl, 'PUT', 'desktops/maintenance-mode', body={'desktop_ids': ids, 'in_maintenance_mode': True})
    assert_wks(resp, 500, H.SERVER_ERROR[1])
    assert all(state(ctl)[i]['maintenance'] for i in ids)  # the change happened anyway
    ctl.faults([{'kind': '5xx', 'ops': ['list_desktops'], 'count': 1}])
    assert hw(ctl, 'GET', 'desktops').status_code == 500
    assert hw(ctl, 'GET', 'desktops').status_code == 200


def test_drop_and_latency(ctl):
    ctl.faults([{'kind': 'drop', 'ops': ['list_desktop_pools'], 'count': 1}])
    with pytest.raises(requests.exceptions.ConnectionError):
        hw(ctl, 'GET', 'desktop-pools')
    assert hw(ctl, 'GET', 'desktop-pools').status_code == 200
    ctl.faults([{'kind': 'latency', 'ops': ['list_desktop_pools'], 'min_ms': 150, 'max_ms': 150}])
    start = time.monotonic()
    assert hw(ctl, 'GET', 'desktop-pools').status_code == 200
    assert time.monotonic() - start >= 0.14
    assert ctl.stats()['faults'].get('drop') == 1


def test_credentials_in_ready_info(ctl):
    assert set(ctl.conn) >= {'provider', 'endpoint', 'region', 'project_id', 'access_key', 'secret_key'}
    assert 'username' not in ctl.conn and 'password' not in ctl.conn
    pw = ctl.sim.providers['huaweicloud'].password_credentials()
    assert pw == {'region': H.REGION, 'username': H.IAM_USER, 'password': H.IAM_PASSWORD, 'domain': H.DOMAIN_NAME}
    alt = ctl.sim.providers['huaweicloud'].alternate_credentials()
    assert alt['password'] == pw and alt['sts']['security_token'] == H.STS_TOKEN
