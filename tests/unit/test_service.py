"""Selection, idempotent maintenance and connection-option checks, with a fake adapter."""

from __future__ import annotations

import pytest

from ansible_collections.vdi.fleet.plugins.module_utils import connection, service
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.errors import Failure
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import ProviderAdapter, desktop, pool


class FakeAdapter(ProviderAdapter):
    """The interface's capabilities and defaults, with the calls faked (no HTTP)."""

    name = 'fake'

    def __init__(self, n=6, refuse=(), lag=0):
        self.pools = [pool('p1', 'Finance', {}), pool('p2', 'Sales', {})]
        self.flags = {}
        self.records = []
        for i in range(n):
            pid = 'p1' if i % 2 == 0 else 'p2'
            self.records.append(('d%d' % i, 'desk-%d' % i, pid))
            self.flags['d%d' % i] = False
        self.records.append(('d99', 'desk-0', 'p2'))  # a duplicate name in another pool
        self.flags['d99'] = False
        self.refuse = set(refuse)
        self.lag = lag  # reads before a change shows
        self.pending = {}
        self.calls = []

    def list_pools(self):
        self.calls.append(('list_pools',))
        return self.pools

    def list_desktops(self, pool_ids=None, desktop_ids=None):
        self.calls.append(('list_desktops', tuple(pool_ids or ()), tuple(desktop_ids or ())))
        for did, left in list(self.pending.items()):
            if left <= 0:
                self.flags[did] = not self.flags[did]
                del self.pending[did]
            else:
                self.pending[did] = left - 1
        out = []
        for did, name, pid in self.records:
            if pool_ids and pid not in pool_ids:
                continue
            if desktop_ids and did not in desktop_ids:
                continue
            out.append(desktop(did, name, pid, self.flags[did], 'powered_on', 0, {}))
        return out

    def set_maintenance(self, desktop_ids, enabled, enforce=False):
        ids = desktop_ids
        self.calls.append(('set_maintenance', tuple(ids), enabled))
        failures = {}
        for i in ids:
            if i in self.refuse:
                failures[i] = 'refused by test'
            elif self.lag:
                self.pending[i] = self.lag
            else:
                self.flags[i] = enabled
        return failures


def test_select_pool_by_name_then_desktops_in_pool():
    a = FakeAdapter()
    sel = service.select(a, pool='Finance')
    assert [d['id'] for d in sel.desktops] == ['d0', 'd2', 'd4'] and sel.scope == {'pool_ids': ['p1']}
    assert all(d['pool_name'] == 'Finance' for d in sel.desktops)
    sel = service.select(a, pool='p1', desktops=['desk-0', 'd3'])
    assert [d['id'] for d in sel.desktops] == ['d0']
    assert sel.missing and sel.missing[0][0] == 'd3' and 'in pool Finance' in sel.missing[0][1]


def test_select_ids_only_takes_one_lookup():
    a = FakeAdapter()
    sel = service.select(a, desktops=['d3', 'd1', 'd3'])
    assert [d['id'] for d in sel.desktops] == ['d3', 'd1']
    assert a.calls == [('list_desktops', (), ('d3', 'd1'))]


def test_select_names_ambiguous_and_unknown():
    a = FakeAdapter()
    sel = service.select(a, desktops=['d1', 'desk-2', 'desk-0', 'nope'])
    assert [d['id'] for d in sel.desktops] == ['d1', 'd2']
    missing = dict(sel.missing)
    assert 'matches 2 desktops' in missing['desk-0'] and 'd99' in missing['desk-0']
    assert 'no desktop' in missing['nope']


def test_select_requires_something_and_unknown_pool_is_clear():
    with pytest.raises(ConfigError):
        service.select(FakeAdapter(), desktops=[], pool=None)
    with pytest.raises(ConfigError) as err:
        service.select(FakeAdapter(), pool='Nope')
    assert 'Finance' in err.value.msg and 'Sales' in err.value.msg


