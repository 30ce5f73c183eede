"""Confidence sets robust to violations of parallel trends: the conditional and hybrid tests of
Andrews, Roth & Pakes (ARP), inverted over a grid of values of the target, as in Rambachan & Roth
(2023) and their R package HonestDiD.

The target is ``theta = l_vec' tau_post``, a weighted sum of the post-period effects. For each
``theta`` on an evenly spaced grid the test asks whether some violation ``delta`` in the chosen set
(Delta^SD(M) or Delta^RM(Mbar), :mod:`evalkit.did.honest_delta`) is consistent with the event-study
coefficients ``betahat`` (covariance ``sigma``); the confidence set is the accepted grid points and
the interval returned is ``(min, max)`` of them.

- :func:`sd_conditional_interval` -- Delta^SD(M) with ``hybrid="LF"`` (HonestDiD "C-LF"),
  ``"FLCI"`` ("C-F", first stage the fixed-length interval of :mod:`evalkit.did.honest_flci`) or
  ``None`` ("Conditional");
- :func:`rm_interval` -- Delta^RM(Mbar), the union over which pre-period change is the largest and
  its sign (HonestDiD ``computeConditionalCS_DeltaRM``), ``hybrid="LF"`` or ``None``.

Defaults follow HonestDiD so that results match it: kappa = alpha / 10 for the hybrids; only the
moments that involve a post-period enter the ARP test when there are several post-periods
(``postPeriodMomentsOnly``); 1,000 grid points over the identified set under parallel trends
widened by 20 standard errors of the plain estimate of theta (SD; widened further only where that
grid would cut the set off, :func:`sd_default_grid`), the plain estimate +-(20
standard errors + the largest violation Mbar allows) (RM, :func:`rm_default_grid`) or the
level-(1 - kappa) FLCI (C-F); the least-favourable critical value from 1,000 normal draws
identical to R's after ``set.seed(0)`` (:mod:`evalkit.did.honest_rng`). With one post-period the
test has no nuisance parameter and follows HonestDiD's no-nuisance version (its floor of the
critical value and its untruncated least-favourable second stage included).
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linprog

from ..errors import DidWarning, EstimationError
from .honest_arp_core import (conditional_reject, dual_vertices, lf_cv_no_nuisance,
                              lf_cv_nuisance, nuisance_stats, tn_ppf)
from .honest_delta import _check_periods, post_rows, rm_constraints, rm_pieces, sd_constraints

__all__ = ["sd_conditional_interval", "rm_interval", "sd_identified_set", "sd_default_grid", "rm_default_grid"]

_HYBRIDS = {None: None, "lf": "LF", "c-lf": "LF", "flci": "FLCI", "c-f": "FLCI",
            "conditional": None, "arp": None}


# ---------------------------------------------------------------- inputs
def _inputs(betahat, sigma, num_pre, num_post, l_vec, level, grid_points):
    num_pre, num_post = _check_periods(num_pre, num_post)
    try:
        beta = np.asarray(betahat, dtype=float).reshape(-1)
        sig = np.asarray(sigma, dtype=float)
    except (TypeError, ValueError):
        raise EstimationError("betahat and sigma must be numeric arrays (event-study coefficients and "
                              "their covariance).") from None
    n = num_pre + num_post
    if beta.shape != (n,):
        raise EstimationError(
            f"betahat has {beta.size} values but num_pre + num_post = {num_pre} + {num_post} = {n}: "
            "pass the event-study coefficients ordered pre then post, without the reference period."
        )
    if sig.shape != (n, n):
        raise EstimationError(f"sigma has shape {sig.shape}; it must be the {n} x {n} covariance of betahat.")
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(sig))):
        raise EstimationError("betahat and sigma must be finite (a NaN or inf was found); "
                              "drop event times without an estimate before calling.")
    if np.max(np.abs(sig - sig.T)) > 1e-8 * max(np.max(np.abs(sig)), 1e-300):
        raise EstimationError("sigma is not symmetric; pass a covariance matrix (e.g. result.vcov()).")
    if np.any(np.diag(sig) <= 0):
        raise EstimationError("sigma has a variance <= 0 on its diagonal; every coefficient needs a positive variance.")
    sig = (sig + sig.T) / 2
    try:
        lv = np.asarray(l_vec, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        lv = np.full(0, np.nan)
    if lv.shape != (int(num_post),) or not np.all(np.isfinite(lv)) or not np.any(lv != 0):
        raise EstimationError(
            f"l_vec must hold {num_post} finite weights (one per post-period), not all zero; got {l_vec!r}."
        )
    if not isinstance(level, (int, float, np.floating)) or not 0 < float(level) < 1:
        raise EstimationError(f"level={level!r} must lie strictly between 0 and 1 (e.g. 0.95).")
    if not isinstance(grid_points, (int, np.integer)) or grid_points < 2:
        raise EstimationError(f"grid_points={grid_points!r} must be a whole number >= 2.")
    return beta, sig, lv


def _bound(value, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not np.isfinite(out) or out < 0:
        raise EstimationError(f"{name}={value!r} must be a finite number >= 0.")
    return out


def _hybrid(hybrid) -> str | None:
    key = hybrid.lower() if isinstance(hybrid, str) else hybrid
    if key not in _HYBRIDS:
        raise EstimationError(f"hybrid={hybrid!r}: use 'LF' (C-LF), 'FLCI' (C-F) or None (conditional).")
    return _HYBRIDS[key]


def _sd_theta(sigma, l_vec, num_pre) -> float:
    post = sigma[num_pre:, num_pre:]
    return float(np.sqrt(l_vec @ post @ l_vec))


def construct_gamma(l_vec: np.ndarray) -> np.ndarray:
    """An invertible matrix whose first row is ``l_vec'``, completed with unit vectors (the first
    ones, in order, that keep the rows independent -- HonestDiD's reduced-row-echelon choice)."""
    rows = [l_vec]
    for j in range(len(l_vec)):
        e = np.zeros(len(l_vec))
        e[j] = 1.0
        if np.linalg.matrix_rank(np.vstack(rows + [e])) == len(rows) + 1:
            rows.append(e)
        if len(rows) == len(l_vec):
            break
    return np.vstack(rows)


