"""``wx-backend lottery …``: verifiable draws.

``commit``, ``draw``, ``verify`` and ``rank`` work on a draw's files and need no database
and no configuration: a resident or a journalist can run ``wx-backend lottery verify DIR``
on the files a city published. ``commit-draw``, ``run-draw`` and ``export`` work on a
lottery campaign's draws in the database (``wx_backend.lottery.pool``).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import with_appcontext

from wx_backend import notify
from wx_backend.cli.common import fail, read_file, refuse_bad_lines
from wx_backend.core import clock
from wx_backend.core.errors import DomainError
from wx_backend.extensions import db, pii
from wx_backend.lottery import draw, pool
from wx_backend.models import Draw


@click.group("lottery")
def lottery_cli():
    """Verifiable draws: commit, draw, verify, look up a rank."""


@lottery_cli.command("commit")
@click.option("--entries", "entries_file", type=click.Path(exists=True, dir_okay=False),
              required=True, help="Reservation numbers, one per line, any order.")
@click.option("--quota", type=int, required=True, help="How many win.")
@click.option("--name", required=True, help="The draw's public name.")
@click.option("--secret-file", type=click.Path(dir_okay=False), required=True,
              help="Where to keep the secret until the draw (not to be published).")
@click.argument("directory", type=click.Path(file_okay=False))
def commit_command(entries_file, quota, name, secret_file, directory) -> None:
    """Write entries.txt and commitment.json to DIRECTORY (publish them before the draw)."""
    numbers = [line.strip() for line in Path(entries_file).read_text("utf-8").splitlines()
               if line.strip()]
    try:
        entries = draw.entries_text(numbers)
        secret = draw.new_secret()
        commitment = draw.commit(name, entries, quota, secret,
                                 clock.now().isoformat(timespec="seconds"))
    except draw.DrawError as error:
        raise fail(error) from None
    descriptor = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret.hex() + "\n")
    draw.publish(Path(directory), entries, commitment)
    click.echo(f"committed {commitment.entries_count} entries, quota {quota}; "
               f"commitment {commitment.digest}")


@lottery_cli.command("draw")
@click.option("--secret-file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--public-value", required=True,
              help="The value chosen at the draw (typed by the notary, or a beacon's output).")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def draw_command(secret_file, public_value, directory) -> None:
    """Draw the committed entries in DIRECTORY and write result.json and ranking.csv."""
    folder = Path(directory)
    try:
        secret = bytes.fromhex(Path(secret_file).read_text().strip())
        commitment = draw.load_commitment((folder / "commitment.json").read_bytes())
        result = draw.draw(commitment, (folder / "entries.txt").read_bytes(), secret,
                           public_value)
    except (draw.DrawError, ValueError, OSError) as error:
        raise fail(error) from None
    draw.publish(folder, (folder / "entries.txt").read_bytes(), commitment, result)
    click.echo(f"drawn: {len(result.winners)} winners of {len(result.ranking)} entries; "
               f"seed {result.seed.hex()}")


@lottery_cli.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def verify_command(directory) -> None:
    """Recompute a published draw from its files; exit 1 if anything does not match."""
    verdict = draw.verify(Path(directory))
    for line in verdict.checked:
        click.echo(f"ok        {line}")
    for line in verdict.problems:
        click.echo(f"MISMATCH  {line}")
    if not verdict.ok:
        raise click.ClickException("the published draw does not match its recomputation")
    click.echo("the published draw matches its recomputation")


@lottery_cli.command("rank")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.argument("reservation_no")
def rank_command(directory, reservation_no) -> None:
    """Look up one reservation number's rank in a published draw."""
    try:
        found = draw.rank_of(Path(directory), reservation_no)
    except draw.DrawError as error:
        raise fail(error) from None
    if found is None:
        raise click.ClickException(f"{reservation_no} is not among the entries")
    quota = draw.load_commitment((Path(directory) / "commitment.json").read_bytes()).quota
    won = "won" if found["rank"] <= quota else "not drawn"
    click.echo(f"{reservation_no}: rank {found['rank']} of the draw, {won} (quota {quota})")


# -- a campaign's draws in the database (these need the app's configuration) ---------------

@lottery_cli.command("commit-draw")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--quota", type=int, required=True, help="Winners, from the supply in hand.")
@with_appcontext
def commit_draw_command(campaign_id, quota) -> None:
    """Commit to a lottery campaign's pool as it is now; publish before the draw."""
    try:
        made = pool.commit_draw(db.session, campaign_id, quota, clock.now())
        db.session.commit()
    except DomainError as error:
        raise click.ClickException(error.message) from None
    commitment = draw.load_commitment(made.commitment)
    click.echo(f"draw {made.id} (no. {made.number}): {commitment.entries_count} entries, "
               f"quota {quota}, commitment {commitment.digest}; public at /public/draws/{made.id}")


@lottery_cli.command("run-draw")
@click.option("--draw", "draw_id", type=int, required=True)
@click.option("--public-value", required=True, help="The value chosen at the draw.")
@with_appcontext
def run_draw_command(draw_id, public_value) -> None:
    """Draw a committed draw with the public value; winners are marked."""
    try:
        winners = pool.run_draw(db.session, draw_id, public_value,
                                   clock.now())
        db.session.commit()
    except DomainError as error:
        raise click.ClickException(error.message) from None
    told = notify.announce("draw_won", pool.winning_entries(db.session, draw_id))
    click.echo(f"draw {draw_id}: {len(winners)} winners ({len(told)} messages queued)")


@lottery_cli.command("export")
@click.option("--draw", "draw_id", type=int, required=True)
@click.argument("directory", type=click.Path(file_okay=False))
@with_appcontext
def export_command(draw_id, directory) -> None:
    """Write a draw's public files to DIRECTORY (for ``lottery verify``)."""
    found = db.session.get(Draw, draw_id)
    if found is None:
        raise click.ClickException(f"no draw {draw_id}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in pool.published_files(found).items():
        (folder / name).write_bytes(data)
    click.echo(f"draw {draw_id}: files written to {folder}")


@lottery_cli.command("special-group")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--group", required=True, help="For example 低保户.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def special_group_command(campaign_id, group, path) -> None:
    """Import a special group's ID numbers (CSV column id_number); all or nothing."""
    text = read_file(path)
    try:
        added, errors = pool.import_special_group(db.session, pii.vault, campaign_id, group,
                                                     text)
    except DomainError as error:
        raise fail(error) from None
    refuse_bad_lines(errors, "nothing was imported")
    db.session.commit()
    click.echo(f"{added} members added to {group}")
