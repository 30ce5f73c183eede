"""Tests of evalkit.reliability: alpha, Feldt CI, item-rest analysis, omega total, reliability().

Reference values name their source: R psych published output (via /work/shared/reference/README.md),
hand computations shown in the test, or a peer package call (pingouin, statsmodels, pandas).
"""
from __future__ import annotations

import doctest
import importlib
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import EstimationError, EvalkitError, SmallSampleWarning
from evalkit.results import check_vocabulary
from evalkit.measure.reliability import (
    ReliabilityWarning,
    cronbach_alpha,
    feldt_ci,
    item_rest,
    omega_total,
    one_factor,
    reliability,
)

# evalkit/__init__ exports the function `reliability`, which shadows the submodule attribute,
# so `import evalkit.reliability as m` would bind the function: fetch the module itself.
reliability_module = importlib.import_module("evalkit.measure.reliability")

DATA = Path(__file__).parent / "data"
N_ITEMS = ["N1", "N2", "N3", "N4", "N5"]
A_ITEMS = ["A1", "A2", "A3", "A4", "A5"]


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    # R package psych, data(bfi); first column is the row id
    return pd.read_csv(DATA / "bfi.csv", index_col=0)


def _missing(X: np.ndarray, rate: float, rng) -> np.ndarray:
    """Knock out answers at random but keep at least one answer per row."""
    X = X.astype(float).copy()
    hole = rng.random(X.shape) < rate
    hole[hole.all(axis=1), 0] = False
    X[hole] = np.nan
    return X


def _exact_cov_data(Sigma: np.ndarray, n: int, seed: int) -> pd.DataFrame:
    """Data whose sample covariance (divisor n-1) is exactly Sigma: whiten, then colour."""
    rng = np.random.default_rng(seed)
    k = Sigma.shape[0]
    Z = rng.standard_normal((n, k))
    Z -= Z.mean(axis=0)
    L = np.linalg.cholesky(np.cov(Z, rowvar=False))
    Z = Z @ np.linalg.inv(L).T                    # sample covariance now the identity
    X = Z @ np.linalg.cholesky(Sigma).T + 3.0     # sample covariance now Sigma
    return pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(k)])


# ---------------------------------------------------------------------------
# R psych published values
# ---------------------------------------------------------------------------


def test_bfi_neuroticism_matches_psych(bfi):
    res = cronbach_alpha(bfi[N_ITEMS])
    # R: psych::alpha(bfi[16:20]) -> raw_alpha 0.8140, std.alpha 0.8147, average_r 0.468 (reference README)
    assert res["estimate"].iloc[0] == pytest.approx(0.8140, abs=5e-5)
    assert res["std_alpha"].iloc[0] == pytest.approx(0.8147, abs=5e-5)
    assert res["average_r"].iloc[0] == pytest.approx(0.468, abs=5e-4)
    assert res["k"].iloc[0] == 5
    assert res["n"].iloc[0] == 2800  # no bfi row misses all five N items, so n = nrow as in psych
    assert res["ci_low"].iloc[0] < res["estimate"].iloc[0] < res["ci_high"].iloc[0]


def test_bfi_agreeableness_reverse_keyed_matches_psych(bfi):
    # R: psych::alpha(bfi[1:5], keys = c("A1")) -> raw_alpha 0.7030 (reference README)
    via_arg = cronbach_alpha(bfi[A_ITEMS], reverse=["A1"], item_min=1, item_max=6)
    assert via_arg["estimate"].iloc[0] == pytest.approx(0.7030, abs=5e-5)
    manual = bfi[A_ITEMS].assign(A1=7 - bfi["A1"])  # bfi items are 1-6: reversed A1 = 7 - A1
    assert cronbach_alpha(manual)["estimate"].iloc[0] == pytest.approx(via_arg["estimate"].iloc[0], abs=1e-13)
    # without the range the reversal uses observed min + max (psych's rule); alpha is unchanged
    inferred = cronbach_alpha(bfi[A_ITEMS], reverse=["A1"])
    assert inferred["estimate"].iloc[0] == pytest.approx(via_arg["estimate"].iloc[0], abs=1e-13)
    # not reversing gives a different, much lower alpha (the test can fail)
    assert cronbach_alpha(bfi[A_ITEMS])["estimate"].iloc[0] < 0.5


# ---------------------------------------------------------------------------
# hand-worked case
# ---------------------------------------------------------------------------


