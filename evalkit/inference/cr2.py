"""Cluster-robust variance of a least-squares fit: CR1 and CR2 (with Satterthwaite df).

Used by :func:`evalkit.regress` (:mod:`evalkit.inference.regress`), which builds the design and
the QR factorisation these work from; see its Notes for the formulas.

* :func:`cr1_vcov` — the Stata / statsmodels sandwich with small-sample factor
  :func:`cr1_factor` ``G/(G-1) * (N-1)/(N-K)``, from the cluster scores in QR coordinates;
* :func:`cr2_vcov` — Bell & McCaffrey's bias-reduced linearisation with the Satterthwaite
  degrees of freedom of Pustejovsky & Tipton (2018), as R ``clubSandwich`` for ``lm`` fits;
* :func:`chol_qr` (CholeskyQR2 on the distinct design cells) and :func:`cluster_slices`, the
  linear-algebra helpers they share with the fit.

(CR0 is ``cr1_vcov(...) / cr1_factor(G, N, K)``.)

References
----------
Bell, R. M. and McCaffrey, D. F. (2002). Bias reduction in standard errors for linear
regression with multi-stage samples. Survey Methodology 28(2), 169-181.
Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. Journal of Business & Economic
Statistics 36(4), 672-683.
Yamamoto, Y., Nakatsukasa, Y., Yanagisawa, Y. and Fukaya, T. (2015). Roundoff error analysis
of the CholeskyQR2 algorithm. Electronic Transactions on Numerical Analysis 44, 306-326.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

from ..errors import EstimationError

__all__ = ["cr1_factor", "cr1_vcov", "cr2_vcov", "chol_qr", "cluster_slices", "cluster_order", "cluster_sums",
           "tall_matmul", "tall_crossprod", "tri_inv"]


def cr1_factor(G: int, N: int, K: int) -> float:
    """Small-sample factor of CR1, ``G/(G-1) * (N-1)/(N-K)`` (Stata ``vce(cluster)``)."""
    return G / (G - 1) * (N - 1) / (N - K)


def cr1_vcov(T: np.ndarray, Qs_g: np.ndarray, N: int) -> np.ndarray:
    """CR1 variance ``cr1_factor * M (sum_g X_g'W_g e_g e_g'W_g X_g) M`` in QR coordinates.

    ``T`` (K x K) with M = (X'WX)^{-1} = T T' and ``Qs_g`` (G x K) the cluster scores
    Q_g'W_g^{1/2} e_g (so X_g'W_g e_g = T^{-T} Qs_g[g]).
    """
    G, K = Qs_g.shape
    return cr1_factor(G, N, K) * T @ (Qs_g.T @ Qs_g) @ T.T


# Row-chunked products on tall matrices. OpenBLAS splits a product over threads once
# m*n*k passes about 2**18; on a tall n x 5 design that is always, and when the cores are
# shared (a notebook next to other work) a thread-split product of a few milliseconds can
# stall for a tenth of a second. Chunks below that size run on one thread each: the same
# flops, no oversubscription, and results that do not depend on the number of BLAS threads.
_CHUNK = 1 << 17


def tall_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` for a tall ``A`` (n x k) and a small ``B`` (k x m, or k), by row chunks."""
    B2 = B[:, None] if B.ndim == 1 else B
    n, k = A.shape
    step = max(256, _CHUNK // max(1, k * B2.shape[1]))
    if n <= step:
        return A @ B
    out = np.empty((n, B2.shape[1]), dtype=np.result_type(A, B2))
    for a in range(0, n, step):
        np.matmul(A[a:a + step], B2, out=out[a:a + step])
    return out[:, 0] if B.ndim == 1 else out


def tall_crossprod(A: np.ndarray, B: np.ndarray | None = None, w: np.ndarray | None = None) -> np.ndarray:
    """``A' diag(w) B`` (``B`` defaults to ``A``, ``w`` to ones; ``B`` may be a vector) for tall
    ``A`` and ``B``, summed over row chunks."""
    B = A if B is None else B
    B2 = B[:, None] if B.ndim == 1 else B
    n, k = A.shape
    step = max(256, _CHUNK // max(1, k * B2.shape[1]))
    out = np.zeros((k, B2.shape[1]))
    for a in range(0, n, step):
        Aa = A[a:a + step] if w is None else A[a:a + step] * w[a:a + step, None]
        out += Aa.T @ B2[a:a + step]
    return out[:, 0] if B.ndim == 1 else out


def cluster_order(codes: np.ndarray, G: int) -> np.ndarray:
    """Stable order of the rows by cluster code 0..G-1 (a radix sort on small unsigned codes)."""
    small = np.uint16 if G <= np.iinfo(np.uint16).max else np.uint32 if G <= np.iinfo(np.uint32).max else np.int64
    return np.argsort(np.asarray(codes).astype(small, copy=False), kind="stable")


def cluster_slices(codes: np.ndarray, G: int) -> tuple[np.ndarray | None, list]:
    """Row selectors of each cluster: slices (views, no copies) when the data are sorted by
    cluster, index arrays otherwise."""
    if np.all(codes[1:] >= codes[:-1]):
        bounds = np.searchsorted(codes, np.arange(G + 1))
        return None, [slice(bounds[g], bounds[g + 1]) for g in range(G)]
    order = cluster_order(codes, G)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=G))])
    return order, [order[bounds[g]:bounds[g + 1]] for g in range(G)]


