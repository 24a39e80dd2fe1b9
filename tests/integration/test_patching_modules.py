"""desktop_image and desktop_command through ansible-playbook against the simulator, on every provider where they
apply.

Plays hold several tasks (ansible-playbook start-up dominates the run time). Where a play mixes a check-mode task,
a real run and a second run, the simulator's *total* write count proves what each did: it equals the writes of the
real run alone, so the check-mode run and the second run wrote nothing.
"""

from __future__ import annotations

import pytest

import guest  # the simulator's reading of a script (tests/simulator is on sys.path)

IMAGE = 'vdi.fleet.desktop_image'
COMMAND = 'vdi.fleet.desktop_command'
CHECK = {'check_mode': True}

NEW_IMAGE = {'horizon': 'vm-1001/snapshot-2026-11', 'huaweicloud': '8f2c6b1a-4e5d-4c3b-9a2f-1d0e7c6b5a41',
             'alicloud': 'm-sim0000000000043'}
BASE_IMAGE = {'horizon': 'vm-1001/snapshot-2026-10', 'huaweicloud': '3a9d0f1e-7d1c-4b5e-9a0f-5c8e2b7d4a10',
              'alicloud': 'm-sim0000000000042'}
#: the operation whose per-id fault fails a canary desktop's rollout
CANARY_OP = {'horizon': 'schedule_push_image', 'huaweicloud': 'batch_rebuild_desktops_system_disk',
             'alicloud': 'RebuildDesktops'}
#: every character class a shell or an encoding layer could reinterpret (Jinja markers aside: Ansible templates
#: module arguments, so a playbook marks such text !unsafe)
HOSTILE = ('Write-Output \'It\'\'s "quoted" & piped | 100% ^caret <in> >out `tick` $(Get-Date) $env:USERNAME\'\n'
           "echo '; Remove-Item -Recurse C:\\ ; ' & shutdown /s /t 0 && echo %PATH% !x! ^& || > nul 2>&1\r\n"
           'Write-Output Grüße 你好 ✓\n'
           'exit 0')


def image_of(state, desktop_id):
    d = next(x for x in state['desktops'] if x['id'] == desktop_id)
    extra = d['extra']
    return '/'.join(extra['image'][1:]) if 'image' in extra else extra['image_id']


def running_pool(sim, index=0):
    """Pool ``index`` with every member running (a rebuild or a command needs a running desktop), stats zeroed."""
    state = sim.state()
    pool = state['pools'][index]
    members = [d for d in state['desktops'] if d['pool'] == pool['id']]
    for d in members:
        if d['power'] != 'on':
            sim.patch(d['id'], power='on', sessions=[])
    sim.clear_stats()
    return pool, members


def image_args(provider, **extra):
    args = {'image': NEW_IMAGE[provider], 'logoff_policy': 'force', 'wait_timeout': 600}
    args.update(extra)
    return args


@pytest.mark.parametrize('provider_name', ['horizon', 'huaweicloud', 'alicloud'])
def test_image_canary_then_rest_check_mode_and_rerun(sim, run_play, provider_name):
    pool, members = running_pool(sim)
    task = image_args(provider_name, pool=pool['name'], canary=2)
    res = run_play(sim.module_args(), [(IMAGE, task, CHECK), (IMAGE, task), (IMAGE, task)], diff=True)
    check, real, again = res['r0'], res['r1'], res['r2']
    assert not check.get('failed') and not real.get('failed') and not again.get('failed'), real.get('msg')
    assert check['changed'] and all('check mode' in e['msg'] for e in check['desktops'])
    assert [e['stage'] for e in check['desktops']] == ['canary', 'canary'] + ['rest'] * (len(members) - 2)
    assert real['changed'] and real['summary'] == {'total': len(members), 'changed': len(members), 'unchanged': 0,
                                                   'failed': 0}
    assert all(e['outcome'] == 'done' and e['after'] == {'image': NEW_IMAGE[provider_name]} for e in real['desktops'])
    assert [e['stage'] for e in real['desktops']][:3] == ['canary', 'canary', 'rest']
    assert set(real['diff']['after'].values()) == {NEW_IMAGE[provider_name]}
    pool_job = [j for j in real['jobs'] if j['scope'] == 'pool']
    assert pool_job and pool_job[-1]['image_after'] == NEW_IMAGE[provider_name]
    assert again['changed'] is False and again['summary']['unchanged'] == len(members) and again['jobs'] == []
    state = sim.state()
    assert set(image_of(state, d['id']) for d in members) == {NEW_IMAGE[provider_name]}
    assert state['pool_images'][pool['id']] in (NEW_IMAGE[provider_name], {'current': NEW_IMAGE[provider_name],
                                                                           'pending': None, 'pending_state': None,
                                                                           'operation': 'NONE'})
    stats = sim.stats()
    real_writes = {'horizon': 2, 'huaweicloud': 2, 'alicloud': 3}[provider_name]  # canary, rest (+ group image)
    assert stats['writes'] == real_writes, stats['by_op']


