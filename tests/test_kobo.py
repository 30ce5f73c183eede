"""KoboToolbox / ODK exports from the raw file to validated rows (issue 11, items 3, 6 and 7).

The fixtures under tests/data/exports/kobo/ are written by make_fixtures.py there from rows of the
shipped survey (the truth): every valid row must carry the shipped codes, and rows in = valid +
quarantined. Each file has one phone number typed into the age box and one row ticking "none"
together with another choice; both rows must be quarantined, and nothing else.
"""
from pathlib import Path

import pandas as pd
import pytest

import evalkit
from evalkit.io.kobo import read_kobo
from evalkit.io.read import read_survey
from evalkit.io.validate import validate

HERE = Path(__file__).resolve().parent / "data" / "exports" / "kobo"
ACTIVITIES = {"activities": {"act_club": "part_any", "act_vol": "vol_any", "act_org": "selforg"}}
COMPARED = ["respondent_id", "community_id", "wave", "sex", "age", "residence_years", "who5_1", "who5_2",
            "who5_3", "who5_4", "who5_5", "part_any", "vol_any", "selforg"]


@pytest.fixture(scope="module")
def truth(survey_raw, study):
    ids = pd.read_csv(HERE / "truth_ids.csv")["respondent_id"]
    rows = survey_raw[survey_raw["respondent_id"].isin(ids) & (survey_raw["wave"] == "2017")]
    rep = validate(rows, study=study)
    assert rep.n_valid == len(ids) == 24
    return rep.valid.set_index("respondent_id")


def _check(got, truth, study, injected=(5, 8)):
    rep = validate(got, study=study)
    assert rep.n_rows == 24 == rep.n_valid + rep.n_quarantined
    assert sorted(rep.quarantined.index) == list(injected)   # the phone row and the none+choice row
    assert set(rep.problems.loc[rep.problems["row"] == injected[0], "rule"]) >= {"personal_data"}
    assert "1234" not in rep.problems.to_string() and "13812345678" not in got.to_string()
    valid = rep.valid.set_index("respondent_id")
    want = truth.loc[valid.index, [c for c in COMPARED if c != "respondent_id"]]
    pd.testing.assert_frame_equal(valid[want.columns], want, check_dtype=False)
    return rep


def test_kobo_xml_csv_semicolons_groups_both_select_multiple_forms(truth, study):
    got = read_kobo(HERE / "kobo_xml.csv", study=study, select_multiple=ACTIVITIES, xlsform=HERE / "form.xlsx")
    assert got.attrs["format"] == "kobo" and got.attrs["meta"] == ["submitted"]
    assert got["submitted"].iloc[0] == "2017-06-01T09:00:00"   # end (device, +08:00 wall clock), ISO
    for meta in ("_uuid", "deviceid", "start", "_validation_status", "__version__", "_index"):
        assert meta not in got.columns and meta in got.attrs["unmapped"]
    assert got.attrs["personal_cells"][["row", "column", "rule"]].values.tolist() == [[5, "age", "phone"]]
    _check(got, truth, study)


def test_kobo_odk_comma_dash_groups_and_choice_columns_only(truth, study):
    got = read_kobo(HERE / "kobo_odk.csv", study=study, select_multiple=ACTIVITIES, xlsform=HERE / "form.xlsx")
    assert got.attrs["column_map"]["intro-respondent_id"] == "respondent_id"
    _check(got, truth, study)


def test_kobo_labels_xlsx_reports_the_repeat_group_sheet(truth, study):
    got = read_kobo(HERE / "kobo_labels.xlsx", study=study, select_multiple=ACTIVITIES, xlsform=HERE / "form.xlsx")
    assert any("household_members" in n and "not read" in n for n in got.attrs["notes"])
    assert got.attrs["repeat_groups"]["household_members"]["rows"] == 10
    _check(got, truth, study)
    # choices keyed by their labels work without the XLSForm too
    by_label = {"过去12个月您参加过哪些？": {"社区活动": "part_any", "志愿服务": "vol_any", "社区社会组织": "selforg"}}
    _check(read_kobo(HERE / "kobo_labels.xlsx", study=study, select_multiple=by_label), truth, study)


