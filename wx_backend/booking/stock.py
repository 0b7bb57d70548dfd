"""The hot path in Redis: units of stock as numbered slots, and who holds a claim. The same
code runs on one Redis and on a Redis Cluster (``STOCK_REDIS_URL``); ``docs/scaling.md``
explains the layout and what it buys.

Every key carries a hash tag, and no script or transaction spans two tags:

- person ``{p:<cid>:<pk>}`` (``pk``: the person's or household's key)
  - ``wx:{p:…}:claim``            the claim, ``"<wid>:<seq or nonce>"``, expiring when
                                  the cooldown ends
  - ``wx:{p:…}:idem:<rid>:<key>`` an idempotent request's answer, or ``pending:<fp>``
- store ``{s:<sid>}``
  - ``wx:{s:…}:day:<yyyymmdd>``   the store's free slots for a pickup day (1..cap)
  - ``wx:{s:…}:w:<wid>``          hash ``opens``/``closes`` (epoch ms) and ``gen``: the
                                  store's part of the window is loaded
  - ``wx:{s:…}:w:<wid>:units``    this store's share of the window's unit numbers
  - ``wx:{s:…}:out:<wid>:<move>`` units on their way to the window's spare (a journal)
  - ``wx:{s:…}:applied:<wid>``    moves already applied here
- window ``{w:<wid>}``
  - ``wx:{w:…}``                  hash ``opens``, ``closes``, ``quota``, ``stores``, ``gen``;
                                  its presence means the window is loaded
  - ``wx:{w:…}:spare``            unit numbers no store holds yet
  - ``wx:{w:…}:out:<sid>:<move>`` units on their way to a store (a journal)
  - ``wx:{w:…}:applied``          moves already applied here
  - ``wx:{w:…}:moves``            journals of moves under way, in both directions
  - ``wx:{w:…}:sold_out``         set once every share and the spare are empty
  - ``wx:{w:…}:reissued``         the last ticket given to a unit that came back

A booking is two scripts. ``claim`` runs on the person's slot: a replayed idempotency key,
or an existing claim, ends it; otherwise the claim is set. ``take`` runs on the store's
slot: the window open by Redis's own clock, then a store-day slot and a unit of the
store's share, both or neither. If ``take`` fails, ``give_back_claim`` deletes the claim
only if it is still this attempt's (compare-and-delete). Nothing is touched per booking
that every booking shares: the reservation sequence is the window's ``seq_base`` plus the
unit number.

**Shares.** Loading a window splits its free units among its stores in proportion to what
each store can still hand out that day (never more than that), and the rounding remainder
goes to the spare. A store whose share runs out while it still has slots refills from the
spare (``refill``); when the spare is empty too, ``rebalance`` moves half of the other
stores' shares to the spare, so units flow to where residents are. Once the spare and
every share are empty and no move is under way (units between the spare and a share are
in neither), the window is marked sold out. A store whose day fills up gives what is left
of its share back to the spare.

**Moves lose and double nothing.** A move is registered in the window's ``moves`` set,
pops units into a journal on the source's slot (one script), applies them at the
destination unless that move id was applied there already (one script), then deletes the
journal and its registration. A crash leaves a registered journal, and ``finish_moves``
applies it again: the applied set makes that a no-op if it had arrived. (No SCAN: the
registry names every journal.)
Each loaded part holds the window's generation, bumped by every load from the database; a
move of an older generation is dropped, as the load already counted its units.

Everything here can be rebuilt from PostgreSQL (``first_come.sync_window`` and
``sync_claims``); the database's unique slots and cooldown constraint refuse whatever a
lost or replayed Redis write would let through twice.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime

import redis
from redis.crc import key_slot

# Announced on the main Redis (REDIS_URL) when units come back, so every process's
# sold-out mark for the window is dropped (booking.directory listens).
STOCK_RETURNED = "wx:stock-returned"
MOVE_JOURNAL_SECONDS = 3 * 86_400
MOVE_GRACE_SECONDS = 10  # a move this young is its mover's to finish

_CLAIM = """
if ARGV[4] ~= '' then
  local prior = redis.call('GET', KEYS[2])
  if prior then return {'replay', prior} end
