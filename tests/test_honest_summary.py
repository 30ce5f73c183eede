"""The headlines as event studies and their parallel-trends sensitivity (evaluation/honest_summary.py).

Consistency tests (several routes to one number): the event study's last entry is the summary's
headline (estimate and se), its placebo entry is ``community_effects``' e = -2 row; the covariance is
checked against an explicit computation; communities that cannot be checked get the reason.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit import community_effects, summarise
from evalkit.errors import ShockVarianceWarning
from evalkit.evaluation.honest_summary import HONEST_COLUMNS, attach_breakdown, headline_event_study
from evalkit.evaluation.impact import _design
from evalkit.evaluation.summary_notes import HONEST_EXPLANATIONS


@pytest.fixture(scope="module")
def studies(shipped):
    study, survey = shipped
    return {es.community_id: es for es in headline_event_study(survey, study)}


@pytest.fixture(scope="module")
def plain_summary(shipped):
    study, survey = shipped
    return summarise(survey, study, reconcile=False, honest=False)


def _starts(study):
    reg = study.registry
    return {str(c): s for c, s in zip(reg["community_id"], reg["start_year"]) if pd.notna(s)}


def test_only_communities_with_a_pre_programme_change_are_checked(shipped, studies):
    study, _ = shipped
    for cid, start in _starts(study).items():
        es = studies[cid]
        if int(start) == 2015:  # 2014 is the base wave itself: nothing before it to compare
            assert es.why == "one_pre_wave" and es.betahat.size == 0 and es.facts["base"] == 2014
        else:
            assert es.why is None
            assert list(es.event_times) == [-2, 0, 1] and (es.num_pre, es.num_post) == (1, 2)
            assert list(es.l_vec) == [0.0, 1.0]


def test_last_entry_is_the_headline(studies, plain_summary):
    head = plain_summary.headline.set_index(["community_id", "target"])
    checked = [es for es in studies.values() if es.why is None]
    assert len(checked) == 3
    for es in checked:
        row = head.loc[(es.community_id, es.target)]
        assert es.wave == row["wave"]
        assert es.betahat[-1] == pytest.approx(row["estimate"], abs=1e-12)
        assert np.sqrt(es.sigma[-1, -1]) == pytest.approx(row["se"], rel=1e-10)
        assert es.df == pytest.approx(row["df"], rel=1e-12)


def test_every_entry_is_community_effects_row(shipped, studies):
    """Placebo (e = -2) and effects (e = 0, 1): estimate and se of community_effects (base g - 1)."""
    study, survey = shipped
    design = _design(survey, study, "test")
    for es in (e for e in studies.values() if e.why is None):
        ind = es.target.split("@")[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ShockVarianceWarning)  # gap 3 of selforg_member: expected here
            ce = community_effects(design, ind, registry=study.registry)
        ce = ce[ce["community_id"] == es.community_id].set_index("event_time")
        for e, b, v in zip(es.event_times, es.betahat, np.diag(es.sigma)):
            assert b == pytest.approx(ce.loc[e, "estimate"], abs=1e-10)
            assert np.sqrt(v) == pytest.approx(ce.loc[e, "se"], rel=1e-8)


def test_covariance_is_psd_and_its_sampling_part_is_explicit(shipped, studies):
    """sigma - shock part = C V C' written with explicit cell positions (no helper of the module)."""
    from evalkit.evaluation.summary import _community_dof, _Target, target_group

    study, survey = shipped
    es = studies["xingsheng"]
    assert np.linalg.eigvalsh(es.sigma).min() > -1e-12
    assert np.allclose(es.sigma, es.sigma.T)
    design = _design(survey, study, "test")
    controls = [c for c in study.registry["community_id"] if c not in _starts(study)]
    ind = es.target.split("@")[0]
    grp = target_group(ind, None, study.codebook)
    tgt = _Target(design, survey, ind, grp, study.codebook, "community_id", "wave", controls,
                  _community_dof(design, "community_id"), True)
    pos, V = tgt.ch.pos, tgt.V
    C = np.zeros((3, len(tgt.ch.est)))
    for i, t in enumerate((2014.0, 2016.0, 2017.0)):
        C[i, pos[("xingsheng", t)]] += 1
        C[i, pos[("xingsheng", 2015.0)]] -= 1
        for k in controls:
            C[i, pos[(k, t)]] -= 1 / len(controls)
            C[i, pos[(k, 2015.0)]] += 1 / len(controls)
    sampling = C @ V @ C.T
    shock = es.sigma - sampling
    assert np.all(np.diag(shock) >= 0)
    # the variogram identity: cov(e=0, e=1) shock part = (1 + 1/K)(g(1) + g(2) - g(1)) / 2 = (1 + 1/K) g(2) / 2
    K = len(controls)
    g1, g2 = shock[1, 1] / (1 + 1 / K), shock[2, 2] / (1 + 1 / K)
    got = tgt.shock.get(1.0)
    if np.linalg.eigvalsh(es.sigma - sampling).min() > 1e-12 and got is not None and got[0] > 0:
        assert shock[1, 2] == pytest.approx((1 + 1 / K) * (g1 + g2 - got[0]) / 2, rel=1e-8)


