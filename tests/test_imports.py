"""Store lists as operators have them: CSV from Excel on Chinese Windows (GBK/GB18030),
UTF-8 with or without a BOM, and the .xlsx itself, through `wx-backend stores import`
(the reader, core.tabular, is the one the console's uploads use). An unreadable file gets
a clear message and writes nothing."""

from __future__ import annotations

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from tests.worlds import build
from wx_backend.extensions import db
from wx_backend.models import Store

HEADER = ["name", "address", "district", "lat", "lng", "daily_cap", "opening_hours"]
ROWS = [
    ["大参林药店(花园路店)", "郑州市金水区花园路88号", "金水区", "34.7801", "113.6652", "120",
     "08:00-21:00"],
    ["张仲景大药房·二七广场店", "郑州市二七区解放路1号", "二七区", "34.7530", "113.6610", "80",
     "09:00-18:00"],
    ["老百姓大药房（管城回族区）", "郑州市管城回族区紫荆山路12号", "管城回族区", "34.7551",
     "113.6780", "60", "24小时"],
]


def _csv(rows) -> str:
    return "\n".join(",".join(row) for row in [HEADER, *rows]) + "\n"


def _import(app, campaign_id: int, path):
    return app.test_cli_runner().invoke(args=["stores", "import", "--campaign",
                                              str(campaign_id), str(path)])


def _stores(app, campaign_id: int) -> dict[str, tuple]:
    with app.app_context():
        found = db.session.scalars(select(Store).where(Store.campaign_id == campaign_id))
        return {s.name: (s.district, s.daily_cap, s.opening_hours) for s in found}


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_a_csv_as_excel_saved_it_is_read(app, tmp_path, encoding):
    world = build(app, "zhengzhou", caps=(10,))
    path = tmp_path / f"stores-{encoding}.csv"
    path.write_bytes(_csv(ROWS).encode(encoding))

    result = _import(app, world.campaign_id, path)

    assert result.exit_code == 0, result.output
    stores = _stores(app, world.campaign_id)
    assert stores["张仲景大药房·二七广场店"] == ("二七区", 80, "09:00-18:00")
    assert stores["老百姓大药房（管城回族区）"][0] == "管城回族区"


def test_the_xlsx_itself_is_read(app, tmp_path):
    world = build(app, "zhengzhou", caps=(10,))
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in ROWS:
        # As Excel keeps them: numbers as numbers, text as text.
        sheet.append([row[0], row[1], row[2], float(row[3]), float(row[4]), int(row[5]),
                      row[6]])
    path = tmp_path / "门店名单.xlsx"
    book.save(path)

    result = _import(app, world.campaign_id, path)

    assert result.exit_code == 0, result.output
    assert _stores(app, world.campaign_id)["大参林药店(花园路店)"] == ("金水区", 120,
                                                                   "08:00-21:00")


@pytest.mark.parametrize("name,data,says", [
    ("stores.csv", "名称,地址".encode("utf-16"), "编码"),
    ("stores.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, ".xls"),
    ("stores.xlsx", b"PK\x03\x04 this is not really a workbook", "Excel"),
])
def test_an_unreadable_file_says_what_to_do_and_writes_nothing(app, tmp_path, name, data,
                                                               says):
    world = build(app, "zhengzhou", caps=(10,))
    before = _stores(app, world.campaign_id)
    path = tmp_path / name
    path.write_bytes(data)

    result = _import(app, world.campaign_id, path)

    assert result.exit_code != 0
    assert says in result.output and "Traceback" not in result.output
    assert _stores(app, world.campaign_id) == before