end
local held = redis.call('GET', KEYS[1])
if held then return {'claimed', held} end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[2], 'pending:' .. ARGV[3], 'EX', ARGV[4])
end
return {'ok'}
"""

_GIVE_BACK_CLAIM = """
local dropped = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then dropped = redis.call('DEL', KEYS[1]) end
if ARGV[2] ~= '' then
  local stored = redis.call('GET', KEYS[2])
  if stored and string.sub(stored, 1, 8) == 'pending:' then redis.call('DEL', KEYS[2]) end
end
return dropped
"""

_DROP_CLAIM = """
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_loaded'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local span = redis.call('HMGET', KEYS[1], 'opens', 'closes')
if now < tonumber(span[1]) or now >= tonumber(span[2]) then return {'window_closed'} end
local store_slot = redis.call('LPOP', KEYS[3])
if not store_slot then return {'store_full'} end
local unit = redis.call('LPOP', KEYS[2])
if not unit then
  redis.call('LPUSH', KEYS[3], store_slot)
  return {'share_empty'}
end
return {'ok', unit, store_slot}
"""

_RELEASE = """
if ARGV[1] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('LPUSH', KEYS[1], ARGV[1])
end
if ARGV[2] ~= '' then redis.call('LPUSH', KEYS[2], ARGV[2]) end
return 1
"""

# Move up to ARGV[1] units from KEYS[1] (a list) into the journal KEYS[2]; KEYS[3] is the
# hash whose generation the journal records. Answers the units moved.
_MOVE_OUT = """
local units = redis.call('LPOP', KEYS[1], tonumber(ARGV[1]))
if not units then return {} end
redis.call('RPUSH', KEYS[2], redis.call('HGET', KEYS[3], 'gen') or '0', unpack(units))
redis.call('EXPIRE', KEYS[2], ARGV[2])
return units
"""

# Apply a journal's units to the list KEYS[1] once: KEYS[2] is the set of applied moves,
# KEYS[3] the hash holding the destination's generation; ARGV: move id, generation, units.
_MOVE_IN = """
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
if (redis.call('HGET', KEYS[3], 'gen') or '') ~= ARGV[2] then return -1 end
redis.call('RPUSH', KEYS[1], unpack(ARGV, 3, #ARGV - 1))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[#ARGV])
return 1
"""

# KEYS: the spare, the sold-out mark, the registry of moves under way. Units on their way
# between the spare and a share are in neither, so a move under way means not sold out.
_SOLD_OUT_IF_EMPTY = """
if redis.call('LLEN', KEYS[1]) == 0 and redis.call('SCARD', KEYS[3]) == 0 then
  redis.call('SET', KEYS[2], '1', 'PXAT', ARGV[1])
  return 1
end
return 0
"""


def person_tag(campaign_id: int, person_key: str) -> str:
    return f"{{p:{campaign_id}:{person_key}}}"


def claim_key(campaign_id: int, person_key: str) -> str:
    return f"wx:{person_tag(campaign_id, person_key)}:claim"


def idem_key(campaign_id: int, person_key: str, resident_id: int, key: str) -> str:
    return f"wx:{person_tag(campaign_id, person_key)}:idem:{resident_id}:{key}"


def store_day_key(store_id: int, pickup_date: date) -> str:
    return f"wx:{{s:{store_id}}}:day:{pickup_date:%Y%m%d}"


def share_key(window_id: int, store_id: int) -> str:
    return f"wx:{{s:{store_id}}}:w:{window_id}"


def share_units_key(window_id: int, store_id: int) -> str:
    return f"wx:{{s:{store_id}}}:w:{window_id}:units"


def window_key(window_id: int) -> str:
    return f"wx:{{w:{window_id}}}"


def spare_key(window_id: int) -> str:
    return f"wx:{{w:{window_id}}}:spare"


def sold_out_key(window_id: int) -> str:
    return f"wx:{{w:{window_id}}}:sold_out"


def _tag_on(slot_group: int) -> str:
    n = 0
    while key_slot(f"m{n}".encode()) // 256 != slot_group:
        n += 1
    return f"m{n}"


# One marker in every 256 hash slots (so on every shard of any sensible cluster): each is
# written by a full rebuild, and a missing one means a shard lost its data.
MARKERS = [f"wx:{{{_tag_on(group)}}}:reconciled" for group in range(64)]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Taken:
    """What ``take`` answered: ``ok`` with the unit, its ticket and the store slot, or why
    not."""

    status: str
    unit: int = 0
    store_slot: int = 0
    ticket: int = 0


def _ticketed(raw: str) -> tuple[int, int]:
    unit, _, ticket = raw.partition(".")
    return int(unit), int(ticket or unit)


@dataclass(frozen=True)
class Claimed:
    """What ``claim`` answered: ``ok`` (``value`` is the claim set), ``replay`` or
    ``claimed`` (``detail`` is the stored answer or the claim held)."""

    status: str
    value: str = ""
    detail: str = ""


class Stock:
    """Takes and returns units with one script per hash tag; see the module docstring."""

    def __init__(self, client: redis.Redis, announce: redis.Redis | None = None):
        self.client = client
        self.announce = announce or client
        self._claim = client.register_script(_CLAIM)
        self._give_back = client.register_script(_GIVE_BACK_CLAIM)
        self._drop_claim = client.register_script(_DROP_CLAIM)
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)
        self._move_out = client.register_script(_MOVE_OUT)
        self._move_in = client.register_script(_MOVE_IN)
        self._sold_out_if_empty = client.register_script(_SOLD_OUT_IF_EMPTY)

    # -- the booking path ---------------------------------------------------------------

    def claim(self, *, campaign_id: int, window_id: int, person_key: str,
              cooldown_until: datetime, idempotency: str = "", fingerprint: str = "",
              idem_ttl: int = 86400) -> Claimed:
        """Set the person's claim for this window unless they hold one (or the request is
        a replay); ``idempotency`` is the full key from ``idem_key``."""
        value = f"{window_id}:n{secrets.token_hex(6)}"
        keys = [claim_key(campaign_id, person_key)]
        if idempotency:
            keys.append(idempotency)
        answer = self._claim(keys=keys, args=[value, _ms(cooldown_until), fingerprint,
                                              idem_ttl if idempotency else ""])
        if answer[0] == "ok":
            return Claimed("ok", value=value)
        return Claimed(answer[0], detail=answer[1])

    def give_back_claim(self, campaign_id: int, person_key: str, value: str,
                        idempotency: str = "") -> None:
        """Delete the claim if it is still ``value``, and a pending idempotency record."""
        keys = [claim_key(campaign_id, person_key)]
        if idempotency:
            keys.append(idempotency)
        self._give_back(keys=keys, args=[value, "1" if idempotency else ""])

    def take(self, *, window_id: int, store_id: int, pickup_date: date) -> Taken:
        """A store-day slot and a unit of the store's share, both or neither."""
        answer = self._take(keys=[share_key(window_id, store_id),
                                  share_units_key(window_id, store_id),
                                  store_day_key(store_id, pickup_date)])
        if answer[0] == "ok":
            unit, ticket = _ticketed(answer[1])
            return Taken("ok", unit, int(answer[2]), ticket)
        return Taken(answer[0])

    def release(self, *, window_id: int, store_id: int, pickup_date: date,
                unit: int | None, store_slot: int | None, quota: int) -> None:
        """Give a unit back to the store's share with a fresh ticket (while the window is
        loaded and its range has room) and a slot back to the store's day."""
        element = ""
        if unit:
            ticket = self.client.incr(f"{window_key(window_id)}:reissued")
            if ticket <= quota:  # first reissue of a loaded window: start above the quota
                ticket = self.client.incrby(f"{window_key(window_id)}:reissued", quota)
            if ticket <= 2 * quota:
                element = f"{unit}.{ticket}"
            else:
                unit = None  # the range is used up: the unit stays out of this window
        self._release(keys=[share_units_key(window_id, store_id),
                            store_day_key(store_id, pickup_date),
                            share_key(window_id, store_id)],
                      args=[element, store_slot or ""])
        if unit:
            self.client.delete(sold_out_key(window_id))
            self.announce.publish(STOCK_RETURNED, window_id)

    def drop_claim(self, campaign_id: int, person_key: str, window_id: int) -> None:
        """Forget a claim (its cooldown no longer holds) if it is still for this window."""
        self._drop_claim(keys=[claim_key(campaign_id, person_key)], args=[f"{window_id}:"])

    # -- shares -------------------------------------------------------------------------

    def _move(self, window_id: int, source: tuple[str, str], journal: str,
              target: tuple[str, str, str], count: int) -> int:
        """Move up to ``count`` units from the list ``source[0]`` (generation in the hash
        ``source[1]``) to the list ``target[0]`` (applied set, generation hash)."""
        registry = f"{window_key(window_id)}:moves"
        entry = f"{journal}|{int(time.time() * 1000)}"
        self.client.sadd(registry, entry)
        self.client.expire(registry, MOVE_JOURNAL_SECONDS)
        units = self._move_out(keys=[source[0], journal, source[1]],
                               args=[count, MOVE_JOURNAL_SECONDS])
        if units:
            self._apply(journal, target, journal.rsplit(":", 1)[1])
        self.client.srem(registry, entry)
        return len(units)

    def _apply(self, journal: str, target: tuple[str, str, str], move_id: str) -> None:
        stored = self.client.lrange(journal, 0, -1)
        if len(stored) > 1:
            self._move_in(keys=list(target),
                          args=[move_id, stored[0], *stored[1:], MOVE_JOURNAL_SECONDS])
        self.client.delete(journal)

    def _to_store(self, window_id: int, store_id: int) -> tuple[str, str, str]:
        return (share_units_key(window_id, store_id),
                f"wx:{{s:{store_id}}}:applied:{window_id}", share_key(window_id, store_id))

    def _to_spare(self, window_id: int) -> tuple[str, str, str]:
        return (spare_key(window_id), f"{window_key(window_id)}:applied",
                window_key(window_id))

    def refill(self, window_id: int, store_id: int, count: int) -> int:
        """Move up to ``count`` units from the window's spare to the store's share."""
        return self._move(window_id, (spare_key(window_id), window_key(window_id)),
                          f"{window_key(window_id)}:out:{store_id}:{secrets.token_hex(8)}",
                          self._to_store(window_id, store_id), count)

    def return_share(self, window_id: int, store_id: int, count: int) -> int:
        """Move up to ``count`` units of the store's share back to the window's spare."""
        return self._move(window_id, (share_units_key(window_id, store_id),
                                      share_key(window_id, store_id)),
                          f"wx:{{s:{store_id}}}:out:{window_id}:{secrets.token_hex(8)}",
                          self._to_spare(window_id), count)

    def finish_moves(self, window_id: int, older_than: float = MOVE_GRACE_SECONDS) -> int:
        """Apply every journal a crashed mover left (each at most once), leaving moves
        younger than ``older_than`` seconds to their movers; answers how many."""
        registry = f"{window_key(window_id)}:moves"
        finished = 0
        for entry in self.client.smembers(registry):
            journal, _, started = entry.rpartition("|")
            if time.time() * 1000 - int(started or 0) < older_than * 1000:
                continue
            move = journal.rsplit(":", 1)[1]
            if journal.startswith(f"{window_key(window_id)}:out:"):
                target = self._to_store(window_id, int(journal.rsplit(":", 2)[1]))
            else:
                target = self._to_spare(window_id)
            self._apply(journal, target, move)
            self.client.srem(registry, entry)
            finished += 1
        return finished

    def stores_of(self, window_id: int) -> list[int]:
        raw = self.client.hget(window_key(window_id), "stores") or ""
        return [int(s) for s in raw.split(",") if s]

    def shares(self, window_id: int, store_ids: list[int]) -> tuple[int, list[int]]:
        """The spare, and each store's share, in units."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.llen(spare_key(window_id))
            for store_id in store_ids:
                pipe.llen(share_units_key(window_id, store_id))
            counts = pipe.execute()
        return counts[0], counts[1:]

    def rebalance(self, window_id: int, closes_at: datetime,
                  full_store: int | None = None) -> dict[str, int]:
        """Finish crashed moves, then:

        - with ``full_store`` (a store whose day is full): give its share, useless now, to
          the spare;
        - otherwise (a store is out of units and the spare is empty): move half, rounded
          up, of every share to the spare.

        Marks the window sold out once the spare and every share are empty.
        """
        finished = self.finish_moves(window_id)
        stores = self.stores_of(window_id)
        spare, shares = self.shares(window_id, stores)
        moved = 0
        if full_store is not None:
            units = dict(zip(stores, shares)).get(full_store, 0)
            if units:
                moved = self.return_share(window_id, full_store, units)
        elif spare == 0:
            for store_id, units in zip(stores, shares):
                if units:
                    moved += self.return_share(window_id, store_id, (units + 1) // 2)
        sold_out = 0
        if spare == 0 and moved == 0 and not any(shares):
            sold_out = self._sold_out_if_empty(
                keys=[spare_key(window_id), sold_out_key(window_id),
                      f"{window_key(window_id)}:moves"],
                args=[_ms(closes_at) + 86_400_000])
            if sold_out and any(self.shares(window_id, stores)[1]):
                # A move that ended between the count above and the mark put units in a
                # share (no move can start now: the spare is empty). Not sold out after all.
                self.client.delete(sold_out_key(window_id))
                self.announce.publish(STOCK_RETURNED, window_id)
                sold_out = 0
        return {"finished": finished, "moved": moved, "sold_out": sold_out}

    def is_sold_out(self, window_id: int) -> bool:
        return bool(self.client.exists(sold_out_key(window_id)))

    # -- reading and loading --------------------------------------------------------------

    def is_loaded(self, window_id: int) -> bool:
        return bool(self.client.exists(window_key(window_id)))

    def store_loaded(self, window_id: int, store_id: int) -> bool:
        return bool(self.client.exists(share_key(window_id, store_id)))

    def left(self, window_id: int, store_days: list[tuple[int, date]]) -> tuple[int, list[int]]:
        """Units left in the window (the spare and every share), and what each (store,
        pickup day) could still hand out: its free slots, at most its share plus the
        spare."""
        stores = self.stores_of(window_id)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.llen(spare_key(window_id))
            for store_id in stores:
                pipe.llen(share_units_key(window_id, store_id))
            for store_id, pickup_date in store_days:
                pipe.llen(store_day_key(store_id, pickup_date))
            counts = pipe.execute()
        spare, shares = counts[0], dict(zip(stores, counts[1:1 + len(stores)]))
        days = counts[1 + len(stores):]
        total = spare + sum(shares.values())
        return total, [min(free, shares.get(store_id, 0) + spare)
                       for (store_id, _), free in zip(store_days, days)]

    def load_window(self, *, window_id: int, opens_at: datetime, closes_at: datetime,
                    quota: int, used_units: set[int], used_tickets: set[int],
                    store_days: dict[tuple[int, date], tuple[int, set[int]]]) -> None:
        """Replace the window's and its store days' free units with what the database
        allows, split into shares (see the module docstring).

        ``used_units`` are the units bookings hold; ``used_tickets`` every ticket any
        booking of the window ever had (cancelled ones too): a free unit whose first ticket
        was used gets a fresh one. ``store_days`` maps (store, pickup day) to (daily cap,
        slots used). Each store's hash is written after its lists, and the window's hash
        last, so a half-loaded part still reads as not loaded.
        """
        gen = str(self.client.incr(f"{window_key(window_id)}:gen"))
        keep = _ms(closes_at) + 86_400_000
        reissued = max([quota, *used_tickets])
        free_units = []
        for unit in range(1, quota + 1):
            if unit in used_units:
                continue
            if unit not in used_tickets:
                free_units.append(str(unit))
            elif reissued < 2 * quota:
                reissued += 1
                free_units.append(f"{unit}.{reissued}")
        self.client.set(f"{window_key(window_id)}:reissued", reissued,
                        pxat=_ms(closes_at) + 86_400_000)
        free_slots = {store_id: [n for n in range(1, cap + 1) if n not in used]
                      for (store_id, _), (cap, used) in store_days.items()}
        shares = _split(len(free_units), {s: len(v) for s, v in free_slots.items()})
        span = {"opens": _ms(opens_at), "closes": _ms(closes_at), "gen": gen}
        self.client.delete(window_key(window_id))  # not loaded while it is rebuilt
        registry = f"{window_key(window_id)}:moves"
        for entry in self.client.smembers(registry):
            self.client.delete(entry.rpartition("|")[0])  # their units are counted afresh
        self.client.delete(registry)
        position = 0
        with self.client.pipeline(transaction=False) as pipe:
            for (store_id, pickup_date), slots in zip(store_days, free_slots.values()):
                share = free_units[position:position + shares[store_id]]
                position += len(share)
                day, units = store_day_key(store_id, pickup_date), \
                    share_units_key(window_id, store_id)
                for key in (share_key(window_id, store_id), units, day):
                    pipe.delete(key)  # one key a command: a cluster pipeline wants that
                if slots:
                    pipe.rpush(day, *slots)
                    pipe.pexpireat(day, keep + 2 * 86_400_000)
                if share:
                    pipe.rpush(units, *share)
                    pipe.pexpireat(units, keep)
                pipe.hset(share_key(window_id, store_id), mapping=span)
                pipe.pexpireat(share_key(window_id, store_id), keep)
            pipe.execute()
        spare = free_units[position:]
        with self.client.pipeline(transaction=False) as pipe:
            pipe.delete(spare_key(window_id))
            pipe.delete(sold_out_key(window_id))
            for start in range(0, len(spare), 5000):
                pipe.rpush(spare_key(window_id), *spare[start:start + 5000])
            pipe.pexpireat(spare_key(window_id), keep)
            pipe.hset(window_key(window_id), mapping={
                **span, "quota": quota,
                "stores": ",".join(str(s) for s, _ in store_days)})
            pipe.pexpireat(window_key(window_id), keep)
            pipe.execute()
        self.announce.publish(STOCK_RETURNED, window_id)

    def load_claims(self, campaign_id: int,
                    claims: list[tuple[str, int, int, datetime]]) -> None:
        """Set each (person, window, seq, until) claim."""
        with self.client.pipeline(transaction=False) as pipe:
            for person_key, window_id, seq, until in claims:
                pipe.set(claim_key(campaign_id, person_key), f"{window_id}:{seq}",
                         pxat=_ms(until))
            pipe.execute()

    def mark_reconciled(self, when: str) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            for marker in MARKERS:
                pipe.set(marker, when)
            pipe.execute()

    def needs_reconcile(self) -> bool:
        """True when any shard lost (or never had) the state a rebuild writes."""
        with self.client.pipeline(transaction=False) as pipe:
            for marker in MARKERS:
                pipe.exists(marker)
            return not all(pipe.execute())


def _split(units: int, room: dict[int, int]) -> dict[int, int]:
    """Each store's share of ``units``: in proportion to its room (free slots), never
    more than its room; what rounding leaves stays in the spare."""
    total = sum(room.values())
    if total <= units:
        return dict(room)
    return {store_id: units * free // total for store_id, free in room.items()}
