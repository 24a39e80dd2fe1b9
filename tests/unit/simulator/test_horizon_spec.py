"""Horizon traffic against the official OpenAPI specs of releases 2406 and 2512.

The collection's own HorizonAdapter runs every operation it uses against the simulator imitating each release;
every exchange is recorded and checked against that release's spec (``tests/simulator/specs/horizon-<release>.json``,
the operations the collection and the simulator use, cut unmodified out of the official files by
``tests/simulator/specs/extract_horizon.py``):

* the operation (method and path) exists in the spec;
* every query parameter the adapter sends is a declared parameter of the operation;
* the request body the adapter sends validates against the operation's request body schema;
* every 200 answer of the simulator validates against the operation's response schema.

Objects are checked strictly: a property the spec does not declare is an error (the spec itself does not forbid
extra properties, but a simulator that invents fields lets the adapter depend on them).
"""

from __future__ import annotations

import copy
import json
import os
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import pytest
from referencing import Registry, Resource

from conftest import SimControl  # pylint: disable=import-error
from core import Simulator  # pylint: disable=import-error

from ansible_collections.vdi.fleet.plugins.module_utils.providers.horizon import HorizonAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy

SPECS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'simulator',
                     'specs')
RELEASES = ('2406', '2512')
LIFETIME = 1800.0

#: The one place where the collection deliberately differs from the spec: AuthLogin.password is typed
#: "array of string" in every official spec (a Java char[] leaking into the model); Omnissa's own samples and
#: every working client send a plain string, and so does the collection. The simulator accepts both.
PASSWORD_AS_STRING = {'AuthLogin': ('password', {'type': 'string'})}


def strict(node):
    """The spec's schemas with additionalProperties=false on every object that declares its properties."""
    if isinstance(node, dict):
        out = dict((k, strict(v)) for k, v in node.items())
        if 'properties' in out and 'additionalProperties' not in out:
            out['additionalProperties'] = False
        return out
    if isinstance(node, list):
        return [strict(x) for x in node]
    return node


class Spec:
    def __init__(self, release):
        with open(os.path.join(SPECS, 'horizon-%s.json' % release), encoding='utf-8') as handle:
            self.doc = json.load(handle)
        doc = strict(copy.deepcopy(self.doc))
        for schema, (prop, replacement) in PASSWORD_AS_STRING.items():
            doc['components']['schemas'][schema]['properties'][prop] = {
                'anyOf': [doc['components']['schemas'][schema]['properties'][prop], replacement]}
        self.uri = 'urn:horizon-%s' % release
        self.registry = Registry().with_resource(self.uri, Resource.opaque(doc))

    def operation(self, method, path):
        for template, ops in self.doc['paths'].items():
            want = template.strip('/').split('/')
            got = path.strip('/').split('/')
            if len(want) == len(got) and all(w == g or (w.startswith('{') and w.endswith('}'))
                                             for w, g in zip(want, got)):
                if method.lower() in ops:
                    return template, ops[method.lower()]
        return None, None

    def errors(self, schema, value):
        """Validation errors of ``value`` against ``schema`` (a fragment of the strict document)."""
        validator = jsonschema.Draft4Validator(schema, registry=self.registry)
        return ['%s: %s' % ('/'.join(str(p) for p in e.absolute_path) or '<root>', e.message)
                for e in validator.iter_errors(value)]

    def ref_schema(self, schema):
        """Resolve the operation's schema against the strict document (local refs point into it)."""
        return _rebase(schema, self.uri)


def _rebase(node, uri):
    if isinstance(node, dict):
        return dict((k, (uri + v if k == '$ref' and isinstance(v, str) and v.startswith('#') else _rebase(v, uri)))
                    for k, v in node.items())
    if isinstance(node, list):
        return [_rebase(x, uri) for x in node]
    return node


class Recorder:
    """Every request the adapter sent and the answer it got."""

    def __init__(self):
        self.exchanges = []

    def hook(self, resp, *args, **kwargs):
        req = resp.request
        body = req.body
        if isinstance(body, bytes):
            body = body.decode('utf-8')
        try:
            answer = resp.json() if resp.content else None
        except ValueError:
            answer = resp.text
        self.exchanges.append({'method': req.method, 'url': req.url, 'body': json.loads(body) if body else None,
                               'status': resp.status_code, 'answer': answer})
        return resp


