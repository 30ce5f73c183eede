"""Monte Carlo: coverage of HonestDiD's robust intervals on evalkit's event studies with 14 communities.

Design (written for this study, independently of :mod:`evalkit.datasets.simulate`), shaped like the
shipped Dongying design:

* 14 communities, 4 survey waves 2014-2017; 4 programme communities start in 2015, 3 in 2016, 7 never
  (comparison communities); 300 respondents per community and wave, drawn afresh each wave
  (repeated cross-sections, as shipped);
* ``y = community level (SD 0.5) + wave effect (SD 0.2) + community-by-wave shock (SD --shock, 0.10)
  + respondent error (SD 1) + programme effect + violation of parallel trends``; the programme
  effect of the 2016 starters is 0.20 in 2016 (e = 0) and 0.30 in 2017 (e = 1), of the 2015 starters
  0.2, 0.3, 0.3;
* the violation ``delta_e`` (added to the 2016 starters' cells, event time e, base e = -1 so
  ``delta_-1 = 0``) is one of

  - ``parallel``: none;
  - ``linear``: a linear differential trend ``delta_e = 0.10 (e + 1)`` (in Delta^SD(M) for every M
    and in Delta^RM(Mbar) for Mbar >= 1);
  - ``break``: no pre-trend, then a trend of 0.10 a year from the start (second difference 0.10 at
    the start: in Delta^SD(M) for M >= 0.10, in no Delta^RM, whose pre-trend is 0);
  - ``bounce``: a pre-period violation of 0.10 that continues at half the size and turns back
    (``delta = -0.10, [0], 0.05, 0``: in Delta^RM(Mbar) for Mbar >= 0.5 and in Delta^SD(M) for
    M >= 0.10).

Each replication fits the 2016 cohort's event study with evalkit
(``att_gt(2016 starters + comparison communities, panel=False, cluster="community",
base_period="universal").aggregate("dynamic")``, its ``vcov()``; the 2015 cohort has no event
time before the base period and cannot be checked) and computes the robust intervals of the
effect in the latest wave (``l_vec = (0, 1)``, the report's headline) with
:func:`evalkit.did.honest.sensitivity`: smoothness with the FLCI and relative magnitudes with the
C-LF hybrid, each with normal critical values (``df=inf``, HonestDiD) and with t critical values on
the community df (``df = G - 1 = 9``, G communities in the event study). A violation enters the
estimates additively and leaves their covariance unchanged (the estimator is linear in the cell
means, the influence functions are centred within cells): the first replication checks this by
refitting every scenario (to 1e-9) and the others add ``delta`` to the fitted estimates.

Reported: coverage of the true effect with its Monte Carlo standard error, for every bound, with
whether the violation lies inside the restriction at that bound; the original (unrestricted)
interval's coverage; the Wald pre-test's rejection rate.

Run::

    .venv/bin/python studies/honest_coverage.py --reps 500 --first-seed 1 --jobs 2 --write

``--write`` appends the table to ``studies/honest_coverage_results.md``.
"""
from __future__ import annotations

import argparse
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.did.estimator import att_gt

OUT = Path(__file__).with_name("honest_coverage_results.md")
WAVES = (2014, 2015, 2016, 2017)
STARTS = (2015,) * 4 + (2016,) * 3 + (0,) * 7
N = 300
EFFECT = {2015: {0: 0.2, 1: 0.3, 2: 0.3}, 2016: {0: 0.2, 1: 0.3}}
EVENT_TIMES = (-2, 0, 1)  # of the 2016 cohort, base -1 left out
SCENARIOS = {
    "parallel": (0.0, 0.0, 0.0),
    "linear": (-0.10, 0.10, 0.20),
    "break": (0.0, 0.10, 0.20),
    "bounce": (-0.10, 0.05, 0.0),
}
BOUNDS = {"smoothness": (0.0, 0.05, 0.10), "relative_magnitude": (0.0, 0.5, 1.0, 2.0)}
METHODS = {"smoothness": "FLCI", "relative_magnitude": "C-LF"}
L_VEC = np.array([0.0, 1.0])
THETA = EFFECT[2016][1]


