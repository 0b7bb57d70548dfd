"""Real residents through the HTTP API: every kind of document, older residents of the
seed cities' districts, and households written the many ways people write them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.test_id_documents import broken_variants, with_check
from tests.worlds import auth, now, store_csv
from tests.worlds import residents as made_residents
from wx_backend.booking.households import canonical_address
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import load_preset
from wx_backend.dev import people
from wx_backend.extensions import db
from wx_backend.identity.accounts import create_community_staff
from wx_backend.models import Entry, Resident, Store

PASSWORD = "a long enough password"

# (who, document number, kind): residents born 1930 to 2005 in the seed cities' districts,
# a retired code, the three residence permits and both permanent residence cards.
PEOPLE = [
    ("中原区的老人", with_check("41010219300107021"), "resident_id"),
    ("二七区", with_check("41010319550615132"), "resident_id"),
    ("金水区", with_check("41010519471103068"), "resident_id"),
    ("管城区", with_check("41010419640229094"), "resident_id"),
    ("越秀区", with_check("44010419380912055"), "resident_id"),
    ("天河区", with_check("44010619700101177"), "resident_id"),
    ("海珠区", with_check("44010519810520026"), "resident_id"),
    ("市南区", with_check("37020219520808011"), "resident_id"),
    ("市北区", with_check("37020319790315043"), "resident_id"),
    ("鼓楼区", with_check("35010219450101012"), "resident_id"),
    ("台江区", with_check("35010319821231039"), "resident_id"),
    ("浦东新区", with_check("31011519600601085"), "resident_id"),
    ("浦东新区的年轻人", with_check("31011520050106016"), "resident_id"),
    ("商水县（已撤销）", with_check("41272319580405033"), "resident_id"),
    ("香港居民", with_check("81000019761023012"), "hmt_permit"),
    ("澳门居民", with_check("82000019900217024"), "hmt_permit"),
    ("台湾居民", with_check("83000019480730031"), "hmt_permit"),
    ("外国人（2023版）", with_check("93184019650412007"), "foreign_permanent"),
    ("外国人（2017版）", "DEU440187062301", "foreign_permanent"),
]


@pytest.mark.parametrize("n, who, number, kind", [(n, *p) for n, p in enumerate(PEOPLE)],
                         ids=[p[0] for p in PEOPLE])
def test_every_kind_of_resident_completes_the_real_name_form(residents, n, who, number, kind):
    token = residents.login(f"real-{n}")
    phone = people.phone(n + 500)
    code = residents.code_for(token, phone)

    answer = residents.put_profile(token, name=people.name(n), id_number=number, phone=phone,
                                   sms_code=code, id_kind=kind)

    assert answer.status_code == 200, (who, answer.json)
    assert answer.json["id_kind"] == kind and answer.json["profile_complete"] is True
    assert answer.json["id_number"].endswith(number[-4:]) and number not in str(answer.json)
    assert residents.profile(token).json["id_kind_name"] in {
        "居民身份证", "港澳台居民居住证", "外国人永久居留身份证"}


def test_broken_numbers_are_refused_beside_the_field_and_store_nothing(residents, sql):
    token = residents.login("careful")
    phone = people.phone(7)
    code = residents.code_for(token, phone)
    number = with_check("41010219550615132")

    for broken, words in broken_variants(number):
        answer = residents.put_profile(token, name="李桂兰", id_number=broken, phone=phone,
                                       sms_code=code)
        assert answer.status_code == 422, broken
        assert words in answer.json["error"]["fields"]["id_number"], broken
    assert sql("SELECT count(*) FROM residents WHERE id_number IS NOT NULL") == [(0,)]

    # The same account, refused before, completes the form with the real number.
    done = residents.put_profile(token, name="李桂兰", id_number=number, phone=phone,
                                 sms_code=code)
    assert done.status_code == 200 and done.json["id_kind"] == "resident_id"


def test_a_kind_that_does_not_match_the_number_is_named(residents):
    token = residents.login("permit-holder")
    phone = people.phone(8)
    answer = residents.put_profile(token, name="陈家明", id_number=with_check("81000019761023012"),
                                   phone=phone, sms_code=residents.code_for(token, phone),
                                   id_kind="resident_id")
    assert answer.status_code == 422
    assert "港澳台居民居住证" in answer.json["error"]["fields"]["id_kind"]


# Pairs a household writes two ways: each pair must give one key.
SAME_HOUSEHOLD = [
    ("上海市浦东新区花木路101弄3号1201室", "上海浦东新区花木路101弄3号1201室"),
    ("上海市浦东新区花木路102弄3号1201室", "上海市浦东新区花木路102弄3号楼1201室"),
    ("上海市浦东新区花木路88号5栋2单元301", "上海市浦东新区花木路八十八号五栋二单元301"),
    ("上海市浦东新区张江镇科苑路66号2幢1102室", "浦东新区科苑路66号2幢1102室"),
    ("上海市浦东新区东方路9号1栋1单元101", "上海市 浦东新区 东方路9号1幢1单元101号"),
    ("北京朝阳区双井街道广渠路9号院2号楼1单元301", "北京市朝阳区广渠路9号2栋1单元301"),
    ("郑州金水区经三路10号3单元201", "郑州市金水区经三路10号3单元201"),
    ("河南郑州二七区大学路40号3栋201", "河南省郑州市二七区大学路四十号三栋二零一"),
    ("内蒙古呼和浩特新城区中山东路8号2-1-101",
     "内蒙古自治区呼和浩特市新城区中山东路8号2栋1单元101室"),
    ("广东省广州市天河区天河北路233号1座1502", "广州天河区天河北路233号1栋1502房"),
    ("福建福州鼓楼区五四路158号3-2-201", "福州市鼓楼区五四路一百五十八号3号楼2单元201户"),
    ("山东省青岛市市南区香港中路10号甲栋", "青岛市南区香港中路十号甲栋"),
]
# Different households that must stay different.
OTHER_HOUSEHOLDS = [
    ("上海市浦东新区花木路101弄3号1201室", "上海市浦东新区花木路101弄3号1202室"),
    ("上海市浦东新区花木路10号", "上海市浦东新区花木路100号"),
    ("上海市浦东新区花木路101弄3号1201室", "上海市浦东新区花木路101弄13号1201室"),
    ("郑州市金水区经三路10号3单元201", "郑州市金水区经三路10号3单元2001"),
    ("郑州市金水区经三路10号3单元201", "郑州市金水区经三路1号3单元201"),
    ("广州市越秀区北京路100号201", "广州市越秀区北京路100号301"),
    ("福州市鼓楼区五四路158号3-2-201", "福州市鼓楼区五四路158号3-1-201"),
    ("北京市朝阳区广渠路9号2栋1单元301", "北京市朝阳区广渠路19号2栋1单元301"),
]


@pytest.mark.parametrize("one, other", SAME_HOUSEHOLD)
def test_one_household_however_written_has_one_form(one, other):
    assert canonical_address(one) == canonical_address(other)


@pytest.mark.parametrize("one, other", OTHER_HOUSEHOLDS)
def test_different_households_stay_different(one, other):
    assert canonical_address(one) != canonical_address(other)


def test_roads_named_after_places_keep_their_name():
    assert canonical_address("广州市越秀区北京路100号201").startswith("北京路")
    assert canonical_address("上海市黄浦区河南中路88号").startswith("河南中路")
    assert canonical_address("青岛市市南区香港中路10号").startswith("香港中路")


@pytest.fixture
def pudong(app, client):
    """A shanghai (queue, per household) campaign with a pharmacy and Pudong's committee."""
    with app.app_context():
        campaign = manage.create_campaign(db.session, "shanghai-pudong", load_preset("shanghai"),
                                             now() - timedelta(hours=1), preset="shanghai")
        manage.import_stores(db.session, campaign, store_csv([100]), 100)
        store = db.session.scalars(db.select(Store.id)
                                   .where(Store.campaign_id == campaign.id)).one()
        create_community_staff(db.session, "huamu.c", PASSWORD, "310115")
        db.session.commit()
        campaign_id = campaign.id
    login = client.post("/api/v1/community/login",
                        json={"username": "huamu.c", "password": PASSWORD})
    return {"campaign": campaign_id, "store": store, "committee": auth(login.json["token"])}


