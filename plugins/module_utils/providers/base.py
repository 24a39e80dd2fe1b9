# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provider-neutral interface that every adapter implements.

Modules and the service layer see only what is defined here: normalized desktops and
pools, per-id outcomes of batch calls, and :mod:`errors` exceptions. HTTP, signing,
paging and vendor field names stay inside the adapters.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ApiError, AuthError, TransportError
from ansible_collections.vdi.fleet.plugins.module_utils.transport import HttpClient, RetryPolicy, chunks

# One power vocabulary for every provider.
POWERED_ON = 'powered_on'
POWERED_OFF = 'powered_off'
SUSPENDED = 'suspended'
TRANSITIONING = 'transitioning'
UNKNOWN = 'unknown'
POWER_STATES = (POWERED_ON, POWERED_OFF, SUSPENDED, TRANSITIONING, UNKNOWN)


def desktop(id, name, pool, maintenance, power_state, sessions, raw, pool_name=None, address=None, users=None):
    """Build a normalized desktop record.

    ``maintenance`` is a bool (None only if the provider gives no way to tell), ``power_state``
    one of :data:`POWER_STATES`, ``sessions`` the number of user sessions (connected or
    disconnected) on the desktop, ``raw`` the vendor record as received.
    """
    return {
        'id': id,
        'name': name,
        'pool': pool,
        'pool_name': pool_name,
        'maintenance': maintenance,
        'power_state': power_state if power_state in POWER_STATES else UNKNOWN,
        'sessions': int(sessions or 0),
        'address': address,
        'users': list(users or []),
        'raw': raw,
    }


def pool(id, name, raw):
    return {'id': id, 'name': name, 'raw': raw}


