"""Run real ansible-playbook plays against the simulator and collect the registered results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# make test-matrix points this at a collections path installed with another ansible-core.
COLLECTIONS = os.environ.get('VDI_FLEET_TEST_COLLECTIONS') or os.path.join(ROOT, '.build', 'collections')


def _live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that can still run (zombies cannot send a request)."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ('Z', 'X'):
            found.append(int(entry))
    return found


def kill_group(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGKILL a play started with ``start_new_session=True`` and every process it forked (its workers and the
    module they run), then wait until none of them can run: a module left alive would go on calling the simulator
    during the next test."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + timeout
    while _live_members(proc.pid):
        assert time.monotonic() < deadline, 'processes of the killed play are still running'
        time.sleep(0.05)


def _installed() -> bool:
    return os.path.isdir(os.path.join(COLLECTIONS, 'ansible_collections', 'vdi', 'fleet'))


class PlayResult:
    def __init__(self, rc: int, stdout: str, results: dict) -> None:
        self.rc = rc
        self.stdout = stdout
        self.results = results

    def __getitem__(self, key):
        return self.results[key]


@pytest.fixture
def run_play(tmp_path):
    """``run_play(conn, tasks, check=False, diff=False, env=None)``.

    ``tasks`` is a list of ``(module, args)`` or ``(module, args, task_keywords)``; each task is
    registered as ``r0``, ``r1``... with ``ignore_errors: true``, and the registered values are
    returned in ``PlayResult.results``.
    """
    if not _installed():
        pytest.fail('vdi.fleet is not installed in .build/collections: run `make collection` first')

    def run(conn, tasks, check=False, diff=False, env=None, verbosity=0):
        out = tmp_path / 'results.json'
        play_tasks = []
        names = []
        for n, task in enumerate(tasks):
            module, args = task[0], task[1]
            keywords = task[2] if len(task) > 2 else {}
            t = {'name': 'task %d' % n, module: args, 'register': 'r%d' % n, 'ignore_errors': True}
            t.update(keywords)
            play_tasks.append(t)
            names.append('r%d' % n)
        dump = '{{ {%s} | to_json }}' % ', '.join("'%s': %s" % (n, n) for n in names)
        play_tasks.append({'name': 'dump', 'ansible.builtin.copy': {'content': dump, 'dest': str(out)},
                           'check_mode': False, 'diff': False})
        play = [{'name': 'test', 'hosts': 'localhost', 'gather_facts': False,
                 'module_defaults': {'group/vdi.fleet.provider': conn}, 'tasks': play_tasks}]
        path = tmp_path / 'play.yml'
        path.write_text(yaml.safe_dump(play, sort_keys=False))
        cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), str(path)]
        if check:
            cmd.append('--check')
        if diff:
            cmd.append('--diff')
        if verbosity:
            cmd.append('-' + 'v' * verbosity)
        full_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_FORCE_COLOR='0',
                        ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
        full_env.update(env or {})
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=str(tmp_path), timeout=600, check=False)
        results = json.loads(out.read_text()) if out.exists() else {}
        if not results:
            raise AssertionError('play produced no results (rc=%s):\n%s\n%s' % (proc.returncode, proc.stdout, proc.stderr))
        return PlayResult(proc.returncode, proc.stdout + proc.stderr, results)

    return run
