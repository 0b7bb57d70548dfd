"""``wx-backend staff|editor|community|operator create|deactivate|activate``: accounts of
the people who serve residents. Deactivating an account ends its sessions at once."""

from __future__ import annotations

import secrets

import click
from flask.cli import AppGroup
from sqlalchemy import select

from wx_backend.cli.common import fail
from wx_backend.core import regions
from wx_backend.core.errors import DomainError
from wx_backend.extensions import db, redis_store
from wx_backend.identity.accounts import (
    ROLES,
    create_community_staff,
    create_editor,
    create_operator,
    create_staff,
    set_active,
    set_district,
)
from wx_backend.identity.sessions import StaffSessions
from wx_backend.models import CommunityStaff

staff_cli = AppGroup("staff", help="Pharmacy staff accounts.")
editor_cli = AppGroup("editor", help="Editor accounts (announcements and the FAQ).")
community_cli = AppGroup("community", help="Community staff accounts (assisted registration).")
operator_cli = AppGroup("operator", help="Operator accounts (campaigns, stores, draws, jobs).")


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


def _region_code(given: str) -> str:
    """A region code from a code or a name; a name several regions share must be a code."""
    text = given.strip()
    if text.isascii() and text.isdigit():
        return text
    found = [r for r in regions.named(text) if r.current]
    if len(found) == 1:
        return found[0].code
    if not found:
        raise click.ClickException(f"no district or city in use is called {text}; "
                                   "give its GB/T 2260 code (金水区 is 410105)")
    raise click.ClickException(f"{text} names several regions; give the code of the one meant: "
                               + ", ".join(f"{r.code} ({regions.label(r.code)})" for r in found))


@community_cli.command("create")
@click.option("--username", required=True)
@click.option("--district", required=True,
              help="The region served: a district's or a whole city's GB/T 2260 code (410105), "
                   "or a name only one region in use has (金水区).")
@click.option("--password", help="Omit to generate one (printed once).")
def community_create(username, district, password) -> None:
    """Create a community staff account for a district (or a city)."""
    code = _region_code(district)
    _create_account(lambda session, pw: create_community_staff(session, username, pw, code),
                    password, f"community staff account {username} for "
                              f"{regions.label(code)} ({code})")


@community_cli.command("set-district")
@click.option("--username", required=True)
@click.option("--district", required=True, help="As for create: a code, or a unique name.")
def community_set_district(username, district) -> None:
    """Set the region an account serves (accounts made before scopes were codes)."""
    account = db.session.scalars(select(CommunityStaff).where(
        CommunityStaff.username == username)).first()
    if account is None:
        raise click.ClickException(f"no community staff account named {username}")
    try:
        set_district(db.session, account, _region_code(district), "operator", _Command())
    except DomainError as error:
        raise fail(error) from None
    db.session.commit()
    click.echo(f"{username} now serves {account.district} ({account.district_code})")


@operator_cli.command("create")
@click.option("--username", required=True)
@click.option("--password", help="Omit to generate one (printed once).")
def operator_create(username, password) -> None:
    """Create an operator account (signs in to the console at /console)."""
    _create_account(lambda session, pw: create_operator(session, username, pw), password,
                    f"operator account {username}")


def _create_account(make, password: str | None, what: str) -> None:
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        account = make(db.session, password)
        db.session.commit()
    except DomainError as error:
        raise fail(error) from None
    click.echo(f"{what} created (id {account.id})")
    if generated:
        click.echo(f"password: {password}")


class _Command:
    """Who changes an account from the command line, for the audit trail."""

    id = 0
    username = "command-line"


def _switch(role: str, username: str, active: bool) -> None:
    account = db.session.scalars(select(ROLES[role]).where(
        ROLES[role].username == username)).first()
    if account is None:
        raise click.ClickException(f"no {role} account named {username}")
    set_active(db.session, StaffSessions(redis_store.client), role, account, active,
               "operator", _Command())
    db.session.commit()
    click.echo(f"{role} account {username} {'activated' if active else 'deactivated'}")


def _add_switches(group: AppGroup, role: str) -> None:
    @group.command("deactivate")
    @click.option("--username", required=True)
    def deactivate(username) -> None:
        """Switch an account off; its sessions end at once."""
        _switch(role, username, False)

    @group.command("activate")
    @click.option("--username", required=True)
    def activate(username) -> None:
        """Switch an account on again."""
        _switch(role, username, True)


for _group, _role in ((staff_cli, "pharmacy"), (editor_cli, "editor"),
                      (community_cli, "community"), (operator_cli, "operator")):
    _add_switches(_group, _role)
