"""What each web process keeps in memory: campaign snapshots and sold-out windows.

A snapshot (campaign, rules in force, stores, current and coming windows) is read from
PostgreSQL at most every ``SNAPSHOT_TTL`` seconds, so the booking path reads no campaign data
from the database. Once Redis says a window is sold out, the process answers ``sold_out``
for it from memory. A listener thread subscribed to ``wx:stock-returned`` clears the mark as
soon as any unit of that window comes back (a cancellation, a reconciliation); as a safety
net a mark is also trusted for at most ``SOLD_OUT_RECHECK`` seconds.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from wx_backend.booking.stock import STOCK_RETURNED
from wx_backend.campaigns.manage import get_campaign, rules_in_force
from wx_backend.campaigns.rules import Rules
from wx_backend.core import clock
from wx_backend.core.wsgi_input import small_json
from wx_backend.models import Store, Window

log = logging.getLogger(__name__)

SNAPSHOT_TTL = 5.0
BOOKING_PATH = re.compile(r"^/api/v1/campaigns/([0-9]{1,18})/bookings$")
SOLD_OUT_RECHECK = 10.0


@dataclass(frozen=True)
class StoreInfo:
    id: int
    name: str
    address: str
    district: str
    lat: float
    lng: float
    daily_cap: int
    opening_hours: str
    channel: str = "pickup"


@dataclass(frozen=True)
class WindowInfo:
    id: int
    opens_at: datetime
    closes_at: datetime
    quota: int
    pickup_date: date
    rules_version: int
    seq_base: int


@dataclass
class Snapshot:
    """One campaign as the booking path needs it."""

    id: int
    slug: str
    name: str
    reservation_key: str
    rules_version: int
    rules: Rules
    stores: dict[int, StoreInfo]
    windows: list[WindowInfo]
    loaded: float = field(default_factory=time.monotonic)

    def window_at(self, now: datetime) -> WindowInfo | None:
        """The window open at ``now``, if any."""
        for window in self.windows:
            if window.opens_at <= now < window.closes_at:
                return window
        return None

    def next_window(self, now: datetime) -> WindowInfo | None:
        """The next window to open after ``now``."""
        upcoming = [w for w in self.windows if w.opens_at > now]
        return min(upcoming, key=lambda w: w.opens_at) if upcoming else None

    def nearest_stores(self, lat: float | None,
                       lng: float | None) -> list[tuple[StoreInfo, float | None]]:
        """Stores with their distance in metres, nearest first (by name without a position)."""
        if lat is None or lng is None:
            return [(s, None) for s in sorted(self.stores.values(), key=lambda s: s.name)]
        ranked = [(s, _metres(lat, lng, s.lat, s.lng)) for s in self.stores.values()]
        return sorted(ranked, key=lambda pair: pair[1])


def _metres(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def load_snapshot(session: Session, campaign_id: int, now: datetime) -> Snapshot:
    """Read one campaign's snapshot from the database."""
    campaign = get_campaign(session, campaign_id)
    version, rules = rules_in_force(session, campaign_id, now)
    stores = {s.id: StoreInfo(s.id, s.name, s.address, s.district, s.lat, s.lng, s.daily_cap,
                              s.opening_hours, s.channel)
              for s in session.scalars(select(Store).where(Store.campaign_id == campaign_id,
                                                           Store.active))}
    windows = [WindowInfo(w.id, w.opens_at, w.closes_at, w.quota, w.pickup_date,
                          w.rules_version, w.seq_base)
               for w in session.scalars(select(Window).where(
                   Window.campaign_id == campaign_id,
                   Window.closes_at > now - timedelta(days=1)).order_by(Window.opens_at))]
    return Snapshot(campaign.id, campaign.slug, campaign.name, campaign.reservation_key,
                    version, rules, stores, windows)


