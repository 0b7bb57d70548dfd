"""Staff routes: token login, redemption, and the store's day at a glance."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Nested, String
from apiflask.validators import Length, Range, Regexp
from flask import current_app

from wx_backend.booking import pickup
from wx_backend.config import signing_keys
from wx_backend.core import clock
from wx_backend.core.errors import InvalidInput
from wx_backend.core.pii import mask_name
from wx_backend.extensions import db
from wx_backend.models import Resident, Staff, Store
from wx_backend.waitlist import registrations
from wx_backend.web.auth import account_auth, add_sign_in_routes
from wx_backend.web.input import (
    WholeNumber,
    describes,
    id_number_field,
    id_tail_field,
    name_field,
    six_digits,
)

bp = APIBlueprint("staff", __name__, url_prefix="/api/v1/staff", tag="staff")

STAFF_SESSION_TTL = 12 * 3600

staff_auth = account_auth(Staff, "pharmacy", "StaffAuth",
                          "药店工作人员令牌，由 POST /api/v1/staff/login 获得")


class DelegateIn(Schema):
    name = name_field(required=True)
    id_number = id_number_field(required=True)


@describes(anyOf=[{"required": ["pickup_code"]}, {"required": ["qr"]},
                  {"required": ["reservation_no"]}])
class RedeemIn(Schema):
    pickup_code = six_digits("取货码应为6位数字", metadata={"description": "短信中的6位取货码"})
    qr = String(validate=Length(10, 500, error="二维码内容不正确"),
                metadata={"description": "扫描居民二维码得到的内容；"
                                         "与取货码、预约号三选一，都给时以此为准"})
    reservation_no = String(validate=Regexp(r"^[0-9]{8}$", error="预约号应为8位数字"),
                            metadata={"description": "短信中的8位预约号（居民没有取货码时）"})
    id_last4 = id_tail_field(required=True)
    delegate = Nested(DelegateIn, load_default=None, allow_none=True,
                      metadata={"description": "他人代取时，代取人的姓名和证件号码"
                                               "（活动允许代取时）"})


class SupplyIn(Schema):
    units = WholeNumber(required=True, validate=Range(1, 100_000,
                                                      error="到货数量应为1到100000的整数"))


class VoucherIn(Schema):
    voucher_code = six_digits("凭证码应为6位数字", required=True)
    id_last4 = id_tail_field(required=True)


add_sign_in_routes(bp, "pharmacy", staff_auth, STAFF_SESSION_TTL, "药店工作人员",
                   lambda staff: {"store_id": staff.store_id})


@bp.post("/redemptions")
@bp.auth_required(staff_auth)
@bp.input(RedeemIn, arg_name="body")
@bp.doc(summary="核销取货：扫码，或输入取货码或预约号，核对身份证后四位",
        responses={200: "成功", 403: "wrong_store / id_mismatch（身份证号后四位与预约人不符）",
                   404: "booking_not_found / invalid_qr（二维码不是本系统的）",
                   409: "already_collected / outside_pickup_window / not_collectable /"
                        " delegate_not_allowed",
                   422: "code_required（取货码与二维码都没有）或其他不合格式的内容"})
def redeem(body):
    """Mark a pickup collected at this store, exactly once."""
    if not (body.get("pickup_code") or body.get("qr") or body.get("reservation_no")):
        raise InvalidInput("code_required", "请扫描二维码，或输入取货码或预约号",
                           fields={"pickup_code": "与二维码、预约号三选一"})
    delegate = None
    if body.get("delegate"):
        delegate = pickup.Delegate(body["delegate"]["name"], body["delegate"]["id_number"])
    booking = pickup.redeem(
        db.session, signing_keys(current_app.config), staff_auth.current_user,
        scanned=body.get("qr") or body.get("pickup_code") or body["reservation_no"],
        id_last4=body["id_last4"], delegate=delegate, now=clock.now())
    db.session.commit()
    return {"id": booking.id, "reservation_no": booking.reservation_no,
            "status": booking.status, "collected_at": booking.collected_at.isoformat(),
            "holder": mask_name(db.session.get(Resident, booking.resident_id).name),
            "delegate": mask_name(delegate.name) if delegate else None}


@bp.get("/store")
@bp.auth_required(staff_auth)
@bp.doc(summary="本店今日取货情况")
def store_today():
    """Today's pickups at this store by status."""
    staff = staff_auth.current_user
    store = db.session.get(Store, staff.store_id)
    now = clock.now()
    snapshot = current_app.extensions["directory"].snapshot(db.session, store.campaign_id, now)
    return pickup.store_day(db.session, staff, now.astimezone(snapshot.rules.zone).date())


@bp.post("/supply")
@bp.auth_required(staff_auth)
@bp.input(SupplyIn, arg_name="body")
@bp.doc(summary="录入今日到货（排队活动）：按预约号顺序发放购买凭证",
        responses={200: "成功", 409: "not_a_queue"})
def enter_supply(body):
    """``{"units": N}``: the next N approved registrations for this pharmacy get vouchers."""
    released = registrations.release(db.session, staff_auth.current_user, body["units"],
                                     clock.now())
    db.session.commit()
    return {"released": len(released),
            "reservation_nos": [entry.reservation_no for entry in released]}


@bp.post("/vouchers/redeem")
@bp.auth_required(staff_auth)
@bp.input(VoucherIn, arg_name="body")
@bp.doc(summary="核销购买凭证（排队活动）",
        responses={200: "成功", 403: "id_mismatch（身份证号后四位与登记人不符）",
                   404: "voucher_not_found", 409: "already_redeemed / voucher_expired"})
def redeem_voucher(body):
    """``{"voucher_code", "id_last4"}``: sell the portion against the voucher, once."""
    entry = registrations.redeem(db.session, staff_auth.current_user, body["voucher_code"],
                                 body["id_last4"], clock.now())
    db.session.commit()
    holder = db.session.get(Resident, entry.resident_id)
    return {"reservation_no": entry.reservation_no, "status": entry.status,
            "holder": mask_name(holder.name), "redeemed_at": entry.redeemed_at.isoformat()}
