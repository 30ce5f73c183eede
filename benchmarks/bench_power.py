"""Benchmark: 1,000 simulated evaluations of the headline per-community estimator, loop vs processes.

Power of :func:`evalkit.evaluation.comparison.community_effects` on the shipped design (its
17,000 respondent rows, PSUs and weights kept; the outcome redrawn from the variance components of
``bscs`` estimated on the shipped survey), an effect of 0.5 planted in every programme community
(:func:`evalkit.evaluation.power_sim.simulated_power`). Prints the wall time of a plain loop in
this process (``workers=1``) and of a ``ProcessPoolExecutor`` with ``--workers`` processes
(default: all cores), the speed-up, checks the two give identical tables (same seeded draws), and
prints simulated against analytic power (:func:`evalkit.evaluation.power_components.did_power`).
With ``--dask N`` it also times a local Dask cluster of ``N`` single-threaded worker processes
(``executor=Client``; informational: the cluster's start-up is not counted, the design's transfer
is) and checks its table is identical too (``docs/scale_out.md``).
The issue's target: 1,000 evaluations in under 60 s on 2 cores.

Run::

    .venv/bin/python benchmarks/bench_power.py [--n-sims 1000] [--workers 2] [--skip-loop] [--dask 2]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

try:
    import resource  # POSIX only
except ImportError:  # pragma: no cover - Windows
    resource = None

import numpy as np

import evalkit as ek
from evalkit.evaluation.power_components import variance_components
from evalkit.evaluation.power_sim import simulated_power


def _child_cpu(before) -> float:
    """CPU seconds of the child processes ended since ``before`` (the pool's workers, once shut down)."""
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (now.ru_utime + now.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-sims", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--indicator", default="bscs")
    ap.add_argument("--effect", type=float, default=0.5)
    ap.add_argument("--skip-loop", action="store_true", help="time only the process pool")
    ap.add_argument("--dask", type=int, default=0, metavar="N", help="also time a local Dask cluster of N workers")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    study, survey = ek.datasets.dongying_survey()
    design = ek.SurveyDesign.from_study(survey, study)
    vc = variance_components(design, a.indicator, registry=study.registry)
    print(f"components of {a.indicator}: tau2={vc.tau2:.4g} gamma2={vc.gamma2:.4g} sigma2={vc.sigma2:.4g} "
          f"deff={vc.deff:.3f} m={vc.m:.0f}")
    kw = dict(registry=study.registry, effect=a.effect, n_sims=a.n_sims, seed=20171)
    before = resource.getrusage(resource.RUSAGE_CHILDREN) if resource else None
    pool = simulated_power(design, vc, workers=a.workers, **kw)
    cpu = (f" ({_child_cpu(before):.1f} s of CPU in the workers)" if resource else "")
    print(f"process pool: {a.n_sims} evaluations in {pool.seconds:.1f} s on {pool.workers} processes{cpu}")
    if not a.skip_loop:
        cpu = time.process_time()
        loop = simulated_power(design, vc, workers=1, **kw)
        print(f"plain loop:   {a.n_sims} evaluations in {loop.seconds:.1f} s "
              f"({time.process_time() - cpu:.1f} s of CPU: wall above CPU means the cores are shared)")
        print(f"speed-up: {loop.seconds / pool.seconds:.2f}x; identical tables: {loop.table.equals(pool.table)}")
    if a.dask:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=a.dask, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            dsk = simulated_power(design, vc, executor=client, **kw)
        print(f"dask LocalCluster: {a.n_sims} evaluations in {dsk.seconds:.1f} s on {dsk.workers} workers; "
              f"identical to the pool: {dsk.table.equals(pool.table)}")
    t = pool.table
    z = (t["power"] - t["analytic"]) / t["mc_se"]
    print(t[["community_id", "wave", "power", "mc_se", "analytic", "sd_estimate", "analytic_se"]]
          .round(4).to_string(index=False))
    print(f"simulated - analytic, in Monte Carlo SEs: mean {z.mean():+.2f}, max |z| {np.abs(z).max():.2f}")


if __name__ == "__main__":
    main()