def cluster_sums(codes: np.ndarray, G: int, Q: np.ndarray, s: np.ndarray, n_c: np.ndarray | None):
    """Per-cluster ``(Q_g' diag(n_c) Q_g, Q_g's_g)`` (G x K x K and G x K) in one sorted pass.

    The rows are put in cluster order once (a copy of Q; no per-cluster gathers) and each
    cluster is a contiguous block.
    """
    K = Q.shape[1]
    if np.all(codes[1:] >= codes[:-1]):
        Qs, ss, ns = Q, s, n_c
    else:
        order = cluster_order(codes, G)
        Qs, ss = Q.take(order, axis=0), s[order]
        ns = None if n_c is None else n_c[order]
    counts = np.bincount(codes, minlength=G)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    QQ_g = np.empty((G, K, K))
    if G > LOOP_CLUSTERS_MAX and counts.min() > 0:
        # many small clusters: sums of row products over sorted blocks, no Python loop over G
        starts = bounds[:-1]
        Wq = Qs if ns is None else Qs * ns[:, None]
        for i in range(K):
            QQ_g[:, i, i:] = np.add.reduceat(Wq[:, i, None] * Qs[:, i:], starts, axis=0)
            QQ_g[:, i:, i] = QQ_g[:, i, i:]
        return QQ_g, np.add.reduceat(Qs * ss[:, None], starts, axis=0)
    Qs_g = np.empty((G, K))
    for g in range(G):
        a, b = bounds[g], bounds[g + 1]
        Qg = Qs[a:b]
        QQ_g[g] = (Qg.T @ Qg) if ns is None else (Qg * ns[a:b, None]).T @ Qg
        Qs_g[g] = ss[a:b] @ Qg
    return QQ_g, Qs_g


LOOP_CLUSTERS_MAX = 500   # cluster_sums: a loop of BLAS products up to this many clusters


def _sym_tol(n: int, scale: float) -> float:
    """Eigenvalues (or singular values) at or below this count as zero, for a symmetric
    n x n matrix of norm ``scale``: ``scale * max(1e-12, n * eps)``.

    clubSandwich's ``Sym_power(x, -1/2, tol = -12)`` drops eigenvalues below 1e-12 in
    absolute terms; its G_g has norm about 1, so this is the same rule made relative to the
    scale, and never tighter than :func:`numpy.linalg.matrix_rank`'s ``n * eps``. Zero
    eigenvalues of an absorbed cluster come out at a few dozen eps at most (measured over
    720 designs with singleton clusters, cluster fixed effects, covariates with mean 1e5
    and SD 10, lognormal weights); genuinely positive ones are many orders larger.
    """
    return scale * max(1e-12, n * np.finfo(float).eps)


