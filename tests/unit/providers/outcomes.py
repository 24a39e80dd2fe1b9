"""Helpers for reading the ``{id: Failure}`` maps the adapters return."""

from __future__ import annotations


def texts(outcome):
    """``{id: message or None}`` of an ``{id: Failure or None}`` map."""
    return dict((key, None if why is None else why.msg) for key, why in outcome.items())


def unknown(outcome):
    """The keys whose failure has an unknown outcome (no usable answer)."""
    return set(key for key, why in outcome.items() if why is not None and why.unknown)
