# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provider-neutral service: selection of desktops, idempotent changes, per-desktop results.

What "changed" means lives here, once: read the current state, act only on the desktops
that differ, read the result back from the provider, and report every selected desktop
exactly once with ``changed``, ``failed``, ``outcome``, ``msg``, ``before`` and ``after``.

``outcome`` is the one structured vocabulary of a desktop's (or session's) result:

* ``done``: the change was made and read back (or, in check mode, would be made);
* ``unchanged``: nothing to do;
* ``refused``: the provider answered with a failure (a refusal, a failed job, or the desktop did not
  reach the target within the wait);
* ``unknown``: no usable answer came back (server error, lost connection, throttling beyond the
  retries): the provider may or may not have acted; asking again is for the caller to decide;
* ``skipped``: not attempted, by policy or because the provider cannot do it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vdi.fleet.plugins.module_utils.errors import CALL_ERRORS, ConfigError, Failure, as_failure
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import (
    POWERED_OFF, POWERED_ON, SUSPENDED, TRANSITIONING)
from ansible_collections.vdi.fleet.plugins.module_utils.transport import Poller, unique

DONE = 'done'
UNCHANGED = 'unchanged'
REFUSED = 'refused'
UNKNOWN = 'unknown'
SKIPPED = 'skipped'
OUTCOMES = (DONE, UNCHANGED, REFUSED, UNKNOWN, SKIPPED)


class Selection:
    """Result of resolving ``desktops``/``pool`` against the provider.

    ``desktops``: normalized desktops in selection order, each once. ``missing``: entries of
    ``desktops`` that matched nothing (or matched several desktops by name), as
    ``(entry, message)``. ``scope``: keyword arguments for ``adapter.list_desktops`` that
    re-read exactly these desktops with the fewest requests.
    """

    def __init__(self, desktops, missing, scope, pool=None, whole_pool=False):
        self.desktops = desktops
        self.missing = missing
        self.scope = scope
        self.pool = pool
        self.whole_pool = whole_pool


def selection_entries(entries):
    """The entries of a selection list, stripped, each once; ConfigError when only empty ones were given."""
    out = unique(e for e in (str(x).strip() for x in entries or []) if e)
    if entries and not out:
        raise ConfigError('The selection has only empty entries; give desktop ids or names.')
    return out


def resolve_pool(adapter, pool, pools=None):
    """Find a pool by id or exact name; ConfigError naming some known pools when there is none."""
    pools = adapter.list_pools() if pools is None else pools
    by_id = [p for p in pools if p['id'] == pool]
    if by_id:
        return by_id[0]
    by_name = [p for p in pools if p['name'] == pool]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise ConfigError('Pool name %r matches %d pools (%s). Give the pool id instead.'
                          % (pool, len(by_name), ', '.join(p['id'] for p in by_name)))
    known = ', '.join(sorted(p['name'] for p in pools)[:10]) or 'none'
    raise ConfigError('Pool %r not found by id or name with these credentials. Pools visible: %s%s.'
                      % (pool, known, ', ...' if len(pools) > 10 else ''))


def select(adapter, desktops=None, pool=None, allow_all=False):
    """Resolve the selection with as few listing requests as the provider needs.

    * ``pool``: one listing of that pool; ``desktops`` (if also given) must be in it.
    * ``desktops`` only: first a lookup by id; entries that are not ids are taken as exact
      names and matched against one listing of everything visible.
    * neither: every desktop visible when ``allow_all``, else ConfigError.
    """
    entries = selection_entries(desktops)
    if not entries and not pool:
        if not allow_all:
            raise ConfigError('Select desktops with desktops (ids or names), pool (id or name), or both.')
        return Selection(adapter.list_desktops(), [], {})
    pool_rec = None
    if pool:
        pool_rec = resolve_pool(adapter, pool)
        scope = {'pool_ids': [pool_rec['id']]}
        candidates = adapter.list_desktops(**scope)
        for d in candidates:
            d['pool_name'] = d.get('pool_name') or pool_rec['name']
        if not entries:
            return Selection(candidates, [], scope, pool_rec, whole_pool=True)
        where = ' in pool %s' % pool_rec['name']
    else:
        candidates = adapter.list_desktops(desktop_ids=entries)
        found_ids = set(d['id'] for d in candidates)
        if all(e in found_ids for e in entries):
            by_id = dict((d['id'], d) for d in candidates)
            return Selection([by_id[e] for e in entries], [], {'desktop_ids': entries})
        candidates = candidates + [d for d in adapter.list_desktops() if d['id'] not in found_ids]
        where = ''
    chosen, missing = match_entries(candidates, entries, where)
    scope = {'pool_ids': [pool_rec['id']]} if pool_rec else {'desktop_ids': [d['id'] for d in chosen]}
    return Selection(chosen, missing, scope, pool_rec)


