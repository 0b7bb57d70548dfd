"""The public randomness beacon scheduled draws take their public value from.

A drand-compatible HTTP API (``DRAW_BEACON_URL``, by default the League of Entropy's
``https://api.drand.sh/``): ``GET info`` gives ``genesis_time`` and ``period``; ``GET
public/<round>`` gives that round's ``randomness`` once its time has come. A scheduled draw
uses the first round that starts after its commitment was published: nobody — the operator
included — could know that value when the entries, quota and secret were fixed, and anyone
can fetch the same round from the beacon afterwards to check the published public value.
Waiting rooms (``booking.waiting_room``) take the order of their early joiners from it the
same way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

import requests


class BeaconUnavailable(RuntimeError):
    """The round is not out yet, or the beacon cannot be reached; try again later."""


@dataclass(frozen=True)
class BeaconValue:
    """One round of the beacon: the text that becomes a draw's public value."""

    round: int
    randomness: str

    @property
    def public_value(self) -> str:
        return f"drand round {self.round} randomness {self.randomness}"


@dataclass(frozen=True)
class Chain:
    """A beacon's schedule (its ``info``): round r comes out at ``genesis + (r - 1) ×
    period`` (Unix seconds)."""

    genesis: int
    period: int

    def round_after(self, unix_seconds: float) -> int:
        """The first round that comes out strictly after ``unix_seconds``."""
        return max(1, math.floor((unix_seconds - self.genesis) / self.period) + 2)

    def time_of(self, round_number: int) -> int:
        """When round ``round_number`` comes out, in Unix seconds."""
        return self.genesis + (round_number - 1) * self.period


class Beacon:
    """A client of one drand-compatible beacon."""

    def __init__(self, base_url: str, timeout: float = 5):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout

    def _get(self, path: str) -> dict:
        try:
            answer = requests.get(self.base_url + path, timeout=self.timeout)
        except requests.RequestException as error:
            raise BeaconUnavailable(f"beacon unreachable: {error.__class__.__name__}") from None
        if answer.status_code != 200:
            raise BeaconUnavailable(f"beacon answered {answer.status_code} for {path}")
        try:
            found = answer.json()
        except ValueError:
            raise BeaconUnavailable(f"beacon answered no JSON for {path}") from None
        if not isinstance(found, dict):
            raise BeaconUnavailable(f"beacon answered no object for {path}")
        return found

    def chain(self) -> Chain:
        """The beacon's schedule, from its ``info``."""
        info = self._get("info")
        try:
            chain = Chain(int(info["genesis_time"]), int(info["period"]))
        except (KeyError, TypeError, ValueError):
            raise BeaconUnavailable("beacon gave no genesis time and period") from None
        if chain.period < 1:
            raise BeaconUnavailable("beacon gave a period below one second")
        return chain

    def first_round_after(self, moment: datetime) -> int:
        """The first round whose time is strictly after ``moment``."""
        return self.chain().round_after(moment.timestamp())

    def value(self, round_number: int) -> BeaconValue:
        """Round ``round_number``'s randomness, or BeaconUnavailable while it is not out."""
        found = self._get(f"public/{round_number}")
        randomness = str(found.get("randomness", ""))
        if (str(found.get("round", "")) != str(round_number) or len(randomness) < 32
                or not re.fullmatch(r"[0-9a-f]+", randomness)):
            raise BeaconUnavailable(f"beacon gave no randomness for round {round_number}")
        return BeaconValue(round_number, randomness)
