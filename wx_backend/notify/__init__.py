"""Notifications: events become deliveries, deliveries are claimed, sent and settled.

An *event* (``booking_confirmed``, ``pickup_reminder``, ``booking_expired``,
``booking_cancelled``, later the draw results) about *subjects* (bookings) becomes one
*delivery* row per channel the resident can be reached on (an ``announcement`` is the
one event whose subject is an announcement; it goes to followers who opted in and to
affected residents who allowed a subscribe message, see ``emit_announcement``):

- ``sms``          always, to the verified phone;
- ``wx_subscribe`` a mini-program subscribe message, when the resident allowed one of this
                   kind (each allowance is used up by one message);
- ``wx_template``  an official-account template message, when the resident follows it.

The row is unique per (event, subject, channel, recipient), so emitting twice creates
nothing new. Sending goes in three steps, each its own short transaction:

1. *reserve* and *claim*: a send job first reserves its due rows (a lease,
   ``NOTIFY_LEASE_SECONDS``, under its token); then, one provider call's worth at a time,
   they become ``sending`` under a fresh batch token with a fresh lease; only the claimer
   goes on with them;
2. *send*: SMS in provider batches (``SmsSender.send_batch``, the batch token travels
   with them), WeChat messages one call each on a small thread pool;
3. *settle*: ``sent``; or ``failed`` with the reason when the provider refuses for good
   (invalid number, user refused, template error); or ``retry`` with the next attempt
   after ``NOTIFY_RETRY_DELAYS`` when the refusal is temporary (rate limit, timeout, 5xx;
   an expired WeChat token is refreshed and retried at once by the client), until the
   delays are used up and it is ``failed`` too.

A worker that dies leaves its reserved rows past their lease: the sweep (every few seconds)
gives them to a new job. Rows it left ``sending`` (handed to a provider, no answer
recorded) are in doubt: the sweep asks the SMS provider which of them it accepted, by phone
and batch token, and settles those as sent; the rest go back to ``retry``. WeChat offers no way
to ask, so a WeChat message whose call was cut off is settled ``failed`` as "in doubt"
rather than risk sending it twice; ``wx-backend jobs retry`` resends it if an operator
decides so. What failed is listed by ``wx-backend jobs failed``.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import redis
import requests
from flask import current_app
from sqlalchemy import BigInteger, bindparam, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert
from wechatpy.exceptions import WeChatClientException

from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.models import CHANNELS, Booking, Campaign, Delivery, Entry, Resident, Store, SubscribeConsent
from wx_backend.notify import texts
from wx_backend.sms import SmsMessage, SmsSendError, sender
from wx_backend.sms.templates import placeholders, render_text

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")
BOOKING_EVENTS = ("booking_confirmed", "pickup_reminder", "booking_expired",
                  "booking_cancelled", "delivery_switched")
# Events whose subjects are lottery entries (the same columns a booking has for this).
ENTRY_EVENTS = ("draw_won", "voucher_released")
WECHAT_BATCH = 50
# Provider calls one send job makes: fewer, larger jobs spend less on forking work horses
# and connecting, while each call is still claimed on its own.
CALLS_PER_JOB = 5

# WeChat error codes that will not get better by trying again.
WECHAT_GIVE_UP = {
    40003: "invalid openid",
    40036: "invalid template id size",
    40037: "invalid template id",
    43004: "the user does not follow the account",
    43101: "the user refused subscribe messages",
    47003: "template data invalid",
    41028: "invalid form id",
    48001: "api unauthorized",
}


# -- events -------------------------------------------------------------------------------

# One row per booking and reachable channel, in one statement each (10,000 bookings after a
# window closes are a few hundred milliseconds, not ten thousand round trips).
EMIT_SMS = """
INSERT INTO deliveries (event, subject_id, campaign_id, resident_id, channel, recipient,
                        next_attempt_at)
