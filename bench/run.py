"""`make bench`: every module against the simulator at N = 100, 1,000 and 10,000 desktops per provider.

For each provider and N a simulator child process (``tests/simulator/serve.py --fleet N --pools 1``) holds one pool
of N desktops. Each module runs as a real module process, the way Ansible runs it on the controller
(``python -m ansible_collections.vdi.fleet.plugins.modules.<name> args.json`` with the collection on PYTHONPATH), so
Ansible's own start-up is not in the numbers. Measured per run:

* requests: the simulator's request count (``/_sim/stats``) against :func:`api_minimum`, the fewest requests the
  provider's API allows for that module and N (page sizes and batch limits, documented there);
* wall: wall time of the module process, from fork to exit (interpreter start and imports included);
* sim: time the simulator spent answering (``busy_seconds``), and overhead = wall - sim, the module's own time;
* rss: peak resident memory of the module process (``wait4`` rusage).

``desktop_pool_power`` runs with ``wait: false`` (the request to restart, not the minutes of the restart itself);
the messaging modules follow their provider job or invocation (Huawei notification jobs, Alibaba RunCommand
invocations): those polls are counted, and the time they wait is part of the wall time.

The same run times the approach a user would write without the collection: an ``ansible.builtin.uri`` task that
loops over the desktops, one maintenance request each, at N = 50 and N = 200, through ``ansible-playbook``, and
``desktop_maintenance`` through ``ansible-playbook`` at every N. The ratio of the marginal costs (the slope of wall
time against N) is printed and written. Results: ``bench/results/results.md``, ``results.json``, ``wall_time.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from chaos import (PROVIDERS, ROOT, collections_path, machine, sim_call, start_simulator,  # noqa: E402  pylint: disable=wrong-import-position
                   stop_simulator)

SIZES = (100, 1000, 10000)
NAIVE_SIZES = (50, 200)
TIME_SCALE = 3600.0  # jobs and transitions finish almost at once; nothing in a module run waits on the clock
#: Horizon access tokens live 1800 simulated seconds, half a real second at this clock: make them outlive the run
#: (a token refresh is not what is measured; tests/integration covers it).
SIM_OPTIONS = ('--token-lifetime', str(TIME_SCALE * 3600))
#: The ansible-playbook runs wait on nothing either; a real-time clock keeps every token valid through a long loop.
ANSIBLE_TIME_SCALE = 1.0
#: The naive loop's cost per desktop is Ansible running the uri module once per loop item, whatever API is behind
#: it (the simulator answers one maintenance request in about a millisecond); it is timed on these providers.
NAIVE_PROVIDERS = ('horizon',)
TARGET_OVERHEAD_S = 3.0
TARGET_RSS_MB = 200.0
TARGET_RATIO = 1000.0


# ------------------------------------------------------------------------------------------------ API minimum


def ceil(a: int, b: int) -> int:
    return max(1, math.ceil(a / b))


def api_minimum(module: str, provider: str, n: int, fleet: dict) -> dict:
    """The fewest requests, by simulator operation, that ``module`` needs for one pool of ``n`` desktops.

    It follows each module's contract (resolve the pool by name, read the current state, act only where needed,
    read the result back) and each API's documented limits:

    * Horizon: pages of at most 1000 (``size``); login and logout around every run (a session token); action and
      session calls take any number of ids (no ``maxItems`` in the spec), counted here as one call per 1000 ids,
      the page size (the bound the adapter uses so that a lost answer leaves at most 1000 outcomes unknown; an
      unbounded call would save 9 writes at N = 10,000). Sessions come from ``/inventory/v1/sessions`` filtered
      by pool, 1000 per page.
    * Huawei Cloud: ListDesktops pages of 1000, ListDesktopPools 1 page; SetMaintenanceMode, BatchRunDesktops
      and BatchLogoffDesktops 100 ids per call; AK/SK signing (no token request). The ListDesktops record carries
      ``connect_status`` and ``user_name``, so the pool listing already gives the sessions. A message to a whole
      pool is one SendDesktopPoolNotifications call and one ShowJob read.
    * Alibaba Cloud: DescribeDesktops and DescribeDesktopGroups pages of 100 (``MaxResults``);
      SetDesktopMaintenance and the power actions 100 ids per call; sessions of a group through
      DescribeDesktopGroupSessions, 100 per page; RunCommand 50 desktops per call and one DescribeInvocations
      read per invocation. No logoff API (the module refuses before any request).
    * Horizon ``desktop_pool_power`` also reads the server version once (``environment-properties``): the body of
      restart and reset differs between releases (a bare array before 2412).

    ``fleet`` gives the pool's ``on`` (powered on), ``sessions`` and ``busy`` (desktops with a session) counts.
    Returns ``{operation: count}``; an empty dict means the module sends nothing for this provider.
    """
    on, sessions, busy = fleet['on'], fleet['sessions'], fleet['busy']
    if provider == 'horizon':
        page = ceil(n, 1000)
        base = {'login': 1, 'list_pools': 1, 'list_machines_v2': page, 'logout': 1}
        sess = {'list_sessions': ceil(sessions, 1000)}
        if module == 'desktop_info':
            return base
        if module == 'desktop_maintenance':
            return dict(base, list_machines_v2=2 * page, enter_maintenance=ceil(n, 1000))
        if module == 'desktop_pool_power':
            # the restart/reset body differs by release (bare array before 2412): the version is read first
            return dict(base, get_environment=1, list_machines_v2=2 * page, reset_machines=ceil(on, 1000))
        if module == 'session_info':
            return dict(base, **sess)
        if module == 'session_message':
            return dict(base, send_message=ceil(sessions, 1000), **sess)
        if module == 'session_logoff':
            return dict(base, logoff_sessions=ceil(sessions, 1000), **sess)
    if provider == 'huaweicloud':
        page = ceil(n, 1000)
        base = {'list_desktop_pools': 1, 'list_desktops': page}
        if module in ('desktop_info', 'session_info'):
            return base
        if module == 'desktop_maintenance':
            return dict(base, list_desktops=2 * page, set_maintenance_mode=ceil(n, 100))
        if module == 'desktop_pool_power':
            return dict(base, list_desktops=2 * page, batch_run_desktops=ceil(on, 100))
        if module == 'session_message':
            # the job embeds 100 sub-jobs (one per desktop); more are read with ListItaSubJobs, 1000 per page
            jobs = {'list_ita_sub_jobs': ceil(n, 1000)} if n > 100 else {}
            return dict(base, send_desktop_pool_notifications=1, show_job=1, **jobs)
        if module == 'session_logoff':
            return dict(base, batch_logoff_desktops=ceil(busy, 100))
    if provider == 'alicloud':
        page = ceil(n, 100)
        base = {'DescribeDesktopGroups': 1, 'DescribeDesktops': page}
        sess = {'DescribeDesktopGroupSessions': ceil(sessions, 100)}
        if module == 'desktop_info':
            return base
        if module == 'desktop_maintenance':
            return dict(base, DescribeDesktops=2 * page, SetDesktopMaintenance=ceil(n, 100))
        if module == 'desktop_pool_power':
            return dict(base, DescribeDesktops=2 * page, RebootDesktops=ceil(on, 100))
        if module == 'session_info':
            return dict(base, **sess)
        if module == 'session_message':
            return dict(base, RunCommand=ceil(busy, 50), DescribeInvocations=ceil(busy, 50), **sess)
        if module == 'session_logoff':
            return {}
    raise ValueError('no minimum for %s on %s' % (module, provider))


# ------------------------------------------------------------------------------------------------ module runs


def scenarios(provider: str, pool: str) -> list[tuple[str, str, dict]]:
    """(label, module, args) in run order; desktop_maintenance absent puts the pool back for the next ones."""
    out = [
        ('desktop_info', 'desktop_info', {'pool': pool, 'include_raw': False}),
        ('desktop_maintenance', 'desktop_maintenance', {'pool': pool, 'state': 'present'}),
        ('desktop_maintenance absent', 'desktop_maintenance', {'pool': pool, 'state': 'absent'}),
        ('session_info', 'session_info', {'pool': pool}),
    ]
    # fail_on_error false: Horizon refuses a message to a disconnected session per id, by design
    message = {'pool': pool, 'msg': 'Patch window tonight at 22:00. Please save your work.', 'fail_on_error': False}
    if provider == 'alicloud':
        message['alicloud_delivery'] = 'run_command'
    out.append(('session_message', 'session_message', message))
    if provider != 'alicloud':
        out.append(('session_logoff', 'session_logoff', {'pool': pool, 'force': True}))
    out.append(('desktop_pool_power', 'desktop_pool_power', {'pool': pool, 'state': 'restarted', 'force': True,
                                                             'wait': False}))
    return out


#: Runs in a small interpreter that forks the module process and reports its rusage. Linux keeps a process's peak
#: RSS across exec, so a module forked straight from this (large) benchmark process would inherit its size.
LAUNCHER = r"""
import json, os, sys, time
module, args, report = sys.argv[1:4]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(report + '.out', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(sys.executable, [sys.executable, '-m', module, args])
_pid, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(report, 'w') as fh:
    json.dump({'wall': wall, 'rss_kb': usage.ru_maxrss, 'cpu': usage.ru_utime + usage.ru_stime,
               'rc': os.waitstatus_to_exitcode(status)}, fh)
"""


def run_module(name: str, args: dict, workdir: str) -> dict:
    """One module process; wall time, CPU time and peak RSS (wait4 rusage of that process), and its JSON result."""
    path = os.path.join(workdir, 'args-%s.json' % name)
    with open(path, 'w', encoding='utf-8') as fh:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, fh)
    report = os.path.join(workdir, 'rusage-%s.json' % name)
    env = {'PATH': os.environ.get('PATH', ''), 'PYTHONPATH': collections_path(), 'HOME': workdir, 'LANG': 'C.UTF-8'}
    subprocess.run([sys.executable, '-S', '-c', LAUNCHER, 'ansible_collections.vdi.fleet.plugins.modules.' + name, path,
                    report], env=env, check=True, timeout=1800)
    with open(report, encoding='utf-8') as fh:
        usage = json.load(fh)
    with open(report + '.out', 'rb') as fh:
        raw = fh.read()
    try:
        result = json.loads(raw)
    except ValueError:
        result = {'failed': True, 'msg': 'no JSON result: %s' % raw[-500:].decode('utf-8', 'replace')}
    return {'wall': usage['wall'], 'cpu': usage['cpu'], 'rss_mb': usage['rss_kb'] / 1024.0, 'result': result,
            'output_bytes': len(raw)}


def fleet_counts(state: dict) -> dict:
    desktops = state['desktops']
    return {'n': len(desktops), 'on': sum(1 for d in desktops if d['power'] == 'on' and not d['transitioning']),
            'sessions': sum(len(d['sessions']) for d in desktops),
            'busy': sum(1 for d in desktops if d['sessions'])}


def bench_provider(provider: str, n: int, workdir: str, log) -> tuple[list[dict], dict]:
    """Every scenario for one provider at one N; returns the rows and the simulator's ready info."""
    wd = os.path.join(workdir, '%s-%d' % (provider, n))
    os.makedirs(wd, exist_ok=True)
    proc, info = start_simulator(wd, n, 1, 1, TIME_SCALE, '', None, (provider,), SIM_OPTIONS)
    rows = []
    try:
        state = sim_call(info, provider, 'GET', 'state', timeout=300)
        pool = state['pools'][0]['name']
        conn = dict(info[provider], ca_path=info['ca_path'])
        for label, module, args in scenarios(provider, pool):
            state = sim_call(info, provider, 'GET', 'state', timeout=300)
            counts = fleet_counts(state)
            sim_call(info, provider, 'DELETE', 'stats')
            run = run_module(module, dict(conn, **args), wd)
            stats = sim_call(info, provider, 'GET', 'stats')
            minimum = api_minimum(module, provider, n, counts)
            result = run['result']
            row = {
                'provider': provider, 'n': n, 'scenario': label, 'module': module,
                'failed': bool(result.get('failed')), 'msg': result.get('msg') if result.get('failed') else None,
                'summary': result.get('summary'),
                'requests': stats['total'], 'minimum': sum(minimum.values()), 'by_op': stats['by_op'],
                'minimum_by_op': minimum, 'writes': stats['writes'],
                'wall_s': round(run['wall'], 3), 'sim_s': round(stats['busy_seconds'], 3),
                'overhead_s': round(run['wall'] - stats['busy_seconds'], 3), 'cpu_s': round(run['cpu'], 3),
                'rss_mb': round(run['rss_mb'], 1), 'result_bytes': run['output_bytes'], 'fleet': counts,
            }
            rows.append(row)
            log('%-11s N=%-6d %-27s req %4d (min %4d) wall %6.2fs sim %5.2fs overhead %5.2fs rss %5.1f MB%s'
                % (provider, n, label, row['requests'], row['minimum'], row['wall_s'], row['sim_s'],
                   row['overhead_s'], row['rss_mb'], '  FAILED: %s' % (row['msg'] or '')[:150] if row['failed'] else ''))
    finally:
        stop_simulator(proc)
    return rows, info


# ------------------------------------------------------------------------------------------------ through ansible


def _ansible(playbook: list, workdir: str, name: str, extra_vars: dict) -> float:
    path = os.path.join(workdir, name + '.yml')
    with open(path, 'w', encoding='utf-8') as fh:
        json.dump(playbook, fh)
    varfile = os.path.join(workdir, name + '-vars.json')
    with open(varfile, 'w', encoding='utf-8') as fh:
        json.dump(extra_vars, fh)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_RETRY_FILES_ENABLED='false')
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), path, '-e', '@' + varfile],
                          capture_output=True, text=True, env=env, cwd=workdir, timeout=1800, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %d):\n%s' % (name, proc.returncode, (proc.stdout + proc.stderr)[-3000:]))
    return wall


