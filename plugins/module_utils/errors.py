# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions raised by the vdi.fleet provider client, and the per-id failure of a batch call.

Every exception carries one message meant for the operator: what failed and what to check.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

#: 4xx statuses with which a provider refuses a whole call because of (some of) its ids, before anything
#: is applied; splitting such a batch isolates the ids at fault
ITEM_REJECT_STATUSES = (400, 404, 409, 422)


class VdiFleetError(Exception):
    """Base class. ``str(exc)`` is the operator-facing message."""

    def __init__(self, msg, **details):
        super(VdiFleetError, self).__init__(msg)
        self.msg = msg
        self.details = details


class ConfigError(VdiFleetError):
    """Bad or missing module options, detected before any request."""


class TransportError(VdiFleetError):
    """The endpoint could not be reached or did not answer (DNS, refused, TLS, timeout, dropped).

    ``maybe_applied`` is true when a request may have reached the server before the failure.
    """

    def __init__(self, msg, maybe_applied=False, **details):
        super(TransportError, self).__init__(msg, **details)
        self.maybe_applied = maybe_applied


class ProviderError(VdiFleetError):
    """The provider answered with an error.

    ``status`` is the HTTP status, ``code`` the vendor error code (``error_key``, ``error_code``,
    ``Code``), ``message`` the vendor text, ``throttle`` whether it is a throttling answer and
    ``retry_after`` the delay the provider asked for (seconds), if any. ``maybe_applied``: a write
    answered with a server error, which the provider may have applied anyway.
    """

    def __init__(self, msg, status=None, code=None, message=None, request_id=None, throttle=False,
                 retry_after=None, maybe_applied=False, **details):
        super(ProviderError, self).__init__(msg, **details)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.throttle = throttle
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied


class ApiError(ProviderError):
    """The provider refused or failed a call (anything but refused credentials)."""


class AuthError(ProviderError):
    """Credentials were refused (wrong password, bad signature, expired token, missing privilege).

    Not an :class:`ApiError`: code that handles a failed call never swallows refused credentials,
    which concern every call that follows.
    """


#: a failed call (for ``except``): the provider's error answer or no usable answer at all. Refused
#: credentials (:class:`AuthError`) are not among them: they end the task with one message.
CALL_ERRORS = (ApiError, TransportError)


def refused_before_applied(err, statuses=ITEM_REJECT_STATUSES):
    """True when the provider refused the whole call before applying any of it.

    That is a definite answer (a 4xx in ``statuses`` that is neither throttling nor a server error that
    may have been applied): splitting the batch or reporting a refusal is right. Anything else (5xx, a
    lost or dropped connection, throttling beyond the retries) leaves the call's outcome unknown.
    """
    return isinstance(err, ApiError) and not err.throttle and not err.maybe_applied and err.status in statuses


def outcome_unknown(err):
    """True when a failed call may or may not have been applied (no usable answer came back)."""
    if isinstance(err, TransportError):
        return True
    return bool(getattr(err, 'throttle', False) or getattr(err, 'maybe_applied', False)
                or (getattr(err, 'status', None) or 0) >= 500)


class Failure:
    """Why one id of a batch call failed.

    ``msg`` is the operator-facing reason; ``unknown`` is true when no usable answer came back (a
    server error, a lost connection, throttling beyond the retries, or the call was not sent because
    the ones before it failed): the provider may or may not have acted on the id, so the caller reads
    the state back before deciding anything. A refusal (``unknown`` false) is the provider's answer.
    """

    __slots__ = ('msg', 'unknown')

    def __init__(self, msg, unknown=False):
        self.msg = u'%s' % (msg,)
        self.unknown = bool(unknown)

    @classmethod
    def of(cls, err, what=None):
        """The failure of every id of a call that raised ``err`` (a :data:`CALL_ERRORS` exception)."""
        unknown = outcome_unknown(err)
        text = '%s (not re-sent: the provider may or may not have acted on it)' % err.msg if unknown else err.msg
        return cls('%s: %s' % (what, text) if what else text, unknown=unknown)

    @property
    def outcome(self):
        return 'unknown' if self.unknown else 'refused'

    def __str__(self):
        return self.msg

    def __repr__(self):
        return 'Failure(%r, unknown=%r)' % (self.msg, self.unknown)

    def __eq__(self, other):
        return isinstance(other, Failure) and (self.msg, self.unknown) == (other.msg, other.unknown)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.msg, self.unknown))


def as_failure(value):
    """A :class:`Failure` from what an adapter reports for one id (None, a Failure or a refusal text)."""
    if value is None or isinstance(value, Failure):
        return value
    return Failure(value)
