"""`make test-matrix`: run the integration smoke tests on the lowest and highest ansible-core this Python can install.

Each version gets its own virtual environment under .build/matrix/, the collection tarball built by `make
collection`, and the maintenance and inventory integration tests (real ansible-playbook / ansible-inventory runs
against the simulator). The inventory security tests run there too, since trust works differently before and
after ansible-core 2.19 (unsafe wrapping, data tagging), with the unit tests of the plugin's naming and trust
helpers.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Lowest supported (meta/runtime.yml requires_ansible) and highest installable on Python 3.11.
VERSIONS = ('2.16', '2.19')
TESTS = ['tests/integration/test_desktop_maintenance.py', 'tests/integration/test_inventory.py',
         'tests/integration/test_inventory_security.py', 'tests/unit/test_inventory_names.py']


def run(cmd, **kw):
    print('+ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def main() -> int:
    tarball = sorted(glob.glob(os.path.join(ROOT, '.build', 'dist', 'vdi-fleet-*.tar.gz')))[-1]
    for version in VERSIONS:
        venv = os.path.join(ROOT, '.build', 'matrix', version)
        py = os.path.join(venv, 'bin', 'python')
        if not os.path.exists(py):
            run([sys.executable, '-m', 'venv', venv])
            run([py, '-m', 'pip', 'install', '--quiet', 'ansible-core==%s.*' % version, 'requests', 'pytest',
                 'pytest-xdist', 'pyyaml', 'trustme'])
        collections = os.path.join(ROOT, '.build', 'matrix', version + '-collections')
        run([os.path.join(venv, 'bin', 'ansible-galaxy'), 'collection', 'install', '--force', '--no-deps', '-p',
             collections, tarball], stdout=subprocess.DEVNULL)
        env = dict(os.environ, VDI_FLEET_TEST_COLLECTIONS=collections)
        run([py, '-m', 'pytest', '-q', '-n', '2', '-p', 'no:cacheprovider'] + TESTS, cwd=ROOT, env=env)
        print('ansible-core %s: OK' % version, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
