"""The technical appendix's "why the numbers differ" table, from the evaluation summary.

The bureau report gives one headline estimate per community and target; the summary's
``reconciliation`` lists the other estimates of the same question (the community's own
before-after change, the pooled average over communities, all adults instead of the target
group) with the reason each differs. :func:`reconciliation_markdown` turns it into a Markdown
table for the notebook-based appendix (:func:`evalkit.publish.report.build_report`), formatted
for people (:mod:`evalkit.publish.tables`) and with every label escaped for Markdown.
"""
from __future__ import annotations

import math

from ..evaluation.targets import md_text
from . import tables as tb
from .bureau_context import Labels
from .i18n import t

__all__ = ["reconciliation_markdown"]

_KINDS = {"headline": ("主要估计", "headline"), "before_after": ("本社区前后变化", "own before–after change"),
          "pooled": ("多社区合并平均", "pooled over communities"),
          "all_respondents": ("全部受访者（不限目标人群）", "all respondents, not only the target group")}
_HEAD = {"zh": ("社区", "目标", "估计", "人群", "估计值", "95%区间", "为何不同"),
         "en": ("Community", "Target", "Estimate", "Population", "Value", "95% interval", "Why it differs")}


def _interval(low, high, kind, lang) -> str:
    if any(isinstance(v, (int, float)) and math.isinf(v) for v in (low, high)):
        return "无界" if lang == "zh" else "unbounded"
    return tb.fmt_interval(low, high, kind, lang, bare=True)


def reconciliation_markdown(summary, study, *, lang: str = "en") -> str:
    """The summary's reconciliation as a Markdown section (empty string when there is none)."""
    rec = getattr(summary, "reconciliation", None)
    if rec is None or not len(rec):
        return ""
    labels = Labels(study, lang)
    kinds = dict(zip(summary.effects["target"], summary.effects["kind"]))
    groups = dict(zip(summary.effects["target"], summary.effects["group"]))
    rows = []
    for _, r in rec.iterrows():
        kind = kinds.get(r.get("target"), "mean")
        target = labels.target(str(r.get("target")).split("@")[0], groups.get(r.get("target")))
        pop = r.get("population")
        population = (t("all_residents", lang) if pop in ("all", "", None) or not isinstance(pop, str)
                      else labels.group(pop))
        why = r.get("why_zh") if lang == "zh" and isinstance(r.get("why_zh"), str) else r.get("why")
        cells = [labels.community(r["community_id"]) if isinstance(r.get("community_id"), str) else tb.MISSING,
                 target, _KINDS.get(r.get("estimate_kind"), (str(r.get("estimate_kind")),) * 2)[lang == "en"],
                 population or tb.MISSING, tb.fmt_effect(r.get("estimate"), kind, lang),
                 _interval(r.get("ci_low"), r.get("ci_high"), kind, lang), why if isinstance(why, str) else ""]
        rows.append("| " + " | ".join(md_text(tb.check_cell(c, "reconciliation table")) for c in cells) + " |")
    title = ("# 为何数字不同：同一问题的其他估计" if lang == "zh"
             else "# Why the numbers differ: other estimates of the same question")
    intro = ("首页与各社区页只用主要估计；下表列出同一问题的其他估计及其不同的原因。" if lang == "zh" else
             "The bureau report shows only the headline estimate; this table lists the other estimates of the "
             "same question and why each differs from it.")
    head = "| " + " | ".join(_HEAD[lang]) + " |"
    return "\n".join([title, "", intro, "", head, "|" + "---|" * len(_HEAD[lang]), *rows, ""])

