"""Open data: every store's stock left in a campaign's current window, as anyone may read
it (``/public/campaigns/<id>/stock.json`` and ``.csv``), like Taiwan's pharmacy map feed
but fresher.

Each web process computes the feed at most every ``FRESH_SECONDS`` per campaign (one Redis
round trip per shard) and answers it with ``Cache-Control: public, max-age=3``, so a CDN
in front serves the crowd and a reader sees figures at most five seconds old.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sqlalchemy.orm import Session

from wx_backend.booking import first_come
from wx_backend.booking.directory import Directory
from wx_backend.booking.stock import Stock

FRESH_SECONDS = 2.0
MAX_AGE = 3  # with FRESH_SECONDS: a reader behind a CDN sees figures at most 5 s old
_feeds: dict[int, tuple[float, dict]] = {}
_lock = threading.Lock()


def stock_feed(session: Session, stock: Stock, directory: Directory, campaign_id: int,
               now: datetime) -> dict:
    """The campaign's stores with what each can still hand out in the window open now
    (or the next one), and when that was counted."""
    cached = _feeds.get(campaign_id)
    if cached is not None and time.monotonic() - cached[0] < FRESH_SECONDS:
        return cached[1]
    snapshot = directory.snapshot(session, campaign_id, now)
    window = snapshot.window_at(now) or snapshot.next_window(now)
    stores = sorted(snapshot.stores.values(), key=lambda s: s.id)
    window_left, lefts = None, [None] * len(stores)
    if window is not None:
        if not stock.is_loaded(window.id):
            first_come.ensure_loaded(session, stock, window.id, now)
        window_left, lefts = stock.left(window.id, [(s.id, window.pickup_date) for s in stores])
    feed = {
        "campaign_id": snapshot.id, "campaign": snapshot.name,
        "counted_at": now.astimezone(snapshot.rules.zone).isoformat(timespec="seconds"),
        "window": None if window is None else {
            "id": window.id, "opens_at": window.opens_at.isoformat(),
            "closes_at": window.closes_at.isoformat(), "quota": window.quota,
            "pickup_date": window.pickup_date.isoformat(), "left": window_left},
        "stores": [{"id": s.id, "name": s.name, "address": s.address,
                    "district": s.district, "lat": s.lat, "lng": s.lng,
                    "opening_hours": s.opening_hours,
                    "left": None if left is None else min(left, window_left)}
                   for s, left in zip(stores, lefts)],
    }
    with _lock:
        _feeds[campaign_id] = (time.monotonic(), feed)
    return feed


def forget() -> None:
    """Drop every cached feed (the tests start each from Redis)."""
    with _lock:
        _feeds.clear()
