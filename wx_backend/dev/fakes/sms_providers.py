"""Local stand-ins for Aliyun's and Tencent Cloud's SMS APIs, spoken to over HTTP.

The official SDKs talk to them unmodified; only the endpoint (``127.0.0.1:PORT``) and the
scheme (``http``) differ from production. Each fake speaks its provider's wire protocol:

- Aliyun (``alibabacloud_dysmsapi20170525`` 4.x): ``POST /`` with the action in the
  ``x-acs-action`` header, the RPC parameters in the query string (``SendBatchSms`` puts its
  JSON arrays in a form body) and an ``ACS3-HMAC-SHA256`` ``Authorization`` header, which is
  verified in full. Business refusals are HTTP 200 with ``Code`` other than ``OK``; gateway
  refusals (authentication, throttling, server errors) carry an HTTP 4xx/5xx status and the
  same ``RequestId``/``Code``/``Message`` JSON.
- Tencent Cloud (``tencentcloud.sms.v20210111``): ``POST /`` with a JSON body, the action in
  ``X-TC-Action`` and a ``TC3-HMAC-SHA256`` ``Authorization`` header, also verified in full.
  Every answer is HTTP 200 ``{"Response": {...}}`` with ``Content-Type: application/json``
  exactly (the SDK only looks for ``Response.Error`` under that type); refusals of the
  whole request carry ``Response.Error``, per-number results sit in ``SendStatusSet``.

Actions: Aliyun ``SendSms``, ``SendBatchSms``, ``QuerySendDetails``; Tencent ``SendSms``,
``PullSmsSendStatusByPhoneNumber``. Mainland mobiles (11 digits, ``1[3-9]``) are accepted;
other numbers get the provider's invalid-number code, unknown template codes its template
code, missing template parameters its parameter code. Template codes default to one per
``wx_backend.sms.templates.TEMPLATES`` entry (``aliyun_template_codes()`` and
``tencent_template_codes()`` give the matching ``SMS_TEMPLATE_CODES``).

Every accepted message is recorded when the request arrives, before any injected latency,
so a caller that gives up waiting still leaves an accepted message behind, as with the real
providers. Control endpoints (JSON):

- ``GET /fake/messages[?phone=]``, ``DELETE /fake/messages``
- ``POST /fake/faults`` ``{"times": N, "http_status": 500}`` or ``{"times": N, "code": C}``:
  the next N send calls fail so (a code is answered the way the provider answers it)
- ``POST /fake/reject`` ``{"phones": [...], "code": C?}``: these numbers are refused, by
  default as invalid (Aliyun) or blacklisted (Tencent)
- ``POST /fake/latency`` ``{"seconds": x}``: send calls answer x seconds after recording
- ``GET /fake/stats`` (calls per action, messages accepted), ``POST /fake/reset``

Run one in the foreground with ``python -m wx_backend.dev.fakes.sms_providers --provider aliyun
--port 8801``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, quote

from flask import Flask, Response, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

from wx_backend.core.clock import BEIJING
from wx_backend.sms.templates import TEMPLATES, placeholders

MOBILE = re.compile(r"1[3-9]\d{9}")

DEFAULT_ALIYUN_ACCESS_KEY_ID = "LTAI5tFakeSmsAccessKey"
DEFAULT_ALIYUN_ACCESS_KEY_SECRET = "fake-aliyun-sms-secret"
DEFAULT_TENCENT_SECRET_ID = "AKIDFakeSmsSecretId"
DEFAULT_TENCENT_SECRET_KEY = "fake-tencent-sms-key"
DEFAULT_TENCENT_SDK_APP_ID = "1400000001"

ALIYUN_VERSION = "2017-05-25"
TENCENT_VERSION = "2021-01-11"
ALIYUN_SEND_ACTIONS = ("SendSms", "SendBatchSms")
TENCENT_SEND_ACTIONS = ("SendSms",)


def aliyun_template_codes() -> dict[str, str]:
    """``SMS_TEMPLATE_CODES`` for the Aliyun fake's default templates."""
    return {name: f"SMS_{470001 + index}" for index, name in enumerate(TEMPLATES)}


def tencent_template_codes() -> dict[str, str]:
    """``SMS_TEMPLATE_CODES`` for the Tencent fake's default templates."""
    return {name: str(1470001 + index) for index, name in enumerate(TEMPLATES)}


def _aliyun_default_templates() -> dict[str, str]:
    """Template code -> text in Aliyun's syntax (``${name}``)."""
    codes = aliyun_template_codes()
    return {codes[name]: re.sub(r"\{(\w+)\}", r"${\1}", text) for name, text in TEMPLATES.items()}


