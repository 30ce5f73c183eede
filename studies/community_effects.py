"""Monte Carlo: size and coverage of :func:`evalkit.community_effects` when communities differ.

The data-generating process below is written for this study, independently of
:mod:`evalkit.datasets.simulate`, and breaks the assumptions under which the per-community DiD was first
checked (equal shock variances, no serial correlation, ~300 respondents everywhere):

* 14 communities observed in 4 waves (2014-2017); start years assigned at random in every
  replication: 4 communities start in 2015, 3 in 2016, 7 never (comparison communities);
* unequal sizes: a community's size is log-uniform on 40-600 respondents, each wave varies it by
  +-15% (kept within 40-600);
* strata = communities; PSUs (buildings) of 8-30 respondents, persisting across waves, each with a
  persistent building effect (SD 0.35); respondents are drawn afresh each wave;
* lognormal weights (log-SD 0.5), not related to the outcome;
* community-by-wave shocks ``u_ct`` AR(1) with ``rho = 0.6``, stationary SD ``sigma_c`` uniform on
  ``[s0, 3 s0]`` (threefold differences across communities; ``s0 = 0.05`` by default), community
  levels (SD 0.5) and common wave effects (SD 0.2);
* two outcomes: ``score = a_c + g_t + u_ct + b_cj + e`` (``e ~ N(0, 1)``) and a binary one,
  ``1[-0.5 + a_c + g_t + 2 u_ct + b_cj + e > 0]`` (prevalence about 0.35);
* no programme effect anywhere (the null), so a 95% interval covers the truth exactly when the
  test does not reject at 5% (the interval inverts the test).

Reported: the rejection rate at 5% and the 95% coverage of every post-start effect (and of the 2017
effects alone, the issue's headline), separately for small (< 150 respondents per wave) and large
programme communities, plus the pre-start placebo rows; MC standard error ``sqrt(p (1 - p) / n)``
(rows within a replication are correlated, so it is a lower bound; the replication-level
cluster-robust MC SE is also given for the headline rows).

Run (single process, about 0.2 s per replication)::

    .venv/bin/python studies/community_effects.py --reps 1000 --first-seed 20240 --write

``--rev REV`` runs the ``community_effects`` of ``evalkit/comparison.py`` as committed at git
revision ``REV`` (e.g. the version before the fix) on the same replications.
``--write`` appends the table to ``studies/community_effects_results.md``.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.evaluation.comparison import community_effects
from evalkit.survey.design import SurveyDesign

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("community_effects_results.md")
WAVES = np.array([2014, 2015, 2016, 2017])
N_COMM = 14
SMALL = 150  # respondents per wave below which a programme community counts as small


def draw(seed: int, *, s0: float = 0.05, rho: float = 0.6, sd_ratio: float = 3.0,
         n_range: tuple[int, int] = (40, 600)) -> tuple[pd.DataFrame, dict, dict]:
    """One synthetic survey under the null: (respondents, {community: start}, {community: size})."""
    rng = np.random.default_rng(seed)
    names = [f"c{i:02d}" for i in range(N_COMM)]
    starts = rng.permutation([2015] * 4 + [2016] * 3 + [None] * 7)
    lo, hi = np.log(n_range[0]), np.log(n_range[1])
    size = np.exp(rng.uniform(lo, hi, N_COMM))
    sigma = s0 * rng.uniform(1.0, sd_ratio, N_COMM)
    level = rng.normal(0, 0.5, N_COMM)
    wave_fx = rng.normal(0, 0.2, WAVES.size)
    u = np.empty((N_COMM, WAVES.size))
    u[:, 0] = rng.normal(0, sigma)
    for t in range(1, WAVES.size):
        u[:, t] = rho * u[:, t - 1] + np.sqrt(1 - rho ** 2) * rng.normal(0, sigma)
    parts = []
    for c in range(N_COMM):
        bfx = rng.normal(0, 0.35, 200)  # persistent building effects (more than ever needed)
        for t in range(WAVES.size):
            n = int(np.clip(round(size[c] * rng.uniform(0.85, 1.15)), *n_range))
            psu_sizes = []
            while sum(psu_sizes) < n:
                psu_sizes.append(int(rng.integers(8, 31)))
            psu_sizes[-1] -= sum(psu_sizes) - n
            if psu_sizes[-1] < 8 and len(psu_sizes) > 1:  # a remainder joins the previous building
                last = psu_sizes.pop()
                psu_sizes[-1] += last
            b = np.repeat(np.arange(len(psu_sizes)), psu_sizes)
            e = rng.normal(0, 1, n)
            common = level[c] + wave_fx[t] + bfx[b]
            parts.append(pd.DataFrame({
                "comm": names[c], "year": WAVES[t], "building": [f"{names[c]}-{j}" for j in b],
                "w": np.exp(rng.normal(0, 0.5, n)),
                "score": common + u[c, t] + e,
                "binary": (-0.5 + common + 2 * u[c, t] + e > 0).astype(float),
            }))
    data = pd.concat(parts, ignore_index=True)
    data.attrs["shock_sd"] = dict(zip(names, sigma))
    return data, dict(zip(names, starts)), dict(zip(names, size))


def load_method(rev: str | None):
    """``community_effects`` of the working tree, or as committed at git ``rev`` (0.1 layout:
    ``evalkit/comparison.py``; 0.2: ``evalkit/evaluation/comparison.py``)."""
    if rev is None:
        return community_effects
    for where, package in (("evalkit/evaluation/comparison.py", "evalkit.evaluation"),
                           ("evalkit/comparison.py", "evalkit")):
        got = subprocess.run(["git", "show", f"{rev}:{where}"], cwd=ROOT, capture_output=True, text=True)
        if got.returncode == 0:
            break
    else:
        raise SystemExit(f"no comparison.py at revision {rev}")
    path = Path(tempfile.gettempdir()) / f"evalkit_comparison_{rev}.py"
    path.write_text(got.stdout, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"{package}._comparison_{rev}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.community_effects


def one_rep(seed: int, method, **dgp) -> pd.DataFrame:
    data, starts, size = draw(seed, **dgp)
    design = SurveyDesign(data, weight="w", strata="comm", psu="building")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ce = method(design, ["score", "binary"], registry=starts, community="comm", wave="year")
    comm = "comm" if "comm" in ce.columns else "community_id"
    wave = "year" if "year" in ce.columns else "wave"
    ce = ce.rename(columns={comm: "community", wave: "wave_"})
    ce["size"] = ce["community"].map(size)
    ce["small"] = ce["size"] < SMALL
    ce["reject"] = ce["p_value"] <= 0.05
    ce["covered"] = (ce["ci_low"] <= 0) & (0 <= ce["ci_high"])
    ce["rep"] = seed
    if "shock_estimable" not in ce.columns:  # versions before the flag: truncated at zero
        ce["shock_estimable"] = ce["se_shock"] > 0
    ce["gap"] = (ce["wave_"] - ce["base_wave"]).abs()
    return ce[["rep", "community", "wave_", "gap", "event_time", "indicator", "small", "reject",
               "covered", "shock_estimable", "df", "se", "se_sampling", "se_shock"]]


def _rate(x: pd.Series, rep: pd.Series) -> str:
    p, n = float(x.mean()), x.size
    se = np.sqrt(p * (1 - p) / n)
    # replication-clustered MC SE: rows of one replication share the comparison communities
    dev = (x.astype(float) - p).groupby(rep.to_numpy()).sum()
    se_cl = np.sqrt((dev ** 2).sum()) / n
    return f"{100 * p:.1f} ({100 * se:.1f}; {100 * se_cl:.1f})"


def table(res: pd.DataFrame) -> list[str]:
    post = res[res["event_time"] >= 0]
    rows = [("post-start, all", post), ("post-start, small", post[post["small"]]),
            ("post-start, large", post[~post["small"]]),
            ("2017, all", post[post["wave_"] == 2017]),
            ("2017, small", post[(post["wave_"] == 2017) & post["small"]]),
            ("2017, large", post[(post["wave_"] == 2017) & ~post["small"]]),
            *[(f"post-start, large, base-to-wave gap {g}", post[~post["small"] & (post["gap"] == g)])
              for g in (1, 2, 3)],
            ("post, score", post[post["indicator"] == "score"]),
            ("post, binary", post[post["indicator"] == "binary"]),
            ("pre-start placebo", res[res["event_time"] < 0]),
            ("post, shock variance not estimable", post[~post["shock_estimable"]])]
    lines = ["| rows | n | rejection at 5%, % (MC SE; rep-clustered MC SE) | 95% coverage, % | median df |",
             "|---|---|---|---|---|"]
    for name, r in rows:
        if r.empty:
            lines.append(f"| {name} | 0 | | | |")
            continue
        lines.append(f"| {name} | {len(r)} | {_rate(r['reject'], r['rep'])} | "
                     f"{_rate(r['covered'], r['rep'])} | {r['df'].median():.1f} |")
    share = 100 * (~post["shock_estimable"]).mean()
    lines.append("")
    lines.append(f"Post-start rows whose shock variance was not estimable (truncated at zero before "
                 f"the fix, flagged after): {share:.1f}% (score "
                 f"{100 * (~post.loc[post.indicator == 'score', 'shock_estimable']).mean():.1f}%, binary "
                 f"{100 * (~post.loc[post.indicator == 'binary', 'shock_estimable']).mean():.1f}%).")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--first-seed", type=int, default=20240)
    ap.add_argument("--rev", default=None, help="git revision of evalkit/comparison.py to run")
    ap.add_argument("--s0", type=float, default=0.05, help="smallest shock SD")
    ap.add_argument("--rho", type=float, default=0.6)
    ap.add_argument("--sd-ratio", type=float, default=3.0)
    ap.add_argument("--write", action="store_true", help="append the table to the results file")
    args = ap.parse_args()
    method = load_method(args.rev)
    t0 = time.time()
    res = pd.concat([one_rep(args.first_seed + r, method, s0=args.s0, rho=args.rho,
                             sd_ratio=args.sd_ratio) for r in range(args.reps)], ignore_index=True)
    took = time.time() - t0
    cmd = " ".join(["studies/community_effects.py", *sys.argv[1:]])
    head = [f"### `{cmd}`", "",
            f"Code: community_effects {'at ' + args.rev if args.rev else 'of the working tree'}; "
            f"seeds {args.first_seed}-{args.first_seed + args.reps - 1}; s0 = {args.s0}, "
            f"rho = {args.rho}, SD ratio = {args.sd_ratio}; run time {took:.0f} s (one process).", ""]
    lines = head + table(res) + [""]
    print("\n".join(lines))
    if args.write:
        with OUT.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