def match_entries(candidates, entries, where=''):
    """Match selection entries (ids, else exact names) against desktop records.

    Returns ``(chosen desktops, each once, in entry order; [(entry, why it matched nothing)])``.
    """
    by_id = dict((d['id'], d) for d in candidates)
    by_name = {}
    for d in candidates:
        by_name.setdefault(d['name'], []).append(d)
    chosen, missing, seen = [], [], set()
    for entry in entries:
        match = by_id.get(entry)
        named = by_name.get(entry, [])
        if match is None and len(named) > 1:
            missing.append((entry, 'name %r matches %d desktops%s (%s); give the id instead.'
                            % (entry, len(named), where, ', '.join(d['id'] for d in named))))
            continue
        match = match or (named[0] if named else None)
        if match is None:
            missing.append((entry, 'no desktop with id or name %r%s.' % (entry, where)))
        elif match['id'] not in seen:
            seen.add(match['id'])
            chosen.append(match)
    return chosen, missing


def reread(adapter, selection, ids):
    """Read back the given desktops: the selection's scope when it is a pool, else by id."""
    ids = list(ids)
    if not ids:
        return {}
    if selection.scope.get('pool_ids'):
        found = adapter.list_desktops(pool_ids=selection.scope['pool_ids'])
    else:
        found = adapter.list_desktops(desktop_ids=ids)
    wanted = set(ids)
    return dict((d['id'], d) for d in found if d['id'] in wanted)


def outcome_of(changed, failed, failure=None, skipped=False):
    """The ``outcome`` of a result entry (see the module docstring)."""
    if skipped:
        return SKIPPED
    if failed:
        return UNKNOWN if isinstance(failure, Failure) and failure.unknown else REFUSED
    return DONE if changed else UNCHANGED


def result_entry(desktop, changed, failed, msg, before, after, failure=None, outcome=None):
    return {
        'id': desktop.get('id'),
        'name': desktop.get('name'),
        'pool': desktop.get('pool'),
        'changed': bool(changed),
        'failed': bool(failed),
        'outcome': outcome or outcome_of(changed, failed, failure),
        'msg': msg,
        'before': before,
        'after': after,
    }


def missing_entries(selection):
    return [result_entry({'id': None, 'name': entry, 'pool': None}, False, True, msg, None, None)
            for entry, msg in selection.missing]


def summarize(entries):
    return {
        'total': len(entries),
        'changed': sum(1 for e in entries if e['changed']),
        'unchanged': sum(1 for e in entries if not e['changed'] and not e['failed']),
        'failed': sum(1 for e in entries if e['failed']),
    }


def failure_msg(failure, verb):
    """How a failed desktop's message reads: the provider refused it, or the call's outcome is not known."""
    return '%s %s: %s' % ('could not' if failure.unknown else 'provider refused to', verb, failure.msg)


# ---------------------------------------------------------------------------------------------- maintenance

#: Maintenance calls per desktop at most: a flag is safe to set again once it has been read back.
MAINTENANCE_ATTEMPTS = 3


