"""``wx-backend campaign|stores|bookings|households|reconcile|demo``: campaigns, their
stores and windows, their wording, and the booking work an operator may start by hand."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from wx_backend import notify
from wx_backend.booking import first_come
from wx_backend.campaigns import demo, manage
from wx_backend.campaigns.rules import PRESETS, RulesError, load_preset, load_rules_file
from wx_backend.cli.common import echo_rekeyed, fail, read_file, refuse_bad_lines
from wx_backend.core import clock
from wx_backend.core.errors import DomainError
from wx_backend.extensions import db, pii
from wx_backend.models import Campaign
from wx_backend.notify import texts

campaign_cli = AppGroup("campaign", help="Create campaigns and plan their windows.")
stores_cli = AppGroup("stores", help="Import a campaign's stores.")
bookings_cli = AppGroup("bookings", help="Scheduled booking work.")
households_cli = AppGroup("households", help="Household keys of per-household campaigns.")


@campaign_cli.command("create")
@click.option("--preset", type=click.Choice(PRESETS), help="A shipped rule set.")
@click.option("--rules-file", type=click.Path(exists=True, dir_okay=False),
              help="A TOML rules file (a copied and edited preset).")
@click.option("--slug", required=True, help="Short name, for example zhengzhou-2026.")
@click.option("--name", help="The name residents see (unique); default: the rules' name.")
@click.option("--plan-days", default=2, show_default=True, help="Days of windows to plan.")
def campaign_create(preset, rules_file, slug, name, plan_days) -> None:
    """Create a campaign from a preset or a rules file and plan its first windows."""
    if bool(preset) == bool(rules_file):
        raise click.UsageError("give exactly one of --preset and --rules-file")
    try:
        data = load_preset(preset) if preset else load_rules_file(rules_file)
        now = clock.now()
        campaign = manage.create_campaign(db.session, slug, data, now, preset=preset,
                                          name=name)
        windows = manage.plan_ahead(db.session, campaign, plan_days, now)
        db.session.commit()
    except (RulesError, DomainError) as error:
        raise fail(error) from None
    click.echo(f"campaign {campaign.id} ({slug}) created with {len(windows)} windows")


@campaign_cli.command("plan-windows")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--days", default=2, show_default=True)
def campaign_plan(campaign_id, days) -> None:
    """Create the coming days' windows from the rules in force."""
    try:
        campaign = manage.get_campaign(db.session, campaign_id)
        now = clock.now()
        windows = manage.plan_ahead(db.session, campaign, days, now)
        db.session.commit()
    except DomainError as error:
        raise fail(error) from None
    for window in windows:
        click.echo(f"window {window.id}: {window.opens_at.isoformat()} - "
                   f"{window.closes_at.isoformat()}, {window.quota} portions")
    click.echo(f"{len(windows)} windows planned")


@stores_cli.command("import")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def stores_import(campaign_id, path) -> None:
    """Import stores from a CSV (UTF-8 or GBK) or .xlsx file with the columns
    店名,地址,区,纬度,经度,每日份额,营业时间 (or the English keys); all or nothing."""
    text = read_file(path)
    try:
        campaign = manage.get_campaign(db.session, campaign_id)
        _, rules = manage.rules_in_force(db.session, campaign_id, clock.now())
    except DomainError as error:
        raise fail(error) from None
    result = manage.import_stores(db.session, campaign, text, rules.store_daily_cap)
    refuse_bad_lines(result.errors, "nothing was imported")
    db.session.commit()
    current_app.extensions["directory"].forget(campaign_id)
    click.echo(f"{result.created} stores created, {result.updated} updated")


@campaign_cli.command("texts")
@click.argument("campaign_id", type=int)
@click.option("--event", help="The event whose wording to change.")
@click.option("--sms", help="The SMS text, with {placeholders} from the event's parameters.")
@click.option("--sms-code", help="The provider's template code approved for that text.")
@click.option("--title", help="The title of the WeChat messages.")
@click.option("--reminder-hours", type=float,
              help="Send the pickup reminder this many hours before pickup ends.")
@click.option("--reset", is_flag=True, help="Go back to the default wording of --event.")
@with_appcontext
def campaign_texts(campaign_id: int, event: str | None, sms: str | None,
                   sms_code: str | None, title: str | None, reminder_hours: float | None,
                   reset: bool) -> None:
    """Show or change a campaign's notification texts and reminder lead."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.ClickException(f"campaign {campaign_id} does not exist")
    settings = json.loads(json.dumps(campaign.notify_settings or {}))
    changing = any(v is not None for v in (sms, sms_code, title)) or reset
    if changing:
        if not event:
            raise click.UsageError("--event is needed to change a wording")
        problems = texts.validate(event, sms=sms, title=title)
        if problems:
            raise click.ClickException("; ".join(problems))
        own = settings.setdefault("texts", {}).setdefault(event, {})
        if reset:
            settings["texts"].pop(event)
        for name, value in (("sms", sms), ("sms_template_code", sms_code), ("title", title)):
            if value is not None:
                own[name] = value
    if reminder_hours is not None:
        if not 0 <= reminder_hours <= 72:
            raise click.ClickException("--reminder-hours must be between 0 and 72")
        settings["reminder_hours_before"] = reminder_hours
    if changing or reminder_hours is not None:
        campaign.notify_settings = settings
        db.session.commit()
    click.echo(f"campaign {campaign.id} ({campaign.name}): reminder "
               f"{texts.reminder_hours(settings):g} h before pickup ends")
    for name, event_texts in texts.EVENTS.items():
        if event and name != event:
            continue
        wording = texts.wording(name, settings)
        own = name in (settings.get("texts") or {})
        click.echo(f"{name}{' (campaign wording)' if own else ''}: "
                   f"params {', '.join(event_texts.params)}")
        click.echo(f"  title: {wording.title}")
        click.echo(f"  sms:   {wording.sms}"
                   + (f"  [code {wording.sms_template_code}]" if wording.sms_template_code
                      else ""))


@bookings_cli.command("expire")
def bookings_expire() -> None:
    """Mark bookings whose pickup window has passed uncollected as expired."""
    expired = first_come.expire(db.session, current_app.extensions["stock"], clock.now())
    notify.announce("booking_expired", expired)
    click.echo(f"{len(expired)} bookings expired")


@households_cli.command("rekey")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
def households_rekey(dry_run) -> None:
    """Recompute household keys of live bookings and entries after an upgrade that reads
    addresses differently; a household found registered twice is listed, not dropped."""
    results = first_come.rekey_households(db.session, pii.vault, current_app.extensions["stock"],
                                       clock.now(), apply=not dry_run)
    if not dry_run:
        db.session.commit()
    echo_rekeyed(results, "to change" if dry_run else "changed")
    if not results:
        click.echo("no campaign limits per household")


@click.command("reconcile")
@with_appcontext
def reconcile_command() -> None:
    """Rebuild every Redis counter and claim from PostgreSQL."""
    done = first_come.reconcile(db.session, current_app.extensions["stock"], clock.now())
    click.echo(f"reconciled {done['windows']} open or coming windows and "
               f"{done['claims']} claims from the database")


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load the demo campaign (a Zhengzhou-like one with 40 stores) unless it exists."""
    campaign = demo.load(db.session, clock.now())
    click.echo(f"demo campaign {campaign.id} ({campaign.slug}) ready")
