"""att_gt with a survey design (issue 15, item 1): design-based SEs of ATT(g, t) and aggregations.

References, computed here independently of evalkit's variance engine:

* the textbook stratified linearisation variance of an estimated total (with-replacement PSUs
  within strata and the fpc; Lumley T. 2010, Complex Surveys, ch. 2-3; R survey's
  ``svyrecvar``), by explicit loops:
  ``V = sum_h n_h/(n_h-1) (1 - n_h/N_h) sum_i (z_hi - zbar_h)^2`` over the PSU totals ``z_hi``
  of the scores ``z = IF / n`` of the estimate;
* evalkit's own ``SurveyDesign.total`` of the column ``IF / (n w)`` (R ``svytotal(~if, design)``,
  whose score is ``w * if``), itself checked against R survey in tests/test_survey*.py.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.did import att_gt
from evalkit.did.design import DesignMultiplier
from evalkit.errors import EstimationError
from evalkit.survey.design import SurveyDesign

YEARS = [2014, 2015, 2016, 2017]


def _rc_frame(seed: int = 7) -> pd.DataFrame:
    """Hidden-style repeated cross-sections: 3 strata (districts) of 4-6 PSUs (communities),
    treatment by community, unequal weights, an fpc (communities in the district), respondents
    drawn anew each year, a few missing outcomes."""
    rng = np.random.default_rng(seed)
    rows = []
    psu_id = 0
    for h, (n_psu, N_psu) in enumerate([(4, 9), (5, 12), (6, 6)]):
        for _ in range(n_psu):
            psu_id += 1
            g = rng.choice([0, 0, 2016, 2017])
            u = rng.normal(scale=0.5)
            for year in YEARS:
                for _ in range(int(rng.integers(6, 10))):
                    x = rng.normal()
                    y = u + 0.3 * x + 0.2 * (year - 2014) + 0.8 * (g > 0 and year >= g) + rng.normal()
                    rows.append(dict(stratum=f"d{h}", psu=f"c{psu_id}", N_h=N_psu, year=year, g=g, x=x,
                                     y=y, w=float(rng.uniform(20, 120))))
    df = pd.DataFrame(rows)
    df.loc[rng.choice(len(df), size=5, replace=False), "y"] = np.nan
    return df


def _textbook_var(z: np.ndarray, strata: np.ndarray, psu: np.ndarray, N_h: np.ndarray) -> float:
    """Stratified with-replacement / fpc linearisation variance of sum(z), by explicit loops."""
    total = 0.0
    for h in pd.unique(strata):
        in_h = strata == h
        psus = list(pd.unique(psu[in_h]))
        n_h = len(psus)
        f_h = n_h / float(N_h[in_h][0]) if N_h is not None else 0.0
        totals = [sum(z[i] for i in range(len(z)) if in_h[i] and psu[i] == p) for p in psus]
        mean = sum(totals) / n_h
        total += n_h / (n_h - 1) * (1 - f_h) * sum((t - mean) ** 2 for t in totals)
    return total


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


@pytest.fixture(scope="module")
def rc():
    df = _rc_frame()
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu", fpc="N_h")
    res = _quiet(att_gt, design=design, y="y", group="g", time="year", panel=False, covariates=["x"])
    kept = np.flatnonzero(df["y"].notna().to_numpy())  # the influence rows are the complete rows
    return df, design, res, kept


def _scores(df, kept, inf, n):
    z = np.zeros(len(df))
    z[kept] = inf / n
    return z


def test_cell_and_aggregate_ses_match_the_textbook_stratified_formula(rc):
    df, design, res, kept = rc
    strata, psu, N_h = df["stratum"].to_numpy(), df["psu"].to_numpy(), df["N_h"].to_numpy()
    for k in range(res.att.size):
        ref = np.sqrt(_textbook_var(_scores(df, kept, res.influence[:, k], res.n), strata, psu, N_h))
        assert res.se[k] == pytest.approx(ref, rel=1e-10, abs=0)
    for kind in ("simple", "group", "dynamic", "calendar"):
        agg = res.aggregate(kind)
        ref = np.sqrt(_textbook_var(_scores(df, kept, agg.overall_influence, res.n), strata, psu, N_h))
        assert agg.overall_se == pytest.approx(ref, rel=1e-10, abs=0), kind
        for j in range(agg.att.size):
            ref = np.sqrt(_textbook_var(_scores(df, kept, agg.influence[:, j], res.n), strata, psu, N_h))
            assert agg.se[j] == pytest.approx(ref, rel=1e-10, abs=0), (kind, j)


def test_ses_equal_the_design_total_of_the_influence_function(rc):
    """R's svytotal(~if, design) with if = IF / (n w): evalkit's SurveyDesign.total."""
    df, design, res, kept = rc
    w = design.weights
    cols = {f"if{k}": _scores(df, kept, res.influence[:, k], res.n) / w for k in range(res.att.size)}
    tot = design.assign(**cols).total(list(cols), df="design")
    np.testing.assert_allclose(res.se, tot["se"].to_numpy(), rtol=1e-10, atol=0)
    dyn = res.aggregate("dynamic")
    one = design.assign(ifo=_scores(df, kept, dyn.overall_influence, res.n) / w).total("ifo")
    assert dyn.overall_se == pytest.approx(float(one["se"].iloc[0]), rel=1e-10)


def test_design_degrees_of_freedom_give_the_t_intervals(rc):
    df, design, res, kept = rc
    assert design.degf == 15 - 3 and res.df == 12
    t = res.tidy()
    assert (t["df"] == 12).all()
    from scipy import stats
    crit = stats.t.ppf(0.975, 12)
    np.testing.assert_allclose(t["ci_high"] - t["estimate"], crit * t["se"], rtol=1e-12)
    np.testing.assert_allclose(t["p_value"], 2 * stats.t.sf(np.abs(t["estimate"] / t["se"]), 12), rtol=1e-10)
    o = res.aggregate("simple").overall()
    assert o["df"].iloc[0] == 12
    assert o["ci_high"].iloc[0] - o["estimate"].iloc[0] == pytest.approx(crit * o["se"].iloc[0], rel=1e-12)


def test_point_estimates_are_those_of_the_weighted_fit(rc):
    df, design, res, kept = rc
    plain = _quiet(att_gt, df, y="y", group="g", time="year", panel=False, covariates=["x"], weight="w")
    np.testing.assert_array_equal(res.att, plain.att)
    np.testing.assert_array_equal(res.influence, plain.influence)


def test_one_psu_per_respondent_reduces_to_the_weighted_answer(rc):
    """Same estimates; SEs = today's sqrt(sum IF^2)/n times sqrt(n/(n-1)) (R survey's n_h/(n_h-1),
    which R did omits); the centring adds nothing because the influence functions sum to 0."""
    df, _, _, _ = rc
    full = df.dropna(subset=["y"]).reset_index(drop=True)
    n = len(full)
    design = SurveyDesign(full, weight="w")
    res = att_gt(design=design, y="y", group="g", time="year", panel=False, covariates=["x"])
    plain = att_gt(full, y="y", group="g", time="year", panel=False, covariates=["x"], weight="w")
    np.testing.assert_array_equal(res.att, plain.att)
    np.testing.assert_allclose(res.se, plain.se * np.sqrt(n / (n - 1)), rtol=1e-10)
    for kind in ("simple", "dynamic"):
        a, b = res.aggregate(kind), plain.aggregate(kind)
        assert a.overall_att == b.overall_att
        assert a.overall_se == pytest.approx(b.overall_se * np.sqrt(n / (n - 1)), rel=1e-10)
    assert res.df == n - 1


def _panel_frame(seed: int = 3) -> pd.DataFrame:
    """A household panel: 2 strata of 5 PSUs, 6-9 households per PSU, 4 waves, unequal weights."""
    rng = np.random.default_rng(seed)
    rows = []
    hh = 0
    for h in range(2):
        for p in range(5):
            g = [0, 2016, 0, 2017, 0][p]
            for _ in range(int(rng.integers(6, 10))):
                hh += 1
                w, a = float(rng.uniform(10, 60)), rng.normal()
                for year in YEARS:
                    y = a + 0.1 * (year - 2014) + 1.0 * (g > 0 and year >= g) + rng.normal()
                    rows.append(dict(stratum=h, psu=f"{h}-{p}", hh=hh, year=year, g=g, y=y, w=w))
    return pd.DataFrame(rows)


def test_panel_units_put_their_influence_on_their_psu():
    df = _panel_frame()
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu")
    res = att_gt(design=design, y="y", group="g", time="year", unit="hh")
    units = df.drop_duplicates("hh").sort_values("hh")
    strata, psu = units["stratum"].to_numpy(), units["psu"].to_numpy()
    for k in range(res.att.size):
        ref = np.sqrt(_textbook_var(res.influence[:, k] / res.n, strata, psu, None))
        assert res.se[k] == pytest.approx(ref, rel=1e-10, abs=0)
    agg = res.aggregate("group")
    ref = np.sqrt(_textbook_var(agg.overall_influence / res.n, strata, psu, None))
    assert agg.overall_se == pytest.approx(ref, rel=1e-10)
    assert res.df == 10 - 2
    plain = att_gt(df, y="y", group="g", time="year", unit="hh", weight="w", cluster="psu")
    np.testing.assert_array_equal(res.att, plain.att)


def test_panel_unit_in_two_psus_is_refused():
    df = _panel_frame()
    df.loc[(df.hh == 1) & (df.year == 2017), "psu"] = "0-1"
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match="more than one design PSU"):
        att_gt(design=design, y="y", group="g", time="year", unit="hh")


def test_design_bootstrap_perturbs_psus_within_strata_with_the_linearisation_variance():
    """Over all 2^P sign vectors the variance of the PSU-level draws equals the linearisation
    variance exactly (Rademacher multipliers on stratum-centred, fpc-scaled PSU totals)."""
    df = _panel_frame()
    df = df[df.psu.isin(["0-0", "0-1", "0-3", "1-0", "1-1", "1-2", "1-3"])]
    df = df.assign(N=np.where(df.stratum == 0, 8, 11))
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu", fpc="N")
    res = att_gt(design=design, y="y", group="g", time="year", unit="hh", bootstrap=200, seed=1)
    again = att_gt(design=design, y="y", group="g", time="year", unit="hh", bootstrap=200, seed=1)
    np.testing.assert_array_equal(res.se, again.se)
    mult = res._mult
    assert isinstance(mult, DesignMultiplier) and mult.m == 7
    mult.v = np.array(list(itertools.product([-1.0, 1.0], repeat=7)))
    draws = mult.sums(res.influence)
    analytic = att_gt(design=design, y="y", group="g", time="year", unit="hh")
    ok = np.isfinite(analytic.se)
    np.testing.assert_allclose(np.sqrt((draws ** 2).mean(axis=0))[ok], analytic.se[ok], rtol=1e-10)
    assert res.aggregate("simple").overall_se > 0


def test_subset_design_estimates_the_domain_with_the_full_design():
    df = _rc_frame().dropna(subset=["y"]).reset_index(drop=True)
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu", fpc="N_h")
    dom = df["x"] > -1.5
    res = _quiet(att_gt, design=design.subset(dom.to_numpy()), y="y", group="g", time="year", panel=False)
    plain = _quiet(att_gt, df[dom], y="y", group="g", time="year", panel=False, weight="w")
    np.testing.assert_array_equal(res.att, plain.att)
    kept = np.flatnonzero(dom.to_numpy())
    z = _scores(df, kept, res.influence[:, 2], res.n)
    ref = np.sqrt(_textbook_var(z, df["stratum"].to_numpy(), df["psu"].to_numpy(), df["N_h"].to_numpy()))
    assert res.se[2] == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("kw, match", [
    (dict(cluster="psu"), "design= both give the clustering"),
    (dict(weight="x"), "differs from the design's weight column"),
])
def test_contradicting_arguments_are_refused(kw, match):
    df = _rc_frame().dropna(subset=["y"])
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match=match):
        att_gt(design=design, y="y", group="g", time="year", panel=False, **kw)


def test_data_that_are_not_the_designs_rows_are_refused():
    df = _rc_frame().dropna(subset=["y"])
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match="not the rows of the design"):
        att_gt(df.iloc[:-3], design=design, y="y", group="g", time="year", panel=False)
    with pytest.raises(EstimationError, match="SurveyDesign"):
        att_gt(df, design="psu", y="y", group="g", time="year", panel=False)


def test_unbalanced_panel_sums_the_influence_within_unit_before_the_psu_totals():
    df = _panel_frame()
    df = df.drop(index=df.index[(df.hh % 7 == 0) & (df.year == 2015)]).reset_index(drop=True)
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu")
    res = _quiet(att_gt, design=design, y="y", group="g", time="year", unit="hh", allow_unbalanced_panel=True)
    assert res.unbalanced
    units = df.drop_duplicates("hh").sort_values("hh")
    strata, psu = units["stratum"].to_numpy(), units["psu"].to_numpy()
    for k in range(res.att.size):
        ref = np.sqrt(_textbook_var(res.influence[:, k] / res.n, strata, psu, None))
        assert res.se[k] == pytest.approx(ref, rel=1e-10, abs=0)


# diff-diff 3.13.0 (PyPI), CallawaySantAnna(control_group="never_treated", estimation_method="dr",
# panel=...).fit(..., survey_design=diff_diff.SurveyDesign(weights="w", strata="stratum", psu="psu"
# [, fpc="N_h"])), then .aggregate("simple") / .aggregate("event_study"), run on the frames above
# (rc: _rc_frame().dropna(subset=["y"]).reset_index(drop=True) with unit = row number, covariates=["x"];
# panel: _panel_frame(), unit="hh"). Frozen here; diff-diff is not a dependency. Its design df
# (#PSU - #strata) was 12 and 8, as ours. Where conventions differ: its "reg" estimator for repeated
# cross-sections with covariates gives other SEs with or without a design (estimates equal); evalkit's
# influence functions are the ones checked against the numerical derivative in tests/test_did.py.
DIFF_DIFF = {
    "rc": dict(simple=(0.8577323818376792, 0.15279140722567042),
               dynamic={-2: (0.41856034110455853, 0.2606014622868826), -1: (0.2640095312507459, 0.12482115451675502),
                        0: (0.8511703742508694, 0.16816632180750268), 1: (0.8714592435843842, 0.2207492644324267)},
               df=12),
    "panel": dict(simple=(0.8081919061682892, 0.288344024825623),
                  dynamic={-2: (0.33548359667768046, 0.6013390393594908), -1: (0.19839007828779268, 0.37924601512901407),
                           0: (0.6550380380227234, 0.2415254296962326), 1: (1.1583868347641277, 0.46908878467063836)},
                  df=8),
}


@pytest.mark.parametrize("kind", ["rc", "panel"])
def test_matches_diff_diff_survey_design_callaway_santanna(kind):
    if kind == "rc":
        df = _rc_frame().dropna(subset=["y"]).reset_index(drop=True)
        design = SurveyDesign(df, weight="w", strata="stratum", psu="psu", fpc="N_h")
        res = att_gt(design=design, y="y", group="g", time="year", panel=False, covariates=["x"])
    else:
        design = SurveyDesign(_panel_frame(), weight="w", strata="stratum", psu="psu")
        res = att_gt(design=design, y="y", group="g", time="year", unit="hh")
    ref = DIFF_DIFF[kind]
    simple = res.aggregate("simple")
    np.testing.assert_allclose([simple.overall_att, simple.overall_se], ref["simple"], rtol=1e-9)
    dyn = res.aggregate("dynamic")
    for e, (att, se) in ref["dynamic"].items():
        j = int(np.flatnonzero(dyn.levels == e)[0])
        np.testing.assert_allclose([dyn.att[j], dyn.se[j]], [att, se], rtol=1e-9)
    assert res.df == ref["df"] == dyn.tidy()["df"].iloc[0]


def test_raked_design_uses_the_calibrated_weights_and_the_calibrated_variance():
    """A design raked to wave x sex margins: estimates are those of the raked weights, and the SE
    is the calibrated design's total of the IF column (scores residualised on the margins)."""
    df = _rc_frame().dropna(subset=["y"]).reset_index(drop=True)
    df["sex"] = np.where(np.arange(len(df)) % 3 == 0, "F", "M")
    base = SurveyDesign(df, weight="w", strata="stratum", psu="psu", fpc="N_h")
    raked = base.rake({"year": {y: 5000.0 for y in YEARS}, "sex": {"F": 9000.0, "M": 11000.0}})
    res = att_gt(design=raked, y="y", group="g", time="year", panel=False, covariates=["x"])
    plain = att_gt(df.assign(rw=raked.weights), y="y", group="g", time="year", panel=False,
                   covariates=["x"], weight="rw")
    np.testing.assert_allclose(res.att, plain.att, rtol=1e-12)
    w = raked.weights
    cols = {f"if{k}": res.influence[:, k] / res.n / w for k in range(res.att.size)}
    tot = raked.assign(**cols).total(list(cols))
    np.testing.assert_allclose(res.se, tot["se"].to_numpy(), rtol=1e-10)
    unraked = base.linearized_variance(res.influence / res.n)
    assert not np.allclose(res.se, np.sqrt(unraked), rtol=1e-6)


