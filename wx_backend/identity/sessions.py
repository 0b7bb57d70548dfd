"""Resident login sessions: opaque bearer tokens kept in Redis with an expiry.

Only a SHA-256 of the token is stored, so a Redis dump does not hand out logins. A token is
revoked by deleting its key. The value is ``<resident id>`` or, once the real-name profile
is complete, ``<resident id>:<person key>``, so the booking path learns who books without
reading the database. Losing Redis logs everyone out, which costs a resident one
silent ``wx.login``: sessions are not part of the durable record.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis

RESIDENT = "session:"
STAFF = "staff-session:"
EDITOR = "editor-session:"
COMMUNITY = "community-session:"


def _key(token: str, prefix: str = RESIDENT) -> str:
    return prefix + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A new session token and how many seconds it lives."""

    token: str
    expires_in: int


@dataclass(frozen=True)
class SessionInfo:
    """Whom a live token belongs to; ``person_key`` once their profile is complete."""

    resident_id: int
    person_key: str | None


def new_token() -> str:
    """A fresh unguessable token."""
    return secrets.token_urlsafe(32)


def store(client, token: str, resident_id: int, ttl: int, person_key: str | None = None,
          prefix: str = RESIDENT) -> None:
    """Write a session (``client`` may be a pipeline)."""
    value = f"{resident_id}:{person_key}" if person_key else str(resident_id)
    client.set(_key(token, prefix), value, ex=ttl)


def issue(client: redis.Redis, resident_id: int, ttl: int,
          person_key: str | None = None, prefix: str = RESIDENT) -> IssuedToken:
    """Start a session for ``resident_id`` (a staff id with ``prefix=STAFF``) for ``ttl`` s."""
    token = new_token()
    store(client, token, resident_id, ttl, person_key, prefix)
    return IssuedToken(token, ttl)


def lookup(client: redis.Redis, token: str, prefix: str = RESIDENT) -> SessionInfo | None:
    """The session a live token opens, or None for an unknown or expired token."""
    if not token or len(token) > 256:
        return None
    value = client.get(_key(token, prefix))
    if value is None:
        return None
    resident_id, _, person_key = value.partition(":")
    return SessionInfo(int(resident_id), person_key or None)


def attach_person(client: redis.Redis, token: str, resident_id: int, person_key: str) -> None:
    """Record the person key in a live session, keeping its expiry."""
    client.set(_key(token), f"{resident_id}:{person_key}", keepttl=True, xx=True)


def revoke(client: redis.Redis, token: str, prefix: str = RESIDENT) -> bool:
    """End one session; True if it was live."""
    return bool(client.delete(_key(token, prefix)))


def revoke_residents(client: redis.Redis, resident_ids: set[int]) -> int:
    """End every session of these residents (their person key changed): their next
    request logs in again silently. Walks the session keys, so it is for maintenance
    commands, not for requests. Answers how many sessions ended."""
    if not resident_ids:
        return 0
    ended = 0
    for key in client.scan_iter(match=RESIDENT + "*", count=1000):
        value = client.get(key)
        if value is not None and int(value.partition(":")[0]) in resident_ids:
            ended += client.delete(key)
    return ended
