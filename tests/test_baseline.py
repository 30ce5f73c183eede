"""Change from baseline: estimates, panel-aware SEs (checked against a regression route), Hedges' g, BH."""
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from evalkit.errors import EstimationError
from evalkit.evaluation.baseline import change_from_baseline
from evalkit.measure.scales import score
from evalkit.survey.design import SurveyDesign


@pytest.fixture(scope="module")
def scored(survey, codebook):
    return score(survey, codebook)


@pytest.fixture(scope="module")
def design(scored):
    return SurveyDesign(scored, weight="base_weight", strata="stratum", psu="psu")


@pytest.fixture(scope="module")
def change(design):
    return change_from_baseline(design, ["who5", "participation_ladder", "grid_awareness"])


def test_estimates_are_differences_of_design_means(design, change):
    means = design.mean("who5", by=["community_id", "wave"]).set_index(["community_id", "wave"])["estimate"]
    row = change.query("community_id == 'anning' and wave == 2017 and indicator == 'who5'").iloc[0]
    assert row["estimate"] == pytest.approx(means["anning", 2017] - means["anning", 2014], abs=1e-12)
    assert row["baseline_wave"] == 2014
    assert len(change) == 14 * 3 * 3


def test_se_matches_weighted_regression_with_psu_clusters(scored, change):
    # Independent route: WLS of y on a wave dummy within one community (two waves), sandwich
    # with PSU clusters and no small-sample factor, times G/(G-1) (the survey n_h/(n_h-1)).
    # R equivalent: svyglm(who5 ~ factor(wave), subset(des, community_id=="anning" & wave %in% c(2014, 2017))).
    sub = scored[(scored.community_id == "anning") & scored.wave.isin([2014, 2017])].dropna(subset=["who5"])
    X = sm.add_constant((sub["wave"] == 2017).astype(float).to_numpy())
    fit = sm.WLS(sub["who5"].to_numpy(), X, weights=sub["base_weight"].to_numpy()).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(sub["psu"])[0], "use_correction": False})
    G = sub["psu"].nunique()
    se_reg = np.sqrt(fit.cov_params()[1, 1] * G / (G - 1))
    row = change.query("community_id == 'anning' and wave == 2017 and indicator == 'who5'").iloc[0]
    assert row["estimate"] == pytest.approx(fit.params[1], abs=1e-10)
    assert row["se"] == pytest.approx(se_reg, rel=1e-10)


def test_panel_covariance_is_used(scored, change):
    # Relabel PSUs per wave (as if new buildings were drawn every wave): the SE becomes
    # sqrt(se_2014^2 + se_2017^2). With re-interviewed households the true SE differs.
    indep = scored.assign(psu=scored["psu"] + "-" + scored["wave"].astype(str))
    d2 = SurveyDesign(indep, weight="base_weight", strata="stratum", psu="psu")
    m = d2.mean("participation_ladder", by=["community_id", "wave"]).set_index(["community_id", "wave"])["se"]
    alt = change_from_baseline(d2, "participation_ladder")
    row = alt.query("community_id == 'anning' and wave == 2017").iloc[0]
    assert row["se"] == pytest.approx(np.hypot(m["anning", 2017], m["anning", 2014]), rel=1e-10)
    panel = change.query("community_id == 'anning' and wave == 2017 and indicator == 'participation_ladder'")
    assert abs(panel["se"].iloc[0] - row["se"]) > 1e-6


def test_hedges_g_by_hand(scored, change):
    b = scored[(scored.community_id == "huimin") & (scored.wave == 2014)].dropna(subset=["who5"])
    t = scored[(scored.community_id == "huimin") & (scored.wave == 2016)].dropna(subset=["who5"])
    mb = np.average(b.who5, weights=b.base_weight)
    mt = np.average(t.who5, weights=t.base_weight)
    nb, nt = len(b), len(t)
    sd = np.sqrt(np.average((b.who5 - mb) ** 2, weights=b.base_weight) * nb / (nb - 1))
    J = 1 - 3 / (4 * (nb + nt) - 9)  # Hedges (1981)
    row = change.query("community_id == 'huimin' and wave == 2016 and indicator == 'who5'").iloc[0]
    assert row["hedges_g"] == pytest.approx(J * (mt - mb) / sd, rel=1e-10)


def test_benjamini_hochberg_within_community(change):
    for _, fam in change.groupby("community_id"):
        expected = multipletests(fam["p_value"], method="fdr_bh")[1]
        np.testing.assert_allclose(fam["p_adjusted"], expected, rtol=1e-12)
    assert (change["p_adjusted"] >= change["p_value"] - 1e-15).all()


def test_role_arguments_are_honoured(scored, design):
    # community= and wave= name other columns: same numbers, output columns named after them
    renamed = SurveyDesign(scored.rename(columns={"community_id": "comm", "wave": "year"}),
                           weight="base_weight", strata="stratum", psu="psu")
    c = change_from_baseline(renamed, "who5", community="comm", wave="year")
    assert list(c.columns[:2]) == ["comm", "year"]
    pd.testing.assert_frame_equal(c.rename(columns={"comm": "community_id", "year": "wave"}),
                                  change_from_baseline(design, "who5"))
    e = change_from_baseline(renamed, "who5", community="comm", wave="year", family=("comm", "indicator"))
    np.testing.assert_allclose(e["p_adjusted"], c["p_adjusted"], rtol=1e-12)  # one indicator: same families
    with pytest.raises(EstimationError, match="family="):
        change_from_baseline(renamed, "who5", community="comm", wave="year", family=("community_id",))
    with pytest.raises(EstimationError, match="wave='wave' is not a column"):
        change_from_baseline(renamed, "who5", community="comm")
