"""Naming and trust helpers of the vdi.fleet.desktops inventory plugin (run on ansible-core 2.16 and 2.19)."""

from __future__ import annotations

import os

import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.vdi.fleet.plugins.inventory import desktops as inv

if inv.HAS_DATA_TAGGING:
    from ansible.template import is_trusted_as_template, trust_as_template

    def trusted(text):
        return trust_as_template(text)

    def is_trusted(value):
        return is_trusted_as_template(value)
else:
    from ansible.utils.unsafe_proxy import AnsibleUnsafe

    def trusted(text):
        return text  # before data tagging every plain string is a template

    def is_trusted(value):
        return isinstance(value, str) and not isinstance(value, AnsibleUnsafe)


def exact_str(value):
    """A plain str, not a subclass that could carry a tag or an unsafe mark."""
    return value.__class__ is str


def render(template_text, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trusted(template_text))


def desktop(desktop_id, name, pool='p1', **extra):
    rec = dict(id=desktop_id, name=name, pool=pool, pool_name=None, power_state='powered_on', maintenance=False,
               sessions=0, address=None, users=[], provider='horizon')
    rec.update(extra)
    return rec


# ---------------------------------------------------------------------- trust
def test_untrusted_values_are_never_templated(tmp_path):
    marker = tmp_path / 'ran'
    text = "{{ lookup('pipe', 'touch %s') }}" % marker
    value = inv.untrusted({'name': trusted(text), 'users': [trusted(text)], 'sessions': 2, 'maintenance': None})
    assert not is_trusted(value['name']) and not is_trusted(value['users'][0])
    assert value['name'] == text and value['sessions'] == 2 and value['maintenance'] is None
    assert render('{{ name }}', name=value['name']) == text
    assert render('{{ users[0] }}', users=value['users']) == text
    assert not marker.exists()
    # The same value, trusted, would have run the command: the check above is not vacuous.
    render('{{ name }}', name=trusted(text))
    assert marker.exists()


def test_plain_drops_every_wrapper_and_refuses_other_types():
    value = inv.plain({trusted('k'): [trusted('a'), 1, 2.5, True, None, (trusted('t'),)]})
    assert value == {'k': ['a', 1, 2.5, True, None, ['t']]}
    assert all(exact_str(v) for v in (list(value)[0], value['k'][0], value['k'][5][0]))
    for bad in (object(), {1, 2}, b'bytes'):
        with pytest.raises(TypeError):
            inv.plain(bad)


def test_quote_escapes_control_characters():
    assert inv.quote('a\x1b[31mred\nb') == repr('a\x1b[31mred\nb')
    assert '\x1b' not in inv.quote('a\x1b[31m')


# ---------------------------------------------------------------------- names
@pytest.mark.parametrize('name', ['hzn-01-0001', 'WKS-FIN-0042', 'desk.example.com', 'a', 'x_1', '桌面-01', '10.1.2.3'])
def test_usable_names(name):
    assert inv.name_problem(name) is None


@pytest.mark.parametrize('name,reason', [
    ('localhost', 'controller'), ('LocalHost', 'controller'), ('localhost.', 'controller'),
    ('localhost.localdomain', 'controller'), ('localhost6', 'controller'), ('ip6-localhost', 'controller'),
    ('desk.localhost', 'controller'), ('127.0.0.1', 'controller'), ('127.8.9.10', 'controller'),
    ('0.0.0.0', 'controller'), ('\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54', 'controller'),
    ('all', 'reserved'), ('ALL', 'reserved'), ('ungrouped', 'reserved'),
    ('', 'empty'), (None, 'empty'), ('x' * 256, 'longer'),
    ("{{ lookup('pipe', 'id') }}", 'characters'), ('a b', 'characters'), ('a,b', 'characters'),
    ('a:b', 'characters'), ('::1', 'characters'), ('-oProxyCommand=x', 'characters'), ('.x', 'characters'),
    ('_x', 'characters'), ('a*', 'characters'), ('!a', 'characters'), ('a\u202eb', 'characters'),
    ('a\nb', 'characters'), ('~a', 'characters'),
])
def test_unusable_names(name, reason):
    assert reason in inv.name_problem(name)


