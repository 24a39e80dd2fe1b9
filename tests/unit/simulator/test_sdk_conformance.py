"""The simulator and the adapters against the vendors' own SDKs: answers read into the SDK's models, requests
checked against the SDK's request models.

Each operation the adapters call (``plugins/module_utils/providers/huaweicloud.py`` and ``alicloud.py``) is
driven through the official client (``huaweicloudsdkworkspace`` WorkspaceClient, ``alibabacloud_ecd20200930``
Client) against the simulator over plain HTTP. Every answer is then checked against the SDK's response model:

* every field of the raw JSON is a field of the model (nothing the real service would not send);
* every value has the model's type (``openapi_types`` for Huawei, the ``__init__`` annotations for Alibaba);
* the fields the adapters read are present;
* where the SDK documents the values of a field (its docstrings/comments), the value is one of them. The enums
  are read from the installed SDK at test time, so a newer SDK that changes them makes this test fail.

The other way round, the collection's own adapters run every operation they use against the simulator, and each
request they send is checked against the SDK's request model of that operation: every query parameter and body
field is one the model defines, body values have its types, documented limits and enum values hold.

Vendor documents are used only where the SDK is silent; those places say so.
"""

from __future__ import annotations

import inspect
import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest

import huaweicloudsdkworkspace.v2.model as HM
from alibabacloud_ecd20200930 import models as AM
from alibabacloud_ecd20200930.client import Client as EcdClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Config as AliConfig
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkworkspace.v2 import WorkspaceClient

from ansible_collections.vdi.fleet.plugins.module_utils.providers.alicloud import AlicloudAdapter, command_content
from ansible_collections.vdi.fleet.plugins.module_utils.providers.huaweicloud import HuaweiAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.transport import RetryPolicy
from conftest import SimControl
from core import Simulator
from sim_helpers import sim_poller  # pylint: disable=import-error

import alicloud as A  # the simulator modules (tests/simulator is on sys.path)
import huaweicloud as H


@pytest.fixture(scope='module')
def cloud_simulator(tmp_path_factory):
    """Both cloud providers, plain HTTP, a clock that moves only with ``advance``."""
    sim = Simulator(providers=('huaweicloud', 'alicloud'), fleet=24, seed=5, time_scale=1.0, tls=False,
                    state_dir=str(tmp_path_factory.mktemp('sdksim')))
    info = sim.start()
    yield sim, info
    sim.stop()


def _control(cloud_simulator, name):
    sim, info = cloud_simulator
    ctl = SimControl(info, name)
    ctl.reset()
    ctl.sim = sim
    return ctl


# =========================================================================================== model checks


class Problems(list):
    def __init__(self, what='the simulator answer does not match the SDK model'):
        super().__init__()
        self.what = what

    def add(self, path, text):
        self.append('%s: %s' % (path or '<root>', text))

    def check(self):
        assert not self, self.what + ':\n  ' + '\n  '.join(self)


# ------------------------------------------------------------------------------------------- Huawei

HW_PRIMITIVES = {'str': (str,), 'int': (int,), 'float': (int, float), 'bool': (bool,), 'date': (str,),
                 'datetime': (str,), 'object': (object,)}


def hw_model(name):
    return getattr(HM, name)


def hw_conforms(type_name, value, path, problems):
    """``value`` (decoded JSON) against an ``openapi_types`` type string of huaweicloudsdkworkspace."""
    if value is None:
        return  # the SDK leaves an absent or null field None; required fields are checked separately
    if type_name in HW_PRIMITIVES:
        kinds = HW_PRIMITIVES[type_name]
        numeric_bool = type_name in ('int', 'float') and isinstance(value, bool)
        if type_name != 'object' and (not isinstance(value, kinds) or numeric_bool):
            problems.add(path, '%r is not %s' % (value, type_name))
        return
    m = re.fullmatch(r'list\[(.+)\]', type_name)
    if m:
        if not isinstance(value, list):
            problems.add(path, '%r is not a list' % (value,))
            return
        for n, item in enumerate(value):
            hw_conforms(m.group(1), item, '%s[%d]' % (path, n), problems)
        return
    m = re.fullmatch(r'dict\((\w+), (.+)\)', type_name)
    if m:
        if not isinstance(value, dict):
            problems.add(path, '%r is not an object' % (value,))
            return
        for key, item in value.items():
            hw_conforms(m.group(2), item, '%s[%r]' % (path, key), problems)
        return
    cls = hw_model(type_name)
    if not isinstance(value, dict):
        problems.add(path, '%r is not a %s object' % (value, type_name))
        return
    by_json = dict((j, a) for a, j in cls.attribute_map.items())
    for key, item in value.items():
        if key not in by_json:
            problems.add('%s.%s' % (path, key), 'not a field of %s' % type_name)
            continue
        hw_conforms(cls.openapi_types[by_json[key]], item, '%s.%s' % (path, key) if path else key, problems)


def hw_doc(model, attr):
    text = hw_model(model).__init__.__doc__ or ''
    m = re.search(r':param %s: (.*?)\n\s*:type' % re.escape(attr), text, re.S)
    assert m, 'no docstring for %s.%s in the SDK' % (model, attr)
    return ' '.join(m.group(1).split())


def hw_enum(model, attr, dashed=False):
    """The values the SDK documents for ``model.attr``: the ``value：meaning`` items of its docstring
    (``dashed``: the ``- value meaning`` items, the form of the action request models)."""
    pattern = r'-\s*([A-Za-z][A-Za-z0-9_\-]*)\s' if dashed else r'(?:^|[\s，。；-])([A-Za-z0-9][A-Za-z0-9_\-]*)\s*[：:]'
    values = set(re.findall(pattern, hw_doc(model, attr)))
    assert values, 'the SDK documents no values for %s.%s' % (model, attr)
    return values


def hw_values(records, path):
    """Every non-null value at ``path`` (dotted; ``[]`` walks a list) of the records."""
    out = []
    for rec in records:
        nodes = [rec]
        for part in path.split('.'):
            nxt = []
            for node in nodes:
                if isinstance(node, dict) and node.get(part.rstrip('[]')) is not None:
                    value = node[part.rstrip('[]')]
                    nxt.extend(value if part.endswith('[]') else [value])
            nodes = nxt
        out.extend(nodes)
    return out


