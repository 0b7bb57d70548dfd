"""Routes of the mini-program API for lottery campaigns: entering the pool, one's entries."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import String
from apiflask.validators import OneOf, Range
from flask import Response
from marshmallow import ValidationError, validates_schema

from wx_backend.booking import pickup, postal
from wx_backend.core import clock
from wx_backend.core.errors import NotFound
from wx_backend.extensions import db, pii
from wx_backend.lottery import pool
from wx_backend.miniprogram_api.auth import auth, current_resident_id
from wx_backend.miniprogram_api.blueprint import bp
from wx_backend.models import Campaign, Entry
from wx_backend.web.input import WholeNumber, describes

FULFILMENTS = ("pickup", "postal", "express", "collection_point")


def _store_id(description: str) -> WholeNumber:
    return WholeNumber(load_default=None, validate=Range(1, 2**63 - 1, error="药店编号不正确"),
                       metadata={"description": description})


class EntryIn(Schema):
    store_id = _store_id("排队活动必填：登记的药店")


@describes(**{"if": {"properties": {"fulfilment": {"const": "collection_point"}},
                     "required": ["fulfilment"]},
              "then": {"required": ["store_id"], "properties": {"store_id": {"type": "integer"}}}})
class ClaimIn(Schema):
    fulfilment = String(required=True, validate=OneOf(FULFILMENTS, error="领取方式不正确"),
                        metadata={"description": "领取方式，须是本活动规则中有的（否则 409）"})
    store_id = _store_id("选自提点（collection_point）时必填：自提点的药店编号")

    @validates_schema
    def collection_point_named(self, data, **kwargs):
        if data["fulfilment"] == "collection_point" and data["store_id"] is None:
            raise ValidationError("请选择自提点", field_name="store_id")


@bp.post("/campaigns/<int:campaign_id>/entries")
@bp.auth_required(auth)
@bp.input(EntryIn, arg_name="body")
@bp.doc(summary="登记摇号或排队（摇号、排队活动）", security="BearerAuth",
        responses={201: "已登记（8位摇号编号）",
                   404: "活动不存在，或药店不是本活动的（store_not_found）",
                   409: "not_a_lottery / already_entered / reenter_later / entries_closed /"
                        " profile_incomplete / promise_required / not_eligible /"
                        " store_required（排队活动须选择药店）"})
def create_entry(campaign_id: int, body):
    """Enter the campaign's pool (lottery) or register for a pharmacy (queue: ``{"store_id"}``);
    answers the 8-digit reservation number."""
    entry = pool.enter(db.session, campaign_id, current_resident_id(),
                       clock.now(), pii.vault, store_id=body["store_id"])
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
@bp.input(ClaimIn, arg_name="body")
@bp.doc(summary="中签后下单（使用实名登记的手机号和地址）",
        responses={200: "已下单", 404: "登记不存在，或自提点不是本活动的",
                   409: "not_won / already_claimed / claim_expired / address_required /"
                        " outside_delivery_area / fulfilment_unavailable"
                        "（本活动没有这种领取方式）"})
def claim_entry(entry_id: int, body):
    """Claim a win before its deadline: ``{"fulfilment": "express" | "postal" |
    "collection_point" | "pickup", "store_id"?}`` (the collection point's store)."""
    entry = pool.own_entry(db.session, current_resident_id(), entry_id)
    pool.claim(db.session, entry, body["fulfilment"], clock.now(), body["store_id"])
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
