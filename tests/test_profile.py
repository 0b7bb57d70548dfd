"""The real-name profile: validation, SMS confirmation, one ID per account, encryption."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
import requests

from tests.factories import id_number, phone
from tests.worlds import build
from wx_backend.identity.residents import normalise_id_number, normalise_phone

PHONE = "13812345678"


def test_profile_flow_stores_and_shows_masked_values(residents, ids):
    token = residents.login("alice")
    number = ids()
    code = residents.code_for(token, PHONE)

    answer = residents.put_profile(token, name="张三丰", id_number=number, phone=PHONE,
                                   sms_code=code, address="郑州市金水区花园路100号3单元")

    assert answer.status_code == 200
    body = answer.json
    assert body["profile_complete"] is True
    assert body["name"] == "张*丰"
    assert body["id_number"] == number[:6] + "********" + number[-4:]
    assert body["phone"] == "138****5678"
    assert body["address"].startswith("郑州市金水区") and "100号" not in body["address"]
    assert residents.profile(token).json == body
    relogin = residents.client.post("/api/v1/auth/login", json={"code": "dev-alice"})
    assert relogin.json["profile_complete"] is True


def test_database_dump_holds_no_plaintext_personal_data(residents, ids, sql):
    number = ids()
    residents.verified("alice", number, PHONE, name="李四")

    dump = "\n".join(
        str(row)
        for (table,) in sql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        for row in sql(f'SELECT * FROM "{table}"')
    )

    for secret in (number, number[:14], PHONE, "李四"):
        assert secret not in dump
    assert sql("SELECT count(*) FROM residents WHERE id_number LIKE 't1$%'") == [(1,)]


def test_the_api_takes_the_canonical_form_and_says_how_to_write_it(residents):
    number = id_number(serial=2)
    while not number.endswith("X"):
        number = id_number(serial=int(number[14:17]) + 1)
    token = residents.login("alice")
    code = residents.code_for(token, PHONE)

    # The normalisers read these (the console and the official account take them as
    # typed); the API takes the one canonical form, which the mini-program sends.
    assert normalise_id_number(number.lower()) == number
    assert normalise_phone("+86 138-1234-5678") == PHONE
    for typed in ({"id_number": number.lower()}, {"id_number": f"{number[:6]} {number[6:]}"},
                  {"phone": "+86 138-1234-5678"}, {"name": " 王五"}):
        fields = {"name": "王五", "id_number": number, "phone": PHONE, **typed}
        refused = residents.put_profile(token, sms_code=code, **fields)
        assert refused.status_code == 422, typed
        (field,) = typed
        assert "不加" in refused.json["error"]["fields"][field] or "空格" in \
            refused.json["error"]["fields"][field]

    answer = residents.put_profile(token, name="王五", id_number=number, phone=PHONE,
                                   sms_code=code)

    assert answer.status_code == 200
    assert answer.json["id_number"].endswith("X")


def _future_id() -> str:
    return id_number(birth=date.today() + timedelta(days=30))


@pytest.mark.parametrize("bad_number, words", [
    ("110105198506150015", "校验位"),                 # checksum off by one
    (None, "出生日期不正确"),                           # born in the future
    ("110105198502300011", "出生日期不存在"),          # 30 February (checksum fixed below)
    ("999999198506150011", "地区代码"),                # no such region
    ("110105850615001", "15位"),                       # first-generation 15-digit number
    ("11010519850615001", "18位"),                     # too short
    ("11010519850615001A", "18位"),                    # letter other than X
])
def test_bad_id_numbers_are_refused_and_change_nothing(residents, bad_number, words):
    from stdnum.cn import ric

    if bad_number is None:
        bad_number = _future_id()
    elif len(bad_number) == 18 and "校验位" not in words and bad_number[-1].isdigit():
        bad_number = bad_number[:17] + ric.calc_check_digit(bad_number[:17] + "0")
    token = residents.login("alice")
    code = residents.code_for(token, PHONE)

    answer = residents.put_profile(token, name="张三", id_number=bad_number, phone=PHONE,
                                   sms_code=code)

    assert answer.status_code == 422
    assert words in answer.json["error"]["fields"]["id_number"]
    assert residents.profile(token).json["profile_complete"] is False
    # Validation happens before the SMS code is checked, so the code is still good.
    good = residents.put_profile(token, name="张三", id_number=id_number(), phone=PHONE,
                                 sms_code=code)
    assert good.status_code == 200


@pytest.mark.parametrize("name", ["张", "张3", "Zhang San 2", "张" * 31, "😀😀", "张 三", "·张三"])
def test_bad_names_are_refused(residents, name):
    token = residents.login("alice")

    answer = residents.put_profile(token, name=name, id_number=id_number(), phone=PHONE,
                                   sms_code="123456")

    assert answer.status_code == 422
    assert "name" in answer.json["error"]["fields"]


@pytest.mark.parametrize("name, masked", [
    ("阿依古丽·买买提", "阿******提"),
    ("John Smith", "J********h"),
    ("欧阳娜娜", "欧**娜"),
])
def test_real_world_names_are_accepted(residents, name, masked):
    token = residents.login("alice")

    answer = residents.put_profile(token, name=name, id_number=id_number(), phone=PHONE,
                                   sms_code=residents.code_for(token, PHONE))

    assert answer.status_code == 200, answer.json
    assert answer.json["name"] == masked


@pytest.mark.parametrize("bad_phone", ["12812345678", "1381234567", "02012345678", "abc"])
def test_non_mobile_numbers_are_refused(residents, bad_phone):
    token = residents.login("alice")

    answer = residents.request_code(token, bad_phone)

    assert answer.status_code == 422
    assert answer.json["error"]["fields"]["phone"] == "请填写11位中国大陆手机号码"


def test_wrong_code_then_reused_code(residents):
    token = residents.login("alice")
    code = residents.code_for(token, PHONE)
    wrong = f"{(int(code) + 1) % 1000000:06d}"

    refused = residents.put_profile(token, name="张三", id_number=id_number(), phone=PHONE,
                                    sms_code=wrong)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "sms_code_wrong"
    assert "4次" in refused.json["error"]["message"]

    assert residents.put_profile(token, name="张三", id_number=id_number(), phone=PHONE,
                                 sms_code=code).status_code == 200
    reused = residents.put_profile(token, name="张三", id_number=id_number(), phone=PHONE,
                                   sms_code=code)
    assert reused.status_code == 403
    assert reused.json["error"]["code"] == "sms_code_expired"


def test_sixth_try_is_locked_even_with_the_right_code(residents):
    token = residents.login("alice")
    code = residents.code_for(token, PHONE)
    wrong = f"{(int(code) + 1) % 1000000:06d}"

    for _ in range(5):
        answer = residents.put_profile(token, name="张三", id_number=id_number(), phone=PHONE,
                                       sms_code=wrong)
        assert answer.json["error"]["code"] == "sms_code_wrong"
    sixth = residents.put_profile(token, name="张三", id_number=id_number(), phone=PHONE,
                                  sms_code=code)

    assert sixth.status_code == 403
    assert sixth.json["error"]["code"] == "sms_code_locked"
    assert residents.profile(token).json["profile_complete"] is False


def test_code_for_another_phone_does_not_confirm(residents):
    token = residents.login("alice")
    code = residents.code_for(token, PHONE)

    answer = residents.put_profile(token, name="张三", id_number=id_number(),
                                   phone="13900000000", sms_code=code)

    assert answer.status_code == 403
    assert answer.json["error"]["code"] == "sms_code_expired"


def test_id_bound_to_another_account_is_409_and_changes_nothing(residents, ids, sql):
    number = ids()
    residents.verified("alice", number, PHONE, name="张三")
    before = sql("SELECT id, name, id_number, phone FROM residents ORDER BY id")
    bob = residents.login("bob")

    answer = residents.put_profile(bob, name="张三", id_number=number, phone=phone(2),
                                   sms_code=residents.code_for(bob, phone(2)))

    assert answer.status_code == 409
    assert answer.json["error"]["code"] == "id_number_taken"
    assert residents.profile(bob).json["profile_complete"] is False
    assert sql("SELECT id, name, id_number, phone FROM residents ORDER BY id")[:1] == before


def test_verified_name_and_id_cannot_change_but_phone_can(residents, ids):
    number = ids()
    token = residents.verified("alice", number, PHONE, name="张三")

    other_id = residents.put_profile(token, name="张三", id_number=ids(), phone=phone(7),
                                     sms_code=residents.code_for(token, phone(7)))
    assert other_id.status_code == 409
    assert other_id.json["error"]["code"] == "profile_locked"
    renamed = residents.put_profile(token, name="李四", id_number=number, phone=phone(8),
                                    sms_code=residents.code_for(token, phone(8)))
    assert renamed.status_code == 409
    assert renamed.json["error"]["code"] == "profile_locked"

    new_phone = residents.put_profile(token, name="张三", id_number=number, phone=phone(9),
                                      sms_code=residents.code_for(token, phone(9)))
    assert new_phone.status_code == 200
    assert new_phone.json["phone"] == phone(9)[:3] + "****" + phone(9)[-4:]
    assert new_phone.json["name"] == "张*"


def test_many_accounts_racing_for_one_id_bind_exactly_one(live_server, residents, ids, sql):
    number = ids()
    tokens = [residents.login(f"racer{n}") for n in range(8)]
    codes = [residents.code_for(token, phone(n)) for n, token in enumerate(tokens)]

    def bind(n):
        answer = requests.put(f"{live_server}/api/v1/me/profile", timeout=30,
                              headers={"Authorization": f"Bearer {tokens[n]}"},
                              json={"name": "张三", "id_number": number, "phone": phone(n),
                                    "sms_code": codes[n]})
        return answer.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(bind, range(8)))

    assert statuses == [200] + [409] * 7
    assert sql("SELECT count(*) FROM residents WHERE profile_completed_at IS NOT NULL") == [(1,)]


def test_profile_requires_login(client):
    answer = client.put("/api/v1/me/profile", json={})

    assert answer.status_code == 401


@pytest.mark.parametrize("preset, city, chosen, name", [
    ("zhengzhou", "410100", "410105", "郑州市金水区"),
    ("qingdao", "370200", "370202", "青岛市市南区"),
    ("guangzhou", "440100", "440106", "广州市天河区"),
    ("fuzhou", "350100", "350102", "福州市鼓楼区"),
    ("shanghai", "310000", "310115", "上海市浦东新区"),
])
def test_the_district_is_chosen_from_the_campaigns_list(app, client, residents, ids, preset,
                                                        city, chosen, name):
    world = build(app, preset, open_now=False)
    served = client.get(f"/api/v1/campaigns/{world.campaign_id}").json["rules"]["city"]
    assert served["code"] == city
    assert {"code": chosen, "name": name.removeprefix(served["name"])} in served["districts"]
    token = residents.login(f"dweller-{preset}")
    code = residents.code_for(token, PHONE)
    fields = {"name": "林秀珍", "id_number": ids(), "phone": PHONE,
              "address": f"{name}中山路88号2栋301"}

    for wrong in (city, "999999", "310103", "41010５", "", 410105):  # city, none, retired…
        refused = residents.put_profile(token, sms_code=code, district_code=wrong, **fields)
        assert refused.status_code == 422, wrong
        assert refused.json["error"]["fields"]["district_code"] in (
            "请从列表中选择住址所在的区（县）", "应为文本")
    answer = residents.put_profile(token, sms_code=code, district_code=chosen, **fields)

    assert answer.status_code == 200, answer.json
    assert (answer.json["district_code"], answer.json["district_name"]) == (chosen, name)
