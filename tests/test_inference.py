"""Tests of evalkit.inference.wild, .randomization, .few_clusters and .permutation: wild cluster
bootstrap, randomization inference, headline policy.

References used below:
* wildboottest 0.3.2 (PyPI; Python port of boottest's "fast and wild" algorithm), WCR
  bootstrap type "11", Rademacher weights with full enumeration (it enumerates when
  2^G < B); its bootstrap t-statistics are compared one by one.
* brute force for randomization inference: every assignment enumerated in the test and the
  model refitted with statsmodels (CR1, t = b / se with G/(G-1)(N-1)/(N-K)).
"""
import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from evalkit.errors import EvalkitError, FewClustersWarning
from evalkit.inference import headline, randomization_test, wild_cluster_bootstrap
from evalkit.inference.regress import regress


def _clustered(seed, G=10, n=30, beta=0.0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(G), n)
    x = rng.normal(size=G * n) + np.repeat(rng.normal(size=G), n)
    d = pd.DataFrame({"g": g, "x": x, "z": rng.normal(size=G * n),
                      "wave": np.tile(np.arange(n) % 3, G)})
    d["y"] = 1 + beta * x + rng.normal(size=G * n) + np.repeat(rng.normal(size=G), n)
    return d


def _wildboottest_tboot(formula, d, param, B=9999):
    """wildboottest's WildboottestCL pipeline (as its wildboottest() runs it), returning
    the bootstrap t's, its t statistic and its two-tailed p-value."""
    from wildboottest.wildboottest import WildboottestCL

    model = smf.ols(formula, d)
    xnames = model.data.xnames
    R = np.zeros(len(xnames))
    R[xnames.index(param)] = 1
    boot = WildboottestCL(X=model.exog, Y=model.endog, cluster=d["g"].to_numpy(), R=R, B=B,
                          seed=1, parallel=False)
    boot.get_scores(bootstrap_type="11", impose_null=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot.get_weights(weights_type="rademacher")
    boot.get_numer()
    boot.get_denom()
    boot.get_tboot()
    boot.get_vcov()
    boot.get_tstat()
    boot.get_pvalue(pval_type="two-tailed")
    return boot.t_boot, float(np.ravel(boot.t_stat)[0]), float(boot.pvalue)


def _ties_counted(t_boot, t):
    """#{|t*| >= |t|} / B with ties within a relative 1e-9 counted (evalkit's convention)."""
    return np.mean(np.abs(t_boot) >= abs(t) * (1 - 1e-9))


@pytest.mark.parametrize("seed,formula", [
    (0, "y ~ x + z"),
    (1, "y ~ x + z"),
    (2, "y ~ x + C(wave)"),
    (3, "y ~ x + z + C(wave)"),
])
def test_wild_bootstrap_equals_wildboottest_full_enumeration(seed, formula):
    d = _clustered(seed, G=10, beta=0.1 * seed)
    fit = regress(formula, d, cluster="g", vcov="CR1")
    wb = wild_cluster_bootstrap(fit, "x", B=9999, weights="rademacher")
    assert wb.enumerated and wb.B == 2 ** 10
    tb_ref, t_ref, p_ref = _wildboottest_tboot(formula, d, "x")
    # same t statistic and the same 1024 bootstrap t's, in the same (itertools.product) order
    assert wb.statistic == pytest.approx(t_ref, rel=1e-10)
    np.testing.assert_allclose(wb.t_boot, tb_ref, rtol=1e-8, atol=1e-12)
    # the sign vectors v = -1 (first) and v = +1 (last) reproduce |t|; evalkit counts them
    # (p = #{|t*| >= |t|} / 2^G, a randomization test), wildboottest counts |t*| > |t| in
    # floating point, i.e. each of the two ties or not depending on the last bit
    assert np.isclose(abs(tb_ref[0]), abs(t_ref), rtol=1e-12)
    assert np.isclose(abs(tb_ref[-1]), abs(t_ref), rtol=1e-12)
    assert wb.p_value == _ties_counted(tb_ref, t_ref)
    assert wb.p_value - p_ref in (0.0, 1 / 1024, 2 / 1024)
    assert wb.p_value >= 2 / 1024


def _evalkit_and_wildboottest_rademacher(d, formula="y ~ x + z", param="x"):
    """evalkit's and wildboottest()'s (the public function) Rademacher WCR test of ``param``
    with B = 9999, i.e. full enumeration for G <= 13."""
    from wildboottest.wildboottest import wildboottest

    wb = wild_cluster_bootstrap(regress(formula, d, cluster="g", vcov="CR1"),
        param, B=9999, weights="rademacher")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = wildboottest(smf.ols(formula, d), B=9999, cluster=d["g"].to_numpy(),
                           param=param, weights_type="rademacher", show=False)
    return wb, ref


def test_twelve_clusters_full_enumeration_equals_wildboottest_50_of_4096():
    # 12 clusters: wildboottest 0.3.2 enumerates the 4096 sign vectors (2^G < B) and reports
    # 50/4096; here its floating-point |t*| of both tie vectors land above |t|, so its count
    # equals the randomization count. (Data: the first seed of _clustered(seed, G=12,
    # beta in 0.2/0.3/0.4) whose evalkit p-value is 50/4096; the tie-excluding count evalkit
    # used before is 48/4096.)
    wb, ref = _evalkit_and_wildboottest_rademacher(_clustered(134, G=12, beta=0.4))
    assert wb.enumerated and wb.B == 4096
    assert wb.p_value == ref["p-value"].iloc[0] == 50 / 4096
    assert np.sum(np.abs(wb.t_boot) > abs(wb.statistic) * (1 + 1e-9)) == 48


def test_wildboottest_public_function_same_pvalue():
    # wildboottest() itself (the public function): same statistic; same p-value up to the two
    # tie vectors, which evalkit counts and wildboottest counts only when rounding puts |t*|
    # above |t|: wildboottest 0.3.2 reports 156/1024 here (neither tie), evalkit 158/1024
    wb, ref = _evalkit_and_wildboottest_rademacher(_clustered(0, G=10))
    assert ref["p-value"].iloc[0] == 156 / 1024
    assert wb.p_value == 158 / 1024
    assert wb.statistic == pytest.approx(float(ref["statistic"].iloc[0]), rel=1e-10)


def _brute_wcr_enumeration(d, formula, term, weights=None):
    """The WCR bootstrap by brute force: for every one of the 2^G sign vectors, the
    bootstrap sample y* = X b~ + v_g u~ (b~, u~: the least-squares fit with ``term`` = 0),
    refitted by numpy least squares, CR1 t with G/(G-1) (N-1)/(N-K); WLS on the
    sqrt(w)-transformed data. Returns (t, t* in itertools.product([-1, 1], repeat=G) order)."""
    model = smf.ols(formula, d)
    sw = np.ones(len(d)) if weights is None else np.sqrt(d[weights].to_numpy())
    X, y = model.exog * sw[:, None], model.endog * sw
    j = model.exog_names.index(term)
    codes = pd.factorize(d["g"], sort=True)[0]
    G = codes.max() + 1
    N, K = X.shape
    M = np.linalg.inv(X.T @ X)

    def cr1_t(ys):
        b = M @ (X.T @ ys)
        scores = np.array([X[codes == g].T @ (ys - X @ b)[codes == g] for g in range(G)])
        V = G / (G - 1) * (N - 1) / (N - K) * M @ scores.T @ scores @ M
        return b[j] / np.sqrt(V[j, j])

    Xr = np.delete(X, j, axis=1)
    fitted = Xr @ np.linalg.lstsq(Xr, y, rcond=None)[0]
    u = y - fitted
    t_star = [cr1_t(fitted + np.array(v)[codes] * u)
              for v in itertools.product([-1, 1], repeat=G)]
    return cr1_t(y), np.array(t_star)


@pytest.mark.parametrize("seed,G,beta,weighted", [
    (20, 6, 0.0, False), (21, 8, 0.2, False), (22, 8, 0.2, True), (23, 9, 0.5, True),
    (24, 8, 3.0, False), (25, 7, 3.0, True),   # strong effects: p at its floor 2/2^G
])
def test_full_enumeration_pvalue_equals_brute_force_randomization_count(seed, G, beta, weighted):
    d = _clustered(seed, G=G, n=12, beta=beta)
    d["w"] = np.random.default_rng(seed).uniform(0.5, 2.0, len(d))
    w = "w" if weighted else None
    wb = wild_cluster_bootstrap(regress("y ~ x + z", d, cluster="g", vcov="CR1", weights=w),
        "x", B=9999, weights="rademacher")
    t, t_star = _brute_wcr_enumeration(d, "y ~ x + z", "x", weights=w)
    assert wb.enumerated and wb.B == 2 ** G
    assert wb.statistic == pytest.approx(t, rel=1e-10)
    np.testing.assert_allclose(wb.t_boot, t_star, rtol=1e-8)
    assert wb.p_value == _ties_counted(t_star, t)
    assert wb.p_value >= 2 / 2 ** G
    if beta >= 3:
        assert wb.p_value == 2 / 2 ** G


def test_full_enumeration_pvalue_never_below_two_over_2_to_the_G():
    for seed in range(30):
        G = 5 + seed % 6
        d = _clustered(100 + seed, G=G, n=8, beta=2.0 * (seed % 3))
        wb = wild_cluster_bootstrap(regress("y ~ x", d, cluster="g", vcov="CR1"),
            "x", B=9999, weights="rademacher", null=float(seed % 2))
        assert wb.enumerated and wb.p_value >= 2 / 2 ** G, (seed, wb.p_value)


def test_wild_bootstrap_invariant_to_rescaling_a_covariate():
    # a covariate with mean 1e5 and SD 10 (in the thousands of yuan: mean 100, SD 0.01): the
    # bootstrap t's, the p-value (with its two tie vectors) and the interval are the same model
    d = _clustered(30, G=10, beta=0.3)
    d["inc"] = np.random.default_rng(30).normal(1e5, 10.0, len(d))
    d["w"] = np.random.default_rng(31).uniform(0.5, 2.0, len(d))
    for term in ("x", "inc"):
        a = wild_cluster_bootstrap(regress("y ~ x + inc", d, cluster="g", weights="w"),
            term, weights="rademacher")
        b = wild_cluster_bootstrap(regress("y ~ x + inc", d.assign(inc=d["inc"] / 1000), cluster="g",
                                           weights="w"), term, weights="rademacher")
        c = 1000.0 if term == "inc" else 1.0
        np.testing.assert_allclose(b.t_boot, a.t_boot, rtol=1e-9)
        assert b.p_value == a.p_value >= 2 / 1024
        assert b.ci_low == pytest.approx(a.ci_low * c, rel=1e-7)
        assert b.ci_high == pytest.approx(a.ci_high * c, rel=1e-7)


def test_enumerated_interval_is_consistent_with_the_pvalue():
    # 10 clusters: the interval is {delta : p(delta) > 0.05} with the same tie-counting p-value
    d = _clustered(5, G=10, beta=0.3)
    fit = regress("y ~ x + z", d, cluster="g")
    wb = wild_cluster_bootstrap(fit, "x", B=9999, weights="rademacher")
    assert wb.enumerated and wb.ci_low < wb.estimate < wb.ci_high
    eps = 1e-6 * (wb.ci_high - wb.ci_low)
    for bound, out in ((wb.ci_low, -eps), (wb.ci_high, eps)):
        p_in = wild_cluster_bootstrap(fit, "x", B=9999, weights="rademacher", null=bound - out).p_value
        p_out = wild_cluster_bootstrap(fit, "x", B=9999, weights="rademacher", null=bound + out).p_value
        assert p_in > 0.05 >= p_out
    # 5 clusters: p >= 2/32 > 0.05 for every null value, so the 95% interval is unbounded
    d5 = _clustered(6, G=5, beta=5.0)
    wb5 = wild_cluster_bootstrap(regress("y ~ x", d5, cluster="g"), "x", B=9999, weights="rademacher")
    assert wb5.p_value == 2 / 32
    assert wb5.ci_low == -np.inf and wb5.ci_high == np.inf


def test_ci_is_test_inversion():
    d = _clustered(5, G=12, beta=0.3)
    fit = regress("y ~ x + z", d, cluster="g")
    wb = wild_cluster_bootstrap(fit, "x", B=999, weights="webb", seed=7, level=0.9)
    assert wb.ci_low < wb.estimate < wb.ci_high
    eps = 1e-6 * (wb.ci_high - wb.ci_low)
    for bound, out in ((wb.ci_low, -eps), (wb.ci_high, eps)):
        p_in = wild_cluster_bootstrap(fit, "x", B=999, weights="webb", seed=7, null=bound - out).p_value
        p_out = wild_cluster_bootstrap(fit, "x", B=999, weights="webb", seed=7, null=bound + out).p_value
        assert p_in > 0.1 >= p_out


def test_wcu_interval_is_symmetric_percentile_t():
    # WCU: t* does not depend on the null, so the inverted interval is b +- se_CR1 * q with q
    # the 95% quantile of |t*| (Cameron, Gelbach & Miller 2008, percentile-t)
    d = _clustered(6, G=12)
    fit = regress("y ~ x", d, cluster="g", vcov="CR1")
    wb = wild_cluster_bootstrap(fit, "x", B=999, weights="webb", seed=3, impose_null=False)
    se = fit.tidy().set_index("term").loc["x", "se"]
    half_lo = (wb.estimate - wb.ci_low) / se
    half_hi = (wb.ci_high - wb.estimate) / se
    assert half_lo == pytest.approx(half_hi, rel=1e-6)
    share_beyond = np.mean(np.abs(wb.t_boot) > half_lo * (1 + 1e-9))
    assert share_beyond <= 0.05 < np.mean(np.abs(wb.t_boot) >= half_lo * (1 - 1e-6))


def test_webb_is_seeded_and_tidy():
    d = _clustered(7, G=14)
    fit = regress("y ~ x", d, cluster="g")
    a = wild_cluster_bootstrap(fit, "x", B=499, seed=11)
    b = wild_cluster_bootstrap(fit, "x", B=499, seed=11)
    assert a.p_value == b.p_value and not a.enumerated and a.B == 499 and a.weights == "webb"
    assert len(np.unique(np.round(a.t_boot, 6))) > 10   # random draws, not 2^G sign vectors
    assert list(a.tidy().columns)[:6] == ["term", "estimate", "statistic", "p_value", "ci_low", "ci_high"]
    with pytest.raises(EvalkitError, match="weights='mammen' is not a valid choice"):
        wild_cluster_bootstrap(fit, "x", weights="mammen")


def _brute_ri(d, formula, schedules, cluster_labels, actual_kinds, time=None):
    """Every distinct assignment of the schedules to clusters, refitted with statsmodels."""
    stats = []
    seen = set()
    for perm in itertools.permutations(range(len(cluster_labels))):
        kinds = tuple(actual_kinds[list(perm)])
        if kinds in seen:
            continue
        seen.add(kinds)
        dd = d.copy()
        k_of = dict(zip(cluster_labels, kinds))
        if time is None:
            dd["treat"] = d["g"].map(lambda c: schedules[k_of[c]])
        else:
            dd["treat"] = [schedules[k_of[c]][t] for c, t in zip(d["g"], d[time])]
        f = smf.ols(formula, dd).fit(cov_type="cluster", cov_kwds={"groups": dd["g"]})
        stats.append((kinds == tuple(actual_kinds), f.params["treat"] / f.bse["treat"]))
    t_obs = [t for is_actual, t in stats if is_actual][0]
    allt = np.array([t for _, t in stats])
    return np.mean(np.abs(allt) >= abs(t_obs) - 1e-10), len(allt), t_obs


def test_randomization_exact_cluster_level():
    # 6 communities, 3 treated: C(6, 3) = 20 assignments, all enumerated
    rng = np.random.default_rng(8)
    d = _clustered(8, G=6, n=20)
    treated = {0, 2, 3}
    d["treat"] = d["g"].isin(treated).astype(float)
    d["y"] = d["y"] + 0.4 * d["treat"] + rng.normal(size=len(d)) * 0.1
    res = randomization_test(d, formula="y ~ treat + z", treatment="treat", cluster="g")
    kinds = np.array([1 if c in treated else 0 for c in range(6)])
    p, n_assign, t_obs = _brute_ri(d, "y ~ treat + z", {0: 0.0, 1: 1.0}, list(range(6)), kinds)
    assert res.exact and res.n_assignments == n_assign == 20
    assert res.statistic == pytest.approx(t_obs, rel=1e-9)
    assert res.p_value == pytest.approx(p, abs=1e-12)
    assert res.p_value * 20 == round(res.p_value * 20)


def test_randomization_exact_staggered_start_years():
    # DiD panel: 6 communities x 3 waves; start wave 1 (2 communities), wave 2 (2), never (2):
    # permuting the community -> start-wave mapping gives 6!/(2!2!2!) = 90 assignments
    rng = np.random.default_rng(9)
    G, T, n = 6, 3, 8
    g = np.repeat(np.arange(G), T * n)
    wave = np.tile(np.repeat(np.arange(T), n), G)
    start = np.array([1, 1, 2, 2, 99, 99])
    d = pd.DataFrame({"g": g, "wave": wave})
    d["treat"] = (wave >= start[g]).astype(float)
    d["y"] = (rng.normal(size=G)[g] + 0.2 * wave + rng.normal(size=(G, T))[g, wave] * 0.3
              + 0.3 * d["treat"] + rng.normal(size=len(d)))
    formula = "y ~ treat + C(g) + C(wave)"
    res = randomization_test(d, formula=formula, treatment="treat", cluster="g", time="wave")
    schedules = {k: {t: float(t >= s) for t in range(T)} for k, s in enumerate([1, 2, 99])}
    kinds = np.array([0, 0, 1, 1, 2, 2])
    p, n_assign, t_obs = _brute_ri(d, formula, schedules, list(range(G)), kinds, time="wave")
    assert res.exact and res.n_assignments == n_assign == 90
    assert res.statistic == pytest.approx(t_obs, rel=1e-9)
    assert res.p_value == pytest.approx(p, abs=1e-12)


def test_randomization_random_draws_custom_statistic_and_assignments():
    d = _clustered(10, G=8, n=10)
    d["treat"] = (d["g"] < 4).astype(float)
    # C(8, 4) = 70 > n_perm = 30: random draws, actual assignment included
    res = randomization_test(d, formula="y ~ treat", treatment="treat", cluster="g",
                             n_perm=30, seed=1)
    assert not res.exact and res.n_assignments == 31
    # custom statistic: difference in means (hook)
    diff = lambda dd: dd.loc[dd.treat == 1, "y"].mean() - dd.loc[dd.treat == 0, "y"].mean()
    perms = np.array([np.roll(np.arange(8), k) for k in range(8)])
    res2 = randomization_test(d, formula="y ~ treat", treatment="treat", cluster="g",
                              assignments=perms, statistic=diff)
    # brute force over the same 8 rotations (rotation 0 = the actual assignment)
    vals = []
    for p in perms:
        dd = d.copy()
        dd["treat"] = (p[d["g"]] < 4).astype(float)
        vals.append(diff(dd))
    vals = np.array(vals)
    assert res2.statistic == pytest.approx(vals[0])
    assert res2.p_value == pytest.approx(np.mean(np.abs(vals) >= abs(vals[0]) - 1e-12))


def test_headline_few_clusters_uses_wcr_and_warns():
    d = _clustered(11, G=14)
    fit = regress("y ~ x", d, cluster="g")
    with pytest.warns(FewClustersWarning, match=r"14 clusters; p-value and CI from the wild "
                      r"cluster restricted bootstrap \(Webb weights, B=999\)"):
        row = headline(fit, "x", B=999, seed=5)
    wb = wild_cluster_bootstrap(fit, "x", B=999, seed=5)
    assert row.loc[0, "p_value"] == wb.p_value
    assert row.loc[0, "ci_low"] == wb.ci_low and row.loc[0, "ci_high"] == wb.ci_high
    assert "bootstrap" in row.loc[0, "method"]


def test_headline_many_clusters_is_analytic_without_warning():
    d = _clustered(12, G=60, n=5)
    fit = regress("y ~ x", d, cluster="g")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewClustersWarning)
        row = headline(fit, "x")
    ref = fit.tidy().set_index("term").loc["x"]
    assert row.loc[0, "p_value"] == ref["p_value"] and "Satterthwaite" in row.loc[0, "method"]


