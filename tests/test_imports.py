"""Store lists as operators have them: CSV from Excel on Chinese Windows (GBK/GB18030),
UTF-8 with or without a BOM, and the .xlsx itself, through `wx-backend stores import`
(the reader, core.tabular, is the one the console's uploads use). An unreadable file gets
a clear message and writes nothing; so does a file past the reader's bounds (a zip bomb, a
sheet that declares a million rows, too many rows or columns), while a city's real list
of thousands of pharmacies goes through."""

from __future__ import annotations

import io
import re
import struct
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from tests.worlds import build
from wx_backend.core.tabular import MAX_COLUMNS, MAX_ROWS, MAX_UNPACKED_BYTES
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


def test_a_file_with_chinese_column_names_is_read_and_its_channels_too(app, tmp_path):
    world = build(app, "qingdao", caps=(10,))
    header = ["药店名称", "地址", "区", "纬度", "经度", "每日份额", "营业时间", "取货方式"]
    rows = [["即墨邮政支局", "青岛市即墨区振华街1号", "即墨区", "36.3891", "120.4473", "",
             "08:00-17:00", "邮寄"],
            ["漱玉平民大药房(香港中路店)", "青岛市市南区香港中路40号", "市南区", "36.0660",
             "120.3830", "90", "08:30-21:00", "到店"]]
    path = tmp_path / "药店名单.csv"
    path.write_bytes("\n".join(",".join(r) for r in [header, *rows]).encode("gbk"))

    result = _import(app, world.campaign_id, path)

    assert result.exit_code == 0, result.output
    with app.app_context():
        channels = dict(db.session.execute(select(Store.name, Store.channel).where(
            Store.campaign_id == world.campaign_id)).all())
    assert channels["即墨邮政支局"] == "postal"
    assert channels["漱玉平民大药房(香港中路店)"] == "pickup"
    bad = tmp_path / "bad.csv"
    bad.write_bytes("\n".join(",".join(r) for r in [header, [*rows[0][:7], "快递"]])
                    .encode("utf-8"))
    refused = _import(app, world.campaign_id, bad)
    assert refused.exit_code != 0 and "取货方式“快递”应为“到店”或“邮寄”" in refused.output


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


SHEET = "xl/worksheets/sheet1.xml"


