"""The AWX credential types are valid and inject exactly the options the modules read."""

from __future__ import annotations

import glob
import os

import pytest
import yaml

import awx_job  # pylint: disable=import-error
from ansible_collections.vdi.fleet.plugins.module_utils.connection import (
    CONNECTION_OPTIONS, PROVIDER_OPTIONS, SECRET_OPTIONS, resolve_connection)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = sorted(glob.glob(os.path.join(ROOT, 'extensions', 'awx', 'credential_type_*.yml')))


def test_one_type_per_provider():
    assert sorted(os.path.basename(f)[len('credential_type_'):-4] for f in FILES) == sorted(PROVIDER_OPTIONS)


@pytest.mark.parametrize('path', FILES, ids=os.path.basename)
def test_credential_type_shape(path):
    with open(path, encoding='utf-8') as fh:
        ctype = yaml.safe_load(fh)
    provider = os.path.basename(path)[len('credential_type_'):-4]
    assert ctype['kind'] == 'cloud' and ctype['name']
    fields = ctype['inputs']['fields']
    ids = [f['id'] for f in fields]
    assert len(ids) == len(set(ids))
    for f in fields:
        assert set(f) <= {'id', 'type', 'label', 'help_text', 'secret', 'multiline', 'format', 'choices'}
        assert f['type'] in ('string', 'boolean') and f['label']
        assert f['id'] in CONNECTION_OPTIONS and f['id'] in PROVIDER_OPTIONS[provider] + ('ca_path',)
        assert bool(f.get('secret')) == (f['id'] in SECRET_OPTIONS), f['id']
    assert set(ctype['inputs']['required']) <= set(ids)
    env = ctype['injectors']['env']
    assert env['VDI_FLEET_PROVIDER'] == provider
    for field in ids:
        assert 'VDI_FLEET_%s' % field.upper() in env, field
    assert not any(k.startswith('ANSIBLE_') for k in env)


@pytest.mark.parametrize('path', FILES, ids=os.path.basename)
def test_injectors_as_awx_renders_them_give_a_valid_connection(path, tmp_path):
    """Rendered in AWX's sandbox with only the required inputs (optional ones are empty), and with all of them."""
    with open(path, encoding='utf-8') as fh:
        ctype = yaml.safe_load(fh)
    provider = ctype['injectors']['env']['VDI_FLEET_PROVIDER']
    fields = dict((f['id'], f) for f in ctype['inputs']['fields'])
    ca = tmp_path / 'ca.pem'
    ca.write_text('-----BEGIN CERTIFICATE-----\n')
    values = {'endpoint': 'https://vdi.example.com', 'username': 'svc-vdi', 'domain': 'EXAMPLE', 'region': 'cn-north-4',
              'project_id': '0123456789abcdef', 'access_key': 'AKEXAMPLE0000', 'password': 'pw-secret-123',
              'secret_key': 'sk-secret-123', 'security_token': 'token-secret-123', 'ca_path': str(ca)}
    required = dict((k, values[k]) for k in ctype['inputs']['required'])
    for inputs in (required, dict((k, values[k]) for k in fields)):
        env, safe_env, extra_vars = awx_job.inject_credential(ctype, inputs)
        assert extra_vars == {}
        params = dict((opt, env.get('VDI_FLEET_' + opt.upper())) for opt in CONNECTION_OPTIONS)
        conn = resolve_connection(params, environ={})
        assert conn['provider'] == provider
        for field, value in inputs.items():
            assert conn[field] == value, field
            shown = safe_env['VDI_FLEET_' + field.upper()]
            assert shown == (awx_job.HIDDEN if fields[field].get('secret') else value), field
        for field in set(fields) - set(inputs):
            assert env['VDI_FLEET_' + field.upper()] == '' and conn[field] is None, field


def test_injection_refuses_what_awx_refuses():
    with open(FILES[0], encoding='utf-8') as fh:
        ctype = yaml.safe_load(fh)
    with pytest.raises(awx_job.InjectionError, match='required inputs missing'):
        awx_job.inject_credential(ctype, {})
    with pytest.raises(awx_job.InjectionError, match='not defined'):
        awx_job.inject_credential(ctype, {'no_such_field': 'x'})
    bad = dict(ctype, injectors={'env': {'ANSIBLE_CONFIG': '/tmp/x'}})
    required = dict((k, 'value') for k in ctype['inputs']['required'])
    with pytest.raises(awx_job.InjectionError, match='ANSIBLE_CONFIG'):
        awx_job.inject_credential(bad, required)
