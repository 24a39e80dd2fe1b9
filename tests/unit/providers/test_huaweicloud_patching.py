"""HuaweiAdapter image rebuilds and script executions against the in-process Workspace simulator.

The request bodies that left the adapter are compared with the SDK request models' fields (RebuildDesktopPoolReq,
RebuildDesktopsReq, ExecuteScriptOrCommandReq, ExecuteDesktopPoolScriptsReq); the simulator's state shows what
ran (the command text as the agent received it), the images and the jobs.
"""

from __future__ import annotations

import pytest
from huaweicloudsdkworkspace.v2 import model as HM

from sim_helpers import controlled, outcomes, running, sim_poller, spy, subset  # pylint: disable=import-error

import huaweicloud_patching as HWP  # pylint: disable=import-error

from ansible_collections.vdi.fleet.plugins.module_utils import patching, service
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers.huaweicloud import HuaweiAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy

NEW = '8f2c6b1a-4e5d-4c3b-9a2f-1d0e7c6b5a41'
LINUX = '5b7e9d3c-2a1f-4e6d-8c0b-9f8e7d6c5b43'
BASE = HWP.BASE_IMAGE
HOSTILE = ('Write-Output \'It\'\'s "quoted" & piped | 100% ^caret $(Get-Date) `tick` ${env:X} Grüße 你好\'\n'
           'echo %PATH% !x! ^& && || > nul 2>&1\r\n'
           "@'\nhere-string\n'@\n"
           'exit 0')


def fields(model):
    return set(getattr(HM, model).attribute_map.values())


@pytest.fixture(scope='module')
def hw(tmp_path_factory):
    with running(tmp_path_factory, 'huaweicloud', 43, 'hwimg') as simulator:
        yield simulator


@pytest.fixture
def ctl(hw, monkeypatch):
    with controlled(hw, 'huaweicloud', monkeypatch) as c:
        yield c


@pytest.fixture
def adapter(ctl):
    a = spy(HuaweiAdapter(ctl.module_args(), policy=RetryPolicy(retries=2, base=0.001, cap=0.01)))
    a.throttle_wait = 0.001
    a.poller_factory = sim_poller(ctl.sim)
    yield a
    a.close()


def roll(adapter, ctl, selection, image=NEW, **kw):
    kw.setdefault('logoff_policy', 'force')
    return patching.rollout_image(adapter, selection, image, poller_factory=sim_poller(ctl.sim), **kw)


def state(ctl):
    return dict((d['id'], d) for d in ctl.state()['desktops'])


def whole_pool(adapter, ctl, index=0):
    pool = ctl.state()['pools'][index]
    ctl.clear_stats()
    return pool, service.select(adapter, pool=pool['name'])


def test_pool_rollout_with_canary_notice_and_grace(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl)
    ids = [d['id'] for d in sel.desktops]
    with_session = [i for i in ids if state(ctl)[i]['sessions']]
    entries, jobs = roll(adapter, ctl, sel, canary=2, notice='Update in 5 minutes. Save your work.', grace_minutes=5)
    assert set(outcomes(entries).values()) == {'done'}
    assert [e['stage'] for e in entries[:3]] == ['canary', 'canary', 'rest']
    assert all(e['before'] == {'image': BASE} and e['after'] == {'image': NEW} for e in entries)
    canary, = adapter.sent.bodies('/desktops/rebuild')
    assert set(canary) <= fields('RebuildDesktopsReq')
    assert canary == {'desktop_ids': ids[:2], 'image_id': NEW, 'image_type': 'private', 'os_type': 'Windows',
                      'delay_time': 5, 'message': 'Update in 5 minutes. Save your work.'}
    rest, = adapter.sent.bodies('/desktop-pools/%s/rebuild' % pool['id'])
    assert set(rest) <= fields('RebuildDesktopPoolReq')
    expected = dict((k, v) for k, v in canary.items() if k != 'desktop_ids')
    assert rest == dict(expected, handle_type='FOR_EXPAND_AND_ALL')
    stats = ctl.stats()
    assert stats['writes'] == 2 and stats['by_op']['list_images'] == 1
    assert set(d['extra']['image_id'] for i, d in state(ctl).items() if i in ids) == {NEW}
    assert ctl.state()['pool_images'][pool['id']] == NEW
    assert [(j['action'], j['scope'], j['status']) for j in jobs] == [
        ('rebuild', 'desktops', 'success'), ('rebuild_pool', 'pool', 'success')]
    assert jobs[1]['image_before'] == BASE and jobs[1]['image_after'] == NEW
    notified = set(m['desktop_id'] for m in ctl.state()['messages'] if m['message_type'] == 'rebuild')
    assert notified == set(with_session)  # the notice went to every desktop that had a user
    ctl.clear_stats()
    again, jobs = roll(adapter, ctl, service.select(adapter, pool=pool['name']), canary=2)
    assert set(outcomes(again).values()) == {'unchanged'} and jobs == [] and ctl.stats()['writes'] == 0


