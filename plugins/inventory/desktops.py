# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
name: desktops
short_description: Virtual desktops of a Horizon, Huawei Cloud Workspace or Alibaba Cloud EDS fleet as hosts
version_added: 0.1.0
description:
  - Makes every desktop the credentials can see (or of the listed pools) a host, with C(vdi_*) host variables
    (id, name, pool, provider, power state, maintenance, sessions, address when known) and a group per pool.
  - Uses the same connection options, with the same environment variables and defaults, as the modules of the
    collection.
  - Files must end in C(.vdi_fleet.yml) or C(.vdi_fleet.yaml).
  - Desktops as hosts allow C(serial)-based rolling runs over a fleet, with C(max_fail_percentage) per batch;
    run the collection's modules for each host with C(delegate_to) C(localhost) and C(desktops) set to
    C({{ vdi_id }}).
  - Everything the provider returns (names, pool names, addresses, users) is untrusted data. It is never
    evaluated as a template, neither in the host variables nor in O(compose), O(keyed_groups) and O(groups), nor
    when read back from the cache.
author:
  - vdi.fleet contributors (@vdi-fleet)
extends_documentation_fragment:
  - vdi.fleet.connection.PLUGINS
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: Token that marks a file as a configuration of this plugin.
    type: str
    required: true
    choices: [vdi.fleet.desktops]
  pools:
    description:
      - Only desktops of these pools (ids or exact names). All desktops when empty.
    type: list
    elements: str
    default: []
  hostname:
    description:
      - What names the hosts - the desktop name or its provider id.
      - With V(name), a desktop whose name cannot be a host name is named by its id instead, with a warning. That is
        the case for a name that is empty, longer than 255 characters, has characters other than letters, digits,
        C(.), C(-) and C(_) or does not start with a letter or digit, is reserved (C(localhost) and its variants,
        loopback and unspecified addresses, C(all), C(ungrouped)), is shared by several desktops (all of them are
        named by their ids), is the id of another desktop, or is already a host or a group of the inventory
        (from another source, a pool group of this one, or a group made by O(keyed_groups) or O(groups)).
      - A desktop whose id cannot be a host name either is left out, with a warning.
    type: str
    choices: [name, id]
    default: name
  pool_group_prefix:
    description:
      - Prefix of the group made for each pool (followed by the pool name, made safe for a group name).
      - Pools whose group names would be the same (for example C(Finance-Win11) and C(Finance Win11)), or
        would be a group or host that is already in the inventory, C(all) or C(ungrouped), get their pool id
        appended (made safe the same way), with a warning.
    type: str
    default: vdi_pool_
  set_ansible_host:
    description:
      - Set C(ansible_host) to the desktop's address when the provider reports one.
      - Only an IP address or a DNS name is used; a loopback or unspecified address, C(localhost), or anything
        else is left out with a warning (it stays in C(vdi_address)).
    type: bool
    default: true
  wave_size:
    description:
      - Plan the waves of a rolling patch window (the playbook C(vdi.fleet.patch_window_rolling)) - at most this
        many desktops of each pool per wave, a count (V(10)) or a share of the pool (V(25%)), with the rule the
        M(vdi.fleet.patch_window_plan) module uses (balanced waves; desktops in maintenance first, idle next, busy
        last).
      - Each desktop gets C(vdi_wave) (its wave number) and C(vdi_wave_size), and joins the group
        O(wave_group_prefix) followed by its wave number. A host name never takes a wave group's name.
      - Empty plans no waves.
    type: str
    version_added: 0.2.0
  wave_group_prefix:
    description: Prefix of the wave groups (C(vdi_wave_1), C(vdi_wave_2)...).
    type: str
    default: vdi_wave_
    version_added: 0.2.0
  cache_file_mode:
    description:
      - Permissions of the cache file written by a file-based O(cache_plugin) (for example
        C(ansible.builtin.jsonfile)), as an octal string. The cache holds desktop names, addresses and user names.
      - The owner must keep read and write permission.
      - A cache file that is a symbolic link, belongs to another user or is writable by others is not read; the
        desktops are read from the provider and the cache is written anew.
    type: raw
    default: '0600'
    version_added: 0.2.0
