"""`make demo`: start the simulator, run the ready playbooks against every provider, stop the simulator.

For each provider: a maintenance round trip on one pool (enter, the same again with nothing to change, exit),
then the whole patch window over two pools (waves, countdown messages, drain, logoff, restart, verify, release),
with its summary and JSON report. Finally the simulator's request counts.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROVIDERS = ('horizon', 'huaweicloud', 'alicloud')


def start_simulator(workdir: str, fleet: int = 24) -> tuple[subprocess.Popen, dict]:
    ready = os.path.join(workdir, 'sim.json')
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, 'tests', 'simulator', 'serve.py'), '--port', '0',
                             '--fleet', str(fleet), '--seed', '42', '--time-scale', '120', '--state-dir', workdir,
                             '--ready-file', ready], stdout=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not os.path.exists(ready):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise SystemExit('the simulator did not start (exit code %s)' % proc.poll())
        time.sleep(0.1)
    with open(ready, encoding='utf-8') as fh:
        return proc, json.load(fh)


def sim_get(info: dict, provider: str, path: str) -> dict:
    ctx = ssl.create_default_context(cafile=info['ca_path'])
    with urllib.request.urlopen(info[provider]['endpoint'] + '/_sim/' + path, context=ctx, timeout=10) as resp:
        return json.loads(resp.read())


def play(provider: str, varfile: str, pool: str, state: str) -> None:
    print('\n=== %s: %s maintenance for pool %s' % (provider, 'enter' if state == 'present' else 'exit', pool), flush=True)
    subprocess.run(['ansible-playbook', 'vdi.fleet.maintenance', '-e', '@' + varfile, '-e', 'vdi_pool=' + pool,
                    '-e', 'vdi_maintenance_state=' + state], check=True, cwd=ROOT)


def window(provider: str, varfile: str, pools: list, workdir: str) -> str:
    report = os.path.join(ROOT, 'demo-report-%s.json' % provider)
    extra = {'patch_window_pools': pools, 'patch_window_wave_size': '50%', 'patch_window_countdown': [2, 1],
             'patch_window_minute_seconds': 1, 'patch_window_drain_timeout': 3, 'patch_window_report_path': report}
    if provider == 'alicloud':
        extra['patch_window_message_options'] = {'alicloud_delivery': 'run_command'}
    extra_file = os.path.join(workdir, provider + '-window.json')
    with open(extra_file, 'w', encoding='utf-8') as fh:
        json.dump(extra, fh)
    print('\n=== %s: patch window over pools %s' % (provider, ', '.join(pools)), flush=True)
    subprocess.run(['ansible-playbook', 'vdi.fleet.patch_window', '-e', '@' + varfile, '-e', '@' + extra_file],
                   check=True, cwd=ROOT)
    return report


def main() -> int:
    with tempfile.TemporaryDirectory(prefix='vdi-fleet-demo-') as workdir:
        proc, info = start_simulator(workdir)
        try:
            for provider in PROVIDERS:
                conn = dict(info[provider])
                conn['ca_path'] = info['ca_path']
                varfile = os.path.join(workdir, provider + '.json')
                with open(varfile, 'w', encoding='utf-8') as fh:
                    json.dump({'vdi_connection': conn}, fh)
                pool = sim_get(info, provider, 'state')['pools'][0]['name']
                play(provider, varfile, pool, 'present')
                play(provider, varfile, pool, 'present')
                play(provider, varfile, pool, 'absent')
                pools = [p['name'] for p in sim_get(info, provider, 'state')['pools'][:2]]
                report = window(provider, varfile, pools, workdir)
                with open(report, encoding='utf-8') as fh:
                    summary = json.load(fh)['summary']
                print('--- %s: patch window %s; report %s' % (provider, json.dumps(summary, sort_keys=True), report))
                stats = sim_get(info, provider, 'stats')
                left = [d['name'] for d in sim_get(info, provider, 'state')['desktops'] if d['maintenance']]
                print('--- %s: %d requests (%d writes) by operation %s; desktops left in maintenance: %s'
                      % (provider, stats['total'], stats['writes'], json.dumps(stats['by_op'], sort_keys=True),
                         left or 'none'))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print('\ndemo finished: the simulator is stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
