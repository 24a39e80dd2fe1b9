# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Huawei Cloud Workspace (cloud desktop, API v2) adapter.

Calls go to ``https://workspace.<region>.myhuaweicloud.com/v2/<project_id>/...`` (or ``endpoint``),
authenticated either with AK/SK (``SDK-HMAC-SHA256`` signatures, optionally temporary keys with
``security_token``) or with an IAM user token (``username``, ``password`` and ``domain`` = the
account name), fetched from IAM and sent as ``X-Auth-Token``. Without ``project_id`` the project
of ``region`` is found through IAM (``GET /v3/projects?name=<region>`` with AK/SK, the token's
project with a password). IAM is ``https://iam.<region>.myhuaweicloud.com`` for the default
endpoints, the ``HUAWEICLOUD_SDK_IAM_ENDPOINT`` environment variable when set, else the Workspace
endpoint itself (a gateway or test server that serves both).

Desktops are listed with ListDesktops (``GET /desktops``, 1000 per page), not ListDesktopsDetail:
only the simple record carries ``pool_id``. Maintenance is ``PUT /desktops/maintenance-mode`` in
batches of 100 (unconfirmed limit); that call has no per-id result, so a refused batch is split
until the refused ids are isolated. Reads are retried on 5xx, writes are not.

Messages are desktop notifications: one SendDesktopPoolNotifications call when a whole pool is
targeted, else SendNotifications in batches of 100 desktops, each followed through its job (sub-job
failures fail the sessions of those desktops). Power uses BatchRunDesktops (100 ids) or
ExecuteDesktopPoolAction for a whole pool; logoff is BatchLogoffDesktops with an optional notice.
A write (power, notification, logoff, maintenance) is re-sent only after a throttling answer, which
the gateway did not process; never after a 5xx or a lost connection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.vdi.fleet.plugins.module_utils.errors import (
    CALL_ERRORS, ApiError, AuthError, ConfigError, Failure, refused_before_applied)
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
from ansible_collections.vdi.fleet.plugins.module_utils.signing.huawei import (
    IAM_PROJECTS_PATH,
    IamTokenAuth,
    SdkHmacSigner,
)
from ansible_collections.vdi.fleet.plugins.module_utils.transport import (
    HttpClient, Poller, chunks, follow, header, json_or_none, retry_after_of, unique)

DEFAULT_ENDPOINT = 'https://workspace.%s.myhuaweicloud.com'
IAM_ENDPOINT_ENV = 'HUAWEICLOUD_SDK_IAM_ENDPOINT'
PAGE_SIZE = 1000  # ListDesktops and ListDesktopPools: limit 0..1000
ID_FILTER_SIZE = 100  # ListDesktops desktop_id: at most 100 ids
MAINTENANCE_BATCH = 100  # SetMaintenanceMode: limit unconfirmed, 100 like BatchRunDesktops
ACTION_BATCH = 100  # BatchRunDesktops: 1..100 ids (documented)
NOTIFY_BATCH = 100  # SendNotifications and BatchLogoffDesktops: limit unconfirmed
# SendDesktopPoolNotifications takes no ids: one call per pool.
#: Longest notification text (unconfirmed; checked by the modules before any request).
MESSAGE_LIMIT = 1024
#: Seconds to follow a notification job before its desktops are reported as not confirmed (Terraform: 3 min).
MESSAGE_TIMEOUT = 180
#: (first delay, factor, cap) in seconds between ShowJob polls of a notification job (a few seconds long).
NOTIFY_POLL = (1.0, 1.6, 15.0)
#: Huawei sends no Retry-After with APIG.0308 and advises waiting 2-5 s before retrying.
THROTTLE_WAIT = 2.0

# ---------------------------------------------------------------------------------------------- patching
#: BatchRebuildDesktopsSystemDisk (``POST /desktops/rebuild``): at most 100 desktop_ids (reference note).
REBUILD_BATCH = 100
#: RebuildDesktopPoolReq/RebuildDesktopsReq ``message``: at most 400 characters; ``delay_time``: 0-15 minutes.
NOTICE_LIMIT = 400
GRACE_MINUTES = (0, 15)
#: ListDesktopsDetail ``limit``: 0-500 (SDK); its records carry the image in ``metadata['metering.image_id']``.
DETAIL_PAGE_SIZE = 500
IMAGE_METADATA_KEY = 'metering.image_id'
#: ListImages ``limit``: 0-100 (SDK).
IMAGES_PAGE_SIZE = 100
#: ExecuteScriptOrCommand ``resource_ids``: no limit is published; 100, like the other desktop batch calls.
SCRIPT_BATCH = 100
#: ListScriptRecords ``limit``: 1-100 (SDK).
RECORDS_PAGE_SIZE = 100
#: Longest ``command`` text: not published; 16 KB, as Alibaba's RunCommand takes.
COMMAND_LIMIT = 16 * 1024
#: ``execution_timeout`` is in whole minutes (SDK; default 1); no maximum is published, one day is taken.
EXECUTION_TIMEOUT_MINUTES = (1, 1440)
COMMAND_TYPES = {'powershell': 'POWERSHELL', 'bat': 'BAT', 'shell': 'SHELL'}
#: script execution record statuses: the SDK documents SUCCESS/FAILED/RUNNING/WAITING for tasks; a desktop left
#: out after the gray batch failed is SKIP (the value of the scheduled-task records). Anything else is running.
RECORD_SUCCESS = ('SUCCESS',)
RECORD_FAILED = ('FAILED', 'FAIL')
RECORD_SKIPPED = ('SKIP', 'SKIPPED')
#: ``execute_order`` of a record: 1 the gray (canary) batch, 2 the rest (SDK).
GRAY_ORDER = 1
NO_WAIT_FOR_LOGOFF = (
    'Workspace rebuilds a desktop after the grace time (grace_minutes, 0-15) whether or not its user logged off; '
    'it cannot wait for a logoff. Set logoff_policy: force, with notice and grace_minutes to warn the users.')

