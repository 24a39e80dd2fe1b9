"""Provider-neutral machinery of the VDI API simulator.

One :class:`Simulator` runs one HTTP(S) server per provider, each in its own
thread. The vendor behaviour lives in the provider modules (``horizon.py``,
``huaweicloud.py``, ``alicloud.py``); this module gives them:

* a simulated :class:`Clock` that ``time_scale`` speeds up (jobs, power
  transitions and token lifetimes run on it; signature skew checks use the real
  wall clock because clients sign with it);
* a seeded, provider-neutral fleet (:func:`generate_fleet`) that each provider
  dresses in its own ids and field names;
* fault injection (:class:`FaultInjector`) with throttling, 5xx, dropped
  connections, latency and per-id failures, each with a rate, an optional
  operation filter, id filter and count;
* request statistics per operation and per HTTP method, with a separate count
  of state-changing ("write") requests;
* the ``/_sim/`` control endpoints served on every provider port.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

PROVIDERS = {
    'horizon': 'horizon:HorizonSim',
    'huaweicloud': 'huaweicloud:HuaweiSim',
    'alicloud': 'alicloud:AlicloudSim',
}


# --------------------------------------------------------------------------- clock


class Clock:
    """Simulated time: real elapsed time multiplied by ``time_scale``, plus manual advances."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self.scale = float(time_scale)
        self._real0 = time.time()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._real0 + (time.time() - self._real0) * self.scale + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += float(seconds)


# --------------------------------------------------------------------------- fleet


@dataclass
class Session:
    id: str
    user: str
    state: str  # 'connected' | 'disconnected'
    start_time: float


@dataclass
class Desktop:
    """Provider-neutral desktop. Providers derive vendor records from it."""

    id: str
    name: str
    pool_id: str
    index: int
    maintenance: bool = False
    power: str = 'on'  # 'on' | 'off' | 'suspended' (Horizon) / 'hibernated' (clouds)
    os_type: str = 'Windows'
    address: str = ''
    users: list[str] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    # Running transition: dict(kind=..., target=..., until=sim_time, ...); None when idle.
    transition: dict | None = None
    # Provider-specific extra state (e.g. Horizon 'held' machines).
    extra: dict = field(default_factory=dict)


@dataclass
class Pool:
    id: str
    name: str
    desktop_ids: list[str] = field(default_factory=list)


def _rng(seed: int, *salt: Any) -> random.Random:
    digest = hashlib.sha256(repr((seed,) + salt).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], 'big'))


