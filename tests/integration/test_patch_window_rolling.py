"""The rolling mode over the vdi.fleet.desktops inventory (one wave per batch), and AWX-style job slices merged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from test_patch_window import env  # pylint: disable=import-error

BIN = os.path.dirname(sys.executable)


def connection_env(sim):
    """The connection as an AWX credential gives it: VDI_FLEET_* variables only."""
    variables = dict(('VDI_FLEET_%s' % k.upper(), str(v)) for k, v in sim.module_args().items() if v is not None)
    return dict(env(), **variables)


def inventory(tmp_path, pools, wave_size='50%', name='fleet.vdi_fleet.yml'):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({
        'plugin': 'vdi.fleet.desktops', 'pools': pools, 'wave_size': wave_size, 'set_ansible_host': False,
        # the desktops of the simulator are not reachable: the patch tasks below run on the controller
        'compose': {'ansible_connection': "'local'", 'ansible_python_interpreter': "'%s'" % sys.executable},
    }, sort_keys=False))
    return path


PATCH = [
    {'name': 'Patch this desktop', 'ansible.builtin.command': {'cmd': 'true'}, 'changed_when': True},
    {'name': 'The patch fails on one desktop', 'ansible.builtin.fail': {'msg': 'update failed on {{ vdi_name }}'},
     'when': 'vdi_name in (patch_window_test_victims | default([]))'},
]


def extra_vars(tmp_path, report, **more):
    (tmp_path / 'patch.yml').write_text(yaml.safe_dump(PATCH, sort_keys=False))
    data = {'patch_window_patch_tasks': str(tmp_path / 'patch.yml'), 'patch_window_countdown': [],
            'patch_window_drain_timeout': 0, 'patch_window_restart_timeout': 120,
            'patch_window_report_path': str(report), 'patch_window_fail_on_quarantine': False,
            'patch_window_max_failed_percentage': 100}
    data.update(more)
    path = tmp_path / ('vars-%s.json' % os.path.basename(str(report)))
    path.write_text(json.dumps(data))
    return path


def rolling(inv, varfile, environ, forks=5):
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', str(inv), 'vdi.fleet.patch_window_rolling', '-e',
           '@%s' % varfile, '--forks', str(forks)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ)


def finish(proc):
    out, _err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    return out


@pytest.mark.parametrize('provider_name', ['huaweicloud', 'horizon'])
def test_rolling_quarantines_the_failed_desktop_alone_and_batches_every_call(sim, tmp_path):
    state = sim.state()
    pool = state['pools'][0]
    members = [d for d in state['desktops'] if d['pool'] == pool['id']]
    for d in members:
        sim.patch(d['id'], power='on')  # every desktop is patched (Horizon cannot power one on)
    inv = inventory(tmp_path, [pool['name']])
    # the victim is in the first wave: its quarantine uses up one place of the pool's allowance, so the second
    # batch passes over one desktop, and the catch-up play after the waves takes it
    victim = sorted((d for d in members if planned_wave(inv, sim, d) == 1), key=lambda d: d['name'])[0]
    report = tmp_path / 'report.json'
    sim.clear_stats()
    out = finish(rolling(inv, extra_vars(
        tmp_path, report, patch_window_test_victims=[victim['name']]), connection_env(sim)))
    rep = json.loads(report.read_text())
    statuses = dict((d['id'], d['status']) for d in rep['desktops'])
    assert sorted(statuses) == sorted(d['id'] for d in members)  # the report covers every desktop once
    assert statuses[victim['id']] == 'quarantined'
    assert all(s == 'released' for i, s in statuses.items() if i != victim['id']), Counter(statuses.values())
    by_id = dict((d['id'], d) for d in rep['desktops'])
    assert by_id[victim['id']]['steps']['patch']['outcome'] == 'failed'
    assert 'restart' not in by_id[victim['id']]['steps']
    assert not any('deferred' in d['steps'] for d in rep['desktops'])  # the passed-over desktop was taken later
    waves = rep['summary']['waves']
    first, second = len(members) // 2 + len(members) % 2, len(members) // 2
    # the catch-up wave takes the one desktop the second batch had no room for
    assert waves == 3 and Counter(d['wave'] for d in rep['desktops']) == Counter({1: first, 2: second - 1, 3: 1})
    assert 'Patch the desktops the waves passed over' in out
    stats = sim.stats()
    by_op = stats['by_op']
    if sim.provider == 'huaweicloud':
        # enter and exit maintenance once per wave, one restart call per wave: never one call per desktop
        assert by_op['set_maintenance_mode'] == 2 * waves and by_op['batch_run_desktops'] == waves
    else:
        assert by_op['enter_maintenance'] == waves and by_op['exit_maintenance'] == waves
        # one login per phase (the inventory, the plan, the begin and end of each wave, the report), and one more only
        # where a token expired on the simulator's fast clock (answered 401)
        assert by_op['restart_machines'] == waves
        assert 2 * waves + 3 <= by_op['login'] <= 2 * waves + 3 + stats['by_status'].get('401', 0)
    now = dict((d['id'], d) for d in sim.state()['desktops'])
    assert now[victim['id']]['maintenance']
    assert not any(now[d['id']]['maintenance'] for d in members if d['id'] != victim['id'])
    assert 'PLAY RECAP' in out


def listing(inv, environ):
    return json.loads(subprocess.run([os.path.join(BIN, 'ansible-inventory'), '-i', str(inv), '--list'],
                                     capture_output=True, text=True, env=environ, check=True).stdout)


def planned_wave(inv, sim, desktop):
    hostvars = listing(inv, connection_env(sim))['_meta']['hostvars']
    return next(plain(v)['vdi_wave'] for v in hostvars.values() if plain(v)['vdi_id'] == desktop['id'])


def plain(value):
    """A value of ``ansible-inventory --list`` without its ``__ansible_unsafe`` wrappers (as AWX stores it)."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def awx_slices(inv, tmp_path, count, environ):
    """The inventory of each AWX job slice: every count-th host (in inventory order), its groups cut to those hosts."""
    found = listing(inv, environ)
    hostvars = plain(found['_meta']['hostvars'])
    hosts = sorted(hostvars)
    paths = []
    for k in range(count):
        mine = set(hosts[k::count])
        groups = {}
        for name, group in found.items():
            if name in ('_meta', 'all') or not isinstance(group, dict):
                continue
            members = [h for h in group.get('hosts', []) if h in mine]
            if members:
                groups[name] = {'hosts': dict((h, dict(hostvars[h])) for h in members)}
        path = tmp_path / ('slice-%d.yml' % (k + 1))
        path.write_text(yaml.safe_dump({'all': {'children': groups}}, sort_keys=False))
        paths.append(path)
    return paths