notes:
  - Put the cache in a directory only the user running Ansible can read (for example C(~/.cache/vdi_fleet)),
    not in a shared one such as C(/tmp).
'''

EXAMPLES = r'''
# fleet.vdi_fleet.yml: every desktop of two Horizon pools, grouped by power state too
plugin: vdi.fleet.desktops
provider: horizon
endpoint: https://cs01.example.com
username: svc-ansible
domain: EXAMPLE
# password from VDI_FLEET_PASSWORD (for example an AWX credential injector)
pools: [Finance-Win11, Sales-Win11]
keyed_groups:
  - key: vdi_power_state
    prefix: power
groups:
  busy: vdi_sessions > 0
compose:
  patch_ring: "'early' if vdi_name.endswith('1') else 'late'"
cache: true
cache_plugin: ansible.builtin.jsonfile
# a directory of the user running Ansible: the cache holds desktop names, addresses and user names
cache_connection: ~/.cache/vdi_fleet
cache_timeout: 600

# The whole connection from the environment (VDI_FLEET_PROVIDER, VDI_FLEET_REGION, and
# ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET or VDI_FLEET_ACCESS_KEY / VDI_FLEET_SECRET_KEY):
# plugin: vdi.fleet.desktops

# A rolling patch over the inventory, 10 desktops at a time:
# - hosts: vdi_pool_Finance_Win11
#   serial: 10
#   max_fail_percentage: 20
#   gather_facts: false
#   tasks:
#     - name: Maintenance on
#       vdi.fleet.desktop_maintenance:
#         desktops: ["{{ vdi_id }}"]
#       delegate_to: localhost
'''

import ipaddress
import os
import re
import stat
import unicodedata
import uuid

from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.vdi.fleet.plugins.module_utils.connection import (
    CONNECTION_OPTIONS, build_adapter, connection_argument_spec, resolve_connection)
from ansible_collections.vdi.fleet.plugins.module_utils.errors import VdiFleetError
from ansible_collections.vdi.fleet.plugins.module_utils.service import resolve_pool
from ansible_collections.vdi.fleet.plugins.module_utils.transport import HAS_REQUESTS
from ansible_collections.vdi.fleet.plugins.module_utils.window import plan_pool

try:
    # ansible-core 2.19 and later (data tagging): a string is templated only when it is tagged as trusted.
    from ansible.template import trust_as_template
except ImportError:
    trust_as_template = None
HAS_DATA_TAGGING = trust_as_template is not None
if HAS_DATA_TAGGING:
    wrap_var = None
else:
    # ansible-core up to 2.18: every string is templated unless it is wrapped as unsafe.
    from ansible.utils.unsafe_proxy import wrap_var

HOST_FIELDS = ('id', 'name', 'pool', 'pool_name', 'power_state', 'maintenance', 'sessions', 'address', 'users')
STRING_FIELDS = ('id', 'name', 'pool', 'pool_name', 'power_state', 'address', 'provider')

MAX_NAME_LENGTH = 255
# A letter or digit, then letters, digits, '_', '.', '-': usable in host patterns, --limit and on a command line.
_NAME = re.compile(r'[^\W_][\w.-]*\Z')
RESERVED_GROUPS = frozenset(('all', 'ungrouped'))
LOCAL_NAMES = frozenset(('localhost', 'localhost4', 'localhost6', 'ip6-localhost', 'ip6-loopback'))
_DNS_LABEL = re.compile(r'[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z')
MAX_WARNINGS = 20


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'vdi.fleet.desktops'

    # Everything this plugin sets comes from the provider: none of it may be templated (ansible-core 2.19+).
    trusted_by_default = False

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('.vdi_fleet.yml', '.vdi_fleet.yaml'))

    # ------------------------------------------------------------------ connection and provider data
    def _connection(self):
        """The connection options exactly as a module of the collection gets them.

        Options set in the file go through the modules' own argument spec: the same VDI_FLEET_* environment
        fallbacks, defaults, types and choices, then the same provider checks and vendor variables.
        """
        params = {}
        for key in CONNECTION_OPTIONS:
            value = self.get_option(key)
            if value is not None:
                params[key] = value
        result = ArgumentSpecValidator(connection_argument_spec()).validate(params)
        if result.error_messages:
            raise AnsibleError('vdi.fleet.desktops: %s' % '; '.join(result.error_messages))
        return resolve_connection(result.validated_parameters)

    def _fetch(self):
        if not HAS_REQUESTS:
            raise AnsibleError('The vdi.fleet.desktops inventory needs the Python library requests on the controller.')
        adapter = None
        try:
            conn = self._connection()
            adapter = build_adapter(conn)
            pools = self.get_option('pools') or []
            if pools:
                ids = []
                for p in pools:
                    ids.append(resolve_pool(adapter, p)['id'])
                desktops = adapter.list_desktops(pool_ids=ids)
            else:
                desktops = adapter.list_desktops()
            names = dict((p['id'], p['name']) for p in adapter.list_pools()) if any(
                not d.get('pool_name') for d in desktops) else {}
        except VdiFleetError as exc:
            raise AnsibleError('vdi.fleet.desktops: %s' % exc.msg)
        finally:
            if adapter is not None:
                adapter.close()
        out = []
        for d in desktops:
            rec = dict((k, d.get(k)) for k in HOST_FIELDS)
            rec['pool_name'] = rec['pool_name'] or names.get(rec['pool'])
            rec['provider'] = conn['provider']
            out.append(normalize_record(rec))
        return clean_records(out)

    # ------------------------------------------------------------------ cache
    def _cache_files(self, cache_key):
        """Files of a file-based cache plugin that hold this source's entry (none for other cache plugins)."""
        # The cache plugin's directory (the cache_connection option, or the cache plugin's own settings).
        directory = getattr(getattr(self._cache, '_plugin', None), '_cache_dir', None)
        if not directory or not os.path.isdir(directory):
            return []
        return [os.path.join(directory, n) for n in sorted(os.listdir(directory)) if n.endswith(cache_key)]

    def _cache_mode(self):
        value = self.get_option('cache_file_mode')
        try:
            if isinstance(value, bool):
                raise ValueError
            mode = value if isinstance(value, int) else int(str(value), 8)
        except (TypeError, ValueError):
            mode = -1
        if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600:
            raise AnsibleError('vdi.fleet.desktops: cache_file_mode %r is not an octal mode that lets the owner read and '
                               'write, for example "0600" (quote it in YAML).' % (value,))
        return mode

    def _read_cache(self, cache_key):
        """The cached desktops as plain, untrusted records; None when there is no usable entry."""
        for path in self._cache_files(cache_key):
            problem = cache_file_problem(path)
            if problem:
                self.display.warning('vdi.fleet.desktops: the cache file %s is not used: it %s. The desktops are read '
                                     'from the provider and the cache is written anew.' % (path, problem))
                return None
        try:
            value = self._cache[cache_key]
        except KeyError:
            return None
        except AnsibleError as exc:
            self.display.warning('vdi.fleet.desktops: the cache could not be read (%s); the desktops are read from the '
                                 'provider.' % exc)
            return None
        try:
            return clean_records(value)
        except (TypeError, ValueError) as exc:
            self.display.warning('vdi.fleet.desktops: the cached inventory is not valid (%s); the desktops are read from '
                                 'the provider and the cache is written anew.' % exc)
            return None

    def _write_cache(self, cache_key, desktops):
        mode = self._cache_mode()
        self._cache[cache_key] = desktops
        # Written now rather than after parse(), so that the file gets its mode at once.
        self.update_cache_if_changed()
        for path in self._cache_files(cache_key):
            try:
                if not os.path.islink(path):
                    os.chmod(path, mode)
            except OSError as exc:
                self.display.warning('vdi.fleet.desktops: could not set the mode of the cache file %s: %s' % (path, exc))

    # ------------------------------------------------------------------ hosts and groups
    def _waves(self, desktops):
        """``{desktop id: wave number}`` of the rolling window's plan (empty without wave_size)."""
        wave_size = self.get_option('wave_size')
        if not wave_size:
            return {}
        by_pool = {}
        for d in desktops:
            by_pool.setdefault(d.get('pool'), []).append(d)
        waves = {}
        try:
            for members in by_pool.values():
                _allowance, ordered, ends = plan_pool(members, wave_size)
                for k, end in enumerate(ends):
                    waves.update((did, k + 1) for did in ordered[(ends[k - 1] if k else 0):end])
        except VdiFleetError as exc:
            raise AnsibleError('vdi.fleet.desktops: %s' % exc.msg)
        return waves

    def _add_desktop(self, d, host, group, strict, wave=None):
        """One desktop as host ``host``; every value handed to Ansible is wrapped as untrusted."""
        host = untrusted(host)
        self.inventory.add_host(host)
        hostvars = dict(('vdi_' + k, untrusted(v)) for k, v in d.items())
        if wave is not None:
            # planned here from the configuration, not provider data
            hostvars.update(vdi_wave=wave, vdi_wave_size=untrusted(self.get_option('wave_size')))
            self.inventory.add_child(self.inventory.add_group('%s%d' % (self.get_option('wave_group_prefix'), wave)), host)
        for key, value in hostvars.items():
            self.inventory.set_variable(host, key, value)
        if self.get_option('set_ansible_host') and d.get('address') and not address_problem(d['address']):
            self.inventory.set_variable(host, 'ansible_host', untrusted(d['address']))
        if group:
            self.inventory.add_child(self.inventory.add_group(untrusted(group)), host)
        self._set_composite_vars(self.get_option('compose'), hostvars, host, strict=strict)
        self._add_host_to_composed_groups(self.get_option('groups'), hostvars, host, strict=strict)
        self._add_host_to_keyed_groups(self.get_option('keyed_groups'), hostvars, host, strict=strict)

    def _constructed_names(self):
        """What is known of the groups keyed_groups and groups make, without evaluating anything.

        Returns the names known in advance (the keys of groups, static parent groups), the prefixes every other
        name starts with, and whether some name can be anything (then only a scratch pass tells).
        """
        static = set()
        prefixes = []
        unknown = False
        for name in self.get_option('groups') or {}:
            static.update((name, self._sanitize_group_name(name)))
        for keyed in self.get_option('keyed_groups') or []:
            if not isinstance(keyed, dict):
                continue
            prefix = keyed.get('prefix', '') or ''
            separator = keyed.get('separator', '_')
            separator = '_' if separator is None else separator
            if prefix == '' and self.get_option('leading_separator') is False:
                separator = ''
            lead = prefix + separator
            parent = keyed.get('parent_group')
            if parent:
                if '{' in parent:
                    unknown = True
                else:
                    static.update((parent, self._sanitize_group_name(parent)))
            if not lead:
                unknown = True
            elif _NAME.match(lead[:1]):  # a lead no host name can start with ('_', '.', '-') needs no check
                prefixes.extend((lead, safe_group(lead)))
        return static, tuple(prefixes), unknown

    def _constructed_groups(self, desktops, groups, strict):
        """Names of the groups keyed_groups and groups make for these desktops, from a pass on a scratch inventory.

        The hosts of that pass have random names that no provider value can match.
        """
        real = self.inventory
        scratch = InventoryData()
        before = set(scratch.groups)
        self.inventory = scratch
        try:
            for d in desktops:
                self._add_desktop(d, 'vdi-fleet-%s' % uuid.uuid4().hex, groups.get(d.get('pool')), strict)
        finally:
            self.inventory = real
        return set(scratch.groups) - before - set(groups.values())

    def _populate(self, desktops):
        strict = self.get_option('strict')
        notes = []
        desktops = unique_desktops(desktops, notes)
        taken = set(self.inventory.hosts) | set(self.inventory.groups)
        pools = []
        seen = set()
        for d in desktops:
            if d.get('pool') and d['pool'] not in seen:
                seen.add(d['pool'])
                pools.append((d['pool'], d.get('pool_name')))
        groups = plan_pool_groups(pools, self.get_option('pool_group_prefix'), taken, notes)
        taken |= set(groups.values())
        waves = self._waves(desktops)
        taken |= set('%s%d' % (self.get_option('wave_group_prefix'), w) for w in set(waves.values()))
        # A host may not share its name with a group that keyed_groups or groups make.
        static, prefixes, unknown = self._constructed_names()
        taken |= static
        use_id = self.get_option('hostname') == 'id'
        name_notes = []
        names = plan_host_names(desktops, use_id, taken, name_notes)
        if unknown or any(n.startswith(prefixes) for n in names.values()):
            # Some host name may be such a group: learn the groups from a pass on a scratch inventory.
            taken |= self._constructed_groups(desktops, groups, strict)
            name_notes = []
            names = plan_host_names(desktops, use_id, taken, name_notes)
        notes.extend(name_notes)
        if self.get_option('set_ansible_host'):
            for d in desktops:
                problem = d.get('address') and names.get(d['id']) and address_problem(d['address'])
                if problem:
                    notes.append('desktop %s: its address %s is not used as ansible_host: it %s.'
                                 % (quote(d['id']), quote(d['address']), problem))
        for d in desktops:
            host = names.get(d['id'])
            if host:
                self._add_desktop(d, host, groups.get(d.get('pool')), strict, waves.get(d['id']))
        for note in notes[:MAX_WARNINGS]:
            self.display.warning('vdi.fleet.desktops: %s' % note)
        if len(notes) > MAX_WARNINGS:
            self.display.warning('vdi.fleet.desktops: %d more desktops or pools were renamed or left out in the same way.'
                                 % (len(notes) - MAX_WARNINGS))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        if self.get_option('cache'):
            self._cache_mode()  # a wrong cache_file_mode stops before any request
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        desktops = None
        if use_cache:
            desktops = self._read_cache(cache_key)
            if desktops is None:
                update_cache = True
        if desktops is None:
            desktops = self._fetch()
        # Populated first: a result that cannot be turned into an inventory is never cached.
        self._populate(desktops)
        if update_cache:
            self._write_cache(cache_key, desktops)


# ---------------------------------------------------------------------- helpers (no Ansible state)
def plain(value):
    """``value`` rebuilt from plain Python types: no data tag (trust, origin) and no unsafe wrapper survives.

    Raises TypeError for anything that is not JSON-like data.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)  # an exact str, whatever str subclass carried it
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, dict):
        return dict((plain(k), plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    raise TypeError('unexpected value of type %s' % type(value).__name__)


def untrusted(value):
    """``value`` as data Ansible never evaluates as a template, on every supported ansible-core.

    2.19 and later template only strings tagged as trusted (``ansible.template.trust_as_template``): the plain
    rebuild drops every tag, including a trust tag that came in with a cache file. Earlier releases template
    every string unless it is wrapped as unsafe: ``wrap_var`` does that, recursively.
    """
    value = plain(value)
    if HAS_DATA_TAGGING:
        return value
    return wrap_var(value)


def quote(value):
    """A provider string for a message: quoted, control characters escaped."""
    return repr(plain(value)) if isinstance(value, str) else repr(value)


def normalize_record(rec):
    """A desktop record from an adapter with the types the inventory expects (text fields as text)."""
    out = dict(rec)
    for key in STRING_FIELDS:
        value = out.get(key)
        if value is not None and not isinstance(value, str):
            out[key] = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    users = out.get('users') or []
    out['users'] = [str(u) for u in users if isinstance(u, (str, int))] if isinstance(users, list) else []
    if not isinstance(out.get('sessions'), int) or isinstance(out.get('sessions'), bool):
        out['sessions'] = 0
    if out.get('maintenance') is not None and not isinstance(out.get('maintenance'), bool):
        out['maintenance'] = None
    return out


def clean_records(records):
    """Desktop records (from the provider or the cache) as plain data, checked field by field.

    Raises ValueError or TypeError when the data is not a list of desktop records.
    """
    if not isinstance(records, list):
        raise ValueError('a list of desktops was expected, not %s' % type(records).__name__)
    out = []
    for n, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise ValueError('entry %d is not a desktop record' % n)
        rec = plain(rec)
        unknown = sorted(set(rec) - set(HOST_FIELDS) - set(('provider',)))
        if unknown:
            raise ValueError('entry %d has unknown fields %s' % (n, ', '.join(unknown)))
        for key in STRING_FIELDS:
            if rec.get(key) is not None and not isinstance(rec[key], str):
                raise ValueError('entry %d: %s is not text' % (n, key))
        if not rec.get('id'):
            raise ValueError('entry %d has no id' % n)
        if rec.get('maintenance') is not None and not isinstance(rec['maintenance'], bool):
            raise ValueError('entry %d: maintenance is not a boolean' % n)
        if not isinstance(rec.get('sessions', 0), int) or isinstance(rec.get('sessions'), bool):
            raise ValueError('entry %d: sessions is not a number' % n)
        if not isinstance(rec.get('users', []), list) or not all(isinstance(u, str) for u in rec.get('users', [])):
            raise ValueError('entry %d: users is not a list of names' % n)
        out.append(dict((k, rec.get(k)) for k in HOST_FIELDS + ('provider',)))
    return out


def cache_file_problem(path):
    """Why a cache file must not be read (None when it may)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return 'is a symbolic link'
    if not stat.S_ISREG(st.st_mode):
        return 'is not a regular file'
    if hasattr(os, 'geteuid') and st.st_uid != os.geteuid():
        return 'belongs to another user'
    if st.st_mode & 0o022:
        return 'is writable by others (mode %s)' % oct(stat.S_IMODE(st.st_mode))
    return None


def is_local(name):
    """True for names and addresses that mean this machine: localhost and its variants, loopback, unspecified."""
    folded = unicodedata.normalize('NFKC', name).casefold().rstrip('.')
    if folded.split('.')[0] in LOCAL_NAMES or folded.endswith('.localhost'):
        return True
    try:
        address = ipaddress.ip_address(folded.strip('[]'))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def name_problem(name):
    """Why ``name`` cannot be a host name of this inventory by itself (None when it can)."""
    if not isinstance(name, str) or not name:
        return 'is empty'
    if len(name) > MAX_NAME_LENGTH:
        return 'is longer than %d characters' % MAX_NAME_LENGTH
    if not _NAME.match(name):
        return 'has characters other than letters, digits, ".", "-" and "_", or does not start with a letter or digit'
    if unicodedata.normalize('NFKC', name).casefold() in RESERVED_GROUPS:
        return 'is reserved'
    if is_local(name):
        return 'means the Ansible controller (localhost)'
    return None


def address_problem(address):
    """Why ``address`` cannot be ansible_host (None when it can): an IP address or a DNS name, not this machine."""
    if not isinstance(address, str) or not address:
        return 'is empty'
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if ip is None:
        labels = address.rstrip('.').split('.')
        if len(address) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
            return 'is neither an IP address nor a DNS name'
    if is_local(address):
        return 'means the Ansible controller'
    return None


def safe_group(name):
    """A pool group name: every character other than A-Z, a-z, 0-9 and '_' becomes '_'."""
    return re.sub(r'[^A-Za-z0-9_]', '_', name)


def unique_desktops(desktops, notes):
    """The desktops, each id once (a listing may repeat a desktop); a note per repeated id."""
    seen = {}
    out = []
    for d in desktops:
        if d['id'] in seen:
            seen[d['id']] += 1
            continue
        seen[d['id']] = 1
        out.append(d)
    for desktop_id, count in seen.items():
        if count > 1:
            notes.append('desktop %s was listed %d times; it is one host.' % (quote(desktop_id), count))
    return out


def plan_pool_groups(pools, prefix, taken, notes):
    """``{pool id: group name}`` for ``pools`` (``(id, name)`` pairs, in listing order).

    A group name shared by several pools, or one that is ``all``/``ungrouped`` or in ``taken`` (hosts and groups
    already in the inventory), would merge desktops that have nothing in common: each such pool gets its id
    appended instead, with a note; a pool that still has no unique group gets none.
    """
    base = dict((pool_id, safe_group(prefix + (name or pool_id))) for pool_id, name in pools)
    counts = {}
    for group in base.values():
        counts[group] = counts.get(group, 0) + 1
    out = {}
    for pool_id, name in pools:
        group = base[pool_id]
        if counts[group] > 1:
            reason = 'is also the group of %d other pool(s)' % (counts[group] - 1)
        elif group in RESERVED_GROUPS or group in taken:
            reason = 'is reserved or already a host or group of the inventory'
        else:
            out[pool_id] = group
            continue
        alternative = safe_group('%s_%s' % (group, pool_id))
        if alternative in taken or alternative in base.values() or alternative in out.values() \
                or alternative in RESERVED_GROUPS:
            notes.append('pool %s (name %s) has no group: its group name %s %s.'
                         % (quote(pool_id), quote(name or ''), quote(group), reason))
            continue
        notes.append('pool %s (name %s): its group name %s %s; the group is %s.'
                     % (quote(pool_id), quote(name or ''), quote(group), reason, alternative))
        out[pool_id] = alternative
    return out


def plan_host_names(desktops, use_id, taken, notes):
    """``{desktop id: host name}``; a desktop without a usable, unique name is named by its id (or left out).

    ``taken``: names already in the inventory (hosts and groups of other sources, this source's pool groups).
    The rules depend only on the listing, never on its order: desktops that share a name are all named by their
    ids, none of them keeps the name.
    """
    ids = set(d['id'] for d in desktops)
    out = {}
    if not use_id:
        counts = {}
        for d in desktops:
            if d.get('name'):
                counts[d['name']] = counts.get(d['name'], 0) + 1
    for d in desktops:
        desktop_id = d['id']
        if not use_id:
            name = d.get('name')
            problem = name_problem(name)
            if problem is None:
                if counts[name] > 1:
                    problem = 'is shared by %d desktops' % counts[name]
                elif name != desktop_id and name in ids:
                    problem = 'is the id of another desktop'
                elif name in taken:
                    problem = 'is already the name of a host or group (of another source, a pool, keyed_groups or groups)'
            if problem is None:
                out[desktop_id] = name
                continue
        id_problem = name_problem(desktop_id)
        if id_problem is None and desktop_id in taken:
            id_problem = 'is already a host or group of the inventory'
        if use_id and id_problem:
            notes.append('desktop %s is left out: its id %s.' % (quote(desktop_id), id_problem))
        elif use_id:
            out[desktop_id] = desktop_id
        elif id_problem:
            notes.append('desktop %s is left out: its name %s %s, and its id %s.'
                         % (quote(desktop_id), quote(name or ''), problem, id_problem))
        else:
            notes.append('desktop %s: its name %s %s; the host is named by its id.'
                         % (quote(desktop_id), quote(name or ''), problem))
            out[desktop_id] = desktop_id
    return out
