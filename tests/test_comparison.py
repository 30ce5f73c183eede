"""Per-community DiD against comparison communities: estimates, SE parts (sampling, shock by gap,
df), the not-estimable fallback, role arguments, recovery of planted truth, and size and coverage
by simulation (two-sided bounds)."""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from statsmodels.stats.meta_analysis import combine_effects

from evalkit.errors import DroppedUnitsWarning, EstimationError, FewClustersWarning, ShockVarianceWarning
from evalkit.evaluation.baseline import change_from_baseline
from evalkit.evaluation.comparison import _paule_mandel, _scatter_df, community_effects
from evalkit.measure.scales import score
from evalkit.survey.design import SurveyDesign
from evalkit.survey.domains import domain_means

from .conftest import DATA

COMPARISON = ["fengyuan", "haojia", "huimin", "lijia", "qingfeng", "wenyuan", "zhenhua"]


@pytest.fixture(scope="module")
def scored(survey, codebook):
    return score(survey, codebook)


@pytest.fixture(scope="module")
def design(scored):
    return SurveyDesign(scored, weight="base_weight", strata="stratum", psu="psu")


@pytest.fixture(scope="module")
def effects(design, codebook, registry):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShockVarianceWarning)
        return community_effects(design, list(codebook.scales), registry=registry)


def test_missing_rows_are_explained(effects, codebook):
    """The children's scales are not measured in the urban programme communities: recorded, not silent."""
    why = pd.DataFrame(effects.attrs["explanations"])
    assert set(why["explanation"]) == {"not_measured"} and why["wave"].isna().all()
    child = [n for n, sc in codebook.scales.items() if sc.group == "child"]
    assert set(why["indicator"]) == set(child)
    assert "yangmiao" not in set(why["community_id"])  # the rural programme community has children


