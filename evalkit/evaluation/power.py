"""Analytic power and minimum detectable effects for community × wave designs (Hussey & Hughes 2007).

The model is the one for the mean of community ``i`` in wave ``j``::

    ybar_ij = beta_j + theta X_ij + a_i + (ab)_ij + e_ij,
    a_i ~ (0, tau2),  (ab)_ij ~ (0, gamma2),  e_ij ~ (0, sigma2 * deff / m_ij),

with ``X`` any 0/1 treatment matrix (staggered starts, stepped wedge, parallel, missing cells as
NaN), ``tau2`` the between-community variance, ``gamma2`` the community-by-wave ("shock")
variance, ``sigma2`` the respondent-level variance, ``deff`` the design effect of a cell mean and
``m`` respondents per cell. ``Var(theta_hat)`` is the ``theta`` element of the inverse GLS
information ``sum_i Z_i' V_i^-1 Z_i`` with ``Z_i = [wave dummies, X_i]`` and
``V_i = tau2 J + diag(gamma2 + sigma2 deff / m_ij)``. For a complete design with equal cells this is
Hussey & Hughes' (2007, eq. 8) closed form with their ``sigma^2 = gamma2 + sigma2 deff / m``; with
two waves and half the communities treated in the second it is the ANCOVA variance
``4 S (1 - rho^2) / I`` of a parallel cluster trial with a baseline (``S = tau2 + sigma^2``,
``rho = tau2 / S``; Teerenstra et al. 2012).

Power uses the noncentral t with the community degrees of freedom ``df = I - 2`` by default
(``I`` = communities in the design: one df for the mean, one for the treatment contrast; the usual
small-sample choice for cluster trials, e.g. Hemming et al. 2020, BMJ 371:m3800); pass ``df=`` to
change it or ``df=np.inf`` for Hussey & Hughes' normal approximation.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..errors import EstimationError

__all__ = ["VarianceComponents", "power_from_se", "mde_from_se", "gls_variance", "power", "mde", "respondents_needed",
           "comparisons_needed", "stepped_wedge", "parallel", "registry_design"]


@dataclass(frozen=True)
class VarianceComponents:
    """Variance components of one indicator (in the indicator's units squared).

    ``tau2`` between communities, ``gamma2`` community-by-wave, ``sigma2`` between respondents
    within a cell, ``deff`` the design effect of a cell mean (clustering and weighting), ``m`` the
    typical respondents per community-wave cell.
    """

    tau2: float
    gamma2: float
    sigma2: float
    deff: float = 1.0
    m: float = 300.0
    indicator: str | None = None

    def __post_init__(self):
        for name in ("tau2", "gamma2", "sigma2", "deff", "m"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0 or (name in ("deff", "m") and v <= 0):
                raise EstimationError(f"VarianceComponents.{name} = {v!r} must be a finite number "
                                      + (">= 0" if name in ("tau2", "gamma2", "sigma2") else "> 0")
                                      + "; estimate it with evalkit.evaluation.power_components.variance_components.")

    def cell_variance(self, m=None) -> float:
        """Sampling variance of one cell mean, ``sigma2 * deff / m``."""
        return self.sigma2 * self.deff / (self.m if m is None else m)


def _matrix(design) -> np.ndarray:
    X = design.to_numpy(dtype=float) if isinstance(design, pd.DataFrame) else np.asarray(design, float)
    if X.ndim != 2 or X.size == 0:
        raise EstimationError("The design must be a 2-D community x wave treatment matrix (0/1, NaN = "
                              f"not surveyed); got shape {X.shape}. Build one with registry_design().")
    ok = np.isnan(X) | (X == 0) | (X == 1)
    if not ok.all():
        i, j = np.argwhere(~ok)[0]
        raise EstimationError(f"Treatment matrix cell (community {i}, wave {j}) is {X[i, j]!r}; use 0 "
                              "(untreated), 1 (treated) or NaN (not surveyed).")
    return X


def gls_variance(design, components: VarianceComponents, *, m=None) -> float:
    """``Var(theta_hat)`` of the GLS treatment effect for a community × wave treatment matrix.

    Parameters
    ----------
    design
        Community × wave matrix (DataFrame or array): 1 treated, 0 untreated, NaN not surveyed.
    components
        :class:`VarianceComponents` of the indicator.
    m
        Respondents per cell: a number, or a matrix of the design's shape (default
        ``components.m``).

    Returns
    -------
    float
        The variance (``inf`` when the effect is not identified by the design).
    """
    X = _matrix(design)
    I, T = X.shape
    M = np.broadcast_to(np.asarray(components.m if m is None else m, float), X.shape)
    if np.any(~(M > 0)):
        raise EstimationError("Respondents per cell m must be positive in every surveyed cell.")
    obs = ~np.isnan(X)
    waves = np.flatnonzero(obs.any(axis=0))
    col = {j: k for k, j in enumerate(waves)}
    p = len(waves) + 1
    info = np.zeros((p, p))
    for i in range(I):
        js = np.flatnonzero(obs[i])
        if js.size == 0:
            continue
        Z = np.zeros((js.size, p))
        Z[np.arange(js.size), [col[j] for j in js]] = 1.0
        Z[:, -1] = X[i, js]
        V = components.tau2 + np.diag(components.gamma2 + components.sigma2 * components.deff / M[i, js])
        info += Z.T @ np.linalg.solve(V, Z)
    # theta's variance = 1 / (Schur complement of the wave block)
    A, b, c = info[:-1, :-1], info[:-1, -1], info[-1, -1]
    s = c - b @ np.linalg.lstsq(A, b, rcond=None)[0]
    return float(1.0 / s) if s > 1e-12 * max(c, 1e-300) else float("inf")


def _df(design, df) -> float:
    if df is not None:
        return float(df)
    X = _matrix(design)
    return float(max(int((~np.isnan(X)).any(axis=1).sum()) - 2, 1))


def _power_se(effect: float, se: float, df: float, level: float) -> float:
    if not np.isfinite(se) or se <= 0:
        return float("nan") if not np.isfinite(se) else 1.0
    alpha = 1 - level
    if np.isinf(df):
        z, d = stats.norm.ppf(1 - alpha / 2), abs(effect) / se
        return float(stats.norm.sf(z - d) + stats.norm.cdf(-z - d))
    c = stats.t.ppf(1 - alpha / 2, df)
    nc = abs(effect) / se
    lower = stats.nct.cdf(-c, df, nc)  # the wrong-sign tail; scipy returns nan when it underflows
    return float(min(stats.nct.sf(c, df, nc) + (lower if np.isfinite(lower) else 0.0), 1.0))


def power_from_se(effect: float, se: float, *, df: float, level: float = 0.95) -> float:
    """Two-sided power of a t test (``df``; ``np.inf`` = normal) for an estimator with standard error ``se``."""
    return _power_se(float(effect), float(se), float(df), level)


def mde_from_se(se: float, *, df: float, power: float = 0.8, level: float = 0.95) -> float:
    """Smallest effect detected with probability ``power`` by a two-sided t test with ``se`` and ``df``."""
    if not 0 < power < 1 or not 0 < level < 1:
        raise EstimationError(f"power={power!r} and level={level!r} must be between 0 and 1.")
    if not np.isfinite(se):
        return float("inf")
    f = lambda k: _power_se(k * se, se, float(df), level) - power  # noqa: E731
    hi = 10.0
    while f(hi) < 0:
        hi *= 2
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-10) * se)


def power(effect: float, design, components: VarianceComponents, *, m=None, level: float = 0.95,
          df: float | None = None) -> float:
    """Probability that a two-sided test at ``level`` detects an effect of size ``effect``.

    ``P(|T| > t_{df, 1-alpha/2})`` with ``T`` noncentral t, noncentrality
    ``effect / sqrt(gls_variance)``; ``df`` defaults to communities − 2 (``np.inf``: normal, as
    Hussey & Hughes 2007 eq. 9).
    """
    return _power_of(effect, design, components, m, level, df)


def _power_of(effect, design, components, m, level, df) -> float:
    if not 0 < level < 1:
        raise EstimationError(f"level={level!r} must be between 0 and 1, e.g. 0.95.")
    se = np.sqrt(gls_variance(design, components, m=m))
    return _power_se(float(effect), float(se), _df(design, df), level)


def mde(design, components: VarianceComponents, *, power: float = 0.8, level: float = 0.95, m=None,
        df: float | None = None) -> float:
    """Minimum detectable effect: the smallest effect detected with probability ``power``.

    Solves ``power(effect) = power`` exactly under the noncentral t (for df = inf:
    ``(z_{1-alpha/2} + z_power) * se``, Bloom 1995). In the indicator's units.
    """
    se = float(np.sqrt(gls_variance(design, components, m=m)))
    return mde_from_se(se, df=_df(design, df), power=power, level=level)


def respondents_needed(effect: float, design, components: VarianceComponents, *, power: float = 0.8,
                       level: float = 0.95, df: float | None = None, max_m: int = 100_000) -> float:
    """Respondents per community-wave cell for ``power`` to detect ``effect``.

    Returns the smallest whole ``m`` (same in every cell), or ``inf`` when even a census cannot
    reach it: community-by-wave shocks (``gamma2``) and few communities cap the power however many
    residents are interviewed; then add comparison communities (:func:`comparisons_needed`).
    """
    pw = lambda m: _power_of(effect, design, components, m, level, df)  # noqa: E731
    if pw(max_m) < power:
        return float("inf")
    lo, hi = 1, max_m
    if pw(lo) >= power:
        return 1.0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if pw(mid) < power else (lo, mid)
    return float(hi)


def comparisons_needed(effect: float, design, components: VarianceComponents, *, power: float = 0.8,
                       level: float = 0.95, m=None, df: float | None = None, max_add: int = 500) -> float:
    """Comparison communities to add (surveyed in every wave, never treated) for ``power``.

    Returns 0 when the design already has the power, the smallest number to add, or ``inf`` when
    ``max_add`` do not suffice. ``m`` applies to the added communities too (a number).
    """
    X = _matrix(design)
    mm = components.m if m is None else m
    if np.ndim(mm):
        raise EstimationError("comparisons_needed takes one number of respondents per cell (m=).")

    def pw(k):
        Xk = np.vstack([X, np.zeros((k, X.shape[1]))])
        return _power_of(effect, Xk, components, mm, level, df)

    if pw(0) >= power:
        return 0.0
    if pw(max_add) < power:
        return float("inf")
    lo, hi = 0, max_add
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if pw(mid) < power else (lo, mid)
    return float(hi)


def stepped_wedge(clusters: int, periods: int) -> np.ndarray:
    """Standard stepped wedge: ``periods - 1`` steps, ``clusters / (periods - 1)`` switching at each.

    Period 1 is all control, the last all treated (Hussey & Hughes 2007, Figure 1).
    """
    steps = periods - 1
    if steps < 1 or clusters < steps or clusters % steps:
        raise EstimationError(f"stepped_wedge({clusters}, {periods}): clusters must be a positive "
                              f"multiple of the {steps} steps (periods - 1).")
    per = clusters // steps
    start = np.repeat(np.arange(1, periods), per)
    return (np.arange(periods)[None, :] >= start[:, None]).astype(float)


def parallel(treated: int, control: int, *, pre: int = 1, post: int = 1) -> np.ndarray:
    """Parallel design: ``treated`` communities treated in the ``post`` waves after ``pre`` baseline waves."""
    if treated < 1 or control < 1 or pre < 0 or post < 1:
        raise EstimationError("parallel() needs treated >= 1, control >= 1, pre >= 0, post >= 1.")
    X = np.zeros((treated + control, pre + post))
    X[:treated, pre:] = 1.0
    return X


def registry_design(registry: pd.DataFrame | Mapping, waves: Sequence, *, communities: Sequence | None = None,
                    community: str = "community_id", start: str = "start_year",
                    surveyed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Treatment matrix of a registry: 1 from each community's start year on, 0 before and for comparisons.

    ``registry`` is a frame with ``community`` and ``start`` columns (empty start = comparison) or
    ``{community: start year or None}``; ``communities`` restricts the rows (e.g. one programme
    community and the comparisons); ``surveyed`` (optional, same shape, booleans) marks cells not
    surveyed as NaN.
    """
    if isinstance(registry, pd.DataFrame):
        for c in (community, start):
            if c not in registry.columns:
                raise EstimationError(f"registry has no column {c!r}; pass community=/start= naming them.")
        vals = pd.to_numeric(registry[start], errors="coerce").astype("float64")  # Int64 / <NA> -> NaN
        starts = dict(zip(registry[community].astype(str), vals.to_numpy(dtype=float, na_value=np.nan)))
    else:
        starts = {str(k): (np.nan if v is None else float(v)) for k, v in registry.items()}
    rows = [str(c) for c in (communities if communities is not None else starts)]
    missing = [c for c in rows if c not in starts]
    if missing:
        raise EstimationError(f"Communities {missing} are not in the registry; add them (empty start for "
                              "comparison communities).")
    w = np.asarray(waves, float)
    X = pd.DataFrame([(w >= starts[c]).astype(float) if np.isfinite(starts[c]) else np.zeros(w.size)
                      for c in rows], index=pd.Index(rows, name=community), columns=list(waves))
    if surveyed is not None:
        X = X.where(surveyed.reindex(index=X.index, columns=X.columns).fillna(False).astype(bool))
    return X


def with_m(components: VarianceComponents, m: float) -> VarianceComponents:
    """The same components with another number of respondents per cell."""
    return replace(components, m=m)
