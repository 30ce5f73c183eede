"""Fill derived fields (age group, role ...) from their source by the codebook's ``derive`` rules.

An evaluator's own export often has the respondent's age but not the age group the weighting
cells use, nor the role that decides which items were asked. The codebook states how they follow
(``derive: {role: {from: age, cuts: [...]}}``, see :class:`evalkit.spec.codebook.DeriveRule`);
:func:`derive` fills them, and :func:`evalkit.validate` checks an export that has them against the
same rules. No cut point is written in code.

>>> import evalkit
>>> import pandas as pd
>>> from evalkit.io.derive import derive
>>> study = evalkit.datasets.dongying()
>>> derive(pd.DataFrame({"age": ["12", "45", "71", ""]}), study=study).data
  age age_group     role
0  12      8-17    child
1  45     40-59    adult
2  71       60+  elderly
3          <NA>     <NA>
"""
from __future__ import annotations

import html
import os
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from ..results import Result
from ..spec.codebook import Codebook
from ..spec.study import Study, resolve

PROBLEM_COLUMNS = ["row", "column", "value", "rule", "message"]


@dataclass(frozen=True, repr=False)
class Derived(Result):
    """What :func:`derive` returns.

    Attributes
    ----------
    data : DataFrame
        The table with the derived fields filled (same rows, same index; a derived field that was
        absent is inserted after its source, as text like the rest of an export).
    problems : DataFrame
        ``row, column, value, rule, message`` (rule ``not_derivable``): rows whose source value is
        blank, not a number, or beyond the rule's last band, so the derived field stays blank.
    filled : Mapping
        ``{derived field: number of cells filled}``.
    """

    data: pd.DataFrame
    problems: pd.DataFrame
    filled: Mapping[str, int] = field(default_factory=dict)

    title = "Derived fields"

    def tidy(self) -> pd.DataFrame:
        """``column, from, filled, not_derivable``: one row per derived field."""
        n_bad = self.problems.groupby("column").size() if len(self.problems) else pd.Series(dtype="int64")
        return pd.DataFrame([(c, int(n), int(n_bad.get(c, 0))) for c, n in self.filled.items()],
                            columns=["column", "filled", "not_derivable"])

    def describe(self) -> str:
        parts = [f"{c}: {n} filled" + (f", {int((self.problems['column'] == c).sum())} not derivable"
                                       if (self.problems["column"] == c).any() else "")
                 for c, n in self.filled.items()]
        return f"{len(self.data)} rows; " + ("; ".join(parts) if parts else "no derived field to fill")

    @property
    def summary(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"Derived({self.describe()})"

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.describe()) + "</pre>"


def _blank(s: pd.Series) -> np.ndarray:
    return s.isna().to_numpy() | s.astype(str).str.strip().isin(["", "nan", "<NA>", "None"]).to_numpy()


def _nfkc(v):
    """Full-width digits and signs ("７９") as ASCII, so a typed age is read as the number it shows."""
    return unicodedata.normalize("NFKC", v).strip() if isinstance(v, str) else v


def _as_cell(v):
    """A derived value as an export would hold it: text (whole numbers without '.0')."""
    if v is None:
        return pd.NA
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _not_derivable(rows, name: str, source: str, values, numbers, rule) -> pd.DataFrame:
    msgs = []
    for v, x in zip(values, numbers):
        if pd.isna(v) or str(v).strip() == "":
            msgs.append(f"cannot derive {name}: {source} is blank")
        elif np.isnan(x):
            msgs.append(f"cannot derive {name}: {source} {v!r} is not a number")
        else:
            msgs.append(f"cannot derive {name}: {source} {x:g} is beyond the rule ({rule.describe()})")
    return pd.DataFrame({"row": rows, "column": name, "value": ["" if pd.isna(v) else str(v) for v in values],
                         "rule": "not_derivable", "message": msgs})


def derive(
    df: pd.DataFrame,
    codebook: Codebook | str | os.PathLike | None = None,
    *,
    study: Study | None = None,
    fields: Iterable[str] | None = None,
    overwrite: bool = False,
) -> Derived:
    """Fill derived fields from their source by the codebook's ``derive`` rules.

    Parameters
    ----------
    df
        A survey table as read (:func:`evalkit.read_survey`) or typed.
    codebook, study
        The codebook (or the path of its YAML file), or a :class:`~evalkit.spec.study.Study`
        holding it; one is required.
    fields
        The derived fields to fill (default: every rule whose source column is in `df`).
    overwrite
        Replace values already there (default: fill only absent columns and blank cells; values
        already there are checked by :func:`evalkit.validate`, not changed).

    Returns
    -------
    Derived
        ``data`` (rows in = rows out, index kept), ``problems`` (cells that could not be derived:
        blank or non-numeric source, or beyond the last band) and ``filled`` counts.

    Raises
    ------
    EvalkitError
        A field in `fields` has no ``derive`` rule in the codebook, or its source column is absent.
    """
    codebook, _ = resolve(codebook, None, study, "derive()")
    rules = codebook.derived
    wanted = list(fields) if fields is not None else [n for n, r in rules.items() if r.source in df.columns]
    unknown = [n for n in wanted if n not in rules]
    if unknown:
        raise EvalkitError(f"derive(): the codebook {codebook.path!r} has no `derive` rule for {unknown}; "
                           f"its rules: {list(rules) or 'none'}.")
    no_source = [f"{n} (from {rules[n].source})" for n in wanted if rules[n].source not in df.columns]
    if no_source:
        raise EvalkitError(f"derive(): the table lacks the source column of {no_source}.")
    out, filled, problems, inserted = df.copy(), {}, [], []
    for name in wanted:
        rule = rules[name]
        src = out[rule.source]
        numbers = pd.to_numeric(src.map(_nfkc), errors="coerce").to_numpy(dtype=float)
        values = pd.Series([_as_cell(v) for v in rule.apply(numbers)], index=out.index, dtype=object)
        if name not in out.columns:  # after its source and the fields this call inserted after it
            after = sum(rules[d].source == rule.source for d in inserted)
            out.insert(int(out.columns.get_loc(rule.source)) + 1 + after, name,
                       pd.Series(pd.NA, index=out.index, dtype=object))
            inserted.append(name)
        target = np.ones(len(out), bool) if overwrite else _blank(out[name])
        fill = target & values.notna().to_numpy()
        out[name] = out[name].astype(object)
        out.loc[fill, name] = values[fill]
        filled[name] = int(fill.sum())
        miss = target & values.isna().to_numpy()
        if miss.any():
            problems.append(_not_derivable(out.index[miss], name, rule.source, src[miss], numbers[miss], rule))
    table = (pd.concat(problems, ignore_index=True) if problems
             else pd.DataFrame({c: pd.Series(dtype=object) for c in PROBLEM_COLUMNS}))
    out.attrs = dict(df.attrs)
    return Derived(out, table, filled)