def naive_playbook(provider: str) -> list:
    """What a user writes today with ansible.builtin.uri: log in once, then one maintenance request per desktop."""
    if provider == 'horizon':
        tasks = [
            {'name': 'Log in', 'ansible.builtin.uri': {
                'url': '{{ c.endpoint }}/rest/login', 'method': 'POST', 'body_format': 'json', 'ca_path': '{{ c.ca_path }}',
                'body': {'username': '{{ c.username }}', 'password': '{{ c.password }}', 'domain': '{{ c.domain }}'}},
             'register': 'login', 'no_log': True},
            {'name': 'Enter maintenance, one desktop at a time', 'ansible.builtin.uri': {
                'url': '{{ c.endpoint }}/rest/inventory/v1/machines/action/enter-maintenance', 'method': 'POST',
                'body_format': 'json', 'body': ['{{ item }}'], 'ca_path': '{{ c.ca_path }}',
                'headers': {'Authorization': 'Bearer {{ login.json.access_token }}'}},
             'loop': '{{ ids }}'},
        ]
    elif provider == 'huaweicloud':
        tasks = [
            {'name': 'Get an IAM token', 'ansible.builtin.uri': {
                'url': '{{ c.endpoint }}/v3/auth/tokens', 'method': 'POST', 'body_format': 'json', 'status_code': [201],
                'ca_path': '{{ c.ca_path }}',
                'body': {'auth': {'identity': {'methods': ['password'], 'password': {'user': {
                    'name': '{{ c.username }}', 'password': '{{ c.password }}', 'domain': {'name': '{{ c.domain }}'}}}},
                    'scope': {'project': {'name': '{{ c.region }}'}}}}},
             'register': 'token', 'no_log': True},
            {'name': 'Enter maintenance, one desktop at a time', 'ansible.builtin.uri': {
                'url': '{{ c.endpoint }}/v2/{{ project_id }}/desktops/maintenance-mode', 'method': 'PUT',
                'body_format': 'json', 'body': {'desktop_ids': ['{{ item }}'], 'in_maintenance_mode': True},
                'ca_path': '{{ c.ca_path }}', 'status_code': [200, 204],
                'headers': {'X-Auth-Token': '{{ token.x_subject_token }}'}},
             'loop': '{{ ids }}'},
        ]
    else:
        raise ValueError(provider)
    return [{'name': 'naive', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]


def module_playbook() -> list:
    return [{'name': 'module', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'name': 'Enter maintenance', 'vdi.fleet.desktop_maintenance': {'pool': '{{ pool }}', 'state': 'present'},
         'module_defaults': {'group/vdi.fleet.provider': '{{ c }}'}}]}]


