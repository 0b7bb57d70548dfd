"""Verified residents made in bulk, for tests, load scripts and benchmarks (never via SMS).

Each gets a name, a valid, distinct ID number and a mobile number made up the way real
residents' look (``wx_backend.dev.people``), an encrypted profile written in one
multi-row INSERT, and a session token in Redis — exactly what a resident has after the real
login and profile flow.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from sqlalchemy import insert
from sqlalchemy.orm import Session

from wx_backend.core import clock
from wx_backend.core.pii import INDEX_ID_NUMBER, INDEX_PHONE, PiiVault
from wx_backend.dev import people
from wx_backend.identity import sessions
from wx_backend.models import Resident


@dataclass(frozen=True)
class MadeResident:
    id: int
    token: str
    id_number: str
    person_key: str
    name: str
    phone: str


def make_residents(session: Session, vault: PiiVault, client: redis.Redis, count: int,
                   prefix: str, ttl: int = 24 * 3600, first: int = 0) -> list[MadeResident]:
    """``count`` verified residents with openids ``<prefix>-<n>`` and live tokens.

    ``first`` offsets the ID numbers so separate batches do not collide. Commits.
    """
    now = clock.now()
    rows = []
    for n in range(first, first + count):
        kind, number = people.document(n)
        phone = people.phone(n)
        rows.append({
            "openid": f"{prefix}-{n}", "unionid": None, "name": people.name(n),
            "id_number": number, "id_kind": kind,
            "id_number_index": vault.blind_index(number, INDEX_ID_NUMBER),
            "phone": phone, "phone_index": vault.blind_index(phone, INDEX_PHONE),
            "address": None, "profile_completed_at": now, "created_at": now,
            "last_login_at": now,
        })
    made = []
    for start in range(0, len(rows), 2000):
        chunk = rows[start:start + 2000]
        ids = session.execute(insert(Resident).returning(Resident.id, sort_by_parameter_order=True),
                              chunk).scalars().all()
        for resident_id, row in zip(ids, chunk):
            made.append((resident_id, row["id_number"], row["id_number_index"], row["name"],
                         row["phone"]))
    session.commit()
    result = []
    with client.pipeline(transaction=False) as pipe:
        for resident_id, number, key, name, phone in made:
            token = sessions.new_token()
            sessions.store(pipe, token, resident_id, ttl, key)
            result.append(MadeResident(resident_id, token, number, key, name, phone))
        pipe.execute()
    return result
