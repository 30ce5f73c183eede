"""Staggered difference-in-differences: Callaway & Sant'Anna (2021) group-time ATTs.

:func:`att_gt` estimates every group-time average treatment effect ATT(g, t) with the
2x2 estimators of Sant'Anna & Zhao (2020) (R package ``DRDID``), exactly as R's ``did``
package (``att_gt``) does, and keeps the unit-level influence functions so that
:meth:`ATTGTResult.aggregate` (R ``aggte``) and :meth:`ATTGTResult.pretrend_test`
stay correct. Inference is analytic (influence-function) or a multiplier bootstrap
with Rademacher weights, clustered at the unit and optionally at a coarser level, with
simultaneous (sup-t) confidence bands.

Conventions follow R ``did`` 2.x: ``group`` is the first period a unit is treated and
never-treated units have group 0; panel data must be balanced unless
``allow_unbalanced_panel=True`` (then, as R did, the rows are used as repeated
cross-sections and the influence function is summed within unit).

References
----------
Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-Differences with multiple
time periods. Journal of Econometrics 225(2), 200-230.
Sant'Anna, P. H. C. and Zhao, J. (2020). Doubly robust difference-in-differences
estimators. Journal of Econometrics 219(1), 101-122.
"""
from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .._literals import (
    DidAggregation,
    DidBasePeriod,
    DidControl,
    DidMethod,
    check_choice,
)
from ..errors import ConvergenceWarning, DidWarning, DroppedUnitsWarning, EstimationError

__all__ = [
    "att_gt",
    "ATTGTResult",
    "AggregateResult",
    "PretrendTest",
    "DroppedUnitsWarning",
    "DidWarning",
]

_TRIM_LEVEL = 0.995          # DRDID's default trim.level for the propensity score
_EPS = np.finfo(float).eps
_ZERO_SE = np.sqrt(_EPS) * 10  # R did: se <= sqrt(.Machine$double.eps)*10 -> NA
_IQR_NORM = stats.norm.ppf(0.75) - stats.norm.ppf(0.25)


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
                      ConvergenceWarning, stacklevel=4)
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


_PANEL_ESTIMATORS = {"dr": _drdid_panel, "reg": _reg_did_panel, "ipw": _std_ipw_did_panel}
_RC_ESTIMATORS = {"dr": _drdid_rc, "reg": _reg_did_rc, "ipw": _std_ipw_did_rc}


# ---------------------------------------------------------------------------
# Multiplier bootstrap
# ---------------------------------------------------------------------------

def _quantile1(a: np.ndarray, q: float, axis=0):
    """R quantile(type=1) (inverse empirical CDF)."""
    return np.quantile(a, q, axis=axis, method="inverted_cdf")


class _Multiplier:
    """Rademacher multiplier draws, shared by att_gt and every aggregation of one result.

    Without clustering the draws are kept packed as bits (B x ceil(n/8) bytes) and the
    bootstrap sums ``sum_i v_bi IF_i`` are computed as ``2 U IF - 1' IF`` in cache-sized
    chunks, one matrix product per chunk.
    """

    _CHUNK = 1024

    def __init__(self, n: int, B: int, seed, cluster_codes: np.ndarray | None):
        self.n = n
        self.B = B
        self.cluster_codes = cluster_codes
        rng = np.random.default_rng(seed)
        if cluster_codes is None:
            self.m = n
            nbytes = (n + 7) // 8
            raw = rng.bit_generator.random_raw((B * nbytes + 7) // 8)
            self.bits = np.ascontiguousarray(raw.view(np.uint8)[: B * nbytes].reshape(B, nbytes))
            self.v = None
        else:
            self.m = int(cluster_codes.max()) + 1
            self.v = rng.integers(0, 2, size=(B, self.m)).astype(float) * 2.0 - 1.0
            self.bits = None

    def sums(self, inf: np.ndarray) -> np.ndarray:
        """B x k matrix of bootstrap deviations sum_c v_bc S_c / n (S = IF or cluster sums)."""
        inf = np.asarray(inf, dtype=float)
        if inf.ndim == 1:
            inf = inf[:, None]
        if self.v is not None:
            S = np.zeros((self.m, inf.shape[1]))
            np.add.at(S, self.cluster_codes, inf)
            return self.v @ S / self.n
        n, B = self.n, self.B
        k = inf.shape[1]
        colsum = inf.sum(axis=0)
        if n * B <= 4_000_000:
            U = np.unpackbits(self.bits, axis=1, count=n).astype(float)
            return (2.0 * (U @ inf) - colsum) / n
        X32 = inf.astype(np.float32)
        out = np.zeros((B, k), dtype=np.float32)
        cb = self._CHUNK // 8
        buf = np.empty((B, self._CHUNK), dtype=np.float32)
        nb = self.bits.shape[1]
        for s in range(0, nb, cb):
            e = min(nb, s + cb)
            u0, u1 = 8 * s, min(n, 8 * e)
            U = np.unpackbits(self.bits[:, s:e], axis=1, count=u1 - u0)
            b = buf[:, : u1 - u0]
            np.copyto(b, U, casting="unsafe")
            out += b @ X32[u0:u1]
        return (2.0 * out.astype(float) - colsum) / n

    def inference(self, inf: np.ndarray, alpha: float):
        """Bootstrap SEs (IQR / 1.349 of the draws, as R did's mboot) and sup-t critical value."""
        draws = self.sums(inf)
        q75 = _quantile1(draws, 0.75)
        q25 = _quantile1(draws, 0.25)
        se = (q75 - q25) / _IQR_NORM
        se = np.where(se > _ZERO_SE, se, np.nan)
        ok = np.isfinite(se)
        if not ok.any():
            return se, np.nan
        tstat = np.abs(draws[:, ok] / se[ok])
        bT = tstat.max(axis=1)
        crit = float(_quantile1(bT[np.isfinite(bT)], 1 - alpha))
        return se, crit


# ---------------------------------------------------------------------------
# Result objects
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PretrendTest:
    """Wald pre-test that every pre-treatment ATT(g, t) is zero (R did's ``W``/``Wpval``)."""

    stat: float
    df: int
    p_value: float

    def tidy(self) -> pd.DataFrame:
        """One-row frame with columns ``test, stat, df, p_value``."""
        return pd.DataFrame({"test": ["pre-trends Wald"], "stat": [self.stat],
                             "df": [self.df], "p_value": [self.p_value]})


def _as_int_if_whole(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a.astype(np.int64) if a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)) else a