def require(records, fields, what):
    """The adapters read these fields: each record carries every one of them (present, not null)."""
    assert records, 'no %s to check' % what
    for n, rec in enumerate(records):
        missing = [f for f in fields if rec.get(f) is None]
        assert not missing, '%s[%d] lacks %s, which the adapter reads: %s' % (what, n, missing, json.dumps(rec)[:400])


# ------------------------------------------------------------------------------------------- Alibaba

ALI_PRIMITIVES = {'str': (str,), 'int': (int,), 'float': (int, float), 'bool': (bool,), 'Any': (object,)}


def ali_fields(cls):
    """{JSON key: (attribute, annotation)} of a darabonba model, read from its generated ``from_map``."""
    src = inspect.getsource(cls.from_map)
    params = inspect.signature(cls.__init__).parameters
    out = {}
    for m in re.finditer(r"m\.get\('([^']+)'\)", src):
        key = m.group(1)
        if key in out:
            continue
        attr = re.search(r'self\.(\w+)', src[m.end():])
        assert attr and attr.group(1) in params, 'cannot map %s.%s' % (cls.__name__, key)
        out[key] = (attr.group(1), params[attr.group(1)].annotation)
    assert len(out) == len(params) - 1, '%s: %d keys for %d fields' % (cls.__name__, len(out), len(params) - 1)
    return out


def ali_conforms(annotation, value, path, problems):
    """``value`` (decoded JSON) against a type annotation of an alibabacloud_ecd20200930 model field."""
    if value is None:
        return
    annotation = str(annotation).strip()
    if annotation in ALI_PRIMITIVES:
        kinds = ALI_PRIMITIVES[annotation]
        if not isinstance(value, kinds) or (annotation in ('int', 'float') and isinstance(value, bool)):
            problems.add(path, '%r is not %s' % (value, annotation))
        return
    m = re.fullmatch(r'List\[(.+)\]', annotation)
    if m:
        if not isinstance(value, list):
            problems.add(path, '%r is not a list' % (value,))
            return
        for n, item in enumerate(value):
            ali_conforms(m.group(1), item, '%s[%d]' % (path, n), problems)
        return
    m = re.fullmatch(r'Dict\[str, (.+)\]', annotation)
    if m:
        if not isinstance(value, dict):
            problems.add(path, '%r is not an object' % (value,))
            return
        for key, item in value.items():
            ali_conforms(m.group(1), item, '%s[%r]' % (path, key), problems)
        return
    m = re.fullmatch(r'main_models\.(\w+)', annotation)
    assert m, 'unknown annotation %r at %s' % (annotation, path)
    ali_model_conforms(getattr(AM, m.group(1)), value, path, problems)


def ali_model_conforms(cls, value, path, problems):
    if not isinstance(value, dict):
        problems.add(path, '%r is not a %s object' % (value, cls.__name__))
        return
    fields = ali_fields(cls)
    for key, item in value.items():
        where = '%s.%s' % (path, key) if path else key
        if key not in fields:
            problems.add(where, 'not a field of %s' % cls.__name__)
            continue
        ali_conforms(fields[key][1], item, where, problems)


def ali_comment(cls, attr):
    """The SDK's comment lines above ``self.<attr> = ...`` in the model's ``__init__``."""
    lines = inspect.getsource(cls.__init__).splitlines()
    for n, line in enumerate(lines):
        if re.match(r'\s*self\.%s = ' % re.escape(attr), line):
            comment = []
            for prev in reversed(lines[:n]):
                if not prev.strip().startswith('#'):
                    break
                comment.insert(0, prev.strip()[1:].strip())
            return comment
    raise AssertionError('no field %s in %s' % (attr, cls.__name__))


def ali_enum(cls, attr):
    """The ``- Value: meaning`` items of the SDK comment of ``cls.attr`` (``Empty`` stands for an empty string)."""
    values = set()
    for line in ali_comment(cls, attr):
        m = re.match(r'-\s*([A-Za-z][\w.]*)\s*:', line)
        if m:
            values.add('' if m.group(1) == 'Empty' else m.group(1))
    assert values, 'the SDK documents no values for %s.%s' % (cls.__name__, attr)
    return values


# =========================================================================================== Huawei


@pytest.fixture
def hw_ctl(cloud_simulator):
    ctl = _control(cloud_simulator, 'huaweicloud')
    yield ctl
    ctl.faults([])


@pytest.fixture
def hw(hw_ctl):
    conn = hw_ctl.conn
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    client = WorkspaceClient.new_builder().with_http_config(config) \
        .with_credentials(BasicCredentials(conn['access_key'], conn['secret_key'], conn['project_id'])) \
        .with_endpoints([conn['endpoint']]).build()
    return client


def hw_call(client, method, request, response_model):
    """Call through the SDK; return the raw JSON after checking it against ``response_model``."""
    resp = getattr(client, method)(request)
    assert type(resp).__name__ == response_model
    raw = json.loads(resp.raw_content) if resp.raw_content else None
    problems = Problems()
    if raw is not None:
        hw_conforms(response_model, raw, '', problems)
    problems.check()
    return raw


def hw_error(client, method, request):
    with pytest.raises(ClientRequestException) as exc:
        getattr(client, method)(request)
    err = exc.value
    assert err.error_code and err.error_msg and err.request_id
    return err


def hw_desktops(hw, **query):
    return hw_call(hw, 'list_desktops', HM.ListDesktopsRequest(**query), 'ListDesktopsResponse')['desktops']


#: Fields of a ListDesktops record the adapter reads (list_desktops, list_sessions).
HW_DESKTOP_FIELDS = ('desktop_id', 'computer_name', 'pool_id', 'in_maintenance_mode', 'status', 'connect_status',
                     'user_name', 'attach_user_infos', 'ip_address')