SELECT :event, b.id, b.campaign_id, b.resident_id, 'sms', r.phone_index, :now
FROM {subjects} b JOIN residents r ON r.id = b.resident_id
WHERE b.id = ANY(:ids) AND r.phone_index IS NOT NULL
ORDER BY b.id
ON CONFLICT ON CONSTRAINT uq_deliveries_once DO NOTHING
RETURNING id
"""
EMIT_TEMPLATE = """
INSERT INTO deliveries (event, subject_id, campaign_id, resident_id, channel, recipient,
                        next_attempt_at)
SELECT DISTINCT ON (b.id) :event, b.id, b.campaign_id, b.resident_id, 'wx_template',
       f.openid, :now
FROM {subjects} b JOIN followers f ON f.resident_id = b.resident_id AND f.subscribed
WHERE b.id = ANY(:ids)
ORDER BY b.id, f.subscribed_at DESC NULLS LAST
ON CONFLICT ON CONSTRAINT uq_deliveries_once DO NOTHING
RETURNING id
"""

def wechat_template_id(kind: str, event: str) -> str | None:
    """The configured WeChat template for ``event`` (``kind``: subscribe or template)."""
    name = "WECHAT_SUBSCRIBE_TEMPLATES" if kind == "subscribe" else "WECHAT_TEMPLATE_IDS"
    return _json_setting(name).get(event) or None


def _json_setting(name: str) -> dict:
    cache = current_app.extensions.setdefault("notify_settings", {})
    if name not in cache:
        raw = current_app.config.get(name) or "{}"
        value = json.loads(raw) if isinstance(raw, str) else dict(raw)
        cache[name] = value
    return cache[name]


def emit(event: str, subject_ids: Iterable[int]) -> list[int]:
    """Create the deliveries of ``event`` for these bookings; answers the new rows' ids.

    Safe to call twice: rows that exist are left alone and a subscribe allowance is used
    only by the row it created.
    """
    if event not in BOOKING_EVENTS + ENTRY_EVENTS:
        raise ValueError(f"unknown booking or entry event {event!r}")
    ids = sorted(set(int(i) for i in subject_ids))
    if not ids:
        return []
    subject = Entry if event in ENTRY_EVENTS else Booking
    table = subject.__tablename__
    session = db.session
    now = clock.now()
    values = {"event": event, "ids": ids, "now": now}
    created: list[int] = list(session.execute(text(EMIT_SMS.format(subjects=table)),
                                              values).scalars())
    if wechat_template_id("template", event):
        created += session.execute(text(EMIT_TEMPLATE.format(subjects=table)), values).scalars()
    if wechat_template_id("subscribe", event):
        rows = session.execute(
            select(subject.id, subject.campaign_id, subject.resident_id, Resident.openid)
            .join(Resident, Resident.id == subject.resident_id)
            .join(SubscribeConsent, (SubscribeConsent.resident_id == subject.resident_id)
                  & (SubscribeConsent.event == event) & (SubscribeConsent.remaining > 0))
            .where(subject.id.in_(ids))).all()
        created += _emit_subscribe(event, rows, now)
    session.commit()
    return created


def _emit_subscribe(event: str, rows: Sequence, now: datetime) -> list[int]:
    """Subscribe-message rows, each using up one of the resident's allowances."""
    session = db.session
    allowances = dict(session.execute(
        select(SubscribeConsent.resident_id, SubscribeConsent.remaining)
        .where(SubscribeConsent.event == event,
               SubscribeConsent.resident_id.in_({r.resident_id for r in rows}),
               SubscribeConsent.remaining > 0)
        .with_for_update()).all())
    wanted = []
    for row in rows:
        if allowances.get(row.resident_id, 0) > 0:
            allowances[row.resident_id] -= 1
            wanted.append({"event": event, "subject_id": row.id,
                           "campaign_id": row.campaign_id, "resident_id": row.resident_id,
                           "channel": "wx_subscribe", "recipient": row.openid,
                           "next_attempt_at": now})
    if not wanted:
        return []
    made = session.execute(
        insert(Delivery).values(wanted).on_conflict_do_nothing()
        .returning(Delivery.id, Delivery.resident_id)).all()
    used: dict[int, int] = defaultdict(int)
    for row in made:
        used[row.resident_id] += 1
    if used:
        table = SubscribeConsent.__table__
        session.execute(
            table.update()
            .where(table.c.event == event, table.c.resident_id == bindparam("r_id"))
            .values(remaining=table.c.remaining - bindparam("r_used"), updated_at=now),
            [{"r_id": rid, "r_used": count} for rid, count in used.items()])
    return [row.id for row in made]


