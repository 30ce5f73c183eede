"""Tests of evalkit.regress: OLS/WLS with CR1 and CR2 cluster-robust inference.

References used below:
* statsmodels 0.15 OLS/WLS ``cov_type="cluster"`` (small-sample factor G/(G-1)(N-1)/(N-K),
  t(G-1) with ``use_t=True``) for CR1;
* a dense hand computation of Bell-McCaffrey CR2 (A_g from the eigendecomposition of
  G_g, Satterthwaite df from the explicit P matrix of Pustejovsky & Tipton 2018, eq. 11)
  for CR2, including WLS and a model with cluster fixed effects (singular I - H_gg);
* the closed forms for the intercept-only model that clubSandwich's own test suite checks
  its CR2 SE and Satterthwaite df against (clubSandwich tests/testthat/
  test_intercept_formulas.R, "CR2 and df agree with formulas").
"""
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from evalkit.errors import EstimationError, EvalkitError
from evalkit.regress import RegressionResult, regress


def _panel(seed=0, G=6, n=25, fe_effect=True):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(G), n)
    d = pd.DataFrame({
        "g": g,
        "x": rng.normal(size=G * n) + np.repeat(rng.normal(size=G), n),
        "z": rng.normal(size=G * n),
        "wave": np.tile(np.arange(n) % 3, G),
        "w": rng.uniform(0.5, 2.0, size=G * n),
    })
    d["y"] = 1 + 0.5 * d["x"] + rng.normal(size=G * n) + np.repeat(rng.normal(size=G), n)
    return d


def _dense_cr2(X, y, cl, w=None):
    """Bell-McCaffrey CR2 and Satterthwaite df by dense matrices (clubSandwich's lm method:
    target Theta = I, W = diag(w); A_g = G_g^{-1/2} with eigenvalues <= 1e-12 zeroed)."""
    N, K = X.shape
    W = np.eye(N) if w is None else np.diag(w)
    M = np.linalg.inv(X.T @ W @ X)
    e = y - X @ (M @ X.T @ W @ y)
    H = X @ M @ X.T @ W
    IH = np.eye(N) - H
    XW2X = X.T @ W @ W @ X
    V = np.zeros((K, K))
    Q = {}
    for g in np.unique(cl):
        i = cl == g
        Hgg = H[np.ix_(i, i)]
        Gg = np.eye(i.sum()) - Hgg - Hgg.T + X[i] @ M @ XW2X @ M @ X[i].T
        lam, E = np.linalg.eigh(Gg)
        A = E @ np.diag(np.where(lam > 1e-12, 1 / np.sqrt(np.clip(lam, 1e-300, None)), 0.0)) @ E.T
        Q[g] = A @ W[np.ix_(i, i)] @ X[i] @ M
        s = Q[g].T @ e[i]
        V += np.outer(s, s)
    df = []
    for k in range(K):
        Gm = np.array([IH[cl == g].T @ Q[g][:, k] for g in Q])  # rows g_j' (N-vectors)
        P = Gm @ Gm.T
        df.append(np.trace(P) ** 2 / np.sum(P ** 2))
    return np.sqrt(np.diag(V)), np.array(df)


def test_tidy_columns_and_result_type():
    fit = regress("y ~ x + z", _panel(), cluster="g")
    assert isinstance(fit, RegressionResult)
    assert list(fit.tidy().columns) == ["term", "estimate", "se", "df", "t", "p_value",
                                        "ci_low", "ci_high"]
    assert fit.n_clusters == 6 and fit.n == 150 and fit.vcov_type == "CR2"
    assert "CR2" in fit.summary and "<p>" in fit._repr_html_()


@pytest.mark.parametrize("weighted", [False, True])
def test_cr1_matches_statsmodels_cluster(weighted):
    d = _panel(seed=1)
    formula = "y ~ x + z + C(wave)"
    fit = regress(formula, d, cluster="g", vcov="CR1", weights="w" if weighted else None)
    # statsmodels: OLS/WLS(...).fit(cov_type="cluster", use_t=True) — G/(G-1)(N-1)/(N-K), t(G-1)
    model = smf.wls(formula, d, weights=d["w"]) if weighted else smf.ols(formula, d)
    ref = model.fit(cov_type="cluster", cov_kwds={"groups": d["g"]}, use_t=True)
    tidy = fit.tidy().set_index("term")
    np.testing.assert_allclose(tidy["estimate"], ref.params[tidy.index], rtol=1e-10)
    np.testing.assert_allclose(tidy["se"], ref.bse[tidy.index], rtol=1e-9)
    np.testing.assert_allclose(tidy["p_value"], ref.pvalues[tidy.index], rtol=1e-8)
    ci = ref.conf_int().loc[tidy.index]
    np.testing.assert_allclose(tidy["ci_low"], ci[0], rtol=1e-9)
    np.testing.assert_allclose(tidy["ci_high"], ci[1], rtol=1e-9)
    assert (tidy["df"] == 5).all()  # G - 1


@pytest.mark.parametrize("formula,weighted", [
    ("y ~ x + z", False),
    ("y ~ x + z", True),
    ("y ~ x + C(g) + C(wave)", False),   # cluster fixed effects: I - H_gg singular
    ("y ~ x + C(g) + C(wave)", True),
])
def test_cr2_matches_dense_hand_computation(formula, weighted):
    d = _panel(seed=2, G=4, n=9)   # 4 clusters, tiny design
    fit = regress(formula, d, cluster="g", weights="w" if weighted else None)
    mod = smf.ols(formula, d)      # only to get the same design matrix
    X, y = mod.exog, mod.endog
    se, df = _dense_cr2(X, y, d["g"].to_numpy(), d["w"].to_numpy() if weighted else None)
    tidy = fit.tidy()
    keep = se > 1e-8   # cluster-FE dummies have (numerically) zero CR2 SE; df undefined
    np.testing.assert_allclose(tidy["se"].to_numpy()[keep], se[keep], rtol=1e-8)
    np.testing.assert_allclose(tidy["df"].to_numpy()[keep], df[keep], rtol=1e-7)
    j = fit.terms.index("x")
    assert keep[j]


