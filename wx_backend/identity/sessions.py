"""Login sessions: residents' bearer tokens, and staff sessions (console and API) that can
be ended (``StaffSessions``), all kept in Redis.

Residents: opaque bearer tokens kept in Redis with an expiry.

Only a SHA-256 of the token is stored, so a Redis dump does not hand out logins. A token is
revoked by deleting its key. The value is ``<resident id>`` or, once the real-name profile
is complete, ``<resident id>:<person key>``, so the booking path learns who books without
reading the database. Losing Redis logs everyone out, which costs a resident one
silent ``wx.login``: sessions are not part of the durable record.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass

import redis

RESIDENT = "session:"


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


# -- staff: console sessions and API tokens, kept on the server --------------------------------

STAFF_SESSION = "staff-sess:"
STAFF_SESSIONS_OF = "staff-sess-of:"


@dataclass(frozen=True)
class StaffSession:
    """A live staff session: its account (``role`` and ``account_id``, None before sign-in)
    and what the console keeps in it (``data``)."""

    role: str | None
    account_id: int | None
    data: dict


class StaffSessions:
    """Sessions of staff accounts, on the server (Redis), so that they can be ended.

    A session is an opaque token (a cookie in the console, a bearer token for the staff
    APIs); Redis keeps only its SHA-256, with the account, when it began and when it was
    last used. It ends at sign-out, ``lifetime`` seconds after it began whatever happens,
    and ``idle`` seconds after its last use (console only). A request marked as background
    (the console's own polling) reads a session without counting as use, so a page left
    open does not keep it alive. Every session of an account is listed under the account,
    so that a password change or a deactivation ends them all (``end_all``).
    """

    def __init__(self, client: redis.Redis):
        self.client = client

    @staticmethod
    def _key(token: str) -> str:
        return STAFF_SESSION + hashlib.sha256(token.encode()).hexdigest()

    @staticmethod
    def _index(role: str, account_id: int) -> str:
        return f"{STAFF_SESSIONS_OF}{role}:{account_id}"

    def start(self, role: str | None, account_id: int | None, data: dict, *, lifetime: int,
              idle: int | None, now: float | None = None) -> str:
        """A new session (nothing of an earlier one is kept); answers its token."""
        token = new_token()
        now = time.time() if now is None else now
        key = self._key(token)
        with self.client.pipeline() as pipe:
            pipe.hset(key, mapping={
                "role": role or "", "account": account_id or 0, "data": json.dumps(data),
                "began": now, "seen": now, "lifetime": lifetime, "idle": idle or 0})
            pipe.expire(key, max(1, min(lifetime, idle or lifetime)))
            if role and account_id:
                pipe.sadd(self._index(role, account_id), key)
                pipe.expire(self._index(role, account_id), lifetime)
            pipe.execute()
        return token

    def load(self, token: str, *, touch: bool = True,
             now: float | None = None) -> StaffSession | None:
        """The live session of ``token``, or None (unknown, ended or expired). ``touch``
        counts this as use, which keeps an idle session alive."""
        if not token or len(token) > 256:
            return None
        key = self._key(token)
        found = self.client.hgetall(key)
        if not found:
            return None
        now = time.time() if now is None else now
        began, seen = float(found["began"]), float(found["seen"])
        lifetime, idle = int(found["lifetime"]), int(found["idle"])
        if now >= began + lifetime or (idle and now >= seen + idle):
            self.client.delete(key)
            return None
        if touch and idle:
            with self.client.pipeline() as pipe:
                pipe.hset(key, "seen", now)
                pipe.expire(key, max(1, int(min(began + lifetime - now, idle)) + 1))
                pipe.execute()
        role, account = found["role"] or None, int(found["account"]) or None
        return StaffSession(role, account, json.loads(found["data"]))

    def save(self, token: str, data: dict) -> None:
        """Keep ``data`` in the live session of ``token`` (nothing if it has ended)."""
        key = self._key(token)
        if self.client.exists(key):
            self.client.hset(key, "data", json.dumps(data))

    def end(self, token: str) -> None:
        """End one session (sign-out)."""
        key = self._key(token)
        found = self.client.hmget(key, "role", "account")
        with self.client.pipeline() as pipe:
            pipe.delete(key)
            if found[0] and found[1] and found[1] != "0":
                pipe.srem(self._index(found[0], int(found[1])), key)
            pipe.execute()

    def end_all(self, role: str, account_id: int) -> int:
        """End every session of an account (password changed, account deactivated);
        answers how many were live."""
        index = self._index(role, account_id)
        keys = list(self.client.smembers(index))
        with self.client.pipeline() as pipe:
            if keys:
                pipe.delete(*keys)
            pipe.delete(index)
            ended = pipe.execute()
        return int(ended[0]) if keys else 0
