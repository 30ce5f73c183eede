"""Pooled programme effect: equals att_gt on the community panel; randomization inference is exact."""
import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.impact import programme_effect


def _long(panel, starts):
    df = panel.stack().rename("y").reset_index()
    df.columns = ["community", "wave", "y"]
    df["g"] = df["community"].map(starts)
    df["unit"] = pd.factorize(df["community"], sort=True)[0]
    return df


def _panel(rng, K=10, waves=(2014, 2015, 2016, 2017), effect=0.0, starts=None):
    comms = [f"c{i:02d}" for i in range(K)]
    base = rng.normal(0, 1, (K, 1)) + rng.normal(0, 0.3, (K, len(waves))) + np.arange(len(waves)) * 0.1
    Y = pd.DataFrame(base, index=comms, columns=list(waves))
    for c, g in starts.items():
        if g:
            Y.loc[c, [w for w in waves if w >= g]] += effect
    return Y


STARTS10 = {"c00": 2015, "c01": 2015, "c02": 2016, "c03": 2016, "c04": 2016,
            "c05": 0, "c06": 0, "c07": 0, "c08": 0, "c09": 0}


def test_equals_att_gt_on_the_community_panel():
    rng = np.random.default_rng(1)
    Y = _panel(rng, effect=0.5, starts=STARTS10)
    with pytest.warns(evalkit.FewClustersWarning, match="10 communities"):
        r = programme_effect(Y, "y", registry=STARTS10, n_perm=199)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = evalkit.att_gt(_long(Y, STARTS10), y="y", group="g", time="wave", unit="unit", control="never")
    assert r.simple == pytest.approx(a.aggregate("simple").overall_att, abs=1e-12)
    dyn = a.aggregate("dynamic").tidy()
    np.testing.assert_allclose(r.dynamic, dyn["att"], atol=1e-12)
    assert list(r.event_times) == dyn["event_time"].tolist()


def test_randomization_p_value_by_brute_force():
    # 6 communities, 2 start in 2016, 2 in 2017, 2 never: 6!/(2!2!2!) = 90 distinct assignments.
    rng = np.random.default_rng(7)
    starts = {"c00": 2016, "c01": 2016, "c02": 2017, "c03": 2017, "c04": 0, "c05": 0}
    Y = _panel(rng, K=6, waves=(2015, 2016, 2017), effect=0.4, starts=starts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = programme_effect(Y, "y", registry=starts, n_perm=1000)
        assert r.exact and r.n_assignments == 90
        labels = list(starts.values())
        stats = []
        for perm in set(itertools.permutations(labels)):
            s = dict(zip(starts, perm))
            a = evalkit.att_gt(_long(Y, s), y="y", group="g", time="wave", unit="unit", control="never")
            stats.append(a.aggregate("simple").overall_att)
    obs = r.simple
    p_brute = np.mean(np.abs(stats) >= abs(obs) - 1e-12)
    assert len(stats) == 90
    assert r.p_value == pytest.approx(p_brute, abs=1e-12)


def test_interval_is_the_set_of_effects_not_rejected():
    rng = np.random.default_rng(3)
    Y = _panel(rng, effect=0.8, starts=STARTS10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = programme_effect(Y, "y", registry=STARTS10, n_perm=499, seed=5)
        lo, hi = r.ci
        assert lo < r.simple < hi
        D = pd.DataFrame({w: [1.0 if g and w >= g else 0.0 for g in STARTS10.values()] for w in Y.columns},
                         index=Y.index)
        for tau, inside in [(lo + 1e-6, True), (lo - 1e-3, False), (hi - 1e-6, True), (hi + 1e-3, False)]:
            p = programme_effect(Y - tau * D, "y", registry=STARTS10, n_perm=499, seed=5).p_value
            assert (p > 0.05) == inside, (tau, p)


def test_null_rejection_rate_and_coverage_in_simulation():
    # 150 simulated 14-community panels, 7 programme communities; RI is exact under the null,
    # so rejection at 5% should be about 5% (binomial SE 1.8%) and coverage about 95%.
    rng = np.random.default_rng(2017)
    starts = {f"c{i:02d}": (2015 if i < 4 else 2016 if i < 7 else 0) for i in range(14)}
    rej, cover = 0, 0
    reps = 150
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(reps):
            Y0 = _panel(rng, K=14, starts=starts, effect=0.0)
            rej += programme_effect(Y0, "y", registry=starts, n_perm=99, seed=int(rng.integers(1e9))).p_value <= 0.05
            Y1 = _panel(rng, K=14, starts=starts, effect=0.3)
            lo, hi = programme_effect(Y1, "y", registry=starts, n_perm=99, seed=int(rng.integers(1e9))).ci
            cover += lo <= 0.3 <= hi
    assert 0.02 <= rej / reps <= 0.09
    assert 0.90 <= cover / reps <= 0.99


def test_shipped_data_selforg(survey, codebook):
    design = evalkit.SurveyDesign(evalkit.score(survey, codebook), weight="base_weight", strata="stratum", psu="psu")
    with pytest.warns(evalkit.FewClustersWarning, match="14 communities"):
        r = programme_effect(design, "selforg_member")
    t = r.tidy()
    assert set(t["type"]) == {"simple", "dynamic"}
    assert r.ci[0] <= r.simple <= r.ci[1]


def test_errors():
    Y = _panel(np.random.default_rng(0), starts=STARTS10)
    with pytest.raises(evalkit.EstimationError, match="never-treated"):
        programme_effect(Y, "y", registry={c: 2016 for c in STARTS10})
    Y2 = Y.copy()
    Y2.iloc[0, 1] = np.nan
    with pytest.raises(evalkit.EstimationError, match="balanced"):
        programme_effect(Y2, "y", registry=STARTS10)
