"""Every error leaves as ``{"error": {"code", "message", "fields"}}`` with a Chinese message.

Handlers, from specific to last resort: domain errors (their own code and status),
request validation (422 with a message per field), HTTP errors raised by Flask or
Werkzeug (400 malformed JSON, 401, 404, 405, 413 ...), unavailable backing services
(503), and anything else (500, logged with its traceback; the resident sees no detail).

Which status a refusal gets (one rule for every route; the spec lists each route's):

- **400**: the body is not JSON at all (or nested too deep to read). **413**: too large.
- **422**: the request breaks the schema the spec declares for it: a type, a pattern, a
  length, a range, a required field, a ``format`` (a check digit, a real date, a region in
  use), or a rule tying fields together (``if``/``then``, one of two fields). Whatever
  the spec says valid is never answered 422.
- **401**: no login, or one that has ended.
- **403**: the caller, or the proof offered, is refused: a wrong or expired SMS code, ID
  digits that are not the holder's, a waiting-room ticket or admission that is not
  genuine, a resident outside the staff's district, a booking of another store.
- **404**: the request refers to something that does not exist (or not for this caller):
  an unknown booking, entry, store, campaign, voucher or pickup code, a QR token that
  matches nothing, a phone the SMS provider cannot reach.
- **409**: a well-formed request that the current state of things refuses: sold out,
  already done, outside its window or deadline, not offered by the rules in force (a
  pickup slot, a way of collecting), a draft or rules that do not fit (a rules patch that
  does not make valid rules with the campaign's, a publishing moment in the past), an
  idempotency key reused for another request.
- **429**: too many, for now (``Retry-After``). **503**: a backing service is down.

A domain error raised for schema-valid input therefore never uses ``InvalidInput`` (422);
domain functions that other surfaces (the console, the official account) call with raw
text keep their own checks and Chinese messages, which the API's schemas describe.
"""

from __future__ import annotations

import json
import logging

import redis
from apiflask import APIFlask, HTTPError
from flask import has_request_context, jsonify, request
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge

from wx_backend.core.errors import DomainError
from wx_backend.web.input import JSON_VALUE, SCHEMA_RULES, TABLE

log = logging.getLogger(__name__)

STATUS_MESSAGES = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "没有权限进行此操作"),
    404: ("not_found", "请求的内容不存在"),
    405: ("method_not_allowed", "不支持该请求方式"),
    413: ("body_too_large", "提交的内容太大"),
    415: ("unsupported_media_type", "请以JSON格式提交"),
    422: ("invalid_input", "提交的信息有误，请检查后重试"),
    429: ("busy", "请求太频繁，请稍后再试"),
    500: ("internal_error", "系统繁忙，请稍后再试"),
    503: ("unavailable", "系统繁忙，请稍后再试"),
}

# marshmallow's English messages, as residents should read them.
FIELD_MESSAGES = {
    "Missing data for required field.": "必填",
    "Unknown field.": "不支持的字段",
    "Field may not be null.": "不能为空",
    "Not a valid string.": "应为文本",
    "Not a valid integer.": "应为整数",
    "Not a valid number.": "应为数字",
    "Not a valid boolean.": "应为是或否",
    "Not a valid datetime.": "应为日期时间",
    "Not a valid date.": "应为日期",
    "Invalid input type.": "请提交一个JSON对象",
    "Invalid value.": "取值不正确",
}


FIELD_LABELS = {
    "code": "登录凭证",
    "name": "姓名",
    "id_number": "身份证号",
    "id_kind": "证件类型",
    "phone": "手机号",
    "sms_code": "验证码",
    "address": "地址",
    "purpose": "用途",
    "body": "请求内容",
    "store_id": "药店",
    "pickup_slot": "取货时段",
    "lat": "纬度",
    "lng": "经度",
    "limit": "数量",
    "id_last4": "身份证号后四位",
    "pickup_code": "取货码",
    "qr": "二维码",
    "username": "用户名",
    "password": "密码",
    "delegate": "代取人",
}


