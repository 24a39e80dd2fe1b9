"""vdi.fleet.desktops and provider data that cannot be trusted, through ansible-inventory and ansible-playbook.

Desktop and pool names, addresses and users come from the provider: whoever can name a desktop controls them.
These tests rename desktops and pools in the simulator (and tamper with the cache) and check that nothing of it
is evaluated as a template, that no desktop becomes localhost, all or another host or group, that duplicates are
told apart, and that the cache is private. `make test-matrix` runs them on ansible-core 2.16 and 2.19.
"""

from __future__ import annotations

import glob
import json
import os
import re
import stat
import subprocess
import sys

import pytest
import yaml

from conftest import COLLECTIONS  # pylint: disable=import-error
from test_inventory import inventory, plain  # pylint: disable=import-error

# The documented example of the plugin (EXAMPLES): keyed_groups, groups and compose.
DOCUMENTED = {
    'keyed_groups': [{'key': 'vdi_power_state', 'prefix': 'power'}],
    'groups': {'busy': 'vdi_sessions > 0'},
    'compose': {'patch_ring': "'early' if vdi_name.endswith('1') else 'late'"},
}


# A source that cannot be parsed fails the command (by default ansible-inventory only warns).
FAIL_UNPARSED = {'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'true'}


def squash(text: str) -> str:
    """Text without whitespace: ansible-core 2.16 wraps warnings at the terminal width, inside words too."""
    return ''.join(text.split())


def said(proc, text: str) -> int:
    """How many times ansible wrote ``text`` on stderr."""
    return squash(proc.stderr).count(squash(text))


def payload(marker) -> str:
    """A Jinja expression that leaves a file behind if anything ever evaluates it."""
    return "{{ lookup('pipe', 'touch %s') }}" % marker


def config(sim, **extra) -> dict:
    conf = dict(sim.module_args(), plugin='vdi.fleet.desktops', **DOCUMENTED)
    conf.update(extra)
    return dict((k, v) for k, v in conf.items() if v is not None)


def listed(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def groups_of(inv: dict) -> dict:
    """Group name -> hosts (children resolved one level, enough for the flat groups of this plugin)."""
    return dict((name, sorted(plain(body.get('hosts', [])))) for name, body in inv.items() if name != '_meta')


def playbook(tmp_path, inventory_file, plays, env=None):
    path = tmp_path / 'play.yml'
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    full_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_INVENTORY_ENABLED='vdi.fleet.desktops',
                    ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1')
    full_env.update(env or {})
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inventory_file), str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=str(tmp_path), timeout=300, check=False)


def unsafe_marked(value) -> bool:
    """ansible-inventory prints a value Ansible will not template as {'__ansible_unsafe': ...} (2.16 and 2.19)."""
    return isinstance(value, dict) and set(value) == {'__ansible_unsafe'}


