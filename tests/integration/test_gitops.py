"""The GitOps example pipeline (docs/examples/gitops-patch-window.yml) run as GitHub Actions runs it.

The workflow's one job runs step by step on a fresh "runner" (its own HOME and workspace, no Ansible settings from
the test's environment): ``if:`` conditions evaluated for the event, the job's ``env`` with the secrets filled in,
every ``run:`` step in ``bash -e -o pipefail``. ``actions/checkout`` is the workspace holding the example's
``fleet/`` files (the pull request edits the desired state for a short rehearsal against the simulator);
``actions/setup-python`` is this interpreter; ``pip`` is a stand-in that checks the interpreter already satisfies
what the step installs; ``ansible-galaxy`` installs the collection built by ``make collection`` in place of the
pinned Galaxy release; ``actions/upload-artifact`` checks that the file it uploads exists.

A pull request gets a plan: the report at the uploaded path, a check-mode summary, no write request to the
simulator. The merge to main runs the window.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT  # pylint: disable=import-error

WORKFLOW = os.path.join(ROOT, 'docs', 'examples', 'gitops-patch-window.yml')
FLEET_DIR = os.path.join(ROOT, 'docs', 'examples', 'fleet')
EXPRESSION = re.compile(r'\$\{\{\s*(.*?)\s*\}\}')
PIP_STANDIN = r'''#!%(python)s
"""pip install stand-in: the requirements must already be satisfied by this interpreter."""
import sys
from importlib.metadata import PackageNotFoundError, version
from packaging.requirements import Requirement

args = sys.argv[1:]
with open(%(log)r, 'a') as fh:
    fh.write(' '.join(args) + '\n')
if not args or args[0] != 'install':
    sys.exit('pip stand-in: only "pip install" is expected, got %%r' %% args)
for spec in args[1:]:
    if spec.startswith('-'):
        sys.exit('pip stand-in: option %%s is not emulated' %% spec)
    req = Requirement(spec)
    try:
        have = version(req.name)
    except PackageNotFoundError:
        sys.exit('pip stand-in: %%s is not installed' %% req.name)
    if have not in req.specifier:
        sys.exit('pip stand-in: %%s %%s does not satisfy %%s' %% (req.name, have, spec))
'''


def built_collection():
    tarballs = sorted(glob.glob(os.path.join(ROOT, '.build', 'dist', 'vdi-fleet-*.tar.gz')))
    if not tarballs:
        pytest.fail('no built collection in .build/dist: run `make collection` first')
    return tarballs[-1]


class Runner:
    """One run of the workflow's job for one event, in its own workspace."""

    def __init__(self, base, event_name, secrets, variables):
        self.event_name = event_name
        self.secrets = secrets
        self.vars = variables
        self.home = base / 'home'
        self.workspace = base / 'workspace'
        self.shims = base / 'shims'
        for d in (self.home, self.workspace, self.shims):
            d.mkdir(parents=True)
        self.pip_log = base / 'pip.log'
        pip = self.shims / 'pip'
        pip.write_text(PIP_STANDIN % {'python': sys.executable, 'log': str(self.pip_log)})
        pip.chmod(0o755)
        self.ran = []
        self.outputs = []
        self.uploaded = []
        self.failed = False

    def value(self, expr):
        """The expressions of the example; anything else fails the test, so the emulation never guesses."""
        m = re.fullmatch(r"github\.event_name\s*==\s*'([a-z_]+)'", expr)
        if m:
            return self.event_name == m.group(1)
        if expr == 'always()':
            return True
        if expr == 'success()':
            return not self.failed
        m = re.fullmatch(r'(secrets|vars)\.([A-Z0-9_]+)', expr)
        if m:
            return (self.secrets if m.group(1) == 'secrets' else self.vars).get(m.group(2), '')
        if expr == 'github.workspace':
            return str(self.workspace)
        raise AssertionError('expression not emulated: ${{ %s }}' % expr)

    def render(self, text):
        return EXPRESSION.sub(lambda m: str(self.value(m.group(1))), str(text))

    def condition(self, step):
        """GitHub's rule: without a status function the condition also needs every earlier step to have passed."""
        expr = str(step.get('if', 'success()')).strip()
        m = EXPRESSION.fullmatch(expr)
        expr = m.group(1) if m else expr
        if not re.search(r'\b(always|success|failure|cancelled)\(\)', expr):
            return not self.failed and bool(self.value(expr))
        return bool(self.value(expr))

    def run(self, job):
        env = {'PATH': os.pathsep.join([str(self.shims), os.path.dirname(sys.executable), '/usr/bin', '/bin']),
               'HOME': str(self.home), 'LANG': os.environ.get('LANG', 'C.UTF-8'), 'CI': 'true',
               'GITHUB_ACTIONS': 'true', 'GITHUB_EVENT_NAME': self.event_name, 'GITHUB_WORKSPACE': str(self.workspace),
               'RUNNER_TEMP': str(self.home)}
        env.update((k, self.render(v)) for k, v in (job.get('env') or {}).items())
        for step in job['steps']:
            name = step.get('name') or step.get('uses')
            if not self.condition(step):
                continue
            self.ran.append(name)
            if 'uses' in step:
                self.action(step)
                continue
            step_env = dict(env, **dict((k, self.render(v)) for k, v in (step.get('env') or {}).items()))
            proc = subprocess.run(['bash', '--noprofile', '--norc', '-e', '-o', 'pipefail', '-c', self.render(step['run'])],
                                  cwd=str(self.workspace), env=step_env, capture_output=True, text=True, timeout=600,
                                  check=False)
            self.outputs.append((name, proc.returncode, proc.stdout + proc.stderr))
            if proc.returncode:
                self.failed = True

    def action(self, step):
        uses = step['uses'].split('@', 1)[0]
        if uses == 'actions/checkout':
            assert list(self.workspace.iterdir()), 'the workspace holds the repository before the job runs'
        elif uses == 'actions/setup-python':
            assert step['with']['python-version'] in ('3.11', '3.12', '3.13')
        elif uses == 'actions/upload-artifact':
            path = self.workspace / self.render(step['with']['path'])
            if step['with'].get('if-no-files-found') == 'error':
                assert path.is_file(), 'upload-artifact: no file at %s' % step['with']['path']
            self.uploaded.append((step['with']['name'], path))
        else:
            raise AssertionError('action not emulated: %s' % step['uses'])


