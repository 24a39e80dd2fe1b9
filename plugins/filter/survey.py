# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn AWX/Automation Controller survey answers into the variables of the collection's roles."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types
from ansible.utils.unsafe_proxy import wrap_var


def vdi_lines(value, comment='#'):
    """One item per line of ``value``: each line trimmed, blank lines and comment lines dropped, duplicates dropped.

    ``value`` is the text of a survey's textarea (any line endings) or already a list (each element one item), or
    ``None`` (no item). A line whose first non-blank character starts ``comment`` is a comment; an empty
    ``comment`` turns comments off. The first of repeated items is kept, in the order given. The items are marked
    unsafe, so text typed into a survey is never templated.
    """
    if value is None:
        return []
    if isinstance(value, string_types):
        lines = to_text(value).splitlines()
    elif isinstance(value, (list, tuple)):
        lines = []
        for item in value:
            if item is not None and (isinstance(item, bool) or not isinstance(item, (string_types, int))):
                raise AnsibleFilterError('vdi_lines takes text or a list of strings; the list holds %s %r'
                                         % (type(item).__name__, item))
            lines.append('' if item is None else to_text(item))
    else:
        raise AnsibleFilterError('vdi_lines takes text (one item per line) or a list of strings, not %s'
                                 % type(value).__name__)
    if comment is not None and not isinstance(comment, string_types):
        raise AnsibleFilterError('vdi_lines: comment must be a string, not %s' % type(comment).__name__)
    items = []
    seen = set()
    for line in lines:
        item = line.strip()
        if not item or (comment and item.startswith(comment)) or item in seen:
            continue
        seen.add(item)
        items.append(item)
    return wrap_var(items)


class FilterModule(object):
    def filters(self):
        return {'vdi_lines': vdi_lines}
