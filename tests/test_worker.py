"""The worker as a separate process, against real PostgreSQL, Redis and the fake WeChat and
SMS servers: messages go out once, retries and give-ups, a killed worker, token expiry,
and the schedule opening Zhengzhou's windows and expiring what was not collected."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select, update

from tests.workers import WorkerProcess, wait_for
from tests.worlds import auth, build, residents
from wx_backend import campaigns
from wx_backend.extensions import db
from wx_backend.models import (Booking, Delivery, Follower, OutboxSms, Resident, ScheduleRun,
                               Window)
from wx_backend.rules import load_preset
from wx_backend.stock import window_key

BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def workers(base_config, tmp_path):
    started: list[WorkerProcess] = []

    def start(**settings) -> WorkerProcess:
        worker = WorkerProcess(base_config, tmp_path, **settings).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def deliveries(app, **where) -> list[Delivery]:
    with app.app_context():
        query = select(Delivery).order_by(Delivery.id)
        for name, value in where.items():
            query = query.where(getattr(Delivery, name) == value)
        found = db.session.scalars(query).all()
        db.session.expunge_all()
        return found


def outbox(app, template: str | None = None) -> list[OutboxSms]:
    with app.app_context():
        query = select(OutboxSms).order_by(OutboxSms.id)
        if template:
            query = query.where(OutboxSms.template == template)
        found = db.session.scalars(query).all()
        db.session.expunge_all()
        return found


def wechat(fake_wechat, kind: str) -> list[dict]:
    return requests.get(fake_wechat.base_url + "fake/messages", params={"kind": kind},
                        timeout=5).json()["messages"]


def book_with_every_channel(app, client, world, who) -> dict:
    client.post("/api/v1/me/subscriptions", json={"accepted": ["booking_confirmed"]},
                headers=auth(who.token))
    with app.app_context():
        db.session.add(Follower(openid=f"oa-{who.id}", resident_id=who.id, subscribed=True))
        db.session.commit()
    answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                         json={"store_id": world.store_ids[0]}, headers=auth(who.token))
    assert answer.status_code == 201, answer.json
    return answer.json


def all_sent(app, count: int):
    return lambda: len(deliveries(app, status="sent")) >= count


def test_one_booking_gives_one_sms_and_the_wechat_messages(app, client, fake_wechat, workers):
    world = build(app)
    [alice] = residents(app, 1)
    made = book_with_every_channel(app, client, world, alice)
    worker = workers()
    wait_for(all_sent(app, 3), 20, "the three messages", worker)
    time.sleep(3)                          # sweeps run every second meanwhile: nothing more
    sms = outbox(app, "booking_confirmed")
    assert len(sms) == 1 and made["pickup_code"] in sms[0].text
    assert len(wechat(fake_wechat, "subscribe")) == 1
    [template] = wechat(fake_wechat, "template")
    assert template["touser"] == f"oa-{alice.id}"
    assert {d.attempts for d in deliveries(app)} == {1}


def test_expired_access_token_is_refreshed_once_and_the_send_succeeds(
        app, client, fake_wechat, workers):
    world = build(app)
    first, second = residents(app, 2)
    book_with_every_channel(app, client, world, first)
    worker = workers()
    wait_for(all_sent(app, 3), 20, "the first booking's messages", worker)
    issued = requests.get(fake_wechat.base_url + "fake/stats", timeout=5).json()["tokens_issued"]
    assert set(issued.values()) == {1}
    # WeChat forgets every token (as after a refresh elsewhere): the next send gets 40001.
    requests.post(fake_wechat.base_url + "fake/tokens/expire", timeout=5)
    book_with_every_channel(app, client, world, second)
    wait_for(all_sent(app, 6), 20, "the second booking's messages", worker)
    after = requests.get(fake_wechat.base_url + "fake/stats", timeout=5).json()["tokens_issued"]
    assert after == {appid: 2 for appid in issued}
    assert len(wechat(fake_wechat, "subscribe")) == 2
    assert len(wechat(fake_wechat, "template")) == 2
    assert {d.attempts for d in deliveries(app)} == {1}


def test_expiry_runs_after_the_pickup_window(app, client, workers):
    world = build(app)
    [bob] = residents(app, 1)
    answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                         json={"store_id": world.store_ids[0]}, headers=auth(bob.token))
    assert answer.status_code == 201
    ends = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=4)
    with app.app_context():
        db.session.execute(update(Booking).values(pickup_starts_at=ends - timedelta(hours=9),
                                                  pickup_ends_at=ends))
        db.session.commit()
    worker = workers()
    wait_for(lambda: outbox(app, "booking_expired"), 25, "the expiry message", worker)
    with app.app_context():
        row = db.session.scalars(select(Booking)).one()
        assert row.status == "expired" and row.expired_at >= ends
        runs = db.session.scalars(select(ScheduleRun).where(
            ScheduleRun.task == f"expire:{int(ends.timestamp())}")).all()
    assert len(runs) == 1 and runs[0].started_at >= ends
    assert len(outbox(app, "booking_confirmed")) == 1


def test_the_schedule_opens_zhengzhou_windows_at_0930_and_1400(app, workers, redis_client):
    tomorrow = datetime.now(BEIJING).date() + timedelta(days=1)
    with app.app_context():
        campaign = campaigns.create_campaign(db.session, "zz-schedule", load_preset("zhengzhou"),
                                             datetime.now(timezone.utc), preset="zhengzhou")
        campaigns.plan_windows(db.session, campaign, tomorrow, 1, datetime.now(timezone.utc))
        db.session.commit()
        windows = db.session.scalars(select(Window).order_by(Window.opens_at)).all()
        morning, afternoon = [(w.id, w.opens_at) for w in windows]
    assert [o.astimezone(BEIJING).strftime("%H:%M") for _, o in (morning, afternoon)] == \
        ["09:30", "14:00"]

    def opened(window) -> ScheduleRun | None:
        with app.app_context():
            run = db.session.get(ScheduleRun, (f"window_open:{window[0]}", window[1]))
            db.session.expunge_all()
            return run if run and run.finished_at else None

    for window in (morning, afternoon):
        offset = (window[1] - timedelta(seconds=8) - datetime.now(timezone.utc)).total_seconds()
        worker = workers(CLOCK_OFFSET=int(offset))
        assert not opened(window)
        run = wait_for(lambda: opened(window), 30, f"window {window[0]} to open", worker)
        assert window[1] <= run.started_at < window[1] + timedelta(seconds=5)
        assert redis_client.exists(window_key(window[0]))
        worker.stop()
    # A restarted worker finds the 09:30 opening done and does not run it again.
    first = opened(morning)
    worker = workers(CLOCK_OFFSET=int((afternoon[1] - datetime.now(timezone.utc))
                                      .total_seconds()) + 60)
    wait_for(lambda: opened(afternoon), 10, "the restarted worker", worker)
    time.sleep(3)
    assert opened(morning).started_at == first.started_at
    with app.app_context():
        closes = db.session.scalars(select(ScheduleRun.task).where(
            ScheduleRun.task == f"window_close:{morning[0]}")).all()
    assert closes == [f"window_close:{morning[0]}"]