def bench_ansible(provider: str, sizes, naive_sizes, workdir: str, log) -> dict:
    """desktop_maintenance through ansible-playbook at ``sizes``, and the naive uri loop at ``naive_sizes``."""
    out = {'module': {}, 'naive': {}}
    for n in sorted(set(sizes) | set(naive_sizes)):
        wd = os.path.join(workdir, 'ansible-%s-%d' % (provider, n))
        os.makedirs(wd, exist_ok=True)
        proc, info = start_simulator(wd, n, 1, 1, ANSIBLE_TIME_SCALE, '', None, (provider,))
        try:
            state = sim_call(info, provider, 'GET', 'state', timeout=300)
            pool = state['pools'][0]
            conn = dict(info[provider], ca_path=info['ca_path'])
            if n in sizes:
                sim_call(info, provider, 'DELETE', 'stats')
                wall = _ansible(module_playbook(), wd, 'module', {'c': conn, 'pool': pool['name']})
                stats = sim_call(info, provider, 'GET', 'stats')
                out['module'][n] = {'wall_s': round(wall, 3), 'requests': stats['total']}
                log('%-11s N=%-6d ansible-playbook desktop_maintenance: %.2fs, %d requests'
                    % (provider, n, wall, stats['total']))
                sim_call(info, provider, 'POST', 'reset', {})
            if n in naive_sizes:
                ids = [d['id'] for d in state['desktops']][:n]
                if provider == 'huaweicloud':
                    conn = dict(info['huaweicloud_password'], ca_path=info['ca_path'])
                sim_call(info, provider, 'DELETE', 'stats')
                wall = _ansible(naive_playbook(provider), wd, 'naive',
                                {'c': conn, 'ids': ids, 'project_id': info[provider].get('project_id')})
                stats = sim_call(info, provider, 'GET', 'stats')
                in_maint = sum(1 for d in sim_call(info, provider, 'GET', 'state', timeout=300)['desktops'] if d['maintenance'])
                out['naive'][n] = {'wall_s': round(wall, 3), 'requests': stats['total'], 'in_maintenance': in_maint}
                log('%-11s N=%-6d naive uri loop: %.2fs, %d requests, %d desktops in maintenance'
                    % (provider, n, wall, stats['total'], in_maint))
        finally:
            stop_simulator(proc)
    return out


