"""A stand-in evaluation summary with the documented columns of contract C4, for rendering tests.

The numbers are drawn from a seeded generator: the rendering tests check how results are shown
(formats, labels, layout, disclosure), never the values themselves. Targets come from the
study's registry, so labels are looked up exactly as for the real summary.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evalkit.spec.registry import programme_targets

EVIDENCE_SCALE = pd.DataFrame({
    "level": [3, 2, 1, 0],
    "key": ["strong", "moderate", "weak", "insufficient"],
    "label_zh": ["强", "中等", "弱", "无法判断"],
    "label_en": ["strong", "moderate", "weak", "insufficient"],
    "rule_zh": ["校正后p值小于0.05，区间不含0，去掉任一对照社区后结论不变", "未校正的区间不含0",
                "方向符合预期，但区间包含0", "没有估计"],
    "rule_en": ["adjusted p below 0.05, interval excludes 0, unchanged when any comparison community is left out",
                "unadjusted interval excludes 0", "direction as intended, interval includes 0", "no estimate"],
})


@dataclass(frozen=True)
class FakeSummary:
    effects: pd.DataFrame
    headline: pd.DataFrame
    trends: pd.DataFrame
    reconciliation: pd.DataFrame = field(default_factory=pd.DataFrame)
    evidence_scale: pd.DataFrame = field(default_factory=lambda: EVIDENCE_SCALE.copy())
    notes: dict = field(default_factory=dict)


def small_study(study, keep=("anning", "mingyue", "heping")):
    """The study with only a few programme communities (and every comparison one): quick to render."""
    reg = study.registry
    return study.with_(registry=reg[reg["community_id"].isin(keep) | (reg["role"] != "programme")])


def fake_summary(study, *, seed: int = 1, waves=(2014, 2015, 2016, 2017), n_wave: int = 300,
                 explain: dict | None = None) -> FakeSummary:
    """Rows for every (programme community, target, post wave) of the study's registry."""
    rng = np.random.default_rng(seed)
    reg = study.registry
    targets = programme_targets(reg)
    starts = dict(zip(reg["community_id"], reg["start_year"]))
    rows, trends = [], []
    for tg in targets.itertuples(index=False):
        if not isinstance(tg.group, str):
            tg = tg._replace(group=None)
        scale = study.codebook.scales.get(tg.indicator)
        kind = scale.kind if scale is not None else "mean"
        better = "lower" if scale is not None and scale.higher_is == "worse" else "higher"
        start = int(starts[tg.community_id])
        base_wave = max(w for w in waves if w < start)
        if kind == "proportion":
            base, sd = rng.uniform(0.1, 0.5), 0.05
        else:
            lo, hi = scale.score_range if scale is not None and scale.score_range else (0, 10)
            base, sd = lo + (hi - lo) * rng.uniform(0.3, 0.6), (hi - lo) * 0.05
        target = tg.indicator if tg.group is None else f"{tg.indicator}@{tg.group}"
        comp = base + rng.normal(0, sd / 3, len(waves)).cumsum()
        effect = rng.normal(2 * sd, 1.5 * sd)
        for w, c in zip(waves, comp):
            post = w >= start
            mean = base + (c - comp[waves.index(base_wave)]) + (effect if post else 0)
            trends.append({"community_id": tg.community_id, "target": target, "indicator": tg.indicator,
                           "group": tg.group, "wave": w, "mean": mean, "ci_low": mean - 2 * sd / 3,
                           "ci_high": mean + 2 * sd / 3, "n": n_wave, "comparison_mean": c,
                           "counterfactual": (base + c - comp[waves.index(base_wave)]) if w >= base_wave else np.nan})
        for w in waves:
            if w < start:
                continue
            se = sd * rng.uniform(0.6, 1.2)
            est = effect + rng.normal(0, se / 2)
            p = float(2 * (1 - _phi(abs(est / se))))
            pop = 5000.0 if kind == "proportion" else np.nan
            row = {"community_id": tg.community_id, "target": target, "indicator": tg.indicator, "group": tg.group,
                   "kind": kind, "better": better, "start_year": start, "wave": w, "baseline_wave": base_wave,
                   "baseline": base, "estimate": est, "se": se, "df": 6.0, "statistic": est / se, "p_value": p,
                   "ci_low": est - 2.4 * se, "ci_high": est + 2.4 * se, "p_adjusted": min(1.0, p * 3),
                   "pct_of_baseline": est / base, "std_effect": est / (sd * 4), "std_ci_low": (est - 2.4 * se) / (sd * 4),
                   "std_ci_high": (est + 2.4 * se) / (sd * 4), "population": pop,
                   "headcount": est * pop, "headcount_low": (est - 2.4 * se) * pop,
                   "headcount_high": (est + 2.4 * se) * pop,
                   "ruled_out": (est + 2.4 * se) if est - 2.4 * se < 0 < est + 2.4 * se else np.nan,
                   "evidence": int(3 if p * 3 < 0.05 else 2 if p < 0.05 else 1 if est * (1 if better == "higher" else -1) > 0 else 0),
                   "n_base": n_wave, "n_wave": n_wave, "explanation": None}
            if kind != "proportion":
                row.update(headcount=np.nan, headcount_low=np.nan, headcount_high=np.nan)
            if explain and (tg.community_id, target) in explain:
                for col in ("baseline", "estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high",
                            "p_adjusted", "pct_of_baseline", "std_effect", "std_ci_low", "std_ci_high", "headcount",
                            "headcount_low", "headcount_high", "ruled_out"):
                    row[col] = np.nan
                row["evidence"] = 0
                row["explanation"] = explain[(tg.community_id, target)]
            rows.append(row)
    effects = pd.DataFrame(rows)
    latest = effects["wave"].max()
    headline = effects[effects["wave"] == latest].copy()
    headline.insert(1, "programme", headline["community_id"].map(dict(zip(reg["community_id"], reg["programme_zh"]))))
    notes = {"few_clusters": {"zh": "对照社区只有七个，区间用适合少量聚类的方法（CR2）计算。",
                              "en": "With seven comparison communities, intervals use a few-cluster method (CR2)."},
             "multiple_testing": {"zh": "本报告同时检验了多个目标，p值已按Holm方法校正。",
                                  "en": "Many targets are tested at once; p-values are Holm-adjusted."}}
    return FakeSummary(effects=effects.reset_index(drop=True), headline=headline.reset_index(drop=True),
                       trends=pd.DataFrame(trends), notes=notes)


def _phi(x: float) -> float:
    from math import erf, sqrt

    return 0.5 * (1 + erf(x / sqrt(2)))
