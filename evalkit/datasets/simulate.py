"""Synthetic Dongying survey data with planted programme effects.

``simulate()`` builds a household panel survey of the 14 communities of the shipped registry
(7 programme, 7 fictional comparison communities) for the waves 2014 (baseline) to 2017, with
item-level answers generated from latent traits, a two-stage sample (PSUs = buildings or villager
groups, then households), panel attrition and refreshment, item non-response that depends on
observed traits, and programme effects that differ by community and domain. Both potential
outcomes are generated from the same random draws, so the truth file records the effect of the
programme on every scored indicator exactly: the base-weighted mean of score(Y1) − score(Y0)
among the respondents of a programme community in a programme year.

Regenerate the shipped files (byte-identical for the same seed)::

    python -m evalkit simulate --out evalkit/datasets/dongying

Every number here is invented. The seven programme communities carry their real names; their data
do not describe them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .._spreadsheet import FORMULA_STARTS, formula_safe, write_csv  # noqa: F401  (their home since 0.2)
from .shipped import SEED, dongying  # noqa: F401  (SEED: evalkit.datasets.simulate.SEED stays the seed)
WAVES = (2014, 2015, 2016, 2017)

TRAITS = (
    "wellbeing", "lonely", "belonging", "cohesion", "control", "particip", "selforg", "grid",
    "care", "kidwb", "support",
)

# Planted programme effects on latent traits (in SD units of the trait), by years since the
# programme started (event time e = wave − start year: e = 0, 1, 2). `group` restricts an effect
# to one respondent role. The truth file turns these into effects on every scored indicator.
EFFECTS: dict[str, list[dict]] = {
    # community building: participation and belonging grow
    "anning": [
        {"trait": "particip", "by_e": (0.30, 0.45, 0.55), "group": None},
        {"trait": "belonging", "by_e": (0.25, 0.35, 0.40), "group": None},
    ],
    # grid management: residents know and rate their grid worker, take part in grid self-governance
    "shenghong": [
        {"trait": "grid", "by_e": (0.60, 0.75, 0.85), "group": None},
    ],
    # neighbourhood mutual help: NO EFFECT planted (the null community)
    "xingsheng": [],
    # mutual-aid elderly care: loneliness down, care access and mutual-help ties up, 60+ only
    "mingyue": [
        {"trait": "lonely", "by_e": (-0.45, -0.55, -0.60), "group": "elderly"},
        {"trait": "care", "by_e": (0.50, 0.60, 0.70), "group": "elderly"},
    ],
    # self-organisation incubation: membership up, a little more participation
    "shengxing": [
        {"trait": "selforg", "by_e": (0.60, 0.80), "group": None},
        {"trait": "particip", "by_e": (0.10, 0.20), "group": None},
    ],
    # courtyard culture: an effect that FADES (strong in the first year, weak in the second)
    "heping": [
        {"trait": "selforg", "by_e": (1.00, 0.25), "group": None},
        {"trait": "belonging", "by_e": (0.60, 0.15), "group": None},
    ],
    # left-behind children: wellbeing and support network of children
    "yangmiao": [
        {"trait": "kidwb", "by_e": (0.35, 0.45, 0.55), "group": "child"},
        {"trait": "support", "by_e": (0.50, 0.60, 0.70), "group": "child"},
    ],
}

# Which latent trait drives which indicator (for the `targeted` flag of the truth file).
TRAIT_OF_SCALE = {
    "who5": "wellbeing", "swemwbs": "wellbeing", "life_satisfaction": "wellbeing",
    "ucla3": "lonely", "bscs": "belonging", "cohesion": "cohesion", "social_control": "control",
    "collective_efficacy": "cohesion", "trust_neighbours": "cohesion",
    "participation_any": "particip", "participation_frequency": "particip",
    "volunteering_any": "particip", "volunteering_hours": "particip", "deliberation": "particip",
    "participation_ladder": "particip", "selforg_member": "selforg", "grid_selfgov": "grid",
    "grid_awareness": "grid", "grid_satisfaction": "grid", "care_access": "care",
    "mutual_help_ties": "care", "kidscreen10": "kidwb", "child_support_network": "support",
    "child_peer_support": "support",
}


@dataclass(frozen=True)
class SimulatedSurvey:
    """The output of :func:`simulate`."""

    survey: pd.DataFrame  # the tidy survey table (codes, missing-value codes kept)
    truth: pd.DataFrame  # planted effects on every indicator
    y0: pd.DataFrame  # items under no programme (NaN where missing), same rows as survey
    y1: pd.DataFrame  # items under the programme


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _ordinal(latent, n_cat, centre, spread, lowest=0):
    """Categories lowest..lowest+n_cat-1 by thresholds equally spaced around `centre`."""
    cuts = centre + spread * np.linspace(-1.0, 1.0, n_cat - 1)
    return lowest + (latent[:, None] > cuts[None, :]).sum(axis=1)


def _frame(registry: pd.DataFrame, rng: np.random.Generator, n_target: int):
    """Sample PSUs and households, and follow them over the waves (attrition and refreshment)."""
    rows = []
    persons = {}  # person id -> static attributes
    for c in registry.itertuples(index=False):
        rural = c.urban_rural == "rural"
        n_psu, m_psu = (12, 8) if rural else (20, 12)
        psu_sizes = rng.integers(40, 121, n_psu) if rural else rng.integers(80, 221, n_psu)
        sampled = np.sort(rng.choice(n_psu, m_psu, replace=False))
        hh_target = int(round(n_target / (1.35 if rural else 1.0) / m_psu))
        elderly_share = 0.45 if c.community_id == "mingyue" else 0.30
        next_hh = 0
        current: dict[int, list[str]] = {}  # psu -> household ids currently in the panel
        for wave in WAVES:
            for j in sampled:
                psu = f"{c.community_id}-P{j + 1:02d}"
                kept = []
                for hh in current.get(j, []):
                    a = persons[hh + "-A"]
                    age_now = a["age0"] + (wave - a["wave0"])
                    p_stay = 0.86 - 0.08 * (age_now < 30) - 0.06 * (age_now >= 80)
                    if rng.random() < p_stay:
                        kept.append(hh)
                while len(kept) < hh_target:
                    next_hh += 1
                    hh = f"{c.community_id}-H{next_hh:04d}"
                    kept.append(hh)
                    u = rng.random()
                    if u < elderly_share:
                        age = int(rng.integers(60, 90))
                    elif u < elderly_share + 0.35:
                        age = int(rng.integers(18, 40))
                    else:
                        age = int(rng.integers(40, 60))
                    persons[hh + "-A"] = {
                        "age0": age, "wave0": wave, "sex": int(rng.integers(1, 3)),
                        "education": int(rng.choice([1, 2, 3, 4], p=[0.30, 0.35, 0.22, 0.13]
                                                    if age >= 60 else [0.08, 0.30, 0.32, 0.30])),
                        "years0": int(min(age - 17, rng.integers(0, 40))),
                        "n_adults": int(rng.integers(1, 5)),
                    }
                    if rural and rng.random() < 0.40:
                        persons[hh + "-C"] = {
                            "age0": int(rng.integers(8, 16)), "wave0": wave,
                            "sex": int(rng.integers(1, 3)), "left_behind": int(rng.random() < 0.55),
                            "years0": 0, "n_children": int(rng.integers(1, 3)),
                        }
                current[j] = kept
                n_hh = len(kept)
                for hh in kept:
                    for suffix in ("-A", "-C"):
                        pid = hh + suffix
                        if pid not in persons:
                            continue
                        p = persons[pid]
                        age = p["age0"] + (wave - p["wave0"])
                        if suffix == "-C" and age > 17:
                            continue
                        within = p["n_adults"] if suffix == "-A" else p["n_children"]
                        weight = (n_psu / m_psu) * (psu_sizes[j] / n_hh) * within
                        rows.append({
                            "respondent_id": pid, "household_id": hh, "community_id": c.community_id,
                            "wave": wave, "stratum": c.community_id, "psu": psu,
                            "base_weight": round(float(weight), 4), "sex": p["sex"], "age": age,
                            "residence_years": p["years0"] + (wave - p["wave0"]) if suffix == "-A"
                            else age,
                            "education": p.get("education"), "left_behind": p.get("left_behind"),
                        })
    df = pd.DataFrame(rows)
    df["role"] = np.where(df["respondent_id"].str.endswith("-C"), "child",
                          np.where(df["age"] >= 60, "elderly", "adult"))
    df["age_group"] = pd.cut(df["age"], [7, 17, 39, 59, 200], labels=["8-17", "18-39", "40-59", "60+"]
                             ).astype(str)
    return df


def _latent(df, registry, rng, effects):
    """Latent traits under no programme (theta0) and the programme effect on each (tau)."""
    n = len(df)
    k = len(TRAITS)
    comm = df["community_id"].to_numpy()
    ids = registry["community_id"].tolist()
    ci = pd.Categorical(comm, categories=ids).codes
    wi = df["wave"].to_numpy() - WAVES[0]
    # community levels, community x wave shocks (these make communities, not people, the unit of
    # inference), common year effects
    mu = rng.normal(0.0, 0.30, (len(ids), k))
    programme = (registry["role"] == "programme").to_numpy()
    mu[programme, TRAITS.index("particip")] -= 0.25  # programmes went to less active communities
    shock = rng.normal(0.0, 0.10, (len(ids), len(WAVES), k))
    year = np.outer(np.arange(len(WAVES)), rng.normal(0.04, 0.03, k))
    # persistent person effects (correlated traits), keyed by respondent so the panel links
    corr = np.full((k, k), 0.25) + 0.75 * np.eye(k)
    wb, lo = TRAITS.index("wellbeing"), TRAITS.index("lonely")
    corr[wb, lo] = corr[lo, wb] = -0.45
    chol = np.linalg.cholesky(corr)
    people = pd.unique(df["respondent_id"])
    person_eff = (rng.standard_normal((len(people), k)) @ chol.T) * 0.85
    pi = pd.Index(people).get_indexer(df["respondent_id"])
    theta0 = mu[ci] + shock[ci, wi] + year[wi] + person_eff[pi] + rng.normal(0, 0.5, (n, k))
    # observed characteristics shape the traits
    elderly = (df["role"] == "elderly").to_numpy()
    low_edu = (df["education"] == 1).to_numpy()
    theta0[:, TRAITS.index("particip")] += 0.30 * elderly
    theta0[:, lo] += 0.35 * elderly
    theta0[:, wb] -= 0.25 * low_edu
    theta0[:, TRAITS.index("kidwb")] -= 0.45 * (df["left_behind"] == 1).to_numpy()
    theta0[:, TRAITS.index("support")] -= 0.40 * (df["left_behind"] == 1).to_numpy()

    start = registry.set_index("community_id")["start_year"]
    tau = np.zeros((n, k))
    for cid, planted in effects.items():
        g = int(start[cid])
        for eff in planted:
            for e, size in enumerate(eff["by_e"]):
                mask = (comm == cid) & (df["wave"].to_numpy() == g + e)
                if eff["group"] is not None:
                    mask &= (df["role"] == eff["group"]).to_numpy()
                tau[mask, TRAITS.index(eff["trait"])] = size
    return theta0, tau


def _items(theta: np.ndarray, df: pd.DataFrame, noise: dict) -> pd.DataFrame:
    """Item answers from latent traits; `noise` holds every random draw so Y0 and Y1 share them."""
    t = {name: theta[:, i] for i, name in enumerate(TRAITS)}
    out = {}
    adult = (df["role"] != "child").to_numpy()
    elderly = (df["role"] == "elderly").to_numpy()
    child = ~adult

    def ordinal(prefix, trait, n_items, n_cat, centre, spread, lowest, loadings, reverse=()):
        for i in range(n_items):
            name = f"{prefix}{i + 1}"
            lat = loadings[i] * trait + noise[name]
            if name in reverse:
                lat = -lat
            out[name] = _ordinal(lat, n_cat, centre, spread, lowest).astype(float)

    ordinal("who5_", t["wellbeing"], 5, 6, 0.2, 2.2, 0, (1.0, 0.9, 1.1, 0.8, 1.0))
    ordinal("swemwbs_", t["wellbeing"], 7, 5, -0.3, 1.9, 1, (0.9, 1.0, 0.8, 1.0, 0.9, 0.8, 0.7))
    ordinal("ucla_", t["lonely"], 3, 3, 0.6, 0.9, 1, (1.1, 1.0, 1.2))
    ordinal("bscs_", t["belonging"], 8, 5, -0.4, 1.8, 1, (0.9, 0.8, 1.1, 1.1, 0.8, 0.7, 1.0, 0.9))
    ordinal("ce_coh_", t["cohesion"], 5, 5, -0.3, 1.8, 1, (1.0, 1.0, 0.9, 0.8, 0.7),
            reverse=("ce_coh_4", "ce_coh_5"))
    ordinal("ce_ctl_", t["control"], 5, 5, -0.2, 1.8, 1, (0.9, 1.0, 0.9, 0.8, 0.8))
    ordinal("care_", t["care"], 3, 4, 0.0, 1.5, 1, (1.0, 0.8, 0.9))
    ordinal("kid_", t["kidwb"], 10, 5, -0.4, 1.8, 1, (1.0, 0.9, 0.9, 1.0, 0.8, 0.8, 0.7, 0.9, 0.8, 0.8),
            reverse=("kid_3", "kid_4"))
    out["life_sat"] = np.clip(np.round(6.3 + 1.4 * t["wellbeing"] + noise["life_sat"]), 0, 10)
    out["trust_nb"] = _ordinal(0.9 * t["cohesion"] + noise["trust_nb"], 5, -0.3, 1.8, 1).astype(float)
    out["part_freq"] = _ordinal(1.0 * t["particip"] + noise["part_freq"], 5, 0.6, 1.5, 0).astype(float)
    out["part_any"] = (out["part_freq"] > 0).astype(float)
    out["vol_any"] = (noise["vol_any"] < _sigmoid(-0.9 + 1.1 * t["particip"])).astype(float)
    hours = np.round(np.exp(2.6 + 0.5 * t["particip"] + noise["vol_hours"]))
    out["vol_hours"] = np.where(out["vol_any"] == 1, np.clip(hours, 1, 2000), 0.0)
    out["selforg"] = (noise["selforg"] < _sigmoid(-1.2 + 0.6 * t["particip"] + 1.0 * t["selforg"])
                      ).astype(float)
    out["deliberation"] = (noise["deliberation"] < _sigmoid(-1.6 + 1.2 * t["particip"])).astype(float)
    out["grid_selfgov"] = (noise["grid_selfgov"] < _sigmoid(-1.8 + 0.5 * t["particip"] + 0.9 * t["grid"])
                           ).astype(float)
    out["ladder"] = _ordinal(1.0 * t["particip"] + noise["ladder"], 6, 0.3, 1.8, 0).astype(float)
    out["grid_aware"] = (noise["grid_aware"] < _sigmoid(-0.2 + 1.3 * t["grid"])).astype(float)
    sat = _ordinal(1.0 * t["grid"] + noise["grid_sat"], 5, -0.4, 1.8, 1).astype(float)
    out["grid_sat"] = np.where(out["grid_aware"] == 1, sat, np.nan)  # only asked of the aware
    mu_ties = np.exp(1.0 + 0.45 * t["care"])
    out["mutual_ties"] = np.minimum(stats.poisson.ppf(noise["mutual_ties"], mu_ties), 30)
    mu_sup = np.exp(1.1 + 0.40 * t["support"])
    out["support_n"] = np.minimum(stats.poisson.ppf(noise["support_n"], mu_sup), 20)
    out["peer_group"] = (noise["peer_group"] < _sigmoid(-1.0 + 0.8 * t["support"])).astype(float)

    items = pd.DataFrame(out, index=df.index)
    adult_items = [c for c in items.columns if not c.startswith(("kid_", "support_n", "peer_group",
                                                                  "care_", "mutual_ties"))]
    items.loc[~adult, adult_items] = np.nan
    items.loc[~elderly, ["care_1", "care_2", "care_3", "mutual_ties"]] = np.nan
    items.loc[~child, [f"kid_{i}" for i in range(1, 11)] + ["support_n", "peer_group"]] = np.nan
    return items


_NOISE_UNIFORM = ("vol_any", "selforg", "deliberation", "grid_selfgov", "grid_aware", "mutual_ties",
                  "support_n", "peer_group")
_OPINION = ("bscs_", "ce_", "trust_nb", "grid_sat")


def _noise(item_names, n, rng):
    noise = {}
    for name in item_names:
        if name in _NOISE_UNIFORM:
            noise[name] = rng.random(n)
        elif name == "vol_hours":
            noise[name] = rng.normal(0, 0.8, n)
        else:
            noise[name] = rng.normal(0, 0.8, n)
    return noise


def _missing(items: pd.DataFrame, df: pd.DataFrame, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item non-response that depends on observed traits (age, education): MAR by design.

    Returns the NaN mask applied to both potential outcomes and the codes shown in the export
    (97 don't know, 98 refused, blank) for the masked cells.
    """
    n, k = items.shape
    age = df["age"].to_numpy()
    low_edu = (df["education"] == 1).to_numpy()
    base = -3.7 + 0.9 * (age >= 70) + 0.6 * low_edu
    p = _sigmoid(base)[:, None] * np.ones((1, k))
    miss = rng.random((n, k)) < p
    miss &= items.notna().to_numpy()
    reason = rng.random((n, k))
    opinion = np.array([c.startswith(_OPINION) for c in items.columns])
    codes = np.where(opinion[None, :],
                     np.where(reason < 0.6, 97.0, np.where(reason < 0.7, 98.0, np.nan)),
                     np.where(reason < 0.15, 98.0, np.nan))
    export_codes = pd.DataFrame(np.where(miss, codes, np.nan), index=items.index, columns=items.columns)
    return pd.DataFrame(miss, index=items.index, columns=items.columns), export_codes


