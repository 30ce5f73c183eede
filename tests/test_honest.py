"""HonestDiD in evalkit (issue 14 item 1): the event-study covariance ``vcov()`` and the public
sensitivity API (:mod:`evalkit.did.honest`).

References: ``vcov()`` is checked from first principles (its diagonal is the SEs evalkit already
checks against R did / csdid / the textbook stratified formula in tests/test_did*.py; its
off-diagonal against the variance of a sum of two estimates computed from their summed influence
column by the same formulas). HonestDiD numbers are frozen in tests/reference/honestdid/*.json with
their source.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.did import att_gt
from evalkit.did.bootstrap import analytic_se
from evalkit.errors import EstimationError

MPDTA = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mpdta.csv"


@pytest.fixture(scope="module")
def mpdta():
    if not MPDTA.exists():
        msg = f"{MPDTA} is absent (mpdta.csv stays in shared/reference; see tests/data/README.md)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return pd.read_csv(MPDTA)


@pytest.fixture(scope="module")
def mp_universal(mpdta):
    return att_gt(mpdta, y="lemp", group="first.treat", time="year", unit="countyreal",
                  base_period="universal")


# -- vcov ---------------------------------------------------------------------------------------
def _check_vcov(V, att, se, inf, var_of_column):
    assert V.shape == (att.size, att.size)
    np.testing.assert_allclose(V, V.T, rtol=0, atol=1e-15)
    ok = np.isfinite(se)
    np.testing.assert_allclose(np.sqrt(np.diag(V))[ok], se[ok], rtol=1e-12, atol=0)
    i, j = np.flatnonzero(ok)[:2]
    summed = var_of_column(inf[:, i] + inf[:, j])  # var(a_i + a_j) = V_ii + V_jj + 2 V_ij
    assert V[i, i] + V[j, j] + 2 * V[i, j] == pytest.approx(summed, rel=1e-10)
    assert abs(V[i, j]) > 1e-12  # the covariance is really there, not a diagonal


def test_vcov_diagonal_is_se_and_off_diagonal_is_the_sum_variance(mp_universal):
    res = mp_universal
    col_var = lambda c: float(analytic_se(c[:, None], res.n, None)[0]) ** 2  # noqa: E731
    _check_vcov(res.vcov(), res.att, res.se, res.influence, col_var)
    dyn = res.aggregate("dynamic")
    _check_vcov(dyn.vcov(), dyn.att, dyn.se, dyn.influence, col_var)
    # the overall dynamic effect is the mean of the post event times: its se from vcov
    post = dyn.levels >= 0
    w = post / post.sum()
    assert np.sqrt(w @ dyn.vcov() @ w) == pytest.approx(dyn.overall_se, rel=1e-12)
    # the reference period e = -1 of a universal base is exactly 0 with no variance
    ref = np.flatnonzero(dyn.levels == -1)[0]
    assert dyn.att[ref] == 0 and np.all(dyn.vcov()[ref] == 0)


def test_vcov_is_clustered_and_bootstrap_leaves_it_analytic(mpdta):
    kw = dict(y="lemp", group="first.treat", time="year", unit="countyreal", base_period="universal")
    mp = mpdta.assign(state=mpdta["countyreal"] // 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cl = att_gt(mp, cluster="state", **kw)
        boot = att_gt(mp, cluster="state", bootstrap=99, seed=1, **kw)
    codes = cl._cluster_codes
    col_var = lambda c: float(analytic_se(c[:, None], cl.n, codes)[0]) ** 2  # noqa: E731
    dyn = cl.aggregate("dynamic")
    _check_vcov(dyn.vcov(), dyn.att, dyn.se, dyn.influence, col_var)
    np.testing.assert_allclose(boot.aggregate("dynamic").vcov(), dyn.vcov(), rtol=1e-12, atol=1e-18)


def test_vcov_with_a_survey_design_is_the_design_covariance():
    from tests.test_did_design import _rc_frame, _scores, _textbook_var
    from evalkit.survey.design import SurveyDesign

    df = _rc_frame()
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu", fpc="N_h")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = att_gt(design=design, y="y", group="g", time="year", panel=False, covariates=["x"])
    kept = np.flatnonzero(df["y"].notna().to_numpy())
    s, p, N = df["stratum"].to_numpy(), df["psu"].to_numpy(), df["N_h"].to_numpy()
    col_var = lambda c: _textbook_var(_scores(df, kept, c, res.n), s, p, N)  # noqa: E731
    dyn = res.aggregate("dynamic")
    _check_vcov(dyn.vcov(), dyn.att, dyn.se, dyn.influence, col_var)


def test_vcov_needs_the_aggregation_route():
    from evalkit.did import AggregateResult

    bare = AggregateResult(type="dynamic", overall_att=0.0, overall_se=1.0, levels=np.arange(2.0),
                           att=np.zeros(2), se=np.ones(2), crit_value=1.96, level=0.95,
                           influence=np.zeros((3, 2)), overall_influence=np.zeros(3), uniform=False)
    with pytest.raises(EstimationError, match="aggregate"):
        bare.vcov()


# -- the public sensitivity API ---------------------------------------------------------------
import json  # noqa: E402

from scipy import stats  # noqa: E402

from evalkit.did.honest import (SensitivityResult, breakdown_value, honest_did,  # noqa: E402
                                sensitivity)
from evalkit.did.honest_flci import flci  # noqa: E402

REF = Path(__file__).parent / "reference" / "honestdid"


@pytest.fixture(scope="module")
def medicaid():
    return json.loads((REF / "flci_medicaid.json").read_text())


@pytest.fixture(scope="module")
def medicaid_sd(medicaid):
    d = medicaid
    return sensitivity(d["betahat"], d["sigma"], 5, 2, bounds=d["M"])


def test_smoothness_sensitivity_is_honestdids_table(medicaid, medicaid_sd):
    d, r = medicaid, medicaid_sd
    t = r.tidy()  # HonestDiD README createSensitivityResults (full precision from its knitr cache)
    assert list(t.columns) == ["restriction", "bound", "method", "ci_low", "ci_high", "excludes_zero"]
    assert (t.method == "FLCI").all() and (t.restriction == "smoothness").all()
    np.testing.assert_allclose(t.ci_low, d["ci_low"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(t.ci_high, d["ci_high"], rtol=0, atol=1e-4)
    assert t.excludes_zero.tolist() == [True, True, True, False, False, False]
    # constructOriginalCS: l' beta_post +- z * sqrt(l' sigma_post l)
    b, S = np.asarray(d["betahat"]), np.asarray(d["sigma"])
    o = r.original.iloc[0]
    assert (o.estimate, o.se) == pytest.approx((b[5], np.sqrt(S[5, 5])), rel=1e-12)
    assert (o.ci_low, o.ci_high) == pytest.approx((b[5] - 1.959963984540054 * np.sqrt(S[5, 5]),
                                                   b[5] + 1.959963984540054 * np.sqrt(S[5, 5])), rel=1e-12)
    assert list(r.original.columns) == ["estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high"]


def test_default_m_grid_is_honestdids_upper_bound(medicaid):
    """DeltaSD_upperBound_Mpre: max over pre-period second differences (delta_0 = 0) of
    difference + qnorm(0.95) * its se; the grid is 10 points from 0 to it."""
    b, S = np.asarray(medicaid["betahat"]), np.asarray(medicaid["sigma"])
    pre = np.r_[b[:5], 0.0]
    Sp = np.zeros((6, 6))
    Sp[:5, :5] = S[:5, :5]
    ub = -np.inf
    for j in range(4):
        w = np.zeros(6)
        w[j:j + 3] = (1.0, -2.0, 1.0)
        ub = max(ub, w @ pre + stats.norm.ppf(0.95) * np.sqrt(w @ Sp @ w))
    r = sensitivity(b, S, 5, 2)
    np.testing.assert_allclose(r.bounds, np.linspace(0, ub, 10), rtol=1e-12)


def test_breakdown_is_where_the_interval_first_includes_zero(medicaid, medicaid_sd):
    d, r = medicaid, medicaid_sd
    m = r.breakdown
    assert 0.02 < m < 0.03  # between the README grid's last significant and first insignificant M
    lo, hi = r.interval(m)
    assert lo <= 0 <= hi
    lo, hi = r.interval(m * (1 - 2e-4))
    assert lo > 0
    # a fine grid crossing agrees with the bisection
    grid = np.linspace(0.02, 0.03, 41)
    first = grid[[r.interval(g)[0] <= 0 for g in grid].index(True)]
    assert first - 0.01 / 40 <= m <= first
    assert breakdown_value(d["betahat"], d["sigma"], 5, 2) == pytest.approx(m, rel=2e-4)


def test_breakdown_nan_zero_and_sentences():
    S = np.diag([0.01] * 4)
    weak = sensitivity([0.0, 0.0, 0.0, 0.1], S, 3, 1, bounds=[0.0, 0.1])
    assert np.isnan(weak.breakdown)  # original interval 0.1 +- 0.196 includes 0
    assert "not distinguishable" in weak.sentence("en") and "不显著" in weak.sentence("zh")
    # a strong pre-trend: extrapolating it already reaches 0 at M = 0
    trend = sensitivity([-1.5, -1.0, -0.5, 0.5], np.diag([1e-4] * 4), 3, 1, bounds=[0.0])
    assert trend.original.ci_low.iloc[0] > 0 and trend.breakdown == 0.0
    assert "does not survive" in trend.sentence("en") and "不再成立" in trend.sentence("zh")
    strong = sensitivity([0.0, 0.0, 0.0, 5.0], np.diag([1e-4] * 4), 3, 1, bounds=[0.0, 0.5])
    b = strong.breakdown
    assert np.isfinite(b) and f"{b:.3g}" in strong.sentence("en") and f"{b:.3g}" in strong.sentence("zh")
    with pytest.raises(EstimationError, match="lang"):
        strong.sentence("fr")


def test_finite_df_scales_sigma_by_the_t_to_z_ratio(medicaid):
    d = medicaid
    r = sensitivity(d["betahat"], d["sigma"], 5, 2, bounds=[0.0], df=12)
    base = flci(d["betahat"], d["sigma"], 5, 2, None, 0.0)
    ratio = stats.t.ppf(0.975, 12) / stats.norm.ppf(0.975)
    assert (r.ci_high[0] - r.ci_low[0]) / 2 == pytest.approx(base.halflength * ratio, rel=1e-9)
    o = r.original.iloc[0]
    assert o.df == 12 and o.ci_high - o.estimate == pytest.approx(stats.t.ppf(0.975, 12) * o.se, rel=1e-12)


@pytest.mark.parametrize("kw, match", [
    (dict(restriction="relative_magnitude", method="FLCI"), "smoothness.? only"),
    (dict(method="bogus"), "not one of"),
    (dict(restriction="linear"), "restriction must be"),
    (dict(bounds=[-1.0]), "bounds must be"),
    (dict(df=0), "df must be positive"),
])
def test_bad_arguments_are_named(medicaid, kw, match):
    with pytest.raises(EstimationError, match=match):
        sensitivity(medicaid["betahat"], medicaid["sigma"], 5, 2, **kw)


# -- honest_did on evalkit's own event study ---------------------------------------------------
def test_honest_did_uses_the_event_study_and_its_covariance(mp_universal):
    dyn = mp_universal.aggregate("dynamic")
    h = honest_did(dyn, e=1, bounds=[0.0, 0.005])
    # by hand: the tidy event study without e = -1, its vcov, target e = 1
    tidy = dyn.tidy()
    keep = (tidy.event_time != -1).to_numpy()
    b = tidy.estimate.to_numpy()[keep]
    V = dyn.vcov()[np.ix_(keep, keep)]
    ref = sensitivity(b, V, 3, 4, l_vec=[0, 1, 0, 0], bounds=[0.0, 0.005])
    np.testing.assert_allclose(h.ci_low, ref.ci_low, rtol=1e-12)
    np.testing.assert_allclose(h.ci_high, ref.ci_high, rtol=1e-12)
    assert isinstance(h, SensitivityResult) and h.num_pre == 3 and h.num_post == 4
    assert h.original.estimate.iloc[0] == pytest.approx(dyn.att[dyn.levels == 1][0], rel=1e-12)
    assert h.original.se.iloc[0] == pytest.approx(dyn.se[dyn.levels == 1][0], rel=1e-10)
    avg = honest_did(mp_universal, e="average", bounds=[0.0])  # an ATTGTResult is aggregated
    assert avg.original.estimate.iloc[0] == pytest.approx(dyn.overall_att, rel=1e-12)
    assert avg.original.se.iloc[0] == pytest.approx(dyn.overall_se, rel=1e-10)
    np.testing.assert_allclose(avg.l_vec, 0.25)


def test_honest_did_breakdown_matches_the_grid_crossing(mp_universal):
    h = honest_did(mp_universal, e="average", bounds=np.linspace(0, 0.004, 9))
    m = h.breakdown
    t = h.tidy()
    first = t.bound[~t.excludes_zero].min()
    assert first - 0.0005 <= m <= first
    assert "0.00" in h.sentence("en")


def test_honest_did_refuses_what_it_cannot_use(mpdta, mp_universal):
    varying = att_gt(mpdta, y="lemp", group="first.treat", time="year", unit="countyreal")
    with pytest.raises(EstimationError, match='base_period="universal"'):
        honest_did(varying)
    with pytest.raises(EstimationError, match='base_period="universal"'):
        honest_did(varying.aggregate("dynamic"))
    with pytest.raises(EstimationError, match="event study"):
        honest_did(mp_universal.aggregate("group"))
    with pytest.raises(EstimationError, match="post-period"):
        honest_did(mp_universal, e=7)
    dyn = mp_universal.aggregate("dynamic")
    with pytest.raises(EstimationError, match="not consecutive"):
        honest_did(_levels_kept(dyn, dyn.levels != -3))  # a gap in the event times
    with pytest.raises(EstimationError, match="pre-periods"):
        honest_did(_levels_kept(dyn, dyn.levels >= -1))
    from dataclasses import replace

    holed = replace(dyn, att=np.where(dyn.levels == 2, np.nan, dyn.att), _vcov=dyn.vcov())
    with pytest.raises(EstimationError, match=r"Event time\(s\) \[2\] have no estimate"):
        honest_did(holed)


def _levels_kept(dyn, keep):
    """The dynamic aggregation with only the levels `keep` (as min_e/max_e could leave them)."""
    from evalkit.did import AggregateResult

    return AggregateResult(type="dynamic", overall_att=dyn.overall_att, overall_se=dyn.overall_se,
                           levels=dyn.levels[keep], att=dyn.att[keep], se=dyn.se[keep], crit_value=1.96,
                           level=0.95, influence=dyn.influence[:, keep], overall_influence=dyn.overall_influence,
                           uniform=False, _vcov=dyn.vcov()[np.ix_(keep, keep)])


# -- the ARP methods through the public API (evalkit.did.honest_arp, owner A) ----------------
@pytest.fixture(scope="module")
def medicaid_rm():
    return json.loads((REF / "sensitivity_medicaid_rm.json").read_text())


def test_relative_magnitudes_are_honestdids_readme_tables(medicaid_rm):
    d = medicaid_rm
    first = sensitivity(d["betahat"], d["sigma"], 5, 2, restriction="relative_magnitude", bounds=d["first"]["Mbar"])
    assert (first.method, first.restriction) == ("C-LF", "relative_magnitude")
    np.testing.assert_allclose(first.ci_low, d["first"]["ci_low"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(first.ci_high, d["first"]["ci_high"], rtol=0, atol=1e-4)
    avg = sensitivity(d["betahat"], d["sigma"], 5, 2, restriction="relative_magnitude", l_vec=[0.5, 0.5])
    np.testing.assert_allclose(avg.bounds, d["average"]["Mbar"])  # the default Mbar grid 0, 0.5, ..., 2
    np.testing.assert_allclose(avg.ci_low, d["average"]["ci_low"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(avg.ci_high, d["average"]["ci_high"], rtol=0, atol=1e-4)
    o = avg.original.iloc[0]  # constructOriginalCS(l_vec = c(0.5, 0.5))
    assert (o.ci_low, o.ci_high) == pytest.approx(tuple(d["average"]["original_ci"]), abs=1e-12)
    # README: significant up to Mbar = 1.5, not at 2; the bisection puts the breakdown between
    assert 1.5 < avg.breakdown <= 2.0
    lo, hi = avg.interval(avg.breakdown)
    assert lo <= 0 <= hi and avg.interval(avg.breakdown * (1 - 2e-4))[0] > 0
    assert f"{avg.breakdown:.1f}" in avg.sentence("en") and "relative magnitudes" in avg.sentence("en")
    assert "相对幅度" in avg.sentence("zh")


@pytest.mark.parametrize("method, restriction, hybrid", [
    ("C-LF", "smoothness", "LF"), ("c-f", "smoothness", "FLCI"), ("Conditional", "smoothness", None),
    ("conditional", "relative_magnitude", None),
])
def test_methods_dispatch_to_the_arp_tests(medicaid, method, restriction, hybrid):
    from evalkit.did.honest_arp import rm_interval, sd_conditional_interval

    d = medicaid
    bound = 0.01 if restriction == "smoothness" else 1.0
    r = sensitivity(d["betahat"], d["sigma"], 5, 2, restriction=restriction, method=method, bounds=[bound])
    fn = sd_conditional_interval if restriction == "smoothness" else rm_interval
    direct = fn(d["betahat"], d["sigma"], 5, 2, np.array([1.0, 0.0]), bound, hybrid=hybrid)
    assert (r.ci_low[0], r.ci_high[0]) == pytest.approx(direct, abs=1e-15)
    assert r.method == {"c-lf": "C-LF", "c-f": "C-F", "conditional": "Conditional"}[method.lower()]
    assert r.ci_low[0] < r.original.estimate.iloc[0] < r.ci_high[0]


def test_docstring_examples_run():
    import doctest

    import evalkit.did.honest as honest_module

    failures, tried = doctest.testmod(honest_module)
    assert tried >= 6 and failures == 0


def test_flci_covers_at_the_worst_case_violation(medicaid):
    """Coverage from first principles: the worst violation in Delta^SD(M) for the FLCI's own weights
    (a linear programme written from the definition, tests/test_honest_flci.py) shifts the
    estimator by its max_bias; with the exact critical value the coverage there is exactly level,
    and 10^5 simulated event studies with that violation agree."""
    from tests.test_honest_flci import _worst_bias_lp

    b, S, M = np.asarray(medicaid["betahat"]), np.asarray(medicaid["sigma"]), 0.02
    f = flci(b, S, 5, 2, None, M, cv="exact")
    bias = _worst_bias_lp(f.weights, 5, 2, M)
    assert bias == pytest.approx(f.max_bias, rel=1e-8)
    cover = stats.norm.cdf((f.halflength - bias) / f.sd) - stats.norm.cdf((-f.halflength - bias) / f.sd)
    assert cover == pytest.approx(0.95, abs=1e-9)
    rng = np.random.default_rng(14)
    draws = rng.multivariate_normal(np.zeros(7), S, size=100_000) @ f.weights + bias  # theta = 0
    assert np.mean(np.abs(draws) <= f.halflength) == pytest.approx(0.95, abs=0.003)


def test_honest_did_takes_the_design_df():
    from tests.test_did_design import _rc_frame
    from evalkit.survey.design import SurveyDesign

    df = _rc_frame()
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu", fpc="N_h")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = att_gt(design=design, y="y", group="g", time="year", panel=False, covariates=["x"],
                     base_period="universal")
    dyn = res.aggregate("dynamic")
    h = honest_did(dyn, e=0, bounds=[0.0])
    assert h.df == res.df == 12
    o = h.original.iloc[0]
    assert o.ci_high - o.estimate == pytest.approx(stats.t.ppf(0.975, 12) * o.se, rel=1e-12)
    assert o.se == pytest.approx(dyn.se[dyn.levels == 0][0], rel=1e-10)


def test_honest_did_on_a_clustered_fit_uses_t_on_clusters_minus_one(mpdta):
    """studies/honest_coverage_results.md: normal critical values under-cover with few clusters, so a
    clustered event study's default df is G - 1; an unclustered one stays normal (HonestDiD's)."""
    kw = dict(y="lemp", group="first.treat", time="year", unit="countyreal", base_period="universal")
    mp = mpdta.assign(state=mpdta["countyreal"] // 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dyn = att_gt(mp, cluster="state", **kw).aggregate("dynamic")
        plain = att_gt(mp, **kw).aggregate("dynamic")
    G = mp["state"].nunique()
    assert dyn.n_clusters == G and plain.n_clusters is None
    h = honest_did(dyn, e=0, bounds=[0.0])
    assert h.df == G - 1 and honest_did(plain, e=0, bounds=[0.0]).df == np.inf
    o = h.original.iloc[0]
    assert o.ci_high - o.estimate == pytest.approx(stats.t.ppf(0.975, G - 1) * o.se, rel=1e-12)
    assert honest_did(dyn, e=0, bounds=[0.0], df=np.inf).df == np.inf      # an explicit df wins


def test_breakdown_search_widens_past_a_small_grid_and_caps_at_inf():
    b, S = [0.0, 0.0, 0.0, 50.0], np.diag([1.0] * 4)  # outcome in large units: the breakdown M is large
    r = sensitivity(b, S, 3, 1, bounds=[0.0, 0.001])
    m = r.breakdown
    assert m > 1 and r.interval(m)[0] <= 0 < r.interval(m * (1 - 2e-4))[0]
    assert breakdown_value(b, S, 3, 1) == pytest.approx(m, rel=2e-4)
    huge = sensitivity([0.0, 0.0, 0.0, 1e9], np.diag([1e-6] * 4), 3, 1, bounds=[0.0])
    assert huge.breakdown == np.inf and "every size" in huge.sentence("en")


def test_honest_did_m0_on_mpdta_is_the_extrapolated_pre_trend(mp_universal):
    """One post period (max_e = 0), M = 0: the FLCI is the effect at e = 0 minus the pre-trend
    extrapolated by generalised least squares through the reference period (the minimum-variance
    weights unbiased for any linear trend), +- the critical value times its sd."""
    from tests.test_honest_flci import _check_min_variance
    from evalkit.did.honest_flci import folded_normal_quantile

    dyn = mp_universal.aggregate("dynamic", max_e=0)
    h = honest_did(dyn, bounds=[0.0])
    keep = dyn.levels != -1
    b, V = dyn.att[keep], dyn.vcov()[np.ix_(keep, keep)]
    f = flci(b, V, 3, 1, [1.0], 0.0)
    _check_min_variance(b, V, 3, 1, np.array([1.0]), f)
    centre = f.weights @ b
    assert (h.ci_low[0], h.ci_high[0]) == pytest.approx(
        (centre - folded_normal_quantile(0.95, 0.0) * f.sd, centre + folded_normal_quantile(0.95, 0.0) * f.sd),
        abs=1e-12)


def test_result_is_frozen_with_read_only_arrays(medicaid_sd):
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        medicaid_sd.method = "C-LF"
    with pytest.raises(ValueError):
        medicaid_sd.ci_low[0] = 0.0
    assert "breakdown" in medicaid_sd.summary and "<table" in medicaid_sd._repr_html_()
