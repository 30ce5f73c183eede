"""indicator_table (evalkit.survey.indicators): consistency with SurveyDesign, group domains, flags, shape.

Reference values come from SurveyDesign itself (tested against R survey in test_design.py): an
indicator cell must be *exactly* the design-based mean on the same domain, i.e. R
``svyby(~y, ~community_id + wave, subset(design, role == "elderly"), svymean, na.rm = TRUE)``.
The data are the shipped synthetic survey (data/survey.csv), validated and scored.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.survey.design import SurveyDesign
from evalkit.errors import EvalkitError, SmallSampleWarning
from evalkit.survey.indicators import INDICATOR_COLUMNS, indicator_table
from evalkit.measure.scales import score
from evalkit.results import check_vocabulary
from evalkit.spec.study import Roles, Study

BY = ["community_id", "wave"]
DESIGN = dict(weight="base_weight", strata="stratum", psu="psu")
STATS = ["estimate", "se", "df", "ci_low", "ci_high", "n", "n_eff", "deff"]


@pytest.fixture(scope="module")
def scored(survey, codebook):
    return score(survey, codebook)


@pytest.fixture(scope="module")
def table(scored, codebook):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        return indicator_table(scored, codebook)


@pytest.fixture(scope="module")
def design(scored):
    return SurveyDesign(scored, **DESIGN)


def cell(t: pd.DataFrame, indicator: str, community: str, wave: int) -> pd.Series:
    row = t[(t["indicator"] == indicator) & (t["community_id"] == community) & (t["wave"] == wave)]
    assert len(row) == 1
    return row.iloc[0]


def test_tidy_columns_and_one_row_per_indicator_and_cell(table, scored, codebook):
    assert list(table.columns) == BY + INDICATOR_COLUMNS
    assert INDICATOR_COLUMNS == ["indicator", "zh", "en", "domain", "group", "kind", "estimate", "se", "df",
                                 "ci_low", "ci_high", "n", "n_eff", "deff", "flag_small"]
    check_vocabulary(table)
    cells = scored[BY].drop_duplicates()
    n_bands = sum(len(s.cutoffs) for s in codebook.scales.values())
    assert len(table) == len(cells) * (len(codebook.scales) + n_bands)
    assert not table.duplicated(["indicator", *BY]).any()
    assert table["indicator"].drop_duplicates().tolist()[:3] == [
        "who5", "who5_likely_depression", "who5_poor_wellbeing"]
    assert table["flag_small"].dtype == bool and table["n"].dtype == np.int64


def test_cell_equals_surveydesign_mean_on_the_same_domain(table, design):
    # adult scale: the whole design, by community x wave
    ref = design.mean(["who5", "participation_any"], by=BY)
    for ind in ("who5", "participation_any"):
        r = ref[(ref["indicator"] == ind) & (ref["community_id"] == "anning") & (ref["wave"] == 2016)]
        got = cell(table, ind, "anning", 2016)
        for c in STATS:
            assert got[c] == pytest.approx(float(r[c].iloc[0]), rel=1e-12), (ind, c)
    assert cell(table, "participation_any", "anning", 2016)["kind"] == "proportion"


def test_elderly_scale_is_estimated_in_the_elderly_domain(table, design, scored):
    elderly = scored["role"].eq("elderly").to_numpy()
    ref = design.subset(elderly).mean("care_access", by=BY)
    t = table[table["indicator"] == "care_access"].merge(ref, on=BY, suffixes=("", "_ref"))
    assert len(t) > 0
    for c in STATS:
        np.testing.assert_allclose(t[c], t[f"{c}_ref"], rtol=1e-12, equal_nan=True)
    # n counts elderly respondents with a score only
    n_direct = scored[elderly & scored["care_access"].notna().to_numpy()].groupby(BY).size()
    got = t.set_index(BY)["n"]
    assert (got.loc[n_direct.index] == n_direct).all()
    assert set(table.loc[table["indicator"] == "care_access", "group"]) == {"elderly"}


def test_elderly_scale_ignores_non_elderly_rows_even_with_a_value(scored, codebook):
    # a corrupt care_access value on an adult must not enter the elderly estimate
    bad = scored.copy()
    adult = bad.index[(bad["role"] == "adult") & (bad["community_id"] == "mingyue") & (bad["wave"] == 2016)][0]
    bad.loc[adult, "care_access"] = 4.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        a = indicator_table(scored, codebook, indicators="care_access", bands=False)
        b = indicator_table(bad, codebook, indicators="care_access", bands=False)
    pd.testing.assert_frame_equal(a, b)
    # whereas the full-design mean (no domain) would move
    full = SurveyDesign(bad, **DESIGN).mean("care_access", by=BY)
    r = full[(full["community_id"] == "mingyue") & (full["wave"] == 2016)]
    assert r["estimate"].iloc[0] != pytest.approx(cell(a, "care_access", "mingyue", 2016)["estimate"])


def test_group_domain_keeps_the_full_design_not_dropped_rows(scored, codebook):
    # One PSU of mingyue is made to hold no elderly respondent. As a domain of the full design
    # that PSU still counts in n_h (its domain total is 0); a design built on the elderly rows
    # alone loses it. Estimates agree; SEs differ by construction (R: subset() vs. dropping rows).
    data = scored.copy()
    psu = data.loc[(data["community_id"] == "mingyue") & (data["role"] == "elderly"), "psu"].iloc[0]
    hit = (data["psu"] == psu) & (data["role"] == "elderly")
    data.loc[hit, "role"] = "adult"
    data.loc[hit, "care_access"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        t = indicator_table(data, codebook, indicators="care_access", bands=False)
    dom = SurveyDesign(data, **DESIGN).subset(data["role"].eq("elderly").to_numpy())
    ref = dom.mean("care_access", by=BY)
    dropped = SurveyDesign(data[data["role"] == "elderly"], **DESIGN).mean("care_access", by=BY)
    m = (t.merge(ref, on=BY, suffixes=("", "_dom")).merge(dropped, on=BY, suffixes=("", "_drop")))
    m = m[m["community_id"] == "mingyue"]
    np.testing.assert_allclose(m["estimate"], m["estimate_drop"], rtol=1e-12)
    np.testing.assert_allclose(m["se"], m["se_dom"], rtol=1e-12)
    assert (np.abs(m["se"] - m["se_drop"]) > 1e-6).all()


def test_child_scale_only_children(table, scored):
    kids = table[table["indicator"] == "kidscreen10"]
    has_children = scored[scored["role"] == "child"].groupby(BY).size()
    k = kids.set_index(BY)
    assert (k.loc[has_children.index, "n"] > 0).all()
    no_children = k.index.difference(has_children.index)
    assert len(no_children) > 0  # urban communities sample no children
    assert (k.loc[no_children, "n"] == 0).all() and k.loc[no_children, "estimate"].isna().all()
    assert k.loc[no_children, "flag_small"].all()
    assert set(kids["group"]) == {"child"}


def test_band_share_is_the_mean_of_the_band_indicator(table, design, scored):
    lonely = np.where(scored["ucla3"].isna(), np.nan, (scored["ucla3"] >= 6).astype(float))
    ref = design.assign(lonely=lonely).mean("lonely", by=BY)
    r = ref[(ref["community_id"] == "mingyue") & (ref["wave"] == 2017)]
    got = cell(table, "ucla3_lonely", "mingyue", 2017)
    assert got["estimate"] == pytest.approx(float(r["estimate"].iloc[0]), rel=1e-12)
    assert got["se"] == pytest.approx(float(r["se"].iloc[0]), rel=1e-12)
    assert got["kind"] == "proportion" and got["en"].endswith(": lonely")


def test_flag_small_logic_and_warning(scored, codebook):
    with pytest.warns(SmallSampleWarning) as rec:
        t = indicator_table(scored, codebook, indicators=["who5", "care_access"], bands=False,
                            min_n_eff=100)
    expected = ~(t["n_eff"] >= 100)
    assert (t["flag_small"] == expected).all()
    n_small = int((t["flag_small"] & (t["n"] > 0)).sum())
    assert n_small > 0
    assert str(n_small) in str(rec[0].message) and "care_access" in str(rec[0].message)
    # threshold 0: only cells with an undefined n_eff (none here for adults) are flagged
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        t0 = indicator_table(scored, codebook, indicators="who5", bands=False, min_n_eff=0)
    assert not t0["flag_small"].any()


def test_overall_rows_with_by_empty(scored, codebook, design):
    t = indicator_table(scored, codebook, indicators=["who5", "bscs"], bands=False, by=())
    assert list(t.columns) == INDICATOR_COLUMNS and len(t) == 2
    ref = design.mean("bscs")
    assert t.loc[t["indicator"] == "bscs", "se"].iloc[0] == pytest.approx(float(ref["se"].iloc[0]))


def test_design_object_or_kwargs_give_the_same_table(scored, survey, codebook, table):
    # a design built from the *unscored* survey: the score columns are added to it
    d = SurveyDesign(survey, **DESIGN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        t = indicator_table(scored, codebook, d)
        t2 = indicator_table(scored, codebook, {"psu": None})  # no clustering
    pd.testing.assert_frame_equal(t, table)
    # design arguments override the defaults: ignoring the PSUs changes SEs, not estimates
    np.testing.assert_allclose(t2["estimate"], table["estimate"], equal_nan=True)
    assert not np.allclose(t2["se"].fillna(0), table["se"].fillna(0))


def test_errors(survey, scored, codebook):
    with pytest.raises(EvalkitError, match="Score it first"):
        indicator_table(survey, codebook)
    with pytest.raises(EvalkitError, match="no 'role' column"):
        indicator_table(scored.drop(columns=["role"]), codebook, indicators="care_access")
    with pytest.raises(EvalkitError, match="min_n_eff"):
        indicator_table(scored, codebook, min_n_eff=-1)
    with pytest.raises(EvalkitError, match="needs the codebook"):
        indicator_table(scored)  # no hidden default: the shipped codebook is not read
    with pytest.raises(EvalkitError, match="evalkit.Study"):
        indicator_table(scored, study=codebook)


def test_study_supplies_codebook_and_column_roles(scored, codebook, table):
    # a survey whose columns have other names: the study's roles name them, and the output's
    # cell columns are the names given
    names = {"community_id": "社区", "wave": "年份", "role": "角色", "base_weight": "权数",
             "stratum": "层", "psu": "楼栋"}
    roles = Roles(community="社区", wave="年份", role="角色", weight="权数", strata="层", psu="楼栋")
    study = Study(codebook, roles=roles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        t = indicator_table(scored.rename(columns=names), study=study)
    assert list(t.columns[:2]) == ["社区", "年份"]
    pd.testing.assert_frame_equal(t.rename(columns={"社区": "community_id", "年份": "wave"}), table)
    with pytest.raises(EvalkitError, match="no '角色' column"):
        indicator_table(scored.rename(columns=names).drop(columns=["角色"]), study=study,
                        indicators="care_access")
