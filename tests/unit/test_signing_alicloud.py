"""The ACS3-HMAC-SHA256 signer against the vendor's own code (tea-openapi and openapi-util)."""

from __future__ import annotations

import hashlib
import re
from types import SimpleNamespace

import pytest

from alibabacloud_openapi_util.client import Client as OpenApiUtil
from alibabacloud_tea_openapi.utils import Utils as TeaUtils

from ansible_collections.vdi.fleet.plugins.module_utils.signing import alicloud as signing
from ansible_collections.vdi.fleet.plugins.module_utils.transport import encode_query, query_pairs

AK = 'LTAI5tExampleAccessKey01'
SK = 'ExampleSecret+/=~*Key'
HOST = 'ecd.cn-hangzhou.aliyuncs.com'
FIXED_TS = 1767225600  # 2026-01-01T00:00:00Z
AUTH_RE = re.compile(r'^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$')


def _signer(token=None, nonce='3f1c9e1d2b7a4c5e8f901a2b3c4d5e6f', host=HOST):
    return signing.AcsV3Signer(AK, SK, host, security_token=token, clock=lambda: FIXED_TS, nonce=lambda: nonce)


def _sign(action, params, token=None, body=b'', extra_headers=None, method='POST'):
    """Sign like HttpClient does: pairs from query_pairs, headers with the transport's defaults."""
    pairs = query_pairs(signing.flatten_params(params))
    headers = {'Accept': 'application/json', 'User-Agent': 'vdi.fleet-test'}
    headers.update(extra_headers or {})
    signing.AcsV3Signer.for_action(_signer(token), action)(method, '/', pairs, headers, body)
    return pairs, headers


def _vendor_request(method, pairs, headers):
    """What tea-openapi's do_request hands to get_authorization: query dict and the signed headers only."""
    signed = AUTH_RE.match(headers['Authorization']).group(2).split(';')
    lowered = {k.lower(): v for k, v in headers.items()}
    return SimpleNamespace(method=method, pathname='/', query=dict(pairs),
                           headers={name: lowered[name] for name in signed})


CASES = [
    pytest.param('DescribeDesktops', {'RegionId': 'cn-hangzhou', 'MaxResults': 100, 'FilterDesktopGroup': 'false'},
                 None, id='simple'),
    pytest.param('SetDesktopMaintenance', {'RegionId': 'cn-hangzhou', 'Mode': 'ENTER',
                                           'DesktopIds': ['ecd-%017d' % i for i in range(1, 13)]}, None, id='list-params'),
    pytest.param('DescribeDesktops', {'RegionId': 'cn-hangzhou', 'DesktopName': 'a b*c~d+e/f=g&h%i', 'NextToken': ''},
                 None, id='reserved-chars-and-empty'),
    pytest.param('DescribeDesktops', {'RegionId': 'cn-hangzhou', 'DesktopName': u'Bürodesktop 東京 ☃'}, None, id='unicode'),
    pytest.param('DescribeDesktops', {'RegionId': 'cn-hangzhou', 'DesktopId': ['ecd-a', 'ecd-b']},
                 'CAIS+AF1q6Ft5B2yfSjIr5bsM/P9hrpR9oK4QWvAl2wvb+5Ynvbv0Tz2IHlFe3BoBu0YsfswnWBZ==', id='sts-token'),
    pytest.param('RunCommand', {'RegionId': 'cn-hangzhou', 'DesktopId': ['ecd-x'], 'Type': 'RunPowerShellScript',
                                'CommandContent': "$t='x y'; msg * $t", 'ContentEncoding': 'PlainText'}, None,
                 id='script'),
]


@pytest.mark.parametrize('action,params,token', CASES)
def test_authorization_matches_tea_openapi(action, params, token):
    pairs, headers = _sign(action, params, token=token)
    ours = headers['Authorization']
    req = _vendor_request('POST', pairs, headers)
    theirs = TeaUtils.get_authorization(req, 'ACS3-HMAC-SHA256', signing.EMPTY_SHA256, AK, SK)
    assert ours == theirs
    # the older openapi-util package computes the same
    assert OpenApiUtil.get_authorization(req, 'ACS3-HMAC-SHA256', signing.EMPTY_SHA256, AK, SK) == ours


@pytest.mark.parametrize('action,params,token', CASES)
def test_vendor_signing_every_header_it_sends_agrees(action, params, token):
    """The SDK signs accept/user-agent too; with the same header set our canonical code agrees."""
    pairs, headers = _sign(action, params, token=token)
    lowered = {k.lower(): v for k, v in headers.items() if k != 'Authorization'}
    req = SimpleNamespace(method='POST', pathname='/', query=dict(pairs), headers=lowered)
    theirs = TeaUtils.get_authorization(req, 'ACS3-HMAC-SHA256', signing.EMPTY_SHA256, AK, SK)
    ours = signing.authorization(AK, SK, 'POST', '/', pairs, lowered, list(lowered), signing.EMPTY_SHA256)
    assert ours == theirs


