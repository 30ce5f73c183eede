"""SPSS .sav from the raw file to validated rows (issue 11, items 3 and 8).

The file is written with pyreadstat from rows of the shipped survey (the truth) the way SPSS users
code: community as numbers labelled with the community's Chinese name, sex 0/1 = 男/女, WHO-5 numbered
1..6 from 所有时间 to 从未 (labels only tell), role and age group as labelled numbers, 9 = 拒绝回答
declared user-missing on WHO-5, -8 = 不知道 in a missing range, residence years with real 9s.
"""
import numpy as np
import pandas as pd
import pytest

from evalkit.io.spss import read_spss
from evalkit.io.validate import validate

pyreadstat = pytest.importorskip("pyreadstat")

WHO5_NAMES = {5: 1, 4: 2, 3: 3, 2: 4, 1: 5, 0: 6}     # codebook code -> SPSS number
WHO5_LABELS = {1: "所有时间", 2: "大部分时间", 3: "一半以上时间", 4: "一半以下时间", 5: "偶尔", 6: "从未",
               9: "拒绝回答", -8: "不知道"}
ROLES = {"adult": 1, "elderly": 2, "child": 3}
GROUPS = {"8-17": 1, "18-39": 2, "40-59": 3, "60+": 4}
COMPARED = ["community_id", "wave", "sex", "age", "age_group", "role", "residence_years", "who5_1", "who5_2"]


@pytest.fixture(scope="module")
def study():
    from evalkit.datasets import dongying

    return dongying()


@pytest.fixture(scope="module")
def truth(survey_raw):
    rows = survey_raw[(survey_raw["wave"] == "2016") & survey_raw["community_id"].isin(["mingyue", "anning"])]
    rows = rows[rows["who5_1"].isin(list("012345")) & rows["who5_2"].isin(list("012345"))]
    nine = rows[rows["residence_years"] == "9"].head(3)
    assert len(nine) == 3   # real 9 years of residence: a global missing_map {9: 98} must not touch them
    return pd.concat([nine, rows.drop(nine.index).iloc[::20].head(27)])


@pytest.fixture(scope="module")
def sav(tmp_path_factory, truth, study):
    ids = {cid: i + 1 for i, cid in enumerate(study.registry["community_id"])}
    names = dict(zip(study.registry["community_id"], study.registry["name_zh"]))
    f = lambda c: pd.to_numeric(truth[c], errors="coerce").to_numpy(dtype=float)  # noqa: E731
    df = pd.DataFrame({
        "id": truth["respondent_id"].to_numpy(), "hh": truth["household_id"].to_numpy(),
        "comm": [float(ids[c]) for c in truth["community_id"]], "year": f("wave"),
        "stratum": truth["stratum"].to_numpy(), "psu": truth["psu"].to_numpy(), "w": f("base_weight"),
        "q1": f("sex") - 1, "q2": f("age"), "agegrp": [float(GROUPS[g]) for g in truth["age_group"]],
        "type": [float(ROLES[r]) for r in truth["role"]], "q3": f("residence_years"),
        "wb1": [float(WHO5_NAMES[int(v)]) for v in truth["who5_1"]],
        "wb2": [float(WHO5_NAMES[int(v)]) for v in truth["who5_2"]],
    })
    df.loc[3, "wb1"] = 9.0      # refused (user-missing 9)
    df.loc[4, "wb2"] = -8.0     # don't know (in the missing range)
    df.loc[5, "q2"] = 13812345678.0  # a phone typed into the age box
    p = tmp_path_factory.mktemp("spss") / "survey.sav"
    pyreadstat.write_sav(
        df, str(p),
        column_labels={"id": "受访者编号", "hh": "户编号", "comm": "社区", "year": "调查年份", "stratum": "抽样层",
                       "psu": "初级抽样单元", "w": "基础权数", "q1": "性别", "q2": "年龄", "agegrp": "年龄组",
                       "type": "受访者类型", "q3": "本社区居住年数",
                       "wb1": study.codebook.variables["who5_1"].label.zh,
                       "wb2": study.codebook.variables["who5_2"].label.zh},
        variable_value_labels={"comm": {float(i): names[c] for c, i in ids.items()},
                               "q1": {0.0: "男", 1.0: "女"}, "wb1": WHO5_LABELS, "wb2": WHO5_LABELS,
                               "type": {float(v): k for k, v in ROLES.items()},
                               "agegrp": {float(v): k for k, v in GROUPS.items()}},
        missing_ranges={"wb1": [9.0], "wb2": [{"lo": -9.0, "hi": -1.0}]},
    )
    return p


