# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provider-neutral service: selection of desktops, idempotent changes, per-desktop results.

What "changed" means lives here, once: read the current state, act only on the desktops
that differ, read the result back from the provider, and report every selected desktop
exactly once with ``changed``, ``failed``, ``msg``, ``before`` and ``after``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vdi.fleet.plugins.module_utils.errors import ConfigError
from ansible_collections.vdi.fleet.plugins.module_utils.transport import Poller


class Selection:
    """Result of resolving ``desktops``/``pool`` against the provider.

    ``desktops``: normalized desktops in selection order, each once. ``missing``: entries of
    ``desktops`` that matched nothing (or matched several desktops by name), as
    ``(entry, message)``. ``scope``: keyword arguments for ``adapter.list_desktops`` that
    re-read exactly these desktops with the fewest requests.
    """

    def __init__(self, desktops, missing, scope, pool=None):
        self.desktops = desktops
        self.missing = missing
        self.scope = scope
        self.pool = pool


def _dedupe(entries):
    seen = set()
    out = []
    for entry in entries or []:
        entry = str(entry).strip()
        if entry and entry not in seen:
            seen.add(entry)
            out.append(entry)
    return out


def resolve_pool(adapter, pool):
    """Find a pool by id or exact name; ConfigError naming some known pools when there is none."""
    pools = adapter.list_pools()
    by_id = [p for p in pools if p['id'] == pool]
    if by_id:
        return by_id[0]
    by_name = [p for p in pools if p['name'] == pool]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise ConfigError('Pool name %r matches %d pools (%s). Give the pool id instead.'
                          % (pool, len(by_name), ', '.join(p['id'] for p in by_name)))
    known = ', '.join(sorted(p['name'] for p in pools)[:10]) or 'none'
    raise ConfigError('Pool %r not found by id or name with these credentials. Pools visible: %s%s.'
                      % (pool, known, ', ...' if len(pools) > 10 else ''))


def select(adapter, desktops=None, pool=None, allow_all=False):
    """Resolve the selection with as few listing requests as the provider needs.

    * ``pool``: one listing of that pool; ``desktops`` (if also given) must be in it.
    * ``desktops`` only: first a lookup by id; entries that are not ids are taken as exact
      names and matched against one listing of everything visible.
    * neither: every desktop visible when ``allow_all``, else ConfigError.
    """
    entries = _dedupe(desktops)
    if not entries and not pool:
        if not allow_all:
            raise ConfigError('Select desktops with desktops (ids or names), pool (id or name), or both.')
        found = adapter.list_desktops()
        return Selection(found, [], {})
    pool_rec = None
    if pool:
        pool_rec = resolve_pool(adapter, pool)
        scope = {'pool_ids': [pool_rec['id']]}
        candidates = adapter.list_desktops(**scope)
        for d in candidates:
            d['pool_name'] = d.get('pool_name') or pool_rec['name']
        if not entries:
            return Selection(candidates, [], scope, pool_rec)
        where = ' in pool %s' % pool_rec['name']
    else:
        candidates = adapter.list_desktops(desktop_ids=entries)
        found_ids = set(d['id'] for d in candidates)
        if all(e in found_ids for e in entries):
            return Selection(_order(candidates, entries), [], {'desktop_ids': entries})
        candidates = candidates + [d for d in adapter.list_desktops() if d['id'] not in found_ids]
        where = ''
    by_id = dict((d['id'], d) for d in candidates)
    by_name = {}
    for d in candidates:
        by_name.setdefault(d['name'], []).append(d)
    chosen, missing, seen = [], [], set()
    for entry in entries:
        match = by_id.get(entry)
        if match is None:
            named = by_name.get(entry, [])
            if len(named) > 1:
                missing.append((entry, 'name %r matches %d desktops%s (%s); give the id instead.'
                                % (entry, len(named), where, ', '.join(d['id'] for d in named))))
                continue
            match = named[0] if named else None
        if match is None:
            missing.append((entry, 'no desktop with id or name %r%s.' % (entry, where)))
            continue
        if match['id'] not in seen:
            seen.add(match['id'])
            chosen.append(match)
    ids = [d['id'] for d in chosen]
    scope = {'pool_ids': [pool_rec['id']]} if pool_rec else {'desktop_ids': ids}
    return Selection(chosen, missing, scope, pool_rec)


def _order(found, entries):
    by_id = dict((d['id'], d) for d in found)
    return [by_id[e] for e in entries if e in by_id]


