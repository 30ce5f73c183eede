"""Benchmark: absorbed household fixed effects, evalkit vs pyfixest (PyPI 0.60.0).

Panel: 42,000 households in 60 communities over 4 waves = 168,000 rows (issue 15, item 5),
``y ~ treat + income | household + wave``, CR1 standard errors clustered by community (fixest's
default small-sample correction on both sides), and evalkit's default CR2 (Bell-McCaffrey with
Satterthwaite df; pyfixest has no CR2) timed as well.

Both sides are timed as computation only, the data frame being given, ``--reps`` times each, the
two packages taking turns (so a change of load on a shared machine hits both alike; half a second
apart, so that one's idle worker threads, still spinning, do not slow the other); the median and
the best wall time are printed, with the CPU time of the process, and the ratio of the medians:

* pyfixest: ``pf.feols(formula, data, vcov={"CRV1": "community"})`` (formula parsing, demeaning
  by alternating projections, fit and vcov); its compiled kernels are warmed up on a small copy
  first, untimed.
* evalkit: ``regress(formula, data, cluster="community", vcov="CR1")`` (formula parsing, design
  matrix, demeaning, fit and vcov), then ``vcov="CR2"``.

The estimates and CR1 standard errors of the two are compared (relative difference printed).
pyfixest is a test-only peer and not in requirements.txt: without it the script says so and
times evalkit alone (``pip install pyfixest==0.60.0`` to compare).

Run::

    .venv/bin/python benchmarks/bench_fixest.py [--reps 5] [--households 42000]

Default settings on both sides (no thread limits): evalkit's products on the tall design run in
row chunks that OpenBLAS keeps on one thread, so it does not stall when the cores are shared.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd


def make_panel(seed: int = 2017, households: int = 42_000, communities: int = 60) -> pd.DataFrame:
    """Household panel over 2014-2017; a third of the communities start the programme in 2016."""
    rng = np.random.default_rng(seed)
    waves = np.array([2014, 2015, 2016, 2017])
    hh = np.repeat(np.arange(households), len(waves))
    wave = np.tile(waves, households)
    community = hh % communities
    start = np.where(np.arange(communities) < communities // 3, 2016, 9999)
    treat = (wave >= start[community]).astype(float)
    income = rng.lognormal(mean=10.0, sigma=0.5, size=hh.size)
    y = (0.2 * treat + 1e-5 * income + rng.normal(size=households)[hh] + 0.1 * (wave - 2014)
         + rng.normal(scale=0.3, size=(communities, 4))[community, wave - 2014] + rng.normal(size=hh.size))
    return pd.DataFrame({"y": y, "treat": treat, "income": income, "household": hh, "wave": wave,
                         "community": community})


def _timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def _line(name, times):
    wall, cpu = np.array(times).T
    return f"{name}: median {np.median(wall):6.3f} s (best {wall.min():6.3f} s, CPU {np.median(cpu):6.3f} s)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5, help="timing repetitions (median and best reported)")
    ap.add_argument("--households", type=int, default=42_000)
    args = ap.parse_args()

    from evalkit.inference.regress import regress

    df = make_panel(households=args.households)
    formula = "y ~ treat + income | household + wave"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"panel: {len(df):,} rows, {df['household'].nunique():,} households, "
          f"{df['community'].nunique()} communities (clusters), 4 waves; {formula}; "
          f"{os.cpu_count()} CPUs, load average (1 min) {load:.2f}")
    try:
        import pyfixest as pf
    except ImportError:
        pf = None
        print("pyfixest is not installed (test-only peer: pip install pyfixest==0.60.0); timing evalkit alone")

    small = df.iloc[: len(df) // 50]
    runs = {"evalkit CR1": lambda: regress(formula, df, cluster="community", vcov="CR1"),
            "evalkit CR2": lambda: regress(formula, df, cluster="community", vcov="CR2")}
    regress(formula, small, cluster="community", vcov="CR1")
    if pf is not None:
        runs["pyfixest CRV1"] = lambda: pf.feols(formula, data=df, vcov={"CRV1": "community"})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pf.feols(formula, data=small, vcov={"CRV1": "community"})          # warm-up (numba), untimed
    times = {k: [] for k in runs}
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.reps):                 # the packages take turns
            for k, fn in runs.items():
                time.sleep(0.5)   # let the previous run's idle worker threads (numba, BLAS) go to sleep
                wall, cpu, out[k] = _timed(fn)
                times[k].append((wall, cpu))
    fit, fit2 = out["evalkit CR1"], out["evalkit CR2"]
    print(_line("evalkit  CR1  ", times["evalkit CR1"]) + f"   treat = {fit.params['treat']:.6f} (se {fit.se['treat']:.6f})")
    print(_line("evalkit  CR2  ", times["evalkit CR2"]) + f"   treat = {fit2.params['treat']:.6f} "
          f"(se {fit2.se['treat']:.6f}, Satterthwaite df {fit2.df['treat']:.1f})")
    if pf is None:
        return
    m = out["pyfixest CRV1"]
    coef, se = m.coef(), m.se()
    print(_line("pyfixest CRV1 ", times["pyfixest CRV1"]) + f"   treat = {coef['treat']:.6f} (se {se['treat']:.6f})")
    rel_b = np.max(np.abs(fit.params[coef.index].to_numpy() / coef.to_numpy() - 1))
    rel_se = np.max(np.abs(fit.se[se.index].to_numpy() / se.to_numpy() - 1))
    print(f"largest relative difference, estimates: {rel_b:.1e}, CR1/CRV1 SEs: {rel_se:.1e}")
    med = {k: np.median(np.array(v)[:, 0]) for k, v in times.items()}
    print(f"ratio of medians pyfixest CRV1 / evalkit CR1: {med['pyfixest CRV1'] / med['evalkit CR1']:.2f}  "
          "(> 1: evalkit faster)")
    print(f"ratio of medians pyfixest CRV1 / evalkit CR2: {med['pyfixest CRV1'] / med['evalkit CR2']:.2f}")


if __name__ == "__main__":
    main()
