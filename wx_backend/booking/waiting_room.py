"""A waiting room in front of a window: fair at the opening, cheap while people wait.

Switched on per campaign by ``[waiting_room] enabled = true`` in its rules
(``campaigns.rules.WaitingRoomSettings``).

**Joining.** A resident with a complete real-name profile joins from ``joins_from_minutes``
before the opening. One Lua call on the room's hash tag ``{r:<window>}`` gives the person
(the person key, not the account or the device: a second account of the same person gets
the same place) a join number in arrival order. Whether the join is "early" is decided in
that script by Redis's own clock (``TIME``) against ``sorted_at`` (``sort_before_seconds``
before the opening): no web process passes in the time, so none can slip a join in after
the cutoff. The first join at or after ``sorted_at`` seals the early group, so the early
joiners are exactly join numbers 1..E.

**The order.** Early joiners are ranked by ``SHA-1(randomness ":" window ":" join number)``
(the first 13 hex digits, ties by join number), where ``randomness`` is that of one round
of the public randomness beacon (``DRAW_BEACON_URL``, drand by default, the one the draws
use): the first round that comes out strictly after ``sorted_at`` plus ``BEACON_MARGIN``.
The round number is fixed by the window alone and the room shows it, with the moment it
comes out, from the first join. Nobody, whoever holds the server's keys included, can know
that value while joins still count as early, and nobody can choose it afterwards; anyone
can fetch the same round from the beacon and recompute the order (``recompute_order``,
which is the whole algorithm). The margin is there so that the beacon's clock and Redis's
need not agree to the millisecond; and the script that stores the value also seals the
early group, so no join is early once the value is in hand, whatever the clocks say.

**Ordering, once.** After ``sorted_at`` the first poll (any resident's, or the public
state's) that finds the round out fetches it: one fetcher at a time across processes (a
Redis lock), with a short timeout, and each process looks again at most every
``ORDER_RECHECK`` seconds (``BEACON_RETRY`` after a failure), so polls never wait on the
beacon one by one. The value is kept in Redis; the ordering script then scores the early
joiners in chunks of ``RANK_CHUNK`` (about 3 ms of Redis each, so a crowd of a million is
ranked in steps other commands run between, not in one long script) and marks the room
ordered. An
early joiner's first poll after that asks Redis for their rank, once, and gets a ticket
with the position filled in; until then their status answers as before the placement.
Those polls are spread over the stretch between the round and shortly before the opening.

**If the beacon cannot be reached.** There is no substitute value: any value the server
could use instead would be one its operator could know in advance or pick afterwards. The
room waits for the announced round (drand keeps every round, so it is only late, never
lost). Nobody is admitted before the early joiners' order is known, so late joiners never
overtake them; and if the opening comes first, the room is *held*: once the order is known
admissions start from that moment rather than the opening (places keep their spacing, so
the early ones do not all arrive at once). The delay is published with the proof
(``admissions_from``) and shown on the dashboard and in ``/metrics`` (``wx_room_held``).
An operator facing a long outage can switch the room off for the campaign (a rules
change), after which bookings are first come, first served.

**Admitting.** Position ``p`` is admitted once ``admit_per_second × (now - start) >= p``,
where ``start`` is the opening (or, for a held room, the moment its order became known).
The serving counter is a function of the clock, the rules and that start, so every
process agrees on it without asking anyone. A poll carries the resident's signed ticket
(window, join number, position, the person's tag) and is answered from process memory:
the position from the ticket, the serving counter from the clock, and "sold out", the
count of joiners and the order's state from a board each process refreshes from Redis at
most every ``BOARD_REFRESH`` seconds.

**Admission.** A poll within ``ADMIT_AHEAD`` seconds of the resident's turn (once the room
is ordered) carries an admission token signed with the server's key: the window, the
person's tag, the moment their turn comes (``start + position / admit_per_second``) and an
expiry ``admission_seconds`` after it. The page books at that moment without asking again,
so bookings arrive at the admission rate and nobody loses time to polling. The booking
path checks the token in process (``check_admission``): no Redis call. A booking without
one, with a forged one, one of another person or window, or an expired one, is refused
with 403; one sent before its moment gets 429 ``admission_not_yet`` with ``retry_after``.
Tickets and admissions are signed with ``SECRET_KEY`` and accepted under any of
``SECRET_KEY_FALLBACKS`` too (and a tag made with any of those keys is the person's), so a
key rotation does not throw anyone out of the queue.

**Closing.** Once the window is sold out (or closed) every poll answers so, and joining is
refused: everyone still waiting learns it at their next poll, a few seconds at most. The
proof (``proof``; ``archive`` keeps it in PostgreSQL when the window closes) carries the
beacon, the round, its randomness, the method, the count of early joiners and every
joiner's tag and place.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import redis
from itsdangerous import BadSignature, URLSafeSerializer
from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from wx_backend.booking.stock import Stock, sold_out_key, window_key
from wx_backend.campaigns.rules import WaitingRoomSettings
from wx_backend.core import clock
from wx_backend.core.errors import Conflict, Forbidden, TooManyRequests
from wx_backend.lottery.beacon import Beacon, BeaconUnavailable, BeaconValue, Chain
from wx_backend.models import WaitingRoomProof

ROOM_PATH = re.compile(r"^/api/v1/campaigns/([0-9]{1,18})/room$")
BOARD_REFRESH = 0.25  # seconds a process trusts its copy of a room's counts
LONGEST_POLL = 30.0  # seconds: a resident asks about their own place at least this often
ADMIT_AHEAD = 90.0  # seconds before their turn a resident gets their admission
PLACED_BEFORE_OPENING = 10.0  # early joiners learn their place at least this long before
CLOCK_SLACK = 0.5  # seconds a phone's clock may run ahead of ours when it books
PUBLIC_MAX_AGE = 2  # seconds the room's public state may be cached (a CDN, the page)
KEEP_AFTER_CLOSE_MS = 30 * 86_400_000  # the room's keys outlive the window by 30 days
SCORE_DIGITS = 13  # hex digits of the SHA-1 used as the rank (52 bits: exact in a double)
# The round that orders a room comes out at least this long after its cutoff: more than
# Redis's clock and the beacon's are ever apart.
BEACON_MARGIN = 2.0
BEACON_TIMEOUT = 2.0  # seconds a poll may spend asking the beacon (one poll at a time)
BEACON_RETRY = 2.0  # seconds a process waits before asking the beacon again after a failure
ORDER_RECHECK = 0.5  # seconds a process waits before looking again whether a room is ordered
ORDER_LATENCY = 1.0  # seconds after the round comes out early joiners first ask their place
RANK_CHUNK = 1000  # early joiners scored per call of the ordering script (about 3 ms of Redis)
CHAIN_KEEP = 7 * 86_400  # seconds the beacon's schedule is kept in Redis


# Counted in each web process (prometheus-client; summed over processes by /metrics).
JOINS = Counter("wx_room_joins", "People who took a place in a waiting room", ["campaign"])
ADMISSIONS = Counter("wx_room_admissions", "Admission tokens handed out by waiting rooms "
                     "(a resident polling again once admitted gets a fresh one)", ["campaign"])


class _Keys:
    """One room's keys, all on its hash tag (one slot of a Redis Cluster): ``people``
    (person key -> join number), ``state`` (the hash ``n``, ``sealed``, ``beacon``,
    ``order``), ``early`` (the early joiners by rank key), ``tags`` (every joiner's tag in
    join order) and ``fetching`` (the lock of whoever asks the beacon)."""

    def __init__(self, window_id: int):
        tag = f"wx:{{r:{window_id}}}"
        self.people, self.state, self.early = f"{tag}:people", f"{tag}:state", f"{tag}:early"
        self.tags, self.fetching = f"{tag}:tags", f"{tag}:fetching"


# KEYS: people, state, tags. ARGV: person key, cutoff (Unix ms), tag, expire-at ms.
# Whether the join is early is decided here by Redis's clock: the first join at or after
# the cutoff seals the early group (and, if it is empty, marks the room ordered).
# Answers {join number, 1 if early, 1 if the person had joined, their tag}.
_JOIN = """
local had = redis.call('HGET', KEYS[1], ARGV[1])
local sealed = redis.call('HGET', KEYS[2], 'sealed')
if had then
  local n = tonumber(had)
  local early = 0
  if (not sealed) or n <= tonumber(sealed) then early = 1 end
  return {n, early, 1, redis.call('LINDEX', KEYS[3], n - 1) or ARGV[3]}
