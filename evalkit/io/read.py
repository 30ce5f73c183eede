"""Read survey exports: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), Excel, SPSS ``.sav``, Stata ``.dta``.

:func:`read_survey` returns the answers *as exported* (text for CSV and Excel, codes for SPSS and
Stata) with the index set to the row number a user sees in the file (the header is row 1, so
the first answer is row 2). Nothing is converted or dropped here: :func:`evalkit.validate` does
the checking and typing, and reports problems by that row number.

Every read is bounded before parsing (:class:`ReadLimits`): the file's size; for ``.xlsx``/``.xlsm``
(zip archives) the total uncompressed size and the expansion ratio of the members, taken from the
zip's central directory (Python's :mod:`zipfile` never inflates a member beyond the size recorded
there, so the check holds for what openpyxl then reads), and the sheet's declared dimension; for
an old ``.xls`` (not compressed) the sheet's declared and read rows times columns
(:mod:`evalkit.io.xls`); for
CSV the number of lines times columns; for ``.sav``/``.dta`` the rows and columns in the file's
header. A data file that is a symbolic link resolving outside the folder it is named in is refused.
"""
from __future__ import annotations

import io
import os
import warnings
import re
import zipfile
import zlib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .._literals import check_choice
from ..errors import EvalkitWarning, ReadError
from .privacy import PersonalDataPolicy, check_personal_data

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
# Tried in order when no encoding is given. GB18030 is a superset of GBK and GB2312, which is
# what Chinese Excel writes when it saves "CSV"; utf-8-sig also reads plain UTF-8.
ENCODINGS = ("utf-8-sig", "gb18030")

_MB = 1024 * 1024
#: The environment variable overriding each :class:`ReadLimits` field.
LIMIT_ENV = {"max_file_mb": "EVALKIT_MAX_FILE_MB", "max_uncompressed_mb": "EVALKIT_MAX_UNCOMPRESSED_MB",
             "max_ratio": "EVALKIT_MAX_EXPANSION_RATIO", "max_cells": "EVALKIT_MAX_CELLS"}


@dataclass(frozen=True)
class ReadLimits:
    """Bounds checked before a survey export is parsed.

    The defaults fit exports of a few hundred thousand answers with a wide margin (the shipped
    example: 1.3 MB of CSV, about 300,000 cells). Override per call with
    ``read_survey(..., limits=ReadLimits(max_cells=5_000_000))`` or for a whole session (including
    :func:`~evalkit.io.exports.read_wjx`, :func:`~evalkit.io.exports.read_kobo`,
    :func:`~evalkit.io.exports.read_spss` and the command line) with the environment variables
    named below; a keyword wins over the environment, the environment over the default.

    Attributes
    ----------
    max_file_mb
        Size of the file on disk, any format (``EVALKIT_MAX_FILE_MB``, default 200).
    max_uncompressed_mb
        Total uncompressed size of the members of an ``.xlsx``/``.xlsm`` archive
        (``EVALKIT_MAX_UNCOMPRESSED_MB``, default 200).
    max_ratio
        Expansion ratio (uncompressed / compressed) of the archive as a whole and of any member
        over 1 MB uncompressed (``EVALKIT_MAX_EXPANSION_RATIO``, default 100; real workbooks
        compress 5-30 times, a zip bomb thousands of times).
    max_cells
        Rows times columns of the table: the sheet's declared dimension, the CSV's lines times
        its header's columns, the ``.sav``/``.dta`` header's counts (``EVALKIT_MAX_CELLS``,
        default 2,000,000).
    """

    max_file_mb: float = 200.0
    max_uncompressed_mb: float = 200.0
    max_ratio: float = 100.0
    max_cells: int = 2_000_000

    @classmethod
    def from_env(cls) -> "ReadLimits":
        """The defaults, overridden by the ``EVALKIT_MAX_*`` environment variables that are set."""
        names = LIMIT_ENV
        out = {}
        for f in fields(cls):
            raw = os.environ.get(names[f.name])
            if raw is None or not raw.strip():
                continue
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not value > 0:
                raise ReadError(f"environment variable {names[f.name]}={raw!r} must be a positive number; "
                                "set it to a number or unset it to use the default.")
            out[f.name] = int(value) if f.name == "max_cells" else value
        return replace(cls(), **out)


