"""AlicloudAdapter power, messages and sessions against the in-process Alibaba Cloud EDS simulator."""

from __future__ import annotations

import base64
import math
import re

import pytest

from outcomes import texts  # pylint: disable=import-error
from sim_helpers import controlled, running, sim_poller  # pylint: disable=import-error

import alicloud as A  # the simulator module (tests/simulator is on sys.path)

from ansible_collections.vdi.fleet.plugins.module_utils import service
from ansible_collections.vdi.fleet.plugins.module_utils.errors import ApiError, ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers import alicloud as adapter_mod
from ansible_collections.vdi.fleet.plugins.module_utils.providers import base
from ansible_collections.vdi.fleet.plugins.module_utils.providers.alicloud import AlicloudAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy

RUN = {'alicloud_delivery': 'run_command'}
CONSOLE = 'alicloud_console_message_id'

#: Texts that would break (or exploit) any script that interpolated them: each must arrive as written.
HOSTILE = [
    'It\'s "quoted" & piped | 100% ^caret <in> >out `tick` $env:USERNAME $(Get-Date)',
    "'; Remove-Item -Recurse -Force C:\\ ; '",
    '"; shutdown /s /t 0 & echo "',
    '%PATH% !x! ^& && || > nul 2>&1',
    "@'\nhere-string\n'@ @\"\n$(whoami)\n\"@",
    'line one\nline two\r\nline three\n',
    'Grüße 你好 ✓',
    '\t leading and trailing spaces  ',
    '{{ jinja }} {% raw %} ${IFS} `id` \\\\server\\share',
]


@pytest.fixture(scope='module')
def ali_simulator(tmp_path_factory):
    with running(tmp_path_factory, 'alicloud', 23, 'alisim-power') as simulator:
        yield simulator


@pytest.fixture
def ctl(ali_simulator, monkeypatch):
    with controlled(ali_simulator, 'alicloud', monkeypatch) as c:
        yield c


@pytest.fixture
def adapter(ctl):
    a = AlicloudAdapter(ctl.module_args(), policy=RetryPolicy(retries=4, base=0.01, cap=0.05))
    a.poller_factory = sim_poller(ctl.sim)
    yield a
    a.close()


def ops(ctl):
    return ctl.stats()['by_op']


def sim_desktops(ctl):
    return {d['id']: d for d in ctl.state()['desktops']}


def set_power(ctl, ids, power):
    p = ctl.provider_sim
    with p.lock:
        for i in ids:
            d = p.desktops[i]
            d.power, d.transition = power, None
            d.extra.pop('status', None)
            if power != 'on':
                d.sessions = []


def spy(adapter):
    """Record (action, query dict) of every call the adapter makes."""
    seen = []
    real = adapter.http.json

    def wrapper(method, path, **kw):
        hdrs = {}
        kw['sign'](method, path, kw['query'], hdrs, b'')
        seen.append((hdrs['x-acs-action'], dict(kw['query'])))
        return real(method, path, **kw)

    adapter.http.json = wrapper
    return seen


def bisect_cost(n, bad, size):
    calls = []

    def fake(batch):
        calls.append(batch)
        if any(i in bad for i in batch):
            raise ApiError('refused', status=400)
        return {}

    base.run_batches(list(range(n)), fake, size)
    return len(calls)


def delivered(ctl, kind='msg'):
    return [m for m in ctl.state()['messages'] if m['message_type'] == kind]


# --------------------------------------------------------------------------- power

NEED = {'start': 'off', 'stop': 'on', 'restart': 'on', 'hibernate': 'on', 'wakeup': 'hibernated'}
FINAL = {'start': 'on', 'stop': 'off', 'restart': 'on', 'hibernate': 'hibernated', 'wakeup': 'on'}
API = {'start': 'StartDesktops', 'stop': 'StopDesktops', 'restart': 'RebootDesktops',
       'hibernate': 'HibernateDesktops', 'wakeup': 'WakeupDesktops'}