end
if not sealed then
  local now = redis.call('TIME')
  if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) >= tonumber(ARGV[2]) then
    sealed = redis.call('HGET', KEYS[2], 'n') or '0'
    redis.call('HSET', KEYS[2], 'sealed', sealed)
    if sealed == '0' then redis.call('HSET', KEYS[2], 'order', '0') end
  end
end
local n = redis.call('HINCRBY', KEYS[2], 'n', 1)
redis.call('HSET', KEYS[1], ARGV[1], n)
redis.call('RPUSH', KEYS[3], ARGV[3])
for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], ARGV[4]) end
local early = 1
if sealed then early = 0 end
return {n, early, 0, ARGV[3]}
"""

# KEYS: state, early. ARGV: cutoff (Unix ms), opening (Unix ms), expire-at ms, window id,
# chunk, the beacon's value offered ("<round>:<randomness>", or "").
# Keeps the first value offered, seals the early group (at the cutoff by Redis's clock, or
# at once when the value is in hand), scores up to ``chunk`` more early joiners, and once
# all are scored marks the room ordered with the delay of its start (0, or how long after
# the opening the order came if the room was held). Answers {1, delay ms} once ordered,
# else {0, why}: "open" (joins still early), "value" (the round is needed), "ranking".
# The early set's members are join numbers zero-padded to ten digits, so equal scores sort
# by join number.
_ORDER = f"""
local state = redis.call('HGET', KEYS[1], 'order')
if state and state ~= 'held' then return {{1, state}} end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local value = redis.call('HGET', KEYS[1], 'beacon')
local sealed = redis.call('HGET', KEYS[1], 'sealed')
if (not sealed) and now < tonumber(ARGV[1]) and (not value) and ARGV[6] == '' then
  return {{0, 'open'}}
