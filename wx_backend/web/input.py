"""What the JSON APIs accept, field by field, so that the OpenAPI spec describes exactly
what the server takes and the server takes exactly what the spec describes.

Decisions recorded here:

- **Whole numbers as JSON Schema means them** (``WholeNumber``): a field typed integer
  takes ``1112`` and ``1112.0`` (the same number in JSON) and refuses ``1112.5``, ``"1112"``
  and ``true``. marshmallow's ``Integer`` either refuses ``1112.0`` (``strict=True``) or
  truncates ``1112.5`` and reads strings (``strict=False``); every integer of every API
  schema is this field instead. In a query string the digits are the number.
- **Patterns mean what JSON Schema says** (``Pattern``): ``$`` is the end of the text, not
  "before a final newline" as in Python, and classes are spelled out (``[0-9]``, never
  ``\\d`` or ``\\s``, which Python reads as every script's digits and spaces).
- **Identity text in its canonical form only** (``IdentityText``): ID numbers of every
  document kind, phones, names, addresses, district codes and SMS codes are taken exactly
  as the domain's normalisers (``identity.residents``, ``core.canonical``) would write
  them: ASCII digits, an upper-case X, no separators, no ``+86``, no full-width forms, no
  invisible characters. The pattern in the spec is that canonical form; a ``format``
  names what a pattern cannot say (a check digit, a real birth date, a region that exists
  or is in use), and the normaliser checks it. Anything else is refused with 422 and the
  normaliser's own Chinese words for what is wrong, or, when the normaliser would have
  read it, with how to write it. Exactly describing every spelling NFKC folds (full-width,
  mathematical and circled digits, a dozen kinds of space) in a pattern is not possible,
  and a contract that says less than the server takes cannot be checked; the mini-program
  writes what residents type in the canonical form before sending
  (``miniprogram/utils/canonical.js``). The console and the official account, which people
  type into directly, still accept every spelling the normalisers read.
- **Booleans and numbers as JSON writes them** (``Flag``, ``RealNumber``): marshmallow
  reads ``0``, ``"yes"`` as booleans and ``"1_000"`` as a number; the API does not.
- **Whitespace** is Python's (``str.isspace``, what ``strip`` removes), spelled out as a
  class, so "not blank" is decided the same way by the spec and by the domain.
- Rules that tie fields together (``if``/``then``, one of two fields) are declared on the
  schema class with ``describes`` and enforced by the schema (``validates_schema``) or by
  the domain, with its own words; the spec processor in ``web.errors`` writes them into
  the schema's component.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Float, Integer, String
from marshmallow import ValidationError
from marshmallow.validate import OneOf, Validator

from wx_backend.core.errors import InvalidInput
from wx_backend.identity import residents

# Every character Python's str.isspace() accepts (what str.strip() removes), as escapes
# that Python's re, ECMA-262 and Rust's regex (the spec's readers) all read alike.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Free text: something besides whitespace, and no NUL (PostgreSQL's text cannot hold one).
NOT_BLANK = rf"^[^\x00]*[^{WHITESPACE}\x00][^\x00]*$"


class Pattern(Validator):
    """A JSON Schema ``pattern``: ``regex`` is what the spec shows (apispec reads it), and
    the server searches as an ECMA-262 engine would, ``$`` matching only at the end."""

    def __init__(self, pattern: str, error: str):
        self.regex = re.compile(pattern)
        self._search = re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))
        self.error = error

    def __call__(self, value: str) -> str:
        if not isinstance(value, str) or self._search.search(value) is None:
            raise ValidationError(self.error)
        return value


class WholeNumber(Integer):
    """An integer as JSON Schema means it: ``1112`` or ``1112.0``, never ``1112.5``,
    ``"1112"`` or a boolean; in a query string (``text=True``), its decimal digits."""

    _DIGITS = re.compile(r"-?[0-9]{1,30}")

    def __init__(self, *, text: bool = False, **kwargs):
        super().__init__(strict=True, **kwargs)
        self.text = text

    def _validated(self, value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif self.text and isinstance(value, str) and self._DIGITS.fullmatch(value):
            value = int(value)
        if value is True or value is False or not isinstance(value, int):
            raise self.make_error("invalid", input=value)
        return value


class RealNumber(Float):
    """A number as JSON spells it: an integer or a finite float, never a boolean or text;
    in a query string (``text=True``), JSON's spelling of a number (not ``1_000``, `` 1``,
    ``inf``)."""

    _SPELLED = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

    def __init__(self, *, text: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.text = text

    def _validated(self, value):
        if isinstance(value, str) and not (self.text and self._SPELLED.fullmatch(value)):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Flag(Boolean):
    """``true`` or ``false``, nothing that merely reads as one (``0``, ``"yes"``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is True or value is False:
            return value
        raise self.make_error("invalid", input=value)


class Text(String):
    """Free text of ``min_length`` to ``max_length`` characters as sent, not only
    whitespace, without NUL; the domain strips it."""

    def __init__(self, min_length: int, max_length: int, label: str, **kwargs):
        metadata = {"minLength": min_length, "maxLength": max_length, "pattern": NOT_BLANK,
                    **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)
        self.bounds = (min_length, max_length)
        self.written = Pattern(NOT_BLANK, f"{label}应为{min_length}到{max_length}个字，"
                                          "不能只有空白")

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        low, high = self.bounds
        if not low <= len(text) <= high:
            raise ValidationError(self.written.error)
        return self.written(text)


# A JSON value with no NUL in any string or key, to any depth: what a JSONB column holds.
NUL_FREE = r"^[^\x00]*$"
JSON_VALUE = {"anyOf": [
    {"type": ["number", "boolean", "null"]},
    {"type": "string", "pattern": NUL_FREE},
    {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
    {"type": "object", "propertyNames": {"pattern": NUL_FREE},
     "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}},
]}
# What the spec says of a ``Table`` field (``x-table`` marks it for the spec processor,
# since apispec keeps neither ``propertyNames`` nor a nullable ``allOf`` as written).
TABLE = {"type": "object", "minProperties": 1, "propertyNames": {"pattern": NUL_FREE},
         "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}}


class Table(Dict):
    """A JSON object of free shape that is kept as it is (a JSONB column): at least one
    key, and no NUL in any key or string, however deep (``TABLE`` in the spec)."""

    def __init__(self, label: str, **kwargs):
        metadata = {"x-table": True, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)
        self.label = label

    def _deserialize(self, value, attr, data, **kwargs):
        table = super()._deserialize(value, attr, data, **kwargs)
        if not table:
            raise ValidationError(f"{self.label}应为非空的设置表")
        if _holds_nul(table):
            raise ValidationError(f"{self.label}中不能含有空字符（U+0000）")
        return table


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


class IdentityText(String):
    """Identity text in its canonical form (see the module's docstring): it matches
    ``pattern``, and ``normalise`` (the domain's reader) accepts it unchanged. Refusals
    carry the normaliser's message, or ``hint`` when the normaliser would have read a
    spelling the API does not take."""

    def __init__(self, pattern: str, normalise: Callable[[str], str], hint: str, *,
                 format: str | None = None, min_length: int | None = None,
                 max_length: int | None = None, example: str | None = None,
                 description: str | None = None, **kwargs):
        metadata = {"pattern": pattern, **kwargs.pop("metadata", {})}
        for key, value in (("format", format), ("minLength", min_length),
                           ("maxLength", max_length), ("example", example),
                           ("description", description)):
            if value is not None:
                metadata.setdefault(key, value)
        super().__init__(metadata=metadata, **kwargs)
        self.canonical = Pattern(pattern, hint)
        self.bounds = (min_length or 0, max_length or 10_000)
        self.normalise = normalise
        self.hint = hint

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        low, high = self.bounds
        try:
            written = self.normalise(text[:1000])
        except InvalidInput as error:
            raise ValidationError(next(iter(error.fields.values()), error.message)) from None
        if written != text or not low <= len(text) <= high:
            raise ValidationError(self.hint)
        return self.canonical(text)


class Moment(String):
    """A moment as JSON Schema's ``date-time`` means it (RFC 3339): a date, ``T``, a time
    with seconds, an optional fraction and an offset (``Z`` or ``+08:00``); a leap second
    only at 23:59:60 UTC. Read as an aware datetime; the year 0000, which Python cannot
    hold, as its first moment (either way long past)."""

    _GRAMMAR = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):"
                          r"([0-9]{2})(?:\.([0-9]+))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")

    def __init__(self, **kwargs):
        metadata = {"format": "date-time", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        found = self._GRAMMAR.fullmatch(text)
        try:
            if found is None:
                raise ValueError(text)
            year, month, day, hour, minute, second = (int(part) for part in found.groups()[:6])
            fraction, sign, off_hours, off_minutes = found.groups()[6:]
            if int(off_hours or 0) > 23 or int(off_minutes or 0) > 59:
                raise ValueError(text)
            offset = timedelta(hours=int(off_hours or 0), minutes=int(off_minutes or 0))
            zone = timezone(-offset if sign == "-" else offset)
            leap = second == 60
            if leap:  # the last second of a UTC day, written in any offset
                utc = (datetime(2000, 1, 1, hour, minute) - zone.utcoffset(None)).time()
                if (utc.hour, utc.minute) != (23, 59):
                    raise ValueError(text)
                second = 59
            if year == 0:
                date(2000, month, day)  # 0000 is a leap year, as 2000 is
                return datetime.min.replace(tzinfo=timezone.utc)
            micro = 999_999 if leap else int((fraction or "0")[:6].ljust(6, "0"))
            return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
        except ValueError:
            raise ValidationError("时间应为带时区的 ISO 8601 / RFC 3339 格式，"
                                  "例如 2026-03-02T09:00:00+08:00") from None


# What ``describes`` attached to each schema class, by class name (the component's name).
SCHEMA_RULES: dict[str, dict] = {}


def describes(**keywords) -> Callable[[type[Schema]], type[Schema]]:
    """Class decorator: JSON Schema keywords (``if``/``then``, ``anyOf``, …) that the spec
    shows on this schema's component; the schema or the domain enforces them."""
    def attach(schema: type[Schema]) -> type[Schema]:
        SCHEMA_RULES[schema.__name__] = keywords
        return schema
    return attach


# -- identity text, canonical --------------------------------------------------------------

# Han characters a name or an address is written in: the unified ideographs, which NFKC
# leaves alone (the compatibility ideographs of U+F900-FAFF become one of these, except
# the twelve that are unified themselves). Literal characters, not escapes: the spec's
# readers spell escapes past U+FFFF differently.
HAN = ("\u3400-\u4dbf\u4e00-\u9fff\ufa0e\ufa0f\ufa11\ufa13\ufa14\ufa1f\ufa21\ufa23\ufa24"
       "\ufa27-\ufa29\U00020000-\U0002ebef")
ID_NUMBER = r"^(?:[0-9]{17}[0-9X]|[A-Z]{3}[0-9]{12})$"
PHONE = r"^1[3-9][0-9]{9}$"
NAME = f"^(?:[{HAN}]+(?:·[{HAN}]+)*|[A-Za-z]+(?:[ .'-][A-Za-z]+)*)$"
# Half-width ASCII, Han, and the CJK punctuation NFKC leaves as it is; words one space apart.
_ADDRESS_CHARACTER = f"[!-~{HAN}·、。〈〉《》「」『』【】〔〕〖〗—‘’“”]"
ADDRESS = f"^{_ADDRESS_CHARACTER}+(?: {_ADDRESS_CHARACTER}+)*$"
SIX_DIGITS = r"^[0-9]{6}$"
ID_TAIL = r"^[0-9]{3}[0-9X]$"

# Formats the spec names for what a pattern cannot say; tests/contract_hooks.py teaches the
# fuzzer what a valid value of each is.
ID_DOCUMENT_FORMAT = "cn-id-document"
DISTRICT_FORMAT = "cn-district"


def name_field(**kwargs) -> IdentityText:
    """A real name as on the ID card."""
    return IdentityText(NAME, residents.normalise_name,
                        "姓名请按证件填写：汉字（少数民族姓名用·分隔）或英文字母，前后不留空格",
                        min_length=2, max_length=30, example="王秀英", **kwargs)


def id_number_field(**kwargs) -> IdentityText:
    """The number of an identity document of any accepted kind."""
    description = ("证件号码（规范写法：半角数字、大写X，不加空格）：18位居民身份证号、港澳台居民"
                   "居住证号（810000/820000/830000开头），或外国人永久居留身份证号（2023版9开头18位，"
                   "2017版3位大写字母加12位数字）。格式 cn-id-document：校验位正确、出生日期真实"
                   "（1900年至今）、地区代码存在或曾经存在")
    return IdentityText(ID_NUMBER, residents.normalise_id_number,
                        "证件号码请用半角数字和大写字母X填写，不加空格或横线",
                        format=ID_DOCUMENT_FORMAT, example="410105194912310020",
                        description=description, **kwargs)


def phone_field(**kwargs) -> IdentityText:
    """A mainland mobile number, 11 digits."""
    return IdentityText(PHONE, residents.normalise_phone,
                        "手机号请填写11位数字，不加+86、空格或横线", example="13812345678",
                        description="中国大陆手机号，11位半角数字", **kwargs)


def address_field(**kwargs) -> IdentityText:
    """A postal address as free text, canonical."""
    return IdentityText(ADDRESS, residents.normalise_address,
                        "地址请用汉字、半角字母数字和常用标点填写，词语之间最多一个空格，"
                        "前后不留空格", min_length=5, max_length=200,
                        example="郑州市金水区经三路10号3单元201", **kwargs)


def district_field(**kwargs) -> IdentityText:
    """A county-level region in use today, by its GB/T 2260 code."""
    return IdentityText(SIX_DIGITS, residents.read_district,
                        "请从列表中选择住址所在的区（县）", format=DISTRICT_FORMAT,
                        example="410105", **kwargs)


def id_kind_field(**kwargs) -> String:
    """The kind of identity document, when the resident chose one (``ID_KIND_RULES``)."""
    return String(load_default=None, allow_none=True,
                  validate=OneOf(list(residents.DOCUMENT_KINDS), error="证件类型不正确"),
                  metadata={"description": "证件类型；不填时按号码判断，填了须与号码相符。"
                                           + "，".join(f"{k}：{v}" for k, v in
                                                      residents.DOCUMENT_KINDS.items())},
                  **kwargs)


# The kind chosen must be the kind of the number: permits carry 810000, 820000 or 830000,
# the permanent residence card starts with 9 or three letters, an ID card's region with 1
# to 7. For ``describes(allOf=ID_KIND_RULES)`` on a schema with both fields; the domain's
# ``check_id_kind`` enforces it.
ID_KIND_RULES = [
    {"if": {"properties": {"id_kind": {"const": kind}}, "required": ["id_kind"]},
     "then": {"properties": {"id_number": {"pattern": prefix}}}}
    for kind, prefix in (("resident_id", "^[1-7]"), ("hmt_permit", "^8[123]0000"),
                         ("foreign_permanent", "^(?:9|[A-Z])"))]


def id_tail_field(**kwargs) -> String:
    """The last four characters of an ID number, as staff read them off the card."""
    return String(validate=Pattern(ID_TAIL, "请填写身份证号后四位（数字，最后一位可以是X）"),
                  **kwargs)


def six_digits(message: str, **kwargs) -> String:
    """A six-digit code (SMS code, pickup code, voucher code)."""
    return String(validate=Pattern(SIX_DIGITS, message), **kwargs)