EMIT_FOLLOWERS = """
INSERT INTO deliveries (event, subject_id, campaign_id, resident_id, channel, recipient,
                        next_attempt_at)
SELECT 'announcement', :subject, :campaign, f.resident_id, 'wx_template', f.openid, :now
FROM followers f WHERE f.subscribed AND f.wants_announcements
ON CONFLICT ON CONSTRAINT uq_deliveries_once DO NOTHING
RETURNING id
"""


def emit_announcement(announcement_id: int) -> list[int]:
    """Deliveries of an announcement: a template message to every follower who opted in,
    a subscribe message to every affected resident who allowed one. Safe to call twice."""
    from wx_backend.models import Announcement
    from wx_backend.official_account.announcements import affected_residents

    session = db.session
    announcement = session.get(Announcement, announcement_id)
    if announcement is None or not announcement.push:
        return []
    now = clock.now()
    created: list[int] = []
    if wechat_template_id("template", "announcement"):
        created += session.execute(text(EMIT_FOLLOWERS), {
            "subject": announcement.id, "campaign": announcement.campaign_id,
            "now": now}).scalars()
    if wechat_template_id("subscribe", "announcement"):
        rows = session.execute(
            select(literal(announcement.id).label("id"),
                   literal(announcement.campaign_id, BigInteger).label("campaign_id"),
                   Resident.id.label("resident_id"), Resident.openid)
            .join(SubscribeConsent, (SubscribeConsent.resident_id == Resident.id)
                  & (SubscribeConsent.event == "announcement")
                  & (SubscribeConsent.remaining > 0))
            .where(Resident.id.in_(affected_residents(announcement)))).all()
        created += _emit_subscribe("announcement", rows, now)
    announcement.pushed_at = now
    session.commit()
    return created


def confirm_recent(within: timedelta, older_than: timedelta = timedelta(0)) -> list[int]:
    """Emit ``booking_confirmed`` for bookings made in the last ``within`` (and at least
    ``older_than`` ago) that have none yet.

    Measured by the database's clock, which stamped ``created_at``.
    """
    session = db.session
    query = (select(Booking.id)
             .where(Booking.created_at >= func.now() - within,
                    Booking.created_at <= func.now() - older_than,
                    Booking.status == "confirmed",
                    ~select(Delivery.id).where(Delivery.event == "booking_confirmed",
                                               Delivery.subject_id == Booking.id)
                    .exists())
             .order_by(Booking.id))
    ids = session.scalars(query).all()
    session.rollback()
    return emit("booking_confirmed", ids)


# -- rendering ----------------------------------------------------------------------------

@dataclass
class Subject:
    """What one booking's messages need: the parameters and where to send them."""

    params: dict[str, str]
    phone: str | None
    settings: dict


