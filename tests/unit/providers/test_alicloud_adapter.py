"""AlicloudAdapter against the Alibaba Cloud EDS simulator: request counts, quirks, errors, retries."""

from __future__ import annotations

import math
import time

import pytest

from outcomes import texts, unknown  # pylint: disable=import-error
from sim_helpers import controlled, running  # pylint: disable=import-error

import alicloud as A  # the simulator module (tests/simulator is on sys.path)

from ansible_collections.vdi.fleet.plugins.module_utils import service
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ApiError, AuthError, ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers import base
from ansible_collections.vdi.fleet.plugins.module_utils.providers.alicloud import (
    AlicloudAdapter,
    in_maintenance,
    iso_time,
    power_state,
)
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy


@pytest.fixture(scope='module')
def ali_simulator(tmp_path_factory):
    with running(tmp_path_factory, 'alicloud', 11, 'alisim-adapter') as simulator:
        yield simulator


@pytest.fixture
def ctl(ali_simulator, monkeypatch):
    with controlled(ali_simulator, 'alicloud', monkeypatch) as c:
        yield c
    ali_simulator[0].options.pop('alicloud_clock_skew', None)


def make(ctl, **override):
    args = ctl.module_args(**override)
    adapter = AlicloudAdapter(args, policy=RetryPolicy(retries=4, base=0.01, cap=0.05))
    return adapter


@pytest.fixture
def adapter(ctl):
    a = make(ctl)
    yield a
    a.close()


def ops(ctl):
    return ctl.stats()['by_op']


def sim_desktops(ctl):
    return {d['id']: d for d in ctl.state()['desktops']}


# --------------------------------------------------------------------------- listing


@pytest.mark.parametrize('fleet', [0, 1, 100, 101, 250])
def test_list_desktops_pages_of_100(ctl, adapter, fleet):
    ctl.reset(fleet=fleet)
    got = adapter.list_desktops()
    state = sim_desktops(ctl)
    assert [d['id'] for d in got] == list(state)  # pooled desktops included despite FilterDesktopGroup
    assert ops(ctl) == {'DescribeDesktops': max(1, math.ceil(fleet / 100))}
    for d in got:
        s = state[d['id']]
        assert d['pool'] == s['pool'] and d['name'] == s['name'] and d['address'] == s['address']
        assert d['maintenance'] is False
        assert d['sessions'] == len(s['sessions'])
        assert d['power_state'] == {'on': 'powered_on', 'off': 'powered_off', 'hibernated': 'suspended'}[s['power']]
        assert d['raw']['DesktopId'] == d['id']


def test_list_pools_and_pool_listing(ctl, adapter):
    ctl.reset(fleet=250)
    pools = adapter.list_pools()
    state = ctl.state()
    assert [(p['id'], p['name']) for p in pools] == [(p['id'], p['name']) for p in state['pools']]
    assert ops(ctl) == {'DescribeDesktopGroups': 1}
    ctl.clear_stats()
    target = state['pools'][0]
    got = adapter.list_desktops(pool_ids=[target['id']])
    assert len(got) == target['desktops'] == 84
    assert all(d['pool'] == target['id'] and d['pool_name'] == target['name'] for d in got)
    assert ops(ctl) == {'DescribeDesktops': 1}
    ctl.clear_stats()
    got = adapter.list_desktops(pool_ids=[p['id'] for p in state['pools']])
    assert len(got) == 250 and ops(ctl) == {'DescribeDesktops': 3}


def test_pool_listing_sends_both_flags(ctl, adapter):
    """Which flag makes DesktopGroupId return pooled desktops is unconfirmed: the adapter sends both."""
    pool_id = ctl.state()['pools'][0]['id']
    adapter.list_desktops(pool_ids=[pool_id])
    ctl.clear_stats()
    seen = []
    real = adapter.http.json

    def spy(method, path, **kw):
        seen.append(dict(kw['query']))
        return real(method, path, **kw)

    adapter.http.json = spy
    adapter.list_desktops(pool_ids=[pool_id])
    adapter.list_desktops()
    assert seen[0]['OnlyDesktopGroup'] == 'true' and seen[0]['FilterDesktopGroup'] == 'false'
    assert seen[0]['DesktopGroupId'] == pool_id and seen[0]['MaxResults'] == '100'
    assert seen[1]['FilterDesktopGroup'] == 'false' and 'OnlyDesktopGroup' not in seen[1]


