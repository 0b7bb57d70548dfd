"""Resident login sessions: opaque bearer tokens kept in Redis with an expiry.

Only a SHA-256 of the token is stored, so a Redis dump does not hand out logins. A token is
revoked by deleting its key. Losing Redis logs everyone out, which costs a resident one
silent ``wx.login``: sessions are not part of the durable record.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis

_PREFIX = "session:"


def _key(token: str) -> str:
    return _PREFIX + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A new session token and how many seconds it lives."""

    token: str
    expires_in: int


def issue(client: redis.Redis, resident_id: int, ttl: int) -> IssuedToken:
    """Start a session for ``resident_id`` that lasts ``ttl`` seconds."""
    token = secrets.token_urlsafe(32)
    client.set(_key(token), resident_id, ex=ttl)
    return IssuedToken(token, ttl)


def resident_for(client: redis.Redis, token: str) -> int | None:
    """The resident a live token belongs to, or None for an unknown or expired token."""
    if not token or len(token) > 256:
        return None
    value = client.get(_key(token))
    return int(value) if value is not None else None


def revoke(client: redis.Redis, token: str) -> bool:
    """End one session; True if it was live."""
    return bool(client.delete(_key(token)))