def sd_identified_set(M: float, betahat, l_vec, num_pre: int, num_post: int, *,
                      post_moments_only: bool = False) -> tuple[float, float]:
    """Identified set of ``theta`` under Delta^SD(M) when the population coefficients are
    ``betahat`` (bounds of ``l'beta_post - l'delta_post`` over the violations that match the
    pre-period coefficients). ``post_moments_only`` drops the restrictions among pre-periods
    alone (as the ARP test does), so the set is never empty; otherwise pre-periods that violate
    Delta^SD(M) by themselves raise :class:`~evalkit.errors.EstimationError`."""
    A, d = sd_constraints(num_pre, num_post)
    if post_moments_only:
        keep = post_rows(A, num_pre)
        A, d = A[keep], d[keep]
    beta = np.asarray(betahat, float)
    n = num_pre + num_post
    c = np.concatenate([np.zeros(num_pre), l_vec])
    eq = np.hstack([np.eye(num_pre), np.zeros((num_pre, num_post))])
    out = []
    for sign in (1.0, -1.0):
        res = linprog(sign * c, A_ub=A, b_ub=M * d, A_eq=eq, b_eq=beta[:num_pre],
                      bounds=[(None, None)] * n, method="highs")
        if res.status != 0:
            raise EstimationError(
                f"the identified set under Delta^SD(M={M}) is empty or could not be computed ({res.message}); "
                "the pre-period coefficients alone may violate the restriction: try a larger M."
            )
        out.append(sign * res.fun)
    lb_bias, ub_bias = out[0], out[1]  # min and max of l'delta_post
    point = float(l_vec @ beta[num_pre:])
    return point - ub_bias, point - lb_bias


def rm_default_grid(betahat, sigma, num_pre, num_post, l_vec, Mbar) -> tuple[float, float]:
    """Default theta grid for Delta^RM(Mbar): centred on the plain estimate ``l'betahat_post``,
    half-width ``Mbar * sum_t t |l_t| * maxpre + 20 * sd(theta)`` with ``maxpre`` the largest
    one-period change of the pre-period coefficients (to the reference 0). This is the grid of
    HonestDiD 0.2.6 ("Fixed grid to match Stata's improvement", commit 888de5e; the one that
    produced the package README's results) and of the Stata ``honestdid``; HonestDiD's master
    branch still uses +-20 sd(theta) around 0, which can cut the set off when the estimate is
    large or Mbar is (the README's Sun-Abraham example at Mbar = 2 is cut off there).
    """
    beta = np.asarray(betahat, float)
    lv = np.asarray(l_vec, float)
    sd_t = _sd_theta(np.asarray(sigma, float), lv, num_pre)
    if num_pre > 1:
        maxpre = float(np.max(np.abs(np.diff(np.append(beta[:num_pre], 0.0)))))
    else:
        maxpre = abs(float(beta[0]))
    centre = float(beta[num_pre:] @ lv)
    half = Mbar * float(np.arange(1, num_post + 1) @ np.abs(lv)) * maxpre + 20 * sd_t
    return centre - half, centre + half