def test_list_by_ids_in_chunks_of_100(ctl, adapter):
    ctl.reset(fleet=250)
    ids = list(sim_desktops(ctl))
    wanted = ids[5:180] + ['ecd-doesnotexist00000']
    got = adapter.list_desktops(desktop_ids=wanted + ids[5:10])
    assert [d['id'] for d in got] == ids[5:180]
    assert ops(ctl) == {'DescribeDesktops': 2}
    ctl.clear_stats()
    pool_id = ctl.state()['pools'][0]['id']
    got = adapter.list_desktops(pool_ids=[pool_id], desktop_ids=ids[:10])
    assert {d['id'] for d in got} == {i for i in ids[:10] if sim_desktops(ctl)[i]['pool'] == pool_id}
    assert ops(ctl) == {'DescribeDesktops': 1}


def test_normalization_of_states(ctl, adapter):
    ctl.reset(fleet=40)
    state = sim_desktops(ctl)
    on = [i for i, d in state.items() if d['power'] == 'on']
    ctl.patch(on[0], transition={'kind': 'stop', 'power': 'off', 'seconds': 600})
    ctl.patch(on[1], transition={'kind': 'hibernate', 'power': 'hibernated', 'seconds': 600})
    ctl.patch(on[2], extra={'status': 'Expired'})
    ctl.patch(on[3], extra={'status': 'Pending'})
    ctl.patch(on[4], maintenance=True)
    got = {d['id']: d for d in adapter.list_desktops(desktop_ids=on[:5])}
    assert got[on[0]]['power_state'] == 'transitioning'
    assert got[on[1]]['power_state'] == 'transitioning'
    assert got[on[2]]['power_state'] == 'unknown'
    assert got[on[3]]['power_state'] == 'transitioning'
    assert got[on[4]]['maintenance'] is True and got[on[4]]['power_state'] == 'powered_on'


def test_normalization_helpers():
    assert in_maintenance({'ManagementFlags': [A.MAINTENANCE_FLAG]}) is True
    assert in_maintenance({'ManagementFlags': ['Updating'], 'ManagementFlag': 'NoFlag'}) is False
    assert in_maintenance({'ManagementFlag': ['InMaintenance']}) is True
    assert in_maintenance({}) is None
    assert [power_state(s) for s in ('Running', 'Stopped', 'Hibernated', 'Starting', 'Rebooting', 'WakingUp',
                                     'Deleted', None)] == ['powered_on', 'powered_off', 'suspended', 'transitioning',
                                                           'transitioning', 'transitioning', 'unknown', 'unknown']
    assert iso_time('2026-11-02 08:15:00') == '2026-11-02T08:15:00Z'
    assert iso_time('2026-11-02T08:15:00Z') == '2026-11-02T08:15:00Z' and iso_time(None) is None


def test_list_sessions(ctl, adapter):
    ctl.reset(fleet=150)
    state = ctl.state()
    expected = sorted((d['id'], s['user'], s['state']) for d in state['desktops'] for s in d['sessions'])
    desktops = adapter.list_desktops()
    ctl.clear_stats()
    got = adapter.list_sessions(desktops)
    assert sorted((s['desktop_id'], s['user'], s['state']) for s in got) == expected
    pools = {d['id']: d['pool'] for d in state['desktops']}
    assert all(s['pool'] == pools[s['desktop_id']] and s['start_time'].endswith('Z') for s in got)
    # 150 desktops: two DesktopId.N chunks; each chunk's sessions fit in one page of 100
    assert ops(ctl) == {'DescribeDesktopSessions': 2}


