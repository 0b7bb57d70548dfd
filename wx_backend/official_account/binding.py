"""The binding conversation: links an official-account follower to a mini-program resident
when no shared unionid does.

    follower: 绑定
    bot:      请回复您在小程序登记的手机号
    follower: 13800001234
    bot:      请回复身份证号后6位
    follower: 15001X
    bot:      验证码已发往尾号1234的手机……      (a job texts a ``bind`` code)
    follower: 482913
    bot:      绑定成功 + the resident's bookings

The state lives in Redis under ``wx:oa:bind:<openid>`` for ``STATE_SECONDS`` and holds no
personal data in the clear: the phone only as its blind index, the resident as an id.
A wrong phone or ID tail says the same thing for both (nobody learns whether a phone is
registered); after ``MAX_TRIES`` wrong answers the conversation ends. Wrong answers are
also counted per follower and Beijing day (``BINDING_TRIES_PER_DAY``), in a key of their
own that starting again does not touch: once the day's are used up, the follower is asked
to come back tomorrow, so nobody can walk through phones and ID tails by restarting. Codes
follow the rules of ``wx_backend.sms.codes`` (5 minutes, 5 tries, one send a minute; the
follower's conversation owns its code, and its sends count against the follower). "退出"
ends the conversation at any step.
"""

from __future__ import annotations

import json
import re

from flask import current_app
from sqlalchemy import select

from wx_backend import jobs
from wx_backend.core import clock
from wx_backend.core.canonical import id_tail
from wx_backend.core.clock import BEIJING
from wx_backend.core.errors import DomainError
from wx_backend.core.pii import INDEX_PHONE, mask_phone
from wx_backend.extensions import db, pii, redis_store
from wx_backend.identity import residents
from wx_backend.models import Follower, Resident
from wx_backend.official_account.followers import follower, link
from wx_backend.official_account.status import status_text
from wx_backend.sms import sender, verification_codes
from wx_backend.sms.codes import Requester

STATE_SECONDS = 600
MAX_TRIES = 5
QUIT_WORDS = {"退出", "取消", "结束", "不绑了", "算了"}
_CODE = re.compile(r"^[0-9]{6}$")

ASK_PHONE = "请回复您在小程序实名登记时填写的手机号（11位）。\n回复“退出”可结束绑定。"
ASK_ID = "请回复您的身份证号后6位（最后一位是X的请输入X）。"


def state_key(openid: str) -> str:
    """The Redis key of ``openid``'s binding in progress."""
    return f"wx:oa:bind:{openid}"


def _save(openid: str, state: dict) -> None:
    redis_store.client.set(state_key(openid), json.dumps(state), ex=STATE_SECONDS)


def _end(openid: str) -> None:
    redis_store.client.delete(state_key(openid))


def _day_key(openid: str) -> str:
    day = clock.now().astimezone(BEIJING).strftime("%Y%m%d")
    return f"wx:oa:bind-tries:{openid}:{day}"


def _day_used_up(openid: str) -> bool:
    limit = current_app.config["BINDING_TRIES_PER_DAY"]
    return limit > 0 and int(redis_store.client.get(_day_key(openid)) or 0) >= limit


DAY_USED_UP = "今天的绑定尝试次数已用完，请明天再回复“绑定”重新开始。如有疑问请联系社区工作人员。"


def start(openid: str) -> str:
    """Begin a binding, unless the follower is linked already."""
    row = follower(openid)
    db.session.commit()
    if row.resident_id is not None:
        return "您已绑定小程序账号，回复“查询”查看预约。如需更换，请先回复“解绑”。"
    if _day_used_up(openid):
        return DAY_USED_UP
    _save(openid, {"step": "phone", "tries": 0})
    return ASK_PHONE


