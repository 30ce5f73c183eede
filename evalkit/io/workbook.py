"""Workbooks typed by hand: sheets, merged cells, title rows above the header, answers typed as text.

Used by :func:`evalkit.io.read.read_survey`. A sheet is read cell by cell with its real spreadsheet
row numbers (``openpyxl``, read-only, cached formula values); merged cells below the header are
filled with their top-left value (a community name merged down twenty rows belongs to each of
them); the header row is found (:func:`find_header`) or given; every sheet of the workbook is either
read or reported (:func:`other_sheets_note`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import ReadError

_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\s+ref=\"([A-Z]{1,3})(\d{1,7}):([A-Z]{1,3})(\d{1,7})\"")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
#: Rows searched for the header.
HEADER_SEARCH = 30


def _col(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def sheet_names(path: Path) -> list[str]:
    """The workbook's sheet names, in order (``.xlsx``/``.xlsm``, or an old ``.xls``)."""
    import openpyxl

    from .html_table import html_sheet_names
    from .xls import excel_kind, xls_sheet_names

    kind = excel_kind(path)
    if kind != "xlsx":
        return xls_sheet_names(path) if kind == "xls" else html_sheet_names(path)
    with open(path, "rb") as fh:  # a file object: openpyxl refuses a zip named .xls by its name alone
        wb = openpyxl.load_workbook(fh, read_only=True)
        try:
            return list(wb.sheetnames)
        finally:
            wb.close()


def read_sheet(path: Path, sheet, check_cells=None) -> tuple[pd.DataFrame, list[tuple[int, int, int, int]], str]:
    """One sheet as a table of cell values: index = spreadsheet row (1-based), columns 0, 1, ...;
    the merged ranges ``(first row, first column, last row, last column)`` (1-based); its name.
    An old ``.xls`` is read by :func:`evalkit.io.xls.read_xls_sheet`, a web page saved as ``.xls``
    by :func:`evalkit.io.html_table.read_html_sheet`, both bounded by `check_cells`."""
    from .html_table import read_html_sheet
    from .xls import excel_kind, read_xls_sheet

    kind = excel_kind(path)
    if kind != "xlsx":
        return (read_xls_sheet if kind == "xls" else read_html_sheet)(path, sheet, check_cells)
    import openpyxl

    from .xls import _sheet_index

    with open(path, "rb") as raw:  # a file object: openpyxl refuses a zip named .xls by its name alone
        wb = openpyxl.load_workbook(raw, read_only=True, data_only=True)
        try:
            names = wb.sheetnames
            sheet = names[_sheet_index(path, names, 0 if sheet is None else sheet)]
            ws = wb[sheet]
            rows = [list(r) for r in ws.iter_rows(min_row=1, values_only=True)]
            with wb._archive.open(ws._worksheet_path) as fh:
                merged = [(int(m.group(2)), _col(m.group(1)), int(m.group(4)), _col(m.group(3)))
                          for m in _MERGE.finditer(fh.read())]
        finally:
            wb.close()
    width = max((len(r) for r in rows), default=0)
    t = pd.DataFrame([r + [None] * (width - len(r)) for r in rows], dtype=object)
    t.index = pd.RangeIndex(1, len(t) + 1)
    return t, merged, sheet


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def find_header(table: pd.DataFrame, known: Iterable[str] = (), header: int | None = None) -> int:
    """The spreadsheet row (1-based) holding the column names.

    `header` given: that row. Otherwise, among the first :data:`HEADER_SEARCH` non-blank rows, the
    first row whose cells name the most codebook variables (`known`: normalised names and question
    texts), if any names two or more; failing that, the first row filled at least half as wide as
    the widest of them (a title or a "填表人" line above the header fills one or two cells) --
    unless more than a fifth of its cells are numbers (then it is answers, and the first row is
    the header, as without detection).
    """
    from .platform import _norm

    if header is not None:
        if header not in table.index:
            raise ReadError(f"header={header!r}: the sheet has rows {table.index.min()} to {table.index.max()}; "
                            "header= is the spreadsheet row number of the column names (the first row is 1).")
        return int(header)
    top = table.head(HEADER_SEARCH * 10)  # the header is near the top: never scan the whole table
    counts = top.map(lambda v: not _blank(v)).sum(axis=1)
    candidates = [r for r in top.index if counts[r] > 0][:HEADER_SEARCH]
    if not candidates:
        raise ReadError("the sheet is empty (no header row).")
    known = set(known)
    if known:
        score = {r: sum(_norm(v) in known for v in table.loc[r] if not _blank(v)) for r in candidates}
        best = max(score.values())
        if best >= 2 or (best == 1 and table.shape[1] == 1):
            return next(r for r in candidates if score[r] == best)
    widest = max(counts[r] for r in candidates)
    found = next(r for r in candidates if counts[r] >= max(1, 0.5 * widest) and (counts[r] >= 2 or widest == 1))
    if found != candidates[0]:
        # skipping rows is safe only if what is taken for the header reads like names, not answers
        cells = [v for v in table.loc[found] if not _blank(v)]
        numeric = sum(isinstance(v, (int, float, np.number)) or bool(_NUMBER.fullmatch(str(v).strip())) for v in cells)
        if numeric > 0.2 * len(cells):
            return candidates[0]
    return found