def slope(points: dict) -> float | None:
    """Least-squares slope of wall time against N (seconds per desktop)."""
    xs = sorted(points)
    if len(xs) < 2:
        return None
    ys = [points[x] for x in xs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None


# ------------------------------------------------------------------------------------------------ patching modules
# desktop_image and desktop_command (plugins/module_utils/patching.py), measured like the modules above, each provider
# and N on its own simulator. Its clock runs fast enough that every push, rebuild and script has ended before the
# module's next poll: what is measured is the requests and the module's own work, not the minutes of a rollout.

PATCH_TIME_SCALE = 1e6
PATCH_SIM_OPTIONS = ('--token-lifetime', str(PATCH_TIME_SCALE * 3600))
PATCH_IMAGES = {'horizon': 'vm-1001/snapshot-2026-11', 'huaweicloud': '8f2c6b1a-4e5d-4c3b-9a2f-1d0e7c6b5a41',
                'alicloud': 'm-sim0000000000043'}
PATCH_COMMAND = 'Write-Output "patch 2026-11 installed"\nexit 0'


def patching_scenarios(provider: str, pool: str) -> list[tuple[str, str, dict]]:
    """(label, module, args) in run order: a rollout with a 2-desktop canary, the same again (nothing to change),
    and on the clouds a command with a 2-desktop canary, with and without its output."""
    image = {'pool': pool, 'image': PATCH_IMAGES[provider], 'canary': 2, 'logoff_policy': 'force'}
    out = [('desktop_image canary 2', 'desktop_image', image), ('desktop_image again', 'desktop_image', dict(image))]
    if provider != 'horizon':
        command = {'pool': pool, 'command': PATCH_COMMAND, 'canary': 2}
        out += [('desktop_command canary 2', 'desktop_command', command),
                ('desktop_command no output', 'desktop_command', dict(command, output_limit=0))]
    return out


def api_minimum_patching(label: str, provider: str, n: int) -> dict:
    """The fewest requests, by simulator operation, for a patching scenario on one pool of ``n`` running desktops.

    Contract: resolve the pool, read its desktops and their images, read what the rollout needs, roll out to the
    canary, confirm it (its operation and its desktops read back), roll out the rest and the pool's own image,
    confirm them, read the pool's image back; a rerun only reads. Limits as in :func:`api_minimum`, and:

    * Horizon: the pool (``GET /inventory/v2/desktop-pools/{id}``) is read to check it is instant clone and to follow
      each push; the canary's machines are read by id (a filter of 2), the rest by pool (1000 per page); the pool
      state read when the promote ended is its read-back.
    * Huawei Cloud: the images come from ListDesktopsDetail (500 per page by pool, 100 ids per call); ListImages gives
      the image's type; the pool rebuild's job has one sub-job per desktop (ShowJob embeds 100, ListItaSubJobs 1000 per
      page); the pool's image is read back with ShowDesktopPoolDetail. A command on a whole pool is one
      ExecuteDesktopPoolScripts call with its own canary; ListScriptRecords 100 per page; the output is one
      ShowScriptRecordDetail per desktop (the listing has none), none with ``output_limit: 0``.
    * Alibaba Cloud: RebuildDesktops 20 per call and ModifyDesktopGroup; the group's image read back with
      DescribeDesktopGroups; a command is RunCommand 50 per call (the canary its own call) and one DescribeInvocations
      per invocation, the output included.
    """
    rest = n - 2
    if provider == 'horizon':
        page = ceil(n, 1000)
        base = {'login': 1, 'list_pools': 1, 'list_machines_v2': page, 'get_pool_v2': 1, 'logout': 1}
        if label == 'desktop_image again':
            return base
        return dict(base, list_machines_v2=2 * page + 1, get_pool_v2=3, schedule_push_image=1, promote_pending_image=1)
    if provider == 'huaweicloud':
        page, detail = ceil(n, 1000), ceil(n, 500)
        base = {'list_desktop_pools': 1, 'list_desktops': page}
        if label == 'desktop_image again':
            return dict(base, list_desktops_detail=detail)
        if label.startswith('desktop_image'):
            out = dict(base, list_images=1, list_desktops_detail=detail + 1 + (detail if rest > 100 else 1),
                       batch_rebuild_desktops_system_disk=1, show_job=2, rebuild_desktop_pool=1,
                       show_desktop_pool_detail=1)
            if n > 100:
                out['list_ita_sub_jobs'] = ceil(n, 1000)
            return out
        out = dict(base, execute_desktop_pool_script=1, list_script_records=ceil(n, 100))
        if label == 'desktop_command canary 2':
            out['show_script_record_detail'] = n
        return out
    if provider == 'alicloud':
        page = ceil(n, 100)
        base = {'DescribeDesktopGroups': 1, 'DescribeDesktops': page}
        if label == 'desktop_image again':
            return base
        if label.startswith('desktop_image'):
            return dict(base, DescribeDesktopGroups=2, DescribeDesktops=page + 1 + (page if rest > 100 else 1),
                        RebuildDesktops=1 + ceil(rest, 20), ModifyDesktopGroup=1)
        return dict(base, RunCommand=1 + ceil(rest, 50), DescribeInvocations=1 + ceil(rest, 50))
    raise ValueError('no minimum for %s on %s' % (label, provider))


def power_on_all(info: dict, provider: str) -> dict:
    """Every desktop running (a rebuild or a command needs it); the fleet's state afterwards."""
    for d in sim_call(info, provider, 'GET', 'state', timeout=300)['desktops']:
        if d['power'] != 'on' or d['transitioning']:
            sim_call(info, provider, 'POST', 'desktops/' + d['id'], {'power': 'on', 'transition': None})
    return sim_call(info, provider, 'GET', 'state', timeout=300)


def bench_patching(provider: str, n: int, workdir: str, log) -> list[dict]:
    """Every patching scenario for one provider at one N, on a fresh simulator; the rows (as :func:`bench_provider`)."""
    wd = os.path.join(workdir, 'patching-%s-%d' % (provider, n))
    os.makedirs(wd, exist_ok=True)
    proc, info = start_simulator(wd, n, 1, 1, PATCH_TIME_SCALE, '', None, (provider,), PATCH_SIM_OPTIONS)
    rows = []
    try:
        state = power_on_all(info, provider)
        pool = state['pools'][0]['name']
        conn = dict(info[provider], ca_path=info['ca_path'])
        for label, module, args in patching_scenarios(provider, pool):
            counts = fleet_counts(sim_call(info, provider, 'GET', 'state', timeout=300))
            sim_call(info, provider, 'DELETE', 'stats')
            run = run_module(module, dict(conn, **args), wd)
            stats = sim_call(info, provider, 'GET', 'stats')
            minimum = api_minimum_patching(label, provider, n)
            result = run['result']
            row = {
                'provider': provider, 'n': n, 'scenario': label, 'module': module,
                'failed': bool(result.get('failed')), 'msg': result.get('msg') if result.get('failed') else None,
                'summary': result.get('summary'), 'requests': stats['total'], 'minimum': sum(minimum.values()),
                'by_op': stats['by_op'], 'minimum_by_op': minimum, 'writes': stats['writes'],
                'wall_s': round(run['wall'], 3), 'sim_s': round(stats['busy_seconds'], 3),
                'overhead_s': round(run['wall'] - stats['busy_seconds'], 3), 'cpu_s': round(run['cpu'], 3),
                'rss_mb': round(run['rss_mb'], 1), 'result_bytes': run['output_bytes'], 'fleet': counts,
            }
            rows.append(row)
            log('%-11s N=%-6d %-27s req %5d (min %5d) writes %4d wall %6.2fs sim %5.2fs overhead %5.2fs rss %5.1f MB%s'
                % (provider, n, label, row['requests'], row['minimum'], row['writes'], row['wall_s'], row['sim_s'],
                   row['overhead_s'], row['rss_mb'], '  FAILED: %s' % (row['msg'] or '')[:150] if row['failed'] else ''))
    finally:
        stop_simulator(proc)
    return rows


def patching_markdown(rows: list[dict]) -> str:
    """The patching rows of a run as a Markdown section (appended to results.md)."""
    lines = ['', '## Patching through the providers: `desktop_image` and `desktop_command`', '',
             'One pool of N running desktops per provider, clock x%g (every push, rebuild and script has ended before '
             'the next poll). `desktop_image` with a 2-desktop canary, then the rest and the pool image, then the same '
             'again (nothing to change); `desktop_command` with a 2-desktop canary, with its output (default '
             '`output_limit`) and without. The API minimum is `api_minimum_patching()`.' % PATCH_TIME_SCALE, '',
             '| provider | scenario | N | requests | API minimum | writes | wall s | simulator s | overhead s | '
             'peak RSS MB | result |',
             '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |']
    for r in rows:
        if r['module'] not in ('desktop_image', 'desktop_command'):
            continue
        result = 'failed: %s' % (r['msg'] or '')[:80] if r['failed'] else json.dumps(r['summary'], sort_keys=True)
        lines.append('| %s | %s | %d | %d | %d | %d | %.2f | %.2f | %.2f | %.1f | %s |' % (
            r['provider'], r['scenario'], r['n'], r['requests'], r['minimum'], r['writes'], r['wall_s'], r['sim_s'],
            r['overhead_s'], r['rss_mb'], result.replace('|', '/')))
    return '\n'.join(lines) + '\n'


def main_patching(args, log) -> int:
    """``--patching-only``: the patching scenarios alone, written to ``patching.md`` and ``patching.json``."""
    sizes = [int(x) for x in args.sizes.split(',') if x]
    workdir = args.workdir or tempfile.mkdtemp(prefix='vdi-fleet-bench-patching-')
    loadavg_start = ' / '.join('%.2f' % x for x in os.getloadavg())
    rows = []
    for provider in [p for p in args.providers.split(',') if p]:
        for n in sizes:
            rows.extend(bench_patching(provider, n, workdir, log))
    misses = [r for r in rows if r['requests'] != r['minimum'] or r['failed']]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'patching.json'), 'w', encoding='utf-8') as fh:
        json.dump({'machine': machine(), 'date': time.strftime('%Y-%m-%d'), 'runs': rows, 'loadavg_start': loadavg_start,
                   'loadavg_end': ' / '.join('%.2f' % x for x in os.getloadavg())}, fh, indent=2, sort_keys=True)
    text = '# Benchmark: patching modules\n\nLoad average of the machine at the start: %s (wall times are upper bounds ' \
           'when other jobs share it).\n' % loadavg_start + patching_markdown(rows)
    with open(os.path.join(args.out, 'patching.md'), 'w', encoding='utf-8') as fh:
        fh.write(text)
    print(text)
    print('requests equal the API minimum: %s' % ('in every run' if not misses else 'missed in %d runs' % len(misses)))
    return 0 if not misses else 1


