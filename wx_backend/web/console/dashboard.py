"""The operator's live dashboard of one window: stock left, bookings per second, answers
by code, time to sell out, latency (p50/p99), job queue depths and messages by status.

The page polls its figures fragment every few seconds (htmx) while the window is open or
about to open, and stops once it has closed. The figures are what every web process
counted of the booking answers (``booking.figures``), the stock is Redis's own count,
and the queues and messages are read where they live.
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, render_template
from sqlalchemy import func, select

from wx_backend import jobs
from wx_backend.booking import first_come, waiting_room
from wx_backend.booking.figures import read_window
from wx_backend.campaigns import manage
from wx_backend.core import clock
from wx_backend.extensions import db, redis_store
from wx_backend.models import Campaign, Delivery, Window
from wx_backend.web.console import charts
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp

REFRESH_SECONDS = 3
WATCH_BEFORE = timedelta(minutes=30)  # polling starts this long before the opening
QUIET_TAIL = 30  # seconds of quiet shown after the last answer in a long window

ANSWER_NAMES = {  # code -> (what the operator reads, bar colour)
    "ok": ("预约成功", "ok"), "sold_out": ("已约完", "off"), "store_full": ("该店已满", "off"),
    "already_booked": ("重复预约", "warn"), "cooldown": ("间隔期内", "warn"),
    "window_closed": ("不在时段内", "warn"), "busy": ("繁忙请重试", "bad"),
    "rules_changed": ("规则已更新", "warn"), "not_eligible": ("不符合条件", "warn"),
    "profile_incomplete": ("未实名", "warn"), "unauthorized": ("未登录", "warn"),
    "outside_area": ("不在本市", "warn"), "too_many_requests": ("请求过多", "bad"),
    "too_many_attempts": ("操作太频繁", "bad"), "not_admitted": ("未排队", "warn"),
    "admission_expired": ("排队凭证过期", "warn"), "admission_invalid": ("排队凭证无效", "bad"),
}
QUEUE_NAMES = {"notify": "消息发送", "default": "一般任务", "low": "后台任务"}
DELIVERY_NAMES = {"sent": ("已发送", "ok"), "queued": ("排队中", "warn"),
                  "sending": ("发送中", "warn"), "retry": ("待重试", "warn"),
                  "failed": ("失败", "bad"), "skipped": ("未发送", "off")}


def _window(window_id: int) -> tuple[Window, Campaign]:
    window = db.session.get(Window, window_id)
    if window is None:
        abort(404)
    return window, db.session.get(Campaign, window.campaign_id)


@bp.get("/operator/windows/<int:window_id>")
@requires("operator")
def operator_window(window_id: int):
    """The dashboard page of one window."""
    window, campaign = _window(window_id)
    return render_template("console/operator/window.html", window=window, campaign=campaign,
                           zone=manage.rules_in_force(db.session, campaign.id,
                                                      clock.now())[1].zone,
                           view=_figures(window))


@bp.get("/operator/windows/<int:window_id>/figures")
@requires("operator")
def operator_window_figures(window_id: int):
    """The figures fragment the page polls."""
    window = _window(window_id)[0]
    return render_template("console/operator/_window_figures.html", window=window,
                           view=_figures(window))


def _figures(window: Window) -> dict:
    now = clock.now()
    stock = current_app.extensions["stock"]
    state = ("before" if now < window.opens_at else "open" if now < window.closes_at
             else "closed")
    left = None
    if state != "closed" and now >= window.opens_at - WATCH_BEFORE:
        first_come.ensure_loaded(db.session, stock, window.id, now)
    if stock.is_loaded(window.id):
        left = stock.left(window.id, [])[0]
    view = {"state": state, "left": left, "quota": window.quota, "now": now,
            "polling": state == "open" or (state == "before"
                                           and window.opens_at - now <= WATCH_BEFORE),
            "refresh": REFRESH_SECONDS, "queues": _queues(), "deliveries": _deliveries(window),
            "room": _room(window, now)}
    if state == "before":
        view["starts_in"] = int((window.opens_at - now).total_seconds())
        return view

    until = min(now, window.closes_at)
    figures = read_window(redis_store.client, window.campaign_id, window.opens_at, until)
    every = [sum(counts[i] for counts in figures.per_second.values())
             for i in range(figures.seconds)]
    shown = figures.seconds
    if shown > 15 * 60:  # a long window: stop the charts shortly after the last answer
        last = max((i for i, n in enumerate(every) if n), default=0)
        shown = min(shown, last + QUIET_TAIL)
    ok = figures.per_second.get("ok", [0] * figures.seconds)
    refused = [n - k for n, k in zip(every, ok)]
    # Stock left over time: what is left now, plus what was booked after each second.
    after, left_then = sum(ok), []
    for booked in ok[:shown]:
        after -= booked
        left_then.append(None if left is None else left + after)
    recent = ok[max(0, figures.seconds - 6):max(0, figures.seconds - 1)]
    p50_each = [figures.percentile(0.5, c) for c in figures.latency_per_second[:shown]]
    p99_each = [figures.percentile(0.99, c) for c in figures.latency_per_second[:shown]]
    sold_out_after = None
    if left == 0 and figures.last_ok_ms is not None:
        sold_out_after = figures.last_ok_ms / 1000 - window.opens_at.timestamp()
    view.update(
        answered=figures.answered, booked=figures.by_code.get("ok", 0),
        rate_now=sum(recent) / len(recent) if recent else 0, rate_peak=max(ok, default=0),
        p50=figures.percentile(0.5), p99=figures.percentile(0.99),
        sold_out_after=sold_out_after, seconds=shown,
        rate_chart=charts.columns(ok[:shown], "每秒预约成功数", "开放后经过时间（每秒）"),
        refused_chart=charts.columns(refused[:shown], "每秒未约到的回答数",
                                     "开放后经过时间（每秒）", css="off"),
        left_chart=charts.line(left_then, "剩余份数", "开放后经过时间", top=window.quota),
        latency_chart=charts.line(p99_each, "每秒的 p99 响应时间（毫秒）", "开放后经过时间",
                                  css="bad"),
        latency_p50_chart=charts.line(p50_each, "每秒的 p50 响应时间（毫秒）", "开放后经过时间"),
        codes_chart=charts.bars([(ANSWER_NAMES.get(code, (code, ""))[0], n,
                                  ANSWER_NAMES.get(code, ("", "warn"))[1])
                                 for code, n in figures.by_code.most_common()],
                                "按结果统计的回答数"),
    )
    return view


def _room(window: Window, now) -> dict | None:
    """The waiting room's figures (the same reading /metrics serves), if it has one."""
    snapshot = current_app.extensions["directory"].snapshot(db.session, window.campaign_id,
                                                            now)
    settings = snapshot.rules.waiting_room
    shown = next((w for w in snapshot.windows if w.id == window.id), None)
    if settings is None or shown is None:
        return None
    return {**waiting_room.figures(current_app.extensions["rooms"], settings, shown, now),
            "rate": settings.admit_per_second}


def _queues():
    depths = jobs.depths()
    return charts.bars([(QUEUE_NAMES.get(name, "失败任务" if name == "failed" else name), n,
                         "bad" if name == "failed" else "warn") for name, n in depths.items()],
                       "任务队列长度")


def _deliveries(window: Window):
    counts = db.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == window.campaign_id,
               Delivery.created_at >= window.opens_at)
        .group_by(Delivery.status)).all()
    found = dict(counts)
    return charts.bars([(DELIVERY_NAMES.get(status, (status, ""))[0], found[status],
                         DELIVERY_NAMES.get(status, ("", "warn"))[1])
                        for status in DELIVERY_NAMES if status in found]
                       + [(status, n, "warn") for status, n in found.items()
                          if status not in DELIVERY_NAMES], "本时段开放以来的消息（按状态）")
