"""What each notification says, per event, and how a campaign words its own.

Every event has a set of parameters its texts may use (``EVENTS``). The defaults are the
SMS templates of ``wx_backend.sms.templates`` and the WeChat field layouts below; a
campaign's ``notify_settings`` may replace them::

    {"reminder_hours_before": 4,
     "texts": {"booking_confirmed": {"sms": "…{pickup_code}…", "sms_template_code": "SMS_1",
                                     "title": "预约成功"}}}

``sms`` is the text (the outbox sends it as is; a real provider needs it approved, under
``sms_template_code``); ``title`` heads the WeChat messages. A text may only use its
event's parameters: ``validate`` refuses anything else before it is stored, so a message
can never fail later for a typo in a placeholder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app

from wx_backend.sms.templates import TEMPLATES, placeholders

DEFAULT_REMINDER_HOURS = 4
BOOKING_EVENTS = ("booking_confirmed", "pickup_reminder", "booking_expired",
                  "booking_cancelled", "delivery_switched")
# Events whose subjects are lottery entries (the same columns a booking has for this).
ENTRY_EVENTS = ("draw_won", "voucher_released")


@dataclass(frozen=True)
class EventTexts:
    """The parameters an event offers, its default title, and its WeChat field layouts.

    ``subscribe_fields`` maps a mini-program subscribe-message field (its type prefix is
    WeChat's: ``thing`` ≤ 20 characters, ``character_string`` ≤ 32, ``time``) to the
    parameter it shows; ``template_fields`` does the same for the official account's
    template message (``first``/``remark`` framing ``keyword1..n``).
    """

    params: tuple[str, ...]
    title: str
    subscribe_fields: Mapping[str, str]
    template_fields: Mapping[str, str]


EVENTS: dict[str, EventTexts] = {
    "booking_confirmed": EventTexts(
        ("campaign", "store", "store_address", "reservation", "pickup_code", "pickup_window",
         "pickup_end"),
        "口罩预约成功",
        {"thing1": "store", "character_string2": "reservation",
         "character_string3": "pickup_code", "thing4": "pickup_window"},
        {"keyword1": "store", "keyword2": "reservation", "keyword3": "pickup_code",
         "keyword4": "pickup_window"}),
    "pickup_reminder": EventTexts(
        ("campaign", "store", "store_address", "reservation", "pickup_code", "pickup_window",
         "pickup_end"),
        "请尽快领取口罩",
        {"thing1": "store", "character_string2": "pickup_code", "time3": "pickup_end"},
        {"keyword1": "store", "keyword2": "pickup_code", "keyword3": "pickup_end"}),
    "booking_expired": EventTexts(
        ("campaign", "store", "reservation", "pickup_window", "pickup_end"),
        "口罩预约已失效",
        {"thing1": "store", "character_string2": "reservation", "time3": "pickup_end"},
        {"keyword1": "store", "keyword2": "reservation", "keyword3": "pickup_end"}),
    "booking_cancelled": EventTexts(
        ("campaign", "store", "reservation", "pickup_window"),
        "口罩预约已取消",
        {"thing1": "store", "character_string2": "reservation"},
        {"keyword1": "store", "keyword2": "reservation"}),
    "draw_won": EventTexts(
        ("campaign", "reservation", "deadline"),
        "摇号中签",
        {"thing1": "campaign", "character_string2": "reservation", "time3": "deadline"},
        {"keyword1": "campaign", "keyword2": "reservation", "keyword3": "deadline"}),
    "draw_lost": EventTexts(
        ("campaign",),
        "摇号未中签",
        {"thing1": "campaign"},
        {"keyword1": "campaign"}),
    "voucher_released": EventTexts(
        ("campaign", "reservation", "deadline", "store", "voucher"),
        "口罩购买凭证已发放",
        {"thing1": "store", "character_string2": "voucher", "time3": "deadline"},
        {"keyword1": "store", "keyword2": "voucher", "keyword3": "deadline"}),
    "delivery_switched": EventTexts(
        ("campaign", "store", "reservation", "pickup_window"),
        "预约改为送货上门",
        {"thing1": "campaign", "character_string2": "reservation"},
        {"keyword1": "campaign", "keyword2": "reservation"}),
    # Sent over WeChat only: an announcement is pushed, never texted.
    "announcement": EventTexts(
        ("campaign", "title", "summary", "published_at"),
        "重要公告",
        {"thing1": "title", "thing2": "campaign", "time3": "published_at", "thing4": "summary"},
        {"keyword1": "title", "keyword2": "published_at", "keyword3": "summary"}),
}

FIELD_LIMITS = {"thing": 20, "character_string": 32, "time": 40}
# What each parameter is, in the words an editor previewing a message reads.
PARAM_LABELS = {"campaign": "活动", "store": "药店", "store_address": "药店地址",
                "reservation": "预约号", "pickup_code": "取货码", "pickup_window": "取货时间",
                "pickup_end": "取货截止", "title": "公告标题", "summary": "内容",
                "published_at": "发布时间"}


def preview_rows(fields: Mapping[str, str], params: Mapping[str, str]) -> list[dict]:
    """A WeChat message as an editor checks it: each field's label (not WeChat's key
    such as ``thing1``), the value as it will arrive, and whether WeChat's limit for that
    kind of field cuts it (``cut``: how many characters are lost)."""
    rows = []
    shown = wechat_data(fields, params)
    for field, param in fields.items():
        full = str(params.get(param, ""))
        limit = FIELD_LIMITS.get(field.rstrip("0123456789"))
        rows.append({"label": PARAM_LABELS.get(param, param), "value": shown[field]["value"],
                     "limit": limit, "cut": max(0, len(full) - limit) if limit else 0})
    return rows


@dataclass(frozen=True)
class Wording:
    """The texts one event uses in one campaign."""

    sms: str
    sms_template_code: str | None
    title: str


def wording(event: str, settings: Mapping | None) -> Wording:
    """The campaign's wording of ``event``, falling back to the defaults."""
    own = ((settings or {}).get("texts") or {}).get(event) or {}
    return Wording(sms=own.get("sms") or TEMPLATES.get(event, ""),
                   sms_template_code=own.get("sms_template_code") or None,
                   title=own.get("title") or EVENTS[event].title)