@pytest.fixture(scope='module', params=RELEASES)
def release_sim(request, tmp_path_factory):
    sim = Simulator(providers=('horizon',), fleet=40, seed=9, time_scale=1.0, tls=False, token_lifetime=LIFETIME,
                    horizon_version=request.param, state_dir=str(tmp_path_factory.mktemp('hzspec')))
    info = sim.start()
    yield request.param, sim, info
    sim.stop()


@pytest.fixture
def ctl(release_sim):
    _release, _sim, info = release_sim
    c = SimControl(info, 'horizon')
    c.reset()
    return c


def check(spec, exchanges, base):
    """Problems of the recorded exchanges against the spec; also returns the operations seen."""
    problems, seen = [], set()
    for ex in exchanges:
        parts = urlsplit(ex['url'])
        assert parts.path.startswith(base)
        path = parts.path[len(base):]
        template, op = spec.operation(ex['method'], path)
        where = '%s %s' % (ex['method'], path)
        if op is None:
            problems.append('%s: no such operation in the spec' % where)
            continue
        seen.add((ex['method'], template))
        declared = set(p['name'] for p in op.get('parameters', []) if p.get('in') == 'query')
        for name, _value in parse_qsl(parts.query, keep_blank_values=True):
            if name not in declared:
                problems.append('%s: query parameter %s is not declared (%s)' % (where, name, sorted(declared)))
        content = (op.get('requestBody') or {}).get('content') or {}
        if ex['body'] is not None:
            schema = (content.get('application/json') or {}).get('schema')
            if schema is None:
                problems.append('%s: sends a body the operation does not take' % where)
            else:
                problems += ['%s request %s' % (where, e) for e in spec.errors(spec.ref_schema(schema), ex['body'])]
        elif content and op['requestBody'].get('required'):
            problems.append('%s: required request body missing' % where)
        if ex['status'] == 200:
            answer = (op['responses'].get('200') or {}).get('content') or {}
            schema = next(iter(answer.values()), {}).get('schema')
            if schema is not None:
                problems += ['%s answer %s' % (where, e) for e in spec.errors(spec.ref_schema(schema), ex['answer'])]
            elif ex['answer'] not in (None, ''):
                problems.append('%s: answers a body the spec does not describe' % where)
        elif str(ex['status']) not in op['responses']:
            problems.append('%s: status %s is not a documented answer' % (where, ex['status']))
    return problems, seen


def adapter_for(ctl, recorder, **over):
    params = ctl.module_args(**over)
    adapter = HorizonAdapter(params, policy=RetryPolicy(retries=2, base=0.001, cap=0.01, sleep=lambda s: None))
    adapter.http.session.hooks['response'].append(recorder.hook)
    return adapter


def test_collection_traffic_and_simulator_answers_follow_the_spec(release_sim, ctl):
    release, _sim, info = release_sim
    spec = Spec(release)
    rec = Recorder()
    adapter = adapter_for(ctl, rec)
    pools = adapter.list_pools()
    desktops = adapter.list_desktops(pool_ids=[p['id'] for p in pools[:2]])
    adapter.list_desktops(desktop_ids=[d['id'] for d in desktops[:3]])
    idle = [d['id'] for d in desktops if not d['sessions'] and d['power_state'] == 'powered_on']
    assert len(idle) >= 3
    assert adapter.set_maintenance(idle[:3], True) == {}
    ctl.advance(1)
    assert adapter.set_maintenance(idle[:3], False) == {}
    sessions = adapter.list_sessions(desktops, pool_ids=[p['id'] for p in pools[:2]])
    assert sessions
    adapter.send_message(sessions, 'Patching at 22:00', message_type='warning')
    adapter.logoff([s for s in sessions if s['state'] == 'disconnected'][:2], force=True)
    adapter.power(idle[:1], 'restart')
    adapter.power(idle[1:2], 'restart', force=True)
    adapter.power(idle[2:3], 'stop', force=True)
    ctl.advance(LIFETIME + 5)  # the access token expires: the adapter refreshes it
    adapter.list_pools()
    adapter.close()  # logout
    problems, seen = check(spec, rec.exchanges, urlsplit(info['horizon']['endpoint']).path + '/rest')
    assert not problems, '\n'.join(problems[:40])
    used = {('POST', '/login'), ('POST', '/refresh'), ('POST', '/logout'),
            ('GET', '/config/v2/environment-properties'), ('GET', '/inventory/v1/desktop-pools'),
            ('GET', '/inventory/v2/machines'), ('GET', '/inventory/v1/sessions'),
            ('POST', '/inventory/v1/machines/action/enter-maintenance'),
            ('POST', '/inventory/v1/machines/action/exit-maintenance'),
            ('POST', '/inventory/v1/machines/action/restart'), ('POST', '/inventory/v1/machines/action/reset'),
            ('POST', '/inventory/v1/machines/action/shutdown'),
            ('POST', '/inventory/v1/sessions/action/send-message'), ('POST', '/inventory/v1/sessions/action/logoff')}
    assert used <= seen, sorted(used - seen)
    restart = [ex['body'] for ex in rec.exchanges if ex['url'].endswith('/machines/action/restart')]
    assert all(isinstance(b, list) for b in restart) if release == '2406' else all(isinstance(b, dict) for b in restart)


