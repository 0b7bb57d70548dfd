"""Request and response schemas; validation messages are in Chinese for residents.

What each field accepts, and why it is written so, is in ``web.input``: integers are
``WholeNumber``, identity text is taken in its canonical form only.
"""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from wx_backend.config import NOTIFY_EVENTS
from wx_backend.sms.codes import PURPOSES
from wx_backend.web.input import (
    ID_KIND_RULES,
    Flag,
    Pattern,
    RealNumber,
    WholeNumber,
    address_field,
    describes,
    district_field,
    id_kind_field,
    id_number_field,
    name_field,
    phone_field,
    six_digits,
)


class LoginIn(Schema):
    code = String(required=True, validate=Length(1, 128, error="登录凭证不正确"),
                  metadata={"description": "wx.login() 得到的 code"})


class LoginOut(Schema):
    token = String(required=True)
    expires_in = WholeNumber(required=True, metadata={"description": "令牌有效秒数"})
    profile_complete = Boolean(required=True)


class SmsCodeIn(Schema):
    phone = phone_field(required=True)
    purpose = String(load_default="profile",
                     validate=OneOf(PURPOSES, error="验证码用途不正确"))


class SmsCodeOut(Schema):
    expires_in = WholeNumber(required=True)
    resend_after = WholeNumber(required=True)


@describes(allOf=ID_KIND_RULES)
class ProfileIn(Schema):
    name = name_field(required=True)
    id_number = id_number_field(required=True)
    id_kind = id_kind_field()
    phone = phone_field(required=True)
    sms_code = six_digits("验证码应为6位数字", required=True)
    address = address_field(load_default=None, allow_none=True)
    district_code = district_field(load_default=None, allow_none=True, metadata={
        "description": "住址所在的区（县）：从活动的 districts 列表中选择的行政区划代码。"
                       "格式 cn-district：在用的县级行政区划代码"})
    promise = Flag(load_default=False, metadata={
        "description": "承诺信息真实、同一地址只预约一次（按户限购的活动须先承诺）"})


class ProfileOut(Schema):
    profile_complete = Boolean(required=True)
    name = String(allow_none=True, metadata={"example": "张*三"})
    id_number = String(allow_none=True, metadata={"example": "110105********002X"})
    id_kind = String(allow_none=True, metadata={"example": "resident_id"})
    id_kind_name = String(allow_none=True, metadata={"example": "居民身份证"})
    phone = String(allow_none=True, metadata={"example": "138****5678"})
    address = String(allow_none=True)
    district_code = String(allow_none=True, metadata={"example": "410105"})
    district_name = String(allow_none=True, metadata={"example": "郑州市金水区"})
    verified_at = DateTime(allow_none=True)
    promised_at = DateTime(allow_none=True)


ERROR_SPEC = {
    "type": "object",
    "title": "Error",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "example": "sms_code_wrong"},
                "message": {"type": "string", "example": "验证码不正确，还可以再试4次"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                "retry_after": {"type": "integer"},
                "request_id": {"type": "string",
                               "description": "本次请求的编号（也在 X-Request-Id 头中），"
                                              "反映问题时请提供"},
                "rules_version": {"type": "integer",
                                  "description": "rules_changed：当前规则版本"},
                "summary": {"type": "string", "description": "rules_changed：新规则摘要"},
            },
        },
    },
}


class BookingIn(Schema):
    store_id = WholeNumber(required=True, validate=Range(1, 2**62, error="药店编号不正确"))
    pickup_slot = WholeNumber(load_default=0, validate=Range(0, 20, error="取货时段不正确"),
                              metadata={"description": "取货时段的序号（活动规则 pickup.slots 中"
                                                       "的位置）；规则中没有的时段返回 409"})
    rules_version = WholeNumber(
        load_default=None, validate=Range(1, 2**31 - 1, error="规则版本不正确"),
        metadata={"description": "客户端显示的规则版本；已过时则返回 409 rules_changed 和新规则"})
    admission = String(
        load_default=None, validate=Length(1, 400, error="排队凭证不正确"),
        metadata={"description": "活动设有排队时必填：排队轮到时得到的 admission"})


class BookingHeaders(Schema):
    idempotency_key = String(
        data_key="Idempotency-Key", load_default=None, allow_none=False,
        validate=Pattern(r"^[!-~](?:[ -~]{0,62}[!-~])?$", "请求编号应为1到64个可见ASCII字符"),
        metadata={"description": "重试同一次预约时带上同一个编号，得到第一次的结果"})
    rules_version = String(
        data_key="X-Rules-Version", load_default=None, allow_none=False,
        validate=Pattern(r"^[1-9][0-9]{0,8}$", "规则版本应为正整数"),
        metadata={"description": "客户端显示的规则版本（也可放在请求体的 rules_version 中）"})


class StoresQuery(Schema):
    lat = RealNumber(text=True, load_default=None, allow_none=False,
                     validate=Range(-90, 90, error="纬度应在-90到90之间"))
    lng = RealNumber(text=True, load_default=None, allow_none=False,
                     validate=Range(-180, 180, error="经度应在-180到180之间"))
    limit = WholeNumber(text=True, load_default=20, validate=Range(1, 200, error="limit应为1到200"))


class AnnouncementsQuery(Schema):
    campaign_id = WholeNumber(text=True, load_default=None, allow_none=False,
                              validate=Range(1, 2**63 - 1, error="活动编号不正确"),
                              metadata={"description": "只看这个活动的公告（及全市公告）"})


class BookingOut(Schema):
    id = WholeNumber(required=True)
    campaign_id = WholeNumber(required=True)
    reservation_no = String(required=True, metadata={"example": "48213907"})
    status = String(required=True, metadata={"example": "confirmed"})
    pickup_code = String(required=True, metadata={"example": "052931"})
    rules_version = WholeNumber(required=True, metadata={"description": "预约时生效的规则版本"})
    store = Dict(required=True)
    window = Dict(required=True)
    pickup = Dict(required=True)
    portion = Dict(required=True)
    created_at = String(required=True)
    cancelled_at = String(allow_none=True)
    collected_at = String(allow_none=True)


class BookingItem(BookingOut):
    """BookingOut inside a list. A class of its own: apiflask registers the classes it
    outputs, apispec the classes nested in them, and one class in both is added twice."""


class BookingList(Schema):
    bookings = List(Nested(BookingItem), required=True)


class SubscriptionsIn(Schema):
    accepted = List(
        String(validate=OneOf(NOTIFY_EVENTS, error="不认识的消息类型")),
        required=True, validate=Length(0, len(NOTIFY_EVENTS), error="消息类型太多"),
        metadata={"description": "wx.requestSubscribeMessage 中用户选择“允许”的消息类型"})


class SubscriptionsOut(Schema):
    allowances = Dict(keys=String(), values=WholeNumber(), required=True,
                      metadata={"description": "每类订阅消息还可以发送的条数"})


class SubscribeTemplatesOut(Schema):
    templates = Dict(keys=String(), values=String(), required=True, metadata={
        "description": "消息类型 → 小程序订阅消息模板 ID（wx.requestSubscribeMessage 的 tmplIds）；"
                       "未配置模板的类型不在其中"})
