"""Effects in terms a civil-affairs official can use, and how strong the evidence is.

Small pure functions behind :func:`evalkit.evaluation.summary.summarise`, each checked by hand in
``tests/test_summary.py``:

* :func:`pct_of_baseline` -- the effect as a percentage of the community's base-wave mean;
* :func:`pooled_sd` -- the pooled within-community SD that standardises an effect;
* :func:`target_population`, :func:`headcount` -- people in the target group (from the
  registry's ``pop_<sex>_<age>`` columns) and the effect on a proportion as a number of people;
* :func:`ruled_out` -- for an interval that includes 0, the most beneficial effect it rules out;
* :func:`holm` -- Holm (1979) step-down adjusted p-values;
* :data:`EVIDENCE_SCALE`, :func:`evidence_level` -- the four-level evidence scale and its rule.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["EVIDENCE_SCALE", "evidence_level", "evidence_scale_frame", "headcount", "holm",
           "pct_of_baseline", "pooled_sd", "ruled_out", "target_population"]

_POP = re.compile(r"^pop_(male|female)_(\d+)(?:_(\d+)|(plus))$")


def pct_of_baseline(estimate, baseline):
    """``100 * estimate / baseline`` (percent of the base-wave mean); NaN when the baseline is 0 or missing.

    >>> float(pct_of_baseline(-1.0, 5.0))
    -20.0
    """
    est = np.asarray(estimate, float)
    base = np.asarray(baseline, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.isfinite(base) & (base != 0), 100.0 * est / base, np.nan)
    return out if out.ndim else float(out)


def pooled_sd(values: np.ndarray, weights: np.ndarray, groups: np.ndarray) -> float:
    """Pooled within-group standard deviation: ``sqrt(sum_g (n_g - 1) s_g^2 / sum_g (n_g - 1))``.

    ``s_g^2`` is the weighted variance within group ``g`` with the ``n_g / (n_g - 1)`` correction
    (``sum w (y - ybar_w)^2 / sum w * n / (n - 1)``); missing values are left out. Used as the
    standardiser of an effect: the spread of the indicator among the target group's respondents in
    the base wave, within communities (the programme community and its comparison communities),
    so that differences between communities do not inflate it.

    >>> round(pooled_sd(np.array([1., 3., 2., 6.]), np.ones(4), np.array(["a", "a", "b", "b"])), 4)
    2.2361
    """
    y = np.asarray(values, float)
    w = np.asarray(weights, float)
    g = np.asarray(groups)
    ok = np.isfinite(y) & np.isfinite(w) & (w > 0)
    num = den = 0.0
    for key in pd.unique(g[ok]):
        m = ok & (g == key)
        n = int(m.sum())
        if n < 2:
            continue
        mean = np.average(y[m], weights=w[m])
        var = np.sum(w[m] * (y[m] - mean) ** 2) / np.sum(w[m]) * n / (n - 1)
        num += (n - 1) * var
        den += n - 1
    return float(np.sqrt(num / den)) if den > 0 else float("nan")


def _band(label_lo: str, label_hi: str | None, plus: str | None) -> tuple[float, float]:
    lo = float(label_lo)
    return (lo, float("inf")) if plus else (lo, float(label_hi))


def target_population(registry: pd.DataFrame, community: str, roles, codebook) -> float:
    """Residents of ``community`` in the respondent roles ``roles``, from the registry's population columns.

    Each ``pop_<sex>_<lo>_<hi>`` / ``pop_<sex>_<lo>plus`` column is an age band; it counts towards
    the roles when the codebook's rule deriving ``role`` from ``age`` gives one of ``roles`` at both
    ends of the band (``60plus`` checked at 60). Returns NaN when the registry has no population
    columns, the codebook has no such rule, or a band straddles the roles (it cannot be split).

    >>> # Mingyue's residents aged 60+: pop_male_60plus + pop_female_60plus = 1480 + 1720
    """
    if registry is None or roles is None:
        return float("nan")
    rule = getattr(codebook, "derived", {}).get("role") if codebook is not None else None
    if rule is None or getattr(rule, "source", None) != "age":
        return float("nan")
    row = registry.loc[registry["community_id"].astype(str) == str(community)]
    cols = [(c, _POP.match(c)) for c in registry.columns if _POP.match(c)]
    if row.empty or not cols:
        return float("nan")
    wanted, total = set(map(str, roles)), 0.0
    for col, m in cols:
        lo, hi = _band(m.group(2), m.group(3), m.group(4))
        ends = rule.apply([lo] if not np.isfinite(hi) else [lo, hi])
        inside = {str(e) in wanted for e in ends}
        if inside == {True, False}:
            return float("nan")  # the band straddles the target group: cannot count it
        if inside == {True}:
            total += float(row[col].iloc[0])
    return total


def headcount(estimate, ci_low, ci_high, population) -> tuple[float, float, float]:
    """An effect on a proportion (a fraction) as people: ``(estimate, ci_low, ci_high) * population``.

    +0.155 × 9,160 adults ≈ 1,420 more people; NaN when the population is unknown.

    >>> headcount(0.155, 0.05, 0.26, 9160)
    (1419.8, 458.0, 2381.6)
    """
    if population is None or not np.isfinite(float(population)):
        return (float("nan"),) * 3
    p = float(population)
    return tuple(round(float(v) * p, 1) for v in (estimate, ci_low, ci_high))


def ruled_out(ci_low: float, ci_high: float, better: str) -> float:
    """For an interval that includes 0: the edge beyond which beneficial effects are ruled out.

    With ``better="higher"`` every effect above ``ci_high`` is ruled out, so the answer is
    ``ci_high`` ("the programme did not raise it by more than ..."); with ``better="lower"`` it is
    ``ci_low``. NaN when the interval excludes 0 (there is an effect to report instead) or is
    missing.

    >>> ruled_out(-0.1, 0.3, "higher"), ruled_out(-0.8, 0.2, "lower")
    (0.3, -0.8)
    """
    lo, hi = float(ci_low), float(ci_high)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > 0 or hi < 0:
        return float("nan")
    return hi if better == "higher" else lo


def holm(p) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values; NaN stay NaN and are not counted in the family.

    Sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``.

    >>> holm([0.01, 0.04, 0.03, np.nan]).tolist()[:3]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


#: The evidence scale: (level, key, zh label, en label, zh rule, en rule).
EVIDENCE_SCALE = (
    (3, "strong", "强", "strong",
     "经多重检验校正（Holm）后区间仍不含0，且逐一剔除每个对照社区后结论不变（需要至少4个对照社区）",
     "the interval excludes 0 after the Holm adjustment for all the report's tests, and the "
     "conclusion holds with each comparison community left out in turn (which needs at least four)"),
    (2, "moderate", "中等", "moderate",
     "未校正的区间不含0，但校正后或剔除某个对照社区后不再成立",
     "the unadjusted interval excludes 0, but not after the adjustment or not with every "
     "comparison community left out"),
    (1, "weak", "弱", "weak",
     "区间含0，但项目开始后各年的估计方向一致",
     "the interval includes 0, but the estimate points the same way in every programme year"),
    (0, "insufficient", "无法判断", "cannot tell",
     "没有估计（见说明），或区间含0且各年方向不一致",
     "no estimate (see the explanation), or the interval includes 0 and the direction changes "
     "between programme years"),
)


def evidence_scale_frame() -> pd.DataFrame:
    """:data:`EVIDENCE_SCALE` as a table: ``level, key, label_zh, label_en, rule_zh, rule_en``."""
    return pd.DataFrame(list(EVIDENCE_SCALE),
                        columns=["level", "key", "label_zh", "label_en", "rule_zh", "rule_en"])


def evidence_level(*, has_estimate: bool, p_value: float, p_adjusted: float, level: float,
                   loo_holds: bool, same_direction: bool) -> int:
    """The level of :data:`EVIDENCE_SCALE` one effect reaches.

    ``p_value < 1 - level`` is the same as the interval at ``level`` excluding 0 (Wald t test).
    """
    if not has_estimate or not np.isfinite(p_value):
        return 0
    alpha = 1 - level
    if p_value < alpha:
        return 3 if (np.isfinite(p_adjusted) and p_adjusted < alpha and loo_holds) else 2
    return 1 if same_direction else 0
