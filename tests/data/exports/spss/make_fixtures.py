"""Write the SPSS fixture of tests/test_spss.py from rows of the shipped survey (the truth).

Run from the repository root: ``.venv/bin/python tests/data/exports/spss/make_fixtures.py``.
Deterministic. ``survey.sav`` codes the way SPSS users do: community as numbers labelled with the
community's Chinese name, sex 0/1 = 男/女, WHO-5 numbered 1..6 from 所有时间 to 从未 (only the labels
tell), role and age group as labelled numbers, 9 = 拒绝回答 declared user-missing on WHO-5 item 1,
-8 = 不知道 inside a missing range on item 2, residence years with real 9s (first three rows), and a
phone number typed into the age box (row 7). Variable names are not the codebook's: the variable
labels are its question texts. ``truth_ids.csv`` lists the respondents (2016 wave), in file order.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
WHO5_NAMES = {5: 1, 4: 2, 3: 3, 2: 4, 1: 5, 0: 6}     # codebook code -> SPSS number
WHO5_LABELS = {1: "所有时间", 2: "大部分时间", 3: "一半以上时间", 4: "一半以下时间", 5: "偶尔", 6: "从未",
               9: "拒绝回答", -8: "不知道"}
ROLES = {"adult": 1, "elderly": 2, "child": 3}
GROUPS = {"8-17": 1, "18-39": 2, "40-59": 3, "60+": 4}
REFUSED_ROW, DONT_KNOW_ROW, PHONE_ROW = 3, 4, 5   # 0-based positions


def truth(survey_raw: pd.DataFrame) -> pd.DataFrame:
    rows = survey_raw[(survey_raw["wave"] == "2016") & survey_raw["community_id"].isin(["mingyue", "anning"])]
    rows = rows[rows["who5_1"].isin(list("012345")) & rows["who5_2"].isin(list("012345"))]
    nine = rows[rows["residence_years"] == "9"].head(3)
    return pd.concat([nine, rows.drop(nine.index).iloc[::20].head(27)])


def sav_frame(t: pd.DataFrame, study) -> tuple[pd.DataFrame, dict]:
    ids = {cid: i + 1 for i, cid in enumerate(study.registry["community_id"])}
    names = dict(zip(study.registry["community_id"], study.registry["name_zh"]))
    f = lambda c: pd.to_numeric(t[c], errors="coerce").to_numpy(dtype=float)  # noqa: E731
    df = pd.DataFrame({
        "id": t["respondent_id"].to_numpy(), "hh": t["household_id"].to_numpy(),
        "comm": [float(ids[c]) for c in t["community_id"]], "year": f("wave"),
        "stratum": t["stratum"].to_numpy(), "psu": t["psu"].to_numpy(), "w": f("base_weight"),
        "q1": f("sex") - 1, "q2": f("age"), "agegrp": [float(GROUPS[g]) for g in t["age_group"]],
        "type": [float(ROLES[r]) for r in t["role"]], "q3": f("residence_years"),
        "wb1": [float(WHO5_NAMES[int(v)]) for v in t["who5_1"]],
        "wb2": [float(WHO5_NAMES[int(v)]) for v in t["who5_2"]],
    })
    df.loc[REFUSED_ROW, "wb1"] = 9.0
    df.loc[DONT_KNOW_ROW, "wb2"] = -8.0
    df.loc[PHONE_ROW, "q2"] = 13812345678.0
    cb = study.codebook.variables
    meta = dict(
        column_labels={"id": "受访者编号", "hh": "户编号", "comm": "社区", "year": "调查年份", "stratum": "抽样层",
                       "psu": "初级抽样单元", "w": "基础权数", "q1": "性别", "q2": "年龄", "agegrp": "年龄组",
                       "type": "受访者类型", "q3": "本社区居住年数", "wb1": cb["who5_1"].label.zh,
                       "wb2": cb["who5_2"].label.zh},
        variable_value_labels={"comm": {float(i): names[c] for c, i in ids.items()},
                               "q1": {0.0: "男", 1.0: "女"}, "wb1": WHO5_LABELS, "wb2": WHO5_LABELS,
                               "type": {float(v): k for k, v in ROLES.items()},
                               "agegrp": {float(v): k for k, v in GROUPS.items()}},
        missing_ranges={"wb1": [9.0], "wb2": [{"lo": -9.0, "hi": -1.0}]},
    )
    return df, meta


def main() -> None:
    import pyreadstat

    sys.path.insert(0, str(ROOT))
    from evalkit.datasets import DONGYING, dongying
    from evalkit.io.read import read_survey

    study = dongying()
    t = truth(read_survey(DONGYING / "survey.csv"))
    t[["respondent_id"]].to_csv(HERE / "truth_ids.csv", index=False)
    df, meta = sav_frame(t, study)
    pyreadstat.write_sav(df, str(HERE / "survey.sav"), **meta)


if __name__ == "__main__":
    main()
