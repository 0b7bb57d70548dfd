"""Operator commands that run inside the app (``wx-backend <command>``)."""

from __future__ import annotations

import secrets
from datetime import date

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from wx_backend import notify
from wx_backend.booking import first_come, postal
from wx_backend.campaigns import demo, manage
from wx_backend.campaigns.manage import get_campaign, rules_in_force
from wx_backend.campaigns.rules import PRESETS, RulesError, load_preset, load_rules_file
from wx_backend.cli.jobs import campaign_texts, jobs_cli, worker_command
from wx_backend.cli.lottery import lottery_cli
from wx_backend.cli.official_account import official_account_cli
from wx_backend.core import clock
from wx_backend.core.errors import DomainError
from wx_backend.extensions import db, pii
from wx_backend.identity.accounts import create_community_staff, create_editor, create_staff
from wx_backend.models.rotation import reencrypt

campaign_cli = AppGroup("campaign", help="Create campaigns and plan their windows.")
stores_cli = AppGroup("stores", help="Import a campaign's stores.")
staff_cli = AppGroup("staff", help="Pharmacy staff accounts.")
bookings_cli = AppGroup("bookings", help="Scheduled booking work.")
editor_cli = AppGroup("editor", help="Editor accounts (announcements and the FAQ).")
community_cli = AppGroup("community", help="Community staff accounts (assisted registration).")
delivery_cli = AppGroup("delivery", help="Delivery orders: export for couriers, import statuses.")
households_cli = AppGroup("households", help="Household keys of per-household campaigns.")


def register_commands(app: Flask) -> None:
    """Attach every command to ``app.cli``; the ``wx-backend`` group finds them there."""
    campaign_cli.add_command(campaign_texts)
    for command in (pii_rotate, reconcile_command, demo_command, campaign_cli, stores_cli,
                    staff_cli, bookings_cli, worker_command, jobs_cli, editor_cli,
                    official_account_cli, lottery_cli, delivery_cli,
                    community_cli, households_cli):
        app.cli.add_command(command)



def _fail(error: Exception) -> click.ClickException:
    message = error.message if isinstance(error, DomainError) else str(error)
    return click.ClickException(message)


@click.command("pii-rotate")
@with_appcontext
def pii_rotate() -> None:
    """Re-encrypt personal data still under an old PII key with the current PII_KEY."""
    with db.engine.begin() as connection:
        rewritten = reencrypt(connection, db.metadata, pii.vault)
    for table, count in rewritten.items():
        click.echo(f"{table}: {count} rows re-encrypted with key {pii.vault.current_id}")


@households_cli.command("rekey")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
def households_rekey(dry_run) -> None:
    """Recompute household keys of live bookings and entries after an upgrade that reads
    addresses differently; a household found registered twice is listed, not dropped."""
    results = first_come.rekey_households(db.session, pii.vault, current_app.extensions["stock"],
                                       clock.now(), apply=not dry_run)
    if not dry_run:
        db.session.commit()
    for result in results:
        click.echo(f"campaign {result.campaign_id}: {result.changed} household keys "
                   f"{'to change' if dry_run else 'changed'}")
        for kind, row_id, holder in result.same_household:
            click.echo(f"  same household as {kind} {holder}: {kind} {row_id} "
                       "(kept apart; for the residents' committee to review)")
    if not results:
        click.echo("no campaign limits per household")


@click.command("reconcile")
@with_appcontext
def reconcile_command() -> None:
    """Rebuild every Redis counter and claim from PostgreSQL."""
    done = first_come.reconcile(db.session, current_app.extensions["stock"], clock.now())
    click.echo(f"reconciled {done['windows']} open or coming windows and "
               f"{done['claims']} claims from the database")


@campaign_cli.command("create")
@click.option("--preset", type=click.Choice(PRESETS), help="A shipped rule set.")
@click.option("--rules-file", type=click.Path(exists=True, dir_okay=False),
              help="A TOML rules file (a copied and edited preset).")
@click.option("--slug", required=True, help="Short name, for example zhengzhou-2026.")
@click.option("--plan-days", default=2, show_default=True, help="Days of windows to plan.")
def campaign_create(preset, rules_file, slug, plan_days) -> None:
    """Create a campaign from a preset or a rules file and plan its first windows."""
    if bool(preset) == bool(rules_file):
        raise click.UsageError("give exactly one of --preset and --rules-file")
    try:
        data = load_preset(preset) if preset else load_rules_file(rules_file)
        now = clock.now()
        campaign = manage.create_campaign(db.session, slug, data, now, preset=preset)
        windows = manage.plan_windows(db.session, campaign, now.date(), plan_days, now)
        db.session.commit()
    except (RulesError, DomainError) as error:
        raise _fail(error) from None
    click.echo(f"campaign {campaign.id} ({slug}) created with {len(windows)} windows")


