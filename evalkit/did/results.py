"""Result objects of :func:`evalkit.did.att_gt`: :class:`ATTGTResult` (group-time ATTs),
:class:`AggregateResult` (R ``aggte``) and :class:`PretrendTest` (the Wald pre-test).

All three are frozen dataclasses with read-only arrays and inherit
:class:`evalkit.results.Result`, so ``tidy()`` uses evalkit's one vocabulary
(``estimate, se, df, statistic, p_value, ci_low, ci_high``; ``df`` is ``inf``, the normal
reference distribution, or with ``att_gt(design=)`` the design degrees of freedom
``#PSU - #strata`` of a t reference), ``summary`` is text and notebooks show the table.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._literals import DidAggregation, check_choice
from ..errors import DidWarning, EstimationError
from ..results import Result, critical_value, wald_columns
from .aggregate import aggte, pretrend_wald
from .bootstrap import Multiplier, influence_cov, se_and_crit
from .design import DesignVariance

__all__ = ["ATTGTResult", "AggregateResult", "PretrendTest"]


def _renamed(old: str, new: str) -> None:
    warnings.warn(f"{old} is now {new} (evalkit's result vocabulary); {old} goes in evalkit 0.3.",
                  FutureWarning, stacklevel=3)


def _freeze(obj, names) -> None:
    """Make the array attributes `names` of a frozen dataclass read-only: views of arrays that
    own their data, copies of views (which may be a caller's frame)."""
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        a = np.asarray(value)
        a = a.view() if a.flags.owndata else a.copy()
        a.flags.writeable = False
        object.__setattr__(obj, name, a)


def _as_int_if_whole(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a.astype(np.int64) if a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)) else a


def _stat_columns(estimate, se, level: float, crit: float, df: float = np.inf) -> dict[str, np.ndarray]:
    """The vocabulary columns with pointwise statistic and p-value (normal, or t with the design
    df) and intervals ``estimate -/+ crit * se`` (crit: pointwise or sup-t)."""
    cols = wald_columns(estimate, se, df=df, level=level)
    cols["ci_low"] = cols["estimate"] - crit * cols["se"]
    cols["ci_high"] = cols["estimate"] + crit * cols["se"]
    return cols


@dataclass(frozen=True, repr=False)
class PretrendTest(Result):
    """Wald pre-test that every pre-treatment ATT(g, t) is zero (R did's ``W``/``Wpval``).

    ``statistic`` is the Wald chi-square statistic with ``df`` degrees of freedom.
    """

    statistic: float
    df: int
    p_value: float

    title = "Pre-test of parallel trends"

    @property
    def stat(self) -> float:
        """Deprecated name of :attr:`statistic`."""
        _renamed("PretrendTest.stat", "PretrendTest.statistic")
        return self.statistic

    def _headline(self) -> str:
        return f"{self.title}: Wald chi-square({self.df}) = {self.statistic:.3f}, p = {self.p_value:.5f}"

    def tidy(self) -> pd.DataFrame:
        """One-row frame with columns ``test, df, statistic, p_value``."""
        return pd.DataFrame({"test": ["pre-trends Wald"], "df": [self.df], "statistic": [self.statistic],
                             "p_value": [self.p_value]})


