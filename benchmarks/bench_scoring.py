"""Benchmark: score every scale of the shipped codebook for 10 million respondent-waves.

Target (evalkit design brief): all scales for 10M rows in < 20 s on 2 cores, peak memory < 8 GB.

Run::

    .venv/bin/python benchmarks/bench_scoring.py              # 10,000,000 rows
    .venv/bin/python benchmarks/bench_scoring.py --rows 1e6   # quicker

The item table is built from the codebook: for every item, seeded random valid answer codes
(or values in its min–max range) stored as float32 columns, with about 5% of the answers blank
(NaN) and about 1% left as missing-value codes (97/98/99, or the item's own codes) to exercise the
defensive path. Peak memory is the process's maximum resident set size (``resource.getrusage``),
reported after building the data and after scoring. There is no peer package to compare with
(scoring rules are evalkit's codebook), so the script reports time per row and the throughput.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import numpy as np
import pandas as pd

from evalkit.spec.codebook import load_codebook
from evalkit.measure.scales import score


def peak_rss_gb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return kb / 1024**2


def build_items(codebook, n: int, seed: int = 2017, p_blank: float = 0.05,
                p_code: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {}
    for name, var in codebook.items.items():
        if var.codes is not None:
            codes = np.fromiter(var.codes, dtype=np.float32)
            x = codes[rng.integers(0, len(codes), n, dtype=np.int32)]
        else:
            lo, hi = var.valid_range
            x = rng.integers(int(lo), int(hi) + 1, n, dtype=np.int32).astype(np.float32)
        u = rng.random(n, dtype=np.float32)
        x[u < p_blank] = np.nan
        if var.missing_codes:
            mc = np.fromiter(var.missing_codes, dtype=np.float32)
            hit = (u >= p_blank) & (u < p_blank + p_code)
            x[hit] = mc[rng.integers(0, len(mc), int(hit.sum()))]
        cols[name] = x
    return pd.DataFrame(cols, copy=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    n = int(args.rows)
    from evalkit.datasets import CODEBOOK_FILE, data_path

    cb = load_codebook(data_path(CODEBOOK_FILE))

    t0 = time.perf_counter()
    df = build_items(cb, n)
    t_build = time.perf_counter() - t0
    rss_data = peak_rss_gb()
    print(f"evalkit scoring benchmark — {platform.processor() or platform.machine()}, "
          f"numpy {np.__version__}, pandas {pd.__version__}")
    print(f"rows: {n:,}; items: {df.shape[1]}; scales: {len(cb.scales)}; item table "
          f"{df.memory_usage(deep=False).sum() / 1e9:.2f} GB (float32); built in {t_build:.1f} s; "
          f"peak RSS so far {rss_data:.2f} GB")

    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = score(df, cb)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        n_new = out.shape[1] - df.shape[1]
        del out
    best = min(times)
    rss = peak_rss_gb()
    load = os.getloadavg()[0]
    print(f"score(): {best:.2f} s wall (best of {args.repeat}; CPU {min(cpu):.2f} s; load average "
          f"{load:.1f} on {os.cpu_count()} cores) for all {len(cb.scales)} scales ({n_new} new "
          f"columns); {best / n * 1e9:.0f} ns per row; {n / best / 1e6:.2f} M rows/s")
    print(f"peak RSS (whole run): {rss:.2f} GB")
    ok_time, ok_mem = best < 20 * n / 10_000_000, rss < 8
    print(f"target (<20 s per 10M rows, <8 GB): time {'OK' if ok_time else 'MISSED'}, "
          f"memory {'OK' if ok_mem else 'MISSED'}")


if __name__ == "__main__":
    main()