def _tencent_default_templates() -> dict[str, str]:
    """Template code -> text in Tencent's syntax (``{1}``, ``{2}``... in order)."""
    codes = tencent_template_codes()
    numbered = {}
    for name, text in TEMPLATES.items():
        order = {placeholder: str(index) for index, placeholder in
                 enumerate(placeholders(text), start=1)}
        numbered[codes[name]] = re.sub(r"\{(\w+)\}", lambda m: "{" + order[m[1]] + "}", text)  # noqa: B023
    return numbered


def _mainland(phone: str) -> str | None:
    """The 11-digit mainland number in ``phone`` (bare or ``+86``), or None."""
    bare = phone[3:] if phone.startswith("+86") else phone
    return bare if MOBILE.fullmatch(bare) else None


@dataclass
class _Fault:
    times: int
    http_status: int | None
    code: str | None


@dataclass
class FakeSmsState:
    """Everything a fake knows; one lock guards it because the server is threaded."""

    messages: list[dict] = field(default_factory=list)
    by_phone: dict[str, list[dict]] = field(default_factory=dict)
    faults: list[_Fault] = field(default_factory=list)
    rejected: dict[str, str | None] = field(default_factory=dict)
    latency: float = 0.0
    calls: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_call(self, action: str) -> None:
        with self.lock:
            self.calls[action] += 1

    def take_fault(self) -> _Fault | None:
        with self.lock:
            while self.faults:
                fault = self.faults[0]
                if fault.times > 0:
                    fault.times -= 1
                    return fault
                self.faults.pop(0)
        return None

    def refusal(self, phones: list[str]) -> tuple[str, str | None] | None:
        """The first of ``phones`` (mainland form) refused via /fake/reject, with its code."""
        with self.lock:
            for phone in phones:
                if phone in self.rejected:
                    return phone, self.rejected[phone]
        return None

    def record(self, records: list[dict]) -> None:
        with self.lock:
            self.messages.extend(records)
            for record in records:
                self.by_phone.setdefault(record["phone"], []).append(record)

    def records_for(self, phone: str) -> list[dict]:
        with self.lock:
            return list(self.by_phone.get(phone, ()))

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.by_phone.clear()
            self.faults.clear()
            self.rejected.clear()
            self.latency = 0.0
            self.calls.clear()


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _add_control_routes(app: Flask, state: FakeSmsState,
                        send_actions: tuple[str, ...]) -> None:
    """The ``/fake/`` endpoints both fakes share."""

    @app.get("/fake/messages")
    def list_messages():
        phone = request.args.get("phone")
        if phone is not None:
            return jsonify(messages=state.records_for(_mainland(phone) or phone))
        with state.lock:
            return jsonify(messages=list(state.messages))

    @app.delete("/fake/messages")
    def clear_messages():
        with state.lock:
            state.messages.clear()
            state.by_phone.clear()
        return jsonify(ok=True)

    @app.post("/fake/faults")
    def add_fault():
        spec = request.get_json(force=True)
        status = spec.get("http_status")
        fault = _Fault(times=int(spec.get("times", 1)),
                       http_status=int(status) if status is not None else None,
                       code=spec.get("code"))
        if fault.http_status is None and not fault.code:
            return jsonify(error="give http_status or code"), 400
        with state.lock:
            state.faults.append(fault)
        return jsonify(ok=True)

    @app.post("/fake/reject")
    def reject():
        spec = request.get_json(force=True)
        with state.lock:
            for phone in spec.get("phones", []):
                state.rejected[_mainland(phone) or phone] = spec.get("code")
        return jsonify(ok=True)

    @app.post("/fake/latency")
    def set_latency():
        seconds = float(request.get_json(force=True)["seconds"])
        with state.lock:
            state.latency = max(0.0, seconds)
        return jsonify(ok=True)

    @app.get("/fake/stats")
    def stats():
        with state.lock:
            return jsonify(calls=dict(state.calls), messages=len(state.messages),
                           send_calls=sum(state.calls[a] for a in send_actions))

    @app.post("/fake/reset")
    def reset():
        state.reset()
        return jsonify(ok=True)


def _pause(state: FakeSmsState) -> None:
    """Injected latency, after the messages of a send call were recorded."""
    if state.latency:
        time.sleep(state.latency)


# --- Aliyun -----------------------------------------------------------------------------

