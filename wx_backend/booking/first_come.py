"""First-come-first-served booking: take a unit in Redis, record it in PostgreSQL.

``book`` is the one place where a resident gets a portion. It writes its row in its own
single-statement transaction: the unit taken in Redis and the row in PostgreSQL must stand
or fall together, so if the row cannot be written the unit and the claim go straight back.
A crash between the two leaves a unit taken in Redis with no row, which never oversells and
which ``reconcile`` gives back. ``book_for_resident`` is what every surface calls: it
decides who books (the person or the household), checks the rules the resident saw and
their eligibility, then books, and makes the postal order when the store sends by post.

Cancelling, expiring and rebuilding Redis from the database live here too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import redis
from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from wx_backend.booking import group_commit, households, postal
from wx_backend.booking.directory import Directory, Snapshot, StoreInfo, WindowInfo
from wx_backend.booking.stock import Stock, Taken, idem_key
from wx_backend.campaigns import reservation
from wx_backend.campaigns.manage import rules_in_force
from wx_backend.campaigns.rules import Rules
from wx_backend.core.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from wx_backend.models import Booking, Campaign, Entry, Resident, Store, Window

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL = 24 * 3600


@dataclass(frozen=True)
class Booker:
    """Who is booking: the resident and the key their limit is counted by."""

    resident_id: int
    person_key: str


def _iso(moment: datetime | None, zone=None) -> str | None:
    if moment is None:
        return None
    return (moment.astimezone(zone) if zone else moment).isoformat()


def window_closed(snapshot: Snapshot, now: datetime) -> Conflict:
    """The ``window_closed`` error, naming the next opening when there is one."""
    upcoming = snapshot.next_window(now)
    if upcoming is None:
        return Conflict("window_closed", "当前不在预约时段，暂无新的预约安排", next_opening=None)
    local = upcoming.opens_at.astimezone(snapshot.rules.zone)
    return Conflict("window_closed", f"当前不在预约时段，下次开放时间为{local:%m月%d日 %H:%M}",
                    next_opening=upcoming.opens_at.isoformat())


def sold_out() -> Conflict:
    return Conflict("sold_out", "本时段口罩已约完，请关注下次预约时间")


def booking_body(booking: Booking, rules: Rules, store: StoreInfo | Store,
                 window: WindowInfo | Window) -> dict:
    """A booking as its holder sees it (store and window as rows or snapshot entries);
    times in the campaign's time zone."""
    zone = rules.zone
    return {
        "id": booking.id,
        "campaign_id": booking.campaign_id,
        "reservation_no": booking.reservation_no,
        "status": booking.status,
        "pickup_code": booking.pickup_code,
        "rules_version": booking.rules_version,
        "store": {"id": store.id, "name": store.name, "address": store.address,
                  "district": store.district, "opening_hours": store.opening_hours,
                  "lat": store.lat, "lng": store.lng},
        "window": {"id": window.id, "opens_at": _iso(window.opens_at, zone),
                   "closes_at": _iso(window.closes_at, zone)},
        "pickup": {"date": booking.pickup_date.isoformat(),
                   "starts_at": _iso(booking.pickup_starts_at, zone),
                   "ends_at": _iso(booking.pickup_ends_at, zone)},
        "portion": {"item": rules.item, "items": rules.items,
                    "unit_price_fen": rules.unit_price_fen},
        "created_at": _iso(booking.created_at, zone),
        "cancelled_at": _iso(booking.cancelled_at, zone),
        "collected_at": _iso(booking.collected_at, zone),
    }


def bookings_of(session: Session, directory: Directory, resident_id: int, now: datetime,
                booking_id: int | None = None, limit: int = 100) -> list[dict]:
    """The resident's bookings (or the one ``booking_id``), newest first, each as
    ``booking_body`` shows it: the one way a booking is described to its holder, in the
    mini-program and to the residents' committee that helps them."""
    query = (select(Booking, Store, Window)
             .join(Store, Store.id == Booking.store_id)
             .join(Window, Window.id == Booking.window_id)
             .where(Booking.resident_id == resident_id))
    if booking_id is not None:
        query = query.where(Booking.id == booking_id)
    rows = session.execute(query.order_by(Booking.id.desc()).limit(limit)).all()
    return [booking_body(row, directory.snapshot(session, row.campaign_id, now).rules, store,
                         window) for row, store, window in rows]


