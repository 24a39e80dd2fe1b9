"""`make chaos`: the patch_window role against a misbehaving simulator, then invariant checks.

For each provider the role runs over every pool of a fleet of ``--desktops`` desktops (default 1,000) while the
simulator injects throttling (10 % of requests), server errors (5 %), dropped connections (2 %), latency
(50-500 ms on every request) and per-id refusals (2 % of the ids of every batch operation), and enforces a rate
limit (``--rate-limit`` requests per second per provider, answered with the provider's own throttling error).
The three providers run side by side, one ``ansible-playbook -vvvv`` each. Afterwards, from the simulator's state
and statistics and from the role's JSON report:

1. ``accounted``: every desktop of the patched pools is in the report exactly once (and nothing else is);
2. ``maintenance``: no desktop is left in maintenance except those the report names as quarantined;
3. ``messages``: no session received the same message twice;
4. ``rate_limit``: the provider's rate limit was never exceeded (the simulator's limiter never had to answer);
5. ``secrets``: no password, secret key, security token, bearer/IAM token or signature appears in the
   ``-vvvv`` output or in the report.

Results go to ``bench/results/chaos.md`` and ``chaos.json`` (``--out``); the exit code is 1 when a check fails.
``tests/integration/test_chaos.py`` runs the same code at a reduced size inside ``make test``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROVIDERS = ('horizon', 'huaweicloud', 'alicloud')
FAULTS = 'throttle:0.1,5xx:0.05,drop:0.02,latency:50-500,perid:0.02'
#: Requests per second per provider. Below every provider's published or assumed limit (Huawei APIG shows 20/s,
#: Alibaba ECD 1000/60 s, Horizon's per-API limits are not published), so a client that stays under it is safe.
RATE_LIMIT = 10.0
SECRET_KEYS = ('password', 'secret_key', 'security_token')
#: Shapes of secrets the simulator hands out at run time (Horizon JWTs, IAM tokens) or that derive from a key.
SECRET_PATTERNS = (
    re.compile(r'Bearer\s+(?!\*)[A-Za-z0-9\-._~+/=]{12,}'),
    re.compile(r'"(?:access_token|refresh_token)"\s*:\s*"(?!VALUE_SPECIFIED_IN_NO_LOG_PARAMETER|\*)[^"]{8,}"'),
    re.compile(r'X-(?:Auth|Subject)-Token["\']?\s*[:=]\s*["\']?(?!\*)[A-Za-z0-9\-._~+/=]{12,}', re.I),
    re.compile(r'Signature=[0-9a-fA-F]{32,}'),
    re.compile(r'eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.'),  # a JWT
)


# ------------------------------------------------------------------------------------------------ simulator


def collections_path() -> str:
    return os.environ.get('VDI_FLEET_TEST_COLLECTIONS') or os.path.join(ROOT, '.build', 'collections')


def start_simulator(workdir: str, fleet: int, pools: int, seed: int, time_scale: float, faults: str,
                    rate_limit: float | None, providers=PROVIDERS, extra=()) -> tuple[subprocess.Popen, dict]:
    """serve.py as a child process (its own interpreter, so its threads do not share a GIL with anything)."""
    ready = os.path.join(workdir, 'sim.json')
    cmd = [sys.executable, os.path.join(ROOT, 'tests', 'simulator', 'serve.py'), '--port', '0',
           '--providers', ','.join(providers), '--fleet', str(fleet), '--pools', str(pools), '--seed', str(seed),
           '--time-scale', str(time_scale), '--state-dir', workdir, '--ready-file', ready, '--lifetime', '3600']
    if faults:
        cmd += ['--faults', faults]
    if rate_limit:
        cmd += ['--rate-limit', str(rate_limit)]
    cmd += list(extra)
    log = open(os.path.join(workdir, 'sim.log'), 'w', encoding='utf-8')  # pylint: disable=consider-using-with
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with
    deadline = time.time() + 120
    while not os.path.exists(ready):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise SystemExit('the simulator did not start (exit code %s); see %s' % (proc.poll(), log.name))
        time.sleep(0.05)
    with open(ready, encoding='utf-8') as fh:
        return proc, json.load(fh)


def stop_simulator(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sim_call(info: dict, provider: str, method: str, path: str, body=None, timeout: float = 60):
    ctx = ssl.create_default_context(cafile=info['ca_path']) if info.get('ca_path') else None
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(info[provider]['endpoint'] + '/_sim/' + path, data=data, method=method,
                                 headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
        return json.loads(resp.read() or b'null')


def secrets_of(info: dict) -> list[str]:
    """Every credential value the simulator accepts (all providers, alternate credentials included)."""
    found = set()
    for block in info.values():
        if isinstance(block, dict):
            found.update(v for k, v in block.items() if k in SECRET_KEYS and isinstance(v, str) and len(v) >= 6)
    return sorted(found)


# ------------------------------------------------------------------------------------------------ the role


def role_vars(provider: str, info: dict, pools: list[str], report: str, wave_size: str, countdown=(2, 1)) -> dict:
    """The role's variables: every pool, waves of ``wave_size``, a quick countdown and drain."""
    conn = dict(info[provider], ca_path=info['ca_path'])
    return {
        'patch_window_connection': conn,
        'patch_window_pools': pools,
        'patch_window_wave_size': wave_size,
        'patch_window_countdown': list(countdown),
        'patch_window_minute_seconds': 0,
        'patch_window_drain_timeout': 3,
        'patch_window_restart_timeout': 600,
        'patch_window_max_failed_percentage': 100,
        'patch_window_fail_on_quarantine': False,
        'patch_window_report_path': report,
        'patch_window_message_options': {'alicloud_delivery': 'run_command'} if provider == 'alicloud' else {},
    }


