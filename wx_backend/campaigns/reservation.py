"""Reservation numbers: 8 digits that neighbours cannot guess from their own.

Each booking of a campaign takes the next sequence number from Redis; a keyed Feistel
permutation over the 90,000,000 eight-digit numbers (10000000-99999999) turns it into the
reservation number. A permutation never maps two sequence numbers to one reservation
number, so numbers are unique without a lookup, and without the campaign's key the next
or previous number cannot be worked out from one's own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_HALF = 10_000          # the domain 0..10^8-1 is two base-10^4 halves
_ROUNDS = 6
_LOW, _HIGH = 10_000_000, 100_000_000
CAPACITY = _HIGH - _LOW


def new_key() -> str:
    """A fresh random key for a campaign."""
    return secrets.token_hex(32)


def _round(key: bytes, n: int, value: int) -> int:
    digest = hmac.new(key, f"{n}:{value}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % _HALF


def _permute(key: bytes, value: int) -> int:
    left, right = divmod(value, _HALF)
    for n in range(_ROUNDS):
        left, right = right, (left + _round(key, n, right)) % _HALF
    return left * _HALF + right


def reservation_number(key_hex: str, seq: int) -> str:
    """The reservation number of sequence number ``seq`` (1-based) under ``key_hex``."""
    if not 1 <= seq <= CAPACITY:
        raise ValueError(f"sequence {seq} outside 1..{CAPACITY}")
    key = bytes.fromhex(key_hex)
    # Cycle-walk: permute within 0..10^8-1 until the result is an 8-digit number; the map
    # restricted to those numbers is still a bijection.
    value = seq - 1 + _LOW
    while True:
        value = _permute(key, value)
        if value >= _LOW:
            return str(value)
