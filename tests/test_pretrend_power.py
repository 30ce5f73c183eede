"""Power of the pre-test of parallel trends (Roth 2022; issue 14 item 2): evalkit.did.pretrend_power.

References:
- R package ``pretrends`` (github.com/jonathandroth/pretrends, commit 122731d0), README.md: its He &
  Wang (2017) example; the coefficients and covariance are frozen from the package's
  ``data/HeAndWangResults.rda`` in tests/reference/pretrends/he_wang_2017.json (with the source).
  The printed values are matched to the precision R computed them with (uniroot's default tol
  1.22e-4 for the slope, pmvnorm's default abseps 1e-3 for probabilities).
- The Wald pre-test: its power is the noncentral chi-square tail; checked here against the
  closed-form normal tail for one pre-period and against a seeded simulation that runs
  evalkit's own pre-test statistic (``evalkit.did.aggregate.pretrend_wald``) on draws
  betahat ~ N(delta, Sigma), and end to end against att_gt's pre-test on simulated panels with a
  planted linear pre-trend.
"""
from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.did import att_gt
from evalkit.did.aggregate import pretrend_wald
from evalkit.did.pretrend_power import PretrendPower, _rectangle, _sig2, pretrend_power
from evalkit.errors import DidWarning, EstimationError, EvalkitError

# the module (evalkit.did re-exports the function under the same name)
pp_module = importlib.import_module("evalkit.did.pretrend_power")
REF = Path(__file__).parent / "reference" / "pretrends" / "he_wang_2017.json"
LEVEL_196 = 2 * stats.norm.cdf(1.96) - 1      # pretrends' threshold 1.96 as a confidence level


@pytest.fixture(scope="module")
def hw():
    ref = json.loads(REF.read_text(encoding="utf-8"))
    return (np.array(ref["beta"]), np.array(ref["sigma"]), np.array(ref["tVec"]),
            ref["printed_in_README_md"])


@pytest.fixture(scope="module")
def hw_pointwise(hw):
    beta, sigma, t, printed = hw
    return pretrend_power(beta, sigma, 3, test="pointwise", level=LEVEL_196, event_times=t,
                          slope=printed["slope_for_power_target_0.5"])


# -- R pretrends, He & Wang (2017) ---------------------------------------------------------------
def test_he_wang_slope_for_power_matches_pretrends(hw, hw_pointwise):
    # R: slope_for_power(sigma, targetPower = 0.5, tVec, referencePeriod = -1) -> 0.05205871
    # (stats::uniroot, default tol .Machine$double.eps^0.25 = 1.22e-4 on the slope)
    assert hw_pointwise.slope_50 == pytest.approx(hw[3]["slope_for_power_target_0.5"], abs=1.22e-4)
    assert hw_pointwise.power_at(hw_pointwise.slope_50) == pytest.approx(0.5, abs=1e-6)


def test_he_wang_power_and_size_match_pretrends(hw, hw_pointwise):
    printed = hw[3]
    # R: pretrends(..., deltatrue = slope50 * (tVec - referencePeriod))$df_power$Power -> 0.4999776
    # (mvtnorm::pmvnorm, GenzBretz abseps = 1e-3)
    assert hw_pointwise.power == pytest.approx(printed["power_at_slope50_linear"], abs=1e-3)
    # Bayes factor = (1 - power) / (1 - power under parallel trends) -> 0.56901 gives the size
    size_r = 1 - (1 - printed["power_at_slope50_linear"]) / printed["bayes_factor_at_slope50_linear"]
    assert hw_pointwise.size == pytest.approx(size_r, abs=2e-3)


