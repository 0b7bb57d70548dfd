"""Staff routes: token login, redemption, and the store's day at a glance."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Nested, String
from apiflask.validators import Length, Regexp
from flask import current_app, request

from wx_backend import notify
from wx_backend.booking import pickup
from wx_backend.config import signing_keys
from wx_backend.core import clock
from wx_backend.core.errors import InvalidInput
from wx_backend.core.pii import mask_name
from wx_backend.extensions import db
from wx_backend.identity import residents
from wx_backend.models import Resident, Staff, Store
from wx_backend.waitlist import registrations
from wx_backend.web.auth import StaffLoginIn, account_auth, token_login, token_logout

bp = APIBlueprint("staff", __name__, url_prefix="/api/v1/staff", tag="staff")

STAFF_SESSION_TTL = 12 * 3600

staff_auth = account_auth(Staff, "pharmacy", "StaffAuth",
                          "药店工作人员令牌，由 POST /api/v1/staff/login 获得")


class DelegateIn(Schema):
    name = String(required=True)
    id_number = String(required=True)


class RedeemIn(Schema):
    pickup_code = String(validate=Regexp(r"^[0-9]{6}$", error="取货码应为6位数字"))
    qr = String(validate=Length(10, 500, error="二维码内容不正确"))
    id_last4 = String(required=True, validate=Regexp(r"^[0-9]{3}[0-9Xx]$",
                                                     error="请填写身份证号后四位"))
    delegate = Nested(DelegateIn, load_default=None, allow_none=True)


@bp.post("/login")
@bp.input(StaffLoginIn, arg_name="body")
@bp.doc(summary="药店工作人员登录",
        responses={200: "成功", 401: "用户名或密码不正确", 429: "本网络登录失败次数太多"})
def staff_login(body):
    """Exchange username and password for a staff token."""
    staff, token = token_login("pharmacy", body, STAFF_SESSION_TTL)
    return {"token": token, "expires_in": STAFF_SESSION_TTL, "store_id": staff.store_id}


@bp.post("/logout")
@bp.auth_required(staff_auth)
@bp.output({}, status_code=204)
@bp.doc(summary="退出登录（令牌立即失效）")
def staff_logout():
    """Revoke the token this request carries."""
    token_logout()
    return ""


@bp.post("/redemptions")
@bp.auth_required(staff_auth)
@bp.input(RedeemIn, arg_name="body")
@bp.doc(summary="核销取货：扫码或输入取货码，核对身份证后四位",
        responses={200: "成功", 403: "wrong_store", 404: "booking_not_found",
                   409: "already_collected / outside_pickup_window / not_collectable",
                   422: "id_mismatch"})
def redeem(body):
    """Mark a pickup collected at this store, exactly once."""
    if not body.get("pickup_code") and not body.get("qr"):
        raise InvalidInput("code_required", "请扫描二维码或输入取货码",
                           fields={"pickup_code": "与二维码二选一"})
    delegate = None
    if body.get("delegate"):
        delegate = pickup.Delegate(residents.normalise_name(body["delegate"]["name"]),
                                   residents.normalise_id_number(body["delegate"]["id_number"]))
    staff = staff_auth.current_user
    now = clock.now()
    booking = _redeem(staff, body, delegate, now)
    db.session.commit()
    return {"id": booking.id, "reservation_no": booking.reservation_no,
            "status": booking.status, "collected_at": booking.collected_at.isoformat(),
            "holder": mask_name(db.session.get(Resident, booking.resident_id).name),
            "delegate": mask_name(delegate.name) if delegate else None}


def _redeem(staff: Staff, body: dict, delegate, now):
    snapshot = current_app.extensions["directory"].snapshot(
        db.session, db.session.get(Store, staff.store_id).campaign_id, now)
    return pickup.redeem(db.session, signing_keys(current_app.config), staff,
                         pickup_code=body.get("pickup_code"), qr=body.get("qr"),
                         id_last4=body["id_last4"], delegate=delegate,
                         delegates_allowed=snapshot.rules.delegate_pickup, now=now)


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
@bp.doc(summary="录入今日到货（排队活动）：按预约号顺序发放购买凭证",
        responses={200: "成功", 409: "not_a_queue"})
def enter_supply():
    """``{"units": N}``: the next N approved registrations for this pharmacy get vouchers."""
    data = request.get_json(silent=True)
    units = data.get("units") if isinstance(data, dict) else None
    released = registrations.release(db.session, staff_auth.current_user, units,
                             clock.now())
    db.session.commit()
    notify.announce("voucher_released", [entry.id for entry in released])
    return {"released": len(released),
            "reservation_nos": [entry.reservation_no for entry in released]}


@bp.post("/vouchers/redeem")
@bp.auth_required(staff_auth)
@bp.doc(summary="核销购买凭证（排队活动）",
        responses={200: "成功", 404: "voucher_not_found", 409: "already_redeemed / voucher_expired",
                   422: "id_mismatch"})
def redeem_voucher():
    """``{"voucher_code", "id_last4"}``: sell the portion against the voucher, once."""
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    code, last4 = data.get("voucher_code"), data.get("id_last4")
    if not isinstance(code, str) or not (code.isascii() and code.isdigit()) or len(code) != 6:
        raise InvalidInput("invalid_voucher", "凭证码应为6位数字",
                           fields={"voucher_code": "格式不正确"})
    if not isinstance(last4, str) or len(last4) != 4:
        raise InvalidInput("invalid_id_last4", "请填写身份证号后四位", fields={"id_last4": "必填"})
    entry = registrations.redeem(db.session, staff_auth.current_user, code, last4,
                         clock.now())
    db.session.commit()
    holder = db.session.get(Resident, entry.resident_id)
    return {"reservation_no": entry.reservation_no, "status": entry.status,
            "holder": mask_name(holder.name), "redeemed_at": entry.redeemed_at.isoformat()}