def envelope(status: int, code: str | None = None, message: str | None = None,
             fields: dict | None = None, headers: dict | None = None, **extra):
    """A JSON error response in the one shape every client relies on."""
    default_code, default_message = STATUS_MESSAGES.get(status, ("error", "请求失败"))
    body = {"error": {"code": code or default_code, "message": message or default_message,
                      "fields": fields or {}, **extra}}
    if has_request_context() and "wx.request_id" in request.environ:
        body["error"]["request_id"] = request.environ["wx.request_id"]
    response = jsonify(body)
    response.status_code = status
    if has_request_context():  # what the booking figures count this answer as
        request.environ["wx.answer"] = body["error"]["code"]
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _field_messages(detail) -> dict[str, str]:
    """Flatten ``{"json": {"name": ["msg"]}}`` into ``{"name": "中文"}``."""
    fields: dict[str, str] = {}

    def first(messages):
        if isinstance(messages, dict):
            return None
        if isinstance(messages, list):
            messages = messages[0] if messages else ""
        return FIELD_MESSAGES.get(str(messages), str(messages))

    for location in (detail or {}).values():
        if not isinstance(location, dict):
            continue
        for name, messages in location.items():
            if isinstance(messages, dict):
                for sub, sub_messages in messages.items():
                    text = first(sub_messages)
                    if text:
                        fields[f"{name}.{sub}"] = text
                continue
            fields["body" if name == "_schema" else name] = first(messages)
    return fields


NESTING_WORTH_CHECKING = 200


def register_error_handlers(app: APIFlask) -> None:
    """Install the handlers; ``create_app`` builds the app with ``json_errors=False``."""

    @app.before_request
    def refuse_long_chunked_bodies():
        # Werkzeug cuts a chunked body (no Content-Length) at MAX_CONTENT_LENGTH without
        # complaint; read one byte more so an oversized one is a 413, not truncated JSON.
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is None and request.headers.get("Transfer-Encoding"):
            request.max_content_length = limit + 1
            if len(request.get_data(cache=True)) > limit:
                raise RequestEntityTooLarge()

    @app.before_request
    def refuse_json_nested_too_deep():
        # Python's JSON parsers (Flask's, webargs') recurse once per level: a body of
        # "[[[[…" thousands deep ends in RecursionError. A body with few brackets cannot be
        # deep, so only those with many are parsed here once to find out.
        if request.is_json:
            data = request.get_data(cache=True)
            if data.count(b"[") + data.count(b"{") > NESTING_WORTH_CHECKING:
                try:
                    json.loads(data)
                except RecursionError:
                    return envelope(400, "malformed_json", "请求内容不是有效的JSON（嵌套层数太多）")
                except ValueError:
                    pass  # malformed in an ordinary way: the route's parser answers it

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        headers = {}
        if "retry_after" in error.extra:
            headers["Retry-After"] = str(error.extra["retry_after"])
        return envelope(error.status, error.code, error.message, error.fields,
                        headers=headers, **error.extra)

    @app.errorhandler(HTTPError)
    def api_error(error: HTTPError):
        if error.status_code == 422 and error.detail:
            fields = _field_messages(error.detail)
            name, text = next(iter(fields.items()), (None, None))
            label = FIELD_LABELS.get(name, name)
            # "身份证号：…" unless the field's own message already names it.
            named = isinstance(text, str) and text.startswith(str(label))
            message = (text if named else f"{label}：{text}") if name else None
            return envelope(422, message=message, fields=fields, headers=error.headers)
        return envelope(error.status_code, headers=error.headers,
                        **(error.extra_data or {}))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        if status == 400 and "Invalid JSON body." in str(data.get("messages", "")):
            return envelope(400, "malformed_json", "请求内容不是有效的JSON")
        headers = {name: value for name, value in error.get_headers()
                   if name.lower() not in {"content-type", "content-length"}}
        return envelope(status, headers=headers)

    @app.errorhandler(DataError)
    def unstorable_value(error: DataError):
        # A value PostgreSQL cannot hold (a NUL character, a number out of range) that a
        # route let through: the statement failed, so nothing was written.
        log.warning("value refused by the database: %s", error.orig.__class__.__name__)
        return envelope(422, "invalid_value", "提交的内容含有无法保存的字符或数值，请检查后重试")

    @app.errorhandler(redis.RedisError)
    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def backing_service_down(error: Exception):
        log.error("backing service unavailable: %s", error.__class__.__name__, exc_info=error)
        return envelope(503, headers={"Retry-After": "5"}, retry_after=5)

    @app.errorhandler(Exception)
    def last_resort(error: Exception):
        log.exception("unhandled error")
        return envelope(500)