def test_maintenance_acts_only_on_what_differs_and_reads_back():
    a = FakeAdapter(refuse={'d2'})
    a.flags['d4'] = True
    sel = service.select(a, pool='Finance')
    entries = service.ensure_maintenance(a, sel, True)
    assert [c for c in a.calls if c[0] == 'set_maintenance'] == [('set_maintenance', ('d0', 'd2'), True)]
    by = {e['id']: e for e in entries}
    assert by['d0']['changed'] and by['d0']['after'] == {'maintenance': True}
    assert by['d2']['failed'] and 'refused by test' in by['d2']['msg'] and by['d2']['after'] == {'maintenance': False}
    assert not by['d4']['changed'] and not by['d4']['failed']
    assert service.summarize(entries) == {'total': 3, 'changed': 1, 'unchanged': 1, 'failed': 1}
    diff = service.diff_of(entries, 'maintenance')
    assert diff == {'before': {'desk-0': False}, 'after': {'desk-0': True}}


def test_maintenance_check_mode_sends_nothing():
    a = FakeAdapter()
    sel = service.select(a, pool='Sales')
    entries = service.ensure_maintenance(a, sel, True, check_mode=True)
    assert not [c for c in a.calls if c[0] == 'set_maintenance']
    assert all(e['changed'] and e['after'] == {'maintenance': True} for e in entries)


class InstantPoller:
    def __init__(self, rounds):
        self.rounds = rounds

    def run(self, check):
        for _round in range(self.rounds):
            if check():
                return True
        return False


def test_maintenance_async_change_is_polled_until_visible():
    a = FakeAdapter(lag=2)
    sel = service.select(a, desktops=['d1', 'd3'])
    entries = service.ensure_maintenance(a, sel, True, poller=InstantPoller(5))
    assert all(e['changed'] and not e['failed'] for e in entries)
    a = FakeAdapter(lag=50)
    sel = service.select(a, desktops=['d1'])
    entries = service.ensure_maintenance(a, sel, True, poller=InstantPoller(3), settle_timeout=7)
    assert entries[0]['failed'] and 'still shows maintenance=False after 7s' in entries[0]['msg']


def params(**kw):
    base = dict((k, None) for k in connection.CONNECTION_OPTIONS)
    base.update(validate_certs=True, timeout=30)
    base.update(kw)
    return base


class FlakyAdapter(FakeAdapter):
    """set_maintenance fails as a whole for the ids in ``drops`` (``applied``: the change still takes effect),
    for the first ``times`` calls that contain them."""

    def __init__(self, drops, times, applied=False, **kw):
        super().__init__(**kw)
        self.drops, self.times, self.applied = set(drops), times, applied

    def set_maintenance(self, desktop_ids, enabled, enforce=False):
        ids = desktop_ids
        hit = [i for i in ids if i in self.drops]
        if hit and self.times > 0:
            self.times -= 1
            self.calls.append(('set_maintenance', tuple(ids), enabled))
            rest = [i for i in ids if i not in self.drops]
            out = {}
            if rest:
                out = FakeAdapter.set_maintenance(self, rest, enabled)
                self.calls.pop()
            for i in hit:
                if self.applied:
                    self.flags[i] = enabled
                out[i] = Failure('the provider call failed and was not re-sent (HTTP 503)', unknown=True)
            return out
        return FakeAdapter.set_maintenance(self, ids, enabled, enforce)


def writes(a):
    return [c[1] for c in a.calls if c[0] == 'set_maintenance']


def test_maintenance_call_failure_is_read_back_and_sent_again():
    a = FlakyAdapter(drops={'d2', 'd4'}, times=1)
    out = dict((e['id'], e) for e in service.ensure_maintenance(a, service.select(a, pool='Finance'), True))
    assert writes(a) == [('d0', 'd2', 'd4'), ('d2', 'd4')]  # only the desktops still without the flag, once more
    assert all(e['changed'] and not e['failed'] and e['after'] == {'maintenance': True} for e in out.values())


