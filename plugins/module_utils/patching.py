# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Patching through the providers themselves: golden-image rollout and in-guest commands.

Provider-neutral, like :mod:`service`, whose selection, result entries and ``outcome`` vocabulary it uses:

* :func:`rollout_image` rolls an image out to a pool or to selected desktops, a canary first where one is
  asked for, the rest only when every canary desktop runs the image; desktops already on the image are left
  alone (``unchanged``), and the image of every desktop acted on is read back;
* :func:`run_commands` runs a command (or stored scripts) in the guests through the provider's agent, a canary
  batch first, and reports per desktop the exit code, the status and the output (bounded, secrets masked).

What a provider can do is asked from its adapter (``image_rollout``, ``rollout_notice``, ``command_types``,
``stored_scripts``, ...), never from its name; what it cannot do is refused before any request
(:func:`check_image_options`, :func:`check_command_options`). A write is never re-sent once it may have reached
the provider.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import re
import time

from ansible_collections.vdi.fleet.plugins.module_utils.errors import CALL_ERRORS, ConfigError, Failure, as_failure
from ansible_collections.vdi.fleet.plugins.module_utils.service import (
    REFUSED, SKIPPED, UNKNOWN, match_entries, missing_entries, result_entry, selection_entries)
from ansible_collections.vdi.fleet.plugins.module_utils.transport import Poller

LOGOFF_POLICIES = ('wait', 'force')
COMMAND_TYPES = ('powershell', 'bat', 'shell')
#: characters of a command's output kept per desktop unless ``output_limit`` says otherwise
DEFAULT_OUTPUT_LIMIT = 4096
#: seconds the results of a command are followed beyond its own timeout (delivery to the agent, reporting)
RESULT_GRACE = 120
#: what replaces a secret of the connection in a command's output
MASK = '********'


#: the fields a command adds to a result entry, empty
COMMAND_FIELDS = {'status': None, 'exit_code': None, 'output': None, 'output_truncated': False, 'stage': None}


def _missing(selection, **fields):
    """The entries of the selection entries that matched nothing, with the fields of this module's entries."""
    return [dict(e, **fields) for e in missing_entries(selection)]


def _poller(timeout):
    return Poller(timeout, initial=1.0, factor=1.6, cap=15.0)


# ================================================================================================ options


def epoch_ms(start_time):
    """``start_time`` (ISO 8601 UTC, ``2026-12-01T22:00:00Z``, seconds optional) as epoch milliseconds."""
    text = (start_time or '').strip()
    m = re.match(r'^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d)(:\d\d)?(Z|[+-]00:?00)?$', text)
    if not m:
        raise ConfigError('start_time %r is not an ISO 8601 UTC time such as 2026-12-01T22:00:00Z.' % start_time)
    try:
        value = time.strptime('%s %s%s' % (m.group(1), m.group(2), m.group(3) or ':00'), '%Y-%m-%d %H:%M:%S')
    except ValueError:
        raise ConfigError('start_time %r is not a valid date and time.' % start_time)
    return calendar.timegm(value) * 1000


