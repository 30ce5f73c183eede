"""Many outcomes at once: Romano-Wolf and Westfall-Young step-down adjusted p-values that reuse
one set of randomization or wild-bootstrap draws across the whole family.

Testing each community's twenty targets at 5% finds "effects" by chance. Family-wise error
control that keeps its level with few clusters must resample the *joint* distribution of the
family's statistics, under the null: the same reassignment of treatment (randomization
inference) or the same cluster weights (wild cluster bootstrap) for every outcome, so the
correlation between outcomes is kept. This module adds nothing to the engines; it reads their
draws:

* :func:`stepdown_pvalues` is the algorithm on any observed statistics and (draws x outcomes)
  null statistics (exact integer counting, ties counted up to a relative tolerance);
* :func:`stepdown` combines finished :class:`~evalkit.inference.wild.WildBootstrapResult` or
  :class:`~evalkit.inference.randomization.RandomizationResult` objects of one family, checking
  that they were computed on the same draws;
* :func:`stepdown_wild` and :func:`stepdown_randomization` run the engines on a family of
  outcomes with shared draws (same seed, same clusters, same assignments) and combine them.

Under full enumeration (all 2^G Rademacher sign vectors, or all distinct assignments) the
adjusted p-values are deterministic.

References
----------
Westfall, P. H. and Young, S. S. (1993). Resampling-Based Multiple Testing. Wiley (Algorithms
2.8 (minP) and 4.1 (maxT) step-down).
Romano, J. P. and Wolf, M. (2005). Exact and approximate stepdown methods for multiple
hypothesis testing. JASA 100(469), 94-108.
Romano, J. P. and Wolf, M. (2016). Efficient computation of adjusted p-values for
resampling-based stepdown multiple testing. Statistics & Probability Letters 113, 38-40.
Clarke, D., Romano, J. P. and Wolf, M. (2020). The Romano-Wolf multiple-hypothesis correction
in Stata. Stata Journal 20(4), 812-843.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from .._literals import BootWeights, check_choice
from ..errors import DesignError, EstimationError, EvalkitError
from ..results import Result
from . import permutation
from .randomization import RandomizationResult, _schedules, randomization_test
from .regress import RegressionResult
from .wild import _TIE_RTOL as WILD_TIE_RTOL
from .wild import WildBootstrapResult, wild_cluster_bootstrap

__all__ = ["StepdownMethod", "stepdown_pvalues", "stepdown", "stepdown_wild", "stepdown_randomization",
           "StepdownResult"]

#: Romano-Wolf (max |t| step-down) or Westfall-Young (minP step-down).
StepdownMethod = Literal["romano_wolf", "westfall_young"]


def _counts_at_least(draws_abs: np.ndarray, values: np.ndarray, rtol: float) -> np.ndarray:
    """For each column k, how many draws have |T*_bk| >= (1 - rtol) values[..., k] (integer counts)."""
    srt = np.sort(draws_abs, axis=0)
    B = draws_abs.shape[0]
    out = np.empty(values.shape, dtype=np.int64)
    for k in range(draws_abs.shape[1]):
        out[..., k] = B - np.searchsorted(srt[:, k], (1 - rtol) * values[..., k], side="left")
    return out


def stepdown_pvalues(observed, draws, *, method: StepdownMethod = "romano_wolf",
                     rtol: float = WILD_TIE_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """Marginal and step-down adjusted p-values of a family of K two-sided tests.

    Parameters
    ----------
    observed : array-like, shape (K,)
        The observed statistics (t-statistics: the outcomes must be on comparable scales).
    draws : array-like, shape (B, K)
        The statistics under the null hypothesis, one row per draw, the *same* draw (treatment
        reassignment or bootstrap weights) for every column. For a randomization test the
        observed assignment is one of the rows.
    method : {"romano_wolf", "westfall_young"}
        ``"romano_wolf"``: max-|t| step-down (Romano & Wolf 2005, 2016; Westfall & Young's
        maxT). ``"westfall_young"``: minP step-down (Westfall & Young 1993, Algorithm 2.8),
        which first turns every draw into marginal p-values, so outcomes whose null
        distributions differ in spread weigh the same.
    rtol : float
        Draws with |T*| >= (1 - rtol) |T| count as at least as extreme (ties).

    Returns
    -------
    (p_value, p_adjusted) : two arrays of shape (K,)
        ``p_value_k = #{b : |T*_bk| >= |T_k|} / B``; ``p_adjusted`` the step-down adjusted
        p-values, never below ``p_value`` and monotone in the step-down order.

    Notes
    -----
    Romano-Wolf: order the hypotheses by |T| descending, T_(1) >= ... >= T_(K);
    p~_j = #{b : max_{l >= j} |T*_b(l)| >= |T_(j)|} / B; adjusted p_(j) = max(p~_j, p_(j-1)).
    Westfall-Young minP: p*_bk = #{b' : |T*_b'k| >= |T*_bk|} / B (the marginal p-value the draw
    b would have had); order by marginal p ascending; q~_j = #{b : min_{l >= j} p*_b(l) <=
    p_(j)} / B, made monotone the same way. Counting is done on integers, so enumerated draws
    give exactly reproducible fractions.
    """
    check_choice(method, StepdownMethod, "method")
    T = np.abs(np.asarray(observed, dtype=float)).ravel()
    D = np.abs(np.asarray(draws, dtype=float))
    if D.ndim != 2 or D.shape[1] != T.size:
        raise EvalkitError(f"draws must be a (draws x {T.size}) array, one column per statistic; got shape {D.shape}.")
    if not (np.isfinite(T).all() and np.isfinite(D).all()):
        raise EstimationError("stepdown: a statistic or a draw is not finite (an outcome without "
                              "variation, or a draw that leaves a coefficient unidentified); drop that outcome.")
    B, K = D.shape
    counts = _counts_at_least(D, T, rtol)                  # K: marginal counts
    if method == "romano_wolf":
        order = np.lexsort((np.arange(K), -T))
        # running max over the hypotheses still in the family, from the last step backwards
        tail_max = np.maximum.accumulate(D[:, order[::-1]], axis=1)[:, ::-1]
        step = np.array([np.sum(tail_max[:, j] >= (1 - rtol) * T[order[j]]) for j in range(K)])
    else:
        star = _counts_at_least(D, D, rtol)                # B x K: count of each draw (large = small p)
        order = np.lexsort((np.arange(K), -T, counts))
        tail_min = np.minimum.accumulate(star[:, order[::-1]], axis=1)[:, ::-1]
        step = np.array([np.sum(tail_min[:, j] <= counts[order[j]]) for j in range(K)])
    adjusted = np.empty(K)
    adjusted[order] = np.maximum.accumulate(step) / B
    return counts / B, adjusted


@dataclass(frozen=True, repr=False)
class StepdownResult(Result):
    """Step-down family-wise adjusted p-values of a family of tests sharing their draws.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per outcome: ``indicator, estimate, statistic, p_value, p_adjusted, n``
        (``p_value`` the marginal resampling p-value, ``p_adjusted`` the step-down one).
    method : str
        ``"romano_wolf"`` or ``"westfall_young"``.
    engine : str
        What produced the draws (the engine's own ``method`` text).
    n_draws : int
        Draws shared by the family.
    exact : bool
        Whether the draws were a full enumeration (deterministic p-values).
    """

    title: ClassVar[str] = "Step-down multiple testing"

    table: pd.DataFrame = field(compare=False)
    method: str
    engine: str
    n_draws: int
    exact: bool

    def tidy(self) -> pd.DataFrame:
        """``indicator, estimate, statistic, p_value, p_adjusted, n, method``, one row per outcome."""
        out = self.table.copy()
        out["method"] = self.method
        return out

    def _headline(self) -> str:
        name = "Romano-Wolf" if self.method == "romano_wolf" else "Westfall-Young minP"
        return (f"{name} step-down over {len(self.table)} outcomes; {self.engine}"
                + (" (full enumeration)" if self.exact else ""))


def _wild_family(results: Mapping[str, WildBootstrapResult]) -> tuple[np.ndarray, np.ndarray, str, bool]:
    first = next(iter(results.values()))
    for name, r in results.items():
        same = (r.B, r.n_clusters, r.weights, r.enumerated, r.impose_null, r.seed) == (
            first.B, first.n_clusters, first.weights, first.enumerated, first.impose_null, first.seed)
        if not same or (r.seed is None and not r.enumerated and len(results) > 1):
            raise EvalkitError(
                f"stepdown: the wild bootstrap of {name!r} was not run on the same draws as the others "
                f"(B, clusters, weights, enumeration, impose_null and a fixed seed must agree: {name!r} has "
                f"B={r.B}, G={r.n_clusters}, weights={r.weights!r}, seed={r.seed!r}); run them with "
                "stepdown_wild(...) or one seed.")
    obs = np.array([r.statistic for r in results.values()])
    draws = np.column_stack([r.t_boot for r in results.values()])
    return obs, draws, first.method, first.enumerated


def _ri_family(results: Mapping[str, RandomizationResult]) -> tuple[np.ndarray, np.ndarray, str, bool]:
    first = next(iter(results.values()))
    for name, r in results.items():
        if (r.n_assignments, r.exact, r.n_clusters) != (first.n_assignments, first.exact, first.n_clusters):
            raise EvalkitError(
                f"stepdown: the randomization test of {name!r} used {r.n_assignments} assignments of "
                f"{r.n_clusters} clusters (exact={r.exact}), the first one {first.n_assignments} of "
                f"{first.n_clusters}; a family must share its assignments (stepdown_randomization does).")
    dist = np.column_stack([r.distribution for r in results.values()])
    return dist[0], dist, first.method, first.exact


def stepdown(results: Mapping[str, WildBootstrapResult | RandomizationResult], *,
             method: StepdownMethod = "romano_wolf", n: Mapping[str, int] | None = None) -> StepdownResult:
    """Step-down adjusted p-values of a family of finished resampling tests.

    Parameters
    ----------
    results : dict
        ``{outcome name: result}``, all :class:`WildBootstrapResult` (same seed, B, weights and
        clusters) or all :class:`RandomizationResult` (same assignments: same clusters, schedules,
        ``n_perm`` and seed). The draws are taken from ``t_boot`` / ``distribution``.
    method : {"romano_wolf", "westfall_young"}
        See :func:`stepdown_pvalues`.
    n : dict, optional
        Rows used per outcome, reported in the table.

    Returns
    -------
    StepdownResult

    Notes
    -----
    It is the caller's responsibility that randomization results share their assignments (their
    order is not stored in the result); :func:`stepdown_randomization` guarantees it.
    """
    check_choice(method, StepdownMethod, "method")
    if not results:
        raise EvalkitError("stepdown needs at least one result: {'outcome': result, ...}.")
    kinds = {type(r) for r in results.values()}
    if kinds == {WildBootstrapResult}:
        obs, draws, engine, exact = _wild_family(results)
        rtol = WILD_TIE_RTOL
    elif kinds == {RandomizationResult}:
        obs, draws, engine, exact = _ri_family(results)
        rtol = permutation.TIE_RTOL
    else:
        raise EvalkitError("stepdown: results must all be WildBootstrapResult or all RandomizationResult "
                           f"(got {sorted(k.__name__ for k in kinds)}).")
    p, padj = stepdown_pvalues(obs, draws, method=method, rtol=rtol)
    names = list(results)
    table = pd.DataFrame({
        "indicator": names, "estimate": [float(r.estimate) for r in results.values()],
        "statistic": obs.astype(float), "p_value": p, "p_adjusted": padj,
        "n": [None if n is None else n.get(k) for k in names]})
    return StepdownResult(table=table, method=method, engine=engine, n_draws=int(draws.shape[0]), exact=bool(exact))


def stepdown_wild(fits: Mapping[str, RegressionResult], term: str, *, method: StepdownMethod = "romano_wolf",
                  B: int = 9999, weights: BootWeights = "webb", impose_null: bool = True, seed: int = 0,
                  level: float = 0.95) -> StepdownResult:
    """Wild cluster bootstrap of ``term`` in every fit with the same cluster weights, then step-down.

    Parameters
    ----------
    fits : dict
        ``{outcome: evalkit.regress(...) result}``, each clustered on the same clusters (e.g. one
        regression per target of a community).
    term : str
        The coefficient tested in every fit (e.g. ``"treat"``).
    method, B, weights, impose_null, seed, level
        As :func:`stepdown_pvalues` and :func:`evalkit.wild_cluster_bootstrap`. The same
        ``seed`` gives every outcome the same G x B weight matrix; with
        ``weights="rademacher"`` and ``2**G <= B`` all sign vectors are enumerated (exact).

    Returns
    -------
    StepdownResult
    """
    if not fits:
        raise EvalkitError("stepdown_wild needs at least one fit: {'outcome': regress(...)}.")
    labels = None
    for name, f in fits.items():
        if not isinstance(f, RegressionResult):
            raise EvalkitError(f"stepdown_wild: {name!r} is a {type(f).__name__}, not a result of evalkit.regress().")
        own = list(f.fit.cluster_labels)
        if labels is None:
            labels, first = own, name
        elif own != labels:
            missing = sorted(set(labels) ^ set(own), key=str)
            raise DesignError(
                f"stepdown_wild: outcome {name!r} is clustered on other clusters than {first!r} "
                f"(differing: {missing[:5]}); the family shares one bootstrap weight per cluster, so every "
                "outcome needs the same clusters (a cluster without any answer to an outcome cannot be in the family).")
    results = {name: wild_cluster_bootstrap(f, term, B=B, weights=weights, impose_null=impose_null,
                                            seed=seed, level=level) for name, f in fits.items()}
    return stepdown(results, method=method, n={k: int(f.n) for k, f in fits.items()})


def stepdown_randomization(data: pd.DataFrame, *, outcomes: Sequence[str], formula: str, treatment: str,
                           cluster: str, time: str | None = None, method: StepdownMethod = "romano_wolf",
                           n_perm: int = 9999, seed: int = 0, weights: str | None = None) -> StepdownResult:
    """Randomization test of ``treatment`` on every outcome with the same assignments, then step-down.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis rows.
    outcomes : list of str
        The family: outcome columns, each put in ``formula`` for ``{outcome}``.
    formula : str
        Formula template with ``{outcome}`` as the left-hand side, e.g.
        ``"{outcome} ~ treat + C(community) + C(wave)"``.
    treatment, cluster, time, n_perm, seed, weights
        As :func:`evalkit.randomization_test` (CR1 t-statistic); one seed for all outcomes.
    method : {"romano_wolf", "westfall_young"}

    Returns
    -------
    StepdownResult
        ``n`` in the table: rows used for that outcome. Rows with a missing outcome are left out
        of that outcome's test only (counted in ``n``); the family is refused if that changes
        which clusters or schedules are present, since the assignments would then differ.
    """
    if "{outcome}" not in formula:
        raise EvalkitError(f"formula {formula!r} must contain '{{outcome}}' as its left-hand side, "
                           "e.g. '{outcome} ~ treat + C(community)'.")
    outcomes = list(outcomes)
    if not outcomes:
        raise EvalkitError("stepdown_randomization needs at least one outcome.")
    missing = [c for c in outcomes if c not in data.columns]
    if missing:
        raise EvalkitError(f"stepdown_randomization: outcome column(s) {missing} are not in the data.")
    results, n, ref = {}, {}, None
    for y in outcomes:
        rows = data[pd.to_numeric(data[y], errors="coerce").notna()].reset_index(drop=True)
        _, cl_labels, _, kinds, kind_of = _schedules(rows, treatment, cluster, time)
        sched = (list(cl_labels), kinds[kind_of].tolist())
        if ref is None:
            ref, first = sched, y
        elif sched != ref:
            raise DesignError(
                f"stepdown_randomization: after leaving out rows with a missing {y!r}, the clusters or "
                f"their treatment schedules differ from those of {first!r}; the family must share its "
                "assignments. Restrict the data to rows answering every outcome of the family first.")
        results[y] = randomization_test(rows, formula=formula.replace("{outcome}", y), treatment=treatment,
                                        cluster=cluster, time=time, n_perm=n_perm, seed=seed, weights=weights)
        n[y] = len(rows)
    return stepdown(results, method=method, n=n)
