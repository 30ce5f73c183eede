"""Linear regression with cluster-robust inference for few clusters.

:func:`regress` fits an OLS or WLS regression from a statsmodels/patsy formula
(``y ~ treat + C(community) + C(wave)``) and reports cluster-robust standard errors:

* ``vcov="CR2"`` (default): the bias-reduced linearisation of Bell & McCaffrey (2002)
  with Satterthwaite degrees of freedom per coefficient, as R
  ``clubSandwich::coef_test(fit, vcov = "CR2", cluster = ..., test = "Satterthwaite")``
  (Pustejovsky & Tipton 2018);
* ``vcov="CR1"``: the Stata / statsmodels small-sample corrected sandwich
  ``G/(G-1) * (N-1)/(N-K)`` with t(G-1) reference distribution.

Only the design matrices come from statsmodels' formula machinery (patsy in
statsmodels 0.15); all linear algebra is done here with numpy.

With few clusters (the Dongying evaluation has 14 communities) neither is trusted for the
headline result: :meth:`RegressionResult.wild_bootstrap` (wild cluster restricted
bootstrap, :mod:`evalkit.inference.core`) and :func:`evalkit.inference.core.headline` are.

References
----------
Bell, R. M. and McCaffrey, D. F. (2002). Bias reduction in standard errors for linear
regression with multi-stage samples. Survey Methodology 28(2), 169-181.
Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. Journal of Business & Economic
Statistics 36(4), 672-683.
Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to cluster-robust
inference. Journal of Human Resources 50(2), 317-372.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import linalg, stats

from .._literals import MissingAction, VcovType, check_choice
from ..errors import EstimationError, EvalkitError

__all__ = ["regress", "RegressionResult"]


# ---------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------

def _column_or_array(data: pd.DataFrame, value: Any, argument: str) -> tuple[np.ndarray, str | None]:
    """Resolve ``cluster=`` / ``weights=``: a column name of ``data`` or an array of len(data)."""
    if isinstance(value, str):
        if value not in data.columns:
            raise EvalkitError(
                f"{argument}={value!r} is not a column of the data; available columns: "
                + ", ".join(map(str, data.columns[:20]))
                + (" ..." if len(data.columns) > 20 else "")
                + "."
            )
        return data[value].to_numpy(), value
    arr = np.asarray(value)
    if arr.ndim != 1 or len(arr) != len(data):
        raise EvalkitError(
            f"{argument} must be a column name or a 1-D array with one entry per row "
            f"({len(data)} rows); got shape {arr.shape}."
        )
    return arr, None


def _isna(values: np.ndarray) -> np.ndarray:
    return pd.isna(pd.Series(values)).to_numpy()


def _formula_columns(formula: str, data: pd.DataFrame) -> list[str]:
    """Columns of ``data`` whose names occur in ``formula`` (to name them in error messages)."""
    found = []
    for col in data.columns:
        name = str(col)
        if re.search(r"(?<![\w.])" + re.escape(name) + r"(?![\w.])", formula):
            found.append(col)
    return found


_SIMPLE_RHS = re.compile(r"^[\s\w.+*:\-()]*$")


def _simple_rhs(rhs: str) -> bool:
    """True if the right-hand side uses no function other than C(...) (no stateful transforms).

    Then the design matrix of a row depends only on that row's values, and it can be built
    once per distinct combination of the right-hand-side variables.
    """
    stripped = re.sub(r"\bC\(\s*[\w.]+\s*\)", "", rhs)
    return "(" not in stripped and bool(_SIMPLE_RHS.match(rhs))


def _build_matrices(formula: str, data: pd.DataFrame):
    """(y, Xu, grp, names, keep): outcome, distinct design rows ``Xu`` with the design row
    of each data row ``X = Xu[grp]``, column names, and the rows without missing values.

    Design matrices come from statsmodels' FormulaManager (patsy in statsmodels 0.15).
    When the right-hand side is plain variables and ``C(...)`` factors, the design is built
    on the distinct rows of the right-hand-side variables (a few dozen for a community x
    wave panel) and expanded: patsy converts categorical values one Python object at a
    time, which costs seconds on 100,000+ rows. The columns and names are the same.
    """
    from statsmodels.formula._manager import FormulaManager

    if not isinstance(formula, str) or "~" not in formula:
        raise EvalkitError(
            f"formula={formula!r} must be a string with an outcome on the left of '~', "
            "e.g. 'y ~ treat + C(community) + C(wave)'."
        )
    lhs, rhs = formula.split("~", 1)
    if not lhs.strip():
        raise EvalkitError(f"formula={formula!r} has no outcome on the left of '~'.")
    n = len(data)
    try:
        # outcome
        if lhs.strip() in data.columns:
            yv = pd.to_numeric(data[lhs.strip()], errors="coerce").to_numpy(dtype=float)
            if data[lhs.strip()].notna().sum() != np.isfinite(yv).sum():
                raise EvalkitError(
                    f"The outcome {lhs.strip()!r} has non-numeric values; convert it to numbers."
                )
        else:
            ydf = FormulaManager().get_matrices(f"{lhs} - 1", data, eval_env=1, pandas=True,
                                                na_action="drop")
            if ydf.shape[1] != 1:
                raise EvalkitError(
                    f"The outcome {lhs.strip()!r} expands to {ydf.shape[1]} columns; use a "
                    "numeric outcome."
                )
            yv = np.full(n, np.nan)
            yv[ydf.index.to_numpy()] = ydf.to_numpy(dtype=float)[:, 0]
        # design
        cols = _formula_columns(rhs, data)
        if cols and _simple_rhs(rhs):
            grp = data.groupby(cols, dropna=False, sort=False).ngroup().to_numpy()
            _, first = np.unique(grp, return_index=True)
            uniq = data.iloc[first][cols].reset_index(drop=True)
            Xu = FormulaManager().get_matrices("~" + rhs, uniq, eval_env=1, pandas=True,
                                               na_action="drop")
            names = [str(c) for c in Xu.columns]
            Xfull = np.full((len(uniq), Xu.shape[1]), np.nan)
            Xfull[Xu.index.to_numpy()] = Xu.to_numpy(dtype=float)
        else:
            Xd = FormulaManager().get_matrices("~" + rhs, data, eval_env=1, pandas=True,
                                               na_action="drop")
            names = [str(c) for c in Xd.columns]
            Xfull = np.full((n, Xd.shape[1]), np.nan)
            Xfull[Xd.index.to_numpy()] = Xd.to_numpy(dtype=float)
            grp = np.arange(n)
    except EvalkitError:
        raise
    except Exception as exc:  # patsy raises PatsyError/NameError with its own message
        raise EvalkitError(
            f"Could not build the design matrices for formula {formula!r}: {exc}. "
            "Check that every variable in the formula is a column of the data."
        ) from exc
    keep = np.isfinite(yv) & np.all(np.isfinite(Xfull), axis=1)[grp]
    return yv, Xfull, grp, names, keep


# ---------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------

@dataclass
class RegressionResult:
    """A fitted OLS/WLS regression with cluster-robust (CR2 or CR1) inference.

    Attributes
    ----------
    formula : str
        The model formula.
    params : pandas.Series
        Coefficient estimates, indexed by term name (patsy's names, e.g. ``C(wave)[T.2016]``).
    vcov : pandas.DataFrame
        The cluster-robust variance matrix (CR2 or CR1, see ``vcov_type``).
    vcov_type : {"CR2", "CR1"}
        The variance estimator.
    df : pandas.Series
        Degrees of freedom of each coefficient's t reference distribution: Satterthwaite
        (CR2) or G - 1 (CR1).
    n : int
        Number of observations used.
    n_clusters : int
        Number of clusters G.
    n_dropped : int
        Rows dropped for missing values (only with ``missing="drop"``; else 0).
    weighted : bool
        Whether the model was fitted by weighted least squares.
    cluster_name : str or None
        Name of the cluster column, if given by name.
    """

    formula: str
    params: pd.Series
    vcov: pd.DataFrame
    vcov_type: str
    df: pd.Series
    n: int
    n_clusters: int
    n_dropped: int
    weighted: bool
    cluster_name: str | None
    # what the bootstrap and randomization inference need (not part of the public API)
    _Xc: np.ndarray = field(repr=False)             # distinct (design row, cluster) rows
    _cell: np.ndarray = field(repr=False)           # cell of each observation: X = _Xc[_cell]
    _y: np.ndarray = field(repr=False)
    _w: np.ndarray | None = field(repr=False)
    _cluster_codes: np.ndarray = field(repr=False)
    _cluster_labels: np.ndarray = field(repr=False)
    # In the coordinates of the QR factor Q of the weighted design (W^{1/2} X = Q T^{-1},
    # Q'Q = I, coefficients b = T theta), where (X'WX)^{-1} is the identity: the wild
    # bootstrap's closed forms stay accurate whatever the scale of the covariates.
    _T: np.ndarray = field(repr=False)              # K x K: b = T theta, (X'WX)^-1 = T T'
    _QQ_g: np.ndarray = field(repr=False)           # G x K x K: Q_g'Q_g
    _Qs_g: np.ndarray = field(repr=False)           # G x K: Q_g' W_g^{1/2} e_g (cluster scores)
    _vcov_cr1: np.ndarray = field(repr=False)
    level: float = 0.95

    # -- basic accessors ----------------------------------------------------
    @property
    def _X(self) -> np.ndarray:
        """The N x K design matrix (built on demand)."""
        return self._Xc[self._cell]

    @property
    def terms(self) -> list[str]:
        """Coefficient names in design-matrix order."""
        return list(self.params.index)

    @property
    def se(self) -> pd.Series:
        """Cluster-robust standard errors (square roots of the diagonal of ``vcov``)."""
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.params.index, name="se")

    @property
    def n_params(self) -> int:
        return len(self.params)

    def _term_index(self, term: str) -> int:
        if term not in self.params.index:
            raise EvalkitError(
                f"term={term!r} is not a coefficient of {self.formula!r}; coefficients are: "
                + ", ".join(map(repr, self.params.index)) + "."
            )
        return int(self.params.index.get_loc(term))

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """One row per coefficient.

        Parameters
        ----------
        level : float, optional
            Confidence level of ``ci_low``/``ci_high`` (default: the result's, 0.95).

        Returns
        -------
        pandas.DataFrame
            Columns ``term`` (coefficient name), ``estimate``, ``se`` (CR2 or CR1),
            ``df`` (Satterthwaite for CR2, G - 1 for CR1), ``t`` (estimate / se),
            ``p_value`` (two-sided, t(df)), ``ci_low``, ``ci_high`` (estimate -/+ t quantile
            times se).
        """
        level = self.level if level is None else float(level)
        if not 0 < level < 1:
            raise EvalkitError(f"level={level!r} must be between 0 and 1, e.g. 0.95.")
        est = self.params.to_numpy()
        se = self.se.to_numpy()
        df = self.df.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            t = est / se
        p = 2 * stats.t.sf(np.abs(t), df)
        q = stats.t.ppf(0.5 + level / 2, df)
        return pd.DataFrame({
            "term": self.params.index.astype(str),
            "estimate": est,
            "se": se,
            "df": df,
            "t": t,
            "p_value": p,
            "ci_low": est - q * se,
            "ci_high": est + q * se,
        })

    def wild_bootstrap(self, term: str, *, B: int = 9999, weights: str = "webb",
                       impose_null: bool = True, seed: int | None = None,
                       level: float = 0.95, null: float = 0.0):
        """Wild cluster (restricted) bootstrap test and confidence interval for one coefficient.

        See :func:`evalkit.inference.core.wild_cluster_bootstrap`, which this calls.
        """
        from .core import wild_cluster_bootstrap

        return wild_cluster_bootstrap(self, term, B=B, weights=weights, impose_null=impose_null,
                                      seed=seed, level=level, null=null)

    # -- display ------------------------------------------------------------
    @property
    def summary(self) -> str:
        """A short text summary: model, sample, variance estimator and the coefficient table."""
        how = "WLS" if self.weighted else "OLS"
        dfnote = ("Satterthwaite df (Pustejovsky & Tipton 2018)" if self.vcov_type == "CR2"
                  else f"t({self.n_clusters - 1}) reference")
        dropped = f", {self.n_dropped} rows dropped for missing values" if self.n_dropped else ""
        head = (f"{how} {self.formula}: n = {self.n}, {self.n_clusters} clusters{dropped}\n"
                f"{self.vcov_type} cluster-robust SE, {dfnote}")
        if self.n_clusters < 50:
            head += ("\nFew clusters: use evalkit.inference.core.headline() or .wild_bootstrap() "
                     "for the headline p-value and CI.")
        return head + "\n" + self.tidy().to_string(index=False, float_format=lambda v: f"{v:.4g}")

    def __repr__(self) -> str:
        return f"RegressionResult({self.formula!r}, n={self.n}, clusters={self.n_clusters}, vcov={self.vcov_type})"

    def _repr_html_(self) -> str:
        how = "WLS" if self.weighted else "OLS"
        cap = html.escape(f"{how} {self.formula} — n = {self.n}, {self.n_clusters} clusters, "
                          f"{self.vcov_type} SE")
        return (f"<p><b>{cap}</b></p>"
                + self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4g}"))


# ---------------------------------------------------------------------------
# Cluster-robust variance estimators
# ---------------------------------------------------------------------------

def _cluster_slices(codes: np.ndarray, G: int) -> tuple[np.ndarray | None, list]:
    """Row selectors of each cluster: slices (views, no copies) when the data are sorted by
    cluster, index arrays otherwise."""
    if np.all(codes[1:] >= codes[:-1]):
        bounds = np.searchsorted(codes, np.arange(G + 1))
        return None, [slice(bounds[g], bounds[g + 1]) for g in range(G)]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(G + 1))
    return order, [order[bounds[g]:bounds[g + 1]] for g in range(G)]


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


def _chol_qr(Xs: np.ndarray, n_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Q, R) with Xs = Q R, R upper triangular and Q' diag(n_c) Q = I to rounding error.

    CholeskyQR2 (Yamamoto, Nakatsukasa, Yanagisawa & Fukaya 2015): two passes of
    Cholesky-QR on the weighted Gram matrix; orthogonal to machine precision when
    cond(Xs) < 1e8, which the rank check of :func:`regress` guarantees for the
    column-equilibrated design. Only BLAS-3 work on the distinct (design row, cluster)
    cells; the N rows enter through the cell weights ``n_c``.
    """
    Q, R = Xs, np.eye(Xs.shape[1])
    for _ in range(2):
        Ri = linalg.cholesky((Q * n_c[:, None]).T @ Q, lower=False, check_finite=False)
        Q = linalg.solve_triangular(Ri, Q.T, trans="T", check_finite=False).T
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


def _cr2(Qc, T, cell, codes, cell_cluster, e, w):
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
        _, cslices = _cluster_slices(cell_cluster, G)
        for g, idx in enumerate(cslices):
            adj[g], Ua[g], Va[g], DD[g] = _cr2_ols_cluster(Qc[idx], cnt[idx], s_e[idx],
                                                           int(cnt[idx].sum()))
    else:
        Sw = (Qc * np.bincount(cell, weights=w * w, minlength=n_cells)[:, None]).T @ Qc
        Kmat = np.block([[Sw, -I], [-I, np.zeros((K, K))]])
        _, slices = _cluster_slices(codes, G)
        for g, idx in enumerate(slices):
            adj[g], Ua[g], Va[g], DD[g] = _cr2_wls_cluster(Qc[cell[idx]], w[idx], e[idx], Kmat)
    V = T @ (adj.T @ adj) @ T.T
    # Satterthwaite (Pustejovsky & Tipton 2018, eq. 11; clubSandwich's get_P_array):
    # P_ij = q_i'(I-H)_i. (I-H)_j.' q_j under Theta = I, which in Q coordinates is
    # delta_ij |q_i|^2 - u_i'v_j - v_i'u_j + u_i'(Q'WQ)u_j with u_i = Q_i'S_i^{-1}q_i,
    # v_i = Q_i'S_i q_i; df = tr(P)^2 / sum(P^2).
    df = np.empty(K)
    for k in range(K):
        a = T[k]
        Uk, Vk = Ua @ a, Va @ a                                   # G x K
        P = -(Uk @ Vk.T) - (Vk @ Uk.T) + Uk @ Sw @ Uk.T
        P[np.diag_indices(G)] += np.einsum("gij,i,j->g", DD, a, a)
        df[k] = np.trace(P) ** 2 / np.sum(P * P)
    return V, df


def _fit_cells(formula, names, y, Xu, grp, codes, G, w, vcov):
    """The fit from (design row, cluster) cells: coefficients, CR1 and requested variance.

    Rows sharing a design row and a cluster form a cell. Everything CR1 and the bootstrap
    need is a sum over cells (X'WX, X'Wy, X_g'W_g X_g, X_g'W_g e_g), so the N rows are only
    touched by bincount; with a community x wave design there are a few dozen cells.
    Returns a dict with ``beta, V, df, V1, Xc, cell, T, QQ_g, Qs_g``.
    """
    N, K = len(y), Xu.shape[1]
    key = grp.astype(np.int64) * G + codes
    ukey, cell = np.unique(key, return_inverse=True)
    cell = cell.ravel()
    Xc = Xu[ukey // G]
    cell_cluster = (ukey % G).astype(np.intp)
    wt = np.ones(N) if w is None else w
    n_c = np.bincount(cell, weights=wt, minlength=len(ukey))
    sy_c = np.bincount(cell, weights=wt * y, minlength=len(ukey))
    XtWX = (Xc * n_c[:, None]).T @ Xc
    # rank check on the column-scaled Gram matrix; name the collinear columns by pivoted QR
    scale = np.sqrt(np.diag(XtWX))
    scale[scale == 0] = 1.0
    ev = np.linalg.eigvalsh(XtWX / np.outer(scale, scale))
    if ev[0] <= 1e-11 * ev[-1]:
        _, R, piv = linalg.qr(Xc * np.sqrt(n_c)[:, None] / scale, mode="economic", pivoting=True)
        diagR = np.abs(np.diag(R))
        rank = int(np.sum(diagR > diagR[0] * 1e-6))
        bad = [names[i] for i in sorted(piv[max(rank, 1) if rank < K else K - 1:])]
        raise EstimationError(
            f"The design of {formula!r} is rank deficient: {', '.join(map(repr, bad))} "
            "is collinear with the other columns (e.g. a treatment indicator that is "
            "constant within the fixed effects, or a level with no observations). "
            "Remove it from the formula."
        )
    # QR of the column-equilibrated weighted design (cell level): the bread M = T T', the
    # coefficients by QR least squares and the CR2 adjustment all come from it, so a
    # covariate in the thousands costs no digits and rescaling it changes nothing
    Qc, R = _chol_qr(Xc / scale, n_c)
    T = linalg.solve_triangular(R, np.eye(K), check_finite=False) / scale[:, None]
    theta = Qc.T @ sy_c
    beta = T @ theta
    fit_c = Qc @ theta                       # = Xc @ beta
    s_c = sy_c - n_c * fit_c                 # sum_i in cell of w_i e_i
    QQ_g = np.empty((G, K, K))
    Qs_g = np.empty((G, K))
    _, cslices = _cluster_slices(cell_cluster, G)
    for g, idx in enumerate(cslices):
        Qg = Qc[idx]
        QQ_g[g] = (Qg * n_c[idx, None]).T @ Qg
        Qs_g[g] = Qg.T @ s_c[idx]
    ssc = G / (G - 1) * (N - 1) / (N - K)
    V1 = ssc * T @ (Qs_g.T @ Qs_g) @ T.T
    if vcov == "CR1":
        V = V1
        df = np.full(K, G - 1.0)
    else:
        V, df = _cr2(Qc, T, cell, codes, cell_cluster, y - fit_c[cell], w)
    return {"beta": beta, "V": (V + V.T) / 2, "df": df, "V1": (V1 + V1.T) / 2, "Xc": Xc,
            "cell": cell, "T": T, "QQ_g": QQ_g, "Qs_g": Qs_g}


# ---------------------------------------------------------------------------
# regress()
# ---------------------------------------------------------------------------

def regress(formula: str, data: pd.DataFrame, *, cluster: str | Sequence | np.ndarray,
            vcov: VcovType = "CR2", weights: str | Sequence | np.ndarray | None = None,
            missing: MissingAction = "raise", level: float = 0.95) -> RegressionResult:
    """Fit ``formula`` by OLS (or WLS) with cluster-robust standard errors.

    Parameters
    ----------
    formula : str
        statsmodels/patsy formula, e.g. ``"y ~ treat + C(community) + C(wave)"``. Fixed
        effects enter as ``C(...)`` dummies and are kept in the full design.
    data : pandas.DataFrame
        The analysis data, one row per respondent.
    cluster : str or array-like
        Column name (or array of one label per row) of the clustering unit, e.g.
        ``"community"``.
    vcov : {"CR2", "CR1"}
        ``"CR2"`` (Bell-McCaffrey with Satterthwaite df, default) or ``"CR1"``
        (Stata small-sample correction with t(G-1)).
    weights : str or array-like, optional
        Regression weights (column name or array); WLS when given. Must be positive.
    missing : {"raise", "drop"}
        Rows with a missing value in a formula variable, the cluster or the weights raise
        an :class:`~evalkit.errors.EstimationError` naming the count and the columns,
        unless ``missing="drop"``; the number dropped is then ``result.n_dropped``.
    level : float
        Confidence level of the intervals in ``tidy()``.

    Returns
    -------
    RegressionResult
        With ``.tidy()`` (``term, estimate, se, df, t, p_value, ci_low, ci_high``),
        ``.vcov``, ``.n_clusters``, ``.summary`` and ``.wild_bootstrap(term)``.

    Notes
    -----
    With M = (X'WX)^{-1}, residuals e = y - X b and G clusters:

    * CR1: ``V = G/(G-1) * (N-1)/(N-K) * M (sum_g X_g'W_g e_g e_g'W_g X_g) M``,
      p-values and intervals from t(G-1) (Stata ``regress, vce(cluster)``; statsmodels
      ``cov_type="cluster"`` with ``use_correction=True, df_correction=True``).
    * CR2: ``V = sum_g M X_g'W_g A_g e_g e_g' A_g W_g X_g M`` with ``A_g = G_g^{+1/2}``
      (Moore-Penrose symmetric inverse square root: eigenvalues at or below
      ``scale * max(1e-12, n_g * eps)`` set to zero, i.e. clubSandwich's absolute ``1e-12``
      for its G_g of norm about 1, made relative to the scale of G_g) and
      ``G_g = I - H_gg - H_gg' + X_g M X'W^2X M X_g'``, ``H_gg = X_g M X_g'W_g``; for OLS
      ``G_g = I - H_gg``. This is R ``clubSandwich::vcovCR(lm_fit, cluster, type="CR2")``
      with its default working model for ``lm`` (target = identity; the regression weights
      enter only through W, ``inverse_var = FALSE`` when weights are given).
      Degrees of freedom per coefficient are the Satterthwaite approximation of
      ``clubSandwich::coef_test(..., test="Satterthwaite")``: ``df = tr(P)^2 / sum(P^2)``
      with ``P_ij = q_i'(I-H)_{i.}(I-H)_{j.}'q_j``, ``q_g = A_g W_g X_g M c`` (Pustejovsky &
      Tipton 2018, Theorem 2 / eq. 11).
    * Fixed effects: CR2 is computed on the full design including the ``C(...)`` dummies,
      as clubSandwich does for ``lm`` fits. (Absorbing the fixed effects first and applying
      CR2 to the demeaned design gives a different, not bias-reduced, estimator;
      Pustejovsky & Tipton 2018, Sec. 3.) When the cluster dummies are in the model,
      ``I - H_gg`` is singular and the generalised inverse square root is used, as in
      clubSandwich. The adjustment is computed from the rank of each cluster's design
      block, so thousands of rows per cluster cost no n_g x n_g matrices, and from the QR
      factorisation of the (column-equilibrated, sqrt(w)-weighted) design rather than from
      ``M``, so the zero eigenvalues of an absorbed cluster stay zero to rounding error and
      the results do not change when a covariate is rescaled (income in yuan or in
      thousands of yuan) or with the number of BLAS threads.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from evalkit.regress import regress
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"g": np.repeat(np.arange(8), 20), "x": rng.normal(size=160)})
    >>> d["y"] = 1 + 0.5 * d["x"] + rng.normal(size=160)
    >>> fit = regress("y ~ x", d, cluster="g")
    >>> fit.n_clusters
    8
    """
    check_choice(vcov, VcovType, "vcov")
    check_choice(missing, MissingAction, "missing")
    if not isinstance(data, pd.DataFrame):
        raise EvalkitError(f"data must be a pandas DataFrame, not {type(data).__name__}.")
    data = data.reset_index(drop=True)
    cl_raw, cl_name = _column_or_array(data, cluster, "cluster")
    w_raw = None
    w_name = None
    if weights is not None:
        w_raw, w_name = _column_or_array(data, weights, "weights")

    y_all, Xu, grp_all, names, keep = _build_matrices(formula, data)
    cl_na = _isna(cl_raw)
    keep &= ~cl_na
    w_bad = np.zeros(len(data), dtype=bool)
    if w_raw is not None:
        w_num = pd.to_numeric(pd.Series(w_raw), errors="coerce").to_numpy(dtype=float)
        w_bad = ~np.isfinite(w_num)
        keep &= ~w_bad
    n_dropped = int((~keep).sum())
    if n_dropped and missing == "raise":
        cols = {}
        for c in _formula_columns(formula, data):
            k = int(data[c].isna().sum())
            if k:
                cols[str(c)] = k
        if cl_na.any():
            cols[cl_name or "cluster"] = int(cl_na.sum())
        if w_bad.any():
            cols[w_name or "weights"] = int(w_bad.sum())
        where = ", ".join(f"{c!r} ({k})" for c, k in cols.items()) or "the formula variables"
        raise EstimationError(
            f"{n_dropped} of {len(data)} rows have missing values in {where}. "
            "Impute or drop them first, or pass missing='drop' to drop them "
            "(the count is reported as result.n_dropped)."
        )
    rows = np.flatnonzero(keep)
    if n_dropped:
        y, grp = y_all[rows], grp_all[rows]
    else:
        y, grp = y_all, grp_all
    w = None
    if w_raw is not None:
        w = w_num[rows]
        if np.any(w <= 0):
            raise EstimationError(
                f"weights{'' if w_name is None else ' column ' + repr(w_name)} has "
                f"{int((w <= 0).sum())} non-positive values; regression weights must be > 0 "
                "(drop those rows or fix the weights)."
            )
    codes, labels = pd.factorize(pd.Series(cl_raw[rows]), sort=True)
    labels = np.asarray(labels)
    N, K = len(y), Xu.shape[1]
    G = len(labels)
    if G < 2:
        raise EstimationError(
            f"cluster{'' if cl_name is None else ' ' + repr(cl_name)} has {G} distinct value(s) "
            "after dropping missing rows; cluster-robust inference needs at least 2 clusters."
        )
    if N <= K:
        raise EstimationError(f"{N} observations for {K} coefficients; the model is not identified.")

    fitted = _fit_cells(formula, names, y, Xu, grp, codes, G, w, vcov)
    return RegressionResult(
        formula=formula,
        params=pd.Series(fitted["beta"], index=names, name="estimate"),
        vcov=pd.DataFrame(fitted["V"], index=names, columns=names),
        vcov_type=vcov,
        df=pd.Series(fitted["df"], index=names, name="df"),
        n=N,
        n_clusters=G,
        n_dropped=n_dropped,
        weighted=w is not None,
        cluster_name=cl_name,
        _Xc=fitted["Xc"],
        _cell=fitted["cell"],
        _y=y,
        _w=w,
        _cluster_codes=codes,
        _cluster_labels=labels,
        _T=fitted["T"],
        _QQ_g=fitted["QQ_g"],
        _Qs_g=fitted["Qs_g"],
        _vcov_cr1=fitted["V1"],
        level=level,
    )
