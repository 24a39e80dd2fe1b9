"""The Alibaba Cloud EDS simulator: vendor-signed requests, vendor-shaped errors, every Action it serves."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from urllib.parse import urlencode

import pytest
import requests

from alibabacloud_openapi_util.client import Client as OpenApiUtil
from alibabacloud_tea_openapi.client import Client as TeaClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils as TeaUtils
from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
from darabonba.runtime import RuntimeOptions

from conftest import SimControl
from core import Simulator

import alicloud as A  # tests/simulator is on sys.path (conftest)

REGION = A.REGION


@pytest.fixture(scope='module')
def ali_simulator(tmp_path_factory):
    """An Alibaba-only simulator on a real-time clock (transitions move only with ctl.advance)."""
    sim = Simulator(providers=("alicloud",), fleet=30, seed=7, time_scale=1.0, tls=True,
                    state_dir=str(tmp_path_factory.mktemp('alisim')))
    info = sim.start()
    yield sim, info
    sim.stop()


@pytest.fixture
def ctl(ali_simulator):
    sim, info = ali_simulator
    c = SimControl(info, 'alicloud')
    c.reset()
    c.sim = sim
    yield c
    sim.options.pop('alicloud_clock_skew', None)
    c.faults([])


# --------------------------------------------------------------------------- vendor-signed clients


def _date(offset=0.0):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + offset))


def v3_request(ctl, action, query, ak=A.ACCESS_KEY, sk=A.SECRET_KEY, token=None, nonce=None, date_offset=0.0,
               method='POST', version=A.API_VERSION, body=b''):
    """Build a request exactly as tea-openapi do_request does, signed by the vendor's get_authorization."""
    host = ctl.endpoint.split('://', 1)[1]
    q = TeaUtils.query(query)  # vendor list flattening
    headers = {
        'host': host, 'x-acs-version': version, 'x-acs-action': action, 'user-agent': 'AlibabaCloud (test) TeaDSL/2',
        'x-acs-date': _date(date_offset), 'x-acs-signature-nonce': nonce or TeaUtils.get_nonce(),
        'accept': 'application/json', 'x-acs-content-sha256': hashlib.sha256(body).hexdigest(),
    }
    if token:
        headers['x-acs-accesskey-id'] = ak
        headers['x-acs-security-token'] = token

    class R:
        pass

    r = R()
    r.method, r.pathname, r.query, r.headers = method, '/', q, headers
    headers['Authorization'] = TeaUtils.get_authorization(r, 'ACS3-HMAC-SHA256', headers['x-acs-content-sha256'], ak, sk)
    return {'method': method, 'url': ctl.endpoint + '/?' + urlencode(q), 'headers': headers, 'data': body}


def v1_request(ctl, action, query, ak=A.ACCESS_KEY, sk=A.SECRET_KEY, token=None, method='POST', ts_offset=0.0,
               nonce=None):
    """A V1 (HMAC-SHA1) RPC request signed by openapi-util's get_rpcsignature, as do_rpcrequest builds it."""
    q = {'Action': action, 'Format': 'json', 'Version': A.API_VERSION, 'Timestamp': _date(ts_offset),
         'SignatureNonce': nonce or uuid.uuid4().hex}
    q.update(OpenApiUtil.query(query))
    if token:
        q['SecurityToken'] = token
    q.update(SignatureMethod='HMAC-SHA1', SignatureVersion='1.0', AccessKeyId=ak)
    q['Signature'] = OpenApiUtil.get_rpcsignature(q, method, sk)
    return {'method': method, 'url': ctl.endpoint + '/?' + urlencode(q), 'headers': {'accept': 'application/json'}}


HTTP = requests.Session()


def send(ctl, spec):
    resp = HTTP.request(spec['method'], spec['url'], headers=spec['headers'], data=spec.get('data'),
                        verify=ctl.info['ca_path'], timeout=10)
    return resp.status_code, resp.json() if resp.content else None, resp


def call(ctl, action, **query):
    if 'RegionId' not in query and action not in ('SendConsoleMessage', 'DescribeConsoleMessages'):
        query['RegionId'] = REGION
    query = {k: v for k, v in query.items() if v is not None}
    return send(ctl, v3_request(ctl, action, query))


def ok(ctl, action, **query):
    status, body, _resp = call(ctl, action, **query)
    assert status == 200, body
    return body


def err(ctl, action, status, code, **query):
    got, body, _resp = call(ctl, action, **query)
    assert (got, body.get('Code')) == (status, code), body
    assert set(body) >= {'RequestId', 'HostId', 'Code', 'Message', 'Recommend'}
    return body


def by_op(ctl, op):
    return ctl.stats()['by_op'].get(op, 0)


def desktops_state(ctl):
    return {d['id']: d for d in ctl.state()['desktops']}


def all_ids(ctl):
    return [d['id'] for d in ctl.state()['desktops']]


def pooled_all(ctl, **query):
    """Every desktop through NextToken paging (FilterDesktopGroup=false)."""
    out, token, pages = [], None, 0
    while True:
        body = ok(ctl, 'DescribeDesktops', FilterDesktopGroup='false', NextToken=token, **query)
        pages += 1
        out += body['Desktops']
        token = body['NextToken']
        if not token:
            return out, pages


# --------------------------------------------------------------------------- auth


def test_vendor_sdk_client_v3_and_v1_are_accepted(ctl):
    """The real tea-openapi client (default V3, and signature_algorithm='v2' = V1 HMAC-SHA1) gets answers."""
    host = ctl.endpoint.split('://', 1)[1]
    params = Params(action='DescribeDesktops', version=A.API_VERSION, protocol='HTTPS', pathname='/', method='POST',
                    auth_type='AK', style='RPC', req_body_type='formData', body_type='json')
    query = {'RegionId': REGION, 'MaxResults': '7', 'FilterDesktopGroup': 'false', 'DesktopId': None}
    for algorithm in (None, 'v2'):
        client = TeaClient(Config(access_key_id=A.ACCESS_KEY, access_key_secret=A.SECRET_KEY, endpoint=host,
                                  protocol='https', region_id=REGION, signature_algorithm=algorithm))
        out = client.call_api(params, OpenApiRequest(query=OpenApiUtil.query(query)),
                              RuntimeOptions(ca=ctl.info['ca_path'], autoretry=False))
        assert out['statusCode'] == 200
        assert len(out['body']['Desktops']) == 7 and out['body']['NextToken']
    # STS through the SDK as well
    client = TeaClient(Config(access_key_id=A.STS_ACCESS_KEY, access_key_secret=A.STS_SECRET_KEY,
                              security_token=A.STS_TOKEN, endpoint=host, protocol='https', region_id=REGION))
    out = client.call_api(params, OpenApiRequest(query={'RegionId': REGION}),
                          RuntimeOptions(ca=ctl.info['ca_path'], autoretry=False))
    assert out['statusCode'] == 200


