"""Campaigns, stores, windows and residents for booking tests, built through the domain."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from wx_backend.booking import first_come
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import load_preset
from wx_backend.dev.residents import make_residents
from wx_backend.extensions import db, pii
from wx_backend.identity.accounts import create_operator
from wx_backend.models import Announcement, Operator, Window
from wx_backend.official_account import announcements

_slugs = itertools.count(1)
_people = itertools.count(0, 10_000)


@dataclass
class World:
    campaign_id: int
    store_ids: list[int]
    window_id: int | None


def now() -> datetime:
    return datetime.now(timezone.utc)


def store_csv(caps: list[int], prefix: str = "药店") -> str:
    lines = ["name,address,district,lat,lng,daily_cap,opening_hours"]
    for n, cap in enumerate(caps):
        lines.append(f"{prefix}{n},郑州市金水区花园路{n + 1}号,金水区,{34.75 + n * 0.001:.4f},"
                     f"{113.65 + n * 0.001:.4f},{cap},09:00-18:00")
    return "\n".join(lines) + "\n"


def build(app, preset: str = "zhengzhou", *, quota: int | None = None, caps=(100, 100, 100),
          open_now: bool = True, minutes: int = 30, rules: dict | None = None) -> World:
    """A campaign from ``preset``; with ``open_now`` a window of ``quota`` is open now."""
    data = load_preset(preset) if rules is None else rules
    if open_now:
        start = now() - timedelta(minutes=1)
        data["windows"] = [{"opens_at": start.isoformat(),
                            "closes_at": (start + timedelta(minutes=minutes)).isoformat(),
                            "quota": quota or 10000}]
    with app.app_context():
        campaign = manage.create_campaign(db.session, f"test-{next(_slugs)}", data,
                                             now() - timedelta(hours=1), preset=preset)
        result = manage.import_stores(db.session, campaign, store_csv(list(caps)),
                                         data["store_daily_cap"])
        assert not result.errors, result.errors
        windows = manage.plan_windows(db.session, campaign, now().date() - timedelta(days=1),
                                         3, now())
        db.session.commit()
        snapshot = app.extensions["directory"].snapshot(db.session, campaign.id, now())
        current = snapshot.window_at(now())
        return World(campaign.id, sorted(snapshot.stores), current.id if current else
                     (windows[0].id if windows else None))


def move_window(app, window_id: int, opens_at: datetime, closes_at: datetime) -> None:
    """Shift a window in time (as if the clock had moved) and reload it into Redis."""
    with app.app_context():
        db.session.execute(update(Window).where(Window.id == window_id)
                           .values(opens_at=opens_at, closes_at=closes_at))
        db.session.commit()
        window = db.session.get(Window, window_id)
        app.extensions["directory"].forget()
        first_come.sync_window(db.session, app.extensions["stock"], window)


def residents(app, count: int):
    """Verified residents with live tokens."""
    with app.app_context():
        return make_residents(db.session, pii.vault, app.extensions["redis"], count,
                              prefix="t", first=next(_people))


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def approve_rules(app, announcement_id: int) -> None:
    """An operator approves the rules change an announcement proposes (the domain call the
    operator's console page makes, ``announcements.approve_rules``)."""
    with app.app_context():
        operator = db.session.scalars(select(Operator).order_by(Operator.id)).first()
        if operator is None:
            operator = create_operator(db.session, "operator.approver", "a long enough password")
        announcements.approve_rules(db.session, db.session.get(Announcement, announcement_id),
                                    operator, now())
        db.session.commit()
