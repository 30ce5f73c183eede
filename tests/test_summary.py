"""The evaluation summary (evalkit.evaluation.summary.summarise): one set of results for every product.

Reference values: hand computations written out beside each assertion; Holm against statsmodels'
``multipletests(method="holm")``; the planted effects of the synthetic data (``truth.csv``,
``evalkit.datasets.load_truth``).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from evalkit.datasets import load_truth
from evalkit.evaluation.comparison import community_effects
from evalkit.evaluation.effect_terms import (EVIDENCE_SCALE, evidence_level, headcount, holm, pct_of_baseline,
                                             pooled_sd, ruled_out, target_population)
from evalkit.evaluation.summary import EFFECT_COLUMNS, EvaluationSummary, summarise
from evalkit.evaluation.impact import _design
from evalkit.errors import EvalkitError, FewClustersWarning
from evalkit.spec.registry import programme_targets


@pytest.fixture(scope="module")
def summary(shipped):
    study, survey = shipped
    return summarise(survey, study)


# -- effects in meaningful terms, by hand ----------------------------------------------------------

def test_pct_of_baseline_by_hand():
    assert pct_of_baseline(-1.0, 5.0) == pytest.approx(-20.0)  # -1 / 5 = -20 %
    assert np.isnan(pct_of_baseline(0.3, 0.0))
    np.testing.assert_allclose(pct_of_baseline([0.1, 0.2], [0.5, 0.4]), [20.0, 50.0])


def test_pooled_sd_by_hand():
    # group a: 1, 3 -> variance 2 (n-1 = 1); group b: 2, 6 -> variance 8; pooled sqrt((2 + 8) / 2) = sqrt(5)
    y = np.array([1.0, 3.0, 2.0, 6.0])
    assert pooled_sd(y, np.ones(4), np.array(["a", "a", "b", "b"])) == pytest.approx(np.sqrt(5))
    # weights: a = (0 w1, 2 w3) -> weighted mean 1.5, var = (3*1.5^2 + 1*0.5^2... ) computed explicitly
    w = np.array([3.0, 1.0, 1.0, 1.0])
    ma = (3 * 1 + 1 * 3) / 4
    va = (3 * (1 - ma) ** 2 + (3 - ma) ** 2) / 4 * 2
    assert pooled_sd(y, w, np.array(["a", "a", "b", "b"])) == pytest.approx(np.sqrt((va + 8) / 2))


def test_headcount_by_hand():
    # the example: +15.5 percentage points x 9,160 adults = 1,419.8 people
    assert headcount(0.155, 0.05, 0.26, 9160) == pytest.approx((1419.8, 458.0, 2381.6))
    assert all(np.isnan(headcount(0.1, 0.0, 0.2, np.nan)))


def test_ruled_out_by_hand():
    assert ruled_out(-0.1, 0.3, "higher") == 0.3  # rises above 0.3 are ruled out
    assert ruled_out(-0.8, 0.2, "lower") == -0.8  # falls below -0.8 are ruled out
    assert np.isnan(ruled_out(0.1, 0.3, "higher"))  # excludes 0: nothing to rule out
    assert np.isnan(ruled_out(np.nan, 0.3, "higher"))


def test_holm_by_hand_and_against_statsmodels():
    from statsmodels.stats.multitest import multipletests

    # by hand: sorted 0.01, 0.03, 0.04 (m = 3) -> 0.03, max(0.03, 0.06), max(0.06, 0.04) = 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, np.nan])[:3], [0.03, 0.06, 0.06])
    assert np.isnan(holm([0.01, np.nan])[1])
    p = np.random.default_rng(5).uniform(0, 0.2, 12)
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])


def test_target_population_from_the_registry(shipped):
    study, _ = shipped
    reg = study.registry.set_index("community_id")
    # Mingyue residents 60+: the registry row's pop_male_60plus + pop_female_60plus
    want = reg.loc["mingyue", "pop_male_60plus"] + reg.loc["mingyue", "pop_female_60plus"]
    assert target_population(study.registry, "mingyue", ["elderly"], study.codebook) == want
    adults = sum(reg.loc["anning", f"pop_{s}_{a}"] for s in ("male", "female") for a in ("18_39", "40_59", "60plus"))
    assert target_population(study.registry, "anning", ["adult", "elderly"], study.codebook) == adults
    assert np.isnan(target_population(study.registry, "anning", ["elderly"], None))  # no rule: unknown


def test_evidence_rule():
    kw = dict(level=0.95, same_direction=True)
    assert evidence_level(has_estimate=False, p_value=np.nan, p_adjusted=np.nan, loo_holds=False, **kw) == 0
    assert evidence_level(has_estimate=True, p_value=0.001, p_adjusted=0.02, loo_holds=True, **kw) == 3
    assert evidence_level(has_estimate=True, p_value=0.001, p_adjusted=0.02, loo_holds=False, **kw) == 2
    assert evidence_level(has_estimate=True, p_value=0.01, p_adjusted=0.2, loo_holds=True, **kw) == 2
    assert evidence_level(has_estimate=True, p_value=0.3, p_adjusted=1.0, loo_holds=False, **kw) == 1
    assert evidence_level(has_estimate=True, p_value=0.3, p_adjusted=1.0, loo_holds=False, level=0.95,
                          same_direction=False) == 0
    assert [lvl for lvl, *_ in EVIDENCE_SCALE] == [3, 2, 1, 0]


# -- the summary on the shipped data ----------------------------------------------------------------

def test_one_row_per_target_and_post_wave_none_dropped(shipped, summary):
    study, survey = shipped
    assert isinstance(summary, EvaluationSummary)
    targets = programme_targets(study.registry)
    starts = study.start_years()
    waves = sorted(survey["wave"].unique())
    expected = sum(sum(w >= starts[c] for w in waves) for c in targets["community_id"])
    assert len(summary.effects) == expected
    assert list(summary.effects.columns) == EFFECT_COLUMNS
    assert len(summary.headline) == len(targets)  # one row per community x target, latest wave
    assert (summary.headline["wave"] == max(waves)).all()
    assert summary.effects["explanation"].isna().all()  # the shipped data support every estimate


def test_headline_is_within_the_target_group(shipped, summary):
    """Mingyue's loneliness: residents 60+, the per-community DiD (community_effects on that domain)."""
    study, survey = shipped
    row = summary.headline.set_index(["community_id", "target"]).loc[("mingyue", "ucla3@elderly")]
    assert row["group"] == "elderly" and row["better"] == "lower"
    ce = community_effects(_design(survey, study, "test"), "ucla3", registry=study.registry,
                           domain={"role": ["elderly"]})
    ref = ce[(ce["community_id"] == "mingyue") & (ce["wave"] == 2017)].iloc[0]
    for col in ("estimate", "se", "df", "p_value", "ci_low", "ci_high"):
        assert row[col] == pytest.approx(ref[col], rel=1e-10)
    rec = summary.reconciliation[summary.reconciliation["question"] == "mingyue|ucla3@elderly|2017"]
    assert set(rec["estimate_kind"]) >= {"headline", "all_respondents", "before_after"}
    assert rec["why"].str.len().gt(20).all() and rec["why_zh"].str.len().gt(5).all()


