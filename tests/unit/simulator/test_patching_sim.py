"""The simulator's image and command operations, driven by the vendors' own clients where they exist.

Huawei Cloud through ``huaweicloudsdkworkspace``'s WorkspaceClient and Alibaba Cloud through
``alibabacloud_ecd20200930``'s Client: the requests are built from the SDK request models and signed by the SDKs,
the answers are read into the SDK response models (every field of the raw JSON must be a field of the model).
Horizon through plain HTTP with a bearer token, every answer's fields checked against the 2512 spec's schemas.
Covered: field validation and limits, vendor-shaped errors, signatures, injected faults (throttling, 5xx, per-id),
and state moving over simulated time.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from alibabacloud_ecd20200930 import models as AM
from alibabacloud_ecd20200930.client import Client as EcdClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.utils_models import Config as AliConfig
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ServiceResponseException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkworkspace.v2 import WorkspaceClient
from huaweicloudsdkworkspace.v2 import model as HM

from conftest import SimControl  # pylint: disable=import-error
from core import Simulator  # pylint: disable=import-error

import alicloud_patching as AP  # pylint: disable=import-error
import horizon_patching as HP  # pylint: disable=import-error
import huaweicloud_patching as HWP  # pylint: disable=import-error

HW_NEW = '8f2c6b1a-4e5d-4c3b-9a2f-1d0e7c6b5a41'
ALI_NEW = 'm-sim0000000000043'
#: the 2512 spec's schemas of the Horizon answers checked here (property names)
POOL_V2 = {'access_group_id', 'allow_multiple_user_assignments', 'allow_rds_pool_multi_session_per_user',
           'automatic_user_assignment', 'category_folder_name', 'cloud_assigned', 'cloud_managed', 'cs_restriction_tags',
           'customization_settings', 'delete_in_progress', 'description', 'display_assigned_machine_name',
           'display_name', 'display_protocol_settings', 'enable_client_restrictions', 'enable_provisioning', 'enabled',
           'farm_id', 'id', 'image_source', 'name', 'nics', 'pattern_naming_settings', 'provisioning_settings',
           'provisioning_status_data', 'session_settings', 'session_type', 'shortcut_locations', 'source',
           'specific_naming_settings', 'stop_provisioning_on_error', 'storage_settings',
           'transparent_page_sharing_scope', 'type', 'user_assignment', 'vcenter_id',
           'view_storage_accelerator_settings'}
PROVISIONING_SETTINGS = {'add_virtual_tpm', 'base_snapshot_id', 'datacenter_id', 'host_or_cluster_id', 'im_stream_id',
                         'im_tag_id', 'min_ready_vms_on_vcomposer_maintenance', 'parent_vm_id', 'resource_pool_id',
                         'vm_folder_id', 'vm_template_id'}
PROVISIONING_STATUS = {'instant_clone_current_image_state', 'instant_clone_operation',
                       'instant_clone_pending_im_stream_id', 'instant_clone_pending_im_tag_id',
                       'instant_clone_pending_image_error', 'instant_clone_pending_image_parent_vm_id',
                       'instant_clone_pending_image_progress', 'instant_clone_pending_image_snapshot_id',
                       'instant_clone_pending_image_state', 'instant_clone_push_image_settings',
                       'last_provisioning_error', 'last_provisioning_error_time'}
PUSH_SETTINGS = {'add_virtual_tpm', 'logoff_policy', 'start_time', 'stop_on_first_error'}
MACHINE_DATA_V2 = {'base_vm_id', 'base_vm_snapshot_id', 'clone_error_message', 'clone_error_time', 'create_time',
                   'datastore_ids', 'host_name', 'image_management_stream_id', 'image_management_tag_id',
                   'in_hold_customization', 'in_maintenance_mode', 'last_maintenance_time', 'logoff_policy',
                   'memory_mb', 'missing_in_vcenter', 'network_labels', 'operation', 'operation_state', 'path',
                   'pending_base_vm_id', 'pending_base_vm_snapshot_id', 'pending_image_management_stream_id',
                   'pending_image_management_tag_id', 'storage_accelerator_state', 'virtual_center_id',
                   'virtual_disks', 'virtual_machine_power_state'}
BULK_ITEM = {'error_messages', 'errors', 'id', 'key', 'status_code', 'timestamp'}


@pytest.fixture(scope='module')
def simulator(tmp_path_factory):
    sim = Simulator(fleet=24, seed=59, time_scale=1.0, tls=False, state_dir=str(tmp_path_factory.mktemp('patchsim')))
    info = sim.start()
    yield sim, info
    sim.stop()


def control(simulator, name):
    sim, info = simulator
    ctl = SimControl(info, name)
    ctl.reset()
    ctl.sim = sim
    ctl.provider_sim = sim.providers[name]
    return ctl


def by_id(ctl):
    return dict((d['id'], d) for d in ctl.state()['desktops'])


# =========================================================================================== Huawei Cloud


def hw_conforms(type_name, value, path=''):
    """Every field of ``value`` is a field of the SDK model ``type_name`` (recursively)."""
    if value is None or type_name in ('str', 'int', 'bool', 'float', 'datetime', 'object') \
            or type_name.startswith('dict('):
        return
    if type_name.startswith('list['):
        for n, item in enumerate(value):
            hw_conforms(type_name[5:-1], item, '%s[%d]' % (path, n))
        return
    cls = getattr(HM, type_name)
    by_json = dict((j, a) for a, j in cls.attribute_map.items())
    stray = sorted(set(value) - set(by_json))
    assert not stray, '%s: %s not fields of %s' % (path or '<root>', stray, type_name)
    for key, item in value.items():
        hw_conforms(cls.openapi_types[by_json[key]], item, '%s.%s' % (path, key))


class Huawei:
    def __init__(self, ctl, secret=None):
        conn = ctl.conn
        config = HttpConfig.get_default_config()
        config.retry_times = 0
        self.client = WorkspaceClient.new_builder().with_http_config(config).with_credentials(
            BasicCredentials(conn['access_key'], secret or conn['secret_key'], conn['project_id'])) \
            .with_endpoints([conn['endpoint']]).build()

    def __call__(self, method, request, check=True):
        """The raw answer; ``check``: it must fit the response model (the image and script operations are checked
        here; ListDesktopsDetail is read only for the fields these operations change)."""
        resp = getattr(self.client, method)(request)
        raw = json.loads(resp.raw_content) if resp.raw_content else {}
        if check:
            hw_conforms(type(resp).__name__, raw)
        return raw

    def error(self, method, request):
        with pytest.raises(ServiceResponseException) as exc:
            self(method, request)
        return exc.value.status_code, exc.value.error_code, exc.value.error_msg


@pytest.fixture
def hw(simulator):
    ctl = control(simulator, 'huaweicloud')
    yield ctl, Huawei(ctl)
    ctl.faults([])


def hw_pool(ctl):
    pool = ctl.state()['pools'][0]
    return pool, [d for d in ctl.state()['desktops'] if d['pool'] == pool['id']]


def test_huawei_rebuild_job_moves_over_time(hw):
    ctl, client = hw
    pool, members = hw_pool(ctl)
    images = client('list_images', HM.ListImagesRequest(image_id=HW_NEW))
    assert [(i['id'], i['image_type'], i['os_type']) for i in images['images']] == [(HW_NEW, 'private', 'Windows')]
    active = [d for d in members if d['power'] == 'on']
    body = HM.RebuildDesktopsReq(desktop_ids=[active[0]['id']], image_id=HW_NEW, image_type='private',
                                 os_type='Windows', delay_time=1, message='Your desktop is rebuilt in a minute.')
    job_id = client('batch_rebuild_desktops_system_disk', HM.BatchRebuildDesktopsSystemDiskRequest(body=body))['job_id']
    job = client('show_job', HM.ShowJobRequest(job_id=job_id))
    assert job['status'] == 'WAITING' and job['job_type'] == 'rebuildDesktops' and job['sub_jobs_total'] == 1
    ctl.advance(HWP.REBUILD_SECONDS / 2 + 60 + 3)  # grace minute, queue, half the rebuild
    detail = client('list_desktops_detail', HM.ListDesktopsDetailRequest(desktop_id=[active[0]['id']]),
                    check=False)['desktops'][0]
    assert detail['task_status'] == 'rebuilding' and detail['metadata']['metering.image_id'] == HWP.BASE_IMAGE
    assert client('show_job', HM.ShowJobRequest(job_id=job_id))['status'] == 'RUNNING'
    ctl.advance(HWP.REBUILD_SECONDS)
    assert client('show_job', HM.ShowJobRequest(job_id=job_id))['status'] == 'SUCCESS'
    detail = client('list_desktops_detail', HM.ListDesktopsDetailRequest(desktop_id=[active[0]['id']]),
                    check=False)['desktops'][0]
    assert not detail['task_status'] and detail['metadata']['metering.image_id'] == HW_NEW
    assert [m['text'] for m in ctl.state()['messages']] == ['Your desktop is rebuilt in a minute.'] * len(
        active[0]['sessions'])


def test_huawei_pool_rebuild_and_per_desktop_failures(hw):
    ctl, client = hw
    pool, members = hw_pool(ctl)
    ctl.faults([{'kind': 'perid', 'ops': ['rebuild_desktop_pool'], 'ids': [members[0]['id']]}])
    body = HM.RebuildDesktopPoolReq(image_id=HW_NEW, handle_type='FOR_EXPAND_AND_ALL')
    job_id = client('rebuild_desktop_pool', HM.RebuildDesktopPoolRequest(pool_id=pool['id'], body=body))['job_id']
    assert client('show_desktop_pool_detail', HM.ShowDesktopPoolDetailRequest(pool_id=pool['id']))['image_id'] == HW_NEW
    ctl.advance(HWP.REBUILD_SECONDS + 10)
    subs = client('show_job', HM.ShowJobRequest(job_id=job_id))['sub_jobs']
    failed = dict((s['entities']['desktop_id'], s['error_code']) for s in subs if s['status'] == 'FAILED')
    assert failed[members[0]['id']] == 'WKS.00010118'
    hibernated = [d['id'] for d in members if d['power'] == 'hibernated']
    assert all(failed[i] == 'WKS.00010116' for i in hibernated)
    images = dict((i, d['extra']['image_id']) for i, d in by_id(ctl).items())
    assert all(images[d['id']] == (HWP.BASE_IMAGE if d['id'] in failed else HW_NEW) for d in members)
    # handle_type ONLY_FOR_EXPAND (the default): the pool's image changes, no desktop is rebuilt
    job_id = client('rebuild_desktop_pool', HM.RebuildDesktopPoolRequest(
        pool_id=pool['id'], body=HM.RebuildDesktopPoolReq(image_id=HWP.BASE_IMAGE)))['job_id']
    assert client('show_job', HM.ShowJobRequest(job_id=job_id))['sub_jobs_total'] == 0


@pytest.mark.parametrize('body,status,code', [
    (dict(image_id='00000000-0000-4000-8000-000000000000'), 404, 'WKS.0202'),
    (dict(image_id=HW_NEW, image_type='gold'), 400, 'WKS.0001'),
    (dict(image_id=HW_NEW, os_type='Linux'), 400, 'WKS.0001'),
    (dict(image_id=HW_NEW, delay_time=16), 400, 'WKS.0001'),
    (dict(image_id=HW_NEW, message='x' * 401), 400, 'WKS.0001'),
    (dict(image_id=HW_NEW, message='   '), 400, 'WKS.0001'),
    (dict(image_id=None), 400, 'WKS.0001'),
])
def test_huawei_rebuild_validation(hw, body, status, code):
    ctl, client = hw
    pool, members = hw_pool(ctl)
    ctl.clear_stats()
    req = HM.BatchRebuildDesktopsSystemDiskRequest(body=HM.RebuildDesktopsReq(desktop_ids=[members[0]['id']], **body))
    got = client.error('batch_rebuild_desktops_system_disk', req)
    assert got[:2] == (status, code)
    assert ctl.state()['desktops'][0]['transition'] is None and not ctl.provider_sim.jobs


def test_huawei_rebuild_limits_signature_and_faults(hw, simulator):
    ctl, client = hw
    ctl.reset(fleet=120)
    ids = [d['id'] for d in ctl.state()['desktops']]
    req = HM.BatchRebuildDesktopsSystemDiskRequest(body=HM.RebuildDesktopsReq(desktop_ids=ids[:101], image_id=HW_NEW))
    assert client.error('batch_rebuild_desktops_system_disk', req)[:2] == (400, 'WKS.0001')
    bad = Huawei(ctl, secret='not-the-secret-key')
    req = HM.BatchRebuildDesktopsSystemDiskRequest(body=HM.RebuildDesktopsReq(desktop_ids=ids[:1], image_id=HW_NEW))
    assert bad.error('batch_rebuild_desktops_system_disk', req)[:2] == (401, 'APIGW.0301')
    ctl.faults([{'kind': 'throttle', 'ops': ['batch_rebuild_desktops_system_disk']}])
    assert client.error('batch_rebuild_desktops_system_disk', req)[:2] == (429, 'APIG.0308')
    ctl.faults([{'kind': '5xx', 'ops': ['rebuild_desktop_pool'], 'phase': 'after'}])
    pool = ctl.state()['pools'][0]
    preq = HM.RebuildDesktopPoolRequest(pool_id=pool['id'], body=HM.RebuildDesktopPoolReq(image_id=HW_NEW))
    assert client.error('rebuild_desktop_pool', preq)[:2] == (500, 'WKS.0999')
    assert ctl.state()['pool_images'][pool['id']] == HW_NEW  # applied, then answered with an error
    assert not [j for j in ctl.provider_sim.jobs.values() if j['kind'] == 'rebuild' and j['pool_id'] is None]
    stats = ctl.stats()
    assert stats['by_op']['batch_rebuild_desktops_system_disk'] == 3 and stats['faults'] == {'throttle': 1, '5xx': 1}


def test_huawei_script_gray_batch_records_and_output(hw):
    ctl, client = hw
    pool, members = hw_pool(ctl)
    active = [d['id'] for d in members if d['power'] == 'on'][:6]
    ctl.patch(active[0], extra={'guest_exit': 7})
    body = HM.ExecuteScriptOrCommandReq(resource_type='DESKTOP', resource_ids=active, command='Write-Output hi\nexit 0',
                                        command_type='POWERSHELL', execution_timeout=5, gray_resource_ids=active[:3],
                                        gray_fail_threshold=1)
    task = client('execute_script_or_command', HM.ExecuteScriptOrCommandRequest(body=body))['task_id']
    ctl.advance(HWP.SCRIPT_QUEUE_SECONDS + 1)
    recs = client('list_script_records', HM.ListScriptRecordsRequest(script_task_id=task, limit=100))['script_records']
    assert sorted((r['execute_order'], r['status']) for r in recs) == [(1, 'RUNNING')] * 3 + [(2, 'WAITING')] * 3
    ctl.advance(60)
    recs = client('list_script_records', HM.ListScriptRecordsRequest(script_task_id=task, limit=100))['script_records']
    by = dict((r['resource_id'], r) for r in recs)
    assert by[active[0]]['status'] == 'FAILED' and by[active[0]]['result_code'] == '7'
    assert [by[i]['status'] for i in active[1:3]] == ['SUCCESS'] * 2 and by[active[1]]['result_code'] == '0'
    assert [by[i]['status'] for i in active[3:]] == ['SKIP'] * 3
    detail = client('show_script_record_detail', HM.ShowScriptRecordDetailRequest(record_id=by[active[1]]['id']))
    assert detail['output'] == 'hi'
    assert client.error('show_script_record_detail', HM.ShowScriptRecordDetailRequest(record_id='nope'))[:2] == (
        404, 'WKS.0202')
    assert client.error('list_script_records', HM.ListScriptRecordsRequest(limit=101))[:2] == (400, 'WKS.0001')
    ran = sorted(c['desktop_id'] for c in ctl.state()['commands'])
    assert ran == sorted(active[:3])  # the skipped desktops never ran it


def test_huawei_pool_script_and_tasks(hw):
    ctl, client = hw
    pool, members = hw_pool(ctl)
    body = HM.ExecuteDesktopPoolScriptsReq(script_ids=['sim-script-patch'], execution_timeout=2)
    task = client('execute_desktop_pool_script', HM.ExecuteDesktopPoolScriptRequest(pool_id=pool['id'], body=body))
    ctl.advance(30)
    tasks = client('show_desktop_pools_script_exec_tasks', HM.ShowDesktopPoolsScriptExecTasksRequest(
        desktop_pool_id=pool['id']))['script_execution_tasks']
    running = sum(1 for d in members if d['power'] == 'on')
    assert [(t['id'], t['status'], t['success_num'], t['failed_num']) for t in tasks] == [
        (task['task_id'], 'FINISH', running, len(members) - running)]


@pytest.mark.parametrize('body', [
    dict(command='x', command_type='POWERSHELL', script_ids=['sim-script-patch']),
    dict(command='x'),
    dict(command='x', command_type='PYTHON'),
    dict(command='x', command_type='BAT', execution_timeout=0),
    dict(command='x', command_type='BAT', execution_timeout=1441),
    dict(command='x' * 16385, command_type='BAT'),
    dict(command='x', command_type='BAT', gray_count=1),
    dict(command='x', command_type='BAT', gray_count=2, gray_fail_threshold=2),
    dict(command='x', command_type='BAT', gray_fail_threshold=1),
    dict(command='x', command_type='BAT', resource_type='POOL'),
])
def test_huawei_script_validation(hw, body):
    ctl, client = hw
    _pool, members = hw_pool(ctl)
    body = dict(dict(resource_type='DESKTOP', resource_ids=[d['id'] for d in members[:3]]), **body)
    got = client.error('execute_script_or_command', HM.ExecuteScriptOrCommandRequest(
        body=HM.ExecuteScriptOrCommandReq(**body)))
    assert got[:2] == (400, 'WKS.0001') and not ctl.provider_sim.script_tasks
    unknown = HM.ExecuteScriptOrCommandReq(resource_type='DESKTOP', resource_ids=[members[0]['id']],
                                           script_ids=['no-such-script'])
    assert client.error('execute_script_or_command', HM.ExecuteScriptOrCommandRequest(body=unknown))[:2] == (
        404, 'WKS.0202')


# =========================================================================================== Alibaba Cloud


class Alibaba:
    def __init__(self, ctl, secret=None):
        conn = ctl.conn
        self.region = conn['region']
        self.client = EcdClient(AliConfig(access_key_id=conn['access_key'], access_key_secret=secret or conn['secret_key'],
                                          region_id=self.region, endpoint=conn['endpoint'].split('://', 1)[1],
                                          protocol='http'))

    def __call__(self, action, **params):
        name = ''.join(p.title() for p in action.split('_'))
        resp = getattr(self.client, action)(getattr(AM, name + 'Request')(region_id=self.region, **params))
        return resp.body.to_map()

    def error(self, action, **params):
        with pytest.raises(AlibabaCloudException) as exc:
            self(action, **params)
        return exc.value.status_code, exc.value.code


@pytest.fixture
def ali(simulator):
    ctl = control(simulator, 'alicloud')
    yield ctl, Alibaba(ctl)
    ctl.faults([])


def test_alibaba_rebuild_results_status_and_image(ali):
    ctl, client = ali
    members = ctl.state()['desktops'][:6]
    body = client('rebuild_desktops', desktop_id=[d['id'] for d in members], image_id=ALI_NEW)
    codes = dict((r['DesktopId'], r['Code']) for r in body['RebuildResults'])
    for d in members:
        assert codes[d['id']] == ('success' if d['power'] in ('on', 'off') else 'IncorrectDesktopStatus')
    done = [d['id'] for d in members if codes[d['id']] == 'success']
    listed = client('describe_desktops', desktop_id=done, filter_desktop_group=False)['Desktops']
    assert set(d['DesktopStatus'] for d in listed) == {'Rebuilding'}
    ctl.advance(AP.REBUILD_SECONDS + 1)
    listed = client('describe_desktops', desktop_id=done, filter_desktop_group=False)['Desktops']
    assert set((d['DesktopStatus'], d['ImageId']) for d in listed) == {('Running', ALI_NEW)}
    group = ctl.state()['pools'][0]['id']
    client('modify_desktop_group', desktop_group_id=group, image_id=ALI_NEW)
    assert client('describe_desktop_groups', desktop_group_id=group)['DesktopGroups'][0]['ImageId'] == ALI_NEW


def test_alibaba_rebuild_validation_signature_and_faults(ali):
    ctl, client = ali
    ctl.reset(fleet=30)
    ids = [d['id'] for d in ctl.state()['desktops']]
    assert client.error('rebuild_desktops', desktop_id=ids[:21], image_id=ALI_NEW) == (400, 'InvalidParameter')
    assert client.error('rebuild_desktops', desktop_id=ids[:1], image_id='m-nosuchimage') == (
        404, 'InvalidImageId.NotFound')
    assert client.error('rebuild_desktops', desktop_id=ids[:1], operate_type='keep') == (400, 'InvalidParameter')
    assert client.error('rebuild_desktops', image_id=ALI_NEW) == (400, 'MissingParameter')
    assert client.error('modify_desktop_group', desktop_group_id='dg-nosuchgroup', image_id=ALI_NEW) == (
        404, 'InvalidDesktopGroupId.NotFound')
    assert Alibaba(ctl, secret='wrong').error('rebuild_desktops', desktop_id=ids[:1]) == (403, 'SignatureDoesNotMatch')
    ctl.faults([{'kind': 'throttle', 'ops': ['RebuildDesktops']}])
    assert client.error('rebuild_desktops', desktop_id=ids[:1], image_id=ALI_NEW) == (400, 'Throttling.User')
    assert all(d['transition'] is None for d in ctl.state()['desktops'])


def test_alibaba_command_exit_code_output_and_timeout(ali):
    ctl, client = ali
    on = [d['id'] for d in ctl.state()['desktops'] if d['power'] == 'on'][:2]
    script = 'Write-Output café & "x"\nexit 3'
    content = base64.b64encode(script.encode()).decode()
    invoke = client('run_command', desktop_id=on, command_content=content, content_encoding='Base64',
                    type='RunPowerShellScript', timeout=60)['InvokeId']
    ctl.advance(6)
    inv = client('describe_invocations', invoke_id=invoke, include_output=True, include_invoke_desktops=True,
                 content_encoding='Base64')['Invocations'][0]
    rows = inv['InvokeDesktops']
    assert set((r['InvocationStatus'], r['ExitCode'], r['ErrorCode']) for r in rows) == {('Failed', 3, 'ExitCodeNonzero')}
    assert set(base64.b64decode(r['Output']).decode() for r in rows) == {'café & "x"'}
    assert [c['text'] for c in ctl.state()['commands']] == [script, script]
    slow = base64.b64encode(b'Start-Sleep 120').decode()
    invoke = client('run_command', desktop_id=on[:1], command_content=slow, content_encoding='Base64',
                    type='RunBatScript', timeout=30)['InvokeId']
    ctl.advance(31)
    row = client('describe_invocations', invoke_id=invoke, include_invoke_desktops=True)['Invocations'][0][
        'InvokeDesktops'][0]
    assert (row['InvocationStatus'], row['ErrorCode']) == ('Timeout', 'ExecutionTimeout')


# =========================================================================================== Horizon


class Horizon:
    def __init__(self, ctl):
        self.base = ctl.endpoint + '/rest'
        creds = ctl.conn
        token = requests.post(self.base + '/login', json={'username': creds['username'], 'password': creds['password'],
                                                          'domain': creds['domain']}, timeout=10).json()['access_token']
        self.headers = {'Authorization': 'Bearer ' + token}

    def get(self, path, **params):
        return requests.get(self.base + path, params=params, headers=self.headers, timeout=10)

    def post(self, path, body=None, **params):
        return requests.post(self.base + path, json=body, params=params, headers=self.headers, timeout=10)


@pytest.fixture
def hz(simulator):
    ctl = control(simulator, 'horizon')
    yield ctl, Horizon(ctl)
    ctl.faults([])


def push_path(pool_id):
    return '/inventory/v2/desktop-pools/%s/action/schedule-push-image' % pool_id


def pool_v2(client, pool_id):
    rec = client.get('/inventory/v2/desktop-pools/%s' % pool_id).json()
    assert set(rec) <= POOL_V2 and set(rec['provisioning_settings']) <= PROVISIONING_SETTINGS
    status = rec['provisioning_status_data']
    assert set(status) <= PROVISIONING_STATUS and set(status.get('instant_clone_push_image_settings', {})) <= PUSH_SETTINGS
    return rec


def machines(client, pool_id):
    flt = json.dumps({'type': 'Equals', 'name': 'desktop_pool_id', 'value': pool_id})
    recs = client.get('/inventory/v2/machines', filter=flt).json()
    assert all(set(r['managed_machine_data']) <= MACHINE_DATA_V2 for r in recs)
    return recs


def test_horizon_selective_push_promote_over_time(hz):
    ctl, client = hz
    pool = ctl.state()['pools'][0]
    ids = [m['id'] for m in machines(client, pool['id'])]
    rec = pool_v2(client, pool['id'])
    assert rec['source'] == 'INSTANT_CLONE' and rec['provisioning_settings']['parent_vm_id'] == 'vm-1001'
    spec = {'parent_vm_id': 'vm-1001', 'snapshot_id': 'snapshot-2026-12', 'logoff_policy': 'FORCE_LOGOFF',
            'selective_push_image': True, 'machine_ids': ids[:2] + ['no-such-machine']}
    items = client.post(push_path(pool['id']), spec).json()
    assert all(set(i) <= BULK_ITEM for i in items)
    assert [i['status_code'] for i in items] == [200, 200, 404]
    status = pool_v2(client, pool['id'])['provisioning_status_data']
    assert status['instant_clone_operation'] == 'SCHEDULE_PUSH_IMAGE'
    assert status['instant_clone_pending_image_state'] in ('PENDING_PUBLISH', 'PUBLISHING')
    assert client.post(push_path(pool['id']), dict(spec, snapshot_id='snapshot-2026-11')).status_code == 400
    ctl.advance(HP.PUBLISH_SECONDS + 1)
    recs = dict((m['id'], m) for m in machines(client, pool['id']))
    assert recs[ids[0]]['state'] == 'IN_PROGRESS' and recs[ids[0]]['managed_machine_data']['operation'] == 'PUSH_IMAGE'
    assert recs[ids[2]]['managed_machine_data']['pending_base_vm_snapshot_id'] == 'snapshot-2026-12'
    ctl.advance(HP.RECREATE_SECONDS)
    recs = dict((m['id'], m) for m in machines(client, pool['id']))
    assert recs[ids[0]]['managed_machine_data']['base_vm_snapshot_id'] == 'snapshot-2026-12'
    assert recs[ids[2]]['managed_machine_data']['base_vm_snapshot_id'] == 'snapshot-2026-10'
    status = pool_v2(client, pool['id'])['provisioning_status_data']
    assert status['instant_clone_pending_image_state'] == 'READY_HELD' and status['instant_clone_operation'] == 'NONE'
    assert client.post('/inventory/v1/desktop-pools/%s/action/promote-pending-image' % pool['id']).status_code == 204
    ctl.advance(HP.RECREATE_SECONDS + 1)
    assert set(m['managed_machine_data']['base_vm_snapshot_id'] for m in machines(client, pool['id'])) == {
        'snapshot-2026-12'}
    assert pool_v2(client, pool['id'])['provisioning_settings']['base_snapshot_id'] == 'snapshot-2026-12'


@pytest.mark.parametrize('spec,key', [
    ({'parent_vm_id': 'vm-1001', 'snapshot_id': 'snapshot-2026-11'}, 'common.property.mandatory'),
    ({'parent_vm_id': 'vm-1001', 'snapshot_id': 'snapshot-2026-11', 'im_stream_id': 'im-stream-w11',
      'im_tag_id': 'im-tag-2026-11', 'logoff_policy': 'FORCE_LOGOFF'}, 'common.request.body.invalid'),
    ({'parent_vm_id': 'vm-1001', 'snapshot_id': 'snapshot-1999', 'logoff_policy': 'FORCE_LOGOFF'},
     HP.IMAGE_NOT_FOUND),
    ({'parent_vm_id': 'vm-1001', 'snapshot_id': 'snapshot-2026-11', 'logoff_policy': 'FORCE_LOGOFF',
      'machine_ids': ['x']}, 'common.request.body.invalid'),
    ({'parent_vm_id': 'vm-1001', 'snapshot_id': 'snapshot-2026-11', 'logoff_policy': 'FORCE_LOGOFF',
      'forceOperation': True}, 'common.request.body.invalid'),
    ({'parent_vm_id': 'vm-1001', 'snapshot_id': 'snapshot-2026-11', 'logoff_policy': 'FORCE_LOGOFF',
      'start_time': '2030-01-01'}, 'common.request.body.invalid'),
])
def test_horizon_push_validation(hz, spec, key):
    ctl, client = hz
    pool = ctl.state()['pools'][0]
    resp = client.post(push_path(pool['id']), spec)
    assert resp.status_code == 400 and resp.json()['errors'][0]['error_key'] == key
    assert pool_v2(client, pool['id'])['provisioning_status_data']['instant_clone_operation'] == 'NONE'


def test_horizon_pool_actions_refusals_auth_and_faults(hz):
    ctl, client = hz
    pool = ctl.state()['pools'][1]
    act = '/inventory/v1/desktop-pools/%s/action/' % pool['id']
    assert client.post(act + 'promote-pending-image').json()['errors'][0]['error_key'] == HP.NOT_READY
    resp = client.post(act + 'apply-image', ['x'], pending_image='true')
    assert resp.status_code == 400 and resp.json()['errors'][0]['error_key'] == HP.NOT_READY
    assert requests.post(ctl.endpoint + '/rest' + act + 'promote-pending-image', timeout=10).status_code == 401
    assert client.get('/inventory/v2/desktop-pools/no-such-pool').status_code == 404
    ctl.provider_sim.pool_info[pool['id']]['source'] = 'FULL_CLONE'
    spec = {'parent_vm_id': 'vm-1001', 'snapshot_id': 'snapshot-2026-11', 'logoff_policy': 'WAIT_FOR_LOGOFF'}
    assert client.post(push_path(pool['id']), spec).json()['errors'][0]['error_key'] == HP.NOT_INSTANT_CLONE
    ctl.provider_sim.pool_info[pool['id']]['source'] = 'INSTANT_CLONE'
    ctl.faults([{'kind': 'throttle', 'ops': ['schedule_push_image'], 'retry_after': 2}])
    resp = client.post(push_path(pool['id']), spec)
    assert resp.status_code == 429 and resp.headers['X-Rate-Limit-Retry-After-Seconds'] == '2'
    assert pool_v2(client, pool['id'])['provisioning_status_data']['instant_clone_operation'] == 'NONE'
    ctl.faults([])
    later = dict(spec, start_time=int((time.time() + 3600) * 1000))
    assert client.post(push_path(pool['id']), later).status_code == 200
    assert client.post(push_path(pool['id']), dict(later, start_time=later['start_time'] + 60000)).status_code == 200
    assert client.post(push_path(pool['id']), dict(later, logoff_policy='FORCE_LOGOFF')).status_code == 400
    assert client.post(act + 'cancel-scheduled-push-image').status_code == 204
    assert pool_v2(client, pool['id'])['provisioning_status_data']['instant_clone_operation'] == 'NONE'