def test_target_estimates_explain_an_unmeasured_target(scored, registry, codebook):
    from evalkit.evaluation.targets import target_estimates
    from evalkit.spec.registry import programme_targets

    d = SurveyDesign(scored.drop(columns=["kidscreen10"]), weight="base_weight", strata="stratum", psu="psu")
    targets = programme_targets(registry)
    targets = targets[targets["community_id"].isin(["yangmiao", "mingyue"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShockVarianceWarning)
        with pytest.warns(DroppedUnitsWarning, match=r"kidscreen10 \(yangmiao\)"):
            table, eff = target_estimates(d, targets, registry, codebook)
    why = pd.DataFrame(eff.attrs["explanations"])
    assert why[["community_id", "target", "explanation"]].values.tolist() == [["yangmiao", "kidscreen10", "not_measured"]]
    assert "kidscreen10" not in set(eff["target"]) and "ucla3@elderly" in set(eff["target"])


def _two_wave_design(scored):
    sub = scored[scored["wave"].isin([2014, 2017])]
    return SurveyDesign(sub, weight="base_weight", strata="stratum", psu="psu")


def test_biennial_waves_use_the_last_wave_before_the_start(scored, registry):
    """Waves 2014 and 2017: 2016 starters are measured from 2014, not dropped without a word."""
    d = _two_wave_design(scored)
    res = community_effects(d, "cohesion", registry=registry)
    x = res[res["community_id"] == "xingsheng"]
    assert x[["wave", "base_wave", "event_time"]].values.tolist() == [[2017, 2014, 1]]
    # the same contrast by hand: change since 2014 minus the comparison communities' mean change
    cells = d.mean("cohesion", by=["community_id", "wave"]).set_index(["community_id", "wave"])["estimate"]
    comps = registry.loc[registry["role"] == "comparison", "community_id"]
    want = (cells["xingsheng", 2017] - cells["xingsheng", 2014]
            - np.mean([cells[k, 2017] - cells[k, 2014] for k in comps]))
    assert x["estimate"].iloc[0] == pytest.approx(want, rel=1e-10)


def test_no_base_wave_is_explained_and_warned(scored, registry):
    sub = scored[~((scored["community_id"] == "anning") & (scored["wave"] == 2014))]
    d = SurveyDesign(sub, weight="base_weight", strata="stratum", psu="psu")
    with pytest.warns(DroppedUnitsWarning, match=r"anning \(bscs\): no respondents in the base wave 2014"):
        res = community_effects(d, "bscs", registry=registry)
    assert "anning" not in set(res["community_id"])
    why = pd.DataFrame(res.attrs["explanations"])
    assert why[["community_id", "wave"]].values.tolist() == [["anning", 2015], ["anning", 2016], ["anning", 2017]]


def test_two_comparison_communities_warn(scored, registry):
    keep = set(registry.loc[registry["role"] == "programme", "community_id"]) | {"wenyuan", "qingfeng"}
    d = SurveyDesign(scored[scored["community_id"].isin(keep)], weight="base_weight", strata="stratum", psu="psu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShockVarianceWarning)
        with pytest.warns(FewClustersWarning, match="Only 2 comparison communities"):
            res = community_effects(d, "volunteering_any", registry=registry)
    assert len(res) and res["n_comparison"].eq(2).all()


def _trace_df(v, tau2):
    """Satterthwaite df of a sample variance from matrices: tr(M S)^2 / tr(M S M S)."""
    K = len(v)
    M = np.eye(K) - np.ones((K, K)) / K
    MS = M @ np.diag(np.asarray(v) + tau2)
    return np.trace(MS) ** 2 / np.trace(MS @ MS)


def test_domain_means_agree_with_design_mean(design):
    cells, V = domain_means(design, "bscs")
    ref = design.mean("bscs", by=["community_id", "wave"])
    np.testing.assert_allclose(cells["estimate"], ref["estimate"], rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(V)), ref["se"], rtol=1e-10)


def test_estimate_is_the_did_of_design_means(design, effects):
    m = design.mean("grid_awareness", by=["community_id", "wave"]).set_index(["community_id", "wave"])["estimate"]
    did = (m["shenghong", 2016] - m["shenghong", 2014]) - np.mean([m[k, 2016] - m[k, 2014] for k in COMPARISON])
    row = effects.query("community_id == 'shenghong' and wave == 2016 and indicator == 'grid_awareness'").iloc[0]
    assert row["estimate"] == pytest.approx(did, abs=1e-12)
    assert row["base_wave"] == 2014 and row["event_time"] == 1 and row["n_comparison"] == 7


def test_sampling_se_from_independent_community_changes(design, effects):
    # strata are communities, so community changes are independent: var = var(D_c) + sum var(D_k) / K^2
    ch = change_from_baseline(design, "bscs", baseline=2015).set_index(["community_id", "wave"])["se"]
    v = ch["heping", 2017] ** 2 + sum(ch[k, 2017] ** 2 for k in COMPARISON) / len(COMPARISON) ** 2
    row = effects.query("community_id == 'heping' and wave == 2017 and indicator == 'bscs'").iloc[0]
    assert row["se_sampling"] == pytest.approx(np.sqrt(v), rel=1e-10)
    assert row["se"] == pytest.approx(np.hypot(row["se_sampling"], row["se_shock"]), rel=1e-12)


def test_paule_mandel_matches_statsmodels_and_the_closed_form():
    rng = np.random.default_rng(7)
    D, v = rng.normal(0, 0.5, 7), rng.uniform(0.005, 0.05, 7)
    # independent implementation: statsmodels' random-effects meta-analysis, Paule-Mandel tau^2
    assert _paule_mandel([(D, v)]) == pytest.approx(combine_effects(D, v, method_re="pm").tau2, rel=1e-6)
    # equal sampling variances: Q(tau2) = (K-1) S^2 / (v + tau2), so tau2 = S^2 - v exactly
    v_eq = np.full(7, 0.01)
    assert _paule_mandel([(D, v_eq)]) == pytest.approx(np.var(D, ddof=1) - 0.01, rel=1e-9)
    # pooled groups solve the summed estimating equation
    D2, v2 = rng.normal(0, 0.5, 6), rng.uniform(0.005, 0.05, 6)
    tau2 = _paule_mandel([(D, v), (D2, v2)])
    q = sum(np.sum((d - np.average(d, weights=1 / (s + tau2))) ** 2 / (s + tau2)) for d, s in [(D, v), (D2, v2)])
    assert q == pytest.approx(7 - 1 + 6 - 1, rel=1e-8)
    # scatter within sampling error: no positive root, reported as a non-positive value
    assert _paule_mandel([(D * 0.01, v)]) <= 0


def test_scatter_df_is_the_trace_formula():
    v = np.array([0.001, 0.002, 0.05, 0.01, 0.003, 0.02, 0.004])
    assert _scatter_df(np.full(7, 0.01), 0.0) == pytest.approx(6, rel=1e-12)
    assert _scatter_df(v, 0.004) == pytest.approx(_trace_df(v, 0.004), rel=1e-12)
    assert _scatter_df(v, 0.004) < 6


def _joint_pm(groups):
    """Paule-Mandel tau^2 of several groups: root of the summed Q(tau2) - (K_g - 1) (brentq)."""
    def q(t2):
        return sum(np.sum((d - np.average(d, weights=1 / (s + t2))) ** 2 / (s + t2)) - (len(d) - 1)
                   for d, s in groups)
    assert q(0) > 0
    return optimize.brentq(q, 0, 100, xtol=1e-15, rtol=1e-13)


def test_shock_variance_and_df_of_the_three_year_gap(design, effects, scored):
    # The comparison communities' changes between every pair of waves, from change_from_baseline.
    pairs = {}
    for b in (2014, 2015, 2016):
        ch = change_from_baseline(design, "bscs", baseline=b).set_index(["community_id", "wave"])
        for t in range(b + 1, 2018):
            pairs[(b, t)] = (np.array([ch.loc[(k, t), "estimate"] for k in COMPARISON]),
                             np.array([ch.loc[(k, t), "se"] ** 2 for k in COMPARISON]))
    # 2014 -> 2017 is the only pair three years apart: its shock variance is the Paule-Mandel
    # tau^2 of those changes (statsmodels); gaps 1 and 2 pool their pairs in one equation.
    D, v = pairs[(2014, 2017)]
    tau2 = {3: combine_effects(D, v, method_re="pm").tau2,
            **{g: _joint_pm([pairs[p] for p in pairs if p[1] - p[0] == g]) for g in (1, 2)}}
    K = len(COMPARISON)
    row = effects.query("community_id == 'anning' and wave == 2017 and indicator == 'bscs'").iloc[0]
    assert row["shock_estimable"]
    assert row["se_shock"] ** 2 == pytest.approx((1 + 1 / K) * tau2[3], rel=1e-6)
    # each comparison community's relative shock variance, from all its changes (mean 1)
    num = sum(K / (K - 1) * (d - d.mean()) ** 2 - s for d, s in pairs.values())
    lam = np.maximum(num / sum(tau2[t - b] for b, t in pairs), 0)
    lam = lam / lam.mean()
    # Welch-Satterthwaite: each community's sampling part with its own design df (PSUs - strata),
    # the shock part with the scatter df of variances v_k + lambda_k tau2
    dof = scored.groupby("community_id").apply(lambda d: d["psu"].nunique() - d["stratum"].nunique())
    v_c = change_from_baseline(design, "bscs", baseline=2014).set_index(["community_id", "wave"]).loc[
        ("anning", 2017), "se"] ** 2
    sh = (1 + 1 / K) * tau2[3]
    den = v_c ** 2 / dof["anning"] + sum((vk / K ** 2) ** 2 / dof[k] for k, vk in zip(COMPARISON, v)) \
        + sh ** 2 / _trace_df(v + lam * tau2[3], 0.0)
    assert row["df"] == pytest.approx(row["se"] ** 4 / den, rel=1e-5)
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(row["estimate"] / row["se"]), row["df"]), rel=1e-9)