def test_failed_canary_keeps_the_pool_image(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl, 1)
    ids = [d['id'] for d in sel.desktops]
    ctl.faults([{'kind': 'perid', 'ops': ['batch_rebuild_desktops_system_disk'], 'ids': [ids[1]]}])
    entries, jobs = roll(adapter, ctl, sel, canary=2)
    by = dict((e['id'], e) for e in entries)
    assert by[ids[0]]['outcome'] == 'done'
    assert by[ids[1]]['outcome'] == 'refused' and 'WKS.00010118' in by[ids[1]]['msg']
    assert set(by[i]['outcome'] for i in ids[2:]) == {'skipped'}
    assert ctl.stats()['writes'] == 1 and 'rebuild_desktop_pool' not in ctl.stats()['by_op']
    assert ctl.state()['pool_images'][pool['id']] == BASE
    assert all(state(ctl)[i]['extra']['image_id'] == BASE for i in ids[1:])
    assert [j['scope'] for j in jobs] == ['desktops']


def test_check_mode_reads_only(adapter, ctl):
    _pool, sel = whole_pool(adapter, ctl, 2)
    entries, jobs = roll(adapter, ctl, sel, canary=1, check_mode=True)
    assert ctl.stats()['writes'] == 0 and [e['stage'] for e in entries][:2] == ['canary', 'rest']
    assert jobs[0]['status'] == 'planned'


def test_desktops_in_batches_of_100_and_stop_on_failure(ctl, adapter):
    ctl.reset(fleet=260, seed=5)
    desktops = [d for d in adapter.list_desktops() if d['power_state'] in ('powered_on', 'powered_off')][:230]
    assert len(desktops) == 230  # hibernated desktops cannot be rebuilt (failed sub-job)
    ctl.clear_stats()
    entries, jobs = roll(adapter, ctl, subset(desktops), wait_timeout=1200)
    assert [len(b['desktop_ids']) for b in adapter.sent.bodies('/desktops/rebuild')] == [100, 100, 30]
    assert set(outcomes(entries).values()) == {'done'} and len(jobs) == 3
    # a failed call stops the rest (stop_on_failure): a server error on the first call, never re-sent
    ctl.reset(fleet=260, seed=5)
    adapter.sent.clear()
    ctl.faults([{'kind': '5xx', 'ops': ['batch_rebuild_desktops_system_disk'], 'count': 1, 'phase': 'before'}])
    entries, _jobs = roll(adapter, ctl, subset(adapter.list_desktops()[:230]))
    got = outcomes(entries)
    assert list(got.values()).count('unknown') == 100 and list(got.values()).count('skipped') == 130
    assert ctl.stats()['by_op']['batch_rebuild_desktops_system_disk'] == 1


def test_what_huawei_cannot_do(adapter, ctl):
    ctl.clear_stats()
    with pytest.raises(ConfigError, match='cannot wait for a logoff'):
        patching.check_image_options(adapter, True, 'wait')
    with pytest.raises(ConfigError, match='between 0 and 15'):
        patching.check_image_options(adapter, True, 'force', grace_minutes=30)
    with pytest.raises(ConfigError, match='at most 400'):
        patching.check_image_options(adapter, True, 'force', notice='x' * 401)
    with pytest.raises(ConfigError, match='cannot schedule'):
        patching.check_image_options(adapter, True, 'force', start_time='2030-01-01T00:00:00Z')
    assert ctl.stats()['total'] == 0
    _pool, sel = whole_pool(adapter, ctl)
    with pytest.raises(ConfigError, match='ListImages'):
        roll(adapter, ctl, sel, image='00000000-0000-4000-8000-000000000000')
    assert ctl.stats()['writes'] == 0


# ----------------------------------------------------------------------------------------------- commands


def run(adapter, selection, command='Write-Output ok', **kw):
    return patching.run_commands(adapter, selection, command=command, **kw)


def test_command_on_a_pool_one_desktop_fails(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl)
    running = [d for d in sel.desktops if d['power_state'] == 'powered_on']
    ctl.patch(running[1]['id'], extra={'guest_exit': 3, 'guest_output': '\nmsiexec: 1603'})
    entries = run(adapter, sel, command='Write-Output "patch 2026-11"\nexit 0')
    by = dict((e['id'], e) for e in entries)
    ok = [by[d['id']] for d in running if d['id'] != running[1]['id']]
    assert all(e['status'] == 'success' and e['exit_code'] == 0 and e['output'] == '"patch 2026-11"' for e in ok)
    bad = by[running[1]['id']]
    assert bad['failed'] and bad['status'] == 'failed' and bad['exit_code'] == 3 and bad['outcome'] == 'refused'
    assert bad['output'] == '"patch 2026-11"\nmsiexec: 1603' and 'exit code 3' in bad['msg']
    body, = adapter.sent.bodies('/desktop-pools/%s/script-executions' % pool['id'])
    assert set(body) <= set(HM.ExecuteDesktopPoolScriptsReq.attribute_map.values())
    assert body == {'command_content': 'Write-Output "patch 2026-11"\nexit 0', 'command_type': 'POWERSHELL',
                    'execution_timeout': 10}
    stopped = [d for d in sel.desktops if d['power_state'] != 'powered_on']
    for d in stopped:
        assert by[d['id']]['status'] == 'error' and 'not running' in by[d['id']]['msg']


