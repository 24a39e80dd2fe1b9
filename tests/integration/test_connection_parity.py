"""The same patch window, connection in the environment or in patch_window_connection, sends the same requests.

An AWX credential gives the role its connection only as ``VDI_FLEET_*`` environment variables (the credential
type's injectors, rendered as AWX renders them); a playbook run by hand gives it as ``patch_window_connection``.
The role documents both as equal. Each provider runs the window once each way on the same fresh fleet, and the
simulator's request log and deliveries of the two runs are compared: the same operations (name, outcome, count of
every write; the names of the reads, whose count depends on polling), the same messages to the same desktops
(the logoff notice of Huawei Cloud included: its logoff request carries ``patch_window_logoff_message``), the same
outcome per desktop. Ids and times are left out of the comparison.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys

import yaml

import awx_job  # pylint: disable=import-error
from conftest import COLLECTIONS  # pylint: disable=import-error

FLEET = 24  # three pools of 8 desktops per provider
LOGOFF_MESSAGE = 'Patching starts now: your session is being closed.'
ROLE_VARS = {
    'patch_window_wave_size': '100%',
    'patch_window_countdown': [1],
    'patch_window_minute_seconds': 0,
    'patch_window_drain_timeout': 2,
    'patch_window_restart_timeout': 120,
    'patch_window_logoff_policy': 'force',
    'patch_window_logoff_message': LOGOFF_MESSAGE,
}
# connection variables that must not leak into a run from the test's own environment
CONNECTION_ENV_PREFIXES = ('VDI_FLEET_', 'HUAWEICLOUD_SDK_', 'ALIBABA_CLOUD_', 'ALICLOUD_')


def connection(sim):
    return dict((k, v) for k, v in sim.module_args().items() if v is not None)


def run_window(tmp_path, sim, pool, label, in_environment):
    """Fresh fleet, then the role over ``pool``; what the simulator saw and what the role reported."""
    sim.reset(fleet=FLEET)
    names = dict((d['id'], d['name']) for d in sim.state()['desktops'])
    workdir = tmp_path / label
    workdir.mkdir()
    role_vars = dict(ROLE_VARS, patch_window_pools=[pool], patch_window_report_path=str(workdir / 'report.json'))
    if sim.provider == 'alicloud':
        role_vars['patch_window_message_options'] = {'alicloud_delivery': 'run_command'}
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(CONNECTION_ENV_PREFIXES))
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    if in_environment:
        conn = connection(sim)
        inputs = dict((k, v) for k, v in conn.items() if k != 'provider')
        env.update(awx_job.inject_credential(awx_job.credential_type(sim.provider), inputs)[0])
    else:
        role_vars['patch_window_connection'] = connection(sim)
    play = [{'name': 'window', 'hosts': 'localhost', 'gather_facts': False,
             'roles': [{'role': 'vdi.fleet.patch_window', 'vars': role_vars}]}]
    (workdir / 'window.yml').write_text(yaml.safe_dump(play, sort_keys=False))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), 'window.yml'],
                          capture_output=True, text=True, env=env, cwd=str(workdir), timeout=600, check=False)
    assert proc.returncode == 0, '%s run failed:\n%s' % (label, (proc.stdout + proc.stderr)[-3000:])
    state = sim.state()
    report = json.loads((workdir / 'report.json').read_text())
    return {
        'log': sim.stats(log=True)['log'],
        'messages': [dict(m, desktop=names.get(m.get('desktop_id'))) for m in state['messages']],
        'outcome': dict((d['name'], (d['status'], d.get('wave'))) for d in report['desktops']),
        'in_maintenance': sorted(d['name'] for d in state['desktops'] if d['maintenance']),
    }


def writes(run):
    """Every state-changing request: operation and answer, counted."""
    return collections.Counter((e['op'], e['status']) for e in run['log'] if e['write'])


def reads(run):
    """The read operations used (how often depends on polling while waiting)."""
    return sorted(set(e['op'] for e in run['log'] if not e['write']))


def deliveries(run):
    """Messages shown to users: desktop, kind and text (session ids and times left out)."""
    return collections.Counter((m['desktop'], m.get('message_type'), m['text']) for m in run['messages'])


def test_connection_from_the_environment_sends_what_patch_window_connection_sends(sim, tmp_path):
    sim.reset(fleet=FLEET)
    state = sim.state()
    pool = state['pools'][0]
    busy = sorted(d['name'] for d in state['desktops']
                  if d['pool'] == pool['id'] and d['sessions'] and d['power'] == 'on')
    assert busy, 'the pool needs desktops with sessions, for the countdown and the logoff'
    runs = {
        'patch_window_connection': run_window(tmp_path, sim, pool['name'], 'role-variable', in_environment=False),
        'VDI_FLEET_* environment': run_window(tmp_path, sim, pool['name'], 'environment', in_environment=True),
    }
    by_var, by_env = runs['patch_window_connection'], runs['VDI_FLEET_* environment']

    for label, run in runs.items():
        assert writes(run), '%s: no write request reached the simulator' % label
        assert run['in_maintenance'] == [], label
        assert set(outcome[0] for outcome in run['outcome'].values()) == {'released'}, (label, run['outcome'])

    assert writes(by_env) == writes(by_var)
    assert reads(by_env) == reads(by_var)

    if sim.provider == 'huaweicloud':
        # Huawei's logoff takes a message: every busy desktop gets patch_window_logoff_message with its logoff
        for label, run in runs.items():
            notices = sorted(d for d, kind, text in deliveries(run) if kind == 'logoff' and text == LOGOFF_MESSAGE)
            logoffs = [entry[0] for entry in deliveries(run) if entry[1] == 'logoff']
            assert notices, ('%s: the logoff requests carried no patch_window_logoff_message (logoff deliveries: %s)'
                             % (label, logoffs))
            assert sorted(set(notices)) == busy, label

    assert deliveries(by_env) == deliveries(by_var)
    assert by_env['outcome'] == by_var['outcome']
