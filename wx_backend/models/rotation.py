"""Re-encrypt personal data written with an older PII key (``wx-backend residents rotate-keys``).

Rotation: set the new key as ``PII_KEY``, move the old one to ``PII_OLD_KEYS``, deploy, run
the command; once it reports nothing left, the old key can be dropped. Blind indexes use
their own key and do not change.
"""

from __future__ import annotations

from sqlalchemy import Connection, MetaData, Text, or_, select, type_coerce, update

from wx_backend.core.pii import PiiVault
from wx_backend.models.types import Encrypted


def encrypted_columns(metadata: MetaData):
    """(table, [encrypted columns]) for every table that has any."""
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, Encrypted)]
        if columns:
            yield table, columns


def reencrypt(connection: Connection, metadata: MetaData, vault: PiiVault,
              batch: int = 500) -> dict[str, int]:
    """Rewrite every value not under the current key; returns rows rewritten per table."""
    rewritten: dict[str, int] = {}
    current = f"{vault.current_id}$"
    for table, columns in encrypted_columns(metadata):
        (key,) = table.primary_key.columns
        raw = [type_coerce(c, Text).label(c.name) for c in columns]
        stale = [type_coerce(c, Text).not_like(f"{current}%") for c in columns]
        count, last = 0, None
        while True:
            query = select(key, *raw).where(or_(*stale)).order_by(key).limit(batch)
            if last is not None:
                query = query.where(key > last)
            rows = connection.execute(query).all()
            if not rows:
                break
            for row in rows:
                values = {}
                for column in columns:
                    stored = getattr(row, column.name)
                    if stored is not None and vault.needs_rotation(stored):
                        plain = vault.decrypt(stored, column.type.purpose)
                        fresh = vault.encrypt(plain, column.type.purpose)
                        values[column.name] = type_coerce(fresh, Text)
                if values:
                    connection.execute(update(table).where(key == row[0]).values(values))
                    count += 1
                last = row[0]
        rewritten[table.name] = count
    return rewritten

