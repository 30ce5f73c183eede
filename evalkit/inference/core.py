"""Inference with few clusters: wild cluster bootstrap, randomization inference, headline policy.

The Dongying evaluation compares 7 programme with 7 comparison communities. With 14
clusters, cluster-robust t-tests with normal critical values over-reject badly, and even
CR1 with t(G-1) can. evalkit therefore takes the headline p-value and confidence interval
from a method that is reliable with few clusters:

* :func:`wild_cluster_bootstrap` — the wild cluster restricted (WCR) bootstrap-t of
  Cameron, Gelbach & Miller (2008), computed with the closed forms of Roodman, MacKinnon,
  Nielsen & Webb (2019) ("Fast and wild", Stata ``boottest``): every replication is a few
  G x G operations on cluster-level sums, none touches the N rows;
* :func:`randomization_test` — randomization inference on the t-statistic, permuting which
  communities are treated (and when) (MacKinnon & Webb 2020);
* :func:`headline` — the policy: below :data:`FEW_CLUSTERS` clusters the headline p-value
  and CI come from the WCR bootstrap (Webb weights) and a
  :class:`~evalkit.errors.FewClustersWarning` says so. CR1 with normal critical values is
  never used.

References
----------
Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2008). Bootstrap-based improvements for
inference with clustered errors. Review of Economics and Statistics 90(3), 414-427.
Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to cluster-robust
inference. Journal of Human Resources 50(2), 317-372.
MacKinnon, J. G. and Webb, M. D. (2017). Wild bootstrap inference for wildly different
cluster sizes. Journal of Applied Econometrics 32(2), 233-254.
MacKinnon, J. G. and Webb, M. D. (2020). Randomization inference for
difference-in-differences with few treated clusters. Journal of Econometrics 218(2),
435-450.
MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2023). Cluster-robust inference: A guide
to empirical practice. Journal of Econometrics 232(2), 272-299.
Roodman, D., MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2019). Fast and wild:
Bootstrap inference in Stata using boottest. Stata Journal 19(1), 4-60.
Canay, I. A., Santos, A. and Shaikh, A. M. (2021). The wild bootstrap with a "small"
number of "large" clusters. Review of Economics and Statistics 103(2), 346-363.
Webb, M. D. (2023). Reworking wild bootstrap-based inference for clustered errors.
Canadian Journal of Economics 56(3), 839-858.
"""
from __future__ import annotations

import html
import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .._literals import BootWeights, HeadlineMethod, VcovType, check_choice
from ..errors import DesignError, EstimationError, EvalkitError, FewClustersWarning
from .regress import RegressionResult, regress

__all__ = [
    "FEW_CLUSTERS",
    "wild_cluster_bootstrap",
    "WildBootstrapResult",
    "randomization_test",
    "RandomizationResult",
    "headline",
]

#: Below this many clusters the headline p-value and CI come from the wild cluster
#: restricted bootstrap. Cameron & Miller (2015, Sec. VI) put "few" somewhere between 20
#: and 50 clusters; MacKinnon & Webb (2017) and MacKinnon, Nielsen & Webb (2023) show that
#: cluster-robust t-tests can over-reject well beyond 50 clusters when clusters are
#: unbalanced or few are treated. We take the upper end, 50.
FEW_CLUSTERS = 50

_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


