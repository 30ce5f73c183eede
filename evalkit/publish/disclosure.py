"""Disclosure control for everything evalkit publishes.

* :func:`suppress` -- small-cell suppression of a tidy table with a respondent count column:
  cells counting fewer than `threshold` respondents (10 by default) are replaced by a visible
  marker, and *complementary* cells are suppressed so that no suppressed cell can be recovered
  by subtracting the others from a row, column or group total.
* :func:`scan_text` / :func:`assert_no_personal_data` -- look for citizen ID numbers (with a valid
  check digit), Chinese phone numbers and e-mail addresses in text or HTML (reports, notebook
  outputs); findings give the place and the kind, never the value.
* :func:`small_cells` -- respondent counts below the threshold in the HTML tables of a report.
* :func:`scan_notebook` -- both scans over the outputs of a Jupyter notebook.
* :func:`problems_table` -- the problems of a validation report with identifying values withheld.
"""
from __future__ import annotations

import html as _html
import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DisclosureWarning, EvalkitError, PersonalDataError
from ..io.privacy import (_LANDLINE, display_value, find_emails, find_personal_numbers, known_values,
                          normalise_text)

#: Dimensions of a published table recognised by :func:`suppress` when ``dims`` is not given.
KNOWN_DIMS = ("community_id", "community", "wave", "year", "sex", "age_group", "role", "band",
              "category", "level", "cohort", "event_time", "stratum", "group_label")
DEFAULT_MARKER = "[c]"

_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+")


