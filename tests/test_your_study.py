"""Your own study, end to end (issue 11): the design step, and raw exports to the comparisons.

The design step (:func:`evalkit.io.prepare.add_design`) adds what no export contains: wave from the
submission time or a constant, weights/PSUs from a fieldwork file, stratum = community, derived
fields from the codebook's rules. Every test checks rows in = rows out and names the reported rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.errors import DesignError
from evalkit.io.prepare import add_design, design_problems


@pytest.fixture(scope="module")
def study():
    return evalkit.datasets.dongying()


def _raw(n=4):
    return pd.DataFrame({"respondent_id": [f"r{i}" for i in range(n)],
                         "community_id": ["anning", "anning", "mingyue", "mingyue"][:n],
                         "age": ["34", "70", "12", "７９"][:n],
                         "submitted": ["2017-06-01 09:00:00", "2017/12/30 10:00", "2018-01-05T08:00:00+08:00",
                                       "not a time"][:n]},
                        index=pd.RangeIndex(2, n + 2, name="row"))


def test_wave_from_submission_year_with_a_cutoff_and_unparseable_time_reported(study):
    out = add_design(_raw(), study=study, wave="submitted", wave_cutoff="03-01", derive=False, require=False)
    # 2018-01-05 is before 1 March: counts to the 2017 wave; the last time cannot be read
    assert out["wave"].tolist()[:3] == ["2017", "2017", "2017"] and pd.isna(out["wave"].iloc[3])
    probs = design_problems(out)
    assert probs[["row", "column", "rule"]].values.tolist() == [[5, "wave", "no_wave"]]
    assert "wave=2017" in probs["message"].iloc[0]
    assert "submitted" in out.attrs["meta"] and len(out) == 4 and list(out.index) == [2, 3, 4, 5]
    no_cut = add_design(_raw(), study=study, wave="submitted", derive=False, require=False)
    assert no_cut["wave"].tolist()[:3] == ["2017", "2017", "2018"]


def test_constant_wave_stratum_from_community_and_derived_fields(study):
    out = add_design(_raw(), study=study, wave=2016, require=False)
    assert (out["wave"] == "2016").all()
    assert out["stratum"].tolist() == ["anning", "anning", "mingyue", "mingyue"]
    # codebook derive rules: age 34 -> 18-39 adult; 70 -> 60+ elderly; 12 -> child; full-width 79 -> 60+
    assert out["age_group"].tolist() == ["18-39", "60+", "8-17", "60+"]
    assert out["role"].tolist() == ["adult", "elderly", "child", "elderly"]


def test_fieldwork_by_respondent_reports_unmatched_and_conflicts(study, tmp_path):
    fw = tmp_path / "fieldwork.csv"
    fw.write_text("编号,楼栋,权数\nr0,P1,12.5\nr1,P2,20\nr3,P9,7\n", encoding="utf-8")
    raw = _raw()
    raw["base_weight"] = [None, None, None, "8"]
    out = add_design(raw, study=study, wave=2017, fieldwork=fw,
                     fieldwork_map={"编号": "respondent_id", "楼栋": "psu", "权数": "base_weight"})
    assert out["psu"].tolist()[:2] == ["P1", "P2"] and pd.isna(out["psu"].iloc[2])
    assert out["base_weight"].tolist()[:2] == ["12.5", "20"] and out["base_weight"].iloc[3] == "8"
    probs = design_problems(out).set_index("rule")
    assert probs.loc["not_in_fieldwork", "row"] == 4 and "r2" in probs.loc["not_in_fieldwork", "message"]
    assert probs.loc["design_conflict", "row"] == 5 and "'7'" in probs.loc["design_conflict", "message"]
    assert len(out) == len(raw)


def test_fieldwork_by_psu_within_community(study):
    raw = _raw()
    raw["psu"] = ["18号楼", "3号楼", "18号楼", "18号楼"]
    fw = pd.DataFrame({"community_id": ["anning", "anning", "mingyue"], "psu": ["18号楼", "3号楼", "18号楼"],
                       "base_weight": ["10", "11", "30"]})
    out = add_design(raw, study=study, wave=2017, fieldwork=fw, by="psu")
    assert out["base_weight"].tolist() == ["10", "11", "30", "30"]
    assert design_problems(out).query("rule != 'not_derivable'").empty


def test_errors_name_the_missing_field_and_the_parameter(study, tmp_path):
    raw = _raw().drop(columns="submitted")
    with pytest.raises(DesignError, match=r"no 'wave' column.*wave=2017.*wave='submitted'"):
        add_design(raw, study=study)
    with pytest.raises(DesignError, match=r"needs the submission time.*submitted='...'"):
        add_design(raw, study=study, wave="submitted")
    with pytest.raises(DesignError, match=r"requires the field 'base_weight'.*fieldwork="):
        add_design(raw, study=study, wave=2017)
    with pytest.raises(DesignError, match=r"wave_cutoff='03-01'"):
        add_design(_raw(), study=study, wave="submitted", wave_cutoff="March")
    dup = pd.DataFrame({"respondent_id": ["r0", "r0"], "base_weight": ["1", "2"]})
    with pytest.raises(DesignError, match=r"row 3, column 'respondent_id': 'r0' appears more than once"):
        add_design(_raw(), study=study, wave=2017, fieldwork=dup)
    with pytest.raises(DesignError, match=r"fieldwork_map="):
        add_design(_raw(), study=study, wave=2017, fieldwork=pd.DataFrame({"编号": ["r0"], "base_weight": ["1"]}))


# ============================================================================================
# Raw export -> per-community indicator table and comparisons, with parameters only (a study.yaml)
# ============================================================================================
import yaml  # noqa: E402

from .conftest import DATA, ROOT  # noqa: E402

EXPORTS = ROOT / "tests" / "data" / "exports"
WJX_COLUMN_MAP = {2: "community_id", 3: "sex", 4: "age"}
WJX_MULTI = {13: {"社区组织的活动": "part_any", "志愿服务": "vol_any", "社区社会组织或兴趣团队": "selforg", "其他": ""}}
WJX_CODED = ["sex", "who5_1", "who5_2", "who5_3", "who5_4", "who5_5", "bscs_3", "bscs_4", "part_freq",
             "part_any", "vol_any", "selforg", "grid_sat"]
KOBO_MULTI = {"activities": {"act_club": "part_any", "act_vol": "vol_any", "act_org": "selforg"}}
KOBO_CODED = ["community_id", "sex", "age", "residence_years", "who5_1", "who5_2", "who5_3", "who5_4", "who5_5",
              "part_any", "vol_any", "selforg"]

#: One study-file parameter set per export kind: (fixture, export.kind, export.options, design).
KINDS = {
    "wjx_text": ("wjx/wjx_text.xlsx", "wjx", {"column_map": WJX_COLUMN_MAP, "select_multiple": WJX_MULTI},
                 {"wave": "submitted", "fieldwork": str(EXPORTS / "wjx/fieldwork.csv"), "by": "respondent_id"}),
    "wjx_text_gbk_csv": ("wjx/wjx_text.csv", "wjx", {"column_map": WJX_COLUMN_MAP, "select_multiple": WJX_MULTI},
                         {"wave": "submitted", "fieldwork": str(EXPORTS / "wjx/fieldwork.csv")}),
    "wjx_numbers": ("wjx/wjx_number.xlsx", "wjx",
                    {"column_map": WJX_COLUMN_MAP, "select_multiple": WJX_MULTI, "option_map": {
                        2: ["安宁社区", "胜宏社区", "文苑社区"], 3: ["男", "女"],
                        **{q: ["所有时间", "大部分时间", "一半以上时间", "一半以下时间", "偶尔", "从未"] for q in range(5, 10)},
                        11: ["非常同意", "同意", "一般", "不同意", "非常不同意"],
                        12: ["没有参加", "1-2次", "3-5次", "6-11次", "每月至少一次"],
                        14: ["非常不满意", "不满意", "一般", "满意", "非常满意", "不知道"]}},
                    {"wave": "submitted", "fieldwork": str(EXPORTS / "wjx/fieldwork.csv")}),
    "kobo_csv": ("kobo/kobo_xml.csv", "kobo", {"select_multiple": KOBO_MULTI, "xlsform": str(EXPORTS / "kobo/form.xlsx")},
                 {}),
    "kobo_xlsx": ("kobo/kobo_labels.xlsx", "kobo",
                  {"select_multiple": KOBO_MULTI, "xlsform": str(EXPORTS / "kobo/form.xlsx")}, {"wave": "submitted"}),
}


def _write_study(folder, export, kind, options, design, *, codebook=DATA / "codebook.yaml",
                 communities=str(DATA / "communities.csv"), extra=None):
    spec = {"title": "test", "language": "zh", "seed": 7, "min_n": 5, "codebook": str(codebook),
            "communities": communities, "export": {"path": str(export), "kind": kind, "options": options},
            "design": design, **(extra or {})}
    (folder / "study.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder / "study.yaml"


def _indicators_and_comparisons(project, survey):
    """The per-community indicator table and the comparisons, as the report would make them."""
    from evalkit.evaluation.summary import summarise
    from evalkit.publish.disclosure import gate_survey
    from evalkit.survey.indicators import indicator_table

    study = project.study
    design = evalkit.SurveyDesign.from_study(survey, study)
    scales = [s for s in ("who5", "bscs", "cohesion") if s in survey.columns]
    table = indicator_table(survey, study.codebook, design, indicators=scales, bands=False)
    gated = gate_survey(survey, study, min_n=project.min_n)
    effects = summarise(gated.data, study, min_n=project.min_n).effects
    return table, effects


def _check_comparisons(table, effects, survey, study):
    assert set(table["community_id"]) == set(survey["community_id"].astype(str))
    assert table["estimate"].notna().all()
    # one row per programme community x target x post wave: none dropped, each estimate or explanation
    targets = evalkit.programme_targets(study.registry)
    assert set(effects["community_id"]) == set(targets["community_id"])
    blank = effects["estimate"].isna()
    assert effects.loc[blank, "explanation"].notna().all()
    assert effects.loc[~blank, "explanation"].isna().all()


def _check_wjx_truth(report, rule):
    truth = pd.read_csv(EXPORTS / "wjx/truth.csv", dtype={"quarantine_text": str, "quarantine_number": str})
    truth = truth.set_index(truth["序号"] + 1)          # spreadsheet row = 序号 + the header row
    assert report.n_rows == len(truth) == report.n_valid + report.n_quarantined
    spoiled = truth.index[truth[rule].fillna("") != ""]
    assert sorted(report.quarantined.index) == sorted(spoiled)
    v, t = report.valid, truth.loc[report.valid.index]
    assert (v["respondent_id"].astype(str) == t["respondent_id"]).all()
    assert (v["community_id"].astype(str) == t["community_id"]).all() and (v["wave"] == 2017).all()
    fw = pd.read_csv(EXPORTS / "wjx/fieldwork.csv").set_index("respondent_id")
    assert np.allclose(v["base_weight"].astype(float), fw.loc[t["respondent_id"], "base_weight"])
    for c in WJX_CODED:
        want = t[c].where(t[c] < 90)                  # 97 不知道: blank, reason kept
        got = v[c].astype(float)
        assert ((got == want) | (got.isna() & want.isna())).all(), c


def _check_kobo_truth(report, survey_raw):
    ids = pd.read_csv(EXPORTS / "kobo/truth_ids.csv")["respondent_id"]
    shipped = survey_raw[survey_raw["respondent_id"].isin(ids) & (survey_raw["wave"] == "2017")]
    shipped = evalkit.validate(shipped, study=evalkit.datasets.dongying()).valid.set_index("respondent_id")
    assert report.n_rows == len(ids) == report.n_valid + report.n_quarantined
    assert report.n_quarantined == 2                 # the phone in the age box, "none" ticked with a choice
    valid = report.valid.set_index("respondent_id")
    want = shipped.loc[valid.index, KOBO_CODED]
    pd.testing.assert_frame_equal(valid[KOBO_CODED], want, check_dtype=False)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_raw_export_to_indicators_and_comparisons_with_parameters_only(name, tmp_path, survey_raw):
    from evalkit.project import open_study

    fixture, kind, options, design = KINDS[name]
    if not (EXPORTS / fixture).is_file():
        pytest.skip(f"fixture {fixture} not written yet")
    project = open_study(_write_study(tmp_path, EXPORTS / fixture, kind, options, design))
    report, survey = project.load_survey()
    if kind == "wjx":
        _check_wjx_truth(report, "quarantine_number" if name == "wjx_numbers" else "quarantine_text")
    else:
        _check_kobo_truth(report, survey_raw)
    table, effects = _indicators_and_comparisons(project, survey)
    _check_comparisons(table, effects, survey, project.study)
