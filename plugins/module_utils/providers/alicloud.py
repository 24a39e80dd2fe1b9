# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alibaba Cloud Elastic Desktop Service (EDS / Wuying, product ``ecd``, API 2020-09-30) adapter.

Every call is RPC style: ``POST https://ecd.<region>.aliyuncs.com/`` with the business parameters
in the query, signed with ACS3-HMAC-SHA256 (optionally with an STS token). The describe calls
are read-only, so they are marked idempotent (a 5xx answer is retried); the writes are not.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ApiError, AuthError, ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import (
    POWERED_OFF,
    POWERED_ON,
    SUSPENDED,
    TRANSITIONING,
    UNKNOWN,
    ProviderAdapter,
    desktop,
    isolate_failures,
    pool,
    session,
)
from ansible_collections.vdi.fleet.plugins.module_utils.signing.alicloud import AcsV3Signer, flatten_params
from ansible_collections.vdi.fleet.plugins.module_utils.transport import auth_error_from, chunks, header

DEFAULT_ENDPOINT = 'https://ecd.%s.aliyuncs.com'
PAGE_SIZE = 100  # DescribeDesktops / DescribeDesktopGroups MaxResults maximum
IDS_PER_CALL = 100  # DesktopId.N (DescribeDesktops, DescribeDesktopSessions) and DesktopIds.N (SetDesktopMaintenance)
SESSIONS_PAGE_SIZE = 100

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


def in_maintenance(record):
    """Maintenance flag of a DescribeDesktops record (None when the record carries no flags at all)."""
    flags = record.get('ManagementFlags')
    single = record.get('ManagementFlag')
    if flags is None and single is None:
        return None
    values = list(flags or [])
    values += list(single) if isinstance(single, list) else [single]
    return any(MAINTENANCE_FLAG_MARKER in str(v).lower() for v in values if v)


def power_state(status):
    if status in POWER_STATES:
        return POWER_STATES[status]
    if status in TRANSITIONAL_STATES or (status or '').endswith('ing'):
        return TRANSITIONING
    return UNKNOWN


def _unique(items):
    seen = set()
    out = []
    for item in items or []:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


class AlicloudAdapter(ProviderAdapter):
    name = 'alicloud'
    list_page_size = PAGE_SIZE
    action_batch_size = IDS_PER_CALL

    def __init__(self, params, policy=None):
        self.region = params.get('region')
        missing = [k for k in ('region', 'access_key', 'secret_key') if not params.get(k)]
        if missing:
            raise ConfigError('Missing connection option(s) for provider alicloud: %s.' % ', '.join(missing))
        super(AlicloudAdapter, self).__init__(params, policy=policy)
        self.signer = AcsV3Signer(params['access_key'], params['secret_key'], urlsplit(self.endpoint).netloc,
                                  security_token=params.get('security_token') or None)
        self._pool_names = {}

    def default_endpoint(self):
        return DEFAULT_ENDPOINT % self.region

    # ------------------------------------------------------------------ errors
    def classify_error(self, resp):
        try:
            data = resp.json() if resp.content else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        code = data.get('Code') or data.get('code') or ''
        message = _scrub(data.get('Message') or data.get('message') or '')
        if not message and not data:
            message = (resp.text or '')[:200].strip() or resp.reason or ''
        request_id = data.get('RequestId') or data.get('requestId') or header(resp, 'x-acs-request-id')
        request = getattr(resp, 'request', None)
        action = request.headers.get('x-acs-action') if request is not None and request.headers else None
        retry_after = None
        raw_wait = header(resp, 'x-acs-retry-after')
        if raw_wait is not None:
            try:
                retry_after = max(0.0, float(raw_wait) / 1000.0)  # milliseconds, as tea-openapi reads it
            except ValueError:
                retry_after = None
        throttle = code.startswith('Throttling') or resp.status_code == 429
        text = 'Alibaba Cloud ECD %s answered HTTP %s%s: %s%s' % (
            action or 'call', resp.status_code, ' ' + code if code else '', message or resp.reason,
            ' (RequestId %s)' % request_id if request_id else '')
        if not throttle and _code_in(code, REGION_CODES):
            text = '%s. Check region: %r is not served by %s (ecd endpoints are ecd.<region>.aliyuncs.com).' % (
                text.rstrip('.'), self.region, self.endpoint)
        err = ApiError(text, status=resp.status_code, code=code or None, message=message, request_id=request_id,
                       throttle=throttle, retry_after=retry_after)
        if not throttle:
            for prefixes, hint in AUTH_CODES:
                if _code_in(code, prefixes):
                    return auth_error_from(err, 'Alibaba Cloud ECD', hint)
        return err

    # ------------------------------------------------------------------ calls
    def _call(self, action, params=None, write=False):
        query = {'RegionId': self.region}
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
            for batch in chunks(_unique(desktop_ids), IDS_PER_CALL):
                records += self._paged('DescribeDesktops', {'DesktopId': batch, 'FilterDesktopGroup': False}, 'Desktops')
            if pool_ids:
                wanted = set(pool_ids)
                records = [r for r in records if r.get('DesktopGroupId') in wanted]
        elif pool_ids:
            for pool_id in _unique(pool_ids):
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

    def list_sessions(self, desktops):
        by_id = dict((d['id'], d) for d in desktops)
        out = []
        for batch in chunks(list(by_id), IDS_PER_CALL):
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
                    state = {'Connected': 'connected', 'Disconnected': 'disconnected'}.get(rec.get('SessionStatus'))
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
            except AuthError:
                raise
            except ApiError as err:
                if len(batch) == 1 and err.code in MAINTENANCE_ALREADY_CODES:
                    return {}
                raise
            return {}

        return isolate_failures(_unique(desktop_ids), call, self.action_batch_size, self.item_reject_statuses)
