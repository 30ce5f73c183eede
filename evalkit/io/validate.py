"""Validate a survey table against its codebook, losing nothing.

:func:`validate` checks every rule the codebook implies and splits the rows into *valid* and
*quarantined*; every row that comes in leaves in exactly one of the two, and every problem is one
line of a problems table (row, column, value, rule, message). Missing-value codes (don't know,
refused, not applicable) become missing values in the typed table, and the reason is kept in a
separate table so that "don't know" is never confused with a blank.
"""
from __future__ import annotations

import html
import unicodedata
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np
import pandas as pd

from ..errors import ValidationError
from .platform import _norm, option_list
from .privacy import display_value, known_values
from ..results import Result
from ..spec.codebook import Codebook, Variable
from ..spec.study import Roles, Study, resolve

RULES = {
    "missing_column": "a required column is absent from the file",
    "unknown_column": "a column that the codebook does not define (left out of the valid table)",
    "required": "a required field is blank",
    "not_numeric": "text where the codebook expects a number",
    "out_of_range": "a number outside the valid codes or range",
    "not_integer": "a fraction where the codebook expects a whole number",
    "unknown_value": "a value not among the codebook's allowed values",
    "unknown_community": "a community that is not in the registry",
    "unknown_wave": "a wave (year) that the codebook does not list",
    "duplicate": "the same respondent appears twice in one wave",
    "wrong_group": "an item answered by a respondent it is not asked of",
    "inconsistent": "a derived field that contradicts its source (the codebook's `derive` rules: age group, role)",
    "personal_data": "a phone or ID number typed into an answer; the reader blanked the cell (attrs['personal_cells'])",
    "multiple_choice": "a multiple-choice answer the reader could not code: an option not in its map, or "
                       "'none of these' ticked with another option (attrs['read_problems'])",
    "orphan": "a repeat-group row whose parent submission is not in the export (read_kobo_repeat; "
              "attrs['read_problems'])",
}
PROBLEM_COLUMNS = ["row", "column", "value", "rule", "message"]


@dataclass(frozen=True, repr=False)
class ValidationReport(Result):
    """The result of :func:`validate`.

    Attributes
    ----------
    valid : DataFrame
        Rows without problems, typed: numbers as float (missing as NaN), ids and categories as
        strings. The index is the row number in the file.
    quarantined : DataFrame
        Rows with at least one problem, exactly as they came in, with a ``problems`` column that
        lists the rules they broke.
    problems : DataFrame
        ``row, column, value, rule, message``; ``row`` is ``<NA>`` for column-level problems.
    missing : DataFrame
        ``row, column, code, reason``: every missing-value code met (don't know, refused, not
        applicable), in valid and quarantined rows alike.
    source : str
        The file (or "<DataFrame>") the rows came from.
    """

    valid: pd.DataFrame
    quarantined: pd.DataFrame
    problems: pd.DataFrame
    missing: pd.DataFrame
    source: str
    n_rows: int
    registry_mapped: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_valid(self) -> int:
        return len(self.valid)

    @property
    def n_quarantined(self) -> int:
        return len(self.quarantined)

    @property
    def ok(self) -> bool:
        return self.problems.empty

    title = "Validation"

    def tidy(self) -> pd.DataFrame:
        """Problems counted by rule and column: ``rule, column, n_problems, example_row, example_value``."""
        if self.problems.empty:
            return pd.DataFrame(columns=["rule", "column", "n_problems", "example_row", "example_value"])
        g = self.problems.groupby(["rule", "column"], sort=True, dropna=False)
        out = g.agg(n_problems=("rule", "size"), example_row=("row", "first"), example_value=("value", "first"))
        return out.reset_index()

    def missing_summary(self) -> pd.DataFrame:
        """Missing answers by column and reason (``blank`` included), over the valid rows."""
        blank = self.valid.isna().sum()
        coded = self.missing[self.missing["row"].isin(self.valid.index)]
        coded_counts = coded.groupby(["column", "reason"]).size()
        rows = []
        for col in self.valid.columns:
            n_coded = int(coded_counts.loc[col].sum()) if col in coded_counts.index.get_level_values(0) else 0
            if blank[col] - n_coded > 0:
                rows.append((col, "blank", int(blank[col] - n_coded)))
        for (col, reason), n in coded_counts.items():
            rows.append((col, reason, int(n)))
        out = pd.DataFrame(rows, columns=["column", "reason", "n"])
        return out.pivot_table(index="column", columns="reason", values="n", fill_value=0, aggfunc="sum")

    def describe(self) -> str:
        """A short plain-text account: rows in, valid, quarantined, problems by rule.

        The file is named without its folder (``survey.csv: ...``), so that the text is the same
        on every machine and a report does not show where its author keeps the data; the full
        path stays in :attr:`source`.
        """
        name = self.source if self.source.startswith("<") else PurePath(self.source).name
        lines = [
            f"{name}: {self.n_rows} rows in = {self.n_valid} valid + {self.n_quarantined} quarantined",
        ]
        if self.registry_mapped:
            lines.append(f"  {self.registry_mapped} community names mapped to registry ids")
        if not self.problems.empty:
            counts = self.problems["rule"].value_counts().sort_index()
            lines.append("  problems: " + ", ".join(f"{r} ×{n}" for r, n in counts.items()))
        lines.extend("  " + n for n in self.notes)
        return "\n".join(lines)

    @property
    def summary(self) -> str:
        """The report as text (:meth:`describe`); the counts by rule and column are :meth:`tidy`."""
        return self.describe()

    def __repr__(self) -> str:
        return f"ValidationReport({self.describe()})"

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.describe()) + "</pre>"

    def raise_if_problems(self, max_listed: int = 20, known: frozenset = frozenset()) -> None:
        """Raise :class:`ValidationError` listing the problems, if there are any (values shown only
        if in `known` or short numbers: :func:`format_problems`)."""
        if not self.problems.empty:
            raise ValidationError(format_problems(self.problems, self.source, self.n_rows, max_listed, known),
                                  problems=self.problems)


