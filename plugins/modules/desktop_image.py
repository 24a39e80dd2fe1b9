#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: desktop_image
short_description: Roll a golden image out to a desktop pool or to selected desktops, canary first
version_added: 0.2.0
description:
  - Patches pooled and non-persistent desktops the way the provider does it - by rolling a new golden image out -
    and reports, per desktop, the image before and the image read back after.
  - Desktops already on O(image) are left alone (C(changed=false)); a second run with the same image changes nothing.
  - With O(canary), those desktops get the image first. The rest of the selection (and, for a whole pool, the pool's
    own image) follows only when every canary desktop was read back on the new image; otherwise nothing else is
    touched, the pool keeps its image and the canary's failures are reported per desktop.
  - Horizon - instant-clone pools only (C(schedule-push-image), v2). A canary is a selective push to those machines,
    which leaves the new image pending on the pool; the rest of a whole pool follows with C(promote-pending-image).
    Selected machines of a pool that holds or runs the image get it with C(apply-image). O(logoff_policy),
    O(start_time) and O(stop_on_failure) map to C(logoff_policy), C(start_time) and C(stop_on_first_error).
  - Huawei Cloud - a whole pool is rebuilt with one C(RebuildDesktopPool) call (C(handle_type=FOR_EXPAND_AND_ALL), so
    the pool's image changes and every desktop not on it is rebuilt); a canary, or selected desktops, with
    C(BatchRebuildDesktopsSystemDisk), 100 desktops per call. O(notice) and O(grace_minutes) are the C(message) users
    see and the C(delay_time) they get to save their work. Each call's job is followed.
  - Alibaba Cloud - C(RebuildDesktops), 20 desktops per call, then, for a whole pool, C(ModifyDesktopGroup) so that
    the group's new desktops get the image too.
  - B(A rebuild re-initializes the system disk) - what users kept on it is lost (Huawei Cloud, Alibaba Cloud).
  - What a provider cannot do is refused before any request - a notice or grace time where the provider has none,
    O(logoff_policy=wait) on the clouds (they rebuild after the grace time whether or not a user is logged on), a
    start time outside Horizon - and before any write, a Horizon pool that is not instant clone or holds another
    pending image.
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  image:
    description:
      - The image to roll out, as the provider names it.
      - Horizon - C(PARENT_VM_ID/SNAPSHOT_ID), the base image VM and its snapshot (for example
        C(vm-1001/snapshot-2026-11)), or C(im:STREAM_ID/TAG_ID) for an image catalog stream and tag.
      - Huawei Cloud - the desktop image id (public or private image, as ListImages shows it).
      - Alibaba Cloud - the image id (C(m-...)).
    type: str
    required: true
  canary:
    description:
      - Desktops that get the image first - a number (the first that many desktops to change, in selection order) or
        a list of selected desktops by id or name. The rest follows only when every canary desktop runs the image.
      - Needs O(wait=true).
    type: raw
  logoff_policy:
    description:
      - What happens to a desktop that has a user session.
      - V(wait) - it waits until its user disconnects (Horizon C(WAIT_FOR_LOGOFF)); the clouds cannot wait, so this
        fails before any request there.
      - V(force) - the user is logged off when the desktop is rebuilt (Horizon C(FORCE_LOGOFF), after the grace period
        of the global settings; Huawei Cloud after O(grace_minutes), with O(notice); Alibaba Cloud at once).
    type: str
    choices: [wait, force]
    default: wait
  notice:
    description:
      - Text shown to the users before their desktop is rebuilt (Huawei Cloud C(message), at most 400 characters).
        Other providers show none; the option fails before any request there.
    type: str
  grace_minutes:
    description:
      - Minutes users get to save their work before the rebuild (Huawei Cloud C(delay_time), 0 to 15). Other
        providers have no such setting; the option fails before any request there.
    type: int
  start_time:
    description:
      - When the rollout starts, as ISO 8601 UTC (for example C(2026-12-01T22:00:00Z)); Horizon C(start_time). Other
        providers start at once; the option fails before any request there.
      - With O(wait=true) the module waits until the rollout is done (at most O(wait_timeout)).
    type: str
  stop_on_failure:
    description:
      - Send no further call once one failed (its desktops are reported, the others C(skipped)); Horizon
        C(stop_on_first_error).
    type: bool
    default: true
  wait:
    description:
      - Follow the provider's operations and the desktops until each desktop runs the image or failed.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait per stage (the canary, then the rest). A desktop not on the image by then is reported as failed.
    type: int
    default: 3600
extends_documentation_fragment:
  - vdi.fleet.connection
  - vdi.fleet.selection
  - vdi.fleet.selection.RESULTS
  - vdi.fleet.connection.ATTRIBUTES
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the pool, the image and the desktops and reports the plan (canary first, then the rest); sends no
      write request.
  diff_mode:
    support: full
    details: Shows the image before and after for every desktop that changes.
  platform:
    platforms: all
    description: Runs on the controller (or wherever it is delegated) and talks to the provider API over HTTPS.
notes:
  - Horizon needs the privilege C(POOL_SVI_IMAGE_MANAGEMENT) on the pool's access group.
  - Only one image operation runs on a Horizon pool at a time. After a failed canary the new image stays pending
    (held) on the pool; promote or cancel it in the console before rolling out another image. Running the module
    again with the same image applies the held image to the canary desktops that failed.
seealso:
  - module: vdi.fleet.desktop_command
  - module: vdi.fleet.desktop_maintenance
  - module: vdi.fleet.desktop_info
'''

EXAMPLES = r'''
- name: Roll the November image out to a Horizon instant-clone pool, two machines first
  vdi.fleet.desktop_image:
    provider: horizon
    endpoint: https://cs01.example.com
    username: svc-ansible
    password: "{{ horizon_password }}"
    domain: EXAMPLE
    pool: Finance-Win11
    image: vm-1001/snapshot-2026-11
    canary: 2
    logoff_policy: wait
    wait_timeout: 7200

- name: Rebuild a Huawei Cloud pool on a new private image, users warned 10 minutes ahead
  vdi.fleet.desktop_image:
    provider: huaweicloud
    region: cn-north-4
    access_key: "{{ hw_ak }}"
    secret_key: "{{ hw_sk }}"
    pool: wks-finance
    image: 8f2c6b1a-4e5d-4c3b-9a2f-1d0e7c6b5a41
    canary: [WKS-FIN-0001, WKS-FIN-0002]
    logoff_policy: force
    notice: Your desktop is updated in 10 minutes. Please save your work and log off.
    grace_minutes: 10

- name: What would change (no write)
  vdi.fleet.desktop_image:
    provider: alicloud
    region: cn-hangzhou
    access_key: "{{ ali_ak }}"
    secret_key: "{{ ali_sk }}"
    pool: dg-finance
    image: m-0a1b2c3d4e5f6g7h8
    logoff_policy: force
  check_mode: true
  register: plan
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
      description: Whether the desktop's image changed (or would, in check mode).
      type: bool
    failed:
      description: Whether the desktop did not end on the image, with the reason in RV(desktops[].msg).
      type: bool
    outcome:
      description:
        - V(done) (rolled out and read back, or would be in check mode), V(unchanged) (already on the image),
          V(refused) (the provider refused or failed it), V(unknown) (no usable answer; the provider may or may not
          have acted), V(skipped) (not attempted - the canary failed, or an earlier call failed with
          O(stop_on_failure)).
      type: str
      sample: done
    stage:
      description: V(canary) or V(rest) for a desktop to change; null when it was already on the image.
      type: str
    msg:
      description: What happened, with the provider's reason on failure.
      type: str
    before:
      description: Image before the task.
      type: dict
      contains:
        image:
          description: The image, written as O(image) is.
          type: str
    after:
      description: Image read back after the task (predicted in check mode).
      type: dict
      contains:
        image:
          description: The image, written as O(image) is.
          type: str
jobs:
  description: The provider operations of the rollout (Horizon push, promote; Huawei Cloud rebuild jobs; Alibaba Cloud
    ModifyDesktopGroup), with their final status.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Provider job id, or a label of the operation where the provider has no job.
      type: str
    action:
      description: The provider operation.
      type: str
    scope:
      description: V(pool) when the operation changes the pool's own image, else V(desktops).
      type: str
    stage:
      description: V(canary) or V(rest).
      type: str
    status:
      description: V(success), V(failed), V(pending) (not waited for or timed out), or V(planned) in check mode.
      type: str
    message:
      description: The provider's failure reason, if any.
      type: str
    image_before:
      description: The pool's image before (pool operations only).
      type: str
    image_after:
      description: The pool's image read back after (pool operations only).
      type: str
summary:
  description: Counts over RV(desktops).
  returned: always
  type: dict
  sample: {total: 50, changed: 48, unchanged: 2, failed: 0}
'''

from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.patching import (
    LOGOFF_POLICIES, check_image_options, diff_images, rollout_image)
from ansible_collections.vdi.fleet.plugins.module_utils.service import select


def pool_outcome(jobs):
    """(changed, failure message) of the operations on a whole pool's own image (not a desktop of it)."""
    pool_jobs = [j for j in jobs if j.get('scope') == 'pool']
    changed = any(j.get('status') in ('success', 'planned') and j.get('image_before') != j.get('image_after')
                  for j in pool_jobs)
    failed = ['%s: %s' % (j.get('action'), j.get('message')) for j in pool_jobs if j.get('status') == 'failed']
    return changed, '; '.join(failed)


def main():
    vm = VdiFleetModule(
        argument_spec=dict(
            image=dict(type='str', required=True),
            canary=dict(type='raw'),
            logoff_policy=dict(type='str', default='wait', choices=list(LOGOFF_POLICIES)),
            notice=dict(type='str'),
            grace_minutes=dict(type='int'),
            start_time=dict(type='str'),
            stop_on_failure=dict(type='bool', default=True),
            wait=dict(type='bool', default=True),
            wait_timeout=dict(type='int', default=3600),
        ),
        required_one_of=[('desktops', 'pool')],
    )
    p = vm.params
    jobs = []

    def work(adapter):
        check_image_options(adapter, bool(p['pool']) and not p['desktops'], p['logoff_policy'], p['notice'],
                            p['grace_minutes'], p['start_time'], p['canary'], p['wait'])
        selection = select(adapter, desktops=p['desktops'], pool=p['pool'])
        entries, found = rollout_image(
            adapter, selection, p['image'], canary=p['canary'], logoff_policy=p['logoff_policy'], notice=p['notice'],
            grace_minutes=p['grace_minutes'], start_time=p['start_time'], stop_on_failure=p['stop_on_failure'],
            check_mode=vm.check_mode, wait=p['wait'], wait_timeout=p['wait_timeout'])
        jobs.extend(found)
        return entries

    entries = vm.run(work)
    # a change or failure of the pool's own image changes or fails the task, like a desktop's would
    changed, failure = pool_outcome(jobs)
    vm.exit_desktops(entries, diff=diff_images(entries), jobs=jobs, changed=changed,
                     failure='the pool image was not changed: %s' % failure if failure else None)


if __name__ == '__main__':
    main()
