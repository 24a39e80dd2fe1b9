# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the vdi.fleet.patch_window role: wave planning and the per-desktop report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible.errors import AnsibleFilterError


def wave_count(pool_size, wave_size):
    """Desktops per wave: ``wave_size`` is a count (``10``) or a share of the pool (``'25%'``); at least 1."""
    text = str(wave_size).strip()
    try:
        if text.endswith('%'):
            pct = float(text[:-1])
            if not 0 < pct <= 100:
                raise ValueError(text)
            return max(1, int(math.floor(pool_size * pct / 100.0)))
        count = int(text)
        if count < 1:
            raise ValueError(text)
        return count
    except ValueError:
        raise AnsibleFilterError('wave_size must be a positive count (10) or a percentage of the pool (25%%), not %r'
                                 % (wave_size,))


def vdi_waves(desktops, wave_size, pool=None):
    """Split one pool's desktops into waves of at most ``wave_size``.

    Desktops already in maintenance (left by an interrupted run) come first, then desktops
    without a user session, busy desktops last, which gives their users the most time; within
    each group the order is stable by name. Returns a list of
    ``{'index', 'pool', 'desktops': [...], 'ids': [...], 'busy': n}``.
    """
    desktops = list(desktops or [])
    size = wave_count(len(desktops), wave_size)
    ordered = sorted(desktops, key=lambda d: (0 if d.get('maintenance') else 1, 1 if d.get('sessions') else 0,
                                              d.get('name') or '', d.get('id')))
    waves = []
    for start in range(0, len(ordered), size):
        chunk = ordered[start:start + size]
        waves.append({
            'index': len(waves) + 1,
            'pool': pool,
            'desktops': chunk,
            'ids': [d['id'] for d in chunk],
            'busy': sum(1 for d in chunk if d.get('sessions')),
        })
    return waves


def vdi_report_step(report, step, result, wave=None, only=None):
    """Record one module result in the report, per desktop.

    ``report`` maps desktop id to its record; ``result`` is a registered module result with
    ``desktops`` (or ``sessions``) entries. ``only`` limits the update to these ids. Returns a
    new report dict.
    """
    report = dict(report or {})
    entries = (result or {}).get('desktops')
    key = 'id'
    if entries is None:
        entries = (result or {}).get('sessions') or []
        key = 'desktop_id'
    only = set(only) if only is not None else None
    for entry in entries:
        did = entry.get(key)
        if did is None or (only is not None and did not in only):
            continue
        rec = dict(report.get(did) or {'id': did, 'name': entry.get('name') or entry.get('desktop_name'),
                                       'pool': entry.get('pool'), 'wave': wave, 'steps': {}})
        steps = dict(rec.get('steps') or {})
        outcome = 'failed' if entry.get('failed') else ('skipped' if entry.get('skipped') else
                                                        ('changed' if entry.get('changed') else 'ok'))
        prev = steps.get(step)
        if prev and prev.get('outcome') == 'failed':
            outcome = 'failed'
        steps[step] = {'outcome': outcome, 'msg': entry.get('msg')}
        rec['steps'] = steps
        if wave is not None:
            rec['wave'] = wave
        report[did] = rec
    return report


def vdi_report_mark(report, ids, step, outcome, msg=None, wave=None, desktops=None):
    """Set one step's outcome for several desktops (steps that are not module results)."""
    report = dict(report or {})
    names = dict((d['id'], d) for d in (desktops or []))
    for did in ids or []:
        d = names.get(did, {})
        rec = dict(report.get(did) or {'id': did, 'name': d.get('name'), 'pool': d.get('pool'), 'wave': wave,
                                       'steps': {}})
        steps = dict(rec.get('steps') or {})
        steps[step] = {'outcome': outcome, 'msg': msg}
        rec['steps'] = steps
        if wave is not None:
            rec['wave'] = wave
        report[did] = rec
    return report


def vdi_healthy(current, planned):
    """Ids of the desktops that are in their expected power state after the window.

    Expected: powered on for every desktop that was powered on (or in a transition) when the wave
    was planned; a desktop that was powered off or suspended before may stay so.
    """
    before = dict((d['id'], d.get('power_state')) for d in planned or [])
    healthy = []
    for d in current or []:
        was = before.get(d['id'])
        if d.get('power_state') == 'powered_on' or (was in ('powered_off', 'suspended') and d.get('power_state') == was):
            healthy.append(d['id'])
    return healthy


def vdi_report_failed(report, ids=None, steps=None):
    """Ids of the desktops (among ``ids``, or all) that have at least one failed step.

    Countdown messages (``message_*`` steps) do not count: a warning that did not reach a user
    (for example a disconnected session) does not make the desktop unhealthy. ``steps`` limits the
    check to those steps.
    """
    out = []
    for did, rec in (report or {}).items():
        if ids is not None and did not in ids:
            continue
        if any((s or {}).get('outcome') == 'failed' for name, s in (rec.get('steps') or {}).items()
               if not name.startswith('message_') and (steps is None or name in steps)):
            out.append(did)
    return sorted(out)


def vdi_report_final(report, desktops, quarantined=None, skipped=None):
    """Close the report: final state read back from the provider and a status per desktop.

    Status: ``released`` (patched and back in service), ``quarantined`` (left in maintenance
    after a failure), ``skipped`` (left out of this window, back in service), ``failed`` (a step
    failed but the desktop is not in maintenance), ``not_reached`` (no wave ran for it).
    """
    report = dict(report or {})
    quarantined = set(quarantined or [])
    skipped = set(skipped or [])
    failed = set(vdi_report_failed(report))
    for d in desktops or []:
        rec = dict(report.get(d['id']) or {'id': d['id'], 'name': d.get('name'), 'pool': d.get('pool'), 'wave': None,
                                           'steps': {}})
        rec['final'] = {'maintenance': d.get('maintenance'), 'power_state': d.get('power_state'),
                        'sessions': d.get('sessions')}
        steps = rec.get('steps') or {}
        if d['id'] in quarantined:
            status = 'quarantined'
        elif d.get('maintenance') and rec.get('wave') is not None and 'deferred' not in steps:
            # the provider refused (or never confirmed) the release: the desktop is out of service
            status = 'quarantined'
            steps = dict(steps, release={'outcome': 'failed', 'msg': 'still in maintenance at the end of the window'})
            rec['steps'] = steps
        elif d['id'] in skipped:
            status = 'skipped'
        elif d['id'] in failed:
            status = 'failed'
        elif rec.get('wave') is None or 'deferred' in steps:
            status = 'not_reached'
        else:
            status = 'released'
        rec['status'] = status
        report[d['id']] = rec
    return report


class FilterModule(object):
    def filters(self):
        return {
            'vdi_waves': vdi_waves,
            'vdi_report_step': vdi_report_step,
            'vdi_report_mark': vdi_report_mark,
            'vdi_report_failed': vdi_report_failed,
            'vdi_healthy': vdi_healthy,
            'vdi_report_final': vdi_report_final,
        }
