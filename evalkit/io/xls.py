"""The old binary Excel format (``.xls``, BIFF5/BIFF8, Excel 97-2003), read with xlrd.

问卷星's older downloads and many government offices still hand out ``.xls``. A sheet is read as
the ``.xlsx`` path reads it (:func:`evalkit.io.workbook.read_sheet`): cell values with their real
spreadsheet row numbers, the merged ranges (xlrd's ``formatting_info=True``), every sheet by name
or number. Cells come out as openpyxl gives them for an ``.xlsx``: whole numbers as ``int``, date
cells as ``datetime`` (xlrd returns Excel serial numbers; converted by the workbook's date system,
1900 or 1904), booleans as ``bool``, error cells as their text (``#N/A``), blanks as ``None``.
Text is Unicode (BIFF8 stores UTF-16; an older BIFF5 file's code page, e.g. 936 = GBK, is applied
by xlrd).

Bounds: an ``.xls`` is an OLE2 compound file and is not compressed, so the file-size bound of
:class:`evalkit.io.read.ReadLimits` bounds what is parsed; before a sheet's cells are read, the
rows and columns its ``DIMENSIONS`` record declares are checked against ``max_cells`` (as the
``.xlsx`` path checks a sheet's declared dimension), and again after reading, the rows and columns
actually found (a file may declare less than it holds). A file whose extension says ``.xls`` but
which is really an ``.xlsx`` (a zip archive; some web systems name it so) is read as one, and an
``.xlsx`` that is really an old workbook as an ``.xls``; a web page saved under ``.xls`` (what
many office systems export) is read by :mod:`evalkit.io.html_table`, tab- or comma-separated text
by :func:`evalkit.io.read.read_survey` as CSV; an Excel 2003 XML spreadsheet and a
password-protected workbook are refused with the fix.
"""
from __future__ import annotations

import io
import struct
from pathlib import Path

import pandas as pd

from ..errors import ReadError

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP = b"PK\x03\x04"
_DIMENSIONS = (0x0200, 0x0000)  # BIFF8/BIFF5-7 DIMENSIONS, BIFF2
_EOF = 0x000A
_SCAN_RECORDS = 100_000  # the DIMENSIONS record comes before any cell; never scan a whole sheet
_HTML = (b"<html", b"<!doctype html", b"<table", b"<meta", b"<head", b"<body", b"<style", b"<div",
         b"<!--")


