"""Linear regression with cluster-robust inference for few clusters.

:func:`regress` fits an OLS or WLS regression from a statsmodels/patsy formula
(``y ~ treat + C(community) + C(wave)``), or fixest style with fixed effects absorbed instead of
dummies (``y ~ treat | household + wave``; parsing in :mod:`evalkit.inference.formula`, demeaning
in :mod:`evalkit.inference.absorb`), and reports cluster-robust standard errors:

* ``vcov="CR2"`` (default): the bias-reduced linearisation of Bell & McCaffrey (2002)
  with Satterthwaite degrees of freedom per coefficient, as R
  ``clubSandwich::coef_test(fit, vcov = "CR2", cluster = ..., test = "Satterthwaite")``
  (Pustejovsky & Tipton 2018);
* ``vcov="CR1"``: the Stata / statsmodels small-sample corrected sandwich
  ``G/(G-1) * (N-1)/(N-K)`` with t(G-1) reference distribution.

Only the design matrices come from statsmodels' formula machinery (patsy in statsmodels 0.15); all
linear algebra is done here with numpy, and the variance estimators are in :mod:`evalkit.inference.cr2`.
With few clusters (the Dongying evaluation has 14 communities) neither is trusted for the headline: the
wild cluster restricted bootstrap (:mod:`evalkit.inference.wild`) and the policy :func:`evalkit.headline`
(:mod:`evalkit.inference.few_clusters`) are; both work from the fit's :class:`ClusterFit`.

References
----------
Bell & McCaffrey (2002) and Pustejovsky & Tipton (2018): see :mod:`evalkit.inference.cr2`.
Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to cluster-robust
inference. Journal of Human Resources 50(2), 317-372.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import numpy as np
import pandas as pd
from scipy import linalg, stats

from .._literals import MissingAction, VcovType, check_choice
from ..errors import EstimationError, EvalkitError
from ..results import Result
from .absorb import absorb_design, demean, fixef_codes
from .design_variance import (check_design_call, design_df, design_headline, design_n_params, design_rows,
                              design_vcov, is_replicate)
from .cr2 import chol_qr, cluster_sums, cr1_factor, cr1_vcov, cr2_vcov, tall_crossprod, tall_matmul, tri_inv
from .formula import build_matrices, column_or_array, formula_columns, isna, parse_formula

__all__ = ["regress", "RegressionResult", "ClusterFit"]


# ---------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------

def _frozen(a: np.ndarray | None) -> np.ndarray | None:
    if a is not None:
        a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class ClusterFit:
    """The numeric core of a cluster-robust least-squares fit, for resampling methods.

    What the wild cluster bootstrap (:func:`evalkit.wild_cluster_bootstrap`) and randomization
    inference (:func:`evalkit.randomization_test`) need from :func:`evalkit.regress`, and all
    they read. Rows with the same design row and cluster form a *cell*; the N rows enter only
    through ``cell``. With S = W^{1/2} (identity for OLS) the weighted design factors as
    S X = Q T^{-1} with Q'Q = I, so the coefficients are b = T theta and (X'WX)^{-1} = T T':
    in these coordinates the bootstrap's closed forms keep their digits whatever the scale of
    the covariates. The arrays are read-only.

    Attributes
    ----------
    Xc : numpy.ndarray
        (cells x K) the distinct (design row, cluster) rows; the design is ``X = Xc[cell]``.
    cell : numpy.ndarray
        (N,) cell of each observation.
    y : numpy.ndarray
        (N,) the outcome.
    w : numpy.ndarray or None
        (N,) regression weights (None: OLS).
    cluster_codes : numpy.ndarray
        (N,) cluster of each observation, 0 .. G-1 in the order of ``cluster_labels``.
    cluster_labels : numpy.ndarray
        (G,) the cluster labels, sorted.
    beta : numpy.ndarray
        (K,) the coefficients.
    T : numpy.ndarray
        (K x K) b = T theta; (X'WX)^{-1} = T T'.
    QQ_g : numpy.ndarray
        (G x K x K) Q_g'Q_g per cluster.
    Qs_g : numpy.ndarray
        (G x K) cluster scores Q_g'W_g^{1/2} e_g.
    vcov_cr1 : numpy.ndarray
        (K x K) the CR1 variance (whatever ``vcov`` the fit reports).
    k_absorbed : int
        Parameters of absorbed fixed effects counted in the CR1 factor besides the K
        columns (fixest's ``fixef.K = "nested"``; 0 without fixed effects).
    absorbed : tuple of numpy.ndarray
        (N,) codes of each fixed effect projected out (empty without). With absorbed fixed
        effects ``y`` and ``Xc`` are the demeaned outcome and design; a column built anew
        from the data (a re-assigned treatment) must go through :meth:`demean` first.
    """

    Xc: np.ndarray
    cell: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    cluster_codes: np.ndarray
    cluster_labels: np.ndarray
    beta: np.ndarray
    T: np.ndarray
    QQ_g: np.ndarray
    Qs_g: np.ndarray
    vcov_cr1: np.ndarray
    k_absorbed: int = 0
    absorbed: tuple = ()

    def __post_init__(self):
        for name in ("Xc", "cell", "y", "w", "cluster_codes", "cluster_labels", "beta", "T", "QQ_g", "Qs_g",
                     "vcov_cr1"):
            _frozen(getattr(self, name))
        for codes in self.absorbed:
            _frozen(codes)

    @property
    def X(self) -> np.ndarray:
        """The N x K design matrix (built on demand).

        Refused (:class:`EstimationError`) for a fit with absorbed fixed effects, whose design
        is demeaned: a caller that combines it with new columns from the data must demean
        those too (``Xc[cell]`` and :meth:`demean`)."""
        if self.absorbed:
            raise EstimationError(
                "This fit absorbed fixed effects (formula 'y ~ x | fe'); its design is demeaned and "
                "cannot be combined with columns taken from the data as they are. For randomization "
                "inference write the fixed effects as C(...) dummies, or use vcov='CR2' (each "
                "assignment refitted)."
            )
        return self.Xc[self.cell]

    def demean(self, M: np.ndarray) -> np.ndarray:
        """Columns ``M`` (N rows) with the fit's absorbed fixed effects projected out (weighted
        as the fit); unchanged without fixed effects."""
        return demean(M, self.absorbed, self.w) if self.absorbed else np.asarray(M, dtype=float)

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def n_params(self) -> int:
        return int(self.beta.size)

    @property
    def n_clusters(self) -> int:
        return int(self.cluster_labels.size)

    @property
    def cr1_factor(self) -> float:
        """``G/(G-1) * (N-1)/(N-K)``, the CR1 small-sample factor (K counts ``k_absorbed``)."""
        return cr1_factor(self.n_clusters, self.n, self.n_params + self.k_absorbed)


@dataclass(frozen=True, eq=False, repr=False)
class RegressionResult(Result):
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
    fit : ClusterFit
        The numeric core the wild bootstrap and randomization inference work from.
    level : float
        Default confidence level of ``tidy()``.
    fixef : tuple of str
        The absorbed fixed effects as written after the ``|`` (empty without).
    """

    title: ClassVar[str] = "Regression"

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
    fit: ClusterFit = field(repr=False)
    level: float = 0.95
    fixef: tuple = ()
    design_df: int | None = None   # degf of the design (regress(design=...)), else None

    # -- basic accessors ----------------------------------------------------
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

    def term_index(self, term: str) -> int:
        """Position of coefficient ``term``; an :class:`EvalkitError` listing the terms if there is none."""
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
            ``df`` (Satterthwaite for CR2, G - 1 for CR1), ``statistic`` (t = estimate / se),
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
            "statistic": t,
            "p_value": p,
            "ci_low": est - q * se,
            "ci_high": est + q * se,
        })

    # -- display ------------------------------------------------------------
    def _headline(self) -> str:
        """Model, sample and variance estimator (the lines above the table of ``summary``)."""
        if self.design_df is not None:
            return design_headline(self)
        how = "WLS" if self.weighted else "OLS"
        dfnote = ("Satterthwaite df (Pustejovsky & Tipton 2018)" if self.vcov_type == "CR2"
                  else f"t({self.n_clusters - 1}) reference")
        dropped = f", {self.n_dropped} rows dropped for missing values" if self.n_dropped else ""
        fe = f", fixed effects absorbed: {', '.join(self.fixef)}" if self.fixef else ""
        head = (f"{how} {self.formula}: n = {self.n}, {self.n_clusters} clusters{dropped}{fe}\n"
                f"{self.vcov_type} cluster-robust SE, {dfnote}")
        if self.n_clusters < 50:
            head += ("\nFew clusters: take the headline p-value and CI from evalkit.headline(fit, term) "
                     "or evalkit.wild_cluster_bootstrap(fit, term).")
        return head


