"""Sensitivity of an event study to violations of parallel trends (Rambachan & Roth 2023, R
HonestDiD): robust confidence intervals for ``theta = l_vec' tau_post`` under a bound on how far the
post-treatment difference in trends may stray, and the breakdown value of that bound.

Two restrictions, as HonestDiD's two sensitivity functions:

``"smoothness"`` (Delta^SD(M), ``createSensitivityResults``)
    the slope of the difference in trends changes by at most ``M`` between consecutive periods
    (``M = 0``: the pre-trend continues linearly). Default method ``"FLCI"``
    (:mod:`evalkit.did.honest_flci`); ``"C-F"``, ``"C-LF"``, ``"conditional"`` use the ARP tests of
    :mod:`evalkit.did.honest_arp`. Default bounds: 10 values from 0 to HonestDiD's upper bound for
    M from the pre-periods (``DeltaSD_upperBound_Mpre``: the largest pre-period second difference
    plus 1.645 of its standard errors; with one pre-period, its standard error; where that bound
    is not positive, the root mean pre-period variance).
``"relative_magnitude"`` (Delta^RM(Mbar), ``createSensitivityResults_relativeMagnitudes``)
    each post-period change of the difference in trends is at most ``Mbar`` times the largest
    change between consecutive pre-periods. Default method ``"C-LF"``; bounds 0, 0.5, ..., 2.

``df``: with a finite ``df`` (a survey design's degrees of freedom), ``sigma`` is scaled by
``(t_{df, 1-a/2} / z_{1-a/2})^2`` before the normal-theory methods run -- an approximation that
gives the t critical value to an interval that is exactly ``estimate -+ crit * se``, and only
approximately so to the FLCI and the ARP tests. ``df = inf`` is exactly HonestDiD.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from ..results import Result, critical_value, wald_columns
from .honest_flci import check_event_study, flci

__all__ = ["SensitivityResult", "sensitivity", "breakdown_value", "honest_did", "robust_interval"]

Restriction = Literal["smoothness", "relative_magnitude"]
_METHODS = {"flci": "FLCI", "c-f": "C-F", "c-lf": "C-LF", "conditional": "Conditional"}
_DEFAULT = {"smoothness": "FLCI", "relative_magnitude": "C-LF"}
_BOUND = {"smoothness": "M", "relative_magnitude": "Mbar"}
_DOUBLINGS = 10  # the breakdown search widens the bound up to 2^10 times the top of the default grid


def _restriction(restriction: str) -> str:
    if restriction not in _DEFAULT:
        raise EstimationError(f"restriction must be 'smoothness' or 'relative_magnitude', got {restriction!r}.")
    return restriction


def _method(method: str | None, restriction: str) -> str:
    if method is None:
        return _DEFAULT[restriction]
    name = _METHODS.get(str(method).lower())
    if name is None:
        raise EstimationError(f"method={method!r} is not one of 'FLCI', 'C-F', 'C-LF', 'conditional'.")
    if restriction == "relative_magnitude" and name in ("FLCI", "C-F"):
        raise EstimationError(f"method={method!r} is defined for restriction='smoothness' only; relative "
                              "magnitudes use 'C-LF' (default) or 'conditional'.")
    return name


def robust_interval(betahat, sigma, num_pre: int, num_post: int, l_vec, bound: float, *,
                    restriction: Restriction = "smoothness", method: str | None = None,
                    level: float = 0.95) -> tuple[float, float]:
    """The robust interval at one bound (no df scaling: pass ``sigma`` already scaled)."""
    restriction = _restriction(restriction)
    method = _method(method, restriction)
    if method == "FLCI":
        f = flci(betahat, sigma, num_pre, num_post, l_vec, float(bound), level=level)
        return f.ci_low, f.ci_high
    from .honest_arp import rm_interval, sd_conditional_interval  # the ARP tests (K1)

    hybrid = {"C-F": "FLCI", "C-LF": "LF", "Conditional": None}[method]
    fn = sd_conditional_interval if restriction == "smoothness" else rm_interval
    lo, hi = fn(betahat, sigma, num_pre, num_post, l_vec, float(bound), level=level, hybrid=hybrid)
    return float(lo), float(hi)


def _default_bounds(b, S, num_pre, restriction) -> np.ndarray:
    if restriction == "relative_magnitude":
        return np.arange(0.0, 2.0 + 1e-12, 0.5)
    if num_pre == 1:
        return np.linspace(0.0, float(np.sqrt(S[0, 0])), 10)
    D = np.zeros((num_pre - 1, num_pre))  # second differences over -num_pre..0 with delta_0 = 0
    for r in range(num_pre - 1):
        D[r, r:r + 3] = (1.0, -2.0, 1.0)[: num_pre - r]
    upper = D @ b[:num_pre] + stats.norm.ppf(0.95) * np.sqrt(np.diag(D @ S[:num_pre, :num_pre] @ D.T))
    top = float(upper.max())
    if not top > 0:  # HonestDiD would give negative M here; fall back to the pre-periods' scale
        top = float(np.sqrt(np.mean(np.diag(S[:num_pre, :num_pre]))))
    return np.linspace(0.0, top, 10)


def _df_scale(level: float, df: float) -> float:
    if not (df > 0):
        raise EstimationError(f"df must be positive (inf for the normal), got {df!r}.")
    return 1.0 if not np.isfinite(df) else float((critical_value(level, df) / critical_value(level)) ** 2)


@dataclass(frozen=True, eq=False, repr=False)
class SensitivityResult(Result):
    """Robust intervals for ``theta = l_vec' tau_post`` over a range of bounds.

    Attributes
    ----------
    restriction, method : str
    bounds, ci_low, ci_high : numpy.ndarray
    level, df : float
    l_vec : numpy.ndarray
    original : pandas.DataFrame
        One row ``estimate, se, df, statistic, p_value, ci_low, ci_high``: ``theta`` without any
        restriction (HonestDiD ``constructOriginalCS``; t with ``df`` when finite).
    breakdown : float
        Smallest bound at which the robust interval includes 0 (bisection to 1e-4 relative);
        ``nan`` if the original interval includes 0, ``inf`` if none does up to 2^10 times the top
        of the grid (the larger of ``bounds`` and the default grid).
    """

    restriction: str
    method: str
    bounds: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    level: float
    df: float
    l_vec: np.ndarray
    original: pd.DataFrame = field(repr=False)
    num_pre: int = 0
    num_post: int = 0
    _betahat: np.ndarray | None = field(default=None, repr=False)
    _sigma: np.ndarray | None = field(default=None, repr=False)  # already df-scaled

    title = "Sensitivity to violations of parallel trends (Rambachan & Roth)"

    def __post_init__(self):
        for name in ("bounds", "ci_low", "ci_high", "l_vec", "_betahat", "_sigma"):
            value = getattr(self, name)
            if value is not None:
                a = np.array(value, dtype=float)
                a.flags.writeable = False
                object.__setattr__(self, name, a)

    def tidy(self) -> pd.DataFrame:
        """One row per bound: ``restriction, bound, method, ci_low, ci_high, excludes_zero``."""
        return pd.DataFrame({"restriction": self.restriction, "bound": self.bounds, "method": self.method,
                             "ci_low": self.ci_low, "ci_high": self.ci_high,
                             "excludes_zero": (self.ci_low > 0) | (self.ci_high < 0)})

    def _headline(self) -> str:
        o = self.original.iloc[0]
        return (f"{self.title}: {self.restriction} ({_BOUND[self.restriction]}), {self.method}; original "
                f"{o.estimate:.4f} [{o.ci_low:.4f}, {o.ci_high:.4f}]; breakdown {self.breakdown:.4g}")

    def interval(self, bound: float) -> tuple[float, float]:
        """The robust interval at any ``bound``."""
        return robust_interval(self._betahat, self._sigma, self.num_pre, self.num_post, self.l_vec, bound,
                               restriction=self.restriction, method=self.method, level=self.level)

    @cached_property
    def breakdown(self) -> float:
        """Smallest bound at which the robust interval includes 0 (class docstring); computed once."""
        o = self.original.iloc[0]
        if o.ci_low <= 0 <= o.ci_high:
            return float("nan")
        default = _default_bounds(self._betahat, self._sigma, self.num_pre, self.restriction)
        return _bisect_breakdown(self.interval, max(float(np.max(self.bounds)), float(default.max())) or 1.0)

    def sentence(self, lang: Literal["zh", "en"] = "en") -> str:
        """One plain sentence for a report on how strong a violation the conclusion survives."""
        return _sentence(self.breakdown, self.restriction, lang)


def _bisect_breakdown(interval, top: float, rtol: float = 1e-4) -> float:
    """Smallest bound whose interval includes 0 (assumes the intervals widen with the bound)."""
    includes = lambda m: (lambda lo, hi: not (lo > 0 or hi < 0))(*interval(m))  # noqa: E731
    if includes(0.0):
        return 0.0
    hi = top
    for _ in range(_DOUBLINGS):
        if includes(hi):
            break
        hi *= 2
    else:
        return float("inf")
    lo = 0.0
    while hi - lo > rtol * hi:
        mid = (lo + hi) / 2
        if includes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _sentence(b: float, restriction: str, lang: str) -> str:
    if lang not in ("zh", "en"):
        raise EstimationError(f"lang must be 'zh' or 'en', got {lang!r}.")
    rm = restriction == "relative_magnitude"
    if np.isnan(b):
        return ("即使趋势完全平行，估计值与零的差异也不显著，因此无需检验结论对趋势偏离的稳健性。" if lang == "zh" else
                "The estimate is not distinguishable from zero even if trends were exactly parallel, so there "
                "is no conclusion to test.")
    if b == 0:
        if rm:
            return ("只要处理开始后趋势差异有任何变化，结论就不再成立（相对幅度）。" if lang == "zh" else
                    "The conclusion does not survive any change in the difference in trends after the start "
                    "(relative magnitudes).")
        return ("只要处理开始后趋势差异偏离处理前趋势的线性延伸，结论就不再成立（平滑性）。" if lang == "zh" else
                "The conclusion does not survive any bend of the pre-trend after the start (smoothness).")
    if np.isinf(b):
        return ("在所检验的所有偏离程度下，结论都成立。" if lang == "zh" else
                "The conclusion holds for every size of violation tried.")
    if rm:
        return (f"除非处理开始后的趋势差异超过处理前最大差异的{b:.2g}倍，结论都成立（相对幅度）。" if lang == "zh" else
                f"The conclusion holds unless the difference in trends after the start exceeds {b:.2g} times "
                "the largest seen before it (relative magnitudes).")
    return (f"除非趋势差异的斜率每期变化超过{b:.3g}（以结果的单位计），结论都成立（平滑性）。" if lang == "zh" else
            f"The conclusion holds unless the slope of the difference in trends changes by more than {b:.3g} "
            "(outcome units) per period after the start (smoothness).")


def sensitivity(betahat, sigma, num_pre: int, num_post: int, *, restriction: Restriction = "smoothness",
                bounds: Sequence[float] | None = None, method: str | None = None, l_vec=None,
                level: float = 0.95, df: float = np.inf) -> SensitivityResult:
    """Robust confidence intervals for ``theta = l_vec' tau_post`` over a range of bounds.

    Parameters
    ----------
    betahat, sigma : array
        Event-study estimates (pre-periods then post-periods, the reference period left out) and
        their covariance.
    num_pre, num_post : int
    restriction : {"smoothness", "relative_magnitude"}
    bounds : sequence of float, optional
        ``M`` (smoothness) or ``Mbar`` (relative magnitudes); defaults in the module docstring.
    method : {"FLCI", "C-F", "C-LF", "conditional"}, optional
        Default ``"FLCI"`` (smoothness) or ``"C-LF"`` (relative magnitudes), as HonestDiD.
    l_vec : array (num_post,), optional
        Target weights; default the first post-period.
    level : float
    df : float
        Degrees of freedom of the reference distribution (``inf``: normal, HonestDiD).

    Returns
    -------
    SensitivityResult

    Examples
    --------
    Three pre-periods without a trend, two post-periods near 0.25:

    >>> import numpy as np
    >>> b = [0.01, -0.02, 0.0, 0.25, 0.30]
    >>> S = np.diag([0.004, 0.004, 0.004, 0.005, 0.006])
    >>> r = sensitivity(b, S, num_pre=3, num_post=2, bounds=[0, 0.05, 0.1])
    >>> print(r.tidy().round(3).to_string(index=False))
    restriction  bound method  ci_low  ci_high  excludes_zero
     smoothness   0.00   FLCI   0.107    0.392           True
     smoothness   0.05   FLCI   0.052    0.437           True
     smoothness   0.10   FLCI  -0.006    0.500          False
    >>> round(r.breakdown, 3)
    0.095
    >>> rm = sensitivity(b, S, num_pre=3, num_post=2, restriction="relative_magnitude")
    >>> rm.sentence("en")
    'The conclusion holds unless the difference in trends after the start exceeds 1.2 times the largest seen before it (relative magnitudes).'
    """
    restriction = _restriction(restriction)
    method = _method(method, restriction)
    b, S, lv = check_event_study(betahat, sigma, num_pre, num_post, l_vec)
    Ss = S * _df_scale(level, df)
    grid = _default_bounds(b, Ss, num_pre, restriction) if bounds is None else np.asarray(bounds, float).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise EstimationError(f"bounds must be finite numbers >= 0, got {list(grid)!r}.")
    cis = np.array([robust_interval(b, Ss, num_pre, num_post, lv, m, restriction=restriction,
                                    method=method, level=level) for m in grid]).reshape(-1, 2)
    est = float(lv @ b[num_pre:])
    se = float(np.sqrt(lv @ S[num_pre:, num_pre:] @ lv))
    original = pd.DataFrame(wald_columns([est], [se], df=df, level=level))
    return SensitivityResult(restriction=restriction, method=method, bounds=grid, ci_low=cis[:, 0],
                             ci_high=cis[:, 1], level=level, df=float(df), l_vec=lv, original=original,
                             num_pre=int(num_pre), num_post=int(num_post), _betahat=b, _sigma=Ss)


def breakdown_value(betahat, sigma, num_pre: int, num_post: int, *, restriction: Restriction = "smoothness",
                    method: str | None = None, l_vec=None, level: float = 0.95, df: float = np.inf) -> float:
    """Smallest bound (``M`` or ``Mbar``) at which the robust interval includes 0 (see
    :attr:`SensitivityResult.breakdown`)."""
    return sensitivity(betahat, sigma, num_pre, num_post, restriction=restriction, method=method, l_vec=l_vec,
                       level=level, df=df, bounds=[0.0]).breakdown


def _event_study(result) -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    """(event times, att, vcov, the aggregation) of a dynamic event study with a universal base period."""
    from .results import AggregateResult, ATTGTResult

    fix = "att_gt(..., base_period=\"universal\").aggregate(\"dynamic\")"
    if isinstance(result, ATTGTResult):
        result = result.aggregate("dynamic")
    if not isinstance(result, AggregateResult) or result.type != "dynamic":
        raise EstimationError(f"honest_did needs an event study: {fix}.")
    if result.base_period not in (None, "universal"):
        raise EstimationError(f"honest_did needs a universal base period (every effect against e = -1): {fix}.")
    e = np.asarray(result.levels, float)
    V = result.vcov()
    ref = np.flatnonzero(e == -1)
    if ref.size != 1 or result.att[ref[0]] != 0 or np.any(V[ref[0]] != 0):
        raise EstimationError("This event study has no universal reference period e = -1 (estimate 0, no "
                              f"variance); its pre-period effects are not comparable with the post ones: {fix}.")
    if not np.array_equal(e, np.arange(e.min(), e.max() + 1)):
        raise EstimationError(f"The event times {e.tolist()} are not consecutive; HonestDiD's restrictions need "
                              "every period from the first to the last (widen min_e/max_e or balance_e).")
    keep = np.flatnonzero(e != -1)
    att, V = np.asarray(result.att, float)[keep], V[np.ix_(keep, keep)]
    bad = e[keep][~(np.isfinite(att) & np.all(np.isfinite(V), axis=1))]
    if bad.size:
        raise EstimationError(f"Event time(s) {bad.astype(int).tolist()} have no estimate; keep the event times "
                              "that have one: aggregate(\"dynamic\", min_e=..., max_e=...).")
    return e[keep], att, V, result


def honest_did(result, *, e: int | Literal["average"] = 0, restriction: Restriction = "smoothness",
               bounds: Sequence[float] | None = None, method: str | None = None, level: float | None = None,
               df: float | None = None) -> SensitivityResult:
    """:func:`sensitivity` for an evalkit event study.

    Parameters
    ----------
    result : AggregateResult or ATTGTResult
        ``att_gt(..., base_period="universal").aggregate("dynamic")`` (an ATTGTResult is aggregated).
    e : int or "average"
        The event time of the target (0: the first period of treatment) or the mean of all post
        event times.
    restriction, bounds, method : as :func:`sensitivity`
    level, df : float, optional
        Default the result's level; df the result's (a survey design's df), or, for a fit clustered
        on G clusters, G - 1 (t critical values).

    Notes
    -----
    ``betahat`` is the event study without e = -1, ``sigma`` its covariance
    (:meth:`AggregateResult.vcov`: analytic, also when the result was bootstrapped).

    Why t on G - 1 by default: in ``studies/honest_coverage.py`` (14 communities, the 2016 cohort's
    event study clustered on 10 communities, 3 with the programme) normal critical values covered
    86% at a nominal 95% and t on G - 1 df 89-90%. With so few treated clusters the clustered
    covariance itself is too small, so even t under-covers: the bureau report therefore applies
    the sensitivity to its own headline estimator (:mod:`evalkit.evaluation.honest_summary`,
    which kept 94-95%), and a clustered event study with few treated clusters should be read as
    optimistic.
    """
    times, att, V, agg = _event_study(result)
    pre, post = times[times < -1], times[times >= 0]
    if pre.size == 0 or post.size == 0:
        raise EstimationError(f"The event study needs pre-periods before e = -1 and post-periods from e = 0; it has "
                              f"{times.tolist()}. Use more waves before treatment (min_e) or after (max_e).")
    if isinstance(e, str):
        if e != "average":
            raise EstimationError(f"e must be an event time >= 0 or 'average', got {e!r}.")
        l_vec = np.full(post.size, 1.0 / post.size)
    else:
        if e not in post:
            raise EstimationError(f"e={e!r} is not a post-period event time of this study ({post.astype(int).tolist()}).")
        l_vec = (post == e).astype(float)
    return sensitivity(att, V, int(pre.size), int(post.size), restriction=restriction, bounds=bounds,
                       method=method, l_vec=l_vec, level=agg.level if level is None else level,
                       df=_default_df(agg) if df is None else df)


def _default_df(agg) -> float:
    """The result's df (a design's), else the number of clusters - 1 for a clustered fit, else inf."""
    if np.isfinite(agg.df):
        return float(agg.df)
    g = getattr(agg, "n_clusters", None)
    return float(g - 1) if g is not None and g > 1 else np.inf
