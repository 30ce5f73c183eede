"""Per-community DiD against comparison communities: estimates, SE parts, recovery of planted truth."""
import numpy as np
import pandas as pd
import pytest

from evalkit.baseline import change_from_baseline
from evalkit.comparison import community_effects, domain_means
from evalkit.design import SurveyDesign
from evalkit.scales import score

from .conftest import DATA

COMPARISON = ["fengyuan", "haojia", "huimin", "lijia", "qingfeng", "wenyuan", "zhenhua"]


@pytest.fixture(scope="module")
def design(survey, codebook):
    return SurveyDesign(score(survey, codebook), weight="base_weight", strata="stratum", psu="psu")


@pytest.fixture(scope="module")
def effects(design, codebook):
    return community_effects(design, list(codebook.scales))


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


def test_subgroup_domain(design):
    eld = community_effects(design, "ucla3", domain={"role": ["elderly"]})
    allr = community_effects(design, "ucla3")
    a = eld.query("community_id == 'mingyue' and wave == 2017").iloc[0]
    b = allr.query("community_id == 'mingyue' and wave == 2017").iloc[0]
    assert a["n_treated"] < b["n_treated"]
    truth = pd.read_csv(DATA / "truth.csv").query("community_id == 'mingyue' and indicator == 'ucla3' and group == 'elderly' and wave == 2017")
    assert a["ci_low"] <= truth["att"].iloc[0] <= a["ci_high"]
