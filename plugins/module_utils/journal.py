# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The patch window's journal, its report file and its pool locks, on the controller.

The journal is the window's state between its phases (plan, a begin and an end per wave, the
report): the plan, every desktop's steps, the countdown marks already sent per wave and the
quarantine. It lives next to the report (``<report>.journal``; ``<report>.plan.journal`` in check
mode) so that a rerun after an interruption resumes where the last run stopped, and it never holds a
secret (connection options are not written). Files are written atomically and readable by their
owner only (0600).

A window holds a lock per pool (a file in the lock directory, by default the report's directory)
naming the run: the ``ansible-playbook`` process (host, pid and start time) that runs it. A second
window on the same pool is refused while that process lives; the lock of a run that was killed is
taken over by the next run, which resumes the journal.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import socket
import subprocess
import tempfile
import time

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError

JOURNAL_VERSION = 1
#: process names that run a playbook: the run a window belongs to is the nearest of them above the module
CONTROLLER_NAMES = ('ansible-playbook', 'ansible-runner')


def journal_path(report_path, check_mode=False):
    return '%s%s.journal' % (report_path, '.plan' if check_mode else '')


def write_private(path, text):
    """Write ``text`` to ``path`` atomically (a temporary file in the same directory, renamed), mode 0600."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_writable(path, what):
    """ConfigError (before any request) when ``path`` cannot be written: its directory missing or read-only."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError('The %s path %s is in a directory that does not exist (%s). Create it, or set the path to '
                          'a writable directory.' % (what, path, directory))
    if not os.access(directory, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ConfigError('The %s path %s is not writable (for example a read-only collection or execution '
                          'environment directory). Set it to a writable directory.' % (what, path))


# ---------------------------------------------------------------------------------------------- the run


def _proc_stat(pid):
    """(parent pid, start time in clock ticks) of a process from /proc, or None."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            text = handle.read()
    except (IOError, OSError):
        return None
    fields = text[text.rindex(')') + 2:].split()
    return int(fields[1]), fields[19]


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return [p.decode('utf-8', 'replace') for p in handle.read().split(b'\0') if p]
    except (IOError, OSError):
        return _ps(pid, 'args=').split()


def _ps(pid, fmt):
    try:
        return subprocess.check_output(['ps', '-o', fmt, '-p', str(pid)], stderr=subprocess.DEVNULL).decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return ''


def _parent(pid):
    stat = _proc_stat(pid)
    if stat is not None:
        return stat[0]
    text = _ps(pid, 'ppid=')
    return int(text) if text.isdigit() else 0


def _started(pid):
    stat = _proc_stat(pid)
    return stat[1] if stat is not None else _ps(pid, 'lstart=')


def _is_controller(pid):
    return pid > 1 and any(os.path.basename(part).startswith(CONTROLLER_NAMES) for part in _cmdline(pid)[:3])


def controller_process(start=None):
    """Pid of the ``ansible-playbook`` process this module runs under, or None.

    Ansible's workers are forks of that process (same command line), so it is the top of the nearest
    unbroken chain of ``ansible-playbook`` processes above the module.
    """
    pid = start or os.getppid()
    for _hop in range(16):
        if pid <= 1:
            return None
        if _is_controller(pid):
            while _is_controller(_parent(pid)):
                pid = _parent(pid)
            return pid
        pid = _parent(pid)
    return None


def current_run():
    """The identity of the run: host, controller pid and its start time (``id`` joins them)."""
    host = socket.gethostname()
    pid = controller_process()
    started = _started(pid) if pid else None
    ident = '%s:%s:%s' % (host, pid, started) if pid else '%s:module-%s:%s' % (host, os.getpid(), time.time())
    return {'id': ident, 'host': host, 'pid': pid, 'started': started}


def run_alive(run):
    """Whether the run that wrote a lock or journal still runs (unknown runs on other hosts count as alive)."""
    if not run or not run.get('pid'):
        return False
    if run.get('host') != socket.gethostname():
        return True
    try:
        os.kill(run['pid'], 0)
    except OSError as err:
        if err.errno == errno.ESRCH:
            return False
    return _started(run['pid']) == run.get('started')


# ---------------------------------------------------------------------------------------------- locks


def lock_file(lock_dir, provider, endpoint, pool_id):
    key = hashlib.sha256(('%s|%s|%s' % (provider, endpoint, pool_id)).encode('utf-8')).hexdigest()[:16]
    return os.path.join(lock_dir, 'vdi-fleet-window-%s-%s.lock' % (provider, key))


def acquire_locks(paths, run, pools, report_path, check_mode=False, break_locks=False):
    """Take the lock of every pool for ``run`` (in check mode only check that none is held by a live run).

    ConfigError naming the holder when another live run holds one; nothing is taken then.
    """
    for path, pool in zip(paths, pools):
        holder = read_json(path)
        if holder and holder.get('run', {}).get('id') != run['id'] and run_alive(holder.get('run')) \
                and not break_locks:
            raise ConfigError(
                'Pool %s is in a patch window already: run %s (host %s, pid %s) started %s, report %s. Wait for it to '
                'end; if that run is gone (its host is down), remove %s or set the break-locks option.'
                % (pool['name'], holder['run'].get('id'), holder['run'].get('host'), holder['run'].get('pid'),
                   holder.get('since'), holder.get('report'), path))
    if check_mode:
        return
    for path, pool in zip(paths, pools):
        write_private(path, json.dumps({'run': run, 'pool': pool['id'], 'report': report_path,
                                        'since': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}))


def release_locks(paths, run):
    for path in paths:
        holder = read_json(path)
        if holder and holder.get('run', {}).get('id') == run['id']:
            try:
                os.unlink(path)
            except OSError:
                pass


def read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------- journal


class Journal:
    """The window's state (a dict, ``data``) and where it is kept."""

    def __init__(self, path, data):
        self.path = path
        self.data = data

    @classmethod
    def load(cls, path):
        data = read_json(path)
        if data is None or data.get('version') != JOURNAL_VERSION:
            return None
        return cls(path, data)

    def save(self):
        self.data['updated'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        write_private(self.path, json.dumps(self.data, separators=(',', ':')))

    def __getitem__(self, key):
        return self.data[key]
