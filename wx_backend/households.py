"""Households: an address reduced to one key, so that "one address books once" can be
enforced exactly like "one person books once".

``canonical_address`` removes what people write differently about the same flat: width
and blanks, punctuation, the province and city in front, words for the same thing (幢, 号楼
and 座 are a building, 栋; 单元 and a dash separate building and flat), and a trailing 室 or
户. The household key is a keyed hash of that canonical form (a blind index, like the ID
number's): equal keys, same household; the address itself is never stored in the clear.

An address must also name a house: it needs a number (a street number, a building or a
flat), or it is refused as too vague to be one household. ``in_area`` checks it names one
of the campaign's districts, streets or communities.
"""

from __future__ import annotations

import re
import unicodedata

from wx_backend.errors import InvalidInput
from wx_backend.pii import PiiVault

INDEX_HOUSEHOLD = "household"

_PUNCTUATION = re.compile(r"[\s,，。.、;；:：'\"“”‘’()（）\[\]【】#＃]+")
_PREFIX = re.compile(r"^(?:中国)?(?:[^省市区县]{2,7}(?:省|自治区))?(?:[^省市区县]{2,7}市)?")
_BUILDING = re.compile(r"(\d+)(?:幢|号楼|座|栋|号院)")
_UNIT_DASH = re.compile(r"(\d+)[-－—~～](\d+)[-－—~～](\d+)")
_FLAT_DASH = re.compile(r"(\d+)栋(\d+)[-－—~～](\d+)")
_TRAILING = re.compile(r"(?:室|户|房)$")


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("invalid_address", message, fields={"address": message})


def canonical_address(raw: str) -> str:
    """The address in the one form a household has; refuses ones too vague to be one."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = _PUNCTUATION.sub("", text)
    if not 5 <= len(text) <= 200:
        raise _refuse("地址应为5到200个字")
    text = _PREFIX.sub("", text, count=1)
    text = _BUILDING.sub(r"\1栋", text)
    text = _UNIT_DASH.sub(r"\1栋\2单元\3", text)
    text = _FLAT_DASH.sub(r"\1栋\2单元\3", text)
    text = _TRAILING.sub("", text)
    if not re.search(r"\d", text):
        raise _refuse("地址需写到门牌号（如 五四路100号3栋2单元201）")
    return text


def household_key(vault: PiiVault, address: str) -> str:
    """The household's key: a blind index of the canonical address."""
    return "h:" + vault.blind_index(canonical_address(address), INDEX_HOUSEHOLD)[:60]


def in_area(address: str, areas) -> bool:
    """True when the address names one of ``areas`` (districts, streets or communities);
    every address is in an empty area list."""
    if not areas:
        return True
    text = _PUNCTUATION.sub("", unicodedata.normalize("NFKC", address or ""))
    return any(_PUNCTUATION.sub("", unicodedata.normalize("NFKC", area)) in text
               for area in areas)