def test_other_operations_the_simulator_serves_follow_the_spec(release_sim, ctl):
    release, _sim, info = release_sim
    spec = Spec(release)
    rec = Recorder()
    adapter = adapter_for(ctl, rec)
    desktops = adapter.list_desktops()
    session = adapter.list_sessions(desktops)[0]
    base = info['horizon']['endpoint'] + '/rest'
    http = adapter.http.session
    auth = {'Authorization': 'Bearer %s' % adapter._access}  # pylint: disable=protected-access
    for path in ('/inventory/v1/machines?page=1&size=5', '/inventory/v1/machines/%s' % desktops[0]['id'],
                 '/inventory/v2/desktop-pools', '/inventory/v1/sessions/%s' % session['session_id']):
        assert http.get(base + path, headers=auth, timeout=10).status_code == 200
    connected = [s['session_id'] for s in adapter.list_sessions(desktops) if s['state'] == 'connected'][:1]
    resp = http.post(base + '/inventory/v1/sessions/action/disconnect', json=connected, headers=auth, timeout=10)
    assert resp.status_code == 200
    problems, seen = check(spec, rec.exchanges, urlsplit(base).path)
    assert not problems, '\n'.join(problems[:40])
    assert {('GET', '/inventory/v1/machines'), ('GET', '/inventory/v1/machines/{id}'),
            ('GET', '/inventory/v2/desktop-pools'), ('GET', '/inventory/v1/sessions/{id}'),
            ('POST', '/inventory/v1/sessions/action/disconnect')} <= seen


def test_the_checker_finds_what_the_spec_does_not_allow(release_sim):
    """A checker that passed anything would prove nothing."""
    release, _sim, _info = release_sim
    spec = Spec(release)
    base = '/rest'
    bad = [
        {'method': 'GET', 'url': 'http://h/rest/inventory/v1/desktop-pools?limit=5', 'body': None, 'status': 200,
         'answer': [{'id': 'p', 'name': 'n', 'made_up': 1}]},
        {'method': 'POST', 'url': 'http://h/rest/inventory/v1/machines/action/enter-maintenance', 'body': {'ids': []},
         'status': 200, 'answer': [{'id': 'm', 'status_code': '200'}]},
        {'method': 'GET', 'url': 'http://h/rest/inventory/v9/nothing', 'body': None, 'status': 200, 'answer': []},
        {'method': 'POST', 'url': 'http://h/rest/login', 'body': {'username': 'u', 'password': 7, 'domain': 'd'},
         'status': 200, 'answer': {'access_token': 'a', 'refresh_token': 'r'}},
    ]
    problems, _seen = check(spec, bad, base)
    text = '\n'.join(problems)
    assert 'query parameter limit is not declared' in text
    assert "'made_up' was unexpected" in text
    assert 'enter-maintenance request' in text and "is not of type 'array'" in text
    assert "status_code: '200' is not of type 'integer'" in text
    assert '/inventory/v9/nothing: no such operation' in text
    assert 'POST /login request password' in text
    assert len(problems) == 6, text


def test_spec_extracts_are_the_official_operations():
    """The extracts hold each operation once, with the schemas it references and nothing edited away."""
    for release in RELEASES:
        with open(os.path.join(SPECS, 'horizon-%s.json' % release), encoding='utf-8') as handle:
            doc = json.load(handle)
        assert doc['openapi'].startswith('3.') and release in doc['info']['x-vdi-fleet-extract']
        text = json.dumps(doc)
        names = set(doc['components']['schemas'])
        for ref in set(part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]):
            assert ref in names
        assert doc['components']['schemas']['AuthLogin']['properties']['password']['type'] == 'array'