def _when(moment: datetime) -> str:
    local = moment.astimezone(BEIJING)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def booking_subjects(ids: Iterable[int]) -> dict[int, Subject]:
    """Parameters of the bookings' messages, keyed by booking id."""
    found = db.session.execute(
        select(Booking.id, Booking.reservation_no, Booking.pickup_code,
               Booking.pickup_starts_at, Booking.pickup_ends_at, Store.name.label("store"),
               Store.address.label("store_address"), Campaign.name.label("campaign"),
               Campaign.notify_settings, Resident.phone)
        .join(Store, Store.id == Booking.store_id)
        .join(Campaign, Campaign.id == Booking.campaign_id)
        .join(Resident, Resident.id == Booking.resident_id)
        .where(Booking.id.in_(list(ids)))).all()
    subjects = {}
    for row in found:
        end = row.pickup_ends_at.astimezone(BEIJING)
        start = row.pickup_starts_at.astimezone(BEIJING)
        window = (f"{start.month}月{start.day}日{start:%H:%M}-{end:%H:%M}"
                  if start.date() == end.date() else f"{_when(start)}至{_when(end)}")
        subjects[row.id] = Subject(
            params={"campaign": row.campaign, "store": row.store,
                    "store_address": row.store_address, "reservation": row.reservation_no,
                    "pickup_code": row.pickup_code, "pickup_window": window,
                    "pickup_end": _when(end)},
            phone=row.phone, settings=row.notify_settings or {})
    return subjects


def announcement_subjects(ids: Iterable[int]) -> dict[int, Subject]:
    """Parameters of the announcements' messages, keyed by announcement id."""
    from wx_backend.models import Announcement
    from wx_backend.official_account.announcements import push_params

    return {a.id: Subject(params=push_params(db.session, a), phone=None, settings={})
            for a in db.session.scalars(select(Announcement)
                                        .where(Announcement.id.in_(list(ids))))}


def entry_subjects(ids: Iterable[int]) -> dict[int, Subject]:
    """Parameters of lottery entries' messages, keyed by entry id."""
    found = db.session.execute(
        select(Entry.id, Entry.reservation_no, Entry.claim_deadline, Entry.voucher_code,
               Store.name.label("store"),
               Campaign.name.label("campaign"), Campaign.notify_settings, Resident.phone)
        .join(Campaign, Campaign.id == Entry.campaign_id)
        .join(Resident, Resident.id == Entry.resident_id)
        .outerjoin(Store, Store.id == Entry.store_id)
        .where(Entry.id.in_(list(ids)))).all()
    return {row.id: Subject(
        params={"campaign": row.campaign, "reservation": row.reservation_no,
                "deadline": _when(row.claim_deadline) if row.claim_deadline else "",
                "store": row.store or "", "voucher": row.voucher_code or ""},
        phone=row.phone, settings=row.notify_settings or {}) for row in found}


SUBJECT_KINDS = {"booking": booking_subjects, "entry": entry_subjects,
                 "announcement": announcement_subjects}


def _kind(event: str) -> str:
    if event == "announcement":
        return "announcement"
    return "entry" if event in ENTRY_EVENTS else "booking"


def subjects_of(rows: Sequence) -> dict[tuple[str, int], Subject]:
    """What the rows' messages need, keyed by (event, subject id)."""
    wanted: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in rows:
        wanted[_kind(row.event)][row.subject_id].add(row.event)
    found: dict[tuple[str, int], Subject] = {}
    for kind, events in wanted.items():
        for subject_id, subject in SUBJECT_KINDS[kind](events).items():
            for event in events[subject_id]:
                found[(event, subject_id)] = subject
    return found


def _page(event: str) -> str:
    return {"announcement": "pages/announcements/index",
            "entry": "pages/entries/index"}.get(_kind(event), "pages/bookings/index")


# -- claiming and settling ----------------------------------------------------------------

def _lease() -> timedelta:
    return timedelta(seconds=current_app.config["NOTIFY_LEASE_SECONDS"])


def retry_delays() -> list[float]:
    """Seconds to wait before the 2nd, 3rd, … attempt; its length + 1 is the last attempt."""
    raw = current_app.config["NOTIFY_RETRY_DELAYS"]
    return [float(part) for part in str(raw).split(",") if part.strip()]


