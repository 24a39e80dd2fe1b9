#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: patch_window_report
short_description: Close a patch window and write its JSON report
version_added: 0.2.0
description:
  - The last phase of the window planned by M(vdi.fleet.patch_window_plan) - reads the final state of every pool of
    the window once, gives every desktop its status, writes the JSON report (mode 0600) at the plan's
    O(report_path), marks the journal finished and releases the pools' locks.
  - 'Status of a desktop: V(released) (patched and back in service), V(quarantined) (left in maintenance after a
    failure, or the provider refused the release), V(skipped) (left out of this window by a policy, back in
    service), V(failed) (a step failed but the desktop is back in service), V(not_reached) (no wave took it - the
    window stopped early or quarantined desktops used up its pool''s allowance).'
  - A read that fails (throttling, server errors) is asked again with backoff for up to five minutes; the report is
    written in any case, with the final state unknown where it could not be read.
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  report_path:
    description: The report path the window was planned with.
    type: path
    required: true
extends_documentation_fragment:
  - vdi.fleet.connection
  - vdi.fleet.connection.ATTRIBUTES
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Writes the plan's report (the GitOps plan a reviewer reads); sends no write request.
  diff_mode:
    support: none
  platform:
    platforms: all
    description: Runs on the controller, under the same C(ansible-playbook) process as the plan.
seealso:
  - ref: ansible_collections.vdi.fleet.docsite.patch_window_guide
    description: The patch-window guide - the role vdi.fleet.patch_window and its two modes.
  - module: vdi.fleet.patch_window_plan
'''

EXAMPLES = r'''
- name: Close the window
  vdi.fleet.patch_window_report:
    report_path: /var/lib/vdi/window.json
  register: closed

- name: Publish the summary for AWX
  ansible.builtin.set_stats:
    data:
      vdi_patch_window: "{{ closed.stats }}"
'''

RETURN = r'''
summary:
  description:
    - Counts of the statuses (C(released), C(quarantined), C(skipped), C(failed), C(not_reached)), and C(check_mode),
      C(pools), C(desktops), C(waves), C(stopped_early), C(report) (path), C(warnings) (countdown messages
      C(delivered) and C(failed)).
  returned: always
  type: dict
stats:
  description: What the role publishes with C(set_stats) - C(summary), and the names of the C(quarantined) and C(failed) desktops.
  returned: always
  type: dict
report:
  description: Path of the JSON report.
  returned: always
  type: str
desktops:
  description: The report's records of the desktops that were not released (each with its steps and final state).
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.journal import Journal, journal_path
from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.window import Window, stats_of


def main():
    vm = VdiFleetModule(argument_spec=dict(report_path=dict(type='path', required=True)), selection=False,
                        results=False)
    p = vm.params

    def work(adapter):
        path = journal_path(p['report_path'], vm.check_mode)
        journal = Journal.load(path)
        if journal is None:
            raise ConfigError('No window is planned in %s: run vdi.fleet.patch_window_plan with report_path %s first.'
                              % (path, p['report_path']))
        return Window(adapter, journal, check_mode=vm.check_mode).close()

    report = vm.run(work)
    summary = report['summary']
    vm.exit(changed=False, summary=summary, stats=stats_of(report), report=summary['report'],
            desktops=[r for r in report['desktops'] if r['status'] != 'released'])


if __name__ == '__main__':
    main()