def format_problems(problems: pd.DataFrame, source: str, n_rows: int, max_listed: int = 20,
                    known: frozenset = frozenset()) -> str:
    """Readable text for a problems table: counts by rule, then the first `max_listed` problems.

    A value is quoted only if it is in `known` (:func:`evalkit.io.privacy.known_values`) or a
    short number; otherwise its shape is given (``‹11 digits›``), here and in the message
    (:func:`evalkit.io.privacy.display_value`), so an error message never repeats a phone
    number or a name typed into the wrong field.
    """
    n_bad_rows = problems["row"].dropna().nunique()
    counts = problems["rule"].value_counts().sort_index()
    head = (
        f"{source}: {len(problems)} problem(s) in {n_bad_rows} of {n_rows} row(s) "
        f"({', '.join(f'{r} ×{n}' for r, n in counts.items())}).\n"
    )
    lines = []
    for p in problems.head(max_listed).itertuples(index=False):
        where = "all rows" if pd.isna(p.row) else f"row {int(p.row)}"
        shown = display_value(p.value, known)
        msg = str(p.message)
        if shown != p.value and str(p.value):  # withheld: not in the message either
            msg = msg.replace(repr(p.value), shown).replace(str(p.value), shown)
        lines.append(f"  {source}, {where}, column {p.column!r}, value {shown!r}: {msg}")
    more = len(problems) - max_listed
    tail = f"\n  ... and {more} more (see report.problems)." if more > 0 else ""
    return head + "\n".join(lines) + tail + "\nFix the file or the codebook and validate again."


