"""Benchmark: design-based domain means, evalkit.SurveyDesign vs samplics TaylorEstimator (and R).

Task: means of 12 indicators in 200 domains on 200,000 rows of a stratified cluster sample
(20 strata x 50 PSUs x 200 rows, unequal weights, fpc given; seeded data). Domains cut
across PSUs (R/survey and samplics "domain" semantics: scores zeroed outside the domain,
every PSU kept).

- evalkit: ``SurveyDesign(...).mean(indicators, by="domain")`` -- one call, best of 3 runs.
- samplics 0.6: ``TaylorEstimator(PopParam.mean).estimate(y, domain=...)``, one call per
  indicator. samplics loops over domains and strata in Python and needs 10-20 s per
  indicator here (2 cores), so by default it is timed on ``--samplics-k`` indicators (default 2) and the time is
  scaled linearly to 12 (the work is the same for every indicator; the output says so).
  ``--samplics-k 12`` times all of them, ``0`` skips samplics. SEs of the timed indicators
  are compared (max abs diff). samplics' ``fpc=`` is the factor ``1 - n_h/N_h``, so it is
  given that, computed from the same ``N_h`` column evalkit reads.
- R: ``svyby(~y1+...+y12, ~domain, design, svymean)`` via ``Rscript`` if it is on PATH
  (survey package needed: ``apt-get install -y r-base-core r-cran-survey`` on Debian);
  otherwise skipped with a message. R times only its ``svyby`` call; SEs are compared too.
- evalkit on the same design raked to 200 domain margins (calibrated variance path).

Only the estimation is timed (data generation and the design constructor excluded; the
constructor is timed separately).

Run:  .venv/bin/python benchmarks/bench_design.py [--samplics-k K]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

from evalkit.survey.design import SurveyDesign

N_STRATA, PSU_PER_STRATUM, ROWS_PER_PSU = 20, 50, 200
N_DOMAINS, N_IND = 200, 12


def make_data(seed: int = 20240601) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_psu = N_STRATA * PSU_PER_STRATUM
    n = n_psu * ROWS_PER_PSU
    psu = np.repeat(np.arange(n_psu), ROWS_PER_PSU)
    stratum = psu // PSU_PER_STRATUM
    psu_effect = rng.normal(size=n_psu)[psu]
    df = pd.DataFrame({
        "stratum": stratum,
        "psu": psu,
        "w": rng.gamma(4.0, 25.0, size=n),
        "N": PSU_PER_STRATUM * (5 + stratum),  # population PSUs per stratum
        "domain": rng.integers(0, N_DOMAINS, size=n),
    })
    for j in range(N_IND):
        df[f"y{j + 1}"] = 3 + 0.5 * psu_effect + 0.01 * df["domain"] + rng.normal(size=n)
    return df


def best_of(fn, repeat=3):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def run_samplics(df: pd.DataFrame, inds: list[str]):
    from samplics.estimation import TaylorEstimator
    from samplics.utils.types import PopParam

    n_h = df.groupby("stratum")["psu"].nunique()
    n_pop = df.groupby("stratum")["N"].first()
    fpc = {s: 1 - n_h[s] / n_pop[s] for s in n_h.index}  # samplics takes the factor 1 - n_h/N_h
    ses = {}
    for y in inds:
        est = TaylorEstimator(PopParam.mean)
        est.estimate(y=df[y], samp_weight=df["w"], stratum=df["stratum"], psu=df["psu"],
                     domain=df["domain"], fpc=fpc)
        ses[y] = np.array([est.stderror[k] for k in sorted(est.stderror)])
    return ses


R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
df <- read.csv(args[1])
des <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, fpc = ~N, data = df)
f <- as.formula(paste("~", paste(sprintf("y%d", 1:12), collapse = "+")))
t0 <- proc.time()[["elapsed"]]
res <- svyby(f, ~domain, des, svymean)
el <- proc.time()[["elapsed"]] - t0
se <- as.data.frame(SE(res)); names(se) <- sprintf("y%d", 1:12)
write.csv(data.frame(domain = res$domain, se), args[2], row.names = FALSE)
cat(el, "\n")
"""