def test_maintenance_call_failure_that_was_applied_is_not_sent_again():
    a = FlakyAdapter(drops={'d2'}, times=5, applied=True)
    out = dict((e['id'], e) for e in service.ensure_maintenance(a, service.select(a, pool='Finance'), True))
    assert writes(a) == [('d0', 'd2', 'd4')]
    assert out['d2']['changed'] and not out['d2']['failed'] and out['d2']['msg'] == 'entered maintenance'


def test_maintenance_call_failing_every_time_stops_after_the_attempts_and_says_so():
    a = FlakyAdapter(drops={'d2'}, times=99, refuse={'d4'})
    out = dict((e['id'], e) for e in service.ensure_maintenance(a, service.select(a, pool='Finance'), True))
    assert len(writes(a)) == service.MAINTENANCE_ATTEMPTS
    assert all(w == ('d2',) for w in writes(a)[1:])  # a refusal by the provider (d4) is not asked again
    assert out['d2']['failed'] and not out['d2']['changed'] and out['d2']['after'] == {'maintenance': False}
    assert out['d2']['msg'].startswith('could not enter maintenance: the provider call failed 3 times')
    assert out['d4']['failed'] and out['d4']['msg'] == 'provider refused to enter maintenance: refused by test'
    assert not out['d0']['failed'] and out['d0']['changed']


def test_connection_checks():
    with pytest.raises(ConfigError) as err:
        connection.resolve_connection(params(), environ={})
    assert 'provider is required' in err.value.msg
    with pytest.raises(ConfigError) as err:
        connection.open_adapter(params(provider='horizon', endpoint='https://x'), environ={})
    assert 'username, password, domain' in err.value.msg
    with pytest.raises(ConfigError) as err:
        connection.open_adapter(params(provider='horizon', endpoint='https://x', username='a@b.c', password='p',
                                       domain='D'), environ={})
    assert 'UPN' in err.value.msg
    # the account may be given as DOMAIN\\user: no separate domain is needed then
    adapter = connection.open_adapter(params(provider='horizon', endpoint='https://x', username='EXAMPLE\\svc',
                                             password='p'), environ={})
    assert (adapter._domain, adapter._username) == ('EXAMPLE', 'svc')
    with pytest.raises(ConfigError) as err:
        connection.resolve_connection(params(provider='alicloud', region='cn-hangzhou', access_key='a', secret_key='s',
                                             project_id='x'), environ={})
    assert 'project_id is not used by provider alicloud' in err.value.msg
    with pytest.raises(ConfigError) as err:
        connection.open_adapter(params(provider='huaweicloud', region='r', access_key='a', secret_key='s',
                                       username='u', password='p', domain='d'), environ={})
    assert 'not both' in err.value.msg


def test_vendor_environment_fallbacks_follow_the_provider():
    env = {'HUAWEICLOUD_SDK_AK': 'hw-ak', 'HUAWEICLOUD_SDK_SK': 'hw-sk',
           'ALIBABA_CLOUD_ACCESS_KEY_ID': 'ali-ak', 'ALICLOUD_SECRET_KEY': 'ali-sk', 'ALICLOUD_REGION': 'cn-beijing'}
    hw = connection.resolve_connection(params(provider='huaweicloud', region='cn-north-4'), environ=env)
    assert (hw['access_key'], hw['secret_key']) == ('hw-ak', 'hw-sk')
    ali = connection.resolve_connection(params(provider='alicloud'), environ=env)
    assert (ali['access_key'], ali['secret_key'], ali['region']) == ('ali-ak', 'ali-sk', 'cn-beijing')
    explicit = connection.resolve_connection(params(provider='alicloud', access_key='mine', secret_key='s',
                                                    region='r'), environ=env)
    assert explicit['access_key'] == 'mine'