POWER_STATES = {
    'ACTIVE': POWERED_ON,
    'SHUTOFF': POWERED_OFF,
    'HIBERNATED': SUSPENDED,
}
SESSION_STATES = {'CONNECTED': 'connected', 'DISCONNECTED': 'disconnected'}
#: power action -> op_type of BatchRunDesktops, and of ExecuteDesktopPoolAction (which says 'hibernate')
DESKTOP_OPS = {'start': 'os-start', 'wakeup': 'os-start', 'stop': 'os-stop', 'restart': 'reboot',
               'hibernate': 'os-hibernate'}
POOL_OPS = {'start': 'os-start', 'wakeup': 'os-start', 'stop': 'os-stop', 'restart': 'reboot', 'hibernate': 'hibernate'}
#: job and sub-job status values: the SDK documents SUCCESS/RUNNING/FAILED/WAITING (and INIT in older
#: docs); Huawei's Terraform waiter also knows COMPLETE and FAIL. Anything else is pending.
JOB_SUCCESS = ('SUCCESS', 'COMPLETE')
JOB_FAILED = ('FAILED', 'FAIL')

GATEWAY_PREFIXES = ('APIG.', 'APIGW.')
#: gateway codes (after the prefix) that refuse the credentials: 0301 bad AK/SK signature or token,
#: 0303 signature expired, 0307 token must be updated, 0302 not authorized (IAM permissions/project)
AUTH_SUFFIXES = ('0301', '0303', '0307')
PERMISSION_SUFFIXES = ('0302',)
THROTTLE_SUFFIX = '0308'

HINT_AKSK = ('Check access_key/secret_key (and security_token for temporary keys) and the controller clock: '
             'Huawei Cloud refuses signatures whose X-Sdk-Date is more than 15 minutes off.')
HINT_PASSWORD = ('Check username (the IAM user), password and domain (the account name), and that the user may log '
                 'in with a password from this host.')
HINT_PERMISSION = ('Check project_id (it must be the project of region in the same account as the credentials) and '
                   'the IAM permissions of the user (workspace:desktops:*, workspace:desktopPools:list).')


def _gateway_suffix(code):
    for prefix in GATEWAY_PREFIXES:
        if code and code.startswith(prefix):
            return code[len(prefix):]
    return None


def power_state(status, task_status):
    """Normalized power state: a running task is a transition, else the run state."""
    if task_status:
        return TRANSITIONING
    return POWER_STATES.get(status or '', UNKNOWN)


def _error_fields(data):
    """(code, message) of a Huawei error body: error_code/error_msg, errorCode/errorMsg, code/message, or nested."""
    if not isinstance(data, dict):
        return None, None
    for code_key, msg_key in (('error_code', 'error_msg'), ('errorCode', 'errorMsg'), ('code', 'message')):
        if code_key in data or msg_key in data:
            code = data.get(code_key)
            return (str(code) if code is not None else None), data.get(msg_key)
    for value in data.values():
        if isinstance(value, dict):
            code, message = _error_fields(value)
            if code or message:
                return code, message
    return None, None


