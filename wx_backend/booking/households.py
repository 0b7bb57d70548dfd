"""Households: an address reduced to one key, so that "one address books once" can be
enforced exactly like "one person books once".

``canonical_address`` removes what people write differently about the same flat:

- invisible characters, and digits of other scripts (read as 0-9: ``core.canonical.fold``);
- width, blanks and punctuation;
- the administrative divisions in front, in any of their written forms: province, city
  and district as GB/T 2260 names them (python-stdnum's region table, current and former
  names), full (上海市, 河南省, 内蒙古自治区, 郑州市, 浦东新区) or short (上海, 河南, 内蒙古,
  郑州) — a short form only where another division follows it, so that 北京路 stays a road.
  The district goes too: a campaign serves one city, and a city does not give two roads
  one name (地名管理条例), so "浦东新区科苑路66号" and "科苑路66号" are one building;
- the sub-district (…街道, and …镇 or …乡 after a district), named or omitted;
- Chinese numerals in any position (cn2an): 八十八号 → 88号, 二单元 → 2单元, 一二零一 → 1201;
- a numbered courtyard is its street number (10号院 → 10号); words for a building (幢,
  号楼, 座 → 栋; in a Shanghai lane 3号 is the building, as is a number directly followed
  by the flat), 3-2-201 → 3栋2单元201, and a trailing 号, 室, 户 or 房.

The household key is a keyed hash of that canonical form (a blind index, like the ID
number's): equal keys, same household; the address itself is never stored in the clear.

An address must also name a house: a number that is a street number, lane, building, unit
or flat, or it is refused as too vague to be one household. ``in_area`` checks it names one
of the campaign's districts, streets or communities. ``possible_duplicates`` finds
registrations whose canonical addresses differ by a character or two on the same street,
for the residents' committee to compare side by side.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict

import cn2an
from rapidfuzz.distance import Levenshtein

from wx_backend.core import regions
from wx_backend.core.canonical import fold
from wx_backend.core.errors import InvalidInput
from wx_backend.core.pii import PiiVault

INDEX_HOUSEHOLD = "household"

_PUNCTUATION = re.compile(r"[\s,，。.、;；:：'\"“”‘’()（）\[\]【】#＃]+")
_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_STREET_OFFICE = re.compile(rf"^[{_HAN}]{{2,8}}?街道(?:办事处)?(?![路街道巷弄里村])")
_TOWN = re.compile(rf"^[{_HAN}]{{2,6}}?[镇乡](?![路街道巷弄里村])")
_BUILDING = re.compile(r"(\d+)(?:幢|号楼|座|栋)")
_COURTYARD = re.compile(r"(\d+)号院")
_LANE_BUILDING = re.compile(r"弄(\d+)号(?!\d*栋)")
_NUMBER_THEN_FLAT = re.compile(r"(\d+)号(?=\d+(?:室|户|房|号)?$)")
_UNIT_DASH = re.compile(r"(\d+)[-－—~～](\d+)[-－—~～](\d+)")
_FLAT_DASH = re.compile(r"(\d+)栋(\d+)[-－—~～](\d+)")
_TRAILING = re.compile(r"(?<=\d)(?:室|户|房|号)$")
_HOUSE_NUMBER = re.compile(r"\d+(?:号|弄|栋|单元|室|户|房|楼|层)|\d+$")
_SUFFIXES = ("特别行政区", "特別行政區", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区",
             "省", "市", "地区", "盟")


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("invalid_address", message, fields={"address": message})


@functools.cache
def _division_names() -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """(full names by first character, longest first; short forms) of every province,
    city and district GB/T 2260 has had (``core.regions``)."""
    full: set[str] = set()
    short: set[str] = set()
    for found in regions.table().values():
        county_level = found.level == "district"
        for name in found.names:
            if county_level and len(name) < 3:
                continue
            full.add(name)
            if not county_level:
                for suffix in _SUFFIXES:
                    if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                        short.add(name[:-len(suffix)])
                        break
    by_first: dict[str, list[str]] = defaultdict(list)
    for name in full | short:
        by_first[name[0]].append(name)
    return ({first: tuple(sorted(names, key=len, reverse=True))
             for first, names in by_first.items()}, frozenset(short))


def _divisions_at_start(text: str) -> list[str]:
    """The division names ``text`` starts with; a short form only when another division
    name follows it."""
    names, short = _division_names()
    found = []
    for name in names.get(text[:1], ()):
        if not text.startswith(name):
            continue
        rest = text[len(name):]
        if name not in short or any(rest.startswith(other) for other in names.get(rest[:1], ())):
            found.append(name)
    return found


def _leading_divisions(text: str, depth: int = 0) -> list[str]:
    """The run of division names in front of ``text`` that covers the most of it, leaving
    something behind: 青岛市南区 is 青岛 + 市南区, not 青岛市 + 南区."""
    best: list[str] = []
    if depth < 5:
        for name in _divisions_at_start(text):
            if len(text) > len(name):
                run = [name, *_leading_divisions(text[len(name):], depth + 1)]
                if sum(map(len, run)) > sum(map(len, best)):
                    best = run
    return best


def _drop_divisions(text: str) -> str:
    if text.startswith("中国"):
        text = text[2:]
    run = _leading_divisions(text)
    text = text[sum(map(len, run)):]
    dropped_district = any(name.endswith(("区", "县", "旗")) for name in run)
    if (office := _STREET_OFFICE.match(text)) and len(text) > office.end():
        text = text[office.end():]
    elif dropped_district and (town := _TOWN.match(text)) and len(text) > town.end():
        text = text[town.end():]
    return text


def _arabic_numerals(text: str) -> str:
    """Chinese numerals written as digits (八十八号 → 88号, 二零一 → 201)."""
    try:
        return cn2an.transform(text, "cn2an")
    except (ValueError, KeyError, IndexError):
        # cn2an gives up on a few odd runs of numerals; the text is then kept as written.
        return text


def canonical_address(raw: str) -> str:
    """The address in the one form a household has; refuses ones too vague to be one."""
    text = _PUNCTUATION.sub("", fold(raw or ""))
    if not 5 <= len(text) <= 200:
        raise _refuse("地址应为5到200个字")
    text = _drop_divisions(text)
    text = _arabic_numerals(text)
    if not _HOUSE_NUMBER.search(text):
        raise _refuse("地址需写到门牌号（如 五四路100号3栋2单元201）")
    text = _COURTYARD.sub(r"\1号", text)
    text = _BUILDING.sub(r"\1栋", text)
    text = _LANE_BUILDING.sub(r"弄\1栋", text)
    text = _NUMBER_THEN_FLAT.sub(r"\1栋", text)
    text = _UNIT_DASH.sub(r"\1栋\2单元\3", text)
    text = _FLAT_DASH.sub(r"\1栋\2单元\3", text)
    return _TRAILING.sub("", text)


def household_key(vault: PiiVault, address: str) -> str:
    """The household's key: a blind index of the canonical address."""
    return "h:" + vault.blind_index(canonical_address(address), INDEX_HOUSEHOLD)[:60]


