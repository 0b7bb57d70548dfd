"""Routes of the mini-program API for the waiting room (``booking.waiting_room``).

``POST /campaigns/<id>/room`` joins (once per person; again answers the same place).
``GET /campaigns/<id>/room?ticket=…`` is the poll: answered from this process's memory
(the ticket carries the place, the clock gives the serving counter), with
``poll_after_ms`` and ``Retry-After`` saying when to ask again, and shortly before the
turn the admission. Without a ticket it answers the room's public state, which a CDN may
cache for two seconds.

The crowd polls while it waits, so ``FastPolls`` (WSGI middleware) answers polls without
Flask; anything else (a bad ticket, a campaign not cached here, Redis failing at an early
joiner's first poll after the ordering) goes on to the view, which answers the same or
the precise error.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import timedelta
from urllib.parse import parse_qs

import redis
from apiflask import Schema
from apiflask.fields import String
from apiflask.validators import Length
from flask import current_app
from prometheus_client.core import GaugeMetricFamily

from wx_backend.booking import first_come, waiting_room
from wx_backend.core import clock
from wx_backend.core.errors import Conflict, DomainError, NotFound
from wx_backend.extensions import db
from wx_backend.miniprogram_api.auth import authenticate
from wx_backend.miniprogram_api.blueprint import bp
from wx_backend.models import Window
from wx_backend.web import metrics

log = logging.getLogger(__name__)
ROOM_LOOKAHEAD = timedelta(hours=2)  # rooms in /metrics: open, or opening within this


def room_metrics(app) -> list:
    """/metrics at each scrape: every open or upcoming room's joiners, serving position,
    waiting count and whether it is held waiting for the beacon (``waiting_room.figures``,
    which the console's dashboard shows too)."""
    now = clock.now()
    directory, rooms = app.extensions["directory"], app.extensions["rooms"]
    families = {name: GaugeMetricFamily(f"wx_room_{name}", text, labels=["campaign", "window"])
                for name, text in (("joined", "People who took a place in the room"),
                                   ("serving", "Positions the room has admitted"),
                                   ("waiting", "People in the room not yet admitted"),
                                   ("held", "1 while the room's opening has come and it "
                                            "still waits for the beacon's round"))}
    for campaign_id in db.session.scalars(db.select(Window.campaign_id).where(
            Window.closes_at > now, Window.opens_at < now + ROOM_LOOKAHEAD).distinct()):
        snapshot = directory.snapshot(db.session, campaign_id, now)
        settings = snapshot.rules.waiting_room
        for window in snapshot.windows if settings is not None else ():
            if window.closes_at > now and window.opens_at < now + ROOM_LOOKAHEAD:
                shown = waiting_room.figures(rooms, settings, window, now)
                shown["held"] = int(shown["order"] == "held")
                for name, family in families.items():
                    family.add_metric([str(campaign_id), str(window.id)], shown[name])
    db.session.rollback()
    return list(families.values())


metrics.SCRAPE_COLLECTORS.append(room_metrics)


class RoomQuery(Schema):
    ticket = String(load_default=None, allow_none=False,
                    validate=Length(1, 400, error="排队凭证不正确"),
                    metadata={"description": "进入排队时得到的 ticket"})


ROOM_STATES = ("before_opening：未开始，sorted_at 前进入者按公开随机数信标第 beacon_round 轮"
               "（beacon_at 公布）随机排序；waiting：排队中（position、ahead、wait_seconds；"
               "held 为 true 时在等待信标，暂不放行）；admitted：轮到了（admission 用于预约）；"
               "sold_out：已约完，排队结束；closed：时段已结束")


def _room(campaign_id: int):
    now = clock.now()
    snapshot = current_app.extensions["directory"].snapshot(db.session, campaign_id, now)
    settings = snapshot.rules.waiting_room
    if settings is None:
        raise Conflict("no_waiting_room", "本活动无需排队，可直接预约")
    return now, snapshot, settings


def _headers(body: dict) -> dict:
    """A resident's own place is private; the room's public state (no ticket) is the same
    for everyone, so a CDN may keep it for a moment."""
    headers = {"Cache-Control": ("no-store" if "ticket" in body
                                 else f"public, max-age={waiting_room.PUBLIC_MAX_AGE}")}
    if body["poll_after_ms"] is not None:
        headers["Retry-After"] = str(math.ceil(body["poll_after_ms"] / 1000))
    return headers


def _answer(body: dict):
    return body, 200, _headers(body)


@bp.post("/campaigns/<int:campaign_id>/room")
@bp.doc(summary="进入排队（活动设有排队时）", security="BearerAuth",
        description=ROOM_STATES,
        responses={200: "排队位置（同一人再次进入得到原来的位置）", 401: "未登录",
                   404: "活动不存在",
                   409: "no_waiting_room / room_not_open / window_closed / sold_out /"
                        " profile_incomplete",
                   429: "too_many_attempts（见 retry_after）"})
def join_room(campaign_id: int):
    """Join the room of the window open now, or of the next one from ``joins_from_minutes``
    before it opens. One place per person: another account of the same person gets it too."""
    session = authenticate()
    now, snapshot, settings = _room(campaign_id)
    current_app.extensions["person_limit"].hit(
        f"join:{session.person_key or session.resident_id}")
    person_key = (session.person_key
                  or first_come.resident_booker(db.session, session.resident_id).person_key)
    window = waiting_room.joinable(settings, snapshot, now)
    rooms = current_app.extensions["rooms"]
    sold_out = current_app.extensions["directory"].is_sold_out(window.id)
    if sold_out or rooms.board(window.id).sold_out:
        raise first_come.sold_out()
    ticket = rooms.join(campaign_id=campaign_id, settings=settings, window=window,
                        person_key=person_key, now=now)
    return _answer(rooms.status(settings, window, ticket, now))


@bp.get("/campaigns/<int:campaign_id>/room")
@bp.input(RoomQuery, location="query", arg_name="query")
@bp.doc(summary="排队进度（轮询，按 Retry-After 间隔）", description=ROOM_STATES,
        responses={200: "排队状态", 403: "invalid_ticket（排队凭证不是本活动签发的）",
                   404: "活动或时段不存在", 409: "no_waiting_room / window_closed"})
def room_status(campaign_id: int, query):
    """Where the ticket's holder stands, or without a ticket the room of the current or
    next window."""
    now, snapshot, settings = _room(campaign_id)
    rooms = current_app.extensions["rooms"]
    ticket = None
    if query["ticket"] is not None:
        ticket = rooms.signer.read_ticket(query["ticket"], campaign_id)
        window = next((w for w in snapshot.windows if w.id == ticket.window_id), None)
        if window is None:
            raise NotFound("window_not_found", "这个时段已结束很久了")
        ticket = rooms.placed(ticket, settings, window, now)
    else:
        window = snapshot.window_at(now) or snapshot.next_window(now)
        if window is None:
            raise Conflict("window_closed", "目前没有可预约的时段")
    sold_out = current_app.extensions["directory"].is_sold_out(window.id)
    return _answer(rooms.status(settings, window, ticket, now, sold_out=sold_out))


class FastPolls:
    """WSGI middleware: a poll whose answer needs nothing but memory, without Flask."""

    def __init__(self, wsgi_app, app):
        self.wsgi_app = wsgi_app
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET":
            match = waiting_room.ROOM_PATH.match(environ.get("PATH_INFO", ""))
            body = self._status(int(match.group(1)), environ) if match else None
            if body is not None:
                data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
                start_response("200 OK", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(data))),
                                          *_headers(body).items()])
                return [data]
        return self.wsgi_app(environ, start_response)

    def _status(self, campaign_id: int, environ) -> dict | None:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        raw = query.pop("ticket", None)
        directory = self.app.extensions["directory"]
        snapshot = directory.cached(campaign_id)
        if (query or (raw is not None and len(raw) != 1) or snapshot is None
                or snapshot.rules.waiting_room is None):
            return None
        rooms = self.app.extensions["rooms"]
        now = clock.now()
        try:
            if raw is None:  # the room's public state
                window = snapshot.window_at(now) or snapshot.next_window(now)
                ticket = None
            else:
                ticket = rooms.signer.read_ticket(raw[0], campaign_id)
                window = next((w for w in snapshot.windows if w.id == ticket.window_id), None)
            if window is None:
                return None
            settings = snapshot.rules.waiting_room
            placed = ticket if ticket is None else rooms.placed(ticket, settings, window, now)
            return rooms.status(settings, window, placed, now,
                                sold_out=directory.is_sold_out(window.id),
                                raw_ticket=raw[0] if placed == ticket and raw else None)
        except (DomainError, redis.RedisError) as error:
            log.debug("poll left to the view: %s", error.__class__.__name__)
            return None
