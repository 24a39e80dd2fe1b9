# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vdi.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions raised by the vdi.fleet provider client.

Every exception carries one message meant for the operator: what failed and what to check.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


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


class ApiError(VdiFleetError):
    """The provider answered with an error.

    ``status`` is the HTTP status, ``code`` the vendor error code (``error_key``, ``error_code``,
    ``Code``), ``message`` the vendor text, ``throttle`` whether it is a throttling answer and
    ``retry_after`` the delay the provider asked for (seconds), if any.
    """

    def __init__(self, msg, status=None, code=None, message=None, request_id=None, throttle=False,
                 retry_after=None, maybe_applied=False, **details):
        super(ApiError, self).__init__(msg, **details)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.throttle = throttle
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied


class AuthError(ApiError):
    """Credentials were refused (wrong password, bad signature, expired token)."""
