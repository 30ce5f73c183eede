"""Staggered difference-in-differences: Callaway & Sant'Anna (2021) group-time ATTs.

:func:`att_gt` estimates every group-time average treatment effect ATT(g, t) with the 2x2
estimators of Sant'Anna & Zhao (2020) (R package ``DRDID``), exactly as R's ``did`` package
(``att_gt``) does, and keeps the unit-level influence functions so that
:meth:`~evalkit.did.ATTGTResult.aggregate` (R ``aggte``) and
:meth:`~evalkit.did.ATTGTResult.pretrend_test` stay correct. Inference is analytic
(influence-function) or a multiplier bootstrap with Rademacher weights, clustered at the unit
and optionally at a coarser level, with simultaneous (sup-t) confidence bands.

The steps live in their own modules, as in R ``did``: :mod:`~evalkit.did.preprocess` (checks
and data layouts), :mod:`~evalkit.did.cells` (the 2x2 estimators and the loop over cells),
:mod:`~evalkit.did.bootstrap` (analytic SEs and the multiplier bootstrap),
:mod:`~evalkit.did.aggregate` (``aggte`` and the pre-test) and :mod:`~evalkit.did.results`.

Conventions follow R ``did`` 2.x: ``group`` is the first period a unit is treated and
never-treated units have group 0; panel data must be balanced unless
``allow_unbalanced_panel=True`` (then, as R did, the rows are used as repeated cross-sections
and the influence function is summed within unit).

Method
------
For group g and period t the 2x2 comparison uses the base period t-1 (varying, when t < g) or
g-1 (post-treatment, or universal). The cell's influence function from ``DRDID`` is rescaled by
n/n1 (n1 = units in the group or the comparison) and the analytic SE is ``sqrt(mean(IF^2)/n)``,
exactly as ``did::att_gt`` with ``bstrap=FALSE``. The multiplier bootstrap uses Rademacher
weights (BMisc's ``multiplier_bootstrap``), SE = IQR of the draws / (q75 - q25 of N(0,1)), and
the uniform band's critical value is the ``level`` quantile (type 1) of the maximal absolute
t-statistic over cells (``did::mboot``). Cluster sums follow R did 2.5 (Callaway & Sant'Anna
2021, Remark 10).

The influence function is scaled so that ``influence[i, k] = n * d att_k / d log w_i`` (w_i the
weight of unit or observation i, before the per-cell normalisation), which
``tests/test_did.py`` checks numerically for every estimator. For ``method="dr"`` with
repeated cross-sections this differs from R ``DRDID::drdid_rc``, which adds the pre-period
outcome-regression terms instead of subtracting them (its analytic SE is off; csdid and the
Python drdid port subtract, as here).

References
----------
Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-Differences with multiple
time periods. Journal of Econometrics 225(2), 200-230.
Sant'Anna, P. H. C. and Zhao, J. (2020). Doubly robust difference-in-differences
estimators. Journal of Econometrics 219(1), 101-122.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from .._literals import DidBasePeriod, DidControl, DidMethod, check_choice
from ..errors import DidWarning, EstimationError
from ..results import critical_value
from .bootstrap import Multiplier, analytic_se
from .cells import PANEL_ESTIMATORS, RC_ESTIMATORS, all_cells
from .design import DesignMultiplier, DesignVariance, ReplicateRefit, design_frame
from .preprocess import Layout, prepare
from .results import ATTGTResult

__all__ = ["att_gt"]


def _level(level: float, alpha: float | None) -> float:
    """The confidence level, from the deprecated ``alpha=`` (1 - level) when that is given."""
    if alpha is not None:
        if level != 0.95:
            raise EstimationError("Pass level= only (alpha= is its deprecated complement).")
        warnings.warn("att_gt(alpha=) is now level= (level = 1 - alpha); alpha= goes in evalkit 0.3.",
                      FutureWarning, stacklevel=4)
        level = 1 - alpha
    if not (0 < level < 1):
        raise EstimationError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level!r}.")
    return level


def _inference(inf: np.ndarray, lay: Layout, bootstrap: int, seed, level: float,
               dv: DesignVariance | None = None):
    """(SEs, critical value, multiplier draws or None) of the cells: analytic (design-based with
    a design), or bootstrap sup-t (PSUs within strata with a design)."""
    if bootstrap == 0:
        if dv is not None:
            se = dv.refit.se() if dv.refit is not None else dv.se(inf)
            return se, critical_value(level, dv.df), None
        return analytic_se(inf, lay.n, lay.cl_codes), critical_value(level), None
    if dv is not None:
        mult = DesignMultiplier(dv, int(bootstrap), seed)
    else:
        mult = Multiplier(lay.n, int(bootstrap), seed, lay.cl_codes)
    se, sup_t = mult.inference(inf, level)
    if not np.isfinite(sup_t):
        return se, critical_value(level), mult
    if sup_t >= 7:
        warnings.warn("The simultaneous critical value is >= 7, arguably too large to be reliable "
                      "(small groups or little outcome variation), as R did warns.",
                      DidWarning, stacklevel=3)
    return se, sup_t, mult


def _checked(level, alpha, control, method, base_period, bootstrap, data, design, weight, cluster,
             unit, panel):
    """att_gt's argument checks; with a design, its rows, weight column and design rows."""
    level = _level(level, alpha)
    control = check_choice(control, DidControl, "control")
    method = check_choice(method, DidMethod, "method")
    base_period = check_choice(base_period, DidBasePeriod, "base_period")
    if not isinstance(bootstrap, (int, np.integer)) or isinstance(bootstrap, bool) or bootstrap < 0:
        raise EstimationError(f"bootstrap must be a non-negative whole number of draws, got {bootstrap!r}.")
    dv_rows = None
    if design is not None:
        data, weight, dv_rows = design_frame(data, design, weight=weight, cluster=cluster, unit=unit,
                                             panel=panel)
    elif data is None:
        raise EstimationError("att_gt needs data= (or design=, whose data are then used).")
    return level, control, method, base_period, data, weight, dv_rows