def test_provider_strings_are_never_templated(sim, tmp_path):
    state = sim.state()
    markers = [tmp_path / ('ran-%d' % n) for n in range(3)]
    target, other = state['desktops'][0], state['desktops'][4]
    sim.patch(target['id'], name=payload(markers[0]))
    sim.rename_pool(state['pools'][1]['id'], 'P' + payload(markers[1]))
    sim.patch(other['id'], name='ok-' + target['name'])
    conf = config(sim)
    # provider values copied into compose, keyed_groups and groups inputs as they are
    conf['compose'].update({'name_copy': 'vdi_name', 'pool_copy': 'vdi_pool_name', 'address_copy': 'vdi_address'})
    conf['keyed_groups'].append({'key': 'vdi_pool_name', 'prefix': 'pool'})
    conf['groups']['named'] = "vdi_name is string and vdi_name != ''"
    inv_file = tmp_path / 'fleet.vdi_fleet.yml'
    proc = inventory(tmp_path, conf)
    raw = listed(proc)
    hostvars = raw['_meta']['hostvars']
    assert not [m for m in markers if m.exists()], 'a provider string was evaluated as a template'
    # The desktop with the expression in its name is a host named by its id, the name kept as untrusted text.
    assert target['id'] in hostvars and said(proc, 'the host is named by its id')
    hv = hostvars[target['id']]
    assert unsafe_marked(hv['vdi_name']) and plain(hv['vdi_name']) == payload(markers[0])
    assert plain(hv['name_copy']) == payload(markers[0])
    # Every text value that came from the provider is marked untrusted, on every host.
    for host, values in hostvars.items():
        for key in ('vdi_id', 'vdi_name', 'vdi_pool', 'vdi_pool_name', 'vdi_power_state', 'vdi_provider'):
            if values.get(key) is not None:
                assert unsafe_marked(values[key]), (host, key, values[key])
        assert all(unsafe_marked(u) for u in values['vdi_users']), (host, values['vdi_users'])
    assert sorted(plain(groups_of(raw)['named'])) == sorted(hostvars)
    # The documented example still works, for the renamed desktops too.
    assert plain(hostvars['ok-' + target['name']]['patch_ring']) == ('early' if target['name'].endswith('1') else 'late')
    assert plain(hostvars[target['id']]['patch_ring']) == 'late'

    # ansible-playbook over the same inventory: the values are used, never evaluated.
    plays = [{'name': 'desktops', 'hosts': 'all', 'gather_facts': False, 'tasks': [
        {'name': 'use every provider value', 'ansible.builtin.set_fact': {
            'seen': '{{ vdi_name }} {{ vdi_pool_name }} {{ vdi_users | join(",") }} {{ name_copy }} {{ pool_copy }}'}},
        {'name': 'show them', 'ansible.builtin.debug': {'msg': '{{ inventory_hostname }}: {{ seen }} {{ patch_ring }}'}},
    ]}, {'name': 'controller', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'name': 'the payload is still text', 'ansible.builtin.assert': {'that': [
            "hostvars[target].vdi_name is search('lookup')",
            "hostvars[target].vdi_name | length == %d" % len(payload(markers[0])),
            "hostvars[target].name_copy == hostvars[target].vdi_name"]}, 'vars': {'target': target['id']}},
    ]}]
    inv_file.write_text(yaml.safe_dump(conf))
    run = playbook(tmp_path, inv_file, plays)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'ok=' in run.stdout and 'failed=0' in run.stdout
    assert not [m for m in markers if m.exists()], 'a provider string was evaluated as a template in a play'


def test_no_desktop_becomes_localhost_all_or_another_group(sim, tmp_path):
    state = sim.state()
    ds = state['desktops']
    pools = state['pools']
    other_pool_group = 'vdi_pool_' + pools[1]['name'].replace('-', '_')
    names = {
        ds[0]['id']: 'localhost',
        ds[1]['id']: 'all',
        ds[2]['id']: 'ungrouped',
        ds[3]['id']: '127.0.0.1',
        ds[4]['id']: 'LocalHost',
        ds[5]['id']: other_pool_group,      # the group of another pool
        ds[6]['id']: 'power_powered_on',    # a group made by the documented keyed_groups
        ds[7]['id']: 'busy',                # a group made by the documented groups
        ds[8]['id']: ds[9]['id'],           # the id of another desktop
    }
    for desktop_id, name in names.items():
        sim.patch(desktop_id, name=name)
    conf = config(sim)
    proc = inventory(tmp_path, conf)
    raw = listed(proc)
    hostvars = raw['_meta']['hostvars']
    assert len(hostvars) == len(ds) == 30
    for desktop_id, name in names.items():
        assert name not in hostvars, name
        assert desktop_id in hostvars and plain(hostvars[desktop_id]['vdi_name']) == name
        assert said(proc, repr(name)), name  # a warning names each of them
    groups = groups_of(raw)
    assert 'hosts' not in raw.get('all', {}) or not set(raw['all']['hosts']) & set(names.values())
    for pool in pools:
        group = 'vdi_pool_' + pool['name'].replace('-', '_')
        members = sorted(h for h, v in hostvars.items() if plain(v['vdi_pool']) == pool['id'])
        assert groups[group] == members, group
    # No host of that inventory is also a group.
    assert not set(hostvars) & set(groups)

    # In a play, localhost is still the controller: delegate_to: localhost stays on this machine.
    inv_file = tmp_path / 'fleet.vdi_fleet.yml'
    inv_file.write_text(yaml.safe_dump(conf))
    plays = [{'name': 'controller', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'name': 'localhost is the implicit one', 'ansible.builtin.assert': {'that': [
            "'localhost' not in groups['all']",
            "'all' not in groups['all']",
            "hostvars['localhost'].ansible_connection == 'local'",
            "hostvars['localhost'].vdi_id is not defined",
            "hostvars['localhost'].ansible_host is not defined",
            "groups['all'] | length == 30",
            "groups['%s'] | length == %d" % (other_pool_group, pools[1]['desktops']),
        ]}},
    ]}]
    run = playbook(tmp_path, inv_file, plays)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'failed=0' in run.stdout


