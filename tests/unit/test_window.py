"""The patch-window engine without a provider: planning, option checks, journal, locks, merging slices."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.vdi.fleet.plugins.module_utils import journal as jr
from ansible_collections.vdi.fleet.plugins.module_utils import window
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ApiError, ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import ProviderAdapter, desktop

OPTS = dict(wave_size='25%', countdown=[15, 5, 1], minute_seconds=60, message='in {minutes} min', message_type='info',
            message_options={}, drain_timeout=900, logoff_policy='force', logoff_message='bye', unwarned_policy='skip',
            patch_tasks=False, restart=True, restart_force=False, restart_timeout=900, retry_unanswered=True,
            quarantine_failed=True, max_failed_percentage=20, pools=['p'])


@pytest.mark.parametrize('count, allowance, sizes', [
    (250, 62, [50, 50, 50, 50, 50]),   # no tail wave of 2
    (14, 3, [3, 3, 3, 3, 2]),
    (10, 3, [3, 3, 2, 2]),
    (3, 5, [3]),
    (0, 5, []),
])
def test_waves_are_balanced_and_never_exceed_the_allowance(count, allowance, sizes):
    got = window.wave_sizes(count, allowance)
    assert got == sizes and sum(got) == count and max(got or [0]) <= allowance


def test_plan_orders_resume_idle_busy():
    desktops = [dict(id='b', name='b', maintenance=False, sessions=1), dict(id='a', name='a', maintenance=False, sessions=0),
                dict(id='m', name='z', maintenance=True, sessions=1), dict(id='c', name='c', maintenance=False, sessions=0)]
    allowance, ordered, ends = window.plan_pool(desktops, '50%')
    assert (allowance, ordered, ends) == (2, ['m', 'a', 'c', 'b'], [2, 4])


@pytest.mark.parametrize('change, words', [
    (dict(countdown=[-5, 1]), 'positive'),
    (dict(countdown=[1, 5]), 'from the earliest warning to the last'),
    (dict(countdown=[5, 5]), 'distinct'),
    (dict(drain_timeout=-5), 'drain_timeout must be 0 or more'),
    (dict(minute_seconds=-1), 'minute_seconds must be 0 or more'),
    (dict(max_failed_percentage=-1), 'between 0 and 100'),
    (dict(max_failed_percentage=101), 'between 0 and 100'),
    (dict(restart_timeout=0), 'restart_timeout must be a positive'),
    (dict(wave_size='0'), 'wave_size must be a positive count'),
    (dict(wave_size='150%'), 'wave_size must be a positive count'),
    (dict(message='  '), 'message is empty'),
])
def test_options_that_make_no_sense_are_refused(change, words):
    with pytest.raises(ConfigError) as err:
        window.check_options(dict(OPTS, **change))
    assert words in err.value.msg


def test_options_that_make_sense_pass():
    window.check_options(dict(OPTS, countdown=[], message=''))
    window.check_options(dict(OPTS, wave_size='10', drain_timeout=0, max_failed_percentage=0))


def test_report_path_in_a_read_only_or_missing_directory_is_refused(tmp_path, monkeypatch):
    ro = tmp_path / 'ro'
    ro.mkdir()
    # a read-only directory (an execution environment's collection path), as the kernel answers for it
    monkeypatch.setattr(jr.os, 'access', lambda path, mode: not str(path).startswith(str(ro)))
    with pytest.raises(ConfigError) as err:
        jr.check_writable(str(ro / 'r.json'), 'report')
    assert 'not writable' in err.value.msg
    monkeypatch.undo()
    with pytest.raises(ConfigError) as err:
        jr.check_writable(str(tmp_path / 'nope' / 'r.json'), 'report')
    assert 'does not exist' in err.value.msg


def test_private_files_are_0600_and_replaced_atomically(tmp_path):
    path = str(tmp_path / 'f.json')
    jr.write_private(path, '{"a": 1}')
    jr.write_private(path, '{"a": 2}')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(open(path).read()) == {'a': 2}
    assert os.listdir(str(tmp_path)) == ['f.json']


def test_lock_of_a_live_run_refuses_and_a_dead_run_is_taken_over(tmp_path):
    pool = {'id': 'p1', 'name': 'Finance'}
    path = jr.lock_file(str(tmp_path), 'horizon', 'https://cs', 'p1')
    me = jr.current_run()
    # another run, on a process that lives (this one), holds it
    live = dict(me, id='other-run', pid=os.getpid(), started=jr._started(os.getpid()))  # pylint: disable=protected-access
    jr.acquire_locks([path], live, [pool], 'r.json')
    with pytest.raises(ConfigError) as err:
        jr.acquire_locks([path], me, [pool], 'r.json')
    assert 'Pool Finance is in a patch window already' in err.value.msg and path in err.value.msg
    jr.acquire_locks([path], me, [pool], 'r.json', break_locks=True)
    assert jr.read_json(path)['run']['id'] == me['id']
    dead = dict(me, id='dead-run', pid=2 ** 22 + 7)  # no such process
    jr.write_private(path, json.dumps({'run': dead, 'pool': 'p1'}))
    jr.acquire_locks([path], me, [pool], 'r.json')
    assert jr.read_json(path)['run']['id'] == me['id']
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    jr.release_locks([path], me)
    assert not os.path.exists(path)


def test_check_mode_takes_no_lock_but_still_refuses_a_held_one(tmp_path):
    pool = {'id': 'p1', 'name': 'Finance'}
    path = jr.lock_file(str(tmp_path), 'horizon', 'https://cs', 'p1')
    jr.acquire_locks([path], jr.current_run(), [pool], 'r.json', check_mode=True)
    assert not os.path.exists(path)


def report(*records):
    return {'summary': {'waves': 2, 'warnings': {'delivered': 1, 'failed': 0}}, 'desktops': list(records)}


def test_slices_merge_into_one_report_with_every_desktop_once():
    merged = window.merge_reports([
        report({'id': 'a', 'name': 'a', 'pool': 'p', 'wave': 1, 'status': 'released'},
               {'id': 'b', 'name': 'b', 'pool': 'p', 'wave': 2, 'status': 'quarantined'}),
        report({'id': 'c', 'name': 'c', 'pool': 'q', 'wave': 1, 'status': 'released'}),
    ], path='/r.json')
    assert [r['id'] for r in merged['desktops']] == ['a', 'b', 'c']
    summary = merged['summary']
    assert (summary['desktops'], summary['released'], summary['quarantined'], summary['slices'], summary['pools']) == \
        (3, 2, 1, 2, 2)
    assert summary['warnings'] == {'delivered': 2, 'failed': 0} and summary['report'] == '/r.json'
    assert merged['stats']['quarantined'] == ['b']


def test_slices_that_overlap_are_refused():
    rec = {'id': 'a', 'name': 'a', 'pool': 'p', 'wave': 1, 'status': 'released'}
    with pytest.raises(ConfigError) as err:
        window.merge_reports([report(rec), report(rec)])
    assert 'more than one slice' in err.value.msg


def test_wave_groups_and_batches_follow_the_wave_numbers():
    groups = {'all': ['a'], 'vdi_wave_10': ['x'], 'vdi_wave_2': ['b', 'c'], 'vdi_wave_1': ['a'], 'vdi_wave_3': [],
              'vdi_wave_x': ['z']}
    assert window.wave_groups(groups) == ['vdi_wave_1', 'vdi_wave_2', 'vdi_wave_3', 'vdi_wave_10']
    assert window.wave_batches(groups) == [1, 2, 1]


# ---------------------------------------------------------------------------------------------- reads


class Reads(ProviderAdapter):
    """Desktop listings that fail (throttled) ``fails`` times, then answer; no HTTP."""

    name = 'fake'
    endpoint = 'https://fake'

    def __init__(self, fails):  # pylint: disable=super-init-not-called
        self.fails = fails
        self.calls = 0

    def list_desktops(self, pool_ids=None, desktop_ids=None):
        self.calls += 1
        if self.calls <= self.fails:
            raise ApiError('throttled', status=429, throttle=True)
        return [desktop(i, i, 'p', True, 'powered_on', 0, {}) for i in desktop_ids or ['a', 'b']]


class Instant:
    """A poller that does not sleep (up to 50 checks)."""

    def __init__(self, *_args):
        pass

    def run(self, check):
        return any(check() for _n in range(50))


def wave(adapter, monkeypatch, tmp_path):
    run = {'id': 'r', 'host': 'h', 'pid': None, 'started': None}
    monkeypatch.setattr(jr, 'current_run', lambda: run)
    data = {'provider': 'fake', 'endpoint': 'https://fake', 'run': run, 'options': dict(OPTS, restart=False),
            'pools': [{'id': 'p', 'name': 'p', 'size': 2, 'allowance': 2, 'queue': ['a', 'b'], 'next': 2,
                       'ends': [2]}],
            'desktops': dict((i, window.desktop_record(desktop(i, i, 'p', True, 'powered_on', 0, {}), 1))
                             for i in ('a', 'b')), 'waves': {}, 'quarantined': [], 'stopped': False}
    return window.Window(adapter, jr.Journal(str(tmp_path / 'j'), data), poller_factory=lambda *a: Instant())


def test_a_read_that_fails_a_few_times_is_asked_again_and_verifies(monkeypatch, tmp_path):
    adapter = Reads(fails=3)
    w = wave(adapter, monkeypatch, tmp_path)
    w.verify(['a', 'b'])
    assert adapter.calls == 4
    assert all(w.rec(i)['steps']['verify']['outcome'] == 'ok' for i in ('a', 'b'))


def test_reads_that_keep_failing_never_quarantine_by_themselves(monkeypatch, tmp_path):
    w = wave(Reads(fails=10 ** 6), monkeypatch, tmp_path)
    w.verify(['a', 'b'])
    steps = [w.rec(i)['steps']['verify'] for i in ('a', 'b')]
    assert all(s['outcome'] == 'skipped' and 'not verified' in s['msg'] for s in steps)
    assert not any(w.failed_in(i, window.QUARANTINE_STEPS) for i in ('a', 'b'))


# ---------------------------------------------------------------------------------------------- rolling catch-up


def rolling_window(monkeypatch, tmp_path, quarantined=('a',), stopped=False, rolling=True):
    """Two pools in rolling mode: p (allowance 2, desktops a-e) and q (allowance 3, desktops f-j)."""
    run = {'id': 'r', 'host': 'h', 'pid': None, 'started': None}
    monkeypatch.setattr(jr, 'current_run', lambda: run)
    pools = {'p': 'abcde', 'q': 'fghij'}
    records = {}
    for pool, ids in pools.items():
        for i in ids:
            records[i] = dict(window.desktop_record(desktop(i, i, pool, False, 'powered_on', 0, {}), None),
                              host='host-' + i)
    data = {'provider': 'fake', 'endpoint': 'https://fake', 'run': run, 'options': dict(OPTS), 'rolling': rolling,
            'pools': [{'id': 'p', 'name': 'p', 'size': 5, 'allowance': 2, 'queue': list('abcde'), 'next': 0, 'ends': []},
                      {'id': 'q', 'name': 'q', 'size': 5, 'allowance': 3, 'queue': list('fghij'), 'next': 0, 'ends': []}],
            'desktops': records, 'waves': {}, 'quarantined': list(quarantined), 'stopped': stopped}
    for i in quarantined:
        records[i]['state'] = 'done'
    return window.Window(Reads(0), jr.Journal(str(tmp_path / 'j'), data), poller_factory=lambda *a: Instant())


def test_a_batch_passes_over_what_the_allowance_has_no_room_for_and_the_catch_up_takes_it(monkeypatch, tmp_path):
    w = rolling_window(monkeypatch, tmp_path)
    # p has room for 1 (allowance 2, a quarantined), q for 3
    assert w._take_batch(['b', 'c', 'd', 'f', 'g', 'h', 'i']) == ['b', 'f', 'g', 'h']  # pylint: disable=protected-access
    assert all('deferred' in w.rec(i)['steps'] for i in 'cdi')
    for i in 'bfgh':
        w.rec(i)['state'] = 'done'
    # batches that fit every pool's room: p's two passed over one at a time, q's one beside the first
    assert w.catch_up() == {'hosts': ['host-c', 'host-i', 'host-d'], 'batches': [2, 1]}
    assert w._take_batch(['c', 'i']) == ['c', 'i']  # pylint: disable=protected-access
    assert not any('deferred' in w.rec(i)['steps'] for i in 'ci')  # taken now: no longer reported as passed over


def test_no_catch_up_once_stopped_in_localhost_mode_or_without_room(monkeypatch, tmp_path):
    for kwargs in ({'stopped': True}, {'rolling': False}, {'quarantined': ('a', 'b')}):
        w = rolling_window(monkeypatch, tmp_path, **kwargs)
        w._take_batch(['c', 'd', 'e'])  # pylint: disable=protected-access
        assert w.catch_up() == {'hosts': [], 'batches': []}, kwargs


def test_hosts_must_name_each_desktop_in_order():
    with pytest.raises(ConfigError, match='hosts must name the inventory host of each of desktops'):
        window.plan_window(None, dict(OPTS), '/nonexistent/report.json', desktops=['a', 'b'], hosts=['host-a'])