# Replicate-weight designs: the influence function reweighted under each replicate (T_r = sum (w_r/w) z).
# diff-diff 3.13.0: the rc frame above with the JK1 replicate weights of
# SurveyDesign(df, weight="w", psu="psu").as_replicate("JK1") as columns rw0..rw14,
# CallawaySantAnna(panel=False).fit(..., covariates=["x"], survey_design=diff_diff.SurveyDesign(
# weights="w", replicate_weights=cols, replicate_method="JK1")), .aggregate("simple" / "event_study").
# (Its ATT(g,t) SEs in group_time_effects are not replicate-based there: they equal the non-survey
# SEs, while its event-study SE at e=1, the single cell (2016, 2017), is; evalkit's cells use the
# replicate variance throughout.)
DIFF_DIFF_JK1 = dict(simple=(0.8577323818376794, 0.24402795688247916), df=14,
                     dynamic={-2: (0.4185603411045585, 0.41267405605075935), -1: (0.2640095312507459, 0.1763845861577733),
                              0: (0.8511703742508696, 0.23558370764188924), 1: (0.8714592435843846, 0.3679557858783692)})


def test_replicate_design_jk1_equals_the_linearisation_variance_and_diff_diff():
    """Delete-one-PSU JK1 on the total of the IF is algebraically n/(n-1) sum (z_j - zbar)^2 over
    PSU totals: the linearisation variance of the unstratified cluster design."""
    df = _rc_frame().dropna(subset=["y"]).reset_index(drop=True)
    lin = SurveyDesign(df, weight="w", psu="psu")
    rep = lin.as_replicate("JK1")
    a = att_gt(design=lin, y="y", group="g", time="year", panel=False, covariates=["x"])
    b = att_gt(design=rep, y="y", group="g", time="year", panel=False, covariates=["x"],
               replicate_variance="influence")
    np.testing.assert_array_equal(a.att, b.att)
    np.testing.assert_allclose(b.se, a.se, rtol=1e-10)
    assert b.df == rep.degf == 14
    simple = b.aggregate("simple")
    np.testing.assert_allclose([simple.overall_att, simple.overall_se], DIFF_DIFF_JK1["simple"], rtol=1e-9)
    dyn = b.aggregate("dynamic")
    for e, ref in DIFF_DIFF_JK1["dynamic"].items():
        j = int(np.flatnonzero(dyn.levels == e)[0])
        np.testing.assert_allclose([dyn.att[j], dyn.se[j]], ref, rtol=1e-9)
    with pytest.raises(EstimationError, match="replicate weights already are the resampling"):
        att_gt(design=rep, y="y", group="g", time="year", panel=False, bootstrap=99, seed=1)


