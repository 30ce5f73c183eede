"""Many clusters (clustering by household): per-cluster sums and the Satterthwaite df without a loop
over clusters or a G x G matrix give the same numbers as the small-G code (to rounding).

Reference: evalkit's own small-G route (a BLAS product per cluster; the dense G x G matrix P of
Pustejovsky & Tipton's df, checked against clubSandwich in test_regress.py), forced here by raising
the thresholds; the vectorised route is the one taken above them.
"""
import numpy as np
import pandas as pd
import pytest

from evalkit.inference import cr2
from evalkit.inference.regress import regress


def _panel(seed=3, units=700, waves=4, communities=35):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"unit": np.repeat(np.arange(units), waves), "wave": np.tile(np.arange(waves), units)})
    d = d[rng.uniform(size=len(d)) > 0.2].reset_index(drop=True)          # unequal cluster sizes
    d["community"] = d["unit"] % communities
    d["d"] = ((d["wave"] >= 2) & (d["community"] < communities // 2)).astype(float)
    d["x"] = rng.lognormal(9, 0.5, size=len(d))
    d["w"] = rng.uniform(0.5, 2, size=len(d))
    d["y"] = 0.3 * d["d"] + 1e-4 * d["x"] + np.sin(d["unit"]) + rng.normal(size=len(d))
    return d


@pytest.mark.parametrize("formula, weights, cluster", [
    ("y ~ d + x | unit + wave", None, "unit"),
    ("y ~ d + x | unit + wave", "w", "community"),
    ("y ~ d + x + C(wave)", "w", "unit"),
])
@pytest.mark.parametrize("vcov", ["CR1", "CR2"])
def test_vectorised_cluster_sums_and_df_equal_the_per_cluster_route(monkeypatch, formula, weights, cluster, vcov):
    d = _panel()
    monkeypatch.setattr(cr2, "LOOP_CLUSTERS_MAX", 10 ** 9)
    monkeypatch.setattr(cr2, "DENSE_P_MAX", 10 ** 9)
    small = regress(formula, d, cluster=cluster, vcov=vcov, weights=weights)
    monkeypatch.setattr(cr2, "LOOP_CLUSTERS_MAX", 5)
    monkeypatch.setattr(cr2, "DENSE_P_MAX", 5)
    big = regress(formula, d, cluster=cluster, vcov=vcov, weights=weights)
    np.testing.assert_allclose(big.se.to_numpy(), small.se.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(big.df.to_numpy(), small.df.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(big.fit.QQ_g, small.fit.QQ_g, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(big.fit.Qs_g, small.fit.Qs_g, rtol=1e-10, atol=1e-13)