# ---------------------------------------------------------------------------
# Wild cluster bootstrap
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class WildBootstrapResult:
    """Wild cluster bootstrap test of one coefficient and its test-inversion interval.

    Attributes
    ----------
    term : str
        The coefficient tested.
    estimate : float
        Its OLS/WLS estimate.
    t_stat : float
        The CR1 t-statistic for H0: coefficient = 0 (``null`` in general).
    p_value : float
        Symmetric bootstrap p-value, share of replications with ``|t*| >= |t|`` (ties
        within a relative 1e-9 counted). Under full enumeration (WCR) it is at least
        2 / 2^G: the sign vectors v = +1 and v = -1 reproduce |t|.
    ci_low, ci_high : float
        Confidence interval by inverting the bootstrap test (``-inf``/``inf`` when the
        test cannot reject at the requested level anywhere, e.g. too few clusters).
    level : float
        Confidence level of the interval.
    B : int
        Number of replications actually used (2^G under full enumeration).
    n_clusters : int
        Number of clusters G.
    weights : str
        Weight distribution (``"webb"`` or ``"rademacher"``).
    enumerated : bool
        Whether all 2^G Rademacher sign vectors were enumerated (deterministic p-value).
    impose_null : bool
        WCR (True) or WCU (False) bootstrap.
    null : float
        Hypothesised value of the coefficient.
    seed : int or None
        Seed of the weight draws.
    t_boot : numpy.ndarray
        The B bootstrap t-statistics for H0: coefficient = ``null`` (columns of the weight
        matrix in order; under full enumeration the sign vectors in
        ``itertools.product([-1, 1], repeat=G)`` order).
    """

    term: str
    estimate: float
    t_stat: float
    p_value: float
    ci_low: float
    ci_high: float
    level: float
    B: int
    n_clusters: int
    weights: str
    enumerated: bool
    impose_null: bool
    null: float
    seed: int | None
    t_boot: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.empty(0))

    @property
    def method(self) -> str:
        kind = "restricted (WCR)" if self.impose_null else "unrestricted (WCU)"
        draw = (f"all {self.B} Rademacher sign vectors" if self.enumerated
                else f"{self.weights.capitalize()} weights, B={self.B}")
        return f"wild cluster {kind} bootstrap-t, {draw}"

    def tidy(self) -> pd.DataFrame:
        """One row: ``term, estimate, t, p_value, ci_low, ci_high, level, method, B, n_clusters, weights, enumerated``."""
        return pd.DataFrame({
            "term": [self.term], "estimate": [self.estimate], "t": [self.t_stat],
            "p_value": [self.p_value], "ci_low": [self.ci_low], "ci_high": [self.ci_high],
            "level": [self.level], "method": [self.method], "B": [self.B],
            "n_clusters": [self.n_clusters], "weights": [self.weights],
            "enumerated": [self.enumerated],
        })

    @property
    def summary(self) -> str:
        pct = f"{100 * self.level:g}%"
        return (f"{self.term}: estimate {self.estimate:.4g}, t = {self.t_stat:.3f}, "
                f"p = {self.p_value:.4f}, {pct} CI [{self.ci_low:.4g}, {self.ci_high:.4g}] "
                f"({self.method}; {self.n_clusters} clusters)")

    def __repr__(self) -> str:
        return f"WildBootstrapResult({self.summary})"

    def _repr_html_(self) -> str:
        return (f"<p><b>{html.escape(self.method)}</b></p>"
                + self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4g}"))


def _draw_weights(weights: str, G: int, B: int, rng: np.random.Generator):
    """G x B matrix of bootstrap weights and whether it is the full Rademacher enumeration."""
    if weights == "rademacher" and 2 ** G <= B:
        # all 2^G sign vectors (rows of the binary expansion), deterministic
        codes = np.arange(2 ** G)[None, :]
        bits = (codes >> np.arange(G - 1, -1, -1)[:, None]) & 1
        return np.where(bits == 1, 1.0, -1.0), True
    if weights == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=(G, B)), False
    return rng.choice(_WEBB, size=(G, B)), False


#: Bootstrap t's within this relative distance of |t| are ties (counted in the p-value).
#: Under WCR the sign vectors v = +1 and v = -1 reproduce |t| exactly in theory; computed
#: through the closed forms they differ from it by rounding (below 1e-13 relative in the
#: tests, including covariates with mean 1e5), and genuinely different |t*| are far apart
#: (nearest non-tie 3e-5 relative or more in the same tests).
_TIE_RTOL = 1e-9