def test_no_desktop_takes_the_name_of_a_keyed_group_without_prefix(sim, tmp_path):
    # keyed_groups without prefix or separator: the group names are the provider's power states themselves.
    state = sim.state()
    ds = state['desktops']
    sim.patch(ds[0]['id'], name='powered_on')
    conf = config(sim, keyed_groups=[{'key': 'vdi_power_state', 'prefix': '', 'separator': ''}],
                  leading_separator=False)
    proc = inventory(tmp_path, conf)
    raw = listed(proc)
    hostvars = raw['_meta']['hostvars']
    assert 'powered_on' not in hostvars and ds[0]['id'] in hostvars and len(hostvars) == 30
    assert sorted(groups_of(raw)['powered_on']) == sorted(
        h for h, v in hostvars.items() if plain(v['vdi_power_state']) == 'powered_on')
    assert said(proc, "its name 'powered_on' is already the name of a host or group")


def test_duplicate_desktop_and_pool_names_are_told_apart(sim, tmp_path):
    state = sim.state()
    ds, pools = state['desktops'], state['pools']
    shared = ds[3]['name']
    sim.patch(ds[2]['id'], name=shared)
    # Two pool names that make the same group name.
    sim.rename_pool(pools[0]['id'], 'Finance-Win11')
    sim.rename_pool(pools[1]['id'], 'Finance Win11')
    proc = inventory(tmp_path, config(sim))
    raw = listed(proc)
    hostvars = raw['_meta']['hostvars']
    assert len(hostvars) == 30  # no two desktops merged into one host
    assert shared not in hostvars
    for d in (ds[2], ds[3]):
        assert d['id'] in hostvars and plain(hostvars[d['id']]['vdi_name']) == shared
    assert said(proc, 'is shared by 2 desktops') == 2
    groups = groups_of(raw)
    assert 'vdi_pool_Finance_Win11' not in groups
    for pool in pools[:2]:
        group = 'vdi_pool_Finance_Win11_' + pool['id'].replace('-', '_')
        assert groups[group] == sorted(h for h, v in hostvars.items() if plain(v['vdi_pool']) == pool['id'])
        assert said(proc, group)
    third = 'vdi_pool_' + pools[2]['name'].replace('-', '_')
    assert len(groups[third]) == pools[2]['desktops']

    # The same listing in any order gives the same names: the choice does not depend on who came first.
    again = listed(inventory(tmp_path, config(sim, hostname='name')))
    assert sorted(again['_meta']['hostvars']) == sorted(hostvars)


def test_addresses_that_mean_the_controller_are_not_ansible_host(sim, tmp_path):
    state = sim.state()
    ds = state['desktops']
    # Horizon reports the DNS name made from the desktop name, the clouds the address itself.
    if sim.provider == 'horizon':
        bad = {ds[0]['id']: 'localhost', ds[1]['id']: 'x-' + payload(tmp_path / 'ran')}
        for desktop_id, name in bad.items():
            sim.patch(desktop_id, name=name)
    else:
        bad = {ds[0]['id']: '127.0.0.1', ds[1]['id']: '-oProxyCommand=touch %s' % (tmp_path / 'ran'),
               ds[2]['id']: '0.0.0.0', ds[3]['id']: '::1'}
        for desktop_id, address in bad.items():
            sim.patch(desktop_id, address=address)
    proc = inventory(tmp_path, config(sim))
    hostvars = listed(proc)['_meta']['hostvars']
    by_id = dict((plain(v['vdi_id']), v) for v in hostvars.values())
    for desktop_id in bad:
        assert 'ansible_host' not in by_id[desktop_id], by_id[desktop_id]
        assert by_id[desktop_id]['vdi_address'] is not None  # the address is still known as data
    assert said(proc, 'is not used as ansible_host') == len(bad)
    assert all('ansible_host' in by_id[d['id']] for d in ds[5:])
    assert not (tmp_path / 'ran').exists()