@pytest.mark.parametrize('provider_name', ['huaweicloud'])
def test_job_slices_run_side_by_side_and_merge_into_one_report(sim, tmp_path):
    state = sim.state()
    pools = state['pools'][:2]
    members = [d for d in state['desktops'] if d['pool'] in set(p['id'] for p in pools)]
    environ = connection_env(sim)
    slices = awx_slices(inventory(tmp_path, [p['name'] for p in pools]), tmp_path, 2, environ)
    reports, procs = [], []
    for n, inv in enumerate(slices):
        # each slice runs on its own execution node: its own report, journal and locks
        node = tmp_path / ('node-%d' % (n + 1))
        node.mkdir()
        reports.append(node / 'report.json')
        procs.append(rolling(inv, extra_vars(node, reports[-1]), environ))
    for proc in procs:
        finish(proc)
    merged = tmp_path / 'window.json'
    merge = subprocess.run([os.path.join(BIN, 'ansible-playbook'), 'vdi.fleet.patch_window_merge', '-e', json.dumps({
        'patch_window_slice_reports': [str(r) for r in reports], 'patch_window_report_path': str(merged)})],
        capture_output=True, text=True, env=environ, check=False)
    assert merge.returncode == 0, merge.stdout[-3000:]
    rep = json.loads(merged.read_text())
    ids = [d['id'] for d in rep['desktops']]
    assert sorted(ids) == sorted(d['id'] for d in members) and len(ids) == len(set(ids))
    parts = [json.loads(r.read_text()) for r in reports]
    assert all(p['desktops'] for p in parts)  # both slices did work
    summary = rep['summary']
    assert summary['slices'] == 2 and summary['desktops'] == len(members)
    assert sum(summary[s] for s in ('released', 'quarantined', 'skipped', 'failed', 'not_reached')) == len(members)
    assert summary['released'] == sum(p['summary']['released'] for p in parts)
    assert not any(d['maintenance'] for d in sim.state()['desktops'])
    again = subprocess.run([os.path.join(BIN, 'ansible-playbook'), 'vdi.fleet.patch_window_merge', '-e', json.dumps({
        'patch_window_slice_reports': [str(reports[0]), str(reports[0])], 'patch_window_report_path': str(merged)})],
        capture_output=True, text=True, env=environ, check=False)
    assert again.returncode != 0 and 'more than one slice' in again.stdout