def test_list_sessions_of_whole_pools_page_by_sessions(ctl, adapter):
    ctl.reset(fleet=450)
    state = ctl.state()
    desktops = adapter.list_desktops()
    by_pool = {}
    for d in desktops:
        by_pool.setdefault(d['pool'], []).append(d)
    big = max((p for p in by_pool if p), key=lambda p: len(by_pool[p]))
    loose = [d for d in desktops if d['pool'] != big][:30]
    wanted = by_pool[big] + loose
    ids = set(d['id'] for d in wanted)
    expected = sorted((d['id'], s['user'], s['state']) for d in state['desktops'] if d['id'] in ids
                      for s in d['sessions'])
    in_pool = sum(len(d['sessions']) for d in state['desktops'] if d['pool'] == big)
    ctl.clear_stats()
    got = adapter.list_sessions(wanted, pool_ids=[big], fresh=True)
    assert sorted((s['desktop_id'], s['user'], s['state']) for s in got) == expected
    assert all(s['desktop_name'] and s['pool'] for s in got)
    # DescribeDesktopGroupSessions says "yyyy-MM-dd HH:mm:ss"; the sessions carry ISO 8601 UTC like the others
    starts = dict(((d['id'], s['user']), s['start_time']) for d in state['desktops'] for s in d['sessions'])
    for s in got:
        want = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(starts[(s['desktop_id'], s['user'])]))
        assert s['start_time'] == want
    # the pool's sessions 100 per page, whatever the number of its desktops; the other 30 desktops by id
    assert len(by_pool[big]) > 100
    assert ops(ctl) == {'DescribeDesktopGroupSessions': max(1, math.ceil(in_pool / 100)),
                        'DescribeDesktopSessions': 1}
    ctl.clear_stats()
    assert adapter.list_sessions([], pool_ids=[big]) == [] and ops(ctl) == {}


# --------------------------------------------------------------------------- maintenance


def test_maintenance_enter_and_exit_with_read_back(ctl, adapter):
    ctl.reset(fleet=250)
    ids = list(sim_desktops(ctl))[:230]
    assert adapter.set_maintenance(ids, True) == {}
    assert ops(ctl) == {'SetDesktopMaintenance': 3}
    assert {i for i, d in sim_desktops(ctl).items() if d['maintenance']} == set(ids)
    back = adapter.list_desktops(desktop_ids=ids)
    assert all(d['maintenance'] is True for d in back)
    ctl.clear_stats()
    assert adapter.set_maintenance(ids[:50], False) == {}
    assert ops(ctl) == {'SetDesktopMaintenance': 1}
    assert {i for i, d in sim_desktops(ctl).items() if d['maintenance']} == set(ids[50:])


def test_service_maintenance_by_pool_is_idempotent(ctl, adapter):
    ctl.reset(fleet=150)
    target = ctl.state()['pools'][1]
    selection = service.select(adapter, pool=target['name'])
    entries = service.ensure_maintenance(adapter, selection, True)
    assert len(entries) == target['desktops'] == 50
    assert all(e['changed'] and not e['failed'] and e['after'] == {'maintenance': True} for e in entries)
    assert ops(ctl) == {'DescribeDesktopGroups': 1, 'DescribeDesktops': 2, 'SetDesktopMaintenance': 1}
    ctl.clear_stats()
    entries = service.ensure_maintenance(adapter, service.select(adapter, pool=target['id']), True)
    assert not any(e['changed'] or e['failed'] for e in entries)
    assert ops(ctl) == {'DescribeDesktopGroups': 1, 'DescribeDesktops': 1}
    ctl.clear_stats()
    ids = [e['id'] for e in entries][:3]
    entries = service.ensure_maintenance(adapter, service.select(adapter, desktops=ids), False)
    assert [e['changed'] for e in entries] == [True] * 3
    assert ops(ctl) == {'DescribeDesktops': 2, 'SetDesktopMaintenance': 1}
    assert sum(d['maintenance'] for d in sim_desktops(ctl).values()) == 47


def _bisect_cost(n, bad):
    calls = []

    def fake(batch):
        calls.append(batch)
        if any(i in bad for i in batch):
            raise ApiError('refused', status=400)
        return {}

    base.run_batches(list(range(n)), fake, 100)
    return len(calls)


