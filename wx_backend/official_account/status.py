"""A resident's bookings and lottery entries as the official account tells them."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from wx_backend.core.clock import BEIJING
from wx_backend.extensions import db
from wx_backend.models import Booking, Campaign, Entry, Store

STATUS_NAMES = {"confirmed": "待取货", "collected": "已取货", "expired": "已过期",
                "cancelled": "已取消"}


def miniprogram_link(label: str) -> str:
    """A link in a chat message that opens the mini-program's home page."""
    appid = current_app.config["WECHAT_MINIPROGRAM_APPID"]
    return (f'<a data-miniprogram-appid="{appid}" data-miniprogram-path="pages/index/index" '
            f'href="https://mp.weixin.qq.com">{label}</a>')


def mask_code(code: str) -> str:
    """A pickup code as the chat shows it: the first two digits only."""
    return code[:2] + "*" * (len(code) - 2)


ENTRY_NAMES = {"pooled": "等待摇号", "won": "已中签，请尽快下单", "claimed": "已中签并下单",
               "lapsed": "中签未按时下单，已失效", "withdrawn": "已撤回"}


def _entry_lines(resident_id: int) -> list[str]:
    rows = db.session.execute(
        select(Entry, Campaign.name).join(Campaign, Campaign.id == Entry.campaign_id)
        .where(Entry.resident_id == resident_id).order_by(Entry.id.desc()).limit(3)).all()
    lines = []
    for entry, campaign in rows:
        line = (f"【{ENTRY_NAMES.get(entry.status, entry.status)}】{campaign}\n"
                f"摇号编号 {entry.reservation_no}")
        if entry.status == "won" and entry.claim_deadline is not None:
            deadline = entry.claim_deadline.astimezone(BEIJING)
            line += f"\n下单截止 {deadline.month}月{deadline.day}日{deadline:%H:%M}"
        lines.append(line)
    return lines


def status_text(resident_id: int) -> str:
    """The resident's latest bookings and lottery entries in a few lines each."""
    rows = db.session.execute(
        select(Booking, Store.name, Campaign.name)
        .join(Store, Store.id == Booking.store_id)
        .join(Campaign, Campaign.id == Booking.campaign_id)
        .where(Booking.resident_id == resident_id)
        .order_by(Booking.id.desc()).limit(5)).all()
    entries = _entry_lines(resident_id)
    if not rows and not entries:
        return ("您还没有预约记录。\n" + miniprogram_link("进入小程序预约")
                + "\n回复“规则”查看预约时间。")
    if not rows:
        return "您的摇号登记：\n\n" + "\n\n".join(entries)
    lines = ["您的预约："]
    for booking, store, campaign in rows:
        starts = booking.pickup_starts_at.astimezone(BEIJING)
        ends = booking.pickup_ends_at.astimezone(BEIJING)
        lines.append(
            f"【{STATUS_NAMES.get(booking.status, booking.status)}】{campaign}\n"
            f"预约号 {booking.reservation_no}\n药店 {store}\n"
            f"取货时间 {starts.month}月{starts.day}日{starts:%H:%M}-{ends:%H:%M}\n"
            f"取货码 {mask_code(booking.pickup_code)}（完整取货码见短信或小程序）")
    if entries:
        lines.append("您的摇号登记：")
        lines.extend(entries)
    return "\n\n".join(lines)
