"""Helpers of the adapter tests against the in-process simulator: a simulator per test module and the control
handle of each test, simulated-clock pollers, and a spy on what left an adapter."""

from __future__ import annotations

import contextlib
import json
from urllib.parse import parse_qs, urlsplit

from conftest import SimControl  # pylint: disable=import-error
from core import Simulator  # pylint: disable=import-error

from ansible_collections.vdi.fleet.plugins.module_utils.service import Selection
from ansible_collections.vdi.fleet.plugins.module_utils.signing import huawei as huawei_signing
from ansible_collections.vdi.fleet.plugins.module_utils.transport import Poller

#: requests lets these override Session.verify, which would hide ca_path (and Huawei's SDK variable its IAM
#: endpoint): the tests do not depend on the environment they run in
ENVIRONMENT = ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'HUAWEICLOUD_SDK_IAM_ENDPOINT')


@contextlib.contextmanager
def running(tmp_path_factory, provider, seed, label, **options):
    """A simulator of ``provider`` alone (30 desktops, TLS, real-time clock), started and stopped around a test
    module; yields ``(sim, info)``."""
    sim = Simulator(providers=(provider,), fleet=30, seed=seed, time_scale=1.0, tls=True,
                    state_dir=str(tmp_path_factory.mktemp(label)), **options)
    info = sim.start()
    try:
        yield sim, info
    finally:
        sim.stop()


@contextlib.contextmanager
def controlled(simulator, provider, monkeypatch):
    """The control handle of one test on a fresh fleet (``sim`` and ``provider_sim`` attached); no cached Huawei
    token before or after, no fault rules after."""
    sim, info = simulator
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    huawei_signing.clear_token_cache()
    ctl = SimControl(info, provider)
    ctl.reset()
    ctl.sim = sim
    ctl.provider_sim = sim.providers[provider]
    try:
        yield ctl
    finally:
        ctl.faults([])
        huawei_signing.clear_token_cache()


def sim_poller(sim):
    """Pollers whose sleeps advance the simulated clock: no real waiting, deterministic timeouts."""
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds
        sim.clock.advance(seconds)

    return lambda timeout: Poller(timeout, initial=1.0, factor=1.6, cap=10.0, sleep=sleep, clock=lambda: now[0])


class Sent(list):
    """Every request that left an adapter: (method, path, query dict, decoded body, headers)."""

    def bodies(self, suffix, method='POST'):
        return [body for m, path, _query, body, _headers in self if m == method and path.endswith(suffix)]

    def queries(self, suffix, method='GET'):
        return [query for m, path, query, _body, _headers in self if m == method and path.endswith(suffix)]

    def action(self, name):
        """The query (one value per key) of every RPC call of action ``name`` (Alibaba Cloud), in order."""
        return [dict((k, v[0]) for k, v in query.items()) for _m, _p, query, _b, headers in self
                if headers.get('x-acs-action') == name]


def spy(adapter):
    """Record every request of ``adapter`` in ``adapter.sent``."""
    sent = Sent()
    original = adapter.http.session.request

    def request(method, url, data=None, **kwargs):
        parts = urlsplit(url)
        try:
            body = json.loads(data) if data else None
        except ValueError:
            body = data
        sent.append((method, parts.path, parse_qs(parts.query, keep_blank_values=True), body,
                     dict(kwargs.get('headers') or {})))
        return original(method, url, data=data, **kwargs)

    adapter.http.session.request = request
    adapter.sent = sent
    return adapter


def subset(desktops):
    """A selection of these desktops by id (not a whole pool)."""
    return Selection(list(desktops), [], {'desktop_ids': [d['id'] for d in desktops]})


def outcomes(entries):
    return dict((e['id'], e['outcome']) for e in entries)
