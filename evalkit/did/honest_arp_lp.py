"""One linear programme per grid point: the ARP test when the dual polytope is too large to
enumerate (many post-periods; see :data:`evalkit.did.honest_arp_core.MAX_BASES`).

For each ``y`` the statistic ``eta`` and the dual weights ``gamma`` come from HiGHS
(:func:`scipy.optimize.linprog`). The truncation bounds use ARP's primal formula when the binding
set has exactly ``k + 1`` moments with an invertible block (the usual case), and otherwise the
dual characterisation: the range of ``c`` over which ``eta(s + b c) = c``, found by bisection as
HonestDiD does (``.vlo_vup_dual_fn``, tolerance 1e-6).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

_TOL = 1e-6


def eta_lp(y: np.ndarray, X: np.ndarray, sd: np.ndarray) -> tuple[float, np.ndarray | None]:
    """``min t`` s.t. ``y - X xi <= t sd``: the value and the dual weights (``None`` if the LP
    is not solved)."""
    k = X.shape[1]
    c = np.zeros(k + 1)
    c[0] = 1.0
    res = linprog(c, A_ub=-np.column_stack([sd, X]), b_ub=-y, bounds=[(None, None)] * (k + 1),
                  method="highs")
    if res.status != 0:
        return float("-inf") if res.status == 3 else float("nan"), None
    return float(res.fun), -np.asarray(res.ineqlin.marginals, float)


def _primal_bounds(y, X, sd, sigma, gamma, binding):
    k1 = X.shape[1] + 1
    W = np.column_stack([sd, X])
    if binding.sum() != k1 or abs(np.linalg.det(W[binding])) < 1e-14:
        return None
    m = len(y)
    SB = np.eye(m)[binding]
    SBc = np.eye(m)[~binding]
    G = W[~binding] @ np.linalg.solve(W[binding], SB) - SBc
    s2 = gamma @ sigma @ gamma
    rho = G @ sigma @ gamma / s2
    with np.errstate(divide="ignore", invalid="ignore"):
        cand = -(G @ y) / rho + gamma @ y
    vlo = cand[rho > 0].max() if np.any(rho > 0) else -np.inf
    vup = cand[rho < 0].min() if np.any(rho < 0) else np.inf
    return vlo, vup


def _dual_bounds(y, X, sd, sigma, gamma, eta):
    """Range of ``c`` over which ``gamma`` stays optimal along ``s + b c``. From a far point the
    optimal vertex ``v`` gives the crossing ``c = v's / (1 - v'b)``; hopping from vertex to vertex
    reaches the end in a few LPs (HonestDiD's shortcut); bisection takes over if it does not."""
    s2 = gamma @ sigma @ gamma
    b = sigma @ gamma / s2
    s = y - b * (gamma @ y)
    sb = np.sqrt(s2)

    def solve(c):
        val, lam = eta_lp(s + b * c, X, sd)
        return np.isfinite(val) and abs(val - c) <= _TOL, lam

    out = []
    for far in (min(-100.0, eta - 20 * sb), max(100.0, eta + 20 * sb)):
        ok, lam = solve(far)
        if ok:
            out.append(far * np.inf)
            continue
        inside, outside, found = eta, far, None
        for _ in range(10):
            if lam is None or abs(1 - lam @ b) < 1e-12:
                break
            c = (lam @ s) / (1 - lam @ b)
            if not min(inside, outside) - _TOL <= c <= max(inside, outside) + _TOL:
                break
            ok, lam = solve(c)
            if ok:
                found = c
                break
            outside = c
        if found is None:
            for _ in range(200):
                if abs(outside - inside) <= _TOL:
                    break
                mid = (inside + outside) / 2
                inside, outside = (mid, outside) if solve(mid)[0] else (inside, mid)
            found = inside
        out.append(found)
    return out[0], out[1]


def nuisance_stats_lp(Ygrid: np.ndarray, X: np.ndarray, sigma: np.ndarray):
    """Same outputs as :func:`evalkit.did.honest_arp_core.nuisance_stats`, by one LP per row."""
    sd = np.sqrt(np.diag(sigma))
    G, m = Ygrid.shape
    eta, s2 = np.full(G, -np.inf), np.ones(G)
    vlo, vup = np.full(G, np.inf), np.full(G, -np.inf)  # empty truncation: not rejected
    gamma = np.zeros((G, m))
    for g, y in enumerate(Ygrid):
        value, lam = eta_lp(y, X, sd)
        if lam is None:
            continue
        lam = np.clip(lam, 0.0, None)
        total = sd @ lam
        if not (np.isfinite(total) and total > 0):
            continue
        lam = lam / total
        eta[g], gamma[g], s2[g] = value, lam, lam @ sigma @ lam
        if not s2[g] > np.finfo(float).eps:  # decided on eta alone (conditional_reject)
            continue
        bounds = _primal_bounds(y, X, sd, sigma, lam, lam > _TOL)
        if bounds is None:
            bounds = _dual_bounds(y, X, sd, sigma, lam, value)
        vlo[g], vup[g] = bounds
    return eta, gamma, s2, vlo, vup