def test_meaningful_terms_follow_from_the_estimate(summary):
    e = summary.effects.dropna(subset=["estimate"])
    np.testing.assert_allclose(e["pct_of_baseline"], 100 * e["estimate"] / e["baseline"])
    np.testing.assert_allclose(e["std_effect"], e["estimate"] / e["sd_baseline"])
    prop = e[e["kind"] == "proportion"]
    assert len(prop) and prop["headcount"].notna().all()
    np.testing.assert_allclose(prop["headcount"], (prop["estimate"] * prop["population"]).round(1))
    means = e[e["kind"] == "mean"]
    assert means["headcount"].isna().all()
    crosses = (e["ci_low"] < 0) & (e["ci_high"] > 0)
    assert e.loc[crosses, "ruled_out"].notna().all() and e.loc[~crosses, "ruled_out"].isna().all()
    latest = e[e["wave"] == e["wave"].max()]
    np.testing.assert_allclose(latest["p_adjusted"], holm(latest["p_value"].to_numpy()))


def test_trends_counterfactual_gives_the_estimate(summary):
    """estimate = community mean - counterfactual (baseline + comparison change), at every post wave."""
    e = summary.effects.dropna(subset=["estimate"])
    t = summary.trends.set_index(["community_id", "target", "wave"])
    gap = [t.loc[(c, g, w), "mean"] - t.loc[(c, g, w), "counterfactual"]
           for c, g, w in zip(e["community_id"], e["target"], e["wave"])]
    np.testing.assert_allclose(gap, e["estimate"], atol=1e-10)
    pre = summary.trends.merge(e[["community_id", "target", "baseline_wave"]].drop_duplicates(),
                               on=["community_id", "target"])
    assert pre.loc[pre["wave"] < pre["baseline_wave"], "counterfactual"].isna().all()