class Directory:
    """Per-process cache of snapshots and sold-out marks; safe across threads."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self._snapshots: dict[int, Snapshot] = {}
        self._sold_out: dict[int, float] = {}
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None

    def snapshot(self, session: Session, campaign_id: int, now: datetime) -> Snapshot:
        """The campaign's snapshot, re-read when older than SNAPSHOT_TTL."""
        cached = self._snapshots.get(campaign_id)
        if cached is not None and time.monotonic() - cached.loaded < SNAPSHOT_TTL:
            return cached
        fresh = load_snapshot(session, campaign_id, now)
        self._snapshots[campaign_id] = fresh
        return fresh

    def cached(self, campaign_id: int) -> Snapshot | None:
        """The snapshot this process holds, without reading the database."""
        return self._snapshots.get(campaign_id)

    def forget(self, campaign_id: int | None = None) -> None:
        """Drop cached snapshots (all, or one campaign's) so the next use re-reads them."""
        with self._lock:
            if campaign_id is None:
                self._snapshots.clear()
                self._sold_out.clear()
            else:
                self._snapshots.pop(campaign_id, None)

    def is_sold_out(self, window_id: int) -> bool:
        """True while this process knows the window to be sold out."""
        until = self._sold_out.get(window_id)
        if until is None:
            return False
        if time.monotonic() >= until:
            self._sold_out.pop(window_id, None)
            return False
        return True

    def mark_sold_out(self, window_id: int) -> None:
        """Remember that Redis found no unit left in the window."""
        self._ensure_listener()
        self._sold_out[window_id] = time.monotonic() + SOLD_OUT_RECHECK

    def stock_returned(self, window_id: int) -> None:
        """Forget the sold-out mark of a window whose stock came back."""
        self._sold_out.pop(window_id, None)

    def _ensure_listener(self) -> None:
        if self._listener is not None and self._listener.is_alive():
            return
        with self._lock:
            if self._listener is not None and self._listener.is_alive():
                return
            self._listener = threading.Thread(target=self._listen, name="stock-returned",
                                              daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        reconnecting = False
        while True:
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(STOCK_RETURNED)
                if reconnecting:
                    # What was published while we were away is unknown: trust no mark.
                    self._sold_out.clear()
                for message in pubsub.listen():
                    try:
                        self.stock_returned(int(message["data"]))
                    except (TypeError, ValueError):
                        continue
            except Exception as error:  # noqa: BLE001 - the listener must outlive any failure
                # A RedisError, or (seen during a Sentinel failover) redis-py tripping over
                # a half-made connection: either way, start again with no marks trusted.
                log.warning("stock listener lost Redis (%s); retrying", error.__class__.__name__)
                self._sold_out.clear()
                reconnecting = True
                time.sleep(1)


class SoldOutShortcut:
    """WSGI middleware: a booking for a window this process knows to be sold out is
    answered here, before Flask routes, authenticates or validates anything.

    Only a plain request takes the shortcut: a JSON body whose ``store_id`` is a store of
    the campaign, and no ``Idempotency-Key`` (a retry must get its first answer). Anything
    else goes on to the full path, which gives the same ``sold_out`` or a clearer error.
    """

    def __init__(self, wsgi_app, directory: Directory, body: bytes):
        # ``body`` ends with two closing braces: the request id goes in before them.
        self.wsgi_app = wsgi_app
        self.directory = directory
        self.body_head = body[:-2] + b',"request_id":"'
        self.body_tail = b'"' + body[-2:]

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST" and "HTTP_IDEMPOTENCY_KEY" not in environ:
            match = BOOKING_PATH.match(environ.get("PATH_INFO", ""))
            if match and self._sold_out(int(match.group(1)), environ):
                environ["wx.answer"] = "sold_out"
                body = (self.body_head + environ.get("wx.request_id", "").encode()
                        + self.body_tail)
                start_response("409 CONFLICT", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(body)))])
                return [body]
        return self.wsgi_app(environ, start_response)

    def _sold_out(self, campaign_id: int, environ) -> bool:
        snapshot = self.directory.cached(campaign_id)
        if snapshot is None:
            return False
        window = snapshot.window_at(clock.now())
        if window is None or not self.directory.is_sold_out(window.id):
            return False
        body = small_json(environ)
        store_id = body.get("store_id") if isinstance(body, dict) else None
        return (type(store_id) is int and store_id in snapshot.stores
                and set(body) <= {"store_id", "pickup_slot"}
                and type(body.get("pickup_slot", 0)) is int
                and 0 <= body.get("pickup_slot", 0) < len(snapshot.rules.pickup_slots))
