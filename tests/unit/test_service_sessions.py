"""Session targeting, messages and logoff with a fake adapter."""

from __future__ import annotations

import pytest

from ansible_collections.vdi.fleet.plugins.module_utils import service
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import ProviderAdapter, desktop, pool, session


class FakeSessions(ProviderAdapter):
    """The interface's capabilities and defaults, with the calls faked (no HTTP)."""

    name = 'fake'

    def __init__(self, refuse=()):
        self.desktops = [desktop('d%d' % i, 'n%d' % i, 'p1', False, 'powered_on', 1 if i % 2 else 0, {})
                         for i in range(4)]
        self.live = dict(('s%d' % i, session('s%d' % i, 'd%d' % i, 'n%d' % i, 'p1', 'u%d' % i, 'connected', None, {}))
                         for i in (1, 3))
        self.refuse = set(refuse)
        self.sent = []
        self.logged = []
        self.session_calls = []

    def list_pools(self):
        return [pool('p1', 'Pool', {})]

    def list_desktops(self, pool_ids=None, desktop_ids=None):
        return [dict(d) for d in self.desktops if not desktop_ids or d['id'] in desktop_ids]

    def list_sessions(self, desktops, pool_ids=None, fresh=False):
        self.session_calls.append((sorted(d['id'] for d in desktops), pool_ids, fresh))
        ids = set(d['id'] for d in desktops)
        return [dict(s) for s in self.live.values() if s['desktop_id'] in ids]

    def send_message(self, sessions, message, message_type='info', title=None, options=None):
        self.sent.append([s['session_id'] for s in sessions])
        return dict((s['session_id'], 'Throttling.User' if s['session_id'] in self.refuse else None) for s in sessions)

    def logoff(self, sessions, force=False, message=None):
        self.logged.append([s['session_id'] for s in sessions])
        out = {}
        for s in sessions:
            if s['session_id'] in self.refuse:
                out[s['session_id']] = 'session locked'
            else:
                out[s['session_id']] = None
                self.live.pop(s['session_id'], None)
        return out


class Rounds:
    def run(self, check):
        return check()


def test_pool_message_skips_empty_desktops_and_sends_once():
    a = FakeSessions()
    targets, entries, _pool = service.target_sessions(a, pool='Pool')
    sent = service.send_messages(a, targets, 'hello')
    assert a.sent == [['s1', 's3']]
    assert [e['session_id'] for e in sent] == ['s1', 's3'] and all(e['sent'] and e['changed'] for e in sent)
    assert sorted(e['desktop_id'] for e in entries) == ['d0', 'd2'] and all(e['skipped'] for e in entries)
    assert service.summarize_sessions(sent + entries, 'sent') == {'total': 4, 'sent': 2, 'changed': 2, 'skipped': 2, 'failed': 0}
    # a whole pool: the adapter may list the pool's sessions, from the records it has just read
    assert a.session_calls == [(['d0', 'd1', 'd2', 'd3'], ['p1'], True)]


def test_refused_sessions_fail_alone_and_check_mode_sends_nothing():
    a = FakeSessions(refuse={'s3'})
    targets, _entries, _pool = service.target_sessions(a, desktops=['n1', 'd3'])
    assert a.session_calls == [(['d1', 'd3'], None, True)]  # part of a pool: no pool-wide listing
    sent = dict((e['session_id'], e) for e in service.send_messages(a, targets, 'hi'))
    assert sent['s1']['sent'] and not sent['s3']['sent'] and sent['s3']['failed'] and 'Throttling' in sent['s3']['msg']
    a = FakeSessions()
    targets, _entries, _pool = service.target_sessions(a, pool='Pool')
    checked = service.send_messages(a, targets, 'hi', check_mode=True)
    assert a.sent == [] and all(e['changed'] and not e['sent'] for e in checked)


def test_session_ids_selection_reports_unknown_ids():
    a = FakeSessions()
    targets, entries, _pool = service.target_sessions(a, session_ids=['s3', 'nope'])
    assert [s['session_id'] for _d, s in targets] == ['s3']
    assert entries[0]['failed'] and entries[0]['session_id'] == 'nope'
    with pytest.raises(ConfigError):
        service.target_sessions(a)


def test_logoff_is_idempotent_and_waits():
    a = FakeSessions(refuse={'s1'})
    targets, entries, _pool = service.target_sessions(a, pool='Pool')
    out = dict((e['session_id'], e) for e in service.logoff_sessions(a, targets, wait=True, poller=Rounds()))
    assert all(not fresh for _ids, _pools, fresh in a.session_calls[1:])  # polls re-read
    assert out['s3']['logged_off'] and out['s3']['changed'] and not out['s3']['failed']
    assert out['s1']['failed'] and 'session locked' in out['s1']['msg']
    a.refuse = set()
    service.logoff_sessions(a, service.target_sessions(a, pool='Pool')[0])
    targets, entries, _pool = service.target_sessions(a, pool='Pool')
    assert targets == [] and all(e['skipped'] and not e['changed'] for e in entries)
