"""Absorbed fixed effects in evalkit.regress: the fixest-style formula ``y ~ x | fe1 + fe2``.

References used below:
* pyfixest 0.60.0 ``feols`` with ``vcov={"CRV1": "community"}`` and its default small-sample
  correction ``ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="min")`` (= R fixest's default
  ``ssc(adj = TRUE, fixef.K = "nested", cluster.adj = TRUE)``), run once on ``_panel()`` below and
  frozen (the calls are next to the numbers; pyfixest is not needed to run these tests);
* the same model with the fixed effects as ``C(...)`` dummies in evalkit itself (exact equality of
  estimates, CR2 SEs and Satterthwaite df, and of the wild bootstrap p-value);
* dense least squares on the dummy matrix for the demeaning (:mod:`evalkit.inference.absorb`).
"""
import numpy as np
import pandas as pd
import pytest

from evalkit.errors import EstimationError, EvalkitError
from evalkit.inference import absorb, cr2
from evalkit.inference.formula import parse_formula
from evalkit.inference.regress import regress
from evalkit.inference.wild import wild_cluster_bootstrap


def _panel(seed=15, units=48, waves=5, communities=8):
    """Unbalanced panel, units nested in communities (the data the pyfixest values were computed on)."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"unit": np.repeat(np.arange(units), waves), "wave": np.tile(2014 + np.arange(waves), units)})
    d["community"] = d["unit"] % communities
    d = d[rng.uniform(size=len(d)) > 0.15].reset_index(drop=True)   # unbalanced
    first = np.where(np.arange(communities) < 3, 2016, np.where(np.arange(communities) < 5, 2017, 9999))
    d["d"] = ((d["wave"] >= first[d["community"]]) & (d["unit"] // 8 % 2 == 0)).astype(float)
    d["x"] = rng.normal(size=len(d)) + 0.3 * d["unit"] % 7
    d["w"] = rng.uniform(0.5, 2.0, size=len(d))
    d["y"] = (0.4 * d["d"] + 0.5 * d["x"] + np.sin(d["unit"]) + 0.1 * (d["wave"] - 2014) * (d["community"] % 3)
              + rng.normal(size=len(d)))
    return d


# pyfixest 0.60.0:  f = pf.feols(FORMULA, data=_panel(), vcov={"CRV1": "community"}, weights=W)
#                   f.coef() (d, x), f.se() (d, x); f._df_t == 7 (G - 1) for every model
PYFIXEST = [
    ("y ~ d + x | unit + wave", None,
     [0.28659225293745816, 0.531665868265568], [0.2750472998020423, 0.07804481869320529]),
    ("y ~ d + x | unit + community^wave", None,
     [0.11070694635367861, 0.5673241799140839], [0.31658920177793104, 0.08424760994626425]),
    ("y ~ d + x | unit", None,
     [0.41970154802840215, 0.5388378905519511], [0.18857183860942664, 0.07518866329315738]),
    ("y ~ d + x | unit + wave", "w",
     [0.35548200556437054, 0.5655638455114684], [0.31517638852363955, 0.0789289740766466]),
    ("y ~ d + x | wave", None,
     [0.6917600368218415, 0.47790535353429403], [0.1913356549366099, 0.060390534306330075]),
]


@pytest.mark.parametrize("formula, weights, coef, se", PYFIXEST)
def test_cr1_with_absorbed_fixed_effects_matches_pyfixest(formula, weights, coef, se):
    fit = regress(formula, _panel(), cluster="community", vcov="CR1", weights=weights)
    assert list(fit.params.index) == ["d", "x"]
    np.testing.assert_allclose(fit.params.to_numpy(), coef, rtol=1e-6)
    np.testing.assert_allclose(fit.se.to_numpy(), se, rtol=1e-6)
    np.testing.assert_array_equal(fit.df.to_numpy(), [7.0, 7.0])


def test_fixest_formula_is_not_read_as_bitwise_or():
    """The bug of issue 15: 'y ~ d | id + year' gave a coefficient for 'd | id' (d OR id)."""
    d = _panel()
    fit = regress("y ~ d | unit + wave", d, cluster="community")
    assert list(fit.params.index) == ["d"]
    dummy = regress("y ~ d + C(unit) + C(wave)", d, cluster="community")
    assert fit.params["d"] == pytest.approx(dummy.params["d"], rel=1e-10)
    assert fit.fixef == ("unit", "wave")
    assert "fixed effects absorbed: unit, wave" in fit.summary


@pytest.mark.parametrize("formula, op", [
    ("y ~ d & unit", "&"), ("y ~ x + (d | unit)", "|"), ("y ~ d ^ unit", "^"), ("y ~ d % unit", "%"),
    ("y ~ d << unit", "<<"), ("y ~ x + ~d", "~"), ("y | unit ~ d", "|"),
])
def test_python_operators_on_values_are_refused_naming_the_term(formula, op):
    with pytest.raises(EvalkitError) as err:
        regress(formula, _panel(), cluster="community")
    msg = str(err.value)
    assert f"operator {op!r}" in msg and "| unit + wave" in msg


@pytest.mark.parametrize("formula, words", [
    ("y ~ d | unit | wave", "more than one '|'"),
    ("y ~ d | C(unit)", "not a column name"),
    ("y ~ d | unit:wave", "not a column name"),
    ("y ~ d | unit + unit", "twice"),
    ("y ~ | unit", "no regressor"),
    ("y ~ d | househld", "'househld', which is not a column"),
])
def test_bad_fixed_effect_parts_are_refused(formula, words):
    with pytest.raises(EvalkitError) as err:
        regress(formula, _panel(), cluster="community")
    assert words in str(err.value)


def test_operators_inside_I_and_quoted_levels_are_allowed():
    d = _panel()
    d["g"] = np.where(np.arange(len(d)) % 3 == 0, "a|b", "c")
    fit = regress("y ~ I(d * 2) + C(g, Treatment('c')) | unit", d, cluster="community")
    assert fit.params.size == 2
    assert parse_formula("y ~ x | a^b + c").fixef == (("a", "b"), ("c",))


@pytest.mark.parametrize("fe, dummies", [
    ("unit + wave", "C(unit) + C(wave)"),
    ("unit", "C(unit)"),
    ("unit + community^wave", "C(unit) + C(cw2)"),
    ("community^wave", "C(cw)"),
    ("unit^wave_half", "C(uh)"),
])
def test_cr2_with_absorbed_fixed_effects_equals_the_dummy_regression(fe, dummies):
    """CR2 and its Satterthwaite df on the demeaned design equal clubSandwich's CR2 of the full
    dummy design (fixed effects nested in the clusters; see regress Notes)."""
    d = _panel()
    d["cw"] = d["community"] * 10000 + d["wave"]          # community x wave, nested in community
    d["cw2"] = np.where(d["wave"] == 2014, 0, d["cw"])     # the same without one wave per community
    d["wave_half"] = (d["wave"] >= 2016).astype(int)
    d["uh"] = d["unit"] * 10 + d["wave_half"]
    a = regress(f"y ~ d + x | {fe}", d, cluster="community")
    b = regress(f"y ~ d + x + {dummies}", d, cluster="community")
    for attr in ("params", "se", "df"):
        np.testing.assert_allclose(getattr(a, attr).to_numpy(), getattr(b, attr)[["d", "x"]].to_numpy(),
                                   rtol=1e-9, err_msg=attr)
    # CR1: same sandwich, only the parameter count differs (fixest's nested rule vs all dummies)
    a1 = regress(f"y ~ d + x | {fe}", d, cluster="community", vcov="CR1")
    b1 = regress(f"y ~ d + x + {dummies}", d, cluster="community", vcov="CR1")
    N = a1.n
    ratio = (N - a1.fit.n_params - a1.fit.k_absorbed) / (N - b1.fit.n_params)
    np.testing.assert_allclose(a1.se.to_numpy() ** 2 * ratio, b1.se[["d", "x"]].to_numpy() ** 2, rtol=1e-9)


@pytest.mark.parametrize("fe, dummies", [
    ("unit", "C(unit)"),
    ("unit + wave", "C(unit) + C(wave)"),
    ("community^wave", "C(cw)"),
    ("unit + community^wave", "C(unit) + C(cw2)"),
    ("unit^wave_half", "C(uh)"),
    ("community + wave", "C(community) + C(wave)"),     # the clusters' own effects: I - H_gg singular
    ("unit + community", "C(unit)"),                    # redundant nested effects
])
def test_weighted_cr2_with_absorbed_fixed_effects_equals_the_dummy_regression(fe, dummies):
    """WLS CR2 (clubSandwich's lm method: weights in W, target I) and its Satterthwaite df with
    fixed effects nested in the clusters absorbed equal evalkit's dense CR2 of the full dummy
    design (checked against clubSandwich in test_regress.py), to 1e-8: the dummies' hat matrix
    enters each cluster's adjustment (cr2._cr2_wls_fe_cluster)."""
    d = _panel()
    d["cw"] = d["community"] * 10000 + d["wave"]
    d["cw2"] = np.where(d["wave"] == 2014, 0, d["cw"])
    d["wave_half"] = (d["wave"] >= 2016).astype(int)
    d["uh"] = d["unit"] * 10 + d["wave_half"]
    a = regress(f"y ~ d + x | {fe}", d, cluster="community", weights="w")
    b = regress(f"y ~ d + x + {dummies}", d, cluster="community", weights="w")
    assert a.vcov_type == "CR2" and a.weighted
    for attr in ("params", "se", "df"):
        np.testing.assert_allclose(getattr(a, attr).to_numpy(), getattr(b, attr)[["d", "x"]].to_numpy(),
                                   rtol=1e-8, err_msg=attr)
    # the weights matter: the unweighted CR2 is a different number
    assert not np.allclose(a.se.to_numpy(), regress(f"y ~ d + x | {fe}", d, cluster="community").se.to_numpy(),
                           rtol=1e-3)


def test_wild_bootstrap_with_absorbed_fixed_effects_equals_the_dummy_regression():
    d = _panel()
    a = regress("y ~ d + x | unit + wave", d, cluster="community", vcov="CR1")
    b = regress("y ~ d + x + C(unit) + C(wave)", d, cluster="community", vcov="CR1")
    wa = wild_cluster_bootstrap(a, "d", B=999, seed=1)
    wb = wild_cluster_bootstrap(b, "d", B=999, seed=1)
    assert wa.p_value == pytest.approx(wb.p_value, abs=1e-12)
    assert wa.ci_low == pytest.approx(wb.ci_low, rel=1e-6)
    assert wa.ci_high == pytest.approx(wb.ci_high, rel=1e-6)


def test_errors_name_the_problem_and_the_fix():
    d = _panel()
    with pytest.raises(EstimationError, match="'d' is constant within the fixed effects"):
        regress("y ~ d + x | community^wave", d.assign(d=d["community"] * d["wave"]), cluster="community")
    with pytest.raises(EstimationError, match="vcov='CR1'") as err:     # weighted CR2: refused when too big
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(cr2, "FE_CR2_MAX_FLOPS", 1e3)
            regress("y ~ d + x | unit", d, cluster="community", weights="w")
    assert "levels in a cluster of" in str(err.value)
    big = d.assign(obs=np.arange(len(d)) % 600)
    with pytest.raises(EstimationError, match="not nested in the clusters"):
        regress("y ~ d + x | unit + obs", big.iloc[:0].pipe(lambda _: pd.concat([big] * 3, ignore_index=True))
                .assign(obs=lambda f: np.arange(len(f)) % 600), cluster="community")
    e = d.copy()
    e.loc[[3, 7], "unit"] = np.nan
    with pytest.raises(EstimationError, match="'unit' \\(2\\)"):
        regress("y ~ d + x | unit", e, cluster="community")
    fit = regress("y ~ d + x | unit", e, cluster="community", missing="drop")
    assert fit.n_dropped == 2 and fit.n == len(e) - 2


def _dense_residuals(M, codes, w):
    D = np.hstack([absorb.dummies(c, drop_first=False) for c in codes])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(D * sw[:, None], M * sw[:, None], rcond=None)
    return M - D @ coef


@pytest.mark.parametrize("disconnected", [False, True])
def test_demean_equals_least_squares_on_the_dummies(disconnected):
    rng = np.random.default_rng(3)
    n = 400
    a = rng.integers(0, 60, n)
    b = rng.integers(0, 7, n)
    if disconnected:                      # two separate groups of levels: a singular Schur complement
        b = np.where(a < 30, b % 3, 3 + b % 4)
    c = rng.integers(0, 5, n)
    M = rng.normal(size=(n, 3)) * [1, 100, 1e-3] + [0, 5e4, 0]
    w = rng.uniform(0.2, 3, n)
    want = _dense_residuals(M, [a, b, c], w)
    np.testing.assert_allclose(absorb.demean(M, [a, b, c], w), want, atol=1e-8 * np.abs(M).max())
    # the alternating projections (used above DIRECT_MAX levels) converge to the same projection
    codes = [absorb._compact(x) for x in (a, b, c)]
    alt = absorb._alternating(M, [x for x, _ in codes], [L for _, L in codes], w, 1e-14, 100_000, "")
    np.testing.assert_allclose(alt, want, atol=1e-7 * np.abs(M).max())


def test_fixef_dof_counts_parameters_as_pyfixest():
    # pyfixest utils.get_ssc: k + (k_fe - (n_fe - 1)) - k_fe_nested + n_fe_fully_nested
    assert absorb.fixef_dof([48, 5], [True, False], k=2) == 2 + 52 - 48 + 1
    assert absorb.fixef_dof([5], [False], k=2) == 7
    assert absorb.fixef_dof([], [], k=3) == 3


def test_fixed_effect_dummies_redundant_with_absorbed_ones_are_dropped():
    """wave dummies are collinear with unit x half-period (absorbed): fixest drops the redundant
    fixed-effect columns; the coefficients equal least squares with the pseudo-inverse."""
    import statsmodels.formula.api as smf
    d = _panel()
    d["half"] = (d["wave"] >= 2016).astype(int)
    fit = regress("y ~ d + x | unit^half + wave", d, cluster="community")
    from statsmodels.tools.sm_exceptions import SingularMatrixWarning
    with pytest.warns(SingularMatrixWarning):                              # pinv, rank deficient
        ref = smf.ols("y ~ d + x + C(unit):C(half) + C(wave) - 1", d).fit()
    np.testing.assert_allclose(fit.params.to_numpy(), ref.params[["d", "x"]].to_numpy(), rtol=1e-8)


def test_randomization_inference_with_absorbed_fixed_effects():
    """CR2 randomization (each assignment refitted) equals the dummy regression's; the CR1 fast
    path, which rebuilds the treatment from the data, refuses a demeaned design instead of
    mixing a demeaned design with a raw treatment."""
    from evalkit.inference.randomization import randomization_test
    d = _panel()
    d["dc"] = ((d["wave"] >= 2016) & (d["community"] < 4)).astype(float)
    kw = dict(treatment="dc", cluster="community", time="wave", n_perm=9, seed=1, vcov="CR2")
    a = randomization_test(d, formula="y ~ dc + x | unit + wave", **kw)
    b = randomization_test(d, formula="y ~ dc + x + C(unit) + C(wave)", **kw)
    np.testing.assert_allclose(a.distribution, b.distribution, rtol=1e-8)
    with pytest.raises(EstimationError, match="absorbed fixed effects"):
        randomization_test(d, formula="y ~ dc + x | unit + wave", **{**kw, "vcov": "CR1"})
    fit = regress("y ~ dc + x | unit + wave", d, cluster="community")
    np.testing.assert_allclose(fit.fit.demean(d["y"].to_numpy()), fit.fit.y, atol=1e-12)


def test_factor_regressors_and_missing_interaction_levels_with_absorbed_effects():
    d = _panel()
    d["grp"] = np.array(["a", "b", "c"])[np.arange(len(d)) % 3]
    a = regress("y ~ d + C(grp) | unit + wave", d, cluster="community")
    b = regress("y ~ d + C(grp) + C(unit) + C(wave)", d, cluster="community")
    assert list(a.params.index) == ["C(grp)[T.b]", "C(grp)[T.c]", "d"]      # patsy's names, no Intercept
    np.testing.assert_allclose(a.se.to_numpy(), b.se[a.params.index].to_numpy(), rtol=1e-9)
    e = d.copy()
    e.loc[[1, 5], "wave"] = np.nan                                          # community^wave missing there
    with pytest.raises(EstimationError, match="'wave' \\(2\\)"):
        regress("y ~ d | unit + community^wave", e, cluster="community")
    fit = regress("y ~ d | unit + community^wave", e, cluster="community", missing="drop")
    ref = regress("y ~ d | unit + community^wave", e.dropna(subset=["wave"]), cluster="community")
    assert (fit.n, fit.n_dropped) == (len(e) - 2, 2)
    assert fit.params["d"] == pytest.approx(ref.params["d"], rel=1e-12)
