"""Queue campaigns (the ``shanghai`` preset): households register for a pharmacy, the
residents' committee checks each, and each day's supply releases the next in order.

- ``review``: community staff of the district approve a pending registration, or reject it
  with a reason the resident sees.
- ``release``: a pharmacy enters the units that arrived; that many approved registrations
  for it, lowest reservation number first, get a voucher (a 6-digit code, also as a QR
  code) valid ``queue.voucher_days`` days. Rows are locked with SKIP LOCKED, so two
  releases at once never hand out one registration twice.
- ``redeem``: the pharmacy takes the voucher (code and the holder's ID card), once.
- ``standing``: where a registration stands at its pharmacy (how many approved households
  wait ahead of it, how many vouchers the pharmacy has released, its last batch), for the
  resident's page.
- Vouchers not used by their deadline lapse with lottery wins (``lottery.lapse``).

Plain functions over a SQLAlchemy session; the caller commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wx_backend import jobs
from wx_backend.booking import households
from wx_backend.campaigns.manage import rules_in_force
from wx_backend.core import regions
from wx_backend.core.after_commit import after_commit
from wx_backend.core.canonical import id_tail
from wx_backend.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from wx_backend.identity.accounts import audit
from wx_backend.models import CommunityStaff, Entry, Resident, Staff, Store


def _queue_rules(session: Session, campaign_id: int, now: datetime):
    rules = rules_in_force(session, campaign_id, now)[1]
    if rules.queue is None:
        raise Conflict("not_a_queue", "本活动不是排队登记活动")
    return rules


_LIVE = ("pending", "approved", "released", "redeemed")


@dataclass(frozen=True)
class PendingRegistration:
    """A registration awaiting review, with the district's other live registrations whose
    address is nearly the same (perhaps one household written twice)."""

    entry: Entry
    resident: Resident
    possible_duplicates: list[tuple[Entry, Resident]]


def pending_in_district(session: Session, staff: CommunityStaff,
                        campaign_id: int) -> list[PendingRegistration]:
    """Registrations awaiting review of residents in the staff's district (by region code),
    each with its possible duplicates among the district's live registrations."""
    within = regions.prefix(staff.district_code)
    if within is None:
        return []
    rows = session.execute(
        select(Entry, Resident).join(Resident, Resident.id == Entry.resident_id)
        .where(Entry.campaign_id == campaign_id, Entry.status.in_(_LIVE),
               Resident.district_code.startswith(within, autoescape=True))
        .order_by(Entry.reservation_no)).all()
    mine = {entry.id: (entry, resident) for entry, resident in rows}
    near = households.possible_duplicates(
        {entry_id: resident.address for entry_id, (_, resident) in mine.items()})
    return [PendingRegistration(entry, resident,
                                [mine[other] for other in sorted(near.get(entry.id, []))])
            for entry, resident in mine.values() if entry.status == "pending"]


def review(session: Session, staff: CommunityStaff, entry_id: int, approve: bool,
           reason: str | None, now: datetime) -> Entry:
    """Approve, or reject with a reason, a pending registration of the staff's district."""
    entry = session.scalars(select(Entry).where(Entry.id == entry_id)
                            .with_for_update()).first()
    if entry is None:
        raise NotFound("registration_not_found", "登记不存在")
    _queue_rules(session, entry.campaign_id, now)
    resident = session.get(Resident, entry.resident_id)
    if not regions.covers(staff.district_code, resident.district_code):
        raise Forbidden("out_of_district", f"该登记的地址不在本辖区（{staff.district}）")
    if entry.status != "pending":
        raise Conflict("already_reviewed", "该登记已审核")
    if not approve:
        text = (reason or "").strip() if isinstance(reason, str) else ""
        if not 2 <= len(text) <= 200:
            raise InvalidInput("reason_required", "不通过时请写明原因（2到200字），居民会看到",
                               fields={"reason": "必填"})
        entry.reject_reason = text
    entry.status = "approved" if approve else "rejected"
    entry.reviewed_by = staff.id
    entry.reviewed_at = now
    session.flush()
    audit(session, "community", staff, "review", f"entry {entry.id}",
          {"approve": approve, "reason": entry.reject_reason if not approve else None})
    return entry


