# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Omnissa Horizon Server REST API adapter (``https://<connection-server>/rest``).

Bearer tokens from ``POST /login`` (sAMAccountName + domain, never a UPN), refreshed once on a
401 and replaced by a new login when the refresh token is gone too; ``POST /logout`` in
:meth:`HorizonAdapter.close`. Machines are read from ``/inventory/v2/machines`` (v1 plus
``session_id``) with JSON filters and ``page``/``size`` paging until the ``HAS_MORE_RECORDS``
header disappears. Machine and session actions answer 200 with one ``BulkItemResponseInfo`` per id, so
every item's ``status_code`` is checked.

Power: guest restart (``/machines/action/restart``), hard reset (``reset``, with ``force``) and guest
shutdown (``shutdown``, from 2406), with the request body the server's version expects (a bare array up
to 2406, ``{machineIds, forceOperation}`` from 2412). The REST API cannot power a machine on or suspend
it. Sessions: ``/inventory/v1/sessions`` (filtered by machine or by pool, whichever takes fewer
requests), ``sessions/action/send-message`` and ``sessions/action/logoff``. No write is ever re-sent once
it may have reached the server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import time

from ansible_collections.vdi.fleet.plugins.module_utils.errors import (
    CALL_ERRORS, ApiError, AuthError, ConfigError, Failure)
from ansible_collections.vdi.fleet.plugins.module_utils.providers import base
from ansible_collections.vdi.fleet.plugins.module_utils.transport import (
    HTML_PAGE, auth_error_from, chunks, header, json_or_none, unique)

#: YYMM release -> ``local_connection_server_version`` (no official table; same numbering as the simulator).
HORIZON_RELEASES = (
    ('2006', '8.0.0'), ('2012', '8.1.0'), ('2103', '8.2.0'), ('2106', '8.3.0'), ('2111', '8.4.0'),
    ('2203', '8.5.0'), ('2206', '8.6.0'), ('2209', '8.7.0'), ('2212', '8.8.0'), ('2303', '8.9.0'),
    ('2306', '8.10.0'), ('2309', '8.11.0'), ('2312', '8.12.0'), ('2406', '8.13.0'), ('2412', '8.14.0'),
    ('2503', '8.15.0'), ('2506', '8.16.0'), ('2512', '8.17.0'), ('2603', '8.18.0'), ('2606', '8.19.0'),
)

#: machine states during which an operation (provisioning, power, deletion) is running
TRANSIENT_STATES = ('IN_PROGRESS', 'PROVISIONING', 'CUSTOMIZING', 'DELETING')
#: machine states that mean a user session is on the machine
SESSION_STATES = ('CONNECTED', 'DISCONNECTED', 'UNASSIGNED_USER_CONNECTED', 'UNASSIGNED_USER_DISCONNECTED')
#: states of an unmanaged machine (no vCenter power state) that mean it is running
RUNNING_STATES = SESSION_STATES + ('AVAILABLE', 'MAINTENANCE', 'AGENT_DRAIN_MODE', 'AGENT_DRAIN_UNTIL_RESTART',
                                   'ALREADY_USED', 'WAITING_FOR_AGENT')
POWER_STATES = {
    'POWERED_ON': base.POWERED_ON,
    'POWERED_OFF': base.POWERED_OFF,
    'SUSPENDED': base.SUSPENDED,
}

AUTH_HINT = ('Check username, password and domain: username must be the account name (sAMAccountName, e.g. '
             'svc-vdi), not a UPN such as svc-vdi@example.com, and domain the Active Directory domain it belongs to.')
PRIVILEGE_HINT = ('Check that the Horizon administrator role of this account has the privileges for the operation '
                  '(MACHINE_VIEW to list, MACHINE_MAINTENANCE for maintenance mode) on the access groups of the pools.')
THROTTLE_KEY = 'common.api-throttle-limit.exceeded.error'

#: first server version (``local_connection_server_version``) with ``/machines/action/shutdown`` (2406)
SHUTDOWN_SINCE = (8, 13)
#: first server version whose restart/shutdown take ``{machineIds, forceOperation}`` instead of a bare array (2412)
OBJECT_BODY_SINCE = (8, 14)

#: Longest message text sent with send-message. ASSUMPTION: the spec (2006-2512) sets no maxLength on
#: ``SessionSendMessageSpec.message`` and the guides name no limit; 4096 characters is far more than a
#: Horizon Client message dialog shows in full while keeping a request of 1000 sessions small.
MESSAGE_LIMIT = 4096
#: Session ids per send-message or logoff call. The spec sets no maxItems; one call per page of listed
#: sessions (the API's maximum page size) keeps each call short compared to the client timeout, so that
#: a call whose answer is lost (and that is never re-sent) leaves at most this many outcomes unknown.
SESSION_BATCH = 1000
MESSAGE_TYPES = ('INFO', 'WARNING', 'ERROR')
SESSIONS_PATH = '/inventory/v1/sessions'
SESSION_STATE_MAP = {'CONNECTED': 'connected', 'DISCONNECTED': 'disconnected'}

POWER_HINT = ("Horizon's REST API has no power-on, suspend or power-off-without-guest action: it can only restart, "
              "reset or shut down machines. Use the vCenter power modules (vmware.vmware.vm_powerstate) on the "
              "pool's virtual machines, or the pool's power policy (remote machine power policy: Always powered on), "
              "for state %s.")
