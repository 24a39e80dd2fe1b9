"""desktop_maintenance and desktop_info through ansible-playbook against the simulator, for every provider."""

from __future__ import annotations

import math

import pytest

MAINT = 'vdi.fleet.desktop_maintenance'
INFO = 'vdi.fleet.desktop_info'


def first_pool(state: dict) -> dict:
    return state['pools'][0]


def pool_desktops(state: dict, pool_id: str) -> list[dict]:
    return [d for d in state['desktops'] if d['pool'] == pool_id]


def minimum_requests(provider: str, pool_size: int) -> dict:
    """The fewest requests a maintenance change of a whole pool of ``pool_size`` desktops can take.

    Pool listing (to resolve the pool by name), desktop list pages, action batches, read-back pages,
    plus Horizon's login and logout.
    """
    if provider == 'horizon':
        pages = max(1, math.ceil(pool_size / 1000))
        return {'login': 1, 'list_pools': 1, 'list_machines_v2': 2 * pages, 'enter_maintenance': math.ceil(pool_size / 1000),
                'logout': 1}
    if provider == 'huaweicloud':
        pages = max(1, math.ceil(pool_size / 1000))
        return {'list_desktop_pools': 1, 'list_desktops': 2 * pages, 'set_maintenance_mode': math.ceil(pool_size / 100)}
    pages = max(1, math.ceil(pool_size / 100))
    return {'DescribeDesktopGroups': 1, 'DescribeDesktops': 2 * pages, 'SetDesktopMaintenance': math.ceil(pool_size / 100)}


def test_pool_round_trip_idempotent_and_minimal(sim, run_play):
    state = sim.state()
    pool = first_pool(state)
    members = pool_desktops(state, pool['id'])
    sim.clear_stats()
    res = run_play(sim.module_args(), [(MAINT, {'pool': pool['name'], 'state': 'present'})])
    r = res['r0']
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] is True
    assert r['summary'] == {'total': len(members), 'changed': len(members), 'unchanged': 0, 'failed': 0}
    assert sorted(e['id'] for e in r['desktops']) == sorted(d['id'] for d in members)
    assert all(e['before'] == {'maintenance': False} and e['after'] == {'maintenance': True} for e in r['desktops'])
    after = sim.state()
    assert all(d['maintenance'] for d in pool_desktops(after, pool['id']))
    assert not any(d['maintenance'] for d in after['desktops'] if d['pool'] != pool['id'])
    stats = sim.stats()
    assert stats['by_op'] == minimum_requests(sim.provider, len(members)), stats['by_op']

    # Same task again: nothing to change, no write request.
    sim.clear_stats()
    again = run_play(sim.module_args(), [(MAINT, {'pool': pool['name'], 'state': 'present'})])['r0']
    assert again['changed'] is False
    assert again['summary']['unchanged'] == len(members)
    assert sim.stats()['writes'] == 0

    # And out again.
    out = run_play(sim.module_args(), [(MAINT, {'pool': pool['id'], 'state': 'absent'})])['r0']
    assert out['changed'] is True and out['summary']['changed'] == len(members)
    assert not any(d['maintenance'] for d in sim.state()['desktops'])


def test_ids_and_names_mixed(sim, run_play):
    desktops = sim.state()['desktops']
    by_id, by_name, same = desktops[0], desktops[5], desktops[9]
    selection = [by_id['id'], by_name['name'], same['id'], same['name']]
    r = run_play(sim.module_args(), [(MAINT, {'desktops': selection})])['r0']
    assert not r.get('failed'), r.get('msg')
    assert [e['id'] for e in r['desktops']] == [by_id['id'], by_name['id'], same['id']]
    assert r['summary']['changed'] == 3
    in_maint = {d['id'] for d in sim.state()['desktops'] if d['maintenance']}
    assert in_maint == {by_id['id'], by_name['id'], same['id']}


