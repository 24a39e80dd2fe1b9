"""Huawei SDK-HMAC-SHA256 signing and IAM token auth, proven against the vendor's own SDK code.

Two kinds of proof: the reference vectors of the notes (computed with the SDK ``Signer`` and an
independent re-implementation), and, for several request shapes, the Authorization header that
``huaweicloudsdkcore``'s ``Signer`` / ``BasicCredentials`` compute for the same request.
"""

from __future__ import annotations

import json

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from ansible_collections.vdi.fleet.plugins.module_utils.signing import huawei
from ansible_collections.vdi.fleet.plugins.module_utils.transport import USER_AGENT, encode_query, query_pairs

AK = 'AKEXAMPLE'
SK = 'SKEXAMPLE'
PROJECT = '0123456789abcdef0123456789abcdef'
HOST = 'workspace.cn-north-4.myhuaweicloud.com'
T0 = huawei.parse_date('20240101T000000Z')


def ours(method, path, pairs, body=b'', headers=None, host=HOST, project=PROJECT, token=None, ak=AK, sk=SK, clock=T0):
    hdrs = dict(headers if headers is not None else {'Content-Type': 'application/json'})
    signer = huawei.SdkHmacSigner(ak, sk, host, project_id=project, security_token=token, clock=lambda: clock)
    signer(method, path, pairs, hdrs, body)
    return hdrs


def sdk_sign(method, path, sdk_query, headers, body, project=PROJECT, token=None, ak=AK, sk=SK, host=HOST):
    """Sign with the SDK's own credentials + Signer path, reusing the date and host we put in ``headers``."""
    hdrs = dict((k, v) for k, v in headers.items() if k.lower() not in ('authorization', 'x-project-id', 'x-security-token'))
    req = SdkRequest(method=method, schema='https', host=host, resource_path=path, query_params=list(sdk_query),
                     header_params=hdrs, body=body)
    creds = BasicCredentials(ak, sk, project)
    if token:
        creds = creds.with_security_token(token)
    signed = creds.sign_request(req)
    return signed


# --------------------------------------------------------------------------- reference vectors


def test_vector_1_get_with_repeated_keys_and_boolean():
    pairs = query_pairs([('limit', 2), ('offset', 0), ('desktop_id', 'd2'), ('desktop_id', 'd1'),
                         ('in_maintenance_mode', True)])
    assert huawei.canonical_query(pairs) == 'desktop_id=d1&desktop_id=d2&in_maintenance_mode=true&limit=2&offset=0'
    hdrs = ours('GET', '/v2/%s/desktops/detail' % PROJECT, pairs)
    assert hdrs['X-Sdk-Date'] == '20240101T000000Z'
    assert hdrs['Host'] == HOST
    assert hdrs['X-Project-Id'] == PROJECT
    assert hdrs['Authorization'] == (
        'SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=content-type;host;x-project-id;x-sdk-date, '
        'Signature=bb16fe23431ad0d094bdfdaaec7def1412ca7ebe041bf088520e40c54120a39e')


def test_vector_2_put_with_json_body():
    body = json.dumps({'desktop_ids': ['d1'], 'in_maintenance_mode': True}).encode()
    assert huawei.payload_hash(body) == '354d5d224f9d156734e82815cc4feb0742b9dcf3b62854084954652c3acc4059'
    hdrs = ours('PUT', '/v2/%s/desktops/maintenance-mode' % PROJECT, [], body)
    assert hdrs['Authorization'].endswith('Signature=391ed55e6db8937e9d7fe4ff1f802f25fa34bdfd9711be2092d700a43036e32a')


