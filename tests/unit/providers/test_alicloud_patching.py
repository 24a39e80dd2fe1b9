"""AlicloudAdapter image rebuilds (RebuildDesktops, ModifyDesktopGroup) and agent commands (RunCommand,
DescribeInvocations) against the in-process Alibaba Cloud EDS simulator."""

from __future__ import annotations

import base64

import pytest

from sim_helpers import controlled, outcomes, running, sim_poller, spy, subset  # pylint: disable=import-error

import alicloud_patching as AP  # pylint: disable=import-error

from ansible_collections.vdi.fleet.plugins.module_utils import patching, service
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers.alicloud import AlicloudAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy

NEW = 'm-sim0000000000043'
BASE = AP.BASE_IMAGE
HOSTILE = ('Write-Output \'It\'\'s "quoted" & piped | 100% ^caret $(Get-Date) `tick` ${env:X} Grüße 你好\'\n'
           'echo %PATH% !x! ^& && || > nul 2>&1\r\n'
           "@'\nhere-string\n'@\n"
           'exit 0')


@pytest.fixture(scope='module')
def ali(tmp_path_factory):
    with running(tmp_path_factory, 'alicloud', 47, 'aliimg') as simulator:
        yield simulator


@pytest.fixture
def ctl(ali, monkeypatch):
    with controlled(ali, 'alicloud', monkeypatch) as c:
        yield c


@pytest.fixture
def adapter(ctl):
    a = spy(AlicloudAdapter(ctl.module_args(), policy=RetryPolicy(retries=2, base=0.001, cap=0.01)))
    a.poller_factory = sim_poller(ctl.sim)
    yield a
    a.close()


def roll(adapter, ctl, selection, image=NEW, **kw):
    kw.setdefault('logoff_policy', 'force')
    return patching.rollout_image(adapter, selection, image, poller_factory=sim_poller(ctl.sim), **kw)


def calls(adapter, action):
    return adapter.sent.action(action)


def state(ctl):
    return dict((d['id'], d) for d in ctl.state()['desktops'])


def whole_pool(adapter, ctl, index=0):
    pool = ctl.state()['pools'][index]
    ctl.clear_stats()
    return pool, service.select(adapter, pool=pool['name'])


def test_pool_rollout_canary_then_rest_and_group_image(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl)
    ids = [d['id'] for d in sel.desktops]
    rebuildable = [d['id'] for d in sel.desktops if d['power_state'] in ('powered_on', 'powered_off')]
    entries, jobs = roll(adapter, ctl, subset([d for d in sel.desktops if d['id'] in rebuildable]), canary=2)
    assert set(outcomes(entries).values()) == {'done'} and jobs == []
    rebuilds = calls(adapter, 'RebuildDesktops')
    assert [sorted(k for k in c if k.startswith('DesktopId.')) for c in rebuilds][0] == ['DesktopId.1', 'DesktopId.2']
    assert all(c['ImageId'] == NEW for c in rebuilds)
    assert set(state(ctl)[i]['extra']['image_id'] for i in rebuildable) == {NEW}
    # the whole pool: the hibernated ones are refused per desktop, the group's image changes
    ctl.clear_stats()
    entries, jobs = roll(adapter, ctl, service.select(adapter, pool=pool['name']), stop_on_failure=False)
    rest = [e for e in entries if e['id'] not in rebuildable]
    assert all(e['outcome'] == 'refused' and 'IncorrectDesktopStatus' in e['msg'] for e in rest)
    assert all(outcomes(entries)[i] == 'unchanged' for i in rebuildable) and len(ids) == len(entries)
    assert [(j['action'], j['status'], j['image_before'], j['image_after']) for j in jobs] == [
        ('ModifyDesktopGroup', 'success', BASE, NEW)]
    assert ctl.state()['pool_images'][pool['id']] == NEW


def test_failed_canary_leaves_the_rest_and_the_group(adapter, ctl):
    pool, sel = whole_pool(adapter, ctl, 1)
    desktops = [d for d in sel.desktops if d['power_state'] == 'powered_on']
    ctl.faults([{'kind': 'perid', 'ops': ['RebuildDesktops'], 'ids': [desktops[0]['id']]}])
    entries, jobs = roll(adapter, ctl, sel, canary=[desktops[0]['name'], desktops[1]['name']])
    by = dict((e['id'], e) for e in entries)
    assert by[desktops[0]['id']]['outcome'] == 'refused' and by[desktops[1]['id']]['outcome'] == 'done'
    assert set(e['outcome'] for e in entries if e['stage'] == 'rest') == {'skipped'}
    assert jobs == [] and ctl.stats()['by_op'].get('ModifyDesktopGroup') is None
    assert ctl.stats()['by_op']['RebuildDesktops'] == 1 and ctl.state()['pool_images'][pool['id']] == BASE


