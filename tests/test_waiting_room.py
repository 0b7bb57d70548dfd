"""The waiting room (booking/waiting_room.py) against the real app, PostgreSQL, Redis and
the fake randomness beacon: a random order for those who joined before the cutoff that
anyone can recompute from the beacon's round and the published list, a room held while
the beacon cannot be reached, admission tokens checked on the booking path (across a key
rotation), one place per person, everyone told at once when the window sells out, and the
abuse limits."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest
import requests

from tests.conftest import _fresh
from tests.test_metrics import grew, scrape, value
from tests.worlds import auth, build, move_window, now
from tests.worlds import residents as people_of
from wx_backend.booking import waiting_room
from wx_backend.campaigns.rules import load_preset
from wx_backend.dev.clusters import Server, free_ports
from wx_backend.dev.fakes.beacon import FakeBeaconServer
from wx_backend.dev.fakes.beacon import randomness as beacon_randomness
from wx_backend.extensions import db
from wx_backend.identity import sessions
from wx_backend.identity.accounts import create_operator
from wx_backend.jobs import tasks


def _room_world(app, *, quota=100, rate=1000, opens_in=timedelta(minutes=10), caps=(100,) * 3):
    data = load_preset("zhengzhou")
    data["waiting_room"] = {"enabled": True, "admit_per_second": rate}
    start = now() + opens_in
    data["windows"] = [{"opens_at": start.isoformat(),
                        "closes_at": (start + timedelta(minutes=30)).isoformat(),
                        "quota": quota}]
    return build(app, rules=data, open_now=False, caps=caps)


def _open(app, world, *, ago=timedelta(seconds=30)):
    """Move the window so that it opened ``ago`` (as if the clock had reached it)."""
    opened = now() - ago
    move_window(app, world.window_id, opened, opened + timedelta(minutes=30))


def _join(client, world, person):
    answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/room",
                         headers=auth(person.token))
    assert answer.status_code == 200, answer.json
    return answer.json


def _poll(client, world, ticket):
    answer = client.get(f"/api/v1/campaigns/{world.campaign_id}/room",
                        query_string={"ticket": ticket})
    assert answer.status_code == 200, answer.json
    return answer.json


def _book(client, world, person, admission=None, store=0, **headers):
    body = {"store_id": world.store_ids[store]}
    if admission is not None:
        body["admission"] = admission
    return client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings", json=body,
                       headers={**auth(person.token), **headers})


def test_early_joiners_get_a_random_order_anyone_can_recompute(app, client, monkeypatch):
    # Scored seven at a time, as a crowd is scored a thousand at a time.
    monkeypatch.setattr(waiting_room, "RANK_CHUNK", 7)
    world = _room_world(app)
    people = people_of(app, 40)
    joined = [_join(client, world, person) for person in people]
    assert [j["join_no"] for j in joined] == list(range(1, 41))
    assert {j["status"] for j in joined} == {"before_opening"}
    assert all(j["position"] is None and j["early"] for j in joined)
    # The room names the beacon round that will order it, out after the cutoff.
    shown = joined[0]["beacon_round"]
    assert isinstance(shown, int) and not joined[0]["ordered"]
    assert joined[0]["beacon_at"] > joined[0]["sorted_at"] and joined[0]["poll_after_ms"] >= 1000
    # Joining again (the same person, another time) keeps the place.
    assert _join(client, world, people[3])["join_no"] == 4
    # Before the round is out there is no randomness to publish, and no list.
    proof = client.get(f"/public/campaigns/{world.campaign_id}/windows/{world.window_id}/room.json")
    assert proof.status_code == 200 and proof.json["randomness"] is None
    assert proof.json["beacon_round"] == shown and proof.json["early"] == []

    _open(app, world, ago=timedelta(seconds=0.01))
    late = people_of(app, 2)
    late_places = [_join(client, world, person) for person in late]
    assert [p["join_no"] for p in late_places] == [41, 42]
    assert [p["position"] for p in late_places] == [41, 42]
    assert not late_places[0]["early"]

    polled = [_poll(client, world, j["ticket"]) for j in joined]
    positions = [p["position"] for p in polled]
    assert sorted(positions) == list(range(1, 41))
    assert positions != list(range(1, 41))  # not arrival order
    # The poll hands back a ticket that carries the position from now on.
    again = _poll(client, world, polled[0]["ticket"])
    assert again["position"] == positions[0]

    # The round that ordered it is the one the room named once its window had moved.
    round_used = polled[0]["beacon_round"]
    # After the window every place is published; anyone recomputes the order from the
    # beacon's round. The closing job keeps the proof in PostgreSQL, so it outlives the
    # room's Redis keys.
    _open(app, world, ago=timedelta(minutes=31))
    with app.app_context():
        assert tasks.close_window(world.window_id)["room_proof"] == "kept"
    stock_redis = app.extensions["stock_redis"]
    stock_redis.delete(*stock_redis.keys(f"wx:{{r:{world.window_id}}}:*"))
    proof = client.get(f"/public/campaigns/{world.campaign_id}/windows/{world.window_id}/room.json")
    published = proof.json
    assert published["beacon_round"] == round_used
    assert published["randomness"] == beacon_randomness(round_used)
    assert published["admissions_from"] == published["opens_at"]  # nothing waited
    assert published["early_count"] == 40 and published["late_count"] == 2
    early = [row["join_no"] for row in published["early"]]
    order = waiting_room.recompute_order(published["randomness"], world.window_id, early)
    assert [order.index(j["join_no"]) + 1 for j in joined] == positions
    assert [row["tag"] for row in published["early"]] == [j["tag"] for j in joined]
    csv_text = client.get(
        f"/public/campaigns/{world.campaign_id}/windows/{world.window_id}/room.csv").text
    assert csv_text.lstrip("\ufeff").splitlines()[0].startswith("入场编号,凭证标记,排队位置")
    assert len(csv_text.splitlines()) == 1 + 42


def test_whether_a_join_is_early_is_redis_s_call_not_the_callers(app, client):
    world = _room_world(app)
    first, second = people_of(app, 2)
    assert _join(client, world, first)["early"]
    _open(app, world, ago=timedelta(seconds=1))  # the cutoff was a minute ago
    rooms = app.extensions["rooms"]
    with app.app_context():
        snapshot = app.extensions["directory"].snapshot(db.session, world.campaign_id, now())
        window = next(w for w in snapshot.windows if w.id == world.window_id)
        # A caller that says it is still well before the cutoff does not get in early.
        ticket = rooms.join(campaign_id=world.campaign_id, settings=snapshot.rules.waiting_room,
                            window=window, person_key=second.person_key,
                            now=now() - timedelta(minutes=5))
    assert not ticket.early and ticket.join_no == ticket.position == 2


def test_admission_is_given_in_turn_and_checked_on_the_booking_path(app, client):
    world = _room_world(app, rate=2)
    people = people_of(app, 6)
    tickets = [_join(client, world, person)["ticket"] for person in people]
    _open(app, world, ago=timedelta(seconds=1.2))
    polled = [_poll(client, world, t) for t in tickets]
    admitted = [p for p in polled if p["status"] == "admitted"]
    waiting = [p for p in polled if p["status"] == "waiting"]
    # Two places a second from the opening: each poll is admitted exactly when its place
    # has come up (two or so by now), the others wait.
    assert len(admitted) >= 2 and len(waiting) >= 3
    assert sorted(p["position"] for p in polled) == list(range(1, 7))
    assert all(p["position"] <= p["serving"] for p in admitted)
    for p in waiting:
        assert p["position"] > p["serving"]
        assert p["ahead"] == p["position"] - p["serving"] - 1 and p["wait_seconds"] >= 1
        # Within ninety seconds of the turn: the admission comes now, good from the turn
        # on, and the page is told to book then rather than ask again.
        turn = datetime.fromisoformat(p["admission_from"])
        assert turn == datetime.fromisoformat(p["opens_at"]) + timedelta(
            seconds=p["position"] / 2)
        assert abs(p["poll_after_ms"] / 1000 - (turn - now()).total_seconds()) < 1
    first = people[polled.index(admitted[0])]
    second = people[polled.index(admitted[1])]
    third = people[polled.index(waiting[0])]

    # No token, a forged one, someone else's, an expired one: refused on both paths.
    for headers in ({}, {"Idempotency-Key": "try-1"}):
        refused = _book(client, world, third, **headers)
        assert refused.status_code == 403 and refused.json["error"]["code"] == "not_admitted"
        forged = admitted[0]["admission"][:-3] + "abc"
        refused = _book(client, world, first, forged, **headers)
        assert refused.json["error"]["code"] == "admission_invalid"
        refused = _book(client, world, third, admitted[0]["admission"], **headers)
        assert refused.json["error"]["code"] == "admission_invalid"
        rooms = app.extensions["rooms"]
        expired = rooms.signer.admission(world.window_id, admitted[0]["tag"],
                                         int(time.time() - 200) * 1000, int(time.time()) - 1)
        refused = _book(client, world, first, expired, **headers)
        assert refused.json["error"]["code"] == "admission_expired"
    # An admission used before its turn: wait and try again at the turn.
    last = max(waiting, key=lambda p: p["position"])  # its turn is 3 s after the opening
    early = _book(client, world, people[polled.index(last)], last["admission"])
    assert early.status_code == 429 and early.json["error"]["code"] == "admission_not_yet"
    assert 1 <= early.json["error"]["retry_after"] <= 3
    made = _book(client, world, first, admitted[0]["admission"])
    assert made.status_code == 201, made.json
    made = _book(client, world, second, admitted[1]["admission"], **{"Idempotency-Key": "k2"})
    assert made.status_code == 201, made.json


def test_one_place_per_person_whatever_the_account_or_device(app, client, residents):
    world = _room_world(app)
    (person,) = people_of(app, 1)
    first = _join(client, world, person)
    # The same person on a second phone: another session, the same place.
    other_device = sessions.issue(app.extensions["redis"], person.id, 3600,
                                  person.person_key).token
    answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/room",
                         headers=auth(other_device))
    assert answer.json["join_no"] == first["join_no"] and answer.json["tag"] == first["tag"]
    # A second WeChat account cannot take the same ID number, so it has no place of its own.
    token = residents.login("second-account")
    refused = residents.put_profile(token, name=person.name, id_number=person.id_number,
                                    phone="13912345678",
                                    sms_code=residents.code_for(token, "13912345678"))
    assert refused.status_code == 409
    answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/room", headers=auth(token))
    assert answer.status_code == 409 and answer.json["error"]["code"] == "profile_incomplete"
    assert _poll(client, world, first["ticket"])["joined"] == 1


def test_everyone_waiting_is_told_when_the_window_sells_out(app, client):
    world = _room_world(app, quota=3, rate=4, caps=(3, 3, 3))
    people = people_of(app, 12)
    tickets = [_join(client, world, person)["ticket"] for person in people]
    _open(app, world, ago=timedelta(seconds=0.8))
    time.sleep(waiting_room.BOARD_REFRESH)  # the room's board sees the window loaded
    polled = [_poll(client, world, t) for t in tickets]
    admitted = [(person, p) for person, p in zip(people, polled) if p["status"] == "admitted"]
    assert len(admitted) == 4
    # Places beyond what is left (3 portions after the 4 admitted, and a second's worth)
    # are not handed an admission ahead: they look again later.
    last = next(p for p in polled if p["position"] == 12)
    assert last["admission"] is None and last["poll_after_ms"] >= 1000
    answers = [_book(client, world, person, p["admission"], store=n % 3)
               for n, (person, p) in enumerate(admitted)]
    assert [a.status_code for a in answers] == [201, 201, 201, 409]
    assert answers[-1].json["error"]["code"] == "sold_out"
    time.sleep(waiting_room.BOARD_REFRESH)
    after = [_poll(client, world, t) for t in tickets]
    assert {p["status"] for p in after} == {"sold_out"}
    assert all(p["poll_after_ms"] is None for p in after)
    (latecomer,) = people_of(app, 1)
    refused = client.post(f"/api/v1/campaigns/{world.campaign_id}/room",
                          headers=auth(latecomer.token))
    assert refused.status_code == 409 and refused.json["error"]["code"] == "sold_out"


def test_a_room_whose_beacon_is_down_at_the_opening_waits_for_its_round(make_app,
                                                                         fake_wechat):
    port = free_ports(1)[0]  # where the beacon will answer once it is back
    app = _fresh(make_app(DRAW_BEACON_URL=f"http://127.0.0.1:{port}/"), fake_wechat)
    client = app.test_client()
    world = _room_world(app, rate=2)
    early, late = people_of(app, 5), people_of(app, 2)
    tickets = [_join(client, world, person)["ticket"] for person in early]
    _open(app, world, ago=timedelta(seconds=1))
    late_tickets = [_join(client, world, person)["ticket"] for person in late]
    time.sleep(waiting_room.BOARD_REFRESH)
    # No value: the early joiners have no place, and nobody is admitted, late joiners
    # included (they would otherwise go before the early ones).
    polled = [_poll(client, world, t) for t in tickets + late_tickets]
    time.sleep(waiting_room.BOARD_REFRESH)
    polled = [_poll(client, world, t) for t in tickets + late_tickets]
    assert all(p["held"] and not p["ordered"] and p["serving"] == 0 for p in polled)
    assert [p["position"] for p in polled] == [None] * 5 + [6, 7]
    assert all(p["admission"] is None and p["status"] == "waiting" for p in polled)
    assert all(p["poll_after_ms"] <= 3000 for p in polled)
    assert value(scrape(client), "wx_room_held", campaign=str(world.campaign_id),
                 window=str(world.window_id)) == 1
    proof = client.get(f"/public/campaigns/{world.campaign_id}/windows/{world.window_id}"
                       "/room.json").json
    assert proof["early_count"] == 5 and proof["randomness"] is None
    assert proof["admissions_from"] is None

    beacon = FakeBeaconServer(port).start()
    try:
        def placed():
            answers = [_poll(client, world, t) for t in tickets]
            return answers if all(a["position"] for a in answers) else None

        deadline = time.monotonic() + 15
        while not (answers := placed()):
            assert time.monotonic() < deadline, "the room was never put in order"
            time.sleep(0.2)
    finally:
        beacon.stop()
    assert sorted(a["position"] for a in answers) == [1, 2, 3, 4, 5]
    proof = client.get(f"/public/campaigns/{world.campaign_id}/windows/{world.window_id}"
                       "/room.json").json
    # The order comes from the round the window names, and admissions start from the
    # moment it was known, not from the opening that had passed: the places keep their
    # spacing, the early ones first.
    assert proof["randomness"] == beacon_randomness(proof["beacon_round"])
    started = datetime.fromisoformat(proof["admissions_from"])
    assert started >= datetime.fromisoformat(proof["opens_at"]) + timedelta(seconds=1)
    order = waiting_room.recompute_order(proof["randomness"], world.window_id, [1, 2, 3, 4, 5])
    assert [order.index(n) + 1 for n in range(1, 6)] == [a["position"] for a in answers]
    for answer in answers:
        assert not answer["held"] and answer["admission"] is not None
        turn = datetime.fromisoformat(answer["admission_from"])
        expected = started + timedelta(seconds=answer["position"] / 2)
        assert abs((turn - expected).total_seconds()) < 0.01
    time.sleep(waiting_room.BOARD_REFRESH)
    assert value(scrape(client), "wx_room_held", campaign=str(world.campaign_id),
                 window=str(world.window_id)) == 0


def test_a_window_that_closes_while_the_beacon_is_down_publishes_its_order_later(
        make_app, fake_wechat):
    port = free_ports(1)[0]
    app = _fresh(make_app(DRAW_BEACON_URL=f"http://127.0.0.1:{port}/"), fake_wechat)
    client = app.test_client()
    world = _room_world(app)
    tags = [_join(client, world, person)["tag"] for person in people_of(app, 4)]
    _open(app, world, ago=timedelta(minutes=31))  # over before anyone was placed
    with app.app_context():
        assert tasks.close_window(world.window_id)["room_proof"] == "pending"
    url = f"/public/campaigns/{world.campaign_id}/windows/{world.window_id}/room.json"
    pending = client.get(url).json
    assert pending["early_count"] == 4 and pending["randomness"] is None
    assert pending["early"] == []
    # The list is kept in PostgreSQL meanwhile: the room's Redis keys may go.
    stock_redis = app.extensions["stock_redis"]
    stock_redis.delete(*stock_redis.keys(f"wx:{{r:{world.window_id}}}:*"))
    beacon = FakeBeaconServer(port).start()
    try:
        deadline = time.monotonic() + 10
        while (proof := client.get(url).json)["randomness"] is None:
            assert time.monotonic() < deadline, "the proof was never completed"
            time.sleep(0.2)
    finally:
        beacon.stop()
    assert proof["randomness"] == beacon_randomness(proof["beacon_round"])
    assert proof["admissions_from"] is None  # nobody was admitted while it was open
    order = waiting_room.recompute_order(proof["randomness"], world.window_id, [1, 2, 3, 4])
    assert [(row["tag"], row["position"]) for row in proof["early"]] == [
        (tag, order.index(n) + 1) for n, tag in enumerate(tags, 1)]


def test_places_and_admissions_outlive_a_rotation_of_the_server_key(app, client, make_app):
    world = _room_world(app, rate=2)
    people = people_of(app, 3)
    tickets = [_join(client, world, person)["ticket"] for person in people]
    _open(app, world, ago=timedelta(seconds=2))
    polled = [_poll(client, world, t) for t in tickets]
    assert all(p["status"] == "admitted" for p in polled)
    rotated = make_app(SECRET_KEY="a-rotated-secret", SECRET_KEY_FALLBACKS=["test-secret"])
    after = rotated.test_client()
    # A ticket signed before the rotation still reads, with its place.
    again = after.get(f"/api/v1/campaigns/{world.campaign_id}/room",
                      query_string={"ticket": polled[0]["ticket"]})
    assert again.status_code == 200 and again.json["position"] == polled[0]["position"]
    # An admission handed out before it still books.
    assert _book(after, world, people[0], polled[0]["admission"]).status_code == 201
    # Joining again after it: the same place, under the tag already published, and a fresh
    # admission that books.
    rejoined = _join(after, world, people[1])
    assert (rejoined["join_no"], rejoined["tag"]) == (polled[1]["join_no"], polled[1]["tag"])
    assert rejoined["position"] == polled[1]["position"] and rejoined["admission"]
    assert _book(after, world, people[1], rejoined["admission"], store=1).status_code == 201
    # Once the old key is dropped from the fallbacks, what it signed is refused.
    dropped = make_app(SECRET_KEY="a-rotated-secret").test_client()
    stale = dropped.get(f"/api/v1/campaigns/{world.campaign_id}/room",
                        query_string={"ticket": polled[2]["ticket"]})
    assert stale.status_code == 403 and stale.json["error"]["code"] == "invalid_ticket"
    refused = _book(dropped, world, people[2], polled[2]["admission"])
    assert refused.status_code == 403 and refused.json["error"]["code"] == "admission_invalid"


def test_the_room_is_ordered_and_published_on_a_redis_cluster(cluster_app):
    app, client = cluster_app, cluster_app.test_client()
    world = _room_world(app, rate=1000)
    people = people_of(app, 8)
    tickets = [_join(client, world, person)["ticket"] for person in people[:6]]
    _open(app, world, ago=timedelta(seconds=1))
    late = [_join(client, world, person) for person in people[6:]]
    polled = [_poll(client, world, t) for t in tickets]
    assert sorted(p["position"] for p in polled) == [1, 2, 3, 4, 5, 6]
    assert [p["position"] for p in late] == [7, 8]
    assert all(p["status"] == "admitted" for p in polled)
    assert _book(client, world, people[0], polled[0]["admission"]).status_code == 201
    _open(app, world, ago=timedelta(minutes=31))
    proof = client.get(f"/public/campaigns/{world.campaign_id}/windows/{world.window_id}"
                       "/room.json").json
    order = waiting_room.recompute_order(proof["randomness"], world.window_id,
                                         [1, 2, 3, 4, 5, 6])
    assert [row["position"] for row in proof["early"]] == [order.index(n) + 1
                                                            for n in range(1, 7)]
    assert [row["position"] for row in proof["early"]] == [p["position"] for p in polled]


@pytest.fixture
def own_stock_redis(make_app, fake_wechat, tmp_path):
    """An app whose hot-path Redis is a server of its own, so its command count is this
    test's alone."""
    server = Server(tmp_path / "stock", free_ports(1)[0]).start()
    try:
        yield _fresh(make_app(STOCK_REDIS_URL=f"redis://127.0.0.1:{server.port}/0"),
                     fake_wechat)
    finally:
        server.stop()