@dataclass(frozen=True, eq=False, repr=False)
class AggregateResult(Result):
    """Aggregated ATT (R ``aggte``): overall effect plus per-group/event-time/period effects.

    Attributes
    ----------
    type : str
        ``"simple"``, ``"group"``, ``"dynamic"`` or ``"calendar"``.
    overall_att, overall_se : float
        The overall summary parameter and its standard error.
    levels, att, se : numpy.ndarray
        The groups, event times or periods and their estimates (empty for ``simple``).
    crit_value : float
        Critical value of the per-level confidence intervals: the sup-t (uniform band)
        value from the multiplier bootstrap when the result was bootstrapped, else the
        pointwise normal quantile.
    level : float
        Confidence level (0.95).
    influence : numpy.ndarray
        n x L influence functions of the per-level estimates (``overall_influence`` for
        the overall one).
    df : float
        Degrees of freedom of the t reference (``inf``: normal; the design df with a survey
        design).
    base_period : {"universal", "varying"} or None
        The base period of the att_gt fit it aggregates (``None`` for a result built by hand).
    n_clusters : int or None
        Number of clusters of a clustered fit (``None`` unclustered or with a design): the
        sensitivity analysis (:func:`evalkit.honest_did`) takes t critical values on
        ``n_clusters - 1`` df from it.
    """

    type: str
    overall_att: float
    overall_se: float
    levels: np.ndarray
    att: np.ndarray
    se: np.ndarray
    crit_value: float
    level: float
    influence: np.ndarray
    overall_influence: np.ndarray
    uniform: bool
    min_e: float = -np.inf
    max_e: float = np.inf
    balance_e: int | None = None
    df: float = np.inf
    _vcov: np.ndarray | None = field(default=None, repr=False)
    n_clusters: int | None = None
    base_period: str | None = None

    title = "Aggregated ATT"

    def __post_init__(self):
        _freeze(self, ("levels", "att", "se", "influence", "overall_influence", "_vcov"))

    def vcov(self) -> np.ndarray:
        """L x L covariance of :attr:`att` (one row and column per level).

        The analytic variance the SEs use: cluster sums of the influence functions
        (``S'S / n^2``), or the design variance with ``att_gt(design=)``; so
        ``np.sqrt(np.diag(vcov()))`` equals :attr:`se` when the result is not bootstrapped
        (with the bootstrap the SEs are the bootstrap ones and this stays analytic, as
        HonestDiD's use of ``did``'s influence functions). Levels with a numerically zero SE
        (``se`` NaN) keep their tiny variance here.
        """
        if self._vcov is None:
            raise EstimationError("This AggregateResult carries no covariance; build it with "
                                  "ATTGTResult.aggregate(...) (att_gt(...).aggregate('dynamic')).")
        return np.array(self._vcov, dtype=float)

    @property
    def alpha(self) -> float:
        """Deprecated: ``1 - level``."""
        _renamed("AggregateResult.alpha", "AggregateResult.level")
        return 1 - self.level

    @property
    def overall_ci(self) -> tuple[float, float]:
        z = critical_value(self.level, self.df)
        return (self.overall_att - z * self.overall_se, self.overall_att + z * self.overall_se)

    def _headline(self) -> str:
        lo, hi = self.overall_ci
        return (f"{self.title} ({self.type}): {self.overall_att:.4f} (SE {self.overall_se:.4f}, "
                f"{100 * self.level:.0f}% CI {lo:.4f} to {hi:.4f})")

    def overall(self) -> pd.DataFrame:
        """One-row frame ``type, estimate, se, df, statistic, p_value, ci_low, ci_high`` for the
        overall parameter (pointwise normal interval at ``level``)."""
        cols = wald_columns([self.overall_att], [self.overall_se], df=self.df, level=self.level)
        return pd.DataFrame({"type": [self.type], **cols})

    def tidy(self) -> pd.DataFrame:
        """Per-level estimates.

        Returns
        -------
        pandas.DataFrame
            ``simple``: :meth:`overall`. ``group``: column ``group``; ``dynamic``:
            ``event_time`` and ``post``; ``calendar``: ``time``; each followed by
            ``estimate, se, df, statistic, p_value, ci_low, ci_high, crit_value, band``, where
            the intervals use ``crit_value`` and ``band`` is ``"uniform"`` (sup-t bootstrap)
            or ``"pointwise"``; ``statistic`` and ``p_value`` are pointwise (normal).
        """
        if self.type == "simple":
            return self.overall()
        key = {"group": "group", "dynamic": "event_time", "calendar": "time"}[self.type]
        out = pd.DataFrame({key: _as_int_if_whole(self.levels)})
        if self.type == "dynamic":
            out["post"] = self.levels >= 0
        for name, col in _stat_columns(self.att, self.se, self.level, self.crit_value, self.df).items():
            out[name] = col
        out["crit_value"] = self.crit_value
        out["band"] = "uniform" if self.uniform else "pointwise"
        return out