def test_wls_bootstrap_is_ols_on_sqrt_weight_transformed_data():
    # boottest with aweights bootstraps the sqrt(w)-transformed model; evalkit's WLS fit must
    # give the same bootstrap t's as an OLS fit of sqrt(w) y on sqrt(w) [1, x, z]
    d = _clustered(13, G=8)
    d["w"] = np.random.default_rng(13).uniform(0.5, 2.0, len(d))
    sw = np.sqrt(d["w"])
    t = pd.DataFrame({"ys": sw * d["y"], "one": sw, "xs": sw * d["x"], "zs": sw * d["z"],
                      "g": d["g"]})
    a = wild_cluster_bootstrap(regress("y ~ x + z", d, cluster="g", weights="w", vcov="CR1"),
        "x", weights="rademacher")
    b = wild_cluster_bootstrap(regress("ys ~ 0 + one + xs + zs", t, cluster="g", vcov="CR1"),
        "xs", weights="rademacher")
    assert a.enumerated and b.enumerated
    np.testing.assert_allclose(a.t_boot, b.t_boot, rtol=1e-9)
    assert a.p_value == b.p_value
    assert a.ci_low == pytest.approx(b.ci_low, rel=1e-7)


def test_webb_draws_and_pvalue_equal_wildboottest_with_same_seed():
    # wildboottest draws Webb weights as default_rng(seed).choice(six values, G*B).reshape(G, B)
    # and so does evalkit: with the same seed the weights, hence the bootstrap t's and the
    # p-value, are identical (wildboottest 0.3.2, bootstrap_type "11", WCR)
    from wildboottest.wildboottest import wildboottest

    d = _clustered(14, G=12, beta=0.15)
    fit = regress("y ~ x + z", d, cluster="g", vcov="CR1")
    wb = wild_cluster_bootstrap(fit, "x", B=999, weights="webb", seed=42)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = wildboottest(smf.ols("y ~ x + z", d), B=999, cluster=d["g"].to_numpy(), param="x",
                           weights_type="webb", seed=42, show=False, parallel=False)
    assert wb.p_value == ref["p-value"].iloc[0]


