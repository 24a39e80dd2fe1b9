"""Omnissa Horizon Server REST API simulator (``/rest``).

Follows the official OpenAPI specs (2406, 2512) to the field for the calls the
collection uses: login/refresh/logout, environment properties, machines (v1, v2),
desktop pools (v1, v2), sessions, the machine actions (enter/exit maintenance,
restart, reset, shutdown) and the session actions (send-message, logoff,
disconnect). Filters, paging (``page``/``size``, ``HAS_MORE_RECORDS``,
``X-TOTAL-COUNT``) and the error behaviour follow the Pagination/Filter and
Throttling guides.

Everything the vendor does not document is decided in ONE named constant or
function below (section "Assumptions"); the README lists them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
import uuid
from typing import Any

try:
    from .core import Desktop, ProviderSim, Request, Response, Route, Session, generate_fleet
except ImportError:  # loaded as a top-level module (tests put tests/simulator on sys.path)
    from core import Desktop, ProviderSim, Request, Response, Route, Session, generate_fleet  # type: ignore
try:
    from .horizon_patching import HorizonPatching
except ImportError:  # loaded as a top-level module
    from horizon_patching import HorizonPatching  # type: ignore

# =========================================================================== assumptions
# Each of these is a behaviour the vendor documents nowhere (reference notes section 9).

#: YYMM release -> ``local_connection_server_version``. No official table was found; this is the
#: usual community numbering (2006 = 8.0, one minor per release). Isolated in
#: :func:`connection_server_version`.
HORIZON_RELEASES = (
    ('2006', '8.0.0'), ('2012', '8.1.0'), ('2103', '8.2.0'), ('2106', '8.3.0'), ('2111', '8.4.0'),
    ('2203', '8.5.0'), ('2206', '8.6.0'), ('2209', '8.7.0'), ('2212', '8.8.0'), ('2303', '8.9.0'),
    ('2306', '8.10.0'), ('2309', '8.11.0'), ('2312', '8.12.0'), ('2406', '8.13.0'), ('2412', '8.14.0'),
    ('2503', '8.15.0'), ('2506', '8.16.0'), ('2512', '8.17.0'), ('2603', '8.18.0'), ('2606', '8.19.0'),
)

#: What ``state`` shows for a machine in maintenance that still has a session: 'MAINTENANCE'
#: (maintenance wins, the session is only visible through ``session_id`` / the sessions API) or
#: 'SESSION' (CONNECTED/DISCONNECTED wins). Unconfirmed; maintenance wins here, which is the
#: stricter choice for clients that would count sessions from ``state``.
MAINTENANCE_STATE_WITH_SESSION = 'MAINTENANCE'

#: Entering maintenance on a machine already in maintenance (or exiting one that is not):
#: 'request_400' = the whole request is refused with HTTP 400 and nothing is applied (the
#: "misleading 400" of the third-party fake), 'per_id_400' = only that id fails, 'noop' = 200.
MAINTENANCE_REPEAT = 'request_400'

#: Whether servers from 2412 on still take the bare array body for restart/shutdown (unconfirmed).
RESTART_ARRAY_ACCEPTED_FROM_2412 = False

#: Simulated seconds of a machine action before the machine is AVAILABLE (or powered off) again.
RESTART_SECONDS = (20.0, 60.0)
RESET_SECONDS = (15.0, 40.0)
SHUTDOWN_SECONDS = (10.0, 40.0)
#: Simulated seconds between an accepted logoff and the session disappearing.
LOGOFF_SECONDS = 8.0

#: Access token lifetime is ``sim.token_lifetime``; the refresh token lives this many times longer.
REFRESH_LIFETIME_FACTOR = 8
#: HTTP status of /refresh with an unknown, expired or logged-out refresh token (the spec lists
#: 400, 429 and 500 for /refresh, no 401).
REFRESH_FAILURE_STATUS = 400

#: Longest request target Tomcat takes (maxHttpHeaderSize 8 KB); longer ones get an HTML 400.
MAX_REQUEST_TARGET = 8192

#: Per-id failure injected by ``perid`` faults.
PERID_FAULT = (400, 'inventory.machine.operation.failed', 'The operation failed on the machine. Check the vCenter task log.')


def connection_server_version(yymm: str) -> str:
    """``local_connection_server_version`` of a YYMM release (unknown releases get the next minor)."""
    known = dict(HORIZON_RELEASES)
    if yymm in known:
        return known[yymm]
    minor = sum(1 for release, version in HORIZON_RELEASES if release < yymm and version)
    return '8.%d.0' % minor


def connection_server_build(yymm: str) -> str:
    digest = hashlib.sha256(('build' + yymm).encode()).digest()
    return str(20000000 + int.from_bytes(digest[:3], 'big') % 9000000)


def machine_state(d: Desktop) -> str:
    """The single ``state`` value of a machine (precedence: override, operation, maintenance, power, session)."""
    override = d.extra.get('state')
    if override:
        return override
    if d.transition is not None:
        return 'IN_PROGRESS'
    session_state = None
    if d.sessions:
        session_state = 'CONNECTED' if any(s.state == 'connected' for s in d.sessions) else 'DISCONNECTED'
    if d.maintenance:
        if session_state and MAINTENANCE_STATE_WITH_SESSION == 'SESSION':
            return session_state
        return 'MAINTENANCE'
    if d.power != 'on':
        return 'PROVISIONED'
    return session_state or 'AVAILABLE'


def logoff_refused(session: Session, forced: bool) -> bool:
    """A normal (not forced) logoff is refused for a session that may be locked.

    The spec says non-forced logoff only works "if they are not locked". The simulator does not
    model the lock screen, so every CONNECTED session counts as possibly locked and is refused
    per id; DISCONNECTED sessions are logged off normally.
    """
    return not forced and session.state == 'connected'


def restart_refused_for_sessions(d: Desktop, force: bool | None) -> bool:
    """From 2412 restart/shutdown take ``forceOperation``; without it a machine with sessions is refused per id."""
    return force is not True and bool(d.sessions)


def send_message_refused(session: Session) -> bool:
    """Messages reach connected sessions only; a DISCONNECTED session fails per id (unconfirmed)."""
    return session.state != 'connected'


# =========================================================================== field tables

# Supported filter types per field, from the model descriptions ("Supported Filters : ...").
MACHINE_FILTERS = {
    'id': ('Equals',),
    'name': ('Equals', 'StartsWith', 'Contains'),
    'dns_name': ('Equals', 'StartsWith', 'EndsWith', 'Contains'),
    'desktop_pool_id': ('Equals',),
    'state': ('Equals',),
    'type': ('Equals',),
    'user_ids': ('Equals', 'NotEquals', 'Contains'),
    'agent_version': ('Equals',),
    'agent_build_number': ('Equals',),
    'message_security_mode': ('Equals',),
    'managed_machine_data.host_name': ('Equals', 'StartsWith', 'EndsWith', 'Contains'),
    'managed_machine_data.path': ('Equals', 'StartsWith', 'EndsWith', 'Contains'),
    'managed_machine_data.virtual_center_id': ('Equals',),
    'managed_machine_data.virtual_machine_power_state': ('Equals',),
    'managed_machine_data.in_hold_customization': ('Equals',),
    'managed_machine_data.missing_in_vcenter': ('Equals',),
    'managed_machine_data.storage_accelerator_state': ('Equals',),
}
MACHINE_SORT = ('id', 'name', 'dns_name', 'desktop_pool_id', 'state', 'type', 'agent_version', 'operating_system')

SESSION_FILTERS = {
    'id': ('Equals',),
    'user_id': ('Equals', 'Contains', 'StartsWith'),
    'broker_user_id': ('Equals',),
    'access_group_id': ('Equals',),
    'machine_id': ('Equals',),
    'desktop_pool_id': ('Equals',),
    'farm_id': ('Equals',),
    'rds_server_id': ('Equals',),
    'session_type': ('Equals',),
    'session_state': ('Equals', 'NotEquals'),
    'session_protocol': ('Equals',),
    'agent_version': ('Equals',),
    'start_time': ('Equals', 'Between'),
    'disconnected_time': ('Equals', 'Between'),
    'idle_duration': ('Equals', 'Between'),
    'last_session_duration_ms': ('Equals', 'Between'),
    'brokered_remotely': ('Equals',),
    'resourced_remotely': ('Equals',),
    'unauthenticated': ('Equals',),
    'application_names': ('Contains',),
}
SESSION_SORT = ('id', 'user_id', 'machine_id', 'desktop_pool_id', 'session_state', 'session_type', 'start_time')

POOL_FILTERS = {
    'id': ('Equals',),
    'name': ('Equals', 'StartsWith', 'Contains'),
    'display_name': ('Equals', 'StartsWith', 'Contains'),
    'description': ('Equals', 'StartsWith', 'Contains'),
    'type': ('Equals',),
    'source': ('Equals',),
    'enabled': ('Equals',),
    'enable_provisioning': ('Equals',),
    'user_assignment': ('Equals',),
    'access_group_id': ('Equals',),
    'vcenter_id': ('Equals',),
    'session_type': ('Equals',),
    'delete_in_progress': ('Equals',),
}
POOL_SORT = ('id', 'name', 'display_name', 'type', 'source', 'enabled')

LOGICAL_FILTERS = ('And', 'Or', 'Not')
FIELD_FILTERS = ('Equals', 'NotEquals', 'StartsWith', 'Contains', 'EndsWith', 'Between')
MAX_PAGE_SIZE = 1000
MESSAGE_TYPES = ('ERROR', 'WARNING', 'INFO')

THROTTLE_KEY = 'common.api-throttle-limit.exceeded.error'
THROTTLE_MESSAGE = 'API throttling limit have been exceeded. Retry after some time.'

DOMAIN_NETBIOS = 'EXAMPLE'
DOMAIN_DNS = 'example.com'
DOMAIN_SID = 'S-1-5-21-1840321945-2205843791-3307624178'


class BadRequest(Exception):
    """A request the API refuses as a whole (HTTP 400 with the errors envelope)."""

    def __init__(self, message: str, key: str = 'common.request.invalid', status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.status = status


def _uuid(rng) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _ms(t: float) -> int:
    return int(t * 1000)


def _prune(obj: Any) -> Any:
    """Drop None values, as the server's JSON mapper does (NON_NULL)."""
    if isinstance(obj, dict):
        return {k: _prune(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_prune(v) for v in obj]
    return obj


def _lookup(record: dict, path: str) -> Any:
    node: Any = record
    for part in path.split('.'):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


class _LazyRecords:
    """A sequence of desktops that renders records only when sliced (for paging)."""

    def __init__(self, desktops: list, render) -> None:
        self.desktops = desktops
        self.render = render

    def __len__(self) -> int:
        return len(self.desktops)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self.render(d) for d in self.desktops[item]]
        return self.render(self.desktops[item])

    def __iter__(self):
        return (self.render(d) for d in self.desktops)


