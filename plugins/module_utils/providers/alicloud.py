# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alibaba Cloud Elastic Desktop Service (EDS / Wuying, product ``ecd``, API 2020-09-30) adapter.

Every call is RPC style: ``POST https://ecd.<region>.aliyuncs.com/`` with the business parameters
in the query, signed with ACS3-HMAC-SHA256 (optionally with an STS token). The describe calls
are read-only, so they are marked idempotent (a 5xx answer is retried); the writes are not.

Power: Start/Stop/Reboot/Hibernate/WakeupDesktops take ``DesktopId.N`` and return only a
RequestId (no job, no per-desktop result); a desktop in the wrong state makes the whole call
fail, so refused batches are split until the desktop at fault is isolated. The service then
polls DescribeDesktops until the desktops settle.

Messages: EDS has no free-text message to a session. ``SendConsoleMessage`` sends a message
already published in the console (its own text and recipients); ``RunCommand`` shows the text
with ``msg *`` on Windows desktops, the text travelling only as a Base64 payload that the
script decodes (see :func:`msg_script`). Logoff: there is no API (DisconnectDesktopSessions
only disconnects).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re

from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.vdi.fleet.plugins.module_utils.errors import CALL_ERRORS, ApiError, ConfigError, Failure
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import (
    POWERED_OFF,
    POWERED_ON,
    SUSPENDED,
    TRANSITIONING,
    UNKNOWN,
    ProviderAdapter,
    StopAfterFailure,
    desktop,
    pool,
    run_batches,
    session,
)
from ansible_collections.vdi.fleet.plugins.module_utils.signing.alicloud import AcsV3Signer, flatten_params
from ansible_collections.vdi.fleet.plugins.module_utils.transport import (
    Poller, auth_error_from, chunks, follow, header, json_or_none, unique)

DEFAULT_ENDPOINT = 'https://ecd.%s.aliyuncs.com'
PAGE_SIZE = 100  # DescribeDesktops / DescribeDesktopGroups MaxResults maximum
IDS_PER_CALL = 100  # DesktopId.N (DescribeDesktops, DescribeDesktopSessions) and DesktopIds.N (SetDesktopMaintenance)
SESSIONS_PAGE_SIZE = 100
#: SessionStatus of DescribeDesktopSessions and DescribeDesktopGroupSessions; other values are not live sessions.
SESSION_STATES = {'Connected': 'connected', 'Disconnected': 'disconnected'}

# Which field shows maintenance mode is not documented (reference notes §3.3): a desktop counts as in
# maintenance when an entry of ManagementFlags (or the ManagementFlag string/list) contains this
# marker, case-insensitively. This function-and-constant pair is the only place that decides it.
MAINTENANCE_FLAG_MARKER = 'maint'

# Error code (unconfirmed) for ENTER on a desktop already in maintenance / EXIT on one that is not:
# once isolated to a single desktop, it means the desktop already is where we want it.
MAINTENANCE_ALREADY_CODES = ('IncorrectDesktopMaintenanceStatus',)

POWER_STATES = {
    'Running': POWERED_ON,
    'Stopped': POWERED_OFF,
    'Hibernated': SUSPENDED,
}
TRANSITIONAL_STATES = ('Pending', 'Starting', 'Stopping', 'Rebooting', 'Hibernating', 'WakingUp', 'Rebuilding',
                       'Resetting', 'Migrating', 'Updating', 'Creating')
# Vendor text that must not reach an exception message: the V1 string-to-sign echoes every
# parameter, including SecurityToken.
SCRUB_MARKERS = ('server string to sign', 'string to sign')

HINT_KEYS = ('Check access_key and secret_key (an AccessKey pair of a RAM user that may call ecd), and that the '
             'Ansible controller clock is right: Alibaba Cloud refuses requests more than 15 minutes off.')
HINT_TOKEN = ('Check security_token: STS tokens expire (get a fresh one) and only work with the STS AccessKey pair '
              '(access_key STS.*, secret_key) they were issued with.')
HINT_RAM = 'Check the RAM permissions of the AccessKey owner (ecd:Describe*, ecd:SetDesktopMaintenance).'
AUTH_CODES = (
    (('SignatureDoesNotMatch', 'IncompleteSignature', 'InvalidAccessKeyId', 'InvalidTimeStamp',
      'InvalidAccessKeySecret', 'Forbidden.AccessKeyDisabled'), HINT_KEYS),
    (('InvalidSecurityToken', 'MissingSecurityToken', 'SecurityTokenExpired'), HINT_TOKEN),
    (('Forbidden', 'NoPermission'), HINT_RAM),
)
REGION_CODES = ('InvalidRegionId',)