def check_image_options(adapter, whole_pool, logoff_policy='wait', notice=None, grace_minutes=None, start_time=None,
                        canary=None, wait=True):
    """Raise ConfigError, before any request, when the provider cannot roll out an image this way."""
    name = adapter.name
    if not adapter.image_rollout:
        raise ConfigError(adapter.image_unsupported or '%s cannot roll out images.' % name)
    scope = 'pool' if whole_pool else 'desktops'
    if scope not in adapter.image_rollout:
        raise ConfigError('%s rolls images out to %s only; select %s.' % (
            name, ' and '.join('a whole pool' if s == 'pool' else 'desktops' for s in adapter.image_rollout),
            'a pool without desktops' if scope == 'desktops' else 'desktops'))
    if logoff_policy not in adapter.rollout_logoff_policies:
        raise ConfigError('%s cannot roll out an image with logoff_policy=%s: %s' % (
            name, logoff_policy, adapter.rollout_logoff_hint.get(logoff_policy, 'it takes %s.'
                                                                 % ', '.join(adapter.rollout_logoff_policies))))
    if notice is not None:
        if not adapter.rollout_notice:
            raise ConfigError('%s shows no notice to the users with an image rollout; remove notice.' % name)
        if not notice.strip():
            raise ConfigError('notice is empty; omit it to roll out without a notice.')
        if len(notice) > adapter.rollout_notice:
            raise ConfigError('notice is %d characters long; %s takes at most %d.'
                              % (len(notice), name, adapter.rollout_notice))
    if grace_minutes is not None:
        if adapter.rollout_grace is None:
            raise ConfigError('%s has no grace time for an image rollout; remove grace_minutes.' % name)
        low, high = adapter.rollout_grace
        if not low <= grace_minutes <= high:
            raise ConfigError('grace_minutes must be between %d and %d for %s.' % (low, high, name))
    if start_time is not None and not adapter.rollout_start_time:
        raise ConfigError('%s cannot schedule an image rollout for later; remove start_time.' % name)
    if canary not in (None, 0, [], '') and not wait:
        raise ConfigError('A canary needs wait=true: the rest is rolled out only once the canary runs the image.')
    return epoch_ms(start_time) if start_time is not None else None


def check_command_options(adapter, command=None, command_type='powershell', script_ids=None, failure_threshold=1,
                          command_timeout=600, output_limit=DEFAULT_OUTPUT_LIMIT):
    """Raise ConfigError, before any request, when the provider cannot run this command."""
    name = adapter.name
    if not adapter.command_types:
        raise ConfigError(adapter.command_unsupported or '%s cannot run commands in the guest.' % name)
    if bool(command) == bool(script_ids):
        raise ConfigError('Give either command (with command_type) or script_ids.')
    if script_ids and not adapter.stored_scripts:
        raise ConfigError(adapter.stored_scripts_hint or '%s has no stored scripts; pass the script as command.' % name)
    if command is not None and command_type not in adapter.command_types:
        raise ConfigError('%s runs command_type %s only, not %s.'
                          % (name, ', '.join(adapter.command_types), command_type))
    low, high = adapter.command_timeout_range
    if not low <= command_timeout <= high:
        raise ConfigError('command_timeout must be between %d and %d seconds for %s.' % (low, high, name))
    if failure_threshold < 1:
        raise ConfigError('failure_threshold must be at least 1.')
    if output_limit < 0:
        raise ConfigError('output_limit must be 0 (no output) or more characters.')
    adapter.check_command(command=command, command_type=command_type, script_ids=script_ids)


def canary_of(canary, candidates, selection):
    """The canary desktops: the first ``canary`` of ``candidates``, or the selected desktops a list names.

    A list entry (id or exact name) that is not in the selection is a ConfigError (nothing was sent yet).
    """
    if canary in (None, '', 0, []):
        return []
    if isinstance(canary, bool):
        raise ConfigError('canary must be a number of desktops or a list of desktops, not %r.' % canary)
    if isinstance(canary, int) or (isinstance(canary, str) and canary.strip().isdigit()):
        count = int(canary)
        if count < 1:
            raise ConfigError('canary must be at least 1 desktop.')
        return list(candidates[:count])
    entries = selection_entries([canary] if isinstance(canary, str) else canary)
    chosen, missing = match_entries(selection.desktops, entries)
    if missing:
        raise ConfigError('canary names desktops that are not in the selection: %s'
                          % '; '.join(msg for _entry, msg in missing))
    return chosen


# ================================================================================================ images


