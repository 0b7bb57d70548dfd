"""Notifications in process: events become deliveries exactly once, texts per campaign,
sending and settling against the outbox and the fake WeChat server (no worker here; the
worker's own tests are in test_worker.py)."""

from __future__ import annotations

from datetime import timedelta

import requests
from sqlalchemy import select

from tests.worlds import auth, build, residents
from wx_backend import notify
from wx_backend.extensions import db
from wx_backend.models import Delivery, Follower, OutboxSms, Resident, SubscribeConsent


def book(client, world, who) -> dict:
    answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                         json={"store_id": world.store_ids[0]}, headers=auth(who.token))
    assert answer.status_code == 201, answer.json
    return answer.json


def follow(app, resident_id: int, openid: str) -> None:
    with app.app_context():
        db.session.add(Follower(openid=openid, resident_id=resident_id, subscribed=True))
        db.session.commit()


def wechat_messages(fake_wechat, kind=None) -> list[dict]:
    params = {"kind": kind} if kind else {}
    return requests.get(fake_wechat.base_url + "fake/messages", params=params,
                        timeout=5).json()["messages"]


def test_confirmation_reaches_every_channel_once(app, client, fake_wechat):
    world = build(app)
    [alice] = residents(app, 1)
    consented = client.post("/api/v1/me/subscriptions",
                            json={"accepted": ["booking_confirmed", "pickup_reminder"]},
                            headers=auth(alice.token))
    assert consented.status_code == 200
    assert consented.json["allowances"] == {"booking_confirmed": 1, "pickup_reminder": 1}
    follow(app, alice.id, "oa-openid-alice")
    made = book(client, world, alice)

    with app.app_context():
        first = notify.confirm_recent(timedelta(minutes=5))
        again = notify.confirm_recent(timedelta(minutes=5))
        assert len(first) == 3 and again == []
        counts = notify.deliver(first)
        assert counts == {"sent": 3, "failed": 0, "retry": 0, "skipped": 0}
        assert notify.deliver(first)["skipped"] == 3          # a second run sends nothing
        sms = db.session.scalars(select(OutboxSms)).all()
        consent = db.session.get(SubscribeConsent, (alice.id, "booking_confirmed"))
        assert consent.remaining == 0
    assert len(sms) == 1
    assert made["reservation_no"] in sms[0].text and made["pickup_code"] in sms[0].text
    assert sms[0].text.startswith("【口罩预约】您已成功预约药店0的口罩")
    subscribe = wechat_messages(fake_wechat, "subscribe")
    template = wechat_messages(fake_wechat, "template")
    assert [m["touser"] for m in subscribe] == [openid_of(app, alice)]
    assert subscribe[0]["body"]["data"]["character_string3"]["value"] == made["pickup_code"]
    # A tap on either message opens this booking's own page in the mini-program.
    assert subscribe[0]["body"]["page"] == f"pages/booking/booking?id={made['id']}"
    assert len(template) == 1
    assert template[0]["body"]["miniprogram"]["pagepath"] == subscribe[0]["body"]["page"]
    assert template[0]["touser"] == "oa-openid-alice"
    assert template[0]["body"]["data"]["keyword3"]["value"] == made["pickup_code"]


def test_campaign_wording_is_used_and_checked(app, client):
    world = build(app)
    [bob] = residents(app, 1)
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["campaign", "texts", str(world.campaign_id), "--event",
                              "booking_confirmed", "--sms", "取货码{pikcup_code}"])
    assert bad.exit_code != 0 and "{pikcup_code}" in bad.output
    good = runner.invoke(args=["campaign", "texts", str(world.campaign_id), "--event",
                               "booking_confirmed", "--sms",
                               "凭取货码{pickup_code}到{store}领取，预约号{reservation}。"])
    assert good.exit_code == 0, good.output
    made = book(client, world, bob)
    with app.app_context():
        notify.deliver(notify.confirm_recent(timedelta(minutes=5)))
        text = db.session.scalar(select(OutboxSms.text))
    assert text == (f"【口罩预约】凭取货码{made['pickup_code']}到药店0领取，"
                    f"预约号{made['reservation_no']}。")


def test_refused_subscribe_message_fails_for_good_and_is_listed(app, client, fake_wechat):
    world = build(app)
    [carol] = residents(app, 1)
    client.post("/api/v1/me/subscriptions", json={"accepted": ["booking_confirmed"]},
                headers=auth(carol.token))
    book(client, world, carol)
    requests.post(fake_wechat.base_url + "fake/refuse", json={"openid": openid_of(app, carol)},
                  timeout=5)
    with app.app_context():
        created = notify.confirm_recent(timedelta(minutes=5))
        counts = notify.deliver(created)
        assert counts["sent"] == 1 and counts["failed"] == 1
        failed = db.session.scalars(select(Delivery).where(Delivery.status == "failed")).one()
        assert failed.channel == "wx_subscribe" and "43101" in failed.last_error
        assert failed.attempts == 1
    listed = app.test_cli_runner().invoke(args=["jobs", "failed"])
    assert "1 failed deliveries" in listed.output and "43101" in listed.output


def openid_of(app, made) -> str:
    with app.app_context():
        return db.session.get(Resident, made.id).openid
