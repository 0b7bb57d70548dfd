"""The hot path in Redis: units of stock as numbered slots, and who holds a claim.

Keys (``wid`` window id, ``sid`` store id, ``cid`` campaign id):

- ``wx:w:{wid}``          hash: ``opens``/``closes`` (epoch ms), ``quota``; its presence
                           means the window is loaded.
- ``wx:w:{wid}:units``    list of the window's free unit numbers (1..quota).
- ``wx:sd:{sid}:{date}``  list of the store's free unit numbers for a pickup day (1..cap).
- ``wx:claim:{cid}:{pk}`` the person's claim, ``"<wid>:<seq>"``, expiring when the
                           cooldown ends.
- ``wx:seq:{cid}``        the campaign's booking sequence (reservation numbers derive from
                           it).
- ``wx:idem:{rid}:{key}`` an idempotent request's answer, or ``pending:<fingerprint>``.

``take_unit`` is one Lua script: it checks the window is open by Redis's own clock, the
person has no claim, then pops a store slot and a window slot, advances the sequence and
sets the claim — all or nothing. ``release_unit`` pushes the slots back, drops the claim if
it is still the same one and announces on ``wx:stock-returned`` that stock came back.
Everything here can be rebuilt from PostgreSQL by ``sync_window`` and ``sync_claims``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import redis

STOCK_RETURNED = "wx:stock-returned"

_TAKE = """
if KEYS[6] ~= '' then
  local prior = redis.call('GET', KEYS[6])
  if prior then return {'replay', prior} end
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_loaded'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local span = redis.call('HMGET', KEYS[1], 'opens', 'closes')
if now < tonumber(span[1]) or now >= tonumber(span[2]) then return {'window_closed'} end
local held = redis.call('GET', KEYS[4])
if held then return {'claimed', held} end
local store_slot = redis.call('LPOP', KEYS[3])
if not store_slot then
  if redis.call('LLEN', KEYS[2]) == 0 then return {'sold_out'} end
  return {'store_full'}
end
local window_slot = redis.call('LPOP', KEYS[2])
if not window_slot then
  redis.call('LPUSH', KEYS[3], store_slot)
  return {'sold_out'}
end
local seq = redis.call('INCR', KEYS[5])
redis.call('SET', KEYS[4], ARGV[1] .. ':' .. seq, 'PXAT', ARGV[2])
if KEYS[6] ~= '' then
  redis.call('SET', KEYS[6], 'pending:' .. ARGV[4], 'EX', ARGV[3])
