"""Test data: valid Chinese resident ID numbers and mobile numbers."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from stdnum.cn import ric


def id_number(region: str = "110105", birth: date = date(1985, 6, 15), serial: int = 1) -> str:
    """A valid 18-digit ID number (check digit computed) for the given parts."""
    body = f"{region}{birth:%Y%m%d}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")


class IdNumbers:
    """Distinct valid ID numbers, one per call, from several real Beijing districts."""

    def __init__(self):
        self._serials = itertools.count(1)

    def __call__(self, region: str = "110105") -> str:
        serial = next(self._serials)
        return id_number(region, date(1960, 1, 1) + timedelta(days=serial * 97), serial % 1000)


def phone(n: int) -> str:
    """The n-th test mobile number (139 0000 nnnn)."""
    return f"1390000{n:04d}"
