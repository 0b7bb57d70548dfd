"""Pickup by pharmacy staff, expiry after the pickup window, and the public daily list."""

from __future__ import annotations

import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import update

from tests.worlds import auth, build, now, residents
from wx_backend.booking import public_list
from wx_backend.core.pii import mask_id_number, mask_id_public, mask_name
from wx_backend.dev.residents import make_residents
from wx_backend.extensions import db, pii
from wx_backend.models import Booking

PASSWORD = "counter-pass-2020"


def _staff(app, store_id, username):
    result = app.test_cli_runner().invoke(args=["staff", "create", "--store", str(store_id),
                                                "--username", username, "--password", PASSWORD])
    assert result.exit_code == 0, result.output


def _staff_token(client, username):
    answer = client.post("/api/v1/staff/login", json={"username": username,
                                                      "password": PASSWORD})
    assert answer.status_code == 200, answer.json
    return answer.json["token"]


def _pickup_open(app, booking_id, starts=-1, ends=1):
    with app.app_context():
        db.session.execute(update(Booking).where(Booking.id == booking_id).values(
            pickup_starts_at=now() + timedelta(hours=starts),
            pickup_ends_at=now() + timedelta(hours=ends)))
        db.session.commit()


@pytest.fixture
def booked(app, client):
    world = build(app, "zhengzhou")
    alice, bob = residents(app, 2)
    body = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                       json={"store_id": world.store_ids[0]}, headers=auth(alice.token)).json
    _staff(app, world.store_ids[0], "counter1")
    _staff(app, world.store_ids[1], "counter2")
    return world, alice, body


def _redeem(client, token, **body):
    return client.post("/api/v1/staff/redemptions", json=body, headers=auth(token))


def test_redeem_by_code_once(app, client, booked):
    world, alice, body = booked
    _pickup_open(app, body["id"])
    staff = _staff_token(client, "counter1")

    first = _redeem(client, staff, pickup_code=body["pickup_code"], id_last4=alice.id_number[-4:])
    second = _redeem(client, staff, pickup_code=body["pickup_code"], id_last4=alice.id_number[-4:])

    assert first.status_code == 200
    assert first.json["status"] == "collected" and first.json["holder"] == mask_name(alice.name)
    assert (second.status_code, second.json["error"]["code"]) == (409, "already_collected")
    mine = client.get(f"/api/v1/bookings/{body['id']}", headers=auth(alice.token)).json
    assert mine["status"] == "collected"


def test_redeem_by_qr_token_with_a_delegate(app, client, booked):
    world, alice, body = booked
    _pickup_open(app, body["id"])
    staff = _staff_token(client, "counter1")
    with app.app_context():
        from wx_backend.booking import pickup
        row = db.session.get(Booking, body["id"])
        token = pickup.qr_token(app.config["SECRET_KEY"], row)

    answer = _redeem(client, staff, qr=token, id_last4=alice.id_number[-4:],
                     delegate={"name": "李四", "id_number": "110105198506150014"})

    assert answer.status_code == 200
    assert answer.json["delegate"] == "李*"
    with app.app_context():
        row = db.session.get(Booking, body["id"])
        assert row.delegate_id_number == "110105198506150014"


def test_a_qr_code_from_before_a_key_rotation_redeems_until_the_old_key_is_dropped(
        app, client, booked, make_app):
    world, alice, body = booked
    _pickup_open(app, body["id"])
    old_key, new_key = app.config["SECRET_KEY"], "rotated-secret-2026-03"
    shown = client.get(f"/api/v1/bookings/{body['id']}/qrcode.png", headers=auth(alice.token))
    with app.app_context():
        from wx_backend.booking import pickup
        token = pickup.qr_token(old_key, db.session.get(Booking, body["id"]))
    assert pickup.qr_png(token) == shown.data  # the very token the resident's code carries
    rotated = make_app(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=old_key).test_client()
    dropped = make_app(SECRET_KEY=new_key).test_client()
    staff = _staff_token(rotated, "counter1")

    reissued = rotated.get(f"/api/v1/bookings/{body['id']}/qrcode.png",
                           headers=auth(alice.token))
    after_drop = _redeem(dropped, staff, qr=token, id_last4=alice.id_number[-4:])
    during = _redeem(rotated, staff, qr=token, id_last4=alice.id_number[-4:])

    with app.app_context():
        row = db.session.get(Booking, body["id"])
        assert reissued.data == pickup.qr_png(pickup.qr_token(new_key, row))
    assert (after_drop.status_code, after_drop.json["error"]["code"]) == (404, "invalid_qr")
    assert (during.status_code, during.json["status"]) == (200, "collected")