def test_vendor_sdk_sees_vendor_shaped_error(ctl):
    host = ctl.endpoint.split('://', 1)[1]
    client = TeaClient(Config(access_key_id=A.ACCESS_KEY, access_key_secret='wrong', endpoint=host, protocol='https',
                              region_id=REGION))
    params = Params(action='DescribeDesktops', version=A.API_VERSION, protocol='HTTPS', pathname='/', method='POST',
                    auth_type='AK', style='RPC', req_body_type='formData', body_type='json')
    with pytest.raises(ClientException) as exc:
        client.call_api(params, OpenApiRequest(query={'RegionId': REGION}),
                        RuntimeOptions(ca=ctl.info['ca_path'], autoretry=False))
    assert exc.value.code == 'SignatureDoesNotMatch' and exc.value.status_code == 403


@pytest.mark.parametrize('value', ['plain', 'a b', u'ü東京☃', 'star*tilde~', 'plus+slash/eq=amp&pct%'])
def test_v3_and_v1_accept_awkward_values(ctl, value):
    for spec in (v3_request(ctl, 'DescribeDesktops', {'RegionId': REGION, 'DesktopName': value}),
                 v1_request(ctl, 'DescribeDesktops', {'RegionId': REGION, 'DesktopName': value}),
                 v1_request(ctl, 'DescribeDesktops', {'RegionId': REGION, 'DesktopName': value}, method='GET')):
        status, body, _resp = send(ctl, spec)
        assert status == 200, body
        assert body['Desktops'] == []


def test_v3_list_params_and_get(ctl):
    ids = all_ids(ctl)[:12]
    spec = v3_request(ctl, 'DescribeDesktops', {'RegionId': REGION, 'DesktopId': ids, 'FilterDesktopGroup': 'false',
                                                'MaxResults': '100'}, method='GET')
    status, body, _resp = send(ctl, spec)
    assert status == 200 and [d['DesktopId'] for d in body['Desktops']] == ids


def _tamper_query(spec, old, new):
    assert old in spec['url']
    spec['url'] = spec['url'].replace(old, new)
    return spec


def test_tampering_and_bad_credentials_are_rejected(ctl):
    base = {'RegionId': REGION, 'MaxResults': '5'}
    cases = [
        (_tamper_query(v3_request(ctl, 'DescribeDesktops', base), 'MaxResults=5', 'MaxResults=6'), 403,
         'SignatureDoesNotMatch'),
        (_tamper_query(v1_request(ctl, 'DescribeDesktops', base), 'MaxResults=5', 'MaxResults=6'), 403,
         'SignatureDoesNotMatch'),
        (v3_request(ctl, 'DescribeDesktops', base, sk='not-the-secret'), 403, 'SignatureDoesNotMatch'),
        (v1_request(ctl, 'DescribeDesktops', base, sk='not-the-secret'), 403, 'SignatureDoesNotMatch'),
        (v3_request(ctl, 'DescribeDesktops', base, ak='LTAI5tUnknownKey000000'), 404, 'InvalidAccessKeyId.NotFound'),
        (v1_request(ctl, 'DescribeDesktops', base, ak='LTAI5tUnknownKey000000'), 404, 'InvalidAccessKeyId.NotFound'),
        (v3_request(ctl, 'DescribeDesktops', base, date_offset=-20 * 60), 400, 'InvalidTimeStamp.Expired'),
        (v1_request(ctl, 'DescribeDesktops', base, ts_offset=20 * 60), 400, 'InvalidTimeStamp.Expired'),
        (v3_request(ctl, 'DescribeDesktops', base, version='2020-10-02'), 400, 'NoSuchVersion'),
    ]
    spec = v3_request(ctl, 'DescribeDesktops', base)
    spec['headers']['user-agent'] = 'changed'  # signed by the SDK
    cases.append((spec, 403, 'SignatureDoesNotMatch'))
    spec = v3_request(ctl, 'DescribeDesktops', base)
    spec['headers']['x-acs-extra'] = 'unsigned'
    cases.append((spec, 400, 'IncompleteSignature'))
    spec = v3_request(ctl, 'DescribeDesktops', base)
    del spec['headers']['x-acs-action']
    spec['url'] += '&Action=DescribeDesktops'
    cases.append((spec, 400, 'MissingParameter'))
    spec = v3_request(ctl, 'DescribeDesktops', base)
    spec['data'] = b'RegionId=cn-hangzhou'
    cases.append((spec, 400, 'IncompleteSignature'))
    spec = v3_request(ctl, 'DescribeDesktops', base)
    spec['headers']['Authorization'] = spec['headers']['Authorization'].replace('ACS3-HMAC-SHA256', 'ACS3-HMAC-SM3')
    cases.append((spec, 400, 'IncompleteSignature'))
    for spec, status, code in cases:
        got, body, _resp = send(ctl, spec)
        assert (got, body['Code']) == (status, code), body
        assert set(body) == {'RequestId', 'HostId', 'Code', 'Message', 'Recommend'}
    # the signature mismatch echoes the server's string to sign (V3: algorithm + hash; V1: the parameters)
    _status, body, _resp = send(ctl, v3_request(ctl, 'DescribeDesktops', base, sk='x'))
    assert 'server string to sign is:ACS3-HMAC-SHA256\n' in body['Message']
    assert ctl.stats()['by_op']['DescribeDesktops'] == len(cases) + 1


def test_no_signature_and_unknown_action(ctl):
    url = ctl.endpoint + '/?Action=DescribeDesktops&RegionId=cn-hangzhou'
    status, body, _resp = send(ctl, {'method': 'POST', 'url': url, 'headers': {}})
    assert (status, body['Code']) == (400, 'MissingParameter')
    status, body, _resp = send(ctl, v3_request(ctl, 'DescribeNothing', {'RegionId': REGION}))
    assert (status, body['Code']) == (404, 'InvalidAction.NotFound')
    status, body, _resp = send(ctl, {'method': 'POST', 'url': ctl.endpoint + '/', 'headers': {}})
    assert (status, body['Code']) == (400, 'MissingParameter') and '"Action"' in body['Message']