def sd_default_grid(betahat, sigma, num_pre, num_post, l_vec, M) -> tuple[float, float]:
    """Default theta grid for Delta^SD(M) (conditional and C-LF): HonestDiD's -- the identified set
    when all coefficients are 0, widened by 20 sd(theta) -- unless that grid does not contain the
    identified set at ``betahat`` widened by 5 sd(theta) (an estimate far from 0, or a steep
    pre-trend extrapolated), in which case HonestDiD's set would be cut off at the grid's edge or
    missed altogether; the grid is then that identified set widened by 20 sd(theta).
    Whenever HonestDiD's grid is kept the result is identical to HonestDiD's."""
    lv = np.asarray(l_vec, float)
    sd_t = _sd_theta(np.asarray(sigma, float), lv, num_pre)
    lo0, hi0 = sd_identified_set(M, np.zeros(num_pre + num_post), lv, num_pre, num_post)
    lo0, hi0 = lo0 - 20 * sd_t, hi0 + 20 * sd_t
    lo1, hi1 = sd_identified_set(M, betahat, lv, num_pre, num_post, post_moments_only=True)
    if lo1 - 5 * sd_t >= lo0 and hi1 + 5 * sd_t <= hi0:
        return lo0, hi0
    return lo1 - 20 * sd_t, hi1 + 20 * sd_t


# ---------------------------------------------------------------- the tests on a grid
def _moment_sd(S: np.ndarray) -> np.ndarray:
    """Standard deviations of the moments ``A betahat``; a zero one means sigma is singular along a
    restriction (e.g. two coefficients estimated as exact copies), where the test is undefined."""
    var = np.diag(S)
    if np.any(var <= 1e-14 * max(float(var.max()), 1e-300)):
        raise EstimationError(
            "sigma gives a restriction on the violations zero variance (the event-study coefficients "
            "are exactly collinear); check the covariance (e.g. result.vcov()) before the sensitivity analysis."
        )
    return np.sqrt(var)


def _nuisance_accept(beta, sigma, A, d, num_pre, l_vec, grid, alpha, hybrid, rows, flci=None):
    """Accept (bool per grid point) of the ARP test with nuisance parameters."""
    Ginv = np.linalg.inv(construct_gamma(l_vec))
    AG = A[:, num_pre:] @ Ginv
    a_full, X_full = AG[:, 0], AG[:, 1:]
    Y_full = A @ beta - d
    S_full = A @ sigma @ A.T
    y, a, X, S = Y_full[rows], a_full[rows], X_full[rows], S_full[np.ix_(rows, rows)]
    sd = _moment_sd(S)
    V = dual_vertices(np.column_stack([sd, X]))
    kappa = alpha / 10
    Ygrid = y[None, :] - grid[:, None] * a[None, :]
    if V is None:
        from .honest_arp_lp import nuisance_stats_lp
        lf_cv = lf_cv_nuisance(X, S, kappa) if hybrid == "LF" else None
        eta, gamma, s2, vlo, vup = nuisance_stats_lp(Ygrid, X, S)
    else:
        if len(V) == 0:  # the LP is unbounded: HonestDiD does not reject
            return np.ones(len(grid), dtype=bool)
        lf_cv = lf_cv_nuisance(X, S, kappa, vertices=V) if hybrid == "LF" else None
        eta, gamma, s2, vlo, vup = nuisance_stats(Ygrid, V, S)
    bounds, first = None, np.zeros(len(grid), dtype=bool)
    if hybrid == "FLCI":
        bounds, first = _flci_stage(flci, A, d, Y_full, a_full, S_full, rows, gamma, grid)
    reject = conditional_reject(eta, s2, vlo, vup, alpha, hybrid, lf_cv=lf_cv, flci_bounds=bounds)
    return ~(reject | first)


def _flci_stage(flci, A, d, Y_full, a_full, S_full, rows, gamma, grid):
    """FLCI hybrid: first-stage rejections and the FLCI's truncation bounds on ``gamma'y``.

    HonestDiD's ``vbar`` solves ``min ||w - A'vbar||`` (``w`` the FLCI weights); every quantity
    it enters reduces to ``lin = vbar'A betahat - theta`` (the ``vbar'd`` terms cancel), so only the
    projection ``A'vbar`` matters and the minimum-norm least-squares ``vbar`` is as good as any.
    """
    weights, half = flci
    vbar = np.linalg.lstsq(A.T, weights, rcond=None)[0]
    lin = float(vbar @ (Y_full + d)) - grid  # vbar'A betahat - theta
    first = np.abs(lin) > half
    Yg = Y_full[None, :] - grid[:, None] * a_full[None, :]
    g_full = np.zeros((len(grid), len(Y_full)))
    g_full[:, rows] = gamma
    sg = g_full @ S_full
    with np.errstate(divide="ignore", invalid="ignore"):  # gamma'Sigma gamma = 0: decided on eta alone
        c = sg / np.einsum("gm,gm->g", sg, g_full)[:, None]
        vc = c @ vbar
        s_lin = lin - vc * np.einsum("gm,gm->g", g_full, Yg)
        r_plus, r_minus = (half - s_lin) / vc, (half + s_lin) / (-vc)
    vlo = np.where(vc < 0, r_plus, np.where(vc > 0, r_minus, -np.inf))
    vup = np.where(vc > 0, r_plus, np.where(vc < 0, r_minus, np.inf))
    return (vlo, vup), first