def ensure_maintenance(adapter, selection, enabled, check_mode=False, enforce=False, settle_timeout=120,
                       poller=None):
    """Put the selected desktops into (``enabled``) or out of maintenance.

    Only desktops whose current flag differs are sent to the provider; the outcome is read
    back from the provider (polling with backoff for up to ``settle_timeout`` seconds when a
    provider applies the change asynchronously). Returns the per-desktop result entries.
    """
    verb = '%s maintenance' % ('enter' if enabled else 'exit')
    todo = [d for d in selection.desktops if d['maintenance'] is not enabled]
    results = {}
    for d in selection.desktops:
        if d['maintenance'] is enabled:
            flag = {'maintenance': d['maintenance']}
            results[d['id']] = result_entry(d, False, False, 'already %s maintenance' % ('in' if enabled else 'out of'),
                                            flag, flag)
    if check_mode:
        for d in todo:
            results[d['id']] = result_entry(d, True, False, 'would %s (check mode)' % verb,
                                            {'maintenance': d['maintenance']}, {'maintenance': enabled})
    elif todo:
        ids = [d['id'] for d in todo]
        failures, current = _set_maintenance_converging(adapter, selection, ids, enabled, enforce)
        late = [i for i in ids if i not in failures and current.get(i, {}).get('maintenance') is not enabled]
        if late:
            current.update(_settle(adapter, selection, late, lambda d: d['maintenance'] is enabled,
                                   poller or Poller(settle_timeout, initial=1.0, cap=10.0)))
        for d in todo:
            results[d['id']] = _maintenance_entry(d, current.get(d['id']), failures.get(d['id']), enabled, verb,
                                                  settle_timeout)
    return [results[d['id']] for d in selection.desktops] + missing_entries(selection)


def _settle(adapter, selection, ids, arrived, poller):
    """Re-read ``ids`` with backoff until every one satisfies ``arrived(record)``; the latest records by id."""
    late = list(ids)
    current = {}

    def settled():
        now = reread(adapter, selection, late)
        current.update(now)
        late[:] = [i for i in now if not arrived(now[i])]
        return not late

    poller.run(settled)
    return current


def _maintenance_entry(d, after, failure, enabled, verb, settle_timeout):
    before = {'maintenance': d['maintenance']}
    after_flag = after['maintenance'] if after else None
    changed = after_flag is not None and after_flag != d['maintenance']
    if failure is not None:
        return result_entry(d, changed, True, failure_msg(failure, verb), before, {'maintenance': after_flag}, failure)
    if after is None:
        return result_entry(d, False, True, 'desktop no longer listed by the provider after the request; check it in '
                            'the console', before, None, outcome=UNKNOWN)
    if after_flag is not enabled:
        return result_entry(d, changed, True, 'provider accepted the request but the desktop still shows '
                            'maintenance=%s after %ss' % (after_flag, settle_timeout), before, {'maintenance': after_flag})
    return result_entry(d, True, False, '%s maintenance' % ('entered' if enabled else 'exited'), before,
                        {'maintenance': after_flag})


def _set_maintenance_converging(adapter, selection, ids, enabled, enforce, attempts=MAINTENANCE_ATTEMPTS):
    """Send the change and read it back; send it again (up to ``attempts`` times in all) for the desktops
    whose call got no usable answer (server error, lost answer, throttling beyond the retries) and that do
    not show the new flag, since setting a flag again is harmless once the current state is known.
    A desktop the provider refused by itself is not asked again. Returns ``(failures, current records by
    id)``; a desktop read back with the new flag is never in ``failures``."""
    failures, current = {}, {}
    pending = list(ids)
    for attempt in range(1, attempts + 1):
        try:
            answer = adapter.set_maintenance(pending, enabled, enforce=enforce)
        except CALL_ERRORS as exc:  # an adapter that does not isolate batches
            answer = dict.fromkeys(pending, Failure.of(exc))
        current.update(reread(adapter, selection, pending))
        retry = []
        for i in pending:
            failure = as_failure(answer.get(i))
            if failure is None or (i in current and current[i]['maintenance'] is enabled):
                failures.pop(i, None)
            elif failure.unknown and i in current and attempt < attempts:
                retry.append(i)
            else:
                failures[i] = (Failure('the provider call failed %d times (%s)' % (attempt, failure.msg), unknown=True)
                               if failure.unknown and attempt > 1 else failure)
        if not retry:
            break
        pending = retry
    return failures, current


def diff_of(entries, key):
    """Ansible diff with one line per changed desktop: ``{name_or_id: value}`` before and after."""
    before, after = {}, {}
    for e in entries:
        if e['changed'] and e['before'] is not None and e['after'] is not None:
            label = e['name'] or e['id']
            before[label] = e['before'].get(key)
            after[label] = e['after'].get(key)
    return {'before': before, 'after': after}