def test_canonical_parts():
    assert huawei.canonical_uri('/v2/p/desktops/detail') == '/v2/p/desktops/detail/'
    assert huawei.canonical_uri('/v2/p/') == '/v2/p/'
    assert huawei.canonical_uri('/a%20b/c d/é') == '/a%20b/c%20d/%C3%A9/'
    assert huawei.payload_hash(b'') == huawei.EMPTY_SHA256 == \
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    assert huawei.payload_hash(b'x', {'x-sdk-content-sha256': 'UNSIGNED-PAYLOAD'}) == 'UNSIGNED-PAYLOAD'
    assert huawei.signed_header_names({'A_B': '1', 'Host': 'h', 'X-Sdk-Date': 'd', 'host': 'h'}) == ['host', 'x-sdk-date']
    assert huawei.canonical_headers({'Host': ' h ', 'X-Sdk-Date': 'd'}, ['host', 'x-sdk-date']) == 'host:h\nx-sdk-date:d\n'


# --------------------------------------------------------------------------- against the SDK


def _same_as_sdk(method, path, sdk_query, our_query, body=b'', headers=None, token=None, project=PROJECT, host=HOST):
    pairs = query_pairs(our_query)
    hdrs = ours(method, path, pairs, body, headers=headers, token=token, project=project, host=host)
    signed = sdk_sign(method, path, sdk_query, hdrs, body, project=project, token=token, host=host)
    assert hdrs['Authorization'] == signed.header_params['Authorization']
    # what the transport sends is exactly the query the SDK signs and sends
    qs = encode_query(pairs)
    assert signed.uri == (path + '?' + qs if qs else path)
    return hdrs, signed


def test_sdk_get_repeated_list_keys_and_booleans():
    path = '/v2/%s/desktops' % PROJECT
    hdrs, signed = _same_as_sdk(
        'GET', path,
        [('desktop_id', ['c3', 'a1', 'b2']), ('in_maintenance_mode', False), ('limit', 1000), ('offset', 0),
         ('pool_id', 'p1,p2')],
        {'desktop_id': ['c3', 'a1', 'b2'], 'in_maintenance_mode': False, 'limit': 1000, 'offset': 0, 'pool_id': 'p1,p2'},
        headers={'Accept': 'application/json', 'User-Agent': USER_AGENT})
    assert 'desktop_id=a1&desktop_id=b2&desktop_id=c3&in_maintenance_mode=false' in signed.uri
    assert 'pool_id=p1%2Cp2' in signed.uri
    assert 'SignedHeaders=accept;host;user-agent;x-project-id;x-sdk-date,' in hdrs['Authorization']


def test_sdk_put_json_body():
    body = json.dumps({'desktop_ids': ['a', 'b'], 'in_maintenance_mode': False}).encode()
    _same_as_sdk('PUT', '/v2/%s/desktops/maintenance-mode' % PROJECT, [], [], body=body,
                 headers={'Accept': 'application/json', 'User-Agent': USER_AGENT, 'Content-Type': 'application/json'})


def test_sdk_post_with_unicode_body():
    body = json.dumps({'desktop_ids': ['a'], 'notifications': u'Wartung um 22:00 – bitte abmelden. 请注销'}).encode()
    _same_as_sdk('POST', '/v2/%s/desktops/notifications' % PROJECT, [], [], body=body)


def test_sdk_non_ascii_and_special_query_values():
    values = [u'Zoë Müller', u'a b+c&d=e/f~g*h\'i(j)', u'中文名', u'~tilde', u'', u'100%']
    sdk_query = [('computer_names', list(values)), ('user_name', u'ops@example.com'), ('tag', 'k1=v1,k2=v2')]
    ours_query = [('computer_names', list(values)), ('user_name', u'ops@example.com'), ('tag', 'k1=v1,k2=v2')]
    hdrs, signed = _same_as_sdk('GET', '/v2/%s/desktops/detail' % PROJECT, sdk_query, ours_query)
    assert '%20' in signed.uri and '+' not in signed.uri.split('?', 1)[1]
    assert 'tag=k1%3Dv1%2Ck2%3Dv2' in signed.uri
    assert 'user_name=ops%40example.com' in signed.uri
    assert hdrs['Authorization'].startswith('SDK-HMAC-SHA256 Access=AKEXAMPLE, ')


