"""Provider-neutral simulator machinery: a request is counted before its client can see the outcome."""

from __future__ import annotations

import threading

import pytest
import requests

import core
from conftest import SimControl
from core import Simulator


@pytest.fixture(scope='module')
def hz_simulator(tmp_path_factory):
    sim = Simulator(providers=('horizon',), fleet=6, seed=3, time_scale=1.0, tls=False,
                    state_dir=str(tmp_path_factory.mktemp('simcore')))
    info = sim.start()
    yield sim, info
    sim.stop()


@pytest.fixture
def ctl(hz_simulator):
    sim, info = hz_simulator
    c = SimControl(info, 'horizon')
    c.reset()
    c.sim = sim
    yield c
    c.faults([])


@pytest.fixture
def seen_at_answer(ctl, monkeypatch):
    """The provider's request total at the moment each answer (or dropped connection) leaves the simulator."""
    seen = []
    lock = threading.Lock()
    stats = ctl.sim.stats['horizon']
    send, drop = core._Handler._send, core._Handler._drop  # pylint: disable=protected-access

    def watch(original):
        def run(self, *args):
            if not self.path.startswith('/_sim/'):
                with lock:
                    seen.append(stats.snapshot()['total'])
            return original(self, *args)
        return run

    monkeypatch.setattr(core._Handler, '_send', watch(send))  # pylint: disable=protected-access
    monkeypatch.setattr(core._Handler, '_drop', watch(drop))  # pylint: disable=protected-access
    return seen


def login(ctl):
    return requests.post(ctl.endpoint + '/rest/login', json={'username': 'nobody', 'password': 'wrong',
                                                             'domain': 'NOWHERE'}, timeout=10)


def test_request_is_counted_before_the_answer(ctl, seen_at_answer):
    for n in range(1, 6):
        assert login(ctl).status_code in (400, 401, 404)
        assert seen_at_answer[-1] == n  # this request is already counted when its answer goes out
        assert ctl.stats()['by_op'] == {'login': n}


def test_throttled_and_dropped_requests_are_counted_before_the_client_sees_them(ctl, seen_at_answer):
    ctl.faults([{'kind': 'throttle', 'ops': ['login'], 'count': 1},
                {'kind': 'drop', 'ops': ['get_environment'], 'count': 1}])
    assert login(ctl).status_code == 429
    assert seen_at_answer == [1]
    with pytest.raises(requests.ConnectionError):
        requests.get(ctl.endpoint + '/rest/config/v2/environment-properties', timeout=10)
    assert seen_at_answer == [1, 2]
    stats = ctl.stats()
    assert stats['by_op'] == {'login': 1, 'get_environment': 1}
    assert stats['faults'] == {'throttle': 1, 'drop': 1} and stats['by_status'] == {'429': 1, 'dropped': 1}


def test_concurrent_requests_are_all_counted(ctl):
    errors = []

    def worker():
        try:
            for _i in range(10):
                login(ctl)
        except requests.RequestException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = ctl.stats()
    assert stats['total'] == 40 and stats['by_op'] == {'login': 40} and sum(stats['by_status'].values()) == 40