# ---------------------------------------------------------------------------------------------- power
#: service action -> ecd API. There is no forced variant and no pool-level power API (reference §4).
POWER_ACTIONS = {
    'start': 'StartDesktops',
    'stop': 'StopDesktops',
    'restart': 'RebootDesktops',
    'hibernate': 'HibernateDesktops',
    'wakeup': 'WakeupDesktops',
}
#: Max DesktopId.N per power call: 100 in SDK 5.5.0 / Go v6 (older docs say 20; Go v6 says 20 for Hibernate).
POWER_BATCH = 100

# ---------------------------------------------------------------------------------------------- messages
OPTION_CONSOLE = 'alicloud_console_message_id'
OPTION_DELIVERY = 'alicloud_delivery'
NO_FREE_TEXT = (
    'Alibaba Cloud EDS has no API that sends a free-text message to a user session. Choose one of: '
    'alicloud_console_message_id=<id> sends a console message already created and published in the Alibaba Cloud '
    'console (SendConsoleMessage; its own text and recipients apply, the message option is only recorded); or '
    'alicloud_delivery=run_command shows the message text in a Windows dialog (msg *) through RunCommand, which '
    'works only on Windows desktops that have a user session.')
#: RunCommand: max DesktopId.N per call, and max CommandContent length when Base64-encoded (16 KB).
RUN_COMMAND_BATCH = 50
RUN_COMMAND_CONTENT_LIMIT = 16 * 1024
#: Timeout (seconds) given to the popup command, and how long the invocations are followed.
RUN_COMMAND_TIMEOUT = 60
MESSAGE_TIMEOUT = RUN_COMMAND_TIMEOUT + 60
#: DescribeInvocations per-desktop InvocationStatus values that mean "not finished yet".
INVOCATION_RUNNING = ('Pending', 'Scheduled', 'Running', 'Stopping', 'Sending', 'Created')
#: DescribeInvocations parameters. The default of IncludeInvokeDesktops is not documented and without the
#: per-desktop results (InvokeDesktops) nothing can be told per desktop, so it is always sent. No MaxResults:
#: one InvokeId is one invocation, within the default page of 10 (the documented maximum is 50).
DESCRIBE_INVOCATIONS_PARAMS = {'IncludeInvokeDesktops': True}
#: DescribeDesktopGroupSessions times are "yyyy-MM-dd HH:mm:ss" (SDK model), not ISO 8601; the time zone is not
#: documented and taken as UTC, like every other ecd time.
GROUP_SESSION_TIME = re.compile(r'^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)$')
#: THE client-side shape of the popup script (the only place it is built; the simulator's
#: MSG_SCRIPT_TEMPLATE must be the same string). The message travels only as the Base64 of its
#: UTF-8 bytes, inside single quotes ([A-Za-z0-9+/=] cannot end the PowerShell string), decoded by
#: the script into a variable that is passed to msg.exe as one argument: nothing of the text is
#: ever parsed by PowerShell or cmd.
MSG_SCRIPT_TEMPLATE = "$t=[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('%s')); msg * $t"


def msg_script(text):
    """The PowerShell script that shows ``text`` (any characters) with ``msg *``."""
    payload = base64.b64encode(text.encode('utf-8')).decode('ascii')
    return MSG_SCRIPT_TEMPLATE % payload


def command_content(text):
    """CommandContent (ContentEncoding=Base64) of the popup script for ``text``."""
    return base64.b64encode(msg_script(text).encode('utf-8')).decode('ascii')


def _message_limit():
    """Longest text (characters) whose popup script fits CommandContent in the worst case.

    CommandContent is the Base64 of the script (4 characters per 3 bytes); the script is the template
    plus the Base64 of the text's UTF-8 bytes; a character takes at most 4 UTF-8 bytes.
    """
    script_bytes = RUN_COMMAND_CONTENT_LIMIT // 4 * 3
    payload_chars = (script_bytes - len(MSG_SCRIPT_TEMPLATE % '')) // 4 * 4
    return payload_chars // 4 * 3 // 4


#: Longest message (title line included) for alicloud_delivery=run_command, in characters.
MESSAGE_LIMIT = _message_limit()
#: With a console message the text is not sent anywhere (only recorded): no practical limit.
CONSOLE_MESSAGE_LIMIT = 1024 * 1024

NO_LOGOFF = (
    'Alibaba Cloud EDS has no API that logs a user off a session: DisconnectDesktopSessions only disconnects it (the '
    "user's programs keep running). To end the sessions, stop or restart the desktops with "
    'vdi.fleet.desktop_pool_power (state=stopped or state=restarted).')

# ---------------------------------------------------------------------------------------------- patching
#: RebuildDesktops: 1 to 20 DesktopId.N per call (SDK 5.5.0 RebuildDesktopsRequest).
REBUILD_BATCH = 20
#: DesktopStatus values of a desktop that is being rebuilt (or otherwise not settled yet), and of one that failed.
REBUILD_BUSY = ('Rebuilding', 'Pending')
REBUILD_FAILED = ('Failed',)
NO_WAIT_FOR_LOGOFF = (
    'RebuildDesktops rebuilds a desktop at once, whether or not a user is logged on; it cannot wait for users to '
    'log off and shows them no notice. Set logoff_policy: force (drain the desktops first, for example with the '
    'patch_window role or vdi.fleet.session_message and vdi.fleet.desktop_pool_power).')