def test_sdk_special_path_segment():
    _same_as_sdk('GET', '/v2/%s/desktops/ab c%%2Fd' % PROJECT, [], [])


def test_sdk_sts_security_token_is_signed():
    token = 'gQpjbi1ub3J0aC00' + 'x' * 600 + '=='
    hdrs, signed = _same_as_sdk('GET', '/v2/%s/desktop-pools' % PROJECT, [('limit', 1000)], {'limit': 1000},
                                token=token)
    assert hdrs['X-Security-Token'] == token
    assert 'x-security-token' in hdrs['Authorization'].split('SignedHeaders=')[1].split(',')[0].split(';')


def test_sdk_iam_projects_without_project_id_and_with_port():
    hdrs, signed = _same_as_sdk('GET', '/v3/projects', [('name', 'cn-north-4')], {'name': 'cn-north-4'},
                                project=None, host='127.0.0.1:8443', headers={'User-Agent': USER_AGENT})
    assert 'X-Project-Id' not in hdrs
    assert hdrs['Host'] == '127.0.0.1:8443'
    assert 'SignedHeaders=host;user-agent;x-sdk-date,' in hdrs['Authorization']


def test_sdk_non_json_content_type_is_unsigned_payload():
    body = b'a=1&b=2'
    hdrs, signed = _same_as_sdk('POST', '/v2/%s/x' % PROJECT, [], [], body=body,
                                headers={'Content-Type': 'application/x-www-form-urlencoded'})
    assert hdrs['X-Sdk-Content-Sha256'] == 'UNSIGNED-PAYLOAD'


def test_plain_sdk_signer_class_matches_too():
    """The bare Signer (no credentials wrapper) with X-Project-Id already in the headers."""
    pairs = query_pairs({'offset': 0, 'limit': 500})
    hdrs = ours('GET', '/v2/%s/desktops/detail' % PROJECT, pairs)
    req = SdkRequest(method='GET', schema='https', host=HOST, resource_path='/v2/%s/desktops/detail' % PROJECT,
                     query_params=[('offset', 0), ('limit', 500)],
                     header_params=dict((k, v) for k, v in hdrs.items() if k != 'Authorization'), body='')
    Signer(BasicCredentials(AK, SK)).sign(req)
    assert req.header_params['Authorization'] == hdrs['Authorization']


# --------------------------------------------------------------------------- signer behaviour


def test_fresh_date_on_every_call_and_old_authorization_replaced():
    now = [T0]
    signer = huawei.SdkHmacSigner(AK, SK, HOST, project_id=PROJECT, clock=lambda: now[0])
    first = {'Content-Type': 'application/json'}
    signer('GET', '/v2/p/desktops', [], first, b'')
    now[0] += 61
    second = {'Content-Type': 'application/json', 'authorization': 'stale'}
    signer('GET', '/v2/p/desktops', [], second, b'')
    assert first['X-Sdk-Date'] == '20240101T000000Z' and second['X-Sdk-Date'] == '20240101T000101Z'
    assert 'authorization' not in second and second['Authorization'] != first['Authorization']


def test_header_values_are_sent_as_signed():
    hdrs = ours('GET', '/v2/p/desktops', [], headers={'X-Custom': '  spaced  ', 'Content-Type': 'application/json'})
    assert hdrs['X-Custom'] == 'spaced'


def test_secret_never_in_repr():
    signer = huawei.SdkHmacSigner(AK, 'TopSecretSK', HOST, security_token='TopSecretToken')
    assert 'TopSecret' not in repr(signer)
    with pytest.raises(ValueError):
        huawei.SdkHmacSigner(AK, '', HOST)


def test_dates():
    assert huawei.format_date(T0) == '20240101T000000Z'
    assert huawei.parse_iso8601('2024-01-02T00:00:00.123000Z') == T0 + 86400
    assert huawei.parse_iso8601('garbage') is None
    with pytest.raises(ValueError):
        huawei.parse_date('2024-01-01T00:00:00Z')