def unlink(openid: str) -> str:
    """Undo a link (for example a shared phone bound to the wrong person)."""
    row = db.session.get(Follower, openid)
    if row is None or row.resident_id is None:
        return "您还没有绑定小程序账号。回复“绑定”开始绑定。"
    row.resident_id = None
    row.linked_at = None
    row.linked_by = None
    db.session.commit()
    return "已解除绑定。"


def step(openid: str, text: str, state: dict) -> str:
    """Take the follower's next answer in the conversation."""
    if text in QUIT_WORDS:
        _end(openid)
        return "已退出绑定。"
    handler = {"phone": _phone, "id": _id_tail, "code": _code}.get(state.get("step"))
    if handler is None:
        _end(openid)
        return ASK_PHONE
    return handler(openid, text, state)


def _wrong(openid: str, state: dict, message: str) -> str:
    with redis_store.client.pipeline() as pipe:
        pipe.incr(_day_key(openid))
        pipe.expire(_day_key(openid), 2 * 24 * 3600)
        pipe.execute()
    if _day_used_up(openid):
        _end(openid)
        return DAY_USED_UP
    state["tries"] = state.get("tries", 0) + 1
    if state["tries"] >= MAX_TRIES:
        _end(openid)
        return "错误次数太多，绑定已结束。请核对小程序中登记的信息后，回复“绑定”重新开始。"
    _save(openid, state)
    return message


def _phone(openid: str, text: str, state: dict) -> str:
    try:
        phone = residents.normalise_phone(text)
    except DomainError:
        return _wrong(openid, state, "手机号格式不正确，请回复11位手机号。回复“退出”可结束绑定。")
    state.update(step="id", phone_ix=pii.vault.blind_index(phone, INDEX_PHONE))
    _save(openid, state)
    return ASK_ID


def _id_tail(openid: str, text: str, state: dict) -> str:
    try:
        tail = id_tail(text, 6)
    except DomainError:
        return _wrong(openid, state, "请回复身份证号后6位：前5位是数字，最后一位是数字或X。")
    matches = [r for r in db.session.scalars(
        select(Resident).where(Resident.phone_index == state.get("phone_ix"),
                               Resident.profile_completed_at.is_not(None)))
        if r.id_number and r.id_number.endswith(tail)]
    if len(matches) != 1:
        return _wrong(openid, state,
                      "手机号或身份证号后6位与小程序登记的不一致，请核对后回复身份证号后6位。")
    resident = matches[0]
    state.update(step="code", resident_id=resident.id)
    _save(openid, state)

    jobs.enqueue("send_binding_code", openid, resident.id)
    return (f"验证码正在发往尾号{mask_phone(resident.phone)[-4:]}的手机，"
            "请回复收到的6位验证码（5分钟内有效）。")


def _code(openid: str, text: str, state: dict) -> str:
    if not _CODE.match(text):
        return _wrong(openid, state, "请回复短信中的6位数字验证码。回复“退出”可结束绑定。")
    resident = db.session.get(Resident, state.get("resident_id"))
    if resident is None or not resident.phone:
        _end(openid)
        return "该账号已不存在，绑定已结束。"
    try:
        verification_codes().verify(resident.phone, "bind", text,
                                    Requester.of_follower(openid))
    except DomainError as error:
        if error.code == "sms_code_wrong":
            return error.message
        _end(openid)
        return error.message + "，请回复“绑定”重新开始。"

    row = follower(openid)
    link(row, resident.id, "binding")
    db.session.commit()
    _end(openid)
    return "绑定成功！\n\n" + status_text(resident.id)




def send_code(openid: str, resident_id: int) -> str | None:
    """Text a binding code to the resident's phone; answers a message for the follower when
    it could not be sent."""
    resident = db.session.get(Resident, resident_id)
    if resident is None or not resident.phone:
        return "该账号已不存在，绑定已结束。"
    try:
        verification_codes().send(sender(), resident.phone, "bind",
                                  Requester.of_follower(openid))
    except DomainError as error:
        return f"验证码未能发送：{error.message}"
    return None
