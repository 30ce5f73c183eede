"""The 2x2 DiD estimators of one group-time cell and the loop over cells (R ``DRDID`` and
``did::compute.att_gt``).

Each estimator takes the outcomes, the treatment dummy ``D``, the covariates ``X`` (with an
intercept) and the weights ``w`` of one comparison and returns the ATT and its influence
function (one value per unit or row of the cell, scaled so that ``IF_i = n d att / d log w_i``):

=====================  ===============================  =============================
method                 panel (y1, y0, D, X, w)          repeated cross-sections (y, post, D, X, w)
=====================  ===============================  =============================
``dr``                 ``DRDID::drdid_panel``            ``DRDID::drdid_rc`` (sign fixed)
``reg``                ``DRDID::reg_did_panel``          ``DRDID::reg_did_rc``
``ipw``                ``DRDID::std_ipw_did_panel``      ``DRDID::std_ipw_did_rc``
=====================  ===============================  =============================

:func:`all_cells` runs the estimator over every (g, t) of a :class:`~evalkit.did.preprocess.Layout`
and returns the n x K influence matrix that :mod:`evalkit.did.bootstrap` and
:mod:`evalkit.did.aggregate` work on.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import ConvergenceWarning, DidWarning, EstimationError
from .preprocess import Layout

_TRIM_LEVEL = 0.995          # DRDID's default trim.level for the propensity score
_EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------
# Nuisance models
# ---------------------------------------------------------------------------

def _is_intercept_only(X: np.ndarray) -> bool:
    return X.shape[1] == 1


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares coefficients (DRDID uses fastglm gaussian / lm)."""
    if _is_intercept_only(X):
        return np.array([np.dot(w, y) / w.sum()])
    Xw = X * w[:, None]
    return np.linalg.solve(Xw.T @ X, Xw.T @ y)