class ImageRun:
    """One rollout: the plan, the calls per stage, following them, and the per-desktop report."""

    def __init__(self, adapter, selection, image, opts, poller_factory):
        self.adapter = adapter
        self.selection = selection
        self.opts = opts
        self.poller = poller_factory or _poller
        self.image = adapter.parse_image(image)
        self.ctx = None
        self.before = {}
        self.after = {}
        self.failures = {}
        self.skipped = {}
        self.job_failures = {}
        self.jobs = []
        self.job_of = {}
        self.stage_of = {}
        self.late = set()
        self.todo, self.canary, self.rest = [], [], []

    @property
    def whole_pool(self):
        return self.selection.pool if self.selection.whole_pool else None

    def plan(self, canary):
        """Read the current images, split the desktops to change into the canary and the rest, and read what the
        rollout needs (:meth:`adapter.prepare_rollout`) unless there is nothing to do."""
        desktops = self.selection.desktops
        pool_id = self.whole_pool['id'] if self.whole_pool else None
        self.before = self.adapter.read_images(desktops, pool_id=pool_id, fresh=True) if desktops else {}
        todo = [d for d in desktops if (self.before.get(d['id']) or {}).get('image') != self.image]
        if todo or (self.whole_pool and self.adapter.listed_pool_image(self.whole_pool) != self.image):
            self.ctx = self.adapter.prepare_rollout(self.image, desktops, pool=self.whole_pool, options=self.opts)
        else:
            self.ctx = {'image': self.image, 'pool': self.whole_pool, 'pool_image': self.image if pool_id else None}
        self.ctx['stop_on_failure'] = self.opts.get('stop_on_failure', True)
        self.todo = [d['id'] for d in todo]
        chosen = set(d['id'] for d in canary_of(canary, todo, self.selection))
        self.canary = [i for i in self.todo if i in chosen]
        self.rest = [i for i in self.todo if i not in chosen]
        self.stage_of.update((i, 'canary') for i in self.canary)
        self.stage_of.update((i, 'rest') for i in self.rest)

    def pool_step(self):
        """Whether the whole pool's own image is still to change (also when every desktop already runs it)."""
        return bool(self.whole_pool) and self.ctx.get('pool_image') != self.ctx['image']

    def dispatch(self, stage, ids):
        if not ids and not (stage == 'rest' and self.pool_step()):
            return
        try:
            failures, not_sent, jobs = self.adapter.rollout(self.ctx, ids, stage)
        except CALL_ERRORS as exc:  # an adapter that does not isolate its calls: the outcome is unknown
            failures, not_sent, jobs = dict.fromkeys(ids, Failure.of(exc)), [], []
        for i in not_sent:
            self.skipped[i] = failures.pop(i, None) or 'not sent: an earlier call failed (stop_on_failure)'
        self.failures.update((i, as_failure(f)) for i, f in failures.items() if f is not None)
        for job in jobs:
            job = dict(job, stage=stage)
            self.jobs.append(job)
            self.job_of.update((i, job['id']) for i in job.pop('desktops', None) or [])

    def _read_jobs(self):
        for job in self.jobs:
            if job['status'] != 'pending':
                continue
            try:
                info = self.adapter.rollout_progress(self.ctx, job)
            except CALL_ERRORS:
                continue  # a read: asked again on the next poll
            job['status'], job['message'] = info['status'], info.get('message')
            self.job_failures.update((i, m) for i, m in (info.get('failures') or {}).items() if m)

    def _job_state(self, i):
        job_id = self.job_of.get(i)
        job = next((j for j in self.jobs if j['id'] == job_id), None) if job_id else None
        return job['status'] if job else None, job

    def follow(self, ids, timeout):
        """Poll the operations and the desktops with backoff until each desktop runs the image or failed."""
        outstanding = [i for i in ids if i not in self.failures and i not in self.skipped]
        by_id = dict((d['id'], d) for d in self.selection.desktops)
        pool_id = self.whole_pool['id'] if self.whole_pool else None

        def progress():
            self._read_jobs()
            readable = [i for i in outstanding if self._job_state(i)[0] != 'pending']
            if readable:
                self.after.update(self.adapter.read_images([by_id[i] for i in readable], pool_id=pool_id))
            for i in readable:
                if self._settled(i):
                    outstanding.remove(i)
            return not outstanding and not any(j['status'] == 'pending' for j in self.jobs)

        if outstanding or any(j['status'] == 'pending' for j in self.jobs):
            self.poller(timeout).run(progress)
        self.late.update(outstanding)

    def _settled(self, i):
        """Whether desktop ``i`` is over: on the image, failed, or its operation ended without moving it."""
        rec = self.after.get(i)
        status, job = self._job_state(i)
        if rec is not None and rec['image'] == self.ctx['image'] and not rec['busy']:
            return True
        if rec is not None and rec['error']:
            self.job_failures.setdefault(i, rec['error'])
            return True
        if i in self.job_failures:
            return True
        if status == 'failed':
            self.job_failures[i] = job.get('message') or 'provider operation %s failed' % job['id']
            return True
        if status == 'success' and rec is not None and not rec['busy']:
            self.job_failures[i] = 'operation %s ended but the desktop shows image %s' % (job['id'], rec['image'])
            return True
        return False

    def canary_failed(self):
        """The reason the canary failed, or None when every canary desktop runs the image."""
        bad = [i for i in self.canary if i in self.failures or i in self.job_failures or i in self.late
               or i in self.skipped]
        if not bad:
            return None
        names = dict((d['id'], d.get('name') or d['id']) for d in self.selection.desktops)
        return 'the canary failed on %s' % ', '.join(names[i] for i in bad[:5]) + (' and %d more' % (len(bad) - 5)
                                                                                   if len(bad) > 5 else '')

    def report(self):
        results = dict((d['id'], self._entry(d)) for d in self.selection.desktops)
        pool_jobs = [j for j in self.jobs if j.get('scope') == 'pool']
        if pool_jobs and self.whole_pool:
            after = self.adapter.pool_image(self.ctx)
            for job in pool_jobs:
                job['image_after'] = after
        return [results[d['id']] for d in self.selection.desktops] + _missing(self.selection, stage=None)

    def _entry(self, d):
        i = d['id']
        state = self.before.get(i) or {}
        before = {'image': state.get('image')}
        stage = self.stage_of.get(i)
        if stage is None:
            entry = result_entry(d, False, False, 'already on image %s' % self.ctx['image'], before, before)
            return dict(entry, stage=None)
        rec = self.after.get(i)
        after = {'image': rec['image']} if rec else dict(before)
        moved = after['image'] != before['image']
        label = ' (canary)' if stage == 'canary' else ''
        if i in self.skipped:
            why = self.skipped[i]
            entry = result_entry(d, False, False, 'not rolled out: %s' % (why.msg if isinstance(why, Failure) else why),
                                 before, after, outcome=SKIPPED)
        elif i in self.failures:
            failure = self.failures[i]
            entry = result_entry(d, moved, True, '%s to roll out the image%s: %s' % (
                'could not' if failure.unknown else 'provider refused', label, failure.msg), before, after, failure)
        elif i in self.job_failures:
            entry = result_entry(d, moved, True, 'rollout%s failed: %s' % (label, self.job_failures[i]), before, after)
        elif not self.opts.get('wait', True):
            entry = result_entry(d, True, False, 'rollout of image %s requested%s (not waited for)'
                                 % (self.ctx['image'], label), before, after)
        elif i in self.late:
            entry = result_entry(d, moved, True, 'the desktop shows image %s%s, not %s, after %ss (wait_timeout)' % (
                after['image'], ' and is still busy' if rec and rec['busy'] else '', self.ctx['image'],
                self.opts.get('wait_timeout')), before, after)
        else:
            entry = result_entry(d, True, False, 'rolled out image %s%s' % (self.ctx['image'], label), before, after)
        return dict(entry, stage=stage)

    def planned(self):
        out = []
        for d in self.selection.desktops:
            i = d['id']
            before = {'image': (self.before.get(i) or {}).get('image')}
            stage = self.stage_of.get(i)
            if stage is None:
                out.append(dict(result_entry(d, False, False, 'already on image %s' % self.ctx['image'], before,
                                             before), stage=None))
                continue
            msg = 'would roll out image %s%s (check mode)' % (
                self.ctx['image'], ' first, as the canary' if stage == 'canary' else
                ' once the canary runs it' if self.canary else '')
            out.append(dict(result_entry(d, True, False, msg, before, {'image': self.ctx['image']}), stage=stage))
        return out + _missing(self.selection, stage=None)


