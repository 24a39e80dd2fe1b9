"""The AWX job template and the playbook it names agree: every survey answer is read, every required input given."""

from __future__ import annotations

import os

import jinja2
import jinja2.meta
import pytest
import yaml

from ansible_collections.vdi.fleet.plugins.module_utils.window import wave_count

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONDITION_KEYS = ('when', 'that', 'failed_when', 'changed_when', 'until')
SURVEY_TYPES = {'integer': 'int', 'float': 'float', 'text': 'str', 'textarea': 'str', 'password': 'str',
                'multiplechoice': 'str'}


def load(*parts):
    with open(os.path.join(ROOT, *parts), encoding='utf-8') as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope='module')
def template():
    return load('extensions', 'awx', 'job_template_patch_window.yml')


@pytest.fixture(scope='module')
def questions(template):
    return dict((q['variable'], q) for q in template['survey_spec']['spec'])


@pytest.fixture(scope='module')
def role_options():
    return load('roles', 'patch_window', 'meta', 'argument_specs.yml')['argument_specs']['main']['options']


@pytest.fixture(scope='module')
def playbook(template):
    return load(template['playbook'])


class _AnyName(dict):
    """Every filter and test name exists (the collection's and Ansible's are not loaded for this reading)."""

    def __contains__(self, name):
        return True

    def __missing__(self, name):
        return lambda *args, **kwargs: None

    def get(self, name, default=None):
        return self[name]


def _environment():
    env = jinja2.Environment()
    env.filters = _AnyName(env.filters)
    env.tests = _AnyName(env.tests)
    return env


def templated_names(node, key=None):
    """Every variable a playbook's templates and conditions read."""
    names = set()
    if isinstance(node, dict):
        for k, v in node.items():
            names |= templated_names(v, k)
    elif isinstance(node, list):
        for v in node:
            names |= templated_names(v, key)
    elif isinstance(node, str) and (key in CONDITION_KEYS or '{{' in node or '{%' in node):
        source = '{{ %s }}' % node if key in CONDITION_KEYS and '{{' not in node else node
        names |= jinja2.meta.find_undeclared_variables(_environment().parse(source))
    return names


def play_sets(playbook):
    """Variables the playbook gives the role: play vars and include_role/import_role vars."""
    names = set()
    for play in playbook:
        names |= set(play.get('vars') or {})
        for task in play.get('tasks') or []:
            if any(k.endswith(('include_role', 'import_role')) for k in task):
                names |= set(task.get('vars') or {})
    return names


def test_the_playbook_is_the_collections_and_runs_on_the_templates_inventory(template, playbook):
    assert template['playbook'] == 'playbooks/patch_window.yml'
    (play,) = playbook
    assert play['hosts'] == 'localhost'
    roles = [t['ansible.builtin.include_role']['name'] for t in play['tasks'] if 'ansible.builtin.include_role' in t]
    assert roles == ['vdi.fleet.patch_window']


def test_every_survey_answer_is_read_by_the_playbook_or_the_role(questions, role_options, playbook):
    read_by_playbook = templated_names(playbook)
    for var in questions:
        assert var in role_options or var in read_by_playbook, '%s is asked but nothing reads it' % var


def test_survey_answers_for_role_options_have_the_options_type_and_choices(questions, role_options):
    for var, q in questions.items():
        if var not in role_options:
            continue
        option = role_options[var]
        assert SURVEY_TYPES[q['type']] == option.get('type', 'str'), var
        if 'choices' in option or q['type'] == 'multiplechoice':
            assert q['type'] == 'multiplechoice' and sorted(q['choices']) == sorted(option['choices']), var
        if 'default' in q:
            assert q['default'] in q.get('choices', [q['default']]), var


def test_the_pools_text_becomes_the_roles_required_list(questions, playbook, role_options):
    q = questions['patch_window_pools_text']
    assert q['type'] == 'textarea' and q['required']
    assert role_options['patch_window_pools']['required'] and role_options['patch_window_pools']['type'] == 'list'
    (play,) = playbook
    assert play['vars']['patch_window_pools'].replace(' ', '') == \
        '{{patch_window_pools_text|default(none)|vdi.fleet.vdi_lines}}'


def test_every_required_role_input_is_asked_set_or_defaulted(template, questions, role_options, playbook):
    given = set(questions) | play_sets(playbook) | set(template.get('extra_vars') or {})
    for name, option in role_options.items():
        if option.get('required'):
            assert name in given, 'required role input %s is neither asked, set by the playbook nor in extra_vars' % name


def test_extra_vars_of_the_template_are_role_inputs(template, role_options):
    assert set(template.get('extra_vars') or {}) <= set(role_options)


def test_survey_defaults_are_valid_role_values(questions, role_options):
    assert wave_count(8, questions['patch_window_wave_size']['default']) == 2
    for var in ('patch_window_drain_timeout', 'patch_window_max_failed_percentage', 'patch_window_logoff_policy'):
        assert questions[var]['default'] == role_options[var]['default'], var
    for var, q in questions.items():
        if q['type'] == 'integer' and 'default' in q:
            assert q['min'] <= q['default'] <= q['max'], var


def test_dry_run_is_the_job_type_check_asked_on_launch(template, questions):
    """The role plans in check mode (ansible_check_mode); a play keyword would not set it, so no survey question."""
    assert template['job_type'] == 'run' and template['ask_job_type_on_launch'] is True
    assert not any('check' in var or 'plan' in var or 'dry' in var for var in questions)


def test_the_template_takes_its_connection_from_a_credential(template, playbook):
    assert template['credentials'] and not template.get('ask_variables_on_launch')
    assert 'vdi_connection' not in (template.get('extra_vars') or {})
