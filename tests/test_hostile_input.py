"""Whatever a client sends, the answer is a clear error in the envelope and never a 5xx."""

from __future__ import annotations

import itertools
import json
import re
import time

import pytest
import requests

from tests.test_households import book, household_world, settle
from tests.worlds import residents as verified
from wx_backend.core.canonical import id_tail
from wx_backend.core.errors import InvalidInput
from wx_backend.identity.residents import normalise_id_number

WEIRD_VALUES = [None, 0, -1, 10**30, 1.5, True, "", " ", "\x00", "\u202e张三", "😀" * 40,
                "x" * 600, [], ["13812345678"], {}, {"$gt": ""}]

ENDPOINTS = [
    ("post", "/api/v1/auth/login", ["code"]),
    ("post", "/api/v1/sms/codes", ["phone", "purpose"]),
    ("put", "/api/v1/me/profile", ["name", "id_number", "phone", "sms_code", "address"]),
]

GOOD = {"code": "dev-alice", "phone": "13812345678", "purpose": "profile", "name": "张三",
        "id_number": "110105198506150014", "sms_code": "123456",
        "address": "郑州市金水区花园路100号"}


def _cases():
    for method, path, fields in ENDPOINTS:
        for field in fields:
            for value in WEIRD_VALUES:
                body = {name: GOOD[name] for name in fields}
                body[field] = value
                yield pytest.param(method, path, json.dumps(body),
                                   id=f"{path}-{field}-{value!r:.20}")
        for raw in ["null", "1", '"text"', "[]", "{", '{"a":', "\x00", "{}" * 1000]:
            yield pytest.param(method, path, raw, id=f"{path}-raw-{raw[:10]!r}")


@pytest.mark.parametrize("method, path, body", list(_cases()))
def test_hostile_bodies_get_a_clear_error(client, residents, sql, method, path, body):
    token = residents.login("probe")

    answer = getattr(client, method)(path, data=body.encode("utf-8", "surrogatepass"),
                                     headers={**residents.headers(token),
                                              "Content-Type": "application/json"})

    assert answer.status_code < 500, answer.json
    if answer.status_code >= 400:
        error = answer.json["error"]
        assert error["code"] and error["message"] and isinstance(error["fields"], dict)
    assert sql("SELECT count(*) FROM residents WHERE profile_completed_at IS NOT NULL") == [(0,)]


@pytest.mark.parametrize("path", ["/api/v1/staff/login", "/api/v1/admin/login",
                                  "/api/v1/community/login"])
def test_a_nul_in_a_staff_login_is_a_wrong_login(client, path):
    answer = client.post(path, json={"username": "counter\x00", "password": "x" * 12})
    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "bad_credentials"


def test_ids_past_what_a_row_can_have_are_not_found(client, residents):
    token = residents.login("alice")
    answer = client.get(f"/api/v1/bookings/{2**70}", headers=residents.headers(token))
    assert answer.status_code == 404 and answer.json["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/campaigns/{2**64}").status_code == 404


