"""ensure_power with a fake adapter whose desktops move one step per read."""

from __future__ import annotations

import pytest

from ansible_collections.vdi.fleet.plugins.module_utils import service
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import ProviderAdapter, desktop, pool


class FakePower(ProviderAdapter):
    """The interface's capabilities and defaults, with the calls faked (no HTTP)."""

    name = 'fake'
    unsupported_power = {}
    distinct_wakeup = True

    def __init__(self, powers, pool_action=False, refuse=(), job_fail=(), never=()):
        self.power_of = dict(powers)
        self.pending = {}  # id -> [states still to show]
        self.pool_action = pool_action
        self.refuse = set(refuse)
        self.job_fail = set(job_fail)
        self.never = set(never)
        self.calls = []
        self.jobs = {}

    def list_pools(self):
        return [pool('p1', 'Pool', {})]

    def list_desktops(self, pool_ids=None, desktop_ids=None):
        self.calls.append(('list',))
        out = []
        for did in sorted(self.power_of):
            if desktop_ids and did not in desktop_ids:
                continue
            steps = self.pending.get(did)
            if steps:
                self.power_of[did] = steps.pop(0)
            out.append(desktop(did, 'n-' + did, 'p1', False, self.power_of[did], 0, {}))
        return out

    def _schedule(self, did, action):
        final = {'start': 'powered_on', 'wakeup': 'powered_on', 'restart': 'powered_on', 'stop': 'powered_off',
                 'hibernate': 'suspended'}[action]
        if did in self.never:
            self.pending[did] = ['transitioning'] * 1000
        elif did in self.job_fail:
            self.pending[did] = ['transitioning', self.power_of[did]]
        else:
            self.pending[did] = ['transitioning', final]

    def power(self, desktop_ids, action, force=False):
        ids = desktop_ids
        self.calls.append(('power', action, tuple(ids)))
        failures = {}
        for did in ids:
            if did in self.refuse:
                failures[did] = 'InvalidState'
            else:
                self._schedule(did, action)
        return failures, ['job-batch']

    def pool_power(self, pool_id, action, force=False):
        if not self.pool_action:
            return None
        self.calls.append(('pool_power', pool_id, action))
        for did in self.power_of:
            self._schedule(did, action)
        return 'job-pool'

    def get_job(self, job_id):
        self.calls.append(('job', job_id))
        done = not any(s for s in self.pending.values())
        # a sub-job's failure shows as soon as that sub-job ends, even while others still run
        failures = dict((i, 'sub-job failed: disk busy') for i in self.job_fail if not self.pending.get(i))
        return {'id': job_id, 'status': ('failed' if failures else 'success') if done else 'pending',
                'message': None, 'failures': failures}


class Rounds:
    def __init__(self, n=30):
        self.n = n

    def run(self, check):
        for _round in range(self.n):
            if check():
                return True
        return False


def run(adapter, state, pool_name=None, desktops=None, **kw):
    sel = service.select(adapter, pool=pool_name, desktops=desktops)
    return service.ensure_power(adapter, sel, state, poller_factory=lambda t: Rounds(), **kw)


def test_started_skips_running_and_uses_batches_for_part_of_a_pool():
    a = FakePower({'a': 'powered_on', 'b': 'powered_off', 'c': 'suspended'}, pool_action=True)
    entries, jobs = run(a, 'started', pool_name='Pool')
    by = dict((e['id'], e) for e in entries)
    assert not by['a']['changed'] and by['a']['msg'] == 'already powered_on'
    assert by['b']['changed'] and by['b']['after'] == {'power_state': 'powered_on'} and not by['b']['failed']
    assert by['c']['changed'] and not by['c']['failed']
    assert ('power', 'start', ('b',)) in a.calls and ('power', 'wakeup', ('c',)) in a.calls
    assert not [c for c in a.calls if c[0] == 'pool_power']
    assert jobs and all(j['status'] == 'success' for j in jobs)


def test_whole_pool_uses_pool_action():
    a = FakePower({'a': 'powered_off', 'b': 'powered_off'}, pool_action=True)
    entries, jobs = run(a, 'started', pool_name='Pool')
    assert [c for c in a.calls if c[0] in ('pool_power', 'power')] == [('pool_power', 'p1', 'start')]
    assert jobs == [{'id': 'job-pool', 'action': 'start', 'scope': 'pool', 'status': 'success', 'message': None}]
    assert all(e['changed'] and not e['failed'] for e in entries)


def test_restart_acts_on_powered_on_only_and_waits_for_the_cycle():
    a = FakePower({'a': 'powered_on', 'b': 'powered_off'})
    entries, _jobs = run(a, 'restarted', desktops=['a', 'b'])
    by = dict((e['id'], e) for e in entries)
    assert by['a']['changed'] and by['a']['msg'] == 'restart done'
    assert not by['b']['changed'] and not by['b']['failed'] and 'powered-on desktops only' in by['b']['msg']


def test_refusal_job_failure_and_timeout_are_per_desktop():
    a = FakePower({'a': 'powered_off', 'b': 'powered_off', 'c': 'powered_off', 'd': 'powered_off'},
                  refuse={'b'}, job_fail={'c'}, never={'d'})
    entries, _jobs = run(a, 'started', desktops=['a', 'b', 'c', 'd'], wait_timeout=42)
    by = dict((e['id'], e) for e in entries)
    assert not by['a']['failed'] and by['a']['after'] == {'power_state': 'powered_on'}
    assert by['b']['failed'] and 'InvalidState' in by['b']['msg'] and not by['b']['changed']
    assert by['c']['failed'] and 'disk busy' in by['c']['msg']
    assert by['d']['failed'] and 'after 42s' in by['d']['msg'] and by['d']['after'] == {'power_state': 'transitioning'}


def test_transitioning_desktops_are_waited_for_before_deciding():
    a = FakePower({'a': 'transitioning'})
    a.pending['a'] = ['transitioning', 'powered_on']
    entries, _jobs = run(a, 'started', desktops=['a'])
    assert entries[0]['msg'] == 'already powered_on' and not entries[0]['changed']
    assert not [c for c in a.calls if c[0] == 'power']


def test_check_mode_sends_nothing_and_hibernate_from_off_is_refused():
    a = FakePower({'a': 'powered_on', 'b': 'powered_off'})
    entries, _jobs = run(a, 'hibernated', desktops=['a', 'b'], check_mode=True)
    assert not [c for c in a.calls if c[0] in ('power', 'pool_power')]
    by = dict((e['id'], e) for e in entries)
    assert by['a']['changed'] and by['a']['after'] == {'power_state': 'suspended'}
    assert by['b']['failed'] and 'start it before' in by['b']['msg']


def test_unsupported_state_fails_before_anything():
    a = FakePower({'a': 'powered_off'})
    a.unsupported_power = {'powered_on': 'not in this API'}
    with pytest.raises(ConfigError):
        run(a, 'started', desktops=['a'])
    assert not [c for c in a.calls if c[0] == 'power']
