"""Synthetic service records and contracts for the seven Dongying projects (issue 13).

Every number is invented. The seven service projects and the supervision-and-evaluation project
have budgets summing to the round's 1,400,000 yuan; each project's activity log (服务台账) for the
2017 contract year is written as its organisation might keep it — a title row, Chinese headings,
dates typed three ways, an id entered twice in one activity, activities entered twice, a 合计 row;
Mingyue's log is an Excel workbook with merged community cells. Attendees are recorded by
pseudonymous ids: the survey's respondent ids (2017 wave) where the person was surveyed — residents
who told the survey they take part or volunteer are five times as likely to be on the lists — and
``<community>-R<number>`` ids for residents not surveyed; large events record a head count only.

Planted: some targets met, some missed (Xingsheng, the null community, misses its reach targets;
Shenghong runs fewer groups; Yangmiao holds less casework), Shengxing underspends (about 68% of its
budget), every other project spends 92-99%.

Regenerate the shipped files (byte-identical for the same seed)::

    python -m evalkit.datasets.records evalkit/datasets/dongying/records
"""
from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._spreadsheet import formula_safe, write_csv
from .shipped import DONGYING, SEED, data_path, dongying

RECORDS_DIR = "records"
TOTAL_BUDGET = 1_400_000
PERIOD = (dt.date(2017, 3, 1), dt.date(2017, 12, 20))
MIDTERM = dt.date(2017, 7, 31)
HEADINGS = ["服务日期", "社区", "服务类型", "活动名称", "服务对象编号", "服务人次", "时长（小时）", "志愿者人数",
            "志愿服务时长", "支出（元）", "支出科目"]
TYPE_ZH = {"case": "个案", "group": "小组", "event": "社区活动", "volunteer": "志愿服务", "training": "培训"}
TITLES = {"case": ["入户探访", "个案辅导", "个案跟进"], "group": ["兴趣小组", "互助小组", "成长小组"],
          "event": ["节日活动", "主题活动", "社区议事会"], "volunteer": ["志愿服务日", "楼道清洁", "上门帮扶"],
          "training": ["骨干培训", "志愿者培训", "能力建设工作坊"]}
COST = {"case": (50, 150), "group": (200, 600), "event": (1500, 5000), "volunteer": (100, 300), "training": (800, 2000)}
HOURS = {"case": (1.0, 2.0), "group": (1.5, 2.0), "event": (2.0, 4.0), "volunteer": (2.0, 3.0), "training": (2.0, 3.0)}

# project, organisation, target group, budget, annual targets, achievement factors, share spent,
# service users asked / satisfied share, reviewer ratings (management, outcomes, finance)
PROJECTS = {
    "anning": ("安宁社区“家风共建·邻里同行”社区治理项目", "东营市同心社会工作服务中心", "all", 180_000,
               {"case": 20, "group": 24, "event": 12, "volunteer": 20, "training": 6,
                "service_visits": 1500, "unique_beneficiaries": 180},
               {"case": 1.1, "group": 1.0, "event": 1.1, "volunteer": 1.15, "training": 1.0}, 0.97, (80, 0.93), (90, 86, 92)),
    "shenghong": ("胜宏社区楼道长与网格员赋能项目", "东营市众合社会工作服务中心", "all", 170_000,
                  {"case": 10, "group": 30, "event": 10, "volunteer": 24, "training": 10,
                   "service_visits": 1500, "unique_beneficiaries": 220},
                  {"case": 1.0, "group": 0.7, "event": 1.0, "volunteer": 1.0, "training": 1.1}, 0.95, (80, 0.90), (85, 84, 88)),
    "xingsheng": ("兴盛社区邻里互助项目", "东营市和善社会工作服务中心", "all", 170_000,
                  {"case": 20, "group": 24, "event": 12, "volunteer": 20, "training": 6,
                   "service_visits": 2000, "unique_beneficiaries": 300},
                  {"case": 0.8, "group": 0.75, "event": 0.9, "volunteer": 0.7, "training": 0.85}, 0.92, (80, 0.84), (78, 70, 85)),
    "mingyue": ("明月社区互助养老项目", "东营市乐龄社会工作服务中心", "elderly", 200_000,
                {"case": 40, "group": 36, "event": 10, "volunteer": 30, "training": 6,
                 "service_visits": 1600, "unique_beneficiaries": 180},
                {"case": 1.05, "group": 1.05, "event": 1.0, "volunteer": 1.1, "training": 1.0}, 0.99, (100, 0.95), (92, 90, 94)),
    "shengxing": ("胜兴社区“幸福汇·微创投”自组织培育项目", "东营市启航社会工作服务中心", "all", 180_000,
                  {"case": 10, "group": 24, "event": 10, "volunteer": 20, "training": 12,
                   "service_visits": 1400, "unique_beneficiaries": 220},
                  {"case": 0.9, "group": 0.8, "event": 0.8, "volunteer": 0.9, "training": 0.75}, 0.68, (80, 0.88), (80, 82, 75)),
    "heping": ("和平社区大院文化·亲情社区项目", "东营市和美社会工作服务中心", "all", 150_000,
               {"case": 10, "group": 20, "event": 12, "volunteer": 16, "training": 4,
                "service_visits": 1400, "unique_beneficiaries": 170},
               {"case": 1.0, "group": 1.05, "event": 1.1, "volunteer": 1.0, "training": 1.0}, 0.96, (80, 0.91), (86, 80, 90)),
    "yangmiao": ("杨庙社区留守儿童关爱项目", "东营市童心社会工作服务中心", "child", 200_000,
                 {"case": 40, "group": 30, "event": 8, "volunteer": 12, "training": 6,
                  "service_visits": 1000, "unique_beneficiaries": 150},
                 {"case": 0.7, "group": 1.0, "event": 1.0, "volunteer": 1.0, "training": 1.0}, 0.94, (60, 0.92), (84, 86, 88)),
}
EVALUATION = ("东营市2017年政府购买社区服务项目监测评估", "东营市社会工作研究与评估中心", 150_000)
ROLES = {"all": ("adult", "elderly"), "elderly": ("elderly",), "child": ("child",)}
#: Residents each project could reach (its pool of possible attendees).
POOL = {"anning": 517, "shenghong": 460, "xingsheng": 575, "mingyue": 402, "shengxing": 460, "heping": 460,
        "yangmiao": 287}