def test_polls_are_answered_from_memory(own_stock_redis):
    app, client = own_stock_redis, own_stock_redis.test_client()
    world = _room_world(app, rate=1)
    people = people_of(app, 5)
    tickets = [_join(client, world, person)["ticket"] for person in people]
    _open(app, world, ago=timedelta(seconds=0.5))
    tickets = [_poll(client, world, t)["ticket"] for t in tickets]  # positions learnt once
    stock_redis = app.extensions["stock_redis"]
    before = stock_redis.info("stats")["total_commands_processed"]
    started = time.monotonic()
    for _ in range(20):
        for ticket in tickets:
            answer = client.get(f"/api/v1/campaigns/{world.campaign_id}/room",
                                query_string={"ticket": ticket})
            assert answer.status_code == 200 and answer.headers["Retry-After"]
    spent = time.monotonic() - started
    used = stock_redis.info("stats")["total_commands_processed"] - before
    # The board is refreshed every BOARD_REFRESH seconds (a pipeline of three, and the
    # window's count: two more commands and one a store), and the INFO call itself
    # counts: nothing per poll.
    assert used <= 9 * (spent / waiting_room.BOARD_REFRESH + 2) + 1 < 100


def test_bad_tickets_and_rooms_that_do_not_exist(app, client):
    world = _room_world(app)
    plain = build(app, quota=10)
    (person,) = people_of(app, 1)
    url = f"/api/v1/campaigns/{world.campaign_id}/room"
    # A ticket longer than any ticket breaks the query's schema; one that is not genuine is
    # a proof refused.
    for ticket, status in (("a" * 401, 422), ("nonsense", 403),
                           (_join(client, world, person)["ticket"] + "x", 403)):
        answer = client.get(url, query_string={"ticket": ticket})
        assert answer.status_code == status, ticket
    ticket = _join(client, world, person)["ticket"]
    other = client.get(f"/api/v1/campaigns/{plain.campaign_id}/room",
                       query_string={"ticket": ticket})
    assert other.status_code == 409 and other.json["error"]["code"] == "no_waiting_room"
    assert client.post(url).status_code == 401
    assert client.get("/api/v1/campaigns/999999/room").status_code == 404
    # Without a room, the booking needs no admission.
    assert _book(client, plain, person).status_code == 201