def check_rules_version(snapshot: Snapshot, shown: int | None) -> None:
    """Refuse a booking from a client showing rules older than those in force, with the
    new version and its summary so the mini-program can refresh (None: not said)."""
    if shown is not None and shown != snapshot.rules_version:
        raise Conflict("rules_changed", "活动规则已更新，请刷新后查看新规则再预约",
                       rules_version=snapshot.rules_version, summary=snapshot.rules.summary())


def _fingerprint(campaign_id: int, store_id: int, pickup_slot: int) -> str:
    return hashlib.sha256(f"{campaign_id}:{store_id}:{pickup_slot}".encode()).hexdigest()[:16]


def _replayed(stored: str, fingerprint: str, client: redis.Redis, key: str) -> dict:
    """The answer recorded for an idempotency key, waiting briefly if still in flight."""
    deadline = time.monotonic() + 3
    while stored.startswith("pending:"):
        if stored != f"pending:{fingerprint}":
            break
        if time.monotonic() > deadline:
            raise TooManyRequests("busy", "上一次提交仍在处理中，请稍后查看预约结果",
                                  retry_after=1)
        time.sleep(0.05)
        stored = client.get(key) or ""
        if not stored:
            raise TooManyRequests("busy", "上一次提交未成功，请重试", retry_after=1)
    if stored.startswith("pending:") or json.loads(stored).get("_fingerprint") != fingerprint:
        raise Conflict("idempotency_key_reused", "同一个请求编号不能用于不同的预约",
                           fields={"Idempotency-Key": "已用于另一个预约请求"})
    body = json.loads(stored)
    body.pop("_fingerprint", None)
    return body


def book(session: Session, stock: Stock, directory: Directory, snapshot: Snapshot,
         booker: Booker, store_id: int, now: datetime, *, pickup_slot: int = 0,
         idempotency_key: str | None = None) -> dict:
    """Book one portion at ``store_id`` in the window open now; returns the booking body.

    Raises Conflict (``window_closed``, ``sold_out``, ``store_full``, ``already_booked``,
    ``cooldown``, ``pickup_slot_unavailable``, ``idempotency_key_reused``), NotFound or
    TooManyRequests (``busy``); on any of them
    nothing is taken.
    """
    rules = snapshot.rules
    if rules.allocation != "fcfs":
        raise Conflict("not_first_come", "本活动不是先到先得，请通过登记（摇号或排队）参加")
    store = snapshot.stores.get(store_id)
    if store is None:
        raise NotFound("store_not_found", "该药店不在本次活动中", fields={"store_id": "药店不存在"})
    if not 0 <= pickup_slot < len(rules.pickup_slots):  # the rules in force offer no such slot
        raise Conflict("pickup_slot_unavailable", "本活动没有这个取货时段",
                           fields={"pickup_slot": f"应为0到{len(rules.pickup_slots) - 1}"})
    window = snapshot.window_at(now)
    if window is None:
        raise window_closed(snapshot, now)
    cooldown_until = rules.cooldown_for(window.opens_at, window.closes_at)[1]
    fingerprint = _fingerprint(snapshot.id, store_id, pickup_slot)
    idem = (idem_key(snapshot.id, booker.person_key, booker.resident_id, idempotency_key)
            if idempotency_key else "")
    try:
        marking = idem
        for _ in range(2):
            # The person's slot first, then the store's; the claim goes back if the unit
            # cannot be had (docs/scaling.md).
            claimed = stock.claim(campaign_id=snapshot.id, window_id=window.id,
                                  person_key=booker.person_key, cooldown_until=cooldown_until,
                                  idempotency=marking, fingerprint=fingerprint,
                                  idem_ttl=IDEMPOTENCY_TTL)
            if claimed.status == "replay":
                return _replayed(claimed.detail, fingerprint, stock.client, idem)
            if claimed.status == "claimed":
                if idem and not marking:  # the pending record we kept is answered now
                    _give_back_claim(stock, snapshot.id, booker.person_key, "", idem)
                raise _claimed(claimed.detail, window, snapshot)
            taken = _take(session, stock, window, store, now)
            if taken.status != "not_loaded":
                break
            # Redis lost this part of the window (a flushed or failed-over shard): load it
            # with the campaign's claims from the database, then claim again.
            # Our pending idempotency record stays: retries keep waiting for this answer.
            _give_back_claim(stock, snapshot.id, booker.person_key, claimed.value, "")
            ensure_loaded(session, stock, window.id, now, store_id=store.id)
            marking = ""
    except redis.RedisError as error:
        # A shard failing over: nothing confirmed, try again in a moment.
        log.warning("stock Redis unavailable for window %s (%s)", window.id,
                    error.__class__.__name__)
        raise TooManyRequests("busy", "系统繁忙，请稍后再试", retry_after=1) from None
    if taken.status != "ok":
        _give_back_claim(stock, snapshot.id, booker.person_key, claimed.value, idem)
        raise _refusal(taken, window, directory, snapshot, now)
    values = booking_row(snapshot, window, store.id, booker, taken, pickup_slot, now)
    try:
        booking_id = _write_row(session, values)
    except DBAPIError as error:
        refusal = _undo(stock, snapshot, window, store, booker, taken, claimed.value, idem,
                        error)
        if getattr(refusal, "code", None) == "cooldown":
            refusal = _claim_lost(session, stock, snapshot, window, booker) or refusal
        raise refusal from None

    booking = Booking(id=booking_id, cancelled_at=None, collected_at=None, **values)
    body = booking_body(booking, rules, store, window)
    if idem:
        stock.client.set(idem, json.dumps({**body, "_fingerprint": fingerprint}),
                         ex=IDEMPOTENCY_TTL)
    return body


