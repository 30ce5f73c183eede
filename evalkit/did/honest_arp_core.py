"""The Andrews-Roth-Pakes (2023) conditional and hybrid tests, vectorised over a grid of theta.

Moment inequalities ``E[y - a theta - X xi] <= 0`` with ``y ~ N(mu, Sigma)`` and a nuisance
vector ``xi`` (dimension ``k``). The statistic is the value of the linear programme

    eta = min_{t, xi} t   subject to   y - a theta - X xi <= t * sd,      sd = sqrt(diag Sigma),

whose dual is ``max_lambda lambda'(y - a theta)`` over the polytope ``{lambda >= 0, sd'lambda = 1,
X'lambda = 0}``. Here the dual polytope is enumerated once (all basic solutions: ``k + 1`` rows whose
``[sd, X]`` block is invertible and whose dual weights are non-negative), so that for every grid
point the statistic, the optimal vertex ``gamma`` and the truncation bounds ``vlo``/``vup`` of the
conditional test (the range of ``c = gamma'y`` over which ``gamma`` stays optimal, holding
``s = y - Sigma gamma c / gamma'Sigma gamma`` fixed; ARP section 4 and appendix D) are exact and
come from a few matrix products instead of one LP and a bisection per grid point. When the dual
polytope has too many candidate bases (more than ``MAX_BASES``), :mod:`evalkit.did.honest_arp_lp`
solves one LP per grid point instead.

The conditional test rejects when ``eta / sigma_B`` exceeds ``max(0, q)``, ``q`` the
``1 - alpha`` quantile of the standard normal truncated to ``[vlo, vup] / sigma_B``. The
conditional-least-favourable hybrid first rejects when ``eta`` exceeds the least-favourable
critical value ``lf_cv`` (the ``1 - kappa`` quantile of ``eta`` at ``mu = 0``), then runs the
conditional test at size ``(alpha - kappa) / (1 - kappa)`` with ``vup`` capped at ``lf_cv``.
"""
from __future__ import annotations

from itertools import chain, combinations, islice
from math import comb

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri, ndtri_exp

from .honest_rng import r_rmvnorm

MAX_BASES = 3_000_000
_BLOCK = 100_000
_TOL_LAMBDA = 1e-12


def tn_ppf(p, lo, hi):
    """Quantile ``p`` of the standard normal truncated to ``[lo, hi]`` (vectorised; accurate in the
    tails, working with log survival probabilities when the interval lies above 0)."""
    p, lo, hi = np.broadcast_arrays(np.asarray(p, float), np.asarray(lo, float), np.asarray(hi, float))
    out = np.full(p.shape, np.nan)
    upper = lo >= 0  # right tail: mirror to the left tail, where log_ndtr is accurate
    lower = hi <= 0
    mid = ~(upper | lower)
    if np.any(upper):
        la, lb = log_ndtr(-lo[upper]), log_ndtr(-hi[upper])  # log P(Z > lo), log P(Z > hi)
        with np.errstate(divide="ignore"):
            tgt = la + np.log1p(-p[upper] * -np.expm1(lb - la))
        out[upper] = -ndtri_exp(tgt)
    if np.any(lower):
        la, lb = log_ndtr(lo[lower]), log_ndtr(hi[lower])
        with np.errstate(divide="ignore"):
            tgt = lb + np.log1p(-(1 - p[lower]) * -np.expm1(la - lb))
        out[lower] = ndtri_exp(tgt)
    if np.any(mid):
        a, b = ndtr(lo[mid]), ndtr(hi[mid])
        out[mid] = ndtri(a + p[mid] * (b - a))
    return np.clip(out, lo, hi)


def dual_vertices(W: np.ndarray) -> np.ndarray:
    """Vertices of ``{lambda >= 0, W'lambda = e_1}`` (``W = [sd, X]``), one per row, or ``None``
    when there are more than ``MAX_BASES`` candidate bases. Bases are taken in blocks so that
    memory stays bounded."""
    m, k1 = W.shape
    if comb(m, k1) > MAX_BASES:
        return None
    scale = np.abs(W).max() or 1.0
    found = []
    combos = combinations(range(m), k1)
    while True:
        subsets = np.fromiter(islice(chain.from_iterable(combos), _BLOCK * k1), dtype=int).reshape(-1, k1)
        if len(subsets) == 0:
            break
        found.append(_block_vertices(W / scale, subsets, m) / scale)
    out = np.vstack(found) if found else np.zeros((0, m))
    if len(out) > 1:
        key = np.round(out / np.abs(out).max(), 12)
        _, first = np.unique(key, axis=0, return_index=True)
        out = out[np.sort(first)]
    return out