def test_hand_worked_three_items_four_respondents():
    x = pd.DataFrame({"q1": [1, 2, 3, 4], "q2": [2, 1, 4, 3], "q3": [1, 3, 2, 4]})
    # Hand computation (divisor n - 1 = 3), every item has mean 2.5:
    #   deviations q1 (-1.5, -.5, .5, 1.5), q2 (-.5, -1.5, 1.5, .5), q3 (-1.5, .5, -.5, 1.5)
    #   var = 5/3 each; cov12 = 3/3 = 1; cov13 = 4/3; cov23 = 0/3 = 0
    C = np.array([[5 / 3, 1, 4 / 3], [1, 5 / 3, 0], [4 / 3, 0, 5 / 3]])
    k = 3
    alpha_hand = k / (k - 1) * (1 - np.trace(C) / C.sum())  # = 3/2 * (1 - 5 / (29/3)) = 21/29
    assert alpha_hand == pytest.approx(21 / 29)
    res = cronbach_alpha(x, level=0.95)
    assert res["estimate"].iloc[0] == pytest.approx(21 / 29, abs=1e-12)
    # correlations r12 = .6, r13 = .8, r23 = 0 -> sum(R) = 5.8; std alpha = 3/2 (1 - 3/5.8) = 21/29 too
    assert res["std_alpha"].iloc[0] == pytest.approx(1.5 * (1 - 3 / 5.8), abs=1e-12)
    assert res["average_r"].iloc[0] == pytest.approx(1.4 / 3, abs=1e-12)
    assert (res["n"].iloc[0], res["k"].iloc[0]) == (4, 3)

    ir = item_rest(x).set_index("item")
    # q1 vs rest q2 + q3 = (3, 4, 6, 7): r = 7 / sqrt(5 * 10)
    assert ir.loc["q1", "r_rest"] == pytest.approx(7 / np.sqrt(50), abs=1e-12)
    # without q1, q2 and q3 are uncorrelated: alpha = 2 * (1 - (10/3) / (10/3)) = 0
    assert ir.loc["q1", "alpha_if_deleted"] == pytest.approx(0.0, abs=1e-12)
    # without q3: C = [[5/3, 1], [1, 5/3]] -> alpha = 2 * (1 - (10/3) / (16/3)) = 0.75
    assert ir.loc["q3", "alpha_if_deleted"] == pytest.approx(0.75, abs=1e-12)


def test_pairwise_covariance_with_a_hole_matches_pandas_cov():
    x = pd.DataFrame({"q1": [1, 2, 3, 4, 5], "q2": [2, 1, np.nan, 3, 5], "q3": [1, 3, 2, 4, np.nan]})
    C = x.cov().to_numpy()  # pandas pairwise-complete covariance = R cov(x, use = "pairwise")
    k = 3
    expected = k / (k - 1) * (1 - np.trace(C) / C.sum())
    assert cronbach_alpha(x)["estimate"].iloc[0] == pytest.approx(expected, abs=1e-12)
    xl = x.dropna()
    Cl = xl.cov().to_numpy()
    with pytest.warns(SmallSampleWarning, match="n=3 respondents for k=3"):
        res_l = cronbach_alpha(x, method="listwise")
    assert res_l["estimate"].iloc[0] == pytest.approx(k / (k - 1) * (1 - np.trace(Cl) / Cl.sum()), abs=1e-12)
    assert res_l["n"].iloc[0] == 3


def test_vectorised_pairwise_matches_pandas_for_many_items():
    rng = np.random.default_rng(11)
    k, n = 40, 300
    f = rng.standard_normal((n, 1))
    X = _missing(f @ rng.uniform(0.3, 1.0, (1, k)) + rng.standard_normal((n, k)), 0.2, rng)
    df = pd.DataFrame(X, columns=[f"i{j}" for j in range(k)])
    C = df.cov().to_numpy()  # peer: pandas pairwise covariance
    expected = k / (k - 1) * (1 - np.trace(C) / C.sum())
    assert cronbach_alpha(df)["estimate"].iloc[0] == pytest.approx(expected, abs=1e-10)


# ---------------------------------------------------------------------------
# pingouin as peer
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_pingouin_with_missing_values(seed):
    pg = pytest.importorskip("pingouin")
    rng = np.random.default_rng(seed)
    n, k = 120, 6
    X = rng.integers(1, 6, (n, 1)) + rng.integers(-1, 2, (n, k))
    df = pd.DataFrame(_missing(X, 0.1, rng), columns=[f"q{j}" for j in range(k)])
    assert not df.isna().all(axis=1).any()
    # pingouin.cronbach_alpha(nan_policy="pairwise") uses DataFrame.cov() (pairwise) and n = nrow
    a_pg, ci_pg = pg.cronbach_alpha(df, nan_policy="pairwise", ci=0.95)
    res = cronbach_alpha(df, method="pairwise", level=0.95)
    assert res["estimate"].iloc[0] == pytest.approx(a_pg, abs=1e-12)
    assert res["n"].iloc[0] == n
    # pingouin rounds its Feldt interval to 3 decimals
    assert res["ci_low"].iloc[0] == pytest.approx(ci_pg[0], abs=5e-4 + 1e-12)
    assert res["ci_high"].iloc[0] == pytest.approx(ci_pg[1], abs=5e-4 + 1e-12)
    # listwise: pingouin drops incomplete rows but takes n from the frame before dropping (n = nrow,
    # as psych's alpha.ci(raw_alpha, nsub, nvar)); we use the complete rows actually analysed.
    a_pgl, ci_pgl = pg.cronbach_alpha(df, nan_policy="listwise", ci=0.90)
    res_l = cronbach_alpha(df, method="listwise", level=0.90)
    n_complete = len(df.dropna())
    assert n_complete < n
    assert res_l["estimate"].iloc[0] == pytest.approx(a_pgl, abs=1e-12)
    assert res_l["n"].iloc[0] == n_complete
    assert feldt_ci(a_pgl, n, k, 0.90) == pytest.approx(tuple(ci_pgl), abs=5e-4 + 1e-12)
    assert (res_l["ci_low"].iloc[0], res_l["ci_high"].iloc[0]) == pytest.approx(
        feldt_ci(a_pgl, n_complete, k, 0.90), abs=1e-12
    )
    assert abs(res_l["estimate"].iloc[0] - res["estimate"].iloc[0]) > 1e-6  # the two policies differ here


