"""The bad-input corpus: every wrong input ends with one clear message, no traceback, and no change.

Each case runs a real module process (``python -m ansible_collections.vdi.fleet.plugins.modules.<name>
args.json``, the way Ansible runs a module on the controller) against the simulator and checks:

* the module failed with one message that names what to fix (a pattern per case);
* no ``Traceback`` anywhere in its output and no ``exception`` in its result (an ``exception`` means the
  module hit an error it does not know);
* nothing was written to the simulator (``writes == 0``) and the fleet is exactly as before, unless the
  input was valid (a long selection of real ids, duplicates), where each desktop is reported exactly once.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The installed collection (make collection), as ansible-playbook would use it.
COLLECTIONS = os.environ.get('VDI_FLEET_TEST_COLLECTIONS') or os.path.join(ROOT, '.build', 'collections')

from core import Simulator  # noqa: E402  pylint: disable=wrong-import-position,import-error


def _sim_control_class():
    """``SimControl`` of tests/conftest.py (``conftest`` here names tests/integration/conftest.py)."""
    spec = importlib.util.spec_from_file_location('vdi_fleet_tests_conftest', os.path.join(ROOT, 'tests', 'conftest.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimControl


SimControl = _sim_control_class()

PROVIDERS = ('horizon', 'huaweicloud', 'alicloud')
SKEW = 3600.0  # seconds the simulated cloud's clock is ahead of the controller's


# --------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def run_module(tmp_path):
    """``run_module(name, args, check=False)`` -> (result dict, combined stdout+stderr)."""
    if not os.path.isdir(os.path.join(COLLECTIONS, 'ansible_collections', 'vdi', 'fleet')):
        pytest.fail('vdi.fleet is not installed in .build/collections: run `make collection` first')
    counter = iter(range(10 ** 6))

    def run(name, args, check=False):
        args = dict(args)
        if check:
            args['_ansible_check_mode'] = True
        path = tmp_path / ('args-%d.json' % next(counter))
        path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
        env = {'PATH': os.environ.get('PATH', ''), 'PYTHONPATH': COLLECTIONS, 'HOME': str(tmp_path),
               'LANG': 'C.UTF-8'}
        proc = subprocess.run([sys.executable, '-m', 'ansible_collections.vdi.fleet.plugins.modules.' + name, str(path)],
                              capture_output=True, text=True, env=env, timeout=300, check=False)
        output = proc.stdout + proc.stderr
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError('module %s printed no JSON result (rc=%s):\n%s' % (name, proc.returncode, output[-3000:]))
        return result, output

    return run


def fleet_snapshot(ctl: SimControl) -> list:
    """What a write could change: maintenance, power, transitions, sessions, messages."""
    state = ctl.state()
    desktops = [(d['id'], d['maintenance'], d['power'], d['transitioning'], sorted(s['id'] for s in d['sessions']))
                for d in state['desktops']]
    return [desktops, len(state['messages'])]


def assert_clean_failure(result: dict, output: str, pattern: str) -> str:
    """One clear message, no traceback."""
    assert 'Traceback' not in output, output[-3000:]
    assert result.get('failed') is True, result
    assert 'exception' not in result, result.get('exception')
    msg = result.get('msg')
    assert isinstance(msg, str) and msg.strip(), result
    assert '\n' not in msg.strip() and len(msg) < 1200, msg
    assert re.search(pattern, msg, re.I), 'message %r does not match %r' % (msg, pattern)
    return msg


def check_refused(ctl, run_module, module, args, pattern, check=False):
    """Run a case that must fail before changing anything; returns the message."""
    before = fleet_snapshot(ctl)
    ctl.clear_stats()
    result, output = run_module(module, args, check=check)
    msg = assert_clean_failure(result, output, pattern)
    stats = ctl.stats()
    assert stats['writes'] == 0, stats['by_op']
    assert fleet_snapshot(ctl) == before
    return msg, stats, result


def without(args: dict, *keys) -> dict:
    return {k: v for k, v in args.items() if k not in keys}


# --------------------------------------------------------------------------------------------- selections


def test_empty_selection(sim, run_module):
    args = sim.module_args()
    delivery = {'alicloud_delivery': 'run_command'} if sim.provider == 'alicloud' else {}
    for module, extra in (('desktop_maintenance', {'desktops': []}),
                          ('desktop_maintenance', {'pool': ''}),
                          ('desktop_maintenance', {'desktops': ['', '  ']}),
                          ('desktop_pool_power', {'desktops': [], 'state': 'stopped'}),
                          ('session_message', dict(delivery, desktops=[' ', ''], msg='hello'))):
        msg, stats, _r = check_refused(sim, run_module, module, dict(args, **extra), r'select')
        assert stats['total'] == 0, (module, stats['by_op'])  # refused before any request


def test_ten_thousand_unknown_entries(sim, run_module):
    """10,000 entries that match nothing: every one reported once as failed, one summary message, no write."""
    entries = ['no-such-desktop-%05d' % i for i in range(10000)]
    msg, stats, result = check_refused(sim, run_module, 'desktop_maintenance', sim.module_args(desktops=entries),
                                       r'^10000 of 10000 desktops failed: no-such-desktop-00000 \(no desktop .*and 9995 more$')
    assert [e['name'] for e in result['desktops']] == entries
    assert result['summary'] == {'total': 10000, 'changed': 0, 'unchanged': 0, 'failed': 10000}
    # Looked up in id batches and one full listing, not once per entry.
    assert stats['total'] < 300, stats['by_op']
    assert stats['by_status'].keys() <= {'200'}, stats['by_status']


def test_ten_thousand_entries_of_real_ids_with_duplicates(sim, run_module):
    """A valid 10,000-long selection (every id many times, and names): each desktop changed and reported once."""
    desktops = sim.state()['desktops']
    pool = {d['id'] for d in desktops if d['pool'] == desktops[0]['pool']}
    chosen = [d for d in desktops if d['id'] in pool]
    entries = ([d['id'] for d in chosen] + [d['name'] for d in chosen]) * (10000 // (2 * len(chosen)) + 1)
    entries = entries[:10000]
    sim.clear_stats()
    result, output = run_module('desktop_maintenance', sim.module_args(desktops=entries))
    assert 'Traceback' not in output
    assert not result.get('failed'), result.get('msg')
    assert [e['id'] for e in result['desktops']] == [d['id'] for d in chosen]
    assert result['summary'] == {'total': len(chosen), 'changed': len(chosen), 'unchanged': 0, 'failed': 0}
    assert {d['id'] for d in sim.state()['desktops'] if d['maintenance']} == pool
    assert sim.stats()['writes'] == 1


def test_duplicate_ids_and_names(sim, run_module):
    d0, d1 = sim.state()['desktops'][:2]
    selection = [d0['id'], d0['id'], ' %s ' % d0['id'], d0['name'], d1['name'], d1['id'], d1['name']]
    result, output = run_module('desktop_info', sim.module_args(desktops=selection, include_raw=False))
    assert 'Traceback' not in output and not result.get('failed'), result.get('msg')
    assert [d['id'] for d in result['desktops']] == [d0['id'], d1['id']]
    sim.clear_stats()
    result, output = run_module('desktop_maintenance', sim.module_args(desktops=selection))
    assert not result.get('failed'), result.get('msg')
    assert [e['id'] for e in result['desktops']] == [d0['id'], d1['id']]
    assert result['summary']['changed'] == 2
    assert sim.stats()['writes'] == 1


@pytest.mark.parametrize('name', ['Büro-Ärger 桌面 №1', 'O\'Brien "the desk"', '"); DROP TABLE desktops; --',
                                  '{"type":"Equals","name":"id","value":"x"}', 'a&b=c?d#e/f%20g'])
def test_unicode_and_quoted_names(sim, run_module, name):
    """Names that match nothing, whatever their characters: reported by name, nothing changed."""
    _msg, _stats, result = check_refused(sim, run_module, 'desktop_maintenance', sim.module_args(desktops=[name]),
                                         r'^1 of 1 desktops failed: .*no desktop with id or name')
    assert result['desktops'][0]['name'] == name
    msg, _stats, _r = check_refused(sim, run_module, 'desktop_maintenance', sim.module_args(pool=name),
                                    r'^Pool .* not found by id or name with these credentials\. Pools visible: ')
    assert name in msg or repr(name)[1:-1] in msg


# --------------------------------------------------------------------------------------------- options


WRONG_OPTIONS = {
    'horizon': [
        ('desktop_info', {'access_key': 'AKIDEXAMPLE'}, r'^access_key is not used by provider horizon'),
        ('desktop_info', {'region': 'cn-north-4', 'secret_key': 'x'}, r'^region, secret_key are not used by provider horizon'),
        ('desktop_info', {'username': 'svc-vdifleet@example.com'}, r'UPN'),
        ('desktop_info', {'domain': None}, r'^Missing connection option\(s\) for provider horizon: domain'),
        ('desktop_maintenance', {'desktops': ['x'], 'state': 'maintenance'}, r'value of state must be one of'),
        ('desktop_pool_power', {'desktops': ['x'], 'state': 'started'}, r'power'),
        ('desktop_pool_power', {'desktops': ['x'], 'state': 'hibernated'}, r'suspend|hibernat'),
        ('session_logoff', {'desktops': ['x'], 'msg': 'bye'}, r'cannot show a message with a logoff'),
        ('session_message', {'desktops': ['x'], 'msg': 'hi', 'alicloud_delivery': 'run_command'}, r'alicloud only'),
        ('session_message', {'desktops': ['x'], 'msg': '   '}, r'msg is empty'),
    ],
    'huaweicloud': [
        ('desktop_info', {'username': 'ops', 'password': 'pw', 'domain': 'acme'}, r'either access_key/secret_key or username'),
        ('desktop_info', {'secret_key': None}, r'^Missing connection option\(s\) for provider huaweicloud: secret_key'),
        ('desktop_maintenance', {'desktops': ['x'], 'enforce': True}, r'^enforce applies to Horizon'),
        ('session_message', {'desktops': ['x'], 'msg': 'x' * 5000}, r'5000 characters long; .* at most'),
        ('desktop_info', {'timeout': 0}, r'timeout must be a positive'),
    ],
    'alicloud': [
        ('desktop_info', {'username': 'admin', 'password': 'pw'}, r'^password, username are not used by provider alicloud'),
        ('desktop_info', {'project_id': '0123'}, r'project_id is not used by provider alicloud'),
        ('desktop_info', {'region': None}, r'^Missing connection option\(s\) for provider alicloud: region'),
        ('session_logoff', {'desktops': ['x']}, r'no API that logs a user off'),
        ('session_message', {'desktops': ['x'], 'msg': 'hi'}, r'alicloud_console_message_id|run_command'),
        ('session_message', {'desktops': ['x'], 'msg': 'hi', 'alicloud_delivery': 'run_command',
                             'alicloud_console_message_id': 'msg-1'}, r'mutually exclusive'),
        ('desktop_info', {'endpoint': 'ftp://127.0.0.1/'}, r'not an http\(s\) URL'),
        ('desktop_info', {'ca_path': '/nonexistent/ca.pem'}, r'ca_path .* does not exist'),
    ],
}


@pytest.mark.parametrize('provider_name,module,extra,pattern',
                         [(p,) + case for p in PROVIDERS for case in WRONG_OPTIONS[p]],
                         ids=['%s-%s-%d' % (p, case[0], n) for p in PROVIDERS for n, case in enumerate(WRONG_OPTIONS[p])])
def test_wrong_provider_option_combinations(sim, run_module, module, extra, pattern):
    args = sim.module_args(**extra)
    args = {k: v for k, v in args.items() if v is not None}
    _msg, stats, _r = check_refused(sim, run_module, module, args, pattern)
    assert stats['total'] == 0, stats['by_op']  # all of these are decided before any request


@pytest.mark.parametrize('provider', [None, 'vmware'])
def test_missing_or_unknown_provider(simulator, run_module, provider):
    ctl = SimControl(simulator[1], 'horizon')
    args = without(ctl.module_args(), 'provider')
    if provider:
        args['provider'] = provider
    _msg, stats, _r = check_refused(ctl, run_module, 'desktop_info', args,
                                    r'provider is required|value of provider must be one of')
    assert stats['total'] == 0


# --------------------------------------------------------------------------------------------- endpoints


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    """A web server that is not a VDI API: an HTML page for everything (status from the server)."""

    protocol_version = 'HTTP/1.1'

    def _page(self):
        length = int(self.headers.get('Content-Length') or 0)
        if length:
            self.rfile.read(length)
        body = (b'<!DOCTYPE html><html><head><title>%d</title></head><body><h1>Welcome to nginx!</h1>'
                b'<p>If you see this page, the web server is working.</p></body></html>' % self.server.status)
        self.send_response(self.server.status)
        self.send_header('Content-Type', 'text/html; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _page

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass


@pytest.fixture(params=[200, 403, 404], ids=['html-200', 'html-403', 'html-404'])
def html_endpoint(request):
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _HtmlHandler)
    server.status = request.param
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1], request.param
    server.shutdown()
    server.server_close()


def test_endpoint_is_an_html_page(sim, run_module, html_endpoint):
    """A web server (or proxy, or portal) instead of the API: say so and point at endpoint."""
    endpoint, _status = html_endpoint
    args = sim.module_args(endpoint=endpoint, pool=sim.state()['pools'][0]['name'])
    msg, _stats, _r = check_refused(sim, run_module, 'desktop_maintenance', args, r'check (that )?endpoint')
    assert '<' not in msg, msg  # no raw markup
    assert not re.search(r'refused the credentials|password', msg, re.I), msg


def test_endpoint_tls_failure(sim, run_module):
    args = without(sim.module_args(pool=sim.state()['pools'][0]['name']), 'ca_path')
    check_refused(sim, run_module, 'desktop_maintenance', args, r'^TLS handshake with .* failed .*Check ca_path')


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_endpoint_connection_refused(sim, run_module):
    endpoint = 'https://127.0.0.1:%d' % _closed_port()
    msg, _s, _r = check_refused(sim, run_module, 'desktop_maintenance',
                                sim.module_args(endpoint=endpoint, pool=sim.state()['pools'][0]['name']),
                                r'^Cannot connect to .*Connection refused.*Check endpoint')
    assert endpoint in msg


# --------------------------------------------------------------------------------------------- credentials


def _secrets(info: dict) -> list:
    """Every credential value of the ready info (none may appear in a message)."""
    found = []
    for block in info.values():
        if isinstance(block, dict):
            found += [v for k, v in block.items() if k in ('password', 'secret_key', 'security_token') and v]
    return found


WRONG_CREDENTIALS = {
    'horizon': [
        ('horizon', {'password': 'Wrong-pass-1'}, r'refused the credentials.*(username|password)'),
        ('horizon', {'domain': 'NOTADOMAIN'}, r'refused the credentials.*domain'),
        ('horizon', {'username': 'nobody'}, r'refused the credentials'),
    ],
    'huaweicloud': [
        ('huaweicloud', {'secret_key': 'WrongSecretKeyWrongSecretKeyWrongSecret0'}, r'refused the credentials.*secret_key'),
        ('huaweicloud', {'access_key': 'HPUAUNKNOWNKEY000000'}, r'refused the credentials.*access_key'),
        ('huaweicloud_password', {'password': 'Wrong-pass-1'}, r'refused|password'),
    ],
    'alicloud': [
        ('alicloud', {'secret_key': 'WrongSecretWrongSecretWrongSecre'}, r'refused the credentials.*secret_key'),
        ('alicloud', {'access_key': 'LTAI5tUnknownAccessKey00'}, r'refused the credentials.*access_key'),
        ('alicloud', {'region': 'cn-nowhere-9'}, r'region'),
    ],
}


@pytest.mark.parametrize('provider_name,block,extra,pattern',
                         [(p,) + case for p in PROVIDERS for case in WRONG_CREDENTIALS[p]],
                         ids=['%s-%d' % (p, n) for p in PROVIDERS for n in range(len(WRONG_CREDENTIALS[p]))])
def test_wrong_credentials(sim, run_module, block, extra, pattern):
    args = dict(sim.info[block], ca_path=sim.info['ca_path'], **extra)
    args['pool'] = sim.state()['pools'][0]['name']
    msg, _stats, _r = check_refused(sim, run_module, 'desktop_maintenance', args, pattern)
    for secret in _secrets(sim.info) + [v for k, v in extra.items() if k in ('password', 'secret_key')]:
        assert secret not in msg


# --------------------------------------------------------------------------------------------- clock skew


@pytest.fixture(scope='module')
def skewed(tmp_path_factory):
    """Huawei and Alibaba whose clocks run an hour ahead: signatures dated by the controller are too old."""
    sim = Simulator(providers=('huaweicloud', 'alicloud'), fleet=12, seed=3, time_scale=60.0, tls=True,
                    state_dir=str(tmp_path_factory.mktemp('skewed')),
                    options={'huawei_clock_skew': SKEW, 'alicloud_clock_skew': SKEW})
    info = sim.start()
    yield info
    sim.stop()


@pytest.mark.parametrize('provider', ['huaweicloud', 'alicloud'])
def test_clock_skew_of_signed_requests(skewed, run_module, provider):
    ctl = SimControl(skewed, provider)
    ctl.reset()
    pool = ctl.state()['pools'][0]['name']
    msg, stats, _r = check_refused(ctl, run_module, 'desktop_maintenance', ctl.module_args(pool=pool), r'clock')
    assert stats['by_status'].keys() <= {'400', '401', '403'}, stats['by_status']
    for secret in _secrets(skewed):
        assert secret not in msg
