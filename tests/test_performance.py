"""Performance evaluation (issue 13): hostile record sheets, and outputs, costs, scores and grades
against small cases computed by hand (the expected numbers are worked out in the comments)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest
from scipy import stats

from evalkit.errors import CodebookError, EvalkitError, PersonalDataError, ReadError
from evalkit.performance import (against_targets, budget_execution, compare_rounds, cost_per_effect, evaluate_performance,
                                 fieller_ratio, grade_of, grade_uncertainty, load_records_spec, load_scorecard,
                                 parse_date, project_outputs, read_records, reweight, score_sheet)
from evalkit.performance.scorecard import rule_points

HEAD = ["服务日期", "社区", "服务类型", "活动名称", "服务对象编号", "服务人次", "时长（小时）", "支出（元）"]
REGISTRY = pd.DataFrame({"community_id": ["mingyue", "anning"], "name_zh": ["明月社区", "安宁社区"],
                         "name_pinyin": ["Mingyue", "Anning"], "pop_male_60plus": [100, 50],
                         "pop_female_60plus": [150, 50], "pop_male_18_39": [400, 300], "pop_female_18_39": [400, 300]})


def _hostile_xlsx(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["明月社区互助养老项目服务台账（2017年）"])          # row 1: title, merged
    ws.merge_cells("A1:H1")
    ws.append(HEAD)                                                  # row 2: headings
    ws.append([dt.datetime(2017, 6, 3), "明月社区", "小组", "互助小组", "m-1、m-2", 2, 2, "300"])   # 3
    ws.append(["2017.6.10", None, "个案", "探访", "m-3；m-3", None, 1.5, 0])                        # 4: id twice
    ws.append(["2017年6月17日", None, "社区活动", "重阳节", None, 120, 3, "1,200.50"])              # 5
    ws.merge_cells("B3:B5")                                          # community merged over rows 3-5
    ws.append([42900, "明月", "小组", "互助小组", "m-1、m-2", 2, 2, 300])                           # 6: serial date
    ws.append([42900, "明月", "小组", "互助小组", "m-1、m-2", 2, 2, 300])                           # 7: duplicate of 6
    ws.append(["六月三十", "明月", "讲座", None, None, 10, 2, 50])                                 # 8: bad date, type
    ws.append(["2017-07-01", "明月", "小组", "互助小组", "m-1、m-2、m-4", 2, 2, 100])               # 9: count < ids
    ws.append(["2017-07-02", "明月", "小组", "互助小组", "m-5、13812345678", 2, 2, 100])            # 10: a phone
    ws.append([])                                                    # 11: blank
    ws.append(["2017-07-20", "明月", None, "社工薪酬", None, None, None, 5000])                     # 12: spending line
    ws.append(["合计", None, None, None, None, 138, 14.5, 7350.5])                                # 13: totals
    wb.save(path)
    return path


def test_hostile_sheet(tmp_path):
    rep = read_records(_hostile_xlsx(tmp_path / "ledger.xlsx"), registry=REGISTRY)
    assert rep.rows_in == 10 == len(rep.valid) + len(rep.quarantined)   # the 11 rows 3-13 less the blank row 11
    assert list(rep.valid.index) == [3, 4, 5, 6, 12]
    rules = rep.quarantined["rule"].to_dict()
    assert rules == {7: "duplicate_row", 8: "date_unreadable", 9: "count_below_ids", 10: "personal_data",
                     13: "totals_row"}
    v = rep.valid
    assert list(v["date"].dt.date) == [dt.date(2017, 6, 3), dt.date(2017, 6, 10), dt.date(2017, 6, 17),
                                       dt.date(2017, 6, 14), dt.date(2017, 7, 20)]   # 42900 = 2017-06-14
    assert (v["community_id"] == "mingyue").all()                          # merged cells filled, names mapped
    assert v.loc[4, "attendee_ids"] == ("m-3",) and v.loc[4, "attendees"] == 1   # id entered twice, counted once
    assert v.loc[5, "spending"] == 1200.5 and v.loc[5, "attendee_ids"] == ()
    assert v.loc[12, "activity_type"] == "spending"
    assert any("merged cells B3:B5" in n for n in rep.notes) and any("row 4" in n for n in rep.notes)
    msg = " ".join(rep.problems["message"])
    assert "13812345678" not in msg and "13812345678" not in rep.quarantined.to_string()
    assert "row 8, column 服务日期" in msg and "row 7" in msg and "row 6" in msg
    assert "phone" in rep.quarantined.loc[10, "message"] and "digits" in rep.quarantined.loc[10, "message"]


def test_two_heading_rows(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["服务日期", "社区", "服务类型", "参与情况", None, "支出（元）"])
    ws.append([None, None, None, "服务对象编号", "服务人次", None])
    for col in "ABCF":
        ws.merge_cells(f"{col}1:{col}2")
    ws.merge_cells("D1:E1")
    ws.append(["2017-06-03", "明月社区", "小组", "m-1、m-2", 2, 100])
    p = tmp_path / "two.xlsx"
    wb.save(p)
    rep = read_records(p, registry=REGISTRY)
    assert rep.rows_in == 1 and rep.ok and rep.valid.loc[3, "attendee_ids"] == ("m-1", "m-2")
    assert rep.valid.loc[3, "attendees"] == 2 and any("two heading rows" in n for n in rep.notes)


def test_workbook_one_sheet_per_month(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["本台账按月分表填写"])
    for month, rows in (("6月", [["2017-06-03", "明月社区", "个案", "探访", 1023.0, 1]]),
                        ("7月", [["2017-07-03", "明月社区", "个案", "探访", 1023, 1], ["小计", None, None, None, None, 1]])):
        ws = wb.create_sheet(month)
        ws.append(HEAD[:6])
        for r in rows:
            ws.append(r)
    p = tmp_path / "book.xlsx"
    wb.save(p)
    from evalkit.performance.records import read_workbook
    reps = read_workbook(p, registry=REGISTRY)
    assert [r.source for r in reps] == ["book.xlsx[6月]", "book.xlsx[7月]"]
    assert all("skipped: ['说明']" in r.notes[-1] for r in reps)
    # the id 1023 stored once as a float and once as an integer is one person
    assert [r.valid["attendee_ids"].iloc[0] for r in reps] == [("1023",), ("1023",)]
    assert reps[1].quarantined["rule"].tolist() == ["totals_row"]
    assert "book.xlsx[7月], row 3" in reps[1].problems.loc[0, "message"]


def test_outside_contract_period(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text(",".join(HEAD) + "\n2107.6.3,明月社区,个案,探访,m-1,1,1,0\n2017.6.3,明月社区,个案,探访,m-1,1,1,0\n",
                 encoding="utf-8")
    rep = read_records(p, registry=REGISTRY, period=("2017-03-01", "2017-12-31"))
    assert rep.quarantined["rule"].to_dict() == {2: "outside_period"} and list(rep.valid.index) == [3]
    assert rep.problems.loc[0, "value"] == "2107-06-03" and "row 2, column 服务日期" in rep.problems.loc[0, "message"]


def test_csv_gbk_title_and_subtotals(tmp_path):
    text = ("安宁社区服务台账\n" + ",".join(HEAD) + "\n"
            "2017/3/5,安宁社区,培训,骨干培训,a-1、a-2,2,2,800\n"
            "20170306,安宁,志愿服务,楼道清洁,a-2、a-3,2,2,100\n"
            "小计,,,,,4,4,900\n")
    p = tmp_path / "a.csv"
    p.write_bytes(text.encode("gbk"))
    rep = read_records(p, registry=REGISTRY)
    assert rep.rows_in == 3 and len(rep.valid) == 2 and rep.quarantined["rule"].tolist() == ["totals_row"]
    assert list(rep.valid["activity_type"]) == ["training", "volunteer"]


def test_names_in_the_id_list(tmp_path):
    rows = [f"2017-06-0{i + 1},明月社区,小组,互助小组,{ids},2,2,100" for i, ids in enumerate(
        ["王秀英、李桂兰", "张建国、m-2", "刘淑珍、陈志强", "m-1、m-2", "m-3、m-4"])]
    p = tmp_path / "names.csv"
    p.write_text(",".join(HEAD) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(PersonalDataError) as err:
        read_records(p, registry=REGISTRY)
    assert "lists people's names (3 rows" in str(err.value) and "王秀英" not in str(err.value)
    rep = read_records(p, registry=REGISTRY, personal_data="quarantine")
    assert rep.ok and rep.valid["attendee_ids"].map(len).sum() == 0 and "王秀英" not in repr(rep.valid)
    # one stray name among ids: the cell is blanked and its row quarantined
    p.write_text(",".join(HEAD) + "\n" + "\n".join(rows[3:] + [rows[1]]) + "\n", encoding="utf-8")
    rep = read_records(p, registry=REGISTRY)
    assert rep.quarantined["rule"].to_dict() == {4: "personal_data"} and list(rep.valid.index) == [2, 3]
    assert "张建国" not in rep.quarantined.to_string() and "张建国" not in rep.problems.to_string()


def test_tab_separated_and_headings_with_units(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("活动日期\t服务社区\t活动类型\t参与人数（人）\t支出金额（元）\t备注\n"
                 "2017-06-03\t明月社区\t小组\t12\t300\t无\n", encoding="utf-8")
    rep = read_records(p, registry=REGISTRY)
    assert rep.ok and rep.valid.loc[2, "attendees"] == 12 and rep.valid.loc[2, "spending"] == 300
    assert "columns separated by tab" in rep.notes and any("'备注' is not in the records spec" in n for n in rep.notes)


def test_personal_column_refused_then_dropped(tmp_path):
    names = ["王秀英", "李桂兰", "张建国", "刘淑珍", "陈志强"]
    frame = pd.DataFrame({"服务日期": ["2017-06-0%d" % (i + 1) for i in range(5)], "社区": "明月社区",
                          "服务类型": "个案", "服务对象姓名": names, "服务人次": 1})
    p = tmp_path / "names.csv"
    frame.to_csv(p, index=False)
    with pytest.raises(PersonalDataError) as err:
        read_records(p, registry=REGISTRY)
    assert "服务对象姓名" in str(err.value) and not any(n in str(err.value) for n in names)
    assert "read_records" in str(err.value)
    rep = read_records(p, registry=REGISTRY, drop=["服务对象姓名"])
    assert len(rep.valid) == 5


def test_bounded_and_damaged_workbooks(tmp_path):
    from evalkit.io.read import ReadLimits

    good = _hostile_xlsx(tmp_path / "ledger.xlsx")
    with pytest.raises(ReadError, match="max_file_mb"):
        read_records(good, registry=REGISTRY, limits=ReadLimits(max_file_mb=0.001))
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(ReadError):
        read_records(cut, registry=REGISTRY)


def test_unreadable_inputs(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(ReadError, match="no heading row"):
        read_records(p)
    bad = tmp_path / "spec.yaml"
    bad.write_text("version: 1\nactivity_types: {}\nfields: {date: {zh: 日期}}\n", encoding="utf-8")
    with pytest.raises(CodebookError, match="records spec does not follow"):
        load_records_spec(bad)


@pytest.mark.parametrize("value, expected", [
    ("2017年6月3日", dt.date(2017, 6, 3)), ("2017.6.3", dt.date(2017, 6, 3)), ("2017/06/03", dt.date(2017, 6, 3)),
    ("２０１７－６－３", dt.date(2017, 6, 3)), (42889, dt.date(2017, 6, 3)), ("42889", dt.date(2017, 6, 3)),
    ("20170603", dt.date(2017, 6, 3)), (dt.datetime(2017, 6, 3, 9), dt.date(2017, 6, 3)),
    ("2017.2.30", None), ("六月三日", None), (3.5, None), ("", None)])
def test_parse_date(value, expected):
    # Excel serial 42889: 1899-12-30 + 42889 days = 2017-06-03 (Excel shows 2017/6/3 for it)
    assert parse_date(value) == expected


def test_parse_date_without_year():
    assert [parse_date(v, year=2017) for v in ("6月3日", "6.3", "6/3", "2016.6.3", "13月3日")] == [
        dt.date(2017, 6, 3), dt.date(2017, 6, 3), dt.date(2017, 6, 3), dt.date(2016, 6, 3), None]
    assert parse_date("6月3日") is None and parse_date("6.3") is None   # no year known: not guessed


def _records():
    d = pd.Timestamp
    return pd.DataFrame({
        "date": [d("2017-03-01"), d("2017-05-01"), d("2017-08-01"), d("2017-09-01"), d("2017-09-02")],
        "community_id": ["a", "a", "a", "a", "a"],
        "activity_type": ["group", "group", "case", "event", "spending"],
        "attendee_ids": [("p1", "p2"), ("p2", "p3"), ("p1",), (), ()],
        "attendees": [2, 2, 1, 10, None], "hours": [2.0, 2.0, 1.0, 3.0, None],
        "volunteer_hours": [0.0, 0, 0, 6, 0], "spending": [100.0, 100, 0, 500, 200]})


def test_outputs_against_targets_by_hand():
    out = project_outputs(_records())
    r = out.iloc[0]
    # distinct ids {p1, p2, p3}; visits 2 + 2 + 1 + 10; 10 attendances of the event carry no id
    assert (r["group"], r["case"], r["event"], r["activities"]) == (2, 1, 1, 4)
    assert (r["unique_beneficiaries"], r["service_visits"], r["visits_without_ids"]) == (3, 15, 10)
    assert r["spent"] == 900 and r["service_hours"] == 8
    t = pd.DataFrame({"community_id": ["a"] * 3, "output": ["group", "service_visits", "unique_beneficiaries"],
                      "target": [4, 12, 6]})
    done = against_targets(out, t)
    assert done["completion_rate"].tolist() == [0.5, 1.25, 0.5] and done["met"].tolist() == [False, True, False]
    mid = against_targets(out, t, share=0.5)   # half due at mid-term: 2 groups, 6 visits, 3 people
    assert mid["completion_rate"].tolist() == [1.0, 2.5, 1.0]
    with pytest.raises(EvalkitError, match="neither an activity type"):
        against_targets(out, t.assign(output=["groups", "service_visits", "unique_beneficiaries"]))
    contracts = pd.DataFrame({"community_id": ["a"], "project": ["P"], "budget": [1000], "target_group": ["elderly"]})
    reg = pd.DataFrame({"community_id": ["a"], "pop_male_60plus": [10], "pop_female_60plus": [20],
                        "pop_male_18_39": [100], "pop_female_18_39": [100]})
    b = budget_execution(contracts, out, registry=reg).iloc[0]
    # 900 / 1000; 900 / 3 people; 900 / 15 visits; 3 people of 30 aged 60+
    assert (b["execution_rate"], b["cost_per_beneficiary"], b["cost_per_visit"]) == (0.9, 300.0, 60.0)
    assert b["population"] == 30 and b["reach"] == pytest.approx(0.1)


def test_fieller_known_cost_and_brute_force():
    est, lo, hi, ok = fieller_ratio(10000.0, 100.0, den_se=20.0)
    z = stats.norm.ppf(0.975)
    assert ok and est == 100 and lo == pytest.approx(10000 / (100 + z * 20)) and hi == pytest.approx(10000 / (100 - z * 20))
    # uncertain numerator and denominator, t with 12 df: the interval is the set of r whose
    # t statistic for num - r * den = 0 is within the critical value (brute force on a grid)
    num, den, vn, vd, cov, df = 50.0, 4.0, 9.0, 0.64, 0.5, 12
    _, lo, hi, ok = fieller_ratio(num, den, num_se=3.0, den_se=0.8, cov=cov, df=df)
    r = np.linspace(5, 40, 350001)
    inside = r[np.abs(num - r * den) / np.sqrt(vn - 2 * r * cov + r * r * vd) <= stats.t.ppf(0.975, df)]
    assert ok and lo == pytest.approx(inside.min(), abs=1e-3) and hi == pytest.approx(inside.max(), abs=1e-3)
    assert fieller_ratio(1.0, 0.5, den_se=0.5)[3] is False   # denominator not distinguishable from 0


def test_cost_per_effect_cases():
    eff = pd.DataFrame({
        "community_id": ["a", "a", "a", "a"], "target": ["vol", "ucla@elderly", "bscs", "x"],
        "indicator": ["vol", "ucla", "bscs", "x"], "kind": ["proportion", "mean", "mean", "mean"],
        "better": ["higher", "lower", "higher", "higher"], "estimate": [0.1, -0.5, 0.1, -1.0],
        "se": [0.02, 0.1, 0.1, 0.2], "df": [np.inf, np.inf, np.inf, np.inf], "population": [1000, 200, 1000, 10]})
    out = cost_per_effect(eff, pd.DataFrame({"community_id": ["a"], "spent": [10000.0]}))
    z = stats.norm.ppf(0.975)
    # 10000 yuan / (0.1 * 1000 people) = 100 yuan per additional volunteer, interval 10000 / (1000 (0.1 -+ z 0.02))
    assert out.loc[0, "estimate"] == pytest.approx(100) and out.loc[0, "unit"] == "yuan per additional person"
    assert out.loc[0, "ci_low"] == pytest.approx(10000 / (1000 * (0.1 + z * 0.02)))
    assert out.loc[0, "ci_high"] == pytest.approx(10000 / (1000 * (0.1 - z * 0.02)))
    # loneliness down 0.5 points among 200 people aged 60+: 10000 / 100 person-points = 100
    assert out.loc[1, "effect"] == 0.5 and out.loc[1, "estimate"] == pytest.approx(100)
    assert not out.loc[2, "estimable"] and "includes zero" in out.loc[2, "explanation"]
    assert not out.loc[3, "estimable"] and "harmful" in out.loc[3, "explanation"]
    assert out["unit_zh"].tolist() == ["元/每增加一人", "元/（人·分）", "元/（人·分）", "元/（人·分）"]
    assert out["explanation_zh"].isna().tolist() == [True, True, False, False]


def test_rule_points_and_grade_edges():
    assert float(rule_points(0.75, {"type": "linear", "zero": 0.5, "full": 1.0}, 20)) == 10
    assert float(rule_points(1.2, {"type": "linear", "zero": 0.5, "full": 1.0}, 20)) == 20
    rng = {"type": "range", "zero_low": 0.6, "full_low": 0.9, "full_high": 1.0, "zero_high": 1.1}
    # 0.75 is half way from 0.6 to 0.9 -> 5 of 10; 1.05 half way from 1.0 to 1.1 -> 5
    assert rule_points([0.75, 0.95, 1.05, 0.5], rng, 10) == pytest.approx([5, 10, 5, 0])
    sc = load_scorecard()
    fin, civ = sc.band("finance"), sc.band("civil_affairs")
    assert grade_of([89.99, 90.0, 79.99, 80.0, 59.99, 60.0, 100.0, 0.0], fin) == ["良", "优", "中", "良", "差", "中",
                                                                                   "优", "差"]
    assert grade_of([89.99, 90.0, 59.99, 60.0], civ) == ["良好", "优秀", "不合格", "合格"]
    assert grade_of(0.1 + 0.2 + 89.7, fin) == "优"    # 89.99999999999999 is printed (and graded) 90.00
    assert grade_of(np.nan, fin) is None
    assert sc.items["points"].sum() == 100


def _one_item_card(tmp_path, source="survey"):
    p = tmp_path / "card.yaml"
    p.write_text(f"""version: 1