def test_replicate_panel_design_matches_the_design_total_of_the_unit_influence():
    df = _panel_frame()
    rep = SurveyDesign(df, weight="w", strata="stratum", psu="psu").as_replicate("JKn")
    res = att_gt(design=rep, y="y", group="g", time="year", unit="hh", replicate_variance="influence")
    first = df.drop_duplicates("hh").sort_values("hh").index.to_numpy()
    w = rep.weights
    cols = {}
    for k in range(res.att.size):
        z = np.zeros(len(df))
        z[first] = res.influence[:, k] / res.n
        cols[f"if{k}"] = z / w
    tot = rep.assign(**cols).total(list(cols))
    np.testing.assert_allclose(res.se, tot["se"].to_numpy(), rtol=1e-10)
    assert (res.tidy()["df"] == rep.degf).all()


def test_rows_left_out_by_the_last_cohort_rule_carry_no_influence():
    """control='notyet' without never-treated rows drops the periods from the last cohort on (as R
    did); the influence rows must still land on their own design rows."""
    df = _rc_frame().dropna(subset=["y"]).reset_index(drop=True)
    df["g"] = df["g"].replace(0, 2017)
    df.loc[df["psu"].isin(["c1", "c6", "c11"]), "g"] = 2016
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu", fpc="N_h")
    res = _quiet(att_gt, design=design, y="y", group="g", time="year", panel=False, control="notyet")
    kept = np.flatnonzero(df["year"].to_numpy() < 2017)
    assert res.n == kept.size
    strata, psu, N_h = df["stratum"].to_numpy(), df["psu"].to_numpy(), df["N_h"].to_numpy()
    for k in np.flatnonzero(np.isfinite(res.se)):
        ref = np.sqrt(_textbook_var(_scores(df, kept, res.influence[:, k], res.n), strata, psu, N_h))
        assert res.se[k] == pytest.approx(ref, rel=1e-10, abs=0)


