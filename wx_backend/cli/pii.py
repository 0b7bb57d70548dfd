"""``wx-backend residents rotate-keys`` and ``residents reindex``: personal data
re-encrypted under the current key, and identity text brought to its canonical form."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from wx_backend.booking import first_come
from wx_backend.cli.common import echo_rekeyed
from wx_backend.core import clock
from wx_backend.extensions import db, pii, redis_store
from wx_backend.identity import residents, sessions
from wx_backend.models.rotation import reencrypt

residents_cli = AppGroup("residents", help="Residents' identity data.")


@residents_cli.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt personal data still under an old PII key with the current PII_KEY."""
    with db.engine.begin() as connection:
        rewritten = reencrypt(connection, db.metadata, pii.vault)
    for table, count in rewritten.items():
        click.echo(f"{table}: {count} rows re-encrypted with key {pii.vault.current_id}")


@residents_cli.command("reindex")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
def residents_reindex(dry_run) -> None:
    """Make stored ID numbers, phones and addresses canonical (ASCII digits, no invisible
    characters), recompute their indexes and household keys, and list residents who now
    turn out to hold one ID number: nothing is merged or dropped, the committee decides."""
    now = clock.now()
    stock = current_app.extensions["stock"]
    found = residents.reindex(db.session, pii.vault)
    moved = first_come.rename_people(db.session, None if dry_run else stock, found.renamed,
                                     now)
    households = first_come.rekey_households(db.session, pii.vault, stock, now,
                                             apply=not dry_run)
    verb = "would change" if dry_run else "changed"
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
        sessions.revoke_residents(redis_store.client, set(found.changed_residents))
    click.echo(f"{len(found.renamed)} ID numbers, {found.phones} phones and "
               f"{found.addresses} addresses {verb}; {moved} bookings and entries moved "
               "to the new person keys")
    echo_rekeyed(households, verb)
    for resident_id, holder in found.same_person:
        click.echo(f"same ID number as resident {holder}: resident {resident_id} "
                   "(kept apart; for the residents' committee to review)")
    if found.same_person:
        click.echo(f"{len(found.same_person)} residents share an ID number with another")
