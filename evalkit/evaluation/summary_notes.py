"""The prose of an evaluation summary, in Chinese and English: its methods notes (``EvaluationSummary.notes``)
and why a row has no estimate (:data:`EXPLANATIONS`)."""
from __future__ import annotations

__all__ = ["EXPLANATIONS", "HONEST_EXPLANATIONS", "MIN_COMPARISONS", "honest_note", "methods_notes"]

#: Fewest comparison communities for a headline estimate.
MIN_COMPARISONS = 3

#: Why a row has no estimate: code -> (Chinese, English). Texts take ``str.format`` fields.
EXPLANATIONS = {
    "not_measured": ("调查未测量“{indicator_zh}”（数据中没有该指标，或{group_zh}中无人作答）",
                     "the survey did not measure {indicator_en} (not in the data, or nobody among "
                     "{group_en} answered it)"),
    "not_surveyed": ("调查数据中没有本社区的受访者", "the survey data have no respondents from this community"),
    "no_group_column": ("数据中没有用来识别{group_zh}的“{column}”列", "the data have no column {column!r} to find "
                        "{group_en} by"),
    "no_base_wave": ("缺少项目开始（{start}年）之前的基线调查，无法计算变化",
                     "no survey wave before the programme started in {start} in this community, so "
                     "there is no baseline to measure change from"),
    "no_post_wave": ("项目开始（{start}年）之后尚无调查",
                     "no survey wave after the programme started in {start}"),
    "no_wave": ("本期调查中{group_zh}无人作答该指标",
                "nobody among {group_en} answered it in this wave"),
    "small_cell": ("基线或本期受访者少于{min_n}人，不作估计（保护受访者，也避免不可靠的结果）",
                   "fewer than {min_n} respondents in the base wave or in this wave: no estimate "
                   "(to protect respondents and avoid an unreliable result)"),
    "no_variance": ("无法估计抽样误差（例如某一年的受访者全部来自同一个抽样单元），不作估计",
                    "the sampling error cannot be estimated (e.g. all of a wave's respondents come from "
                    "one sampling unit): no estimate"),
    "few_comparisons": ("对照社区只有{k}个（至少需要3个）：区间会宽到无法解读",
                        "only {k} comparison communities observed in both waves (at least 3 are "
                        "needed): with two, intervals reach ±200 percentage points"),
}


#: Why a community's headline cannot be checked for parallel-trends sensitivity (HonestDiD, pre-test
#: power): code -> (Chinese, English), ``str.format`` fields as :data:`EXPLANATIONS`.
HONEST_EXPLANATIONS = {
    "one_pre_wave": ("项目开始（{start}年）之前只有一次调查（{base}年，即比较的基线），没有更早的变化可以检验趋势是否平行："
                     "平行趋势对本社区只是假设，无法做敏感性分析",
                     "only one survey wave before the programme started in {start} ({base}, the baseline the change "
                     "is measured from), so there is no earlier change to check parallel trends with: for this "
                     "community parallel trends is an assumption, and its sensitivity cannot be assessed"),
    "no_base_wave": EXPLANATIONS["no_base_wave"],
    "no_post_wave": EXPLANATIONS["no_post_wave"],
    "irregular_waves": ("项目前后的调查年份不连续或间隔不等，无法按年份比较趋势",
                        "the survey waves around the start are not equally spaced, so trends cannot be compared "
                        "wave by wave"),
    "no_pre_cells": ("项目开始前后某次调查中本社区回答人数少于{min_n}人，无法逐年比较趋势",
                     "a survey wave around the start has fewer than {min_n} respondents from this community, so "
                     "the trend cannot be followed wave by wave"),
    "few_comparisons": EXPLANATIONS["few_comparisons"],
    "not_computable": ("敏感性分析无法计算（输入的估计或其协方差不可用）",
                       "the sensitivity analysis could not be computed: {reason}"),
}


def _labels(codebook, indicator: str, group) -> dict:
    """Codebook labels of an indicator and a group, for the explanation texts (the code if it has none)."""
    scale = getattr(codebook, "scales", {}).get(indicator)
    grp = getattr(codebook, "groups", {}).get(group) if group else None
    return {"indicator_zh": scale.label.zh if scale else indicator,
            "indicator_en": scale.label.en if scale else indicator,
            "group_zh": grp.label.zh if grp else "受访者", "group_en": grp.label.en if grp else "the respondents"}


def _explain(code: str, **facts) -> tuple[str, str, str]:
    zh, en = EXPLANATIONS[code]
    return code, zh.format(**facts), en.format(**facts)


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


def honest_note(level: float) -> dict:
    """Methods prose for the parallel-trends sensitivity of the headlines (``notes["parallel_trends"]``)."""
    pct = f"{level:.0%}"
    return {"parallel_trends": {
        "zh": ("平行趋势的敏感性：对项目开始前有两次以上调查的社区，把第一个目标的主要估计写成事件研究，按Rambachan & Roth"
               f"（2023）的“相对幅度”限制计算稳健的{pct}区间（条件-最不利混合方法，t临界值），报告结论改变所需的最小倍数"
               "（项目开始后的趋势差异相对于项目开始前所见最大差异）；并按Roth（2022）计算项目前趋势检验能以50%和80%的把握"
               "发现的线性趋势差异。"),
        "en": ("Sensitivity to parallel trends: for communities surveyed at least twice before the start, the "
               "headline of the first target is written as an event study and, under Rambachan & Roth's (2023) "
               f"relative-magnitudes restriction, robust {pct} intervals are computed (conditional-least-favourable "
               "hybrid, t critical values); the report gives the smallest multiple of the largest pre-start "
               "difference in trends at which the conclusion changes, and (Roth 2022) the linear pre-trend the "
               "pre-test detects half and 80% of the time."),
    }}