def test_reused_nonce_is_rejected(ctl):
    nonce = uuid.uuid4().hex
    assert send(ctl, v3_request(ctl, 'DescribeDesktops', {'RegionId': REGION}, nonce=nonce))[0] == 200
    status, body, _resp = send(ctl, v3_request(ctl, 'DescribeDesktops', {'RegionId': REGION}, nonce=nonce))
    assert (status, body['Code']) == (400, 'SignatureNonceUsed')
    nonce = uuid.uuid4().hex
    assert send(ctl, v1_request(ctl, 'DescribeDesktops', {'RegionId': REGION}, nonce=nonce))[0] == 200
    status, body, _resp = send(ctl, v1_request(ctl, 'DescribeDesktops', {'RegionId': REGION}, nonce=nonce))
    assert (status, body['Code']) == (400, 'SignatureNonceUsed')


def test_a_rejected_signature_does_not_burn_the_nonce(ctl):
    nonce = uuid.uuid4().hex
    assert send(ctl, v3_request(ctl, 'DescribeDesktops', {'RegionId': REGION}, sk='bad', nonce=nonce))[0] == 403
    assert send(ctl, v3_request(ctl, 'DescribeDesktops', {'RegionId': REGION}, nonce=nonce))[0] == 200


def test_server_clock_skew_option(ctl):
    ctl.sim.options['alicloud_clock_skew'] = 16 * 60
    status, body, _resp = send(ctl, v3_request(ctl, 'DescribeDesktops', {'RegionId': REGION}))
    assert (status, body['Code']) == (400, 'InvalidTimeStamp.Expired')
    assert send(ctl, v3_request(ctl, 'DescribeDesktops', {'RegionId': REGION}, date_offset=16 * 60))[0] == 200


def test_sts_tokens(ctl):
    q = {'RegionId': REGION}
    assert send(ctl, v3_request(ctl, 'DescribeDesktops', q, ak=A.STS_ACCESS_KEY, sk=A.STS_SECRET_KEY,
                                token=A.STS_TOKEN))[0] == 200
    assert send(ctl, v1_request(ctl, 'DescribeDesktops', q, ak=A.STS_ACCESS_KEY, sk=A.STS_SECRET_KEY,
                                token=A.STS_TOKEN))[0] == 200
    cases = [
        (v3_request(ctl, 'DescribeDesktops', q, ak=A.STS_ACCESS_KEY, sk=A.STS_SECRET_KEY), 'MissingSecurityToken'),
        (v3_request(ctl, 'DescribeDesktops', q, ak=A.STS_ACCESS_KEY, sk=A.STS_SECRET_KEY, token='forged'),
         'InvalidSecurityToken.Malformed'),
        (v1_request(ctl, 'DescribeDesktops', q, ak=A.STS_ACCESS_KEY, sk=A.STS_SECRET_KEY, token='forged'),
         'InvalidSecurityToken.Malformed'),
        (v3_request(ctl, 'DescribeDesktops', q, token=A.STS_TOKEN), 'InvalidSecurityToken.MismatchWithAccessKey'),
    ]
    for spec, code in cases:
        status, body, _resp = send(ctl, spec)
        assert (status, body['Code']) == (400, code)
    spec = v3_request(ctl, 'DescribeDesktops', q, ak=A.STS_ACCESS_KEY, sk=A.STS_SECRET_KEY, token=A.STS_TOKEN)
    spec['headers']['x-acs-security-token'] = A.STS_TOKEN[:-2] + 'AA'  # signed header changed
    assert send(ctl, spec)[1]['Code'] in ('SignatureDoesNotMatch', 'InvalidSecurityToken.Malformed')


def test_region_checks(ctl):
    err(ctl, 'DescribeDesktops', 400, 'MissingParameter', RegionId='')
    err(ctl, 'DescribeDesktops', 400, 'InvalidRegionId', RegionId='cn-shanghai')
    err(ctl, 'SetDesktopMaintenance', 400, 'InvalidRegionId', RegionId='eu-central-1', Mode='ENTER',
        DesktopIds=all_ids(ctl)[:1])


# --------------------------------------------------------------------------- DescribeDesktops


@pytest.mark.parametrize('fleet,max_results,pages', [(0, 100, 1), (1, 100, 1), (100, 100, 1), (101, 100, 2),
                                                     (250, 100, 3), (25, None, 3), (20, 10, 2)])
def test_describe_desktops_paging(ctl, fleet, max_results, pages):
    ctl.reset(fleet=fleet)
    got, n = pooled_all(ctl, MaxResults=max_results)
    assert n == pages
    assert [d['DesktopId'] for d in got] == all_ids(ctl)
    assert by_op(ctl, 'DescribeDesktops') == pages


def test_describe_desktops_page_shape_and_limits(ctl):
    body = ok(ctl, 'DescribeDesktops', FilterDesktopGroup='false', MaxResults=4)
    assert len(body['Desktops']) == 4 and body['NextToken'] and body['TotalCount'] == 30
    err(ctl, 'DescribeDesktops', 400, 'InvalidParameter', MaxResults=101)
    err(ctl, 'DescribeDesktops', 400, 'InvalidParameter', MaxResults=0)
    err(ctl, 'DescribeDesktops', 400, 'InvalidParameter', MaxResults='ten')
    err(ctl, 'DescribeDesktops', 400, 'InvalidParameter.NextToken', NextToken='made-up')
    # a token only continues the query it came from
    err(ctl, 'DescribeDesktops', 400, 'InvalidParameter.NextToken', FilterDesktopGroup='false',
        DesktopStatus='Running', NextToken=body['NextToken'])
    ok(ctl, 'DescribeDesktops', FilterDesktopGroup='false', MaxResults=50, NextToken=body['NextToken'])
    err(ctl, 'DescribeDesktops', 400, 'InvalidParameter', FilterDesktopGroup='yes')


def test_describe_desktops_page_number_style(ctl):
    first = ok(ctl, 'DescribeDesktops', FilterDesktopGroup='false', PageNumber=2, PageSize=20)
    assert first['PageNumber'] == 2 and first['PageSize'] == 20 and len(first['Desktops']) == 10
    assert first['TotalCount'] == 30