@dataclass(frozen=True, eq=False, repr=False)
class ATTGTResult(Result):
    """Group-time average treatment effects ATT(g, t) with their influence functions.

    Attributes
    ----------
    group, time, att, se : numpy.ndarray
        One entry per (g, t) cell, ordered by group then time (as R ``did``).
    influence : numpy.ndarray
        n x K influence-function matrix (n units for panel data, n rows for repeated
        cross-sections; already scaled by n/n1 as in R ``did``), so that
        ``se = sqrt(sum(IF**2)) / n``.
    crit_value : float
        Critical value used for the confidence intervals: sup-t uniform band when
        ``bootstrap > 0``, else the pointwise normal quantile at ``level``.
    level : float
        Confidence level (0.95).
    n : int
        Number of units (panel, also unbalanced) or observations (repeated
        cross-sections).
    unbalanced : bool
        ``True`` when an unbalanced panel was estimated with
        ``allow_unbalanced_panel=True`` (influence rows are units).
    df : float
        Degrees of freedom of the t reference of statistics, p-values and pointwise
        intervals: ``inf`` (normal), or the design df ``#PSU - #strata`` with ``design=``
        (then the SEs are design-based, :mod:`evalkit.did.design`).
    """

    group: np.ndarray
    time: np.ndarray
    att: np.ndarray
    se: np.ndarray
    influence: np.ndarray
    crit_value: float
    level: float
    n: int
    method: str
    control: str
    panel: bool
    base_period: str
    bootstrap: int
    cluster: str | None
    unit_group: np.ndarray = field(repr=False)
    unit_weight: np.ndarray = field(repr=False)
    periods: np.ndarray = field(repr=False)
    unbalanced: bool = False
    _cluster_codes: np.ndarray | None = field(default=None, repr=False)
    _mult: Multiplier | None = field(default=None, repr=False)
    df: float = np.inf
    _design: DesignVariance | None = field(default=None, repr=False)

    title = "Group-time ATTs (Callaway & Sant'Anna 2021)"

    def __post_init__(self):
        _freeze(self, ("group", "time", "att", "se", "influence", "unit_group", "unit_weight", "periods",
                       "_cluster_codes"))

    @property
    def alpha(self) -> float:
        """Deprecated: ``1 - level``."""
        _renamed("ATTGTResult.alpha", "ATTGTResult.level")
        return 1 - self.level

    # -- presentation -------------------------------------------------------
    def tidy(self) -> pd.DataFrame:
        """All ATT(g, t).

        Returns
        -------
        pandas.DataFrame
            Columns ``group, time, event_time, post, estimate, se, df, statistic, p_value,
            ci_low, ci_high, crit_value, band``; ``statistic`` and ``p_value`` are pointwise
            (normal), the intervals use ``crit_value`` and ``band`` is ``"uniform"``
            (bootstrap sup-t) or ``"pointwise"``.
        """
        return pd.DataFrame({
            "group": _as_int_if_whole(self.group), "time": _as_int_if_whole(self.time),
            "event_time": _as_int_if_whole(self.time - self.group), "post": self.time >= self.group,
            **_stat_columns(self.att, self.se, self.level, self.crit_value, self.df),
            "crit_value": self.crit_value, "band": "uniform" if self.bootstrap > 0 else "pointwise",
        })

    def _headline(self) -> str:
        if self.unbalanced:
            kind = "unbalanced panel (rows as repeated cross-sections, clustered on unit)"
        else:
            kind = "panel" if self.panel else "repeated cross-sections"
        inference = f"multiplier bootstrap B={self.bootstrap}" if self.bootstrap else "analytic"
        if self._design is not None:
            inference += f", survey design (PSUs within strata, df={self.df:g})"
        return (f"{self.title}, method={self.method}, control={self.control}, {kind}, n={self.n}, "
                f"inference={inference}")

    @property
    def summary(self) -> str:
        """The headline, the table and the pre-test of parallel trends."""
        try:
            pt = self.pretrend_test()
            line = (f"P-value for pre-test of parallel trends assumption: {pt.p_value:.5f} "
                    f"(Wald {pt.statistic:.3f}, df {pt.df})")
        except EstimationError as exc:
            line = f"No pre-test of parallel trends: {exc}"
        return f"{Result.summary.fget(self)}\n{line}"

    # -- inference ------------------------------------------------------------
    def _vcov_of(self, inf: np.ndarray) -> np.ndarray:
        """Analytic covariance of the estimates whose influence columns are `inf`."""
        if self._design is not None:
            return self._design.cov(inf) / self._design.n
        return influence_cov(inf, self.n, self._cluster_codes) / self.n

    @property
    def n_clusters(self) -> int | None:
        """Number of clusters (``cluster=``), ``None`` without clustering or with a design."""
        if self._design is not None or self._cluster_codes is None:
            return None
        return int(np.unique(np.asarray(self._cluster_codes)).size)

    def vcov(self) -> np.ndarray:
        """K x K covariance of :attr:`att` (one row and column per (g, t) cell, in their order).

        The analytic variance the SEs use (cluster sums of the influence functions,
        ``S'S / n^2``, or the design variance with ``design=``): ``np.sqrt(np.diag(vcov()))``
        equals :attr:`se` when ``bootstrap=0``; with the bootstrap it stays analytic. With a
        replicate design refitted per replicate it is the replicate covariance of the refits.
        """
        if self._refit is not None:
            return self._refit.cov()
        return self._vcov_of(self.influence)

    @property
    def _refit(self):
        """The replicate refits (:class:`evalkit.did.design.ReplicateRefit`) or None."""
        return None if self._design is None else self._design.refit

    def _se_and_crit(self, inf: np.ndarray) -> tuple[np.ndarray, float]:
        if self._design is not None and self._mult is None:
            return self._design.se(inf), critical_value(self.level, self.df)
        return se_and_crit(inf, self.n, self._cluster_codes, self._mult, self.level)

    def pretrend_test(self) -> PretrendTest:
        """Wald test that all pre-treatment ATT(g, t) are zero.

        Returns
        -------
        PretrendTest
            ``statistic`` = n a' V^-1 a with V the (cluster-summed) influence-function
            covariance of the pre-treatment cells with positive variance, ``df`` their
            number, ``p_value`` from chi-square(df).

        Notes
        -----
        Matches R ``did``'s "P-value for pre-test of parallel trends assumption"
        (``att_gt``: ``W <- n*t(preatt)%*%solve(preV)%*%preatt``), which always uses the
        analytic covariance. With a cluster variable the covariance is the cluster-sum
        one (R 2.5 does this with ``bstrap=FALSE`` and skips the test with the bootstrap).
        With a survey design it is the design (linearisation) covariance and the statistic
        stays chi-square (no F correction for the design df).

        Raises
        ------
        EstimationError
            No pre-treatment cells with positive variance, or a singular covariance.
        """
        if self._refit is not None:
            cov = self.n * self._refit.cov()
        elif self._design is not None:
            cov = self._design.cov(self.influence)
        else:
            cov = influence_cov(self.influence, self.n, self._cluster_codes)
        W, df, p = pretrend_wald(self.group, self.time, self.att, self.se, cov, self.n)
        return PretrendTest(statistic=W, df=df, p_value=p)

    def aggregate(self, type: DidAggregation = "group", *, min_e: float = -np.inf,
                  max_e: float = np.inf, balance_e: int | None = None) -> AggregateResult:
        """Aggregate the ATT(g, t) (R ``aggte``).

        Parameters
        ----------
        type : {"simple", "group", "dynamic", "calendar"}
            ``simple``: post-treatment ATT(g, t) weighted by group size; ``group``: average
            effect per group, then averaged with group-size weights; ``dynamic``: event
            study by event time e = t - g, overall = mean over e >= 0; ``calendar``: by
            calendar period, overall = mean over periods.
        min_e, max_e : float
            Event-time window. As in R, ``max_e`` also trims the post-treatment cells
            used by ``simple`` and ``group``; ``min_e`` only restricts ``dynamic``.
        balance_e : int, optional
            ``dynamic`` only: keep groups observed for at least ``balance_e`` periods after
            treatment and event times up to ``balance_e``.

        Returns
        -------
        AggregateResult

        Notes
        -----
        Estimates and influence functions as R ``did::aggte`` (:mod:`evalkit.did.aggregate`).
        SEs are ``sqrt(mean(IF^2)/n)`` (cluster sums when clustered; the design variance of
        the IF total with a survey design) or the bootstrap IQR SE with the same multiplier
        draws as :func:`~evalkit.did.att_gt` (a replicate design refitted per replicate: the
        replicate variance of each replicate's aggregation); with the bootstrap the
        per-level intervals are a sup-t band unless its critical value is undefined or below
        the pointwise one (then pointwise, with a warning, as R).
        """
        check_choice(type, DidAggregation, "type")
        agg = aggte(self.group, self.time, self.att, self.influence, unit_group=self.unit_group,
                    unit_weight=self.unit_weight, periods=self.periods, type=type, min_e=min_e,
                    max_e=max_e, balance_e=balance_e)
        se_l, crit = self._se_and_crit(agg.influence)
        z = critical_value(self.level, self.df)
        uniform = self._mult is not None and agg.levels.size > 0
        if uniform and (not np.isfinite(crit) or crit < z):
            warnings.warn("The simultaneous critical value is undefined or below the pointwise "
                          "one; reporting pointwise intervals (as R aggte does).",
                          DidWarning, stacklevel=2)
            uniform = False
        se_o = self._se_and_crit(agg.overall_influence[:, None])[0][0]
        vcov = None
        if self._refit is not None:  # each replicate's ATT(g, t) aggregated, then their variance
            se_l, se_o, vcov = self._refit.aggregate(
                agg, unit_group=self.unit_group, group=self.group, time=self.time, periods=self.periods,
                type=type, min_e=min_e, max_e=max_e, balance_e=balance_e)
        return AggregateResult(type=type, overall_att=float(agg.overall), overall_se=float(se_o),
                               levels=np.asarray(agg.levels), att=np.asarray(agg.att, float),
                               se=np.asarray(se_l, float), crit_value=float(crit if uniform else z),
                               level=self.level, influence=agg.influence,
                               overall_influence=agg.overall_influence, uniform=uniform,
                               min_e=min_e, max_e=max_e, balance_e=balance_e, df=self.df,
                               _vcov=self._vcov_of(agg.influence) if vcov is None else vcov,
                               n_clusters=self.n_clusters, base_period=self.base_period)
