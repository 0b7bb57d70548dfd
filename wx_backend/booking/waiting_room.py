"""A waiting room in front of a window: fair at the opening, cheap while people wait.

Switched on per campaign by ``[waiting_room] enabled = true`` in its rules
(``campaigns.rules.WaitingRoomSettings``).

**Joining.** A resident with a complete real-name profile joins from ``joins_from_minutes``
before the opening. One Lua call on the room's hash tag ``{r:<window>}`` gives the person
(the person key, not the account or the device: a second account of the same person gets
the same place) a join number in arrival order. Those who join before ``sorted_at``
(``sort_before_seconds`` before the opening, a minute by default) are "early"; the first
call after that moment seals their number, so the early joiners are exactly join numbers
1..E.

**The order.** Early joiners are ranked by ``SHA-1(secret ":" window ":" join number)``
(the first 13 hex digits, ties by join number), where the secret is derived from the
server's key and the window. Its SHA-256 (the commitment) is shown in the room before
anyone can be ranked, and the secret itself is published once the room closes, with the
list of early join numbers and each joiner's tag, so anyone can recompute the order
(``recompute_order``) and find themselves by their tag. Nobody, the operator included, can
choose a place: the secret is fixed before the first join. A late joiner's position is
their join number, so early joiners all come first. Ordering a minute before the opening
rather than at it means everyone who waited learns their place and their moment while
there is time, and the opening brings bookings only, not a rush of "where am I".

**Admitting.** Position ``p`` is admitted once ``admit_per_second × (now - opening) >= p``.
The serving counter is a function of the clock and the rules, so every process agrees on
it without asking anyone. A poll carries the resident's signed ticket (window, join number,
position, the person's digest) and is answered from process memory: the position from the
ticket, the serving counter from the clock, and "sold out" and the count of joiners from a
board each process refreshes from Redis at most every ``BOARD_REFRESH`` seconds. Only an
early joiner's first poll after ``sorted_at`` asks Redis for their rank (once), and gets a
ticket with the position filled in; those polls are spread over the stretch between
``sorted_at`` and shortly before the opening.

**Admission.** A poll within ``ADMIT_AHEAD`` seconds of the resident's turn carries an
admission token signed with the server's key: the window, the person's digest, the moment
their turn comes (``opening + position / admit_per_second``) and an expiry
``admission_seconds`` after it. The page books at that moment without asking again, so
bookings arrive at the admission rate and nobody loses time to polling. The booking path
checks the token in process (``check_admission``): no Redis call. A booking without one,
with a forged one, one of another person or window, or an expired one, is refused with
403; one sent before its moment gets 429 ``admission_not_yet`` with ``retry_after``.

**Closing.** Once the window is sold out (or closed) every poll answers so, and joining is
refused: everyone still waiting learns it at their next poll, a few seconds at most.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from itsdangerous import BadSignature, URLSafeSerializer
from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from wx_backend.booking.stock import Stock, sold_out_key, window_key
from wx_backend.campaigns.rules import WaitingRoomSettings
from wx_backend.core.errors import Conflict, Forbidden, InvalidInput, TooManyRequests
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


# Counted in each web process (prometheus-client; summed over processes by /metrics).
JOINS = Counter("wx_room_joins", "People who took a place in a waiting room", ["campaign"])
ADMISSIONS = Counter("wx_room_admissions", "Admission tokens handed out by waiting rooms "
                     "(a resident polling again once admitted gets a fresh one)", ["campaign"])


def _keys(window_id: int) -> list[str]:
    tag = f"wx:{{r:{window_id}}}"
    return [f"{tag}:people", f"{tag}:n", f"{tag}:early", f"{tag}:sealed", f"{tag}:tags"]


# KEYS: people, n, early, sealed, tags. ARGV: person key, now ms, ordering ms, secret, window
# id, tag, expire-at ms. Answers {join number, 1 if early, 1 if the person had joined}.
_JOIN = f"""
local had = redis.call('HGET', KEYS[1], ARGV[1])
local sealed = redis.call('GET', KEYS[4])
if had then
  local n = tonumber(had)
  local early = 0
  if (not sealed) or n <= tonumber(sealed) then early = 1 end
  return {{n, early, 1}}
end
local n = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], n)
redis.call('RPUSH', KEYS[5], ARGV[6])
local early = 0
if (not sealed) and tonumber(ARGV[2]) < tonumber(ARGV[3]) then
  local digest = redis.sha1hex(ARGV[4] .. ':' .. ARGV[5] .. ':' .. n)
  redis.call('ZADD', KEYS[3], tonumber(string.sub(digest, 1, {SCORE_DIGITS}), 16),
             string.format('%010d', n))
  early = 1
elseif not sealed then
  redis.call('SET', KEYS[4], n - 1)