PLAYBOOK = [{
    'name': 'Chaos patch window',
    'hosts': 'localhost',
    'gather_facts': False,
    'tasks': [{'name': 'Run the patch window role', 'ansible.builtin.include_role': {'name': 'vdi.fleet.patch_window'}}],
}]


def run_role(provider: str, info: dict, pools: list[str], workdir: str, wave_size: str, verbosity: int = 4) -> dict:
    """One ansible-playbook run of the role; returns rc, wall time, and the paths of its output and report."""
    pdir = os.path.join(workdir, provider)
    os.makedirs(pdir, exist_ok=True)
    report = os.path.join(pdir, 'report.json')
    varfile = os.path.join(pdir, 'vars.json')
    with open(varfile, 'w', encoding='utf-8') as fh:
        json.dump(role_vars(provider, info, pools, report, wave_size), fh)
    os.chmod(varfile, 0o600)
    playbook = os.path.join(pdir, 'chaos.yml')
    with open(playbook, 'w', encoding='utf-8') as fh:
        json.dump(PLAYBOOK, fh)  # JSON is YAML
    log = os.path.join(pdir, 'ansible.log')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
               ANSIBLE_RETRY_FILES_ENABLED='false', ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), playbook, '-e', '@' + varfile]
    if verbosity:
        cmd.append('-' + 'v' * verbosity)
    start = time.perf_counter()
    with open(log, 'w', encoding='utf-8') as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=pdir, timeout=3600, check=False)
    return {'rc': proc.returncode, 'seconds': round(time.perf_counter() - start, 1), 'log': log, 'report': report}


# ------------------------------------------------------------------------------------------------ checks


def peak_rate(log: list[dict]) -> int:
    """Most requests the provider received in any one-second window."""
    times = sorted(e['time'] for e in log)
    peak, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - 1.0:
            lo += 1
        peak = max(peak, hi - lo + 1)
    return peak


