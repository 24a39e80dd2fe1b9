# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alibaba Cloud OpenAPI request signing, V3 (``ACS3-HMAC-SHA256``), for RPC-style APIs such as ecd.

The algorithm is the one of ``alibabacloud_tea_openapi`` (``Utils.get_authorization``):

* CanonicalRequest = METHOD, ``/``, CanonicalQueryString, CanonicalHeaders, SignedHeaders and the
  hex SHA-256 of the body, joined with newlines (CanonicalHeaders already ends with one);
* StringToSign = ``ACS3-HMAC-SHA256`` newline hex(SHA-256(CanonicalRequest));
* Signature = lowercase hex(HMAC-SHA256(AccessKeySecret, StringToSign));
* ``Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<names>,Signature=<hex>``.

RPC calls are ``POST /`` with every business parameter in the query (lists flattened to
``Name.1``, ``Name.2``, ... by :func:`flatten_params`) and an empty body. Use an
:class:`AcsV3Signer` as the ``sign`` hook of ``transport.HttpClient``: it is called before every
attempt, so retries carry a fresh date and nonce.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import time
import uuid

from ansible_collections.vdi.fleet.plugins.module_utils.transport import rfc3986, set_header as _set, text as _text

ALGORITHM = 'ACS3-HMAC-SHA256'
ECD_API_VERSION = '2020-09-30'
DATE_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
EMPTY_SHA256 = hashlib.sha256(b'').hexdigest()


def flatten_params(params):
    """Flatten RPC parameters the way the Alibaba Cloud SDKs do ("repeatList" style).

    ``params`` is a dict (or a list of pairs). A list value ``X`` becomes ``X.1``, ``X.2``, ...; a dict
    value (or a dict inside a list) becomes ``X.Key`` (``X.1.Key``); ``None`` values and empty lists
    are dropped; booleans become ``true``/``false``. Returns a list of ``(name, value)`` string pairs,
    ready for ``HttpClient`` ``query=``.
    """
    out = []
    items = params.items() if isinstance(params, dict) else list(params or [])
    for key, value in items:
        _flatten_into(str(key), value, out)
    return out


def _flatten_into(key, value, out):
    if value is None:
        return
    if isinstance(value, dict):
        for sub, item in value.items():
            _flatten_into('%s.%s' % (key, sub), item, out)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _flatten_into('%s.%d' % (key, index + 1), item, out)
    else:
        out.append((key, _text(value)))


def canonical_query(pairs):
    """Names and values RFC 3986-encoded, sorted by encoded name (then value), ``k=v`` joined with ``&``."""
    encoded = sorted((rfc3986(k), rfc3986(v)) for k, v in pairs)
    return '&'.join('%s=%s' % kv for kv in encoded)


def canonical_headers(headers, signed_names):
    """``name:trimmed value`` lines (each ending in a newline) for the signed header names, sorted."""
    lowered = {}
    for key, value in headers.items():
        if value is None:
            continue
        lowered.setdefault(key.lower(), []).append(_text(value).strip())
    lines = []
    for name in sorted(signed_names):
        lines.append('%s:%s\n' % (name, ','.join(sorted(lowered.get(name, [])))))
    return ''.join(lines)


def canonical_request(method, path, pairs, headers, signed_names, payload_hash):
    names = sorted(n.lower() for n in signed_names)
    return '\n'.join([
        method.upper(),
        path or '/',
        canonical_query(pairs),
        canonical_headers(headers, names),
        ';'.join(names),
        payload_hash,
    ])


def string_to_sign(canonical):
    return '%s\n%s' % (ALGORITHM, hashlib.sha256(canonical.encode('utf-8')).hexdigest())


def signature(secret, to_sign):
    return hmac.new(secret.encode('utf-8'), to_sign.encode('utf-8'), hashlib.sha256).hexdigest()


def authorization(access_key, secret, method, path, pairs, headers, signed_names, payload_hash):
    """The ``Authorization`` header value for these canonical inputs."""
    canonical = canonical_request(method, path, pairs, headers, signed_names, payload_hash)
    names = ';'.join(sorted(n.lower() for n in signed_names))
    return '%s Credential=%s,SignedHeaders=%s,Signature=%s' % (
        ALGORITHM, access_key, names, signature(secret, string_to_sign(canonical)))


def _signed(name):
    return name == 'host' or name == 'content-type' or name.startswith('x-acs-')


class AcsV3Signer:
    """Signs requests with ACS3-HMAC-SHA256.

    ``host`` is the ``host[:port]`` of the endpoint (sent and signed as the ``host`` header).
    ``security_token`` (STS) adds the signed ``x-acs-security-token`` and ``x-acs-accesskey-id``
    headers. ``clock()`` (epoch seconds) and ``nonce()`` are injectable for tests; the nonce
    must be unique per attempt.

    Use ``signer.for_action('DescribeDesktops')`` as the transport ``sign`` hook, or call the
    signer directly with headers that already carry ``x-acs-action``. Signed headers: ``host``,
    ``content-type`` when present, and every ``x-acs-*`` header (the documented minimum).
    """

    def __init__(self, access_key, secret_key, host, security_token=None, version=ECD_API_VERSION,
                 clock=None, nonce=None):
        self.access_key = access_key
        self._secret = secret_key
        self.host = host
        self._token = security_token or None
        self.version = version
        self.clock = clock or time.time
        self.nonce = nonce or (lambda: uuid.uuid4().hex)

    def __repr__(self):
        return 'AcsV3Signer(access_key=%r, host=%r, sts=%s)' % (self.access_key, self.host, bool(self._token))

    def for_action(self, action):
        """A ``sign(method, path, pairs, headers, body)`` hook for one API action."""
        def hook(method, path, pairs, headers, body):
            _set(headers, 'x-acs-action', action)
            self(method, path, pairs, headers, body)
        return hook

    def __call__(self, method, path, pairs, headers, body):
        """Add the date, nonce, payload hash, STS and Authorization headers to ``headers`` in place."""
        if not any(k.lower() == 'x-acs-action' for k in headers):
            raise ValueError('x-acs-action header is required to sign an Alibaba Cloud RPC request')
        body = body or b''
        if not isinstance(body, bytes):
            body = body.encode('utf-8')
        payload_hash = hashlib.sha256(body).hexdigest()
        _set(headers, 'host', self.host)
        _set(headers, 'x-acs-version', self.version)
        _set(headers, 'x-acs-date', time.strftime(DATE_FORMAT, time.gmtime(self.clock())))
        _set(headers, 'x-acs-signature-nonce', self.nonce())
        _set(headers, 'x-acs-content-sha256', payload_hash)
        if self._token:
            _set(headers, 'x-acs-accesskey-id', self.access_key)
            _set(headers, 'x-acs-security-token', self._token)
        for key in list(headers):
            if key.lower() == 'authorization':
                del headers[key]
        names = sorted(set(k.lower() for k in headers if _signed(k.lower())))
        headers['Authorization'] = authorization(self.access_key, self._secret, method, path, pairs, headers,
                                                 names, payload_hash)
        return headers
