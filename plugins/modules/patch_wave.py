#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: patch_wave
short_description: Begin or end one wave of a patch window
version_added: 0.2.0
description:
  - One phase of a wave of the window planned by M(vdi.fleet.patch_window_plan), with one connection to the
    provider. The role P(vdi.fleet.patch_window#role) calls it; the window's options come from its journal.
  - O(phase=begin) takes the wave within its pool's out-of-service allowance (less the desktops quarantined so far),
    enters maintenance, powers on the desktops that are off or suspended where the provider can (else leaves them
    out, reported skipped), sends the countdown messages to the users still connected at the planned minutes
    (waiting in between, inside the task), waits for the connected users to leave, and applies the logoff policy to
    every session left (logging off once more what got no usable answer). A connected user who got none of the
    countdown messages keeps the desktop out of the window unless the plan's unwarned policy is V(proceed).
    Returns the desktops to patch in RV(active) and RV(wave_desktops).
  - O(phase=end) records the patch step, restarts the patched desktops and waits (once more where the call got no
    usable answer), brings desktops that were off or suspended back to that state, verifies the power state from
    what was read back, releases the healthy desktops (maintenance off, read back) and keeps the failed ones in
    maintenance (quarantine), then checks the failure budget.
  - What a provider can do (power on, log off, show a notice with the logoff) is asked from the provider's adapter.
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  report_path:
    description: The report path the window was planned with (its journal is beside it).
    type: path
    required: true
  phase:
    description: V(begin) or V(end) of the wave.
    type: str
    choices: [begin, end]
    required: true
  slot:
    description:
      - The wave slot (RV(vdi.fleet.patch_window_plan#module:slots[].index)). Required for O(phase=end); for
        O(phase=begin) required unless O(desktops) is given.
    type: int
  desktops:
    description:
      - Rolling mode, O(phase=begin) - the ids of the desktops of this batch of the play; RV(slot) then numbers the
        wave.
    type: list
    elements: str
  patch_failed:
    description: O(phase=end) - ids of the desktops the patch tasks marked failed (quarantined, not restarted).
    type: list
    elements: str
    default: []
  patch_error:
    description: O(phase=end) - the patch tasks failed as a whole with this message; every desktop of the wave failed.
    type: str
  patched:
    description:
      - Rolling mode, O(phase=end) - ids of the desktops whose patch tasks ran to their end; every other active
        desktop of the wave failed its patch (quarantined alone).
    type: list
    elements: str
  result:
    description:
      - Which desktops of the wave RV(desktops) lists - V(full) every one, V(changed) those with a change or a failure,
        V(summary) only the failed ones. The journal and the report always keep every desktop.
    type: str
    choices: [full, changed, summary]
    default: changed
extends_documentation_fragment:
  - vdi.fleet.connection
  - vdi.fleet.connection.ATTRIBUTES
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The plan of the wave - what would be sent to whom; no write request, no wait.
  diff_mode:
    support: none
  platform:
    platforms: all
    description: Runs on the controller, under the same C(ansible-playbook) process as the plan.
seealso:
  - ref: ansible_collections.vdi.fleet.docsite.patch_window_guide
    description: The patch-window guide - the role vdi.fleet.patch_window and its two modes.
  - module: vdi.fleet.patch_window_plan
  - module: vdi.fleet.patch_window_report
'''

EXAMPLES = r'''
- name: Begin wave 3
  vdi.fleet.patch_wave:
    report_path: /var/lib/vdi/window.json
    phase: begin
    slot: 3
  register: wave

- name: Patch the wave's desktops (here through a software distribution system)
  ansible.builtin.uri:
    url: https://sccm.example.com/api/deploy
    method: POST
    body_format: json
    body: {targets: "{{ wave.wave_desktops | map(attribute='name') | list }}"}
  when: wave.active | length > 0

- name: End wave 3
  vdi.fleet.patch_wave:
    report_path: /var/lib/vdi/window.json
    phase: end
    slot: 3
'''

RETURN = r'''
slot:
  description: The wave's slot.
  returned: always
  type: int
active:
  description: Ids of the desktops to patch (after O(phase=begin)), or that were patched (after O(phase=end)).
  returned: always
  type: list
  elements: str
wave_desktops:
  description: The active desktops - C(id), C(name), C(pool), C(address).
  returned: always
  type: list
  elements: dict
desktops:
  description:
    - One entry per desktop of the wave (as O(result) selects them) - C(id), C(name), C(pool), C(active), C(left)
      (V(skipped) or V(failed) when it left the wave), C(outcome) (V(done), V(skipped), V(refused), V(unknown)), C(msg)
      and C(steps) (per step C(outcome), C(result), C(msg)).
  returned: always
  type: list
  elements: dict
remaining:
  description: Per pool id, the desktops not taken by a wave yet.
  returned: always
  type: dict
stopped:
  description: Whether the failure budget is spent (later waves take nothing).
  returned: always
  type: bool
catch_up:
  description:
    - Rolling mode - the desktops earlier batches passed over because quarantined desktops used up their pool's
      out-of-service allowance, for a play after the waves to take - C(hosts) (inventory host names, in batch order)
      and C(batches) (the size of each batch, as the play's C(serial); each batch fits the room of every pool).
      Empty lists in the localhost mode, when nothing was passed over, and once the failure budget is spent.
  returned: always
  type: dict
  contains:
    hosts:
      description: Inventory host names.
      type: list
      elements: str
    batches:
      description: Batch sizes.
      type: list
      elements: int
note:
  description: Why the wave took nothing, when it did not.
  returned: always
  type: str
summary:
  description: Counts - C(desktops) of the wave, C(active), C(left), C(quarantined).
  returned: always
  type: dict
'''

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.journal import Journal, journal_path
from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.window import Window


def open_window(vm, adapter):
    path = journal_path(vm.params['report_path'], vm.check_mode)
    journal = Journal.load(path)
    if journal is None or journal['finished']:
        raise ConfigError('No window is planned in %s: run vdi.fleet.patch_window_plan with report_path %s first.'
                          % (path, vm.params['report_path']))
    return Window(adapter, journal, check_mode=vm.check_mode)


def main():
    vm = VdiFleetModule(
        argument_spec=dict(
            report_path=dict(type='path', required=True),
            phase=dict(type='str', required=True, choices=['begin', 'end']),
            slot=dict(type='int'),
            desktops=dict(type='list', elements='str'),
            patch_failed=dict(type='list', elements='str', default=[]),
            patch_error=dict(type='str'),
            patched=dict(type='list', elements='str'),
            result=dict(type='str', default='changed', choices=['full', 'changed', 'summary']),
        ),
        selection=False,
        results=False,
        required_if=[('phase', 'end', ('slot',))],
    )
    p = vm.params
    if p['phase'] == 'begin' and p['slot'] is None and p['desktops'] is None:
        vm.fail('phase=begin needs slot (localhost mode) or desktops (rolling mode).')

    def work(adapter):
        window = open_window(vm, adapter)
        if p['phase'] == 'begin':
            return window.begin(slot=p['slot'] if p['desktops'] is None else None, desktops=p['desktops'])
        return window.end(p['slot'], patch_failed=p['patch_failed'], patch_error=p['patch_error'],
                          patched=p['patched'])

    result = vm.run(work)
    entries = result.pop('desktops')
    for e in entries:
        e['changed'] = e['outcome'] == 'done'
        e['failed'] = e['outcome'] in ('refused', 'unknown')
    # a desktop that failed is recorded in the journal and the report; the window goes on
    vm.exit_desktops(entries, summary=result['summary'], fail_on_error=False, slot=result['slot'],
                     active=result['active'], wave_desktops=result['wave_desktops'], remaining=result['remaining'],
                     stopped=result['stopped'], note=result['note'], catch_up=result['catch_up'])


if __name__ == '__main__':
    main()