def hw_check_desktop_values(records, status_path='status', connect='connect_status'):
    # SimpleDesktopInfo and DesktopDetailInfo leave status undocumented; the ListDesktopsDetail filter lists them.
    statuses = set(hw_values(records, status_path))
    assert statuses <= hw_enum('ListDesktopsDetailRequest', 'status'), statuses
    tasks = set(hw_values(records, 'task_status'))
    assert tasks <= hw_enum('DesktopDetailInfo', 'task_status'), tasks
    assert set(hw_values(records, connect)) <= hw_enum('ConnectDesktopsInfo', 'connect_status')
    assert set(hw_values(records, 'desktop_type')) <= hw_enum('DesktopDetailInfo', 'desktop_type')
    assert set(hw_values(records, 'attach_user_infos[].type')) <= hw_enum('AttachInstancesUserInfo', 'type')
    groups = hw_enum('AttachInstancesUserInfo', 'user_group')
    assert set(hw_values(records, 'attach_user_infos[].user_group')) <= groups
    assert set(hw_values(records, 'domain_status')) <= {1, 2, 3}  # "1 正常。 2 脱域。 3 未上报。"
    return statuses, tasks


def test_huawei_list_desktop_pools(hw_ctl, hw):
    raw = hw_call(hw, 'list_desktop_pools', HM.ListDesktopPoolsRequest(offset=0, limit=1000),
                  'ListDesktopPoolsResponse')
    pools = raw['desktop_pools']
    require(pools, ('id', 'name'), 'desktop_pools')
    assert raw['total_count'] == len(pools) == len(hw_ctl.state()['pools'])
    assert set(hw_values(pools, 'type')) <= hw_enum('SimpleDesktopPoolInfo', 'type')
    assert set(hw_values(pools, 'status')) <= hw_enum('SimpleDesktopPoolInfo', 'status')
    assert set(hw_values(pools, 'charging_mode')) <= hw_enum('SimpleDesktopPoolInfo', 'charging_mode')
    assert set(hw_values(pools, 'product.type')) <= hw_enum('ProductInfo', 'type')
    assert set(hw_values(pools, 'root_volume.type')) <= hw_enum('VolumeInfo', 'type')


def test_huawei_list_desktops_by_page_pool_and_id(hw_ctl, hw):
    st = hw_ctl.state()
    page = hw_call(hw, 'list_desktops', HM.ListDesktopsRequest(offset=0, limit=10), 'ListDesktopsResponse')
    assert page['total_count'] == len(st['desktops']) and len(page['desktops']) == 10
    require(page['desktops'], HW_DESKTOP_FIELDS, 'desktops')
    pools = [p['id'] for p in st['pools'][:2]]
    by_pool = hw_desktops(hw, pool_id=','.join(pools), limit=1000, offset=0)
    assert by_pool and set(d['pool_id'] for d in by_pool) == set(pools)
    ids = [d['id'] for d in st['desktops'][:5]]
    by_id = hw_desktops(hw, desktop_id=ids, limit=1000, offset=0)  # the SDK repeats desktop_id=...
    assert sorted(d['desktop_id'] for d in by_id) == sorted(ids)
    require(by_id, HW_DESKTOP_FIELDS, 'desktops')
    assert all(u.get('user_name') for d in by_id for u in d['attach_user_infos'])
    hw_check_desktop_values(page['desktops'] + by_pool + by_id)


def test_huawei_task_status_of_every_power_action_is_documented(hw_ctl, hw):
    st = hw_ctl.state()['desktops']
    on = [d['id'] for d in st if d['power'] == 'on' and not d['transitioning']]
    off = [d['id'] for d in st if d['power'] == 'off'] or [on.pop()]
    if off[0] in on:
        on.remove(off[0])
    hw_ctl.patch(off[0], power='off', sessions=[])
    plan = [('os-stop', 'SOFT', on[0]), ('os-stop', 'HARD', on[1]), ('reboot', 'SOFT', on[2]),
            ('reboot', 'HARD', on[3]), ('os-hibernate', 'SOFT', on[4]), ('os-start', 'SOFT', off[0])]
    for op, kind, did in plan:
        raw = hw_call(hw, 'batch_run_desktops', HM.BatchRunDesktopsRequest(
            body=HM.BatchActionDesktopsReq(desktop_ids=[did], op_type=op, type=kind)), 'BatchRunDesktopsResponse')
        assert raw['failed_operation_list'] == [], raw
    hw_ctl.advance(1)
    ids = [did for _op, _kind, did in plan]
    simple = hw_desktops(hw, desktop_id=ids)
    detail = hw_call(hw, 'list_desktops_detail', HM.ListDesktopsDetailRequest(desktop_id=ids),
                     'ListDesktopsDetailResponse')['desktops']
    shown = [hw_call(hw, 'show_desktop_detail', HM.ShowDesktopDetailRequest(desktop_id=i),
                     'ShowDesktopDetailResponse')['desktop'] for i in ids]
    _statuses, tasks = hw_check_desktop_values(simple)
    hw_check_desktop_values(detail + shown, connect='login_status')
    assert len(tasks) >= 4 and all(d['task_status'] for d in simple + detail + shown)
    by_id = dict((d['desktop_id'], d['task_status']) for d in simple)
    assert by_id[on[2]] == 'rebooting' and by_id[on[3]] == 'rebooting_hard'
    assert by_id[off[0]] == 'powering-on' and by_id[on[0]] == 'powering-off'
    hw_ctl.advance(200)
    settled = hw_desktops(hw, desktop_id=ids)
    assert not any(d.get('task_status') for d in settled)
    statuses, _tasks = hw_check_desktop_values(settled)
    assert {'ACTIVE', 'SHUTOFF', 'HIBERNATED'} <= statuses


def test_huawei_batch_run_desktops_refusals(hw_ctl, hw):
    st = hw_ctl.state()['desktops']
    on = [d['id'] for d in st if d['power'] == 'on'][:2]
    hw_ctl.faults([{'kind': 'perid', 'ids': [on[1]], 'ops': ['batch_run_desktops']}])
    raw = hw_call(hw, 'batch_run_desktops', HM.BatchRunDesktopsRequest(
        body=HM.BatchActionDesktopsReq(desktop_ids=on, op_type='os-start')), 'BatchRunDesktopsResponse')
    require(raw['failed_operation_list'], ('desktop_id', 'error_code', 'error_msg'), 'failed_operation_list')
    assert sorted(x['desktop_id'] for x in raw['failed_operation_list']) == sorted(on)


