#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: desktop_pool_power
short_description: Start, stop, restart or hibernate desktop pools and desktops
version_added: 0.1.0
description:
  - Brings the selected desktops of a Horizon, Huawei Cloud Workspace or Alibaba Cloud EDS fleet to a power state
    and reports, per desktop, the state before and the state read back after.
  - V(powered_on), V(powered_off) and V(suspended) leave desktops that are already there alone (C(changed=false)).
    V(restarted) acts on B(every selected desktop that is powered on) and reports the others as unchanged.
  - Desktops in a transition (starting, stopping, rebooting) are waited for before deciding, never acted on blindly.
  - Huawei Cloud - when every desktop of a whole selected pool needs the same operation, one pool action is sent and
    its job (with one sub-job per desktop) is followed; otherwise batch actions of up to 100 desktops on only the
    desktops that need it.
  - Alibaba Cloud - batch C(StartDesktops), C(StopDesktops), C(RebootDesktops), C(HibernateDesktops) or
    C(WakeupDesktops) calls of up to 100 desktops on only the desktops that need it, then the desktops are polled
    until they settle.
  - Horizon - V(restarted) (guest restart, or reset with O(force)) and V(powered_off) (guest shutdown, Horizon 2406 and
    later), with the request body the server's version expects. Horizon's REST API cannot power a machine on or
    suspend it, so V(powered_on) and V(suspended) fail before any request; use the vCenter modules
    (M(vmware.vmware.vm_powerstate)) or the pool's power policy for those. From Horizon 2412 a restart without
    O(force) is refused for machines that still have sessions; log them off first (M(vdi.fleet.session_logoff)) or
    use O(force).
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  state:
    description:
      - Power state to reach, in the vocabulary the results report in RV(desktops[].after.power_state) -
        V(powered_on), V(powered_off), V(suspended) (hibernated, on the clouds), or V(restarted) (a restart of every
        powered-on desktop, which ends powered on).
      - V(started), V(stopped) and V(hibernated) are the earlier names of V(powered_on), V(powered_off) and
        V(suspended), and are still accepted.
    type: str
    required: true
    choices: [powered_on, powered_off, suspended, restarted, hibernated, started, stopped]
  force:
    description:
      - Hard instead of soft operation where the provider has one - Huawei C(type=HARD), Horizon reset instead of
        restart (and C(forceOperation) on shutdown from 2412). Alibaba Cloud has no forced variant; the option is
        ignored there.
    type: bool
    default: false
  wait:
    description:
      - Wait until every acted-on desktop reaches the target state or its job ends.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait, both for desktops already in a transition before deciding and for the operation itself.
        A desktop that has not reached the target state by then is reported as failed.
    type: int
    default: 600
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
    details: Shows the power state before and after for every desktop acted on.
  platform:
    platforms: all
    description: Runs on the controller (or wherever it is delegated) and talks to the provider API over HTTPS.
seealso:
  - module: vdi.fleet.desktop_maintenance
  - module: vdi.fleet.desktop_info
'''

EXAMPLES = r'''
- name: Restart every powered-on desktop of a Horizon pool after patching
  vdi.fleet.desktop_pool_power:
    provider: horizon
    endpoint: https://cs01.example.com
    username: svc-ansible
    password: "{{ horizon_password }}"
    domain: EXAMPLE
    pool: Finance-Win11
    state: restarted
    wait_timeout: 900

- name: Start a whole Huawei Cloud pool (one pool action, job followed to the end)
  vdi.fleet.desktop_pool_power:
    provider: huaweicloud
    region: cn-north-4
    access_key: "{{ hw_ak }}"
    secret_key: "{{ hw_sk }}"
    pool: wks-finance
    state: powered_on

- name: Hibernate two Alibaba Cloud desktops without waiting
  vdi.fleet.desktop_pool_power:
    provider: alicloud
    region: cn-hangzhou
    access_key: "{{ ali_ak }}"
    secret_key: "{{ ali_sk }}"
    desktops: [ecd-0a1b2c3d4e5f6g7h8, FIN-0042]
    state: suspended
    wait: false
'''

RETURN = r'''
desktops:
  description: One entry per selected desktop, each exactly once.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Provider id (null for a selection entry that matched nothing).
      type: str
    name:
      description: Desktop name.
      type: str
    pool:
      description: Pool id.
      type: str
    changed:
      description: Whether an operation was run on this desktop (or would be, in check mode).
      type: bool
    failed:
      description: Whether the desktop did not reach the target state, with the reason in RV(desktops[].msg).
      type: bool
    outcome:
      description:
        - The result in one vocabulary - V(done) (changed and read back, or would change in check mode),
          V(unchanged), V(refused) (the provider answered with a failure), V(unknown) (no usable answer; the
          provider may or may not have acted), V(skipped) (not attempted).
      type: str
      sample: done
    msg:
      description: What happened, with the provider's reason on failure.
      type: str
    before:
      description: State before the task.
      type: dict
      contains:
        power_state:
          description: One of V(powered_on), V(powered_off), V(suspended), V(transitioning), V(unknown).
          type: str
    after:
      description: State read back after the task (predicted in check mode).
      type: dict
      contains:
        power_state:
          description: Power state after the task.
          type: str
jobs:
  description: Provider jobs that were followed (Huawei Cloud pool and batch actions), with their final status.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Provider job id.
      type: str
    action:
      description: The operation (start, stop, restart, hibernate, wakeup).
      type: str
    scope:
      description: V(pool) for a pool action, V(desktops) for a batch action.
      type: str
    status:
      description: V(success), V(failed), or V(pending) when not waited for or timed out.
      type: str
    message:
      description: The provider's failure reason, if any.
      type: str
summary:
  description: Counts over RV(desktops).
  returned: always
  type: dict
  sample: {total: 50, changed: 46, unchanged: 3, failed: 1}
'''

from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.service import (
    POWER_ALIASES, POWER_TARGETS, diff_of, ensure_power, select)


def main():
    vm = VdiFleetModule(
        argument_spec=dict(
            state=dict(type='str', required=True, choices=list(POWER_TARGETS) + sorted(POWER_ALIASES)),
            force=dict(type='bool', default=False),
            wait=dict(type='bool', default=True),
            wait_timeout=dict(type='int', default=600),
        ),
        required_one_of=[('desktops', 'pool')],
    )
    p = vm.params
    jobs = []

    def work(adapter):
        reason = adapter.unsupported_power.get(POWER_ALIASES.get(p['state'], p['state']))
        if reason:
            vm.fail(reason)
        selection = select(adapter, desktops=p['desktops'], pool=p['pool'])
        entries, found = ensure_power(adapter, selection, p['state'], force=p['force'], check_mode=vm.check_mode,
                                      wait=p['wait'], wait_timeout=p['wait_timeout'])
        jobs.extend(found)
        return entries

    entries = vm.run(work)
    vm.exit_desktops(entries, diff=diff_of(entries, 'power_state'), jobs=jobs)


if __name__ == '__main__':
    main()
