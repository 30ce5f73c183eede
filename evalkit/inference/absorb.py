"""Absorbing fixed effects: (weighted) demeaning on one or several factors, no dummy matrix.

:func:`demean` returns the residuals of columns after a weighted least-squares projection on the
dummies of every fixed effect (the within transformation; Frisch-Waugh-Lovell: regressing the
demeaned outcome on the demeaned regressors gives the coefficients of the dummy regression).

* one fixed effect: weighted group means, exact;
* several: the largest factor is eliminated in closed form (its block of the normal equations
  is diagonal) and the others are solved from the dense Schur complement, a direct solve whose
  size is the number of levels of the smaller factors (e.g. 4 waves, or 60 communities x 4
  waves); reference levels are dropped, and a disconnected design (the complement singular) is
  solved by its Moore-Penrose pseudo-inverse, which gives the same projection;
* when the smaller factors have more than :data:`DIRECT_MAX` levels together: the method of
  alternating projections (Guimaraes & Portugal 2010; Gaure 2013, R lfe), iterated until no
  entry changes by more than ``tol`` times the columns' scale.

:func:`fixef_codes` turns the fixed-effect columns (``fe1^fe2``: their combinations) into integer
codes, :func:`nested_in` tells whether a factor is nested in the clusters and :func:`fixef_dof`
counts the fixed-effect parameters as fixest / pyfixest do for the small-sample factor.

In :func:`evalkit.regress` (``y ~ x | fe1 + fe2``) the coefficients of the dummy regression are
computed on the demeaned data (Frisch-Waugh-Lovell); only the regressors' coefficients are
reported. Fixed effects nested in the clusters (every level in one cluster: household or
community x wave within community) are absorbed; the others (e.g. wave) enter the design as
demeaned dummies, at most ``MAX_DUMMIES`` columns (beyond that CR2 is refused and CR1 absorbs
them too; the wild bootstrap of such a fit resamples the demeaned regression, which is not exact
when a fixed effect crosses clusters). The
CR1 factor counts parameters as fixest's default ``ssc(adj = TRUE, fixef.K = "nested",
cluster.adj = TRUE)`` (pyfixest ``ssc(k_fixef="nonnested")``): ``(N-1)/(N-k)`` with k =
regressors + non-nested fixed effect levels (one reference each beyond the first) + 1 when some
fixed effect is nested; t(G-1). CR2 then equals CR2 of the full dummy design exactly: with the
dummies T nested in the clusters, H = H_T + H_Xd with H_T block-diagonal by cluster, so ``I -
H_gg = (I - P_g)(I - Xd_g M Xd_g')``, two commuting factors, and the adjustment ``A_g`` and the
Satterthwaite P matrix computed on the demeaned design Xd give the same variance and df
(Pustejovsky & Tipton 2018, Sec. 3; tested against the dummy fit in ``tests/test_absorb.py``).
The wild bootstrap and randomization inference work on the same demeaned design, which is exact
for the same reason. With weights the demeaned design alone does not give it (clubSandwich's WLS
adjustment has a term X'W^2X that the dummies enter, and D'W_g^2 Xd is not zero), so weighted CR2
puts the dummies' hat matrix back cluster by cluster: with D nested in the clusters, H = H_Xd + H_D
with H_D block-diagonal by cluster, and each cluster's G_g is a low-rank update of I built from the
cluster's rows of Xd and an orthonormal basis of its own dummies (:func:`evalkit.inference.cr2.
local_fe_basis`); equal to the dense CR2 of the dummy design to rounding (tests/test_absorb.py). It
costs an SVD of n_g x 2(K + levels in the cluster) per cluster and is refused, with the
alternatives, beyond :data:`evalkit.inference.cr2.FE_CR2_MAX_FLOPS` (e.g. 170 households in
each of 60 clusters of 670 rows; community x wave effects in a survey's communities cost nothing
like it). Fixed effects not nested in the clusters enter as demeaned dummy
columns (above), so they never need this.

References
----------
Gaure, S. (2013). OLS with multiple high dimensional category variables. Computational
Statistics & Data Analysis 66, 8-18.
Guimaraes, P. and Portugal, P. (2010). A simple feasible procedure to fit models with
high-dimensional fixed effects. Stata Journal 10(4), 628-649.
Berge, L. (2018). Efficient estimation of maximum likelihood models with multiple fixed-effects:
the R package FENmlm. CREA Discussion Papers 13 (fixest's ``ssc()``: ``fixef.K = "nested"``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import linalg, sparse

from ..errors import EstimationError, EvalkitError
from .cr2 import tall_crossprod

__all__ = ["fixef_codes", "demean", "nested_in", "fixef_dof", "dummies", "absorb_design", "DIRECT_MAX",
           "MAX_DUMMIES"]

DIRECT_MAX = 2000   # levels of the smaller factors solved directly (dense Schur complement)


def fixef_codes(data: pd.DataFrame, fixef: Sequence[Sequence[str]], formula: str) -> list[np.ndarray]:
    """Integer codes 0..L-1 of each fixed effect (-1 where a column is missing).

    ``fixef`` is a list of column tuples; a tuple of several columns (``community^wave``) is
    one fixed effect with a level per combination present.
    """
    out = []
    for cols in fixef:
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise EvalkitError(
                f"formula={formula!r}: fixed effect {'^'.join(cols)!r} names {missing[0]!r}, which is "
                "not a column of the data; available columns: "
                + ", ".join(map(str, data.columns[:20])) + (" ..." if len(data.columns) > 20 else "") + "."
            )
        if len(cols) == 1:
            codes, _ = pd.factorize(data[cols[0]], sort=False, use_na_sentinel=True)
            out.append(np.asarray(codes, dtype=np.int64))
        else:
            codes = data.groupby(list(cols), dropna=True, sort=False).ngroup()
            out.append(codes.fillna(-1).to_numpy(dtype=np.int64))     # rows with a missing column: -1
    return out


def _compact(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes renumbered 0..L-1 over the levels present (order kept), and L."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size == 0:
        return codes, 0
    present = np.bincount(codes) > 0
    if present.all():
        return codes, int(present.size)
    new = np.cumsum(present) - 1
    return new[codes], int(present.sum())


def dummies(codes: np.ndarray, drop_first: bool) -> np.ndarray:
    """Dense 0/1 columns of a factor (the first level left out if ``drop_first``)."""
    codes, L = _compact(codes)
    return (codes[:, None] == np.arange(int(drop_first), L)).astype(float)


def nested_in(codes: np.ndarray, cluster: np.ndarray) -> bool:
    """True if every level of the factor ``codes`` lies within one cluster."""
    codes, L = _compact(codes)
    first = np.empty(L, dtype=np.asarray(cluster).dtype)
    first[codes] = cluster                 # one cluster per level (the last written) ...
    return bool(np.array_equal(first[codes], cluster))   # ... and every row agrees with it


def fixef_dof(levels: Sequence[int], nested: Sequence[bool], k: int) -> int:
    """Parameters counted in the small-sample factor (N-1)/(N-k_df), as fixest's default
    ``ssc(adj = TRUE, fixef.K = "nested")`` and pyfixest's ``ssc(k_fixef="nonnested")``.

    ``k`` regressors, fixed effects with ``levels``; each fixed effect beyond the first loses
    one level (the reference), fixed effects nested in the clusters are not counted, and one
    parameter (their intercept) is counted back for each nested one (pyfixest
    ``utils.get_ssc``: ``k + k_fe - (n_fe - 1) - k_fe_nested + n_fe_fully_nested``).
    """
    n_fe = len(levels)
    if n_fe == 0:
        return k
    k_fe_adj = int(sum(levels)) - (n_fe - 1)
    k_nested = int(sum(L for L, n in zip(levels, nested) if n))
    n_nested = int(sum(bool(n) for n in nested))
    return k + k_fe_adj - k_nested + n_nested


def _onehot(codes: np.ndarray, L: int, drop_first: bool = False) -> sparse.csr_matrix:
    N = codes.size
    M = sparse.csr_matrix((np.ones(N), (np.arange(N), codes)), shape=(N, L))
    return M[:, 1:] if drop_first else M


def _group_means(M: np.ndarray, codes: np.ndarray, L: int, w: np.ndarray | None) -> np.ndarray:
    """(L x p) weighted means of the columns of ``M`` by group (``w`` None: unweighted)."""
    sw = np.bincount(codes, weights=w, minlength=L).astype(float)
    out = np.empty((L, M.shape[1]))
    for j in range(M.shape[1]):
        col = M[:, j] if w is None else M[:, j] * w
        out[:, j] = np.bincount(codes, weights=col, minlength=L)
    return out / sw[:, None]


def _minus_group_means(M: np.ndarray, codes: np.ndarray, L: int, w: np.ndarray | None) -> np.ndarray:
    """``M`` minus its weighted group means (column by column: one-dimensional gathers)."""
    means = _group_means(M, codes, L, w)
    out = np.empty(M.shape, order="F")
    for j in range(M.shape[1]):
        np.subtract(M[:, j], means[:, j][codes], out=out[:, j])
    return out


def _direct(M, codes, sizes, w):
    """Projection residuals by eliminating the largest factor and solving the Schur complement."""
    w = np.ones(M.shape[0]) if w is None else w
    order = np.argsort(sizes)[::-1]
    a_codes, La = codes[order[0]], sizes[order[0]]
    DA = _onehot(a_codes, La)
    DB = sparse.hstack([_onehot(codes[j], sizes[j], drop_first=True) for j in order[1:]], format="csr")
    Wd = sparse.diags(w)
    sa = np.bincount(a_codes, weights=w, minlength=La)
    C = (DA.T @ Wd @ DB).tocsr()                              # La x Lb
    S = (DB.T @ Wd @ DB).toarray() - (C.T @ sparse.diags(1.0 / sa) @ C).toarray()
    WM = M * w[:, None]
    rA = np.asarray(DA.T @ WM)
    rB = np.asarray(DB.T @ WM) - np.asarray(C.T @ (rA / sa[:, None]))
    try:
        cf = linalg.cho_factor(S, lower=False, check_finite=False)
        b = linalg.cho_solve(cf, rB, check_finite=False)
        # a (near-)singular complement can pass Cholesky with a useless solution: check it solves
        if not np.all(np.isfinite(b)) or (np.abs(S @ b - rB).max()
                                          > 1e-9 * max(np.abs(rB).max(), np.abs(S).max() * np.abs(b).max())):
            raise linalg.LinAlgError("near singular")
    except linalg.LinAlgError:
        # disconnected factors: the projection is unique, any least-squares solution gives it
        b = linalg.pinvh(S, atol=0, rtol=1e-10 * S.shape[0]) @ rB
    a = (rA - np.asarray(C @ b)) / sa[:, None]
    return M - a[a_codes] - np.asarray(DB @ b)


def _alternating(M, codes, sizes, w, tol, maxiter, formula):
    """Method of alternating projections (one weighted demeaning per factor per sweep)."""
    R = np.array(M, order="F")
    scale = np.maximum(np.abs(M).max(axis=0), 1.0)
    for it in range(maxiter):
        before = R.copy()
        for c, L in zip(codes, sizes):
            means = _group_means(R, c, L, w)
            for j in range(R.shape[1]):
                R[:, j] -= means[:, j][c]
        if np.max(np.abs(R - before) / scale) <= tol:
            return R
    raise EstimationError(
        f"Absorbing the fixed effects of {formula!r} did not converge in {maxiter} sweeps of "
        "alternating projections. Put the factor with fewer levels as C(...) dummies before the '|', "
        "or check for a fixed effect with very weakly connected levels."
    )


def demean(M: np.ndarray, codes: Sequence[np.ndarray], weights: np.ndarray | None = None, *,
           tol: float = 1e-13, maxiter: int = 10_000, formula: str = "") -> np.ndarray:
    """Residuals of the columns of ``M`` after projecting on the dummies of every factor.

    Parameters
    ----------
    M : numpy.ndarray
        (N x p) columns to demean (a 1-D array is one column).
    codes : sequence of numpy.ndarray
        Integer codes of each factor, one per row (no missing values).
    weights : numpy.ndarray, optional
        Positive weights (weighted projection, as for WLS).
    tol, maxiter : float, int
        Convergence of the alternating projections (used only with more than
        :data:`DIRECT_MAX` levels in the smaller factors).

    Returns
    -------
    numpy.ndarray
        Same shape as ``M``: ``M - D (D'WD)^- D'W M`` with D the dummies of all factors.
    """
    M = np.asarray(M, dtype=float)
    one = M.ndim == 1
    M2 = M[:, None] if one else M
    w = None if weights is None else np.asarray(weights, dtype=float)
    cc = [_compact(np.asarray(c)) for c in codes]
    codes_c, sizes = [c for c, _ in cc], [L for _, L in cc]
    if not codes_c:
        out = M2.copy()
    elif len(codes_c) == 1:
        out = _minus_group_means(M2, codes_c[0], sizes[0], w)
    elif sum(sizes) - max(sizes) <= DIRECT_MAX:
        out = _direct(M2, codes_c, sizes, w)
    else:
        out = _alternating(M2, codes_c, sizes, w, tol, maxiter, formula)
    return out[:, 0] if one else out


MAX_DUMMIES = 500   # non-nested fixed-effect levels kept as (demeaned) dummy columns


def _drop_redundant(Xd, k_x, extra):
    """Leave out fixed-effect dummy columns (after the first ``k_x``) that are zero or linear
    combinations of the others once the absorbed effects are projected out, as fixest does
    with redundant fixed-effect levels."""
    E = Xd[:, k_x:]
    gram = tall_crossprod(E)
    norm = np.sqrt(np.diag(gram))
    live = np.flatnonzero(norm > 1e-9 * np.sqrt(E.shape[0]))
    if live.size:
        # pivoted QR of the scaled Gram matrix: its diagonal falls like the squared singular values
        _, R, piv = linalg.qr(gram[np.ix_(live, live)] / np.outer(norm[live], norm[live]), pivoting=True)
        d = np.abs(np.diag(R))
        live = live[np.sort(piv[: int(np.sum(d > d[0] * 1e-12))])]
    if live.size == E.shape[1]:
        return Xd, list(extra)
    return np.hstack([Xd[:, :k_x], E[:, live]]), [extra[i] for i in live]


def absorb_design(parsed, y, X, names, fe, codes, w, vcov):
    """Demeaned outcome and design of :func:`evalkit.regress` with the fixed effects ``fe``.

    ``parsed`` is the :class:`~evalkit.inference.formula.ParsedFormula`, ``X`` the regressors
    (N x k), ``fe`` the fixed effects' codes and ``codes`` the cluster of each row.

    Fixed effects nested in the clusters are absorbed; the others become dummy columns
    (after the regressors; an intercept too when none is nested), demeaned by the nested
    ones. Returns ``(y, X, names, k_absorbed, absorbed)``; ``k_absorbed`` completes the design's
    columns to fixest's parameter count (:func:`~evalkit.inference.absorb.fixef_dof`) and
    ``absorbed`` holds the codes of the fixed effects projected out.
    """
    fe_names = parsed.fixef_names
    nested = [nested_in(c, codes) for c in fe]
    levels = [_compact(c)[1] for c in fe]
    k_df = fixef_dof(levels, nested, len(names))
    absorbed = [c for c, n in zip(fe, nested) if n]
    other = [(c, nm) for c, nm, n in zip(fe, fe_names, nested) if not n]
    n_dummies = sum(L - 1 for L, n in zip(levels, nested) if not n)
    if n_dummies > MAX_DUMMIES:
        if vcov == "CR2":
            big = ", ".join(repr(nm) for _, nm in other)
            raise EstimationError(
                f"{parsed.text!r}: the fixed effect(s) {big} are not nested in the clusters and have "
                f"{n_dummies} levels; exact CR2 needs them as dummy columns (at most {MAX_DUMMIES}). "
                "Use vcov='CR1' (the fixed effects are then absorbed), or cluster at a level that "
                "contains each of their levels."
            )
        absorbed, other = list(fe), []
    cols, extra = [X], []
    if other and not absorbed:
        cols.append(np.ones((len(y), 1)))
        extra.append("Intercept")
    for c, nm in other:
        D = dummies(c, drop_first=True)
        cols.append(D)
        extra += [f"{nm}[level no. {v + 1}]" for v in range(D.shape[1])]
    M = np.empty((len(y), 1 + sum(c.shape[1] for c in cols)), order="F")   # columns contiguous for bincount
    M[:, 0] = y
    j = 1
    for c in cols:
        M[:, j:j + c.shape[1]] = c
        j += c.shape[1]
    both = demean(M, absorbed, w, formula=parsed.text)
    yd, Xd = both[:, 0], both[:, 1:]
    if extra:
        Xd, extra = _drop_redundant(Xd, len(names), extra)
    before = np.sqrt(np.einsum("ij,ij->j", X, X))
    after = np.sqrt(np.einsum("ij,ij->j", Xd[:, :X.shape[1]], Xd[:, :X.shape[1]]))
    gone = [nm for nm, b, a in zip(names, before, after) if a <= 1e-9 * max(b, 1e-300)]
    if gone:
        raise EstimationError(
            f"{parsed.text!r}: {', '.join(map(repr, gone))} is constant within the fixed effects "
            f"{', '.join(map(repr, fe_names))} (collinear with them), so its coefficient is not "
            "identified. Remove it from the formula, or drop the fixed effect that absorbs it."
        )
    return yd, Xd, names + extra, k_df - Xd.shape[1], tuple(absorbed)
