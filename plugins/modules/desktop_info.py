#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: desktop_info
short_description: List virtual desktops with their maintenance, power and session state
version_added: 0.1.0
description:
  - Returns the desktops of a Horizon, Huawei Cloud Workspace or Alibaba Cloud EDS fleet in one normalized shape,
    whatever the provider.
  - Selects by O(desktops) and/or O(pool) like M(vdi.fleet.desktop_maintenance); with no selection it returns every
    desktop the credentials can see.
  - Read-only. Lists in pages of the API's maximum size.
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  gather_sessions:
    description:
      - Also return the user sessions of each desktop in RV(desktops[].session_list).
    type: bool
    default: false
  include_raw:
    description:
      - Include the provider's own record of each desktop in RV(desktops[].raw).
    type: bool
    default: true
  fail_on_missing:
    description:
      - Fail when an entry of O(desktops) matches no desktop. With V(false) such entries are only listed in
        RV(missing).
    type: bool
    default: true
extends_documentation_fragment:
  - vdi.fleet.connection
  - vdi.fleet.selection
  - vdi.fleet.connection.ATTRIBUTES
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: all
    description: Runs on the controller (or wherever it is delegated) and talks to the provider API over HTTPS.
seealso:
  - module: vdi.fleet.desktop_maintenance
'''

EXAMPLES = r'''
- name: Every desktop of a Horizon pool, with sessions
  vdi.fleet.desktop_info:
    provider: horizon
    endpoint: https://cs01.example.com
    username: svc-ansible
    password: "{{ horizon_password }}"
    domain: EXAMPLE
    pool: Finance-Win11
    gather_sessions: true
  register: finance

- name: Desktops still in maintenance
  ansible.builtin.debug:
    msg: "{{ finance.desktops | selectattr('maintenance') | map(attribute='name') | list }}"

- name: Everything an Alibaba Cloud account can see, without the raw records
  vdi.fleet.desktop_info:
    provider: alicloud
    region: cn-hangzhou
    include_raw: false
  register: fleet
'''

RETURN = r'''
desktops:
  description: The selected desktops, normalized.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Provider id.
      type: str
    name:
      description: Desktop name.
      type: str
    pool:
      description: Pool id (null for a desktop outside any pool).
      type: str
    pool_name:
      description: Pool name, where known.
      type: str
    maintenance:
      description: Whether the desktop is in maintenance mode.
      type: bool
    power_state:
      description: Power state in one vocabulary for every provider.
      type: str
      choices: [powered_on, powered_off, suspended, transitioning, unknown]
    sessions:
      description: Number of user sessions (connected or disconnected) on the desktop.
      type: int
    address:
      description: IP address or DNS name, where the provider reports one.
      type: str
    users:
      description: Users assigned to or using the desktop, where known.
      type: list
      elements: str
    session_list:
      description: The desktop's sessions, with O(gather_sessions=true).
      returned: when O(gather_sessions=true)
      type: list
      elements: dict
      contains:
        session_id:
          description: Session id (a provider-built id where the vendor has none).
          type: str
        user:
          description: User of the session.
          type: str
        state:
          description: Session state.
          type: str
          choices: [connected, disconnected, unknown]
        start_time:
          description: Session start, ISO 8601 UTC, where known.
          type: str
    raw:
      description: The provider's own record, with O(include_raw=true).
      returned: when O(include_raw=true)
      type: dict
missing:
  description: Entries of O(desktops) that matched no desktop, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{name: FIN-0999, msg: "no desktop with id or name 'FIN-0999'."}]
summary:
  description: Counts over the returned desktops.
  returned: always
  type: dict
  sample: {total: 120, maintenance: 3, powered_on: 110, powered_off: 8, suspended: 1, transitioning: 1, unknown: 0,
           with_sessions: 64}
'''

from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import POWER_STATES
from ansible_collections.vdi.fleet.plugins.module_utils.service import select, whole_pool_ids


def main():
    vm = VdiFleetModule(
        argument_spec=dict(
            gather_sessions=dict(type='bool', default=False),
            include_raw=dict(type='bool', default=True),
            fail_on_missing=dict(type='bool', default=True),
        ),
        results=False,
    )
    p = vm.params

    def work(adapter):
        selection = select(adapter, desktops=p['desktops'], pool=p['pool'], allow_all=True)
        desktops = selection.desktops
        if p['gather_sessions'] and desktops:
            by_desktop = {}
            for s in adapter.list_sessions(desktops, pool_ids=whole_pool_ids(selection), fresh=True):
                by_desktop.setdefault(s['desktop_id'], []).append(s)
            for d in desktops:
                d['session_list'] = [dict((k, v) for k, v in s.items() if k != 'raw' or p['include_raw'])
                                     for s in by_desktop.get(d['id'], [])]
        if not p['include_raw']:
            for d in desktops:
                d.pop('raw', None)
        return desktops, [{'name': entry, 'msg': msg} for entry, msg in selection.missing]

    desktops, missing = vm.run(work)
    summary = dict((state, sum(1 for d in desktops if d['power_state'] == state)) for state in POWER_STATES)
    summary.update(total=len(desktops), maintenance=sum(1 for d in desktops if d['maintenance']),
                   with_sessions=sum(1 for d in desktops if d['sessions']))
    result = dict(changed=False, desktops=desktops, missing=missing, summary=summary)
    if missing and p['fail_on_missing']:
        vm.fail('%d of the selected desktops were not found: %s' % (len(missing), '; '.join(m['msg'] for m in missing[:5])),
                **result)
    vm.exit(**result)


if __name__ == '__main__':
    main()
