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

With one PSU per row, no strata and no fpc the linearisation variance is HC0 times
``n / (n - 1)``. The fit keeps its :class:`~evalkit.inference.regress.ClusterFit` with the PSUs as
clusters (one cluster per row for a replicate design), so the wild cluster bootstrap and
:func:`evalkit.headline` (the few-cluster policy) work from it as from any other fit; they ignore
strata and the fpc.

Checked (tests/test_regress_design.py): explicit loops over strata and PSUs (1e-10), refits per
replicate (1e-10), HC0 * n/(n-1), and R survey's printed ``svyglm(api00~ell+meals+mobility,
design=dstrat)`` and ``svymean`` values on ``data(api)``.
"""
from __future__ import annotations

import numpy as np

from ..errors import EstimationError, EvalkitError

__all__ = ["check_design_call", "design_rows", "design_vcov", "design_df", "design_headline", "is_replicate"]


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
    if parsed.fixef:
        raise EstimationError(
            f"{parsed.text!r}: absorbed fixed effects ('| fe') are not supported with design=; write "
            "them as C(fe) terms.")


def design_rows(design) -> np.ndarray:
    """Design rows the regression may use: inside the design's subset, with positive weight."""
    return np.flatnonzero(design._rows_in_design() & (design.weights > 0))


def design_vcov(design, X: np.ndarray, y: np.ndarray, rows: np.ndarray, beta: np.ndarray):
    """``(V, kind)``: the design-based variance of ``beta`` (module doc) for the fit on design ``rows``."""
    if is_replicate(design):
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


def design_df(design, rows: np.ndarray, n_params: int) -> tuple[int, int]:
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
            "fewer terms or a design with more PSUs.")
    return degf, df


def design_headline(result) -> str:
    """The lines above the table of a regression on a design."""
    dropped = f", {result.n_dropped} rows dropped for missing values" if result.n_dropped else ""
    how = ("linearisation (R svyglm)" if result.vcov_type == "linearization"
           else "replicate weights (R svyglm on a svrepdesign)")
    return (f"Design-weighted LS {result.formula}: n = {result.n}{dropped}\n"
            f"Design-based SE by {how}; t reference with df = degf {result.design_df} + 1 - "
            f"{result.n_params} = {result.design_df + 1 - result.n_params}")