def test_without_the_xlsform_choice_names_are_not_codes_and_rows_are_quarantined(truth, study):
    # WHO-5's choice names run 1..6 from 所有时间 to 从未: read as codes they would be reversed.
    # The names 1..5 are valid codes, so only the XLSForm can tell; m/f are not codes, so sex fails.
    got = read_kobo(HERE / "kobo_xml.csv", study=study, select_multiple=ACTIVITIES)
    rep = validate(got, study=study)
    assert rep.n_rows == 24 == rep.n_valid + rep.n_quarantined
    assert rep.n_valid == 0 and "sex" in set(rep.problems["column"])


def test_exclusive_none_and_disagreeing_columns(tmp_path, study):
    t = pd.read_csv(HERE / "kobo_xml.csv", sep=";", dtype=str, keep_default_na=False)
    t.loc[0, "participation/activities"] = "none"
    t.loc[0, ["participation/activities/act_club", "participation/activities/act_vol",
              "participation/activities/act_org"]] = "0"
    t.loc[0, "participation/activities/none"] = "1"
    t.loc[1, "participation/activities/act_club"] = "1" if t.loc[1, "participation/activities/act_club"] == "0" else "0"
    p = tmp_path / "k.csv"
    t.to_csv(p, sep=";", index=False)
    got = read_kobo(p, study=study, select_multiple=ACTIVITIES, xlsform=HERE / "form.xlsx")
    assert got.loc[2, ["part_any", "vol_any", "selforg"]].tolist() == ["0", "0", "0"]
    assert any("row 3" in n and "disagree" in n for n in got.attrs["notes"])
    rep = validate(got, study=study)
    assert 3 in rep.quarantined.index and 2 in rep.valid.index
    # a user-declared exclusive choice name
    t.loc[0, "participation/activities"] = "nothing"
    t.loc[0, "participation/activities/none"] = "0"
    t.to_csv(p, sep=";", index=False)
    got = read_kobo(p, study=study, select_multiple=ACTIVITIES, xlsform=HERE / "form.xlsx", exclusive=["nothing"])
    assert got.loc[2, ["part_any", "vol_any", "selforg"]].tolist() == ["0", "0", "0"]


def test_c2_drop_allow_and_a_remedy_that_works(tmp_path, study):
    t = pd.read_csv(HERE / "kobo_xml.csv", sep=";", dtype=str, keep_default_na=False)
    t.insert(5, "intro/contact_phone", ["13912345678"] * len(t))
    p = tmp_path / "k.csv"
    t.to_csv(p, sep=";", index=False)
    column_map = {"contact_phone": "household_id", "intro/household_id": "psu", "intro/psu": "stratum"}
    with pytest.raises(evalkit.PersonalDataError) as exc:
        read_kobo(p, study=study, column_map=column_map, select_multiple=ACTIVITIES)
    msg = str(exc.value)
    assert "read_kobo(..., drop=['household_id'])" in msg and "13912345678" not in msg
    got = read_kobo(p, study=study, column_map=column_map, select_multiple=ACTIVITIES, drop=["household_id"])
    assert "household_id" not in got.columns
    got = read_kobo(p, study=study, column_map=column_map, select_multiple=ACTIVITIES, personal_data="quarantine")
    assert "household_id" not in got.columns and "household_id" in got.attrs["dropped_personal_data"]


def test_read_survey_on_a_kobo_file_does_not_call_uuids_phones():
    raw = read_survey(HERE / "kobo_xml.csv", drop=["deviceid", "username", "demo/age"])
    assert raw.attrs["separator"] == ";" and raw.attrs["personal_cells"].empty
