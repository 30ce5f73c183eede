"""Regression on a survey design (issue 15, item 3): the variance behind ``regress(formula, design=...)``.

The coefficients are the design-weighted least squares ``b = (X'WX)^{-1} X'Wy`` with the
design's (possibly calibrated) weights ``w``, fitted by :func:`evalkit.inference.regress.regress`
on the design's rows; their variance is design-based, as R survey's ``svyglm`` for a linear model
(gaussian family):

* Linearisation (:class:`evalkit.survey.SurveyDesign`): with ``A = X'WX`` and the score of row
  ``i`` ``u_i = w_i x_i e_i`` (``e = y - Xb``),

  .. math::  \\hat V = A^{-1}\\, \\widehat{Var}_{design}\\Big(\\sum_i u_i\\Big)\\, A^{-1},

  the middle term being the design variance of the estimated total of the scores
  (:meth:`SurveyDesign.linearized_variance`: PSU totals centred within strata, ``n_h/(n_h-1)``,
  fpc, lonely PSUs, calibration residuals), R's ``svy.varcoef``.
* Replicate weights (:class:`evalkit.survey.ReplicateDesign`): the model is refitted with each
  replicate's weights and the variance of the replicate coefficients is the design's
  (``scale``, ``rscales``, ``mse``; R ``svrVar``), R's ``svyglm.svyrep.design``.

Degrees of freedom of the t reference: ``degf(design) + 1 - p`` (p coefficients), R's
``df.residual`` of an svyglm fit (``g$df.residual <- degf(design)+1-length(coef(g))`` after
``design <- design[-nas, ]``), which ``summary.svyglm`` uses for its t tests. Rows outside a
:meth:`~SurveyDesign.subset` of the design, and rows dropped for missing values
(``missing="drop"``, R's ``design[-na.action, ]``) carry score 0; their PSUs still count, and
``degf`` is that of the design restricted to the rows used.

Absorbed fixed effects (``y ~ x | fe``): the design-weighted demeaning (Frisch-Waugh-Lovell)
gives the regressors' coefficients of the model with explicit dummies, and the regressor block of
that model's sandwich, because the bread's regressor rows applied to a dummy-design row z_i are
(Xd'WXd)^{-1} xd_i (xd_i the demeaned row): linearisation works on the demeaned design, whichever
fixed effects are absorbed. Replicate refits demean with each replicate's own weights, leaving out
the rows a replicate gives weight 0 (a household in a dropped PSU; R's refit with dummies leaves
its coefficient NA and the others unchanged). Degrees of freedom: ``degf + 1 - p`` with p the
regressors plus the fixed-effect parameters *not nested in the PSUs* (:func:`design_n_params`):
svyglm's count with dummies when no fixed effect is nested in the PSUs, and not the households of a
panel whose households lie within PSUs (their estimating equations are sums within a PSU, leaving
the PSU totals the variance is built from free; counting them would make df < 1 always).

With one PSU per row, no strata and no fpc the linearisation variance is HC0 times
``n / (n - 1)``. The fit keeps its :class:`~evalkit.inference.regress.ClusterFit` with the PSUs as
clusters (one cluster per row for a replicate design), so the wild cluster bootstrap and
:func:`evalkit.headline` (the few-cluster policy) work from it as from any other fit; they ignore
strata and the fpc.

Checked (tests/test_regress_design.py): explicit loops over strata and PSUs (1e-10), refits per
replicate (1e-10), HC0 * n/(n-1), and R survey's printed ``svyglm(api00~ell+meals+mobility,
design=dstrat)`` and ``svymean`` values on ``data(api)``; absorbed fixed effects against the same
model with ``C(...)`` dummies and the written-out dummy sandwich / refits
(tests/test_regress_design_absorb.py).
"""
from __future__ import annotations

import numpy as np

from ..errors import EstimationError, EvalkitError
from .absorb import demean, fixef_dof, nested_in

__all__ = ["check_design_call", "design_rows", "design_vcov", "design_df", "design_headline", "is_replicate",
           "design_n_params", "replicate_clusters"]