def test_shock_variance_is_gap_specific(effects):
    one = effects.query("community_id == 'anning' and indicator == 'bscs'").set_index("wave")
    # same indicator, same comparison group, different base-to-wave distance: different shock SE
    assert one.loc[2015, "se_shock"] != pytest.approx(one.loc[2017, "se_shock"], rel=1e-3)
    two = effects.query("community_id == 'shenghong' and indicator == 'bscs'").set_index("wave")
    np.testing.assert_allclose(one["se_shock"], two["se_shock"], rtol=1e-12)  # same starts, same gaps


def _flat_controls(shifts, seed=3):
    """Two waves; two programme communities, controls whose wave-2 respondents are their wave-1
    respondents shifted by a constant (new PSU ids: independent samples). Each control's change is
    then exactly its shift and its sampling variance twice its wave-1 variance."""
    rng = np.random.default_rng(seed)
    names = ["p1", "p2"] + [f"k{i}" for i in range(len(shifts))]
    rows = []
    for j, c in enumerate(names):
        base = pd.DataFrame({"comm": c, "year": 2014, "psu": np.repeat([f"{c}-{i}" for i in range(5)], 8),
                             "w": rng.uniform(0.5, 2.0, 40), "y": rng.normal(0, 1, 40)})
        later = base.assign(year=2015, psu=base["psu"] + "-b")
        if j < 2:
            later["y"] = rng.normal(0, 1, 40)
        else:
            later["y"] = later["y"] + shifts[j - 2]
        rows += [base, later]
    starts = {c: (2015 if c.startswith("p") else None) for c in names}
    return pd.concat(rows, ignore_index=True), starts


