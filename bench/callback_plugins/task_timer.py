# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A per-task timing callback for ``bench/window.py``: every task's start and end (wall clock), its file,
status and, for the phase modules of the patch window, the phase and the wave slot.

Enabled by ``bench/window.py`` with ``ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins`` and
``ANSIBLE_CALLBACKS_ENABLED=task_timer``; it writes JSON to the file named by ``VDI_FLEET_TASK_TIMES``.
The wall-clock times (``time.time()``) let the benchmark give each request the simulator logged to the task
that sent it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: task_timer
type: aggregate
short_description: every task's start, end, file and status as JSON (for bench/window.py)
description:
  - Writes the tasks of the run with their wall-clock start and end to the file named by VDI_FLEET_TASK_TIMES.
requirements:
  - enabled with ANSIBLE_CALLBACKS_ENABLED
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'task_timer'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.started = time.time()
        self.tasks = []
        self.current = None

    def _close(self):
        if self.current is not None:
            self.current['end'] = time.time()
            self.tasks.append(self.current)
            self.current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        path = task.get_path() or ''
        self.current = {'name': task.get_name(), 'action': task.action, 'file': os.path.basename(path.split(':')[0]),
                        'start': time.time(), 'status': None, 'phase': None, 'slot': None}
        if task.action in ('vdi.fleet.patch_wave', 'patch_wave'):
            self.current['phase'] = task.args.get('phase')

    def _result(self, result, status):
        if self.current is None:
            return
        self.current['status'] = status
        data = getattr(result, '_result', None) or {}
        if self.current['phase'] and isinstance(data.get('slot'), int):
            self.current['slot'] = data['slot']

    def v2_runner_on_ok(self, result):
        self._result(result, 'ok')

    def v2_runner_on_skipped(self, result):
        self._result(result, 'skipped')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, 'failed')

    def v2_playbook_on_stats(self, stats):
        self._close()
        path = os.environ.get('VDI_FLEET_TASK_TIMES')
        if path:
            with open(path, 'w') as handle:
                json.dump({'started': self.started, 'ended': time.time(), 'tasks': self.tasks}, handle)