def test_every_coded_field_through_its_labels(sav, truth, study):
    column_map = {"id": "respondent_id", "hh": "household_id", "comm": "community_id", "w": "base_weight"}
    got = read_spss(sav, column_map=column_map, study=study, missing_map={9: 98})
    assert set(got.attrs["recoded"]) >= {"community_id", "sex", "who5_1", "who5_2"}
    assert got.loc[2:4, "residence_years"].tolist() == ["9", "9", "9"]   # the global map did not touch them
    assert got.loc[5, "who5_1"] == "98" and got.loc[6, "who5_2"] == "97"
    assert any("missing_map" in n and "who5_1" in n and "residence_years" not in n for n in got.attrs["notes"])
    rep = validate(got, study=study)
    assert rep.n_rows == 30 == rep.n_valid + rep.n_quarantined
    assert list(rep.quarantined.index) == [7]            # the phone in the age box, blanked
    assert "personal_data" in set(rep.problems["rule"]) and "13812345678" not in rep.problems.to_string()
    valid = rep.valid.set_index("respondent_id")
    want = validate(truth, study=study).valid.set_index("respondent_id").loc[valid.index, COMPARED]
    want.loc[truth["respondent_id"].iloc[3], "who5_1"] = np.nan   # refused / don't know: missing, not a code
    want.loc[truth["respondent_id"].iloc[4], "who5_2"] = np.nan
    pd.testing.assert_frame_equal(valid[COMPARED], want, check_dtype=False)


def test_per_variable_missing_map_applies_to_every_cell(sav, study):
    column_map = {"id": "respondent_id", "hh": "household_id", "comm": "community_id", "w": "base_weight"}
    got = read_spss(sav, column_map=column_map, study=study, missing_map={"residence_years": {9: 98}})
    assert got.loc[2:4, "residence_years"].tolist() == ["98", "98", "98"]  # asked for, per variable


def test_unmatched_label_is_not_taken_for_a_code(tmp_path, study):
    df = pd.DataFrame({"respondent_id": ["a", "b"], "sex": [1.0, 3.0]})
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(df, str(p), variable_value_labels={"sex": {1.0: "男", 3.0: "其他"}})
    got = read_spss(p, study=study)
    assert got["sex"].tolist() == ["1", "其他"]


def test_drop_and_refusal_remedy(tmp_path, study):
    df = pd.DataFrame({"respondent_id": ["a", "b", "c"], "household_id": ["13812345678", "13912345678", "x"]})
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(df, str(p))
    with pytest.raises(Exception, match=r"read_spss\(\.\.\., drop=\['household_id'\]\)"):
        read_spss(p, study=study)
    assert "household_id" not in read_spss(p, study=study, drop=["household_id"]).columns


def test_labels_of_a_number_keep_the_number(tmp_path, study):
    df = pd.DataFrame({"respondent_id": ["a", "b", "c"], "age": [99.0, 40.0, 98.0]})
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(df, str(p), variable_value_labels={"age": {99.0: "99岁及以上", 98.0: "拒绝回答"}},
                         missing_ranges={"age": [98.0]})
    got = read_spss(p, study=study)
    # the top-code stays a number; 98 is user-missing (拒绝回答) and age has no missing-value codes:
    # blank with a note, never an age of 98
    assert not study.codebook.variables["age"].missing_codes
    assert got["age"].tolist()[:2] == ["99", "40"] and pd.isna(got["age"].iloc[2])
    assert any("'age': 1 user-missing value(s) read as blank" in n for n in got.attrs["notes"])


def test_global_missing_map_never_makes_a_valid_looking_number(tmp_path, study):
    df = pd.DataFrame({"respondent_id": ["a", "b"], "age": [-9.0, 40.0], "who5_1": [-9.0, 3.0]})
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(df, str(p))
    got = read_spss(p, study=study, missing_map={-9: 98})
    assert got["who5_1"].tolist() == ["98", "3"] and got["age"].tolist() == ["-9", "40"]  # age: left to validate


def test_string_community_codes_through_their_labels(tmp_path, study):
    df = pd.DataFrame({"respondent_id": ["a", "b", "c"], "community_id": ["01", "02", "03"]})
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(df, str(p), variable_value_labels={"community_id": {"01": "明月社区", "02": "安宁",
                                                                             "03": "某某社区"}})
    got = read_spss(p, study=study)
    assert got["community_id"].tolist() == ["mingyue", "anning", "某某社区"]  # unknown: its label, for validate