def excel_kind(path: Path, text: bool = False) -> str:
    """``"xlsx"`` (a zip archive, whatever the extension), ``"xls"`` (an OLE2 compound file) or
    ``"html"`` (a web page holding a table, as office systems export "Excel"); with `text`,
    ``"text"`` for tab- or comma-separated text (:func:`_looks_like_text`). Anything else is
    refused with what it looks like and the fix."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ReadError(f"{path}: cannot open ({exc.strerror}).") from None
    if head.startswith(ZIP):
        return "xlsx"
    if head.startswith(OLE2):
        return "xls"
    low = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if low.startswith(b"<?xml") and (b"urn:schemas-microsoft-com:office:spreadsheet" in low or b"<workbook" in low):
        what = "an Excel 2003 XML spreadsheet (SpreadsheetML)"
    elif low.startswith(_HTML) or (low.startswith(b"<") and b"<table" in low):
        return "html"
    elif not head.strip():
        what = "empty"
    elif text and _looks_like_text(head):
        return "text"
    else:
        what = "not an Excel workbook (no Excel file signature; perhaps text or CSV renamed)"
    raise ReadError(f"{path}: cannot open as an Excel workbook: the file is {what}. Open it in Excel or WPS "
                    "and save it as .xlsx (Excel workbook), or, if it is text, rename it to .csv.")


def _looks_like_text(head: bytes) -> bool:
    """UTF-16 with its byte-order mark, or UTF-8 or GBK without a NUL byte (a multi-byte character may
    be cut at the end of the sample); a tab or comma in the first line."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text": UTF-16, tab-separated
        t = head[:len(head) // 2 * 2].decode("utf-16", errors="replace").splitlines()
        return bool(t) and "\t" in t[0]
    if b"\0" in head:
        return False
    for enc in ("utf-8-sig", "gb18030"):
        try:
            t = head.decode(enc)
        except UnicodeDecodeError as exc:
            if exc.start == 0 or exc.start < len(head) - 4:
                continue
            try:
                t = head[:exc.start].decode(enc)
            except UnicodeDecodeError:
                continue
        lines = t.splitlines()
        return bool(lines) and ("\t" in lines[0] or "," in lines[0])
    return False


def _book(path: Path):
    try:
        import xlrd
    except ImportError:
        raise ReadError(f"{path}: reading the old .xls format needs the xlrd package (pip install "
                        "xlrd==2.0.2, as requirements.txt pins it), or open the file in Excel or WPS "
                        "and save it as .xlsx.") from None
    try:
        # xlrd reports damage it works around on its log file (stdout by default): kept out of the output
        return xlrd.open_workbook(str(path), formatting_info=True, on_demand=True, ragged_rows=True,
                                  logfile=io.StringIO(), verbosity=0)
    except Exception as exc:  # xlrd raises XLRDError, CompoundDocError, struct/index errors on damage
        if _password_protected(path, exc):
            raise ReadError(f"{path}: the workbook is protected by a password (encrypted), so it cannot be read. "
                            "Open it in Excel or WPS with the password, remove the password (Excel: File > Info > "
                            "Protect Workbook > Encrypt with Password, empty; WPS: 文件 > 文档加密) and save it "
                            "as .xlsx.") from None
        raise ReadError(f"{path}: cannot open as an old-format (.xls) Excel workbook ({type(exc).__name__}: "
                        f"{exc}). The file may be truncated, encrypted or not really Excel; open it in "
                        "Excel or WPS and save it as .xlsx.") from None


def _password_protected(path: Path, exc: Exception) -> bool:
    """An encrypted .xls (xlrd: "Workbook is encrypted") or a password-protected .xlsx, which
    Excel stores as an OLE2 file holding an ``EncryptedPackage`` stream."""
    if "encrypted" in str(exc).lower():
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    return "EncryptedPackage".encode("utf-16-le") in head


def xls_sheet_names(path: Path) -> list[str]:
    book = _book(path)
    try:
        return list(book.sheet_names())
    finally:
        book.release_resources()


def declared_dimension(book, index: int) -> tuple[int, int] | None:
    """(rows, columns) declared by sheet `index`'s DIMENSIONS record, read from the raw stream
    before any cell is parsed; ``None`` when the sheet has none."""
    mem, pos = book.mem, book._sh_abs_posn[index]
    end = len(mem)
    for _ in range(_SCAN_RECORDS):
        if pos + 4 > end:
            return None
        code, size = struct.unpack_from("<HH", mem, pos)
        data = mem[pos + 4:pos + 4 + size]
        if code == _EOF:
            return None
        if code in _DIMENSIONS:
            if len(data) >= 14 and book.biff_version >= 80:
                r1, r2, c1, c2 = struct.unpack_from("<IIHH", data)
            elif len(data) >= 8:
                r1, r2, c1, c2 = struct.unpack_from("<HHHH", data)
            else:
                return None
            return max(r2 - r1, 0), max(c2 - c1, 0)
        pos += 4 + size
    return None


def _value(cell, datemode: int):
    import xlrd

    kind, v = cell.ctype, cell.value
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if kind == xlrd.XL_CELL_NUMBER:
        return int(v) if float(v).is_integer() and abs(v) < 2 ** 53 else float(v)
    if kind == xlrd.XL_CELL_DATE:
        try:
            if 0 <= v < 1:  # a time of day alone
                return xlrd.xldate_as_datetime(v, datemode).time()
            return xlrd.xldate_as_datetime(v, datemode)
        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
            return float(v)  # an impossible date (negative, 1900-02-29): the number, for validate to flag
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(v)
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(v, "#ERROR")
    return v


def read_xls_sheet(path: Path, sheet, check_cells=None) -> tuple[pd.DataFrame, list[tuple[int, int, int, int]], str]:
    """One sheet of an ``.xls``, as :func:`evalkit.io.workbook.read_sheet` returns it.

    `check_cells(rows, columns, where)` raises when a sheet is too big (``read_survey`` passes its
    :class:`~evalkit.io.read.ReadLimits` check); it is called with the sheet's declared dimension
    before its cells are parsed and with the rows and columns read before the table is built."""
    check_cells = check_cells or (lambda rows, cols, where: None)
    book = _book(path)
    try:
        names = book.sheet_names()
        index = _sheet_index(path, names, 0 if sheet is None else sheet)
        declared = declared_dimension(book, index)
        if declared:
            check_cells(*declared, f"sheet {names[index]!r} declares {declared[0]:,} rows x {declared[1]:,} columns")
        try:
            sh = book.sheet_by_index(index)
        except Exception as exc:  # damage inside the sheet's records
            raise ReadError(f"{path}: sheet {names[index]!r} cannot be read ({type(exc).__name__}: {exc}). The file "
                            "is damaged; open it in Excel or WPS and save it as .xlsx.") from None
        check_cells(sh.nrows, sh.ncols, f"sheet {names[index]!r} as read")
        rows = [[_value(c, book.datemode) for c in sh.row(r)] for r in range(sh.nrows)]
        merged = [(rlo + 1, clo + 1, rhi, chi) for rlo, rhi, clo, chi in sh.merged_cells]
    finally:
        book.release_resources()
    width = max((len(r) for r in rows), default=0)
    t = pd.DataFrame([r + [None] * (width - len(r)) for r in rows], dtype=object)
    t.index = pd.RangeIndex(1, len(t) + 1)
    return t, merged, names[index]


def _sheet_index(path: Path, names: list[str], sheet) -> int:
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if not 0 <= sheet < len(names):
            raise ReadError(f"{path}: there is no sheet number {sheet} (sheets are numbered from 0: "
                            f"{names}). Name an existing sheet with sheet='...'.")
        return sheet
    if sheet not in names:
        raise ReadError(f"{path}: no sheet named {sheet!r}; the sheets are {names}. Name an existing "
                        "sheet with sheet='...'.")
    return names.index(sheet)


__all__ = ["excel_kind", "xls_sheet_names", "read_xls_sheet", "declared_dimension"]
