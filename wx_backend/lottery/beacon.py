"""The public randomness beacon scheduled draws take their public value from.

A drand-compatible HTTP API (``DRAW_BEACON_URL``, by default the League of Entropy's
``https://api.drand.sh/``): ``GET info`` gives ``genesis_time`` and ``period``; ``GET
public/<round>`` gives that round's ``randomness`` once its time has come. A scheduled draw
uses the first round that starts after its commitment was published: nobody — the operator
included — could know that value when the entries, quota and secret were fixed, and anyone
can fetch the same round from the beacon afterwards to check the published public value.
"""

from __future__ import annotations

import math
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
        return answer.json()

    def first_round_after(self, moment: datetime) -> int:
        """The first round whose time is strictly after ``moment``."""
        info = self._get("info")
        genesis, period = int(info["genesis_time"]), int(info["period"])
        # Round r is published at genesis + (r - 1) * period.
        return max(1, math.floor((moment.timestamp() - genesis) / period) + 2)

    def value(self, round_number: int) -> BeaconValue:
        """Round ``round_number``'s randomness, or BeaconUnavailable while it is not out."""
        found = self._get(f"public/{round_number}")
        randomness = str(found.get("randomness", ""))
        if int(found.get("round", -1)) != round_number or len(randomness) < 32:
            raise BeaconUnavailable(f"beacon gave no randomness for round {round_number}")
        return BeaconValue(round_number, randomness)
