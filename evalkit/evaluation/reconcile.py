"""Why the numbers differ: the other estimates of each headline question, for the appendix.

:func:`reconciliation_rows` is called by :func:`evalkit.evaluation.summary.summarise`. For each
programme community × target at its latest wave it lists, beside the headline (per-community DiD
within the target group):

* ``all_respondents`` -- the same DiD on everyone who answered (only when the target group is a
  part of them, e.g. loneliness of residents 60+ vs. of all adults);
* ``before_after`` -- the community's change since its base wave, without comparison communities;
* ``pooled`` -- the pooled staggered DiD of every community that targets the indicator, over all
  programme years, with randomization inference (:func:`evalkit.programme_effect`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..results import wald_columns
from .comparison import community_effects

__all__ = ["RECONCILIATION_COLUMNS", "reconciliation_rows"]

RECONCILIATION_COLUMNS = ["question", "community_id", "target", "wave", "estimate_kind", "population",
                          "estimate", "ci_low", "ci_high", "why", "why_zh"]

WHY = {
    "headline": ("本报告采用的主要估计：目标人群内，与对照社区的变化相比较",
                 "the report's headline: within the target group, against the comparison communities' change"),
    "all_respondents": ("包括目标人群以外、项目并未针对的居民，效应被稀释",
                        "includes residents outside the target group, whom the programme did not aim at, so "
                        "the effect is diluted"),
    "before_after": ("只看本社区前后变化，没有减去对照社区同期也发生的变化",
                     "the community's own before–after change: it does not subtract the change the "
                     "comparison communities had over the same years"),
    "pooled": ("所有以该指标为目标的社区、所有项目年份的平均（随机化推断），不是本社区单独的效果",
               "the average over every community targeting this indicator and every programme year "
               "(randomization inference), not this community alone"),
}


def _row(h, kind: str, population, est, lo, hi) -> dict:
    zh, en = WHY[kind]
    return {"question": f"{h['community_id']}|{h['target']}|{int(h['wave'])}", "community_id": h["community_id"],
            "target": h["target"], "wave": int(h["wave"]), "estimate_kind": kind, "population": population,
            "estimate": float(est), "ci_low": float(lo), "ci_high": float(hi), "why": en, "why_zh": zh}


def reconciliation_rows(headline: pd.DataFrame, targets: dict, survey: pd.DataFrame, study, design, *,
                        level: float, seed: int, enabled: bool = True, caveats: list | None = None) -> pd.DataFrame:
    """The reconciliation table of :class:`~evalkit.evaluation.summary.EvaluationSummary`.

    ``targets`` maps ``(indicator, group)`` to the summary's cell means of that target.
    Returns :data:`RECONCILIATION_COLUMNS` (``population``: the group code, or ``"all"``).
    """
    if not enabled or headline.empty:
        return pd.DataFrame(columns=RECONCILIATION_COLUMNS)
    import warnings

    from .impact import programme_effect
    from .targets import targeted_indicators

    community, wave = study.roles.community, study.roles.wave
    reg = study.registry
    theory = targeted_indicators(_targets_with_groups(headline), reg, study.codebook)
    domains = {(i, g): {(community if k == "community_id" else k): v for k, v in d.items()}
               for i, g, d in zip(theory["indicator"], theory["group"], theory["domain"])}
    everyone: dict = {}
    pooled: dict = {}
    rows = []
    for _, h in headline[headline["estimate"].notna()].iterrows():
        group = None if pd.isna(h["group"]) else h["group"]
        tgt = targets[(h["indicator"], group)]
        rows.append(_row(h, "headline", group or "all", h["estimate"], h["ci_low"], h["ci_high"]))
        outside = np.isfinite(tgt.vals) & ~tgt.inside
        if outside.any():
            if h["indicator"] not in everyone:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    everyone[h["indicator"]] = community_effects(design, h["indicator"], registry=reg,
                                                                 community=community, wave=wave, level=level)
                (caveats if caveats is not None else []).extend(str(w.message) for w in caught)
            e = everyone[h["indicator"]]
            hit = e[(e[community] == h["community_id"]) & (e[wave] == h["wave"])]
            if len(hit):
                rows.append(_row(h, "all_respondents", "all", *hit[["estimate", "ci_low", "ci_high"]].iloc[0]))
        b, t, cid = h["baseline_wave"], h["wave"], h["community_id"]
        ib, it = tgt.ch.pos.get((cid, float(b))), tgt.ch.pos.get((cid, float(t)))
        if ib is not None and it is not None:
            var = max(tgt.V[it, it] + tgt.V[ib, ib] - 2 * tgt.V[it, ib], 0.0)
            w = wald_columns([tgt.ch.est[it] - tgt.ch.est[ib]], [np.sqrt(var)], [tgt.dof.get(cid, np.inf)], level)
            rows.append(_row(h, "before_after", group or "all", w["estimate"][0], w["ci_low"][0],
                             w["ci_high"][0]))
        key = (h["indicator"], group)
        if key not in pooled and key in domains:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    pooled[key] = programme_effect(design, h["indicator"], study=study,
                                                   domain=domains[key], seed=seed, level=level)
                (caveats if caveats is not None else []).extend(str(w.message) for w in caught)
            except (EstimationError, ValueError, IndexError) as exc:
                # the pooled estimate is a secondary comparison: when it cannot be made (too few
                # communities for randomization inference, or a failure inside it) the
                # reconciliation says so instead of losing the whole summary
                pooled[key] = None
                (caveats if caveats is not None else []).append(
                    f"pooled estimate of {h['target']} not computed: {type(exc).__name__}: {exc}")
        r = pooled.get(key)
        if r is not None:
            rows.append(_row(h, "pooled", group or "all", r.simple, *r.ci))
    return pd.DataFrame(rows, columns=RECONCILIATION_COLUMNS)


def _targets_with_groups(headline: pd.DataFrame) -> pd.DataFrame:
    """``community_id, indicator, group`` of the headline (groups resolved by the summary)."""
    return headline[["community_id", "indicator", "group"]].astype(object).where(
        headline[["community_id", "indicator", "group"]].notna(), None)
