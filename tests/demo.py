"""`make demo`: start the simulator, run the ready playbooks against every provider, stop the simulator.

For each provider: a maintenance round trip on one pool (enter, the same again with nothing to change, exit),
then the whole patch window over two pools (waves, countdown messages, drain, logoff, restart, verify, release),
with its summary and JSON report, and the simulator's request counts. Finally patching through the providers: an
image rollout with a canary on Huawei Cloud and a command through the agent on Alibaba Cloud, after the rolling
patch window over the inventory of a Huawei pool (one desktop's patch fails and is quarantined alone).
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


def sim_post(info: dict, provider: str, path: str, body: dict) -> dict:
    ctx = ssl.create_default_context(cafile=info['ca_path'])
    req = urllib.request.Request(info[provider]['endpoint'] + '/_sim/' + path, data=json.dumps(body).encode(),
                                 method='POST', headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return json.loads(resp.read())


def patching_demo(info: dict, workdir: str) -> None:
    """Patching through the providers: an image rollout with a canary on Huawei Cloud, a command on Alibaba Cloud."""
    pools = {}
    for provider in ('huaweicloud', 'alicloud'):  # the third pool, every desktop running (a rebuild needs it)
        state = sim_get(info, provider, 'state')
        pools[provider] = state['pools'][2]
        for d in state['desktops']:
            if d['pool'] == pools[provider]['id'] and d['power'] != 'on':
                sim_post(info, provider, 'desktops/' + d['id'], {'power': 'on', 'sessions': []})
    hw_pool, ali_pool = pools['huaweicloud'], pools['alicloud']
    members = [d for d in sim_get(info, 'alicloud', 'state')['desktops'] if d['pool'] == ali_pool['id']]
    sim_post(info, 'alicloud', 'desktops/' + members[1]['id'], {'extra': {'guest_exit': 3}})
    results = os.path.join(workdir, 'patching.json')
    tasks = [
        {'name': 'Roll the new image out to a Huawei Cloud pool, two desktops first', 'register': 'image',
         'vdi.fleet.desktop_image': {'pool': hw_pool['name'], 'image': '8f2c6b1a-4e5d-4c3b-9a2f-1d0e7c6b5a41',
                                     'canary': 2, 'logoff_policy': 'force', 'grace_minutes': 0,
                                     'notice': 'Your desktop is updated now.'},
         'module_defaults': {'group/vdi.fleet.provider': '{{ hw }}'}},
        {'name': 'Run a command on an Alibaba Cloud pool through the agent', 'register': 'command',
         'ignore_errors': True,
         'vdi.fleet.desktop_command': {'pool': ali_pool['name'], 'canary': 2, 'failure_threshold': 2,
                                       'command': 'Write-Output "KB5050 installed"\nexit 0'},
         'module_defaults': {'group/vdi.fleet.provider': '{{ ali }}'}},
        {'name': 'Keep the results', 'ansible.builtin.copy': {
            'content': '{{ {"image": image, "command": command} | to_json }}', 'dest': results}},
    ]
    play = os.path.join(workdir, 'patching.yml')
    with open(play, 'w', encoding='utf-8') as fh:
        json.dump([{'name': 'patching through the providers', 'hosts': 'localhost', 'gather_facts': False,
                    'tasks': tasks}], fh)
    names = (('hw', 'huaweicloud'), ('ali', 'alicloud'))
    conns = dict((key, dict(info[name], ca_path=info['ca_path'])) for key, name in names)
    varfile = os.path.join(workdir, 'patching-vars.json')
    with open(varfile, 'w', encoding='utf-8') as fh:
        json.dump(conns, fh)
    print('\n=== patching through the providers: desktop_image (Huawei Cloud), desktop_command (Alibaba Cloud)',
          flush=True)
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    subprocess.run(['ansible-playbook', play, '-e', '@' + varfile], check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env=env)
    with open(results, encoding='utf-8') as fh:
        out = json.load(fh)
    image, command = out['image'], out['command']
    stages = [(e['name'], e['stage'], e['outcome']) for e in image['desktops']]
    pool_job = [j for j in image['jobs'] if j['scope'] == 'pool'][0]
    print('--- huaweicloud %s: canary %s, then %d more %s; pool image %s -> %s'
          % (hw_pool['name'], ', '.join('%s %s' % (n, o) for n, s, o in stages if s == 'canary'),
             sum(1 for _n, s, _o in stages if s == 'rest'), sorted(set(o for _n, s, o in stages if s == 'rest')),
             pool_job['image_before'][:8], pool_job['image_after'][:8]))
    failed = [e for e in command['desktops'] if e['failed']]
    print('--- alicloud %s: %s; failed (one desktop set up to exit 3): %s; output of %s: %r'
          % (ali_pool['name'], json.dumps(command['summary'], sort_keys=True),
             ', '.join('%s (exit %s)' % (e['name'], e['exit_code']) for e in failed) or 'none',
             command['desktops'][0]['name'], command['desktops'][0]['output']))


def rolling_demo(info: dict, workdir: str) -> None:
    """The rolling mode over the inventory: the connection only in VDI_FLEET_* variables (as an AWX credential gives
    it), the vdi.fleet.desktops inventory planning the waves, the patch tasks on every desktop of a wave in
    parallel; one desktop's patch fails and is quarantined alone."""
    provider = 'huaweicloud'
    pool = sim_get(info, provider, 'state')['pools'][1]['name']
    environ = dict(os.environ, **dict(('VDI_FLEET_%s' % k.upper(), str(v)) for k, v in info[provider].items()))
    environ['VDI_FLEET_CA_PATH'] = info['ca_path']
    inventory = os.path.join(workdir, 'fleet.vdi_fleet.yml')
    with open(inventory, 'w', encoding='utf-8') as fh:
        json.dump({'plugin': 'vdi.fleet.desktops', 'pools': [pool], 'wave_size': '50%', 'set_ansible_host': False,
                   # the simulated desktops cannot be reached: their patch tasks run on the controller
                   'compose': {'ansible_connection': "'local'", 'ansible_python_interpreter': "'%s'" % sys.executable}},
                  fh)
    patch = os.path.join(workdir, 'patch.yml')
    with open(patch, 'w', encoding='utf-8') as fh:
        json.dump([{'name': 'Install the updates on this desktop', 'ansible.builtin.command': 'echo patched',
                    'changed_when': True},
                   {'name': 'One desktop fails its update', 'ansible.builtin.fail': {'msg': 'update 1603'},
                    'when': "vdi_name.endswith('2')"}], fh)
    report = os.path.join(ROOT, 'demo-report-rolling.json')
    extra = {'patch_window_patch_tasks': patch, 'patch_window_countdown': [1], 'patch_window_minute_seconds': 1,
             'patch_window_drain_timeout': 3, 'patch_window_report_path': report,
             'patch_window_fail_on_quarantine': False, 'patch_window_max_failed_percentage': 50}
    print('\n=== %s: rolling patch window over the inventory of pool %s (connection from VDI_FLEET_* only)'
          % (provider, pool), flush=True)
    subprocess.run(['ansible-playbook', '-i', inventory, 'vdi.fleet.patch_window_rolling', '-e', json.dumps(extra)],
                   check=True, cwd=ROOT, env=environ)
    with open(report, encoding='utf-8') as fh:
        rep = json.load(fh)
    print('--- %s rolling: %s; quarantined: %s; report %s'
          % (provider, json.dumps(rep['summary'], sort_keys=True),
             [d['name'] for d in rep['desktops'] if d['status'] == 'quarantined'], report))


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
            rolling_demo(info, workdir)
            patching_demo(info, workdir)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print('\ndemo finished: the simulator is stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