ALIYUN_MESSAGES = {
    "OK": "OK",
    "isv.MOBILE_NUMBER_ILLEGAL": "invalid mobile number",
    "isv.MOBILE_COUNT_OVER_LIMIT": "手机号码数量超过限制",
    "isv.SMS_TEMPLATE_ILLEGAL": "模板不合法(不存在或被拉黑)",
    "isv.SMS_SIGNATURE_ILLEGAL": "签名不合法(不存在或被拉黑)",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少对应参数值",
    "isv.INVALID_JSON_PARAM": "JSON参数不合法，只接受字符串值",
    "isv.INVALID_PARAMETERS": "参数异常",
    "isv.BUSINESS_LIMIT_CONTROL": "触发号码天级流控Permits:10",
    "isv.DAY_LIMIT_CONTROL": "触发日发送限额",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足",
    "isp.SYSTEM_ERROR": "系统错误",
    "InvalidAccessKeyId.NotFound": "Specified access key is not found.",
    "SignatureDoesNotMatch": "Specified signature does not match our calculation.",
    "IncompleteSignature": "The request signature does not conform to Aliyun standards.",
    "InvalidAction.NotFound": "Specified api is not found, please check your url and method.",
    "InvalidVersion": "Specified parameter Version is not valid.",
    "Throttling.User": "Request was denied due to user flow control.",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "InternalError": "The request processing has failed due to some unknown error.",
}


def _aliyun_status(code: str) -> int:
    """The HTTP status Aliyun answers ``code`` with: business codes come with a 200."""
    if code == "OK" or code.startswith(("isv.", "isp.")):
        return 200
    if code == "InvalidAccessKeyId.NotFound" or code.startswith("InvalidAction"):
        return 404
    if code == "ServiceUnavailable":
        return 503
    if code.startswith("InternalError"):
        return 500
    return 400


def _aliyun_code_for(status: int) -> str:
    """The gateway code Aliyun sends with a bare HTTP ``status``."""
    if status == 503:
        return "ServiceUnavailable"
    if status >= 500:
        return "InternalError"
    return "Throttling.User" if status == 429 else "InvalidParameter"


def _aliyun_answer(code: str = "OK", status: int | None = None, message: str | None = None,
                   **fields) -> tuple[Response, int]:
    body = {"RequestId": _request_id(), "Code": code,
            "Message": message or ALIYUN_MESSAGES.get(code, code), **fields}
    status = status or _aliyun_status(code)
    if status != 200:
        body["HostId"] = "dysmsapi.aliyuncs.com"
        body["Recommend"] = f"https://api.aliyun.com/troubleshoot?q={code}"
    return jsonify(body), status


def _aliyun_authorization_error(access_key_id: str, access_key_secret: str,
                                body: bytes) -> str | None:
    """The gateway's error code for this request's signature, or None when it checks out.

    Rebuilds the ACS3 canonical request the way the SDK does (sorted query with values
    percent-encoded, the signed headers lower-cased and trimmed, the payload hash) and
    compares HMAC-SHA256 signatures with the expected secret.
    """
    header = request.headers.get("Authorization", "")
    algorithm, _, rest = header.partition(" ")
    if algorithm != "ACS3-HMAC-SHA256":
        return "IncompleteSignature"
    parts = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    if parts.get("Credential") != access_key_id:
        return "InvalidAccessKeyId.NotFound"
    payload_hash = hashlib.sha256(body).hexdigest()
    if request.headers.get("x-acs-content-sha256") != payload_hash:
        return "SignatureDoesNotMatch"
    signed = parts.get("SignedHeaders", "")
    query = "&".join(f"{key}={quote(value, safe='~')}"
                     for key, value in sorted(request.args.items(multi=False)))
    headers = "".join(f"{name}:{request.headers.get(name, '').strip()}\n"
                      for name in signed.split(";"))
    canonical = f"{request.method}\n{request.path}\n{query}\n{headers}\n{signed}\n{payload_hash}"
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    expected = hmac.new(access_key_secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("Signature", "")):
        return "SignatureDoesNotMatch"
    return None


class _Template:
    """A template text split once into literal pieces and variables, for quick filling.

    ``pattern`` finds the variables; group 1 is the variable's name (Aliyun) or position
    (Tencent, from 1).
    """

    def __init__(self, text: str, pattern: str):
        self.pieces = re.split(pattern, text)
        self.names = self.pieces[1::2]

    def fill(self, values: Mapping[str, object]) -> str | None:
        """The text with every variable filled from ``values``, or None if one is missing."""
        try:
            return "".join(piece if i % 2 == 0 else str(values[piece])
                           for i, piece in enumerate(self.pieces))
        except KeyError:
            return None


