"""Community staff: register a resident without a smartphone (ID card checked in person),
book or enter for them, review household registrations, and see the residents they helped
with the audit trail. Each action is the same domain call the community API makes, within
the staff member's district only."""

from __future__ import annotations

import unicodedata

from flask import Response, abort, current_app, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from wx_backend.booking import first_come, pickup
from wx_backend.config import signing_keys
from wx_backend.core import clock, regions
from wx_backend.core.errors import DomainError
from wx_backend.core.pii import INDEX_ID_NUMBER, INDEX_PHONE, mask_name
from wx_backend.extensions import db, pii
from wx_backend.identity import assisted, residents
from wx_backend.identity.residents import masked_profile
from wx_backend.lottery import pool
from wx_backend.models import AssistedAction, Booking, Campaign, Entry, Resident, Store
from wx_backend.waitlist import registrations
from wx_backend.web.console import paging
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp

ROLE = "community"
KINDS = {"register": "登记", "book": "代预约", "enter": "代登记摇号", "review": "审核"}


def _campaigns(now) -> list:
    """Every campaign as its snapshot (rules in force, stores, windows)."""
    directory = current_app.extensions["directory"]
    ids = db.session.scalars(select(Campaign.id).order_by(Campaign.id)).all()
    return [directory.snapshot(db.session, cid, now) for cid in ids]




def _found_by(q: str) -> list[int] | None:
    """Residents a search names: a whole ID number or phone (found by their blind index:
    nothing of them is stored in the clear), or a reservation number; None: no search."""
    text = unicodedata.normalize("NFKC", q or "").strip()
    if not text:
        return None
    ids = set()
    try:
        number = residents.normalise_id_number(text)
        ids |= set(db.session.scalars(select(Resident.id).where(
            Resident.id_number_index == pii.vault.blind_index(number, INDEX_ID_NUMBER))))
    except DomainError:
        pass
    try:
        phone = residents.normalise_phone(text)
        ids |= set(db.session.scalars(select(Resident.id).where(
            Resident.phone_index == pii.vault.blind_index(phone, INDEX_PHONE))))
    except DomainError:
        pass
    if text.isascii() and text.isdigit() and len(text) == 8:
        ids |= set(db.session.scalars(select(Booking.resident_id).where(
            Booking.reservation_no == text)))
        ids |= set(db.session.scalars(select(Entry.resident_id).where(
            Entry.reservation_no == text)))
    return sorted(ids)


@bp.get("/community")
@requires(ROLE)
def community():
    """The residents of this worker's district, newest first, 50 a page: all of them, or
    those this worker helped; found by a whole ID number, phone or reservation number."""
    within = regions.prefix(g.actor.district_code)
    mine = request.args.get("mine") == "1"
    q = request.args.get("q") or ""
    query = select(Resident).where(Resident.profile_completed_at.is_not(None),
                                   Resident.district_code.startswith(within or "-",
                                                                     autoescape=True))
    if mine:
        query = query.where(Resident.id.in_(select(AssistedAction.resident_id).where(
            AssistedAction.staff_id == g.actor.id)))
    found = _found_by(q)
    if found is not None:
        query = query.where(Resident.id.in_(found))
    page = paging.of_query(db.session, query, Resident.id.desc())
    people = page.rows
    last = dict(db.session.execute(
        select(AssistedAction.resident_id, func.max(AssistedAction.at))
        .where(AssistedAction.resident_id.in_([p.id for p in people]))
        .group_by(AssistedAction.resident_id)).all())
    rows = [{"id": p.id, "name": mask_name(p.name), "profile": masked_profile(p),
             "last": last.get(p.id)} for p in people]
    queues = [s for s in _campaigns(clock.now()) if s.rules.allocation == "queue"]
    return render_template("console/community/home.html", rows=rows, queues=queues, q=q,
                           mine=mine, page=page, searched=found is not None)


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
        queues=[s for s in campaigns if s.rules.allocation == "queue"],
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
    try:
        campaign_id, store_id = int(request.form["campaign_id"]), int(request.form["store_id"])
    except (KeyError, ValueError):
        return _resident_page(resident_id, {"kind": "error", "text": "请选择活动和药店"}, 422)
    try:
        made = assisted.book_for(db.session, current_app.extensions["stock"],
                                 current_app.extensions["directory"], pii.vault, g.actor,
                                 resident_id, campaign_id, store_id, clock.now())
    except DomainError as refused:
        db.session.rollback()
        return _resident_page(resident_id, {"kind": "error", "text": refused.message},
                              refused.status)
    db.session.commit()
    return _resident_page(resident_id, {"kind": "ok", "text":
                          f"预约成功：预约号 {made['reservation_no']}，取货码 {made['pickup_code']}"
                          "（短信已发到登记的手机号，也可在下方打印取货单）"})