def _logit(X: np.ndarray, D: np.ndarray, w: np.ndarray, where: str) -> np.ndarray:
    """Fitted probabilities of a weighted logit fitted by Newton-Raphson (= R glm/fastglm)."""
    if _is_intercept_only(X):
        p = np.dot(w, D) / w.sum()
        return np.full(len(D), p)
    beta = np.zeros(X.shape[1])
    pbar = np.clip(np.dot(w, D) / w.sum(), 1e-6, 1 - 1e-6)
    beta[0] = np.log(pbar / (1 - pbar))
    converged = False
    for _ in range(100):
        eta = X @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        grad = X.T @ (w * (D - p))
        H = (X * (w * p * (1 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            raise EstimationError(
                f"The propensity-score design is singular {where}; remove collinear "
                "covariates or ones that do not vary within this comparison."
            ) from None
        beta = beta + step
        if np.max(np.abs(step)) <= 1e-10 * (1.0 + np.max(np.abs(beta))):
            converged = True
            break
    if not converged:
        warnings.warn(f"The propensity-score logit did not converge {where}.",
                      ConvergenceWarning, stacklevel=6)
    return 1.0 / (1.0 + np.exp(-(X @ beta)))


def _ps_lin_rep_times(X, D, w, ps, M):
    """(score.ps %*% Hessian.ps) %*% M: the logit's asymptotic linear representation times M."""
    n = len(D)
    W = ps * (1 - ps) * w
    if _is_intercept_only(X):
        return (w * (D - ps)) * (n * M[0] / W.sum())
    XtWX = (X * W[:, None]).T @ X
    return (w * (D - ps)) * (X @ (np.linalg.solve(XtWX, M) * n))


def _ols_lin_rep_times(X, resid, wsel, M):
    """(wsel*resid*X) %*% solve(X' wsel X / n) %*% M, computed without the n x k matrix."""
    n = X.shape[0]
    if _is_intercept_only(X):
        xpx = wsel.sum() / n
        if xpx <= 0:
            raise EstimationError("The outcome regression has no observations with positive weight.")
        v = np.asarray(M) / xpx
        r = wsel * resid
        return (r[:, None] if v.ndim == 2 else r) * v[0]
    XpX = (X * wsel[:, None]).T @ X / n
    if 1.0 / np.linalg.cond(XpX, 1) < _EPS:
        raise EstimationError("The outcome-regression design matrix is singular; remove "
                              "collinear covariates.")
    v = np.linalg.solve(XpX, M)
    r = wsel * resid
    return (r[:, None] if v.ndim == 2 else r) * (X @ v)


def _trim(ps, D):
    ps = np.minimum(ps, 1 - 1e-6)
    keep = np.ones(len(D), dtype=bool)
    c = D == 0
    keep[c] = ps[c] < _TRIM_LEVEL
    return ps, keep.astype(float)


# ---------------------------------------------------------------------------
# 2x2 estimators (DRDID), each returns (att, influence function of length n)
# ---------------------------------------------------------------------------

def _drdid_panel(y1, y0, D, X, w, where):
    """DRDID::drdid_panel (locally efficient DR DiD, panel), with influence function."""
    w = w / w.mean()
    dy = y1 - y0
    ps, trim = _trim(_logit(X, D, w, where), D)
    c = D == 0
    beta = _wls(X[c], dy[c], w[c])
    resid = dy - X @ beta
    w_treat = trim * w * D
    w_cont = trim * w * ps * (1 - D) / (1 - ps)
    mwt, mwc = w_treat.mean(), w_cont.mean()
    dr_treat = w_treat * resid
    dr_cont = w_cont * resid
    eta_t = dr_treat.mean() / mwt
    eta_c = dr_cont.mean() / mwc
    att = eta_t - eta_c
    wols = w * (1 - D)
    M1 = (X.T @ w_treat) / len(X)
    M3 = (X.T @ w_cont) / len(X)
    # OLS estimation effect for treat (M1) and control (M3) components in one solve
    ols_eff = _ols_lin_rep_times(X, resid, wols, np.column_stack([M1, M3]))
    inf_treat_2 = ols_eff[:, 0] if ols_eff.ndim == 2 else ols_eff
    inf_cont_3 = ols_eff[:, 1] if ols_eff.ndim == 2 else ols_eff
    M2 = (X.T @ (w_cont * (resid - eta_c))) / len(X)
    inf_cont_2 = _ps_lin_rep_times(X, D, w, ps, M2)
    inf_treat = (dr_treat - w_treat * eta_t - inf_treat_2) / mwt
    inf_control = (dr_cont - w_cont * eta_c + inf_cont_2 - inf_cont_3) / mwc
    return att, inf_treat - inf_control


def _reg_did_panel(y1, y0, D, X, w, where):
    """DRDID::reg_did_panel (outcome-regression DiD, panel), with influence function."""
    w = w / w.mean()
    dy = y1 - y0
    c = D == 0
    beta = _wls(X[c], dy[c], w[c])
    out = X @ beta
    w_treat = w * D
    w_cont = w * D
    mwt = w_treat.mean()
    reg_treat = w_treat * dy
    reg_cont = w_cont * out
    eta_t = reg_treat.mean() / mwt
    eta_c = reg_cont.mean() / mwt
    att = eta_t - eta_c
    M1 = (X.T @ w_cont) / len(X)
    inf_cont_2 = _ols_lin_rep_times(X, dy - out, w * (1 - D), M1)
    inf_treat = (reg_treat - w_treat * eta_t) / mwt
    inf_control = (reg_cont - w_cont * eta_c + inf_cont_2) / mwt
    return att, inf_treat - inf_control


def _std_ipw_did_panel(y1, y0, D, X, w, where):
    """DRDID::std_ipw_did_panel (normalised IPW DiD, panel), with influence function."""
    w = w / w.mean()
    dy = y1 - y0
    ps, trim = _trim(_logit(X, D, w, where), D)
    w_treat = trim * w * D
    w_cont = trim * w * ps * (1 - D) / (1 - ps)
    mwt, mwc = w_treat.mean(), w_cont.mean()
    att_treat = w_treat * dy
    att_cont = w_cont * dy
    eta_t = att_treat.mean() / mwt
    eta_c = att_cont.mean() / mwc
    att = eta_t - eta_c
    M2 = (X.T @ (w_cont * (dy - eta_c))) / len(X)
    inf_cont_2 = _ps_lin_rep_times(X, D, w, ps, M2)
    inf_treat = (att_treat - w_treat * eta_t) / mwt
    inf_control = (att_cont - w_cont * eta_c + inf_cont_2) / mwc
    return att, inf_treat - inf_control


def _drdid_rc(y, post, D, X, w, where):
    """DRDID::drdid_rc (locally efficient DR DiD, repeated cross-sections)."""
    w = w / w.mean()
    ps, trim = _trim(_logit(X, D, w, where), D)
    pre = 1 - post
    sel = {}
    fits = {}
    for key, m in (("c0", (D == 0) & (post == 0)), ("c1", (D == 0) & (post == 1)),
                   ("t0", (D == 1) & (post == 0)), ("t1", (D == 1) & (post == 1))):
        sel[key] = m
        fits[key] = X @ _wls(X[m], y[m], w[m])
    out_c = post * fits["c1"] + pre * fits["c0"]
    w_treat_pre = trim * w * D * pre
    w_treat_post = trim * w * D * post
    w_cont_pre = trim * w * ps * (1 - D) * pre / (1 - ps)
    w_cont_post = trim * w * ps * (1 - D) * post / (1 - ps)
    w_d = trim * w * D
    w_dt1 = trim * w * D * post
    w_dt0 = trim * w * D * pre
    m = {k: v.mean() for k, v in dict(tpre=w_treat_pre, tpost=w_treat_post, cpre=w_cont_pre,
                                        cpost=w_cont_post, d=w_d, dt1=w_dt1, dt0=w_dt0).items()}
    r = y - out_c
    eta_treat_pre = w_treat_pre * r / m["tpre"]
    eta_treat_post = w_treat_post * r / m["tpost"]
    eta_cont_pre = w_cont_pre * r / m["cpre"]
    eta_cont_post = w_cont_post * r / m["cpost"]
    diff_post = fits["t1"] - fits["c1"]
    diff_pre = fits["t0"] - fits["c0"]
    eta_d_post = w_d * diff_post / m["d"]
    eta_dt1_post = w_dt1 * diff_post / m["dt1"]
    eta_d_pre = w_d * diff_pre / m["d"]
    eta_dt0_pre = w_dt0 * diff_pre / m["dt0"]
    a_tpre, a_tpost = eta_treat_pre.mean(), eta_treat_post.mean()
    a_cpre, a_cpost = eta_cont_pre.mean(), eta_cont_post.mean()
    a_dpost, a_dt1 = eta_d_post.mean(), eta_dt1_post.mean()
    a_dpre, a_dt0 = eta_d_pre.mean(), eta_dt0_pre.mean()
    att = (a_tpost - a_tpre) - (a_cpost - a_cpre) + (a_dpost - a_dt1) - (a_dpre - a_dt0)

    # asymptotic linear representations of the four OLS fits, applied to vectors
    def ols_times(key, Ms):
        msk = sel[key].astype(float)
        return _ols_lin_rep_times(X, y - fits[key], w * msk, Ms)

    inf_treat_pre = eta_treat_pre - w_treat_pre * a_tpre / m["tpre"]
    inf_treat_post = eta_treat_post - w_treat_post * a_tpost / m["tpost"]
    M1_post = -(X.T @ (w_treat_post * post)) / len(X) / m["tpost"]
    M1_pre = -(X.T @ (w_treat_pre * pre)) / len(X) / m["tpre"]
    inf_cont_pre = eta_cont_pre - w_cont_pre * a_cpre / m["cpre"]
    inf_cont_post = eta_cont_post - w_cont_post * a_cpost / m["cpost"]
    M2_pre = (X.T @ (w_cont_pre * (r - a_cpre))) / len(X) / m["cpre"]
    M2_post = (X.T @ (w_cont_post * (r - a_cpost))) / len(X) / m["cpost"]
    inf_cont_ps = _ps_lin_rep_times(X, D, w, ps, M2_post - M2_pre)
    M3_post = -(X.T @ (w_cont_post * post)) / len(X) / m["cpost"]
    M3_pre = -(X.T @ (w_cont_pre * pre)) / len(X) / m["cpre"]
    mom_post = (X.T @ (w_d / m["d"] - w_dt1 / m["dt1"])) / len(X)
    mom_pre = (X.T @ (w_d / m["d"] - w_dt0 / m["dt0"])) / len(X)
    post_c = ols_times("c1", np.column_stack([M1_post, M3_post, mom_post]))
    pre_c = ols_times("c0", np.column_stack([M1_pre, M3_pre, mom_pre]))
    post_t = ols_times("t1", mom_post)
    pre_t = ols_times("t0", mom_pre)
    # The pre-period means enter the ATT with a minus sign, so do their outcome-regression
    # estimation effects (as csdid / the Python drdid port; R DRDID::drdid_rc adds them,
    # which the empirical influence function in tests/test_did.py rejects).
    inf_treat_or = post_c[:, 0] - pre_c[:, 0]
    inf_cont_or = post_c[:, 1] - pre_c[:, 1]
    inf_or = (post_t - post_c[:, 2]) - (pre_t - pre_c[:, 2])
    inf_treat = inf_treat_post - inf_treat_pre + inf_treat_or
    inf_cont = inf_cont_post - inf_cont_pre + inf_cont_ps + inf_cont_or
    inf_eff = ((eta_d_post - w_d * a_dpost / m["d"]) - (eta_dt1_post - w_dt1 * a_dt1 / m["dt1"])
               - ((eta_d_pre - w_d * a_dpre / m["d"]) - (eta_dt0_pre - w_dt0 * a_dt0 / m["dt0"])))
    return att, inf_treat - inf_cont + inf_eff + inf_or


def _reg_did_rc(y, post, D, X, w, where):
    """DRDID::reg_did_rc (outcome-regression DiD, repeated cross-sections)."""
    w = w / w.mean()
    pre = 1 - post
    m0 = (D == 0) & (post == 0)
    m1 = (D == 0) & (post == 1)
    out_pre = X @ _wls(X[m0], y[m0], w[m0])
    out_post = X @ _wls(X[m1], y[m1], w[m1])
    w_treat_pre = w * D * pre
    w_treat_post = w * D * post
    w_cont = w * D
    mtp, mtq, mc = w_treat_pre.mean(), w_treat_post.mean(), w_cont.mean()
    reg_treat_pre = w_treat_pre * y
    reg_treat_post = w_treat_post * y
    reg_cont = w_cont * (out_post - out_pre)
    eta_tpre = reg_treat_pre.mean() / mtp
    eta_tpost = reg_treat_post.mean() / mtq
    eta_c = reg_cont.mean() / mc
    att = (eta_tpost - eta_tpre) - eta_c
    M1 = (X.T @ w_cont) / len(X)
    inf_post = _ols_lin_rep_times(X, y - out_post, w * m1, M1)
    inf_pre = _ols_lin_rep_times(X, y - out_pre, w * m0, M1)
    inf_treat = ((reg_treat_post - w_treat_post * eta_tpost) / mtq
                 - (reg_treat_pre - w_treat_pre * eta_tpre) / mtp)
    inf_control = (reg_cont - w_cont * eta_c + inf_post - inf_pre) / mc
    return att, inf_treat - inf_control


def _std_ipw_did_rc(y, post, D, X, w, where):
    """DRDID::std_ipw_did_rc (normalised IPW DiD, repeated cross-sections)."""
    w = w / w.mean()
    pre = 1 - post
    ps, trim = _trim(_logit(X, D, w, where), D)
    w_treat_pre = trim * w * D * pre
    w_treat_post = trim * w * D * post
    w_cont_pre = trim * w * ps * (1 - D) * pre / (1 - ps)
    w_cont_post = trim * w * ps * (1 - D) * post / (1 - ps)
    mtp, mtq = w_treat_pre.mean(), w_treat_post.mean()
    mcp, mcq = w_cont_pre.mean(), w_cont_post.mean()
    e_tp = w_treat_pre * y / mtp
    e_tq = w_treat_post * y / mtq
    e_cp = w_cont_pre * y / mcp
    e_cq = w_cont_post * y / mcq
    a_tp, a_tq, a_cp, a_cq = e_tp.mean(), e_tq.mean(), e_cp.mean(), e_cq.mean()
    att = (a_tq - a_tp) - (a_cq - a_cp)
    inf_treat = (e_tq - w_treat_post * a_tq / mtq) - (e_tp - w_treat_pre * a_tp / mtp)
    inf_cont = (e_cq - w_cont_post * a_cq / mcq) - (e_cp - w_cont_pre * a_cp / mcp)
    M2_pre = (X.T @ (w_cont_pre * (y - a_cp))) / len(X) / mcp
    M2_post = (X.T @ (w_cont_post * (y - a_cq))) / len(X) / mcq
    inf_cont = inf_cont + _ps_lin_rep_times(X, D, w, ps, M2_post - M2_pre)
    return att, inf_treat - inf_cont


PANEL_ESTIMATORS = {"dr": _drdid_panel, "reg": _reg_did_panel, "ipw": _std_ipw_did_panel}
RC_ESTIMATORS = {"dr": _drdid_rc, "reg": _reg_did_rc, "ipw": _std_ipw_did_rc}


# ---------------------------------------------------------------------------
# The loop over (g, t) cells (R did::compute.att_gt)
# ---------------------------------------------------------------------------

def _cell(lay: Layout, tidx, est, method, gg, cur, base, cmask, where):
    """ATT of one (g, t) cell and its influence column (length lay.n), or (nan, nan column)."""
    n = lay.n
    missing = (np.nan, np.full(n, np.nan))
    if lay.mode == "panel":
        gmask = lay.G == gg
        idx = np.flatnonzero(gmask | cmask(lay.G))
        D = gmask[idx].astype(float)
        X = lay.Xmat[idx, min(cur, base)]
        if not _cell_ok(D, None, X, method, where):
            return missing
        a, f = est(lay.Ymat[idx, cur], lay.Ymat[idx, base], D, X, lay.W[idx], where)
        col = np.zeros(n)
        col[idx] = (n / idx.size) * f
        return a, col
    gmask = lay.Gr == gg
    rows = np.flatnonzero(((tidx == cur) | (tidx == base)) & (gmask | cmask(lay.Gr)))
    D = gmask[rows].astype(float)
    post = (tidx[rows] == cur).astype(float)
    X = lay.Xr[rows]
    if not _cell_ok(D, post, X, method, where):
        return missing
    a, f = est(lay.Yv[rows], post, D, X, lay.Wr[rows], where)
    f = (n / rows.size) * f  # R did: n / n1 with n1 the rows of the cell
    if lay.mode == "rows":
        col = np.zeros(n)
        col[rows] = f
    else:
        col = np.bincount(lay.row_unit[rows], weights=f, minlength=n)
    return a, col


def all_cells(lay: Layout, glist, est, method, control, base_period):
    """Loop over (g, t): groups, times, ATTs, n x K influence matrix, reference-cell flags."""
    periods = lay.periods
    T = periods.size
    tidx = None if lay.tv is None else np.searchsorted(periods, lay.tv)
    cells_g, cells_t, atts, universal_ref = [], [], [], []
    inf_cols = []
    for gg in glist:
        gbase = np.flatnonzero(periods < gg)[-1]
        for cur in range(1 if base_period == "varying" else 0, T):
            base = cur - 1 if (base_period == "varying" and gg > periods[cur]) else gbase
            cells_g.append(gg)
            cells_t.append(periods[cur])
            universal_ref.append(base == cur)
            if base == cur:  # universal reference cell
                atts.append(0.0)
                inf_cols.append(np.zeros(lay.n))
                continue
            where = f"for group {gg:g} in period {periods[cur]:g}"
            if control == "never":
                def cmask(G):
                    return G == 0
            else:
                thresh = periods[max(cur, base)]

                def cmask(G, thresh=thresh, gg=gg):
                    return (G == 0) | ((G > thresh) & (G != gg))
            a, col = _cell(lay, tidx, est, method, gg, cur, base, cmask, where)
            if np.isnan(col).all():
                atts.append(np.nan)
            elif not np.isfinite(a):
                warnings.warn(f"ATT {where} is not finite; it is reported as missing.",
                              DidWarning, stacklevel=3)
                atts.append(np.nan)
                col = np.full(lay.n, np.nan)
            else:
                atts.append(float(a))
            inf_cols.append(col)
    inf = np.column_stack(inf_cols) if inf_cols else np.zeros((lay.n, 0))
    return (np.array(cells_g), np.array(cells_t), np.array(atts, dtype=float), inf,
            np.array(universal_ref, dtype=bool))


def _cell_ok(D, post, X, method, where) -> bool:
    """R did's per-cell feasibility checks; warn and return False when the cell is skipped."""
    if post is None:
        if D.sum() == 0 or (1 - D).sum() == 0:
            warnings.warn(f"No treated or no comparison units {where}; ATT(g,t) is missing.",
                          DidWarning, stacklevel=5)
            return False
        if X.shape[1] > 1 and method in ("dr", "reg"):
            Xc = X[D == 0]
            if 1.0 / np.linalg.cond(Xc.T @ Xc, 1) < _EPS:
                warnings.warn(f"Not enough comparison units {where} to run the outcome regression; "
                              "ATT(g,t) is missing.", DidWarning, stacklevel=5)
                return False
        return True
    for lab, m in (("treated units in the current period", D * post),
                   ("treated units in the base period", D * (1 - post)),
                   ("comparison units in the current period", (1 - D) * post),
                   ("comparison units in the base period", (1 - D) * (1 - post))):
        if m.sum() == 0:
            warnings.warn(f"No {lab} {where}; ATT(g,t) is missing.", DidWarning, stacklevel=5)
            return False
    return True