def test_the_room_opens_for_joining_shortly_before_the_window(app, client):
    world = _room_world(app, opens_in=timedelta(hours=2))
    (person,) = people_of(app, 1)
    refused = client.post(f"/api/v1/campaigns/{world.campaign_id}/room",
                          headers=auth(person.token))
    assert refused.status_code == 409 and refused.json["error"]["code"] == "room_not_open"
    assert "30分钟" in refused.json["error"]["message"]
    public = client.get(f"/api/v1/campaigns/{world.campaign_id}/room")
    assert public.status_code == 200 and public.json["status"] == "before_opening"


@pytest.mark.parametrize("path", ["bookings", "room"])
def test_a_script_hammering_is_refused_and_a_resident_is_not(make_app, fake_wechat, path):
    app = _fresh(make_app(ATTEMPTS_PER_PERSON=5, ATTEMPTS_PER_ADDRESS=12), fake_wechat)
    world = _room_world(app, opens_in=timedelta(minutes=5))
    client = app.test_client()
    people = people_of(app, 3)
    url = f"/api/v1/campaigns/{world.campaign_id}/{path}"
    body = {"store_id": world.store_ids[0]} if path == "bookings" else None
    answers = [client.post(url, json=body, headers=auth(people[0].token)).status_code
               for _ in range(6)]
    assert answers[:5] != [429] * 5 and answers[5] == 429
    refused = client.post(url, json=body, headers=auth(people[0].token))
    assert refused.json["error"]["code"] == "too_many_attempts"
    assert 1 <= refused.json["error"]["retry_after"] <= 60
    assert refused.headers["Retry-After"] == str(refused.json["error"]["retry_after"])
    # Another person from the same address goes on until the address's own limit.
    others = [client.post(url, json=body, headers=auth(people[1 + n % 2].token)).status_code
              for n in range(6)]
    assert 429 not in others[:5] and others[-1] == 429
    # Reading is never limited.
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}").status_code == 200


