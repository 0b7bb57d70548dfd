"""Errors the domain raises, with the code and Chinese message a resident sees.

Domain code raises these without knowing about HTTP; ``wx_backend.web.errors`` turns each
kind into a status and the JSON envelope ``{"error": {"code", "message", "fields"}}``.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a resident or staff member is meant to read."""

    status = 400

    def __init__(self, code: str, message: str, *, fields: dict[str, str] | None = None,
                 **extra):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.extra = extra


class InvalidInput(DomainError):
    """The request is well formed but a value is not acceptable (422)."""

    status = 422


class NotAuthenticated(DomainError):
    """No valid login (401)."""

    status = 401


class Forbidden(DomainError):
    """Logged in, but not allowed to do this (403)."""

    status = 403


class NotFound(DomainError):
    """No such thing, or not one of yours (404)."""

    status = 404


class Conflict(DomainError):
    """The request clashes with the current state (409)."""

    status = 409


class TooManyRequests(DomainError):
    """Slow down; ``retry_after`` seconds says when to try again (429)."""

    status = 429

    def __init__(self, code: str, message: str, *, retry_after: int, **kwargs):
        super().__init__(code, message, retry_after=retry_after, **kwargs)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A service we depend on is down or refusing us; try later (503)."""

    status = 503