def test_reason_texts_exist_in_both_languages(studies):
    for es in studies.values():
        if es.why is not None:
            zh, en = HONEST_EXPLANATIONS[es.why]
            assert zh.format(**es.facts) and en.format(**es.facts)
            assert "2015" in en.format(**es.facts) and "2014" in en.format(**es.facts)


def test_attach_breakdown_only_on_checked_headline_rows(plain_summary):
    head = plain_summary.headline
    honest = pd.DataFrame({c: [None] for c in HONEST_COLUMNS})
    row = head.iloc[2]
    honest.loc[0, ["community_id", "target", "wave", "breakdown"]] = [row["community_id"], row["target"],
                                                                      float(row["wave"]), 1.25]
    out = attach_breakdown(plain_summary.effects, honest)
    hit = (out["community_id"] == row["community_id"]) & (out["target"] == row["target"]) & (out["wave"] == row["wave"])
    assert hit.sum() == 1 and out.loc[hit, "breakdown_rm"].iloc[0] == 1.25
    assert out.loc[~hit, "breakdown_rm"].isna().all()
    assert len(out) == len(plain_summary.effects)


def test_summary_and_standalone_routes_agree(shipped):
    """summarise's own cell means and sensitivity_of_headlines(survey, study) give the same frame."""
    from evalkit.evaluation.honest_summary import sensitivity_of_headlines

    study, survey = shipped
    via_summary = summarise(survey, study, reconcile=False).honest
    alone = sensitivity_of_headlines(survey, study)
    pd.testing.assert_frame_equal(via_summary, alone)
    assert list(alone.columns) == HONEST_COLUMNS


def test_a_sensitivity_that_cannot_be_computed_is_explained_not_faked(studies):
    """A covariance that is not positive semi-definite: HonestDiD's input check refuses it, and the
    row says so (explanation not_computable with the reason) instead of stopping the summary."""
    from evalkit.evaluation.honest_events import sensitivity_frame

    es = studies["shengxing"]
    bad = es._replace(sigma=-np.eye(3))
    out = sensitivity_frame([bad, es])
    assert out.loc[0, "explanation"] == "not_computable" and np.isnan(out.loc[0, "breakdown"])
    assert "sigma" in out.loc[0, "explanation_en"]
    assert out.loc[1, "explanation"] is None and np.isfinite(out.loc[1, "breakdown"])


def test_pretest_power_trend_is_zero_at_the_base_wave(studies):
    """Biennial waves (event times -4, [base -2], 0, 2): the linear trend is slope * (t - base), so the
    slope detected half the time is the one whose noncentrality d' S^-1 d (d = t - base over the
    pre-periods) gives the Wald test 50% power — computed here from scipy's noncentral chi-square."""
    from scipy import optimize, stats

    from evalkit.evaluation.honest_events import _pretest

    es = studies["shengxing"]
    biennial = es._replace(event_times=np.array([-4, 0, 2]), facts={**es.facts, "base_time": -2.0})
    _, s50, _, _, _ = _pretest(biennial, 0.95)
    d = np.array([-4.0 - (-2.0)])
    q = float(d @ np.linalg.solve(es.sigma[:1, :1], d))
    crit = stats.chi2.ppf(0.95, 1)
    want = optimize.brentq(lambda s: stats.ncx2.sf(crit, 1, s * s * q) - 0.5, 1e-9, 10.0)
    assert s50 == pytest.approx(want, rel=1e-6)
