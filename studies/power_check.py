"""Monte Carlo: analytic against simulated power of ``community_effects`` on the shipped design.

For each indicator (default ``bscs``, ``participation_ladder``, ``cohesion``): the variance
components are estimated from the shipped survey's untreated cells
(:func:`evalkit.evaluation.power_components.variance_components`); then
:func:`evalkit.evaluation.power_sim.simulated_power` redraws the outcome ``--n-sims`` times on the
shipped design (rows, PSUs, weights kept), plants an effect in every programme community's
post-start cells and runs :func:`evalkit.evaluation.comparison.community_effects` on each draw.
Two effects per indicator: 0 (the test's size, against the size did_power predicts) and the analytic MDE of
the base-to-2017 DiD of a 2015 starter (base 2014, gap 3; analytic power 0.80 there).

Reported per indicator, effect and gap (waves between base and compared wave; the shock variance
of a gap is pooled over the wave pairs that far apart, so its df and the power differ by gap):
the simulated power averaged over the community-waves of that gap (each its own Monte Carlo SE;
the rows share the comparison communities' draws, so the average's SE is taken as the largest row
SE, conservatively), the analytic power (:func:`did_power`), and their difference in MC SEs.

Run (about 15 s per 1,000 simulations on 2 free cores)::

    .venv/bin/python studies/power_check.py --n-sims 1000 --jobs 2 --write

``--mde`` prints instead the minimum detectable effect (80% power, two-sided 5%) of every headline
row of the bureau report (community x target, compared wave against the base wave): the report's
own (:func:`evalkit.evaluation.together.mde_in_sd`: from the row's se and df, summary of the gated
survey as ``evalkit report`` computes it) in the indicator's units and in baseline SDs, next to the
design-stage MDE of the model (:func:`evalkit.evaluation.power_components.target_mdes`)::

    .venv/bin/python studies/power_check.py --mde
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import evalkit as ek
from evalkit.evaluation.comparison import base_wave
from evalkit.evaluation.power_components import comparison_design_df, design_dfs, did_mde, gap_pairs, variance_components
from evalkit.evaluation.power_sim import simulated_power

OUT = Path(__file__).with_name("power_check_results.md")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-sims", type=int, default=1000)
    ap.add_argument("--indicators", nargs="+", default=["bscs", "participation_ladder", "cohesion"])
    ap.add_argument("--workers", "--jobs", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--seed", type=int, default=2018)
    ap.add_argument("--write", action="store_true", help=f"append the table to {OUT.name}")
    ap.add_argument("--mde", action="store_true", help="print the MDE of every headline row instead")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    if a.mde:
        print(mde_table())
        return
    study, survey = ek.datasets.dongying_survey()
    design = ek.SurveyDesign.from_study(survey, study)
    reg = study.registry
    starts = dict(zip(reg["community_id"], reg["start_year"]))
    waves = sorted(design.data["wave"].astype(float).unique())
    controls = [c for c, g in starts.items() if pd.isna(g)]
    first = next(c for c, g in starts.items() if not pd.isna(g) and int(g) == 2015)  # base wave 2014
    dfs = design_dfs(design)
    rows, t0 = [], time.perf_counter()
    for k, ind in enumerate(a.indicators):
        vc = variance_components(design, ind, registry=reg)
        eff = did_mde(vc, len(controls), shock_pairs=gap_pairs(waves, 2014, 2017), n_waves=len(waves),
                      df_treated=dfs[first], df_comparison=comparison_design_df(dfs, controls))
        for effect in (0.0, eff):
            r = simulated_power(design, vc, registry=reg, effect=effect, n_sims=a.n_sims, seed=a.seed + k,
                                workers=a.workers)
            t = r.table.copy()
            t["gap"] = [w - base_wave(int(starts[c]), waves) for c, w in zip(t["community_id"], t["wave"])]
            for gap, g in t.groupby("gap"):
                sim, ana, se = g["power"].mean(), g["analytic"].mean(), g["mc_se"].max()
                rows.append({"indicator": ind, "effect": effect, "gap": int(gap), "rows": len(g),
                             "simulated": sim, "mc_se": se, "analytic": ana, "z": (sim - ana) / se})
            print(rows[-1], flush=True)
    res = pd.DataFrame(rows)
    secs = time.perf_counter() - t0
    lines = ["| indicator | effect | gap | community-waves | simulated power (MC SE) | analytic | (sim - analytic) / MC SE |",
             "|---|---|---|---|---|---|---|"]
    for r in res.itertuples():
        lines.append(f"| {r.indicator} | {r.effect:.4g} | {r.gap} | {r.rows} | {r.simulated:.3f} ({r.mc_se:.3f}) "
                     f"| {r.analytic:.3f} | {r.z:+.1f} |")
    table = "\n".join(lines)
    print(table)
    if a.write:
        head = ("# Analytic against simulated power of community_effects on the shipped design\n\n"
                "`studies/power_check.py` (design in its docstring).\n" if not OUT.exists() else "")
        with OUT.open("a", encoding="utf-8") as f:  # seeds: --seed for the first indicator, +1 for each next
            f.write(f"{head}\n## {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: n_sims={a.n_sims}, seeds {a.seed}, {a.seed}+1, ... per indicator, {a.workers} processes, "
                    f"{secs:.0f} s\n\n`{' '.join(['.venv/bin/python', 'studies/power_check.py', *sys.argv[1:]])}`\n\n{table}\n")


def mde_table() -> str:
    """Markdown: the MDE of every headline row of the bureau report, and the model's design MDE."""
    from evalkit.evaluation.power import mde_from_se
    from evalkit.evaluation.power_components import target_mdes
    from evalkit.evaluation.summary import summarise
    from evalkit.publish.disclosure import MIN_N, gate_survey

    study, survey = ek.datasets.dongying_survey()
    gated = gate_survey(survey, study, min_n=MIN_N)  # as `evalkit report` (cli/report.py) does
    h = summarise(gated.data, study, seed=study.seed, min_n=MIN_N, withheld=gated.withheld).headline
    design = ek.SurveyDesign.from_study(survey, study)
    model = target_mdes(design, ek.programme_targets(study.registry), registry=study.registry,
                        codebook=study.codebook)
    h = h.merge(model[["community_id", "target", "mde"]].rename(columns={"mde": "model"}),
                on=["community_id", "target"], how="left")
    lines = ["| community | target | waves | se | df | MDE (units) | MDE (baseline SD) | model MDE (units) | model (SD) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in h.itertuples():
        ok = np.isfinite(r.se) and r.se > 0 and np.isfinite(r.df)
        m = mde_from_se(r.se, df=r.df) if ok else float("nan")
        lines.append(f"| {r.community_id} | {r.target} | {r.baseline_wave}-{r.wave} | {r.se:.3f} | {r.df:.1f} | "
                     f"{m:.3f} | {m / r.sd_baseline:.2f} | {r.model:.3f} | {r.model / r.sd_baseline:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
