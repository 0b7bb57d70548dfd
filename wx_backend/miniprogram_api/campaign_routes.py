"""Routes of the mini-program API: campaigns, stores and the resident's bookings."""

from __future__ import annotations

from datetime import datetime

from flask import Response, current_app, request

from wx_backend import notify
from wx_backend.booking import first_come, pickup
from wx_backend.campaigns.rules import DailyWindow
from wx_backend.config import signing_keys
from wx_backend.core import clock, regions
from wx_backend.extensions import db
from wx_backend.miniprogram_api.auth import auth, authenticate, current_resident_id
from wx_backend.miniprogram_api.blueprint import bp
from wx_backend.miniprogram_api.fast_booking import place_booking
from wx_backend.miniprogram_api.schemas import (
    AnnouncementsQuery,
    BookingHeaders,
    BookingIn,
    BookingList,
    BookingOut,
    StoresQuery,
)
from wx_backend.models import Booking, Campaign
from wx_backend.official_account import announcements
from wx_backend.web.public import cacheable


def _directory():
    return current_app.extensions["directory"]


def _stock():
    return current_app.extensions["stock"]


def _snapshot(campaign_id: int):
    return _directory().snapshot(db.session, campaign_id, clock.now())


def _window(window) -> dict | None:
    if window is None:
        return None
    return {"id": window.id, "opens_at": window.opens_at.isoformat(),
            "closes_at": window.closes_at.isoformat(), "quota": window.quota,
            "pickup_date": window.pickup_date.isoformat()}


def _campaign(snapshot, now: datetime) -> dict:
    rules = snapshot.rules
    return {
        "id": snapshot.id,
        "slug": snapshot.slug,
        "name": snapshot.name,
        "allocation": rules.allocation,
        "rules_version": snapshot.rules_version,
        "summary": rules.summary(),
        "waiting_room": rules.waiting_room is not None,
        "current_window": _window(snapshot.window_at(now)),
        "next_window": _window(snapshot.next_window(now)),
    }


# Read paths anyone may cache briefly (a CDN in front absorbs the crowd): endpoint -> the
# seconds of Cache-Control max-age. Each answers with an ETag, and 304 to If-None-Match.
CACHEABLE = {"list_campaigns": 5, "get_campaign": 5, "list_stores": 5,
             "list_announcements": 30}
NOT_MODIFIED = {200: "成功", 304: "未修改（If-None-Match 与 ETag 相同）"}


@bp.after_request
def cache_read_paths(response):
    seconds = CACHEABLE.get((request.endpoint or "").rpartition(".")[2])
    if seconds is None or request.method != "GET" or response.status_code != 200:
        return response
    return cacheable(response, seconds)


@bp.get("/campaigns")
@bp.doc(summary="进行中的活动", responses=NOT_MODIFIED)
def list_campaigns():
    """Every campaign with its rules version and current or next window."""
    now = clock.now()
    ids = db.session.scalars(db.select(Campaign.id).order_by(Campaign.id)).all()
    return {"campaigns": [_campaign(_snapshot(cid), now) for cid in ids]}


@bp.get("/campaigns/<int:campaign_id>")
@bp.doc(summary="活动详情：当前规则版本、时段、取货安排", responses=NOT_MODIFIED)
def get_campaign(campaign_id: int):
    """The campaign with the rules in force."""
    now = clock.now()
    snapshot = _snapshot(campaign_id)
    rules = snapshot.rules
    body = _campaign(snapshot, now)
    body["rules"] = {
        "portion": {"item": rules.item, "items": rules.items,
                    "unit_price_fen": rules.unit_price_fen},
        "limit": {"per": rules.per, "cooldown_days": rules.cooldown_days},
        "store_daily_cap": rules.store_daily_cap,
        "daily_windows": [{"opens": w.opens.strftime("%H:%M"), "closes": w.closes.strftime("%H:%M"),
                           "quota": w.quota} for w in rules.windows if isinstance(w, DailyWindow)],
        "pickup": {"day_offset": rules.pickup_day_offset,
                   "slots": [{"starts": s.starts.strftime("%H:%M"),
                              "ends": s.ends.strftime("%H:%M")}
                             for s in rules.pickup_slots]},
        "fulfilment": list(rules.fulfilment),
        "eligibility": {"districts": list(rules.districts)},
        # The city served, and its districts: the list a resident chooses theirs from.
        "city": None if rules.city is None else {
            "code": rules.city, "name": regions.label(rules.city),
            "districts": [{"code": d.code, "name": d.name}
                          for d in regions.districts_in(rules.city)]},
        "delegate_pickup": rules.delegate_pickup,
        "timezone": rules.timezone,
        "waiting_room": None if rules.waiting_room is None else {
            "admit_per_second": rules.waiting_room.admit_per_second,
            "joins_from_minutes": rules.waiting_room.joins_from_minutes,
            "admission_seconds": rules.waiting_room.admission_seconds,
            "sort_before_seconds": rules.waiting_room.sort_before_seconds},
    }
    if rules.allocation == "lottery":
        draws = rules.lottery
        body["rules"]["lottery"] = {
            "draw_every_days": draws.draw_every_days, "claim_hours": draws.claim_hours,
            "scheduled": draws.quota_per_draw > 0, "commit_at": draws.commit_at.strftime("%H:%M"),
            "draw_after_minutes": draws.draw_after_minutes}
    return body


