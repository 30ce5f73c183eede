"""Aggregation of group-time ATTs (R ``did::aggte`` / ``compute.aggte``) and the Wald pre-test
of parallel trends (R ``att_gt``'s ``W``).

:func:`aggte` returns the point estimates and influence functions of an aggregation
(:class:`Aggregation`); :meth:`evalkit.did.ATTGTResult.aggregate` adds the standard errors and
critical values (:mod:`evalkit.did.bootstrap`) and wraps them in an
:class:`~evalkit.did.AggregateResult`.

Weights follow R: ``pg = mean(w * 1{G = g})`` over units (or rows). The influence functions of
the ``simple``, ``dynamic`` and ``calendar`` estimates add R's estimated-weights term ``wif``
(``if1 - if2``) times the ATT(g, t); the ``group`` overall effect adds it with the group-size
weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..errors import EstimationError

_EPS = np.finfo(float).eps


@dataclass(frozen=True)
class Aggregation:
    """Point estimates of one aggregation: per level (group, event time or period) and overall."""

    levels: np.ndarray
    att: np.ndarray
    influence: np.ndarray          # n x L, one column per level
    overall: float
    overall_influence: np.ndarray  # length n


class _Cells:
    """The ATT(g, t), their influence matrix and R aggte's group weights ``pg``."""

    def __init__(self, group, time, att, influence, unit_group, unit_weight):
        self.g, self.t, self.att = group.astype(float), time.astype(float), att
        self.inf = influence
        self.n = influence.shape[0]
        self.Gu, self.wu = unit_group, unit_weight
        self.glist = np.unique(self.g)
        self.pg_g = np.array([np.mean(self.wu * (self.Gu == gg)) for gg in self.glist])
        self.pg = self.pg_g[np.searchsorted(self.glist, self.g)]

    def wif_times(self, idx, pgv, grp, attv):
        """wif(keepers, pg, w, G, group) %*% att[keepers] (R compute.aggte's wif)."""
        ind = self.wu[:, None] * (self.Gu[:, None] == grp[idx][None, :]) - pgv[idx][None, :]
        s = pgv[idx].sum()
        return ind @ attv[idx] / s - ind.sum(axis=1) * (pgv[idx] @ attv[idx]) / s ** 2

    def weighted(self, idx) -> tuple[float, np.ndarray]:
        """The pg-weighted mean of the cells `idx` and its influence function (with wif)."""
        w = self.pg[idx] / self.pg[idx].sum()
        return float(self.att[idx] @ w), self.inf[:, idx] @ w + self.wif_times(idx, self.pg, self.g, self.att)


def _stack(cols, n: int) -> np.ndarray:
    return np.column_stack(cols) if len(cols) else np.zeros((n, 0))


def _simple(c: _Cells, max_e: float) -> Aggregation:
    keepers = np.flatnonzero((c.g <= c.t) & (c.t <= c.g + max_e))
    if keepers.size == 0:
        raise EstimationError("No post-treatment ATT(g,t) fall in the requested window.")
    overall, inf_o = c.weighted(keepers)
    return Aggregation(np.array([]), np.array([]), _stack([], c.n), overall, inf_o)


def _group(c: _Cells, max_e: float) -> Aggregation:
    att_g, inf_g = [], []
    for gg in c.glist:
        which = np.flatnonzero((c.g == gg) & (gg <= c.t) & (c.t <= c.g + max_e))
        if which.size == 0:
            raise EstimationError(f"Group {gg:g} has no post-treatment ATT(g,t) within "
                                  f"max_e={max_e}; widen the window.")
        att_g.append(c.att[which].mean())
        inf_g.append(c.inf[:, which] @ (c.pg[which] / c.pg[which].sum()))
    att_g = np.array(att_g)
    wg = c.pg_g / c.pg_g.sum()
    inf_o = np.column_stack(inf_g) @ wg + c.wif_times(np.arange(len(c.glist)), c.pg_g, c.glist, att_g)
    return Aggregation(c.glist, att_g, _stack(inf_g, c.n), float(att_g @ wg), inf_o)


