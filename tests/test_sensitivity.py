"""Sensitivity checks: leave-one-community-out and the mixed model."""
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.evaluation.impact import community_panel, programme_effect
from evalkit.evaluation.sensitivity import LOO_COLUMNS, MIXED_COLUMNS, leave_one_out, mixed_model
from evalkit.results import check_vocabulary
from evalkit.spec.study import Roles, Study


@pytest.fixture(scope="module")
def design(survey, codebook):
    return evalkit.SurveyDesign(evalkit.score(survey, codebook), weight="base_weight", strata="stratum", psu="psu")


def test_leave_one_out_rows_are_exact_programme_effects_without_that_community(design, codebook, registry):
    start = time.perf_counter()
    with pytest.warns(evalkit.FewClustersWarning):
        loo = leave_one_out(design, "selforg_member", study=Study(codebook, registry))
    seconds = time.perf_counter() - start
    assert loo["left_out"].iloc[0] == "(none)" and len(loo) == 15
    assert list(check_vocabulary(loo).columns) == LOO_COLUMNS
    # exact by default: 14!/(4!3!7!) = 120,120 assignments with all communities, fewer without one
    assert loo["exact"].all() and loo["n_assignments"].iloc[0] == 120_120
    assert seconds < 60, f"{seconds:.1f} s"  # measured about 0.4 s per refit
    panel = community_panel(design, "selforg_member")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = programme_effect(panel, "selforg_member", registry=registry)
        heping = programme_effect(panel.drop(index="heping"), "selforg_member", registry=registry)
    assert loo["estimate"].iloc[0] == pytest.approx(full.simple, abs=1e-12)
    row = loo.set_index("left_out").loc["heping"]
    assert (row["estimate"], row["p_value"], row["ci_low"], row["ci_high"]) == (
        heping.simple, heping.p_value, *heping.ci)
    assert row["left_out_role"] == "programme" and row["n_assignments"] == heping.n_assignments
    assert row["change"] == pytest.approx(heping.simple - full.simple, abs=1e-12)
    assert loo.set_index("left_out").loc["wenyuan", "left_out_role"] == "comparison"


def test_leave_one_out_needs_start_years(design):
    with pytest.raises(evalkit.EvalkitError, match="leave_one_out needs the programme start years"):
        leave_one_out(design, "selforg_member")


def _planted(community="community_id", unit="respondent_id", wave="wave"):
    # 12 communities (6 start in 2016), 40 respondents each, 3 waves; community SD 0.5,
    # respondent SD 0.8, residual SD 1, effect 0.6.
    rng = np.random.default_rng(11)
    rows = []
    starts = {f"k{i:02d}": (2016 if i < 6 else None) for i in range(12)}
    for c, g in starts.items():
        a = rng.normal(0, 0.5)
        for r in range(40):
            u = rng.normal(0, 0.8)
            for t in (2015, 2016, 2017):
                eff = 0.6 if g and t >= g else 0.0
                rows.append({community: c, unit: f"{c}-{r}", wave: t,
                             "y": 1 + a + u + 0.1 * (t - 2015) + eff + rng.normal(0, 1)})
    return pd.DataFrame(rows), starts


def test_mixed_model_recovers_a_planted_effect():
    data, starts = _planted()
    out = mixed_model(data, "y", registry=starts)
    row = out.iloc[0]
    assert abs(row["estimate"] - 0.6) < 3 * row["se"]
    assert row["n_communities"] == 12 and row["n_respondents"] == 480
    assert 0.3 < np.sqrt(row["var_respondent"]) < 1.3
    assert list(check_vocabulary(out).columns) == MIXED_COLUMNS
    assert row["df"] == np.inf and row["statistic"] == pytest.approx(row["estimate"] / row["se"], rel=1e-12)
    assert row["ci_high"] - row["estimate"] == pytest.approx(1.959963984540054 * row["se"], rel=1e-12)


def test_mixed_model_takes_columns_and_start_years_from_the_study(codebook):
    data, starts = _planted()
    own, _ = _planted("社区", "受访者", "年份")
    registry = pd.DataFrame({"community_id": list(starts), "start_year": [g or np.nan for g in starts.values()]})
    study = Study(codebook, registry, Roles(community="社区", unit="受访者", wave="年份"))
    a = mixed_model(own, "y", study=study, level=0.9)
    b = mixed_model(data, "y", registry=starts, level=0.9)
    pd.testing.assert_frame_equal(a, b)


def test_mixed_model_errors():
    with pytest.raises(evalkit.EstimationError, match="not in the data"):
        mixed_model(pd.DataFrame({"y": [1.0]}), "y", registry={})
    with pytest.raises(evalkit.EvalkitError, match="mixed_model needs the programme start years"):
        mixed_model(pd.DataFrame({"y": [1.0]}), "y")