def test_empty_rows_are_not_counted_in_n_unlike_pingouin():
    pg = pytest.importorskip("pingouin")
    rng = np.random.default_rng(5)
    X = rng.integers(1, 6, (60, 1)) + rng.integers(-1, 2, (60, 4))
    df = pd.DataFrame(X.astype(float), columns=list("abcd"))
    df.iloc[:10] = np.nan  # ten respondents skipped the whole scale
    a_pg, ci_pg = pg.cronbach_alpha(df)
    res = cronbach_alpha(df)
    assert res["estimate"].iloc[0] == pytest.approx(a_pg, abs=1e-12)  # same covariance matrix
    assert res["n"].iloc[0] == 50  # pingouin / psych would use nrow = 60
    lo60, hi60 = feldt_ci(a_pg, 60, 4)
    assert (lo60, hi60) == pytest.approx(tuple(ci_pg), abs=5e-4 + 1e-12)
    lo50, hi50 = feldt_ci(a_pg, 50, 4)
    assert (res["ci_low"].iloc[0], res["ci_high"].iloc[0]) == pytest.approx((lo50, hi50), abs=1e-12)
    assert hi50 - lo50 > hi60 - lo60  # fewer respondents, wider interval


@pytest.mark.parametrize("alpha,n,k,ci", [(0.8, 30, 5, 0.95), (0.55, 200, 3, 0.90), (0.93, 12, 10, 0.99)])
def test_feldt_ci_matches_pingouin_formula(alpha, n, k, ci):
    pg = pytest.importorskip("pingouin")
    # Build data with a known alpha is awkward; instead feed pingouin data, then reuse its alpha
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 1)) + rng.standard_normal((n, k)) * (1.5 - alpha)
    a_pg, ci_pg = pg.cronbach_alpha(pd.DataFrame(X), ci=ci)
    lo, hi = feldt_ci(a_pg, n, k, ci)
    assert (lo, hi) == pytest.approx(tuple(ci_pg), abs=5e-4 + 1e-12)
    assert lo < a_pg < hi


def test_feldt_ci_coverage_simulation():
    # Parallel normal items: population alpha = k r / (1 + (k-1) r) with r = 1 / (1 + s2)
    rng = np.random.default_rng(2024)
    k, n, reps, s2 = 5, 40, 400, 1.5
    r = 1 / (1 + s2)
    alpha_pop = k * r / (1 + (k - 1) * r)
    hits = 0
    for _ in range(reps):
        X = rng.standard_normal((n, 1)) + np.sqrt(s2) * rng.standard_normal((n, k))
        res = cronbach_alpha(pd.DataFrame(X))
        hits += res["ci_low"].iloc[0] <= alpha_pop <= res["ci_high"].iloc[0]
    # 95% interval: coverage within +-3.3 binomial SEs (SE = 0.011 for 400 reps)
    assert 0.914 <= hits / reps <= 0.986


# ---------------------------------------------------------------------------
# item_rest
# ---------------------------------------------------------------------------


def test_item_rest_complete_data_equals_direct_correlations(bfi):
    x = bfi[N_ITEMS].dropna()
    ir = item_rest(x)
    for _, row in ir.iterrows():
        rest = x.drop(columns=row["item"]).sum(axis=1)
        assert row["r_rest"] == pytest.approx(np.corrcoef(x[row["item"]], rest)[0, 1], abs=1e-12)
        dropped = cronbach_alpha(x.drop(columns=row["item"]))
        assert row["alpha_if_deleted"] == pytest.approx(dropped["estimate"].iloc[0], abs=1e-12)
        assert row["std_alpha_if_deleted"] == pytest.approx(dropped["std_alpha"].iloc[0], abs=1e-12)
    assert ir["n"].tolist() == [len(x)] * 5
    assert ir["sd"].to_numpy() == pytest.approx(x.std().to_numpy(), abs=1e-12)


def test_item_rest_pairwise_alpha_if_deleted_matches_refit(bfi):
    ir = item_rest(bfi[A_ITEMS], reverse=["A1"], item_min=1, item_max=6)
    for _, row in ir.iterrows():
        sub = [c for c in A_ITEMS if c != row["item"]]
        rev = ["A1"] if "A1" in sub else None
        refit = cronbach_alpha(bfi[sub], reverse=rev, item_min=1, item_max=6)
        assert row["alpha_if_deleted"] == pytest.approx(refit["estimate"].iloc[0], abs=1e-12)
    assert ir["reversed"].tolist() == [True, False, False, False, False]
    # reversed A1 mean is 7 - mean(A1)
    assert ir["mean"].iloc[0] == pytest.approx(7 - bfi["A1"].mean(), abs=1e-12)
    assert (ir["r_rest"] > 0).all()  # after reverse-keying every item correlates positively with the rest
    assert ir.columns.tolist() == [
        "item", "reversed", "n", "mean", "sd", "r_rest", "alpha_if_deleted", "std_alpha_if_deleted"
    ]


