"""The patch-window engine as users hit it: bad input refused before any write, warnings that fail, powered-off
desktops, disconnected sessions, balanced waves, quarantine carried forward, locks and resumes, the report file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections import Counter

import pytest
import yaml

from conftest import kill_group  # pylint: disable=import-error
from test_patch_window import env, play_cmd, report, run, sim_conn, write_play  # pylint: disable=import-error


def pool_of(sim, index=0):
    state = sim.state()
    pool = state['pools'][index]
    return pool, [d for d in state['desktops'] if d['pool'] == pool['id']]


def writes(sim):
    return sim.stats()['writes']


# ---------------------------------------------------------------------------------------------- bad input


BAD_INPUT = [
    (lambda pool: {'patch_window_pools': [pool['name'], 'no-such-pool']}, 'not found by id or name'),
    (lambda pool: {'patch_window_pools': [pool['name'], pool['name']]}, 'are the same pool'),
    (lambda pool: {'patch_window_pools': [pool['name'], pool['id']]}, 'are the same pool'),
    (lambda pool: {'patch_window_countdown': [-5, 1]}, 'countdown minutes must be positive'),
    (lambda pool: {'patch_window_countdown': [1, 5]}, 'from the earliest warning to the last'),
    (lambda pool: {'patch_window_drain_timeout': -5}, 'drain_timeout must be 0 or more'),
    (lambda pool: {'patch_window_max_failed_percentage': -1}, 'between 0 and 100'),
    (lambda pool: {'patch_window_wave_size': '0%'}, 'wave_size must be a positive'),
    (lambda pool: {'patch_window_report_path': '/nonexistent-dir/report.json'}, 'does not exist'),
]


@pytest.mark.parametrize('provider_name', ['horizon'])
@pytest.mark.parametrize('extra, words', BAD_INPUT)
def test_bad_input_is_refused_before_any_write(sim, tmp_path, extra, words):
    pool, _members = pool_of(sim)
    sim.clear_stats()
    pools = extra(pool).pop('patch_window_pools', [pool['name']])
    rest = dict((k, v) for k, v in extra(pool).items() if k != 'patch_window_pools')
    proc = run(write_play(tmp_path, sim_conn(sim), pools, extra=rest))
    assert proc.returncode != 0 and words in proc.stdout, proc.stdout[-2000:]
    assert writes(sim) == 0
    assert not any(d['maintenance'] for d in sim.state()['desktops'])


@pytest.mark.parametrize('provider_name', ['alicloud'])
def test_alicloud_countdown_without_a_delivery_is_refused_before_any_write(sim, tmp_path):
    pool, _members = pool_of(sim)
    sim.clear_stats()
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra={'patch_window_message_options': {}}))
    assert proc.returncode != 0 and 'alicloud_delivery' in proc.stdout
    assert writes(sim) == 0


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_too_long_countdown_message_is_refused_before_any_write(sim, tmp_path):
    pool, _members = pool_of(sim)
    sim.clear_stats()
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra={'patch_window_message': 'x' * 5000}))
    assert proc.returncode != 0 and 'Shorten message' in proc.stdout
    assert writes(sim) == 0


# ---------------------------------------------------------------------------------------------- warnings


@pytest.mark.parametrize('provider_name', ['alicloud'])
def test_a_busy_desktop_whose_user_was_never_warned_is_left_out_and_the_report_says_so(sim, tmp_path):
    pool, members = pool_of(sim)
    connected = [d for d in members if any(s['state'] == 'connected' for s in d['sessions']) and d['power'] == 'on']
    assert connected
    victim = connected[0]
    # every countdown message to that desktop fails (its RunCommand invocation is refused per id)
    sim.faults([{'kind': 'perid', 'ids': [victim['id']], 'ops': ['RunCommand']}])
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra={
        'patch_window_wave_size': '100%', 'patch_window_fail_on_quarantine': False}))
    sim.faults([])
    assert proc.returncode == 0, proc.stdout[-3000:]
    rep = report(tmp_path)
    by_id = dict((d['id'], d) for d in rep['desktops'])
    rec = by_id[victim['id']]
    assert rec['status'] == 'skipped' and 'none of the countdown messages reached them' in rec['steps']['logoff']['msg']
    assert rec['warnings']['sent'] == [] and rec['warnings']['failed'] == [2, 1]
    assert 'restart' not in rec['steps']  # nobody took the desktop away from its user
    after = dict((d['id'], d) for d in sim.state()['desktops'])[victim['id']]
    assert not after['maintenance'] and after['sessions']
    assert rep['summary']['warnings']['failed'] == 2 and rep['summary']['warnings']['delivered'] > 0
    warned = [by_id[d['id']] for d in connected[1:]]
    assert warned and all(r['warnings']['sent'] == [2, 1] and r['status'] == 'released' for r in warned)


@pytest.mark.parametrize('provider_name', ['alicloud'])
def test_unwarned_policy_proceed_takes_the_desktop_anyway(sim, tmp_path):
    pool, members = pool_of(sim)
    victim = [d for d in members if any(s['state'] == 'connected' for s in d['sessions']) and d['power'] == 'on'][0]
    sim.faults([{'kind': 'perid', 'ids': [victim['id']], 'ops': ['RunCommand']}])
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra={
        'patch_window_wave_size': '100%', 'patch_window_unwarned_policy': 'proceed'}))
    sim.faults([])
    assert proc.returncode == 0, proc.stdout[-3000:]
    rec = dict((d['id'], d) for d in report(tmp_path)['desktops'])[victim['id']]
    assert rec['status'] == 'released' and rec['steps']['restart']['outcome'] == 'changed'


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_disconnected_sessions_get_no_message_and_do_not_hold_the_drain(sim, tmp_path):
    pool, members = pool_of(sim)
    for d in members:
        sim.patch(d['id'], sessions=[{'user': 'user%s' % d['name'][-2:], 'state': 'disconnected'}], power='on')
    sim.clear_stats()
    started = time.monotonic()
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra={
        'patch_window_wave_size': '100%', 'patch_window_drain_timeout': 600}))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert time.monotonic() - started < 120  # the 600 s drain was not waited for
    by_op = sim.stats()['by_op']
    assert 'send_message' not in by_op
    assert not sim.state()['messages']
    rep = report(tmp_path)
    assert all(d['status'] == 'released' and d['steps']['logoff']['outcome'] == 'changed' for d in rep['desktops'])


# ---------------------------------------------------------------------------------------------- power states


@pytest.mark.parametrize('provider_name', ['huaweicloud', 'alicloud'])
def test_powered_off_desktops_are_started_patched_and_put_back_off(sim, tmp_path):
    pool, members = pool_of(sim)
    off = [d for d in members if d['power'] == 'off'] or [members[0]]
    for d in off:
        sim.patch(d['id'], power='off', sessions=[])
    extra = {'patch_window_wave_size': '100%'}
    if sim.provider == 'alicloud':
        extra['patch_window_message_options'] = {'alicloud_delivery': 'run_command'}
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra=extra))
    assert proc.returncode == 0, proc.stdout[-3000:]
    by_id = dict((d['id'], d) for d in report(tmp_path)['desktops'])
    now = dict((d['id'], d) for d in sim.state()['desktops'])
    for d in off:
        rec = by_id[d['id']]
        assert rec['status'] == 'released' and rec['power_before'] == 'powered_off'
        assert rec['steps']['power_on']['outcome'] == 'changed' and rec['steps']['restart']['outcome'] == 'changed'
        assert rec['steps']['power']['outcome'] == 'changed' and rec['final']['power_state'] == 'powered_off'
        assert now[d['id']]['power'] == 'off' and not now[d['id']]['maintenance']


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_horizon_powered_off_desktops_are_skipped_and_say_why(sim, tmp_path):
    pool, members = pool_of(sim)
    victim = members[0]
    sim.patch(victim['id'], power='off', sessions=[])
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra={'patch_window_wave_size': '100%'}))
    assert proc.returncode == 0, proc.stdout[-3000:]
    rec = dict((d['id'], d) for d in report(tmp_path)['desktops'])[victim['id']]
    assert rec['status'] == 'skipped' and 'cannot power desktops on' in rec['steps']['power_on']['msg']
    assert 'patch' not in rec['steps'] and not dict((d['id'], d) for d in sim.state()['desktops'])[victim['id']][
        'maintenance']


# ---------------------------------------------------------------------------------------------- waves


@pytest.mark.parametrize('provider_name', ['huaweicloud'])
def test_waves_are_balanced_and_a_quarantined_desktop_defers_without_leaving_anyone_behind(sim, tmp_path):
    pool, members = pool_of(sim)
    assert len(members) >= 8
    first = sorted(members, key=lambda d: (d['maintenance'] is False, bool(d['sessions']), d['name']))[0]
    patch = [{'name': 'Patch fails on one desktop', 'ansible.builtin.set_fact': {
        'patch_window_patch_failed': "{{ patch_window_patch_failed + (patch_window_wave_desktops | selectattr('id', "
                                     "'equalto', '%s') | map(attribute='id') | list) }}" % first['id']}}]
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], patch_tasks=patch, extra={
        'patch_window_wave_size': '3', 'patch_window_max_failed_percentage': 100,
        'patch_window_fail_on_quarantine': False}))
    assert proc.returncode == 0, proc.stdout[-3000:]
    rep = report(tmp_path)
    statuses = Counter(d['status'] for d in rep['desktops'])
    assert statuses == Counter({'released': len(members) - 1, 'quarantined': 1}), statuses
    by_wave = Counter(d['wave'] for d in rep['desktops'])
    # after the quarantine the pool has room for 2 at once: waves take 2 and the rest is carried, none left behind
    assert max(by_wave.values()) <= 3 and by_wave[1] == 3


# ---------------------------------------------------------------------------------------------- locks, resume


def start(path):
    return subprocess.Popen(play_cmd(path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env(),
                            start_new_session=True)


@pytest.mark.parametrize('provider_name', ['huaweicloud'])
def test_a_second_window_on_the_same_pool_is_refused_while_the_first_runs(sim, tmp_path):
    pool, members = pool_of(sim)
    for d in members:
        if d['power'] != 'on':
            sim.patch(d['id'], power='on')  # one restart call per window, no power-on or power restore
    first_dir, second_dir = tmp_path / 'a', tmp_path / 'b'
    first_dir.mkdir()
    second_dir.mkdir()
    locks = str(tmp_path / 'locks')
    os.mkdir(locks)
    slow = {'patch_window_countdown': [1], 'patch_window_minute_seconds': 20, 'patch_window_lock_dir': locks,
            'patch_window_wave_size': '100%'}
    first = start(write_play(first_dir, sim_conn(sim), [pool['name']], extra=slow))
    deadline = time.monotonic() + 60
    while not os.listdir(locks) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert os.listdir(locks), 'the first window took no lock'
    before = writes(sim)
    second = run(write_play(second_dir, sim_conn(sim), [pool['id']], extra=dict(slow, patch_window_minute_seconds=0)))
    assert second.returncode != 0 and 'is in a patch window already' in second.stdout, second.stdout[-2000:]
    out, _err = first.communicate(timeout=600)
    assert first.returncode == 0, out[-3000:]
    restarts = Counter(e['op'] for e in sim.stats(log=True)['log'] if e['op'] == 'batch_run_desktops')
    assert restarts['batch_run_desktops'] == 1  # the pool was restarted by one window only
    assert writes(sim) >= before and not os.listdir(locks)  # the first window released its lock
    got = Counter((m['desktop_id'], m['text']) for m in sim.state()['messages'])
    assert not got or max(got.values()) == 1  # nobody got the same message twice


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_a_killed_window_is_resumed_without_sending_a_countdown_twice(sim, tmp_path):
    pool, members = pool_of(sim)
    busy = [d for d in members if any(s['state'] == 'connected' for s in d['sessions'])]
    assert busy
    extra = {'patch_window_countdown': [2, 1], 'patch_window_minute_seconds': 30, 'patch_window_wave_size': '100%'}
    path = write_play(tmp_path, sim_conn(sim), [pool['name']], extra=extra)
    proc = start(path)
    deadline = time.monotonic() + 90
    while not sim.state()['messages'] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sim.state()['messages'], 'no countdown message was sent'
    time.sleep(1)
    kill_group(proc)  # the controller dies mid-countdown, its desktops in maintenance, its lock and journal left
    assert any(d['maintenance'] for d in sim.state()['desktops'] if d['pool'] == pool['id'])
    first_marks = Counter(m['text'] for m in sim.state()['messages'])
    again = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra=dict(extra, patch_window_minute_seconds=0)))
    assert again.returncode == 0, again.stdout[-3000:]
    per_session = Counter((m['session_id'], m['text']) for m in sim.state()['messages'])
    assert max(per_session.values()) == 1, per_session  # no session got the same warning twice
    assert len(Counter(m['text'] for m in sim.state()['messages'])) >= len(first_marks)
    rep = report(tmp_path)
    assert rep['summary']['released'] + rep['summary']['skipped'] == len(members)
    assert not any(d['maintenance'] for d in sim.state()['desktops'])


# ---------------------------------------------------------------------------------------------- report and connection


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_report_lands_in_the_working_directory_private_and_the_play_connection_is_kept(sim, tmp_path):
    pool, members = pool_of(sim)
    role_vars = {'patch_window_pools': [pool['name']], 'patch_window_countdown': [], 'patch_window_drain_timeout': 0,
                 'patch_window_wave_size': '100%', 'patch_window_restart_timeout': 120}
    play = [{'name': 'window', 'hosts': 'localhost', 'gather_facts': False,
             'module_defaults': {'group/vdi.fleet.provider': sim_conn(sim)},
             'roles': [{'role': 'vdi.fleet.patch_window', 'vars': role_vars}]}]
    elsewhere = tmp_path / 'playbooks'
    elsewhere.mkdir()
    (elsewhere / 'play.yml').write_text(yaml.safe_dump(play, sort_keys=False))
    workdir = tmp_path / 'work'
    workdir.mkdir()
    proc = subprocess.run(play_cmd(elsewhere / 'play.yml'), capture_output=True, text=True, env=env(),
                          cwd=str(workdir), timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    path = workdir / 'patch_window_report.json'
    assert path.exists() and not (elsewhere / 'patch_window_report.json').exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(path) + '.journal').st_mode) == 0o600
    rep = json.loads(path.read_text())
    assert rep['summary']['released'] == len(members)
    assert sim.conn['password'] not in path.read_text() + (workdir / 'patch_window_report.json.journal').read_text()


# ---------------------------------------------------------------------------------------------- patch methods


@pytest.mark.parametrize('provider_name', ['huaweicloud', 'alicloud'])
def test_image_method_rolls_every_wave_onto_the_image_and_check_mode_only_plans(sim, tmp_path):
    from test_patching_modules import NEW_IMAGE, image_of  # pylint: disable=import-error
    pool, members = pool_of(sim)
    for d in members:
        sim.patch(d['id'], power='on')
    extra = {'patch_window_patch_method': 'image', 'patch_window_image': NEW_IMAGE[sim.provider],
             'patch_window_wave_size': '50%', 'patch_window_image_options': {'logoff_policy': 'force'}}
    if sim.provider == 'alicloud':
        extra['patch_window_message_options'] = {'alicloud_delivery': 'run_command'}
    sim.clear_stats()
    plan = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra=extra), check=True)
    assert plan.returncode == 0, plan.stdout[-3000:]
    assert writes(sim) == 0 and report(tmp_path)['summary']['check_mode'] is True
    assert all('would' in d['steps']['patch']['msg'] for d in report(tmp_path)['desktops'])
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra=extra))
    assert proc.returncode == 0, proc.stdout[-3000:]
    rep = report(tmp_path)
    assert rep['summary']['released'] == len(members) and rep['summary']['waves'] == 2
    assert all(d['steps']['patch']['outcome'] == 'changed' and 'restart' not in d['steps'] for d in rep['desktops'])
    state = sim.state()
    assert set(image_of(state, d['id']) for d in members) == {NEW_IMAGE[sim.provider]}
    assert not any(d['maintenance'] for d in state['desktops'])


@pytest.mark.parametrize('provider_name', ['alicloud', 'huaweicloud'])
def test_command_method_quarantines_the_desktop_whose_command_fails_alone(sim, tmp_path):
    pool, members = pool_of(sim)
    for d in members:
        sim.patch(d['id'], power='on', sessions=[])
    failing = sorted(members, key=lambda d: d['name'])[1]
    sim.patch(failing['id'], extra={'guest_exit': 3, 'guest_output': 'installer: 1603'})
    extra = {'patch_window_patch_method': 'command', 'patch_window_command': 'Write-Output patched',
             'patch_window_wave_size': '100%', 'patch_window_fail_on_quarantine': False,
             'patch_window_max_failed_percentage': 100}
    if sim.provider == 'alicloud':
        extra['patch_window_message_options'] = {'alicloud_delivery': 'run_command'}
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra=extra))
    assert proc.returncode == 0, proc.stdout[-3000:]
    by_id = dict((d['id'], d) for d in report(tmp_path)['desktops'])
    assert by_id[failing['id']]['status'] == 'quarantined'
    assert by_id[failing['id']]['steps']['patch']['exit_code'] == 3
    others = [by_id[d['id']] for d in members if d['id'] != failing['id']]
    assert all(r['status'] == 'released' and r['steps']['patch']['exit_code'] == 0 for r in others)
    assert all(r['steps']['restart']['outcome'] == 'changed' for r in others)


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_command_method_on_horizon_is_refused_before_any_request(sim, tmp_path):
    pool, _members = pool_of(sim)
    sim.clear_stats()
    proc = run(write_play(tmp_path, sim_conn(sim), [pool['name']], extra={
        'patch_window_patch_method': 'command', 'patch_window_command': 'Write-Output x'}))
    assert proc.returncode != 0 and 'inventory' in proc.stdout
    assert writes(sim) == 0
