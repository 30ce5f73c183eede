"""Benchmark: wild cluster restricted bootstrap, evalkit vs wildboottest (PyPI 0.3.2).

Panel: 14 communities x 4 waves x 3,000 respondents = 168,000 rows,
``y ~ treat + C(community) + C(wave)``, clustered by community, H0: treat = 0,
WCR bootstrap-t (CR1 t, boottest's "11"), B = 9,999 Webb weights.

Both sides are timed as computation only, the data frame being given:

* wildboottest needs a statsmodels ``OLS`` model (it reads ``model.exog``); building it
  from the formula is part of its computation and is timed separately ("sm fit"), then
  ``wildboottest(...)`` itself. Its numba kernels are compiled in an untimed warm-up run.
* evalkit: ``regress(..., vcov="CR1")`` (design matrices from statsmodels' formula
  machinery + the fit, cluster sums) and ``wild_cluster_bootstrap(fit, "treat")`` (p-value *and*
  the test-inversion CI, which wildboottest does not compute).

Run::

    .venv/bin/python benchmarks/bench_wild.py [--reps 3]
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def make_panel(seed: int = 2017, n_per: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    communities = np.arange(14)
    waves = np.array([2014, 2015, 2016, 2017])
    start = np.where(communities < 4, 2015, np.where(communities < 7, 2016, 9999))
    c = np.repeat(communities, len(waves) * n_per)
    w = np.tile(np.repeat(waves, n_per), len(communities))
    treat = (w >= start[c]).astype(float)
    shock = rng.normal(scale=0.25, size=(14, 4))
    y = (0.1 * treat + rng.normal(size=14)[c] + 0.1 * (w - 2014)
         + shock[c, w - 2014] + rng.normal(size=len(c)))
    return pd.DataFrame({"y": y, "treat": treat, "community": c, "wave": w})


def best_of(fn, reps):
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3, help="timing repetitions (best of)")
    ap.add_argument("--B", type=int, default=9999)
    args = ap.parse_args()

    import statsmodels.formula.api as smf
    from wildboottest.wildboottest import wildboottest

    from evalkit.inference.regress import regress
    from evalkit.inference import wild_cluster_bootstrap

    df = make_panel()
    formula = "y ~ treat + C(community) + C(wave)"
    B = args.B
    print(f"panel: {len(df):,} rows, 14 clusters, B = {B:,} Webb weights, WCR, H0: treat = 0")

    # warm-up (numba compilation of wildboottest's kernels; imports)
    small = df.iloc[::40]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = smf.ols(formula, data=small)
        wildboottest(m0, B=99, cluster=small["community"].to_numpy(), param="treat",
                     weights_type="webb", seed=1, show=False)
    wild_cluster_bootstrap(regress(formula, small, cluster="community", vcov="CR1"), "treat", B=99)

    # evalkit first: wildboottest's numba/OpenMP worker threads keep spinning for a while
    # after its parallel loops and would slow down whatever runs right after them.
    t_fit, fit = best_of(lambda: regress(formula, df, cluster="community", vcov="CR1"), args.reps)
    t_boot, wb = best_of(lambda: wild_cluster_bootstrap(fit, "treat", B=B, weights="webb", seed=42), args.reps)
    t_sm, model = best_of(lambda: smf.ols(formula, data=df), args.reps)

    def run_wbt():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return wildboottest(model, B=B, cluster=df["community"].to_numpy(), param="treat",
                                weights_type="webb", seed=42, show=False)

    t_wbt, ref = best_of(run_wbt, args.reps)

    print(f"wildboottest: sm fit {t_sm:7.3f} s + wildboottest() {t_wbt:7.3f} s = {t_sm + t_wbt:7.3f} s"
          f"   p = {ref['p-value'].iloc[0]:.4f}  t = {float(ref['statistic'].iloc[0]):.4f}")
    print(f"evalkit:      regress {t_fit:7.3f} s + wild_cluster_bootstrap() {t_boot:7.3f} s = {t_fit + t_boot:7.3f} s"
          f"   p = {wb.p_value:.4f}  t = {wb.statistic:.4f}  95% CI [{wb.ci_low:.4f}, {wb.ci_high:.4f}]")
    print(f"ratio, bootstrap step only (wildboottest() / wild_cluster_bootstrap()): {t_wbt / t_boot:8.1f}x")
    print("(same seed, same Webb draws: numpy default_rng(42).choice over the six Webb values,"
          " so the p-values agree exactly)")
    print(f"ratio, fit + bootstrap:                                          {(t_sm + t_wbt) / (t_fit + t_boot):8.1f}x")


if __name__ == "__main__":
    main()