def _as_text(s: pd.Series) -> pd.Series:
    """Values as stripped text, blank as NaN; numbers from Excel/SPSS lose a trailing '.0'."""
    def conv(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return np.nan
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        t = str(v).strip()
        return t if t else np.nan
    return s.map(conv).astype(object)


def _nfkc_number(v):
    """Full-width digits and signs as ASCII ("７９" -> "79"); other text unchanged."""
    if isinstance(v, str) and not v.isascii():
        u = unicodedata.normalize("NFKC", v).strip()
        return u if u.replace(".", "", 1).lstrip("+-").isdigit() else v
    return v


def _fmt(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


class _Collector:
    def __init__(self):
        self.parts: list[pd.DataFrame] = []

    def add(self, rows, column: str, values, rule: str, message):
        rows = np.asarray(rows)
        if len(rows) == 0:
            return
        values = [("" if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v)) for v in values]
        msgs = message if isinstance(message, list) else [message] * len(rows)
        self.parts.append(pd.DataFrame({"row": rows, "column": column, "value": values, "rule": rule,
                                        "message": msgs}))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "row" else object) for c in PROBLEM_COLUMNS})
        out = pd.concat(self.parts, ignore_index=True)
        out["row"] = out["row"].astype("Int64")
        return out.sort_values(["row", "column"], na_position="first", kind="stable").reset_index(drop=True)


def _check_numeric(var: Variable, text: pd.Series, idx: np.ndarray, out: _Collector, missing_rows: list,
                   wave: str = "wave", codebook: Codebook | None = None) -> np.ndarray:
    """Typed values of a numeric field; not-numeric, out-of-range, fractional and unknown values reported."""
    num = pd.to_numeric(text.map(_nfkc_number), errors="coerce").astype(float)
    present = text.notna().to_numpy()
    bad_text = present & (num.isna().to_numpy() | ~np.isfinite(num.fillna(0).to_numpy()))
    if bad_text.any():
        msg = (f"not an answer of {var.name!r}; expected one of: {option_list(var, codebook)}"
               if var.codes and codebook is not None else f"expected a number for {var.name!r}")
        out.add(idx[bad_text], var.name, text[bad_text], "not_numeric", msg)
    vals = num.to_numpy().copy()
    vals[bad_text] = np.nan
    # missing-value codes: missing, reason kept
    mcodes = var.missing_codes
    is_code = np.isin(vals, list(mcodes)) if mcodes else np.zeros(len(vals), bool)
    if is_code.any():
        codes = vals[is_code]
        missing_rows.append(pd.DataFrame({"row": idx[is_code], "column": var.name, "code": codes.astype(int),
                                          "reason": [mcodes[int(c)] for c in codes]}))
        vals[is_code] = np.nan
    ok = ~np.isnan(vals)
    if var.codes:
        bad = ok & ~np.isin(vals, list(var.codes))
        if bad.any():
            if codebook is not None:
                msg = f"not an answer code of {var.name!r}; expected one of: {option_list(var, codebook)}"
            else:
                rng = var.valid_range
                valid = ", ".join(_fmt(c) for c in var.codes) if len(var.codes) <= 8 else f"{_fmt(rng[0])}–{_fmt(rng[1])}"
                miss = ", ".join(str(c) for c in mcodes)
                msg = f"not an answer code of {var.name!r} (valid: {valid}" + (f"; missing-value codes {miss})" if miss else ")")
            out.add(idx[bad], var.name, text[bad], "out_of_range", msg)
            vals[bad] = np.nan
    else:
        if var.type == "integer":
            frac = ok & (np.floor(np.where(ok, vals, 0)) != np.where(ok, vals, 0))
            if frac.any():
                out.add(idx[frac], var.name, text[frac], "not_integer", f"{var.name!r} must be a whole number")
                vals[frac] = np.nan
                ok = ~np.isnan(vals)
        lo, hi = var.min, var.max
        bad = np.zeros(len(vals), bool)
        if lo is not None:
            bad |= ok & ((vals <= lo) if var.min_exclusive else (vals < lo))
        if hi is not None:
            bad |= ok & (vals > hi)
        if bad.any():
            lo_txt = "" if lo is None else (f"> {_fmt(lo)}" if var.min_exclusive else f"≥ {_fmt(lo)}")
            hi_txt = "" if hi is None else f"≤ {_fmt(hi)}"
            out.add(idx[bad], var.name, text[bad], "out_of_range",
                    f"{var.name!r} must be {' and '.join(t for t in (lo_txt, hi_txt) if t)}")
            vals[bad] = np.nan
    if var.values is not None:
        allowed = [float(v) for v in var.values]
        bad = ~np.isnan(vals) & ~np.isin(vals, allowed)
        if bad.any():
            rule = "unknown_wave" if var.name == wave else "unknown_value"
            out.add(idx[bad], var.name, text[bad], rule,
                    f"{var.name!r} must be one of {', '.join(str(v) for v in var.values)}"
                    + (" (add the wave to the codebook if it is real)" if var.name == wave else ""))
            vals[bad] = np.nan
    return vals