@campaign_cli.command("plan-windows")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--days", default=2, show_default=True)
def campaign_plan(campaign_id, days) -> None:
    """Create the coming days' windows from the rules in force."""
    try:
        campaign = manage.get_campaign(db.session, campaign_id)
        now = clock.now()
        windows = manage.plan_windows(db.session, campaign, now.date(), days, now)
        db.session.commit()
    except DomainError as error:
        raise _fail(error) from None
    for window in windows:
        click.echo(f"window {window.id}: {window.opens_at.isoformat()} - "
                   f"{window.closes_at.isoformat()}, {window.quota} portions")
    click.echo(f"{len(windows)} windows planned")


@stores_cli.command("import")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
def stores_import(campaign_id, csv_file) -> None:
    """Import stores from CSV: name,address,district,lat,lng,daily_cap,opening_hours."""
    try:
        campaign = manage.get_campaign(db.session, campaign_id)
        _, rules = manage.rules_in_force(db.session, campaign_id, clock.now())
    except DomainError as error:
        raise _fail(error) from None
    result = manage.import_stores(db.session, campaign, csv_file.read(), rules.store_daily_cap)
    if result.errors:
        db.session.rollback()
        for line in result.errors:
            click.echo(line, err=True)
        raise click.ClickException(f"{len(result.errors)} bad row(s); nothing imported")
    db.session.commit()
    current_app.extensions["directory"].forget(campaign_id)
    click.echo(f"{result.created} stores created, {result.updated} updated")


@staff_cli.command("create")
@click.option("--store", "store_id", type=int, required=True)
@click.option("--username", required=True)
@click.option("--password", help="Omit to generate one (printed once).")
def staff_create(store_id, username, password) -> None:
    """Create a pharmacy staff account for a store."""
    _create_account(lambda session, pw: create_staff(session, username, pw, store_id),
                    password, f"staff account {username} for store {store_id}")


@editor_cli.command("create")
@click.option("--username", required=True)
@click.option("--password", help="Omit to generate one (printed once).")
def editor_create(username, password) -> None:
    """Create an editor account (announcements, FAQ)."""
    _create_account(lambda session, pw: create_editor(session, username, pw), password,
                    f"editor account {username}")


@community_cli.command("create")
@click.option("--username", required=True)
@click.option("--district", required=True, help="The district, street or community served.")
@click.option("--password", help="Omit to generate one (printed once).")
def community_create(username, district, password) -> None:
    """Create a community staff account for a district."""
    _create_account(lambda session, pw: create_community_staff(session, username, pw, district),
                    password, f"community staff account {username} for {district}")


def _create_account(make, password: str | None, what: str) -> None:
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        account = make(db.session, password)
        db.session.commit()
    except DomainError as error:
        raise _fail(error) from None
    click.echo(f"{what} created (id {account.id})")
    if generated:
        click.echo(f"password: {password}")


@bookings_cli.command("expire")
def bookings_expire() -> None:
    """Mark bookings whose pickup window has passed uncollected as expired."""
    expired = first_come.expire(db.session, current_app.extensions["stock"], clock.now())
    notify.announce("booking_expired", expired)
    click.echo(f"{len(expired)} bookings expired")


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load the demo campaign (a Zhengzhou-like one with 40 stores) unless it exists."""
    campaign = demo.load(db.session, clock.now())
    click.echo(f"demo campaign {campaign.id} ({campaign.slug}) ready")



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
        raise _fail(error) from None
    rules = rules_in_force(db.session, campaign_id, clock.now())[1]
    text = postal.export_csv(db.session, campaign_id, courier, wanted, rules.zone)
    with open(out, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    click.echo(f"{text.count(chr(10)) - 1} orders of {courier} on {day} written to {out}")


@delivery_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def delivery_import(path) -> None:
    """Apply a courier's status file (order_id,status,tracking_no); all or nothing."""
    with open(path, encoding="utf-8") as handle:
        result = postal.import_statuses(db.session, handle.read())
    if result.errors:
        db.session.rollback()
        for error in result.errors:
            click.echo(error, err=True)
        raise click.ClickException(f"{len(result.errors)} bad line(s); nothing was changed")
    db.session.commit()
    click.echo(f"{result.updated} orders updated")