end
if (not value) and ARGV[6] ~= '' then
  value = ARGV[6]
  redis.call('HSET', KEYS[1], 'beacon', value)
end
if not sealed then
  sealed = redis.call('HGET', KEYS[1], 'n') or '0'
  redis.call('HSET', KEYS[1], 'sealed', sealed)
end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
local total = tonumber(sealed)
if total > 0 then
  if not value then return {{0, 'value'}} end
  local randomness = string.sub(value, string.find(value, ':', 1, true) + 1)
  local done = redis.call('ZCARD', KEYS[2])
  local upto = math.min(total, done + tonumber(ARGV[5]))
  for n = done + 1, upto do
    local digest = redis.sha1hex(randomness .. ':' .. ARGV[4] .. ':' .. n)
    redis.call('ZADD', KEYS[2], tonumber(string.sub(digest, 1, {SCORE_DIGITS}), 16),
               string.format('%010d', n))
  end
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
  if upto < total then return {{0, 'ranking'}} end
end
local delay = 0
if state == 'held' and now > tonumber(ARGV[2]) then delay = now - tonumber(ARGV[2]) end
redis.call('HSET', KEYS[1], 'order', string.format('%d', delay))
return {{1, string.format('%d', delay)}}
"""


# -- what anyone can recompute ---------------------------------------------------------------

def score(randomness: str, window_id: int, join_no: int) -> int:
    """An early joiner's rank key (lower goes first)."""
    digest = hashlib.sha1(f"{randomness}:{window_id}:{join_no}".encode()).hexdigest()
    return int(digest[:SCORE_DIGITS], 16)


def recompute_order(randomness: str, window_id: int, join_numbers: list[int]) -> list[int]:
    """The early joiners' join numbers in the order they were admitted. ``randomness`` is
    the beacon round's (proofs kept before the beacon was used hold a ``secret`` instead,
    which goes in the same place)."""
    return sorted(join_numbers, key=lambda n: (score(randomness, window_id, n), n))


def person_tag(server_key: str, window_id: int, person_key: str) -> str:
    """A person's pseudonym in one window's room: shown to them, published in the list,
    and bound into their tickets; not linkable across windows."""
    return hmac.new(server_key.encode(), f"room-person:{window_id}:{person_key}".encode(),
                    hashlib.sha256).hexdigest()[:12]


def sorted_at(settings: WaitingRoomSettings, window) -> datetime:
    """When the early joiners' group closes: ``sort_before_seconds`` before the opening.
    Who joins from then on queues in arrival order after them."""
    return window.opens_at - timedelta(seconds=settings.sort_before_seconds)


def ordering_round(chain: Chain, settings: WaitingRoomSettings, window) -> int:
    """The beacon round whose randomness orders the window's early joiners: the first that
    comes out strictly after ``sorted_at`` plus ``BEACON_MARGIN``."""
    cutoff = clock.to_real(sorted_at(settings, window)).timestamp()
    return chain.round_after(cutoff + BEACON_MARGIN)


def serving(settings: WaitingRoomSettings, start: datetime | None, now: datetime) -> int:
    """How many positions the room has admitted by ``now``, counting from ``start`` (the
    opening, or later for a room that waited for the beacon; None: none yet)."""
    if start is None:
        return 0
    elapsed = (now - start).total_seconds()
    return 0 if elapsed < 0 else math.floor(settings.admit_per_second * elapsed)


# -- tickets -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ticket:
    """A resident's place: campaign, window, join number, position (0: not yet known), the
    person's tag, and whether they joined before the cutoff."""

    campaign_id: int
    window_id: int
    join_no: int
    position: int
    tag: str
    early: bool


class Signer:
    """Signs tickets and admission tokens with the server's key and reads those signed with
    it or with any fallback key (``SECRET_KEY_FALLBACKS``), so a key rotation keeps every
    place and admission already handed out."""

    def __init__(self, server_key: str, fallback_keys: Iterable[str] | None = ()):
        self.server_key = server_key
        self.keys = [server_key, *(k for k in fallback_keys or () if k and k != server_key)]
        # itsdangerous takes its keys oldest first and signs with the last one.
        verifying = list(reversed(self.keys))
        self._tickets = URLSafeSerializer(verifying, salt="waiting-room-ticket")
        self._admissions = URLSafeSerializer(verifying, salt="waiting-room-admission")

    def tags(self, window_id: int, person_key: str) -> list[str]:
        """The person's tag in the window's room under every key this signer accepts."""
        return [person_tag(key, window_id, person_key) for key in self.keys]

    def ticket(self, ticket: Ticket) -> str:
        return self._tickets.dumps([ticket.campaign_id, ticket.window_id, ticket.join_no,
                                    ticket.position, ticket.tag, int(ticket.early)])

    def read_ticket(self, raw: str, campaign_id: int) -> Ticket:
        """The ticket, if genuine and of this campaign; else Forbidden: the proof of a
        place is refused."""
        try:
            c, w, n, p, tag, early = self._tickets.loads(raw)
            if int(c) == campaign_id:
                return Ticket(int(c), int(w), int(n), int(p), str(tag), bool(early))
        except (BadSignature, TypeError, ValueError):
            pass
        raise Forbidden("invalid_ticket", "排队凭证无效，请重新进入排队",
                           fields={"ticket": "无效的排队凭证"}) from None

    def admission(self, window_id: int, tag: str, not_before_ms: int, expires: int) -> str:
        return self._admissions.dumps([window_id, tag, not_before_ms, expires])

    def read_admission(self, raw: str) -> tuple[int, str, int, int]:
        """(window, tag, not before in Unix ms, expires in Unix s), if genuine."""
        try:
            w, tag, not_before_ms, expires = self._admissions.loads(raw)
            return int(w), str(tag), int(not_before_ms), int(expires)
        except (BadSignature, TypeError, ValueError):
            raise Forbidden("admission_invalid", "排队凭证无效，请重新排队") from None


