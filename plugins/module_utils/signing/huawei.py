# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Huawei Cloud API authentication: AK/SK signing (``SDK-HMAC-SHA256``) and IAM password tokens.

The signature is the one of ``huaweicloudsdkcore`` (``signer/signer.py``, ``Signer.sign``):

* CanonicalURI: the path URL-decoded, split on ``/``, each segment RFC 3986 encoded, re-joined,
  and always ending with ``/`` (the URL actually sent keeps its own path);
* CanonicalQueryString: (key, value) pairs sorted by key then value, RFC 3986 encoded, ``k=v``
  joined with ``&``. The transport sends exactly this string (``transport.encode_query``);
* CanonicalHeaders: every header present at signing time whose name has no underscore, as
  ``lowercase-name:stripped value`` lines, sorted; SignedHeaders are those names joined by ``;``;
* payload hash: hex SHA-256 of the body (the empty-string hash for no body), or the value of
  ``X-Sdk-Content-Sha256`` when that header is set (the SDK sets ``UNSIGNED-PAYLOAD`` for bodies that
  are neither JSON nor BSON);
* StringToSign = ``SDK-HMAC-SHA256`` newline X-Sdk-Date newline hex(SHA-256(CanonicalRequest));
* Signature = hex(HMAC-SHA256(SK, StringToSign)), no key derivation;
* ``Authorization: SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<names>, Signature=<hex>``.

``Host``, ``X-Sdk-Date``, ``X-Project-Id`` (regional services) and ``X-Security-Token`` (temporary
credentials) are set before signing, so they are signed. Use an :class:`SdkHmacSigner` as the
``sign`` hook of ``transport.HttpClient``: it runs before every attempt, so a retry carries a fresh
date.

The alternative is an IAM user token (:class:`IamTokenAuth`): ``POST /v3/auth/tokens`` with the IAM
user name, password and account (domain) name, scoped to a project; the token comes back in the
``X-Subject-Token`` header, lives 24 hours and is sent as ``X-Auth-Token`` without any signing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import hashlib
import hmac
import threading
import time

from ansible.module_utils.six.moves.urllib.parse import unquote

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ApiError
from ansible_collections.vdi.fleet.plugins.module_utils.transport import (
    encode_query, header, header_value, rfc3986, set_header as _set, text as _text)

ALGORITHM = 'SDK-HMAC-SHA256'
DATE_FORMAT = '%Y%m%dT%H%M%SZ'
EMPTY_SHA256 = hashlib.sha256(b'').hexdigest()
HEADER_DATE = 'X-Sdk-Date'
HEADER_HOST = 'Host'
HEADER_PROJECT = 'X-Project-Id'
HEADER_SECURITY_TOKEN = 'X-Security-Token'
HEADER_CONTENT_SHA256 = 'X-Sdk-Content-Sha256'
HEADER_AUTH_TOKEN = 'X-Auth-Token'
HEADER_SUBJECT_TOKEN = 'X-Subject-Token'
UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD'

#: Path of the IAM token API (password authentication) and of the project list.
IAM_TOKEN_PATH = '/v3/auth/tokens'
IAM_PROJECTS_PATH = '/v3/projects'
#: A cached token is renewed when it has less than this many seconds left (Huawei: "using a token
#: that will soon expire may cause API calling failures").
TOKEN_RENEW_MARGIN = 900.0


# --------------------------------------------------------------------------- canonical parts


def format_date(epoch):
    """``X-Sdk-Date`` value (``%Y%m%dT%H%M%SZ``, UTC) of an epoch timestamp."""
    return time.strftime(DATE_FORMAT, time.gmtime(epoch))


def parse_date(value):
    """Epoch seconds of an ``X-Sdk-Date`` value; ValueError when it is not in that format."""
    return calendar.timegm(time.strptime(value, DATE_FORMAT))


def canonical_uri(path):
    """URL-decoded path, each segment RFC 3986 re-encoded, always ending with ``/``."""
    segments = unquote(_text(path or '')).split('/')
    uri = '/'.join(rfc3986(segment) for segment in segments)
    if not uri.endswith('/'):
        uri += '/'
    return uri


def canonical_query(pairs):
    """Sorted, RFC 3986 encoded ``k=v&...``: exactly the query string the transport sends."""
    return encode_query(pairs)


def signed_header_names(headers):
    """Lower-case names of every header without an underscore, sorted and de-duplicated."""
    return sorted(set(key.lower() for key in headers if '_' not in key))


