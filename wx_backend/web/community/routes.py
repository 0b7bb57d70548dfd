"""Community staff routes: log in, register a resident, book or enter for them, see them."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.validators import Range
from flask import current_app

from wx_backend.booking import first_come
from wx_backend.core import clock
from wx_backend.core.errors import Conflict
from wx_backend.core.pii import mask_name
from wx_backend.extensions import db, pii
from wx_backend.identity import assisted
from wx_backend.identity.residents import masked_profile
from wx_backend.lottery import pool
from wx_backend.models import Campaign, CommunityStaff, Entry
from wx_backend.waitlist import registrations
from wx_backend.web.auth import account_auth, add_sign_in_routes
from wx_backend.web.input import (
    ID_KIND_RULES,
    Flag,
    Text,
    WholeNumber,
    address_field,
    describes,
    district_field,
    id_kind_field,
    id_number_field,
    name_field,
    phone_field,
)

bp = APIBlueprint("community", __name__, url_prefix="/api/v1/community", tag="community")

SESSION_TTL = 12 * 3600

community_auth = account_auth(CommunityStaff, "community", "CommunityAuth",
                              "社区工作人员令牌，由 POST /api/v1/community/login 获得")


def _row_id(label: str, **kwargs) -> WholeNumber:
    return WholeNumber(validate=Range(1, 2**63 - 1, error=f"{label}编号不正确"), **kwargs)


@describes(allOf=ID_KIND_RULES)
class ResidentIn(Schema):
    name = name_field(required=True)
    id_number = id_number_field(required=True)
    id_kind = id_kind_field()
    phone = phone_field(required=True, metadata={
        "description": "居民本人或家人的手机号（接收预约短信）"})
    address = address_field(required=True)
    district_code = district_field(load_default=None, allow_none=True, metadata={
        "description": "住址所在的区（县）：在用的县级行政区划代码（格式 cn-district），"
                       "须在本辖区内；工作人员的辖区就是一个区（县）时可不填"})
    promise = Flag(load_default=False, metadata={
        "description": "居民承诺信息真实、同一地址只预约一次"})


class BookForIn(Schema):
    campaign_id = _row_id("活动", required=True)
    store_id = _row_id("药店", required=True)
    pickup_slot = WholeNumber(load_default=0, validate=Range(0, 20, error="取货时段不正确"))


class EnterForIn(Schema):
    campaign_id = _row_id("活动", required=True)
    store_id = _row_id("药店", metadata={"description": "排队活动：登记在哪家药店购买（必填）"})


class RegistrationsQuery(Schema):
    campaign_id = _row_id("活动", required=True, text=True)


@describes(**{"if": {"properties": {"approve": {"const": False}}, "required": ["approve"]},
              "then": {"required": ["reason"]}})
class ReviewIn(Schema):
    approve = Flag(required=True)
    reason = Text(2, 200, "不通过的原因", metadata={
        "description": "不通过时必填（2到200字），居民会看到"})


add_sign_in_routes(bp, "community", community_auth, SESSION_TTL, "社区工作人员",
                   lambda staff: {"district": staff.district,
                                  "district_code": staff.district_code})


@bp.post("/residents")
@bp.auth_required(community_auth)
@bp.input(ResidentIn, arg_name="body")
@bp.doc(summary="为无智能手机的居民实名登记（核验身份证原件）",
        responses={201: "已创建", 403: "out_of_district",
                   409: "id_number_taken / district_required（辖区不止一个区县时须填"
                        " district_code）"})
def register_resident(body):
    """Register a resident of this district: ``name``, ``id_number``, ``phone``, ``address``,
    ``district_code`` (the district of the address, from the list; may be left out when the
    staff's scope is one district), ``promise``."""
    staff = community_auth.current_user
    if body["district_code"] is None and assisted.default_district(staff) is None:
        raise Conflict("district_required", f"您的辖区（{staff.district}）不止一个区县，"
                       "请选择居民住址所在的区（县）", fields={"district_code": "必填"})
    resident = assisted.register(db.session, pii.vault, staff, body, clock.now())
    db.session.commit()
    return {"resident_id": resident.id, "profile": masked_profile(resident)}, 201


@bp.get("/residents/<int:resident_id>")
@bp.auth_required(community_auth)
@bp.doc(summary="居民的登记、预约和代办记录",
        responses={200: "成功", 403: "out_of_district", 404: "resident_not_found"})
def get_resident(resident_id: int):
    """The resident's masked profile, bookings, entries and the audit trail."""
    resident = assisted.resident_in_district(db.session, community_auth.current_user,
                                             resident_id)
    entries = db.session.scalars(db.select(Entry).where(Entry.resident_id == resident.id)
                                 .order_by(Entry.id.desc())).all()
    return {"profile": masked_profile(resident),
            "bookings": first_come.bookings_of(db.session, current_app.extensions["directory"],
                                               resident.id, clock.now()),
            "entries": [pool.entry_body(e) for e in entries],
            "actions": assisted.actions_of(db.session, resident.id)}


@bp.post("/residents/<int:resident_id>/bookings")
@bp.auth_required(community_auth)
@bp.input(BookForIn, arg_name="body")
@bp.doc(summary="代居民预约（同样的规则和限购）",
        responses={201: "已创建", 403: "out_of_district", 404: "居民、活动或药店不存在",
                   409: "sold_out / store_full / already_booked / cooldown / window_closed /"
                        " not_eligible / pickup_slot_unavailable", 429: "busy"})
def book_for_resident(resident_id: int, body):
    """Book for the resident: ``campaign_id``, ``store_id``, ``pickup_slot``?"""
    made = assisted.book_for(db.session, current_app.extensions["stock"],
                             current_app.extensions["directory"], pii.vault,
                             community_auth.current_user, resident_id, body["campaign_id"],
                             body["store_id"], clock.now(), pickup_slot=body["pickup_slot"])
    db.session.commit()
    return made, 201


@bp.post("/residents/<int:resident_id>/entries")
@bp.auth_required(community_auth)
@bp.input(EnterForIn, arg_name="body")
@bp.doc(summary="代居民登记摇号，或为居民一户登记排队（排队活动须选药店）",
        responses={201: "已创建", 403: "out_of_district", 404: "居民或活动不存在",
                   409: "not_a_lottery / already_entered / reenter_later"})
def enter_for_resident(resident_id: int, body):
    """Enter the resident in a lottery campaign: ``campaign_id``."""
    entry = assisted.enter_for(db.session, pii.vault, community_auth.current_user, resident_id,
                               body["campaign_id"], clock.now(), store_id=body.get("store_id"))
    db.session.commit()
    return pool.entry_body(entry, db.session.get(Campaign, body["campaign_id"])), 201


@bp.get("/registrations")
@bp.auth_required(community_auth)
@bp.input(RegistrationsQuery, location="query", arg_name="query")
@bp.doc(summary="本辖区待审核的排队登记",
        responses={200: "成功（活动不存在或不是排队活动时为空列表）"})
def pending_registrations(query):
    """Pending registrations of ``campaign_id`` whose address is in this district."""
    def line(entry, resident) -> dict:
        return {"id": entry.id, "reservation_no": entry.reservation_no,
                "status": entry.status, "name": mask_name(resident.name),
                "address": resident.address, "store_id": entry.store_id,
                "created_at": entry.created_at.isoformat()}

    pending = registrations.pending_in_district(db.session, community_auth.current_user,
                                                query["campaign_id"])
    return {"registrations": [
        {**line(one.entry, one.resident),
         "possible_duplicates": [line(*other) for other in one.possible_duplicates]}
        for one in pending]}


@bp.post("/registrations/<int:entry_id>/review")
@bp.auth_required(community_auth)
@bp.input(ReviewIn, arg_name="body")
@bp.doc(summary="审核排队登记：通过，或写明原因不通过",
        responses={200: "成功", 403: "out_of_district", 404: "registration_not_found",
                   409: "already_reviewed / not_a_queue",
                   422: "reason_required（不通过时须写明原因）或其他不合格式的内容"})
def review_registration(entry_id: int, body):
    """``{"approve": true}`` or ``{"approve": false, "reason": "…"}``."""
    staff = community_auth.current_user
    entry = registrations.review(db.session, staff, entry_id, body["approve"],
                                 body.get("reason"), clock.now())
    assisted.record(db.session, staff, entry.resident_id, "review",
                    {"entry_id": entry.id, "approve": body["approve"],
                     "reason": entry.reject_reason})
    db.session.commit()
    return pool.entry_body(entry)
