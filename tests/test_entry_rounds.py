"""What a resident's entries say at every round of a draw and every state of a queue
(``GET /me/entries``, ``GET /draws/<id>``): the draw one took part in and one's rank there,
the ways to claim a win with their fees, the order with its collection point and tracking,
when one may enter again, and a registration's pharmacy, place in line and the pharmacy's
releases so far; and the ranks kept at the draw are the published ranking's lines."""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from pathlib import Path

import jsonschema_rs
import pytest
import requests
from sqlalchemy import select, update

from tests.official import run_jobs
from tests.worlds import auth, now, residents, store_csv
from wx_backend.booking import postal
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import load_preset
from wx_backend.extensions import db
from wx_backend.identity.accounts import create_community_staff, create_staff
from wx_backend.lottery import draw, pool
from wx_backend.models import Draw, DrawRank, Entry, PostalOrder, Resident, Store

PASSWORD = "a long enough password"
MIGRATION = (Path(__file__).resolve().parent.parent / "wx_backend" / "migrations" / "versions"
             / "0019_draw_ranks.py")


def _campaign(app, preset: str, stores: int = 2) -> tuple[int, list[int]]:
    with app.app_context():
        campaign = manage.create_campaign(db.session, f"{preset}-rounds", load_preset(preset),
                                          now() - timedelta(hours=1), preset=preset)
        manage.import_stores(db.session, campaign, store_csv([100] * stores), 100)
        ids = sorted(db.session.scalars(select(Store.id)
                                        .where(Store.campaign_id == campaign.id)))
        db.session.commit()
        return campaign.id, ids


def _live(app, client, people, campaign_id, body=None) -> dict:
    answers = {}
    for person in people:
        made = client.post(f"/api/v1/campaigns/{campaign_id}/entries", json=body or {},
                           headers=auth(person.token))
        assert made.status_code == 201, made.json
        answers[person.id] = made.json
    return answers


def _conforms(client, path: str, answer, method: str = "get") -> dict:
    """The answer's body, checked against what the spec says that route answers (every
    field declared, none missing, nulls only where allowed)."""
    spec = client.get("/api/v1/openapi.json").json
    declared = spec["paths"][path][method]["responses"][str(answer.status_code)]
    schema = declared["content"]["application/json"]["schema"]
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": spec["components"]})
    errors = [error.message for error in validator.iter_errors(answer.json)]
    assert errors == [], (path, errors)
    return answer.json


def _mine(client, person) -> list[dict]:
    answer = client.get("/api/v1/me/entries", headers=auth(person.token))
    assert answer.status_code == 200, answer.json
    return _conforms(client, "/api/v1/me/entries", answer)["entries"]


def _addresses(app, people, addresses) -> None:
    with app.app_context():
        for person, address in zip(people, addresses):
            db.session.get(Resident, person.id).address = address
        db.session.commit()


@pytest.fixture
def fuzhou(app):
    return _campaign(app, "fuzhou")


def test_the_ranks_kept_at_the_draw_are_the_published_ranking(app, client, fuzhou, tmp_path):
    campaign_id, _ = fuzhou
    people = residents(app, 7)
    entered = _live(app, client, people, campaign_id)
    with app.app_context():
        made = pool.commit_draw(db.session, campaign_id, 3, now())
        db.session.commit()
        before = client.get(f"/api/v1/draws/{made.id}", headers=auth(people[0].token)).json
        pool.run_draw(db.session, made.id, "公证员现场输入 5521", now())
        db.session.commit()
        ranking = pool.published_files(db.session.get(Draw, made.id))["ranking.csv"]
        kept = dict(db.session.execute(select(DrawRank.reservation_no, DrawRank.rank)
                                       .where(DrawRank.draw_id == made.id)).all())
        found = db.session.get(Draw, made.id)
        migration = importlib.util.spec_from_file_location("draw_ranks_0019", MIGRATION)
        module = importlib.util.module_from_spec(migration)
        migration.loader.exec_module(module)
        seed = bytes.fromhex(json.loads(found.result)["seed"])
        backfilled = module._ranked(found.entries_text, seed)
    lines = [line.split(",") for line in ranking.decode().splitlines()[1:]]
    assert kept == {number: int(rank) for rank, number, _ in lines}
    # The migration's backfill ranks a draw drawn before it exactly as the draw did.
    assert backfilled == [number for _, number, _ in lines]

    assert before["status"] == "committed" and before["public_value"] is None
    assert before["mine"] == [{"reservation_no": entered[people[0].id]["reservation_no"],
                               "rank": None, "won": None, "score": None}]
    for person in people:
        shown = _conforms(client, "/api/v1/draws/{draw_id}",
                          client.get(f"/api/v1/draws/{made.id}", headers=auth(person.token)))
        (line,) = shown["mine"]
        rank, number, score = next(row for row in lines if row[1] == line["reservation_no"])
        assert (line["rank"], line["score"], line["won"]) == (int(rank), score, int(rank) <= 3)
        assert shown["public_value"] == "公证员现场输入 5521"
        assert (shown["entries_count"], shown["quota"], shown["winners_count"]) == (7, 3, 3)
        assert shown["commitment_sha256"] == draw.load_commitment(found.commitment).digest
    # Someone who did not take part sees the draw, and no line of theirs.
    (outsider,) = residents(app, 1)
    assert client.get(f"/api/v1/draws/{made.id}", headers=auth(outsider.token)).json["mine"] == []
    assert client.get("/api/v1/draws/99999", headers=auth(outsider.token)).status_code == 404
    page = client.get(f"/public/draws/{made.id}",
                      query_string={"reservation_no": lines[4][1]}).get_data(as_text=True)
    assert "排名第 5 位" in page and "未中签" in page