class HuaweiAdapter(ProviderAdapter):
    name = 'huaweicloud'
    connection_options = ('endpoint', 'region', 'project_id', 'access_key', 'secret_key', 'security_token',
                          'username', 'password', 'domain')
    vendor_env = {
        'access_key': ('HUAWEICLOUD_SDK_AK',),
        'secret_key': ('HUAWEICLOUD_SDK_SK',),
        'project_id': ('HUAWEICLOUD_SDK_PROJECT_ID',),
        'security_token': ('HUAWEICLOUD_SDK_SECURITY_TOKEN',),
    }
    list_page_size = PAGE_SIZE
    action_batch_size = MAINTENANCE_BATCH
    #: seconds to wait after a throttling answer without Retry-After (tests lower it)
    throttle_wait = THROTTLE_WAIT
    message_limit = MESSAGE_LIMIT
    message_timeout = MESSAGE_TIMEOUT
    #: BatchLogoffDesktops shows a notice to the users before the logoff
    logoff_message_supported = True
    #: ``poller_factory(timeout)`` -> transport.Poller used to follow notification jobs (tests inject one)
    poller_factory = None

    def __init__(self, params, policy=None):
        self.region = params.get('region') or None
        super(HuaweiAdapter, self).__init__(params, policy=policy)
        self.project_id = params.get('project_id') or None
        self._host = urlsplit(self.endpoint).netloc
        self._secrets = [v for v in (params.get('secret_key'), params.get('security_token'), params.get('password')) if v]
        self._pool_names = {}
        self._iam_http = None
        self._signer = None
        self._token = None
        access_key, secret_key = params.get('access_key'), params.get('secret_key')
        username, password, domain = params.get('username'), params.get('password'), params.get('domain')
        if (access_key or secret_key) and (username or password):
            raise ConfigError('Give either access_key/secret_key or username/password/domain for huaweicloud, not both.')
        if access_key or secret_key or not (username or password):
            self.require(params, ('access_key', 'secret_key'))
            if not self.project_id and not self.region:
                raise ConfigError('huaweicloud needs region (or project_id) to find the project of the desktops.')
            self.auth_mode = 'aksk'
            self._signer = SdkHmacSigner(access_key, secret_key, self._host, project_id=self.project_id,
                                         security_token=params.get('security_token') or None)
        else:
            self.require(params, ('username', 'password', 'domain'))
            if not self.project_id and not self.region:
                raise ConfigError('huaweicloud needs region (or project_id) to scope the IAM token.')
            self.auth_mode = 'password'
            self._token = IamTokenAuth(self._iam_client(), username, password, domain, region=self.region,
                                       project_id=self.project_id)

    def learned(self):
        facts = super(HuaweiAdapter, self).learned()
        if self.project_id and self.auth_mode == 'aksk':
            facts['project_id'] = self.project_id
        return facts

    def learn(self, facts):
        super(HuaweiAdapter, self).learn(facts)
        if (facts or {}).get('project_id') and not self.project_id and self.auth_mode == 'aksk':
            self.project_id = facts['project_id']
            self._signer.project_id = self.project_id

    def default_endpoint(self):
        if not self.region:
            raise ConfigError('huaweicloud needs region (e.g. cn-north-4) or endpoint.')
        return DEFAULT_ENDPOINT % self.region

    def iam_endpoint(self):
        """IAM endpoint: the SDK environment variable, iam.<...> beside a workspace.<...> host, else the endpoint."""
        env = os.environ.get(IAM_ENDPOINT_ENV)
        if env:
            return env.rstrip('/')
        parts = urlsplit(self.endpoint)
        if parts.netloc.startswith('workspace.'):
            return '%s://iam.%s' % (parts.scheme, parts.netloc[len('workspace.'):])
        return self.endpoint

    def _iam_client(self):
        if self._iam_http is None:
            iam = self.iam_endpoint()
            if iam == self.endpoint:
                self._iam_http = self.http
            else:
                self._iam_http = HttpClient(iam, self.name, validate_certs=self.params.get('validate_certs', True),
                                            ca_path=self.params.get('ca_path'), timeout=self.params.get('timeout') or 30,
                                            policy=self.http.policy, classify_error=self.classify_error)
        return self._iam_http

    def close(self):
        if self._iam_http is not None and self._iam_http is not self.http:
            self._iam_http.close()
        self.http.close()

    # ------------------------------------------------------------------ errors
    def _redact(self, text):
        text = u'%s' % (text or '',)
        for secret in self._secrets:
            if secret and secret in text:
                text = text.replace(secret, '******')
        if self._token is not None and self._token._token:  # pylint: disable=protected-access
            text = text.replace(self._token._token, '******')  # pylint: disable=protected-access
        return text

    def classify_error(self, resp):
        status = resp.status_code
        data = json_or_none(resp)
        code, message = _error_fields(data)
        if code == str(status):
            code = None  # Keystone-style IAM bodies repeat the HTTP status as their code
        if not message:
            message = (resp.text or '')[:300].strip() if resp.content else ''
            message = message or resp.reason or 'no details'
        message = self._redact(message)
        request_id = header(resp, 'X-Request-Id') or (data.get('request_id') if isinstance(data, dict) else None) \
            or header(resp, 'X-IAM-Trace-Id')
        suffix = _gateway_suffix(code)
        throttle = status == 429 or suffix == THROTTLE_SUFFIX
        where = ' (request id %s)' % request_id if request_id else ''
        text = 'Huawei Cloud answered HTTP %s%s: %s%s' % (status, ' ' + code if code else '', message, where)
        retry_after = None
        if throttle:
            retry_after = retry_after_of(resp)
            if retry_after is None:
                retry_after = self.throttle_wait
            return ApiError(text, status=status, code=code, message=message, request_id=request_id, throttle=True,
                            retry_after=retry_after)
        if suffix in AUTH_SUFFIXES or status == 401:
            hint = HINT_PASSWORD if self.auth_mode == 'password' else HINT_AKSK
            return AuthError('Huawei Cloud refused the credentials (HTTP %s%s): %s. %s'
                             % (status, ', ' + code if code else '', message, hint),
                             status=status, code=code, message=message, request_id=request_id)
        if suffix in PERMISSION_SUFFIXES:
            return AuthError('Huawei Cloud refused the request (HTTP %s%s): %s. %s'
                             % (status, ', ' + code if code else '', message, HINT_PERMISSION),
                             status=status, code=code, message=message, request_id=request_id)
        return ApiError(text, status=status, code=code, message=message, request_id=request_id)

    # ------------------------------------------------------------------ auth and calls
    def _discover_project(self):
        """Project id of ``region`` through IAM (AK/SK, as the SDK does when no project id is given)."""
        iam = self._iam_client()
        signer = SdkHmacSigner(self._signer.access_key, self._signer._secret,  # pylint: disable=protected-access
                               urlsplit(iam.endpoint).netloc, project_id=None,
                               security_token=self.params.get('security_token') or None)
        data = iam.json('GET', IAM_PROJECTS_PATH, query={'name': self.region}, sign=signer)
        projects = [p for p in ((data or {}).get('projects') or []) if isinstance(p, dict) and p.get('id')]
        if not projects:
            raise ConfigError('IAM (%s) lists no project named %r for these credentials. Check region, or set '
                              'project_id.' % (iam.endpoint, self.region))
        if len(projects) > 1:
            raise ConfigError('IAM lists several projects named %r (%s). Set project_id to one of them.'
                              % (self.region, ', '.join(p['id'] for p in projects)))
        return projects[0]['id']

    def _ready(self):
        if self.project_id:
            return
        if self.auth_mode == 'aksk':
            self.project_id = self._discover_project()
            self._signer.project_id = self.project_id
        else:
            try:
                self._token.token()
            except ApiError as err:
                if err.throttle or err.status not in (400, 404):
                    raise
                raise ConfigError('IAM refused to issue a token scoped to project %s: %s. Check region (the project '
                                  'name) or project_id.' % (self.project_id or self.region, err.message or err.msg))
            self.project_id = self._token.project_id
            if not self.project_id:
                raise ApiError('IAM issued a token without a project. Set project_id.')

    def _call(self, method, subpath, query=None, body=None, write=False):
        self._ready()
        kwargs = {'query': query, 'body': body, 'idempotent': not write}
        if self.auth_mode == 'aksk':
            kwargs['sign'] = self._signer
        else:
            kwargs['sign'] = self._token
            kwargs['on_unauthorized'] = self._token.refresh
        return self.http.json(method, '/v2/%s%s' % (self.project_id, subpath), **kwargs)

    def _paged(self, subpath, key, query=None, limit=PAGE_SIZE, total_key='total_count'):
        out = []
        offset = 0
        while True:
            q = dict(query or {})
            q['offset'] = offset
            q['limit'] = limit
            data = self._call('GET', subpath, query=q) or {}
            rows = data.get(key) or []
            out.extend(rows)
            offset += len(rows)
            total = data.get(total_key)
            try:
                total = int(total) if total is not None else None
            except (TypeError, ValueError):
                total = None
            if not rows or (total is not None and offset >= total) or (total is None and len(rows) < limit):
                return out

    # ------------------------------------------------------------------ inventory
    def list_pools(self):
        rows = self._paged('/desktop-pools', 'desktop_pools')
        self._pool_names = dict((r.get('id'), r.get('name')) for r in rows)
        return [pool(r.get('id'), r.get('name'), r) for r in rows]

    def list_desktops(self, pool_ids=None, desktop_ids=None):
        base = {}
        if pool_ids is not None:
            pool_ids = unique(pool_ids)
            if not pool_ids:
                return []
            base['pool_id'] = ','.join(pool_ids)
        if desktop_ids is not None:
            desktop_ids = unique(desktop_ids)
            if not desktop_ids:
                return []
            records = []
            for batch in chunks(desktop_ids, ID_FILTER_SIZE):
                query = dict(base)
                query['desktop_id'] = batch
                records += self._paged('/desktops', 'desktops', query)
        else:
            records = self._paged('/desktops', 'desktops', base)
        out, seen = [], set()
        for rec in records:
            if rec.get('desktop_id') in seen:
                continue
            seen.add(rec.get('desktop_id'))
            out.append(self._normalize(rec))
        return out

    def _normalize(self, rec):
        connect = rec.get('connect_status') or rec.get('login_status')
        users = [u.get('user_name') for u in (rec.get('attach_user_infos') or []) if isinstance(u, dict)
                 and u.get('user_name')]
        if not users and rec.get('user_name'):
            users = [rec['user_name']]
        maintenance = rec.get('in_maintenance_mode')
        return desktop(
            id=rec.get('desktop_id'),
            name=rec.get('computer_name'),
            pool=rec.get('pool_id') or None,
            maintenance=bool(maintenance) if maintenance is not None else None,
            power_state=power_state(rec.get('status'), rec.get('task_status')),
            sessions=1 if connect in SESSION_STATES else 0,
            raw=rec,
            pool_name=self._pool_names.get(rec.get('pool_id')),
            address=rec.get('ip_address') or rec.get('ipv4'),
            users=users,
        )

    def list_sessions(self, desktops, pool_ids=None, fresh=False):
        """One session per desktop whose connect_status is CONNECTED or DISCONNECTED.

        Workspace has no session objects: the session id is ``<desktop id>:<user>`` and there is no
        start time. The state is ``connect_status`` of the desktop record: taken from ``desktops``
        when they are ``fresh``, else re-read with ListDesktops, by pool (1000 per page) for the
        ``pool_ids`` and by id (100 per call) for the rest.
        """
        by_id = dict((d['id'], d) for d in desktops)
        if not by_id:
            return []
        if fresh and all(isinstance(d.get('raw'), dict) for d in by_id.values()):
            records = list(by_id.values())
        else:
            records = []
            rest = set(by_id)
            if pool_ids:
                for rec in self.list_desktops(pool_ids=unique(pool_ids)):
                    if rec['id'] in rest:
                        rest.discard(rec['id'])
                        records.append(rec)
                # a desktop that left its pool meanwhile is looked up by id below
            if rest:
                records += self.list_desktops(desktop_ids=[i for i in by_id if i in rest])
        out = []
        for rec in records:
            raw = rec['raw']
            state = SESSION_STATES.get(raw.get('connect_status') or raw.get('login_status'))
            if state is None:
                continue
            user = raw.get('user_name') or (rec['users'][0] if rec['users'] else None)
            out.append(session('%s:%s' % (rec['id'], user), rec['id'], rec['name'], rec['pool'], user, state, None, raw))
        return out

    # ------------------------------------------------------------------ maintenance
    def set_maintenance(self, desktop_ids, enabled, enforce=False):
        def call(batch):
            self._call('PUT', '/desktops/maintenance-mode', body={'desktop_ids': batch, 'in_maintenance_mode': bool(enabled)},
                       write=True)
            return {}

        return run_batches(unique(desktop_ids), call, MAINTENANCE_BATCH)

    # ------------------------------------------------------------------ power
    def power(self, desktop_ids, action, force=False):
        """BatchRunDesktops in batches of 100; ``failed_operation_list`` gives the per-desktop refusals."""
        if action not in DESKTOP_OPS:
            raise ConfigError('huaweicloud cannot %s desktops (supported: %s).' % (action, ', '.join(sorted(DESKTOP_OPS))))
        body = {'op_type': DESKTOP_OPS[action], 'type': 'HARD' if force else 'SOFT'}
        jobs = []

        def call(batch):
            data = self._call('POST', '/desktops/action', body=dict(body, desktop_ids=batch), write=True) or {}
            if data.get('job_id'):
                jobs.append(data['job_id'])
            refused = {}
            for item in data.get('failed_operation_list') or []:
                if isinstance(item, dict) and item.get('desktop_id'):
                    refused[item['desktop_id']] = '%s%s' % (item.get('error_code') + ': ' if item.get('error_code') else '',
                                                            item.get('error_msg') or 'refused')
            return refused

        return run_batches(unique(desktop_ids), call, ACTION_BATCH), jobs

    def pool_power(self, pool_id, action, force=False):
        """ExecuteDesktopPoolAction: one call for the whole pool, followed through its job."""
        if action not in POOL_OPS:
            return None
        body = {'op_type': POOL_OPS[action], 'type': 'HARD' if force else 'SOFT'}
        data = self._call('POST', '/desktop-pools/%s/action' % pool_id, body=body, write=True) or {}
        return data.get('job_id') or None

    def get_job(self, job_id):
        """ShowJob, and every sub-job once the job is over (ListItaSubJobs when ShowJob embeds only some)."""
        data = self._call('GET', '/workspace-jobs/%s' % job_id) or {}
        raw_status = (data.get('status') or '').upper()
        if raw_status in JOB_SUCCESS:
            status = 'success'
        elif raw_status in JOB_FAILED:
            status = 'failed'
        else:
            return {'id': job_id, 'status': 'pending', 'message': None, 'failures': {}, 'raw': data}
        subs = data.get('sub_jobs') or []
        try:
            total = int(data.get('sub_jobs_total') or 0)
        except (TypeError, ValueError):
            total = 0
        if total > len(subs):
            subs = self._paged('/workspace-sub-jobs', 'jobs', {'job_id': job_id})
        failures = {}
        for sub in subs:
            if not isinstance(sub, dict) or (sub.get('status') or '').upper() in JOB_SUCCESS:
                continue
            entities = sub.get('entities') or {}
            did = entities.get('desktop_id') or sub.get('entity')
            if did:
                failures[did] = '%s%s' % (sub.get('error_code') + ': ' if sub.get('error_code') else '',
                                          sub.get('fail_reason') or 'sub-job %s' % (sub.get('status') or 'not successful'))
        message = data.get('fail_reason') or None
        if failures and not message:
            message = '%d of %d sub-jobs of job %s did not succeed' % (len(failures), total or len(subs), job_id)
        return {'id': job_id, 'status': status, 'message': message, 'failures': failures, 'raw': data}

    # ------------------------------------------------------------------ messages and logoff
    def _poller(self, timeout):
        if self.poller_factory is not None:
            return self.poller_factory(timeout)
        return Poller(timeout, initial=NOTIFY_POLL[0], factor=NOTIFY_POLL[1], cap=NOTIFY_POLL[2])

    def _send_pool_notification(self, pool_id, message):
        """SendDesktopPoolNotifications: one call for every desktop of the pool; returns its job id."""
        data = self._call('POST', '/desktop-pools/%s/notifications' % pool_id, body={'notifications': message},
                          write=True) or {}
        return data.get('job_id')

    def _job_outcomes(self, jobs):
        """``{desktop_id: Failure}`` of the desktops of notification ``jobs`` (``[(job_id, desktop_ids)]``) that
        were not confirmed delivered: a failed sub-job, a failed job, or no end within :attr:`message_timeout`
        seconds (the job's status reads are repeated with backoff; the send itself never is)."""
        infos, unfinished = follow((job_id for job_id, _batch in jobs if job_id), self.get_job,
                                   self._poller(self.message_timeout),
                                   finished=lambda _job, info: info['status'] != 'pending')
        failures = {}
        for job_id, batch in jobs:
            if not job_id:
                continue  # accepted without a job to follow: nothing more to learn
            info = infos.get(job_id)
            for did in batch:
                if job_id in unfinished:
                    why = unfinished[job_id]
                    failures[did] = Failure('notification job %s was accepted but %s; delivery not confirmed'
                                            % (job_id, 'its status could not be read (%s)' % why if why else
                                               'it was still running after %ss' % self.message_timeout), unknown=True)
                elif did in info['failures']:
                    failures[did] = Failure(info['failures'][did])
                elif info['status'] == 'failed':
                    failures[did] = Failure(info['message'] or 'notification job %s failed' % job_id)
        return failures

    def _notify_pool(self, pool_id, message, covered, failures, jobs):
        """SendDesktopPoolNotifications for the ``covered`` desktops of a whole pool; False when the pool call
        was refused before anything was applied, so that the desktop calls cover them instead."""
        try:
            jobs.append((self._send_pool_notification(pool_id, message), covered))
        except CALL_ERRORS as err:
            if refused_before_applied(err, range(400, 500)):
                # unknown pool, no permission for the pool call, API not published: nothing was sent
                return False
            failures.update((did, Failure.of(err)) for did in covered)
        return True

    def send_message(self, sessions, message, message_type='info', title=None, options=None):
        """Send a desktop notification (Workspace has no type or title), then follow each job.

        With ``options['whole_pool']`` (every desktop of that pool is targeted), one
        SendDesktopPoolNotifications call covers the pool's desktops; otherwise, and for a pool call
        refused before anything was applied (4xx other than throttling or credentials),
        SendNotifications in batches of 100 desktops. A notification goes to a desktop, so every
        session of a desktop shares its desktop's outcome: the call's refusal, its sub-job's failure,
        or no news within :attr:`message_timeout` seconds. No call is ever sent twice once it may have
        reached the server (writes are not retried on 5xx or lost connections; a throttling answer,
        which the gateway did not process, is).
        """
        by_desktop = _sessions_by_desktop(sessions)
        pool_of = dict((s['desktop_id'], s.get('pool')) for s in sessions)
        whole_pool = (options or {}).get('whole_pool') or {}
        pool_id = whole_pool.get('id') if isinstance(whole_pool, dict) else None
        covered = [did for did in by_desktop if pool_id and pool_of.get(did) == pool_id]
        failures, jobs = {}, []
        if covered and self._notify_pool(pool_id, message, covered, failures, jobs):
            singles = [did for did in by_desktop if did not in set(covered)]
        else:
            singles = list(by_desktop)

        def send(batch):
            data = self._call('POST', '/desktops/notifications', body={'desktop_ids': batch, 'notifications': message},
                              write=True) or {}
            jobs.append((data.get('job_id'), batch))

        if singles:
            failures.update(run_batches(singles, send, NOTIFY_BATCH))
        failures.update(self._job_outcomes(jobs))
        return _per_session(by_desktop, failures)

    def check_logoff_options(self, force=False, message=None):
        """BatchLogoffDesktops shows ``message`` to the users; it must be non-blank and within :attr:`message_limit`."""
        if message is None:
            return
        if not message.strip():
            raise ConfigError('The logoff message is empty; omit it to log off without a notice.')
        if len(message) > self.message_limit:
            raise ConfigError('The logoff message is %d characters long; huaweicloud takes at most %d.'
                              % (len(message), self.message_limit))

    def logoff(self, sessions, force=False, message=None):
        """BatchLogoffDesktops (100 desktops per call): logs off every user of each desktop, ``message`` shown first.

        Workspace has no gentle logoff, so ``force`` changes nothing.
        """
        by_desktop = _sessions_by_desktop(sessions)

        def send(batch):
            body = {'desktop_ids': batch}
            if message:
                body['message'] = message
            self._call('POST', '/desktops/logoff', body=body, write=True)

        return _per_session(by_desktop, run_batches(list(by_desktop), send, NOTIFY_BATCH))

    # ------------------------------------------------------------------ image rollout
    image_rollout = ('pool', 'desktops')
    rollout_logoff_policies = ('force',)
    rollout_logoff_hint = {'wait': NO_WAIT_FOR_LOGOFF}
    rollout_notice = NOTICE_LIMIT
    rollout_grace = GRACE_MINUTES

    def listed_pool_image(self, pool):
        return (pool.get('raw') or {}).get('image_id')

    def prepare_rollout(self, image, desktops, pool=None, options=None):
        """ListImages for the image's ``image_type`` and ``os_type`` (which the rebuild calls take); ConfigError when
        Workspace does not list it. The pool record (ListDesktopPools) carries the pool's own ``image_id``."""
        image = self.parse_image(image)
        data = self._call('GET', '/images', query={'image_id': image, 'limit': IMAGES_PAGE_SIZE, 'offset': 0}) or {}
        found = [i for i in data.get('images') or [] if isinstance(i, dict) and i.get('id') == image]
        if not found:
            raise ConfigError('Image %s is not among the images Workspace lists for this project (ListImages). Check '
                              'image (the id of a public or private desktop image).' % image)
        return {'image': image, 'image_type': found[0].get('image_type'), 'os_type': found[0].get('os_type'),
                'pool': pool, 'options': dict(options or {}),
                'pool_image': self.listed_pool_image(pool) if pool else None}

    def read_images(self, desktops, pool_id=None, fresh=False):
        """ListDesktopsDetail (the simple listing has no image): by pool, 500 per page, or by id, 100 per call."""
        wanted = set(d['id'] for d in desktops)
        if not wanted:
            return {}
        if pool_id and len(wanted) > ID_FILTER_SIZE:
            records = self._paged('/desktops/detail', 'desktops', {'pool_id': pool_id}, limit=DETAIL_PAGE_SIZE)
        else:
            records = []
            for batch in chunks(sorted(wanted), ID_FILTER_SIZE):
                records += self._paged('/desktops/detail', 'desktops', {'desktop_id': batch}, limit=DETAIL_PAGE_SIZE)
        out = {}
        for rec in records:
            if rec.get('desktop_id') in wanted:
                status = rec.get('status')
                out[rec['desktop_id']] = {'image': (rec.get('metadata') or {}).get(IMAGE_METADATA_KEY),
                                          'busy': bool(rec.get('task_status')),
                                          'error': 'the desktop is in status ERROR' if status == 'ERROR' else None}
        return out

    def _rebuild_body(self, ctx):
        opts = ctx.get('options') or {}
        body = {'image_id': ctx['image'], 'image_type': ctx.get('image_type'), 'os_type': ctx.get('os_type')}
        if opts.get('grace_minutes') is not None:
            body['delay_time'] = opts['grace_minutes']
        if opts.get('notice'):
            body['message'] = opts['notice']
        return dict((k, v) for k, v in body.items() if v is not None)

    def rollout(self, ctx, desktop_ids, stage):
        """RebuildDesktopPool for the rest of a whole pool (one call: the pool's image changes and every desktop not
        on it is rebuilt), else BatchRebuildDesktopsSystemDisk, 100 desktops per call; each answers a job."""
        ids = unique(desktop_ids)
        body = self._rebuild_body(ctx)
        if stage == 'rest' and ctx.get('pool'):
            pool_id = ctx['pool']['id']
            job = {'id': None, 'action': 'rebuild_pool', 'scope': 'pool', 'pool': pool_id, 'status': 'pending',
                   'message': None, 'desktops': ids}
            try:
                data = self._call('POST', '/desktop-pools/%s/rebuild' % pool_id,
                                  body=dict(body, handle_type='FOR_EXPAND_AND_ALL'), write=True) or {}
            except CALL_ERRORS as err:
                failure = Failure.of(err, 'RebuildDesktopPool')
                job.update(status='failed', message=failure.msg, desktops=[])
                return dict.fromkeys(ids, failure), [], [job]
            job['id'] = data.get('job_id')
            if not job['id']:
                job.update(status='success', message='RebuildDesktopPool answered no job id')
            return {}, [], [job]
        jobs = []

        def call(batch):
            data = self._call('POST', '/desktops/rebuild', body=dict(body, desktop_ids=batch), write=True) or {}
            jobs.append({'id': data.get('job_id'), 'action': 'rebuild', 'scope': 'desktops', 'status': 'pending'
                         if data.get('job_id') else 'success', 'message': None, 'desktops': list(batch)})

        stopper = StopAfterFailure(call, ctx.get('stop_on_failure', True))
        failures = run_batches(ids, stopper, REBUILD_BATCH, split_statuses=())
        return failures, stopper.not_sent, jobs

    def pool_image(self, ctx):
        if not ctx.get('pool'):
            return None
        return (self._call('GET', '/desktop-pools/%s' % ctx['pool']['id']) or {}).get('image_id')

    # ------------------------------------------------------------------ in-guest commands
    command_types = tuple(COMMAND_TYPES)
    stored_scripts = True
    command_gray = True
    command_pool = True
    command_batch = SCRIPT_BATCH
    command_timeout_range = (EXECUTION_TIMEOUT_MINUTES[0] * 60, EXECUTION_TIMEOUT_MINUTES[1] * 60)

    def check_command(self, command=None, command_type=None, script_ids=None):
        if command is not None and len(command) > COMMAND_LIMIT:
            raise ConfigError('command is %d characters long; huaweicloud takes at most %d.' % (len(command),
                                                                                                COMMAND_LIMIT))

    def start_commands(self, request, desktop_ids, gray_ids=None, threshold=None, pool_id=None):
        """ExecuteDesktopPoolScripts for a whole pool, else ExecuteScriptOrCommand per :data:`SCRIPT_BATCH` desktops.

        The text goes as a JSON string (the only form the SDK models offer); ``gray_ids``/``threshold`` become the
        provider's own canary (``gray_*_ids``, ``gray_fail_threshold``). Returns ``(failures, [(task_id, ids)])``.
        """
        ids = unique(desktop_ids)
        minutes = min(EXECUTION_TIMEOUT_MINUTES[1], max(EXECUTION_TIMEOUT_MINUTES[0], -(-request['timeout'] // 60)))
        tasks = []
        if pool_id:
            body = _script_body(request, minutes, 'command_content')
            if gray_ids:
                body.update(gray_desktop_ids=list(gray_ids), gray_fail_threshold=threshold)
            try:
                data = self._call('POST', '/desktop-pools/%s/script-executions' % pool_id, body=body, write=True) or {}
            except CALL_ERRORS as err:
                return dict.fromkeys(ids, Failure.of(err, 'ExecuteDesktopPoolScripts')), []
            return _task_of(data, ids, tasks)

        def call(batch):
            body = dict(_script_body(request, minutes, 'command'), resource_type='DESKTOP', resource_ids=batch)
            gray = [i for i in batch if i in set(gray_ids or ())]
            if gray:
                body.update(gray_resource_ids=gray, gray_fail_threshold=threshold)
            data = self._call('POST', '/script-executions', body=body, write=True) or {}
            return _task_of(data, batch, tasks)[0]

        return run_batches(ids, call, SCRIPT_BATCH, split_statuses=()), tasks

    def _task_records(self, task_id):
        return self._paged('/script-execution-records', 'script_records', {'script_task_id': task_id},
                           limit=RECORDS_PAGE_SIZE, total_key='count')

    def command_results(self, tasks, timeout, output_limit):
        """ListScriptRecords per task (100 per page) until every desktop's record ended, then, when output is
        asked for, ShowScriptRecordDetail of each ended record (the listing has no output)."""
        wanted = dict((task_id, set(ids)) for task_id, ids in tasks)

        def finished(task_id, records):
            done = set(r.get('resource_id') for r in records or [] if _record_status(r) not in ('running',))
            return wanted[task_id] <= done

        states, unfinished = follow(list(wanted), self._task_records, self._poller(timeout), finished=finished)
        out = {}
        for task_id, ids in wanted.items():
            by_desktop = {}
            for rec in states.get(task_id) or []:
                if rec.get('resource_id') in ids:
                    by_desktop.setdefault(rec['resource_id'], []).append(rec)
            for did in ids:
                out[did] = self._desktop_result(by_desktop.get(did), output_limit > 0, task_id, unfinished, timeout)
        return out

    def _desktop_result(self, records, with_output, task_id, unfinished, timeout):
        """One desktop's result from its records (one per stored script, or one for a command)."""
        if not records or any(_record_status(r) == 'running' for r in records):
            why = unfinished.get(task_id)
            return {'status': 'unknown', 'exit_code': None, 'output': None, 'ran': True,
                    'message': 'script task %s %s' % (task_id, 'could not be read: %s' % why if why else
                                                      'did not end within %ss' % timeout)}
        results = [_record_result(r) for r in records]
        if with_output:
            for res, rec in zip(results, records):
                if res['ran'] and rec.get('id'):
                    try:
                        res['output'] = (self._call('GET', '/script-execution-records/%s' % rec['id']) or {}).get(
                            'output') or ''
                    except CALL_ERRORS as err:
                        res['message'] = (res['message'] + '; ' if res['message'] else '') + 'output not read: %s' % err.msg
        return _merge_results(results, with_output)


def _sessions_by_desktop(sessions):
    """``{desktop_id: [session ids]}``: Workspace acts on desktops, every session of one shares its outcome."""
    by_desktop = {}
    for s in sessions:
        by_desktop.setdefault(s['desktop_id'], []).append(s['session_id'])
    return by_desktop


def _per_session(by_desktop, failures):
    """``{session_id: None or Failure}`` from the outcome of each session's desktop."""
    return dict((sid, failures.get(did)) for did, sids in by_desktop.items() for sid in sids)


def _script_body(request, minutes, command_key):
    """The body of a script execution: stored ``script_ids``, or the command text under ``command_key``."""
    if request.get('script_ids'):
        return {'script_ids': list(request['script_ids']), 'execution_timeout': minutes}
    return {command_key: request['command'], 'command_type': COMMAND_TYPES[request['command_type']],
            'execution_timeout': minutes}


def _task_of(data, ids, tasks):
    """Record the task of an accepted script execution; ``(failures, tasks)``."""
    if not data.get('task_id'):
        return dict.fromkeys(ids, Failure('the script execution answered no task_id; not re-sent', unknown=True)), tasks
    tasks.append((data['task_id'], list(ids)))
    return {}, tasks


def _record_status(rec):
    status = (rec.get('status') or '').upper()
    if status in RECORD_SUCCESS:
        return 'success'
    if status in RECORD_FAILED:
        return 'failed'
    if status in RECORD_SKIPPED:
        return 'skipped'
    return 'running'


def _record_result(rec):
    """A script execution record as a normalized result; ``result_code`` holds the exit code once a script ran."""
    status = _record_status(rec)
    code = rec.get('result_code')
    exit_code = int(code) if code is not None and str(code).lstrip('-').isdigit() else None
    if status == 'failed' and exit_code is None:
        status = 'error'  # the script did not run to an exit code: the agent or the desktop failed it
    order = rec.get('execute_order')
    return {'status': status, 'exit_code': exit_code if exit_code is not None else (0 if status == 'success' else None),
            'output': None, 'ran': status in ('success', 'failed'),
            'message': ': '.join(str(x) for x in (None if exit_code is not None else code, rec.get('reason')) if x),
            'gray': (order == GRAY_ORDER) if order in (1, 2) else None}


def _merge_results(results, with_output):
    """One desktop's result from the results of its records: the worst status, the first non-zero exit code."""
    rank = ('success', 'skipped', 'failed', 'error')
    worst = max(results, key=lambda r: rank.index(r['status']) if r['status'] in rank else len(rank))
    exit_code = next((r['exit_code'] for r in results if r['exit_code']), results[-1]['exit_code'])
    return {'status': worst['status'], 'exit_code': exit_code, 'ran': any(r['ran'] for r in results),
            'output': '\n'.join(r['output'] or '' for r in results) if with_output else None,
            'message': '; '.join(r['message'] for r in results if r['message']) or None,
            'gray': results[0]['gray']}
