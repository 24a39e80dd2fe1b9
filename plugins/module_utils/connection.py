# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by every module and plugin, and the adapter factory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.module_utils.basic import env_fallback

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.providers.alicloud import AlicloudAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.providers.horizon import HorizonAdapter
from ansible_collections.vdi.fleet.plugins.module_utils.providers.huaweicloud import HuaweiAdapter

ADAPTERS = {
    'horizon': HorizonAdapter,
    'huaweicloud': HuaweiAdapter,
    'alicloud': AlicloudAdapter,
}

CONNECTION_OPTIONS = ('provider', 'endpoint', 'region', 'project_id', 'username', 'password', 'domain',
                      'access_key', 'secret_key', 'security_token', 'validate_certs', 'ca_path', 'timeout')
SECRET_OPTIONS = ('password', 'secret_key', 'security_token')

# The vendors' own environment variables, read for the provider in use only (after VDI_FLEET_<OPTION>).
VENDOR_ENV = {
    'huaweicloud': {
        'access_key': ('HUAWEICLOUD_SDK_AK',),
        'secret_key': ('HUAWEICLOUD_SDK_SK',),
        'project_id': ('HUAWEICLOUD_SDK_PROJECT_ID',),
        'security_token': ('HUAWEICLOUD_SDK_SECURITY_TOKEN',),
    },
    'alicloud': {
        'access_key': ('ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALICLOUD_ACCESS_KEY', 'ALICLOUD_ACCESS_KEY_ID'),
        'secret_key': ('ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALICLOUD_SECRET_KEY', 'ALICLOUD_SECRET_ACCESS_KEY'),
        'security_token': ('ALIBABA_CLOUD_SECURITY_TOKEN', 'ALICLOUD_SECURITY_TOKEN'),
        'region': ('ALIBABA_CLOUD_REGION_ID', 'ALICLOUD_REGION', 'ALICLOUD_REGION_ID'),
    },
}

# Which options each provider uses; anything else set for it is a mistake worth stopping on.
PROVIDER_OPTIONS = {
    'horizon': ('endpoint', 'username', 'password', 'domain'),
    'huaweicloud': ('endpoint', 'region', 'project_id', 'access_key', 'secret_key', 'security_token',
                    'username', 'password', 'domain'),
    'alicloud': ('endpoint', 'region', 'access_key', 'secret_key', 'security_token'),
}
COMMON_OPTIONS = ('provider', 'validate_certs', 'ca_path', 'timeout')


def _env(name):
    return (env_fallback, ['VDI_FLEET_' + name.upper()])


def connection_argument_spec():
    """Argument spec of the shared connection options (documented in the vdi.fleet.connection doc fragment)."""
    return dict(
        provider=dict(type='str', choices=list(ADAPTERS), fallback=_env('provider')),
        endpoint=dict(type='str', fallback=_env('endpoint')),
        region=dict(type='str', fallback=_env('region')),
        project_id=dict(type='str', fallback=_env('project_id')),
        username=dict(type='str', fallback=_env('username')),
        password=dict(type='str', no_log=True, fallback=_env('password')),
        domain=dict(type='str', fallback=_env('domain')),
        access_key=dict(type='str', no_log=True, fallback=_env('access_key')),
        secret_key=dict(type='str', no_log=True, fallback=_env('secret_key')),
        security_token=dict(type='str', no_log=True, fallback=_env('security_token')),
        validate_certs=dict(type='bool', default=True, fallback=_env('validate_certs')),
        ca_path=dict(type='path', fallback=_env('ca_path')),
        timeout=dict(type='int', default=30, fallback=_env('timeout')),
    )


def resolve_connection(params, environ=None):
    """Validate the connection options for the chosen provider and fill vendor environment fallbacks.

    Returns a new dict with only the connection options. Raises ConfigError, before any request,
    with one message naming what is missing or what does not fit the provider.
    """
    environ = os.environ if environ is None else environ
    # An empty string (for example an optional field of an AWX credential injector) means "not set".
    conn = dict((k, None if params.get(k) == '' else params.get(k)) for k in CONNECTION_OPTIONS)
    provider = conn.get('provider')
    if not provider:
        raise ConfigError('provider is required: one of %s (or set VDI_FLEET_PROVIDER).' % ', '.join(sorted(ADAPTERS)))
    for option, names in VENDOR_ENV.get(provider, {}).items():
        if conn.get(option) in (None, ''):
            for name in names:
                if environ.get(name):
                    conn[option] = environ[name]
                    break
    allowed = set(PROVIDER_OPTIONS[provider]) | set(COMMON_OPTIONS)
    stray = sorted(k for k in CONNECTION_OPTIONS if k not in allowed and conn.get(k) not in (None, ''))
    if stray:
        raise ConfigError('%s %s not used by provider %s (it takes %s). Remove %s, or check provider.'
                          % (', '.join(stray), 'is' if len(stray) == 1 else 'are', provider,
                             ', '.join(PROVIDER_OPTIONS[provider]), 'it' if len(stray) == 1 else 'them'))
    missing = []
    if provider == 'horizon':
        missing = [k for k in ('endpoint', 'username', 'password', 'domain') if not conn.get(k)]
        if conn.get('username') and '@' in conn['username']:
            raise ConfigError('Horizon does not accept UPN logins (%s). Give the sAMAccountName as username and the '
                              'NetBIOS domain as domain.' % conn['username'])
    elif provider == 'huaweicloud':
        if not conn.get('endpoint') and not conn.get('region'):
            missing.append('region (or endpoint)')
        has_aksk = conn.get('access_key') or conn.get('secret_key')
        has_password = conn.get('username') or conn.get('password')
        if has_aksk and has_password:
            raise ConfigError('Give either access_key/secret_key or username/password/domain for huaweicloud, not both.')
        if has_password:
            missing += [k for k in ('username', 'password', 'domain') if not conn.get(k)]
            if not conn.get('region'):
                missing.append('region')
        else:
            missing += [k for k in ('access_key', 'secret_key') if not conn.get(k)]
    elif provider == 'alicloud':
        missing = [k for k in ('region', 'access_key', 'secret_key') if not conn.get(k)]
    if missing:
        raise ConfigError('Missing connection option(s) for provider %s: %s. Set them on the task, through '
                          'module_defaults (group/vdi.fleet.provider) or the VDI_FLEET_<OPTION> environment variables.'
                          % (provider, ', '.join(missing)))
    if conn.get('ca_path') and not os.path.isfile(conn['ca_path']):
        raise ConfigError('ca_path %s does not exist or is not a file.' % conn['ca_path'])
    if conn.get('timeout') is not None and conn['timeout'] <= 0:
        raise ConfigError('timeout must be a positive number of seconds.')
    return conn


def build_adapter(conn, policy=None):
    """The adapter for ``conn['provider']`` (options already resolved)."""
    return ADAPTERS[conn['provider']](conn, policy=policy)