def booking_row(snapshot: Snapshot, window: WindowInfo, store_id: int, booker: Booker,
                taken: Taken, pickup_slot: int, now: datetime) -> dict:
    """The row of a confirmed booking of the unit ``taken`` (its sequence number, and so its
    reservation number, follow from the unit's ticket)."""
    rules = snapshot.rules
    cooldown_from, cooldown_until = rules.cooldown_for(window.opens_at, window.closes_at)
    seq = window.seq_base + taken.ticket
    pickup_starts, pickup_ends = rules.pickup_span(window.pickup_date, pickup_slot)
    return dict(
        campaign_id=snapshot.id, window_id=window.id, store_id=store_id,
        resident_id=booker.resident_id, person_key=booker.person_key,
        rules_version=snapshot.rules_version, seq=seq,
        reservation_no=reservation.reservation_number(snapshot.reservation_key, seq),
        pickup_code=f"{secrets.randbelow(10**6):06d}", window_slot=taken.unit,
        store_slot=taken.store_slot, pickup_date=window.pickup_date,
        pickup_starts_at=pickup_starts, pickup_ends_at=pickup_ends, status="confirmed",
        holds_unit=True, holds_cooldown=True, cooldown_from=cooldown_from,
        cooldown_until=cooldown_until, created_at=now,
    )


def _write_row(session: Session, values: dict) -> int:
    """The booking's row, committed (durable) when this returns: with the rows of
    concurrent bookings of this process (group commit), or alone in autocommit."""
    engine = session.get_bind()
    if current_app.config.get("GROUP_COMMIT", True):
        return group_commit.for_engine(
            engine, Booking.__table__,
            current_app.config.get("GROUP_COMMIT_STATEMENTS", 4)).insert(values)
    with engine.connect() as connection:
        return connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            _INSERT_BOOKING, values).scalar_one()


# A Core statement with parameters passed at execution is compiled once and cached.
_INSERT_BOOKING = insert(Booking.__table__).returning(Booking.__table__.c.id)


def book_for_resident(session: Session, stock: Stock, directory: Directory, snapshot: Snapshot,
                      vault, resident_id: int, store_id: int, now: datetime, *,
                      pickup_slot: int = 0, idempotency_key: str | None = None,
                      shown_rules_version: int | None = None,
                      person_key: str | None = None) -> dict:
    """A resident's booking, the same from the mini-program and the residents' committee:
    the person or household that books, the rules version the resident was shown, the
    campaign's area, the address when the store sends by post, then ``book``; answers the
    booking body. ``person_key`` is the login's cached key of the person (saves a read).

    Commits what it writes (the booking in its own transaction, then any postal order).
    """
    rules = snapshot.rules
    if rules.per == "household":
        booker = resident_booker(session, resident_id, rules, vault)
    elif person_key:
        booker = Booker(resident_id, person_key)
    else:
        booker = resident_booker(session, resident_id)
    check_rules_version(snapshot, shown_rules_version)
    check_eligible(session, snapshot, resident_id)
    store = snapshot.stores.get(store_id)
    by_post = store is not None and store.channel == "postal"
    if by_post:
        resident = postal.check_deliverable(session, rules, resident_id)
    made = book(session, stock, directory, snapshot, booker, store_id, now,
                pickup_slot=pickup_slot, idempotency_key=idempotency_key)
    if by_post and not postal.order_of_booking(session, made["id"]):
        # Sent by post to the holder's address; the same claim and cooldown as a pickup.
        postal.order_for(session, rules, snapshot.id, resident,
                         made["reservation_no"], "postal", booking_id=made["id"])
        session.commit()
    return made


