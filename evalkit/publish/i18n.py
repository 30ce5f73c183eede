"""The bureau report's words, in Chinese and English: one table of strings, one lookup.

Every sentence of :mod:`evalkit.publish.bureau` that is not a number or a label from the
study's codebook and registry is here, so a report in one language never falls back to the other
(``lang="zh"``: no English sentence outside proper names and units). Placeholders are
``str.format`` fields; the values put into them are escaped by the template, never here.
"""
from __future__ import annotations

from .._literals import Language, check_choice

__all__ = ["TEXT", "t", "check_lang", "grade", "HTML_LANG", "GRADES_EN"]

#: ``<html lang=...>`` per report language.
HTML_LANG = {"zh": "zh-CN", "en": "en"}

#: key -> (zh, en)
TEXT: dict[str, tuple[str, str]] = {
    # --- page furniture -------------------------------------------------------------------------
    "title_suffix": ("项目成效评估报告", "programme evaluation report"),
    "synthetic_banner": ("注意：本报告使用的问卷数据是为演示而模拟生成的，不是真实调查结果，不能据此评价任何社区或项目。",
                         "Note: the survey data of this report are synthetic, generated for demonstration; they are "
                         "not real survey results and say nothing about any real community or project."),
    "subtitle": ("{n}个项目社区，{first}年基线，最近一次调查{last}年；每个项目与对照社区比较。",
                 "{n} programme communities, baseline {first}, latest survey {last}; each programme compared "
                 "with the comparison communities."),
    "summary_heading": ("一览：各社区项目的成效", "At a glance: what each programme changed"),
    "col_community": ("社区", "Community"),
    "col_programme": ("项目", "Programme"),
    "col_start": ("开始年份", "Start"),
    "col_targets": ("目标与变化（{wave}年，与对照社区相比）", "Targets and change ({wave}, against comparison communities)"),
    "col_evidence": ("证据强度", "Evidence"),
    "col_cost": ("人均成本（元）", "Cost per person served (yuan)"),
    "col_score": ("绩效得分（等级）", "Score (grade)"),
    "population_prefix": ("目标人群：", "Target population: "),
    "evidence_rule_intro": ("证据强度的判定规则：", "How evidence strength is graded: "),
    "meaning_heading": ("这意味着什么", "What this means"),
    "sure_heading": ("把握有多大", "How sure we are"),
    "pages_heading": ("各社区详情", "Community pages"),
    "limitations_heading": ("局限", "Limitations"),
    "overview_heading": ("所有目标的变化（标准化效应）", "Every target's change on one scale (standardised effects)"),
    "overview_text": ("标准化效应把不同量表的变化换算到同一尺度（除以基线年的标准差），便于比较；横线为{level}%区间。",
                      "Standardised effects put changes on different scales on one scale (divided by the base-year "
                      "standard deviation) so they can be compared; lines are {level}% intervals."),
    "overview_alt": ("各项目社区每个目标的标准化效应及其区间，按社区分组，并标出证据强度。",
                     "The standardised effect of every target of every programme community with its interval, "
                     "grouped by community, with its evidence level."),
    "methods_heading": ("方法说明", "Methods"),
    "suppressed_note": ("[c]：回答人数少于{min_n}人的单元格不公布，以保护受访者。",
                        "[c]: cells resting on fewer than {min_n} respondents are not published, to protect respondents."),
    "withheld_note": ("有{k}个社区×年份单元的回答人数少于{min_n}人，其数据未用于本报告的任何数字。",
                      "{k} community-year cells had fewer than {min_n} respondents; their data enter no number of this report."),
    "no_performance": ("", ""),
    # --- effects ----------------------------------------------------------------------------------
    "unit_pp": ("个百分点", " percentage points"),
    "unit_points": ("分", " points"),
    "scale_range": ("（{low}–{high}分）", " (scale {low}–{high})"),
    "lower_better": ("越低越好", "lower is better"),
    "higher_better": ("越高越好", "higher is better"),
    "interval": ("95%区间 {low} 至 {high}", "95% interval {low} to {high}"),
    "range": ("{low} 至 {high}", "{low} to {high}"),
    "comparison_label": ("对照社区平均", "comparison average"),
    "all_residents": ("全体受访居民", "all residents surveyed"),
    "interval_level": ("{level}%区间 {low} 至 {high}", "{level}% interval {low} to {high}"),
    "pct_baseline": ("相当于基线的{pct}", "{pct} of the baseline"),
    "headcount": ("约{n}人（{low}至{high}）", "about {n} ({low} to {high})"),
    "headcount_more": ("约多{n}人", "about {n} more people"),
    "ruled_out": ("区间排除了大于{x}的改善", "the interval rules out an improvement larger than {x}"),
    "no_estimate": ("无估计", "no estimate"),
    # --- community page ---------------------------------------------------------------------------
    "page_programme": ("项目内容", "Programme"),
    "page_start": ("开始年份：{year}年", "Started: {year}"),
    "page_population": ("目标人群", "Target population"),
    "page_population_n": ("{group}，登记人口{n}人", "{group}, {n} registered residents"),
    "page_effects": ("各目标的变化", "Change in each target"),
    "page_limits": ("局限", "Limitations"),
    "tcol_target": ("目标", "Target"),
    "tcol_group": ("人群", "Population"),
    "tcol_wave": ("调查年份", "Survey year"),
    "tcol_baseline": ("基线", "Baseline"),
    "tcol_effect": ("变化", "Change"),
    "tcol_interval": ("95%区间", "95% interval"),
    "tcol_pct": ("占基线", "Of baseline"),
    "tcol_people": ("受影响人数", "People affected"),
    "tcol_evidence": ("证据", "Evidence"),
    "tcol_n": ("回答人数", "Respondents"),
    "tcol_budget": ("预算（元）", "Budget (yuan)"),
    "tcol_spent": ("支出（元）", "Spent (yuan)"),
    "tcol_cpb": ("每位受益人成本（元）", "Cost per beneficiary (yuan)"),
    "tcol_score": ("得分", "Score"),
    "tcol_grade": ("等级", "Grade"),
    "tcol_flip": ("等级可能不同的概率", "Chance the grade differs"),
    "outputs_line": ("合同产出（完成/目标）：{items}", "Contract outputs (achieved/target): {items}"),
    "output_case": ("个案", "casework"),
    "output_group": ("小组", "groups"),
    "output_event": ("社区活动", "community events"),
    "output_volunteer": ("志愿服务", "volunteering"),
    "output_training": ("培训", "training"),
    "output_service_visits": ("服务人次", "service visits"),
    "output_unique_beneficiaries": ("受益人数", "people served"),
    "costs_line": ("每单位效果的成本：{items}", "Cost per unit of effect: {items}"),
    "cost_item": ("{target}{unit}{cost}元（{low}至{high}元）", "{target} {cost} yuan {unit} ({low} to {high})"),
    "costs_none": ("每单位效果的成本：{k}个目标的效果区间都包含0，无法计算。",
                   "Cost per unit of effect: not estimable, the effect's interval includes 0 for all {k} target(s)."),
    "cost_unit_person": ("每多1人", "per additional person"),
    "cost_unit_point": ("每人每提高1分", "per person-point"),
    "costs_skipped": ("；另有{k}个目标的效果区间包含0，无法计算成本。", "; for {k} more target(s) the effect's interval includes 0, so no cost per effect."),
    "dimensions_caption": ("评分（得分/满分）", "Score by dimension (score/points)"),
    "page_performance": ("绩效评价", "Performance evaluation"),
    "findings_heading": ("问题与整改要求", "Problems and required fixes"),
    "findings_none": ("未发现需要整改的问题。", "No problem found that needs fixing."),
    "findings_withheld": ("依据居民调查的问题不在此列出：该社区有回答人数过少的调查单元，按披露规则不公布。",
                          "Problems read off the resident survey are not listed: this community has survey cells "
                          "with too few respondents, which are not published."),
    "findings_payment": ("涉及结算的问题：{k}个项目（{names}）合同指标未完成或预算执行超出范围，共{n}项，见各社区页的“问题与整改要求”。",
                         "Problems that bear on payment: {k} project(s) ({names}) missed a contract target or spent "
                         "outside the agreed budget range, {n} finding(s) in all; see “Problems and required fixes” "
                         "on each community page."),
    "figure_alt": ("{community}{target}：各年份平均值与对照社区平均值及反事实趋势的比较。{finding}",
                   "{community}, {target}: yearly mean against the comparison average and the counterfactual. {finding}"),
    "limit_synthetic": ("数据为模拟数据，数字只用于演示方法。", "The data are synthetic; the numbers only demonstrate the method."),
    "limit_design": ("比较对象是对照社区的平均变化：如果项目社区在没有项目时本会与对照社区走势不同，估计会有偏差。",
                     "The comparison is the average change of the comparison communities: if the programme community "
                     "would have moved differently without the programme, the estimate is biased."),
    "limit_few": ("只有少数对照社区，区间因此较宽。", "There are few comparison communities, so intervals are wide."),
    "limit_self_report": ("所有结果都是居民自己的回答，可能受到回答习惯的影响。",
                          "All outcomes are residents' own answers and may reflect how people answer surveys."),
    "limit_missing": ("{k}个目标没有估计：{what}。", "{k} target(s) have no estimate: {what}."),
    # --- parallel-trends sensitivity (community page) ------------------------------------------------
    "honest_holds": ("平行趋势的敏感性：即使项目开始后本社区与对照社区的趋势差异达到项目开始前所见最大差异的{x}倍，“{target}”的结论仍然成立；超过这个倍数，结论可能改变。",
                     "Sensitivity to parallel trends: the conclusion on {target} holds unless the difference in trends "
                     "after the start exceeds {x} times the largest seen before it."),
    "honest_holds_always": ("平行趋势的敏感性：在所检验的每一种趋势差异幅度下，“{target}”的结论都成立。",
                            "Sensitivity to parallel trends: the conclusion on {target} holds for every size of "
                            "difference in trends tried."),
    "honest_fragile": ("平行趋势的敏感性：只有项目开始后本社区与对照社区的趋势完全平行，“{target}”的结论才成立。",
                       "Sensitivity to parallel trends: the conclusion on {target} holds only if trends stay exactly "
                       "parallel after the start."),
    "honest_no_conclusion": ("平行趋势的敏感性：“{target}”的区间已包含0，没有可被趋势差异推翻的结论。",
                             "Sensitivity to parallel trends: the interval for {target} already includes zero, so there "
                             "is no conclusion for a difference in trends to overturn."),
    "honest_cannot": ("平行趋势的敏感性：无法检验（{why}）。", "Sensitivity to parallel trends: cannot be checked ({why})."),
    "honest_why_one_pre_wave": ("项目开始前只有一次调查，即比较的基线，没有更早的变化可以检验；平行趋势只是假设",
                                "the only survey before the start is the baseline itself, so there is no earlier change "
                                "to check; parallel trends is an assumption"),
    "honest_why_other": ("项目开始前后缺少可比较的调查", "comparable surveys before and after the start are missing"),
    "honest_why_few_comparisons": ("对照社区太少", "too few comparison communities"),
    "honest_why_no_pre_cells": ("某次调查中本社区回答人数太少", "a survey wave has too few respondents from this community"),
    "pretest_power": ("项目前趋势检验（p = {p}）只有一半的把握发现每年{y}或更大的线性趋势差异（80%的把握：{y80}）；检验没有拒绝，并不说明趋势平行。",
                      "The pre-test (p = {p}) would detect a linear difference in trends of {y} a year or more only half "
                      "of the time (80% of the time: {y80}); a pre-test that passes does not show that trends are parallel."),
    # --- first-screen prose -------------------------------------------------------------------------
    "meaning_1": ("{n_comm}个项目社区共{n_targets}个目标中，{n_clear}个有明确证据表明改善（证据强度为“{level2}”或以上），{n_worse}个有明确证据表明变差。",
                  "Of the {n_targets} targets of the {n_comm} programme communities, {n_clear} clearly improved "
                  "(evidence “{level2}” or higher) and {n_worse} clearly worsened."),
    "meaning_2_best": ("变化最明显的是{community}的“{target}”：{effect}（{interval}）。",
                       "The clearest change is {target} in {community}: {effect} ({interval})."),
    "meaning_2_none": ("没有一个目标有明确的改善。", "No target improved clearly."),
    "meaning_3": ("{n_unclear}个目标没有明确变化：这不等于项目无效，但见下文，区间排除了较大的改善。",
                  "{n_unclear} targets show no clear change: this does not prove the programme did nothing, but, "
                  "as below, the intervals rule out large improvements."),
    "meaning_3_none": ("每个目标都有明确的变化。", "Every target shows a clear change."),
    "sure_1": ("本报告同时检验了{n_tests}个目标，p值已按{method}校正多重比较；证据强度用校正后的p值判定。",
               "This report tests {n_tests} targets at once; p-values are adjusted for multiple comparisons "
               "({method}), and evidence strength uses the adjusted p-values."),
    "sure_2": ("“没有明确变化”的目标中，{example}。", "Among targets with “no clear change”, {example}."),
    "sure_2_none": ("所有区间都是{level}%置信区间。", "All intervals are {level}% confidence intervals."),
    "sure_2_example": ("{community}的“{target}”{ruled}", "for {target} in {community}, {ruled}"),
    "method_holm": ("Holm方法", "the Holm method"),
    "method_generic": ("{name}方法", "the {name} method"),
    "design_mde": ("按各目标自身的标准误，本次评估能以80%的把握（双侧{alpha}%检验）发现约{low}至{high}个基线标准差及以上的变化"
                   "（{n}个目标的中位数为{median}个标准差）；“没有明确变化”只排除这么大的变化。",
                   "From each target's own standard error, the study could detect effects of about {low} to {high} "
                   "baseline standard deviations or more with 80% power (two-sided {alpha}% test; median {median} "
                   "over {n} targets); “no clear change” rules out only changes of that size."),
    "design_pooled": ("把{k}个项目社区各自第一个目标的标准化效应（改善为正）用随机效应模型合并：平均变化{estimate}个标准差"
                      "（{level}%置信区间{low}至{high}）；一个新社区可以期待{pi_low}至{pi_high}个标准差。",
                      "Pooling the {k} programme communities' first targets in baseline standard deviations "
                      "(improvement positive; random-effects model): on average {estimate} SD ({level}% CI {low} to "
                      "{high}); a new community could expect between {pi_low} and {pi_high} SD."),
    "appendix_pointer": ("数据检查、加权、方法、稳健性检验和不同估计之间的对照见技术附录。",
                         "Data checks, weighting, methods, robustness checks and how the estimates reconcile are in the technical appendix."),
    "source_line": ("资料来源：{title}；评估工具 evalkit {version}。", "Source: {title}; evaluation with evalkit {version}."),
}


#: Grades of Chinese performance evaluations in English (finance 优/良/中/差; civil affairs 优秀/良好/合格/不合格).
GRADES_EN = {"优": "excellent", "良": "good", "中": "fair", "差": "poor",
             "优秀": "excellent", "良好": "good", "合格": "pass", "不合格": "fail"}


def grade(text, lang: str) -> str:
    """A grade as the report's language writes it (Chinese grades kept in Chinese reports)."""
    text = str(text)
    return GRADES_EN.get(text, text) if lang == "en" else text


def check_lang(lang) -> str:
    """``lang`` if it is ``"zh"`` or ``"en"``; else an :class:`~evalkit.errors.EvalkitError`."""
    return check_choice(lang, Language, "lang")


def t(key: str, lang: str, **values) -> str:
    """The string ``key`` in ``lang`` with ``values`` filled in (not escaped: the template escapes)."""
    zh, en = TEXT[key]
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text
