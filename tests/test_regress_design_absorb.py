"""regress(formula, design=...) with absorbed fixed effects (``y ~ x | fe``; issue 15, item 4).

References (all computed here, nothing frozen):
* the same model with the fixed effects as explicit ``C(...)`` dummies through
  ``regress(design=...)`` -- evalkit's svyglm route, checked against R survey's printed
  ``svyglm`` output in tests/test_regress_design.py -- where that model has df >= 1 (fixed effects
  that cross the PSUs): estimates, variance and df equal to 1e-8;
* for fixed effects nested in the PSUs (the dummy model then has df < 1 and is refused), the
  sandwich of the explicit dummy design written out here: WLS on [x, dummies], scores
  w_i z_i e_i, the design's own ``linearized_variance`` of their total, A^{-1} V A^{-1}, its
  regressor block; and for replicate designs, per-replicate least squares on the dummy design
  over the rows the replicate keeps (numpy ``lstsq``, which leaves the coefficient of a level the
  replicate drops undetermined as R's refit leaves it NA), then the design's ``variance``.
"""
import numpy as np
import pandas as pd
import pytest

from evalkit.inference.regress import regress
from evalkit.survey import SurveyDesign


def _toy(seed: int = 11) -> pd.DataFrame:
    """3 strata x 6 PSUs; households (2-4 per PSU) nested in PSUs; a region crossing the PSUs."""
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(3):
        for j in range(6):
            psu = h * 10 + j
            for k in range(int(rng.integers(2, 5))):
                for _ in range(int(rng.integers(2, 6))):
                    rows.append((h, psu, psu * 10 + k))
    d = pd.DataFrame(rows, columns=["h", "psu", "hh"])
    n = len(d)
    d["region"] = rng.integers(0, 4, size=n)
    d["x"] = rng.normal(size=n) + 0.2 * d["region"]
    d["z"] = rng.normal(size=n)
    d["y"] = (1 + 0.5 * d["x"] - 0.2 * d["z"] + 0.3 * d["region"] + np.sin(d["hh"])
              + 0.4 * (d["psu"] % 7) + rng.normal(size=n))
    d["w"] = rng.uniform(1, 4, size=n)
    d["N"] = np.array([40, 25, 60])[d["h"]]
    return d


def _design(d):
    return SurveyDesign(d, weight="w", strata="h", psu="psu", fpc="N")


