"""Pharmacy staff: redeem pickups at the counter, see the store's day, and look up one of
the store's bookings (by reservation number, pickup code or QR). Redemption is
``pickup.redeem``, the same call the staff API makes, with the same refusals and audit."""

from __future__ import annotations

import unicodedata
from datetime import date

from flask import abort, current_app, g, render_template, request
from sqlalchemy import or_, select

from wx_backend.booking import pickup
from wx_backend.config import signing_keys
from wx_backend.core import clock
from wx_backend.core.canonical import id_tail
from wx_backend.core.errors import DomainError, InvalidInput
from wx_backend.core.pii import mask_name
from wx_backend.extensions import db
from wx_backend.identity import residents
from wx_backend.models import Booking, Resident, Store
from wx_backend.waitlist import registrations
from wx_backend.web.console import paging
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp
from wx_backend.web.console.words import BOOKING_STATUSES

ROLE = "pharmacy"
STATUSES = BOOKING_STATUSES


def _snapshot(now):
    """The campaign of this staff member's store, as the booking path sees it."""
    store = db.session.get(Store, g.actor.store_id)
    return current_app.extensions["directory"].snapshot(db.session, store.campaign_id, now)


def _day(now):
    snapshot = _snapshot(now)
    return snapshot, pickup.store_day(db.session, g.actor, now.astimezone(snapshot.rules.zone)
                                      .date())


@bp.get("/pharmacy")
@requires(ROLE)
def pharmacy():
    """The counter: the code box has focus, so a USB scanner's keystrokes land in it."""
    snapshot, day = _day(clock.now())
    return render_template("console/pharmacy/redeem.html", day=day,
                           delegates=snapshot.rules.delegate_pickup)


@bp.get("/pharmacy/day")
@requires(ROLE)
def pharmacy_day():
    """The store's day as a fragment (refreshed after each redemption)."""
    return render_template("console/pharmacy/_day.html", day=_day(clock.now())[1])


def _scanned(raw: str) -> tuple[str, str | None]:
    """The counter's input and what is wrong with its form, if anything: a 6-digit pickup
    code, an 8-digit reservation number, or a scanned QR payload."""
    scanned = unicodedata.normalize("NFKC", raw or "").strip()
    if not scanned:
        return scanned, "请扫描二维码，或输入6位取货码或8位预约号"
    if scanned.isascii() and scanned.isdigit():
        return scanned, None if len(scanned) in (6, 8) else "取货码是6位数字，预约号是8位数字"
    if len(scanned) < 20:
        return scanned, "取货码是6位数字；扫码时请把光标放在此框"
    return scanned, None


@bp.post("/pharmacy/redeem")
@requires(ROLE)
def pharmacy_redeem():
    """Redeem by scanned QR payload, pickup code or reservation number, after the last
    four of the ID card: ``pickup.redeem``, the call the staff API makes too. A refusal
    answers 4xx with the reason and leaves the form as it was typed; only a redemption
    empties it for the next resident."""
    form = request.form
    scanned, problem = _scanned(form.get("code"))
    fields = {"code": problem} if problem else {}
    try:
        last4 = id_tail(form.get("id_last4") or "")
    except DomainError as error:
        fields["id_last4"] = error.message
    delegate = None
    if (form.get("delegate_name") or "").strip() or (form.get("delegate_id") or "").strip():
        try:
            delegate = pickup.Delegate(residents.normalise_name(form.get("delegate_name", "")),
                                       residents.normalise_id_number(form.get("delegate_id", "")))
        except DomainError as error:
            fields["delegate"] = error.message
    if fields:
        return render_template("console/pharmacy/_result.html", fields=fields,
                               outcome=None), 422
    now = clock.now()
    try:
        booking = pickup.redeem(db.session, signing_keys(current_app.config), g.actor,
                                scanned=scanned, id_last4=last4, delegate=delegate, now=now)
    except DomainError as refused:
        db.session.rollback()
        return render_template("console/pharmacy/_result.html", fields=refused.fields or {},
                               outcome={"ok": False, "code": refused.code,
                                        "message": refused.message}), refused.status
    db.session.commit()
    holder = db.session.get(Resident, booking.resident_id)
    return render_template("console/pharmacy/_result.html", fields={}, outcome={
        "ok": True, "booking": booking, "holder": mask_name(holder.name),
        "delegate": mask_name(delegate.name) if delegate else None,
        "collected_at": booking.collected_at.astimezone(_snapshot(now).rules.zone)})


@bp.get("/pharmacy/lookup")
@requires(ROLE)
def pharmacy_lookup():
    """Find one of this store's bookings by reservation number, pickup code or QR, without
    redeeming it (a resident who lost the SMS, a question at the counter)."""
    scanned, problem = _scanned(request.args.get("q"))
    if problem:
        return render_template("console/pharmacy/_result.html", fields={"q": problem},
                               outcome=None), 422
    try:
        booking = pickup.find_for_counter(db.session, signing_keys(current_app.config),
                                          g.actor, scanned, clock.now())
    except DomainError as refused:
        return render_template("console/pharmacy/_result.html", fields={},
                               outcome={"ok": False, "code": refused.code,
                                        "message": refused.message}), refused.status
    return _booking_page(booking, "console/pharmacy/_booking.html")


@bp.get("/pharmacy/bookings/<int:booking_id>")
@requires(ROLE)
def pharmacy_booking(booking_id: int):
    """One booking of this store (a booking of another store is not found here)."""
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.store_id != g.actor.store_id:
        abort(404)
    return _booking_page(booking, "console/pharmacy/booking.html")