def _fmt_table_html(df: pd.DataFrame, title: str) -> str:
    return f"<div><strong>{html.escape(title)}</strong>{df.to_html(index=False, float_format=lambda v: f'{v:.4f}')}</div>"


@dataclass
class AggregateResult:
    """Aggregated ATT (R ``aggte``): overall effect plus per-group/event-time/period effects.

    Attributes
    ----------
    type : str
        ``"simple"``, ``"group"``, ``"dynamic"`` or ``"calendar"``.
    overall_att, overall_se : float
        The overall summary parameter and its standard error.
    crit_value : float
        Critical value of the per-level confidence intervals: the sup-t (uniform band)
        value from the multiplier bootstrap when the result was bootstrapped, else the
        pointwise normal quantile.
    influence : numpy.ndarray
        n x L influence functions of the per-level estimates (``overall_influence`` for
        the overall one).
    """

    type: str
    overall_att: float
    overall_se: float
    levels: np.ndarray
    att: np.ndarray
    se: np.ndarray
    crit_value: float
    alpha: float
    influence: np.ndarray
    overall_influence: np.ndarray
    uniform: bool
    min_e: float = -np.inf
    max_e: float = np.inf
    balance_e: int | None = None

    @property
    def overall_ci(self) -> tuple[float, float]:
        z = stats.norm.ppf(1 - self.alpha / 2)
        return (self.overall_att - z * self.overall_se, self.overall_att + z * self.overall_se)

    def tidy(self) -> pd.DataFrame:
        """Per-level estimates.

        Returns
        -------
        pandas.DataFrame
            ``simple``: one row ``type, att, se, ci_low, ci_high``. ``group``: column
            ``group``; ``dynamic``: ``event_time`` and ``post``; ``calendar``: ``time``;
            each followed by ``att, se, ci_low, ci_high, crit_value, band`` where
            ``band`` is ``"uniform"`` (sup-t bootstrap) or ``"pointwise"``.
        """
        if self.type == "simple":
            lo, hi = self.overall_ci
            return pd.DataFrame({"type": ["simple"], "att": [self.overall_att],
                                 "se": [self.overall_se], "ci_low": [lo], "ci_high": [hi]})
        key = {"group": "group", "dynamic": "event_time", "calendar": "time"}[self.type]
        out = pd.DataFrame({key: _as_int_if_whole(self.levels)})
        if self.type == "dynamic":
            out["post"] = self.levels >= 0
        out["att"] = self.att
        out["se"] = self.se
        out["ci_low"] = self.att - self.crit_value * self.se
        out["ci_high"] = self.att + self.crit_value * self.se
        out["crit_value"] = self.crit_value
        out["band"] = "uniform" if self.uniform else "pointwise"
        return out

    def overall(self) -> pd.DataFrame:
        """One-row frame ``type, att, se, ci_low, ci_high`` for the overall parameter."""
        lo, hi = self.overall_ci
        return pd.DataFrame({"type": [self.type], "att": [self.overall_att],
                             "se": [self.overall_se], "ci_low": [lo], "ci_high": [hi]})

    @property
    def summary(self) -> str:
        lo, hi = self.overall_ci
        head = (f"Aggregated ATT ({self.type}): {self.overall_att:.4f} (SE {self.overall_se:.4f}, "
                f"{100 * (1 - self.alpha):.0f}% CI {lo:.4f} to {hi:.4f})")
        if self.type == "simple":
            return head
        return head + "\n" + self.tidy().to_string(index=False)

    def __repr__(self) -> str:
        return self.summary

    def _repr_html_(self) -> str:
        return _fmt_table_html(self.overall(), f"Aggregated ATT ({self.type})") + (
            "" if self.type == "simple" else _fmt_table_html(self.tidy(), "By level"))


