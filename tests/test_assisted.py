"""Help for people without phones: community staff register residents of their district and
book or enter for them under every rule and limit, with an audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import IdNumbers
from tests.worlds import auth, build, now
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import load_preset
from wx_backend.extensions import db
from wx_backend.models import AssistedAction, Resident

ADDRESS = "郑州市金水区花园路街道经三路88号2栋1单元302"


@pytest.fixture
def staff(app, client) -> dict:
    runner = app.test_cli_runner()
    for name, district in (("jinshui.1", "金水区"), ("erqi.1", "二七区")):
        done = runner.invoke(args=["community", "create", "--username", name, "--district",
                                   district, "--password", "a long enough password"])
        assert done.exit_code == 0, done.output
    tokens = {}
    for name in ("jinshui.1", "erqi.1"):
        answer = client.post("/api/v1/community/login",
                             json={"username": name, "password": "a long enough password"})
        assert answer.status_code == 200, answer.json
        tokens[name] = auth(answer.json["token"])
    return tokens


def register(client, headers, id_number, address=ADDRESS, phone="13600000001",
             district_code="410105"):
    return client.post("/api/v1/community/residents", headers=headers, json={
        "name": "王大爷", "id_number": id_number, "phone": phone, "address": address,
        "district_code": district_code, "promise": True})


def resident_count(app) -> int:
    with app.app_context():
        return db.session.query(Resident).count()


def test_staff_register_and_book_for_a_resident_under_the_same_limits(app, client, staff):
    world = build(app)
    ids = IdNumbers()
    made = register(client, staff["jinshui.1"], ids())
    assert made.status_code == 201, made.json
    resident_id = made.json["resident_id"]
    assert made.json["profile"]["name"] == "王*爷" and made.json["profile"]["promised_at"]

    url = f"/api/v1/community/residents/{resident_id}/bookings"
    body = {"campaign_id": world.campaign_id, "store_id": world.store_ids[0]}
    booked = client.post(url, headers=staff["jinshui.1"], json=body)
    assert booked.status_code == 201, booked.json
    again = client.post(url, headers=staff["jinshui.1"], json=body)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_booked"

    seen = client.get(f"/api/v1/community/residents/{resident_id}", headers=staff["jinshui.1"])
    assert [b["reservation_no"] for b in seen.json["bookings"]] == [booked.json["reservation_no"]]
    assert [a["action"] for a in seen.json["actions"]] == ["register", "book"]
    assert all(a["detail"]["staff"] == "jinshui.1" for a in seen.json["actions"])


def test_staff_act_only_within_their_district(app, client, staff):
    world = build(app)
    ids = IdNumbers()
    before = resident_count(app)
    outside = register(client, staff["erqi.1"], ids())
    assert outside.status_code == 403 and outside.json["error"]["code"] == "out_of_district"
    assert resident_count(app) == before

    resident_id = register(client, staff["jinshui.1"], ids()).json["resident_id"]
    other = client.post(f"/api/v1/community/residents/{resident_id}/bookings",
                        headers=staff["erqi.1"],
                        json={"campaign_id": world.campaign_id, "store_id": world.store_ids[0]})
    assert other.status_code == 403
    assert client.get(f"/api/v1/community/residents/{resident_id}",
                      headers=staff["erqi.1"]).status_code == 403
    with app.app_context():
        assert db.session.query(AssistedAction).count() == 1


def test_scope_is_a_comparison_of_codes_not_of_the_address_text(app, client, staff, sql):
    runner = app.test_cli_runner()
    ambiguous = runner.invoke(args=["community", "create", "--username", "gulou.1",
                                    "--district", "鼓楼区", "--password", "a long enough password"])
    assert ambiguous.exit_code != 0 and "350102 (福州市鼓楼区)" in ambiguous.output
    city = runner.invoke(args=["community", "create", "--username", "zhengzhou.city",
                               "--district", "410100", "--password", "a long enough password"])
    assert city.exit_code == 0, city.output
    whole_city = auth(client.post("/api/v1/community/login", json={
        "username": "zhengzhou.city", "password": "a long enough password"}).json["token"])
    ids = IdNumbers()

    # The address names 金水区, but the district chosen is 二七区: 金水区's staff may not act.
    erqi = register(client, staff["erqi.1"], ids(), district_code="410103")
    assert erqi.status_code == 201, erqi.json
    resident_id = erqi.json["resident_id"]
    assert erqi.json["profile"]["district_name"] == "郑州市二七区"
    assert client.get(f"/api/v1/community/residents/{resident_id}",
                      headers=staff["jinshui.1"]).status_code == 403
    assert client.get(f"/api/v1/community/residents/{resident_id}",
                      headers=whole_city).status_code == 200
    fuzhou = register(client, whole_city, ids(), address="福州市鼓楼区五四路100号3栋201",
                      district_code="350102")
    assert fuzhou.status_code == 403 and fuzhou.json["error"]["fields"] == {
        "district_code": "不在本辖区"}
    not_a_district = register(client, whole_city, ids(), district_code="410100")
    assert not_a_district.status_code == 422
    assert "district_code" in not_a_district.json["error"]["fields"]
    assert sql("SELECT district_code FROM community_staff WHERE username = 'zhengzhou.city'") \
        == [("410100",)]


def test_bad_registrations_are_refused_and_change_nothing(app, client, staff):
    ids = IdNumbers()
    number = ids()
    assert register(client, staff["jinshui.1"], number).status_code == 201
    before = resident_count(app)

    taken = register(client, staff["jinshui.1"], number, phone="13600000002")
    assert taken.status_code == 409 and taken.json["error"]["code"] == "id_number_taken"
    bad_id = register(client, staff["jinshui.1"], "110105198506150015")
    assert bad_id.status_code == 422
    missing = client.post("/api/v1/community/residents", headers=staff["jinshui.1"],
                          json={"name": "王大爷"})
    assert missing.status_code == 422
    assert client.post("/api/v1/community/residents", json={}).status_code == 401
    assert resident_count(app) == before


def test_staff_enter_a_resident_in_a_draw(app, client, staff):
    with app.app_context():
        campaign = manage.create_campaign(db.session, "fuzhou-assisted",
                                             load_preset("fuzhou"), now() - timedelta(hours=1))
        db.session.commit()
        campaign_id = campaign.id
    resident_id = register(client, staff["jinshui.1"], IdNumbers()()).json["resident_id"]
    url = f"/api/v1/community/residents/{resident_id}/entries"

    entered = client.post(url, headers=staff["jinshui.1"], json={"campaign_id": campaign_id})
    assert entered.status_code == 201 and len(entered.json["reservation_no"]) == 8
    twice = client.post(url, headers=staff["jinshui.1"], json={"campaign_id": campaign_id})
    assert twice.json["error"]["code"] == "already_entered"
    assert client.post(url, headers=staff["jinshui.1"],
                       json={"campaign_id": "x"}).status_code == 422