# Replicate designs refitted per replicate (the default, replicate_variance="refit"): the reference
# is att_gt(weight=<replicate column>) run once per replicate, its ATT(g, t) and aggregations, and
# R svrVar's formula written here: scale * sum_r rscales_r (theta_r - c)(theta_r - c)', c = the
# mean of the replicates with rscales > 0, or the full-sample estimate with mse=True.

def _svrvar(thetas: np.ndarray, full: np.ndarray, rep) -> np.ndarray:
    rs = np.asarray(rep.rscales, dtype=float)
    c = np.asarray(full, float) if rep.mse else thetas[rs > 0].mean(axis=0)
    D = thetas - c
    return rep.scale * (D * rs[:, None]).T @ D


AGGREGATIONS = ("simple", "group", "dynamic", "calendar")


def _refit_reference(df, rep, **kw):
    """Per replicate: att_gt(weight=replicate column) and its aggregations; their svrVar."""
    full = _quiet(att_gt, df, weight="w", **kw)
    fits = [_quiet(att_gt, df.assign(rw=rep.replicate_weights[:, r]), weight="rw", **kw)
            for r in range(rep.n_replicates)]
    out = {"cells": _svrvar(np.array([f.att for f in fits]), full.att, rep)}
    for t in AGGREGATIONS:
        a = full.aggregate(t)
        reps = [f.aggregate(t) for f in fits]
        out[t] = _svrvar(np.array([np.append(b.att, b.overall_att) for b in reps]),
                         np.append(a.att, a.overall_att), rep)
    return out


