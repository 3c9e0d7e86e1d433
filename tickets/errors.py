"""Domain errors of the tickets package; the api maps each to its HTTP status with the message as is."""

from __future__ import annotations


class TicketError(Exception):
    status_code = 400


class Invalid(TicketError):
    """Input the caller must fix (unknown group, wrong line, out-of-range minutes)."""

    status_code = 422


class NotFound(TicketError):
    status_code = 404


class Conflict(TicketError):
    status_code = 409


class Forbidden(TicketError):
    status_code = 403