# ---------------------------------------------------------------------------------------------------- power

#: the power states a desktop can be brought to (vmware.vmware.vm_powerstate's vocabulary, in the normalized
#: power state names), plus ``restarted``
POWER_TARGETS = (POWERED_ON, POWERED_OFF, SUSPENDED, 'restarted')
#: earlier names of the targets, still accepted
POWER_ALIASES = {'started': POWERED_ON, 'stopped': POWERED_OFF, 'hibernated': SUSPENDED}


def power_target(state):
    """The normalized target power state of ``state`` (``restarted`` ends powered on)."""
    state = POWER_ALIASES.get(state, state)
    return POWERED_ON if state == 'restarted' else state


def plan_power(desktop, state, stop_from_suspended=True, distinct_wakeup=False):
    """(action or None, message, failed) for one desktop, from its current power state.

    ``stop_from_suspended``: whether the provider can stop a suspended/hibernated desktop directly;
    ``distinct_wakeup``: whether resuming one is a ``wakeup`` rather than a ``start``.
    """
    state = POWER_ALIASES.get(state, state)
    power = desktop['power_state']
    if power == 'unknown':
        return None, 'power state unknown to the provider; not acted on', True
    if state == 'restarted':
        if power == POWERED_ON:
            return 'restart', 'restart', False
        return None, 'not restarted: %s (restarted acts on powered-on desktops only)' % power, False
    if power == state:
        return None, 'already %s' % power, False
    if state == POWERED_ON:
        return ('wakeup' if power == SUSPENDED and distinct_wakeup else 'start'), 'start', False
    if state == POWERED_OFF:
        if power == SUSPENDED and not stop_from_suspended:
            return None, 'suspended: start (wake up) it before it can be stopped', True
        return 'stop', 'stop', False
    if power == POWERED_OFF:
        return None, 'powered off: start it before it can be hibernated', True
    return 'hibernate', 'hibernate', False