def living_at(app, addresses: list[str]):
    made = made_residents(app, len(addresses))
    with app.app_context():
        for person, address in zip(made, addresses):
            resident = db.session.get(Resident, person.id)
            resident.address = address
            resident.district_code = "310115"  # 浦东新区, chosen from the list
            resident.promised_at = now()
        db.session.commit()
    return made


def register(client, world, person):
    return client.post(f"/api/v1/campaigns/{world['campaign']}/entries",
                       headers=auth(person.token), json={"store_id": world["store"]})


def test_a_household_registers_once_however_it_is_written(app, client, pudong):
    first_ways = [one for one, _ in SAME_HOUSEHOLD[:5]]
    second_ways = [other for _, other in SAME_HOUSEHOLD[:5]]
    neighbours = ["上海市浦东新区花木路101弄3号1202室", "上海市浦东新区花木路102弄4号1201室",
                  "上海市浦东新区花木路88号5栋2单元302", "上海市浦东新区科苑路66号2幢1103室",
                  "上海市浦东新区东方路9号1栋1单元102"]
    firsts, seconds, others = (living_at(app, ways) for ways in (first_ways, second_ways,
                                                                   neighbours))

    assert [register(client, pudong, p).status_code for p in firsts] == [201] * 5
    refused = [register(client, pudong, p) for p in seconds]
    assert [(r.status_code, r.json["error"]["code"]) for r in refused] == [
        (409, "already_entered")] * 5
    assert [register(client, pudong, p).status_code for p in others] == [201] * 5
    with app.app_context():
        assert db.session.query(Entry).count() == 10


