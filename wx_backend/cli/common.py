"""What every command group shares."""

from __future__ import annotations

from collections.abc import Sequence

import click

from wx_backend.core.errors import DomainError
from wx_backend.core.tabular import MAX_BYTES, read_table
from wx_backend.extensions import db


def fail(error: Exception) -> click.ClickException:
    """A command's refusal, in the domain's own words when it has them."""
    message = error.message if isinstance(error, DomainError) else str(error)
    return click.ClickException(message)


def refuse_bad_lines(errors: Sequence[str], outcome: str) -> None:
    """An import is all or nothing: with any bad line, roll back, print each, and fail
    saying so (``outcome``: "nothing was imported", "nothing was changed")."""
    if not errors:
        return
    db.session.rollback()
    for line in errors:
        click.echo(line, err=True)
    raise click.ClickException(f"{len(errors)} bad line(s); {outcome}")


def read_file(path: str) -> str:
    """The file at ``path`` as CSV text, whatever Excel saved it as (``core.tabular``)."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_BYTES + 1)  # one byte over is enough to refuse it
    try:
        return read_table(data, path)
    except DomainError as error:
        raise fail(error) from None


def echo_rekeyed(results, verb: str) -> None:
    """Print what a household re-key did per campaign (``first_come.Rekeyed``), with each
    household found registered twice, kept apart for the residents' committee."""
    for result in results:
        click.echo(f"campaign {result.campaign_id}: {result.changed} household keys {verb}")
        for kind, row_id, holder in result.same_household:
            click.echo(f"  same household as {kind} {holder}: {kind} {row_id} "
                       "(kept apart; for the residents' committee to review)")