def canonical_headers(headers, names):
    """``name:stripped value`` lines for the signed names (the block ends with a newline)."""
    lowered = dict((key.lower(), _text(value).strip()) for key, value in headers.items() if value is not None)
    return ''.join('%s:%s\n' % (name, lowered.get(name, '')) for name in names)


def payload_hash(body, headers=None):
    """Hex SHA-256 of the body; the empty hash for no body; ``X-Sdk-Content-Sha256`` when set."""
    if not body:
        return EMPTY_SHA256
    preset = header_value(headers or {}, HEADER_CONTENT_SHA256)
    if preset:
        return preset
    if not isinstance(body, bytes):
        body = _text(body).encode('utf-8')
    return hashlib.sha256(body).hexdigest()


def canonical_request(method, path, pairs, headers, names, body_hash):
    return '\n'.join([method.upper(), canonical_uri(path), canonical_query(pairs),
                      canonical_headers(headers, names), ';'.join(names), body_hash])


def string_to_sign(canonical, sdk_date):
    return '%s\n%s\n%s' % (ALGORITHM, sdk_date, hashlib.sha256(canonical.encode('utf-8')).hexdigest())


def signature(secret_key, to_sign):
    return hmac.new(_text(secret_key).encode('utf-8'), to_sign.encode('utf-8'), hashlib.sha256).hexdigest()


def authorization_value(access_key, names, sig):
    return '%s Access=%s, SignedHeaders=%s, Signature=%s' % (ALGORITHM, access_key, ';'.join(names), sig)


# --------------------------------------------------------------------------- AK/SK


class SdkHmacSigner:
    """Signs requests with ``SDK-HMAC-SHA256`` (AK/SK, optionally temporary with a security token).

    ``host`` is the ``host[:port]`` of the endpoint: it is sent and signed as ``Host``, so that what
    is signed is what the server receives. ``project_id`` adds ``X-Project-Id`` (regional APIs; leave
    it out for IAM project discovery, as the SDK does), ``security_token`` adds ``X-Security-Token``.
    ``clock()`` (epoch seconds) is injectable for tests.
    """

    def __init__(self, access_key, secret_key, host, project_id=None, security_token=None, clock=None):
        if not access_key or not secret_key:
            raise ValueError('access_key and secret_key are required for SDK-HMAC-SHA256 signing')
        self.access_key = access_key
        self._secret = secret_key
        self.host = host
        self.project_id = project_id or None
        self._token = security_token or None
        self.clock = clock or time.time

    def __repr__(self):
        return 'SdkHmacSigner(access_key=%r, host=%r, project_id=%r, sts=%s)' % (
            self.access_key, self.host, self.project_id, bool(self._token))

    def with_project(self, project_id):
        """The same credentials for another project id (None: no ``X-Project-Id``)."""
        return SdkHmacSigner(self.access_key, self._secret, self.host, project_id, self._token, self.clock)

    def __call__(self, method, path, pairs, headers, body):
        """Add Host, X-Sdk-Date, X-Project-Id, X-Security-Token and Authorization to ``headers`` in place."""
        for key in list(headers):
            if key.lower() == 'authorization':
                del headers[key]
        if self.host:
            _set(headers, HEADER_HOST, self.host)
        _set(headers, HEADER_DATE, format_date(self.clock()))
        if self.project_id:
            _set(headers, HEADER_PROJECT, self.project_id)
        if self._token:
            _set(headers, HEADER_SECURITY_TOKEN, self._token)
        content_type = header_value(headers, 'Content-Type')
        if content_type and not content_type.startswith('application/json') \
                and not content_type.startswith('application/bson'):
            _set(headers, HEADER_CONTENT_SHA256, UNSIGNED_PAYLOAD)
        # The values are sent as signed: stripped of surrounding whitespace.
        for key in list(headers):
            if headers[key] is not None:
                headers[key] = _text(headers[key]).strip()
        names = signed_header_names(headers)
        canonical = canonical_request(method, path, pairs, headers, names, payload_hash(body, headers))
        sig = signature(self._secret, string_to_sign(canonical, headers[HEADER_DATE]))
        headers['Authorization'] = authorization_value(self.access_key, names, sig)
        return headers


# --------------------------------------------------------------------------- IAM token

_TOKEN_CACHE = {}
_TOKEN_LOCK = threading.Lock()


def clear_token_cache():
    """Forget every cached IAM token (tests, or after a password change)."""
    with _TOKEN_LOCK:
        _TOKEN_CACHE.clear()