def test_huawei_maintenance_mode_and_logoff_answer_empty(hw_ctl, hw):
    ids = [d['id'] for d in hw_ctl.state()['desktops'][:3]]
    raw = hw_call(hw, 'set_maintenance_mode', HM.SetMaintenanceModeRequest(
        body=HM.BatchSetMaintenanceModeReq(desktop_ids=ids, in_maintenance_mode=True)), 'SetMaintenanceModeResponse')
    assert raw in (None, {})
    assert all(d['in_maintenance_mode'] for d in hw_desktops(hw, desktop_id=ids))
    raw = hw_call(hw, 'batch_logoff_desktops', HM.BatchLogoffDesktopsRequest(
        body=HM.LogoffDesktopsReq(desktop_ids=ids, message='Maintenance in 5 minutes')), 'BatchLogoffDesktopsResponse')
    assert raw in (None, {})


def hw_job(hw, job_id):
    raw = hw_call(hw, 'show_job', HM.ShowJobRequest(job_id=job_id), 'ShowJobResponse')
    require([raw], ('id', 'status', 'job_type', 'sub_jobs_total'), 'job')
    job_types = hw_enum('ListItaSubJobsRequest', 'job_type')
    sub_statuses = hw_enum('ListItaSubJobsRequest', 'status')
    assert raw['job_type'] in job_types
    # ShowJob's own status is undocumented in the SDK: the sub-job values, plus FAIL (Huawei's Terraform waiter).
    assert raw['status'] in sub_statuses | {'FAIL'}
    subs = raw.get('sub_jobs') or []
    assert set(hw_values(subs, 'status')) <= sub_statuses and set(hw_values(subs, 'job_type')) <= job_types
    require(subs, ('status', 'entities'), 'sub_jobs')
    assert all(s['entities'].get('desktop_id') for s in subs)
    return raw


def test_huawei_pool_action_job_and_sub_jobs(hw_ctl, hw):
    pool = hw_ctl.state()['pools'][0]
    hw_ctl.faults([{'kind': 'perid', 'rate': 0.5, 'ops': ['execute_desktop_pool_action']}])
    raw = hw_call(hw, 'execute_desktop_pool_action', HM.ExecuteDesktopPoolActionRequest(
        pool_id=pool['id'], body=HM.DesktopPoolActionReq(op_type='reboot', type='HARD')),
        'ExecuteDesktopPoolActionResponse')
    job_id = raw['job_id']
    assert hw_job(hw, job_id)['status'] == 'WAITING'
    hw_ctl.advance(5)
    running = hw_job(hw, job_id)
    assert running['status'] == 'RUNNING'
    members = [d for d in hw_desktops(hw, pool_id=pool['id']) if d.get('task_status')]
    assert members and set(d['task_status'] for d in members) <= {'rebooting_hard'}
    hw_ctl.advance(200)
    done = hw_job(hw, job_id)
    assert done['status'] in ('SUCCESS', 'FAIL') and done['sub_jobs_total'] == pool['desktops']
    failed = [s for s in done['sub_jobs'] if s['status'] == 'FAILED']
    assert failed and all(s['error_code'] and s['fail_reason'] for s in failed)
    subs = hw_call(hw, 'list_ita_sub_jobs', HM.ListItaSubJobsRequest(job_id=job_id, offset=0, limit=1000),
                   'ListItaSubJobsResponse')
    assert subs['total_count'] == len(subs['jobs']) == pool['desktops']
    require(subs['jobs'], ('status', 'entities'), 'jobs')
    assert set(hw_values(subs['jobs'], 'status')) <= hw_enum('ListItaSubJobsRequest', 'status')


def test_huawei_notification_jobs(hw_ctl, hw):
    st = hw_ctl.state()
    ids = [d['id'] for d in st['desktops'] if d['power'] == 'on'][:3]
    one = hw_call(hw, 'send_notifications', HM.SendNotificationsRequest(
        body=HM.SendNotificationsReq(desktop_ids=ids, notifications='Patch window at 22:00')),
        'SendNotificationsResponse')
    pool = hw_call(hw, 'send_desktop_pool_notifications', HM.SendDesktopPoolNotificationsRequest(
        pool_id=st['pools'][1]['id'], body=HM.SendDesktopPoolNotificationsReq(notifications='Patch window')),
        'SendDesktopPoolNotificationsResponse')
    hw_ctl.advance(30)
    for job_id in (one['job_id'], pool['job_id']):
        assert hw_job(hw, job_id)['status'] in ('SUCCESS', 'FAIL')


def test_huawei_project_discovery_through_iam(hw_ctl, monkeypatch):
    """Without a project id the SDK (like the adapter) asks IAM for the project of the region: GET /v3/projects."""
    conn = hw_ctl.conn
    monkeypatch.setattr(BasicCredentials, '_CACHE', {})
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    credentials = BasicCredentials(conn['access_key'], conn['secret_key']).with_iam_endpoint(conn['endpoint'])
    hw_ctl.clear_stats()
    client = WorkspaceClient.new_builder().with_http_config(config).with_credentials(credentials) \
        .with_region(Region(conn['region'], conn['endpoint'])).build()  # asks IAM here
    assert credentials.project_id == conn['project_id']
    raw = hw_call(client, 'list_desktop_pools', HM.ListDesktopPoolsRequest(), 'ListDesktopPoolsResponse')
    assert raw['desktop_pools']
    assert hw_ctl.stats()['by_op'] == {'keystone_list_projects': 1, 'list_desktop_pools': 1}


def test_huawei_errors_the_adapter_classifies(hw_ctl, hw):
    err = hw_error(hw, 'set_maintenance_mode', HM.SetMaintenanceModeRequest(body=HM.BatchSetMaintenanceModeReq(
        desktop_ids=['00000000-0000-4000-8000-000000000000'], in_maintenance_mode=True)))
    assert (err.status_code, err.error_code) == H.DESKTOP_NOT_FOUND
    err = hw_error(hw, 'show_desktop_detail', HM.ShowDesktopDetailRequest(desktop_id='00000000-0000-4000-8000-0'))
    assert (err.status_code, err.error_code) == H.RESOURCE_NOT_FOUND
    err = hw_error(hw, 'execute_desktop_pool_action', HM.ExecuteDesktopPoolActionRequest(
        pool_id='no-such-pool', body=HM.DesktopPoolActionReq(op_type='reboot')))
    assert (err.status_code, err.error_code) == H.POOL_NOT_FOUND
    err = hw_error(hw, 'list_desktops', HM.ListDesktopsRequest(limit=1001))
    assert (err.status_code, err.error_code) == H.INVALID_PARAMETER
    hw_ctl.faults([{'kind': '5xx', 'ops': ['list_desktops'], 'count': 1}])
    with pytest.raises(Exception) as exc:  # the SDK raises ServerResponseException for 5xx
        hw.list_desktops(HM.ListDesktopsRequest())
    assert (exc.value.status_code, exc.value.error_code) == H.SERVER_ERROR[:2]


