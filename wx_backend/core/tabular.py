"""Tables in and out, as operators and couriers have them in their spreadsheets.

In: CSV saved by Excel on Chinese Windows (GBK/GB18030), UTF-8 with or without a BOM, or
the .xlsx itself. ``read_table`` turns any of them into CSV text for the importers
(stores, courier statuses, special groups); the command line and the console share it.
A file is bounded before anything is built from it: its size, the size its .xlsx parts
unpack to (read from the zip's directory before openpyxl opens it), its rows and its
columns. A file past a bound, or one that cannot be read, gets a message saying the limit
and what to do; the importers never see it, so nothing changes.

Out: ``spreadsheet_csv`` writes every CSV meant to be opened in a spreadsheet (the
courier's orders, the public daily list, the stock feed, the waiting room's list). Text
that would start a formula is neutralised there (``spreadsheet_cell``), in this one place.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from openpyxl import load_workbook

from wx_backend.core.errors import InvalidInput

MAX_BYTES = 5 * 1024 * 1024
# A city has a few thousand pharmacies, a courier's day tens of thousands of orders and a
# special group (低保户) up to some hundred thousand people; these bounds leave room for
# all of them and for the header, and stop a file long before it can cost real time.
MAX_ROWS = 200_000
MAX_COLUMNS = 50
# What an .xlsx may unpack to, all parts together. A real file of MAX_ROWS short rows
# unpacks to about 35 MB; a zip bomb declares gigabytes.
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
# Excel's own limit for one cell; the CSV importers read fields up to csv's 131,072.
MAX_CELL_CHARS = 32_767

_XLSX_MAGIC = b"PK\x03\x04"
_MB = 1024 * 1024


def _unreadable(text: str) -> InvalidInput:
    return InvalidInput("unreadable_file", text, fields={"file": text})


def _too_large(text: str) -> InvalidInput:
    return InvalidInput("file_too_large", text, fields={"file": text})


def _too_many_rows() -> InvalidInput:
    return _too_large(f"文件超过 {MAX_ROWS:,} 行（空行也算）：请删除多余的空行，"
                      "或把名单分成几个文件分别上传")


def _too_many_columns() -> InvalidInput:
    return _too_large(f"文件超过 {MAX_COLUMNS} 列：请只保留模板中的列，删除多余的列后再上传")


def _check_unpacked_size(data: bytes) -> None:
    """Refuse an .xlsx whose parts declare more than MAX_UNPACKED_BYTES. Python's zipfile
    stops each part at its declared size (and then fails its CRC), so a part that lies
    about its size cannot unpack to more than it declared either."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            declared = sum(part.file_size for part in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _unreadable("无法读取这个 Excel 文件：请用 Excel 另存为 .xlsx 或 CSV 后再上传") \
            from None
    if declared > MAX_UNPACKED_BYTES:
        raise _too_large(f"这个 Excel 文件解压后超过 {MAX_UNPACKED_BYTES // _MB}MB，"
                         "内容过多或文件已损坏：请只保留一个工作表和需要的列，"
                         "或另存为 CSV 后再上传")


def _xlsx_as_csv(data: bytes) -> str:
    _check_unpacked_size(data)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            declared_rows, declared_columns = sheet.max_row, sheet.max_column
            if (declared_rows or 0) > MAX_ROWS or (declared_columns or 0) > MAX_COLUMNS:
                raise _too_large(
                    f"工作表“{sheet.title}”声明有 {declared_rows or 0:,} 行、"
                    f"{declared_columns or 0:,} 列，超过了 {MAX_ROWS:,} 行或 {MAX_COLUMNS} 列"
                    "的上限：请把数据复制到一个新的工作表（或删除下方和右侧多余的行和列）"
                    "后再上传")
            # The declared size is only a claim: walk the rows that are really there, at
            # most MAX_COLUMNS + 1 cells wide (cells further right are not read at all),
            # and stop as soon as a bound is passed.
            sheet.reset_dimensions()
            for n, row in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS + 1,
                                                    values_only=True), start=1):
                if n > MAX_ROWS:
                    raise _too_many_rows()
                if row[MAX_COLUMNS] not in (None, ""):
                    raise _too_many_columns()
                cells = ["" if value is None else _cell(value) for value in row[:MAX_COLUMNS]]
                while cells and not cells[-1]:
                    cells.pop()
                if any(cell.strip() for cell in cells):
                    writer.writerow(cells)
        finally:
            book.close()
    except InvalidInput:
        raise
    except Exception:  # noqa: BLE001 - whatever openpyxl trips on, the file is unreadable
        raise _unreadable("无法读取这个 Excel 文件：请用 Excel 另存为 .xlsx 或 CSV 后再上传") \
            from None
    return out.getvalue()