def test_filter_desktop_group_quirk(ctl):
    state = ctl.state()
    pool = state['pools'][0]['id']
    members = [d['id'] for d in state['desktops'] if d['pool'] == pool]
    assert ok(ctl, 'DescribeDesktops', MaxResults=100)['Desktops'] == []  # a naive client sees nothing
    assert ok(ctl, 'DescribeDesktops', DesktopGroupId=pool, MaxResults=100)['Desktops'] == []
    assert ok(ctl, 'DescribeDesktops', DesktopId=members[:3])['Desktops'] == []
    assert ok(ctl, 'DescribeDesktops', FilterDesktopGroup='true', MaxResults=100)['Desktops'] == []
    assert len(ok(ctl, 'DescribeDesktops', FilterDesktopGroup='false', MaxResults=100)['Desktops']) == 30
    assert len(ok(ctl, 'DescribeDesktops', OnlyDesktopGroup='true', MaxResults=100)['Desktops']) == 30
    # the SDK sends booleans as "True"
    assert len(ok(ctl, 'DescribeDesktops', OnlyDesktopGroup=True, MaxResults=100)['Desktops']) == 30
    got = ok(ctl, 'DescribeDesktops', DesktopGroupId=pool, OnlyDesktopGroup='true', MaxResults=100)['Desktops']
    assert [d['DesktopId'] for d in got] == members
    got = ok(ctl, 'DescribeDesktops', DesktopGroupId=pool, FilterDesktopGroup='false', MaxResults=100)['Desktops']
    assert [d['DesktopId'] for d in got] == members
    # contradictory flags: nothing
    assert ok(ctl, 'DescribeDesktops', OnlyDesktopGroup='true', FilterDesktopGroup='true')['Desktops'] == []


def test_desktop_id_filter(ctl):
    ids = all_ids(ctl)
    other_pool = ctl.state()['pools'][1]['id']
    got = ok(ctl, 'DescribeDesktops', DesktopId=ids[:5] + ['ecd-doesnotexist00000'], DesktopGroupId=other_pool,
             FilterDesktopGroup='false')['Desktops']
    assert [d['DesktopId'] for d in got] == ids[:5]  # DesktopGroupId ignored, unknown ids absent
    ctl.reset(fleet=101)
    ids = all_ids(ctl)
    assert len(ok(ctl, 'DescribeDesktops', DesktopId=ids[:100], FilterDesktopGroup='false',
                  MaxResults=100)['Desktops']) == 100
    body = err(ctl, 'DescribeDesktops', 400, 'InvalidParameter', DesktopId=ids, FilterDesktopGroup='false')
    assert 'DesktopId' in body['Message']


def test_desktop_records(ctl):
    ctl.reset(fleet=60)
    state = desktops_state(ctl)
    recs, _pages = pooled_all(ctl, MaxResults=100)
    assert len(recs) == 60
    seen = set()
    for r in recs:
        d = state[r['DesktopId']]
        assert r['DesktopId'].startswith('ecd-') and len(r['DesktopId']) == 21 and r['DesktopId'][4:].isalnum()
        assert r['DesktopGroupId'].startswith('dg-') and r['DesktopGroupId'] == d['pool']
        assert r['DesktopName'] == d['name'] and r['NetworkInterfaceIp'] == d['address']
        expected = {'on': 'Running', 'off': 'Stopped', 'hibernated': 'Hibernated'}[d['power']]
        assert r['DesktopStatus'] == expected
        seen.add(expected)
        assert r['ManagementFlags'] == [] and r['ManagementFlag'] == 'NoFlag'
        assert len(r['Sessions']) == len(d['sessions'])
        assert len(r['EndUserIds']) == 1 and {s['user'] for s in d['sessions']} <= set(r['EndUserIds'])
        assert [s['EndUserId'] for s in r['Sessions']] == [s['user'] for s in d['sessions']]
        connected = any(s['state'] == 'connected' for s in d['sessions'])
        assert r['ConnectionStatus'] == ('Connected' if connected else 'Disconnected')
        for key in ('OfficeSiteId', 'OsType', 'SupportHibernation', 'CreationTime', 'ChargeType', 'Cpu', 'Memory'):
            assert key in r
    assert seen == {'Running', 'Stopped', 'Hibernated'}
    running = next(r for r in recs if r['DesktopStatus'] == 'Running')
    got = ok(ctl, 'DescribeDesktops', DesktopStatus='Running', FilterDesktopGroup='false', MaxResults=100)['Desktops']
    assert running['DesktopId'] in [r['DesktopId'] for r in got]
    assert all(r['DesktopStatus'] == 'Running' for r in got)
    got = ok(ctl, 'DescribeDesktops', DesktopName=running['DesktopName'], FilterDesktopGroup='false')['Desktops']
    assert [r['DesktopId'] for r in got] == [running['DesktopId']]


def test_describe_desktop_groups(ctl):
    ctl.reset(fleet=30)
    state = ctl.state()
    groups = ok(ctl, 'DescribeDesktopGroups', MaxResults=100)
    assert [g['DesktopGroupId'] for g in groups['DesktopGroups']] == [p['id'] for p in state['pools']]
    assert groups['NextToken'] == ''
    g = groups['DesktopGroups'][0]
    assert g['DesktopGroupName'] == state['pools'][0]['name'] and g['DesktopCount'] == state['pools'][0]['desktops']
    first = ok(ctl, 'DescribeDesktopGroups', MaxResults=2)
    assert len(first['DesktopGroups']) == 2 and first['NextToken']
    second = ok(ctl, 'DescribeDesktopGroups', MaxResults=2, NextToken=first['NextToken'])
    assert len(second['DesktopGroups']) == 1 and second['NextToken'] == ''
    assert len(ok(ctl, 'DescribeDesktopGroups')['DesktopGroups']) == 3  # default 10
    err(ctl, 'DescribeDesktopGroups', 400, 'InvalidParameter', MaxResults=101)
    ctl.reset(fleet=0)
    assert len(ok(ctl, 'DescribeDesktopGroups', MaxResults=100)['DesktopGroups']) == 1


# --------------------------------------------------------------------------- SetDesktopMaintenance


def _maint(ctl):
    return {i for i, d in desktops_state(ctl).items() if d['maintenance']}


def test_set_desktop_maintenance_enter_exit(ctl):
    ids = all_ids(ctl)[:3]
    body = ok(ctl, 'SetDesktopMaintenance', Mode='ENTER', DesktopIds=ids)
    assert set(body) == {'RequestId'}
    assert _maint(ctl) == set(ids)
    recs = ok(ctl, 'DescribeDesktops', DesktopId=ids, FilterDesktopGroup='false')['Desktops']
    assert all(A.MAINTENANCE_FLAG in r['ManagementFlags'] for r in recs)
    ok(ctl, 'SetDesktopMaintenance', Mode='EXIT', DesktopIds=ids[:2])
    assert _maint(ctl) == {ids[2]}
    assert ctl.stats()['writes'] == 2