# -- the room ------------------------------------------------------------------------------------

@dataclass
class Board:
    """One window's room as a process last saw it in Redis."""

    joined: int = 0
    sold_out: bool = False
    fetched: float = 0.0
    left: int | None = None  # units of the window not yet taken (None: not loaded yet)
    # The order: None (not known yet), "held" (the opening came first), or the delay in ms
    # of the room's start after the opening (0 unless it was held).
    order: int | str | None = None
    value: str | None = None  # the beacon's "<round>:<randomness>" once fetched


@dataclass
class Record:
    """What Redis holds of a room for its proof."""

    early: int | None  # the count of early joiners, once sealed
    beacon_round: int | None
    randomness: str | None
    delay_ms: int | None  # None while not ordered
    tags: list[str] = field(default_factory=list)


class Rooms:
    """The waiting rooms of every window, on the hot path's Redis; one per app, safe across
    threads."""

    def __init__(self, client: redis.Redis, server_key: str, stock: Stock | None = None, *,
                 fallback_keys: Iterable[str] | None = (), beacon_url: str | None = None):
        self.client = client
        self.stock = stock
        self.signer = Signer(server_key, fallback_keys)
        self.beacon_url = beacon_url
        self.beacon = Beacon(beacon_url, timeout=BEACON_TIMEOUT) if beacon_url else None
        self._join = client.register_script(_JOIN)
        self._order = client.register_script(_ORDER)
        self._boards: dict[int, Board] = {}
        self._lock = threading.Lock()
        self._ordering = threading.Lock()
        self.published: dict[int, dict] = {}  # proofs of closed windows, as served
        self._ordered: dict[int, int] = {}  # window -> delay of its start, once ordered
        self._next_look: dict[int, float] = {}  # window -> when to look again (monotonic)
        self._chain: Chain | None = None
        self._chain_retry = 0.0
        self._value_retry = 0.0
        self._chain_key = ("wx:beacon-chain:"
                           + hashlib.sha1((beacon_url or "").encode()).hexdigest()[:16])

    def forget(self) -> None:
        """Drop what this process remembers of every room (tests start afresh with it)."""
        self._boards.clear()
        self.published.clear()
        self._ordered.clear()
        self._next_look.clear()

    # -- the beacon ---------------------------------------------------------------------------

    def chain(self, *, fetch: bool = False) -> Chain | None:
        """The beacon's schedule: from memory, else Redis, else (with ``fetch``, at most
        every BEACON_RETRY seconds after a failure) the beacon itself. None if unknown."""
        if self._chain is not None or self.beacon is None:
            return self._chain
        stored = self.client.get(self._chain_key)
        if stored:
            genesis, period = stored.split(":")
            self._chain = Chain(int(genesis), int(period))
            return self._chain
        if not fetch or time.monotonic() < self._chain_retry:
            return None
        try:
            chain = self.beacon.chain()
        except BeaconUnavailable:
            self._chain_retry = time.monotonic() + BEACON_RETRY
            return None
        self.client.set(self._chain_key, f"{chain.genesis}:{chain.period}", ex=CHAIN_KEEP)
        self._chain = chain
        return chain

    def beacon_value(self, round_number: int) -> BeaconValue | None:
        """Round ``round_number``'s randomness from the beacon, or None (not out, or the
        beacon unreachable; then this process does not ask again for BEACON_RETRY s)."""
        if self.beacon is None or time.monotonic() < self._value_retry:
            return None
        try:
            return self.beacon.value(round_number)
        except BeaconUnavailable:
            self._value_retry = time.monotonic() + BEACON_RETRY
            return None

    def _fetch(self, settings: WaitingRoomSettings, window) -> BeaconValue | None:
        """The ordering round's value, if it is out: one fetcher at a time, everywhere.
        Without it, says when this process should look again (``_next_look``)."""
        chain = self.chain(fetch=True)
        if chain is None:
            self._next_look[window.id] = time.monotonic() + BEACON_RETRY
            return None
        round_number = ordering_round(chain, settings, window)
        due = chain.time_of(round_number) - time.time()
        if due > 0:  # not out yet: look again when it is
            self._next_look[window.id] = time.monotonic() + due
            return None
        lock = _Keys(window.id).fetching
        if not self.client.set(lock, "1", nx=True, px=int((BEACON_TIMEOUT + 1) * 1000)):
            return None  # another process is asking; its value will be in Redis
        try:
            value = self.beacon_value(round_number)
        finally:
            self.client.delete(lock)
        if value is None:
            self._next_look[window.id] = time.monotonic() + BEACON_RETRY
        return value

    def settle(self, settings: WaitingRoomSettings, window, now: datetime) -> bool:
        """Put the window's early joiners in order once the ordering round is out; True once
        the order is known. Cheap to call on every poll: after ``sorted_at`` a process
        looks at most every ORDER_RECHECK seconds, one thread at a time."""
        if window.id in self._ordered:
            return True
        moment = time.monotonic()
        if (now < sorted_at(settings, window) or moment < self._next_look.get(window.id, 0.0)
                or not self._ordering.acquire(blocking=False)):
            return False
        try:
            self._next_look[window.id] = moment + ORDER_RECHECK
            keys = _Keys(window.id)
            args = [_real_ms(sorted_at(settings, window)), _real_ms(window.opens_at),
                    _expire_ms(window), window.id, RANK_CHUNK]
            offered = ""
            while True:
                done, detail = self._order(keys=[keys.state, keys.early],
                                           args=[*args, offered])
                if int(done):
                    self._ordered[window.id] = int(detail)
                    board = self._boards.get(window.id)
                    if board is not None:
                        board.order = int(detail)
                    return True
                if detail == "ranking":
                    continue
                if detail != "value" or offered:
                    return False
                value = self._fetch(settings, window)
                if value is None:
                    break
                offered = f"{value.round}:{value.randomness}"
            if now >= window.opens_at:
                # The opening came before the order: nobody is admitted until it is known,
                # and then the room starts from that moment (_ORDER).
                self.client.hsetnx(keys.state, "order", "held")
            return False
        finally:
            self._ordering.release()

    # -- Redis ----------------------------------------------------------------------------------

    def join(self, *, campaign_id: int, settings: WaitingRoomSettings, window, person_key: str,
             now: datetime) -> Ticket:
        """The person's place in the window's room (the same place if they had joined).
        Whether it is early is Redis's call (its clock against ``sorted_at``)."""
        self.chain(fetch=True)  # so that the room can say which round will order it
        keys = _Keys(window.id)
        n, early, had, tag = self._join(
            keys=[keys.people, keys.state, keys.tags],
            args=[person_key, _real_ms(sorted_at(settings, window)),
                  person_tag(self.signer.server_key, window.id, person_key),
                  _expire_ms(window)])
        if not had:
            JOINS.labels(str(campaign_id)).inc()
        board = self._boards.get(window.id)
        if board is not None:  # this process has just seen the room grow to at least n
            board.joined = max(board.joined, int(n))
        # A late joiner's position is their join number; an early one's is known once the
        # early joiners are put in order.
        ticket = Ticket(campaign_id, window.id, int(n), 0 if int(early) else int(n), str(tag),
                        bool(int(early)))
        return self.placed(ticket, settings, window, now)

    def placed(self, ticket: Ticket, settings: WaitingRoomSettings, window,
               now: datetime) -> Ticket:
        """The ticket with its position, asking Redis only while an early joiner's position
        is unknown and the room has been put in order."""
        if ticket.position or not ticket.early or not self.settle(settings, window, now):
            return ticket
        rank = self.client.zrank(_Keys(window.id).early, f"{ticket.join_no:010d}")
        if rank is None:
            return ticket
        return Ticket(ticket.campaign_id, ticket.window_id, ticket.join_no, int(rank) + 1,
                      ticket.tag, ticket.early)

    def board(self, window_id: int) -> Board:
        """The room's counts, refreshed from Redis at most every BOARD_REFRESH seconds."""
        board = self._boards.get(window_id)
        if board is not None and time.monotonic() - board.fetched < BOARD_REFRESH:
            return board
        with self._lock:
            board = self._boards.get(window_id)
            if board is not None and time.monotonic() - board.fetched < BOARD_REFRESH:
                return board
            keys = _Keys(window_id)
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hmget(keys.state, ["n", "order", "beacon"])
                pipe.exists(sold_out_key(window_id))
                pipe.exists(window_key(window_id))
                (joined, order, value), sold_out, loaded = pipe.execute()
            left = (self.stock.left(window_id, [])[0]
                    if loaded and self.stock is not None else None)
            if order is not None and order != "held":
                order = int(order)
            board = Board(int(joined or 0), bool(sold_out), time.monotonic(), left, order,
                          value)
            self._boards[window_id] = board
            if self._chain is None:
                self.chain()
            return board

    def record(self, window_id: int, *, with_tags: bool) -> Record:
        """What Redis holds of the room for its proof (every joiner's tag, in join order,
        with ``with_tags``)."""
        keys = _Keys(window_id)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.state, ["sealed", "beacon", "order"])
            if with_tags:
                pipe.lrange(keys.tags, 0, -1)
            found = pipe.execute()
        (early, value, order), tags = found[0], (found[1] if with_tags else [])
        beacon_round, randomness = _split(value)
        return Record(None if early is None else int(early), beacon_round, randomness,
                      None if order in (None, "held") else int(order), list(tags))

    # -- answers from memory --------------------------------------------------------------

    def round_time(self, round_number: int | None) -> datetime | None:
        """When a round comes out (on our clock), if the beacon's schedule is known here."""
        if round_number is None or self._chain is None:
            return None
        out = datetime.fromtimestamp(self._chain.time_of(round_number), timezone.utc)
        return out + clock.offset()

    def shown_round(self, settings: WaitingRoomSettings, window,
                    board: Board | None = None) -> tuple[int | None, datetime | None]:
        """(the round that orders the room, when it comes out), from memory: the round
        fetched if any, else the one the window names; None while the beacon's schedule is
        unknown here."""
        board = board or self._boards.get(window.id)
        fetched = _split(board.value)[0] if board is not None else None
        chain = self._chain
        round_number = fetched or (ordering_round(chain, settings, window) if chain else None)
        return round_number, self.round_time(round_number)

    def status(self, settings: WaitingRoomSettings, window, ticket: Ticket | None,
               now: datetime, *, sold_out: bool = False, raw_ticket: str | None = None) -> dict:
        """What the room tells a resident (or anyone, without a ticket).

        ``poll_after_ms`` says when the holder should ask again: when their turn is due
        (the serving counter is a function of the clock), at most ``LONGEST_POLL`` ahead.
        Between their own polls a waiting page reads the room's public state (no ticket:
        the same for everyone, so a CDN in front may cache it for ``PUBLIC_MAX_AGE``) to
        learn at once when the window sells out. ``raw_ticket`` is the ticket as received,
        handed back unchanged when the place is the same. Past ``sorted_at`` it also puts
        the room in order if it is not yet (``settle``)."""
        self.settle(settings, window, now)
        board = self.board(window.id)
        start = _start(window, board.order)
        admitted = serving(settings, start, now)
        round_number, round_at = self.shown_round(settings, window, board)
        ordered = isinstance(board.order, int)
        body = {
            "window_id": window.id,
            "opens_at": window.opens_at.isoformat(),
            "closes_at": window.closes_at.isoformat(),
            "sorted_at": sorted_at(settings, window).isoformat(),
            "beacon_round": round_number,
            "beacon_at": round_at.isoformat() if round_at else None,
            "ordered": ordered,
            "held": board.order == "held",
            "joined": board.joined,
            "serving": admitted,
            "admit_per_second": settings.admit_per_second,
            "position": None, "ahead": None, "wait_seconds": None,
            "admission": None, "admission_from": None, "admission_expires_at": None,
        }
        if ticket is not None:
            body.update({"join_no": ticket.join_no, "tag": ticket.tag, "early": ticket.early,
                         "ticket": raw_ticket or self.signer.ticket(ticket)})
        if now >= window.closes_at:
            return _with_poll(body, "closed", None)
        if sold_out or board.sold_out:
            return _with_poll(body, "sold_out", None)
        opening = "before_opening" if now < window.opens_at else "waiting"
        if ticket is None or not ticket.position:
            # Not placed yet (or anyone, without a ticket). Early joiners are placed once
            # the round is out; they ask again at a random moment between then and a
            # little before the opening, so their polls come spread out, not all at once.
            expected = (round_at or sorted_at(settings, window)
                        + timedelta(seconds=BEACON_MARGIN)) + timedelta(seconds=ORDER_LATENCY)
            until = (expected - now).total_seconds()
            if ticket is None or until <= 0:
                return _with_poll(body, opening, PUBLIC_MAX_AGE)
            if until > 60:
                return _with_poll(body, opening, min(30.0, until / 2))
            latest = window.opens_at - timedelta(seconds=PLACED_BEFORE_OPENING)
            spread = max(0.5, (latest - expected).total_seconds())
            return _with_poll(body, opening, until + random.uniform(0.05, spread), jitter=False)
        body["position"] = ticket.position
        if start is None:  # held: nobody is admitted until the early joiners' order is known
            body["ahead"] = ticket.position - 1
            return _with_poll(body, opening, PUBLIC_MAX_AGE)
        turn = start.timestamp() + ticket.position / settings.admit_per_second
        due = turn - now.timestamp()
        # Handed ahead only once the room is in order (so no late joiner can go before an
        # early one), and only to places that may still find a portion: those within what
        # is left beyond the places already admitted (and a second's worth of slack).
        within = (board.left is None
                  or ticket.position <= admitted + board.left + settings.admit_per_second)
        if ordered and due <= ADMIT_AHEAD and (within or due <= 0):
            expires = int(turn) + settings.admission_seconds
            ADMISSIONS.labels(str(ticket.campaign_id)).inc()
            body["admission"] = self.signer.admission(window.id, ticket.tag, int(turn * 1000),
                                                      expires)
            body["admission_from"] = datetime.fromtimestamp(turn, now.tzinfo).isoformat()
            body["admission_expires_at"] = datetime.fromtimestamp(
                expires, now.tzinfo).isoformat()
        if ordered and ticket.position <= admitted:
            return _with_poll(body, "admitted", None)
        body.update({"ahead": max(0, ticket.position - admitted - 1),
                     "wait_seconds": max(0, math.ceil(due))})
        if body["admission"]:  # book at ``admission_from``; no need to ask again
            return _with_poll(body, opening, due, jitter=False)
        if not ordered and due <= ADMIT_AHEAD:  # the admission waits for the order
            return _with_poll(body, opening, PUBLIC_MAX_AGE)
        # Far off: ask again once the turn is within ADMIT_AHEAD. Beyond what is left: ask
        # at the turn (if the window has not sold out by then, a portion came back), and
        # meanwhile read the public state like everyone else.
        later = due - ADMIT_AHEAD / 2 if due > ADMIT_AHEAD else due
        return _with_poll(body, opening, min(LONGEST_POLL, max(1.0, later)), jitter=False)

    def check_admission(self, settings: WaitingRoomSettings | None, window, person_key: str,
                        token: str | None, now: datetime) -> None:
        """Refuse a booking without a valid admission to this window's room (403)."""
        if settings is None:
            return
        if not token:
            raise Forbidden("not_admitted", "人多排队中，请先进入排队，轮到您后再预约")
        window_id, tag, not_before_ms, expires = self.signer.read_admission(token)
        mine = any(hmac.compare_digest(tag, own)
                   for own in self.signer.tags(window.id, person_key))
        if window_id != window.id or not mine:
            raise Forbidden("admission_invalid", "排队凭证无效，请重新排队")
        if expires < now.timestamp():
            raise Forbidden("admission_expired", "排队凭证已过期，请回到排队页面重新获取")
        early = not_before_ms / 1000 - now.timestamp()
        if early > CLOCK_SLACK:
            raise TooManyRequests("admission_not_yet", "还没轮到您，请稍候",
                                  retry_after=max(1, math.ceil(early)))