def reserve(ids: Sequence[int], now: datetime) -> tuple[str, list[int]]:
    """Reserve the due, unsettled, unreserved ones of ``ids`` for this job.

    A reservation is a lease without sending anything yet: if the job dies, the sweep
    gives its rows to a new job once the lease lapses, with no need to ask anyone.
    """
    token = secrets.token_hex(8)
    reserved = db.session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(list(ids)), Delivery.status.in_(("queued", "retry")),
               Delivery.next_attempt_at <= now,
               Delivery.claimed_until.is_(None) | (Delivery.claimed_until < now))
        .values(batch=token, claimed_until=now + _lease())
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)).all()
    db.session.commit()
    return token, sorted(reserved)


def claim(ids: Sequence[int], now: datetime, reservation: str) -> tuple[str, list]:
    """Take reserved rows for one provider call; answers the call's token and the rows."""
    token = secrets.token_hex(8)
    rows = db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(ids)), Delivery.status.in_(("queued", "retry")),
               Delivery.batch == reservation)
        .values(status="sending", batch=token, claimed_at=now,
                claimed_until=now + _lease(), attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.event, Delivery.subject_id, Delivery.channel,
                   Delivery.recipient, Delivery.attempts)
        .execution_options(synchronize_session=False)).all()
    db.session.commit()
    return token, sorted(rows, key=lambda r: r.id)


@dataclass
class Outcome:
    """How one claimed delivery ended."""

    id: int
    ok: bool
    provider: str | None = None
    message_id: str | None = None
    error: str | None = None
    retryable: bool = False


def settle(token: str, rows: Sequence, outcomes: Sequence[Outcome], now: datetime) -> list[int]:
    """Write the outcomes of a claimed batch; answers the ids to try again later."""
    attempts = {row.id: row.attempts for row in rows}
    delays = retry_delays()
    params, again = [], []
    for outcome in outcomes:
        tried = attempts[outcome.id]
        entry = {"d_id": outcome.id, "d_batch": token, "status": "sent", "provider":
                 outcome.provider, "message_id": outcome.message_id, "error": None,
                 "sent_at": None, "failed_at": None, "next_at": now}
        if outcome.ok:
            entry["sent_at"] = now
        elif outcome.retryable and tried <= len(delays):
            entry.update(status="retry", error=outcome.error,
                         next_at=now + timedelta(seconds=delays[tried - 1]))
            again.append(outcome.id)
        else:
            reason = outcome.error or "refused"
            if outcome.retryable:
                reason = f"gave up after {tried} attempts: {reason}"
            entry.update(status="failed", error=reason, failed_at=now)
        params.append(entry)
    if params:
        table = Delivery.__table__
        db.session.execute(
            table.update()
            .where(table.c.id == bindparam("d_id"), table.c.batch == bindparam("d_batch"),
                   table.c.status == "sending")
            .values(status=bindparam("status"), provider=bindparam("provider"),
                    provider_message_id=bindparam("message_id"),
                    last_error=bindparam("error"), sent_at=bindparam("sent_at"),
                    failed_at=bindparam("failed_at"), next_attempt_at=bindparam("next_at"),
                    claimed_until=None),
            params)
        db.session.commit()
    return again


# -- sending ------------------------------------------------------------------------------

def deliver(ids: Sequence[int], now: datetime | None = None) -> dict[str, int]:
    """Claim, send and settle these deliveries; schedules a retry for temporary refusals.

    Answers counts by outcome (``sent``, ``failed``, ``retry``, ``skipped`` — not due or
    already claimed by someone else).
    """
    counts = {"sent": 0, "failed": 0, "retry": 0, "skipped": 0}
    reservation, reserved = reserve(ids, now or clock.now())
    counts["skipped"] = len(set(ids)) - len(reserved)
    channels = dict(db.session.execute(
        select(Delivery.id, Delivery.channel).where(Delivery.id.in_(reserved))).all())
    db.session.rollback()
    # One provider call's worth at a time, each claimed only when its turn comes: a sender
    # that dies leaves in doubt only the messages of the call it was in.
    for channel in CHANNELS:
        members = sorted(i for i, c in channels.items() if c == channel)
        step = sender().max_batch if channel == "sms" else WECHAT_BATCH
        for start in range(0, len(members), step):
            chunk = members[start:start + step]
            token, rows = claim(chunk, now or clock.now(), reservation)
            counts["skipped"] += len(chunk) - len(rows)
            if not rows:
                continue
            subjects = subjects_of(rows)
            if channel == "sms":
                outcomes = _send_sms(token, rows, subjects)
            else:
                outcomes = _send_wechat(channel, rows, subjects)
            again = settle(token, rows, outcomes, clock.now())
            for outcome in outcomes:
                counts["sent" if outcome.ok else "retry" if outcome.id in again
                       else "failed"] += 1
            if again:
                schedule_retry(again)
    return counts


