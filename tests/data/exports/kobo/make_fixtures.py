"""Write the KoboToolbox fixtures of tests/test_kobo.py from the shipped survey (the truth).

Run from the repository root: ``.venv/bin/python tests/data/exports/kobo/make_fixtures.py``.
Deterministic (every 15th eligible row of two communities' 2017 wave; no randomness).

The layouts follow what KoboToolbox writes (kpi's formpack exporter, "Download data"):
``kobo_xml.csv``   CSV, ";"-separated, "XML values and headers", group separator "/", select_multiple
                   as the space-separated column AND one 0/1 column per choice, metadata columns
                   (start, end, deviceid, _id, _uuid, _submission_time, _validation_status, _index ...)
``kobo_labels.xlsx`` XLSX, "Labels" (question and choice labels), headers without groups,
                   select_multiple as both forms, and a second sheet with a repeat group
                   (_index, _parent_table_name, _parent_index, _submission__uuid ...)
``kobo_odk.csv``   CSV, ","-separated, group separator "-" (as ODK Central writes), select_multiple as
                   0/1 columns only ("details")
``form.xlsx``      the XLSForm: survey + choices; sex choices named m/f, WHO-5 choices named 1..6 in
                   the order 所有时间 -> 从未 (so choice name "1" is codebook code 5), 不知道 named dk
Injected (each file): one row whose age box holds a phone number, one row ticking "none" together
with another choice; both must be quarantined, every other row must carry the shipped codes.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
WHO5 = {"1": 5, "2": 4, "3": 3, "4": 2, "5": 1, "6": 0}          # choice name -> codebook code
WHO5_LABELS = {5: "所有时间", 4: "大部分时间", 3: "一半以上时间", 2: "一半以下时间", 1: "偶尔", 0: "从未"}
ACTS = {"act_club": "part_any", "act_vol": "vol_any", "act_org": "selforg"}
ACT_LABELS = {"act_club": "社区活动", "act_vol": "志愿服务", "act_org": "社区社会组织", "none": "以上都没有"}
SEX = {"1": "m", "2": "f"}
FIELDS = ["respondent_id", "household_id", "community_id", "wave", "stratum", "psu", "base_weight", "sex",
          "age", "age_group", "role", "residence_years"]
GROUP = {**{f: "intro" for f in FIELDS[:7]}, **{f: "demo" for f in FIELDS[7:]},
         **{f"who5_{i}": "wellbeing" for i in range(1, 6)}}
PHONE_ROW, NONE_ROW = 3, 6   # positions (0-based) of the injected rows


def truth() -> pd.DataFrame:
    """The shipped rows the fixtures are written from (as exported: text)."""
    import sys

    sys.path.insert(0, str(ROOT))
    from evalkit.datasets import DONGYING
    from evalkit.io.read import read_survey

    raw = read_survey(DONGYING / "survey.csv")
    ok = raw["part_any"].isin(["0", "1"]) & raw["vol_any"].isin(["0", "1"]) & raw["selforg"].isin(["0", "1"])
    ok &= raw["who5_1"].notna() & raw["residence_years"].notna()
    rows = raw[ok & (raw["wave"] == "2017") & raw["community_id"].isin(["anning", "mingyue"])]
    return rows.iloc[::15].head(24)


def _acts(row) -> list[str]:
    return [c for c, item in ACTS.items() if row[item] == "1"] or ["none"]


def xml_frame(t: pd.DataFrame, sep: str = "/", summary: bool = True) -> pd.DataFrame:
    out = {"start": [f"2017-06-{1 + i % 9:02d}T09:{i % 60:02d}:00.000+08:00" for i in range(len(t))],
           "end": [f"2017-06-{1 + i % 9:02d}T09:{i % 60:02d}:00.000+08:00" for i in range(len(t))],
           "today": ["2017-06-01"] * len(t), "deviceid": [f"collect:{i:016x}" for i in range(len(t))],
           "username": ["enumerator1"] * len(t)}
    for c in FIELDS + [f"who5_{i}" for i in range(1, 6)]:
        v = ["" if pd.isna(x) else x for x in t[c]]
        if c == "sex":
            v = [SEX.get(x, x) for x in v]
        elif c.startswith("who5"):
            inv = {str(code): name for name, code in WHO5.items()}
            v = [inv.get(x, "dk" if x == "97" else x) for x in v]
        out[f"{GROUP[c]}{sep}{c}"] = v
    acts = [_acts(r) for _, r in t.iterrows()]
    acts[NONE_ROW] = ["act_club", "none"]
    if summary:
        out[f"participation{sep}activities"] = [" ".join(a) for a in acts]
    for c in list(ACTS) + ["none"]:
        out[f"participation{sep}activities{sep}{c}"] = ["1" if c in a else "0" for a in acts]
    out[f"demo{sep}age"][PHONE_ROW] = "138 1234 5678"
    out.update({"_id": [100 + i for i in range(len(t))],
                "_uuid": [str(uuid.UUID(int=(i + 1) * 0x1381234567890123456789)) for i in range(len(t))],
                "_submission_time": [f"2017-06-{1 + i % 9:02d}T09:{i % 60:02d}:30" for i in range(len(t))],
                "_validation_status": [""] * len(t), "_notes": [""] * len(t), "_status": ["submitted_via_web"] * len(t),
                "_submitted_by": [""] * len(t), "__version__": ["vQ3x8"] * len(t), "_tags": [""] * len(t),
                "_index": list(range(1, len(t) + 1))})
    return pd.DataFrame(out)


def labels_frame(t: pd.DataFrame, codebook, registry) -> pd.DataFrame:
    names = dict(zip(registry["community_id"], registry["name_zh"]))
    out = {}
    for c in FIELDS + [f"who5_{i}" for i in range(1, 6)]:
        var = codebook.variables[c]
        v = ["" if pd.isna(x) else x for x in t[c]]
        if c == "community_id":
            v = [names[x] for x in v]
        elif var.codes:
            v = [var.codes[int(x)].zh if x.isdigit() and int(x) in var.codes else ("不知道" if x == "97" else x)
                 for x in v]
        out[var.label.zh] = v
    acts = [_acts(r) for _, r in t.iterrows()]
    acts[NONE_ROW] = ["act_club", "none"]
    q = "过去12个月您参加过哪些？"
    out[q] = [" ".join(ACT_LABELS[a] for a in x) for x in acts]
    for c in list(ACTS) + ["none"]:
        out[f"{q}/{ACT_LABELS[c]}"] = ["1" if c in a else "0" for a in acts]
    out[codebook.variables["age"].label.zh][PHONE_ROW] = "13812345678"
    out["_id"] = [100 + i for i in range(len(t))]
    out["_uuid"] = [str(uuid.UUID(int=(i + 7) * 0x1391234567890123)) for i in range(len(t))]
    out["_submission_time"] = [f"2017-06-{1 + i % 9:02d}T10:00:00" for i in range(len(t))]
    out["_index"] = list(range(1, len(t) + 1))
    return pd.DataFrame(out)


def xlsform(codebook) -> tuple[pd.DataFrame, pd.DataFrame]:
    survey = [("start", "start", ""), ("end", "end", ""), ("deviceid", "deviceid", ""),
              ("begin_group", "intro", "")]
    for c in FIELDS:
        typ = {"sex": "select_one sex"}.get(c, "integer" if c in ("age", "residence_years", "wave") else "text")
        if c == "age":
            survey.append(("end_group", "", ""))
            survey.append(("begin_group", "demo", ""))
        survey.append((typ, c, codebook.variables[c].label.zh))
    survey += [("end_group", "", ""), ("begin_group", "wellbeing", "")]
    survey += [("select_one who5", f"who5_{i}", codebook.variables[f"who5_{i}"].label.zh) for i in range(1, 6)]
    survey += [("end_group", "", ""), ("begin_group", "participation", ""),
               ("select_multiple acts", "activities", "过去12个月您参加过哪些？"), ("end_group", "", "")]
    choices = [("sex", "m", "男"), ("sex", "f", "女")]
    choices += [("who5", name, WHO5_LABELS[code]) for name, code in WHO5.items()] + [("who5", "dk", "不知道")]
    choices += [("acts", name, lab) for name, lab in ACT_LABELS.items()]
    return (pd.DataFrame(survey, columns=["type", "name", "label::Chinese (zh)"]),
            pd.DataFrame(choices, columns=["list_name", "name", "label::Chinese (zh)"]))


def main() -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from evalkit.datasets import dongying

    study = dongying()
    t = truth()
    t[["respondent_id"]].to_csv(HERE / "truth_ids.csv", index=False)
    xml_frame(t).to_csv(HERE / "kobo_xml.csv", sep=";", index=False)
    xml_frame(t, sep="-", summary=False).drop(columns=["_validation_status", "_notes", "_status", "_tags"]) \
        .to_csv(HERE / "kobo_odk.csv", index=False)
    members = pd.DataFrame({"member_age": [30 + i for i in range(10)], "member_sex": ["男", "女"] * 5,
                            "_index": range(1, 11), "_parent_table_name": ["survey"] * 10,
                            "_parent_index": [1 + i // 2 for i in range(10)],
                            "_submission__uuid": ["x"] * 10})
    with pd.ExcelWriter(HERE / "kobo_labels.xlsx") as xw:
        labels_frame(t, study.codebook, study.registry).to_excel(xw, sheet_name="社区调查", index=False)
        members.to_excel(xw, sheet_name="household_members", index=False)
    survey, choices = xlsform(study.codebook)
    with pd.ExcelWriter(HERE / "form.xlsx") as xw:
        survey.to_excel(xw, sheet_name="survey", index=False)
        choices.to_excel(xw, sheet_name="choices", index=False)


if __name__ == "__main__":
    main()
