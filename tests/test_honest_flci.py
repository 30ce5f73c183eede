"""HonestDiD's fixed-length confidence interval under Delta^SD(M) (evalkit.did.honest_flci).

References (frozen by tests/reference/honestdid/make_flci_refs.py, which names each source):
* flci_medicaid.json: HonestDiD README, Medicaid example, ``createSensitivityResults`` (FLCI),
  full-precision lb/ub from the README's knitr cache;
* flci_medicaid_control.json: README "Regressions with controls", printed to 3 significant digits;
  also R's ``set.seed(0); rnorm()`` draws (the README's fake control);
* flci_lw.json: the old vignette's precomputed ``LW_DeltaSD_RobustResults`` (full precision).
First-principles checks: the worst-case bias formula against a linear programme over Delta^SD(M)
written from its definition, the M = 0 interval against generalised least squares extrapolation,
and optimality of the weights.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

from evalkit.did.honest_flci import (_r_norm_draws, _sorted_draws, flci, folded_normal_quantile,
                                     sd_bias_weights)
from evalkit.errors import EstimationError

REF = Path(__file__).parent / "reference" / "honestdid"


def _ref(name):
    return json.loads((REF / f"{name}.json").read_text())


def _run(d, M, **kw):
    return flci(d["betahat"], d["sigma"], d["num_pre"], d["num_post"], d["l_vec"], M, **kw)


# -- the critical value -----------------------------------------------------------------------
def test_draws_are_rs_set_seed_0_rnorm():
    ref = _ref("flci_medicaid_control")["r_rnorm_seed0"]["values"]  # R: set.seed(0); rnorm(344)
    np.testing.assert_allclose(_r_norm_draws()[:20], ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize("mu", [0.0, 1e-9, 0.37, 1.9, 6.5])
def test_simulated_quantile_is_the_type7_quantile_of_the_folded_draws(mu):
    brute = np.quantile(np.abs(_sorted_draws() + mu), 0.95)  # R quantile(abs(draws + mu), 0.95)
    assert folded_normal_quantile(0.95, mu) == brute
    exact = folded_normal_quantile(0.95, mu, "exact")
    assert stats.norm.cdf(exact - mu) - stats.norm.cdf(-exact - mu) == pytest.approx(0.95, abs=1e-12)
    assert abs(brute - exact) < 5e-3  # 10^6 draws: the simulation error is about 2e-3


# -- HonestDiD's published results -----------------------------------------------------------
def test_medicaid_readme_full_precision():
    d = _ref("flci_medicaid")
    for M, lo, hi in zip(d["M"], d["ci_low"], d["ci_high"]):
        r = _run(d, M)
        assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), abs=1e-4), M


def test_medicaid_with_control_as_printed():
    d = _ref("flci_medicaid_control")
    for M, lo, hi in zip(d["M"], d["ci_low"], d["ci_high"]):
        r = _run(d, M)
        for got, printed in ((r.ci_low, lo), (r.ci_high, hi)):  # 3 significant digits printed
            unit = 10.0 ** (np.floor(np.log10(abs(printed))) - 2)
            assert abs(got - printed) <= 0.5 * unit + 1e-12, (M, got, printed)


@pytest.mark.parametrize("k", [1, 4, 6, 8])
def test_lw_vignette_precomputed(k):
    """Half-lengths agree to 1e-6. The centres agree to 5e-4 (values near 5, so 1e-4 relative):
    the half-length is flat at its minimum, so the centre moves with where HonestDiD's bisection
    over h stopped (its step, h * 6e-6, and ECOS's tolerance decide the last digits)."""
    d = _ref("flci_lw")
    M, lo, hi = d["M"][k], d["ci_low"][k], d["ci_high"][k]
    r = _run(d, M)
    assert r.halflength == pytest.approx((hi - lo) / 2, abs=1e-6)
    assert (r.ci_low + r.ci_high) / 2 == pytest.approx((lo + hi) / 2, abs=5e-4)


def test_lw_m0_is_the_minimum_variance_extrapolation():
    """At M = 0 HonestDiD re-solves 'least bias with sd <= h_min' at the numerically found h_min (a
    near-degenerate problem), which leaves its centre 2e-3 from the exact minimum-variance one; the
    half-length 1.96 * h_min agrees."""
    d = _ref("flci_lw")
    r = _run(d, 0.0)
    lo, hi = d["ci_low"][0], d["ci_high"][0]
    assert r.halflength == pytest.approx((hi - lo) / 2, abs=1e-6)
    assert (r.ci_low + r.ci_high) / 2 == pytest.approx((lo + hi) / 2, abs=2.5e-3)
    _check_min_variance(np.asarray(d["betahat"]), np.asarray(d["sigma"]), 9, 23, np.asarray(d["l_vec"]), r)


# -- first principles --------------------------------------------------------------------------
def _worst_bias_lp(a, num_pre, num_post, M):
    """max a' delta over Delta^SD(M), written from the definition: delta over -num_pre..num_post
    with delta_0 = 0 and every second difference in [-M, M]."""
    n = num_pre + num_post + 1
    D2 = np.array([np.r_[np.zeros(j), 1.0, -2.0, 1.0, np.zeros(n - 3 - j)] for j in range(n - 2)])
    keep = np.r_[0:num_pre, num_pre + 1:n]
    c = np.zeros(n)
    c[keep] = a
    eq = np.zeros((1, n))
    eq[0, num_pre] = 1.0
    res = optimize.linprog(-c, A_ub=np.vstack([D2, -D2]), b_ub=np.full(2 * (n - 2), M), A_eq=eq,
                           b_eq=[0.0], bounds=[(None, None)] * n, method="highs")
    return -res.fun if res.status == 0 else np.inf


@pytest.mark.parametrize("num_pre, num_post", [(1, 1), (3, 2), (5, 4)])
def test_worst_case_bias_formula_equals_the_linear_programme(num_pre, num_post):
    rng = np.random.default_rng(num_pre * 10 + num_post)
    t, G = sd_bias_weights(num_pre, num_post)
    for _ in range(5):
        a = rng.normal(size=t.size)
        a -= t * (a @ t) / (t @ t)  # a' t = 0: unbiased under linear trends
        assert 0.3 * np.abs(G.T @ a).sum() == pytest.approx(_worst_bias_lp(a, num_pre, num_post, 0.3), rel=1e-9)
    a = rng.normal(size=t.size)
    assert _worst_bias_lp(a, num_pre, num_post, 0.3) == np.inf  # not unbiased: unbounded


def _check_min_variance(b, S, num_pre, num_post, l_vec, r):
    """M = 0: the minimum-variance affine estimator unbiased under linear trends (GLS extrapolation):
    minimise a' S a over a = (v, l_vec) with a' t = 0, by the Lagrange conditions."""
    t = np.r_[-num_pre:0, 1:num_post + 1].astype(float)
    P = S[:num_pre, :num_pre]
    kkt = np.block([[P, t[:num_pre, None]], [t[None, :num_pre], np.zeros((1, 1))]])
    v = np.linalg.solve(kkt, np.r_[-S[:num_pre, num_pre:] @ l_vec, -t[num_pre:] @ l_vec])[:num_pre]
    a = np.r_[v, l_vec]
    np.testing.assert_allclose(r.weights, a, rtol=1e-7, atol=1e-9)
    assert r.sd == pytest.approx(np.sqrt(a @ S @ a), rel=1e-10)
    assert r.max_bias == 0


def test_m0_one_post_period_is_the_linear_extrapolation():
    """Independent pre and post estimates with equal pre variances: the M = 0 FLCI is the post
    estimate minus the trend through the origin fitted by OLS to the pre-periods, +- z * its sd."""
    b = np.array([0.3, -0.1, 0.2, 0.05, 1.4])
    s2 = 0.04
    S = np.diag([s2] * 4 + [0.09])
    t = np.arange(-4, 0.0)
    slope = (t @ b[:4]) / (t @ t)
    est, sd = b[4] - slope * 1.0, np.sqrt(0.09 + s2 / (t @ t))
    r = flci(b, S, 4, 1, [1.0], 0.0, cv="exact")
    assert (r.ci_low, r.ci_high) == pytest.approx((est - 1.959963984540054 * sd, est + 1.959963984540054 * sd),
                                                  abs=1e-10)
    r_sim = flci(b, S, 4, 1, [1.0], 0.0)  # HonestDiD's simulated critical value at mu = 0
    assert r_sim.halflength == pytest.approx(folded_normal_quantile(0.95, 0.0) * sd, rel=1e-12)
    _check_min_variance(b, S, 4, 1, np.array([1.0]), r)


def test_weights_are_optimal_and_unbiased_for_linear_trends():
    d = _ref("flci_medicaid")
    S, M = np.asarray(d["sigma"]), 0.02
    r = _run(d, M, cv="exact")
    t, G = sd_bias_weights(5, 2)
    assert abs(r.weights @ t) < 1e-10
    assert r.max_bias == pytest.approx(M * np.abs(G.T @ r.weights).sum(), rel=1e-10)

    def half(a):
        sd = np.sqrt(a @ S @ a)
        return sd * folded_normal_quantile(0.95, M * np.abs(G.T @ a).sum() / sd, "exact")

    assert r.halflength == pytest.approx(half(r.weights), rel=1e-10)
    rng = np.random.default_rng(3)
    for _ in range(30):  # no feasible perturbation shortens the interval
        step = np.r_[rng.normal(size=5), 0.0, 0.0]
        step -= t * (step @ t) / (t[:5] @ t[:5]) * np.r_[np.ones(5), 0, 0]
        for eps in (1e-3, 1e-2, 1e-1):
            assert half(r.weights + eps * step) >= r.halflength * (1 - 1e-6)


def test_halflength_grows_with_m_and_covers_the_m0_interval():
    d = _ref("flci_medicaid")
    rs = [_run(d, M) for M in (0.0, 0.01, 0.05)]
    assert rs[0].halflength < rs[1].halflength < rs[2].halflength


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, match", [
    (dict(betahat=np.zeros(6)), "num_pre \\+ num_post"),
    (dict(sigma=np.eye(6)), "7 x 7"),
    (dict(sigma=np.diag([1.0, 1, 1, -1, 1, 1, 1])), "positive semi-definite"),
    (dict(sigma=np.triu(np.ones((7, 7)))), "symmetric"),
    (dict(l_vec=[1.0, 0.0, 0.0]), "l_vec"),
    (dict(M=-0.1), "M must be"),
    (dict(betahat=np.r_[np.nan, np.zeros(6)]), "finite"),
])
def test_bad_input_is_named(kw, match):
    args = dict(betahat=np.zeros(7), sigma=np.eye(7), num_pre=5, num_post=2, l_vec=None, M=0.0) | kw
    with pytest.raises(EstimationError, match=match):
        flci(**args)