def test_whole_call_failures_fail_their_batch_only_and_stop_after_three_in_a_row():
    calls = []

    def flaky(failing):
        def call(batch):
            calls.append(batch)
            if len(calls) in failing:
                raise ApiError('HTTP 503 ServiceUnavailable', status=503, maybe_applied=True)
            return {}
        return call

    out = base.run_batches(list(range(500)), flaky({2, 4}), 100)
    raw_out, out = out, texts(out)
    assert len(calls) == 5  # the other batches still went
    assert sorted(out) == list(range(100, 200)) + list(range(300, 400))
    assert all('not re-sent' in m and '503' in m for m in out.values())
    del calls[:]
    out = base.run_batches(list(range(1000)), flaky({1, 2, 3}), 100)
    raw_out, out = out, texts(out)
    assert len(calls) == base.CONSECUTIVE_CALL_FAILURES  # the API is down: the rest is not sent
    assert sorted(out) == list(range(1000)) and unknown(raw_out) == set(out)
    assert out[999].startswith('not sent: the last 3 provider calls failed')


def test_per_id_refusal_is_isolated(ctl, adapter):
    ctl.reset(fleet=120)
    ids = list(sim_desktops(ctl))
    bad = ids[37]
    ctl.faults([{'kind': 'perid', 'ids': [bad], 'ops': ['SetDesktopMaintenance']}])
    failures = adapter.set_maintenance(ids, True)
    failures = texts(failures)
    assert list(failures) == [bad]
    assert 'IncorrectDesktopStatus' in failures[bad] and bad in failures[bad]
    assert {i for i, d in sim_desktops(ctl).items() if d['maintenance']} == set(ids) - {bad}
    expected = _bisect_cost(120, {37})
    assert ops(ctl) == {'SetDesktopMaintenance': expected}
    assert expected <= 2 + 2 * math.ceil(math.log2(100))


def test_unknown_id_is_isolated(ctl, adapter):
    ids = list(sim_desktops(ctl))[:10]
    failures = adapter.set_maintenance(ids[:5] + ['ecd-nosuchdesktop0000'] + ids[5:], True)
    failures = texts(failures)
    assert list(failures) == ['ecd-nosuchdesktop0000']
    assert 'InvalidDesktopId.NotFound' in failures['ecd-nosuchdesktop0000']
    assert all(sim_desktops(ctl)[i]['maintenance'] for i in ids)
    assert ops(ctl)['SetDesktopMaintenance'] == _bisect_cost(11, {5})


def test_already_in_maintenance_counts_as_done(ctl, adapter):
    ids = list(sim_desktops(ctl))[:8]
    ctl.patch(ids[3], maintenance=True)
    assert adapter.set_maintenance(ids, True) == {}
    assert all(sim_desktops(ctl)[i]['maintenance'] for i in ids)
    assert ops(ctl)['SetDesktopMaintenance'] == _bisect_cost(8, {3})


# --------------------------------------------------------------------------- errors and retries


def test_throttling_is_waited_out(ctl, adapter):
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['DescribeDesktops'], 'count': 2, 'retry_after': 0.05}])
    got = adapter.list_desktops()
    assert len(got) == 30
    assert ops(ctl) == {'DescribeDesktops': 3}
    assert adapter.http.counters['throttled'] == 2
    assert adapter.http.counters['waited'] >= 0.1  # x-acs-retry-after (ms) honoured each time
    assert adapter.http.counters['waited'] < 2


def test_throttling_on_a_write_is_retried(ctl, adapter):
    ids = list(sim_desktops(ctl))[:3]
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['SetDesktopMaintenance'], 'count': 1, 'retry_after': 0.02}])
    assert adapter.set_maintenance(ids, True) == {}
    assert ops(ctl) == {'SetDesktopMaintenance': 2}


def test_throttling_that_outlives_the_retries_raises(ctl, adapter):
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['DescribeDesktopGroups'], 'retry_after': 0.001}])
    with pytest.raises(ApiError) as exc:
        adapter.list_pools()
    assert exc.value.throttle and exc.value.code == 'Throttling.User'
    assert ops(ctl) == {'DescribeDesktopGroups': 5}


