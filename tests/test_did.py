"""Tests of evalkit.did: Callaway & Sant'Anna (2021) staggered DiD.

References used:
* R did's published results on ``mpdta`` (listed in shared/reference/README.md), to 1e-6;
* csdid 0.4.3 (PyPI, a port of R did 2.5.1) on seeded simulated panels, repeated
  cross-sections and unbalanced panels, to 1e-8;
* the empirical influence function (numerical derivative of each estimate with respect to
  each observation's weight), the reference for every analytic SE: it settles the DR
  repeated cross-section sign where R DRDID::drdid_rc and csdid disagree (csdid is right);
* simulations with a planted effect; hand-built error cases.
"""
from __future__ import annotations

import io
import os
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.did import AggregateResult, ATTGTResult, DroppedUnitsWarning, PretrendTest, att_gt
from evalkit.did.bootstrap import Multiplier
from evalkit.did.cells import PANEL_ESTIMATORS, RC_ESTIMATORS
from evalkit.errors import DidWarning, EstimationError

MPDTA = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mpdta.csv"


@pytest.fixture(scope="module")
def mpdta():
    if not MPDTA.exists():
        msg = (f"R did's published mpdta results are not checked: {MPDTA} is absent (mpdta.csv stays "
               "in shared/reference by that folder's licence note; see tests/data/README.md)")
        if os.environ.get("CI"):  # CI always has shared/ beside the clone: never skip there
            pytest.fail(msg)
        pytest.skip(msg)
    return pd.read_csv(MPDTA)


@pytest.fixture(scope="module")
def mp_never(mpdta):
    return att_gt(mpdta, y="lemp", group="first.treat", time="year", unit="countyreal")


# ---------------------------------------------------------------------------
# R did on mpdta (shared/reference/README.md):
# att_gt(yname="lemp", tname="year", idname="countyreal", gname="first.treat",
#        data=mpdta, bstrap=FALSE)  [est_method="dr", control_group="nevertreated"]
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("g, t, att, se", [
    (2004, 2004, -0.0105032, 0.0232510),
    (2004, 2005, -0.0704232, 0.0309848),
    (2006, 2007, -0.0412245, 0.0202292),
    (2007, 2007, -0.0260544, 0.0166554),
])
def test_mpdta_attgt_matches_r(mp_never, g, t, att, se):
    tidy = mp_never.tidy().set_index(["group", "time"])
    assert tidy.loc[(g, t), "estimate"] == pytest.approx(att, abs=1e-6)
    assert tidy.loc[(g, t), "se"] == pytest.approx(se, abs=1e-6)


@pytest.mark.parametrize("kind, att, se", [
    ("simple", -0.0399513, 0.0120340),    # R: aggte(out, type="simple", bstrap=FALSE)
    ("dynamic", -0.0772398, 0.0199650),   # R: aggte(out, type="dynamic") overall
    ("group", -0.0310183, 0.0124461),     # R: aggte(out, type="group") overall
    ("calendar", -0.0417004, 0.0159719),  # R: aggte(out, type="calendar") overall
])
def test_mpdta_aggte_matches_r(mp_never, kind, att, se):
    agg = mp_never.aggregate(kind)
    assert agg.overall_att == pytest.approx(att, abs=1e-6)
    assert agg.overall_se == pytest.approx(se, abs=1e-6)


def test_mpdta_notyet_simple_matches_r(mpdta):
    # R: att_gt(..., control_group="notyettreated", bstrap=FALSE); aggte(type="simple")
    res = att_gt(mpdta, y="lemp", group="first.treat", time="year", unit="countyreal",
                 control="notyet")
    agg = res.aggregate("simple")
    assert agg.overall_att == pytest.approx(-0.0397636, abs=1e-6)
    assert agg.overall_se == pytest.approx(0.0120524, abs=1e-6)


def test_mpdta_reg_with_covariate_matches_r(mpdta):
    # R: att_gt(..., xformla=~lpop, est_method="reg", bstrap=FALSE); aggte(type="simple")
    res = att_gt(mpdta, y="lemp", group="first.treat", time="year", unit="countyreal",
                 covariates=["lpop"], method="reg")
    agg = res.aggregate("simple")
    assert agg.overall_att == pytest.approx(-0.0419686, abs=1e-6)
    assert agg.overall_se == pytest.approx(0.0114448, abs=1e-6)


def test_mpdta_tidy_shape_and_ci(mp_never):
    tidy = mp_never.tidy()
    # 3 groups x 4 periods (varying base period drops the first period), as R's summary
    assert len(tidy) == 12
    assert list(tidy.columns[:8]) == ["group", "time", "event_time", "post", "estimate", "se",
                                      "df", "statistic"]
    z = 1.959963984540054  # qnorm(0.975)
    np.testing.assert_allclose(tidy["ci_high"] - tidy["estimate"], z * tidy["se"], rtol=1e-12)
    assert mp_never.influence.shape == (500, 12)  # 500 counties x 12 cells
    # analytic SE is sqrt(mean(IF^2)/n), as R did with bstrap=FALSE
    np.testing.assert_allclose(np.sqrt((mp_never.influence ** 2).mean(axis=0) / 500),
                               mp_never.se, rtol=1e-12)