def check_run(provider: str, state: dict, stats: dict, report: dict | None, output: str, report_text: str,
              secrets: list[str], pools: list[str], rate_limit: float | None) -> dict:
    """The five invariants; returns ``{name: {'ok': bool, 'detail': str}}``."""
    checks = {}
    pool_ids = {p['id'] for p in state['pools'] if p['name'] in pools or p['id'] in pools}
    expected = {d['id'] for d in state['desktops'] if d['pool'] in pool_ids}
    entries = (report or {}).get('desktops') or []
    ids = [e.get('id') for e in entries]
    dupes = sorted({i for i in ids if ids.count(i) > 1}) if len(ids) != len(set(ids)) else []
    missing = sorted(expected - set(ids))
    extra = sorted(set(ids) - expected)
    statuses = {}
    for e in entries:
        statuses[e.get('status')] = statuses.get(e.get('status'), 0) + 1
    ok = report is not None and not dupes and not missing and not extra and len(ids) == len(expected) \
        and all(e.get('status') in ('released', 'quarantined', 'skipped', 'failed', 'not_reached') for e in entries)
    checks['accounted'] = {'ok': ok, 'detail': 'report: %d desktops of %d expected; duplicates %s, missing %s, extra %s; '
                           'statuses %s' % (len(ids), len(expected), dupes[:5], missing[:5], extra[:5],
                                            json.dumps(statuses, sort_keys=True))
                           if report is not None else 'no report was written'}

    quarantined = {e['id'] for e in entries if e.get('status') == 'quarantined'}
    in_maint = {d['id']: d['name'] for d in state['desktops'] if d['maintenance']}
    stuck = sorted(in_maint[i] for i in in_maint if i not in quarantined)
    checks['maintenance'] = {'ok': not stuck, 'detail': '%d in maintenance, %d quarantined in the report; left in '
                             'maintenance without quarantine: %s' % (len(in_maint), len(quarantined), stuck[:10] or 'none')}

    seen, twice = {}, []
    for m in state['messages']:
        key = (m.get('session_id'), m.get('text'))
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            twice.append('%s (%s)' % (m.get('session_id'), m.get('desktop_id')))
    sessions = {m.get('session_id') for m in state['messages']}
    checks['messages'] = {'ok': not twice, 'detail': '%d messages to %d sessions; the same message twice: %s'
                          % (len(state['messages']), len(sessions), twice[:10] or 'none')}

    peak = peak_rate(stats.get('log') or [])
    limited = stats.get('rate_limited', 0)
    checks['rate_limit'] = {'ok': limited == 0, 'detail': 'limit %s req/s; answered by the limiter: %d; peak %d requests '
                            'in one second' % (rate_limit, limited, peak)}

    leaks = []
    for where, text in (('output', output), ('report', report_text)):
        for secret in secrets:
            if secret in text:
                leaks.append('%s: credential %s...' % (where, secret[:3]))
        for pattern in SECRET_PATTERNS:
            match = pattern.search(text)
            if match:
                leaks.append('%s: %s...' % (where, match.group(0)[:14]))
    detail = 'scanned %d bytes of -vvvv output and %d bytes of report for %d credentials and %d token shapes: %s' % (
        len(output), len(report_text), len(secrets), len(SECRET_PATTERNS), leaks or 'none found')
    checks['secrets'] = {'ok': not leaks, 'detail': detail}
    return checks


def failed_task(output: str) -> str | None:
    """Name of the task whose failure ended the play (the last ``fatal:`` not followed by ``...ignoring``)."""
    task, last = None, None
    lines = output.splitlines()
    for n, line in enumerate(lines):
        if line.startswith('TASK ['):
            task = line[len('TASK ['):].split(']', 1)[0]
        elif line.startswith('fatal: [') and 'FAILED!' in line:
            ignored = any(x.strip() == '...ignoring' for x in lines[n + 1:n + 400] if not x.startswith((' ', '}')))
            if not ignored:
                last = task
    return last


# ------------------------------------------------------------------------------------------------ driver