def simulate(seed: int = SEED, *, n_per_wave: int = 300, registry: pd.DataFrame | None = None,
             codebook=None, effects: dict | None = None) -> SimulatedSurvey:
    """Generate the synthetic Dongying survey and its truth table.

    Parameters
    ----------
    seed
        Seed of the one random generator used throughout (``numpy.random.default_rng``).
    n_per_wave
        Target respondents per community and wave (about 300; rural communities add children).
    registry, codebook
        Default to the shipped ``communities.csv`` and ``codebook.yaml`` (:mod:`evalkit.datasets`).
    effects
        Planted effects in the form of :data:`EFFECTS` (default). ``{}`` plants none: the
        null world used by the Monte Carlo studies in ``studies/``.

    Returns
    -------
    SimulatedSurvey
        ``survey`` (the tidy survey table in codebook column order, answers as codes, missing
        answers as blank or missing-value codes 97/98/99), ``truth`` (see the shipped data's ``README.md``),
        and the two potential-outcome item tables ``y0`` and ``y1``.
    """
    from ..measure.scales import score

    if registry is None or codebook is None:
        shipped = dongying()
        registry = shipped.registry if registry is None else registry
        codebook = shipped.codebook if codebook is None else codebook
    rng = np.random.default_rng(seed)
    df = _frame(registry, rng, n_per_wave)
    effects = EFFECTS if effects is None else effects
    theta0, tau = _latent(df, registry, rng, effects)
    noise = _noise(list(codebook.items), len(df), rng)
    y0 = _items(theta0, df, noise)
    y1 = _items(theta0 + tau, df, noise)
    miss, export_codes = _missing(y1, df, rng)
    for col in export_codes.columns:  # items with their own missing codes (e.g. hours: 9997/9998)
        own = {r: c for c, r in codebook.items[col].missing_codes.items()}
        glob = {c: own.get(m.reason, c) for c, m in codebook.missing_codes.items()}
        export_codes[col] = export_codes[col].map(lambda v: glob.get(v, v) if v == v else v)
    y0 = y0.mask(miss)
    y1 = y1.mask(miss)
    start = registry.set_index("community_id")["start_year"]
    g = df["community_id"].map(start).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    treated = (df["wave"].to_numpy() >= g)
    observed = y0.where(np.repeat(~treated[:, None], y0.shape[1], axis=1), y1)
    # what the export shows: answers, or the missing-value code where the answer is missing
    shown = observed.where(~miss, export_codes)
    na_code = {r: c for c, r in codebook.items["grid_sat"].missing_codes.items()}["not_applicable"]
    shown.loc[observed["grid_aware"].eq(0) & ~miss["grid_sat"], "grid_sat"] = float(na_code)
    survey = pd.concat([df, shown], axis=1)
    survey = survey[[c for c in codebook.columns if c in survey.columns]]
    for col in codebook.columns:
        var = codebook.variables[col]
        if var.type in ("integer", "code"):
            survey[col] = survey[col].astype("Int64")
    truth = _truth(df, y0, y1, treated, registry, codebook, score, effects)
    return SimulatedSurvey(survey=survey.reset_index(drop=True), truth=truth,
                           y0=y0.reset_index(drop=True), y1=y1.reset_index(drop=True))


