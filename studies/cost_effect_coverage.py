"""Monte Carlo: coverage of the cost-per-effect interval (:func:`evalkit.performance.cost_per_effect`).

A project's cost per unit of effect is ``cost / (N * effect)`` (yuan per person-point, or per
additional person for a proportion): the spending ``cost`` is known from the records, the target
population ``N`` from the registry, the effect is the per-community DiD of
:func:`evalkit.community_effects` with its standard error and t degrees of freedom. The interval is
Fieller's (:func:`evalkit.performance.fieller_ratio`): bounded only when the effect's interval
excludes zero ("not estimable" otherwise, an unbounded set, which trivially contains the truth).

Data: the DGP of ``studies/community_effects.py`` (``draw``: 14 communities, 4 waves, start years
4 x 2015 / 3 x 2016 / 7 never, sizes log-uniform 40-600, PSUs persisting across waves, lognormal
weights, AR(1) community-by-wave shocks with SDs 0.05-0.15; individual SD 1) with a programme
effect ``delta`` added to the continuous score of every programme community from its start year
on. The DiD of weighted means is linear in the outcome, so adding ``delta`` to the treated rows
shifts each estimate by exactly ``delta`` and leaves its se unchanged: the study runs
``community_effects`` once per replication on the null data and shifts (checked against a run
with ``delta`` added, on the first replication). Rows: the 2017 effect of each of the 7 programme
communities; cost 150,000 yuan, N = 5,000 people (the ratio's coverage does not depend on them).

Reported for ``delta`` = 0.1, 0.2, 0.4, 0.8 (SD units): coverage of the 95% Fieller interval
(unbounded counted as covering, as it must be: it is the honest answer "any cost per unit is
consistent with the data"), the share not estimable, the coverage among the estimable, and the
same for the delta-method interval ``ratio +- t * ratio * se / effect`` (which is always bounded
and ignores the skew of a ratio). MC standard error ``sqrt(p (1 - p) / n)``.

Run::

    .venv/bin/python studies/cost_effect_coverage.py --reps 1000 --first-seed 31000 --write
"""
from __future__ import annotations

import argparse
import importlib.util
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.evaluation.comparison import community_effects
from evalkit.performance.cost import cost_per_effect
from evalkit.survey.design import SurveyDesign

HERE = Path(__file__).resolve().parent
OUT = HERE / "cost_effect_coverage_results.md"
COST, POP = 150_000.0, 5_000.0
DELTAS = (0.1, 0.2, 0.4, 0.8)


def _draw():
    spec = importlib.util.spec_from_file_location("_ce_study", HERE / "community_effects.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.draw


def _effects(data: pd.DataFrame, starts: dict, delta: float = 0.0) -> pd.DataFrame:
    d = data.copy()
    st = d["comm"].map(lambda c: starts[c] if starts[c] is not None else 10_000)
    d["score"] = d["score"] + delta * (d["year"] >= st)
    design = SurveyDesign(d, weight="w", strata="comm", psu="building")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ce = community_effects(design, "score", registry=starts, community="comm", wave="year")
    return ce[(ce["year"] == 2017) & ce["start_year"].notna()].reset_index(drop=True)


def one_rep(seed: int, draw) -> pd.DataFrame:
    data, starts, _ = draw(seed)
    ce = _effects(data, starts)
    rows = []
    for delta in DELTAS:
        eff = pd.DataFrame({"community_id": ce["comm"], "target": "score", "indicator": "score", "kind": "mean",
                            "better": "higher", "estimate": ce["estimate"] + delta, "se": ce["se"], "df": ce["df"],
                            "population": POP})
        cpe = cost_per_effect(eff, pd.DataFrame({"community_id": ce["comm"], "spent": COST}))
        truth = COST / (POP * delta)
        ratio = COST / (POP * eff["estimate"])
        t = stats.t.ppf(0.975, eff["df"])
        half = t * np.abs(ratio) * eff["se"] / np.abs(eff["estimate"])
        rows.append(pd.DataFrame({
            "rep": seed, "delta": delta, "estimable": cpe["estimable"],
            "fieller_covers": ~cpe["estimable"] | ((cpe["ci_low"] <= truth) & (truth <= cpe["ci_high"])),
            "delta_covers": (ratio - half <= truth) & (truth <= ratio + half)}))
    return pd.concat(rows, ignore_index=True)


def check_shift(draw, seed: int) -> float:
    """Largest difference between shifting the null estimates and re-estimating with delta added."""
    data, starts, _ = draw(seed)
    a, b = _effects(data, starts), _effects(data, starts, 0.2)
    return float(max(np.abs(b["estimate"] - a["estimate"] - 0.2).max(), np.abs(b["se"] - a["se"]).max()))


def _pct(x: pd.Series) -> str:
    p, n = x.mean(), len(x)
    return f"{100 * p:.1f} ({100 * np.sqrt(p * (1 - p) / n):.1f})" if n else "-"


def table(res: pd.DataFrame) -> list[str]:
    lines = ["| delta (SD) | intervals | Fieller coverage | not estimable | Fieller coverage, estimable only | "
             "delta-method coverage |", "|---|---|---|---|---|---|"]
    for delta, r in res.groupby("delta"):
        est = r[r["estimable"]]
        lines.append(f"| {delta:g} | {len(r)} | {_pct(r['fieller_covers'])} | {_pct(~r['estimable'])} | "
                     f"{_pct(est['fieller_covers'])} | {_pct(r['delta_covers'])} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--first-seed", type=int, default=31000)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    draw = _draw()
    gap = check_shift(draw, args.first_seed)
    t0 = time.time()
    res = pd.concat([one_rep(s, draw) for s in range(args.first_seed, args.first_seed + args.reps)], ignore_index=True)
    lines = [f"\n## {args.reps} replications, seeds {args.first_seed}-{args.first_seed + args.reps - 1} "
             f"({time.time() - t0:.0f} s)\n",
             f"Shift check (first replication, delta = 0.2): largest difference {gap:.2e}.\n", *table(res)]
    print("\n".join(lines))
    if args.write:
        with OUT.open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
