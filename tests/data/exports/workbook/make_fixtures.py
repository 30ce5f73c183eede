"""Write the hand-typed workbook of tests/test_workbook.py from rows of the shipped survey (the truth).

Run from the repository root: ``.venv/bin/python tests/data/exports/workbook/make_fixtures.py``.
Deterministic. What a community worker's workbook looks like:

* sheet 1 "第一批": a title merged across the table in row 1 ("明月社区居民调查（第一批）"), a
  "填表人：…… 日期：……" line in row 2, a blank row 3, the header in row 4 with the codebook's Chinese
  question texts (some with full-width brackets and spaces), answers typed as text -- 男/女, WHO-5
  and 邻里信任 labels, participation frequency with an ASCII hyphen ("1-2次" for the codebook's
  "1–2次"), education "高中/中专" -- and the community name merged down all rows of the batch;
* sheet 2 "第二批": the same header (no title), more respondents;
* sheet 3 "说明": two lines of instructions (a different header: not data).

``truth_ids.csv`` lists the respondents (all from the 2017 wave).
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
COLUMNS = ["respondent_id", "household_id", "community_id", "wave", "stratum", "psu", "base_weight", "sex", "age",
           "age_group", "role", "education", "who5_1", "who5_2", "trust_nb", "part_freq"]


def truth():
    sys.path.insert(0, str(ROOT))
    from evalkit.datasets import DONGYING
    from evalkit.io.read import read_survey

    raw = read_survey(DONGYING / "survey.csv")
    rows = raw[(raw["wave"] == "2017") & (raw["community_id"] == "mingyue")]
    ok = rows[COLUMNS[7:]].notna().all(axis=1)
    for c in ("education", "who5_1", "who5_2", "trust_nb", "part_freq"):
        ok &= ~rows[c].isin(["97", "98", "99"])
    return rows[ok].iloc[::9].head(18)


def typed(t, codebook):
    """The rows as a worker types them: labels for coded answers, the community by its name."""
    out = []
    for _, r in t.iterrows():
        row = []
        for c in COLUMNS:
            v = r[c]
            var = codebook.variables[c]
            if c == "community_id":
                v = "明月社区"
            elif var.codes:
                v = var.codes[int(v)].zh.replace("–", "-")   # "1–2次" typed "1-2次"
            elif c in ("age", "wave"):
                v = int(v)
            elif c == "base_weight":
                v = float(v)
            row.append(v)
        out.append(row)
    return out


def main() -> None:
    import openpyxl
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from evalkit.datasets import dongying

    cb = dongying().codebook
    t = truth()
    t[["respondent_id"]].to_csv(HERE / "truth_ids.csv", index=False)
    header = [cb.variables[c].label.zh for c in COLUMNS]
    header[7] = "性 别"                      # a space typed into the header
    header[0] = "respondent_id"             # and some columns named by their codebook names
    header[1] = "household_id"
    rows = typed(t, cb)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "第一批"
    ws.append(["明月社区居民调查（第一批）"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(COLUMNS))
    ws.append(["填表人：社区工作者", None, None, "日期：2017年6月"])
    ws.append([])
    ws.append(header)
    first = rows[:10]
    for r in first:
        ws.append(r)
    c = COLUMNS.index("community_id") + 1
    for i in range(1, len(first)):                # the community typed once, merged down
        ws.cell(row=5 + i, column=c).value = None
    ws.merge_cells(start_row=5, start_column=c, end_row=4 + len(first), end_column=c)
    ws2 = wb.create_sheet("第二批")
    ws2.append(header)
    for r in rows[10:]:
        ws2.append(r)
    ws3 = wb.create_sheet("说明")
    ws3.append(["本表由社区工作者录入"])
    ws3.append(["如有疑问请联系街道办"])
    wb.save(HERE / "handtyped.xlsx")
    pd.DataFrame([header] + rows[:10]).to_csv(HERE / "handtyped_title.csv", index=False, header=False)
    with open(HERE / "handtyped_title.csv", "r+", encoding="utf-8") as fh:
        body = fh.read()
        fh.seek(0)
        fh.write("明月社区居民调查（第一批）" + "," * (len(COLUMNS) - 1) + "\n" + body)


if __name__ == "__main__":
    main()
