"""Request and response schemas; validation messages are in Chinese for residents."""

from __future__ import annotations

from collections.abc import Callable

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import ValidationError

from wx_backend.config import NOTIFY_EVENTS
from wx_backend.core.errors import InvalidInput
from wx_backend.identity import residents
from wx_backend.sms.codes import PURPOSES


class Normalised(String):
    """A string passed through a domain normaliser, which may refuse it in Chinese."""

    def __init__(self, normalise: Callable[[str], str], **kwargs):
        super().__init__(**kwargs)
        self.normalise = normalise

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 500:
            raise ValidationError("内容太长")
        try:
            return self.normalise(text)
        except InvalidInput as error:
            raise ValidationError(next(iter(error.fields.values()), error.message)) from None


class LoginIn(Schema):
    code = String(required=True, validate=Length(1, 128, error="登录凭证不正确"),
                  metadata={"description": "wx.login() 得到的 code"})


class LoginOut(Schema):
    token = String(required=True)
    expires_in = Integer(required=True, metadata={"description": "令牌有效秒数"})
    profile_complete = Boolean(required=True)


class SmsCodeIn(Schema):
    phone = Normalised(residents.normalise_phone, required=True)
    purpose = String(load_default="profile",
                     validate=OneOf(PURPOSES, error="验证码用途不正确"))


class SmsCodeOut(Schema):
    expires_in = Integer(required=True)
    resend_after = Integer(required=True)


class ProfileIn(Schema):
    name = Normalised(residents.normalise_name, required=True)
    id_number = Normalised(residents.normalise_id_number, required=True, metadata={
        "description": "证件号码：18位居民身份证号、港澳台居民居住证号，或外国人永久居留身份证号"
                       "（2023版18位，2017版3位字母加12位数字）"})
    id_kind = String(load_default=None, allow_none=True,
                     validate=OneOf(list(residents.DOCUMENT_KINDS), error="证件类型不正确"),
                     metadata={"description": "证件类型；不填时按号码判断。" + "，".join(
                         f"{k}：{v}" for k, v in residents.DOCUMENT_KINDS.items())})
    phone = Normalised(residents.normalise_phone, required=True)
    sms_code = String(required=True, validate=Regexp(r"^[0-9]{6}$", error="验证码应为6位数字"))
    address = Normalised(residents.normalise_address, load_default=None, allow_none=True)
    district_code = Normalised(residents.read_district, load_default=None, allow_none=True,
                               metadata={"description": "住址所在的区（县）：从活动的 districts "
                                                        "列表中选择的行政区划代码，如 410105"})
    promise = Boolean(load_default=False, metadata={
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
    store_id = Integer(required=True, strict=True,
                       validate=Range(1, 2**62, error="药店编号不正确"))
    pickup_slot = Integer(load_default=0, strict=True,
                          validate=Range(0, 20, error="取货时段不正确"))
    rules_version = Integer(
        load_default=None, strict=True, validate=Range(1, 2**31 - 1, error="规则版本不正确"),
        metadata={"description": "客户端显示的规则版本；已过时则返回 409 rules_changed 和新规则"})
    admission = String(
        load_default=None, validate=Length(1, 400, error="排队凭证不正确"),
        metadata={"description": "活动设有排队时必填：排队轮到时得到的 admission"})


class StoresQuery(Schema):
    lat = Float(load_default=None, validate=Range(-90, 90, error="纬度应在-90到90之间"))
    lng = Float(load_default=None, validate=Range(-180, 180, error="经度应在-180到180之间"))
    limit = Integer(load_default=20, validate=Range(1, 200, error="limit应为1到200"))


class BookingOut(Schema):
    id = Integer(required=True)
    campaign_id = Integer(required=True)
    reservation_no = String(required=True, metadata={"example": "48213907"})
    status = String(required=True, metadata={"example": "confirmed"})
    pickup_code = String(required=True, metadata={"example": "052931"})
    rules_version = Integer(required=True, metadata={"description": "预约时生效的规则版本"})
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
    allowances = Dict(keys=String(), values=Integer(), required=True,
                      metadata={"description": "每类订阅消息还可以发送的条数"})
