"""Random-effects pooling, shrunken community effects, the heterogeneity randomization test and
summary indices (evalkit.evaluation.pooling).

Reference values are metafor's published output for the BCG vaccine data (dat.bcg, copied to
tests/data/metafor_dat_bcg.csv from metafor's README), log risk ratios by
``escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)``. Published values
carry 4 decimals, so they are matched to 1e-4.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import EstimationError, EvalkitError
from evalkit.evaluation.pooling import heterogeneity_test, pool_effects, summary_index, theme_indices

DATA = Path(__file__).parent / "data" / "metafor_dat_bcg.csv"
TOL = 1e-4


@pytest.fixture(scope="module")
def bcg() -> pd.DataFrame:
    d = pd.read_csv(DATA, comment="#")
    yi = np.log(d.tpos / (d.tpos + d.tneg)) - np.log(d.cpos / (d.cpos + d.cneg))
    vi = 1 / d.tpos - 1 / (d.tpos + d.tneg) + 1 / d.cpos - 1 / (d.cpos + d.cneg)
    return pd.DataFrame({"study": d.author + " " + d.year.astype(str), "estimate": yi, "variance": vi,
                         "se": np.sqrt(vi)})


def test_escalc_log_risk_ratios(bcg):
    # metafor README.md, printed `dat` after escalc(measure="RR"): yi and vi of trials 1, 8, 13
    assert bcg.estimate.iloc[0] == pytest.approx(-0.8893, abs=TOL)
    assert bcg.variance.iloc[0] == pytest.approx(0.3256, abs=TOL)
    assert bcg.estimate.iloc[7] == pytest.approx(0.0120, abs=TOL)
    assert bcg.variance.iloc[12] == pytest.approx(0.0714, abs=TOL)


def test_dersimonian_laird_matches_metafor(bcg):
    # metafor tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r, "RE model w/ DL estimator,
    # measure='RR'": rma(yi, vi, data=dat, method="DL") (also Stata metan, randomi)
    r = pool_effects(bcg, method="DL")
    assert r.estimate == pytest.approx(-0.7141, abs=TOL)
    assert r.ci_low == pytest.approx(-1.0644, abs=TOL)
    assert r.ci_high == pytest.approx(-0.3638, abs=TOL)
    assert r.statistic == pytest.approx(-3.9952, abs=TOL)
    assert r.tau2 == pytest.approx(0.3088, abs=TOL)
    assert r.i2 == pytest.approx(92.1173, abs=TOL)
    # same file, FE model: QE = 152.2330
    assert r.q == pytest.approx(152.2330, abs=TOL)


def test_reml_matches_metafor(bcg):
    # rma(yi, vi, data=dat) (REML, z test), printed output reproduced in the RoBMA package
    # vignette (github.com/FBartos/RoBMA): tau^2 0.3132 (SE 0.1664), I^2 92.22%, H^2 12.86,
    # estimate -0.7145, se 0.1798, zval -3.9744, ci -1.0669 to -0.3622.
    # (The brief quoted -1.0667 for ci.lb; metafor prints -1.0669 and first principles agree.)
    r = pool_effects(bcg, variance="variance", se=None, label="study")
    assert r.converged
    assert r.tau2 == pytest.approx(0.3132, abs=TOL)
    assert r.tau2_se == pytest.approx(0.1664, abs=TOL)
    assert r.estimate == pytest.approx(-0.7145, abs=TOL)
    assert r.se == pytest.approx(0.1798, abs=TOL)
    assert r.statistic == pytest.approx(-3.9744, abs=TOL)
    assert r.ci_low == pytest.approx(-1.0669, abs=TOL)
    assert r.ci_high == pytest.approx(-0.3622, abs=TOL)
    assert r.i2 == pytest.approx(92.22, abs=0.005)
    assert r.h2 == pytest.approx(12.86, abs=0.005)


def test_reml_hartung_knapp_and_prediction_interval_match_metafor_readme(bcg):
    # metafor README.md: rma(yi, vi, data=dat, test="knha"): estimate -0.7145, se 0.1808,
    # tval -3.9522, df 12, pval 0.0019, ci -1.1084 to -0.3206;
    # predict(res, transf=exp, digits=2): pi.lb 0.14, pi.ub 1.76
    r = pool_effects(bcg, method="REML", hartung_knapp=True)
    assert r.df == 12
    assert r.se == pytest.approx(0.1808, abs=TOL)
    assert r.statistic == pytest.approx(-3.9522, abs=TOL)
    assert r.p_value == pytest.approx(0.0019, abs=TOL)
    assert r.ci_low == pytest.approx(-1.1084, abs=TOL)
    assert r.ci_high == pytest.approx(-0.3206, abs=TOL)
    assert np.exp(r.pi_low) == pytest.approx(0.14, abs=0.005)
    assert np.exp(r.pi_high) == pytest.approx(1.76, abs=0.005)


def test_shrunken_effects_first_principles(bcg):
    # BLUP (metafor blup.rma.uni): mu + lambda (y - mu), var lambda v + (1 - lambda)^2 var(mu)
    r = pool_effects(bcg, method="DL", label="study")
    c = r.communities
    lam = r.tau2 / (r.tau2 + bcg.variance.to_numpy())
    np.testing.assert_allclose(c.estimate, r.estimate + lam * (bcg.estimate - r.estimate), rtol=1e-12)
    np.testing.assert_allclose(c.se ** 2, lam * bcg.variance + (1 - lam) ** 2 * r.se ** 2, rtol=1e-12)
    assert c.weight.sum() == pytest.approx(100)
    # shrinkage pulls every community towards the pooled effect, more when its variance is larger
    assert np.all(np.abs(c.estimate - r.estimate) <= np.abs(c.observed - r.estimate) + 1e-12)
    assert list(c.label) == list(bcg.study)


def test_zero_heterogeneity_gives_the_fixed_effect():
    eff = pd.DataFrame({"estimate": [0.1, 0.1, 0.1], "se": [0.1, 0.2, 0.3]})
    for m in ("DL", "REML"):
        r = pool_effects(eff, method=m)
        assert r.tau2 == 0 and r.estimate == pytest.approx(0.1)
        assert r.se == pytest.approx(1 / np.sqrt(np.sum(1 / eff.se ** 2)))


def test_bad_input_is_refused_with_the_row():
    eff = pd.DataFrame({"estimate": [0.1, np.nan, 0.3], "se": [0.1, 0.2, 0.0], "c": ["a", "b", "c"]})
    with pytest.raises(EstimationError, match=r"b \(estimate=nan"):
        pool_effects(eff, label="c")
    with pytest.raises(EvalkitError, match="'effect'"):
        pool_effects(eff, estimate="effect")
    with pytest.raises(EvalkitError, match="method="):
        pool_effects(eff, method="PM")
    with pytest.raises(EstimationError, match="at least 2"):
        pool_effects(eff.iloc[:1])


def _panel(k=6, n=25, effects=None, seed=1):
    rng = np.random.default_rng(seed)
    effects = np.zeros(k) if effects is None else np.asarray(effects)
    rows = []
    for c in range(k):
        for post in (0, 1):
            y = 3 + 0.3 * c + post * (0.2 + effects[c]) + rng.normal(0, 1, n)
            rows.append(pd.DataFrame({"y": y, "c": f"c{c}", "post": post, "w": rng.uniform(0.5, 2, n)}))
    return pd.concat(rows, ignore_index=True)


def test_heterogeneity_test_is_reproducible_and_detects_differences():
    same = _panel()
    a = heterogeneity_test(same, outcome="y", community="c", post="post", n_perm=499, seed=3)
    b = heterogeneity_test(same, outcome="y", community="c", post="post", n_perm=499, seed=3)
    assert a.p_value == b.p_value and a.n_permutations == 500
    assert 1 / 500 <= a.p_value <= 1
    diff = _panel(effects=[0, 0, 0, 1.5, 1.5, 1.5])
    d = heterogeneity_test(diff, outcome="y", community="c", post="post", weights="w", n_perm=499, seed=3)
    assert d.p_value < 0.01
    assert list(d.changes.community) == [f"c{i}" for i in range(6)]


def test_heterogeneity_test_size_under_the_null():
    # 40 null data sets, 199 permutations each: rejections at 10% should be about 4 (binomial
    # 99.9% range 0-11)
    rej = [heterogeneity_test(_panel(k=5, n=15, seed=s), outcome="y", community="c", post="post",
                              n_perm=199, seed=s).p_value <= 0.10 for s in range(40)]
    assert sum(rej) <= 11


def test_heterogeneity_test_refuses_missing_outcomes():
    d = _panel()
    d.loc[5, "y"] = np.nan
    with pytest.raises(EstimationError, match="1 row"):
        heterogeneity_test(d, outcome="y", community="c", post="post")


def test_summary_index_klk_is_the_mean_of_z_scores():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"a": rng.normal(10, 2, 200), "b": rng.normal(0, 5, 200), "base": np.arange(200) < 100})
    s = summary_index(d, ["a", "b"], reference=d.base, method="klk", signs={"b": -1})
    ref = d[d.base]
    za = (d.a - ref.a.mean()) / ref.a.std(ddof=0)
    zb = -(d.b - ref.b.mean()) / ref.b.std(ddof=0)
    np.testing.assert_allclose(s, (za + zb) / 2, rtol=1e-12)


def test_summary_index_anderson_downweights_correlated_outcomes():
    rng = np.random.default_rng(2)
    f = rng.normal(size=400)
    d = pd.DataFrame({"x1": f + 0.1 * rng.normal(size=400), "x2": f + 0.1 * rng.normal(size=400),
                      "x3": rng.normal(size=400)})
    s = summary_index(d, ["x1", "x2", "x3"])
    w = s.attrs["weights"]
    # two near-copies share about the weight of one independent outcome (Anderson 2008)
    assert w["x3"] > 0.4 and w["x1"] + w["x2"] < 0.6
    assert s.mean() == pytest.approx(0, abs=1e-12) and s.std(ddof=0) == pytest.approx(1)
    # first principles: inverse-covariance row sums
    Z = ((d - d.mean()) / d.std(ddof=0)).to_numpy()
    wt = np.linalg.inv(np.cov(Z.T)).sum(axis=1)
    np.testing.assert_allclose(list(w.values()), wt / wt.sum(), rtol=1e-10)


def test_summary_index_uses_available_outcomes_and_keeps_every_row():
    d = pd.DataFrame({"a": [1.0, 2, 3, np.nan, 5, 6], "b": [2.0, 1, 4, np.nan, 6, np.nan]})
    s = summary_index(d, ["a", "b"], method="klk")
    assert len(s) == len(d) and np.isnan(s.iloc[3]) and np.isfinite(s.iloc[5])
    assert s.attrs["n_outcomes"] == [2, 2, 2, 0, 2, 1]
    t = theme_indices(d.fillna(0), {"one": ["a"], "both": ["a", "b"]}, method="klk")
    assert list(t.columns) == ["one", "both"] and len(t) == len(d)


def test_summary_index_errors_name_the_column():
    d = pd.DataFrame({"a": [1.0, 1, 1], "b": [1.0, 2, 3]})
    with pytest.raises(EstimationError, match="'a' does not vary"):
        summary_index(d, ["a", "b"], method="klk")
    with pytest.raises(EvalkitError, match=r"\['zz'\]"):
        summary_index(d, ["zz"])


def test_scale_pools_standardised_effects(bcg):
    sd = np.linspace(0.5, 2.0, len(bcg))
    scaled = bcg.assign(estimate=bcg.estimate * sd, se=bcg.se * sd, sd=sd)
    a = pool_effects(scaled, scale="sd")
    b = pool_effects(bcg)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12) and a.tau2 == pytest.approx(b.tau2, rel=1e-10)