REFILL_BATCH = 8
REBALANCE_EVERY = 0.5  # seconds between one process's rebalances of a window
_rebalanced: dict[int, float] = {}


def _take(session: Session, stock: Stock, window: WindowInfo, store: StoreInfo,
          now: datetime) -> Taken:
    """A unit of the store's share and a slot of its day, refilling the share from the
    spare, and rebalancing shares when the spare is empty too. Answers ``sold_out`` once
    the window is marked so, ``not_loaded`` when Redis lacks this part of the window."""
    for _ in range(6):
        taken = stock.take(window_id=window.id, store_id=store.id,
                           pickup_date=window.pickup_date)
        if taken.status == "share_empty":
            if stock.refill(window.id, store.id, REFILL_BATCH):
                continue
            done = _rebalance(stock, window, wait=True)
            if (done or {}).get("sold_out") or stock.is_sold_out(window.id):
                return Taken("sold_out")
            continue  # units moved to the spare (here or by whoever held the lock)
        if taken.status == "store_full":
            # Either this store's day is full, or the whole window is: a rebalance (at
            # most one per process and window every REBALANCE_EVERY) gives the store's
            # useless share back and marks the window sold out when nothing is left.
            done = _rebalance(stock, window, wait=False, full_store=store.id)
            if (done or {}).get("sold_out") or (done is None and stock.is_sold_out(window.id)):
                return Taken("sold_out")
        return taken
    return Taken("busy")


def _rebalance(stock: Stock, window: WindowInfo, wait: bool,
               full_store: int | None = None) -> dict | None:
    """``stock.rebalance`` under the window's lock; None when skipped (another process
    holds the lock, or this one rebalanced the window a moment ago and ``wait`` is off)."""
    moment = time.monotonic()
    if not wait and moment - _rebalanced.get(window.id, 0.0) < REBALANCE_EVERY:
        return None
    _rebalanced[window.id] = moment
    lock = stock.client.lock(f"wx:lock:rebalance:{window.id}", timeout=30,
                             blocking_timeout=1.0 if wait else 0)
    if not lock.acquire():
        return None
    try:
        return stock.rebalance(window.id, window.closes_at, full_store)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass


def _claim_lost(session: Session, stock: Stock, snapshot: Snapshot, window: WindowInfo,
                booker: Booker) -> Conflict | None:
    """The database refused a second booking that Redis let through: the person's claim
    was lost (a flushed or failed-over shard). Put it back from the row that holds it, and
    say which refusal that row means."""
    held = session.execute(select(Booking.window_id, Booking.seq, Booking.cooldown_until).where(
        Booking.campaign_id == snapshot.id, Booking.person_key == booker.person_key,
        Booking.holds_cooldown).order_by(Booking.id.desc()).limit(1)).first()
    session.rollback()
    if held is None:
        return None
    try:
        stock.load_claims(snapshot.id, [(booker.person_key, *held)])
    except redis.RedisError:
        log.warning("could not restore a lost claim in campaign %s", snapshot.id)
    return _claimed(f"{held.window_id}:{held.seq}", window, snapshot)


def _give_back_claim(stock: Stock, campaign_id: int, person_key: str, value: str,
                     idem: str) -> None:
    try:
        stock.give_back_claim(campaign_id, person_key, value, idem)
    except redis.RedisError:
        # The claim stays until its cooldown ends or reconcile rebuilds claims from the
        # database (which holds no booking for it): the person is refused meanwhile.
        log.exception("could not give back a claim in campaign %s", campaign_id)


