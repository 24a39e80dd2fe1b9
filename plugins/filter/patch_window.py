# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the patch window's rolling mode and of AWX job slicing (the logic is in module_utils.window)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.vdi.fleet.plugins.module_utils.errors import VdiFleetError
from ansible_collections.vdi.fleet.plugins.module_utils.window import merge_reports, wave_batches, wave_groups


def vdi_merge_reports(reports, path=None):
    try:
        return merge_reports(reports, path)
    except VdiFleetError as exc:
        raise AnsibleFilterError(exc.msg)


class FilterModule(object):
    def filters(self):
        return {
            'vdi_merge_reports': vdi_merge_reports,
            'vdi_wave_groups': wave_groups,
            'vdi_wave_batches': wave_batches,
        }