def tri_inv(R: np.ndarray) -> np.ndarray:
    """Inverse of a small upper-triangular matrix (numpy's LU inverse, which needs no pivoting on
    a triangular matrix and equals back substitution here; scipy's ``solve_triangular`` costs
    milliseconds of thread start-up on a 5 x 5 matrix)."""
    return np.triu(np.linalg.inv(R))


def chol_qr(Xs: np.ndarray, n_c: np.ndarray | None, gram: np.ndarray | None = None,
            colscale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Q, R) with Xs = Q R, R upper triangular and Q' diag(n_c) Q = I to rounding error
    (``n_c`` None: unit weights; ``gram``: Xs' diag(n_c) Xs when the caller has it;
    ``colscale``: the columns of ``Xs`` are to be divided by it first, which is folded into the
    first K x K factor instead of copying the design).

    CholeskyQR2 (Yamamoto, Nakatsukasa, Yanagisawa & Fukaya 2015): two passes of
    Cholesky-QR on the weighted Gram matrix; orthogonal to machine precision when
    cond(Xs) < 1e8, which the rank check of :func:`regress` guarantees for the
    column-equilibrated design. Only BLAS-3 work on the distinct (design row, cluster)
    cells; the N rows enter through the cell weights ``n_c``. Each pass multiplies by the
    inverse of the K x K triangular factor (a matrix product on the long side instead of a
    triangular solve on a transposed copy, which is several times slower on a tall design).
    """
    Q, R = Xs, np.eye(Xs.shape[1])
    for k in range(2):
        if k == 0 and gram is not None:
            g = gram
        elif k == 0 and colscale is not None:
            g = tall_crossprod(Q, w=n_c) / np.outer(colscale, colscale)
        else:
            g = tall_crossprod(Q, w=n_c)
        Ri = linalg.cholesky(g, lower=False, check_finite=False)
        Rinv = tri_inv(Ri)
        Q = tall_matmul(Q, Rinv if k > 0 or colscale is None else Rinv / colscale[:, None])
        R = Ri @ R
    return Q, R


def _inv_sqrt_lowrank(C: np.ndarray, K: np.ndarray):
    """G = I + C K C' (n x n, K symmetric, G positive semi-definite) -> (Z, f) with the
    Moore-Penrose inverse square root G^{+1/2} = I + Z diag(f) Z'.

    Eigenvalues of G at or below :func:`_sym_tol` with scale ``max(1, ||C K C'||, largest
    eigenvalue)`` (the scale of the terms G is computed from) are zero: they get power 0,
    the Moore-Penrose inverse that CR2 uses when a cluster is absorbed by its own dummy
    (then I - H_gg is singular). Only the rank of C matters, so clusters with thousands of
    rows cost an n x m SVD, never an n x n matrix.
    """
    n, m = C.shape
    U, s, Vt = np.linalg.svd(C, full_matrices=False)
    keep = s > _sym_tol(max(n, m), s[0]) if s.size else np.zeros(0, dtype=bool)
    U, T = U[:, keep], s[keep, None] * Vt[keep]
    lam, E = np.linalg.eigh(T @ K @ T.T)
    ev = 1.0 + lam
    scale = max(1.0, float(np.max(np.abs(lam), initial=0.0)), float(np.max(ev, initial=0.0)))
    pos = ev > _sym_tol(max(n, m), scale)
    f = np.full(ev.shape, -1.0)
    f[pos] = 1.0 / np.sqrt(ev[pos]) - 1.0
    return U @ E, f


def _cr2_ols_cluster(Qc: np.ndarray, cnt: np.ndarray, s_e: np.ndarray, n_g: int):
    """One cluster's CR2 pieces for OLS from its cells, without touching its rows.

    The cluster's rows of Q are its cells' rows ``Qc`` repeated ``cnt`` times, so
    Gamma = Q_g'Q_g = sum_c cnt_c q_c q_c' and Q_g'e_g = sum_c q_c s_e,c (``s_e``: residual
    sums per cell). With Gamma = V diag(sigma^2) V', G_g = I - Q_g Q_g' has eigenvalues
    1 - sigma^2 (zero for directions absorbed by the cluster's own dummy) and
    G_g^{+1/2} = I + Q_g V diag(h) V' Q_g' with h = (1/sqrt(1 - sigma^2) - 1)/sigma^2
    = 1/(sqrt(1 - sigma^2)(1 + sqrt(1 - sigma^2))), or -1/sigma^2 where 1 - sigma^2 is zero.
    Then Qa_g = A_g Q_g = Q_g Phi with Phi = I + V diag(h) V' Gamma.
    Returns (Qa_g'e_g, Q_g'Qa_g, Q_g'Qa_g, Qa_g'Qa_g).
    """
    Gam = (Qc * cnt[:, None]).T @ Qc
    sig2, Vg = np.linalg.eigh(Gam)
    ev = 1.0 - sig2
    pos = ev > _sym_tol(max(n_g, Qc.shape[1]), 1.0)
    h = np.empty_like(ev)
    r = np.sqrt(ev[pos])
    h[pos] = 1.0 / (r * (1.0 + r))
    h[~pos] = -1.0 / sig2[~pos]
    Phi = np.eye(len(ev)) + (Vg * h) @ (Vg.T @ Gam)
    U = Gam @ Phi
    return Phi.T @ (Qc.T @ s_e), U, U, Phi.T @ U


def _cr2_ols_batched(Qc: np.ndarray, cnt: np.ndarray, s_e: np.ndarray, cell_cluster: np.ndarray, G: int):
    """:func:`_cr2_ols_cluster` for all clusters at once (many small clusters: stacked K x K
    eigendecompositions instead of a Python loop). Returns (adj, U, DD) stacked over clusters."""
    K = Qc.shape[1]
    Gam, QtS = cluster_sums(cell_cluster, G, Qc, s_e, cnt)
    n_g = np.bincount(cell_cluster, weights=cnt, minlength=G)
    sig2, Vg = np.linalg.eigh(Gam)
    ev = 1.0 - sig2
    pos = ev > (np.maximum(1e-12, np.maximum(n_g, K) * np.finfo(float).eps))[:, None]
    r = np.sqrt(np.where(pos, ev, 1.0))
    with np.errstate(divide="ignore"):
        h = np.where(pos, 1.0 / (r * (1.0 + r)), -1.0 / np.where(pos, 1.0, sig2))
    Phi = np.eye(K) + (Vg * h[:, None, :]) @ (np.swapaxes(Vg, 1, 2) @ Gam)
    U = Gam @ Phi
    PhiT = np.swapaxes(Phi, 1, 2)
    return np.einsum("gij,gj->gi", PhiT, QtS), U, PhiT @ U


def _cr2_wls_cluster(Qr: np.ndarray, w: np.ndarray, e: np.ndarray, Kmat: np.ndarray):
    """One cluster's CR2 pieces for WLS from its rows.

    ``Qr`` are the cluster's rows of S^{-1}Q (S = W^{1/2}; the rows of Q divided by
    sqrt(w)), so G_g = I + C Kmat C' with C = [S^{-1}Q_g, S Q_g] = [Qr, W_g Qr] and
    Kmat = [[Q'WQ, -I], [-I, 0]]. Returns (Qa_g'e_g, Q_g'S_g^{-1}Qa_g, Q_g'S_g Qa_g,
    Qa_g'Qa_g) with Qa_g = A_g S_g Q_g = A_g W_g Qr.
    """
    WQ = Qr * w[:, None]
    Z, f = _inv_sqrt_lowrank(np.hstack([Qr, WQ]), Kmat)
    Qa = WQ + Z @ (f[:, None] * (Z.T @ WQ))
    return Qa.T @ e, Qr.T @ Qa, WQ.T @ Qa, Qa.T @ Qa


def local_fe_basis(fe_codes, w: np.ndarray) -> np.ndarray:
    """(n_g x r) basis Dh of the span of one cluster's fixed-effect dummies with Dh'W Dh = I.

    ``fe_codes``: the codes of each absorbed fixed effect on the cluster's rows (all nested in
    the cluster). The factor with most levels is taken in closed form (its dummies divided by
    the square root of each level's weight sum); the columns of each further factor are
    W-orthogonalised against the basis so far and the independent directions kept (SVD).
    """
    sq = np.sqrt(w)
    facs = [np.unique(np.asarray(c), return_inverse=True)[1].ravel() for c in fe_codes]
    facs.sort(key=lambda c: -int(c.max(initial=-1)) - 1)
    c0 = facs[0]
    L0 = int(c0.max()) + 1
    B = np.zeros((c0.size, L0))
    B[np.arange(c0.size), c0] = 1.0 / np.sqrt(np.bincount(c0, weights=w, minlength=L0))[c0]
    for c in facs[1:]:
        D = np.zeros((c.size, int(c.max()) + 1))
        D[np.arange(c.size), c] = 1.0
        D -= B @ (B.T @ (D * w[:, None]))                  # W-orthogonal to the basis so far
        U, s, Vt = np.linalg.svd(D * sq[:, None], full_matrices=False)
        keep = s > _sym_tol(max(D.shape), max(s[0] if s.size else 0.0, 1.0))
        if keep.any():
            B = np.hstack([B, D @ (Vt[keep].T / s[keep])])
    return B


def _cr2_wls_fe_cluster(Qr: np.ndarray, w: np.ndarray, e: np.ndarray, Sw: np.ndarray, Dh: np.ndarray):
    """One cluster's CR2 pieces for WLS when fixed effects nested in the cluster are absorbed.

    The full model is Z = [Xd, D] (Xd demeaned by the fixed effects, W-orthogonal to D, so the
    bread is block diagonal and H = Xd M Xd'W + D (D'WD)^- D'W, the second term zero outside
    the cluster's own block). With ``Qr`` the cluster's rows of Xd T (T T' = M; the rows of
    S^{-1}Q) and ``Dh`` an orthonormal basis of the cluster's dummies (Dh'W_g Dh = I),
    Y = [Qr, Dh] gives H_gg = Y Y'W_g and, summing over the other clusters,
    G_g = (I - H_gg)(I - H_gg)' + Qr (Sw - Qr'W_g^2 Qr) Qr' = I + C K C' with C = [Y, W_g Y],
    K = [[Y'W_g^2 Y + blockdiag(Sw - Qr'W_g^2 Qr, 0), -I], [-I, 0]]. The Satterthwaite pieces
    use (I - H)'_(.g) q = [q - W_g Dh Dh'q on the cluster] - W Xd M Xd_g'q: the |q|^2 and v
    terms of the plain WLS case with q replaced by qt = q - W_g Dh Dh'q.
    Returns (Qa_g'e_g, Qr'Qa_g, (W_g Qr)'Qt_g, Qt_g'Qt_g).
    """
    K, r = Qr.shape[1], Dh.shape[1]
    Y = np.hstack([Qr, Dh])
    WY = Y * w[:, None]
    top = WY.T @ WY
    top[:K, :K] += Sw - (Qr * (w * w)[:, None]).T @ Qr
    m = K + r
    Kmat = np.block([[top, -np.eye(m)], [-np.eye(m), np.zeros((m, m))]])
    Z, f = _inv_sqrt_lowrank(np.hstack([Y, WY]), Kmat)
    WQ = WY[:, :K]
    Qa = WQ + Z @ (f[:, None] * (Z.T @ WQ))
    Qt = Qa - (Dh * w[:, None]) @ (Dh.T @ Qa)
    return Qa.T @ e, Qr.T @ Qa, WQ.T @ Qt, Qt.T @ Qt


FE_CR2_MAX_FLOPS = 2e9   # weighted CR2 with absorbed fixed effects: refused beyond (about 10 s on a shared machine)


def _check_fe_cr2_size(codes, absorbed, G, K) -> None:
    """Refuse weighted CR2 whose per-cluster work (an n_g x 2(K + levels_g) SVD per cluster)
    would take minutes, naming the sizes and the alternatives."""
    n_g = np.bincount(codes, minlength=G).astype(float)
    lev = np.zeros(G)
    for c in absorbed:
        pairs = np.unique(np.asarray(codes, dtype=np.int64) * (int(np.max(c)) + 1) + c)
        lev += np.bincount(pairs // (int(np.max(c)) + 1), minlength=G)
    flops = float(np.sum(4.0 * n_g * (2.0 * (K + lev)) ** 2))
    if flops > FE_CR2_MAX_FLOPS:
        raise EstimationError(
            f"CR2 with regression weights and absorbed fixed effects needs, per cluster, the hat matrix "
            f"of the fixed-effect dummies (up to {int(lev.max())} levels in a cluster of {int(n_g.max())} "
            f"rows here: about {flops:.0e} floating-point operations, too long to wait for). Use "
            "vcov='CR1', or CR2 without weights (exact from the demeaned design at any size), or absorb "
            "a coarser fixed effect (e.g. community^wave instead of household).")


def cr2_vcov(Qc, T, cell, codes, cell_cluster, e, w, absorbed=()):
    """CR2 variance and Satterthwaite df, clubSandwich's lm method (target = identity).

    Returns (V, df). Working model Theta = I and weight matrix W = diag(w) (W = I for OLS),
    so G_g = I - H_gg - H_gg' + X_g M X'W^2X M X_g' with H_gg = X_g M X_g' W_g, A_g =
    G_g^{+1/2}; V = sum_g M X_g'W_g A_g e_g e_g' A_g W_g X_g M.

    Everything is computed from the QR factorisation of the column-equilibrated,
    sqrt(w)-weighted design, S X D^{-1} = Q R (S = W^{1/2}, D = column norms; row i of Q
    is sqrt(w_i) times its cell's row of ``Qc``), never from M = (X'WX)^{-1}: H =
    S^{-1} Q Q' S, so for OLS G_g = I - Q_g Q_g', whose eigenvalues 1 - sigma^2 (sigma:
    singular values of Q_g, at most 1) are zero to rounding error when a cluster is
    absorbed by its own dummy, whatever the scale or conditioning of the covariates; for
    WLS G_g = I - S^{-1}Q_gQ_g'S - SQ_gQ_g'S^{-1} + S^{-1}Q_g (Q'WQ) Q_g'S^{-1}. With
    T = D^{-1}R^{-1} (M = T T') the CR2 contrast vectors are q_g(c) = A_g S_g Q_g T'c.

    ``absorbed`` (WLS only): codes of fixed effects nested in the clusters that were projected
    out of the design; their dummies enter H_gg cluster by cluster (:func:`_cr2_wls_fe_cluster`),
    which gives clubSandwich's CR2 of the full dummy regression. (For OLS the demeaned design
    alone gives it; see :mod:`evalkit.inference.absorb`.)
    """
    n_cells, K = Qc.shape
    G = int(cell_cluster.max()) + 1
    cnt = np.bincount(cell, minlength=n_cells).astype(float)
    I = np.eye(K)
    adj = np.empty((G, K))
    Ua = np.empty((G, K, K))  # Q_g'S_g^{-1} Qa_g
    Va = np.empty((G, K, K))  # Q_g'S_g Qa_g
    DD = np.empty((G, K, K))  # Qa_g'Qa_g
    if w is None:
        Sw = I
        s_e = np.bincount(cell, weights=e, minlength=n_cells)
        if G > LOOP_CLUSTERS_MAX:
            adj, Ua, DD = _cr2_ols_batched(Qc, cnt, s_e, cell_cluster, G)
            Va = Ua
        else:
            _, cslices = cluster_slices(cell_cluster, G)
            for g, idx in enumerate(cslices):
                adj[g], Ua[g], Va[g], DD[g] = _cr2_ols_cluster(Qc[idx], cnt[idx], s_e[idx],
                                                               int(cnt[idx].sum()))
    else:
        Sw = (Qc * np.bincount(cell, weights=w * w, minlength=n_cells)[:, None]).T @ Qc
        Kmat = np.block([[Sw, -I], [-I, np.zeros((K, K))]])
        _, slices = cluster_slices(codes, G)
        if absorbed:
            _check_fe_cr2_size(codes, absorbed, G, K)
        for g, idx in enumerate(slices):
            if absorbed:
                Dh = local_fe_basis([c[idx] for c in absorbed], w[idx])
                adj[g], Ua[g], Va[g], DD[g] = _cr2_wls_fe_cluster(Qc[cell[idx]], w[idx], e[idx], Sw, Dh)
            else:
                adj[g], Ua[g], Va[g], DD[g] = _cr2_wls_cluster(Qc[cell[idx]], w[idx], e[idx], Kmat)
    V = T @ (adj.T @ adj) @ T.T
    # Satterthwaite (Pustejovsky & Tipton 2018, eq. 11; clubSandwich's get_P_array):
    # P_ij = q_i'(I-H)_i. (I-H)_j.' q_j under Theta = I, which in Q coordinates is
    # delta_ij |q_i|^2 - u_i'v_j - v_i'u_j + u_i'(Q'WQ)u_j with u_i = Q_i'S_i^{-1}q_i,
    # v_i = Q_i'S_i q_i; df = tr(P)^2 / sum(P^2).
    df = np.empty(K)
    for k in range(K):
        a = T[k]
        df[k] = _satterthwaite(Ua @ a, Va @ a, Sw, np.einsum("gij,i,j->g", DD, a, a))
    return V, df


DENSE_P_MAX = 2000   # clusters up to which the G x G Satterthwaite matrix P is formed


def _satterthwaite(U: np.ndarray, Vv: np.ndarray, Sw: np.ndarray, dd: np.ndarray) -> float:
    """``tr(P)^2 / sum(P^2)`` for P = -U V' - V U' + U Sw U' + diag(dd) (U, V: G x K).

    Up to :data:`DENSE_P_MAX` clusters P is formed; beyond, P = L M L' + diag(dd) with
    L = [U, V] and M = [[Sw, -I], [-I, 0]] gives tr(P) = sum_g (l_g'M l_g + dd_g) and
    sum(P^2) = tr(M L'L M L'L) + 2 sum_g dd_g l_g'M l_g + sum_g dd_g^2 from 2K x 2K matrices
    (clustering by household: 42,000 clusters would need a 14 GB P)."""
    G, K = U.shape
    if G <= DENSE_P_MAX:
        P = -(U @ Vv.T) - (Vv @ U.T) + U @ Sw @ U.T
        P[np.diag_indices(G)] += dd
        return float(np.trace(P) ** 2 / np.sum(P * P))
    L = np.hstack([U, Vv])
    M = np.block([[Sw, -np.eye(K)], [-np.eye(K), np.zeros((K, K))]])
    diagA = np.einsum("gi,ij,gj->g", L, M, L)
    MG = M @ (L.T @ L)
    total = float(np.sum(MG * MG.T)) + 2.0 * float(dd @ diagA) + float(dd @ dd)
    return float(np.sum(diagA + dd) ** 2 / total)