class _WildT:
    """Bootstrap t-statistics t*(delta) for H0: beta_j = delta as closed forms in delta.

    Computed in the coordinates theta of the QR factor of the sqrt(w)-weighted design
    (W^{1/2} X = Q T^{-1}, Q'Q = I, beta = T theta; WLS is OLS on the transformed data), where
    M = (X'WX)^{-1} is the identity, so no digits are lost to the scale of the covariates.
    beta_j = r'theta with r = T[j] (normalised to |r| = 1; delta is divided by the same
    factor). With s_g = Q_g'u_g and QQ_g = Q_g'Q_g from the fit, the restricted scores are
    S_g(delta) = s_g + QQ_g r (r'theta - delta), i.e. Sa_g - delta Sb_g. Bootstrap numerator
    (Roodman et al. 2019, eq. 39-41): sum_g v_g C_g with C_g = r'S_g; cluster scores of the
    bootstrap residuals projected on the contrast: Z_hb = C_h v_hb - sum_g H_hg v_gb with
    H_hg = r'QQ_h S_g; t*_b = num_b / sqrt(ssc sum_h Z_hb^2), ssc = G/(G-1) (N-1)/(N-K) as
    the CR1 t. Both pieces are affine in delta, so p(delta) costs O(B) after an O(G^2 B)
    precomputation.
    """

    def __init__(self, res: RegressionResult, j: int, v: np.ndarray, impose_null: bool):
        QQ = res._QQ_g
        s = res._Qs_g
        G = res.n_clusters
        N, K = res.n, res.n_params
        self.ssc = G / (G - 1) * (N - 1) / (N - K)
        r = res._T[j]
        self.unit = float(np.linalg.norm(r))       # beta_j = unit * (r/|r|)'theta
        r = r / self.unit
        self.b = float(res.params.iloc[j])
        self.se = float(np.sqrt(res._vcov_cr1[j, j]))
        QQr = QQ @ r                               # G x K
        if impose_null:
            Sa = s + QQr * (self.b / self.unit)
            Sb = QQr
        else:
            Sa = s
            Sb = np.zeros_like(s)
        self.impose_null = impose_null
        parts = []
        for S in (Sa, Sb):
            C = S @ r                              # G
            H = QQr @ S.T                          # G x G: r'QQ_h S_g
            num = C @ v                            # B
            Z = C[:, None] * v - H @ v             # G x B
            parts.append((num, Z))
        (na, Za), (nb, Zb) = parts
        self.na, self.nb = na, nb
        self.qaa = np.einsum("gb,gb->b", Za, Za)
        self.qab = np.einsum("gb,gb->b", Za, Zb)
        self.qbb = np.einsum("gb,gb->b", Zb, Zb)

    def t_boot(self, delta: float) -> np.ndarray:
        d = delta / self.unit
        num = self.na - d * self.nb
        den = self.ssc * (self.qaa - 2 * d * self.qab + d * d * self.qbb)
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / np.sqrt(np.maximum(den, 0.0))

    def t_obs(self, delta: float) -> float:
        return (self.b - delta) / self.se

    def p_value(self, delta: float) -> float:
        t = abs(self.t_obs(delta))
        tb = np.abs(self.t_boot(delta))
        # symmetric p-value: share of |t*| at least |t|. Ties count: under full enumeration
        # the sign vectors v = +1 and v = -1 reproduce the sample (|t*| = |t| up to rounding),
        # and the enumeration is a randomization test whose p-value includes the observed
        # statistic, p = #{|t*| >= |t|} / 2^G >= 2 / 2^G (as randomization_test counts).
        return float(np.mean(tb >= t * (1.0 - _TIE_RTOL)))


def _invert(wt: _WildT, alpha: float) -> tuple[float, float]:
    """Bounds of {delta : p(delta) > alpha} by outward search and bisection (boottest-style)."""
    b, se = wt.b, wt.se
    if not np.isfinite(se) or se <= 0:
        return float("nan"), float("nan")
    bounds = []
    for sign in (-1.0, 1.0):
        inside = b
        step = se
        outside = None
        for _ in range(60):
            cand = b + sign * step
            if wt.p_value(cand) <= alpha:
                outside = cand
                break
            inside = cand
            step *= 2.0
            if step > 1e6 * se:
                break
        if outside is None:
            bounds.append(sign * np.inf)
            continue
        lo, hi = inside, outside
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if wt.p_value(mid) > alpha:
                lo = mid
            else:
                hi = mid
            if abs(hi - lo) <= 1e-9 * se:
                break
        bounds.append(0.5 * (lo + hi))
    return float(bounds[0]), float(bounds[1])