class HorizonSim(HorizonPatching, ProviderSim):
    name = 'horizon'

    USERNAME = 'svc-vdifleet'
    PASSWORD = 'Hz-Sim!pass-2026'
    DOMAIN = DOMAIN_NETBIOS

    def __init__(self, sim) -> None:
        super().__init__(sim)
        self.version = str(sim.horizon_version)
        self.tokens: dict[str, dict] = {}
        self.login_sessions: dict[str, dict] = {}
        self.pending_logoffs: dict[str, float] = {}  # session id -> sim time it disappears
        self.pool_info: dict[str, dict] = {}
        self.access_group_id = ''
        self.vcenter_id = ''
        self.cluster_guid = ''
        b = '/rest'
        inv = b + '/inventory/v1'
        routes = [
            Route('POST', b + '/login', 'login', self.h_login, auth=False),
            Route('POST', b + '/refresh', 'refresh', self.h_refresh, auth=False),
            Route('POST', b + '/logout', 'logout', self.h_logout, auth=False),
            Route('GET', b + '/config/v2/environment-properties', 'get_environment', self.h_environment),
            Route('GET', inv + '/machines', 'list_machines', lambda r: self.h_list_machines(r, 1)),
            Route('GET', b + '/inventory/v2/machines', 'list_machines_v2', lambda r: self.h_list_machines(r, 2)),
            Route('GET', inv + '/machines/{id}', 'get_machine', self.h_get_machine),
            Route('GET', inv + '/desktop-pools', 'list_pools', self.h_list_pools_v1),
            Route('GET', b + '/inventory/v2/desktop-pools', 'list_pools_v2', self.h_list_pools_v2),
            Route('POST', inv + '/machines/action/enter-maintenance', 'enter_maintenance',
                  lambda r: self.h_maintenance(r, True), write=True),
            Route('POST', inv + '/machines/action/exit-maintenance', 'exit_maintenance',
                  lambda r: self.h_maintenance(r, False), write=True),
            Route('POST', inv + '/machines/action/restart', 'restart_machines',
                  lambda r: self.h_machine_power(r, 'restart'), write=True),
            Route('POST', inv + '/machines/action/reset', 'reset_machines',
                  lambda r: self.h_machine_power(r, 'reset'), write=True),
            Route('GET', inv + '/sessions', 'list_sessions', self.h_list_sessions),
            Route('GET', inv + '/sessions/{id}', 'get_session', self.h_get_session),
            Route('POST', inv + '/sessions/action/send-message', 'send_message', self.h_send_message, write=True),
            Route('POST', inv + '/sessions/action/logoff', 'logoff_sessions', self.h_logoff, write=True),
            Route('POST', inv + '/sessions/action/disconnect', 'disconnect_sessions', self.h_disconnect, write=True),
        ]
        if self.version >= '2406':
            routes.append(Route('POST', inv + '/machines/action/shutdown', 'shutdown_machines',
                                lambda r: self.h_machine_power(r, 'shutdown'), write=True))
        routes += self.patching_routes()  # image operations (horizon_patching.py)
        self.routes = [Route(x.method, x.pattern, x.op, self._guard(x.handler), x.write, x.auth) for x in routes]

    # ------------------------------------------------------------------ lifecycle
    def reset(self, fleet: int, seed: int) -> None:
        now = self.sim.clock.now()
        pools, desktops = generate_fleet(
            fleet, seed, self.name, pools=self.sim.pools,
            desktop_id=lambda rng, i: _uuid(rng),
            pool_id=lambda rng, i: _uuid(rng),
            name_prefix='hzn',
            session_id=lambda rng, i: _uuid(rng),
            now=now,
            suspended_state='suspended')
        self.pools = pools
        self.desktops = {d.id: d for d in desktops}
        self.messages = []
        self.tokens = {}
        self.login_sessions = {}
        self.pending_logoffs = {}
        rng = random.Random('horizon-%s-%s' % (seed, fleet))
        self.access_group_id = _uuid(rng)
        self.vcenter_id = _uuid(rng)
        self.cluster_guid = _uuid(rng)
        self.pool_info = {}
        for n, p in enumerate(pools):
            self.pool_info[p.id] = {
                'user_assignment': 'DEDICATED' if n % 2 == 0 else 'FLOATING',
                'create_time': _ms(now - 86400 * (30 + n)),
            }
        self.reset_patching()

    def credentials(self) -> dict:
        return {'username': self.USERNAME, 'password': self.PASSWORD, 'domain': self.DOMAIN}

    # ------------------------------------------------------------------ envelopes
    def _envelope(self, status: int, key: str, message: str, label: str) -> dict:
        return {'status': label, 'timestamp': _ms(self.sim.clock.now()),
                'errors': [{'error_key': key, 'error_message': message}]}

    def error(self, status: int, key: str, message: str) -> Response:
        labels = {400: 'BAD_REQUEST', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'NOT_FOUND',
                  409: 'CONFLICT', 429: 'TOO_MANY_REQUESTS', 500: 'INTERNAL_SERVER_ERROR'}
        return Response(status, self._envelope(status, key, message, labels.get(status, 'ERROR')))

    def throttled(self, retry_after: float) -> Response:
        value = ('%d' % retry_after) if float(retry_after) == int(retry_after) else ('%.3f' % retry_after).rstrip('0')
        resp = self.error(429, THROTTLE_KEY, THROTTLE_MESSAGE)
        resp.headers['X-Rate-Limit-Retry-After-Seconds'] = value
        return resp

    def server_error(self) -> Response:
        return self.error(500, 'common.internal.server.error', 'Internal server error. Check the Connection Server logs.')

    def not_found(self, req: Request) -> Response:
        # An unmapped path gets the servlet container's default error body, not the API envelope.
        return Response(404, {'timestamp': _ms(self.sim.clock.now()), 'status': 404, 'error': 'Not Found',
                              'path': req.path})

    def bad_request(self, message: str) -> Response:
        return self.error(400, 'common.request.body.invalid', 'Malformed request: %s' % message)

    def _guard(self, handler):
        def run(req: Request) -> Response:
            try:
                return handler(req)
            except BadRequest as exc:
                return self.error(exc.status, exc.key, exc.message)
        return run

    # ------------------------------------------------------------------ auth
    def _token(self, kind: str, login_id: str, lifetime: float) -> str:
        now = self.sim.clock.now()
        header = {'alg': 'HS512', 'typ': 'JWT'}
        sess = self.login_sessions[login_id]
        claims = {'token type': '%s token' % kind, 'subject': sess['subject'], 'domain': sess['domain'],
                  'session-id': login_id, 'jti': secrets.token_hex(8), 'iat': int(now), 'nbf': int(now),
                  'exp': int(now + lifetime)}
        token = '.'.join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()),
                          _b64(secrets.token_bytes(48))))
        self.tokens[token] = {'kind': kind, 'login': login_id, 'exp': now + lifetime}
        return token

    def _valid(self, token: str | None, kind: str) -> dict | None:
        info = self.tokens.get(token or '')
        if not info or info['kind'] != kind:
            return None
        if info['exp'] <= self.sim.clock.now():
            return None
        if not self.login_sessions.get(info['login'], {}).get('active'):
            return None
        return info

    def authenticate(self, req: Request, route: Route) -> Response | None:
        if len(req.target) > MAX_REQUEST_TARGET:
            return Response(400, '<!doctype html><html lang="en"><head><title>HTTP Status 400 - Bad Request</title>'
                                 '</head><body><h1>HTTP Status 400 - Bad Request</h1></body></html>',
                            content_type='text/html;charset=utf-8')
        value = req.header('Authorization') or ''
        scheme, token = (value.split(' ', 1) + [''])[:2]
        if scheme.lower() != 'bearer' or not token.strip():
            resp = self.error(401, 'common.user.not.authenticated', 'User is not authenticated.')
        elif self._valid(token.strip(), 'access') is None:
            resp = self.error(401, 'common.user.not.authenticated', 'User is not authenticated: the access token '
                                                                    'is invalid or has expired.')
        else:
            return None
        resp.headers['WWW-Authenticate'] = 'Bearer'
        return resp

    def _json_object(self, req: Request) -> dict:
        try:
            body = req.json()
        except ValueError:
            raise BadRequest('The request body is not valid JSON.', 'common.request.body.invalid')
        if not isinstance(body, dict):
            raise BadRequest('The request body must be a JSON object.', 'common.request.body.invalid')
        return body

    def h_login(self, req: Request) -> Response:
        body = self._json_object(req)
        for name in ('username', 'password', 'domain'):
            if body.get(name) in (None, '', []):
                raise BadRequest('%s is mandatory.' % name, 'common.property.mandatory')
        username, password, domain = body['username'], body['password'], body['domain']
        if isinstance(password, list) and all(isinstance(c, str) for c in password):
            password = ''.join(password)  # the spec's char[] form, as Jackson reads it
        if not all(isinstance(v, str) for v in (username, password, domain)):
            raise BadRequest('username, password and domain must be strings.', 'common.request.body.invalid')
        ok = (username.lower() == self.USERNAME.lower() and password == self.PASSWORD
              and domain.lower() in (DOMAIN_NETBIOS.lower(), DOMAIN_DNS))
        # UPN (user@domain) is not supported: it never matches an account name, so it fails like a bad password.
        if not ok:
            return self.error(401, 'common.login.failed', 'Authentication failed: invalid user name, password or domain.')
        login_id = str(uuid.uuid4())
        self.login_sessions[login_id] = {'active': True, 'subject': username, 'domain': domain.upper()}
        lifetime = self.sim.token_lifetime
        return Response(200, {'access_token': self._token('access', login_id, lifetime),
                              'refresh_token': self._token('refresh', login_id, lifetime * REFRESH_LIFETIME_FACTOR)})

    def h_refresh(self, req: Request) -> Response:
        body = self._json_object(req)
        if not body.get('refresh_token'):
            raise BadRequest('refresh_token is mandatory.', 'common.property.mandatory')
        info = self._valid(body['refresh_token'], 'refresh')
        if info is None:
            return self.error(REFRESH_FAILURE_STATUS, 'common.refresh.token.invalid',
                              'The refresh token is invalid or has expired. Log in again.')
        return Response(200, {'access_token': self._token('access', info['login'], self.sim.token_lifetime)})

    def h_logout(self, req: Request) -> Response:
        body = self._json_object(req)
        if not body.get('refresh_token'):
            raise BadRequest('refresh_token is mandatory.', 'common.property.mandatory')
        info = self._valid(body['refresh_token'], 'refresh')
        if info is None:
            return self.error(400, 'common.refresh.token.invalid', 'The refresh token is invalid or has expired.')
        self.login_sessions[info['login']]['active'] = False
        for token in [t for t, v in self.tokens.items() if v['login'] == info['login']]:
            del self.tokens[token]
        return Response(200)

    # ------------------------------------------------------------------ environment
    def h_environment(self, req: Request) -> Response:
        return Response(200, {
            'cluster_guid': self.cluster_guid,
            'cluster_name': 'Cluster-CS01',
            'deployment_type': 'GENERAL',
            'fips_mode_enabled': False,
            'ip_mode': 'IPv4',
            'local_connection_server_build': connection_server_build(self.version),
            'local_connection_server_version': connection_server_version(self.version),
            'timezone_offset': 0,
        })

    # ------------------------------------------------------------------ rendering
    def user_sid(self, user: str) -> str:
        digits = ''.join(c for c in user if c.isdigit()) or '0'
        return '%s-%d' % (DOMAIN_SID, 1100 + int(digits))

    def render_machine(self, d: Desktop, version: int = 1) -> dict:
        unmanaged = bool(d.extra.get('unmanaged'))
        idx = d.index
        windows = d.os_type.lower().startswith('win')
        state = machine_state(d)
        agent_on = d.power == 'on' and d.transition is None
        rec = {
            'id': d.id,
            'name': d.name,
            'dns_name': '%s.%s' % (d.name.lower(), DOMAIN_DNS),
            'desktop_pool_id': d.pool_id,
            'state': state,
            'type': 'UNMANAGED_MACHINE' if unmanaged else 'MANAGED_MACHINE',
            'user_ids': [self.user_sid(u) for u in d.users],
            'operating_system': 'WINDOWS_11' if windows else 'LINUX_UBUNTU',
            'operating_system_architecture': 'BIT_64',
            'agent_version': connection_server_version(self.version) if agent_on or unmanaged else None,
            'agent_build_number': connection_server_build(self.version) if agent_on or unmanaged else None,
            'pairing_state': 'PAIRED_AND_SECURED',
            'message_security_mode': 'ENHANCED',
            'message_security_enhanced_mode_supported': True,
            'configured_by_connection_server': ['CS01'],
            'attempted_theft_by_connection_server': [],
        }
        if not unmanaged:
            power = {'on': 'POWERED_ON', 'off': 'POWERED_OFF', 'suspended': 'SUSPENDED'}.get(d.power, 'POWERED_OFF')
            pool = next((p for p in self.pools if p.id == d.pool_id), None)
            mmd = {
                'host_name': 'esx%02d.%s' % (idx % 8 + 1, DOMAIN_DNS),
                'path': '/Datacenter/vm/%s/%s' % (pool.name if pool else 'pool', d.name),
                'virtual_center_id': self.vcenter_id,
                'virtual_machine_power_state': power,
                'in_maintenance_mode': d.maintenance,
                'in_hold_customization': False,
                'missing_in_vcenter': False,
                'create_time': self.pool_info.get(d.pool_id, {}).get('create_time'),
                'memory_mb': 8192,
                'storage_accelerator_state': 'OFF',
                'virtual_disks': [{'path': '[vsanDatastore] %s/%s.vmdk' % (d.name, d.name),
                                   'datastore_path': '[vsanDatastore]', 'capacity_mb': 81920}],
                'network_labels': [{'nic_name': 'Network adapter 1', 'network_label_name': 'VDI-VLAN-20'}],
            }
            if version >= 2:
                mmd['last_maintenance_time'] = d.extra.get('last_maintenance_time')
                mmd['logoff_policy'] = 'WAIT_FOR_LOGOFF'
                mmd.update(self.machine_image_fields(d))
            rec['managed_machine_data'] = mmd
        if version >= 2:
            rec['access_group_id'] = self.access_group_id
            rec['aliases'] = []
            rec['session_id'] = d.sessions[0].id if d.sessions else None
        return _prune(rec)

    def render_session(self, d: Desktop, s: Session) -> dict:
        connected = s.state == 'connected'
        sid = self.user_sid(s.user)
        return _prune({
            'id': s.id,
            'user_id': sid,
            'broker_user_id': sid,
            'access_group_id': self.access_group_id,
            'machine_id': d.id,
            'desktop_pool_id': d.pool_id,
            'agent_version': connection_server_version(self.version),
            'session_type': 'DESKTOP',
            'session_state': 'CONNECTED' if connected else 'DISCONNECTED',
            'session_protocol': 'BLAST' if connected else None,
            'start_time': _ms(s.start_time),
            'disconnected_time': None if connected else _ms(s.start_time + 600),
            'last_session_duration_ms': 600000 if not connected else None,
            'idle_duration': 0,
            'client_data': {'address': '192.168.%d.%d' % (d.index // 250 % 250, d.index % 250 + 2),
                            'name': 'CLIENT-%04d' % (d.index + 1), 'type': 'WINDOWS'} if connected else None,
            'brokered_remotely': False,
            'resourced_remotely': False,
            'unauthenticated': False,
        })

    def render_pool(self, p, version: int = 1) -> dict:
        info = self.pool_info.get(p.id, {})
        rec = {
            'id': p.id,
            'name': p.name,
            'display_name': p.name.upper(),
            'description': 'Simulated instant-clone pool %s' % p.name,
            'enabled': True,
            'type': 'AUTOMATED',
            'source': info.get('source', 'INSTANT_CLONE'),
        }
        if version == 1:
            rec['settings'] = {'session_type': 'DESKTOP', 'delete_in_progress': False, 'cloud_managed': False,
                               'cloud_assigned': False, 'enable_client_restrictions': False,
                               'allow_mutilple_sessions_per_user': False}
        else:
            rec.update({'access_group_id': self.access_group_id, 'vcenter_id': self.vcenter_id,
                        'user_assignment': info.get('user_assignment', 'FLOATING'), 'enable_provisioning': True,
                        'session_type': 'DESKTOP', 'delete_in_progress': False, 'cloud_managed': False,
                        'cloud_assigned': False, 'enable_client_restrictions': False,
                        'automatic_user_assignment': True, 'image_source': 'VIRTUAL_CENTER'})
            rec.update(self.pool_image_fields(p.id))
        return rec

    # ------------------------------------------------------------------ filters, sorting, paging
    def parse_filter(self, req: Request, fields: dict) -> dict | None:
        raw = req.q('filter')
        if raw is None:
            return None
        try:
            spec = json.loads(raw)
        except ValueError:
            raise BadRequest('Invalid filter: the value is not valid JSON.', 'common.filter.invalid')
        self._check_filter(spec, fields)
        return spec

    def _check_filter(self, spec: Any, fields: dict) -> None:
        if not isinstance(spec, dict) or not isinstance(spec.get('type'), str):
            raise BadRequest('Invalid filter: every filter needs a type.', 'common.filter.invalid')
        kind = spec['type']
        if kind in ('And', 'Or'):
            subs = spec.get('filters')
            if not isinstance(subs, list) or not subs:
                raise BadRequest('Invalid filter: %s needs a non-empty filters list.' % kind, 'common.filter.invalid')
            for sub in subs:
                self._check_filter(sub, fields)
            return
        if kind == 'Not':
            if 'filter' not in spec:
                raise BadRequest('Invalid filter: Not needs a filter.', 'common.filter.invalid')
            self._check_filter(spec['filter'], fields)
            return
        if kind not in FIELD_FILTERS:
            raise BadRequest('Invalid filter type %s.' % kind, 'common.filter.type.invalid')
        name = spec.get('name')
        if not isinstance(name, str) or not name:
            raise BadRequest('Invalid filter: %s needs a name.' % kind, 'common.filter.invalid')
        if name not in fields:
            raise BadRequest('Filtering on %s is not supported.' % name, 'common.filter.field.unsupported')
        if kind not in fields[name]:
            raise BadRequest('Filter type %s is not supported on %s.' % (kind, name),
                             'common.filter.type.unsupported')
        if kind == 'Between':
            if 'from_value' not in spec or 'to_value' not in spec:
                raise BadRequest('Invalid filter: Between needs from_value and to_value.', 'common.filter.invalid')
        elif 'value' not in spec or spec['value'] is None:
            raise BadRequest('Invalid filter: %s on %s needs a value.' % (kind, name), 'common.filter.invalid')
        elif kind != 'Contains' and isinstance(spec['value'], (list, dict)):
            raise BadRequest('Invalid filter: %s on %s needs a single value.' % (kind, name), 'common.filter.invalid')

    def match(self, spec: dict | None, rec: dict) -> bool:
        if spec is None:
            return True
        kind = spec['type']
        if kind == 'And':
            return all(self.match(s, rec) for s in spec['filters'])
        if kind == 'Or':
            return any(self.match(s, rec) for s in spec['filters'])
        if kind == 'Not':
            return not self.match(spec['filter'], rec)
        actual = _lookup(rec, spec['name'])
        values = actual if isinstance(actual, list) else [actual]
        if kind == 'Between':
            lo, hi = spec['from_value'], spec['to_value']
            return any(v is not None and lo <= v <= hi for v in values)
        want = spec['value']

        def norm(v):
            return v if isinstance(v, (bool, int, float)) or v is None else str(v)

        if kind == 'Equals':
            return any(norm(v) == norm(want) for v in values)
        if kind == 'NotEquals':
            return all(norm(v) != norm(want) for v in values)
        wants = want if isinstance(want, list) else [want]
        strs = [str(v) for v in values if v is not None]
        if kind == 'Contains':
            return any(str(w) in v for v in strs for w in wants)
        if kind == 'StartsWith':
            return any(v.startswith(str(want)) for v in strs)
        if kind == 'EndsWith':
            return any(v.endswith(str(want)) for v in strs)
        return False

    def sort(self, req: Request, records: list[dict], allowed: tuple) -> list[dict]:
        sort_by, order_by = req.q('sort_by'), req.q('order_by')
        if order_by is not None and order_by not in ('ASC', 'DESC'):
            raise BadRequest('order_by must be ASC or DESC.', 'common.sort.invalid')
        if sort_by is None:
            if order_by is not None:
                raise BadRequest('order_by needs sort_by.', 'common.sort.invalid')
            return records
        if sort_by not in allowed:
            raise BadRequest('Sorting on %s is not supported.' % sort_by, 'common.sort.field.unsupported')
        return sorted(records, key=lambda r: (r.get(sort_by) is None, str(r.get(sort_by))),
                      reverse=order_by == 'DESC')

    def paged(self, req: Request, records: list[dict]) -> Response:
        """Apply page/size per the Pagination guide and answer with the paging headers."""
        page, size = req.q('page'), req.q('size')
        total = len(records)
        headers = {'X-TOTAL-COUNT': str(total)}
        if page is None and size is None:
            return Response(200, list(records), headers=headers)
        if page is None or size is None:
            raise BadRequest('Both page and size are required for pagination.', 'common.pagination.invalid')
        try:
            page_n, size_n = int(page), int(size)
        except ValueError:
            raise BadRequest('page and size must be positive numbers.', 'common.pagination.invalid')
        if page_n <= 0 or size_n <= 0:
            raise BadRequest('page and size must be greater than 0.', 'common.pagination.invalid')
        if size_n > MAX_PAGE_SIZE:
            raise BadRequest('size must not be greater than %d.' % MAX_PAGE_SIZE, 'common.pagination.size.exceeded')
        start = (page_n - 1) * size_n
        if page_n > 1 and start >= total:
            raise BadRequest('The requested page %d does not exist.' % page_n, 'common.pagination.page.invalid')
        chunk = records[start:start + size_n]
        if start + size_n < total:
            headers['HAS_MORE_RECORDS'] = 'TRUE'
        return Response(200, chunk, headers=headers)

    # ------------------------------------------------------------------ inventory handlers
    def h_list_machines(self, req: Request, version: int) -> Response:
        spec = self.parse_filter(req, MACHINE_FILTERS)
        exact = self._model_filter(spec)
        if exact is not None and req.q('sort_by') is None and req.q('order_by') is None:
            # Same answer, rendered only for the requested page (a big fleet is not rendered for every page).
            return self.paged(req, _LazyRecords([d for d in self.desktops.values() if exact(d)],
                                                lambda d: self.render_machine(d, version)))
        records = [self.render_machine(d, version) for d in self.desktops.values()]
        records = [r for r in records if self.match(spec, r)]
        return self.paged(req, self.sort(req, records, MACHINE_SORT))

    @staticmethod
    def _model_filter(spec: dict | None):
        """A predicate on the model equivalent to ``spec`` for no filter, or Equals/Or of Equals on
        ``id``/``desktop_pool_id``; None for any other filter (those are matched on the rendered record)."""
        if spec is None:
            return lambda d: True
        fields = {'id': lambda d: d.id, 'desktop_pool_id': lambda d: d.pool_id}
        leaves = spec['filters'] if spec['type'] == 'Or' else [spec]
        if not all(f.get('type') == 'Equals' and f.get('name') in fields and isinstance(f.get('value'), str)
                   for f in leaves):
            return None
        wanted = [(fields[f['name']], f['value']) for f in leaves]
        return lambda d: any(get(d) == value for get, value in wanted)

    def h_get_machine(self, req: Request) -> Response:
        d = self.desktops.get(req.params['id'])
        if d is None:
            return self.error(404, 'inventory.machine.not.found', 'Machine %s not found.' % req.params['id'])
        return Response(200, self.render_machine(d, 1))

    def h_list_pools_v1(self, req: Request) -> Response:
        # v1 takes no paging or filter parameters; unknown parameters are ignored.
        return Response(200, [self.render_pool(p, 1) for p in self.pools])

    def h_list_pools_v2(self, req: Request) -> Response:
        spec = self.parse_filter(req, POOL_FILTERS)
        records = [r for r in (self.render_pool(p, 2) for p in self.pools) if self.match(spec, r)]
        return self.paged(req, self.sort(req, records, POOL_SORT))

    def _all_sessions(self):
        for d in self.desktops.values():
            for s in d.sessions:
                yield d, s

    def h_list_sessions(self, req: Request) -> Response:
        spec = self.parse_filter(req, SESSION_FILTERS)
        records = [r for r in (self.render_session(d, s) for d, s in self._all_sessions()) if self.match(spec, r)]
        return self.paged(req, self.sort(req, records, SESSION_SORT))

    def h_get_session(self, req: Request) -> Response:
        for d, s in self._all_sessions():
            if s.id == req.params['id']:
                return Response(200, self.render_session(d, s))
        return self.error(404, 'inventory.session.not.found', 'Session %s not found.' % req.params['id'])

    # ------------------------------------------------------------------ batch helpers
    def _bool_param(self, req: Request, name: str) -> bool | None:
        value = req.q(name)
        if value is None:
            return None
        low = value.strip().lower()
        if low in ('true', 'on', 'yes', '1'):
            return True
        if low in ('false', 'off', 'no', '0'):
            return False
        raise BadRequest('Invalid value %r for boolean parameter %s.' % (value, name), 'common.parameter.invalid')

    @staticmethod
    def _id_list(value: Any, what: str) -> list[str]:
        if not isinstance(value, list):
            raise BadRequest('The request body must be a JSON array of %s ids.' % what, 'common.request.body.invalid')
        if not value:
            raise BadRequest('At least one %s id is required.' % what, 'common.request.body.invalid')
        if not all(isinstance(v, str) and v for v in value):
            raise BadRequest('%s ids must be non-empty strings.' % what.capitalize(), 'common.request.body.invalid')
        if len(set(value)) != len(value):
            raise BadRequest('Duplicate %s ids in the request.' % what, 'common.request.body.invalid')
        return value

    def _body(self, req: Request) -> Any:
        try:
            return req.json()
        except ValueError:
            raise BadRequest('The request body is not valid JSON.', 'common.request.body.invalid')

    def _item_ok(self, item_id: str) -> dict:
        return {'id': item_id, 'status_code': 200}

    def _item_err(self, item_id: str, status: int, key: str, message: str) -> dict:
        return {'id': item_id, 'status_code': status, 'errors': [{'error_key': key, 'error_message': message}],
                'timestamp': _ms(self.sim.clock.now())}

    def _perid(self, op: str, item_id: str) -> dict | None:
        if self.sim.faults.perid_fails(op, item_id):
            return self._item_err(item_id, *PERID_FAULT)
        return None

    # ------------------------------------------------------------------ machine actions
    def h_maintenance(self, req: Request, enter: bool) -> Response:
        op = 'enter_maintenance' if enter else 'exit_maintenance'
        enforce = self._bool_param(req, 'enforce') if enter else None
        ids = self._id_list(self._body(req), 'machine')
        repeats = [self.desktops[i] for i in ids if i in self.desktops and self.desktops[i].maintenance == enter]
        if repeats and MAINTENANCE_REPEAT == 'request_400':
            d = repeats[0]
            return self.error(400, 'inventory.machine.state.invalid',
                              'Machine %s is %s maintenance mode.' % (d.name, 'already in' if enter else 'not in'))
        results = []
        for item_id in ids:
            d = self.desktops.get(item_id)
            if d is None:
                results.append(self._item_err(item_id, 404, 'inventory.machine.not.found',
                                              'Machine %s not found.' % item_id))
                continue
            failed = self._perid(op, item_id)
            if failed:
                results.append(failed)
                continue
            if d.maintenance == enter:
                if MAINTENANCE_REPEAT == 'per_id_400':
                    results.append(self._item_err(item_id, 400, 'inventory.machine.state.invalid',
                                                  'Machine %s is %s maintenance mode.'
                                                  % (d.name, 'already in' if enter else 'not in')))
                else:
                    results.append(self._item_ok(item_id))
                continue
            if enter and d.extra.get('held') and not enforce:
                results.append(self._item_err(item_id, 400, 'inventory.machine.held',
                                              'Machine %s is held; only a forensics administrator can enforce '
                                              'this operation.' % d.name))
                continue
            d.maintenance = enter
            d.extra['last_maintenance_time'] = _ms(self.sim.clock.now())
            results.append(self._item_ok(item_id))
        return Response(200, results)

    def _duration(self, op: str, item_id: str) -> float:
        lo, hi = {'restart': RESTART_SECONDS, 'reset': RESET_SECONDS, 'shutdown': SHUTDOWN_SECONDS}[op]
        digest = hashlib.sha256(('%s|%s|%s' % (op, item_id, self.sim.clock.now())).encode()).digest()
        return lo + (hi - lo) * int.from_bytes(digest[:4], 'big') / 2 ** 32

    def object_body_for(self, action: str) -> bool:
        """Restart and shutdown take ``{machineIds, forceOperation}`` from 2412 on; reset always a bare array."""
        return action in ('restart', 'shutdown') and self.version >= '2412'

    def h_machine_power(self, req: Request, action: str) -> Response:
        op = '%s_machines' % action
        enforce = self._bool_param(req, 'enforce')
        body = self._body(req)
        force = None
        if self.object_body_for(action):
            if isinstance(body, dict):
                unknown = set(body) - {'machineIds', 'forceOperation'}
                if unknown:
                    raise BadRequest('Unrecognized field(s) %s.' % ', '.join(sorted(unknown)),
                                     'common.request.body.invalid')
                if 'forceOperation' in body and not isinstance(body['forceOperation'], bool):
                    raise BadRequest('forceOperation must be a boolean.', 'common.request.body.invalid')
                force = body.get('forceOperation', False)
                ids = self._id_list(body.get('machineIds'), 'machine')
            elif isinstance(body, list) and RESTART_ARRAY_ACCEPTED_FROM_2412:
                ids = self._id_list(body, 'machine')
            else:
                raise BadRequest('The request body must be an object with machineIds and forceOperation.',
                                 'common.request.body.invalid')
        else:
            ids = self._id_list(body, 'machine')
        results = []
        for item_id in ids:
            d = self.desktops.get(item_id)
            if d is None:
                results.append(self._item_err(item_id, 404, 'inventory.machine.not.found',
                                              'Machine %s not found.' % item_id))
                continue
            failed = self._perid(op, item_id)
            if failed:
                results.append(failed)
                continue
            if d.extra.get('held') and not enforce:
                results.append(self._item_err(item_id, 400, 'inventory.machine.held',
                                              'Machine %s is held; only a forensics administrator can enforce '
                                              'this operation.' % d.name))
                continue
            if d.transition is not None:
                results.append(self._item_err(item_id, 400, 'inventory.machine.operation.in.progress',
                                              'Another operation is in progress on machine %s.' % d.name))
                continue
            if d.power != 'on':
                results.append(self._item_err(item_id, 400, 'inventory.machine.power.state.invalid',
                                              'Machine %s is not powered on.' % d.name))
                continue
            if force is not None and restart_refused_for_sessions(d, force):
                results.append(self._item_err(item_id, 400, 'inventory.machine.sessions.outstanding',
                                              'Machine %s has outstanding sessions; set forceOperation to '
                                              'true to %s it anyway.' % (d.name, action)))
                continue
            for s in d.sessions:
                self.pending_logoffs.pop(s.id, None)
            d.sessions = []
            d.transition = {'kind': action, 'power': 'off' if action == 'shutdown' else 'on',
                            'until': self.sim.clock.now() + self._duration(action, item_id)}
            results.append(self._item_ok(item_id))
        return Response(200, results)

    # ------------------------------------------------------------------ session actions
    def _find_session(self, session_id: str):
        for d, s in self._all_sessions():
            if s.id == session_id:
                return d, s
        return None, None

    def h_send_message(self, req: Request) -> Response:
        body = self._body(req)
        if not isinstance(body, dict):
            raise BadRequest('The request body must be a SessionSendMessageSpec object.', 'common.request.body.invalid')
        for name in ('message', 'message_type', 'session_ids'):
            if body.get(name) in (None, ''):
                raise BadRequest('%s is mandatory.' % name, 'common.property.mandatory')
        if not isinstance(body['message'], str):
            raise BadRequest('message must be a string.', 'common.request.body.invalid')
        if body['message_type'] not in MESSAGE_TYPES:
            raise BadRequest('message_type must be one of %s.' % ', '.join(MESSAGE_TYPES), 'common.request.body.invalid')
        ids = self._id_list(body['session_ids'], 'session')
        results = []
        now = self.sim.clock.now()
        for sid in ids:
            d, s = self._find_session(sid)
            if s is None:
                results.append(self._item_err(sid, 404, 'inventory.session.not.found', 'Session %s not found.' % sid))
                continue
            failed = self._perid('send_message', sid)
            if failed:
                results.append(failed)
                continue
            if send_message_refused(s):
                results.append(self._item_err(sid, 400, 'inventory.session.not.connected',
                                              'Session %s is not connected; the message cannot be shown.' % sid))
                continue
            self.messages.append({'session_id': sid, 'desktop_id': d.id, 'user': s.user, 'text': body['message'],
                                  'message_type': body['message_type'], 'time': now})
            results.append(self._item_ok(sid))
        return Response(200, results)

    def h_logoff(self, req: Request) -> Response:
        forced = bool(self._bool_param(req, 'forced'))
        ids = self._id_list(self._body(req), 'session')
        results = []
        now = self.sim.clock.now()
        for sid in ids:
            d, s = self._find_session(sid)
            if s is None:
                results.append(self._item_err(sid, 404, 'inventory.session.not.found', 'Session %s not found.' % sid))
                continue
            failed = self._perid('logoff_sessions', sid)
            if failed:
                results.append(failed)
                continue
            if sid not in self.pending_logoffs and logoff_refused(s, forced):
                results.append(self._item_err(sid, 400, 'inventory.session.locked',
                                              'Session %s may be locked; log it off with forced=true.' % sid))
                continue
            self.pending_logoffs.setdefault(sid, now + LOGOFF_SECONDS)
            results.append(self._item_ok(sid))
        return Response(200, results)

    def h_disconnect(self, req: Request) -> Response:
        ids = self._id_list(self._body(req), 'session')
        results = []
        for sid in ids:
            d, s = self._find_session(sid)
            if s is None:
                results.append(self._item_err(sid, 404, 'inventory.session.not.found', 'Session %s not found.' % sid))
                continue
            failed = self._perid('disconnect_sessions', sid)
            if failed:
                results.append(failed)
                continue
            s.state = 'disconnected'  # disconnecting a disconnected session is a no-op
            results.append(self._item_ok(sid))
        return Response(200, results)

    # ------------------------------------------------------------------ time
    def settle(self) -> None:
        super().settle()
        now = self.sim.clock.now()
        due = {sid for sid, until in self.pending_logoffs.items() if until <= now}
        if not due:
            return
        for d in self.desktops.values():
            if d.sessions:
                d.sessions = [s for s in d.sessions if s.id not in due]
        for sid in due:
            del self.pending_logoffs[sid]

    def state(self) -> dict:
        out = super().state()
        out['horizon'] = {
            'version': self.version,
            'active_logins': sum(1 for s in self.login_sessions.values() if s['active']),
            'logins': len(self.login_sessions),
            'pending_logoffs': sorted(self.pending_logoffs),
        }
        for rec in out['desktops']:
            rec['horizon_state'] = machine_state(self.desktops[rec['id']])
        return out
