"""The worker as a separate process, against real PostgreSQL, Redis and the fake WeChat and
SMS servers: messages go out once, retries and give-ups, a killed worker, token expiry,
and the schedule opening Zhengzhou's windows and expiring what was not collected."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select, update

from tests.workers import WorkerProcess, wait_for
from tests.worlds import auth, build, residents
from wx_backend.booking.stock import window_key
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import load_preset
from wx_backend.dev.fakes.sms_providers import FakeAliyunSms, aliyun_template_codes
from wx_backend.extensions import db
from wx_backend.models import Booking, Delivery, Follower, OutboxSms, Resident, ScheduleRun, Window

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


@pytest.fixture(scope="module")
def aliyun():
    server = FakeAliyunSms().start()
    yield server
    server.stop()


@pytest.fixture
def aliyun_settings(aliyun):
    requests.post(aliyun.base_url + "/fake/reset", timeout=5)
    return {"SMS_BACKEND": "aliyun", "ALIYUN_SMS_ENDPOINT": aliyun.base_url,
            "ALIYUN_SMS_ACCESS_KEY_ID": aliyun.access_key_id,
            "ALIYUN_SMS_ACCESS_KEY_SECRET": aliyun.access_key_secret,
            "SMS_TEMPLATE_CODES": json.dumps(aliyun_template_codes()), "SMS_TIMEOUT": 5}


def provider(aliyun, path: str, **body):
    answer = requests.post(aliyun.base_url + path, json=body, timeout=5)
    assert answer.status_code == 200, answer.text


def accepted(aliyun, phone: str | None = None) -> list[dict]:
    params = {"phone": phone} if phone else {}
    return requests.get(aliyun.base_url + "/fake/messages", params=params,
                        timeout=5).json()["messages"]


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
        campaign = manage.create_campaign(db.session, "zz-schedule", load_preset("zhengzhou"),
                                             datetime.now(timezone.utc), preset="zhengzhou")
        manage.plan_windows(db.session, campaign, tomorrow, 1, datetime.now(timezone.utc))
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
        run = wait_for(lambda: opened(window), 30, f"window {window[0]} to open", worker)  # noqa: B023
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


def phone_of(app, made) -> str:
    with app.app_context():
        return db.session.get(Resident, made.id).phone


def book(client, world, who) -> dict:
    answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                         json={"store_id": world.store_ids[0]}, headers=auth(who.token))
    assert answer.status_code == 201, answer.json
    return answer.json


def test_a_provider_failing_three_times_then_answering_delivers_once(
        app, client, workers, aliyun, aliyun_settings):
    world = build(app)
    [dora] = residents(app, 1)
    provider(aliyun, "/fake/faults", times=3, http_status=500)
    made = book(client, world, dora)
    worker = workers(NOTIFY_RETRY_DELAYS="0.5,0.5,0.5,0.5", **aliyun_settings)
    wait_for(all_sent(app, 1), 30, "the SMS after three failures", worker)
    time.sleep(2)
    [message] = accepted(aliyun, phone_of(app, dora))
    assert made["pickup_code"] in message["content"]
    [row] = deliveries(app)
    assert row.status == "sent" and row.attempts == 4 and row.provider == "aliyun"
    stats = requests.get(aliyun.base_url + "/fake/stats", timeout=5).json()
    assert sum(stats["calls"].values()) == 4


def test_a_rejected_number_stops_retrying_and_says_why(app, client, workers, aliyun,
                                                       aliyun_settings):
    world = build(app)
    erin, fred = residents(app, 2)
    provider(aliyun, "/fake/reject", phones=[phone_of(app, erin)])
    book(client, world, erin)
    book(client, world, fred)
    worker = workers(**aliyun_settings)
    wait_for(lambda: deliveries(app, status="failed") and deliveries(app, status="sent"), 30,
             "one failed and one sent", worker)
    time.sleep(2)
    [failed] = deliveries(app, status="failed")
    assert failed.resident_id == erin.id and failed.attempts == 1
    assert "MOBILE_NUMBER_ILLEGAL" in failed.last_error
    assert accepted(aliyun, phone_of(app, erin)) == []
    assert len(accepted(aliyun, phone_of(app, fred))) == 1
    listed = app.test_cli_runner().invoke(args=["jobs", "failed"])
    assert f"delivery {failed.id}" in listed.output and "MOBILE_NUMBER_ILLEGAL" in listed.output


def test_a_worker_killed_mid_call_neither_loses_nor_doubles(app, client, workers, aliyun,
                                                            aliyun_settings):
    world = build(app)
    people = residents(app, 3)
    for who in people:
        book(client, world, who)
    # The provider takes the messages at once but answers only after 4 s: the worker is
    # killed while it waits, holding messages the provider has.
    provider(aliyun, "/fake/latency", seconds=4)
    settings = {**aliyun_settings, "NOTIFY_LEASE_SECONDS": 3}
    first = workers(**settings)
    wait_for(lambda: len(accepted(aliyun)) == 3, 30, "the provider to take the messages", first)
    first.kill()
    assert {d.status for d in deliveries(app)} == {"sending"}
    provider(aliyun, "/fake/latency", seconds=0)
    second = workers(**settings)
    wait_for(all_sent(app, 3), 30, "the sweep to settle the messages", second)
    time.sleep(2)
    for who in people:
        assert len(accepted(aliyun, phone_of(app, who))) == 1
    assert {d.attempts for d in deliveries(app)} == {1}


def test_a_worker_killed_before_the_call_loses_nothing(app, client, workers, aliyun,
                                                       aliyun_settings):
    world = build(app)
    people = residents(app, 2)
    for who in people:
        book(client, world, who)
    provider(aliyun, "/fake/faults", times=1, http_status=500)
    provider(aliyun, "/fake/latency", seconds=4)
    settings = {**aliyun_settings, "NOTIFY_LEASE_SECONDS": 3,
                "NOTIFY_RETRY_DELAYS": "30,30"}
    first = workers(**settings)
    # The first call fails: the messages wait 30 s for their retry, and the worker dies.
    wait_for(lambda: deliveries(app, status="retry"), 30, "the retry", first)
    first.kill()
    provider(aliyun, "/fake/latency", seconds=0)
    with app.app_context():
        db.session.execute(update(Delivery).values(next_attempt_at=datetime.now(timezone.utc)))
        db.session.commit()
    second = workers(**settings, NOTIFY_STALL_SECONDS=1)
    wait_for(all_sent(app, 2), 30, "the sweep to send them", second)
    for who in people:
        assert len(accepted(aliyun, phone_of(app, who))) == 1
