"""Resident login sessions: opaque bearer tokens kept in Redis with an expiry.

Only a SHA-256 of the token is stored, so a Redis dump does not hand out logins. A token is
revoked by deleting its key; every token of a resident is also listed in a set so that all
of them can be revoked at once. Losing Redis logs everyone out, which costs a resident one
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


def _owner_key(resident_id: int) -> str:
    return f"sessions-of:{resident_id}"


@dataclass(frozen=True)
class IssuedToken:
    """A new session token and how many seconds it lives."""

    token: str
    expires_in: int


def issue(client: redis.Redis, resident_id: int, ttl: int) -> IssuedToken:
    """Start a session for ``resident_id`` that lasts ``ttl`` seconds."""
    token = secrets.token_urlsafe(32)
    key = _key(token)
    with client.pipeline(transaction=True) as pipe:
        pipe.set(key, resident_id, ex=ttl)
        pipe.sadd(_owner_key(resident_id), key)
        pipe.expire(_owner_key(resident_id), ttl)
        pipe.execute()
    return IssuedToken(token, ttl)


def resident_for(client: redis.Redis, token: str) -> int | None:
    """The resident a live token belongs to, or None for an unknown or expired token."""
    if not token or len(token) > 256:
        return None
    value = client.get(_key(token))
    return int(value) if value is not None else None


def revoke(client: redis.Redis, token: str) -> bool:
    """End one session; True if it was live."""
    key = _key(token)
    owner = client.get(key)
    if owner is None:
        return False
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.srem(_owner_key(int(owner)), key)
        pipe.execute()
    return True


def revoke_all(client: redis.Redis, resident_id: int) -> int:
    """End every session of a resident; returns how many were live."""
    owner_key = _owner_key(resident_id)
    keys = list(client.smembers(owner_key))
    if not keys:
        return 0
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(*keys)
        pipe.delete(owner_key)
        deleted = pipe.execute()[0]
    return int(deleted)
