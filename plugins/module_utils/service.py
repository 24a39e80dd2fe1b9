# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provider-neutral service: selection of desktops, idempotent changes, per-desktop results.

What "changed" means lives here, once: read the current state, act only on the desktops
that differ, read the result back from the provider, and report every selected desktop
exactly once with ``changed``, ``failed``, ``msg``, ``before`` and ``after``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ApiError, AuthError, ConfigError, TransportError
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import CallFailure
from ansible_collections.vdi.fleet.plugins.module_utils.transport import Poller


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


def _dedupe(entries):
    seen = set()
    out = []
    for entry in entries or []:
        entry = str(entry).strip()
        if entry and entry not in seen:
            seen.add(entry)
            out.append(entry)
    if entries and not out:
        raise ConfigError('The selection has only empty entries; give desktop ids or names.')
    return out


def resolve_pool(adapter, pool):
    """Find a pool by id or exact name; ConfigError naming some known pools when there is none."""
    pools = adapter.list_pools()
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
    entries = _dedupe(desktops)
    if not entries and not pool:
        if not allow_all:
            raise ConfigError('Select desktops with desktops (ids or names), pool (id or name), or both.')
        found = adapter.list_desktops()
        return Selection(found, [], {})
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
            return Selection(_order(candidates, entries), [], {'desktop_ids': entries})
        candidates = candidates + [d for d in adapter.list_desktops() if d['id'] not in found_ids]
        where = ''
    by_id = dict((d['id'], d) for d in candidates)
    by_name = {}
    for d in candidates:
        by_name.setdefault(d['name'], []).append(d)
    chosen, missing, seen = [], [], set()
    for entry in entries:
        match = by_id.get(entry)
        if match is None:
            named = by_name.get(entry, [])
            if len(named) > 1:
                missing.append((entry, 'name %r matches %d desktops%s (%s); give the id instead.'
                                % (entry, len(named), where, ', '.join(d['id'] for d in named))))
                continue
            match = named[0] if named else None
        if match is None:
            missing.append((entry, 'no desktop with id or name %r%s.' % (entry, where)))
            continue
        if match['id'] not in seen:
            seen.add(match['id'])
            chosen.append(match)
    ids = [d['id'] for d in chosen]
    scope = {'pool_ids': [pool_rec['id']]} if pool_rec else {'desktop_ids': ids}
    return Selection(chosen, missing, scope, pool_rec)


def _order(found, entries):
    by_id = dict((d['id'], d) for d in found)
    return [by_id[e] for e in entries if e in by_id]


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