def test_recovers_the_planted_effects(summary):
    """The headline intervals cover the planted ATT (truth.csv) at about their nominal rate.

    58 estimates at 95%: fewer than 50 covered has probability < 1% if the intervals are right
    (binomial; the estimates share comparison communities, so the bound is loose, not tight).
    """
    truth = load_truth()
    m = summary.effects.dropna(subset=["estimate"]).merge(
        truth, on=["community_id", "wave", "indicator", "group"], how="left", validate="one_to_one")
    assert m["att"].notna().all()
    covered = (m["ci_low"] <= m["att"]) & (m["att"] <= m["ci_high"])
    assert covered.mean() >= 50 / 58
    # and the planted effects that are large are found: the mean standardised estimate among
    # targeted rows with a planted ATT is positive in the beneficial direction
    good = np.where(m["better"] == "higher", 1, -1)
    assert (good * m["estimate"])[m["targeted"]].mean() > 0


def test_fast(shipped):
    study, survey = shipped
    t0 = time.perf_counter()
    summarise(survey, study)
    assert time.perf_counter() - t0 < 10  # about 0.6 s on 2 cores; generous for a loaded machine


# -- comparisons that say why ----------------------------------------------------------------------

def _row(s, community, target):
    return s.effects[(s.effects["community_id"] == community) & (s.effects["target"] == target)]


def test_not_measured(shipped):
    study, survey = shipped
    s = summarise(survey.drop(columns=["ucla3"]), study, reconcile=False)
    rows = _row(s, "mingyue", "ucla3@elderly")
    assert len(rows) == 3 and (rows["explanation"] == "not_measured").all()
    assert rows["estimate"].isna().all()
    # the texts name the indicator and the group by their codebook labels, never by the code
    assert rows["explanation_en"].str.contains("UCLA 3-item Loneliness Scale").all()
    assert rows["explanation_zh"].str.contains("老年居民").all()
    assert not rows["explanation_zh"].str.contains("ucla3").any()
    assert _row(s, "mingyue", "care_access")["explanation"].isna().all()


def test_no_base_wave(shipped):
    study, survey = shipped
    no_2014 = survey[~((survey["community_id"] == "anning") & (survey["wave"] == 2014))]
    s = summarise(no_2014, study, reconcile=False)
    rows = s.effects[s.effects["community_id"] == "anning"]
    assert len(rows) == 5 * 3 and (rows["explanation"] == "no_base_wave").all()
    assert rows["estimate"].isna().all()
    assert (s.headline.loc[s.headline["community_id"] == "anning", "explanation"] == "no_base_wave").all()


def test_biennial_design_uses_the_last_wave_before_the_start(shipped):
    """Waves 2014 and 2017 only: a 2016 start is measured from 2014 (not an empty table)."""
    study, survey = shipped
    s = summarise(survey[survey["wave"].isin([2014, 2017])], study, reconcile=False)
    rows = _row(s, "xingsheng", "cohesion")
    assert rows["wave"].tolist() == [2017] and rows["baseline_wave"].tolist() == [2014]
    assert rows["estimate"].notna().all()


