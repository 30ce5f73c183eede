"""Readers: encodings, Excel, SPSS .sav and Stata .dta round trips, and clear errors."""
import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.io.read import read_survey
from evalkit.io.validate import validate



@pytest.fixture(scope="module")
def small(survey_raw):
    # 40 rows of the shipped export, as text, from two communities (adults and children)
    rows = survey_raw[survey_raw["community_id"].isin(["anning", "yangmiao"])]
    return rows.iloc[::97].head(40)


def _same_valid(a, b):
    pd.testing.assert_frame_equal(a.valid.reset_index(drop=True), b.valid.reset_index(drop=True),
                                  check_dtype=False)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_read_the_same(tmp_path, small, encoding, codebook, registry):
    frame = small.copy()
    frame["community_id"] = frame["community_id"].map({"anning": "安宁社区", "yangmiao": "杨庙社区"})
    p = tmp_path / f"export_{encoding}.csv"
    frame.to_csv(p, index=False, encoding=encoding)
    got = read_survey(p)
    assert got.attrs["encoding"] in ("utf-8-sig", "gb18030")
    assert list(got.index) == list(range(2, len(frame) + 2))  # spreadsheet row numbers
    rep = validate(got, codebook, registry=registry)
    assert rep.n_quarantined == 0
    assert set(rep.valid["community_id"]) == {"anning", "yangmiao"}  # Chinese names mapped


def test_bom_is_not_part_of_the_first_header(tmp_path, small):
    p = tmp_path / "bom.csv"
    small.to_csv(p, index=False, encoding="utf-8-sig")
    assert read_survey(p).columns[0] == "respondent_id"


def test_excel_round_trip(tmp_path, small, codebook):
    p = tmp_path / "export.xlsx"
    small.to_excel(p, index=False)
    csv = tmp_path / "export.csv"
    small.to_csv(csv, index=False)
    _same_valid(validate(read_survey(p), codebook), validate(read_survey(csv), codebook))


def test_sav_round_trip_with_value_labels_and_user_missing(tmp_path, small, codebook):
    import pyreadstat

    typed = validate(small, codebook).valid
    frame = small.copy()
    for c in frame.columns:
        if codebook.variables[c].is_numeric:
            frame[c] = pd.to_numeric(frame[c])
    labels = {n: {float(k): v.zh for k, v in codebook.items[n].codes.items()}
              for n in ("who5_1", "trust_nb") }
    frame.loc[frame.index[0], "trust_nb"] = 97  # don't know, declared user-missing in the .sav
    p = tmp_path / "export.sav"
    pyreadstat.write_sav(frame, str(p), variable_value_labels=labels,
                         missing_ranges={"trust_nb": [97, 98, 99]})
    got = read_survey(p)
    assert got.attrs["format"] == "sav"
    assert got.attrs["value_labels"]["who5_1"][5.0] == "所有时间"
    rep = validate(got, codebook)
    assert rep.n_quarantined == 0
    assert np.isnan(rep.valid["trust_nb"].iloc[0])
    row0 = rep.valid.index[0]
    assert rep.missing.query("row == @row0 and column == 'trust_nb'")["reason"].tolist() == ["dont_know"]
    other = [c for c in typed.columns if c != "trust_nb"]
    pd.testing.assert_frame_equal(rep.valid[other].reset_index(drop=True),
                                  typed[other].reset_index(drop=True), check_dtype=False)


def test_dta_round_trip(tmp_path, small, codebook):
    frame = small.copy()
    for c in frame.columns:
        if codebook.variables[c].is_numeric:
            frame[c] = pd.to_numeric(frame[c])
    p = tmp_path / "export.dta"
    frame.to_stata(p, write_index=False, version=118)
    _same_valid(validate(read_survey(p), codebook), validate(small, codebook))


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    with pytest.raises(evalkit.ReadError, match="empty"):
        read_survey(p)


def test_header_only_gives_zero_rows(tmp_path, codebook):
    p = tmp_path / "header.csv"
    p.write_text(",".join(codebook.columns) + "\n", encoding="utf-8")
    rep = validate(read_survey(p), codebook)
    assert rep.n_rows == rep.n_valid == 0