# ------------------------------------------------------------------------------------------------ report


def evaluate(rows: list[dict], ansible: dict) -> dict:
    """Targets: requests == minimum; at the largest N overhead < 3 s and RSS < 200 MB; marginal cost ratio >= 1000."""
    out = {'requests': [], 'overhead': [], 'memory': [], 'ratio': {}}
    top = max(r['n'] for r in rows)
    for r in rows:
        if r['requests'] != r['minimum'] or r['failed']:
            extra = {op: r['by_op'].get(op, 0) - r['minimum_by_op'].get(op, 0)
                     for op in set(r['by_op']) | set(r['minimum_by_op'])
                     if r['by_op'].get(op, 0) != r['minimum_by_op'].get(op, 0)}
            out['requests'].append({'provider': r['provider'], 'n': r['n'], 'scenario': r['scenario'],
                                    'requests': r['requests'], 'minimum': r['minimum'], 'difference_by_op': extra,
                                    'failed': r['msg']})
        if r['n'] == top and r['overhead_s'] >= TARGET_OVERHEAD_S:
            out['overhead'].append({k: r[k] for k in ('provider', 'n', 'scenario', 'wall_s', 'sim_s', 'overhead_s')})
        if r['n'] == top and r['rss_mb'] >= TARGET_RSS_MB:
            out['memory'].append({k: r[k] for k in ('provider', 'n', 'scenario', 'rss_mb')})
    naive_slopes = {p: slope({n: v['wall_s'] for n, v in d['naive'].items()}) for p, d in ansible.items()}
    naive_slopes = {p: v for p, v in naive_slopes.items() if v}
    naive_ref = sum(naive_slopes.values()) / len(naive_slopes) if naive_slopes else None
    for provider, data in ansible.items():
        maint = [r for r in rows if r['provider'] == provider and r['scenario'] == 'desktop_maintenance']
        ours = slope({n: v['wall_s'] for n, v in data['module'].items()})
        direct = slope({r['n']: r['wall_s'] for r in maint})
        own = slope({r['n']: r['overhead_s'] for r in maint})
        naive = naive_slopes.get(provider, naive_ref)

        def ratio(x, naive=naive):
            return naive / x if naive and x and x > 0 else None

        out['ratio'][provider] = {
            'naive_s_per_desktop': naive, 'naive_measured_on': provider if provider in naive_slopes else sorted(naive_slopes),
            'ours_s_per_desktop': ours, 'ratio': ratio(ours),
            'module_process_s_per_desktop': direct, 'ratio_module_process': ratio(direct),
            'module_own_s_per_desktop': own, 'ratio_module_own': ratio(own),
        }
    return out


