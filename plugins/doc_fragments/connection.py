# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  provider:
    description:
      - The VDI provider to talk to.
      - If not set, the value of the E(VDI_FLEET_PROVIDER) environment variable is used.
    type: str
    choices: [horizon, huaweicloud, alicloud]
  endpoint:
    description:
      - Base URL of the provider API, for example V(https://cs01.example.com) for a Horizon Connection Server
        (the module adds C(/rest)).
      - Required for O(provider=horizon). For the clouds it defaults from O(region)
        (V(https://workspace.<region>.myhuaweicloud.com), V(https://ecd.<region>.aliyuncs.com)).
      - If not set, the value of the E(VDI_FLEET_ENDPOINT) environment variable is used.
    type: str
  region:
    description:
      - Cloud region, for example V(cn-north-4) (Huawei Cloud) or V(cn-hangzhou) (Alibaba Cloud).
      - Required for O(provider=alicloud); for O(provider=huaweicloud) unless O(endpoint) is given.
      - If not set, E(VDI_FLEET_REGION) is used, and for Alibaba Cloud E(ALIBABA_CLOUD_REGION_ID),
        E(ALICLOUD_REGION) or E(ALICLOUD_REGION_ID).
    type: str
  project_id:
    description:
      - Huawei Cloud project ID used in the API paths. Discovered from the region through IAM when not set.
      - If not set, E(VDI_FLEET_PROJECT_ID) or E(HUAWEICLOUD_SDK_PROJECT_ID) is used.
    type: str
  username:
    description:
      - Horizon administrator account (sAMAccountName, not a UPN), or the Huawei Cloud IAM user for token
        authentication.
      - If not set, E(VDI_FLEET_USERNAME) is used.
    type: str
  password:
    description:
      - Password of O(username).
      - If not set, E(VDI_FLEET_PASSWORD) is used.
    type: str
  domain:
    description:
      - Horizon Active Directory domain (NetBIOS name), or the Huawei Cloud account name for token authentication.
      - If not set, E(VDI_FLEET_DOMAIN) is used.
    type: str
  access_key:
    description:
      - Access key ID for Huawei Cloud (AK) or Alibaba Cloud (AccessKey ID).
      - If not set, E(VDI_FLEET_ACCESS_KEY) is used, then E(HUAWEICLOUD_SDK_AK) for Huawei Cloud or
        E(ALIBABA_CLOUD_ACCESS_KEY_ID), E(ALICLOUD_ACCESS_KEY), E(ALICLOUD_ACCESS_KEY_ID) for Alibaba Cloud.
    type: str
  secret_key:
    description:
      - Secret access key (SK / AccessKey secret) for request signing.
      - If not set, E(VDI_FLEET_SECRET_KEY) is used, then E(HUAWEICLOUD_SDK_SK) for Huawei Cloud or
        E(ALIBABA_CLOUD_ACCESS_KEY_SECRET), E(ALICLOUD_SECRET_KEY), E(ALICLOUD_SECRET_ACCESS_KEY) for Alibaba Cloud.
    type: str
  security_token:
    description:
      - Temporary (STS) security token that goes with a temporary O(access_key) and O(secret_key).
      - If not set, E(VDI_FLEET_SECURITY_TOKEN) is used, then E(HUAWEICLOUD_SDK_SECURITY_TOKEN) or
        E(ALIBABA_CLOUD_SECURITY_TOKEN), E(ALICLOUD_SECURITY_TOKEN).
    type: str
  validate_certs:
    description:
      - Verify the TLS certificate of the endpoint. Only set to V(false) for a lab endpoint you trust.
      - If not set, E(VDI_FLEET_VALIDATE_CERTS) is used.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the endpoint's certificate.
      - If not set, E(VDI_FLEET_CA_PATH) is used.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer.
      - If not set, E(VDI_FLEET_TIMEOUT) is used.
    type: int
    default: 30
notes:
  - Every option can be set once for all modules of the collection with
    C(module_defaults) and the action group C(group/vdi.fleet.provider).
  - Options that the chosen O(provider) does not use are refused, so that a playbook meant for one provider
    cannot silently run against another.
  - Calls are retried with jittered exponential backoff when the provider throttles (HTTP 429,
    C(X-Rate-Limit-Retry-After-Seconds), C(Retry-After), C(APIG.0308), C(Throttling*) codes) and, for read
    calls only, on server errors and lost connections. A call that changes state is never sent twice once it
    may have reached the server.
requirements:
  - requests >= 2.25 on the Ansible controller
'''

    ATTRIBUTES = r'''
attributes:
  action_group:
    description: Use C(group/vdi.fleet.provider) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - vdi.fleet.provider
'''

    # The inventory plugin passes these options through the modules' argument spec
    # (module_utils/connection.py), so the environment variables, their order and the defaults are the modules'
    # ones: no env or default here, or the configuration system would apply its own before the argument spec.
    PLUGINS = r'''
options:
  provider:
    description:
      - The VDI provider to talk to.
      - If not set, E(VDI_FLEET_PROVIDER) is used. One of the two is required.
    type: str
    choices: [horizon, huaweicloud, alicloud]
  endpoint:
    description:
      - Base URL of the provider API (Horizon Connection Server URL without C(/rest)); for the clouds it defaults
        from O(region).
      - If not set, E(VDI_FLEET_ENDPOINT) is used.
    type: str
  region:
    description:
      - Cloud region (Huawei Cloud or Alibaba Cloud).
      - If not set, E(VDI_FLEET_REGION) is used, and for Alibaba Cloud E(ALIBABA_CLOUD_REGION_ID),
        E(ALICLOUD_REGION) or E(ALICLOUD_REGION_ID).
    type: str
  project_id:
    description:
      - Huawei Cloud project ID; discovered from the region when not set.
      - If not set, E(VDI_FLEET_PROJECT_ID) or E(HUAWEICLOUD_SDK_PROJECT_ID) is used.
    type: str
  username:
    description:
      - Horizon administrator (sAMAccountName) or Huawei Cloud IAM user.
      - If not set, E(VDI_FLEET_USERNAME) is used.
    type: str
  password:
    description:
      - Password of O(username).
      - If not set, E(VDI_FLEET_PASSWORD) is used.
    type: str
  domain:
    description:
      - Horizon AD domain (NetBIOS name) or Huawei Cloud account name.
      - If not set, E(VDI_FLEET_DOMAIN) is used.
    type: str
  access_key:
    description:
      - Access key ID (Huawei Cloud AK, Alibaba Cloud AccessKey ID).
      - If not set, E(VDI_FLEET_ACCESS_KEY) is used, then E(HUAWEICLOUD_SDK_AK) for Huawei Cloud or
        E(ALIBABA_CLOUD_ACCESS_KEY_ID), E(ALICLOUD_ACCESS_KEY), E(ALICLOUD_ACCESS_KEY_ID) for Alibaba Cloud.
    type: str
  secret_key:
    description:
      - Secret access key.
      - If not set, E(VDI_FLEET_SECRET_KEY) is used, then E(HUAWEICLOUD_SDK_SK) for Huawei Cloud or
        E(ALIBABA_CLOUD_ACCESS_KEY_SECRET), E(ALICLOUD_SECRET_KEY), E(ALICLOUD_SECRET_ACCESS_KEY) for Alibaba Cloud.
    type: str
  security_token:
    description:
      - Temporary (STS) security token.
      - If not set, E(VDI_FLEET_SECURITY_TOKEN) is used, then E(HUAWEICLOUD_SDK_SECURITY_TOKEN) or
        E(ALIBABA_CLOUD_SECURITY_TOKEN), E(ALICLOUD_SECURITY_TOKEN).
    type: str
  validate_certs:
    description:
      - Verify the TLS certificate of the endpoint.
      - If not set, E(VDI_FLEET_VALIDATE_CERTS) is used, and V(true) when neither is set.
    type: bool
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the endpoint's certificate.
      - If not set, E(VDI_FLEET_CA_PATH) is used.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer.
      - If not set, E(VDI_FLEET_TIMEOUT) is used, and V(30) when neither is set.
    type: int
'''
