"""SPSS .sav from the raw file to validated rows (issue 11, items 3 and 8).

tests/data/exports/spss/survey.sav is written by make_fixtures.py there, with pyreadstat, from rows of
the shipped survey (the truth) the way SPSS users code: community as numbers labelled with the
community's Chinese name, sex 0/1 = 男/女, WHO-5 numbered 1..6 from 所有时间 to 从未 (labels only tell),
role and age group as labelled numbers, 9 = 拒绝回答 declared user-missing on WHO-5, -8 = 不知道 in a
missing range, residence years with real 9s, a phone number typed into the age box.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.io.spss import read_spss
from evalkit.io.validate import validate

pyreadstat = pytest.importorskip("pyreadstat")

HERE = Path(__file__).resolve().parent / "data" / "exports" / "spss"
COMPARED = ["community_id", "wave", "sex", "age", "age_group", "role", "residence_years", "who5_1", "who5_2"]


@pytest.fixture(scope="module")
def truth(survey_raw):
    ids = pd.read_csv(HERE / "truth_ids.csv")["respondent_id"].tolist()
    rows = survey_raw[survey_raw["respondent_id"].isin(ids) & (survey_raw["wave"] == "2016")]
    rows = rows.set_index("respondent_id").loc[ids].reset_index()   # file order
    assert len(rows) == 30 and rows["residence_years"].head(3).tolist() == ["9", "9", "9"]
    return rows


@pytest.fixture(scope="module")
def sav():
    return HERE / "survey.sav"


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
