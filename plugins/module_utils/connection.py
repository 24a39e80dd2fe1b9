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

COMMON_OPTIONS = ('provider', 'validate_certs', 'ca_path', 'timeout')
#: which options each provider uses (declared by its adapter)
PROVIDER_OPTIONS = dict((name, adapter.connection_options) for name, adapter in ADAPTERS.items())


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
    """The connection options for the chosen provider, with its vendors' environment variables filled in.

    Returns a new dict with only the connection options. Raises ConfigError, before any request,
    naming what does not fit: no provider, options the provider does not use, a bad ca_path or
    timeout. Which options a provider needs is checked once, by its adapter (:func:`build_adapter`).
    """
    environ = os.environ if environ is None else environ
    # An empty string (for example an optional field of an AWX credential injector) means "not set".
    conn = dict((k, None if params.get(k) == '' else params.get(k)) for k in CONNECTION_OPTIONS)
    provider = conn.get('provider')
    if not provider:
        raise ConfigError('provider is required: one of %s (or set VDI_FLEET_PROVIDER).' % ', '.join(sorted(ADAPTERS)))
    adapter = ADAPTERS[provider]
    for option, names in adapter.vendor_env.items():
        if conn.get(option) in (None, ''):
            conn[option] = next((environ[name] for name in names if environ.get(name)), conn.get(option))
    stray = sorted(k for k in CONNECTION_OPTIONS if k not in adapter.connection_options + COMMON_OPTIONS
                   and conn.get(k) not in (None, ''))
    if stray:
        raise ConfigError('%s %s not used by provider %s (it takes %s). Remove %s, or check provider.'
                          % (', '.join(stray), 'is' if len(stray) == 1 else 'are', provider,
                             ', '.join(adapter.connection_options), 'it' if len(stray) == 1 else 'them'))
    if conn.get('ca_path') and not os.path.isfile(conn['ca_path']):
        raise ConfigError('ca_path %s does not exist or is not a file.' % conn['ca_path'])
    if conn.get('timeout') is not None and conn['timeout'] <= 0:
        raise ConfigError('timeout must be a positive number of seconds.')
    return conn


def build_adapter(conn, policy=None):
    """The adapter for ``conn['provider']`` (options already resolved)."""
    return ADAPTERS[conn['provider']](conn, policy=policy)


def check_message_options(adapter, options):
    """The message options (``alicloud_delivery``...) fit the adapter's provider: ConfigError otherwise."""
    owners = {}
    for name, cls in ADAPTERS.items():
        for option in cls.message_options:
            owners.setdefault(option, []).append(name)
    adapter.check_provider_options(options, owners)


def open_adapter(params, policy=None, environ=None):
    """:func:`resolve_connection` and :func:`build_adapter`: the checked connection's adapter (no request sent)."""
    return build_adapter(resolve_connection(params, environ), policy)