def rollout_image(adapter, selection, image, canary=None, logoff_policy='wait', notice=None, grace_minutes=None,
                  start_time=None, stop_on_failure=True, check_mode=False, wait=True, wait_timeout=3600,
                  poller_factory=None):
    """Roll ``image`` out to the selected desktops (a whole pool's own image changes too).

    Desktops already on the image are ``unchanged``. With ``canary`` (a number of desktops, or a list of
    selected desktops by id or name) those go first; the rest, and a whole pool's own image, follow only when
    every canary desktop was read back on the image. ``stop_on_failure``: no further call is sent once one
    failed (their desktops are ``skipped``). Operations and desktops are followed with backoff for up to
    ``wait_timeout`` seconds. Check mode reads and plans, and sends no write.

    Returns ``(entries, jobs)``: one :func:`service.result_entry` per selected desktop, with ``before`` and
    ``after`` ``{'image'}`` (read back) and ``stage`` (``canary``, ``rest`` or None when unchanged), plus the
    entries of selection entries that matched nothing; ``jobs`` the provider operations with their final
    ``status``, and for a whole pool ``image_before`` and ``image_after`` (read back).
    """
    start_ms = check_image_options(adapter, selection.whole_pool, logoff_policy, notice, grace_minutes, start_time,
                                   canary, wait)
    opts = {'logoff_policy': logoff_policy, 'notice': notice, 'grace_minutes': grace_minutes, 'start_time': start_ms,
            'stop_on_failure': stop_on_failure, 'wait': wait, 'wait_timeout': wait_timeout}
    run = ImageRun(adapter, selection, image, opts, poller_factory)
    run.plan(canary)
    if check_mode:
        jobs = [{'id': None, 'action': 'pool_image', 'scope': 'pool', 'pool': run.whole_pool['id'], 'status': 'planned',
                 'message': 'would change the pool image (check mode)', 'image_before': run.ctx.get('pool_image'),
                 'image_after': run.ctx['image']}] if run.pool_step() else []
        return run.planned(), jobs
    if run.canary:
        run.dispatch('canary', run.canary)
        run.follow(run.canary, wait_timeout)
        reason = run.canary_failed()
        if reason:
            run.skipped.update((i, reason + '; nothing else was rolled out') for i in run.rest)
            return run.report(), _pool_jobs(run)
    run.dispatch('rest', run.rest)
    if wait:
        run.follow(run.rest, wait_timeout)
    else:
        pool_id = run.whole_pool['id'] if run.whole_pool else None
        acted = [d for d in selection.desktops if d['id'] in set(run.rest)]
        run.after.update(adapter.read_images(acted, pool_id=pool_id) if acted else {})
    return run.report(), _pool_jobs(run)