def test_set_desktop_maintenance_validation(ctl):
    ids = all_ids(ctl)
    err(ctl, 'SetDesktopMaintenance', 400, 'InvalidParameter.Mode', Mode='enter', DesktopIds=ids[:1])
    err(ctl, 'SetDesktopMaintenance', 400, 'MissingParameter', DesktopIds=ids[:1])
    body = err(ctl, 'SetDesktopMaintenance', 400, 'MissingParameter', Mode='ENTER', DesktopId=ids[:1])
    assert '"DesktopIds"' in body['Message']
    ctl.reset(fleet=101)
    ids = all_ids(ctl)
    err(ctl, 'SetDesktopMaintenance', 400, 'InvalidParameter', Mode='ENTER', DesktopIds=ids)
    ok(ctl, 'SetDesktopMaintenance', Mode='ENTER', DesktopIds=ids[:100])
    assert len(_maint(ctl)) == 100


def test_set_desktop_maintenance_whole_call_rejections(ctl):
    ids = all_ids(ctl)[:6]
    body = err(ctl, 'SetDesktopMaintenance', 404, 'InvalidDesktopId.NotFound', Mode='ENTER',
               DesktopIds=ids[:3] + ['ecd-nosuchdesktop0000'])
    assert 'ecd-nosuchdesktop0000' in body['Message']
    assert _maint(ctl) == set()
    ctl.faults([{'kind': 'perid', 'ids': [ids[4]], 'ops': ['SetDesktopMaintenance']}])
    body = err(ctl, 'SetDesktopMaintenance', 400, 'IncorrectDesktopStatus', Mode='ENTER', DesktopIds=ids)
    assert ids[4] in body['Message']
    assert _maint(ctl) == set()
    ok(ctl, 'SetDesktopMaintenance', Mode='ENTER', DesktopIds=ids[:4])
    body = err(ctl, 'SetDesktopMaintenance', *A.MAINTENANCE_CONFLICT, Mode='ENTER', DesktopIds=[ids[5], ids[0]])
    assert ids[0] in body['Message']
    assert _maint(ctl) == set(ids[:4])
    err(ctl, 'SetDesktopMaintenance', *A.MAINTENANCE_CONFLICT, Mode='EXIT', DesktopIds=[ids[5]])


# --------------------------------------------------------------------------- power


def _by_power(ctl, power, with_sessions=None):
    out = []
    for d in ctl.state()['desktops']:
        if d['power'] == power and not d['transitioning']:
            if with_sessions is None or bool(d['sessions']) == with_sessions:
                out.append(d['id'])
    return out


def _status(ctl, ids):
    recs = ok(ctl, 'DescribeDesktops', DesktopId=ids, FilterDesktopGroup='false', MaxResults=100)['Desktops']
    return {r['DesktopId']: r['DesktopStatus'] for r in recs}


def test_stop_and_start_are_asynchronous(ctl):
    ctl.reset(fleet=60)
    running = _by_power(ctl, 'on', with_sessions=True)[:2]
    ok(ctl, 'StopDesktops', DesktopId=running, StoppedMode='KeepCharging')
    assert set(_status(ctl, running).values()) == {'Stopping'}
    state = desktops_state(ctl)
    assert all(state[i]['sessions'] == [] for i in running)
    recs = ok(ctl, 'DescribeDesktops', DesktopId=running, FilterDesktopGroup='false')['Desktops']
    assert all(r['ConnectionStatus'] == 'Unknown' for r in recs)
    ctl.advance(A.TRANSITION_SECONDS['stop'] + 1)
    assert set(_status(ctl, running).values()) == {'Stopped'}
    ok(ctl, 'StartDesktops', DesktopId=running)
    assert set(_status(ctl, running).values()) == {'Starting'}
    ctl.advance(A.TRANSITION_SECONDS['start'] + 1)
    assert set(_status(ctl, running).values()) == {'Running'}


def test_reboot_hibernate_wakeup(ctl):
    ctl.reset(fleet=60)
    a, b = _by_power(ctl, 'on', with_sessions=True)[:2]
    ok(ctl, 'RebootDesktops', DesktopId=[a])  # no Rebooting status is documented: Stopping, then Starting
    assert _status(ctl, [a]) == {a: 'Stopping'} and desktops_state(ctl)[a]['sessions'] == []
    ctl.advance(A.TRANSITION_SECONDS['reboot'] / 2 + 1)
    assert _status(ctl, [a]) == {a: 'Starting'}
    ctl.advance(A.TRANSITION_SECONDS['reboot'] / 2)
    assert _status(ctl, [a]) == {a: 'Running'}
    ok(ctl, 'HibernateDesktops', DesktopId=[b])  # no Hibernating status is documented
    assert _status(ctl, [b]) == {b: 'Stopping'} and A.TRANSITION_STATUS['hibernate'] == ('Stopping',)
    err(ctl, 'WakeupDesktops', *A.WAKEUP_REFUSAL, DesktopId=[b])
    ctl.advance(A.TRANSITION_SECONDS['hibernate'] + 1)
    assert _status(ctl, [b]) == {b: 'Hibernated'}
    assert desktops_state(ctl)[b]['power'] == 'hibernated'
    err(ctl, 'WakeupDesktops', *A.WAKEUP_REFUSAL, DesktopId=[a, b])
    ok(ctl, 'WakeupDesktops', DesktopId=[b])
    ctl.advance(A.TRANSITION_SECONDS['wakeup'] + 1)
    assert _status(ctl, [b]) == {b: 'Running'}
    ctl.patch(a, extra={'support_hibernation': False})
    err(ctl, 'HibernateDesktops', *A.HIBERNATE_UNSUPPORTED, DesktopId=[a])


def test_power_preconditions_reject_the_whole_call(ctl):
    ctl.reset(fleet=60)
    running = _by_power(ctl, 'on')[:3]
    stopped = _by_power(ctl, 'off')[:1]
    assert stopped
    body = err(ctl, 'StopDesktops', 400, 'IncorrectDesktopStatus', DesktopId=running + stopped)
    assert stopped[0] in body['Message']
    body = err(ctl, 'StartDesktops', 400, 'IncorrectDesktopStatus', DesktopId=stopped + running[:1])
    assert running[0] in body['Message']
    assert not any(d['transitioning'] for d in ctl.state()['desktops'])
    err(ctl, 'StopDesktops', 404, 'InvalidDesktopId.NotFound', DesktopId=running + ['ecd-nosuchdesktop0000'])
    err(ctl, 'StopDesktops', 400, 'InvalidParameter', DesktopId=running, StoppedMode='Hard')
    err(ctl, 'StartDesktops', 400, 'MissingParameter', DesktopIds=stopped)  # plural is SetDesktopMaintenance's
    ok(ctl, 'StopDesktops', DesktopId=running[:1])
    err(ctl, 'StopDesktops', 400, 'IncorrectDesktopStatus', DesktopId=running[:1])  # already Stopping
    ctl.faults([{'kind': 'perid', 'ids': [running[2]], 'ops': ['RebootDesktops']}])
    body = err(ctl, 'RebootDesktops', 400, 'IncorrectDesktopStatus', DesktopId=running[1:])
    assert running[2] in body['Message']
    assert desktops_state(ctl)[running[1]]['transitioning'] is False