def _aliyun_template(text: str) -> _Template:
    return _Template(text, r"\$\{(\w+)\}")


def _tencent_template(text: str) -> _Template:
    return _Template(text, r"\{(\d+)\}")


def create_aliyun_app(access_key_id: str, access_key_secret: str,
                      templates: Mapping[str, str],
                      sign_names: Collection[str] | None = None) -> Flask:
    """The Aliyun fake's WSGI app; ``templates`` maps template codes to ``${var}`` texts."""
    app = Flask("fake_aliyun_sms")
    app.json.ensure_ascii = False
    state = FakeSmsState()
    app.extensions["fake_sms"] = state
    compiled = {code: _aliyun_template(text) for code, text in templates.items()}
    serials = itertools.count(10**6)

    def next_biz_id() -> str:
        return f"{int(time.time() * 1000) % 10**12:012d}{next(serials):06d}^0"

    def accept(action: str, code: str, out_id: str | None,
               entries: list[tuple[str, str, object]]):
        """Validate (phone, sign name, params) entries of one call; record them all or none."""
        template = compiled.get(code)
        if template is None:
            return _aliyun_answer("isv.SMS_TEMPLATE_ILLEGAL")
        phones = []
        for phone, _, _ in entries:
            if not MOBILE.fullmatch(phone):
                return _aliyun_answer("isv.MOBILE_NUMBER_ILLEGAL")
            phones.append(phone)
        refused = state.refusal(phones)
        if refused is not None:
            return _aliyun_answer(refused[1] or "isv.MOBILE_NUMBER_ILLEGAL")
        now = time.time()
        moment = datetime.fromtimestamp(now, BEIJING)
        send_date, send_day = moment.strftime("%Y-%m-%d %H:%M:%S"), moment.strftime("%Y%m%d")
        biz_id = next_biz_id()
        records = []
        for phone, sign, params in entries:
            if not sign or (sign_names is not None and sign not in sign_names):
                return _aliyun_answer("isv.SMS_SIGNATURE_ILLEGAL")
            if not isinstance(params, dict) or not all(
                    isinstance(value, str) for value in params.values()):
                return _aliyun_answer("isv.INVALID_JSON_PARAM")
            text = template.fill(params)
            if text is None:
                return _aliyun_answer("isv.TEMPLATE_MISSING_PARAMETERS")
            records.append({
                "provider": "aliyun", "action": action, "phone": phone,
                "template_code": code, "params": params, "sign_name": sign,
                "content": f"【{sign}】{text}", "out_id": out_id, "message_id": biz_id,
                "at": now, "send_date": send_date, "send_day": send_day,
            })
        state.record(records)
        _pause(state)
        return _aliyun_answer("OK", BizId=biz_id)

    def send_sms(params: Mapping[str, str]):
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                return _aliyun_answer(f"Missing{name}", status=400,
                                      message=f"{name} is mandatory for this action.")
        phones = [p.strip() for p in params["PhoneNumbers"].split(",") if p.strip()]
        if len(phones) > 1000:
            return _aliyun_answer("isv.MOBILE_COUNT_OVER_LIMIT")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return _aliyun_answer("isv.INVALID_JSON_PARAM")
        return accept("SendSms", params["TemplateCode"], params.get("OutId"),
                      [(phone, params["SignName"], values) for phone in phones])

    def send_batch_sms(params: Mapping[str, str]):
        for name in ("PhoneNumberJson", "SignNameJson", "TemplateCode"):
            if not params.get(name):
                return _aliyun_answer(f"Missing{name}", status=400,
                                      message=f"{name} is mandatory for this action.")
        try:
            phones = json.loads(params["PhoneNumberJson"])
            signs = json.loads(params["SignNameJson"])
            values = json.loads(params.get("TemplateParamJson") or "null")
        except ValueError:
            return _aliyun_answer("isv.INVALID_JSON_PARAM")
        if values is None:
            values = [{} for _ in phones] if isinstance(phones, list) else None
        if not all(isinstance(x, list) for x in (phones, signs, values)) \
                or not len(phones) == len(signs) == len(values) or not phones:
            return _aliyun_answer("isv.INVALID_PARAMETERS")
        if len(phones) > 100:
            return _aliyun_answer("isv.MOBILE_COUNT_OVER_LIMIT")
        if not all(isinstance(phone, str) for phone in phones):
            return _aliyun_answer("isv.MOBILE_NUMBER_ILLEGAL")
        return accept("SendBatchSms", params["TemplateCode"], params.get("OutId"),
                      list(zip(phones, signs, values)))

    def query_send_details(params: Mapping[str, str]):
        for name in ("PhoneNumber", "SendDate", "PageSize", "CurrentPage"):
            if not params.get(name):
                return _aliyun_answer(f"Missing{name}", status=400,
                                      message=f"{name} is mandatory for this action.")
        phone = params["PhoneNumber"]
        if not MOBILE.fullmatch(phone):
            return _aliyun_answer("isv.MOBILE_NUMBER_ILLEGAL")
        try:
            day = datetime.strptime(params["SendDate"], "%Y%m%d").date()
            page_size, page = int(params["PageSize"]), int(params["CurrentPage"])
        except ValueError:
            return _aliyun_answer("isv.INVALID_PARAMETERS")
        today = datetime.now(BEIJING).date()
        if not 1 <= page_size <= 50 or page < 1 or not today - timedelta(days=30) <= day <= today:
            return _aliyun_answer("isv.INVALID_PARAMETERS")
        biz_id = params.get("BizId")
        found = [r for r in state.records_for(phone) if r["send_day"] == params["SendDate"]
                 and (not biz_id or r["message_id"] == biz_id)]
        found.sort(key=lambda r: r["at"], reverse=True)
        shown = found[(page - 1) * page_size:page * page_size]
        details = []
        for record in shown:
            detail = {"ErrCode": "DELIVERED", "TemplateCode": record["template_code"],
                      "ReceiveDate": record["send_date"], "SendDate": record["send_date"],
                      "PhoneNum": record["phone"], "Content": record["content"],
                      "SendStatus": 3}
            if record["out_id"] is not None:
                detail["OutId"] = record["out_id"]
            details.append(detail)
        return _aliyun_answer("OK", TotalCount=len(found),
                              SmsSendDetailDTOs={"SmsSendDetailDTO": details})

    actions: dict[str, Callable[[Mapping[str, str]], object]] = {
        "SendSms": send_sms, "SendBatchSms": send_batch_sms,
        "QuerySendDetails": query_send_details,
    }

    @app.post("/")
    def rpc():
        body = request.get_data(cache=False)
        action = request.headers.get("x-acs-action") or request.args.get("Action", "")
        if action not in actions:
            return _aliyun_answer("InvalidAction.NotFound")
        state.count_call(action)
        version = request.headers.get("x-acs-version") or request.args.get("Version")
        if version != ALIYUN_VERSION:
            return _aliyun_answer("InvalidVersion")
        refused = _aliyun_authorization_error(access_key_id, access_key_secret, body)
        if refused is not None:
            return _aliyun_answer(refused)
        if action in ALIYUN_SEND_ACTIONS:
            fault = state.take_fault()
            if fault is not None:
                return _aliyun_answer(fault.code or _aliyun_code_for(fault.http_status or 500),
                                      status=fault.http_status)
        params = dict(request.args.items())
        if body:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        return actions[action](params)

    _add_control_routes(app, state, ALIYUN_SEND_ACTIONS)
    return app