SESSIONS_HINT = (' Log the sessions off first (vdi.fleet.session_logoff), or set force to true (a hard reset instead of a '
                 'restart; a forced shutdown from Horizon 2412).')
LOGOFF_MESSAGE_HINT = ('Horizon cannot show a message with a logoff (sessions/action/logoff takes session ids only). '
                       'Send the text first with vdi.fleet.session_message, then log off without a message.')

# ---------------------------------------------------------------------------------------------- patching
POOLS_V2_PATH = '/inventory/v2/desktop-pools/%s'
#: schedule-push-image v2 (2406 and 2512): takes ``selective_push_image`` + ``machine_ids`` (a canary) and answers
#: one BulkItemResponseInfo per item; v1 answers 204 and cannot push to selected machines.
PUSH_IMAGE_PATH = '/inventory/v2/desktop-pools/%s/action/schedule-push-image'
POOL_ACTION_PATH = '/inventory/v1/desktop-pools/%s/action/%s'
LOGOFF_POLICY_NAMES = {'wait': 'WAIT_FOR_LOGOFF', 'force': 'FORCE_LOGOFF'}
#: a push is possible on these pools only (DesktopPoolInfoV2 ``type`` and ``source``)
PUSH_POOL = ('AUTOMATED', 'INSTANT_CLONE')
#: ``instant_clone_pending_image_state`` values: still publishing, and published (``READY_HELD``: held after a
#: selective push until promoted; ``READY``: published for a push scheduled later)
PENDING_PUBLISHING = ('PENDING_PUBLISH', 'PUBLISHING')
PENDING_HELD = ('READY_HELD', 'READY')
#: machine states and ``operation_state`` values while a push recreates a machine, and those that mean it failed
MACHINE_BUSY_OPERATION = ('CREATE', 'PROGRESSING', 'SCHEDULED', 'HOLDING', 'CANCELLING')
MACHINE_FAILED_STATES = ('PROVISIONING_ERROR', 'ERROR')
IMAGE_STREAM_PREFIX = 'im:'
IMAGE_FORMAT = ('PARENT_VM_ID/SNAPSHOT_ID (the base image VM and its snapshot), or im:STREAM_ID/TAG_ID (an image '
                'catalog stream and tag)')
NO_COMMANDS = (
    "Horizon's REST API cannot run a command inside a desktop. Run it over the operator's own channel: the "
    'vdi.fleet.desktops inventory plugin makes every machine a host (ansible_host = its DNS name), and '
    'ansible.windows.win_shell (WinRM) or ansible.builtin.shell (SSH) runs the command on those hosts; a '
    'software distribution system works too.')


def _jwt_like(text):
    return re.sub(r'[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}', '<token>', text)


def error_fields(data):
    """(error_key, message) of a Horizon error body: ``errors[]``, ``error_messages[]`` or ``error_message``."""
    if not isinstance(data, dict):
        return None, None
    items = [e for e in data.get('errors') or [] if isinstance(e, dict)] if isinstance(data.get('errors'), list) else []
    if items:
        return items[0].get('error_key'), '; '.join(str(e.get('error_message') or e.get('error_key') or '')
                                                    for e in items)
    if isinstance(data.get('error_messages'), list) and data['error_messages']:
        return None, '; '.join(str(m) for m in data['error_messages'])
    if data.get('error_message'):
        return data.get('error_key'), str(data['error_message'])
    text = data.get('message') or data.get('error')
    return None, str(text) if text else None


def version_tuple(version):
    """``'8.14.0'`` -> ``(8, 14, 0)``; unparsable parts are dropped."""
    parts = []
    for part in str(version or '').split('.'):
        match = re.match(r'\d+', part)
        if not match:
            break
        parts.append(int(match.group(0)))
    return tuple(parts)


def release_of(version):
    """YYMM release of a ``local_connection_server_version``, or None when the mapping does not know it."""
    wanted = version_tuple(version)[:2]
    for release, ver in HORIZON_RELEASES:
        if version_tuple(ver)[:2] == wanted:
            return release
    return None


def or_filter(name, values):
    """Equals for one value, an Or of Equals for several (the API has no In filter)."""
    values = list(values)
    if len(values) == 1:
        return {'type': 'Equals', 'name': name, 'value': values[0]}
    return {'type': 'Or', 'filters': [{'type': 'Equals', 'name': name, 'value': v} for v in values]}


def iso_utc(epoch_ms):
    """Epoch milliseconds (as Horizon sends times) -> ISO 8601 UTC, or None."""
    if isinstance(epoch_ms, bool) or not isinstance(epoch_ms, (int, float)):
        return None
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch_ms / 1000.0))