def test_body_hash_and_content_type_are_signed():
    body = b'{"a": "b"}'
    pairs, headers = _sign('DescribeDesktops', {'RegionId': 'cn-hangzhou'}, body=body,
                           extra_headers={'Content-Type': 'application/json'})
    digest = hashlib.sha256(body).hexdigest()
    assert headers['x-acs-content-sha256'] == digest
    assert 'content-type' in AUTH_RE.match(headers['Authorization']).group(2).split(';')
    req = _vendor_request('POST', pairs, headers)
    assert headers['Authorization'] == TeaUtils.get_authorization(req, 'ACS3-HMAC-SHA256', digest, AK, SK)


def test_headers_set_by_the_signer():
    token = 'tok+en/=='
    _pairs, headers = _sign('DescribeDesktops', {'RegionId': 'cn-hangzhou'}, token=token)
    assert headers['host'] == HOST
    assert headers['x-acs-action'] == 'DescribeDesktops'
    assert headers['x-acs-version'] == '2020-09-30'
    assert headers['x-acs-date'] == '2026-01-01T00:00:00Z'
    assert headers['x-acs-signature-nonce'] == '3f1c9e1d2b7a4c5e8f901a2b3c4d5e6f'
    assert headers['x-acs-content-sha256'] == 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    assert headers['x-acs-security-token'] == token
    assert headers['x-acs-accesskey-id'] == AK
    cred, signed, _sig = AUTH_RE.match(headers['Authorization']).groups()
    assert cred == AK
    assert signed == ('host;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-date;'
                      'x-acs-security-token;x-acs-signature-nonce;x-acs-version')
    assert 'accept' not in signed and 'user-agent' not in signed


def test_no_query_action_or_version_and_sts_headers_only_with_token():
    pairs, headers = _sign('DescribeDesktops', {'RegionId': 'cn-hangzhou'})
    assert dict(pairs) == {'RegionId': 'cn-hangzhou'}
    assert 'x-acs-security-token' not in headers and 'x-acs-accesskey-id' not in headers


def test_fresh_nonce_and_date_per_attempt():
    signer = signing.AcsV3Signer(AK, SK, HOST)
    hook = signer.for_action('DescribeDesktops')
    seen = set()
    for _i in range(50):
        headers = {}
        hook('POST', '/', [('RegionId', 'cn-hangzhou')], headers, b'')
        seen.add(headers['x-acs-signature-nonce'])
        assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', headers['x-acs-date'])
    assert len(seen) == 50


def test_resigning_replaces_previous_headers():
    """A retry re-signs the same header dict: no duplicate spellings, a new Authorization."""
    nonces = iter(['n1', 'n2'])
    signer = signing.AcsV3Signer(AK, SK, HOST, clock=lambda: FIXED_TS, nonce=lambda: next(nonces))
    headers = {'X-Acs-Date': 'stale', 'authorization': 'old'}
    signer.for_action('DescribeDesktops')('POST', '/', [], headers, b'')
    first = headers['Authorization']
    signer.for_action('DescribeDesktops')('POST', '/', [], headers, b'')
    assert headers['Authorization'] != first
    assert [k for k in headers if k.lower() == 'x-acs-date'] == ['x-acs-date']
    assert [k for k in headers if k.lower() == 'authorization'] == ['Authorization']


def test_signer_needs_an_action():
    with pytest.raises(ValueError):
        _signer()('POST', '/', [], {}, b'')


def test_secret_not_in_repr():
    assert SK not in repr(_signer(token='secret-token'))
    assert 'secret-token' not in repr(_signer(token='secret-token'))


def test_flatten_params_matches_vendor_query_flattening():
    params = {'RegionId': 'cn-hangzhou', 'DesktopIds': ['ecd-%d' % i for i in range(1, 12)],
              'Tag': [{'Key': 'team', 'Value': 'ops'}, {'Key': 'env', 'Value': 'prod'}],
              'Sessions': [{'DesktopId': 'ecd-1', 'EndUserId': 'alice'}], 'MaxResults': 100, 'Skip': None}
    ours = signing.flatten_params(params)
    assert dict(ours) == TeaUtils.query(params) == OpenApiUtil.query(params)
    assert ('DesktopIds.10', 'ecd-10') in ours
    assert signing.flatten_params({'A': True, 'B': False, 'C': []}) == [('A', 'true'), ('B', 'false')]


def test_canonical_query_equals_what_the_transport_sends():
    """The transport sends encode_query(pairs); for ecd parameter names it is the canonical query string."""
    pairs = query_pairs(signing.flatten_params({'RegionId': 'cn-hangzhou', 'DesktopName': u'a b*~ü',
                                                'DesktopId': ['ecd-%d' % i for i in range(1, 12)]}))
    assert signing.canonical_query(pairs) == encode_query(pairs)
    assert 'DesktopName=a%20b%2A~%C3%BC' in encode_query(pairs)
