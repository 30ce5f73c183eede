"""Web pages saved with an Excel extension: the HTML tables that many office systems export as ``.xls``.

Government and office systems often "export to Excel" by writing an HTML page (a ``<table>``,
sometimes with Excel's ``urn:schemas-microsoft-com:office`` namespaces) and naming it ``.xls``;
Excel and WPS open it with a warning. :func:`read_html_sheet` reads such a file as
:func:`evalkit.io.workbook.read_sheet` reads a worksheet: every ``<table>`` is a sheet (named
``table1``, ``table2`` ...), every ``<tr>`` a spreadsheet row, ``colspan``/``rowspan`` become merged
ranges (the value in the top-left cell, as Excel opens them), cell text as shown (tags removed,
``<br>`` a line break, white space collapsed), all values text (as a CSV's). The encoding is the
page's ``<meta charset>`` if it decodes the page, else UTF-8, else GB18030 (GBK).

Bounded: the caller's ``check_cells(rows, columns, where)`` is called with the table's size,
spans included, as it grows and before the grid is built, so ``colspan="1000000"`` cannot exhaust
memory (rowspans stop at the table's last row).
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from ..errors import ReadError

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)
_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0\u3000]+")
_MAX_SPAN = 1_000_000


def decode_page(raw: bytes, path: Path) -> str:
    """The page's text: its declared charset if that decodes it, else UTF-8, else GB18030."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    found = _CHARSET.search(raw[:4096])
    tries = ([found.group(1).decode("ascii").lower()] if found else []) + ["utf-8", "gb18030"]
    for enc in tries:
        try:
            return raw.decode("gb18030" if enc in ("gb2312", "gbk", "x-gbk") else enc)
        except (LookupError, UnicodeDecodeError):
            continue
    raise ReadError(f"{path}: the web page is neither in its declared encoding nor UTF-8 nor GBK; open it in "
                    "Excel or WPS and save it as .xlsx.")


class _Tables(HTMLParser):
    """Cells of every outermost ``<table>``: ``[[(text, rowspan, colspan), ...] per row] per table``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[tuple[str, int, int]]]] = []
        self.depth = 0
        self.cell: list[str] | None = None
        self.span = (1, 1)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.depth += 1
            if self.depth == 1:
                self.tables.append([])
        elif self.depth == 1 and tag == "tr":
            self._close_cell()
            self.tables[-1].append([])
        elif self.depth == 1 and tag in ("td", "th"):
            self._close_cell()
            if not self.tables[-1]:
                self.tables[-1].append([])
            a = dict(attrs)
            self.span = (_span(a.get("rowspan")), _span(a.get("colspan")))
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append("\n")

    def handle_endtag(self, tag):
        if tag == "table":
            if self.depth == 1:
                self._close_cell()
            self.depth = max(self.depth - 1, 0)
        elif self.depth == 1 and tag in ("td", "th", "tr"):
            self._close_cell()

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

    def _close_cell(self):
        if self.cell is not None and self.tables and self.tables[-1]:
            lines = [_SPACE.sub(" ", x).strip() for x in "".join(self.cell).split("\n")]
            self.tables[-1][-1].append(("\n".join(x for x in lines if x), *self.span))
        self.cell = None


def _span(v) -> int:
    try:
        n = int(str(v).strip()) if v is not None else 1
    except ValueError:
        return 1
    return min(max(n, 1), _MAX_SPAN)


def _tables(path: Path) -> list:
    parser = _Tables()
    try:
        parser.feed(decode_page(path.read_bytes(), path))
        parser.close()
    except ReadError:
        raise
    except Exception as exc:  # html.parser is lenient; anything else is a damaged file
        raise ReadError(f"{path}: cannot read the web page's tables ({type(exc).__name__}: {exc}); open it in "
                        "Excel or WPS and save it as .xlsx.") from None
    tables = [t for t in parser.tables if any(t)]
    if not tables:
        raise ReadError(f"{path}: the file is a web page saved with an Excel extension, and it holds no table. "
                        "Export the data again, or open it in Excel or WPS and save it as .xlsx.")
    return tables


def html_sheet_names(path: Path) -> list[str]:
    return [f"table{i + 1}" for i in range(len(_tables(path)))]


def _layout(rows, check) -> tuple[dict, list, int, int]:
    """{(row, column): text} (1-based) and the merged ranges of one table, each cell placed in the
    first column its row has free (rowspans from above occupy columns); its height and width.
    Rowspans stop at the table's last row. `check(rows, columns)` is called whenever the width
    grows, before the grid reaches that size."""
    height = len(rows)
    taken: set[tuple[int, int]] = set()
    cells, merged, width, checked = {}, [], 0, 0
    for r, row in enumerate(rows, start=1):
        c = 1
        for text, rs, cs in row:
            while (r, c) in taken:
                c += 1
            last_row, last_col = min(r + rs - 1, height), c + cs - 1
            if last_col > checked:
                check(height, last_col)
                checked = last_col
            cells[(r, c)] = text
            width = max(width, last_col)
            if last_row > r or last_col > c:
                merged.append((r, c, last_row, last_col))
                taken.update((rr, cc) for rr in range(r + 1, last_row + 1) for cc in range(c, last_col + 1))
            c += cs
    return cells, merged, height, width


def read_html_sheet(path: Path, sheet, check_cells=None):
    """One ``<table>`` of a web page saved as ``.xls``, as :func:`evalkit.io.workbook.read_sheet`
    returns a worksheet: (cells, merged ranges, name)."""
    from .xls import _sheet_index

    tables = _tables(path)
    names = [f"table{i + 1}" for i in range(len(tables))]
    index = _sheet_index(path, names, 0 if sheet is None else sheet)
    rows = tables[index]
    where = f"table {names[index]!r} of the web page, spans included"
    cells, merged, height, width = _layout(rows, lambda h, w: check_cells(h, w, where) if check_cells else None)
    grid = [[None] * width for _ in range(height)]
    for (r, c), text in cells.items():
        grid[r - 1][c - 1] = text if text != "" else None
    t = pd.DataFrame(grid, dtype=object)
    t.index = pd.RangeIndex(1, len(t) + 1)
    return t, merged, names[index]


__all__ = ["read_html_sheet", "html_sheet_names", "decode_page"]