def cache_files(directory) -> list:
    return sorted(p for p in glob.glob(os.path.join(str(directory), '*')) if os.path.isfile(p))


def tamper(path, desktop_index: int, **fields) -> None:
    """Edit one cached desktop. On 2.19 the values are marked trusted the way the cache format stores that tag."""
    raw = json.loads(open(path).read())

    def tagged(value):
        return {'value': value, 'tags': [{'__ansible_type': 'TrustedAsTemplate'}], '__ansible_type': '_AnsibleTaggedStr'}

    if isinstance(raw, dict) and '__payload__' in raw:  # ansible-core 2.19: tags are kept in the payload
        data = json.loads(raw['__payload__'])
        for key, value in fields.items():
            data[desktop_index][key] = [tagged(v) for v in value] if isinstance(value, list) else tagged(value)
        raw['__payload__'] = json.dumps(data)
    else:  # ansible-core 2.16: a plain string is trusted
        for key, value in fields.items():
            raw[desktop_index][key] = value
    with open(path, 'w') as fh:
        fh.write(json.dumps(raw))


def test_cache_is_private_and_a_tampered_entry_is_not_templated(sim, tmp_path):
    cache_dir = tmp_path / 'cache'
    conf = config(sim, cache=True, cache_plugin='ansible.builtin.jsonfile', cache_connection=str(cache_dir),
                  cache_timeout=600)
    first = listed(inventory(tmp_path, conf))
    files = cache_files(cache_dir)
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600

    markers = [tmp_path / ('ran-%d' % n) for n in range(4)]
    host0 = sorted(first['_meta']['hostvars'])[0]
    # The power state feeds the documented keyed_groups, the name the documented compose.
    tamper(files[0], 0, power_state=payload(markers[0]), pool_name=payload(markers[1]),
           users=[payload(markers[2])], address=payload(markers[3]))
    os.chmod(files[0], 0o600)
    sim.clear_stats()
    inv_file = tmp_path / 'fleet.vdi_fleet.yml'
    proc = inventory(tmp_path, conf)
    cached = listed(proc)
    assert sim.stats()['total'] == 0  # the tampered cache was what was read
    assert not [m for m in markers if m.exists()], 'a cached value was evaluated as a template'
    tampered = [v for v in cached['_meta']['hostvars'].values() if plain(v['vdi_power_state']) == payload(markers[0])]
    assert len(tampered) == 1 and unsafe_marked(tampered[0]['vdi_power_state'])
    assert all(unsafe_marked(u) for u in tampered[0]['vdi_users'])
    assert 'ansible_host' not in tampered[0]
    assert host0 in cached['_meta']['hostvars']

    inv_file.write_text(yaml.safe_dump(conf))
    plays = [{'name': 'desktops', 'hosts': 'all', 'gather_facts': False, 'tasks': [
        {'name': 'use the cached values', 'ansible.builtin.debug': {
            'msg': '{{ vdi_power_state }} {{ vdi_pool_name }} {{ vdi_users }} {{ vdi_address }} {{ patch_ring }}'}},
    ]}]
    run = playbook(tmp_path, inv_file, plays)
    assert run.returncode == 0, run.stdout + run.stderr
    assert not [m for m in markers if m.exists()], 'a cached value was evaluated as a template in a play'


def test_cache_file_not_ours_is_not_read_and_mode_is_configurable(sim, tmp_path):
    cache_dir = tmp_path / 'cache'
    conf = config(sim, cache=True, cache_plugin='ansible.builtin.jsonfile', cache_connection=str(cache_dir),
                  cache_timeout=600, cache_file_mode='0640')
    listed(inventory(tmp_path, conf))
    files = cache_files(cache_dir)
    assert len(files) == 1 and stat.S_IMODE(os.stat(files[0]).st_mode) == 0o640
    os.chmod(files[0], 0o666)  # writable by anyone: may have been replaced
    sim.clear_stats()
    proc = inventory(tmp_path, conf)
    listed(proc)
    assert said(proc, 'is writable by others')
    assert sim.stats()['total'] > 0  # read from the provider again
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o640

    bad = inventory(tmp_path, dict(conf, cache_file_mode='0044'), FAIL_UNPARSED)
    assert bad.returncode != 0 and said(bad, 'cache_file_mode')


