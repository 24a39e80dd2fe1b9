"""The counting of bench/window.py (the role section of `make bench`): polls, the API minimum of a wave, the fit.

No simulator and no ansible-playbook here: synthetic request logs and fleets.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module', name='window')
def window_module():
    spec = importlib.util.spec_from_file_location('vdi_fleet_bench_window', os.path.join(ROOT, 'bench', 'window.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def desktop(i, pool='p1', power='on', sessions=0):
    return {'id': 'd%03d' % i, 'name': 'D%03d' % i, 'pool': pool, 'power': power, 'maintenance': False,
            'sessions': [{'id': 's%d-%d' % (i, k)} for k in range(sessions)]}


def log(entries, start=1000.0):
    """(op, write, seconds since the previous request) -> simulator log entries."""
    out, now = [], start
    for op, write, gap in entries:
        now += gap
        out.append({'op': op, 'write': write, 'time': now})
    return out


def test_a_poll_is_a_whole_listing_and_a_read_sent_at_once_after_it_is_not(window):
    task = {'start': 0, 'end': 2000, 'file': 'wave.yml'}
    entries = log([
        ('login', False, 0.01),
        ('list_machines_v2', False, 0.01), ('list_machines_v2', False, 0.01),   # the wave before acting (2 pages)
        ('restart_machines', True, 0.01),
        ('list_machines_v2', False, 0.01), ('list_machines_v2', False, 0.01),   # read back: 2 pages
        ('list_machines_v2', False, 0.25), ('list_machines_v2', False, 0.01),   # a poll after the backoff: 2 pages
        ('list_machines_v2', False, 0.01),                                      # sent at once: not a poll
        ('exit_maintenance', True, 0.01),
        ('list_machines_v2', False, 0.25),                                      # after a write that is not followed
        ('logout', False, 0.01),
    ])
    counts = window.count_requests('horizon', [(task, e) for e in entries])
    assert (counts['logins'], counts['logouts'], counts['writes'], counts['reads']) == (1, 1, 2, 8)
    assert counts['polls'] == 2
    assert counts['poll_wait_s'] == pytest.approx(0.25)


def test_polls_of_one_task_are_not_mixed_with_another_tasks_requests(window):
    first, second = {'start': 0, 'end': 1000.505, 'file': 'wave.yml'}, {'start': 1000.505, 'end': 2000, 'file': 'wave.yml'}
    entries = log([('batch_run_desktops', True, 0.5), ('list_desktops', False, 0.01), ('list_desktops', False, 0.3)])
    pairs = window.attribute(entries, [second, first])
    assert [t is first for t, _e in pairs] == [True, False, False]
    assert window.count_requests('huaweicloud', pairs)['polls'] == 0


def test_wave_minimum_horizon(window):
    pool = [desktop(i, sessions=1 if 10 <= i < 20 else 0, power='off' if i < 2 else 'on') for i in range(100)]
    got = window.wave_minimum('horizon', pool[:25], pool)
    # Horizon cannot power on: the 2 powered-off desktops enter and leave maintenance, nothing else
    assert got['writes'] == {'enter_maintenance': 1, 'logoff_sessions': 1, 'restart_machines': 1, 'exit_maintenance': 1}
    assert got['reads'] == {'list_machines_v2': 5, 'list_sessions': 2}
    assert (got['logins'], got['logouts']) == (2, 2)


def test_wave_minimum_clouds_power_on_and_put_back(window):
    pool = [desktop(i, power='off' if i < 2 else 'hibernated' if i == 2 else 'on', sessions=1 if 10 <= i < 20 else 0)
            for i in range(100)]
    huawei = window.wave_minimum('huaweicloud', pool[:25], pool)
    # enter, start (off and hibernated in one os-start), logoff, reboot, stop, hibernate, exit
    assert huawei['writes'] == {'set_maintenance_mode': 2, 'batch_run_desktops': 4, 'batch_logoff_desktops': 1}
    assert huawei['reads'] == {'list_desktops': 10}
    ali = window.wave_minimum('alicloud', pool[:25], pool)
    assert ali['writes'] == {'SetDesktopMaintenance': 2, 'StartDesktops': 1, 'WakeupDesktops': 1, 'RebootDesktops': 1,
                             'StopDesktops': 1, 'HibernateDesktops': 1}
    assert ali['reads'] == {'DescribeDesktops': 8, 'DescribeDesktopSessions': 1}  # no logoff API


def test_a_read_costs_the_cheaper_of_the_pool_listing_and_ids(window):
    pool = [desktop(i) for i in range(2500)]
    # Horizon: the pool takes 3 pages of 1000, 625 ids take 16 filters of 40
    assert window.wave_minimum('horizon', pool[:625], pool)['reads'] == {'list_machines_v2': 15}
    # Huawei lists sessions with the desktops: 625 busy desktops by id take 7 calls of 100 where the pool takes 3 pages
    # of 1000, for each of the 7 reads of the wave (the drain and the logoff's read back included)
    busy = [desktop(i, sessions=1) for i in range(2500)]
    assert window.wave_minimum('huaweicloud', busy[:625], busy)['reads'] == {'list_desktops': 21}


def test_fit_recovers_cost_per_wave_and_per_desktop(window):
    shapes = ((16, 400), (40, 400), (16, 2000), (40, 10000))
    rows = [{'waves': w, 'n': n, 'orchestration_s': 1.5 * w + 0.002 * n} for w, n in shapes]
    got = window.fit(rows)
    assert got['a_s_per_wave'] == pytest.approx(1.5)
    assert got['b_s_per_desktop'] == pytest.approx(0.002)
    assert got['predict_10k_10p_s'] == pytest.approx(80.0)
    assert window.fit(rows[:1]) is None