def test_he_wang_bayes_factor_and_likelihood_ratio_match_pretrends(hw, hw_pointwise):
    printed = hw[3]
    # R: df_power$Likelihood.Ratio -> 0.1057627 (mvtnorm::dmvnorm ratio: exact up to the printed
    # slope's 7 digits); df_power$Bayes.Factor -> 0.56901 (two pmvnorm calls, abseps 1e-3 each)
    assert hw_pointwise.likelihood_ratio == pytest.approx(printed["likelihood_ratio_at_slope50_linear"], abs=5e-7)
    assert hw_pointwise.bayes_factor == pytest.approx(printed["bayes_factor_at_slope50_linear"], abs=3e-3)
    beta, sigma, t, _ = hw
    lr = pp_module._likelihood_ratio(beta[:3], 0.024 * (t[:3] + 1) ** 2, sigma[:3, :3])
    assert lr == pytest.approx(printed["likelihood_ratio_quadratic"], abs=5e-7)
    assert np.isnan(pretrend_power(beta, sigma, 3).likelihood_ratio)


def test_he_wang_quadratic_trend_power_matches_pretrends(hw):
    # R: pretrends(..., deltatrue = 0.024 * (tVec - referencePeriod)^2)$df_power$Power -> 0.6624282
    _, sigma, t, printed = hw
    S, delta = sigma[:3, :3], 0.024 * (t[:3] + 1) ** 2
    se = np.sqrt(np.diag(S))
    power = 1 - _rectangle(-1.96 - delta / se, 1.96 - delta / se, S / np.outer(se, se))
    assert power == pytest.approx(printed["power_quadratic"], abs=1e-3)


def test_he_wang_event_times_from_the_full_vector_or_the_pre_periods(hw, hw_pointwise):
    beta, sigma, t, _ = hw
    short = pretrend_power(beta, sigma, 3, test="pointwise", level=LEVEL_196, event_times=t[:3])
    default = pretrend_power(beta, sigma, 3, test="pointwise", level=LEVEL_196)  # -4, -3, -2 by default
    assert short.slope_50 == default.slope_50 == hw_pointwise.slope_50
    np.testing.assert_array_equal(hw_pointwise.trend, [-3, -2, -1])


# -- the Wald test from first principles -----------------------------------------------------------
def test_one_pre_period_wald_equals_pointwise_equals_normal_tail():
    z = stats.norm.ppf(0.975)
    w = pretrend_power([0.1, 0.3], [[0.04, 0.01], [0.01, 0.05]], 1, slope=0.25)
    p = pretrend_power([0.1, 0.3], [[0.04, 0.01], [0.01, 0.05]], 1, slope=0.25, test="pointwise")
    m = 0.25 * 1 / 0.2      # event time -2, reference -1: mean -slope; |mean| / se
    exact = stats.norm.sf(z - m) + stats.norm.cdf(-z - m)
    assert w.power == pytest.approx(exact, abs=1e-12)
    assert p.power == pytest.approx(exact, abs=1e-12)
    assert w.slope_50 == pytest.approx(p.slope_50, rel=1e-8)
    assert w.statistic == pytest.approx((0.1 / 0.2) ** 2) and w.p_value == pytest.approx(p.p_value)


def test_wald_power_is_the_poisson_mixture_of_central_chi_squares():
    """First principles: a noncentral chi-square(k, lam) is a Poisson(lam / 2) mixture of central
    chi-square(k + 2j) (Johnson, Kotz & Balakrishnan 1995, eq. 29.2), summed here to 1e-15."""
    S = np.array([[0.04, 0.01, 0.0], [0.01, 0.03, 0.005], [0.0, 0.005, 0.02]])
    r = pretrend_power(np.zeros(4), np.pad(S, ((0, 1), (0, 1))) + np.diag([0, 0, 0, 0.01]), 3, slope=0.15)
    lam = 0.15 ** 2 * r.trend @ np.linalg.solve(S, r.trend)
    crit = stats.chi2.ppf(0.95, 3)
    j = np.arange(400)
    mixture = np.sum(stats.poisson.pmf(j, lam / 2) * stats.chi2.sf(crit, 3 + 2 * j))
    assert r.power == pytest.approx(mixture, abs=1e-12)
    assert 0.2 < r.power < 0.95