def _pool(survey: pd.DataFrame, cid: str, group: str, size: int, rng) -> list[str]:
    """Residents who may come: surveyed ones (participants five times as likely) and others."""
    s = survey[(survey["community_id"] == cid) & (survey["wave"] == 2017) & survey["role"].isin(ROLES[group])]
    active = (s[["part_any", "vol_any", "selforg"]].fillna(0) > 0).any(axis=1).to_numpy()
    p = np.where(active, 0.5, 0.1)
    chosen = s["respondent_id"].to_numpy()[rng.random(len(s)) < p].tolist()
    others = [f"{cid}-R{k:04d}" for k in range(1, max(size - len(chosen), 0) + 1)]
    return chosen + others


def _activities(cid: str, spec: tuple, pool: list[str], rng) -> list[dict]:
    _, _, _, _, targets, achieve, _, _, _ = spec
    days = (PERIOD[1] - PERIOD[0]).days
    rows = []
    volunteers = list(rng.choice(pool, size=min(30, len(pool)), replace=False))
    for kind, factor in achieve.items():
        n = int(round(targets[kind] * factor))
        dates = sorted(PERIOD[0] + dt.timedelta(days=int(d)) for d in rng.integers(0, days, n))
        clients = list(rng.choice(pool, size=max(1, -(-n // 3)), replace=False))
        groups = [list(rng.choice(pool, size=int(rng.integers(6, 11)), replace=False)) for _ in range(max(1, -(-n // 6)))]
        for k, d in enumerate(dates):
            ids, count = [], None
            if kind == "case":
                ids = [clients[k % len(clients)]]
            elif kind == "group":
                members = groups[k % len(groups)]
                ids = [m for m in members if rng.random() < 0.85] or members[:1]
            elif kind == "event":
                count = int(rng.integers(40, 151))
                if rng.random() < 0.3:
                    ids = list(rng.choice(pool, size=int(rng.integers(10, 31)), replace=False))
            elif kind == "volunteer":
                ids = list(rng.choice(volunteers, size=int(rng.integers(6, 16)), replace=False))
            else:
                ids = list(rng.choice(pool, size=int(rng.integers(10, 26)), replace=False))
            hours = float(np.round(rng.uniform(*HOURS[kind]) * 2) / 2)
            vol = len(ids) if kind == "volunteer" else int(rng.integers(0, 4))
            rows.append({"date": d, "type": kind, "title": str(rng.choice(TITLES[kind])), "ids": [str(i) for i in ids],
                         "count": count if count is not None else len(ids), "hours": hours, "volunteers": vol,
                         "volunteer_hours": vol * hours, "spending": float(rng.integers(*COST[kind])), "line": "活动经费"})
    return rows


def _spending_lines(activities: list[dict], target: float) -> list[dict]:
    """Monthly staff pay filling the project's spending up to `target` (whole yuan)."""
    left = int(round(target - sum(a["spending"] for a in activities)))
    months = list(range(3, 13))
    each = left // len(months)
    rows = []
    for k, m in enumerate(months):
        amount = each + (left - each * len(months) if k == len(months) - 1 else 0)
        rows.append({"date": dt.date(2017, m, 20), "type": None, "title": "社工薪酬", "ids": [], "count": None,
                     "hours": None, "volunteers": None, "volunteer_hours": None, "spending": float(amount),
                     "line": "人员经费"})
    return rows


def _date_text(d: dt.date, style: int) -> str:
    return [d.isoformat(), f"{d.year}.{d.month}.{d.day}", f"{d.year}年{d.month}月{d.day}日"][style]


def _sheet(cid: str, name_zh: str, rows: list[dict], rng, *, excel: bool) -> pd.DataFrame:
    """The log as the organisation keeps it: Chinese headings, mixed date styles, ids joined by 、."""
    out = []
    for r in sorted(rows, key=lambda r: (r["date"], r["type"] or "~", r["title"])):
        ids = list(r["ids"])
        out.append([r["date"] if excel else _date_text(r["date"], int(rng.choice(3, p=[0.5, 0.25, 0.25]))),
                    name_zh, TYPE_ZH.get(r["type"], ""), r["title"], "、".join(ids),
                    r["count"] if r["type"] else None, r["hours"], r["volunteers"], r["volunteer_hours"],
                    r["spending"], r["line"]])
    frame = pd.DataFrame(out, columns=HEADINGS)
    for col in ("服务人次", "志愿者人数", "支出（元）"):
        frame[col] = pd.array([None if pd.isna(v) else int(v) for v in frame[col]], dtype="Int64")
    with_ids = [i for i, v in enumerate(frame["服务对象编号"]) if v]
    for i in rng.choice(with_ids, size=2, replace=False):  # the same person entered twice in one activity
        first = frame.at[i, "服务对象编号"].split("、")[0]
        frame.at[i, "服务对象编号"] += "、" + first
    for i in sorted(rng.choice(with_ids, size=2, replace=False), reverse=True):  # an activity entered twice
        frame = pd.concat([frame.iloc[:i + 1], frame.iloc[[i]], frame.iloc[i + 1:]], ignore_index=True)
    return frame


@dataclass(frozen=True)
class SimulatedRecords:
    """:func:`simulate_records`' output: the sheets by community and the contract tables."""

    sheets: dict
    contracts: pd.DataFrame
    targets: pd.DataFrame
    satisfaction: pd.DataFrame
    reviews: pd.DataFrame


def simulate_records(seed: int = SEED, survey_path: str | Path | None = None) -> SimulatedRecords:
    """The synthetic records and contracts (deterministic for a seed and survey; the survey's 2017
    respondent ids are the attendees' ids where they were surveyed; default the shipped survey)."""
    rng = np.random.default_rng([seed, 13])
    registry = dongying().registry.set_index("community_id")
    survey = pd.read_csv(survey_path or data_path("survey.csv"), usecols=["respondent_id", "community_id", "wave", "role", "part_any",
                                                          "vol_any", "selforg"])
    sheets, contracts, targets, sat, reviews = {}, [], [], [], []
    for cid, spec in PROJECTS.items():
        project, org, group, budget, tgt, _, spent_share, (asked, happy), ratings = spec
        pool = _pool(survey, cid, group, POOL[cid], rng)
        acts = _activities(cid, spec, pool, rng)
        rows = acts + _spending_lines(acts, budget * spent_share)
        sheets[cid] = _sheet(cid, registry.loc[cid, "name_zh"], rows, rng, excel=cid == "mingyue")
        contracts.append({"community_id": cid, "project": project, "organisation": org, "kind": "service",
                          "target_group": group, "budget": budget, "period_start": PERIOD[0].isoformat(),
                          "period_end": PERIOD[1].isoformat()})
        targets += [{"community_id": cid, "output": k, "target": v} for k, v in tgt.items()]
        sat.append({"community_id": cid, "n_asked": asked, "n_satisfied": int(rng.binomial(asked, happy))})
        reviews += [{"community_id": cid, "item": item, "rating": r}
                    for item, r in zip(("management", "outcomes", "finance"), ratings)]
    contracts.append({"community_id": "", "project": EVALUATION[0], "organisation": EVALUATION[1], "kind": "evaluation",
                      "target_group": "", "budget": EVALUATION[2], "period_start": PERIOD[0].isoformat(),
                      "period_end": PERIOD[1].isoformat()})
    c = pd.DataFrame(contracts)
    if c["budget"].sum() != TOTAL_BUDGET:  # a check of the configuration above
        raise ValueError(f"PROJECTS and EVALUATION budgets sum to {c['budget'].sum()}, not {TOTAL_BUDGET}")
    return SimulatedRecords(sheets, c, pd.DataFrame(targets), pd.DataFrame(sat), pd.DataFrame(reviews))


def _fixed_zip(data: bytes) -> bytes:
    """An .xlsx with fixed timestamps (zip entries and document properties), so rewriting is byte-identical."""
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2018-01-01T00:00:00Z", body)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(2018, 1, 1, 0, 0, 0)), body,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _write_xlsx(frame: pd.DataFrame, title: str, path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "服务台账"
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADINGS))
    ws.append(HEADINGS)
    for row in frame.itertuples(index=False):
        ws.append([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v for v in row])
    # the community written once per month, its cells merged (as offices do)
    months = pd.Series([d.month for d in frame["服务日期"]])
    start = 3
    for _, block in months.groupby(months, sort=False):
        end = start + len(block) - 1
        for r in range(start + 1, end + 1):
            ws.cell(r, 2).value = None
        if end > start:
            ws.merge_cells(start_row=start, start_column=2, end_row=end, end_column=2)
        start = end + 1
    ws.append(["合计", None, None, None, None, None, None, None, None, int(frame["支出（元）"].sum()), None])
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(_fixed_zip(buf.getvalue()))


def write_records(out_dir: str | Path, seed: int = SEED, survey_path: str | Path | None = None) -> list[Path]:
    """Write the sheets (``ledger_<community>.csv``; Mingyue ``.xlsx``), ``contracts.csv``,
    ``targets.csv``, ``satisfaction.csv`` and ``reviews.csv`` to `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sim = simulate_records(seed, survey_path)
    names = dongying().registry.set_index("community_id")["name_zh"]
    paths = []
    for cid, frame in sim.sheets.items():
        title = f"{names[cid]}{PROJECTS[cid][0].removeprefix(names[cid])} 服务台账（2017年度）"
        if cid == "mingyue":
            p = out / f"ledger_{cid}.xlsx"
            _write_xlsx(frame, title, p)
        else:
            p = out / f"ledger_{cid}.csv"
            total = ["合计", "", "", "", "", "", "", "", "", f"{frame['支出（元）'].sum()}", ""]
            body = formula_safe(frame).to_csv(index=False, lineterminator="\n")
            p.write_text(title + "\n" + body + ",".join(total) + "\n", encoding="utf-8-sig", newline="")
        paths.append(p)
    for name in ("contracts", "targets", "satisfaction", "reviews"):
        p = out / f"{name}.csv"
        write_csv(getattr(sim, name), p, lineterminator="\n", encoding="utf-8")
        paths.append(p)
    return paths


def dongying_records(folder: str | Path | None = None):
    """The shipped records (``evalkit/datasets/dongying/records/``) read by
    :func:`evalkit.performance.read_records_folder` with the example's study."""
    from ..performance.evaluate import read_records_folder

    return read_records_folder(DONGYING / RECORDS_DIR if folder is None else folder, study=dongying())


def dongying_performance(*, survey=None, effects=None, bands=None, weightings=None, until=None, share: float = 1.0,
                         **kw):
    """The shipped example's performance evaluation (:func:`evalkit.performance.evaluate_performance`)
    with the survey's per-community effects at its latest wave (`effects`: computed once by
    :func:`evalkit.performance.survey_effects` and passed again for another round)."""
    from ..performance.evaluate import evaluate_performance, survey_effects
    from .shipped import dongying_survey

    study = dongying()
    if effects is None:
        study, data = dongying_survey() if survey is None else (study, survey)
        effects = survey_effects(data, study)
    recs = dongying_records()
    return evaluate_performance(recs.reports, recs.contracts, recs.targets, effects=effects,
                                satisfaction=recs.satisfaction, reviews=recs.reviews, study=study, bands=bands,
                                weightings=weightings, until=until, share=share, **kw)


__all__ = ["PROJECTS", "TOTAL_BUDGET", "MIDTERM", "simulate_records", "write_records", "dongying_records",
           "dongying_performance", "SimulatedRecords"]

if __name__ == "__main__":
    for written in write_records(sys.argv[1] if len(sys.argv) > 1 else DONGYING / RECORDS_DIR):
        print(written)
