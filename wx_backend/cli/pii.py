"""``wx-backend pii-rotate``: personal data re-encrypted under the current key."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from wx_backend.extensions import db, pii
from wx_backend.models.rotation import reencrypt


@click.command("pii-rotate")
@with_appcontext
def pii_rotate() -> None:
    """Re-encrypt personal data still under an old PII key with the current PII_KEY."""
    with db.engine.begin() as connection:
        rewritten = reencrypt(connection, db.metadata, pii.vault)
    for table, count in rewritten.items():
        click.echo(f"{table}: {count} rows re-encrypted with key {pii.vault.current_id}")