def parse_iso8601(value):
    """Epoch seconds of an IAM ``expires_at`` (``2026-11-21T08:00:00.000000Z``); None if unreadable."""
    if not value:
        return None
    text = _text(value).strip()
    if text.endswith('Z'):
        text = text[:-1]
    text = text.split('.')[0]
    try:
        return calendar.timegm(time.strptime(text, '%Y-%m-%dT%H:%M:%S'))
    except ValueError:
        return None


def password_token_body(username, password, domain, project_name=None, project_id=None):
    """Body of ``POST /v3/auth/tokens`` (password method, project scope by id or by region name)."""
    project = {'id': project_id} if project_id else {'name': project_name}
    return {
        'auth': {
            'identity': {
                'methods': ['password'],
                'password': {'user': {'name': username, 'password': password, 'domain': {'name': domain}}},
            },
            'scope': {'project': project},
        }
    }


class IamTokenAuth:
    """IAM user token for ``X-Auth-Token`` authentication, fetched once and cached in the process.

    ``http`` is the transport ``HttpClient`` of the IAM endpoint. The scope is the project
    ``project_id`` when given, else the project named after ``region``. The token, its expiry and
    the project id it is scoped to are cached (keyed by endpoint, account, user, password digest
    and scope) and reused until :data:`TOKEN_RENEW_MARGIN` seconds before they expire. Use the
    object as the transport ``sign`` hook and :meth:`refresh` as its ``on_unauthorized`` hook.
    """

    def __init__(self, http, username, password, domain, region=None, project_id=None, clock=None):
        if not (username and password and domain):
            raise ValueError('username, password and domain are required for IAM token authentication')
        if not (region or project_id):
            raise ValueError('region or project_id is required to scope an IAM token')
        self.http = http
        self.username = username
        self._password = password
        self.domain = domain
        self.region = region
        self.wanted_project = project_id or None
        self.clock = clock or time.time
        self.project_id = project_id or None
        self.expires_at = None
        self.fetches = 0
        self._token = None
        digest = hashlib.sha256(_text(password).encode('utf-8')).hexdigest()
        self._key = (http.endpoint, domain, username, digest, project_id or '', region or '')

    def __repr__(self):
        scope = self.wanted_project or self.region
        return 'IamTokenAuth(username=%r, domain=%r, project=%r)' % (self.username, self.domain, scope)

    def _valid(self, expires_at):
        return expires_at is None or expires_at - self.clock() > TOKEN_RENEW_MARGIN

    def token(self):
        """A usable token: from this object, the process cache, or a new ``POST /v3/auth/tokens``."""
        if self._token and self._valid(self.expires_at):
            return self._token
        with _TOKEN_LOCK:
            cached = _TOKEN_CACHE.get(self._key)
        if cached and self._valid(cached[1]):
            self._token, self.expires_at, self.project_id = cached
            return self._token
        return self._fetch()

    def _fetch(self):
        body = password_token_body(self.username, self._password, self.domain, self.region, self.wanted_project)
        # Creating a token changes nothing (older tokens stay valid), so it may be re-sent.
        resp = self.http.request('POST', IAM_TOKEN_PATH, query={'nocatalog': 'true'}, body=body, idempotent=True,
                                 headers={'Content-Type': 'application/json;charset=utf8'})
        self.fetches += 1
        token = header(resp, HEADER_SUBJECT_TOKEN)
        try:
            data = resp.json()
        except ValueError:
            data = None
        info = (data or {}).get('token') if isinstance(data, dict) else None
        if not token or not isinstance(info, dict):
            raise ApiError('IAM answered %s %s without a token (no %s header or no token object). Check that the IAM '
                           'endpoint %s is Huawei Cloud IAM.' % (resp.status_code, IAM_TOKEN_PATH, HEADER_SUBJECT_TOKEN,
                                                                 self.http.endpoint), status=resp.status_code)
        project = info.get('project') or {}
        self._token = token
        self.expires_at = parse_iso8601(info.get('expires_at'))
        self.project_id = project.get('id') or self.wanted_project
        with _TOKEN_LOCK:
            _TOKEN_CACHE[self._key] = (self._token, self.expires_at, self.project_id)
        return self._token

    def refresh(self):
        """Drop the token (expired or revoked) and get a new one; the transport ``on_unauthorized`` hook."""
        with _TOKEN_LOCK:
            _TOKEN_CACHE.pop(self._key, None)
        self._token = None
        self._fetch()
        return True

    def __call__(self, method, path, pairs, headers, body):
        """Sign hook: add ``X-Auth-Token`` (no signature is computed for token authentication)."""
        _set(headers, HEADER_AUTH_TOKEN, self.token())
        return headers