def is_replicate(design) -> bool:
    """Whether ``design`` is a replicate-weight design (ReplicateDesign and alike)."""
    return hasattr(design, "replicate_weights") and hasattr(design, "variance")


def check_design_call(parsed, design, data, cluster, weights) -> None:
    """Refuse arguments that contradict ``design=`` (each with the fix)."""
    if data is not None:
        raise EstimationError("regress(design=...) reads the design's data; leave data= out.")
    if cluster is not None:
        raise EstimationError(
            "regress(design=...) takes its clustering from the design's PSUs; leave cluster= out "
            "(or drop design= for a cluster-robust fit).")
    if weights is not None:
        raise EstimationError(
            "regress(design=...) uses the design's weights; leave weights= out (or build the design "
            "with that weight column).")
    if not (is_replicate(design) or hasattr(design, "linearized_variance")):
        raise EvalkitError(f"design must be an evalkit.survey.SurveyDesign or ReplicateDesign, "
                           f"not {type(design).__name__}.")


def design_rows(design) -> np.ndarray:
    """Design rows the regression may use: inside the design's subset, with positive weight."""
    return np.flatnonzero(design._rows_in_design() & (design.weights > 0))


def design_vcov(design, X: np.ndarray, y: np.ndarray, rows: np.ndarray, beta: np.ndarray, raw=None):
    """``(V, kind)``: the design-based variance of ``beta`` (module doc) for the fit on design ``rows``.

    With absorbed fixed effects ``X`` and ``y`` are demeaned (weighted by the design weights) and
    ``raw = (y, X, fe_codes)`` holds the outcome and regressors before demeaning with the codes of
    every fixed effect, for the replicate refits (each replicate demeans with its own weights);
    the variance returned then covers the regressors of ``raw`` only (the first columns of ``beta``).
    """
    if is_replicate(design):
        if raw is not None:
            return _replicate_vcov_absorbed(design, *raw, rows, beta[:raw[1].shape[1]]), "replicate"
        return _replicate_vcov(design, X, y, rows, beta), "replicate"
    w_all = design.weights
    w = w_all[rows]
    U = np.zeros((w_all.size, X.shape[1]))
    U[rows] = X * (w * (y - X @ beta))[:, None]
    Ainv = np.linalg.inv(X.T @ (X * w[:, None]))
    V = Ainv @ np.atleast_2d(design.linearized_variance(U, cov=True)) @ Ainv
    return (V + V.T) / 2, "linearization"


def _replicate_vcov(design, X, y, rows, beta) -> np.ndarray:
    """Replicate variance of the coefficients refitted with each replicate's weights."""
    R = design.replicate_weights[rows]
    thetas = np.empty((R.shape[1], X.shape[1]))
    for r in range(R.shape[1]):
        wr = R[:, r]
        try:
            thetas[r] = np.linalg.solve(X.T @ (X * wr[:, None]), X.T @ (wr * y))
        except np.linalg.LinAlgError as exc:
            raise EstimationError(
                f"Replicate {r + 1} of {R.shape[1]} leaves the model unidentified (X'W_rX is singular: "
                "a category present only in the PSUs that replicate drops). Merge sparse categories "
                "or drop the term.") from exc
    V = np.atleast_2d(design.variance(thetas, beta, cov=True))
    return (V + V.T) / 2


def _replicate_vcov_absorbed(design, y, X, fe_codes, rows, beta) -> np.ndarray:
    """Replicate variance of the regressors' coefficients, each replicate refitted with its own
    weights and the fixed effects absorbed by its own weighted demeaning (rows with weight 0 left
    out, so a fixed-effect level a replicate drops costs nothing, as in R's refit with dummies:
    its coefficient is NA and the others are unchanged)."""
    R = design.replicate_weights[rows]
    M = np.column_stack([y, X])
    thetas = np.empty((R.shape[1], X.shape[1]))
    for r in range(R.shape[1]):
        pos = R[:, r] > 0
        wr = R[pos, r]
        Z = demean(M[pos], [c[pos] for c in fe_codes], wr)
        A = Z[:, 1:].T @ (Z[:, 1:] * wr[:, None])
        scale = np.sqrt(np.diag(A))
        ev = np.linalg.eigvalsh(A / np.outer(scale, scale)) if np.all(scale > 0) else np.zeros(1)
        if ev[0] <= 1e-11 * ev[-1]:
            raise EstimationError(
                f"Replicate {r + 1} of {R.shape[1]} leaves a regressor constant within the fixed effects "
                "on the rows it keeps (its coefficient is not identified in that replicate). Use a "
                "coarser fixed effect or a linearisation design.")
        thetas[r] = np.linalg.solve(A, Z[:, 1:].T @ (wr * Z[:, 0]))
    V = np.atleast_2d(design.variance(thetas, beta, cov=True))
    return (V + V.T) / 2


