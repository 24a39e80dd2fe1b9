#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: desktop_command
short_description: Run a command in the desktops through the cloud provider's agent, canary first
version_added: 0.2.0
description:
  - Patches persistent cloud desktops in the guest without WinRM or SSH - through the provider's own agent - and
    reports, per desktop, the exit code, the status and the output.
  - With O(canary), those desktops run the command first; the rest runs only when fewer than O(failure_threshold)
    of them failed (the others are then C(skipped)).
  - Huawei Cloud - script executions (C(ExecuteScriptOrCommand), 100 desktops per call; a whole pool with
    C(ExecuteDesktopPoolScripts)), with the provider's own canary (C(gray_resource_ids)/C(gray_desktop_ids) and
    C(gray_fail_threshold)) where one call covers the selection; the results from the script execution records
    (C(result_code) is the exit code), the output from each record's detail. Stored scripts run by O(script_ids).
  - Alibaba Cloud - C(RunCommand) (50 desktops per call, the text Base64-encoded with C(ContentEncoding=Base64)) and
    C(DescribeInvocations) per invocation, with the exit code and the output per desktop. Windows desktops only
    (C(RunPowerShellScript), C(RunBatScript)); no stored scripts.
  - Horizon - the REST API cannot run a command in a desktop; the module fails before any request. Use the
    P(vdi.fleet.desktops#inventory) inventory plugin and M(ansible.windows.win_shell) (WinRM) or M(ansible.builtin.shell) (SSH).
  - The command is sent once; a call whose answer is lost is never sent again (its desktops are reported with
    C(outcome=unknown)). The text reaches the agent exactly as given - no shell on the way re-reads it.
  - Every run is a change (C(changed=true) for each desktop the command ran on); the module is not idempotent.
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  command:
    description:
      - The script text to run (any characters, several lines). Mutually exclusive with O(script_ids).
      - The output shows what the command writes; keep secrets out of it, or set C(no_log) on the task.
    type: str
  command_type:
    description:
      - The interpreter - V(powershell), V(bat) (Windows) or V(shell) (Linux; Huawei Cloud only).
    type: str
    choices: [powershell, bat, shell]
    default: powershell
  script_ids:
    description:
      - Ids of scripts stored at the provider (Huawei Cloud) to run instead of O(command). Alibaba Cloud has no stored
        scripts; the option fails there before any request.
    type: list
    elements: str
  canary:
    description:
      - Desktops that run the command first - a number (the first that many selected desktops) or a list of selected
        desktops by id or name.
    type: raw
  failure_threshold:
    description:
      - How many canary desktops must fail to stop the rest (at most the number of canary desktops). Huawei Cloud
        C(gray_fail_threshold).
    type: int
    default: 1
  command_timeout:
    description:
      - Seconds the command may run on a desktop (Alibaba Cloud C(Timeout); Huawei Cloud C(execution_timeout), rounded
        up to whole minutes). Results are followed for this long plus two minutes.
    type: int
    default: 600
  output_limit:
    description:
      - Characters of each desktop's output returned in RV(desktops[].output); V(0) asks for no output (on Huawei
        Cloud that saves one request per desktop). The connection's own secrets are masked in any output.
    type: int
    default: 4096
extends_documentation_fragment:
  - vdi.fleet.connection
  - vdi.fleet.selection
  - vdi.fleet.selection.RESULTS
  - vdi.fleet.connection.ATTRIBUTES
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Resolves the selection and reports which desktops would run the command (canary first); sends no write
      request.
  diff_mode:
    support: none
  platform:
    platforms: all
    description: Runs on the controller (or wherever it is delegated) and talks to the provider API over HTTPS.
seealso:
  - module: vdi.fleet.desktop_image
  - module: ansible.windows.win_shell
  - plugin: vdi.fleet.desktops
    plugin_type: inventory
'''

EXAMPLES = r'''
- name: Install the monthly update on a Huawei Cloud pool, five desktops first
  vdi.fleet.desktop_command:
    provider: huaweicloud
    region: cn-north-4
    access_key: "{{ hw_ak }}"
    secret_key: "{{ hw_sk }}"
    pool: wks-finance
    command: |
      Start-Process -Wait msiexec -ArgumentList '/i', 'C:\Patches\agent-2026-11.msi', '/qn'
      exit $LASTEXITCODE
    command_type: powershell
    canary: 5
    failure_threshold: 1
    command_timeout: 1800