def test_wald_size_is_alpha_and_pointwise_size_with_independent_estimates():
    S = np.diag([0.02, 0.03, 0.05, 0.01])
    assert pretrend_power(np.zeros(4), S, 3).size == pytest.approx(0.05, abs=1e-12)
    assert pretrend_power(np.zeros(4), S, 3, level=0.9).size == pytest.approx(0.10, abs=1e-12)
    # three independent two-sided 5% tests: 1 - 0.95^3
    assert pretrend_power(np.zeros(4), S, 3, test="pointwise").size == pytest.approx(1 - 0.95 ** 3, abs=1e-6)


def test_pointwise_critical_value_follows_the_degrees_of_freedom():
    # one pre-period, t reference with 5 df: size = P(|Z| > t_{5, 0.975}) for normal estimates
    r = pretrend_power([0.0, 0.0], np.eye(2) * 0.01, 1, test="pointwise", df=5)
    assert r.size == pytest.approx(2 * stats.norm.sf(stats.t.ppf(0.975, 5)), abs=1e-12)
    assert r.slope_50 > pretrend_power([0.0, 0.0], np.eye(2) * 0.01, 1, test="pointwise").slope_50
    assert pretrend_power([0.0, 0.0], np.eye(2) * 0.01, 1, df=5).size == pytest.approx(0.05, abs=1e-12)
    with pytest.raises(EvalkitError, match="df="):
        pretrend_power([0.0, 0.0], np.eye(2) * 0.01, 1, df=0)


def _draws(delta, S, reps, seed):
    return np.random.default_rng(seed).multivariate_normal(delta, S, size=reps)


def test_wald_and_pointwise_power_match_seeded_simulation(hw):
    """Draw betahat ~ N(slope * d, Sigma), run evalkit's own pre-test statistic and count
    rejections; the analytic power must be within 4 Monte Carlo SEs."""
    _, sigma, t, _ = hw
    S = sigma[:3, :3]
    g, tt = np.array([3.0, 3.0, 3.0]), np.array([0.0, 1.0, 2.0])   # three pre-treatment cells
    se = np.sqrt(np.diag(S))
    for test in ("wald", "pointwise"):
        res = pretrend_power(np.zeros(3), S, 3, test=test, event_times=t[:3], slope=0.06)
        b = _draws(0.06 * (t[:3] + 1), S, 4000, seed=14)
        if test == "wald":
            reject = [pretrend_wald(g, tt, bi, se, S, 1)[2] < 0.05 for bi in b]
        else:
            reject = np.any(np.abs(b / se) > stats.norm.ppf(0.975), axis=1)
        rate, mc_se = np.mean(reject), np.sqrt(res.power * (1 - res.power) / len(b))
        assert abs(rate - res.power) < 4 * mc_se, (test, rate, res.power)
        assert 0.2 < res.power < 0.9     # an informative point of the power curve


def test_slopes_reach_their_power_and_scale_with_the_standard_errors():
    S = np.array([[0.04, 0.01, 0.0], [0.01, 0.03, 0.005], [0.0, 0.005, 0.02]])
    for test in ("wald", "pointwise"):
        r = pretrend_power(np.zeros(3), S, 3, test=test)
        assert r.power_at(r.slope_50) == pytest.approx(0.5, abs=1e-6)
        assert r.power_at(r.slope_80) == pytest.approx(0.8, abs=1e-6)
        assert 0 < r.slope_50 < r.slope_80
        assert r.power_at(-r.slope_80) == pytest.approx(0.8, abs=1e-6)     # sign does not matter
        # Sigma x 4 (SEs x 2): the detectable slope doubles
        assert pretrend_power(np.zeros(3), 4 * S, 3, test=test).slope_50 == pytest.approx(2 * r.slope_50, rel=1e-5)
    tidy = pretrend_power(np.zeros(3), S, 3, slope=0.1).tidy()
    assert tidy.columns.tolist() == ["test", "power_target", "slope", "power"]
    assert len(tidy) == 3 and np.isnan(tidy.power_target.iloc[2]) and tidy.slope.iloc[2] == 0.1