@pytest.mark.parametrize('provider_name', ['horizon', 'huaweicloud', 'alicloud'])
def test_failed_canary_leaves_the_pool_and_the_rest(sim, run_play, provider_name):
    pool, members = running_pool(sim, 1)
    good, bad = members[0], members[1]  # Horizon stops a push on its first error: the good one goes first
    sim.faults([{'kind': 'perid', 'ops': [CANARY_OP[provider_name]], 'ids': [bad['id']]}])
    task = image_args(provider_name, pool=pool['name'], canary=[good['name'], bad['name']])
    r = run_play(sim.module_args(), [(IMAGE, task)])['r0']
    sim.faults([])
    assert r['failed'] and '1 of %d desktops failed' % len(members) in r['msg']
    by = dict((e['id'], e) for e in r['desktops'])
    assert by[bad['id']]['outcome'] == 'refused' and by[bad['id']]['stage'] == 'canary'
    assert by[good['id']]['outcome'] == 'done'
    rest = [by[d['id']] for d in members[2:]]
    assert all(e['outcome'] == 'skipped' and not e['changed'] and not e['failed'] for e in rest)
    assert all('the canary failed on %s' % bad['name'] in e['msg'] for e in rest)
    state = sim.state()
    assert all(image_of(state, d['id']) == BASE_IMAGE[provider_name] for d in members if d is not good)
    pool_image = state['pool_images'][pool['id']]
    assert (pool_image['current'] if isinstance(pool_image, dict) else pool_image) == BASE_IMAGE[provider_name]
    assert not [j for j in r['jobs'] if j['scope'] == 'pool']


@pytest.mark.parametrize('provider_name', ['huaweicloud', 'alicloud'])
def test_command_over_a_pool_one_desktop_fails(sim, run_play, provider_name):
    pool, members = running_pool(sim, 2)
    failing = members[3]
    sim.patch(failing['id'], extra={'guest_exit': 3, 'guest_output': '\ninstaller: 1603'})
    task = {'pool': pool['name'], 'command': HOSTILE, 'command_type': 'powershell', 'canary': 2}
    res = run_play(sim.module_args(), [(COMMAND, task, CHECK), (COMMAND, task)])
    check, r = res['r0'], res['r1']
    assert check['changed'] and all(e['status'] is None for e in check['desktops'])
    assert r['failed'] and '1 of %d desktops failed' % len(members) in r['msg'] and failing['name'] in r['msg']
    by = dict((e['id'], e) for e in r['desktops'])
    assert by[failing['id']]['exit_code'] == 3 and by[failing['id']]['status'] == 'failed'
    assert by[failing['id']]['outcome'] == 'refused' and by[failing['id']]['output'].endswith('installer: 1603')
    others = [by[d['id']] for d in members if d is not failing]
    assert all(e['status'] == 'success' and e['exit_code'] == 0 and not e['failed'] for e in others)
    assert all(e['output'] == guest.run(HOSTILE)[1] for e in others), others[0]['output']
    assert others[0]['output'].splitlines()[-1] == 'Grüße 你好 ✓'
    assert r['summary'] == {'total': len(members), 'changed': len(members), 'succeeded': len(members) - 1,
                            'failed': 1, 'skipped': 0, 'unchanged': 0}
    ran = sim.state()['commands']
    assert sorted(c['desktop_id'] for c in ran) == sorted(d['id'] for d in members)
    assert set(c['text'] for c in ran) == {HOSTILE}  # exactly as written, every character
    writes = sim.stats()['writes']
    assert writes == {'huaweicloud': 1, 'alicloud': 2}[provider_name]  # Huawei: one call with its own canary


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_horizon_command_fails_before_any_request(sim, run_play):
    hz = sim
    pool = hz.state()['pools'][0]
    hz.clear_stats()
    res = run_play(hz.module_args(), [
        (COMMAND, {'pool': pool['name'], 'command': 'Get-HotFix'}),
        (IMAGE, {'pool': pool['name'], 'image': NEW_IMAGE['horizon'], 'notice': 'Save your work', 'logoff_policy': 'force'}),
    ])
    assert res['r0']['failed'] and 'cannot run a command inside a desktop' in res['r0']['msg']
    assert 'vdi.fleet.desktops inventory plugin' in res['r0']['msg'] and 'win_shell' in res['r0']['msg']
    assert res['r1']['failed'] and 'shows no notice' in res['r1']['msg']
    assert hz.stats()['total'] == 0