@pytest.mark.parametrize('action', sorted(API))
@pytest.mark.parametrize('count', [1, 100, 101, 250])
def test_power_batches_of_100(ctl, adapter, action, count):
    ctl.reset(fleet=260)
    ids = list(sim_desktops(ctl))
    set_power(ctl, ids, NEED[action])
    ctl.clear_stats()
    failures, jobs = adapter.power(ids[:count] + ids[:min(count, 3)], action)  # duplicates are sent once
    failures = texts(failures)
    assert failures == {} and jobs == []
    assert ops(ctl) == {API[action]: math.ceil(count / 100)}
    assert ctl.stats()['writes'] == math.ceil(count / 100)
    state = sim_desktops(ctl)
    kind = 'reboot' if action == 'restart' else action
    assert all(state[i]['transition']['kind'] == kind for i in ids[:count])
    assert not any(state[i]['transitioning'] for i in ids[count:])
    ctl.advance(120)
    state = sim_desktops(ctl)
    assert all(state[i]['power'] == FINAL[action] for i in ids[:count])
    assert all(state[i]['power'] == NEED[action] for i in ids[count:])


def test_power_query_shape_and_force_ignored(ctl, adapter):
    ids = [i for i, d in sim_desktops(ctl).items() if d['power'] == 'on'][:3]
    seen = spy(adapter)
    adapter.power(ids, 'stop', force=True)
    assert seen == [('StopDesktops', {'RegionId': A.REGION, 'DesktopId.1': ids[0], 'DesktopId.2': ids[1],
                                      'DesktopId.3': ids[2]})]
    assert adapter_mod.POWER_BATCH == A.POWER_BATCH_LIMIT == 100
    assert adapter.unsupported_power == {}
    with pytest.raises(ConfigError):
        adapter.power(ids, 'suspend')


def test_wrong_state_desktop_is_isolated(ctl, adapter):
    ctl.reset(fleet=120)
    ids = list(sim_desktops(ctl))[:100]
    set_power(ctl, ids, 'on')
    set_power(ctl, [ids[41]], 'off')
    ctl.clear_stats()
    failures, jobs = adapter.power(ids, 'stop')
    failures = texts(failures)
    assert list(failures) == [ids[41]] and jobs == []
    assert 'IncorrectDesktopStatus' in failures[ids[41]] and 'Stopped' in failures[ids[41]]
    assert ops(ctl) == {'StopDesktops': bisect_cost(100, {41}, 100)}
    assert ops(ctl)['StopDesktops'] <= 1 + 2 * math.ceil(math.log2(100))
    state = sim_desktops(ctl)
    assert all(state[i]['transitioning'] for i in ids if i != ids[41])
    assert not state[ids[41]]['transitioning']


def test_hibernate_refusals_are_isolated(ctl, adapter):
    ids = list(sim_desktops(ctl))[:10]
    set_power(ctl, ids, 'on')
    ctl.patch(ids[2], extra={'support_hibernation': False})
    ctl.faults([{'kind': 'perid', 'ids': [ids[7]], 'ops': ['HibernateDesktops']}])
    failures, jobs = adapter.power(ids + ['ecd-nosuchdesktop0000'], 'hibernate')
    failures = texts(failures)
    assert sorted(failures) == sorted([ids[2], ids[7], 'ecd-nosuchdesktop0000'])
    assert 'InvalidHibernate.NotSupported' in failures[ids[2]]
    assert 'IncorrectDesktopStatus' in failures[ids[7]]
    assert 'InvalidDesktopId.NotFound' in failures['ecd-nosuchdesktop0000']
    ctl.advance(60)
    state = sim_desktops(ctl)
    assert {i for i in ids if state[i]['power'] == 'hibernated'} == set(ids) - {ids[2], ids[7]}


def test_5xx_after_a_power_call_is_not_resent(ctl, adapter):
    ids = list(sim_desktops(ctl))[:5]
    set_power(ctl, ids, 'on')
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['RebootDesktops'], 'count': 1, 'phase': 'after'}])
    failures, jobs = adapter.power(ids, 'restart')
    failures = texts(failures)
    assert jobs == [] and set(failures) == set(ids)
    assert all('not re-sent' in m for m in failures.values())
    assert ops(ctl) == {'RebootDesktops': 1}
    assert all(d['transitioning'] for i, d in sim_desktops(ctl).items() if i in ids)  # it was applied