def test_few_comparisons(shipped):
    study, survey = shipped
    keep = set(study.registry.loc[study.registry["role"] == "programme", "community_id"]) | {"wenyuan", "qingfeng"}
    with pytest.warns(FewClustersWarning, match="fewer than 3 comparison communities"):
        s = summarise(survey[survey["community_id"].isin(keep)], study, reconcile=False)
    assert (s.effects["explanation"] == "few_comparisons").all()
    assert s.effects["estimate"].isna().all() and (s.effects["evidence"] == 0).all()
    adults = s.effects["group"] != "child"  # the two urban comparison communities have no children
    assert s.effects.loc[adults, "explanation_zh"].str.contains("只有2个").all()
    assert (s.effects.loc[~adults, "n_comparison"] == 0).all()


def test_small_cell(shipped):
    study, survey = shipped
    with pytest.warns(FewClustersWarning):  # children: the rural comparison villages also fall below 150
        s = summarise(survey, study, min_n=150, reconcile=False)
    rows = _row(s, "mingyue", "ucla3@elderly")  # about 120 residents 60+ per wave
    assert (rows["explanation"] == "small_cell").all() and rows["estimate"].isna().all()
    assert _row(s, "anning", "participation_ladder")["explanation"].isna().all()
    # a cell below min_n discloses neither its count nor its mean, in effects or trends
    assert rows["n_base"].isna().all() and rows["n_wave"].isna().all() and rows["baseline"].isna().all()
    assert rows["explanation_zh"].str.contains("少于150人").all()
    trend = s.trends[(s.trends["community_id"] == "mingyue") & (s.trends["target"] == "ucla3@elderly")]
    assert trend["suppressed"].all() and trend["n"].isna().all() and trend["mean"].isna().all()
    assert trend["counterfactual"].isna().all()
    shown = s.trends[~s.trends["suppressed"]]
    assert (shown["n"] >= 150).all() or shown.empty


def test_bad_input_is_a_clear_error(shipped):
    study, survey = shipped
    with pytest.raises(EvalkitError, match="study must be an evalkit.Study"):
        summarise(survey, "study.yaml")
    with pytest.raises(EvalkitError, match="wave"):
        summarise(survey.drop(columns=["wave"]), study)


def test_scale_and_notes(summary):
    assert list(summary.evidence_scale["level"]) == [3, 2, 1, 0]
    assert set(summary.evidence_scale.columns) == {"level", "key", "label_zh", "label_en", "rule_zh", "rule_en"}
    for key in ("method", "multiple_testing", "level", "standardised", "headcount"):
        assert summary.notes[key]["zh"] and summary.notes[key]["en"]
    assert "Holm" in summary.notes["multiple_testing"]["en"]


def test_community_not_surveyed_and_no_group_column(shipped):
    study, survey = shipped
    s = summarise(survey[survey["community_id"] != "heping"], study, reconcile=False)
    assert (s.headline.loc[s.headline["community_id"] == "heping", "explanation"] == "not_surveyed").all()
    s = summarise(survey.drop(columns=["role"]), study, reconcile=False)
    # ucla3@elderly needs the role column; targets of the indicator's own population do not
    assert _row(s, "mingyue", "ucla3@elderly")["explanation"].eq("no_group_column").all()
    assert s.effects.loc[s.effects["target"] != "ucla3@elderly", "estimate"].notna().all()


def test_study_column_roles_are_followed(shipped, summary):
    from evalkit.spec.study import Roles

    study, survey = shipped
    renamed = survey.rename(columns={"community_id": "社区", "wave": "年份"})
    s = summarise(renamed, study.with_(roles=Roles(community="社区", wave="年份")))
    np.testing.assert_allclose(s.headline["estimate"], summary.headline["estimate"])
    assert len(s.reconciliation) == len(summary.reconciliation)