@bp.get("/campaigns/<int:campaign_id>/stores")
@bp.input(StoresQuery, location="query", arg_name="query")
@bp.doc(summary="附近药店（由近到远）及本时段剩余", responses=NOT_MODIFIED)
def list_stores(campaign_id: int, query):
    """Stores nearest first with what is left in the current window, counted in Redis."""
    now = clock.now()
    snapshot = _snapshot(campaign_id)
    window = snapshot.window_at(now) or snapshot.next_window(now)
    ranked = snapshot.nearest_stores(query["lat"], query["lng"])[:query["limit"]]
    window_left, store_left = None, [None] * len(ranked)
    if window is not None:
        stock = _stock()
        if not stock.is_loaded(window.id):
            first_come.ensure_loaded(db.session, stock, window.id, now)
        window_left, store_left = stock.left(
            window.id, [(store.id, window.pickup_date) for store, _ in ranked])
    stores = [{
        "id": store.id, "name": store.name, "address": store.address,
        "district": store.district, "lat": store.lat, "lng": store.lng,
        "opening_hours": store.opening_hours,
        "distance_m": round(distance) if distance is not None else None,
        "left": None if window_left is None else min(left, window_left),
    } for (store, distance), left in zip(ranked, store_left)]
    return {"window": _window(window), "window_left": window_left, "stores": stores}


@bp.post("/campaigns/<int:campaign_id>/bookings")
@bp.input(BookingHeaders, location="headers", arg_name="headers")
@bp.input(BookingIn, arg_name="body")
@bp.output(BookingOut, status_code=201)
@bp.doc(summary="预约一份（先到先得）", security="BearerAuth",
        responses={401: "未登录", 403: "not_admitted / admission_invalid / admission_expired"
                                        "（活动设有排队时）", 404: "活动或药店不存在",
                   409: "sold_out / store_full / already_booked / cooldown / window_closed /"
                        " not_eligible / profile_incomplete / rules_changed（附 rules_version、"
                        "summary） / pickup_slot_unavailable / idempotency_key_reused",
                   429: "busy / admission_not_yet / too_many_attempts（稍后重试，见 retry_after）"})
def create_booking(campaign_id: int, headers, body):
    """Book a portion at a store in the window open now.

    A window this process knows to be sold out is answered by ``SoldOutShortcut`` before
    this view runs: nobody could book it, so the answer is the same for everyone. The
    plain request is answered by ``FastBooking`` without Flask, through the same
    ``place_booking``.
    """
    _snapshot(campaign_id)  # a campaign that does not exist is 404 before 401
    session = authenticate()
    shown = body["rules_version"] or (int(headers["rules_version"])
                                      if headers["rules_version"] else None)
    return place_booking(current_app, campaign_id, session, body["store_id"],
                         pickup_slot=body["pickup_slot"],
                         idempotency_key=headers["idempotency_key"],
                         shown_rules_version=shown, admission=body["admission"]), 201


def _described(row: Booking) -> dict:
    return first_come.bookings_of(db.session, _directory(), row.resident_id, clock.now(),
                                  booking_id=row.id)[0]


@bp.get("/me/bookings")
@bp.auth_required(auth)
@bp.output(BookingList)
@bp.doc(summary="我的预约")
def my_bookings():
    """The resident's bookings, newest first."""
    return {"bookings": first_come.bookings_of(db.session, _directory(),
                                               current_resident_id(), clock.now())}


@bp.get("/bookings/<int:booking_id>")
@bp.auth_required(auth)
@bp.output(BookingOut)
@bp.doc(summary="预约详情（仅本人）")
def get_booking(booking_id: int):
    """One of the resident's own bookings."""
    return _described(first_come.own_booking(db.session, current_resident_id(), booking_id))


@bp.get("/bookings/<int:booking_id>/qrcode.png")
@bp.auth_required(auth)
@bp.doc(summary="取货二维码（PNG）", responses={200: {"content": {"image/png": {}}}})
def booking_qrcode(booking_id: int):
    """A QR code carrying a signed pickup token for pharmacy staff to scan."""
    row = first_come.own_booking(db.session, current_resident_id(), booking_id)
    token = pickup.qr_token(signing_keys(current_app.config), row)
    return Response(pickup.qr_png(token), mimetype="image/png",
                    headers={"Cache-Control": "private, no-store"})


@bp.post("/bookings/<int:booking_id>/cancel")
@bp.auth_required(auth)
@bp.output(BookingOut)
@bp.doc(summary="取消预约（预约时段内口罩退回库存）", responses={409: "不能取消"})
def cancel_booking(booking_id: int):
    """Cancel one's own confirmed booking."""
    row = first_come.own_booking(db.session, current_resident_id(), booking_id, for_update=True)
    first_come.cancel(db.session, _stock(), row, clock.now())
    body = _described(row)
    notify.announce("booking_cancelled", [row.id])
    return body


@bp.get("/announcements")
@bp.input(AnnouncementsQuery, location="query", arg_name="query")
@bp.doc(summary="已发布的公告（最新在前）", responses=NOT_MODIFIED)
def list_announcements(query):
    """Announcements visible now; ``campaign_id`` narrows to one campaign's and general ones."""
    found = announcements.visible(db.session, clock.now(), query["campaign_id"])
    return {"announcements": [announcements.public_body(a) for a in found]}