def wild_cluster_bootstrap(result: RegressionResult, term: str, *, B: int = 9999,
                           weights: BootWeights = "webb", impose_null: bool = True,
                           seed: int | None = None, level: float = 0.95,
                           null: float = 0.0) -> WildBootstrapResult:
    """Wild cluster bootstrap-t test of ``term`` with a test-inversion confidence interval.

    Parameters
    ----------
    result : RegressionResult
        A fit from :func:`evalkit.inference.regress.regress` (its clusters are the bootstrap clusters).
    term : str
        Coefficient name, e.g. ``"treat"``.
    B : int
        Number of bootstrap replications (default 9999). With ``weights="rademacher"`` and
        ``2**G <= B`` all 2^G sign vectors are enumerated instead (``B = 2**G``).
    weights : {"webb", "rademacher"}
        Webb's six-point distribution (default; recommended for G < 12, Webb 2023) or
        Rademacher signs.
    impose_null : bool
        True (default): WCR, the null is imposed in the bootstrap DGP; False: WCU.
    seed : int, optional
        Seed of the weight draws (irrelevant under full enumeration).
    level : float
        Confidence level of the interval.
    null : float
        Hypothesised value of the coefficient for ``p_value`` (default 0).

    Returns
    -------
    WildBootstrapResult
        ``.p_value, .ci_low, .ci_high, .t_stat, .B, .n_clusters, .weights, .enumerated``
        and ``.tidy()``.

    Notes
    -----
    The statistic is the CR1 t (small-sample factor G/(G-1) (N-1)/(N-K), as boottest and
    wildboottest's ``bootstrap_type="11"``) whatever ``vcov`` the fit used. Bootstrap DGP
    (WCR): ``y* = X b~ + v_g u~`` with ``b~`` the estimate under H0, one weight per
    cluster. Replications use the cluster-level closed forms of Roodman et al. (2019,
    Sec. 5): with scores S_g = X_g'u~_g and M = (X'WX)^{-1}, the numerator is
    ``m' sum_g v_g S_g`` and the CR1 denominator ``ssc sum_h (m'(v_h S_h - X_h'X_h M
    sum_g v_g S_g))^2`` — a G x B matrix product, no regression per replication.

    P-value: symmetric (two-tailed), ``mean(|t*_b| >= |t|)``, ties within a relative
    ``1e-9`` of ``|t|`` counted. Under full enumeration the WCR bootstrap is a randomization
    test over the 2^G sign vectors, and like any randomization test its p-value counts the
    draws that reproduce the observed statistic: the sign vectors v = +1 and v = -1 give
    ``|t*| = |t|`` exactly, so ``p = #{|t*| >= |t|} / 2^G >= 2 / 2^G`` (the way
    :func:`randomization_test` counts; Canay, Santos & Shaikh 2021 for the randomization
    view of the wild bootstrap). boottest, fwildclusterboot and wildboottest count
    ``|t*| > |t|`` in floating point, so they count these two ties or not depending on the
    last bit of |t*|; with random draws ties have probability ~0 and the conventions agree.
    The enumeration is used whenever ``weights="rademacher"`` and ``2**G <= B``.

    Interval: the set of null values delta with p(delta) > 1 - level, found by stepping
    outward from the estimate in steps of the CR1 SE and bisecting, as boottest inverts the
    test; the same weight draws are used for every delta. Bounds are +-inf when the test
    never rejects: under full enumeration when ``2 / 2^G`` exceeds ``1 - level`` (G <= 5 at
    the 95% level), since the p-value never falls below it.

    For WLS fits the bootstrap runs on the sqrt(w)-transformed model, as boottest does with
    analytic weights.
    """
    check_choice(weights, BootWeights, "weights")
    if not isinstance(result, RegressionResult):
        raise EvalkitError("result must be a RegressionResult from evalkit.inference.regress.regress().")
    B = int(B)
    if B < 1:
        raise EvalkitError(f"B={B} must be a positive number of bootstrap replications, e.g. 9999.")
    if not 0 < level < 1:
        raise EvalkitError(f"level={level!r} must be between 0 and 1, e.g. 0.95.")
    j = result._term_index(term)
    rng = np.random.default_rng(seed)
    G = result.n_clusters
    v, enumerated = _draw_weights(weights, G, B, rng)
    wt = _WildT(result, j, v, impose_null)
    p = wt.p_value(null)
    lo, hi = _invert(wt, 1.0 - level)
    return WildBootstrapResult(
        term=term, estimate=wt.b, t_stat=float(wt.t_obs(null)), p_value=p,
        ci_low=lo, ci_high=hi, level=level, B=int(v.shape[1]), n_clusters=G,
        weights=weights, enumerated=enumerated, impose_null=impose_null, null=float(null),
        seed=seed, t_boot=wt.t_boot(null),
    )


