"""Fixed-length confidence intervals (Armstrong & Kolesár 2018, 2020) for an event-study parameter
under the smoothness restriction Delta^SD(M) of Rambachan & Roth (2023) -- HonestDiD's FLCI.

Set-up. ``betahat`` holds the event-study estimates, ``num_pre`` pre-periods (event times
``-num_pre .. -1`` relative to the omitted reference period 0) then ``num_post`` post-periods
(``1 .. num_post``); ``sigma`` is their covariance. ``betahat = tau + delta``: ``tau`` the effects
(zero before treatment), ``delta`` the difference in trends with ``delta_0 = 0``. Delta^SD(M)
bounds every second difference of ``delta`` (over ``-num_pre .. num_post``, the reference period
included) by ``M``: linear trends are free, curvature is limited. The target is
``theta = l_vec' tau_post``.

The FLCI is ``a' betahat +- chi``: affine weights ``a = (v, l_vec)`` with free pre-period weights
``v``. Writing ``delta = s t + G e`` (a slope ``s`` and the second differences ``e``,
``|e_j| <= M``), the bias ``a' delta`` is unbounded unless ``a' t = 0``; then its worst case is
``M * ||G' a||_1``. With ``sd(a) = sqrt(a' sigma a)``, the shortest interval with coverage
``level`` for every ``delta`` in Delta^SD(M) has half-length
``chi(a) = sd(a) * cv(M ||G' a||_1 / sd(a))``, ``cv(b)`` the ``level`` quantile of ``|N(b, 1)|``
(the folded normal), minimised over ``v``. As HonestDiD (``findOptimalFLCI``), the minimum is
sought over ``h``: for each bound ``h`` on ``sd``, the smallest worst-case bias ``B(h)`` is a
linear programme with one convex quadratic constraint (solved here with scipy's SLSQP on slack
variables), and ``h * cv(M B(h) / h)`` is minimised over ``h`` between the smallest possible
``sd`` and the ``sd`` of the minimum-bias weights (all pre-period weight on period -1).

The critical value. HonestDiD takes ``cv`` from 10^6 simulated normal draws with R's
``set.seed(0)`` (Mersenne-Twister, inversion); ``cv="simulated"`` (the default) draws the same
numbers (:mod:`evalkit.did.honest_rng`; checked against R's ``set.seed(0); rnorm()``)
so that results match HonestDiD; ``cv="exact"`` solves ``P(|N(b, 1)| <= c) = level`` instead
(differences of order 1e-3 in relative half-length).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal, NamedTuple

import numpy as np
from scipy import optimize, stats

from ..errors import EstimationError
from .honest_rng import r_rnorm

__all__ = ["FLCI", "flci", "folded_normal_quantile", "sd_bias_weights", "check_event_study"]

CriticalValue = Literal["simulated", "exact"]


class FLCI(NamedTuple):
    """An FLCI: ``ci_low, ci_high`` = estimate -/+ ``halflength``; ``weights`` the optimal affine
    weights on ``betahat`` (pre then post); ``max_bias`` the worst-case bias over Delta^SD(M);
    ``sd`` the standard deviation of ``weights' betahat``."""

    ci_low: float
    ci_high: float
    halflength: float
    weights: np.ndarray
    max_bias: float
    sd: float