def _community_lookup(registry: pd.DataFrame | None) -> dict[str, str] | None:
    if registry is None:
        return None
    lut = {}
    for r in registry.itertuples(index=False):
        for key in (r.community_id, r.name_zh, r.name_pinyin):
            if isinstance(key, str) and key:
                lut[key.strip().lower()] = r.community_id
                lut.setdefault(_norm(key), r.community_id)  # width, spaces, punctuation, dashes
        if isinstance(r.name_zh, str) and r.name_zh.endswith("社区"):
            lut[r.name_zh[:-2]] = r.community_id  # "安宁" for "安宁社区"
            lut.setdefault(_norm(r.name_zh[:-2]), r.community_id)
    return lut


def _check_text(var: Variable, text: pd.Series, idx: np.ndarray, out: _Collector,
                lut: dict[str, str] | None) -> tuple[np.ndarray, int]:
    """Typed values of a text field (ids, communities, categories) and how many names were mapped to ids."""
    vals = text.copy()
    mapped = 0
    if var.type == "community" and lut is not None:
        ids = vals.map(lambda v: v if not isinstance(v, str) else lut.get(v.strip().lower(), lut.get(_norm(v))))
        mapped = int((ids.notna() & (ids != vals)).sum())
        bad = vals.notna() & ids.isna()
        if bad.any():
            out.add(idx[bad.to_numpy()], var.name, vals[bad], "unknown_community",
                    "not a community of the registry (id, Chinese name or pinyin); add it to "
                    "communities.csv or correct the name")
        vals = ids.where(ids.notna(), np.nan)
    elif var.values is not None:
        bad = vals.notna() & ~vals.isin([str(v) for v in var.values])
        if bad.any():
            out.add(idx[bad.to_numpy()], var.name, vals[bad], "unknown_value",
                    f"{var.name!r} must be one of {', '.join(map(str, var.values))}")
            vals = vals.where(~bad, np.nan)
    return vals.to_numpy(dtype=object), mapped


def _check_shape(df: pd.DataFrame, codebook: Codebook, source: str) -> pd.DataFrame:
    """`df` with row numbers as its index; file-level problems (header rows, names, columns) raise."""
    if isinstance(df.columns, pd.MultiIndex):
        raise ValidationError(
            f"{source}: the table has {df.columns.nlevels} header rows (MultiIndex columns); validate "
            "needs one row of column names. Flatten them, e.g. df.columns = ['_'.join(map(str, c)) for "
            "c in df.columns], or export the survey with a single header row.")
    if df.columns.duplicated().any():
        dup = sorted(set(map(str, df.columns[df.columns.duplicated()])))
        raise ValidationError(f"{source}: duplicated column name(s) {dup}; each column must be unique.")
    absent = [n for n, v in codebook.fields.items() if v.required and n not in df.columns]
    if absent:
        derivable = [n for n in absent if n in codebook.derived and codebook.derived[n].source in df.columns]
        hint = (f" {derivable} follow from {sorted({codebook.derived[n].source for n in derivable})} by the "
                "codebook's `derive` rules: fill them with df = evalkit.derive(df, codebook).data." if derivable else "")
        raise ValidationError(
            f"{source}: required column(s) {absent} are missing, so no row can be checked. "
            f"The file has columns {list(df.columns)[:12]}{' ...' if df.shape[1] > 12 else ''}. "
            "Rename the export's headers (read_survey(..., column_map={...})) or fix the codebook." + hint,
            problems=pd.DataFrame({"row": pd.array([pd.NA] * len(absent), dtype="Int64"), "column": absent,
                                   "value": "", "rule": "missing_column",
                                   "message": "required column is absent"}),
        )
    if not df.index.is_unique or not pd.api.types.is_integer_dtype(df.index):
        df = df.reset_index(drop=True)
        df.index = df.index + 1
    return df


