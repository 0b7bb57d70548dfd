"""Routes of the mini-program API: login, SMS codes and the real-name profile.

Each view parses, authorises, calls the domain, commits once and serialises.
"""

from __future__ import annotations

from flask import current_app, request
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from wx_backend import sms
from wx_backend.core import clock
from wx_backend.core.errors import NotAuthenticated
from wx_backend.core.wechat import code_to_session, miniprogram_client
from wx_backend.extensions import db, pii, redis_store
from wx_backend.identity import residents, sessions
from wx_backend.miniprogram_api.auth import auth, current_resident_id
from wx_backend.miniprogram_api.blueprint import bp
from wx_backend.miniprogram_api.schemas import (
    LoginIn,
    LoginOut,
    ProfileIn,
    ProfileOut,
    SmsCodeIn,
    SmsCodeOut,
    SubscribeTemplatesOut,
    SubscriptionsIn,
    SubscriptionsOut,
)
from wx_backend.models import Resident, SubscribeConsent
from wx_backend.notify import texts
from wx_backend.sms.codes import Requester


def _requester() -> Requester:
    """The resident's login, as the owner of the codes it asks for."""
    return Requester.of_token(request.authorization.token, current_resident_id(),
                              request.remote_addr)


@bp.post("/auth/login")
@bp.input(LoginIn, arg_name="body")
@bp.output(LoginOut)
@bp.doc(summary="用 wx.login 的 code 登录", responses={401: "code 无效", 503: "微信不可用"})
def login(body):
    """Exchange a wx.login code for a session token; first login creates the resident."""
    who = code_to_session(miniprogram_client(), body["code"])
    resident = residents.upsert_resident(db.session, who.openid, who.unionid,
                                        clock.now())
    db.session.commit()
    issued = sessions.issue(redis_store.client, resident.id, current_app.config["SESSION_TTL"],
                            resident.id_number_index)
    return {"token": issued.token, "expires_in": issued.expires_in,
            "profile_complete": resident.profile_complete}


@bp.post("/auth/logout")
@bp.auth_required(auth)
@bp.output({}, status_code=204)
@bp.doc(summary="退出登录（令牌立即失效）")
def logout():
    """Revoke the token this request carries."""
    sessions.revoke(redis_store.client, request.authorization.token)
    return ""


@bp.post("/sms/codes")
@bp.auth_required(auth)
@bp.input(SmsCodeIn, arg_name="body")
@bp.output(SmsCodeOut, status_code=201)
@bp.doc(summary="发送短信验证码",
        responses={404: "sms_rejected：该号码无法接收短信",
                   429: "太频繁：同一手机号、本次登录、本账号、同一网络或全市的发送次数已达上限",
                   503: "短信服务暂时不可用"})
def send_sms_code(body):
    """Text a 6-digit code to the phone; the code belongs to this login only. Limited per
    phone, per login, per account, per client address and for the whole city."""
    issued = sms.verification_codes().send(sms.sender(), body["phone"], body["purpose"],
                                           _requester())
    return {"expires_in": issued.expires_in, "resend_after": issued.resend_after}


@bp.get("/me/profile")
@bp.auth_required(auth)
@bp.output(ProfileOut)
@bp.doc(summary="我的实名信息（脱敏）")
def get_profile():
    """The resident's own profile, masked."""
    resident = db.session.get(Resident, current_resident_id())
    if resident is None:
        raise NotAuthenticated("invalid_token", "登录已过期或无效，请重新登录")
    return residents.masked_profile(resident)


@bp.put("/me/profile")
@bp.auth_required(auth)
@bp.input(ProfileIn, arg_name="body")
@bp.output(ProfileOut)
@bp.doc(summary="填写或更新实名信息",
        responses={403: "验证码不正确、已失效或错误次数过多（sms_code_wrong / sms_code_expired /"
                        " sms_code_locked）",
                   409: "身份证号已绑定其他账号，或实名信息已锁定"})
def put_profile(body):
    """Verify the phone by SMS code, then store the real-name profile encrypted."""
    sms.verification_codes().verify(body["phone"], "profile", body["sms_code"], _requester())
    profile = residents.ProfileInput(name=body["name"], id_number=body["id_number"],
                                    id_kind=residents.check_id_kind(body["id_number"],
                                                                   body["id_kind"]),
                                    phone=body["phone"], address=body["address"],
                                    promise=body["promise"],
                                    district_code=body["district_code"])
    resident = residents.complete_profile(db.session, pii.vault, current_resident_id(), profile,
                                         clock.now())
    db.session.commit()
    sessions.attach_person(redis_store.client, request.authorization.token, resident.id,
                           resident.id_number_index)
    return residents.masked_profile(resident)


# WeChat lets a user tick "always allow" only per template; one tap allows one message.
# A cap keeps a buggy client from storing an allowance the user never gave in practice.
MAX_ALLOWANCES = 20


@bp.get("/subscriptions/templates")
@bp.output(SubscribeTemplatesOut)
@bp.doc(summary="订阅消息模板（小程序在各时刻请求授权时用）")
def subscribe_templates():
    """The subscribe-message templates by event, as this deployment configured them, so the
    mini-program never carries template ids of its own."""
    return {"templates": texts.subscribe_templates()}


@bp.post("/me/subscriptions")
@bp.auth_required(auth)
@bp.input(SubscriptionsIn, arg_name="body")
@bp.output(SubscriptionsOut)
@bp.doc(summary="记录订阅消息授权（每次“允许”可收一条）")
def add_subscriptions(body):
    """Count the subscribe messages the resident just allowed in the mini-program."""
    resident_id = current_resident_id()
    for event in sorted(set(body["accepted"])):
        statement = insert(SubscribeConsent).values(resident_id=resident_id, event=event,
                                                    remaining=1)
        db.session.execute(statement.on_conflict_do_update(
            index_elements=[SubscribeConsent.resident_id, SubscribeConsent.event],
            set_={"remaining": func.least(SubscribeConsent.remaining + 1, MAX_ALLOWANCES),
                  "updated_at": func.now()}))
    db.session.commit()
    allowances = dict(db.session.execute(
        select(SubscribeConsent.event, SubscribeConsent.remaining)
        .where(SubscribeConsent.resident_id == resident_id)).all())
    return {"allowances": allowances}