def _design_variance(design, dv_rows, lay, att, cells_g, cells_t, replicate_variance, fit):
    """The design variance of the cells; with a replicate design and ``"refit"`` the refits."""
    if replicate_variance not in ("refit", "influence"):
        raise EstimationError("replicate_variance must be 'refit' (refit every ATT(g, t) with each "
                              f"replicate's weights) or 'influence', got {replicate_variance!r}.")
    dv = DesignVariance(design, dv_rows[lay.pos], lay.n)
    if dv.replicate and replicate_variance == "refit":
        dv.refit = ReplicateRefit(design, dv.rows, lay, att, cells_g, cells_t, fit)
    return dv


def att_gt(data: pd.DataFrame | None = None, *, y: str, group: str, time: str, unit: str | None = None,
           control: DidControl = "never", method: DidMethod = "dr", covariates: Sequence[str] | None = None,
           weight: str | None = None, cluster: str | None = None, panel: bool = True,
           allow_unbalanced_panel: bool = False, bootstrap: int = 0, level: float = 0.95,
           seed: int | np.random.SeedSequence | None = None, base_period: DidBasePeriod = "varying",
           alpha: float | None = None, design=None, replicate_variance: str = "refit") -> ATTGTResult:
    """Group-time average treatment effects with staggered adoption (R ``did::att_gt``).

    Parameters
    ----------
    data : pandas.DataFrame, optional
        Long data: one row per unit and period (panel) or per respondent (repeated
        cross-sections). May be omitted with ``design=`` (then the design's data are used).
    y, group, time : str
        Outcome, first-treated period (0 = never treated; ``inf`` is read as 0) and
        period columns. ``group`` and ``time`` must be numeric.
    unit : str, optional
        Unit identifier; required when ``panel=True``.
    control : {"never", "notyet"}
        Comparison units: never-treated only (R ``"nevertreated"``), or never-treated
        plus not-yet-treated (R ``"notyettreated"``).
    method : {"dr", "reg", "ipw"}
        2x2 estimator: doubly robust, outcome regression or normalised IPW (``DRDID``'s
        ``drdid_*``, ``reg_did_*``, ``std_ipw_did_*``; see :mod:`evalkit.did.cells`).
    covariates : list of str, optional
        Numeric covariates (an intercept is always added, as R's ``xformla``). In panel
        data each cell uses the values of the earlier of its two periods.
    weight : str, optional
        Sampling weights (R ``weightsname``), time-invariant in panel data; each 2x2
        estimator normalises them to mean one on its own sample, as ``DRDID`` does.
    cluster : str, optional
        Cluster variable coarser than the unit (time-invariant in panel data): analytic SEs
        use cluster sums of the influence function, the bootstrap one multiplier per cluster.
    panel : bool
        ``True`` for panel data, ``False`` for repeated cross-sections.
    allow_unbalanced_panel : bool
        Panel data only. ``False``: an unbalanced panel is an error. ``True`` (R's
        ``allow_unbalanced_panel=TRUE``): each ATT(g, t) is estimated from the rows of its
        two periods with the repeated cross-section estimators and the influence function is
        summed within unit (SEs and draws clustered on the unit, aggregations weighting
        groups by units). A balanced panel is estimated as a panel either way, as in R.
    bootstrap : int
        Number of multiplier-bootstrap draws (0 = analytic SEs). With draws, the
        intervals of :meth:`ATTGTResult.tidy` are simultaneous (sup-t) bands.
    level : float
        Confidence level of the intervals (0.95).
    seed : int, optional
        Seed of the bootstrap draws.
    base_period : {"varying", "universal"}
        Pre-treatment cells compare t with t-1 (``"varying"``, R default) or with g-1
        (``"universal"``, whose reference cell is reported as 0 with no SE).
    alpha : float, optional
        Deprecated: ``1 - level``.
    design : evalkit.survey.SurveyDesign or ReplicateDesign, optional
        The survey design (strata, PSUs, fpc, calibrated weights, or replicate weights): the
        design's weights are used (leave ``weight=`` and ``cluster=`` out), SEs of the
        cells and of every aggregation are design-based (the linearisation variance of the
        total of the influence function, R ``svytotal``; lonely PSUs and calibration as the
        design says), intervals and p-values use t with the design df ``#PSU - #strata``,
        and the bootstrap perturbs PSUs within strata. Panel units must lie in one PSU.
        See :mod:`evalkit.did.design`.
    replicate_variance : {"refit", "influence"}
        Replicate designs: refit ATT(g, t) and aggregations per replicate (R ``svrepdesign``) or
        reweight the influence function (diff-diff, linearised). :mod:`evalkit.did.design`.

    Returns
    -------
    ATTGTResult
        ``.tidy()`` columns ``group, time, event_time, post, estimate, se, df, statistic,
        p_value, ci_low, ci_high, crit_value, band``; ``.influence`` (n x K);
        ``.pretrend_test()``; ``.aggregate(type)``.

    Raises
    ------
    EstimationError
        Missing or non-numeric columns, no never-treated (``control="never"``) or no
        comparison units, a treated group with a single unit, an unbalanced panel without
        ``allow_unbalanced_panel=True``, duplicated unit-period rows, time-varying
        group/weight/cluster within a unit.

    Warns
    -----
    DroppedUnitsWarning
        Rows with missing values, units already treated in the first period (R drops them
        with the same message), groups first treated after the last period (recoded as
        never treated, as R does).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.did import att_gt
    >>> rng = np.random.default_rng(1)
    >>> n = 400
    >>> g = rng.choice([0, 2016, 2017], size=n)
    >>> df = pd.DataFrame({"id": np.repeat(np.arange(n), 4), "year": np.tile([2014, 2015, 2016, 2017], n),
    ...                    "g": np.repeat(g, 4)})
    >>> df["y"] = rng.normal(size=len(df)) + 1.0 * ((df.g > 0) & (df.year >= df.g))
    >>> res = att_gt(df, y="y", group="g", time="year", unit="id")
    >>> agg = res.aggregate("simple")      # planted effect: 1.0
    >>> round(agg.overall_att, 2), round(agg.overall_se, 2)
    (1.06, 0.12)
    """
    level, control, method, base_period, data, weight, dv_rows = _checked(
        level, alpha, control, method, base_period, bootstrap, data, design, weight, cluster, unit, panel)
    lay, glist = prepare(data, y=y, group=group, time=time, unit=unit, covariates=covariates,
                         weight=weight, cluster=cluster, panel=panel,
                         allow_unbalanced_panel=allow_unbalanced_panel, control=control)
    est = (PANEL_ESTIMATORS if lay.mode == "panel" else RC_ESTIMATORS)[method]
    cells_g, cells_t, att, inf, universal_ref = all_cells(lay, glist, est, method, control, base_period)
    dv = None if design is None else _design_variance(
        design, dv_rows, lay, att, cells_g, cells_t, replicate_variance,
        lambda new: all_cells(new, glist, est, method, control, base_period)[2])
    se, crit, mult = _inference(np.where(np.isfinite(inf), inf, 0.0), lay, bootstrap, seed, level, dv)
    return ATTGTResult(
        group=cells_g, time=cells_t, att=att, se=np.where(np.isfinite(att) & ~universal_ref, se, np.nan),
        influence=inf, crit_value=float(crit), level=level, n=lay.n, method=method, control=control,
        panel=panel, base_period=base_period, bootstrap=int(bootstrap), cluster=cluster,
        unit_group=lay.G, unit_weight=lay.W, periods=lay.periods, unbalanced=lay.mode == "unbalanced",
        _cluster_codes=lay.cl_codes, _mult=mult, df=np.inf if dv is None else dv.df, _design=dv,
    )