def _block_vertices(W, subsets, m):
    k1 = W.shape[1]
    blocks = np.transpose(W[subsets], (0, 2, 1))  # (N, k1, k1): W_S'
    good = np.abs(np.linalg.det(blocks)) > 1e-11
    blocks, subsets = blocks[good], subsets[good]
    if len(blocks) == 0:
        return np.zeros((0, m))
    rhs = np.zeros((len(blocks), k1, 1))
    rhs[:, 0, 0] = 1.0
    lam = np.linalg.solve(blocks, rhs)[:, :, 0]
    feasible = np.all(lam >= -_TOL_LAMBDA * np.abs(lam).max(axis=1, keepdims=True), axis=1)
    lam, subsets = np.clip(lam[feasible], 0.0, None), subsets[feasible]
    out = np.zeros((len(lam), m))
    np.put_along_axis(out, subsets, lam, axis=1)
    return out


def lf_cv_nuisance(X: np.ndarray, sigma: np.ndarray, kappa: float, seed: int = 0,
                   sims: int = 1000, vertices: np.ndarray | None = None) -> float:
    """Least-favourable critical value: the ``1 - kappa`` quantile of ``eta`` at ``mu = 0`` over
    ``sims`` draws (R's draws after ``set.seed(seed)``, as HonestDiD)."""
    draws = r_rmvnorm(sims, sigma, seed)
    if vertices is None:
        from .honest_arp_lp import eta_lp
        eta = np.array([eta_lp(xi, X, np.sqrt(np.diag(sigma)))[0] for xi in draws])
    else:
        eta = (draws @ vertices.T).max(axis=1)
    eta = eta[np.isfinite(eta)]
    return float(np.quantile(eta, 1 - kappa))


def lf_cv_no_nuisance(sigma: np.ndarray, kappa: float, seed: int = 0, sims: int = 1000) -> float:
    """Least-favourable critical value without nuisance parameters: quantile of the largest
    standardised draw."""
    draws = r_rmvnorm(sims, sigma, seed) / np.sqrt(np.diag(sigma))
    return float(np.quantile(draws.max(axis=1), 1 - kappa))


def conditional_reject(eta, sigma_b2, vlo, vup, alpha, hybrid, lf_cv=None, flci_bounds=None):
    """Reject (bool array) from the statistic ``eta``, the variance of ``gamma'y`` and the
    truncation bounds, for ``hybrid`` None (conditional), "LF" or "FLCI" (the caller has already
    applied the FLCI first stage and passes the FLCI bounds ``(vlo_f, vup_f)``)."""
    eta, sigma_b2, vlo, vup = (np.asarray(v, float) for v in (eta, sigma_b2, vlo, vup))
    size = alpha
    if hybrid == "LF":
        size = (alpha - _kappa(alpha)) / (1 - _kappa(alpha))
        vup = np.minimum(vup, lf_cv)
    elif hybrid == "FLCI":
        size = (alpha - _kappa(alpha)) / (1 - _kappa(alpha))
        vlo, vup = np.maximum(vlo, flci_bounds[0]), np.minimum(vup, flci_bounds[1])
    degenerate = np.abs(sigma_b2) < np.finfo(float).eps
    sb = np.sqrt(np.where(degenerate, 1.0, sigma_b2))
    stat, zlo, zup = eta / sb, vlo / sb, vup / sb
    inside = (zlo <= stat) & (stat <= zup) & ~degenerate
    cval = np.zeros_like(stat)
    if np.any(inside):
        cval[inside] = np.maximum(0.0, tn_ppf(1 - size, zlo[inside], zup[inside]))
    reject = inside & (stat > cval)
    reject |= degenerate & (eta > 0)
    if hybrid == "LF":
        reject |= eta > lf_cv
    return reject


def _kappa(alpha: float) -> float:
    return alpha / 10


def nuisance_stats(Y: np.ndarray, V: np.ndarray, sigma: np.ndarray):
    """For rows ``Y`` (G x m; ``y - a theta`` per grid point) and dual vertices ``V``: the statistic
    ``eta``, the optimal vertex ``gamma`` (G x m), ``gamma'Sigma gamma`` and the truncation bounds.
    Works on blocks of grid points so that the (points x vertices) arrays stay small."""
    step = max(1, int(4_000_000 // max(len(V), 1)))
    if len(Y) > step:
        parts = [_nuisance_block(Y[i:i + step], V, sigma) for i in range(0, len(Y), step)]
        return tuple(np.concatenate(p) for p in zip(*parts))
    return _nuisance_block(Y, V, sigma)


def _nuisance_block(Y, V, sigma):
    vals = Y @ V.T  # (G, nv)
    best = np.argmax(vals, axis=1)
    eta = vals[np.arange(len(Y)), best]
    gamma = V[best]
    sgam = gamma @ sigma  # (G, m) = (Sigma gamma)'
    s2 = np.einsum("gm,gm->g", sgam, gamma)
    safe = np.where(np.abs(s2) < np.finfo(float).eps, 1.0, s2)
    vb = (sgam @ V.T) / safe[:, None]  # v'b for each vertex v
    vs = vals - vb * eta[:, None]  # v's, s = y - b gamma'y
    den = 1.0 - vb
    tol = 1e-10
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = vs / den
    vlo = np.where(den > tol, ratio, -np.inf).max(axis=1)
    vup = np.where(den < -tol, ratio, np.inf).min(axis=1)
    return eta, gamma, s2, vlo, vup
