"""The image-rollout and command calls, proven like the existing ones: the vendors' own code signs the same request.

Each adapter runs a real rollout and a real command against the in-process simulator (plain HTTP) while every
request that leaves it is captured byte for byte. Then, per captured request:

* Huawei Cloud: ``huaweicloudsdkcore``'s ``BasicCredentials.sign_request`` signs the same method, path, query, headers
  and body bytes and computes the same Authorization; the JSON body equals what the SDK itself serializes for the
  request model built from the same fields (``RebuildDesktopPoolReq``, ``RebuildDesktopsReq``,
  ``ExecuteScriptOrCommandReq``, ``ExecuteDesktopPoolScriptsReq``), so every field name is the model's;
* Alibaba Cloud: tea-openapi's ``get_authorization`` computes the same ACS3-HMAC-SHA256 Authorization, and the
  query is what the SDK flattens from the request model (``RebuildDesktopsRequest``, ``ModifyDesktopGroupRequest``,
  ``RunCommandRequest``, ``DescribeInvocationsRequest``).

The command text: Alibaba's RunCommand carries it as ``ContentEncoding=Base64``; Huawei's models offer only a JSON
string (``command`` / ``command_content``, no encoding field), which JSON escapes and the gateway hands on as it was
written: the test shows the SDK serializes the same string and that no other field could carry it.
"""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import pytest
from alibabacloud_ecd20200930 import models as AM
from alibabacloud_tea_openapi.utils import Utils as TeaUtils
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.utils import http_utils
from huaweicloudsdkworkspace.v2 import model as HM

from conftest import SimControl  # pylint: disable=import-error
from core import Simulator  # pylint: disable=import-error
from sim_helpers import sim_poller, subset  # pylint: disable=import-error

from ansible_collections.vdi.fleet.plugins.module_utils import patching, service
from ansible_collections.vdi.fleet.plugins.module_utils.providers.alicloud import AlicloudAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.providers.huaweicloud import HuaweiAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy

HOSTILE = ('Write-Output \'It\'\'s "quoted" & piped | 100% ^caret <in> >out `tick` $(Get-Date) ${IFS} {{ x }}\'\n'
           'echo %PATH% !x! ^& && || > nul 2>&1\r\n\t\\\\server\\share Grüße 你好 ✓\nexit 0')


@pytest.fixture(scope='module')
def clouds(tmp_path_factory):
    sim = Simulator(providers=('huaweicloud', 'alicloud'), fleet=24, seed=53, time_scale=1.0, tls=False,
                    state_dir=str(tmp_path_factory.mktemp('signimg')))
    info = sim.start()
    yield sim, info
    sim.stop()


def capture(adapter):
    """Keep (method, url, headers, body bytes) of every request the adapter sends."""
    sent = []
    original = adapter.http.session.request

    def request(method, url, data=None, headers=None, **kwargs):
        sent.append((method, url, dict(headers or {}), data or b''))
        return original(method, url, data=data, headers=headers, **kwargs)

    adapter.http.session.request = request
    return sent


def running(adapter, pool):
    return [d for d in service.select(adapter, pool=pool).desktops if d['power_state'] == 'powered_on']


# =========================================================================================== Huawei Cloud


@pytest.fixture
def huawei(clouds):
    sim, info = clouds
    ctl = SimControl(info, 'huaweicloud')
    ctl.reset()
    adapter = HuaweiAdapter(ctl.module_args(), policy=RetryPolicy(retries=1, base=0.001, cap=0.01))
    adapter.poller_factory = sim_poller(sim)
    sent = capture(adapter)
    pools = ctl.state()['pools']
    patching.rollout_image(adapter, service.select(adapter, pool=pools[0]['name']),
                           '8f2c6b1a-4e5d-4c3b-9a2f-1d0e7c6b5a41', canary=1, logoff_policy='force', notice='Bitte speichern',
                           grace_minutes=2, poller_factory=sim_poller(sim))
    patching.run_commands(adapter, service.select(adapter, pool=pools[1]['name']), command=HOSTILE, canary=2)
    patching.run_commands(adapter, subset(running(adapter, pools[2]['name'])[:3]), command=HOSTILE, canary=2)
    yield ctl.conn, sent
    adapter.close()


def hw_model_of(path):
    if path.endswith('/desktops/rebuild'):
        return 'RebuildDesktopsReq'
    if path.endswith('/rebuild'):
        return 'RebuildDesktopPoolReq'
    if '/desktop-pools/' in path and path.endswith('/script-executions'):
        return 'ExecuteDesktopPoolScriptsReq'
    if path.endswith('/script-executions'):
        return 'ExecuteScriptOrCommandReq'
    return None


def test_huawei_new_calls_signed_as_the_sdk_signs_them(huawei):
    conn, sent = huawei
    paths = set()
    for method, url, headers, body in sent:
        parts = urlsplit(url)
        hdrs = dict((k, v) for k, v in headers.items() if k.lower() not in ('authorization', 'x-project-id'))
        req = SdkRequest(method=method, schema='http', host=parts.netloc, resource_path=parts.path,
                         query_params=parse_qsl(parts.query, keep_blank_values=True), header_params=hdrs,
                         body=body.decode('utf-8') if body else '')
        signed = BasicCredentials(conn['access_key'], conn['secret_key'], conn['project_id']).sign_request(req)
        assert headers['Authorization'] == signed.header_params['Authorization'], url
        paths.add((method, parts.path.split('/', 3)[-1]))
    wanted = {('POST', 'desktops/rebuild'), ('GET', 'images'), ('GET', 'desktops/detail'),
              ('POST', 'script-executions'), ('GET', 'script-execution-records')}
    assert wanted <= paths
    assert any(p.startswith('desktop-pools/') and p.endswith('/rebuild') for _m, p in paths)
    assert any(p.startswith('desktop-pools/') and p.endswith('/script-executions') for _m, p in paths)
    assert any(p.startswith('script-execution-records/') for _m, p in paths)