def fmt_ms(seconds: float | None) -> str:
    return '-' if seconds is None else '%.3f ms' % (seconds * 1000)


def fmt_x(value: float | None) -> str:
    return '%.0fx' % value if value else 'n/a'


def to_markdown(rows: list[dict], ansible: dict, targets: dict, mach: dict, meta: dict) -> str:
    lines = ['# Benchmark results', '',
             'Generated by `make bench` (`bench/run.py`) on %s: %s, %s CPUs, %s GB RAM, Python %s, ansible-core %s. '
             'Simulator: one pool of N desktops per provider, TLS, clock x%g, no faults. Modules run as module '
             'processes (no Ansible start-up in the numbers); `desktop_pool_power` with `wait: false`. Load average '
             'of the machine at the start: %s (other jobs shared it: wall times are upper bounds; module CPU time is '
             'not affected). Overhead = wall - simulator.'
             % (meta['date'], mach.get('cpu', '?'), mach.get('cpus'), mach.get('memory_gb', '?'), mach.get('python'),
                mach.get('ansible_core'), TIME_SCALE, meta.get('loadavg_start', '?')), '',
             '## Headline: `desktop_maintenance` (whole pool into maintenance) and `desktop_info`', '',
             '| provider | module | N | requests | API minimum | wall s | simulator s | overhead s | module CPU s | '
             'peak RSS MB |',
             '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for r in rows:
        if r['scenario'] in ('desktop_maintenance', 'desktop_info'):
            lines.append('| %s | %s | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.1f |' % (
                r['provider'], r['scenario'], r['n'], r['requests'], r['minimum'], r['wall_s'], r['sim_s'],
                r['overhead_s'], r['cpu_s'], r['rss_mb']))
    lines += ['', '## Marginal cost per desktop: naive `uri` loop vs `desktop_maintenance`', '',
              'Slope of wall time against N (least squares): the naive loop at N = %s through `ansible-playbook`; the '
              'module through `ansible-playbook` at N = %s (and as a bare module process).'
              % (', '.join(str(n) for n in meta['naive_sizes']), ', '.join(str(n) for n in meta['sizes'])), '',
              '| provider | naive loop | desktop_maintenance via ansible-playbook | ratio | module process | ratio | '
              'module process minus simulator | ratio |',
              '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for provider in PROVIDERS:
        t = targets['ratio'].get(provider)
        if not t:
            continue
        on = t['naive_measured_on']
        lines.append('| %s | %s%s | %s | %s | %s | %s | %s | %s |' % (
            provider, fmt_ms(t['naive_s_per_desktop']), '' if on == provider else ' (timed on %s)' % ', '.join(on),
            fmt_ms(t['ours_s_per_desktop']), fmt_x(t['ratio']), fmt_ms(t['module_process_s_per_desktop']),
            fmt_x(t['ratio_module_process']), fmt_ms(t['module_own_s_per_desktop']), fmt_x(t['ratio_module_own'])))
    lines += ['', 'The naive loop costs the same per desktop whatever API is behind it: Ansible runs the uri module '
              'once per loop item, and the simulator answers one maintenance request in about a millisecond. It is '
              'timed on %s; Alibaba Cloud could not be timed at all, since every EDS call needs an ACS3-HMAC-SHA256 '
              'signature that `ansible.builtin.uri` cannot compute.' % ', '.join(meta['naive_providers'] or ['none'])]
    lines += ['', '## Every module', '',
              '| provider | scenario | N | requests | minimum | wall s | sim s | overhead s | RSS MB | result |',
              '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |']
    for r in rows:
        result = 'failed: %s' % (r['msg'] or '')[:80] if r['failed'] else json.dumps(r['summary'], sort_keys=True)
        lines.append('| %s | %s | %d | %d | %d | %.2f | %.2f | %.2f | %.1f | %s |' % (
            r['provider'], r['scenario'], r['n'], r['requests'], r['minimum'], r['wall_s'], r['sim_s'], r['overhead_s'],
            r['rss_mb'], result.replace('|', '/')))
    lines += ['', '## Targets', '']
    top = max(meta['sizes'])
    lines.append('- requests equal the API minimum: %s' % ('met in every run' if not targets['requests'] else
                                                           'missed in %d runs:' % len(targets['requests'])))
    for miss in targets['requests']:
        lines.append('  - %s %s N=%d: %d requests, minimum %d; difference by operation %s%s' % (
            miss['provider'], miss['scenario'], miss['n'], miss['requests'], miss['minimum'],
            json.dumps(miss['difference_by_op'], sort_keys=True), '; failed: %s' % miss['failed'] if miss['failed'] else ''))
    lines.append('- module overhead (wall - simulator) under %g s at N = %d: %s' % (
        TARGET_OVERHEAD_S, top, 'met' if not targets['overhead'] else 'missed: %s' % json.dumps(targets['overhead'])))
    lines.append('- peak RSS under %g MB at N = %d: %s (highest %.1f MB)' % (
        TARGET_RSS_MB, top, 'met' if not targets['memory'] else 'missed: %s' % json.dumps(targets['memory']),
        max(r['rss_mb'] for r in rows if r['n'] == top)))
    ratios = {p: t['ratio'] for p, t in targets['ratio'].items() if t['ratio']}
    lines.append('- marginal cost at least %gx lower than the naive loop: %s' % (TARGET_RATIO, ', '.join(
        '%s %.0fx (%s)' % (p, v, 'met' if v >= TARGET_RATIO else 'missed') for p, v in sorted(ratios.items())) or 'n/a'))
    lines += ['', '![wall time against N](wall_time.png)', '']
    return '\n'.join(lines)


def plot(rows: list[dict], ansible: dict, path: str) -> bool:
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 5.5))
    colors = {'horizon': 'tab:blue', 'huaweicloud': 'tab:red', 'alicloud': 'tab:orange'}
    for provider in PROVIDERS:
        for scenario, style in (('desktop_maintenance', '-o'), ('desktop_info', ':s')):
            pts = sorted((r['n'], r['wall_s']) for r in rows if r['provider'] == provider and r['scenario'] == scenario)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colors[provider],
                        label='%s %s' % (provider, scenario))
        naive = sorted((n, v['wall_s']) for n, v in (ansible.get(provider) or {}).get('naive', {}).items())
        if naive:
            ax.plot([p[0] for p in naive], [p[1] for p in naive], '--x', color=colors[provider],
                    label='%s naive uri loop (ansible-playbook)' % provider)
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel('desktops in the pool (N)')
    ax.set_ylabel('wall time (s)')
    ax.set_title('vdi.fleet against the simulator: wall time against N')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', default=','.join(str(n) for n in SIZES))
    ap.add_argument('--naive-sizes', default=','.join(str(n) for n in NAIVE_SIZES))
    ap.add_argument('--providers', default=','.join(PROVIDERS))
    ap.add_argument('--naive-providers', default=','.join(NAIVE_PROVIDERS),
                    help='providers to time the naive uri loop on (horizon, huaweicloud; alicloud needs signing)')
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'results'))
    ap.add_argument('--workdir', default=None)
    ap.add_argument('--no-ansible', action='store_true', help='skip the ansible-playbook runs (naive loop and module)')
    ap.add_argument('--render', metavar='RESULTS_JSON', help='only write results.md and the plot again from a results.json')
    ap.add_argument('--no-patching', action='store_true', help='skip the desktop_image and desktop_command runs')
    ap.add_argument('--patching-only', action='store_true', help='only the desktop_image and desktop_command runs')
    args = ap.parse_args(argv)
    if args.patching_only:
        return main_patching(args, lambda line: print(line, flush=True))
    if args.render:
        with open(args.render, encoding='utf-8') as fh:
            saved = json.load(fh)
        ansible = {p: {k: {int(n): v for n, v in d.items()} for k, d in a.items()} for p, a in saved['ansible'].items()}
        targets = evaluate(saved['runs'], ansible)
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, 'results.md'), 'w', encoding='utf-8') as fh:
            fh.write(to_markdown(saved['runs'], ansible, targets, saved['machine'], saved['meta']))
        plot(saved['runs'], ansible, os.path.join(args.out, 'wall_time.png'))
        return 0
    sizes = [int(x) for x in args.sizes.split(',') if x]
    naive_sizes = [int(x) for x in args.naive_sizes.split(',') if x]
    providers = [p for p in args.providers.split(',') if p]
    if not os.path.isdir(os.path.join(collections_path(), 'ansible_collections', 'vdi', 'fleet')):
        print('vdi.fleet is not installed in %s: run `make collection` first' % collections_path(), file=sys.stderr)
        return 2
    workdir = args.workdir or tempfile.mkdtemp(prefix='vdi-fleet-bench-')
    start = time.perf_counter()
    loadavg_start = ' / '.join('%.2f' % x for x in os.getloadavg())

    def log(line):
        print(line, flush=True)

    rows = []
    for provider in providers:
        for n in sizes:
            provider_rows, _info = bench_provider(provider, n, workdir, log)
            rows.extend(provider_rows)
    if not args.no_patching:
        rows.extend(row for provider in providers for n in sizes for row in bench_patching(provider, n, workdir, log))
    ansible = {}
    naive_providers = [p for p in args.naive_providers.split(',') if p in ('horizon', 'huaweicloud')]
    if not args.no_ansible:
        for provider in providers:
            ansible[provider] = bench_ansible(provider, sizes, naive_sizes if provider in naive_providers else [],
                                              workdir, log)
    targets = evaluate(rows, ansible)
    mach = machine()
    meta = {'date': time.strftime('%Y-%m-%d'), 'sizes': sizes, 'naive_sizes': naive_sizes, 'providers': providers,
            'naive_providers': naive_providers, 'loadavg_start': loadavg_start,
            'loadavg_end': ' / '.join('%.2f' % x for x in os.getloadavg()),
            'time_scale': TIME_SCALE, 'seconds': round(time.perf_counter() - start, 1)}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'results.json'), 'w', encoding='utf-8') as fh:
        saved = {p: {k: {str(n): v for n, v in d.items()} for k, d in a.items()} for p, a in ansible.items()}
        json.dump({'machine': mach, 'meta': meta, 'runs': rows, 'ansible': saved, 'targets': targets}, fh, indent=2,
                  sort_keys=True)
    with open(os.path.join(args.out, 'machine.json'), 'w', encoding='utf-8') as fh:
        json.dump(mach, fh, indent=2, sort_keys=True)
    text = to_markdown(rows, ansible, targets, mach, meta) + patching_markdown(rows)
    with open(os.path.join(args.out, 'results.md'), 'w', encoding='utf-8') as fh:
        fh.write(text)
    plotted = plot(rows, ansible, os.path.join(args.out, 'wall_time.png'))
    print()
    print(text)
    for provider, t in targets['ratio'].items():
        if t['ratio']:
            print('%s: marginal cost per desktop, naive uri loop / desktop_maintenance = %.0fx' % (provider, t['ratio']))
    if not plotted:
        print('matplotlib is not installed: no plot (pip install matplotlib)')
    print('bench finished in %.0f s; results in %s' % (meta['seconds'], args.out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