@bp.post("/community/residents/<int:resident_id>/enter")
@requires(ROLE)
def community_enter(resident_id: int):
    """Enter the resident in a lottery campaign."""
    try:
        raw_store = request.form.get("store_id") or ""
        entry = assisted.enter_for(db.session, pii.vault, g.actor, resident_id,
                                   int(request.form["campaign_id"]), clock.now(),
                                   store_id=int(raw_store) if raw_store.isdigit() else None)
    except (KeyError, ValueError):
        return _resident_page(resident_id, {"kind": "error", "text": "请选择摇号活动"}, 422)
    except DomainError as refused:
        db.session.rollback()
        return _resident_page(resident_id, {"kind": "error", "text": refused.message},
                              refused.status)
    db.session.commit()
    what = "排队登记（待居委会审核）" if entry.store_id else "摇号登记"
    return _resident_page(resident_id, {"kind": "ok",
                                        "text": f"已完成{what}，编号 {entry.reservation_no}"})


@bp.get("/community/registrations")
@requires(ROLE)
def community_registrations():
    """Pending household registrations of a queue campaign in this district."""
    raw = request.args.get("campaign_id", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return redirect(url_for("console.community"))
    pending = registrations.pending_in_district(db.session, g.actor, int(raw))
    q = unicodedata.normalize("NFKC", request.args.get("q") or "").strip()
    if q:
        pending = [one for one in pending
                   if one.entry.reservation_no.startswith(q) or q in one.resident.address]
    return render_template("console/community/registrations.html",
                           page=paging.of_list(pending), q=q, campaign_id=int(raw),
                           mask_name=mask_name)


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
        # Said beside the form, which stays as it was filled in.
        return render_template("console/_notice.html", text=refused.message, kind="error"), \
            refused.status, {"HX-Retarget": f"#review-{entry_id}", "HX-Reswap": "innerHTML"}
    db.session.commit()
    text = "已通过" if approve else f"已驳回：{reason}"
    return render_template("console/_notice.html", text=f"{entry.reservation_no} {text}",
                           kind="ok")


def _booking_of(resident_id: int, booking_id: int) -> tuple[Resident, Booking]:
    resident = assisted.resident_in_district(db.session, g.actor, resident_id)
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.resident_id != resident.id:
        abort(404)
    return resident, booking


@bp.get("/community/residents/<int:resident_id>/bookings/<int:booking_id>/slip")
@requires(ROLE)
def community_slip(resident_id: int, booking_id: int):
    """A pickup slip to print for a resident without a phone: the store, the time, the
    reservation number, the pickup code and its QR, and what to bring."""
    resident, booking = _booking_of(resident_id, booking_id)
    store = db.session.get(Store, booking.store_id)
    rules = current_app.extensions["directory"].snapshot(
        db.session, booking.campaign_id, clock.now()).rules
    return render_template("console/community/slip.html", booking=booking, store=store,
                           holder=mask_name(resident.name), zone=rules.zone, resident=resident,
                           delegates=rules.delegate_pickup)


@bp.get("/community/residents/<int:resident_id>/bookings/<int:booking_id>/qrcode.png")
@requires(ROLE)
def community_slip_qr(resident_id: int, booking_id: int):
    """The booking's pickup QR, for the printed slip."""
    _resident, booking = _booking_of(resident_id, booking_id)
    png = pickup.qr_png(pickup.qr_token(signing_keys(current_app.config), booking))
    return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})
