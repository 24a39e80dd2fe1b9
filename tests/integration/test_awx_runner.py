"""The AWX job template run as AWX runs it: a private data directory for ansible-runner, against the simulator.

Per credential type: its injectors rendered with a credential's inputs into the job's environment, the survey's
answers and the template's extra vars in ``env/extravars``, the project's playbook, the collection where a project
sync puts it, an inventory script; then ``ansible_runner.run()``. What AWX would show afterwards is checked: the
job's status, its artifacts (``set_stats``), every event and the output free of secrets, and in the simulator the
window itself. See ``tests/awx_job.py`` for what of AWX is emulated.
"""

from __future__ import annotations

import json
import os
import sys
import ansible_runner
import pytest

import awx_job  # pylint: disable=import-error
from conftest import COLLECTIONS  # pylint: disable=import-error

BIN_DIR = os.path.dirname(sys.executable)
FLEET = 24  # three pools of 8 desktops per provider
RESTART_OPS = {'horizon': 'restart_machines', 'huaweicloud': 'batch_run_desktops', 'alicloud': 'RebootDesktops'}


def site_vars(provider):
    """What whoever edits the template sets as its extra vars: a rehearsal (no pause between countdown messages)."""
    extra = {'patch_window_countdown': [1], 'patch_window_minute_seconds': 0, 'patch_window_restart_timeout': 120}
    if provider == 'alicloud':
        extra['patch_window_message_options'] = {'alicloud_delivery': 'run_command'}
    return extra


def job_template(provider):
    template = awx_job.load('job_template_patch_window.yml')
    template['extra_vars'] = dict(template.get('extra_vars') or {}, **site_vars(provider))
    return template


def credential_inputs(sim):
    """A credential of the provider's type pointing at the simulator, CA included; every value must fit a field."""
    ctype = awx_job.credential_type(sim.provider)
    fields = [f['id'] for f in ctype['inputs']['fields']]
    conn = dict((k, v) for k, v in sim.conn.items() if k != 'provider')
    assert set(conn) <= set(fields), 'the credential type cannot hold %s' % sorted(set(conn) - set(fields))
    return ctype, dict(conn, ca_path=sim.info['ca_path'])


def run_job(tmp_path, sim, answers, job_type=None, omit_env_files=True, verbosity=0):
    ctype, inputs = credential_inputs(sim)
    job, kwargs = awx_job.prepare_job(str(tmp_path), job_template(sim.provider), [(ctype, inputs)], answers,
                                      COLLECTIONS, job_type=job_type, omit_env_files=omit_env_files, verbosity=verbosity,
                                      bin_dir=BIN_DIR)
    runner = ansible_runner.run(**kwargs)
    job.status, job.rc = runner.status, runner.rc
    return job, awx_job.secret_inputs(ctype, inputs)


def stats_event_artifacts(job):
    """set_stats as ansible-runner wrote it: ``event_data.artifact_data`` of the ``playbook_on_stats`` event file."""
    found = [json.loads(item[1]) for item in job.event_files() if '"playbook_on_stats"' in item[1]]
    found = [e for e in found if e['event'] == 'playbook_on_stats']
    assert len(found) == 1, 'one playbook_on_stats event expected, got %d' % len(found)
    return found[0]['event_data']['artifact_data']


def assert_no_secret(job, secrets):
    assert secrets and all(len(s) >= 8 for s in secrets)
    # the credential's secrets did reach the job (in the environment ansible-runner gave ansible-playbook) ...
    assert all(s in job.runner_env.values() for s in secrets)
    # ... and nothing AWX keeps or shows of the job holds them
    places = [('event %d (handler)' % e.get('counter', -1), json.dumps(e)) for e in job.events]
    places += [(os.path.basename(path), text) for path, text in job.event_files()]
    places += [('stdout', job.stdout()), ('job_env', json.dumps(job.job_env)),
               ('env/extravars', open(os.path.join(job.private_data_dir, 'env', 'extravars'), encoding='utf-8').read())]
    assert len(places) > 20
    for where, text in places:
        for secret in secrets:
            assert secret not in text, 'a secret appears in %s' % where
            assert json.dumps(secret)[1:-1] not in text, 'a secret appears (JSON-escaped) in %s' % where