def _with_poll(body: dict, status: str, seconds: float | None, jitter: bool = True) -> dict:
    """The status, and when to ask again: ``seconds`` with up to 30% jitter, so a crowd
    that joined together does not poll together (None: no need to ask again)."""
    body["status"] = status
    if seconds is not None and jitter:
        seconds *= random.uniform(1.0, 1.3)
    body["poll_after_ms"] = None if seconds is None else int(seconds * 1000)
    return body


def _start(window, order: int | str | None) -> datetime | None:
    """When the room starts admitting: the opening, later by the delay of a room that
    waited for the beacon; None while it is held."""
    if order == "held":
        return None
    return window.opens_at + timedelta(milliseconds=order if isinstance(order, int) else 0)


def figures(rooms: Rooms, settings: WaitingRoomSettings, window, now: datetime) -> dict:
    """A room as the operator sees it (the console's dashboard and /metrics): how many
    joined, the serving position, how many wait (joined and not yet admitted), and the
    order's state (``pending``, ``ordered`` or ``held``) with the round that decides it."""
    board = rooms.board(window.id)
    admitted = serving(settings, _start(window, board.order), now)
    order = ("held" if board.order == "held"
             else "ordered" if isinstance(board.order, int) else "pending")
    return {"joined": board.joined, "serving": admitted,
            "waiting": 0 if board.sold_out else max(0, board.joined - admitted),
            "sold_out": board.sold_out, "order": order,
            "beacon_round": rooms.shown_round(settings, window, board)[0]}