def _too_big(path: Path, what: str, measured: str, limit: str, knob: str) -> ReadError:
    return ReadError(
        f"{path}: {what} is {measured}, over the limit of {limit}; evalkit refuses it before parsing "
        f"(a damaged file or a decompression bomb). If the export is genuine, raise the limit with "
        f"read_survey(..., limits=ReadLimits({knob}=...)) or the environment variable "
        f"{LIMIT_ENV[knob]}, "
        "or split the export.")


def _check_location(path: Path) -> None:
    """Refuse a symbolic link (at the file itself) that resolves outside the folder it is named in."""
    if not path.is_symlink():
        return
    target, folder = path.resolve(), path.parent.resolve()
    if not target.is_relative_to(folder):
        raise ReadError(
            f"{path}: is a symbolic link to a file outside its folder {str(folder)!r}; evalkit reads "
            "only files inside the data folder so that what is checked is what is read. Copy the "
            "file into the folder, or pass its real path.")


def _check_file_size(path: Path, limits: ReadLimits) -> None:
    size = path.stat().st_size
    if size > limits.max_file_mb * _MB:
        raise _too_big(path, "the file", f"{size / _MB:.1f} MB", f"{limits.max_file_mb:g} MB", "max_file_mb")


def _check_cells(path: Path, rows: int, cols: int, limits: ReadLimits, where: str) -> None:
    if rows * cols > limits.max_cells:
        raise _too_big(path, f"the table ({where})", f"{rows:,} rows x {cols:,} columns = {rows * cols:,} cells",
                       f"{limits.max_cells:,} cells", "max_cells")


