"""Power of pre-tests of parallel trends against a linear violation (Roth 2022).

A pre-test that does not reject is weak evidence for parallel trends when the test had little
chance of rejecting under a violation that matters. :func:`pretrend_power` answers "how large
would a linear difference in trends have to be for the pre-test to see it?": the probability
that the pre-test rejects when the pre-period estimates are drawn from ``N(delta, Sigma)`` with
``delta`` a linear trend of a given slope, and the slopes the pre-test detects half of the time
and 80% of the time (Roth 2022's "slope for power", R ``pretrends::slope_for_power``).

Two pre-tests:

``"wald"``
    evalkit's own pre-test (:meth:`evalkit.did.ATTGTResult.pretrend_test`, R ``did``'s ``W``):
    reject when ``b' Sigma^-1 b`` exceeds the chi-square(k) quantile at ``level``. Under
    ``b ~ N(delta, Sigma)`` the statistic is noncentral chi-square(k) with noncentrality
    ``delta' Sigma^-1 delta``, so the power is exact (``scipy.stats.ncx2``) and the slope for a
    target power is found in closed form up to one root of the noncentrality.
``"pointwise"``
    Roth's pre-test (R ``pretrends``): reject when any pre-period ``|b_j / se_j|`` exceeds the
    normal critical value. The power is one minus a multivariate normal rectangle probability
    (``scipy.stats.multivariate_normal.cdf``, Genz's randomised QMC with a fixed seed, so results
    are reproducible; ``releps=0`` and ``abseps`` 1e-6 for up to 3 pre-period estimates, 1e-5 up
    to 6, 1e-4 up to 9 and 1e-3 beyond, R ``mvtnorm::pmvnorm``'s default, because the cost grows
    fast with the dimension; :attr:`PretrendPower.accuracy` states it; the spread over QMC seeds
    is 3 to 10 times smaller). One estimate: the exact normal tail. R ``pretrends`` uses the threshold
    1.96; pass ``level=2 * Phi(1.96) - 1`` to reproduce it exactly. With a finite ``df`` (a
    design-based fit) the critical value is the t quantile the event study's intervals use.

The linear violation: with a universal base period (the reference period ``t_ref``, event
time -1, excluded) the pre-period estimate at event time ``t`` has mean ``slope * (t - t_ref)``
as in R ``pretrends`` (``deltatrue = slope * (tVec - referencePeriod)``). With R ``did``'s
default varying base period each pre-period estimate compares a period with the one before it,
so a linear trend gives every pre-period estimate the same mean ``slope * (t - t_prev)``
(``slope`` times the spacing of the periods). Slopes are per unit of event time (per year when
periods are years) in the indicator's units; power does not depend on the sign of the slope,
and the slopes reported are magnitudes.

References
----------
Roth, J. (2022). Pretest with caution: event-study estimates after testing for parallel trends.
*American Economic Review: Insights* 4(3), 305-322. R package ``pretrends``
(github.com/jonathandroth/pretrends).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._literals import DidBasePeriod, Language, check_choice
from ..errors import DidWarning, EstimationError, EvalkitError
from ..results import Result, critical_value
from .results import AggregateResult, ATTGTResult

__all__ = ["pretrend_power", "PretrendPower", "PretrendTestType"]

#: The pre-test whose power is computed.
PretrendTestType = Literal["wald", "pointwise"]

# Absolute error asked of the multivariate normal rectangle probabilities, by dimension: Genz's
# QMC cost grows fast with both (about 0.03 s per probability for 3 estimates at 1e-6, 0.08 s for
# 6 at 1e-5, 0.06 s for 12 and 0.4 s for 30 at 1e-3, the default of R mvtnorm::pmvnorm).
_ABSEPS = ((3, 1e-6), (6, 1e-5), (9, 1e-4))
_QMC_SEED = 20220701  # fixed seed of scipy's randomised QMC: the same input gives the same power
_TARGETS = (0.5, 0.8)


# -- the power of one test along one direction -------------------------------------------------
def _abseps(k: int) -> float:
    """The absolute error of a k-dimensional rectangle probability (0: exact)."""
    if k == 1:
        return 0.0
    return next((eps for kmax, eps in _ABSEPS if k <= kmax), 1e-3)


def _rectangle(lower: np.ndarray, upper: np.ndarray, corr: np.ndarray) -> float:
    """P(lower <= Z <= upper) for Z ~ N(0, corr) (exact normal in one dimension)."""
    if lower.size == 1:
        return float(stats.norm.cdf(upper[0]) - stats.norm.cdf(lower[0]))
    p = stats.multivariate_normal.cdf(upper, cov=corr, lower_limit=lower, abseps=_abseps(lower.size),
                                      releps=0, rng=np.random.default_rng(_QMC_SEED))
    return float(np.clip(p, 0.0, 1.0))


class _Power:
    """Rejection probability of a pre-test when the pre-period estimates are N(s * d, sigma)."""

    def __init__(self, d: np.ndarray, sigma: np.ndarray, test: str, level: float, df: float = np.inf):
        self.d, self.sigma, self.test, self.level = d, sigma, test, level
        self.k = d.size
        self.se = np.sqrt(np.diag(sigma))
        self.corr = sigma / np.outer(self.se, self.se)
        self.z = critical_value(level, df)   # pointwise: the intervals' critical value
        self.crit = float(stats.chi2.ppf(level, self.k))
        self.q = float(d @ np.linalg.solve(sigma, d))   # noncentrality per squared unit of slope

    def __call__(self, slope: float) -> float:
        if self.test == "wald":
            return float(stats.ncx2.sf(self.crit, self.k, slope ** 2 * self.q)) if slope else \
                float(stats.chi2.sf(self.crit, self.k))
        m = slope * self.d / self.se
        return 1.0 - _rectangle(-self.z - m, self.z - m, self.corr)

    def slope_for(self, target: float) -> float:
        """The smallest slope magnitude detected with probability `target` (0 if the size
        already reaches it)."""
        if self(0.0) >= target:
            return 0.0
        if self.test == "wald":
            f = lambda lam: stats.ncx2.sf(self.crit, self.k, lam) - target  # noqa: E731
            hi = 1.0
            while f(hi) < 0:
                hi *= 2
            lam = optimize.brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-13)
            return float(np.sqrt(lam / self.q))
        scale = float(np.max(self.se / np.abs(self.d)))   # one SE of the steepest-measured period
        hi = scale
        while self(hi) < target:
            hi *= 2
        return float(optimize.brentq(lambda s: self(s) - target, 0.0, hi, xtol=1e-10 * scale, rtol=1e-10))

    def observed(self, b: np.ndarray) -> tuple[float, float]:
        """(statistic, p-value) of the pre-test on the estimates `b`."""
        if self.test == "wald":
            w = float(b @ np.linalg.solve(self.sigma, b))
            return w, float(stats.chi2.sf(w, self.k))
        tmax = float(np.max(np.abs(b / self.se)))
        return tmax, 1.0 - _rectangle(np.full(self.k, -tmax), np.full(self.k, tmax), self.corr)


def _likelihood_ratio(b: np.ndarray, delta: np.ndarray, sigma: np.ndarray) -> float:
    """N(b; delta, sigma) / N(b; 0, sigma) (NaN when delta is)."""
    if not np.all(np.isfinite(delta)):
        return np.nan
    quad = lambda v: float(v @ np.linalg.solve(sigma, v))  # noqa: E731
    return float(np.exp(-0.5 * (quad(b - delta) - quad(b))))


# -- the result ------------------------------------------------------------------------------
def _sig2(x: float) -> str:
    """`x` with two significant figures, positional (0.12, 1.0, 1200)."""
    if not np.isfinite(x):
        return "∞" if x > 0 else "—"
    if x == 0:
        return "0"
    r = float(f"{x:.2g}")
    return f"{r:.{max(0, 1 - int(np.floor(np.log10(abs(r)))))}f}"


@dataclass(frozen=True, eq=False, repr=False)
class PretrendPower(Result):
    """Power of a pre-test of parallel trends against linear violations (Roth 2022).

    Attributes
    ----------
    test : {"wald", "pointwise"}
        The pre-test (see :mod:`evalkit.did.pretrend_power`).
    level : float
        Confidence level of the pre-test (it rejects at ``1 - level``).
    slope_50, slope_80 : float
        Slope magnitudes (indicator units per unit of event time) that the pre-test detects
        with probability 0.5 and 0.8.
    slope, power : float
        The slope asked for and the pre-test's power against it (NaN if none was given).
    size : float
        Rejection probability without a violation (``1 - level`` for ``"wald"``; for
        ``"pointwise"`` with a normal critical value at least that, as it makes several tests).
    statistic, p_value : float
        The pre-test on the estimates themselves: the Wald chi-square, or the largest
        pre-period ``|t|`` with the probability of a larger one under parallel trends (normal
        estimates). :attr:`rejects` says whether the pre-test rejects at ``level``.
    event_times : numpy.ndarray
        Event times of the pre-period estimates used.
    trend : numpy.ndarray
        Mean of each pre-period estimate per unit of slope (``t - t_ref``, or the period spacing
        with a varying base period).
    sigma : numpy.ndarray
        Covariance of the pre-period estimates.
    base_period : {"universal", "varying"}
    df : float
        Degrees of freedom of the pointwise test's critical value (``inf``: normal; a result's
        design df: the t quantile its intervals use). The Wald test is chi-square either way,
        as :meth:`~evalkit.did.ATTGTResult.pretrend_test`.
    bayes_factor, likelihood_ratio : float
        For the given slope (NaN without one), as R ``pretrends``' ``df_power``: the probability
        of passing the pre-test under the trend relative to under parallel trends,
        ``(1 - power) / (1 - size)``, and the likelihood of the observed pre-period estimates
        under the trend relative to under parallel trends (normal densities). Small values:
        passing the pre-test, or the estimates seen, speak against the trend.
    accuracy : float
        Absolute error allowed in each probability (0: exact, the Wald test and one pre-period).
    """

    test: str
    level: float
    slope_50: float
    slope_80: float
    slope: float
    power: float
    size: float
    statistic: float
    p_value: float
    event_times: np.ndarray
    trend: np.ndarray
    sigma: np.ndarray
    base_period: str
    df: float = np.inf
    bayes_factor: float = np.nan
    likelihood_ratio: float = np.nan
    accuracy: float = 0.0

    title = "Power of the pre-test against a linear pre-trend (Roth 2022)"

    def __post_init__(self):
        for name in ("event_times", "trend", "sigma"):
            a = np.array(getattr(self, name), dtype=float)
            a.flags.writeable = False
            object.__setattr__(self, name, a)

    @property
    def rejects(self) -> bool:
        """Whether the pre-test rejects parallel trends on the estimates themselves."""
        if self.test == "wald":
            return bool(self.statistic > stats.chi2.ppf(self.level, self.trend.size))
        return bool(self.statistic > critical_value(self.level, self.df))

    def power_at(self, slope: float) -> float:
        """Probability that the pre-test rejects against a linear trend of `slope`."""
        return _Power(self.trend, self.sigma, self.test, self.level, self.df)(float(slope))

    def _headline(self) -> str:
        return (f"{self.title}: {self.test} test of {self.trend.size} pre-period estimates at "
                f"{100 * (1 - self.level):.3g}% (base period {self.base_period}); observed "
                f"statistic {self.statistic:.3f}, p = {self.p_value:.4f}")

    def tidy(self) -> pd.DataFrame:
        """Slopes and power.

        Returns
        -------
        pandas.DataFrame
            Columns ``test, power_target, slope, power``: one row each for the targets 0.5 and
            0.8 (``slope`` the slope detected with that probability, ``power`` the probability
            computed at it), and, when a slope was given, a row with ``power_target`` NaN and
            the power against it.
        """
        rows = [(t, s, self.power_at(s)) for t, s in zip(_TARGETS, (self.slope_50, self.slope_80))]
        if np.isfinite(self.slope):
            rows.append((np.nan, self.slope, self.power))
        return pd.DataFrame({"test": self.test, "power_target": [r[0] for r in rows],
                             "slope": [r[1] for r in rows], "power": [r[2] for r in rows]})

    def sentence(self, lang: Language = "en", *, unit: str | None = None, period: str | None = None,
                 scale: float = 1.0) -> str:
        """One plain sentence for a report, numbers with two significant figures.

        Parameters
        ----------
        lang : {"en", "zh"}
        unit : str, optional
            The indicator's unit (``"points"``, ``"分"``, ``"percentage points"``, ``"个百分点"``).
        period : str, optional
            The unit of event time (``"year"``, ``"年"``); default ``"period"`` / ``"期"``.
        scale : float
            Multiplies the slopes first (100 for a proportion reported in percentage points).

        Examples
        --------
        ``The pre-test would detect a linear pre-trend of 0.12 points per year only half of the
        time (80% of the time: 0.19).``
        """
        check_choice(lang, Language, "lang")
        s50, s80, s = (_sig2(abs(scale) * v) for v in (self.slope_50, self.slope_80, self.slope))
        pct, size = f"{100 * self.power:.0f}%", f"{100 * self.size:.0f}%"
        if lang == "zh":
            who = "事前趋势检验" if self.test == "wald" else "逐期检查事前估计"
            u, p = unit or "", period or "期"
            if self.slope_50 > 0:
                text = (f"{who}只有一半的把握发现每{p}{s50}{u}的线性趋势差异"
                        f"（要有80%的把握，差异需达每{p}{s80}{u}）。")
            else:   # many pointwise tests: rejects half of the time even with parallel trends
                text = f"{who}在趋势平行时也有{size}的概率拒绝，通过与否说明不了多少问题。"
            if np.isfinite(self.slope):
                text += f"每{p}{s}{u}的趋势差异被发现的概率为{pct}。"
            return text
        who = "The pre-test" if self.test == "wald" else "Checking each pre-period estimate"
        u, p = (f" {unit}" if unit else ""), period or "period"
        if self.slope_50 > 0:
            text = (f"{who} would detect a linear pre-trend of {s50}{u} per {p} only half of the time "
                    f"(80% of the time: {s80}).")
        else:
            text = (f"{who} rejects {size} of the time even when trends are parallel, so passing or "
                    f"failing it says little.")
        if np.isfinite(self.slope):
            text += f" A pre-trend of {s}{u} per {p} would be detected {pct} of the time."
        return text


# -- inputs ------------------------------------------------------------------------------------
def _check_arrays(betahat, sigma, num_pre) -> tuple[np.ndarray, np.ndarray, int]:
    b = np.asarray(betahat, dtype=float).ravel()
    S = np.asarray(sigma, dtype=float)
    if isinstance(num_pre, bool) or not isinstance(num_pre, (int, np.integer)) or not 1 <= num_pre <= b.size:
        raise EvalkitError(f"num_pre={num_pre!r}: give the number of pre-period estimates at the "
                           f"start of betahat, an integer from 1 to {b.size}.")
    if S.shape != (b.size, b.size):
        raise EvalkitError(f"sigma has shape {S.shape} but betahat has {b.size} entries; pass the "
                           f"{b.size} x {b.size} covariance of betahat (e.g. result.vcov()).")
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(S))):
        raise EvalkitError("betahat and sigma must be finite numbers; drop the reference period "
                           "(estimate 0 without a standard error) before calling pretrend_power.")
    if not np.allclose(S, S.T, rtol=1e-8, atol=1e-12 * max(np.max(np.abs(S)), 1e-300)):
        raise EvalkitError("sigma is not symmetric; pass a covariance matrix.")
    num_pre = int(num_pre)
    return b[:num_pre], (S + S.T)[:num_pre, :num_pre] / 2, num_pre


def _check_positive_definite(S: np.ndarray) -> None:
    d = np.diag(S)
    if np.any(~(d > 0)) or np.linalg.eigvalsh(S / np.sqrt(np.outer(d, d)))[0] <= 1e-10:
        raise EstimationError("The covariance of the pre-period estimates is singular (a zero variance "
                              "or perfectly correlated estimates), so the pre-test and its power "
                              "cannot be computed; drop the reference period and any duplicated "
                              "pre-period estimate.")


def _trend(times: np.ndarray, base_period: str, reference_time: float) -> np.ndarray:
    """Mean of each pre-period estimate per unit of slope."""
    if base_period == "universal":
        if np.any(times == reference_time):
            raise EvalkitError(f"event_times contains the reference period {reference_time:g}, "
                               "whose estimate is 0 by construction; leave it out.")
        return times - reference_time
    if times.size == 1:
        return np.ones(1)
    steps = np.diff(times)
    return np.concatenate([steps[:1], steps])


def _event_times(event_times, num_pre: int, n: int, base_period: str, reference_time: float) -> np.ndarray:
    if event_times is None:
        last = reference_time - 1 if base_period == "universal" else reference_time
        return np.arange(last - num_pre + 1, last + 1, dtype=float)
    t = np.asarray(event_times, dtype=float).ravel()
    if t.size == n:
        t = t[:num_pre]
    if t.size != num_pre or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise EvalkitError(f"event_times must give the {num_pre} pre-period event times (or one per "
                           f"entry of betahat, {n}) as increasing numbers, e.g. -4, -3, -2; got "
                           f"{list(np.asarray(event_times).ravel())}.")
    return t


def _build(b, S, times, trend, test, level, slope, base_period, df=np.inf) -> PretrendPower:
    check_choice(test, PretrendTestType, "test")
    critical_value(level)   # checks 0 < level < 1
    if slope is not None and not np.isfinite(float(slope)):
        raise EvalkitError(f"slope={slope!r} must be a finite number (indicator units per period).")
    if not (np.isinf(df) or df > 0):
        raise EvalkitError(f"df={df!r} must be positive (np.inf for the normal).")
    _check_positive_definite(S)
    pw = _Power(trend, S, test, level, float(df))
    stat, p = pw.observed(b)
    given = np.nan if slope is None else float(slope)
    power, size = (np.nan if slope is None else pw(given)), pw(0.0)
    return PretrendPower(test=test, level=float(level), slope_50=pw.slope_for(0.5), slope_80=pw.slope_for(0.8),
                         slope=given, power=power, size=size, statistic=stat, p_value=p, event_times=times,
                         trend=trend, sigma=S, base_period=base_period, df=float(df),
                         bayes_factor=(1 - power) / (1 - size),
                         likelihood_ratio=_likelihood_ratio(b, given * trend, S),
                         accuracy=0.0 if test == "wald" else _abseps(trend.size))


# -- evalkit results -----------------------------------------------------------------------------
def _from_aggregate(res) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    if res.type != "dynamic":
        raise EvalkitError(f"pretrend_power needs an event study: pass result.aggregate('dynamic'), "
                           f"not a {res.type!r} aggregation.")
    e, att, se = (np.asarray(x, dtype=float) for x in (res.levels, res.att, res.se))
    reference = (e < 0) & (att == 0) & ~(se > 0)       # the universal reference: 0 without an SE
    base_period = res.base_period or ("universal" if reference.any() else "varying")  # None: built by hand
    pre = np.flatnonzero((e < 0) & np.isfinite(att) & np.isfinite(se) & (se > 0))
    if pre.size == 0:
        raise EstimationError("The event study has no pre-period estimate with a standard error, so "
                              "there is no pre-test: a survey wave before the programme started is "
                              "needed (or min_e left the pre-periods out).")
    S = res.vcov()[np.ix_(pre, pre)]
    times = e[pre]
    if base_period == "universal":
        ref = float(e[reference].max()) if reference.any() else -1.0
        trend = times - ref
    else:
        steps = np.diff(e)   # the spacing of the periods: each short difference spans one of them
        gap = np.concatenate([steps[:1], steps])
        trend = gap[pre]
        if np.unique(steps).size > 1:
            warnings.warn("The event times are unevenly spaced, so the span of the earliest "
                          "pre-period change (varying base period) is taken to equal the next one; "
                          "pass the att_gt result itself (pretrend_power(att_gt(...))) for the exact "
                          "spans of its cells.", DidWarning, stacklevel=3)
    return att[pre], S, times, trend, base_period


def _from_attgt(res) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    g, t, att, se = (np.asarray(x, dtype=float) for x in (res.group, res.time, res.att, res.se))
    pre = np.flatnonzero((g > t) & np.isfinite(se) & np.isfinite(att))   # as pretrend_test
    if pre.size == 0:
        raise EstimationError("There are no pre-treatment ATT(g,t) with a standard error, so there "
                              "is no pre-test (every group is treated in the second period).")
    periods = np.sort(np.asarray(res.periods, dtype=float))
    S = res.vcov()[np.ix_(pre, pre)]
    if res.base_period == "universal":   # ATT(g, t) = change from the last period before g
        base = np.array([periods[periods < gg].max() for gg in g[pre]])
    else:                                # change from the period before t
        base = np.array([periods[periods < tt].max() for tt in t[pre]])
    return att[pre], S, t[pre] - g[pre], t[pre] - base, res.base_period


def pretrend_power(betahat, sigma=None, num_pre: int | None = None, *, slope: float | None = None,
                   test: PretrendTestType = "wald", level: float = 0.95, event_times=None,
                   base_period: DidBasePeriod = "universal", reference_time: float = -1.0,
                   df: float = np.inf) -> PretrendPower:
    """Power of the pre-test of parallel trends against a linear violation (Roth 2022).

    Parameters
    ----------
    betahat : array-like, AggregateResult or ATTGTResult
        Event-study estimates, pre-periods first (``num_pre`` of them) then post-periods, the
        reference period left out; or an evalkit result: ``att_gt(...).aggregate("dynamic")``
        (its pre-period event times, without the universal reference period) or
        ``att_gt(...)`` (the pre-treatment cells of :meth:`~evalkit.did.ATTGTResult.pretrend_test`),
        with the covariance ``result.vcov()`` (analytic, also for a bootstrapped fit), the
        result's base period and its ``df``.
    sigma : array-like
        Covariance of `betahat` (not with a result).
    num_pre : int
        Number of pre-period estimates at the start of `betahat` (not with a result).
    slope : float, optional
        A slope of interest (indicator units per unit of event time): its power is reported too.
    test : {"wald", "pointwise"}
        The pre-test: evalkit's Wald chi-square, or Roth's "any pre-period estimate significant".
    level : float
        Confidence level of the pre-test (0.95: it rejects at 5%).
    event_times : array-like, optional
        Event times of the pre-periods (or of every entry of `betahat`). Default: the periods
        just before ``reference_time`` (universal), or up to -1 (varying).
    base_period : {"universal", "varying"}
        How the pre-period estimates were formed (arrays only; results carry their own).
    reference_time : float
        The omitted reference period of a universal base period (-1).
    df : float
        Degrees of freedom of the pointwise test's critical value (``inf``: normal, as R
        ``pretrends``); a result passes its own ``df`` (the design df with ``att_gt(design=)``).
        The Wald test stays chi-square, as evalkit's pre-test.

    Returns
    -------
    PretrendPower
        ``tidy()`` has columns ``test, power_target, slope, power``; ``sentence(lang)`` states the
        slopes detected half and 80% of the time.

    Notes
    -----
    Power at slope ``s`` is ``P(pre-test rejects)`` for ``b ~ N(s * d, Sigma)``, where ``d`` is
    ``t - reference_time`` (universal) or the spacing of the periods (varying: each pre-period
    estimate is a one-period change). Wald: ``ncx2.sf(chi2.ppf(level, k), k, s^2 d'Sigma^-1 d)``;
    pointwise: ``1 - P(|b_j| <= z se_j for all j)``. The slopes for 50% and 80% power are roots of
    these in ``s`` (R ``pretrends::slope_for_power`` for the pointwise test, which uses 1.96 for
    ``z``). Only the covariance matters for power; `betahat` gives the observed pre-test.

    From an ``ATTGTResult`` the trend of each pre-treatment cell is exact (its own base period
    from ``result.periods``). From an event study the spans are read off the event times: exact
    for a universal base period and for evenly spaced waves; with uneven waves and a varying
    base period the earliest pre-period's span is assumed (a ``DidWarning`` says so).

    Examples
    --------
    Two pre-periods (event times -3 and -2, reference -1) and one post-period, each with SE 0.1:

    >>> import numpy as np
    >>> pp = pretrend_power(np.zeros(3), np.diag([0.01, 0.01, 0.01]), 2)
    >>> print(pp.sentence(unit="points", period="year"))
    The pre-test would detect a linear pre-trend of 0.10 points per year only half of the time (80% of the time: 0.14).
    """
    if isinstance(betahat, (AggregateResult, ATTGTResult)):
        if sigma is not None or num_pre is not None:
            raise EvalkitError("With an evalkit result pass neither sigma nor num_pre: they come from "
                               "the result (result.vcov() and its pre-period estimates).")
        get = _from_aggregate if isinstance(betahat, AggregateResult) else _from_attgt
        b, S, times, trend, bp = get(betahat)
        return _build(b, S, times, trend, test, level, slope, bp, getattr(betahat, "df", np.inf))
    if sigma is None or num_pre is None:
        raise EvalkitError("pretrend_power(betahat, sigma, num_pre): give the covariance sigma and the "
                           "number of pre-period estimates num_pre, or pass an evalkit event study "
                           "(att_gt(...).aggregate('dynamic')).")
    check_choice(base_period, DidBasePeriod, "base_period")
    b, S, num_pre = _check_arrays(betahat, sigma, num_pre)
    n = np.asarray(betahat).size
    times = _event_times(event_times, num_pre, n, base_period, float(reference_time))
    return _build(b, S, times, _trend(times, base_period, float(reference_time)), test, level, slope,
                  base_period, df)
