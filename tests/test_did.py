"""Tests of evalkit.did: Callaway & Sant'Anna (2021) staggered DiD.

References used:
* R did's published results on ``mpdta`` (listed in shared/reference/README.md), to 1e-6;
* csdid 0.4.3 (PyPI, a port of R did 2.5) on seeded simulated panels and repeated
  cross-sections, to 1e-8, where its conventions equal R's (one documented exception:
  the DR repeated cross-section influence function, see ``test_rc_dr_se_sign_convention``);
* simulations with a planted effect; hand-built error cases.
"""
from __future__ import annotations

import io
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit.did as did_module
from evalkit.did import DroppedUnitsWarning, att_gt
from evalkit.errors import EstimationError

MPDTA = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mpdta.csv"


@pytest.fixture(scope="module")
def mpdta():
    if not MPDTA.exists():
        pytest.skip(f"R did's mpdta reference data not found at {MPDTA} (shared/reference is absent)")
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
    assert tidy.loc[(g, t), "att"] == pytest.approx(att, abs=1e-6)
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
    assert list(tidy.columns[:8]) == ["group", "time", "event_time", "post", "att", "se",
                                      "ci_low", "ci_high"]
    z = 1.959963984540054  # qnorm(0.975)
    np.testing.assert_allclose(tidy["ci_high"] - tidy["att"], z * tidy["se"], rtol=1e-12)
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
    assert test.stat == pytest.approx(out.MP["W"], rel=1e-8)
    assert round(test.p_value, 5) == pytest.approx(out.MP["Wpval"], abs=1e-12)
    assert test.tidy().loc[0, "p_value"] == test.p_value


def test_mpdta_dynamic_levels(mp_never):
    agg = mp_never.aggregate("dynamic")
    tidy = agg.tidy()
    assert list(tidy["event_time"]) == [-3, -2, -1, 0, 1, 2, 3]
    # overall = mean over e >= 0 (R aggte)
    assert agg.overall_att == pytest.approx(tidy.loc[tidy.post, "att"].mean(), abs=1e-15)
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


def _csdid(df, *, control, method, panel, weight=None, cluster=None, base="varying"):
    from csdid.att_gt import ATTgt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ATTgt(yname="y", tname="year", idname="id", gname="g", data=df,
                     control_group={"never": "nevertreated", "notyet": "notyettreated"}[control],
                     xformla="y~x", panel=panel, weights_name=weight,
                     clustervar=cluster).fit(est_method=method, base_period=base, bstrap=False)


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
    if method != "dr":  # dr: see test_rc_dr_se_sign_convention
        np.testing.assert_allclose(res.se, ref.results["se"], rtol=0, atol=1e-8)


def test_rc_dr_se_sign_convention(monkeypatch):
    """R's DRDID::drdid_rc adds the pre-period outcome-regression estimation effect
    (``inf.treat.or <- inf.treat.or.post + inf.treat.or.pre``, same for the control
    part); csdid (and the drdid port) subtract it. evalkit follows R; flipping that one
    sign reproduces csdid to 1e-8, so this is the only difference."""
    df = _sim(4, rc=True)
    ref = _csdid(df, control="never", method="dr", panel=False)
    kw = dict(y="y", group="g", time="year", covariates=["x"], panel=False)
    r_style = att_gt(df, **kw)
    assert np.max(np.abs(r_style.se - np.asarray(ref.results["se"]))) > 1e-6
    monkeypatch.setattr(did_module, "_DRDID_RC_PRE_OR_SIGN", -1.0)
    csdid_style = att_gt(df, **kw)
    np.testing.assert_allclose(csdid_style.se, ref.results["se"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(csdid_style.att, r_style.att, rtol=0, atol=1e-12)


def test_universal_base_period_matches_csdid():
    df = _sim(5)
    ref = _csdid(df, control="never", method="dr", panel=True, base="universal")
    res = att_gt(df, y="y", group="g", time="year", unit="id", covariates=["x"],
                 base_period="universal")
    np.testing.assert_allclose(res.att, ref.results["att"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.se, ref.results["se"], rtol=0, atol=1e-8, equal_nan=True)
    tidy = res.tidy()
    ref_cells = tidy[tidy.time == tidy.group - 1]
    assert (ref_cells.att == 0).all() and ref_cells.se.isna().all()


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
def _planted(seed=11, n=1500, effect=(0.5, 1.0, 1.5)):
    rng = np.random.default_rng(seed)
    g = rng.choice([0, 2016, 2017], size=n, p=[0.5, 0.25, 0.25])
    years = np.arange(2014, 2019)
    df = pd.DataFrame({"id": np.repeat(np.arange(n), 5), "year": np.tile(years, n),
                       "g": np.repeat(g, 5), "comm": np.repeat(rng.integers(0, 30, size=n), 5)})
    e = df.year - df.g
    tau = np.where((df.g > 0) & (e >= 0), np.take(effect, np.clip(e, 0, 2)), 0.0)
    df["y"] = (np.repeat(rng.normal(size=n), 5) + 0.3 * (df.year - 2014) + tau
               + rng.normal(scale=0.5, size=len(df)))
    return df


def test_planted_effect_recovered():
    df = _planted()
    res = att_gt(df, y="y", group="g", time="year", unit="id")
    dyn = res.aggregate("dynamic").tidy().set_index("event_time")
    for e, truth in [(-2, 0.0), (-1, 0.0), (0, 0.5), (1, 1.0), (2, 1.5)]:
        est, se = dyn.loc[e, "att"], dyn.loc[e, "se"]
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
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    # sup-t band over 12 cells is wider than the pointwise one
    assert 1.96 < b1.crit_value < 4
    assert (b1.tidy()["band"] == "uniform").all()
    agg = b1.aggregate("dynamic")
    assert agg.uniform and agg.crit_value > 1.96
    assert agg.overall_se == pytest.approx(an.aggregate("dynamic").overall_se, rel=0.25)


def test_clustered_bootstrap_runs_and_is_wider():
    df = _planted()
    kw = dict(y="y", group="g", time="year", unit="id")
    cl = att_gt(df, **kw, cluster="comm", bootstrap=499, seed=1)
    an_cl = att_gt(df, **kw, cluster="comm")
    ok = np.isfinite(an_cl.se)
    ratio = cl.se[ok] / an_cl.se[ok]
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio


def test_multiplier_chunked_path_equals_exact_path():
    # the float32 chunked bootstrap (large n*B) reproduces the float64 direct product
    rng = np.random.default_rng(0)
    inf = rng.normal(size=(5000, 3))
    m = did_module._Multiplier(5000, 999, 7, None)
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
    with pytest.raises(EstimationError, match=r"unbalanced.*id=7 \(missing 2015\).*panel=False"):
        att_gt(df, y="y", group="g", time="year", unit="id")


def test_error_non_numeric_time_and_group():
    df = _small_panel()
    bad = df.assign(year=df.year.astype(str))
    with pytest.raises(EstimationError,
                       match="The time variable 'year' must be numeric. Please convert it."):
        att_gt(bad, y="y", group="g", time="year", unit="id")
    bad = df.assign(g=df.g.astype(str))
    with pytest.raises(EstimationError, match="The group variable 'g' must be numeric"):
        att_gt(bad, y="y", group="g", time="year", unit="id")


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