def test_varying_base_trend_is_constant_and_uses_the_period_spacing():
    S = np.diag([0.01, 0.01, 0.01])
    r = pretrend_power(np.zeros(3), S, 3, base_period="varying")
    np.testing.assert_array_equal(r.event_times, [-3, -2, -1])
    np.testing.assert_array_equal(r.trend, [1, 1, 1])
    biennial = pretrend_power(np.zeros(3), S, 3, base_period="varying", event_times=[-6, -4, -2])
    np.testing.assert_array_equal(biennial.trend, [2, 2, 2])
    assert biennial.slope_50 == pytest.approx(r.slope_50 / 2, rel=1e-10)


def test_many_pointwise_tests_and_their_accuracy():
    """20 independent pre-period estimates: the pointwise check rejects 1 - 0.95^20 = 64% of the
    time under parallel trends, so no slope is needed for 50% power and the sentence says so;
    with 9 estimates the probabilities are asked to 1e-4 and the slope reaches its power."""
    r = pretrend_power(np.zeros(20), np.eye(20) * 0.01, 20, test="pointwise")
    assert r.size == pytest.approx(1 - 0.95 ** 20, abs=r.accuracy) and r.accuracy == 1e-3
    assert r.slope_50 == 0 and r.slope_80 > 0
    assert "64%" in r.sentence("en") and "64%" in r.sentence("zh")
    S = 0.01 * (np.eye(9) + 0.3)
    nine = pretrend_power(np.zeros(9), S, 9, test="pointwise", slope=0.02)
    assert nine.accuracy == 1e-4 and nine.power_at(nine.slope_80) == pytest.approx(0.8, abs=1e-4)
    assert pretrend_power(np.zeros(9), S, 9).accuracy == 0.0
    assert nine.rejects is False and pretrend_power(np.full(9, 0.3), S, 9).rejects is True


def test_deterministic():
    S = np.array([[0.04, 0.02], [0.02, 0.03]])
    a = pretrend_power([0.1, -0.2], S, 2, test="pointwise", slope=0.1)
    b = pretrend_power([0.1, -0.2], S, 2, test="pointwise", slope=0.1)
    assert (a.slope_50, a.slope_80, a.power, a.p_value) == (b.slope_50, b.slope_80, b.power, b.p_value)


# -- evalkit results ---------------------------------------------------------------------------------
def _panel(seed: int, n: int, slope: float, years=tuple(range(2014, 2019)), groups=(2017, 2018)) -> pd.DataFrame:
    """Panel (default 2014-2018, groups never / 2017 / 2018), treated units on a linear
    differential trend of `slope` per year from the start (no treatment effect)."""
    rng = np.random.default_rng(seed)
    g = rng.choice([0, *groups], size=n, p=[0.5] + [0.5 / len(groups)] * len(groups))
    years = np.asarray(years)
    T = years.size
    df = pd.DataFrame({"id": np.repeat(np.arange(n), T), "year": np.tile(years, n), "g": np.repeat(g, T)})
    df["y"] = (np.repeat(rng.normal(size=n), T) + 0.3 * (df.year - 2014)
               + slope * (df.year - 2014) * (df.g > 0) + rng.normal(scale=0.5, size=len(df)))
    return df


def _fit(df, base):
    return att_gt(df, y="y", group="g", time="year", unit="id", method="reg", base_period=base)


@pytest.fixture(scope="module")
def big():
    df = _panel(1, 20000, 0.2)
    return {b: _fit(df, b) for b in ("universal", "varying")}


@pytest.mark.parametrize("base", ["universal", "varying"])
def test_planted_trend_maps_to_the_pre_period_means(big, base):
    """A linear trend of 0.2 per year: universal pre-estimates 0.2 (e + 1), varying ones 0.2."""
    for res in (big[base], big[base].aggregate("dynamic")):
        r = pretrend_power(res)
        est = res.att[(res.group > res.time) & np.isfinite(res.se)] if hasattr(res, "group") else \
            res.att[(res.levels < 0) & (res.se > 0)]
        se = np.sqrt(np.diag(r.sigma))
        assert np.all(np.abs(est - 0.2 * r.trend) < 4 * se), (base, est, r.trend)
        assert r.base_period == base


