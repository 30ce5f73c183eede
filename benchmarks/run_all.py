"""Run every evalkit benchmark, one after the other, and print their side-by-side ratios.

    make benchmark            # or: .venv/bin/python benchmarks/run_all.py

Benchmarks are scripts, not timed tests: each runs evalkit and the named peer package in one
process and prints both times and the ratio. Timings depend on the machine and its load.

| script | evalkit | peer |
|---|---|---|
| bench_design.py | SurveyDesign.mean, 12 indicators x 200 domains, 200,000 rows | samplics TaylorEstimator; R svyby if Rscript exists |
| bench_scoring.py | score() of every scale on 10 million respondent-waves | (no peer scores these scales: time and peak memory against the 20 s / 8 GB target) |
| bench_reliability.py | cronbach_alpha | pingouin.cronbach_alpha |
| bench_did.py | att_gt with 999 bootstrap draws, 168,000-row panel | csdid |
| bench_did_design.py | design-based att_gt (strata, PSUs, fpc) with 999 PSU bootstrap draws, 168,000-row panel | weighted-only att_gt (ratio, target <= 2x, issue 15 item 5) |
| bench_wild.py | wild cluster restricted bootstrap, B = 9,999, 168,000 rows | wildboottest |
| bench_ri.py | exact randomization inference of programme_effect (120,120 assignments), time and memory | evalkit 0.1's enumeration (``--legacy COMMIT``), random draws |
| bench_fixest.py | regress with absorbed household + wave effects, 168,000 rows, community-clustered CR1/CR2 | pyfixest feols (skipped with a message if not installed) |
| bench_power.py | 1,000 simulated evaluations of community_effects on the shipped design, plain loop vs ProcessPoolExecutor | (speed-up over the loop; the 60 s on 2 cores target) |
"""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_design.py", "bench_scoring.py", "bench_reliability.py", "bench_did.py", "bench_did_design.py", "bench_wild.py", "bench_ri.py", "bench_fixest.py", "bench_power.py"]

if __name__ == "__main__":
    failed = []
    for name in SCRIPTS:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.call([sys.executable, str(HERE / name)]) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    sys.exit(1 if failed else 0)