@dataclass
class ATTGTResult:
    """Group-time average treatment effects ATT(g, t) with their influence functions.

    Attributes
    ----------
    group, time, att, se : numpy.ndarray
        One entry per (g, t) cell, ordered by group then time (as R ``did``).
    influence : numpy.ndarray
        n x K influence-function matrix (n units for panel data, n rows for repeated
        cross-sections; already scaled by n/n1 as in R ``did``), so that
        ``se = sqrt(sum(IF**2)) / n``.
    crit_value : float
        Critical value used for the confidence intervals: sup-t uniform band when
        ``bootstrap > 0``, else ``qnorm(1 - alpha/2)``.
    n : int
        Number of units (panel, also unbalanced) or observations (repeated
        cross-sections).
    unbalanced : bool
        ``True`` when an unbalanced panel was estimated with
        ``allow_unbalanced_panel=True`` (influence rows are units).
    """

    group: np.ndarray
    time: np.ndarray
    att: np.ndarray
    se: np.ndarray
    influence: np.ndarray
    crit_value: float
    alpha: float
    n: int
    method: str
    control: str
    panel: bool
    base_period: str
    bootstrap: int
    cluster: str | None
    unit_group: np.ndarray = field(repr=False)
    unit_weight: np.ndarray = field(repr=False)
    periods: np.ndarray = field(repr=False)
    unbalanced: bool = False
    _cluster_codes: np.ndarray | None = field(default=None, repr=False)
    _mult: _Multiplier | None = field(default=None, repr=False)

    # -- presentation -------------------------------------------------------
    def tidy(self) -> pd.DataFrame:
        """All ATT(g, t).

        Returns
        -------
        pandas.DataFrame
            Columns ``group, time, event_time, post, att, se, ci_low, ci_high, p_value,
            crit_value, band``; ``p_value`` is the pointwise normal two-sided p-value,
            ``band`` is ``"uniform"`` (bootstrap sup-t) or ``"pointwise"``.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            p = 2 * stats.norm.sf(np.abs(self.att / self.se))
        return pd.DataFrame({
            "group": _as_int_if_whole(self.group), "time": _as_int_if_whole(self.time),
            "event_time": _as_int_if_whole(self.time - self.group),
            "post": self.time >= self.group, "att": self.att, "se": self.se,
            "ci_low": self.att - self.crit_value * self.se,
            "ci_high": self.att + self.crit_value * self.se,
            "p_value": p, "crit_value": self.crit_value,
            "band": "uniform" if self.bootstrap > 0 else "pointwise",
        })

    @property
    def _data_kind(self) -> str:
        if self.unbalanced:
            return "unbalanced panel (rows as repeated cross-sections, clustered on unit)"
        return "panel" if self.panel else "repeated cross-sections"

    @property
    def summary(self) -> str:
        lines = [f"Group-time ATTs (Callaway & Sant'Anna 2021), method={self.method}, "
                 f"control={self.control}, {self._data_kind}, "
                 f"n={self.n}, inference={'multiplier bootstrap B=%d' % self.bootstrap if self.bootstrap else 'analytic'}"]
        lines.append(self.tidy().drop(columns=["crit_value", "band"]).to_string(index=False))
        try:
            pt = self.pretrend_test()
            lines.append(f"P-value for pre-test of parallel trends assumption: {pt.p_value:.5f} "
                         f"(Wald {pt.stat:.3f}, df {pt.df})")
        except EstimationError as exc:
            lines.append(f"No pre-test of parallel trends: {exc}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary

    def _repr_html_(self) -> str:
        return _fmt_table_html(self.tidy().drop(columns=["crit_value", "band"]),
                               f"Group-time ATTs ({self.method}, control={self.control})")

    # -- inference helpers ----------------------------------------------------
    def _analytic_se(self, inf: np.ndarray) -> np.ndarray:
        inf = inf if inf.ndim == 2 else inf[:, None]
        if self._cluster_codes is not None:
            S = np.zeros((int(self._cluster_codes.max()) + 1, inf.shape[1]))
            np.add.at(S, self._cluster_codes, inf)
            se = np.sqrt((S ** 2).sum(axis=0)) / self.n
        else:
            se = np.sqrt((inf ** 2).sum(axis=0)) / self.n
        return np.where(se > _ZERO_SE, se, np.nan)

    def _inference(self, inf: np.ndarray):
        """(se, crit) for the columns of an influence-function matrix."""
        z = stats.norm.ppf(1 - self.alpha / 2)
        if self._mult is None:
            return self._analytic_se(inf), z
        se, crit = self._mult.inference(inf, self.alpha)
        return se, crit

    def _cov(self) -> np.ndarray:
        inf = np.nan_to_num(self.influence)
        if self._cluster_codes is not None:
            S = np.zeros((int(self._cluster_codes.max()) + 1, inf.shape[1]))
            np.add.at(S, self._cluster_codes, inf)
            return S.T @ S / self.n
        return inf.T @ inf / self.n

    # -- pre-test -----------------------------------------------------------
    def pretrend_test(self) -> PretrendTest:
        """Wald test that all pre-treatment ATT(g, t) are zero.

        Returns
        -------
        PretrendTest
            ``stat`` = n a' V^-1 a with V the (cluster-summed) influence-function
            covariance of the pre-treatment cells with positive variance, ``df`` their
            number, ``p_value`` from chi-square(df).

        Notes
        -----
        Matches R ``did``'s "P-value for pre-test of parallel trends assumption"
        (``att_gt``: ``W <- n*t(preatt)%*%solve(preV)%*%preatt``), which always uses the
        analytic covariance. With a cluster variable the covariance is the cluster-sum
        one (R 2.5 does this with ``bstrap=FALSE`` and skips the test with the bootstrap).

        Raises
        ------
        EstimationError
            No pre-treatment cells with positive variance, or a singular covariance.
        """
        pre = np.flatnonzero((self.group > self.time) & np.isfinite(self.se) & np.isfinite(self.att))
        if pre.size == 0:
            raise EstimationError("There are no pre-treatment ATT(g,t) with a positive variance to "
                                  "test (every group is treated in the second period, or base_period="
                                  "'universal' left only reference cells).")
        V = self._cov()[np.ix_(pre, pre)]
        if 1.0 / np.linalg.cond(V, 1) <= _EPS:
            raise EstimationError("The covariance matrix of the pre-treatment ATT(g,t) is singular; "
                                  "the Wald pre-test cannot be computed.")
        a = self.att[pre]
        W = float(self.n * a @ np.linalg.solve(V, a))
        return PretrendTest(stat=W, df=int(pre.size), p_value=float(stats.chi2.sf(W, pre.size)))

    # -- aggregation --------------------------------------------------------
    def aggregate(self, type: DidAggregation = "group", *, min_e: float = -np.inf,
                  max_e: float = np.inf, balance_e: int | None = None) -> AggregateResult:
        """Aggregate the ATT(g, t) (R ``aggte``).

        Parameters
        ----------
        type : {"simple", "group", "dynamic", "calendar"}
            ``simple``: post-treatment ATT(g, t) weighted by group size; ``group``: average
            effect per group, then averaged with group-size weights; ``dynamic``: event
            study by event time e = t - g, overall = mean over e >= 0; ``calendar``: by
            calendar period, overall = mean over periods.
        min_e, max_e : float
            Event-time window. As in R, ``max_e`` also trims the post-treatment cells
            used by ``simple`` and ``group``; ``min_e`` only restricts ``dynamic``.
        balance_e : int, optional
            ``dynamic`` only: keep groups observed for at least ``balance_e`` periods after
            treatment and event times up to ``balance_e``.

        Returns
        -------
        AggregateResult

        Notes
        -----
        Follows R ``did::aggte`` / ``compute.aggte``: weights ``pg = mean(w * 1{G = g})``;
        influence functions of ``simple``, ``dynamic`` and ``calendar`` estimates add the
        estimated-weights term ``wif`` (``if1 - if2``) times the ATT(g, t); the ``group``
        overall effect adds it with the group-size weights. SEs are
        ``sqrt(mean(IF^2)/n)`` (cluster sums when clustered) or the bootstrap IQR SE with
        the same multiplier draws as :func:`att_gt`.
        """
        check_choice(type, DidAggregation, "type")
        if balance_e is not None and type != "dynamic":
            raise EstimationError(f"balance_e applies to type='dynamic' only, not type={type!r}.")
        g, t, att = self.group.astype(float), self.time.astype(float), self.att
        inf = self.influence
        if np.isnan(att).any():
            bad = [f"({gg:g},{tt:g})" for gg, tt in zip(g[np.isnan(att)], t[np.isnan(att)])]
            raise EstimationError("ATT(g,t) could not be computed for cells " + ", ".join(bad[:10])
                                  + "; aggregation would be undefined. Check the warnings from att_gt "
                                  "(too few treated or comparison units in those cells).")
        Gu, wu = self.unit_group, self.unit_weight
        glist = np.unique(g)
        pg_g = np.array([np.mean(wu * (Gu == gg)) for gg in glist])
        pg = pg_g[np.searchsorted(glist, g)]
        keepers = np.flatnonzero((g <= t) & (t <= g + max_e))
        z = stats.norm.ppf(1 - self.alpha / 2)

        def wif_times(idx, pgv, grp, attv):
            """wif(keepers, pg, w, G, group) %*% att[keepers] (R compute.aggte's wif)."""
            ind = wu[:, None] * (Gu[:, None] == grp[idx][None, :]) - pgv[idx][None, :]
            s = pgv[idx].sum()
            return ind @ attv[idx] / s - ind.sum(axis=1) * (pgv[idx] @ attv[idx]) / s ** 2

        def agg_if(idx, weights, wif=True):
            v = inf[:, idx] @ weights
            if wif:
                v = v + wif_times(idx, pg, g, att)
            return v

        def finish(levels, att_l, inf_l, overall, inf_o):
            inf_l = np.column_stack(inf_l) if len(inf_l) else np.zeros((self.n, 0))
            se_l, crit = self._inference(inf_l)
            uniform = self._mult is not None
            if uniform and (not np.isfinite(crit) or crit < z):
                warnings.warn("The simultaneous critical value is undefined or below the pointwise "
                              "one; reporting pointwise intervals (as R aggte does).",
                              DidWarning, stacklevel=3)
                crit, uniform = z, False
            if not uniform:
                crit = z
            se_o = self._inference(inf_o[:, None])[0][0]
            return AggregateResult(type=type, overall_att=float(overall), overall_se=float(se_o),
                                   levels=np.asarray(levels), att=np.asarray(att_l, float),
                                   se=np.asarray(se_l, float), crit_value=float(crit),
                                   alpha=self.alpha, influence=inf_l, overall_influence=inf_o,
                                   uniform=uniform, min_e=min_e, max_e=max_e, balance_e=balance_e)

        if type == "simple":
            if keepers.size == 0:
                raise EstimationError("No post-treatment ATT(g,t) fall in the requested window.")
            wk = pg[keepers] / pg[keepers].sum()
            overall = float(att[keepers] @ wk)
            inf_o = agg_if(keepers, wk)
            return finish([], [], [], overall, inf_o)

        if type == "group":
            att_g, inf_g = [], []
            for gg in glist:
                which = np.flatnonzero((g == gg) & (gg <= t) & (t <= g + max_e))
                if which.size == 0:
                    raise EstimationError(f"Group {gg:g} has no post-treatment ATT(g,t) within "
                                          f"max_e={max_e}; widen the window.")
                att_g.append(att[which].mean())
                inf_g.append(inf[:, which] @ (pg[which] / pg[which].sum()))
            att_g = np.array(att_g)
            wg = pg_g / pg_g.sum()
            overall = float(att_g @ wg)
            inf_o = np.column_stack(inf_g) @ wg + wif_times(np.arange(len(glist)), pg_g, glist, att_g)
            return finish(glist, att_g, inf_g, overall, inf_o)

        if type == "dynamic":
            e_all = t - g
            eseq = np.unique(e_all)
            include = np.ones(len(g), dtype=bool)
            if balance_e is not None:
                maxT = t.max()
                minT = min(self.periods.min(), glist.min())
                include = (maxT - g) >= balance_e
                eseq = np.unique(e_all[include])
                eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - maxT + minT)]
            eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
            if eseq.size == 0:
                raise EstimationError("No event times fall in the requested window (min_e, max_e, "
                                      "balance_e).")
            att_e, inf_e = [], []
            for e in eseq:
                which = np.flatnonzero((e_all == e) & include)
                we = pg[which] / pg[which].sum()
                att_e.append(float(att[which] @ we))
                inf_e.append(agg_if(which, we))
            att_e = np.array(att_e)
            epos = eseq >= 0
            if not epos.any():
                raise EstimationError("No post-treatment event times (e >= 0) in the window; "
                                      "the overall dynamic effect is undefined.")
            overall = float(att_e[epos].mean())
            inf_o = np.column_stack(inf_e)[:, epos].mean(axis=1)
            return finish(eseq, att_e, inf_e, overall, inf_o)

        # calendar
        tl = np.unique(t)
        tl = tl[tl >= g.min()]
        att_c, inf_c, levels = [], [], []
        for t1 in tl:
            which = np.flatnonzero((t == t1) & (g <= t))
            if which.size == 0:
                continue
            wt = pg[which] / pg[which].sum()
            levels.append(t1)
            att_c.append(float(att[which] @ wt))
            inf_c.append(agg_if(which, wt))
        att_c = np.array(att_c)
        overall = float(att_c.mean())
        inf_o = np.column_stack(inf_c).mean(axis=1)
        return finish(np.array(levels), att_c, inf_c, overall, inf_o)