def result_entry(desktop, changed, failed, msg, before, after):
    return {
        'id': desktop.get('id'),
        'name': desktop.get('name'),
        'pool': desktop.get('pool'),
        'changed': bool(changed),
        'failed': bool(failed),
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


def ensure_maintenance(adapter, selection, enabled, check_mode=False, enforce=False, settle_timeout=120,
                       poller=None):
    """Put the selected desktops into (``enabled``) or out of maintenance.

    Only desktops whose current flag differs are sent to the provider; the outcome is read
    back from the provider (polling with backoff for up to ``settle_timeout`` seconds when a
    provider applies the change asynchronously). Returns the per-desktop result entries.
    """
    verb = 'enter' if enabled else 'exit'
    todo = [d for d in selection.desktops if d['maintenance'] is not enabled]
    results = {}
    for d in selection.desktops:
        if d['maintenance'] is enabled:
            results[d['id']] = result_entry(d, False, False, 'already %s maintenance' % ('in' if enabled else 'out of'),
                                            {'maintenance': d['maintenance']}, {'maintenance': d['maintenance']})
    if check_mode:
        for d in todo:
            results[d['id']] = result_entry(d, True, False, 'would %s maintenance (check mode)' % verb,
                                            {'maintenance': d['maintenance']}, {'maintenance': enabled})
    elif todo:
        ids = [d['id'] for d in todo]
        failures, current = _set_maintenance_converging(adapter, selection, ids, enabled, enforce)
        sent = [i for i in ids if i not in failures]
        late = [i for i in sent if current.get(i, {}).get('maintenance') is not enabled]
        if late:
            def settled():
                now = reread(adapter, selection, late)
                current.update(now)
                del late[:]
                late.extend(i for i in now if now[i]['maintenance'] is not enabled)
                return not late
            (poller or Poller(settle_timeout, initial=1.0, cap=10.0)).run(settled)
        for d in todo:
            after = current.get(d['id'])
            after_flag = after['maintenance'] if after else None
            before = {'maintenance': d['maintenance']}
            changed = after_flag is not None and after_flag != d['maintenance']
            if d['id'] in failures:
                msg = '%s %s maintenance: %s' % (refusal(failures[d['id']]), verb, failures[d['id']])
                results[d['id']] = result_entry(d, changed, True, msg, before, {'maintenance': after_flag})
            elif after is None:
                results[d['id']] = result_entry(d, False, True, 'desktop no longer listed by the provider after the '
                                                'request; check it in the console', before, None)
            elif after_flag is not enabled:
                results[d['id']] = result_entry(d, changed, True, 'provider accepted the request but the desktop '
                                                'still shows maintenance=%s after %ss' % (after_flag, settle_timeout),
                                                before, {'maintenance': after_flag})
            else:
                results[d['id']] = result_entry(d, True, False, '%s maintenance' % ('entered' if enabled else 'exited'),
                                                before, {'maintenance': after_flag})
    return [results[d['id']] for d in selection.desktops] + missing_entries(selection)


#: Maintenance calls per desktop at most: a flag is safe to set again once it has been read back.
MAINTENANCE_ATTEMPTS = 3


def _is_call_failure(msg):
    return isinstance(msg, CallFailure)


def refusal(msg):
    """How a failed desktop's message starts: the provider refused it, or the call's outcome is not known."""
    return 'could not' if _is_call_failure(msg) else 'provider refused to'


def _set_maintenance_converging(adapter, selection, ids, enabled, enforce, attempts=MAINTENANCE_ATTEMPTS):
    """Send the change and read it back; send it again (up to ``attempts`` times in all) for the desktops
    whose call failed as a whole (server error, lost answer, throttling beyond the retries) and that do
    not show the new flag, since setting a flag again is harmless once the current state is known.
    A desktop the provider refused by itself is not asked again. Returns ``(failures, current records by
    id)``; a desktop read back with the new flag is never in ``failures``."""
    failures, current = {}, {}
    pending = list(ids)
    for attempt in range(1, attempts + 1):
        try:
            answer = adapter.set_maintenance(pending, enabled, enforce=enforce)
        except AuthError:
            raise
        except (ApiError, TransportError) as exc:  # an adapter that does not isolate batches
            answer = dict((i, CallFailure(exc.msg)) for i in pending)
        current.update(reread(adapter, selection, pending))
        retry = []
        for i in pending:
            done = i in current and current[i]['maintenance'] is enabled
            msg = answer.get(i)
            if done or msg is None:
                failures.pop(i, None)
            elif _is_call_failure(msg) and i in current and attempt < attempts:
                retry.append(i)
            else:
                failures[i] = (CallFailure('the provider call failed %d times (%s)' % (attempt, msg))
                               if _is_call_failure(msg) and attempt > 1 else msg)
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

POWER_TARGET = {'started': 'powered_on', 'stopped': 'powered_off', 'hibernated': 'suspended',
                'restarted': 'powered_on'}


def plan_power(desktop, state, stop_from_suspended=True, distinct_wakeup=False):
    """(action or None, message, failed) for one desktop, from its current power state.

    ``stop_from_suspended``: whether the provider can stop a suspended/hibernated desktop directly;
    ``distinct_wakeup``: whether resuming one is a ``wakeup`` rather than a ``start``.
    """
    power = desktop['power_state']
    if power == 'unknown':
        return None, 'power state unknown to the provider; not acted on', True
    if state == 'restarted':
        if power == 'powered_on':
            return 'restart', 'restart', False
        return None, 'not restarted: %s (restarted acts on powered-on desktops only)' % power, False
    if power == POWER_TARGET[state]:
        return None, 'already %s' % power, False
    if state == 'started':
        return ('wakeup' if power == 'suspended' and distinct_wakeup else 'start'), 'start', False
    if state == 'stopped':
        if power == 'suspended' and not stop_from_suspended:
            return None, 'suspended: start (wake up) it before it can be stopped', True
        return 'stop', 'stop', False
    if power == 'powered_off':
        return None, 'powered off: start it before it can be hibernated', True
    return 'hibernate', 'hibernate', False


def _wait_settled(adapter, selection, desktops, timeout, poller):
    """Re-read until none of ``desktops`` is transitioning; returns the fresh records by id."""
    ids = [d['id'] for d in desktops]
    current = dict((d['id'], d) for d in desktops)

    def settled():
        current.update(reread(adapter, selection, ids))
        return not any(current[i]['power_state'] == 'transitioning' for i in ids if i in current)

    if any(d['power_state'] == 'transitioning' for d in desktops):
        (poller or Poller(timeout, initial=1.0, cap=10.0)).run(settled)
    return current


def ensure_power(adapter, selection, state, force=False, check_mode=False, wait=True, wait_timeout=600,
                 poller_factory=None):
    """Bring the selected desktops to ``state`` (started, stopped, hibernated, restarted).

    Desktops already there are left alone (``restarted`` acts on every powered-on desktop).
    Desktops in a transition are waited for before deciding. Where every desktop of a whole
    selected pool needs the same action and the provider has a pool action, that one call
    is used; otherwise batch calls on only the desktops that need it. With ``wait``, jobs
    and desktops are followed with backoff until each desktop reaches the target, its job
    fails, or ``wait_timeout`` passes. Returns ``(entries, jobs)``.
    """
    reason = adapter.unsupported_power.get(state)
    if reason:
        raise ConfigError(reason)

    def poller(timeout):
        return poller_factory(timeout) if poller_factory else Poller(timeout, initial=1.0, factor=1.6, cap=15.0)

    desktops = selection.desktops
    current = _wait_settled(adapter, selection, desktops, wait_timeout, poller(wait_timeout) if desktops else None)
    results, plan = {}, {}
    for d in desktops:
        now = current.get(d['id'], d)
        before = {'power_state': now['power_state']}
        if now['power_state'] == 'transitioning':
            results[d['id']] = result_entry(d, False, True, 'still transitioning after %ss; not acted on' % wait_timeout,
                                            before, before)
            continue
        action, msg, failed = plan_power(now, state, getattr(adapter, 'stop_from_suspended', True),
                                         getattr(adapter, 'distinct_wakeup', False))
        if action is None:
            results[d['id']] = result_entry(d, False, failed, msg, before, before)
        else:
            plan.setdefault(action, []).append(d['id'])
    jobs = []
    acted = [i for ids in plan.values() for i in ids]
    if check_mode:
        for action, ids in plan.items():
            for i in ids:
                results[i] = result_entry(current[i], True, False, 'would %s (check mode)' % action,
                                          {'power_state': current[i]['power_state']},
                                          {'power_state': POWER_TARGET[state]})
        return [results[d['id']] for d in desktops] + missing_entries(selection), jobs
    failures, job_of = {}, {}
    whole_pool = selection.whole_pool and len(plan) == 1 and len(acted) == len(desktops)
    for action, ids in plan.items():
        job_id = adapter.pool_power(selection.pool['id'], action, force) if whole_pool else None
        if job_id:
            jobs.append({'id': job_id, 'action': action, 'scope': 'pool', 'status': 'pending', 'message': None})
            job_of.update((i, job_id) for i in ids)
            continue
        try:
            refused, job_ids = adapter.power(ids, action, force)
        except AuthError:
            raise
        except (ApiError, TransportError) as exc:
            # A batch call failed as a whole: it may have been applied in part; it is not re-sent, and the
            # desktops' state is read back below.
            refused = dict((i, CallFailure('the provider call failed and was not re-sent (%s)' % exc.msg)) for i in ids)
            job_ids = []
        failures.update(refused)
        for job_id in job_ids:
            jobs.append({'id': job_id, 'action': action, 'scope': 'desktops', 'status': 'pending', 'message': None})
            job_of.update((i, job_id) for i in ids if i not in refused)
    target = POWER_TARGET[state]
    outstanding = [i for i in acted if i not in failures]
    seen_transition, steady = set(), dict((i, 0) for i in outstanding)
    job_failures = {}
    after = dict((i, current[i]) for i in acted)

    def progress():
        for job in jobs:
            if job['status'] == 'pending':
                info = adapter.get_job(job['id'])
                job['status'], job['message'] = info['status'], info.get('message')
                job_failures.update(info.get('failures') or {})
                if info['status'] == 'failed' and not info.get('failures'):
                    for i, jid in job_of.items():
                        if jid == job['id']:
                            job_failures.setdefault(i, info.get('message') or 'provider job %s failed' % job['id'])
        after.update(reread(adapter, selection, outstanding))
        for i in list(outstanding):
            rec = after.get(i)
            if i in job_failures:
                outstanding.remove(i)
                continue
            if rec is None:
                continue
            if rec['power_state'] == 'transitioning':
                seen_transition.add(i)
                continue
            if rec['power_state'] == target:
                steady[i] += 1
                job_done = any(j['id'] == job_of.get(i) and j['status'] == 'success' for j in jobs)
                if state != 'restarted' or i in seen_transition or job_done or steady[i] >= 2:
                    outstanding.remove(i)
        return not outstanding and not any(j['status'] == 'pending' for j in jobs)

    if wait and acted:
        poller(wait_timeout).run(progress)
    elif acted:
        after.update(reread(adapter, selection, acted))
    for action, ids in plan.items():
        for i in ids:
            d = current[i]
            rec = after.get(i)
            before = {'power_state': d['power_state']}
            after_state = {'power_state': rec['power_state']} if rec else None
            if i in failures:
                results[i] = result_entry(d, False, True, '%s %s: %s' % (refusal(failures[i]), action, failures[i]),
                                          before, after_state)
            elif i in job_failures:
                results[i] = result_entry(d, True, True, '%s failed: %s' % (action, job_failures[i]), before, after_state)
            elif not wait:
                results[i] = result_entry(d, True, False, '%s requested (not waited for)' % action, before, after_state)
            elif i in outstanding:
                now = rec['power_state'] if rec else 'unknown'
                results[i] = result_entry(d, True, True, '%s requested but the desktop is %s, not %s, after %ss '
                                          '(wait_timeout)' % (action, now, target, wait_timeout), before, after_state)
            else:
                results[i] = result_entry(d, True, False, '%s done' % action, before, after_state)
    return [results[d['id']] for d in desktops] + missing_entries(selection), jobs


# ---------------------------------------------------------------------------------------------------- sessions


def session_entry(desktop, sess, changed, failed, msg, skipped=False, **extra):
    entry = {
        'session_id': sess['session_id'] if sess else None,
        'desktop_id': desktop.get('id') if desktop else (sess or {}).get('desktop_id'),
        'desktop_name': desktop.get('name') if desktop else (sess or {}).get('desktop_name'),
        'user': sess['user'] if sess else None,
        'changed': bool(changed),
        'failed': bool(failed),
        'skipped': bool(skipped),
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
    session_ids = _dedupe(session_ids)
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
        for sid in session_ids:
            if sid not in present:
                entries.append(session_entry(None, {'session_id': sid, 'user': None}, False, True,
                                             'no session with id %r on the selected desktops' % sid))
    else:
        with_session = set()
        for s in found:
            targets.append((by_id.get(s['desktop_id']), s))
            with_session.add(s['desktop_id'])
        for d in selection.desktops:
            if d['id'] not in with_session:
                entries.append(session_entry(d, None, False, False, 'no user session on this desktop', skipped=True))
    for entry, msg in selection.missing:
        entries.append(session_entry({'id': None, 'name': entry}, None, False, True, msg))
    return targets, entries, (selection.pool if selection.whole_pool and not session_ids else None)


def send_messages(adapter, targets, message, message_type='info', title=None, check_mode=False, options=None,
                  whole_pool=None):
    """Send one message to every target session; one result entry per session (``sent`` says whether it went).

    ``whole_pool``: the pool record when every desktop of a pool is targeted, so that a provider with a
    pool-wide message call can use it (passed to the adapter as ``options['whole_pool']``).
    """
    entries = []
    options = dict(options or {})
    if whole_pool:
        options['whole_pool'] = whole_pool
    if check_mode:
        for d, s in targets:
            entries.append(session_entry(d, s, True, False, 'would send %s message (check mode)' % message_type,
                                         sent=False))
        return entries
    outcome = adapter.send_message([s for _d, s in targets], message, message_type=message_type, title=title,
                                   options=options) if targets else {}
    for d, s in targets:
        err = outcome.get(s['session_id'], 'no outcome reported for this session')
        if err is None:
            note = getattr(adapter, 'send_note', None)
            entries.append(session_entry(d, s, True, False, 'message sent' + ('; ' + note if note else ''), sent=True))
        else:
            entries.append(session_entry(d, s, False, True, 'not sent: %s' % err, sent=False))
    return entries


def logoff_sessions(adapter, targets, force=False, message=None, check_mode=False, wait=False, wait_timeout=300,
                    poller=None):
    """Log off every target session; with ``wait``, until the provider no longer lists them."""
    if check_mode:
        return [session_entry(d, s, True, False, 'would log off (check mode)', logged_off=False) for d, s in targets]
    outcome = adapter.logoff([s for _d, s in targets], force=force, message=message) if targets else {}
    asked = [(d, s) for d, s in targets if outcome.get(s['session_id'], 'no outcome') is None]
    remaining = set(s['session_id'] for _d, s in asked)
    if wait and asked:
        desktops = []
        seen = set()
        for d, _s in asked:
            if d is not None and d['id'] not in seen:
                seen.add(d['id'])
                desktops.append(d)

        def gone():
            live = set(x['session_id'] for x in adapter.list_sessions(desktops))
            remaining.intersection_update(live)
            return not remaining

        (poller or Poller(wait_timeout, initial=1.0, cap=10.0)).run(gone)
    entries = []
    for d, s in targets:
        err = outcome.get(s['session_id'], 'no outcome reported for this session')
        if err is not None:
            what = 'could not log off' if _is_call_failure(err) else 'logoff refused'
            entries.append(session_entry(d, s, False, True, '%s: %s' % (what, err), logged_off=False))
        elif wait and s['session_id'] in remaining:
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