#: RunCommand Type per command_type: the SDK documents RunBatScript and RunPowerShellScript (Windows) only.
COMMAND_TYPE_NAMES = {'powershell': 'RunPowerShellScript', 'bat': 'RunBatScript'}
#: RunCommand Timeout in seconds: default 300; no maximum is published, one day is taken as the longest.
COMMAND_TIMEOUT_RANGE = (1, 86400)
#: per-desktop InvocationStatus of DescribeInvocations -> normalized status (patching.run_commands)
INVOCATION_STATUSES = {'Success': 'success', 'Failed': 'failed', 'Timeout': 'timeout', 'Invalid': 'error',
                       'Aborted': 'error', 'Error': 'error', 'Stopped': 'error', 'Cancelled': 'error',
                       'Terminated': 'error'}
#: statuses of a command that never started on the desktop (validation or delivery failed)
INVOCATION_NOT_RUN = ('Invalid', 'Aborted', 'Cancelled')
NO_STORED_SCRIPTS = ('Alibaba Cloud EDS has no stored scripts: RunCommand takes the script itself. Pass its text as '
                     'command (it travels Base64-encoded, ContentEncoding=Base64).')


def _code_in(code, prefixes):
    return any(code == p or code.startswith(p + '.') for p in prefixes)


def _scrub(text):
    text = text or ''
    low = text.lower()
    for marker in SCRUB_MARKERS:
        idx = low.find(marker)
        if idx >= 0:
            text = text[:idx].rstrip(' .:') + '.'
            low = text.lower()
    return text


def _error_fields(resp):
    """(Code, scrubbed Message, RequestId) of an ecd error answer."""
    data = json_or_none(resp)
    data = data if isinstance(data, dict) else {}
    message = _scrub(data.get('Message') or data.get('message') or '')
    if not message and not data:
        message = (resp.text or '')[:200].strip() or resp.reason or ''
    return (data.get('Code') or data.get('code') or '', message,
            data.get('RequestId') or data.get('requestId') or header(resp, 'x-acs-request-id'))


def _retry_after_ms(resp):
    """Seconds of ``x-acs-retry-after`` (milliseconds, as tea-openapi reads it), or None."""
    try:
        return max(0.0, float(header(resp, 'x-acs-retry-after')) / 1000.0)
    except (TypeError, ValueError):
        return None


def in_maintenance(record):
    """Maintenance flag of a DescribeDesktops record (None when the record carries no flags at all)."""
    flags = record.get('ManagementFlags')
    single = record.get('ManagementFlag')
    if flags is None and single is None:
        return None
    values = list(flags or [])
    values += list(single) if isinstance(single, list) else [single]
    return any(MAINTENANCE_FLAG_MARKER in str(v).lower() for v in values if v)


def iso_time(value):
    """A DescribeDesktopGroupSessions time as ISO 8601 UTC (other forms are returned unchanged)."""
    m = GROUP_SESSION_TIME.match(value or '')
    return '%sT%sZ' % m.groups() if m else value


def power_state(status):
    if status in POWER_STATES:
        return POWER_STATES[status]
    if status in TRANSITIONAL_STATES or (status or '').endswith('ing'):
        return TRANSITIONING
    return UNKNOWN