def fill_merged(table: pd.DataFrame, merged, header_row: int) -> tuple[pd.DataFrame, list[str]]:
    """Merged ranges below the header filled with their top-left value, one note per range."""
    from openpyxl.utils import get_column_letter

    notes = []
    t = table.copy()
    for r1, c1, r2, c2 in merged:
        if r1 <= header_row or r1 not in t.index:
            continue
        value = t.at[r1, c1 - 1] if c1 - 1 in t.columns else None
        rows = [r for r in range(r1, r2 + 1) if r in t.index]
        cols = [c - 1 for c in range(c1, c2 + 1) if c - 1 in t.columns]
        t.loc[rows, cols] = value
        notes.append(f"merged cells {get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2} read as the value of "
                     f"{get_column_letter(c1)}{r1} in each cell")
    return t, notes


def known_headers(codebook, column_map=None) -> set[str]:
    """Normalised codebook names and question texts (Chinese and English) and column_map keys."""
    from .platform import _norm

    out = set()
    if codebook is not None:
        for name, var in codebook.variables.items():
            out.update({_norm(name), _norm(var.label.zh), _norm(var.label.en)})
    out.update(_norm(k) for k in (column_map or {}))
    out.discard("")
    return out


def match_headers(df: pd.DataFrame, codebook, source: str, found: dict) -> tuple[pd.DataFrame, dict, dict]:
    """Headers that are a codebook question text (Chinese or English, normalised as the platform
    readers do: "性 别" is 性别) renamed to the variable's name; a header naming several variables,
    or one already present, is left as it is. `found["personal_cells"]` follows the renaming."""
    from .platform import _resolve

    have = {str(c) for c in df.columns}
    todo = [str(c) for c in df.columns if str(c) not in codebook.variables]
    mapping = {h: n for h, n in _resolve(todo, {}, None, codebook, source).items() if n not in have and h != n}
    if not mapping:
        return df, {}, found
    out = df.rename(columns=mapping)
    if "personal_cells" in found:
        cells = found["personal_cells"]
        found = {**found, "personal_cells": cells.assign(column=cells["column"].map(lambda c: mapping.get(c, c)))}
    return out, mapping, found


def map_answer_labels(df: pd.DataFrame, codebook) -> tuple[pd.DataFrame, dict[str, int]]:
    """Answers typed as their label (男/女, 非常同意, 1–2次 ...) replaced by the codebook's code (as
    text), with the same normalisation as the platform readers (width, dashes, spaces); numbers and
    text matching no label are left for :func:`evalkit.validate` to check."""
    from .platform import _label_lookup, _norm

    out, counts = df, {}
    for col in df.columns:
        var = codebook.variables.get(str(col))
        if var is None or not (var.codes or var.missing_codes):
            continue
        lut = _label_lookup(var, codebook)
        s = df[col]
        try:
            uniq = pd.unique(s.to_numpy(dtype=object))
        except TypeError:  # unhashable cells: leave the column to validate
            continue
        # a number stays a number (a code as exported); only text that is an answer label is replaced
        table = {u: str(lut[_norm(u)]) for u in uniq if isinstance(u, str) and not _NUMBER.fullmatch(u.strip())
                 and _norm(u) in lut}
        if table:
            hits = s.isin(list(table))
            if out is df:
                out = df.copy()
            out[col] = s.astype(object).where(~hits, s.map(table))
            counts[str(col)] = int(hits.sum())
    return out, counts


__all__ = ["sheet_names", "read_sheet", "find_header", "fill_merged", "known_headers", "match_headers",
           "map_answer_labels"]