# --- Tencent ----------------------------------------------------------------------------

TENCENT_MESSAGES = {
    "AuthFailure.SecretIdNotFound": (
        "The SecretId is not found, please ensure that your SecretId is correct."),
    "AuthFailure.SignatureFailure": (
        "The provided credentials could not be validated. "
        "Please check your signature is correct."),
    "AuthFailure.SignatureExpire": "Signature expired.",
    "AuthFailure.InvalidAuthorization": "Authorization in the request header is invalid.",
    "InvalidAction": "The action requested does not exist.",
    "NoSuchVersion": "The requested version does not exist.",
    "InvalidParameter": "The request body is not valid JSON.",
    "InvalidParameterValue.IncorrectPhoneNumber": "incorrect phone number",
    "InvalidParameterValue.SdkAppIdNotExist": "SdkAppId not exist",
    "InvalidParameterValue.OffsetVerifyFail": "offset verify fail",
    "InvalidParameterValue.LimitVerifyFail": "limit verify fail",
    "InvalidParameterValue.BeginTimeVerifyFail": "begin time verify fail",
    "InvalidParameterValue.EndTimeVerifyFail": "end time verify fail",
    "InvalidParameterValue.TemplateParameterFormatError": "template parameter format error",
    "FailedOperation.TemplateIncorrectOrUnapproved": "template is not approved or not exist",
    "FailedOperation.SignatureIncorrectOrUnapproved": "signature is not approved or not exist",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": (
        "the number of template parameters does not match the approved template"),
    "FailedOperation.PhoneNumberInBlacklist": "phone number in blacklist",
    "LimitExceeded.PhoneNumberCountLimit": "phone numbers in one request exceed 200",
    "LimitExceeded.PhoneNumberDailyLimit": "the number of messages to this number today "
                                           "exceeds the limit",
    "MissingParameter.EmptyPhoneNumberSet": "PhoneNumberSet is empty",
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": (
        "the request contains both domestic and international phone numbers"),
    "RequestLimitExceeded": "Your current request times equals to `20` in a second, "
                            "which exceeds the frequency limit `20` for a second.",
    "InternalError": "An internal error has occurred. Retry your request.",
}


