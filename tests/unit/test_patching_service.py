"""The provider-neutral patching service (module_utils/patching.py) with an in-memory adapter.

The adapter declares its capabilities as class attributes like the real ones and keeps the images in a dict, so
that the service's own rules are checked without HTTP: what is refused before any request, canary then rest,
skipped after a failed canary or a failed call, unknown outcomes, timeouts, check mode, result entries.
"""

from __future__ import annotations

import pytest

from ansible_collections.vdi.fleet.plugins.module_utils import patching
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError, Failure
from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import ProviderAdapter, StopAfterFailure
from ansible_collections.vdi.fleet.plugins.module_utils.service import Selection
from ansible_collections.vdi.fleet.plugins.module_utils.transport import Poller


class Memory(ProviderAdapter):
    """Images in a dict; a rollout applies at once unless the desktop is in ``refuse``, ``lose`` or ``stuck``."""

    name = 'memory'
    image_rollout = ('pool', 'desktops')
    rollout_logoff_policies = ('force',)
    rollout_logoff_hint = {'wait': 'it rebuilds at once.'}
    rollout_notice = 20
    rollout_grace = (0, 15)
    command_types = ('powershell',)
    command_batch = 2

    def __init__(self, desktops, pool_image='old'):
        super(Memory, self).__init__({'endpoint': 'https://memory.example'})
        self.images = dict((d, 'old') for d in desktops)
        self.pool = pool_image
        self.refuse, self.lose, self.stuck = set(), set(), set()
        self.calls = []

    def prepare_rollout(self, image, desktops, pool=None, options=None):
        return {'image': self.parse_image(image), 'pool': pool, 'pool_image': self.pool if pool else None,
                'options': options}

    def read_images(self, desktops, pool_id=None, fresh=False):
        return dict((d['id'], {'image': self.images[d['id']], 'busy': d['id'] in self.stuck, 'error': None})
                    for d in desktops)

    def rollout(self, ctx, desktop_ids, stage):
        self.calls.append((stage, list(desktop_ids)))

        def call(batch):
            out = {}
            for i in batch:
                if i in self.refuse:
                    out[i] = 'refused by the provider'
                elif i in self.lose:
                    out[i] = Failure('answer lost', unknown=True)
                elif i not in self.stuck:
                    self.images[i] = ctx['image']
            return out

        from ansible_collections.vdi.fleet.plugins.module_utils.providers.base import run_batches
        stopper = StopAfterFailure(call, ctx['stop_on_failure'])
        failures = run_batches(desktop_ids, stopper, 2, split_statuses=())
        jobs = []
        if stage == 'rest' and ctx['pool']:
            self.pool = ctx['image']
            jobs.append({'id': 'p', 'action': 'pool', 'scope': 'pool', 'status': 'success', 'message': None})
        return failures, stopper.not_sent, jobs

    def pool_image(self, ctx):
        return self.pool


def desktops(n):
    return [{'id': 'd%d' % i, 'name': 'desk-%d' % i, 'pool': 'p1'} for i in range(n)]


def whole(n):
    return Selection(desktops(n), [], {'pool_ids': ['p1']}, pool={'id': 'p1', 'name': 'pool-1'}, whole_pool=True)


def instant(timeout):
    return Poller(timeout, initial=1.0, sleep=lambda s: None, clock=iter(range(0, 10 ** 6, 10)).__next__)


def roll(adapter, selection, **kw):
    kw.setdefault('logoff_policy', 'force')
    return patching.rollout_image(adapter, selection, 'new', poller_factory=instant, **kw)


def test_canary_then_rest_and_the_pool():
    a = Memory(['d%d' % i for i in range(5)])
    entries, jobs = roll(a, whole(5), canary=2)
    assert a.calls == [('canary', ['d0', 'd1']), ('rest', ['d2', 'd3', 'd4'])]
    assert [(e['outcome'], e['stage']) for e in entries] == [('done', 'canary')] * 2 + [('done', 'rest')] * 3
    assert jobs == [{'id': 'p', 'action': 'pool', 'scope': 'pool', 'status': 'success', 'message': None,
                     'stage': 'rest', 'image_before': 'old', 'image_after': 'new'}]
    a.calls = []
    entries, jobs = roll(a, whole(5), canary=2)
    assert a.calls == [] and jobs == [] and set(e['outcome'] for e in entries) == {'unchanged'}


def test_pool_image_alone_is_still_changed():
    a = Memory(['d0'])
    a.images['d0'] = 'new'
    entries, jobs = roll(a, whole(1))
    assert entries[0]['outcome'] == 'unchanged' and a.calls == [('rest', [])]
    assert jobs[0]['image_before'] == 'old' and jobs[0]['image_after'] == 'new'


@pytest.mark.parametrize('fault,outcome', [('refuse', 'refused'), ('lose', 'unknown'), ('stuck', 'refused')])
def test_failed_canary_skips_the_rest(fault, outcome):
    a = Memory(['d%d' % i for i in range(4)])
    getattr(a, fault).add('d1')
    entries, jobs = roll(a, whole(4), canary=['desk-1', 'd0'], wait_timeout=60)
    got = [(e['outcome'], e['stage']) for e in entries]
    assert got == [('done', 'canary'), (outcome, 'canary'), ('skipped', 'rest'), ('skipped', 'rest')]
    assert 'the canary failed on desk-1' in entries[2]['msg'] and 'nothing else was rolled out' in entries[2]['msg']
    assert jobs == [] and a.pool == 'old' and [c[0] for c in a.calls] == ['canary']
    if fault == 'stuck':
        assert 'still busy' in entries[1]['msg'] and 'wait_timeout' in entries[1]['msg']