def joinable(settings: WaitingRoomSettings, snapshot, now: datetime):
    """The window whose room is open for joining at ``now``, or Conflict saying why not."""
    window = snapshot.window_at(now)
    if window is not None:
        return window
    upcoming = snapshot.next_window(now)
    if upcoming is None:
        raise Conflict("window_closed", "目前没有可预约的时段")
    minutes = settings.joins_from_minutes
    if (upcoming.opens_at - now).total_seconds() > minutes * 60:
        local = upcoming.opens_at.astimezone(snapshot.rules.zone)
        raise Conflict("room_not_open",
                       f"排队将于开始前{minutes}分钟开放，本时段{local:%m月%d日 %H:%M}开始",
                       opens_at=upcoming.opens_at.isoformat())
    return upcoming


# -- the proof, published once the room closes --------------------------------------------

METHOD = ("排序时刻（sorted_at）之前进入者为开始前进入者，入场编号 1 至 early_count；"
          "他们按 SHA-1(randomness + \":\" + 时段编号 + \":\" + 入场编号) 的前13位十六进制数"
          "从小到大排序，相同时入场编号小者在前；之后到达者按入场编号排在其后。"
          "randomness 是公开随机数信标（beacon_url，drand 兼容）第 beacon_round 轮的随机数，"
          "该轮是 sorted_at 加 2 秒之后公布的第一轮：进入截止前任何人（包括持有服务器密钥者）"
          "都无法知道它，事后任何人都可以向信标查询该轮核对。"
          "若开始时尚未取得该轮随机数，放行从取得之时（admissions_from）起算。")
