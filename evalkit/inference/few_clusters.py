"""Which p-value and confidence interval to report when clusters are few: :func:`headline`.

The Dongying evaluation compares 7 programme with 7 comparison communities. With 14
clusters, cluster-robust t-tests with normal critical values over-reject badly, and even
CR1 with t(G-1) can. Below :data:`FEW_CLUSTERS` clusters :func:`headline` therefore takes the
p-value and CI from the wild cluster restricted bootstrap (:func:`evalkit.wild_cluster_bootstrap`,
Webb weights) and a :class:`~evalkit.errors.FewClustersWarning` says so; from
:data:`FEW_CLUSTERS` on, from the fit's analytic CR2 (Satterthwaite) or CR1 (t(G-1)) inference.
CR1 with normal critical values is never used. Randomization inference over the assignment of
treatment to clusters (:func:`evalkit.randomization_test`) needs the data and the formula, so
it is called directly.

References
----------
Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to cluster-robust
inference. Journal of Human Resources 50(2), 317-372.
MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2023). Cluster-robust inference: A guide
to empirical practice. Journal of Econometrics 232(2), 272-299.
"""
from __future__ import annotations

import warnings

import pandas as pd

from .._literals import BootWeights, HeadlineMethod, check_choice
from ..errors import EvalkitError, FewClustersWarning
from .regress import RegressionResult
from .wild import wild_cluster_bootstrap

__all__ = ["FEW_CLUSTERS", "headline"]

#: Below this many clusters the headline p-value and CI come from the wild cluster
#: restricted bootstrap. Cameron & Miller (2015, Sec. VI) put "few" somewhere between 20
#: and 50 clusters; MacKinnon & Webb (2017) and MacKinnon, Nielsen & Webb (2023) show that
#: cluster-robust t-tests can over-reject well beyond 50 clusters when clusters are
#: unbalanced or few are treated. We take the upper end, 50.
FEW_CLUSTERS = 50

#: Columns of :func:`headline`'s row.
HEADLINE_COLUMNS = ["term", "estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high",
                    "n_clusters", "method"]


def headline(result: RegressionResult, term: str, *, method: HeadlineMethod = "auto",
             B: int = 9999, weights: BootWeights = "webb", seed: int | None = None,
             level: float = 0.95, threshold: int = FEW_CLUSTERS) -> pd.DataFrame:
    """The headline estimate, p-value and CI of ``term``, chosen for the number of clusters.

    Parameters
    ----------
    result : RegressionResult
        The fitted model.
    term : str
        Coefficient to report, e.g. ``"treat"``.
    method : {"auto", "wild_bootstrap", "analytic"}
        ``"auto"`` (default): WCR bootstrap when ``n_clusters < threshold``, else the fit's
        analytic inference (CR2 + Satterthwaite or CR1 + t(G-1)). ``"randomization"`` is
        not available here (it needs the data and formula: use :func:`randomization_test`).
    B, weights, seed, level
        Passed to :func:`wild_cluster_bootstrap`.
    threshold : int
        Clusters below which the bootstrap is used (default :data:`FEW_CLUSTERS` = 50;
        Cameron & Miller 2015).

    Returns
    -------
    pandas.DataFrame
        One row: ``term, estimate, se, df, statistic, p_value, ci_low, ci_high, n_clusters,
        method``. ``se``/``df``/``statistic`` are the fit's analytic ones (for reference);
        ``p_value`` and the interval are the headline ones named in ``method``.

    Warns
    -----
    FewClustersWarning
        When the bootstrap is used because clusters are few; the message names G, B and the
        weights.

    Notes
    -----
    Never CR1 with normal critical values: with 14 clusters its 5% test rejects a true
    null far more often than 5% (see ``studies/few_clusters_results.md``).
    """
    check_choice(method, HeadlineMethod, "method")
    if method == "randomization":
        raise EvalkitError(
            "method='randomization' needs the data and formula; call "
            "evalkit.randomization_test(data, formula=..., treatment=..., cluster=...)."
        )
    row = result.tidy(level=level)
    row = row[row["term"] == term]
    if row.empty:
        result.term_index(term)  # raises with the list of terms
    row = row.reset_index(drop=True)
    G = result.n_clusters
    use_boot = method == "wild_bootstrap" or (method == "auto" and G < threshold)
    if use_boot:
        wb = wild_cluster_bootstrap(result, term, B=B, weights=weights, seed=seed, level=level)
        if G < threshold:
            warnings.warn(
                f"{G} clusters; p-value and CI from the wild cluster restricted bootstrap "
                f"({'all 2^G Rademacher sign vectors' if wb.enumerated else weights.capitalize() + ' weights'}, "
                f"B={wb.B}).",
                FewClustersWarning, stacklevel=2,
            )
        row.loc[0, ["p_value", "ci_low", "ci_high"]] = [wb.p_value, wb.ci_low, wb.ci_high]
        row["method"] = wb.method
    else:
        if getattr(result, "design_df", None) is not None:   # regress(..., design=): R svyglm's df
            row["method"] = f"design-based SE ({result.vcov_type}), t({int(row.loc[0, 'df'])})"
        else:
            ref = ("Satterthwaite t" if result.vcov_type == "CR2" else f"t({G - 1})")
            row["method"] = f"{result.vcov_type} cluster-robust SE, {ref}"
    row["n_clusters"] = G
    return row[HEADLINE_COLUMNS]