def test_irregular_waves_map_the_trend_exactly():
    """Waves 2013, 2015, 2016, 2017, 2019 and one start year 2017: a pre-period estimate spans
    2 or 1 years, so the trend per unit of slope is the span (varying) or the distance to the
    reference wave 2016 (universal); the Wald power is again the same for both."""
    df = _panel(3, 20000, 0.2, years=(2013, 2015, 2016, 2017, 2019), groups=(2017,))
    out = {}
    for base, trend in (("universal", [-3, -1]), ("varying", [2, 1])):
        res = _fit(df, base)
        np.testing.assert_array_equal(pretrend_power(res, slope=0.02).trend, trend)
        if base == "universal":
            np.testing.assert_array_equal(pretrend_power(res.aggregate("dynamic")).trend, trend)
        else:   # the event study alone does not show that 2015's change spans two years
            with pytest.warns(DidWarning, match="unevenly spaced"):
                pretrend_power(res.aggregate("dynamic"))
        pre = (res.group > res.time) & np.isfinite(res.se)
        assert np.all(np.abs(res.att[pre] - 0.2 * np.array(trend)) < 4 * res.se[pre]), (base, res.att[pre])
        out[base] = pretrend_power(res, slope=0.02)
    assert out["universal"].power == pytest.approx(out["varying"].power, rel=1e-7)


def test_aggregate_event_times_and_covariance(big):
    uni = big["universal"].aggregate("dynamic")
    r = pretrend_power(uni)
    np.testing.assert_array_equal(r.event_times, [-4, -3, -2])
    np.testing.assert_array_equal(r.trend, [-3, -2, -1])
    np.testing.assert_allclose(r.sigma, uni.vcov()[:3, :3], rtol=1e-12)
    var = pretrend_power(big["varying"].aggregate("dynamic"))
    np.testing.assert_array_equal(var.event_times, [-3, -2, -1])
    np.testing.assert_array_equal(var.trend, [1, 1, 1])


def test_attgt_wald_is_evalkits_pretest_and_invariant_to_the_base_period(big):
    """The Wald statistic on the pre-treatment cells is att_gt's pretrend_test; universal and
    varying pre-cells are an invertible linear map of each other, and so are their trends, so
    the Wald power is the same (a check that the varying trend is mapped correctly)."""
    out = {}
    for base, res in big.items():
        r = pretrend_power(res, slope=0.01)
        pt = res.pretrend_test()
        assert r.statistic == pytest.approx(pt.statistic, rel=1e-9)
        assert r.p_value == pytest.approx(pt.p_value, rel=1e-9, abs=1e-300)
        out[base] = r
    assert out["universal"].slope_50 == pytest.approx(out["varying"].slope_50, rel=1e-7)
    assert out["universal"].power == pytest.approx(out["varying"].power, rel=1e-7)


def test_design_based_fit_keeps_its_pretest_and_df():
    """att_gt(design=): the Wald statistic is the design-based pretrend_test's, and the pointwise
    check uses the t quantile with the design df (12 PSUs in 2 strata: df 10), as the intervals."""
    from evalkit import SurveyDesign

    df = _panel(2, 400, 0.05)
    df["psu"], df["w"] = df.id % 12, 1.0
    df["stratum"] = df.psu % 2
    res = att_gt(design=SurveyDesign(df, weight="w", strata="stratum", psu="psu"), y="y", group="g",
                 time="year", unit="id")
    assert res.df == 10
    assert pretrend_power(res).statistic == pytest.approx(res.pretrend_test().statistic, rel=1e-9)
    pw = pretrend_power(res.aggregate("dynamic"), test="pointwise")
    assert pw.df == 10
    by_hand = pretrend_power(np.zeros(pw.trend.size), pw.sigma, pw.trend.size,
                             test="pointwise", base_period="varying", event_times=pw.event_times, df=10)
    assert pw.slope_50 == pytest.approx(by_hand.slope_50, rel=1e-9)
    assert by_hand.slope_50 > pretrend_power(np.zeros(pw.trend.size), pw.sigma, pw.trend.size, test="pointwise",
                                             base_period="varying", event_times=pw.event_times).slope_50


