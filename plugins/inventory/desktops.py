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
  - Uses the same connection options and environment variables as the modules of the collection.
  - Files must end in C(.vdi_fleet.yml) or C(.vdi_fleet.yaml).
  - Desktops as hosts allow C(serial)-based rolling runs over a fleet, with C(max_fail_percentage) per batch;
    run the collection's modules for each host with C(delegate_to) C(localhost) and C(desktops) set to
    C({{ vdi_id }}).
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
    type: str
    choices: [name, id]
    default: name
  pool_group_prefix:
    description:
      - Prefix of the group made for each pool (followed by the pool name, made safe for a group name).
    type: str
    default: vdi_pool_
  set_ansible_host:
    description:
      - Set C(ansible_host) to the desktop's address when the provider reports one.
    type: bool
    default: true
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
cache_connection: /tmp/vdi_fleet_cache
cache_timeout: 600

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

import re

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.vdi.fleet.plugins.module_utils.connection import (
    CONNECTION_OPTIONS, build_adapter, resolve_connection)
from ansible_collections.vdi.fleet.plugins.module_utils.errors import VdiFleetError
from ansible_collections.vdi.fleet.plugins.module_utils.service import resolve_pool
from ansible_collections.vdi.fleet.plugins.module_utils.transport import HAS_REQUESTS

HOST_FIELDS = ('id', 'name', 'pool', 'pool_name', 'power_state', 'maintenance', 'sessions', 'address', 'users')


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'vdi.fleet.desktops'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('.vdi_fleet.yml', '.vdi_fleet.yaml'))

    def _fetch(self):
        if not HAS_REQUESTS:
            raise AnsibleError('The vdi.fleet.desktops inventory needs the Python library requests on the controller.')
        params = dict((k, self.get_option(k)) for k in CONNECTION_OPTIONS)
        adapter = None
        try:
            conn = resolve_connection(params)
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
            out.append(rec)
        return out

    def _populate(self, desktops):
        strict = self.get_option('strict')
        prefix = self.get_option('pool_group_prefix')
        use_id = self.get_option('hostname') == 'id'
        for d in desktops:
            host = d['id'] if use_id else (d['name'] or d['id'])
            self.inventory.add_host(host)
            hostvars = dict(('vdi_' + k, v) for k, v in d.items())
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            if self.get_option('set_ansible_host') and d.get('address'):
                self.inventory.set_variable(host, 'ansible_host', d['address'])
            if d.get('pool'):
                group = self.inventory.add_group(_safe(prefix + (d.get('pool_name') or d['pool'])))
                self.inventory.add_child(group, host)
            self._set_composite_vars(self.get_option('compose'), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), hostvars, host, strict=strict)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        desktops = None
        if use_cache:
            try:
                desktops = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if desktops is None:
            desktops = self._fetch()
        if update_cache:
            self._cache[cache_key] = desktops
        self._populate(desktops)


def _safe(name):
    return re.sub(r'[^A-Za-z0-9_]', '_', name)