class PowerRun:
    """One :func:`ensure_power` run: plan per desktop, dispatch (pool action or batches), follow with
    backoff (jobs and desktops), report per desktop."""

    def __init__(self, adapter, selection, state, force, poller):
        self.adapter = adapter
        self.selection = selection
        self.state = POWER_ALIASES.get(state, state)
        self.target = power_target(state)
        self.force = force
        self.poller = poller
        self.results = {}
        self.plan = {}          # action -> [desktop ids]
        self.current = {}       # id -> record before acting
        self.after = {}         # id -> latest record
        self.failures = {}      # id -> Failure of the call
        self.job_failures = {}  # id -> message of its failed job or sub-job
        self.jobs = []
        self.job_of = {}

    def acted(self):
        return [i for ids in self.plan.values() for i in ids]

    # ------------------------------------------------------------------ plan
    def make_plan(self, wait_timeout):
        """Wait for transitions to end, then decide per desktop."""
        desktops = self.selection.desktops
        self.current = dict((d['id'], d) for d in desktops)
        busy = [d['id'] for d in desktops if d['power_state'] == TRANSITIONING]
        if busy:
            self.current.update(_settle(self.adapter, self.selection, busy,
                                        lambda d: d['power_state'] != TRANSITIONING, self.poller(wait_timeout)))
        for d in desktops:
            now = self.current.get(d['id'], d)
            before = {'power_state': now['power_state']}
            if now['power_state'] == TRANSITIONING:
                self.results[d['id']] = result_entry(d, False, True, 'still transitioning after %ss; not acted on'
                                                     % wait_timeout, before, before)
                continue
            action, msg, failed = plan_power(now, self.state, self.adapter.stop_from_suspended,
                                             self.adapter.distinct_wakeup)
            if action is None:
                self.results[d['id']] = result_entry(d, False, failed, msg, before, before)
            else:
                self.plan.setdefault(action, []).append(d['id'])

    def planned_entries(self):
        for action, ids in self.plan.items():
            for i in ids:
                self.results[i] = result_entry(self.current[i], True, False, 'would %s (check mode)' % action,
                                               {'power_state': self.current[i]['power_state']},
                                               {'power_state': self.target})

    # ------------------------------------------------------------------ dispatch
    def dispatch(self):
        """One pool action where every desktop of a whole selected pool needs the same action, else batches."""
        whole_pool = (self.selection.whole_pool and len(self.plan) == 1
                      and len(self.acted()) == len(self.selection.desktops))
        for action, ids in self.plan.items():
            job_id = self.adapter.pool_power(self.selection.pool['id'], action, self.force) if whole_pool else None
            if job_id:
                self._add_job(job_id, action, 'pool', ids)
                continue
            try:
                refused, job_ids = self.adapter.power(ids, action, self.force)
            except CALL_ERRORS as exc:
                # a batch call failed as a whole: it may have been applied in part; it is not re-sent, and the
                # desktops' state is read back below
                refused, job_ids = dict.fromkeys(ids, Failure.of(exc)), []
            self.failures.update((i, as_failure(f)) for i, f in refused.items())
            for job_id in job_ids:
                self._add_job(job_id, action, 'desktops', [i for i in ids if i not in refused])

    def _add_job(self, job_id, action, scope, ids):
        self.jobs.append({'id': job_id, 'action': action, 'scope': scope, 'status': 'pending', 'message': None})
        self.job_of.update((i, job_id) for i in ids)

    # ------------------------------------------------------------------ follow
    def follow(self, wait_timeout):
        """Poll jobs and desktops with backoff until each desktop reached the target or its job failed."""
        outstanding = [i for i in self.acted() if i not in self.failures]
        seen_transition, steady = set(), dict.fromkeys(outstanding, 0)
        self.after = dict((i, self.current[i]) for i in self.acted())

        def progress():
            self._read_jobs()
            self.after.update(reread(self.adapter, self.selection, outstanding))
            for i in list(outstanding):
                rec = self.after.get(i)
                if i in self.job_failures:
                    outstanding.remove(i)
                elif rec is not None and rec['power_state'] == TRANSITIONING:
                    seen_transition.add(i)
                elif rec is not None and rec['power_state'] == self.target:
                    steady[i] += 1
                    if self.state != 'restarted' or i in seen_transition or steady[i] >= 2 or self._job_done(i):
                        outstanding.remove(i)
            return not outstanding and not any(j['status'] == 'pending' for j in self.jobs)

        self.poller(wait_timeout).run(progress)
        return outstanding

    def _read_jobs(self):
        for job in self.jobs:
            if job['status'] != 'pending':
                continue
            try:
                info = self.adapter.get_job(job['id'])
            except CALL_ERRORS:
                continue  # a read: asked again on the next poll
            job['status'], job['message'] = info['status'], info.get('message')
            self.job_failures.update(info.get('failures') or {})
            if info['status'] == 'failed' and not info.get('failures'):
                for i, jid in self.job_of.items():
                    if jid == job['id']:
                        self.job_failures.setdefault(i, info.get('message') or 'provider job %s failed' % job['id'])

    def _job_done(self, i):
        return any(j['id'] == self.job_of.get(i) and j['status'] == 'success' for j in self.jobs)

    # ------------------------------------------------------------------ report
    def report(self, wait, wait_timeout, outstanding):
        for action, ids in self.plan.items():
            for i in ids:
                self.results[i] = self._entry(i, action, wait, wait_timeout, i in outstanding)
        return [self.results[d['id']] for d in self.selection.desktops] + missing_entries(self.selection)

    def _entry(self, i, action, wait, wait_timeout, late):
        d = self.current[i]
        rec = self.after.get(i)
        before = {'power_state': d['power_state']}
        after = {'power_state': rec['power_state']} if rec else None
        if i in self.failures:
            return result_entry(d, False, True, failure_msg(self.failures[i], action), before, after, self.failures[i])
        if i in self.job_failures:
            return result_entry(d, True, True, '%s failed: %s' % (action, self.job_failures[i]), before, after)
        if not wait:
            return result_entry(d, True, False, '%s requested (not waited for)' % action, before, after)
        if late:
            return result_entry(d, True, True, '%s requested but the desktop is %s, not %s, after %ss (wait_timeout)'
                                % (action, rec['power_state'] if rec else 'unknown', self.target, wait_timeout),
                                before, after)
        return result_entry(d, True, False, '%s done' % action, before, after)


