"""The booking route on a lean path, for the crowd at the opening.

``POST /api/v1/campaigns/<id>/bookings`` is the one request millions send in the same
seconds. ``FastBooking`` (WSGI middleware inside the sold-out shortcut) answers the plain
form of it without Flask's routing, APIFlask's schemas or its hooks: a JSON body of
``store_id`` and optionally ``pickup_slot`` and ``rules_version`` (whole numbers in their
ranges) and the waiting room's ``admission``, a bearer token of a live session, no
``Idempotency-Key`` or ``X-Rules-Version`` header, a campaign this process has cached. It
calls ``place_booking``, the same function the Flask view calls, and answers the same
body, status and error envelope.

Anything else (a malformed body, an unknown token, a retry with an idempotency key, a
campaign not yet cached) goes on to the Flask view, which gives the same answer or the
precise error. So the lean path changes no behaviour, only what a booking costs;
``tests/test_fast_booking.py`` checks both paths answer alike.
"""

from __future__ import annotations

import json
import logging

import redis
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from wx_backend import notify
from wx_backend.booking import first_come
from wx_backend.core import clock
from wx_backend.core.errors import DomainError
from wx_backend.core.wsgi_input import small_json
from wx_backend.extensions import db, pii, redis_store
from wx_backend.identity import sessions

log = logging.getLogger(__name__)

_FIELDS = {"store_id": (1, 2**62), "pickup_slot": (0, 20), "rules_version": (1, 2**31 - 1),
           "admission": (1, 400)}


def place_booking(app, campaign_id: int, resident, store_id: int, *, pickup_slot: int = 0,
                  idempotency_key: str | None = None,
                  shown_rules_version: int | None = None, admission: str | None = None) -> dict:
    """Book for the session's resident (the mini-program's booking, whichever path).

    When the campaign has a waiting room, the booking needs the room's admission for the
    window open now, checked in process (``booking.waiting_room``)."""
    app.extensions["person_limit"].hit(f"book:{resident.person_key or resident.resident_id}")
    now = clock.now()
    snapshot = app.extensions["directory"].snapshot(db.session, campaign_id, now)
    room = snapshot.rules.waiting_room
    window = snapshot.window_at(now) if room is not None else None
    if window is not None:
        person_key = (resident.person_key
                      or first_come.resident_booker(db.session, resident.resident_id).person_key)
        app.extensions["rooms"].check_admission(room, window, person_key, admission, now)
    made = first_come.book_for_resident(
        db.session, app.extensions["stock"], app.extensions["directory"], snapshot, pii.vault,
        resident.resident_id, store_id, now, pickup_slot=pickup_slot,
        idempotency_key=idempotency_key, shown_rules_version=shown_rules_version,
        person_key=resident.person_key)
    # The confirmation goes out from a worker, batched with everyone else's.
    notify.nudge(redis_store.client)
    return made


def _plain_body(environ) -> dict | None:
    """The request's body if it is the plain form, else None (the body stays readable)."""
    if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != "application/json":
        return None
    body = small_json(environ)
    if not isinstance(body, dict) or "store_id" not in body or not set(body) <= set(_FIELDS):
        return None
    for name, value in body.items():
        low, high = _FIELDS[name]
        if name in ("rules_version", "admission") and value is None:
            continue
        if name == "admission":
            if type(value) is not str or not low <= len(value) <= high:
                return None
        elif type(value) is not int or not low <= value <= high:
            return None
    return body


class FastBooking:
    """WSGI middleware: the plain booking request answered without Flask (see above)."""

    def __init__(self, wsgi_app, app, path):
        self.wsgi_app = wsgi_app
        self.app = app
        self.path = path

    def __call__(self, environ, start_response):
        match = (self.path.match(environ.get("PATH_INFO", ""))
                 if environ.get("REQUEST_METHOD") == "POST" else None)
        if (match is None or "HTTP_IDEMPOTENCY_KEY" in environ
                or "HTTP_X_RULES_VERSION" in environ):
            return self.wsgi_app(environ, start_response)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = auth.partition(" ")
        body = _plain_body(environ) if scheme.lower() == "bearer" and token else None
        campaign_id = int(match.group(1))
        if body is None or self.app.extensions["directory"].cached(campaign_id) is None:
            return self.wsgi_app(environ, start_response)
        with self.app.app_context():
            answer = self._book(campaign_id, token.strip(), body, environ)
        if answer is None:
            return self.wsgi_app(environ, start_response)
        status, payload, headers = answer
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data))), *headers])
        return [data]

    def _book(self, campaign_id: int, token: str, body: dict, environ):
        try:
            resident = sessions.lookup(redis_store.client, token)
            if resident is None:
                return None  # the view answers 401 with its exact words
            made = place_booking(self.app, campaign_id, resident, body["store_id"],
                                 pickup_slot=body.get("pickup_slot", 0),
                                 shown_rules_version=body.get("rules_version"),
                                 admission=body.get("admission"))
        except DomainError as refused:
            db.session.rollback()
            environ["wx.answer"] = refused.code
            headers = []
            if "retry_after" in refused.extra:
                headers.append(("Retry-After", str(refused.extra["retry_after"])))
            return (f"{refused.status} {_REASONS.get(refused.status, 'Error')}",
                    {"error": {"code": refused.code, "message": refused.message,
                               "fields": refused.fields, **refused.extra,
                               "request_id": environ.get("wx.request_id", "")}}, headers)
        except (redis.RedisError, OperationalError, PoolTimeout) as error:
            db.session.rollback()
            log.error("backing service unavailable: %s", error.__class__.__name__)
            environ["wx.answer"] = "unavailable"
            return ("503 Service Unavailable",
                    {"error": {"code": "unavailable", "message": "系统繁忙，请稍后再试",
                               "fields": {}, "retry_after": 5,
                               "request_id": environ.get("wx.request_id", "")}},
                    [("Retry-After", "5")])
        except Exception:
            db.session.rollback()
            log.exception("unhandled error")
            environ["wx.answer"] = "error"
            return ("500 Internal Server Error",
                    {"error": {"code": "internal_error", "message": "系统繁忙，请稍后再试",
                               "fields": {}, "request_id": environ.get("wx.request_id", "")}},
                    [])
        environ["wx.answer"] = "ok"
        return "201 Created", made, []


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests"}
