"""``wx-backend residents reindex``: rows stored before identity text was made canonical
(another script's digits, invisible characters) are brought to the one form; a person found
registered twice is listed for the committee, never merged or dropped."""

from __future__ import annotations

from sqlalchemy import select

from tests.worlds import auth, build, residents
from wx_backend.core.pii import INDEX_ID_NUMBER, INDEX_PHONE
from wx_backend.extensions import db, pii
from wx_backend.identity import sessions
from wx_backend.models import Booking, Resident

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _store_as_typed(app, resident_id: int, id_number: str, phone: str | None = None,
                    address: str | None = None) -> None:
    """Write a resident's number the way an older release stored it: as typed, with an
    index of its own."""
    with app.app_context():
        resident = db.session.get(Resident, resident_id)
        resident.id_number = id_number
        resident.id_number_index = pii.vault.blind_index(id_number, INDEX_ID_NUMBER)
        if phone is not None:
            resident.phone = phone
            resident.phone_index = pii.vault.blind_index(phone, INDEX_PHONE)
        if address is not None:
            resident.address = address
        db.session.commit()


def test_reindex_brings_numbers_home_and_lists_people_registered_twice(app, client):
    world = build(app)
    honest, twice, alone, untouched = residents(app, 4)
    # ``twice`` is ``honest``'s card typed again with Arabic-Indic digits: a second person.
    doubled = honest.id_number[:6] + honest.id_number[6:14].translate(ARABIC) \
        + honest.id_number[14:]
    _store_as_typed(app, twice.id, doubled)
    # ``alone`` typed their own card with a zero-width space and their phone in Persian.
    odd_phone = alone.phone[:3] + alone.phone[3:].translate(str.maketrans("0123456789",
                                                                        "۰۱۲۳۴۵۶۷۸۹"))
    _store_as_typed(app, alone.id, alone.id_number[:9] + "\u200b" + alone.id_number[9:],
                    phone=odd_phone, address="郑州市金水区花园路١٠٠号\u2060")
    with app.app_context():
        old_key = db.session.get(Resident, alone.id).id_number_index
    # A booking made under the odd key, before the re-index.
    booked = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                         json={"store_id": world.store_ids[0]}, headers=auth(alone.token))
    assert booked.status_code == 201, booked.json

    dry = app.test_cli_runner().invoke(args=["residents", "reindex", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    with app.app_context():
        assert db.session.get(Resident, alone.id).id_number_index == old_key

    result = app.test_cli_runner().invoke(args=["residents", "reindex"])

    assert result.exit_code == 0, result.output
    assert "1 ID numbers, 1 phones and 1 addresses changed" in result.output
    assert f"same ID number as resident {honest.id}: resident {twice.id}" in result.output
    with app.app_context():
        fixed = db.session.get(Resident, alone.id)
        assert fixed.id_number == alone.id_number and fixed.phone == alone.phone
        assert fixed.address == "郑州市金水区花园路100号"
        assert fixed.id_number_index == pii.vault.blind_index(alone.id_number, INDEX_ID_NUMBER)
        kept = db.session.get(Resident, twice.id)
        assert kept.id_number == doubled and kept.profile_complete  # the committee decides
        assert db.session.get(Resident, untouched.id).id_number == untouched.id_number
        assert db.session.scalars(select(Booking.person_key)).all() == [fixed.id_number_index]
    # Their old session carried the old key: it is over, and a second booking under the
    # new key is refused as the same person's.
    assert client.get("/api/v1/me/profile", headers=auth(alone.token)).status_code == 401
    with app.app_context():
        fresh = sessions.issue(app.extensions["redis"], alone.id, 600,
                               fixed.id_number_index).token
    again = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                        json={"store_id": world.store_ids[1]}, headers=auth(fresh))
    assert again.status_code == 409 and again.json["error"]["code"] == "already_booked"
