"""The waiting room's order, recomputed by an outsider from what the room publishes.

Written from docs/waiting_room.md ("The order, and how anyone can check it") alone: the
room.json fields, the rule for the beacon round, the key of an early joiner and the
room.csv columns. Nothing here imports the room's own code. A window runs in real time
(no clock moved): residents join before the cutoff and after it, are placed as the room
tells them, and the window closes; the places they were given must be the ones anyone
recomputes, and the round's randomness must be the beacon's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from datetime import datetime, timedelta

import requests

from tests.worlds import auth, build, now
from tests.worlds import residents as people_of
from wx_backend.campaigns.rules import load_preset
from wx_backend.extensions import db
from wx_backend.jobs import tasks

CUTOFF_MARGIN = 2  # seconds: the round is the first out strictly after sorted_at plus this


def _key(randomness: str, window_id: int, join_no: int) -> tuple[int, int]:
    """Early joiner ``join_no``'s key, as the docs give it: the first 13 hex digits of
    SHA-1("<randomness>:<window_id>:<n>") as a number, then the join number."""
    text = f"{randomness}:{window_id}:{join_no}"
    return int(hashlib.sha1(text.encode()).hexdigest()[:13], 16), join_no


def _places(randomness: str, window_id: int, early_count: int) -> dict[int, int]:
    order = sorted(range(1, early_count + 1), key=lambda n: _key(randomness, window_id, n))
    return {n: place for place, n in enumerate(order, 1)}


def _wait_until(condition, what: str, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"waited {seconds:g} s for {what}"
        time.sleep(0.1)
    return found


def test_anyone_recomputes_the_places_residents_were_given_from_the_published_proof(
        app, client):
    early_people, late_people = people_of(app, 14), people_of(app, 4)
    # A window opening in 10 s whose early group closes 8 s before it, and that lasts a
    # second: long enough for the beacon's next round (every 3 s) to place everyone first.
    rules = load_preset("zhengzhou")
    rules["waiting_room"] = {"enabled": True, "admit_per_second": 50,
                             "sort_before_seconds": 8}
    opens = now() + timedelta(seconds=10)
    rules["windows"] = [{"opens_at": opens.isoformat(),
                         "closes_at": (opens + timedelta(seconds=1)).isoformat(),
                         "quota": 100}]
    world = build(app, rules=rules, open_now=False)
    url = f"/api/v1/campaigns/{world.campaign_id}/room"

    def join(person) -> dict:
        answer = client.post(url, headers=auth(person.token))
        assert answer.status_code == 200, answer.json
        return answer.json

    early = [join(person) for person in early_people]
    assert all(j["early"] for j in early), "the early residents joined after the cutoff"
    cutoff = datetime.fromisoformat(early[0]["sorted_at"])
    named = early[0]["beacon_round"]  # the room names its round before anyone is placed
    assert isinstance(named, int) and all(j["position"] is None for j in early)
    _wait_until(lambda: now() > cutoff, "the cutoff")
    late = [join(person) for person in late_people]
    assert not any(j["early"] for j in late)

    # Each resident polls (as the page does) until the room gives them a place.
    given = {j["join_no"]: j for j in late}
    tickets = {j["join_no"]: j["ticket"] for j in early}

    def everyone_placed() -> bool:
        for join_no, ticket in list(tickets.items()):
            answer = client.get(url, query_string={"ticket": ticket}).json
            if answer["position"] is not None:
                given[join_no] = answer
                del tickets[join_no]
        return not tickets

    _wait_until(everyone_placed, "every early resident's place")
    assert all(given[n]["status"] == "before_opening" for n in range(1, 15))

    # The window closes; the closing job keeps the proof.
    closes = opens + timedelta(seconds=1)
    _wait_until(lambda: now() >= closes, "the window's end")
    with app.app_context():
        tasks.close_window(world.window_id)
        db.session.commit()
    base = f"/public/campaigns/{world.campaign_id}/windows/{world.window_id}"
    proof = client.get(f"{base}/room.json").json
    table = client.get(f"{base}/room.csv").get_data(as_text=True)

    # The round is the first the beacon put out strictly after sorted_at plus 2 seconds,
    # the one the room named; its randomness is the beacon's.
    assert proof["window_id"] == world.window_id and proof["beacon_round"] == named
    beacon = proof["beacon_url"]
    info = requests.get(f"{beacon}info", timeout=5).json()
    genesis, period = info["genesis_time"], info["period"]
    moment = datetime.fromisoformat(proof["sorted_at"]).timestamp() + CUTOFF_MARGIN
    out = genesis + (named - 1) * period
    assert out > moment >= out - period
    assert datetime.fromisoformat(proof["beacon_at"]).timestamp() == out
    published = requests.get(f"{beacon}public/{named}", timeout=5).json()
    assert proof["randomness"] == published["randomness"]

    # The order, recomputed: every published place, and the place each resident was given.
    assert (proof["early_count"], proof["late_count"]) == (14, 4)
    places = _places(proof["randomness"], proof["window_id"], proof["early_count"])
    assert sorted(places.values()) == list(range(1, 15))
    assert [row["join_no"] for row in proof["early"] + proof["late"]] == list(range(1, 19))
    for row in proof["early"]:
        assert row["position"] == places[row["join_no"]]
    for row in proof["late"]:
        assert row["position"] == row["join_no"]
    for row in proof["early"] + proof["late"]:
        resident = given[row["join_no"]]
        assert (resident["position"], resident["tag"]) == (row["position"], row["tag"])
    assert [given[n]["position"] for n in range(1, 15)] != list(range(1, 15))
    # Nothing waited for the beacon: admissions started at the opening.
    assert proof["admissions_from"] == proof["opens_at"]

    # The CSV is the same list, and with the JSON's randomness gives the same places.
    rows = list(csv.reader(io.StringIO(table.lstrip("\ufeff"))))
    assert table.startswith("\ufeff")
    assert rows[0] == ["入场编号", "凭证标记", "排队位置", "开始前进入"]
    assert rows[1:] == ([[str(r["join_no"]), r["tag"], str(r["position"]), "是"]
                         for r in proof["early"]]
                        + [[str(r["join_no"]), r["tag"], str(r["position"]), "否"]
                           for r in proof["late"]])
    from_csv = _places(proof["randomness"], proof["window_id"],
                       sum(1 for row in rows[1:] if row[3] == "是"))
    assert all(int(row[2]) == from_csv[int(row[0])] for row in rows[1:] if row[3] == "是")