def test_cr2_intercept_only_matches_clubsandwich_closed_forms():
    # clubSandwich tests/testthat/test_intercept_formulas.R (same set-up: m = 14 clusters,
    # sizes 1 + rnbinom(size = 2, mu = 5), ICC 0.2; numbers here are our own draw):
    #   VCR2_f <- sum(nj^2 * (y_bar - mean(Y))^2 / (1 - nj / N)) / sum(nj)^2
    #   df2_f  <- N^2 / (N^2 * sum(nj^2 / (N - nj)^2) - 2 * N * sum(nj^3 / (N - nj)^2)
    #                    + sum(nj^2 / (N - nj))^2)
    rng = np.random.default_rng(20190513)
    m = 14
    nj = 1 + rng.negative_binomial(2, 2 / (2 + 5), size=m)
    group = np.repeat(np.arange(m), nj)
    N = nj.sum()
    Y = rng.normal(scale=np.sqrt(0.2), size=m)[group] + rng.normal(scale=np.sqrt(0.8), size=N)
    d = pd.DataFrame({"Y": Y, "group": group})
    fit = regress("Y ~ 1", d, cluster="group")
    ybar = pd.Series(Y).groupby(group).mean().to_numpy()
    vcr2 = np.sum(nj ** 2 * (ybar - Y.mean()) ** 2 / (1 - nj / N)) / N ** 2
    df2 = N ** 2 / (N ** 2 * np.sum(nj ** 2 / (N - nj) ** 2) - 2 * N * np.sum(nj ** 3 / (N - nj) ** 2)
                    + np.sum(nj ** 2 / (N - nj)) ** 2)
    row = fit.tidy().iloc[0]
    assert row["se"] == pytest.approx(np.sqrt(vcr2), rel=1e-10)
    assert row["df"] == pytest.approx(df2, rel=1e-10)


def test_cr2_large_cluster_path_equals_small():
    # clusters with more rows (60) than design columns: evalkit's low-rank A_g never forms
    # n_g x n_g matrices; the dense hand computation does. They must agree.
    d = _panel(seed=3, G=4, n=60)
    fit = regress("y ~ x + C(wave)", d, cluster="g")
    se, df = _dense_cr2(smf.ols("y ~ x + C(wave)", d).exog, d["y"].to_numpy(), d["g"].to_numpy())
    np.testing.assert_allclose(fit.tidy()["se"], se, rtol=1e-8)
    np.testing.assert_allclose(fit.tidy()["df"], df, rtol=1e-7)


def test_missing_values_raise_with_count_and_columns():
    d = _panel()
    d.loc[[3, 7], "x"] = np.nan
    d.loc[[10], "g"] = np.nan
    with pytest.raises(EstimationError, match=r"3 of 150 rows.*'x' \(2\).*'g' \(1\).*missing='drop'"):
        regress("y ~ x + z", d, cluster="g")
    fit = regress("y ~ x + z", d, cluster="g", missing="drop")
    assert fit.n_dropped == 3 and fit.n == 147
    ref = regress("y ~ x + z", d.dropna(subset=["x", "g"]), cluster="g")
    pd.testing.assert_frame_equal(fit.tidy(), ref.tidy())


def test_nonsimple_formula_path_matches_statsmodels():
    # I(...) disables the distinct-rows shortcut; the full patsy build must agree
    d = _panel(seed=4)
    fit = regress("y ~ x + I(z ** 2) + C(wave)", d, cluster="g", vcov="CR1")
    ref = smf.ols("y ~ x + I(z ** 2) + C(wave)", d).fit(cov_type="cluster",
                                                        cov_kwds={"groups": d["g"]}, use_t=True)
    np.testing.assert_allclose(fit.params.to_numpy(), ref.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(fit.se.to_numpy(), ref.bse.to_numpy(), rtol=1e-9)
    assert fit.terms == list(ref.params.index)


def test_string_clusters_and_categories():
    d = _panel(seed=5)
    d["community"] = pd.Series(np.array(list("abcdef"))[d["g"]], dtype="string")
    fit = regress("y ~ x + C(community)", d, cluster="community", vcov="CR1")
    assert fit.n_clusters == 6
    assert "C(community)[T.b]" in fit.terms


def test_input_errors_name_the_problem():
    d = _panel()
    with pytest.raises(EvalkitError, match="'nope' is not a column"):
        regress("y ~ x", d, cluster="nope")
    with pytest.raises(EvalkitError, match="vcov='HC1' is not a valid choice"):
        regress("y ~ x", d, cluster="g", vcov="HC1")
    d["x2"] = 2 * d["x"]
    with pytest.raises(EstimationError, match="rank deficient: 'x2'"):
        regress("y ~ x + x2", d, cluster="g")
    d["w0"] = d["w"]
    d.loc[0, "w0"] = 0.0
    with pytest.raises(EstimationError, match="non-positive"):
        regress("y ~ x", d, cluster="g", weights="w0")
    with pytest.raises(EvalkitError, match="term='treat' is not a coefficient"):
        regress("y ~ x", d, cluster="g").wild_bootstrap("treat")
