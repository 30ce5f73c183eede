"""Write the 问卷星 downloads used by tests/test_wjx.py, and the truth they were generated from.

One small questionnaire (the Dongying codebook's questions, as an evaluator would set them up on
问卷星), answered by 48 made-up respondents (seed 20170603), downloaded the ways 问卷星 offers:

* ``wjx_text.xlsx``   -- "按文本下载": option texts; multiple choice joined by "┋"; matrix rows as
  "11、(row text)"; skipped "(跳过)"; "其他〖...〗"; "1-2次" typed with an ASCII hyphen (the codebook
  has "1–2次"); ages partly in full-width digits ("７９"); option texts with stray spaces.
* ``wjx_number.xlsx`` -- "按选项序号下载": option numbers in questionnaire order (WHO-5 and agreement
  listed from the top: 所有时间 = 1, 非常同意 = 1); one 0/1 column per multiple-choice option
  "第13题(志愿服务)"; matrix rows as "11(row text)"; skipped -3 (-2: not shown).
* ``wjx_text.csv``    -- the text download as CSV in GBK (Excel's 中文 default), skipped "(空)".
* ``truth.csv``       -- per 序号 the codes every valid row must carry, and the rule of the rows
  that must be quarantined; ``fieldwork.csv`` -- respondent_id, psu, base_weight (for add_design).

The layout follows 问卷星's downloads: 序号, 提交答卷时间 ("2017/6/3 10:21:07"), 所用时间 ("125秒"),
来源, 来源详情, 来自IP ("112.224.1.5(山东-东营)"), then "N、question text" headers.
Run ``python tests/data/exports/wjx/make_fixtures.py`` to rewrite the files (deterministic).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20170603
N = 48

COMMUNITIES = [("anning", "安宁社区"), ("shenghong", "胜宏社区"), ("wenyuan", "文苑社区")]
SEX = [(1, "男"), (2, "女")]
# questionnaire order (as listed on 问卷星) -> codebook code
WHO5 = [("所有时间", 5), ("大部分时间", 4), ("一半以上时间", 3), ("一半以下时间", 2), ("偶尔", 1), ("从未", 0)]
AGREE = [("非常同意", 5), ("同意", 4), ("一般", 3), ("不同意", 2), ("非常不同意", 1)]
FREQ = [("没有参加", 0), ("1-2次", 1), ("3-5次", 2), ("6-11次", 3), ("每月至少一次", 4)]  # ASCII hyphens
SAT = [("非常不满意", 1), ("不满意", 2), ("一般", 3), ("满意", 4), ("非常满意", 5), ("不知道", 97)]
MULTI = [("社区组织的活动", "part_any"), ("志愿服务", "vol_any"), ("社区社会组织或兴趣团队", "selforg"),
         ("其他", ""), ("以上都没有", None)]
WHO5_TEXT = ["过去两周里，我感到快乐、心情舒畅", "过去两周里，我感到平静和放松", "过去两周里，我感到充满活力、精力充沛",
             "过去两周里，我醒来时感到神清气爽、休息得很好", "过去两周里，我的日常生活中充满了让我感兴趣的事情"]
MATRIX = [("bscs_3", "我觉得自己是本社区的一员"), ("bscs_4", "我归属于本社区")]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _respondents(rng) -> pd.DataFrame:
    rows = []
    for i in range(N):
        cid, cname = COMMUNITIES[i % 3]
        multi = rng.random(4) < 0.45  # activity, volunteering, group, other
        none = not multi.any()
        rows.append({
            "seq": i + 1, "respondent_id": f"{cid}-R{i + 1:03d}", "household_id": f"{cid}-H{i + 1:03d}", "community_id": cid, "community_zh": cname,
            "sex": int(rng.integers(2)), "age": int(rng.integers(18, 86)),
            **{f"who5_{k}": int(rng.integers(6)) for k in range(1, 6)},
            **{name: int(rng.integers(5)) for name, _ in MATRIX},
            "part_freq": int(rng.integers(5)), "multi": multi, "none": none,
            "grid_sat": None if rng.random() < 0.1 else int(rng.integers(6)),
        })
    return pd.DataFrame(rows)


def _meta(r, i) -> dict:
    t = pd.Timestamp("2017-06-03 08:00:00") + pd.Timedelta(minutes=37 * i + 3, seconds=(i * 13) % 60)
    return {"序号": r.seq, "提交答卷时间": f"{t.year}/{t.month}/{t.day} {t.hour}:{t.minute:02d}:{t.second:02d}",
            "所用时间": f"{90 + (i * 29) % 400}秒", "来源": ["手机提交", "微信", "链接"][i % 3],
            "来源详情": "直接访问" if i % 3 == 2 else "", "来自IP": f"112.224.{i % 7}.{5 + i}(山东-东营)"}


def _text_row(r, i, skipped: str) -> dict:
    row = _meta(r, i)
    age = str(r.age).translate(FULL_WIDTH) if i % 5 == 0 else r.age
    row.update({"1、受访者编号：": r.respondent_id, "2、您所在的社区：": r.community_zh,
                "3、您的性别：": SEX[r.sex][1], "4、您的年龄：": age})
    for k, q in enumerate(WHO5_TEXT, start=1):
        text = WHO5[r[f"who5_{k}"]][0]
        row[f"{4 + k}、{q}："] = text.replace("以上", "以上 ") if i % 7 == 1 else text  # a stray space
    row["10、户编号："] = r.household_id
    for name, item in MATRIX:
        row[f"11、({item})"] = AGREE[r[name]][0]
    row["12、过去12个月，您参加社区活动的次数："] = FREQ[r.part_freq][0]
    ticked = [MULTI[k][0] + ("〖下棋〗" if k == 3 else "") for k in range(4) if r.multi[k]]
    row["13、过去12个月，您参加过以下哪些？[多选题]"] = "┋".join(ticked) if ticked else "以上都没有"
    row["14、您对网格员的工作满意吗？"] = skipped if pd.isna(r.grid_sat) else SAT[int(r.grid_sat)][0]
    return row


def _number_row(r, i) -> dict:
    row = _meta(r, i)
    row.update({"1、受访者编号：": r.respondent_id, "2、您所在的社区：": i % 3 + 1,
                "3、您的性别：": r.sex + 1, "4、您的年龄：": r.age})
    for k, q in enumerate(WHO5_TEXT, start=1):
        row[f"{4 + k}、{q}："] = r[f"who5_{k}"] + 1
    row["10、户编号："] = r.household_id
    for name, item in MATRIX:
        row[f"11({item})"] = r[name] + 1
    row["12、过去12个月，您参加社区活动的次数："] = r.part_freq + 1
    for k, (opt, _) in enumerate(MULTI):
        row[f"第13题({opt})"] = int(r.none) if k == 4 else int(r.multi[k])
    row["14、您对网格员的工作满意吗？"] = (-3 if i % 2 else -2) if pd.isna(r.grid_sat) else int(r.grid_sat) + 1
    return row


def truth(resp: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"序号": resp["seq"], "respondent_id": resp["respondent_id"],
                        "community_id": resp["community_id"], "sex": [SEX[s][0] for s in resp["sex"]],
                        "age": resp["age"]})
    for k in range(1, 6):
        out[f"who5_{k}"] = [WHO5[v][1] for v in resp[f"who5_{k}"]]
    for name, _ in MATRIX:
        out[name] = [AGREE[v][1] for v in resp[name]]
    out["part_freq"] = [FREQ[v][1] for v in resp["part_freq"]]
    for k, name in enumerate(["part_any", "vol_any", "selforg"]):
        out[name] = [int(m[k]) for m in resp["multi"]]
    out["grid_sat"] = [np.nan if v is None or pd.isna(v) else SAT[int(v)][1] for v in resp["grid_sat"]]
    out["quarantine_text"] = ""
    out["quarantine_number"] = ""
    return out


def spoil(text: pd.DataFrame, number: pd.DataFrame, tr: pd.DataFrame) -> None:
    """Cells a real download has: an answer that is no option, 'none' ticked with another option,
    an option number the questionnaire does not have. Each row is expected in quarantine."""
    q1 = "5、" + WHO5_TEXT[0] + "："
    text.loc[3, q1] = "挺好的"
    tr.loc[3, "quarantine_text"] = "not_numeric"
    text.loc[8, "13、过去12个月，您参加过以下哪些？[多选题]"] = "志愿服务┋以上都没有"
    number.loc[8, "第13题(以上都没有)"] = 1
    number.loc[8, "第13题(志愿服务)"] = 1
    tr.loc[8, ["quarantine_text", "quarantine_number"]] = "multiple_choice"
    number.loc[12, "14、您对网格员的工作满意吗？"] = 9  # the questionnaire has 6 options
    tr.loc[12, "quarantine_number"] = "not_numeric"


def main() -> None:
    rng = np.random.default_rng(SEED)
    resp = _respondents(rng)
    text = pd.DataFrame([_text_row(r, i, "(跳过)") for i, r in resp.iterrows()])
    text_csv = pd.DataFrame([_text_row(r, i, "(空)") for i, r in resp.iterrows()])
    number = pd.DataFrame([_number_row(r, i) for i, r in resp.iterrows()])
    tr = truth(resp)
    spoil(text, number, tr)
    text_csv.loc[3] = text.loc[3]
    text_csv.loc[8] = text.loc[8]
    text.to_excel(HERE / "wjx_text.xlsx", index=False)
    number.to_excel(HERE / "wjx_number.xlsx", index=False)
    text_csv.to_csv(HERE / "wjx_text.csv", index=False, encoding="gbk")
    tr.to_csv(HERE / "truth.csv", index=False)
    pd.DataFrame({"respondent_id": resp["respondent_id"],
                  "psu": [f"{c}-P{(i % 4) + 1:02d}" for i, c in enumerate(resp["community_id"])],
                  "base_weight": [round(20 + (i * 7) % 13 + 0.5, 2) for i in range(N)]}).to_csv(
        HERE / "fieldwork.csv", index=False)


if __name__ == "__main__":
    main()