dimensions:
  - key: all
    zh: 全部
    en: all
    items:
      - {{key: only, zh: 唯一, en: only, source: {source}, metric: m, points: 100, rule: {{type: linear, zero: 0, full: 1}}}}
bands:
  b: [{{grade: A, min: 90}}, {{grade: B, min: 80}}, {{grade: C, min: 0}}]
""", encoding="utf-8")
    return load_scorecard(p)


def test_grade_flip_probability_against_normal(tmp_path):
    sc = _one_item_card(tmp_path)
    band = sc.band()
    metrics = pd.DataFrame({"community_id": ["on_edge", "mid", "fixed"], "metric": "m",
                            "value": [0.9, 0.8, 0.85], "se": [0.05, 0.05, 0.0]})
    sheet = score_sheet(metrics, sc)
    g = grade_uncertainty(sheet, sc, band, n_draws=20000, seed=1).set_index("community_id")
    # score 90 -> A; differs when the drawn value < 0.9: P = 0.5
    assert g.loc["on_edge", "grade"] == "A" and g.loc["on_edge", "p_grade_differs"] == pytest.approx(0.5, abs=0.015)
    # score 80 -> B; differs when < 0.8 (0.5) or >= 0.9 (P(z >= 2) = 0.0228)
    assert g.loc["mid", "p_grade_differs"] == pytest.approx(0.5 + stats.norm.sf(2), abs=0.015)
    assert g.loc["fixed", "p_grade_differs"] == 0
    again = grade_uncertainty(sheet, sc, band, n_draws=20000, seed=1)
    assert again["p_grade_differs"].tolist() == g["p_grade_differs"].tolist()   # seeded


def test_scorecard_checks(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("version: 1\ndimensions: []\nbands: {}\n", encoding="utf-8")
    with pytest.raises(CodebookError):
        load_scorecard(p)
    text = (tmp_path / "card.yaml")
    _one_item_card(tmp_path)
    text.write_text(text.read_text(encoding="utf-8").replace("points: 100", "points: 90"), encoding="utf-8")
    with pytest.raises(CodebookError, match="sum to 90"):
        load_scorecard(text)


def test_reweight_by_hand():
    sc = load_scorecard()
    items = sc.items
    # every item at full points except the two outcome items at zero: 100 - 30 = 70 (中)
    sheet = items.assign(community_id="a", value=np.nan, se=np.nan,
                         score=np.where(items["dimension"] == "outcomes", 0.0, items["points"]))
    w = {"outcomes_first": {"management": 10, "outputs": 20, "outcomes": 45, "satisfaction": 15, "finance": 10}}
    out = reweight(sheet, sc, w, sc.band()).set_index("weighting")
    assert out.loc["default", "score"] == 70 and out.loc["default", "grade"] == "中"
    assert out.loc["outcomes_first", "score"] == 55 and out.loc["outcomes_first", "grade"] == "差"
    assert bool(out.loc["outcomes_first", "grade_changed"])
    with pytest.raises(EvalkitError, match="sum to"):
        reweight(sheet, sc, {"x": {**w["outcomes_first"], "finance": 20}}, sc.band())


def test_evaluate_and_rounds_small_case():
    rec = _records()
    contracts = pd.DataFrame({"community_id": ["a", ""], "project": ["P", "评估"], "budget": [1000, 500],
                              "kind": ["service", "evaluation"]})
    targets = pd.DataFrame({"community_id": ["a"] * 2, "output": ["group", "service_visits"], "target": [2, 10]})
    eff = pd.DataFrame({"community_id": ["a"], "target": ["vol"], "indicator": ["vol"], "kind": ["proportion"],
                        "better": ["higher"], "estimate": [0.1], "se": [0.02], "df": [np.inf],
                        "std_effect": [0.3], "std_ci_low": [0.3 - 1.959963984540054 * 0.06],
                        "std_ci_high": [0.3 + 1.959963984540054 * 0.06], "population": [np.nan]})
    sat = pd.DataFrame({"community_id": ["a"], "n_asked": [100], "n_satisfied": [95]})
    rev = pd.DataFrame({"community_id": ["a"] * 3, "item": ["management", "outcomes", "finance"], "rating": [100] * 3})
    fin = evaluate_performance(rec, contracts, targets, effects=eff, satisfaction=sat, reviews=rev,
                               scorecard=None, n_draws=200)
    assert list(fin.projects.columns[:11]) == ["community_id", "budget", "spent", "execution_rate",
                                               "unique_beneficiaries", "service_visits", "cost_per_beneficiary",
                                               "cost_per_visit", "score", "grade", "p_grade_differs"]
    # records item missing (a frame, not sheets), reach missing (no registry): not graded, not scored 0
    assert np.isnan(fin.projects.loc[0, "score"]) and fin.projects.loc[0, "grade"] is None
    assert fin.notes["not_graded"] == {"a": ["reach", "records_valid_share"]} and "not graded" in fin.summary
    mid = evaluate_performance(rec, contracts, targets, effects=eff, satisfaction=sat, reviews=rev, until="2017-06-30",
                               share=0.5, n_draws=200)
    # by June: 2 groups (due 1), 4 visits (due 5), 200 yuan spent
    assert mid.outputs["completion_rate"].tolist() == [2.0, 0.8] and mid.projects.loc[0, "spent"] == 200
    change = compare_rounds(mid, fin)
    assert change.loc[0, "execution_midterm"] == 0.2 and change.loc[0, "execution_final"] == 0.9
    assert change.loc[0, "completion_midterm"] == pytest.approx(0.9)   # mean of min(2.0, 1) and 0.8


def test_cli_refuses_a_folder_without_contracts(tmp_path, capsys):
    from evalkit.cli import main

    assert main(["performance", "--records", str(tmp_path)]) == 2
    assert "needs contracts.csv and targets.csv" in capsys.readouterr().err


def test_default_scorecard_total_by_hand():
    sc = load_scorecard()
    values = {"records_valid_share": 0.9, "review:management": 80, "completion": 0.75, "reach": 0.05,
              "effect_std": 0.15, "review:outcomes": 50, "satisfaction": 0.775, "execution_rate": 0.75,
              "review:finance": 100}
    metrics = pd.DataFrame({"community_id": "a", "metric": list(values), "value": list(values.values())})
    sheet = score_sheet(metrics, sc).set_index("metric")["score"]
    # 5(0.9-0.8)/0.2, 10(80/100), 20(0.75-0.5)/0.5, 5(0.05/0.10), 20(0.15/0.30), 10(50/100),
    # 15(0.775-0.6)/0.35, 10(0.75-0.6)/0.3, 5(100/100)
    expected = {"records_valid_share": 2.5, "review:management": 8, "completion": 10, "reach": 2.5, "effect_std": 10,
                "review:outcomes": 5, "satisfaction": 7.5, "execution_rate": 5, "review:finance": 5}
    assert sheet.to_dict() == pytest.approx(expected)
    from evalkit.performance.scorecard import totals
    t = totals(score_sheet(metrics, sc), sc.band("civil_affairs")).iloc[0]
    assert t["score"] == pytest.approx(55.5) and t["grade"] == "不合格"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzzed_cells_never_crash(tmp_path, seed):
    rng = np.random.default_rng(seed)
    pieces = [None, "", " ", "合计", "小计：", float("nan"), float("inf"), -3, 0, 2.5, 10 ** 12, True, "1e400",
              dt.datetime(2017, 6, 3), "2017-02-30", "2017年13月1日", "明月", "未知社区", "小组", "讲座", "m-1、m-1、",
              "，，；", "=1+1", "<script>x</script>", "１２３", "¥1,200元", "3人次", "2小时", "x" * 300, 42889, -42889]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEAD)
    for _ in range(30):
        ws.append([pieces[i] for i in rng.integers(0, len(pieces), len(HEAD))])
    p = tmp_path / "fuzz.xlsx"
    wb.save(p)
    rep = read_records(p, registry=REGISTRY)
    assert rep.rows_in == len(rep.valid) + len(rep.quarantined)
    assert rep.valid["date"].notna().all() and (rep.valid["community_id"] == "mingyue").all()
    assert rep.problems["message"].str.contains(r"row \d+").all()


def _shipped_as_study(folder):
    """The shipped example as a study folder of one's own (study.yaml, the survey as a table export)."""
    from evalkit.datasets import DONGYING

    (folder / "study.yaml").write_text(
        f"title: test\nsynthetic: true\nseed: 20171\ncodebook: {DONGYING / 'codebook.yaml'}\n"
        f"communities: {DONGYING / 'communities.csv'}\n"
        f"export: {{path: {DONGYING / 'survey.csv'}, kind: table}}\n", encoding="utf-8")
    return folder


def test_report_of_a_study_carries_the_performance_of_its_records_folder(tmp_path, capsys):
    """`evalkit report --study`: a records/ folder beside study.yaml (or --records) gives the report its
    performance evaluation and findings, as `evalkit performance --study` computes it; without one the
    report says so and has none."""
    import shutil

    from evalkit.cli import main
    from evalkit.datasets import DONGYING

    (tmp_path / "study").mkdir()
    study = _shipped_as_study(tmp_path / "study")
    assert main(["report", "--study", str(study), "--out", str(tmp_path / "none")]) == 0
    assert "no service records" in capsys.readouterr().out
    page = (tmp_path / "none" / "bureau_report_zh.html").read_text(encoding="utf-8")
    assert "问题与整改要求" not in page
    shutil.copytree(DONGYING / "records", study / "records")
    assert main(["report", "--study", str(study), "--out", str(tmp_path / "with")]) == 0
    out = capsys.readouterr().out
    assert "rows in" in out or "valid" in out
    page = (tmp_path / "with" / "bureau_report_zh.html").read_text(encoding="utf-8")
    assert "问题与整改要求" in page and "合同指标未完成" in page
    assert main(["report", "--study", str(study), "--records", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "x")]) == 2