def _claimed(detail: str, window: WindowInfo, snapshot: Snapshot) -> Conflict:
    held_window = int(detail.split(":")[0])
    if held_window == window.id:
        return Conflict("already_booked", "您在本时段已预约成功，请勿重复预约")
    days = snapshot.rules.cooldown_days
    return Conflict("cooldown", f"预约成功后{days}天内不能再次预约" if days
                    else "您已有一份预约，暂不能再次预约")


def _refusal(taken: Taken, window: WindowInfo, directory: Directory, snapshot: Snapshot,
             now: datetime) -> Exception:
    if taken.status == "sold_out":
        directory.mark_sold_out(window.id)
        return sold_out()
    if taken.status == "store_full":
        return Conflict("store_full", "该药店今天的口罩已约完，请选择其他药店")
    if taken.status == "window_closed":
        return window_closed(snapshot, now)
    return TooManyRequests("busy", "系统繁忙，请稍后再试", retry_after=1)


def _undo(stock: Stock, snapshot: Snapshot, window: WindowInfo, store: StoreInfo,
          booker: Booker, taken: Taken, claim: str, idem: str,
          error: DBAPIError) -> Exception:
    """Give back what ``claim`` and ``take`` took after the row could not be written."""
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    # A unit or slot the database already holds must not go back into a list (it would
    # be handed out twice); anything else goes back.
    unit = None if constraint == "uq_bookings_window_slot" else taken.unit
    store_slot = None if constraint == "uq_bookings_store_slot" else taken.store_slot
    try:
        stock.release(window_id=window.id, store_id=store.id, pickup_date=window.pickup_date,
                      unit=unit, store_slot=store_slot, quota=window.quota)
    except redis.RedisError:
        log.exception("could not give back a unit of window %s; reconcile will", window.id)
    _give_back_claim(stock, snapshot.id, booker.person_key, claim, idem)
    if constraint == "bookings_cooldown":
        return Conflict("cooldown", "您已有一份预约，暂不能再次预约")
    if isinstance(error, IntegrityError):
        log.warning("booking row refused by %s in window %s", constraint, window.id)
    else:
        log.error("booking row not written in window %s: %s", window.id,
                  error.__class__.__name__)
    return TooManyRequests("busy", "系统繁忙，请稍后再试", retry_after=1)


def ensure_loaded(session: Session, stock: Stock, window_id: int, now: datetime,
                  store_id: int | None = None) -> bool:
    """Load a window into Redis from the database unless another process just did (or,
    with ``store_id``, unless that store's part of it is there).

    Answers whether this call loaded it.
    """
    with stock.client.lock(f"wx:lock:sync:{window_id}", timeout=60, blocking_timeout=30):
        if not stock.is_loaded(window_id) or (
                store_id is not None and not stock.store_loaded(window_id, store_id)):
            row = session.get(Window, window_id)
            # Claims first: the window's hash, written last by sync_window, is what lets
            # bookings through, and none may pass before the claims are back.
            sync_claims(session, stock, row.campaign_id, now)
            sync_window(session, stock, row)
            log.info("window %s loaded into Redis from the database", window_id)
            return True
    return False


def sync_window(session: Session, stock: Stock, window: Window) -> None:
    """Make Redis hold exactly the window's and its store days' free slots per the database."""
    used, tickets = set(), set()
    for slot, seq, holds in session.execute(select(
            Booking.window_slot, Booking.seq, Booking.holds_unit).where(
            Booking.window_id == window.id)):
        tickets.add(seq - window.seq_base)
        if holds:
            used.add(slot)
    stores = {s.id: s.daily_cap for s in session.scalars(
        select(Store).where(Store.campaign_id == window.campaign_id, Store.active))}
    store_used: dict[int, set[int]] = {sid: set() for sid in stores}
    for store_id, slot in session.execute(select(Booking.store_id, Booking.store_slot).where(
            Booking.campaign_id == window.campaign_id, Booking.pickup_date == window.pickup_date,
            Booking.holds_unit)):
        store_used.setdefault(store_id, set()).add(slot)
    stock.load_window(
        window_id=window.id, opens_at=window.opens_at, closes_at=window.closes_at,
        quota=window.quota, used_units=used, used_tickets=tickets,
        store_days={(sid, window.pickup_date): (cap, store_used[sid])
                    for sid, cap in stores.items()},
    )