def test_not_estimable_shock_variance_is_flagged_and_conservative():
    shifts = np.array([-0.15, 0.0, 0.1, 0.12, -0.08])  # scatter below the sampling error
    data, starts = _flat_controls(shifts)
    d = SurveyDesign(data, weight="w", strata="comm", psu="psu")
    with pytest.warns(ShockVarianceWarning, match="not estimable"):
        res = community_effects(d, "y", registry=starts, community="comm", wave="year")
    assert not res["shock_estimable"].any()
    ch = change_from_baseline(d, "y", community="comm", wave="year").set_index("comm")
    ks = [f"k{i}" for i in range(5)]
    np.testing.assert_allclose(ch.loc[ks, "estimate"], shifts, atol=1e-12)  # the construction works
    K, S2 = len(ks), np.var(shifts, ddof=1)
    v_k = ch.loc[ks, "se"].to_numpy() ** 2
    assert (1 + 1 / K) * S2 > v_k.sum() / K ** 2  # so the fallback adds a positive shock part
    for _, row in res.iterrows():
        # all of the controls' observed scatter credited to shocks: se^2 = v_c + (1 + 1/K) S^2
        v_c = ch.loc[row["comm"], "se"] ** 2
        assert row["se"] ** 2 == pytest.approx(v_c + (1 + 1 / K) * S2, rel=1e-10)
        assert row["se"] > row["se_sampling"]
        sh = row["se_shock"] ** 2
        # every community has 10 PSUs in 1 stratum: design df 9
        den = v_c ** 2 / 9 + sum((x / K ** 2) ** 2 / 9 for x in v_k) + sh ** 2 / _trace_df(v_k, 0.0)
        assert row["df"] == pytest.approx(row["se"] ** 4 / den, rel=1e-9)


def test_role_arguments_name_the_output_columns(design, scored, registry):
    renamed = SurveyDesign(scored.rename(columns={"community_id": "comm", "wave": "year"}),
                           weight="base_weight", strata="stratum", psu="psu")
    a = community_effects(renamed, "who5", registry=registry, community="comm", wave="year")
    b = community_effects(design, "who5", registry=registry)
    assert list(a.columns[:3]) == ["comm", "start_year", "year"]
    assert "community_id" not in a.columns and "wave" not in a.columns
    pd.testing.assert_frame_equal(a.rename(columns={"comm": "community_id", "year": "wave"}), b)
    with pytest.raises(EstimationError, match="community='community_id' is not a column"):
        community_effects(renamed, "who5", registry=registry, wave="year")


def test_recovers_planted_truth_within_intervals(effects):
    truth = pd.read_csv(DATA / "truth.csv")
    truth = truth[truth["group"] != "elderly"]
    post = effects[effects["event_time"] >= 0].merge(truth, on=["community_id", "wave", "indicator"])
    assert len(post) > 300
    covered = (post["ci_low"] <= post["att"]) & (post["att"] <= post["ci_high"])
    assert covered.mean() >= 0.90  # 95% intervals, one data set: allow sampling luck
    targeted = post[post["targeted"]]
    assert ((targeted["ci_low"] <= targeted["att"]) & (targeted["att"] <= targeted["ci_high"])).mean() >= 0.90


def test_null_and_fading_communities(effects):
    null = effects[(effects["community_id"] == "xingsheng") & (effects["event_time"] >= 0)]
    assert ((null["ci_low"] <= 0) & (0 <= null["ci_high"])).mean() >= 0.90
    fade = effects.query("community_id == 'heping' and indicator == 'selforg_member'").set_index("wave")
    assert fade.loc[2016, "estimate"] > fade.loc[2017, "estimate"]
    assert fade.loc[2016, "ci_low"] > 0  # the first-year effect is detected


def test_placebo_pre_periods_rarely_reject(effects):
    pre = effects[effects["event_time"] < 0]
    assert len(pre) > 40
    assert (pre["p_value"] < 0.05).mean() <= 0.10


def test_subgroup_domain(design, registry):
    eld = community_effects(design, "ucla3", registry=registry, domain={"role": ["elderly"]})
    allr = community_effects(design, "ucla3", registry=registry)
    a = eld.query("community_id == 'mingyue' and wave == 2017").iloc[0]
    b = allr.query("community_id == 'mingyue' and wave == 2017").iloc[0]
    assert a["n_treated"] < b["n_treated"]
    truth = pd.read_csv(DATA / "truth.csv").query("community_id == 'mingyue' and indicator == 'ucla3' and group == 'elderly' and wave == 2017")
    assert a["ci_low"] <= truth["att"].iloc[0] <= a["ci_high"]


