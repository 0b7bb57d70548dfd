"""The booking stock on a local Redis Cluster (three masters, a replica each) while things
break under load: a master killed mid-window (its replica takes over), and a shard
flushed. Throughout, DESIGN §5's first three invariants hold: never more than the stock,
never two per person, nothing confirmed that is not recorded. A booking refused while a
shard fails over is told to try again (``busy`` or ``unavailable`` with ``retry_after``),
never answered with a 500; once the cluster has healed, the window sells out exactly."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timezone

import pytest
import requests
from sqlalchemy import func, select

from tests.test_booking_concurrency import _check_invariants, _fire
from tests.worlds import build, residents
from wx_backend.booking import first_come
from wx_backend.booking.stock import share_key
from wx_backend.extensions import db
from wx_backend.models import Booking


@pytest.fixture
def app(cluster_app):
    return cluster_app


def _node_of(app, cluster, key: str):
    """The node serving ``key`` now."""
    node = app.extensions["stock"].client.get_node_from_key(key)
    return next(s for s in cluster.alive() if s.port == int(node.port))


def _answers_are_honest(answers) -> Counter:
    """No 500, no dropped request; a refusal to retry says when."""
    statuses = Counter(status for _, status, _ in answers)
    assert set(statuses) <= {201, 409, 429, 503}, statuses
    for _, status, body in answers:
        if status in (429, 503):
            assert body["error"]["code"] in ("busy", "unavailable")
            assert body["error"]["retry_after"] >= 1
    return statuses


def _sell_out_after_healing(app, cluster, world, base, people, quota, caps):
    """Once the cluster is whole again, the rest of the crowd books; then the window
    holds exactly its quota in the database and nothing in Redis."""
    cluster.wait_healthy(60)
    late = _fire(base, world, [(p.token, world.store_ids[n % len(caps)])
                               for n, p in enumerate(people)])
    _answers_are_honest(late)
    with app.app_context():
        first_come.reconcile(db.session, app.extensions["stock"], datetime.now(timezone.utc))
        db.session.remove()
    last = _fire(base, world, [(p.token, world.store_ids[n % len(caps)])
                               for n, p in enumerate(people)])
    with app.app_context():
        confirmed = db.session.scalar(select(func.count()).select_from(Booking).where(
            Booking.campaign_id == world.campaign_id, Booking.holds_unit))
        db.session.remove()
    left = requests.get(f"{base}/api/v1/campaigns/{world.campaign_id}/stores",
                        timeout=10).json()
    assert confirmed == quota and left["window_left"] == 0
    return late + last


def test_a_master_killed_mid_window_loses_nothing_confirmed(app, live_server, redis_cluster):
    caps = [100] * 4
    world = build(app, quota=300, caps=caps)
    people = residents(app, 700)
    jobs = [(p.token, world.store_ids[n % 4]) for n, p in enumerate(people[:500])]
    victim = _node_of(app, redis_cluster, share_key(world.window_id, world.store_ids[0]))

    killer = threading.Timer(0.3, victim.kill)
    killer.start()
    try:
        answers = _fire(live_server, world, jobs, threads=16)
    finally:
        killer.join()
    statuses = _answers_are_honest(answers)
    _check_invariants(app, world, answers, 300, caps)
    print("answers while a master died:", dict(statuses))
    assert statuses[201] > 0

    later = _sell_out_after_healing(app, redis_cluster, world, live_server, people, 300, caps)
    _check_invariants(app, world, answers + later, 300, caps)
    victim.start()  # back as a replica of the node that took over
    redis_cluster.wait_healthy(60)


def test_a_shard_flushed_under_load_is_rebuilt(app, live_server, redis_cluster):
    caps = [60] * 5
    world = build(app, quota=250, caps=caps)
    people = residents(app, 600)
    jobs = [(p.token, world.store_ids[n % 5]) for n, p in enumerate(people[:400])]
    victim = _node_of(app, redis_cluster, share_key(world.window_id, world.store_ids[0]))

    def flush():
        time.sleep(0.3)
        victim.client().flushall()

    flusher = threading.Thread(target=flush)
    flusher.start()
    answers = _fire(live_server, world, jobs, threads=16)
    flusher.join()
    _answers_are_honest(answers)
    _check_invariants(app, world, answers, 250, caps)

    later = _sell_out_after_healing(app, redis_cluster, world, live_server, people, 250, caps)
    _check_invariants(app, world, answers + later, 250, caps)
