"""Benchmark: evalkit.measure.reliability.cronbach_alpha vs pingouin.cronbach_alpha, side by side.

Pairwise-complete alpha on items with 10% missing answers. pingouin builds the covariance
with pandas' DataFrame.cov() (pairwise loop in Cython); evalkit uses masked matrix products.
Both must agree on alpha; the script prints times and the ratio.

Run: .venv/bin/python benchmarks/bench_reliability.py
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pingouin as pg

from evalkit.measure.reliability import cronbach_alpha, reliability


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def data(n, k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 1)) + rng.standard_normal((n, k))
    X[rng.random((n, k)) < 0.10] = np.nan
    return pd.DataFrame(X, columns=[f"q{j}" for j in range(k)])


if __name__ == "__main__":
    print(f"{'n':>7} {'k':>4} {'evalkit s':>10} {'pingouin s':>11} {'ratio':>7}  max|diff alpha|")
    for n, k in [(2_000, 5), (20_000, 10), (5_000, 100), (2_000, 400)]:
        df = data(n, k)
        a_ev = cronbach_alpha(df)["estimate"].iloc[0]
        a_pg = pg.cronbach_alpha(df)[0]
        t_ev = best_of(lambda: cronbach_alpha(df))
        t_pg = best_of(lambda: pg.cronbach_alpha(df))
        print(f"{n:>7} {k:>4} {t_ev:>10.4f} {t_pg:>11.4f} {t_pg / t_ev:>7.1f}  {abs(a_ev - a_pg):.1e}")

    # reliability(): 6 scales x 14 communities x 4 waves (336 alpha + omega fits)
    rng = np.random.default_rng(1)
    n = 12_000
    f = rng.standard_normal(n)
    cols = {f"s{s}_{j}": np.round(3 + f + rng.standard_normal(n)) for s in range(6) for j in range(5)}
    survey = pd.DataFrame(cols).assign(community=rng.integers(0, 14, n), wave=rng.integers(2014, 2018, n))
    scales = {f"s{s}": [f"s{s}_{j}" for j in range(5)] for s in range(6)}
    t = best_of(lambda: reliability(survey, scales, by=["community", "wave"]), repeat=3)
    print(f"reliability(): 6 scales x 56 groups (336 rows with omega) in {t:.3f} s")