def release(session: Session, staff: Staff, units: int, now: datetime) -> list[Entry]:
    """Give vouchers to the next ``units`` approved registrations of the staff's pharmacy,
    in reservation order; audited, and their holders told once the caller commits."""
    if isinstance(units, bool) or not isinstance(units, int) or not 1 <= units <= 100_000:
        raise InvalidInput("invalid_units", "到货数量应为1到100000的整数",
                           fields={"units": "格式不正确"})
    store = session.get(Store, staff.store_id)
    rules = _queue_rules(session, store.campaign_id, now)
    chosen = session.scalars(
        select(Entry).where(Entry.store_id == store.id, Entry.status == "approved")
        .order_by(Entry.reservation_no).limit(units)
        .with_for_update(skip_locked=True)).all()
    deadline = now + timedelta(days=rules.queue.voucher_days)
    for entry in chosen:
        entry.status = "released"
        entry.voucher_code = f"{secrets.randbelow(10**6):06d}"
        entry.released_at = now
        entry.claim_deadline = deadline
    session.flush()
    ids = [entry.id for entry in chosen]
    if ids:  # their holders are told once the release is committed, whoever released
        after_commit(session, lambda: jobs.enqueue("announce", "voucher_released", ids))
        audit(session, "pharmacy", staff, "release_vouchers", f"store {store.id}",
              {"units": units, "released": len(ids)})
    return list(chosen)


def next_in_line(session: Session, staff: Staff, units: int) -> list[Entry]:
    """The approved registrations of the staff's pharmacy that ``units`` would release,
    in order: what a release will do, shown before it is done."""
    return list(session.scalars(
        select(Entry).where(Entry.store_id == staff.store_id, Entry.status == "approved")
        .order_by(Entry.reservation_no).limit(max(0, min(units, 100_000)))))


def progress(session: Session, store_id: int) -> dict[str, int]:
    """A pharmacy's queue by state: ``pending`` (awaiting the committee), ``waiting``
    (approved, no voucher yet), ``released`` (vouchers out, not used), ``redeemed``."""
    counts = dict(session.execute(select(Entry.status, func.count()).where(
        Entry.store_id == store_id).group_by(Entry.status)).all())
    return {key: counts.get(status, 0) for key, status in (
        ("pending", "pending"), ("waiting", "approved"), ("released", "released"),
        ("redeemed", "redeemed"))}


def redeem(session: Session, staff: Staff, voucher_code: str, id_last4: str,
           now: datetime) -> Entry:
    """Take a voucher at its pharmacy, once, after checking the holder's ID card; audited
    whichever surface it came through."""
    entry = session.scalars(
        select(Entry).where(Entry.store_id == staff.store_id,
                            Entry.voucher_code == voucher_code,
                            Entry.status.in_(("released", "redeemed", "lapsed")))
        .order_by(Entry.released_at.desc()).limit(1).with_for_update()).first()
    if entry is None:
        raise NotFound("voucher_not_found", "本店没有这个凭证码")
    if entry.status == "redeemed":
        raise Conflict("already_redeemed", "该凭证已使用")
    if entry.status == "lapsed" or now > entry.claim_deadline:
        raise Conflict("voucher_expired", "该凭证已过期")
    holder = session.get(Resident, entry.resident_id)
    if holder.id_number[-4:].upper() != id_tail(id_last4):
        raise Forbidden("id_mismatch", "身份证后四位与登记人不符",
                           fields={"id_last4": "与登记人不符"})
    entry.status = "redeemed"
    entry.redeemed_at = now
    session.flush()
    audit(session, "pharmacy", staff, "redeem_voucher", f"entry {entry.id}",
          {"reservation_no": entry.reservation_no})
    return entry


def standing(session: Session, entry: Entry) -> dict:
    """Where a registration stands in its pharmacy's queue: ``ahead`` (approved households
    with a lower reservation number, not yet released) and ``position`` while it is
    approved; for every state, ``waiting`` (approved households not yet released),
    ``released`` (vouchers the pharmacy has given so far) and its last batch."""
    at = Entry.store_id == entry.store_id
    count = select(func.count()).select_from(Entry)
    waiting = session.scalar(count.where(at, Entry.status == "approved"))
    released = session.scalar(count.where(at, Entry.released_at.is_not(None)))
    last = session.scalar(select(func.max(Entry.released_at)).where(at))
    last_units = session.scalar(count.where(at, Entry.released_at == last)) if last else 0
    ahead = None
    if entry.status == "approved":
        ahead = session.scalar(count.where(at, Entry.status == "approved",
                                           Entry.reservation_no < entry.reservation_no))
    return {"position": None if ahead is None else ahead + 1, "ahead": ahead,
            "waiting": waiting, "released": released,
            "last_release_at": last.isoformat() if last else None,
            "last_release_units": last_units}
