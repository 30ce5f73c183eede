"""What the headline rows say together: each row's detectable effect, and the programmes pooled.

Both read the summary's headline rows (:func:`evalkit.evaluation.summary.summarise`, or the same
rows after the report's disclosure gate) and are what the bureau report's methods sentences and
notebook 07 state, so the two cannot drift apart.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .pooling import PooledEffect, pool_effects
from .power import mde_from_se

__all__ = ["usable_rows", "mde_in_sd", "pool_programmes"]


def usable_rows(effects: pd.DataFrame) -> pd.DataFrame:
    """Rows with a finite estimate, a positive finite se and baseline SD, and a df (``inf``: a normal
    test); rows without an estimate (explained, or withheld by the gate) are left out, and so is every
    row of a table that lacks one of those columns."""
    needed = ["estimate", "se", "sd_baseline", "df"]
    if any(c not in effects.columns for c in needed):
        return effects.iloc[:0]
    num = effects[needed].apply(pd.to_numeric, errors="coerce")
    finite = np.isfinite(num[["estimate", "se", "sd_baseline"]].to_numpy(dtype=float)).all(axis=1)
    ok = finite & num["df"].notna().to_numpy() & (num["se"] > 0).to_numpy() & (num["sd_baseline"] > 0).to_numpy()
    return effects[ok]


def mde_in_sd(effects: pd.DataFrame, *, power: float = 0.8, level: float = 0.95) -> pd.Series:
    """Each usable row's minimum detectable effect from its own ``se`` and ``df``
    (:func:`evalkit.evaluation.power.mde_from_se`) in baseline SDs; rows with no finite MDE left out."""
    rows = usable_rows(effects)
    mdes = pd.Series([mde_from_se(float(r["se"]), df=float(r["df"]), power=power, level=level)
                      / float(r["sd_baseline"]) for _, r in rows.iterrows()], index=rows.index, dtype=float)
    return mdes[np.isfinite(mdes)]


def pool_programmes(effects: pd.DataFrame, *, level: float = 0.95) -> PooledEffect | None:
    """Random-effects pool (REML, Hartung–Knapp) of each community's first usable target in baseline
    SDs, signed so that positive is better (``better == "lower"`` flips the sign); ``None`` with
    fewer than three communities. Each community ran a different programme, so one target each."""
    first = usable_rows(effects).drop_duplicates("community_id")
    if len(first) < 3:
        return None
    better = first["better"] if "better" in first else pd.Series("higher", index=first.index)
    sign = np.where(better == "lower", -1.0, 1.0)
    return pool_effects(first.assign(estimate=first["estimate"].astype(float) * sign), scale="sd_baseline",
                        label="community_id", method="REML", hartung_knapp=True, level=level)