def pool_answers(pool_name, **answers):
    """Survey answers as an operator types them: the pools' text with a comment and blank lines."""
    base = {'patch_window_pools_text': '# tonight\n%s\n\n' % pool_name, 'patch_window_wave_size': '50%',
            'patch_window_logoff_policy': 'force', 'patch_window_drain_timeout': 2}
    base.update(answers)
    return base


def test_job_template_patches_a_pool_with_the_credential_type(sim, tmp_path):
    sim.reset(fleet=FLEET)
    state = sim.state()
    pool = state['pools'][0]
    members = [d for d in state['desktops'] if d['pool'] == pool['id']]
    assert len(members) == 8 and any(d['sessions'] for d in members)
    # Horizon with the environment written to env/envvars (AWX_RUNNER_OMIT_ENV_FILES off), the others as AWX's default
    job, secrets = run_job(tmp_path, sim, pool_answers(pool['name']), omit_env_files=sim.provider != 'horizon',
                           verbosity=4)

    assert (job.status, job.rc) == ('successful', 0), job.stdout()[-3000:]
    envvars_file = os.path.join(job.private_data_dir, 'env', 'envvars')
    assert os.path.exists(envvars_file) == (sim.provider == 'horizon')
    assert job.job_env['VDI_FLEET_PROVIDER'] == sim.provider and job.job_env['VDI_FLEET_CA_PATH'] == sim.info['ca_path']

    # the artifacts AWX shows, and the same set_stats in ansible-runner's playbook_on_stats event file
    assert stats_event_artifacts(job) == job.artifacts
    window = job.artifacts['vdi_patch_window']
    summary = window['summary']
    assert summary['check_mode'] in (False, 'False')
    assert int(summary['pools']) == 1 and int(summary['desktops']) == 8 and int(summary['released']) == 8, summary
    assert window['quarantined'] == [] and window['failed'] == []

    # the survey's answers reached the role: the pool from the text, waves of 50 %, drain then forced logoff
    report_path = os.path.join(job.private_data_dir, 'project', 'playbooks', 'patch_window_report.json')
    assert summary['report'] == report_path
    with open(report_path, encoding='utf-8') as fh:
        report = json.load(fh)
    by_id = dict((d['id'], d) for d in report['desktops'])
    assert sorted(by_id) == sorted(d['id'] for d in members)
    assert sorted(set(d['wave'] for d in report['desktops'])) == [1, 2]
    busy = [d for d in members if any(s['state'] == 'connected' for s in d['sessions'])]
    assert busy and all('policy force' in by_id[d['id']]['steps']['drain']['msg'] for d in busy)

    # the simulator saw the window: every desktop released, the powered-on ones restarted, sessions ended
    after = dict((d['id'], d) for d in sim.state()['desktops'])
    assert not any(d['maintenance'] for d in after.values())
    powered = [d for d in members if d['power'] == 'on']
    assert all(by_id[d['id']]['steps']['restart']['outcome'] == 'changed' for d in powered)
    assert not any(after[d['id']]['sessions'] for d in powered)
    stats = sim.stats()
    assert stats['by_op'].get(RESTART_OPS[sim.provider], 0) >= 1, stats['by_op']

    assert_no_secret(job, secrets)


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_job_type_check_is_a_plan_with_zero_writes(sim, tmp_path):
    sim.reset(fleet=FLEET)
    pool = sim.state()['pools'][0]
    sim.clear_stats()
    job, secrets = run_job(tmp_path, sim, pool_answers(pool['name']), job_type='check')
    assert (job.status, job.rc) == ('successful', 0), job.stdout()[-3000:]
    assert '--check' in job.job_args
    summary = job.artifacts['vdi_patch_window']['summary']
    assert summary['check_mode'] in (True, 'True') and int(summary['desktops']) == 8
    assert sim.stats()['writes'] == 0
    assert not any(d['maintenance'] for d in sim.state()['desktops'])
    assert_no_secret(job, secrets)


@pytest.mark.parametrize('provider_name', ['horizon'])
def test_survey_text_without_a_pool_stops_before_any_request(sim, tmp_path):
    sim.clear_stats()
    job = run_job(tmp_path, sim, pool_answers('', patch_window_pools_text='# nothing tonight\n\n  \n'))[0]
    assert (job.status, job.rc) == ('failed', 2)
    assert 'No pool to patch' in job.stdout()
    assert sim.stats()['total'] == 0
    assert job.artifacts == {}