# ---------------------------------------------------------------------------
# Data preparation
# ---------------------------------------------------------------------------

def _require_columns(data: pd.DataFrame, cols: dict[str, str | None]):
    for role, col in cols.items():
        if col is not None and col not in data.columns:
            raise EstimationError(f"The {role} column {col!r} is not in the data; available columns "
                                  f"are {list(data.columns)[:20]}.")


def _show(values) -> str:
    """Comma-separated plain values (numpy scalars shown as Python ones)."""
    return ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in values)


def _numeric(data, col, role):
    if not (pd.api.types.is_numeric_dtype(data[col]) and not pd.api.types.is_bool_dtype(data[col])):
        raise EstimationError(f"The {role} variable {col!r} must be numeric. Please convert it.")


@dataclass
class _Layout:
    """The cleaned data of :func:`att_gt`, laid out for the loop over (g, t) cells.

    ``mode`` is ``"panel"`` (balanced panel: unit x period matrices), ``"rows"``
    (repeated cross-sections: one influence-function row per observation) or
    ``"unbalanced"`` (an unbalanced panel as R did's ``allow_unbalanced_panel=TRUE``:
    each cell is estimated from its rows as repeated cross-sections and the influence
    function is summed within unit, so there is one influence row per unit).
    """

    mode: str
    periods: np.ndarray
    n: int                          # rows of the influence function
    G: np.ndarray                   # group of each influence row
    W: np.ndarray                   # weight of each influence row
    cl_codes: np.ndarray | None     # cluster of each influence row (None: the row itself)
    Ymat: np.ndarray | None = None  # panel: n x T outcomes
    Xmat: np.ndarray | None = None  # panel: n x T x k covariates (with intercept)
    Yv: np.ndarray | None = None    # rows / unbalanced: observation-level arrays
    Xr: np.ndarray | None = None
    tv: np.ndarray | None = None
    Gr: np.ndarray | None = None
    Wr: np.ndarray | None = None
    row_unit: np.ndarray | None = None  # unbalanced: unit (influence row) of each observation


