"""A job of an AWX job template, prepared and run the way AWX does it, through ansible-runner.

AWX (``awx/main/tasks/jobs.py`` ``RunJob``, ``awx/main/models/credential.py`` ``inject_credential``) builds a
private data directory per job and hands it to ansible-runner:

- ``project/``: the project's files (here this repository's ``playbooks/``); ``requirements_collections/``: the
  collections a project sync installed (here the collection built by ``make collection``), first on
  ``ANSIBLE_COLLECTIONS_PATH``;
- ``inventory/hosts``: an executable script that prints the inventory as JSON;
- ``env/extravars``: the job template's extra vars, the survey answers (defaults first) and the ``awx_*`` meta
  variables, as YAML in which everything but the template's own extra vars is tagged ``!unsafe`` (never templated);
- ``env/cmdline``, ``env/settings``: the command line options and ansible-runner's settings;
- the environment: AWX's own variables and every credential's ``env`` injectors, rendered with the credential's
  inputs in a Jinja sandbox. AWX passes it to ansible-runner as ``envvars`` and by default
  (``AWX_RUNNER_OMIT_ENV_FILES``) writes no ``env/envvars`` or ``env/passwords`` file; with ``omit_env_files=False``
  ansible-runner writes them, as with that setting off. The job's environment that AWX stores and shows
  (``job_env``) has the secret inputs replaced by ``**********``.

Events come back through an event handler (AWX keeps the ``artifact_data`` of an event, ``set_stats`` of the
``playbook_on_stats`` event, as the job's artifacts); ansible-runner also writes each event to
``artifacts/<ident>/job_events/<counter>-<uuid>.json`` and the output to ``artifacts/<ident>/stdout``.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import sys
import tempfile

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AWX_DIR = os.path.join(ROOT, 'extensions', 'awx')
HIDDEN = '**********'
COLLECTION = ('ansible_collections', 'vdi', 'fleet')


def load(name: str) -> dict:
    """One file of ``extensions/awx`` (credential type or job template)."""
    with open(os.path.join(AWX_DIR, name), encoding='utf-8') as fh:
        return yaml.safe_load(fh)


def credential_type(provider: str) -> dict:
    return load('credential_type_%s.yml' % provider)


def secret_inputs(ctype: dict, inputs: dict) -> list:
    """The values of the credential's secret fields, as given."""
    return [inputs[f['id']] for f in ctype['inputs']['fields'] if f.get('secret') and inputs.get(f['id'])]


class InjectionError(ValueError):
    """AWX would refuse the credential (inputs) or the credential type (injectors)."""


def inject_credential(ctype: dict, inputs: dict) -> tuple[dict, dict, dict]:
    """``(env, safe_env, extra_vars)`` of one credential, as AWX's ``CredentialType.inject_credential`` renders them.

    The template namespace holds the inputs that are set (an empty string is left out, so ``default()`` applies),
    boolean fields default to false; ``safe_env`` is rendered with every secret input replaced by ``**********``.
    """
    fields = ctype['inputs']['fields']
    ids = [f['id'] for f in fields]
    unknown = sorted(set(inputs) - set(ids))
    if unknown:
        raise InjectionError('inputs not defined by the credential type: %s' % ', '.join(unknown))
    missing = [f for f in ctype['inputs'].get('required', []) if inputs.get(f) in (None, '')]
    if missing:
        raise InjectionError('required inputs missing: %s' % ', '.join(missing))
    injectors = ctype.get('injectors') or {}
    if set(injectors) - {'env', 'extra_vars'}:
        raise InjectionError('injector kinds not emulated here: %s' % ', '.join(sorted(set(injectors) - {'env', 'extra_vars'})))
    secret = set(f['id'] for f in fields if f.get('secret'))
    namespace, safe_namespace = {}, {}
    for name, value in inputs.items():
        if isinstance(value, bool):
            namespace[name] = safe_namespace[name] = value
            continue
        if name in secret:
            safe_namespace[name] = HIDDEN
        elif len(value):
            safe_namespace[name] = value
        if len(value):
            namespace[name] = value
    for field in fields:
        if field['type'] == 'boolean' and field['id'] not in inputs:
            namespace[field['id']] = safe_namespace[field['id']] = False
    sandbox = ImmutableSandboxedEnvironment()
    env, safe_env = {}, {}
    for name, template in (injectors.get('env') or {}).items():
        if name.startswith('ANSIBLE_'):
            raise InjectionError('environment variable %s may affect the Ansible configuration; AWX refuses it' % name)
        env[name] = sandbox.from_string(template).render(**namespace)
        safe_env[name] = sandbox.from_string(template).render(**safe_namespace)
        if not env[name].isascii():
            raise InjectionError('environment variable %s: AWX takes ASCII values only' % name)

    def build(node):
        if isinstance(node, dict):
            return dict((build(k), build(v)) for k, v in node.items())
        if isinstance(node, list):
            return [build(v) for v in node]
        return sandbox.from_string(node).render(**namespace)

    return env, safe_env, build(injectors.get('extra_vars') or {})


