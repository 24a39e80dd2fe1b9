"""`make bench`, the role section: the patch_window role over a big fleet, through ansible-playbook.

What users run: ``ansible-playbook`` with the ``vdi.fleet.patch_window`` role over every pool of a fleet, against a
simulator child process (``tests/simulator/serve.py --fleet N --pools P``), no faults, a fast clock (nothing waits
on simulated time) and tokens that outlive the run. Role variables: waves of 25 %, no countdown, drain timeout 0,
``patch_window_max_failed_percentage: 100``, ``patch_window_fail_on_quarantine: false``.

Scenarios: N = 400, 2,000 and 10,000 desktops in 4 and in 10 pools; every provider at 400 and 2,000, the providers
of ``--large-providers`` (default Horizon) at 10,000. Beside it, in the same run, the YAML role of commit 36ee355
(before the engine), built from ``git archive`` into its own collections path (``.build/bench-old/<commit>``), on
Horizon at 400 and 2,000 desktops in 4 pools; it is not run at 10,000 (it would take hours): its cost there is an
extrapolation of the fit.

Per run: wall time of ``ansible-playbook``; simulator time (``busy_seconds`` of ``/_sim/stats``, zeroed before the
run); orchestration = wall - simulator; the CPU time of ``ansible-playbook`` and its children (``wait4`` rusage:
the controller's share of the machine, which other jobs do not inflate); the waves (the report's ``summary.waves``;
for the old role the distinct ``(pool, wave)`` of its report); and the requests of the waves by kind (logins,
writes, reads, polls) against :func:`wave_minimum`. A timing callback (``bench/callback_plugins/task_timer.py``)
records every task's start and end, so each request the simulator logged is given to the task, and so to the wave
and phase, that sent it. Checks: every desktop of the pools is in the report once, none is left in maintenance,
writes equal the minimum and reads stay within the minimum plus the polls, in every wave.

Fit: orchestration = a * waves + b * desktops (least squares, no intercept) over the runs of one role and provider;
targets a <= 2 s per wave and b <= 2 ms per desktop, and a 10,000-desktop window in 10 pools orchestrated in under
3 minutes. Results: ``bench/results/window.md`` and ``window.json``. The exit code is 1 when a window of the new
role fails (``ansible-playbook`` fails, a desktop is missing from the report or twice in it, or one is left in
maintenance); the request counts and the time targets are measurements, reported as met or missed.

``--profile DIR`` runs the phase modules under pyinstrument (a text profile per module process) and logs each
module process's wall time, for finding what dominates; the times of such a run are not comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from chaos import (PROVIDERS, ROOT, collections_path, machine, sim_call, start_simulator,  # noqa: E402  pylint: disable=wrong-import-position
                   stop_simulator)

SIZES = (400, 2000, 10000)
POOL_COUNTS = (4, 10)
LARGE = 10000
LARGE_PROVIDERS = PROVIDERS
OLD_COMMIT = '36ee355'
OLD_SIZES = (400, 2000)
OLD_POOL_COUNTS = (4,)
OLD_PROVIDERS = ('horizon',)
TIME_SCALE = 3600.0  # restarts (20-90 simulated seconds) end within a few hundredths of a real second
#: Horizon access tokens live 1800 simulated seconds by default, half a real second at this clock: make them
#: outlive the longest run (a token refresh is not what is measured).
TOKEN_LIFETIME = TIME_SCALE * 6 * 3600
SEED = 1
RUN_TIMEOUT = 3 * 3600
TARGET_PER_WAVE = 2.0
TARGET_PER_DESKTOP = 0.002
TARGET_LARGE_S = 180.0
#: A read is a poll when it follows a power or logoff write after a wait: the engine's backoff waits at least
#: 0.25 s before asking again, the modules' 1 s; a read sent at once is a read of the work itself.
POLL_GAP = 0.24
CALLBACKS = os.path.join(BENCH, 'callback_plugins')
#: checks whose failure fails the benchmark (of the new role); the others are measurements against targets
CORRECTNESS = ('rc', 'accounted', 'maintenance')

PLAYBOOK = [{
    'name': 'Patch window',
    'hosts': 'localhost',
    'gather_facts': False,
    'tasks': [{'name': 'Run the patch window role', 'ansible.builtin.include_role': {'name': 'vdi.fleet.patch_window'}}],
}]


# ------------------------------------------------------------------------------------------------ API minimum

#: Request names by kind (the simulator's operation names, ``/_sim/stats`` ``by_op``).
LOGIN_OPS = {'login', 'refresh', 'keystone_create_user_token_by_password'}
LOGOUT_OPS = {'logout'}
POWER_OPS = {
    'horizon': {'restart_machines', 'reset_machines', 'shutdown_machines'},
    'huaweicloud': {'batch_run_desktops', 'execute_desktop_pool_action'},
    'alicloud': {'RebootDesktops', 'StartDesktops', 'StopDesktops', 'WakeupDesktops', 'HibernateDesktops'},
}
LOGOFF_OPS = {'logoff_sessions', 'batch_logoff_desktops'}

#: Limits of each API that the minimum uses (see :func:`wave_minimum`).
LIMITS = {
    'horizon': {'page': 1000, 'by_id': 40, 'maintenance': 1000, 'power': 1000, 'logoff': 1000, 'session_page': 1000,
                'list': 'list_machines_v2', 'sessions': 'list_sessions', 'enter': 'enter_maintenance',
                'exit': 'exit_maintenance', 'logoff_op': 'logoff_sessions', 'restart': 'restart_machines'},
    'huaweicloud': {'page': 1000, 'by_id': 100, 'maintenance': 100, 'power': 100, 'logoff': 100,
                    'list': 'list_desktops', 'sessions': 'list_desktops', 'enter': 'set_maintenance_mode',
                    'exit': 'set_maintenance_mode', 'logoff_op': 'batch_logoff_desktops',
                    'restart': 'batch_run_desktops', 'start': 'batch_run_desktops', 'wakeup': 'batch_run_desktops',
                    'stop': 'batch_run_desktops', 'hibernate': 'batch_run_desktops'},
    'alicloud': {'page': 100, 'by_id': 100, 'maintenance': 100, 'power': 100, 'session_page': 100,
                 'list': 'DescribeDesktops', 'sessions': 'DescribeDesktopSessions', 'enter': 'SetDesktopMaintenance',
                 'exit': 'SetDesktopMaintenance', 'restart': 'RebootDesktops', 'start': 'StartDesktops',
                 'wakeup': 'WakeupDesktops', 'stop': 'StopDesktops', 'hibernate': 'HibernateDesktops'},
}
ASLEEP = ('suspended', 'hibernated')


def ceil(a: int, b: int) -> int:
    return int(math.ceil(a / float(b))) if a > 0 else 0


def _add(counts: dict, op: str, n: int) -> None:
    if n:
        counts[op] = counts.get(op, 0) + n


def wave_minimum(provider: str, members: list[dict], pool: list[dict], released: int | None = None) -> dict:
    """The fewest requests one wave of the window needs, by kind and operation.

    ``members`` are the simulator's records of the wave's desktops as they were before the window, ``pool`` those
    of its whole pool, ``released`` how many desktops leave maintenance at the end of the wave (default: all).
    The contract of a wave, with ``patch_window_countdown: []`` and ``patch_window_drain_timeout: 0``:

    * begin: read the wave before acting; enter maintenance (batches of the API maximum), read back; power on what
      is off or suspended where the provider can (Huawei ``os-start`` takes both, Alibaba ``StartDesktops`` and
      ``WakeupDesktops``; Horizon has no power-on API and leaves them out of the wave), read back; where the wave
      has sessions: list them and log them off (no logoff API on Alibaba: the restart ends them), read back.
    * end (another module process: the patch tasks run in between): read the wave before acting; restart every
      powered-on desktop (one call per API batch), read back; put back the power state of what was off or
      suspended (Huawei and Alibaba), read back; exit maintenance, read back.
    * logins: one per phase that sends a request, on Horizon (``/login``, closed with ``/logout``); none on the
      clouds (AK/SK request signing).

    A read of ``x`` desktops costs the cheaper of the pool's listing (``ceil(pool / page)``) and a listing by id
    (``ceil(x / ids per request)``): Horizon pages of 1000 and 40 ids per filter (the 8 KB request line of the
    Connection Server), Huawei ListDesktops pages of 1000 and 100 ids, Alibaba DescribeDesktops pages of 100 and 100
    ids. Sessions: Horizon ``/inventory/v1/sessions`` filtered by machine (40 per request) or by pool (1000 per page);
    Huawei from the ``connect_status`` of ListDesktops; Alibaba DescribeDesktopSessions by desktop id (100 per call)
    or DescribeDesktopGroupSessions (100 per page). Batches: Horizon machine and session actions 1000 ids per call
    (the adapter's bound), Huawei and Alibaba 100. The further reads that follow a restart, a power action or a
    logoff until the provider shows the result (polls) are not part of the minimum; they are counted apart.

    Returns ``{'logins': n, 'logouts': n, 'writes': {op: n}, 'reads': {op: n}}``.
    """
    lim = LIMITS[provider]
    pool_pages = ceil(len(pool), lim['page'])

    def read(x: int) -> int:
        return min(pool_pages, ceil(x, lim['by_id'])) if x else 0

    w = len(members)
    released = w if released is None else released
    on = [d for d in members if d['power'] == 'on']
    off = [d for d in members if d['power'] == 'off']
    asleep = [d for d in members if d['power'] in ASLEEP]
    powers_on = provider != 'horizon'
    active = members if powers_on else on
    busy = [d for d in active if d['sessions']]
    sessions = sum(len(d['sessions']) for d in busy)
    pool_sessions = sum(len(d['sessions']) for d in pool)
    writes, reads = {}, {}
    # begin
    _add(reads, lim['list'], read(w))
    _add(writes, lim['enter'], ceil(w, lim['maintenance']))
    _add(reads, lim['list'], read(w))
    if powers_on and (off or asleep):
        if provider == 'huaweicloud':
            _add(writes, lim['start'], ceil(len(off) + len(asleep), lim['power']))
        else:
            _add(writes, lim['start'], ceil(len(off), lim['power']))
            _add(writes, lim['wakeup'], ceil(len(asleep), lim['power']))
        _add(reads, lim['list'], read(len(off) + len(asleep)))
    if busy:
        if provider == 'horizon':
            listing = min(ceil(len(busy), lim['by_id']), max(1, ceil(pool_sessions, lim['session_page'])))
        elif provider == 'huaweicloud':
            listing = read(len(busy))
        else:
            listing = min(ceil(sessions, lim['session_page']), max(1, ceil(pool_sessions, lim['session_page'])))
        _add(reads, lim['sessions'], listing)
        if provider == 'horizon':
            _add(writes, lim['logoff_op'], ceil(sessions, lim['logoff']))
            _add(reads, lim['sessions'], listing)
        elif provider == 'huaweicloud':
            _add(writes, lim['logoff_op'], ceil(len(busy), lim['logoff']))
            _add(reads, lim['sessions'], listing)
    # end
    _add(reads, lim['list'], read(len(active)))
    _add(writes, lim['restart'], ceil(len(active), lim['power']))
    _add(reads, lim['list'], read(len(active)))
    if powers_on:
        for group, action in ((off, 'stop'), (asleep, 'hibernate')):
            _add(writes, lim[action], ceil(len(group), lim['power']))
            _add(reads, lim['list'], read(len(group)))
    _add(writes, lim['exit'], ceil(released, lim['maintenance']))
    _add(reads, lim['list'], read(released))
    logins = 2 if provider == 'horizon' else 0
    return {'logins': logins, 'logouts': logins, 'writes': writes, 'reads': reads}


def window_minimum(provider: str) -> dict:
    """Reads a window needs once, whatever its waves: Horizon reads the server's version before the first restart
    (the restart body differs between releases); the engine keeps it in the journal for the later phases."""
    return {'reads': {'get_environment': 1}} if provider == 'horizon' else {'reads': {}}


# ------------------------------------------------------------------------------------------------ collections


def old_collections(commit: str, log) -> str:
    """The collection of ``commit`` built and installed into its own collections path (reused when present)."""
    sha = subprocess.run(['git', 'rev-parse', '--short=12', commit], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    base = os.path.join(ROOT, '.build', 'bench-old', sha)
    path = os.path.join(base, 'collections')
    if os.path.isdir(os.path.join(path, 'ansible_collections', 'vdi', 'fleet', 'roles', 'patch_window')):
        return path
    log('building the collection of commit %s into %s' % (sha, path))
    shutil.rmtree(base, ignore_errors=True)
    src = os.path.join(base, 'src')
    os.makedirs(src)
    archive = subprocess.Popen(['git', 'archive', sha], cwd=ROOT, stdout=subprocess.PIPE)  # pylint: disable=consider-using-with
    subprocess.run(['tar', '-x', '-C', src], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit('git archive %s failed' % sha)
    galaxy = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
    dist = os.path.join(base, 'dist')
    subprocess.run([galaxy, 'collection', 'build', '--force', '--output-path', dist, src], check=True,
                   capture_output=True)
    tarball = [os.path.join(dist, f) for f in os.listdir(dist) if f.endswith('.tar.gz')][0]
    subprocess.run([galaxy, 'collection', 'install', '--force', '--no-deps', '-p', path, tarball], check=True,
                   capture_output=True)
    return path


# ------------------------------------------------------------------------------------------------ one run


def role_vars(provider: str, info: dict, pools: list[str], report: str) -> dict:
    return {
        'patch_window_connection': dict(info[provider], ca_path=info['ca_path']),
        'patch_window_pools': pools,
        'patch_window_wave_size': '25%',
        'patch_window_countdown': [],
        'patch_window_drain_timeout': 0,
        'patch_window_max_failed_percentage': 100,
        'patch_window_fail_on_quarantine': False,
        'patch_window_report_path': report,
    }


#: The module interpreter of ``--profile``: the phase modules run under pyinstrument (a text profile per module
#: process), every module's exec-to-exit time is appended to ``modules.txt``.
PROFILE_WRAPPER = """#!/bin/sh
start=$(date +%%s.%%N)
case "$1" in
  *AnsiballZ_patch_wave*|*AnsiballZ_patch_window_plan*|*AnsiballZ_patch_window_report*)
    %(python)s -m pyinstrument -r text --show-all -o "%(dir)s/$(basename "$1" .py)-$(date +%%s%%N).txt" "$@" ;;
  *)
    %(python)s "$@" ;;
