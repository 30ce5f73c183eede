"""Monte Carlo: family-wise error rate (size) of the step-down tests with 14 communities.

Design (written for this study, independently of :mod:`evalkit.datasets.simulate`), shaped like
the Dongying evaluation:

* 14 communities observed in 3 waves; in every replication 4 communities start the programme in
  wave 2, 3 in wave 3 and 7 never (comparison communities), assigned at random;
* ``--n`` respondents per community and wave (default 40), drawn afresh each wave; community
  sizes differ: a community's n is multiplied by a factor log-uniform on [1/2, 2];
* K = 5 outcomes (a family of one community's targets) that are correlated twice over: each
  respondent's errors are equicorrelated (rho 0.5) across outcomes, and community-by-wave shocks
  (SD 0.15) are equicorrelated (rho 0.5) across outcomes; community levels (SD 0.5) and wave
  effects (SD 0.2) too;
* no programme effect on any outcome (the complete null), so the family-wise error rate is the
  probability that any adjusted p-value is <= alpha.

Each replication fits ``y_k ~ treat + C(community) + C(wave)`` (OLS, clustered by community) for the
5 outcomes and tests ``treat`` with

* the wild cluster restricted bootstrap (Webb weights, ``--B`` draws shared by the family) —
  unadjusted (any marginal p <= alpha), Holm on the marginal p-values, Romano-Wolf, Westfall-Young;
* randomization inference (``--n-perm`` random reassignments of the start schedules, shared) —
  the same four.

Reported: FWER at alpha = 0.05 and 0.10 with the Monte Carlo standard error
``sqrt(p (1 - p) / reps)``.

Run (about 1.5 s of CPU per replication with the defaults; ``--jobs 2`` uses two processes)::

    .venv/bin/python studies/stepdown_size.py --reps 400 --first-seed 1 --jobs 2 --write

``--write`` appends the table to ``studies/stepdown_size_results.md``.
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.inference.regress import regress
from evalkit.inference.stepdown import stepdown, stepdown_pvalues
from evalkit.inference.randomization import randomization_test
from evalkit.inference.wild import wild_cluster_bootstrap

OUT = Path(__file__).with_name("stepdown_size_results.md")
K = 5
G = 14
WAVES = 3
ALPHAS = (0.05, 0.10)


def _equicorrelated(rng, size, k, rho):
    """Draws of k standard normals with correlation rho, shape size + (k,)."""
    common = rng.normal(size=size + (1,))
    return np.sqrt(rho) * common + np.sqrt(1 - rho) * rng.normal(size=size + (k,))


def draw(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = rng.permutation(np.r_[np.full(4, 2), np.full(3, 3), np.full(7, 99)])
    size = np.maximum(10, np.round(n * np.exp(rng.uniform(np.log(0.5), np.log(2), G)))).astype(int)
    level = 0.5 * rng.normal(size=(G, 1)) * np.ones((1, K))
    wave_eff = 0.2 * rng.normal(size=(WAVES, K))
    shock = 0.15 * _equicorrelated(rng, (G, WAVES), K, 0.5)
    parts = []
    for g in range(G):
        for t in range(WAVES):
            m = size[g]
            e = _equicorrelated(rng, (m,), K, 0.5)
            y = level[g] + wave_eff[t] + shock[g, t] + e
            frame = pd.DataFrame(y, columns=[f"y{k}" for k in range(K)])
            frame["community"] = f"c{g:02d}"
            frame["wave"] = t + 1
            frame["treat"] = float(t + 1 >= start[g])
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def holm(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    adj = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(adj, 1)
    return out


def one(seed: int, n: int, B: int, n_perm: int) -> dict[str, float]:
    d = draw(seed, n)
    outs = [f"y{k}" for k in range(K)]
    fits = {y: regress(f"{y} ~ treat + C(community) + C(wave)", d, cluster="community", vcov="CR1") for y in outs}
    wild = {y: wild_cluster_bootstrap(f, "treat", B=B, weights="webb", seed=seed) for y, f in fits.items()}
    ri = {y: randomization_test(d, formula=f"{y} ~ treat + C(community) + C(wave)", treatment="treat",
                                cluster="community", time="wave", n_perm=n_perm, seed=seed) for y in outs}
    row = {}
    for engine, res in (("wild", wild), ("ri", ri)):
        rw = stepdown(res, method="romano_wolf").table.p_adjusted.to_numpy()
        wy = stepdown(res, method="westfall_young").table.p_adjusted.to_numpy()
        p = np.array([r.p_value for r in res.values()])
        row.update({f"{engine}|unadjusted": p.min(), f"{engine}|Holm": holm(p).min(),
                    f"{engine}|Romano-Wolf": rw.min(), f"{engine}|Westfall-Young": wy.min()})
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--B", type=int, default=399)
    ap.add_argument("--n-perm", type=int, default=399)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (standard library)")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    seeds = range(a.first_seed, a.first_seed + a.reps)
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs) as pool:
            rows = list(pool.map(one, seeds, repeat(a.n), repeat(a.B), repeat(a.n_perm), chunksize=4))
    else:
        rows = [one(s, a.n, a.B, a.n_perm) for s in seeds]
    secs = time.perf_counter() - t0
    mins = pd.DataFrame(rows)
    lines = [f"\n## {time.strftime('%Y-%m-%d')}: reps={a.reps}, seeds {a.first_seed}..{a.first_seed + a.reps - 1}, "
             f"n={a.n} per community-wave (x U-log[1/2, 2]), B={a.B} Webb draws, {a.n_perm} random "
             f"reassignments, K={K} outcomes, G={G} (4 + 3 staggered, 7 comparison); {secs:.0f} s with {a.jobs} process(es)\n",
             "| engine | adjustment | " + " | ".join(f"FWER at {al:g} (MC SE)" for al in ALPHAS) + " |",
             "|---|---|" + "---|" * len(ALPHAS)]
    for col in mins.columns:
        engine, adj = col.split("|")
        cells = []
        for al in ALPHAS:
            p = float(np.mean(mins[col] <= al))
            cells.append(f"{p:.3f} ({np.sqrt(p * (1 - p) / a.reps):.3f})")
        name = {"wild": "wild cluster bootstrap (WCR, Webb)", "ri": "randomization inference (RI-t)"}[engine]
        lines.append(f"| {name} | {adj} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    if a.write:
        with OUT.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