def _sms_message(token: str, row, subject: Subject | None) -> SmsMessage | Outcome:
    if subject is None or not subject.phone:
        return Outcome(row.id, ok=False, error="the booking or its phone number is gone")
    wording = texts.wording(row.event, subject.settings)
    try:
        body = render_text(wording.sms, subject.params)
    except ValueError as error:
        return Outcome(row.id, ok=False, error=str(error))
    params = {name: subject.params[name] for name in placeholders(wording.sms)}
    return SmsMessage(key=str(row.id), batch=token, phone=subject.phone, template=row.event,
                      params=params, text=body, provider_template=wording.sms_template_code)


def _send_sms(token: str, rows: Sequence, subjects: dict[tuple, Subject]) -> list[Outcome]:
    backend = sender()
    outcomes: list[Outcome] = []
    messages: list[SmsMessage] = []
    for row in rows:
        built = _sms_message(token, row, subjects.get((row.event, row.subject_id)))
        (outcomes if isinstance(built, Outcome) else messages).append(built)
    for chunk in _provider_batches(messages, backend.max_batch):
        try:
            results = backend.send_batch(chunk)
        except SmsSendError as error:
            outcomes += [Outcome(int(m.key), ok=False, error=error.reason,
                                 retryable=error.retryable) for m in chunk]
            continue
        except Exception as error:  # noqa: BLE001 - a provider SDK's own surprise
            log.exception("SMS provider %s failed unexpectedly", backend.name)
            outcomes += [Outcome(int(m.key), ok=False, retryable=True,
                                 error=f"provider error: {error.__class__.__name__}")
                         for m in chunk]
            continue
        outcomes += [Outcome(int(r.key), ok=r.ok, provider=backend.name,
                             message_id=r.message_id, error=r.error, retryable=r.retryable)
                     for r in results]
    return outcomes


def _provider_batches(messages: Sequence[SmsMessage], size: int) -> list[list[SmsMessage]]:
    """Batches of at most ``size`` with no phone twice in one (the batch token finds it)."""
    batches: list[list[SmsMessage]] = []
    phones: list[set[str]] = []
    for message in messages:
        for batch, seen in zip(batches, phones):
            if len(batch) < size and message.phone not in seen:
                batch.append(message)
                seen.add(message.phone)
                break
        else:
            batches.append([message])
            phones.append({message.phone})
    return batches