def test_huawei_bodies_are_the_sdk_models(huawei):
    _conn, sent = huawei
    seen = set()
    for method, url, _headers, body in sent:
        name = hw_model_of(urlsplit(url).path) if method == 'POST' else None
        if name is None:
            continue
        ours = json.loads(body)
        model = getattr(HM, name)(**dict((attr, ours[key]) for attr, key in getattr(HM, name).attribute_map.items()
                                         if key in ours))
        assert set(ours) <= set(getattr(HM, name).attribute_map.values()), (name, ours)
        sdk_json = json.loads(json.dumps(http_utils.sanitize_for_serialization(model)))
        assert ours == sdk_json, name
        seen.add(name)
        text = ours.get('command') or ours.get('command_content')
        if text is not None:
            assert text == HOSTILE  # one JSON string, exactly the text
    assert seen == {'RebuildDesktopsReq', 'RebuildDesktopPoolReq', 'ExecuteScriptOrCommandReq',
                    'ExecuteDesktopPoolScriptsReq'}


def test_huawei_models_carry_the_command_only_as_a_string():
    """No encoding field exists: the text travels as a JSON string, which the SDK serializes unchanged."""
    assert HM.ExecuteScriptOrCommandReq.openapi_types['command'] == 'str'
    assert HM.ExecuteDesktopPoolScriptsReq.openapi_types['command_content'] == 'str'
    for name in ('ExecuteScriptOrCommandReq', 'ExecuteDesktopPoolScriptsReq'):
        assert not [a for a in getattr(HM, name).attribute_map if 'encod' in a or 'base64' in a]
    req = HM.ExecuteScriptOrCommandReq(resource_type='DESKTOP', resource_ids=['d'], command=HOSTILE,
                                       command_type='POWERSHELL')
    wire = json.dumps(http_utils.sanitize_for_serialization(req))
    assert json.loads(wire)['command'] == HOSTILE and '\\n' in wire and '\\"' in wire


# =========================================================================================== Alibaba Cloud


@pytest.fixture
def alibaba(clouds):
    sim, info = clouds
    ctl = SimControl(info, 'alicloud')
    ctl.reset()
    adapter = AlicloudAdapter(ctl.module_args(), policy=RetryPolicy(retries=1, base=0.001, cap=0.01))
    adapter.poller_factory = sim_poller(sim)
    sent = capture(adapter)
    pools = ctl.state()['pools']
    for d in ctl.state()['desktops']:
        if d['pool'] == pools[0]['id'] and d['power'] != 'on':
            ctl.patch(d['id'], power='on', sessions=[])
    patching.rollout_image(adapter, service.select(adapter, pool=pools[0]['name']), 'm-sim0000000000043', canary=1,
                           logoff_policy='force', poller_factory=sim_poller(sim))
    patching.run_commands(adapter, subset(running(adapter, pools[1]['name'])[:3]), command=HOSTILE, canary=1)
    yield ctl.conn, sent
    adapter.close()


ALI_MODELS = {'RebuildDesktops': AM.RebuildDesktopsRequest, 'ModifyDesktopGroup': AM.ModifyDesktopGroupRequest,
              'RunCommand': AM.RunCommandRequest, 'DescribeInvocations': AM.DescribeInvocationsRequest}


def ali_model(action, query):
    """The SDK request model of ``action`` built from our flattened query (lists regrouped)."""
    fields = {}
    for key, value in query:
        name, _dot, index = key.partition('.')
        if index:
            fields.setdefault(name, []).append(value)
        else:
            fields[name] = value
    return ALI_MODELS[action]().from_map(fields)


def test_alibaba_new_calls_signed_as_tea_openapi_signs_them(alibaba):
    conn, sent = alibaba
    actions = set()
    for method, url, headers, _body in sent:
        lowered = dict((k.lower(), v) for k, v in headers.items())
        signed = lowered['authorization'].split('SignedHeaders=')[1].split(',')[0].split(';')
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        req = SimpleNamespace(method=method, pathname='/', query=dict(pairs),
                              headers=dict((n, lowered[n]) for n in signed))
        theirs = TeaUtils.get_authorization(req, 'ACS3-HMAC-SHA256', lowered['x-acs-content-sha256'],
                                            conn['access_key'], conn['secret_key'])
        assert lowered['authorization'] == theirs
        action = lowered['x-acs-action']
        actions.add(action)
        if action in ALI_MODELS:
            model = ali_model(action, pairs)
            assert sorted(pairs) == sorted(TeaUtils.query(model.to_map()).items()), action
    assert set(ALI_MODELS) <= actions


def test_alibaba_command_is_base64_and_output_asked_for(alibaba):
    _conn, sent = alibaba
    runs = [dict(parse_qsl(urlsplit(u).query)) for _m, u, h, _b in sent if h.get('x-acs-action') == 'RunCommand']
    assert len(runs) == 2 and all(r['ContentEncoding'] == 'Base64' for r in runs)
    assert all(base64.b64decode(r['CommandContent']).decode('utf-8') == HOSTILE for r in runs)
    reads = [dict(parse_qsl(urlsplit(u).query)) for _m, u, h, _b in sent
             if h.get('x-acs-action') == 'DescribeInvocations']
    assert reads and all(r['IncludeOutput'] == 'true' and r['IncludeInvokeDesktops'] == 'true' for r in reads)