def inside(delta, restriction: str, bound: float) -> bool:
    """Is the violation (pre then post, base 0 left out) in Delta^SD(bound) / Delta^RM(bound)?

    The definitions of Rambachan & Roth (2023): SD bounds every second difference of the path
    (base included) by M; RM bounds every post-start first difference by Mbar times the largest
    pre-start one.
    """
    path = np.r_[delta[0], 0.0, delta[1:]]
    if restriction == "smoothness":
        return bool(np.max(np.abs(np.diff(path, 2))) <= bound + 1e-12)
    first = np.diff(path)
    return bool(np.max(np.abs(first[1:])) <= bound * np.max(np.abs(first[:1])) + 1e-12)


def draw(seed: int, shock: float, shift=(0.0, 0.0, 0.0)) -> pd.DataFrame:
    """One survey: respondents of every community and wave (``shift``: violation of the 2016 starters)."""
    rng = np.random.default_rng(seed)
    G = len(STARTS)
    level = 0.5 * rng.normal(size=G)
    wave_eff = 0.2 * rng.normal(size=len(WAVES))
    shocks = shock * rng.normal(size=(G, len(WAVES)))
    add = dict(zip((2014, 2016, 2017), shift))
    parts = []
    for g, start in enumerate(STARTS):
        for j, w in enumerate(WAVES):
            mu = level[g] + wave_eff[j] + shocks[g, j]
            if start:
                mu += EFFECT[start].get(w - start, 0.0)
            if start == 2016:
                mu += add.get(w, 0.0)
            parts.append(pd.DataFrame({"community": g, "wave": w, "first": start, "y": mu + rng.normal(size=N)}))
    return pd.concat(parts, ignore_index=True)


def event_study(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, float]:
    """The 2016 cohort's event study by att_gt: estimates at e = -2, 0, 1, their covariance, df = G - 1."""
    sub = data[data["first"].isin([0, 2016])]
    agg = att_gt(sub, y="y", group="first", time="wave", panel=False, cluster="community",
                 base_period="universal").aggregate("dynamic")
    keep = np.array([float(e) in EVENT_TIMES for e in agg.levels])
    return np.asarray(agg.att)[keep], np.asarray(agg.vcov())[np.ix_(keep, keep)], float(sub["community"].nunique() - 1)


def _study():
    """A study of the simulated design (the shipped codebook, this registry; weights 1, a PSU per respondent)."""
    import dataclasses

    from evalkit.datasets import dongying

    base = dongying()
    reg = pd.DataFrame({"community_id": [f"c{g:02d}" for g in range(len(STARTS))],
                        "start_year": pd.array([s if s else None for s in STARTS], dtype="Int64"),
                        "target_indicators": ["y" if s else None for s in STARTS]})
    roles = dataclasses.replace(base.roles, unit=None, household=None, role=None, strata=None)
    return dataclasses.replace(base, registry=reg, roles=roles)


def headline_study(data: pd.DataFrame, study) -> tuple[np.ndarray, np.ndarray, float]:
    """The report's route: the first 2016 starter's headline as an event study (summary's estimator)."""
    from evalkit.evaluation.honest_summary import headline_event_study

    d = data.assign(community_id=data["community"].map(lambda g: f"c{g:02d}"), base_weight=1.0,
                    psu=np.arange(len(data)))
    es = headline_event_study(d, study, communities=[f"c{STARTS.index(2016):02d}"])[0]
    if es.why is not None or list(es.event_times) != list(EVENT_TIMES):
        raise RuntimeError(f"no event study: {es.why}")
    return es.betahat, es.sigma, es.df


def fits(data: pd.DataFrame, study) -> dict:
    return {"att_gt cohort (cluster: community)": event_study(data), "report headline (one community)":
            headline_study(data, study)}


def _check_additive(seed: int, shock: float, study, fitted: dict) -> None:
    for name, delta in SCENARIOS.items():
        for route, (b, s, df) in fits(draw(seed, shock, delta), study).items():
            b0, s0, df0 = fitted[route]
            if not (np.allclose(b, b0 + np.array(delta), atol=1e-9) and np.allclose(s, s0, atol=1e-12)):
                raise RuntimeError(f"{route}, scenario {name}: refitted estimates differ from fitted + delta")