def run_r(df: pd.DataFrame):
    with tempfile.TemporaryDirectory() as tmp:
        data_csv = os.path.join(tmp, "data.csv")
        out_csv = os.path.join(tmp, "se.csv")
        script = os.path.join(tmp, "bench.R")
        df.to_csv(data_csv, index=False)
        with open(script, "w") as fh:
            fh.write(R_SCRIPT)
        proc = subprocess.run(["Rscript", script, data_csv, out_csv], capture_output=True,
                              text=True, timeout=3600)
        if proc.returncode != 0:
            return None, proc.stderr.strip()[-500:]
        seconds = float(proc.stdout.strip().split()[-1])
        return seconds, pd.read_csv(out_csv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samplics-k", type=int, default=2,
                    help="indicators to time with samplics (scaled to 12); 12 = all, 0 = skip")
    ap.add_argument("--no-r", action="store_true", help="skip the R part")
    args = ap.parse_args()
    inds = [f"y{j + 1}" for j in range(N_IND)]

    df = make_data()
    print(f"data: {len(df):,} rows, {N_STRATA} strata, {N_STRATA * PSU_PER_STRATUM} PSUs, "
          f"{N_DOMAINS} domains, {N_IND} indicators")

    t0 = time.perf_counter()
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu", fpc="N")
    t_build = time.perf_counter() - t0
    t_ek, res = best_of(lambda: design.mean(inds, by="domain"))
    print(f"evalkit  SurveyDesign constructor           {t_build:8.3f} s")
    print(f"evalkit  .mean(12 indicators, by=domain)    {t_ek:8.3f} s  (best of 3)")

    # a raked version of the design (margins cutting across strata and PSUs)
    margins = {"domain": (df.groupby("domain")["w"].sum() * 1.1).to_dict()}
    raked = design.rake(margins)
    t_cal, _ = best_of(lambda: raked.mean(inds, by="domain"))
    print(f"evalkit  same on a design raked to 200 margins {t_cal:8.3f} s  (best of 3)")

    k = max(0, min(args.samplics_k, N_IND))
    if k == 0:
        print("samplics: skipped (--samplics-k 0)")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            ses = run_samplics(df, inds[:k])
            t_sam = time.perf_counter() - t0
        t_sam12 = t_sam * N_IND / k
        diff = max(
            float(np.max(np.abs(res.loc[res.variable == y, "se"].to_numpy() - ses[y])))
            for y in ses
        )
        how = ("all 12 measured" if k == N_IND else
               f"measured on {k} indicator(s): {t_sam:.2f} s, scaled x{N_IND / k:g}")
        print(f"samplics TaylorEstimator, 12 indicators      {t_sam12:8.3f} s  ({how})")
        print(f"  max |SE evalkit - SE samplics| over {k} x {N_DOMAINS} domains: {diff:.3e}")
        print(f"  ratio samplics / evalkit: {t_sam12 / t_ek:,.0f}x")

    if args.no_r:
        print("R: skipped (--no-r)")
    elif shutil.which("Rscript") is None:
        print("R: skipped (Rscript not found on PATH)")
    else:
        t_r, r_out = run_r(df)
        if t_r is None:
            print(f"R: failed ({r_out})")
        else:
            r_out = r_out.sort_values("domain")
            d_r = max(
                float(np.max(np.abs(res.loc[res.variable == y, "se"].to_numpy() - r_out[y].to_numpy())))
                for y in inds
            )
            print(f"R survey svyby(svymean), 12 indicators      {t_r:8.3f} s")
            print(f"  max |SE evalkit - SE R| over {N_IND} x {N_DOMAINS}: {d_r:.3e}")
            print(f"  ratio R / evalkit: {t_r / t_ek:,.0f}x")


if __name__ == "__main__":
    main()