def test_check_mode_and_diff_send_no_write(sim, run_play):
    pool = first_pool(sim.state())
    sim.clear_stats()
    res = run_play(sim.module_args(), [(MAINT, {'pool': pool['name']})], check=True, diff=True)
    r = res['r0']
    assert r['changed'] is True
    assert all(e['changed'] and e['after'] == {'maintenance': True} for e in r['desktops'])
    assert r['diff']['after'] and all(v is True for v in r['diff']['after'].values())
    assert sim.stats()['writes'] == 0
    assert not any(d['maintenance'] for d in sim.state()['desktops'])


def test_unknown_name_and_refused_desktop_fail_alone(sim, run_play):
    state = sim.state()
    pool = first_pool(state)
    members = pool_desktops(state, pool['id'])
    refused = members[2]
    sim.faults([{'kind': 'perid', 'ids': [refused['id']]}])
    try:
        r = run_play(sim.module_args(), [(MAINT, {'desktops': [d['id'] for d in members] + ['no-such-desktop']})])['r0']
    finally:
        sim.faults([])
    assert r['failed'] is True
    by_name = {e['name']: e for e in r['desktops']}
    assert len(r['desktops']) == len(members) + 1
    assert by_name['no-such-desktop']['failed'] and by_name['no-such-desktop']['id'] is None
    bad = [e for e in r['desktops'] if e['id'] == refused['id']][0]
    assert bad['failed'] and bad['after'] == {'maintenance': False}
    assert r['summary']['failed'] == 2 and r['summary']['changed'] == len(members) - 1
    assert '2 of %d desktops failed' % (len(members) + 1) in r['msg']
    in_maint = {d['id'] for d in sim.state()['desktops'] if d['maintenance']}
    assert in_maint == {d['id'] for d in members} - {refused['id']}


def test_throttling_is_waited_out(sim, run_play):
    pool = first_pool(sim.state())
    sim.faults([{'kind': 'throttle', 'rate': 1.0, 'count': 3, 'retry_after': 0.2}])
    try:
        r = run_play(sim.module_args(), [(MAINT, {'pool': pool['name']})])['r0']
    finally:
        sim.faults([])
    assert not r.get('failed'), r.get('msg')
    assert r['summary']['failed'] == 0
    assert sim.stats()['faults'].get('throttle') == 3


def test_desktop_info(sim, run_play):
    state = sim.state()
    pool = first_pool(state)
    members = pool_desktops(state, pool['id'])
    res = run_play(sim.module_args(), [
        (INFO, {}),
        (INFO, {'pool': pool['name'], 'gather_sessions': True, 'include_raw': False}),
    ], check=True)
    everything, in_pool = res['r0'], res['r1']
    assert not everything.get('failed') and not in_pool.get('failed'), (everything.get('msg'), in_pool.get('msg'))
    assert everything['changed'] is False and len(everything['desktops']) == len(state['desktops'])
    assert len(in_pool['desktops']) == len(members)
    sim_by_id = {d['id']: d for d in members}
    for d in in_pool['desktops']:
        truth = sim_by_id[d['id']]
        assert 'raw' not in d
        assert d['pool'] == pool['id'] and d['pool_name'] == pool['name']
        assert d['sessions'] == len(truth['sessions'])
        assert len(d['session_list']) == len(truth['sessions'])
        expected_power = {'on': 'powered_on', 'off': 'powered_off', 'suspended': 'suspended',
                          'hibernated': 'suspended'}[truth['power']]
        assert d['power_state'] == expected_power
    assert in_pool['summary']['total'] == len(members)


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_bad_password_is_one_clear_message(sim, run_play):
    r = run_play(sim.module_args(password='wrong-password-123'), [(INFO, {})])['r0']
    assert r['failed'] is True
    assert 'wrong-password-123' not in r['msg']
    assert 'username' in r['msg'] and 'Traceback' not in r['msg']