def _dynamic(c: _Cells, min_e: float, max_e: float, balance_e: int | None,
             periods: np.ndarray) -> Aggregation:
    e_all = c.t - c.g
    eseq = np.unique(e_all)
    include = np.ones(len(c.g), dtype=bool)
    if balance_e is not None:
        maxT = c.t.max()
        minT = min(periods.min(), c.glist.min())
        include = (maxT - c.g) >= balance_e
        eseq = np.unique(e_all[include])
        eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - maxT + minT)]
    eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
    if eseq.size == 0:
        raise EstimationError("No event times fall in the requested window (min_e, max_e, balance_e).")
    att_e, inf_e = zip(*(c.weighted(np.flatnonzero((e_all == e) & include)) for e in eseq))
    att_e = np.array(att_e)
    epos = eseq >= 0
    if not epos.any():
        raise EstimationError("No post-treatment event times (e >= 0) in the window; "
                              "the overall dynamic effect is undefined.")
    inf_o = np.column_stack(inf_e)[:, epos].mean(axis=1)
    return Aggregation(eseq, att_e, _stack(inf_e, c.n), float(att_e[epos].mean()), inf_o)


def _calendar(c: _Cells) -> Aggregation:
    tl = np.unique(c.t)
    tl = tl[tl >= c.g.min()]
    att_c, inf_c, levels = [], [], []
    for t1 in tl:
        which = np.flatnonzero((c.t == t1) & (c.g <= c.t))
        if which.size == 0:
            continue
        levels.append(t1)
        a, f = c.weighted(which)
        att_c.append(a)
        inf_c.append(f)
    att_c = np.array(att_c)
    inf_o = np.column_stack(inf_c).mean(axis=1)
    return Aggregation(np.array(levels), att_c, _stack(inf_c, c.n), float(att_c.mean()), inf_o)


def aggte(group: np.ndarray, time: np.ndarray, att: np.ndarray, influence: np.ndarray, *,
          unit_group: np.ndarray, unit_weight: np.ndarray, periods: np.ndarray, type: str,
          min_e: float = -np.inf, max_e: float = np.inf, balance_e: int | None = None) -> Aggregation:
    """Aggregate ATT(g, t) cells (R ``aggte``); see :meth:`evalkit.did.ATTGTResult.aggregate`.

    `unit_group` and `unit_weight` are the group and weight of each influence row, `periods`
    the periods of the data (for ``balance_e``).
    """
    if balance_e is not None and type != "dynamic":
        raise EstimationError(f"balance_e applies to type='dynamic' only, not type={type!r}.")
    if np.isnan(att).any():
        bad = [f"({gg:g},{tt:g})" for gg, tt in zip(group[np.isnan(att)], time[np.isnan(att)])]
        raise EstimationError("ATT(g,t) could not be computed for cells " + ", ".join(bad[:10])
                              + "; aggregation would be undefined. Check the warnings from att_gt "
                              "(too few treated or comparison units in those cells).")
    c = _Cells(group, time, att, influence, unit_group, unit_weight)
    if type == "simple":
        return _simple(c, max_e)
    if type == "group":
        return _group(c, max_e)
    if type == "dynamic":
        return _dynamic(c, min_e, max_e, balance_e, periods)
    return _calendar(c)


def pretrend_wald(group: np.ndarray, time: np.ndarray, att: np.ndarray, se: np.ndarray,
                  cov: np.ndarray, n: int) -> tuple[float, int, float]:
    """(W, df, p) of the Wald test that every pre-treatment ATT(g, t) with a positive variance
    is zero: ``W = n a' V^-1 a`` with V the rows and columns of `cov` of those cells, chi-square."""
    pre = np.flatnonzero((group > time) & np.isfinite(se) & np.isfinite(att))
    if pre.size == 0:
        raise EstimationError("There are no pre-treatment ATT(g,t) with a positive variance to "
                              "test (every group is treated in the second period, or base_period="
                              "'universal' left only reference cells).")
    V = cov[np.ix_(pre, pre)]
    if 1.0 / np.linalg.cond(V, 1) <= _EPS:
        raise EstimationError("The covariance matrix of the pre-treatment ATT(g,t) is singular; "
                              "the Wald pre-test cannot be computed.")
    a = att[pre]
    W = float(n * a @ np.linalg.solve(V, a))
    return W, int(pre.size), float(stats.chi2.sf(W, pre.size))
