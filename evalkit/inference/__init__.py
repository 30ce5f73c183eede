"""Regression with cluster-robust inference for few clusters.

================  ==========================================================================
regress.py        :func:`regress` (formula, OLS/WLS fit), :class:`RegressionResult`, :class:`ClusterFit`
cr2.py            cluster-robust variance: CR1, CR2 with Satterthwaite df, CholeskyQR2
wild.py           :func:`wild_cluster_bootstrap` (WCR/WCU bootstrap-t), :class:`WildBootstrapResult`
randomization.py  :func:`randomization_test` (RI-t over treatment assignments), :class:`RandomizationResult`
permutation.py    the permutation engine: enumerate or draw arrangements, p-value, test inversion
few_clusters.py   :func:`headline`: which p-value and CI to report for the number of clusters
formula.py        :func:`parse_formula`: fixest-style ``y ~ x | fe1 + fe2^fe3``; Python operators on ids refused
absorb.py         fixed effects absorbed (``demean``, ``absorb_design``) instead of dummies; fixest's nested df count
stepdown.py       many outcomes: Romano–Wolf / Westfall–Young step-down reusing one set of draws
design_variance.py  ``regress(design=)``: linearisation / replicate variance of the coefficients (R svyglm df)
================  ==========================================================================

Imports run downwards only: permutation, cr2, formula, absorb, design_variance <- regress <- wild, randomization <-
few_clusters, stepdown.
(``regress`` the function is ``evalkit.regress``; here ``evalkit.inference.regress`` is the module.)
"""
from .few_clusters import FEW_CLUSTERS, headline
from .randomization import RandomizationResult, randomization_test
from .regress import ClusterFit, RegressionResult
from .stepdown import StepdownResult, stepdown, stepdown_pvalues, stepdown_randomization, stepdown_wild
from .wild import WildBootstrapResult, wild_cluster_bootstrap

__all__ = ["RegressionResult", "ClusterFit", "wild_cluster_bootstrap", "WildBootstrapResult",
           "randomization_test", "RandomizationResult", "headline", "FEW_CLUSTERS", "stepdown", "stepdown_wild",
           "stepdown_randomization", "stepdown_pvalues", "StepdownResult"]