class AlicloudAdapter(ProviderAdapter):
    name = 'alicloud'
    connection_options = ('endpoint', 'region', 'access_key', 'secret_key', 'security_token')
    vendor_env = {
        'access_key': ('ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALICLOUD_ACCESS_KEY', 'ALICLOUD_ACCESS_KEY_ID'),
        'secret_key': ('ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALICLOUD_SECRET_KEY', 'ALICLOUD_SECRET_ACCESS_KEY'),
        'security_token': ('ALIBABA_CLOUD_SECURITY_TOKEN', 'ALICLOUD_SECURITY_TOKEN'),
        'region': ('ALIBABA_CLOUD_REGION_ID', 'ALICLOUD_REGION', 'ALICLOUD_REGION_ID'),
    }
    list_page_size = PAGE_SIZE
    action_batch_size = IDS_PER_CALL
    power_batch_size = POWER_BATCH
    unsupported_power = {}
    #: StopDesktops needs a Running desktop: a hibernated one must be woken up first
    stop_from_suspended = False
    #: WakeupDesktops resumes a hibernated desktop; StartDesktops needs a stopped one
    distinct_wakeup = True
    #: run_command shows the title as the first line of the popup
    message_uses_title = True
    message_limit = MESSAGE_LIMIT
    message_timeout = MESSAGE_TIMEOUT
    #: ``poller_factory(timeout)`` -> transport.Poller used to follow RunCommand invocations (tests inject one)
    poller_factory = None
    logoff_supported = False
    message_options = ('alicloud_console_message_id', 'alicloud_delivery')

    def __init__(self, params, policy=None):
        self.region = params.get('region')
        self.require(params, ('region', 'access_key', 'secret_key'))
        super(AlicloudAdapter, self).__init__(params, policy=policy)
        self.signer = AcsV3Signer(params['access_key'], params['secret_key'], urlsplit(self.endpoint).netloc,
                                  security_token=params.get('security_token') or None)
        self._pool_names = {}

    def default_endpoint(self):
        return DEFAULT_ENDPOINT % self.region

    # ------------------------------------------------------------------ errors
    def classify_error(self, resp):
        code, message, request_id = _error_fields(resp)
        request = getattr(resp, 'request', None)
        action = request.headers.get('x-acs-action') if request is not None and request.headers else None
        throttle = code.startswith('Throttling') or resp.status_code == 429
        text = 'Alibaba Cloud ECD %s answered HTTP %s%s: %s%s' % (
            action or 'call', resp.status_code, ' ' + code if code else '', message or resp.reason,
            ' (RequestId %s)' % request_id if request_id else '')
        if not throttle and _code_in(code, REGION_CODES):
            text = '%s. Check region: %r is not served by %s (ecd endpoints are ecd.<region>.aliyuncs.com).' % (
                text.rstrip('.'), self.region, self.endpoint)
        err = ApiError(text, status=resp.status_code, code=code or None, message=message, request_id=request_id,
                       throttle=throttle, retry_after=_retry_after_ms(resp))
        hint = None if throttle else next((h for prefixes, h in AUTH_CODES if _code_in(code, prefixes)), None)
        return auth_error_from(err, 'Alibaba Cloud ECD', hint) if hint else err

    # ------------------------------------------------------------------ calls
    def _call(self, action, params=None, write=False, regional=True):
        query = {'RegionId': self.region} if regional else {}
        query.update(params or {})
        data = self.http.json('POST', '/', query=flatten_params(query), idempotent=not write,
                              sign=self.signer.for_action(action))
        return data if isinstance(data, dict) else {}

    def _paged(self, action, params, key):
        out = []
        token = None
        seen = set()
        while True:
            query = dict(params)
            query['MaxResults'] = PAGE_SIZE
            if token:
                query['NextToken'] = token
            data = self._call(action, query)
            out.extend(data.get(key) or [])
            token = data.get('NextToken')
            if not token:
                return out
            if token in seen:
                raise ApiError('Alibaba Cloud ECD %s returned the same NextToken twice; stopping to avoid a loop.'
                               % action)
            seen.add(token)

    # ------------------------------------------------------------------ inventory
    def list_pools(self):
        groups = self._paged('DescribeDesktopGroups', {}, 'DesktopGroups')
        out = []
        for g in groups:
            self._pool_names[g.get('DesktopGroupId')] = g.get('DesktopGroupName')
            out.append(pool(g.get('DesktopGroupId'), g.get('DesktopGroupName'), g))
        return out

    def list_desktops(self, pool_ids=None, desktop_ids=None):
        # FilterDesktopGroup defaults to true, which hides pooled desktops: always say false.
        records = []
        if desktop_ids:
            for batch in chunks(unique(desktop_ids), IDS_PER_CALL):
                records += self._paged('DescribeDesktops', {'DesktopId': batch, 'FilterDesktopGroup': False}, 'Desktops')
            if pool_ids:
                wanted = set(pool_ids)
                records = [r for r in records if r.get('DesktopGroupId') in wanted]
        elif pool_ids:
            for pool_id in unique(pool_ids):
                records += self._paged('DescribeDesktops', {'DesktopGroupId': pool_id, 'OnlyDesktopGroup': True,
                                                            'FilterDesktopGroup': False}, 'Desktops')
        else:
            records = self._paged('DescribeDesktops', {'FilterDesktopGroup': False}, 'Desktops')
        out = []
        seen = set()
        for rec in records:
            did = rec.get('DesktopId')
            if did in seen:
                continue
            seen.add(did)
            out.append(self._normalize(rec))
        return out

    def _normalize(self, rec):
        sessions = rec.get('Sessions')
        count = len(sessions) if isinstance(sessions, list) else 0
        if rec.get('ConnectionStatus') == 'Connected':
            count = max(count, 1)
        gid = rec.get('DesktopGroupId') or None
        return desktop(
            id=rec.get('DesktopId'),
            name=rec.get('DesktopName'),
            pool=gid,
            maintenance=in_maintenance(rec),
            power_state=power_state(rec.get('DesktopStatus')),
            sessions=count,
            raw=rec,
            pool_name=self._pool_names.get(gid),
            address=rec.get('NetworkInterfaceIp'),
            users=rec.get('EndUserIds') or [],
        )

    def list_sessions(self, desktops, pool_ids=None, fresh=False):
        """Sessions of the given desktops: DescribeDesktopGroupSessions for whole pools, DescribeDesktopSessions else.

        A pool's sessions come 100 per page whatever the number of its desktops (``pool_ids``); other
        desktops are asked for by id, 100 per call. Desktop records carry no session state, so ``fresh``
        changes nothing. Only sessions whose status is Connected or Disconnected are returned
        (DescribeDesktopSessions also keeps ended sessions of the last 30 days).
        """
        by_id = dict((d['id'], d) for d in desktops)
        out = []
        rest = list(by_id)
        if pool_ids and by_id:
            pools = set(unique(pool_ids))
            for batch in chunks(list(pools), IDS_PER_CALL):
                for rec in self._paged('DescribeDesktopGroupSessions', {'DesktopGroupIds': batch}, 'Sessions'):
                    d = by_id.get(rec.get('DesktopId'))
                    state = SESSION_STATES.get(rec.get('SessionStatus'))
                    if d is None or state is None:
                        continue
                    out.append(session('%s:%s' % (d['id'], rec.get('EndUserId')), d['id'], d.get('name'),
                                       d.get('pool'), rec.get('EndUserId'), state,
                                       iso_time(rec.get('LastSessionStartTime')), rec))
            rest = [i for i in rest if by_id[i].get('pool') not in pools]
        for batch in chunks(rest, IDS_PER_CALL):
            number = 1
            fetched = 0
            while True:
                data = self._call('DescribeDesktopSessions', {'DesktopId': batch, 'PageNumber': number,
                                                              'PageSize': SESSIONS_PAGE_SIZE})
                rows = data.get('Sessions') or []
                fetched += len(rows)
                for rec in rows:
                    if rec.get('SessionEndTime'):
                        continue  # history: the API keeps ended sessions for 30 days
                    d = by_id.get(rec.get('DesktopId'), {})
                    state = SESSION_STATES.get(rec.get('SessionStatus'))
                    out.append(session('%s:%s' % (rec.get('DesktopId'), rec.get('EndUserId')), rec.get('DesktopId'),
                                       rec.get('DesktopName') or d.get('name'), d.get('pool'), rec.get('EndUserId'),
                                       state, rec.get('SessionStartTime'), rec))
                try:
                    total = int(data.get('TotalCount') or 0)
                except (TypeError, ValueError):
                    total = 0
                if not rows or fetched >= total:
                    break
                number += 1
        return out

    # ------------------------------------------------------------------ maintenance
    def set_maintenance(self, desktop_ids, enabled, enforce=False):
        mode = 'ENTER' if enabled else 'EXIT'

        def call(batch):
            try:
                self._call('SetDesktopMaintenance', {'Mode': mode, 'DesktopIds': batch}, write=True)
            except ApiError as err:
                if len(batch) == 1 and err.code in MAINTENANCE_ALREADY_CODES:
                    return {}
                raise
            return {}

        return run_batches(unique(desktop_ids), call, self.action_batch_size)

    # ------------------------------------------------------------------ power
    def power(self, desktop_ids, action, force=False):
        """Start/Stop/Reboot/Hibernate/WakeupDesktops in batches of :data:`POWER_BATCH`.

        The APIs answer only a RequestId (no job); a desktop they refuse (wrong state, unknown id,
        no hibernation support) rejects its whole batch, which is split until that desktop is
        isolated, so the others still go through. ``force`` has no ecd equivalent and is ignored.
        """
        api = POWER_ACTIONS.get(action)
        if api is None:
            raise ConfigError('alicloud cannot %s desktops (supported: %s).' % (action, ', '.join(sorted(POWER_ACTIONS))))

        def call(batch):
            self._call(api, {'DesktopId': batch}, write=True)
            return {}

        return run_batches(unique(desktop_ids), call, self.power_batch_size), []

    def get_job(self, job_id):
        raise ConfigError('alicloud power operations have no provider job (job %s); desktops are polled instead.'
                          % job_id)

    # ------------------------------------------------------------------ messages
    def check_message_options(self, options):
        options = options or {}
        console = options.get(OPTION_CONSOLE)
        delivery = options.get(OPTION_DELIVERY)
        if console and delivery:
            raise ConfigError('%s and %s are mutually exclusive.' % (OPTION_CONSOLE, OPTION_DELIVERY))
        if delivery and delivery != 'run_command':
            raise ConfigError('%s must be run_command, not %r.' % (OPTION_DELIVERY, delivery))
        if not console and not delivery:
            raise ConfigError(NO_FREE_TEXT)
        # The text of a console message is not sent (only recorded), so it needs no limit.
        self.message_limit = CONSOLE_MESSAGE_LIMIT if console else MESSAGE_LIMIT

    def delivery_note(self, options):
        options = options or {}
        if options.get(OPTION_CONSOLE):
            return ('console message %s accepted (Success=true); Alibaba Cloud delivers it asynchronously to the '
                    "console message's own recipients, not specifically to this session" % options[OPTION_CONSOLE])
        return None

    def send_message(self, sessions, message, message_type='info', title=None, options=None):
        """SendConsoleMessage once, or the ``msg *`` popup through RunCommand; ``{session_id: None or Failure}``."""
        options = options or {}
        self.check_message_options(options)
        sessions = list(sessions or [])
        if not sessions:
            return {}
        if options.get(OPTION_CONSOLE):
            return self._send_console_message(sessions, options[OPTION_CONSOLE])
        text = message if not title else '%s\n%s' % (title, message)
        return self._send_popup(sessions, text)

    def _send_console_message(self, sessions, message_id):
        """One SendConsoleMessage: it goes to the console message's own recipients, not to these sessions."""
        ids = [s['session_id'] for s in sessions]
        try:
            data = self._call('SendConsoleMessage', {'MessageId': message_id}, write=True, regional=False)
        except CALL_ERRORS as err:
            return dict.fromkeys(ids, Failure.of(err, 'console message %s' % message_id))
        success = data.get('Success')
        if success is True or str(success).lower() == 'true':
            return dict.fromkeys(ids)
        return dict.fromkeys(ids, Failure('SendConsoleMessage %s answered Success=%s (RequestId %s)'
                                          % (message_id, success, data.get('RequestId'))))

    def _send_popup(self, sessions, text):
        """RunCommand (50 desktops per call) with the popup script, then DescribeInvocations until each finished.

        ``msg *`` shows the text to every session of a desktop, so each targeted desktop gets exactly one
        invocation and all its targeted sessions share that desktop's outcome. The command runs as the
        end user (EndUserId) when every targeted session belongs to that one user (EndUserId takes a
        single user per call); otherwise in the system context, for all sessions of the desktop.
        """
        content = command_content(text)
        if len(content) > RUN_COMMAND_CONTENT_LIMIT:
            raise ConfigError('message is too long for RunCommand: its script is %d Base64 characters, at most %d are '
                              'allowed. Shorten it.' % (len(content), RUN_COMMAND_CONTENT_LIMIT))
        by_desktop = {}
        for s in sessions:
            by_desktop.setdefault(s['desktop_id'], []).append(s)
        users = set(s.get('user') for s in sessions)
        end_user = users.pop() if len(users) == 1 and None not in users else None
        outcome, invocations = self.run_command(list(by_desktop), content, 'RunPowerShellScript',
                                                RUN_COMMAND_TIMEOUT, end_user=end_user)
        rows, unfinished = self.invocation_rows(invocations, self.message_timeout)
        outcome.update(unfinished)
        for did, row in rows.items():
            outcome[did] = _invocation_outcome(row)
        return dict((s['session_id'], outcome.get(did, Failure('no outcome for desktop %s' % did, unknown=True)))
                    for did, group in by_desktop.items() for s in group)

    def run_command(self, desktop_ids, content, command_type, timeout, end_user=None):
        """RunCommand with Base64 ``content`` on ``desktop_ids`` (:data:`RUN_COMMAND_BATCH` per call).

        Returns ``(failures, invocations)``: ``{desktop_id: Failure}`` of the desktops whose call failed
        (never re-sent once it may have reached the provider) and ``[(invoke_id, desktop_ids)]``.
        """
        params = {'CommandContent': content, 'ContentEncoding': 'Base64', 'Type': command_type, 'Timeout': timeout}
        if end_user:
            params['EndUserId'] = end_user
        invocations = []

        def call(batch):
            data = self._call('RunCommand', dict(params, DesktopId=batch), write=True)
            if not data.get('InvokeId'):
                return dict.fromkeys(batch, Failure('RunCommand answered no InvokeId (RequestId %s); not re-sent'
                                                    % data.get('RequestId'), unknown=True))
            invocations.append((data['InvokeId'], list(batch)))
            return {}

        return run_batches(unique(desktop_ids), call, RUN_COMMAND_BATCH), invocations

    def _poller(self, timeout):
        if self.poller_factory is not None:
            return self.poller_factory(timeout)
        return Poller(timeout, initial=1.0, factor=1.6, cap=10.0)

    def _read_invocation(self, invoke_id):
        """``{desktop_id: InvokeDesktops row}`` of one invocation (DescribeInvocations)."""
        data = self._call('DescribeInvocations', dict(DESCRIBE_INVOCATIONS_PARAMS, InvokeId=invoke_id))
        rows = {}
        for inv in data.get('Invocations') or []:
            if inv.get('InvokeId') == invoke_id:
                rows.update((row.get('DesktopId'), row) for row in inv.get('InvokeDesktops') or [])
        return rows

    def invocation_rows(self, invocations, timeout, read=None):
        """Follow RunCommand ``invocations`` with backoff until each desktop's run finished or ``timeout`` passed.

        Returns ``(rows, unfinished)``: the finished ``InvokeDesktops`` row of each desktop, and
        ``{desktop_id: Failure}`` (outcome unknown) for the desktops whose run was not seen to finish.
        ``read(invoke_id)`` reads one invocation (default: without the output).
        """
        wanted = dict((invoke_id, set(batch)) for invoke_id, batch in invocations)

        def finished_rows(invoke_id, state):
            return dict((did, row) for did, row in (state or {}).items()
                        if did in wanted[invoke_id] and (row.get('InvocationStatus') or 'Running') not in INVOCATION_RUNNING)

        states, unfinished = follow(list(wanted), read or self._read_invocation, self._poller(timeout),
                                    finished=lambda invoke_id, state: len(finished_rows(invoke_id, state)) == len(
                                        wanted[invoke_id]))
        rows = {}
        for invoke_id in wanted:
            rows.update(finished_rows(invoke_id, states.get(invoke_id)))
        failures = {}
        for invoke_id, ids in wanted.items():
            why = unfinished.get(invoke_id)
            for did in ids - set(rows):
                failures[did] = Failure('RunCommand invocation %s on desktop %s %s; the command may still run '
                                        '(not re-sent)' % (invoke_id, did, 'could not be read: %s' % why if why else
                                                           'did not finish within %ss' % timeout), unknown=True)
        return rows, failures

    # ------------------------------------------------------------------ logoff
    def check_logoff_options(self, force=False, message=None):
        raise ConfigError(NO_LOGOFF)

    def logoff(self, sessions, force=False, message=None):
        raise ConfigError(NO_LOGOFF)

    # ------------------------------------------------------------------ image rollout
    image_rollout = ('pool', 'desktops')
    rollout_logoff_policies = ('force',)
    rollout_logoff_hint = {'wait': NO_WAIT_FOR_LOGOFF}

    def listed_pool_image(self, pool):
        return (pool.get('raw') or {}).get('ImageId')

    def prepare_rollout(self, image, desktops, pool=None, options=None):
        """Nothing to read: the pool record (DescribeDesktopGroups) already carries the group's ImageId."""
        return {'image': self.parse_image(image), 'pool': pool, 'options': dict(options or {}),
                'pool_image': self.listed_pool_image(pool) if pool else None}

    def read_images(self, desktops, pool_id=None, fresh=False):
        """ImageId and DesktopStatus of DescribeDesktops records (the listing the selection came from when fresh)."""
        wanted = set(d['id'] for d in desktops)
        if fresh and all(isinstance(d.get('raw'), dict) for d in desktops):
            records = desktops
        elif pool_id and len(wanted) > IDS_PER_CALL:
            records = self.list_desktops(pool_ids=[pool_id])
        else:
            records = self.list_desktops(desktop_ids=list(wanted)) if wanted else []
        return dict((d['id'], _image_state(d['raw'])) for d in records if d['id'] in wanted)

    def rollout(self, ctx, desktop_ids, stage):
        """RebuildDesktops (:data:`REBUILD_BATCH` per call, per-desktop RebuildResults); for the rest of a whole
        pool, then ModifyDesktopGroup so that the group's new desktops get the image too."""
        image = ctx['image']

        def call(batch):
            data = self._call('RebuildDesktops', {'DesktopId': batch, 'ImageId': image}, write=True)
            results = dict((r.get('DesktopId'), r) for r in data.get('RebuildResults') or [] if isinstance(r, dict))
            refused = {}
            for did in batch:
                row = results.get(did)
                if row is None:
                    refused[did] = Failure('RebuildDesktops answered no result for this desktop (RequestId %s)'
                                           % data.get('RequestId'), unknown=True)
                elif str(row.get('Code') or '').lower() != 'success':
                    refused[did] = '%s: %s' % (row.get('Code'), row.get('Message') or 'refused')
            return refused

        stopper = StopAfterFailure(call, ctx.get('stop_on_failure', True))
        failures = run_batches(unique(desktop_ids), stopper, REBUILD_BATCH, split_statuses=())
        jobs = []
        pool_rec = ctx.get('pool') if stage == 'rest' else None
        if pool_rec and ctx.get('pool_image') != image and not (failures and ctx.get('stop_on_failure', True)):
            jobs.append(self._set_group_image(pool_rec['id'], image))
        return failures, stopper.not_sent, jobs

    def _set_group_image(self, group_id, image):
        """ModifyDesktopGroup ImageId: the image the group's new desktops get (applied at once, no job)."""
        job = {'id': None, 'action': 'ModifyDesktopGroup', 'scope': 'pool', 'pool': group_id, 'status': 'success',
               'message': None, 'desktops': []}
        try:
            data = self._call('ModifyDesktopGroup', {'DesktopGroupId': group_id, 'ImageId': image}, write=True)
            job['id'] = data.get('RequestId')
        except CALL_ERRORS as err:
            job.update(status='failed', message=Failure.of(err, 'ModifyDesktopGroup').msg)
        return job

    def pool_image(self, ctx):
        if not ctx.get('pool'):
            return None
        groups = self._call('DescribeDesktopGroups', {'DesktopGroupId': ctx['pool']['id']}).get('DesktopGroups') or []
        return next((g.get('ImageId') for g in groups if g.get('DesktopGroupId') == ctx['pool']['id']), None)

    # ------------------------------------------------------------------ in-guest commands
    command_types = tuple(COMMAND_TYPE_NAMES)
    stored_scripts = False
    stored_scripts_hint = NO_STORED_SCRIPTS
    command_batch = RUN_COMMAND_BATCH
    command_timeout_range = COMMAND_TIMEOUT_RANGE

    def check_command(self, command=None, command_type=None, script_ids=None):
        """CommandContent travels Base64-encoded and may be at most 16 KB so."""
        if command is not None and len(_b64(command)) > RUN_COMMAND_CONTENT_LIMIT:
            raise ConfigError('command is %d characters of Base64 (UTF-8 text encoded); RunCommand takes at most %d.'
                              % (len(_b64(command)), RUN_COMMAND_CONTENT_LIMIT))

    def start_commands(self, request, desktop_ids, gray_ids=None, threshold=None, pool_id=None):
        """RunCommand with ContentEncoding=Base64: no shell and no URL or JSON layer ever sees the text itself."""
        return self.run_command(desktop_ids, _b64(request['command']), COMMAND_TYPE_NAMES[request['command_type']],
                                request['timeout'])

    def _read_results(self, invoke_id, include_output=False):
        """``{desktop_id: InvokeDesktops row}`` of one invocation, with its Base64 output when asked."""
        data = self._call('DescribeInvocations', {'InvokeId': invoke_id, 'IncludeInvokeDesktops': True,
                                                  'IncludeOutput': bool(include_output), 'ContentEncoding': 'Base64'})
        rows = {}
        for inv in data.get('Invocations') or []:
            if inv.get('InvokeId') == invoke_id:
                rows.update((row.get('DesktopId'), row) for row in inv.get('InvokeDesktops') or [])
        return rows

    def command_results(self, tasks, timeout, output_limit):
        rows, unfinished = self.invocation_rows(
            tasks, timeout, read=lambda invoke_id: self._read_results(invoke_id, include_output=output_limit > 0))
        out = dict((did, _command_result(row, output_limit > 0)) for did, row in rows.items())
        for did, why in unfinished.items():
            out[did] = {'status': 'unknown', 'exit_code': None, 'output': None, 'message': why.msg, 'ran': True}
        return out