def _truth(df, y0, y1, treated, registry, codebook, score, effects) -> pd.DataFrame:
    s0 = score(pd.concat([df, y0], axis=1), codebook, bands=False)
    s1 = score(pd.concat([df, y1], axis=1), codebook, bands=False)
    start = registry.set_index("community_id")["start_year"]
    rows = []
    planted = {(c, e["trait"]): e for c, effs in effects.items() for e in effs}
    for (cid, wave), idx in df[treated].groupby(["community_id", "wave"]).groups.items():
        g = int(start[cid])
        e = wave - g
        for name, scale in codebook.scales.items():
            trait = TRAIT_OF_SCALE.get(name)
            eff = planted.get((cid, trait))
            # the indicator's own population, and for adult indicators also the residents 60+
            groups = [(scale.group or "adults", None)]
            if scale.group is None:
                groups.append(("elderly", "elderly"))
            for label, role in groups:
                sub = idx if role is None else idx[df.loc[idx, "role"].to_numpy() == role]
                a, b = s0.loc[sub, name], s1.loc[sub, name]
                ok = a.notna() & b.notna()
                if not ok.any():
                    continue
                w = df.loc[sub, "base_weight"][ok]
                diff = (b - a)[ok]
                rows.append({
                    "community_id": cid, "start_year": g, "wave": wave, "event_time": e,
                    "indicator": name, "group": label,
                    "latent_effect": float(eff["by_e"][e]) if eff else 0.0,
                    "targeted": bool(eff),
                    "att": round(float(np.average(diff, weights=w)), 6),
                    "att_unweighted": round(float(diff.mean()), 6),
                    "n": int(ok.sum()),
                })
    return pd.DataFrame(rows).sort_values(["community_id", "indicator", "group", "wave"]).reset_index(drop=True)