def test_forged_qr_wrong_store_wrong_id_and_outside_window(app, client, booked):
    world, alice, body = booked
    counter1, counter2 = _staff_token(client, "counter1"), _staff_token(client, "counter2")
    last4 = alice.id_number[-4:]
    wrong4 = "0000" if last4 != "0000" else "1111"

    too_early = _redeem(client, counter1, pickup_code=body["pickup_code"], id_last4=last4)
    _pickup_open(app, body["id"])
    forged = _redeem(client, counter1, qr="eyJiIjoxLCJjIjoiMTIzNDU2In0.forged", id_last4=last4)
    with app.app_context():
        from wx_backend.booking import pickup
        qr = pickup.qr_token(app.config["SECRET_KEY"], db.session.get(Booking, body["id"]))
    wrong_store = _redeem(client, counter2, qr=qr, id_last4=last4)
    wrong_id = _redeem(client, counter1, pickup_code=body["pickup_code"], id_last4=wrong4)
    no_code = _redeem(client, counter1, id_last4=last4)
    anonymous = client.post("/api/v1/staff/redemptions", json={"pickup_code": "123456",
                                                                "id_last4": last4})

    assert (too_early.status_code,
            too_early.json["error"]["code"]) == (409, "outside_pickup_window")
    assert (forged.status_code, forged.json["error"]["code"]) == (404, "invalid_qr")
    assert (wrong_store.status_code, wrong_store.json["error"]["code"]) == (403, "wrong_store")
    assert (wrong_id.status_code, wrong_id.json["error"]["code"]) == (403, "id_mismatch")
    assert no_code.json["error"]["code"] == "code_required"
    assert anonymous.status_code == 401
    mine = client.get(f"/api/v1/bookings/{body['id']}", headers=auth(alice.token)).json
    assert mine["status"] == "confirmed"


def test_two_counters_scanning_at_once_collect_once(app, client, booked, live_server):
    world, alice, body = booked
    _pickup_open(app, body["id"])
    _staff(app, world.store_ids[0], "counter3")
    tokens = [_staff_token(client, "counter1"), _staff_token(client, "counter3")] * 4

    def scan(token):
        return requests.post(f"{live_server}/api/v1/staff/redemptions", timeout=30,
                             headers=auth(token),
                             json={"pickup_code": body["pickup_code"],
                                   "id_last4": alice.id_number[-4:]}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(scan, tokens))

    assert statuses == [200] + [409] * 7


def test_bad_staff_login(client, booked):
    answer = client.post("/api/v1/staff/login", json={"username": "counter1",
                                                       "password": "wrong-password"})

    assert (answer.status_code, answer.json["error"]["code"]) == (401, "bad_credentials")


def test_store_view_counts_today(app, client, booked):
    world, alice, body = booked
    staff = _staff_token(client, "counter1")

    answer = client.get("/api/v1/staff/store", headers=auth(staff))

    assert answer.status_code == 200
    assert answer.json["store"]["id"] == world.store_ids[0]
    assert answer.json["store"]["daily_cap"] == 100


@pytest.mark.parametrize("preset, keeps", [("zhengzhou", True), ("guangzhou", False)])
def test_expiry_follows_the_rules_on_cooldown(app, client, preset, keeps):
    world = build(app, preset)
    (alice,) = residents(app, 1)
    body = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                       json={"store_id": world.store_ids[0]}, headers=auth(alice.token)).json
    _pickup_open(app, body["id"], starts=-3, ends=-1)

    result = app.test_cli_runner().invoke(args=["bookings", "expire"])

    assert "1 bookings expired" in result.output
    mine = client.get(f"/api/v1/bookings/{body['id']}", headers=auth(alice.token)).json
    assert mine["status"] == "expired"
    again = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                        json={"store_id": world.store_ids[1]}, headers=auth(alice.token))
    if keeps:
        assert again.json["error"]["code"] == "already_booked"
    else:
        assert again.status_code == 201