def test_the_committee_sees_near_duplicates_side_by_side(app, client, pudong):
    one, near, far = living_at(app, ["上海市浦东新区花木路101弄3号1201室",
                                     "浦东新区花木路101弄3号1210室",
                                     "上海市浦东新区锦绣路1500弄8号601室"])
    ids = [register(client, pudong, p).json["id"] for p in (one, near, far)]

    listed = client.get("/api/v1/community/registrations",
                        query_string={"campaign_id": pudong["campaign"]},
                        headers=pudong["committee"]).json["registrations"]

    by_id = {line["id"]: line for line in listed}
    assert [d["id"] for d in by_id[ids[0]]["possible_duplicates"]] == [ids[1]]
    assert [d["id"] for d in by_id[ids[1]]["possible_duplicates"]] == [ids[0]]
    assert (by_id[ids[1]]["possible_duplicates"][0]["address"]
            == "上海市浦东新区花木路101弄3号1201室")
    assert by_id[ids[2]]["possible_duplicates"] == []


def test_born_today_is_accepted_and_tomorrow_is_not(residents):
    today = date.today()
    token = residents.login("newborn-parent")
    phone = people.phone(9)
    code = residents.code_for(token, phone)
    tomorrow = with_check(f"310115{today + timedelta(days=1):%Y%m%d}002")
    refused = residents.put_profile(token, name="周一诺", id_number=tomorrow, phone=phone,
                                    sms_code=code)
    assert refused.status_code == 422
    born = with_check(f"310115{today:%Y%m%d}002")
    assert residents.put_profile(token, name="周一诺", id_number=born, phone=phone,
                                 sms_code=code).status_code == 200


def test_rekey_brings_keys_made_by_older_rules_in_line(app, client, pudong, sql):
    alone, twice, again = living_at(app, ["上海市浦东新区花木路101弄3号1201室",
                                          "上海市浦东新区花木路88号5栋2单元301",
                                          "上海市浦东新区花木路八十八号五栋二单元301"])
    ids = [register(client, pudong, alone).json["id"], register(client, pudong, twice).json["id"]]
    # Keys as an older version would have made them: the last household got in twice.
    sql("UPDATE entries SET person_key = 'h:old-' || id WHERE id = ANY(%s) RETURNING id", ids)
    sql("INSERT INTO entries (campaign_id, resident_id, person_key, status, rules_version, "
        "store_id, reservation_no, created_at) SELECT campaign_id, %s, 'h:old-x', status, "
        "rules_version, store_id, '99999999', created_at FROM entries WHERE id = %s RETURNING id",
        again.id, ids[1])

    result = app.test_cli_runner().invoke(args=["households", "rekey"])

    assert result.exit_code == 0, result.output
    assert "2 household keys changed" in result.output
    assert "same household as entry" in result.output
    keys = dict(sql("SELECT id, person_key FROM entries"))
    assert not keys[ids[0]].startswith("h:old") and not keys[ids[1]].startswith("h:old")
    (later,) = living_at(app, ["浦东新区花木路101弄3号楼1201"])
    refused = register(client, pudong, later)
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "already_entered")