def test_service_started_wakes_up_hibernated_and_second_run_writes_nothing(ctl, adapter):
    ctl.reset(fleet=60)
    target = ctl.state()['pools'][0]
    members = [i for i, d in sim_desktops(ctl).items() if d['pool'] == target['id']]
    set_power(ctl, members, 'on')
    set_power(ctl, members[:2], 'hibernated')
    set_power(ctl, members[2:5], 'off')
    ctl.clear_stats()
    selection = service.select(adapter, pool=target['name'])
    entries, jobs = service.ensure_power(adapter, selection, 'started', poller_factory=sim_poller(ctl.sim))
    assert jobs == []
    by_id = {e['id']: e for e in entries}
    assert all(not e['failed'] for e in entries), [e['msg'] for e in entries if e['failed']]
    assert {i for i, e in by_id.items() if e['changed']} == set(members[:5])
    assert by_id[members[0]]['before'] == {'power_state': 'suspended'}
    assert by_id[members[0]]['after'] == {'power_state': 'powered_on'}
    assert by_id[members[3]]['before'] == {'power_state': 'powered_off'}
    counts = ops(ctl)
    assert counts['WakeupDesktops'] == 1 and counts['StartDesktops'] == 1 and counts['DescribeDesktopGroups'] == 1
    assert ctl.stats()['writes'] == 2
    assert all(sim_desktops(ctl)[i]['power'] == 'on' for i in members)
    ctl.clear_stats()
    entries, jobs = service.ensure_power(adapter, service.select(adapter, pool=target['id']), 'started',
                                         poller_factory=sim_poller(ctl.sim))
    assert not any(e['changed'] or e['failed'] for e in entries)
    assert ctl.stats()['writes'] == 0


# --------------------------------------------------------------------------- option checks


def test_messages_need_an_explicit_delivery(ctl, adapter):
    for options in ({}, {CONSOLE: None, 'alicloud_delivery': None}):
        with pytest.raises(ConfigError) as exc:
            adapter.check_message_options(options)
        msg = str(exc.value)
        assert 'no API that sends a free-text message' in msg
        assert 'alicloud_console_message_id' in msg and 'SendConsoleMessage' in msg and 'published' in msg
        assert 'alicloud_delivery=run_command' in msg and 'RunCommand' in msg and 'msg *' in msg
        assert 'Windows' in msg and 'session' in msg
    with pytest.raises(ConfigError):
        adapter.send_message([{'session_id': 'x', 'desktop_id': 'd', 'user': 'u'}], 'hi', options={})
    with pytest.raises(ConfigError):
        adapter.check_message_options({CONSOLE: 'msg-1', 'alicloud_delivery': 'run_command'})
    adapter.check_message_options(RUN)
    assert adapter.message_limit == adapter_mod.MESSAGE_LIMIT
    adapter.check_message_options({CONSOLE: 'msg-sim-maintenance'})
    assert adapter.message_limit > 100000  # the text of a console message is only recorded
    assert ctl.stats()['total'] == 0


def test_logoff_is_refused_before_any_request(ctl, adapter):
    with pytest.raises(ConfigError) as exc:
        adapter.check_logoff_options(force=True, message=None)
    msg = str(exc.value)
    assert 'no API that logs a user off' in msg and 'DisconnectDesktopSessions' in msg
    assert 'desktop_pool_power' in msg and 'stopped' in msg and 'restarted' in msg
    with pytest.raises(ConfigError):
        adapter.logoff([{'session_id': 'x', 'desktop_id': 'd', 'user': 'u'}])
    assert ctl.stats()['total'] == 0


# --------------------------------------------------------------------------- the popup script