# ---------------------------------------------------------------------------
# Randomization inference
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RandomizationResult:
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
        The statistic under every assignment evaluated (first entry: actual).
    """

    term: str
    statistic: float
    p_value: float
    n_assignments: int
    exact: bool
    n_clusters: int
    distribution: np.ndarray

    @property
    def method(self) -> str:
        how = "all" if self.exact else "random"
        return f"randomization inference, {how} {self.n_assignments} assignments of treatment to clusters"

    def tidy(self) -> pd.DataFrame:
        """One row: ``term, statistic, p_value, n_assignments, exact, n_clusters, method``."""
        return pd.DataFrame({"term": [self.term], "statistic": [self.statistic],
                             "p_value": [self.p_value], "n_assignments": [self.n_assignments],
                             "exact": [self.exact], "n_clusters": [self.n_clusters],
                             "method": [self.method]})

    @property
    def summary(self) -> str:
        return (f"{self.term}: statistic {self.statistic:.4g}, p = {self.p_value:.4f} "
                f"({self.method}; {self.n_clusters} clusters)")

    def __repr__(self) -> str:
        return f"RandomizationResult({self.summary})"

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4g}")


def _multiset_permutations(labels: np.ndarray) -> np.ndarray:
    """All distinct arrangements of the multiset ``labels`` (ints), as rows."""
    counts = np.bincount(labels)
    G = len(labels)
    out: list[np.ndarray] = []

    def rec(pos_free: tuple[int, ...], kind: int, cur: np.ndarray):
        if kind == len(counts) - 1:
            cur = cur.copy()
            cur[list(pos_free)] = kind
            out.append(cur)
            return
        for chosen in itertools.combinations(pos_free, counts[kind]):
            rest = tuple(p for p in pos_free if p not in chosen)
            nxt = cur.copy()
            nxt[list(chosen)] = kind
            rec(rest, kind + 1, nxt)

    rec(tuple(range(G)), 0, np.full(G, -1))
    return np.array(out)


def _n_arrangements(labels: np.ndarray) -> int:
    counts = np.bincount(labels)
    n = math.factorial(len(labels))
    for c in counts:
        n //= math.factorial(int(c))
    return n


def _fast_t_stat(y, Z, cells, schedules_by_cluster, cluster_codes, G, w, ssc):
    """CR1 t of the treatment for many assignments at once, by Frisch-Waugh-Lovell.

    treatment = D c with D the (cluster, time)-cell indicators; everything the CR1 t needs
    is a quadratic form in c, precomputed at the cluster level.
    """
    sw = np.ones(len(y)) if w is None else np.sqrt(w)
    Zw = Z * sw[:, None]
    yw = y * sw
    n_cells = cells.max() + 1
    Dw = np.zeros((len(y), n_cells))
    Dw[np.arange(len(y)), cells] = sw
    coef, *_ = np.linalg.lstsq(Zw, np.column_stack([yw, Dw]), rcond=None)
    R = np.column_stack([yw, Dw]) - Zw @ coef
    ry, RD = R[:, 0], R[:, 1:]
    a = RD.T @ ry                      # cells
    Q = RD.T @ RD                      # cells x cells
    Pg = np.zeros((G, n_cells))        # per cluster RD_g' ry_g
    Qg = np.zeros((G, n_cells, n_cells))
    for g in range(G):
        i = cluster_codes == g
        Pg[g] = RD[i].T @ ry[i]
        Qg[g] = RD[i].T @ RD[i]
    C = schedules_by_cluster           # A x cells (treatment value of each cell)
    dd = np.einsum("ac,cd,ad->a", C, Q, C)
    beta = (C @ a) / dd
    sc = C @ Pg.T - beta[:, None] * np.einsum("ac,gcd,ad->ag", C, Qg, C)   # A x G
    var = ssc * np.sum(sc ** 2, axis=1) / dd ** 2
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
        ``.p_value, .statistic, .n_assignments, .exact, .distribution`` and ``.tidy()``.

    Notes
    -----
    MacKinnon & Webb (2020) randomization inference on the cluster-robust t-statistic
    (their RI-t): p = #{a : |t_a| >= |t_obs|} / A where the actual assignment is included
    (it is one of the enumerated arrangements, or is added to the random draws), so the
    test is exact under the sharp null of no effect when the arrangements are enumerated
    or drawn uniformly. Two-sided (absolute values). Assignments that give the same
    schedule to every cluster as another one are counted once when enumerating (distinct
    arrangements of the multiset of schedules: ``G! / prod(n_s!)``; with 7 of 14
    communities treated at once that is C(14, 7) = 3432).
    """
    check_choice(vcov, VcovType, "vcov")
    if not isinstance(data, pd.DataFrame):
        raise EvalkitError(f"data must be a pandas DataFrame, not {type(data).__name__}.")
    for col in [treatment, cluster] + ([time] if time else []) + ([weights] if weights else []):
        if col not in data.columns:
            raise EvalkitError(f"Column {col!r} is not in the data.")
    data = data.reset_index(drop=True)
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
    kind_of = np.asarray(kind_of).ravel()

    rng = np.random.default_rng(seed)
    if assignments is not None:
        perms = np.asarray(assignments, dtype=int)
        if perms.ndim != 2 or perms.shape[1] != G or not all(
                np.array_equal(np.sort(r), np.arange(G)) for r in perms):
            raise EvalkitError(
                f"assignments must be an (A, {G}) array whose rows are permutations of "
                f"range({G}) (clusters in sorted order: {list(cl_labels)[:5]} ...)."
            )
        arr = kind_of[perms]                        # A x G kinds
        exact = False
        identity = np.all(arr == kind_of, axis=1)
        if not identity.any():
            arr = np.vstack([kind_of, arr])
        else:  # put the actual assignment first
            first = int(np.flatnonzero(identity)[0])
            arr = np.vstack([arr[first], np.delete(arr, first, axis=0)])
    else:
        n_arr = _n_arrangements(kind_of)
        if n_arr <= n_perm:
            arr = _multiset_permutations(kind_of)
            exact = True
            ident = np.flatnonzero(np.all(arr == kind_of, axis=1))[0]
            arr = np.vstack([arr[ident], np.delete(arr, ident, axis=0)])
        else:
            exact = False
            draws = np.array([rng.permutation(kind_of) for _ in range(int(n_perm))])
            arr = np.vstack([kind_of, draws])
    A = len(arr)
    cell_values = kinds[arr].reshape(A, G * T)      # treatment in each (cluster, time) cell

    if statistic is not None:
        dist = np.empty(A)
        for a in range(A):
            perm = data.copy()
            perm[treatment] = cell_values[a][cell]
            dist[a] = float(statistic(perm))
    else:
        fit = regress(formula, data, cluster=cl_codes, vcov=vcov, weights=weights)
        j = fit._term_index(treatment)
        if vcov == "CR1":
            X = fit._X
            Z = np.delete(X, j, axis=1)
            N, K = X.shape
            ssc = G / (G - 1) * (N - 1) / (N - K)
            if fit.n != len(data):
                raise EstimationError("randomization_test needs complete data; drop rows with missing values first.")
            dist = _fast_t_stat(fit._y, Z, cell, cell_values, cl_codes, G, fit._w, ssc)
        else:
            dist = np.empty(A)
            for a in range(A):
                perm = data.copy()
                perm[treatment] = cell_values[a][cell]
                f = regress(formula, perm, cluster=cl_codes, vcov=vcov, weights=weights)
                dist[a] = f.params.iloc[j] / f.se.iloc[j]
    obs = dist[0]
    tol = 1e-10 * max(abs(obs), 1e-300)
    p = float(np.mean(np.abs(dist) >= abs(obs) - tol))
    return RandomizationResult(term=treatment, statistic=float(obs), p_value=p, n_assignments=A,
                               exact=exact, n_clusters=G, distribution=dist)