def test_item_rest_two_items_has_no_alpha_if_deleted():
    x = pd.DataFrame({"a": [1, 2, 3, 4, 2], "b": [2, 2, 4, 4, 1]})
    ir = item_rest(x)
    assert ir["alpha_if_deleted"].isna().all()
    assert ir["r_rest"].iloc[0] == pytest.approx(np.corrcoef(x["a"], x["b"])[0, 1], abs=1e-12)


# ---------------------------------------------------------------------------
# omega
# ---------------------------------------------------------------------------


def test_omega_equals_alpha_for_tau_equivalent_items_in_population():
    lam = np.full(5, 0.7)                             # equal loadings: tau-equivalent
    psi = np.array([0.3, 0.5, 0.8, 1.0, 1.4])         # unequal error variances
    Sigma = np.outer(lam, lam) + np.diag(psi)
    df = _exact_cov_data(Sigma, n=300, seed=1)        # sample covariance == Sigma exactly
    # McDonald (1999): omega = (sum lam)^2 / ((sum lam)^2 + sum psi) = 12.25 / (12.25 + 4.0)
    omega_pop = lam.sum() ** 2 / (lam.sum() ** 2 + psi.sum())
    assert omega_pop == pytest.approx(12.25 / 16.25)
    om = omega_total(df)["estimate"].iloc[0]
    al = cronbach_alpha(df)["estimate"].iloc[0]
    assert om == pytest.approx(omega_pop, abs=1e-6)
    assert al == pytest.approx(omega_pop, abs=1e-10)   # alpha is exact for tau-equivalent items
    fit = one_factor(df)
    assert fit["loading"].to_numpy() == pytest.approx(lam, abs=1e-5)
    assert fit["uniqueness"].to_numpy() == pytest.approx(psi, abs=1e-5)


def test_omega_recovers_congeneric_population_value():
    lam = np.array([1.2, 0.9, 0.7, 0.5, 0.3])        # congeneric: loadings differ
    psi = np.array([0.6, 0.8, 0.5, 0.9, 0.7])
    Sigma = np.outer(lam, lam) + np.diag(psi)
    omega_pop = lam.sum() ** 2 / (lam.sum() ** 2 + psi.sum())   # = 12.96 / 16.46
    assert omega_pop == pytest.approx(12.96 / 16.46)
    # population (exact covariance): exact recovery, and alpha is a strict lower bound
    df_pop = _exact_cov_data(Sigma, n=300, seed=2)
    assert omega_total(df_pop)["estimate"].iloc[0] == pytest.approx(omega_pop, abs=1e-6)
    alpha_pop = 5 / 4 * (1 - np.trace(Sigma) / Sigma.sum())
    assert cronbach_alpha(df_pop)["estimate"].iloc[0] == pytest.approx(alpha_pop, abs=1e-10)
    assert alpha_pop < omega_pop - 0.01
    # sampled, large n: close to the population value
    rng = np.random.default_rng(3)
    n = 20_000
    X = rng.standard_normal((n, 1)) * lam + rng.standard_normal((n, 5)) * np.sqrt(psi)
    om = omega_total(pd.DataFrame(X, columns=list("abcde")))["estimate"].iloc[0]
    assert om == pytest.approx(omega_pop, abs=0.01)


def test_one_factor_matches_statsmodels_ml(bfi):
    sm_factor = pytest.importorskip("statsmodels.multivariate.factor")
    x = bfi[N_ITEMS].dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fa = sm_factor.Factor(x, n_factor=1, method="ml").fit(maxiter=500, opt={"gtol": 1e-10})
    ours = one_factor(x)
    sm_load = fa.loadings.ravel() * np.sign(fa.loadings.sum())
    assert ours["std_loading"].to_numpy() == pytest.approx(sm_load, abs=1e-4)
    assert ours["std_uniqueness"].to_numpy() == pytest.approx(fa.uniqueness, abs=1e-4)
    # covariance metric = standardised solution rescaled by item SDs (ML is scale invariant)
    assert ours["loading"].to_numpy() == pytest.approx(sm_load * x.std().to_numpy(), abs=1e-3)


def test_omega_on_bfi_neuroticism_is_close_to_alpha(bfi):
    om = omega_total(bfi[N_ITEMS])
    # Hand formula from the fitted one-factor model (McDonald 1999)
    fit = one_factor(bfi[N_ITEMS])
    s = fit["loading"].sum()
    assert om["estimate"].iloc[0] == pytest.approx(s**2 / (s**2 + fit["uniqueness"].sum()), abs=1e-12)
    # N items are nearly tau-equivalent: omega within 0.01 of alpha 0.8140 (psych)
    assert om["estimate"].iloc[0] == pytest.approx(0.8140, abs=0.01)


def test_omega_needs_three_items():
    x = pd.DataFrame({"a": [1, 2, 3, 4, 2], "b": [2, 2, 4, 4, 1]})
    with pytest.raises(EvalkitError, match="at least 3 items"):
        omega_total(x)


