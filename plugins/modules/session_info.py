#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: session_info
short_description: List the user sessions on virtual desktops
version_added: 0.1.0
description:
  - Returns the user sessions of the selected desktops (or of every desktop the credentials can see) of a Horizon,
    Huawei Cloud Workspace or Alibaba Cloud EDS fleet, in one normalized shape.
  - Read-only.
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  include_raw:
    description:
      - Include the provider's own session record in RV(sessions[].raw).
    type: bool
    default: false
  wait_until_empty:
    description:
      - Keep reading (with backoff) until the selected desktops have no session left or O(wait_timeout) passes,
        then return what is left. Does not fail when sessions remain; check the length of RV(sessions). Used to drain a
        patch wave.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait with O(wait_until_empty=true).
    type: int
    default: 900
extends_documentation_fragment:
  - vdi.fleet.connection
  - vdi.fleet.selection
  - vdi.fleet.connection.ATTRIBUTES
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode, except that O(wait_until_empty) does not wait.
  diff_mode:
    support: none
  platform:
    platforms: all
    description: Runs on the controller (or wherever it is delegated) and talks to the provider API over HTTPS.
notes:
  - Huawei Cloud Workspace has no session id; the id reported is built from the desktop id and the user.
  - Alibaba Cloud sessions of a whole pool come from C(DescribeDesktopGroupSessions), 100 sessions per page; other
    selections from C(DescribeDesktopSessions), 100 desktops per call, which also keeps the sessions of the last 30
    days. Only live sessions (C(Connected) or C(Disconnected), without an end time) are returned.
  - Huawei Cloud Workspace sessions come from the C(connect_status) of the desktop listing the selection was made
    from, so they cost no request of their own; O(wait_until_empty) re-reads the desktops.
seealso:
  - module: vdi.fleet.session_message
  - module: vdi.fleet.session_logoff
'''

EXAMPLES = r'''
- name: Who is still connected in the Finance pool
  vdi.fleet.session_info:
    provider: horizon
    endpoint: https://cs01.example.com
    username: svc-ansible
    password: "{{ horizon_password }}"
    domain: EXAMPLE
    pool: Finance-Win11
  register: finance_sessions

- name: Connected users
  ansible.builtin.debug:
    msg: "{{ finance_sessions.sessions | selectattr('state', 'equalto', 'connected') | map(attribute='user') | list }}"
'''

RETURN = r'''
sessions:
  description: User sessions on the selected desktops.
  returned: always
  type: list
  elements: dict
  contains:
    session_id:
      description: Session id.
      type: str
    desktop_id:
      description: Id of the desktop the session is on.
      type: str
    desktop_name:
      description: Name of that desktop.
      type: str
    pool:
      description: Pool id of that desktop.
      type: str
    user:
      description: User of the session (Horizon - C(DOMAIN\\name) where the server reports the name, else the SID).
      type: str
    user_id:
      description: The provider's own user id where it differs from RV(sessions[].user) (Horizon - the user's SID).
      returned: when the provider has one
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
summary:
  description: Counts over RV(sessions).
  returned: always
  type: dict
  sample: {total: 12, connected: 9, disconnected: 3, unknown: 0, desktops: 40}
'''

from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.service import select, wait_sessions_gone, whole_pool_ids
from ansible_collections.vdi.fleet.plugins.module_utils.transport import Poller

SESSION_STATES = ('connected', 'disconnected', 'unknown')


def main():
    vm = VdiFleetModule(
        argument_spec=dict(
            include_raw=dict(type='bool', default=False),
            wait_until_empty=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=900),
        ),
        results=False,
    )
    p = vm.params

    def work(adapter):
        selection = select(adapter, desktops=p['desktops'], pool=p['pool'], allow_all=True)
        if selection.missing:
            vm.fail('%d of the selected desktops were not found: %s'
                    % (len(selection.missing), '; '.join(m for _e, m in selection.missing[:5])))
        pool_ids = whole_pool_ids(selection)
        found = adapter.list_sessions(selection.desktops, pool_ids=pool_ids, fresh=True) if selection.desktops else []
        if p['wait_until_empty'] and found and not vm.check_mode:
            found = wait_sessions_gone(adapter, selection.desktops, Poller(p['wait_timeout'], initial=1.0, factor=1.6,
                                                                           cap=30.0), pool_ids=pool_ids)
        if not p['include_raw']:
            for s in found:
                s.pop('raw', None)
        return found, len(selection.desktops)

    sessions, count = vm.run(work)
    summary = dict((state, sum(1 for s in sessions if s['state'] == state)) for state in SESSION_STATES)
    summary.update(total=len(sessions), desktops=count)
    vm.exit(changed=False, sessions=sessions, summary=summary)


if __name__ == '__main__':
    main()