def _fit_cells(formula, names, y, Xu, grp, codes, labels, w, vcov, k_absorbed=0, absorbed=()):
    """The fit from (design row, cluster) cells: coefficients, CR1 and requested variance.

    Rows sharing a design row and a cluster form a cell. Everything CR1 and the bootstrap
    need is a sum over cells (X'WX, X'Wy, X_g'W_g X_g, X_g'W_g e_g), so the N rows are only
    touched by bincount; with a community x wave design there are a few dozen cells.
    Returns (V, df, fit): the requested variance, its degrees of freedom and the
    :class:`ClusterFit` (without the cluster labels, set by the caller).
    """
    N, K, G = len(y), Xu.shape[1], len(labels)
    rows_are_cells = len(Xu) == N and np.array_equal(grp, np.arange(N))
    if rows_are_cells:                       # every row its own design row (absorbed fixed effects)
        cell, Xc, cell_cluster = np.arange(N), Xu, codes.astype(np.intp)
    else:
        key = grp.astype(np.int64) * G + codes
        ukey, cell = np.unique(key, return_inverse=True)
        cell = cell.ravel()
        Xc = Xu[ukey // G]
        cell_cluster = (ukey % G).astype(np.intp)
    if rows_are_cells:
        n_c = w                              # None: unit weights, no multiply
        sy_c = y if w is None else w * y
    else:
        wt = np.ones(N) if w is None else w
        n_c = np.bincount(cell, weights=wt, minlength=len(Xc))
        sy_c = np.bincount(cell, weights=wt * y, minlength=len(Xc))
    XtWX = tall_crossprod(Xc, w=n_c)
    # rank check on the column-scaled Gram matrix; name the collinear columns by pivoted QR
    scale = np.sqrt(np.diag(XtWX))
    scale[scale == 0] = 1.0
    gram = XtWX / np.outer(scale, scale)
    ev = np.linalg.eigvalsh(gram)
    if ev[0] <= 1e-11 * ev[-1]:
        sq = 1.0 if n_c is None else np.sqrt(n_c)[:, None]
        _, R, piv = linalg.qr(Xc * sq / scale, mode="economic", pivoting=True)
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
    Qc, R = chol_qr(Xc, n_c, gram, colscale=scale)
    T = tri_inv(R) / scale[:, None]
    theta = tall_crossprod(Qc, sy_c)
    beta = T @ theta
    fit_c = tall_matmul(Qc, theta)                      # = Xc @ beta
    s_c = sy_c - (fit_c if n_c is None else n_c * fit_c)   # sum_i in cell of w_i e_i
    QQ_g, Qs_g = cluster_sums(cell_cluster, G, Qc, s_c, n_c)
    V1 = cr1_vcov(T, Qs_g, N) * (cr1_factor(G, N, K + k_absorbed) / cr1_factor(G, N, K))
    if vcov == "CR1":
        V = V1
        df = np.full(K, G - 1.0)
    else:
        V, df = cr2_vcov(Qc, T, cell, codes, cell_cluster, y - fit_c[cell], w, absorbed if w is not None else ())
    fit = ClusterFit(Xc=Xc, cell=cell, y=y, w=w, cluster_codes=codes, cluster_labels=labels, beta=beta, T=T,
                     QQ_g=QQ_g, Qs_g=Qs_g, vcov_cr1=(V1 + V1.T) / 2, k_absorbed=k_absorbed,
                     absorbed=absorbed)
    return (V + V.T) / 2, df, fit


# ---------------------------------------------------------------------------
# regress()
# ---------------------------------------------------------------------------

def regress(formula: str, data: pd.DataFrame | None = None, *, cluster: str | Sequence | np.ndarray | None = None,
            vcov: VcovType = "CR2", weights: str | Sequence | np.ndarray | None = None,
            missing: MissingAction = "raise", level: float = 0.95, design=None) -> RegressionResult:
    """Fit ``formula`` by OLS (or WLS) with cluster-robust standard errors.

    Parameters
    ----------
    formula : str
        statsmodels/patsy formula, e.g. ``"y ~ treat + C(community) + C(wave)"``, or fixest
        style with absorbed fixed effects after one ``|``: ``"y ~ treat | household + wave"``
        (``community^wave``: one effect per community and wave). Python operators on the
        values (``|`` ``&`` ``^`` ... outside the fixed-effects part and ``I()``) are refused
        (:func:`evalkit.inference.formula.parse_formula`).
    data : pandas.DataFrame
        The analysis data, one row per respondent.
    cluster : str or array-like
        Column name (or array of one label per row) of the clustering unit, e.g.
        ``"community"``.
    vcov : {"CR2", "CR1"}
        ``"CR2"`` (Bell-McCaffrey with Satterthwaite df, default) or ``"CR1"``
        (Stata small-sample correction with t(G-1)).
    weights : str or array-like, optional
        Regression weights (column name or array); WLS when given; positive.
    missing : {"raise", "drop"}
        Rows with a missing value in a formula variable, the cluster or the weights raise
        an :class:`~evalkit.errors.EstimationError` naming the count and the columns,
        unless ``missing="drop"``; the number dropped is then ``result.n_dropped``.
    level : float
        Confidence level of the intervals in ``tidy()``.
    design : SurveyDesign or ReplicateDesign, optional
        Design-based variance as R ``svyglm`` (:mod:`.design_variance`); no data/cluster/weights.
        Fixed effects after ``|`` are absorbed by design-weighted demeaning (same coefficients and
        variance as ``C(...)`` dummies; df counts only fixed effects not nested in the PSUs).

    Returns
    -------
    RegressionResult
        With ``.tidy()`` (``term, estimate, se, df, statistic, p_value, ci_low, ci_high``),
        ``.vcov``, ``.n_clusters``, ``.summary`` and ``.fit`` (the :class:`ClusterFit` that
        :func:`evalkit.wild_cluster_bootstrap` and :func:`evalkit.headline` work from).

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
    * Absorbed fixed effects (after ``|``, :mod:`evalkit.inference.absorb`): coefficients of
      the dummy regression from the demeaned data; only the regressors are reported. CR1 counts
      parameters as fixest's default ``ssc()`` (``fixef.K = "nested"``); CR2, its df and the wild
      bootstrap equal those of the full dummy design exactly; with weights, CR2 adds the
      dummies' hat matrix cluster by cluster (see the module).
    * ``C(...)`` fixed effects: CR2 is computed on the full design including the dummies,
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
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"g": np.repeat(np.arange(8), 20), "x": rng.normal(size=160)})
    >>> d["y"] = 1 + 0.5 * d["x"] + rng.normal(size=160)
    >>> regress("y ~ x | g", d, cluster="g").n_clusters
    8
    """
    check_choice(missing, MissingAction, "missing")
    if design is not None:
        return _on_design(formula, data, design, cluster, weights, missing, level)
    return _regress(formula, data, cluster, vcov, weights, missing, level)


def _regress(formula, data, cluster, vcov, weights, missing, level) -> RegressionResult:
    """:func:`regress` without a design: the cluster-robust fit."""
    check_choice(vcov, VcovType, "vcov")
    if cluster is None:
        raise EvalkitError("regress() needs cluster= (the clustering column) or design= (a survey design).")
    if not isinstance(data, pd.DataFrame):
        raise EvalkitError(f"data must be a pandas DataFrame, not {type(data).__name__}.")
    data = data.reset_index(drop=True)
    parsed = parse_formula(formula)
    cl_raw, cl_name = column_or_array(data, cluster, "cluster")
    y, Xu, grp, names, rows, w, w_name, fe = _complete_rows(parsed, data, cl_raw, cl_name, weights, missing)
    n_dropped = len(data) - rows.size
    codes, labels = pd.factorize(pd.Series(cl_raw[rows]), sort=True)
    labels = np.asarray(labels)
    N, K, G = len(y), Xu.shape[1], len(labels)
    if G < 2:
        raise EstimationError(f"cluster{'' if cl_name is None else ' ' + repr(cl_name)} has {G} distinct "
                              "value(s) after dropping missing rows; cluster-robust inference needs at least 2.")
    k_x, k_abs, absorbed = K, 0, ()
    if fe:
        y, Xu, names, k_abs, absorbed = absorb_design(parsed, y, Xu[grp], names, fe, codes, w, vcov)
        grp, K = np.arange(N), Xu.shape[1]
    if N <= K + k_abs:
        raise EstimationError(f"{N} observations for {K + k_abs} coefficients; the model is not identified.")

    V, df, fit = _fit_cells(formula, names, y, Xu, grp, codes, labels, w, vcov, k_abs, absorbed)
    names = names[:k_x]
    return RegressionResult(
        formula=formula,
        params=pd.Series(fit.beta[:k_x], index=names, name="estimate"),
        vcov=pd.DataFrame(V[:k_x, :k_x], index=names, columns=names),
        vcov_type=vcov,
        df=pd.Series(df[:k_x], index=names, name="df"),
        n=N,
        n_clusters=G,
        n_dropped=n_dropped,
        weighted=w is not None,
        cluster_name=cl_name,
        fit=fit,
        level=level,
        fixef=tuple(parsed.fixef_names),
    )


def _on_design(formula, data, design, cluster, weights, missing, level) -> RegressionResult:
    """``regress(design=...)``: the WLS fit on the design's rows (PSUs as the fit's clusters) with
    the design-based variance and df of :mod:`evalkit.inference.design_variance`."""
    parsed = parse_formula(formula)
    check_design_call(parsed, design, data, cluster, weights)
    idx = design_rows(design)
    sub = design.data.reset_index(drop=True).iloc[idx].reset_index(drop=True)
    psu = np.arange(idx.size) if is_replicate(design) else np.asarray(design.psu_codes)[idx]
    base = regress(formula, sub, cluster=psu, weights=design.weights[idx], vcov="CR1", missing=missing,
                   level=level)
    yv, Xu, grp, _, keep = build_matrices(parsed, sub)
    fe = fixef_codes(sub, parsed.fixef, parsed.text)
    for c in fe:
        keep &= c >= 0
    rows = idx[keep]
    fit, names = base.fit, base.params.index
    k = len(names)
    fe = [c[keep] for c in fe]
    raw = (yv[keep], Xu[grp[keep]], fe) if fe else None
    V, kind = design_vcov(design, fit.Xc[fit.cell], fit.y, rows, fit.beta, raw)
    V = V[:k, :k]
    degf, df = design_df(design, rows, design_n_params(design, rows, k, fe) if fe else fit.n_params, bool(fe))
    return dataclasses.replace(base, vcov=pd.DataFrame(V, index=names, columns=names), vcov_type=kind,
                               df=pd.Series(float(df), index=names, name="df"), design_df=degf)


def _complete_rows(parsed, data, cl_raw, cl_name, weights, missing):
    """Outcome, distinct design rows, their index, names, the rows kept, weights and their name.

    Rows with a missing value in a formula variable, the cluster or the weights raise an
    :class:`EstimationError` naming the count and the columns, or are dropped with
    ``missing="drop"``. Returns ``(y, Xu, grp, names, rows, w, w_name, fe)`` with ``X = Xu[grp]``
    for the kept ``rows`` (``w`` None without weights; ``fe`` the fixed effects' codes of the
    kept rows, one array per fixed effect).
    """
    w_raw = w_name = None
    if weights is not None:
        w_raw, w_name = column_or_array(data, weights, "weights")
    formula = parsed.text
    fe_all = fixef_codes(data, parsed.fixef, formula)
    y_all, Xu, grp_all, names, keep = build_matrices(parsed, data)
    cl_na = isna(cl_raw)
    keep &= ~cl_na
    for c in fe_all:
        keep &= c >= 0
    w_bad = np.zeros(len(data), dtype=bool)
    if w_raw is not None:
        w_num = pd.to_numeric(pd.Series(w_raw), errors="coerce").to_numpy(dtype=float)
        w_bad = ~np.isfinite(w_num)
        keep &= ~w_bad
    n_dropped = int((~keep).sum())
    if n_dropped and missing == "raise":
        cols = {}
        for c in formula_columns(formula, data):
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
    w = None if w_raw is None else w_num[rows]
    if w is not None and np.any(w <= 0):
        raise EstimationError(
            f"weights{'' if w_name is None else ' column ' + repr(w_name)} has "
            f"{int((w <= 0).sum())} non-positive values; regression weights must be > 0 "
            "(drop those rows or fix the weights)."
        )
    fe = [c[rows] for c in fe_all]
    return y, Xu, grp, names, rows, w, w_name, fe