def _no_nuisance_accept(beta, sigma, A, d, num_pre, l_post, grid, alpha, hybrid, flci=None):
    """Accept per grid point of HonestDiD's test without nuisance parameters (one post-period)."""
    Y = np.repeat(beta[None, :], len(grid), axis=0)
    Y[:, num_pre] -= grid / l_post
    S = A @ sigma @ A.T
    sig = _moment_sd(S)
    At, dt = A / sig[:, None], d / sig
    moments = Y @ At.T - dt
    B = np.argmax(moments, axis=1)
    idx = np.arange(len(grid))
    max_moment = moments[idx, B]
    gamma = At[B]  # (G, T)
    Abar = At[None, :, :] - gamma[:, None, :]
    dbar = dt[None, :] - dt[B][:, None]
    first = np.zeros(len(grid), dtype=bool)
    size = alpha
    if hybrid is not None:
        size = (alpha - alpha / 10) / (1 - alpha / 10)
    if hybrid == "FLCI":
        weights, half = flci
        fs = np.vstack([weights, -weights])
        first = np.max(Y @ fs.T - half, axis=1) > 0
        Abar = np.concatenate([Abar, np.repeat(fs[None], len(grid), axis=0)], axis=1)
        dbar = np.concatenate([dbar, np.full((len(grid), 2), half)], axis=1)
    sgam = gamma @ sigma
    sb2 = np.einsum("gt,gt->g", sgam, gamma)
    c = sgam / sb2[:, None]
    z = Y - c * np.einsum("gt,gt->g", gamma, Y)[:, None]
    Ac = np.einsum("gmt,gt->gm", Abar, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        obj = (dbar - np.einsum("gmt,gt->gm", Abar, z)) / Ac
    vlo = np.where(Ac < 0, obj, -np.inf).max(axis=1)
    vup = np.where(Ac > 0, obj, np.inf).min(axis=1)
    mu, sb = dt[B], np.sqrt(sb2)
    crit = np.maximum(0.0, mu + sb * tn_ppf(1 - size, (vlo - mu) / sb, (vup - mu) / sb))
    reject = max_moment + mu > crit
    if hybrid == "LF":
        reject |= max_moment > lf_cv_no_nuisance(S, alpha / 10)
    return ~(reject | first)


def _interval(grid, accept, name, warn_edges=True) -> tuple[float, float]:
    if not np.any(accept):
        return (float("nan"), float("nan"))
    if warn_edges and (accept[0] or accept[-1]):
        edge = "lower end (grid_lb)" if accept[0] else "upper end (grid_ub)"
        if accept[0] and accept[-1]:
            edge = "both ends (grid_lb and grid_ub)"
        warnings.warn(
            f"{name}: the confidence set reaches the {edge} of the theta grid "
            f"[{grid[0]:.6g}, {grid[-1]:.6g}], so it may extend further; pass a wider "
            "grid_lb= / grid_ub= to see where it ends.", DidWarning, stacklevel=3)
    pts = grid[accept]
    return (float(pts.min()), float(pts.max()))


def union_accept(beta, sigma, num_pre, num_post, l_vec, pieces, grid, alpha, hybrid) -> np.ndarray:
    """Accept per grid point of the union of the sets ``{A delta <= d}`` in ``pieces`` (the
    relative-magnitude restrictions): a theta is in the confidence set if one piece accepts it.
    With one post-period only the rows on the post-period enter (HonestDiD's no-nuisance path)."""
    accept = np.zeros(len(grid), dtype=bool)
    for A, d in pieces:
        if num_post == 1:
            keep = A[:, -1] != 0
            accept |= _no_nuisance_accept(beta, sigma, A[keep], d[keep], num_pre, l_vec[0], grid, alpha, hybrid)
        else:
            accept |= _nuisance_accept(beta, sigma, A, d, num_pre, l_vec, grid, alpha, hybrid,
                                       post_rows(A, num_pre))
    return accept


# ---------------------------------------------------------------- public API
def sd_conditional_interval(betahat, sigma, num_pre: int, num_post: int, l_vec, M: float, *,
                            level: float = 0.95, hybrid: str | None = "LF", grid_lb=None,
                            grid_ub=None, grid_points: int = 1000) -> tuple[float, float]:
    """Confidence interval for ``theta = l_vec' tau_post`` under Delta^SD(M) by the ARP conditional
    test (``hybrid=None``, HonestDiD "Conditional"), the conditional-least-favourable hybrid
    (``"LF"``, "C-LF") or the conditional-FLCI hybrid (``"FLCI"``, "C-F").

    ``betahat`` (``num_pre + num_post``,) ordered pre then post without the reference period,
    ``sigma`` its covariance. Returns ``(min, max)`` of the accepted grid points, ``(nan, nan)`` if
    none is accepted; warns (:class:`~evalkit.errors.DidWarning`) when an accepted point is an end
    of the grid (not for ``"FLCI"``, whose grid is the FLCI outside which the first stage rejects).
    """
    beta, sig, lv = _inputs(betahat, sigma, num_pre, num_post, l_vec, level, grid_points)
    M = _bound(M, "M")
    hyb = _hybrid(hybrid)
    alpha = 1 - float(level)
    A, d = sd_constraints(num_pre, num_post)
    d = float(M) * d
    flci = None
    if hyb == "FLCI":
        from .honest_flci import flci as _flci  # owner B; imported lazily

        f = _flci(beta, sig, num_pre, num_post, lv, float(M), level=1 - alpha / 10)
        weights = np.asarray(f.weights, float).reshape(-1)
        flci = (weights, float(f.halflength))
        centre = float(weights @ beta)
        grid_lb = centre - flci[1] if grid_lb is None else grid_lb
        grid_ub = centre + flci[1] if grid_ub is None else grid_ub
    elif grid_lb is None or grid_ub is None:
        lb, ub = sd_default_grid(beta, sig, num_pre, num_post, lv, float(M))
        grid_lb = lb if grid_lb is None else grid_lb
        grid_ub = ub if grid_ub is None else grid_ub
    grid = np.linspace(float(grid_lb), float(grid_ub), int(grid_points))
    if num_post == 1:
        accept = _no_nuisance_accept(beta, sig, A, d, num_pre, lv[0], grid, alpha, hyb, flci)
    else:
        accept = _nuisance_accept(beta, sig, A, d, num_pre, lv, grid, alpha, hyb,
                                  post_rows(A, num_pre), flci)
    return _interval(grid, accept, "sd_conditional_interval", warn_edges=hyb != "FLCI")


def rm_interval(betahat, sigma, num_pre: int, num_post: int, l_vec, Mbar: float, *,
                level: float = 0.95, hybrid: str | None = "LF", grid_lb=None, grid_ub=None,
                grid_points: int = 1000) -> tuple[float, float]:
    """Confidence interval for ``theta = l_vec' tau_post`` under Delta^RM(Mbar) ("deviation from
    parallel trends": every post-period change of the violation at most ``Mbar`` times the largest
    pre-period change), the union over the pieces of Delta^RM of the ARP conditional
    (``hybrid=None``) or conditional-least-favourable (``"LF"``, HonestDiD's default) sets.

    The grid defaults to :func:`rm_default_grid` (HonestDiD 0.2.6 / Stata honestdid). Returns ``(min, max)`` of the accepted grid points, ``(nan, nan)`` if none.
    """
    beta, sig, lv = _inputs(betahat, sigma, num_pre, num_post, l_vec, level, grid_points)
    Mbar = _bound(Mbar, "Mbar")
    hyb = _hybrid(hybrid)
    if hyb == "FLCI":
        raise EstimationError("hybrid='FLCI' is not defined for relative magnitudes; use 'LF' or None.")
    alpha = 1 - float(level)
    if grid_lb is None or grid_ub is None:
        lb, ub = rm_default_grid(beta, sig, num_pre, num_post, lv, float(Mbar))
        grid_lb = lb if grid_lb is None else grid_lb
        grid_ub = ub if grid_ub is None else grid_ub
    grid = np.linspace(float(grid_lb), float(grid_ub), int(grid_points))
    pieces = [rm_constraints(num_pre, num_post, float(Mbar), s, positive) for s, positive in rm_pieces(num_pre)]
    accept = union_accept(beta, sig, num_pre, num_post, lv, pieces, grid, alpha, hyb)
    return _interval(grid, accept, "rm_interval")