# ---------------------------------------------------------------------------
# Redesign (issue 10): one vocabulary, immutable results, one permutation engine, import order
# ---------------------------------------------------------------------------

def _four_results():
    import evalkit.inference as inf

    d = _clustered(15, G=8, n=10)
    d["treat"] = (d["g"] < 4).astype(float)
    fit = regress("y ~ treat + x", d, cluster="g")
    wb = wild_cluster_bootstrap(fit, "treat", B=99, seed=1)
    ri = randomization_test(d, formula="y ~ treat + x", treatment="treat", cluster="g")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        row = headline(fit, "treat", B=99, seed=1)
    return inf, fit, wb, ri, row


def test_every_tidy_uses_the_one_vocabulary_and_results_are_frozen():
    import dataclasses

    from evalkit.results import Result, check_vocabulary

    inf, fit, wb, ri, row = _four_results()
    for res in (fit, wb, ri):
        assert isinstance(res, Result)
        check_vocabulary(res.tidy(), type(res).__name__)
        assert res.summary.startswith(res._headline()) and repr(res) == res.summary
        assert "<table" in res._repr_html_()
        with pytest.raises(dataclasses.FrozenInstanceError):
            res.term = "other" if hasattr(res, "term") else res.__setattr__("formula", "y ~ 1")
    check_vocabulary(row, "headline")
    assert list(fit.tidy().columns) == ["term", "estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high"]
    assert list(row.columns)[:8] == list(fit.tidy().columns)
    assert list(ri.tidy().columns)[:4] == ["term", "estimate", "statistic", "p_value"]
    assert ri.estimate == fit.params["treat"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.formula = "y ~ 1"
    # the arrays inside are read-only too
    for arr in (fit.fit.Qs_g, fit.fit.y, wb.t_boot, ri.distribution):
        with pytest.raises(ValueError):
            arr[0] = 0.0


def test_old_names_warn_or_are_gone():
    _, fit, wb, _, _ = _four_results()
    with pytest.warns(FutureWarning, match="statistic"):
        assert wb.t_stat == wb.statistic
    assert not hasattr(fit, "wild_bootstrap")   # regress no longer imports the bootstrap
    import sys

    sys.modules.pop("evalkit.inference.core", None)
    with pytest.warns(FutureWarning, match="evalkit.inference.core moved to evalkit.inference"):
        from evalkit.inference import core
    assert core.headline is headline and core.randomization_test is randomization_test


def test_inference_modules_import_downwards_only():
    # measured from the source: every `from .x import` / `from ..x import` inside evalkit.inference
    import ast
    from pathlib import Path

    import evalkit.inference as inf

    order = ["permutation", "cr2", "formula", "absorb", "design_variance", "regress", "wild", "randomization", "few_clusters",
             "stepdown", "__init__"]
    allowed_outside = {"errors", "_literals", "results"}
    root = Path(inf.__file__).parent
    assert sorted(p.stem for p in root.glob("*.py")) == sorted(order)
    for name in order:
        tree = ast.parse((root / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = (node.module or "").split(".")[0]
                if node.level == 2:
                    assert target in allowed_outside, (name, node.module)
                else:
                    targets = [target] if target else [a.name for a in node.names]
                    for t in targets:
                        assert order.index(t) < order.index(name), (name, t)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("evalkit") for a in node.names), name


def test_randomization_same_in_any_block_size(monkeypatch):
    from evalkit.inference import permutation

    d = _clustered(16, G=8, n=6)
    d["treat"] = (d["g"] % 2).astype(float)
    kw = dict(formula="y ~ treat + x", treatment="treat", cluster="g")
    exact = randomization_test(d, **kw)
    drawn = randomization_test(d, n_perm=40, seed=2, **kw)
    monkeypatch.setattr(permutation, "BLOCK", 3)
    exact3 = randomization_test(d, **kw)
    drawn3 = randomization_test(d, n_perm=40, seed=2, **kw)
    assert exact.exact and exact.n_assignments == 70 and exact3.n_assignments == 70
    assert exact3.p_value == exact.p_value and drawn3.p_value == drawn.p_value
    np.testing.assert_allclose(exact3.distribution, exact.distribution, rtol=1e-12)
    np.testing.assert_allclose(drawn3.distribution, drawn.distribution, rtol=1e-12)


def test_permutation_engine_enumerates_draws_and_counts_ties():
    from evalkit.inference import permutation as pm

    labels = np.array([2, 0, 1, 0, 2, 2])
    expected = set(itertools.permutations(labels.tolist()))
    assert pm.n_arrangements(labels) == len(expected) == 60
    rows = np.vstack(list(pm.all_arrangements(labels, block=7)))
    assert rows.shape == (60, 6) and set(map(tuple, rows.tolist())) == expected
    # random draws: the observed arrangement first; draw i the same whatever the block size
    a = np.vstack(list(pm.random_arrangements(labels, 25, seed=3, block=4)))
    b = np.vstack(list(pm.random_arrangements(labels, 25, seed=3, block=100)))
    assert np.array_equal(a, b) and np.array_equal(a[0], labels) and len(a) == 26
    plan = pm.plan(labels, max_exact=59, n_draws=10, seed=1)
    assert not plan.exact and plan.n == 11 and plan.n_possible == 60
    assert pm.plan(labels, max_exact=60, n_draws=10).exact
    # observed moved to row 0 by null_distribution; ties within 1e-10 count
    stat = pm.null_distribution(pm.all_arrangements(labels, 7), lambda A: A @ np.arange(6.0), labels, 60)
    assert stat[0] == labels @ np.arange(6.0)
    assert pm.p_value(np.array([2.0, -2.0 * (1 - 1e-12), 1.0, 3.0])) == 0.75
    # linear test inversion: the interval is {tau : p(tau) > 1 - level}
    rng = np.random.default_rng(0)
    s, ds = rng.normal(size=200), rng.uniform(-0.5, 0.5, size=200)   # the observed |dstat| largest:
    s[0], ds[0] = 1.5, 1.0                                             # a bounded interval
    lo, hi = pm.invert(s, ds, level=0.9)
    assert np.isfinite(lo) and lo < 1.5 < hi and np.isfinite(hi)
    for tau, inside in ((lo + 1e-9, True), (hi - 1e-9, True), (lo - 1e-6, False), (hi + 1e-6, False)):
        assert (pm.p_value(s, ds, tau) > 0.1) == inside


def test_inversion_without_crossings_is_unbounded_or_empty():
    # one arrangement only (e.g. one treated community among too few): p(tau) = 1 for every tau, so
    # the set is the whole line; it raised IndexError before (an empty crossing list)
    from evalkit.inference.permutation import invert

    assert invert(np.array([1.0]), np.array([1.0])) == (-np.inf, np.inf)
    assert all(np.isnan(invert(np.array([1.0]), np.array([1.0]), level=0.0)))