def test_invalid_cache_entry_is_replaced(sim, tmp_path):
    cache_dir = tmp_path / 'cache'
    conf = config(sim, cache=True, cache_plugin='ansible.builtin.jsonfile', cache_connection=str(cache_dir),
                  cache_timeout=600)
    before = listed(inventory(tmp_path, conf))
    path = cache_files(cache_dir)[0]
    raw = json.loads(open(path).read())
    if isinstance(raw, dict) and '__payload__' in raw:
        data = json.loads(raw['__payload__'])
        data[0]['sessions'] = 'many'
        raw['__payload__'] = json.dumps(data)
    else:
        raw[0]['sessions'] = 'many'
    with open(path, 'w') as fh:
        fh.write(json.dumps(raw))
    os.chmod(path, 0o600)
    sim.clear_stats()
    proc = inventory(tmp_path, conf)
    after = listed(proc)
    assert said(proc, 'the cached inventory is not valid')
    assert sim.stats()['total'] > 0
    assert plain(after['_meta']['hostvars']) == plain(before['_meta']['hostvars'])


def test_only_a_good_inventory_is_cached(sim, tmp_path):
    # A desktop named all used to make an inventory that ansible could not load, and that was cached.
    state = sim.state()
    sim.patch(state['desktops'][0]['id'], name='all')
    cache_dir = tmp_path / 'cache'
    conf = config(sim, cache=True, cache_plugin='ansible.builtin.jsonfile', cache_connection=str(cache_dir))
    first = listed(inventory(tmp_path, conf, FAIL_UNPARSED))
    sim.clear_stats()
    second = listed(inventory(tmp_path, conf, FAIL_UNPARSED))
    assert sim.stats()['total'] == 0
    assert plain(second) == plain(first) and len(first['_meta']['hostvars']) == 30

    # A source that fails (strict compose on a missing variable) leaves no cache behind.
    cache_dir = tmp_path / 'cache-strict'
    conf = config(sim, cache=True, cache_plugin='ansible.builtin.jsonfile', cache_connection=str(cache_dir),
                  strict=True, compose={'ring': 'no_such_variable.attribute'})
    proc = inventory(tmp_path, conf, FAIL_UNPARSED)
    assert proc.returncode != 0 and said(proc, 'no_such_variable')
    assert cache_files(cache_dir) == []


# ---------------------------------------------------------------------- connection parity
VENDOR_ENV = {
    'huaweicloud': {'access_key': 'HUAWEICLOUD_SDK_AK', 'secret_key': 'HUAWEICLOUD_SDK_SK',
                    'project_id': 'HUAWEICLOUD_SDK_PROJECT_ID'},
    'alicloud': {'access_key': 'ALIBABA_CLOUD_ACCESS_KEY_ID', 'secret_key': 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
                 'region': 'ALIBABA_CLOUD_REGION_ID'},
    'horizon': {},
}


def clean_env() -> dict:
    """The test process's environment without any connection variable."""
    names = set(n for v in VENDOR_ENV.values() for n in v.values())
    return dict((k, v) for k, v in os.environ.items()
                if not k.startswith(('VDI_FLEET_', 'ALIBABA_CLOUD_', 'ALICLOUD_', 'HUAWEICLOUD_SDK_')) and k not in names)