class HorizonAdapter(base.ProviderAdapter):
    #: shutdown acts on powered-on machines only
    stop_from_suspended = False
    name = 'horizon'
    connection_options = ('endpoint', 'username', 'password', 'domain')
    #: the API's maximum ``size``
    list_page_size = 1000
    #: the machine actions take any number of ids; one batch per listed page keeps requests few while a
    #: batch still completes well within the default timeout (the change is an attribute write per machine)
    action_batch_size = 1000
    #: ids (or pools) per Or filter: each Equals costs ~120 URL-encoded bytes; 40 keep the request line
    #: near 5 KB, under the 8 KB a Connection Server (Tomcat) accepts
    filter_chunk = 40
    ids_per_listing = filter_chunk
    #: v2 adds ``session_id``; v1 is the fallback for servers without it
    machines_path = '/inventory/v2/machines'
    #: Horizon's REST API has no power-on or suspend: refused before any request
    unsupported_power = {base.POWERED_ON: POWER_HINT % 'powered_on (started)',
                         base.SUSPENDED: POWER_HINT % 'suspended (hibernated)'}
    message_limit = MESSAGE_LIMIT
    #: enter-maintenance takes ``enforce`` for machines held by another operation
    enforce_supported = True

    def __init__(self, params, policy=None):
        endpoint = (params.get('endpoint') or '').strip()
        if not endpoint:
            raise ConfigError('endpoint is required for provider horizon: the Connection Server URL, '
                              'e.g. https://cs01.example.com (the adapter adds /rest).')
        endpoint = endpoint.rstrip('/')
        if not endpoint.endswith('/rest'):
            endpoint += '/rest'
        username = params.get('username') or ''
        domain = params.get('domain') or ''
        if '\\' in username and not domain:
            domain, username = username.split('\\', 1)
        self.require({'username': username, 'password': params.get('password'), 'domain': domain},
                     ('username', 'password', 'domain'))
        if '@' in username:
            raise ConfigError('username %r is a UPN, which the Horizon REST API does not accept. Give the account '
                              'name (sAMAccountName) as username and the domain separately.' % username)
        self._username = username
        self._domain = domain
        self._password = params.get('password')
        params = dict(params)
        params['endpoint'] = endpoint
        super(HorizonAdapter, self).__init__(params, policy=policy)
        self._access = None
        self._refresh = None
        self._pool_names = None
        self._server_version = None
        #: machines per pool, learnt from listings of whole pools (used to price a session listing by pool)
        self._pool_sizes = {}
        self.counters = {'logins': 0, 'refreshes': 0}

    def default_endpoint(self):
        return None

    def learned(self):
        facts = super(HorizonAdapter, self).learned()
        if self._server_version is not None:
            facts['server_version'] = dict(self._server_version, version_tuple=list(self._server_version['version_tuple']))
        if self._pool_sizes:
            facts['pool_sizes'] = dict(self._pool_sizes)
        return facts

    def learn(self, facts):
        super(HorizonAdapter, self).learn(facts)
        facts = facts or {}
        if facts.get('server_version'):
            self._server_version = dict(facts['server_version'],
                                        version_tuple=tuple(facts['server_version']['version_tuple']))
        self._pool_sizes.update(facts.get('pool_sizes') or {})

    # ------------------------------------------------------------------ errors
    def classify_error(self, resp):
        status = resp.status_code
        code, message = error_fields(json_or_none(resp))
        if not message:
            text = resp.text.strip() if resp.content else ''
            if text.lstrip().startswith('<'):
                text = re.sub(r'\s+', ' ', re.sub(r'<[^>]+>', ' ', text)).strip()
            message = text[:300] or resp.reason or 'no details'
        message = _jwt_like(message)
        throttle = status == 429 or code == THROTTLE_KEY
        msg = 'Horizon answered HTTP %s%s: %s' % (status, ' (%s)' % code if code else '', message)
        # the delay asked for (X-Rate-Limit-Retry-After-Seconds) is read by the transport
        return ApiError(msg, status=status, code=code, message=message, throttle=throttle)

    # ------------------------------------------------------------------ session
    def _login(self):
        body = {'username': self._username, 'password': self._password, 'domain': self._domain}
        self.counters['logins'] += 1
        try:
            data = self.http.json('POST', '/login', body=body, idempotent=True)
        except ApiError as err:
            if err.code == HTML_PAGE:
                raise
            if err.status == 404 and not err.code:
                raise ApiError('%s/login does not exist (HTTP 404). Check endpoint: the Connection Server URL, '
                               'e.g. https://cs01.example.com.' % self.http.endpoint, status=404)
            if err.status in (400, 401, 403, 404):
                raise auth_error_from(err, 'Horizon', AUTH_HINT)
            raise
        if not isinstance(data, dict) or not data.get('access_token'):
            raise ApiError('Horizon login answered without an access token. Check that endpoint points at a '
                           'Connection Server.', status=200)
        self._access = data['access_token']
        self._refresh = data.get('refresh_token')

    def _refresh_access(self):
        """Get a new access token with the refresh token; False when that is impossible."""
        if not self._refresh:
            return False
        self.counters['refreshes'] += 1
        try:
            data = self.http.json('POST', '/refresh', body={'refresh_token': self._refresh}, idempotent=True)
        except ApiError as err:
            if err.throttle or (err.status or 0) >= 500:
                raise
            return False
        if not isinstance(data, dict) or not data.get('access_token'):
            return False
        self._access = data['access_token']
        return True

    def _on_unauthorized(self):
        if not self._refresh_access():
            self._access = None
            self._refresh = None
            self._login()
        return True

    def _sign(self, method, path, pairs, headers, body):  # pylint: disable=unused-argument
        headers['Authorization'] = 'Bearer %s' % self._access

    def _api(self, method, path, **kwargs):
        """One authenticated call: JSON body and the response (for its headers)."""
        if self._access is None:
            self._login()
        try:
            resp = self.http.request(method, path, sign=self._sign, on_unauthorized=self._on_unauthorized, **kwargs)
        except ApiError as err:
            if err.status == 401:
                raise AuthError('Horizon refused a fresh access token for %s %s (HTTP 401): %s. %s'
                                % (method, path, err.message or err.msg, AUTH_HINT),
                                status=err.status, code=err.code, message=err.message)
            if err.status == 403:
                raise AuthError('Horizon refused %s %s (HTTP 403%s): %s. %s'
                                % (method, path, ', ' + err.code if err.code else '', err.message or err.msg,
                                   PRIVILEGE_HINT), status=err.status, code=err.code, message=err.message)
            raise
        if not resp.content:
            return None, resp
        try:
            return resp.json(), resp
        except ValueError:
            raise ApiError('Horizon answered %s %s with a body that is not JSON. Check that endpoint points at a '
                           'Connection Server.' % (method, path), status=resp.status_code)

    def close(self):
        """Log out (ends both tokens) and close the HTTP session. Never raises."""
        try:
            if self._refresh:
                self.http.request('POST', '/logout', body={'refresh_token': self._refresh}, idempotent=False,
                                  retry_throttled=False)
        except Exception:  # pylint: disable=broad-except
            pass
        finally:
            self._access = None
            self._refresh = None
            try:
                self.http.close()
            except Exception:  # pylint: disable=broad-except
                pass

    # ------------------------------------------------------------------ server
    def server_version(self):
        """Connection Server version (cached): ``version``, ``build``, ``version_tuple`` and ``release`` (YYMM or None)."""
        if self._server_version is None:
            data = self._api('GET', '/config/v2/environment-properties')[0]
            data = data if isinstance(data, dict) else {}
            version = data.get('local_connection_server_version')
            self._server_version = {
                'version': version,
                'build': data.get('local_connection_server_build'),
                'version_tuple': version_tuple(version),
                'release': release_of(version),
            }
        return self._server_version

    # ------------------------------------------------------------------ inventory
    def list_pools(self):
        data = self._api('GET', '/inventory/v1/desktop-pools')[0]
        pools = [p for p in (data or []) if isinstance(p, dict)]
        self._pool_names = dict((p.get('id'), p.get('name')) for p in pools)
        return [base.pool(p.get('id'), p.get('name'), p) for p in pools]

    def _pool_name(self, pool_id):
        if self._pool_names is None:
            self.list_pools()
        return self._pool_names.get(pool_id)

    def _paged(self, path, flt):
        """Every record of ``path`` matching ``flt`` (a filter dict or None), paging until ``HAS_MORE_RECORDS`` is gone."""
        out = []
        page = 1
        while True:
            query = {'page': page, 'size': self.list_page_size}
            if flt is not None:
                query['filter'] = json.dumps(flt, separators=(',', ':'))
            data, resp = self._api('GET', path, query=query)
            items = [m for m in (data or []) if isinstance(m, dict)]
            out.extend(items)
            more = (header(resp, 'HAS_MORE_RECORDS') or '').strip().upper() == 'TRUE'
            if not more or not items:
                return out
            page += 1

    def _list_machines(self, flt):
        """Every machine matching ``flt`` (a filter dict or None), paging to the end."""
        try:
            return self._paged(self.machines_path, flt)
        except ApiError as err:
            if err.status == 404 and self.machines_path != '/inventory/v1/machines':
                self.machines_path = '/inventory/v1/machines'
                return self._paged(self.machines_path, flt)
            raise

    def list_desktops(self, pool_ids=None, desktop_ids=None):
        if pool_ids is not None:
            pool_ids = unique(pool_ids)
            if not pool_ids:
                return []
        if desktop_ids is not None:
            desktop_ids = unique(desktop_ids)
            if not desktop_ids:
                return []
        if desktop_ids is not None:
            # ids are the narrower filter; a pool restriction on top is checked on our side
            filters = [or_filter('id', c) for c in chunks(desktop_ids, self.filter_chunk)]
        elif pool_ids is not None:
            filters = [or_filter('desktop_pool_id', c) for c in chunks(pool_ids, self.filter_chunk)]
        else:
            filters = [None]
        wanted_pools = set(pool_ids) if pool_ids is not None and desktop_ids is not None else None
        seen = set()
        desktops = []
        for flt in filters:
            for raw in self._list_machines(flt):
                mid = raw.get('id')
                if mid in seen or (wanted_pools is not None and raw.get('desktop_pool_id') not in wanted_pools):
                    continue
                seen.add(mid)
                desktops.append(self.normalize(raw))
        if desktop_ids is None:
            # whole pools (or everything) were listed: remember their sizes
            sizes = dict((p, 0) for p in pool_ids or [])
            for d in desktops:
                sizes[d['pool']] = sizes.get(d['pool'], 0) + 1
            self._pool_sizes.update(sizes)
        return desktops

    def normalize(self, raw):
        state = raw.get('state')
        mmd = raw.get('managed_machine_data')
        if isinstance(mmd, dict):
            maintenance = bool(mmd.get('in_maintenance_mode'))
        else:
            maintenance = state == 'MAINTENANCE'
        if state in TRANSIENT_STATES:
            power = base.TRANSITIONING
        elif isinstance(mmd, dict):
            power = POWER_STATES.get(mmd.get('virtual_machine_power_state'), base.UNKNOWN)
        elif state in RUNNING_STATES:
            power = base.POWERED_ON
        else:
            power = base.UNKNOWN
        sessions = 1 if raw.get('session_id') or state in SESSION_STATES else 0
        return base.desktop(
            id=raw.get('id'),
            name=raw.get('name'),
            pool=raw.get('desktop_pool_id'),
            pool_name=self._pool_name(raw.get('desktop_pool_id')),
            maintenance=maintenance,
            power_state=power,
            sessions=sessions,
            address=raw.get('dns_name'),
            users=raw.get('user_ids') or [],
            raw=raw,
        )

    # ------------------------------------------------------------------ maintenance
    @staticmethod
    def item_failures(ids, results, what='machine'):
        """``{id: Failure}`` of the ids whose ``BulkItemResponseInfo`` is not a 2xx (or missing)."""
        by_id = {}
        for item in results if isinstance(results, list) else []:
            if isinstance(item, dict) and item.get('id') is not None:
                by_id[item['id']] = item
        failures = {}
        for item_id in ids:
            item = by_id.get(item_id)
            if item is None:
                failures[item_id] = Failure('Horizon returned no result for this %s; its state is unknown.' % what,
                                            unknown=True)
                continue
            status = item.get('status_code')
            if isinstance(status, int) and 200 <= status < 300:
                continue
            errors = [e for e in item.get('errors') or [] if isinstance(e, dict)]
            if errors:
                text = '; '.join('%s (%s)' % (e.get('error_message') or 'failed', e.get('error_key'))
                                 if e.get('error_key') else str(e.get('error_message') or 'failed') for e in errors)
            elif item.get('error_messages'):
                text = '; '.join(str(m) for m in item['error_messages'])
            else:
                text = 'failed'
            failures[item_id] = Failure('HTTP %s: %s' % (status, text))
        return failures

    def set_maintenance(self, desktop_ids, enabled, enforce=False):
        ids = unique(desktop_ids)
        path = '/inventory/v1/machines/action/%s' % ('enter-maintenance' if enabled else 'exit-maintenance')
        query = {'enforce': True} if enabled and enforce else None

        def call(batch):
            data = self._api('POST', path, query=query, body=batch, idempotent=False)[0]
            return self.item_failures(batch, data)

        # A machine already in the target state makes Horizon refuse the whole request (HTTP 400,
        # nothing applied): split such a batch to find it and let the others through.
        return base.run_batches(ids, call, self.action_batch_size, split_statuses=(400,))

    # ------------------------------------------------------------------ power
    def _body_form(self):
        """'object' (2412+), 'array' (up to 2406) or None when the server's version is unknown."""
        ver = self.server_version()['version_tuple']
        if len(ver) < 2:
            return None
        return 'object' if ver[:2] >= OBJECT_BODY_SINCE else 'array'

    def power(self, desktop_ids, action, force=False):
        """Guest restart (hard reset with ``force``) or guest shutdown (``stop``, Horizon 2406 and later) in batches.

        Returns ``(failures, [])``: Horizon machine actions have no jobs; the machines are followed by
        re-reading them. ``force`` on shutdown sets ``forceOperation`` (2412 and later).
        """
        ids = unique(desktop_ids)
        if action == 'restart':
            verb = 'reset' if force else 'restart'
        elif action == 'stop':
            verb = 'shutdown'
        else:
            raise ConfigError("Horizon's REST API has no %s action for machines (it can restart, reset and shut them "
                              "down only). Use the vCenter power modules (vmware.vmware.vm_powerstate) or the pool's "
                              "power policy." % action)
        if not ids:
            return {}, []
        info = self.server_version()
        if verb == 'shutdown' and info['version_tuple'] and info['version_tuple'][:2] < SHUTDOWN_SINCE:
            raise ConfigError('Horizon %s (Connection Server %s) has no machine shutdown action; it came with Horizon '
                              '2406 (8.13). Stop the virtual machines with the vCenter power modules '
                              '(vmware.vmware.vm_powerstate), or upgrade the Connection Servers.'
                              % (info['release'] or 'release', info['version']))
        form = 'array' if verb == 'reset' else self._body_form()
        path = '/inventory/v1/machines/action/%s' % verb

        def body_of(batch, shape):
            if shape == 'array':
                return batch
            return {'machineIds': batch, 'forceOperation': bool(force)}

        def call(batch):
            shape = form or 'object'
            try:
                data = self._api('POST', path, body=body_of(batch, shape), idempotent=False)[0]
            except ApiError as err:
                # Version unknown: a whole-request 400 on the object form (nothing applied) means an
                # older server that wants the bare array.
                if form is not None or err.status != 400 or err.maybe_applied:
                    raise
                data = self._api('POST', path, body=body_of(batch, 'array'), idempotent=False)[0]
            failures = self.item_failures(batch, data)
            if verb != 'reset':
                for mid, why in failures.items():
                    if 'session' in why.msg.lower():
                        failures[mid] = Failure(why.msg + SESSIONS_HINT, unknown=why.unknown)
            return failures

        # Horizon answers per id: a whole-request refusal is not split (it is not caused by one id).
        return base.run_batches(ids, call, self.action_batch_size, split_statuses=()), []

    def get_job(self, job_id):
        raise NotImplementedError('Horizon machine actions have no jobs.')

    # ------------------------------------------------------------------ sessions
    def _session_filters(self, desktops):
        """Filters that cover the sessions of ``desktops`` with the fewest requests.

        By machine: one request per :attr:`filter_chunk` machines (a machine has at most one desktop
        session, so such a request never needs a second page). By pool: one request per chunk of
        pools, plus a page per 1000 sessions of those pools, priced with the pool sizes learnt from an
        earlier listing of the whole pool, or else with the number of given desktops of the pool.
        """
        machine_ids = unique(d['id'] for d in desktops)
        by_machine = [or_filter('machine_id', c) for c in chunks(machine_ids, self.filter_chunk)]
        if any(not d.get('pool') for d in desktops):
            return by_machine
        given = {}
        for d in desktops:
            given[d['pool']] = given.get(d['pool'], 0) + 1
        cost = 0
        pool_chunks = chunks(list(given), self.filter_chunk)
        for chunk in pool_chunks:
            size = sum(max(given[p], self._pool_sizes.get(p, 0)) for p in chunk)
            cost += max(1, -(-size // self.list_page_size))
        if cost < len(by_machine):
            return [or_filter('desktop_pool_id', c) for c in pool_chunks]
        return by_machine

    def _session(self, raw, desktop):
        user_id = raw.get('user_id')
        name = raw.get('user_name')
        if name and raw.get('domain_name') and '\\' not in name and '@' not in name:
            name = '%s\\%s' % (raw['domain_name'], name)
        rec = base.session(
            session_id=raw.get('id'),
            desktop_id=raw.get('machine_id'),
            desktop_name=desktop.get('name'),
            pool=raw.get('desktop_pool_id') or desktop.get('pool'),
            user=name or user_id,
            state=SESSION_STATE_MAP.get(raw.get('session_state'), 'unknown'),
            start_time=iso_utc(raw.get('start_time')),
            raw=raw,
        )
        rec['user_id'] = user_id
        return rec

    def list_sessions(self, desktops, pool_ids=None, fresh=False):
        """Sessions of the given machines from ``/inventory/v1/sessions`` (pages of 1000).

        The filters come from the machines themselves (by pool where that takes fewer pages), so
        ``pool_ids`` adds nothing; machine records carry no session, so ``fresh`` changes nothing.
        """
        by_id = dict((d['id'], d) for d in desktops if d.get('id'))
        if not by_id:
            return []
        out = []
        seen = set()
        for flt in self._session_filters(list(by_id.values())):
            for raw in self._paged(SESSIONS_PATH, flt):
                sid = raw.get('id')
                desktop = by_id.get(raw.get('machine_id'))
                if desktop is None or not sid or sid in seen:
                    continue
                seen.add(sid)
                out.append(self._session(raw, desktop))
        return out

    def send_message(self, sessions, message, message_type='info', title=None, options=None):
        """``sessions/action/send-message`` with every session id (up to :data:`SESSION_BATCH` per call).

        ``title`` is not supported by Horizon and ignored. Never re-sent on a 5xx or a lost answer.
        """
        kind = str(message_type or 'info').upper()
        if kind not in MESSAGE_TYPES:
            raise ConfigError('message_type %r is not one Horizon takes (%s).' % (message_type, ', '.join(MESSAGE_TYPES)))
        ids = unique(s['session_id'] for s in sessions if s.get('session_id'))

        def call(batch):
            body = {'message': message, 'message_type': kind, 'session_ids': batch}
            data = self._api('POST', SESSIONS_PATH + '/action/send-message', body=body, idempotent=False)[0]
            return self.item_failures(batch, data, what='session')

        failures = base.run_batches(ids, call, SESSION_BATCH, split_statuses=())
        return dict((i, failures.get(i)) for i in ids)

    def check_logoff_options(self, force=False, message=None):
        if message:
            raise ConfigError(LOGOFF_MESSAGE_HINT)

    def logoff(self, sessions, force=False, message=None):
        """``sessions/action/logoff?forced=...`` with every session id (up to :data:`SESSION_BATCH` per call)."""
        self.check_logoff_options(force, message)
        ids = unique(s['session_id'] for s in sessions if s.get('session_id'))

        def call(batch):
            data = self._api('POST', SESSIONS_PATH + '/action/logoff', query={'forced': bool(force)}, body=batch,
                             idempotent=False)[0]
            return self.item_failures(batch, data, what='session')

        failures = base.run_batches(ids, call, SESSION_BATCH, split_statuses=())
        return dict((i, failures.get(i)) for i in ids)

    # ------------------------------------------------------------------ image rollout (instant-clone push image)
    image_rollout = ('pool', 'desktops')
    image_format = IMAGE_FORMAT
    rollout_logoff_policies = ('wait', 'force')
    rollout_start_time = True
    command_unsupported = NO_COMMANDS

    def parse_image(self, image):
        """``VM/SNAPSHOT`` or ``im:STREAM/TAG``, split at the first ``/`` (vCenter ids have none)."""
        text = base.ProviderAdapter.parse_image(self, image)
        head, _sep, tail = text.partition('/')
        name = head[len(IMAGE_STREAM_PREFIX):] if head.startswith(IMAGE_STREAM_PREFIX) else head
        if not name or not tail:
            raise ConfigError('image %r is not %s.' % (image, IMAGE_FORMAT))
        return text

    @staticmethod
    def _image_fields(image):
        head, _sep, tail = image.partition('/')
        if head.startswith(IMAGE_STREAM_PREFIX):
            return {'im_stream_id': head[len(IMAGE_STREAM_PREFIX):], 'im_tag_id': tail}
        return {'parent_vm_id': head, 'snapshot_id': tail}

    @staticmethod
    def pool_images(info):
        """``(current, pending, pending state, operation)`` of a DesktopPoolInfoV2 record, images as parse_image."""
        prov = info.get('provisioning_settings') or {}
        status = info.get('provisioning_status_data') or {}
        current = _image_of(prov.get('parent_vm_id'), prov.get('base_snapshot_id'), prov.get('im_stream_id'),
                            prov.get('im_tag_id'))
        pending = _image_of(status.get('instant_clone_pending_image_parent_vm_id'),
                            status.get('instant_clone_pending_image_snapshot_id'),
                            status.get('instant_clone_pending_im_stream_id'),
                            status.get('instant_clone_pending_im_tag_id'))
        return current, pending, status.get('instant_clone_pending_image_state'), status.get('instant_clone_operation')

    def _read_pool(self, pool_id):
        return self._api('GET', POOLS_V2_PATH % pool_id)[0] or {}

    def prepare_rollout(self, image, desktops, pool=None, options=None):
        """Read every pool involved (v2): instant clone, and no other image operation or pending image on it."""
        image = self.parse_image(image)
        pool_ids = [pool['id']] if pool else unique(d['pool'] for d in desktops if d.get('pool'))
        pools = {}
        for pool_id in pool_ids:
            info = self._read_pool(pool_id)
            name = info.get('name') or pool_id
            if (info.get('type'), info.get('source')) != PUSH_POOL:
                raise ConfigError('Pool %s is a %s %s pool: Horizon pushes images to automated instant-clone pools '
                                  'only. Recompose other pools in the console, or patch them in the guest.'
                                  % (name, info.get('type'), info.get('source')))
            current, pending, state, operation = self.pool_images(info)
            if pending and (pending != image or state not in PENDING_HELD):
                raise ConfigError('Pool %s holds pending image %s (%s). Promote it, or cancel it '
                                  '(cancel-scheduled-push-image), before rolling out %s.' % (name, pending, state, image))
            if operation not in (None, 'NONE') and not pending:
                raise ConfigError('Pool %s is busy with operation %s; try again once it ended.' % (name, operation))
            pools[pool_id] = info
        return {'image': image, 'pool': pool, 'pools': pools, 'options': dict(options or {}),
                'pool_image': self.pool_images(pools[pool['id']])[0] if pool else None,
                'pool_of': dict((d['id'], d.get('pool')) for d in desktops)}

    def read_images(self, desktops, pool_id=None, fresh=False):
        """The base image of each machine (ManagedMachineDataV2), from the listing itself when it is fresh."""
        wanted = set(d['id'] for d in desktops)
        if fresh and all(isinstance(d.get('raw'), dict) for d in desktops):
            records = desktops
        elif pool_id and self._cheaper_by_pool(pool_id, len(wanted)):
            records = self.list_desktops(pool_ids=[pool_id])
        else:
            records = self.list_desktops(desktop_ids=list(wanted)) if wanted else []
        return dict((d['id'], _machine_image(d['raw'])) for d in records if d['id'] in wanted)

    def _cheaper_by_pool(self, pool_id, count):
        """Whether listing the pool takes fewer requests than asking for ``count`` machines by id."""
        by_id = -(-count // self.filter_chunk)
        by_pool = -(-self._pool_sizes.get(pool_id, count) // self.list_page_size)
        return by_pool < by_id

    def _push_body(self, ctx, machine_ids=None):
        opts = ctx.get('options') or {}
        policy = LOGOFF_POLICY_NAMES[opts.get('logoff_policy') or 'wait']
        body = dict(self._image_fields(ctx['image']), logoff_policy=policy,
                    stop_on_first_error=bool(ctx.get('stop_on_failure', True)))
        if opts.get('start_time') is not None:
            body['start_time'] = opts['start_time']
        if machine_ids is not None:
            body.update(selective_push_image=True, machine_ids=list(machine_ids))
        return body

    def rollout(self, ctx, desktop_ids, stage):
        """Per pool: push (selective for a canary or selected machines), promote a held image, or apply it.

        * whole pool, rest: promote-pending-image when the image is held after a canary, else schedule-push-image;
        * canary or selected machines: apply-image (``pending_image``) when the pool holds or runs the image, else a
          selective schedule-push-image to those machines (the image is then held pending on the pool).
        """
        by_pool = {}
        for i in unique(desktop_ids):
            by_pool.setdefault(ctx['pool_of'].get(i), []).append(i)
        if stage == 'rest' and ctx.get('pool'):
            by_pool.setdefault(ctx['pool']['id'], [])
        failures, not_sent, jobs = {}, [], []
        for pool_id, ids in by_pool.items():
            if failures and ctx.get('stop_on_failure', True):
                not_sent.extend(ids)
                failures.update((i, Failure(base.StopAfterFailure.NOT_SENT)) for i in ids)
                continue
            failed, job = self._rollout_pool(ctx, pool_id, ids, stage == 'rest' and bool(ctx.get('pool')))
            failures.update(failed)
            if job:
                jobs.append(job)
        return failures, not_sent, jobs

    def _rollout_pool(self, ctx, pool_id, ids, whole):
        """One pool's call; ``(failures, job or None)``. A job is followed through the pool's image state."""
        current, pending, _state, _op = self.pool_images(ctx['pools'][pool_id])
        image = ctx['image']
        job = {'pool': pool_id, 'status': 'pending', 'message': None, 'desktops': ids}
        try:
            if whole and pending == image:
                self._api('POST', POOL_ACTION_PATH % (pool_id, 'promote-pending-image'), idempotent=False)
                return {}, dict(job, id='promote-pending-image %s' % pool_id, action='promote-pending-image',
                                scope='pool')
            if whole and current != image:
                data = self._api('POST', PUSH_IMAGE_PATH % pool_id, body=self._push_body(ctx), idempotent=False)[0]
                bad = list(self.item_failures([pool_id], data, what='pool').values()) if data else []
                if bad and not bad[0].unknown:
                    return dict.fromkeys(ids, bad[0]), None
                return {}, dict(job, id='schedule-push-image %s' % pool_id, action='schedule-push-image', scope='pool')
            if not ids:
                return {}, None
            if image in (pending, current):
                data = self._api('POST', POOL_ACTION_PATH % (pool_id, 'apply-image'), body=ids,
                                 query={'pending_image': image == pending}, idempotent=False)[0]
                return self.item_failures(ids, data), None
            data = self._api('POST', PUSH_IMAGE_PATH % pool_id, body=self._push_body(ctx, ids), idempotent=False)[0]
        except CALL_ERRORS as err:
            return dict.fromkeys(ids, Failure.of(err)), None
        return self.item_failures(ids, data), dict(job, id='selective schedule-push-image %s' % pool_id,
                                                   action='schedule-push-image (selective)', scope='desktops')

    def rollout_progress(self, ctx, job):
        """The pool's image state (DesktopPoolInfoV2): publishing, failed, held, or pushed to the pool."""
        info = self._read_pool(job['pool'])
        ctx['pools'][job['pool']] = info
        ctx.setdefault('pool_read', {})[job['pool']] = job
        current, pending, state, operation = self.pool_images(info)
        error = (info.get('provisioning_status_data') or {}).get('instant_clone_pending_image_error')
        out = {'status': 'pending', 'message': None, 'failures': {}}
        if state == 'FAILED' or (error and pending == ctx['image']):
            out.update(status='failed', message='the pending image failed: %s' % (error or 'no reason given'))
        elif job['scope'] == 'desktops' and pending == ctx['image'] and state in PENDING_HELD:
            out['status'] = 'success'
        elif job['scope'] == 'pool' and current == ctx['image'] and operation in (None, 'NONE'):
            out['status'] = 'success'
        return out

    def pool_image(self, ctx):
        """The pool's image: as read when its last pool operation was seen to end, else read now."""
        if not ctx.get('pool'):
            return None
        pool_id = ctx['pool']['id']
        job = (ctx.get('pool_read') or {}).get(pool_id)
        if job is not None and job['scope'] == 'pool' and job['status'] != 'pending':
            return self.pool_images(ctx['pools'][pool_id])[0]
        return self.pool_images(self._read_pool(pool_id))[0]


def _image_of(vm, snapshot, stream=None, tag=None):
    """An image as :meth:`HorizonAdapter.parse_image` writes it, or None."""
    if stream and tag:
        return '%s%s/%s' % (IMAGE_STREAM_PREFIX, stream, tag)
    if vm and snapshot:
        return '%s/%s' % (vm, snapshot)
    return None


def _machine_image(raw):
    """``{'image', 'busy', 'error'}`` of a MachineInfoV2 record."""
    mmd = raw.get('managed_machine_data') or {}
    state = raw.get('state')
    operation = mmd.get('operation_state')
    failed = state in MACHINE_FAILED_STATES or operation == 'FAULT'
    pushing = mmd.get('operation') == 'PUSH_IMAGE' and operation in MACHINE_BUSY_OPERATION
    error = None
    if failed:
        error = 'machine %s: %s' % (state if state in MACHINE_FAILED_STATES else 'push image FAULT',
                                    mmd.get('clone_error_message') or 'no reason given')
    return {'image': _image_of(mmd.get('base_vm_id'), mmd.get('base_vm_snapshot_id'),
                               mmd.get('image_management_stream_id'), mmd.get('image_management_tag_id')),
            'busy': state in TRANSIENT_STATES or pushing, 'error': error}