# Answers any route of the API can give, whatever it does: (methods, status, description).
# A body is read before any route runs when it says it is JSON (to refuse one nested too
# deep), so every method that may carry one can meet 400 and 413.
_COMMON_ANSWERS = (
    ({"POST", "PUT", "PATCH", "DELETE"}, 400, "请求内容不是有效的JSON"),
    ({"POST", "PUT", "PATCH", "DELETE"}, 413, "提交的内容太大"),
    ({"GET", "POST", "PUT", "PATCH", "DELETE"}, 503,
     "数据库或Redis暂时不可用，稍后重试（Retry-After）"),
)
_INVALID = "提交的信息有误：error.fields 按字段说明"


def document_error_answers(app: APIFlask) -> None:
    """Answer 404 for URL ids past bigint (no such row), and complete the OpenAPI spec:
    the error answers every route can give (malformed or oversized bodies, a backing
    service down) and 422 where there is input to check, each with the one error
    envelope; a request body is ``required`` when its schema has required properties;
    the rules that tie fields together (``web.input.describes``) join their schemas.
    Route-specific answers are declared on the routes."""

    @app.url_value_preprocessor
    def no_row_past_bigint(endpoint, values):
        if any(isinstance(v, int) and not -2**63 <= v < 2**63 for v in (values or {}).values()):
            raise NotFound()

    @app.spec_processor
    def complete_the_contract(spec: dict) -> dict:
        schemas = spec.get("components", {}).get("schemas", {})
        schemas.setdefault("JsonValue", JSON_VALUE)
        for name, keywords in SCHEMA_RULES.items():
            if name in schemas:
                schemas[name].update(keywords)
        for schema in schemas.values():
            for name, field in schema.get("properties", {}).items():
                if field.pop("x-table", False):
                    nullable = "null" in field.get("type", [])
                    field = schema["properties"][name] = {
                        **{k: v for k, v in field.items() if k in ("description", "default")},
                        **TABLE, "type": ["object", "null"] if nullable else "object"}
                _no_null_default(field)
        envelope_schema = {"$ref": "#/components/schemas/HTTPError"}
        for path, operations in spec.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for method, operation in operations.items():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                answers = [(status, text) for methods, status, text in _COMMON_ANSWERS
                           if method.upper() in methods]
                if _has_input(operation):
                    answers.append((422, _INVALID))
                for status, description in answers:
                    operation["responses"].setdefault(str(status), {
                        "description": description,
                        "content": {"application/json": {"schema": envelope_schema}}})
                for parameter in operation.get("parameters", []):
                    _no_null_default(parameter.get("schema", {}))
                    schema = parameter.get("schema", {})
                    if parameter.get("in") == "path" and schema.get("type") == "integer":
                        # Row ids: from 1 up to what a bigint holds (past it: no such row).
                        schema.update(minimum=1, maximum=2**63 - 1)
                body = operation.get("requestBody")
                if body and _required_properties(body, schemas):
                    body["required"] = True
        return spec


def _no_null_default(schema: dict) -> None:
    """An optional field that cannot be null says so by its absence, not ``default: null``
    (a default the schema itself refuses)."""
    kinds = schema.get("type")
    if "default" in schema and schema["default"] is None and not (
            kinds == "null" or isinstance(kinds, list) and "null" in kinds):
        del schema["default"]


def _has_input(operation: dict) -> bool:
    """Whether an operation takes a body, a query string or headers to check (path ids
    that do not fit the route are simply not found)."""
    return "requestBody" in operation or any(
        parameter.get("in") != "path" for parameter in operation.get("parameters", []))


def _required_properties(body: dict, schemas: dict) -> bool:
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        if "$ref" in schema:
            schema = schemas.get(schema["$ref"].rpartition("/")[2], {})
        if schema.get("required"):
            return True
    return False