# =========================================================================================== Alibaba


@pytest.fixture
def ali_ctl(cloud_simulator):
    ctl = _control(cloud_simulator, 'alicloud')
    yield ctl
    ctl.faults([])


class AliSdk:
    """The ecd client, keeping the raw body of every answer (the model ignores fields it does not know)."""

    def __init__(self, conn):
        host = conn['endpoint'].split('://', 1)[1]
        self.region = conn['region']
        self.client = EcdClient(AliConfig(access_key_id=conn['access_key'], access_key_secret=conn['secret_key'],
                                          region_id=self.region, endpoint=host, protocol='http'))
        self.raw = []
        call_api = self.client.call_api

        def spy(*args, **kwargs):
            answer = call_api(*args, **kwargs)
            self.raw.append(answer['body'])
            return answer

        self.client.call_api = spy

    def call(self, action, **params):
        """``action`` (snake case) with a ``<Action>Request``; returns the raw body checked against the model."""
        name = ''.join(p.title() for p in action.split('_'))
        request = getattr(AM, name + 'Request')(**params)
        resp = getattr(self.client, action)(request)
        body = self.raw[-1]
        assert type(resp.body).__name__ == name + 'ResponseBody'
        problems = Problems()
        ali_model_conforms(type(resp.body), body, '', problems)
        problems.check()
        assert body.get('RequestId')
        return body

    def error(self, action, **params):
        with pytest.raises(ClientException) as exc:
            self.call(action, **params)
        assert exc.value.code and exc.value.data.get('RequestId')
        return exc.value


@pytest.fixture
def ali(ali_ctl):
    return AliSdk(ali_ctl.conn)


def ali_paged(ali, action, key, **params):
    rows, token, seen = [], None, 0
    while True:
        body = ali.call(action, region_id=ali.region, next_token=token, **params)
        rows += body.get(key) or []
        token = body.get('NextToken')
        seen += 1
        if not token or seen > 50:
            return rows


#: DesktopStatus: the SDK model lists no values; these are the documented DescribeDesktops filter values,
#: DescribeDesktopInfo's Failed, and Hibernated (WakeupDesktops acts on it).
ALI_DESKTOP_STATUSES = {'Pending', 'Starting', 'Running', 'Stopping', 'Stopped', 'Rebuilding', 'Expired', 'Deleted',
                        'Failed', 'Hibernated'}
#: Fields of a DescribeDesktops record the adapter reads.
ALI_DESKTOP_FIELDS = ('DesktopId', 'DesktopName', 'DesktopStatus', 'ConnectionStatus', 'ManagementFlags',
                      'ManagementFlag', 'Sessions', 'EndUserIds', 'NetworkInterfaceIp')


def ali_check_desktops(desktops):
    require(desktops, ALI_DESKTOP_FIELDS, 'Desktops')
    statuses = set(d['DesktopStatus'] for d in desktops)
    assert statuses <= ALI_DESKTOP_STATUSES, statuses
    conn = AM.DescribeDesktopsResponseBodyDesktops
    assert set(d['ConnectionStatus'] for d in desktops) <= ali_enum(conn, 'connection_status')
    return statuses


def test_alicloud_describe_desktop_groups(ali_ctl, ali):
    groups = ali_paged(ali, 'describe_desktop_groups', 'DesktopGroups', max_results=2)
    require(groups, ('DesktopGroupId', 'DesktopGroupName'), 'DesktopGroups')
    assert sorted(g['DesktopGroupId'] for g in groups) == sorted(p['id'] for p in ali_ctl.state()['pools'])


def test_alicloud_describe_desktops_every_way_the_adapter_asks(ali_ctl, ali):
    st = ali_ctl.state()
    everything = ali_paged(ali, 'describe_desktops', 'Desktops', filter_desktop_group=False, max_results=100)
    assert len(everything) == len(st['desktops'])
    ids = [d['id'] for d in st['desktops'][:7]]
    by_id = ali_paged(ali, 'describe_desktops', 'Desktops', desktop_id=ids, filter_desktop_group=False,
                      max_results=100)
    assert sorted(d['DesktopId'] for d in by_id) == sorted(ids)
    pool = st['pools'][0]['id']
    by_pool = ali_paged(ali, 'describe_desktops', 'Desktops', desktop_group_id=pool, only_desktop_group=True,
                        filter_desktop_group=False, max_results=3)
    assert by_pool and all(d['DesktopGroupId'] == pool for d in by_pool)
    ali_check_desktops(everything + by_id + by_pool)


def test_alicloud_desktop_status_of_every_power_action_is_documented(ali_ctl, ali):
    st = ali_ctl.state()['desktops']
    on = [d['id'] for d in st if d['power'] == 'on']
    off, hib = on[-1], on[-2]
    ali_ctl.patch(off, power='off', sessions=[])
    ali_ctl.patch(hib, power='hibernated', sessions=[])
    plan = [('stop_desktops', on[0]), ('reboot_desktops', on[1]), ('hibernate_desktops', on[2]),
            ('start_desktops', off), ('wakeup_desktops', hib)]
    for action, did in plan:
        body = ali.call(action, region_id=ali.region, desktop_id=[did])
        assert set(body) == {'RequestId'}
    ids = [did for _a, did in plan]
    seen = set()
    for _step in range(8):
        desktops = ali_paged(ali, 'describe_desktops', 'Desktops', desktop_id=ids, filter_desktop_group=False)
        seen |= ali_check_desktops(desktops)
        ali_ctl.advance(10)
    assert {'Stopping', 'Starting'} <= seen and {'Stopped', 'Running', 'Hibernated'} <= seen


def test_alicloud_set_desktop_maintenance(ali_ctl, ali):
    ids = [d['id'] for d in ali_ctl.state()['desktops'][:3]]
    body = ali.call('set_desktop_maintenance', region_id=ali.region, mode='ENTER', desktop_ids=ids)
    assert set(body) == {'RequestId'}
    flagged = ali_paged(ali, 'describe_desktops', 'Desktops', desktop_id=ids, filter_desktop_group=False)
    assert all(d['ManagementFlags'] for d in flagged)


