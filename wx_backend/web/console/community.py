"""Community staff: register a resident without a smartphone (ID card checked in person),
book or enter for them, review household registrations, and see the residents they helped
with the audit trail. Each action is the same domain call the community API makes, within
the staff member's district only."""

from __future__ import annotations

from flask import current_app, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from wx_backend.booking import first_come
from wx_backend.core import clock, regions
from wx_backend.core.errors import DomainError
from wx_backend.core.pii import mask_name
from wx_backend.extensions import db, pii
from wx_backend.identity import assisted
from wx_backend.identity.accounts import audit
from wx_backend.identity.residents import masked_profile
from wx_backend.lottery import pool
from wx_backend.models import AssistedAction, Campaign, Entry, Resident
from wx_backend.waitlist import registrations
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp

ROLE = "community"
KINDS = {"register": "登记", "book": "代预约", "enter": "代登记摇号", "review": "审核"}


def _campaigns(now) -> list:
    """Every campaign as its snapshot (rules in force, stores, windows)."""
    directory = current_app.extensions["directory"]
    ids = db.session.scalars(select(Campaign.id).order_by(Campaign.id)).all()
    return [directory.snapshot(db.session, cid, now) for cid in ids]


@bp.get("/community")
@requires(ROLE)
def community():
    """The residents this worker helped, newest first."""
    helped = db.session.execute(
        select(AssistedAction.resident_id, func.max(AssistedAction.at).label("last"))
        .where(AssistedAction.staff_id == g.actor.id)
        .group_by(AssistedAction.resident_id).order_by(func.max(AssistedAction.at).desc())
        .limit(200)).all()
    people = {r.id: r for r in db.session.scalars(
        select(Resident).where(Resident.id.in_([h.resident_id for h in helped])))}
    rows = [{"id": h.resident_id, "name": mask_name(people[h.resident_id].name),
             "last": h.last} for h in helped]
    queues = [s for s in _campaigns(clock.now()) if s.rules.allocation == "queue"]
    return render_template("console/community/home.html", rows=rows, queues=queues)


@bp.route("/community/register", methods=["GET", "POST"])
@requires(ROLE)
def community_register():
    """Register a resident of this district, the ID card checked in person."""
    form, errors, message = dict(request.form), {}, None
    if request.method == "POST":
        data = {k: form.get(k, "") for k in ("name", "id_number", "phone", "address",
                                             "district_code")}
        data["promise"] = form.get("promise") == "on"
        try:
            resident = assisted.register(db.session, pii.vault, g.actor, data, clock.now())
        except DomainError as refused:
            db.session.rollback()
            errors, message = refused.fields or {}, refused.message
        else:
            audit(db.session, ROLE, g.actor, "register_resident", f"resident {resident.id}")
            db.session.commit()
            return redirect(url_for("console.community_resident", resident_id=resident.id))
    return render_template("console/community/register.html", form=form, errors=errors,
                           message=message,
                           districts=regions.districts_in(g.actor.district_code or "")), \
        422 if message else 200


def _resident_page(resident_id: int, notice: dict | None = None, status: int = 200):
    resident = assisted.resident_in_district(db.session, g.actor, resident_id)
    now = clock.now()
    campaigns = _campaigns(now)
    entries = db.session.scalars(select(Entry).where(Entry.resident_id == resident.id)
                                 .order_by(Entry.id.desc())).all()
    return render_template(
        "console/community/resident.html", resident=resident, profile=masked_profile(resident),
        bookings=first_come.bookings_of(db.session, current_app.extensions["directory"],
                                        resident.id, now),
        entries=[pool.entry_body(e) for e in entries],
        actions=assisted.actions_of(db.session, resident.id), kinds=KINDS,
        open_fcfs=[s for s in campaigns if s.rules.allocation == "fcfs" and s.window_at(now)],
        lotteries=[s for s in campaigns if s.rules.allocation == "lottery"],
        notice=notice), status