@pytest.mark.parametrize('address', ['10.20.0.1', 'fe80::1', '2001:db8::5', 'desk-01.example.com', 'DESK_01.corp.',
                                     'hzn-01-0001'])
def test_usable_addresses(address):
    assert inv.address_problem(address) is None


@pytest.mark.parametrize('address', ['127.0.0.1', '::1', '0.0.0.0', '::', 'localhost', 'localhost.example.com',
                                     '-oProxyCommand=touch x', 'a b', '{{ x }}', '', None, 'a..b', 'x' * 254])
def test_unusable_addresses(address):
    assert inv.address_problem(address)


def test_safe_group_keeps_the_documented_names():
    assert inv.safe_group('vdi_pool_Finance-Win11') == 'vdi_pool_Finance_Win11'
    assert inv.safe_group("vdi_pool_{{ x }}") == 'vdi_pool____x___'


def test_pool_groups_unique_names_are_kept():
    notes = []
    groups = inv.plan_pool_groups([('id-1', 'Finance-Win11'), ('id-2', 'Sales')], 'vdi_pool_', {'all', 'ungrouped'}, notes)
    assert groups == {'id-1': 'vdi_pool_Finance_Win11', 'id-2': 'vdi_pool_Sales'}
    assert notes == []


def test_pool_groups_that_collapse_all_get_their_id():
    notes = []
    pools = [('id-1', 'Finance-Win11'), ('id-2', 'Finance Win11'), ('id-3', 'Finance_Win11'), ('id-4', 'Other')]
    groups = inv.plan_pool_groups(pools, 'vdi_pool_', set(), notes)
    assert groups == {'id-1': 'vdi_pool_Finance_Win11_id_1', 'id-2': 'vdi_pool_Finance_Win11_id_2',
                      'id-3': 'vdi_pool_Finance_Win11_id_3', 'id-4': 'vdi_pool_Other'}
    assert len(notes) == 3 and all('2 other pool(s)' in n for n in notes)
    # The outcome does not depend on the listing order.
    assert inv.plan_pool_groups(list(reversed(pools)), 'vdi_pool_', set(), []) == groups


def test_pool_groups_never_reserved_or_taken():
    notes = []
    groups = inv.plan_pool_groups([('p1', 'all'), ('p2', 'web'), ('p3', 'ungrouped')], '', {'web', 'all', 'ungrouped'},
                                  notes)
    assert groups == {'p1': 'all_p1', 'p2': 'web_p2', 'p3': 'ungrouped_p3'}
    assert len(notes) == 3


def test_pool_without_a_free_group_gets_none():
    notes = []
    groups = inv.plan_pool_groups([('p1', 'web')], '', {'web', 'web_p1'}, notes)
    assert groups == {} and 'has no group' in notes[0]


def test_pool_without_a_name_is_grouped_by_its_id():
    assert inv.plan_pool_groups([('dg-1', None)], 'vdi_pool_', set(), []) == {'dg-1': 'vdi_pool_dg_1'}


def test_host_names_duplicates_are_all_named_by_id():
    notes = []
    ds = [desktop('id-1', 'desk-01'), desktop('id-2', 'desk-01'), desktop('id-3', 'desk-03')]
    names = inv.plan_host_names(ds, False, set(), notes)
    assert names == {'id-1': 'id-1', 'id-2': 'id-2', 'id-3': 'desk-03'}
    assert len(notes) == 2 and all('shared by 2 desktops' in n for n in notes)
    assert inv.plan_host_names(list(reversed(ds)), False, set(), []) == names