@pytest.mark.parametrize('text', HOSTILE + ['', 'x' * 5000, '😀' * adapter_mod.MESSAGE_LIMIT])
def test_popup_script_agrees_with_the_simulator(text):
    """The adapter's script builder and the simulator's are the same pattern, and the text only travels as Base64."""
    assert adapter_mod.MSG_SCRIPT_TEMPLATE == A.MSG_SCRIPT_TEMPLATE
    script = adapter_mod.msg_script(text)
    assert script == A.msg_script(text)
    assert A.parse_msg_script(script) == text
    payload = re.fullmatch(r".*FromBase64String\('([^']*)'\).*", script).group(1)
    assert re.fullmatch(r'[A-Za-z0-9+/]*={0,2}', payload)
    assert script == A.MSG_SCRIPT_TEMPLATE % payload  # nothing of the text in the script but the payload
    content = adapter_mod.command_content(text)
    assert base64.b64decode(content).decode('utf-8') == script


def test_message_limit_is_the_worst_case_that_fits():
    limit = adapter_mod.MESSAGE_LIMIT
    assert 2000 < limit < 16 * 1024 // 4
    for ch in ('a', 'ü', '你', '😀'):  # 1 to 4 UTF-8 bytes
        assert len(adapter_mod.command_content(ch * limit)) <= adapter_mod.RUN_COMMAND_CONTENT_LIMIT
    assert len(adapter_mod.command_content('😀' * (limit + 1))) > adapter_mod.RUN_COMMAND_CONTENT_LIMIT
    assert adapter_mod.RUN_COMMAND_BATCH == A.RUN_COMMAND_LIMIT == 50


# --------------------------------------------------------------------------- console messages


def test_console_message_published(ctl, adapter):
    sessions = adapter.list_sessions(adapter.list_desktops())
    assert sessions
    ctl.clear_stats()
    seen = spy(adapter)
    out = adapter.send_message(sessions, 'recorded only', options={CONSOLE: 'msg-sim-maintenance'})
    out = texts(out)
    assert out == {s['session_id']: None for s in sessions}
    assert seen == [('SendConsoleMessage', {'MessageId': 'msg-sim-maintenance'})]  # no RegionId in this API
    assert ops(ctl) == {'SendConsoleMessage': 1}
    assert "console message's own recipients" in adapter.delivery_note({CONSOLE: 'msg-sim-maintenance'})
    ctl.advance(A.PUSH_SECONDS + 1)
    got = delivered(ctl, 'console:msg-sim-maintenance')
    every = [s['id'] for d in ctl.state()['desktops'] for s in d['sessions']]
    assert sorted(m['session_id'] for m in got) == sorted(every)
    assert all(m['text'].startswith('Your cloud computer enters maintenance') for m in got)


@pytest.mark.parametrize('message_id, code', [('msg-sim-draft', 'InvalidMessageStatus'),
                                              ('msg-sim-expired', 'InvalidMessageStatus'),
                                              ('msg-sim-nosuch', 'InvalidMessageId.NotFound')])
def test_console_message_refused(ctl, adapter, message_id, code):
    sessions = adapter.list_sessions(adapter.list_desktops())
    ctl.clear_stats()
    out = adapter.send_message(sessions, 'x', options={CONSOLE: message_id})
    out = texts(out)
    assert set(out) == {s['session_id'] for s in sessions}
    assert all(code in v and message_id in v for v in out.values())
    assert ops(ctl) == {'SendConsoleMessage': 1}
    ctl.advance(A.PUSH_SECONDS + 1)
    assert ctl.state()['messages'] == []


# --------------------------------------------------------------------------- RunCommand popups


def targets(adapter, ctl):
    return adapter.list_sessions(adapter.list_desktops())


@pytest.mark.parametrize('text', HOSTILE + ['Grüße ✓ 😀' * 400])
def test_run_command_delivers_hostile_text_exactly_once(ctl, adapter, text):
    text = text[:adapter_mod.MESSAGE_LIMIT]
    sessions = targets(adapter, ctl)
    desktops = {s['desktop_id'] for s in sessions}
    ctl.clear_stats()
    out = adapter.send_message(sessions, text, options=RUN)
    out = texts(out)
    assert out == {s['session_id']: None for s in sessions}
    counts = ops(ctl)
    assert counts['RunCommand'] == math.ceil(len(desktops) / 50)
    assert counts['DescribeInvocations'] >= counts['RunCommand']
    by_session = {}
    for m in delivered(ctl):
        by_session.setdefault((m['desktop_id'], m['user']), []).append(m['text'])
    assert by_session == {(s['desktop_id'], s['user']): [text] for s in sessions}