end
return {'ok', window_slot, store_slot, seq}
"""

_RELEASE = """
if ARGV[1] ~= '' then redis.call('LPUSH', KEYS[1], ARGV[1]) end
if ARGV[2] ~= '' then redis.call('LPUSH', KEYS[2], ARGV[2]) end
if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
if KEYS[4] ~= '' then redis.call('DEL', KEYS[4]) end
redis.call('PUBLISH', KEYS[5], ARGV[4])
return 1
"""

_DROP_CLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_RAISE_SEQ = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


def window_key(window_id: int) -> str:
    return f"wx:w:{window_id}"


def window_units_key(window_id: int) -> str:
    return f"wx:w:{window_id}:units"


def store_day_key(store_id: int, pickup_date: date) -> str:
    return f"wx:sd:{store_id}:{pickup_date:%Y%m%d}"


def claim_key(campaign_id: int, person_key: str) -> str:
    return f"wx:claim:{campaign_id}:{person_key}"


def seq_key(campaign_id: int) -> str:
    return f"wx:seq:{campaign_id}"


def idem_key(resident_id: int, key: str) -> str:
    return f"wx:idem:{resident_id}:{key}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Taken:
    """The outcome of ``take_unit``: ``status`` ``ok`` with the slots and sequence, or why not."""

    status: str
    window_slot: int = 0
    store_slot: int = 0
    seq: int = 0
    detail: str = ""


class Stock:
    """Takes and returns units in Redis with single Lua scripts."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)
        self._raise_seq = client.register_script(_RAISE_SEQ)
        self._drop_claim = client.register_script(_DROP_CLAIM)

    def take_unit(self, *, campaign_id: int, window_id: int, store_id: int,
                  pickup_date: date, person_key: str, cooldown_until: datetime,
                  idempotency: str = "", fingerprint: str = "", idem_ttl: int = 86400) -> Taken:
        """Take one unit of the window and of the store's day for the person, atomically."""
        keys = [window_key(window_id), window_units_key(window_id),
                store_day_key(store_id, pickup_date), claim_key(campaign_id, person_key),
                seq_key(campaign_id), idempotency]
        answer = self._take(keys=keys, args=[window_id, _ms(cooldown_until), idem_ttl,
                                             fingerprint])
        status = answer[0]
        if status == "ok":
            return Taken("ok", int(answer[1]), int(answer[2]), int(answer[3]))
        return Taken(status, detail=answer[1] if len(answer) > 1 else "")

    def release_unit(self, *, campaign_id: int, window_id: int, store_id: int,
                     pickup_date: date, person_key: str, window_slot: int | None,
                     store_slot: int | None, seq: int | None, idempotency: str = "") -> None:
        """Give the slots back and drop the person's claim if it is this booking's."""
        claim = f"{window_id}:{seq}" if seq else ""
        self._release(
            keys=[window_units_key(window_id), store_day_key(store_id, pickup_date),
                  claim_key(campaign_id, person_key), idempotency, STOCK_RETURNED],
            args=[window_slot or "", store_slot or "", claim, window_id],
        )

    def drop_claim(self, campaign_id: int, person_key: str, window_id: int, seq: int) -> None:
        """Forget a claim (its cooldown no longer holds) if it is still this booking's."""
        self._drop_claim(keys=[claim_key(campaign_id, person_key)],
                         args=[f"{window_id}:{seq}"])

    def is_loaded(self, window_id: int) -> bool:
        return bool(self.client.exists(window_key(window_id)))

    def left(self, window_id: int, store_days: list[tuple[int, date]]) -> tuple[int, list[int]]:
        """Units left in the window and in each (store, pickup day), in one round trip."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.llen(window_units_key(window_id))
            for store_id, pickup_date in store_days:
                pipe.llen(store_day_key(store_id, pickup_date))
            counts = pipe.execute()
        return counts[0], counts[1:]

    def load_window(self, *, window_id: int, opens_at: datetime, closes_at: datetime,
                    quota: int, used_window_slots: set[int],
                    store_days: dict[tuple[int, date], tuple[int, set[int]]]) -> None:
        """Replace the window's and its store days' free slots with what the database allows.

        ``store_days`` maps (store, pickup day) to (daily cap, slots used). The window's
        hash is written last, so a half-loaded window still reads as not loaded.
        """
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(window_key(window_id), window_units_key(window_id))
            free = [n for n in range(1, quota + 1) if n not in used_window_slots]
            for start in range(0, len(free), 5000):
                pipe.rpush(window_units_key(window_id), *free[start:start + 5000])
            for (store_id, pickup_date), (cap, used) in store_days.items():
                key = store_day_key(store_id, pickup_date)
                pipe.delete(key)
                slots = [n for n in range(1, cap + 1) if n not in used]
                if slots:
                    pipe.rpush(key, *slots)
                    pipe.pexpireat(key, _ms(closes_at) + 3 * 86_400_000)
            pipe.hset(window_key(window_id), mapping={"opens": _ms(opens_at),
                                                      "closes": _ms(closes_at),
                                                      "quota": quota})
            pipe.pexpireat(window_key(window_id), _ms(closes_at) + 86_400_000)
            pipe.pexpireat(window_units_key(window_id), _ms(closes_at) + 86_400_000)
            pipe.execute()
        self.client.publish(STOCK_RETURNED, window_id)

    def load_claims(self, campaign_id: int,
                    claims: list[tuple[str, int, int, datetime]], max_seq: int) -> None:
        """Set each (person, window, seq, until) claim and never let the sequence go back."""
        with self.client.pipeline(transaction=False) as pipe:
            for person_key, window_id, seq, until in claims:
                pipe.set(claim_key(campaign_id, person_key), f"{window_id}:{seq}",
                         pxat=_ms(until))
            pipe.execute()
        self._raise_seq(keys=[seq_key(campaign_id)], args=[max_seq])
