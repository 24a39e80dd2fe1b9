"""Simulated Alibaba Cloud Elastic Desktop Service (EDS, product ``ecd``, API 2020-09-30).

RPC style: every call is ``POST /`` (``GET /`` is accepted too) with the Action in the
``x-acs-action`` header (signature V3, ``ACS3-HMAC-SHA256``) or in the ``Action`` query
parameter (signature V1, HMAC-SHA1). Business parameters are in the query (form-encoded
body parameters are read too); lists are flattened (``DesktopId.1``, ``DesktopIds.1``, ...).

Authentication is verified as the real gateway does (see the reference notes §1.3/§1.4):
the canonical request is rebuilt from the received method, path ``/``, the decoded and
re-encoded query and the headers listed in ``SignedHeaders``; ``x-acs-content-sha256`` must
be the SHA-256 of the body; the date may be at most 15 minutes off the real clock (plus the
``alicloud_clock_skew`` simulator option, seconds); a nonce is accepted once. Errors have
the vendor shape ``{RequestId, HostId, Code, Message, Recommend}``.

Credentials: :data:`ACCESS_KEY` / :data:`SECRET_KEY` (permanent AccessKey, what
``credentials()`` hands out) and the STS triple :data:`STS_ACCESS_KEY` /
:data:`STS_SECRET_KEY` / :data:`STS_TOKEN` (the token must come with the STS AccessKey
pair, in ``x-acs-security-token`` (V3) or ``SecurityToken`` (V1)).

Every choice made where the vendor documentation is silent is a named constant in the
"Assumptions" block below; the simulator README lists them.

Control hooks (``/_sim/desktops/<id>``): ``extra={'status': 'Expired'}`` forces the
DesktopStatus shown, ``extra={'support_hibernation': False}`` makes HibernateDesktops refuse
the desktop, ``os_type='Linux'`` makes RunCommand fail on it. Messages delivered by
SendConsoleMessage (``message_type`` ``console:<MessageId>``, to every session when the push
ends) and by a RunCommand popup (``message_type`` ``msg``) are recorded in ``messages``.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from urllib.parse import parse_qsl, quote

try:
    from .core import Desktop, ProviderSim, Request, Response, Route, Session, _rng, generate_fleet
except ImportError:  # loaded as a top-level module (tests put tests/simulator on sys.path)
    from core import Desktop, ProviderSim, Request, Response, Route, Session, _rng, generate_fleet  # type: ignore
try:
    from .alicloud_patching import AlicloudPatching
except ImportError:  # loaded as a top-level module
    from alicloud_patching import AlicloudPatching  # type: ignore

# --------------------------------------------------------------------------- credentials

REGION = 'cn-hangzhou'
API_VERSION = '2020-09-30'
ACCESS_KEY = 'LTAI5tSimFleetAk7Q2rX9wE'
SECRET_KEY = 'SimFleetSecret+Key/For=EcdTest0'
# STS credentials the simulator "hands out" (as AssumeRole would): use all three together.
STS_ACCESS_KEY = 'STS.NUSimFleetTmpAk4Hq8pZ'
STS_SECRET_KEY = 'StsSimFleetSecret7u3Kd'
STS_TOKEN = ('CAIS+AF1q6Ft5B2yfSjIr5bsM/P9hrpR9oK4QWvAl2wvb+5Ynvbv0Tz2IHlFe3BoBu0YsfswnWBZ7/sVlqB6'
             'T5JdRkHfd9I2sFq7Jpr1FuaM8cqP5uHPb5ZwzEW3Zx2ZJbiyGoABj0iJ/sim/fleet+token==')

# --------------------------------------------------------------------------- assumptions
# Everything below is NOT confirmed by vendor documentation; each is one plausible reading,
# isolated here so that it can be changed in one place once verified on a live account.

#: Representation of maintenance mode in DescribeDesktops: this entry in ``ManagementFlags``
#: (the string ``ManagementFlag`` keeps its documented values NoFlag/Migrating/Updating).
MAINTENANCE_FLAG = 'Maintaining'
#: SetDesktopMaintenance ``Mode`` values, and whether the server insists on this case.
MAINTENANCE_MODES = ('ENTER', 'EXIT')
MAINTENANCE_MODE_CASE_SENSITIVE = True
#: ENTER on a desktop already in maintenance (or EXIT on one that is not) rejects the whole call.
MAINTENANCE_CONFLICT = (400, 'IncorrectDesktopMaintenanceStatus')
#: A desktop the service refuses (per-id fault, or a wrong power state for a power action).
DESKTOP_STATUS_REFUSAL = (400, 'IncorrectDesktopStatus')
#: An id that does not exist rejects the whole call.
DESKTOP_NOT_FOUND = (404, 'InvalidDesktopId.NotFound')
#: RegionId that is not the endpoint's region.
INVALID_REGION = (400, 'InvalidRegionId')
#: Wakeup on a desktop that is not Hibernated (documented code).
WAKEUP_REFUSAL = (400, 'InvalidWakeup.NotAllowed')
#: Hibernate on a desktop without SupportHibernation.
HIBERNATE_UNSUPPORTED = (400, 'InvalidHibernate.NotSupported')
#: AccessKey id not known: 404 (the notes allow 400 or 404).
ACCESS_KEY_NOT_FOUND_STATUS = 404
#: Max ids per power call (SDK 5.5.0 says 100; older docs say 20).
POWER_BATCH_LIMIT = 100
SET_MAINTENANCE_LIMIT = 100
DESCRIBE_IDS_LIMIT = 100
RUN_COMMAND_LIMIT = 50
#: Page sizes: DescribeDesktops/DescribeDesktopGroups MaxResults (documented 100, default 10),
#: DescribeDesktopSessions PageSize (undocumented max), DescribeConsoleMessages PageSize (1..200).
MAX_RESULTS_LIMIT = 100
MAX_RESULTS_DEFAULT = 10
#: DescribeInvocations MaxResults: at most 50, default 10 (SDK model; an older document said 100).
INVOCATIONS_MAX_RESULTS = (50, 10)
#: DescribeDesktopGroupSessions LastSessionStartTime/LastSessionEndTime: "yyyy-MM-dd HH:mm:ss" (SDK model),
#: unlike the ISO 8601 times of the other calls. The time zone is not documented: UTC here, like every other
#: ecd time.
GROUP_SESSION_TIME_FORMAT = '%Y-%m-%d %H:%M:%S'
#: DescribeInvocations IncludeInvokeDesktops: the default is not documented (the examples show false). Without
#: IncludeInvokeDesktops=true no per-desktop results (InvokeDesktops) are returned.
INCLUDE_INVOKE_DESKTOPS_DEFAULT = False
SESSIONS_PAGE_MAX = 100
SESSIONS_PAGE_DEFAULT = 10
#: FilterDesktopGroup defaults to true (documented in the old Go SDK): pooled desktops are left
#: out unless FilterDesktopGroup=false or OnlyDesktopGroup=true. Applied with DesktopId.N too.
FILTER_DESKTOP_GROUP_DEFAULT = True
#: DescribeDesktops ``Sessions[]`` lists disconnected sessions too (not only connected ones).
DESCRIBE_DESKTOPS_LISTS_DISCONNECTED_SESSIONS = True
#: DesktopStatus shown while a power action runs, and how long it runs (simulated seconds). Only documented
#: statuses (Pending, Starting, Running, Stopping, Stopped, Rebuilding, Expired, Deleted, Failed, Hibernated):
#: there is no Rebooting or Hibernating. A reboot shows Stopping for its first half and Starting for the
#: second; hibernation shows Stopping until Hibernated; a wakeup Starting.
TRANSITION_STATUS = {'start': ('Starting',), 'stop': ('Stopping',), 'reboot': ('Stopping', 'Starting'),
                     'hibernate': ('Stopping',), 'wakeup': ('Starting',)}
TRANSITION_SECONDS = {'start': 40.0, 'stop': 30.0, 'reboot': 60.0, 'hibernate': 45.0, 'wakeup': 30.0}
#: Throttling answers carry ``x-acs-retry-after`` in MILLISECONDS (integer): that is how
#: tea-openapi reads it (``int()`` then ``DaraCore.sleep(ms)``).
RETRY_AFTER_HEADER = 'x-acs-retry-after'
#: Per-desktop outcome of a RunCommand invocation that did not succeed: (InvocationStatus, ErrorCode, ErrorInfo),
#: with the SDK's documented ErrorCode/ErrorInfo values and per-desktop statuses (Invalid: validation failed,
#: Aborted: delivery failed, Failed: non-zero exit code, Error: exception). Decided when RunCommand is called
#: (the documented InstanceNotRunning means "not running when the task was created"): a desktop that is not
#: Running; a desktop that is not Windows, or whose EndUserId has no session there (the documented condition of
#: EndUserId); a desktop refused by a ``perid`` fault (its Cloud Assistant client is down). Decided when the
#: invocation ends: a desktop gone meanwhile; a desktop that stopped meanwhile; a script that exits non-zero.
INVOCATION_NOT_RUNNING = ('Invalid', 'InstanceNotRunning', 'the instance is not running when create task')
INVOCATION_NOT_APPLICABLE = ('Invalid', 'CommandNotApplicable', 'the command is not applicable')
INVOCATION_CLIENT_DOWN = ('Aborted', 'ClientNotRunning', 'the aliyun service is not running on the instance')
INVOCATION_RELEASED = ('Error', 'InstanceReleased', 'the instance has released when create task')
INVOCATION_INTERRUPTED = ('Failed', 'ExecutionInterrupted', 'the command execution has been interrupted')
INVOCATION_EXIT_NONZERO = ('Failed', 'ExitCodeNonzero', 'the command execution exit code is not zero')
#: Seconds (simulated) a RunCommand invocation runs, and a console message stays ``Pushing``.
INVOCATION_SECONDS = 5.0
PUSH_SECONDS = 10.0
#: Console messages that exist in the account (no API creates them). Only ``Published`` can be sent.
CONSOLE_MESSAGES = (
    {'MessageId': 'msg-sim-maintenance', 'Status': 'Published', 'MessageType': 'NOTIFICATION',
     'MessageLevel': 'STRONG', 'TargetType': 'AllUsers',
     'Title': 'Planned maintenance',
     'Content': 'Your cloud computer enters maintenance in 10 minutes. Please save your work and log off.'},
    {'MessageId': 'msg-sim-logoff', 'Status': 'Published', 'MessageType': 'NOTIFICATION',
     'MessageLevel': 'WEAK', 'TargetType': 'AllUsers',
     'Title': 'Please log off', 'Content': 'Please log off now.'},
    {'MessageId': 'msg-sim-draft', 'Status': 'Init', 'MessageType': 'NOTIFICATION',
     'MessageLevel': 'WEAK', 'TargetType': 'AllUsers', 'Title': 'Draft', 'Content': 'Not published yet.'},
    {'MessageId': 'msg-sim-expired', 'Status': 'Expired', 'MessageType': 'NOTIFICATION',
     'MessageLevel': 'WEAK', 'TargetType': 'AllUsers', 'Title': 'Old', 'Content': 'Expired message.'},
)
#: The ONE script shape the simulated Windows desktops understand for a popup (RunCommand,
#: Type=RunPowerShellScript): the text is UTF-8, base64-encoded inside single quotes.
#: Anything else fails the invocation. Build it with :func:`msg_script`.
MSG_SCRIPT_TEMPLATE = "$t=[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('%s')); msg * $t"
MSG_SCRIPT_RE = re.compile(r"\$t=\[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String\("
                           r"'([A-Za-z0-9+/]*={0,2})'\)\); msg \* \$t")

# --------------------------------------------------------------------------- vendor constants

WRITE_ACTIONS = frozenset((
    'SetDesktopMaintenance', 'StartDesktops', 'StopDesktops', 'RebootDesktops', 'HibernateDesktops',
    'WakeupDesktops', 'SendConsoleMessage', 'RunCommand', 'DisconnectDesktopSessions',
))
READ_ACTIONS = frozenset((
    'DescribeDesktops', 'DescribeDesktopGroups', 'DescribeDesktopSessions', 'DescribeDesktopGroupSessions',
    'DescribeConsoleMessages', 'DescribeInvocations',
))
SIGNATURE_SKEW = 15 * 60
NONCE_TTL = 31 * 60
MAX_TOKENS = 20000
DATE_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
V3_ALGORITHM = 'ACS3-HMAC-SHA256'
EMPTY_SHA256 = hashlib.sha256(b'').hexdigest()
AUTH_RE = re.compile(r'^(\S+) Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]+)$')
V1_PARAMS = ('AccessKeyId', 'Signature', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce', 'Timestamp',
             'Version', 'Format', 'SecurityToken', 'Action')
ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

MSG_MISSING = 'The input parameter "%s" that is mandatory for processing this request is not supplied.'
MSG_SIGNATURE = 'Specified signature is not matched with our calculation. server string to sign is:%s'
MSG_THROTTLED = 'Request was denied due to user flow control.'


def msg_script(text: str) -> str:
    """The PowerShell popup script the simulated desktops run (see :data:`MSG_SCRIPT_TEMPLATE`)."""
    return MSG_SCRIPT_TEMPLATE % base64.b64encode(text.encode('utf-8')).decode('ascii')


def parse_msg_script(script: str) -> str | None:
    """The popup text of a script in exactly the :data:`MSG_SCRIPT_TEMPLATE` shape, else None."""
    m = MSG_SCRIPT_RE.fullmatch(script.strip())
    if not m:
        return None
    try:
        return base64.b64decode(m.group(1), validate=True).decode('utf-8')
    except (binascii.Error, ValueError):
        return None


def pct(value: str) -> str:
    """RFC 3986 encoding (UTF-8): only ``A-Z a-z 0-9 - _ . ~`` stay as they are."""
    return quote(value.encode('utf-8'), safe='-_.~')


def iso(ts: float) -> str:
    return time.strftime(DATE_FORMAT, time.gmtime(ts))


def _rand_id(rng, prefix: str, n: int = 17) -> str:
    return prefix + ''.join(rng.choice(ID_ALPHABET) for _i in range(n))


class ApiFault(Exception):
    """Raised inside handlers: answered as a vendor error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def missing(name: str) -> ApiFault:
    return ApiFault(400, 'MissingParameter', MSG_MISSING % name)