def test_stop_on_failure_skips_later_calls():
    a = Memory(['d%d' % i for i in range(6)])
    a.refuse.add('d0')
    entries, _jobs = roll(a, Selection(desktops(6), [], {}))
    assert [e['outcome'] for e in entries] == ['refused', 'done', 'skipped', 'skipped', 'skipped', 'skipped']
    assert 'stop_on_failure' in entries[2]['msg']
    a = Memory(['d%d' % i for i in range(6)])
    a.refuse.add('d0')
    entries, _jobs = roll(a, Selection(desktops(6), [], {}), stop_on_failure=False)
    assert [e['outcome'] for e in entries] == ['refused'] + ['done'] * 5


def test_check_mode_and_missing_entries():
    a = Memory(['d0', 'd1', 'd2'])
    a.images['d2'] = 'new'
    sel = Selection(desktops(3), [('ghost', 'no desktop with id or name ghost')], {})
    entries, jobs = roll(a, sel, canary=1, check_mode=True)
    assert a.calls == [] and jobs == []
    assert [(e['outcome'], e['stage'], e['after']) for e in entries] == [
        ('done', 'canary', {'image': 'new'}), ('done', 'rest', {'image': 'new'}), ('unchanged', None, {'image': 'new'}),
        ('refused', None, None)]
    assert entries[3]['name'] == 'ghost' and entries[3]['failed']


def test_options_refused_before_any_request():
    a = Memory([])
    with pytest.raises(ConfigError, match='logoff_policy=wait: it rebuilds at once'):
        patching.check_image_options(a, True, 'wait')
    with pytest.raises(ConfigError, match='at most 20'):
        patching.check_image_options(a, True, 'force', notice='x' * 21)
    with pytest.raises(ConfigError, match='notice is empty'):
        patching.check_image_options(a, True, 'force', notice='  ')
    with pytest.raises(ConfigError, match='between 0 and 15'):
        patching.check_image_options(a, True, 'force', grace_minutes=-1)
    a.image_rollout = ('pool',)
    with pytest.raises(ConfigError, match='to a whole pool only'):
        patching.check_image_options(a, False, 'force')
    with pytest.raises(ConfigError, match='canary must be'):
        patching.canary_of(True, [], whole(1))
    with pytest.raises(ConfigError, match='not in the selection'):
        patching.canary_of(['desk-9'], [], whole(2))
    assert patching.canary_of('1', desktops(3), whole(3)) == desktops(1)
    assert patching.epoch_ms('2026-12-01T22:00:00Z') == patching.epoch_ms('2026-12-01 22:00') == 1796162400000


class Commands(Memory):
    """Commands: every desktop exits 0 unless in ``exits``; ``gray`` says whether the provider's canary is used."""

    command_gray = True

    def __init__(self, ids):
        super(Commands, self).__init__(ids)
        self.exits = {}
        self.sent = []

    def start_commands(self, request, desktop_ids, gray_ids=None, threshold=None, pool_id=None):
        self.sent.append((list(desktop_ids), gray_ids, threshold))
        return {}, [list(desktop_ids)]

    def command_results(self, tasks, timeout, output_limit):
        out = {}
        for ids in tasks:
            for i in ids:
                code = self.exits.get(i, 0)
                out[i] = {'status': 'success' if code == 0 else 'failed', 'exit_code': code, 'ran': True,
                          'output': 'secret-key-value says hello %s' % i if output_limit else None, 'message': None}
        return out

    def secret_values(self):
        return ['secret-key-value']


def test_commands_native_canary_and_our_own():
    a = Commands(['d%d' % i for i in range(2)])
    entries = patching.run_commands(a, Selection(desktops(2), [], {}), command='x', canary=2, failure_threshold=1,
                                    output_limit=13)
    assert a.sent == [(['d0', 'd1'], ['d0', 'd1'], 1)]  # fits one call: the provider's own canary
    assert entries[0]['output'] == '******** says' and entries[0]['output_truncated']
    a = Commands(['d%d' % i for i in range(4)])
    a.exits['d0'] = 2
    entries = patching.run_commands(a, Selection(desktops(4), [], {}), command='x', canary=1)
    assert a.sent == [(['d0'], None, None)]  # threshold 1 is not lower than the canary: our own first call
    assert [(e['status'], e['outcome'], e['stage']) for e in entries] == [
        ('failed', 'refused', 'canary'), ('skipped', 'skipped', 'rest'), ('skipped', 'skipped', 'rest'),
        ('skipped', 'skipped', 'rest')]
    assert entries[0]['changed'] and not entries[1]['changed'] and 'exit code 2' in entries[0]['msg']
    summary = patching.summarize_commands(entries)
    assert summary == {'total': 4, 'changed': 1, 'succeeded': 0, 'failed': 1, 'skipped': 3, 'unchanged': 3}


def test_command_options_refused():
    a = Commands([])
    with pytest.raises(ConfigError, match='either command'):
        patching.check_command_options(a)
    with pytest.raises(ConfigError, match='no stored scripts'):
        patching.check_command_options(a, script_ids=['s'])
    with pytest.raises(ConfigError, match='powershell only'):
        patching.check_command_options(a, command='x', command_type='bat')
    with pytest.raises(ConfigError, match='output_limit'):
        patching.check_command_options(a, command='x', output_limit=-1)
    with pytest.raises(ConfigError, match='failure_threshold must be'):
        patching.check_command_options(a, command='x', failure_threshold=0)
    entries = patching.run_commands(a, Selection(desktops(2), [], {}), command='x', check_mode=True)
    assert a.sent == [] and all(e['changed'] and e['status'] is None for e in entries)