- name: Run a stored script on two Huawei Cloud desktops
  vdi.fleet.desktop_command:
    provider: huaweicloud
    region: cn-north-4
    access_key: "{{ hw_ak }}"
    secret_key: "{{ hw_sk }}"
    desktops: [WKS-FIN-0042, WKS-FIN-0043]
    script_ids: [0f1e2d3c-4b5a-6978-8899-aabbccddeeff]

- name: Check a registry value on Alibaba Cloud desktops, output only from the failures
  vdi.fleet.desktop_command:
    provider: alicloud
    region: cn-hangzhou
    access_key: "{{ ali_ak }}"
    secret_key: "{{ ali_sk }}"
    pool: dg-finance
    command: "if ((Get-ItemProperty HKLM:\\SOFTWARE\\Contoso).Patch -ne '2026-11') { Write-Output 'old'; exit 3 }"
    result: changed
    fail_on_error: false
  register: check
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
      description: Whether the command ran on the desktop (or would, in check mode).
      type: bool
    failed:
      description: Whether the command failed - a non-zero exit code, a timeout, not delivered, or no result.
      type: bool
    outcome:
      description:
        - V(done) (ran with exit code 0, or would run in check mode), V(refused) (failed - exit code, timeout or
          delivery), V(unknown) (no result; the command may still run, it is not sent again), V(skipped) (not run -
          the canary failed).
      type: str
      sample: done
    status:
      description: V(success), V(failed) (non-zero exit code), V(timeout), V(error) (not run - desktop or agent down),
        V(skipped), V(unknown); null in check mode.
      type: str
    exit_code:
      description: The command's exit code, when it ran to one.
      type: int
    output:
      description: What the command wrote (at most O(output_limit) characters, secrets of the connection masked); null
        when O(output_limit=0) or in check mode.
      type: str
    output_truncated:
      description: Whether the output was longer than O(output_limit).
      type: bool
    stage:
      description: V(canary) or V(rest) with O(canary), else null.
      type: str
    msg:
      description: What happened, with the provider's reason on failure.
      type: str
    before:
      description: Always null (a command has no state to compare).
      type: dict
    after:
      description: Always null (a command has no state to compare).
      type: dict
summary:
  description: Counts over RV(desktops).
  returned: always
  type: dict
  sample: {total: 50, changed: 50, succeeded: 49, failed: 1, skipped: 0, unchanged: 0}
'''

from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.patching import (
    COMMAND_TYPES, DEFAULT_OUTPUT_LIMIT, check_command_options, run_commands, summarize_commands)
from ansible_collections.vdi.fleet.plugins.module_utils.service import select


def main():
    vm = VdiFleetModule(
        argument_spec=dict(
            command=dict(type='str'),
            command_type=dict(type='str', default='powershell', choices=list(COMMAND_TYPES)),
            script_ids=dict(type='list', elements='str'),
            canary=dict(type='raw'),
            failure_threshold=dict(type='int', default=1),
            command_timeout=dict(type='int', default=600),
            output_limit=dict(type='int', default=DEFAULT_OUTPUT_LIMIT),
        ),
        required_one_of=[('desktops', 'pool'), ('command', 'script_ids')],
        mutually_exclusive=[('command', 'script_ids')],
    )
    p = vm.params

    def work(adapter):
        check_command_options(adapter, p['command'], p['command_type'], p['script_ids'], p['failure_threshold'],
                              p['command_timeout'], p['output_limit'])
        selection = select(adapter, desktops=p['desktops'], pool=p['pool'])
        return run_commands(adapter, selection, command=p['command'], command_type=p['command_type'],
                            script_ids=p['script_ids'], canary=p['canary'], failure_threshold=p['failure_threshold'],
                            command_timeout=p['command_timeout'], output_limit=p['output_limit'],
                            check_mode=vm.check_mode)

    entries = vm.run(work)
    vm.exit_desktops(entries, summary=summarize_commands(entries))


if __name__ == '__main__':
    main()