def test_a_win_shows_its_ways_to_claim_then_its_order_then_when_to_enter_again(
        app, client, fuzhou):
    campaign_id, stores = fuzhou
    inside, outside, loser = residents(app, 3)
    _addresses(app, [inside, outside], ["福州市鼓楼区五四路100号3栋2单元201",
                                        "福州市闽侯县上街镇学府路8号1栋101"])
    _live(app, client, [inside, outside, loser], campaign_id)
    with app.app_context():
        made = pool.commit_draw(db.session, campaign_id, 2, now())
        db.session.commit()
        # A public value under which the two with addresses win and the third does not, as
        # a notary's value would fall one way or another.
        numbers = {p.id: db.session.scalar(select(Entry.reservation_no)
                                           .where(Entry.resident_id == p.id))
                   for p in (inside, outside, loser)}
        secret = bytes.fromhex(made.secret)
        commitment = draw.load_commitment(made.commitment)
        value = next(f"7391 {n:04d}" for n in range(1000) if numbers[loser.id] not in draw.draw(
            commitment, made.entries_text, secret, f"7391 {n:04d}").winners)
        pool.run_draw(db.session, made.id, value, now())
        db.session.commit()
        draw_id = made.id

    (lost,) = _mine(client, loser)
    assert lost["status"] == "pooled" and lost["claim_options"] == []
    assert lost["draw"]["id"] == draw_id and lost["draw"]["rank"] == 3
    (won,) = _mine(client, inside)
    assert won["status"] == "won" and won["draw"]["rank"] in (1, 2)
    assert [(o["fulfilment"], o["fee_fen"], o["available"]) for o in won["claim_options"]] == [
        ("express", 0, True), ("collection_point", 0, True)]
    (far,) = _mine(client, outside)
    express = far["claim_options"][0]
    assert express["available"] is False and "不在配送范围" in express["reason"]

    claimed = client.post(f"/api/v1/entries/{far['id']}/claim", headers=auth(outside.token),
                          json={"fulfilment": "collection_point", "store_id": stores[1]})
    assert claimed.status_code == 200, claimed.json
    _conforms(client, "/api/v1/entries/{entry_id}/claim", claimed, "post")
    order = claimed.json["order"]
    assert order["collection_point"]["id"] == stores[1]
    assert order["collection_point"]["opening_hours"] == "09:00-18:00"
    assert claimed.json["claim_options"] == []
    client.post(f"/api/v1/entries/{won['id']}/claim", headers=auth(inside.token),
                json={"fulfilment": "express"})
    with app.app_context():
        order_id = db.session.scalar(select(PostalOrder.id)
                                     .where(PostalOrder.entry_id == won["id"]))
        done = postal.import_statuses(db.session, f"order_id,status,tracking_no\n"
                                                  f"{order_id},shipped,SF1234567890\n")
        assert done.errors == []
        db.session.commit()
        won_at = db.session.get(Entry, won["id"]).won_at
    (shipped,) = _mine(client, inside)
    assert (shipped["order"]["status"], shipped["order"]["tracking_no"]) == (
        "shipped", "SF1234567890")
    assert shipped["order"]["courier"] == "邮政快递"
    assert shipped["reenter_at"] == (won_at + timedelta(days=10)).isoformat()
    too_soon = client.post(f"/api/v1/campaigns/{campaign_id}/entries", headers=auth(inside.token))
    assert too_soon.json["error"]["code"] == "reenter_later"

    with app.app_context():
        db.session.execute(update(Entry).where(Entry.id == won["id"])
                           .values(won_at=now() - timedelta(days=10, minutes=1)))
        db.session.commit()
    again = client.post(f"/api/v1/campaigns/{campaign_id}/entries", headers=auth(inside.token))
    assert again.status_code == 201 and again.json["status"] == "pooled"
    _conforms(client, "/api/v1/campaigns/{campaign_id}/entries", again, "post")
    assert again.json["draw"] is None and again.json["reenter_at"] is None
    assert [e["status"] for e in _mine(client, inside)] == ["pooled", "claimed"]