# ---------------------------------------------------------------------------
# edge cases and input errors
# ---------------------------------------------------------------------------


def test_single_item_is_a_clear_error(bfi):
    with pytest.raises(EvalkitError, match=r"at least 2 items; got 1 \('N1'\)"):
        cronbach_alpha(bfi[["N1"]])


def test_constant_item_dropped_like_psych(bfi):
    x = bfi[N_ITEMS].assign(N6=3.0)
    with pytest.warns(ReliabilityWarning, match="N6"):
        res = cronbach_alpha(x)
    # psych::alpha(delete=TRUE) drops it: same as the five N items
    assert res["estimate"].iloc[0] == pytest.approx(0.8140, abs=5e-5)
    assert res["k"].iloc[0] == 5
    # delete=False keeps it: k = 6 in the k/(k-1) factor, correlations undefined
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kept = cronbach_alpha(x, delete=False)
    C = x.cov().to_numpy()
    assert kept["estimate"].iloc[0] == pytest.approx(6 / 5 * (1 - np.trace(C) / C.sum()), abs=1e-12)
    assert np.isnan(kept["std_alpha"].iloc[0])


def test_all_nan_column_is_dropped_with_warning(bfi):
    x = bfi[N_ITEMS].assign(N6=np.nan)
    with pytest.warns(ReliabilityWarning, match="N6"):
        res = cronbach_alpha(x)
    assert res["estimate"].iloc[0] == pytest.approx(0.8140, abs=5e-5)
    with pytest.raises(EstimationError, match="fewer than 2 items"):
        with pytest.warns(ReliabilityWarning):
            cronbach_alpha(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [np.nan] * 3}))


def test_input_errors_name_the_problem():
    x = pd.DataFrame({"q1": [1, 2, 3, 4], "q2": [2, 1, 4, 3], "q3": [1, 3, 2, 99]})
    with pytest.raises(EvalkitError, match=r"'q3' has values \[99.0\] outside the answer range \[1, 5\]"):
        cronbach_alpha(x, item_min=1, item_max=5)
    with pytest.raises(EvalkitError, match=r"reverse-keyed item\(s\) \['q9'\]"):
        cronbach_alpha(x, reverse=["q9"])
    with pytest.raises(EvalkitError, match="method='both' is not a valid choice"):
        cronbach_alpha(x, method="both")
    with pytest.raises(EvalkitError, match="'q2' is"):
        cronbach_alpha(x.assign(q2=x["q2"].astype(str)))
    with pytest.raises(EvalkitError, match="give both item_min and item_max"):
        cronbach_alpha(x, item_min=1)
    with pytest.raises(EvalkitError, match="DataFrame"):
        cronbach_alpha([[1, 2], [3, 4]])
    with pytest.raises(EvalkitError, match="strictly between 0 and 1"):
        cronbach_alpha(x, level=95)


def test_listwise_without_complete_rows_and_small_n():
    x = pd.DataFrame({"a": [1, np.nan, 3], "b": [np.nan, 2, 3], "c": [1, 2, np.nan]})
    with pytest.raises(EstimationError, match="try method='pairwise'"):
        cronbach_alpha(x, method="listwise")
    y = pd.DataFrame({"a": [1, 2, 3], "b": [1, 3, 3], "c": [2, 2, 3], "d": [1, 2, 2]})
    with pytest.warns(SmallSampleWarning, match="n=3 respondents for k=4"):
        cronbach_alpha(y)


def test_nullable_integer_columns_are_accepted(bfi):
    x = bfi[N_ITEMS].astype("Int64")
    assert cronbach_alpha(x)["estimate"].iloc[0] == pytest.approx(0.8140, abs=5e-5)


# ---------------------------------------------------------------------------
# reliability(): many scales, by group
# ---------------------------------------------------------------------------


def test_reliability_by_group_equals_per_group_calls(bfi):
    scales = {"neuroticism": N_ITEMS, "agreeableness": ["A2", "A3", "A4", "A5"]}
    out = reliability(bfi, scales, by="gender")
    assert out.columns.tolist() == [
        "gender", "indicator", "coefficient", "estimate", "ci_low", "ci_high", "n", "k", "std_alpha",
        "average_r", "flag", "note",
    ]
    check_vocabulary(out)
    assert len(out) == 8 and out["coefficient"].tolist() == ["alpha", "omega_total"] * 4
    for _, row in out.iterrows():
        sub = bfi[bfi["gender"] == row["gender"]][scales[row["indicator"]]]
        if row["coefficient"] == "alpha":
            ref = cronbach_alpha(sub)
            for col in ["estimate", "ci_low", "ci_high", "std_alpha", "average_r", "n", "k"]:
                assert row[col] == pytest.approx(ref[col].iloc[0], abs=1e-12)
        else:
            ref = omega_total(sub)
            for col in ["estimate", "n", "k"]:
                assert row[col] == pytest.approx(ref[col].iloc[0], abs=1e-12)
            assert np.isnan(row["ci_low"]) and np.isnan(row["std_alpha"])
        assert row["flag"] == (row["estimate"] < 0.70)
    overall = reliability(bfi, {"neuroticism": N_ITEMS})
    assert overall["estimate"].iloc[0] == pytest.approx(0.8140, abs=5e-5)  # psych, as above
    assert not overall["flag"].iloc[0]


