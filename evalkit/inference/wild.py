"""The wild cluster bootstrap: a test of one coefficient and its test-inversion confidence interval.

:func:`wild_cluster_bootstrap` is the wild cluster restricted (WCR) bootstrap-t of Cameron,
Gelbach & Miller (2008), computed with the closed forms of Roodman, MacKinnon, Nielsen & Webb
(2019) ("Fast and wild", Stata ``boottest``): every replication is a few G x G operations on
cluster-level sums from the fit's :class:`~evalkit.inference.regress.ClusterFit`, none touches
the N rows. With few clusters it is the headline method (:func:`evalkit.headline`,
:mod:`evalkit.inference.few_clusters`).

References
----------
Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2008). Bootstrap-based improvements for
inference with clustered errors. Review of Economics and Statistics 90(3), 414-427.
MacKinnon, J. G. and Webb, M. D. (2017). Wild bootstrap inference for wildly different
cluster sizes. Journal of Applied Econometrics 32(2), 233-254.
Roodman, D., MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2019). Fast and wild:
Bootstrap inference in Stata using boottest. Stata Journal 19(1), 4-60.
Canay, I. A., Santos, A. and Shaikh, A. M. (2021). The wild bootstrap with a "small"
number of "large" clusters. Review of Economics and Statistics 103(2), 346-363.
Webb, M. D. (2023). Reworking wild bootstrap-based inference for clustered errors.
Canadian Journal of Economics 56(3), 839-858.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from .._literals import BootWeights, check_choice
from ..errors import EvalkitError
from ..results import Result
from .regress import ClusterFit, RegressionResult

__all__ = ["wild_cluster_bootstrap", "WildBootstrapResult"]

_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


@dataclass(frozen=True, repr=False)
class WildBootstrapResult(Result):
    """Wild cluster bootstrap test of one coefficient and its test-inversion interval.

    Attributes
    ----------
    term : str
        The coefficient tested.
    estimate : float
        Its OLS/WLS estimate.
    statistic : float
        The CR1 t-statistic for H0: coefficient = ``null``.
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
        ``itertools.product([-1, 1], repeat=G)`` order). Read-only.
    """

    title: ClassVar[str] = "Wild cluster bootstrap"

    term: str
    estimate: float
    statistic: float
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

    def __post_init__(self):
        self.t_boot.flags.writeable = False

    @property
    def t_stat(self) -> float:
        """Deprecated name of :attr:`statistic` (evalkit 0.1); removed in 0.3."""
        warnings.warn("WildBootstrapResult.t_stat is now .statistic; t_stat goes in evalkit 0.3.",
                      FutureWarning, stacklevel=2)
        return self.statistic

    @property
    def method(self) -> str:
        kind = "restricted (WCR)" if self.impose_null else "unrestricted (WCU)"
        draw = (f"all {self.B} Rademacher sign vectors" if self.enumerated
                else f"{self.weights.capitalize()} weights, B={self.B}")
        return f"wild cluster {kind} bootstrap-t, {draw}"

    def tidy(self) -> pd.DataFrame:
        """One row: ``term, estimate, statistic, p_value, ci_low, ci_high, level, method, B, n_clusters,
        weights, enumerated``; ``statistic`` is the CR1 t."""
        return pd.DataFrame({
            "term": [self.term], "estimate": [self.estimate], "statistic": [self.statistic],
            "p_value": [self.p_value], "ci_low": [self.ci_low], "ci_high": [self.ci_high],
            "level": [self.level], "method": [self.method], "B": [self.B],
            "n_clusters": [self.n_clusters], "weights": [self.weights],
            "enumerated": [self.enumerated],
        })

    def _headline(self) -> str:
        return f"{self.method}; {self.n_clusters} clusters, {100 * self.level:g}% CI by test inversion"


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
    the CR1 t. Both pieces are affine in delta, so p(delta) costs O(B) after an O(G K B)
    precomputation.
    """

    def __init__(self, fit: ClusterFit, j: int, v: np.ndarray, impose_null: bool):
        QQ = fit.QQ_g
        s = fit.Qs_g
        self.ssc = fit.cr1_factor
        r = fit.T[j]
        self.unit = float(np.linalg.norm(r))       # beta_j = unit * (r/|r|)'theta
        r = r / self.unit
        self.b = float(fit.beta[j])
        self.se = float(np.sqrt(fit.vcov_cr1[j, j]))
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
            num = C @ v                            # B
            # sum_g H_hg v_gb with H_hg = r'QQ_h S_g, as (QQ_h r)'(sum_g S_g v_gb): no G x G matrix
            Z = C[:, None] * v - QQr @ (S.T @ v)   # G x B
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


def _invert(wt: _WildT, level: float) -> tuple[float, float]:
    """Bounds of {delta : p(delta) > 1 - level} by outward search and bisection (boottest-style)."""
    alpha = 1.0 - level
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
        A fit from :func:`evalkit.regress` (its clusters are the bootstrap clusters; only its
        :class:`~evalkit.inference.regress.ClusterFit` and coefficient names are read).
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
        ``.p_value, .ci_low, .ci_high, .statistic, .B, .n_clusters, .weights, .enumerated``
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
        raise EvalkitError("result must be a RegressionResult from evalkit.regress().")
    B = int(B)
    if B < 1:
        raise EvalkitError(f"B={B} must be a positive number of bootstrap replications, e.g. 9999.")
    if not 0 < level < 1:
        raise EvalkitError(f"level={level!r} must be between 0 and 1, e.g. 0.95.")
    j = result.term_index(term)
    rng = np.random.default_rng(seed)
    G = result.fit.n_clusters
    v, enumerated = _draw_weights(weights, G, B, rng)
    wt = _WildT(result.fit, j, v, impose_null)
    p = wt.p_value(null)
    lo, hi = _invert(wt, level)
    return WildBootstrapResult(
        term=term, estimate=wt.b, statistic=float(wt.t_obs(null)), p_value=p,
        ci_low=lo, ci_high=hi, level=level, B=int(v.shape[1]), n_clusters=G,
        weights=weights, enumerated=enumerated, impose_null=impose_null, null=float(null),
        seed=seed, t_boot=wt.t_boot(null),
    )
