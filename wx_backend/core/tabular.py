"""Files as operators have them: CSV saved by Excel on Chinese Windows (GBK/GB18030),
UTF-8 with or without a BOM, or the .xlsx itself. ``read_table`` turns any of them into
CSV text for the importers (stores, courier statuses, special groups); the command line
and the console share it, and an unreadable file gets a message saying what to do.
"""

from __future__ import annotations

import csv
import io
import zipfile

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from wx_backend.core.errors import InvalidInput

MAX_BYTES = 5 * 1024 * 1024
_XLSX_MAGIC = b"PK\x03\x04"


def _unreadable(text: str) -> InvalidInput:
    return InvalidInput("unreadable_file", text, fields={"file": text})


def _xlsx_as_csv(data: bytes) -> str:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise _unreadable("无法读取这个 Excel 文件：请用 Excel 另存为 .xlsx 或 CSV 后再上传") \
            from None
    sheet = book.worksheets[0]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in sheet.iter_rows(values_only=True):
        cells = ["" if value is None else _cell(value) for value in row]
        if any(cell.strip() for cell in cells):
            writer.writerow(cells)
    book.close()
    return out.getvalue()


def _cell(value) -> str:
    # Excel keeps 113.65 as a float and 200 as an int-valued float; show both as typed.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_table(data: bytes, filename: str = "") -> str:
    """CSV text of an uploaded or local file: .xlsx (first sheet), or CSV in UTF-8 (with or
    without a BOM), GBK or GB18030. Raises InvalidInput ``unreadable_file`` otherwise."""
    if len(data) > MAX_BYTES:
        raise _unreadable(f"文件太大（超过{MAX_BYTES // 1024 // 1024}MB），请分批上传")
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
        return text
    raise _unreadable("无法识别文件的编码：请另存为 UTF-8 或 GBK 编码的 CSV，或直接上传 .xlsx")