def test_batches_of_20(adapter, ctl):
    ctl.reset(fleet=120, seed=3)
    desktops = [d for d in adapter.list_desktops() if d['power_state'] in ('powered_on', 'powered_off')][:45]
    ctl.clear_stats()
    entries, _jobs = roll(adapter, ctl, subset(desktops))
    assert [sum(1 for k in c if k.startswith('DesktopId.')) for c in calls(adapter, 'RebuildDesktops')] == [20, 20, 5]
    assert set(outcomes(entries).values()) == {'done'}


def test_what_alibaba_cannot_do(adapter, ctl):
    ctl.clear_stats()
    with pytest.raises(ConfigError, match='cannot wait for users'):
        patching.check_image_options(adapter, True, 'wait')
    with pytest.raises(ConfigError, match='no notice'):
        patching.check_image_options(adapter, True, 'force', notice='save your work')
    with pytest.raises(ConfigError, match='no stored scripts'):
        patching.check_command_options(adapter, script_ids=['s-1'])
    with pytest.raises(ConfigError, match='powershell, bat only'):
        patching.check_command_options(adapter, command='uname -a', command_type='shell')
    with pytest.raises(ConfigError, match='Base64'):
        patching.check_command_options(adapter, command='x' * 12289)
    assert ctl.stats()['total'] == 0


# ----------------------------------------------------------------------------------------------- commands


def test_command_exit_codes_outputs_and_base64(adapter, ctl):
    _pool, sel = whole_pool(adapter, ctl)
    running = [d for d in sel.desktops if d['power_state'] == 'powered_on']
    ctl.patch(running[0]['id'], extra={'guest_exit': 3})
    entries = patching.run_commands(adapter, subset(running), command=HOSTILE, command_type='bat')
    by = dict((e['id'], e) for e in entries)
    assert by[running[0]['id']]['status'] == 'failed' and by[running[0]['id']]['exit_code'] == 3
    assert all(by[d['id']]['status'] == 'success' for d in running[1:])
    first_line = HOSTILE.split('\n', maxsplit=1)[0][len('Write-Output '):]
    assert all(e['output'].split('\n')[0] == first_line for e in entries)
    run = calls(adapter, 'RunCommand')
    assert len(run) == 1 and run[0]['ContentEncoding'] == 'Base64' and run[0]['Type'] == 'RunBatScript'
    assert base64.b64decode(run[0]['CommandContent']).decode('utf-8') == HOSTILE
    assert set(c['text'] for c in ctl.state()['commands']) == {HOSTILE}
    reads = calls(adapter, 'DescribeInvocations')
    assert reads and all(r['IncludeOutput'] == 'true' and r['ContentEncoding'] == 'Base64' for r in reads)


def test_command_canary_threshold_and_timeout(adapter, ctl):
    _pool, sel = whole_pool(adapter, ctl, 2)
    running = [d for d in sel.desktops if d['power_state'] == 'powered_on']
    ctl.patch(running[1]['id'], extra={'guest_exit': 1})
    entries = patching.run_commands(adapter, subset(running), command='exit 0', canary=2, failure_threshold=1)
    assert len(calls(adapter, 'RunCommand')) == 1
    assert [e['status'] for e in entries][:2] == ['success', 'failed']
    assert set(e['outcome'] for e in entries[2:]) == {'skipped'}
    # threshold 2 of 2: one failure lets the rest run (a second call)
    entries = patching.run_commands(adapter, subset(running), command='exit 0', canary=2, failure_threshold=2)
    assert len(calls(adapter, 'RunCommand')) == 3
    assert [e['status'] for e in entries].count('success') == len(running) - 1
    entries = patching.run_commands(adapter, subset(running[:1]), command='Start-Sleep 400', command_timeout=60,
                                    output_limit=0)
    assert entries[0]['status'] == 'timeout' and entries[0]['output'] is None and entries[0]['failed']
    assert calls(adapter, 'RunCommand')[-1]['Timeout'] == '60'
    with pytest.raises(ConfigError, match='more than the 2 canary'):
        patching.run_commands(adapter, subset(running), command='exit 0', canary=2, failure_threshold=3)


def test_command_never_resent_after_a_lost_answer(adapter, ctl):
    _pool, sel = whole_pool(adapter, ctl)
    running = [d for d in sel.desktops if d['power_state'] == 'powered_on'][:3]
    ctl.faults([{'kind': 'drop', 'ops': ['RunCommand'], 'count': 1, 'phase': 'after'}])
    entries = patching.run_commands(adapter, subset(running), command='Write-Output x')
    assert set(e['outcome'] for e in entries) == {'unknown'} and all('not re-sent' in e['msg'] for e in entries)
    assert ctl.stats()['by_op']['RunCommand'] == 1