end
for i = 1, 5 do redis.call('PEXPIREAT', KEYS[i], ARGV[7]) end
return {{n, early, 0}}
"""

# The early set's members are join numbers zero-padded to ten digits, so equal scores sort
# by join number. KEYS: n, early, sealed. ARGV: join number, now ms, ordering ms,
# expire-at ms. Seals the early joiners once the ordering moment has come, then answers the
# position (0 before it).
_PLACE = """
local sealed = redis.call('GET', KEYS[3])
if not sealed then
  if tonumber(ARGV[2]) < tonumber(ARGV[3]) then return 0 end
  sealed = redis.call('GET', KEYS[1]) or '0'
  redis.call('SET', KEYS[3], sealed, 'PXAT', ARGV[4])
end
local n = tonumber(ARGV[1])
if n > tonumber(sealed) then return n end
local rank = redis.call('ZRANK', KEYS[2], string.format('%010d', n))
if not rank then return 0 end
return rank + 1
"""


# -- what anyone can recompute ---------------------------------------------------------------

def room_secret(server_key: str, window_id: int) -> str:
    """The window's ranking secret: fixed before anyone joins, published after."""
    return hmac.new(server_key.encode(), f"waiting-room:{window_id}".encode(),
                    hashlib.sha256).hexdigest()


def commitment(secret: str) -> str:
    """What the room shows before the opening: the SHA-256 of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def score(secret: str, window_id: int, join_no: int) -> int:
    """An early joiner's rank key (lower goes first)."""
    digest = hashlib.sha1(f"{secret}:{window_id}:{join_no}".encode()).hexdigest()
    return int(digest[:SCORE_DIGITS], 16)


def recompute_order(secret: str, window_id: int, join_numbers: list[int]) -> list[int]:
    """The early joiners' join numbers in the order they were admitted."""
    return sorted(join_numbers, key=lambda n: (score(secret, window_id, n), n))


def person_tag(server_key: str, window_id: int, person_key: str) -> str:
    """A person's pseudonym in one window's room: shown to them, published in the list,
    and bound into their tickets; not linkable across windows."""
    return hmac.new(server_key.encode(), f"room-person:{window_id}:{person_key}".encode(),
                    hashlib.sha256).hexdigest()[:12]


def sorted_at(settings: WaitingRoomSettings, window) -> datetime:
    """When the early joiners are put in order: ``sort_before_seconds`` before the opening.
    Who joins from then on queues in arrival order after them."""
    return window.opens_at - timedelta(seconds=settings.sort_before_seconds)


def serving(settings: WaitingRoomSettings, opens_at: datetime, now: datetime) -> int:
    """How many positions the room has admitted by ``now``."""
    elapsed = (now - opens_at).total_seconds()
    return 0 if elapsed < 0 else math.floor(settings.admit_per_second * elapsed)


# -- tickets -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ticket:
    """A resident's place: campaign, window, join number, position (0: not yet known), the
    person's tag, and whether they joined before the opening."""

    campaign_id: int
    window_id: int
    join_no: int
    position: int
    tag: str
    early: bool


