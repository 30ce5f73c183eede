"""The survey design inside :func:`evalkit.did.att_gt` (issue 15, item 1): design-based variance
of the group-time ATTs and of their aggregations.

With ``design=`` (a :class:`evalkit.survey.SurveyDesign`) the ATT(g, t) are estimated with the
design's (possibly calibrated) weights, and the influence function of every estimate is taken
as a linearised score: with ``IF_i`` scaled as in :mod:`evalkit.did.bootstrap`
(``att - att_0 ~ sum_i IF_i / n``), the score of influence row ``i`` is ``z_i = IF_i / n`` and

.. math::  \\hat V = \\sum_h (1 - f_h)\\,\\frac{n_h}{n_h-1}\\sum_{i \\in h} (z_{hi} - \\bar z_h)^2,

with ``z_hi`` the PSU totals of the scores within stratum ``h`` (the design's
:meth:`~evalkit.survey.SurveyDesign.linearized_variance`: lonely PSUs, calibration and the fpc
as there). This is R survey's ``svytotal(~IF_i / (n w_i), design)``: the variance of the
estimated total of the influence function. Intervals and p-values use Student t with the design
degrees of freedom ``#PSU - #strata`` (R ``degf``) of the rows in the design (its subset).

Which design row an influence row belongs to: repeated cross-sections (``panel=False``) have
one influence row per respondent, its own design row. Panels (balanced, or unbalanced with
``allow_unbalanced_panel=True``) have one influence row per unit; it is put on the unit's first
row, so a unit must lie in one PSU and one stratum over the periods (else an error). Rows
dropped by ``att_gt`` (missing values, units treated in the first period) and rows outside a
:meth:`~evalkit.survey.SurveyDesign.subset` carry a zero score; their PSUs still count (R's
domain semantics), as does ``n_h`` of the whole design.

With one PSU per respondent, no strata and no fpc this is today's analytic SE times
``sqrt(n / (n - 1))`` (the with-replacement factor ``n_h/(n_h-1)`` that R survey applies and
R ``did`` does not; the centring changes nothing because the influence functions sum to 0),
and the intervals use t with ``n - 1`` df.

Replicate-weight designs (:class:`evalkit.survey.ReplicateDesign`), ``replicate_variance="refit"``
(the default; R ``svrepdesign``/``withReplicates``, as ``SurveyDesign.mean``, ``domain_means`` and
``regress(design=)``): every ATT(g, t) is re-estimated by att_gt's own cell code with each
replicate's weights (:class:`ReplicateRefit`; a row a replicate weights 0 drops out of every
weighted mean, regression and logit), each aggregation is recomputed from that replicate's
ATT(g, t) with that replicate's group sizes ``pg``, and the variance is the design's
``scale * sum_r rscales_r (theta_r - c)^2`` with ``c`` the mean of the replicates (the full-sample
estimate with ``mse``); ``vcov()``, the pre-test and the aggregations' covariances are the
replicate covariances. A replicate that leaves a cell with no treated or no comparison weight
(a jackknife deleting a cohort's only PSU) raises an EstimationError naming the replicate and the
cell. Cost: R more passes of the cell loop (152 JKn replicates on the shipped survey, 17,000
rows: 0.4-1.5 s). ``replicate_variance="influence"``: the influence function is reweighted
under each replicate, ``T_r = sum_i (w_ri / w_i) z_i`` (diff-diff's ``compute_replicate_if_variance``;
R ``svytotal(~IF / (n w), repdesign)``), and the variance is the design's replicate variance of
the ``T_r``: the linearised refit, equal to it as Fay's rho -> 1, but smaller where cohorts sit in
few PSUs (by 1-35% on tests/test_design_kinds.py's data, 6-7 PSUs per cohort; BRR most, 21-35%;
0.2-0.7% on the shipped survey with JKn and cohorts assigned for the measurement). Either way df is the design's (rank of the replicate
weights - 1); no multiplier bootstrap on top of replicates. Panel units must keep their replicate
weights over the periods.

Multiplier bootstrap with a design (:class:`DesignMultiplier`): one Rademacher multiplier per
PSU, applied to the PSU totals of the scores centred within their stratum and scaled by
``sqrt((1 - f_h) n_h / (n_h - 1))``, so that the variance of the draws equals the linearisation
variance above; PSUs are thus perturbed within strata, never across. Its SE (IQR / 1.349) and
sup-t critical value follow R did's ``mboot``.

Checked (tests/test_did_design.py): the refit against ``att_gt(weight=<replicate column>)`` run
per replicate and R's svrVar formula (JK1, JKn, BRR, Fay, bootstrap, with and without mse, cells,
``vcov()`` and all four aggregations, repeated cross-sections and a panel; SDR and ``other``
columns in tests/test_design_kinds.py); the textbook stratified formula by explicit loops and
``SurveyDesign.total`` of the IF column (1e-10); diff-diff 3.13's survey-design
``CallawaySantAnna`` (ATT(g, t), simple and event-study aggregations, design df) to 1e-9 for
repeated cross-sections with fpc and covariates and for a panel. diff-diff differs only in its
``"reg"`` estimator for repeated cross-sections with covariates, with or without a design.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from ..errors import EstimationError
from .aggregate import aggte
from .bootstrap import _ZERO_SE, Multiplier

__all__ = ["DesignVariance", "DesignMultiplier", "ReplicateRefit", "design_frame"]

_W = "__evalkit_design_weight__"


def design_frame(data, design, *, weight: str | None, cluster: str | None, unit: str | None,
                 panel: bool) -> tuple[pd.DataFrame, str, np.ndarray]:
    """The rows att_gt estimates on, the name of their weight column and their positions among
    the design's rows. Checks that `data` is the design's data and that the other arguments
    do not contradict the design."""
    if not (_is_linearisation(design) or _is_replicate(design)):
        raise EstimationError(
            f"design= must be an evalkit.survey.SurveyDesign (strata, PSUs, fpc) or ReplicateDesign, "
            f"got {type(design).__name__}: build it with SurveyDesign(data, weight=, strata=, psu=, "
            "fpc=) or SurveyDesign.from_replicates(...).")
    frame = design.data
    if data is not None and data is not frame:
        if len(data) != len(frame) or not data.index.equals(frame.index):
            raise EstimationError(
                f"data ({len(data)} rows) are not the rows of the design ({len(frame)} rows, same "
                "index and order needed). Pass data=None to use the design's own data, or build the "
                "design from this frame: SurveyDesign(data, weight=..., strata=..., psu=...).")
        frame = data
    if cluster is not None:
        raise EstimationError(
            f"cluster={cluster!r} and design= both give the clustering. With a design the PSUs are "
            "the clusters: drop cluster=, or build the design with psu=" f"{cluster!r}.")
    dw = getattr(design, "_weight", None)
    if weight is not None and weight != dw:
        raise EstimationError(
            f"weight={weight!r} differs from the design's weight column {dw!r}. With design= the "
            "design's weights (calibrated ones included) are used: drop weight=.")
    if _W in frame.columns:
        raise EstimationError(f"The data hold a column named {_W!r}, which att_gt reserves; rename it.")
    keep = np.flatnonzero(design._rows_in_design())
    out = frame.iloc[keep].assign(**{_W: design.weights[keep]})
    if panel and unit is not None and unit in out.columns:
        if _is_replicate(design):
            _check_units_nested(out, unit, {"set of replicate weights": replicate_codes(
                design.replicate_weights[keep])})
        else:
            _check_units_nested(out, unit, {"PSU": design.psu_codes[keep], "stratum": design.strata_codes[keep]})
    return out, _W, keep


def _is_linearisation(design) -> bool:
    return hasattr(design, "linearized_variance") and hasattr(design, "psu_codes")


def _is_replicate(design) -> bool:
    return hasattr(design, "replicate_weights") and hasattr(design, "variance")


def replicate_codes(rep: np.ndarray) -> np.ndarray:
    """One code per distinct row of replicate weights (a panel unit must keep its replicate weights)."""
    return pd.factorize(pd.Series(map(bytes, np.ascontiguousarray(rep, dtype=float))))[0]


def _check_units_nested(frame: pd.DataFrame, unit: str, parts: dict[str, np.ndarray]) -> None:
    """A panel unit's influence row belongs to one PSU (stratum, set of replicate weights):
    refuse units spread over several."""
    codes = pd.factorize(frame[unit])[0]
    ok = codes >= 0
    for what, c in parts.items():
        n_per_unit = pd.Series(c[ok]).groupby(codes[ok]).nunique()
        bad = n_per_unit.index[n_per_unit.to_numpy() > 1]
        if bad.size:
            first = np.flatnonzero(np.isin(codes, bad[:3]))
            ids = pd.unique(frame[unit].to_numpy()[first])[:3]
            raise EstimationError(
                f"Panel units lie in more than one design {what} (e.g. {unit}={', '.join(map(repr, ids))} "
                f"at data rows {', '.join(map(str, frame.index[first][:3]))}); a unit's influence "
                f"function must belong to one {what}. Fix the {what} column so each unit keeps its "
                "first-wave PSU and stratum, or estimate as repeated cross-sections (panel=False).")


class DesignVariance:
    """Design-based variance of estimates with influence rows placed on design rows.

    Parameters
    ----------
    design : SurveyDesign
    rows : numpy.ndarray
        Design row of each influence row (length n).
    n : int
        Influence rows (the ``n`` of the scaling ``att - att_0 ~ sum IF / n``).
    """

    def __init__(self, design, rows: np.ndarray, n: int):
        self.design = design
        self.replicate = _is_replicate(design)
        self.refit: ReplicateRefit | None = None  # set by att_gt with replicate_variance="refit"
        self.rows = np.asarray(rows, dtype=np.int64)
        self.n = int(n)
        self.N = len(design.weights)
        self.df = float(design.degf)
        if self.df < 1:
            raise EstimationError(
                f"The design has #PSU - #strata = {design.degf} degrees of freedom; design-based "
                "intervals need at least 1 (more PSUs than strata).")

    def scores(self, inf: np.ndarray) -> np.ndarray:
        """N x k design-row scores ``IF / n`` (0 on rows without an influence row)."""
        inf = np.nan_to_num(np.asarray(inf, dtype=float))
        inf = inf[:, None] if inf.ndim == 1 else inf
        Z = np.zeros((self.N, inf.shape[1]))
        np.add.at(Z, self.rows, inf / self.n)
        return Z

    def _variance(self, inf: np.ndarray, cov: bool) -> np.ndarray:
        Z = self.scores(inf)
        if not self.replicate:
            return self.design.linearized_variance(Z, cov=cov)
        d = self.design
        w = d.weights
        inside = d._rows_in_design() & (w > 0)
        ratio = np.zeros((w.size, d.n_replicates))
        ratio[inside] = d.replicate_weights[inside] / w[inside, None]
        return d.variance(ratio.T @ Z, Z.sum(axis=0), cov=cov)

    def se(self, inf: np.ndarray) -> np.ndarray:
        """Design-based SEs of the columns of `inf`; NaN where numerically zero (as R did)."""
        v = self._variance(inf, cov=False)
        se = np.sqrt(np.maximum(np.atleast_1d(v), 0.0))
        return np.where(se > _ZERO_SE, se, np.nan)

    def cov(self, inf: np.ndarray) -> np.ndarray:
        """``n`` times the design covariance (the scale of :func:`bootstrap.influence_cov`)."""
        return self.n * np.atleast_2d(self._variance(inf, cov=True))


class DesignMultiplier(Multiplier):
    """Multiplier bootstrap over PSUs within strata (module docstring): one Rademacher draw per
    PSU times the stratum-centred, fpc-scaled PSU totals of the scores."""

    def __init__(self, dv: DesignVariance, B: int, seed):
        if dv.replicate:
            raise EstimationError(
                "bootstrap= with a replicate-weight design: the replicate weights already are the "
                "resampling. Use bootstrap=0 (the replicate variance).")
        s = dv.design._s
        self.dv, self.s, self.n, self.B = dv, s, dv.n, B
        self.cluster_codes, self.bits = None, None
        self.m = s.n_psu_total
        rng = np.random.default_rng(seed)
        self.v = rng.integers(0, 2, size=(B, self.m)).astype(float) * 2.0 - 1.0
        self._root = np.sqrt(s.scale[s.psu_stratum] * s.avg_factor)

    def sums(self, inf: np.ndarray) -> np.ndarray:
        """B x k bootstrap deviations of the estimates."""
        d = self.dv.design
        Z = self.dv.scores(inf)
        if d._calib is not None:
            Z = d._calib.residualise(Z, d.weights)
        s = self.s
        T = s.psu_totals(Z)
        S = np.add.reduceat(T, s.starts, axis=0)
        dev = T - (S / s.n_h[:, None])[s.psu_stratum]
        if s.adjust.any():
            dev[s.starts[s.adjust]] = s.lonely_dev(S, d._present_strata())
        return self.v @ (dev * self._root[:, None])


class ReplicateRefit:
    """Replicate variance by refitting (R ``svrepdesign`` / ``withReplicates``): every ATT(g, t)
    re-estimated with each replicate's weights by att_gt's own cell code, and every aggregation
    recomputed from each replicate's ATT(g, t) with that replicate's group weights.

    Parameters
    ----------
    design : ReplicateDesign
    rows : numpy.ndarray
        Design row of each influence row (its replicate weights are the unit's or row's).
    lay : Layout
        att_gt's layout of the data (:mod:`evalkit.did.preprocess`).
    att, group, time : numpy.ndarray
        Full-sample ATT(g, t) and their cells.
    fit : callable
        ``fit(layout) -> ATT(g, t)`` (the cell loop) for a layout with other weights.
    """

    def __init__(self, design, rows: np.ndarray, lay, att: np.ndarray, group: np.ndarray,
                 time: np.ndarray, fit):
        self.design = design
        self.W = np.asarray(design.replicate_weights, dtype=float)[np.asarray(rows, dtype=np.int64)]
        self.att = np.asarray(att, dtype=float)
        self.thetas = np.full((self.W.shape[1], self.att.size), np.nan)
        for r in range(self.W.shape[1]):
            self.thetas[r] = self._one(lay, r, fit, group, time)
        self._cov = self._variance(self.thetas, self.att)

    def _one(self, lay, r: int, fit, group, time) -> np.ndarray:
        w = self.W[:, r]
        new = replace(lay, W=w, Wr=None if lay.Wr is None else (
            w[lay.row_unit] if lay.mode == "unbalanced" else w))
        where = f"replicate {r + 1} of {self.W.shape[1]}"
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                theta = np.asarray(fit(new), dtype=float)
        except (EstimationError, np.linalg.LinAlgError) as exc:
            raise EstimationError(
                f"att_gt could not be refitted with the weights of {where}: {exc} Use "
                "replicate_variance='influence' (the linearised replicate variance), or merge "
                "small cohorts so that every replicate keeps treated and comparison units.") from None
        bad = np.flatnonzero(~np.isfinite(theta) & np.isfinite(self.att))
        if bad.size:
            cells = ", ".join(f"(group {group[k]:g}, period {time[k]:g})" for k in bad[:5])
            raise EstimationError(
                f"ATT(g, t) cannot be estimated with the weights of {where} for {cells}: the "
                "replicate gives zero weight to all treated or all comparison rows of the cell "
                "(e.g. a jackknife deleting the only PSU of a cohort). Use "
                "replicate_variance='influence' (the linearised replicate variance), or merge "
                "cohorts / drop those cells' periods so that each cell spans several PSUs.")
        return theta

    def _variance(self, thetas: np.ndarray, full: np.ndarray) -> np.ndarray:
        """Replicate covariance (the design's scale, rscales, mse); NaN for NaN estimates."""
        ok = np.isfinite(full)
        V = np.atleast_2d(self.design.variance(np.where(ok, thetas, 0.0), np.where(ok, full, 0.0),
                                               cov=True))
        V[~ok, :] = np.nan
        V[:, ~ok] = np.nan
        return V

    def cov(self) -> np.ndarray:
        """K x K replicate covariance of the ATT(g, t)."""
        return self._cov.copy()

    def se(self) -> np.ndarray:
        """Replicate SEs of the ATT(g, t); NaN where numerically zero (reference cells)."""
        se = np.sqrt(np.maximum(np.diag(self._cov), 0.0))
        return np.where(se > _ZERO_SE, se, np.nan)

    def aggregate(self, agg, *, unit_group: np.ndarray, group: np.ndarray, time: np.ndarray,
                  periods: np.ndarray, **how) -> tuple[np.ndarray, float, np.ndarray]:
        """(level SEs, overall SE, level covariance) of an aggregation `agg` (R aggte, `how` its
        type/min_e/max_e/balance_e) from its recomputation under each replicate: each replicate's
        ATT(g, t) weighted by that replicate's group sizes ``pg``."""
        glist = np.unique(group)
        S = np.column_stack([self.W[unit_group == g].sum(axis=0) for g in glist])  # R x groups
        none = np.zeros((glist.size, group.size))
        rep = []
        for r in range(self.W.shape[1]):
            a = aggte(group, time, self.thetas[r], none, unit_group=glist, unit_weight=S[r],
                      periods=periods, **how)
            rep.append(np.append(np.asarray(a.att, float), a.overall))
        V = self._variance(np.array(rep), np.append(np.asarray(agg.att, float), agg.overall))
        se = np.sqrt(np.maximum(np.diag(V), 0.0))
        se = np.where(se > _ZERO_SE, se, np.nan)
        L = se.size - 1
        return se[:L], float(se[L]), V[:L, :L]
