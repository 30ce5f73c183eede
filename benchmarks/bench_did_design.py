"""Benchmark: design-based att_gt against the weighted-only att_gt, 999 bootstrap draws (issue 15 item 5).

Data: the simulated 168,000-row balanced panel of ``bench_did.py`` (14 communities x 3,000
residents x 4 waves), given a survey design shaped like the Dongying survey: the community is
the stratum, residents sit in buildings of 25 (120 PSUs per community, 1,680 in all), a base
weight differing by building and an fpc of 400 buildings per community. Both fits use the same
weights and 999 multiplier-bootstrap draws:

* weighted only: ``att_gt(df, weight="w", cluster=None, bootstrap=999)`` (one multiplier per unit);
* design-based: ``att_gt(design=SurveyDesign(df, weight="w", strata="community", psu="psu",
  fpc="fpc"), bootstrap=999)`` (one multiplier per PSU within its stratum).

Only the computation is timed (imports, data and design construction excluded; the design is
built once, as a user builds it once); each fit runs once to warm up, then the best of ``REPS``
timed runs is reported. The target (issue 15 item 5) is the design fit within 2x of the
weighted-only one. The ATT(g, t) must be identical (the same weights); the SEs differ by design.

Run:  .venv/bin/python benchmarks/bench_did_design.py
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_did import best_time, make_panel  # noqa: E402  (same data, same timing rule)

TARGET = 2.0
PSU_SIZE = 25


def add_design_columns(df, seed: int = 3):
    """Building (PSU) of every resident, a weight by building and the fpc (buildings per community)."""
    rng = np.random.default_rng(seed)
    resident = df["id"].to_numpy()
    n_per = df.loc[df["community"] == 0, "id"].nunique()
    psu = df["community"].to_numpy() * 10_000 + (resident % n_per) // PSU_SIZE
    uniq, codes = np.unique(psu, return_inverse=True)
    w_psu = rng.uniform(0.5, 2.0, size=uniq.size)
    return df.assign(psu=psu, w=w_psu[codes], fpc=400.0)


def main() -> None:
    from evalkit.did import att_gt
    from evalkit.survey import SurveyDesign

    df = add_design_columns(make_panel())
    design = SurveyDesign(df, weight="w", strata="community", psu="psu", fpc="fpc")
    print(f"data: {len(df):,} rows, {df['id'].nunique():,} units, {df['psu'].nunique():,} PSUs in "
          f"{df['community'].nunique()} strata, waves {sorted(int(w) for w in df.wave.unique())}")

    def weighted():
        return att_gt(df, y="y", group="g", time="wave", unit="id", weight="w", bootstrap=999, seed=1)

    def designed():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return att_gt(y="y", group="g", time="wave", unit="id", design=design, bootstrap=999, seed=1)

    t_w, r_w = best_time(weighted)
    t_d, r_d = best_time(designed)
    diff = float(np.max(np.abs(r_w.att - r_d.att)))
    ratio = t_d / t_w
    print(f"max |ATT(g,t) design - weighted|     : {diff:.2e}")
    print(f"SE ratio design / weighted           : {np.nanmin(r_d.se / r_w.se):.3f} .. "
          f"{np.nanmax(r_d.se / r_w.se):.3f} (PSU clustering, fpc)")
    print(f"weighted att_gt (B=999): {t_w * 1000:8.1f} ms")
    print(f"design   att_gt (B=999): {t_d * 1000:8.1f} ms")
    print(f"ratio design / weighted: {ratio:.2f}x (target <= {TARGET:g}x)")
    if diff > 1e-10:
        raise SystemExit(f"estimates differ by {diff:.2e} > 1e-10")
    if ratio > TARGET:
        raise SystemExit(f"design-based att_gt is {ratio:.2f}x the weighted-only one (target {TARGET:g}x)")


if __name__ == "__main__":
    main()