def sync_claims(session: Session, stock: Stock, campaign_id: int, now: datetime) -> int:
    """Set every claim whose cooldown still runs from the database."""
    rows = session.execute(select(Booking.person_key, Booking.window_id, Booking.seq,
                                  Booking.cooldown_until).where(
        Booking.campaign_id == campaign_id, Booking.holds_cooldown,
        Booking.cooldown_until > now)).all()
    stock.load_claims(campaign_id, [tuple(r) for r in rows])
    return len(rows)


def reconcile(session: Session, stock: Stock, now: datetime) -> dict[str, int]:
    """Rebuild every Redis counter and claim from PostgreSQL (``wx-backend reconcile``)."""
    claims = sum(sync_claims(session, stock, campaign_id, now)
                 for campaign_id in session.scalars(select(Campaign.id)))
    windows = session.scalars(select(Window).where(Window.closes_at > now)).all()
    for window in windows:
        sync_window(session, stock, window)
    stock.mark_reconciled(now.isoformat())
    return {"windows": len(windows), "claims": claims}


def resident_booker(session: Session, resident_id: int, rules: Rules | None = None,
                    vault=None) -> Booker:
    """The Booker for a resident — the person, or their household when the rules limit
    per household — or Conflict ``profile_incomplete``."""
    resident = session.get(Resident, resident_id)
    if resident is None or not resident.profile_complete:
        raise Conflict("profile_incomplete", "请先完成实名登记（姓名、身份证号、手机号）")
    if rules is not None and rules.per == "household":
        if not resident.address:
            raise Conflict("profile_incomplete", "本活动按户限购，请先在实名信息中填写住址")
        if resident.promised_at is None:
            raise Conflict("promise_required",
                           "本活动按户限购，请先承诺信息真实、同一地址只预约一次")
        try:
            return Booker(resident.id, households.household_key(vault, resident.address))
        except InvalidInput as vague:  # the address on file, not this request, falls short
            raise Conflict("profile_incomplete", vague.message, fields=vague.fields) from None
    return Booker(resident.id, resident.id_number_index)


def check_eligible(session: Session, snapshot: Snapshot, resident_id: int) -> None:
    """Refuse residents outside the campaign's districts (when the rules name any)."""
    check_area(session, snapshot.rules, resident_id)


def check_area(session: Session, rules: Rules, resident_id: int) -> None:
    """Refuse a resident whose address lies outside the campaign's area (districts,
    streets or communities), when the rules name one."""
    areas = rules.districts
    if not areas:
        return
    resident = session.get(Resident, resident_id)
    if resident is None or not resident.address:
        raise Conflict("profile_incomplete", "本活动仅限指定区域居民，请先在实名信息中填写住址")
    if not households.in_area(resident.address, areas):
        raise Conflict("not_eligible", "本活动仅限" + "、".join(areas) + "居民参加")


def own_booking(session: Session, resident_id: int, booking_id: int,
                for_update: bool = False) -> Booking:
    """The resident's own booking, or NotFound (also for other residents' bookings)."""
    query = select(Booking).where(Booking.id == booking_id, Booking.resident_id == resident_id)
    if for_update:
        query = query.with_for_update()
    booking = session.scalars(query).first()
    if booking is None:
        raise NotFound("booking_not_found", "预约记录不存在")
    return booking


def cancel(session: Session, stock: Stock, booking: Booking, now: datetime) -> Booking:
    """Cancel a confirmed booking before its pickup ends; the unit and the claim go back.

    The caller has locked the row (``own_booking(for_update=True)``); this commits, then
    returns the unit, so a crash in between only leaves a unit for reconcile to return.
    """
    if booking.status != "confirmed":
        raise Conflict("not_cancellable", {"collected": "已取货的预约不能取消",
                                           "cancelled": "该预约已取消",
                                           "expired": "该预约已过期"}[booking.status])
    if now >= booking.pickup_ends_at:
        raise Conflict("not_cancellable", "取货时间已过，不能取消")
    booking.status = "cancelled"
    booking.cancelled_at = now
    booking.holds_unit = False
    booking.holds_cooldown = False
    session.commit()
    try:
        stock.release(window_id=booking.window_id, store_id=booking.store_id,
                      pickup_date=booking.pickup_date, unit=booking.window_slot,
                      store_slot=booking.store_slot,
                      quota=session.get(Window, booking.window_id).quota)
        stock.drop_claim(booking.campaign_id, booking.person_key, booking.window_id)
    except redis.RedisError:
        log.exception("cancelled booking %s but could not return its unit", booking.id)
    return booking


