"""Problems and required fixes (问题与整改要求) of each project, read off a performance evaluation.

The rules are plain and stated in the text each finding carries, so an evaluator can check them
against the tables: a contract target not met, budget execution outside the agreed range, service
records needing corrections, a grade that the survey's sampling error could change, and outcomes
whose cost per unit cannot be bounded.
"""
from __future__ import annotations

import pandas as pd

from .records import load_records_spec

#: Columns of :func:`findings`.
FINDING_COLUMNS = ("community_id", "kind", "text_zh", "text_en")
OUTPUT_LABELS = {"service_visits": ("服务人次", "attendances"), "unique_beneficiaries": ("服务人数", "people served"),
                 "activities": ("活动总数", "activities"), "service_hours": ("服务时长", "service hours"),
                 "volunteer_hours": ("志愿服务时长", "volunteer hours")}


def _label(output: str) -> tuple[str, str]:
    if output in OUTPUT_LABELS:
        return OUTPUT_LABELS[output]
    a = load_records_spec().activity_types.get(output)
    return (a["zh"], a["en"]) if a else (output, output)


def findings(pe, *, execution: tuple[float, float] = (0.9, 1.0), flip: float = 0.2) -> pd.DataFrame:
    """The problems of each project, with what to fix, in Chinese and English.

    Parameters
    ----------
    pe
        A :class:`~evalkit.performance.PerformanceEvaluation`.
    execution
        The budget execution rates counted as on plan (default 90-100%).
    flip
        A grade whose ``p_grade_differs`` reaches this is reported as uncertain.

    Returns
    -------
    DataFrame
        :data:`FINDING_COLUMNS`; ``kind`` one of ``missed_target``, ``underspent``,
        ``overspent``, ``records``, ``grade_uncertain``, ``cost_not_estimable``. A project with no
        finding has no row.
    """
    rows = []
    for o in pe.outputs[~pe.outputs["met"]].itertuples(index=False):
        zh, en = _label(o.output)
        rows.append((o.community_id, "missed_target",
                     f"合同指标未完成：{zh} {o.achieved:g}/{o.due:g}（{o.completion_rate:.0%}）；说明原因并提出补足计划。",
                     f"Contract target missed: {en} {o.achieved:g} of {o.due:g} ({o.completion_rate:.0%}); explain why "
                     "and plan how to make it up."))
    lo, hi = execution
    for p in pe.projects.itertuples(index=False):
        if p.execution_rate < lo:
            rows.append((p.community_id, "underspent",
                         f"预算执行率{p.execution_rate:.0%}，低于{lo:.0%}：说明未支出资金的原因，结余按合同处理。",
                         f"Budget execution {p.execution_rate:.0%}, below {lo:.0%}: explain the unspent funds and "
                         "return or carry them over as the contract says."))
        elif p.execution_rate > hi:
            rows.append((p.community_id, "overspent", f"预算执行率{p.execution_rate:.0%}，超出预算：提供超支依据。",
                         f"Budget execution {p.execution_rate:.0%}, over budget: document the overspending."))
        if p.p_grade_differs >= flip:
            rows.append((p.community_id, "grade_uncertain",
                         f"等级“{p.grade}”不稳定：按居民调查的抽样误差，约{p.p_grade_differs:.0%}的可能得到其他等级。",
                         f"The grade {p.grade} is uncertain: given the survey's sampling error it would differ with "
                         f"probability {p.p_grade_differs:.0%}."))
    share = pe.metrics[pe.metrics["metric"] == "records_valid_share"].set_index("community_id")["value"]
    for cid, v in share[share < 1].items():
        rows.append((cid, "records", f"服务台账有{1 - v:.0%}的记录需更正（重复录入、日期或类型无法识别等），逐条问题见评估方的台账核查清单。",
                     f"{1 - v:.0%} of the service-record rows need correcting (entered twice, unreadable dates or "
                     "types...): the evaluator's record check lists each one."))
    costs = pe.costs
    if "estimable" in costs.columns and len(costs):
        none = costs.groupby("community_id")["estimable"].any()
        for cid in none[~none].index:
            rows.append((cid, "cost_not_estimable", "所有针对指标的成效区间都包含0，无法计算单位成效成本。",
                         "Every targeted outcome's interval includes zero: no cost per unit of effect can be given."))
    out = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    order = {c: i for i, c in enumerate(pe.projects["community_id"])}
    return out.sort_values("community_id", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


__all__ = ["FINDING_COLUMNS", "findings"]