def _tencent_answer(payload: dict) -> Response:
    """HTTP 200 ``{"Response": payload}``, typed exactly ``application/json``."""
    payload.setdefault("RequestId", str(uuid.uuid4()))
    text = json.dumps({"Response": payload}, ensure_ascii=False)
    return Response(text, status=200, mimetype="application/json")


def _tencent_error(code: str, message: str | None = None) -> Response:
    return _tencent_answer({"Error": {"Code": code,
                                      "Message": message or TENCENT_MESSAGES.get(code, code)}})


def _tencent_authorization_error(secret_id: str, secret_key: str, body: bytes) -> str | None:
    """The error code for this request's TC3 signature, or None when it checks out."""
    header = request.headers.get("Authorization", "")
    algorithm, _, rest = header.partition(" ")
    if algorithm != "TC3-HMAC-SHA256":
        return "AuthFailure.InvalidAuthorization"
    parts = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    scope = parts.get("Credential", "").split("/")
    if len(scope) != 4 or scope[3] != "tc3_request":
        return "AuthFailure.InvalidAuthorization"
    if scope[0] != secret_id:
        return "AuthFailure.SecretIdNotFound"
    try:
        timestamp = int(request.headers.get("X-TC-Timestamp", ""))
    except ValueError:
        return "AuthFailure.InvalidAuthorization"
    if abs(time.time() - timestamp) > 300:
        return "AuthFailure.SignatureExpire"
    date, service = scope[1], scope[2]
    signed = parts.get("SignedHeaders", "")
    headers = "".join(f"{name}:{request.headers.get(name, '')}\n" for name in signed.split(";"))
    canonical = (f"{request.method}\n{request.path}\n{request.query_string.decode()}\n"
                 f"{headers}\n{signed}\n{hashlib.sha256(body).hexdigest()}")
    to_sign = (f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n"
               + hashlib.sha256(canonical.encode()).hexdigest())
    key = ("TC3" + secret_key).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("Signature", "")):
        return "AuthFailure.SignatureFailure"
    return None


