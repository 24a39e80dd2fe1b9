"""The execution environment definitions: collection metadata and the ansible-builder example."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_collection_metadata_points_at_runtime_requirements():
    with open(os.path.join(ROOT, 'meta', 'execution-environment.yml'), encoding='utf-8') as fh:
        meta = yaml.safe_load(fh)
    assert meta['version'] == 3
    assert meta['dependencies']['python'] == 'requirements.txt'
    with open(os.path.join(ROOT, 'requirements.txt'), encoding='utf-8') as fh:
        reqs = [line.split('>')[0].strip() for line in fh if line.strip() and not line.startswith('#')]
    assert reqs == ['requests']


def test_ansible_builder_creates_the_build_context(tmp_path):
    builder = os.path.join(os.path.dirname(sys.executable), 'ansible-builder')
    context = tmp_path / 'context'
    proc = subprocess.run([builder, 'create', '-f', os.path.join(ROOT, 'docs', 'examples', 'execution-environment.yml'),
                           '--context', str(context)], capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = [n for n in ('Containerfile', 'Dockerfile') if (context / n).exists()]
    assert containerfile, os.listdir(context)
    assert 'requests>=2.25' in (context / '_build' / 'requirements.txt').read_text()
    galaxy = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    assert [c['name'] for c in galaxy['collections']] == ['vdi.fleet']