# ----------------------------------------------------------------------------------------------------- extra vars


class _UnsafeDumper(yaml.SafeDumper):
    """Every string as ``!unsafe`` (AWX ``awx.main.utils.safe_yaml.SafeStringDumper``)."""

    def represent_data(self, data):
        if isinstance(data, str):
            return self.represent_scalar('!unsafe', data)
        return super().represent_data(data)


def safe_dump(data: dict, safe_dict: dict | None = None) -> str:
    """AWX's ``safe_dump``: a top-level variable is written as it is only when it equals the template's own."""
    safe_dict = safe_dict or {}
    parts = []
    for key, value in data.items():
        dumper = yaml.SafeDumper if key in safe_dict and safe_dict[key] == value else _UnsafeDumper
        parts.append(yaml.dump_all([{key: value}], None, Dumper=dumper, default_flow_style=False))
    return ''.join(parts)


class SurveyError(ValueError):
    """AWX would refuse to launch with these answers."""


def survey_answers(spec: dict, answers: dict) -> dict:
    """The survey's variables: defaults first, then the answers, checked as AWX checks them at launch."""
    questions = dict((q['variable'], q) for q in spec['spec'])
    unknown = sorted(set(answers) - set(questions))
    if unknown:
        raise SurveyError('answers to questions the survey does not ask: %s' % ', '.join(unknown))
    values = {}
    for var, q in questions.items():
        if var in answers:
            value = answers[var]
        elif q.get('default') not in (None, ''):
            value = q['default']
        elif q.get('required'):
            raise SurveyError('%r is required' % q['question_name'])
        else:
            continue
        kind = q['type']
        if kind == 'integer':
            if isinstance(value, bool) or not isinstance(value, int):
                raise SurveyError('%r must be an integer' % q['question_name'])
            if ('min' in q and value < q['min']) or ('max' in q and value > q['max']):
                raise SurveyError('%r must be between %s and %s' % (q['question_name'], q.get('min'), q.get('max')))
        elif kind == 'multiplechoice':
            choices = q['choices'] if isinstance(q['choices'], list) else q['choices'].split('\n')
            if value not in choices:
                raise SurveyError('%r must be one of %s' % (q['question_name'], choices))
        elif kind in ('text', 'textarea', 'password'):
            if not isinstance(value, str):
                raise SurveyError('%r must be text' % q['question_name'])
            if q.get('required') and not value:
                raise SurveyError('%r is required' % q['question_name'])
        else:
            raise SurveyError('question type %s is not emulated here' % kind)
        values[var] = value
    return values


# ------------------------------------------------------------------------------------------------------------ job


