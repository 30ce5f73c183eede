"""Reading a records sheet as organisations keep it: the cells of an Excel sheet (merged ranges
filled) or a CSV file, the heading row(s) below any title, and cell values (dates typed in any of
the usual ways, amounts with units) -- the pieces :func:`evalkit.performance.read_records` checks
row by row."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ReadError

_DATE_TEXT = re.compile(r"^(\d{4})\s*[.\-/年]\s*(\d{1,2})\s*[.\-/月]\s*(\d{1,2})\s*日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATE_SHORT = re.compile(r"^(\d{1,2})\s*[.\-/月]\s*(\d{1,2})\s*日?$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def _sheet_rows(path: Path, sheet, limits=None) -> tuple[list[tuple[int, list]], list[str], str]:
    """(sheet row number, cell values) for every row, merged ranges filled from their top-left
    cell; notes; the source name (``file[sheet]`` for a workbook of several sheets). The file is
    bounded before parsing as :func:`evalkit.read_survey` bounds exports (size, unpacked size,
    expansion ratio, declared cells: :class:`evalkit.io.read.ReadLimits`)."""
    from ..io.read import ReadLimits, _check_file_size, _check_zip

    limits = ReadLimits.from_env() if limits is None else limits
    notes = []
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".xlsx", ".xlsm"):
        _check_file_size(path, limits)
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        _check_zip(path, limits)

        try:
            wb = openpyxl.load_workbook(path, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds on damaged files
            raise ReadError(f"{path}: not a readable Excel workbook ({type(exc).__name__}). Save it again "
                            "from Excel as .xlsx, or export the sheet as CSV.") from None
        try:
            ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet]
        except (KeyError, IndexError):
            raise ReadError(f"{path}: no sheet {sheet!r}; the workbook has {wb.sheetnames}. "
                            "Pass sheet=<name or position>.") from None
        grid = [list(r) for r in ws.iter_rows(values_only=True)]
        source = path.name if len(wb.sheetnames) == 1 else f"{path.name}[{ws.title}]"
        for rng in list(ws.merged_cells.ranges):
            if rng.max_row > len(grid) or rng.max_col > len(grid[0]):
                continue  # a merged range beyond the cells holding values
            top = grid[rng.min_row - 1][rng.min_col - 1]
            for r in range(rng.min_row, rng.max_row + 1):
                for c in range(rng.min_col, rng.max_col + 1):
                    grid[r - 1][c - 1] = top
            if rng.max_row > rng.min_row:
                notes.append(f"merged cells {rng.coord}: the value of {rng.start_cell.coordinate} is "
                             f"used for rows {rng.min_row}-{rng.max_row}")
        wb.close()
        return [(i + 1, row) for i, row in enumerate(grid)], notes, source
    if suffix in (".csv", ".txt"):
        data = path.read_bytes()
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ReadError(f"{path}: neither UTF-8 nor GBK text. Save the sheet as CSV UTF-8.")
        head = "\n".join(text.splitlines()[:20])
        counts = {d: min((line.count(d) for line in head.splitlines()[1:] if line.strip()), default=0) for d in ",\t;"}
        delimiter = max(counts, key=lambda d: (counts[d], d == ","))  # the separator every line has most of
        if delimiter != ",":
            notes.append(f"columns separated by {'tab' if delimiter == chr(9) else repr(delimiter)}")
        try:
            lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as exc:
            raise ReadError(f"{path}: not a readable CSV file ({exc}). Check the separator and quoting.") from None
        return [(i + 1, list(r)) for i, r in enumerate(lines)], notes, path.name
    raise ReadError(f"{path}: records are read from .xlsx or .csv files, not {suffix or 'a file without suffix'}. "
                    "Save the sheet as .xlsx or CSV UTF-8.")


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def _find_header(rows, spec, source: str) -> int:
    for k, (_, cells) in enumerate(rows[:15]):
        named = {spec.column_of(c) for c in cells if not _blank(c)} - {None}
        if {"date", "activity_type"} <= named or len(named) >= 3:
            return k
    want = ", ".join(f"{f['zh']} ({n})" for n, f in spec.fields.items() if f.get("required"))
    raise ReadError(f"{source}: no heading row found in the first 15 rows. The sheet needs a row of column "
                    f"headings naming at least {want}; the spec ({Path(spec.path).name}) lists the accepted names.")


def _headings(rows, h: int, spec, notes: list) -> tuple[list[str], int]:
    """The column headings, and the last heading row: a second heading row under the first (a group
    heading such as 参与情况 merged over 人数 / 人次, the other headings merged down) is combined
    with it, the lower heading winning where it names a field."""
    top = ["" if _blank(c) else str(c).strip() for c in rows[h][1]]
    if h + 1 >= len(rows):
        return top, h
    low = ["" if _blank(c) else str(c).strip() for c in rows[h + 1][1]] + [""] * len(top)
    same = sum(1 for a, b in zip(top, low) if a and a == b)
    named = [spec.column_of(b) for b in low[:len(top)]]
    if same + sum(n is not None for n in named) < 2 or any(parse_date(b) for b in low[:len(top)] if b):
        return top, h
    notes.append(f"rows {rows[h][0]}-{rows[h + 1][0]} are two heading rows: read together")
    return [b if n is not None else a for a, b, n in zip(top, low, named)], h + 1


def parse_date(value, *, year: int | None = None) -> dt.date | None:
    """A date from a cell as organisations type it; ``None`` if it cannot be read.

    Accepts date/datetime cells, Excel serial numbers (days since 1899-12-30, 1950-2100 only),
    ``2017-06-03``, ``2017/6/3``, ``2017.6.3``, ``2017年6月3日`` (optionally with a time) and
    ``20170603``; with `year`, also month and day alone (``6月3日``, ``6.3``, ``6/3``).

    >>> parse_date("2017年6月3日"), parse_date("2017.6.3"), parse_date(42889)
    (datetime.date(2017, 6, 3), datetime.date(2017, 6, 3), datetime.date(2017, 6, 3))
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    text = unicodedata.normalize("NFKC", str(value)).strip() if not _blank(value) else ""
    if not text:
        return None
    try:
        num = float(text)
    except ValueError:
        num = None
    if num is not None and not _DATE_COMPACT.match(text) and not (year is not None and _DATE_SHORT.match(text)):
        if num.is_integer() and 18264 <= num <= 73051:  # 1950-01-01 .. 2100-01-01
            return _EXCEL_EPOCH + dt.timedelta(days=int(num))
        return None
    m = _DATE_TEXT.match(text) or _DATE_COMPACT.match(text)
    short = _DATE_SHORT.match(text) if year is not None and not m else None
    if short:
        try:
            return dt.date(year, int(short.group(1)), int(short.group(2)))
        except ValueError:
            return None
    if not m:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _number(value, kind: str):
    text = unicodedata.normalize("NFKC", str(value)).strip()
    text = re.sub(r"^[¥￥]|元$|人次?$|小时$|h$", "", text.replace(",", "")).strip()
    try:
        x = float(text)
    except ValueError:
        return None
    if not np.isfinite(x) or (kind == "count" and not x.is_integer()):
        return None
    return int(x) if kind == "count" else x


__all__ = ["parse_date"]
