"""Your own study, end to end (issue 11): the design step, raw exports to the comparisons, drafting.

* The design step (:func:`evalkit.io.prepare.add_design`) adds what no export contains: wave from the
  submission time, a year column or a constant, weights/PSUs from a fieldwork file, stratum =
  community, derived fields from the codebook's rules; rows in = rows out, reported rows named.
* Each export kind (问卷星 text and option numbers, Kobo CSV and XLSX, SPSS, a hand-typed workbook)
  goes from the raw file through a study.yaml alone to validated rows that carry the truth's codes,
  the per-community indicator table and the comparisons (an estimate or an explanation per row).
  The truths are the fixtures' own (tests/data/exports/*: truth.csv, or shipped respondents).
* A questionnaire of one's own (five 邻里关系 items): draft, edit, read, score, compare.
* Codebook drafts from a 问卷星 download, a Kobo XLSForm or data export, an SPSS file, a workbook.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.errors import DesignError
from evalkit.io.prepare import add_design, design_problems


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


def test_constant_weight_and_building_numbers_reused_across_communities(study):
    raw = _raw()
    raw["psu"] = ["1号楼", "2号楼", "1号楼", None]
    raw["base_weight"] = [None, "3", None, None]
    out = add_design(raw, study=study, wave=2017, weight=1)
    assert out["base_weight"].tolist() == ["1", "3", "1", "1"]        # only blank weights are filled
    # "1号楼" of anning and of mingyue are different buildings: unique PSUs within their stratum
    assert out["psu"].tolist()[:3] == ["anning:1号楼", "anning:2号楼", "mingyue:1号楼"] and pd.isna(out["psu"].iloc[3])
    assert add_design(raw, study=study, wave=2017, weight=1, nest=False)["psu"].tolist()[:3] == ["1号楼", "2号楼", "1号楼"]
    with pytest.raises(DesignError, match=r"weight=1 for a self-weighting"):
        add_design(raw, study=study, wave=2017, weight=0)


def test_wave_from_a_typed_year_column_excel_serials_and_a_panel_fieldwork_file(study):
    raw = _raw()
    raw["调查年份"] = ["2016", "2017年", "２０１７", "去年"]
    out = add_design(raw, study=study, wave="调查年份", require=False, derive=False)
    assert out["wave"].tolist()[:3] == ["2016", "2017", "2017"] and pd.isna(out["wave"].iloc[3])
    assert design_problems(out)[["row", "rule"]].values.tolist() == [[5, "no_wave"]]
    raw["submitted"] = ["42887.4375", pd.Timestamp("2016-05-01 10:00"), "2017年6月3日 10:21", None]  # 42887 = 2017-06-01
    out = add_design(raw, study=study, wave="submitted", require=False, derive=False)
    assert out["wave"].tolist()[:3] == ["2017", "2016", "2017"] and pd.isna(out["wave"].iloc[3])
    # a panel: the same respondent in two waves, one weight per wave
    panel = pd.DataFrame({"respondent_id": ["a", "a"], "community_id": ["anning"] * 2, "wave": ["2016", "2017"]})
    fw = pd.DataFrame({"respondent_id": ["a", "a"], "wave": ["2016", "2017"], "base_weight": ["10", "12"]})
    assert add_design(panel, study=study, fieldwork=fw, require=False)["base_weight"].tolist() == ["10", "12"]


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
    # a community worker's workbook: title and 填表人 rows above the header, two batches on two sheets
    "workbook": ("workbook/handtyped.xlsx", "table", {"sheet": "all"}, {}),
    # SPSS: labelled community numbers, WHO-5 numbered from the top, user-missing 9, a global missing map
    "spss": ("spss/survey.sav", "spss", {"column_map": {"id": "respondent_id", "hh": "household_id",
                                                        "comm": "community_id", "w": "base_weight"},
                                         "missing_map": {9: 98}}, {}),
}
#: Shipped-survey truth of the fixtures written from it: (ids file, compared columns, rows quarantined on purpose).
SHIPPED_TRUTH = {
    "kobo": ("kobo/truth_ids.csv", KOBO_CODED, 2),   # a phone in the age box; "none" ticked with a choice
    "workbook": ("workbook/truth_ids.csv", ["household_id", "community_id", "wave", "sex", "age", "age_group", "role",
                                            "education", "who5_1", "who5_2", "trust_nb", "part_freq"], 0),
    # the 2016 wave; the phone in the age box is quarantined; real 9 years of residence stay 9
    "spss": ("spss/truth_ids.csv", ["community_id", "wave", "sex", "age_group", "role", "residence_years"], 1, "2016"),
}


def _write_study(folder, export, kind, options, design, *, codebook=DATA / "codebook.yaml",
                 communities=str(DATA / "communities.csv"), extra=None):
    spec = {"title": "test", "language": "zh", "seed": 7, "min_n": 5, "codebook": str(codebook),
            "communities": communities, "export": {"path": str(export), "kind": kind, "options": options},
            "design": design, **(extra or {})}
    (folder / "study.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder / "study.yaml"


def _indicators_and_comparisons(project, survey, reconcile=True):
    """The per-community indicator table and the comparisons, as the report would make them."""
    from evalkit.evaluation.summary import summarise
    from evalkit.publish.disclosure import gate_survey
    from evalkit.survey.indicators import indicator_table

    study = project.study
    design = evalkit.SurveyDesign.from_study(survey, study)
    scales = [s for s in study.codebook.scales if s in survey.columns]   # the scales this export measures
    assert set(scales).isdisjoint(survey.attrs["not_measured"])
    table = (indicator_table(survey, study.codebook, design, indicators=scales, bands=False) if scales
             else pd.DataFrame(columns=["community_id", "estimate"]))       # an export that measures no scale
    gated = gate_survey(survey, study, min_n=project.min_n)
    effects = summarise(gated.data, study, min_n=project.min_n, reconcile=reconcile, withheld=gated.withheld).effects
    return table, effects


def _check_comparisons(table, effects, survey, study):
    if len(table):
        assert set(table["community_id"]) == set(survey["community_id"].astype(str))
        assert table["estimate"].notna().all()
    else:                                   # nothing measured: every comparison row says so
        assert effects["estimate"].isna().all() and "not_measured" in set(effects["explanation"])
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


def _check_shipped_truth(report, survey_raw, ids_file, columns, n_quarantined, wave="2017"):
    ids = pd.read_csv(EXPORTS / ids_file)["respondent_id"]
    shipped = survey_raw[survey_raw["respondent_id"].isin(ids) & (survey_raw["wave"] == wave)]
    shipped = evalkit.validate(shipped, study=evalkit.datasets.dongying()).valid.set_index("respondent_id")
    assert report.n_rows == len(ids) == report.n_valid + report.n_quarantined
    assert report.n_quarantined == n_quarantined
    valid = report.valid.set_index("respondent_id")
    want = shipped.loc[valid.index, columns]
    pd.testing.assert_frame_equal(valid[columns], want, check_dtype=False)


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
        _check_shipped_truth(report, survey_raw, *SHIPPED_TRUTH[name if name in ("workbook", "spss") else "kobo"])
    table, effects = _indicators_and_comparisons(project, survey)
    _check_comparisons(table, effects, survey, project.study)


# ============================================================================================
# A study with its own questionnaire: a five-item 邻里关系 scale from export to score to effect
# (the worked example of docs/your_own_study.md)
# ============================================================================================
NB_ITEMS = ["我认识本楼的大多数邻居", "遇到困难时我可以向邻居求助", "邻居之间经常互相帮忙", "我和邻居很少来往", "我信任我的邻居"]
AGREE = ["非常不同意", "不同意", "一般", "同意", "非常同意"]
OWN_COMMUNITIES = [("hexie", "和谐社区", "programme"), ("xingfu", "幸福社区", "programme"), ("anle", "安乐社区", "comparison"),
                   ("changqing", "长青社区", "comparison"), ("dongcheng", "东城社区", "comparison"),
                   ("nanyuan", "南苑社区", "comparison")]


def _own_export(path, seed=11, per_cell=60):
    """A 问卷星 text download of the five-item questionnaire, 2016 and 2017, with its true codes.

    hexie's programme (from 2017) raises the latent neighbourliness by 1.5; xingfu's starts in 2018
    (not yet: no post wave); item 4 is worded negatively (reverse-keyed)."""
    rng = np.random.default_rng(seed)
    rows, codes = [], []
    for wave in (2016, 2017):
        for k, (cid, name, _) in enumerate(OWN_COMMUNITIES):
            for i in range(per_cell):
                latent = 0.15 * k + rng.normal() + (1.5 if (cid == "hexie" and wave == 2017) else 0.0)
                answers = np.clip(np.rint(3 + latent + rng.normal(0, 0.7, 5)), 1, 5).astype(int)
                answers[3] = 6 - answers[3]
                n = len(rows) + 1
                codes.append({"序号": n, "community_id": cid, "wave": wave, "sex": 1 + i % 2,
                              "age": int(20 + (i * 7) % 60), **{f"nb_{j + 1}": int(a) for j, a in enumerate(answers)}})
                rows.append({"序号": n, "提交答卷时间": f"{wave}/6/{1 + i % 28} 10:{i % 60:02d}:00", "所用时间": "95秒",
                             "1、您所在的社区": name, "2、您的性别": "男女"[i % 2], "3、您的年龄": str(codes[-1]["age"]),
                             "4、您住在几号楼": f"{1 + i % 6}号楼",
                             **{f"5、({t})": AGREE[a - 1] for t, a in zip(NB_ITEMS, answers)}})
    pd.DataFrame(rows).to_excel(path, index=False)
    return pd.DataFrame(codes)


def _edit_draft(draft) -> dict:
    """What the evaluator does to the draft (docs/your_own_study.md, step 3): names, scale, reverse key."""
    raw = draft.raw
    items = {}
    for k in range(1, 6):
        spec = dict(raw["items"][f"q5_{k}"])
        spec.update(scale="neighbourhood", reverse=(k == 4))
        items[f"nb_{k}"] = spec
    raw["items"] = items
    raw["scales"] = {"neighbourhood": {
        "zh": "邻里关系", "en": "neighbourliness", "domain": "cohesion", "items": [f"nb_{k}" for k in range(1, 6)],
        "item_range": [1, 5], "scoring": {"method": "mean", "min_answered": 4}, "range": [1, 5],
        "higher_is": "better", "citation": "own questionnaire (five items, item 4 reverse-keyed)"}}
    return raw


def test_own_five_item_questionnaire_from_export_to_score_and_effect(tmp_path):
    from evalkit.evaluation.summary import summarise
    from evalkit.io.draft import draft_codebook
    from evalkit.project import open_study

    truth = _own_export(tmp_path / "export.xlsx")
    draft = draft_codebook(tmp_path / "export.xlsx")
    # the draft: the five matrix rows as one scale, agreement codes in order, fields recognised
    assert draft.raw["scales"]["q5"]["items"] == [f"q5_{k}" for k in range(1, 6)]
    assert all(draft.raw["items"][f"q5_{k}"]["codes"] == dict(enumerate(AGREE, start=1)) for k in range(1, 6))
    assert [draft.raw["items"][f"q5_{k}"]["zh"] for k in range(1, 6)] == NB_ITEMS
    assert {"respondent_id", "community_id", "sex", "age", "psu", "wave"} <= set(draft.raw["fields"])
    (tmp_path / "codebook.yaml").write_text(yaml.safe_dump(_edit_draft(draft), allow_unicode=True, sort_keys=False),
                                            encoding="utf-8")
    communities = [{"id": cid, "name": name, "role": role, "start_year": {"hexie": 2017, "xingfu": 2018}.get(cid),
                    "targets": ["neighbourhood"] if role == "programme" else []} for cid, name, role in OWN_COMMUNITIES]
    assert draft.column_map["序号"] == "respondent_id"   # 问卷星's serial number is the respondent id here
    path = _write_study(tmp_path, tmp_path / "export.xlsx", "wjx", {"column_map": {"序号": "respondent_id"}},
                        {"wave": "submitted", "weight": 1}, codebook=tmp_path / "codebook.yaml",
                        communities=communities, extra={"waves": [2016, 2017], "baseline_wave": 2016,
                                                        "roles": {"household": None, "role": None}})
    project = open_study(path)
    report, survey = project.load_survey()
    assert report.n_rows == len(truth) == report.n_valid and report.n_quarantined == 0
    t = truth.set_index(truth["序号"] + 1).loc[survey.index]
    assert (survey["community_id"].astype(str) == t["community_id"]).all()
    for c in ["wave", "sex", "age", *[f"nb_{k}" for k in range(1, 6)]]:
        assert (survey[c].astype(float) == t[c].astype(float)).all(), c
    # the score: mean of the five items with item 4 reversed (6 - answer)
    items = t[[f"nb_{k}" for k in range(1, 6)]].astype(float)
    items["nb_4"] = 6 - items["nb_4"]
    assert np.allclose(survey["neighbourhood"], items.mean(axis=1))
    effects = summarise(survey, project.study, min_n=project.min_n).effects
    hexie = effects[effects["community_id"] == "hexie"].iloc[0]
    # the DiD by hand: hexie's change minus the comparison communities' mean change (equal cell sizes)
    means = survey.groupby(["community_id", "wave"])["neighbourhood"].mean().unstack()
    change = means[2017] - means[2016]
    comparison = [c for c, _, r in OWN_COMMUNITIES if r == "comparison"]
    by_hand = change["hexie"] - change[comparison].mean()
    assert hexie["estimate"] == pytest.approx(by_hand, abs=1e-9)
    assert hexie["ci_low"] < by_hand < hexie["ci_high"] and hexie["ci_low"] > 0   # planted +1.5 on the latent
    # xingfu's programme starts after the last wave: a row that says why, not a missing row
    xingfu = effects[effects["community_id"] == "xingfu"]
    assert len(xingfu) >= 1 and xingfu["estimate"].isna().all() and xingfu["explanation"].notna().all()


# ---------------------------------------------------------------------------------------- SPSS
SPSS_ITEMS = [f"who5_{k}" for k in range(1, 6)] + [f"ce_coh_{k}" for k in range(1, 6)]
SPSS_COMMUNITIES = ["xingsheng", "mingyue", "wenyuan", "qingfeng", "huimin", "zhenhua"]


@pytest.fixture(scope="module")
def spss_export(tmp_path_factory, survey_raw):
    """An SPSS file as SPSS users code it, from rows of the shipped survey (the truth): communities as
    labelled numbers, sex 0/1, answer options numbered from the top of the questionnaire (所有时间 = 1,
    非常同意 = 1: value labels alone tell the codes), 9 = 拒绝回答 declared user-missing."""
    pyreadstat = pytest.importorskip("pyreadstat")
    study = evalkit.datasets.dongying()
    rows = survey_raw[survey_raw["community_id"].isin(SPSS_COMMUNITIES) & survey_raw["wave"].isin(["2014", "2017"])]
    answered = rows[SPSS_ITEMS].isin([str(c) for c in range(0, 6)]).all(axis=1)   # no missing-value codes
    rows = rows[answered & rows["role"].isin(["adult", "elderly"])]
    truth = pd.concat([g.iloc[::max(1, len(g) // 15)].head(15) for _, g in rows.groupby(["community_id", "wave"])])
    number = lambda c: pd.to_numeric(truth[c]).to_numpy(dtype=float)  # noqa: E731
    labels = study.codebook.variables
    who5 = {float(6 - k): labels["who5_1"].codes[k].zh for k in range(6)}   # code 5 (所有时间) is option 1
    agree = {float(6 - k): labels["ce_coh_1"].codes[k].zh for k in range(1, 6)}
    ids = {c: float(i + 1) for i, c in enumerate(SPSS_COMMUNITIES)}
    names = dict(zip(study.registry["community_id"], study.registry["name_zh"]))
    df = pd.DataFrame({"id": truth["respondent_id"].to_numpy(), "hh": truth["household_id"].to_numpy(),
                       "comm": [ids[c] for c in truth["community_id"]], "year": number("wave"),
                       "psu": truth["psu"].to_numpy(), "w": number("base_weight"), "q1": number("sex") - 1,
                       "q2": number("age"), **{f"v{k}": 6 - number(c) for k, c in enumerate(SPSS_ITEMS)}})
    df.loc[df.index[0], "v0"] = 9.0     # refused
    path = tmp_path_factory.mktemp("spss") / "survey.sav"
    pyreadstat.write_sav(
        df, str(path),
        column_labels={"id": "受访者编号", "hh": "户编号", "comm": "社区", "year": "调查年份", "psu": "初级抽样单元",
                       "w": "基础权数", "q1": "性别", "q2": "年龄",
                       **{f"v{k}": labels[c].label.zh for k, c in enumerate(SPSS_ITEMS)}},
        variable_value_labels={"comm": {ids[c]: names[c] for c in SPSS_COMMUNITIES}, "q1": {0.0: "男", 1.0: "女"},
                               **{f"v{k}": ({**who5, 9.0: "拒绝回答"} if k < 5 else agree)
                                  for k in range(len(SPSS_ITEMS))}},
        missing_ranges={"v0": [9.0]})
    return path, truth


def test_spss_export_to_indicators_and_comparisons_with_parameters_only(spss_export, tmp_path):
    from evalkit.project import open_study

    path, truth = spss_export
    options = {"column_map": {"id": "respondent_id", "hh": "household_id", "comm": "community_id", "w": "base_weight"}}
    project = open_study(_write_study(tmp_path, path, "spss", options, {"stratum": None}))
    report, survey = project.load_survey()
    assert report.n_rows == len(truth) == report.n_valid and report.n_quarantined == 0
    key = ["respondent_id", "wave"]                                  # a panel: ids repeat across waves
    want = evalkit.validate(truth, study=evalkit.datasets.dongying()).valid.set_index(key)
    valid = report.valid.set_index(key)
    want.loc[(truth["respondent_id"].iloc[0], int(truth["wave"].iloc[0])), "who5_1"] = np.nan  # 9 = refused
    cols = ["community_id", "sex", "age", "psu", "base_weight", *SPSS_ITEMS]
    pd.testing.assert_frame_equal(valid[cols], want.loc[valid.index, cols], check_dtype=False)
    assert (valid["stratum"] == valid["community_id"]).all()         # the design step: stratum = community
    table, effects = _indicators_and_comparisons(project, survey)   # reconcile too (crashed before H4's fix)
    _check_comparisons(table, effects, survey, project.study)
    # xingsheng targets cohesion (measured): estimates; mingyue's targets are not in this export: explained
    xs = effects[(effects["community_id"] == "xingsheng") & (effects["target"] == "cohesion")]
    assert len(xs) == 1 and xs["estimate"].notna().all()
    mingyue = effects[effects["community_id"] == "mingyue"]
    assert len(mingyue) and set(mingyue["explanation"]) == {"not_measured"}


# ---------------------------------------------------------------------------------- drafting
def test_draft_from_a_wjx_text_download(tmp_path):
    from evalkit.io.draft import draft_codebook

    draft = draft_codebook(EXPORTS / "wjx/wjx_text.xlsx")
    cb = draft.codebook                                          # the draft loads against the schema
    items, fields = draft.raw["items"], draft.raw["fields"]
    # WHO-5 options in the scale's order, though the answers were typed with stray spaces and one typo
    who5 = {1: "从未", 2: "偶尔", 3: "一半以下时间", 4: "一半以上时间", 5: "大部分时间", 6: "所有时间"}
    assert all(items[f"q{q}"]["codes"] == who5 for q in range(5, 10))
    assert "挺好的" in draft.text and "TODO" in draft.text        # the typo is named, not made an option
    assert items["q14"]["codes"] == {1: "非常不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "非常满意"}  # 不知道 is 97
    assert list(items["q12"]["codes"].values()) == ["没有参加", "1-2次", "3-5次", "6-11次", "每月至少一次"]
    # the matrix question as one drafted scale, the multiple-choice question as one 0/1 item per option
    assert draft.raw["scales"]["q11"]["items"] == ["q11_1", "q11_2"] and items["q11_2"]["zh"] == "我归属于本社区"
    multi = [n for n in items if n.startswith("q13_")]
    assert len(multi) == 5 and all(items[n]["codes"] == {0: "未选", 1: "选中"} for n in multi)
    assert {"respondent_id", "community_id", "sex", "age", "household_id", "wave"} <= set(fields)
    assert fields["sex"]["codes"] == {1: "男", 2: "女"} and cb.variables["age"].type == "integer"
    assert "来自IP" in draft.left_out and "提交答卷时间" in draft.left_out


def test_draft_from_a_kobo_xlsform():
    from evalkit.io.draft import draft_codebook

    draft = draft_codebook(EXPORTS / "kobo/form.xlsx")
    assert draft.kind == "kobo"
    items, fields = draft.raw["items"], draft.raw["fields"]
    # select_one: the choice names are the export's values; their labels come along
    assert [items["who5_1"]["codes"][k]["zh"] for k in range(1, 7)] == ["所有时间", "大部分时间", "一半以上时间",
                                                                      "一半以下时间", "偶尔", "从未"]
    assert fields["sex"]["codes"][1]["en"] == "m" and "TODO" in draft.notes_for("sex")
    assert "run against the answer scale" in draft.notes_for("who5_1")   # 所有时间 = 1: higher means less
    assert {f"activities_{c}" for c in ("act_club", "act_vol", "act_org", "none")} <= set(items)
    assert {"respondent_id", "community_id", "household_id", "psu"} <= set(fields)
    assert "start" in draft.left_out and draft.codebook.variables["who5_1"].codes


def test_drafting_an_xlsform_is_bounded_like_reading_data(monkeypatch):
    """The XLSForm goes through evalkit's bounded readers: a form larger than the cell limit is refused
    with a ReadError naming the file, never read whole into memory."""
    from evalkit.errors import ReadError
    from evalkit.io.draft import draft_codebook

    monkeypatch.setenv("EVALKIT_MAX_CELLS", "20")
    with pytest.raises(ReadError, match="form.xlsx"):
        draft_codebook(EXPORTS / "kobo/form.xlsx")


def test_draft_from_spss_labels_and_the_command_line(spss_export, tmp_path, capsys):
    from evalkit.cli import main

    path, _ = spss_export
    out = tmp_path / "codebook.yaml"
    assert main(["codebook", "draft", str(path), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and "TODO" in out.read_text(encoding="utf-8")
    raw = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert raw["fields"]["community_id"]["type"] == "community" and raw["fields"]["sex"]["codes"] == {0: "男", 1: "女"}
    assert raw["items"]["v0"]["missing_codes"] == {9: "refused"} and raw["items"]["v0"]["codes"][1] == "所有时间"
    assert raw["items"]["v5"]["codes"] == {1: "非常同意", 2: "同意", 3: "一般", 4: "不同意", 5: "非常不同意"}
    assert main(["codebook", "draft", str(path), "--out", str(out)]) == 2      # no silent overwrite
    err = capsys.readouterr().err
    assert "--force" in err and "Traceback" not in err


def test_option_number_download_with_the_text_download_named_in_the_study_file(tmp_path):
    """study.yaml's option_map may name the text download of the same answers: the map is drafted from it."""
    from evalkit.project import open_study

    truth = pd.read_csv(EXPORTS / "wjx/truth.csv", dtype={"quarantine_text": str, "quarantine_number": str})
    spoiled = truth.loc[truth["quarantine_text"].notna() | truth["quarantine_number"].notna(), "序号"]
    text = pd.read_excel(EXPORTS / "wjx/wjx_text.xlsx", dtype=object)
    text[~text["序号"].isin(spoiled)].to_excel(tmp_path / "按文本下载.xlsx", index=False)   # the two agree
    options = {"column_map": WJX_COLUMN_MAP, "select_multiple": WJX_MULTI, "option_map": "按文本下载.xlsx"}
    project = open_study(_write_study(tmp_path, EXPORTS / "wjx/wjx_number.xlsx", "wjx", options,
                                      {"wave": "submitted", "fieldwork": str(EXPORTS / "wjx/fieldwork.csv")}))
    assert project.study.read["options"]["option_map"] == str(tmp_path / "按文本下载.xlsx")
    report, _ = project.load_survey()
    ok = report.valid.index.intersection((truth.loc[~truth["序号"].isin(spoiled), "序号"] + 1).tolist())
    t = truth.set_index(truth["序号"] + 1).loc[ok]
    assert len(ok) > 30
    for c in ["who5_1", "who5_5", "bscs_3", "part_freq", "sex"]:      # options listed from the top: not codes
        assert (report.valid.loc[ok, c].astype(float) == t[c].where(t[c] < 90)).all(), c