def ensure_power(adapter, selection, state, force=False, check_mode=False, wait=True, wait_timeout=600,
                 poller_factory=None):
    """Bring the selected desktops to ``state`` (:data:`POWER_TARGETS`, or an earlier name of one).

    Desktops already there are left alone (``restarted`` acts on every powered-on desktop).
    Desktops in a transition are waited for before deciding. Where every desktop of a whole
    selected pool needs the same action and the provider has a pool action, that one call
    is used; otherwise batch calls on only the desktops that need it. With ``wait``, jobs
    and desktops are followed with backoff until each desktop reaches the target, its job
    fails, or ``wait_timeout`` passes. Returns ``(entries, jobs)``.
    """
    reason = adapter.unsupported_power.get(POWER_ALIASES.get(state, state))
    if reason:
        raise ConfigError(reason)
    run = PowerRun(adapter, selection, state, force,
                   poller_factory or (lambda timeout: Poller(timeout, initial=1.0, factor=1.6, cap=15.0)))
    run.make_plan(wait_timeout)
    if check_mode:
        run.planned_entries()
        return [run.results[d['id']] for d in selection.desktops] + missing_entries(selection), run.jobs
    run.dispatch()
    outstanding = []
    if wait and run.acted():
        outstanding = run.follow(wait_timeout)
    elif run.acted():
        run.after = dict((i, run.current[i]) for i in run.acted())
        run.after.update(reread(adapter, selection, run.acted()))
    return run.report(wait, wait_timeout, outstanding), run.jobs


# ---------------------------------------------------------------------------------------------------- sessions


def session_entry(desktop, sess, changed, failed, msg, skipped=False, failure=None, **extra):
    entry = {
        'session_id': sess['session_id'] if sess else None,
        'desktop_id': desktop.get('id') if desktop else (sess or {}).get('desktop_id'),
        'desktop_name': desktop.get('name') if desktop else (sess or {}).get('desktop_name'),
        'user': sess['user'] if sess else None,
        'changed': bool(changed),
        'failed': bool(failed),
        'skipped': bool(skipped),
        'outcome': outcome_of(changed, failed, failure, skipped),
        'msg': msg,
    }
    entry.update(extra)
    return entry


def whole_pool_ids(selection):
    """``pool_ids`` for ``adapter.list_sessions``: the pool when the selection is all of it, else None."""
    return [selection.pool['id']] if selection.whole_pool and selection.pool else None


def target_sessions(adapter, desktops=None, pool=None, session_ids=None):
    """Resolve the targets of a session operation.

    Returns ``(targets, entries, whole_pool)``: ``targets`` is a list of ``(desktop, session)`` for
    every session found; ``entries`` holds the result entries already decided: desktops without a
    session (skipped) and selection entries or session ids that matched nothing (failed);
    ``whole_pool`` is the pool record when every desktop of a pool is targeted, else None.
    """
    session_ids = selection_entries(session_ids)
    if not desktops and not pool and not session_ids:
        raise ConfigError('Select sessions with desktops, pool or sessions (session ids).')
    selection = select(adapter, desktops=desktops, pool=pool, allow_all=bool(session_ids))
    by_id = dict((d['id'], d) for d in selection.desktops)
    found = adapter.list_sessions(selection.desktops, pool_ids=whole_pool_ids(selection),
                                  fresh=True) if selection.desktops else []
    targets, entries = [], []
    if session_ids:
        wanted = set(session_ids)
        targets = [(by_id.get(s['desktop_id']), s) for s in found if s['session_id'] in wanted]
        present = set(s['session_id'] for _d, s in targets)
        entries += [session_entry(None, {'session_id': sid, 'user': None}, False, True,
                                  'no session with id %r on the selected desktops' % sid)
                    for sid in session_ids if sid not in present]
    else:
        targets = [(by_id.get(s['desktop_id']), s) for s in found]
        with_session = set(s['desktop_id'] for s in found)
        entries += [session_entry(d, None, False, False, 'no user session on this desktop', skipped=True)
                    for d in selection.desktops if d['id'] not in with_session]
    entries += [session_entry({'id': None, 'name': entry}, None, False, True, msg) for entry, msg in selection.missing]
    return targets, entries, (selection.pool if selection.whole_pool and not session_ids else None)