class Job:
    """What AWX keeps of a finished job, plus where ansible-runner left its files."""

    def __init__(self, private_data_dir: str, ident: str) -> None:
        self.private_data_dir = private_data_dir
        self.ident = ident
        self.artifact_dir = os.path.join(private_data_dir, 'artifacts', ident)
        self.events: list = []
        self.artifacts: dict = {}
        self.job_env: dict = {}
        self.runner_env: dict = {}
        self.job_args = None
        self.status = None
        self.rc = None

    def event_handler(self, event: dict) -> bool:
        self.events.append(json.loads(json.dumps(event)))
        data = event.get('event_data') or {}
        if data.get('artifact_data'):
            self.artifacts = data['artifact_data']
        return True  # AWX returns False (it stores events itself); True lets ansible-runner write them too

    def event_files(self) -> list:
        """The events as ansible-runner wrote them (``artifacts/<ident>/job_events``), in order."""
        paths = glob.glob(os.path.join(self.artifact_dir, 'job_events', '*.json'))
        paths = [p for p in paths if not p.endswith('-partial.json')]
        paths.sort(key=lambda p: int(os.path.basename(p).split('-', 1)[0]))
        out = []
        for path in paths:
            with open(path, encoding='utf-8') as fh:
                out.append((path, fh.read()))
        return out

    def stdout(self) -> str:
        with open(os.path.join(self.artifact_dir, 'stdout'), encoding='utf-8') as fh:
            return fh.read()


def _write(path: str, content: str, mode: int = 0o600) -> str:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as fh:
        fh.write(content)
    os.chmod(path, mode)
    return path