class ProviderAdapter:
    """Interface of a provider adapter.

    Subclasses are built with the validated module options (``params``: the shared
    connection options) and must implement every method below. Batch methods take any
    number of ids and split them to the API's limits themselves; they return a dict
    ``{desktop_id: error message}`` holding only the ids that failed, so that one
    desktop's failure never hides the others' outcome. Whole-call failures that concern
    every id (auth, endpoint, throttling that outlived the retries) raise :mod:`errors`
    exceptions instead.
    """

    name = None
    #: the API's maximum page size for listing desktops
    list_page_size = 100
    #: the API's maximum number of ids per batch action
    action_batch_size = 100

    #: error statuses that reject a whole batch because of (some of) its ids, so that splitting
    #: the batch isolates the ids at fault (see :func:`isolate_failures`)
    item_reject_statuses = (400, 404, 409, 422)

    def __init__(self, params, policy=None):
        self.params = params
        self.endpoint = params.get('endpoint') or self.default_endpoint()
        self.http = HttpClient(self.endpoint, self.name, validate_certs=params.get('validate_certs', True),
                               ca_path=params.get('ca_path'), timeout=params.get('timeout') or 30,
                               policy=policy or RetryPolicy(), classify_error=self.classify_error)

    def default_endpoint(self):
        """Endpoint derived from other options (region), for providers that have one."""
        return None

    def classify_error(self, resp):
        """Turn a vendor error response into an :class:`ApiError` (vendor code, message, throttle flag)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle
    def close(self):
        """Release the session (Horizon logs out here). Never raises."""
        self.http.close()

    # ------------------------------------------------------------------ inventory
    def list_pools(self):
        """Every pool the credentials can see: list of :func:`pool` records."""
        raise NotImplementedError

    def list_desktops(self, pool_ids=None, desktop_ids=None):
        """Normalized desktops, paging to the end.

        ``pool_ids`` restricts to those pools, ``desktop_ids`` to those ids (ids that do not
        exist are simply absent from the answer); with neither, every desktop visible.
        """
        raise NotImplementedError

    def list_sessions(self, desktops, pool_ids=None, fresh=False):
        """User sessions on the given normalized desktops (list of :func:`session` records).

        ``desktops`` are records from :meth:`list_desktops`; adapters query in batches/pages,
        never one request per desktop where the API can filter on several. ``pool_ids``: pools
        whose every desktop is in ``desktops``, so that an adapter may list sessions per pool
        where that takes fewer requests. ``fresh``: the records were read just now, so that an
        adapter whose desktop records carry the session state may use them without a re-read.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ power
    #: power states a provider cannot reach through its API: {state: reason shown to the operator}
    unsupported_power = {}
    #: whether a suspended/hibernated desktop can be stopped directly (else it must be started first)
    stop_from_suspended = True
    #: whether resuming a suspended/hibernated desktop is its own operation (``wakeup``) rather than ``start``
    distinct_wakeup = False

    def power(self, desktop_ids, action, force=False):
        """Run ``action`` (``start``, ``stop``, ``restart``, ``hibernate``, ``wakeup``) on these ids, in batches.

        Returns ``(failures, jobs)``: ``{id: vendor message}`` for ids the provider refused
        outright, and the provider job ids to follow (may be empty).
        """
        raise NotImplementedError

    def pool_power(self, pool_id, action, force=False):
        """Run ``action`` on every desktop of a pool with one call, where the API has one.

        Returns a job id, or None when the provider has no pool-level action.
        """
        return None

    def get_job(self, job_id):
        """State of a provider job: ``{'id', 'status': pending|success|failed, 'message',
        'failures': {desktop_id: message}}``, sub-jobs included (paged where needed)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ sessions
    #: longest message text the provider takes (characters), checked before any request
    message_limit = 1024
    #: a note added to the result of every successful send (set by send_message, e.g. how delivery works)
    send_note = None
    #: whether the provider shows a message title (it then counts against message_limit)
    message_uses_title = False

    def check_message_options(self, options):
        """Raise ConfigError before any request when messages cannot be delivered with these options.

        ``options``: the module's provider-specific message options (e.g. ``alicloud_delivery``).
        """

    def send_message(self, sessions, message, message_type='info', title=None, options=None):
        """Send ``message`` to these normalized sessions with as few calls as the API allows.

        Returns ``{session_id: None or error message}`` covering every session given: a call
        that fails (throttled after the retries, refused) marks exactly the sessions it
        covered as failed. A send is never re-sent once it may have reached the server.
        """
        raise NotImplementedError

    def check_logoff_options(self, force=False, message=None):
        """Raise ConfigError before any request when the provider cannot log off with these options."""

    def logoff(self, sessions, force=False, message=None):
        """Log off these normalized sessions; ``{session_id: None or error message}`` for every one."""
        raise NotImplementedError

    # ------------------------------------------------------------------ maintenance
    def set_maintenance(self, desktop_ids, enabled, enforce=False):
        """Enter (``enabled``) or exit maintenance for these ids, in batches.

        Returns ``{id: vendor error message}`` for the ids the provider refused.
        """
        raise NotImplementedError


class CallFailure(str):
    """The failure message of an id whose whole call failed (server error, lost answer, throttling beyond the
    retries, connection error): the provider may or may not have applied it. The caller decides whether the
    operation is safe to send again after reading the state back (a maintenance flag is; a restart is not)."""


#: After this many whole-call failures in a row, the remaining batches are not sent.
CONSECUTIVE_CALL_FAILURES = 3


def isolate_failures(ids, call, batch_size, reject_statuses=(400, 404, 409, 422)):
    """Run ``call(batch)`` over ``ids`` in batches and return ``{id: message}`` of the ids that failed.

    For APIs without per-id results, where one bad id makes the provider refuse the whole
    call (a 4xx that is neither throttling nor an authentication error, so nothing was
    applied): the refused batch is split in halves until the ids at fault are isolated.
    The good ids still go through, at a cost of about ``2 * log2(batch_size)`` extra calls
    per bad id. ``call`` may itself return a ``{id: message}`` dict of per-id failures.

    A call that fails as a whole otherwise (5xx, lost answer, throttled beyond the retries,
    connection error) is never re-sent here: its ids get a :class:`CallFailure` message and the
    other batches still go, until :data:`CONSECUTIVE_CALL_FAILURES` calls in a row have failed;
    then the rest is not sent (also a :class:`CallFailure`). An authentication error is raised.
    """
    failures = {}
    pending = chunks(ids, batch_size)
    in_a_row = 0
    while pending:
        batch = pending.pop(0)
        try:
            result = call(batch)
        except AuthError:
            raise
        except (ApiError, TransportError) as err:
            rejected = isinstance(err, ApiError) and not err.throttle and not err.maybe_applied \
                and err.status in reject_statuses
            if not rejected:
                failures.update((i, CallFailure('the provider call failed and was not re-sent (%s)' % err.msg))
                                for i in batch)
                in_a_row += 1
                if in_a_row >= CONSECUTIVE_CALL_FAILURES:
                    rest = [i for b in pending for i in b]
                    failures.update((i, CallFailure('not sent: the last %d provider calls failed (%s)'
                                                    % (in_a_row, err.msg))) for i in rest)
                    return failures
                continue
            in_a_row = 0
            if len(batch) == 1:
                failures[batch[0]] = err.msg
                continue
            half = len(batch) // 2
            pending[0:0] = [batch[:half], batch[half:]]
            continue
        in_a_row = 0
        if result:
            failures.update(result)
    return failures


def session(session_id, desktop_id, desktop_name, pool, user, state, start_time, raw):
    """Build a normalized user session. ``state``: connected, disconnected or unknown; ``start_time``: ISO 8601 UTC."""
    return {
        'session_id': session_id,
        'desktop_id': desktop_id,
        'desktop_name': desktop_name,
        'pool': pool,
        'user': user,
        'state': state if state in ('connected', 'disconnected') else 'unknown',
        'start_time': start_time,
        'raw': raw,
    }
