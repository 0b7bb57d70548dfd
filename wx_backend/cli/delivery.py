"""``wx-backend delivery export|import``: postal orders for the couriers, and their
status files back."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup

from wx_backend.booking import postal
from wx_backend.campaigns.manage import get_campaign, rules_in_force
from wx_backend.cli.common import fail, read_file, refuse_bad_lines
from wx_backend.core import clock
from wx_backend.core.errors import DomainError
from wx_backend.extensions import db

delivery_cli = AppGroup("delivery", help="Delivery orders: export for couriers, import statuses.")


@delivery_cli.command("export")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--courier", required=True, help="As in the rules, e.g. 中国邮政.")
@click.option("--day", required=True, help="YYYY-MM-DD, the day the orders were made.")
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
def delivery_export(campaign_id, courier, day, out) -> None:
    """Write one courier's orders of one day to a CSV file for the courier."""
    try:
        wanted = date.fromisoformat(day)
        get_campaign(db.session, campaign_id)
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD", param_hint="--day") from None
    except DomainError as error:
        raise fail(error) from None
    rules = rules_in_force(db.session, campaign_id, clock.now())[1]
    text = postal.export_csv(db.session, campaign_id, courier, wanted, rules.zone)
    with open(out, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    click.echo(f"{text.count(chr(10)) - 1} orders of {courier} on {day} written to {out}")


@delivery_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def delivery_import(path) -> None:
    """Apply a courier's status file (订单号,状态,运单号, or order_id,status,tracking_no);
    all or nothing."""
    result = postal.import_statuses(db.session, read_file(path))
    refuse_bad_lines(result.errors, "nothing was changed")
    db.session.commit()
    click.echo(f"{result.updated} orders updated")