# ---- size and coverage by simulation ------------------------------------------------------------
WAVES = np.array([2014, 2015, 2016, 2017])


def _null_survey(seed, G=14, n_psu=12, m=5, shock=0.12):
    """14 communities x 4 waves, 12 persistent PSUs of 5 respondents (PSU effects SD 0.3),
    lognormal weights, i.i.d. community-by-wave shocks (SD 0.12), no programme effect; start
    years drawn 4 x 2015, 3 x 2016, 7 never. Two independent outcomes."""
    rng = np.random.default_rng(seed)
    names = np.array([f"c{i:02d}" for i in range(G)])
    starts = dict(zip(names, rng.permutation([2015] * 4 + [2016] * 3 + [None] * (G - 7))))
    c = np.repeat(np.arange(G), WAVES.size * n_psu * m)
    t = np.tile(np.repeat(np.arange(WAVES.size), n_psu * m), G)
    p = np.tile(np.repeat(np.arange(n_psu), m), G * WAVES.size)
    y1 = rng.normal(0, shock, (G, WAVES.size))[c, t] + rng.normal(0, 0.3, (G, n_psu))[c, p] + rng.normal(0, 1, c.size)
    y2 = rng.normal(0, shock, (G, WAVES.size))[c, t] + rng.normal(0, 1, c.size)
    data = pd.DataFrame({"comm": names[c], "year": WAVES[t], "psu": names[c] + "-" + p.astype(str),
                         "w": np.exp(rng.normal(0, 0.3, c.size)), "y1": y1, "y2": y2})
    return SurveyDesign(data, weight="w", strata="comm", psu="psu"), starts


@pytest.fixture(scope="module")
def null_sim():
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShockVarianceWarning)
        for seed in range(400):
            d, starts = _null_survey(seed)
            out.append(community_effects(d, ["y1", "y2"], registry=starts, community="comm",
                                         wave="year").assign(rep=seed))
    return pd.concat(out, ignore_index=True)


def test_simulated_size_is_five_percent(null_sim):
    # 400 null surveys, 16,800 tests (every row is null: pre and post). The replication-clustered
    # MC SE of the rejection rate is 0.2 points, so [4%, 6%] is +-5 MC SE around 5%.
    # Here 4.6%. Putting back the t(K-1) df gives 2.3%; SEs 10% too large 3.3%, 10% too small
    # 6.25% (measured on these seeds by editing community_effects).
    reject = (null_sim["p_value"] <= 0.05).mean()
    assert 0.040 <= reject <= 0.060
    covered = ((null_sim["ci_low"] <= 0) & (0 <= null_sim["ci_high"])).mean()
    assert 0.940 <= covered <= 0.960


def test_simulated_t_statistics_have_their_reference_distribution(null_sim):
    # Probability-integral transform to normal scores: z = Phi^-1(F_t,df(t)) is N(0, 1) when the SE
    # and df are right. var(z) has a replication-clustered MC SE of 0.017, so [0.93, 1.07] is about
    # +-4 MC SE around 1. Here 0.965; SEs 10% too large give 0.83, 10% too small 1.11, the t(K-1)
    # df 0.79.
    z = stats.norm.ppf(np.clip(stats.t.cdf(null_sim["statistic"], null_sim["df"]), 1e-12, 1 - 1e-12))
    assert 0.93 <= np.var(z) <= 1.07
    assert abs(np.mean(z)) <= 0.05
    half = (np.abs(z) <= stats.norm.ppf(0.75)).mean()  # 50% intervals
    assert 0.47 <= half <= 0.53


def test_cells_without_a_variance_are_explained(scored, registry):
    keep = ["mingyue", "xingsheng", "wenyuan", "qingfeng", "huimin", "zhenhua"]
    sub = scored[scored["community_id"].isin(keep) & scored["wave"].isin([2014, 2017])]
    sub = sub.groupby(["community_id", "wave"], group_keys=False).head(15)  # one PSU each
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = SurveyDesign(sub, weight="base_weight", strata="stratum", psu="psu")
    with pytest.warns(DroppedUnitsWarning, match="no sampling variance"):
        res = community_effects(d, "cohesion", registry=registry[registry["community_id"].isin(keep)])
    assert res.empty
    assert {r["explanation"] for r in res.attrs["explanations"]} == {"no_variance"}
