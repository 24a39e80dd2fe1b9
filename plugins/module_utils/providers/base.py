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

from ansible_collections.vdi.fleet.plugins.module_utils.errors import (
    CALL_ERRORS, ITEM_REJECT_STATUSES, AuthError, ConfigError, Failure, as_failure, refused_before_applied)
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

    Subclasses are built with the resolved connection options (``params``), check the options
    their provider needs in ``__init__`` (before any request, :class:`errors.ConfigError`), and
    implement every method below. Batch methods take any number of ids and split them to the
    API's limits themselves (through :func:`run_batches`, the one batch policy); they return a
    dict ``{desktop_id: errors.Failure}`` holding only the ids that failed, so that one
    desktop's failure never hides the others' outcome. Refused credentials raise
    :class:`errors.AuthError` before anything is sent.

    What a provider can do is declared here as class attributes (its capabilities), so that
    the service and the patch-window engine ask the adapter, never the provider's name.
    """

    name = None
    #: the connection options this provider uses (besides provider, validate_certs, ca_path and timeout)
    connection_options = ()
    #: ``{option: (environment variable, ...)}``: the vendor's own variables, read after ``VDI_FLEET_<OPTION>``
    vendor_env = {}
    #: the API's maximum page size for listing desktops
    list_page_size = 100
    #: desktop ids one listing request can filter on (reading a few desktops of a big pool by id is cheaper)
    ids_per_listing = 100
    #: the API's maximum number of ids per batch action
    action_batch_size = 100

    def __init__(self, params, policy=None):
        self.params = params
        self.endpoint = params.get('endpoint') or self.default_endpoint()
        self.http = HttpClient(self.endpoint, self.name, validate_certs=params.get('validate_certs', True),
                               ca_path=params.get('ca_path'), timeout=params.get('timeout') or 30,
                               policy=policy or RetryPolicy(), classify_error=self.classify_error)

    @classmethod
    def require(cls, params, names):
        """Raise ConfigError naming the options of ``names`` that ``params`` lacks (before any request)."""
        missing = [n for n in names if not params.get(n)]
        if missing:
            raise ConfigError('Missing connection option(s) for provider %s: %s. Set them on the task, through '
                              'module_defaults (group/vdi.fleet.provider) or the VDI_FLEET_<OPTION> environment '
                              'variables.' % (cls.name, ', '.join(missing)))

    def default_endpoint(self):
        """Endpoint derived from other options (region), for providers that have one."""
        return None

    def classify_error(self, resp):
        """Turn a vendor error response into an :class:`ApiError` (vendor code, message, throttle flag)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle
    def learned(self):
        """What this adapter found out (pool names, a server's version...) that a later call of the same run need
        not ask again; JSON-serializable, never a secret. See :meth:`learn`."""
        names = getattr(self, '_pool_names', None)
        return {'pool_names': dict(names)} if names else {}

    def learn(self, facts):
        """Take what an earlier call of the same run found out (:meth:`learned`)."""
        if (facts or {}).get('pool_names'):
            self._pool_names = dict(facts['pool_names'])

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

        Returns ``(failures, jobs)``: ``{id: errors.Failure}`` for ids that failed outright, and the
        provider job ids to follow (may be empty).
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
    #: whether the provider shows a message title (it then counts against message_limit)
    message_uses_title = False
    #: the provider-specific message options this provider takes (module options of session_message)
    message_options = ()
    #: whether sessions can be logged off through the API, and whether a notice can be shown with the logoff
    logoff_supported = True
    logoff_message_supported = False
    #: whether maintenance can be enforced on machines held by another operation (Horizon ``enforce``)
    enforce_supported = False

    def check_message_options(self, options):
        """Raise ConfigError before any request when messages cannot be delivered with these options.

        ``options``: the module's provider-specific message options (e.g. ``alicloud_delivery``).
        """
        stray = sorted(k for k, v in (options or {}).items() if v not in (None, '') and k != 'whole_pool'
                       and k not in self.message_options)
        if stray:
            raise ConfigError('%s %s not used by provider %s; remove %s.' % (
                ', '.join(stray), 'is' if len(stray) == 1 else 'are', self.name, 'it' if len(stray) == 1 else 'them'))

    def check_provider_options(self, options, owners):
        """ConfigError naming the providers that take the message options this one does not (``owners``:
        ``{option: [providers that take it]}``), then :meth:`check_message_options`."""
        stray = sorted(k for k, v in (options or {}).items() if v not in (None, '') and k in owners
                       and k not in self.message_options)
        if stray:
            takers = sorted(set(p for k in stray for p in owners[k]))
            raise ConfigError('%s appl%s to provider %s only; remove %s for provider %s.' % (
                ' and '.join(stray), 'ies' if len(stray) == 1 else 'y', ', '.join(takers),
                'it' if len(stray) == 1 else 'them', self.name))
        self.check_message_options(options)

    def delivery_note(self, options):
        """What a successful send means with these options, when it is not simply "delivered" (or None)."""
        return None

    def send_message(self, sessions, message, message_type='info', title=None, options=None):
        """Send ``message`` to these normalized sessions with as few calls as the API allows.

        Returns ``{session_id: None or errors.Failure}`` covering every session given: a call
        that fails (throttled after the retries, refused) marks exactly the sessions it
        covered as failed. A send is never re-sent once it may have reached the server.
        """
        raise NotImplementedError

    def check_logoff_options(self, force=False, message=None):
        """Raise ConfigError before any request when the provider cannot log off with these options."""

    def logoff(self, sessions, force=False, message=None):
        """Log off these normalized sessions; ``{session_id: None or errors.Failure}`` for every one."""
        raise NotImplementedError

    # ------------------------------------------------------------------ maintenance
    def set_maintenance(self, desktop_ids, enabled, enforce=False):
        """Enter (``enabled``) or exit maintenance for these ids, in batches.

        Returns ``{id: errors.Failure}`` for the ids that failed.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ image rollout (patching.rollout_image)
    #: where an image can be rolled out: ``'pool'`` (a whole pool, whose own image changes too) and/or
    #: ``'desktops'`` (selected desktops); empty when the provider cannot roll out images
    image_rollout = ()
    #: why the provider cannot roll out an image (shown before any request), when ``image_rollout`` is empty
    image_unsupported = None
    #: how ``image`` is written for this provider (for messages and docs)
    image_format = 'an image id'
    #: the logoff policies of a rollout: ``'wait'`` (a desktop with a user waits for the logoff) and/or ``'force'``
    rollout_logoff_policies = ()
    #: why a policy is not available, by policy (shown before any request)
    rollout_logoff_hint = {}
    #: longest notice text shown to the users before their desktop is rebuilt; 0: the provider shows none
    rollout_notice = 0
    #: ``(least, most)`` minutes of grace users get before the rebuild, or None when the provider has none
    rollout_grace = None
    #: whether a rollout can be scheduled for a later start time
    rollout_start_time = False

    def parse_image(self, image):
        """The image in the form :meth:`read_images` reports it (ConfigError when ``image`` is malformed)."""
        image = (image or '').strip()
        if not image:
            raise ConfigError('image is empty; give %s.' % self.image_format)
        return image

    def listed_pool_image(self, pool):
        """The image of a pool record as listed (``pool['raw']``), or None where the listing does not carry it."""
        return None

    def prepare_rollout(self, image, desktops, pool=None, options=None):
        """Read what a rollout of ``image`` needs (no write) and return its context (a dict).

        ``desktops``: the selected normalized desktops; ``pool``: the pool record when the whole pool is selected.
        Raises ConfigError when the provider cannot do this rollout (for example a pool of the wrong kind).
        The context holds at least ``image`` (as :meth:`parse_image` gives it), ``pool`` and ``pool_image`` (the
        pool's own image, None when no whole pool is selected).
        """
        raise NotImplementedError

    def read_images(self, desktops, pool_id=None, fresh=False):
        """``{desktop_id: {'image', 'busy', 'error'}}`` of these normalized desktops, read from the provider.

        ``busy``: an operation (a rebuild) is running on the desktop; ``error``: the provider reports the desktop
        failed (its reason), else None. ``pool_id``: every desktop is in that pool, so that the adapter may list
        the pool where that takes fewer requests. ``fresh``: the records were listed just now, so that an adapter
        whose listing carries the image may use them without a request.
        """
        raise NotImplementedError

    def rollout(self, ctx, desktop_ids, stage):
        """Roll ``ctx['image']`` out to these ids; ``stage`` is ``'canary'`` or ``'rest'``.

        For the ``rest`` of a whole pool (``ctx['pool']`` set) the pool's own image changes too. Returns
        ``(failures, not_sent, jobs)``: ``{id: errors.Failure}``, the ids not sent because an earlier call failed
        (``ctx['stop_on_failure']``), and the provider operations to follow (dicts with ``id``, ``action``,
        ``scope``, ``status``, ``message`` and the ``desktops`` they cover).
        """
        raise NotImplementedError

    def rollout_progress(self, ctx, job):
        """The state of a rollout operation: ``{'status': pending|success|failed, 'message', 'failures'}``."""
        return self.get_job(job['id'])

    def pool_image(self, ctx):
        """The image of ``ctx['pool']`` read back from the provider (None when no whole pool is selected)."""
        return None

    # ------------------------------------------------------------------ in-guest commands (patching.run_commands)
    #: the command types the provider's agent runs (of ``powershell``, ``bat``, ``shell``); empty: none
    command_types = ()
    #: why the provider cannot run commands in the guest (shown before any request), when command_types is empty
    command_unsupported = None
    #: whether scripts stored at the provider can be run by id (``script_ids``)
    stored_scripts = False
    #: why stored scripts are not available (shown before any request)
    stored_scripts_hint = None
    #: whether one call runs a first batch (canary) and stops the rest after a failure threshold by itself
    command_gray = False
    #: the most desktops one command call takes (a whole pool counts as one call where ``command_pool`` is true)
    command_batch = 100
    #: whether a whole pool can be given to one command call
    command_pool = False
    #: ``(least, most)`` command timeout in seconds the provider takes
    command_timeout_range = (1, 86400)

    def check_command(self, command=None, command_type=None, script_ids=None):
        """Raise ConfigError before any request when this command cannot be sent (length, encoding)."""

    def start_commands(self, request, desktop_ids, gray_ids=None, threshold=None, pool_id=None):
        """Send the command ``request`` (``command``, ``command_type``, ``script_ids``, ``timeout`` in seconds).

        ``gray_ids``/``threshold``: the provider's own canary (only where :attr:`command_gray`); ``pool_id``:
        every desktop of that pool is targeted (only where :attr:`command_pool`). Returns ``(failures, tasks)``:
        ``{id: errors.Failure}`` of the desktops whose call failed (never re-sent once it may have reached the
        provider) and the provider tasks to read the results from.
        """
        raise NotImplementedError

    def command_results(self, tasks, timeout, output_limit):
        """Follow ``tasks`` with backoff for up to ``timeout`` seconds; the result of each desktop.

        ``{desktop_id: {'status', 'exit_code', 'output', 'message', 'ran', 'gray'}}`` where ``status`` is one of
        :data:`COMMAND_STATUSES`; ``output`` is None when ``output_limit`` is 0 (no output is asked for).
        """
        raise NotImplementedError

    def secret_values(self):
        """The connection's own secrets, which no result may show."""
        return [v for v in (self.params.get(k) for k in ('password', 'secret_key', 'security_token')) if v]


#: normalized per-desktop statuses of an in-guest command
COMMAND_STATUSES = ('success', 'failed', 'timeout', 'error', 'skipped', 'running', 'unknown')


class StopAfterFailure:
    """A ``run_batches`` call that sends no further batch once one batch had a failure (``stop_on_failure``).

    The ids of the batches not sent are in :attr:`not_sent` (their failure says so); run ``run_batches`` with
    ``split_statuses=()`` so that a refused batch is not split into further calls.
    """

    NOT_SENT = 'not sent: an earlier call failed (stop_on_failure)'

    def __init__(self, call, enabled=True):
        self.call = call
        self.enabled = enabled
        self.stopped = False
        self.not_sent = []

    def __call__(self, batch):
        if self.stopped:
            self.not_sent.extend(batch)
            return dict.fromkeys(batch, Failure(self.NOT_SENT))
        try:
            result = self.call(batch)
        except CALL_ERRORS:
            self.stopped = self.enabled
            raise
        if any(why is not None for why in (result or {}).values()):
            self.stopped = self.enabled
        return result


#: After this many whole-call failures in a row, the remaining batches are not sent: the provider is failing,
#: and every further write would only add to what is unknown.
CONSECUTIVE_CALL_FAILURES = 3


def run_batches(ids, call, batch_size, split_statuses=ITEM_REJECT_STATUSES):
    """Run ``call(batch)`` over ``ids`` in batches and return ``{id: Failure}`` of the ids that failed.

    The one batch policy of every adapter:

    * ``call`` returns the per-id refusals of its batch (``{id: text or Failure}``) or nothing.
    * A call the provider refused as a whole before applying anything (a 4xx in ``split_statuses``, see
      :func:`errors.refused_before_applied`) is split in halves until the ids at fault are isolated, for
      APIs where one bad id makes the provider refuse the whole call: the good ids still go through, at a
      cost of about ``2 * log2(batch_size)`` extra calls per bad id. With no ``split_statuses`` (APIs that
      answer per id), such a refusal refuses the batch's ids.
    * A call that got no usable answer (5xx, lost answer, throttled beyond the retries, connection error)
      is never re-sent here: its ids fail with ``unknown`` set, and the other batches still go, until
      :data:`CONSECUTIVE_CALL_FAILURES` calls in a row have failed; then the rest is not sent (also
      ``unknown``: the caller may ask again once it has read the state back).
    * Refused credentials are raised while no call has gone through (nothing changed: one message for
      the task); after that they fail the batch and the rest (not sent), so that what went through is
      still reported per id.
    """
    failures = {}
    pending = chunks(ids, batch_size)
    in_a_row = 0
    went_through = False
    while pending:
        batch = pending.pop(0)
        try:
            result = call(batch)
        except AuthError as err:
            if not went_through:
                raise
            rest = batch + [i for b in pending for i in b]
            failures.update((i, Failure('not sent: %s' % err.msg)) for i in rest)
            return failures
        except CALL_ERRORS as err:
            if refused_before_applied(err, split_statuses) and len(batch) > 1:
                half = len(batch) // 2
                pending[0:0] = [batch[:half], batch[half:]]
                in_a_row = 0
                continue
            failure = Failure.of(err)
            failures.update((i, failure) for i in batch)
            if not failure.unknown:
                in_a_row = 0
                continue
            in_a_row += 1
            if in_a_row >= CONSECUTIVE_CALL_FAILURES:
                rest = [i for b in pending for i in b]
                failures.update((i, Failure('not sent: the last %d provider calls failed (%s)' % (in_a_row, err.msg),
                                            unknown=True)) for i in rest)
                return failures
            continue
        in_a_row = 0
        went_through = True
        for i, why in (result or {}).items():
            if why is not None:
                failures[i] = as_failure(why)
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
