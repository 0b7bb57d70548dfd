"""Operators approve the rules changes editors propose in announcements: each waiting
draft with the rules before and after, and one button that approves exactly that change
(``announcements.approve_rules``, audited). Until then the editor cannot schedule or
publish it."""

from __future__ import annotations

from flask import g, render_template

from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.models import Campaign
from wx_backend.official_account import announcements
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp

ROLE = "operator"


def _page(notice: dict | None = None, status: int = 200):
    now = clock.now()
    waiting = []
    for found in announcements.awaiting_approval(db.session):
        preview = announcements.preview(db.session, found, now)
        waiting.append({"announcement": found, "rules": preview.get("rules"),
                        "campaign": db.session.get(Campaign, found.campaign_id)})
    db.session.rollback()
    return render_template("console/operator/approvals.html", waiting=waiting,
                           notice=notice), status


@bp.get("/operator/approvals")
@requires(ROLE)
def operator_approvals():
    """Rules changes awaiting an operator's approval."""
    return _page()


@bp.post("/operator/approvals/<int:announcement_id>/approve")
@requires(ROLE)
def operator_approve(announcement_id: int):
    """Approve one proposed rules change, as it stands now."""
    found = announcements.get(db.session, announcement_id, for_update=True)
    announcements.approve_rules(db.session, found, g.actor, clock.now())
    db.session.commit()
    return _page({"kind": "ok", "text": f"已批准“{found.title}”的规则调整；编辑现在可以发布它。"})
