"""Test data: valid identity document numbers and mobile numbers, varied the way real
residents' are (see ``wx_backend.dev.people``)."""

from __future__ import annotations

import itertools
from datetime import date

from wx_backend.dev import people
from wx_backend.identity.residents import check_character


def id_number(region: str = "110105", birth: date = date(1985, 6, 15), serial: int = 1) -> str:
    """A valid 18-digit ID number (check character computed) for the given parts."""
    body = f"{region}{birth:%Y%m%d}{serial:03d}"
    return body + check_character(body)


class IdNumbers:
    """Distinct valid ID card numbers, one per call: regions from the seed cities and the
    provinces people come from (retired codes too), births from 1930 to 2008. ``region``
    pins the region code when a test needs one."""

    # Far above the numbers wx_backend.dev.residents hands out in tests and benchmarks.
    _FIRST = 20_000_000

    def __init__(self):
        self._serials = itertools.count(self._FIRST)

    def __call__(self, region: str | None = None) -> str:
        number = people.id_number(next(self._serials))
        if region is None:
            return number
        body = region + number[6:17]
        return body + check_character(body)


def phone(n: int) -> str:
    """The n-th test mobile number, across the carriers' prefixes."""
    return people.phone(n)