def _check_duplicates(df: pd.DataFrame, t: pd.DataFrame, out: _Collector, unit: str, wave: str) -> None:
    """Rows of one respondent in one wave: later exact copies, and every copy when they conflict."""
    if not {unit, wave} <= set(t.columns):
        return
    key = t[[unit, wave]]
    dup_any = key.duplicated(keep=False) & key.notna().all(axis=1)
    if not dup_any.any():
        return
    # compare rows on hashable cells (a list or dict in a cell would make pandas raise)
    cmp = df.apply(lambda s: s.map(lambda v: v if isinstance(v, Hashable) else repr(v)) if s.dtype == object else s)
    exact_later = cmp.duplicated(keep="first") & dup_any
    groups = key[dup_any].astype(str).agg("|".join, axis=1)
    conflicting = set()
    for _, members in groups.groupby(groups).groups.items():
        if cmp.loc[members].drop_duplicates().shape[0] > 1:
            conflicting.update(members)
    rows = t.index[(exact_later | t.index.isin(list(conflicting))) & dup_any]
    msgs = ["conflicting answers for the same respondent and wave" if r in conflicting
            else "exact copy of an earlier row" for r in rows]
    out.add(np.asarray(rows), unit, [f"{a} / {b:g}" if isinstance(b, float) else f"{a} / {b}" for a, b in
                                     zip(t.loc[rows, unit], t.loc[rows, wave])], "duplicate", msgs)


def _check_personal_cells(df: pd.DataFrame, out: _Collector) -> None:
    """Rows whose cells the reader blanked for holding a phone or ID number (``attrs["personal_cells"]``:
    ``row, column, rule, shape``, :func:`evalkit.io.privacy.quarantine_personal_cells`)."""
    cells = df.attrs.get("personal_cells")
    if cells is None or len(cells) == 0:
        return
    cells = pd.DataFrame(cells)
    missing = [c for c in ("row", "column", "rule", "shape") if c not in cells.columns]
    if missing:
        raise ValidationError(f"attrs['personal_cells'] lacks column(s) {missing}; it must have row, column, "
                              "rule, shape (evalkit.io.privacy.quarantine_personal_cells).")
    cells = cells[cells["row"].isin(df.index)]
    for c in cells.itertuples(index=False):
        out.add([c.row], str(c.column), [""], "personal_data",
                f"a {c.rule} number ({c.shape}) was typed into {c.column!r}; the cell was blanked and the "
                "value is not shown. Correct the answer at the source, or leave the row out")


def _check_read_problems(df: pd.DataFrame, out: _Collector) -> None:
    """Rows a reader could not code (``attrs["read_problems"]``: records of ``row, column, rule,
    message``; the cells are blank, the value is not repeated)."""
    for p in df.attrs.get("read_problems") or ():
        if p.get("row") in df.index:
            rule = p.get("rule", "multiple_choice")
            out.add([p["row"]], str(p.get("column", "")), [""], rule if rule in RULES else "multiple_choice",
                    str(p.get("message", "")))


def _check_groups(df: pd.DataFrame, t: pd.DataFrame, codebook: Codebook, out: _Collector, role_col: str) -> None:
    """Items answered by respondents of a role they are not asked of (the role column decides)."""
    if role_col not in t.columns:
        return
    role = t[role_col]
    idx = np.asarray(t.index)
    for name, var in codebook.variables.items():
        if var.roles is None or name not in t.columns:
            continue
        wrong = t[name].notna() & role.notna() & ~role.isin(var.roles)
        if wrong.any():
            out.add(idx[wrong.to_numpy()], name, _as_text(df[name])[wrong], "wrong_group",
                    f"{name!r} is asked of {var.asked_of} ({', '.join(var.roles)}), not of "
                    + ", ".join(sorted(set(role[wrong]))))


