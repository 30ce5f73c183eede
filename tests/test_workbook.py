"""Hand-typed workbooks from the raw file to validated rows (issue 11, item 9).

tests/data/exports/workbook/handtyped.xlsx is written by make_fixtures.py there from rows of the
shipped survey (the truth): a title merged across row 1 and a "填表人" line above the header in
row 4, the community typed once and merged down, answers typed as labels (男/女, WHO-5 and
agreement labels, "1-2次" with an ASCII hyphen), a second batch on sheet 2 and instructions on
sheet 3. Every valid row must carry the shipped codes; rows in = valid + quarantined.
"""
import warnings
from pathlib import Path

import pandas as pd
import pytest

from evalkit.errors import EvalkitWarning, ReadError
from evalkit.io.read import read_survey
from evalkit.io.validate import validate

HERE = Path(__file__).resolve().parent / "data" / "exports" / "workbook"
COMPARED = ["household_id", "community_id", "wave", "sex", "age", "age_group", "role", "education", "who5_1",
            "who5_2", "trust_nb", "part_freq"]


@pytest.fixture(scope="module")
def truth(survey_raw, study):
    ids = pd.read_csv(HERE / "truth_ids.csv")["respondent_id"]
    rows = survey_raw[survey_raw["respondent_id"].isin(ids) & (survey_raw["wave"] == "2017")]
    return validate(rows, study=study).valid.set_index("respondent_id")[COMPARED]


def _same(rep, truth):
    valid = rep.valid.set_index("respondent_id")
    pd.testing.assert_frame_equal(valid[COMPARED], truth.loc[valid.index], check_dtype=False)


def test_title_rows_merged_cells_and_text_answers(study, truth):
    with pytest.warns(EvalkitWarning, match="第二批"):
        got = read_survey(HERE / "handtyped.xlsx", study=study)
    assert got.attrs["header_row"] == 4 and list(got.index) == list(range(5, 15))   # spreadsheet rows
    notes = " | ".join(got.attrs["notes"])
    assert "header in row 4" in notes and "C5:C14" in notes
    assert "sheet 2 '第二批' not read" in notes and "sheet 3 '说明' not read" in notes
    assert got.attrs["column_map"]["性 别"] == "sex"
    assert got.attrs["labels_mapped"]["part_freq"] == 10          # "1-2次" and friends
    rep = validate(got, study=study)
    assert rep.n_rows == 10 == rep.n_valid + rep.n_quarantined and rep.n_quarantined == 0
    _same(rep, truth)


def test_every_sheet_with_the_same_header(study, truth):
    with pytest.warns(EvalkitWarning, match="说明"):
        got = read_survey(HERE / "handtyped.xlsx", study=study, sheet="all")
    assert got["sheet"].value_counts().to_dict() == {"第一批": 10, "第二批": 8}
    assert got.index[0] == "第一批!5" and got.index[-1] == "第二批!9"
    assert any("'说明' not read: its columns differ" in n for n in got.attrs["notes"])
    rep = validate(got, study=study)
    assert rep.n_rows == 18 == rep.n_valid + rep.n_quarantined and rep.n_quarantined == 0
    _same(rep, truth)


def test_header_given_and_wrong_header(study):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        got = read_survey(HERE / "handtyped.xlsx", study=study, header=4)
        assert len(got) == 10
        with pytest.raises(ReadError, match=r"row 1, column 2: a column has no name"):
            read_survey(HERE / "handtyped.xlsx", header=1)


def test_csv_with_a_title_row(study, truth):
    got = read_survey(HERE / "handtyped_title.csv", study=study)
    assert got.attrs["header_row"] == 2 and got.index[0] == 3
    rep = validate(got, study=study)
    assert rep.n_rows == 10 == rep.n_valid
    _same(rep, truth)


def test_without_a_codebook_the_title_is_still_skipped_and_text_kept():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        got = read_survey(HERE / "handtyped.xlsx")
    assert got.attrs["header_row"] == 4 and set(got["性 别"]) <= {"男", "女"}


def test_a_label_that_matches_nothing_is_kept_for_validate(tmp_path, study):
    p = tmp_path / "w.csv"
    pd.DataFrame({"respondent_id": ["a", "b"], "sex": ["男", "男性"]}).to_csv(p, index=False)
    got = read_survey(p, study=study)
    assert got["sex"].tolist() == ["1", "男性"]


def test_a_sparse_header_is_not_replaced_by_an_answer_row(tmp_path):
    p = tmp_path / "sparse.csv"
    p.write_text("a,b,,,\n1,2,3,4,5\n6,7,8,9,10\n", encoding="utf-8")
    with pytest.raises(ReadError, match="row 1, column 3: a column has no name"):
        read_survey(p)
    assert list(read_survey(p, header=2).columns) == ["1", "2", "3", "4", "5"]
