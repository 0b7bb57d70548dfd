"""Routes of the mini-program API for lottery campaigns: entering the pool, one's entries."""

from __future__ import annotations

from datetime import datetime, timezone

from wx_backend import lottery
from wx_backend.extensions import db
from wx_backend.miniprogram_api import bp
from wx_backend.miniprogram_api.auth import auth, current_resident_id
from wx_backend.models import Campaign, Entry


@bp.post("/campaigns/<int:campaign_id>/entries")
@bp.auth_required(auth)
@bp.doc(summary="登记摇号（摇号活动）", security="BearerAuth",
        responses={404: "活动不存在", 409: "not_a_lottery / already_entered / reenter_later /"
                                           " profile_incomplete"})
def create_entry(campaign_id: int):
    """Enter the campaign's pool; answers the 8-digit reservation number."""
    entry = lottery.enter(db.session, campaign_id, current_resident_id(),
                          datetime.now(timezone.utc))
    db.session.commit()
    return lottery.entry_body(entry, db.session.get(Campaign, campaign_id)), 201


@bp.get("/me/entries")
@bp.auth_required(auth)
@bp.doc(summary="我的摇号登记")
def my_entries():
    """The resident's entries, newest first."""
    rows = db.session.execute(
        db.select(Entry, Campaign).join(Campaign, Campaign.id == Entry.campaign_id)
        .where(Entry.resident_id == current_resident_id())
        .order_by(Entry.id.desc()).limit(100)).all()
    return {"entries": [lottery.entry_body(entry, campaign) for entry, campaign in rows]}