def test_duplicated_header(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("respondent_id,age,age\nA,30,31\n", encoding="utf-8")
    with pytest.raises(evalkit.ReadError, match=r"row 1: duplicated column name\(s\) \['age'\]"):
        read_survey(p)


def test_truncated_excel(tmp_path, small):
    p = tmp_path / "export.xlsx"
    small.to_excel(p, index=False)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(evalkit.ReadError, match="truncated"):
        read_survey(p)


def test_unknown_suffix(tmp_path):
    p = tmp_path / "export.json"
    p.write_text("{}")
    with pytest.raises(evalkit.ReadError, match="unknown file type"):
        read_survey(p)


def test_mixed_encodings_name_the_row(tmp_path):
    p = tmp_path / "mixed.csv"
    p.write_bytes("community_id,age\n".encode() + "安宁社区,30\n".encode("utf-8")
                  + "杨庙社区,40\n".encode("gbk") + b"\xff\xfe\xfa,50\n")
    with pytest.raises(evalkit.ReadError, match="row 4"):
        read_survey(p)


def test_blank_lines_keep_row_numbers(tmp_path, small, codebook):
    p = tmp_path / "blank.csv"
    text = small.head(3).to_csv(index=False).splitlines()
    p.write_text("\n".join([text[0], text[1], ",,,", text[2], text[3]]) + "\n", encoding="utf-8")
    got = read_survey(p)
    assert list(got.index) == [2, 4, 5]
    assert got.attrs["blank_lines_skipped"] == 1


# --- evalkit validate on platform exports (issue 11, item 7) --------------------------------------
def _cli(*argv):
    import contextlib
    import io

    from evalkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", *map(str, argv)])
    return code, out.getvalue(), err.getvalue()


def test_cli_validate_reads_platform_exports_by_their_kind():
    from pathlib import Path

    kobo = Path(__file__).parent / "data" / "exports" / "kobo"
    code, out, err = _cli(kobo / "kobo_xml.csv", "--drop", "participation/activities")
    assert "read as kobo" in out and code == 1 and err == ""      # sex m/f needs the XLSForm: rows listed
    with pytest.warns(evalkit.errors.EvalkitWarning, match="说明"):
        code, out, _ = _cli(Path(__file__).parent / "data" / "exports" / "workbook" / "handtyped.xlsx", "--sheet", "all")
    assert "read as table" in out and code == 0, out
    assert "note: sheet 3 '说明' not read" in out


def test_cli_refusal_offers_command_line_options(tmp_path, survey_raw):
    frame = survey_raw.head(5).copy()
    frame.insert(1, "联系电话", ["13812345678", "13912345678", "", "", "13712345678"])
    p = tmp_path / "export.csv"
    frame.to_csv(p, index=False)
    code, out, err = _cli(p)
    assert code == 2 and "--drop '联系电话'" in err and "--allow" in err and "read_survey(" not in err
    assert "13812345678" not in err
    code, out, err = _cli(p, "--drop", "联系电话")
    assert code == 0 and err == "", err
    code, out, err = _cli(p, "--personal-data", "quarantine")
    assert code == 0 and "联系电话" in out          # named in a note: removed


def test_cli_header_only_for_tables(tmp_path):
    p = tmp_path / "s.sav"
    import pyreadstat

    pyreadstat.write_sav(pd.DataFrame({"respondent_id": ["a"]}), str(p))
    code, _, err = _cli(p, "--header", "2")
    assert code == 2 and "--header applies to --format table" in err


def test_cli_validate_the_study_of_a_folder(tmp_path):
    # `evalkit validate --study <folder>`: the study's export, reader options and design step
    from evalkit.project.new import create_study

    create_study(tmp_path / "s", per_cell=10, notebooks=False, execute=False)
    code, out, err = _cli("--study", tmp_path / "s")
    assert code == 0 and "read as wjx" in out and "0 quarantined" in out, (out, err)
    code, out, err = _cli("--study", tmp_path / "s", "--header", "2")
    assert code == 2 and "--header applies to --format table" in err


def test_a_file_without_header_row_never_quotes_a_phone_in_its_message(tmp_path):
    p = tmp_path / "noheader.csv"
    p.write_text("a1,13812345678,40\na2,13912345678,50\n", encoding="utf-8")
    with pytest.raises(evalkit.ReadError, match="row 1, column 2: the header holds a phone number") as exc:
        read_survey(p)
    assert "1381234" not in str(exc.value)