def _send_wechat(channel: str, rows: Sequence, subjects: dict[tuple, Subject]) -> list[Outcome]:
    from wx_backend.core.wechat import miniprogram_client, official_account_client

    kind = "subscribe" if channel == "wx_subscribe" else "template"
    client = miniprogram_client() if kind == "subscribe" else official_account_client()
    mini_appid = current_app.config["WECHAT_MINIPROGRAM_APPID"]

    def one(row) -> Outcome:
        subject = subjects.get((row.event, row.subject_id))
        template_id = wechat_template_id(kind, row.event)
        if subject is None or not template_id:
            return Outcome(row.id, ok=False, error="the booking or its template is gone")
        event = texts.EVENTS[row.event]
        title = texts.wording(row.event, subject.settings).title
        try:
            if kind == "subscribe":
                client.wxa.send_subscribe_message(
                    row.recipient, template_id,
                    texts.wechat_data(event.subscribe_fields, subject.params),
                    page=_page(row.event))
                message_id = None
            else:
                answer = client.message.send_template(
                    row.recipient, template_id,
                    texts.wechat_data(event.template_fields, subject.params, title),
                    mini_program={"appid": mini_appid, "pagepath": _page(row.event)})
                message_id = str(answer.get("msgid", "")) or None
        except WeChatClientException as error:
            code = error.errcode
            if code in WECHAT_GIVE_UP:
                return Outcome(row.id, ok=False, provider="wechat",
                               error=f"{code} {WECHAT_GIVE_UP[code]}")
            return Outcome(row.id, ok=False, provider="wechat", retryable=True,
                           error=f"{code} {error.errmsg}")
        except requests.RequestException as error:
            return Outcome(row.id, ok=False, provider="wechat", retryable=True,
                           error=f"WeChat unreachable: {error.__class__.__name__}")
        return Outcome(row.id, ok=True, provider="wechat", message_id=message_id)

    threads = current_app.config["NOTIFY_WECHAT_THREADS"]
    if len(rows) == 1 or threads <= 1:
        return [one(row) for row in rows]
    with ThreadPoolExecutor(max_workers=min(threads, len(rows))) as pool:
        return list(pool.map(one, rows))


# -- dispatching, retrying, sweeping --------------------------------------------------------

def dispatch(ids: Sequence[int]) -> int:
    """Enqueue send jobs for these deliveries, in provider-sized chunks; answers how many."""
    from wx_backend import jobs
    from wx_backend.jobs import tasks

    if not ids:
        return 0
    channels = dict(db.session.execute(
        select(Delivery.id, Delivery.channel).where(Delivery.id.in_(list(ids)))).all())
    db.session.rollback()
    size = {"sms": sender().max_batch * CALLS_PER_JOB}
    grouped: dict[str, list[int]] = defaultdict(list)
    for delivery_id in sorted(channels):
        grouped[channels[delivery_id]].append(delivery_id)
    count = 0
    for channel, members in grouped.items():
        step = size.get(channel, WECHAT_BATCH * CALLS_PER_JOB)
        for start in range(0, len(members), step):
            jobs.enqueue(tasks.send_deliveries, members[start:start + step])
            count += 1
    return count


def announce(event: str, subject_ids: Iterable[int]) -> list[int]:
    """Emit ``event`` and enqueue its sending; answers the new deliveries' ids.

    The rows are written first; if the queue cannot be reached they wait for the sweep.
    """
    created = emit(event, subject_ids)
    try:
        dispatch(created)
    except redis.RedisError:
        log.warning("queue unreachable: %d %s deliveries wait for the sweep",
                    len(created), event)
    return created


def schedule_retry(ids: Sequence[int]) -> None:
    """Enqueue a job for when the earliest of these deliveries is due again."""
    from wx_backend import jobs
    from wx_backend.jobs import tasks

    due = db.session.scalar(select(text("min(next_attempt_at)")).select_from(Delivery)
                            .where(Delivery.id.in_(list(ids))))
    db.session.rollback()
    if due is None:
        return
    jobs.enqueue(tasks.send_deliveries, sorted(ids), at=clock.to_real(due))


def nudge(client: redis.Redis, pause_ms: int = 500) -> bool:
    """After a booking: have confirmations sent soon, by at most one job per ``pause_ms``.

    Answers whether this call enqueued the job. Never raises for Redis trouble: the sweep
    sends what a lost nudge would have.
    """
    from wx_backend import jobs
    from wx_backend.jobs import tasks

    try:
        if not client.set("wx:notify:nudge", "1", nx=True, px=pause_ms):
            return False
        jobs.enqueue(tasks.send_confirmations)
        return True
    except redis.RedisError:
        log.warning("could not nudge the notification worker; the sweep will send")
        return False