def run_chaos(desktops: int = 1000, pools: int = 2, seed: int = 11, time_scale: float = 120.0, faults: str = FAULTS,
              rate_limit: float | None = RATE_LIMIT, wave_size: str = '50%', providers=PROVIDERS,
              workdir: str | None = None, verbosity: int = 4, parallel: bool = True) -> dict:
    """Start the simulator, run the role per provider (side by side), check; returns the results per provider."""
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix='vdi-fleet-chaos-')
    os.makedirs(workdir, exist_ok=True)
    proc, info = start_simulator(workdir, desktops, pools, seed, time_scale, faults, rate_limit, providers)
    results = {}
    try:
        pool_names = {p: [x['name'] for x in sim_call(info, p, 'GET', 'state')['pools']] for p in providers}
        for p in providers:
            sim_call(info, p, 'DELETE', 'stats')
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(providers) if parallel else 1) as pool:
            futures = {p: pool.submit(run_role, p, info, pool_names[p], workdir, wave_size, verbosity) for p in providers}
            runs = {p: f.result() for p, f in futures.items()}
        secrets = secrets_of(info)
        for p in providers:
            run = runs[p]
            state = sim_call(info, p, 'GET', 'state')
            stats = sim_call(info, p, 'GET', 'stats?log=1')
            with open(run['log'], encoding='utf-8', errors='replace') as fh:
                output = fh.read()
            report, report_text = None, ''
            if os.path.exists(run['report']):
                with open(run['report'], encoding='utf-8') as fh:
                    report_text = fh.read()
                report = json.loads(report_text)
            checks = check_run(p, state, stats, report, output, report_text, secrets, pool_names[p], rate_limit)
            results[p] = {
                'desktops': len(state['desktops']), 'pools': len(pool_names[p]), 'rc': run['rc'],
                'seconds': run['seconds'], 'requests': stats['total'], 'writes': stats['writes'],
                'faults': stats['faults'], 'by_status': stats['by_status'],
                'summary': (report or {}).get('summary'), 'checks': checks,
                'ok': all(c['ok'] for c in checks.values()),
                'failed_task': None if report else failed_task(output), 'log': run['log'], 'report': run['report'],
                'output_tail': '' if report else output[-4000:],
            }
    finally:
        stop_simulator(proc)
    results['_meta'] = {'desktops': desktops, 'pools': pools, 'seed': seed, 'time_scale': time_scale, 'faults': faults,
                        'rate_limit': rate_limit, 'wave_size': wave_size, 'workdir': workdir, 'temporary': own}
    return results


def machine() -> dict:
    info = {'python': platform.python_version(), 'platform': platform.platform(), 'cpus': os.cpu_count()}
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as fh:
            for line in fh:
                if line.startswith('model name'):
                    info['cpu'] = line.split(':', 1)[1].strip()
                    break
        with open('/proc/meminfo', encoding='utf-8') as fh:
            info['memory_gb'] = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        import ansible  # pylint: disable=import-outside-toplevel
        info['ansible_core'] = ansible.__version__ if hasattr(ansible, '__version__') else None
        from ansible.release import __version__ as core_version  # pylint: disable=import-outside-toplevel
        info['ansible_core'] = core_version
    except ImportError:
        pass
    return info


