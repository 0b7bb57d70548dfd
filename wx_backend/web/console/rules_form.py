"""A rules change as a form of the rule fields, not as JSON: the editor's announcement
draft and the operator's new rules version fill in the same fields, and only those filled
in change. The answer is a patch for ``manage.merged_rules`` (tables merged, lists
and values replaced); the merged rules are then checked as a whole by ``parse_rules``.

Windows are written one a line, the way a notice reads them: ``09:30-12:00 10000``.
Districts are a list separated by commas or 、; ``不限`` opens the campaign to every
district again.
"""

from __future__ import annotations

import re

from wx_backend.campaigns.rules import DailyWindow, Rules
from wx_backend.core.errors import DomainError

NUMBERS = [  # (form name, path in the rules, "int" or "yuan", label)
    ("items", ("portion", "items"), "int", "每份数量（只）"),
    ("unit_price_yuan", ("portion", "unit_price_fen"), "yuan", "单价（元）"),
    ("cooldown_days", ("limit", "cooldown_days"), "int", "预约成功后几天内不能再约"),
    ("store_daily_cap", ("store_daily_cap",), "int", "每家药店每日份额"),
]
# How the portion reaches the resident: a switch to home delivery is Guangzhou's story.
FULFILMENTS = {"pickup": ("到店自取", ["pickup"]),
               "express": ("免费送货上门（不再到店）", ["express"]),
               "pickup_postal": ("到店自取，偏远地区可邮寄", ["pickup", "postal"])}
NAMES = [name for name, *_ in NUMBERS] + ["windows", "districts", "fulfilment"]
_WINDOW = re.compile(r"^([0-9]{1,2}:[0-9]{2})\s*[-–—~～至到]\s*([0-9]{1,2}:[0-9]{2})"
                     r"\s+([0-9]{1,7})\s*份?$")
_SPLIT = re.compile(r"[,，、;；\s]+")


def _refuse(name: str, text: str):
    return DomainError("invalid_rules", text, fields={name: text})


def _windows(raw: str) -> list[dict]:
    windows = []
    for n, line in enumerate(raw.replace("\r", "").split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        match = _WINDOW.match(line)
        if match is None:
            raise _refuse("windows", f"预约时段第{n}行应写成“09:30-12:00 10000”（开始-结束 份数）")
        opens, closes, quota = match.groups()
        windows.append({"opens": opens.zfill(5), "closes": closes.zfill(5),
                        "quota": int(quota)})
    if not windows:
        raise _refuse("windows", "至少要有一个预约时段")
    return windows


def _districts(raw: str) -> list[str]:
    if raw.strip() == "不限":
        return []
    return [d for d in _SPLIT.split(raw.strip()) if d]


def patch_from(form) -> dict | None:
    """The rules change the form asks for (only the fields filled in), or None.

    Raises DomainError (``invalid_rules``) naming the field in ``fields``.
    """
    patch: dict = {}
    for name, path, kind, label in NUMBERS:
        raw = (form.get(name) or "").strip()
        if not raw:
            continue
        try:
            value = round(float(raw) * 100) if kind == "yuan" else int(raw)
        except ValueError:
            raise _refuse(name, f"{label}应填写数字") from None
        if value < 0:
            raise _refuse(name, f"{label}不能是负数")
        target = patch
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    if (form.get("windows") or "").strip():
        patch["windows"] = _windows(form["windows"])
    if (form.get("districts") or "").strip():
        patch.setdefault("eligibility", {})["districts"] = _districts(form["districts"])
    chosen = (form.get("fulfilment") or "").strip()
    if chosen:
        if chosen not in FULFILMENTS:
            raise _refuse("fulfilment", "请从列表中选择取货方式")
        patch["fulfilment"] = FULFILMENTS[chosen][1]
    return patch or None


def form_of(patch: dict | None) -> dict[str, str]:
    """The form's fields as a stored patch fills them (a draft opened again to edit)."""
    patch = patch or {}
    values: dict[str, str] = {}
    for name, path, kind, _label in NUMBERS:
        found = patch
        for key in path:
            found = found.get(key) if isinstance(found, dict) else None
        if found is not None:
            values[name] = f"{found / 100:g}" if kind == "yuan" else str(found)
    if patch.get("windows"):
        values["windows"] = "\n".join(f"{w['opens']}-{w['closes']} {w['quota']}"
                                      for w in patch["windows"] if "opens" in w)
    if "eligibility" in patch:
        values["districts"] = "、".join(patch["eligibility"].get("districts") or []) or "不限"
    if "fulfilment" in patch:
        values["fulfilment"] = next((key for key, (_, kinds) in FULFILMENTS.items()
                                     if kinds == list(patch["fulfilment"])), "")
    return values


def values_of(rules: Rules) -> dict[str, str]:
    """The form's fields as the rules now have them (to show, or to start editing from)."""
    zone = rules.zone
    windows = [f"{w.opens:%H:%M}-{w.closes:%H:%M} {w.quota}" if isinstance(w, DailyWindow)
               else f"{w.opens_at.astimezone(zone):%m-%d %H:%M}-"
                    f"{w.closes_at.astimezone(zone):%H:%M} {w.quota}（固定日期）"
               for w in rules.windows]
    return {
        "items": str(rules.items),
        "unit_price_yuan": f"{rules.unit_price_fen / 100:g}",
        "cooldown_days": str(rules.cooldown_days),
        "store_daily_cap": str(rules.store_daily_cap),
        "windows": "\n".join(windows),
        "districts": "、".join(rules.districts) or "不限",
        "fulfilment": "、".join({"pickup": "到店自取", "postal": "邮寄", "express": "送货上门",
                                "collection_point": "自提点"}.get(f, f)
                               for f in rules.fulfilment),
    }
