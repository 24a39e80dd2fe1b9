# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP transport shared by every provider adapter.

One ``requests.Session`` per run (connection reuse), certificate checks on by default,
retries with jittered exponential backoff that honour throttling answers, and the rule
that a call which is not idempotent is never sent twice once it may have reached the
server. Paging, chunking and polling helpers live here too, so that adapters never
write their own loops for them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import random
import time
import traceback

from ansible.module_utils.six.moves.urllib.parse import quote, urlsplit

from ansible_collections.vdi.fleet.plugins.module_utils.errors import CALL_ERRORS, ApiError, AuthError, TransportError

try:
    import requests
    from requests import exceptions as rexc

    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported through missing_required_lib
    requests = None
    rexc = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

USER_AGENT = 'vdi.fleet-ansible-collection/0.1.0'
#: error code of an answer that is an HTML page: a portal, proxy or other product answers at the endpoint
HTML_PAGE = 'html-page'
# x-acs-retry-after (Alibaba) is in milliseconds; its adapter reads it itself.
RETRY_AFTER_HEADERS = ('X-Rate-Limit-Retry-After-Seconds', 'Retry-After')


def rfc3986(value):
    """Percent-encode everything but ``A-Z a-z 0-9 - _ . ~`` (UTF-8)."""
    if isinstance(value, bool):
        value = 'true' if value else 'false'
    return quote(str(value).encode('utf-8'), safe='-_.~')


def query_pairs(params):
    """Normalise query parameters to a list of (str, str) pairs.

    ``params`` is a dict or a list of pairs; list values become repeated keys; ``None`` is dropped;
    booleans become ``true``/``false``.
    """
    items = params.items() if isinstance(params, dict) else list(params or [])
    pairs = []
    for key, value in items:
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, bool):
                v = 'true' if v else 'false'
            pairs.append((str(key), str(v)))
    return pairs


def encode_query(pairs):
    """The query string actually sent: sorted by key then value, RFC 3986 encoded."""
    return '&'.join('%s=%s' % (rfc3986(k), rfc3986(v)) for k, v in sorted(pairs))


def chunks(items, size):
    """Split a sequence into lists of at most ``size`` items."""
    items = list(items)
    return [items[i:i + size] for i in range(0, len(items), size)]


def unique(items):
    """The items in their first-seen order, each once."""
    seen = set()
    out = []
    for item in items or []:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def text(value):
    """A header or signing value as text: bytes decoded as UTF-8, booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, bytes):
        return value.decode('utf-8')
    return u'%s' % (value,)


def header_value(headers, name):
    """The value of header ``name`` in a dict of headers, whatever the spelling of its name, or None."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def set_header(headers, name, value):
    """Set header ``name``, replacing any other spelling of it already there."""
    wanted = name.lower()
    for key in list(headers):
        if key.lower() == wanted:
            del headers[key]
    headers[name] = value


def header(resp, name):
    """The value of header ``name`` of a response, or None."""
    return header_value(resp.headers, name)


