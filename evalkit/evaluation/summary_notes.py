"""The prose facts of an evaluation summary's methods (``EvaluationSummary.notes``), in Chinese and English."""
from __future__ import annotations

__all__ = ["MIN_COMPARISONS", "methods_notes"]

#: Fewest comparison communities for a headline estimate.
MIN_COMPARISONS = 3


def methods_notes(level: float, min_n: int, n_controls: int, caveats: list[str], effects=None) -> dict:
    """``{key: {"zh": ..., "en": ...}}`` prose for the methods section, plus ``caveats`` (a list).

    ``conservative`` (present when some effect's shock variance was not estimable) says how many
    intervals are conservative (``zh``, ``en``; the targets' codes in ``targets``, for the renderer to
    label): the prose of a ``ShockVarianceWarning``.
    """
    pct = f"{level:.0%}"
    return {
        "level": {"zh": f"所有区间均为{pct}置信区间。", "en": f"All intervals are {pct} confidence intervals."},
        "method": {
            "zh": ("每个项目社区的每个目标都只有一个主要估计：在目标人群内（如60岁以上居民），将该社区自项目开始前"
                   f"最后一次调查以来的变化，与{n_controls}个对照社区的平均变化相比较（逐社区双重差分）。"
                   "对照社区很少，常规的聚类稳健标准误不可靠，因此标准误同时包含抽样误差和由对照社区之间的离散"
                   "估计的社区层面波动（Ferman & Pinto 2019）。"),
            "en": ("Each target of each programme community has one headline estimate: within the target "
                   "group (e.g. residents 60+), the community's change since its last survey before the "
                   f"programme minus the mean change of the {n_controls} comparison communities "
                   "(per-community difference-in-differences). With so few communities cluster-robust "
                   "standard errors are unreliable, so the standard error adds to the sampling error the "
                   "community-level shocks estimated from how much the comparison communities scatter "
                   "(Ferman & Pinto 2019)."),
        },
        "multiple_testing": {
            "zh": ("多重检验：同一年份所有“社区×目标”的检验为一族，用Holm法校正p值；"
                   "首页采用最近一年的一族。"),
            "en": ("Multiple testing: all community × target tests of the same wave form one family, "
                   "and their p-values are adjusted by Holm's method; the first screen uses the latest "
                   "wave's family."),
        },
        "standardised": {
            "zh": "标准化效应 = 效应 ÷ 基线年目标人群内（项目社区与对照社区）合并的社区内标准差。",
            "en": ("Standardised effect = effect ÷ the pooled within-community SD of the indicator among "
                   "the target group in the base wave (programme and comparison communities)."),
        },
        "headcount": {
            "zh": "人数 = 比例的变化 × 社区登记的目标人群人数（区间同理）。",
            "en": "People = change in the proportion × the target group's population in the registry "
                  "(the interval likewise).",
        },
        "ruled_out": {
            "zh": "“无明显变化”时，区间在有利一侧的端点即可排除的最大效应：比它更大的改善可以排除。",
            "en": ("For 'no clear change', the interval's end on the beneficial side is the largest "
                   "improvement it leaves possible: larger improvements are ruled out at this confidence level."),
        },
        "evidence": {
            "zh": "证据强度分四级（强、中等、弱、无法判断），规则见证据等级表。",
            "en": "Evidence strength has four levels (strong, moderate, weak, cannot tell); the rule of each is in the scale table.",
        },
        "small_cells": {
            "zh": f"项目社区基线或当期少于{min_n}人、或对照社区少于{MIN_COMPARISONS}个时不作估计，并说明原因。",
            "en": (f"No estimate is made when the community has fewer than {min_n} respondents in the base "
                   f"or current wave, or fewer than {MIN_COMPARISONS} comparison communities; the row says why."),
        },
        "caveats": list(dict.fromkeys(caveats)),
        **_conservative(effects),
    }


def _conservative(effects) -> dict:
    if effects is None or "shock_estimable" not in getattr(effects, "columns", ()):
        return {}
    lost = effects[effects["shock_estimable"].eq(False)]
    if lost.empty:
        return {}
    return {"conservative": {
        "zh": (f"有{len(lost)}个估计的对照社区变化并不比抽样误差更分散，社区层面波动无法单独估计；"
               "这些区间把对照社区的全部离散都算作波动，因而偏保守（偏宽）。"),
        "en": (f"For {len(lost)} estimates the comparison communities' changes scatter no more than "
               "sampling error explains, so community-level shocks cannot be estimated apart from it; those "
               "intervals credit all of that scatter to shocks and are conservative (wider)."),
        "targets": list(dict.fromkeys(lost["target"])),
    }}