def test_alicloud_sessions_by_desktop_and_by_pool(ali_ctl, ali):
    st = ali_ctl.state()
    ids = [d['id'] for d in st['desktops'] if d['sessions']][:5]
    body = ali.call('describe_desktop_sessions', region_id=ali.region, desktop_id=ids, page_number=1, page_size=100)
    require(body['Sessions'], ('DesktopId', 'EndUserId', 'SessionStatus', 'SessionStartTime', 'DesktopName'),
            'Sessions')
    assert body['TotalCount'] == len(body['Sessions'])
    assert set(s['SessionStatus'] for s in body['Sessions']) <= {'Connected', 'Disconnected'}
    pools = [p['id'] for p in st['pools'][:2]]
    total = sum(len(d['sessions']) for d in st['desktops'] if d['pool'] in pools)
    first = ali.call('describe_desktop_group_sessions', region_id=ali.region, desktop_group_ids=pools, max_results=3)
    assert 'Count' not in first and first['TotalCount'] == total
    rows = ali_paged(ali, 'describe_desktop_group_sessions', 'Sessions', desktop_group_ids=pools, max_results=3)
    assert len(rows) == total
    require(rows, ('DesktopId', 'EndUserId', 'SessionStatus', 'LastSessionStartTime'), 'Sessions')
    # "Time format: yyyy-MM-dd HH:mm:ss" (model comment)
    assert all(re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', s['LastSessionStartTime']) for s in rows)


def test_alicloud_send_console_message(ali_ctl, ali):
    body = ali.client.send_console_message(AM.SendConsoleMessageRequest(message_id='msg-sim-maintenance'))
    problems = Problems()
    ali_model_conforms(AM.SendConsoleMessageResponseBody, ali.raw[-1], '', problems)
    problems.check()
    assert body.body.success is True


def test_alicloud_operations_the_simulator_also_serves(ali_ctl, ali):
    """Not called by the collection, but served: their answers follow the model too."""
    body = ali.call('describe_console_messages', page_size=200)
    require(body['MessageList'], ('MessageId', 'Status', 'MessageType'), 'MessageList')
    assert int(body['TotalCount']) == len(body['MessageList'])
    assert all(m['TitleConfigs'][0]['TitleText'] and m['ContentConfigs'][0]['ContentText'] for m in body['MessageList'])
    st = ali_ctl.state()['desktops']
    connected = [(d['id'], s['user']) for d in st for s in d['sessions'] if s['state'] == 'connected'][:2]
    body = ali.call('disconnect_desktop_sessions', region_id=ali.region, sessions=[
        AM.DisconnectDesktopSessionsRequestSessions(desktop_id=did, end_user_id=user) for did, user in connected] + [
        AM.DisconnectDesktopSessionsRequestSessions(desktop_id=connected[0][0], end_user_id='nobody')])
    assert body['InvalidSessions'] == [{'DesktopId': connected[0][0], 'EndUserId': 'nobody'}]


def ali_invocation(ali, invoke_id, **extra):
    body = ali.call('describe_invocations', region_id=ali.region, invoke_id=invoke_id, **extra)
    assert [i['InvokeId'] for i in body['Invocations']] == [invoke_id]
    inv = body['Invocations'][0]
    overall = ali_enum(AM.DescribeInvocationsResponseBodyInvocations, 'invocation_status')
    assert inv['InvocationStatus'] in overall
    return inv


def ali_desktop_statuses():
    """Per-desktop InvocationStatus: the overall values but PartialFailed, and the per-desktop ones in brackets."""
    cls = AM.DescribeInvocationsResponseBodyInvocations
    bracketed = set(re.findall(r'\((\w+)\)', ' '.join(ali_comment(cls, 'invocation_status'))))
    return (ali_enum(cls, 'invocation_status') - {'PartialFailed'}) | bracketed


def test_alicloud_run_command_and_invocations(ali_ctl, ali):
    st = ali_ctl.state()['desktops']
    with_session = [d['id'] for d in st if d['power'] == 'on' and d['sessions']]
    stopped = [d['id'] for d in st if d['power'] == 'off']
    linux = with_session.pop()
    ali_ctl.patch(linux, os_type='Linux')
    refused = with_session.pop()
    ali_ctl.faults([{'kind': 'perid', 'ids': [refused], 'ops': ['RunCommand']}])
    targets = with_session[:2] + stopped[:1] + [linux, refused]
    run = ali.call('run_command', region_id=ali.region, desktop_id=targets, command_content=command_content('Hi'),
                   content_encoding='Base64', type='RunPowerShellScript', timeout=60)
    invoke_id = run['InvokeId']
    running = ali_invocation(ali, invoke_id, include_invoke_desktops=True)
    assert running['InvocationStatus'] in ('Pending', 'Running')
    ali_ctl.advance(30)
    bare = ali_invocation(ali, invoke_id)
    assert not bare.get('InvokeDesktops')  # IncludeInvokeDesktops not sent: no per-desktop results
    done = ali_invocation(ali, invoke_id, include_invoke_desktops=True)
    rows = done['InvokeDesktops']
    require(rows, ('DesktopId', 'InvocationStatus'), 'InvokeDesktops')
    assert sorted(r['DesktopId'] for r in rows) == sorted(targets)
    assert not any('Output' in r for r in rows)  # IncludeOutput not sent: Output not returned
    assert set(r['InvocationStatus'] for r in rows) <= ali_desktop_statuses()
    codes = ali_enum(AM.DescribeInvocationsResponseBodyInvocationsInvokeDesktops, 'error_code')
    assert set(r.get('ErrorCode') or '' for r in rows) <= codes
    by_id = dict((r['DesktopId'], r) for r in rows)
    assert all(by_id[i]['InvocationStatus'] == 'Success' and by_id[i]['ExitCode'] == 0 for i in with_session[:2])
    assert all(by_id[i]['InvocationStatus'] != 'Success' and by_id[i]['ErrorCode'] for i in targets[2:])
    assert done['InvocationStatus'] == 'PartialFailed'
    with_output = ali_invocation(ali, invoke_id, include_invoke_desktops=True, include_output=True)
    assert all('Output' in r for r in with_output['InvokeDesktops'])


def test_alicloud_describe_invocations_page_size_is_the_documented_one(ali_ctl, ali):
    comment = ' '.join(ali_comment(AM.DescribeInvocationsRequest, 'max_results'))
    top = int(re.search(r'Maximum value: (\d+)', comment).group(1))
    assert ali.call('describe_invocations', region_id=ali.region, max_results=top)['Invocations'] == []
    err = ali.error('describe_invocations', region_id=ali.region, max_results=top + 1)
    assert err.code.startswith('InvalidParameter') and err.status_code == 400


def test_alicloud_run_command_unknown_content_encoding_is_plain_text(ali_ctl, ali):
    did = [d['id'] for d in ali_ctl.state()['desktops'] if d['power'] == 'on'][0]
    comment = ' '.join(ali_comment(AM.RunCommandRequest, 'content_encoding'))
    assert 'treated as `PlainText`' in comment
    run = ali.call('run_command', region_id=ali.region, desktop_id=[did], command_content='Get-Date',
                   content_encoding='Utf16', type='RunPowerShellScript')
    assert run['InvokeId']


def test_alicloud_errors_the_adapter_classifies(ali_ctl, ali):
    err = ali.error('set_desktop_maintenance', region_id=ali.region, mode='ENTER', desktop_ids=['ecd-nosuchdesktop0'])
    assert (err.status_code, err.code) == A.DESKTOP_NOT_FOUND
    err = ali.error('describe_desktops', region_id='cn-nowhere')
    assert (err.status_code, err.code) == A.INVALID_REGION
    did = ali_ctl.state()['desktops'][0]['id']
    ali.call('set_desktop_maintenance', region_id=ali.region, mode='ENTER', desktop_ids=[did])
    err = ali.error('set_desktop_maintenance', region_id=ali.region, mode='ENTER', desktop_ids=[did])
    assert (err.status_code, err.code) == A.MAINTENANCE_CONFLICT


def test_model_readers_see_every_field():
    """The two readers above map every field of the models they walk (a broken reader would pass anything)."""
    fields = ali_fields(AM.DescribeDesktopGroupSessionsResponseBody)
    assert set(fields) == {'NextToken', 'RequestId', 'Sessions', 'TotalCount'}
    assert str(fields['TotalCount'][1]) == 'int'
    problems = Problems()
    ali_model_conforms(AM.DescribeDesktopGroupSessionsResponseBody, {'Count': 1, 'TotalCount': '1'}, '', problems)
    assert problems == ['Count: not a field of DescribeDesktopGroupSessionsResponseBody', "TotalCount: '1' is not int"]
    problems = Problems()
    hw_conforms('ListDesktopsResponse', {'total_count': 1, 'desktops': [{'os_type': 'Windows', 'status': 1}]},
                '', problems)
    assert problems == ['desktops[0].os_type: not a field of SimpleDesktopInfo', 'desktops[0].status: 1 is not str']
    assert 'hibernating' not in hw_enum('DesktopDetailInfo', 'task_status')
    assert hw_enum('SimpleDesktopPoolInfo', 'charging_mode') == {'0', '1'}
    assert {'ExitCodeNonzero', 'CommandNotApplicable', ''} <= ali_enum(
        AM.DescribeInvocationsResponseBodyInvocationsInvokeDesktops, 'error_code')


# =========================================================================================== the collection's requests


class Recorder:
    """Every request an adapter sent (method, URL, headers, JSON body)."""

    def __init__(self):
        self.sent = []

    def hook(self, resp, *args, **kwargs):
        req = resp.request
        body = req.body.decode('utf-8') if isinstance(req.body, bytes) else req.body
        self.sent.append({'method': req.method, 'url': req.url, 'headers': dict(req.headers),
                          'body': json.loads(body) if body else None})
        return resp


def adapter_of(cls, ctl, recorder):
    args = dict((k, v) for k, v in ctl.module_args().items() if v is not None)
    adapter = cls(args, policy=RetryPolicy(retries=2, base=0.001, cap=0.01, sleep=lambda s: None))
    adapter.poller_factory = sim_poller(ctl.sim)
    adapter.http.session.hooks['response'].append(recorder.hook)
    return adapter


def hw_routes():
    """(method, resource path template, request model) of every WorkspaceClient operation."""
    routes = []
    for name in dir(WorkspaceClient):
        m = re.fullmatch(r'_(\w+)_http_info', name)
        model = ''.join(p.title() for p in m.group(1).split('_')) + 'Request' if m else None
        if not model or not hasattr(HM, model):
            continue
        info = getattr(WorkspaceClient, name)(hw_model(model)())
        routes.append((info['method'], info['resource_path'], model))
    return routes


def hw_route(routes, method, path):
    """The SDK operation of a request: the matching template with the most literal segments."""
    best = None
    got = path.strip('/').split('/')
    for verb, template, model in routes:
        want = template.strip('/').split('/')
        if verb != method or len(want) != len(got):
            continue
        if all(w == g or (w.startswith('{') and w.endswith('}')) for w, g in zip(want, got)):
            literal = sum(1 for w in want if not w.startswith('{'))
            if best is None or literal > best[0]:
                best = (literal, template, model)
    return best[1:] if best else (None, None)


def test_huawei_adapter_sends_only_what_the_sdk_request_models_define(hw_ctl):
    rec = Recorder()
    adapter = adapter_of(HuaweiAdapter, hw_ctl, rec)
    pools = adapter.list_pools()
    desktops = adapter.list_desktops(pool_ids=[p['id'] for p in pools[:2]])
    adapter.list_desktops(desktop_ids=[d['id'] for d in desktops[:5]])
    idle = [d['id'] for d in desktops if d['power_state'] == 'powered_on' and not d['sessions']]
    assert adapter.set_maintenance(idle[:2], True) == {}
    adapter.power(idle[:1], 'restart', force=True)
    adapter.power(idle[1:2], 'hibernate')
    job = adapter.pool_power(pools[2]['id'], 'hibernate', force=False)
    hw_ctl.advance(300)
    assert adapter.get_job(job)['status'] in ('success', 'failed')
    adapter._paged('/workspace-sub-jobs', 'jobs', {'job_id': job})  # pylint: disable=protected-access
    sessions = adapter.list_sessions(desktops, pool_ids=[pools[0]['id']])
    pool0 = [s for s in sessions if s['pool'] == pools[0]['id']]
    adapter.send_message(pool0, 'Patch window at 22:00', options={'whole_pool': {'id': pools[0]['id']}})
    adapter.send_message([s for s in sessions if s['pool'] != pools[0]['id']], 'Patch window at 22:00')
    adapter.logoff(sessions[:2], message='Logging off for maintenance')
    adapter.close()
    routes = hw_routes()
    problems, seen = Problems('the adapter sends what the SDK request model does not define'), set()
    for sent in rec.sent:
        parts = urlsplit(sent['url'])
        where = '%s %s' % (sent['method'], parts.path)
        template, model = hw_route(routes, sent['method'], parts.path)
        if model is None:
            problems.add(where, 'no WorkspaceClient operation')
            continue
        seen.add(model)
        request = hw_model(model)
        path_params = set(re.findall(r'{(\w+)}', template))
        query_names = set(request.attribute_map.values()) - path_params - {'body'}
        for name, _value in parse_qsl(parts.query, keep_blank_values=True):
            if name not in query_names:
                problems.add(where, 'query parameter %s is not in %s' % (name, model))
        body_type = request.openapi_types.get('body')
        if sent['body'] is not None:
            if body_type is None:
                problems.add(where, '%s takes no body' % model)
            else:
                hw_conforms(body_type, sent['body'], where + ' body', problems)
    problems.check()
    assert seen == {'ListDesktopPoolsRequest', 'ListDesktopsRequest', 'SetMaintenanceModeRequest',
                    'BatchRunDesktopsRequest', 'ExecuteDesktopPoolActionRequest', 'ShowJobRequest',
                    'ListItaSubJobsRequest', 'SendDesktopPoolNotificationsRequest', 'SendNotificationsRequest',
                    'BatchLogoffDesktopsRequest'}
    bodies = [x['body'] for x in rec.sent if x['body']]
    batch = [b for b in bodies if 'op_type' in b and 'desktop_ids' in b]
    pool = [b for b in bodies if 'op_type' in b and 'desktop_ids' not in b]
    assert hw_enum('BatchActionDesktopsReq', 'op_type', dashed=True) == {'os-start', 'reboot', 'os-stop',
                                                                         'os-hibernate'}
    assert batch and set(b['op_type'] for b in batch) <= hw_enum('BatchActionDesktopsReq', 'op_type', dashed=True)
    assert pool and set(b['op_type'] for b in pool) <= hw_enum('DesktopPoolActionReq', 'op_type', dashed=True)
    assert set(b['type'] for b in batch + pool) <= hw_enum('DesktopPoolActionReq', 'type')
    counts = [sum(1 for n, _v in parse_qsl(urlsplit(x['url']).query) if n == 'desktop_id') for x in rec.sent]
    assert max(counts) <= 100  # "当前最多支持100个桌面id进行查询"


def ali_limit(cls, attr):
    """A documented upper limit of ``cls.attr`` ("Maximum value: N", "1 to N", "up to N"), or None."""
    text = ' '.join(ali_comment(cls, attr))
    m = re.search(r'Maximum value: (\d+)|1 to (\d+)|up to (\d+)|Valid values of N: 1 to (\d+)', text)
    return int(next(g for g in m.groups() if g)) if m else None


def test_alicloud_adapter_sends_only_what_the_sdk_request_models_define(ali_ctl):
    rec = Recorder()
    adapter = adapter_of(AlicloudAdapter, ali_ctl, rec)
    pools = adapter.list_pools()
    desktops = adapter.list_desktops(pool_ids=[p['id'] for p in pools[:2]])
    adapter.list_desktops(desktop_ids=[d['id'] for d in desktops[:5]])
    adapter.list_desktops()
    idle = [d['id'] for d in desktops if d['power_state'] == 'powered_on' and not d['sessions']]
    assert adapter.set_maintenance(idle[:2], True) == {}
    assert adapter.power(idle[:1], 'restart') == ({}, [])
    sessions = adapter.list_sessions(desktops, pool_ids=[pools[0]['id']])
    adapter.list_sessions(desktops[:3])
    connected = [s for s in sessions if s['state'] == 'connected'][:3]
    out = adapter.send_message(connected, 'Patch window at 22:00', options={'alicloud_delivery': 'run_command'})
    assert out == dict((s['session_id'], None) for s in connected)
    adapter.send_message(connected[:1], 'ignored', options={'alicloud_console_message_id': 'msg-sim-maintenance'})
    problems, seen = Problems('the adapter sends what the SDK request model does not define'), set()
    for sent in rec.sent:
        action = sent['headers'].get('x-acs-action')
        request = getattr(AM, '%sRequest' % action, None)
        if request is None:
            problems.add(action, 'no such request model')
            continue
        seen.add(action)
        fields = ali_fields(request)
        lists = {}
        for name, value in parse_qsl(urlsplit(sent['url']).query, keep_blank_values=True):
            base = re.sub(r'\.\d+(\.\w+)?$', '', name)
            if base not in fields:
                problems.add('%s %s' % (action, name), 'not a parameter of %s' % request.__name__)
                continue
            if base != name:
                lists[base] = lists.get(base, 0) + 1
                continue
            limit = ali_limit(request, fields[base][0]) if str(fields[base][1]) == 'int' else None
            if limit is not None and int(value) > limit:
                problems.add('%s %s=%s' % (action, name, value), 'above the documented maximum %s' % limit)
        for base, count in lists.items():
            limit = ali_limit(request, fields[base][0])
            if limit is not None and count > limit:
                problems.add('%s %s' % (action, base), '%d values, the documented maximum is %s' % (count, limit))
        if sent['body']:
            problems.add(action, 'ecd calls carry their parameters in the query, not a body')
    problems.check()
    assert seen == {'DescribeDesktopGroups', 'DescribeDesktops', 'SetDesktopMaintenance', 'RebootDesktops',
                    'DescribeDesktopGroupSessions', 'DescribeDesktopSessions', 'RunCommand', 'DescribeInvocations',
                    'SendConsoleMessage'}
    described = [dict(parse_qsl(urlsplit(x['url']).query)) for x in rec.sent
                 if x['headers'].get('x-acs-action') == 'DescribeInvocations']
    assert described and all(q.get('IncludeInvokeDesktops') == 'true' for q in described)