def in_area(address: str, areas) -> bool:
    """True when the address names one of ``areas`` (districts, streets or communities);
    every address is in an empty area list."""
    if not areas:
        return True
    text = _PUNCTUATION.sub("", fold(address or ""))
    return any(_PUNCTUATION.sub("", fold(area)) in text for area in areas)


def _street(canonical: str) -> str:
    """The canonical address up to its first number: the street and house number."""
    found = re.match(r"\D*\d+", canonical)
    return found.group(0) if found else canonical


def possible_duplicates(addresses: dict[int, str], max_distance: int = 2) -> dict[int, list[int]]:
    """For each key of ``addresses`` (an id → address as written), the other ids whose
    canonical address is on the same street and number and differs by at most
    ``max_distance`` characters: perhaps one household written twice, perhaps neighbours.
    Addresses that cannot be read as a household are left out."""
    by_street: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for key, address in addresses.items():
        try:
            canonical = canonical_address(address)
        except InvalidInput:
            continue
        by_street[_street(canonical)].append((key, canonical))
    near: dict[int, list[int]] = defaultdict(list)
    for group in by_street.values():
        for i, (one, first) in enumerate(group):
            for other, second in group[i + 1:]:
                if Levenshtein.distance(first, second, score_cutoff=max_distance) <= max_distance:
                    near[one].append(other)
                    near[other].append(one)
    return dict(near)