def test_power_matches_att_gt_pretest_rejections_end_to_end():
    """Simulated panels with a planted linear pre-trend: the share of att_gt pre-tests (evalkit's
    own, and the Wald on the event study's pre-periods with a varying base) that reject at 5%
    agrees with the mean analytic power within 4 Monte Carlo SEs."""
    reps, slope = 250, 0.09
    rej_cells, rej_es, pow_cells, pow_es = [], [], [], []
    for s in range(reps):
        res = _fit(_panel(100 + s, 240, slope), "varying")
        cells = pretrend_power(res, slope=slope)
        es = pretrend_power(res.aggregate("dynamic"), slope=slope)
        rej_cells.append(res.pretrend_test().p_value < 0.05)
        rej_es.append(es.p_value < 0.05)
        pow_cells.append(cells.power)
        pow_es.append(es.power)
    for rej, power in ((rej_cells, pow_cells), (rej_es, pow_es)):
        p = np.mean(power)
        assert 0.2 < p < 0.9
        assert abs(np.mean(rej) - p) < 4 * np.sqrt(p * (1 - p) / reps), (np.mean(rej), p)


# -- errors, sentences, docs --------------------------------------------------------------------------
def test_clear_errors(big):
    S = np.eye(3) * 0.01
    with pytest.raises(EvalkitError, match="num_pre"):
        pretrend_power(np.zeros(3), S, 0)
    with pytest.raises(EvalkitError, match="shape"):
        pretrend_power(np.zeros(3), np.eye(2), 1)
    with pytest.raises(EstimationError, match="singular"):
        pretrend_power(np.zeros(3), np.ones((3, 3)) * 0.01, 2)
    with pytest.raises(EvalkitError, match="reference period"):
        pretrend_power(np.zeros(3), S, 2, event_times=[-2, -1])
    with pytest.raises(EvalkitError, match="increasing"):
        pretrend_power(np.zeros(3), S, 2, event_times=[-2, -3])
    with pytest.raises(EvalkitError, match="test="):
        pretrend_power(np.zeros(3), S, 2, test="F")
    with pytest.raises(EvalkitError, match="level"):
        pretrend_power(np.zeros(3), S, 2, level=95)
    with pytest.raises(EvalkitError, match="aggregate\\('dynamic'\\)"):
        pretrend_power(big["universal"].aggregate("group"))
    with pytest.raises(EvalkitError, match="neither sigma"):
        pretrend_power(big["universal"], S, 2)
    with pytest.raises(EvalkitError, match="sigma"):
        pretrend_power(np.zeros(3))
    with pytest.raises(EstimationError, match="pre-period"):
        pretrend_power(big["universal"].aggregate("dynamic", min_e=0))


def test_sentences_state_the_slopes_with_two_significant_figures():
    r = pretrend_power(np.zeros(3), np.diag([0.01, 0.01, 0.01]), 2, slope=0.05)
    en = r.sentence("en", unit="points", period="year")
    zh = r.sentence("zh", unit="分", period="年")
    for text in (en, zh):
        assert _sig2(r.slope_50) in text and _sig2(r.slope_80) in text and _sig2(0.05) in text
        assert f"{100 * r.power:.0f}%" in text
    assert "points per year" in en and "每年" in zh and "80%" in zh
    pct = r.sentence("en", unit="percentage points", scale=100)
    assert _sig2(100 * r.slope_50) in pct
    assert [_sig2(v) for v in (0.0996, 0.12345, 1234.0, 1.0, 5e-4)] == ["0.10", "0.12", "1200", "1.0", "0.00050"]
    with pytest.raises(EvalkitError, match="lang"):
        r.sentence("fr")
    assert isinstance(r, PretrendPower) and "Roth" in r.summary


def test_docstring_examples_run():
    failures, tried = doctest.testmod(pp_module)
    assert tried > 0 and failures == 0
