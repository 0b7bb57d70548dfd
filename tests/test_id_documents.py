"""Identity documents as they are really issued: every region code GB/T 2260 has had, at
any birth year; residence permits; permanent residence cards of both versions.

The numbers here are built independently of the code under test: region codes are read
from python-stdnum's data file by this test's own parser, and the check character is
computed by the GB 11643 rule written out below.
"""

from __future__ import annotations

import re
from datetime import date
from importlib import resources

import pytest

from wx_backend.core.errors import InvalidInput
from wx_backend.identity.residents import read_id_document

WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]   # 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, ...
THIS_YEAR = date.today().year


def with_check(body: str) -> str:
    """GB 11643-1999: the weighted sum of the 17 digits mod 11 picks the check character."""
    assert len(body) == 17 and body.isdigit()
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11]


def region_table() -> dict[str, list[str]]:
    """County-level codes by province prefix, as listed in the region data file."""
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    counties: dict[str, list[str]] = {}
    province = None
    for line in text.splitlines():
        if found := re.match(r'^(\d\d) province=', line):
            province = found.group(1)
            counties.setdefault(province, [])
        elif (found := re.match(r'^\s+(\d{4}) county=', line)) and province:
            if not found.group(1).endswith("00"):
                counties[province].append(province + found.group(1))
    return counties


REGIONS = region_table()
# The seed cities' central districts, most created in 1983 or later, so their older
# residents were born before the code existed; and codes since retired.
SEED_DISTRICTS = {
    "410102": "郑州中原区", "410103": "郑州二七区", "410105": "郑州金水区", "410104": "郑州管城区",
    "440104": "广州越秀区", "440106": "广州天河区", "440105": "广州海珠区",
    "370202": "青岛市南区", "370203": "青岛市北区", "350102": "福州鼓楼区", "350103": "福州台江区",
    "310115": "上海浦东新区",
}
RETIRED = {"412723": "商水县（2000年撤销）", "110103": "北京崇文区（2010年撤销）",
           "110104": "北京宣武区（2010年撤销）"}


def test_the_region_table_covers_every_province():
    assert len(REGIONS) >= 34
    assert all(REGIONS[p] for p in REGIONS if p not in {"71", "81", "82"})


@pytest.mark.parametrize("province", sorted(p for p in REGIONS if REGIONS[p]))
def test_every_province_accepts_its_residents_born_1930_to_this_year(province):
    counties = REGIONS[province]
    refused = []
    for year in range(1930, THIS_YEAR + 1):
        region = counties[(year * 31) % len(counties)]
        for month, day in ((1, 1), (2, 28), (12, 31)):
            if date(year, month, day) > date.today():
                continue
            number = with_check(f"{region}{year}{month:02d}{day:02d}{year % 997:03d}")
            try:
                assert read_id_document(number).kind == "resident_id"
            except InvalidInput as error:
                refused.append((number, error.message))
    assert refused == []


@pytest.mark.parametrize("region", sorted({**SEED_DISTRICTS, **RETIRED}))
def test_older_residents_of_the_seed_districts_and_retired_codes_are_accepted(region):
    for year in (1930, 1942, 1955, 1968, 1979, 1982, 1990, 2005):
        number = with_check(f"{region}{year}0611{year % 1000:03d}")
        assert read_id_document(number).number == number


@pytest.mark.parametrize("region, kind_name", [("810000", "港澳台居民居住证"),
                                                ("820000", "港澳台居民居住证"),
                                                ("830000", "港澳台居民居住证")])
def test_residence_permits_are_accepted(region, kind_name):
    number = with_check(f"{region}19640229021")
    document = read_id_document(number)
    assert (document.kind, document.kind_name) == ("hmt_permit", kind_name)


def test_permanent_residence_cards_of_both_versions_are_accepted():
    new = with_check("931" + "840" + "19780305" + "012")     # 2023: 9, Shanghai, USA
    assert read_id_document(new).kind == "foreign_permanent"
    old = read_id_document("kor 4401 880721 01")           # 2017: letters and 12 digits
    assert (old.kind, old.number) == ("foreign_permanent", "KOR440188072101")


def test_lower_case_x_and_separators_are_normalised():
    body = next(f"3101151955{m:02d}15{s:03d}" for m in range(1, 13) for s in range(1000)
                if with_check(f"3101151955{m:02d}15{s:03d}").endswith("X"))
    number = with_check(body)
    assert read_id_document(f" {number[:6]} {number[6:14]}-{number[14:].lower()} ").number == number


def broken_variants(number: str) -> list[tuple[str, str]]:
    """Each part of a valid number broken in turn, with words the refusal must contain."""
    wrong_check = "0" if number[-1] != "0" else "1"
    return [
        (number[:17] + wrong_check, "校验位"),
        (with_check(number[:6] + "19550230" + number[14:17]), "出生日期不存在"),
        (with_check(number[:6] + "19551301" + number[14:17]), "出生日期不存在"),
        (with_check(number[:6] + f"{THIS_YEAR + 1}0101" + number[14:17]), "出生日期不正确"),
        (with_check(number[:6] + "18991231" + number[14:17]), "出生日期不正确"),
        (with_check("000000" + number[6:17]), "地区代码"),
        (with_check("999999" + number[6:17]), "地区代码"),
        (with_check(number[:2] + "9999" + number[6:17]), "地区代码"),
        (number[:6] + number[8:17], "15位"),
        (number[:17], "18位"),
        (number + "1", "18位"),
        (number[:10] + "A" + number[11:], "18位"),
        (number[:17] + "Y", "18位"),
    ]


@pytest.mark.parametrize("region", ["410102", "440106", "310115", "350103", "370203", "652201"])
def test_every_broken_part_is_refused_with_its_own_message(region):
    number = with_check(f"{region}19550615123")
    for broken, words in broken_variants(number):
        with pytest.raises(InvalidInput) as refused:
            read_id_document(broken)
        assert words in refused.value.fields["id_number"], (broken, refused.value.message)


def test_permits_and_cards_with_broken_parts_are_refused():
    permit = with_check("81000019880808001")
    assert read_id_document(permit).kind == "hmt_permit"
    for broken, words in broken_variants(permit)[:5]:
        with pytest.raises(InvalidInput, match=words):
            read_id_document(broken)
    card = with_check("94439219910101001")
    assert read_id_document(card).kind == "foreign_permanent"
    for bad in (card[:17] + ("1" if card[-1] != "1" else "2"), with_check("9" + "99" + card[3:17]),
                "US1440188072101", "USA44018807210", "ABC000000000000"):
        with pytest.raises(InvalidInput):
            read_id_document(bad)