# --- small-cell suppression ----------------------------------------------------------------------
def suppress(
    table: pd.DataFrame,
    n_col: str = "n",
    threshold: int = 10,
    marker: str = DEFAULT_MARKER,
    *,
    dims: Sequence[str] | None = None,
    by: Sequence[str] | None = None,
    total: object = "all",
    value_cols: Sequence[str] | None = None,
    zeros: bool = False,
) -> pd.DataFrame:
    """Suppress small cells of a published table, with complementary suppression.

    Parameters
    ----------
    table
        A tidy table, one row per cell, with a respondent count `n_col`.
    n_col
        The count of respondents behind each row.
    threshold
        Cells with ``n < threshold`` are suppressed (primary suppression).
    marker
        What replaces a suppressed value (default ``"[c]"``, "confidential").
    dims
        The columns that cross to form the table (its margins); default: the columns of
        :data:`KNOWN_DIMS` present (``community_id``, ``wave``, ``sex``, ``age_group`` ...).
    by
        Columns that split the table into independent sub-tables (default ``["indicator"]`` if
        present): complementary suppression works inside each.
    total
        The value of a dimension that marks a total row (e.g. ``community_id == "all"``); such
        rows take part in their lines as the line's total.
    value_cols
        Columns replaced by `marker` in suppressed rows; default every numeric column except
        `dims` and `by` (estimate, se, ci_low, ci_high, n, n_eff, deff ...).
    zeros
        Also suppress cells with ``n == 0`` (default False: an empty cell reports on nobody).

    Returns
    -------
    DataFrame
        A copy with the values of suppressed rows replaced by `marker` (those columns become
        object) and a column ``suppressed``: ``"primary"``, ``"complementary"`` or ``""``.
        ``attrs["suppression"]`` holds the threshold and the counts. A
        :class:`~evalkit.errors.DisclosureWarning` says how many cells were suppressed.

    Raises
    ------
    EvalkitError
        `n_col` or a named dimension is not a column, or `threshold` is not a positive number.

    Notes
    -----
    A *line* is a set of rows that differ in one dimension only (all communities of one wave of
    one indicator; all waves of one community ...), together with its total row if the table has
    one. Whether or not the total is printed, it may be published elsewhere, so the rule is: no
    line may hold exactly one suppressed cell. Repeat until nothing changes -- for every line with
    exactly one suppressed cell, also suppress its unsuppressed cell with the smallest positive
    count (the next-smallest cell; ties broken by table order), or, if there is none, the line's
    total row. Then audit: each line is one linear equation in the suppressed counts (members
    minus total = a published number); a suppressed cell is recoverable exactly when its unit
    vector lies in the row space of these equations (``rank(A) == rank([A; e_i])``), which two
    suppressed cells per line do not always prevent (a "bridge" between two suppressed cycles).
    While the audit finds such a cell, suppress one more cell in a line through it and repeat.
    Each step only adds suppressions, so the loop ends. This follows the usual heuristic of
    statistical offices (hypercube method of tau-ARGUS, de Wolf 2002; ONS small-cell guidance);
    it does not look for the fewest suppressions and does not bound interval disclosure from
    non-negativity (linear programming). A line of one cell cannot be protected inside the
    table: do not publish its total elsewhere. Rows with ``n == 0`` (``zeros=False``) are not
    suppressed and are not used as complements while a positive cell is available.
    """
    by, dims = _table_axes(table, n_col, threshold, dims, by)
    n = pd.to_numeric(table[n_col], errors="coerce").to_numpy(dtype=float)
    primary = np.isnan(n) | (n < threshold)
    if not zeros:
        primary &= ~(n == 0)
    sup = primary.copy()
    keys = table[list(by) + list(dims)].reset_index(drop=True).astype(object)
    _complete(_lines(keys, dims, by, total), sup, np.where(np.isnan(n), np.inf, n))
    out = table.copy()
    if value_cols is None:
        value_cols = [c for c in table.columns if c not in dims and c not in by
                      and pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
        if n_col not in value_cols:
            value_cols.append(n_col)
    for c in value_cols:
        col = out[c].astype(object).to_numpy(copy=True)
        col[sup] = marker
        out[c] = pd.Series(col, index=out.index, dtype=object)
    out["suppressed"] = np.where(primary, "primary", np.where(sup, "complementary", ""))
    n_p, n_c = int(primary.sum()), int((sup & ~primary).sum())
    out.attrs = {**table.attrs, "suppression": {"threshold": threshold, "marker": marker,
                                                "primary": n_p, "complementary": n_c}}
    if n_p or n_c:
        warnings.warn(
            f"{n_p} cell(s) with fewer than {threshold:g} respondents and {n_c} complementary cell(s) "
            f"were suppressed (shown as {marker!r}) so that no respondent can be singled out.",
            DisclosureWarning, stacklevel=2)
    return out


def _table_axes(table, n_col, threshold, dims, by) -> tuple[list[str], list[str]]:
    """Check suppress()'s arguments; return the ``by`` and ``dims`` columns."""
    if not isinstance(table, pd.DataFrame):
        raise EvalkitError(f"suppress() needs a pandas DataFrame, got {type(table).__name__}.")
    if n_col not in table.columns:
        raise EvalkitError(
            f"suppress(): the table has no count column {n_col!r} (columns: {list(table.columns)[:12]}). "
            "Every published table needs the number of respondents behind each cell; name it with n_col=.")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or not np.isfinite(threshold) or threshold < 1:
        raise EvalkitError(f"suppress(): threshold={threshold!r} must be a positive number such as 10.")
    if by is None:
        by = [c for c in ("indicator",) if c in table.columns]
    by = [by] if isinstance(by, str) else list(by)
    if dims is None:
        dims = [c for c in KNOWN_DIMS if c in table.columns and c not in by]
    dims = [dims] if isinstance(dims, str) else list(dims)
    bad = [c for c in (*dims, *by) if c not in table.columns]
    if bad:
        raise EvalkitError(f"suppress(): column(s) {bad} named in dims/by are not in the table.")
    return by, dims


def _lines(keys: pd.DataFrame, dims, by, total) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every line of the table: (row positions, mask of its total rows), rows differing in one dim."""
    pos = np.arange(len(keys))
    lines = []
    for d in dims:
        others = list(by) + [x for x in dims if x != d]
        groups = [pos] if not others else [np.asarray(g) for g in keys.groupby(others, sort=False, dropna=False).indices.values()]
        for line in groups:
            if len(line) >= 2:
                tot = (keys[d].to_numpy()[line] == total) if total is not None else np.zeros(len(line), bool)
                lines.append((line, tot))
    return lines


def _complete(lines, sup: np.ndarray, n_sort: np.ndarray) -> None:
    """Complementary suppression in place: no line with one suppressed cell, no cell recoverable."""

    def complement(line, tot):
        members = line[~tot]
        cand = members[~sup[members] & (n_sort[members] > 0)]
        if not len(cand):
            cand = line[~sup[line]]
        if len(cand):
            sup[cand[np.argmin(n_sort[cand])]] = True
            return True
        return False

    while True:
        changed = True
        while changed:  # no line may hold exactly one suppressed cell
            changed = False
            for line, tot in lines:
                if sup[line].sum() == 1:
                    changed |= complement(line, tot)
        # audit: a suppressed cell whose value follows from the line totals (a "bridge" between
        # two suppressed cycles) gets one more complement in a line through it
        det = _determined(lines, sup)
        if det is None:
            break
        open_lines = [(ln, t) for ln, t in lines if det in ln and (~sup[ln]).any()]
        if not open_lines or not complement(*min(open_lines, key=lambda lt: sup[lt[0]].sum())):
            break


def _determined(lines, sup) -> int | None:
    """The first suppressed cell whose count follows exactly from the line totals, else None.

    Each line gives one linear equation in the suppressed cells (members minus the total row
    equal a known number). Cell i is determined iff the unit vector e_i lies in the row space of
    the equations: rank(A) == rank([A; e_i]).
    """
    cells = np.flatnonzero(sup)
    if not len(cells):
        return None
    col = {c: j for j, c in enumerate(cells)}
    rows = []
    for line, tot in lines:
        r = np.zeros(len(cells))
        for c, is_t in zip(line, tot):
            if sup[c]:
                r[col[c]] = -1.0 if is_t else 1.0
        if r.any():
            rows.append(r)
    if not rows:
        return int(cells[0])
    a = np.array(rows)
    rank = np.linalg.matrix_rank(a)
    for j, c in enumerate(cells):
        e = np.zeros(len(cells))
        e[j] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            return int(c)
    return None


# --- scanners --------------------------------------------------------------------------------------
def _findings(text: str) -> set[tuple[str, int, int]]:
    """(kind, line, column) of every personal number and e-mail address in normalised `text`."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(kind, pos):
        line = int(np.searchsorted(starts, pos, side="right"))
        return kind, line, pos - starts[line - 1] + 1

    found = {where(k, pos) for k, pos in find_personal_numbers(text)}
    found |= {where("landline", m.start()) for m in _LANDLINE.finditer(text)}
    found |= {where("email", pos) for pos in find_emails(text)}
    return found


def scan_text(text: str) -> pd.DataFrame:
    """Personal data in `text` (plain text or HTML): ``kind, line, column`` per finding, no values.

    Kinds: ``citizen_id`` (18 characters with a valid check digit and birth date, or 15 digits
    with a real birth date), ``phone`` (Chinese mobile, optional +86/86/0086), ``landline``
    (0xx-xxxxxxx), ``email``. The text is read twice through the normaliser the input check uses
    (:func:`evalkit.io.privacy.normalise_text`: NFKC, format characters removed): as it is, and
    with tags removed without a separator and entities decoded, as a browser shows it -- so
    ``138<b></b>1234<b></b>5678``, ``１３８１２３４５６７８``, ``138-1234-5678``, ``13812345678.0`` and
    ``370502 19800101 1239`` are all found. Embedded images (``data:`` URIs) are skipped;
    numbers inside hexadecimal checksums or between letters do not count. Linear time.
    """
    text = _DATA_URI.sub(" ", str(text))
    found = _findings(normalise_text(text, markup=False))
    seen = {(k, ln) for k, ln, _ in found}
    found |= {f for f in _findings(normalise_text(text, markup=True)) if f[:2] not in seen}
    return pd.DataFrame(sorted(found, key=lambda f: (f[1], f[2], f[0])), columns=["kind", "line", "column"])


def assert_no_personal_data(text: str, *, source: str = "text") -> None:
    """Raise :class:`PersonalDataError` if `text` shows an ID number, phone number or e-mail.

    The message names `source`, the kinds and the line numbers, never the values.
    """
    found = scan_text(text)
    if not found.empty:
        where = ", ".join(f"{k} on line {ln}" for k, ln in found[["kind", "line"]].head(10).itertuples(index=False))
        raise PersonalDataError(
            f"{source} shows personal data: {where}{' ...' if len(found) > 10 else ''}. Remove the "
            "column or cell from the output (publish aggregates, pseudonymised ids or problem "
            "locations only) and build it again.")


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[tuple[str, str]]]] = []
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = [tag, ""]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append((self._cell[0], self._cell[1].strip()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def small_cells(html: str, threshold: int = 10, *, n_names: Sequence[str] = ("n",),
                zeros: bool = False) -> pd.DataFrame:
    """Counts below `threshold` in the HTML tables of `html` (pandas ``to_html`` layout).

    A column whose header cell is one of `n_names` is read as a respondent count; numeric cells
    with ``0 < n < threshold`` (``0 <= n`` with ``zeros=True``) are returned as
    ``table, row, n`` (table and row numbered from 1; the header rows are not counted).
    """
    p = _Tables()
    p.feed(_DATA_URI.sub(" ", str(html)))
    rows = []
    for t, table in enumerate(p.tables, start=1):
        col = None
        body = 0
        for r in table:
            names = [c[1] for c in r]
            if col is None and all(tag == "th" for tag, _ in r[1:] or r):
                hit = [i for i, name in enumerate(names) if name in n_names]
                if hit:
                    col = hit[0]
                continue
            if col is None or all(tag == "th" for tag, _ in r):
                continue
            body += 1
            if col < len(r):
                try:
                    v = float(r[col][1].replace(",", ""))
                except ValueError:
                    continue
                if v < threshold and (v > 0 or (zeros and v == 0)):
                    rows.append((t, body, v))
    return pd.DataFrame(rows, columns=["table", "row", "n"])


def scan_notebook(path: str | Path, threshold: int | None = 10) -> pd.DataFrame:
    """Scan a notebook's outputs: personal data, and counts below `threshold` in HTML tables.

    Returns
    -------
    DataFrame
        ``cell, kind, line`` -- ``kind`` is a personal-data kind of :func:`scan_text` or
        ``"small_cell"`` (``line`` is then the table row); ``cell`` numbers code cells from 1.
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = []
    code_cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for i, cell in enumerate(code_cells, start=1):
        for out in cell.get("outputs", []):
            texts = []
            if "text" in out:
                texts.append("".join(out["text"]) if isinstance(out["text"], list) else out["text"])
            for mime, val in (out.get("data") or {}).items():
                if mime.startswith("text/") or mime == "application/json":
                    texts.append("".join(val) if isinstance(val, list) else str(val))
                    if mime == "text/html" and threshold is not None:
                        for r in small_cells(texts[-1], threshold).itertuples(index=False):
                            rows.append((i, "small_cell", int(r.row)))
            for t in texts:
                for r in scan_text(t).itertuples(index=False):
                    rows.append((i, r.kind, int(r.line)))
    return pd.DataFrame(rows, columns=["cell", "kind", "line"]).drop_duplicates().reset_index(drop=True)


__all__ = ["suppress", "scan_text", "assert_no_personal_data", "small_cells", "scan_notebook",
           "problems_table", "DEFAULT_MARKER", "KNOWN_DIMS"]


# --- validation problems -------------------------------------------------------------------------
def problems_table(report, codebook=None, *, registry=None, study=None) -> pd.DataFrame:
    """The problems of a validation report, safe to show: ``row, column, value, rule``.

    Values of identifier fields (codebook type ``id``: respondent and household ids, PSU) are
    withheld. Any other value is shown only if it is one of the codebook's or registry's known
    values (codes, labels, variable names, community ids and names) or a short number (at most 4
    digits before the point: an age of 150, a code of 7); anything else -- a phone number, an
    ID number, a name typed into ``community_id`` -- is shown by its shape, e.g. ``‹11 digits›``
    or ``‹3 Chinese characters›`` (:func:`evalkit.io.privacy.display_value`). So the table
    shows where a problem is and what rule it breaks without naming a respondent. ``row`` is
    the row number in the file as a spreadsheet shows it. The codebook is ``codebook`` or
    ``study.codebook``, the registry ``registry`` or ``study.registry`` (optional).
    """
    from ..spec.study import resolve

    codebook, registry = resolve(codebook, registry, study,
                                 "problems_table (the codebook tells which fields identify people)")
    ids = {name for name, var in codebook.variables.items() if var.type == "id"}
    ids |= {"name", "phone", "id_number", "address"}
    known = known_values(codebook, registry)
    p = report.problems
    out = pd.DataFrame({
        "row": p["row"].astype("Int64"),
        "column": p["column"].astype(str),
        "value": [("‹withheld›" if c in ids else display_value(v, known)) for c, v in zip(p["column"], p["value"])],
        "rule": p["rule"].astype(str),
    })
    return out.reset_index(drop=True)