def _pool_jobs(run):
    """The jobs, with the whole pool's image before (and after, read back by ``report``)."""
    for job in run.jobs:
        if job.get('scope') == 'pool':
            job.setdefault('image_before', run.ctx.get('pool_image'))
    return run.jobs


def diff_images(entries):
    """Ansible diff: the image of every changed desktop before and after."""
    before, after = {}, {}
    for e in entries:
        if e['changed'] and e.get('before') is not None and e.get('after') is not None:
            label = e['name'] or e['id']
            before[label] = e['before'].get('image')
            after[label] = e['after'].get('image')
    return {'before': before, 'after': after}


# ================================================================================================ commands


def _mask(text, secrets):
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def command_entry(desktop, result, stage, output_limit, secrets):
    """The result entry of one desktop from its normalized command result (see ``adapter.command_results``)."""
    status = result.get('status') or 'unknown'
    exit_code = result.get('exit_code')
    output = result.get('output')
    truncated = False
    if output is not None:
        output = _mask(output, secrets)
        truncated = len(output) > output_limit
        output = output[:output_limit]
    message = _mask(result.get('message') or '', secrets)
    label = ' (canary)' if stage == 'canary' else ''
    ran = bool(result.get('ran'))
    if status == 'success':
        entry = result_entry(desktop, True, False, 'ran%s, exit code %s' % (label, exit_code), None, None)
    elif status == 'skipped':
        entry = result_entry(desktop, False, False, 'not run: %s' % (message or 'skipped'), None, None,
                             outcome=SKIPPED)
    elif status in ('running', 'unknown'):
        entry = result_entry(desktop, ran, True, '%s; the command may still run (not re-sent)' % (
            message or 'no result'), None, None, outcome=UNKNOWN)
    else:
        what = 'exit code %s' % exit_code if exit_code is not None else status
        entry = result_entry(desktop, ran, True, 'command%s failed (%s)%s' % (label, what, ': ' + message
                                                                              if message else ''), None, None,
                             outcome=REFUSED)
    entry.update(status=status, exit_code=exit_code, output=output, output_truncated=truncated, stage=stage)
    return entry


