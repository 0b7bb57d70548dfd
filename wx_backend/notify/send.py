"""Claiming, sending and settling deliveries, and enqueueing the jobs that do it."""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
import requests
from flask import current_app
from sqlalchemy import bindparam, select, text, update
from wechatpy.exceptions import WeChatClientException

from wx_backend import jobs
from wx_backend.core import clock
from wx_backend.core.wechat import miniprogram_client, official_account_client
from wx_backend.extensions import db
from wx_backend.models import CHANNELS, Delivery
from wx_backend.notify import texts
from wx_backend.notify.subjects import Subject, page_of, subjects_of
from wx_backend.sms import SmsMessage, SmsSendError, sender
from wx_backend.sms.templates import placeholders, render_text

log = logging.getLogger(__name__)

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
                   Delivery.recipient, Delivery.attempts, Delivery.campaign_id)
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


def sms_message(token: str, row, subject: Subject | None) -> SmsMessage | Outcome:
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
        built = sms_message(token, row, subjects.get((row.event, row.subject_id)))
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
    kind = "subscribe" if channel == "wx_subscribe" else "template"
    client = miniprogram_client() if kind == "subscribe" else official_account_client()
    mini_appid = current_app.config["WECHAT_MINIPROGRAM_APPID"]
    # Read here, in the app's context: ``one`` runs in pool threads, which have none.
    templates = {event: texts.wechat_template_id(kind, event) for event in {r.event for r in rows}}

    def one(row) -> Outcome:
        subject = subjects.get((row.event, row.subject_id))
        template_id = templates[row.event]
        if subject is None or not template_id:
            return Outcome(row.id, ok=False, error="the booking or its template is gone")
        event = texts.EVENTS[row.event]
        title = texts.wording(row.event, subject.settings).title
        try:
            if kind == "subscribe":
                client.wxa.send_subscribe_message(
                    row.recipient, template_id,
                    texts.wechat_data(event.subscribe_fields, subject.params),
                    page=page_of(row.event, row.subject_id, row.campaign_id))
                message_id = None
            else:
                answer = client.message.send_template(
                    row.recipient, template_id,
                    texts.wechat_data(event.template_fields, subject.params, title),
                    mini_program={"appid": mini_appid,
                                  "pagepath": page_of(row.event, row.subject_id,
                                                      row.campaign_id)})
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


# -- enqueueing ---------------------------------------------------------------------------

def dispatch(ids: Sequence[int]) -> int:
    """Enqueue send jobs for these deliveries, in provider-sized chunks; answers how many."""
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
            jobs.enqueue("send_deliveries", members[start:start + step])
            count += 1
    return count


def schedule_retry(ids: Sequence[int]) -> None:
    """Enqueue a job for when the earliest of these deliveries is due again."""
    due = db.session.scalar(select(text("min(next_attempt_at)")).select_from(Delivery)
                            .where(Delivery.id.in_(list(ids))))
    db.session.rollback()
    if due is None:
        return
    jobs.enqueue("send_deliveries", sorted(ids), at=clock.to_real(due))


_nudged_at = float("-inf")


def nudge(client: redis.Redis, pause_ms: int = 500) -> bool:
    """After a booking: have confirmations sent soon, by at most one job per ``pause_ms``.

    Answers whether this call enqueued the job. Never raises for Redis trouble: the sweep
    sends what a lost nudge would have. A process that nudged within ``pause_ms`` does not
    ask Redis again, so a crowd's bookings cost Redis no extra call each.
    """
    global _nudged_at
    moment = time.monotonic()
    if moment - _nudged_at < pause_ms / 1000:
        return False
    _nudged_at = moment
    try:
        if not client.set("wx:notify:nudge", "1", nx=True, px=pause_ms):
            return False
        jobs.enqueue("send_confirmations")
        return True
    except redis.RedisError:
        log.warning("could not nudge the notification worker; the sweep will send")
        return False
