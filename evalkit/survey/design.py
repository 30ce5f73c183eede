"""Survey designs: weights, strata, PSUs and fpc held once; design-based estimates.

:class:`SurveyDesign` follows R's survey package (Lumley): ``svydesign`` holds the
sampling structure, every estimator takes it, and weighting steps (:meth:`SurveyDesign.rake`)
return a *new* design whose variance accounts for the calibration. Estimates are
means, totals and proportions, overall or by domain, with Taylor-linearisation
standard errors for stratified (ultimate-)cluster designs.

Everything is vectorised over domains, strata and PSUs: an estimate for 12 variables
in 200 domains of 200,000 rows costs a few ``np.bincount`` passes, not a Python loop
per domain or per PSU.

Examples
--------
>>> import pandas as pd
>>> from evalkit.survey.design import SurveyDesign
>>> df = pd.DataFrame({"stratum": ["a", "a", "a", "b", "b", "b"],
...                    "w": [10.0, 10.0, 12.0, 5.0, 5.0, 6.0],
...                    "y": [1.0, 3.0, 2.0, 4.0, 6.0, 5.0],
...                    "sex": ["F", "M", "F", "M", "F", "M"]})
>>> design = SurveyDesign(df, weight="w", strata="stratum")
>>> design.mean("y")[["variable", "estimate", "se", "n"]].round(4)
  variable  estimate      se  n
0        y       3.0  0.4077  6
>>> design.proportion("sex", by="stratum")[["stratum", "level", "estimate"]].round(4)
  stratum level  estimate
0       a     F    0.6875
1       a     M    0.3125
2       b     F    0.3125
3       b     M    0.6875
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg as sla
from scipy import sparse
from scipy import stats

from .._literals import DesignStatistic, LonelyPSU, ProportionCI, check_choice
from ..errors import ConvergenceWarning, DesignError, LonelyPSUWarning

__all__ = ["SurveyDesign", "WeightingInfo"]

#: Largest PSU x domain block held densely by the calibrated variance (8 bytes each).
_DENSE_CELLS = 8_000_000


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------
def _as_list(cols: str | Sequence[str] | None, argument: str) -> list[str]:
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    if isinstance(cols, Sequence) and all(isinstance(c, str) for c in cols):
        out = list(cols)
        if len(set(out)) != len(out):
            raise DesignError(f"{argument}={out!r} names a column twice; name each column once.")
        return out
    raise DesignError(
        f"{argument} must be a column name or a list of column names, got {cols!r}."
    )


def _row_label(data: pd.DataFrame, pos: int) -> str:
    return f"row {data.index[pos]!r} (position {pos})"


def _factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Sorted integer codes (-1 for missing) and the levels."""
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques)


def _numeric(data: pd.DataFrame, col: str, what: str) -> np.ndarray:
    s = data[col]
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype="float64", na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(s):
        raise DesignError(
            f"The {what} column {col!r} must be numeric, but it has dtype {s.dtype}. "
            f"Convert it (e.g. pd.to_numeric) or, for a categorical variable, use "
            f".proportion({col!r})."
        )
    return s.to_numpy(dtype="float64", na_value=np.nan)