def retry_after_of(resp):
    """Seconds the server asked us to wait, from any of the known headers, or None."""
    for name in RETRY_AFTER_HEADERS:
        value = header(resp, name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            continue
    return None


def json_or_none(resp):
    """The decoded JSON body of an (error) answer, or None when it is empty or not JSON."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def json_of(resp, provider, endpoint):
    """Decode a JSON answer, or explain that the endpoint is not answering like the provider's API."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        ctype = header(resp, 'Content-Type') or 'no content type'
        raise ApiError(
            '%s answered HTTP %s with a body that is not JSON (%s). Check that endpoint points at the %s API, '
            'not at a web page or proxy.' % (endpoint, resp.status_code, ctype.split(';')[0], provider),
            status=resp.status_code)


class RetryPolicy:
    """Jittered exponential backoff.

    ``retries`` bounds the re-sends of one call, ``base``/``cap`` shape the delay
    (``uniform(d/2, d)`` with ``d = min(cap, base * 2**attempt)``), and a delay the server asked
    for (``Retry-After`` and friends) is always honoured, plus a little jitter so that parallel
    clients do not come back in lockstep.
    """

    def __init__(self, retries=8, base=0.5, cap=30.0, connect_retries=2, sleep=None, rng=None):
        self.retries = retries
        self.base = base
        self.cap = cap
        self.connect_retries = connect_retries
        self.sleep = sleep or time.sleep
        self.rng = rng or random.Random()

    def delay(self, attempt, retry_after=None):
        backoff = min(self.cap, self.base * (2 ** attempt))
        wait = self.rng.uniform(backoff / 2.0, backoff)
        if retry_after is not None:
            wait = max(wait, retry_after + self.rng.uniform(0, min(1.0, 0.1 + retry_after * 0.1)))
        return wait


def _never_sent(exc):
    """True when a requests ConnectionError happened before any byte of the request left."""
    if rexc is not None and isinstance(exc, rexc.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, 'reason', reason)
    name = type(reason).__name__
    return name in ('NewConnectionError', 'NameResolutionError', 'ConnectTimeoutError')


class HttpClient:
    """One HTTP session to one provider endpoint.

    ``classify_error(resp)`` (from the adapter) turns an error response into an :class:`ApiError`
    with the vendor's code and message and says whether it is a throttling answer.
    """

    def __init__(self, endpoint, provider, validate_certs=True, ca_path=None, timeout=30, policy=None,
                 classify_error=None, log=None):
        if not HAS_REQUESTS:
            raise TransportError('The Python library requests is required on the Ansible controller.')
        self.endpoint = endpoint.rstrip('/')
        self.provider = provider
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.classify_error = classify_error or self._default_error
        self.log = log
        self.session = requests.Session()
        if not validate_certs:
            self.session.verify = False
            try:
                requests.packages.urllib3.disable_warnings()  # pylint: disable=no-member
            except AttributeError:  # pragma: no cover
                pass
        elif ca_path:
            self.session.verify = ca_path
        else:
            self.session.verify = True
        self.counters = {'requests': 0, 'retries': 0, 'throttled': 0, 'waited': 0.0}
        scheme = urlsplit(self.endpoint).scheme
        if scheme not in ('http', 'https') or not urlsplit(self.endpoint).netloc:
            raise TransportError('endpoint %r is not an http(s) URL. Give it as https://host[:port].' % endpoint)

    def close(self):
        self.session.close()

    # ------------------------------------------------------------------ errors
    def _default_error(self, resp):
        text = resp.text[:300] if resp.content else ''
        return ApiError('%s answered HTTP %s: %s' % (self.provider, resp.status_code, text or resp.reason),
                        status=resp.status_code, throttle=resp.status_code == 429)

    def _transport_error(self, exc, method, path, maybe_applied):
        where = '%s %s%s' % (method, self.endpoint, path)
        if rexc is not None and isinstance(exc, rexc.SSLError):
            return TransportError(
                'TLS handshake with %s failed (%s). Check ca_path (the CA that signed the server certificate), '
                'or set validate_certs to false for a lab endpoint.' % (self.endpoint, _short(exc)))
        if rexc is not None and isinstance(exc, (rexc.ConnectTimeout,)):
            return TransportError('Timed out connecting to %s. Check endpoint and that the server is reachable '
                                  'from the Ansible controller.' % self.endpoint)
        if rexc is not None and isinstance(exc, rexc.ReadTimeout):
            return TransportError('%s did not answer within %s seconds (%s). Raise timeout or check the server.'
                                  % (self.endpoint, self.timeout, where), maybe_applied=maybe_applied)
        if _never_sent(exc):
            return TransportError('Cannot connect to %s (%s). Check endpoint (host, port, scheme) and that the '
                                  'server is reachable from the Ansible controller.' % (self.endpoint, _short(exc)))
        return TransportError('The connection to %s was lost during %s (%s).' % (self.endpoint, where, _short(exc)),
                              maybe_applied=maybe_applied)

    # ------------------------------------------------------------------ request
    def request(self, method, path, query=None, body=None, headers=None, idempotent=None, sign=None,
                on_unauthorized=None, retry_throttled=True, raw_body=None):
        """Send one API call and return the ``requests.Response`` of its 2xx answer.

        ``sign(method, path, pairs, headers, body_bytes)`` adds auth headers before every attempt
        (fresh dates and nonces on retries). ``on_unauthorized()`` may refresh credentials once
        on a 401 and return True to re-send. ``idempotent`` defaults to true for GET/HEAD only: a
        call that is not idempotent is re-sent only when it certainly did not reach the server
        (connection refused, or an explicit throttling answer).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in ('GET', 'HEAD')
        pairs = query_pairs(query)
        qs = encode_query(pairs)
        url = self.endpoint + path + ('?' + qs if qs else '')
        if raw_body is not None:
            data = raw_body
        else:
            data = json.dumps(body).encode('utf-8') if body is not None else None
        tries = {'attempt': 0, 'connect': 0, 'refreshed': False}
        while True:
            hdrs = {'Accept': 'application/json', 'User-Agent': USER_AGENT}
            if data is not None:
                hdrs['Content-Type'] = 'application/json'
            hdrs.update(headers or {})
            if sign is not None:
                sign(method, path, pairs, hdrs, data or b'')
            resp = self._send(method, url, path, data, hdrs, idempotent, tries)
            if resp is None:
                continue
            if 200 <= resp.status_code < 300:
                return resp
            if resp.status_code == 401 and on_unauthorized is not None and not tries['refreshed']:
                tries['refreshed'] = True
                if on_unauthorized():
                    continue
            err = self._error_of(resp, method, path, idempotent)
            if not self._retry_after_error(err, resp.status_code, idempotent, retry_throttled, tries):
                raise err

    def _send(self, method, url, path, data, hdrs, idempotent, tries):
        """One attempt: the response, or None when the attempt is to be repeated (after a wait)."""
        try:
            self.counters['requests'] += 1
            # verify passed per request: requests lets REQUESTS_CA_BUNDLE override a session's own setting
            return self.session.request(method, url, data=data, headers=hdrs, timeout=self.timeout,
                                        allow_redirects=False, verify=self.session.verify)
        except Exception as exc:  # pylint: disable=broad-except
            if rexc is None or not isinstance(exc, rexc.RequestException):
                raise
            never_sent = _never_sent(exc)
            if isinstance(exc, rexc.SSLError):
                raise self._transport_error(exc, method, path, False)
            if never_sent and tries['connect'] < self.policy.connect_retries:
                tries['connect'] += 1
                self._wait(self.policy.delay(tries['connect'] - 1))
                return None
            if not never_sent and idempotent and tries['attempt'] < self.policy.retries:
                self._wait(self.policy.delay(tries['attempt']))
                tries['attempt'] += 1
                return None
            raise self._transport_error(exc, method, path, maybe_applied=not never_sent)

    def _error_of(self, resp, method, path, idempotent):
        """The exception for an error answer: the vendor's error, or an HTML page named as such."""
        ctype = (header(resp, 'Content-Type') or '').lower()
        if 'text/html' in ctype and resp.status_code != 429 and resp.status_code < 500:
            # Not the API's own error shape: say so instead of echoing markup as a vendor message.
            return ApiError('%s answered %s %s with an HTML page (HTTP %s), not the %s API\'s JSON. Check endpoint: '
                            'a portal, proxy or another product answers there.'
                            % (self.endpoint, method, path, resp.status_code, self.provider),
                            status=resp.status_code, code=HTML_PAGE)
        err = self.classify_error(resp)
        if err.retry_after is None:
            err.retry_after = retry_after_of(resp)
        if not err.throttle and resp.status_code >= 500:
            err.maybe_applied = not idempotent
        return err

    def _retry_after_error(self, err, status, idempotent, retry_throttled, tries):
        """Wait and return True when the call is to be sent again: throttled, or a server error on a read."""
        if err.throttle:
            self.counters['throttled'] += 1
            again = retry_throttled
        else:
            again = status >= 500 and idempotent
        if not again or tries['attempt'] >= self.policy.retries:
            return False
        self._wait(self.policy.delay(tries['attempt'], err.retry_after if err.throttle else None))
        tries['attempt'] += 1
        return True

    def _wait(self, seconds):
        self.counters['retries'] += 1
        self.counters['waited'] += seconds
        self.policy.sleep(seconds)

    def json(self, method, path, **kwargs):
        """``request`` and decode the JSON answer (None for an empty body)."""
        resp = self.request(method, path, **kwargs)
        return json_of(resp, self.provider, self.endpoint)


def _short(exc):
    text = str(exc)
    for marker in ('[SSL', 'Failed to establish a new connection:', 'Connection refused', 'Name or service not known'):
        idx = text.find(marker)
        if idx >= 0:
            return text[idx:idx + 160].rstrip(")'\"")
    return text[:200]


class Poller:
    """Poll with exponential backoff until ``done()`` is true or ``timeout`` seconds pass.

    ``check()`` is called first immediately, then after ``initial``, ``initial*factor``, ...
    seconds (capped at ``cap``). Returns True when done, False on timeout.
    """

    def __init__(self, timeout, initial=1.0, factor=1.6, cap=15.0, sleep=None, clock=None):
        self.timeout = timeout
        self.initial = initial
        self.factor = factor
        self.cap = cap
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic

    def run(self, check):
        deadline = self.clock() + self.timeout
        delay = self.initial
        while True:
            if check():
                return True
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            self.sleep(min(delay, remaining))
            delay = min(self.cap, delay * self.factor)


def follow(keys, read, poller, finished=None):
    """Poll ``read(key)`` for every key (a provider job, an invocation) until each has finished.

    ``read(key)`` returns the key's latest state; ``finished(key, state)`` (default: state is not None)
    says whether it is over. A read that fails (:data:`errors.CALL_ERRORS`) is a safe call to repeat: it is tried
    again on the next poll, with the poller's backoff. Returns ``(states, unfinished)``: the latest
    state read of every key that answered at least once, and ``{key: reason}`` for the keys that had
    not finished when the poller's time ran out (the last read error, or None when it was still running).
    """
    finished = finished or (lambda _key, state: state is not None)
    pending = unique(keys)
    states, errors = {}, {}

    def check():
        for key in list(pending):
            try:
                state = read(key)
            except CALL_ERRORS as err:
                errors[key] = err.msg
                continue
            errors.pop(key, None)
            states[key] = state
            if finished(key, state):
                pending.remove(key)
        return not pending

    if pending:
        poller.run(check)
    return states, dict((key, errors.get(key)) for key in pending)


def auth_error_from(err, provider, hint):
    """Re-raise an ApiError for refused credentials as AuthError with an actionable message."""
    return AuthError('%s refused the credentials (HTTP %s%s): %s. %s'
                     % (provider, err.status, ', ' + err.code if err.code else '', err.message or err.msg, hint),
                     status=err.status, code=err.code, message=err.message, request_id=err.request_id)
