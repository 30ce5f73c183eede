"""Cost per result: per person served, per attendance, and per unit of effect with an interval.

The cost per unit of effect divides a project's spending by the effect the resident survey
estimated, scaled to the people it concerns: yuan per additional volunteer (a proportion's effect
times the target population), yuan per person-point of loneliness reduced among residents 60+ (a
mean's effect times the target population). The effect is uncertain, so the ratio gets an interval
by Fieller's method (:func:`fieller_ratio`), and "not estimable" when the effect's interval
includes zero.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from ..results import critical_value

COST_EFFECT_COLUMNS = (
    "community_id", "target", "indicator", "kind", "better", "cost", "effect", "effect_ci_low", "effect_ci_high",
    "population", "unit", "estimate", "ci_low", "ci_high", "estimable", "explanation", "unit_zh", "explanation_zh")
_UNIT_ZH = {"yuan per person-point": "元/（人·分）", "yuan per additional person": "元/每增加一人",
            "yuan per point of the community mean": "元/社区均值每一分",
            "yuan per percentage point of the community share": "元/每个百分点"}
_WHY_ZH = {"includes zero": "成效的区间包含0，单位成效成本无法界定", "harmful": "成效方向不利，无法计算单位成效成本",
           "summary has no effect": "调查汇总没有该成效的估计", "no effect estimate": "没有成效估计或没有支出记录"}


def fieller_ratio(num: float, den: float, *, num_se: float = 0.0, den_se: float, cov: float = 0.0,
                  df: float = np.inf, level: float = 0.95) -> tuple[float, float, float, bool]:
    """Fieller's confidence interval for the ratio ``num / den`` of two estimates.

    Returns ``(estimate, ci_low, ci_high, bounded)``. The interval is the set of ratios ``r``
    for which ``num - r * den = 0`` is not rejected by a t test at `level`:
    ``(num - r den)^2 <= t^2 (v_num - 2 r cov + r^2 v_den)``. It is a bounded interval exactly
    when the denominator differs from zero at that level (``den^2 > t^2 v_den``); otherwise it
    is unbounded (the whole line or two rays) and ``(estimate, nan, nan, False)`` is returned.

    With an exactly known numerator (``num_se = 0``: a project's spending) the interval is
    ``num / den`` evaluated at the ends of the denominator's own interval, so its coverage is
    the coverage of the effect's interval (measured in ``studies/cost_effect_coverage.py``).

    Notes
    -----
    Fieller, E. C. (1954). Some problems in interval estimation. *J. R. Stat. Soc. B* 16:175-185.
    Unlike the delta method it does not assume the ratio is normal, which fails badly when the
    denominator (an effect) is small relative to its standard error.

    Examples
    --------
    >>> est, lo, hi, ok = fieller_ratio(100.0, 2.0, den_se=0.5, df=np.inf)
    >>> round(lo, 2), round(est, 2), round(hi, 2)   # = 100 / (2 +- 1.96 * 0.5)
    (33.76, 50.0, 98.04)
    """
    if not den_se >= 0 or not num_se >= 0:
        raise EvalkitError(f"fieller_ratio: standard errors must be non-negative (got {num_se!r}, {den_se!r}).")
    t2 = float(critical_value(level, df)) ** 2
    est = num / den if den != 0 else np.nan
    a = den * den - t2 * den_se * den_se
    if not a > 0:
        return est, np.nan, np.nan, False
    b = num * den - t2 * cov
    c = num * num - t2 * num_se * num_se
    disc = max(b * b - a * c, 0.0)
    lo, hi = (b - np.sqrt(disc)) / a, (b + np.sqrt(disc)) / a
    return est, float(lo), float(hi), True


def _unit(kind: str, population) -> str:
    if pd.isna(population):
        return "yuan per point of the community mean" if kind == "mean" else \
            "yuan per percentage point of the community share"
    return "yuan per person-point" if kind == "mean" else "yuan per additional person"


def cost_per_effect(effects: pd.DataFrame, costs: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Cost per unit of effect for every targeted outcome of every project.

    Parameters
    ----------
    effects
        One row per community and target (the summary's ``effects`` at the wave evaluated,
        contract C4): ``community_id, target, indicator, kind, better, estimate, se, df`` and
        optionally ``population`` (people in the target group; NA: the ratio is per point of the
        community mean) and ``explanation`` (why there is no estimate).
    costs
        ``community_id, spent`` (:func:`evalkit.performance.budget_execution`).
    level
        Confidence level of the effect's and the ratio's intervals.

    Returns
    -------
    DataFrame
        :data:`COST_EFFECT_COLUMNS`: ``effect`` is the effect in the beneficial direction (a fall
        in loneliness is positive) with its interval; ``estimate, ci_low, ci_high`` the cost per
        unit (yuan per ``unit``; ``unit_zh`` in Chinese) and its Fieller interval; ``estimable`` False with an
        ``explanation`` when the effect's interval includes zero, the effect is harmful, or the
        summary has no estimate (``explanation_zh`` in Chinese). The whole of a project's spending is set against each of its
        targets (the money bought them jointly), so the cost per unit of one target is an upper
        bound of what that outcome alone would have cost.

    Notes
    -----
    Coverage by simulation (``studies/cost_effect_coverage_results.md``, 1,000 replications x 7
    communities per effect size): 96.5-97.7% at 95% for effects of 0.1-0.8 SD, counting "not
    estimable" (an unbounded interval) as covering; it is the coverage of the effect's interval,
    which the ratio inherits exactly when the cost is known. Rows that are estimable because the
    effect was significant are selected on an over-estimated effect when effects are small
    (coverage among them 59% at 0.1 SD, 93% at 0.4 SD): read a low cost per unit of a small,
    barely significant effect with that in mind.
    """
    need = ["community_id", "target", "indicator", "kind", "better", "estimate", "se", "df"]
    missing = [c for c in need if c not in effects.columns]
    if missing:
        raise EvalkitError(f"cost_per_effect(): the effects need column(s) {missing} (the summary's effects "
                           "frame has them).")
    spent = costs.set_index("community_id")["spent"]
    crit = critical_value(level, np.asarray(effects["df"], dtype=float))
    crit = np.broadcast_to(crit, (len(effects),))
    rows = []
    for (i, e), t in zip(effects.iterrows(), crit):
        cid = str(e["community_id"])
        cost = float(spent.get(cid, np.nan))
        sign = -1.0 if str(e["better"]) == "lower" else 1.0
        pop = e["population"] if "population" in effects.columns else np.nan
        pop = np.nan if pd.isna(pop) else float(pop)
        scale = pop if np.isfinite(pop) else (1.0 if e["kind"] == "mean" else 100.0)
        gain, se = sign * float(e["estimate"]), float(e["se"])
        lo, hi = gain - t * se, gain + t * se
        row = {"community_id": cid, "target": e["target"], "indicator": e["indicator"], "kind": e["kind"],
               "better": e["better"], "cost": cost, "effect": gain, "effect_ci_low": lo, "effect_ci_high": hi,
               "population": pop, "unit": _unit(e["kind"], pop), "estimate": np.nan, "ci_low": np.nan,
               "ci_high": np.nan, "estimable": False, "explanation": None}
        why = e.get("explanation") if "explanation" in effects.columns else None
        if not pd.isna(why) and why:
            row["explanation"] = f"not estimable: the summary has no effect ({why})"
        elif not (np.isfinite(gain) and np.isfinite(se) and np.isfinite(cost)):
            row["explanation"] = "not estimable: no effect estimate or no spending recorded"
        elif hi <= 0:
            row["explanation"] = (f"not estimable: the effect is in the harmful direction (its {level:.0%} "
                                  "interval lies below zero)")
        else:
            est, clo, chi, ok = fieller_ratio(cost, gain * scale, den_se=se * scale, df=float(e["df"]), level=level)
            if ok:
                row.update(estimate=est, ci_low=clo, ci_high=chi, estimable=True)
            else:
                row["explanation"] = (f"not estimable: the effect's {level:.0%} interval includes zero, so no "
                                      "cost per unit can be bounded")
        row["unit_zh"] = _UNIT_ZH[row["unit"]]
        why = row["explanation"] or ""
        row["explanation_zh"] = next((f"无法估计：{zh}" for k, zh in _WHY_ZH.items() if k in why), None)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COST_EFFECT_COLUMNS))


__all__ = ["COST_EFFECT_COLUMNS", "fieller_ratio", "cost_per_effect"]
