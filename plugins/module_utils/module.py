# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base class of the collection's modules.

It merges the shared connection options (and, where the module takes them, the selection and
result options) into the module's argument spec, checks them before any request, opens the
provider adapter, turns every collection error into one ``fail_json`` message (never a
traceback), and exits with the per-item results, the summary and the diff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.vdi.fleet.plugins.module_utils.connection import (
    SECRET_OPTIONS, build_adapter, connection_argument_spec, resolve_connection)
from ansible_collections.vdi.fleet.plugins.module_utils.errors import VdiFleetError
from ansible_collections.vdi.fleet.plugins.module_utils.service import summarize
from ansible_collections.vdi.fleet.plugins.module_utils.transport import HAS_REQUESTS, REQUESTS_IMPORT_ERROR

#: the options of the vdi.fleet.selection doc fragment
SELECTION_SPEC = dict(
    desktops=dict(type='list', elements='str'),
    pool=dict(type='str'),
)
#: the options of the vdi.fleet.selection.RESULTS doc fragment
RESULTS_SPEC = dict(
    fail_on_error=dict(type='bool', default=True),
    result=dict(type='str', default='full', choices=['full', 'changed', 'summary']),
)


def compact(entries, form):
    """The per-item entries a task returns for ``result`` = ``form`` (``full``, ``changed``, ``summary``)."""
    if form == 'changed':
        return [e for e in entries if e['changed'] or e['failed']]
    if form == 'summary':
        return [e for e in entries if e['failed']]
    return entries


class VdiFleetModule:
    """Wraps AnsibleModule by composition (``self.module``).

    ``selection``: the module takes ``desktops``/``pool``; ``results``: it takes ``fail_on_error``
    and ``result`` (modules that change desktops or sessions).
    """

    def __init__(self, argument_spec, selection=True, results=True, **kwargs):
        spec = connection_argument_spec()
        if selection:
            spec.update(SELECTION_SPEC)
        if results:
            spec.update(RESULTS_SPEC)
        spec.update(argument_spec)
        kwargs.setdefault('supports_check_mode', True)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.adapter = None
        if not HAS_REQUESTS:
            self.module.fail_json(msg=missing_required_lib('requests'), exception=REQUESTS_IMPORT_ERROR)

    def fail(self, msg, **kwargs):
        self.close()
        self.module.fail_json(msg=msg, **kwargs)

    def connect(self):
        """Resolve the connection options and build the adapter (no request is sent yet)."""
        try:
            conn = resolve_connection(self.params)
        except VdiFleetError as exc:
            self.fail(exc.msg)
        for option in SECRET_OPTIONS + ('access_key',):
            if conn.get(option):
                self.module.no_log_values.add(conn[option])
        try:
            self.adapter = build_adapter(conn)
        except VdiFleetError as exc:
            self.fail(exc.msg)
        return self.adapter

    def close(self):
        if self.adapter is not None:
            adapter, self.adapter = self.adapter, None
            try:
                adapter.close()
            except Exception:  # pylint: disable=broad-except
                pass

    def run(self, func):
        """Call ``func(adapter)`` and exit with what it returns (a dict of results), or fail with one message."""
        adapter = self.connect()
        try:
            result = func(adapter)
        except VdiFleetError as exc:
            self.fail(exc.msg)
        except Exception as exc:  # pylint: disable=broad-except
            # An answer of a shape the adapter does not know: say where, keep the traceback for -vvv.
            msg = ('Unexpected %s while talking to %s at %s: %s. Check that endpoint is a %s API; if it is, '
                   'this is a bug in vdi.fleet.' % (type(exc).__name__, adapter.name, adapter.endpoint, exc, adapter.name))
            self.fail(msg, exception=traceback.format_exc())
        self.close()
        return result

    def exit(self, **result):
        """Exit with a result that is not a list of per-item changes (info modules)."""
        self.close()
        self.module.exit_json(**result)

    def exit_desktops(self, entries, diff=None, what='desktops', summary=None, fail_on_error=None, changed=False,
                      failure=None, **extra):
        """Exit with ``desktops`` (or ``what``) entries and ``summary``; fail after reporting when one failed
        (unless ``fail_on_error``, default the module option, is false).

        ``changed``/``failure``: a change or a failure of something that is not one of the entries (a pool's own
        image), which changes or fails the task like an entry's would. The entries returned follow the ``result``
        option; ``summary`` always counts all of them.
        """
        summary = summary or summarize(entries)
        result = dict(changed=changed or any(e['changed'] for e in entries), summary=summary, **extra)
        result[what] = compact(entries, self.params.get('result') or 'full')
        if diff is not None and self.module._diff:
            result['diff'] = diff
        failed = [e for e in entries if e['failed']]
        if fail_on_error is None:
            fail_on_error = self.params.get('fail_on_error', True)
        if failure and fail_on_error:
            self.module.fail_json(msg=failure, **result)
        if failed and fail_on_error:
            names = ', '.join('%s (%s)' % (_label(e), e['msg']) for e in failed[:5])
            more = ' and %d more' % (len(failed) - 5) if len(failed) > 5 else ''
            self.module.fail_json(msg='%d of %d %s failed: %s%s' % (len(failed), len(entries), what, names, more),
                                  **result)
        self.module.exit_json(**result)


def _label(entry):
    """How an entry is named in a failure message: desktop name or id, plus the user for a session."""
    name = entry.get('name') or entry.get('desktop_name') or entry.get('id') or entry.get('desktop_id')
    if entry.get('session_id') or entry.get('user'):
        return '%s session %s of %s' % (name, entry.get('session_id'), entry.get('user'))
    return name