def test_5xx_retried_on_describe_not_on_set_maintenance(ctl, adapter):
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['DescribeDesktops'], 'count': 2}])
    assert len(adapter.list_desktops()) == 30
    assert ops(ctl) == {'DescribeDesktops': 3}
    ctl.clear_stats()
    ids = list(sim_desktops(ctl))[:4]
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['SetDesktopMaintenance'], 'count': 1, 'phase': 'before'}])
    failures = adapter.set_maintenance(ids, True)
    raw_failures, failures = failures, texts(failures)
    # the batch is reported as a call failure (the service reads back and decides), never re-sent here
    assert set(failures) == set(ids) and unknown(raw_failures) == set(ids)
    assert all('not re-sent' in m and ('InternalError' in m or 'ServiceUnavailable' in m) for m in failures.values())
    assert ops(ctl) == {'SetDesktopMaintenance': 1}
    assert not any(sim_desktops(ctl)[i]['maintenance'] for i in ids)


def test_wrong_secret_is_an_auth_error_without_secrets(ctl):
    a = make(ctl, secret_key='WrongSecret+Value/123=')
    with pytest.raises(AuthError) as exc:
        a.list_pools()
    msg = str(exc.value)
    assert exc.value.code == 'SignatureDoesNotMatch' and exc.value.status == 403
    assert 'access_key' in msg and 'secret_key' in msg and 'clock' in msg
    assert 'WrongSecret' not in msg and A.SECRET_KEY not in msg
    assert 'string to sign' not in msg.lower() and 'ACS3-HMAC-SHA256\n' not in msg
    assert ops(ctl) == {'DescribeDesktopGroups': 1}  # not retried


def test_unknown_access_key_and_clock_skew(ctl):
    with pytest.raises(AuthError) as exc:
        make(ctl, access_key='LTAI5tNotAKnownKey00000').list_desktops()
    assert exc.value.code == 'InvalidAccessKeyId.NotFound'
    ctl.sim.options['alicloud_clock_skew'] = 3600
    with pytest.raises(AuthError) as exc:
        make(ctl).list_desktops()
    assert exc.value.code == 'InvalidTimeStamp.Expired' and 'clock' in str(exc.value)


def test_sts_token(ctl):
    a = make(ctl, access_key=A.STS_ACCESS_KEY, secret_key=A.STS_SECRET_KEY, security_token=A.STS_TOKEN)
    assert len(a.list_desktops()) == 30
    assert a.set_maintenance(list(sim_desktops(ctl))[:2], True) == {}
    bad = make(ctl, access_key=A.STS_ACCESS_KEY, secret_key=A.STS_SECRET_KEY, security_token='expired-or-forged-token')
    with pytest.raises(AuthError) as exc:
        bad.list_pools()
    assert 'security_token' in str(exc.value) and 'expired-or-forged-token' not in str(exc.value)
    with pytest.raises(AuthError):
        make(ctl, access_key=A.STS_ACCESS_KEY, secret_key=A.STS_SECRET_KEY).list_pools()


def test_wrong_region(ctl):
    with pytest.raises(ApiError) as exc:
        make(ctl, region='cn-shanghai').list_desktops()
    assert not isinstance(exc.value, AuthError)
    assert exc.value.code == 'InvalidRegionId' and 'Check region' in str(exc.value) and 'cn-shanghai' in str(exc.value)


def test_default_endpoint_and_config():
    a = AlicloudAdapter({'region': 'ap-southeast-1', 'access_key': 'ak', 'secret_key': 'sk'})
    try:
        assert a.endpoint == 'https://ecd.ap-southeast-1.aliyuncs.com'
        assert a.signer.host == 'ecd.ap-southeast-1.aliyuncs.com'
    finally:
        a.close()
    with pytest.raises(ConfigError):
        AlicloudAdapter({'access_key': 'ak', 'secret_key': 'sk'})


def test_action_appears_in_error_messages(adapter):
    with pytest.raises(ApiError) as exc:
        adapter._call('DescribeDesktops', {'MaxResults': 500})
    assert 'DescribeDesktops' in str(exc.value) and exc.value.code == 'InvalidParameter'
    assert exc.value.request_id
