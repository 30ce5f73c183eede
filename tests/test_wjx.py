"""问卷星 downloads from the raw file to validated rows (issue 11 items 1, 3, 4, 6).

The downloads in tests/data/exports/wjx/ are written by make_fixtures.py there, in 问卷星's layouts
(按文本下载 / 按选项序号下载, Excel and GBK CSV), from made-up answers kept in truth.csv. Every test
checks that EVERY valid row carries the codes of the truth and that rows in = valid + quarantined,
with the quarantined rows exactly the ones spoiled on purpose.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.io.prepare import add_design
from evalkit.io.privacy import citizen_id_check_digit
from evalkit.io.validate import validate
from evalkit.io.wjx import read_wjx, wjx_option_map

HERE = Path(__file__).resolve().parent / "data" / "exports" / "wjx"
TRUTH = pd.read_csv(HERE / "truth.csv", dtype={"quarantine_text": str, "quarantine_number": str}).fillna(
    {"quarantine_text": "", "quarantine_number": ""})
CODED = ["sex", "who5_1", "who5_2", "who5_3", "who5_4", "who5_5", "bscs_3", "bscs_4", "part_freq",
         "part_any", "vol_any", "selforg", "grid_sat"]
# the parameters a study file would hold (question numbers of the questionnaire)
COLUMN_MAP = {2: "community_id", 3: "sex", 4: "age"}
MULTI = {13: {"社区组织的活动": "part_any", "志愿服务": "vol_any", "社区社会组织或兴趣团队": "selforg", "其他": ""}}
# the questionnaire's option lists, top to bottom (what 问卷星 numbers 1, 2, 3 ...)
OPTION_MAP = {
    2: ["安宁社区", "胜宏社区", "文苑社区"],
    3: ["男", "女"],
    **{q: ["所有时间", "大部分时间", "一半以上时间", "一半以下时间", "偶尔", "从未"] for q in range(5, 10)},
    11: ["非常同意", "同意", "一般", "不同意", "非常不同意"],
    12: ["没有参加", "1-2次", "3-5次", "6-11次", "每月至少一次"],
    14: ["非常不满意", "不满意", "一般", "满意", "非常满意", "不知道"],
}


@pytest.fixture(scope="module")
def study(codebook, registry):
    return evalkit.Study(codebook, registry)


def _validated(raw, study):
    designed = add_design(raw, study=study, wave="submitted", fieldwork=HERE / "fieldwork.csv")
    return validate(designed, study=study)


def _check_against_truth(report, expected_rule: str):
    """Rows in = valid + quarantined; the quarantined rows are the spoiled ones, with their rule;
    every valid row carries the truth's codes (missing-value codes as NaN, reason kept)."""
    truth = TRUTH.set_index(TRUTH["序号"] + 1)  # spreadsheet row = 序号 + header row
    assert report.n_rows == len(truth) == report.n_valid + report.n_quarantined
    spoiled = truth.index[truth[expected_rule] != ""]
    assert sorted(report.quarantined.index) == sorted(spoiled), report.problems
    for row in spoiled:
        rules = set(report.problems.loc[report.problems["row"] == row, "rule"])
        assert truth.at[row, expected_rule] in rules
    v = report.valid
    t = truth.loc[v.index]
    assert (v["respondent_id"].astype(str) == t["respondent_id"]).all()
    assert (v["community_id"].astype(str) == t["community_id"]).all()
    assert (v["age"] == t["age"]).all()
    assert (v["wave"] == 2017).all()
    for c in CODED:
        want = t[c].where(t[c] < 90)  # 97 (不知道) is a missing-value code: NaN with its reason
        got = v[c].astype(float)
        assert ((got == want) | (got.isna() & want.isna())).all(), (c, v.index[~((got == want) | (got.isna() & want.isna()))])
    dont_know = set(t.index[t["grid_sat"] == 97])
    assert set(report.missing.loc[report.missing["column"] == "grid_sat", "row"]) & set(v.index) == dont_know
    return v


