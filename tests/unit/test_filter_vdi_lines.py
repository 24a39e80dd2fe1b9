"""vdi_lines: survey text (one item per line) to a list, as the patch-window playbook reads the pools."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.vdi.fleet.plugins.filter.survey import FilterModule, vdi_lines


def test_registered_under_its_documented_name():
    assert FilterModule().filters() == {'vdi_lines': vdi_lines}


@pytest.mark.parametrize('text, expected', [
    ('Finance-Win11', ['Finance-Win11']),
    ('Finance-Win11\nSales-Win11\n', ['Finance-Win11', 'Sales-Win11']),
    ('  Finance-Win11 \t\n\tSales-Win11  ', ['Finance-Win11', 'Sales-Win11']),
    ('Finance-Win11\r\nSales-Win11\r\n', ['Finance-Win11', 'Sales-Win11']),  # pasted from Windows
    ('Finance-Win11\rSales-Win11', ['Finance-Win11', 'Sales-Win11']),
    ('\n\n  \nFinance-Win11\n\n\t\nSales-Win11\n\n', ['Finance-Win11', 'Sales-Win11']),
    ('# pools of the night\nFinance-Win11\n   # Sales next week\nLab Pool 2\n', ['Finance-Win11', 'Lab Pool 2']),
    ('Finance-Win11\nSales-Win11\nFinance-Win11\n  Sales-Win11 \n', ['Finance-Win11', 'Sales-Win11']),
    ('Sales-Win11\nFinance-Win11', ['Sales-Win11', 'Finance-Win11']),  # order kept
    ('dg-0a1b2c3d\n1f2e3d4c-5b6a-7988-aabb-ccddeeff0011', ['dg-0a1b2c3d', '1f2e3d4c-5b6a-7988-aabb-ccddeeff0011']),
    ('Finance #2', ['Finance #2']),  # only a line that starts with the comment string is a comment
    ('', []),
    ('\n  \n# nothing tonight\n', []),
])
def test_text_to_items(text, expected):
    assert vdi_lines(text) == expected


def test_items_are_plain_strings():
    items = vdi_lines('Finance-Win11\nSales-Win11')
    assert all(isinstance(i, str) for i in items)


def test_none_is_no_item():
    assert vdi_lines(None) == []


def test_a_list_is_taken_item_by_item():
    assert vdi_lines([' Finance-Win11 ', '', None, '# off', 'Sales-Win11', 'Finance-Win11', 42]) == [
        'Finance-Win11', 'Sales-Win11', '42']
    assert vdi_lines(('a', 'b')) == ['a', 'b']


def test_comment_string_can_be_changed_or_turned_off():
    text = '#1 pool\n; old pool\nFinance'
    assert vdi_lines(text, ';') == ['#1 pool', 'Finance']
    assert vdi_lines(text, '') == ['#1 pool', '; old pool', 'Finance']
    assert vdi_lines(text, None) == ['#1 pool', '; old pool', 'Finance']


@pytest.mark.parametrize('value', [{'pools': ['a']}, 12, 1.5, True, ['a', {'b': 1}], ['a', ['b']], ['a', False]])
def test_anything_else_is_refused_with_its_type(value):
    with pytest.raises(AnsibleFilterError, match='vdi_lines takes text'):
        vdi_lines(value)


def test_comment_must_be_text():
    with pytest.raises(AnsibleFilterError, match='comment must be a string'):
        vdi_lines('a', 3)


def test_template_text_is_data_not_a_template():
    """Text typed into a survey comes back as the same characters; the playbook never renders it."""
    assert vdi_lines("{{ lookup('env', 'HOME') }}\nFinance") == ["{{ lookup('env', 'HOME') }}", 'Finance']
