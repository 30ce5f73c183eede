"""The shipped example's performance evaluation: seven projects with costs, scores, grades and
grade-flip probabilities; the synthetic records are consistent with their README and regenerate
byte-identically."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.datasets import DONGYING, dongying_survey
from evalkit.datasets.records import MIDTERM, TOTAL_BUDGET, dongying_performance, dongying_records, write_records
from evalkit.performance import PROJECT_COLUMNS, check_budgets, compare_rounds, survey_effects

SEVEN = ["anning", "shenghong", "xingsheng", "mingyue", "shengxing", "heping", "yangmiao"]


@pytest.fixture(scope="module")
def effects():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study, survey = dongying_survey()
        return survey_effects(survey, study)


@pytest.fixture(scope="module")
def final(effects):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dongying_performance(
            effects=effects, weightings={"outcomes_first": {"management": 10, "outputs": 20, "outcomes": 45, "satisfaction": 15,
                                           "finance": 10}})


def test_seven_projects(final):
    p = final.projects
    assert list(p.columns[:len(PROJECT_COLUMNS)]) == list(PROJECT_COLUMNS)
    assert p["community_id"].tolist() == SEVEN
    assert p[list(PROJECT_COLUMNS)].notna().all().all()
    assert set(p["grade"]) <= {"优", "良", "中", "差"} and p["score"].between(0, 100).all()
    assert p["p_grade_differs"].between(0, 1).all() and (p["p_grade_differs"] > 0).any()
    assert (p["cost_per_beneficiary"] == p["spent"] / p["unique_beneficiaries"]).all()
    assert (p["cost_per_visit"] == p["spent"] / p["service_visits"]).all()
    # planted: Shengxing underspends, everyone else spends 92-99% (README of the records)
    ex = p.set_index("community_id")["execution_rate"]
    assert ex["shengxing"] < 0.7 and ex.drop("shengxing").between(0.9, 1.0).all()
    # planted: Xingsheng misses targets, Anning and Mingyue meet all of theirs
    met = final.outputs.groupby("community_id")["met"].mean()
    assert met["xingsheng"] == 0 and met["anning"] == 1 and met["mingyue"] == 1
    assert set(final.weightings["weighting"]) == {"default", "outcomes_first"}
    d = final.detail("mingyue")
    assert set(d) == {"outputs", "costs", "sheet", "weightings"} and len(d["sheet"]) == 9
    # the cost per unit of effect is given only where the effect's interval excludes zero
    c = final.costs
    assert (c["estimable"] == (c["effect_ci_low"] > 0)).all() and c["estimable"].any() and (~c["estimable"]).any()


def test_findings(final):
    from evalkit.performance import findings

    f = findings(final)
    kinds = f.groupby("community_id")["kind"].apply(set)
    assert "underspent" in kinds["shengxing"] and "missed_target" in kinds["xingsheng"]
    assert "missed_target" not in kinds.get("mingyue", set())
    # every project's records had duplicates: each gets a records finding; texts in both languages
    assert (f["kind"] == "records").sum() == 7 and f["text_zh"].str.len().gt(0).all()
    shenghong = f[(f["community_id"] == "shenghong") & (f["kind"] == "missed_target")]["text_en"].tolist()
    assert shenghong == ["Contract target missed: group work 21 of 30 (70%); explain why and plan how to make it up."]


def test_records_as_planted():
    recs = dongying_records()
    assert check_budgets(recs.contracts, TOTAL_BUDGET) == 1_400_000
    assert len(recs.reports) == 7
    for rep in recs.reports:
        assert rep.rows_in == len(rep.valid) + len(rep.quarantined)
        rules = rep.quarantined["rule"].value_counts().to_dict()
        assert rules == {"duplicate_row": 2, "totals_row": 1}, rep.source
        assert sum("entered twice in one activity" in n for n in rep.notes) == 2
    mingyue = next(r for r in recs.reports if r.source.endswith(".xlsx"))
    assert any(n.startswith("merged cells") for n in mingyue.notes)
    # survey respondents appear among the attendees (pseudonymous ids shared with the survey)
    ids = {i for r in recs.reports for t in r.valid["attendee_ids"] for i in t}
    assert any(i.endswith("-A") for i in ids) and any("-R" in i for i in ids)
    # participation in the survey relates to attendance in the records: among the 2017 respondents
    # of the seven programme communities, those who said they take part, volunteer or belong to a
    # self-organisation are on the attendance lists far more often than the others
    s = pd.read_csv(DONGYING / "survey.csv", usecols=["respondent_id", "community_id", "wave", "part_any", "vol_any",
                                                      "selforg"])
    s = s[(s["wave"] == 2017) & s["community_id"].isin(SEVEN)]
    active = (s[["part_any", "vol_any", "selforg"]].fillna(0) > 0).any(axis=1)
    listed = s["respondent_id"].isin(ids)
    assert listed[active].mean() > 2.5 * listed[~active].mean() > 0


def test_midterm_round(final, effects):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mid = dongying_performance(effects=effects, until=MIDTERM, share=0.5, n_draws=500)
    ch = compare_rounds(mid, final)
    assert len(ch) == 7 and (ch["execution_midterm"] < ch["execution_final"]).all()
    assert np.isfinite(ch["score_change"]).all()


def test_regenerates_byte_identical(tmp_path):
    for p in write_records(tmp_path):
        assert p.read_bytes() == (DONGYING / "records" / p.name).read_bytes(), p.name