def one(seed: int, shock: float, check: bool) -> list[dict]:
    from evalkit.did.honest import sensitivity

    study = _study()
    fitted = fits(draw(seed, shock), study)
    if check:
        _check_additive(seed, shock, study, fitted)
    out = []
    for route, (beta0, sigma, df_t) in fitted.items():
        se = float(np.sqrt(L_VEC @ sigma[1:, 1:] @ L_VEC))
        for name, delta in SCENARIOS.items():
            b = beta0 + np.array(delta)
            est = float(L_VEC @ b[1:])
            base = {"seed": seed, "route": route, "scenario": name,
                    "pretest_reject": bool(abs(b[0] / np.sqrt(sigma[0, 0])) > 1.959964)}
            out.append({**base, "restriction": "none", "method": "original", "bound": np.nan, "df": np.inf,
                        "covered": abs(est - THETA) <= 1.959964 * se, "length": 2 * 1.959964 * se,
                        "inside": not any(delta[1:])})
            for restriction, bounds in BOUNDS.items():
                for df in (np.inf, df_t):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        res = sensitivity(b, sigma, 1, 2, restriction=restriction, bounds=list(bounds),
                                          method=METHODS[restriction], l_vec=L_VEC, level=0.95, df=df)
                    for r in res.tidy().itertuples():
                        lo, hi = float(r.ci_low), float(r.ci_high)
                        out.append({**base, "restriction": restriction, "method": METHODS[restriction],
                                    "bound": float(r.bound), "df": df, "covered": bool(lo <= THETA <= hi),
                                    "length": hi - lo, "inside": inside(delta, restriction, float(r.bound))})
    return out


def run(reps: int, first_seed: int, shock: float, jobs: int) -> pd.DataFrame:
    seeds = range(first_seed, first_seed + reps)
    checks = [s == first_seed for s in seeds]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            parts = list(ex.map(one, seeds, [shock] * reps, checks, chunksize=max(1, reps // (4 * jobs))))
    else:
        parts = [one(s, shock, c) for s, c in zip(seeds, checks)]
    return pd.DataFrame([r for p in parts for r in p])


def table(res: pd.DataFrame) -> pd.DataFrame:
    res = res.assign(crit=np.where(np.isfinite(res["df"]), "t", "normal"))
    g = res.groupby(["route", "scenario", "restriction", "method", "bound", "inside", "crit"], dropna=False, sort=False)
    tab = g.agg(coverage=("covered", "mean"), reps=("covered", "size"), length=("length", "median"),
                pretest=("pretest_reject", "mean")).reset_index()
    tab["mc_se"] = np.sqrt(tab["coverage"] * (1 - tab["coverage"]) / tab["reps"])
    return tab


def _cell(r, what: str, crit: str, fmt: str) -> str:
    v = r.get((what, crit), np.nan)
    return "-" if pd.isna(v) else format(v, fmt)


def markdown(tab: pd.DataFrame, args, seconds: float) -> str:
    tab = tab.assign(bound=[("" if pd.isna(b) else f"{b:g}") for b in tab["bound"]])
    wide = tab.pivot_table(index=["route", "scenario", "restriction", "method", "bound", "inside"],
                           columns="crit", values=["coverage", "mc_se", "length"], sort=False)
    lines = [f"## {time.strftime('%Y-%m-%d')}: reps={args.reps}, seeds {args.first_seed}..{args.first_seed + args.reps - 1}, "
             f"shock SD {args.shock}, {seconds:.0f} s with {args.jobs} process(es)", "",
             "| route | scenario | restriction | method | bound | violation inside | coverage, normal (MC SE) | "
             "coverage, t (MC SE) | median length normal / t |", "|---|---|---|---|---|---|---|---|---|"]
    for key, r in wide.iterrows():
        route, scen, restr, meth, bound, ins = key
        lines.append(f"| {route} | {scen} | {restr} | {meth} | {bound} | "
                     f"{'yes' if ins else 'no'} | {_cell(r, 'coverage', 'normal', '.3f')} ({_cell(r, 'mc_se', 'normal', '.3f')}) | "
                     f"{_cell(r, 'coverage', 't', '.3f')} ({_cell(r, 'mc_se', 't', '.3f')}) | "
                     f"{_cell(r, 'length', 'normal', '.3f')} / {_cell(r, 'length', 't', '.3f')} |")
    pre = tab.groupby(["route", "scenario"], sort=False)["pretest"].first()
    lines += ["", "Pre-test (|t| of the e = -2 placebo > 1.96) rejection rate: "
              + "; ".join(f"{r}, {k}: {v:.3f}" for (r, k), v in pre.items()), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--shock", type=float, default=0.10)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    res = run(args.reps, args.first_seed, args.shock, args.jobs)
    text = markdown(table(res), args, time.time() - t0)
    print(text)
    if args.write:
        with OUT.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
