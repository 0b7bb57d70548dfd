"""Routes of the mini-program API for lottery and queue campaigns: entering the pool or a
pharmacy's queue, one's entries as the pages show them, claiming a win, the voucher's QR,
and a draw as published with one's own lines of its ranking."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, List, Nested, String
from apiflask.validators import OneOf, Range
from flask import Response
from marshmallow import ValidationError, validates_schema

from wx_backend.booking import pickup
from wx_backend.core import clock
from wx_backend.core.errors import NotFound
from wx_backend.extensions import db, pii
from wx_backend.lottery import pool
from wx_backend.miniprogram_api.auth import auth, current_resident_id
from wx_backend.miniprogram_api.blueprint import bp
from wx_backend.models import Entry
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


# -- what the routes answer -------------------------------------------------------------

def _moment(description: str) -> String:
    return String(allow_none=True, metadata={"description": description,
                                             "example": "2026-03-01T10:00:00+00:00"})


class PlaceOut(Schema):
    id = WholeNumber(required=True)
    name = String(required=True, metadata={"example": "鼓楼区五四路药店"})
    address = String(required=True)
    district = String(required=True)
    opening_hours = String(required=True, metadata={"example": "09:00-18:00"})


class QueueStandingOut(Schema):
    position = WholeNumber(required=True, allow_none=True,
                           metadata={"description": "审核通过后：在本药店队列中的位置（从1起）"})
    ahead = WholeNumber(required=True, allow_none=True,
                        metadata={"description": "审核通过后：排在前面、尚未发放凭证的户数"})
    waiting = WholeNumber(required=True, metadata={"description": "本药店审核通过、等待发放的户数"})
    released = WholeNumber(required=True, metadata={"description": "本药店已发放的凭证数"})
    last_release_at = _moment("本药店最近一批凭证的发放时间")
    last_release_units = WholeNumber(required=True, metadata={"description": "最近一批发放的张数"})


class DrawRefOut(Schema):
    id = WholeNumber(required=True)
    number = WholeNumber(required=True, metadata={"description": "第几期"})
    status = String(required=True, validate=OneOf(("committed", "drawn")))
    quota = WholeNumber(required=True)
    drawn_at = _moment("开奖时间")
    rank = WholeNumber(required=True, allow_none=True, metadata={"description": "本人在该期的名次"})


class OrderOut(Schema):
    id = WholeNumber(required=True)
    channel = String(required=True, metadata={"example": "express"})
    courier = String(required=True)
    status = String(required=True, metadata={"example": "shipped"})
    tracking_no = String(required=True, allow_none=True)
    fee_fen = WholeNumber(required=True, metadata={"description": "运费（分）"})
    cash_on_delivery = Boolean(required=True)
    collection_point = Nested(PlaceOut, required=True, allow_none=True)
    updated_at = String(required=True)


class ClaimOptionOut(Schema):
    fulfilment = String(required=True, metadata={"example": "express"})
    fee_fen = WholeNumber(required=True, metadata={"description": "运费（分）"})
    cash_on_delivery = Boolean(required=True)
    courier = String(required=True, allow_none=True)
    available = Boolean(required=True)
    reason = String(required=True, allow_none=True,
                    metadata={"description": "不能选时的原因（如地址不在配送范围）"})


class EntryOut(Schema):
    id = WholeNumber(required=True)
    campaign_id = WholeNumber(required=True)
    campaign = String(required=True, allow_none=True)
    reservation_no = String(required=True, metadata={"example": "48213907"})
    status = String(required=True, metadata={"example": "pooled"})
    draw_id = WholeNumber(required=True, allow_none=True)
    fulfilment = String(required=True, allow_none=True)
    store_id = WholeNumber(required=True, allow_none=True)
    reject_reason = String(required=True, allow_none=True)
    special_group = String(required=True, allow_none=True)
    voucher_code = String(required=True, allow_none=True)
    claim_deadline = _moment("中签后下单、或购买凭证使用的截止时间")
    created_at = String(required=True)
    draw = Nested(DrawRefOut, required=True, allow_none=True,
                  metadata={"description": "中签的一期，或参加过的最近一期"})
    order = Nested(OrderOut, required=True, allow_none=True)
    claim_options = List(Nested(ClaimOptionOut), required=True)
    reenter_at = _moment("中签后：可以再次登记的时间")
    pharmacy = Nested(PlaceOut, required=True, allow_none=True,
                      metadata={"description": "排队活动：登记的药店"})
    queue = Nested(QueueStandingOut, required=True, allow_none=True)
    released_at = _moment("购买凭证发放时间")
    redeemed_at = _moment("凭证使用时间")


class EntryItem(EntryOut):
    """EntryOut inside a list (a class of its own, as BookingItem)."""


class EntryList(Schema):
    entries = List(Nested(EntryItem), required=True)


class DrawLineOut(Schema):
    reservation_no = String(required=True)
    rank = WholeNumber(required=True, allow_none=True)
    won = Boolean(required=True, allow_none=True)
    score = String(required=True, allow_none=True,
                   metadata={"description": "得分（HMAC-SHA256，十六进制），与 ranking.csv 一致"})


class DrawOut(Schema):
    id = WholeNumber(required=True)
    number = WholeNumber(required=True)
    campaign_id = WholeNumber(required=True)
    campaign = String(required=True)
    name = String(required=True)
    status = String(required=True, validate=OneOf(("committed", "drawn")))
    committed_at = String(required=True)
    drawn_at = _moment("开奖时间")
    entries_count = WholeNumber(required=True)
    quota = WholeNumber(required=True)
    returned = WholeNumber(required=True, metadata={"description": "名额中由逾期未下单退回的"})
    commitment_sha256 = String(required=True)
    entries_sha256 = String(required=True)
    secret_sha256 = String(required=True)
    public_value = String(required=True, allow_none=True)
    seed = String(required=True, allow_none=True)
    winners_count = WholeNumber(required=True, allow_none=True)
    mine = List(Nested(DrawLineOut), required=True,
                metadata={"description": "本人参加这一期的登记在排名中的行"})


def _entry(entry_id: int) -> dict:
    return pool.entries_of(db.session, current_resident_id(), clock.now(), entry_id)[0]


@bp.post("/campaigns/<int:campaign_id>/entries")
@bp.auth_required(auth)
@bp.input(EntryIn, arg_name="body")
@bp.output(EntryOut, status_code=201)
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
    return _entry(entry.id), 201


@bp.get("/me/entries")
@bp.auth_required(auth)
@bp.output(EntryList)
@bp.doc(summary="我的摇号登记和排队登记")
def my_entries():
    """The resident's entries, newest first, with what the pages show of each: the draw
    and one's rank there, the claim's options and order, when one may enter again, a
    registration's pharmacy and its place in that pharmacy's queue."""
    return {"entries": pool.entries_of(db.session, current_resident_id(), clock.now())}


@bp.post("/entries/<int:entry_id>/claim")
@bp.auth_required(auth)
@bp.input(ClaimIn, arg_name="body")
@bp.output(EntryOut)
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
    return _entry(entry.id)


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


@bp.get("/draws/<int:draw_id>")
@bp.auth_required(auth)
@bp.output(DrawOut)
@bp.doc(summary="一期摇号的公示：承诺、公开值、名额，以及本人在排名中的行",
        responses={404: "该期摇号不存在"})
def get_draw(draw_id: int):
    """A draw as published (``/public/draws/<id>``), for the mini-program to show with
    the resident's own lines of its ranking."""
    return pool.draw_body(db.session, draw_id, current_resident_id())