# -- input checks (shared with evalkit.did.honest) ---------------------------------------------
def check_event_study(betahat, sigma, num_pre, num_post, l_vec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float arrays ``(betahat, sigma, l_vec)``; ``l_vec=None`` is the first post-period."""
    b = np.asarray(betahat, dtype=float).ravel()
    S = np.asarray(sigma, dtype=float)
    if int(num_pre) != num_pre or int(num_post) != num_post or num_pre < 1 or num_post < 1:
        raise EstimationError(f"num_pre and num_post must be positive integers, got {num_pre!r} and {num_post!r}.")
    if b.size != num_pre + num_post:
        raise EstimationError(
            f"betahat has {b.size} entries but num_pre + num_post = {num_pre} + {num_post} = "
            f"{num_pre + num_post}: pass the event-study estimates without the reference period, "
            "pre-periods first, and set num_pre/num_post to their counts.")
    if S.shape != (b.size, b.size):
        raise EstimationError(f"sigma has shape {S.shape}; it must be the {b.size} x {b.size} covariance of betahat.")
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(S))):
        raise EstimationError("betahat and sigma must be finite (no NaN): drop event times without an estimate.")
    if not np.allclose(S, S.T, rtol=1e-8, atol=1e-14 * max(1.0, np.abs(S).max())):
        raise EstimationError("sigma is not symmetric; pass the covariance matrix of betahat (e.g. result.vcov()).")
    eig = np.linalg.eigvalsh((S + S.T) / 2)
    if eig.min() < -1e-10 * max(eig.max(), 0.0) or eig.max() <= 0:
        raise EstimationError(
            f"sigma is not positive semi-definite (smallest eigenvalue {eig.min():.3g}); pass a covariance "
            "matrix (a clustered covariance from fewer clusters than estimates can be singular, but not negative).")
    lv = np.eye(num_post)[0] if l_vec is None else np.asarray(l_vec, dtype=float).ravel()
    if lv.size != num_post or not np.all(np.isfinite(lv)):
        raise EstimationError(f"l_vec has {lv.size} entries; it must give one finite weight per post-period ({num_post}).")
    return b, (S + S.T) / 2, lv


# -- the restriction ----------------------------------------------------------------------------
def sd_bias_weights(num_pre: int, num_post: int) -> tuple[np.ndarray, np.ndarray]:
    """``(t, G)`` with ``delta = s t + G e`` for every ``delta`` with ``delta_0 = 0``: ``t`` the event
    times ``-num_pre .. -1, 1 .. num_post`` and ``G`` (n x (n - 1)) the effect of the second
    differences ``e`` (at ``-num_pre + 1 .. num_post - 1``) with the first difference
    ``delta_1 - delta_0`` held at ``s``."""
    n = num_pre + num_post + 1  # the reference period included, at position num_pre
    D2 = np.zeros((n - 2, n))
    for j in range(n - 2):
        D2[j, j:j + 3] = (1.0, -2.0, 1.0)
    anchor = np.zeros((2, n))
    anchor[0, num_pre] = 1.0                                      # delta_0
    anchor[1, num_pre:num_pre + 2] = (-1.0, 1.0) if num_post else 0  # delta_1 - delta_0
    inv = np.linalg.inv(np.vstack([D2, anchor]))
    keep = np.r_[0:num_pre, num_pre + 1:n]
    t = np.r_[-num_pre:0, 1:num_post + 1].astype(float)
    return t, inv[keep][:, : n - 2]


# -- critical values ----------------------------------------------------------------------------
@lru_cache(maxsize=2)
def _r_norm_draws(n: int = 10**6, seed: int = 0) -> np.ndarray:
    """``n`` standard normals as R draws them after ``set.seed(seed)`` (:mod:`evalkit.did.honest_rng`)."""
    out = r_rnorm(n, seed)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=2)
def _sorted_draws() -> np.ndarray:
    out = np.sort(_r_norm_draws())
    out.flags.writeable = False
    return out


def _kth_abs(z: np.ndarray, mu: float, j: int) -> float:
    """The ``j``-th smallest (0-based) of ``|z + mu|`` for sorted ``z``: merge of the two sorted
    runs ``z + mu >= 0`` and ``-(z + mu) > 0`` by bisection (O(log n))."""
    i0 = int(np.searchsorted(z, -mu, side="left"))
    nA, nB = z.size - i0, i0
    A = lambda i: z[i0 + i] + mu          # noqa: E731  ascending
    B = lambda i: -(z[i0 - 1 - i] + mu)   # noqa: E731  ascending
    k = j + 1  # how many smallest values
    lo, hi = max(0, k - nB), min(k, nA)
    while lo < hi:
        mid = (lo + hi) // 2
        if k - mid > 0 and mid < nA and B(k - mid - 1) > A(mid):
            lo = mid + 1
        else:
            hi = mid
    return max(A(lo - 1) if lo > 0 else -np.inf, B(k - lo - 1) if k - lo > 0 else -np.inf)


def folded_normal_quantile(p: float, mu: float, cv: CriticalValue = "simulated") -> float:
    """The ``p`` quantile of ``|N(mu, 1)|``: ``"exact"``, or ``"simulated"`` as HonestDiD
    (type-7 quantile of ``|Z + mu|`` over R's 10^6 draws after ``set.seed(0)``)."""
    mu = abs(float(mu))
    if cv == "simulated":
        z = _sorted_draws()
        pos = (z.size - 1) * p  # R quantile type 7
        j = int(np.floor(pos))
        lo = _kth_abs(z, mu, j)
        return float(lo if pos == j else lo + (pos - j) * (_kth_abs(z, mu, j + 1) - lo))
    if cv != "exact":
        raise EstimationError(f"cv must be 'simulated' (HonestDiD) or 'exact', got {cv!r}.")
    f = lambda c: stats.norm.cdf(c - mu) - stats.norm.cdf(-c - mu) - p  # noqa: E731
    return float(optimize.brentq(f, 0.0, mu + 10.0, xtol=1e-14))


# -- the optimisation ---------------------------------------------------------------------------
class _Problem:
    """The FLCI problem in the free pre-period weights ``v`` (sigma scaled to unit size)."""

    def __init__(self, sigma, num_pre, num_post, l_vec):
        t, G = sd_bias_weights(num_pre, num_post)
        self.K = num_pre
        self.scale = float(np.sqrt(np.mean(np.diag(sigma)))) or 1.0
        S = sigma / self.scale ** 2
        self.Spp, self.SpP, lSl = S[:num_pre, :num_pre], S[:num_pre, num_pre:] @ l_vec, l_vec @ S[num_pre:, num_pre:] @ l_vec
        self.lSl = float(lSl)
        C, c0 = G[:num_pre].T, G[num_pre:].T @ l_vec   # bias coefficients C v + c0
        free = np.any(C != 0, axis=1)                   # rows that depend on v (the rest: a constant)
        self.C, self.c0, self.const = C[free], c0[free], float(np.abs(c0[~free]).sum())
        self.t_pre, self.target = t[:num_pre], -float(t[num_pre:] @ l_vec)  # t_pre' v = target
        self.l_vec = l_vec

    def var(self, v):
        return float(v @ self.Spp @ v + 2 * v @ self.SpP + self.lSl)

    def bias(self, v):
        return float(np.abs(self.C @ v + self.c0).sum()) + self.const

    def min_variance(self) -> np.ndarray:
        K = self.K
        kkt = np.block([[2 * self.Spp, self.t_pre[:, None]], [self.t_pre[None, :], np.zeros((1, 1))]])
        rhs = np.r_[-2 * self.SpP, self.target]
        return np.linalg.lstsq(kkt, rhs, rcond=None)[0][:K]

    def min_bias(self) -> np.ndarray:
        v = np.zeros(self.K)
        v[-1] = -self.target  # all weight on period -1 (t = -1)
        return v

    def least_bias_given_sd(self, h: float, start: np.ndarray) -> np.ndarray:
        """Weights of the smallest worst-case bias with ``sd <= h`` (SLSQP on ``(v, u)``, ``u >= |C v + c0|``)."""
        K, m = self.K, self.C.shape[0]
        x0 = np.r_[start, np.abs(self.C @ start + self.c0) + 1e-9]
        cons = [
            {"type": "ineq", "fun": lambda x: x[K:] - (self.C @ x[:K] + self.c0),
             "jac": lambda x: np.hstack([-self.C, np.eye(m)])},
            {"type": "ineq", "fun": lambda x: x[K:] + (self.C @ x[:K] + self.c0),
             "jac": lambda x: np.hstack([self.C, np.eye(m)])},
            {"type": "eq", "fun": lambda x: np.array([self.t_pre @ x[:K] - self.target]),
             "jac": lambda x: np.r_[self.t_pre, np.zeros(m)][None, :]},
            {"type": "ineq", "fun": lambda x: np.array([h * h - self.var(x[:K])]),
             "jac": lambda x: np.r_[-2 * (self.Spp @ x[:K] + self.SpP), np.zeros(m)][None, :]},
        ]
        res = optimize.minimize(lambda x: x[K:].sum(), x0, jac=lambda x: np.r_[np.zeros(K), np.ones(m)],
                                constraints=cons, method="SLSQP", options={"ftol": 1e-15, "maxiter": 500})
        v = res.x[:K]
        v = v + self.t_pre * (self.target - self.t_pre @ v) / (self.t_pre @ self.t_pre)  # exactly unbiased
        return v if self.var(v) <= h * h * (1 + 1e-7) and self.bias(v) <= self.bias(start) else start


def _argmin_convex(f, a: float, b: float) -> float:
    """Minimiser of a convex ``f`` on ``[a, b]`` by bisection on its central-difference derivative
    (step ``min((b - a) / 100, b * eps^(1/3))``, the tolerance of HonestDiD's search, so that the
    simulated critical value's small steps are smoothed the same way). Falls back to Brent's
    bounded search when the derivatives contradict convexity."""
    dif = min((b - a) / 100, abs(b) * np.finfo(float).eps ** (1 / 3))
    fa, fb = f(a), f(b)
    fpa, fpb = (f(a + dif) - fa) / dif, (fb - f(b - dif)) / dif
    if fpa > fpb or not (np.isfinite(fa) and np.isfinite(fb)):
        return float(optimize.minimize_scalar(f, bounds=(a, b), method="bounded",
                                              options={"xatol": dif}).x)
    if fpb < 0:
        return b
    if fpa > 0:
        return a
    lo, hi = a, b
    for _ in range(200):
        if hi - lo <= dif:
            break
        x = (lo + hi) / 2
        if f(x + dif) - f(x - dif) > 0:
            hi = x
        else:
            lo = x
    return (lo + hi) / 2


def _optimal_weights(prob: _Problem, M: float, level: float, cv: CriticalValue) -> tuple[np.ndarray, float]:
    """Pre-period weights minimising the half-length, and the half-length (in scaled units)."""
    v_var, v_bias = prob.min_variance(), prob.min_bias()
    h_min, h_max = np.sqrt(prob.var(v_var)), np.sqrt(prob.var(v_bias))
    half = lambda v: np.sqrt(prob.var(v)) * folded_normal_quantile(  # noqa: E731
        level, M * prob.bias(v) / np.sqrt(prob.var(v)), cv)
    if M == 0 or prob.K == 1 or h_max - h_min <= 1e-12 * h_max:
        return v_var, half(v_var)
    cache: dict[float, np.ndarray] = {h_min: v_var, h_max: v_bias}
    step = v_bias - v_var
    qa, qb = float(step @ prob.Spp @ step), float(2 * step @ (prob.Spp @ v_var + prob.SpP))

    def weights(h):
        if h not in cache:  # start on the segment v_var -> v_bias where sd = h (feasible, var convex)
            lam = (-qb + np.sqrt(max(qb * qb + 4 * qa * (h * h - h_min ** 2), 0.0))) / (2 * qa) if qa > 0 else 0.0
            cache[h] = prob.least_bias_given_sd(h, v_var + min(max(lam, 0.0), 1.0) * step)
        return cache[h]

    def length(h):  # h * cv(M B(h) / h), as HonestDiD's search evaluates it
        return h * folded_normal_quantile(level, M * prob.bias(weights(h)) / h, cv)

    v = weights(_argmin_convex(length, h_min, h_max))
    return v, half(v)


def _one_blas_thread():
    """Small matrices: one BLAS thread is fastest (and avoids oversubscribed cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scipy's usual installs
        from contextlib import nullcontext
        return nullcontext()
    return threadpool_limits(1)


def flci(betahat, sigma, num_pre: int, num_post: int, l_vec=None, M: float = 0.0, *,
         level: float = 0.95, cv: CriticalValue = "simulated") -> FLCI:
    """Optimal fixed-length confidence interval for ``theta = l_vec' tau_post`` under Delta^SD(M).

    Parameters
    ----------
    betahat : array (num_pre + num_post,)
        Event-study estimates, pre-periods then post-periods, the reference period left out.
    sigma : array (num_pre + num_post, num_pre + num_post)
        Their covariance.
    num_pre, num_post : int
    l_vec : array (num_post,), optional
        Weights of the target; default the first post-period.
    M : float
        Largest change of slope of the difference in trends between consecutive periods (>= 0).
    level : float
        Coverage (0.95).
    cv : {"simulated", "exact"}
        Folded-normal critical value: HonestDiD's simulated one (default) or the exact quantile.

    Returns
    -------
    FLCI
        ``ci_low, ci_high, halflength, weights, max_bias, sd``.

    Notes
    -----
    Module docstring; R ``HonestDiD::findOptimalFLCI`` (checked against HonestDiD's published
    results in tests/test_honest_flci.py).
    """
    b, S, lv = check_event_study(betahat, sigma, num_pre, num_post, l_vec)
    if not (np.isfinite(M) and M >= 0):
        raise EstimationError(f"M must be a finite number >= 0, got {M!r}.")
    if not 0 < level < 1:
        raise EstimationError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}.")
    prob = _Problem(S, num_pre, num_post, lv)
    with _one_blas_thread():
        v, half = _optimal_weights(prob, float(M) / prob.scale, level, cv)
    a = np.r_[v, lv]
    est = float(a @ b)
    half = half * prob.scale
    return FLCI(ci_low=est - half, ci_high=est + half, halflength=half, weights=a,
                max_bias=float(M) * prob.bias(v), sd=float(np.sqrt(a @ S @ a)))