def pool_count(n: int) -> int:
    """Several pools: 3 for small fleets, up to 10 for large ones."""
    if n <= 0:
        return 1
    return max(1, min(10, max(3, n // 100))) if n >= 3 else 1


def generate_fleet(n: int, seed: int, provider: str,
                   desktop_id: Callable[[random.Random, int], str],
                   pool_id: Callable[[random.Random, int], str],
                   name_prefix: str,
                   session_id: Callable[[random.Random, int], str] | None = None,
                   now: float | None = None,
                   suspended_state: str = 'suspended',
                   pools: int | None = None) -> tuple[list[Pool], list[Desktop]]:
    """Build a deterministic fleet of ``n`` desktops spread over several pools.

    About 45 % of the desktops carry a connected session and 10 % a disconnected
    one; about 8 % are powered off and 2 % are suspended/hibernated. Nobody is
    in maintenance. The same ``(n, seed)`` gives the same fleet shape for every
    provider; ids differ because each provider has its own id format.
    """
    rng = _rng(seed, provider, n)
    now = time.time() if now is None else now
    count = pools if pools else pool_count(n)
    pools = [Pool(id=pool_id(rng, i), name='%s-pool-%02d' % (name_prefix, i + 1)) for i in range(count)]
    desktops = []
    for i in range(n):
        pool = pools[i % len(pools)]
        did = desktop_id(rng, i)
        d = Desktop(id=did, name='%s-%s-%04d' % (name_prefix, pool.name.rsplit('-', 1)[-1], i + 1),
                    pool_id=pool.id, index=i,
                    address='10.%d.%d.%d' % (20 + (i // 65536) % 200, (i // 256) % 256, i % 256 or 1))
        user = 'user%05d' % (i + 1)
        d.users = [user]
        roll = rng.random()
        if roll < 0.08:
            d.power = 'off'
        elif roll < 0.10:
            d.power = suspended_state
        else:
            s_roll = rng.random()
            if s_roll < 0.55:
                state = 'connected' if s_roll < 0.45 else 'disconnected'
                sid = session_id(rng, i) if session_id else '%s-s%05d' % (did, i)
                d.sessions.append(Session(id=sid, user=user, state=state,
                                          start_time=now - rng.randint(300, 8 * 3600)))
        pool.desktop_ids.append(did)
        desktops.append(d)
    return pools, desktops


# --------------------------------------------------------------------------- faults

FAULT_KINDS = ('throttle', '5xx', 'drop', 'latency', 'perid')


@dataclass
class FaultRule:
    kind: str
    rate: float = 1.0
    ops: list[str] | None = None  # operation names; 'write' matches every write operation
    ids: list[str] | None = None  # perid only: these ids fail (rate ignored)
    count: int | None = None  # stop after this many injections
    phase: str = 'random'  # 5xx/drop on writes: 'before' | 'after' | 'random' (relative to applying the write)
    min_ms: int = 0
    max_ms: int = 0
    retry_after: float = 1.0  # seconds announced by throttling responses
    injected: int = 0

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ('kind', 'rate', 'ops', 'ids', 'count', 'phase', 'min_ms',
                                              'max_ms', 'retry_after', 'injected')}


def parse_faults(spec: Any) -> list[FaultRule]:
    """Parse a fault spec.

    Accepted forms: a list of rule dicts (JSON), a JSON string of that list, or
    the short form ``throttle:0.1,5xx:0.05,drop:0.02,latency:50-500,perid:0.02``.
    """
    if spec is None or spec == '':
        return []
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith('[') or text.startswith('{'):
            spec = json.loads(text)
        else:
            rules = []
            for part in text.split(','):
                kind, value = (part.strip().split(':', 1) + [''])[:2]
                if kind not in FAULT_KINDS:
                    raise ValueError('unknown fault kind %r (expected one of %s)' % (kind, ', '.join(FAULT_KINDS)))
                if kind == 'latency':
                    lo, hi = (value.split('-', 1) + [''])[:2]
                    rules.append(FaultRule(kind=kind, min_ms=int(lo), max_ms=int(hi or lo)))
                else:
                    rules.append(FaultRule(kind=kind, rate=float(value or 1.0)))
            return rules
    if isinstance(spec, dict):
        spec = spec.get('rules', [spec])
    rules = []
    for item in spec:
        if item.get('kind') not in FAULT_KINDS:
            raise ValueError('unknown fault kind %r' % item.get('kind'))
        known = {k: v for k, v in item.items() if k in FaultRule.__dataclass_fields__ and k != 'injected'}
        rules.append(FaultRule(**known))
    return rules


class FaultInjector:
    def __init__(self, seed: int = 0, rules: list[FaultRule] | None = None) -> None:
        self.seed = seed
        self.rules = list(rules or [])
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def set(self, rules: list[FaultRule]) -> None:
        with self.lock:
            self.rules = list(rules)

    @staticmethod
    def _matches(rule: FaultRule, op: str, is_write: bool) -> bool:
        if rule.ops is None:
            return True
        return op in rule.ops or (is_write and 'write' in rule.ops)

    def pick(self, kind: str, op: str, is_write: bool) -> FaultRule | None:
        """Return the rule that fires for this request, consuming its count, or None."""
        with self.lock:
            for rule in self.rules:
                if rule.kind != kind or not self._matches(rule, op, is_write):
                    continue
                if rule.count is not None and rule.injected >= rule.count:
                    continue
                if self.rng.random() < rule.rate:
                    rule.injected += 1
                    return rule
        return None

    def perid_fails(self, op: str, item_id: str) -> bool:
        """Whether ``item_id`` fails in batch operation ``op``.

        With an ``ids`` list the listed ids fail. With a rate the decision is a
        stable hash of (seed, op, id): a desktop the provider refuses keeps
        being refused on a retry, as a real refusal would.
        """
        with self.lock:
            for rule in self.rules:
                if rule.kind != 'perid' or not self._matches(rule, op, True):
                    continue
                if rule.count is not None and rule.injected >= rule.count:
                    continue
                if rule.ids is not None:
                    hit = item_id in rule.ids
                else:
                    digest = hashlib.sha256(('%s|%s|%s' % (self.seed, op, item_id)).encode()).digest()
                    hit = int.from_bytes(digest[:4], 'big') / 2 ** 32 < rule.rate
                if hit:
                    rule.injected += 1
                    return True
        return False

    def latency(self, op: str, is_write: bool) -> float:
        rule = self.pick('latency', op, is_write)
        if not rule:
            return 0.0
        with self.lock:
            return self.rng.uniform(rule.min_ms, max(rule.min_ms, rule.max_ms)) / 1000.0

    def phase(self, rule: FaultRule) -> str:
        if rule.phase in ('before', 'after'):
            return rule.phase
        with self.lock:
            return 'before' if self.rng.random() < 0.5 else 'after'

    def describe(self) -> list[dict]:
        with self.lock:
            return [r.to_dict() for r in self.rules]


# --------------------------------------------------------------------------- rate limiting


class RateLimiter:
    """Token bucket: ``rate`` requests per second, ``burst`` at once. ``rate=None`` disables it."""

    def __init__(self, rate: float | None = None, burst: int | None = None) -> None:
        self.rate = rate
        self.burst = float(burst or (rate or 0) or 1)
        self.tokens = self.burst
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        if not self.rate:
            return True
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


# --------------------------------------------------------------------------- stats


class Stats:
    LOG_LIMIT = 50000

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, 'lock', threading.Lock()):
            self.total = 0
            self.writes = 0
            self.by_op: dict[str, int] = {}
            self.by_method: dict[str, int] = {}
            self.by_status: dict[str, int] = {}
            self.faults: dict[str, int] = {}
            self.rate_limited = 0
            self.busy_seconds = 0.0
            self.log: list[dict] = []

    def record(self, op: str, method: str, status: int | None, is_write: bool, seconds: float,
               fault: str | None = None, items: int | None = None) -> None:
        with self.lock:
            self.total += 1
            if is_write:
                self.writes += 1
            self.by_op[op] = self.by_op.get(op, 0) + 1
            self.by_method[method] = self.by_method.get(method, 0) + 1
            key = str(status) if status is not None else 'dropped'
            self.by_status[key] = self.by_status.get(key, 0) + 1
            if fault:
                self.faults[fault] = self.faults.get(fault, 0) + 1
            self.busy_seconds += seconds
            if len(self.log) < self.LOG_LIMIT:
                self.log.append({'op': op, 'method': method, 'status': status, 'write': is_write,
                                 'fault': fault, 'items': items, 'time': time.time()})

    def count_rate_limited(self) -> None:
        with self.lock:
            self.rate_limited += 1

    def snapshot(self, with_log: bool = False) -> dict:
        with self.lock:
            out = {'total': self.total, 'writes': self.writes, 'by_op': dict(self.by_op),
                   'by_method': dict(self.by_method), 'by_status': dict(self.by_status),
                   'faults': dict(self.faults), 'rate_limited': self.rate_limited,
                   'busy_seconds': round(self.busy_seconds, 6)}
            if with_log:
                out['log'] = list(self.log)
            return out


# --------------------------------------------------------------------------- HTTP plumbing


class Request:
    """A parsed incoming request as providers see it."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method.upper()
        self.target = target
        parts = urlsplit(target)
        self.path = parts.path
        self.raw_query = parts.query
        self.query = parse_qsl(parts.query, keep_blank_values=True)
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body
        self.params: dict[str, str] = {}  # path parameters, filled by the router
        self._json: Any = None

    def q(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.query:
            if k == name:
                return v
        return default

    def q_all(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """Decode the JSON body; raises ValueError on a malformed body."""
        if self._json is None and self.body:
            self._json = json.loads(self.body.decode('utf-8'))
        return self._json


class Response:
    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None,
                 content_type: str = 'application/json') -> None:
        self.status = status
        self.headers = dict(headers or {})
        if body is None:
            self.data = b''
        elif isinstance(body, bytes):
            self.data = body
        elif isinstance(body, str):
            self.data = body.encode('utf-8')
        else:
            self.data = json.dumps(body).encode('utf-8')
        if self.data and 'Content-Type' not in self.headers:
            self.headers['Content-Type'] = content_type


@dataclass
class Route:
    method: str
    pattern: str  # e.g. '/v2/{project_id}/desktops/detail'
    op: str
    handler: Callable[[Request], Response]
    write: bool = False
    auth: bool = True

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        want = self.pattern.strip('/').split('/')
        got = path.strip('/').split('/')
        if len(want) != len(got):
            return None
        params = {}
        for w, g in zip(want, got):
            if w.startswith('{') and w.endswith('}'):
                if not g:
                    return None
                params[w[1:-1]] = g
            elif w != g:
                return None
        return params


class ProviderSim:
    """Base class of a simulated provider API.

    Subclasses set ``name``, fill ``self.routes`` (list of :class:`Route`) and
    implement the vendor-shaped responses below. Handlers run under
    ``self.lock``, so they can change state freely.
    """

    name = 'provider'

    def __init__(self, sim: 'Simulator') -> None:
        self.sim = sim
        self.lock = threading.RLock()
        self.routes: list[Route] = []
        self.pools: list[Pool] = []
        self.desktops: dict[str, Desktop] = {}
        self.messages: list[dict] = []  # every message delivered to a session: {session_id, desktop_id, text, ...}
        self.endpoint = ''

    # -- lifecycle
    def reset(self, fleet: int, seed: int) -> None:
        raise NotImplementedError

    def credentials(self) -> dict:
        """Connection values under the modules' option names (endpoint is added by the core)."""
        raise NotImplementedError

    # -- request classification
    def classify(self, req: Request) -> tuple[Route | None, str]:
        """Find the route for a request. Returns (route, op name); op is used for stats and faults."""
        for route in self.routes:
            params = route.match(req.method, req.path)
            if params is not None:
                req.params = params
                return route, route.op
        return None, 'unknown'

    def authenticate(self, req: Request, route: Route) -> Response | None:
        """Return an error Response when the request is not authenticated, else None."""
        return None

    # -- vendor-shaped responses
    def not_found(self, req: Request) -> Response:
        return Response(404, {'error': 'not found', 'path': req.path})

    def bad_request(self, message: str) -> Response:
        return Response(400, {'error': message})

    def throttled(self, retry_after: float) -> Response:
        raise NotImplementedError

    def server_error(self) -> Response:
        raise NotImplementedError

    # -- time
    def settle(self) -> None:
        """Apply every transition whose time has come. Called before each request under the lock."""
        now = self.sim.clock.now()
        for d in self.desktops.values():
            t = d.transition
            if t and t['until'] <= now:
                self.finish_transition(d, t)

    def finish_transition(self, desktop: Desktop, transition: dict) -> None:
        desktop.transition = None
        if 'power' in transition:
            desktop.power = transition['power']
            if desktop.power != 'on':
                desktop.sessions = []

    # -- control
    def patch_desktop(self, desktop_id: str, patch: dict) -> dict:
        d = self.desktops.get(desktop_id) or next((x for x in self.desktops.values() if x.name == desktop_id), None)
        if d is None:
            raise KeyError(desktop_id)
        for key in ('maintenance', 'power', 'os_type', 'name', 'address'):
            if key in patch:
                setattr(d, key, patch[key])
        if 'transition' in patch:
            t = patch['transition']
            if t is not None:
                t = dict(t)
                t['until'] = self.sim.clock.now() + float(t.pop('seconds', 0))
            d.transition = t
        if 'sessions' in patch:
            d.sessions = [Session(id=s.get('id') or '%s-s%d' % (d.id, n), user=s.get('user', d.users[0] if d.users else 'user'),
                                  state=s.get('state', 'connected'), start_time=s.get('start_time', self.sim.clock.now()))
                          for n, s in enumerate(patch['sessions'])]
        if 'extra' in patch:
            d.extra.update(patch['extra'])
        return self.desktop_state(d)

    def patch_pool(self, pool_id: str, patch: dict) -> dict:
        p = next((x for x in self.pools if x.id == pool_id), None) or next(
            (x for x in self.pools if x.name == pool_id), None)
        if p is None:
            raise KeyError(pool_id)
        if 'name' in patch:
            p.name = patch['name']
        return {'id': p.id, 'name': p.name, 'desktops': len(p.desktop_ids)}

    def desktop_state(self, d: Desktop) -> dict:
        return {
            'id': d.id, 'name': d.name, 'pool': d.pool_id, 'maintenance': d.maintenance, 'power': d.power,
            'transitioning': d.transition is not None, 'transition': dict(d.transition) if d.transition else None,
            'address': d.address, 'os_type': d.os_type,
            'sessions': [{'id': s.id, 'user': s.user, 'state': s.state, 'start_time': s.start_time} for s in d.sessions],
            'extra': dict(d.extra),
        }

    def state(self) -> dict:
        return {
            'provider': self.name,
            'time': self.sim.clock.now(),
            'pools': [{'id': p.id, 'name': p.name, 'desktops': len(p.desktop_ids)} for p in self.pools],
            'desktops': [self.desktop_state(d) for d in self.desktops.values()],
            'messages': list(self.messages),
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'vdi-fleet-sim/1.0'
    sys_version = ''

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        if self.server.sim.verbose:
            super().log_message(format, *args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(resp.data)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(resp.data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self) -> None:
        start = time.perf_counter()
        provider: ProviderSim = self.server.provider
        sim: Simulator = self.server.sim
        body = self._read_body()
        req = Request(self.command, self.path, dict(self.headers.items()), body)
        if req.path.startswith('/_sim/'):
            self._send(sim.control(provider, req))
            return
        route, op = provider.classify(req)
        is_write = bool(route and route.write)
        try:
            resp, fault = self._outcome(provider, sim, req, route, op, is_write)
        except Exception:
            sim.stats[provider.name].record(op, req.method, None, is_write, time.perf_counter() - start, None)
            raise
        # Counted before the client can see the outcome: a client that reads /_sim/stats after its
        # answer (or after its dropped connection) always finds its own request counted. Every
        # request to a state-changing operation counts as a write, whatever its outcome.
        sim.stats[provider.name].record(op, req.method, resp.status if resp is not None else None, is_write,
                                        time.perf_counter() - start, fault)
        if resp is None:
            self._drop()
        else:
            self._send(resp)

    def _outcome(self, provider: 'ProviderSim', sim: 'Simulator', req: Request, route: Route | None, op: str,
                 is_write: bool) -> tuple[Response | None, str | None]:
        """The answer to one request (None: drop the connection) and the fault injected, if any.

        Any write is applied here, under the provider lock, before the answer goes out.
        """
        faults = sim.faults
        delay = faults.latency(op, is_write)
        if delay:
            time.sleep(delay)
        drop = faults.pick('drop', op, is_write)
        drop_phase = faults.phase(drop) if drop else None
        if drop and (drop_phase == 'before' or not is_write):
            return None, 'drop'
        if not sim.limiter[provider.name].allow():
            sim.stats[provider.name].count_rate_limited()
            return provider.throttled(1.0), 'rate_limited'
        rule = faults.pick('throttle', op, is_write)
        if rule:
            return provider.throttled(rule.retry_after), 'throttle'
        err = faults.pick('5xx', op, is_write)
        err_phase = faults.phase(err) if err else None
        if err and (err_phase == 'before' or not is_write):
            return provider.server_error(), '5xx'
        with provider.lock:
            provider.settle()
            if route is None:
                resp = provider.not_found(req)
            else:
                resp = provider.authenticate(req, route) if route.auth else None
                if resp is None:
                    try:
                        resp = route.handler(req)
                    except ValueError as exc:  # malformed input the handler could not parse
                        resp = provider.bad_request(str(exc))
        if drop:  # write applied, answer lost
            return None, 'drop'
        if err:  # write applied, error answered
            return provider.server_error(), '5xx'
        return resp, None

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, sim: 'Simulator', provider: ProviderSim, ssl_ctx: ssl.SSLContext | None) -> None:
        self.sim = sim
        self.provider = provider
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, _Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body go out in separate writes
        if self.ssl_ctx is not None:
            # Handshake in the handler thread, so a slow client cannot stall the accept loop.
            sock = self.ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        if self.sim.verbose:
            super().handle_error(request, client_address)


# --------------------------------------------------------------------------- simulator


class Simulator:
    def __init__(self, providers=('horizon', 'huaweicloud', 'alicloud'), fleet: int = 30, seed: int = 1,
                 time_scale: float = 1.0, tls: bool = True, host: str = '127.0.0.1', port: int = 0,
                 faults: Any = None, horizon_version: str = '2512', token_lifetime: float = 1800.0,
                 state_dir: str | None = None, rate_limit: float | None = None, verbose: bool = False,
                 options: dict | None = None, pools: int | None = None) -> None:
        self.provider_names = list(providers)
        self.fleet = fleet
        self.pools = pools
        self.seed = seed
        self.clock = Clock(time_scale)
        self.tls = tls
        self.host = host
        self.port = port
        self.faults = FaultInjector(seed, parse_faults(faults))
        self.horizon_version = str(horizon_version)
        self.token_lifetime = float(token_lifetime)
        self.state_dir = state_dir or tempfile.mkdtemp(prefix='vdi-fleet-sim-')
        self.rate_limit = rate_limit
        self.verbose = verbose
        self.options = dict(options or {})
        self.providers: dict[str, ProviderSim] = {}
        self.stats: dict[str, Stats] = {}
        self.limiter: dict[str, RateLimiter] = {}
        self.servers: dict[str, _Server] = {}
        self.threads: list[threading.Thread] = []
        self.ca_path: str | None = None
        self.info: dict = {}

    # -- TLS
    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        import trustme  # test-only dependency

        ca = trustme.CA()
        cert = ca.issue_cert('localhost', '127.0.0.1', '::1')
        os.makedirs(self.state_dir, exist_ok=True)
        self.ca_path = os.path.join(self.state_dir, 'ca.pem')
        ca.cert_pem.write_to_path(self.ca_path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        return ctx

    def _load(self, name: str) -> ProviderSim:
        mod_name, cls_name = PROVIDERS[name].split(':', 1)
        try:
            module = importlib.import_module('.' + mod_name, __package__) if __package__ else importlib.import_module(mod_name)
        except ImportError:
            module = importlib.import_module(mod_name)
        return getattr(module, cls_name)(self)

    def start(self) -> dict:
        ctx = self._ssl_context()
        scheme = 'https' if ctx else 'http'
        self.info = {'ca_path': self.ca_path, 'pid': os.getpid(), 'tls': bool(ctx)}
        for offset, name in enumerate(self.provider_names):
            provider = self._load(name)
            provider.reset(self.fleet, self.seed)
            self.providers[name] = provider
            self.stats[name] = Stats()
            self.limiter[name] = RateLimiter(self.rate_limit)
            port = self.port + offset if self.port else 0
            server = _Server((self.host, port), self, provider, ctx)
            self.servers[name] = server
            host = self.host if ':' not in self.host else '[%s]' % self.host
            provider.endpoint = '%s://%s:%d' % (scheme, host, server.server_address[1])
            thread = threading.Thread(target=server.serve_forever, name='sim-%s' % name, daemon=True)
            thread.start()
            self.threads.append(thread)
            entry = {'provider': name, 'endpoint': provider.endpoint}
            entry.update(provider.credentials())
            self.info[name] = entry
            # Other ways to authenticate (e.g. Huawei IAM password, STS), as '<provider>_<label>' blocks.
            for label, values in getattr(provider, 'alternate_credentials', dict)().items():
                alt = {'provider': name, 'endpoint': provider.endpoint}
                alt.update(values)
                self.info['%s_%s' % (name, label)] = alt
        return self.info

    def stop(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=5)

    # -- control endpoints
    def control(self, provider: ProviderSim, req: Request) -> Response:
        path = req.path[len('/_sim/'):].strip('/')
        try:
            data = req.json() if req.body else {}
        except ValueError:
            return Response(400, {'error': 'control body must be JSON'})
        data = data or {}
        if path == 'state' and req.method == 'GET':
            with provider.lock:
                provider.settle()
                return Response(200, provider.state())
        if path == 'stats' and req.method == 'GET':
            return Response(200, self.stats[provider.name].snapshot(with_log=req.q('log') in ('1', 'true')))
        if path == 'stats' and req.method == 'DELETE':
            self.stats[provider.name].reset()
            return Response(200, {'ok': True})
        if path == 'reset' and req.method == 'POST':
            with provider.lock:
                if not data.get('keep_state'):
                    provider.reset(int(data.get('fleet', self.fleet)), int(data.get('seed', self.seed)))
                if not data.get('keep_faults'):
                    self.faults.set([])
                self.stats[provider.name].reset()
            return Response(200, {'ok': True, 'desktops': len(provider.desktops)})
        if path == 'faults' and req.method == 'POST':
            try:
                rules = parse_faults(data.get('rules', data) if isinstance(data, dict) else data)
            except (ValueError, TypeError) as exc:
                return Response(400, {'error': str(exc)})
            self.faults.set(rules)
            return Response(200, {'rules': self.faults.describe()})
        if path == 'faults' and req.method == 'GET':
            return Response(200, {'rules': self.faults.describe()})
        if path == 'clock' and req.method == 'POST':
            self.clock.advance(float(data.get('advance', 0)))
            return Response(200, {'time': self.clock.now()})
        if path.startswith('desktops/') and req.method in ('POST', 'PATCH'):
            with provider.lock:
                provider.settle()
                try:
                    return Response(200, provider.patch_desktop(path[len('desktops/'):], data))
                except KeyError:
                    return Response(404, {'error': 'no such desktop'})
        if path.startswith('pools/') and req.method in ('POST', 'PATCH'):
            with provider.lock:
                try:
                    return Response(200, provider.patch_pool(path[len('pools/'):], data))
                except KeyError:
                    return Response(404, {'error': 'no such pool'})
        return Response(404, {'error': 'unknown control endpoint %s %s' % (req.method, req.path)})