@pytest.mark.parametrize("replicate", [False, True])
@pytest.mark.parametrize("fe, dummies", [("region", "C(region)"), ("region^h", "C(rh)")])
def test_fixed_effects_crossing_psus_equal_svyglm_with_dummies(replicate, fe, dummies):
    d = _toy().assign(rh=lambda f: f["region"] * 10 + f["h"])
    des = _design(d)
    if replicate:
        des = des.as_replicate("JKn")
    a = regress(f"y ~ x + z | {fe}", design=des)
    b = regress(f"y ~ x + z + {dummies}", design=des)
    np.testing.assert_allclose(a.params.to_numpy(), b.params[["x", "z"]].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(a.vcov.to_numpy(), b.vcov.loc[["x", "z"], ["x", "z"]].to_numpy(), rtol=1e-8)
    np.testing.assert_array_equal(a.df.to_numpy(), b.df[["x", "z"]].to_numpy())   # same p as svyglm
    assert a.vcov_type == b.vcov_type == ("replicate" if replicate else "linearization")
    assert a.design_df == b.design_df and a.fixef == (fe,)
    assert "fixed effects absorbed" in a.summary


def _dummy_design(d, fes):
    D = [pd.get_dummies(d[f].astype(str), drop_first=i > 0).to_numpy(float) for i, f in enumerate(fes)]
    return np.column_stack([d[["x", "z"]].to_numpy(float)] + D)


def test_fixed_effects_nested_in_psus_linearisation_equals_the_dummy_sandwich():
    d = _toy()
    des = _design(d)
    a = regress("y ~ x + z | hh + region", design=des)
    Z, y, w = _dummy_design(d, ["hh", "region"]), d["y"].to_numpy(), d["w"].to_numpy()
    A = Z.T @ (Z * w[:, None])
    b = np.linalg.solve(A, Z.T @ (w * y))
    U = Z * (w * (y - Z @ b))[:, None]
    Ainv = np.linalg.inv(A)
    V = (Ainv @ des.linearized_variance(U, cov=True) @ Ainv)[:2, :2]
    np.testing.assert_allclose(a.params.to_numpy(), b[:2], rtol=1e-8)
    np.testing.assert_allclose(a.vcov.to_numpy(), V, rtol=1e-8)
    # p = 2 regressors + intercept + 3 region levels (crossing PSUs); the households (nested) not counted
    assert a.design_df == 18 - 3
    np.testing.assert_array_equal(a.df.to_numpy(), [18 - 3 + 1 - 6] * 2)
    assert "- 6 = 10" in a.summary
    # the same with explicit dummies has df < 1 and is refused (svyglm counts every household)
    with pytest.raises(Exception, match="df"):
        regress("y ~ x + z + C(hh) + C(region)", design=des)


def test_fixed_effects_nested_in_psus_jackknife_equals_refits_on_the_dummy_design():
    d = _toy()
    rep = _design(d).as_replicate("JKn")
    a = regress("y ~ x + z | hh", design=rep)
    Z, y = _dummy_design(d, ["hh"]), d["y"].to_numpy()
    W = rep.replicate_weights
    w = d["w"].to_numpy()
    b = np.linalg.solve(Z.T @ (Z * w[:, None]), Z.T @ (w * y))
    thetas = []
    for r in range(W.shape[1]):
        keep = W[:, r] > 0                     # the dropped PSU's households vanish from this refit
        s = np.sqrt(W[keep, r])
        coef, *_ = np.linalg.lstsq(Z[keep] * s[:, None], y[keep] * s, rcond=None)
        thetas.append(coef[:2])
    V = rep.variance(np.array(thetas), b[:2], cov=True)
    np.testing.assert_allclose(a.params.to_numpy(), b[:2], rtol=1e-8)
    np.testing.assert_allclose(a.vcov.to_numpy(), V, rtol=1e-8)
    # the replicate weights reveal the PSUs (rows reweighted alike), so households count as nested
    np.testing.assert_array_equal(a.df.to_numpy(), [rep.degf + 1 - 3] * 2)


def test_design_subset_and_missing_rows_with_fixed_effects():
    d = _toy()
    d.loc[[0, 5], "region"] = np.nan
    des = _design(d)
    with pytest.raises(Exception, match="'region' \\(2\\)"):
        regress("y ~ x + z | region", design=des)
    a = regress("y ~ x + z | region", design=des, missing="drop")
    b = regress("y ~ x + z + C(region)", design=des, missing="drop")
    assert a.n_dropped == 2 and a.n == len(d) - 2
    np.testing.assert_allclose(a.vcov.to_numpy(), b.vcov.loc[["x", "z"], ["x", "z"]].to_numpy(), rtol=1e-8)
    sub = _design(_toy()).subset(_toy()["h"] != 1)
    a = regress("y ~ x + z | region", design=sub)
    b = regress("y ~ x + z + C(region)", design=sub)
    np.testing.assert_allclose(a.vcov.to_numpy(), b.vcov.loc[["x", "z"], ["x", "z"]].to_numpy(), rtol=1e-8)
    np.testing.assert_array_equal(a.df.to_numpy(), b.df[["x", "z"]].to_numpy())


def test_raked_design_with_fixed_effects_equals_dummies():
    """Calibration residuals enter the scores linearly, so the FWL argument holds on a raked design."""
    d = _toy()
    des = _design(d).rake({"region": {0: 300.0, 1: 250.0, 2: 280.0, 3: 270.0}})
    a = regress("y ~ x + z | region", design=des)
    b = regress("y ~ x + z + C(region)", design=des)
    np.testing.assert_allclose(a.params.to_numpy(), b.params[["x", "z"]].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(a.vcov.to_numpy(), b.vcov.loc[["x", "z"], ["x", "z"]].to_numpy(), rtol=1e-8)
    assert not np.allclose(a.vcov.to_numpy(), regress("y ~ x + z | region", design=_design(d)).vcov.to_numpy())
