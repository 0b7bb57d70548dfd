"""Verified residents made in bulk, for tests, load scripts and benchmarks (never via SMS).

Each gets a valid, distinct 18-digit ID number, an encrypted profile written in one
multi-row INSERT, and a session token in Redis — exactly what a resident has after the real
login and profile flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import redis
from sqlalchemy import insert
from sqlalchemy.orm import Session
from stdnum.cn import ric

from wx_backend import sessions
from wx_backend.models import Resident
from wx_backend.pii import INDEX_ID_NUMBER, INDEX_PHONE, PiiVault


@dataclass(frozen=True)
class MadeResident:
    id: int
    token: str
    id_number: str
    person_key: str


def fake_id_number(n: int, region: str = "410105") -> str:
    """The n-th distinct valid ID number (n < 36,500,000) of a real Zhengzhou district."""
    day, serial = divmod(n, 1000)
    birth = date(1940, 1, 1) + timedelta(days=day % 25_000)
    body = f"{region}{birth:%Y%m%d}{serial:03d}"
    if day >= 25_000:
        raise ValueError("too many residents for one region")
    return body + ric.calc_check_digit(body + "0")


def make_residents(session: Session, vault: PiiVault, client: redis.Redis, count: int,
                   prefix: str, ttl: int = 24 * 3600, first: int = 0) -> list[MadeResident]:
    """``count`` verified residents with openids ``<prefix>-<n>`` and live tokens.

    ``first`` offsets the ID numbers so separate batches do not collide. Commits.
    """
    now = datetime.now(timezone.utc)
    rows = []
    for n in range(first, first + count):
        number = fake_id_number(n)
        phone = f"139{n % 100_000_000:08d}"
        rows.append({
            "openid": f"{prefix}-{n}", "unionid": None, "name": "测试居民",
            "id_number": number, "id_number_index": vault.blind_index(number, INDEX_ID_NUMBER),
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
            made.append((resident_id, row["id_number"], row["id_number_index"]))
    session.commit()
    result = []
    with client.pipeline(transaction=False) as pipe:
        for resident_id, number, key in made:
            token = sessions.new_token()
            sessions.store(pipe, token, resident_id, ttl, key)
            result.append(MadeResident(resident_id, token, number, key))
        pipe.execute()
    return result