def test_mpdta_pretest_matches_csdid(mpdta, mp_never):
    # Peer: csdid's ATTgt(...).fit(bstrap=False).MP['W'], ['Wpval'] (R did's W and Wpval).
    from csdid.att_gt import ATTgt
    out = ATTgt(yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                data=mpdta).fit(est_method="dr", bstrap=False)
    test = mp_never.pretrend_test()
    assert test.df == 5  # five pre-treatment cells: (2006: 2004, 2005), (2007: 2004-2006)
    assert test.statistic == pytest.approx(out.MP["W"], rel=1e-8)
    assert round(test.p_value, 5) == pytest.approx(out.MP["Wpval"], abs=1e-12)
    assert test.tidy().loc[0, "p_value"] == test.p_value


def test_mpdta_dynamic_levels(mp_never):
    agg = mp_never.aggregate("dynamic")
    tidy = agg.tidy()
    assert list(tidy["event_time"]) == [-3, -2, -1, 0, 1, 2, 3]
    # overall = mean over e >= 0 (R aggte)
    assert agg.overall_att == pytest.approx(tidy.loc[tidy.post, "estimate"].mean(), abs=1e-15)
    # min_e/max_e restrict event times (R aggte(min_e=-1, max_e=2))
    short = mp_never.aggregate("dynamic", min_e=-1, max_e=2).tidy()
    assert list(short["event_time"]) == [-1, 0, 1, 2]


