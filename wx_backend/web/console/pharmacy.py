"""Pharmacy staff: redeem pickups at the counter, see the store's day, and look up one of
the store's bookings. Redemption is ``pickup.redeem``, the same call the staff API makes."""

from __future__ import annotations

import re

from flask import abort, current_app, g, render_template, request

from wx_backend.booking import pickup
from wx_backend.config import signing_keys
from wx_backend.core import clock
from wx_backend.core.canonical import id_tail
from wx_backend.core.errors import DomainError
from wx_backend.core.pii import mask_name
from wx_backend.extensions import db
from wx_backend.identity import residents
from wx_backend.identity.accounts import audit
from wx_backend.models import Booking, Resident, Store
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp

ROLE = "pharmacy"
_CODE = re.compile(r"^[0-9]{6}$")


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


@bp.post("/pharmacy/redeem")
@requires(ROLE)
def pharmacy_redeem():
    """Redeem by typed code or scanned QR payload, after the last four of the ID card."""
    form = request.form
    scanned = (form.get("code") or "").strip()
    last4 = form.get("id_last4") or ""
    fields = {}
    if not scanned:
        fields["code"] = "请扫描二维码或输入6位取货码"
    elif not _CODE.match(scanned) and len(scanned) < 20:
        fields["code"] = "取货码是6位数字；扫码时请把光标放在此框"
    try:
        last4 = id_tail(last4)
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
        return render_template("console/pharmacy/_result.html", fields=fields, outcome=None)
    now = clock.now()
    snapshot = _snapshot(now)
    try:
        booking = pickup.redeem(
            db.session, signing_keys(current_app.config), g.actor,
            pickup_code=scanned if _CODE.match(scanned) else None,
            qr=None if _CODE.match(scanned) else scanned, id_last4=last4, delegate=delegate,
            delegates_allowed=snapshot.rules.delegate_pickup, now=now)
    except DomainError as refused:
        db.session.rollback()
        return render_template("console/pharmacy/_result.html", fields={},
                               outcome={"ok": False, "code": refused.code,
                                        "message": refused.message})
    audit(db.session, ROLE, g.actor, "redeem", f"booking {booking.id}",
          {"reservation_no": booking.reservation_no, "delegate": delegate is not None})
    db.session.commit()
    holder = db.session.get(Resident, booking.resident_id)
    return render_template("console/pharmacy/_result.html", fields={}, outcome={
        "ok": True, "booking": booking, "holder": mask_name(holder.name),
        "delegate": mask_name(delegate.name) if delegate else None,
        "collected_at": booking.collected_at.astimezone(snapshot.rules.zone)})


@bp.get("/pharmacy/bookings/<int:booking_id>")
@requires(ROLE)
def pharmacy_booking(booking_id: int):
    """One booking of this store (a booking of another store is not found here)."""
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.store_id != g.actor.store_id:
        abort(404)
    holder = db.session.get(Resident, booking.resident_id)
    zone = _snapshot(clock.now()).rules.zone
    return render_template("console/pharmacy/booking.html", booking=booking,
                           holder=mask_name(holder.name), zone=zone)
