"""Randomization inference for a treatment assigned to clusters (possibly staggered).

:func:`randomization_test` permutes which clusters are treated — with ``time=``, which cluster
follows which treatment schedule (start year) — recomputes the cluster-robust t-statistic (or a
statistic of your own) under every distinct reassignment, or under random ones when there are
too many, and counts how often it is at least as extreme as the observed one (MacKinnon & Webb
2020, RI-t). Enumeration, random draws and the tie-counting p-value come from the permutation
engine :mod:`evalkit.inference.permutation`, shared with :func:`evalkit.programme_effect`.

References
----------
MacKinnon, J. G. and Webb, M. D. (2020). Randomization inference for
difference-in-differences with few treated clusters. Journal of Econometrics 218(2),
435-450.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterator

import numpy as np
import pandas as pd

from .._literals import VcovType, check_choice
from ..errors import DesignError, EstimationError, EvalkitError
from ..results import Result
from . import permutation
from .regress import regress

__all__ = ["randomization_test", "RandomizationResult"]


@dataclass(frozen=True, repr=False)
class RandomizationResult(Result):
    """Randomization test of a cluster-level (possibly staggered) treatment.

    Attributes
    ----------
    term : str
        The treatment column.
    statistic : float
        Observed statistic (t-statistic of ``term`` unless a custom statistic was given).
    p_value : float
        Share of assignments whose ``|statistic|`` is at least the observed one (the
        actual assignment is one of them).
    n_assignments : int
        Number of assignments evaluated (including the actual one).
    exact : bool
        True when every distinct assignment was enumerated.
    n_clusters : int
        Number of clusters G.
    distribution : numpy.ndarray
        The statistic under every assignment evaluated (first entry: actual). Read-only.
    estimate : float
        The coefficient of ``term`` in the observed data (NaN with a custom statistic).
    """

    title: ClassVar[str] = "Randomization inference"

    term: str
    statistic: float
    p_value: float
    n_assignments: int
    exact: bool
    n_clusters: int
    distribution: np.ndarray = field(compare=False)
    estimate: float = float("nan")

    def __post_init__(self):
        self.distribution.flags.writeable = False

    @property
    def method(self) -> str:
        how = "all" if self.exact else "random"
        return f"randomization inference, {how} {self.n_assignments} assignments of treatment to clusters"

    def tidy(self) -> pd.DataFrame:
        """One row: ``term, estimate, statistic, p_value, n_assignments, exact, n_clusters, method``."""
        return pd.DataFrame({"term": [self.term], "estimate": [self.estimate], "statistic": [self.statistic],
                             "p_value": [self.p_value], "n_assignments": [self.n_assignments],
                             "exact": [self.exact], "n_clusters": [self.n_clusters],
                             "method": [self.method]})

    def _headline(self) -> str:
        return f"{self.method}; {self.n_clusters} clusters"


def _schedules(data: pd.DataFrame, treatment: str, cluster: str, time: str | None):
    """Each cluster's treatment schedule and the kinds of schedule.

    Returns ``(cl_codes, cl_labels, cell, kinds, kind_of)``: cluster code of each row, the
    sorted cluster labels, the (cluster, time) cell of each row (cluster * T + period), the
    distinct schedules (rows: kinds, columns: periods) and the kind of each cluster.
    """
    cl_codes, cl_labels = pd.factorize(data[cluster], sort=True)
    G = len(cl_labels)
    if time is not None:
        t_codes, t_labels = pd.factorize(data[time], sort=True)
    else:
        t_codes, t_labels = np.zeros(len(data), dtype=int), np.array([0])
    T = len(t_labels)
    d = pd.to_numeric(data[treatment], errors="coerce").to_numpy(dtype=float)
    if np.isnan(d).any():
        raise EstimationError(f"treatment column {treatment!r} has missing or non-numeric values.")
    cell = cl_codes * T + t_codes
    sched = np.full(G * T, np.nan)
    sched[cell] = d
    spread = pd.Series(d).groupby(cell).agg(lambda s: s.max() - s.min()).to_numpy()
    if np.any(spread > 0):
        unit = f"{cluster} x {time} cell" if time else str(cluster)
        raise DesignError(
            f"treatment {treatment!r} varies within a {unit}; randomization over clusters needs "
            f"it constant within each {unit}" + ("" if time else " (pass time=... for DiD panels)") + "."
        )
    sched = sched.reshape(G, T)
    if np.isnan(sched).any():
        g_bad = cl_labels[np.isnan(sched).any(axis=1)][0]
        raise DesignError(
            f"cluster {g_bad!r} has no observations in some {time} period(s); the schedules "
            "of clusters can only be exchanged when every cluster is observed in every period."
        )
    # schedule kinds: clusters with identical schedules are exchangeable
    kinds, kind_of = np.unique(sched, axis=0, return_inverse=True)
    return cl_codes, cl_labels, cell, kinds, np.asarray(kind_of).ravel()


def _explicit(assignments, kind_of: np.ndarray, cl_labels) -> np.ndarray:
    """The kinds under user-given assignments (rows: permutations of range(G)), actual one included."""
    G = kind_of.size
    perms = np.asarray(assignments, dtype=int)
    if perms.ndim != 2 or perms.shape[1] != G or not all(
            np.array_equal(np.sort(r), np.arange(G)) for r in perms):
        raise EvalkitError(
            f"assignments must be an (A, {G}) array whose rows are permutations of "
            f"range({G}) (clusters in sorted order: {list(cl_labels)[:5]} ...)."
        )
    arr = kind_of[perms]                        # A x G kinds
    if not np.all(arr == kind_of, axis=1).any():
        arr = np.vstack([kind_of, arr])
    return arr


class _CR1T:
    """CR1 t of the treatment for many assignments at once, by Frisch-Waugh-Lovell.

    treatment = D c with D the (cluster, time)-cell indicators and c the treatment of each cell
    under an assignment; everything the CR1 t needs is a quadratic form in c, precomputed here
    at the cluster level, so an assignment costs O(cells^2 G) whatever the number of rows.
    """

    def __init__(self, y, Z, cells, cluster_codes, G, w, ssc):
        sw = np.ones(len(y)) if w is None else np.sqrt(w)
        Zw = Z * sw[:, None]
        yw = y * sw
        n_cells = cells.max() + 1
        Dw = np.zeros((len(y), n_cells))
        Dw[np.arange(len(y)), cells] = sw
        coef, *_ = np.linalg.lstsq(Zw, np.column_stack([yw, Dw]), rcond=None)
        R = np.column_stack([yw, Dw]) - Zw @ coef
        ry, RD = R[:, 0], R[:, 1:]
        self.a = RD.T @ ry                      # cells
        self.Q = RD.T @ RD                      # cells x cells
        self.Pg = np.zeros((G, n_cells))        # per cluster RD_g' ry_g
        self.Qg = np.zeros((G, n_cells, n_cells))
        for g in range(G):
            i = cluster_codes == g
            self.Pg[g] = RD[i].T @ ry[i]
            self.Qg[g] = RD[i].T @ RD[i]
        self.ssc = ssc

    def __call__(self, C: np.ndarray) -> np.ndarray:
        """t-statistics for the assignments C (A x cells: treatment value of each cell)."""
        dd = np.einsum("ac,cd,ad->a", C, self.Q, C)
        beta = (C @ self.a) / dd
        sc = C @ self.Pg.T - beta[:, None] * np.einsum("ac,gcd,ad->ag", C, self.Qg, C)   # A x G
        var = self.ssc * np.sum(sc ** 2, axis=1) / dd ** 2
        return beta / np.sqrt(var)


def randomization_test(data: pd.DataFrame, *, formula: str, treatment: str, cluster: str,
                       time: str | None = None, assignments: np.ndarray | None = None,
                       n_perm: int = 9999, seed: int | None = None, vcov: VcovType = "CR1",
                       weights: str | None = None,
                       statistic: Callable[[pd.DataFrame], float] | None = None
                       ) -> RandomizationResult:
    """Randomization inference for a cluster-assigned (possibly staggered) treatment.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data; ``treatment`` must be constant within each cluster (``time=None``)
        or within each cluster x time cell.
    formula : str
        Regression formula containing ``treatment``, e.g.
        ``"y ~ treat + C(community) + C(wave)"``.
    treatment : str
        The 0/1 (or numeric) treatment column whose coefficient is tested.
    cluster : str
        Assignment unit (community) — also the clustering of the t-statistic.
    time : str, optional
        Period column. When given, a cluster's treatment *schedule* (its treatment value in
        every period — for staggered adoption, its start year) is what gets reassigned:
        permuting clusters over schedules is permuting the community -> start-year mapping.
    assignments : array-like, optional
        Explicit assignments: an (A, G) integer array whose row a says, for each cluster
        (in sorted label order), the cluster whose schedule it receives under assignment a
        (a permutation of ``range(G)``). Default: all distinct arrangements when there are
        at most ``n_perm`` of them (exact test), else ``n_perm`` random permutations.
    n_perm : int
        Maximum number of assignments to enumerate / number of random draws.
    seed : int, optional
        Seed of the random permutations.
    vcov : {"CR1", "CR2"}
        Variance estimator of the t-statistic (CR1 uses a vectorised fast path; CR2 refits
        the model for each assignment and is slow beyond a few hundred assignments).
    weights : str, optional
        Regression weights column (WLS).
    statistic : callable, optional
        Custom statistic ``f(permuted_data) -> float`` replacing the t-statistic; called
        with a copy of ``data`` whose ``treatment`` column was reassigned.

    Returns
    -------
    RandomizationResult
        ``.p_value, .statistic, .estimate, .n_assignments, .exact, .distribution`` and ``.tidy()``.

    Notes
    -----
    MacKinnon & Webb (2020) randomization inference on the cluster-robust t-statistic
    (their RI-t): p = #{a : |t_a| >= |t_obs|} / A where the actual assignment is included
    (it is one of the enumerated arrangements, or is added to the random draws), so the
    test is exact under the sharp null of no effect when the arrangements are enumerated
    or drawn uniformly; ties are counted up to a relative 1e-10
    (:data:`evalkit.inference.permutation.TIE_RTOL`). Two-sided (absolute values).
    Assignments that give the same schedule to every cluster as another one are counted once
    when enumerating (distinct arrangements of the multiset of schedules: ``G! / prod(n_s!)``;
    with 7 of 14 communities treated at once that is C(14, 7) = 3432). Assignments are
    evaluated in blocks of :data:`evalkit.inference.permutation.BLOCK`.
    """
    check_choice(vcov, VcovType, "vcov")
    if not isinstance(data, pd.DataFrame):
        raise EvalkitError(f"data must be a pandas DataFrame, not {type(data).__name__}.")
    for col in [treatment, cluster] + ([time] if time else []) + ([weights] if weights else []):
        if col not in data.columns:
            raise EvalkitError(f"Column {col!r} is not in the data.")
    data = data.reset_index(drop=True)
    cl_codes, cl_labels, cell, kinds, kind_of = _schedules(data, treatment, cluster, time)
    G = len(cl_labels)
    if assignments is not None:
        arr = _explicit(assignments, kind_of, cl_labels)
        n, exact, blocks = len(arr), False, iter([arr])
    else:
        plan = permutation.plan(kind_of, max_exact=n_perm, n_draws=n_perm, seed=seed)
        n, exact, blocks = plan.n, plan.exact, plan.blocks()

    estimate = float("nan")
    if statistic is None:
        res = regress(formula, data, cluster=cl_codes, vcov=vcov, weights=weights)
        j = res.term_index(treatment)
        estimate = float(res.params.iloc[j])
        if res.n != len(data):
            raise EstimationError("randomization_test needs complete data; drop rows with missing values first.")
    if statistic is None and vcov == "CR1":
        fit = res.fit
        per_block = _CR1T(fit.y, np.delete(fit.X, j, axis=1), cell, cl_codes, G, fit.w, fit.cr1_factor)
    else:
        def one(cv: np.ndarray) -> float:
            perm = data.copy()
            perm[treatment] = cv[cell]
            if statistic is not None:
                return float(statistic(perm))
            f = regress(formula, perm, cluster=cl_codes, vcov=vcov, weights=weights)
            return f.params.iloc[j] / f.se.iloc[j]

        def per_block(cv: np.ndarray) -> np.ndarray:
            return np.array([one(row) for row in cv])
    dist = permutation.null_distribution(_cell_values(blocks, kinds), per_block, kinds[kind_of].ravel(), n)
    return RandomizationResult(term=treatment, statistic=float(dist[0]), p_value=permutation.p_value(dist),
                               n_assignments=n, exact=exact, n_clusters=G, distribution=dist,
                               estimate=estimate)


def _cell_values(blocks: Iterator[np.ndarray], kinds: np.ndarray) -> Iterator[np.ndarray]:
    """Blocks of assignments (kind of each cluster) as the treatment of each (cluster, time) cell."""
    for arr in blocks:
        yield kinds[arr].reshape(len(arr), -1)