# ---------------------------------------------------------------------------
# Headline policy
# ---------------------------------------------------------------------------

def headline(result: RegressionResult, term: str, *, method: HeadlineMethod = "auto",
             B: int = 9999, weights: BootWeights = "webb", seed: int | None = None,
             level: float = 0.95, threshold: int = FEW_CLUSTERS) -> pd.DataFrame:
    """The headline estimate, p-value and CI of ``term``, chosen for the number of clusters.

    Parameters
    ----------
    result : RegressionResult
        The fitted model.
    term : str
        Coefficient to report, e.g. ``"treat"``.
    method : {"auto", "wild_bootstrap", "analytic"}
        ``"auto"`` (default): WCR bootstrap when ``n_clusters < threshold``, else the fit's
        analytic inference (CR2 + Satterthwaite or CR1 + t(G-1)). ``"randomization"`` is
        not available here (it needs the data and formula: use :func:`randomization_test`).
    B, weights, seed, level
        Passed to :func:`wild_cluster_bootstrap`.
    threshold : int
        Clusters below which the bootstrap is used (default :data:`FEW_CLUSTERS` = 50;
        Cameron & Miller 2015).

    Returns
    -------
    pandas.DataFrame
        One row: ``term, estimate, se, df, t, p_value, ci_low, ci_high, n_clusters,
        method``. ``se``/``df`` are the fit's analytic ones (for reference); ``p_value``
        and the interval are the headline ones named in ``method``.

    Warns
    -----
    FewClustersWarning
        When the bootstrap is used because clusters are few; the message names G, B and the
        weights.

    Notes
    -----
    Never CR1 with normal critical values: with 14 clusters its 5% test rejects a true
    null far more often than 5% (see ``studies/few_clusters_results.md``).
    """
    check_choice(method, HeadlineMethod, "method")
    if method == "randomization":
        raise EvalkitError(
            "method='randomization' needs the data and formula; call "
            "evalkit.inference.core.randomization_test(data, formula=..., treatment=..., cluster=...)."
        )
    row = result.tidy(level=level)
    row = row[row["term"] == term]
    if row.empty:
        result._term_index(term)  # raises with the list of terms
    row = row.reset_index(drop=True)
    G = result.n_clusters
    use_boot = method == "wild_bootstrap" or (method == "auto" and G < threshold)
    if use_boot:
        wb = wild_cluster_bootstrap(result, term, B=B, weights=weights, seed=seed, level=level)
        if G < threshold:
            warnings.warn(
                f"{G} clusters; p-value and CI from the wild cluster restricted bootstrap "
                f"({'all 2^G Rademacher sign vectors' if wb.enumerated else weights.capitalize() + ' weights'}, "
                f"B={wb.B}).",
                FewClustersWarning, stacklevel=2,
            )
        row.loc[0, ["p_value", "ci_low", "ci_high"]] = [wb.p_value, wb.ci_low, wb.ci_high]
        row["method"] = wb.method
    else:
        ref = ("Satterthwaite t" if result.vcov_type == "CR2" else f"t({G - 1})")
        row["method"] = f"{result.vcov_type} cluster-robust SE, {ref}"
    row["n_clusters"] = G
    return row[["term", "estimate", "se", "df", "t", "p_value", "ci_low", "ci_high",
                "n_clusters", "method"]]
