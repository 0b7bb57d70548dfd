"""A shanghai (queue) campaign: households register for a pharmacy, the committee verifies
each, daily supply releases them in reservation-number order with a voucher, the pharmacy
redeems it once, and an unused voucher lapses."""

from __future__ import annotations

from datetime import timedelta

from tests.official import run_jobs
from tests.worlds import auth, now, residents
from wx_backend.extensions import db
from wx_backend.models import Entry, Resident

PASSWORD = "a long enough password"


def households(app, count: int):
    people = residents(app, count)
    with app.app_context():
        for n, person in enumerate(people):
            resident = db.session.get(Resident, person.id)
            resident.address = f"郑州市金水区经三路{n + 1}号1栋101"
            resident.district_code = "410105"  # 金水区, chosen from the list
            resident.promised_at = now()
        db.session.commit()
    return people


def register(client, world, person, store=0):
    return client.post(f"/api/v1/campaigns/{world['campaign']}/entries",
                       headers=auth(person.token), json={"store_id": world["stores"][store]})


def review(client, world, entry_id, headers=None, **body):
    return client.post(f"/api/v1/community/registrations/{entry_id}/review",
                       headers=headers or world["committee"], json=body)


def test_registration_review_release_in_order_and_redemption(app, client, queue_world):
    world = queue_world
    people = households(app, 4)
    made = [register(client, world, p) for p in people]
    assert [m.status_code for m in made] == [201] * 4
    assert all(m.json["status"] == "pending" for m in made)
    numbers = {m.json["id"]: m.json["reservation_no"] for m in made}

    pending = client.get("/api/v1/community/registrations",
                         query_string={"campaign_id": world["campaign"]},
                         headers=world["committee"]).json["registrations"]
    assert sorted(r["id"] for r in pending) == sorted(numbers)
    assert client.get("/api/v1/community/registrations",
                      query_string={"campaign_id": world["campaign"]},
                      headers=world["other_committee"]).json["registrations"] == []

    ids = [m.json["id"] for m in made]
    rejected_id, approved = ids[0], ids[1:]
    assert review(client, world, rejected_id, approve=False).status_code == 422
    assert review(client, world, rejected_id, headers=world["other_committee"],
                  approve=True).status_code == 403
    assert review(client, world, rejected_id, approve=False,
                  reason="地址与户籍登记不符，请到居委会核实").status_code == 200
    assert review(client, world, rejected_id, approve=True).status_code == 409
    for entry_id in approved:
        assert review(client, world, entry_id, approve=True).status_code == 200
    mine = client.get("/api/v1/me/entries", headers=auth(people[0].token)).json["entries"]
    assert mine[0]["status"] == "rejected" and "居委会" in mine[0]["reject_reason"]

    first = client.post("/api/v1/staff/supply", headers=world["pharmacy"], json={"units": 2})
    in_order = sorted(numbers[i] for i in approved)
    assert first.json == {"released": 2, "reservation_nos": in_order[:2]}
    second = client.post("/api/v1/staff/supply", headers=world["pharmacy"], json={"units": 5})
    assert second.json["reservation_nos"] == in_order[2:]
    assert client.post("/api/v1/staff/supply", headers=world["pharmacy"],
                       json={"units": 0}).status_code == 422

    run_jobs(app)
    texts = [m["text"] for m in client.get("/dev/outbox").json["sms"] if "凭证码" in m["text"]]
    assert len(texts) == 3

    holder_index = next(n for n, i in enumerate(ids) if numbers[i] == in_order[0])
    holder = people[holder_index]
    entry = next(e for e in client.get("/api/v1/me/entries",
                                       headers=auth(holder.token)).json["entries"])
    assert entry["status"] == "released" and len(entry["voucher_code"]) == 6
    png = client.get(f"/api/v1/entries/{entry['id']}/voucher.png", headers=auth(holder.token))
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    assert entry["voucher_code"] in next(t for t in texts if in_order[0] in t)

    with app.app_context():
        last4 = db.session.get(Resident, holder.id).id_number[-4:]
    wrong = client.post("/api/v1/staff/vouchers/redeem", headers=world["pharmacy"],
                        json={"voucher_code": entry["voucher_code"], "id_last4": "0000"
                              if last4 != "0000" else "1111"})
    assert wrong.status_code == 403 and wrong.json["error"]["code"] == "id_mismatch"
    sold = client.post("/api/v1/staff/vouchers/redeem", headers=world["pharmacy"],
                       json={"voucher_code": entry["voucher_code"], "id_last4": last4})
    assert sold.status_code == 200 and sold.json["status"] == "redeemed"
    again = client.post("/api/v1/staff/vouchers/redeem", headers=world["pharmacy"],
                        json={"voucher_code": entry["voucher_code"], "id_last4": last4})
    assert again.status_code == 409 and again.json["error"]["code"] == "already_redeemed"


def test_an_unused_voucher_lapses(app, client, queue_world):
    from wx_backend.jobs import tasks

    world = queue_world
    (person,) = households(app, 1)
    entry_id = register(client, world, person).json["id"]
    review(client, world, entry_id, approve=True)
    client.post("/api/v1/staff/supply", headers=world["pharmacy"], json={"units": 1})
    with app.app_context():
        entry = db.session.get(Entry, entry_id)
        code, last4 = entry.voucher_code, db.session.get(Resident, person.id).id_number[-4:]
        entry.claim_deadline = now() - timedelta(minutes=1)
        db.session.commit()
        assert tasks.HANDLERS["lapse_wins"]() == {"lapsed": 1}

    late = client.post("/api/v1/staff/vouchers/redeem", headers=world["pharmacy"],
                       json={"voucher_code": code, "id_last4": last4})
    assert late.status_code == 409 and late.json["error"]["code"] == "voucher_expired"


def test_registrations_are_per_household_and_need_a_pharmacy(app, client, queue_world):
    world = queue_world
    first, second = households(app, 2)
    with app.app_context():
        db.session.get(Resident, second.id).address = "郑州市金水区经三路1号1栋101室"
        db.session.commit()
    assert register(client, world, first).status_code == 201
    same_home = register(client, world, second)
    assert same_home.status_code == 409 and same_home.json["error"]["code"] == "already_entered"

    (third,) = households(app, 1)
    no_store = client.post(f"/api/v1/campaigns/{world['campaign']}/entries",
                           headers=auth(third.token))
    # Valid on its own (a lottery needs no store); this campaign, a queue, needs one.
    assert no_store.status_code == 409 and no_store.json["error"]["code"] == "store_required"
    with app.app_context():
        assert db.session.query(Entry).count() == 1