def resolve_in_doubt(now: datetime) -> dict[str, int]:
    """Settle deliveries whose sender died mid-call (``sending`` past their lease)."""
    rows = db.session.execute(
        select(Delivery.id, Delivery.event, Delivery.subject_id, Delivery.channel,
               Delivery.recipient, Delivery.attempts, Delivery.batch, Delivery.claimed_at)
        .where(Delivery.status == "sending", Delivery.claimed_until < now)
        .order_by(Delivery.id).limit(5000).with_for_update(skip_locked=True)).all()
    counts = {"accepted": 0, "resend": 0, "in_doubt": 0}
    if not rows:
        db.session.rollback()
        return counts
    sms = [row for row in rows if row.channel == "sms"]
    accepted: dict[str, str] = {}
    if sms:
        subjects = subjects_of(sms)
        messages = [m for m in (_sms_message(row.batch, row,
                                             subjects.get((row.event, row.subject_id)))
                                for row in sms) if isinstance(m, SmsMessage)]
        try:
            accepted = sender().accepted(messages, min(row.claimed_at for row in sms)
                                         - timedelta(minutes=1))
        except SmsSendError as error:
            log.warning("cannot ask the SMS provider about %d messages yet: %s",
                        len(messages), error.reason)
            db.session.rollback()
            return counts
    table = Delivery.__table__
    updates = []
    for row in rows:
        base = {"d_id": row.id, "d_batch": row.batch, "next_at": now, "sent_at": None,
                "failed_at": None, "message_id": None, "error": None}
        if row.channel == "sms" and str(row.id) in accepted:
            updates.append({**base, "status": "sent", "sent_at": now,
                            "message_id": accepted[str(row.id)]})
            counts["accepted"] += 1
        elif row.channel == "sms":
            updates.append({**base, "status": "retry",
                            "error": "sender stopped mid-call; the provider had not accepted it"})
            counts["resend"] += 1
        else:
            updates.append({**base, "status": "failed", "failed_at": now,
                            "error": "in doubt: the sender stopped during the WeChat call and "
                                     "WeChat cannot be asked whether it arrived"})
            counts["in_doubt"] += 1
    db.session.execute(
        table.update()
        .where(table.c.id == bindparam("d_id"), table.c.batch == bindparam("d_batch"),
               table.c.status == "sending")
        .values(status=bindparam("status"), next_attempt_at=bindparam("next_at"),
                sent_at=bindparam("sent_at"), failed_at=bindparam("failed_at"),
                provider_message_id=bindparam("message_id"), last_error=bindparam("error"),
                claimed_until=None),
        updates)
    db.session.commit()
    resend = [u["d_id"] for u in updates if u["status"] == "retry"]
    if resend:
        dispatch(resend)
    return counts


def stalled(now: datetime, grace: timedelta) -> list[int]:
    """Unsent deliveries whose job was lost: reserved by a job whose lease lapsed, or due
    for longer than ``grace`` without any job reserving them."""
    ids = db.session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(
            select(Delivery.id)
            .where(Delivery.status.in_(("queued", "retry")),
                   (Delivery.claimed_until < now)
                   | (Delivery.claimed_until.is_(None)
                      & (Delivery.next_attempt_at < now - grace)))
            .order_by(Delivery.id).limit(20000)
            .with_for_update(skip_locked=True)))
        # Due from now on: a backlog that is merely slow is sent again at most once per
        # grace period, not at every sweep.
        .values(next_attempt_at=now, claimed_until=None)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)).all()
    db.session.commit()
    return sorted(ids)


def sweep(now: datetime | None = None) -> dict[str, int]:
    """The safety net, run every few seconds: confirmations nobody emitted, deliveries
    nobody sent, and senders that died mid-call."""
    now = now or clock.now()
    grace = timedelta(seconds=current_app.config["NOTIFY_STALL_SECONDS"])
    created = confirm_recent(timedelta(days=2), timedelta(seconds=5))
    doubt = resolve_in_doubt(now)
    lost = stalled(now, grace)
    jobs = dispatch(sorted(set(created) | set(lost)))
    return {"emitted": len(created), "restarted": len(lost), "jobs": jobs, **doubt}