def replicate_clusters(design, rows: np.ndarray) -> np.ndarray:
    """Groups of rows that every replicate reweights alike (identical ratios of replicate to full
    weight, to 10 significant digits): the PSUs a replicate design was built from, as far as the
    replicate weights show them (one row each when the replicates were calibrated row by row)."""
    ratio = design.replicate_weights[rows] / design.weights[rows][:, None]
    _, inv = np.unique(np.round(ratio, 10), axis=0, return_inverse=True)
    return inv.ravel()


def design_n_params(design, rows: np.ndarray, k: int, fe_codes) -> int:
    """Coefficients p in ``df = degf + 1 - p`` with absorbed fixed effects: the ``k`` regressors plus
    the parameters of the fixed effects not nested in the PSUs, counted as fixest's
    ``fixef.K = "nested"`` (:func:`evalkit.inference.absorb.fixef_dof`; one intercept when some
    fixed effect is nested). The estimating equation of a level nested in one PSU is a sum within
    that PSU: it leaves the PSU totals of the regressors' scores, from which the design variance and
    its degf come, free, while a level spanning PSUs restricts them like any regressor (and svyglm
    counts it: with no fixed effect nested, p equals svyglm's count with explicit dummies).
    Counting the nested levels too would give df < 1 always (a fixed effect nested in PSUs has at
    least as many levels as PSUs)."""
    if not fe_codes:
        return k
    psu = replicate_clusters(design, rows) if is_replicate(design) else np.asarray(design.psu_codes)[rows]
    levels = [int(np.unique(c).size) for c in fe_codes]
    return fixef_dof(levels, [nested_in(c, psu) for c in fe_codes], k)


def design_df(design, rows: np.ndarray, n_params: int, fixef: bool = False) -> tuple[int, int]:
    """``(degf, degf + 1 - p)`` of the design restricted to the rows used (R ``design[-nas, ]``)."""
    used = np.zeros(design.weights.size, dtype=bool)
    used[rows] = True
    inside = design._rows_in_design()
    degf = int((design if np.array_equal(used, inside) else design.subset(used)).degf)
    df = degf + 1 - n_params
    if df < 1:
        raise EstimationError(
            f"The design has degf = {degf} (#PSU - #strata, or replicate rank - 1) for {n_params} "
            f"coefficients: df = degf + 1 - p = {df}; design-based t intervals need df >= 1. Use "
            "fewer terms or a design with more PSUs." + (
                " p counts the parameters of the fixed effects not nested in the PSUs (for a replicate "
                "design: in the groups of rows its replicates reweight alike); a fixed effect nested in "
                "the PSUs (e.g. households within sampled villages) costs none." if fixef else ""))
    return degf, df


def design_headline(result) -> str:
    """The lines above the table of a regression on a design."""
    dropped = f", {result.n_dropped} rows dropped for missing values" if result.n_dropped else ""
    how = ("linearisation (R svyglm)" if result.vcov_type == "linearization"
           else "replicate weights (R svyglm on a svrepdesign)")
    df = int(round(float(result.df.iloc[0])))
    p = result.design_df + 1 - df
    fe = (f", fixed effects absorbed: {', '.join(result.fixef)} (p counts the regressors and the "
          "fixed-effect parameters not nested in the PSUs)") if result.fixef else ""
    return (f"Design-weighted LS {result.formula}: n = {result.n}{dropped}{fe}\n"
            f"Design-based SE by {how}; t reference with df = degf {result.design_df} + 1 - "
            f"{p} = {df}")