@bp.get("/community/residents/<int:resident_id>")
@requires(ROLE)
def community_resident(resident_id: int):
    """A resident of this district: profile (masked), bookings, entries, audit trail."""
    return _resident_page(resident_id)


@bp.post("/community/residents/<int:resident_id>/book")
@requires(ROLE)
def community_book(resident_id: int):
    """Book for the resident under the same rules and limits as everyone."""
    resident = assisted.resident_in_district(db.session, g.actor, resident_id)
    try:
        campaign_id, store_id = int(request.form["campaign_id"]), int(request.form["store_id"])
    except (KeyError, ValueError):
        return _resident_page(resident_id, {"kind": "error", "text": "请选择活动和药店"}, 422)
    now = clock.now()
    directory = current_app.extensions["directory"]
    try:
        made = first_come.book_for_resident(
            db.session, current_app.extensions["stock"], directory,
            directory.snapshot(db.session, campaign_id, now), pii.vault, resident.id,
            store_id, now)
    except DomainError as refused:
        db.session.rollback()
        return _resident_page(resident_id, {"kind": "error", "text": refused.message}, 409)
    assisted.record(db.session, g.actor, resident.id, "book",
                    {"campaign_id": campaign_id, "booking_id": made["id"],
                     "reservation_no": made["reservation_no"]})
    audit(db.session, ROLE, g.actor, "book_for_resident", f"booking {made['id']}",
          {"resident_id": resident.id})
    db.session.commit()
    return _resident_page(resident_id, {"kind": "ok", "text":
                          f"预约成功：预约号 {made['reservation_no']}，取货码 {made['pickup_code']}"
                          "（短信已发到登记的手机号）"})


@bp.post("/community/residents/<int:resident_id>/enter")
@requires(ROLE)
def community_enter(resident_id: int):
    """Enter the resident in a lottery campaign."""
    resident = assisted.resident_in_district(db.session, g.actor, resident_id)
    try:
        campaign_id = int(request.form["campaign_id"])
        entry = pool.enter(db.session, campaign_id, resident.id, clock.now(), pii.vault)
    except (KeyError, ValueError):
        return _resident_page(resident_id, {"kind": "error", "text": "请选择摇号活动"}, 422)
    except DomainError as refused:
        db.session.rollback()
        return _resident_page(resident_id, {"kind": "error", "text": refused.message}, 409)
    assisted.record(db.session, g.actor, resident.id, "enter",
                    {"campaign_id": campaign_id, "reservation_no": entry.reservation_no})
    audit(db.session, ROLE, g.actor, "enter_for_resident", f"entry {entry.id}")
    db.session.commit()
    return _resident_page(resident_id, {"kind": "ok",
                                        "text": f"已登记摇号，编号 {entry.reservation_no}"})


@bp.get("/community/registrations")
@requires(ROLE)
def community_registrations():
    """Pending household registrations of a queue campaign in this district."""
    raw = request.args.get("campaign_id", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return redirect(url_for("console.community"))
    pending = registrations.pending_in_district(db.session, g.actor, int(raw))
    return render_template("console/community/registrations.html", pending=pending,
                           campaign_id=int(raw), mask_name=mask_name)


@bp.post("/community/registrations/<int:entry_id>/review")
@requires(ROLE)
def community_review(entry_id: int):
    """Approve, or reject with a reason (htmx: the row is replaced by the outcome)."""
    approve = request.form.get("decision") == "approve"
    reason = (request.form.get("reason") or "").strip() or None
    try:
        entry = registrations.review(db.session, g.actor, entry_id, approve, reason,
                                     clock.now())
    except DomainError as refused:
        db.session.rollback()
        return render_template("console/_notice.html", text=refused.message, kind="error")
    audit(db.session, ROLE, g.actor, "review", f"entry {entry.id}",
          {"approve": approve, "reason": reason})
    db.session.commit()
    text = "已通过" if approve else f"已驳回：{reason}"
    return render_template("console/_notice.html", text=f"{entry.reservation_no} {text}",
                           kind="ok")
