"""Tests of evalkit.regress (evalkit.inference.regress, .cr2): OLS/WLS with CR1 and CR2 cluster-robust inference.

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
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from evalkit.errors import EstimationError, EvalkitError
from evalkit.inference.regress import RegressionResult, regress
from evalkit.inference.wild import wild_cluster_bootstrap


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
    """Bell-McCaffrey CR2 and Satterthwaite df written plainly with dense N x N matrices
    (clubSandwich's lm method: target Theta = I, W = diag(w)).

    The hat matrix comes from the SVD of W^{1/2} X (H = W^{-1/2} U U' W^{1/2}), not from
    (X'WX)^{-1}; G_g = (I - H)_g. (I - H)_g.' and A_g is its Moore-Penrose inverse square
    root, eigenvalues at or below max(1, largest) * max(1e-12, n_g * eps) set to zero
    (clubSandwich's Sym_power drops eigenvalues below 1e-12; G_g has norm about 1).
    Satterthwaite df from the explicit P matrix, P_ij = q_i'(I-H)_i.(I-H)_j.'q_j
    (Pustejovsky & Tipton 2018, eq. 11)."""
    N, K = X.shape
    w = np.ones(N) if w is None else np.asarray(w, dtype=float)
    sw = np.sqrt(w)
    U, s, Vt = np.linalg.svd(X * sw[:, None], full_matrices=False)
    b = Vt.T @ ((U.T @ (sw * y)) / s)
    e = y - X @ b
    M = (Vt.T / s ** 2) @ Vt                                     # (X'WX)^{-1}
    IH = np.eye(N) - (U / sw[:, None]) @ (U * sw[:, None]).T    # I - X M X'W
    V = np.zeros((K, K))
    Q = {}
    for g in np.unique(cl):
        i = cl == g
        lam, E = np.linalg.eigh(IH[i] @ IH[i].T)
        tol = max(1.0, lam.max()) * max(1e-12, i.sum() * np.finfo(float).eps)
        inv_sqrt = np.zeros_like(lam)
        inv_sqrt[lam > tol] = 1 / np.sqrt(lam[lam > tol])
        A = (E * inv_sqrt) @ E.T
        Q[g] = A @ (w[i, None] * X[i]) @ M
        sg = Q[g].T @ e[i]
        V += np.outer(sg, sg)
    df = []
    for k in range(K):
        Gm = np.array([IH[cl == g].T @ Q[g][:, k] for g in Q])  # rows g_j' (N-vectors)
        P = Gm @ Gm.T
        df.append(np.trace(P) ** 2 / np.sum(P ** 2))
    return np.sqrt(np.diag(V)), np.array(df)


def test_tidy_columns_and_result_type():
    fit = regress("y ~ x + z", _panel(), cluster="g")
    assert isinstance(fit, RegressionResult)
    assert list(fit.tidy().columns) == ["term", "estimate", "se", "df", "statistic", "p_value",
                                        "ci_low", "ci_high"]
    assert fit.n_clusters == 6 and fit.n == 150 and fit.vcov_type == "CR2"
    assert "CR2" in fit.summary and "<table" in fit._repr_html_()


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
        wild_cluster_bootstrap(regress("y ~ x", d, cluster="g"), "treat")


# ---------------------------------------------------------------------------
# Absorbed clusters: singleton clusters and cluster fixed effects (I - H_gg singular)
# ---------------------------------------------------------------------------

_DATA = Path(__file__).parent / "data"


def _mlda():
    """Pustejovsky & Tipton (2018) minimum-legal-drinking-age panel: 50 states x 14 years."""
    return pd.read_csv(_DATA / "mlda_motor_vehicle_deaths.csv", comment="#")


def test_cr2_absorbed_state_effects_match_published_clubsandwich_mlda():
    # Pustejovsky & Tipton (2018, JBES 36(4)) Table 2, "Fixed effects" rows, computed with
    # clubSandwich (paper_ClusterRobustTesting/R/MLDA-example.R): plm(mrate ~ legal + beertaxa,
    # effect = "twoways"), Wald_test(constrain_zero(1), cluster = state):
    #   AHT (vcov = "CR2", test = "HTZ"):   F = 9.116, df = 24.58, p = 0.00583
    #   Standard (vcov = "CR1", "Naive-F"): F = 9.660, df = 49,    p = 0.00313
    # With one constraint the HTZ test is the Satterthwaite t-test (F = t^2). clubSandwich's own
    # tests (test_plm-fixed-effects.R, "two-way effects agree with lm") check that the plm
    # twoways CR2 equals lm with state and year dummies, which is what evalkit fits; every
    # cluster (state) is absorbed by its own dummy.
    d = _mlda()
    formula = "mrate ~ 0 + legal + beertaxa + C(state) + C(year)"
    fit = regress(formula, d, cluster="state")
    assert fit.n == 700 and fit.n_clusters == 50
    row = fit.tidy().set_index("term").loc["legal"]
    assert row["statistic"] ** 2 == pytest.approx(9.116, abs=5e-4)
    assert row["df"] == pytest.approx(24.58, abs=5e-3)
    assert row["p_value"] == pytest.approx(0.00583, abs=5e-6)
    # clubSandwich's CR1 is G/(G-1) CR0; evalkit's adds Stata's (N-1)/(N-K)
    cr1 = regress(formula, d, cluster="state", vcov="CR1")
    t1 = cr1.tidy().set_index("term").loc["legal", "statistic"]
    assert t1 ** 2 * (cr1.n - 1) / (cr1.n - cr1.n_params) == pytest.approx(9.660, abs=5e-4)
    assert cr1.df["legal"] == 49


def _absorbed(seed, mean=5000.0, sd=50.0):
    """13 clusters: six of 8 rows, four singletons, two pairs, one of 30; ``inc`` is a
    covariate in the thousands (income in yuan) with little spread, ``w`` lognormal weights."""
    rng = np.random.default_rng(seed)
    sizes = [8] * 6 + [1] * 4 + [2] * 2 + [30]
    g = np.repeat(np.arange(len(sizes)), sizes)
    n = len(g)
    d = pd.DataFrame({"g": g, "x": rng.normal(size=n), "inc": rng.normal(mean, sd, size=n),
                      "w": rng.lognormal(0.0, 1.0, size=n)})
    d["y"] = 1 + 0.3 * d["x"] + rng.normal(size=n) + rng.normal(size=len(sizes))[g]
    return d


@pytest.mark.parametrize("seed,mean,sd", [(2, 5000.0, 50.0), (3, 5000.0, 50.0), (4, 5000.0, 50.0),
                                          (5, 5000.0, 50.0), (3, 1e5, 10.0)])
@pytest.mark.parametrize("weighted", [False, True])
def test_cr2_absorbed_clusters_match_dense_reference(seed, mean, sd, weighted):
    # cluster fixed effects with singleton clusters and a covariate in the thousands: every
    # cluster is absorbed by its dummy, so each G_g has zero eigenvalues that must stay zero.
    # With the old absolute 1e-12 cutoff on 1 + lambda (lambda from X_g M X_g') some came out
    # at 1e-11 and were inverted: df of inc 1.96 instead of 3.13 (seed 3, WLS), df of x 2.33
    # instead of 2.06 and its SE 0.6% too large (seed 3, mean 1e5, WLS)
    d = _absorbed(seed, mean, sd)
    formula = "y ~ x + inc + C(g)"
    fit = regress(formula, d, cluster="g", weights="w" if weighted else None)
    model = smf.ols(formula, d)
    se, df = _dense_cr2(model.exog, d["y"].to_numpy(), d["g"].to_numpy(),
                        d["w"].to_numpy() if weighted else None)
    tidy = fit.tidy().set_index("term")
    for term in ["Intercept", "x", "inc"]:
        j = model.exog_names.index(term)
        assert tidy.loc[term, "se"] == pytest.approx(se[j], rel=1e-8), term
        assert tidy.loc[term, "df"] == pytest.approx(df[j], rel=1e-8), term


@pytest.mark.parametrize("weighted", [False, True])
def test_cr2_invariant_to_rescaling_a_covariate(weighted):
    # income in yuan or in thousands of yuan is the same model: its coefficient and SE scale
    # by 1000, everything else (other SEs, every df, every t) is unchanged
    for d, formula in [(_absorbed(4), "y ~ x + inc + C(g)"),
                       (_mlda().rename(columns={"beertaxa": "inc", "mrate": "y", "pop": "w"}),
                        "y ~ 0 + legal + inc + C(state) + C(year)")]:
        cl = "g" if "g" in d else "state"
        a = regress(formula, d, cluster=cl, weights="w" if weighted else None).tidy()
        keep = a["se"].to_numpy() > 1e-8 * a["estimate"].abs().max()   # not the zero-SE dummies
        for c in (1e-3, 1e3):
            b = regress(formula, d.assign(inc=d["inc"] * c), cluster=cl,
                        weights="w" if weighted else None).tidy()
            factor = np.where(a["term"] == "inc", 1 / c, 1.0)
            np.testing.assert_allclose(b["se"][keep], a["se"][keep] * factor[keep], rtol=1e-9)
            np.testing.assert_allclose(b["df"][keep], a["df"][keep], rtol=1e-9)
            np.testing.assert_allclose(b["statistic"][keep], a["statistic"][keep], rtol=1e-9)


_THREADS_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_regress import _absorbed, _mlda
from evalkit.inference.regress import regress
out = []
for seed in (2, 3):
    for w in (None, "w"):
        fit = regress("y ~ x + inc + C(g)", _absorbed(seed), cluster="g", weights=w)
        out += fit.tidy().set_index("term").loc[["x", "inc"], ["se", "df"]].to_numpy().ravel().tolist()
for w in (None, "pop"):
    fit = regress("mrate ~ 0 + legal + beertaxa + C(state) + C(year)", _mlda(), cluster="state", weights=w)
    out += fit.tidy().set_index("term").loc[["legal", "beertaxa"], ["se", "df"]].to_numpy().ravel().tolist()
print(json.dumps(out))
"""


def test_cr2_same_with_one_or_two_blas_threads():
    # the number of BLAS threads changes rounding; with zero eigenvalues decided by a cutoff
    # relative to the matrix scale it must not change any SE or df
    results = []
    for n in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n,
                   PYTHONPATH=str(Path(__file__).parent.parent))
        run = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT.format(tests=str(Path(__file__).parent))],
                             env=env, capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stderr[-2000:]
        results.append(np.array(json.loads(run.stdout.strip().splitlines()[-1]), dtype=float))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=0)
