"""The vdi.fleet.desktops inventory plugin against the simulator, through ansible-inventory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from conftest import COLLECTIONS  # pylint: disable=import-error


def plain(value):
    """ansible-inventory marks values from an inventory plugin as untrusted: {'__ansible_unsafe': value}."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def inventory(tmp_path, config: dict, env: dict | None = None, name='fleet.vdi_fleet.yml'):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    full_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_INVENTORY_ENABLED='vdi.fleet.desktops')
    full_env.update(env or {})
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-inventory'), '-i', str(path), '--list'],
                          capture_output=True, text=True, env=full_env, check=False, timeout=120)
    return proc


def test_hosts_groups_keyed_groups_and_compose(sim, tmp_path):
    state = sim.state()
    conf = {'plugin': 'vdi.fleet.desktops'}
    env = dict(('VDI_FLEET_%s' % k.upper(), str(v)) for k, v in sim.module_args().items() if v is not None)
    conf.update({'keyed_groups': [{'key': 'vdi_power_state', 'prefix': 'power'}],
                 'groups': {'busy': 'vdi_sessions > 0'},
                 'compose': {'ring': "'early' if vdi_name.endswith('1') else 'late'"}})
    proc = inventory(tmp_path, conf, env)
    assert proc.returncode == 0, proc.stderr
    inv = plain(json.loads(proc.stdout))
    hostvars = inv['_meta']['hostvars']
    assert sorted(hostvars) == sorted(d['name'] for d in state['desktops'])
    for d in state['desktops']:
        hv = hostvars[d['name']]
        assert hv['vdi_id'] == d['id'] and hv['vdi_pool'] == d['pool'] and hv['vdi_provider'] == sim.provider
        assert hv['vdi_maintenance'] is False and hv['vdi_sessions'] == len(d['sessions'])
        assert hv['ring'] == ('early' if d['name'].endswith('1') else 'late')
    for pool in state['pools']:
        group = 'vdi_pool_' + pool['name'].replace('-', '_')
        assert sorted(inv[group]['hosts']) == sorted(d['name'] for d in state['desktops'] if d['pool'] == pool['id'])
    assert sorted(inv['busy']['hosts']) == sorted(d['name'] for d in state['desktops'] if d['sessions'])
    assert 'power_powered_on' in inv


def test_pools_filter_and_cache(sim, tmp_path):
    state = sim.state()
    pool = state['pools'][1]
    conf = dict(sim.module_args(), plugin='vdi.fleet.desktops', pools=[pool['name']], hostname='id', cache=True,
                cache_plugin='ansible.builtin.jsonfile', cache_connection=str(tmp_path / 'cache'), cache_timeout=600)
    conf = dict((k, v) for k, v in conf.items() if v is not None)
    first = inventory(tmp_path, conf)
    assert first.returncode == 0, first.stderr
    hosts = plain(json.loads(first.stdout))['_meta']['hostvars']
    assert sorted(hosts) == sorted(d['id'] for d in state['desktops'] if d['pool'] == pool['id'])
    sim.clear_stats()
    second = inventory(tmp_path, conf)
    assert second.returncode == 0 and plain(json.loads(second.stdout))['_meta']['hostvars'] == hosts
    assert sim.stats()['total'] == 0  # served from the cache


def test_bad_credentials_are_one_clear_error(sim, tmp_path):
    conf = dict(sim.module_args(), plugin='vdi.fleet.desktops')
    conf = dict((k, v) for k, v in conf.items() if v is not None)
    secret = 'password' if sim.provider == 'horizon' else 'secret_key'
    conf[secret] = 'not-the-right-one-42'
    proc = inventory(tmp_path, conf)
    assert 'not-the-right-one-42' not in proc.stdout + proc.stderr
    assert 'refused the credentials' in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr
