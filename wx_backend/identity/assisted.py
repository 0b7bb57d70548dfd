"""Help for people without phones: community staff register a resident and book or enter
for them — under the same rules and limits as everyone (the same domain functions), within
their own district only, and every step recorded in ``assisted_actions``.

A resident registered this way has no WeChat account: their openid is ``assisted:<random>``
and their phone (their own, or a family member's) receives the SMS like anyone's. Staff
check the ID card in person, which stands in for the SMS code of the online profile.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wx_backend import jobs
from wx_backend.booking import first_come
from wx_backend.core import regions
from wx_backend.core.after_commit import after_commit
from wx_backend.core.errors import Forbidden, InvalidInput, NotFound
from wx_backend.core.pii import PiiVault
from wx_backend.identity import residents
from wx_backend.identity.accounts import audit
from wx_backend.lottery import pool
from wx_backend.models import AssistedAction, CommunityStaff, Entry, Resident


def record(session: Session, staff: CommunityStaff, resident_id: int, action: str,
           detail: dict | None = None) -> None:
    """Add a line to the audit trail (the caller commits it with the action itself)."""
    session.add(AssistedAction(staff_id=staff.id, resident_id=resident_id, action=action,
                               detail={"staff": staff.username, **(detail or {})}))


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("invalid_profile", f"请填写{name}", fields={name: "必填"})
    return value


def in_scope(staff: CommunityStaff, district_code: str | None) -> bool:
    """True when a resident of ``district_code`` is in the staff's scope: a comparison of
    region codes (``core.regions.covers``), never of the address's text."""
    return regions.covers(staff.district_code, district_code)


def default_district(staff: CommunityStaff) -> str | None:
    """The district a registration is in when the staff's scope is exactly one district."""
    found = regions.region(staff.district_code)
    return found.code if found is not None and found.level == "district" else None


def register(session: Session, vault: PiiVault, staff: CommunityStaff, data: dict,
             now: datetime) -> Resident:
    """Register a resident of the staff's district with a verified profile; the district
    is chosen from the list (``district_code``), or is the staff's own when that is one
    district."""
    id_number = residents.normalise_id_number(_text(data, "id_number"))
    profile = residents.ProfileInput(
        name=residents.normalise_name(_text(data, "name")),
        id_number=id_number,
        id_kind=residents.check_id_kind(id_number, data.get("id_kind")),
        phone=residents.normalise_phone(_text(data, "phone")),
        address=residents.normalise_address(_text(data, "address")),
        promise=data.get("promise") is True,
        district_code=residents.read_district(data.get("district_code")
                                              or default_district(staff)))
    if not in_scope(staff, profile.district_code):
        raise Forbidden("out_of_district", f"只能为本辖区（{staff.district}）的居民登记",
                        fields={"district_code": "不在本辖区"})
    resident = residents.upsert_resident(session, f"assisted:{secrets.token_hex(12)}", None, now)
    resident = residents.complete_profile(session, vault, resident.id, profile, now)
    record(session, staff, resident.id, "register", {"promise": profile.promise})
    audit(session, "community", staff, "register_resident", f"resident {resident.id}")
    return resident


def resident_in_district(session: Session, staff: CommunityStaff,
                         resident_id: int) -> Resident:
    """A resident this staff member may act for: one living in their district."""
    resident = session.get(Resident, resident_id)
    if resident is None or not resident.profile_complete:
        raise NotFound("resident_not_found", "居民不存在")
    if not in_scope(staff, resident.district_code):
        raise Forbidden("out_of_district", f"该居民不在本辖区（{staff.district}）")
    return resident


def actions_of(session: Session, resident_id: int) -> list[dict]:
    """The audit trail for a resident, oldest first."""
    return [{"action": a.action, "detail": a.detail, "at": a.at.isoformat()}
            for a in session.scalars(select(AssistedAction)
                                     .where(AssistedAction.resident_id == resident_id)
                                     .order_by(AssistedAction.id))]


def book_for(session: Session, stock, directory, vault: PiiVault, staff: CommunityStaff,
             resident_id: int, campaign_id: int, store_id: int, now: datetime,
             pickup_slot: int = 0) -> dict:
    """Book for a resident of the staff's district under every rule and limit (the same
    ``first_come.book_for_resident`` the mini-program uses), in both trails, with the
    confirmation sent once the caller commits: the one call of the console and the API."""
    resident = resident_in_district(session, staff, resident_id)
    made = first_come.book_for_resident(session, stock, directory,
                                        directory.snapshot(session, campaign_id, now), vault,
                                        resident.id, store_id, now, pickup_slot=pickup_slot)
    record(session, staff, resident.id, "book",
           {"campaign_id": campaign_id, "booking_id": made["id"],
            "reservation_no": made["reservation_no"]})
    audit(session, "community", staff, "book_for_resident", f"booking {made['id']}",
          {"resident_id": resident.id})
    after_commit(session, lambda: jobs.enqueue("send_confirmations"))
    return made


def enter_for(session: Session, vault: PiiVault, staff: CommunityStaff, resident_id: int,
              campaign_id: int, now: datetime, store_id: int | None = None) -> Entry:
    """Enter a resident of the staff's district in a draw, or register their household in
    a queue for the pharmacy ``store_id`` (``pool.enter``), in both trails: the one call of
    the console and the API."""
    resident = resident_in_district(session, staff, resident_id)
    entry = pool.enter(session, campaign_id, resident.id, now, vault, store_id=store_id)
    record(session, staff, resident.id, "enter",
           {"campaign_id": campaign_id, "reservation_no": entry.reservation_no})
    audit(session, "community", staff, "enter_for_resident", f"entry {entry.id}")
    return entry
