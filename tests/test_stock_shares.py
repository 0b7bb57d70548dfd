"""A window's quota split into store shares (booking.stock): units flow to the stores
residents choose, and moves between a store's share and the window's spare neither lose
nor double a unit, even when the mover dies half-way. On one Redis and on the local
Redis Cluster."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from tests.test_booking_concurrency import _check_invariants, _fire
from tests.worlds import build, residents
from wx_backend.booking import first_come
from wx_backend.booking.stock import (
    share_key,
    share_units_key,
    spare_key,
    window_key,
)
from wx_backend.extensions import db
from wx_backend.models import Window


@pytest.fixture(params=["one Redis", "Redis Cluster"])
def app(request):
    return request.getfixturevalue("single_app" if request.param == "one Redis"
                                   else "cluster_app")


def _units(stock, window_id: int, store_ids: list[int]) -> list[int]:
    """Every unit number in the spare and the shares (a duplicate would show twice)."""
    lists = [spare_key(window_id)] + [share_units_key(window_id, s) for s in store_ids]
    found = []
    for key in lists:
        found += [int(raw.split(".")[0]) for raw in stock.client.lrange(key, 0, -1)]
    return found


def _loaded(app, world):
    stock = app.extensions["stock"]
    with app.app_context():
        window = db.session.get(Window, world.window_id)
        first_come.sync_window(db.session, stock, window)
        db.session.remove()
    return stock


def test_the_quota_is_split_by_room_and_every_unit_is_somewhere_once(app):
    world = build(app, quota=100, caps=(80, 80, 10))
    stock = _loaded(app, world)

    spare, shares = stock.shares(world.window_id, world.store_ids)
    assert shares == [47, 47, 5] and spare == 1  # 100 x 80/170, 100 x 10/170, the rest
    assert sorted(_units(stock, world.window_id, world.store_ids)) == list(range(1, 101))


def test_a_popular_store_sells_past_its_share_and_the_window_stays_exact(app, live_server):
    world = build(app, quota=100, caps=(80, 80, 10))
    people = residents(app, 160)
    _loaded(app, world)
    # Everyone wants the first store: it has room for 80, its share was 47.
    answers = _fire(live_server, world, [(p.token, world.store_ids[0]) for p in people])
    rows, ok = _check_invariants(app, world, answers, 100, [80, 80, 10])
    assert len(ok) == 80
    codes = Counter(body["error"]["code"] for _, status, body in answers if status != 201)
    assert set(codes) == {"store_full"}
    # The other 20 units are still there for the other stores, once each.
    stock = app.extensions["stock"]
    left = _units(stock, world.window_id, world.store_ids)
    assert len(left) == len(set(left)) == 20
    assert not set(left) & {row_slot for row_slot in _booked_units(app, world)}


def _booked_units(app, world):
    from sqlalchemy import select

    from wx_backend.models import Booking

    with app.app_context():
        found = db.session.scalars(select(Booking.window_slot).where(
            Booking.window_id == world.window_id, Booking.holds_unit)).all()
        db.session.remove()
    return found


def test_a_move_cut_short_is_finished_once_and_only_once(app):
    world = build(app, quota=60, caps=(40, 40))
    stock = _loaded(app, world)
    window, store = world.window_id, world.store_ids[0]
    before = sorted(_units(stock, window, world.store_ids))
    journal = f"wx:{{s:{store}}}:out:{window}:crashed1"

    # A mover pops 10 units of the store's share into its journal, then dies.
    stock.client.sadd(f"{window_key(window)}:moves", f"{journal}|0")
    popped = stock._move_out(keys=[share_units_key(window, store), journal,
                                   share_key(window, store)], args=[10, 3600])
    assert len(popped) == 10
    assert len(_units(stock, window, world.store_ids)) == 50  # in flight, in the journal

    assert stock.finish_moves(window) == 1
    assert sorted(_units(stock, window, world.store_ids)) == before
    assert stock.finish_moves(window) == 0  # nothing left to finish

    # A mover that applied its move but died before deleting the journal: finishing it
    # again is a no-op, thanks to the applied set.
    journal = f"wx:{{s:{store}}}:out:{window}:crashed2"
    stock.client.sadd(f"{window_key(window)}:moves", f"{journal}|0")
    stock._move_out(keys=[share_units_key(window, store), journal,
                          share_key(window, store)], args=[5, 3600])
    stored = stock.client.lrange(journal, 0, -1)
    stock._move_in(keys=[spare_key(window), f"{window_key(window)}:applied",
                         window_key(window)], args=["crashed2", stored[0], *stored[1:], 3600])
    assert stock.finish_moves(window) == 1
    units = _units(stock, window, world.store_ids)
    assert sorted(units) == before and len(units) == len(set(units))


def test_rebalancing_under_a_crowd_neither_loses_nor_doubles(app, live_server):
    caps = (30, 30, 30, 30, 30)
    world = build(app, quota=100, caps=caps)
    people = residents(app, 400)
    _loaded(app, world)
    chooser = random.Random(11)
    # Most residents go to two of the five stores: units must flow there from the rest.
    picks = [world.store_ids[chooser.choice([0, 0, 0, 1, 1, 2, 3, 4])] for _ in people]
    answers = _fire(live_server, world, list(zip([p.token for p in people], picks)))
    rows, ok = _check_invariants(app, world, answers, 100, list(caps))
    # The window sells out exactly, and the store most residents chose filled up although
    # its share at the opening was a fifth of the quota (20 of its 30).
    assert len(rows) == 100
    assert Counter(r.store_id for r in rows)[world.store_ids[0]] == 30
    assert _units(app.extensions["stock"], world.window_id, world.store_ids) == []
    assert sorted(_booked_units(app, world)) == list(range(1, 101))


def test_units_on_their_way_to_a_share_keep_the_window_from_being_sold_out(app):
    world = build(app, quota=20, caps=(10, 10))
    stock = _loaded(app, world)
    window, store = world.window_id, world.store_ids[0]
    for store_id in world.store_ids:  # every unit back in the spare
        stock.return_share(window, store_id, 20)
    assert stock.shares(window, world.store_ids) == (20, [0, 0])
    # A refill under way: every unit has left the spare and not yet reached the share.
    journal = f"{window_key(window)}:out:{store}:inflight"
    stock.client.sadd(f"{window_key(window)}:moves", f"{journal}|{int(time.time() * 1000)}")
    stock._move_out(keys=[spare_key(window), journal, window_key(window)], args=[20, 3600])
    assert stock.shares(window, world.store_ids) == (0, [0, 0])

    with app.app_context():
        closes_at = db.session.get(Window, window).closes_at
        db.session.remove()
    done = stock.rebalance(window, closes_at)
    assert done["sold_out"] == 0 and not stock.is_sold_out(window)
    # The move lands, and every unit is there once.
    assert stock.finish_moves(window, older_than=0) == 1
    assert sorted(_units(stock, window, world.store_ids)) == list(range(1, 21))