@pytest.mark.parametrize('provider_name', ['alicloud'])
def test_alicloud_without_stored_scripts_and_wait(sim, run_play):
    pool = sim.state()['pools'][0]
    sim.clear_stats()
    res = run_play(sim.module_args(), [
        (COMMAND, {'pool': pool['name'], 'script_ids': ['s-1']}),
        (IMAGE, {'pool': pool['name'], 'image': NEW_IMAGE['alicloud']}),  # logoff_policy defaults to wait
    ])
    assert res['r0']['failed'] and 'no stored scripts' in res['r0']['msg']
    assert res['r1']['failed'] and 'logoff_policy=wait' in res['r1']['msg']
    assert sim.stats()['total'] == 0


@pytest.mark.parametrize('provider_name', ['horizon', 'huaweicloud', 'alicloud'])
def test_check_mode_sends_no_write(sim, run_play, provider_name):
    pool, members = running_pool(sim)
    tasks = [(IMAGE, image_args(provider_name, pool=pool['name'], canary=2), CHECK)]
    if provider_name != 'horizon':
        tasks.append((COMMAND, {'pool': pool['name'], 'command': 'exit 0', 'canary': 1}, CHECK))
    res = run_play(sim.module_args(), tasks, check=True)
    assert all(r['changed'] and not r.get('failed') for r in res.results.values())
    assert len(res['r0']['desktops']) == len(members)
    stats = sim.stats()
    assert stats['writes'] == 0 and stats['total'] > 0, stats['by_op']
    assert set(image_of(sim.state(), d['id']) for d in members) == {BASE_IMAGE[provider_name]}


@pytest.mark.parametrize('provider_name', ['alicloud'])
def test_pool_image_alone_changes_the_task(sim, run_play):
    """Every desktop already runs the image, the pool does not: the pool's image changes, so does the task."""
    pool, members = running_pool(sim, 1)
    for d in members:
        sim.patch(d['id'], extra={'image_id': NEW_IMAGE['alicloud']})
    sim.clear_stats()
    res = run_play(sim.module_args(), [(IMAGE, image_args('alicloud', pool=pool['name'])),
                                       (IMAGE, image_args('alicloud', pool=pool['name']))])
    first, again = res['r0'], res['r1']
    assert first['changed'] is True and first['summary']['unchanged'] == len(members)
    assert [(j['action'], j['image_before'], j['image_after']) for j in first['jobs']] == [
        ('ModifyDesktopGroup', BASE_IMAGE['alicloud'], NEW_IMAGE['alicloud'])]
    assert again['changed'] is False and again['jobs'] == []
    assert sim.stats()['by_op'].get('RebuildDesktops') is None and sim.stats()['writes'] == 1