def test_run_command_batches_of_50_and_per_desktop_failures(ctl, adapter):
    ctl.reset(fleet=250)
    state = sim_desktops(ctl)
    with_session = [i for i, d in state.items() if d['sessions']]
    assert len(with_session) > 100
    linux, refused = with_session[3], with_session[60]
    ctl.patch(linux, os_type='Linux')
    ctl.faults([{'kind': 'perid', 'ids': [refused], 'ops': ['RunCommand']}])
    sessions = targets(adapter, ctl)
    ctl.clear_stats()
    seen = spy(adapter)
    out = adapter.send_message(sessions, 'Patch window starts now', options=RUN)
    out = texts(out)
    runs = [q for action, q in seen if action == 'RunCommand']
    assert len(runs) == math.ceil(len(with_session) / 50) == ops(ctl)['RunCommand']
    assert all(len([k for k in q if k.startswith('DesktopId.')]) <= 50 for q in runs)
    assert all(q['ContentEncoding'] == 'Base64' and q['Type'] == 'RunPowerShellScript' for q in runs)
    assert all('EndUserId' not in q for q in runs)  # several users: system context, all sessions of the desktop
    failed = {sid: why for sid, why in out.items() if why}
    by_desktop = {s['session_id']: s['desktop_id'] for s in sessions}
    assert {by_desktop[sid] for sid in failed} == {linux, refused}
    why_of = dict((by_desktop[sid], why) for sid, why in failed.items())
    assert 'Invalid on desktop %s: CommandNotApplicable' % linux in why_of[linux]
    assert 'Aborted on desktop %s: ClientNotRunning' % refused in why_of[refused]
    got = delivered(ctl)
    assert sorted(m['desktop_id'] for m in got) == sorted(set(with_session) - {linux, refused})


def test_run_command_as_the_end_user_when_there_is_one(ctl, adapter):
    sessions = targets(adapter, ctl)[:1]
    seen = spy(adapter)
    out = adapter.send_message(sessions, 'only you', title='Heads up', options=RUN)
    out = texts(out)
    assert out == {sessions[0]['session_id']: None}
    run = [q for action, q in seen if action == 'RunCommand'][0]
    assert run['EndUserId'] == sessions[0]['user'] and run['DesktopId.1'] == sessions[0]['desktop_id']
    assert int(run['Timeout']) == adapter_mod.RUN_COMMAND_TIMEOUT
    assert [m['text'] for m in delivered(ctl)] == ['Heads up\nonly you']


def test_run_command_several_sessions_on_one_desktop_one_invocation(ctl, adapter):
    did = next(i for i, d in sim_desktops(ctl).items() if d['power'] == 'on')
    ctl.patch(did, sessions=[{'user': 'alice'}, {'user': 'bob', 'state': 'disconnected'}])
    sessions = adapter.list_sessions(adapter.list_desktops(desktop_ids=[did]))
    assert len(sessions) == 2
    ctl.clear_stats()
    out = adapter.send_message(sessions, 'both of you', options=RUN)
    out = texts(out)
    assert set(out.values()) == {None} and len(out) == 2
    assert ops(ctl)['RunCommand'] == 1
    assert sorted(m['user'] for m in delivered(ctl)) == ['alice', 'bob']


def test_run_command_whole_call_refusal_is_isolated(ctl, adapter):
    sessions = targets(adapter, ctl)[:6]
    ghost = {'session_id': 'ecd-nosuchdesktop0000:ghost', 'desktop_id': 'ecd-nosuchdesktop0000', 'user': 'ghost'}
    out = adapter.send_message(sessions[:3] + [ghost] + sessions[3:], 'hello', options=RUN)
    out = texts(out)
    assert 'InvalidDesktopId.NotFound' in out[ghost['session_id']]
    assert all(out[s['session_id']] is None for s in sessions)
    assert len(delivered(ctl)) == len(sessions)