def invalid(name: str, why: str = '') -> ApiFault:
    return ApiFault(400, 'InvalidParameter', 'The specified parameter "%s" is not valid.%s' % (name, ' ' + why if why else ''))


class Params:
    """The request parameters (query plus form body) of one call."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self.map: dict[str, str] = {}
        for k, v in pairs:
            self.map.setdefault(k, v)  # first occurrence wins

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.map.get(name, default)

    def required(self, name: str) -> str:
        value = self.map.get(name)
        if value is None or value == '':
            raise missing(name)
        return value

    def list(self, name: str, limit: int | None = None) -> list[str]:
        """``Name.1 .. Name.N`` in index order (empty values dropped)."""
        rx = re.compile(r'^%s\.(\d+)$' % re.escape(name))
        items = []
        for k, v in self.map.items():
            m = rx.match(k)
            if m and v != '':
                items.append((int(m.group(1)), v))
        items.sort()
        values = [v for _idx, v in items]
        if limit is not None and len(values) > limit:
            raise invalid(name, 'A maximum of %d values is supported; %d were given.' % (limit, len(values)))
        return values

    def objects(self, name: str) -> list[dict[str, str]]:
        """``Name.N.Key`` entries as a list of dicts in index order."""
        rx = re.compile(r'^%s\.(\d+)\.(\w+)$' % re.escape(name))
        found: dict[int, dict[str, str]] = {}
        for k, v in self.map.items():
            m = rx.match(k)
            if m:
                found.setdefault(int(m.group(1)), {})[m.group(2)] = v
        return [found[i] for i in sorted(found)]

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.map.get(name)
        if value is None or value == '':
            return default
        if value.lower() in ('true', 'false'):
            return value.lower() == 'true'
        raise invalid(name, 'Expected true or false.')

    def integer(self, name: str, default: int | None, lo: int, hi: int) -> int | None:
        value = self.map.get(name)
        if value is None or value == '':
            return default
        try:
            n = int(value)
        except ValueError:
            raise invalid(name, 'Expected an integer.') from None
        if n < lo or n > hi:
            raise invalid(name, 'The value must be between %d and %d.' % (lo, hi))
        return n


class AlicloudSim(AlicloudPatching, ProviderSim):
    name = 'alicloud'

    def __init__(self, sim) -> None:
        super().__init__(sim)
        self.region = sim.options.get('alicloud_region', REGION)
        self.host_id = 'ecd.%s.aliyuncs.com' % self.region
        self.secrets = {ACCESS_KEY: SECRET_KEY, STS_ACCESS_KEY: STS_SECRET_KEY}
        self.nonces: dict[str, float] = {}  # nonce -> real time first seen (kept across resets)
        self._nonces_purged = time.time()
        self.tokens: dict[str, dict] = {}  # NextToken -> {action, filter, offset}
        self.invocations: dict[str, dict] = {}
        self.console_messages: dict[str, dict] = {}
        self.pushes: list[dict] = []
        self.office_site = '%s+dir-%010d' % (self.region, 3921047734)
        # Server errors alternate 500/503. They are answered outside the provider lock (core.py), so the
        # counter has its own lock.
        self._err_seq = 0
        self._err_lock = threading.Lock()
        self.actions: dict[str, Route] = {}
        handlers = {
            'DescribeDesktops': self.describe_desktops,
            'DescribeDesktopGroups': self.describe_desktop_groups,
            'SetDesktopMaintenance': self.set_desktop_maintenance,
            'StartDesktops': lambda req: self.power(req, 'start'),
            'StopDesktops': lambda req: self.power(req, 'stop'),
            'RebootDesktops': lambda req: self.power(req, 'reboot'),
            'HibernateDesktops': lambda req: self.power(req, 'hibernate'),
            'WakeupDesktops': lambda req: self.power(req, 'wakeup'),
            'DescribeDesktopSessions': self.describe_desktop_sessions,
            'DescribeDesktopGroupSessions': self.describe_desktop_group_sessions,
            'DisconnectDesktopSessions': self.disconnect_desktop_sessions,
            'SendConsoleMessage': self.send_console_message,
            'DescribeConsoleMessages': self.describe_console_messages,
            'RunCommand': self.run_command,
            'DescribeInvocations': self.describe_invocations,
        }
        for action, handler in handlers.items():
            route = Route('POST', '/', action, self._wrap(handler), write=action in WRITE_ACTIONS)
            self.actions[action] = route
            self.routes.append(route)
        self.add_patching_routes()  # image rebuilds and agent commands (alicloud_patching.py)

    # ------------------------------------------------------------------ lifecycle
    def reset(self, fleet: int, seed: int) -> None:
        now = self.sim.clock.now()
        pools, desktops = generate_fleet(
            fleet, seed, self.name, pools=self.sim.pools,
            desktop_id=lambda rng, i: _rand_id(rng, 'ecd-'),
            pool_id=lambda rng, i: _rand_id(rng, 'dg-'),
            name_prefix='eds', now=now, suspended_state='hibernated')
        self.pools = pools
        self.desktops = {d.id: d for d in desktops}
        rng = _rng(seed, self.name, 'extra', fleet)
        for d in desktops:
            d.extra.setdefault('support_hibernation', True)
            d.extra.setdefault('creation_time', now - rng.randint(30, 400) * 86400)
            d.extra.setdefault('client_ip', '203.0.113.%d' % (1 + d.index % 250))
        self.messages = []
        self.tokens = {}
        self.invocations = {}
        self.pushes = []
        self.console_messages = {m['MessageId']: dict(m) for m in CONSOLE_MESSAGES}
        self.reset_patching()

    def credentials(self) -> dict:
        return {'region': self.region, 'access_key': ACCESS_KEY, 'secret_key': SECRET_KEY}

    # ------------------------------------------------------------------ responses
    @staticmethod
    def _request_id() -> str:
        return str(uuid.uuid4()).upper()

    def ok(self, body: dict) -> Response:
        rid = self._request_id()
        out = {'RequestId': rid}
        out.update(body)
        return Response(200, out, headers={'x-acs-request-id': rid})

    def error(self, status: int, code: str, message: str, headers: dict | None = None) -> Response:
        rid = self._request_id()
        body = {'RequestId': rid, 'HostId': self.host_id, 'Code': code, 'Message': message,
                'Recommend': 'https://api.aliyun.com/troubleshoot?q=%s&product=ecd&requestId=%s' % (code, rid)}
        hdrs = {'x-acs-request-id': rid}
        hdrs.update(headers or {})
        return Response(status, body, headers=hdrs)

    def throttled(self, retry_after: float) -> Response:
        ms = max(1, int(round(float(retry_after) * 1000)))
        return self.error(400, 'Throttling.User', MSG_THROTTLED, headers={RETRY_AFTER_HEADER: str(ms)})

    def server_error(self) -> Response:
        with self._err_lock:
            self._err_seq += 1
            odd = self._err_seq % 2
        if odd:
            return self.error(500, 'InternalError',
                              'The request processing has failed due to some unknown error, exception or failure.')
        return self.error(503, 'ServiceUnavailable', 'The request has failed due to a temporary failure of the server.')

    def not_found(self, req: Request) -> Response:
        if req.path != '/':
            return self.error(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.')
        action = self._action(req)
        if not action:
            return self.error(400, 'MissingParameter', MSG_MISSING % 'Action')
        return self.error(404, 'InvalidAction.NotFound',
                          'Specified api is not found, please check your url and method. (Action %s)' % action)

    def bad_request(self, message: str) -> Response:
        return self.error(400, 'InvalidParameter', message)

    # ------------------------------------------------------------------ routing
    @staticmethod
    def _action(req: Request) -> str | None:
        return req.header('x-acs-action') or req.q('Action')

    def classify(self, req: Request):
        if req.path != '/' or req.method not in ('GET', 'POST'):
            return None, 'unknown'
        route = self.actions.get(self._action(req) or '')
        if route is None:
            return None, 'unknown'
        return route, route.op

    def _wrap(self, handler):
        def run(req: Request) -> Response:
            try:
                return handler(req)
            except ApiFault as fault:
                return self.error(fault.status, fault.code, fault.message)
        return run

    @staticmethod
    def _form(req: Request) -> list[tuple[str, str]]:
        ctype = (req.header('content-type') or '').split(';')[0].strip().lower()
        if req.body and ctype == 'application/x-www-form-urlencoded':
            return parse_qsl(req.body.decode('utf-8'), keep_blank_values=True)
        return []

    def params(self, req: Request) -> Params:
        return Params(list(req.query) + self._form(req))

    # ------------------------------------------------------------------ authentication
    def authenticate(self, req: Request, route: Route) -> Response | None:
        try:
            if req.header('authorization'):
                self._verify_v3(req)
            elif req.q('Signature') is not None:
                self._verify_v1(req)
            else:
                raise ApiFault(400, 'MissingParameter', MSG_MISSING % 'Signature')
        except ApiFault as fault:
            return self.error(fault.status, fault.code, fault.message)
        return None

    def _check_date(self, value: str, name: str) -> None:
        try:
            ts = calendar.timegm(time.strptime(value, DATE_FORMAT))
        except ValueError:
            raise ApiFault(400, 'InvalidTimeStamp.Format',
                           'Specified time stamp or date value is not well formatted (%s).' % name) from None
        server = time.time() + float(self.sim.options.get('alicloud_clock_skew', 0))
        if abs(server - ts) > SIGNATURE_SKEW:
            raise ApiFault(400, 'InvalidTimeStamp.Expired',
                           'Specified time stamp or date value is expired. server time: %s' % iso(server))

    def _check_key(self, access_key: str, token: str | None) -> str:
        secret = self.secrets.get(access_key)
        if secret is None:
            raise ApiFault(ACCESS_KEY_NOT_FOUND_STATUS, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.')
        if access_key.startswith('STS.'):
            if not token:
                raise ApiFault(400, 'MissingSecurityToken', 'The SecurityToken is required for STS credentials.')
            if token != STS_TOKEN:
                raise ApiFault(400, 'InvalidSecurityToken.Malformed', 'The specified SecurityToken is malformed.')
        elif token:
            raise ApiFault(400, 'InvalidSecurityToken.MismatchWithAccessKey',
                           'The specified SecurityToken mismatches the AccessKeyId.')
        return secret

    def _use_nonce(self, nonce: str) -> None:
        now = time.time()
        if now - self._nonces_purged > 60:
            self.nonces = {k: t for k, t in self.nonces.items() if now - t < NONCE_TTL}
            self._nonces_purged = now
        seen = self.nonces.get(nonce)
        if seen is not None and now - seen < NONCE_TTL:
            raise ApiFault(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.')
        self.nonces[nonce] = now

    def _check_version(self, version: str | None, name: str) -> None:
        if not version:
            raise missing(name)
        if version != API_VERSION:
            raise ApiFault(400, 'NoSuchVersion', 'Specified api version %s is not supported for product ecd.' % version)

    def _verify_v3(self, req: Request) -> None:
        m = AUTH_RE.match(req.header('authorization', '').strip())
        if not m:
            raise ApiFault(400, 'IncompleteSignature', 'The request signature does not conform to Aliyun standards.')
        algorithm, access_key, signed, sig = m.groups()
        if algorithm != V3_ALGORITHM:
            raise ApiFault(400, 'IncompleteSignature',
                           'The signature algorithm %s is not supported; use %s.' % (algorithm, V3_ALGORITHM))
        names = signed.split(';')
        if names != sorted(names) or any(n != n.lower() for n in names):
            raise ApiFault(400, 'IncompleteSignature', 'SignedHeaders must be lowercase names sorted and joined by ";".')
        for name in ('x-acs-action', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256'):
            if not req.header(name):
                raise ApiFault(400, 'MissingParameter', MSG_MISSING % name)
        self._check_version(req.header('x-acs-version'), 'x-acs-version')
        # Every common header present (host and x-acs-*, but Authorization) must be signed.
        unsigned = sorted(h for h in req.headers if (h == 'host' or h.startswith('x-acs-')) and h not in names)
        if unsigned or 'host' not in names:
            raise ApiFault(400, 'IncompleteSignature', 'The request signature does not conform to Aliyun standards. '
                           'Header(s) %s must be signed.' % ', '.join(unsigned or ['host']))
        token = req.header('x-acs-security-token')
        secret = self._check_key(access_key, token)
        self._check_date(req.header('x-acs-date'), 'x-acs-date')
        payload = hashlib.sha256(req.body or b'').hexdigest()
        if req.header('x-acs-content-sha256').lower() != payload:
            raise ApiFault(400, 'IncompleteSignature', 'The x-acs-content-sha256 header does not match the request body.')
        pairs = sorted((pct(k), pct(v)) for k, v in req.query)
        lines = []
        for name in names:
            if name not in req.headers:
                raise ApiFault(400, 'IncompleteSignature', 'Signed header %s is not in the request.' % name)
            lines.append('%s:%s\n' % (name, req.headers[name].strip()))
        canonical = '\n'.join([req.method, '/', '&'.join('%s=%s' % p for p in pairs), ''.join(lines), signed,
                               req.header('x-acs-content-sha256').lower()])
        to_sign = '%s\n%s' % (V3_ALGORITHM, hashlib.sha256(canonical.encode('utf-8')).hexdigest())
        expected = hmac.new(secret.encode('utf-8'), to_sign.encode('utf-8'), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig.lower()):
            raise ApiFault(403, 'SignatureDoesNotMatch', MSG_SIGNATURE % to_sign)
        self._use_nonce(req.header('x-acs-signature-nonce'))

    def _verify_v1(self, req: Request) -> None:
        pairs = list(req.query) + self._form(req)
        params = Params(pairs)
        for name in ('AccessKeyId', 'SignatureNonce', 'Timestamp', 'SignatureMethod', 'Version'):
            params.required(name)
        if params.get('SignatureMethod') != 'HMAC-SHA1':
            raise ApiFault(400, 'IncompleteSignature', 'The signature method %s is not supported.' % params.get('SignatureMethod'))
        if params.get('SignatureVersion', '1.0') != '1.0':
            raise ApiFault(400, 'IncompleteSignature', 'The signature version %s is not supported.' % params.get('SignatureVersion'))
        if (params.get('Format') or 'JSON').upper() != 'JSON':
            raise invalid('Format', 'The simulator answers JSON only.')
        self._check_version(params.get('Version'), 'Version')
        secret = self._check_key(params.get('AccessKeyId'), params.get('SecurityToken'))
        self._check_date(params.get('Timestamp'), 'Timestamp')
        canonical = '&'.join('%s=%s' % kv for kv in sorted((pct(k), pct(v)) for k, v in pairs if k != 'Signature'))
        to_sign = '%s&%s&%s' % (req.method, pct('/'), pct(canonical))
        expected = base64.b64encode(hmac.new((secret + '&').encode('utf-8'), to_sign.encode('utf-8'),
                                             hashlib.sha1).digest()).decode('ascii')
        if not hmac.compare_digest(expected, params.get('Signature') or ''):
            raise ApiFault(403, 'SignatureDoesNotMatch', MSG_SIGNATURE % to_sign)
        self._use_nonce(params.get('SignatureNonce'))

    # ------------------------------------------------------------------ helpers
    def _region(self, p: Params) -> None:
        region = p.required('RegionId')
        if region != self.region:
            status, code = INVALID_REGION
            raise ApiFault(status, code, 'The specified RegionId %s does not exist or is not served by this endpoint '
                           '(%s).' % (region, self.host_id))

    def _known(self, ids: list[str]) -> list[Desktop]:
        out = []
        for did in ids:
            d = self.desktops.get(did)
            if d is None:
                status, code = DESKTOP_NOT_FOUND
                raise ApiFault(status, code, 'The specified desktop %s is not found.' % did)
            out.append(d)
        return out

    def _pool(self, d: Desktop):
        return next((p for p in self.pools if p.id == d.pool_id), None)

    def status_of(self, d: Desktop) -> str:
        if d.extra.get('status'):
            return d.extra['status']
        if d.transition:
            phases = TRANSITION_STATUS.get(d.transition.get('kind'), ('Pending',))
            begin = d.transition.get('begin', d.transition['until'])
            span = max(1e-9, d.transition['until'] - begin)
            done = (self.sim.clock.now() - begin) / span
            return phases[min(len(phases) - 1, max(0, int(done * len(phases))))]
        return {'on': 'Running', 'off': 'Stopped', 'hibernated': 'Hibernated', 'suspended': 'Hibernated'}.get(d.power, 'Pending')

    def _page(self, action: str, fingerprint: str, items: list, p: Params,
              limits: tuple[int, int] = (MAX_RESULTS_LIMIT, MAX_RESULTS_DEFAULT)) -> tuple[list, str]:
        """MaxResults/NextToken paging; the token is opaque and bound to the query it came from."""
        size = p.integer('MaxResults', limits[1], 1, limits[0])
        token = p.get('NextToken')
        offset = 0
        if token:
            entry = self.tokens.get(token)
            if entry is None or entry['action'] != action or entry['fingerprint'] != fingerprint:
                raise ApiFault(400, 'InvalidParameter.NextToken', 'The specified NextToken is not valid.')
            offset = entry['offset']
        page = items[offset:offset + size]
        next_token = ''
        if offset + size < len(items):
            next_token = hashlib.sha256(('%s|%s|%d|%s' % (action, fingerprint, offset + size, uuid.uuid4())).encode()).hexdigest()[:32]
            self.tokens[next_token] = {'action': action, 'fingerprint': fingerprint, 'offset': offset + size}
            while len(self.tokens) > MAX_TOKENS:  # forget the oldest tokens
                del self.tokens[next(iter(self.tokens))]
        return page, next_token

    @staticmethod
    def _fingerprint(p: Params) -> str:
        return json.dumps(sorted((k, v) for k, v in p.map.items() if k not in ('NextToken',) + V1_PARAMS + ('MaxResults',)))

    # ------------------------------------------------------------------ records
    def desktop_record(self, d: Desktop) -> dict:
        status = self.status_of(d)
        if d.transition:
            conn = 'Unknown'
        elif status == 'Running':
            conn = 'Connected' if any(s.state == 'connected' for s in d.sessions) else 'Disconnected'
        else:
            conn = 'Disconnected'
        sessions = [s for s in d.sessions if DESCRIBE_DESKTOPS_LISTS_DISCONNECTED_SESSIONS or s.state == 'connected']
        flags = [MAINTENANCE_FLAG] if d.maintenance else []
        pool = self._pool(d)
        return {
            'DesktopId': d.id,
            'DesktopName': d.name,
            'DesktopGroupId': pool.id if pool else None,
            'OfficeSiteId': self.office_site,
            'OfficeSiteName': 'sim-office-site',
            'OfficeSiteType': 'SIMPLE',
            'DirectoryId': self.office_site,
            'DesktopStatus': status,
            'ConnectionStatus': conn,
            'ManagementFlag': 'NoFlag',
            'ManagementFlags': flags,
            'Progress': '100',
            'EndUserIds': list(d.users),
            'Sessions': [{'EndUserId': s.user, 'EstablishmentTime': iso(s.start_time), 'ExternalUserName': s.user}
                         for s in sessions],
            'SessionType': 'SingleSession',
            'BindAmount': 1,
            'DesktopType': 'eds.enterprise_office.4c8g',
            'Cpu': 4,
            'Memory': 8192,
            'GpuCount': 0.0,
            'ImageId': self.image_of(d),
            'ImageName': 'Windows Server 2022 (simulated)' if d.os_type == 'Windows' else '%s (simulated)' % d.os_type,
            'OsType': d.os_type,
            'Platform': 'Windows Server 2022' if d.os_type == 'Windows' else d.os_type,
            'ProtocolType': 'ASP',
            'HostName': d.name.upper()[:15],
            'NetworkInterfaceIp': d.address,
            'ChargeType': 'PostPaid',
            'CreationTime': time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime(d.extra.get('creation_time', 0))),
            'StartTime': iso(d.extra['start_time']) if d.extra.get('start_time') else None,
            'ExpiredTime': '2099-12-31T15:59Z',
            'SupportHibernation': bool(d.extra.get('support_hibernation', True)),
            'HibernationBeta': False,
            'HibernationOptionsConfigured': bool(d.extra.get('support_hibernation', True)),
            'ZoneId': '%s-h' % self.region,
            'Tags': [],
        }

    def group_record(self, pool) -> dict:
        members = [self.desktops[i] for i in pool.desktop_ids if i in self.desktops]
        counts: dict[str, int] = {}
        for d in members:
            st = self.status_of(d)
            counts[st] = counts.get(st, 0) + 1
        return {
            'DesktopGroupId': pool.id,
            'DesktopGroupName': pool.name,
            'OfficeSiteId': self.office_site,
            'OfficeSiteName': 'sim-office-site',
            'PolicyGroupId': 'system-all-enabled-policy',
            'Status': 1,
            'PayType': 'PostPaid',
            'OwnType': 0,
            'BindAmount': 1,
            'DesktopCount': len(members),
            'EndUserCount': sum(len(d.users) for d in members),
            'CountPerStatus': [{'Status': k, 'Count': v} for k, v in sorted(counts.items())],
            'MinDesktopsCount': 0,
            'MaxDesktopsCount': max(len(members), 1),
            'LoadPolicy': 0,
            'ResetType': 0,
            'ImageId': self.group_image(pool.id),
            'Cpu': 4,
            'Memory': 8192,
            'ConnectDuration': 900000,
            'IdleDisconnectDuration': 900000,
            'KeepDuration': 900000,
            'StopDuration': 900000,
            'Tags': [],
        }

    def session_record(self, d: Desktop, s: Session) -> dict:
        now = self.sim.clock.now()
        return {
            'DesktopId': d.id,
            'DesktopName': d.name,
            'EndUserId': s.user,
            'SessionStatus': 'Connected' if s.state == 'connected' else 'Disconnected',
            'OsSessionStatus': 'active' if s.state == 'connected' else 'disconnected',
            'SessionStartTime': iso(s.start_time),
            'SessionEndTime': None,
            'SessionIdleTime': 0 if s.state == 'connected' else int(max(0, now - s.start_time) // 2),
            'LatestConnectionTime': int(max(0, now - s.start_time)),
            'TotalConnectionTime': int(max(0, now - s.start_time)),
            'ClientIp': d.extra.get('client_ip'),
            'ClientOS': 'Windows_NT 10.0',
            'ClientVersion': '7.5.0-R-20260101.000000',
            'ProtocolType': 'ASP',
            'OfficeSiteId': self.office_site,
            'TerminalInfo': {'Model': 'PC', 'ProductName': 'Alibaba Cloud Workspace client', 'SerialNumber': '',
                             'Uuid': hashlib.md5(('%s|%s' % (d.id, s.user)).encode()).hexdigest()},
        }

    # ------------------------------------------------------------------ time
    def settle(self) -> None:
        super().settle()
        now = self.sim.clock.now()
        for push in [x for x in self.pushes if x['until'] <= now]:
            self.pushes.remove(push)
            msg = self.console_messages.get(push['message_id'])
            if msg is not None and msg['Status'] == 'Pushing':
                msg['Status'] = 'Published'
            for d in self.desktops.values():
                for s in d.sessions:
                    self._deliver(d, s, push['text'], 'console:' + push['message_id'], push['until'])
        for inv in self.invocations.values():
            if inv['status'] == 'Running' and inv['until'] <= now:
                self._finish_invocation(inv)

    def finish_transition(self, desktop: Desktop, transition: dict) -> None:
        super().finish_transition(desktop, transition)
        if desktop.power == 'on':
            desktop.extra['start_time'] = transition['until']

    def _deliver(self, d: Desktop, s: Session, text: str, kind: str, when: float) -> None:
        self.messages.append({'session_id': s.id, 'desktop_id': d.id, 'user': s.user, 'text': text,
                              'message_type': kind, 'time': when})

    # ------------------------------------------------------------------ DescribeDesktops
    def describe_desktops(self, req: Request) -> Response:
        p = self.params(req)
        self._region(p)
        ids = p.list('DesktopId', DESCRIBE_IDS_LIMIT)
        group = p.get('DesktopGroupId') or p.get('GroupId')
        only_group = p.boolean('OnlyDesktopGroup', False)
        filter_group = p.boolean('FilterDesktopGroup', None)
        if filter_group is None:
            filter_group = FILTER_DESKTOP_GROUP_DEFAULT and not only_group
        status = p.get('DesktopStatus')
        statuses = p.list('DesktopStatusList')
        name = p.get('DesktopName')
        users = p.list('EndUserId', DESCRIBE_IDS_LIMIT)
        page_mode = (p.get('PageNumber') or p.get('PageSize')) and not (p.get('MaxResults') or p.get('NextToken'))
        if ids:
            wanted = set(ids)
            items = [d for d in self.desktops.values() if d.id in wanted]
        else:
            items = list(self.desktops.values())
            if group:
                items = [d for d in items if d.pool_id == group]
        if filter_group:
            items = [d for d in items if not d.pool_id]
        if only_group:
            items = [d for d in items if d.pool_id]
        if status:
            items = [d for d in items if self.status_of(d) == status]
        if statuses:
            items = [d for d in items if self.status_of(d) in statuses]
        if name:
            items = [d for d in items if d.name == name]
        if users:
            items = [d for d in items if set(d.users) & set(users)]
        items.sort(key=lambda d: d.index)
        body: dict = {'TotalCount': len(items)}
        if page_mode:
            number = p.integer('PageNumber', 1, 1, 10 ** 6)
            size = p.integer('PageSize', MAX_RESULTS_DEFAULT, 1, MAX_RESULTS_LIMIT)
            page = items[(number - 1) * size:number * size]
            body.update(PageNumber=number, PageSize=size)
        else:
            page, token = self._page('DescribeDesktops', self._fingerprint(p), items, p)
            body['NextToken'] = token
        body['Desktops'] = [self.desktop_record(d) for d in page]
        return self.ok(body)

    def describe_desktop_groups(self, req: Request) -> Response:
        p = self.params(req)
        self._region(p)
        items = list(self.pools)
        gid = p.get('DesktopGroupId')
        gids = p.list('DesktopGroupIds', 100)
        name = p.get('DesktopGroupName')
        if gid:
            items = [g for g in items if g.id == gid]
        if gids:
            items = [g for g in items if g.id in gids]
        if name:
            items = [g for g in items if name in g.name]
        page, token = self._page('DescribeDesktopGroups', self._fingerprint(p), items, p)
        return self.ok({'DesktopGroups': [self.group_record(g) for g in page], 'NextToken': token})

    # ------------------------------------------------------------------ SetDesktopMaintenance
    def set_desktop_maintenance(self, req: Request) -> Response:
        p = self.params(req)
        self._region(p)
        mode = p.required('Mode')
        key = mode if MAINTENANCE_MODE_CASE_SENSITIVE else mode.upper()
        if key not in MAINTENANCE_MODES:
            raise ApiFault(400, 'InvalidParameter.Mode', 'The specified parameter "Mode" is not valid: %s. Valid values: %s.'
                           % (mode, ', '.join(MAINTENANCE_MODES)))
        ids = p.list('DesktopIds', SET_MAINTENANCE_LIMIT)
        if not ids:
            raise missing('DesktopIds')
        desktops = self._known(ids)
        enter = key == MAINTENANCE_MODES[0]
        for d in desktops:
            if self.sim.faults.perid_fails('SetDesktopMaintenance', d.id):
                status, code = DESKTOP_STATUS_REFUSAL
                raise ApiFault(status, code, 'The current status of desktop %s does not support this operation.' % d.id)
            if d.maintenance == enter:
                status, code = MAINTENANCE_CONFLICT
                raise ApiFault(status, code, 'The desktop %s is %s maintenance mode.'
                               % (d.id, 'already in' if enter else 'not in'))
        for d in desktops:
            d.maintenance = enter
        return self.ok({})

    # ------------------------------------------------------------------ power
    def power(self, req: Request, kind: str) -> Response:
        p = self.params(req)
        self._region(p)
        op = {'start': 'StartDesktops', 'stop': 'StopDesktops', 'reboot': 'RebootDesktops',
              'hibernate': 'HibernateDesktops', 'wakeup': 'WakeupDesktops'}[kind]
        ids = p.list('DesktopId', POWER_BATCH_LIMIT)
        if not ids:
            raise missing('DesktopId')
        stopped_mode = p.get('StoppedMode')
        if kind == 'stop' and stopped_mode and stopped_mode not in ('StopCharging', 'KeepCharging'):
            raise invalid('StoppedMode', 'Valid values: StopCharging, KeepCharging.')
        desktops = self._known(ids)
        need = {'start': 'Stopped', 'stop': 'Running', 'reboot': 'Running', 'hibernate': 'Running',
                'wakeup': 'Hibernated'}[kind]
        for d in desktops:
            status = self.status_of(d)
            if self.sim.faults.perid_fails(op, d.id):
                st, code = DESKTOP_STATUS_REFUSAL
                raise ApiFault(st, code, 'The current status of desktop %s does not support this operation.' % d.id)
            if status != need:
                st, code = WAKEUP_REFUSAL if kind == 'wakeup' else DESKTOP_STATUS_REFUSAL
                raise ApiFault(st, code, 'The desktop %s is %s; %s needs it %s.' % (d.id, status, op, need))
            if kind == 'hibernate' and not d.extra.get('support_hibernation', True):
                st, code = HIBERNATE_UNSUPPORTED
                raise ApiFault(st, code, 'The desktop %s does not support hibernation.' % d.id)
        final = {'start': 'on', 'stop': 'off', 'reboot': 'on', 'hibernate': 'hibernated', 'wakeup': 'on'}[kind]
        now = self.sim.clock.now()
        for d in desktops:
            if kind in ('stop', 'reboot', 'hibernate'):
                d.sessions = []
            if kind == 'stop':
                d.extra['stopped_mode'] = stopped_mode or 'StopCharging'
            d.transition = {'kind': kind, 'power': final, 'begin': now, 'until': now + TRANSITION_SECONDS[kind]}
        return self.ok({})

    # ------------------------------------------------------------------ sessions
    def describe_desktop_sessions(self, req: Request) -> Response:
        p = self.params(req)
        self._region(p)
        ids = p.list('DesktopId', DESCRIBE_IDS_LIMIT)
        state = p.get('SessionStatus')
        if state and state not in ('Connected', 'Disconnected'):
            raise invalid('SessionStatus', 'Valid values: Connected, Disconnected.')
        user = p.get('EndUserId')
        name = p.get('DesktopName')
        number = p.integer('PageNumber', 1, 1, 10 ** 6)
        size = p.integer('PageSize', SESSIONS_PAGE_DEFAULT, 1, SESSIONS_PAGE_MAX)
        rows = []
        wanted = set(ids)
        for d in sorted(self.desktops.values(), key=lambda x: x.index):
            if ids and d.id not in wanted:
                continue
            if name and d.name != name:
                continue
            for s in d.sessions:
                rec = self.session_record(d, s)
                if state and rec['SessionStatus'] != state:
                    continue
                if user and s.user != user:
                    continue
                rows.append(rec)
        page = rows[(number - 1) * size:number * size]
        return self.ok({'Sessions': page, 'TotalCount': len(rows)})

    def describe_desktop_group_sessions(self, req: Request) -> Response:
        p = self.params(req)
        self._region(p)
        gids = p.list('DesktopGroupIds', 100)
        state = p.get('SessionStatus')
        user = p.get('EndUserId')
        rows = []
        for d in sorted(self.desktops.values(), key=lambda x: x.index):
            if gids and d.pool_id not in gids:
                continue
            for s in d.sessions:
                status = 'Connected' if s.state == 'connected' else 'Disconnected'
                if (state and status != state) or (user and s.user != user):
                    continue
                rows.append({'DesktopGroupId': d.pool_id, 'DesktopId': d.id, 'EndUserId': s.user,
                             'SessionStatus': status,
                             'LastSessionStartTime': time.strftime(GROUP_SESSION_TIME_FORMAT, time.gmtime(s.start_time)),
                             'SessionIdleTime': 0, 'OwnType': 0})
        page, token = self._page('DescribeDesktopGroupSessions', self._fingerprint(p), rows, p)
        return self.ok({'Sessions': page, 'NextToken': token, 'TotalCount': len(rows)})

    def disconnect_desktop_sessions(self, req: Request) -> Response:
        p = self.params(req)
        self._region(p)
        wanted = p.objects('Sessions')
        if not wanted:
            raise missing('Sessions')
        pre_check = p.boolean('PreCheck', False)
        invalid_sessions = []
        targets = []
        for w in wanted:
            d = self.desktops.get(w.get('DesktopId', ''))
            s = next((x for x in d.sessions if x.user == w.get('EndUserId')), None) if d else None
            if s is None or s.state != 'connected' or self.sim.faults.perid_fails('DisconnectDesktopSessions', w.get('DesktopId', '')):
                invalid_sessions.append({'DesktopId': w.get('DesktopId'), 'EndUserId': w.get('EndUserId')})
            else:
                targets.append(s)
        if not pre_check:
            for s in targets:
                s.state = 'disconnected'
        return self.ok({'InvalidSessions': invalid_sessions})

    # ------------------------------------------------------------------ console messages
    def _message_record(self, m: dict) -> dict:
        return {
            'MessageId': m['MessageId'], 'Status': m['Status'], 'MessageType': m['MessageType'],
            'MessageLevel': m['MessageLevel'], 'TargetType': m['TargetType'], 'TargetIds': '[]',
            'TitleConfigs': [{'LangType': 'EN', 'TitleText': m['Title']}],
            'ContentConfigs': [{'LangType': 'EN', 'ContentText': m['Content']}],
            'Position': 'CENTER', 'StartTime': None, 'EndTime': None,
            'MetaData': {'OfficeSiteId': self.office_site},
            'GmtCreate': '2026-10-01T08:00:00Z', 'GmtModified': '2026-10-01T08:00:00Z',
        }

    def send_console_message(self, req: Request) -> Response:
        p = self.params(req)
        mid = p.required('MessageId')
        m = self.console_messages.get(mid)
        if m is None:
            raise ApiFault(404, 'InvalidMessageId.NotFound', 'The specified message %s does not exist.' % mid)
        if m['Status'] != 'Published':
            raise ApiFault(400, 'InvalidMessageStatus', 'The message %s is in status %s; only Published messages can be '
                           'sent.' % (mid, m['Status']))
        pushing = sum(1 for x in self.console_messages.values()
                      if x['Status'] == 'Pushing' and x['MessageType'] == m['MessageType'])
        if pushing >= 5:
            raise ApiFault(400, 'PushingLimitExceeded', 'Too many messages of this type are being pushed.')
        m['Status'] = 'Pushing'
        self.pushes.append({'message_id': mid, 'text': m['Content'], 'until': self.sim.clock.now() + PUSH_SECONDS})
        return self.ok({'Success': True})

    def describe_console_messages(self, req: Request) -> Response:
        p = self.params(req)
        ids = p.list('MessageIds', 100)
        mtype = p.get('MessageType')
        number = p.integer('PageNum', 1, 1, 10 ** 6)
        size = p.integer('PageSize', 200, 1, 200)
        rows = [m for m in self.console_messages.values()
                if (not ids or m['MessageId'] in ids) and (not mtype or m['MessageType'] == mtype)]
        page = rows[(number - 1) * size:number * size]
        return self.ok({'MessageList': [self._message_record(m) for m in page], 'TotalCount': str(len(rows))})

    # ------------------------------------------------------------------ RunCommand
    def run_command(self, req: Request) -> Response:
        p = self.params(req)
        self._region(p)
        ids = p.list('DesktopId', RUN_COMMAND_LIMIT)
        if not ids:
            raise missing('DesktopId')
        content = p.required('CommandContent')
        ctype = p.required('Type')
        if ctype not in ('RunPowerShellScript', 'RunBatScript'):
            raise invalid('Type', 'Valid values: RunPowerShellScript, RunBatScript.')
        encoding = p.get('ContentEncoding') or 'PlainText'
        if encoding not in ('PlainText', 'Base64'):
            encoding = 'PlainText'  # documented: a value that is not a valid one is treated as PlainText
        if encoding == 'Base64':
            if len(content) > 16 * 1024:
                raise invalid('CommandContent', 'The Base64 content must not exceed 16 KB.')
            try:
                script = base64.b64decode(content, validate=True).decode('utf-8')
            except (binascii.Error, ValueError):
                raise invalid('CommandContent', 'The content is not valid Base64-encoded UTF-8.') from None
        else:
            script = content
        timeout = p.integer('Timeout', 300, 1, 86400)
        user = p.get('EndUserId')
        desktops = self._known(ids)
        now = self.sim.clock.now()
        invoke_id = 't-sim' + hashlib.sha256(('%s|%s' % (uuid.uuid4(), now)).encode()).hexdigest()[:14]
        text = parse_msg_script(script) if ctype == 'RunPowerShellScript' else None
        targets = []
        for d in desktops:
            target = {'desktop_id': d.id}
            refused = None
            if self.sim.faults.perid_fails('RunCommand', d.id):
                refused = INVOCATION_CLIENT_DOWN
            elif self.status_of(d) != 'Running':
                refused = INVOCATION_NOT_RUNNING
            elif d.os_type != 'Windows' or (user and not any(s.user == user for s in d.sessions)):
                refused = INVOCATION_NOT_APPLICABLE
            if refused:
                target.update(status=refused[0], error_code=refused[1], error_info=refused[2], output='',
                              exit_code=None, finish=now)
            targets.append(target)
        self.invocations[invoke_id] = {
            'id': invoke_id, 'content': content, 'type': ctype, 'encoding': encoding, 'script': script, 'text': text,
            'user': user, 'timeout': timeout, 'created': now, 'until': now + INVOCATION_SECONDS, 'status': 'Running',
            'targets': targets,
        }
        return self.ok({'InvokeId': invoke_id})

    def _finish_invocation(self, inv: dict) -> None:
        when = inv['until']
        for t in inv['targets']:
            if 'status' in t:
                continue  # refused when the task was created
            d = self.desktops.get(t['desktop_id'])
            t['finish'] = when
            outcome, output, exit_code = None, '', 0
            if d is None:
                outcome, exit_code = INVOCATION_RELEASED, None
            elif self.status_of(d) != 'Running':
                outcome, exit_code = INVOCATION_INTERRUPTED, None
            elif inv['text'] is None:
                # the simulated desktops run only the popup script pattern (see MSG_SCRIPT_TEMPLATE)
                outcome, output, exit_code = INVOCATION_EXIT_NONZERO, 'The term is not recognized as the name of a cmdlet.', 1
            elif not d.sessions:
                outcome, output, exit_code = INVOCATION_EXIT_NONZERO, 'No session exists for *', 1
            else:
                for s in d.sessions:
                    self._deliver(d, s, inv['text'], 'msg', when)
            status, code, info = outcome or ('Success', '', '')
            t.update(status=status, error_code=code, error_info=info, output=output, exit_code=exit_code)
        states = set(t['status'] == 'Success' for t in inv['targets'])
        inv['status'] = 'Success' if states == {True} else 'Failed' if states == {False} else 'PartialFailed'

    def describe_invocations(self, req: Request) -> Response:
        p = self.params(req)
        self._region(p)
        invoke_id = p.get('InvokeId')
        rows = [self.invocations[invoke_id]] if invoke_id in self.invocations else [] if invoke_id else list(self.invocations.values())
        wanted = set(p.list('DesktopIds', RUN_COMMAND_LIMIT) + ([p.get('DesktopId')] if p.get('DesktopId') else []))
        include_output = p.boolean('IncludeOutput', False)
        include_desktops = p.boolean('IncludeInvokeDesktops', INCLUDE_INVOKE_DESKTOPS_DEFAULT)
        output_encoding = p.get('ContentEncoding') or 'Base64'
        if output_encoding not in ('PlainText', 'Base64'):
            raise invalid('ContentEncoding', 'Valid values: PlainText, Base64.')
        for name, key in (('InvokeStatus', 'status'), ('CommandType', 'type'), ('EndUserId', 'user')):
            if p.get(name):
                rows = [inv for inv in rows if inv[key] == p.get(name)]
        if wanted:
            rows = [inv for inv in rows if any(t['desktop_id'] in wanted for t in inv['targets'])]
        out = []
        for inv in rows:
            per = []
            for t in inv['targets']:
                if wanted and t['desktop_id'] not in wanted:
                    continue
                done = 'status' in t
                row = {
                    'DesktopId': t['desktop_id'],
                    'InvocationStatus': t['status'] if done else 'Running',
                    'ExitCode': t.get('exit_code') if done else None,
                    'CreationTime': iso(inv['created']),
                    'StartTime': iso(inv['created']),
                    'FinishTime': iso(t['finish']) if done else None,
                    'Dropped': 0,
                    'ErrorCode': t.get('error_code', '') if done else '',
                    'ErrorInfo': t.get('error_info', '') if done else '',
                    'Repeats': 1,
                }
                if include_output:  # documented: not returned unless IncludeOutput is true
                    text = t.get('output', '') if done else ''
                    row['Output'] = base64.b64encode(text.encode()).decode() if output_encoding == 'Base64' else text
                per.append(row)
            entry = {'InvokeId': inv['id'], 'InvocationStatus': inv['status'], 'CommandType': inv['type'],
                     'CommandContent': inv['content'] if inv['encoding'] == 'Base64'
                     else base64.b64encode(inv['script'].encode()).decode(),
                     'CreationTime': iso(inv['created']), 'EndUserId': inv['user'],
                     'InvokeDesktopCount': len(inv['targets']),
                     'InvokeDesktopSucceedCount': sum(1 for t in inv['targets'] if t.get('status') == 'Success')}
            if include_desktops:
                entry['InvokeDesktops'] = per
            out.append(entry)
        page, token = self._page('DescribeInvocations', self._fingerprint(p), out, p, INVOCATIONS_MAX_RESULTS)
        return self.ok({'Invocations': page, 'NextToken': token})
