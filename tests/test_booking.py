"""Booking through the API: the answers a resident gets, and what they hold afterwards."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.worlds import auth, build, move_window, now, residents
from wx_backend.campaigns.rules import load_preset
from wx_backend.models import Booking


def _book(client, world, token, store=None, **extra):
    body = {"store_id": store or world.store_ids[0], **extra.pop("body", {})}
    return client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings", json=body,
                       headers={**auth(token), **extra.pop("headers", {})})


def _left(client, world):
    stores = client.get(f"/api/v1/campaigns/{world.campaign_id}/stores").json
    return stores["window_left"], {s["id"]: s["left"] for s in stores["stores"]}


def test_booking_gives_reservation_number_pickup_code_and_pickup_window(app, client):
    world = build(app, "zhengzhou")
    (alice,) = residents(app, 1)

    answer = _book(client, world, alice.token)

    assert answer.status_code == 201
    body = answer.json
    assert body["status"] == "confirmed"
    assert len(body["reservation_no"]) == 8 and body["reservation_no"].isdigit()
    assert len(body["pickup_code"]) == 6 and body["pickup_code"].isdigit()
    assert body["store"]["id"] == world.store_ids[0]
    assert body["portion"] == {"item": "一次性使用医用口罩", "items": 10, "unit_price_fen": 100}
    assert body["pickup"]["starts_at"].endswith("09:00:00+08:00")
    assert body["pickup"]["ends_at"].endswith("18:00:00+08:00")
    assert client.get(f"/api/v1/bookings/{body['id']}", headers=auth(alice.token)).json == body
    mine = client.get("/api/v1/me/bookings", headers=auth(alice.token)).json["bookings"]
    assert [b["id"] for b in mine] == [body["id"]]
    window_left, store_left = _left(client, world)
    assert window_left == 9999 and store_left[world.store_ids[0]] == 99


def test_residents_reach_only_their_own_bookings(app, client):
    world = build(app)
    alice, bob = residents(app, 2)
    booking_id = _book(client, world, alice.token).json["id"]

    for path in (f"/api/v1/bookings/{booking_id}", f"/api/v1/bookings/{booking_id}/qrcode.png"):
        answer = client.get(path, headers=auth(bob.token))
        assert answer.status_code == 404
        assert answer.json["error"]["code"] == "booking_not_found"
    assert client.post(f"/api/v1/bookings/{booking_id}/cancel",
                       headers=auth(bob.token)).status_code == 404
    assert client.get("/api/v1/me/bookings", headers=auth(bob.token)).json == {"bookings": []}


def test_qr_code_is_a_png(app, client):
    world = build(app)
    (alice,) = residents(app, 1)
    booking_id = _book(client, world, alice.token).json["id"]

    answer = client.get(f"/api/v1/bookings/{booking_id}/qrcode.png", headers=auth(alice.token))

    assert answer.status_code == 200
    assert answer.mimetype == "image/png"
    assert answer.data.startswith(b"\x89PNG\r\n\x1a\n")


def test_reservation_numbers_do_not_follow_each_other(app, client):
    world = build(app)
    people = residents(app, 30)

    numbers = [int(_book(client, world, p.token,
                         store=world.store_ids[n % 3]).json["reservation_no"])
               for n, p in enumerate(people)]

    assert len(set(numbers)) == 30
    gaps = {b - a for a, b in zip(numbers, numbers[1:])}
    assert len(gaps) == 29 and 1 not in gaps


def test_second_booking_in_the_window_is_already_booked(app, client):
    world = build(app)
    (alice,) = residents(app, 1)
    _book(client, world, alice.token)

    again = _book(client, world, alice.token, store=world.store_ids[1])

    assert again.status_code == 409
    assert again.json["error"]["code"] == "already_booked"
    assert _left(client, world)[0] == 9999


def test_cooldown_blocks_the_next_window(app, client):
    world = build(app, "zhengzhou")
    (alice,) = residents(app, 1)
    assert _book(client, world, alice.token).status_code == 201
    with app.app_context():
        from wx_backend.extensions import db
        from wx_backend.models import Window
        old = db.session.get(Window, world.window_id)
        later = Window(campaign_id=world.campaign_id, opens_at=now() + timedelta(minutes=40),
                       closes_at=now() + timedelta(minutes=50), quota=10,
                       pickup_date=old.pickup_date + timedelta(days=1), rules_version=1,
                       seq_base=old.seq_base + 100_000)
        db.session.add(later)
        db.session.commit()
        later_id = later.id
    move_window(app, world.window_id, now() - timedelta(hours=2), now() - timedelta(hours=1))
    move_window(app, later_id, now() - timedelta(minutes=1), now() + timedelta(minutes=10))

    answer = _book(client, world, alice.token)

    assert answer.status_code == 409
    assert answer.json["error"]["code"] == "cooldown"
    assert "7天" in answer.json["error"]["message"]


def test_store_full_then_other_store_books(app, client):
    world = build(app, caps=(2, 5))
    people = residents(app, 3)

    statuses = [_book(client, world, p.token).status_code for p in people[:2]]
    full = _book(client, world, people[2].token)
    elsewhere = _book(client, world, people[2].token, store=world.store_ids[1])

    assert statuses == [201, 201]
    assert (full.status_code, full.json["error"]["code"]) == (409, "store_full")
    assert elsewhere.status_code == 201


def test_sold_out_is_answered_from_memory_without_redis(app, client, redis_client):
    world = build(app, quota=2)
    people = residents(app, 6)
    assert [_book(client, world, p.token, store=world.store_ids[n % 3]).status_code
            for n, p in enumerate(people[:3])] == [201, 201, 409]

    redis_client.config_resetstat()
    answers = [_book(client, world, p.token) for p in people[3:]]
    stats = redis_client.info("commandstats")

    assert {a.json["error"]["code"] for a in answers} == {"sold_out"}
    assert "cmdstat_evalsha" not in stats and "cmdstat_get" not in stats


def test_cancel_returns_the_unit_and_clears_sold_out(app, client):
    world = build(app, quota=1)
    alice, bob = residents(app, 2)
    booking_id = _book(client, world, alice.token).json["id"]
    assert _book(client, world, bob.token).json["error"]["code"] == "sold_out"

    cancelled = client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=auth(alice.token))

    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    for _ in range(50):
        retry = _book(client, world, bob.token)
        if retry.status_code == 201:
            break
        import time
        time.sleep(0.05)
    assert retry.status_code == 201
    again = client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=auth(alice.token))
    assert (again.status_code, again.json["error"]["code"]) == (409, "not_cancellable")


def test_cancelled_booking_frees_the_person_to_book_again(app, client):
    world = build(app)
    (alice,) = residents(app, 1)
    first = _book(client, world, alice.token).json["id"]
    client.post(f"/api/v1/bookings/{first}/cancel", headers=auth(alice.token))

    assert _book(client, world, alice.token).status_code == 201


def test_same_idempotency_key_gets_the_same_answer(app, client):
    world = build(app)
    (alice,) = residents(app, 1)
    headers = {"Idempotency-Key": "tap-1"}

    first = _book(client, world, alice.token, headers=headers)
    second = _book(client, world, alice.token, headers=headers)
    other_store = _book(client, world, alice.token, store=world.store_ids[1], headers=headers)

    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    assert other_store.status_code == 409
    assert other_store.json["error"]["code"] == "idempotency_key_reused"
    with app.app_context():
        from wx_backend.extensions import db
        assert db.session.query(Booking).count() == 1


def test_closed_window_names_the_next_opening(app, client):
    # A daily window that opens two hours from now, whatever the time of day.
    rules = load_preset("zhengzhou")
    opens = datetime.now(ZoneInfo(rules.get("timezone", "Asia/Shanghai"))) + timedelta(hours=2)
    rules["windows"] = [{"opens": f"{opens:%H}:00",
                         "closes": f"{opens + timedelta(hours=1):%H}:00", "quota": 100}]
    world = build(app, "zhengzhou", open_now=False, rules=rules)
    (alice,) = residents(app, 1)

    answer = _book(client, world, alice.token)

    error = answer.json["error"]
    assert (answer.status_code, error["code"]) == (409, "window_closed")
    assert error["next_opening"] and "下次开放时间" in error["message"]


@pytest.mark.parametrize("body, field", [
    ({"store_id": -1}, "store_id"),
    ({"store_id": "1"}, "store_id"),
    ({"store_id": 1.5}, "store_id"),
    ({"store_id": 10**30}, "store_id"),
    ({}, "store_id"),
    ({"store_id": 1, "pickup_slot": -1}, "pickup_slot"),
    ({"store_id": 1, "pickup_slot": 999}, "pickup_slot"),
    ({"store_id": 1, "quantity": 100}, "quantity"),
])
def test_bad_booking_bodies_take_nothing(app, client, body, field):
    world = build(app)
    (alice,) = residents(app, 1)

    answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings", json=body,
                         headers=auth(alice.token))

    assert answer.status_code == 422
    assert field in answer.json["error"]["fields"]
    assert _left(client, world)[0] == 10000


def test_unknown_campaign_store_and_other_campaigns_store(app, client):
    world = build(app)
    other = build(app)
    (alice,) = residents(app, 1)

    unknown_campaign = client.post("/api/v1/campaigns/999999/bookings", json={"store_id": 1},
                                   headers=auth(alice.token))
    unknown_store = _book(client, world, alice.token, store=999999)
    foreign_store = _book(client, world, alice.token, store=other.store_ids[0])

    assert (unknown_campaign.status_code, unknown_campaign.json["error"]["code"]) == (
        404, "campaign_not_found")
    assert unknown_store.json["error"]["code"] == "store_not_found"
    assert (foreign_store.status_code, foreign_store.json["error"]["code"]) == (
        404, "store_not_found")
    assert _left(client, world)[0] == 10000


def test_incomplete_profile_and_no_login_are_refused(app, client, residents):
    world = build(app)
    token = residents.login("newcomer")

    incomplete = _book(client, world, token)
    anonymous = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                            json={"store_id": world.store_ids[0]})

    assert (incomplete.status_code, incomplete.json["error"]["code"]) == (409, "profile_incomplete")
    assert anonymous.status_code == 401
    assert _left(client, world)[0] == 10000


def test_session_from_before_profile_completion_can_book(app, client, residents):
    world = build(app)
    token = residents.verified("late", "110105198506150014", "13812345678")

    assert _book(client, world, token).status_code == 201


def test_district_eligibility(app, client, residents):
    from wx_backend.campaigns.rules import load_preset
    rules = load_preset("zhengzhou")
    rules["eligibility"] = {"districts": ["金水区"]}
    world = build(app, rules=rules)
    token = residents.login("far")
    residents.put_profile(token, name="张三", id_number="110105198506150014",
                          phone="13812345678", address="洛阳市西工区中州路1号",
                          sms_code=residents.code_for(token, "13812345678"))

    answer = _book(client, world, token)

    assert (answer.status_code, answer.json["error"]["code"]) == (409, "not_eligible")


def test_campaign_shows_the_rules_version_in_force(app, client):
    world = build(app, "zhengzhou")

    body = client.get(f"/api/v1/campaigns/{world.campaign_id}").json

    assert body["rules_version"] == 1
    assert body["rules"]["limit"] == {"per": "person", "cooldown_days": 7}
    assert body["current_window"]["id"] == world.window_id
    assert "7天内不能再次预约" in body["summary"]


def test_stores_nearest_first(app, client):
    world = build(app, caps=(10, 10, 10))

    near_last = client.get(f"/api/v1/campaigns/{world.campaign_id}/stores",
                           query_string={"lat": 34.752, "lng": 113.652}).json["stores"]
    bad = client.get(f"/api/v1/campaigns/{world.campaign_id}/stores",
                     query_string={"lat": 200, "lng": "x"})

    assert [s["id"] for s in near_last] == [world.store_ids[2], world.store_ids[1],
                                            world.store_ids[0]]
    assert near_last[0]["distance_m"] < near_last[1]["distance_m"]
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"lat", "lng"}
