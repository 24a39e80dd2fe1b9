# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Which desktops a module acts on.
    DOCUMENTATION = r'''
options:
  desktops:
    description:
      - Desktops to act on, by id or exact name (mixed). With O(pool), they must belong to that pool.
      - A name that matches nothing, or several desktops, is reported as a failed entry; the others still go.
    type: list
    elements: str
  pool:
    description:
      - Desktop pool (Horizon desktop pool, Huawei desktop pool, Alibaba desktop group) by id or exact name.
        Without O(desktops), every desktop of the pool is selected.
    type: str
'''

    # How a module that changes desktops or sessions reports its per-item results.
    RESULTS = r'''
options:
  fail_on_error:
    description:
      - Fail the task when at least one selected item failed. With V(false) the task succeeds and the failures are
        only reported in the per-item results and the summary.
    type: bool
    default: true
  result:
    description:
      - How much of the per-item results the task returns, for job logs of big fleets (an AWX job event per task).
      - V(full) returns every selected item.
      - V(changed) returns only the items that changed or failed.
      - V(summary) returns only the failed items; the summary still counts every item.
    type: str
    choices: [full, changed, summary]
    default: full
'''