@pytest.fixture
def shanghai(app, client):
    campaign_id, stores = _campaign(app, "shanghai", stores=2)
    with app.app_context():
        create_staff(db.session, "rounds.pharmacy", PASSWORD, stores[0])
        create_community_staff(db.session, "rounds.committee", PASSWORD, "410105")
        db.session.commit()
    tokens = {}
    for path, name in (("staff", "rounds.pharmacy"), ("community", "rounds.committee")):
        answer = client.post(f"/api/v1/{path}/login", json={"username": name,
                                                            "password": PASSWORD})
        tokens[path] = auth(answer.json["token"])
    return campaign_id, stores, tokens


def test_a_registration_shows_its_pharmacy_its_place_and_the_releases(app, client, shanghai):
    campaign_id, stores, tokens = shanghai
    people = residents(app, 6)
    with app.app_context():
        for n, person in enumerate(people):
            resident = db.session.get(Resident, person.id)
            resident.address = f"郑州市金水区经三路{n + 1}号1栋101"
            resident.district_code = "410105"
            resident.promised_at = now()
        db.session.commit()
    made = _live(app, client, people[:5], campaign_id, {"store_id": stores[0]})
    _live(app, client, people[5:], campaign_id, {"store_id": stores[1]})
    pending = _mine(client, people[0])[0]
    assert pending["pharmacy"]["id"] == stores[0] and pending["pharmacy"]["name"] == "药店0"
    assert pending["queue"]["position"] is None and pending["queue"]["released"] == 0

    refused = client.post(f"/api/v1/community/registrations/{made[people[0].id]['id']}/review",
                          headers=tokens["community"], json={"approve": False,
                                                             "reason": "门牌号与户籍地址不符"})
    assert refused.status_code == 200, refused.json
    (rejected,) = _mine(client, people[0])
    assert rejected["status"] == "rejected" and rejected["reject_reason"] == "门牌号与户籍地址不符"
    again = client.post(f"/api/v1/campaigns/{campaign_id}/entries", json={"store_id": stores[0]},
                        headers=auth(people[0].token))
    assert again.status_code == 201 and again.json["status"] == "pending"
    made[people[0].id] = again.json
    for person in people:
        entry_id = made[person.id]["id"] if person.id in made else _mine(client, person)[0]["id"]
        client.post(f"/api/v1/community/registrations/{entry_id}/review",
                    headers=tokens["community"], json={"approve": True})
    order = sorted(people[:5], key=lambda p: made[p.id]["reservation_no"])
    positions = {p.id: _mine(client, p)[0]["queue"] for p in people[:5]}
    assert [positions[p.id]["position"] for p in order] == [1, 2, 3, 4, 5]
    assert all(q["waiting"] == 5 and q["released"] == 0 for q in positions.values())

    first = client.post("/api/v1/staff/supply", headers=tokens["staff"], json={"units": 2})
    assert first.json["released"] == 2
    third = _mine(client, order[2])[0]
    assert (third["queue"]["position"], third["queue"]["ahead"]) == (1, 0)
    assert (third["queue"]["released"], third["queue"]["last_release_units"]) == (2, 2)
    assert third["queue"]["waiting"] == 3
    voucher = _mine(client, order[0])[0]
    assert voucher["status"] == "released" and len(voucher["voucher_code"]) == 6
    assert voucher["pharmacy"]["address"] == "郑州市金水区花园路1号"
    assert voucher["released_at"] is not None and voucher["queue"]["position"] is None
    other = _mine(client, people[5])[0]
    assert (other["queue"]["position"], other["queue"]["released"]) == (1, 0)

    with app.app_context():
        id_last4 = db.session.get(Resident, order[0].id).id_number[-4:]
    used = client.post("/api/v1/staff/vouchers/redeem", headers=tokens["staff"],
                       json={"voucher_code": voucher["voucher_code"], "id_last4": id_last4})
    assert used.status_code == 200, used.json
    redeemed = _mine(client, order[0])[0]
    assert redeemed["status"] == "redeemed" and redeemed["redeemed_at"] is not None


def test_every_winner_who_allowed_it_gets_the_win_message_in_one_send(
        app, client, fuzhou, fake_wechat):
    """The messages of one send job go out on several threads at once (one per message up
    to NOTIFY_WECHAT_THREADS): each must reach WeChat, not stop at the app's settings."""
    campaign_id, _ = fuzhou
    people = residents(app, 4)
    _live(app, client, people, campaign_id)
    for person in people:
        allowed = client.post("/api/v1/me/subscriptions", json={"accepted": ["draw_won"]},
                              headers=auth(person.token))
        assert allowed.status_code == 200
    requests.delete(fake_wechat.base_url + "fake/messages", timeout=5)
    with app.app_context():
        made = pool.commit_draw(db.session, campaign_id, 3, now())
        db.session.commit()
        draw_id = made.id
    told = app.test_cli_runner().invoke(args=["lottery", "run-draw", "--draw", str(draw_id),
                                              "--public-value", "0412 7730"])
    assert told.exit_code == 0, told.output
    run_jobs(app)
    sent = requests.get(fake_wechat.base_url + "fake/messages", params={"kind": "subscribe"},
                        timeout=5).json()["messages"]
    assert sorted(m["body"]["template_id"] for m in sent) == ["dev-draw_won"] * 3