def _clean_rows(data, cols, y, group, time, unit, weight, cluster, panel):
    """Drop incomplete rows, recode late groups, drop units treated in the first period.

    Returns the kept frame, its numeric columns as float arrays, and the sorted periods.
    """
    df = data[cols]
    num_cols = [c for c in cols if c not in (unit, cluster)]
    vals = {c: df[c].to_numpy(dtype=float) for c in num_cols}
    bad = np.zeros(len(df), dtype=bool)
    for c in num_cols:
        bad |= np.isnan(vals[c])
    for c in (unit, cluster):
        if c is not None:
            bad |= df[c].isna().to_numpy()
    if bad.any():
        warnings.warn(f"Dropped {int(bad.sum())} rows with missing values in {cols}.",
                      DroppedUnitsWarning, stacklevel=3)
        df = df.loc[~bad]
        vals = {c: v[~bad] for c, v in vals.items()}
    if weight is not None and (vals[weight] < 0).any():
        raise EstimationError(f"The weight column {weight!r} has negative values; sampling weights "
                              "must be non-negative.")
    gv = vals[group] = vals[group].copy()  # never write into the caller's frame
    gv[np.isinf(gv)] = 0.0
    if (gv < 0).any():
        raise EstimationError(f"The group column {group!r} has negative values; use the first treated "
                              "period, or 0 for never-treated units.")
    periods = np.unique(vals[time])
    if periods.size < 2:
        raise EstimationError(f"The time column {time!r} has a single period; DiD needs at least two.")

    def count(mask):
        return (f"{len(pd.unique(df[unit].to_numpy()[mask]))} units" if panel
                else f"{int(mask.sum())} rows")

    late = gv > periods[-1]
    if late.any():
        warnings.warn(f"{count(late)} are first treated after the last period {periods[-1]:g}; they are "
                      "treated as never treated (as R did does).", DroppedUnitsWarning, stacklevel=3)
        gv[late] = 0.0
    early = (gv > 0) & (gv <= periods[0])
    if early.any():
        warnings.warn(f"Dropped {count(early)} that were already treated in the first period "
                      f"({periods[0]:g}); they have no pre-treatment period.",
                      DroppedUnitsWarning, stacklevel=3)
        df = df.loc[~early]
        vals = {c: v[~early] for c, v in vals.items()}
    return df, vals, periods