def test_power_batch_limit(ctl):
    ctl.reset(fleet=101)
    ids = all_ids(ctl)
    err(ctl, 'StopDesktops', 400, 'InvalidParameter', DesktopId=ids)
    running = _by_power(ctl, 'on')
    assert len(running) <= A.POWER_BATCH_LIMIT
    ok(ctl, 'StopDesktops', DesktopId=running)


# --------------------------------------------------------------------------- sessions


def test_describe_desktop_sessions(ctl):
    ctl.reset(fleet=60)
    state = ctl.state()
    expected = [(d['id'], s['user'], s['state']) for d in state['desktops'] for s in d['sessions']]
    assert expected
    body = ok(ctl, 'DescribeDesktopSessions', PageSize=100)
    assert body['TotalCount'] == len(expected)
    assert [(s['DesktopId'], s['EndUserId'], s['SessionStatus'].lower()) for s in body['Sessions']] == expected
    connected = ok(ctl, 'DescribeDesktopSessions', PageSize=100, SessionStatus='Connected')
    assert connected['TotalCount'] == sum(1 for e in expected if e[2] == 'connected')
    page2 = ok(ctl, 'DescribeDesktopSessions', PageSize=5, PageNumber=2)
    assert [s['DesktopId'] for s in page2['Sessions']] == [e[0] for e in expected[5:10]]
    one = ok(ctl, 'DescribeDesktopSessions', DesktopId=[expected[0][0]])
    assert [s['DesktopId'] for s in one['Sessions']] == [expected[0][0]]
    default = ok(ctl, 'DescribeDesktopSessions')['Sessions']  # default PageSize 10
    pairs = [(s['DesktopId'], s['EndUserId']) for s in body['Sessions'][:10]]
    assert [(s['DesktopId'], s['EndUserId']) for s in default] == pairs
    err(ctl, 'DescribeDesktopSessions', 400, 'InvalidParameter', PageSize=A.SESSIONS_PAGE_MAX + 1)
    err(ctl, 'DescribeDesktopSessions', 400, 'InvalidParameter', SessionStatus='Active')
    err(ctl, 'DescribeDesktopSessions', 400, 'MissingParameter', RegionId='')
    rec = body['Sessions'][0]
    for key in ('DesktopName', 'SessionStartTime', 'ClientIp', 'OfficeSiteId', 'TerminalInfo'):
        assert key in rec


def test_group_sessions_and_disconnect(ctl):
    ctl.reset(fleet=60)
    state = ctl.state()
    pool = state['pools'][0]['id']
    in_pool = [(d['id'], s['user']) for d in state['desktops'] if d['pool'] == pool for s in d['sessions']]
    body = ok(ctl, 'DescribeDesktopGroupSessions', DesktopGroupIds=[pool], MaxResults=100)
    assert [(s['DesktopId'], s['EndUserId']) for s in body['Sessions']] == in_pool
    target = next((d['id'], s['user']) for d in state['desktops'] for s in d['sessions'] if s['state'] == 'connected')
    sessions = [{'DesktopId': target[0], 'EndUserId': target[1]}, {'DesktopId': target[0], 'EndUserId': 'nobody'}]
    body = ok(ctl, 'DisconnectDesktopSessions', Sessions=sessions, PreCheck=True)
    assert body['InvalidSessions'] == [{'DesktopId': target[0], 'EndUserId': 'nobody'}]
    assert desktops_state(ctl)[target[0]]['sessions'][0]['state'] == 'connected'
    ok(ctl, 'DisconnectDesktopSessions', Sessions=sessions)
    assert desktops_state(ctl)[target[0]]['sessions'][0]['state'] == 'disconnected'


# --------------------------------------------------------------------------- messages


def test_console_messages(ctl):
    listed = ok(ctl, 'DescribeConsoleMessages')
    assert listed['TotalCount'] == str(len(A.CONSOLE_MESSAGES))
    assert {m['MessageId']: m['Status'] for m in listed['MessageList']} == {
        m['MessageId']: m['Status'] for m in A.CONSOLE_MESSAGES}
    body = ok(ctl, 'SendConsoleMessage', MessageId='msg-sim-maintenance')
    assert body['Success'] is True
    assert ok(ctl, 'DescribeConsoleMessages', MessageIds=['msg-sim-maintenance'])['MessageList'][0]['Status'] == 'Pushing'
    err(ctl, 'SendConsoleMessage', 400, 'InvalidMessageStatus', MessageId='msg-sim-maintenance')  # still pushing
    err(ctl, 'SendConsoleMessage', 400, 'InvalidMessageStatus', MessageId='msg-sim-draft')
    err(ctl, 'SendConsoleMessage', 400, 'InvalidMessageStatus', MessageId='msg-sim-expired')
    err(ctl, 'SendConsoleMessage', 404, 'InvalidMessageId.NotFound', MessageId='msg-nope')
    err(ctl, 'SendConsoleMessage', 400, 'MissingParameter')
    assert ctl.state()['messages'] == []  # delivery is asynchronous
    ctl.advance(A.PUSH_SECONDS + 1)
    state = ctl.state()
    sessions = {s['id'] for d in state['desktops'] for s in d['sessions']}
    msgs = state['messages']
    assert sorted(m['session_id'] for m in msgs) == sorted(sessions)
    assert all(m['text'] == A.CONSOLE_MESSAGES[0]['Content'] for m in msgs)
    assert ok(ctl, 'DescribeConsoleMessages', MessageIds=['msg-sim-maintenance'])['MessageList'][0]['Status'] == 'Published'


def _invocation(ctl, invoke_id, **extra):
    inv = ok(ctl, 'DescribeInvocations', InvokeId=invoke_id, IncludeInvokeDesktops=True, **extra)['Invocations']
    assert len(inv) == 1
    return inv[0]


