"""Disclosure control for everything evalkit publishes: one gate every published number passes.

* :func:`gate_survey` -- the gate on the data: respondents of every community x wave cell with
  fewer than `min_n` respondents are withheld *before* anything is estimated, so no published
  number (means, effects, counts, totals from which a small cell could be recovered by
  subtraction, the data behind figures) rests on them; the withheld cells are listed with the
  marker ``[c]``, never their count.
* :func:`gate_table` -- the gate on a domain table whose rows rest on respondent counts (an
  effect on a target group, a sub-group mean): rows resting on fewer than `min_n` become NA,
  with complementary suppression across the table's dimensions.
* :func:`assert_publishable` -- the last check on rendered HTML: nothing a browser would run,
  no personal number, and (with `min_n`) no count column showing a small cell.
* :func:`suppress` -- small-cell suppression of a tidy table with a respondent count column:
  cells counting fewer than `threshold` respondents (10 by default) are replaced by a visible
  marker, and *complementary* cells are suppressed so that no suppressed cell can be recovered
  by subtracting the others from a row, column or group total.
* :func:`scan_text`, :func:`assert_no_personal_data`, :func:`small_cells`, :func:`scan_notebook`
  -- the scanners of :mod:`evalkit.publish.scan`, re-exported here.
* :func:`problems_table` -- the problems of a validation report with identifying values withheld.

:data:`MIN_N` (10) is the default threshold; a study overrides it with ``min_n=``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DisclosureWarning, EvalkitError
from ..io.privacy import display_value, known_values
from .scan import DisclosureError, assert_no_personal_data, assert_publishable, scan_notebook, scan_text, small_cells

__all__ = ["MIN_N", "DEFAULT_MARKER", "KNOWN_DIMS", "DisclosureError", "Gated", "MIN_N_ENV", "gate_survey", "gate_published", "gate_table",
           "assert_publishable", "suppress", "scan_text", "assert_no_personal_data", "small_cells",
           "scan_notebook", "problems_table"]

#: Respondents a published cell must rest on (a study overrides it with ``min_n=``).
MIN_N = 10
#: Dimensions of a published table recognised by :func:`suppress` when ``dims`` is not given.
KNOWN_DIMS = ("community_id", "community", "wave", "year", "sex", "age_group", "role", "band",
              "category", "level", "cohort", "event_time", "stratum", "group_label")
DEFAULT_MARKER = "[c]"

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


# --- the gate ----------------------------------------------------------------------------------------
def _check_min_n(min_n, where: str) -> int:
    if isinstance(min_n, bool) or not isinstance(min_n, (int, np.integer)) or min_n < 1:
        raise EvalkitError(f"{where}: min_n={min_n!r} must be a whole number of respondents of at least 1 "
                           f"(the default is evalkit.publish.disclosure.MIN_N = {MIN_N}).")
    return int(min_n)


@dataclass(frozen=True)
class Gated:
    """The survey after :func:`gate_survey`.

    Attributes
    ----------
    data : DataFrame
        The survey without the respondents of withheld cells (index and columns unchanged).
    withheld : DataFrame
        One row per withheld community x wave cell: ``community_id, wave, n`` with ``n`` the
        marker ``"[c]"`` -- never the count.
    min_n : int
        The threshold applied.
    """

    data: pd.DataFrame
    withheld: pd.DataFrame
    min_n: int = MIN_N
    marker: str = DEFAULT_MARKER

    def note(self, lang: str = "zh") -> str:
        """One sentence for the report: how many cells were withheld and why ("" if none)."""
        k = len(self.withheld)
        if not k:
            return ""
        if lang == "zh":
            return (f"{k} 个社区-年度单元的受访者少于 {self.min_n} 人，其数据不予发布，也不计入任何估计、"
                    f"合计或图表（标为 {self.marker}）。")
        return (f"{k} community-year cell{'s' if k > 1 else ''} with fewer than {self.min_n} respondents "
                f"{'are' if k > 1 else 'is'} withheld: not published and not used in any estimate, total or "
                f"figure (marked {self.marker}).")


def gate_survey(survey: pd.DataFrame, study=None, *, min_n: int | None = None) -> Gated:
    """Withhold every community x wave cell resting on fewer than `min_n` respondents.

    Apply it to the validated survey before anything is estimated from it for publication: then
    no published number -- a cell's mean, an effect, a count, a total over communities or waves
    (from which a small cell could be recovered by subtraction), the data a figure draws --
    rests on a withheld cell, and the report lists the withheld cells as ``[c]``.

    Parameters
    ----------
    survey
        One row per respondent, with the study's community and wave columns
        (``study.roles.community``, ``study.roles.wave``; ``community_id`` and ``wave`` without a
        study).
    study
        The :class:`~evalkit.spec.study.Study` (its column roles, and its ``min_n`` if it has one).
    min_n
        Respondents a cell must have to be published (default: the study's ``min_n``, else
        :data:`MIN_N` = 10).

    Returns
    -------
    Gated
        ``.data`` (the survey without the small cells' respondents; its ``attrs["withheld"]``
        lists the withheld cells as ``{"community_id", "wave", "n": "[c]"}`` records and
        ``attrs["disclosure"]`` holds ``min_n``, which :func:`evalkit.evaluation.summary.summarise`
        reads), ``.withheld`` (``community_id, wave, n="[c]"``), ``.min_n`` and ``.note(lang)``.

    Raises
    ------
    EvalkitError
        `survey` is not a DataFrame, lacks the community or wave column, or `min_n` is not a
        whole number >= 1.

    Notes
    -----
    Respondents are rows. A row whose community or wave is missing forms its own cell (it is
    withheld like any other if there are few such rows). Withholding whole cells rather than
    blanking them in each table means totals are computed without them, so complementary
    suppression is not needed for tables derived from ``.data``; tables of sub-groups inside a
    published cell go through :func:`gate_table`.
    """
    if not isinstance(survey, pd.DataFrame):
        raise EvalkitError(f"gate_survey() needs the survey as a pandas DataFrame, got {type(survey).__name__}.")
    if min_n is None:
        min_n = getattr(study, "min_n", None) or MIN_N
    min_n = _check_min_n(min_n, "gate_survey()")
    roles = getattr(study, "roles", None)
    com, wave = (roles.community, roles.wave) if roles is not None else ("community_id", "wave")
    missing = [c for c in (com, wave) if c not in survey.columns]
    if missing:
        raise EvalkitError(
            f"gate_survey(): the survey has no column {missing[0]!r} (its columns: {list(survey.columns)[:12]}). "
            "Pass the study whose roles name the community and wave columns: gate_survey(survey, study, min_n=...).")
    keys = [survey[com].astype(object).where(survey[com].notna(), None),
            survey[wave].astype(object).where(survey[wave].notna(), None)]
    size = survey.groupby(keys, dropna=False, sort=True).size()
    small = size[size < min_n]
    cells = pd.MultiIndex.from_arrays(keys)
    drop = cells.isin(small.index) if len(small) else np.zeros(len(survey), bool)
    data = survey.loc[~np.asarray(drop)].copy()
    withheld = pd.DataFrame({"community_id": [c for c, _ in small.index], "wave": [w for _, w in small.index],
                             "n": DEFAULT_MARKER}, dtype=object)
    if len(withheld) and pd.api.types.is_numeric_dtype(survey[wave]):
        withheld["wave"] = pd.to_numeric(withheld["wave"]).astype("Int64")
    # records, not a DataFrame: pandas compares attrs with == when frames are concatenated
    records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in withheld.to_dict("records")]
    data.attrs = {**survey.attrs, "disclosure": {"min_n": min_n, "withheld_cells": len(small)}, "withheld": records}
    return Gated(data, withheld.reset_index(drop=True), min_n, DEFAULT_MARKER)


#: Environment variable carrying the threshold to a notebook kernel: :func:`gate_published`, which
#: the notebooks' data functions call, gates when it is set (``build_report`` sets it).
MIN_N_ENV = "EVALKIT_MIN_N"


def gate_published(survey: pd.DataFrame, study=None, *, min_n: int | None = None) -> pd.DataFrame:
    """The survey as a publishing path reads it: gated if a threshold is given or in the environment.

    With `min_n`, or else ``$EVALKIT_MIN_N`` set (``build_report`` sets it for the kernels of
    the notebooks it executes), returns ``gate_survey(survey, study, min_n=...).data`` with the
    withheld cells in ``attrs["withheld"]`` (a list of ``{"community_id", "wave", "n": "[c]"}``
    records); with neither, the
    survey unchanged. The notebooks' data functions (``evalkit.datasets.dongying_survey``, a
    project's ``load_survey``) call it last, so the report's appendix is computed from gated data
    while an interactive session sees every row.
    """
    import os

    if min_n is None:
        env = os.environ.get(MIN_N_ENV, "").strip()
        if not env:
            return survey
        if not env.isdigit():
            raise EvalkitError(f"${MIN_N_ENV}={env!r} must be a whole number of respondents such as 10.")
        min_n = int(env)
    return gate_survey(survey, study, min_n=min_n).data


def gate_table(table: pd.DataFrame, *, n: str | Sequence[str], min_n: int = MIN_N, dims: Sequence[str] = (),
               totals: object = None, value_cols: Sequence[str] | None = None) -> pd.DataFrame:
    """Blank the rows of a published table that rest on fewer than `min_n` respondents.

    Parameters
    ----------
    table
        A tidy table, one row per published cell (an effect, a group mean ...).
    n
        The respondent-count column(s) a row rests on; with several (``["n_base", "n_wave"]``: an
        effect rests on the baseline and the wave's respondents) the smallest counts.
    min_n
        Rows with a count below it (or a missing count) are suppressed.
    dims
        The dimensions the table crosses (e.g. ``["community_id", "wave"]``). Empty (default):
        rows are separate estimates and only the small rows are suppressed. Given: complementary
        suppression along each dimension (:func:`suppress`), so a suppressed cell cannot be
        recovered from a line's total, shown or published elsewhere.
    totals
        The value of a dimension marking a total row (e.g. ``"all"``), which then takes part in
        its line.
    value_cols
        The columns blanked in suppressed rows; default every numeric column except `dims`
        (estimates, intervals, p-values, the counts themselves).

    Returns
    -------
    DataFrame
        A copy with the values of suppressed rows set to NA (renderers show them as ``[c]``);
        ``attrs["suppressed"]`` is the boolean row mask (a tuple of bools, one per row: a tuple
        because pandas compares attrs with ``==`` when frames are concatenated) and
        ``attrs["suppression"]`` holds ``min_n``, the marker and the numbers of primary and
        complementary cells. No warning is issued: the report states the suppression.
    """
    if not isinstance(table, pd.DataFrame):
        raise EvalkitError(f"gate_table() needs a pandas DataFrame, got {type(table).__name__}.")
    min_n = _check_min_n(min_n, "gate_table()")
    n_cols = [n] if isinstance(n, str) else list(n)
    dims = [dims] if isinstance(dims, str) else list(dims)
    bad = [c for c in (*n_cols, *dims) if c not in table.columns]
    if not n_cols or bad:
        raise EvalkitError(
            f"gate_table(): column(s) {bad or n_cols} named in n=/dims= are not in the table (columns: "
            f"{list(table.columns)[:12]}). Every published row needs the count of respondents it rests on.")
    if value_cols is None:
        value_cols = [c for c in table.columns if c not in dims and pd.api.types.is_numeric_dtype(table[c])
                      and not pd.api.types.is_bool_dtype(table[c])]
    value_cols = list(dict.fromkeys([*value_cols, *n_cols]))
    counts = pd.DataFrame({c: pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                           for c in n_cols}, index=table.index).min(axis=1, skipna=False)
    shown = [c for c in value_cols if c not in n_cols]
    empty = table[shown].isna().all(axis=1) if shown else pd.Series(False, index=table.index)
    # a row with no count and nothing else to show (an effect with an explanation) hides nothing
    counts = counts.mask(counts.isna() & empty, np.inf)
    probe = pd.DataFrame({d: table[d].to_numpy() for d in dims})
    probe["__n"] = counts.to_numpy()
    probe["__row"] = np.arange(len(table))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisclosureWarning)
        marked = suppress(probe, "__n", min_n, dims=dims, by=[], total=totals, value_cols=["__n"], zeros=True)
    mask = pd.Series((marked["suppressed"] != "").to_numpy(), index=table.index, name="suppressed")
    out = table.copy()
    for c in value_cols:
        col = out[c]
        if pd.api.types.is_integer_dtype(col):
            col = col.astype("Int64")
        out[c] = col.mask(mask.to_numpy()) if pd.api.types.is_numeric_dtype(col) else col.astype(object).mask(mask.to_numpy())
    primary = int((marked["suppressed"] == "primary").sum())
    out.attrs = {**table.attrs, "suppressed": tuple(bool(b) for b in mask),
                 "suppression": {"min_n": min_n, "marker": DEFAULT_MARKER, "primary": primary,
                                 "complementary": int(mask.sum()) - primary}}
    return out