def prepare_job(base_dir: str, job_template: dict, credentials: list, answers: dict, collections: str,
                job_type: str | None = None, job_id: int = 42, verbosity: int = 0, omit_env_files: bool = True,
                bin_dir: str | None = None) -> tuple[Job, dict]:
    """Build the job's private data directory as AWX does; ``(job, kwargs for ansible_runner.run)``.

    ``credentials`` is a list of ``(credential type, inputs)``; ``answers`` the survey answers; ``collections`` a
    collections path holding vdi.fleet (it is copied into ``requirements_collections``, as a project sync does);
    ``bin_dir`` the directory of ``ansible-playbook``, first on ``PATH`` (in AWX: the execution environment's).
    """
    job_type = job_type or job_template.get('job_type', 'run')
    if job_type != job_template.get('job_type', 'run') and not job_template.get('ask_job_type_on_launch'):
        raise SurveyError('the job template does not ask for the job type on launch')
    pdd = tempfile.mkdtemp(prefix='awx_%d_' % job_id, dir=base_dir)
    os.chmod(pdd, stat.S_IRWXU)
    for sub in ('inventory', 'env'):
        os.mkdir(os.path.join(pdd, sub))
    job = Job(pdd, str(job_id))

    # project sync: the project's files, the collections of its requirements
    project = os.path.join(pdd, 'project')
    shutil.copytree(os.path.join(ROOT, 'playbooks'), os.path.join(project, 'playbooks'))
    if not os.path.isfile(os.path.join(project, job_template['playbook'])):
        raise SurveyError('the project has no playbook %s' % job_template['playbook'])
    shutil.copytree(os.path.join(collections, *COLLECTION), os.path.join(pdd, 'requirements_collections', *COLLECTION),
                    ignore=shutil.ignore_patterns('__pycache__'))

    # extra vars: the template's own, the survey (defaults, then answers), the meta variables
    template_vars = dict(job_template.get('extra_vars') or {})
    extra_vars = dict(template_vars)
    if job_template.get('survey_enabled'):
        extra_vars.update(survey_answers(job_template['survey_spec'], answers))
    elif answers:
        raise SurveyError('the job template has no survey')
    meta = {'awx_job_id': job_id, 'awx_job_launch_type': 'manual', 'awx_job_template_id': 7,
            'awx_job_template_name': job_template['name'], 'awx_project_revision': '0' * 40,
            'awx_project_scm_branch': 'main', 'awx_user_id': 1, 'awx_user_name': 'operator',
            'awx_inventory_id': 3, 'awx_inventory_name': job_template['inventory'], 'awx_execution_node': 'localhost'}
    meta.update(dict(('tower_' + k[len('awx_'):], v) for k, v in meta.items()))
    extra_vars.update(meta)
    _write(os.path.join(pdd, 'env', 'extravars'), safe_dump(extra_vars, template_vars))

    # command line options
    args = []
    if job_type == 'check':
        args.append('--check')
    args.extend(['-u', 'root'])
    if verbosity:
        args.append('-' + 'v' * min(5, verbosity))

    # environment: AWX's own variables, then the credentials' injectors
    env = {
        'ANSIBLE_FORCE_COLOR': 'True', 'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'True', 'ANSIBLE_PARAMIKO_RECORD_HOST_KEYS': 'False',
        'AWX_PRIVATE_DATA_DIR': pdd, 'JOB_ID': str(job_id), 'INVENTORY_ID': '3', 'PROJECT_REVISION': '0' * 40,
        'ANSIBLE_RETRY_FILES_ENABLED': 'False', 'MAX_EVENT_RES': '700000', 'AWX_HOST': 'https://awx.example.com',
        'ANSIBLE_SSH_CONTROL_PATH_DIR': os.path.join(pdd, 'cp'),
        'ANSIBLE_ROLES_PATH': os.pathsep.join([os.path.join(pdd, 'requirements_roles'), '~/.ansible/roles',
                                              '/usr/share/ansible/roles', '/etc/ansible/roles']),
        'ANSIBLE_COLLECTIONS_PATH': os.pathsep.join([os.path.join(pdd, 'requirements_collections'),
                                                    '~/.ansible/collections', '/usr/share/ansible/collections']),
    }
    if bin_dir:
        env['PATH'] = os.pathsep.join([bin_dir, os.environ.get('PATH', os.defpath)])
    os.mkdir(os.path.join(pdd, 'cp'), 0o700)
    safe_env = {}
    for ctype, inputs in credentials:
        cred_env, cred_safe_env, cred_extra_vars = inject_credential(ctype, inputs)
        env.update(cred_env)
        safe_env.update(cred_safe_env)
        if cred_extra_vars:
            handle, path = tempfile.mkstemp(dir=os.path.join(pdd, 'env'))
            with os.fdopen(handle, 'w') as fh:
                fh.write(safe_dump(cred_extra_vars))
            os.chmod(path, stat.S_IRUSR)
            args.extend(['-e', '@%s' % path])
    _write(os.path.join(pdd, 'env', 'cmdline'), ' '.join(args))

    # inventory: an executable script printing the inventory
    hosts = {'all': {'hosts': ['localhost']},
             '_meta': {'hostvars': {'localhost': {'ansible_connection': 'local',
                                                  'ansible_python_interpreter': '{{ ansible_playbook_python }}',
                                                  'remote_tower_enabled': 'true', 'remote_tower_id': 1}}}}
    inventory = _write(os.path.join(pdd, 'inventory', 'hosts'),
                       '#! %s\n# -*- coding: utf-8 -*-\nprint(%r)\n' % (sys.executable, json.dumps(hosts)), 0o700)

    # ansible-runner settings; AWX suppresses the stdout file (its output is the events' stdout), kept here
    _write(os.path.join(pdd, 'env', 'settings'),
           json.dumps({'job_timeout': 600, 'suppress_ansible_output': True, 'suppress_output_file': False}))

    def status_handler(status_data, runner_config):
        if status_data['status'] == 'starting':
            job_env = dict(runner_config.env)
            for key, value in safe_env.items():
                if key in job_env:
                    job_env[key] = value
            job.job_env = job_env
            job.runner_env = dict(runner_config.env)
            job.job_args = runner_config.command

    kwargs = {
        'ident': job.ident,
        'private_data_dir': pdd,
        'playbook': job_template['playbook'],
        'inventory': inventory,
        'passwords': {r'Enter passphrase for .*:\s*?$': '', r'SSH password:\s*?$': '', r'Vault password:\s*?$': ''},
        'suppress_env_files': omit_env_files,
        'envvars': env,
        'fact_cache_type': '',
        'event_handler': job.event_handler,
        'status_handler': status_handler,
        'cancel_callback': lambda: False,
        'quiet': True,
    }
    return job, kwargs