# The method of proofs kept before the rooms took their order from the beacon.
METHOD_SECRET = ("开始前进入者（入场编号 1 至 early_count）按 "
                 "SHA-1(secret + \":\" + 时段编号 + \":\" + 入场编号) 的前13位十六进制数"
                 "从小到大排序，相同时入场编号小者在前；之后到达者按入场编号排在其后。"
                 "开始前公布的 commitment 是 secret 的 SHA-256。")


def is_complete(stored: WaitingRoomProof) -> bool:
    """Whether a kept proof has all anyone needs to recompute the order."""
    return bool(stored.secret or stored.randomness or stored.early_count == 0)


def archive(session: Session, rooms: Rooms, settings: WaitingRoomSettings,
            window) -> WaitingRoomProof:
    """Keep the room's proof in PostgreSQL (once; later calls read it back). Commits.

    What Redis holds is kept at the first call, so it outlives the room's keys. If the room
    was never put in order and the beacon cannot be reached now, the round and its
    randomness are filled in by a later call (``is_complete`` says whether they are)."""
    stored = session.get(WaitingRoomProof, window.id)
    if stored is None:
        found = rooms.record(window.id, with_tags=True)
        chain = rooms.chain(fetch=True)
        session.execute(pg_insert(WaitingRoomProof).values(
            window_id=window.id, tags="\n".join(found.tags),
            early_count=len(found.tags) if found.early is None else found.early,
            beacon_url=rooms.beacon_url, randomness=found.randomness,
            beacon_round=found.beacon_round or (
                ordering_round(chain, settings, window) if chain else None),
            admissions_from=(None if found.delay_ms is None else
                             window.opens_at + timedelta(milliseconds=found.delay_ms)),
        ).on_conflict_do_nothing())
        session.commit()
        stored = session.get(WaitingRoomProof, window.id)
    if is_complete(stored):
        return stored
    if stored.beacon_round is None:
        chain = rooms.chain(fetch=True)
        if chain is None:
            return stored
        stored.beacon_round = ordering_round(chain, settings, window)
    value = rooms.beacon_value(stored.beacon_round)
    if value is not None:
        stored.randomness = value.randomness
    session.commit()
    return stored


