"""Shared pytest set-up: import path for the collection and an in-process simulator."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
import ssl

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, '.build', 'src')


def _link_collection() -> None:
    """Make ``ansible_collections.vdi.fleet`` importable from the working tree (a symlink farm)."""
    target = os.path.join(SRC, 'ansible_collections', 'vdi')
    link = os.path.join(target, 'fleet')
    os.makedirs(target, exist_ok=True)
    if not os.path.islink(link):
        try:
            os.symlink(ROOT, link)
        except FileExistsError:
            pass
    if SRC not in sys.path:
        sys.path.insert(0, SRC)


_link_collection()
sys.path.insert(0, os.path.join(ROOT, 'tests', 'simulator'))

from core import Simulator  # noqa: E402  pylint: disable=wrong-import-position,import-error


class SimControl:
    """Talks to the ``/_sim/`` endpoints of one provider of a running simulator."""

    def __init__(self, info: dict, provider: str) -> None:
        self.info = info
        self.provider = provider
        self.conn = dict(info[provider])
        self.endpoint = self.conn['endpoint']
        self.ctx = ssl.create_default_context(cafile=info['ca_path']) if info.get('ca_path') else None

    def call(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + '/_sim/' + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
            return json.loads(resp.read() or b'null')

    def state(self) -> dict:
        return self.call('GET', 'state')

    def stats(self, log: bool = False) -> dict:
        return self.call('GET', 'stats?log=1' if log else 'stats')

    def clear_stats(self) -> None:
        self.call('DELETE', 'stats')

    def reset(self, **kw) -> dict:
        return self.call('POST', 'reset', kw)

    def faults(self, rules) -> dict:
        return self.call('POST', 'faults', {'rules': rules})

    def advance(self, seconds: float) -> dict:
        return self.call('POST', 'clock', {'advance': seconds})

    def patch(self, desktop_id: str, **patch) -> dict:
        return self.call('POST', 'desktops/' + desktop_id, patch)

    def rename_pool(self, pool_id: str, name: str) -> dict:
        return self.call('POST', 'pools/' + pool_id, {'name': name})

    def module_args(self, **extra) -> dict:
        """Connection options for a module, straight from the ready info."""
        args = dict(self.conn)
        args['ca_path'] = self.info.get('ca_path')
        args.update(extra)
        return args


@pytest.fixture(scope='session')
def simulator(tmp_path_factory):
    """One simulator for the whole session (30 desktops per provider, fast clock)."""
    sim = Simulator(fleet=30, seed=7, time_scale=60.0, tls=True,
                    state_dir=str(tmp_path_factory.mktemp('sim')))
    info = sim.start()
    yield sim, info
    sim.stop()


@pytest.fixture(params=['horizon', 'huaweicloud', 'alicloud'])
def provider_name(request):
    return request.param


@pytest.fixture
def sim(simulator, provider_name):
    """Control handle for one provider, reset to a fresh fleet before the test."""
    ctl = SimControl(simulator[1], provider_name)
    ctl.reset()
    return ctl