@dataclass(frozen=True)
class WeightingInfo:
    """Diagnostics of a weighting step (:meth:`SurveyDesign.rake`).

    Attributes
    ----------
    method : str
        ``"rake"``.
    converged : bool
        Whether every margin was met within ``tol`` (relative) before ``max_iter``.
    iterations : int
        Full sweeps over the margins that were run.
    max_rel_error : float
        Largest ``|achieved / target - 1|`` over all margin levels at the end.
    g_min, g_max : float
        Range of the g-weights (final weight / design weight).
    n_trimmed : int
        Rows whose g-weight sits on a trimming bound (0 without ``trim``).
    trim : tuple or None
        The ``(lo, hi)`` bounds asked for.
    margins : pandas.DataFrame
        One row per margin level: ``variable, level, target, achieved, rel_error``.
    """

    method: str
    converged: bool
    iterations: int
    max_rel_error: float
    g_min: float
    g_max: float
    n_trimmed: int
    trim: tuple[float, float] | None
    margins: pd.DataFrame

    def tidy(self) -> pd.DataFrame:
        """The per-margin-level table (a copy)."""
        return self.margins.copy()

    @property
    def summary(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        trim = "" if self.trim is None else f", trimmed to {self.trim} ({self.n_trimmed} rows at a bound)"
        return (
            f"{self.method}: {state} after {self.iterations} iterations; max relative margin "
            f"error {self.max_rel_error:.3g}; g-weights in [{self.g_min:.4g}, {self.g_max:.4g}]{trim}"
        )

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"WeightingInfo({self.summary})"

    def _repr_html_(self) -> str:  # pragma: no cover - cosmetic
        return f"<p>{self.summary}</p>" + self.margins.to_html(index=False)


@dataclass(frozen=True)
class _Calibration:
    """What the variance needs from a calibration: regression on the margin indicators.

    ``X`` is the indicator matrix of every margin level (reference coding: the first
    level of margins after the first is dropped so that ``X`` has full column rank).
    """

    codes: tuple[np.ndarray, ...]  # per margin: level code per row
    sizes: tuple[int, ...]  # per margin: number of levels
    keep_first: tuple[bool, ...]  # whether the first level is a column of X
    w0: np.ndarray  # design weights before calibration (regression weights)
    ginv: np.ndarray  # (X' W0 X)^-1, K x K
    psu_x: np.ndarray  # PSU totals of final-weighted X, P x K

    def xt_w0(self, E: np.ndarray, rows: np.ndarray, dom: np.ndarray, n_dom: int) -> np.ndarray:
        """``X' W0 E`` per domain: ``E`` (len(rows) x M) is the score per unit weight on
        ``rows`` (domain ``dom``), zero elsewhere. Returns K x D x M."""
        blocks = []
        w0E = self.w0[rows][:, None] * E
        R = rows.size
        for codes, k, keep in zip(self.codes, self.sizes, self.keep_first):
            key = codes[rows] * n_dom + dom
            ind = sparse.csr_matrix((np.ones(R), (key, np.arange(R))), shape=(k * n_dom, R))
            b = np.asarray(ind @ w0E).reshape(k, n_dom, -1)
            blocks.append(b if keep else b[1:])
        return np.concatenate(blocks, axis=0)

    def x_dense(self) -> np.ndarray:
        cols = []
        for codes, k, keep in zip(self.codes, self.sizes, self.keep_first):
            ind = np.zeros((codes.size, k))
            ind[np.arange(codes.size), codes] = 1.0
            cols.append(ind if keep else ind[:, 1:])
        return np.hstack(cols)


# --------------------------------------------------------------------------------------
# the design
# --------------------------------------------------------------------------------------
class SurveyDesign:
    """A stratified (ultimate-)cluster survey design, as R's ``svydesign``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent. It is copied; the design is immutable.
    weight : str
        Column of sampling weights (inverse inclusion probabilities). Every weight must
        be finite and > 0: a missing, infinite, zero or negative weight is a
        :class:`~evalkit.errors.DesignError` naming the row and value.
    strata : str, optional
        Column of first-stage strata. Without it the design has one stratum.
    psu : str, optional
        Column of first-stage sampling units (clusters). Without it every row is its own
        PSU (``id=~1`` in R). PSUs must be nested in strata unless ``nest=True``.
    fpc : str, optional
        Column holding the population number of PSUs in the row's stratum, ``N_h``
        (R's convention for ``fpc=`` with population sizes; a one-stage design). It must be
        constant within strata and ``>= n_h``. Without it PSUs are taken as sampled with
        replacement (no finite population correction).
    lonely_psu : {"adjust", "remove", "certainty", "average", "fail"}, default "adjust"
        What a stratum with a single PSU contributes to the variance, as R's
        ``options(survey.lonely.psu=)``. Anything but ``"fail"`` and ``"certainty"``
        emits a :class:`~evalkit.errors.LonelyPSUWarning` naming the strata; ``"fail"``
        raises :class:`~evalkit.errors.DesignError` at construction.
    nest : bool, default False
        Treat PSU labels as re-used across strata (R ``nest=TRUE``): a PSU is the pair
        (stratum, psu). With ``nest=False`` a PSU label found in two strata is an error.

    Attributes
    ----------
    data : pandas.DataFrame
        The design's data (a shallow copy; edits do not reach the design).
    weights : numpy.ndarray
        Final weights (calibrated ones after :meth:`rake`).
    n_psu, n_strata, degf : int
        Number of PSUs, strata, and design degrees of freedom ``#PSU - #strata`` (R ``degf``)
        of the rows in the design's subset.
    weighting_info : WeightingInfo or None
        Diagnostics of the weighting step that produced this design.

    Notes
    -----
    **Variance.** For a statistic with linearised score ``z_i`` (its influence on the
    estimate, already multiplied by the weight), with PSU totals ``z_hi``,

    .. math::  \\hat V = \\sum_h (1 - f_h)\\,\\frac{n_h}{n_h-1}\\sum_i (z_{hi} - \\bar z_h)^2,
               \\qquad f_h = n_h / N_h,

    R's ``svyrecvar`` for first-stage units (with replacement when ``fpc`` is absent, so
    ``f_h = 0``). A stratum with ``f_h = 1`` (census of PSUs) contributes 0 and is not
    "lonely". Later stages are not modelled (ultimate-cluster variance, as R with
    ``fpc`` given only at the first stage or ``options(survey.ultimate.cluster=TRUE)``).

    **Lonely PSUs** (``n_h = 1``): ``"adjust"`` adds ``(1 - f_h) (z_h - \\bar z)^2``, the
    PSU total centred at the mean of *all* PSU totals, ``\\bar z = \\sum_{hi} z_{hi} /
    \\sum_h n_h`` (unweighted, every stratum's sampled PSUs counted, lonely and
    self-representing ones included; no fpc in the centre), as R survey does since
    version 4.4-1 (2024; ``onestage`` and the C++ ``arma_onestage`` used by default;
    unchanged in survey 4.5). Survey 4.2-1 and earlier centred at 0 (usually larger
    SEs of totals); means, proportions and other statistics whose scores sum to zero are
    the same under both rules. In a domain (or a subset, or with missing ``y``) of an
    uncalibrated design, R drops the rows outside it, so ``\\bar z`` is the domain's total
    over the PSUs of the strata holding domain rows, and a lonely stratum without domain
    rows adds 0; a calibrated design keeps every row (zero weight), so every stratum
    counts. ``"remove"`` and ``"certainty"`` add 0 (they differ in R only for multistage
    designs); ``"average"`` adds 0 and rescales the variance by
    ``#strata / #strata-without-lonely``.

    **Domains** (``by=``, :meth:`subset`, and missing ``y``) never drop rows: the score is
    zero outside the domain and the full design (every PSU, ``n_h`` of the whole sample)
    enters the variance, R's subset semantics (``svyby``, ``subset.survey.design2``).
    Rows with a missing ``y`` are treated as outside the domain of that variable (R's
    ``na.rm=TRUE``); a domain with a single PSU inside a multi-PSU stratum gets no special
    treatment (R's default ``survey.adjust.domain.lonely=FALSE``).

    References
    ----------
    Lumley T (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley. Ch. 2-3, 7.
    R package survey: ``svydesign``, ``svymean``, ``svytotal``, ``svyby``, ``rake``.
    """

    __slots__ = (
        "_data", "_weight", "_strata", "_psu", "_fpc", "_lonely", "_nest",
        "_w", "_h", "_p", "_psu_stratum", "_n_h", "_starts", "_scale", "_adjust",
        "_avg_factor", "_lonely_strata", "_strata_levels", "_mask", "_calib", "_info",
        "_psu_indicator",
    )

    # ---- construction ----------------------------------------------------------------
    def __init__(
        self,
        data: pd.DataFrame,
        weight: str,
        strata: str | None = None,
        psu: str | None = None,
        fpc: str | None = None,
        *,
        lonely_psu: LonelyPSU = "adjust",
        nest: bool = False,
    ) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
        check_choice(lonely_psu, LonelyPSU, "lonely_psu")
        named = {"weight": weight, "strata": strata, "psu": psu, "fpc": fpc}
        for arg, col in named.items():
            if col is None:
                if arg == "weight":
                    raise DesignError("weight= is required: name the column of sampling weights.")
                continue
            if not isinstance(col, str):
                raise DesignError(f"{arg}= must be a column name (str), got {col!r}.")
            if col not in data.columns:
                raise DesignError(
                    f"{arg}={col!r} is not a column of data; available columns: "
                    f"{', '.join(map(str, data.columns[:30]))}"
                    + (" ..." if data.shape[1] > 30 else "")
                    + "."
                )
        if data.shape[0] == 0:
            raise DesignError("data has no rows; a survey design needs at least one respondent.")
        df = data.copy(deep=True)
        n = df.shape[0]

        # weights
        w = _numeric(df, weight, "weight")
        bad = ~np.isfinite(w) | (w <= 0)
        if bad.any():
            pos = np.flatnonzero(bad)
            first = int(pos[0])
            raise DesignError(
                f"The weight column {weight!r} has {pos.size} invalid value(s) (missing, infinite, "
                f"zero or negative); first at {_row_label(df, first)}: {float(w[first])!r}. "
                f"Every sampling weight must be a finite number > 0: drop or repair these rows."
            )

        # strata
        if strata is None:
            h = np.zeros(n, dtype=np.int64)
            strata_levels = pd.Index([1])
        else:
            h, strata_levels = _factorize(df[strata])
            if (h < 0).any():
                first = int(np.flatnonzero(h < 0)[0])
                raise DesignError(
                    f"The strata column {strata!r} has {int((h < 0).sum())} missing value(s); first "
                    f"at {_row_label(df, first)}. Every row needs a stratum."
                )
        n_strata = len(strata_levels)

        # PSUs: codes ordered by stratum, so that the PSUs of a stratum are contiguous
        if psu is None:
            order = np.argsort(h, kind="stable")
            p = np.empty(n, dtype=np.int64)
            p[order] = np.arange(n)
            psu_stratum = h[order]
        else:
            raw, raw_levels = _factorize(df[psu])
            if (raw < 0).any():
                first = int(np.flatnonzero(raw < 0)[0])
                raise DesignError(
                    f"The psu column {psu!r} has {int((raw < 0).sum())} missing value(s); first at "
                    f"{_row_label(df, first)}. Every row needs a PSU (cluster) id."
                )
            key = h * len(raw_levels) + raw
            uk, p = np.unique(key, return_inverse=True)
            p = p.astype(np.int64)
            psu_stratum = uk // len(raw_levels)
            if not nest and strata is not None:
                per_label = np.bincount(uk % len(raw_levels), minlength=len(raw_levels))
                if (per_label > 1).any():
                    lab = raw_levels[int(np.flatnonzero(per_label > 1)[0])]
                    raise DesignError(
                        f"PSU {lab!r} of column {psu!r} appears in more than one stratum of "
                        f"{strata!r}: PSUs must be nested in strata. If PSU labels are re-used "
                        f"across strata, pass nest=True."
                    )
        n_h = np.bincount(psu_stratum, minlength=n_strata).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(n_h)[:-1]]).astype(np.int64)

        # finite population correction
        if fpc is None:
            f = np.ones(n_strata)
        else:
            N_row = _numeric(df, fpc, "fpc")
            if not np.all(np.isfinite(N_row)):
                first = int(np.flatnonzero(~np.isfinite(N_row))[0])
                raise DesignError(
                    f"The fpc column {fpc!r} has a missing or infinite value at "
                    f"{_row_label(df, first)}; it must hold the population number of PSUs of "
                    f"the row's stratum."
                )
            lo = np.full(n_strata, np.inf)
            hi = np.full(n_strata, -np.inf)
            np.minimum.at(lo, h, N_row)
            np.maximum.at(hi, h, N_row)
            varying = np.flatnonzero(lo != hi)
            if varying.size:
                s = strata_levels[int(varying[0])]
                raise DesignError(
                    f"The fpc column {fpc!r} varies within stratum {s!r} (from {lo[varying[0]]:g} "
                    f"to {hi[varying[0]]:g}); it must be the stratum's population number of PSUs, "
                    f"constant within the stratum."
                )
            too_small = np.flatnonzero(lo < n_h)
            if too_small.size:
                j = int(too_small[0])
                hint = (
                    " It looks like a sampling fraction; evalkit's fpc= takes population sizes "
                    "N_h (R's convention): pass n_h / fraction."
                    if lo[j] <= 1
                    else ""
                )
                raise DesignError(
                    f"fpc {fpc!r} gives N_h = {lo[j]:g} for stratum {strata_levels[j]!r}, fewer "
                    f"than the {n_h[j]} PSUs sampled there (FPC implies >100% sampling).{hint}"
                )
            f = 1.0 - n_h / lo
            f[f < 1e-7] = 0.0  # self-representing stratum (R: f < 1e-7)

        # lonely PSUs
        lonely = (n_h == 1) & (f > 0)
        lonely_strata = [strata_levels[int(j)] for j in np.flatnonzero(lonely)]
        scale = np.where(n_h > 1, f * n_h / np.maximum(n_h - 1, 1), 0.0)
        adjust = np.zeros(n_strata, dtype=bool)
        avg_factor = 1.0
        if lonely.any():
            names = ", ".join(repr(s) for s in lonely_strata[:20]) + (
                " ..." if len(lonely_strata) > 20 else ""
            )
            where = f"stratum {strata!r}" if strata is not None else "the design"
            if lonely_psu == "fail":
                raise DesignError(
                    f"{len(lonely_strata)} stratum/strata of {where} have a single PSU ({names}); "
                    f"the variance is not defined. Pass lonely_psu='adjust' (R's conservative "
                    f"choice), 'remove', 'certainty' or 'average', or merge strata."
                )
            if lonely_psu == "adjust":
                adjust = lonely.copy()
                scale = np.where(lonely, f, scale)
            elif lonely_psu == "average":
                avg_factor = n_strata / (n_strata - lonely.sum()) if n_strata > lonely.sum() else np.nan
            if lonely_psu != "certainty":
                warnings.warn(
                    f"{len(lonely_strata)} stratum/strata of {where} have a single PSU ({names}); "
                    f"their variance contribution uses lonely_psu={lonely_psu!r} (R "
                    f"options(survey.lonely.psu={lonely_psu!r})).",
                    LonelyPSUWarning,
                    stacklevel=2,
                )

        for name, value in {
            "_data": df, "_weight": weight, "_strata": strata, "_psu": psu, "_fpc": fpc,
            "_lonely": lonely_psu, "_nest": nest, "_w": w, "_h": h, "_p": p,
            "_psu_stratum": psu_stratum, "_n_h": n_h, "_starts": starts, "_scale": scale,
            "_adjust": adjust, "_avg_factor": float(avg_factor), "_lonely_strata": lonely_strata,
            "_strata_levels": strata_levels, "_mask": None, "_calib": None, "_info": None,
            "_psu_indicator": None,
        }.items():
            object.__setattr__(self, name, value)
        for arr in (w, h, p, psu_stratum, n_h, starts, scale, adjust):
            arr.setflags(write=False)

    def _replace(self, **changes: Any) -> "SurveyDesign":
        new = object.__new__(SurveyDesign)
        for name in SurveyDesign.__slots__:
            object.__setattr__(new, name, changes.get(name, getattr(self, name)))
        object.__setattr__(new, "_psu_indicator", None)
        return new

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            "SurveyDesign is immutable; weighting steps and subsets return a new design."
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError("SurveyDesign is immutable.")

    # ---- properties --------------------------------------------------------------------
    @property
    def data(self) -> pd.DataFrame:
        return self._data.copy(deep=False)

    @property
    def weights(self) -> np.ndarray:
        return self._w.copy()

    @property
    def n_psu(self) -> int:
        return int(np.unique(self._p[self._rows_in_design()]).size)

    @property
    def n_strata(self) -> int:
        return int(np.unique(self._h[self._rows_in_design()]).size)

    @property
    def degf(self) -> int:
        """Design degrees of freedom, ``#PSU - #strata`` among rows in the subset (R ``degf``)."""
        return self.n_psu - self.n_strata

    @property
    def weighting_info(self) -> WeightingInfo | None:
        return self._info

    @property
    def lonely_strata(self) -> list:
        return list(self._lonely_strata)

    @property
    def is_calibrated(self) -> bool:
        return self._calib is not None

    def _rows_in_design(self) -> np.ndarray:
        return np.ones(self._w.size, dtype=bool) if self._mask is None else self._mask

    @property
    def summary(self) -> str:
        parts = []
        kind = "Stratified " if self._strata is not None else ""
        clus = "cluster" if self._psu is not None else "independent"
        wr = " (with replacement)" if self._fpc is None else ""
        parts.append(f"{kind}{clus} sampling design{wr}: {self._w.size} rows")
        parts.append(
            f"{len(self._strata_levels)} strata, {int(self._n_h.sum())} PSUs "
            f"(per stratum {int(self._n_h.min())}-{int(self._n_h.max())}); degf {self.degf}"
        )
        parts.append(
            f"weights {self._weight!r}: sum {self._w.sum():,.6g}, range "
            f"[{self._w.min():.4g}, {self._w.max():.4g}]"
        )
        if self._lonely_strata:
            parts.append(f"lonely-PSU strata: {len(self._lonely_strata)} (lonely_psu={self._lonely!r})")
        if self._mask is not None:
            parts.append(f"subset: {int(self._mask.sum())} of {self._mask.size} rows in the domain")
        if self._info is not None:
            parts.append(self._info.summary)
        return "\n".join(parts)

    def __repr__(self) -> str:
        return "SurveyDesign\n  " + self.summary.replace("\n", "\n  ")

    def _repr_html_(self) -> str:  # pragma: no cover - cosmetic
        items = "".join(f"<li>{line}</li>" for line in self.summary.split("\n"))
        return f"<b>SurveyDesign</b><ul>{items}</ul>"

    # ---- subsetting --------------------------------------------------------------------
    def subset(self, mask: Any) -> "SurveyDesign":
        """A domain design: estimates use only rows where ``mask`` is True.

        Rows are not dropped: the full sampling structure stays (R ``subset()`` of a
        ``survey.design2``), so standard errors are domain SEs.

        Parameters
        ----------
        mask : str or array-like of bool
            A boolean column name or a boolean array/Series aligned with ``data``.
        """
        if isinstance(mask, str):
            if mask not in self._data.columns:
                raise DesignError(f"subset mask column {mask!r} is not a column of the data.")
            m = self._data[mask]
        else:
            m = mask
        if isinstance(m, pd.Series):
            if not m.index.equals(self._data.index):
                raise DesignError("The subset mask Series is not aligned with the design's data index.")
            if m.isna().any():
                raise DesignError("The subset mask has missing values; fill them (e.g. mask.fillna(False)).")
            m = m.to_numpy()
        m = np.asarray(m)
        if m.shape != (self._w.size,) or m.dtype != bool:
            raise DesignError(
                f"subset mask must be a boolean array of length {self._w.size}, got dtype "
                f"{m.dtype} and shape {m.shape}."
            )
        new_mask = m.copy() if self._mask is None else (self._mask & m)
        if not new_mask.any():
            raise DesignError("The subset mask selects no rows.")
        new_mask.setflags(write=False)
        return self._replace(_mask=new_mask)

    def assign(self, **columns: Any) -> "SurveyDesign":
        """A new design with columns added or replaced (R ``update(design, ...)``).

        Values are as for :meth:`pandas.DataFrame.assign` (arrays, Series aligned on the
        index, or callables of the data). The weight, strata, psu and fpc columns cannot be
        replaced; the weights (raked ones included) and the sampling structure are kept.
        """
        protected = {c for c in (self._weight, self._strata, self._psu, self._fpc) if c}
        clash = sorted(protected & set(columns))
        if clash:
            raise DesignError(
                f"assign() cannot replace the design column(s) {clash}; build a new SurveyDesign."
            )
        try:
            new = self._data.assign(**columns)
        except (ValueError, TypeError) as exc:
            raise DesignError(f"assign() failed: {exc}") from exc
        return self._replace(_data=new)

    # ---- variance machinery ------------------------------------------------------------
    def _lonely_dev(self, S: np.ndarray, present: np.ndarray | None) -> np.ndarray:
        """Centred totals of the ``"adjust"`` lonely PSUs (R survey >= 4.4-1).

        ``S`` (H x K) holds stratum totals of K statistics; a lonely stratum's total is its
        single PSU's total. ``present`` (H x K or H x 1, bool) marks the strata that hold rows
        of each statistic's domain (``None``: every stratum). The centre is the total of all
        PSU totals divided by the number of sampled PSUs in the present strata, R's
        ``colSums(x) / n_PSUs_from_all_strata`` in ``onestage`` and ``arma_onestage``. A
        lonely stratum with no rows of the domain contributes 0 (R drops its rows).
        Returns the (#adjusted strata x K) deviations.
        """
        if present is None:
            present = np.ones((S.shape[0], 1), dtype=bool)
        n_units = self._n_h @ present
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = S.sum(axis=0) / n_units
        return np.where(present[self._adjust], S[self._adjust] - centre, 0.0)

    def _present_strata(self) -> np.ndarray | None:
        """Strata (H x 1) holding rows of an uncalibrated subset; ``None`` for every stratum.

        R's ``[.survey.design2`` drops the rows outside a subset unless the design is
        calibrated, so the strata without rows leave the lonely-PSU centre's denominator.
        """
        if self._mask is None or self._calib is not None:
            return None
        return (np.bincount(self._h[self._mask], minlength=self._n_h.size) > 0)[:, None]

    def _var_dense(self, T: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """Variance of each column of PSU totals ``T`` (P x M), ``sum_h c_h sum (T - Tbar_h)^2``.

        ``present`` is passed to :meth:`_lonely_dev` (``None``: every stratum).
        """
        S = np.add.reduceat(T, self._starts, axis=0)
        mean = S / self._n_h[:, None]
        dev = T - mean[self._psu_stratum]
        SS = np.add.reduceat(dev * dev, self._starts, axis=0)
        if self._adjust.any():
            lone = self._lonely_dev(S, present)
            SS[self._adjust] = lone * lone
        return (self._scale[:, None] * SS).sum(axis=0) * self._avg_factor

    def _var_cells(
        self, cell_p: np.ndarray, cell_d: np.ndarray, T: np.ndarray, D: int,
        present: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`_var_dense` for sparse P x D matrices given on their nonzero cells.

        ``T`` is (cells x M): M score matrices sharing the cells. ``present`` (cells x M,
        bool) marks the cells holding a row of the domain with a non-missing value of each
        statistic (``None``: every cell); it decides which strata count for the lonely-PSU
        centre (:meth:`_lonely_dev`). Returns D x M variances.
        """
        H = self._n_h.size
        hk = self._psu_stratum[cell_p] * D + cell_d
        C = hk.size
        s_hk = sparse.csr_matrix((np.ones(C), (hk, np.arange(C))), shape=(H * D, C))
        S = np.asarray(s_hk @ T)
        ncell = np.bincount(hk, minlength=H * D)[:, None]
        nh = np.repeat(self._n_h, D)[:, None]
        mean = S / nh
        dev = T - mean[hk]
        SS = np.asarray(s_hk @ (dev * dev)) + (nh - ncell) * mean * mean
        SS = SS.reshape(H, -1)
        if self._adjust.any():
            cells = np.ones(T.shape, dtype=bool) if present is None else present
            in_stratum = np.asarray(s_hk @ cells.astype(float)).reshape(H, -1) > 0
            lone = self._lonely_dev(S.reshape(H, -1), in_stratum)
            SS[self._adjust] = lone * lone
        return np.einsum("h,hk->k", self._scale, SS).reshape(D, -1) * self._avg_factor

    def _psu_totals(self, Z: np.ndarray) -> np.ndarray:
        if self._psu_indicator is None:
            n, P = self._w.size, int(self._n_h.sum())
            ind = sparse.csr_matrix((np.ones(n), (self._p, np.arange(n))), shape=(P, n))
            object.__setattr__(self, "_psu_indicator", ind)
        return np.asarray(self._psu_indicator @ Z)

    def linearized_variance(self, scores: Any, *, cov: bool = False) -> np.ndarray:
        """Design variance of totals of per-row linearised scores.

        Parameters
        ----------
        scores : array-like, shape (n,) or (n, m)
            Score (influence) of each row on each statistic, *already multiplied by the
            row's weight* (e.g. ``w_i (y_i - ybar) / sum(w)`` for a mean). Rows outside a
            domain carry 0. For a calibrated design the scores are replaced by
            ``w_i (e_i - x_i'B)``, ``e_i = score_i / w_i``, before the variance is taken.
        cov : bool, default False
            Return the m x m covariance matrix instead of the m variances.

        Returns
        -------
        numpy.ndarray
            Variances (shape (m,)) or covariance matrix (m, m).

        Notes
        -----
        With ``lonely_psu="adjust"`` a lonely PSU's total is centred at the mean of all PSU
        totals (class Notes). On a :meth:`subset` of an uncalibrated design only the strata
        holding rows of the subset count for that mean, as when R drops the other rows.
        """
        Z = np.asarray(scores, dtype=float)
        one = Z.ndim == 1
        if one:
            Z = Z[:, None]
        if Z.ndim != 2 or Z.shape[0] != self._w.size:
            raise DesignError(
                f"scores must have one row per design row ({self._w.size}), got shape {Z.shape}."
            )
        if not np.all(np.isfinite(Z)):
            raise DesignError("scores contain missing or infinite values; use 0 outside the domain.")
        if self._calib is not None:
            c = self._calib
            X = c.x_dense()
            E = Z / self._w[:, None]
            B = c.ginv @ (X.T @ (c.w0[:, None] * E))
            Z = Z - self._w[:, None] * (X @ B)
        T = self._psu_totals(Z)
        if not cov:
            v = self._var_dense(T, self._present_strata())
            return v[0] if one else v
        S = np.add.reduceat(T, self._starts, axis=0)
        dev = T - (S / self._n_h[:, None])[self._psu_stratum]
        if self._adjust.any():
            dev[self._starts[self._adjust]] = self._lonely_dev(S, self._present_strata())
        c_psu = self._scale[self._psu_stratum]
        V = (dev * c_psu[:, None]).T @ dev * self._avg_factor
        return V

    # ---- domains -----------------------------------------------------------------------
    def _domains(self, by: list[str]) -> tuple[np.ndarray, int, pd.DataFrame]:
        """Domain code per row (-1 outside every domain), number of domains, their labels."""
        n = self._w.size
        inside = self._rows_in_design().copy()
        if not by:
            d = np.where(inside, 0, -1).astype(np.int64)
            return d, 1, pd.DataFrame(index=range(1))
        for col in by:
            if col not in self._data.columns:
                raise DesignError(f"by={col!r} is not a column of the design's data.")
        codes, levels = [], []
        for col in by:
            c, lev = _factorize(self._data[col])
            inside &= c >= 0
            codes.append(np.where(c >= 0, c, 0))
            levels.append(lev)
        sizes = tuple(max(len(lev), 1) for lev in levels)
        key = np.ravel_multi_index(tuple(codes), sizes) if len(codes) > 1 else codes[0]
        uk, inv = np.unique(key[inside], return_inverse=True)
        if uk.size == 0:
            raise DesignError(f"No row of the design has non-missing values of by={by!r}.")
        d = np.full(n, -1, dtype=np.int64)
        d[inside] = inv
        parts = np.unravel_index(uk, sizes) if len(codes) > 1 else (uk,)
        labels = pd.DataFrame(
            {col: levels[j].take(parts[j]) for j, col in enumerate(by)}
        )
        for col in by:  # keep the data's dtype for the by-columns
            try:
                labels[col] = labels[col].astype(self._data[col].dtype)
            except (TypeError, ValueError):  # pragma: no cover - exotic dtypes
                pass
        return d, int(uk.size), labels

    # ---- the estimator -----------------------------------------------------------------
    def _crit(self, level: float, df: Any) -> float:
        if not (isinstance(level, (int, float)) and 0 < level < 1):
            raise DesignError(f"level={level!r} must be a number strictly between 0 and 1, e.g. 0.95.")
        p = 1 - (1 - level) / 2
        if df is None or (isinstance(df, float) and math.isinf(df)):
            return float(stats.norm.ppf(p))
        if df == "design":
            dof = self.degf
            if dof < 1:
                raise DesignError(
                    f"df='design' needs #PSU - #strata >= 1, but this design has {dof}; use df=None "
                    f"(normal intervals) or give df as a number."
                )
            return float(stats.t.ppf(p, dof))
        if isinstance(df, (int, float)) and not isinstance(df, bool) and df > 0:
            return float(stats.t.ppf(p, df))
        raise DesignError(f"df={df!r} must be None (normal), 'design' (#PSU - #strata) or a number > 0.")

    def _estimate(
        self, stat: DesignStatistic, y: Any, by: Any, level: float, df: Any, ci: ProportionCI = "wald"
    ) -> pd.DataFrame:
        check_choice(stat, DesignStatistic, "statistic")
        check_choice(ci, ProportionCI, "ci")
        ys = _as_list(y, "y")
        if not ys:
            raise DesignError("Name at least one variable y to estimate.")
        for col in ys:
            if col not in self._data.columns:
                raise DesignError(f"y={col!r} is not a column of the design's data.")
        bys = _as_list(by, "by")
        overlap = set(ys) & set(bys)
        if overlap:
            raise DesignError(f"Column(s) {sorted(overlap)} are both y and by; use each in one role.")
        crit = self._crit(level, df)
        d, D, labels = self._domains(bys)

        rows = np.flatnonzero(d >= 0)
        dom = d[rows]
        key = self._p[rows] * D + dom
        ucell, cell = np.unique(key, return_inverse=True)
        cell_p, cell_d = ucell // D, ucell % D
        n_cells = ucell.size

        # the variables: (name, level or None, values on rows, valid on rows)
        tasks: list[tuple[str, Any, np.ndarray, np.ndarray]] = []
        for col in ys:
            if stat == "proportion":
                codes, levs = _factorize(self._data[col])
                cr = codes[rows]
                present = np.unique(cr[cr >= 0])
                if present.size == 0:
                    tasks.append((col, np.nan, np.zeros(rows.size), np.zeros(rows.size, bool)))
                for j in present:
                    tasks.append((col, levs[int(j)], (cr == j).astype(float), cr >= 0))
            else:
                vals = _numeric(self._data, col, "y")[rows]
                if np.isinf(vals).any():
                    first = int(rows[np.flatnonzero(np.isinf(vals))[0]])
                    raise DesignError(
                        f"y={col!r} has an infinite value at {_row_label(self._data, first)}; "
                        f"replace it by a number or NaN (missing)."
                    )
                valid = ~np.isnan(vals)
                tasks.append((col, None, np.where(valid, vals, 0.0), valid))

        M, R = len(tasks), rows.size
        V = np.empty((R, M))
        valid = np.empty((R, M))
        for j, (_, _, vals, ok) in enumerate(tasks):
            V[:, j] = vals
            valid[:, j] = ok
        ones = np.ones(R)
        s_cell = sparse.csr_matrix((ones, (cell, np.arange(R))), shape=(n_cells, R))
        s_dom = sparse.csr_matrix((ones, (dom, np.arange(R))), shape=(D, R))
        WV = valid * self._w[rows][:, None]
        WY = WV * V
        A_cell = np.asarray(s_cell @ WY)
        B_cell = np.asarray(s_cell @ WV)
        A = np.asarray(s_dom @ WY)
        W = np.asarray(s_dom @ WV)
        n = np.rint(np.asarray(s_dom @ valid)).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            ybar = A / W
            if stat == "total":
                est = A
                T = A_cell
            else:
                est = ybar
                T = (A_cell - ybar[cell_d] * B_cell) / W[cell_d]
            T = np.where(np.isfinite(T), T, 0.0)
            if self._calib is None:
                var = self._var_cells(cell_p, cell_d, T, D, B_cell > 0)
            else:
                var = self._var_calibrated(stat, cell_p, cell_d, T, V, valid, ybar, W, rows, dom, D)
            var = np.where(n > 0, var, np.nan)
            se = np.sqrt(np.maximum(var, 0.0))
            # SRS-with-replacement variance of the same estimator (R deff="replace")
            centred = V - np.nan_to_num(ybar)[dom]
            dev2 = np.asarray(s_dom @ (WV * centred * centred))
            s2 = dev2 / W * n / (n - 1)
            v_srs = s2 / n if stat != "total" else s2 * W * W / n
            deff = np.where(n > 1, var / v_srs, np.nan)
            n_eff = n / deff
            est = np.where(n > 0, est, np.nan)

        # tidy output: one block of D rows per task
        res = labels.iloc[np.tile(np.arange(D), M)].reset_index(drop=True)
        res["variable"] = np.repeat(np.array([t[0] for t in tasks], dtype=object), D)
        if stat == "proportion":
            res["level"] = pd.Series(np.repeat(np.array([t[1] for t in tasks], dtype=object), D),
                                     dtype=object)
        flat = lambda a: a.T.ravel()  # noqa: E731 - task-major order
        res["estimate"] = flat(est)
        res["se"] = flat(se)
        if ci == "logit":
            with np.errstate(invalid="ignore", divide="ignore"):
                half = crit * se / (est * (1 - est))
                centre = np.log(est / (1 - est))
                lo = np.where((est > 0) & (est < 1), 1 / (1 + np.exp(-(centre - half))), est)
                hi = np.where((est > 0) & (est < 1), 1 / (1 + np.exp(-(centre + half))), est)
        else:
            lo, hi = est - crit * se, est + crit * se
        res["ci_low"] = flat(lo)
        res["ci_high"] = flat(hi)
        res["n"] = flat(n)
        res["n_eff"] = flat(n_eff)
        res["deff"] = flat(deff)
        if stat == "proportion":
            # one block per variable, domains in order, levels within each domain
            var_pos = {v: i for i, v in enumerate(ys)}
            task_var = np.repeat([var_pos[t[0]] for t in tasks], D)
            order = np.lexsort((np.repeat(np.arange(M), D), np.tile(np.arange(D), M), task_var))
            res = res.iloc[order].reset_index(drop=True)
        return res

    def _var_calibrated(self, stat, cell_p, cell_d, T, V, valid, ybar, W, rows, dom, D) -> np.ndarray:
        """Variances (D x M) after replacing each score by ``w (e - X B)`` (calibration)."""
        c = self._calib
        if stat == "total":
            E = V * valid
        else:
            E = np.where(valid > 0, (V - ybar[dom]) / W[dom], 0.0)
        E = np.where(np.isfinite(E), E, 0.0)
        B = np.einsum("kl,ldm->kdm", c.ginv, c.xt_w0(E, rows, dom, D))
        P = int(self._n_h.sum())
        out = np.empty((D, T.shape[1]))
        # one dense P x D matrix per variable, in blocks of domains to bound the memory
        block = max(1, int(_DENSE_CELLS // P))
        for d0 in range(0, D, block):
            d1 = min(D, d0 + block)
            sel = (cell_d >= d0) & (cell_d < d1)
            for j in range(T.shape[1]):
                Td = np.zeros((P, d1 - d0))
                Td[cell_p[sel], cell_d[sel] - d0] = T[sel, j]
                Td -= c.psu_x @ B[:, d0:d1, j]
                out[d0:d1, j] = self._var_dense(Td)
        return out

    def mean(
        self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
        level: float = 0.95, df: Any = None,
    ) -> pd.DataFrame:
        """Design-based mean of each ``y``, overall or by domain (R ``svymean``/``svyby``).

        Parameters
        ----------
        y : str or list of str
            Numeric column(s). Missing values are left out of the domain (R ``na.rm=TRUE``),
            not out of the design.
        by : str or list of str, optional
            Domain column(s); one output row per observed combination (rows with a missing
            ``by`` value belong to no domain).
        level : float, default 0.95
            Confidence level.
        df : None, "design" or float, default None
            ``None``: normal intervals (R ``confint`` default). ``"design"``: Student t with
            ``#PSU - #strata`` degrees of freedom of this design (or subset), the same for
            every domain (R ``confint(svyby(...), df=degf(design))``). A number: t with that df.

        Returns
        -------
        pandas.DataFrame
            By-columns, then ``variable``, ``estimate``, ``se``, ``ci_low``, ``ci_high``,
            ``n`` (unweighted count of non-missing ``y`` in the domain), ``n_eff``
            (``n / deff``), ``deff`` (design effect against simple random sampling *with*
            replacement, R ``svymean(deff="replace")``; R's ``deff=TRUE`` divides by the
            without-replacement SRS variance instead, i.e. multiplies ours by
            ``N_hat / (N_hat - n)``).

        Notes
        -----
        ``ybar_d = sum_d w y / sum_d w``, score ``z_i = 1[i in d] w_i (y_i - ybar_d) / sum_d w``,
        variance as in the class Notes. Matches R ``svymean(~y, design, na.rm=TRUE)`` and
        ``svyby(~y, ~by, design, svymean, na.rm=TRUE)``. ``deff`` uses
        ``v_srs = s^2 / n``, ``s^2 = n/(n-1) sum_d w (y - ybar)^2 / sum_d w`` (R ``svyvar``).
        """
        return self._estimate("mean", y, by, level, df)

    def total(
        self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
        level: float = 0.95, df: Any = None,
    ) -> pd.DataFrame:
        """Design-based total of each ``y``, overall or by domain (R ``svytotal``/``svyby``).

        Parameters and Returns as :meth:`mean`. The score is ``z_i = 1[i in d] w_i y_i``;
        ``deff`` uses ``v_srs = s^2 (sum_d w)^2 / n`` (R ``svytotal(deff="replace")``).
        """
        return self._estimate("total", y, by, level, df)

    def proportion(
        self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
        level: float = 0.95, df: Any = None, ci: ProportionCI = "wald",
    ) -> pd.DataFrame:
        """Design-based proportion of each level of categorical (or 0/1) ``y``.

        The proportion of level ``k`` is the design-based mean of the indicator
        ``1[y = k]`` among rows with non-missing ``y`` in the domain (R
        ``svymean(~factor(y), na.rm=TRUE)``), so its SE is exactly that of the mean of the
        indicator.

        ``ci="wald"`` (default) gives ``p +/- q se`` (R ``confint(svymean(...))``, not clipped
        to [0, 1]); ``ci="logit"`` gives ``expit(logit(p) +/- q se / (p (1 - p)))``, R
        ``svyciprop(method="logit")`` and samplics' interval (both use ``df="design"`` by
        default there; pass ``df="design"`` to match them). A proportion of exactly 0 or 1
        gets the interval ``[p, p]``.

        Returns
        -------
        pandas.DataFrame
            As :meth:`mean` with a ``level`` column after ``variable``; one row per level
            present among the rows of the design (within a domain where a level does not
            occur its estimate is 0).
        """
        return self._estimate("proportion", y, by, level, df, ci)

    # ---- raking ------------------------------------------------------------------------
    def rake(
        self,
        margins: Mapping[str, Mapping[Any, float]],
        *,
        max_iter: int = 100,
        tol: float = 1e-8,
        trim: tuple[float, float] | None = None,
        margin_tol: float = 1e-6,
    ) -> "SurveyDesign":
        """Rake the weights to population margins (iterative proportional fitting).

        Parameters
        ----------
        margins : mapping
            ``{column: {level: population total}}``, e.g.
            ``{"sex": {"F": 5120, "M": 4880}, "community": {...}}``. For a crossing (e.g.
            community x sex) create a combined column first and give its totals.
        max_iter : int, default 100
            Maximum number of full sweeps over the margins.
        tol : float, default 1e-8
            Convergence: every margin level within ``tol`` relative error of its target.
        trim : (lo, hi), optional
            Bounds on the g-weights (final / design weight). After each sweep g is clipped to
            ``[lo, hi]`` and raking continues, so the result meets the margins and the bounds
            if both can be met ("bounded raking"); otherwise a ConvergenceWarning.
        margin_tol : float, default 1e-6
            Largest relative disagreement allowed between the grand totals of the margins.

        Returns
        -------
        SurveyDesign
            A new design with the raked weights; ``.weighting_info`` holds the diagnostics.
            Its standard errors account for the calibration.

        Raises
        ------
        DesignError
            A margin column is missing or has missing values; a sample level is absent from
            the margins; a margin level has no sample row (empty cell); a total is not a
            positive number; grand totals disagree (impossible margins); the design is a
            subset or already calibrated; bad ``trim``.

        Notes
        -----
        Linearisation after calibration (Deville & Sarndal 1992; Lumley 2010, sec. 7.4):
        the score of a statistic becomes ``w_i (e_i - x_i'B)``, where ``w`` are the raked
        weights, ``e_i`` the score per unit weight, ``x_i`` the margin indicators and
        ``B = (X'W_0X)^{-1} X'W_0 e`` the regression weighted by the design weights ``W_0``.
        This is R's ``calibrate(design, ~m1 + m2, population, calfun="raking")`` exactly
        (checked to 9 digits on ``apistrat``), and R's ``postStratify()`` for a single margin.
        R's ``rake()`` gives the same point estimates, and the same standard errors when the
        design weights are equal within margin cells (e.g. R's ``example(rake)`` on
        ``apiclus1``: mean api00 641.23, SE 23.704; total enroll 3,647,280, SE 400,603,
        reproduced here). When weights vary within margin cells R's ``rake()`` differs,
        because its ``svyrecvar`` centres the scores within margin cells *without* weights
        (``apistrat`` raked on sch.wide and awards: total enroll SE 134,121 from ``rake()``
        vs 127,055 from ``calibrate()`` and evalkit); the two are asymptotically equivalent.
        """
        if self._mask is not None:
            raise DesignError("rake() the full design, then subset(): this design is a domain subset.")
        if self._calib is not None:
            raise DesignError(
                "This design is already calibrated; rake the original design once with all "
                "margins together."
            )
        if not isinstance(margins, Mapping) or not margins:
            raise DesignError(
                "margins must be a non-empty mapping {column: {level: population total}}."
            )
        if not (isinstance(max_iter, int) and max_iter >= 1):
            raise DesignError(f"max_iter={max_iter!r} must be a positive integer.")
        if not (isinstance(tol, (int, float)) and tol > 0):
            raise DesignError(f"tol={tol!r} must be a positive number.")
        if trim is not None:
            if (
                not isinstance(trim, (tuple, list)) or len(trim) != 2
                or not all(isinstance(t, (int, float)) and np.isfinite(t) for t in trim)
            ):
                raise DesignError(f"trim={trim!r} must be a pair (lo, hi) of finite numbers.")
            lo_g, hi_g = float(trim[0]), float(trim[1])
            if lo_g <= 0:
                raise DesignError(
                    f"trim lower bound {lo_g} would allow zero or negative weights; use lo > 0."
                )
            if hi_g <= lo_g:
                raise DesignError(f"trim=({lo_g}, {hi_g}) needs lo < hi.")
        w0 = self._w.copy()
        if not (np.all(np.isfinite(w0)) and np.all(w0 > 0)):  # pragma: no cover - guarded at init
            raise DesignError("Raking needs positive weights.")

        codes_list, targets_list, levels_list, names = [], [], [], []
        for col, spec in margins.items():
            if not isinstance(col, str) or col not in self._data.columns:
                raise DesignError(f"Margin {col!r} is not a column of the design's data.")
            if not isinstance(spec, Mapping) or not spec:
                raise DesignError(
                    f"Margin {col!r} must map each level to its population total, e.g. "
                    f"{{'F': 5120, 'M': 4880}}."
                )
            s = self._data[col]
            if s.isna().any():
                first = int(np.flatnonzero(s.isna().to_numpy())[0])
                raise DesignError(
                    f"Margin column {col!r} has {int(s.isna().sum())} missing value(s); first at "
                    f"{_row_label(self._data, first)}. Impute or drop them before raking."
                )
            levels = pd.Index(list(spec.keys()))
            totals = []
            for lev, t in spec.items():
                ok = isinstance(t, (int, float, np.integer, np.floating)) and not isinstance(t, bool)
                if not ok or not np.isfinite(t) or t <= 0:
                    raise DesignError(
                        f"Population total of {col!r} level {lev!r} is {t!r}; each margin total "
                        f"must be a finite number > 0 (drop a level that does not exist)."
                    )
                totals.append(float(t))
            codes = np.asarray(levels.get_indexer(s.astype(object) if levels.dtype == object else s))
            if (codes < 0).any():
                missing = pd.unique(s[codes < 0].astype(object))
                counts = s[codes < 0].astype(object).value_counts()
                raise DesignError(
                    f"Sample level(s) of {col!r} absent from the margins: "
                    + ", ".join(f"{m!r} ({counts[m]} rows)" for m in missing[:10])
                    + f". Give their population totals in margins[{col!r}] or recode them."
                )
            counts = np.bincount(codes, minlength=len(levels))
            empty = np.flatnonzero(counts == 0)
            if empty.size:
                raise DesignError(
                    f"Margin level(s) of {col!r} with no sample row (empty cell): "
                    + ", ".join(repr(levels[int(j)]) for j in empty)
                    + ". Raking cannot reach them: collapse them with a neighbouring level."
                )
            codes_list.append(codes)
            targets_list.append(np.asarray(totals))
            levels_list.append(levels)
            names.append(col)
        grand = np.array([t.sum() for t in targets_list])
        if grand.max() / grand.min() - 1 > margin_tol:
            detail = ", ".join(f"{c!r}: {g:,.6g}" for c, g in zip(names, grand))
            raise DesignError(
                f"The margins' grand totals disagree ({detail}); no weights can meet them all "
                f"(impossible margins). Make every margin sum to the same population size."
            )

        # iterative proportional fitting
        w = w0.copy()
        converged = False
        err = np.inf
        it = 0
        for it in range(1, max_iter + 1):
            for codes, t in zip(codes_list, targets_list):
                cur = np.bincount(codes, weights=w, minlength=t.size)
                w = w * (t / cur)[codes]
            if trim is not None:
                w = w0 * np.clip(w / w0, lo_g, hi_g)
            err = max(
                float(np.max(np.abs(np.bincount(c, weights=w, minlength=t.size) / t - 1)))
                for c, t in zip(codes_list, targets_list)
            )
            if err < tol:
                converged = True
                break
        if not converged:
            warnings.warn(
                f"Raking did not converge after {it} iterations: the largest relative margin "
                f"error is {err:.3g} (tol={tol:g})"
                + (f"; the trim bounds {trim} may be too tight" if trim is not None else "")
                + ". See .weighting_info; raise max_iter or relax trim.",
                ConvergenceWarning,
                stacklevel=2,
            )

        # diagnostics
        rows_out = []
        for col, codes, t, levs in zip(names, codes_list, targets_list, levels_list):
            ach = np.bincount(codes, weights=w, minlength=t.size)
            for j, lev in enumerate(levs):
                rows_out.append((col, lev, t[j], ach[j], ach[j] / t[j] - 1))
        table = pd.DataFrame(rows_out, columns=["variable", "level", "target", "achieved", "rel_error"])
        g = w / w0
        n_trim = 0 if trim is None else int(np.sum(np.isclose(g, lo_g) | np.isclose(g, hi_g)))
        info = WeightingInfo(
            method="rake", converged=converged, iterations=it, max_rel_error=float(err),
            g_min=float(g.min()), g_max=float(g.max()), n_trimmed=n_trim,
            trim=None if trim is None else (lo_g, hi_g), margins=table,
        )

        # calibration regression: X (reference coding), G = X'W0X, PSU totals of wX
        sizes = tuple(t.size for t in targets_list)
        keep = tuple([True] + [False] * (len(sizes) - 1))
        P = int(self._n_h.sum())
        blocks_G = []
        for a, (ca, ka, kpa) in enumerate(zip(codes_list, sizes, keep)):
            row = []
            for cb, kb, kpb in zip(codes_list, sizes, keep):
                m = np.bincount(ca * kb + cb, weights=w0, minlength=ka * kb).reshape(ka, kb)
                m = m if kpa else m[1:]
                m = m if kpb else m[:, 1:]
                row.append(m)
            blocks_G.append(row)
        G = np.block(blocks_G)
        dscale = 1.0 / np.sqrt(np.diag(G))
        ginv = dscale[:, None] * sla.pinvh(G * np.outer(dscale, dscale), rtol=1e-10) * dscale[None, :]
        psu_blocks = []
        for c, k, kp in zip(codes_list, sizes, keep):
            m = np.bincount(self._p * k + c, weights=w, minlength=P * k).reshape(P, k)
            psu_blocks.append(m if kp else m[:, 1:])
        calib = _Calibration(
            codes=tuple(codes_list), sizes=sizes, keep_first=keep, w0=w0, ginv=ginv,
            psu_x=np.hstack(psu_blocks),
        )
        w.setflags(write=False)
        return self._replace(_w=w, _calib=calib, _info=info)
