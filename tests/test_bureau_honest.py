"""The bureau report's parallel-trends sentences and its multiplicity statement.

Every number in a sentence is the evaluation summary's (``summary.honest``), formatted as the report
formats it; a community that cannot be checked gets the reason and no number; the "tests N
targets" sentence counts the Holm family that ``p_adjusted`` was computed over.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from evalkit import summarise
from evalkit.datasets import dongying_survey
from evalkit.evaluation.effect_terms import holm
from evalkit.publish import tables as tb
from evalkit.publish.bureau_context import Labels, family_size, sure_lines
from evalkit.publish.bureau_pages import honest_lines
from evalkit.publish.i18n import t


@pytest.fixture(scope="module")
def summary(shipped):
    study, survey = shipped
    return summarise(survey, study, reconcile=False)


def _part(summary, cid):
    head = summary.headline
    return head[head["community_id"] == cid].assign(_suppressed=False)


def _fmt_times(x):
    return tb.fmt_number(x, 1 if abs(x) >= 1 else 2)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_sentences_carry_the_summary_numbers(shipped, summary, lang):
    study, _ = shipped
    labels = Labels(study, lang)
    honest = summary.honest.set_index("community_id")
    checked = 0
    for cid in honest.index:
        lines = honest_lines(_part(summary, cid), summary.honest, labels)
        h = honest.loc[cid]
        first = _part(summary, cid).iloc[0]
        if isinstance(h["explanation"], str):
            assert lines == [t("honest_cannot", lang, why=t("honest_why_one_pre_wave", lang))]
            assert not re.search(r"\d", lines[0])  # no number for a community that cannot be checked
            continue
        checked += 1
        text = " ".join(lines)
        if np.isfinite(h["breakdown"]):
            assert _fmt_times(h["breakdown"]) in lines[0]
            assert lines[0] == t("honest_holds", lang, target=labels.target(first["indicator"], first.get("group")),
                                 x=_fmt_times(h["breakdown"]))
        else:  # the headline's interval includes 0: nothing to overturn
            assert first["ci_low"] <= 0 <= first["ci_high"]
            assert lines[0].startswith(t("honest_no_conclusion", lang, target="").split("“")[0][:10])
        for col in ("pretest_power_50", "pretest_power_80"):
            assert tb.fmt_effect(abs(h[col]), first["kind"], lang, sign=False) in text
        assert f"p = {tb.fmt_number(h['pretest_p'], 2)}" in text
    assert checked == 3  # the 2016 starters


def test_breakdown_column_is_the_frame_value(summary):
    head = summary.headline.set_index(["community_id", "target"])
    for r in summary.honest.itertuples():
        value = head.loc[(r.community_id, r.target), "breakdown_rm"]
        assert (np.isnan(value) and np.isnan(r.breakdown)) or value == r.breakdown
    assert summary.effects["breakdown_rm"].notna().sum() == summary.honest["breakdown"].notna().sum()


def test_breakdown_sits_where_the_robust_interval_reaches_zero(summary):
    """Just below the breakdown the robust interval excludes 0; at it, it includes 0 (C-LF, t df)."""
    from evalkit.did.honest import sensitivity
    from evalkit.evaluation.honest_summary import headline_event_study

    study, survey = dongying_survey()
    es = {e.community_id: e for e in headline_event_study(survey, study)}
    for r in summary.honest.dropna(subset=["breakdown"]).itertuples():
        e = es[r.community_id]
        res = sensitivity(e.betahat, e.sigma, e.num_pre, e.num_post, restriction="relative_magnitude",
                          l_vec=e.l_vec, df=e.df, bounds=[0.98 * r.breakdown, 1.001 * r.breakdown])
        lo, hi = res.ci_low, res.ci_high
        assert lo[0] > 0 or hi[0] < 0
        assert lo[1] <= 0 <= hi[1]
        assert float(res.original["estimate"].iloc[0]) == pytest.approx(r.estimate, abs=1e-12)


def test_withheld_first_target_gets_no_sentence(shipped, summary):
    study, _ = shipped
    part = _part(summary, "shengxing")
    part.loc[part.index[0], "_suppressed"] = True
    assert honest_lines(part, summary.honest, Labels(study, "en")) == []
    assert honest_lines(_part(summary, "shengxing"), pd.DataFrame(), Labels(study, "en")) == []


def test_multiplicity_sentence_counts_the_holm_family(shipped, summary):
    study, _ = shipped
    eff = summary.effects
    latest = eff["wave"].max()
    family = eff[(eff["wave"] == latest) & eff["p_value"].notna()]
    assert family_size(summary) == len(family) == summary.headline["estimate"].notna().sum()
    np.testing.assert_allclose(family["p_adjusted"], holm(family["p_value"].to_numpy()), rtol=0, atol=1e-15)
    for lang in ("zh", "en"):
        first = sure_lines(summary, Labels(study, lang), 0.95)[0]
        assert first == t("sure_1", lang, n_tests=len(family), method=t("method_holm", lang))
        assert str(len(family)) in first and "Holm" in first


def test_built_report_states_them():
    """The built report (English) carries each checked community's sentence with the summary's numbers
    and the reason for every community that cannot be checked."""
    import html as html_mod

    from tests._bureau_builds import variant_report

    page, spy = variant_report("three", "en")
    text = html_mod.unescape(re.sub(r"<[^>]+>", " ", page))
    honest = spy[0][1].honest
    for r in honest.itertuples():
        if isinstance(r.explanation, str):
            continue
        if np.isfinite(r.breakdown):
            assert f"exceeds {_fmt_times(r.breakdown)} times the largest seen before it" in text
        assert f"The pre-test (p = {tb.fmt_number(r.pretest_p, 2)})" in text
    assert text.count("Sensitivity to parallel trends: cannot be checked") == honest["explanation"].notna().sum()


def test_small_pre_programme_cell_gives_the_reason_not_a_number(shipped):
    """Shengxing's 2014 cell cut to 3 respondents (min_n 10): its headline (2015 -> 2017) still has an
    estimate, but the event study cannot be written, so the report says why and shows no number."""
    study, survey = shipped
    cell = survey.index[(survey["community_id"] == "shengxing") & (survey["wave"] == 2014)]
    s = summarise(survey.drop(cell[3:]), study, reconcile=False, min_n=10)
    row = s.honest.set_index("community_id").loc["shengxing"]
    assert row["explanation"] == "no_pre_cells" and np.isnan(row["breakdown"]) and np.isnan(row["pretest_p"])
    assert np.isfinite(s.headline.set_index(["community_id", "target"]).loc[("shengxing", "selforg_member"), "estimate"])
    part = s.headline[s.headline["community_id"] == "shengxing"].assign(_suppressed=False)
    for lang in ("zh", "en"):
        lines = honest_lines(part, s.honest, Labels(study, lang))
        assert lines == [t("honest_cannot", lang, why=t("honest_why_no_pre_cells", lang))]
        assert not re.search(r"\d", lines[0])