class CommandRun:
    """One command over the selected desktops: canary (the provider's own, or a batch of ours), then the rest."""

    def __init__(self, adapter, selection, request, output_limit):
        self.adapter = adapter
        self.selection = selection
        self.request = request
        self.output_limit = output_limit
        self.results = {}
        self.tasks = []
        self.stage_of = {}

    def send(self, ids, gray_ids=None, threshold=None, pool_id=None):
        try:
            failures, tasks = self.adapter.start_commands(self.request, ids, gray_ids=gray_ids, threshold=threshold,
                                                          pool_id=pool_id)
        except CALL_ERRORS as exc:
            failures, tasks = dict.fromkeys(ids, Failure.of(exc)), []
        for i, why in failures.items():
            why = as_failure(why)
            if why is not None:
                self.results[i] = {'status': 'unknown' if why.unknown else 'error', 'exit_code': None,
                                   'output': None, 'message': why.msg, 'ran': False}
        self.tasks.extend(tasks)
        wait = self.request['timeout'] + RESULT_GRACE
        results = self.adapter.command_results(tasks, wait, self.output_limit) if tasks else {}
        for i in ids:
            if i not in self.results:
                self.results[i] = results.get(i) or {'status': 'unknown', 'message': 'the provider reported no result '
                                                     'for this desktop', 'ran': False}

    def execute(self, canary_ids, rest, threshold):
        """One call with the provider's own canary where it has one and all fits one call; else the canary
        batch, then the rest only when fewer than ``threshold`` canary desktops failed."""
        adapter, selection = self.adapter, self.selection
        pool_id = selection.pool['id'] if selection.whole_pool and adapter.command_pool else None
        one_call = pool_id is not None or len(canary_ids) + len(rest) <= adapter.command_batch
        if not canary_ids or (adapter.command_gray and one_call and threshold < len(canary_ids)):
            self.send(canary_ids + rest, gray_ids=canary_ids or None, threshold=threshold if canary_ids else None,
                      pool_id=pool_id)
            return
        self.send(canary_ids)
        bad = self.failed(canary_ids)
        if len(bad) >= threshold:
            for i in rest:
                self.results[i] = {'status': 'skipped', 'message': '%d of %d canary desktops failed (failure_threshold '
                                   '%d)' % (len(bad), len(canary_ids), threshold), 'ran': False}
        elif rest:
            self.send(rest)

    def planned(self):
        out = []
        for d in self.selection.desktops:
            stage = self.stage_of.get(d['id'])
            entry = result_entry(d, True, False, 'would run the command%s (check mode)' % (
                ' first, as the canary' if stage == 'canary' else ''), None, None)
            out.append(dict(entry, status=None, exit_code=None, output=None, output_truncated=False, stage=stage))
        return out + _missing(self.selection, **COMMAND_FIELDS)

    def failed(self, ids):
        return [i for i in ids if self.results.get(i, {}).get('status') not in ('success', 'skipped')]

    def entries(self, secrets):
        out = []
        for d in self.selection.desktops:
            result = self.results.get(d['id']) or {'status': 'unknown', 'message': 'not sent'}
            stage = self.stage_of.get(d['id'])
            if result.get('gray') is not None:
                stage = 'canary' if result['gray'] else 'rest'
            out.append(command_entry(d, result, stage, self.output_limit, secrets))
        return out + _missing(self.selection, **COMMAND_FIELDS)


