"""What a delivery's message says about its subject: a booking, a lottery entry or an
announcement, read when the message is sent (nothing personal is copied into deliveries)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from wx_backend.core.clock import BEIJING
from wx_backend.extensions import db
from wx_backend.models import Announcement, Booking, Campaign, Entry, Resident, Store
from wx_backend.notify.texts import ENTRY_EVENTS
from wx_backend.official_account.announcements import push_params

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


def page_of(event: str, subject_id: int, campaign_id: int | None) -> str:
    """The mini-program page a message opens: the booking itself, the draw's or the
    queue's page of its campaign, or the campaign's home with its announcements."""
    campaign = f"?campaign={campaign_id}" if campaign_id else ""
    if event == "announcement":
        return "pages/index/index" + campaign
    if event == "voucher_released":
        return "pages/queue/queue" + campaign
    if _kind(event) == "entry":
        return "pages/lottery/lottery" + campaign
    return f"pages/booking/booking?id={subject_id}"