def reminder_hours(settings: Mapping | None) -> float:
    """How long before the end of pickup the reminder goes out."""
    value = (settings or {}).get("reminder_hours_before")
    return DEFAULT_REMINDER_HOURS if value is None else float(value)


def validate(event: str, *, sms: str | None = None, title: str | None = None) -> list[str]:
    """Problems with a proposed wording, in words an editor understands (empty if fine)."""
    problems = []
    if event not in EVENTS:
        return [f"unknown event {event!r}; events: {', '.join(EVENTS)}"]
    if sms is not None:
        if not sms.strip():
            problems.append("the SMS text is empty")
        elif len(sms) > 300:
            problems.append("the SMS text is longer than 300 characters")
        else:
            try:
                names = placeholders(sms)
            except ValueError as error:
                problems.append(f"the SMS text has a broken placeholder: {error}")
            else:
                unknown = [name for name in names if name not in EVENTS[event].params]
                if unknown:
                    problems.append(
                        "the SMS text uses " + ", ".join("{" + n + "}" for n in unknown)
                        + f"; {event} offers " + ", ".join("{" + p + "}"
                                                           for p in EVENTS[event].params))
    if title is not None and not (0 < len(title.strip()) <= 40):
        problems.append("the title must have 1 to 40 characters")
    return problems


def wechat_data(fields: Mapping[str, str], params: Mapping[str, str],
                title: str | None = None) -> dict:
    """WeChat's ``data`` object: each field's value cut to the length its type allows."""
    data = {}
    if title is not None:
        data["first"] = {"value": title}
    for field, param in fields.items():
        kind = field.rstrip("0123456789")
        value = str(params.get(param, ""))
        limit = FIELD_LIMITS.get(kind)
        if limit is not None and len(value) > limit:
            value = value[: limit - 1] + "…"
        data[field] = {"value": value}
    return data


def wechat_template_id(kind: str, event: str) -> str | None:
    """The configured WeChat template for ``event`` (``kind``: subscribe or template)."""
    name = "WECHAT_SUBSCRIBE_TEMPLATES" if kind == "subscribe" else "WECHAT_TEMPLATE_IDS"
    return _json_setting(name).get(event) or None


def subscribe_templates() -> dict[str, str]:
    """Every event that has a mini-program subscribe-message template, with its id: what
    the mini-program asks the resident to allow, at the moment each matters."""
    return {event: template for event, template in _json_setting(
        "WECHAT_SUBSCRIBE_TEMPLATES").items() if template}


def _json_setting(name: str) -> dict:
    cache = current_app.extensions.setdefault("notify_settings", {})
    if name not in cache:
        raw = current_app.config.get(name) or "{}"
        value = json.loads(raw) if isinstance(raw, str) else dict(raw)
        cache[name] = value
    return cache[name]