def reread(adapter, selection, ids):
    """Read back the given desktops: the selection's scope when it is a pool, else by id."""
    ids = list(ids)
    if not ids:
        return {}
    if selection.scope.get('pool_ids'):
        found = adapter.list_desktops(pool_ids=selection.scope['pool_ids'])
    else:
        found = adapter.list_desktops(desktop_ids=ids)
    wanted = set(ids)
    return dict((d['id'], d) for d in found if d['id'] in wanted)


def result_entry(desktop, changed, failed, msg, before, after):
    return {
        'id': desktop.get('id'),
        'name': desktop.get('name'),
        'pool': desktop.get('pool'),
        'changed': bool(changed),
        'failed': bool(failed),
        'msg': msg,
        'before': before,
        'after': after,
    }


def missing_entries(selection):
    return [result_entry({'id': None, 'name': entry, 'pool': None}, False, True, msg, None, None)
            for entry, msg in selection.missing]


def summarize(entries):
    return {
        'total': len(entries),
        'changed': sum(1 for e in entries if e['changed']),
        'unchanged': sum(1 for e in entries if not e['changed'] and not e['failed']),
        'failed': sum(1 for e in entries if e['failed']),
    }


def ensure_maintenance(adapter, selection, enabled, check_mode=False, enforce=False, settle_timeout=120,
                       poller=None):
    """Put the selected desktops into (``enabled``) or out of maintenance.

    Only desktops whose current flag differs are sent to the provider; the outcome is read
    back from the provider (polling with backoff for up to ``settle_timeout`` seconds when a
    provider applies the change asynchronously). Returns the per-desktop result entries.
    """
    verb = 'enter' if enabled else 'exit'
    todo = [d for d in selection.desktops if d['maintenance'] is not enabled]
    results = {}
    for d in selection.desktops:
        if d['maintenance'] is enabled:
            results[d['id']] = result_entry(d, False, False, 'already %s maintenance' % ('in' if enabled else 'out of'),
                                            {'maintenance': d['maintenance']}, {'maintenance': d['maintenance']})
    if check_mode:
        for d in todo:
            results[d['id']] = result_entry(d, True, False, 'would %s maintenance (check mode)' % verb,
                                            {'maintenance': d['maintenance']}, {'maintenance': enabled})
    elif todo:
        ids = [d['id'] for d in todo]
        failures = adapter.set_maintenance(ids, enabled, enforce=enforce)
        sent = [i for i in ids if i not in failures]
        current = reread(adapter, selection, ids)
        late = [i for i in sent if current.get(i, {}).get('maintenance') is not enabled]
        if late:
            def settled():
                now = reread(adapter, selection, late)
                current.update(now)
                del late[:]
                late.extend(i for i in now if now[i]['maintenance'] is not enabled)
                return not late
            (poller or Poller(settle_timeout, initial=1.0, cap=10.0)).run(settled)
        for d in todo:
            after = current.get(d['id'])
            after_flag = after['maintenance'] if after else None
            before = {'maintenance': d['maintenance']}
            changed = after_flag is not None and after_flag != d['maintenance']
            if d['id'] in failures:
                msg = 'provider refused to %s maintenance: %s' % (verb, failures[d['id']])
                results[d['id']] = result_entry(d, changed, True, msg, before, {'maintenance': after_flag})
            elif after is None:
                results[d['id']] = result_entry(d, False, True, 'desktop no longer listed by the provider after the '
                                                'request; check it in the console', before, None)
            elif after_flag is not enabled:
                results[d['id']] = result_entry(d, changed, True, 'provider accepted the request but the desktop '
                                                'still shows maintenance=%s after %ss' % (after_flag, settle_timeout),
                                                before, {'maintenance': after_flag})
            else:
                results[d['id']] = result_entry(d, True, False, '%s maintenance' % ('entered' if enabled else 'exited'),
                                                before, {'maintenance': after_flag})
    return [results[d['id']] for d in selection.desktops] + missing_entries(selection)


def diff_of(entries, key):
    """Ansible diff with one line per changed desktop: ``{name_or_id: value}`` before and after."""
    before, after = {}, {}
    for e in entries:
        if e['changed'] and e['before'] is not None and e['after'] is not None:
            label = e['name'] or e['id']
            before[label] = e['before'].get(key)
            after[label] = e['after'].get(key)
    return {'before': before, 'after': after}
