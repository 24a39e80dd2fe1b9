"""Simulated Huawei Cloud Workspace (cloud desktop, API v2) plus the IAM calls it needs, on one port.

Workspace: desktops (simple and detailed lists, show), desktop pools (list, show, power action,
notifications), per-desktop batch calls (maintenance mode, power action, notifications, logoff),
jobs and sub-jobs. IAM: ``POST /v3/auth/tokens`` (password method, project scope) and
``GET /v3/projects``. Field names follow the official SDK models (huaweicloudsdkworkspace 3.1.219);
the behaviour follows the project's reference notes (``huaweicloud.md``).

Authentication is checked as the API gateway does:

* ``SDK-HMAC-SHA256`` AK/SK signatures are verified from what was *received*: the method, the
  path, the decoded query re-encoded and sorted, the headers listed in ``SignedHeaders`` (``host``
  from the Host header) and the SHA-256 of the body; ``X-Sdk-Date`` must be well formed and within
  15 minutes of the real clock (plus the ``huawei_clock_skew`` simulator option, seconds).
  Temporary credentials (:data:`STS_ACCESS_KEY` / :data:`STS_SECRET_KEY`) need the signed
  ``X-Security-Token`` :data:`STS_TOKEN`.
* ``X-Auth-Token`` tokens issued by the simulated IAM (24 h of simulated time, or the
  ``huawei_token_lifetime`` option) are accepted instead of a signature.
* The project id in every Workspace path must be the project of the credentials.

Credentials handed out: ``credentials()`` gives ``region``, ``project_id``, ``access_key`` and
``secret_key`` (what the ready file carries). The IAM user for the token flow is
:data:`IAM_USER` / :data:`IAM_PASSWORD` in account (domain) :data:`DOMAIN_NAME`, also returned by
:meth:`HuaweiSim.password_credentials` under the module option names ``username``, ``password``
and ``domain``; the STS triple is :meth:`HuaweiSim.sts_credentials`. They are kept out of
``credentials()`` on purpose: a module given both AK/SK and a password refuses to run.

Every choice made where the vendor documentation is silent is a named constant or function in the
"Assumptions" block below; the simulator README lists them. ``Desktop.extra`` keys honoured by the
control endpoint: ``status`` (e.g. ``'ERROR'``) and ``task_status`` override the rendered values.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import random
import re
import time
import uuid
from typing import Any
from urllib.parse import quote, unquote

try:
    from .core import Desktop, ProviderSim, Request, Response, Route, Session, _rng, generate_fleet
except ImportError:  # loaded as a top-level module (tests put tests/simulator on sys.path)
    from core import Desktop, ProviderSim, Request, Response, Route, Session, _rng, generate_fleet  # type: ignore
try:
    from .huaweicloud_patching import HuaweiPatching
except ImportError:  # loaded as a top-level module
    from huaweicloud_patching import HuaweiPatching  # type: ignore

# =========================================================================== credentials

REGION = 'cn-north-4'
DOMAIN_NAME = 'vdifleet-sim'
ACCESS_KEY = 'HPUASIMFLEETAK7Q2RX9'
SECRET_KEY = 'SimFleetHwSk0Ws4Lq9Zp2Xk7Rt3Vn8Mb5Jc1Hd6'
# Temporary (STS) credentials, as IAM's securitytokens API would hand them out: use all three together.
STS_ACCESS_KEY = 'HSTASIMFLEETTMP4HQ8P'
STS_SECRET_KEY = 'SimFleetStsSk7u3Kd9Qx2Lm5Np8Rs1Tv4Wy6Za0'
STS_TOKEN = ('gQpjbi1ub3J0aC00iS2UbL3mYp0v9hYk2sVtS1mU3ZmxlZXQtc3RzLXRva2VuLXNpbXVsYXRlZC1mb3ItdGVzdHMtb25s'
             'eS0yMDI2LXNpbUZsZWV0U3RzVG9rZW5QYWRkaW5nUGFkZGluZ1BhZGRpbmc=')
# IAM user for password tokens (POST /v3/auth/tokens).
IAM_USER = 'vdifleet-ops'
IAM_PASSWORD = 'Hw-Sim!pass-2026'

# =========================================================================== assumptions
# Each of these is a behaviour the reference notes mark unconfirmed, or do not cover.

#: Largest difference between X-Sdk-Date and the server clock (documented: 15 minutes).
SIGNATURE_SKEW = 900.0
#: Gateway answers. The notes show both ``APIG.`` and ``APIGW.`` prefixes; this simulator uses
#: ``APIGW.`` for authentication answers and ``APIG.0308`` for throttling.
AUTH_FAILED = (401, 'APIGW.0301')
#: An X-Sdk-Date more than SIGNATURE_SKEW away: the documented "signature expired" wording, with
#: the code of the gateway's app-auth errors (the IAM flavour is not documented).
SIGNATURE_EXPIRED = (401, 'APIGW.0303')
#: An IAM token past its expiry.
TOKEN_EXPIRED = (401, 'APIGW.0307', 'The token must be updated.')
#: A project id in the path (or X-Project-Id) that is not the credentials' project.
PROJECT_MISMATCH = (403, 'APIGW.0302')
#: No route for this method and path.
API_NOT_FOUND = (404, 'APIGW.0101', 'The API does not exist or has not been published in the environment')
#: Throttling: HTTP 429, no Retry-After header (Huawei advises waiting 2-5 s); ``limit`` shown in the text.
THROTTLED = (429, 'APIG.0308')
THROTTLE_LIMIT_SHOWN = 20
THROTTLE_RETRY_AFTER_HEADER = None
#: Server error of the Workspace service.
SERVER_ERROR = (500, 'WKS.0999', 'Internal server error. Try again later or contact technical support.')
#: Malformed or out-of-range parameters, and an unknown pool (documented: 400 WKS.0001).
INVALID_PARAMETER = (400, 'WKS.0001')
POOL_NOT_FOUND = (400, 'WKS.0001')
#: An id in a batch call that does not exist: the whole call is refused, nothing is applied.
DESKTOP_NOT_FOUND = (404, 'WKS.0202')
#: ShowDesktopDetail / ShowJob on an unknown id.
RESOURCE_NOT_FOUND = (404, 'WKS.0202')
#: SetMaintenanceMode and BatchLogoffDesktops have no per-id result: a desktop the service refuses
#: (``perid`` fault) rejects the whole call naming the id, nothing is applied.
DESKTOP_REFUSED = (400, 'WKS.00010115')
#: Per-desktop refusal codes inside failed_operation_list / failed sub-jobs (HTTP 200 bodies).
ACTION_STATE_REFUSED = 'WKS.00010116'
ACTION_BUSY = 'WKS.00010117'
ACTION_FAULT = 'WKS.00010118'
NOTIFY_NOT_RUNNING = 'WKS.00010119'
#: Ids per call. BatchRunDesktops 1..100 is documented; the others are unconfirmed.
ACTION_BATCH_LIMIT = 100
MAINTENANCE_BATCH_LIMIT = 100
NOTIFY_BATCH_LIMIT = 100
LOGOFF_BATCH_LIMIT = 100
#: desktop_id filter: at most 100 ids on ListDesktops (documented); the same on ListDesktopsDetail.
ID_FILTER_LIMIT = 100
#: Longest notification text (characters).
NOTIFICATION_MAX_LENGTH = 1024
#: Page sizes (documented ranges and defaults).
DETAIL_LIMIT = (500, 500)  # (max, default) ListDesktopsDetail
LIST_LIMIT = (1000, 1000)  # ListDesktops
POOL_LIMIT = (1000, 1000)  # ListDesktopPools
SUBJOB_LIMIT = (1000, 1000)  # ListItaSubJobs
#: ``limit=0`` returns no rows (with the total_count), it does not mean "all".
LIMIT_ZERO_MEANS_ALL = False
#: ShowJob embeds at most this many sub_jobs; the rest is paged with ListItaSubJobs.
JOB_EMBEDDED_SUB_JOBS = 100
#: Job status values: parent failure is 'FAIL' (what Terraform's waiter expects), sub-job failure is
#: 'FAILED' (the ListItaSubJobs filter enum). A job whose sub-jobs partly failed ends 'SUCCESS' (the
#: client must check every sub-job, as Terraform does); only a job whose sub-jobs all failed ends 'FAIL'.
JOB_FAILED = 'FAIL'
SUB_JOB_FAILED = 'FAILED'
JOB_PARTIAL_FAILURE_STATUS = 'SUCCESS'
#: Simulated seconds a job waits before its sub-jobs run.
JOB_QUEUE_SECONDS = 3.0
#: Simulated seconds of a power action, per op_type (the brief's 20-90 s).
POWER_SECONDS = {'os-start': (20.0, 60.0), 'os-stop': (20.0, 60.0), 'reboot': (30.0, 90.0),
                 'os-hibernate': (30.0, 90.0)}
#: task_status while a power action runs, per op_type and ``type``: only values of the SDK's task_status list
#: (DesktopDetailInfo). The list has rebooting_hard for a forced reboot and no value for hibernation: a
#: hibernating desktop shows powering-off (its run state changes only at the end, to HIBERNATED).
TASK_STATUS = {('os-start', 'SOFT'): 'powering-on', ('os-start', 'HARD'): 'powering-on',
               ('os-stop', 'SOFT'): 'powering-off', ('os-stop', 'HARD'): 'powering-off',
               ('reboot', 'SOFT'): 'rebooting', ('reboot', 'HARD'): 'rebooting_hard',
               ('os-hibernate', 'SOFT'): 'powering-off', ('os-hibernate', 'HARD'): 'powering-off'}
DESKTOP_OPS = ('os-start', 'os-stop', 'reboot', 'os-hibernate')
#: Final run state of each op_type.
FINAL_POWER = {'os-start': 'on', 'os-stop': 'off', 'reboot': 'on', 'os-hibernate': 'hibernated'}
#: Pool action op_type -> desktop op_type (the pool API says 'hibernate').
POOL_OPS = {'os-start': 'os-start', 'os-stop': 'os-stop', 'reboot': 'reboot', 'hibernate': 'os-hibernate'}
#: BatchRunDesktops returns no job_id (documented only for cold migrations).
BATCH_ACTION_RETURNS_JOB_ID = False
#: Default of ``type`` when omitted.
DEFAULT_ACTION_TYPE = 'SOFT'
#: Simulated seconds a notification sub-job takes.
NOTIFY_SECONDS = (3.0, 10.0)
#: Simulated seconds between an accepted logoff and the session disappearing.
LOGOFF_SECONDS = 10.0
#: BatchLogoffDesktops answers 200 with an empty body (the SDK response has no field).
LOGOFF_RETURNS_JOB = False
#: job_type values, from the SDK's list (ListItaSubJobs job_type). A pool power action is
#: executeDesktopsAction ("桌面操作"); the list has no notification type, so a notification job is the
#: generic operateDesktops ("操作桌面").
JOB_TYPE_POOL_ACTION = 'executeDesktopsAction'
JOB_TYPE_NOTIFY = 'operateDesktops'
#: charging_mode of a pool: the SDK documents "0" (yearly/monthly) and "1" (pay per use); the simulated
#: pools are pay per use.
POOL_CHARGING_MODE = '1'
#: Lifetime of IAM tokens in simulated seconds (documented 24 h); option ``huawei_token_lifetime``.
TOKEN_LIFETIME = 86400.0
#: IAM error bodies (Keystone style, with the IAM texts).
IAM_WRONG_PASSWORD = (401, 'The username or password is wrong.')
IAM_BAD_SCOPE = (400, 'The project in the scope does not exist in the account.')
IAM_BAD_BODY = (400, 'The request body is abnormal.')


def action_refusal(d: Desktop, status: str, op: str) -> tuple[str, str] | None:
    """Why a desktop refuses a power op (``failed_operation_list`` / failed sub-job), or None.

    A desktop with a running task is busy; os-start needs SHUTOFF or HIBERNATED, os-stop ACTIVE or
    HIBERNATED, reboot and os-hibernate ACTIVE; ERROR refuses everything but a stop.
    """
    if d.transition is not None or d.extra.get('task_status'):
        task = (d.transition or {}).get('task_status') or d.extra.get('task_status')
        return ACTION_BUSY, 'The desktop %s is busy (task %s). Try again later.' % (d.id, task)
    allowed = {'os-start': ('SHUTOFF', 'HIBERNATED'), 'os-stop': ('ACTIVE', 'HIBERNATED', 'ERROR'),
               'reboot': ('ACTIVE',), 'os-hibernate': ('ACTIVE',)}[op]
    if status not in allowed:
        return ACTION_STATE_REFUSED, 'The desktop %s is %s; %s is not allowed in this state.' % (d.id, status, op)
    return None


def pool_action_noop(status: str, op: str) -> bool:
    """A pool action on a desktop already in the target state: its sub-job succeeds without change."""
    return (op == 'os-start' and status == 'ACTIVE') or (op == 'os-stop' and status == 'SHUTOFF') \
        or (op == 'os-hibernate' and status == 'HIBERNATED')


def login_status(d: Desktop, status: str) -> str:
    """login_status / connect_status: UNREGISTER when not running, else the session state."""
    if status != 'ACTIVE':
        return 'UNREGISTER'
    if any(s.state == 'connected' for s in d.sessions):
        return 'CONNECTED'
    if d.sessions:
        return 'DISCONNECTED'
    return 'REGISTERED'


def notification_targets(d: Desktop) -> list[Session]:
    """Sessions that receive a notification: every session (connected or disconnected) of the desktop."""
    return list(d.sessions)


# =========================================================================== helpers


class WksError(Exception):
    """An error answer of the Workspace service (``error_code``/``error_msg``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class GatewayError(Exception):
    """An error answer of the API gateway (``error_code``/``error_msg``/``request_id``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invalid(message: str) -> WksError:
    status, code = INVALID_PARAMETER
    return WksError(status, code, message)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hex32(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def iso_ms(ts: float) -> str:
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ts)) + '.%03dZ' % int((ts % 1) * 1000)


def iso_us(ts: float) -> str:
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ts)) + '.%06dZ' % int((ts % 1) * 1000000)


def _enc(value: str) -> str:
    """The SDK's encoding (``quote(s, safe='~')``)."""
    return quote(value, safe='~')


AUTH_RE = re.compile(r'^(\S+) Access=([^,\s]*), ?SignedHeaders=([^,\s]*), ?Signature=([0-9a-fA-F]*)$')
SDK_DATE_FORMAT = '%Y%m%dT%H%M%SZ'
EMPTY_SHA256 = hashlib.sha256(b'').hexdigest()


def _header_text(value: str) -> str:
    """http.server decodes header bytes as latin-1; signers sign the UTF-8 text."""
    try:
        return value.encode('latin-1').decode('utf-8')
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


# =========================================================================== simulator


class HuaweiSim(HuaweiPatching, ProviderSim):
    name = 'huaweicloud'

    def __init__(self, sim) -> None:
        super().__init__(sim)
        self.region = sim.options.get('huawei_region', REGION)
        self.domain_id = _hex32('domain|' + DOMAIN_NAME)
        self.project_id = _hex32('project|%s|%s' % (DOMAIN_NAME, self.region))
        self.mos_project_id = _hex32('project|%s|MOS' % DOMAIN_NAME)
        self.user_id = _hex32('user|' + IAM_USER)
        self.token_lifetime = float(sim.options.get('huawei_token_lifetime', TOKEN_LIFETIME))
        self.secrets = {ACCESS_KEY: SECRET_KEY, STS_ACCESS_KEY: STS_SECRET_KEY}
        self.tokens: dict[str, dict] = {}  # issued IAM tokens (kept across resets: they are account-level)
        self.jobs: dict[str, dict] = {}
        self.active_jobs: list[dict] = []
        self.pending_logoffs: list[dict] = []
        self.pool_info: dict[str, dict] = {}
        self.rng = random.Random(sim.seed)
        pid = '/v2/{project_id}'
        routes = [
            Route('POST', '/v3/auth/tokens', 'keystone_create_user_token_by_password', self.h_create_token, auth=False),
            Route('GET', '/v3/projects', 'keystone_list_projects', self.h_list_projects),
            Route('GET', pid + '/desktops/detail', 'list_desktops_detail', self.h_list_desktops_detail),
            Route('GET', pid + '/desktops', 'list_desktops', self.h_list_desktops),
            Route('PUT', pid + '/desktops/maintenance-mode', 'set_maintenance_mode', self.h_maintenance, write=True),
            Route('POST', pid + '/desktops/action', 'batch_run_desktops', self.h_batch_action, write=True),
            Route('POST', pid + '/desktops/notifications', 'send_notifications', self.h_notifications, write=True),
            Route('POST', pid + '/desktops/logoff', 'batch_logoff_desktops', self.h_logoff, write=True),
            Route('GET', pid + '/desktops/{desktop_id}', 'show_desktop_detail', self.h_show_desktop),
            Route('GET', pid + '/desktop-pools', 'list_desktop_pools', self.h_list_pools),
            Route('GET', pid + '/desktop-pools/{pool_id}', 'show_desktop_pool_detail', self.h_show_pool),
            Route('POST', pid + '/desktop-pools/{pool_id}/action', 'execute_desktop_pool_action', self.h_pool_action,
                  write=True),
            Route('POST', pid + '/desktop-pools/{pool_id}/notifications', 'send_desktop_pool_notifications',
                  self.h_pool_notifications, write=True),
            Route('GET', pid + '/workspace-jobs/{job_id}', 'show_job', self.h_show_job),
            Route('GET', pid + '/workspace-sub-jobs', 'list_ita_sub_jobs', self.h_list_sub_jobs),
        ]
        routes += self.patching_routes(pid)  # image rebuilds and script executions (huaweicloud_patching.py)
        self.routes = [Route(r.method, r.pattern, r.op, self._guard(r.handler), r.write, r.auth) for r in routes]

    # ------------------------------------------------------------------ lifecycle
    def reset(self, fleet: int, seed: int) -> None:
        now = self.sim.clock.now()
        pools, desktops = generate_fleet(
            fleet, seed, self.name, pools=self.sim.pools,
            desktop_id=lambda rng, i: _uuid(rng),
            pool_id=lambda rng, i: _uuid(rng),
            name_prefix='wks', now=now, suspended_state='hibernated')
        self.pools = pools
        self.desktops = {d.id: d for d in desktops}
        rng = _rng(seed, self.name, 'extra', fleet)
        for d in desktops:
            d.extra.setdefault('created', now - rng.randint(30, 400) * 86400)
            parts = [rng.randint(10 ** 9, 4 * 10 ** 9) for n in range(3)]
            d.extra.setdefault('sid', 'S-1-5-21-%d-%d-%d-%d' % (parts[0], parts[1], parts[2], 1000 + d.index))
            d.extra.setdefault('user_id', _hex32('user|%s' % (d.users[0] if d.users else d.id)))
        self.pool_info = {}
        for n, p in enumerate(pools):
            self.pool_info[p.id] = {'type': 'DYNAMIC' if n % 2 == 0 else 'STATIC',
                                    'created': now - 86400 * (60 + n)}
        self.messages = []
        self.jobs = {}
        self.active_jobs = []
        self.pending_logoffs = []
        self.rng = random.Random('%s|%s|%s' % (self.name, seed, fleet))
        self.reset_patching()

    def credentials(self) -> dict:
        return {'region': self.region, 'project_id': self.project_id, 'access_key': ACCESS_KEY, 'secret_key': SECRET_KEY}

    def password_credentials(self) -> dict:
        """The IAM user, under the module option names (use instead of access_key/secret_key)."""
        return {'region': self.region, 'username': IAM_USER, 'password': IAM_PASSWORD, 'domain': DOMAIN_NAME}

    def sts_credentials(self) -> dict:
        """Temporary AK/SK with their security token, under the module option names."""
        return {'region': self.region, 'project_id': self.project_id, 'access_key': STS_ACCESS_KEY,
                'secret_key': STS_SECRET_KEY, 'security_token': STS_TOKEN}

    def alternate_credentials(self) -> dict:
        """Other complete credential sets by label, for a ready file that lists them beside ``credentials()``
        (proposed core hook: each would become ``info['huaweicloud_<label>']`` with provider and endpoint)."""
        return {'password': self.password_credentials(), 'sts': self.sts_credentials()}

    # ------------------------------------------------------------------ responses
    @staticmethod
    def _request_id() -> str:
        return uuid.uuid4().hex

    def ok(self, body: Any = None, status: int = 200, headers: dict | None = None) -> Response:
        hdrs = {'X-Request-Id': self._request_id()}
        hdrs.update(headers or {})
        return Response(status, body, headers=hdrs, content_type='application/json;charset=UTF-8')

    def wks_error(self, status: int, code: str, message: str, detail: str | None = None) -> Response:
        body = {'error_code': code, 'error_msg': message}
        if detail is not None:
            body['error_detail'] = detail
        return Response(status, body, headers={'X-Request-Id': self._request_id()},
                        content_type='application/json;charset=UTF-8')

    def gateway_error(self, status: int, code: str, message: str) -> Response:
        rid = self._request_id()
        return Response(status, {'error_msg': message, 'error_code': code, 'request_id': rid},
                        headers={'X-Request-Id': rid}, content_type='application/json;charset=UTF-8')

    def iam_error(self, status: int, message: str) -> Response:
        titles = {400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found'}
        return Response(status, {'error': {'code': status, 'title': titles.get(status, 'Error'), 'message': message}},
                        headers={'X-IAM-Trace-Id': 'token_%s_null' % uuid.uuid4().hex},
                        content_type='application/json;charset=UTF-8')

    def throttled(self, retry_after: float) -> Response:
        status, code = THROTTLED
        resp = self.gateway_error(status, code, 'The throttling threshold has been reached: policy user over '
                                                'ratelimit,limit:%d,time:1 second' % THROTTLE_LIMIT_SHOWN)
        if THROTTLE_RETRY_AFTER_HEADER:
            resp.headers[THROTTLE_RETRY_AFTER_HEADER] = '%g' % retry_after
        return resp

    def server_error(self) -> Response:
        status, code, message = SERVER_ERROR
        return self.wks_error(status, code, message)

    def not_found(self, req: Request) -> Response:
        status, code, message = API_NOT_FOUND
        return self.gateway_error(status, code, message)

    def bad_request(self, message: str) -> Response:
        status, code = INVALID_PARAMETER
        return self.wks_error(status, code, 'Invalid request: %s' % message)

    def _guard(self, handler):
        def run(req: Request) -> Response:
            try:
                return handler(req)
            except WksError as exc:
                return self.wks_error(exc.status, exc.code, exc.message)
            except GatewayError as exc:
                return self.gateway_error(exc.status, exc.code, exc.message)
        return run

    # ------------------------------------------------------------------ authentication
    def authenticate(self, req: Request, route: Route) -> Response | None:
        try:
            if req.header('authorization'):
                project = self._verify_signature(req)
            elif req.header('x-auth-token'):
                project = self._verify_token(req.header('x-auth-token').strip())
            else:
                status, code = AUTH_FAILED
                raise GatewayError(status, code, 'Incorrect IAM authentication information: Authorization header '
                                                 'and X-Auth-Token are both missing')
            path_project = req.params.get('project_id')
            header_project = req.header('x-project-id')
            status, code = PROJECT_MISMATCH
            if path_project is not None and path_project != project:
                raise GatewayError(status, code, 'The IAM user is not authorized to access the API: project %s is not '
                                                 'the project of the credentials' % path_project)
            if header_project and path_project is not None and header_project.strip() != path_project:
                raise GatewayError(status, code, 'The IAM user is not authorized to access the API: X-Project-Id %s '
                                                 'does not match the project in the URL' % header_project.strip())
        except GatewayError as exc:
            return self.gateway_error(exc.status, exc.code, exc.message)
        return None

    def _verify_token(self, token: str) -> str:
        info = self.tokens.get(token)
        if info is None:
            status, code = AUTH_FAILED
            raise GatewayError(status, code, 'Incorrect IAM authentication information: decrypt token fail')
        if info['expires'] <= self.sim.clock.now():
            status, code, message = TOKEN_EXPIRED
            raise GatewayError(status, code, message)
        return info['project_id']

    def canonical_request(self, req: Request, names: list[str]) -> str:
        segments = unquote(req.path).split('/')
        uri = '/'.join(_enc(s) for s in segments)
        if not uri.endswith('/'):
            uri += '/'
        query = '&'.join('%s=%s' % (_enc(k), _enc(v)) for k, v in sorted(req.query))
        lines = ''.join('%s:%s\n' % (n, _header_text(req.headers.get(n, '')).strip()) for n in names)
        if not req.body:
            body_hash = EMPTY_SHA256
        elif req.header('x-sdk-content-sha256'):
            body_hash = req.header('x-sdk-content-sha256').strip()
        else:
            body_hash = hashlib.sha256(req.body).hexdigest()
        return '\n'.join([req.method, uri, query, lines, ';'.join(names), body_hash])

    def _verify_signature(self, req: Request) -> str:
        status, code = AUTH_FAILED
        prefix = 'Incorrect IAM authentication information: '
        match = AUTH_RE.match(req.header('authorization', '').strip())
        if not match:
            raise GatewayError(status, code, prefix + 'verify aksk signature fail, the Authorization header is malformed')
        algorithm, access_key, signed, sig = match.groups()
        if algorithm != 'SDK-HMAC-SHA256':
            raise GatewayError(status, code, prefix + 'verify aksk signature fail, unsupported algorithm %s' % algorithm)
        date = (req.header('x-sdk-date') or '').strip()
        try:
            signed_at = calendar.timegm(time.strptime(date, SDK_DATE_FORMAT))
        except ValueError:
            raise GatewayError(status, code, prefix + 'verify aksk signature fail, x-sdk-date %r is not in the format '
                                                      'yyyyMMddTHHmmssZ' % date) from None
        server = time.time() + float(self.sim.options.get('huawei_clock_skew', 0))
        if abs(server - signed_at) > SIGNATURE_SKEW:
            xstatus, xcode = SIGNATURE_EXPIRED
            raise GatewayError(xstatus, xcode, prefix + 'signature expired, signature time:%s,server time:%s'
                               % (date, time.strftime(SDK_DATE_FORMAT, time.gmtime(server))))
        secret = self.secrets.get(access_key)
        if secret is None:
            masked = access_key[:4] + '*' * max(0, len(access_key) - 4)
            raise GatewayError(status, code, prefix + 'Get secretKey failed,ak:%s,err:ak not exist' % masked)
        names = signed.split(';') if signed else []
        if names != sorted(names) or any(n != n.lower() for n in names) or 'host' not in names \
                or 'x-sdk-date' not in names:
            raise GatewayError(status, code, prefix + 'verify aksk signature fail, SignedHeaders must be the sorted '
                                                      'lower-case names and include host and x-sdk-date')
        missing = [n for n in names if n not in req.headers]
        if missing:
            raise GatewayError(status, code, prefix + 'verify aksk signature fail, signed header(s) %s not in the '
                                                      'request' % ', '.join(missing))
        token = req.header('x-security-token')
        if access_key == STS_ACCESS_KEY:
            if not token or token.strip() != STS_TOKEN or 'x-security-token' not in names:
                raise GatewayError(status, code, prefix + 'verify aksk signature fail, the security token is missing, '
                                                          'not signed or invalid for this temporary AK')
        elif token:
            raise GatewayError(status, code, prefix + 'verify aksk signature fail, a security token was sent with a '
                                                      'permanent AK')
        canonical = self.canonical_request(req, names)
        string_to_sign = 'SDK-HMAC-SHA256\n%s\n%s' % (date, hashlib.sha256(canonical.encode('utf-8')).hexdigest())
        expected = hmac.new(secret.encode('utf-8'), string_to_sign.encode('utf-8'), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig.lower()):
            raise GatewayError(status, code, prefix + 'verify aksk signature fail, canonicalRequest:%s'
                               % canonical.replace('\n', '|'))
        return self.project_id

    # ------------------------------------------------------------------ IAM
    def h_create_token(self, req: Request) -> Response:
        try:
            body = req.json()
            auth = body['auth']
            identity = auth['identity']
            methods = identity['methods']
            user = identity['password']['user']
            name, password, domain = user['name'], user['password'], user['domain']
        except (ValueError, KeyError, TypeError, AttributeError):
            return self.iam_error(*IAM_BAD_BODY)
        if not isinstance(methods, list) or 'password' not in methods or not isinstance(domain, dict):
            return self.iam_error(*IAM_BAD_BODY)
        domain_ok = domain.get('name') == DOMAIN_NAME or domain.get('id') == self.domain_id
        if not (domain_ok and name == IAM_USER and isinstance(password, str)
                and hmac.compare_digest(password.encode(), IAM_PASSWORD.encode())):
            return self.iam_error(*IAM_WRONG_PASSWORD)
        scope = (auth.get('scope') or {}).get('project') if isinstance(auth.get('scope'), dict) else None
        projects = {self.region: self.project_id, 'MOS': self.mos_project_id}
        if not isinstance(scope, dict):
            return self.iam_error(*IAM_BAD_SCOPE)
        if scope.get('id'):
            project_id = scope['id'] if scope['id'] in projects.values() else None
        else:
            project_id = projects.get(scope.get('name') or '')
        if project_id is None:
            return self.iam_error(*IAM_BAD_SCOPE)
        project_name = next(k for k, v in projects.items() if v == project_id)
        now = self.sim.clock.now()
        token = 'MIIT' + base64.b64encode(uuid.uuid4().bytes * 150).decode('ascii').replace('=', '')
        self.tokens[token] = {'project_id': project_id, 'expires': now + self.token_lifetime, 'user': name}
        domain_obj = {'id': self.domain_id, 'name': DOMAIN_NAME}
        out = {'token': {
            'methods': ['password'],
            'expires_at': iso_us(now + self.token_lifetime),
            'issued_at': iso_us(now),
            'user': {'id': self.user_id, 'name': IAM_USER, 'domain': domain_obj, 'password_expires_at': ''},
            'project': {'id': project_id, 'name': project_name, 'domain': domain_obj},
            'roles': [{'id': _hex32('role|workspace'), 'name': 'workspace_adm'}],
        }}
        if req.q('nocatalog') != 'true':
            out['token']['catalog'] = []
        return Response(201, out, headers={'X-Subject-Token': token, 'X-IAM-Trace-Id': 'token_%s_null' % uuid.uuid4().hex},
                        content_type='application/json;charset=UTF-8')

    def h_list_projects(self, req: Request) -> Response:
        projects = [(self.region, self.project_id), ('MOS', self.mos_project_id)]
        name = req.q('name')
        base = self.endpoint + '/v3/projects'
        out = [{'id': pid, 'name': pname, 'domain_id': self.domain_id, 'parent_id': self.domain_id, 'enabled': True,
                'is_domain': False, 'description': '', 'links': {'self': base + '/' + pid}}
               for pname, pid in projects if name is None or pname == name]
        return Response(200, {'projects': out, 'links': {'self': base, 'previous': None, 'next': None}},
                        headers={'X-IAM-Trace-Id': 'token_%s_null' % uuid.uuid4().hex},
                        content_type='application/json;charset=UTF-8')

    # ------------------------------------------------------------------ parameters
    @staticmethod
    def _int(req: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
        raw = req.q(name)
        if raw is None or raw == '':
            return default
        try:
            value = int(raw)
        except ValueError:
            raise invalid('The parameter %s must be an integer.' % name) from None
        if value < lo or value > hi:
            raise invalid('The parameter %s must be between %d and %d.' % (name, lo, hi))
        return value

    @staticmethod
    def _bool(req: Request, name: str) -> bool | None:
        raw = req.q(name)
        if raw is None or raw == '':
            return None
        if raw.lower() == 'true':
            return True
        if raw.lower() == 'false':
            return False
        raise invalid('The parameter %s must be true or false.' % name)

    @staticmethod
    def _list(req: Request, name: str, limit: int | None = None) -> list[str]:
        values = []
        for raw in req.q_all(name):
            values.extend(v.strip() for v in raw.split(',') if v.strip())
        if limit is not None and len(values) > limit:
            raise invalid('The parameter %s takes at most %d values.' % (name, limit))
        return values

    def _page(self, req: Request, rows: list, limits: tuple[int, int]) -> list:
        hi, default = limits
        offset = self._int(req, 'offset', 0, 0, 2 ** 31 - 1)
        limit = self._int(req, 'limit', default, 0, hi)
        if limit == 0 and not LIMIT_ZERO_MEANS_ALL:
            return []
        return rows[offset:offset + (limit if limit else len(rows))]

    @staticmethod
    def _body(req: Request) -> dict:
        try:
            body = req.json()
        except ValueError:
            raise invalid('The request body is not valid JSON.') from None
        if body is None:
            status, code = INVALID_PARAMETER
            raise WksError(status, code, 'The request message input by the interface is empty.')
        if not isinstance(body, dict):
            raise invalid('The request body must be a JSON object.')
        return body

    @staticmethod
    def _ids(body: dict, name: str, limit: int) -> list[str]:
        ids = body.get(name)
        if not isinstance(ids, list) or not ids:
            raise invalid('The parameter %s is required and must be a non-empty list.' % name)
        if not all(isinstance(i, str) and i for i in ids):
            raise invalid('The parameter %s must be a list of non-empty strings.' % name)
        if len(ids) > limit:
            raise invalid('The parameter %s takes at most %d items, got %d.' % (name, limit, len(ids)))
        if len(set(ids)) != len(ids):
            raise invalid('The parameter %s contains duplicate ids.' % name)
        return ids

    def _known(self, ids: list[str]) -> list[Desktop]:
        for did in ids:
            if did not in self.desktops:
                status, code = DESKTOP_NOT_FOUND
                raise WksError(status, code, 'The desktop %s does not exist.' % did)
        return [self.desktops[i] for i in ids]

    def _pool(self, pool_id: str):
        pool = next((p for p in self.pools if p.id == pool_id), None)
        if pool is None:
            status, code = POOL_NOT_FOUND
            raise WksError(status, code, 'The desktop pool %s does not exist.' % pool_id)
        return pool

    # ------------------------------------------------------------------ records
    def status_of(self, d: Desktop) -> str:
        if d.extra.get('status'):
            return d.extra['status']
        return {'on': 'ACTIVE', 'off': 'SHUTOFF', 'hibernated': 'HIBERNATED', 'suspended': 'HIBERNATED'}.get(d.power, 'ERROR')

    def task_of(self, d: Desktop) -> tuple[str | None, int | None]:
        if d.extra.get('task_status'):
            return d.extra['task_status'], 50
        t = d.transition
        if not t:
            return None, None
        now = self.sim.clock.now()
        begin = t.get('begin', now)
        if now < begin:
            return None, None
        span = max(1.0, t['until'] - begin)
        return t.get('task_status') or 'updating', max(1, min(99, int((now - begin) * 100 / span)))

    def _users(self, d: Desktop) -> list[dict]:
        return [{'user_id': d.extra.get('user_id'), 'user_name': u, 'user_group': 'administrators', 'type': 'USER',
                 'domain': 'vdifleet.local'} for u in d.users]

    def simple_record(self, d: Desktop) -> dict:
        status = self.status_of(d)
        task, _progress = self.task_of(d)
        return {
            'domain_id': self.domain_id,
            'project_id': self.project_id,
            'desktop_id': d.id,
            'computer_name': d.name,
            'os_host_name': d.name.upper()[:15],
            'created': iso_ms(d.extra.get('created', 0)),
            'ip_address': d.address,
            'user_name': d.users[0] if d.users else None,
            'attach_user_infos': self._users(d),
            'user_group': 'administrators',
            'sid': d.extra.get('sid'),
            'ou_name': 'Computers',
            'enterprise_project_id': '0',
            'tags': [],
            'in_maintenance_mode': d.maintenance,
            'share_resource_sku': None,
            'desktop_type': 'POOLED',
            'desktop_detail_type': 'POOLED',
            'subnet_id': _hex32('subnet|' + self.region)[:8] + '-0000-4000-8000-' + _hex32('subnet')[:12],
            'bill_resource_id': None,
            'status': status,
            'task_status': task,
            'availability_zone': '%sa' % self.region,
            'connect_status': login_status(d, status),
            'pool_id': d.pool_id,
            'domain_status': 1,
        }

    def detail_record(self, d: Desktop) -> dict:
        status = self.status_of(d)
        task, progress = self.task_of(d)
        rec = {
            'desktop_id': d.id,
            'computer_name': d.name,
            'os_host_name': d.name.upper()[:15],
            'addresses': {},
            'ipv4': d.address,
            'ipv6': None,
            'ip_addresses': [d.address],
            'user_name': d.users[0] if d.users else None,
            'attach_user_infos': self._users(d),
            'user_list': list(d.users),
            'user_group_list': [],
            'user_group': 'administrators',
            'created': iso_ms(d.extra.get('created', 0)),
            'security_groups': [{'id': _hex32('sg|' + self.region)}],
            'login_status': login_status(d, status),
            'status': status,
            'task_status': task,
            'process': progress,
            'in_maintenance_mode': d.maintenance,
            'product': {'product_id': 'workspace.x86.ultimate.large2', 'flavor_id': 's6.large.2', 'type': 'BASE',
                        'cpu': '2', 'memory': '4096', 'descriptions': '2 vCPUs | 4 GiB', 'charge_mode': '1'},
            'root_volume': {'type': 'SAS', 'size': 80, 'device': '/dev/vda'},
            'data_volumes': [],
            'availability_zone': '%sa' % self.region,
            'site_type': 'CENTER',
            'site_name': None,
            'tags': [],
            'enterprise_project_id': '0',
            'subnet_id': None,
            'is_support_internet': False,
            'internet_mode_list': [],
            'is_attaching_eip': False,
            'attach_state': 'ATTACHED' if d.users else 'UNATTACH',
            'desktop_type': 'POOLED',
            'is_freeze': False,
            'isolated': False,
            'ou_name': 'Computers',
            'sid': d.extra.get('sid'),
            'os_version': 'Windows Server 2022 Datacenter' if d.os_type == 'Windows' else d.os_type,
            # The SDK model has no os_type field: the operating system type is the metadata key os_type
            # ("Linux, Windows or Others").
            'metadata': {'os_type': d.os_type if d.os_type in ('Windows', 'Linux') else 'Others', 'os_bit': '64',
                         'image_name': 'Workspace_Windows_Server_2022_DataCenter' if d.os_type == 'Windows'
                         else d.os_type, 'desktop_os_version': '2022' if d.os_type == 'Windows' else ''},
            'agent_version': '24.12.0',
            'share_resource_sku': None,
        }
        rec.setdefault('metadata', {}).update(self.image_metadata(d))  # huaweicloud_patching.py
        return rec

    def pool_record(self, pool) -> dict:
        members = [self.desktops[i] for i in pool.desktop_ids if i in self.desktops]
        info = self.pool_info.get(pool.id, {})
        return {
            'id': pool.id,
            'name': pool.name,
            'type': info.get('type', 'DYNAMIC'),
            'description': '',
            'created_time': iso_ms(info.get('created', 0)),
            'charging_mode': POOL_CHARGING_MODE,
            'desktop_count': len(members),
            'desktop_used': sum(1 for d in members if d.sessions),
            'availability_zone': '%sa' % self.region,
            'subnet_ids': [],
            'product': {'product_id': 'workspace.x86.ultimate.large2', 'flavor_id': 's6.large.2', 'type': 'BASE',
                        'cpu': '2', 'memory': '4096'},
            'image_id': self.pool_image(pool.id),
            'image_name': 'Workspace_Windows_Server_2022_DataCenter',
            'image_os_type': 'Windows',
            'image_os_version': '2022',
            'image_os_platform': 'Windows',
            'root_volume': {'type': 'SAS', 'size': 80},
            'data_volumes': [],
            'security_groups': [],
            'disconnected_retention_period': 10,
            'enable_autoscale': False,
            'autoscale_policy': None,
            'status': 'STEADY',
            'enterprise_project_id': '0',
            'in_maintenance_mode': False,
            'tags': [],
            'ou_name': 'Computers',
            'isolation_num': 0,
        }

    # ------------------------------------------------------------------ time
    def settle(self) -> None:
        super().settle()
        now = self.sim.clock.now()
        if self.pending_logoffs:
            due = [x for x in self.pending_logoffs if x['at'] <= now]
            self.pending_logoffs = [x for x in self.pending_logoffs if x['at'] > now]
            for entry in due:
                d = self.desktops.get(entry['desktop_id'])
                if d is not None:
                    d.sessions = [s for s in d.sessions if s.id not in entry['session_ids']]
        if not self.active_jobs:
            return
        still = []
        for job in self.active_jobs:
            pending = False
            for sub in job['sub_jobs']:
                if sub['result'] is not None:
                    continue
                if sub['end'] <= now:
                    self._finish_sub_job(job, sub)
                else:
                    pending = True
            if pending:
                still.append(job)
            else:
                job['end'] = max(s['end'] for s in job['sub_jobs']) if job['sub_jobs'] else job['begin']
        self.active_jobs = still

    def _finish_sub_job(self, job: dict, sub: dict) -> None:
        if sub['fail']:
            sub['result'] = SUB_JOB_FAILED
            return
        if job['kind'] == 'notify':
            d = self.desktops.get(sub['desktop_id'])
            if d is None or self.status_of(d) != 'ACTIVE':
                sub['fail'] = (NOTIFY_NOT_RUNNING, 'The desktop %s is not running; the notification was not '
                                                   'delivered.' % sub['desktop_id'])
                sub['result'] = SUB_JOB_FAILED
                return
            for s in notification_targets(d):
                self.messages.append({'session_id': s.id, 'desktop_id': d.id, 'user': s.user, 'text': job['text'],
                                      'message_type': 'notification', 'time': sub['end']})
        sub['result'] = 'SUCCESS'

    def finish_transition(self, desktop: Desktop, transition: dict) -> None:
        super().finish_transition(desktop, transition)
        if transition.get('kind') == 'reboot':
            desktop.sessions = []  # a restart ends the Windows sessions

    def _power_seconds(self, op: str) -> float:
        lo, hi = POWER_SECONDS[op]
        return self.rng.uniform(lo, hi)

    def _start_power(self, d: Desktop, op: str, kind: str, begin: float, seconds: float,
                     job_id: str | None = None) -> float:
        until = begin + seconds
        d.transition = {'kind': 'reboot' if op == 'reboot' else op, 'power': FINAL_POWER[op], 'until': until,
                        'begin': begin, 'task_status': TASK_STATUS[(op, kind)], 'job': job_id}
        return until

    # ------------------------------------------------------------------ desktops: lists
    def _filter_desktops(self, req: Request, id_limit: int, detail: bool) -> list[Desktop]:
        rows = list(self.desktops.values())
        ids = self._list(req, 'desktop_id', id_limit)
        if ids:
            wanted = set(ids)
            rows = [d for d in rows if d.id in wanted]
        pools = self._list(req, 'pool_id')
        if pools:
            wanted = set(pools)
            rows = [d for d in rows if d.pool_id in wanted]
        status = req.q('status')
        if status:
            if status not in ('ACTIVE', 'SHUTOFF', 'ERROR', 'HIBERNATED'):
                raise invalid('The parameter status must be one of ACTIVE, SHUTOFF, ERROR, HIBERNATED.')
            rows = [d for d in rows if self.status_of(d) == status]
        dtypes = self._list(req, 'desktop_type')
        if dtypes:
            rows = [d for d in rows if 'POOLED' in dtypes]
        ip = req.q('desktop_ip')
        if ip:
            rows = [d for d in rows if d.address == ip]
        name = req.q('computer_name')
        if name:
            rows = [d for d in rows if name.lower() in d.name.lower()]  # fuzzy match
        users = self._list(req, 'user_names', 100) if detail else []
        if not users:
            users = self._list(req, 'user_name')
        if users:
            rows = [d for d in rows if any(any(u.lower() in x.lower() for x in d.users) for u in users)]
        if detail:
            names = self._list(req, 'computer_names')
            if names:
                wanted = set(names)
                rows = [d for d in rows if d.name in wanted]
            maint = self._bool(req, 'in_maintenance_mode')
            if maint is not None:
                rows = [d for d in rows if d.maintenance is maint]
            attached = self._bool(req, 'user_attached')
            if attached is not None:
                rows = [d for d in rows if bool(d.users) is attached]
            sort_field = req.q('sort_field')
            if sort_field:
                if sort_field not in ('created', 'computer_name'):
                    raise invalid('The parameter sort_field must be created or computer_name.')
                sort_type = (req.q('sort_type') or 'ASC').upper()
                if sort_type not in ('ASC', 'DESC'):
                    raise invalid('The parameter sort_type must be ASC or DESC.')
                key = (lambda d: d.extra.get('created', 0)) if sort_field == 'created' else (lambda d: d.name)
                rows = sorted(rows, key=key, reverse=sort_type == 'DESC')
        return rows

    def h_list_desktops_detail(self, req: Request) -> Response:
        rows = self._filter_desktops(req, ID_FILTER_LIMIT, detail=True)
        page = self._page(req, rows, DETAIL_LIMIT)
        return self.ok({'desktops': [self.detail_record(d) for d in page], 'total_count': len(rows)})

    def h_list_desktops(self, req: Request) -> Response:
        rows = self._filter_desktops(req, ID_FILTER_LIMIT, detail=False)
        page = self._page(req, rows, LIST_LIMIT)
        return self.ok({'total_count': len(rows), 'desktops': [self.simple_record(d) for d in page]})

    def h_show_desktop(self, req: Request) -> Response:
        d = self.desktops.get(req.params['desktop_id'])
        if d is None:
            status, code = RESOURCE_NOT_FOUND
            raise WksError(status, code, 'The desktop %s does not exist.' % req.params['desktop_id'])
        return self.ok({'desktop': self.detail_record(d)})

    # ------------------------------------------------------------------ pools
    def h_list_pools(self, req: Request) -> Response:
        rows = [self.pool_record(p) for p in self.pools]
        name = req.q('name')
        if name:
            rows = [r for r in rows if name.lower() in r['name'].lower()]
        ptype = req.q('type')
        if ptype:
            if ptype not in ('DYNAMIC', 'STATIC'):
                raise invalid('The parameter type must be DYNAMIC or STATIC.')
            rows = [r for r in rows if r['type'] == ptype]
        maint = self._bool(req, 'in_maintenance_mode')
        if maint is not None:
            rows = [r for r in rows if r['in_maintenance_mode'] is maint]
        page = self._page(req, rows, POOL_LIMIT)
        return self.ok({'total_count': len(rows), 'desktop_pools': page})

    def h_show_pool(self, req: Request) -> Response:
        return self.ok(self.pool_record(self._pool(req.params['pool_id'])))

    # ------------------------------------------------------------------ maintenance
    def h_maintenance(self, req: Request) -> Response:
        body = self._body(req)
        ids = self._ids(body, 'desktop_ids', MAINTENANCE_BATCH_LIMIT)
        flag = body.get('in_maintenance_mode')
        if not isinstance(flag, bool):
            raise invalid('The parameter in_maintenance_mode is required and must be a boolean.')
        desktops = self._known(ids)
        for d in desktops:
            if self.sim.faults.perid_fails('set_maintenance_mode', d.id):
                status, code = DESKTOP_REFUSED
                raise WksError(status, code, 'The desktop %s cannot be set to maintenance mode now.' % d.id)
        for d in desktops:
            d.maintenance = flag
        return self.ok(None)

    # ------------------------------------------------------------------ power
    @staticmethod
    def _action_type(body: dict) -> str:
        kind = body.get('type', DEFAULT_ACTION_TYPE)
        if kind not in ('SOFT', 'HARD'):
            raise invalid('The parameter type must be SOFT or HARD.')
        return kind

    def h_batch_action(self, req: Request) -> Response:
        body = self._body(req)
        ids = self._ids(body, 'desktop_ids', ACTION_BATCH_LIMIT)
        op = body.get('op_type')
        if op not in DESKTOP_OPS:
            raise invalid('The parameter op_type must be one of os-start, os-stop, reboot, os-hibernate.')
        kind = self._action_type(body)
        desktops = self._known(ids)
        now = self.sim.clock.now()
        failed = []
        for d in desktops:
            if self.sim.faults.perid_fails('batch_run_desktops', d.id):
                failed.append({'desktop_id': d.id, 'desktop_name': d.name, 'error_code': ACTION_FAULT,
                               'error_msg': 'The operation failed on the desktop %s. Contact technical support.' % d.id})
                continue
            refusal = action_refusal(d, self.status_of(d), op)
            if refusal:
                failed.append({'desktop_id': d.id, 'desktop_name': d.name, 'error_code': refusal[0],
                               'error_msg': refusal[1]})
                continue
            self._start_power(d, op, kind, now, self._power_seconds(op))
        out: dict[str, Any] = {'failed_operation_list': failed}
        if BATCH_ACTION_RETURNS_JOB_ID:
            out['job_id'] = str(uuid.uuid4())
        return self.ok(out)

    def _new_job(self, kind: str, job_type: str, desktops: list[Desktop], op_name: str, pool_id: str | None,
                 text: str | None = None, op: str | None = None, kind_of_action: str = DEFAULT_ACTION_TYPE) -> dict:
        now = self.sim.clock.now()
        job_id = str(uuid.uuid4())
        begin = now + JOB_QUEUE_SECONDS
        job = {'id': job_id, 'kind': kind, 'job_type': job_type, 'created': now, 'begin': begin, 'end': None,
               'pool_id': pool_id, 'text': text, 'op': op, 'type': kind_of_action, 'sub_jobs': []}
        for d in desktops:
            sub = {'id': str(uuid.uuid4()), 'job_id': job_id, 'desktop_id': d.id, 'desktop_name': d.name,
                   'user_name': d.users[0] if d.users else None, 'ip_address': d.address, 'begin': begin,
                   'end': begin, 'fail': None, 'result': None}
            if self.sim.faults.perid_fails(op_name, d.id):
                sub['fail'] = (ACTION_FAULT, 'The operation failed on the desktop %s. Contact technical support.' % d.id)
                sub['end'] = begin + self.rng.uniform(*NOTIFY_SECONDS)
            elif kind == 'power':
                status = self.status_of(d)
                if pool_action_noop(status, op):
                    sub['end'] = begin + 1.0
                else:
                    refusal = action_refusal(d, status, op)
                    if refusal:
                        sub['fail'] = refusal
                        sub['end'] = begin + 1.0
                    else:
                        sub['end'] = self._start_power(d, op, kind_of_action, begin, self._power_seconds(op), job_id)
            else:
                sub['end'] = begin + self.rng.uniform(*NOTIFY_SECONDS)
            job['sub_jobs'].append(sub)
        self.jobs[job_id] = job
        self.active_jobs.append(job)
        return job

    def h_pool_action(self, req: Request) -> Response:
        pool = self._pool(req.params['pool_id'])
        body = self._body(req)
        op = body.get('op_type')
        if op not in POOL_OPS:
            raise invalid('The parameter op_type must be one of os-start, os-stop, reboot, hibernate.')
        kind = self._action_type(body)
        desktops = [self.desktops[i] for i in pool.desktop_ids if i in self.desktops]
        job = self._new_job('power', JOB_TYPE_POOL_ACTION, desktops, 'execute_desktop_pool_action', pool.id,
                            op=POOL_OPS[op], kind_of_action=kind)
        return self.ok({'job_id': job['id']})

    # ------------------------------------------------------------------ notifications and logoff
    @staticmethod
    def _text(body: dict, name: str, required: bool = True) -> str | None:
        text = body.get(name)
        if text is None and not required:
            return None
        if not isinstance(text, str) or not text.strip():
            raise invalid('The parameter %s is required and must be a non-empty string.' % name)
        if len(text) > NOTIFICATION_MAX_LENGTH:
            raise invalid('The parameter %s is longer than %d characters.' % (name, NOTIFICATION_MAX_LENGTH))
        return text

    def h_notifications(self, req: Request) -> Response:
        body = self._body(req)
        ids = self._ids(body, 'desktop_ids', NOTIFY_BATCH_LIMIT)
        text = self._text(body, 'notifications')
        desktops = self._known(ids)
        job = self._new_job('notify', JOB_TYPE_NOTIFY, desktops, 'send_notifications', None, text=text)
        return self.ok({'job_id': job['id']})

    def h_pool_notifications(self, req: Request) -> Response:
        pool = self._pool(req.params['pool_id'])
        body = self._body(req)
        text = self._text(body, 'notifications')
        desktops = [self.desktops[i] for i in pool.desktop_ids if i in self.desktops]
        job = self._new_job('notify', JOB_TYPE_NOTIFY, desktops, 'send_desktop_pool_notifications', pool.id, text=text)
        return self.ok({'job_id': job['id']})

    def h_logoff(self, req: Request) -> Response:
        body = self._body(req)
        ids = self._ids(body, 'desktop_ids', LOGOFF_BATCH_LIMIT)
        message = self._text(body, 'message', required=False)
        desktops = self._known(ids)
        for d in desktops:
            if self.sim.faults.perid_fails('batch_logoff_desktops', d.id):
                status, code = DESKTOP_REFUSED
                raise WksError(status, code, 'The users of desktop %s cannot be logged off now.' % d.id)
        now = self.sim.clock.now()
        for d in desktops:
            if not d.sessions or self.status_of(d) != 'ACTIVE':
                continue
            if message:
                for s in d.sessions:
                    self.messages.append({'session_id': s.id, 'desktop_id': d.id, 'user': s.user, 'text': message,
                                          'message_type': 'logoff', 'time': now})
            self.pending_logoffs.append({'desktop_id': d.id, 'session_ids': [s.id for s in d.sessions],
                                         'at': now + LOGOFF_SECONDS})
        return self.ok(None)

    # ------------------------------------------------------------------ jobs
    def _sub_status(self, sub: dict, now: float) -> str:
        if sub['result'] is not None:
            return sub['result']
        return 'RUNNING' if now >= sub['begin'] else 'WAITING'

    def sub_job_record(self, job: dict, sub: dict, now: float) -> dict:
        status = self._sub_status(sub, now)
        if status in ('SUCCESS', SUB_JOB_FAILED):
            process = 100
        elif status == 'RUNNING':
            process = max(1, min(99, int((now - sub['begin']) * 100 / max(1.0, sub['end'] - sub['begin']))))
        else:
            process = 0
        failed = status == SUB_JOB_FAILED
        return {
            'id': sub['id'],
            'job_type': job['job_type'],
            'entities': {'desktop_id': sub['desktop_id'], 'desktop_name': sub['desktop_name'],
                         'user_name': sub['user_name'], 'product_id': 'workspace.x86.ultimate.large2',
                         'ip_address': sub['ip_address']},
            'begin_time': iso_ms(sub['begin']) if status != 'WAITING' else None,
            'end_time': iso_ms(sub['end']) if status in ('SUCCESS', SUB_JOB_FAILED) else None,
            'status': status,
            'error_code': sub['fail'][0] if failed and sub['fail'] else None,
            'fail_reason': sub['fail'][1] if failed and sub['fail'] else None,
            'host': None,
            'project_id': self.project_id,
            'job_id': job['id'],
            'process': process,
            'attach_user': None,
            'entity': sub['desktop_id'],
            'ip_address': sub['ip_address'],
        }

    def job_status(self, job: dict, now: float) -> str:
        statuses = [self._sub_status(s, now) for s in job['sub_jobs']]
        if now < job['begin']:
            return 'WAITING'
        if any(s in ('WAITING', 'RUNNING') for s in statuses):
            return 'RUNNING'
        if statuses and all(s == SUB_JOB_FAILED for s in statuses):
            return JOB_FAILED
        if any(s == SUB_JOB_FAILED for s in statuses):
            return JOB_PARTIAL_FAILURE_STATUS
        return 'SUCCESS'

    def _job(self, job_id: str | None) -> dict:
        job = self.jobs.get(job_id or '')
        if job is None:
            status, code = RESOURCE_NOT_FOUND
            raise WksError(status, code, 'The job %s does not exist.' % job_id)
        return job

    def h_show_job(self, req: Request) -> Response:
        job = self._job(req.params['job_id'])
        now = self.sim.clock.now()
        status = self.job_status(job, now)
        failed = [s for s in job['sub_jobs'] if s['result'] == SUB_JOB_FAILED]
        error_code = fail_reason = None
        if status == JOB_FAILED and failed:
            error_code = failed[0]['fail'][0]
            fail_reason = '%d of %d sub-jobs failed' % (len(failed), len(job['sub_jobs']))
        return self.ok({
            'id': job['id'],
            'job_type': job['job_type'],
            'begin_time': iso_ms(job['created']),
            'end_time': iso_ms(job['end']) if job['end'] is not None and status not in ('WAITING', 'RUNNING') else None,
            'status': status,
            'job_error_code': error_code,
            'fail_reason': fail_reason,
            'sub_jobs_total': len(job['sub_jobs']),
            'sub_jobs': [self.sub_job_record(job, s, now) for s in job['sub_jobs'][:JOB_EMBEDDED_SUB_JOBS]],
        })

    def h_list_sub_jobs(self, req: Request) -> Response:
        job_id = req.q('job_id')
        job_type = req.q('job_type')
        if not job_id and not job_type:
            raise invalid('At least one of job_id and job_type is required.')
        status = req.q('status')
        if status and status not in ('SUCCESS', 'RUNNING', 'FAILED', 'WAITING'):
            raise invalid('The parameter status must be one of SUCCESS, RUNNING, FAILED, WAITING.')
        now = self.sim.clock.now()
        jobs = [self._job(job_id)] if job_id else list(self.jobs.values())
        rows = []
        for job in jobs:
            if job_type and job['job_type'] != job_type:
                continue
            pool = req.q('desktop_pool_id')
            if pool and job['pool_id'] != pool:
                continue
            for sub in job['sub_jobs']:
                if status and self._sub_status(sub, now) != status:
                    continue
                rows.append((job, sub))
        page = self._page(req, rows, SUBJOB_LIMIT)
        return self.ok({'total_count': len(rows), 'jobs': [self.sub_job_record(j, s, now) for j, s in page]})
