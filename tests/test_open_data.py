"""Open, cacheable read paths (a CDN in front absorbs the crowd): ETag and a short
Cache-Control on the campaign, stores and announcements; every store's stock left as
JSON and CSV, at most five seconds behind Redis; and the load balancer's probes."""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from datetime import date

import pytest
import requests

from tests.worlds import auth, build, residents
from wx_backend.booking import feed
from wx_backend.core.tracing import JsonFormatter, current_id


@pytest.fixture(autouse=True)
def fresh_feeds():
    feed.forget()
    yield
    feed.forget()


@pytest.mark.parametrize(("path", "seconds"), [
    ("/api/v1/campaigns", 5), ("/api/v1/campaigns/{id}", 5),
    ("/api/v1/campaigns/{id}/stores", 5), ("/api/v1/announcements", 30),
    ("/public/campaigns/{id}/stock.json", 3), ("/public/campaigns/{id}/stock.csv", 3),
])
def test_read_paths_carry_an_etag_and_a_short_max_age(app, client, path, seconds):
    world = build(app, quota=30)
    url = path.format(id=world.campaign_id)
    first = client.get(url)
    assert first.status_code == 200
    assert first.cache_control.public and first.cache_control.max_age == seconds
    assert first.headers["ETag"]
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    other = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_personal_paths_stay_uncached(app, client):
    world = build(app, quota=30)
    (person,) = residents(app, 1)
    booked = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                         json={"store_id": world.store_ids[0]}, headers=auth(person.token))
    answer = client.get(f"/api/v1/bookings/{booked.json['id']}", headers=auth(person.token))
    assert answer.status_code == 200
    assert "ETag" not in answer.headers and not answer.cache_control.public


def test_the_stock_feed_follows_redis_within_five_seconds(app, live_server):
    world = build(app, quota=30, caps=(10, 10, 10))
    people = residents(app, 4)
    url = f"{live_server}/public/campaigns/{world.campaign_id}/stock.json"
    before = requests.get(url, timeout=10).json()
    assert [s["left"] for s in before["stores"]] == [10, 10, 10]
    assert before["window"]["left"] == 30

    for person in people:
        booked = requests.post(f"{live_server}/api/v1/campaigns/{world.campaign_id}/bookings",
                               json={"store_id": world.store_ids[0]}, headers=auth(person.token),
                               timeout=10)
        assert booked.status_code == 201
    booked_at = time.monotonic()
    while True:
        now = requests.get(url, timeout=10).json()
        if now["stores"][0]["left"] == 6:
            break
        assert time.monotonic() - booked_at < 5, now
        time.sleep(0.25)
    stock = app.extensions["stock"]
    window = now["window"]
    day = date.fromisoformat(window["pickup_date"])
    left = stock.left(window["id"], [(s["id"], day) for s in now["stores"]])
    assert now["window"]["left"] == left[0] == 26
    assert [s["left"] for s in now["stores"]] == left[1] == [6, 10, 10]

    table = requests.get(url.replace(".json", ".csv"), timeout=10)
    assert table.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(table.content.decode("utf-8-sig"))))
    assert [row["left"] for row in rows] == ["6", "10", "10"]
    assert rows[0]["name"] == now["stores"][0]["name"] and rows[0]["district"] == "金水区"


def test_an_unknown_campaign_has_no_feed(app, client):
    assert client.get("/public/campaigns/999999/stock.json").status_code == 404


def test_the_probes_tell_a_live_process_from_a_ready_one(app, client, make_app):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}
    no_redis = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    probe = no_redis.test_client()
    assert probe.get("/healthz").status_code == 200
    refused = probe.get("/readyz")
    assert refused.status_code == 503
    assert set(refused.json["failed"]) == {"redis"}
    assert refused.headers["Retry-After"] == "5"


def test_every_answer_carries_a_request_id_that_errors_repeat(app, client):
    given = client.get("/api/v1/campaigns", headers={"X-Request-Id": "cdn-7f3a9c21e0"})
    assert given.headers["X-Request-Id"] == "cdn-7f3a9c21e0"
    made = client.get("/api/v1/campaigns", headers={"X-Request-Id": "bad id; DROP"})
    assert len(made.headers["X-Request-Id"]) == 16  # a fresh one, not the unsafe one
    refused = client.get("/api/v1/bookings/1")
    assert refused.status_code == 401
    assert refused.json["error"]["request_id"] == refused.headers["X-Request-Id"]


def test_json_logs_name_the_request(app):
    record = logging.LogRecord("wx_backend.booking", logging.WARNING, __file__, 1,
                               "booking row refused by %s", ("uq_bookings_seq",), None)
    token = current_id.set("a1b2c3d4e5f60718")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        current_id.reset(token)
    assert line["request_id"] == "a1b2c3d4e5f60718" and line["level"] == "WARNING"
    assert line["message"] == "booking row refused by uq_bookings_seq"
    assert line["logger"] == "wx_backend.booking" and line["time"].endswith("+00:00")