def test_run_command_popup(ctl):
    ctl.reset(fleet=60)
    with_session = _by_power(ctl, 'on', with_sessions=True)[:2]
    no_session = _by_power(ctl, 'on', with_sessions=False)[:1]
    stopped = _by_power(ctl, 'off')[:1]
    linux = _by_power(ctl, 'on', with_sessions=True)[2]
    ctl.patch(linux, os_type='Linux')
    text = u'Wartung um 18:00 – bitte abmelden. 東京 "quotes" & $dollars'
    script = A.msg_script(text)
    ids = with_session + no_session + stopped + [linux]
    body = ok(ctl, 'RunCommand', DesktopId=ids, CommandContent=base64.b64encode(script.encode()).decode(),
              ContentEncoding='Base64', Type='RunPowerShellScript')
    assert set(body) == {'RequestId', 'InvokeId'}
    inv = _invocation(ctl, body['InvokeId'])
    assert inv['InvocationStatus'] == 'Running'
    assert ctl.state()['messages'] == []
    ctl.advance(A.INVOCATION_SECONDS + 1)
    inv = _invocation(ctl, body['InvokeId'])
    per = {x['DesktopId']: (x['InvocationStatus'], x['ErrorCode'], x['ExitCode']) for x in inv['InvokeDesktops']}
    want = dict((i, ('Success', '', 0)) for i in with_session)
    want.update({no_session[0]: ('Failed', 'ExitCodeNonzero', 1),  # msg * finds no session
                 stopped[0]: ('Invalid', 'InstanceNotRunning', None), linux: ('Invalid', 'CommandNotApplicable', None)})
    assert per == want
    assert inv['InvocationStatus'] == 'PartialFailed'
    state = desktops_state(ctl)
    msgs = ctl.state()['messages']
    expected = sorted(s['id'] for i in with_session for s in state[i]['sessions'])
    assert sorted(m['session_id'] for m in msgs) == expected
    assert all(m['text'] == text for m in msgs)
    # plain text works the same
    body = ok(ctl, 'RunCommand', DesktopId=with_session[:1], CommandContent=script, Type='RunPowerShellScript')
    ctl.advance(A.INVOCATION_SECONDS + 1)
    assert _invocation(ctl, body['InvokeId'])['InvocationStatus'] == 'Success'
    assert len(ctl.state()['messages']) == len(expected) + len(state[with_session[0]]['sessions'])


@pytest.mark.parametrize('script,ctype', [
    ('msg * hello', 'RunPowerShellScript'),
    (A.msg_script('hi') + '; Remove-Item C:\\ -Recurse', 'RunPowerShellScript'),
    (A.msg_script('hi').replace('msg * $t', 'msg * /TIME:5 $t'), 'RunPowerShellScript'),
    (A.msg_script('hi').replace("String('", "String('!"), 'RunPowerShellScript'),
    (A.msg_script('hi'), 'RunBatScript'),
])
def test_run_command_is_strict(ctl, script, ctype):
    target = _by_power(ctl, 'on', with_sessions=True)[0]
    body = ok(ctl, 'RunCommand', DesktopId=[target], CommandContent=script, Type=ctype)
    ctl.advance(A.INVOCATION_SECONDS + 1)
    inv = _invocation(ctl, body['InvokeId'])
    assert inv['InvocationStatus'] == 'Failed'
    assert ctl.state()['messages'] == []


def test_run_command_validation(ctl):
    ctl.reset(fleet=60)
    ids = all_ids(ctl)
    script = A.msg_script('x')
    err(ctl, 'RunCommand', 400, 'InvalidParameter', DesktopId=ids[:51], CommandContent=script, Type='RunPowerShellScript')
    err(ctl, 'RunCommand', 400, 'MissingParameter', DesktopId=ids[:1], Type='RunPowerShellScript')
    err(ctl, 'RunCommand', 400, 'InvalidParameter', DesktopId=ids[:1], CommandContent=script, Type='RunShellScript')
    err(ctl, 'RunCommand', 400, 'InvalidParameter', DesktopId=ids[:1], CommandContent='%%%', ContentEncoding='Base64',
        Type='RunPowerShellScript')
    err(ctl, 'RunCommand', 404, 'InvalidDesktopId.NotFound', DesktopId=['ecd-nosuchdesktop0000'], CommandContent=script,
        Type='RunPowerShellScript')
    ok(ctl, 'RunCommand', DesktopId=ids[:50], CommandContent=script, Type='RunPowerShellScript')


def test_run_command_end_user_and_perid_fault(ctl):
    ctl.reset(fleet=60)
    a, b = _by_power(ctl, 'on', with_sessions=True)[:2]
    ctl.faults([{'kind': 'perid', 'ids': [b], 'ops': ['RunCommand']}])
    user = desktops_state(ctl)[a]['sessions'][0]['user']
    body = ok(ctl, 'RunCommand', DesktopId=[a, b], CommandContent=A.msg_script('hi'), Type='RunPowerShellScript',
              EndUserId=user)
    ctl.advance(A.INVOCATION_SECONDS + 1)
    per = {x['DesktopId']: x for x in _invocation(ctl, body['InvokeId'])['InvokeDesktops']}
    assert per[a]['InvocationStatus'] == 'Success'
    assert (per[b]['InvocationStatus'], per[b]['ErrorCode']) == A.INVOCATION_CLIENT_DOWN[:2]
    assert {m['desktop_id'] for m in ctl.state()['messages']} == {a}
    # EndUserId without a session of that user on the desktop: the command is not applicable there
    other = _by_power(ctl, 'on', with_sessions=True)[2]
    body = ok(ctl, 'RunCommand', DesktopId=[other], CommandContent=A.msg_script('hi'), Type='RunPowerShellScript',
              EndUserId=user)
    row = _invocation(ctl, body['InvokeId'])['InvokeDesktops'][0]
    assert (row['InvocationStatus'], row['ErrorCode'], row['ErrorInfo']) == A.INVOCATION_NOT_APPLICABLE


def test_run_command_desktop_stopped_meanwhile_is_interrupted(ctl):
    a = _by_power(ctl, 'on', with_sessions=True)[0]
    body = ok(ctl, 'RunCommand', DesktopId=[a], CommandContent=A.msg_script('hi'), Type='RunPowerShellScript')
    ok(ctl, 'StopDesktops', DesktopId=[a])
    ctl.advance(A.INVOCATION_SECONDS + 1)
    row = _invocation(ctl, body['InvokeId'])['InvokeDesktops'][0]
    assert (row['InvocationStatus'], row['ErrorCode'], row['ErrorInfo']) == A.INVOCATION_INTERRUPTED
    assert ctl.state()['messages'] == []