def _check_derived(t: pd.DataFrame, codebook: Codebook, out: _Collector) -> None:
    """Derived fields that contradict their source under the codebook's ``derive`` rules."""
    idx = np.asarray(t.index)
    for name, rule in codebook.derived.items():
        if not {name, rule.source} <= set(t.columns):
            continue
        source = pd.to_numeric(pd.Series(t[rule.source], index=t.index), errors="coerce")
        expect = pd.Series(rule.apply(source), index=t.index, dtype=object)
        have = t[name]
        if codebook.variables[name].is_numeric:
            differs = pd.to_numeric(have, errors="coerce") != pd.to_numeric(expect, errors="coerce")
        else:
            differs = have.astype(str) != expect.astype(str)
        bad = (source.notna() & have.notna() & expect.notna() & differs).to_numpy()
        if bad.any():
            out.add(idx[bad], name, have[bad], "inconsistent",
                    [f"{name} {v!r} does not fit {rule.source} {a:g} (codebook rule: {rule.describe()})"
                     for v, a in zip(have[bad], source[bad])])


def _typed(df: pd.DataFrame, codebook: Codebook, registry: pd.DataFrame | None, wave: str,
           out: _Collector, missing_rows: list) -> tuple[pd.DataFrame, int]:
    """Every codebook column checked value by value and typed; the number of community names mapped."""
    idx = np.asarray(df.index, dtype="int64")
    typed, mapped = {}, 0
    lut = _community_lookup(registry)
    for name, var in codebook.variables.items():
        if name not in df.columns:
            continue
        text = _as_text(df[name])
        blank = text.isna().to_numpy()
        if var.required and blank.any():
            out.add(idx[blank], name, text[blank], "required", f"required field {name!r} is blank")
        if var.is_numeric:
            typed[name] = _check_numeric(var, text, idx, out, missing_rows, wave, codebook)
        else:
            typed[name], n = _check_text(var, text, idx, out, lut)
            mapped += n
    return pd.DataFrame(typed, index=df.index), mapped


