#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: patch_window_plan
short_description: Plan a patch window over desktop pools in waves
version_added: 0.2.0
description:
  - The first phase of a patch window (the M(vdi.fleet.patch_wave) phases and M(vdi.fleet.patch_window_report) follow).
    The role P(vdi.fleet.patch_window#role) calls it; call it directly only to build a window of your own.
  - Checks every option before any request that changes something - duplicate pools (by name or id), pools that do not
    exist, countdown minutes that are not positive or not in order, negative timeouts, a failure budget outside
    0-100, a countdown message the provider cannot deliver or that is too long, a report path that cannot be written.
  - Takes a lock per pool, so that a second window on the same pool is refused while this one runs. The lock of a
    run that was killed is taken over, and its journal resumed - desktops of the interrupted wave go first, and the
    countdown marks already sent to them are not sent again.
  - Reads the pools once and plans balanced waves of at most O(wave_size) desktops per pool - desktops left in
    maintenance by an interrupted run first, then idle desktops, busy desktops last. A wave that cannot take all of
    its desktops (quarantined desktops use up the pool's allowance) leaves them to the next wave; extra waves per pool
    take what is left.
  - Writes the plan to the window's journal next to the report (C(<report_path>.journal), mode 0600, no secret in
    it). In check mode the journal is C(<report_path>.plan.journal) and no lock is taken.
author:
  - vdi.fleet contributors (@vdi-fleet)
options:
  pools:
    description:
      - Pools to patch, by id or exact name, one after the other. Exactly one of O(pools) and O(desktops) is required.
    type: list
    elements: str
  desktops:
    description:
      - Rolling mode - the ids of every desktop of the play (the C(vdi_id) of the hosts of the P(vdi.fleet.desktops#inventory)
        inventory); their pools are the window's pools, and each batch of the play is a wave.
    type: list
    elements: str
  hosts:
    description:
      - Rolling mode - the inventory host name of each of O(desktops), in the same order. The phases name the desktops
        that a quarantine made a batch pass over by these names (RV(vdi.fleet.patch_wave#module:catch_up)), for the
        play that takes them after the waves.
    type: list
    elements: str
  report_path:
    description: Path of the JSON report on the controller; the journal and the locks are kept beside it.
    type: path
    required: true
  lock_dir:
    description:
      - Directory of the pool locks. Windows that must not overlap have to share it; the default is the report's
        directory.
    type: path
  break_locks:
    description: Take the pools' locks even when another live run holds them (only when that run is known to be gone).
    type: bool
    default: false
  wave_size:
    description: Most desktops of a pool out of service at once - a count (V(10)) or a share of the pool (V(25%)).
    type: str
    default: "25%"
  countdown:
    description:
      - Minutes before the drain at which users still connected get a message, from the first to the last, for example
        V([15, 5, 1]). An empty list sends no message.
    type: list
    elements: int
    default: [15, 5, 1]
  minute_seconds:
    description: Length of one countdown minute in seconds (lower it to rehearse a window quickly).
    type: int
    default: 60
  countdown_message:
    description: Countdown text; C({minutes}) is replaced by the minutes left and C({pool}) by the pool name.
    type: str
    default: Your virtual desktop goes into maintenance in {minutes} minute(s). Please save your work and log off.
  message_type:
    description: Severity of the countdown messages.
    type: str
    choices: [info, warning, error]
    default: warning
  message_options:
    description:
      - Provider-specific options of the countdown messages, as M(vdi.fleet.session_message) takes them (Alibaba Cloud
        C(alicloud_delivery) or C(alicloud_console_message_id)). Checked against the provider before any request.
    type: dict
    default: {}
  drain_timeout:
    description: Seconds to wait for the connected users of a wave to leave before the logoff policy applies.
    type: int
    default: 900
  logoff_policy:
    description:
      - What happens to sessions still there after the drain - V(force) logs them off (a provider without a logoff API
        relies on the restart), V(skip) leaves those desktops out of the window, V(fail) fails the wave (its desktops
        go back unpatched).
    type: str
    choices: [force, skip, fail]
    default: force
  logoff_message:
    description: Notice shown with the logoff where the provider can show one.
    type: str
    default: Your desktop is being patched now.
  unwarned_policy:
    description:
      - What happens to a desktop whose user is still connected after the drain but got none of the countdown
        messages (every delivery failed) - V(skip) leaves it out of the window, V(proceed) patches it anyway.
      - Applies only when O(countdown) is not empty.
    type: str
    choices: [skip, proceed]
    default: skip
  patch_tasks:
    description: Whether the caller runs patch tasks between the begin and the end of each wave (recorded per desktop).
    type: bool
    default: false
  patch_method:
    description:
      - How the wave's desktops are patched. V(tasks) - by the caller's patch tasks (or not at all without them).
        V(image) - the end of each wave rolls O(image) out to the wave's desktops through the provider
        (M(vdi.fleet.desktop_image)); a rebuilt desktop needs no restart, and where the rollout logs the users off
        itself (O(image_options) C(logoff_policy=force)) the window's own logoff step is left to it.
        V(command) - the end of each wave runs O(command) on the wave's desktops through the cloud agent
        (M(vdi.fleet.desktop_command)); a desktop whose command fails (non-zero exit code) is quarantined alone.
      - What the provider cannot do this way is refused before any request.
    type: str
    choices: [tasks, image, command]
    default: tasks
  image:
    description: With O(patch_method=image), the image to roll out (as M(vdi.fleet.desktop_image) takes it).
    type: str
  image_options:
    description:
      - With O(patch_method=image), the rollout's C(logoff_policy) (default V(force)), C(notice) and
        C(grace_minutes), as M(vdi.fleet.desktop_image) takes them.
    type: dict
    default: {}
  command:
    description: With O(patch_method=command), the command text to run on every desktop of a wave.
    type: str
  command_type:
    description: With O(patch_method=command), how the command is run.
    type: str
    choices: [powershell, bat, shell]
    default: powershell
  command_options:
    description:
      - With O(patch_method=command), C(script_ids) (stored scripts instead of O(command)), C(timeout) (seconds,
        default 600) and C(output_limit) (characters of output kept per desktop in the report, default 1024).
    type: dict
    default: {}
  restart:
    description: Restart the wave's desktops after patching and wait until they are powered on again.
    type: bool
    default: true
  restart_force:
    description: Hard restart (Horizon reset, Huawei C(HARD)).
    type: bool
    default: false
  restart_timeout:
    description: Seconds to wait for a restart (and for powering desktops on and back off).
    type: int
    default: 900
  retry_unanswered:
    description:
      - Restart, and log off, once more the desktops whose call got no usable answer (outcome V(unknown)); they are
        drained and in maintenance, so a second call is harmless. Refusals are not asked again.
    type: bool
    default: true
  quarantine_failed:
    description: Leave desktops whose patch, restart, power restore or verification failed in maintenance.
    type: bool
    default: true
  max_failed_percentage:
    description: Stop starting waves once more than this share (percent) of the desktops handled so far failed.
    type: int
    default: 20
extends_documentation_fragment:
  - vdi.fleet.connection
  - vdi.fleet.connection.ATTRIBUTES
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Plans the window (a plan journal beside the report) without taking locks; sends no write request.
  diff_mode:
    support: none
  platform:
    platforms: all
    description: Runs on the controller, where the journal and the report are kept.
notes:
  - The run a window belongs to is the C(ansible-playbook) process that runs it (host, pid and start time); every
    phase of the window must run on the same controller, under that process.
seealso:
  - ref: ansible_collections.vdi.fleet.docsite.patch_window_guide
    description: The patch-window guide - the role vdi.fleet.patch_window and its two modes.
  - module: vdi.fleet.patch_wave
  - module: vdi.fleet.patch_window_report
'''

EXAMPLES = r'''
- name: Plan a window over two pools
  vdi.fleet.patch_window_plan:
    pools: [Finance-Win11, Sales-Win11]
    wave_size: "20%"
    countdown: [10, 1]
    report_path: /var/lib/vdi/window.json
  register: plan

- name: Show the waves
  ansible.builtin.debug:
    msg: "{{ plan.slots | length }} wave slots over {{ plan.plan.desktops }} desktops"
'''

RETURN = r'''
slots:
  description:
    - The wave slots in order, one M(vdi.fleet.patch_wave) begin/end pair each. A slot whose pool has nothing left
      to take is passed over quickly.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: Slot number (the O(vdi.fleet.patch_wave#module:slot) to give).
      type: int
    pool:
      description: Pool id.
      type: str
    pool_name:
      description: Pool name.
      type: str
    wave:
      description: Wave number within the pool (beyond the planned waves, an extra wave).
      type: int
    planned:
      description: Desktops planned for this wave (0 for an extra wave).
      type: int
journal:
  description: Path of the window's journal.
  returned: always
  type: str
plan:
  description: The plan.
  returned: always
  type: dict
  contains:
    desktops:
      description: Desktops in the window.
      type: int
    resumed:
      description: Whether an interrupted window was resumed.
      type: bool
    pools:
      description: Per pool - C(id), C(name), C(size), C(allowance) (most desktops out of service at once), C(waves).
      type: list
      elements: dict
'''

from ansible_collections.vdi.fleet.plugins.module_utils.module import VdiFleetModule
from ansible_collections.vdi.fleet.plugins.module_utils.window import plan_window

WINDOW_SPEC = dict(
    wave_size=dict(type='str', default='25%'),
    countdown=dict(type='list', elements='int', default=[15, 5, 1]),
    minute_seconds=dict(type='int', default=60),
    countdown_message=dict(type='str', default=('Your virtual desktop goes into maintenance in {minutes} minute(s). '
                                                'Please save your work and log off.')),
    message_type=dict(type='str', default='warning', choices=['info', 'warning', 'error']),
    message_options=dict(type='dict', default={}),
    drain_timeout=dict(type='int', default=900),
    logoff_policy=dict(type='str', default='force', choices=['force', 'skip', 'fail']),
    logoff_message=dict(type='str', default='Your desktop is being patched now.'),
    unwarned_policy=dict(type='str', default='skip', choices=['skip', 'proceed']),
    patch_tasks=dict(type='bool', default=False),
    patch_method=dict(type='str', default='tasks', choices=['tasks', 'image', 'command']),
    image=dict(type='str'),
    image_options=dict(type='dict', default={}),
    command=dict(type='str'),
    command_type=dict(type='str', default='powershell', choices=['powershell', 'bat', 'shell']),
    command_options=dict(type='dict', default={}),
    restart=dict(type='bool', default=True),
    restart_force=dict(type='bool', default=False),
    restart_timeout=dict(type='int', default=900),
    retry_unanswered=dict(type='bool', default=True),
    quarantine_failed=dict(type='bool', default=True),
    max_failed_percentage=dict(type='int', default=20),
)


def main():
    spec = dict(
        pools=dict(type='list', elements='str'),
        desktops=dict(type='list', elements='str'),
        hosts=dict(type='list', elements='str'),
        report_path=dict(type='path', required=True),
        lock_dir=dict(type='path'),
        break_locks=dict(type='bool', default=False),
    )
    spec.update(WINDOW_SPEC)
    vm = VdiFleetModule(argument_spec=spec, selection=False, results=False,
                        required_one_of=[('pools', 'desktops')], mutually_exclusive=[('pools', 'desktops')])
    p = vm.params
    opts = dict((k, p[k]) for k in WINDOW_SPEC)
    opts['message'] = opts.pop('countdown_message')
    opts['pools'] = p['pools']

    def work(adapter):
        journal = plan_window(adapter, opts, p['report_path'], check_mode=vm.check_mode, desktops=p['desktops'],
                              lock_dir=p['lock_dir'], break_locks=p['break_locks'], hosts=p['hosts'])
        return journal

    journal = vm.run(work)
    data = journal.data
    names = dict((pl['id'], pl['name']) for pl in data['pools'])
    planned = dict(((pl['id'], k + 1), end - (pl['ends'][k - 1] if k else 0))
                   for pl in data['pools'] for k, end in enumerate(pl['ends']))
    slots = [dict(s, pool_name=names[s['pool']], planned=planned.get((s['pool'], s['wave']), 0)) for s in data['slots']]
    pools = [dict(id=pl['id'], name=pl['name'], size=pl['size'], allowance=pl['allowance'], waves=len(pl['ends']))
             for pl in data['pools']]
    vm.exit(changed=False, slots=slots, journal=journal.path,
            plan=dict(desktops=len(data['desktops']), resumed=bool(data.get('resumed')), pools=pools))


if __name__ == '__main__':
    main()
