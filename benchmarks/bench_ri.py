"""Benchmark: randomization inference of :func:`evalkit.programme_effect` — time and peak memory.

Cases (each in a fresh interpreter, so peak memory is the case's own):

* ``random 999``: the shipped data (14 communities, start years 4 / 3 / 7, indicator
  ``selforg_member``) with ``n_perm=999`` — 999 random reassignments, the default until 2025;
* ``exact default``: the same with the new default, all 120,120 distinct reassignments;
* ``exact at the cap``: a synthetic 16-community panel with start years 4 / 4 / 8, i.e. 900,900
  assignments, near the 1,000,000 limit of exact enumeration — memory must stay bounded;
* ``legacy exact`` (only with ``--legacy COMMIT``): the implementation of that commit asked for
  all 120,120 (``n_perm=200000``), read with ``git show`` — 40 s and 5 GB before the change
  (commit ``3b362fa``), so it is opt-in.

Reported: wall time of ``programme_effect`` on the community panel (the survey means are
computed before timing), the traced peak of its own allocations (``tracemalloc``, separate run)
and the process's peak resident memory (``ru_maxrss``, which includes Python and the imports).

Run::

    .venv/bin/python benchmarks/bench_ri.py [--legacy 3b362fa]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASE = textwrap.dedent("""
    import importlib.util, json, resource, subprocess, sys, time, tracemalloc, warnings
    import numpy as np, pandas as pd
    import evalkit
    from evalkit.datasets import SURVEY_FILE, data_path
    from evalkit.evaluation.impact import community_panel, programme_effect
    warnings.simplefilter("ignore")
    case, legacy = sys.argv[1], sys.argv[2]
    if case == "exact at the cap":
        rng = np.random.default_rng(1)
        waves = [2014, 2015, 2016, 2017]
        starts = {f"c{i:02d}": (2015 if i < 4 else 2016 if i < 8 else None) for i in range(16)}
        panel = pd.DataFrame(rng.normal(size=(16, 4)), index=list(starts), columns=waves)
        kw = dict(registry=starts)
    else:
        study = evalkit.datasets.dongying()
        cb = study.codebook
        sv = evalkit.validate(evalkit.read_survey(data_path(SURVEY_FILE), study=study), study=study).valid
        design = evalkit.SurveyDesign(evalkit.score(sv, cb), weight="base_weight", strata="stratum", psu="psu")
        panel = community_panel(design, "selforg_member")
        kw = {"random 999": dict(n_perm=999), "exact default": {}, "legacy exact": dict(n_perm=200000)}[case]
        kw["registry"] = study.registry
    fn = programme_effect
    if case == "legacy exact":  # the 0.1 module (evalkit/impact.py at that commit) read the registry itself
        kw.pop("registry")
        src = subprocess.run(["git", "show", f"{legacy}:evalkit/impact.py"], capture_output=True, text=True,
                             check=True).stdout
        spec = importlib.util.spec_from_loader("evalkit._impact_legacy", loader=None)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        mod.__package__ = "evalkit"
        exec(compile(src, "legacy impact.py", "exec"), mod.__dict__)
        fn = mod.programme_effect
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    r = fn(panel, "selforg_member", **kw)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    fn(panel, "selforg_member", **kw)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"seconds": seconds, "traced_mb": traced / 2**20, "rss_mb": rss / 1024,
                      "rss_before_mb": rss0 / 1024, "n": r.n_assignments, "exact": bool(r.exact),
                      "p": r.p_value, "ci": list(r.ci)}))
""")


def run(case: str, legacy: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CASE, case, legacy], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{case} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--legacy", metavar="COMMIT", default="",
                    help="also time this commit's impact.py asked for exact RI (e.g. 3b362fa: ~40 s, ~5 GB)")
    args = ap.parse_args()
    cases = ["random 999", "exact default", "exact at the cap"] + (["legacy exact"] if args.legacy else [])
    print(f"{'case':<18} {'assignments':>12} {'exact':>6} {'time s':>8} {'traced MB':>10} "
          f"{'peak RSS MB':>12} {'p':>9}  ci")
    for case in cases:
        r = run(case, args.legacy)
        print(f"{case:<18} {r['n']:>12,} {str(r['exact']):>6} {r['seconds']:>8.2f} {r['traced_mb']:>10.1f} "
              f"{r['rss_mb']:>12.0f} {r['p']:>9.6f}  {r['ci'][0]:.6f} to {r['ci'][1]:.6f}")


if __name__ == "__main__":
    main()