def _split(df: pd.DataFrame, t: pd.DataFrame, problems: pd.DataFrame, codebook: Codebook,
           wave: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(valid, quarantined): the typed rows without problems, the rows as read with their rules."""
    bad_rows = pd.Index(problems["row"].dropna().astype("int64").unique())
    is_bad = df.index.isin(bad_rows)
    quarantined = df[is_bad].copy()
    rules_by_row = problems.dropna(subset=["row"]).groupby("row")["rule"].agg(lambda r: ";".join(sorted(set(r))))
    quarantined["problems"] = rules_by_row.reindex(quarantined.index).to_numpy()
    valid = t[~is_bad].copy()
    for name in valid.columns:
        var = codebook.variables[name]
        if var.is_numeric:
            valid[name] = valid[name].astype(float)
            if name == wave or (var.required and var.type == "integer"):
                valid[name] = valid[name].astype("int64")
        else:
            valid[name] = valid[name].astype("string")
    return valid, quarantined


def _missing_table(missing_rows: list[pd.DataFrame]) -> pd.DataFrame:
    missing = (pd.concat(missing_rows, ignore_index=True) if missing_rows
               else pd.DataFrame({"row": pd.Series(dtype="int64"), "column": pd.Series(dtype=object),
                                  "code": pd.Series(dtype="int64"), "reason": pd.Series(dtype=object)}))
    return missing.sort_values(["row", "column"], kind="stable").reset_index(drop=True)


def validate(
    df: pd.DataFrame,
    codebook: Codebook | str | Path | None = None,
    *,
    registry: pd.DataFrame | str | Path | None = None,
    study: Study | None = None,
    strict: bool = False,
    max_listed: int = 20,
) -> ValidationReport:
    """Check a survey table against its codebook; split it into valid and quarantined rows.

    Parameters
    ----------
    df
        A table as returned by :func:`evalkit.read_survey` (index = row number in the file) or
        any DataFrame (rows are then numbered from 1).
    codebook
        The codebook, or the path of its YAML file. Required unless `study` is given.
    registry
        The community registry (a table or the path of its CSV) for the ``unknown_community``
        rule; community names in Chinese or pinyin are mapped to registry ids. ``None`` (and no
        `study` with a registry) skips the rule, and the report says so.
    study
        A :class:`~evalkit.spec.study.Study`: its codebook and registry are used where `codebook`
        and `registry` are not given, and its column roles name the unit, wave and role columns
        (for the shipped example: ``study=evalkit.datasets.dongying()``).
    strict
        Raise :class:`ValidationError` when there is any problem, listing the first
        ``max_listed`` readably (file, row, column, value, rule) with counts by rule.

    Returns
    -------
    ValidationReport
        ``valid`` + ``quarantined`` rows (always all the rows that came in), ``problems``
        (``row, column, value, rule, message``) and ``missing`` (``row, column, code, reason``).

    Notes
    -----
    Rules (``evalkit.io.validate.RULES``): missing and unknown columns, blank required fields,
    non-numeric text, codes and numbers outside the codebook's range, fractions in whole-number
    fields, unknown categories, communities and waves, duplicate respondent-waves (exact copies:
    the later copies are quarantined; conflicting copies: all of them), items answered by
    respondents they are not asked of (the not-applicable code is allowed), and derived fields
    (age group, role) that contradict their source under the codebook's ``derive`` rules.

    Examples
    --------
    >>> import evalkit
    >>> study = evalkit.datasets.dongying()
    >>> raw = evalkit.read_survey(evalkit.datasets.data_path("raw/messy_export_gbk.csv"), study=study)
    >>> report = evalkit.validate(raw, study=study)
    >>> report.n_rows == report.n_valid + report.n_quarantined
    True
    """
    if isinstance(registry, str) and registry == "shipped":
        raise ValidationError("validate(registry=\"shipped\") is gone: generic code does not read the shipped "
                              "files. Pass the registry (a path or evalkit.load_communities(path)), or "
                              "study=evalkit.datasets.dongying() for the shipped example.")
    codebook, registry = resolve(codebook, registry, study, "validate()", error=ValidationError)
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"validate() needs a pandas DataFrame, got {type(df).__name__}.")
    roles = study.roles if study is not None else Roles()
    source = str(df.attrs.get("source", "<DataFrame>"))
    df = _check_shape(df, codebook, source)
    out = _Collector()
    missing_rows: list[pd.DataFrame] = []
    meta = [c for c in df.attrs.get("meta", ()) if c in df.columns and c not in codebook.variables]
    unknown = [c for c in df.columns if c not in codebook.variables and c not in meta]
    for c in unknown:
        out.add([pd.NA], c, [""], "unknown_column",
                f"column {c!r} is not in the codebook; it is left out of the valid table")
    t, mapped = _typed(df, codebook, registry, roles.wave, out, missing_rows)
    _check_duplicates(df.drop(columns=meta), t, out, roles.unit, roles.wave)
    _check_personal_cells(df, out)
    _check_read_problems(df, out)
    _check_groups(df, t, codebook, out, roles.role)
    _check_derived(t, codebook, out)
    problems = out.frame()
    valid, quarantined = _split(df, t, problems, codebook, roles.wave)
    valid.attrs = {"source": source}
    notes = [f"column {c!r} is not in the codebook and was left out" for c in unknown]
    if registry is None and any(v.type == "community" for v in codebook.variables.values()):
        notes.append("communities not checked against a registry (pass registry= or study=)")
    report = ValidationReport(
        valid=valid, quarantined=quarantined, problems=problems, missing=_missing_table(missing_rows),
        source=source, n_rows=len(df), registry_mapped=mapped, notes=tuple(notes))
    if len(valid) + len(quarantined) != len(df):  # an invariant of this function, not user input
        raise RuntimeError("evalkit bug: rows in != valid + quarantined")
    if strict:
        report.raise_if_problems(max_listed, known_values(codebook, registry))
    return report
