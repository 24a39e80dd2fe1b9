"""The patch_window role through ansible-playbook: wave limits, failures mid-wave, reruns, check mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml

from conftest import COLLECTIONS, kill_group  # pylint: disable=import-error

ROLE_VARS = {
    'patch_window_wave_size': '5',
    'patch_window_countdown': [2, 1],
    'patch_window_minute_seconds': 0,
    'patch_window_drain_timeout': 2,
    'patch_window_restart_timeout': 120,
}


def write_play(tmp_path, conn, pools, extra=None, patch_tasks=None):
    role_vars = dict(ROLE_VARS, patch_window_connection=conn, patch_window_pools=pools,
                     patch_window_report_path=str(tmp_path / 'report.json'))
    if conn['provider'] == 'alicloud':
        role_vars['patch_window_message_options'] = {'alicloud_delivery': 'run_command'}
    if patch_tasks is not None:
        (tmp_path / 'patch.yml').write_text(yaml.safe_dump(patch_tasks, sort_keys=False))
        role_vars['patch_window_patch_tasks'] = str(tmp_path / 'patch.yml')
    role_vars.update(extra or {})
    play = [{'name': 'window', 'hosts': 'localhost', 'gather_facts': False,
             'roles': [{'role': 'vdi.fleet.patch_window', 'vars': role_vars}]}]
    path = tmp_path / 'window.yml'
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return path


def play_cmd(path, check=False):
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), str(path)]
    return cmd + (['--check'] if check else [])


def env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1',
                ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')


def run(path, check=False):
    return subprocess.run(play_cmd(path, check), capture_output=True, text=True, env=env(), timeout=900, check=False)


def report(tmp_path):
    return json.loads((tmp_path / 'report.json').read_text())


def sim_conn(sim):
    return dict((k, v) for k, v in sim.module_args().items() if v is not None)


class Sampler(threading.Thread):
    """Samples the simulator's state while the role runs: most desktops of one pool in maintenance at once."""

    def __init__(self, sim, pool_ids):
        super().__init__(daemon=True)
        self.sim = sim
        self.pool_ids = pool_ids
        self.peak = dict((p, 0) for p in pool_ids)
        self.samples = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            state = self.sim.state()
            for pid in self.pool_ids:
                now = sum(1 for d in state['desktops'] if d['pool'] == pid and d['maintenance'])
                self.peak[pid] = max(self.peak[pid], now)
            self.samples += 1
            time.sleep(0.05)


def test_clean_window_never_exceeds_the_wave_size(sim, tmp_path):
    state = sim.state()
    pools = state['pools'][:1]
    path = write_play(tmp_path, sim_conn(sim), [p['name'] for p in pools])
    sampler = Sampler(sim, [p['id'] for p in pools])
    sampler.start()
    proc = run(path)
    sampler.stop.set()
    sampler.join()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sampler.samples > 20
    assert all(1 <= peak <= 5 for peak in sampler.peak.values()), sampler.peak
    rep = report(tmp_path)
    members = [d for d in state['desktops'] if d['pool'] in sampler.peak]
    assert rep['summary']['released'] == len(members) == rep['summary']['desktops']
    assert sorted(d['id'] for d in rep['desktops']) == sorted(d['id'] for d in members)  # each desktop exactly once
    assert not any(d['maintenance'] for d in sim.state()['desktops'])
    # idle desktops go first, busy ones last
    waves = dict((d['id'], d['wave']) for d in rep['desktops'])
    for pool in pools:
        in_pool = [d for d in members if d['pool'] == pool['id']]
        idle = [waves[d['id']] for d in in_pool if not d['sessions']]
        busy = [waves[d['id']] for d in in_pool if d['sessions']]
        if idle and busy:
            assert max(idle) <= min(busy)
    assert 'released %d, quarantined 0' % len(members) in proc.stdout


@pytest.mark.parametrize('provider_name', ['huaweicloud'])
def test_failure_mid_wave_quarantines_only_the_failed_and_releases_the_rest(sim, tmp_path):
    state = sim.state()
    pool = state['pools'][0]
    members = [d for d in state['desktops'] if d['pool'] == pool['id']]
    victim = sorted(members, key=lambda d: d['name'])[1]
    patch = [{'name': 'Patch fails on one desktop', 'ansible.builtin.set_fact': {
        'patch_window_patch_failed': "{{ patch_window_patch_failed + (patch_window_wave_desktops | selectattr('name', "
                                     "'equalto', '%s') | map(attribute='id') | list) }}" % victim['name']}}]
    path = write_play(tmp_path, sim_conn(sim), [pool['name']], patch_tasks=patch,
                      extra={'patch_window_max_failed_percentage': 100, 'patch_window_wave_size': '50%'})
    proc = run(path)
    assert proc.returncode != 0  # fail_on_quarantine
    rep = report(tmp_path)
    by_id = dict((d['id'], d) for d in rep['desktops'])
    assert by_id[victim['id']]['status'] == 'quarantined'
    assert by_id[victim['id']]['steps']['patch']['outcome'] == 'failed'
    in_maintenance = [d['id'] for d in sim.state()['desktops'] if d['maintenance']]
    assert in_maintenance == [victim['id']]
    assert all(d['status'] in ('released', 'not_reached') for i, d in by_id.items() if i != victim['id'])


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_failing_patch_tasks_release_nothing_of_that_wave_and_stop_the_window(sim, tmp_path):
    state = sim.state()
    pool = state['pools'][0]
    patch = [{'name': 'Patch system is down', 'ansible.builtin.fail': {'msg': 'patch server unreachable'}}]
    path = write_play(tmp_path, sim_conn(sim), [pool['name']], patch_tasks=patch,
                      extra={'patch_window_max_failed_percentage': 20})
    proc = run(path)
    assert proc.returncode != 0
    rep = report(tmp_path)
    assert rep['summary']['stopped_early'] in (True, 'True')
    quarantined = [d for d in rep['desktops'] if d['status'] == 'quarantined']
    assert len(quarantined) == 5 and all('patch server unreachable' in d['steps']['patch']['msg'] for d in quarantined)
    assert sorted(d['id'] for d in sim.state()['desktops'] if d['maintenance']) == sorted(d['id'] for d in quarantined)
    assert all(d['status'] == 'not_reached' for d in rep['desktops'] if d['status'] != 'quarantined')


