"""Verification codes: send limits per phone, expiry, and the outbox."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

PHONE = "13812345678"


def _minute_passes(redis_client):
    """Stand in for the 60-second resend wait: drop the resend guard, keep the rest."""
    for key in redis_client.scan_iter("smscode-resend:*"):
        redis_client.delete(key)


def test_code_is_six_digits_and_lives_five_minutes(residents, redis_client):
    token = residents.login("alice")

    answer = residents.request_code(token, PHONE)

    assert answer.status_code == 201
    assert answer.json == {"expires_in": 300, "resend_after": 60}
    assert len(residents.latest_code(PHONE)) == 6
    (key,) = list(redis_client.scan_iter("smscode:profile:*"))
    assert 295 <= redis_client.ttl(key) <= 300


def test_second_send_within_a_minute_is_429(residents):
    token = residents.login("alice")
    residents.request_code(token, PHONE)

    again = residents.request_code(token, PHONE)

    assert again.status_code == 429
    assert again.json["error"]["code"] == "sms_too_frequent"
    assert 0 < int(again.headers["Retry-After"]) <= 60
    outbox = residents.client.get("/dev/outbox", query_string={"phone": PHONE}).json["sms"]
    assert len(outbox) == 1


def test_ten_sends_a_day_then_refused(residents, redis_client):
    # Two people asking for the same phone (a parent's phone, a child asking too): the
    # phone's own day counts them both.
    for who in ("alice", "alices-son"):
        token = residents.login(who)
        for _ in range(5):
            assert residents.request_code(token, PHONE).status_code == 201
            _minute_passes(redis_client)

    eleventh = residents.request_code(residents.login("alices-daughter"), PHONE)

    assert eleventh.status_code == 429
    assert eleventh.json["error"]["code"] == "sms_daily_limit"
    outbox = residents.client.get("/dev/outbox", query_string={"phone": PHONE}).json["sms"]
    assert len(outbox) == 10


def test_new_code_replaces_the_old_one(residents, redis_client):
    token = residents.login("alice")
    residents.request_code(token, PHONE)
    first = residents.latest_code(PHONE)
    _minute_passes(redis_client)
    residents.request_code(token, PHONE)
    second = residents.latest_code(PHONE)

    if first != second:
        old = residents.put_profile(token, name="张三", id_number="110105198506150014",
                                    phone=PHONE, sms_code=first)
        assert old.json["error"]["code"] == "sms_code_wrong"
    assert residents.put_profile(token, name="张三", id_number="110105198506150014",
                                 phone=PHONE, sms_code=second).status_code == 200


def test_parallel_sends_for_one_phone_send_one_sms(live_server, residents):
    tokens = [residents.login(f"sender{n}") for n in range(10)]

    def send(token):
        return requests.post(f"{live_server}/api/v1/sms/codes", timeout=30,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"phone": PHONE, "purpose": "profile"}).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(send, tokens))

    assert statuses == [201] + [429] * 9
    outbox = residents.client.get("/dev/outbox", query_string={"phone": PHONE}).json["sms"]
    assert len(outbox) == 1


def test_unknown_purpose_and_no_login_are_refused(client, residents):
    token = residents.login("alice")

    bad_purpose = residents.request_code(token, PHONE, purpose="marketing")
    anonymous = client.post("/api/v1/sms/codes", json={"phone": PHONE})

    assert bad_purpose.status_code == 422
    assert bad_purpose.json["error"]["fields"] == {"purpose": "验证码用途不正确"}
    assert anonymous.status_code == 401


def test_redis_never_holds_the_phone_or_the_code(residents, redis_client):
    token = residents.login("alice")
    residents.request_code(token, PHONE)
    code = residents.latest_code(PHONE)

    everything = []
    for key in redis_client.scan_iter("*"):
        everything.append(key)
        if redis_client.type(key) == "hash":
            everything.extend(redis_client.hvals(key))
        elif redis_client.type(key) == "string":
            everything.append(redis_client.get(key))

    assert not any(PHONE in str(item) or code == str(item) for item in everything)
