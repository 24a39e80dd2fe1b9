#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: session_message
short_description: Send a message to the users of virtual desktop sessions
version_added: 0.1.0
description:
  - Sends one message to every user session on the selected desktops, pool or session ids of a Horizon,
    Huawei Cloud Workspace or Alibaba Cloud EDS fleet, with as few calls as the provider's API allows.
  - Horizon - C(sessions/action/send-message) with all target session ids; per-session results are honoured.
  - Huawei Cloud - desktop notifications (C(desktops/notifications), or the pool variant when a whole pool is
    targeted); the returned job is followed.
  - Alibaba Cloud - the API has no free-text message to a session. By default the module fails before any request
    and explains the two ways offered - O(alicloud_console_message_id) sends a console message already published in
    the Alibaba Cloud console (C(SendConsoleMessage)), and O(alicloud_delivery=run_command) shows the text on Windows
    desktops with C(msg *) through C(RunCommand). The text is then passed Base64-encoded and decoded by the command,
    never interpreted by a shell.
  - Desktops without a session are reported as skipped, not failed. A send is never re-sent once it may have reached
    the provider, so a user never gets the same message twice because of a retry; a send that is refused, or still
    throttled after the retries, is reported failed for exactly the sessions it covered.
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  sessions:
    description:
      - Session ids (as returned by M(vdi.fleet.session_info)) that get the message.
    type: list
    elements: str
  msg:
    description:
      - The text. Its length is checked against the provider's limit before any request.
      - Named C(msg) like in M(ansible.builtin.debug) because ansible-core reserves C(message) as a module option.
    type: str
    required: true
  message_type:
    description:
      - Severity shown to the user where the provider has one (Horizon C(INFO), C(WARNING), C(ERROR)).
    type: str
    choices: [info, warning, error]
    default: info
  title:
    description:
      - Title of the message, where the provider shows one (Alibaba Cloud O(alicloud_delivery=run_command) uses it as
        the first line). Ignored by Horizon and Huawei Cloud.
    type: str
  alicloud_console_message_id:
    description:
      - Alibaba Cloud only. Id of a console message already created and published in the Alibaba Cloud console, sent
        with C(SendConsoleMessage). Its own text and recipients apply; O(msg) is only recorded in the result.
    type: str
  alicloud_delivery:
    description:
      - Alibaba Cloud only. V(run_command) shows O(msg) in a Windows dialog (C(msg *)) on every selected desktop
        that has a session, through C(RunCommand) (up to 50 desktops per call).
    type: str
    choices: [run_command]
extends_documentation_fragment:
  - vdi.fleet.connection
  - vdi.fleet.selection
  - vdi.fleet.selection.RESULTS
  - vdi.fleet.connection.ATTRIBUTES
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Lists the sessions that would receive the message; sends nothing.
  diff_mode:
    support: none
  platform:
    platforms: all
    description: Runs on the controller (or wherever it is delegated) and talks to the provider API over HTTPS.
notes:
  - Sending a message is not idempotent; every run that sends reports C(changed=true).
  - Alibaba Cloud O(alicloud_delivery=run_command) - C(RunCommand) runs as one end user per call, so the command is
    run for that user when every targeted session of a call belongs to one user, and otherwise for every session of
    the desktop (on a multi-session desktop, users who were not targeted see the popup too). The module follows each
    invocation with C(DescribeInvocations) for up to two minutes.
seealso:
  - module: vdi.fleet.session_info
  - module: vdi.fleet.session_logoff
'''

EXAMPLES = r'''
- name: Warn the users of a Horizon pool
  vdi.fleet.session_message:
    provider: horizon
    endpoint: https://cs01.example.com
    username: svc-ansible
    password: "{{ horizon_password }}"
    domain: EXAMPLE
    pool: Finance-Win11
    msg: "Maintenance starts in 15 minutes. Please save your work and log off."
    message_type: warning

- name: Same on Alibaba Cloud Windows desktops, through RunCommand
  vdi.fleet.session_message:
    provider: alicloud
    region: cn-hangzhou
    pool: dg-finance
    msg: "Maintenance starts in 5 minutes & your desktop will restart."
    alicloud_delivery: run_command
'''

RETURN = r'''
sessions:
  description: One entry per targeted session, plus one per selected desktop without a session (skipped).
  returned: always
  type: list
  elements: dict
  contains:
    session_id:
      description: Session id (null for a desktop without a session).
      type: str
    desktop_id:
      description: Desktop the session is on.
      type: str
    desktop_name:
      description: Name of that desktop.
      type: str
    user:
      description: User of the session.
      type: str
    sent:
      description: Whether the provider accepted the message for this session.
      type: bool
    skipped:
      description: True for a desktop without a session.
      type: bool
    changed:
      description: Same as RV(sessions[].sent) (or would be sent, in check mode).
      type: bool
    failed:
      description: Whether sending to this session failed.
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
summary:
  description: Counts over RV(sessions).
  returned: always
  type: dict
  sample: {total: 40, sent: 22, changed: 22, skipped: 17, failed: 1}
'''

from ansible_collections.vdi.fleet.plugins.module_utils.connection import check_message_options
from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.service import send_messages, summarize_sessions, target_sessions

MESSAGE_OPTIONS = ('alicloud_console_message_id', 'alicloud_delivery')


def main():
    vm = VdiFleetModule(
        argument_spec=dict(
            sessions=dict(type='list', elements='str'),
            msg=dict(type='str', required=True),
            message_type=dict(type='str', default='info', choices=['info', 'warning', 'error']),
            title=dict(type='str'),
            alicloud_console_message_id=dict(type='str'),
            alicloud_delivery=dict(type='str', choices=['run_command']),
        ),
        required_one_of=[('desktops', 'pool', 'sessions')],
        mutually_exclusive=[('alicloud_console_message_id', 'alicloud_delivery')],
    )
    p = vm.params
    options = dict((k, p[k]) for k in MESSAGE_OPTIONS)
    if not p['msg'].strip():
        vm.fail('msg is empty.')

    def work(adapter):
        check_message_options(adapter, options)
        text = p['title'] + '\n' + p['msg'] if p['title'] and adapter.message_uses_title else p['msg']
        if len(text) > adapter.message_limit:
            vm.fail('msg is %d characters long; %s takes at most %d. Shorten it.'
                    % (len(text), adapter.name, adapter.message_limit))
        targets, entries, whole_pool = target_sessions(adapter, desktops=p['desktops'], pool=p['pool'],
                                                       session_ids=p['sessions'])
        return send_messages(adapter, targets, p['msg'], p['message_type'], p['title'], vm.check_mode,
                             options, whole_pool=whole_pool) + entries

    entries = vm.run(work)
    for entry in entries:
        entry.setdefault('sent', False)
    vm.exit_desktops(entries, what='sessions', summary=summarize_sessions(entries, 'sent'))


if __name__ == '__main__':
    main()
