"""China's administrative regions by their GB/T 2260 codes, read from python-stdnum's table
(the one ID numbers are checked against).

A code has six digits: province (2), prefecture or city (2), county or district (2). A
code ending in ``0000`` is a province (or a municipality: 310000 上海市), one ending in
``00`` a prefecture-level city (410100 郑州市), any other a county-level district
(410105 金水区). Scope is a comparison of codes (``covers``): a district covers itself, a
city every district under it, a province everything under it. Names are only for people
to read; two cities can each have a 鼓楼区 (Fuzhou's 350102 and Kaifeng's 410204), so
nothing is decided by a name.

Each code keeps every name it has had; ``current`` is False for codes that were retired
(崇文区, 闸北区), which still appear on ID cards but are not offered in a list.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

_LINE = re.compile(r'^(\s*)(\d+) (?:province|county)="([^"]*)"')
_SPAN = re.compile(r"^\[(\d*)-(\d*)\]")
# Names that are bookkeeping rows of the table, not places (市辖区, 县, 省直辖县级行政单位).
_NOT_A_PLACE = re.compile(r"直辖|^市辖区$|^辖区$|^县$")


@dataclass(frozen=True)
class Region:
    """One code of the table: its names over time, the current (or last) one, and whether
    it is in use today."""

    code: str
    name: str
    names: tuple[str, ...]
    current: bool

    @property
    def level(self) -> str:
        """``province``, ``city`` or ``district``."""
        if self.code.endswith("0000"):
            return "province"
        return "city" if self.code.endswith("00") else "district"


@functools.cache
def table() -> dict[str, Region]:
    """Every code python-stdnum's table knows, by code."""
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    found: dict[str, Region] = {}
    province = ""
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        indent, digits, raw = match.groups()
        if not indent:
            province = digits
            continue
        code = province + digits
        names, current = [], False
        for part in raw.split(","):
            span = _SPAN.match(part.strip())
            name = _SPAN.sub("", part.strip()).strip()
            if name and not _NOT_A_PLACE.search(name):
                names.append(name)
                current = span is None or span.group(2) == ""
        if names:
            found[code] = Region(code, names[-1], tuple(names), current)
    return found


def region(code: str | None) -> Region | None:
    """The region of a 6-digit code, or None for a code that never existed."""
    if not code or len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    return table().get(code)


def prefix(scope: str | None) -> str | None:
    """The leading digits every code inside ``scope`` shares (a province's 2, a city's 4, a
    district's 6), for a LIKE in SQL; None for no scope."""
    if not scope or len(scope) != 6 or not (scope.isascii() and scope.isdigit()):
        return None
    if scope.endswith("0000"):
        return scope[:2]
    return scope[:4] if scope.endswith("00") else scope


def covers(scope: str | None, code: str | None) -> bool:
    """True when the region ``scope`` includes the region ``code`` (itself, or a district of
    a city, or anything in a province). No code is covered by nothing, and nothing covers
    a missing code."""
    shared = prefix(scope)
    return bool(shared and code and len(code) == 6 and code.startswith(shared))


def districts_in(scope: str) -> list[Region]:
    """The county-level regions in use today within ``scope`` (a city's districts, or one
    district itself), by code."""
    return [found for code, found in sorted(table().items())
            if found.current and found.level == "district" and covers(scope, code)]


def named(name: str, within: str | None = None) -> list[Region]:
    """Regions that have ever been called ``name`` (within ``within`` when given), those in
    use first: a name may be shared, so the caller must choose when there are several."""
    text = name.strip()
    matches = [found for code, found in sorted(table().items())
               if text in found.names and (within is None or covers(within, code))]
    return sorted(matches, key=lambda found: not found.current)


def label(code: str | None) -> str:
    """The region as people read it: the city's name and the district's (郑州市金水区)."""
    found = region(code)
    if found is None:
        return code or ""
    if found.level == "district":
        city = table().get(found.code[:4] + "00") or table().get(found.code[:2] + "0000")
        if city is not None:
            return city.name + found.name
    return found.name