def expire(session: Session, stock: Stock, now: datetime) -> list[int]:
    """Mark uncollected bookings whose pickup has ended ``expired``; returns their ids.

    Whether an expired booking still blocks its holder is the rules'
    ``expired_keeps_cooldown``; when it does not, the claim is dropped too.
    """
    expired = session.execute(
        update(Booking).where(Booking.status == "confirmed", Booking.pickup_ends_at <= now)
        .values(status="expired", expired_at=now)
        .returning(Booking.id, Booking.campaign_id, Booking.person_key, Booking.window_id,
                   Booking.seq)).all()
    released = []
    rules_by_campaign = {}
    for row in expired:
        if row.campaign_id not in rules_by_campaign:
            rules_by_campaign[row.campaign_id] = rules_in_force(session, row.campaign_id, now)[1]
        if not rules_by_campaign[row.campaign_id].expired_keeps_cooldown:
            released.append(row)
    if released:
        session.execute(update(Booking).where(Booking.id.in_([r.id for r in released]))
                        .values(holds_cooldown=False))
    session.commit()
    for row in released:
        stock.drop_claim(row.campaign_id, row.person_key, row.window_id)
    return [row.id for row in expired]


@dataclass(frozen=True)
class Rekeyed:
    """What ``rekey_households`` did in one campaign."""

    campaign_id: int
    changed: int
    same_household: list[tuple[str, int, int]]  # (kind, row id, row id already holding it)


def rekey_households(session: Session, vault, stock: Stock | None, now: datetime,
                     apply: bool = True) -> list[Rekeyed]:
    """Recompute the household key of every live booking and entry in campaigns limited
    per household, after the way addresses are canonicalised has changed.

    A row whose new key another live row of its campaign already holds is the same
    household registered twice under the old rules: it keeps its old key and is reported
    for the residents' committee, never dropped silently. Redis claims are rebuilt for
    every campaign that changed. With ``apply`` False nothing is written.
    """
    live_entry = Entry.status.in_(("pooled", "won", "pending", "approved", "released"))
    results = []
    for campaign_id in session.scalars(select(Campaign.id).order_by(Campaign.id)):
        if rules_in_force(session, campaign_id, now)[1].per != "household":
            continue
        changed, twice = 0, []
        for kind, model, live in (("booking", Booking, Booking.holds_cooldown),
                                  ("entry", Entry, live_entry)):
            rows = session.execute(
                select(model, Resident.address).join(Resident, Resident.id == model.resident_id)
                .where(model.campaign_id == campaign_id, live).order_by(model.id)).all()
            holders = {row.person_key: row.id for row, _ in rows}
            for row, address in rows:
                try:
                    key = households.household_key(vault, address or "")
                except InvalidInput:
                    continue
                if key == row.person_key:
                    continue
                if key in holders and holders[key] != row.id:
                    twice.append((kind, row.id, holders[key]))
                    continue
                holders.pop(row.person_key, None)
                holders[key] = row.id
                row.person_key = key
                changed += 1
        results.append(Rekeyed(campaign_id, changed, twice))
        if apply:
            session.flush()
            if changed and stock is not None:
                sync_claims(session, stock, campaign_id, now)
    if not apply:
        session.rollback()
    return results


def rename_people(session: Session, stock: Stock | None, renamed: dict[str, str],
                  now: datetime) -> int:
    """Move bookings and entries from old person keys to new ones, after a re-index found
    numbers stored in another form (``identity.residents.reindex``), and rebuild the
    claims of the campaigns concerned. Answers the rows moved; the caller commits."""
    moved, campaigns = 0, set()
    for model in (Booking, Entry):
        for old, new in renamed.items():
            rows = session.scalars(select(model).where(model.person_key == old)).all()
            for row in rows:
                row.person_key = new
                campaigns.add(row.campaign_id)
            moved += len(rows)
    session.flush()
    if stock is not None:
        for campaign_id in sorted(campaigns):
            sync_claims(session, stock, campaign_id, now)
    return moved