_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]{1,3})(\d{1,7})(?::([A-Z]{1,3})(\d{1,7}))?\"")


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _check_zip(path: Path, limits: ReadLimits) -> None:
    """Bound an ``.xlsx``/``.xlsm`` from its central directory (and the sheets' declared dimension)."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            total = sum(m.file_size for m in members)
            packed = sum(m.compress_size for m in members)
            if total > limits.max_uncompressed_mb * _MB:
                raise _too_big(path, "the workbook unpacked", f"{total / _MB:.1f} MB",
                               f"{limits.max_uncompressed_mb:g} MB", "max_uncompressed_mb")
            worst = max(members, key=lambda m: m.file_size / max(m.compress_size, 1), default=None)
            for what, big, small in [("the workbook", total, packed)] + (
                    [(f"member {worst.filename!r}", worst.file_size, worst.compress_size)]
                    if worst is not None and worst.file_size > _MB else []):
                if big > _MB and big / max(small, 1) > limits.max_ratio:
                    raise _too_big(path, f"the expansion ratio of {what} ({small:,} bytes unpacking to "
                                   f"{big:,})", f"{big / max(small, 1):.0f}x", f"{limits.max_ratio:g}x", "max_ratio")
            for m in members:
                if m.filename.startswith("xl/worksheets/") and m.filename.endswith(".xml"):
                    with zf.open(m) as fh:
                        found = _DIMENSION.search(fh.read(4096))
                    if found and found.group(3):
                        rows = int(found.group(4)) - int(found.group(2)) + 1
                        cols = _column_number(found.group(3)) - _column_number(found.group(1)) + 1
                        _check_cells(path, max(rows, 0), max(cols, 0), limits,
                                     f"sheet {m.filename!r} declares {found.group(0).decode(errors='replace')}")
    except (zlib.error, zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError) as exc:
        raise ReadError(
            f"{path}: cannot open as an Excel workbook ({type(exc).__name__}: {exc}). The file may be "
            "truncated or not really Excel; open and re-save it in Excel or WPS.") from None


def _decode(raw: bytes, path: Path, encoding: str | None) -> tuple[str, str]:
    if encoding is not None:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise ReadError(f"{path}: cannot decode the file as {encoding!r} ({exc}).") from None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode text": UTF-16 with a BOM
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    for enc in ENCODINGS:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    # find the first undecodable line to point at
    for i, line in enumerate(raw.splitlines(), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            try:
                line.decode("gb18030")
            except UnicodeDecodeError:
                raise ReadError(
                    f"{path}, row {i}: bytes that are neither UTF-8 nor GBK/GB18030. The file mixes "
                    "encodings or is damaged; re-save it from Excel as 'CSV UTF-8', or pass "
                    "encoding='...'."
                ) from None
    raise ReadError(
        f"{path}: the file is not UTF-8 and not GBK/GB18030 as a whole (lines mix the two "
        "encodings). Re-save it from Excel as 'CSV UTF-8', or pass encoding='...'."
    )


def _check_header(columns, path: Path, row: int = 1) -> list[str]:
    cols = [("" if c is None or (isinstance(c, float) and np.isnan(c)) else str(c)).strip() for c in columns]
    if any(c == "" for c in cols):
        i = cols.index("")
        raise ReadError(f"{path}, row {row}, column {i + 1}: a column has no name. Name it or delete it"
                        f"{'' if row > 1 else ' (if the header is on a later row, pass header=<its row number>)'}.")
    seen, dup = set(), []
    for c in cols:
        if c in seen and c not in dup:
            dup.append(c)
        seen.add(c)
    if dup:
        raise ReadError(
            f"{path}, row {row}: duplicated column name(s) {dup}. Each question must have one column; "
            "rename or remove the copies."
        )
    return cols


def _body(table: pd.DataFrame, path: Path, header: int | None, known, merged=(),
          strip: bool = False) -> tuple[pd.DataFrame, dict]:
    """The answers below the header row (found, or `header`), index = spreadsheet row numbers."""
    from .workbook import fill_merged, find_header

    try:
        h = find_header(table, known, header)
    except ReadError as exc:
        raise ReadError(f"{path}: {exc}") from None
    notes = []
    above = [r for r in table.index[table.index < h] if table.loc[r].map(lambda v: not _blank(v)).any()]
    if above:
        notes.append(f"header in row {h}; row(s) {above} above it not read (a title or a note)")
    if merged:
        table, filled = fill_merged(table, merged, h)
        notes += filled
    body = table.loc[table.index > h]
    names = table.loc[h]
    _no_personal_header(names, path, h)
    unnamed_empty = [c for c in table.columns if _blank(names[c]) and body[c].map(_blank).all()]
    body = body.drop(columns=unnamed_empty)
    body.columns = _check_header(names.drop(unnamed_empty).tolist(), path, h)
    if strip:  # Excel: typed cells carry stray spaces; a CSV's text is kept as exported
        body = body.map(lambda v: v.strip() if isinstance(v, str) else v)
    body = body.replace("", np.nan)
    blank = body.isna().all(axis=1)
    return body[~blank], {"header_row": int(h), "blank_lines_skipped": int(blank.sum()), "notes": notes}


def _no_personal_header(names: pd.Series, path: Path, row: int) -> None:
    """A phone or ID number in the header row: the file has no header (answers in row 1), and the
    column names would carry the number into every message. Refused without the value."""
    from .personal_numbers import cell_text
    from .privacy import cell_rules, value_shape

    for i, v in enumerate(names.tolist()):
        t = cell_text(v) if not _blank(v) else None
        rules = cell_rules(t) if t else []
        if rules:
            raise ReadError(f"{path}, row {row}, column {i + 1}: the header holds a {rules[0]} number "
                            f"({value_shape(t)}); the row is answers, not column names. Add a header row "
                            "(the column names) above the answers, or pass header=<the row of the names>.")


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def _read_csv(path: Path, encoding: str | None, sep: str | None,
              limits: ReadLimits, header: int | None = None, known=()) -> tuple[pd.DataFrame, dict]:
    raw = path.read_bytes()
    if not raw.strip():
        raise ReadError(f"{path}: the file is empty (no header row). Export the survey again.")
    text, enc = _decode(raw, path, encoding)
    if not text.strip():
        raise ReadError(f"{path}: the file is empty (no header row). Export the survey again.")
    if sep is None:
        first = text.splitlines()[0] if text.splitlines() else ""
        sep = max([",", ";", "\t"], key=first.count)
    first_line = text[:text.find("\n")] if "\n" in text else text
    lines = text.count("\n") + (not text.endswith("\n"))
    _check_cells(path, lines, first_line.count(sep) + 1, limits,
                 "lines times the header's columns")
    try:
        table = pd.read_csv(
            io.StringIO(text), sep=sep, header=None, dtype=str, keep_default_na=False,
            na_filter=False, skip_blank_lines=False, engine="python",
        )
    except pd.errors.EmptyDataError:
        raise ReadError(f"{path}: the file is empty (no header row). Export the survey again.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise ReadError(f"{path}: not a well-formed table ({exc}). Check the separator and quoting.") from None
    if table.empty:
        raise ReadError(f"{path}: the file is empty (no header row). Export the survey again.")
    table.index = pd.RangeIndex(1, len(table) + 1)  # spreadsheet row numbers
    body, info = _body(table, path, header, known)
    return body, {"encoding": enc, "separator": sep, **info}


def _read_excel(path: Path, sheet, limits: ReadLimits, header: int | None = None,
                known=()) -> tuple[pd.DataFrame, dict]:
    """The sheet asked for (default: the first; ``"all"``: every sheet with the same header, with a
    ``sheet`` column), and a note (and an :class:`EvalkitWarning`) for every other sheet."""
    from .workbook import read_sheet, sheet_names
    from .xls import excel_kind

    if excel_kind(path) == "xlsx":  # by content: a zip named .xls is an .xlsx; an old .xls is bounded per sheet
        _check_zip(path, limits)
    try:
        names = sheet_names(path)
        wanted = names if sheet == "all" else [None]
        parts, notes, read = [], [], []
        for want in wanted:
            table, merged, name = read_sheet(path, sheet if want is None else want,
                                             lambda r, c, where: _check_cells(path, r, c, limits, where))
            if table.map(lambda v: not _blank(v)).to_numpy().sum() == 0:
                if want is None:
                    raise ReadError(f"{path}: the sheet is empty (no header row).")
                notes.append(f"sheet {names.index(name) + 1} {name!r} not read: it is empty")
                continue
            body, info = _body(table, path, header, known, merged, strip=True)
            if parts and list(body.columns) != list(parts[0][1].columns):
                notes.append(f"sheet {names.index(name) + 1} {name!r} not read: its columns differ from sheet "
                             f"{read[0]!r}'s; read it alone with sheet={name!r}")
                continue
            parts.append((name, body, info))
            read.append(name)
    except ReadError:
        raise
    except Exception as exc:  # openpyxl/zipfile raise many kinds on damaged files
        raise ReadError(
            f"{path}: cannot open as an Excel workbook ({type(exc).__name__}: {exc}). The file may "
            "be truncated or not really Excel; open and re-save it in Excel or WPS."
        ) from None
    for i, name in enumerate(names):
        if name not in read and not any(repr(name) in n for n in notes):
            notes.append(f"sheet {i + 1} {name!r} not read: pass sheet='all' to read every sheet with the same "
                         f"header (a 'sheet' column says which), or sheet={name!r}")
    if len(parts) == 1:
        name, body, info = parts[0]
        info = {**info, "notes": info["notes"] + notes}
    else:
        for name, b, _ in parts:
            b.insert(0, "sheet", name)
            b.index = [f"{name}!{r}" for r in b.index]
        body = pd.concat([b for _, b, _ in parts])
        info = {"meta": ["sheet"],"header_row": {n: i["header_row"] for n, _, i in parts},
                "blank_lines_skipped": sum(i["blank_lines_skipped"] for _, _, i in parts),
                "notes": [x for _, _, i in parts for x in i["notes"]] + notes}
    unread = [n for n in notes if "not read" in n and "sheet" in n]
    if unread:
        warnings.warn(f"{path}: " + "; ".join(unread), EvalkitWarning, stacklevel=4)
    return body, {"sheet": read[0] if len(read) == 1 else read, **info}


def _read_excel_file(path: Path, sheet, encoding, sep, limits: ReadLimits, header, known):
    """(table, details, format) of a file with an Excel extension; tab- or comma-separated text named
    ``.xls`` (what some systems export) is read as CSV, with a note."""
    from .xls import excel_kind

    if excel_kind(path, text=True) != "text":
        return (*_read_excel(path, sheet, limits, header, known), "excel")
    df, meta = _read_csv(path, encoding, sep, limits, header, known)
    meta["notes"] = [f"{path.name} is text (separated by {meta['separator']!r}), not an Excel workbook: read "
                     "as CSV"] + meta["notes"]
    return df, meta, "csv"


def _read_stat(path: Path, kind: str, limits: ReadLimits) -> tuple[pd.DataFrame, dict]:
    import pyreadstat

    reader = pyreadstat.read_sav if kind == "sav" else pyreadstat.read_dta
    kwargs = {"user_missing": True} if kind == "sav" else {}
    try:
        _, head = reader(str(path), metadataonly=True)
    except Exception as exc:  # pyreadstat raises its own ReadstatError and OSError
        raise ReadError(f"{path}: cannot read as {kind.upper()} ({type(exc).__name__}: {exc}).") from None
    _check_cells(path, int(head.number_rows or 0), int(head.number_columns or 0), limits, "as its header declares")
    try:
        df, meta = reader(str(path), apply_value_formats=False, **kwargs)
    except Exception as exc:  # pyreadstat raises its own ReadstatError and OSError
        raise ReadError(f"{path}: cannot read as {kind.upper()} ({type(exc).__name__}: {exc}).") from None
    _check_header(df.columns, path)
    df.index = pd.RangeIndex(2, len(df) + 2)  # as a spreadsheet shows it: header = row 1
    info = {
        "value_labels": {c: meta.variable_value_labels.get(c, {}) for c in df.columns},
        "user_missing": dict(getattr(meta, "missing_user_values", {}) or {}),
        "missing_ranges": dict(getattr(meta, "missing_ranges", {}) or {}),
        "column_labels": dict(zip(meta.column_names, meta.column_labels)),
    }
    return df, info


def read_survey(
    path: str | Path,
    codebook=None,
    *,
    encoding: str | None = None,
    sheet=None,
    sep: str | None = None,
    column_map: dict[str, str] | None = None,
    drop: Sequence[str] = (),
    allow: Sequence[str] = (),
    personal_data: PersonalDataPolicy = "refuse",
    registry=None,
    study=None,
    limits: ReadLimits | None = None,
    header: int | None = None,
    labels: bool = True,
) -> pd.DataFrame:
    """Read a survey export exactly as exported, ready for :func:`evalkit.validate`.

    Parameters
    ----------
    path
        ``.csv``/``.txt``/``.tsv`` (UTF-8, UTF-8 with BOM, GBK/GB18030 detected in that order),
        ``.xlsx``/``.xls``, ``.sav`` (SPSS; codes kept, user-missing codes kept as their codes so
        the codebook's missing-value codes apply) or ``.dta`` (Stata).
    codebook, registry, study
        Optional: the survey's codebook and community registry (or a
        :class:`~evalkit.spec.study.Study` holding them). With a codebook, the header row is the
        row naming the most codebook variables, and answers typed as their label (男/女, 非常同意,
        "1-2次" for "1–2次": width, dashes and spaces normalised as the platform readers do) become
        the codebook's codes (``attrs["labels_mapped"]`` counts them; `labels=False` keeps the
        text). The personal-data check does not take their labels and community names for
        personal names. Checking the answers is :func:`evalkit.validate`'s job.
    encoding, sep
        Override the detected CSV encoding or the CSV separator.
    sheet
        Excel: the sheet to read (name or 0-based number; default the first), or ``"all"``: every
        non-empty sheet whose header matches the first one's, one below the other, with a
        ``sheet`` column; the index is then ``"<sheet>!<row>"``. Every sheet not read is named in
        ``attrs["notes"]`` with the reason and an :class:`~evalkit.errors.EvalkitWarning`.
    header
        The spreadsheet row number (1 = the first row) of the column names. Default: found -- the
        first row naming two or more codebook variables best, else the first row filled at least
        half as wide as the table, so a title or "填表人" line above the header is skipped (and
        named in ``attrs["notes"]``). Merged cells below the header (a community name merged
        down many rows) are read as their value in every cell they cover.
    column_map
        ``{export header: codebook name}`` applied after reading.
    drop, allow, personal_data
        Personal data (:func:`evalkit.io.privacy.check_personal_data`): columns named in `drop` are
        removed on reading. With ``personal_data="refuse"`` (default) any other column that IS
        personal data -- a name, phone, citizen ID, address or contact column, by its header or its
        content -- refuses the file with :class:`PersonalDataError`, unless named in `allow`; a
        phone or ID number in any other cell (one typed into the age box, or in an allowed
        column) is blanked and listed in ``attrs["personal_cells"]`` (``row, column, rule,
        shape``, never the value), and :func:`evalkit.validate` quarantines its row.
        ``"quarantine"`` removes such columns instead of refusing (listed in ``attrs["notes"]``);
        ``"ignore"`` skips the check (for files already known to be clean).
    limits
        Bounds checked before parsing (:class:`ReadLimits`; default: its defaults overridden by the
        ``EVALKIT_MAX_*`` environment variables).

    Returns
    -------
    DataFrame
        Answers as exported (strings for CSV/Excel). The index is the file's row number as a
        spreadsheet shows it (header = row 1). ``df.attrs`` holds ``source`` (the path),
        ``format`` and reader details (``encoding``, value labels of a ``.sav``...).

    Raises
    ------
    ReadError
        Missing, empty, truncated or undecodable files, unnamed or duplicated columns; a file over
        a :class:`ReadLimits` bound (size, unpacked size, expansion ratio, cells), or a symbolic
        link resolving outside the folder it is named in. The message names the file, the row or
        the measured size and the limit, and what to do.
    PersonalDataError
        A column looks like personal data (see `drop`, `allow`); the message names the column,
        what was found and an example row, never the value.
    """
    check_choice(personal_data, PersonalDataPolicy, "personal_data")
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file.")
    if not path.is_file():
        raise ReadError(f"{path}: is a folder, not a file. Name the export file itself.")
    _check_location(path)
    limits = ReadLimits.from_env() if limits is None else limits
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES + EXCEL_SUFFIXES + (".sav", ".zsav", ".dta"):
        _check_file_size(path, limits)
    if codebook is not None or study is not None:
        from ..spec.study import resolve

        codebook, registry = resolve(codebook, registry, study, "read_survey()", codebook_required=False)
    if suffix in CSV_SUFFIXES + EXCEL_SUFFIXES:
        from .workbook import known_headers

        known = known_headers(codebook, column_map)
    if suffix in CSV_SUFFIXES:
        df, meta = _read_csv(path, encoding, "\t" if suffix == ".tsv" and sep is None else sep, limits,
                             header, known)
        fmt = "csv"
    elif suffix in EXCEL_SUFFIXES:
        df, meta, fmt = _read_excel_file(path, sheet, encoding, sep, limits, header, known)
    elif suffix in (".sav", ".zsav"):
        df, meta = _read_stat(path, "sav", limits)
        fmt = "sav"
    elif suffix == ".dta":
        df, meta = _read_stat(path, "dta", limits)
        fmt = "dta"
    else:
        raise ReadError(
            f"{path}: unknown file type {suffix!r}. evalkit reads .csv, .xlsx, .xls, .sav and .dta."
        )
    df.index.name = "row"
    return _after_read(df, meta, path, fmt, codebook=codebook, registry=registry, study=study, drop=drop, allow=allow,
                       personal_data=personal_data, column_map=column_map, labels=labels)


def _after_read(df, meta, path, fmt, *, codebook, registry, study, drop, allow, personal_data, column_map, labels):
    """Personal data, column_map, headers matched to the codebook, answers typed as labels."""
    # --- personal data (evalkit.io.privacy): drop= / allow= / refuse or quarantine, per cell ---
    df.attrs = {"source": str(path)}
    if personal_data != "ignore" or drop:
        df = check_personal_data(df, drop=drop, allow=allow, personal_data=personal_data, source=str(path),
                                 call="read_survey(path, ...)", codebook=codebook, registry=registry, study=study)
    found = {k: df.attrs[k] for k in ("dropped_personal_data", "personal_cells", "notes") if k in df.attrs}
    if column_map:
        unknown = [k for k in column_map if k not in df.columns]
        if unknown:
            raise ReadError(f"{path}: column_map names column(s) not in the file: {unknown}.")
        df = df.rename(columns=column_map)
        _check_header(df.columns, path, meta.get("header_row", 1) if isinstance(meta.get("header_row"), int) else 1)
        if "personal_cells" in found:
            found["personal_cells"] = found["personal_cells"].assign(
                column=found["personal_cells"]["column"].map(lambda c: column_map.get(c, c)))
    notes = list(meta.pop("notes", [])) + list(found.pop("notes", []))
    if codebook is not None and fmt in ("csv", "excel"):
        from .workbook import map_answer_labels, match_headers

        df, matched, found = match_headers(df, codebook, str(path), found)
        if matched:
            meta["column_map"] = {**dict(column_map or {}), **matched}
        if labels:
            df, meta["labels_mapped"] = map_answer_labels(df, codebook)
    df.attrs = {"source": str(path), "format": fmt, **meta, **found, "notes": notes}
    return df
