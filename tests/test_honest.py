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