esac
rc=$?
echo "$(basename "$1" .py) $start $(date +%%s.%%N)" >> "%(dir)s/modules.txt"
exit $rc
"""


def profile_interpreter(directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, 'python')
    with open(path, 'w', encoding='utf-8') as fh:
        fh.write(PROFILE_WRAPPER % {'python': sys.executable, 'dir': os.path.abspath(directory)})
    os.chmod(path, 0o755)
    return path


def run_playbook(workdir: str, varfile: str, collections: str, timeout: float = RUN_TIMEOUT,
                 interpreter: str | None = None) -> dict:
    """ansible-playbook with the timing callback; wall time and the CPU time of its process tree (wait4)."""
    playbook = os.path.join(workdir, 'window.yml')
    with open(playbook, 'w', encoding='utf-8') as fh:
        json.dump(PLAYBOOK, fh)  # JSON is YAML
    times = os.path.join(workdir, 'tasks.json')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
               ANSIBLE_RETRY_FILES_ENABLED='false', ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_CALLBACKS_ENABLED='task_timer', VDI_FLEET_TASK_TIMES=times)
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), playbook, '-e', '@' + varfile]
    if interpreter:
        # the implicit localhost runs modules with ansible-playbook's own Python unless the variable says otherwise
        cmd += ['-e', 'ansible_python_interpreter=' + interpreter]
    log = os.path.join(workdir, 'ansible.log')
    with open(log, 'w', encoding='utf-8') as out:
        started_at = time.time()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)  # pylint: disable=consider-using-with
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    tasks = None
    if os.path.exists(times):
        with open(times, encoding='utf-8') as fh:
            tasks = json.load(fh)
    return {'rc': proc.returncode, 'wall': wall, 'cpu': usage.ru_utime + usage.ru_stime, 'log': log, 'tasks': tasks,
            'started_at': started_at}


def kind_of(entry: dict, provider: str) -> str:
    op = entry['op']
    if op in LOGIN_OPS:
        return 'logins'
    if op in LOGOUT_OPS:
        return 'logouts'
    return 'writes' if entry['write'] else 'reads'


def attribute(log: list[dict], tasks: list[dict]) -> list[tuple[dict | None, dict]]:
    """Each request (in log order) with the task that was running when the simulator answered it."""
    out, i = [], 0
    ordered = sorted(tasks, key=lambda t: t['start'])
    for entry in sorted(log, key=lambda e: e['time']):
        while i < len(ordered) and ordered[i]['end'] < entry['time']:
            i += 1
        task = ordered[i] if i < len(ordered) and ordered[i]['start'] <= entry['time'] else None
        out.append((task, entry))
    return out


def count_requests(provider: str, pairs: list[tuple[dict | None, dict]]) -> dict:
    """Requests by kind and by operation, and the polls among the reads.

    After a power or logoff write, the reads sent at once are its read back (``k`` requests: one listing, as many
    pages as it takes); each later burst of reads that starts after a wait (a follow loop's backoff) is a poll, and
    its first ``k`` requests are the poll's listing (``polls``). A read in such a burst beyond ``k`` is a read of
    something else, sent at once after the poll (counted against the minimum). ``poll_wait_s``: the waits before
    the polls (part of the orchestration time, not work)."""
    counts = {'logins': 0, 'logouts': 0, 'writes': 0, 'reads': 0, 'polls': 0, 'poll_wait_s': 0.0, 'by_op': {}}
    following, readback, burst, polling, last = None, 0, 0, False, {}
    for task, entry in pairs:
        kind = kind_of(entry, provider)
        counts[kind] += 1
        counts['by_op'][entry['op']] = counts['by_op'].get(entry['op'], 0) + 1
        key = id(task)
        if kind == 'writes':
            following = key if entry['op'] in POWER_OPS[provider] | LOGOFF_OPS else None
            readback, burst, polling = 0, 0, False
        elif kind == 'reads' and following == key:
            gap = entry['time'] - last.get(key, entry['time'])
            if readback and gap >= POLL_GAP:
                polling, burst = True, 0
                counts['poll_wait_s'] += gap
            if not polling:
                readback += 1
            else:
                burst += 1
                if burst <= readback:
                    counts['polls'] += 1
        elif kind != 'reads':
            following = None
        last[key] = entry['time']
    return counts


def is_wave_task(task: dict | None) -> bool:
    return bool(task) and task['file'] in ('wave.yml', 'countdown.yml')


def run_window(role: str, provider: str, n: int, pools: int, workdir: str, collections: str, log,
               profile: str | None = None) -> dict:
    """One window: simulator, ansible-playbook, stats and report; returns the row."""
    wd = os.path.join(workdir, '%s-%s-%d-%dp' % (role, provider, n, pools))
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    proc, info = start_simulator(wd, n, pools, SEED, TIME_SCALE, '', None, (provider,),
                                 ('--token-lifetime', str(TOKEN_LIFETIME)))
    try:
        before = sim_call(info, provider, 'GET', 'state', timeout=600)
        pool_names = [p['name'] for p in before['pools']]
        report_path = os.path.join(wd, 'report.json')
        varfile = os.path.join(wd, 'vars.json')
        with open(varfile, 'w', encoding='utf-8') as fh:
            json.dump(role_vars(provider, info, pool_names, report_path), fh)
        os.chmod(varfile, 0o600)
        sim_call(info, provider, 'DELETE', 'stats')
        load = os.getloadavg()[0]
        interpreter = profile_interpreter(os.path.join(profile, '%s-%s-%d-%dp' % (role, provider, n, pools))) \
            if profile else None
        run = run_playbook(wd, varfile, collections, interpreter=interpreter)
        stats = sim_call(info, provider, 'GET', 'stats?log=1', timeout=600)
        after = sim_call(info, provider, 'GET', 'state', timeout=600)
    finally:
        stop_simulator(proc)
    run.update(load_before=round(load, 2), load_after=round(os.getloadavg()[0], 2))
    for name, data in (('stats', stats), ('before', before), ('after', after),
                       ('run', {k: v for k, v in run.items() if k != 'tasks'})):
        with open(os.path.join(wd, name + '.json'), 'w', encoding='utf-8') as fh:
            json.dump(data, fh)
    return reanalyse(wd)


def reanalyse(wd: str) -> dict:
    """The row of one run from what it left in its directory (``--reanalyse`` of a kept ``--workdir``)."""
    role, provider, n, pools = os.path.basename(wd).split('-')
    loaded = {}
    for name in ('stats', 'before', 'after', 'run', 'tasks', 'report', 'report.json.journal'):
        path = os.path.join(wd, name if name.endswith('.journal') else name + '.json')
        loaded[name] = None
        if os.path.exists(path):
            with open(path, encoding='utf-8') as fh:
                loaded[name] = json.load(fh)
    run = dict(loaded['run'], tasks=loaded['tasks'])
    row = analyse(role, provider, int(n), int(pools[:-1]), loaded['before'], loaded['after'], loaded['stats'], run,
                  loaded['report'], loaded['report.json.journal'])
    row.update(load_before=run.get('load_before'), load_after=run.get('load_after'), workdir=wd)
    return row


def analyse(role, provider, n, pools, before, after, stats, run, report, journal) -> dict:
    """The numbers and checks of one run."""
    by_id = {d['id']: d for d in before['desktops']}
    records = (report or {}).get('desktops') or []
    tasks = (run['tasks'] or {}).get('tasks') or []
    pairs = attribute(stats.get('log') or [], tasks)
    wave_pairs = [(t, e) for t, e in pairs if is_wave_task(t)]
    other_pairs = [(t, e) for t, e in pairs if not is_wave_task(t)]
    measured = count_requests(provider, wave_pairs)
    window = count_requests(provider, other_pairs)
    unattributed = sum(1 for t, _e in pairs if t is None)

    # waves and their minimum, grouped by (pool, wave) of the report
    groups = {}
    for r in records:
        if r.get('wave') is not None and r['id'] in by_id:
            groups.setdefault((r.get('pool'), r['wave']), []).append(r)
    pool_members = {}
    for d in before['desktops']:
        pool_members.setdefault(d['pool'], []).append(d)
    minima = {}
    for key, recs in groups.items():
        released = sum(1 for r in recs if r.get('status') != 'quarantined')
        minima[key] = wave_minimum(provider, [by_id[r['id']] for r in recs], pool_members.get(key[0], []), released)
    waves = (report or {}).get('summary', {}).get('waves') if role == 'new' else len(groups)
    waves = waves or len(groups)
    minimum = {'logins': sum(m['logins'] for m in minima.values()), 'logouts': sum(m['logouts'] for m in minima.values()),
               'writes': sum(sum(m['writes'].values()) for m in minima.values()),
               'reads': sum(sum(m['reads'].values()) for m in minima.values()) + sum(
                   window_minimum(provider)['reads'].values())}
    minimum_by_op = {}
    for m in minima.values():
        for op, c in list(m['writes'].items()) + list(m['reads'].items()):
            minimum_by_op[op] = minimum_by_op.get(op, 0) + c
    for op, c in window_minimum(provider)['reads'].items():
        minimum_by_op[op] = minimum_by_op.get(op, 0) + c

    # per wave (new role: the requests of the begin and end of each slot, against that wave's minimum)
    per_wave = []
    if role == 'new' and journal:
        by_slot = {}
        for t, e in wave_pairs:
            if t.get('slot') is not None:
                by_slot.setdefault(t['slot'], []).append((t, e))
        first = True
        for slot in journal.get('slots') or []:
            members = (journal.get('waves') or {}).get(str(slot['index']), {}).get('members') or []
            if not members:
                continue
            got = count_requests(provider, by_slot.get(slot['index'], []))
            mini = minima.get((slot['pool'], slot['wave']))
            if mini is None:
                continue
            reads_min = sum(mini['reads'].values())
            if first and provider == 'horizon':
                reads_min += 1  # the server's version, read once per window
                first = False
            per_wave.append({'slot': slot['index'], 'pool': slot['pool'], 'wave': slot['wave'], 'desktops': len(members),
                             'logins': got['logins'], 'writes': got['writes'], 'reads': got['reads'],
                             'polls': got['polls'], 'min_logins': mini['logins'],
                             'min_writes': sum(mini['writes'].values()), 'min_reads': reads_min})

    # checks
    pool_ids = {p['id'] for p in before['pools']}
    expected = {d['id'] for d in before['desktops'] if d['pool'] in pool_ids}
    ids = [r['id'] for r in records]
    statuses = {}
    for r in records:
        statuses[r.get('status')] = statuses.get(r.get('status'), 0) + 1
    in_maintenance = [d['name'] for d in after['desktops'] if d['maintenance']]
    checks = {
        'rc': {'ok': run['rc'] == 0, 'detail': 'ansible-playbook rc %s' % run['rc']},
        'accounted': {'ok': report is not None and len(ids) == len(set(ids)) and set(ids) == expected,
                      'detail': '%d records, %d distinct, %d desktops in the pools'
                                % (len(ids), len(set(ids)), len(expected))},
        'maintenance': {'ok': not in_maintenance, 'detail': '%d left in maintenance %s' % (
            len(in_maintenance), in_maintenance[:5])},
        'logins': {'ok': measured['logins'] <= minimum['logins'],
                   'detail': '%d logins in the waves, minimum %d' % (measured['logins'], minimum['logins'])},
        'writes': {'ok': measured['writes'] == minimum['writes'] and all(
            w['writes'] == w['min_writes'] for w in per_wave),
            'detail': '%d writes in the waves, minimum %d%s' % (measured['writes'], minimum['writes'], ''.join(
                '; slot %d: %d, minimum %d' % (w['slot'], w['writes'], w['min_writes'])
                for w in per_wave if w['writes'] != w['min_writes'])[:400])},
        'reads': {'ok': measured['reads'] <= minimum['reads'] + measured['polls'] and all(
            w['reads'] <= w['min_reads'] + w['polls'] for w in per_wave),
            'detail': '%d reads in the waves, minimum %d + %d polls%s' % (
                measured['reads'], minimum['reads'], measured['polls'], ''.join(
                    '; slot %d: %d > %d + %d' % (w['slot'], w['reads'], w['min_reads'], w['polls'])
                    for w in per_wave if w['reads'] > w['min_reads'] + w['polls'])[:400])},
    }
    sim = stats['busy_seconds']
    orchestration = run['wall'] - sim
    timing = task_profile(run['tasks'], run['wall'], run['started_at'])
    if journal and timing:
        # wave slots that took nothing but still ran their phase modules
        empty = {int(k) for k, w in (journal.get('waves') or {}).items() if not w.get('members')}
        calls = [t for t in tasks if t.get('phase') and t['status'] != 'skipped' and t.get('slot') in empty]
        timing['empty_slots'] = {'calls': len(calls), 'seconds': round(sum(t['end'] - t['start'] for t in calls), 2)}
    return {
        'role': role, 'provider': provider, 'n': n, 'pools': pools, 'waves': waves,
        'wall_s': round(run['wall'], 2), 'sim_s': round(sim, 2), 'orchestration_s': round(orchestration, 2),
        'cpu_s': round(run['cpu'], 2),
        'per_wave_s': round(orchestration / waves, 3) if waves else None,
        'per_desktop_ms': round(orchestration / n * 1000, 3),
        'budget_s': round(TARGET_PER_WAVE * waves + TARGET_PER_DESKTOP * n, 1),
        'requests': stats['total'], 'by_op': stats['by_op'], 'wave_requests': measured, 'window_requests': window,
        'unattributed_requests': unattributed, 'log_complete': len(stats.get('log') or []) == stats['total'],
        'minimum': minimum, 'minimum_by_op': minimum_by_op,
        'per_wave': per_wave, 'statuses': statuses, 'summary': (report or {}).get('summary'), 'checks': checks,
        'ok': all(c['ok'] for c in checks.values()), 'timing': timing,
    }


def task_profile(tasks: dict | None, wall: float, started_at: float) -> dict:
    """Where the wall time went, from the timing callback: start-up before the first task, the phase modules, the
    other module tasks, and the tasks Ansible skipped or included (its own per-task cost)."""
    if not tasks or not tasks.get('tasks'):
        return {}
    rows = tasks['tasks']
    out = {'startup_s': rows[0]['start'] - started_at, 'tasks': len(rows)}
    buckets = {}
    for t in rows:
        took = t['end'] - t['start']
        if t['action'] in ('vdi.fleet.patch_wave', 'vdi.fleet.patch_window_plan', 'vdi.fleet.patch_window_report'):
            name = '%s %s' % (t['action'].split('.')[-1], t['phase'] or '') if t['status'] != 'skipped' else 'skipped'
        elif t['status'] == 'skipped':
            name = 'skipped'
        elif t['action'].startswith('vdi.fleet.'):
            name = t['action'].split('.')[-1]
        else:
            name = t['action'].split('.')[-1]
        b = buckets.setdefault(name.strip(), [0, 0.0])
        b[0] += 1
        b[1] += took
    ranked = sorted(buckets.items(), key=lambda x: -x[1][1])
    out['by_kind'] = {k: {'count': v[0], 'seconds': round(v[1], 2)} for k, v in ranked}
    out['startup_s'] = round(max(0.0, out['startup_s']), 2)
    out['after_last_task_s'] = round(wall - (rows[-1]['end'] - started_at), 2)
    return out


# ------------------------------------------------------------------------------------------------ fit and report


def least_squares(pts: list[tuple[float, float, float]]) -> tuple[float, float] | None:
    """(p, q) minimising the squares of y - (p * x1 + q * x2) over ``pts`` of (x1, x2, y)."""
    s11 = sum(x1 * x1 for x1, _x2, _y in pts)
    s22 = sum(x2 * x2 for _x1, x2, _y in pts)
    s12 = sum(x1 * x2 for x1, x2, _y in pts)
    s1y = sum(x1 * y for x1, _x2, y in pts)
    s2y = sum(x2 * y for _x1, x2, y in pts)
    det = s11 * s22 - s12 * s12
    if len(pts) < 2 or abs(det) < 1e-9 * max(1.0, s11 * s22):
        return None
    return (s1y * s22 - s2y * s12) / det, (s2y * s11 - s1y * s12) / det


def fit(rows: list[dict], without_waits: bool = False) -> dict | None:
    """Least squares of orchestration = a * waves + b * desktops (no intercept) over ``rows``; ``without_waits``:
    of the orchestration less the backoff waits before the polls."""
    pts = [(r['waves'], r['n'], r['orchestration_s'] - (r['wave_requests']['poll_wait_s'] if without_waits else 0))
           for r in rows if r['waves']]
    found = least_squares(pts)
    if found is None:
        return None
    a, b = found
    resid = [o - (a * w + b * n) for w, n, o in pts]
    return {'model': 'a * waves + b * desktops', 'a_s_per_wave': a, 'b_s_per_desktop': b, 'points': len(pts),
            'max_residual_s': max(abs(x) for x in resid), 'predict_10k_10p_s': a * 40 + b * 10000}


def fit_report_growth(rows: list[dict]) -> dict | None:
    """The old role's other model: orchestration = a * waves + c * waves * desktops. Each of its set_fact tasks per
    wave templates the whole report dict, so that part of a wave costs in proportion to the desktops."""
    pts = [(r['waves'], r['waves'] * r['n'], r['orchestration_s']) for r in rows if r['waves']]
    found = least_squares(pts)
    if found is None:
        return None
    a, c = found
    resid = [o - (a * w + c * wn) for w, wn, o in pts]
    return {'model': 'a * waves + c * waves * desktops', 'a_s_per_wave': a, 'c_s_per_desktop_per_wave': c,
            'points': len(pts), 'max_residual_s': max(abs(x) for x in resid),
            'predict_10k_10p_s': a * 40 + c * 40 * 10000}


def evaluate(rows: list[dict]) -> dict:
    fits = {}
    for role in ('new', 'old'):
        for provider in PROVIDERS:
            sub = [r for r in rows if r['role'] == role and r['provider'] == provider]
            f = fit(sub)
            if f:
                fits['%s %s' % (role, provider)] = f
            g = fit_report_growth(sub) if role == 'old' else None
            if g:
                fits['%s %s, report growth model' % (role, provider)] = g
        f = fit([r for r in rows if r['role'] == role])
        if f and len({r['provider'] for r in rows if r['role'] == role}) > 1:
            fits['%s all providers' % role] = f
    for provider in PROVIDERS:
        f = fit([r for r in rows if r['role'] == 'new' and r['provider'] == provider], without_waits=True)
        if f:
            fits['new %s, backoff waits left out' % provider] = f
    ratios = []
    for r in rows:
        if r['role'] != 'old':
            continue
        new = [x for x in rows if x['role'] == 'new' and (x['provider'], x['n'], x['pools']) ==
               (r['provider'], r['n'], r['pools'])]
        if new:
            ratios.append({'provider': r['provider'], 'n': r['n'], 'pools': r['pools'],
                           'old_orchestration_s': r['orchestration_s'], 'new_orchestration_s': new[0]['orchestration_s'],
                           'ratio': r['orchestration_s'] / new[0]['orchestration_s'] if new[0]['orchestration_s'] else None,
                           'old_wall_s': r['wall_s'], 'new_wall_s': new[0]['wall_s'],
                           'old_cpu_s': r['cpu_s'], 'new_cpu_s': new[0]['cpu_s']})
    large = [r for r in rows if r['role'] == 'new' and r['n'] >= LARGE and r['pools'] == 10]
    return {'fits': fits, 'old_vs_new': ratios,
            'large': [{'provider': r['provider'], 'orchestration_s': r['orchestration_s'],
                       'ok': r['orchestration_s'] < TARGET_LARGE_S} for r in large]}


def yes(ok: bool) -> str:
    return 'pass' if ok else '**FAIL**'


def checks_cell(row: dict) -> str:
    failed = [k for k, c in row['checks'].items() if not c['ok']]
    return 'pass' if not failed else '**FAIL**: ' + ', '.join(failed)


def to_markdown(rows: list[dict], targets: dict, mach: dict, meta: dict) -> str:
    lines = ['# Patch window role at scale', '',
             'Generated by `bench/window.py` (`make bench`) on %s: %s, %s CPUs, %s GB RAM, Python %s, ansible-core %s. '
             'One `ansible-playbook` run of the `vdi.fleet.patch_window` role per row, over every pool of a simulator '
             'fleet (TLS, clock x%g, no faults), waves of 25 %%, no countdown, drain timeout 0. `new`: the role of this '
             'tree (phase modules and engine); `old`: the YAML role of commit %s. Load average of the machine at the '
             'start of each run in the JSON (`load_before`): the machine is shared, so wall times are upper bounds; '
             'the controller CPU column (ansible-playbook and its children) is not inflated by other jobs.'
             % (meta['date'], mach.get('cpu', '?'), mach.get('cpus'), mach.get('memory_gb', '?'), mach.get('python'),
                mach.get('ansible_core'), TIME_SCALE, meta['old_commit']), '',
             'Orchestration = wall - simulator. Per wave and per desktop are plain ratios (the whole orchestration '
             'divided by the waves, and by the desktops); the fit below splits it. Budget = %g s x waves + %g ms x '
             'desktops (the targets); a run passes when its orchestration is within it. Requests per wave: measured '
             '(minimum); reads as measured (minimum + polls). The checks: every desktop in the report once, none left '
             'in maintenance, logins and writes at the minimum, reads within the minimum plus polls, in every wave.'
             % (TARGET_PER_WAVE, TARGET_PER_DESKTOP * 1000), '']
    scenarios = []
    for r in rows:
        key = (r['n'], r['pools'])
        if key not in scenarios:
            scenarios.append(key)
    for n, pools in sorted(scenarios):
        lines += ['## N = %s desktops, %d pools' % (format(n, ','), pools), '',
                  '| role | provider | waves | wall s | sim s | orchestration s | controller CPU s | per wave s | '
                  'per desktop ms | budget s | logins/wave | writes/wave | reads/wave | checks | within budget |',
                  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- |']
        for r in rows:
            if (r['n'], r['pools']) != (n, pools):
                continue
            w = r['waves'] or 1
            m, got = r['minimum'], r['wave_requests']
            lines.append('| %s | %s | %d | %.1f | %.2f | %.1f | %.1f | %.2f | %.2f | %.1f | %.1f (%.1f) | %.2f (%.2f) | '
                         '%.2f (%.2f + %.2f) | %s | %s |' % (
                             r['role'], r['provider'], r['waves'], r['wall_s'], r['sim_s'], r['orchestration_s'],
                             r['cpu_s'], r['per_wave_s'], r['per_desktop_ms'], r['budget_s'], got['logins'] / w,
                             m['logins'] / w, got['writes'] / w, m['writes'] / w, got['reads'] / w, m['reads'] / w,
                             got['polls'] / w, checks_cell(r), yes(r['orchestration_s'] <= r['budget_s'])))
        lines.append('')
    lines += ['## Fit: orchestration = a x waves + b x desktops', '',
              'Least squares without intercept over the runs of one role and provider (the fixed cost of a run, '
              'Ansible start-up, the plan and the report, is shared between the two terms).', '',
              '| role, provider | runs | a: s per wave (target %g) | b: ms per desktop (target %g) | largest residual s | '
              '10,000 desktops in 10 pools (40 waves), s |' % (TARGET_PER_WAVE, TARGET_PER_DESKTOP * 1000),
              '| --- | ---: | ---: | ---: | ---: | ---: |']
    growth = []
    for key, f in targets['fits'].items():
        if 'b_s_per_desktop' not in f:
            growth.append((key, f))
            continue
        label = '%.0f (**extrapolation**)' % f['predict_10k_10p_s'] if key.startswith('old') else '%.0f (from the fit)' \
            % f['predict_10k_10p_s']
        lines.append('| %s | %d | %.2f (%s) | %.3f (%s) | %.1f | %s |' % (
            key, f['points'], f['a_s_per_wave'], yes(f['a_s_per_wave'] <= TARGET_PER_WAVE),
            f['b_s_per_desktop'] * 1000, yes(f['b_s_per_desktop'] <= TARGET_PER_DESKTOP), f['max_residual_s'], label))
    lines += ['']
    for key, f in growth:
        lines += ['%s: orchestration = %.2f s x waves + %.3f ms x waves x desktops (each of the YAML role\'s set_fact '
                  'tasks of a wave templates the whole report, so a wave costs more the more desktops there are); at '
                  '10,000 desktops in 10 pools (40 waves) that is **%.0f s, an extrapolation** from %d runs.'
                  % (key, f['a_s_per_wave'], f['c_s_per_desktop_per_wave'] * 1000, f['predict_10k_10p_s'],
                     f['points']), '']
    if targets['large']:
        lines += ['10,000 desktops in 10 pools, measured: ' + ', '.join(
            '%s %.0f s (%s the %g s target)' % (x['provider'], x['orchestration_s'], 'within' if x['ok'] else 'over',
                                                TARGET_LARGE_S) for x in targets['large']) + '.', '']
    if targets['old_vs_new']:
        lines += ['## Old (YAML role of %s) against new, same run' % meta['old_commit'], '',
                  '| provider | N | pools | old orchestration s | new orchestration s | old / new | old wall s | '
                  'new wall s | old CPU s | new CPU s |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
        for x in targets['old_vs_new']:
            lines.append('| %s | %d | %d | %.1f | %.1f | %.1fx | %.1f | %.1f | %.1f | %.1f |' % (
                x['provider'], x['n'], x['pools'], x['old_orchestration_s'], x['new_orchestration_s'], x['ratio'] or 0,
                x['old_wall_s'], x['new_wall_s'], x['old_cpu_s'], x['new_cpu_s']))
        lines.append('')
    lines += ['## Where the time goes (timing callback)', '',
              'Seconds per kind of task, summed over the run: the phase modules (`patch_wave begin/end`, plan, report), '
              'other module tasks, tasks Ansible evaluated and skipped, includes; start-up is `ansible-playbook` before '
              'its first task; backoff waits: the time before each poll (a follow loop waiting for a restart, a power '
              'action or a logoff to show), which is inside the orchestration time; empty wave slots: the role loops over '
              'two slots per planned wave, and the begin and end of slots that take nothing still run.', '',
              '| role | provider | N | pools | orchestration s | start-up s | tasks | backoff waits in the waves s | '
              'phase calls of empty wave slots (count, s) | top kinds of task (count, seconds) |',
              '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |']
    for r in rows:
        t = r.get('timing') or {}
        kinds = ', '.join('%s %d x %.1f s' % (k, v['count'], v['seconds']) for k, v in list(
            (t.get('by_kind') or {}).items())[:5])
        empty = t.get('empty_slots')
        lines.append('| %s | %s | %d | %d | %.1f | %.1f | %d | %.1f | %s | %s |' % (
            r['role'], r['provider'], r['n'], r['pools'], r['orchestration_s'], t.get('startup_s', 0), t.get('tasks', 0),
            r['wave_requests'].get('poll_wait_s', 0), '%d, %.1f' % (empty['calls'], empty['seconds']) if empty else '-',
            kinds))
    lines += ['', '## Check details', '']
    for r in rows:
        bad = {k: c for k, c in r['checks'].items() if not c['ok']}
        lines.append('- %s %s N=%d, %d pools: %s; statuses %s' % (
            r['role'], r['provider'], r['n'], r['pools'], 'all checks pass' if not bad else '; '.join(
                '%s: %s' % (k, c['detail']) for k, c in bad.items()), json.dumps(r['statuses'], sort_keys=True)))
    lines += ['', 'Method: [../README.md](../README.md#the-patch-window-role-at-scale-benchwindowpy).', '']
    return '\n'.join(lines)


def scenarios(args) -> list[tuple[str, str, int, int]]:
    sizes = [int(x) for x in args.sizes.split(',') if x]
    pool_counts = [int(x) for x in args.pools.split(',') if x]
    providers = [p for p in args.providers.split(',') if p]
    large = [p for p in args.large_providers.split(',') if p]
    out = []
    for n in sizes:
        for pools in pool_counts:
            for provider in providers:
                if n >= LARGE and provider not in large:
                    continue
                out.append(('new', provider, n, pools))
    if not args.no_old:
        for n in [int(x) for x in args.old_sizes.split(',') if x]:
            for pools in [int(x) for x in args.old_pools.split(',') if x]:
                for provider in [p for p in args.old_providers.split(',') if p]:
                    out.append(('old', provider, n, pools))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', default=','.join(str(n) for n in SIZES), help='desktops per fleet (default %(default)s)')
    ap.add_argument('--pools', default=','.join(str(n) for n in POOL_COUNTS), help='pool counts (default %(default)s)')
    ap.add_argument('--providers', default=','.join(PROVIDERS), help='providers of the new role (default %(default)s)')
    ap.add_argument('--large-providers', default=','.join(LARGE_PROVIDERS),
                    help='providers that run at N >= %d (default %%(default)s)' % LARGE)
    ap.add_argument('--old-commit', default=OLD_COMMIT, help='commit of the YAML role to compare (default %(default)s)')
    ap.add_argument('--old-sizes', default=','.join(str(n) for n in OLD_SIZES), help='default %(default)s')
    ap.add_argument('--old-pools', default=','.join(str(n) for n in OLD_POOL_COUNTS), help='default %(default)s')
    ap.add_argument('--old-providers', default=','.join(OLD_PROVIDERS), help='default %(default)s')
    ap.add_argument('--no-old', action='store_true', help='do not run the old role')
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'results'))
    ap.add_argument('--workdir', default=None, help='keep logs, reports and journals here (default: a temporary '
                    'directory, removed at the end)')
    ap.add_argument('--profile', metavar='DIR', help='run the phase modules under pyinstrument (a text profile per '
                    'module process in DIR) and log every module process\'s time; the numbers of such a run are not '
                    'comparable with the others')
    ap.add_argument('--reanalyse', metavar='WORKDIR', help='count and check again the runs kept in a --workdir of an '
                    'earlier run (no new run), and write the results')
    ap.add_argument('--render', metavar='WINDOW_JSON', help='only write window.md again from a window.json')
    args = ap.parse_args(argv)
    if args.render:
        with open(args.render, encoding='utf-8') as fh:
            saved = json.load(fh)
        with open(os.path.join(args.out, 'window.md'), 'w', encoding='utf-8') as fh:
            fh.write(to_markdown(saved['runs'], evaluate(saved['runs']), saved['machine'], saved['meta']))
        return 0
    if not os.path.isdir(os.path.join(collections_path(), 'ansible_collections', 'vdi', 'fleet')):
        print('vdi.fleet is not installed in %s: run `make collection` first' % collections_path(), file=sys.stderr)
        return 2
    todo = scenarios(args)
    workdir = args.reanalyse or args.workdir or tempfile.mkdtemp(prefix='vdi-fleet-window-')
    start = time.perf_counter()

    def log(line):
        print(line, flush=True)

    if args.reanalyse:
        todo = [s for s in todo if os.path.isdir(os.path.join(workdir, '%s-%s-%d-%dp' % s))]
    old_path = old_collections(args.old_commit, log) if any(s[0] == 'old' for s in todo) and not args.reanalyse \
        else None
    rows = []
    for role, provider, n, pools in todo:
        if args.reanalyse:
            row = reanalyse(os.path.join(workdir, '%s-%s-%d-%dp' % (role, provider, n, pools)))
        else:
            row = run_window(role, provider, n, pools, workdir, old_path if role == 'old' else collections_path(),
                             log, args.profile)
        rows.append(row)
        got = row['wave_requests']
        w = row['waves'] or 1
        log('%-3s %-11s N=%-6d pools=%-2d waves %3d  wall %7.1fs  sim %5.2fs  orch %7.1fs (budget %6.1fs)  cpu %7.1fs  '
            'per wave %5.2fs  logins %.1f writes %.2f (%.2f) reads %.2f (%.2f+%.2f)  %s'
            % (role, provider, n, pools, row['waves'], row['wall_s'], row['sim_s'], row['orchestration_s'],
               row['budget_s'], row['cpu_s'], row['per_wave_s'] or 0, got['logins'] / w, got['writes'] / w,
               row['minimum']['writes'] / w, got['reads'] / w, row['minimum']['reads'] / w, got['polls'] / w,
               'ok' if row['ok'] else 'FAILED: ' + '; '.join('%s: %s' % (k, c['detail'])
                                                             for k, c in row['checks'].items() if not c['ok'])))
    targets = evaluate(rows)
    mach = machine()
    meta = {'date': time.strftime('%Y-%m-%d'), 'old_commit': args.old_commit, 'time_scale': TIME_SCALE,
            'scenarios': todo, 'seconds': round(time.perf_counter() - start, 1)}
    if args.reanalyse and os.path.exists(os.path.join(args.out, 'window.json')):
        with open(os.path.join(args.out, 'window.json'), encoding='utf-8') as fh:
            previous = json.load(fh)['meta']
        meta.update(date=previous.get('date', meta['date']), seconds=previous.get('seconds'))
    os.makedirs(args.out, exist_ok=True)
    public = [{k: v for k, v in r.items() if k != 'workdir'} for r in rows]
    with open(os.path.join(args.out, 'window.json'), 'w', encoding='utf-8') as fh:
        json.dump({'machine': mach, 'meta': meta, 'runs': public, 'targets': targets}, fh, indent=2, sort_keys=True)
    text = to_markdown(public, targets, mach, meta)
    with open(os.path.join(args.out, 'window.md'), 'w', encoding='utf-8') as fh:
        fh.write(text)
    print()
    print(text)
    print('window bench finished in %.0f s; results in %s; logs in %s' % (meta['seconds'], args.out, workdir))
    if not args.workdir and not args.reanalyse:
        shutil.rmtree(workdir, ignore_errors=True)
    # the request and time targets are reported; a window that loses a desktop or leaves one in maintenance fails
    broken = [r for r in rows if r['role'] == 'new' and not all(r['checks'][k]['ok'] for k in CORRECTNESS)]
    return 1 if broken else 0


if __name__ == '__main__':
    sys.exit(main())
