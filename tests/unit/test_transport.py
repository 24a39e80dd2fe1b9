"""Transport: retries, throttling, never re-sending writes, clear errors."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.vdi.fleet.plugins.module_utils import transport
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ApiError, TransportError


class Script:
    """A scripted HTTP server: each request pops the next (status, headers, body) or 'drop'."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []


@pytest.fixture
def server():
    holder = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass

        def _any(self):
            script = holder['script']
            length = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(length) if length else b''
            script.requests.append((self.command, self.path, dict(self.headers), body))
            answer = script.answers.pop(0) if script.answers else (200, {}, {'ok': True})
            if answer == 'drop':
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            status, headers, payload = answer
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _any

    srv = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()

    def use(answers):
        holder['script'] = Script(answers)
        return holder['script']

    yield 'http://127.0.0.1:%d' % srv.server_address[1], use
    srv.shutdown()
    srv.server_close()


def classify(resp):
    body = resp.json() if resp.content else {}
    return ApiError('error %s' % body.get('code'), status=resp.status_code, code=body.get('code'),
                    throttle=resp.status_code == 429 or str(body.get('code', '')).startswith('Throttling'))


def client(endpoint, sleeps=None):
    sleeps = sleeps if sleeps is not None else []
    policy = transport.RetryPolicy(retries=4, base=0.01, cap=0.05, sleep=sleeps.append)
    return transport.HttpClient(endpoint, 'test', policy=policy, classify_error=classify, timeout=5)


def test_throttling_is_retried_and_retry_after_honoured(server):
    endpoint, use = server
    script = use([(429, {'X-Rate-Limit-Retry-After-Seconds': '2'}, {'code': 'x'}),
                  (400, {}, {'code': 'Throttling.User'}),
                  (200, {}, {'ok': 1})])
    sleeps = []
    http = client(endpoint, sleeps)
    assert http.json('POST', '/act', body={'a': 1}) == {'ok': 1}
    assert len(script.requests) == 3
    assert sleeps[0] >= 2.0  # the server's delay wins over the tiny backoff
    assert http.counters['throttled'] == 2


def test_5xx_retried_for_reads_only(server):
    endpoint, use = server
    script = use([(503, {}, {'code': 'busy'}), (200, {}, {'v': 1})])
    assert client(endpoint).json('GET', '/list') == {'v': 1}
    assert len(script.requests) == 2

    script = use([(500, {}, {'code': 'boom'})])
    with pytest.raises(ApiError) as err:
        client(endpoint).json('POST', '/act', body=[1, 2])
    assert len(script.requests) == 1
    assert err.value.maybe_applied is True


def test_dropped_connection_not_resent_for_writes(server):
    endpoint, use = server
    script = use(['drop'])
    with pytest.raises(TransportError) as err:
        client(endpoint).request('POST', '/send', body={'m': 'hello'})
    assert len(script.requests) == 1
    assert err.value.maybe_applied is True

    script = use(['drop', (200, {}, {'ok': True})])
    assert client(endpoint).json('GET', '/read') == {'ok': True}
    assert len(script.requests) == 2


def test_idempotent_override_allows_retry_of_post(server):
    endpoint, use = server
    script = use([(502, {}, {}), (200, {}, {'ok': True})])
    assert client(endpoint).json('POST', '/', idempotent=True) == {'ok': True}
    assert len(script.requests) == 2


def test_unauthorized_refreshes_once(server):
    endpoint, use = server
    script = use([(401, {}, {}), (200, {}, {'ok': True})])
    calls = []
    assert client(endpoint).json('GET', '/x', on_unauthorized=lambda: calls.append(1) or True) == {'ok': True}
    assert calls == [1] and len(script.requests) == 2

    script = use([(401, {}, {'code': 'a'}), (401, {}, {'code': 'b'})])
    with pytest.raises(ApiError) as err:
        client(endpoint).json('GET', '/x', on_unauthorized=lambda: True)
    assert err.value.status == 401 and len(script.requests) == 2


def test_query_is_encoded_sorted_and_repeated(server):
    endpoint, use = server
    script = use([(200, {}, {})])
    client(endpoint).request('GET', '/q', query=[('b', 'x y'), ('a', True), ('c', ['2', '1']), ('d', None)])
    assert script.requests[0][1] == '/q?a=true&b=x%20y&c=1&c=2'


def test_non_json_answer_names_the_endpoint(server):
    endpoint, use = server
    use([(200, {'Content-Type': 'text/html'}, b'<html>portal</html>')])
    with pytest.raises(ApiError) as err:
        client(endpoint).json('GET', '/rest/x')
    assert 'not JSON (text/html)' in err.value.msg and endpoint in err.value.msg


def test_connection_refused_is_one_clear_message():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    sleeps = []
    with pytest.raises(TransportError) as err:
        client('http://127.0.0.1:%d' % port, sleeps).request('POST', '/x', body={})
    assert 'Cannot connect to http://127.0.0.1:%d' % port in err.value.msg
    assert 'Check endpoint' in err.value.msg
    assert err.value.maybe_applied is False
    assert len(sleeps) == 2  # connect failures are retried a little: the request never left


def test_tls_failure_is_one_clear_message(simulator):
    info = simulator[1]
    endpoint = info['horizon']['endpoint']
    http = transport.HttpClient(endpoint, 'horizon', validate_certs=True, timeout=5)  # no ca_path: untrusted CA
    with pytest.raises(TransportError) as err:
        http.request('GET', '/rest/config/v2/environment-properties')
    assert 'TLS handshake with %s failed' % endpoint in err.value.msg and 'ca_path' in err.value.msg


def test_bad_endpoint_url():
    with pytest.raises(TransportError) as err:
        transport.HttpClient('cs01.example.com', 'horizon')
    assert 'not an http(s) URL' in err.value.msg


def test_backoff_is_jittered_and_capped():
    policy = transport.RetryPolicy(base=1.0, cap=8.0)
    delays = [policy.delay(n) for n in range(10)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 5
    assert policy.delay(0, retry_after=5) >= 5


def test_poller_backs_off_until_done():
    sleeps = []
    now = [0.0]

    def sleep(s):
        sleeps.append(s)
        now[0] += s

    results = iter([False, False, False, True])
    assert transport.Poller(100, initial=1, factor=2, cap=3, sleep=sleep, clock=lambda: now[0]).run(lambda: next(results))
    assert sleeps == [1, 2, 3]
    assert not transport.Poller(5, initial=1, factor=2, cap=3, sleep=sleep, clock=lambda: now[0]).run(lambda: False)