def messy_export(survey: pd.DataFrame, registry: pd.DataFrame, seed: int = SEED) -> pd.DataFrame:
    """A small, deliberately messy raw export built from real rows of the synthetic survey.

    What is wrong with it, row by row, is listed in the shipped data's ``README.md``: community given by its
    Chinese name (fine: mapped through the registry), an unknown community, a wrong answer code,
    a duplicate respondent-wave, text in numeric columns, a 'don't know' code (fine: missing with
    its reason), a child's item answered by an adult, a missing respondent id, an unknown wave.
    """
    rng = np.random.default_rng(seed + 1)
    base = survey[(survey["wave"] == 2017) & survey["community_id"].isin(["anning", "yangmiao"])]
    take = np.sort(rng.choice(len(base), 30, replace=False))
    messy = base.iloc[take].astype(object).reset_index(drop=True)
    names = registry.set_index("community_id")["name_zh"]
    messy["community_id"] = messy["community_id"].map(names)  # Chinese names, as exports have
    adults = messy.index[messy["role"] != "child"]
    messy.loc[adults[0], "community_id"] = "幸福社区"  # unknown community
    messy.loc[adults[1], "who5_1"] = 7  # outside 0–5
    messy.loc[adults[2], "age"] = "六十五"  # text in a numeric column
    messy.loc[adults[3], "life_sat"] = "n/a"
    messy.loc[adults[4], "trust_nb"] = 97  # don't know: valid, becomes missing with its reason
    messy.loc[adults[5], "kid_1"] = 3  # child's item answered by an adult
    messy.loc[adults[6], "respondent_id"] = None  # required field missing
    messy.loc[adults[7], "wave"] = 2013  # not a survey wave
    dup = messy.loc[[adults[8]]]
    messy = pd.concat([messy, dup], ignore_index=True)  # duplicate respondent-wave
    return messy


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file (hex)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_shipped(out_dir: str | Path, seed: int = SEED) -> dict[str, str]:
    """Write survey.csv, truth.csv and raw/messy_export_gbk.csv under `out_dir`; return digests."""
    out = Path(out_dir)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    registry = dongying().registry
    sim = simulate(seed, registry=registry)
    paths = {
        "survey.csv": out / "survey.csv",
        "truth.csv": out / "truth.csv",
        "raw/messy_export_gbk.csv": out / "raw" / "messy_export_gbk.csv",
    }
    write_csv(sim.survey, paths["survey.csv"], lineterminator="\n")
    write_csv(sim.truth, paths["truth.csv"], lineterminator="\n", float_format="%.6f")
    write_csv(messy_export(sim.survey, registry, seed), paths["raw/messy_export_gbk.csv"], encoding="gbk",
              lineterminator="\r\n")
    return {k: file_digest(p) for k, p in paths.items()}
