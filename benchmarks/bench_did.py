"""Benchmark: evalkit.did.att_gt vs csdid (ATTgt) with a 999-draw multiplier bootstrap.

Data: a simulated balanced panel shaped like the Dongying survey design -- 14 communities
(4 programme communities starting 2015, 3 starting 2016, 7 comparison) x 3,000 residents
x 4 waves (2014-2017) = 168,000 rows. Only the computation is timed (imports and data
generation excluded); each package is run once to warm up, then the best of ``REPS``
timed runs is reported. The two packages must give the same ATT(g,t) (max abs diff is
printed; bootstrap SEs differ by construction because the random draws differ).

Run:  .venv/bin/python benchmarks/bench_did.py
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

REPS = 5


def make_panel(n_per: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    comm = np.repeat(np.arange(14), n_per)
    g = np.array([2015] * 4 + [2016] * 3 + [0] * 7)[comm]
    n = comm.size
    waves = np.array([2014, 2015, 2016, 2017])
    alpha_i = rng.normal(size=n) + 0.1 * comm
    x = rng.normal(size=n)
    t = np.tile(waves, n)
    gg = np.repeat(g, 4)
    effect = np.where((gg > 0) & (t >= gg), 0.3 + 0.1 * (t - gg), 0.0)
    y = (np.repeat(alpha_i, 4) + 0.2 * (t - 2014) + 0.1 * np.repeat(x, 4) * (t - 2014)
         + effect + rng.normal(size=n * 4))
    return pd.DataFrame({"id": np.repeat(np.arange(n), 4), "wave": t, "g": gg, "y": y,
                         "x": np.repeat(x, 4), "community": np.repeat(comm, 4)})


def best_time(fn) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    from csdid.att_gt import ATTgt

    from evalkit.did import att_gt

    df = make_panel()
    print(f"data: {len(df):,} rows, {df['id'].nunique():,} units, waves {sorted(df.wave.unique())}")

    def run_evalkit():
        return att_gt(df, y="y", group="g", time="wave", unit="id", bootstrap=999, seed=1)

    def run_csdid():
        np.random.seed(1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ATTgt(yname="y", tname="wave", idname="id", gname="g", data=df,
                         biters=999, cband=True).fit(est_method="dr", bstrap=True)

    t_ev, r_ev = best_time(run_evalkit)
    t_cs, r_cs = best_time(run_csdid)
    att_cs = np.asarray(r_cs.results["att"], dtype=float)
    diff = np.max(np.abs(att_cs - r_ev.att))
    se_ratio = r_ev.se / np.asarray(r_cs.results["se"], dtype=float)
    print(f"max |ATT(g,t) evalkit - csdid|        : {diff:.2e}")
    print(f"bootstrap SE ratio evalkit/csdid      : {se_ratio.min():.3f} .. {se_ratio.max():.3f}"
          " (different random draws)")
    print(f"sup-t critical value evalkit / csdid  : {r_ev.crit_value:.3f} / {float(r_cs.results['c']):.3f}")
    print(f"evalkit att_gt (B=999): {t_ev * 1000:8.1f} ms")
    print(f"csdid   ATTgt  (B=999): {t_cs * 1000:8.1f} ms")
    print(f"speed-up: {t_cs / t_ev:.1f}x")
    if diff > 1e-8:
        raise SystemExit(f"estimates differ by {diff:.2e} > 1e-8")


if __name__ == "__main__":
    main()