def test_reliability_flags_low_alpha_and_threshold(bfi):
    scales = {"A_unreversed": A_ITEMS}   # A1 not reversed: alpha well below 0.70
    out = reliability(bfi, scales)
    assert bool(out["flag"].iloc[0]) is True
    assert bool(reliability(bfi, scales, threshold=0.1)["flag"].iloc[0]) is False


def test_reliability_small_and_constant_groups_give_nan_with_note():
    rng = np.random.default_rng(7)
    n = 90
    f = rng.standard_normal(n)
    df = pd.DataFrame({f"q{j}": np.round(3 + f + rng.standard_normal(n)) for j in range(4)})
    df["community"] = ["big"] * 80 + ["tiny"] * 3 + ["flat"] * 7
    df.loc[df["community"] == "flat", "q2"] = 3.0
    both = reliability(df, {"s": ["q0", "q1", "q2", "q3"]}, by=["community"])
    out = both.query("coefficient == 'alpha'").set_index("community")
    assert np.isfinite(out.loc["big", "estimate"]) and out.loc["big", "note"] == ""
    assert np.isnan(out.loc["tiny", "estimate"]) and "n=3 < k+1=5" in out.loc["tiny", "note"]
    assert np.isnan(out.loc["flat", "estimate"]) and "'q2'" in out.loc["flat", "note"]
    assert out.loc["tiny", "n"] == 3 and out.loc["flat", "k"] == 4
    assert pd.isna(out.loc["tiny", "flag"]) and pd.isna(out.loc["flat", "flag"])
    assert out.loc["big", "flag"] == (out.loc["big", "estimate"] < 0.70)
    omega = both.query("coefficient == 'omega_total'").set_index("community")
    assert np.isfinite(omega.loc["big", "estimate"]) and np.isnan(omega.loc["tiny", "estimate"])
    assert omega.loc["tiny", "note"] == out.loc["tiny", "note"]


def test_reliability_two_item_scale_has_alpha_but_no_omega(bfi):
    out = reliability(bfi, {"c12": ["C1", "C2"]})
    assert out["estimate"].iloc[0] == pytest.approx(cronbach_alpha(bfi[["C1", "C2"]])["estimate"].iloc[0], abs=1e-12)
    assert out["note"].iloc[0] == ""
    assert out["coefficient"].iloc[1] == "omega_total" and np.isnan(out["estimate"].iloc[1])
    assert "3 items" in out["note"].iloc[1]


def test_reliability_with_duck_typed_codebook(bfi):
    agree = SimpleNamespace(items=tuple(A_ITEMS), reverse_items=("A1",), item_min=1.0, item_max=6.0)
    single = SimpleNamespace(items=("E1",), reverse_items=(), item_min=1.0, item_max=6.0)
    composite = SimpleNamespace(items=(), reverse_items=(), item_min=None, item_max=None)
    absent = SimpleNamespace(items=("zz1", "zz2", "zz3"), reverse_items=(), item_min=1.0, item_max=5.0)
    cb = SimpleNamespace(scales={"agree": agree, "e1": single, "combo": composite, "kids": absent})
    out = reliability(bfi, cb, by="gender")
    assert out["indicator"].unique().tolist() == ["agree"]   # single, composite and absent scales skipped
    whole = reliability(bfi, cb)
    # R: psych::alpha(bfi[1:5], keys = c("A1")) -> raw_alpha 0.7030 (reference README)
    assert whole["estimate"].iloc[0] == pytest.approx(0.7030, abs=5e-5)
    # a dict spec per scale works the same way
    as_dict = {"agree": {"items": A_ITEMS, "reverse_items": ["A1"], "item_min": 1, "item_max": 6}}
    assert reliability(bfi, as_dict)["estimate"].iloc[0] == pytest.approx(whole["estimate"].iloc[0], abs=1e-13)
    # a plain mapping of scale objects works too; their ranges are checked
    bad = SimpleNamespace(items=tuple(A_ITEMS), reverse_items=("A1",), item_min=1.0, item_max=5.0)
    with pytest.raises(EvalkitError, match="outside the answer range"):
        reliability(bfi, {"agree": bad})


def test_reliability_with_the_evalkit_codebook(codebook):
    cb = codebook
    with_rev = [name for name, s in cb.scales.items() if len(s.items) >= 3 and s.reverse_items]
    if not with_rev:
        pytest.skip("the shipped codebook has no multi-item scale with reverse-keyed items")
    sc = cb.scales[with_rev[0]]
    lo, hi = sc.item_min, sc.item_max
    rng = np.random.default_rng(9)
    n = 400
    f = rng.standard_normal(n)
    sign = np.array([-1.0 if it in sc.reverse_items else 1.0 for it in sc.items])
    raw = (lo + hi) / 2 + sign * f[:, None] + rng.standard_normal((n, len(sc.items)))
    df = pd.DataFrame(np.clip(np.round(raw), lo, hi), columns=list(sc.items))
    out = reliability(df, cb)
    assert out["indicator"].tolist() == [with_rev[0]] * 2
    ref = cronbach_alpha(df, reverse=list(sc.reverse_items), item_min=lo, item_max=hi)
    assert out["estimate"].iloc[0] == pytest.approx(ref["estimate"].iloc[0], abs=1e-12)
    assert out["estimate"].iloc[0] > cronbach_alpha(df)["estimate"].iloc[0] + 0.2  # reversal mattered


