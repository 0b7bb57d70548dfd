"""Operators: every campaign with its window open now and what is left of it, and the
messages that failed."""

from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy import func, select

from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.models import Campaign, Delivery
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp


@bp.get("/operator")
@requires("operator")
def operator():
    """Campaigns at a glance, and deliveries by status."""
    now = clock.now()
    directory, stock = current_app.extensions["directory"], current_app.extensions["stock"]
    rows = []
    for campaign_id in db.session.scalars(select(Campaign.id).order_by(Campaign.id)):
        snapshot = directory.snapshot(db.session, campaign_id, now)
        window = snapshot.window_at(now)
        left = stock.left(window.id, [])[0] if window and stock.is_loaded(window.id) else None
        rows.append({"snapshot": snapshot, "window": window, "left": left,
                     "next": snapshot.next_window(now)})
    deliveries = dict(db.session.execute(select(Delivery.status, func.count())
                                         .group_by(Delivery.status)).all())
    return render_template("console/operator/home.html", rows=rows, deliveries=deliveries,
                           zone_of=lambda s: s.rules.zone)