def test_native_gray_batch_stops_the_rest(adapter, ctl):
    _pool, sel = whole_pool(adapter, ctl, 1)
    desktops = [d for d in sel.desktops if d['power_state'] == 'powered_on'][:6]
    ctl.faults([{'kind': 'perid', 'ops': ['execute_script_or_command'], 'ids': [desktops[0]['id']]}])
    entries = run(adapter, subset(desktops), canary=3, failure_threshold=1)
    body, = adapter.sent.bodies('/script-executions')
    assert set(body) <= set(HM.ExecuteScriptOrCommandReq.attribute_map.values())
    assert body['gray_resource_ids'] == [d['id'] for d in desktops[:3]] and body['gray_fail_threshold'] == 1
    assert body['resource_type'] == 'DESKTOP' and body['resource_ids'] == [d['id'] for d in desktops]
    got = [(e['stage'], e['status']) for e in entries]
    assert got[0] == ('canary', 'error') and got[1:3] == [('canary', 'success')] * 2
    assert got[3:] == [('rest', 'skipped')] * 3
    assert all(not e['changed'] and e['outcome'] == 'skipped' for e in entries[3:])


def test_canary_of_one_uses_two_calls(adapter, ctl):
    """gray_fail_threshold must be lower than the gray batch: a canary of one desktop is our own first call."""
    _pool, sel = whole_pool(adapter, ctl, 2)
    desktops = [d for d in sel.desktops if d['power_state'] == 'powered_on'][:4]
    entries = run(adapter, subset(desktops), canary=[desktops[2]['name']])
    first, second = adapter.sent.bodies('/script-executions')
    assert first['resource_ids'] == [desktops[2]['id']] and 'gray_resource_ids' not in first
    assert second['resource_ids'] == [d['id'] for d in desktops if d is not desktops[2]]
    assert [e['stage'] for e in entries] == ['rest', 'rest', 'canary', 'rest']
    assert set(e['status'] for e in entries) == {'success'}


def test_hostile_text_arrives_as_written(adapter, ctl):
    _pool, sel = whole_pool(adapter, ctl)
    desktop = next(d for d in sel.desktops if d['power_state'] == 'powered_on')
    entries = run(adapter, subset([desktop]), command=HOSTILE)
    assert entries[0]['status'] == 'success'
    ran, = ctl.state()['commands']
    assert ran['text'] == HOSTILE and ran['command_type'] == 'POWERSHELL'
    assert adapter.sent.bodies('/script-executions')[0]['command'] == HOSTILE


def test_stored_scripts_output_limit_timeout_and_secrets(adapter, ctl):
    _pool, sel = whole_pool(adapter, ctl)
    desktops = [d for d in sel.desktops if d['power_state'] == 'powered_on'][:2]
    entries = patching.run_commands(adapter, subset(desktops), script_ids=['sim-script-patch', 'sim-script-fail'],
                                    output_limit=0)
    assert all(e['status'] == 'failed' and e['exit_code'] == 5 and e['output'] is None for e in entries)
    assert 'show_script_record_detail' not in ctl.stats()['by_op']  # no output asked for: no detail read
    assert adapter.sent.bodies('/script-executions')[0]['script_ids'] == ['sim-script-patch', 'sim-script-fail']
    secret = ctl.conn['secret_key']
    entries = run(adapter, subset(desktops[:1]), command='Write-Output key=%s\nWrite-Output %s' % (secret, 'y' * 50),
                  output_limit=30)
    assert secret not in entries[0]['output'] and entries[0]['output'].startswith('key=********')
    assert entries[0]['output_truncated'] and len(entries[0]['output']) == 30
    entries = run(adapter, subset(desktops[:1]), command='Start-Sleep -Seconds 600', command_timeout=120)
    assert adapter.sent.bodies('/script-executions')[-1]['execution_timeout'] == 2
    assert entries[0]['status'] == 'error' and 'execution_timeout' in entries[0]['msg']
    with pytest.raises(ConfigError, match='between 60 and 86400'):
        run(adapter, subset(desktops), command_timeout=30)
    with pytest.raises(ConfigError, match='at most 16384'):
        run(adapter, subset(desktops), command='x' * 16385)