def test_run_command_5xx_after_is_failed_not_resent(ctl, adapter):
    sessions = targets(adapter, ctl)
    ctl.faults([{'kind': '5xx', 'rate': 1.0, 'ops': ['RunCommand'], 'count': 1, 'phase': 'after'}])
    out = adapter.send_message(sessions, 'once only', options=RUN)
    out = texts(out)
    assert set(out) == {s['session_id'] for s in sessions}
    assert all(v and 'not re-sent' in v and ('InternalError' in v or 'ServiceUnavailable' in v) for v in out.values())
    assert ops(ctl) == {'DescribeDesktops': 1, 'DescribeDesktopSessions': 1, 'RunCommand': 1}
    ctl.advance(A.INVOCATION_SECONDS + 1)
    got = delivered(ctl)  # the server had run it: each user got it once, never twice
    assert sorted(m['session_id'] for m in got) == sorted({m['session_id'] for m in got})


def test_run_command_throttled_then_sent_once(ctl, adapter):
    sessions = targets(adapter, ctl)
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['RunCommand'], 'count': 2, 'retry_after': 0.01}])
    ctl.clear_stats()
    out = adapter.send_message(sessions, 'after the storm', options=RUN)
    out = texts(out)
    assert set(out.values()) == {None}
    assert ops(ctl)['RunCommand'] == 3
    assert len(delivered(ctl)) == len(sessions)


def test_run_command_throttled_beyond_retries_fails_its_sessions(ctl, adapter):
    sessions = targets(adapter, ctl)
    ctl.faults([{'kind': 'throttle', 'rate': 1.0, 'ops': ['RunCommand'], 'retry_after': 0.001}])
    out = adapter.send_message(sessions, 'never', options=RUN)
    out = texts(out)
    assert all(v and 'Throttling' in v for v in out.values())
    assert delivered(ctl) == []


def test_invocations_are_read_with_their_per_desktop_results(ctl, adapter, monkeypatch):
    """IncludeInvokeDesktops has no documented default: without it there is no per-desktop outcome to read."""
    sessions = [s for s in targets(adapter, ctl) if s['state'] == 'connected'][:1]
    calls = []
    real = adapter._call  # pylint: disable=protected-access

    def spy(action, params=None, **kwargs):
        calls.append((action, dict(params or {})))
        return real(action, params, **kwargs)

    monkeypatch.setattr(adapter, '_call', spy)
    assert adapter.send_message(sessions, 'hello', options=RUN) == {sessions[0]['session_id']: None}
    asked = [params for action, params in calls if action == 'DescribeInvocations']
    assert asked and all(p['IncludeInvokeDesktops'] is True and p.get('MaxResults', 10) <= 50 for p in asked)


def test_run_command_invocation_not_finished_in_time(ctl, adapter):
    sessions = targets(adapter, ctl)[:2]
    adapter.message_timeout = 2  # simulated seconds; the simulated invocation needs INVOCATION_SECONDS
    out = adapter.send_message(sessions, 'slow', options=RUN)
    out = texts(out)
    assert all(v and 'did not finish within 2s' in v and 'not re-sent' in v for v in out.values())


def test_run_command_needs_a_session(ctl, adapter):
    did = next(i for i, d in sim_desktops(ctl).items() if d['sessions'])
    sessions = adapter.list_sessions(adapter.list_desktops(desktop_ids=[did]))
    with ctl.provider_sim.lock:  # the user logs off between listing and sending
        ctl.provider_sim.desktops[did].sessions = []
    out = adapter.send_message(sessions, 'too late', options=RUN)
    out = texts(out)
    assert 'CommandNotApplicable' in out[sessions[0]['session_id']]


def test_service_pool_message_skips_desktops_without_session(ctl, adapter):
    target = ctl.state()['pools'][0]
    found, entries = service.target_sessions(adapter, pool=target['name'])[:2]
    sent = service.send_messages(adapter, found, 'pool wide', options=RUN)
    members = [d for d in ctl.state()['desktops'] if d['pool'] == target['id']]
    assert len(sent) == sum(len(d['sessions']) for d in members)
    assert all(e['sent'] and not e['failed'] for e in sent)
    assert len(entries) == sum(1 for d in members if not d['sessions']) and all(e['skipped'] for e in entries)
    assert len(delivered(ctl)) == len(sent)