# ---------------------------------------------------------------------------
# csdid 0.4.3 comparisons on simulated data
# ---------------------------------------------------------------------------
def _sim(seed: int, n: int = 240, rc: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.choice([0, 2015, 2016, 2017], size=n, p=[0.4, 0.2, 0.2, 0.2])
    x = rng.normal(size=n) + 0.3 * (g > 0)
    df = pd.DataFrame({"id": np.repeat(np.arange(n), 4), "year": np.tile([2014, 2015, 2016, 2017], n),
                       "g": np.repeat(g, 4), "x": np.repeat(x, 4),
                       "w": np.repeat(rng.uniform(0.5, 2.0, size=n), 4),
                       "cl": np.repeat(rng.integers(0, 12, size=n), 4)})
    df["y"] = (np.repeat(rng.normal(size=n), 4) + 0.5 * df.x * (df.year - 2014)
               + 0.8 * ((df.g > 0) & (df.year >= df.g)) + rng.normal(size=len(df)))
    if rc:
        df = df.sample(frac=0.5, random_state=seed).reset_index(drop=True)
        df["id"] = np.arange(len(df))
        df["x"] = df["x"] + 0.1 * rng.normal(size=len(df))
    return df


def _csdid(df, *, control, method, panel, weight=None, cluster=None, base="varying",
           unbalanced=False):
    from csdid.att_gt import ATTgt
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return ATTgt(yname="y", tname="year", idname="id", gname="g", data=df,
                     control_group={"never": "nevertreated", "notyet": "notyettreated"}[control],
                     xformla="y~x", panel=panel, allow_unbalanced_panel=unbalanced,
                     weights_name=weight, clustervar=cluster).fit(est_method=method,
                                                                  base_period=base, bstrap=False)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("method", ["dr", "reg", "ipw"])
@pytest.mark.parametrize("control", ["never", "notyet"])
def test_panel_matches_csdid(seed, method, control):
    df = _sim(seed)
    weight = "w" if seed == 2 else None
    ref = _csdid(df, control=control, method=method, panel=True, weight=weight)
    res = att_gt(df, y="y", group="g", time="year", unit="id", control=control, method=method,
                 covariates=["x"], weight=weight)
    np.testing.assert_allclose(res.att, ref.results["att"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.se, ref.results["se"], rtol=0, atol=1e-8)


@pytest.mark.parametrize("method", ["dr", "reg", "ipw"])
@pytest.mark.parametrize("control", ["never", "notyet"])
def test_repeated_cross_sections_match_csdid(method, control):
    df = _sim(3, rc=True)
    ref = _csdid(df, control=control, method=method, panel=False, weight="w")
    res = att_gt(df, y="y", group="g", time="year", control=control, method=method,
                 covariates=["x"], weight="w", panel=False)
    np.testing.assert_allclose(res.att, ref.results["att"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.se, ref.results["se"], rtol=0, atol=1e-8)


# ---------------------------------------------------------------------------
# Empirical influence functions: the reference for every analytic SE
# ---------------------------------------------------------------------------
# evalkit's influence function is scaled so that IF_i = n * d estimate / d log w_i, with
# w_i the weight of observation (or unit) i before any normalisation; SE = sqrt(sum IF^2)/n.
# Nudging one weight and re-estimating gives that derivative numerically (central
# differences in log w_i, step 1e-5: truncation ~1e-10, rounding ~1e-9 of max |IF|).
def _numerical_if(estimate, w: np.ndarray, rows, h: float = 1e-5) -> np.ndarray:
    """n * d estimate(w) / d log w_i for i in rows (one row each), by central differences."""
    out = []
    for i in rows:
        up, down = w.copy(), w.copy()
        up[i] *= np.exp(h)
        down[i] *= np.exp(-h)
        out.append(len(w) * (estimate(up) - estimate(down)) / (2 * h))
    return np.array(out)


def _cell_2x2(panel: bool):
    """One (g=2016, t=2016) cell of a simulated panel or cross-section, as the 2x2 estimators take it."""
    df = _sim(12, n=200, rc=not panel)
    cell = df[df.g.isin([0, 2016]) & df.year.isin([2015, 2016])]
    if panel:
        wide = cell.pivot(index="id", columns="year", values="y")
        unit = cell[cell.year == 2015].set_index("id").loc[wide.index]
        D = (unit.g == 2016).to_numpy(float)
        X = np.column_stack([np.ones(len(unit)), unit.x])
        return (wide[2016].to_numpy(), wide[2015].to_numpy(), D, X), unit.w.to_numpy()
    D = (cell.g == 2016).to_numpy(float)
    post = (cell.year == 2016).to_numpy(float)
    X = np.column_stack([np.ones(len(cell)), cell.x])
    return (cell.y.to_numpy(), post, D, X), cell.w.to_numpy()


@pytest.mark.parametrize("method", ["dr", "reg", "ipw"])
@pytest.mark.parametrize("panel", [True, False], ids=["panel", "rc"])
def test_2x2_influence_function_is_the_empirical_one(panel, method):
    est = (PANEL_ESTIMATORS if panel else RC_ESTIMATORS)[method]
    args, w = _cell_2x2(panel)
    _, inf = est(*args, w, "in the test cell")
    numeric = _numerical_if(lambda v: est(*args, v, "")[0], w, range(len(w)))
    assert len(w) > 100 and np.abs(inf).max() > 1
    np.testing.assert_allclose(inf, numeric, rtol=0, atol=1e-6 * np.abs(inf).max())


def _unbalanced(df: pd.DataFrame, seed: int, share: float = 0.15) -> pd.DataFrame:
    """Drop a random share of unit-period rows (keeping every unit's first row)."""
    rng = np.random.default_rng(seed)
    drop = (rng.random(len(df)) < share) & (df.year > df.year.min())
    return df[~drop].reset_index(drop=True)


@pytest.mark.parametrize("layout", ["panel", "rc", "unbalanced"])
def test_att_gt_and_aggregate_influence_functions_are_the_empirical_ones(layout):
    """Every column of att_gt's influence matrix (n/n1 scaling, summing rows to units) and of
    each aggregation's (including R aggte's estimated-weights term) is n * d est / d log w_i."""
    df = _sim(13, n=120, rc=layout == "rc")
    if layout == "unbalanced":
        df = _unbalanced(df, 13)
    kw = dict(y="y", group="g", time="year", covariates=["x"], weight="w", control="notyet")
    if layout == "rc":
        kw["panel"] = False
        key = np.arange(len(df))
    else:
        kw.update(unit="id", allow_unbalanced_panel=layout == "unbalanced")
        key = pd.factorize(df.id, sort=True)[0]
    kinds = ["simple", "group", "dynamic", "calendar"]

    def estimates(wu):
        res = att_gt(df.assign(w=wu[key]), **kw)
        aggs = [res.aggregate(k) for k in kinds]
        return np.concatenate([res.att] + [np.r_[a.overall_att, a.att] for a in aggs])

    res = att_gt(df, **kw)
    assert res.n == key.max() + 1
    analytic = np.column_stack([res.influence] + [np.column_stack([a.overall_influence, a.influence])
                                                  for a in (res.aggregate(k) for k in kinds)])
    wu = np.asarray(res.unit_weight, dtype=float)
    first_of_group = [np.flatnonzero(res.unit_group == g)[:2] for g in (0, 2015, 2016, 2017)]
    rows = np.concatenate(first_of_group)
    numeric = _numerical_if(estimates, wu, rows)
    np.testing.assert_allclose(analytic[rows], numeric, rtol=0, atol=1e-6 * np.abs(analytic).max())


# ---------------------------------------------------------------------------
# Unbalanced panels (R did's allow_unbalanced_panel=TRUE)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("method, control, never", [("dr", "never", True), ("reg", "notyet", True),
                                                    ("ipw", "never", True), ("dr", "notyet", False)])
def test_unbalanced_panel_matches_csdid(method, control, never):
    # csdid 0.4.3 follows R did 2.5.1: an unbalanced panel goes through the repeated
    # cross-section estimators, n1 = rows of the cell, influence summed per unit, aggte on units.
    df = _unbalanced(_sim(9, n=300), 9)
    if not never:  # no never-treated units: the last cohort becomes the comparison (R did),
        df = df[df.g > 0]  # periods from 2017 on are dropped, and so are 3 units seen only then
        late = df.id[df.g == 2017].unique()[:3]
        df = df[~df.id.isin(late) | (df.year == 2017)]
    ref = _csdid(df, control=control, method=method, panel=True, weight="w", unbalanced=True)
    kw = dict(y="y", group="g", time="year", unit="id", control=control, method=method,
              covariates=["x"], weight="w", allow_unbalanced_panel=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedUnitsWarning)
        res = att_gt(df, **kw)
    assert res.unbalanced and res.n == ref.MP["n"] == df.id.nunique() - 3 * (not never)
    np.testing.assert_allclose(res.att, ref.results["att"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.se, ref.results["se"], rtol=0, atol=1e-8)
    for kind in ["simple", "group", "dynamic", "calendar"]:
        with redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.aggte(typec=kind, bstrap=False, cband=False)
        agg = res.aggregate(kind)
        assert agg.overall_att == pytest.approx(float(ref.atte["overall_att"]), abs=1e-8)
        assert agg.overall_se == pytest.approx(float(np.ravel(ref.atte["overall_se"])[0]), abs=1e-8)


def test_unbalanced_panel_is_cross_sections_clustered_on_unit_with_unit_weights():
    df = _unbalanced(_sim(10, n=300), 10)
    kw = dict(y="y", group="g", time="year", covariates=["x"], weight="w")
    unb = att_gt(df, unit="id", allow_unbalanced_panel=True, **kw)
    rows = att_gt(df, panel=False, cluster="id", **kw)
    assert unb.n == 300 and rows.n == len(df) < 4 * 300
    # ATT(g,t) and SE: identical (sum_u (sum_rows f)^2 / n1^2 either way)
    np.testing.assert_allclose(unb.att, rows.att, rtol=0, atol=1e-12)
    np.testing.assert_allclose(unb.se, rows.se, rtol=1e-10)
    # aggregations weight the groups by units (sum of unit weights), not by rows
    units = df.groupby("id")[["g", "w"]].first()
    post = unb.time >= unb.group
    pg = np.array([units.w[units.g == g].sum() for g in unb.group[post]])
    assert unb.aggregate("simple").overall_att == pytest.approx(unb.att[post] @ pg / pg.sum(), abs=1e-12)
    assert abs(rows.aggregate("simple").overall_att - unb.aggregate("simple").overall_att) > 1e-4
    assert "unbalanced panel" in unb.summary


def test_balanced_panel_with_allow_unbalanced_is_the_panel_estimator():
    # R did: "You have a balanced panel. Setting allow_unbalanced_panel = FALSE."
    df = _sim(11, n=200)
    kw = dict(y="y", group="g", time="year", covariates=["x"], weight="w")
    bal = att_gt(df, unit="id", **kw)
    flag = att_gt(df, unit="id", allow_unbalanced_panel=True, **kw)
    assert not flag.unbalanced
    np.testing.assert_array_equal(flag.att, bal.att)
    np.testing.assert_array_equal(flag.se, bal.se)
    # with a time-invariant covariate, the cross-section route clustered on the unit is the
    # panel estimator on a balanced panel (same ATT and SE), so nothing is lost by the fallback
    rows = att_gt(df, panel=False, cluster="id", **kw)
    np.testing.assert_allclose(rows.att, bal.att, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rows.se, bal.se, rtol=1e-10)


def test_unbalanced_se_against_balanced_subset_and_unclustered_rows():
    # Dropping 15% of rows at random: the unbalanced estimator keeps all 300 units, so its SEs
    # are below the panel SEs on the 160-odd units observed in every period, not above them;
    # panel=False without cluster= ignores the within-unit correlation of the outcome and
    # overstates every SE (the refusal message says so).
    df = _unbalanced(_sim(9, n=300), 9)
    kw = dict(y="y", group="g", time="year", covariates=["x"])
    unb = att_gt(df, unit="id", allow_unbalanced_panel=True, **kw)
    subset = df.groupby("id").filter(lambda d: len(d) == 4)
    bal = att_gt(subset, unit="id", **kw)
    naive = att_gt(df, panel=False, **kw)
    assert subset.id.nunique() < 200
    ratio = unb.se / bal.se  # measured 0.79-1.01, mean 0.90
    assert np.all((ratio > 0.7) & (ratio < 1.1)) and ratio.mean() < 0.95, ratio
    assert np.all(naive.se / unb.se > 1.15), naive.se / unb.se


@pytest.mark.slow
def test_unbalanced_se_matches_monte_carlo_spread():
    """1,000 unbalanced panels (200 units, 4 periods, unit effects, 20% of rows missing at
    random): the mean analytic SE of the simple aggregate equals the spread of the estimates
    within 6% (Monte Carlo SE of the spread ~2.2%), so a 10% SE error fails; the unclustered
    cross-section SE (rows as independent, first 200 panels) is far off."""
    ses, naive, atts = [], [], []
    for rep in range(1000):
        rng = np.random.default_rng([20, rep])
        n = 200
        g = rng.choice([0, 2016, 2017], size=n, p=[0.5, 0.25, 0.25])
        df = pd.DataFrame({"id": np.repeat(np.arange(n), 4), "year": np.tile([2014, 2015, 2016, 2017], n),
                           "g": np.repeat(g, 4)})
        df["y"] = (np.repeat(rng.normal(size=n), 4) + 0.2 * (df.year - 2014)
                   + 0.5 * ((df.g > 0) & (df.year >= df.g)) + rng.normal(size=len(df)))
        df = df[(rng.random(len(df)) > 0.2) | (df.year == 2014)]
        kw = dict(y="y", group="g", time="year", method="reg")
        a = att_gt(df, unit="id", allow_unbalanced_panel=True, **kw).aggregate("simple")
        atts.append(a.overall_att)
        ses.append(a.overall_se)
        if rep < 200:
            naive.append(att_gt(df, panel=False, **kw).aggregate("simple").overall_se)
    spread = np.std(atts, ddof=1)
    assert abs(np.mean(atts) - 0.5) < 3 * spread / np.sqrt(1000)
    assert np.mean(ses) / spread == pytest.approx(1.0, abs=0.06)
    assert np.mean(naive) / spread > 1.2


def test_universal_base_period_matches_csdid():
    df = _sim(5)
    ref = _csdid(df, control="never", method="dr", panel=True, base="universal")
    res = att_gt(df, y="y", group="g", time="year", unit="id", covariates=["x"],
                 base_period="universal")
    np.testing.assert_allclose(res.att, ref.results["att"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.se, ref.results["se"], rtol=0, atol=1e-8, equal_nan=True)
    tidy = res.tidy()
    ref_cells = tidy[tidy.time == tidy.group - 1]
    assert (ref_cells.estimate == 0).all() and ref_cells.se.isna().all()


def test_analytic_cluster_se_matches_csdid():
    # R did 2.5 / csdid: with clustervars and bstrap=FALSE, se = sqrt(sum_c S_c^2) / n
    df = _sim(6)
    ref = _csdid(df, control="never", method="reg", panel=True, cluster="cl")
    res = att_gt(df, y="y", group="g", time="year", unit="id", covariates=["x"], method="reg",
                 cluster="cl")
    np.testing.assert_allclose(res.se, ref.results["se"], rtol=0, atol=1e-8)
    unclustered = att_gt(df, y="y", group="g", time="year", unit="id", covariates=["x"], method="reg")
    assert not np.allclose(res.se, unclustered.se)


@pytest.mark.parametrize("kind", ["simple", "group", "dynamic", "calendar"])
def test_aggregations_match_csdid(kind):
    df = _sim(7)
    ref = _csdid(df, control="notyet", method="dr", panel=True, weight="w")
    with redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.aggte(typec=kind, bstrap=False, cband=False)
    atte = ref.atte
    res = att_gt(df, y="y", group="g", time="year", unit="id", control="notyet",
                 covariates=["x"], weight="w")
    agg = res.aggregate(kind)
    assert agg.overall_att == pytest.approx(float(atte["overall_att"]), abs=1e-8)
    assert agg.overall_se == pytest.approx(float(np.ravel(atte["overall_se"])[0]), abs=1e-8)
    if kind != "simple":
        np.testing.assert_allclose(agg.att, np.ravel(atte["att_egt"]), atol=1e-8)
        np.testing.assert_allclose(agg.se, np.ravel(atte["se_egt"]), atol=1e-8)


# ---------------------------------------------------------------------------
# Simulation: a planted effect is recovered; bootstrap behaves
# ---------------------------------------------------------------------------
def _planted(seed=11, n=1500, effect=(0.5, 1.0, 1.5), comm_shock=0.0):
    """Panel with a planted dynamic effect in 30 communities. ``comm_shock > 0``: the start
    year is a community's (30 communities, 15/7/8 by start year) and every community-year
    has a shock with that SD, shared by its units."""
    rng = np.random.default_rng(seed)
    g = rng.choice([0, 2016, 2017], size=n, p=[0.5, 0.25, 0.25])
    comm = rng.integers(0, 30, size=n)
    if comm_shock:
        g = np.repeat([0, 2016, 2017], [15, 7, 8])[comm]
    years = np.arange(2014, 2019)
    df = pd.DataFrame({"id": np.repeat(np.arange(n), 5), "year": np.tile(years, n),
                       "g": np.repeat(g, 5), "comm": np.repeat(comm, 5)})
    e = df.year - df.g
    tau = np.where((df.g > 0) & (e >= 0), np.take(effect, np.clip(e, 0, 2)), 0.0)
    df["y"] = (np.repeat(rng.normal(size=n), 5) + 0.3 * (df.year - 2014) + tau
               + rng.normal(scale=0.5, size=len(df)))
    if comm_shock:
        df["y"] += rng.normal(scale=comm_shock, size=(30, 5))[df.comm, df.year - 2014]
    return df


def _iqr_se_tolerance(B: int, sds: float = 4.0) -> float:
    """Relative tolerance for a bootstrap SE (IQR / 1.349 of B normal draws) against the exact
    one: the IQR's relative Monte Carlo SD is sqrt(2 * (0.1875 - 0.0625)) / (phi(0.674) * 1.349)
    / sqrt(B) = 1.166 / sqrt(B) (asymptotic variance of sample quantiles)."""
    z = stats.norm.ppf(0.75)
    rel_sd = np.sqrt(2 * (0.75 * 0.25 - 0.25 * 0.25)) / (stats.norm.pdf(z) * 2 * z) / np.sqrt(B)
    return sds * rel_sd


def test_planted_effect_recovered():
    df = _planted()
    res = att_gt(df, y="y", group="g", time="year", unit="id")
    dyn = res.aggregate("dynamic").tidy().set_index("event_time")
    for e, truth in [(-2, 0.0), (-1, 0.0), (0, 0.5), (1, 1.0), (2, 1.5)]:
        est, se = dyn.loc[e, "estimate"], dyn.loc[e, "se"]
        assert abs(est - truth) < 4 * se, (e, est, truth, se)
        assert se < 0.06
    assert res.pretrend_test().p_value > 0.001


def test_bootstrap_is_seeded_and_close_to_analytic():
    df = _planted()
    kw = dict(y="y", group="g", time="year", unit="id")
    b1 = att_gt(df, **kw, bootstrap=499, seed=3)
    b2 = att_gt(df, **kw, bootstrap=499, seed=3)
    an = att_gt(df, **kw)
    np.testing.assert_array_equal(b1.se, b2.se)
    assert b1.crit_value == b2.crit_value
    ok = np.isfinite(an.se)
    ratio = b1.se[ok] / an.se[ok]
    assert np.all(np.abs(ratio - 1) < _iqr_se_tolerance(499)), ratio  # 0.21
    # sup-t band over 12 cells is wider than the pointwise one
    assert 1.96 < b1.crit_value < 4
    assert (b1.tidy()["band"] == "uniform").all()
    agg = b1.aggregate("dynamic")
    assert agg.uniform and agg.crit_value > 1.96
    assert agg.overall_se == pytest.approx(an.aggregate("dynamic").overall_se,
                                           rel=_iqr_se_tolerance(499))


def test_clustered_bootstrap_is_wider_and_agrees_with_clustered_analytic():
    # Community-by-year shocks are shared by a community's units, so SEs clustered on the 30
    # communities are wider than unit-level ones; the clustered multiplier bootstrap (one
    # Rademacher draw per community) estimates the clustered analytic SE within Monte Carlo
    # error: 4 SDs of the IQR estimate at B = 1999 is 10.4%.
    df = _planted(comm_shock=0.3)
    kw = dict(y="y", group="g", time="year", unit="id")
    B = 1999
    cl = att_gt(df, **kw, cluster="comm", bootstrap=B, seed=1)
    an_cl = att_gt(df, **kw, cluster="comm")
    an = att_gt(df, **kw)
    ratio = cl.se / an_cl.se
    assert np.all(np.abs(ratio - 1) < _iqr_se_tolerance(B)), ratio
    assert np.all(an_cl.se > 1.5 * an.se), an_cl.se / an.se
    # unclustered bootstrap draws on the same data estimate the narrower unit-level SE
    unit_boot = att_gt(df, **kw, bootstrap=B, seed=1)
    assert np.all(np.abs(unit_boot.se / an.se - 1) < _iqr_se_tolerance(B))


def test_unbalanced_bootstrap_draws_one_multiplier_per_unit():
    df = _unbalanced(_planted(n=600), 5, share=0.2)
    kw = dict(y="y", group="g", time="year", unit="id", allow_unbalanced_panel=True)
    B = 1999
    boot = att_gt(df, **kw, bootstrap=B, seed=2)
    an = att_gt(df, **kw)
    assert boot._mult.m == an.n == 600
    assert np.all(np.abs(boot.se / an.se - 1) < _iqr_se_tolerance(B)), boot.se / an.se


def test_multiplier_chunked_path_equals_exact_path():
    # the float32 chunked bootstrap (large n*B) reproduces the float64 direct product
    rng = np.random.default_rng(0)
    inf = rng.normal(size=(5000, 3))
    m = Multiplier(5000, 999, 7, None)
    exact = (np.where(np.unpackbits(m.bits, axis=1, count=5000) == 1, 1.0, -1.0) @ inf) / 5000
    np.testing.assert_allclose(m.sums(inf), exact, rtol=0, atol=1e-6 * np.abs(exact).max())


# ---------------------------------------------------------------------------
# Errors and warnings
# ---------------------------------------------------------------------------
def _small_panel():
    df = _sim(8, n=60)
    return df


def test_error_no_never_treated():
    df = _small_panel()
    df = df[df.g > 0]
    with pytest.raises(EstimationError, match="never-treated"):
        att_gt(df, y="y", group="g", time="year", unit="id")


def test_notyet_without_never_treated_follows_r():
    df = _small_panel()
    df = df[df.g > 0]
    with pytest.warns(DroppedUnitsWarning, match="last-treated group"):
        res = att_gt(df, y="y", group="g", time="year", unit="id", control="notyet")
    assert set(res.group) == {2015, 2016} and res.time.max() == 2016


def test_error_no_not_yet_treated():
    df = _small_panel()
    df = df[df.g == 2016]
    with pytest.raises(EstimationError, match="neither never-treated nor not-yet-treated"):
        att_gt(df, y="y", group="g", time="year", unit="id", control="notyet")


def test_error_single_unit_group():
    df = _small_panel()
    first = df.loc[df.g == 2017, "id"].iloc[0]
    df = df[(df.g != 2017) | (df.id == first)]
    with pytest.raises(EstimationError, match="2017 contain a single unit"):
        att_gt(df, y="y", group="g", time="year", unit="id")


def test_error_unbalanced_panel_names_units():
    df = _small_panel()
    df = df[~((df.id == 7) & (df.year == 2015))]
    with pytest.raises(EstimationError, match=r"unbalanced.*id=7 \(missing 2015\).*Pass "
                                              r"allow_unbalanced_panel=True.*cluster='id'"):
        att_gt(df, y="y", group="g", time="year", unit="id")
    res = att_gt(df, y="y", group="g", time="year", unit="id", allow_unbalanced_panel=True)
    assert res.unbalanced and res.n == 60
    with pytest.raises(EstimationError, match="allow_unbalanced_panel must be True or False"):
        att_gt(df, y="y", group="g", time="year", unit="id", allow_unbalanced_panel="yes")


def test_error_non_numeric_time_and_group():
    df = _small_panel()
    bad = df.assign(year=df.year.astype(str))
    with pytest.raises(EstimationError,
                       match="The time variable 'year' must be numeric. Please convert it."):
        att_gt(bad, y="y", group="g", time="year", unit="id")
    bad = df.assign(g=df.g.astype(str))
    with pytest.raises(EstimationError, match="The group variable 'g' must be numeric"):
        att_gt(bad, y="y", group="g", time="year", unit="id")


def test_error_every_missing_covariate_is_named():
    df = _small_panel()
    with pytest.raises(EstimationError, match="The covariate column 'nope' is not in the data"):
        att_gt(df, y="y", group="g", time="year", unit="id", covariates=["nope", "x"])


def test_error_panel_without_unit_and_bad_choices():
    df = _small_panel()
    with pytest.raises(EstimationError, match="unit="):
        att_gt(df, y="y", group="g", time="year")
    with pytest.raises(Exception, match="method='twfe' is not a valid choice"):
        att_gt(df, y="y", group="g", time="year", unit="id", method="twfe")


def test_units_treated_in_first_period_dropped_with_warning():
    df = _small_panel()
    early_ids = df.id.unique()[:3]
    df.loc[df.id.isin(early_ids), "g"] = 2014
    with pytest.warns(DroppedUnitsWarning, match="Dropped 3 units that were already treated in the first"):
        res = att_gt(df, y="y", group="g", time="year", unit="id")
    assert res.n == 57
    assert 2014 not in set(res.group)


def test_error_time_varying_weight():
    df = _small_panel()
    df.loc[df.index[0], "w"] = 99.0
    with pytest.raises(EstimationError, match="weight column 'w' varies over time"):
        att_gt(df, y="y", group="g", time="year", unit="id", weight="w")


def test_missing_rows_dropped_with_warning_then_unbalanced_error():
    df = _small_panel()
    df.loc[df.index[5], "y"] = np.nan
    with pytest.warns(DroppedUnitsWarning, match="Dropped 1 rows with missing values"):
        with pytest.raises(EstimationError, match="unbalanced"):
            att_gt(df, y="y", group="g", time="year", unit="id")


# ---------------------------------------------------------------------------
# Result vocabulary, immutability, deprecated names, module layout
# ---------------------------------------------------------------------------
STATS = ["estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high"]


@pytest.mark.parametrize("bootstrap", [0, 199])
def test_every_tidy_frame_uses_the_vocabulary(mp_never, mpdta, bootstrap):
    from evalkit.results import check_vocabulary

    res = mp_never if not bootstrap else att_gt(mpdta, y="lemp", group="first.treat", time="year",
                                                unit="countyreal", bootstrap=bootstrap, seed=1)
    tidy = check_vocabulary(res.tidy())
    assert list(tidy.columns) == ["group", "time", "event_time", "post", *STATS, "crit_value", "band"]
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(tidy["statistic"], tidy["estimate"] / tidy["se"], rtol=1e-15)
    np.testing.assert_allclose(tidy["p_value"], 2 * stats.norm.sf(np.abs(tidy["statistic"])), rtol=1e-15)
    assert np.isinf(tidy["df"]).all()
    np.testing.assert_allclose(tidy["ci_low"], tidy["estimate"] - res.crit_value * tidy["se"], rtol=1e-15)
    assert (res.crit_value > z + 0.3) == bool(bootstrap)  # sup-t band over 12 cells when bootstrapped
    keys = {"group": ["group"], "dynamic": ["event_time", "post"], "calendar": ["time"]}
    for kind in ["simple", "group", "dynamic", "calendar"]:
        agg = res.aggregate(kind)
        overall = check_vocabulary(agg.overall())
        assert list(overall.columns) == ["type", *STATS]
        assert overall.loc[0, "estimate"] == agg.overall_att and overall.loc[0, "se"] == agg.overall_se
        assert (overall.loc[0, "ci_low"], overall.loc[0, "ci_high"]) == pytest.approx(agg.overall_ci, rel=1e-15)
        tidy = check_vocabulary(agg.tidy())
        if kind == "simple":
            pd.testing.assert_frame_equal(tidy, overall)
        else:
            assert list(tidy.columns) == [*keys[kind], *STATS, "crit_value", "band"]
            np.testing.assert_allclose(tidy["ci_high"], agg.att + agg.crit_value * agg.se, rtol=1e-15)
    pre = check_vocabulary(res.pretrend_test().tidy())
    assert list(pre.columns) == ["test", "df", "statistic", "p_value"]


def test_results_are_frozen_and_their_arrays_read_only(mp_never):
    import dataclasses

    from evalkit.results import Result

    agg = mp_never.aggregate("dynamic")
    pre = mp_never.pretrend_test()
    for obj in (mp_never, agg, pre):
        assert isinstance(obj, Result) and dataclasses.is_dataclass(obj)
    with pytest.raises(dataclasses.FrozenInstanceError):
        mp_never.crit_value = 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        agg.overall_att = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        pre.p_value = 1.0
    for arr in (mp_never.att, mp_never.se, mp_never.influence, mp_never.unit_weight, agg.att, agg.influence):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1.0


@pytest.mark.parametrize("panel", [True, False])
def test_result_shares_no_memory_with_the_data(panel):
    df = _sim(4)
    before = df.copy()
    res = att_gt(df, y="y", group="g", time="year", unit="id" if panel else None, weight="w", panel=panel)
    pd.testing.assert_frame_equal(df, before)
    w0 = res.unit_weight[0]
    df.loc[df.index[0], "w"] = 5.0  # the caller's frame stays writable and the result does not move
    assert res.unit_weight[0] == w0 != 5.0


def test_summary_repr_and_html(mp_never):
    text = mp_never.summary
    assert text.startswith("Group-time ATTs (Callaway & Sant'Anna 2021), method=dr, control=never, panel")
    assert "estimate" in text and "P-value for pre-test of parallel trends assumption" in text
    assert repr(mp_never) == text
    assert "<table" in mp_never._repr_html_()
    agg = mp_never.aggregate("simple")
    assert repr(agg).startswith("Aggregated ATT (simple): -0.0400 (SE 0.0120, 95% CI")
    assert "Wald chi-square(5)" in repr(mp_never.pretrend_test())


def test_level_replaces_alpha(mpdta):
    kw = dict(y="lemp", group="first.treat", time="year", unit="countyreal")
    res = att_gt(mpdta, level=0.9, **kw)
    assert res.crit_value == pytest.approx(stats.norm.ppf(0.95), rel=1e-15)
    with pytest.warns(FutureWarning, match=r"alpha=\) is now level="):
        old = att_gt(mpdta, alpha=0.1, **kw)
    assert old.level == pytest.approx(0.9) and old.crit_value == pytest.approx(res.crit_value, rel=1e-15)
    with pytest.warns(FutureWarning, match="ATTGTResult.alpha is now ATTGTResult.level"):
        assert res.alpha == pytest.approx(0.1)
    with pytest.warns(FutureWarning, match="AggregateResult.alpha is now AggregateResult.level"):
        assert res.aggregate("simple").alpha == pytest.approx(0.1)
    with pytest.warns(FutureWarning, match="PretrendTest.stat is now PretrendTest.statistic"):
        pt = res.pretrend_test()
        assert pt.stat == pt.statistic
    agg = res.aggregate("group").tidy()
    np.testing.assert_allclose(agg["ci_high"] - agg["estimate"], stats.norm.ppf(0.95) * agg["se"], rtol=1e-12)
    with pytest.raises(EstimationError, match="level must lie strictly between 0 and 1"):
        att_gt(mpdta, level=95, **kw)
    with pytest.raises(EstimationError, match="level= only"):
        att_gt(mpdta, level=0.9, alpha=0.1, **kw)


def test_bootstrapped_simple_aggregate_has_no_band_and_no_warning():
    res = att_gt(_planted(n=300), y="y", group="g", time="year", unit="id", bootstrap=99, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DidWarning)
        agg = res.aggregate("simple")
    assert not agg.uniform and agg.crit_value == pytest.approx(stats.norm.ppf(0.975))


def test_old_and_flat_import_paths_give_the_same_objects():
    import sys

    import evalkit

    sys.modules.pop("evalkit.did.core", None)
    with pytest.warns(FutureWarning, match="evalkit.did.core moved to evalkit.did"):
        import evalkit.did.core as core

    assert core.att_gt is att_gt is evalkit.att_gt
    assert (core.ATTGTResult, core.AggregateResult, core.PretrendTest) == (ATTGTResult, AggregateResult,
                                                                           PretrendTest)
    assert core.DroppedUnitsWarning is DroppedUnitsWarning


def test_did_modules_are_small_and_import_only_lower_layers():
    """No did module over 600 lines or function over 120 (docstrings count); imports only from
    evalkit's errors, _literals, results and the did package itself (nothing from spec and above
    is needed), and the did modules import one another without a circle."""
    import ast

    pkg = Path(__file__).resolve().parents[1] / "evalkit" / "did"
    allowed = {"errors", "_literals", "results"}
    graph = {}
    for path in sorted(pkg.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") <= 600, path.name
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 120, f"{path.name}:{node.name}"
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("evalkit") for a in node.names), path.name
            elif isinstance(node, ast.ImportFrom):
                assert node.level in (1, 2) or not node.module.startswith("evalkit"), path.name
                if node.level == 2:
                    assert (node.module or "").split(".")[0] in allowed, f"{path.name}: ..{node.module}"
                elif node.level == 1:
                    deps.add(node.module)
        graph[path.stem] = deps
    done: set[str] = set()

    def visit(mod, stack):
        assert mod not in stack, f"import circle {stack + [mod]}"
        if mod not in done:
            for dep in graph.get(mod, ()):
                visit(dep, stack + [mod])
            done.add(mod)

    for mod in graph:
        visit(mod, [])