# -- one card, one person, however it is typed (through HTTP on a real server) --------------

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EXTENDED_ARABIC = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
BENGALI = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
THAI = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
MATHEMATICAL = str.maketrans("0123456789", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗")
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def _some(number: str, table: dict, positions=(6, 8, 11, 13)) -> str:
    """``number`` with the digits at ``positions`` written in another script."""
    chars = list(number)
    for at in positions:
        chars[at] = chars[at].translate(table)
    return "".join(chars)


# How the same card arrives, and whether the normalisers read it as that card (True: the
# console and the official account, which take numbers as typed, find the same person) or
# refuse it with words of their own (False). The API takes the canonical form only
# (wx_backend/web/input.py): it refuses every one of these, and names the field.
SAME_CARD = [
    ("full width", lambda n: n.translate(FULL_WIDTH), True),
    ("mixed widths", lambda n: n[:9] + n[9:].translate(FULL_WIDTH), True),
    ("spaces and dashes", lambda n: f"{n[:6]} {n[6:14]}-{n[14:]}", True),
    ("ideographic space", lambda n: f"{n[:6]}\u3000{n[6:]}", True),
    ("as typed, lower case", lambda n: n.lower(), True),
    ("Arabic-Indic in a few places", lambda n: _some(n, ARABIC_INDIC), False),
    ("Arabic-Indic throughout", lambda n: n.translate(ARABIC_INDIC), False),
    ("Persian digits", lambda n: _some(n, EXTENDED_ARABIC), False),
    ("Devanagari digits", lambda n: _some(n, DEVANAGARI, (0, 17 if n[17] != "X" else 16)),
     False),
    ("Bengali digits", lambda n: _some(n, BENGALI), False),
    ("Thai digits", lambda n: _some(n, THAI), False),
    ("mathematical bold digits", lambda n: _some(n, MATHEMATICAL), True),  # NFKC: ASCII
    ("zero-width space", lambda n: n[:10] + "\u200b" + n[10:], False),
    ("byte-order mark in front", lambda n: "\ufeff" + n, False),
    ("right-to-left mark", lambda n: n[:6] + "\u200f" + n[6:], False),
    ("soft hyphen", lambda n: n[:6] + "\u00ad" + n[6:], False),
    ("word joiner", lambda n: n[:17] + "\u2060" + n[17:], False),
    ("a digit without a decimal value", lambda n: n[:5] + "\u19da" + n[6:], False),
    ("superscript digits", lambda n: n[:4] + "²³" + n[6:], None),  # NFKC: other digits
]


class Http:
    """A resident's side of the API, over real HTTP."""

    def __init__(self, base: str):
        self.base = base

    def login(self, who: str) -> str:
        answer = requests.post(f"{self.base}/api/v1/auth/login", json={"code": f"dev-{who}"},
                               timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]

    def call(self, method: str, path: str, token: str, **kwargs):
        return requests.request(method, self.base + path, timeout=10,
                                headers={"Authorization": f"Bearer {token}",
                                         **kwargs.pop("headers", {})}, **kwargs)

    def ask_code(self, token: str, phone: str, **kwargs):
        return self.call("POST", "/api/v1/sms/codes", token,
                         json={"phone": phone, "purpose": "profile"}, **kwargs)

    def code_sent_to(self, phone: str) -> str:
        outbox = requests.get(f"{self.base}/dev/outbox", params={"phone": phone},
                              timeout=10).json()
        return re.search(r"验证码为(\d{6})", outbox["sms"][0]["text"]).group(1)

    def profile(self, token: str, **fields):
        return self.call("PUT", "/api/v1/me/profile", token, json=fields)


@pytest.fixture
def http(live_server) -> Http:
    return Http(live_server)


def _minute_passes(redis_client):
    """Stand in for the 60-second resend wait of a phone: drop its guard, keep the rest."""
    for key in redis_client.scan_iter("smscode-resend:*"):
        redis_client.delete(key)


def _register(http, redis_client, who: str, id_number: str, phone: str, name: str):
    token = http.login(who)
    _minute_passes(redis_client)
    asked = http.ask_code(token, phone)
    assert asked.status_code == 201, asked.text
    return token, http.profile(token, name=name, id_number=id_number, phone=phone,
                               sms_code=http.code_sent_to(phone))


@pytest.mark.parametrize("how, typed, same", SAME_CARD, ids=[case[0] for case in SAME_CARD])
def test_one_card_however_typed_is_one_person(http, redis_client, sql, ids, how, typed, same):
    number = ids()
    first, answer = _register(http, redis_client, "holder", number, "13912340001", "王秀英")
    assert answer.status_code == 200, answer.text

    token, again = _register(http, redis_client, "second-account", typed(number),
                             "15800002222", "王秀英")

    if typed(number) == number:  # a number without an X, "typed in lower case"
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "id_number_taken"
    else:
        assert again.status_code == 422, again.text
        message = again.json()["error"]["fields"]["id_number"]
        assert re.search(r"证件号码|身份证号", message), message
        assert re.search(r"[\u4e00-\u9fff]{4}", message)
    if same is True:
        assert normalise_id_number(typed(number)) == number
    elif same is False:
        with pytest.raises(InvalidInput):
            normalise_id_number(typed(number))
    assert sql("SELECT count(*) FROM residents WHERE profile_completed_at IS NOT NULL") \
        == [(1,)]
    mine = http.call("GET", "/api/v1/me/profile", token).json()
    assert mine["profile_complete"] is False


@pytest.mark.parametrize("phone, problem", [
    ("138١2345678", "0-9"), ("1381234\u200b5678", "看不见"), ("١٣٨١٢٣٤٥٦٧٨", "0-9"),
    ("138-1234-567８", "不加"), ("+86 139 0000 1111", "不加"), ("1381234567O", "11位"),
    ("13912340000", None),
])
def test_phones_in_other_scripts_are_refused_beside_the_field(http, phone, problem):
    token = http.login("phone-typist")

    answer = http.ask_code(token, phone)

    if problem is None:
        assert answer.status_code == 201, answer.text
    else:
        assert answer.status_code == 422, answer.text
        assert problem in answer.json()["error"]["fields"]["phone"]


def test_an_address_in_other_scripts_is_the_same_household(app, client):
    world = household_world(app)
    first, second = verified(app, 2)
    settle(app, [first, second], ["鼓楼区五四路100号3栋2单元201",
                                  "鼓楼区\u200b五四路١٠٠号٣栋\u2060٢单元٢٠١"])

    assert book(client, world, first).status_code == 201
    refused = book(client, world, second)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "already_booked"


def test_the_counter_reads_the_last_four_as_typed_on_a_chinese_keyboard():
    assert id_tail("１２３x") == "123X"
    for typed in ("12٣4", "12\u200b34", "123", "12345", "X123"):
        with pytest.raises(InvalidInput) as refused:
            id_tail(typed)
        assert refused.value.fields["id_last4"].startswith("身份证号后4位")


# -- SMS cannot be pumped or used against someone -----------------------------------------

def test_one_login_cannot_text_sixty_phones(http, sql):
    token = http.login("pump")

    answers = [http.ask_code(token, f"1{prefix}{n:08d}")
               for n, prefix in zip(range(60), itertools.cycle(["38", "59", "86", "77"]))]

    assert [a.status_code for a in answers[:5]] == [201] * 5
    assert {a.status_code for a in answers[5:]} == {429}
    refused = answers[5].json()["error"]
    assert refused["code"] == "sms_session_limit" and refused["retry_after"] > 0
    assert int(answers[5].headers["Retry-After"]) > 0
    assert sql("SELECT count(*) FROM sms_outbox") == [(5,)]


def test_one_account_cannot_log_in_again_for_more_codes(http):
    statuses = []
    for n in range(4):
        token = http.login("same-person")  # a fresh session each time, the same account
        statuses += [http.ask_code(token, f"1370000{n}{k:03d}").status_code for k in range(3)]

    assert statuses[:10] == [201] * 10
    assert statuses[10:] == [429, 429]


def test_the_client_address_has_a_budget(make_app, app, serve, sql):
    behind_proxy = Http(serve(make_app(SMS_CODES_PER_ADDRESS=3, PROXY_HOPS=1)))

    def from_address(who, address, phone):
        token = behind_proxy.login(who)
        return behind_proxy.ask_code(token, phone, headers={"X-Forwarded-For": address})

    same_net = [from_address(f"neighbour{n}", "203.0.113.7", f"1850000000{n}")
                for n in range(4)]
    elsewhere = from_address("elsewhere", "198.51.100.23", "18500000009")

    assert [a.status_code for a in same_net] == [201, 201, 201, 429]
    assert same_net[3].json()["error"]["code"] == "sms_address_limit"
    assert elsewhere.status_code == 201
    assert sql("SELECT count(*) FROM sms_outbox") == [(4,)]


def test_the_city_has_a_budget_a_minute(make_app, app, serve, sql):
    city = Http(serve(make_app(SMS_CODES_PER_MINUTE=3)))
    if time.time() % 60 > 50:  # the budget is per clock minute: start in a fresh one
        time.sleep(61 - time.time() % 60)

    answers = [city.ask_code(city.login(f"citizen{n}"), f"1360000{n:04d}") for n in range(5)]

    assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
    busy = answers[3].json()["error"]
    assert busy["code"] == "sms_busy" and 0 < busy["retry_after"] <= 120
    assert sql("SELECT count(*) FROM sms_outbox") == [(3,)]


def test_a_strangers_wrong_tries_leave_the_owners_code_alone(http, redis_client, ids):
    phone = "17712345678"
    owner = http.login("owner")
    assert http.ask_code(owner, phone).status_code == 201
    code = http.code_sent_to(phone)

    stranger = http.login("stranger")
    _minute_passes(redis_client)
    assert http.ask_code(stranger, phone).status_code == 201
    theirs = http.code_sent_to(phone)
    wrong = [f"{(int(theirs) + n) % 10**6:06d}" for n in range(1, 7)]
    answers = [http.profile(stranger, name="李四", id_number=ids(), phone=phone,
                            sms_code=guess) for guess in [code, *wrong]]

    assert all(a.status_code == 403 for a in answers)
    assert answers[-1].json()["error"]["code"] == "sms_code_locked"
    mine = http.profile(owner, name="赵淑芬", id_number=ids(), phone=phone, sms_code=code)
    assert mine.status_code == 200, mine.text


def test_json_nested_thousands_deep_is_a_bad_request(http):
    token = http.login("nester")
    for depth in (2_000, 30_000):
        body = "[" * depth + "]" * depth
        for path, method in (("/api/v1/me/profile", "PUT"), ("/api/v1/sms/codes", "POST"),
                             ("/api/v1/campaigns/1/bookings", "POST")):
            answer = http.call(method, path, token, data=body,
                               headers={"Content-Type": "application/json"})
            assert answer.status_code == 400, (path, depth, answer.text[:200])
            assert answer.json()["error"]["code"]
