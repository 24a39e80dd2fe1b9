#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: desktop_maintenance
short_description: Put virtual desktops into or out of maintenance mode
version_added: 0.1.0
description:
  - Puts the selected desktops of a Horizon, Huawei Cloud Workspace or Alibaba Cloud EDS fleet into maintenance
    mode, so that no new user session lands on them, or takes them out of it.
  - Reads the current state first and asks the provider to change only the desktops that differ, in batches of
    the API's maximum size. A second identical run reports C(changed=false) and sends no write request.
  - The state after the change is read back from the provider, not assumed.
  - Every selected desktop appears exactly once in RV(desktops). A desktop the provider refuses, or a name that
    matches nothing, is reported as failed with the reason while the others still converge; the task fails after
    reporting everything unless O(fail_on_error=false).
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  state:
    description:
      - V(present) puts the desktops into maintenance mode, V(absent) takes them out of it.
    type: str
    choices: [present, absent]
    default: present
  enforce:
    description:
      - Horizon only. Also act on held machines (C(enforce=true) query parameter; needs the FORENSICS privilege).
    type: bool
    default: false
  settle_timeout:
    description:
      - Seconds to keep reading back desktops whose change the provider accepted but does not show yet
        (Horizon applies maintenance asynchronously). A desktop still not changed then is reported as failed.
    type: int
    default: 120
extends_documentation_fragment:
  - vdi.fleet.connection
  - vdi.fleet.selection
  - vdi.fleet.selection.RESULTS
  - vdi.fleet.connection.ATTRIBUTES
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the current state and reports what would change; sends no write request.
  diff_mode:
    support: full
    details: Shows the maintenance flag before and after for every desktop that changes.
  platform:
    platforms: all
    description: Runs on the controller (or wherever it is delegated) and talks to the provider API over HTTPS.
seealso:
  - module: vdi.fleet.desktop_info
'''

EXAMPLES = r'''
- name: Put a whole Horizon pool into maintenance
  vdi.fleet.desktop_maintenance:
    provider: horizon
    endpoint: https://cs01.example.com
    username: svc-ansible
    password: "{{ horizon_password }}"
    domain: EXAMPLE
    pool: Finance-Win11
    state: present

- name: Take two Huawei Cloud desktops (one by id, one by name) out of maintenance
  vdi.fleet.desktop_maintenance:
    provider: huaweicloud
    region: cn-north-4
    access_key: "{{ hw_ak }}"
    secret_key: "{{ hw_sk }}"
    desktops:
      - 0b1e4c2a-9d6f-4a51-8c2e-3f1a2b3c4d5e
      - WKS-FIN-0042
    state: absent

- name: Set the connection once, then enter maintenance on an Alibaba desktop group
  module_defaults:
    group/vdi.fleet.provider:
      provider: alicloud
      region: cn-hangzhou
      access_key: "{{ ali_ak }}"
      secret_key: "{{ ali_sk }}"
  block:
    - name: Enter maintenance
      vdi.fleet.desktop_maintenance:
        pool: dg-finance
      register: maint

    - name: Show what changed
      ansible.builtin.debug:
        msg: "{{ maint.summary }}"
'''

RETURN = r'''
desktops:
  description: One entry per selected desktop, in selection order, each desktop exactly once.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Provider id of the desktop (null for a selection entry that matched nothing).
      type: str
      sample: 5ad23f43-5b2a-4d1f-9d0a-2f6a7d0c9b11
    name:
      description: Desktop name (or the selection entry that matched nothing).
      type: str
      sample: FIN-0042
    pool:
      description: Pool id of the desktop.
      type: str
    changed:
      description: Whether the maintenance flag of this desktop changed (or would, in check mode).
      type: bool
    failed:
      description: Whether this desktop could not be brought to the requested state.
      type: bool
    outcome:
      description:
        - The result in one vocabulary - V(done) (changed and read back, or would change in check mode),
          V(unchanged), V(refused) (the provider answered with a failure), V(unknown) (no usable answer; the
          provider may or may not have acted), V(skipped) (not attempted).
      type: str
      sample: done
    msg:
      description: What happened to this desktop, with the provider's reason on failure.
      type: str
      sample: entered maintenance
    before:
      description: State before the task.
      type: dict
      contains:
        maintenance:
          description: Maintenance flag before the task.
          type: bool
    after:
      description: State read back from the provider after the task (predicted in check mode).
      type: dict
      contains:
        maintenance:
          description: Maintenance flag after the task.
          type: bool
summary:
  description: Counts over RV(desktops).
  returned: always
  type: dict
  contains:
    total:
      description: Desktops reported.
      type: int
    changed:
      description: Desktops changed.
      type: int
    unchanged:
      description: Desktops already in the requested state.
      type: int
    failed:
      description: Desktops that failed.
      type: int
  sample: {total: 40, changed: 38, unchanged: 1, failed: 1}
'''

from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.service import diff_of, ensure_maintenance, select


def main():
    vm = VdiFleetModule(
        argument_spec=dict(
            state=dict(type='str', default='present', choices=['present', 'absent']),
            enforce=dict(type='bool', default=False),
            settle_timeout=dict(type='int', default=120),
        ),
        required_one_of=[('desktops', 'pool')],
    )
    p = vm.params

    def work(adapter):
        if p['enforce'] and not adapter.enforce_supported:
            vm.fail('enforce applies to Horizon held machines only; remove it for provider %s.' % adapter.name)
        selection = select(adapter, desktops=p['desktops'], pool=p['pool'])
        return ensure_maintenance(adapter, selection, p['state'] == 'present', check_mode=vm.check_mode,
                                  enforce=p['enforce'], settle_timeout=p['settle_timeout'])

    entries = vm.run(work)
    vm.exit_desktops(entries, diff=diff_of(entries, 'maintenance'))


if __name__ == '__main__':
    main()
