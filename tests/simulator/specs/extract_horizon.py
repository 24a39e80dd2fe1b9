"""Cut the operations the collection and the simulator use out of an official Horizon OpenAPI spec.

    python tests/simulator/specs/extract_horizon.py rest-api-swagger-docs.json 2512 > tests/simulator/specs/horizon-2512.json

The input is an unmodified ``docs/horizon-server/versions/<release>/rest-api-swagger-docs.json`` of
github.com/euc-dev/horizon-apis. The output keeps, for the operations in :data:`OPERATIONS` only, the
operation objects as they are (parameters, request bodies, responses) and every schema they reach through
``$ref``; nothing is edited. ``tests/unit/simulator/test_horizon_spec.py`` validates against these files.
"""

from __future__ import annotations

import json
import sys

#: (method, path relative to /rest) of every operation the adapter calls or the simulator serves.
OPERATIONS = (
    ('post', '/login'), ('post', '/refresh'), ('post', '/logout'),
    ('get', '/config/v2/environment-properties'),
    ('get', '/inventory/v1/desktop-pools'), ('get', '/inventory/v2/desktop-pools'),
    ('get', '/inventory/v1/machines'), ('get', '/inventory/v2/machines'), ('get', '/inventory/v1/machines/{id}'),
    ('post', '/inventory/v1/machines/action/enter-maintenance'),
    ('post', '/inventory/v1/machines/action/exit-maintenance'),
    ('post', '/inventory/v1/machines/action/restart'), ('post', '/inventory/v1/machines/action/reset'),
    ('post', '/inventory/v1/machines/action/shutdown'),
    ('get', '/inventory/v1/sessions'), ('get', '/inventory/v1/sessions/{id}'),
    ('post', '/inventory/v1/sessions/action/send-message'), ('post', '/inventory/v1/sessions/action/logoff'),
    ('post', '/inventory/v1/sessions/action/disconnect'),
)


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == '$ref' and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def extract(spec: dict, release: str) -> dict:
    paths: dict = {}
    for method, path in OPERATIONS:
        op = spec['paths'].get(path, {}).get(method)
        if op is not None:
            paths.setdefault(path, {})[method] = op
    schemas = spec['components']['schemas']
    keep: dict = {}
    todo = list(refs(paths))
    while todo:
        ref = todo.pop()
        prefix = '#/components/schemas/'
        if not ref.startswith(prefix) or ref[len(prefix):] in keep:
            continue
        name = ref[len(prefix):]
        keep[name] = schemas[name]
        todo.extend(refs(schemas[name]))
    return {
        'openapi': spec['openapi'],
        'info': dict(spec['info'], **{'x-vdi-fleet-extract': 'Horizon %s: operations used by vdi.fleet only, from '
                                      'github.com/euc-dev/horizon-apis docs/horizon-server/versions/%s/'
                                      'rest-api-swagger-docs.json, unmodified' % (release, release)}),
        'paths': dict(sorted(paths.items())),
        'components': {'schemas': dict(sorted(keep.items()))},
    }


if __name__ == '__main__':
    with open(sys.argv[1], encoding='utf-8') as handle:
        source = json.load(handle)
    json.dump(extract(source, sys.argv[2]), sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write('\n')