class Signer:
    """Signs and reads tickets and admission tokens with the server's key."""

    def __init__(self, server_key: str):
        self.server_key = server_key
        self._tickets = URLSafeSerializer(server_key, salt="waiting-room-ticket")
        self._admissions = URLSafeSerializer(server_key, salt="waiting-room-admission")

    def ticket(self, ticket: Ticket) -> str:
        return self._tickets.dumps([ticket.campaign_id, ticket.window_id, ticket.join_no,
                                    ticket.position, ticket.tag, int(ticket.early)])

    def read_ticket(self, raw: str, campaign_id: int) -> Ticket:
        """The ticket, if genuine and of this campaign; else InvalidInput."""
        try:
            c, w, n, p, tag, early = self._tickets.loads(raw)
            if int(c) == campaign_id:
                return Ticket(int(c), int(w), int(n), int(p), str(tag), bool(early))
        except (BadSignature, TypeError, ValueError):
            pass
        raise InvalidInput("invalid_ticket", "排队凭证无效，请重新进入排队",
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


class Rooms:
    """The waiting rooms of every window, on the hot path's Redis; one per app, safe across
    threads."""

    def __init__(self, client: redis.Redis, server_key: str, stock: Stock | None = None):
        self.client = client
        self.stock = stock
        self.signer = Signer(server_key)
        self._join = client.register_script(_JOIN)
        self._place = client.register_script(_PLACE)
        self._boards: dict[int, Board] = {}
        self._lock = threading.Lock()
        self.published: dict[int, dict] = {}  # proofs of closed windows, as served
        self._commitments: dict[int, str] = {}
        self._secrets: dict[int, str] = {}

    def forget(self) -> None:
        """Drop what this process remembers of every room (tests start afresh with it)."""
        self._boards.clear()
        self.published.clear()
        self._commitments.clear()
        self._secrets.clear()

    # -- Redis ----------------------------------------------------------------------------------

    def join(self, *, campaign_id: int, settings: WaitingRoomSettings, window, person_key: str,
             now: datetime) -> Ticket:
        """The person's place in the window's room (the same place if they had joined)."""
        secret = self._secret(window.id)
        tag = person_tag(self.signer.server_key, window.id, person_key)
        n, early, had = self._join(
            keys=_keys(window.id),
            args=[person_key, _ms(now), _ms(sorted_at(settings, window)), secret, window.id,
                  tag, _ms(window.closes_at) + KEEP_AFTER_CLOSE_MS])
        if not had:
            JOINS.labels(str(campaign_id)).inc()
        board = self._boards.get(window.id)
        if board is not None:  # this process has just seen the room grow to at least n
            board.joined = max(board.joined, int(n))
        # A late joiner's position is their join number; an early one's is known once the
        # early joiners are put in order.
        ticket = Ticket(campaign_id, window.id, int(n), 0 if early else int(n), tag,
                        bool(early))
        return self.placed(ticket, settings, window, now)

    def placed(self, ticket: Ticket, settings: WaitingRoomSettings, window,
               now: datetime) -> Ticket:
        """The ticket with its position, asking Redis only while the position is unknown
        and the early joiners have been put in order."""
        moment = sorted_at(settings, window)
        if ticket.position or now < moment:
            return ticket
        people, n, early, sealed, _tags = _keys(window.id)
        position = self._place(keys=[n, early, sealed],
                               args=[ticket.join_no, _ms(now), _ms(moment),
                                     _ms(window.closes_at) + KEEP_AFTER_CLOSE_MS])
        return Ticket(ticket.campaign_id, ticket.window_id, ticket.join_no, int(position),
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
            n = _keys(window_id)[1]
            with self.client.pipeline(transaction=False) as pipe:
                pipe.get(n)
                pipe.exists(sold_out_key(window_id))
                pipe.exists(window_key(window_id))
                joined, sold_out, loaded = pipe.execute()
            left = (self.stock.left(window_id, [])[0]
                    if loaded and self.stock is not None else None)
            board = Board(int(joined or 0), bool(sold_out), time.monotonic(), left)
            self._boards[window_id] = board
            return board

    def joins(self, window_id: int) -> tuple[int | None, list[str]]:
        """(the count of early joiners once sealed, every joiner's tag in join order)."""
        _people, _n, _early, sealed, tags = _keys(window_id)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.get(sealed)
            pipe.lrange(tags, 0, -1)
            early, every = pipe.execute()
        return (None if early is None else int(early)), list(every)

    # -- answers from memory --------------------------------------------------------------

    def _secret(self, window_id: int) -> str:
        found = self._secrets.get(window_id)
        if found is None:
            found = self._secrets[window_id] = room_secret(self.signer.server_key, window_id)
        return found

    def commitment(self, window_id: int) -> str:
        """The window's commitment (computed once per process)."""
        shown = self._commitments.get(window_id)
        if shown is None:
            shown = self._commitments[window_id] = commitment(self._secret(window_id))
        return shown

    def status(self, settings: WaitingRoomSettings, window, ticket: Ticket | None,
               now: datetime, *, sold_out: bool = False, raw_ticket: str | None = None) -> dict:
        """What the room tells a resident (or anyone, without a ticket).

        ``poll_after_ms`` says when the holder should ask again: when their turn is due
        (the serving counter is a function of the clock), at most ``LONGEST_POLL`` ahead.
        Between their own polls a waiting page reads the room's public state (no ticket:
        the same for everyone, so a CDN in front may cache it for ``PUBLIC_MAX_AGE``) to
        learn at once when the window sells out. ``raw_ticket`` is the ticket as received,
        handed back unchanged when the place is the same."""
        board = self.board(window.id)
        admitted = serving(settings, window.opens_at, now)
        body = {
            "window_id": window.id,
            "opens_at": window.opens_at.isoformat(),
            "closes_at": window.closes_at.isoformat(),
            "sorted_at": sorted_at(settings, window).isoformat(),
            "joined": board.joined,
            "serving": admitted,
            "admit_per_second": settings.admit_per_second,
            "commitment": self.commitment(window.id),
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
            # Not placed yet (or anyone, without a ticket). Early joiners are placed at
            # ``sorted_at``; they ask again at a random moment between it and a little
            # before the opening, so their polls come spread out, not all at once.
            until = (sorted_at(settings, window) - now).total_seconds()
            if ticket is None or until <= 0:
                return _with_poll(body, opening, PUBLIC_MAX_AGE)
            if until > 60:
                return _with_poll(body, opening, min(30.0, until / 2))
            spread = max(0.5, settings.sort_before_seconds - PLACED_BEFORE_OPENING)
            return _with_poll(body, opening, until + random.uniform(0.05, spread), jitter=False)
        body["position"] = ticket.position
        turn = window.opens_at.timestamp() + ticket.position / settings.admit_per_second
        due = turn - now.timestamp()
        # Handed ahead only to places that may still find a portion: those within what is
        # left beyond the places already admitted (and a second's worth of slack).
        within = (board.left is None
                  or ticket.position <= admitted + board.left + settings.admit_per_second)
        if due <= ADMIT_AHEAD and (within or due <= 0):
            expires = int(turn) + settings.admission_seconds
            ADMISSIONS.labels(str(ticket.campaign_id)).inc()
            body["admission"] = self.signer.admission(window.id, ticket.tag, int(turn * 1000),
                                                      expires)
            body["admission_from"] = datetime.fromtimestamp(turn, now.tzinfo).isoformat()
            body["admission_expires_at"] = datetime.fromtimestamp(
                expires, now.tzinfo).isoformat()
        if ticket.position <= admitted:
            return _with_poll(body, "admitted", None)
        body.update({"ahead": ticket.position - admitted - 1, "wait_seconds": math.ceil(due)})
        if body["admission"]:  # book at ``admission_from``; no need to ask again
            return _with_poll(body, opening, due, jitter=False)
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
        if (window_id != window.id
                or tag != person_tag(self.signer.server_key, window.id, person_key)):
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


def figures(rooms: Rooms, settings: WaitingRoomSettings, window, now: datetime) -> dict:
    """A room as the operator sees it (the console's dashboard and /metrics): how many
    joined, the serving position, and how many wait (joined and not yet admitted)."""
    board = rooms.board(window.id)
    admitted = serving(settings, window.opens_at, now)
    return {"joined": board.joined, "serving": admitted,
            "waiting": 0 if board.sold_out else max(0, board.joined - admitted),
            "sold_out": board.sold_out}


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

METHOD = ("开始前进入者（入场编号 1 至 early_count）按 "
          "SHA-1(secret + \":\" + 时段编号 + \":\" + 入场编号) 的前13位十六进制数从小到大排序，"
          "相同时入场编号小者在前；之后到达者按入场编号排在其后。"
          "开始前公布的 commitment 是 secret 的 SHA-256。")


def archive(session: Session, rooms: Rooms, window) -> WaitingRoomProof:
    """Keep the room's proof in PostgreSQL (once; later calls read it back). Commits."""
    stored = session.get(WaitingRoomProof, window.id)
    if stored is not None:
        return stored
    early, tags = rooms.joins(window.id)
    session.execute(pg_insert(WaitingRoomProof).values(
        window_id=window.id, secret=room_secret(rooms.signer.server_key, window.id),
        early_count=len(tags) if early is None else early,
        tags="\n".join(tags)).on_conflict_do_nothing())
    session.commit()
    return session.get(WaitingRoomProof, window.id)


def proof(session: Session, rooms: Rooms, campaign_id: int, window, now: datetime,
          sold_out: bool) -> dict:
    """The room's public proof: the commitment always; once the room has closed (sold out,
    or the window over) the secret and every joiner with their position, so anyone can
    check the order (``METHOD``). After the window it comes from PostgreSQL."""
    secret = room_secret(rooms.signer.server_key, window.id)
    body = {"campaign_id": campaign_id, "window_id": window.id,
            "opens_at": window.opens_at.isoformat(), "closes_at": window.closes_at.isoformat(),
            "commitment": commitment(secret), "method": METHOD, "secret": None,
            "early_count": None, "late_count": None, "early": [], "late": []}
    if now >= window.closes_at:
        cached = rooms.published.get(window.id)
        if cached is not None:
            return cached
        stored = archive(session, rooms, window)
        early, tags = stored.early_count, stored.tags.split("\n") if stored.tags else []
    elif sold_out or rooms.board(window.id).sold_out:
        early, tags = rooms.joins(window.id)
        early = len(tags) if early is None else early
    else:
        return body
    order = recompute_order(secret, window.id, list(range(1, early + 1)))
    position = {n: rank for rank, n in enumerate(order, 1)}
    body.update({
        "secret": secret, "early_count": early, "late_count": len(tags) - early,
        "early": [{"join_no": n, "tag": tags[n - 1], "position": position[n]}
                  for n in range(1, early + 1)],
        "late": [{"join_no": n, "tag": tags[n - 1], "position": n}
                 for n in range(early + 1, len(tags) + 1)]})
    if now >= window.closes_at:
        rooms.published[window.id] = body
    return body


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
