"""Crowds against real servers (threaded, and `wx-backend serve` with a web worker killed), real
PostgreSQL and Redis: never more confirmed than stock, never two per person, nothing
confirmed that is not recorded. Every test runs twice: with the stock on the one Redis,
and on a local Redis Cluster (three masters with replicas; ``STOCK_REDIS_URL``)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
from sqlalchemy import func, select

from tests.worlds import auth, build, residents
from wx_backend.extensions import db
from wx_backend.identity import sessions
from wx_backend.models import Booking


@pytest.fixture(params=["one Redis", "Redis Cluster"])
def app(request):
    """The app with its stock on one Redis, then on the local cluster."""
    return request.getfixturevalue("single_app" if request.param == "one Redis"
                                   else "cluster_app")


def _flush_stock(app):
    """Lose the stock's Redis: the whole server, or one shard of the cluster."""
    client = app.extensions["stock"].client
    nodes = getattr(client, "get_primaries", None)
    if nodes is None:
        client.flushdb()
        return None
    target = nodes()[0]
    client.get_redis_connection(target).flushall()
    return target


def _fire(base, world, jobs, threads=32, headers=None):
    """POST every (token, store) job in parallel; returns [(token, status, body)]."""
    local = threading.local()

    def one(job):
        token, store = job
        http = getattr(local, "http", None) or requests.Session()
        local.http = http
        try:
            answer = http.post(f"{base}/api/v1/campaigns/{world.campaign_id}/bookings",
                               json={"store_id": store}, timeout=30,
                               headers={**auth(token), **(headers(token) if headers else {})})
        except requests.RequestException:
            # A worker killed mid-answer: the client never learnt the outcome.
            return token, None, None
        return token, answer.status_code, answer.json()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, jobs))


def _confirmed(app, campaign_id):
    with app.app_context():
        rows = db.session.execute(select(Booking.id, Booking.store_id, Booking.person_key,
                                         Booking.reservation_no)
                                  .where(Booking.campaign_id == campaign_id,
                                         Booking.holds_unit)).all()
        db.session.remove()
    return rows


def _check_invariants(app, world, answers, quota, caps):
    rows = _confirmed(app, world.campaign_id)
    ok = [body for _, status, body in answers if status == 201]
    assert len(rows) <= quota
    per_store = Counter(r.store_id for r in rows)
    assert all(per_store[store] <= cap for store, cap in zip(world.store_ids, caps))
    per_person = Counter(r.person_key for r in rows)
    assert max(per_person.values()) == 1
    recorded = {r.id: r.reservation_no for r in rows}
    assert all(recorded.get(body["id"]) == body["reservation_no"] for body in ok)
    return rows, ok


def test_crowd_at_ten_times_stock_gets_exactly_the_stock(app, live_server):
    caps = [10] * 8
    world = build(app, quota=60, caps=caps)
    people = residents(app, 300)
    chooser = random.Random(7)
    jobs = [(p.token, chooser.choice(world.store_ids)) for p in people for _ in range(2)]
    chooser.shuffle(jobs)

    answers = _fire(live_server, world, jobs)

    rows, ok = _check_invariants(app, world, answers, 60, caps)
    assert len(rows) == len(ok) == 60
    codes = Counter(body["error"]["code"] for _, status, body in answers if status != 201)
    assert set(codes) <= {"sold_out", "store_full", "already_booked"}
    left = requests.get(f"{live_server}/api/v1/campaigns/{world.campaign_id}/stores").json()
    assert left["window_left"] == 0


def test_store_caps_hold_under_a_crowd(app, live_server):
    caps = [5, 5, 5]
    world = build(app, quota=1000, caps=caps)
    people = residents(app, 60)

    answers = _fire(live_server, world, [(p.token, world.store_ids[n % 3])
                                         for n, p in enumerate(people)])

    rows, ok = _check_invariants(app, world, answers, 1000, caps)
    assert len(rows) == len(ok) == 15


def test_retries_with_one_idempotency_key_book_once(app, live_server):
    world = build(app, quota=1000)
    people = residents(app, 20)
    jobs = [(p.token, world.store_ids[0]) for p in people for _ in range(4)]

    answers = _fire(live_server, world, jobs, headers=lambda token: {"Idempotency-Key":
                                                                    "k-" + token[:12]})

    rows, ok = _check_invariants(app, world, answers, 1000, [1000] * 3)
    assert len(rows) == 20
    by_person = {}
    for token, status, body in answers:
        assert status == 201, body
        by_person.setdefault(token, []).append(body)
    assert all(len({b["id"] for b in bodies}) == 1 for bodies in by_person.values())