def proof(session: Session, rooms: Rooms, settings: WaitingRoomSettings, campaign_id: int,
          window, now: datetime, sold_out: bool) -> dict:
    """The room's public proof: the beacon and the round that orders it always, its
    randomness and the count of early joiners once known; once the room has closed (sold
    out, or the window over) every joiner with their place, so anyone can check the order
    (``METHOD``). After the window it comes from PostgreSQL."""
    closed = now >= window.closes_at
    if closed and window.id in rooms.published:
        return rooms.published[window.id]
    rooms.chain()  # the beacon's schedule, if any process has learnt it
    round_number, round_at = rooms.shown_round(settings, window)
    body = {"campaign_id": campaign_id, "window_id": window.id,
            "opens_at": window.opens_at.isoformat(), "closes_at": window.closes_at.isoformat(),
            "sorted_at": sorted_at(settings, window).isoformat(), "method": METHOD,
            "beacon_url": rooms.beacon_url, "beacon_round": round_number,
            "beacon_at": round_at.isoformat() if round_at else None, "randomness": None,
            "admissions_from": None, "early_count": None, "late_count": None,
            "early": [], "late": []}
    stored = archive(session, rooms, settings, window) if closed else None
    if stored is not None:
        early, tags = stored.early_count, stored.tags.split("\n") if stored.tags else []
        key = stored.randomness or stored.secret
        body.update({"beacon_url": stored.beacon_url, "beacon_round": stored.beacon_round,
                     "beacon_at": _iso(rooms.round_time(stored.beacon_round)),
                     "randomness": stored.randomness,
                     "admissions_from": _iso(stored.admissions_from)})
        if stored.secret:  # kept before the rooms took their order from the beacon
            body.update({"method": METHOD_SECRET, "secret": stored.secret,
                         "commitment": hashlib.sha256(stored.secret.encode()).hexdigest(),
                         "beacon_url": None, "beacon_round": None, "beacon_at": None})
    else:
        finished = closed or sold_out or rooms.board(window.id).sold_out
        found = rooms.record(window.id, with_tags=finished)
        early = found.early if found.early is not None or not finished else len(found.tags)
        tags, key = found.tags, found.randomness
        body.update({"randomness": found.randomness, "early_count": early,
                     "admissions_from": None if found.delay_ms is None else (
                         window.opens_at + timedelta(milliseconds=found.delay_ms)).isoformat()})
        if found.beacon_round is not None:
            body.update({"beacon_round": found.beacon_round,
                         "beacon_at": _iso(rooms.round_time(found.beacon_round))})
        if not finished:
            return body
    body["early_count"] = early
    if early and key is None:  # the round's randomness is not in hand yet
        return body
    order = recompute_order(key or "", window.id, list(range(1, early + 1)))
    position = {n: rank for rank, n in enumerate(order, 1)}
    body.update({
        "late_count": len(tags) - early,
        "early": [{"join_no": n, "tag": tags[n - 1], "position": position[n]}
                  for n in range(1, early + 1)],
        "late": [{"join_no": n, "tag": tags[n - 1], "position": n}
                 for n in range(early + 1, len(tags) + 1)]})
    if closed and stored is not None:
        rooms.published[window.id] = body
    return body


def _split(value: str | None) -> tuple[int | None, str | None]:
    """A stored beacon value "<round>:<randomness>" as (round, randomness)."""
    if not value:
        return None, None
    round_number, _, randomness = value.partition(":")
    return int(round_number), randomness


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _real_ms(moment: datetime) -> int:
    """``moment`` of our clock as Unix ms of the real one (Redis's and the beacon's)."""
    return int(clock.to_real(moment).timestamp() * 1000)


def _expire_ms(window) -> int:
    return _real_ms(window.closes_at) + KEEP_AFTER_CLOSE_MS
