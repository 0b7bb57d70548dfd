"""Pickup: the signed QR token, its PNG, and redemption by pharmacy staff.

The QR code carries ``itsdangerous``-signed ``{"b": booking id, "c": pickup code}``, signed
with the current ``SECRET_KEY`` and still read under the keys it replaced
(``SECRET_KEY_FALLBACKS``: a rotation leaves the codes residents already hold valid); staff
scan it or type the 6-digit pickup code, and check the holder's ID card against the last
four characters of the ID number on file. A delegate (when the rules allow) shows both ID
cards; their name and ID number are recorded, encrypted. Marking collected is one
conditional UPDATE, so two counters scanning the same code at once collect it once.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import qrcode
from itsdangerous import BadSignature, URLSafeSerializer
from qrcode.image.pure import PyPNGImage
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wx_backend.campaigns.manage import rules_in_force
from wx_backend.core.canonical import id_tail
from wx_backend.core.clock import BEIJING
from wx_backend.core.errors import Conflict, Forbidden, NotFound
from wx_backend.core.pii import mask_name
from wx_backend.identity.accounts import audit
from wx_backend.models import Booking, Resident, Staff, Store

_SALT = "pickup-qr"

# The signing key, or the keys oldest first with the current one last (config.signing_keys).
Keys = str | Sequence[str]


def qr_token(keys: Keys, booking: Booking) -> str:
    """The token a booking's QR code carries, signed with the current key."""
    return URLSafeSerializer(keys, salt=_SALT).dumps({"b": booking.id, "c": booking.pickup_code})


def read_qr_token(keys: Keys, token: str) -> tuple[int, str]:
    """(booking id, pickup code) from a scanned token signed with any of ``keys``, or
    NotFound if forged or damaged."""
    try:
        data = URLSafeSerializer(keys, salt=_SALT).loads(token)
        return int(data["b"]), str(data["c"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise NotFound("invalid_qr", "二维码无效，请让居民出示短信中的取货码",
                       fields={"qr": "无效的二维码"}) from None


def qr_png(token: str) -> bytes:
    """A PNG QR code of ``token``."""
    image = qrcode.make(token, image_factory=PyPNGImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Delegate:
    """Someone collecting for the booking's holder, with both ID cards."""

    name: str
    id_number: str


def find_for_counter(session: Session, keys: Keys, staff: Staff, scanned: str,
                     now: datetime) -> Booking:
    """The booking a counter's input names: a scanned QR payload, a 6-digit pickup code
    or an 8-digit reservation number (of this store; the code's most current booking).
    NotFound or Forbidden (another store's) otherwise."""
    text = (scanned or "").strip()
    if text.isascii() and text.isdigit() and len(text) in (6, 8):
        column = Booking.pickup_code if len(text) == 6 else Booking.reservation_no
        booking = session.scalars(
            select(Booking).where(Booking.store_id == staff.store_id, column == text)
            .order_by((Booking.status.in_(("confirmed", "collected"))).desc(),
                      (Booking.pickup_starts_at <= now).desc(), Booking.pickup_ends_at.desc())
            .limit(1)).first()
    else:
        booking_id, code = read_qr_token(keys, text)
        booking = session.get(Booking, booking_id)
        if booking is not None and booking.pickup_code != code:
            booking = None
    if booking is None:
        raise NotFound("booking_not_found", "没有找到该取货码、预约号或二维码对应的预约")
    if booking.store_id != staff.store_id:
        raise Forbidden("wrong_store", "该预约不是在本店取货，请居民到预约的药店取货")
    return booking


def collected_by_whom(session: Session, booking: Booking) -> str:
    """Who took a collected booking's portion, and who handed it over, for staff."""
    staff = session.get(Staff, booking.collected_by) if booking.collected_by else None
    by = f"由代取人{mask_name(booking.delegate_name)}代取" if booking.delegate_name \
        else "由预约人本人取走"
    return by + (f"（经办：{staff.username}）" if staff is not None else "")


def redeem(session: Session, keys: Keys, staff: Staff, *, scanned: str, id_last4: str,
           delegate: Delegate | None, now: datetime) -> Booking:
    """Mark the booking collected at the staff member's store, exactly once, and write
    it to the audit trail: the one call of every counter (the staff API and the console).
    The caller commits.

    ``scanned`` names the booking: a QR payload, a pickup code or a reservation number
    (``find_for_counter``). A delegate collects only where the rules in force allow it.
    Errors: ``booking_not_found``, ``invalid_qr``, ``wrong_store``, ``outside_pickup_window``,
    ``already_collected`` (saying when and by whom), ``not_collectable``, ``id_mismatch``,
    ``delegate_not_allowed``.
    """
    booking = find_for_counter(session, keys, staff, scanned, now)
    if booking.status == "collected":
        local = booking.collected_at.astimezone(BEIJING)
        raise Conflict("already_collected", f"该预约已于{local:%m-%d %H:%M}"
                       f"{collected_by_whom(session, booking)}，不能重复取货")
    if booking.status != "confirmed":
        raise Conflict("not_collectable", {"cancelled": "该预约已取消",
                                           "expired": "该预约已过期"}[booking.status])
    if not booking.pickup_starts_at <= now < booking.pickup_ends_at:
        raise Conflict("outside_pickup_window", "不在取货时间内",
                       pickup_starts_at=booking.pickup_starts_at.isoformat(),
                       pickup_ends_at=booking.pickup_ends_at.isoformat())
    holder = session.get(Resident, booking.resident_id)
    if holder.id_number[-4:].upper() != id_tail(id_last4):
        raise Forbidden("id_mismatch", "身份证号后四位与预约人不符",
                           fields={"id_last4": "与预约人不符"})
    if delegate is not None and not rules_in_force(session, booking.campaign_id,
                                                    now)[1].delegate_pickup:
        raise Conflict("delegate_not_allowed", "本活动不允许他人代取")
    collected = session.execute(
        update(Booking).where(Booking.id == booking.id, Booking.status == "confirmed")
        .values(status="collected", collected_at=now, collected_by=staff.id,
                delegate_name=delegate.name if delegate else None,
                delegate_id_number=delegate.id_number if delegate else None)
        .returning(Booking.id)).scalar_one_or_none()
    if collected is None:
        raise Conflict("already_collected", "该预约刚刚已被取货，不能重复取货")
    session.refresh(booking)
    audit(session, "pharmacy", staff, "redeem", f"booking {booking.id}",
          {"reservation_no": booking.reservation_no, "delegate": delegate is not None})
    return booking


def store_day(session: Session, staff: Staff, day: date) -> dict:
    """The staff member's store on ``day``: booked, collected, waiting, cancelled."""
    store = session.get(Store, staff.store_id)
    counts = dict(session.execute(
        select(Booking.status, func.count()).where(Booking.store_id == store.id,
                                                  Booking.pickup_date == day)
        .group_by(Booking.status)).all())
    return {"store": {"id": store.id, "name": store.name, "daily_cap": store.daily_cap},
            "pickup_date": day.isoformat(),
            "booked": sum(counts.get(s, 0) for s in ("confirmed", "collected", "expired")),
            "collected": counts.get("collected", 0),
            "waiting": counts.get("confirmed", 0),
            "cancelled": counts.get("cancelled", 0)}