def test_host_names_reserved_and_taken_and_other_ids():
    notes = []
    ds = [desktop('id-1', 'localhost'), desktop('id-2', 'all'), desktop('id-3', 'vdi_pool_x'),
          desktop('id-4', 'id-5'), desktop('id-5', 'desk-05'), desktop('id-6', 'id-6'), desktop('id-7', None)]
    names = inv.plan_host_names(ds, False, {'vdi_pool_x', 'all', 'ungrouped'}, notes)
    assert names == {'id-1': 'id-1', 'id-2': 'id-2', 'id-3': 'id-3', 'id-4': 'id-4', 'id-5': 'desk-05',
                     'id-6': 'id-6', 'id-7': 'id-7'}
    text = '\n'.join(notes)
    assert 'controller' in text and 'reserved' in text and 'already the name of a host or group' in text
    assert 'the id of another desktop' in text and 'is empty' in text
    assert len(notes) == 5


def test_host_names_left_out_when_the_id_is_unusable_too():
    notes = []
    names = inv.plan_host_names([desktop('{{ x }}', 'localhost'), desktop('all', None)], False, {'all'}, notes)
    assert names == {}
    assert len(notes) == 2 and all('is left out' in n for n in notes)


def test_host_names_by_id():
    notes = []
    names = inv.plan_host_names([desktop('id-1', 'x'), desktop('localhost', 'y'), desktop('taken', 'z')], True,
                                {'taken'}, notes)
    assert names == {'id-1': 'id-1'}
    assert len(notes) == 2


def test_unique_desktops_keeps_the_first_of_a_repeated_id():
    notes = []
    out = inv.unique_desktops([desktop('a', 'x'), desktop('b', 'y'), desktop('a', 'z')], notes)
    assert [d['name'] for d in out] == ['x', 'y']
    assert notes == ["desktop 'a' was listed 2 times; it is one host."]


# ---------------------------------------------------------------------- records and cache files
def test_clean_records_accepts_records_and_strips_trust():
    rec = desktop('id-1', trusted('{{ x }}'), users=[trusted('u1')], pool_name=trusted('P'))
    out = inv.clean_records([rec])
    assert out == [dict(rec, name='{{ x }}', users=['u1'], pool_name='P')]
    # plain str: no trust tag (2.19); wrapped as unsafe when handed to Ansible (untrusted(), 2.16)
    assert exact_str(out[0]['name']) and exact_str(out[0]['users'][0])
    assert not is_trusted(inv.untrusted(out[0]['name']))


@pytest.mark.parametrize('records', [
    {'not': 'a list'}, ['not a dict'], [dict(desktop('a', 'x'), extra=1)], [desktop('', 'x')],
    [desktop('a', 1)], [desktop('a', 'x', sessions='many')], [desktop('a', 'x', sessions=True)],
    [desktop('a', 'x', maintenance='yes')], [desktop('a', 'x', users='u1')], [desktop('a', 'x', users=[1])],
    [desktop('a', 'x', address=object())],
])
def test_clean_records_refuses_anything_else(records):
    with pytest.raises((TypeError, ValueError)):
        inv.clean_records(records)


def test_normalize_record_coerces_adapter_values():
    out = inv.normalize_record(desktop('a', 1234, sessions=None, maintenance='x', users=['u', 5, None], address=[1]))
    assert out['name'] == '1234' and out['sessions'] == 0 and out['maintenance'] is None
    assert out['users'] == ['u', '5'] and out['address'] is None
    inv.clean_records([out])


def test_cache_file_problem(tmp_path):
    path = tmp_path / 'entry'
    path.write_text('[]')
    os.chmod(path, 0o600)
    assert inv.cache_file_problem(str(path)) is None
    os.chmod(path, 0o640)
    assert inv.cache_file_problem(str(path)) is None
    os.chmod(path, 0o666)
    assert 'writable by others' in inv.cache_file_problem(str(path))
    os.chmod(path, 0o620)
    assert 'writable by others' in inv.cache_file_problem(str(path))
    link = tmp_path / 'link'
    os.symlink(str(path), str(link))
    assert inv.cache_file_problem(str(link)) == 'is a symbolic link'
    assert inv.cache_file_problem(str(tmp_path)) == 'is not a regular file'
    assert inv.cache_file_problem(str(tmp_path / 'missing')) is None