def _invocation_outcome(row):
    """None when the popup ran on the desktop, else the Failure from its DescribeInvocations row."""
    status = row.get('InvocationStatus')
    exit_code = row.get('ExitCode')
    if status == 'Success' and exit_code in (0, None, '0', ''):
        return None
    detail = ': '.join(x for x in (row.get('ErrorCode'), row.get('ErrorInfo')) if x)
    return Failure('RunCommand invocation %s on desktop %s%s%s' % (
        status, row.get('DesktopId'), ' (exit code %s)' % exit_code if exit_code not in (None, '') else '',
        ': ' + detail if detail else ''))


def _b64(text):
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def _image_state(raw):
    """``{'image', 'busy', 'error'}`` of a DescribeDesktops record."""
    status = raw.get('DesktopStatus')
    return {'image': raw.get('ImageId'), 'busy': status in REBUILD_BUSY or power_state(status) == TRANSITIONING,
            'error': 'the desktop is %s' % status if status in REBUILD_FAILED else None}


def _command_result(row, with_output):
    """The normalized result of one DescribeInvocations InvokeDesktops row."""
    status = row.get('InvocationStatus')
    exit_code = row.get('ExitCode')
    output = None
    if with_output:
        try:
            output = base64.b64decode(row.get('Output') or '').decode('utf-8', 'replace')
        except (TypeError, ValueError):
            output = row.get('Output') or ''
    detail = ': '.join(x for x in (row.get('ErrorCode'), row.get('ErrorInfo')) if x)
    if row.get('Dropped'):
        detail = ('%s; ' % detail if detail else '') + '%s characters of output dropped by the provider' % row['Dropped']
    return {'status': INVOCATION_STATUSES.get(status, 'error'), 'ran': status not in INVOCATION_NOT_RUN,
            'exit_code': int(exit_code) if isinstance(exit_code, int) or str(exit_code).lstrip('-').isdigit() else None,
            'output': output, 'message': detail or (None if status == 'Success' else 'invocation %s' % status)}