def test_no_post_wave_and_no_wave(shipped):
    study, survey = shipped
    s = summarise(survey[survey["wave"] <= 2015], study, reconcile=False)
    late = s.effects[s.effects["start_year"] == 2016]  # started after the last survey
    assert len(late) == 8 and (late["explanation"] == "no_post_wave").all() and late["wave"].isna().all()
    early = s.effects[s.effects["start_year"] == 2015]
    assert early["estimate"].notna().all() and (early["wave"] == 2015).all()
    gone = survey[~((survey["community_id"] == "mingyue") & (survey["wave"] == 2016) & (survey["role"] == "elderly"))]
    s = summarise(gone, study, reconcile=False)
    rows = _row(s, "mingyue", "ucla3@elderly").set_index("wave")
    assert rows.loc[2016, "explanation"] == "no_wave" and np.isnan(rows.loc[2016, "estimate"])
    assert rows.loc[[2015, 2017], "estimate"].notna().all()


def test_cells_without_a_sampling_variance_are_explained_not_a_crash(shipped):
    """15 respondents per community and wave, all in one PSU: no variance, so no estimate, and no crash."""
    study, survey = shipped
    keep = ["mingyue", "xingsheng", "wenyuan", "qingfeng", "huimin", "zhenhua"]
    sub = survey[survey["community_id"].isin(keep) & survey["wave"].isin([2014, 2017])]
    sub = sub.groupby(["community_id", "wave"], group_keys=False).head(15)
    small = study.with_(registry=study.registry[study.registry["community_id"].isin(keep)])
    s = summarise(sub, small)
    assert any("single PSU" in c for c in s.notes["caveats"])  # the design's warning, kept as a caveat
    assert len(s.effects) == 6 and (s.effects["explanation"] == "no_variance").all()
    assert s.trends["ci_low"].isna().all()


def test_cells_withheld_by_the_disclosure_gate_are_small_cells(shipped):
    """A cell the gate removed is explained as too small, not as a missing survey wave."""
    study, survey = shipped
    gated = survey[~((survey["community_id"] == "mingyue") & (survey["wave"] == 2016))].copy()
    gated.attrs = {"disclosure": {"min_n": 10, "withheld_cells": 1},
                   "withheld": [{"community_id": "mingyue", "wave": 2016, "n": "[c]"}]}
    s = summarise(gated, study, reconcile=False)
    rows = _row(s, "mingyue", "care_access").set_index("wave")
    assert rows.loc[2016, "explanation"] == "small_cell" and "10" in rows.loc[2016, "explanation_en"]
    assert rows.loc[[2015, 2017], "estimate"].notna().all()
    # the same through the argument (Gated.withheld is a frame)
    gated.attrs = {}
    s2 = summarise(gated, study, reconcile=False,
                   withheld=pd.DataFrame({"community_id": ["mingyue"], "wave": [2016], "n": ["[c]"]}))
    assert _row(s2, "mingyue", "care_access").set_index("wave").loc[2016, "explanation"] == "small_cell"


def test_small_study_reconciles_without_crashing(shipped):
    """One programme community with its target measured and four comparison communities (H3's SPSS
    case): the pooled randomization estimate is not computable there; the summary still is."""
    study, survey = shipped
    keep = ["mingyue", "xingsheng", "wenyuan", "qingfeng", "huimin", "zhenhua"]
    sub = survey[survey["community_id"].isin(keep) & survey["wave"].isin([2014, 2017])]
    small = study.with_(registry=study.registry[study.registry["community_id"].isin(keep)])
    s = summarise(sub, small)
    assert s.headline["estimate"].notna().any()
    kinds = set(s.reconciliation["estimate_kind"])
    assert {"headline", "before_after"} <= kinds


def test_event_studies_say_why_instead_of_stopping(shipped):
    from evalkit.evaluation.event_study import first_target_event_studies

    study, survey = shipped
    cut = survey[~((survey["community_id"] == "mingyue") & (survey["wave"] == 2016))]
    studies = {e.community_id: e for e in first_target_event_studies(cut, study, bootstrap=0)}
    assert len(studies) == 7 and studies["mingyue"].target == "ucla3@elderly"
    assert studies["mingyue"].result is None and "2016" in studies["mingyue"].why
    assert all(e.result is not None and e.why is None for c, e in studies.items() if c != "mingyue")