def to_markdown(results: dict, mach: dict) -> str:
    meta = results['_meta']
    lines = ['# Chaos run', '',
             'The `vdi.fleet.patch_window` role over %d desktops per provider (%d pools, waves of %s), simulator seed %d, '
             'clock x%g, faults `%s`, rate limit %s req/s per provider, `ansible-playbook -vvvv`.'
             % (meta['desktops'], meta['pools'], meta['wave_size'], meta['seed'], meta['time_scale'], meta['faults'],
                meta['rate_limit']), '',
             'Machine: %s, %s CPUs, %s GB, Python %s, ansible-core %s.' % (
                 mach.get('cpu', '?'), mach.get('cpus'), mach.get('memory_gb', '?'), mach.get('python'),
                 mach.get('ansible_core')), '',
             '| provider | wall s | requests | faults injected | released | quarantined | skipped | failed | '
             'not reached | accounted | maintenance | messages | rate limit | secrets |',
             '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- |']
    for p in PROVIDERS:
        r = results.get(p)
        if not r:
            continue
        s = r['summary'] or {}
        faults = ', '.join('%s %d' % (k, v) for k, v in sorted(r['faults'].items())) or 'none'
        lines.append('| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |' % (
            p, r['seconds'], r['requests'], faults, s.get('released', '-'), s.get('quarantined', '-'),
            s.get('skipped', '-'), s.get('failed', '-'), s.get('not_reached', '-'),
            ' | '.join('pass' if r['checks'][c]['ok'] else '**FAIL**' for c in
                       ('accounted', 'maintenance', 'messages', 'rate_limit', 'secrets'))))
    lines += ['', '## Details', '']
    for p in PROVIDERS:
        r = results.get(p)
        if not r:
            continue
        lines.append('- **%s** (ansible-playbook rc %s%s):' % (
            p, r['rc'], ', the play stopped at the task "%s"' % r['failed_task'] if r.get('failed_task') else ''))
        for name, c in r['checks'].items():
            lines.append('  - %s: %s - %s' % (name, 'pass' if c['ok'] else 'FAIL', c['detail']))
    lines += ['', 'Findings: [../README.md](../README.md#chaos).']
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--desktops', type=int, default=1000, help='desktops per provider')
    ap.add_argument('--pools', type=int, default=2)
    ap.add_argument('--wave-size', default='50%')
    ap.add_argument('--seed', type=int, default=11)
    ap.add_argument('--time-scale', type=float, default=120.0)
    ap.add_argument('--faults', default=FAULTS)
    ap.add_argument('--rate-limit', type=float, default=RATE_LIMIT)
    ap.add_argument('--providers', default=','.join(PROVIDERS))
    ap.add_argument('--verbosity', type=int, default=4)
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'results'))
    ap.add_argument('--workdir', default=None, help='keep the logs and reports here (default: a temporary directory)')
    ap.add_argument('--render', metavar='CHAOS_JSON', help='only write chaos.md again from a chaos.json')
    args = ap.parse_args(argv)
    if args.render:
        with open(args.render, encoding='utf-8') as fh:
            saved = json.load(fh)
        mach = saved.pop('_machine', {})
        with open(os.path.join(args.out, 'chaos.md'), 'w', encoding='utf-8') as fh:
            fh.write(to_markdown(saved, mach))
        return 0
    providers = tuple(p for p in args.providers.split(',') if p)
    start = time.perf_counter()
    results = run_chaos(args.desktops, args.pools, args.seed, args.time_scale, args.faults, args.rate_limit,
                        args.wave_size, providers, args.workdir, args.verbosity)
    results['_meta']['total_seconds'] = round(time.perf_counter() - start, 1)
    mach = machine()
    os.makedirs(args.out, exist_ok=True)
    public = {p: {k: v for k, v in r.items() if k not in ('log', 'report', 'output_tail')} for p, r in results.items()}
    public['_machine'] = mach
    with open(os.path.join(args.out, 'chaos.json'), 'w', encoding='utf-8') as fh:
        json.dump(public, fh, indent=2, sort_keys=True)
    text = to_markdown(results, mach)
    with open(os.path.join(args.out, 'chaos.md'), 'w', encoding='utf-8') as fh:
        fh.write(text)
    print(text)
    for p in providers:
        if results[p]['output_tail']:
            print('--- %s: no report; end of the ansible output:\n%s' % (p, results[p]['output_tail']))
    print('logs and reports: %s (%.0f s in total)' % (results['_meta']['workdir'], results['_meta']['total_seconds']))
    return 0 if all(results[p]['ok'] for p in providers) else 1


if __name__ == '__main__':
    sys.exit(main())