def _per_unit(v, ucodes, uniq, what):
    """The unit-level value of a column that must not vary within a unit (else raise)."""
    _, first = np.unique(ucodes, return_index=True)
    per_unit = v[first]
    varies = v != per_unit[ucodes]
    if varies.any():
        u = uniq[np.unique(ucodes[varies])[:5]]
        raise EstimationError(what.format(units=_show(u)))
    return per_unit


def _unit_layout(df, vals, periods, *, y, group, time, unit, weight, cluster, covariates,
                 allow_unbalanced_panel) -> _Layout:
    """Layout of panel data: balanced matrices, or rows summed to units when unbalanced."""
    T = periods.size
    tidx = np.searchsorted(periods, vals[time])
    ucodes, uniq = pd.factorize(df[unit], sort=True)
    nU = len(uniq)
    code = ucodes.astype(np.int64) * T + tidx
    counts = np.bincount(code, minlength=nU * T).reshape(nU, T)
    if (counts > 1).any():
        dup = uniq[np.flatnonzero((counts > 1).any(axis=1))[:5]]
        raise EstimationError(f"Units appear more than once in a period (e.g. {unit}={_show(dup)}); "
                              f"panel data need one row per {unit!r} and {time!r}.")
    unbalanced = bool((counts == 0).any())
    if unbalanced and not allow_unbalanced_panel:
        miss_units = np.flatnonzero((counts == 0).any(axis=1))
        examples = [f"{_show([uniq[u]])} (missing {', '.join(f'{p:g}' for p in periods[counts[u] == 0])})"
                    for u in miss_units[:5]]
        raise EstimationError(
            f"The panel is unbalanced: {len(miss_units)} of {nU} units are not observed in every "
            f"period, e.g. {unit}={'; '.join(examples)}. Pass allow_unbalanced_panel=True to use every "
            f"row, as R did's allow_unbalanced_panel=TRUE does: each ATT(g,t) is estimated from its rows "
            f"as repeated cross-sections and the influence function is summed within {unit!r} (standard "
            f"errors clustered on the unit, aggregations weighting groups by units). Or balance the panel "
            f"(df.groupby({unit!r}).filter(lambda d: d[{time!r}].nunique() == {T})). panel=False alone "
            f"treats the rows as independent and overstates the standard errors unless you also pass "
            f"cluster={unit!r}.")
    Gu = _per_unit(vals[group], ucodes, uniq,
                   f"The group column {group!r} changes over time within units {{units}}; it must be "
                   "the unit's first treated period in every row.")
    Wu = np.ones(nU) if weight is None else _per_unit(
        vals[weight], ucodes, uniq,
        f"The weight column {weight!r} varies over time within units {{units}}; panel weights must "
        "be time-invariant.")
    cl_codes = None
    if cluster is not None:
        cc = _per_unit(pd.factorize(df[cluster])[0], ucodes, uniq,
                       f"The cluster column {cluster!r} varies over time within units {{units}}; "
                       "clusters must be time-invariant.")
        if cluster != unit:
            cl_codes = pd.factorize(cc)[0]
    if unbalanced:
        Xr = np.column_stack([np.ones(len(df))] + [vals[c] for c in covariates])
        return _Layout("unbalanced", periods, nU, Gu, Wu, cl_codes, Yv=vals[y], Xr=Xr,
                       tv=vals[time], Gr=vals[group], Wr=Wu[ucodes], row_unit=ucodes)

    def unit_matrix(v):
        out = np.empty(nU * T)
        out[code] = v
        return out.reshape(nU, T)

    Xmat = np.ones((nU, T, 1 + len(covariates)))
    for j, c in enumerate(covariates):
        Xmat[:, :, j + 1] = unit_matrix(vals[c])
    return _Layout("panel", periods, nU, Gu, Wu, cl_codes, Ymat=unit_matrix(vals[y]), Xmat=Xmat)


def _row_layout(df, vals, periods, *, y, group, time, weight, cluster, covariates) -> _Layout:
    """Layout of repeated cross-sections: every observation is its own influence row."""
    n = len(df)
    Xr = np.column_stack([np.ones(n)] + [vals[c] for c in covariates])
    W = vals[weight] if weight is not None else np.ones(n)
    cl_codes = pd.factorize(df[cluster])[0] if cluster is not None else None
    return _Layout("rows", periods, n, vals[group], W, cl_codes, Yv=vals[y], Xr=Xr, tv=vals[time],
                   Gr=vals[group], Wr=W)


def _last_cohort_as_control(lay: _Layout, glist: np.ndarray, what: str) -> tuple[_Layout, np.ndarray]:
    """control='notyet' without never-treated units: R did drops the periods from the last
    cohort's start on and uses that cohort as the not-yet-treated comparison."""
    if glist.size < 2:
        raise EstimationError(
            f"There are neither never-treated nor not-yet-treated {what}: every treated unit "
            f"starts in {glist[0]:g}, so no comparison group exists.")
    gmax = glist[-1]
    warnings.warn(f"No never-treated {what}: as R did does, periods >= {gmax:g} are dropped and "
                  f"the last-treated group ({gmax:g}) serves as the not-yet-treated comparison.",
                  DroppedUnitsWarning, stacklevel=3)
    keep_t = lay.periods < gmax
    if keep_t.sum() < 2:
        raise EstimationError("After dropping periods from the last cohort on, fewer than two periods "
                              "remain; no not-yet-treated comparison is possible.")
    new = dict(lay.__dict__, periods=lay.periods[keep_t])
    if lay.mode == "panel":
        new.update(Ymat=lay.Ymat[:, keep_t], Xmat=lay.Xmat[:, keep_t])
    else:
        r = lay.tv < gmax
        new.update(Yv=lay.Yv[r], Xr=lay.Xr[r], tv=lay.tv[r], Gr=lay.Gr[r], Wr=lay.Wr[r])
        if lay.mode == "rows":
            new.update(n=int(r.sum()), G=lay.G[r], W=lay.W[r])
            if lay.cl_codes is not None:
                new["cl_codes"] = pd.factorize(lay.cl_codes[r])[0]
        else:  # units observed only from gmax on leave the sample (R drops those rows first)
            kept, ru = np.unique(lay.row_unit[r], return_inverse=True)
            new.update(n=kept.size, G=lay.G[kept], W=lay.W[kept], row_unit=ru)
            if lay.cl_codes is not None:
                new["cl_codes"] = pd.factorize(lay.cl_codes[kept])[0]
    new["G"] = np.where(new["G"] == gmax, 0.0, new["G"])
    if new["Gr"] is not None:
        new["Gr"] = np.where(new["Gr"] == gmax, 0.0, new["Gr"])
    return _Layout(**new), glist[:-1]