def test_metrics_and_the_dashboard_read_the_room(app, client, live_server):
    world = _room_world(app, rate=2)
    people = people_of(app, 6)
    before = scrape(client)
    tickets = [_join(client, world, person)["ticket"] for person in people]
    _join(client, world, people[0])  # again: no second place, not counted again
    _open(app, world, ago=timedelta(seconds=1.2))
    polled = [_poll(client, world, t) for t in tickets]
    time.sleep(waiting_room.BOARD_REFRESH)
    after = scrape(client)
    campaign, window = str(world.campaign_id), str(world.window_id)
    assert grew(before, after, "wx_room_joins_total", campaign=campaign) == 6
    # Every place within ninety seconds of its turn was handed its admission.
    assert grew(before, after, "wx_room_admissions_total", campaign=campaign) == sum(
        p["admission"] is not None for p in polled) == 6
    assert value(after, "wx_room_joined", campaign=campaign, window=window) == 6
    serving = value(after, "wx_room_serving", campaign=campaign, window=window)
    assert serving >= 2  # two places a second since the opening
    assert value(after, "wx_room_waiting", campaign=campaign, window=window) == max(
        0, 6 - serving)
    # The operator's dashboard shows the same reading.
    with app.app_context():
        create_operator(db.session, "operator.qian", "a long enough password")
        db.session.commit()
    browser = requests.Session()
    page = browser.get(f"{live_server}/console/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    browser.post(f"{live_server}/console/login", timeout=10, data={
        "csrf_token": token, "role": "operator", "username": "operator.qian",
        "password": "a long enough password"})
    shown = browser.get(f"{live_server}/console/operator/windows/{world.window_id}/figures",
                        timeout=10)
    assert shown.status_code == 200
    room = re.search(r'id="fig-room">(\d+)<small> 人等待 · (\d+) / (\d+)', shown.text)
    waiting, joined, admitted = map(int, room.groups())  # two more admitted every second
    assert joined == 6 and admitted >= 2 and waiting + admitted == 6
    order = re.search(r'id="fig-room-order" data-order="(\w+)">([^<]+)<small> · 信标第 (\d+) 轮',
                      shown.text)
    assert order.groups() == ("ordered", "已排序", str(polled[0]["beacon_round"]))
    assert value(after, "wx_room_held", campaign=campaign, window=window) == 0