def send_messages(adapter, targets, message, message_type='info', title=None, check_mode=False, options=None,
                  whole_pool=None):
    """Send one message to every target session; one result entry per session (``sent`` says whether it went).

    ``whole_pool``: the pool record when every desktop of a pool is targeted, so that a provider with a
    pool-wide message call can use it (passed to the adapter as ``options['whole_pool']``).
    """
    options = dict(options or {})
    if whole_pool:
        options['whole_pool'] = whole_pool
    if check_mode:
        return [session_entry(d, s, True, False, 'would send %s message (check mode)' % message_type, sent=False)
                for d, s in targets]
    outcome = adapter.send_message([s for _d, s in targets], message, message_type=message_type, title=title,
                                   options=options) if targets else {}
    note = adapter.delivery_note(options)
    entries = []
    for d, s in targets:
        failure = as_failure(outcome.get(s['session_id'], Failure('no outcome reported for this session', True)))
        if failure is None:
            entries.append(session_entry(d, s, True, False, 'message sent' + ('; ' + note if note else ''), sent=True))
        else:
            entries.append(session_entry(d, s, False, True, 'not sent: %s' % failure.msg, failure=failure, sent=False))
    return entries


def wait_sessions_gone(adapter, desktops, poller, session_ids=None, pool_ids=None):
    """Re-list the sessions of ``desktops`` with backoff until none (or none of ``session_ids``) is left.

    Returns the sessions still there when the poller's time ran out (empty when all are gone).
    """
    left = []

    def gone():
        live = adapter.list_sessions(desktops, pool_ids=pool_ids)
        left[:] = [s for s in live if session_ids is None or s['session_id'] in session_ids]
        return not left

    poller.run(gone)
    return left


def logoff_sessions(adapter, targets, force=False, message=None, check_mode=False, wait=False, wait_timeout=300,
                    poller=None, pool_ids=None):
    """Log off every target session; with ``wait``, until the provider no longer lists them (``pool_ids``: pools whose
    every desktop is among the targets' desktops, to list their sessions by pool where that takes fewer requests)."""
    if check_mode:
        return [session_entry(d, s, True, False, 'would log off (check mode)', logged_off=False) for d, s in targets]
    outcome = adapter.logoff([s for _d, s in targets], force=force, message=message) if targets else {}
    unreported = Failure('no outcome reported for this session', unknown=True)
    failures = dict((s['session_id'], as_failure(outcome.get(s['session_id'], unreported))) for _d, s in targets)
    asked = [(d, s) for d, s in targets if failures[s['session_id']] is None]
    remaining = set()
    if wait and asked:
        desktops = list(dict((d['id'], d) for d, _s in asked if d is not None).values())
        left = wait_sessions_gone(adapter, desktops, poller or Poller(wait_timeout, initial=1.0, cap=10.0),
                                  session_ids=set(s['session_id'] for _d, s in asked), pool_ids=pool_ids)
        remaining = set(s['session_id'] for s in left)
    entries = []
    for d, s in targets:
        failure = failures[s['session_id']]
        if failure is not None:
            what = 'could not log off' if failure.unknown else 'logoff refused'
            entries.append(session_entry(d, s, False, True, '%s: %s' % (what, failure.msg), failure=failure,
                                         logged_off=False))
        elif s['session_id'] in remaining:
            entries.append(session_entry(d, s, True, True, 'logoff requested but the session is still there after %ss'
                                         % wait_timeout, logged_off=False))
        else:
            entries.append(session_entry(d, s, True, False, 'logged off' if wait else 'logoff requested',
                                         logged_off=bool(wait)))
    return entries


def summarize_sessions(entries, done_key):
    return {
        'total': len(entries),
        done_key: sum(1 for e in entries if e.get(done_key)),
        'changed': sum(1 for e in entries if e['changed']),
        'skipped': sum(1 for e in entries if e['skipped']),
        'failed': sum(1 for e in entries if e['failed']),
    }
