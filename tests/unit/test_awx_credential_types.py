"""The AWX credential types are valid and inject exactly the options the modules read."""

from __future__ import annotations

import glob
import os

import pytest
import yaml

from ansible_collections.vdi.fleet.plugins.module_utils.connection import CONNECTION_OPTIONS, PROVIDER_OPTIONS, SECRET_OPTIONS

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