def run_commands(adapter, selection, command=None, command_type='powershell', script_ids=None, canary=None,
                 failure_threshold=1, command_timeout=600, output_limit=DEFAULT_OUTPUT_LIMIT, check_mode=False):
    """Run ``command`` (or the stored ``script_ids``) on every selected desktop through the provider's agent.

    With ``canary`` (a number of desktops, or a list of selected desktops) those run first; the rest runs only
    when fewer than ``failure_threshold`` canary desktops failed (otherwise they are ``skipped``). Where the
    provider has its own canary (``adapter.command_gray``) one call does both. Nothing is ever sent twice. Each
    desktop's result is read with backoff for up to ``command_timeout`` seconds plus :data:`RESULT_GRACE`.

    Returns one :func:`service.result_entry` per selected desktop (plus the selection entries that matched
    nothing) with ``status``, ``exit_code``, ``output`` (at most ``output_limit`` characters, the connection's
    secrets masked; None when ``output_limit`` is 0), ``output_truncated`` and ``stage``. A command that ran
    is ``changed``; a non-zero exit code, a timeout or a delivery failure is ``failed``.
    """
    check_command_options(adapter, command, command_type, script_ids, failure_threshold, command_timeout,
                          output_limit)
    ids = [d['id'] for d in selection.desktops]
    canary_ids = [d['id'] for d in canary_of(canary, selection.desktops, selection)]
    if canary_ids and failure_threshold > len(canary_ids):
        raise ConfigError('failure_threshold (%d) is more than the %d canary desktop(s): the canary could never stop '
                          'the rest.' % (failure_threshold, len(canary_ids)))
    run = CommandRun(adapter, selection, {'command': command, 'command_type': command_type, 'script_ids': script_ids,
                                          'timeout': command_timeout}, output_limit)
    rest = [i for i in ids if i not in set(canary_ids)]
    run.stage_of.update((i, 'canary') for i in canary_ids)
    run.stage_of.update((i, 'rest' if canary_ids else None) for i in rest)
    if check_mode:
        return run.planned()
    if ids:
        run.execute(canary_ids, rest, failure_threshold)
    return run.entries(adapter.secret_values())


def summarize_commands(entries):
    """Counts over the entries of :func:`run_commands`."""
    return {
        'total': len(entries),
        'changed': sum(1 for e in entries if e['changed']),
        'succeeded': sum(1 for e in entries if e.get('status') == 'success'),
        'failed': sum(1 for e in entries if e['failed']),
        'skipped': sum(1 for e in entries if e['outcome'] == SKIPPED),
        'unchanged': sum(1 for e in entries if not e['changed'] and not e['failed']),
    }
