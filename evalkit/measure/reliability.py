"""Internal-consistency reliability of multi-item scales: alpha, omega, item analysis.

One function, one statistic, one tidy DataFrame out:

- :func:`cronbach_alpha` — raw and standardised coefficient alpha with Feldt's
  confidence interval, on the pairwise-complete covariance matrix as R's
  ``psych::alpha`` computes it (listwise on request).
- :func:`omega_total` — McDonald's omega total from a one-factor
  maximum-likelihood model, on the covariance metric.
- :func:`one_factor` — the loadings and uniquenesses of that model, one row per item.
- :func:`item_rest` — item–rest (corrected item–total) correlations and
  alpha-if-item-deleted, one row per item.
- :func:`reliability` — alpha, its CI and omega for every scale of a codebook
  (or a mapping), by group, flagging alphas below a threshold.
- :func:`feldt_ci` — the Feldt (1965) interval on its own.

Reverse-keying: pass ``reverse=[...]`` (and, to check the answers and keep item
means on the answer scale, ``item_min``/``item_max``); a reversed answer is
``item_min + item_max - x``. Alpha, omega and the correlations do not depend on
the constant used, only on the sign flip.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._literals import MissingPolicy, check_choice
from ..errors import (
    ConvergenceWarning,
    EstimationError,
    EvalkitError,
    ReliabilityWarning,
    SmallSampleWarning,
)

__all__ = [
    "ReliabilityWarning",
    "cronbach_alpha",
    "feldt_ci",
    "item_rest",
    "omega_total",
    "one_factor",
    "reliability",
]

#: Lower bound of a standardised uniqueness in the ML factor fit (as R's ``factanal``).
_PSI_LOWER = 0.005



# ---------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------


def _as_frame(items: Any, func: str) -> pd.DataFrame:
    if isinstance(items, pd.DataFrame):
        return items
    if isinstance(items, np.ndarray) and items.ndim == 2:
        return pd.DataFrame(items, columns=[f"item{j + 1}" for j in range(items.shape[1])])
    raise EvalkitError(
        f"{func}: items must be a pandas DataFrame with one column per item "
        f"(got {type(items).__name__}). Select the item columns, e.g. df[['q1', 'q2', 'q3']]."
    )


def _prepare(
    items: Any,
    func: str,
    reverse: Iterable[str] | None,
    item_min: float | None,
    item_max: float | None,
    min_items: int = 2,
) -> tuple[np.ndarray, list[str], list[str]]:
    """Check the item frame, reverse-key, and return (float matrix, names, reversed names)."""
    df = _as_frame(items, func)
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise EvalkitError(f"{func}: item columns must be unique; repeated: {dup}.")
    k = len(names)
    if k < min_items:
        got = f" ({names[0]!r})" if k == 1 else ""
        raise EvalkitError(
            f"{func} needs at least {min_items} items; got {k}{got}. A single item has no internal "
            "consistency to estimate: pass all the items of the scale (one column each)."
        )
    bad = [c for c in df.columns if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
    if bad:
        raise EvalkitError(
            f"{func}: item columns must be numeric; {', '.join(repr(str(c)) for c in bad)} "
            f"{'is' if len(bad) == 1 else 'are'} {df[bad[0]].dtype}. Convert the answer codes first, "
            "e.g. df[col] = pd.to_numeric(df[col], errors='coerce') after mapping labels to codes."
        )
    X = np.array(df.to_numpy(dtype="float64", na_value=np.nan), dtype="float64", copy=True)
    if X.size and np.isinf(X).any():
        j = int(np.where(np.isinf(X).any(axis=0))[0][0])
        raise EvalkitError(f"{func}: item {names[j]!r} contains infinite values; recode them as missing (NaN).")

    if (item_min is None) != (item_max is None):
        raise EvalkitError(f"{func}: give both item_min and item_max (the answer range), or neither.")
    if item_min is not None:
        lo, hi = float(item_min), float(item_max)
        if not lo < hi:
            raise EvalkitError(f"{func}: item_min={item_min} must be below item_max={item_max}.")
        out = (X < lo) | (X > hi)
        if out.any():
            j = int(np.where(out.any(axis=0))[0][0])
            vals = sorted(set(X[out[:, j], j].tolist()))[:5]
            raise EvalkitError(
                f"{func}: item {names[j]!r} has values {vals} outside the answer range "
                f"[{item_min:g}, {item_max:g}]. Recode missing-value codes (e.g. 98, 99) to NaN "
                "before computing reliability, or correct item_min/item_max."
            )

    rev = [] if reverse is None else [str(r) for r in ([reverse] if isinstance(reverse, str) else reverse)]
    unknown = [r for r in rev if r not in names]
    if unknown:
        raise EvalkitError(
            f"{func}: reverse-keyed item(s) {unknown} are not among the item columns {names}."
        )
    if rev:
        if item_min is None:
            # psych::alpha: reverse with (min + max) of all observed answers. The constant does
            # not change alpha, omega or any correlation, only the reversed item's mean.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi = np.nanmin(X), np.nanmax(X)
        idx = [names.index(r) for r in rev]
        X[:, idx] = (lo + hi) - X[:, idx]
    return X, names, rev


def _pairwise_cov(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Covariances from pairwise-complete observations, by masked matrix products.

    Element (i, j) equals ``pandas.DataFrame.cov()`` / R's ``cov(x, use="pairwise")``:
    the sample covariance (divisor n_ij - 1) over rows where both items are answered,
    each mean taken over those same rows. Returns (C, N) with N[i, j] = n_ij.
    """
    M = ~np.isnan(X)
    Mf = M.astype("float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(X, axis=0)  # any constant per column works; this one limits cancellation
    centre = np.where(np.isnan(centre), 0.0, centre)
    Xc = np.where(M, X - centre, 0.0)
    N = Mf.T @ Mf                       # n_ij: rows answering both i and j
    S = Xc.T @ Mf                       # S[i, j] = sum of x_i over rows answering i and j
    P = Xc.T @ Xc                       # sum of x_i x_j over rows answering i and j
    with np.errstate(divide="ignore", invalid="ignore"):
        C = (P - S * S.T / N) / (N - 1)
    C[N < 2] = np.nan
    return C, N


def _covariance(X: np.ndarray, method: str) -> tuple[np.ndarray, int, np.ndarray]:
    """(C, n, X_used): the covariance matrix, the n used for the CI, the rows used."""
    if method == "listwise":
        Xu = X[~np.isnan(X).any(axis=1)]
        n = Xu.shape[0]
        C = np.cov(Xu, rowvar=False) if n >= 2 else np.full((X.shape[1],) * 2, np.nan)
        return np.atleast_2d(C), n, Xu
    Xu = X[~np.isnan(X).all(axis=1)]
    C, _ = _pairwise_cov(Xu)
    return C, Xu.shape[0], Xu


def _degenerate(C: np.ndarray) -> np.ndarray:
    """Items without variance: variance zero (to rounding) or undefined (fewer than 2 answers)."""
    d = np.diag(C)
    scale = np.nanmax(np.abs(d)) if np.isfinite(d).any() else 1.0
    return ~np.isfinite(d) | (d <= 1e-12 * max(scale, 1.0))


def _alpha_stats(C: np.ndarray) -> tuple[float, float, float]:
    """psych::alpha's alpha.1: raw alpha, standardised alpha, average inter-item r."""
    k = C.shape[0]
    total = C.sum()
    raw = (1.0 - np.trace(C) / total) * k / (k - 1) if total != 0 else math.nan
    d = np.sqrt(np.diag(C))
    with np.errstate(divide="ignore", invalid="ignore"):
        R = C / np.outer(d, d)
    sum_r = R.sum()
    std = (1.0 - k / sum_r) * k / (k - 1)
    av_r = (sum_r - k) / (k * (k - 1))
    return float(raw), float(std), float(av_r)


def feldt_ci(alpha: float, n: int, k: int, ci: float = 0.95) -> tuple[float, float]:
    """Feldt's confidence interval for coefficient alpha.

    Parameters
    ----------
    alpha : float
        Sample coefficient alpha.
    n : int
        Number of respondents.
    k : int
        Number of items.
    ci : float
        Confidence level, e.g. 0.95.

    Returns
    -------
    (ci_low, ci_high) : tuple of float
        NaN when ``alpha`` is NaN or ``n < 2``.

    Notes
    -----
    Under the usual normal model, :math:`(1-\\hat\\alpha)/(1-\\alpha)` follows an
    F distribution with :math:`n-1` and :math:`(n-1)(k-1)` degrees of freedom
    (Feldt 1965; Feldt, Woodruff & Salih 1987, eq. 2), so

    .. math:: [1-(1-\\hat\\alpha)F_{1-p/2},\\; 1-(1-\\hat\\alpha)F_{p/2}],\\quad p = 1-\\mathrm{ci}.

    This is R's ``psych::alpha.ci(alpha, n.obs, n.var)`` (the "Feldt" row printed by
    ``psych::alpha``) and pingouin's ``cronbach_alpha`` interval (which rounds to 3 decimals).

    Examples
    --------
    >>> lo, hi = feldt_ci(0.79, n=41, k=26, ci=0.90)
    >>> round(lo, 3), round(hi, 3)
    (0.705, 0.862)
    """
    if not 0.0 < ci < 1.0:
        raise EvalkitError(f"ci={ci!r} must be a confidence level strictly between 0 and 1, e.g. 0.95.")
    if not np.isfinite(alpha) or n < 2 or k < 2:
        return math.nan, math.nan
    p = 1.0 - ci
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lo = 1.0 - (1.0 - alpha) * stats.f.ppf(1.0 - p / 2.0, df1, df2)
    hi = 1.0 - (1.0 - alpha) * stats.f.ppf(p / 2.0, df1, df2)
    return float(lo), float(hi)


# ---------------------------------------------------------------------------
# Cronbach's alpha
# ---------------------------------------------------------------------------


def cronbach_alpha(
    items: pd.DataFrame,
    *,
    method: MissingPolicy = "pairwise",
    ci: float = 0.95,
    reverse: Sequence[str] | None = None,
    item_min: float | None = None,
    item_max: float | None = None,
    delete: bool = True,
) -> pd.DataFrame:
    """Cronbach's coefficient alpha with Feldt's confidence interval.

    Parameters
    ----------
    items : DataFrame
        One numeric column per item, one row per respondent; NaN = not answered.
    method : {"pairwise", "listwise"}
        ``"pairwise"`` (default, as ``psych::alpha(use="pairwise")``): each covariance
        from the respondents answering both items. ``"listwise"``: only respondents
        answering every item (``psych::alpha(use="complete.obs")``).
    ci : float
        Confidence level of the Feldt interval.
    reverse : list of str, optional
        Items to reverse-key first (``item_min + item_max - x``). Leave out if the
        caller already reversed them.
    item_min, item_max : float, optional
        The answer range. When given, answers outside it raise an error (an
        unconverted missing-value code, say). Without them a reversal uses the
        smallest and largest observed answer, as psych does; alpha is the same either way.
    delete : bool
        As psych's ``delete``: drop items without variance (constant, or fewer than
        two answers) with a :class:`ReliabilityWarning`. With ``False`` they stay, the
        raw alpha counts them in k, and std_alpha/average_r are NaN.

    Returns
    -------
    DataFrame
        One row with columns

        - ``alpha``: raw coefficient alpha (psych's ``raw_alpha``)
        - ``ci_low``, ``ci_high``: Feldt interval at level ``ci``
        - ``n``: respondents used (see Notes)
        - ``k``: items used
        - ``std_alpha``: alpha of the standardised items (psych's ``std.alpha``)
        - ``average_r``: mean inter-item correlation (psych's ``average_r``)
        - ``method``: the missing-data policy

    Raises
    ------
    EvalkitError
        Fewer than two items, non-numeric items, answers outside ``[item_min, item_max]``.
    EstimationError
        Fewer than two usable items or respondents.

    Notes
    -----
    With :math:`C` the k × k item covariance matrix (Cronbach 1951),

    .. math:: \\alpha = \\frac{k}{k-1}\\Big(1 - \\frac{\\operatorname{tr} C}{\\mathbf 1' C \\mathbf 1}\\Big),

    exactly psych::alpha's ``alpha.1`` (Revelle, R package psych): ``raw = (1 - tr(C)/sum(C)) *
    k/(k-1)``. With :math:`R` the correlation matrix from :math:`C`,
    ``std_alpha = k/(k-1) * (1 - k/sum(R))`` and ``average_r = (sum(R) - k)/(k(k-1))``.

    Pairwise :math:`C` is computed without looping over pairs: with the answered-mask
    :math:`M` and zero-filled centred data :math:`X`, :math:`N = M'M`, :math:`S = X'M`,
    :math:`P = X'X` and :math:`C = (P - S \\circ S' / N) / (N - 1)`, which is R's
    ``cov(x, use="pairwise")`` and pandas' ``DataFrame.cov()``.

    The Feldt interval (Feldt, Woodruff & Salih 1987; see :func:`feldt_ci`) needs one n.
    Here **n is the number of respondents who answered at least one item** (pairwise) or
    every item (listwise). psych and pingouin use ``nrow(x)``, which also counts rows
    with no answer at all; the two agree whenever no row is entirely missing.
    Under listwise deletion both psych (``use="complete.obs"``) and pingouin
    (``nan_policy="listwise"``) still pass ``nrow(x)``, incomplete rows included, to the
    Feldt interval; evalkit uses the complete rows actually analysed, so its listwise
    interval is wider (and honest about the data used) while alpha itself is identical.

    Examples
    --------
    >>> import pandas as pd
    >>> x = pd.DataFrame({"q1": [1, 2, 3, 4, 5], "q2": [2, 2, 3, 5, 5], "q3": [1, 3, 3, 4, 4]})
    >>> res = cronbach_alpha(x)
    >>> round(float(res["alpha"].iloc[0]), 4), int(res["n"].iloc[0]), int(res["k"].iloc[0])
    (0.9538, 5, 3)
    """
    method = check_choice(method, MissingPolicy, "method")
    if not 0.0 < ci < 1.0:
        raise EvalkitError(f"ci={ci!r} must be a confidence level strictly between 0 and 1, e.g. 0.95.")
    X, names, _ = _prepare(items, "cronbach_alpha", reverse, item_min, item_max)
    C, n, _ = _covariance(X, method)
    if n < 2:
        raise EstimationError(
            f"cronbach_alpha: {n} respondent(s) {'answered every item' if method == 'listwise' else 'answered'}; "
            "alpha needs at least 2" + (" (try method='pairwise')." if method == "listwise" else ".")
        )
    bad = _degenerate(C)
    if bad.any() and delete:
        dropped = [names[j] for j in np.where(bad)[0]]
        warnings.warn(
            f"cronbach_alpha: item(s) {dropped} have no variance ({method} data) and were dropped, "
            "as psych::alpha(delete=TRUE) does; k counts the remaining items. "
            "Check the coding of these items.",
            ReliabilityWarning,
            stacklevel=2,
        )
        keep = ~bad
        X, names = X[:, keep], [nm for nm, kp in zip(names, keep) if kp]
        if len(names) < 2:
            raise EstimationError(
                f"cronbach_alpha: fewer than 2 items with variance remain ({names}); alpha is undefined."
            )
        C, n, _ = _covariance(X, method)
    k = len(names)
    if n < 2:
        raise EstimationError(
            f"cronbach_alpha: {n} respondent(s) {'answered every item' if method == 'listwise' else 'answered'}; "
            "alpha needs at least 2" + (" (try method='pairwise')." if method == "listwise" else ".")
        )
    if n < k + 1:
        warnings.warn(
            f"cronbach_alpha: only n={n} respondents for k={k} items; alpha is very unstable below n = k + 1.",
            SmallSampleWarning,
            stacklevel=2,
        )
    alpha, std_alpha, average_r = _alpha_stats(C)
    lo, hi = feldt_ci(alpha, n, k, ci)
    return pd.DataFrame(
        {
            "alpha": [alpha],
            "ci_low": [lo],
            "ci_high": [hi],
            "n": [n],
            "k": [k],
            "std_alpha": [std_alpha],
            "average_r": [average_r],
            "method": [method],
        }
    )


# ---------------------------------------------------------------------------
# item analysis
# ---------------------------------------------------------------------------


def item_rest(
    items: pd.DataFrame,
    *,
    method: MissingPolicy = "pairwise",
    reverse: Sequence[str] | None = None,
    item_min: float | None = None,
    item_max: float | None = None,
) -> pd.DataFrame:
    """Item–rest correlations and alpha if each item is deleted, one row per item.

    Parameters
    ----------
    items : DataFrame
        One numeric column per item (at least two).
    method : {"pairwise", "listwise"}
        Missing-data policy of the covariance matrix, as in :func:`cronbach_alpha`.
    reverse, item_min, item_max
        Reverse-keying, as in :func:`cronbach_alpha`.

    Returns
    -------
    DataFrame
        One row per item with columns

        - ``item``: column name
        - ``reversed``: whether it was reverse-keyed here
        - ``n``: respondents answering it (among those used)
        - ``mean``, ``sd``: after reverse-keying
        - ``r_rest``: correlation of the item with the sum of the other items
          (corrected item–total correlation; psych's ``r.drop``)
        - ``alpha_if_deleted``: raw alpha of the other k - 1 items (psych's
          ``alpha.drop$raw_alpha``); NaN when k = 2
        - ``std_alpha_if_deleted``: standardised alpha of the other items

    Notes
    -----
    All from the covariance matrix :math:`C` (pairwise by default), without refitting:
    with row sums :math:`c_i = \\sum_j C_{ij}` and total :math:`T = \\mathbf 1'C\\mathbf 1`,
    the rest score's variance is :math:`T - 2c_i + C_{ii}` and its covariance with item
    *i* is :math:`c_i - C_{ii}`, so

    .. math:: r_{i,\\text{rest}} = \\frac{c_i - C_{ii}}{\\sqrt{C_{ii}(T - 2c_i + C_{ii})}},\\qquad
              \\alpha_{-i} = \\frac{k-1}{k-2}\\Big(1 - \\frac{\\operatorname{tr}C - C_{ii}}{T - 2c_i + C_{ii}}\\Big).

    These are psych::alpha's ``r.drop`` and ``alpha.drop`` (Revelle). With complete
    data, ``r_rest`` equals the Pearson correlation of the item with the rest sum.

    Examples
    --------
    >>> import pandas as pd
    >>> x = pd.DataFrame({"q1": [1, 2, 3, 4, 5], "q2": [2, 2, 3, 5, 5], "q3": [1, 3, 3, 4, 4]})
    >>> item_rest(x)[["item", "r_rest"]].round(3)
      item  r_rest
    0   q1   0.970
    1   q2   0.903
    2   q3   0.870
    """
    method = check_choice(method, MissingPolicy, "method")
    X, names, rev = _prepare(items, "item_rest", reverse, item_min, item_max)
    C, n, Xu = _covariance(X, method)
    k = len(names)
    d = np.diag(C)
    c = C.sum(axis=1)
    T = C.sum()
    v_rest = T - 2.0 * c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        r_rest = (c - d) / np.sqrt(d * v_rest)
        sd = np.sqrt(d)
        R = C / np.outer(sd, sd)
        if k > 2:
            a_drop = (k - 1) / (k - 2) * (1.0 - (np.trace(C) - d) / v_rest)
            sum_r_drop = R.sum() - 2.0 * R.sum(axis=1) + 1.0
            s_drop = (k - 1) / (k - 2) * (1.0 - (k - 1) / sum_r_drop)
        else:
            a_drop = s_drop = np.full(k, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(Xu, axis=0) if Xu.shape[0] else np.full(k, np.nan)
    return pd.DataFrame(
        {
            "item": names,
            "reversed": [nm in rev for nm in names],
            "n": (~np.isnan(Xu)).sum(axis=0).astype("int64"),
            "mean": means,
            "sd": sd,
            "r_rest": r_rest,
            "alpha_if_deleted": a_drop,
            "std_alpha_if_deleted": s_drop,
        }
    )


# ---------------------------------------------------------------------------
# one-factor model and omega
# ---------------------------------------------------------------------------


def _ml_one_factor(R: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """Maximum-likelihood one-factor fit of a correlation matrix.

    Concentrated ML criterion of Jöreskog (1967) as in R's ``factanal``: for given
    uniquenesses Ψ, the best loading is the leading eigenvector of Ψ^-1/2 R Ψ^-1/2 scaled
    by sqrt(θ_1 - 1), and F(Ψ) = Σ_{j≥2} (θ_j - log θ_j) - (k - 1) over the other
    eigenvalues θ_j. F is minimised over Ψ in [0.005, 1] by a projected Newton method
    (analytic gradient diag(ΛΛ' + Ψ - R)/Ψ², Hessian by differencing the gradient,
    Armijo backtracking). Written in numpy rather than with scipy's L-BFGS-B, whose BLAS
    thread pool contends with numpy's on small problems (50x slower on 2 cores).
    Returns (loadings, uniquenesses, converged, heywood).
    """
    k = R.shape[0]
    lower, upper = _PSI_LOWER, 1.0
    diag_r = np.diag(R)

    def eig(psi):
        s = 1.0 / np.sqrt(psi)
        return np.linalg.eigh(R * np.outer(s, s))

    def fun(psi):
        rest = np.linalg.eigvalsh(R * np.outer(1.0 / np.sqrt(psi), 1.0 / np.sqrt(psi)))[:-1]
        if np.any(rest <= 0):
            return math.inf
        return float(np.sum(rest - np.log(rest)) - (k - 1))

    def loadings(psi):
        w, V = eig(psi)
        return np.sqrt(psi) * V[:, -1] * math.sqrt(max(w[-1] - 1.0, 0.0))

    def grad(psi):
        lam = loadings(psi)
        return (lam**2 + psi - diag_r) / psi**2

    def projected(psi, g):
        g = g.copy()
        g[((psi <= lower) & (g > 0)) | ((psi >= upper) & (g < 0))] = 0.0
        return g

    psi = np.clip((1.0 - 0.5 / k) / np.diag(np.linalg.inv(R)), lower, upper)
    f = fun(psi)
    converged = False
    for _ in range(500):
        g = grad(psi)
        pg = projected(psi, g)
        if float(np.max(np.abs(pg))) < 1e-10:
            converged = True
            break
        free = pg != 0.0
        step = np.zeros(k)
        # Hessian of F on the free coordinates by forward differences of the gradient
        idx = np.where(free)[0]
        H = np.empty((idx.size, idx.size))
        for col, j in enumerate(idx):
            h = 1e-7 * max(psi[j], 1e-3)
            e = psi.copy()
            e[j] = psi[j] - h if psi[j] + h > upper else psi[j] + h
            H[:, col] = (grad(e)[idx] - g[idx]) / (e[j] - psi[j])
        H = (H + H.T) / 2.0
        try:
            d = -np.linalg.solve(H, g[idx])
            if not np.all(np.isfinite(d)) or d @ g[idx] >= 0:
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            d = -g[idx]
        step[idx] = d
        t = 1.0
        while True:
            cand = np.clip(psi + t * step, lower, upper)
            fc = fun(cand)
            if fc <= f + 1e-4 * float(g @ (cand - psi)) or t < 1e-12:
                break
            t /= 2.0
        if t < 1e-12 or not np.isfinite(fc):
            # no descent along the Newton direction: try a projected gradient step once
            cand = np.clip(psi - 1e-3 * pg / max(float(np.max(np.abs(pg))), 1e-300), lower, upper)
            fc = fun(cand)
            if not fc < f:
                converged = float(np.max(np.abs(pg))) < 1e-6
                break
        if abs(f - fc) < 1e-15 * max(1.0, abs(f)) and float(np.max(np.abs(cand - psi))) < 1e-12:
            psi, f = cand, fc
            converged = float(np.max(np.abs(projected(psi, grad(psi))))) < 1e-6
            break
        psi, f = cand, fc
    lam = loadings(psi)
    if lam.sum() < 0:
        lam = -lam
    heywood = bool(np.any(psi <= lower * (1 + 1e-6)))
    return lam, psi, converged, heywood


def _fit_one_factor(C: np.ndarray, names: list[str], func: str):
    """(raw loadings, raw uniquenesses, std loadings, std uniquenesses, messages)."""
    k = C.shape[0]
    if k < 3:
        raise EstimationError(
            f"{func}: a one-factor model needs at least 3 items to be identified; got {k} ({names}). "
            "With two items report alpha (or the Spearman–Brown coefficient) instead."
        )
    if not np.isfinite(C).all():
        raise EstimationError(f"{func}: the covariance matrix has undefined entries (items {names} share too few answers).")
    sd = np.sqrt(np.diag(C))
    if np.any(sd <= 0):
        bad = [nm for nm, s in zip(names, sd) if s <= 0]
        raise EstimationError(f"{func}: item(s) {bad} have no variance; drop them before fitting the factor model.")
    R = C / np.outer(sd, sd)
    if np.linalg.eigvalsh(R)[0] <= 1e-10:
        raise EstimationError(
            f"{func}: the item correlation matrix is not positive definite (pairwise deletion, or a "
            "duplicated item); use method='listwise' or remove the redundant item."
        )
    lam_s, psi_s, ok, heywood = _ml_one_factor(R)
    msgs = []
    if not ok:
        msgs.append(("the one-factor ML fit did not converge", ConvergenceWarning))
    if heywood:
        at = [nm for nm, p in zip(names, psi_s) if p <= _PSI_LOWER * (1 + 1e-6)]
        msgs.append((f"Heywood case: uniqueness of {at} at its lower bound {_PSI_LOWER}", ReliabilityWarning))
    return lam_s * sd, psi_s * sd**2, lam_s, psi_s, msgs


def one_factor(
    items: pd.DataFrame,
    *,
    method: MissingPolicy = "pairwise",
    reverse: Sequence[str] | None = None,
    item_min: float | None = None,
    item_max: float | None = None,
) -> pd.DataFrame:
    """Loadings of a single common factor fitted by maximum likelihood, one row per item.

    Parameters
    ----------
    items : DataFrame
        One numeric column per item (at least three).
    method : {"pairwise", "listwise"}
        Missing-data policy of the covariance matrix.
    reverse, item_min, item_max
        Reverse-keying, as in :func:`cronbach_alpha`.

    Returns
    -------
    DataFrame
        One row per item: ``item``, ``loading`` and ``uniqueness`` on the covariance
        metric (answer units), ``std_loading`` and ``std_uniqueness`` on the correlation
        metric (``std_uniqueness = 1 - std_loading**2`` at an interior optimum).

    Notes
    -----
    Maximum likelihood on the correlation matrix as R's ``factanal(covmat=R, factors=1)``
    (Jöreskog 1967 concentrated criterion, uniquenesses bounded below by 0.005). ML is
    scale invariant, so the covariance-metric solution is the standardised one rescaled
    by the item standard deviations: :math:`\\lambda_i = \\lambda^*_i s_i`,
    :math:`\\psi_i = \\psi^*_i s_i^2`. Loadings are signed so that their sum is positive.

    With ``method="listwise"`` this reproduces ``factanal`` on ``na.omit(x)`` (tested on
    psych's bfi). With ``"pairwise"`` the correlation matrix is ``cov2cor`` of the pairwise
    covariance matrix (the matrix alpha uses), whereas ``psych::fa`` correlates each pair
    on its own complete rows (``cor(x, use="pairwise")``); loadings then differ in the
    third decimal on bfi.
    """
    method = check_choice(method, MissingPolicy, "method")
    X, names, _ = _prepare(items, "one_factor", reverse, item_min, item_max, min_items=3)
    C, _, _ = _covariance(X, method)
    lam, psi, lam_s, psi_s, msgs = _fit_one_factor(C, names, "one_factor")
    for m, cls in msgs:
        warnings.warn(f"one_factor: {m}.", cls, stacklevel=2)
    return pd.DataFrame(
        {"item": names, "loading": lam, "uniqueness": psi, "std_loading": lam_s, "std_uniqueness": psi_s}
    )


def _omega(lam: np.ndarray, psi: np.ndarray) -> float:
    s2 = lam.sum() ** 2
    return float(s2 / (s2 + psi.sum()))


def omega_total(
    items: pd.DataFrame,
    *,
    method: MissingPolicy = "pairwise",
    reverse: Sequence[str] | None = None,
    item_min: float | None = None,
    item_max: float | None = None,
) -> pd.DataFrame:
    """McDonald's omega total from a one-factor model.

    Parameters
    ----------
    items : DataFrame
        One numeric column per item (at least three: a one-factor model with two
        items is not identified).
    method : {"pairwise", "listwise"}
        Missing-data policy of the covariance matrix, as in :func:`cronbach_alpha`.
    reverse, item_min, item_max
        Reverse-keying, as in :func:`cronbach_alpha`.

    Returns
    -------
    DataFrame
        One row: ``omega_total``, ``n`` (respondents used, as in :func:`cronbach_alpha`),
        ``k``, ``method``.

    Warns
    -----
    ReliabilityWarning
        Heywood case (a uniqueness at its lower bound): omega is then an upper-end value.
    ConvergenceWarning
        The ML fit did not converge.

    Notes
    -----
    The congeneric model :math:`x_i = \\mu_i + \\lambda_i F + e_i`, :math:`\\operatorname{var}F = 1`,
    :math:`\\operatorname{var} e_i = \\psi_i`, is fitted by maximum likelihood (see
    :func:`one_factor`) to the item covariance matrix (pairwise by default), and

    .. math:: \\omega_t = \\frac{(\\sum_i \\lambda_i)^2}{(\\sum_i \\lambda_i)^2 + \\sum_i \\psi_i}

    on the **covariance metric** (raw answer units: the reliability of the unweighted
    sum score), with the model-implied total variance in the denominator — McDonald
    (1999, *Test Theory: A Unified Treatment*, eq. 6.20b). For tau-equivalent items
    (equal :math:`\\lambda_i`) it equals coefficient alpha in the population; for
    congeneric items alpha is a lower bound.

    This is the one-factor omega commonly reported as "omega total" for a unidimensional
    scale. It is *not* psych::omega's ``omega.tot``, which fits a Schmid–Leiman bifactor
    solution (three group factors by default) to the correlation matrix and divides by
    the observed total variance; for a clearly unidimensional short scale the two are
    close, but they are different estimators.
    """
    method = check_choice(method, MissingPolicy, "method")
    X, names, _ = _prepare(items, "omega_total", reverse, item_min, item_max, min_items=3)
    C, n, _ = _covariance(X, method)
    if n < 2:
        raise EstimationError(f"omega_total: {n} respondent(s) usable under method={method!r}; need at least 2.")
    lam, psi, _, _, msgs = _fit_one_factor(C, names, "omega_total")
    for m, cls in msgs:
        warnings.warn(f"omega_total: {m}.", cls, stacklevel=2)
    return pd.DataFrame({"omega_total": [_omega(lam, psi)], "n": [n], "k": [len(names)], "method": [method]})


# ---------------------------------------------------------------------------
# many scales, by group
# ---------------------------------------------------------------------------


def _scale_specs(scales: Any, columns: pd.Index) -> list[dict]:
    """Normalise ``scales`` to a list of {name, items, reverse, item_min, item_max}.

    Accepts a mapping name -> list of columns, a mapping name -> object with ``.items``
    (and optionally ``.reverse_items``, ``.item_min``, ``.item_max``) or name -> dict with
    the same keys, or an object with
    such a ``.scales`` mapping (an evalkit Codebook). Codebook scales with fewer than two
    items (single items, composites of scales) are skipped, and so are codebook scales
    none of whose items are in the data.
    """
    from_codebook = not isinstance(scales, Mapping) and hasattr(scales, "scales")
    mapping = scales.scales if from_codebook else scales
    if not isinstance(mapping, Mapping):
        raise EvalkitError(
            "reliability: scales must be a mapping {scale name: [item columns]} or an evalkit Codebook "
            f"(an object with a .scales mapping); got {type(scales).__name__}."
        )
    cols = {str(c) for c in columns}
    specs = []
    for name, sc in mapping.items():
        if isinstance(sc, str):
            raise EvalkitError(f"reliability: scale {name!r} must list its item columns, got the string {sc!r}.")
        if isinstance(sc, Mapping):  # {"items": [...], "reverse_items": [...], "item_min": .., "item_max": ..}
            if "items" not in sc:
                raise EvalkitError(f"reliability: scale {name!r} is a mapping without an 'items' entry.")
            its = [str(i) for i in (sc["items"] or ())]
            rev = [str(i) for i in (sc.get("reverse_items", sc.get("reverse")) or ())]
            lo, hi = sc.get("item_min"), sc.get("item_max")
            object_spec = True
        elif hasattr(sc, "items") and not callable(sc.items):
            its = [str(i) for i in (sc.items or ())]
            rev = [str(i) for i in (getattr(sc, "reverse_items", None) or ())]
            lo, hi = getattr(sc, "item_min", None), getattr(sc, "item_max", None)
            object_spec = True
        else:
            its = [str(i) for i in sc]
            rev, lo, hi = [], None, None
            object_spec = False
        if from_codebook or object_spec:
            if len(its) < 2:
                if not from_codebook:
                    raise EvalkitError(f"reliability: scale {name!r} has {len(its)} item(s); alpha needs at least 2.")
                continue
            if from_codebook and not any(i in cols for i in its):
                continue
        elif len(its) < 2:
            raise EvalkitError(
                f"reliability: scale {name!r} has {len(its)} item(s) ({its}); alpha needs at least 2. "
                "Leave single-item measures out of `scales`."
            )
        missing = [i for i in its if i not in cols]
        if missing:
            raise EvalkitError(
                f"reliability: scale {name!r} needs column(s) {missing}, which are not in the data."
            )
        bad_rev = [r for r in rev if r not in its]
        if bad_rev:
            raise EvalkitError(f"reliability: scale {name!r} reverse-keys {bad_rev}, which are not among its items.")
        if (lo is None) != (hi is None):
            lo = hi = None
        specs.append({"name": str(name), "items": its, "reverse": rev, "item_min": lo, "item_max": hi})
    return specs


def _scale_row(X: np.ndarray, names: list[str], method: str, ci: float) -> dict:
    """Alpha, CI and omega for one scale in one group; never raises, explains NaN in ``note``."""
    k = len(names)
    C, n, _ = _covariance(X, method)
    out = {"k": k, "n": n, "alpha": math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "std_alpha": math.nan, "average_r": math.nan, "omega_total": math.nan, "note": ""}
    if n < k + 1:
        out["note"] = f"too few respondents: n={n} < k+1={k + 1}"
        return out
    bad = _degenerate(C)
    if bad.any():
        out["note"] = "no variance in item(s) " + ", ".join(repr(names[j]) for j in np.where(bad)[0])
        return out
    if not np.isfinite(C).all():
        out["note"] = "some item pairs have fewer than 2 joint answers"
        return out
    a, s, r = _alpha_stats(C)
    lo, hi = feldt_ci(a, n, k, ci)
    out.update(alpha=a, ci_low=lo, ci_high=hi, std_alpha=s, average_r=r)
    notes = []
    try:
        lam, psi, _, _, msgs = _fit_one_factor(C, names, "omega_total")
        out["omega_total"] = _omega(lam, psi)
        notes += [f"omega: {m}" for m, _ in msgs]
    except EstimationError as exc:
        msg = str(exc).split(": ", 1)[-1]
        notes.append("omega not computed: " + (msg.split(";")[0] if k < 3 else msg))
    out["note"] = "; ".join(notes)
    return out


def reliability(
    df: pd.DataFrame,
    scales: Any,
    by: str | Sequence[str] | None = None,
    *,
    threshold: float = 0.70,
    method: MissingPolicy = "pairwise",
    ci: float = 0.95,
) -> pd.DataFrame:
    """Alpha, its Feldt CI and omega total for each scale, overall or by group.

    Parameters
    ----------
    df : DataFrame
        Survey responses, one row per respondent, item columns numeric with missing
        answers as NaN (missing-value codes already converted).
    scales : mapping or Codebook
        Either ``{scale name: [item columns]}`` (items already reverse-keyed), or an evalkit
        ``Codebook`` / any object with a ``.scales`` mapping of name → object having
        ``.items``, ``.reverse_items``, ``.item_min``, ``.item_max``; then the reverse
        items are reverse-keyed (``item_min + item_max - x``) first. From a codebook,
        scales with fewer than two items, and scales none of whose items are in ``df``,
        are skipped.
    by : str or list of str, optional
        Grouping columns (e.g. ``["community", "wave"]``); rows whose group value is
        missing form their own group.
    threshold : float
        ``flag`` is True where alpha is below it (0.70 by default, Nunnally's
        conventional minimum for group comparisons).
    method : {"pairwise", "listwise"}
        Missing-data policy, as in :func:`cronbach_alpha`.
    ci : float
        Level of the Feldt interval.

    Returns
    -------
    DataFrame
        One row per group × scale: the ``by`` columns, then ``scale``, ``k``, ``n``,
        ``alpha``, ``ci_low``, ``ci_high``, ``std_alpha``, ``average_r``, ``omega_total``,
        ``flag`` (boolean, NA when alpha is NaN) and ``note`` (why a value is NaN, or
        a caveat such as a Heywood case; empty otherwise).

    Notes
    -----
    Per group and scale, exactly :func:`cronbach_alpha` and :func:`omega_total` with
    ``delete=False`` semantics: a group with ``n < k + 1`` respondents, or in which an item
    has no variance, gets NaN and a note instead of an exception, so alphas stay comparable
    across groups (the same k everywhere). ``n`` counts respondents answering at least one
    item of the scale (all items under ``method="listwise"``). Omega needs three items;
    two-item scales get alpha only.
    """
    method = check_choice(method, MissingPolicy, "method")
    if not isinstance(df, pd.DataFrame):
        raise EvalkitError(f"reliability: df must be a pandas DataFrame, got {type(df).__name__}.")
    if not 0.0 < ci < 1.0:
        raise EvalkitError(f"ci={ci!r} must be a confidence level strictly between 0 and 1, e.g. 0.95.")
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    miss_by = [b for b in by_cols if b not in df.columns]
    if miss_by:
        raise EvalkitError(f"reliability: grouping column(s) {miss_by} are not in the data.")
    specs = _scale_specs(scales, df.columns)
    if not specs:
        raise EvalkitError("reliability: no scale with at least two items found in the data.")

    prepared = []
    for sp in specs:
        X, names, _ = _prepare(
            df[sp["items"]], f"reliability (scale {sp['name']!r})", sp["reverse"] or None,
            sp["item_min"], sp["item_max"],
        )
        prepared.append((sp["name"], X, names))

    if by_cols:
        grouped = df.groupby(by_cols, dropna=False, sort=True)
        groups = []
        for key, pos in grouped.indices.items():
            key = key if isinstance(key, tuple) else (key,)
            mask = np.zeros(len(df), dtype=bool)
            mask[pos] = True
            groups.append((dict(zip(by_cols, key)), mask))
    else:
        groups = [({}, np.ones(len(df), dtype=bool))]

    rows = []
    for key, mask in groups:
        for name, X, names in prepared:
            row = dict(key)
            row["scale"] = name
            row.update(_scale_row(X[mask], names, method, ci))
            rows.append(row)
    out = pd.DataFrame(rows)
    cols = by_cols + ["scale", "k", "n", "alpha", "ci_low", "ci_high", "std_alpha", "average_r", "omega_total"]
    out = out[cols + ["note"]]
    flag = pd.array(out["alpha"] < threshold, dtype="boolean")
    flag[out["alpha"].isna().to_numpy()] = pd.NA
    out.insert(len(cols), "flag", flag)
    for b in by_cols:
        out[b] = out[b].astype(df[b].dtype) if not df[b].isna().any() else out[b]
    return out.reset_index(drop=True)