# --------------------------------------------------------------------------- IAM token


class FakeResp:
    def __init__(self, token, body, status=201):
        self.headers = {'X-Subject-Token': token} if token else {}
        self._body = body
        self.status_code = status

    def json(self):
        return self._body


class FakeIam:
    endpoint = 'https://iam.cn-north-4.myhuaweicloud.com'

    def __init__(self, lifetime=86400, clock=lambda: T0):
        self.calls = []
        self.lifetime = lifetime
        self.clock = clock

    def request(self, method, path, **kwargs):
        self.calls.append((method, path, kwargs))
        expires = huawei.format_date(self.clock() + self.lifetime)
        iso = '%s-%s-%sT%s:%s:%s.000000Z' % (expires[0:4], expires[4:6], expires[6:8], expires[9:11], expires[11:13],
                                             expires[13:15])
        return FakeResp('TOKEN-%d' % len(self.calls), {'token': {'expires_at': iso, 'project': {'id': PROJECT}}})


@pytest.fixture(autouse=True)
def _fresh_cache():
    huawei.clear_token_cache()
    yield
    huawei.clear_token_cache()


def test_token_fetch_body_cache_and_sign_hook():
    iam = FakeIam()
    auth = huawei.IamTokenAuth(iam, 'ops', 'pw-secret', 'acme', region='cn-north-4', clock=lambda: T0)
    hdrs = {}
    auth('GET', '/v2/x', [], hdrs, b'')
    assert hdrs == {'X-Auth-Token': 'TOKEN-1'}
    method, path, kwargs = iam.calls[0]
    assert (method, path) == ('POST', '/v3/auth/tokens')
    assert kwargs['idempotent'] is True
    assert kwargs['body'] == {'auth': {'identity': {'methods': ['password'], 'password': {
        'user': {'name': 'ops', 'password': 'pw-secret', 'domain': {'name': 'acme'}}}},
        'scope': {'project': {'name': 'cn-north-4'}}}}
    assert auth.project_id == PROJECT
    # a second object with the same identity reuses the cached token: no new request
    again = huawei.IamTokenAuth(iam, 'ops', 'pw-secret', 'acme', region='cn-north-4', clock=lambda: T0)
    assert again.token() == 'TOKEN-1' and len(iam.calls) == 1
    # another password is another identity
    other = huawei.IamTokenAuth(iam, 'ops', 'other', 'acme', region='cn-north-4', clock=lambda: T0)
    assert other.token() == 'TOKEN-2'
    assert 'pw-secret' not in repr(auth)


def test_token_renewed_near_expiry_and_on_refresh():
    now = [T0]
    iam = FakeIam(lifetime=3600, clock=lambda: now[0])
    auth = huawei.IamTokenAuth(iam, 'ops', 'pw', 'acme', project_id=PROJECT, clock=lambda: now[0])
    assert auth.token() == 'TOKEN-1'
    assert iam.calls[0][2]['body']['auth']['scope'] == {'project': {'id': PROJECT}}
    now[0] += 3600 - huawei.TOKEN_RENEW_MARGIN - 5
    assert auth.token() == 'TOKEN-1'
    now[0] += 10
    assert auth.token() == 'TOKEN-2'
    assert auth.refresh() is True and auth.token() == 'TOKEN-3'
    assert auth.fetches == 3


def test_token_answer_without_subject_token_is_an_error():
    class NoToken(FakeIam):
        def request(self, method, path, **kwargs):
            return FakeResp(None, {'token': {}})

    auth = huawei.IamTokenAuth(NoToken(), 'ops', 'pw', 'acme', region='cn-north-4')
    with pytest.raises(huawei.ApiError) as exc:
        auth.token()
    assert 'X-Subject-Token' in str(exc.value) and "'pw'" not in str(exc.value)