def test_describe_invocations_returns_only_what_was_asked_for(ctl):
    ids = _by_power(ctl, 'on', with_sessions=True)[:2]
    body = ok(ctl, 'RunCommand', DesktopId=ids, CommandContent=A.msg_script('hi'), Type='RunPowerShellScript')
    ctl.advance(A.INVOCATION_SECONDS + 1)
    bare = ok(ctl, 'DescribeInvocations', InvokeId=body['InvokeId'])['Invocations'][0]
    assert 'InvokeDesktops' not in bare and bare['InvocationStatus'] == 'Success'  # IncludeInvokeDesktops not sent
    assert bare['InvokeDesktopCount'] == bare['InvokeDesktopSucceedCount'] == 2
    rows = _invocation(ctl, body['InvokeId'])['InvokeDesktops']
    assert len(rows) == 2 and not any('Output' in r for r in rows)  # IncludeOutput not sent: no Output
    rows = _invocation(ctl, body['InvokeId'], IncludeOutput=True)['InvokeDesktops']
    assert all(r['Output'] == '' for r in rows)  # Base64 of the (empty) output of msg
    one = _invocation(ctl, body['InvokeId'], DesktopIds=ids[1:])['InvokeDesktops']
    assert [r['DesktopId'] for r in one] == ids[1:]
    assert ok(ctl, 'DescribeInvocations', InvokeStatus='Running')['Invocations'] == []


def test_describe_invocations_page_size(ctl):
    for _n in range(12):
        ok(ctl, 'RunCommand', DesktopId=all_ids(ctl)[:1], CommandContent=A.msg_script('x'), Type='RunPowerShellScript')
    first = ok(ctl, 'DescribeInvocations')
    assert len(first['Invocations']) == A.INVOCATIONS_MAX_RESULTS[1] == 10 and first['NextToken']
    assert len(ok(ctl, 'DescribeInvocations', MaxResults=50)['Invocations']) == 12
    err(ctl, 'DescribeInvocations', 400, 'InvalidParameter', MaxResults=51)
    err(ctl, 'DescribeInvocations', 400, 'InvalidParameter', MaxResults=100)


def test_run_command_unknown_content_encoding_is_plain_text(ctl):
    target = _by_power(ctl, 'on', with_sessions=True)[0]
    body = ok(ctl, 'RunCommand', DesktopId=[target], CommandContent=A.msg_script('hi'), ContentEncoding='base64',
              Type='RunPowerShellScript')  # not a valid value (case): taken as PlainText, and the script is plain
    ctl.advance(A.INVOCATION_SECONDS + 1)
    assert _invocation(ctl, body['InvokeId'])['InvocationStatus'] == 'Success'
    assert [m['desktop_id'] for m in ctl.state()['messages']] == [target] * len(desktops_state(ctl)[target]['sessions'])


# --------------------------------------------------------------------------- faults and stats


def test_throttle_fault(ctl):
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['DescribeDesktops'], 'count': 1, 'retry_after': 0.25}])
    status, body, resp = call(ctl, 'DescribeDesktops')
    assert (status, body['Code'], body['Message']) == (400, 'Throttling.User', A.MSG_THROTTLED)
    assert resp.headers[A.RETRY_AFTER_HEADER] == '250'
    assert call(ctl, 'DescribeDesktops')[0] == 200
    assert ctl.stats()['faults'] == {'throttle': 1}


def test_throttle_is_what_tea_openapi_maps_to_throttling_exception(ctl):
    from alibabacloud_tea_openapi.exceptions import ThrottlingException
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['DescribeDesktops'], 'count': 1, 'retry_after': 2}])
    host = ctl.endpoint.split('://', 1)[1]
    client = TeaClient(Config(access_key_id=A.ACCESS_KEY, access_key_secret=A.SECRET_KEY, endpoint=host,
                              protocol='https', region_id=REGION))
    params = Params(action='DescribeDesktops', version=A.API_VERSION, protocol='HTTPS', pathname='/', method='POST',
                    auth_type='AK', style='RPC', req_body_type='formData', body_type='json')
    with pytest.raises(ThrottlingException) as exc:
        client.call_api(params, OpenApiRequest(query={'RegionId': REGION}),
                        RuntimeOptions(ca=ctl.info['ca_path'], autoretry=False))
    assert exc.value.retry_after == 2000 and exc.value.code == 'Throttling.User'


def test_server_error_faults(ctl):
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['DescribeDesktopGroups'], 'count': 2}])
    got = [call(ctl, 'DescribeDesktopGroups')[:2] for _i in range(3)]
    assert sorted((s, b.get('Code')) for s, b in got[:2]) == [(500, 'InternalError'), (503, 'ServiceUnavailable')]
    assert got[2][0] == 200


def test_5xx_after_a_write_applies_it(ctl):
    ids = all_ids(ctl)[:2]
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['write'], 'count': 1, 'phase': 'after'}])
    status, _body, _resp = call(ctl, 'SetDesktopMaintenance', Mode='ENTER', DesktopIds=ids)
    assert status in (500, 503)
    assert _maint(ctl) == set(ids)
    stats = ctl.stats()
    assert stats['writes'] == 1 and stats['by_op'] == {'SetDesktopMaintenance': 1}


def test_drop_and_latency_faults(ctl):
    ctl.faults([{'kind': 'drop', 'rate': 1.0, 'ops': ['DescribeDesktops'], 'count': 1}])
    with pytest.raises(requests.ConnectionError):
        call(ctl, 'DescribeDesktops')
    assert call(ctl, 'DescribeDesktops')[0] == 200
    ctl.faults([{'kind': 'latency', 'rate': 1.0, 'ops': ['DescribeDesktopGroups'], 'min_ms': 150, 'max_ms': 150}])
    start = time.monotonic()
    assert call(ctl, 'DescribeDesktopGroups')[0] == 200
    assert time.monotonic() - start >= 0.14


def test_stats_are_per_action(ctl):
    ok(ctl, 'DescribeDesktops')
    ok(ctl, 'DescribeDesktopGroups')
    ok(ctl, 'SetDesktopMaintenance', Mode='ENTER', DesktopIds=all_ids(ctl)[:1])
    stats = ctl.stats()
    assert stats['by_op'] == {'DescribeDesktops': 1, 'DescribeDesktopGroups': 1, 'SetDesktopMaintenance': 1}
    assert stats['writes'] == 1 and stats['by_method'] == {'POST': 3}