def _check_refit(res, ref):
    np.testing.assert_allclose(res.se, np.sqrt(np.diag(ref["cells"])), rtol=1e-8)
    np.testing.assert_allclose(res.vcov(), ref["cells"], rtol=1e-8, atol=1e-14)
    for t in AGGREGATIONS:
        agg = res.aggregate(t)
        V = ref[t]
        L = agg.att.size
        np.testing.assert_allclose(agg.se, np.sqrt(np.diag(V))[:L], rtol=1e-8)
        assert agg.overall_se == pytest.approx(np.sqrt(V[L, L]), rel=1e-8)
        np.testing.assert_allclose(agg.vcov(), V[:L, :L], rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("kind,mse", [("JK1", False), ("JKn", True), ("BRR", False), ("Fay", True),
                                      ("bootstrap", False)])
def test_replicate_refit_equals_att_gt_per_replicate_weight(kind, mse):
    df = _rc_frame().dropna(subset=["y"]).reset_index(drop=True)
    base = SurveyDesign(df, weight="w", strata=None if kind in ("JK1", "bootstrap") else "stratum", psu="psu")
    if kind in ("BRR", "Fay"):  # half-samples need 2 PSUs per stratum: pair the first 14 communities
        df = df[df["psu"] != "c15"].reset_index(drop=True)
        df["pair"] = df["psu"].str[1:].astype(int).sub(1) // 2
        base = SurveyDesign(df, weight="w", strata="pair", psu="psu")
    opts = {"rho": 0.5} if kind == "Fay" else {"replicates": 25, "seed": 4} if kind == "bootstrap" else {}
    rep = base.as_replicate(kind, mse=mse, **opts)
    kw = dict(y="y", group="g", time="year", panel=False, covariates=["x"])
    res = att_gt(design=rep, **kw)
    _check_refit(res, _refit_reference(df, rep, **kw))
    assert res.df == rep.degf
    lin = att_gt(design=rep, replicate_variance="influence", **kw)  # the other route differs here
    np.testing.assert_array_equal(res.att, lin.att)
    assert not np.allclose(res.se, lin.se, rtol=1e-3)


def test_replicate_refit_on_a_panel_keeps_the_units_replicate_weights():
    df = _panel_frame()
    rep = SurveyDesign(df, weight="w", strata="stratum", psu="psu").as_replicate("JKn")
    kw = dict(y="y", group="g", time="year", unit="hh")
    res = att_gt(design=rep, **kw)
    _check_refit(res, _refit_reference(df, rep, **kw))
    pre = res.pretrend_test()  # the Wald statistic on the replicate covariance of the pre-cells
    k = np.flatnonzero((res.group > res.time) & np.isfinite(res.se))
    V = res.vcov()[np.ix_(k, k)]
    assert pre.statistic == pytest.approx(res.att[k] @ np.linalg.solve(V, res.att[k]), rel=1e-10)


def test_a_replicate_without_treated_weight_in_a_cell_is_named():
    df = _panel_frame()
    df = df[~df["psu"].isin(["1-1", "1-3"])].reset_index(drop=True)  # cohorts in one PSU each
    rep = SurveyDesign(df, weight="w", strata="stratum", psu="psu").as_replicate("JKn")
    with pytest.raises(EstimationError, match=r"weights of replicate 2 of 8 for \(group 2016, period"):
        att_gt(design=rep, y="y", group="g", time="year", unit="hh")
    res = att_gt(design=rep, y="y", group="g", time="year", unit="hh", replicate_variance="influence")
    assert np.isfinite(res.se).any()
    with pytest.raises(EstimationError, match="replicate_variance must be 'refit'"):
        att_gt(design=rep, y="y", group="g", time="year", unit="hh", replicate_variance="linear")


def test_replicate_refit_on_an_unbalanced_panel_and_a_subset():
    """Unbalanced panels (rows as repeated cross-sections, IF summed within unit) and a domain
    (subset) refit with the replicate weights of their own rows."""
    df = _panel_frame()
    df = df.drop(index=df.index[df["hh"].isin([3, 20, 41]) & (df["year"] == 2015)]).reset_index(drop=True)
    rep = SurveyDesign(df, weight="w", strata="stratum", psu="psu").as_replicate("JKn")
    kw = dict(y="y", group="g", time="year", unit="hh", allow_unbalanced_panel=True)
    _check_refit(att_gt(design=rep, **kw), _refit_reference(df, rep, **kw))
    keep = (df["hh"] % 5 != 0).to_numpy()
    sub = rep.subset(keep)
    res = att_gt(design=sub, **kw)
    part = df[keep].reset_index(drop=True)
    kept = rep.replicate_weights[keep]
    full = att_gt(part, weight="w", **kw)
    thetas = np.array([att_gt(part.assign(rw=kept[:, r]), weight="rw", **kw).att for r in range(kept.shape[1])])
    np.testing.assert_allclose(res.att, full.att, rtol=1e-12)
    np.testing.assert_allclose(res.se, np.sqrt(np.diag(_svrvar(thetas, full.att, rep))), rtol=1e-8)
