"""The jobs Redis (``REDIS_URL``: RQ, sessions, locks) behind Sentinel, failing over under a
crowd while the stock sits on the local Redis Cluster: its master is killed mid-window,
Sentinel promotes the replica, the clients follow, and the old master comes back as a
replica. No 500, nothing confirmed lost, never more than the stock or two per person; the
confirmation jobs still go out once the queue is back."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests

from tests.conftest import _fresh
from tests.test_booking_concurrency import _check_invariants, _fire
from tests.test_stock_failover import _answers_are_honest
from tests.worlds import build, residents
from wx_backend import jobs
from wx_backend.dev.clusters import LocalSentinel


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    watched = LocalSentinel(tmp_path_factory.mktemp("sentinel")).start()
    yield watched
    watched.stop()


@pytest.fixture(scope="module")
def sentinel_session_app(make_app, sentinel, redis_cluster):
    return make_app(REDIS_URL=sentinel.url(0), STOCK_REDIS_URL=redis_cluster.url)


@pytest.fixture
def app(sentinel_session_app, redis_cluster, fake_wechat):
    redis_cluster.wait_healthy()
    return _fresh(sentinel_session_app, fake_wechat, redis_cluster)


def test_the_jobs_redis_fails_over_under_a_crowd(app, live_server, sentinel):
    caps = [80] * 4
    world = build(app, quota=240, caps=caps)
    people = residents(app, 500)
    first_master = sentinel.current_master_port()
    queued_before = set(jobs.queue(jobs.JOBS["send_confirmations"].queue, app).job_ids)

    killer = threading.Timer(0.3, sentinel.master.kill)
    killer.start()
    try:
        answers = _fire(live_server, world, [(p.token, world.store_ids[n % 4])
                                             for n, p in enumerate(people[:300])], threads=16)
    finally:
        killer.join()
    statuses = _answers_are_honest(answers)
    _check_invariants(app, world, answers, 240, caps)

    deadline = time.time() + 30
    while sentinel.current_master_port() == first_master and time.time() < deadline:
        time.sleep(0.2)
    assert sentinel.current_master_port() == sentinel.replica.port
    time.sleep(0.5)  # the clients' next command finds the new master
    later = _fire(live_server, world, [(p.token, world.store_ids[n % 4])
                                       for n, p in enumerate(people)], threads=16)
    _answers_are_honest(later)
    rows, _ = _check_invariants(app, world, answers + later, 240, caps)
    assert len(rows) == 240
    print("answers while the jobs Redis failed over:", dict(statuses),
          "after:", dict(Counter(s for _, s, _ in later)))

    # The queue lives on: the later bookings' confirmation job waits on the new master.
    queued = set(jobs.queue(jobs.JOBS["send_confirmations"].queue, app).job_ids)
    assert queued - queued_before
    assert requests.get(f"{live_server}/api/v1/campaigns/{world.campaign_id}",
                        timeout=10).status_code == 200
    sentinel.master.start()  # Sentinel makes the old master a replica of the new one
