"""Replicate weights: the variance formula, the degrees of freedom, and weights made from a design.

The pieces of R survey's ``surveyrep.R`` that :class:`~evalkit.survey.replicate.ReplicateDesign`
needs, without the design object:

* :func:`replicate_variance` -- R ``svrVar``: ``v = scale * sum_r rscales_r (theta_r - c)^2`` with
  ``c`` the full-sample estimate (``mse=True``) or the mean of the replicates with ``rscales > 0``
  (``mse=False``, R's default ``options(survey.replicates.mse=FALSE)``); replicates whose estimate is
  missing are left out with a warning, as R's ``na.action``.
* :func:`replicate_degf` -- R ``degf.svyrep.design``: the rank of the analysis-weight matrix minus 1
  (R: ``qr(weights(design, "analysis"), tol=1e-5)$rank - 1``).
* :func:`design_replicates` -- R ``as.svrepdesign``: jackknife (``"JK1"`` for an unstratified design,
  ``"JKn"`` for a stratified one, R's ``jk1weights``/``jknweights``, fpc included), the bootstrap of
  R's ``bootweights`` (``"bootstrap"``, Canty-Davison, fpc included) and the Rao-Wu (n-1) rescaling
  bootstrap of R's ``subbootweights`` (``"subbootstrap"``), both seeded, and balanced repeated replication (``"BRR"``,
  ``"Fay"``; strata of exactly 2 PSUs), from the coded PSUs and strata of a
  :class:`~evalkit.survey.design.SurveyDesign`. BRR uses a Sylvester Hadamard matrix of order
  ``2^k > #strata``; R picks the smallest of its stored matrices (e.g. order 12 for 8-11 strata), so
  the number of replicates can differ from R's. With full orthogonal balance the variance of a total
  is the same (the linearisation variance) whichever matrix is used; nonlinear statistics differ
  slightly with the matrix.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.linalg import hadamard, solve_triangular

from ..errors import DesignError, EvalkitWarning, LonelyPSUWarning

__all__ = ["replicate_variance", "replicate_degf", "design_replicates", "DEFAULT_SCALE"]


def replicate_variance(thetas: np.ndarray, estimate: np.ndarray, scale: float, rscales: np.ndarray,
                       mse: bool, *, cov: bool = False, warn: bool = True) -> np.ndarray:
    """Replicate variance of statistics (R ``svrVar``).

    Parameters
    ----------
    thetas : array, shape (R,) or (R, M)
        Each replicate's estimate of each of M statistics.
    estimate : array, shape () or (M,)
        Full-sample estimates (the centre when ``mse=True``).
    scale, rscales, mse
        As the design's (:class:`~evalkit.survey.replicate.ReplicateDesign`).
    cov : bool
        Return the M x M covariance matrix (replicates with any missing estimate left out, R's
        ``na.omit`` of the rows of ``thetas``) instead of M variances (each statistic leaves out only
        its own missing replicates, as R's ``svyby`` computing each domain on its own).
    """
    T = np.asarray(thetas, dtype=float)
    one = T.ndim == 1
    T = T[:, None] if one else T
    est = np.atleast_1d(np.asarray(estimate, dtype=float))
    rs = np.asarray(rscales, dtype=float)
    ok = np.isfinite(T)
    if cov:
        ok = np.repeat(ok.all(axis=1, keepdims=True), T.shape[1], axis=1)
    lost = (~ok).any(axis=0) & np.isfinite(est)
    if warn and lost.any():
        warnings.warn(f"{int((~ok).any(axis=1).sum())} replicate(s) gave no estimate (e.g. a domain without "
                      f"rows in that replicate) and were left out of the variance of {int(lost.sum())} "
                      f"statistic(s), as R's svrVar does.", EvalkitWarning, stacklevel=3)
    Tz = np.where(ok, T, 0.0)
    use = ok & (rs[:, None] > 0)
    if mse:
        centre = est
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = (Tz * use).sum(axis=0) / use.sum(axis=0)
    dev = np.where(ok, Tz - centre, 0.0) * np.sqrt(np.maximum(rs, 0.0))[:, None]
    if cov:
        out = scale * dev.T @ dev
        return out
    v = scale * (dev * dev).sum(axis=0)
    v = np.where(ok.any(axis=0), v, np.nan)
    return v[0] if one else v


def replicate_degf(analysis: np.ndarray, tol: float = 1e-5) -> int:
    """Rank of the analysis-weight matrix (n x R) minus 1 (R ``degf.svyrep.design``).

    The rank is counted as R's ``qr(, tol=1e-5)`` (LINPACK ``dqrdc2``) does: a column counts when
    the part of it not explained by the columns counted before it has a norm above ``tol`` times its
    own norm. Computed on the R x R cross-product matrix, so memory does not grow with n.
    """
    W = np.asarray(analysis, dtype=float)
    if W.ndim != 2 or W.shape[1] == 0:
        return -1
    G = W.T @ W
    R = G.shape[0]
    L = np.zeros((R, R))
    kept: list[int] = []
    for j in range(R):
        gjj = G[j, j]
        if gjj <= 0:
            continue
        k = len(kept)
        c = solve_triangular(L[:k, :k], G[kept, j], lower=True) if k else np.empty(0)
        r2 = gjj - c @ c
        if r2 > tol * tol * gjj:
            L[k, :k] = c
            L[k, k] = np.sqrt(r2)
            kept.append(j)
    return len(kept) - 1


#: Default ``scale`` of each replicate type given its number of replicates R (R ``svrepdesign``);
#: ``None``: no default (the caller must give it).
DEFAULT_SCALE: dict[str, Any] = {
    "BRR": lambda R, rho: 1.0 / R,
    "Fay": lambda R, rho: 1.0 / (R * (1.0 - rho) ** 2),
    "JK1": lambda R, rho: (R - 1.0) / R,
    "JKn": lambda R, rho: 1.0,
    "JK2": lambda R, rho: 1.0,
    "bootstrap": lambda R, rho: 1.0 / (R - 1.0),
    "subbootstrap": lambda R, rho: 1.0 / (R - 1.0),
    "SDR": lambda R, rho: 4.0 / R,
    "successive-difference": lambda R, rho: 4.0 / R,
    "ACS": lambda R, rho: 4.0 / R,
    "other": None,
}


# --------------------------------------------------------------------------------------
# replicate weights of a linearisation design (R as.svrepdesign)
# --------------------------------------------------------------------------------------
def _fpc_correction(design) -> np.ndarray:
    """``1 - n_h / N_h`` per stratum from the design's fpc column (1 without fpc)."""
    s = design._s
    if design._fpc is None:
        return np.ones(s.n_h.size)
    N = design._data[design._fpc].to_numpy(dtype=float)
    N_h = np.zeros(s.n_h.size)
    N_h[s.h] = N
    return (N_h - s.n_h) / N_h


def _jackknife(design, kind: str) -> tuple[np.ndarray, float, np.ndarray]:
    """PSU x replicate factors, scale and rscales of R's ``jk1weights`` / ``jknweights``."""
    s = design._s
    P, H = s.n_psu_total, s.n_h.size
    corr = _fpc_correction(design)
    if kind == "JK1":
        n = P
        if n < 2:
            raise DesignError("JK1 needs at least 2 PSUs; this design has 1.")
        F = np.full((P, P), n / (n - 1.0))
        np.fill_diagonal(F, 0.0)
        return F, float(corr[0] * (n - 1.0) / n), np.ones(P)
    cols, rscales = [], []
    lonely = []
    for h in range(H):
        nh, start = int(s.n_h[h]), int(s.starts[h])
        if corr[h] == 0:  # a census of PSUs needs no replicate (R survey.drop.replicates)
            continue
        if nh == 1:
            lonely.append(h)
            if design._lonely == "fail":
                raise DesignError(f"Stratum {s.strata_levels[h]!r} has a single PSU; JKn cannot delete it. "
                                  f"Pass lonely_psu='adjust', 'remove', 'certainty' or 'average' to the design.")
            if design._lonely == "adjust":  # R jknweights: the stratum's rows 0, others nstrat/(nstrat-1)
                f = np.where(s.psu_stratum == h, 0.0, H / (H - 1.0))
                cols.append(f)
                rscales.append((H - 1.0) / H)
            continue
        for j in range(nh):
            f = np.ones(P)
            f[start:start + nh] = nh / (nh - 1.0)
            f[start + j] = 0.0
            cols.append(f)
            rscales.append(corr[h] * (nh - 1.0) / nh)
    if lonely and design._lonely != "certainty":
        names = ", ".join(repr(s.strata_levels[h]) for h in lonely[:20])
        warnings.warn(f"{len(lonely)} stratum/strata have a single PSU ({names}); JKn replicates follow "
                      f"lonely_psu={design._lonely!r} as R's jknweights.", LonelyPSUWarning, stacklevel=4)
    if not cols:
        raise DesignError("Every stratum was sampled completely (fpc = number of PSUs): there is no "
                          "sampling variance to replicate.")
    scale = 1.0
    if design._lonely == "average" and len(cols) < P:
        scale = P / len(cols)  # R jknweights: length(unique(psu)) / number of replicates
    return np.column_stack(cols), scale, np.asarray(rscales)


def _draws(replicates: Any, seed: Any) -> np.random.Generator:
    if not (isinstance(replicates, (int, np.integer)) and replicates >= 2):
        raise DesignError(f"replicates={replicates!r} must be an integer >= 2 (R as.svrepdesign's replicates=).")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise DesignError(f"seed={seed!r}: the bootstrap needs an integer seed so that the replicate weights "
                          f"are reproducible, e.g. seed=2017.")
    return np.random.default_rng(int(seed))


def _bootstrap(design, replicates: int, seed: int) -> tuple[np.ndarray, float, np.ndarray]:
    """R ``bootweights`` (Canty & Davison 1999): in each stratum draw ``n_h`` PSUs with replacement (with
    an fpc: ``n_h`` without replacement from the PSUs repeated to ``N_h``, R's ``rep(psu, length=N_h)``);
    a PSU's factor is the number of times it is drawn. Scale ``nbar / ((nbar - 1)(R - 1))``, ``nbar``
    the harmonic mean of the PSUs per stratum."""
    rng = _draws(replicates, seed)
    s = design._s
    N = None
    if design._fpc is not None:
        N = np.zeros(s.n_h.size, dtype=np.int64)
        N[s.h] = np.rint(design._data[design._fpc].to_numpy(dtype=float)).astype(np.int64)
    F = np.ones((s.n_psu_total, int(replicates)))
    for h in range(s.n_h.size):
        nh, start = int(s.n_h[h]), int(s.starts[h])
        if N is None:
            counts = rng.multinomial(nh, np.full(nh, 1.0 / nh), size=int(replicates))
        else:  # copies of each PSU in rep(psu, length = N_h)
            copies = np.full(nh, N[h] // nh) + (np.arange(nh) < N[h] % nh)
            counts = rng.multivariate_hypergeometric(copies, nh, size=int(replicates))
        F[start:start + nh] = counts.T
    nbar = 1.0 / np.mean(1.0 / s.n_h)
    if nbar <= 1:
        raise DesignError("The bootstrap needs strata with more than one PSU; every stratum has one.")
    return F, nbar / ((nbar - 1.0) * (replicates - 1.0)), np.ones(int(replicates))


def _subbootstrap(design, replicates: int, seed: int) -> tuple[np.ndarray, float, np.ndarray]:
    """R ``subbootweights``, the Rao-Wu (n-1) bootstrap: in each stratum draw ``n_h - 1`` of its ``n_h``
    PSUs with replacement; a PSU drawn ``m`` times gets ``m n_h / (n_h - 1)``. Scale ``1/(R - 1)``. As in R,
    the fpc is not used."""
    rng = _draws(replicates, seed)
    s = design._s
    if design._fpc is not None:
        warnings.warn("type='subbootstrap' does not use the finite population correction (as R's "
                      "subbootweights); type='bootstrap' or 'JKn' do.", EvalkitWarning, stacklevel=4)
    F = np.ones((s.n_psu_total, int(replicates)))
    lonely = []
    for h in range(s.n_h.size):
        nh, start = int(s.n_h[h]), int(s.starts[h])
        if nh == 1:
            lonely.append(h)
            continue
        counts = rng.multinomial(nh - 1, np.full(nh, 1.0 / nh), size=int(replicates)).T  # nh x R
        F[start:start + nh] = nh / (nh - 1.0) * counts
    if lonely:
        names = ", ".join(repr(s.strata_levels[h]) for h in lonely[:20])
        warnings.warn(f"{len(lonely)} stratum/strata have a single PSU ({names}); the (n-1) bootstrap cannot "
                      f"resample them and they add no variance.", LonelyPSUWarning, stacklevel=4)
    return F, 1.0 / (replicates - 1.0), np.ones(int(replicates))


def _brr(design, rho: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Balanced half-samples (R ``brrweights`` for strata of exactly 2 PSUs): stratum h is in row h+1 of
    a Sylvester Hadamard matrix of order 2^k > #strata; in replicate r the PSU of the chosen half gets
    ``2 - rho``, the other ``rho``. Scale ``1/(R (1-rho)^2)``."""
    s = design._s
    if not (np.all(s.n_h == 2)):
        bad = s.strata_levels[int(np.flatnonzero(s.n_h != 2)[0])]
        raise DesignError(f"BRR needs exactly 2 PSUs in every stratum; stratum {bad!r} has "
                          f"{int(s.n_h[s.strata_levels.get_loc(bad)])}. Use type='JKn' or 'bootstrap', or "
                          f"pair the PSUs into strata of two.")
    if design._fpc is not None:
        warnings.warn("The finite population correction is dropped in the conversion to BRR (as R's "
                      "as.svrepdesign).", EvalkitWarning, stacklevel=4)
    H = s.n_h.size
    order = 1
    while order <= H:
        order *= 2
    had = hadamard(order)[1:H + 1]  # H x R, +-1; row 0 (all ones) unused
    first = np.zeros(s.n_psu_total, dtype=bool)
    first[s.starts] = True
    sign = had[s.psu_stratum]  # P x R
    F = np.where((sign == 1) == first[:, None], 2.0 - rho, rho)
    return F, 1.0 / (order * (1.0 - rho) ** 2), np.ones(order)


def design_replicates(design, type: str, replicates: int, seed: Any,
                      rho: float | None = None) -> tuple[np.ndarray, str, float, np.ndarray]:
    """Analysis replicate weights (n x R), type, scale and rscales of a linearisation design.

    ``type`` is ``"auto"`` (JK1 without strata, JKn with them, as R), ``"JK1"``, ``"JKn"``,
    ``"bootstrap"``, ``"subbootstrap"``, ``"BRR"`` or ``"Fay"`` (with ``rho``). Weights are the design's (final) weights times
    the PSU's replicate factor.
    """
    if design._mask is not None:
        raise DesignError("as_replicate() needs the full design: convert first, then subset() the "
                          "replicate design.")
    if design._calib is not None:
        raise DesignError("as_replicate() of a raked design is not supported: convert the design before "
                          "raking, then rake the replicate design (its replicates are raked alongside).")
    stratified = design._strata is not None
    kind = ("JKn" if stratified else "JK1") if type == "auto" else type
    if kind == "JK1" and stratified:
        raise DesignError("JK1 cannot be used for a stratified design (R: \"Can't use JK1 for a stratified "
                          "design\"); use type='JKn' or 'bootstrap'.")
    if kind in ("JKn", "BRR", "Fay") and not stratified:
        raise DesignError(f"{kind} needs strata; use type='JK1' or 'bootstrap' for an unstratified design.")
    if kind == "Fay" and not (isinstance(rho, (int, float)) and 0 < rho < 1):
        raise DesignError(f"type='Fay' needs rho= (Fay's coefficient, 0 < rho < 1), got {rho!r}.")
    if kind in ("BRR", "Fay"):
        F, scale, rscales = _brr(design, float(rho) if kind == "Fay" else 0.0)
    elif kind in ("JK1", "JKn"):
        F, scale, rscales = _jackknife(design, kind)
    elif kind == "bootstrap":
        F, scale, rscales = _bootstrap(design, replicates, seed)
    elif kind == "subbootstrap":
        F, scale, rscales = _subbootstrap(design, replicates, seed)
    else:
        raise DesignError(f"type={type!r}: as_replicate converts to 'auto', 'JK1', 'JKn', 'bootstrap', "
                          f"'subbootstrap', 'BRR' or 'Fay'.")
    W = design._w[:, None] * F[design._s.p]
    return W, kind, float(scale), np.asarray(rscales, dtype=float)