def test_text_download_excel_to_validated_rows(study):
    raw = read_wjx(HERE / "wjx_text.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI)
    # matrix rows "11、(我归属于本社区)" found by their row text; the submission time kept as ISO text
    assert raw.attrs["column_map"]["11、(我归属于本社区)"] == "bscs_4"
    assert raw.attrs["meta"] == ["submitted"] and raw["submitted"].iloc[0] == "2017-06-03T08:03:00"
    assert "来自IP" in raw.attrs["unmapped"] and "来自IP" not in raw.columns
    report = _validated(raw, study)
    _check_against_truth(report, "quarantine_text")
    # the unknown answer: quarantined with the valid options listed, not "expected a number"
    msg = report.problems.loc[(report.problems["row"] == 5) & (report.problems["column"] == "who5_1"), "message"].iloc[0]
    assert "expected one of: 0=从未, 1=偶尔" in msg and "97=不知道" in msg


def test_text_download_gbk_csv_reads_the_same(study):
    raw = read_wjx(HERE / "wjx_text.csv", COLUMN_MAP, study=study, select_multiple=MULTI)
    report = _validated(raw, study)
    _check_against_truth(report, "quarantine_text")


def test_number_download_with_option_map(study):
    raw = read_wjx(HERE / "wjx_number.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI, option_map=OPTION_MAP)
    report = _validated(raw, study)
    valid = _check_against_truth(report, "quarantine_number")
    # WHO-5 listed 所有时间 -> 从未: option 1 is code 5; the old option order would have given 0
    first = TRUTH.set_index(TRUTH["序号"] + 1).loc[valid.index]
    assert (valid["who5_3"].astype(float) == first["who5_3"]).all() and (first["who5_3"] != 2.5).any()
    msg = report.problems.loc[report.problems["row"] == 14, "message"].iloc[0]
    assert "option 9" in report.problems.loc[report.problems["row"] == 14, "value"].iloc[0]
    assert "1=非常不满意" in msg


def test_number_download_without_a_map_is_refused_with_the_fix(study):
    with pytest.raises(evalkit.ReadError) as exc:
        read_wjx(HERE / "wjx_number.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI)
    text = str(exc.value)
    assert "who5_1" in text and "option_map=" in text and "wjx_option_map" in text and "所有时间" in text


def _clean_text_download(tmp_path):
    """The text download without the rows spoiled in either file (the two downloads of one survey
    always agree; the fixtures were spoiled independently)."""
    t = pd.read_excel(HERE / "wjx_text.xlsx", dtype=object)
    spoiled = TRUTH.loc[(TRUTH["quarantine_text"] != "") | (TRUTH["quarantine_number"] != ""), "序号"]
    t[~t["序号"].isin(spoiled)].to_excel(tmp_path / "text.xlsx", index=False)
    return tmp_path / "text.xlsx"


def test_option_map_drafted_from_the_paired_text_download(tmp_path, study):
    drafted = wjx_option_map(_clean_text_download(tmp_path), HERE / "wjx_number.xlsx")
    # the respondents chose every option of these questions, so the drafted lists are complete
    for q in (3, 5, 11, 12):
        assert [drafted[q][k] for k in sorted(drafted[q])] == OPTION_MAP[q], q
    assert 1 not in drafted and 4 not in drafted  # ids and ages are not option questions
    raw = read_wjx(HERE / "wjx_number.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI, option_map=drafted)
    assert not raw.attrs["option_map"]["5、过去两周里，我感到快乐、心情舒畅："].get("9")
    report = _validated(raw, study)
    truth = TRUTH.set_index(TRUTH["序号"] + 1)
    v = report.valid
    for c in ("who5_1", "bscs_3", "part_freq", "sex"):
        assert (v[c].astype(float) == truth.loc[v.index, c]).all(), c


def test_option_map_refuses_inconsistent_downloads(tmp_path):
    t = pd.read_excel(_clean_text_download(tmp_path), dtype=object)
    t.loc[0, "3、您的性别："] = "男" if t.loc[0, "3、您的性别："] == "女" else "女"  # row 1 no longer matches
    t.to_excel(tmp_path / "text.xlsx", index=False)
    with pytest.raises(evalkit.ReadError, match="question 3"):
        wjx_option_map(tmp_path / "text.xlsx", HERE / "wjx_number.xlsx")


def test_option_map_texts_must_be_codebook_answers(study):
    bad = {**OPTION_MAP, 12: ["没有参加", "1到2次", "3-5次", "6-11次", "每月至少一次"]}
    with pytest.raises(evalkit.ReadError, match="'1到2次' is not an answer of 'part_freq'.*1=1–2次"):
        read_wjx(HERE / "wjx_number.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI, option_map=bad)


def test_order_numbering_is_refused(study):
    with pytest.raises(evalkit.ReadError, match="所有时间 -> 从未"):
        read_wjx(HERE / "wjx_number.xlsx", COLUMN_MAP, study=study, option_numbers="order")


def test_multi_select_both_ways_agree_and_none_is_exclusive(study):
    text = read_wjx(HERE / "wjx_text.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI)
    number = read_wjx(HERE / "wjx_number.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI, option_map=OPTION_MAP)
    truth = TRUTH.set_index(TRUTH["序号"] + 1)
    ok = truth.index[truth["quarantine_text"] == ""]
    for c in ("part_any", "vol_any", "selforg"):
        assert text.loc[ok, c].astype(int).tolist() == truth.loc[ok, c].tolist()
        assert number.loc[ok, c].astype(int).tolist() == truth.loc[ok, c].tolist()
    # row 10: 志愿服务 ticked with 以上都没有 -> the items are blank and the reader lists the row,
    # which validate quarantines (rule multiple_choice, the reason in the message)
    for got in (text, number):
        assert got.loc[10, ["part_any", "vol_any", "selforg"]].isna().all()
        assert [(p["row"], p["rule"]) for p in got.attrs["read_problems"]] == [(10, "multiple_choice")]
        assert "none of these" in got.attrs["read_problems"][0]["message"]
    # a respondent who ticked only 以上都没有 has every item 0
    nothing = [r for r in ok if truth.loc[r, ["part_any", "vol_any", "selforg"]].sum() == 0]
    assert nothing and (text.loc[nothing, ["part_any", "vol_any", "selforg"]] == "0").all().all()


def test_unknown_option_column_is_refused(tmp_path, study):
    n = pd.read_excel(HERE / "wjx_number.xlsx", dtype=object)
    n.insert(n.columns.get_loc("第13题(以上都没有)"), "第13题(广场舞)", 0)
    n.to_excel(tmp_path / "n.xlsx", index=False)
    with pytest.raises(evalkit.ReadError, match="广场舞"):
        read_wjx(tmp_path / "n.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI, option_map=OPTION_MAP)


def test_matching_normalises_both_sides(tmp_path, codebook):
    # dashes (ASCII, en, em, full-width), tildes, full-width digits and spaces, headers included
    t = pd.DataFrame({
        "1、respondent_id": ["a", "b", "c", "d", "e"],
        "2、过去12个月，您参加社区活动的次数": ["1-2次", "3—5次", "6－11次", " 1 – 2 次 ", "1~2次"],
        "3、年龄": ["７９", "45", "３０", "60", "18"],
        "4、您对网格员的工作满意吗?": ["非常 满意", "满意。", "不 知道", "(空)", "-3"],
    })
    t.to_excel(tmp_path / "m.xlsx", index=False)
    got = read_wjx(tmp_path / "m.xlsx", {3: "age"}, codebook=codebook)
    assert got["part_freq"].tolist() == ["1", "2", "3", "1", "1~2次"]  # a tilde is not a dash
    assert got["age"].tolist() == ["79", "45", "30", "60", "18"]
    assert [None if pd.isna(v) else v for v in got["grid_sat"]] == ["5", "4", "97", None, None]


def test_drop_allow_and_the_refusal_remedy_work(tmp_path, codebook):
    t = pd.DataFrame({"序号": [1, 2, 3], "1、您的姓名": ["张伟", "李秀英", "王芳"], "2、年龄": [40, 50, 60],
                      "3、受访者编号": ["r1", "r2", "r3"]})
    t.to_excel(tmp_path / "names.xlsx", index=False)
    with pytest.raises(evalkit.PersonalDataError) as exc:
        read_wjx(tmp_path / "names.xlsx", {1: "household_id", 2: "age"}, codebook=codebook)
    assert "read_wjx(..., drop=['household_id'])" in str(exc.value) and "张伟" not in str(exc.value)
    # the remedy as written works, and so do a question number or the export header
    for drop in (["household_id"], [1], ["1、您的姓名"]):
        got = read_wjx(tmp_path / "names.xlsx", {1: "household_id", 2: "age"}, codebook=codebook, drop=drop)
        assert "household_id" not in got.columns and got["age"].tolist() == ["40", "50", "60"]
    with pytest.raises(evalkit.EvalkitError, match="agee"):
        read_wjx(tmp_path / "names.xlsx", {2: "age"}, codebook=codebook, drop=["agee"])


def _three_rows(study):
    raw = read_wjx(HERE / "wjx_text.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI)
    frame = add_design(raw, study=study, wave="submitted", fieldwork=HERE / "fieldwork.csv").iloc[:3].copy()
    frame.attrs = {"source": "five.xlsx"}
    return frame.drop(columns="submitted")


def test_validate_quarantines_personal_cells_from_attrs(study, codebook):
    # contract C1 by hand: a reader blanked row 3's age (a phone number) and listed the cell
    frame = _three_rows(study)
    frame.iloc[1, frame.columns.get_loc("age")] = None
    frame.attrs["personal_cells"] = [{"row": frame.index[1], "column": "age", "rule": "phone", "shape": "11 digits"}]
    report = validate(frame, codebook)
    assert report.n_rows == 3 == report.n_valid + report.n_quarantined
    assert list(report.quarantined.index) == [frame.index[1]]
    p = report.problems[report.problems["rule"] == "personal_data"]
    assert p[["row", "column", "value"]].values.tolist() == [[frame.index[1], "age", ""]]
    assert "phone" in p["message"].iloc[0] and "11 digits" in p["message"].iloc[0]
    # the DataFrame form of the contract is read the same way
    frame.attrs["personal_cells"] = pd.DataFrame(frame.attrs["personal_cells"])
    assert list(validate(frame, codebook).quarantined.index) == [frame.index[1]]


def test_meta_columns_are_not_unknown_columns(study, codebook):
    frame = _three_rows(study)
    frame["submitted"] = "2017-06-03T08:03:00"
    assert set(validate(frame, codebook).problems["rule"]) == {"unknown_column"}
    frame.attrs["meta"] = ["submitted"]
    report = validate(frame, codebook)
    assert report.ok and report.n_valid == 3 and "submitted" not in report.valid.columns
    assert np.isfinite(report.valid["age"]).all()


def test_a_phone_number_in_an_answer_quarantines_its_row_only(tmp_path, study):
    # issue 11 item 7: one phone number typed into the age box no longer refuses the file; the cell
    # is blanked by the reader, the row quarantined by validate, and the number appears nowhere
    t = pd.read_excel(HERE / "wjx_text.xlsx", dtype=object)
    t.loc[20, "4、您的年龄："] = "13812345678"
    t.loc[30, "12、过去12个月，您参加社区活动的次数："] = "１３９ ８７６５ ４３２１"
    # an 18-digit citizen ID in full-width digits: read exactly (not through a float), so it is found
    body = "11010119900307123"
    ident = body + citizen_id_check_digit(body)
    t.loc[40, "4、您的年龄："] = ident.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    t.to_excel(tmp_path / "phone.xlsx", index=False)
    raw = read_wjx(tmp_path / "phone.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI)
    report = _validated(raw, study)
    assert report.n_rows == 48 == report.n_valid + report.n_quarantined
    personal = report.problems[report.problems["rule"] == "personal_data"]
    assert sorted(personal["row"]) == [22, 32, 42] and set(personal["value"]) == {""}
    assert {22, 32, 42} <= set(report.quarantined.index)
    assert body[:10] not in report.problems.to_string() + report.quarantined.to_string()
    shown = pd.concat([report.problems.astype(str), report.quarantined.astype(str)]).to_string()
    assert "13812345678" not in shown and "8765" not in shown and "8765" not in report.describe()


@pytest.mark.parametrize("header, number, item", [
    ("1、您的性别：", "1", None), ("7、(社区为老服务)", "7", "社区为老服务"), ("7(社区为老服务)", "7", "社区为老服务"),
    ("第9题(文体活动)", "9", "文体活动"), ("第3题：您的年龄", "3", None), ("12.您的年龄", "12", None),
    ("序号", None, None), ("来自IP", None, None),
])
def test_header_forms(header, number, item):
    from evalkit.io.wjx_parse import parse_header

    h = parse_header(header)
    assert (h.number, h.item) == (number, item)


def test_tencent_layout_reads_through_the_same_parameters(tmp_path, codebook):
    # 腾讯问卷: "1.question" headers, 编号 / 开始答题时间 / 结束答题时间 / 答题时长 metadata
    t = pd.DataFrame({"编号": [1, 2], "开始答题时间": ["2017-06-03 08:00:00", "2017-06-03 09:00:00"],
                      "结束答题时间": ["2017-06-03 08:05:10", "2017-06-03 09:04:00"], "答题时长": ["5分10秒", "4分"],
                      "1.受访者编号": ["a", "b"], "2.您对网格员的工作满意吗？": ["满意", "非常不满意"]})
    t.to_excel(tmp_path / "tencent.xlsx", index=False)
    got = read_wjx(tmp_path / "tencent.xlsx", codebook=codebook)
    assert got["grid_sat"].tolist() == ["4", "1"] and got["respondent_id"].tolist() == ["a", "b"]
    assert got["submitted"].tolist() == ["2017-06-03T08:05:10", "2017-06-03T09:04:00"]
    assert "开始答题时间" in got.attrs["unmapped"]


def test_a_fill_in_in_the_other_column_means_ticked(tmp_path, study):
    # some option-number downloads write the 其他 fill-in text into its 0/1 column
    n = pd.read_excel(HERE / "wjx_number.xlsx", dtype=object)
    n.loc[n["第13题(其他)"] == 1, "第13题(其他)"] = "下棋"
    n.to_excel(tmp_path / "n.xlsx", index=False)
    got = read_wjx(tmp_path / "n.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI, option_map=OPTION_MAP)
    truth = TRUTH.set_index(TRUTH["序号"] + 1)
    ok = truth.index[truth["quarantine_number"] == ""]
    assert got.loc[ok, "vol_any"].astype(int).tolist() == truth.loc[ok, "vol_any"].tolist()
    assert "下棋" not in got.to_string()


def test_allow_takes_a_header_a_question_number_or_a_name(tmp_path, codebook):
    # household ids that look like personal names (a household named after its head) refuse the
    # file until the user says they are not personal data, by codebook name, number or header
    t = pd.DataFrame({"1、户编号": ["张伟", "李秀英", "王芳"], "2、年龄": [40, 50, 60]})
    t.to_excel(tmp_path / "allow.xlsx", index=False)
    with pytest.raises(evalkit.PersonalDataError, match="allow="):
        read_wjx(tmp_path / "allow.xlsx", {2: "age"}, codebook=codebook)
    for allow in (["household_id"], [1], ["1、户编号"]):
        got = read_wjx(tmp_path / "allow.xlsx", {2: "age"}, codebook=codebook, allow=allow)
        assert got["household_id"].tolist() == ["张伟", "李秀英", "王芳"]


def test_categories_and_community_names_match_without_regard_to_width_and_dashes(tmp_path, study, codebook):
    t = pd.read_excel(HERE / "wjx_text.xlsx", dtype=object)
    t["2、您所在的社区："] = t["2、您所在的社区："].str.replace("社区", " 社区 ")  # "安宁 社区 "
    t.loc[0, "2、您所在的社区："] = "ＡＮＮＩＮＧ"  # the pinyin in full-width capitals
    t.to_excel(tmp_path / "c.xlsx", index=False)
    raw = read_wjx(tmp_path / "c.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI)
    report = _validated(raw, study)
    _check_against_truth(report, "quarantine_text")
    # a category typed with another dash still is the codebook's category
    frame = pd.DataFrame({"1、年龄组": ["18—39", "40－59", "60+", "8~17"]})
    frame.to_excel(tmp_path / "g.xlsx", index=False)
    assert read_wjx(tmp_path / "g.xlsx", codebook=codebook)["age_group"].tolist() == ["18-39", "40-59", "60+", "8~17"]


def test_the_platform_serial_number_can_be_the_respondent_id(tmp_path, codebook):
    # a survey without its own respondent-number question: 序号 is the id when the map says so
    t = pd.DataFrame({"序号": [1, 2], "提交答卷时间": ["2017/6/3 8:03:00", "2017/6/3 9:10:00"],
                      "1、您对网格员的工作满意吗？": ["满意", "一般"]})
    t.to_excel(tmp_path / "s.xlsx", index=False)
    got = read_wjx(tmp_path / "s.xlsx", {"序号": "respondent_id"}, codebook=codebook)
    assert got["respondent_id"].tolist() == ["1", "2"] and got["grid_sat"].tolist() == ["4", "3"]
    assert got["submitted"].tolist() == ["2017-06-03T08:03:00", "2017-06-03T09:10:00"]
    assert "序号" not in read_wjx(tmp_path / "s.xlsx", codebook=codebook).columns


def test_an_unknown_multiple_choice_option_is_named_in_the_quarantine(tmp_path, study):
    t = pd.read_excel(HERE / "wjx_text.xlsx", dtype=object)
    q = "13、过去12个月，您参加过以下哪些？[多选题]"
    t.loc[0, q], t.loc[1, q] = "志愿服务┋广场舞", "13812345678"
    t.to_excel(tmp_path / "u.xlsx", index=False)
    report = _validated(read_wjx(tmp_path / "u.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI), study)
    assert report.n_rows == 48 == report.n_valid + report.n_quarantined
    p = report.problems[report.problems["rule"] == "multiple_choice"].set_index("row")["message"]
    assert "'广场舞'" in p[2] and "add it to the map" in p[2]
    assert "13812345678" not in p[3] and "11 digits" in p[3]


def test_a_fill_in_column_beside_the_text_column_is_not_read_as_the_answer(tmp_path, study):
    # some text downloads put the 其他 fill-in into its own bracketed column "13、(其他)"
    t = pd.read_excel(HERE / "wjx_text.xlsx", dtype=object)
    q = "13、过去12个月，您参加过以下哪些？[多选题]"
    t.insert(t.columns.get_loc(q) + 1, "13、(其他)", t[q].map(lambda v: "下棋" if "其他" in str(v) else "(跳过)"))
    t.to_excel(tmp_path / "f.xlsx", index=False)
    raw = read_wjx(tmp_path / "f.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI)
    assert "13、(其他)" in raw.attrs["unmapped"] and "下棋" not in raw.to_string()
    _check_against_truth(_validated(raw, study), "quarantine_text")
