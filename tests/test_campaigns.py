"""Campaigns from presets end to end, rules versions, store import and reconciliation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.worlds import auth, move_window, now, residents, store_csv
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import RulesError, load_preset, parse_rules
from wx_backend.extensions import db
from wx_backend.models import Campaign, Store, Window

BEIJING = ZoneInfo("Asia/Shanghai")


def _create(app, preset, slug, tmp_path, caps=(100, 100)):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["campaign", "create", "--preset", preset, "--slug", slug,
                                 "--plan-days", "3"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        campaign_id = db.session.scalar(select(Campaign.id).where(Campaign.slug == slug))
    csv_file = tmp_path / f"{slug}.csv"
    csv_file.write_text(store_csv(list(caps)), encoding="utf-8")
    result = runner.invoke(args=["stores", "import", "--campaign", str(campaign_id),
                                 str(csv_file)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        windows = db.session.scalars(select(Window).where(Window.campaign_id == campaign_id)
                                     .order_by(Window.opens_at)).all()
        stores = db.session.scalars(select(Store.id).where(Store.campaign_id == campaign_id)
                                    .order_by(Store.id)).all()
        db.session.expunge_all()
    return campaign_id, windows, stores


def _open_first(app, windows):
    """Move the first planned window so that it is open now, keeping its pickup day."""
    window = windows[0]
    move_window(app, window.id, now() - timedelta(minutes=1), now() + timedelta(minutes=20))
    return window


def test_zhengzhou_two_windows_100_per_store_7_day_cooldown(app, client, tmp_path):
    campaign_id, windows, stores = _create(app, "zhengzhou", "zz", tmp_path, caps=(100, 100))
    local = [(w.opens_at.astimezone(BEIJING), w.closes_at.astimezone(BEIJING)) for w in windows]
    assert {o.strftime("%H:%M") for o, _ in local} == {"09:30", "14:00"}
    assert all(w.quota == 10000 for w in windows)
    assert all(w.pickup_date == o.date() + timedelta(days=1) for w, (o, _) in zip(windows, local))
    window = _open_first(app, windows)
    people = residents(app, 101)

    answers = [client.post(f"/api/v1/campaigns/{campaign_id}/bookings",
                           json={"store_id": stores[0]}, headers=auth(p.token)) for p in people]

    assert [a.status_code for a in answers].count(201) == 100
    assert answers[-1].json["error"]["code"] == "store_full"
    body = answers[0].json
    assert body["pickup"]["date"] == window.pickup_date.isoformat()
    assert body["pickup"]["starts_at"].endswith("T09:00:00+08:00")
    assert body["portion"]["items"] == 10 and body["portion"]["unit_price_fen"] == 100
    second = client.post(f"/api/v1/campaigns/{campaign_id}/bookings",
                         json={"store_id": stores[1]}, headers=auth(people[0].token))
    assert second.json["error"]["code"] == "already_booked"
    with app.app_context():
        from wx_backend.models import Booking
        row = db.session.get(Booking, body["id"])
        assert row.cooldown_until - row.cooldown_from == timedelta(days=7)


def test_qingdao_opens_at_0830_with_five_masks(app, client, tmp_path):
    campaign_id, windows, stores = _create(app, "qingdao", "qd", tmp_path)
    assert {w.opens_at.astimezone(BEIJING).strftime("%H:%M") for w in windows} == {"08:30"}
    _open_first(app, windows)
    (alice,) = residents(app, 1)

    body = client.post(f"/api/v1/campaigns/{campaign_id}/bookings", json={"store_id": stores[0]},
                       headers=auth(alice.token)).json

    assert body["portion"] == {"item": "民用口罩", "items": 5, "unit_price_fen": 200}
    qr = client.get(f"/api/v1/bookings/{body['id']}/qrcode.png", headers=auth(alice.token))
    assert qr.status_code == 200


def test_guangzhou_20_00_for_the_next_day_with_two_pickup_slots(app, client, tmp_path):
    campaign_id, windows, stores = _create(app, "guangzhou", "gz", tmp_path)
    for window in windows:
        opens = window.opens_at.astimezone(BEIJING)
        assert opens.strftime("%H:%M") == "20:00"
        assert window.pickup_date == opens.date() + timedelta(days=1)
    _open_first(app, windows)
    alice, bob = residents(app, 2)

    morning = client.post(f"/api/v1/campaigns/{campaign_id}/bookings",
                          json={"store_id": stores[0]}, headers=auth(alice.token)).json
    afternoon = client.post(f"/api/v1/campaigns/{campaign_id}/bookings",
                            json={"store_id": stores[0], "pickup_slot": 1},
                            headers=auth(bob.token)).json

    assert morning["pickup"]["starts_at"].endswith("T10:00:00+08:00")
    assert morning["pickup"]["ends_at"].endswith("T12:00:00+08:00")
    assert afternoon["pickup"]["starts_at"].endswith("T14:00:00+08:00")
    assert morning["portion"]["items"] == 5


def test_rules_change_makes_a_new_version_in_force(app, client, tmp_path):
    campaign_id, _, _ = _create(app, "zhengzhou", "zz-change", tmp_path)
    rules = load_preset("zhengzhou")
    rules["portion"]["items"] = 20
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        manage.change_rules(db.session, campaign, rules, now(), "每人增至20只", now())
        db.session.commit()
        app.extensions["directory"].forget()

    body = client.get(f"/api/v1/campaigns/{campaign_id}").json

    assert body["rules_version"] == 2
    assert body["rules"]["portion"]["items"] == 20


def test_store_csv_reports_every_bad_row_and_imports_nothing(app, tmp_path):
    campaign_id, _, stores = _create(app, "zhengzhou", "zz-csv", tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,address,district,lat,lng,daily_cap,opening_hours\n"
                   "好药店,郑州市某路1号,金水区,34.7,113.6,50,09:00-18:00\n"
                   ",郑州市某路2号,金水区,34.7,113.6,50,\n"
                   "坏坐标店,郑州市某路3号,金水区,north,113.6,50,\n"
                   "负数店,郑州市某路4号,金水区,34.7,113.6,-5,\n", encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["stores", "import", "--campaign",
                                                str(campaign_id), str(bad)])

    assert result.exit_code != 0
    assert "第3行：店名未填写" in result.output
    assert "第4行" in result.output and "不是有效的坐标" in result.output
    assert "第5行" in result.output and "每日份额" in result.output
    with app.app_context():
        assert db.session.scalars(select(Store.id).where(
            Store.campaign_id == campaign_id)).all() == stores


def test_cli_refuses_unknown_preset_and_bad_rules(app, tmp_path):
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["campaign", "create", "--preset", "atlantis", "--slug", "x1"])
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text('allocation = "fcfs"\nstore_daily_cap = 0\n[portion]\nitems = 5\n'
                          '[[windows]]\nopens = "09:00"\ncloses = "10:00"\nquota = 9\n',
                          encoding="utf-8")
    bad = runner.invoke(args=["campaign", "create", "--rules-file", str(rules_file),
                              "--slug", "x2"])

    assert unknown.exit_code != 0
    assert bad.exit_code != 0 and "store_daily_cap" in bad.output


@pytest.mark.parametrize("change, words", [
    ({"allocation": "auction"}, "allocation"),
    ({"windows": [{"opens": "25:00", "closes": "10:00", "quota": 5}]}, "windows[0].opens"),
    ({"windows": [{"opens": "09:00", "closes": "10:00", "quota": 0}]}, "quota"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"pickup": {"slots": [{"starts": "12:00", "ends": "10:00"}]}}, "pickup.slots[0]"),
])
def test_rules_are_checked(change, words):
    rules = {**load_preset("zhengzhou"), **change}

    with pytest.raises(RulesError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_rules(rules)


def test_reconcile_command_rebuilds_redis_after_it_is_lost(app, client, redis_client, tmp_path):
    campaign_id, windows, stores = _create(app, "zhengzhou", "zz-rec", tmp_path)
    window = _open_first(app, windows)
    people = residents(app, 3)
    for person in people:
        client.post(f"/api/v1/campaigns/{campaign_id}/bookings", json={"store_id": stores[0]},
                    headers=auth(person.token))

    redis_client.flushdb()
    result = app.test_cli_runner().invoke(args=["reconcile"])

    assert result.exit_code == 0 and "3 claims" in result.output
    left = app.extensions["stock"].left(window.id, [(stores[0], window.pickup_date)])
    assert left == (10000 - 3, [97])


def test_demo_data_is_a_zhengzhou_like_campaign_with_dozens_of_stores(app, client):
    result = app.test_cli_runner().invoke(args=["demo"])

    assert result.exit_code == 0, result.output
    listed = client.get("/api/v1/campaigns").json["campaigns"]
    assert len(listed) == 1 and listed[0]["current_window"] is not None
    stores = client.get(f"/api/v1/campaigns/{listed[0]['id']}/stores",
                        query_string={"limit": 200}).json["stores"]
    assert len(stores) == 40
    assert all(store["left"] == 100 for store in stores)
    closes = datetime.fromisoformat(listed[0]["current_window"]["closes_at"])
    assert datetime.now(timezone.utc) < closes
