"""Editors: their announcements as they stand (draft, scheduled, published, retracted)."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.models import Announcement
from wx_backend.official_account.announcements import announcement_body
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp

STATUS_NAMES = {"draft": "草稿", "scheduled": "定时发布", "published": "已发布",
                "retracted": "已撤回"}


@bp.get("/editor")
@requires("editor")
def editor():
    """Announcements, newest first, with their state and rules change."""
    now = clock.now()
    found = db.session.scalars(select(Announcement).order_by(Announcement.id.desc())
                               .limit(200)).all()
    return render_template("console/editor/home.html", statuses=STATUS_NAMES,
                           announcements=[announcement_body(a, now) for a in found])