def _cell(lay: _Layout, tidx, est, method, gg, cur, base, cmask, where):
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


def _all_cells(lay: _Layout, glist, est, method, control, base_period):
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


def att_gt(
    data: pd.DataFrame,
    *,
    y: str,
    group: str,
    time: str,
    unit: str | None = None,
    control: DidControl = "never",
    method: DidMethod = "dr",
    covariates: Sequence[str] | None = None,
    weight: str | None = None,
    cluster: str | None = None,
    panel: bool = True,
    allow_unbalanced_panel: bool = False,
    bootstrap: int = 0,
    alpha: float = 0.05,
    seed: int | np.random.SeedSequence | None = None,
    base_period: DidBasePeriod = "varying",
) -> ATTGTResult:
    """Group-time average treatment effects with staggered adoption (R ``did::att_gt``).

    Parameters
    ----------
    data : pandas.DataFrame
        Long data: one row per unit and period (panel) or per respondent (repeated
        cross-sections).
    y, group, time : str
        Outcome, first-treated period (0 = never treated; ``inf`` is read as 0) and
        period columns. ``group`` and ``time`` must be numeric.
    unit : str, optional
        Unit identifier; required when ``panel=True``.
    control : {"never", "notyet"}
        Comparison units: never-treated only (R ``"nevertreated"``), or never-treated
        plus not-yet-treated (R ``"notyettreated"``).
    method : {"dr", "reg", "ipw"}
        2x2 estimator: doubly robust (``DRDID::drdid_panel`` / ``drdid_rc``), outcome
        regression (``reg_did_panel`` / ``reg_did_rc``) or normalised IPW
        (``std_ipw_did_panel`` / ``std_ipw_did_rc``).
    covariates : list of str, optional
        Numeric covariates (an intercept is always added, as R's ``xformla``). In panel
        data each cell uses the values of the earlier of its two periods (the base
        period for post-treatment cells), as R ``did`` does.
    weight : str, optional
        Sampling weights (R ``weightsname``); time-invariant in panel data. Each 2x2
        estimator normalises them to mean one on its own sample, as ``DRDID`` does.
    cluster : str, optional
        Cluster variable coarser than the unit (time-invariant in panel data). Analytic
        SEs then use cluster sums of the influence function; the bootstrap draws one
        multiplier per cluster.
    panel : bool
        ``True`` for panel data (one row per unit and period), ``False`` for repeated
        cross-sections.
    allow_unbalanced_panel : bool
        Panel data only. ``False`` (default): an unbalanced panel is an error. ``True``:
        as R ``did``'s ``allow_unbalanced_panel=TRUE``, an unbalanced panel keeps every
        row; each ATT(g, t) is estimated from the rows of its two periods with the
        repeated cross-section estimators (covariates taken from each period), and the
        influence function is summed within unit, so standard errors and bootstrap
        draws are clustered on the unit and aggregations weight groups by units, not
        rows. A balanced panel is estimated as a panel either way (R does the same).
    bootstrap : int
        Number of multiplier-bootstrap draws (0 = analytic SEs). With draws, the
        intervals of :meth:`ATTGTResult.tidy` are simultaneous (sup-t) bands.
    alpha : float
        1 - confidence level.
    seed : int, optional
        Seed of the bootstrap draws.
    base_period : {"varying", "universal"}
        Pre-treatment cells compare t with t-1 (``"varying"``, R default) or with g-1
        (``"universal"``, whose reference cell is reported as 0 with no SE).

    Returns
    -------
    ATTGTResult
        ``.tidy()`` columns ``group, time, event_time, post, att, se, ci_low, ci_high,
        p_value, crit_value, band``; ``.influence`` (n x K); ``.pretrend_test()``;
        ``.aggregate(type)``.

    Raises
    ------
    EstimationError
        Missing or non-numeric columns, no never-treated (``control="never"``) or no
        comparison units, a treated group with a single unit, an unbalanced panel
        without ``allow_unbalanced_panel=True``, duplicated unit-period rows,
        time-varying group/weight/cluster within a unit.

    Warns
    -----
    DroppedUnitsWarning
        Rows with missing values, units already treated in the first period (R drops
        them with the same message), groups first treated after the last period
        (recoded as never treated, as R does).

    Notes
    -----
    For group g and period t the 2x2 comparison uses the base period t-1 (varying, when
    t < g) or g-1 (post-treatment, or universal). The cell's influence function from
    ``DRDID`` is rescaled by n/n1 (n1 = units in the group or the comparison) and the
    analytic SE is ``sqrt(mean(IF^2)/n)``, exactly as ``did::att_gt`` with
    ``bstrap=FALSE``. The multiplier bootstrap uses Rademacher weights (BMisc's
    ``multiplier_bootstrap``), SE = IQR of the draws / (q75 - q25 of N(0,1)), and the
    uniform band's critical value is the 1 - alpha quantile (type 1) of the maximal
    absolute t-statistic over cells (``did::mboot``). Cluster sums follow R did 2.5
    (Callaway & Sant'Anna 2021, Remark 10).

    The influence function is scaled so that ``influence[i, k] = n * d att_k / d log w_i``
    (w_i the weight of unit or observation i, before the per-cell normalisation), which
    ``tests/test_did.py`` checks numerically for every estimator. For ``method="dr"``
    with repeated cross-sections this differs from R ``DRDID::drdid_rc``, which adds the
    pre-period outcome-regression terms instead of subtracting them (its analytic SE is
    off; csdid and the Python drdid port subtract, as here).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.did.core import att_gt
    >>> rng = np.random.default_rng(1)
    >>> n = 400
    >>> g = rng.choice([0, 2016, 2017], size=n)
    >>> df = pd.DataFrame({"id": np.repeat(np.arange(n), 4), "year": np.tile([2014, 2015, 2016, 2017], n),
    ...                    "g": np.repeat(g, 4)})
    >>> df["y"] = rng.normal(size=len(df)) + 1.0 * ((df.g > 0) & (df.year >= df.g))
    >>> res = att_gt(df, y="y", group="g", time="year", unit="id")
    >>> agg = res.aggregate("simple")      # planted effect: 1.0
    >>> round(agg.overall_att, 2), round(agg.overall_se, 2)
    (1.06, 0.12)
    """
    control = check_choice(control, DidControl, "control")
    method = check_choice(method, DidMethod, "method")
    base_period = check_choice(base_period, DidBasePeriod, "base_period")
    if not isinstance(bootstrap, (int, np.integer)) or isinstance(bootstrap, bool) or bootstrap < 0:
        raise EstimationError(f"bootstrap must be a non-negative whole number of draws, got {bootstrap!r}.")
    if not (0 < alpha < 1):
        raise EstimationError(f"alpha must lie strictly between 0 and 1, got {alpha!r}.")
    if not isinstance(allow_unbalanced_panel, (bool, np.bool_)):
        raise EstimationError("allow_unbalanced_panel must be True or False, got "
                              f"{allow_unbalanced_panel!r}.")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
    if panel and unit is None:
        raise EstimationError("panel=True needs the unit identifier: pass unit='<id column>', or "
                              "panel=False for repeated cross-sections.")
    _require_columns(data, {"outcome": y, "group": group, "time": time, "unit": unit,
                            "weight": weight, "cluster": cluster})
    for c in covariates:
        _require_columns(data, {"covariate": c})
    for col, role in [(time, "time"), (group, "group"), (y, "outcome"), (weight, "weight"),
                      *((c, "covariate") for c in covariates)]:
        if col is not None:
            _numeric(data, col, role)

    cols = [c for c in dict.fromkeys([y, group, time, unit, weight, cluster, *covariates]) if c is not None]
    df, vals, periods = _clean_rows(data, cols, y, group, time, unit, weight, cluster, panel)
    roles = dict(y=y, group=group, time=time, weight=weight, cluster=cluster, covariates=covariates)
    if panel:
        lay = _unit_layout(df, vals, periods, unit=unit, allow_unbalanced_panel=allow_unbalanced_panel,
                           **roles)
    else:
        lay = _row_layout(df, vals, periods, **roles)

    glist = np.unique(lay.G[lay.G > 0])
    if glist.size == 0:
        raise EstimationError(f"No unit is ever treated (the group column {group!r} is 0 everywhere).")
    what_unit = "units" if panel else "rows"
    if not (lay.G == 0).any():
        if control == "never":
            raise EstimationError(
                f"There are no never-treated {what_unit} (group {group!r} == 0), so control='never' has "
                "no comparison group. Use control='notyet' to compare with not-yet-treated units.")
        lay, glist = _last_cohort_as_control(lay, glist, what_unit)
    sizes = np.array([(lay.G == gg).sum() for gg in glist])
    if (sizes < 2).any():
        gs = [f"{gg:g}" for gg in glist[sizes < 2]]
        raise EstimationError(
            f"Treatment group(s) {', '.join(gs)} contain a single {'unit' if panel else 'observation'}; "
            "a group-time ATT needs at least two. Merge the group with a neighbouring start period or "
            "drop it.")

    est = (_PANEL_ESTIMATORS if lay.mode == "panel" else _RC_ESTIMATORS)[method]
    cells_g, cells_t, att_arr, inf, universal_ref = _all_cells(lay, glist, est, method, control,
                                                               base_period)
    res = ATTGTResult(
        group=cells_g, time=cells_t, att=att_arr, se=np.full(att_arr.size, np.nan),
        influence=inf, crit_value=float(stats.norm.ppf(1 - alpha / 2)), alpha=alpha, n=lay.n,
        method=method, control=control, panel=panel, base_period=base_period,
        bootstrap=int(bootstrap), cluster=cluster, unit_group=lay.G, unit_weight=lay.W,
        periods=lay.periods, unbalanced=lay.mode == "unbalanced", _cluster_codes=lay.cl_codes,
    )
    inf0 = np.where(np.isfinite(inf), inf, 0.0)
    if bootstrap > 0:
        res._mult = _Multiplier(lay.n, int(bootstrap), seed, lay.cl_codes)
        se, crit = res._mult.inference(inf0, alpha)
        if not np.isfinite(crit):
            crit = res.crit_value
        elif crit >= 7:
            warnings.warn("The simultaneous critical value is >= 7, arguably too large to be reliable "
                          "(small groups or little outcome variation), as R did warns.",
                          DidWarning, stacklevel=2)
        res.crit_value = float(crit)
    else:
        se = res._analytic_se(inf0)
    res.se = np.where(np.isfinite(att_arr) & ~universal_ref, se, np.nan)
    return res


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
