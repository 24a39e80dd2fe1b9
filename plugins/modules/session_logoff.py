#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: session_logoff
short_description: Log users off virtual desktop sessions
version_added: 0.1.0
description:
  - Logs off every user session on the selected desktops, pool or session ids of a Horizon, Huawei Cloud Workspace
    or Alibaba Cloud EDS fleet.
  - Idempotent - desktops without a session are reported as skipped and C(changed=false).
  - Horizon - C(sessions/action/logoff) with C(forced=true) when O(force) is set.
  - Huawei Cloud - C(desktops/logoff), with O(msg) shown to the user.
  - Alibaba Cloud - the EDS API has no logoff call (C(DisconnectDesktopSessions) only disconnects, the user's programs
    keep running), so the module fails before any request and says so. Stopping or restarting the desktops with
    M(vdi.fleet.desktop_pool_power) ends their sessions.
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  sessions:
    description:
      - Session ids (as returned by M(vdi.fleet.session_info)) to log off.
    type: list
    elements: str
  force:
    description:
      - Horizon - log off even a locked or active session (C(forced=true)).
    type: bool
    default: false
  msg:
    description:
      - Text shown to the user with the logoff, where the provider supports one (Huawei Cloud). Refused for the other
        providers.
      - Named C(msg) because ansible-core reserves C(message) as a module option.
    type: str
  wait:
    description:
      - Wait until the provider no longer lists the sessions.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true); a session still listed then is reported as failed.
    type: int
    default: 300
extends_documentation_fragment:
  - vdi.fleet.connection
  - vdi.fleet.selection
  - vdi.fleet.selection.RESULTS
  - vdi.fleet.connection.ATTRIBUTES
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Lists the sessions that would be logged off; sends nothing.
  diff_mode:
    support: none
  platform:
    platforms: all
    description: Runs on the controller (or wherever it is delegated) and talks to the provider API over HTTPS.
seealso:
  - module: vdi.fleet.session_info
  - module: vdi.fleet.session_message
'''

EXAMPLES = r'''
- name: Log off what is left in a Horizon pool and wait until it is empty
  vdi.fleet.session_logoff:
    provider: horizon
    endpoint: https://cs01.example.com
    username: svc-ansible
    password: "{{ horizon_password }}"
    domain: EXAMPLE
    pool: Finance-Win11
    force: true
    wait: true

- name: Log off two Huawei Cloud desktops with a last word
  vdi.fleet.session_logoff:
    provider: huaweicloud
    region: cn-north-4
    desktops: [WKS-FIN-0041, WKS-FIN-0042]
    msg: Your desktop is being patched and will be back in 20 minutes.
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
    logged_off:
      description: Whether the session is gone (with O(wait=true)) or its logoff was accepted.
      type: bool
    skipped:
      description: True for a desktop without a session.
      type: bool
    changed:
      description: Whether a logoff was requested for this session (or would be, in check mode).
      type: bool
    failed:
      description: Whether logging off this session failed.
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
  sample: {total: 40, logged_off: 22, changed: 22, skipped: 18, failed: 0}
'''

from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.service import logoff_sessions, summarize_sessions, target_sessions


def main():
    vm = VdiFleetModule(
        argument_spec=dict(
            sessions=dict(type='list', elements='str'),
            force=dict(type='bool', default=False),
            msg=dict(type='str'),
            wait=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=300),
        ),
        required_one_of=[('desktops', 'pool', 'sessions')],
    )
    p = vm.params

    def work(adapter):
        adapter.check_logoff_options(force=p['force'], message=p['msg'])
        targets, entries, _whole_pool = target_sessions(adapter, desktops=p['desktops'], pool=p['pool'],
                                                        session_ids=p['sessions'])
        return logoff_sessions(adapter, targets, force=p['force'], message=p['msg'], check_mode=vm.check_mode,
                               wait=p['wait'], wait_timeout=p['wait_timeout']) + entries

    entries = vm.run(work)
    for entry in entries:
        entry.setdefault('logged_off', False)
    vm.exit_desktops(entries, what='sessions', summary=summarize_sessions(entries, 'logged_off'))


if __name__ == '__main__':
    main()
