"""Operator commands that run inside the app (``wx-backend <command>``)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext


def register_commands(app: Flask) -> None:
    """Attach every command to ``app.cli``; the ``wx-backend`` group finds them there."""
    app.cli.add_command(pii_rotate)


@click.command("pii-rotate")
@with_appcontext
def pii_rotate() -> None:
    """Re-encrypt personal data still under an old PII key with the current PII_KEY."""
    from wx_backend.extensions import db, pii
    from wx_backend.models.rotation import reencrypt

    with db.engine.begin() as connection:
        rewritten = reencrypt(connection, db.metadata, pii.vault)
    for table, count in rewritten.items():
        click.echo(f"{table}: {count} rows re-encrypted with key {pii.vault.current_id}")