def test_public_list_is_masked_and_skips_cancelled(app, client):
    world = build(app, "zhengzhou")
    people = residents(app, 3)
    bodies = [client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                          json={"store_id": world.store_ids[0]}, headers=auth(p.token)).json
              for p in people]
    client.post(f"/api/v1/bookings/{bodies[2]['id']}/cancel", headers=auth(people[2].token))
    with app.app_context():
        day = db.session.get(Booking, bodies[0]["id"]).cooldown_from.astimezone(
            __import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date()

    page = client.get(f"/public/campaigns/{world.campaign_id}/bookings/{day}")
    table = client.get(f"/public/campaigns/{world.campaign_id}/bookings/{day}.csv")
    bad_day = client.get(f"/public/campaigns/{world.campaign_id}/bookings/not-a-day")

    text = page.data.decode()
    csv_text = table.data.decode("utf-8-sig")
    assert page.status_code == 200 and "共 2 人" in text
    assert bodies[0]["reservation_no"] in text and bodies[2]["reservation_no"] not in text
    assert csv_text.splitlines()[0] == "序号,预约号,姓名,身份证号,药店,预约时间"
    assert len(csv_text.splitlines()) == 3
    for person in people:
        assert person.id_number not in text and person.id_number not in csv_text
    for person in people[:2]:
        assert mask_id_public(person.id_number) in text
        assert mask_id_public(person.id_number) in csv_text
    for person in people[:2]:
        assert person.name not in text and mask_name(person.name) in text
    assert bad_day.status_code == 404


SHANGHAI = ZoneInfo("Asia/Shanghai")


def _list_day(app, booking_id: int):
    """The day whose list a booking is on (the day its window opened, in Beijing)."""
    with app.app_context():
        return db.session.get(Booking, booking_id).cooldown_from.astimezone(SHANGHAI).date()


def _birth_date(number: str) -> str:
    """The birth date as printed in the number: YYYYMMDD, or YYMMDD on the 2017 card."""
    return number[5:11] if number[:3].isalpha() else number[6:14]


def test_the_public_list_shows_no_birth_date_and_none_of_the_last_four(app, client):
    """Every kind of document on the list: resident ID cards, the Hong Kong / Macau /
    Taiwan residence permits and both permanent residence cards. The last four characters
    are what the counter checks, so no published line has any of them in its place."""
    world = build(app, "zhengzhou")
    with app.app_context():  # people 0 to 69 of dev.people hold every kind of document
        people = make_residents(db.session, pii.vault, app.extensions["redis"], 70,
                                prefix="listed", first=0)
    kinds = {("2017" if p.id_number[:3].isalpha() else p.id_number[:1] if
              p.id_number[0] in "89" else "id") for p in people}
    assert kinds == {"id", "8", "9", "2017"}, kinds
    booked = {}
    for n, person in enumerate(people):
        answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                             json={"store_id": world.store_ids[n % 3]},
                             headers=auth(person.token))
        assert answer.status_code == 201, answer.json
        booked[answer.json["reservation_no"]] = person
    day = _list_day(app, answer.json["id"])

    table = client.get(f"/public/campaigns/{world.campaign_id}/bookings/{day}.csv")
    page = client.get(f"/public/campaigns/{world.campaign_id}/bookings/{day}").data.decode()

    rows = list(csv.reader(io.StringIO(table.data.decode("utf-8-sig"))))[1:]
    assert sorted(row[1] for row in rows) == sorted(booked)
    for row in rows:
        person, shown = booked[row[1]], row[3]
        assert len(shown) == len(person.id_number)
        for position in range(len(shown) - 4, len(shown)):
            assert shown[position] == "*", (person.id_number, shown)
        assert _birth_date(person.id_number) not in ",".join(row)
        assert _birth_date(person.id_number) not in page
        # What is left is the region, enough for the public to see the list is local.
        if person.id_number[:3].isalpha():
            assert shown == "***" + person.id_number[3:5] + "*" * 10
        elif person.id_number[0] == "9":
            assert shown == person.id_number[:3] + "*" * 15
        else:
            assert shown == person.id_number[:4] + "*" * 14
        assert f"<td class=\"num\">{shown}</td>" in page


def test_a_list_frozen_before_the_mask_changed_is_masked_again_when_read(app, client):
    world = build(app, "zhengzhou")
    numbers = {}
    for person in residents(app, 2):
        answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                             json={"store_id": world.store_ids[0]}, headers=auth(person.token))
        assert answer.status_code == 201, answer.json
        numbers[answer.json["reservation_no"]] = person.id_number
    day = _list_day(app, answer.json["id"])
    with app.app_context():
        lines = public_list.successful_bookings(db.session, world.campaign_id, day, SHANGHAI)
    for line in lines:  # as the older code froze it: region, county and the last four
        line["id_number"] = mask_id_number(numbers[line["reservation_no"]])
    app.extensions["redis"].set(public_list.published_key(world.campaign_id, day),
                                json.dumps(lines, ensure_ascii=False))

    table = client.get(f"/public/campaigns/{world.campaign_id}/bookings/{day}.csv")

    rows = list(csv.reader(io.StringIO(table.data.decode("utf-8-sig"))))[1:]
    assert len(rows) == 2
    for row in rows:
        assert row[3] == mask_id_public(numbers[row[1]])
        assert numbers[row[1]][-4:] not in row[3]
