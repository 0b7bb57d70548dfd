"""SMS texts by template name.

Providers in mainland China only deliver pre-approved templates, so every message is a
named template plus parameters; the outbox renders the same text a phone would show.
A template's parameters are its ``{placeholders}`` in the order they appear: Tencent's
``TemplateParamSet`` is positional and takes them in that order, Aliyun's
``TemplateParam`` takes them by name.

These are the defaults. A campaign may carry its own wording of the notification texts
(``wx_backend.notify.texts``); a provider then needs that wording approved under its own
template code, which the campaign names beside the text.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

TEMPLATES: dict[str, str] = {
    "verification_code": ("您的验证码为{code}，{minutes}分钟内有效，请勿告诉他人。"
                          "如非本人操作，请忽略本短信。"),
    "booking_confirmed": (
        "您已成功预约{store}的口罩，预约号{reservation}，取货码{pickup_code}，"
        "请于{pickup_window}凭本人身份证到店领取。"),
    "pickup_reminder": (
        "您在{store}预约的口罩尚未领取，取货码{pickup_code}，请于{pickup_end}前到店领取，逾期作废。"),
    "booking_expired": (
        "您在{store}预约的口罩（预约号{reservation}）已过领取时间未领取，预约已失效。"),
    "booking_cancelled": "您在{store}的口罩预约（预约号{reservation}）已取消。",
    "draw_won": (
        "您参加的{campaign}摇号已中签，预约号{reservation}，请于{deadline}前在小程序内确认领取。"),
    "draw_lost": "您参加的{campaign}本期摇号未中签，无需重新登记，将自动参加下一期摇号。",
    "voucher_released": (
        "您在{campaign}的登记（预约号{reservation}）已可购买，凭证码{voucher}，请于{deadline}前"
        "凭凭证码和身份证到{store}购买。"),
    "delivery_switched": (
        "根据{campaign}最新规则，您的口罩预约（预约号{reservation}）改为免费送货上门，"
        "无需到店领取，请保持电话畅通。"),
}


def placeholders(text: str) -> list[str]:
    """The names of ``text``'s placeholders, in order, each once."""
    names: list[str] = []
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None and name not in names:
            names.append(name)
    return names


def render_text(text: str, params: Mapping[str, object]) -> str:
    """``text`` with its placeholders filled; ValueError names a missing parameter."""
    try:
        return text.format(**params)
    except (KeyError, IndexError) as missing:
        raise ValueError(f"SMS text needs the parameter {missing}") from None


def render(template: str, params: Mapping[str, object], sign_name: str) -> str:
    """The full SMS text, signature first, as the resident's phone shows it."""
    if template not in TEMPLATES:
        raise ValueError(f"SMS template {template!r} is unknown")
    return f"【{sign_name}】{render_text(TEMPLATES[template], params)}"