def test_draft_from_a_kobo_data_export_and_a_hand_typed_workbook():
    from evalkit.io.draft import draft_codebook

    kobo = draft_codebook(EXPORTS / "kobo/kobo_xml.csv")
    fields, items = kobo.raw["fields"], kobo.raw["items"]
    # grouped headers drafted under their question names (what read_kobo matches), metadata left out
    assert {"respondent_id", "community_id", "wave", "psu", "base_weight", "age"} <= set(fields)
    assert fields["sex"]["codes"] == {1: {"zh": "男", "en": "m"}, 2: {"zh": "女", "en": "f"}}
    assert {"who5_1", "act_club", "none"} <= set(items) and items["act_club"]["codes"] == {0: "未选", 1: "选中"}
    assert {"_uuid", "_submission_time", "deviceid", "participation/activities"} <= set(kobo.left_out)
    book = draft_codebook(EXPORTS / "workbook/handtyped.xlsx")   # title and 填表人 rows above the header
    items = {spec["zh"]: spec for spec in book.raw["items"].values()}
    calm = items["过去两周里，我感到平静和放松"]
    assert list(calm["codes"].values()) == ["偶尔", "一半以下时间", "一半以上时间", "大部分时间"]
    assert "['从未', '所有时间'] not seen" in book.text     # a small sample: the missing options are named
    assert book.raw["fields"]["base_weight"]["type"] == "number" and book.codebook.variables["role"].type == "category"