def checkout(runner, pool, tarball):
    """The repository at the pull request: the example's fleet/ files, edited for a rehearsal of one pool."""
    fleet = runner.workspace / 'fleet'
    fleet.mkdir()
    with open(os.path.join(FLEET_DIR, 'patch_window.yml'), encoding='utf-8') as fh:
        desired = yaml.safe_load(fh)
    assert 'patch_window_report_path' not in desired  # the pipeline sets it, next to its upload step
    desired.update(patch_window_pools=[pool], patch_window_wave_size='50%', patch_window_countdown=[1],
                   patch_window_minute_seconds=0, patch_window_drain_timeout=2, patch_window_restart_timeout=120)
    (fleet / 'patch_window.yml').write_text(yaml.safe_dump(desired, sort_keys=False))
    with open(os.path.join(FLEET_DIR, 'requirements.yml'), encoding='utf-8') as fh:
        requirements = yaml.safe_load(fh)
    (entry,) = requirements['collections']
    assert entry['name'] == 'vdi.fleet' and re.fullmatch(r'(==)?\d+\.\d+\.\d+', str(entry['version'])), entry
    # the pinned release, as built from this tree
    (fleet / 'requirements.yml').write_text(yaml.safe_dump({'collections': [{'name': tarball, 'type': 'file'}]}))


def run_pipeline(tmp_path, sim, event_name):
    with open(WORKFLOW, encoding='utf-8') as fh:
        workflow = yaml.safe_load(fh)
    assert set(workflow['on']) == {'pull_request', 'push'} and workflow['on']['push']['branches'] == ['main']
    (job,) = workflow['jobs'].values()
    secrets = {'HORIZON_ENDPOINT': sim.conn['endpoint'], 'HORIZON_USERNAME': sim.conn['username'],
               'HORIZON_PASSWORD': sim.conn['password'], 'HORIZON_DOMAIN': sim.conn['domain']}
    runner = Runner(tmp_path / event_name, event_name, secrets, {'HORIZON_CA_PATH': sim.info['ca_path']})
    checkout(runner, sim.state()['pools'][0]['name'], built_collection())
    runner.run(job)
    outputs = '\n'.join('--- %s (rc %s)\n%s' % o for o in runner.outputs)
    assert not runner.failed, outputs[-4000:]
    assert sim.conn['password'] not in outputs
    (name, report_path), = runner.uploaded
    assert name == 'patch-window-report'
    with open(report_path, encoding='utf-8') as fh:
        return runner, json.load(fh)


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_pull_request_plans_and_merge_applies(sim, tmp_path):
    sim.reset(fleet=24)
    pool = sim.state()['pools'][0]
    members = [d['id'] for d in sim.state()['desktops'] if d['pool'] == pool['id']]

    sim.clear_stats()
    runner, plan = run_pipeline(tmp_path, sim, 'pull_request')
    assert 'Plan (check mode) on pull requests' in runner.ran and 'Run on main' not in runner.ran
    assert 'ansible-core' in runner.pip_log.read_text() and 'requests' in runner.pip_log.read_text()
    assert plan['summary']['check_mode'] in (True, 'True')
    assert sorted(d['id'] for d in plan['desktops']) == sorted(members)
    assert all('would enter maintenance' in d['steps']['maintenance']['msg'] for d in plan['desktops'])
    stats = sim.stats()
    assert stats['total'] > 0 and stats['writes'] == 0, stats['by_op']
    assert not any(d['maintenance'] for d in sim.state()['desktops'])

    sim.clear_stats()
    runner, applied = run_pipeline(tmp_path, sim, 'push')
    assert 'Run on main' in runner.ran and 'Plan (check mode) on pull requests' not in runner.ran
    summary = applied['summary']
    assert summary['check_mode'] in (False, 'False')
    assert int(summary['desktops']) == int(summary['released']) == len(members), summary
    assert sim.stats()['by_op'].get('restart_machines', 0) >= 1
    assert not any(d['maintenance'] for d in sim.state()['desktops'])
