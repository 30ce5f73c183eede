"""Regression with cluster-robust inference for few clusters.

================  ==========================================================================
regress.py        :func:`regress` (formula, OLS/WLS fit), :class:`RegressionResult`, :class:`ClusterFit`
cr2.py            cluster-robust variance: CR1, CR2 with Satterthwaite df, CholeskyQR2
wild.py           :func:`wild_cluster_bootstrap` (WCR/WCU bootstrap-t), :class:`WildBootstrapResult`
randomization.py  :func:`randomization_test` (RI-t over treatment assignments), :class:`RandomizationResult`
permutation.py    the permutation engine: enumerate or draw arrangements, p-value, test inversion
few_clusters.py   :func:`headline`: which p-value and CI to report for the number of clusters
================  ==========================================================================

Imports run downwards only: permutation, cr2 <- regress <- wild, randomization <- few_clusters.
(``regress`` the function is ``evalkit.regress``; here ``evalkit.inference.regress`` is the module.)
"""
from .few_clusters import FEW_CLUSTERS, headline
from .randomization import RandomizationResult, randomization_test
from .regress import ClusterFit, RegressionResult
from .wild import WildBootstrapResult, wild_cluster_bootstrap

__all__ = ["RegressionResult", "ClusterFit", "wild_cluster_bootstrap", "WildBootstrapResult",
           "randomization_test", "RandomizationResult", "headline", "FEW_CLUSTERS"]