def _fee(content: str) -> int:
    """Billed parts: 70 characters fit one SMS, longer texts go in parts of 67."""
    return 1 if len(content) <= 70 else -(-len(content) // 67)


def create_tencent_app(secret_id: str, secret_key: str, sdk_app_id: str,
                       templates: Mapping[str, str],
                       sign_names: Collection[str] | None = None) -> Flask:
    """The Tencent fake's WSGI app; ``templates`` maps template ids to ``{1}`` texts."""
    app = Flask("fake_tencent_sms")
    app.json.ensure_ascii = False
    state = FakeSmsState()
    app.extensions["fake_sms"] = state
    compiled = {str(code): _tencent_template(text) for code, text in templates.items()}
    serial_prefix = f"2028:{secrets.token_hex(4)}"
    serials = itertools.count(1)

    def send_sms(body: dict) -> Response:
        if body.get("SmsSdkAppId") != sdk_app_id:
            return _tencent_error("InvalidParameterValue.SdkAppIdNotExist")
        numbers = body.get("PhoneNumberSet")
        if not numbers:
            return _tencent_error("MissingParameter.EmptyPhoneNumberSet")
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            return _tencent_error("InvalidParameterValue.IncorrectPhoneNumber")
        if len(numbers) > 200:
            return _tencent_error("LimitExceeded.PhoneNumberCountLimit")
        domestic = {n.startswith("+86") or not n.startswith("+") for n in numbers}
        if len(domestic) > 1:
            return _tencent_error("UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber")
        sign = body.get("SignName")
        if not sign or (sign_names is not None and sign not in sign_names):
            return _tencent_error("FailedOperation.SignatureIncorrectOrUnapproved")
        template_id = str(body.get("TemplateId", ""))
        template = compiled.get(template_id)
        if template is None:
            return _tencent_error("FailedOperation.TemplateIncorrectOrUnapproved")
        params = body.get("TemplateParamSet") or []
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return _tencent_error("InvalidParameterValue.TemplateParameterFormatError")
        text = None
        if len(set(template.names)) == len(params):
            text = template.fill({str(i): value for i, value in enumerate(params, start=1)})
        if text is None:
            return _tencent_error("FailedOperation.TemplateParamSetNotMatchApprovedTemplate")
        content = f"【{sign}】{text}"
        session = body.get("SessionContext") or ""
        now = time.time()
        statuses, records = [], []
        with state.lock:
            rejected = dict(state.rejected)
        for number in numbers:
            phone = _mainland(number)
            status = {"PhoneNumber": number, "SessionContext": session, "IsoCode": "CN",
                      "SerialNo": "", "Fee": 0}
            if phone is None or phone in rejected:
                code = ("InvalidParameterValue.IncorrectPhoneNumber" if phone is None
                        else rejected[phone] or "FailedOperation.PhoneNumberInBlacklist")
                status.update(Code=code, Message=TENCENT_MESSAGES.get(code, code))
            else:
                serial = f"{serial_prefix}{next(serials):012x}"
                status.update(Code="Ok", Message="send success", SerialNo=serial,
                              Fee=_fee(content))
                records.append({
                    "provider": "tencent", "action": "SendSms", "phone": phone,
                    "phone_number": number, "template_code": template_id, "params": params,
                    "sign_name": sign, "content": content, "session_context": session,
                    "message_id": serial, "at": now,
                })
            statuses.append(status)
        state.record(records)
        _pause(state)
        return _tencent_answer({"SendStatusSet": statuses})

    def pull_status(body: dict) -> Response:
        if body.get("SmsSdkAppId") != sdk_app_id:
            return _tencent_error("InvalidParameterValue.SdkAppIdNotExist")
        phone = _mainland(str(body.get("PhoneNumber", "")))
        if phone is None:
            return _tencent_error("InvalidParameterValue.IncorrectPhoneNumber")
        if body.get("Offset") != 0:
            return _tencent_error("InvalidParameterValue.OffsetVerifyFail")
        limit = body.get("Limit")
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            return _tencent_error("InvalidParameterValue.LimitVerifyFail")
        begin, end = body.get("BeginTime"), body.get("EndTime")
        if not isinstance(begin, int) or begin < time.time() - 7 * 86400 - 60:
            return _tencent_error("InvalidParameterValue.BeginTimeVerifyFail")
        if not isinstance(end, int) or end < begin:
            return _tencent_error("InvalidParameterValue.EndTimeVerifyFail")
        found = sorted((r for r in state.records_for(phone) if begin <= int(r["at"]) <= end),
                       key=lambda r: r["at"])[:limit]
        return _tencent_answer({"PullSmsSendStatusSet": [
            {"UserReceiveTime": int(r["at"]), "CountryCode": "86", "SubscriberNumber": phone,
             "PhoneNumber": "+86" + phone, "SerialNo": r["message_id"],
             "ReportStatus": "SUCCESS", "Description": "用户接收成功",
             "SessionContext": r["session_context"]}
            for r in found]})

    actions: dict[str, Callable[[dict], Response]] = {
        "SendSms": send_sms, "PullSmsSendStatusByPhoneNumber": pull_status,
    }

    @app.post("/")
    def api():
        body = request.get_data(cache=False)
        action = request.headers.get("X-TC-Action", "")
        if action not in actions:
            return _tencent_error("InvalidAction")
        state.count_call(action)
        if request.headers.get("X-TC-Version") != TENCENT_VERSION:
            return _tencent_error("NoSuchVersion")
        refused = _tencent_authorization_error(secret_id, secret_key, body)
        if refused is not None:
            return _tencent_error(refused)
        if action in TENCENT_SEND_ACTIONS:
            fault = state.take_fault()
            if fault is not None:
                if fault.http_status and fault.http_status != 200:
                    return Response("upstream error", status=fault.http_status,
                                    mimetype="text/html")
                return _tencent_error(fault.code or "InternalError")
        try:
            payload = json.loads(body)
        except ValueError:
            return _tencent_error("InvalidParameter")
        if not isinstance(payload, dict):
            return _tencent_error("InvalidParameter")
        return actions[action](payload)

    _add_control_routes(app, state, TENCENT_SEND_ACTIONS)
    return app


# --- servers ----------------------------------------------------------------------------

class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass


class _FakeSmsServer:
    """Runs a fake in a daemon thread; ``base_url`` is ``http://HOST:PORT`` (no slash)."""

    provider = ""

    def __init__(self, app: Flask, port: int, host: str):
        self.app = app
        self._server = make_server(host, port, app, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"fake-{self.provider}-sms", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def state(self) -> FakeSmsState:
        return self.app.extensions["fake_sms"]

    def start(self):
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeAliyunSms(_FakeSmsServer):
    """Aliyun's SMS API (dysmsapi 2017-05-25) for one access key."""

    provider = "aliyun"

    def __init__(self, port: int = 0, access_key_id: str = DEFAULT_ALIYUN_ACCESS_KEY_ID,
                 access_key_secret: str = DEFAULT_ALIYUN_ACCESS_KEY_SECRET,
                 templates: Mapping[str, str] | None = None,
                 sign_names: Collection[str] | None = None, host: str = "127.0.0.1"):
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        app = create_aliyun_app(access_key_id, access_key_secret,
                                _aliyun_default_templates() if templates is None else templates,
                                sign_names)
        super().__init__(app, port, host)

    def start(self) -> "FakeAliyunSms":
        return super().start()


class FakeTencentSms(_FakeSmsServer):
    """Tencent Cloud's SMS API (sms 2021-01-11) for one secret and SDK app."""

    provider = "tencent"

    def __init__(self, port: int = 0, secret_id: str = DEFAULT_TENCENT_SECRET_ID,
                 secret_key: str = DEFAULT_TENCENT_SECRET_KEY,
                 sdk_app_id: str = DEFAULT_TENCENT_SDK_APP_ID,
                 templates: Mapping[str, str] | None = None,
                 sign_names: Collection[str] | None = None, host: str = "127.0.0.1"):
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        app = create_tencent_app(secret_id, secret_key, sdk_app_id,
                                 _tencent_default_templates() if templates is None else templates,
                                 sign_names)
        super().__init__(app, port, host)

    def start(self) -> "FakeTencentSms":
        return super().start()


def _settings(server: _FakeSmsServer) -> dict[str, str]:
    """The environment that points ``SMS_BACKEND`` at ``server``."""
    if isinstance(server, FakeAliyunSms):
        return {"SMS_BACKEND": "aliyun", "ALIYUN_SMS_ENDPOINT": server.base_url,
                "ALIYUN_SMS_ACCESS_KEY_ID": server.access_key_id,
                "ALIYUN_SMS_ACCESS_KEY_SECRET": server.access_key_secret,
                "SMS_TEMPLATE_CODES": json.dumps(aliyun_template_codes())}
    assert isinstance(server, FakeTencentSms)
    return {"SMS_BACKEND": "tencent", "TENCENT_SMS_ENDPOINT": server.base_url,
            "TENCENT_SMS_SECRET_ID": server.secret_id,
            "TENCENT_SMS_SECRET_KEY": server.secret_key,
            "TENCENT_SMS_SDK_APP_ID": server.sdk_app_id,
            "SMS_TEMPLATE_CODES": json.dumps(tencent_template_codes())}


def main(argv: list[str] | None = None) -> None:
    """Run one fake in the foreground and print the settings that point the app at it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", choices=("aliyun", "tencent"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key-id", help="expected AccessKey id / SecretId")
    parser.add_argument("--key-secret", help="expected AccessKey secret / SecretKey")
    parser.add_argument("--sdk-app-id", default=DEFAULT_TENCENT_SDK_APP_ID,
                        help="expected SmsSdkAppId (tencent)")
    args = parser.parse_args(argv)
    server: _FakeSmsServer
    if args.provider == "aliyun":
        server = FakeAliyunSms(args.port, args.key_id or DEFAULT_ALIYUN_ACCESS_KEY_ID,
                               args.key_secret or DEFAULT_ALIYUN_ACCESS_KEY_SECRET,
                               host=args.host)
    else:
        server = FakeTencentSms(args.port, args.key_id or DEFAULT_TENCENT_SECRET_ID,
                                args.key_secret or DEFAULT_TENCENT_SECRET_KEY,
                                args.sdk_app_id, host=args.host)
    print(f"fake {args.provider} SMS API on {server.base_url}; settings:", flush=True)
    for name, value in _settings(server).items():
        print(f"{name}='{value}'", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
