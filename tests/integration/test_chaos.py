"""`make chaos` at a reduced size: the patch_window role under injected faults, then the invariants.

The same code as ``bench/chaos.py`` (imported from there): a simulator child process with 60 desktops per
provider in one pool, fixed seed, clock x120, the faults of the issue (throttling 10 %, 5xx 5 %, dropped
connections 2 %, latency 50-500 ms, per-id failures 2 %) and a rate limit; one ``ansible-playbook -vvvv`` of the role
per provider, side by side. Whatever the faults hit, these must hold:

* every desktop of the pool is in the report exactly once, with a known status;
* no desktop is left in maintenance unless the report names it as quarantined;
* no session received the same message twice;
* the rate limit was never exceeded;
* no credential, token or signature appears in the -vvvv output or in the report.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _chaos_module():
    spec = importlib.util.spec_from_file_location('vdi_fleet_bench_chaos', os.path.join(ROOT, 'bench', 'chaos.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


chaos = _chaos_module()


@pytest.fixture(scope='module')
def chaos_run(tmp_path_factory):
    if not os.path.isdir(os.path.join(chaos.collections_path(), 'ansible_collections', 'vdi', 'fleet')):
        pytest.fail('vdi.fleet is not installed in .build/collections: run `make collection` first')
    workdir = str(tmp_path_factory.mktemp('chaos'))
    return chaos.run_chaos(desktops=60, pools=1, seed=11, time_scale=120.0, faults=chaos.FAULTS,
                           rate_limit=chaos.RATE_LIMIT, wave_size='50%', workdir=workdir, verbosity=4)


@pytest.mark.parametrize('provider', chaos.PROVIDERS)
def test_invariants_hold_under_faults(chaos_run, provider):
    r = chaos_run[provider]
    failed = {name: c['detail'] for name, c in r['checks'].items() if not c['ok']}
    assert r['summary'] is not None, 'the role wrote no report (rc %s, failed task %s):\n%s' % (
        r['rc'], r['failed_task'], r['output_tail'])
    assert not failed, failed
    s = r['summary']
    assert s['desktops'] == r['desktops'] == 60
    assert s['released'] + s['quarantined'] + s['skipped'] + s['failed'] + s['not_reached'] == 60, s
    assert r['requests'] > 0 and r['by_status'], r


def test_the_faults_were_really_injected(chaos_run):
    """Not a fair-weather run: every kind of fault that answers a request reached the clients."""
    kinds = {}
    for provider in chaos.PROVIDERS:
        for kind, count in chaos_run[provider]['faults'].items():
            kinds[kind] = kinds.get(kind, 0) + count
    assert kinds.get('throttle', 0) > 0 and kinds.get('5xx', 0) > 0 and kinds.get('drop', 0) > 0, kinds
    assert kinds.get('rate_limited', 0) == 0, kinds


def test_checks_catch_violations():
    """The checks themselves: a stuck desktop, a repeated message, a leaked secret and a lost desktop are caught."""
    state = {'pools': [{'id': 'p1', 'name': 'pool-1'}],
             'desktops': [{'id': 'd1', 'name': 'one', 'pool': 'p1', 'maintenance': True},
                          {'id': 'd2', 'name': 'two', 'pool': 'p1', 'maintenance': False}],
             'messages': [{'session_id': 's1', 'desktop_id': 'd2', 'text': 'hi'},
                          {'session_id': 's1', 'desktop_id': 'd2', 'text': 'hi'}]}
    stats = {'rate_limited': 2, 'log': [{'time': 0.1 * n} for n in range(12)]}
    report = {'desktops': [{'id': 'd1', 'status': 'released'}, {'id': 'd1', 'status': 'released'}]}
    checks = chaos.check_run('horizon', state, stats, report, 'password=Sup3r-secret! Bearer eyJhbGciOiJIUzI1NiJ9.abc',
                             '{}', ['Sup3r-secret!'], ['pool-1'], 10.0)
    failed = {name for name, c in checks.items() if not c['ok']}
    assert failed == {'accounted', 'maintenance', 'messages', 'rate_limit', 'secrets'}
    assert 'peak 10 requests' in checks['rate_limit']['detail']
