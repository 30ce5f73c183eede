"""Inference from the influence functions of :func:`evalkit.did.att_gt`: analytic standard
errors and R did's multiplier bootstrap (``did::mboot``) with sup-t critical values.

With ``n`` influence rows (units of a panel, rows of repeated cross-sections) and optional
cluster codes, the analytic SE of an estimate with influence column ``IF`` is
``sqrt(sum_c S_c^2) / n`` with ``S_c`` the cluster sums of ``IF`` (each row its own cluster
without clustering), as R did 2.5 with ``bstrap=FALSE``. The bootstrap draws one Rademacher
multiplier per row or cluster; its SE is the IQR of the draws / (q75 - q25 of N(0, 1)) and the
uniform band's critical value the ``level`` quantile (type 1) of the maximal absolute
t-statistic over the estimates. One :class:`Multiplier` serves att_gt and every aggregation of
its result, so they share the draws as in R.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from ..results import critical_value

_EPS = np.finfo(float).eps
_ZERO_SE = np.sqrt(_EPS) * 10  # R did: se <= sqrt(.Machine$double.eps)*10 -> NA
_IQR_NORM = stats.norm.ppf(0.75) - stats.norm.ppf(0.25)


def _cluster_sums(inf: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Sums of the rows of `inf` (n x k) within clusters ``0 .. codes.max()``."""
    S = np.zeros((int(codes.max()) + 1, inf.shape[1]))
    np.add.at(S, codes, inf)
    return S


def analytic_se(inf: np.ndarray, n: int, cluster_codes: np.ndarray | None) -> np.ndarray:
    """Analytic SEs of the columns of `inf`; NaN where the SE is numerically zero (as R did)."""
    inf = inf if inf.ndim == 2 else inf[:, None]
    S = inf if cluster_codes is None else _cluster_sums(inf, cluster_codes)
    se = np.sqrt((S ** 2).sum(axis=0)) / n
    return np.where(se > _ZERO_SE, se, np.nan)


def influence_cov(inf: np.ndarray, n: int, cluster_codes: np.ndarray | None) -> np.ndarray:
    """``S'S / n`` with S the (cluster sums of the) influence rows, missing values as 0."""
    inf = np.nan_to_num(inf)
    S = inf if cluster_codes is None else _cluster_sums(inf, cluster_codes)
    return S.T @ S / n


def se_and_crit(inf: np.ndarray, n: int, cluster_codes: np.ndarray | None,
                mult: Multiplier | None, level: float) -> tuple[np.ndarray, float]:
    """(SEs, critical value) of the columns of `inf`: analytic with the pointwise normal
    critical value, or from the bootstrap draws `mult` with the sup-t one."""
    if mult is None:
        return analytic_se(inf, n, cluster_codes), critical_value(level)
    return mult.inference(inf, level)


def _quantile1(a: np.ndarray, q: float, axis=0):
    """R quantile(type=1) (inverse empirical CDF)."""
    return np.quantile(a, q, axis=axis, method="inverted_cdf")


class Multiplier:
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
            S = _cluster_sums(inf, self.cluster_codes)
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

    def inference(self, inf: np.ndarray, level: float):
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
        crit = float(_quantile1(bT[np.isfinite(bT)], level))
        return se, crit


