# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The patch-window engine: a window over pools in waves, as phases the role calls.

* :func:`plan_window` checks every option before any request that changes something, takes the
  pools' locks, reads the pools once, orders and sizes the waves, and writes the journal.
* :func:`begin_wave` takes a wave within its pool's out-of-service allowance, enters maintenance,
  powers on what is off (where the provider can), counts down to the users still connected
  (waiting inside the phase), drains, and applies the logoff policy.
* :func:`end_wave` restarts and waits, restores each desktop's power state, verifies, releases the
  healthy desktops and keeps the failed ones in maintenance (quarantine).
* :func:`close_window` reads the final state, writes the JSON report and releases the locks.

Each phase is one module call with one connection. The decisions (who is retried, who is left out,
what a provider can do) are made here, from the adapter's declared capabilities and the structured
``outcome`` of the service's results, never from a provider's name or a message's text.

Per desktop, every step is recorded as ``{'outcome': ok|changed|skipped|failed, 'result':
done|unchanged|refused|unknown|skipped, 'msg'}``: ``outcome`` is the report's summary of the step,
``result`` the precise vocabulary of the service (see :mod:`service`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import os
import time

from ansible_collections.vdi.fleet.plugins.module_utils import journal as jr
from ansible_collections.vdi.fleet.plugins.module_utils import patching
from ansible_collections.vdi.fleet.plugins.module_utils import service as svc
from ansible_collections.vdi.fleet.plugins.module_utils.connection import check_message_options
from ansible_collections.vdi.fleet.plugins.module_utils.errors import CALL_ERRORS, ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import POWERED_OFF, POWERED_ON, SUSPENDED
from ansible_collections.vdi.fleet.plugins.module_utils.transport import Poller, unique

STATUSES = ('released', 'quarantined', 'skipped', 'failed', 'not_reached')
#: steps whose failure sends a desktop to quarantine (it was patched or restarted, its state is in doubt)
QUARANTINE_STEPS = ('patch', 'restart', 'power', 'verify')
#: report outcome of each service result
REPORT_OUTCOME = {svc.DONE: 'changed', svc.UNCHANGED: 'ok', svc.REFUSED: 'failed', svc.UNKNOWN: 'failed',
                  svc.SKIPPED: 'skipped'}
LOGOFF_POLICIES = ('force', 'skip', 'fail')
UNWARNED_POLICIES = ('skip', 'proceed')
#: how long a read-only step (verify, final state) keeps asking when reads fail (throttling, 5xx)
READ_PATIENCE = 300


# ---------------------------------------------------------------------------------------------- options


def wave_count(pool_size, wave_size):
    """Most desktops of a pool out of service at once: a count (``10``) or a share (``'25%'``); at least 1."""
    text = str(wave_size).strip()
    try:
        if text.endswith('%'):
            pct = float(text[:-1])
            if not 0 < pct <= 100:
                raise ValueError(text)
            return max(1, int(math.floor(pool_size * pct / 100.0)))
        count = int(text)
        if count < 1:
            raise ValueError(text)
        return count
    except ValueError:
        raise ConfigError('wave_size must be a positive count (10) or a percentage of the pool (25%%), not %r'
                          % (wave_size,))


def check_options(opts):
    """ConfigError naming the first option that makes no sense, before anything is asked of a provider."""
    wave_count(100, opts['wave_size'])
    countdown = opts['countdown']
    if any(m <= 0 for m in countdown):
        raise ConfigError('countdown minutes must be positive (minutes before the drain), not %s.' % countdown)
    if list(countdown) != sorted(set(countdown), reverse=True):
        raise ConfigError('countdown must list distinct minutes from the earliest warning to the last, e.g. '
                          '[15, 5, 1], not %s.' % countdown)
    for name in ('drain_timeout', 'minute_seconds'):
        if opts[name] < 0:
            raise ConfigError('%s must be 0 or more seconds, not %s.' % (name, opts[name]))
    if opts['restart_timeout'] <= 0:
        raise ConfigError('restart_timeout must be a positive number of seconds, not %s.' % opts['restart_timeout'])
    if not 0 <= opts['max_failed_percentage'] <= 100:
        raise ConfigError('max_failed_percentage must be between 0 and 100, not %s.' % opts['max_failed_percentage'])
    if countdown and not (opts['message'] or '').strip():
        raise ConfigError('message is empty; give the countdown text, or an empty countdown to send none.')


def check_capabilities(adapter, opts):
    """ConfigError when the provider cannot do what the options ask, before any request."""
    if opts['countdown']:
        check_message_options(adapter, opts['message_options'])
        longest = max(len(countdown_text(opts['message'], m, 'x' * 64)) for m in opts['countdown'])
        if longest > adapter.message_limit:
            raise ConfigError('The countdown message is up to %d characters long; %s takes at most %d. Shorten '
                              'message.' % (longest, adapter.name, adapter.message_limit))
    if opts['logoff_policy'] == 'force' and adapter.logoff_supported and adapter.logoff_message_supported \
            and opts['logoff_message']:
        adapter.check_logoff_options(force=True, message=opts['logoff_message'])
    check_patch_method(adapter, opts)


def check_patch_method(adapter, opts):
    """The provider can patch the way ``patch_method`` says (image rollout, agent command), before any request."""
    method = opts.get('patch_method') or 'tasks'
    if method != 'tasks' and opts['patch_tasks']:
        raise ConfigError('patch_method %s patches through the provider: give no patch tasks with it.' % method)
    if method == 'image':
        if not opts.get('image'):
            raise ConfigError('patch_method image needs image (the image to roll out to every wave).')
        o = opts.get('image_options') or {}
        patching.check_image_options(adapter, False, o.get('logoff_policy', 'force'), o.get('notice'),
                                     o.get('grace_minutes'))
    elif method == 'command':
        o = opts.get('command_options') or {}
        patching.check_command_options(adapter, opts.get('command'), opts.get('command_type') or 'powershell',
                                       o.get('script_ids'), 1, o.get('timeout', 600), o.get('output_limit', 1024))


def countdown_text(message, minutes, pool):
    return message.replace('{minutes}', str(minutes)).replace('{pool}', pool)


# ---------------------------------------------------------------------------------------------- planning


def order_desktops(desktops):
    """Resume first (desktops left in maintenance), then idle desktops, busy last (their users get the most time)."""
    return sorted(desktops, key=lambda d: (0 if d.get('maintenance') else 1, 1 if d.get('sessions') else 0,
                                           d.get('name') or '', d.get('id')))


def wave_sizes(count, allowance):
    """Balanced waves of at most ``allowance``: as few waves as the allowance allows, sizes differing by one."""
    if count <= 0:
        return []
    waves = int(math.ceil(count / float(allowance)))
    base, extra = divmod(count, waves)
    return [base + 1 if i < extra else base for i in range(waves)]


def plan_pool(desktops, wave_size, pool_size=None):
    """``(allowance, ordered ids, wave boundaries)`` of one pool: wave ``k`` (1-based) ends before ``ends[k-1]``.

    The allowance is the share of the whole pool (``pool_size``, default: the desktops given).
    """
    allowance = wave_count(len(desktops) if pool_size is None else pool_size, wave_size)
    ordered = [d['id'] for d in order_desktops(desktops)]
    ends, total = [], 0
    for size in wave_sizes(len(ordered), allowance):
        total += size
        ends.append(total)
    return allowance, ordered, ends


def desktop_record(d, wave):
    return {'id': d['id'], 'name': d.get('name'), 'pool': d.get('pool'), 'pool_name': d.get('pool_name'),
            'address': d.get('address'), 'wave': wave, 'steps': {}, 'warnings': {'sent': [], 'failed': []},
            'before': {'maintenance': d.get('maintenance'), 'power_state': d.get('power_state'),
                       'sessions': d.get('sessions')},
            'state': 'queued', 'entered': False}


def _resolve_pools(adapter, names):
    known = adapter.list_pools()
    pools, seen = [], {}
    for name in names:
        rec = svc.resolve_pool(adapter, name, pools=known)
        if rec['id'] in seen:
            raise ConfigError('Pools %r and %r are the same pool (%s); list each pool once.'
                              % (seen[rec['id']], name, rec['id']))
        seen[rec['id']] = name
        pools.append(rec)
    return pools


def plan_window(adapter, opts, report_path, check_mode=False, desktops=None, lock_dir=None, break_locks=False,
                hosts=None):
    """Check the options, take the locks, plan the waves and write the journal; returns the Journal.

    ``opts['pools']`` names the pools (localhost mode); ``desktops`` (rolling mode) are the ids of the
    play's desktops instead, their pools being the ones they belong to, and ``hosts`` their inventory names
    (same order), by which the catch-up of the rolling mode names them.
    """
    if hosts is not None and (desktops is None or len(hosts) != len(desktops)):
        raise ConfigError('hosts must name the inventory host of each of desktops, in the same order (%d hosts for '
                          '%d desktops).' % (len(hosts), len(desktops or [])))
    check_options(opts)
    check_capabilities(adapter, opts)
    path = jr.journal_path(report_path, check_mode)
    jr.check_writable(report_path, 'report')
    run = jr.current_run()
    previous = jr.Journal.load(path)
    if previous is not None and not previous['finished'] and previous['run']['id'] == run['id']:
        return previous  # planned already by this run (rolling mode: the first batch did it)
    if desktops is not None:
        known = adapter.list_pools()  # first: the desktops' records then carry their pool names
        found = adapter.list_desktops(desktop_ids=unique(desktops))
        pools = _pools_of(known, found)
    else:
        if not opts['pools']:
            raise ConfigError('pools is empty: name at least one pool (by id or exact name).')
        pools = _resolve_pools(adapter, opts['pools'])
        found = adapter.list_desktops(pool_ids=[p['id'] for p in pools])
    lock_dir = lock_dir or os.path.dirname(os.path.abspath(report_path))
    locks = [jr.lock_file(lock_dir, adapter.name, adapter.endpoint, p['id']) for p in pools]
    jr.check_writable(locks[0] if locks else report_path, 'lock')
    jr.acquire_locks(locks, run, pools, report_path, check_mode, break_locks)
    if previous is not None and not previous['finished'] and not check_mode:
        resumed = _resume(previous, pools, opts, run, locks, found, desktops is not None)
        if resumed is not None:
            return resumed
    data = _new_plan(adapter, opts, pools, found, run, locks, report_path, check_mode, desktops)
    for did, host in zip(desktops or [], hosts or []):
        if did in data['desktops']:
            data['desktops'][did]['host'] = host
    data['learned'] = adapter.learned()
    journal = jr.Journal(path, data)
    journal.save()
    return journal


def _pools_of(known, found):
    known = dict((p['id'], p) for p in known)
    ids = unique(d['pool'] for d in found)
    return [known.get(i) or {'id': i, 'name': i, 'raw': {}} for i in ids]


def _new_plan(adapter, opts, pools, found, run, locks, report_path, check_mode, rolling):
    by_pool = {}
    for d in found:
        by_pool.setdefault(d['pool'], []).append(d)
    data = {'version': jr.JOURNAL_VERSION, 'run': run, 'finished': False, 'check_mode': bool(check_mode),
            'provider': adapter.name, 'endpoint': adapter.endpoint, 'report': os.path.abspath(report_path),
            'locks': locks, 'options': dict((k, v) for k, v in opts.items() if k != 'pools'),
            'rolling': rolling is not None, 'pools': [], 'slots': [], 'desktops': {}, 'quarantined': [],
            'stopped': False, 'waves': {}}
    cannot_start = adapter.unsupported_power.get(POWERED_ON)
    for p in pools:
        members = by_pool.get(p['id'], [])
        # a desktop that is off where the provider cannot power it on is not patched: no wave spends room on it
        asleep = [d for d in members if cannot_start and d['power_state'] in (POWERED_OFF, SUSPENDED)]
        allowance, ordered, ends = plan_pool([d for d in members if d not in asleep], opts['wave_size'], len(members))
        wave_of = {}
        for k, end in enumerate(ends):
            for did in ordered[(ends[k - 1] if k else 0):end]:
                wave_of[did] = k + 1
        for d in members:
            data['desktops'][d['id']] = desktop_record(d, wave_of.get(d['id']))
        for d in asleep:
            rec = data['desktops'][d['id']]
            rec.update(state='done', left='skipped')
            why = 'not patched: the desktop is %s and %s cannot power desktops on through its API'
            rec['steps']['power_on'] = {'outcome': 'skipped', 'result': svc.SKIPPED,
                                        'msg': why % (d['power_state'], adapter.name)}
        data['pools'].append({'id': p['id'], 'name': p['name'], 'size': len(members), 'allowance': allowance,
                              'queue': ordered, 'next': 0, 'ends': ends})
        # extra slots take what quarantined desktops made a wave leave behind
        for k in range(2 * len(ends)):
            data['slots'].append({'index': len(data['slots']) + 1, 'pool': p['id'], 'wave': k + 1})
    return data


def _resume(previous, pools, opts, run, locks, found, rolling):
    """Continue an unfinished window of a run that is gone; None when it was over other pools (a new plan)."""
    if [p['id'] for p in previous['pools']] != [p['id'] for p in pools] or previous['rolling'] != rolling:
        return None
    data = previous.data
    data['run'], data['locks'] = run, locks
    data['options'] = dict((k, v) for k, v in opts.items() if k != 'pools')
    current = dict((d['id'], d) for d in found)
    for rec in data['desktops'].values():
        if rec['state'] == 'active':
            rec['state'] = 'queued'  # its wave did not end: it goes first again (its countdown is not repeated)
        if rec['id'] in current:
            rec['entered'] = rec['entered'] or bool(current[rec['id']].get('maintenance'))
    for pool in data['pools']:
        taken = pool['queue'][:pool['next']]
        done = [did for did in taken if data['desktops'][did]['state'] != 'queued']
        back = [did for did in taken if data['desktops'][did]['state'] == 'queued']
        pool['queue'] = done + back + pool['queue'][pool['next']:]
        pool['next'] = len(done)
    data['resumed'] = data.get('resumed', 0) + 1
    previous.save()
    return previous


# ---------------------------------------------------------------------------------------------- waves


class Window:
    """One phase of a window: the journal, the adapter, check mode, and the per-desktop bookkeeping."""

    def __init__(self, adapter, journal, check_mode=False, sleep=None, poller_factory=None):
        self.adapter = adapter
        self.journal = journal
        self.data = journal.data
        self.opts = journal.data['options']
        self.check_mode = check_mode
        self.sleep = sleep or time.sleep
        #: power states read back by this phase (restart, power), so that verifying needs no other read
        self.read_back = {}
        self.poller_factory = poller_factory or backoff
        if journal.data['provider'] != adapter.name or journal.data['endpoint'] != adapter.endpoint:
            raise ConfigError('The window in %s runs against %s at %s, not %s at %s: give every phase the same '
                              'connection.' % (journal.path, journal.data['provider'], journal.data['endpoint'],
                                               adapter.name, adapter.endpoint))
        adapter.learn(journal.data.get('learned'))
        run = jr.current_run()
        if not check_mode and journal.data['run']['id'] != run['id']:
            raise ConfigError('The window in %s belongs to run %s, not to this one (%s). Plan it again (a new plan '
                              'resumes it).' % (journal.path, journal.data['run']['id'], run['id']))

    # ------------------------------------------------------------------ bookkeeping
    def rec(self, did):
        return self.data['desktops'][did]

    def step(self, ids, name, result, msg):
        for did in ids:
            self.rec(did)['steps'][name] = {'outcome': REPORT_OUTCOME[result], 'result': result, 'msg': msg}

    def step_entries(self, name, entries, key='id'):
        """Record a service result per desktop (entries of sessions share their desktop's step)."""
        seen = set()
        for e in entries:
            did = e.get(key)
            if did not in self.data['desktops']:
                continue
            prev = self.rec(did)['steps'].get(name)
            if did in seen and prev['outcome'] == 'failed' and e['outcome'] not in (svc.REFUSED, svc.UNKNOWN):
                continue  # a session that failed on a desktop keeps the desktop's step failed
            seen.add(did)
            self.step([did], name, e['outcome'], e['msg'])

    def pool(self, pool_id):
        return next(p for p in self.data['pools'] if p['id'] == pool_id)

    def quarantined_in(self, pool_id):
        return sum(1 for did in self.data['quarantined'] if self.rec(did)['pool'] == pool_id)

    def wave_state(self, slot):
        return self.data['waves'].setdefault(str(slot), {'members': [], 'active': [], 'marks': [], 'left': {}})

    def selection(self, ids, records=()):
        """The selection of ``records`` (of ``ids``), with the scope that reads ``ids`` back with the fewest
        requests: their pool's listing when they are all of one pool and it takes fewer pages than asking by id,
        else by id."""
        ids = list(ids)
        pools = set(self.rec(i)['pool'] for i in ids)
        if len(pools) == 1:
            pool = self.pool(pools.pop())
            by_pool = -(-pool['size'] // self.adapter.list_page_size)
            by_id = -(-len(ids) // self.adapter.ids_per_listing)
            if by_pool < by_id:
                return svc.Selection(list(records), [], {'pool_ids': [pool['id']]})
        return svc.Selection(list(records), [], {'desktop_ids': ids})

    def read(self, ids):
        """Fresh records of ``ids`` (a read: asked again with backoff while it fails, up to READ_PATIENCE)."""
        found = {}
        if not ids:
            return found

        def attempt():
            try:
                found.update(svc.reread(self.adapter, self.selection(ids), ids))
            except CALL_ERRORS:
                return False
            return True

        if not self.poller_factory(READ_PATIENCE, 30.0).run(attempt):
            return None
        return found

    def save(self):
        self.data['learned'] = self.adapter.learned()
        self.journal.save()

    # ------------------------------------------------------------------ taking a wave
    def take(self, slot, desktops=None):
        """The ids this wave takes: the slot's share of its pool's queue (or the rolling batch), within the
        pool's allowance less its quarantined desktops; what does not fit stays queued for a later wave."""
        if desktops is not None:
            return self._take_batch(desktops)
        info = self.data['slots'][slot - 1]
        pool = self.pool(info['pool'])
        room = max(0, pool['allowance'] - self.quarantined_in(pool['id']))
        end = pool['ends'][info['wave'] - 1] if info['wave'] <= len(pool['ends']) else len(pool['queue'])
        taken = pool['queue'][pool['next']:min(end, pool['next'] + room)]
        pool['next'] += len(taken)
        return taken

    def _take_batch(self, desktops):
        taken, count = [], {}
        for did in unique(desktops):
            rec = self.data['desktops'].get(did)
            if rec is None or rec['state'] != 'queued':
                continue
            pool = self.pool(rec['pool'])
            room = pool['allowance'] - self.quarantined_in(pool['id'])
            if count.get(pool['id'], 0) >= room:
                self.step([did], 'deferred', svc.SKIPPED, 'not started: the pool\'s out-of-service allowance is used '
                          'up by the desktops quarantined earlier in this window')
                continue
            count[pool['id']] = count.get(pool['id'], 0) + 1
            rec['steps'].pop('deferred', None)  # passed over by an earlier batch, taken now
            taken.append(did)
        return taken

    def catch_up(self):
        """Rolling mode: the desktops earlier batches passed over for want of room (quarantined desktops use up
        their pool's allowance), by inventory host name, in batches that each fit every pool's room now; the play
        that follows the waves takes them (``hosts`` and ``serial``). Empty once the failure budget is spent."""
        if not self.data['rolling'] or self.data['stopped']:
            return {'hosts': [], 'batches': []}
        chunks = []
        for pool in self.data['pools']:
            room = pool['allowance'] - self.quarantined_in(pool['id'])
            left = [did for did in pool['queue'] if self.rec(did)['state'] == 'queued'
                    and 'deferred' in self.rec(did)['steps'] and self.rec(did).get('host')]
            if room > 0 and left:
                chunks.append([left[k:k + room] for k in range(0, len(left), room)])
        batches = [[did for pool in chunks if k < len(pool) for did in pool[k]]
                   for k in range(max([len(c) for c in chunks] or [0]))]
        return {'hosts': [self.rec(did)['host'] for batch in batches for did in batch],
                'batches': [len(batch) for batch in batches]}

    # ------------------------------------------------------------------ begin
    def begin(self, slot=None, desktops=None):
        """Take the wave and make it ready to patch; returns the phase's result (``active``: the ids to patch)."""
        if slot is None:
            slot = len(self.data['waves']) + 1
        state = self.wave_state(slot)
        if self.data['stopped']:
            return self.wave_result(slot, 'stopped: the failure budget (max_failed_percentage) is spent')
        ids = self.take(slot, desktops)
        state['members'] = ids
        wave = self.data['slots'][slot - 1]['wave'] if desktops is None else slot
        for did in ids:
            self.rec(did).update(state='active', slot=slot, wave=wave)
        if not ids:
            return self.wave_result(slot, 'nothing to take in this wave')
        current = self.read(ids)
        if current is None:
            self.leave(state, ids, 'maintenance', svc.UNKNOWN, 'the desktops could not be read; not started')
            self.save()
            return self.wave_result(slot, 'the wave could not be read')
        self.leave(state, [i for i in ids if i not in current], 'maintenance', svc.REFUSED,
                   'no longer listed by the provider; not started')
        self.save_power_before(current)
        active = self.enter_maintenance(state, [i for i in ids if i in current and i not in state['left']], current)
        active = self.power_on(state, active, current)
        busy = [i for i in active if current[i].get('sessions')]
        if busy:
            self.save()  # the wave is in maintenance: a run killed during the countdown resumes it
            records = dict((i, current[i]) for i in busy)
            self.countdown(slot, state, records)
            self.drain_and_log_off(state, records)
        state['active'] = [i for i in active if i not in state['left']]
        self.save()
        return self.wave_result(slot)

    def leave(self, state, ids, step, result, msg, status=None):
        """Take desktops out of the wave's work (they are released at its end if they entered maintenance)."""
        for did in ids:
            state['left'][did] = status or ('skipped' if result == svc.SKIPPED else 'failed')
            if step:
                self.step([did], step, result, msg)

    def save_power_before(self, current):
        for did, d in current.items():
            self.rec(did)['before'].update(power_state=d['power_state'], sessions=d.get('sessions'),
                                           maintenance=d.get('maintenance'))

    def enter_maintenance(self, state, ids, current):
        if not ids:
            return []
        sel = self.selection(ids, [current[i] for i in ids])
        entries = svc.ensure_maintenance(self.adapter, sel, True, check_mode=self.check_mode)
        self.step_entries('maintenance', entries)
        active = []
        for e in entries:
            rec = self.rec(e['id'])
            rec['entered'] = rec['entered'] or self.check_mode or bool((e['after'] or {}).get('maintenance'))
            if e['failed']:
                self.leave(state, [e['id']], None, e['outcome'], None)
            else:
                active.append(e['id'])
        return active

    def power_on(self, state, active, current):
        """Start (wake up) the wave's powered-off and suspended desktops where the provider can; else leave them."""
        asleep = [i for i in active if current[i]['power_state'] in (POWERED_OFF, SUSPENDED)]
        if not asleep:
            return active
        reason = self.adapter.unsupported_power.get(POWERED_ON)
        if reason:
            self.leave(state, asleep, 'power_on', svc.SKIPPED, 'not patched: the desktop is %s and %s cannot power '
                       'desktops on through its API' % (current[asleep[0]]['power_state'], self.adapter.name))
            return [i for i in active if i not in asleep]
        sel = self.selection(asleep, [current[i] for i in asleep])
        entries, _jobs = svc.ensure_power(self.adapter, sel, POWERED_ON, check_mode=self.check_mode,
                                          wait_timeout=self.opts['restart_timeout'],
                                          poller_factory=self.poller_factory)
        self.step_entries('power_on', entries)
        failed = [e['id'] for e in entries if e['failed']]
        self.leave(state, failed, None, svc.REFUSED, None)
        return [i for i in active if i not in failed]

    # ------------------------------------------------------------------ countdown, drain, logoff
    def sessions(self, records, fresh=False):
        """The sessions on ``records``, listed by their pool where that takes fewer requests than by desktop."""
        scope = self.selection(list(records)).scope
        return self.adapter.list_sessions(list(records.values()), pool_ids=scope.get('pool_ids'), fresh=fresh)

    def connected(self, records, fresh=False):
        """``(desktop record, session)`` of every connected session on ``records``."""
        found = self.sessions(records, fresh=fresh)
        return [(records.get(s['desktop_id']), s) for s in found if s['state'] == 'connected'
                and s['desktop_id'] in records]

    def countdown(self, slot, state, records):
        """The countdown messages at the given minutes before the drain, to the users still connected, waiting
        in between; a mark already sent to this wave (by an interrupted run) is not sent again."""
        marks = self.opts['countdown']
        for n, minutes in enumerate(marks):
            if minutes in state['marks']:
                continue
            targets = self.connected(records, fresh=(n == 0))
            if not targets:
                break
            text = countdown_text(self.opts['message'], minutes, self.rec(targets[0][1]['desktop_id'])['pool_name']
                                  or '')
            entries = svc.send_messages(self.adapter, targets, text, self.opts['message_type'],
                                        check_mode=self.check_mode, options=self.opts['message_options'])
            for e in entries:
                rec = self.rec(e['desktop_id'])
                if e['sent'] or self.check_mode:
                    rec['warnings']['sent'] = unique(rec['warnings']['sent'] + [minutes])
                else:
                    rec['warnings']['failed'] = unique(rec['warnings']['failed'] + [minutes])
            self.step_entries('message_%s' % minutes, entries, key='desktop_id')
            state['marks'].append(minutes)
            self.save()
            gap = (minutes - (marks[n + 1] if n + 1 < len(marks) else 0)) * self.opts['minute_seconds']
            if gap > 0 and not self.check_mode:
                self.sleep(gap)

    def drain_and_log_off(self, state, records):
        """Wait for the connected users to leave, then apply the logoff policy to every session that is left."""
        if not self.check_mode and self.opts['drain_timeout'] > 0:
            self.poller_factory(self.opts['drain_timeout'], 30.0).run(lambda: not self.connected(records))
        left = self.sessions(records, fresh=self.check_mode)
        busy = unique(s['desktop_id'] for s in left if s['desktop_id'] in records)
        self.step([i for i in records if i not in busy], 'drain', svc.UNCHANGED, 'no session left')
        if not busy:
            return
        self.step(busy, 'drain', svc.DONE, 'sessions still there after the drain timeout (policy %s)'
                  % self.opts['logoff_policy'])
        busy = self.skip_unwarned(state, busy, left)
        policy = self.opts['logoff_policy']
        if self.rollout_logs_off():
            self.step(busy, 'logoff', svc.SKIPPED, 'the image rollout logs the users off (its logoff_policy force)')
            return
        if policy == 'skip':
            self.leave(state, busy, 'logoff', svc.SKIPPED, 'left out of this window: sessions still there (logoff '
                       'policy skip)')
        elif policy == 'fail':
            self.leave(state, [i for i in records if i not in state['left']], 'logoff', svc.REFUSED,
                       '%d desktop(s) still have sessions after the drain timeout; logoff policy is fail' % len(busy))
        else:
            self.log_off(state, busy, records, left)

    def rollout_logs_off(self):
        """Whether the provider's own image rollout ends the sessions (so the window's logoff step has nothing to do)."""
        return self.opts.get('patch_method') == 'image' and \
            (self.opts.get('image_options') or {}).get('logoff_policy', 'force') == 'force' \
            and self.opts['logoff_policy'] == 'force'

    def skip_unwarned(self, state, busy, sessions):
        """Leave out busy desktops whose connected user got none of the countdown messages (unwarned policy skip)."""
        if not self.opts['countdown'] or self.opts['unwarned_policy'] != 'skip' or self.check_mode:
            return busy
        connected = set(s['desktop_id'] for s in sessions if s['state'] == 'connected')
        unwarned = [i for i in busy if i in connected and not self.rec(i)['warnings']['sent']]
        self.leave(state, unwarned, 'logoff', svc.SKIPPED, 'left out of this window: a user is still connected and '
                   'none of the countdown messages reached them (unwarned_policy skip)')
        return [i for i in busy if i not in unwarned]

    def log_off(self, state, busy, records, sessions):
        if not busy:
            return
        if not self.adapter.logoff_supported:
            if self.opts['restart']:
                self.step(busy, 'logoff', svc.SKIPPED, '%s has no logoff API; the restart ends the sessions'
                          % self.adapter.name)
            else:
                self.leave(state, busy, 'logoff', svc.REFUSED, '%s has no logoff API and restart is off: the '
                           'sessions cannot be ended; not patched' % self.adapter.name)
            return
        message = (self.opts['logoff_message'] or None) if self.adapter.logoff_message_supported else None
        wait = max(self.opts['drain_timeout'], 60)
        targets = [(records[s['desktop_id']], s) for s in sessions if s['desktop_id'] in set(busy)]
        for _attempt in range(2 if self.opts['retry_unanswered'] else 1):
            entries = svc.logoff_sessions(self.adapter, targets, force=True, message=message,
                                          check_mode=self.check_mode, wait=True, wait_timeout=wait,
                                          poller=self.poller_factory(wait, 10.0),
                                          pool_ids=self.selection(busy).scope.get('pool_ids'))
            self.step_entries('logoff', entries, key='desktop_id')
            self.leave(state, unique(e['desktop_id'] for e in entries if e['outcome'] == svc.REFUSED), None,
                       svc.REFUSED, None)
            unknown = unique(e['desktop_id'] for e in entries if e['outcome'] == svc.UNKNOWN)
            if not unknown:
                return
            # the call got no usable answer: it may have been applied. Give it the drain's time to show, then ask
            # again only for the sessions still there (asking twice is harmless: the desktops are in maintenance).
            left = svc.wait_sessions_gone(self.adapter, [records[i] for i in unknown],
                                          self.poller_factory(min(self.opts['drain_timeout'], 120), 10.0),
                                          pool_ids=self.selection(unknown).scope.get('pool_ids'))
            gone = [i for i in unknown if i not in set(s['desktop_id'] for s in left)]
            self.step(gone, 'logoff', svc.DONE, 'logged off (the answer to the logoff call was lost)')
            targets = [(records[s['desktop_id']], s) for s in left]
            if not targets:
                return
        self.leave(state, unique(d['id'] for d, _s in targets), None, svc.UNKNOWN, None)

    # ------------------------------------------------------------------ end
    def end(self, slot, patch_failed=(), patch_error=None, patched=None):
        """Restart, restore power, verify, release or quarantine the wave; returns the phase's result.

        ``patch_failed``: ids the caller's patch tasks marked failed; ``patch_error``: the patch tasks failed
        as a whole (every active desktop failed); ``patched``: in rolling mode, the ids whose patch tasks ran
        to the end (the others failed).
        """
        state = self.wave_state(slot)
        active = [i for i in state['active'] if self.rec(i)['state'] == 'active']
        failed = self.record_patch(active, patch_failed, patch_error, patched)
        ok = [i for i in active if i not in failed]
        provider_patch = self.opts.get('patch_method') in ('image', 'command')
        if provider_patch and ok:
            failed += self.patch_through_provider(ok)
            ok = [i for i in ok if i not in failed]
        # a desktop rebuilt on a new image starts on it: it needs no restart of its own
        if self.opts['restart'] and ok and self.opts.get('patch_method') != 'image':
            self.restart(ok)
        self.restore_power([i for i in ok if not self.failed_in(i, ('restart',))])
        self.verify(active)
        quarantine = [i for i in active if self.failed_in(i, QUARANTINE_STEPS)] if self.opts['quarantine_failed'] \
            else []
        self.release(state, [i for i in state['members'] if self.rec(i)['entered'] and i not in quarantine])
        for did in state['members']:
            self.rec(did)['state'] = 'done'
        self.data['quarantined'] = unique(self.data['quarantined'] + quarantine)
        self.check_budget()
        self.save()
        return self.wave_result(slot)

    def failed_in(self, did, steps):
        return any(self.rec(did)['steps'].get(s, {}).get('outcome') == 'failed' for s in steps)

    def record_patch(self, active, patch_failed, patch_error, patched):
        if patch_error:
            failed = list(active)
            msg = patch_error
        elif patched is not None:
            done = set(patched)
            failed = [i for i in active if i not in done or i in set(patch_failed or ())]
            msg = 'the patch tasks failed on this desktop'
        else:
            failed = [i for i in active if i in set(patch_failed or ())]
            msg = 'marked failed by the patch tasks'
        ran = self.opts['patch_tasks'] or patched is not None
        if self.opts.get('patch_method') in ('image', 'command') and not ran:
            return failed  # patched through the provider (patch_through_provider records the step)
        self.step([i for i in active if i not in failed], 'patch', svc.DONE if ran else svc.SKIPPED,
                  'patch tasks done' if ran else 'no patch tasks given')
        self.step(failed, 'patch', svc.REFUSED, msg)
        return failed

    def patch_through_provider(self, ids):
        """Patch the wave through the provider: roll the image out to it, or run the command through the cloud
        agent. Returns the ids whose patch failed (a non-zero exit code fails its desktop alone)."""
        records = self.read(ids)
        if records is None:
            self.step(ids, 'patch', svc.UNKNOWN, 'the desktops could not be read before the patch')
            return list(ids)
        sel = self.selection([i for i in ids if i in records], [records[i] for i in ids if i in records])
        sel.scope = {'desktop_ids': [d['id'] for d in sel.desktops]}
        if self.opts['patch_method'] == 'image':
            o = self.opts['image_options']
            entries, _jobs = patching.rollout_image(
                self.adapter, sel, self.opts['image'], logoff_policy=o.get('logoff_policy', 'force'),
                notice=o.get('notice'), grace_minutes=o.get('grace_minutes'), check_mode=self.check_mode,
                wait_timeout=self.opts['restart_timeout'], poller_factory=self.poller_factory)
        else:
            o = self.opts['command_options']
            entries = patching.run_commands(
                self.adapter, sel, command=self.opts['command'], command_type=self.opts['command_type'],
                script_ids=o.get('script_ids'), command_timeout=o.get('timeout', 600),
                output_limit=o.get('output_limit', 1024), check_mode=self.check_mode)
        self.step_entries('patch', entries)
        for e in entries:
            if e.get('id') in self.data['desktops'] and 'exit_code' in e:
                self.rec(e['id'])['steps']['patch'].update(exit_code=e['exit_code'], status=e.get('status'))
        gone = [i for i in ids if i not in records]
        self.step(gone, 'patch', svc.REFUSED, 'no longer listed by the provider')
        return gone + [e['id'] for e in entries if e['failed'] and e.get('id') in self.data['desktops']]

    def restart(self, ids):
        """Restart and wait; once more for the desktops whose call got no usable answer (they are drained and in
        maintenance, so a second restart is harmless), never for refusals."""
        attempts = 2 if self.opts['retry_unanswered'] else 1
        for _attempt in range(attempts):
            entries = self.power(ids, 'restarted', self.opts['restart_force'])
            self.step_entries('restart', entries)
            ids = [e['id'] for e in entries if e['outcome'] == svc.UNKNOWN]
            if not ids:
                break

    def power(self, ids, state, force=False, records=None):
        """Bring ``ids`` to ``state`` and wait (``records``: their current records, read first when not given)."""
        records = self.read(ids) if records is None else records
        if records is None:
            return [svc.result_entry(self.rec(i), False, True, 'could not be read before the %s' % state, None, None,
                                     outcome=svc.UNKNOWN) for i in ids]
        sel = self.selection(ids, [records[i] for i in ids if i in records])
        entries, _jobs = svc.ensure_power(self.adapter, sel, state, force=force, check_mode=self.check_mode,
                                          wait_timeout=self.opts['restart_timeout'],
                                          poller_factory=self.poller_factory)
        gone = [svc.result_entry(self.rec(i), False, True, 'no longer listed by the provider', None, None)
                for i in ids if i not in records]
        for e in entries:
            if e['after']:
                self.read_back[e['id']] = e['after']['power_state']
        return entries + gone

    def restore_power(self, ids):
        """Bring desktops that were powered off or suspended before the wave back to that state."""
        by_target = {}
        for did in ids:
            before = self.rec(did)['before']['power_state']
            if before in (POWERED_OFF, SUSPENDED) and 'power_on' in self.rec(did)['steps']:
                by_target.setdefault(before, []).append(did)
        for target, group in by_target.items():
            if self.adapter.unsupported_power.get(target):
                self.step(group, 'power', svc.SKIPPED, 'left powered on: %s cannot make it %s again'
                          % (self.adapter.name, target))
                continue
            # the restart has just read them back: their records need no other read
            records = dict((i, dict(self.rec(i), power_state=self.read_back[i])) for i in group if i in self.read_back)
            self.step_entries('power', self.power(group, target, records=records if len(records) == len(group) else None))

    def verify(self, active):
        """Read the wave back: healthy is powered on, or in the power state it had before the wave."""
        if not active:
            return
        if self.check_mode:
            self.step(active, 'verify', svc.UNCHANGED, 'would verify the power state')
            return
        unread = [i for i in active if i not in self.read_back and not self.failed_in(i, ('patch',))]
        current = self.read(unread) if unread else {}
        if current is None:
            # a read that keeps failing says nothing about the desktops: it never quarantines them by itself
            self.step(unread, 'verify', svc.SKIPPED, 'not verified: the provider kept failing the reads for %ss'
                      % READ_PATIENCE)
            current = {}
        self.read_back.update((i, d['power_state']) for i, d in current.items())
        for did in active:
            rec = self.rec(did)
            if did not in self.read_back:
                continue
            power = self.read_back[did]
            expected = [POWERED_ON]
            if rec['steps'].get('power', {}).get('outcome') in ('changed', 'ok'):
                expected = [rec['before']['power_state']]
            if self.failed_in(did, ('patch',)):
                continue
            if power in expected:
                self.step([did], 'verify', svc.UNCHANGED, 'in the expected power state')
            else:
                self.step([did], 'verify', svc.REFUSED, 'not %s after the patch (%s)' % (' or '.join(expected), power))

    def release(self, state, ids):
        """Give the wave's healthy desktops back (maintenance off, read back; asked again while the answer is lost)."""
        if not ids:
            return
        # they entered maintenance in this wave (or were found in it): the release asks for all of them and reads
        # the outcome back, so no read is needed before
        sel = self.selection(ids, [dict(self.rec(i), maintenance=True) for i in ids])
        self.step_entries('release', svc.ensure_maintenance(self.adapter, sel, False, check_mode=self.check_mode))

    def check_budget(self):
        """Stop starting waves once more than max_failed_percentage of the desktops handled so far failed."""
        handled = [r for r in self.data['desktops'].values() if r['state'] == 'done' and not r.get('left')]
        failed = [r for r in handled if r['id'] in self.data['quarantined'] or self.failed_in(r['id'], (
            'maintenance', 'power_on', 'logoff', 'release') + QUARANTINE_STEPS)]
        self.data['stopped'] = len(failed) * 100 > len(handled) * self.opts['max_failed_percentage']

    # ------------------------------------------------------------------ results
    def wave_result(self, slot, note=None):
        state = self.wave_state(slot)
        members = state['members']
        active = state['active']
        entries = []
        for did in members:
            rec = self.rec(did)
            steps = rec['steps']
            failed = [s for s in steps if steps[s]['outcome'] == 'failed' and not s.startswith('message_')]
            entries.append({'id': did, 'name': rec['name'], 'pool': rec['pool'], 'address': rec['address'],
                            'active': did in active, 'left': state['left'].get(did),
                            'outcome': steps[failed[-1]]['result'] if failed else (
                                svc.SKIPPED if did in state['left'] else svc.DONE),
                            'msg': steps[failed[-1]]['msg'] if failed else (
                                'left out of the wave' if did in state['left'] else 'ok'), 'steps': steps})
        remaining = dict((p['id'], len(p['queue']) - p['next']) for p in self.data['pools'])
        return {'slot': slot, 'note': note, 'desktops': entries, 'active': active, 'catch_up': self.catch_up(),
                'wave_desktops': [dict(id=e['id'], name=e['name'], pool=e['pool'], address=e['address'])
                                  for e in entries if e['active']],
                'remaining': remaining, 'stopped': self.data['stopped'],
                'summary': {'desktops': len(members), 'active': len(active), 'left': len(state['left']),
                            'quarantined': sum(1 for i in members if i in self.data['quarantined'])}}

    # ------------------------------------------------------------------ close
    def close(self):
        """Read the final state, give every desktop its status, write the report, release the locks."""
        pools = [p['id'] for p in self.data['pools']]
        final = self.final_state(pools)
        records = []
        for rec in self.data['desktops'].values():
            records.append(self.closed_record(rec, final.get(rec['id']) if final is not None else None))
        records.sort(key=lambda r: (r['pool'] or '', r['wave'] or 1 << 30, r['name'] or '', r['id']))
        summary = self.summary(records)
        report = {'summary': summary, 'desktops': records}
        jr.write_private(self.data['report'], _json(report) + '\n')
        self.data['finished'] = True
        self.save()
        jr.release_locks(self.data['locks'], self.data['run'])
        return report

    def final_state(self, pools):
        found = {}

        def attempt():
            try:
                found.update((d['id'], d) for d in self.adapter.list_desktops(pool_ids=pools))
            except CALL_ERRORS:
                return False
            return True

        return found if self.poller_factory(READ_PATIENCE, 30.0).run(attempt) else None

    def closed_record(self, rec, final):
        steps = dict(rec['steps'])
        out = dict((k, rec[k]) for k in ('id', 'name', 'pool', 'wave', 'warnings'))
        out['pool_name'] = rec['pool_name']
        out['power_before'] = rec['before']['power_state']
        out['final'] = ({'maintenance': final.get('maintenance'), 'power_state': final.get('power_state'),
                         'sessions': final.get('sessions')} if final else None)
        left = rec.get('left') or self.data['waves'].get(str(rec.get('slot')), {}).get('left', {}).get(rec['id'])
        failed = [s for s, v in steps.items() if v['outcome'] == 'failed' and not s.startswith('message_')]
        if rec['state'] == 'queued':
            status = 'not_reached'
            steps.setdefault('deferred', {'outcome': 'skipped', 'result': svc.SKIPPED, 'msg': self.not_reached_why(rec)})
        elif rec['id'] in self.data['quarantined']:
            status = 'quarantined'
        elif final and final.get('maintenance') and rec['entered'] and not self.check_mode:
            status = 'quarantined'  # the provider refused (or never confirmed) the release
            steps['release'] = {'outcome': 'failed', 'result': svc.REFUSED,
                                'msg': 'still in maintenance at the end of the window'}
        elif left == 'skipped' and not failed:
            status = 'skipped'
        elif failed:
            status = 'failed'
        else:
            status = 'released'
        out['steps'] = steps
        out['status'] = status
        return out

    def not_reached_why(self, rec):
        if self.data['stopped']:
            return 'not started: the window stopped early (max_failed_percentage)'
        return ('not started: desktops quarantined in this pool use up its out-of-service allowance; the next window '
                'takes it')

    def summary(self, records):
        count = dict((s, sum(1 for r in records if r['status'] == s)) for s in STATUSES)
        sent = sum(len(r['warnings']['sent']) for r in records)
        unsent = sum(len(r['warnings']['failed']) for r in records)
        return dict(count, check_mode=self.check_mode, pools=len(self.data['pools']), desktops=len(records),
                    waves=sum(1 for w in self.data['waves'].values() if w['members']),
                    stopped_early=self.data['stopped'], report=self.data['report'],
                    warnings={'delivered': sent, 'failed': unsent})


def backoff(timeout, cap=15.0):
    """The engine's poller: checks at once, then after 0.25 s, twice as long each time, up to ``cap`` seconds apart
    (a short first wait costs a read or two; a long one costs every wave its length)."""
    return Poller(timeout, initial=0.25, factor=2.0, cap=cap)


def _json(data):
    return json.dumps(data, indent=2, sort_keys=True)


# ---------------------------------------------------------------------------------------------- slices


def stats_of(report):
    """What a window publishes with ``set_stats``: the summary and the names of the quarantined and failed desktops."""
    records = report['desktops']
    return {'summary': report['summary'],
            'quarantined': [r.get('name') or r['id'] for r in records if r.get('status') == 'quarantined'],
            'failed': [r.get('name') or r['id'] for r in records if r.get('status') == 'failed']}


def merge_reports(reports, path=None):
    """One report from the reports of the slices of a window (AWX job slicing, or disjoint ``--limit`` runs).

    Every desktop must be in one slice only (ConfigError naming the ones that are not); the summary counts
    the statuses again, and ``slices`` says how many reports were merged.
    """
    records, seen, twice = [], {}, []
    for n, report in enumerate(reports or []):
        for rec in (report or {}).get('desktops') or []:
            if rec['id'] in seen:
                twice.append('%s (slices %d and %d)' % (rec.get('name') or rec['id'], seen[rec['id']], n + 1))
                continue
            seen[rec['id']] = n + 1
            records.append(rec)
    if twice:
        raise ConfigError('%d desktop(s) are in more than one slice report: %s. Slices must be disjoint.'
                          % (len(twice), ', '.join(twice[:5])))
    summary = _merged_summary([(r or {}).get('summary') or {} for r in reports or []], records, path)
    records.sort(key=lambda r: (r.get('pool') or '', r.get('wave') or 1 << 30, r.get('name') or '', r['id']))
    merged = {'summary': summary, 'desktops': records}
    merged['stats'] = stats_of(merged)
    return merged


def _merged_summary(summaries, records, path):
    count = dict((s, sum(1 for r in records if r.get('status') == s)) for s in STATUSES)
    warnings = dict((k, sum((s.get('warnings') or {}).get(k, 0) for s in summaries)) for k in ('delivered', 'failed'))
    return dict(count, desktops=len(records), slices=len(summaries), warnings=warnings,
                pools=len(set(r.get('pool') for r in records)), waves=max([s.get('waves', 0) for s in summaries] or [0]),
                check_mode=any(s.get('check_mode') for s in summaries),
                stopped_early=any(s.get('stopped_early') for s in summaries), report=path)


def wave_groups(groups, prefix='vdi_wave_'):
    """The inventory's wave groups (``vdi_wave_1``, ``vdi_wave_2``...) in wave order."""
    found = []
    for name in groups or {}:
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            found.append((int(name[len(prefix):]), name))
    return [name for _n, name in sorted(found)]


def wave_batches(groups, prefix='vdi_wave_'):
    """The play's ``serial`` for the rolling mode: the size of each wave group, in wave order (empty ones left out)."""
    return [len(groups[name]) for name in wave_groups(groups, prefix) if groups[name]]