def _xlsx(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _with_sheet(data: bytes, change) -> bytes:
    """The workbook ``data`` with its first sheet's XML passed through ``change``, as a
    hand-made (or hostile) file would have it."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as made:
        for part in source.infolist():
            body = source.read(part.filename)
            made.writestr(part.filename, change(body.decode()).encode() if
                          part.filename == SHEET else body)
    return out.getvalue()


def _declaring(data: bytes, part_name: str, size: int) -> bytes:
    """The zip ``data`` with the uncompressed size of ``part_name`` in its central
    directory changed to ``size``: a part that lies about what it unpacks to."""
    data, at = bytearray(data), 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + name_length] == part_name.encode():
            struct.pack_into("<I", data, at + 24, size)
        at += 4
    return bytes(data)


def _rows_of_data() -> list[list]:
    return [HEADER] + [[r[0], r[1], r[2], float(r[3]), float(r[4]), int(r[5]), r[6]]
                       for r in ROWS]


def _bomb() -> bytes:
    # Blank space before the rows: well-formed XML that unpacks past the bound, about
    # 60 KB packed. Real bombs declare gigabytes; the check is the same.
    padding = " " * (MAX_UNPACKED_BYTES + 1024 * 1024)
    return _with_sheet(_xlsx(_rows_of_data()),
                       lambda xml: xml.replace("<sheetData>", "<sheetData>" + padding))


def _far_row(xml: str) -> str:
    # One cell on row five million after the real rows, the dimension left as it was.
    far = ('<row r="5000000"><c r="A5000000" t="inlineStr"><is><t>备注</t></is></c>'
           "</row></sheetData>")
    return xml.replace("</sheetData>", far)


def _blank_rows(xml: str) -> str:
    # The real rows, then row elements with nothing in them up to past the bound.
    blanks = "".join(f'<row r="{n}"/>' for n in range(len(ROWS) + 2, MAX_ROWS + 10))
    return xml.replace("</sheetData>", blanks + "</sheetData>")


def _wide(xml: str) -> str:
    # A cell in the 51st column of the first data row, the dimension still A1:G4.
    extra = '<c r="AY2" t="inlineStr"><is><t>多余</t></is></c></row>'
    return xml.replace("</row>", extra, 2).replace(extra, "</row>", 1)


@pytest.mark.parametrize("name, make, says", [
    ("bomb.xlsx", _bomb, f"解压后超过 {MAX_UNPACKED_BYTES // 1024 // 1024}MB"),
    ("liar.xlsx", lambda: _declaring(_bomb(), SHEET, 4096), "无法读取这个 Excel 文件"),
    ("declared.xlsx", lambda: _with_sheet(_xlsx(_rows_of_data()), lambda xml: re.sub(
        r'<dimension ref="[^"]+"', '<dimension ref="A1:XFD1048576"', xml)),
     "声明有 1,048,576 行、16,384 列"),
    ("far.xlsx", lambda: _with_sheet(_xlsx(_rows_of_data()), _far_row),
     f"超过 {MAX_ROWS:,} 行"),
    ("blank-rows.xlsx", lambda: _with_sheet(_xlsx(_rows_of_data()), _blank_rows),
     f"超过 {MAX_ROWS:,} 行"),
    # Short rows, so that the file stays under the 5 MB that would refuse it first.
    ("rows.csv", lambda: (_csv(ROWS) + "".join(f"药店{n}\n" for n in range(MAX_ROWS)))
     .encode("gbk"), f"超过 {MAX_ROWS:,} 行"),
    ("wide.xlsx", lambda: _with_sheet(_xlsx(_rows_of_data()), _wide),
     f"超过 {MAX_COLUMNS} 列"),
    ("declared-wide.xlsx", lambda: _xlsx([HEADER + [f"备注{n}" for n in range(60)]]),
     f"{MAX_COLUMNS} 列"),
    ("wide.csv", lambda: _csv([row + ["x"] * MAX_COLUMNS for row in ROWS]).encode("utf-8"),
     f"超过 {MAX_COLUMNS} 列"),
])
def test_a_file_past_the_bounds_is_refused_with_the_limit_and_writes_nothing(
        app, tmp_path, name, make, says):
    world = build(app, "zhengzhou", caps=(10,))
    before = _stores(app, world.campaign_id)
    path = tmp_path / name
    path.write_bytes(make())

    result = _import(app, world.campaign_id, path)

    assert result.exit_code != 0
    assert says in result.output and "Traceback" not in result.output, result.output
    assert _stores(app, world.campaign_id) == before
    assert not set(_stores(app, world.campaign_id)) & {row[0] for row in ROWS}


def test_a_citys_thousands_of_pharmacies_fit_in_the_bounds(app, tmp_path):
    world = build(app, "zhengzhou", caps=(10,))
    districts = ["中原区", "二七区", "管城回族区", "金水区", "上街区", "惠济区"]
    rows = [[f"社区药房{n:04d}号店", f"郑州市{districts[n % 6]}建设路{n + 1}号",
             districts[n % 6], 34.70 + n % 97 / 1000, 113.60 + n % 89 / 1000, 50 + n % 70,
             "08:00-21:00" if n % 5 else "24小时"] for n in range(4000)]
    path = tmp_path / "全市药店.xlsx"
    path.write_bytes(_xlsx([HEADER] + rows))

    result = _import(app, world.campaign_id, path)

    assert result.exit_code == 0, result.output
    stores = _stores(app, world.campaign_id)
    assert len(stores) == 4001 and stores["社区药房3999号店"] == ("金水区", 59, "08:00-21:00")
