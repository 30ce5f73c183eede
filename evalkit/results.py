"""One vocabulary for every result table, and the mixin every result object shares.

Every tidy frame evalkit returns names its statistics the same way:

=============  ==============================================================
``estimate``   the point estimate (a mean, a proportion, an ATT, a coefficient, an alpha ...)
``se``         its standard error
``df``         the degrees of freedom of the reference distribution (``inf``: normal)
``statistic``  the test statistic (t, z, F or Wald chi-square: the ``method`` column or the
               result's ``method`` says which)
``p_value``    its p-value
``ci_low``     lower end of the confidence interval at ``level``
``ci_high``    upper end
=============  ==============================================================

Rows are identified by ``indicator`` (a measured outcome: an item, a scale score, a derived
indicator) or ``term`` (a regression coefficient), then by the study's own columns
(community, wave, group, time, event_time ...). Confidence levels are always given as
``level=0.95``, never as ``alpha``.

Result objects are frozen dataclasses that inherit :class:`Result`: ``tidy()`` returns the
table, ``summary`` is its text (a property), and ``repr``/``_repr_html_`` show it.
"""
from __future__ import annotations

import html
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats

#: The statistics columns, in the order they appear in every tidy frame.
STAT_COLUMNS: tuple[str, ...] = ("estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high")
#: Column names of the old vocabularies; no tidy frame may use them.
RETIRED_COLUMNS: frozenset[str] = frozenset(
    {"att", "t", "t_stat", "z", "stat", "alpha_level", "ci", "pvalue", "p", "std_error", "lower", "upper",
     "conf_low", "conf_high"})


def critical_value(level: float, df: float | np.ndarray = np.inf) -> float | np.ndarray:
    """Two-sided critical value at confidence `level` of a t distribution (normal if ``df`` is inf)."""
    if not 0 < level < 1:
        from .errors import EvalkitError

        raise EvalkitError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}.")
    q = 1 - (1 - level) / 2
    df = np.asarray(df, dtype=float)
    out = np.where(np.isfinite(df), stats.t.ppf(q, np.where(np.isfinite(df), df, 1.0)), stats.norm.ppf(q))
    return float(out) if out.ndim == 0 else out


def wald_columns(estimate, se, df=np.inf, level: float = 0.95, null: float = 0.0) -> dict[str, np.ndarray]:
    """``estimate, se, df, statistic, p_value, ci_low, ci_high`` of a Wald t (or z) test."""
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    dfa = np.broadcast_to(np.asarray(df, dtype=float), est.shape).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = (est - null) / se
    p = np.where(np.isfinite(dfa), 2 * stats.t.sf(np.abs(stat), np.where(np.isfinite(dfa), dfa, 1.0)),
                 2 * stats.norm.sf(np.abs(stat)))
    crit = critical_value(level, dfa)
    return {"estimate": est, "se": se, "df": dfa, "statistic": stat, "p_value": p,
            "ci_low": est - crit * se, "ci_high": est + crit * se}


def check_vocabulary(frame: pd.DataFrame, where: str = "result") -> pd.DataFrame:
    """Return `frame` unchanged if it follows the vocabulary; raise ``ValueError`` naming the column if not.

    Statistics columns that are present must come in :data:`STAT_COLUMNS` order; none of
    :data:`RETIRED_COLUMNS` may appear.
    """
    bad = sorted(RETIRED_COLUMNS & set(map(str, frame.columns)))
    if bad:
        raise ValueError(f"{where}: column(s) {bad} are not in evalkit's vocabulary ({', '.join(STAT_COLUMNS)}).")
    present = [c for c in frame.columns if c in STAT_COLUMNS]
    if present != [c for c in STAT_COLUMNS if c in present]:
        raise ValueError(f"{where}: statistics columns {present} are not in the order {list(STAT_COLUMNS)}.")
    return frame


class Result:
    """Mixin for result objects: ``tidy()``, ``summary`` (text), ``repr`` and ``_repr_html_``.

    A subclass implements :meth:`tidy` and may set ``title`` and override :meth:`_headline`
    (one line above the table, e.g. the method and the overall estimate).
    """

    title: ClassVar[str] = "Result"

    def tidy(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def _headline(self) -> str:
        return self.title

    @property
    def summary(self) -> str:
        """The result as text: the headline, then the tidy table."""
        table = self.tidy()
        body = table.to_string(index=False, float_format=lambda v: f"{v:.4f}") if len(table) else "(no rows)"
        return f"{self._headline()}\n{body}"

    def __repr__(self) -> str:
        return self.summary

    def _repr_html_(self) -> str:
        table = self.tidy()
        return (f"<div><strong>{html.escape(self._headline())}</strong>"
                f"{table.to_html(index=False, escape=True, float_format=lambda v: f'{v:.4f}')}</div>")
