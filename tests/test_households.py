"""Households: one address books once (however it is written), only within the campaign's
area, and only after the resident's promise; enforced as atomically as the per-person limit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests.worlds import auth, build, now, residents
from wx_backend.booking.households import canonical_address, in_area
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import load_preset
from wx_backend.core.errors import InvalidInput
from wx_backend.extensions import db
from wx_backend.models import Booking, Resident

HOME = "福建省福州市鼓楼区五四路100号3幢2单元201室"


@pytest.mark.parametrize("written", [
    "福州市鼓楼区五四路100号3栋2单元201", "鼓楼区 五四路 100号 3号楼 2单元 201",
    "鼓楼区五四路100号3-2-201", "鼓楼区五四路100号3栋2-201室",
    "鼓楼区五四路１００号３座２单元２０１"])
def test_one_flat_written_several_ways_is_one_household(written):
    assert canonical_address(written) == canonical_address(HOME)


@pytest.mark.parametrize("other", ["鼓楼区五四路100号3栋2单元202", "鼓楼区五四路100号4栋2单元201",
                                   "台江区八一七中路100号3栋2单元201"])
def test_other_flats_are_other_households(other):
    assert canonical_address(other) != canonical_address(HOME)


@pytest.mark.parametrize("vague", ["鼓楼区五四路", "福州", "", "福州市鼓楼区八一七北路"])
def test_addresses_that_name_no_house_are_refused(vague):
    with pytest.raises(InvalidInput):
        canonical_address(vague)


def test_the_area_is_districts_streets_or_communities():
    assert in_area(HOME, ["鼓楼区"]) and in_area(HOME, ["五四路"])
    assert not in_area(HOME, ["台江区", "仓山区"])
    assert in_area(HOME, [])


def household_world(app):
    rules = load_preset("zhengzhou")
    rules["limit"]["per"] = "household"
    rules["eligibility"] = {"districts": ["鼓楼区", "五四路"]}
    return build(app, rules=rules)


def settle(app, people, addresses, promised=True):
    with app.app_context():
        for person, address in zip(people, addresses):
            resident = db.session.get(Resident, person.id)
            resident.address = address
            resident.promised_at = now() if promised else None
        db.session.commit()


def book(client, world, person):
    return client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                       json={"store_id": world.store_ids[0]}, headers=auth(person.token))


def test_a_second_person_at_the_same_address_is_refused(app, client):
    world = household_world(app)
    first, second, neighbour = residents(app, 3)
    settle(app, [first, second, neighbour],
           [HOME, "鼓楼区五四路100号3-2-201", "鼓楼区五四路100号3栋2单元202"])

    assert book(client, world, first).status_code == 201
    refused = book(client, world, second)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "already_booked"
    assert book(client, world, neighbour).status_code == 201
    with app.app_context():
        assert db.session.query(Booking).count() == 2


def test_household_members_booking_at_once_get_one_portion(app):
    world = household_world(app)
    family = residents(app, 6)
    settle(app, family, [HOME] * 6)

    def attempt(person):
        with app.test_client() as parallel:
            return book(parallel, world, person).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(attempt, family))

    assert codes.count(201) == 1 and codes.count(409) == 5
    with app.app_context():
        assert db.session.query(Booking).count() == 1


def test_addresses_outside_the_area_unpromised_or_vague_are_refused(app, client):
    world = household_world(app)
    outside, unpromised, vague, missing = residents(app, 4)
    settle(app, [outside], ["福州市台江区八一七路200号1栋101"])
    settle(app, [unpromised], [HOME], promised=False)
    settle(app, [vague], ["福州市鼓楼区五四路"])

    assert book(client, world, outside).json["error"]["code"] == "not_eligible"
    assert book(client, world, unpromised).json["error"]["code"] == "promise_required"
    too_vague = book(client, world, vague)
    # The address on file falls short, not the request: a conflict, sending them to the form.
    assert too_vague.status_code == 409 and "门牌号" in too_vague.json["error"]["message"]
    assert too_vague.json["error"]["code"] == "profile_incomplete"
    assert book(client, world, missing).json["error"]["code"] == "profile_incomplete"
    with app.app_context():
        assert db.session.query(Booking).count() == 0


def test_a_lottery_per_household_takes_one_entry_per_address(app, client):
    rules = load_preset("fuzhou")
    rules["limit"]["per"] = "household"
    with app.app_context():
        campaign = manage.create_campaign(db.session, "fuzhou-households", rules,
                                             now() - timedelta(hours=1), preset="fuzhou")
        db.session.commit()
        campaign_id = campaign.id
    first, second = residents(app, 2)
    settle(app, [first, second], [HOME, "鼓楼区五四路100号3号楼2单元201"])

    entered = client.post(f"/api/v1/campaigns/{campaign_id}/entries", headers=auth(first.token))
    again = client.post(f"/api/v1/campaigns/{campaign_id}/entries", headers=auth(second.token))

    assert entered.status_code == 201
    assert again.status_code == 409 and again.json["error"]["code"] == "already_entered"


def test_the_promise_is_recorded_with_its_time(client):
    from tests.conftest import Residents
    from tests.factories import IdNumbers

    people = Residents(client)
    token = people.login("promiser")
    phone = "13700000009"
    answer = people.put_profile(token, name="林小明", id_number=IdNumbers()(), phone=phone,
                                sms_code=people.code_for(token, phone), address=HOME,
                                promise=True)
    assert answer.status_code == 200, answer.json
    assert answer.json["promised_at"]
    assert people.profile(token).json["promised_at"] == answer.json["promised_at"]