def test_redis_flushed_mid_window_is_rebuilt_and_never_oversells(app, live_server,
                                                                 redis_client):
    caps = [20, 20, 20]
    world = build(app, quota=40, caps=caps)
    people = residents(app, 120)
    first = _fire(live_server, world, [(p.token, world.store_ids[n % 3])
                                       for n, p in enumerate(people[:30])])
    booked_before = {token for token, status, _ in first if status == 201}
    assert len(booked_before) == 30

    if _flush_stock(app) is None:  # one Redis: the sessions went with it
        redis_client.flushdb()
    with redis_client.pipeline() as pipe:
        # Sessions are not durable; residents would log in again. Give them their tokens back.
        for p in people:
            sessions.store(pipe, p.token, p.id, 3600, p.person_key)
        pipe.execute()
    second = _fire(live_server, world, [(p.token, world.store_ids[n % 3])
                                        for n, p in enumerate(people)])

    rows, ok = _check_invariants(app, world, first + second, 40, caps)
    assert len(rows) == 40
    again = [body["error"]["code"] for token, status, body in second if token in booked_before]
    assert set(again) == {"already_booked"}


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def real_server(base_config, app, tmp_path):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": base_config["DATABASE_URL"],
           "REDIS_URL": base_config["REDIS_URL"], "WXB_MODE": "development",
           "STOCK_REDIS_URL": app.config.get("STOCK_REDIS_URL") or "",
           "WXB_INSTANCE_PATH": str(tmp_path),
           "WECHAT_API_BASE_URL": base_config["WECHAT_API_BASE_URL"],
           "SECRET_KEY": base_config["SECRET_KEY"], "PII_KEY": base_config["PII_KEY"],
           "PII_INDEX_KEY": base_config["PII_INDEX_KEY"], "WEB_CONCURRENCY": "2",
           "WEB_THREADS": "8",
           **{k: base_config[k] for k in ("WECHAT_MINIPROGRAM_APPID", "WECHAT_MINIPROGRAM_SECRET",
                                          "WECHAT_OFFICIAL_APPID", "WECHAT_OFFICIAL_SECRET")}}
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "wx_backend.cli.main", "serve", "--bind",
                               f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(base + "/api/v1/openapi.json", timeout=5).ok:
                break
        except requests.RequestException:
            time.sleep(0.3)
    else:
        # SIGTERM, not SIGKILL: `serve` stops its web server and job worker on the way out.
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        pytest.fail((tmp_path / "server.log").read_text())
    yield base, server
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


def test_worker_killed_mid_request_leaves_nothing_confirmed_unrecorded(app, real_server,
                                                                       redis_client):
    base, server = real_server
    caps = [100] * 4
    world = build(app, quota=300, caps=caps)
    people = residents(app, 600)
    jobs = [(p.token, world.store_ids[n % 4]) for n, p in enumerate(people)]

    def kill_a_worker():
        time.sleep(0.3)
        workers = []
        for child in psutil.Process(server.pid).children(recursive=True):
            try:  # a job's work horse may have come and gone meanwhile
                command = " ".join(child.cmdline())
                if (("gunicorn" in command or "granian" in command)
                        and child.ppid() != server.pid):
                    workers.append(child)
            except psutil.NoSuchProcess:
                continue
        if workers:
            workers[0].send_signal(signal.SIGKILL)
        return len(workers)

    with ThreadPoolExecutor(max_workers=1) as killer:
        killed = killer.submit(kill_a_worker)
        answers = _fire(base, world, jobs, threads=24)
        assert killed.result() >= 1

    rows, ok = _check_invariants(app, world, answers, 300, caps)
    assert ok and len(rows) >= len(ok)
    with app.app_context():
        from datetime import datetime, timezone

        from wx_backend.booking import first_come
        first_come.reconcile(db.session, app.extensions["stock"], datetime.now(timezone.utc))
        confirmed = db.session.scalar(select(func.count()).select_from(Booking)
                                      .where(Booking.campaign_id == world.campaign_id,
                                             Booking.holds_unit))
        db.session.remove()
    left = requests.get(f"{base}/api/v1/campaigns/{world.campaign_id}/stores").json()
    assert left["window_left"] + confirmed == 300