@pytest.mark.parametrize('provider_name', ['alicloud'])
def test_interrupted_window_is_picked_up_by_a_rerun(sim, tmp_path):
    state = sim.state()
    pool = state['pools'][0]
    members = [d for d in state['desktops'] if d['pool'] == pool['id']]
    path = write_play(tmp_path, sim_conn(sim), [pool['name']], extra={'patch_window_wave_size': '2'})
    proc = subprocess.Popen(play_cmd(path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env(),
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(d['maintenance'] for d in sim.state()['desktops']):
        time.sleep(0.05)
    kill_group(proc)  # the controller dies mid-wave
    left = [d['id'] for d in sim.state()['desktops'] if d['maintenance']]
    assert left, 'the run was not interrupted inside a wave'
    rerun = run(path)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    rep = report(tmp_path)
    by_id = dict((d['id'], d) for d in rep['desktops'])
    assert sorted(by_id) == sorted(d['id'] for d in members)
    assert all(by_id[i]['wave'] == 1 for i in left)  # what the interrupted run left in maintenance goes first
    assert not any(d['maintenance'] for d in sim.state()['desktops'])


def test_check_mode_is_a_plan_with_zero_writes(sim, tmp_path):
    pool = sim.state()['pools'][0]
    path = write_play(tmp_path, sim_conn(sim), [pool['name']])
    sim.clear_stats()
    proc = run(path, check=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sim.stats()['writes'] == 0
    rep = report(tmp_path)
    assert rep['summary']['check_mode'] in (True, 'True')
    assert all('would enter maintenance' in d['steps']['maintenance']['msg'] for d in rep['desktops'])
    assert not any(d['maintenance'] for d in sim.state()['desktops'])


def run_one_wave_with_a_lost_answer(sim, tmp_path, pool, op, phase):
    """The whole pool in one wave, the first ``op`` call answering 500 (before or after it was applied); the
    report by desktop id."""
    sim.faults([{'kind': '5xx', 'rate': 1.0, 'ops': [op], 'count': 1, 'phase': phase}])
    sim.clear_stats()
    path = write_play(tmp_path, sim_conn(sim), [pool['name']],
                      extra={'patch_window_max_failed_percentage': 100, 'patch_window_wave_size': '100%'})
    proc = run(path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return dict((d['id'], d) for d in report(tmp_path)['desktops'])


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_restart_whose_answer_was_lost_is_asked_once_more_and_the_wave_is_released(sim, tmp_path):
    state = sim.state()
    pool = state['pools'][0]
    members = [d for d in state['desktops'] if d['pool'] == pool['id'] and d['power'] == 'on']
    # the first restart call is applied but its answer is a 500: the module reports "could not restart"
    by_id = run_one_wave_with_a_lost_answer(sim, tmp_path, pool, 'restart_machines', 'after')
    restarted = [by_id[d['id']] for d in members if d['id'] in by_id]
    assert restarted and all(d['status'] == 'released' for d in restarted)
    assert all(d['steps']['restart']['outcome'] == 'changed' for d in restarted)
    assert not any(d['maintenance'] for d in sim.state()['desktops'])
    assert sim.stats()['by_op']['restart_machines'] == 2  # the lost one and the one more ask, nothing else


@pytest.mark.parametrize('provider_name', ['huaweicloud'])
@pytest.mark.parametrize('phase, calls', [('before', 2), ('after', 1)])
def test_logoff_whose_answer_was_lost_is_asked_once_more_and_the_busy_desktops_are_patched(sim, tmp_path, phase,
                                                                                           calls):
    state = sim.state()
    pool = state['pools'][0]
    busy = [d for d in state['desktops'] if d['pool'] == pool['id'] and d['sessions']]
    assert busy
    # the first logoff call answers 500, before or after it was applied: the module reports "could not log off";
    # the one more ask re-lists the sessions, so it sends a call only when the first one was not applied
    by_id = run_one_wave_with_a_lost_answer(sim, tmp_path, pool, 'batch_logoff_desktops', phase)
    assert all(by_id[d['id']]['status'] == 'released' for d in busy)
    assert all(by_id[d['id']]['steps']['logoff']['outcome'] != 'failed' for d in busy)
    assert all(by_id[d['id']]['steps']['restart']['outcome'] == 'changed' for d in busy if d['power'] == 'on')
    assert sim.stats()['by_op']['batch_logoff_desktops'] == calls
    assert not any(d['maintenance'] or d['sessions'] for d in sim.state()['desktops'] if d['pool'] == pool['id'])