def inventory_with(tmp_path, conf, env, name):
    """ansible-inventory with exactly ``env`` as the connection environment."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(conf))
    full_env = dict(clean_env(), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_INVENTORY_ENABLED='vdi.fleet.desktops',
                    ANSIBLE_INVENTORY_UNPARSED_FAILED='true')
    full_env.update(env)
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-inventory'), '-i', str(path), '--list'],
                          capture_output=True, text=True, env=full_env, check=False, timeout=120)


def test_connection_from_options_or_environment_is_identical(sim, tmp_path):
    conn = dict((k, v) for k, v in sim.module_args().items() if v is not None)
    base = dict(DOCUMENTED, plugin='vdi.fleet.desktops')
    from_options = inventory_with(tmp_path, dict(base, **conn), {}, 'a.vdi_fleet.yml')
    from_env = inventory_with(tmp_path, base, dict(('VDI_FLEET_%s' % k.upper(), str(v)) for k, v in conn.items()),
                              'b.vdi_fleet.yml')
    vendor = VENDOR_ENV[sim.provider]
    env = dict(('VDI_FLEET_%s' % k.upper(), str(v)) for k, v in conn.items() if k not in vendor)
    env.update(dict((name, conn[key]) for key, name in vendor.items()))
    from_vendor_env = inventory_with(tmp_path, base, env, 'c.vdi_fleet.yml')
    expected = listed(from_options)
    assert len(expected['_meta']['hostvars']) == 30
    assert listed(from_env) == expected
    assert listed(from_vendor_env) == expected

    # Defaults and conversions are the modules' ones: validate_certs off as an option or as the variable's text.
    insecure = dict((k, v) for k, v in conn.items() if k != 'ca_path')
    off_option = inventory_with(tmp_path, dict(base, validate_certs=False, **insecure), {}, 'd.vdi_fleet.yml')
    off_env = inventory_with(tmp_path, base, dict([('VDI_FLEET_VALIDATE_CERTS', 'no')] + [
        ('VDI_FLEET_%s' % k.upper(), str(v)) for k, v in insecure.items()]), 'e.vdi_fleet.yml')
    assert listed(off_option) == listed(off_env) == expected
    # Without either, certificates are checked (the default of the modules), so the simulator's CA is needed.
    checked = inventory_with(tmp_path, dict(base, **insecure), {}, 'f.vdi_fleet.yml')
    assert checked.returncode != 0

    # The same mistake gives the same message either way: an option the provider does not use.
    stray = 'region' if sim.provider == 'horizon' else 'username'
    bad_option = inventory_with(tmp_path, dict(base, **dict(conn, **{stray: 'x'})), {}, 'g.vdi_fleet.yml')
    bad_env = inventory_with(tmp_path, base, dict([('VDI_FLEET_%s' % stray.upper(), 'x')] + [
        ('VDI_FLEET_%s' % k.upper(), str(v)) for k, v in conn.items()]), 'h.vdi_fleet.yml')
    assert bad_option.returncode != 0 and bad_env.returncode != 0
    assert plugin_error(bad_option) == plugin_error(bad_env)
    assert squash(stray) in plugin_error(bad_option), plugin_error(bad_option)


def plugin_error(proc) -> str:
    """The plugin's own error message out of ansible-inventory's stderr (without whitespace and what wraps it)."""
    text = squash(proc.stderr)
    assert 'vdi.fleet.desktops:' in text, proc.stderr
    return re.split(r'\[WARNING\]|\[ERROR\]|ERROR!|Failedtoparse|Origin:', text.split('vdi.fleet.desktops:', 1)[1])[0]


@pytest.mark.parametrize('provider_name', ['alicloud'])
def test_alicloud_legacy_variables_and_region_fallback(sim, tmp_path):
    """The legacy ALICLOUD_* names and the region variable work for the plugin as for the modules."""
    conn = dict((k, v) for k, v in sim.module_args().items() if v is not None)
    base = dict(DOCUMENTED, plugin='vdi.fleet.desktops')
    expected = listed(inventory_with(tmp_path, dict(base, **conn), {}, 'a.vdi_fleet.yml'))
    env = {'VDI_FLEET_PROVIDER': 'alicloud', 'VDI_FLEET_ENDPOINT': conn['endpoint'], 'VDI_FLEET_CA_PATH': conn['ca_path'],
           'ALICLOUD_ACCESS_KEY': conn['access_key'], 'ALICLOUD_SECRET_KEY': conn['secret_key'],
           'ALICLOUD_REGION': conn['region']}
    assert listed(inventory_with(tmp_path, base, env, 'b.vdi_fleet.yml')) == expected