def test_reliability_input_errors(bfi):
    with pytest.raises(EvalkitError, match=r"needs column\(s\) \['X9'\]"):
        reliability(bfi, {"s": ["N1", "X9"]})
    with pytest.raises(EvalkitError, match="has 1 item"):
        reliability(bfi, {"s": ["N1"]})
    with pytest.raises(EvalkitError, match=r"grouping column\(s\) \['wave'\]"):
        reliability(bfi, {"s": N_ITEMS}, by="wave")
    with pytest.raises(EvalkitError, match="mapping"):
        reliability(bfi, ["N1", "N2"])


def test_reliability_missing_group_values_form_their_own_group(bfi):
    out = reliability(bfi, {"n": N_ITEMS}, by="education")
    assert out["education"].isna().sum() == 2   # its alpha and omega rows
    assert out.query("coefficient == 'alpha'")["n"].sum() == len(bfi)


def test_docstring_examples_run():
    res = doctest.testmod(reliability_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


def test_heywood_case_warns_and_is_noted():
    # Three items with r12 = r13 = 0.8, r23 = 0.5 (det = 0.11 > 0): the one-factor solution needs
    # lambda_1^2 = r12 * r13 / r23 = 1.28 > 1 (hand computation), so uniqueness 1 hits its bound.
    R = np.array([[1.0, 0.8, 0.8], [0.8, 1.0, 0.5], [0.8, 0.5, 1.0]])
    df = _exact_cov_data(R, n=200, seed=4)
    with pytest.warns(ReliabilityWarning, match=r"Heywood case: uniqueness of \['x1'\]"):
        fit = one_factor(df)
    assert fit["std_uniqueness"].iloc[0] == pytest.approx(0.005, abs=1e-9)
    out = reliability(df, {"s": ["x1", "x2", "x3"]})
    assert out["coefficient"].iloc[1] == "omega_total" and out["note"].iloc[0] == ""
    assert "Heywood" in out["note"].iloc[1] and np.isfinite(out["estimate"].iloc[1])


# ---------------------------------------------------------------------------
# frozen output of R psych 2.2.9 / stats::factanal (R 4.2.2), generated by
# tests/data/psych_reliability_reference.R
# ---------------------------------------------------------------------------


def test_item_statistics_match_psych_frozen(bfi):
    ir = item_rest(bfi[N_ITEMS]).set_index("item")
    # R: a <- psych::alpha(bfi[, N1:N5]); a$alpha.drop$raw_alpha, $std.alpha; a$item.stats$r.drop, $n
    raw_drop = [0.7581379139, 0.7632326519, 0.7553428060, 0.7953499088, 0.8126021783]
    std_drop = [0.7583429664, 0.7633956994, 0.7567103186, 0.7968948207, 0.8128354601]
    r_drop = [0.6672057085, 0.6526162493, 0.6748167104, 0.5428001298, 0.4864824061]
    assert ir["alpha_if_deleted"].to_numpy() == pytest.approx(raw_drop, abs=1e-9)
    assert ir["std_alpha_if_deleted"].to_numpy() == pytest.approx(std_drop, abs=1e-9)
    assert ir["r_rest"].to_numpy() == pytest.approx(r_drop, abs=1e-9)
    assert ir["n"].tolist() == [2778, 2779, 2789, 2764, 2771]
    # R: a$feldt -> lower 0.8028413025, upper 0.8246403507 (n.obs = nrow = 2800)
    res = cronbach_alpha(bfi[N_ITEMS])
    assert res["estimate"].iloc[0] == pytest.approx(0.8139629499, abs=1e-9)
    assert res["ci_low"].iloc[0] == pytest.approx(0.8028413025, abs=1e-9)
    assert res["ci_high"].iloc[0] == pytest.approx(0.8246403507, abs=1e-9)


def test_reverse_keyed_item_statistics_match_psych_frozen(bfi):
    ir = item_rest(bfi[A_ITEMS], reverse=["A1"], item_min=1, item_max=6)
    # R: b <- psych::alpha(bfi[, A1:A5], keys = c("A1")); b$alpha.drop$raw_alpha, b$item.stats$r.drop, $mean
    assert ir["alpha_if_deleted"].to_numpy() == pytest.approx(
        [0.7185173570, 0.6171800370, 0.6002595788, 0.6858056523, 0.6429529601], abs=1e-9)
    assert ir["r_rest"].to_numpy() == pytest.approx(
        [0.3084177395, 0.5636151638, 0.5870045895, 0.3944440866, 0.4885651358], abs=1e-9)
    assert ir["mean"].to_numpy() == pytest.approx(
        [4.586566092, 4.802380094, 4.603821197, 4.699748292, 4.560344828], abs=1e-8)
    res = cronbach_alpha(bfi[A_ITEMS], reverse=["A1"], item_min=1, item_max=6)
    # R: b$total -> raw_alpha 0.7030184461, std.alpha 0.7130285787, average_r 0.3319676571
    assert res[["estimate", "std_alpha", "average_r"]].iloc[0].to_numpy() == pytest.approx(
        [0.7030184461, 0.7130285787, 0.3319676571], abs=1e-9)


def test_listwise_matches_psych_complete_obs_frozen(bfi):
    res = cronbach_alpha(bfi[N_ITEMS], method="listwise")
    # R: psych::alpha(bfi[, N1:N5], use = "complete.obs")$total -> 0.8133031432, std 0.8140720657
    assert res["estimate"].iloc[0] == pytest.approx(0.8133031432, abs=1e-9)
    assert res["std_alpha"].iloc[0] == pytest.approx(0.8140720657, abs=1e-9)
    # psych's Feldt row uses nrow = 2800 (incomplete rows included): 0.8021420512, 0.8240184128
    assert feldt_ci(res["estimate"].iloc[0], 2800, 5) == pytest.approx((0.8021420512, 0.8240184128), abs=1e-9)
    # evalkit uses the 2694 complete rows it analysed, so its interval is a little wider
    assert res["n"].iloc[0] == 2694
    assert res["ci_low"].iloc[0] < 0.8021420512 and res["ci_high"].iloc[0] > 0.8240184128


def test_one_factor_listwise_matches_factanal_frozen(bfi):
    fit = one_factor(bfi[N_ITEMS], method="listwise")
    # R: factanal(covmat = cor(na.omit(bfi[, N1:N5])), factors = 1)$loadings, $uniquenesses
    assert fit["std_loading"].to_numpy() == pytest.approx(
        [0.8179396007, 0.8027026643, 0.7167800018, 0.5541370723, 0.5016485254], abs=1e-6)
    # factanal stops L-BFGS-B at its default tolerance: its uniquenesses are ~1e-5 off the optimum
    # (ML criterion 0.13397613818 there vs 0.13397613810 at evalkit's solution), hence abs=2e-5
    assert fit["std_uniqueness"].to_numpy() == pytest.approx(
        [0.3309746867, 0.3556680388, 0.4862276470, 0.6929340895, 0.7483404936], abs=2e-5)


# ---------------------------------------------------------------------------
# vocabulary, level=, module layout
# ---------------------------------------------------------------------------


def test_tables_follow_the_result_vocabulary(bfi):
    res = check_vocabulary(cronbach_alpha(bfi[N_ITEMS]))
    assert res.columns.tolist() == reliability_module.ALPHA_COLUMNS and res["coefficient"].iloc[0] == "alpha"
    om = check_vocabulary(omega_total(bfi[N_ITEMS]))
    assert om.columns.tolist() == ["coefficient", "estimate", "n", "k", "method"]
    assert om["coefficient"].iloc[0] == "omega_total"
    table = check_vocabulary(reliability(bfi, {"neuroticism": N_ITEMS}))
    assert table.columns.tolist() == reliability_module.RELIABILITY_COLUMNS
    assert table["estimate"].tolist() == [res["estimate"].iloc[0], om["estimate"].iloc[0]]


def test_ci_is_deprecated_in_favour_of_level(bfi):
    x = bfi[N_ITEMS]
    new = cronbach_alpha(x, level=0.9)
    with pytest.warns(FutureWarning, match=r"cronbach_alpha\(ci=...\) is deprecated.*level=0.9"):
        old = cronbach_alpha(x, ci=0.9)
    pd.testing.assert_frame_equal(old, new)
    with pytest.warns(FutureWarning, match="reliability"):
        pd.testing.assert_frame_equal(reliability(x, {"n": N_ITEMS}, ci=0.9),
                                      reliability(x, {"n": N_ITEMS}, level=0.9))
    with pytest.warns(FutureWarning, match="feldt_ci"):
        assert feldt_ci(0.8, 30, 5, ci=0.9) == feldt_ci(0.8, 30, 5, level=0.9) == feldt_ci(0.8, 30, 5, 0.9)
    assert new["ci_high"].iloc[0] - new["ci_low"].iloc[0] < (
        cronbach_alpha(x)["ci_high"].iloc[0] - cronbach_alpha(x)["ci_low"].iloc[0])


def test_reliability_takes_a_study_for_its_codebook(codebook):
    from evalkit.spec.study import Study

    sc = next(s for s in codebook.scales.values() if len(s.items) >= 3)
    rng = np.random.default_rng(3)
    raw = (sc.item_min + sc.item_max) / 2 + rng.standard_normal((200, 1)) + rng.standard_normal((200, len(sc.items)))
    df = pd.DataFrame(np.clip(np.round(raw), sc.item_min, sc.item_max), columns=list(sc.items))
    pd.testing.assert_frame_equal(reliability(df, Study(codebook)), reliability(df, codebook))


def test_factor_functions_live_in_measure_factor_and_are_re_exported():
    factor = importlib.import_module("evalkit.measure.factor")
    assert reliability_module.omega_total is factor.omega_total
    assert reliability_module.one_factor is factor.one_factor
