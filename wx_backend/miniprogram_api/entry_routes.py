"""Routes of the mini-program API for lottery campaigns: entering the pool, one's entries."""

from __future__ import annotations

from flask import Response, request

from wx_backend.booking import pickup, postal
from wx_backend.core import clock
from wx_backend.core.errors import InvalidInput, NotFound
from wx_backend.extensions import db, pii
from wx_backend.lottery import pool
from wx_backend.miniprogram_api.auth import auth, current_resident_id
from wx_backend.miniprogram_api.blueprint import bp
from wx_backend.models import Campaign, Entry


@bp.post("/campaigns/<int:campaign_id>/entries")
@bp.auth_required(auth)
@bp.doc(summary="登记摇号或排队（摇号、排队活动）", security="BearerAuth",
        responses={404: "活动不存在", 409: "not_a_lottery / already_entered / reenter_later /"
                                           " profile_incomplete / promise_required",
                   422: "invalid_store"})
def create_entry(campaign_id: int):
    """Enter the campaign's pool (lottery) or register for a pharmacy (queue: ``{"store_id"}``);
    answers the 8-digit reservation number."""
    body = request.get_json(silent=True) if request.content_length else None
    store_id = body.get("store_id") if isinstance(body, dict) else None
    if store_id is not None and (isinstance(store_id, bool) or not isinstance(store_id, int)):
        raise InvalidInput("invalid_store", "药店编号不正确", fields={"store_id": "应为整数"})
    entry = pool.enter(db.session, campaign_id, current_resident_id(),
                          clock.now(), pii.vault, store_id=store_id)
    db.session.commit()
    return pool.entry_body(entry, db.session.get(Campaign, campaign_id)), 201


@bp.get("/me/entries")
@bp.auth_required(auth)
@bp.doc(summary="我的摇号登记")
def my_entries():
    """The resident's entries, newest first."""
    rows = db.session.execute(
        db.select(Entry, Campaign).join(Campaign, Campaign.id == Entry.campaign_id)
        .where(Entry.resident_id == current_resident_id())
        .order_by(Entry.id.desc()).limit(100)).all()
    return {"entries": [pool.entry_body(entry, campaign) for entry, campaign in rows]}


@bp.post("/entries/<int:entry_id>/claim")
@bp.auth_required(auth)
@bp.doc(summary="中签后下单（使用实名登记的手机号和地址）",
        responses={404: "登记不存在", 409: "not_won / already_claimed / claim_expired /"
                                           " address_required", 422: "invalid_fulfilment"})
def claim_entry(entry_id: int):
    """Claim a win before its deadline: ``{"fulfilment": "express" | "postal" |
    "collection_point", "store_id"?}`` (the collection point's store)."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    fulfilment, store_id = body.get("fulfilment"), body.get("store_id")
    if not isinstance(fulfilment, str):
        raise InvalidInput("invalid_fulfilment", "请选择领取方式",
                           fields={"fulfilment": "必填"})
    if store_id is not None and (isinstance(store_id, bool) or not isinstance(store_id, int)):
        raise InvalidInput("invalid_collection_point", "自提点编号不正确",
                           fields={"store_id": "应为整数"})
    entry = pool.own_entry(db.session, current_resident_id(), entry_id)
    pool.claim(db.session, entry, fulfilment, clock.now(), store_id)
    db.session.commit()
    body = pool.entry_body(entry, db.session.get(Campaign, entry.campaign_id))
    order = postal.order_of_entry(db.session, entry.id)
    body["order"] = postal.order_body(order) if order else None
    return body


@bp.get("/entries/<int:entry_id>/voucher.png")
@bp.auth_required(auth)
@bp.doc(summary="购买凭证二维码（排队活动，已发放时）",
        responses={200: {"content": {"image/png": {}}}})
def voucher_qrcode(entry_id: int):
    """The voucher code as a QR code for the pharmacy to scan."""
    entry = db.session.scalars(db.select(Entry).where(
        Entry.id == entry_id, Entry.resident_id == current_resident_id())).first()
    if entry is None or entry.status != "released":
        raise NotFound("voucher_not_found", "没有可用的购买凭证")
    return Response(pickup.qr_png(entry.voucher_code), mimetype="image/png",
                    headers={"Cache-Control": "private, no-store"})