def _cell(value) -> str:
    # Excel keeps 113.65 as a float and 200 as an int-valued float; show both as typed.
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    if len(text) > MAX_CELL_CHARS:
        raise _too_large(f"有一格超过 {MAX_CELL_CHARS:,} 个字符：请检查文件内容后再上传")
    return text


def _check_csv(text: str) -> None:
    """Refuse CSV text with more than MAX_ROWS rows, a row whose last filled field lies
    past MAX_COLUMNS, or a field csv cannot read (an unclosed quote swallowing the file)."""
    try:
        for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if n > MAX_ROWS:
                raise _too_many_rows()
            if len(row) > MAX_COLUMNS and any(field.strip() for field in row[MAX_COLUMNS:]):
                raise _too_many_columns()
    except csv.Error:
        raise _unreadable("文件中有引号不配对或过长的一格，无法按 CSV 读取："
                          "请用 Excel 另存为 CSV 或 .xlsx 后再上传") from None


def read_table(data: bytes, filename: str = "") -> str:
    """CSV text of an uploaded or local file: .xlsx (first sheet), or CSV in UTF-8 (with or
    without a BOM), GBK or GB18030, within MAX_BYTES, MAX_ROWS and MAX_COLUMNS (and, for
    .xlsx, MAX_UNPACKED_BYTES). Raises InvalidInput ``unreadable_file`` or
    ``file_too_large`` with a message saying what to do."""
    if len(data) > MAX_BYTES:
        raise _too_large(f"文件太大（超过 {MAX_BYTES // _MB}MB）：请分成几个文件分别上传")
    if filename.lower().endswith((".xlsx", ".xlsm")) or data.startswith(_XLSX_MAGIC):
        return _xlsx_as_csv(data)
    if filename.lower().endswith(".xls") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _unreadable("不支持旧版 .xls 文件：请用 Excel 另存为 .xlsx 或 CSV 后再上传")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        _check_csv(text)
        return text
    raise _unreadable("无法识别文件的编码：请另存为 UTF-8 或 GBK 编码的 CSV，或直接上传 .xlsx")


# -- files for spreadsheets -----------------------------------------------------------------

# A cell that begins with one of these is read as a formula by Excel, WPS, LibreOffice or
# Google Sheets (=HYPERLINK(…) in an address, +/- as Lotus-style formulas, @ as a function
# call; a tab or a carriage return is skipped and what follows is read). OWASP's rule.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value):
    """A cell a spreadsheet shows as written and never runs: text starting with = + - @,
    a tab or a carriage return gets a leading apostrophe, which spreadsheets take as "this
    is text" and do not show (so "+8613812345678" reads as itself, not as a number or a
    formula); numbers stay numbers, None is an empty cell, other text is unchanged."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def spreadsheet_csv(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """CSV text for people to open in a spreadsheet: UTF-8 with a BOM (so Excel reads the
    Chinese), ``header`` then ``rows``, every cell through ``spreadsheet_cell``."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([spreadsheet_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([spreadsheet_cell(cell) for cell in row])
    return out.getvalue()


def read_rows(text: str, columns: Mapping[str, Sequence[str]], optional: Sequence[str] = ()
              ) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """The rows of a CSV text as dicts by our column keys, and the names of the columns
    missing from its header. ``columns`` gives each key the header names it is known by
    (the Chinese ones a spreadsheet user writes, and the key itself, which older files
    and scripts use); an optional column is simply absent from the rows. Each row comes
    with its line number in the file (the header is line 1)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [cell.strip() for cell in next(reader, [])]
    where = {}
    for key, names in columns.items():
        for name in (key, *names):
            if name in header:
                where[key] = header.index(name)
                break
    missing = [names[0] if names else key for key, names in columns.items()
               if key not in where and key not in optional]
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        rows.append((line, {key: cells[at] if at < len(cells) else ""
                            for key, at in where.items()}))
    return rows, missing
