"""`make bench`, the job-log section: bytes a 10,000-desktop task prints at ``-v``, for each ``result`` form.

AWX stores every task result as a job event; at ``-v`` the result is printed whole. One simulator child process
holds one pool of N desktops per provider; ``desktop_maintenance`` puts the whole pool into maintenance (every
desktop changes) and takes it out again, once per ``result`` form (``full``, ``changed``, ``summary``), through
``ansible-playbook -v``; a second run with nothing to change shows what ``changed`` saves on a converged fleet.
Results: ``bench/results/output.md`` and ``output.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from chaos import ROOT, collections_path, sim_call, start_simulator, stop_simulator  # noqa: E402  pylint: disable=wrong-import-position

FORMS = ('full', 'changed', 'summary')
#: Horizon access tokens outlive the run on the fast clock (a token refresh is not what is measured)
SIM_OPTIONS = ('--token-lifetime', str(3600 * 3600))


def playbook(conn: dict, pool: str, form: str, state: str) -> list:
    return [{'name': 'one task over a big pool', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'name': 'Maintenance %s for the pool' % state, 'vdi.fleet.desktop_maintenance': dict(
            conn, pool=pool, state=state, result=form)}]}]


def run_play(play: list, workdir: str, name: str) -> int:
    """Bytes of ``ansible-playbook -v`` output of ``play``."""
    path = os.path.join(workdir, name + '.yml')
    with open(path, 'w', encoding='utf-8') as fh:
        json.dump(play, fh)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-v', path],
                          capture_output=True, env=env, cwd=workdir, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %d):\n%s' % (name, proc.returncode, proc.stdout[-3000:].decode()))
    return len(proc.stdout)


def measure(provider: str, n: int, workdir: str) -> list[dict]:
    proc, info = start_simulator(workdir, fleet=n, pools=1, seed=1, time_scale=3600.0, faults='', rate_limit=None,
                                 providers=(provider,), extra=SIM_OPTIONS)
    try:
        conn = dict(info[provider], ca_path=info['ca_path'])
        pool = sim_call(info, provider, 'GET', 'state')['pools'][0]['name']
        rows = []
        for form in FORMS:
            changed = run_play(playbook(conn, pool, form, 'present'), workdir, '%s-%s-on' % (provider, form))
            converged = run_play(playbook(conn, pool, form, 'present'), workdir, '%s-%s-again' % (provider, form))
            run_play(playbook(conn, pool, 'summary', 'absent'), workdir, '%s-%s-off' % (provider, form))
            rows.append({'provider': provider, 'n': n, 'form': form, 'bytes_all_changed': changed,
                         'bytes_nothing_to_change': converged})
        return rows
    finally:
        stop_simulator(proc)


def to_markdown(rows: list[dict]) -> str:
    lines = ['# Job log size of one task over a big pool (`ansible-playbook -v`)', '',
             '`desktop_maintenance` over one pool, every desktop changing, then again with nothing to change; bytes of '
             'the `-v` output (what an AWX job event stores).', '',
             '| provider | N | result | bytes, every desktop changed | bytes, nothing to change |',
             '| --- | ---: | --- | ---: | ---: |']
    for r in rows:
        cells = (r['provider'], r['n'], r['form'], format(r['bytes_all_changed'], ','),
                 format(r['bytes_nothing_to_change'], ','))
        lines.append('| %s | %d | `%s` | %s | %s |' % cells)
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--size', type=int, default=10000)
    ap.add_argument('--providers', default='horizon,huaweicloud,alicloud')
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'results'))
    args = ap.parse_args(argv)
    rows = []
    for provider in args.providers.split(','):
        with tempfile.TemporaryDirectory(prefix='vdi-fleet-output-') as workdir:
            rows += measure(provider, args.size, workdir)
            print(to_markdown([r for r in rows if r['provider'] == provider]), flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'output.json'), 'w', encoding='utf-8') as fh:
        json.dump(rows, fh, indent=2)
    with open(os.path.join(args.out, 'output.md'), 'w', encoding='utf-8') as fh:
        fh.write(to_markdown(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