def _booking_page(booking: Booking, template: str):
    holder = db.session.get(Resident, booking.resident_id)
    zone = _snapshot(clock.now()).rules.zone
    collected = (pickup.collected_by_whom(db.session, booking)
                 if booking.status == "collected" else None)
    return render_template(template, booking=booking, holder=mask_name(holder.name),
                           zone=zone, collected=collected, statuses=STATUSES)



@bp.get("/pharmacy/bookings")
@requires(ROLE)
def pharmacy_bookings():
    """The store's bookings of a day, newest first, found by reservation number or pickup
    code and by status, 50 a page."""
    now = clock.now()
    zone = _snapshot(now).rules.zone
    try:
        day = date.fromisoformat(request.args.get("day") or "")
    except ValueError:
        day = now.astimezone(zone).date()
    q = unicodedata.normalize("NFKC", request.args.get("q") or "").strip()
    status = request.args.get("status") or ""
    query = select(Booking).where(Booking.store_id == g.actor.store_id,
                                  Booking.pickup_date == day)
    if q:
        query = query.where(or_(Booking.reservation_no.startswith(q, autoescape=True),
                                Booking.pickup_code == q))
    if status in STATUSES:
        query = query.where(Booking.status == status)
    page = paging.of_query(db.session, query, Booking.created_at.desc(), Booking.id.desc())
    rows = page.rows
    holders = {r.id: r for r in db.session.scalars(
        select(Resident).where(Resident.id.in_([b.resident_id for b in rows])))}
    listed = [{"booking": b, "holder": mask_name(holders[b.resident_id].name),
               "status": STATUSES[b.status],
               "collected": pickup.collected_by_whom(db.session, b)
               if b.status == "collected" else None} for b in rows]
    return render_template("console/pharmacy/bookings.html", listed=listed, day=day, q=q,
                           status=status, statuses=STATUSES, page=page, zone=zone)


# -- queue campaigns (Shanghai): the day's supply releases vouchers, the counter takes them --

def _queue_page(notice: dict | None = None, preview: dict | None = None, status: int = 200):
    snapshot = _snapshot(clock.now())
    if snapshot.rules.queue is None:
        abort(404)
    return render_template("console/pharmacy/queue.html", notice=notice, preview=preview,
                           progress=registrations.progress(db.session, g.actor.store_id),
                           store=db.session.get(Store, g.actor.store_id),
                           voucher_days=snapshot.rules.queue.voucher_days), status


def _units(raw: str | None) -> int | None:
    text = unicodedata.normalize("NFKC", raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= 100_000 else None


@bp.get("/pharmacy/queue")
@requires(ROLE)
def pharmacy_queue():
    """The pharmacy's queue: how many households wait, how many vouchers are out, and the
    form for the day's supply."""
    return _queue_page()


@bp.post("/pharmacy/queue/preview")
@requires(ROLE)
def pharmacy_queue_preview():
    """What entering this supply would do: the registrations that get vouchers, in order,
    before anything is released."""
    units = _units(request.form.get("units"))
    if units is None:
        return _queue_page({"kind": "error", "text": "到货份数应为1到100000的整数"}, status=422)
    chosen = registrations.next_in_line(db.session, g.actor, units)
    return _queue_page(preview={"units": units, "entries": chosen,
                                "short": max(0, units - len(chosen))})


@bp.post("/pharmacy/queue/release")
@requires(ROLE)
def pharmacy_queue_release():
    """Release the vouchers the preview showed (``registrations.release``, the call the
    staff API makes; their holders are told once it is committed)."""
    units = _units(request.form.get("units"))
    if units is None:
        return _queue_page({"kind": "error", "text": "到货份数应为1到100000的整数"}, status=422)
    released = registrations.release(db.session, g.actor, units, clock.now())
    db.session.commit()
    if not released:
        return _queue_page({"kind": "error", "text": "没有排队等待的登记，没有发放凭证"})
    numbers = "、".join(entry.reservation_no for entry in released)
    return _queue_page({"kind": "ok", "text": (
        f"已按登记号顺序发放 {len(released)} 张购买凭证：{numbers}。居民会收到短信通知。")})


@bp.route("/pharmacy/vouchers", methods=["GET", "POST"])
@requires(ROLE)
def pharmacy_vouchers():
    """Take a voucher at the counter: its 6-digit code and the holder's ID card."""
    outcome, status = None, 200
    if request.method == "POST":
        code = unicodedata.normalize("NFKC", request.form.get("voucher_code") or "").strip()
        try:
            if not (code.isascii() and code.isdigit() and len(code) == 6):
                raise InvalidInput("invalid_voucher", "凭证码应为6位数字",
                                   fields={"voucher_code": "凭证码应为6位数字"})
            entry = registrations.redeem(db.session, g.actor, code,
                                         request.form.get("id_last4") or "", clock.now())
        except DomainError as refused:
            db.session.rollback()
            outcome, status = {"ok": False, "message": refused.message}, refused.status
        else:
            db.session.commit()
            holder = db.session.get(Resident, entry.resident_id)
            outcome = {"ok": True, "entry": entry, "holder": mask_name(holder.name)}
    snapshot = _snapshot(clock.now())
    if snapshot.rules.queue is None:
        abort(404)
    return render_template("console/pharmacy/vouchers.html", outcome=outcome,
                           form=request.form, zone=snapshot.rules.zone), status


@bp.context_processor
def queue_counter() -> dict:
    """Whether the signed-in pharmacist's store sells by queue (the nav offers its pages)."""
    if g.get("role") != ROLE:
        return {}
    return {"queue_store": _snapshot(clock.now()).rules.queue is not None}
