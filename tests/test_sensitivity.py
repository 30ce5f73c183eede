"""Sensitivity checks: leave-one-community-out and the mixed model."""
import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.evaluation.impact import community_panel, programme_effect
from evalkit.evaluation.sensitivity import leave_one_out, mixed_model


@pytest.fixture(scope="module")
def design(survey, codebook):
    return evalkit.SurveyDesign(evalkit.score(survey, codebook), weight="base_weight", strata="stratum", psu="psu")


def test_leave_one_out_rows_are_programme_effects_without_that_community(design, registry):
    with pytest.warns(evalkit.FewClustersWarning):
        loo = leave_one_out(design, "selforg_member", n_perm=199)
    assert loo["left_out"].iloc[0] == "(none)" and len(loo) == 15
    panel = community_panel(design, "selforg_member")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = programme_effect(panel, "selforg_member", n_perm=199)
        heping = programme_effect(panel.drop(index="heping"), "selforg_member", n_perm=199)
    assert loo["estimate"].iloc[0] == pytest.approx(full.simple, abs=1e-12)
    row = loo.set_index("left_out").loc["heping"]
    assert row["estimate"] == pytest.approx(heping.simple, abs=1e-12)
    assert row["left_out_role"] == "programme"
    assert row["change"] == pytest.approx(heping.simple - full.simple, abs=1e-12)


def test_mixed_model_recovers_a_planted_effect():
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
                rows.append({"community_id": c, "respondent_id": f"{c}-{r}", "wave": t,
                             "y": 1 + a + u + 0.1 * (t - 2015) + eff + rng.normal(0, 1)})
    out = mixed_model(pd.DataFrame(rows), "y", registry=starts)
    row = out.iloc[0]
    assert abs(row["estimate"] - 0.6) < 3 * row["se"]
    assert row["n_communities"] == 12 and row["n_respondents"] == 480
    assert 0.3 < np.sqrt(row["var_respondent"]) < 1.3
    assert list(out.columns) == evalkit.evaluation.sensitivity.MIXED_COLUMNS


def test_mixed_model_errors():
    with pytest.raises(evalkit.EstimationError, match="not in the data"):
        mixed_model(pd.DataFrame({"y": [1.0]}), "y", registry={})
