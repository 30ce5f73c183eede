"""The performance evaluation's problems and required fixes (问题与整改要求) in the bureau report.

Rendered from the stand-in summary of ``tests/bureau_fixture.py`` (three programme communities)
and the shipped service records' performance evaluation, so each test takes a second or two.
The expected texts and numbers are read off the performance evaluation itself (its ``outputs``,
``projects`` tables and :func:`evalkit.performance.findings.findings`), never typed in.
"""
from __future__ import annotations

import dataclasses
import html as _html
import re
import warnings

import pandas as pd
import pytest

from tests.bureau_fixture import fake_summary, small_study
from evalkit.publish.bureau import build_bureau_report, render_bureau_html
from evalkit.publish.bureau_findings import PAYMENT_KINDS, SURVEY_KINDS
from evalkit.publish.i18n import t

KEEP = ("anning", "xingsheng", "shengxing")  # meets every target / misses targets / underspends (records README)


@pytest.fixture(scope="module")
def setup():
    import evalkit.datasets as ds
    from evalkit.datasets.records import dongying_performance

    study = small_study(ds.dongying(), keep=KEEP)
    summary = fake_summary(study, seed=3)
    latest = summary.effects[summary.effects["wave"] == summary.effects["wave"].max()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pe = dongying_performance(effects=latest, n_draws=500)
    return study, summary, pe


def _clean(pe, cid):
    """The evaluation with nothing to fix for `cid`: records all valid, the grade certain, a cost
    per effect estimable (targets are met and budget on plan in the shipped records already)."""
    m = pe.metrics.copy()
    m.loc[(m["community_id"] == cid) & (m["metric"] == "records_valid_share"), "value"] = 1.0
    p = pe.projects.copy()
    p.loc[p["community_id"] == cid, "p_grade_differs"] = 0.01
    c = pe.costs.copy()
    c.loc[c["community_id"] == cid, "estimable"] = True
    return dataclasses.replace(pe, metrics=m, projects=p, costs=c)


def _page(html: str, k: int) -> str:
    """The k-th community page (1-based, registry order) of the report."""
    m = re.search(rf'<section class="community" id="c{k}">(.*?)</section>', html, re.S)
    assert m, f"no community page c{k}"
    return m.group(1)


def _items(page: str) -> list[str]:
    m = re.search(r'<ul class="findings">(.*?)</ul>', page, re.S)
    return [] if m is None else [_html.unescape(x) for x in re.findall(r"<li[^>]*>(.*?)</li>", m.group(1), re.S)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_each_page_lists_its_own_findings_with_the_evaluations_numbers(setup, lang):
    from evalkit.performance.findings import findings

    study, summary, pe = setup
    pe = _clean(pe, "anning")
    html = render_bureau_html(summary, study, lang=lang, performance=pe, synthetic=True)
    found = findings(pe)
    for k, cid in enumerate(KEEP, start=1):
        items = _items(_page(html, k))
        expected = found.loc[found["community_id"] == cid, f"text_{lang}"].tolist()
        if expected:
            assert items == expected, cid
        else:  # nothing to fix: one line saying so, and no finding of another project
            assert items == [t("findings_none", lang)], cid
    # the missed targets carry the evaluation's own achieved/due numbers, on the right page only
    missed = pe.outputs[(pe.outputs["community_id"] == "xingsheng") & ~pe.outputs["met"]]
    assert len(missed) >= 1
    xingsheng, anning = " ".join(_items(_page(html, 2))), " ".join(_items(_page(html, 1)))
    for o in missed.itertuples():
        assert f"{o.achieved:g}/{o.due:g}" in xingsheng or f"{o.achieved:g} of {o.due:g}" in xingsheng
        assert f"{o.achieved:g}/{o.due:g}" not in anning and f"{o.achieved:g} of {o.due:g}" not in anning
    rate = pe.projects.set_index("community_id").at["shengxing", "execution_rate"]
    assert f"{rate:.0%}" in " ".join(_items(_page(html, 3)))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_first_page_counts_the_projects_with_payment_findings(setup, lang):
    from evalkit.performance.findings import findings

    study, summary, pe = setup
    html = render_bureau_html(summary, study, lang=lang, performance=_clean(pe, "anning"))
    pay = findings(pe)
    pay = pay[pay["kind"].isin(PAYMENT_KINDS) & pay["community_id"].isin(KEEP)]
    line = re.search(r'<p class="payment" id="payment-findings">(.*?)</p>', html, re.S)
    assert line, "no payment line although projects missed targets"
    text = _html.unescape(line.group(1))
    names = {"zh": {"xingsheng": "兴盛社区", "shengxing": "胜兴社区", "anning": "安宁社区"},
             "en": {"xingsheng": "Xingsheng", "shengxing": "Shengxing", "anning": "Anning"}}[lang]
    assert set(pay["community_id"]) == {"xingsheng", "shengxing"}
    assert names["xingsheng"] in text and names["shengxing"] in text and names["anning"] not in text
    assert (f"{len(pay)}项" if lang == "zh" else f"{len(pay)} finding(s)") in text
    assert (f"2个项目" if lang == "zh" else "2 project(s)") in text
    # the line sits on the first page (before the first community page)
    assert html.index("payment-findings") < html.index('id="c1"')
    # no PerformanceEvaluation (a plain table): no findings block, no payment line
    plain = render_bureau_html(summary, study, lang=lang, performance=pe.projects)
    assert 'class="findings"' not in plain and "payment-findings" not in plain


def test_hostile_finding_text_and_project_name_are_escaped(setup, monkeypatch):
    import sys

    import evalkit.performance  # noqa: F401  (the package's name `findings` is the function)

    fmod = sys.modules["evalkit.performance.findings"]
    study, summary, pe = setup
    reg = study.registry.copy()
    bad_name = '<img src=x onerror="alert(1)">兴盛'
    reg.loc[reg["community_id"] == "xingsheng", ["name_zh", "name_pinyin"]] = bad_name
    hostile = study.with_(registry=reg)
    bad_text = '<script>alert("finding")</script>&amp; 未完成'
    frame = pd.DataFrame({"community_id": ["xingsheng"], "kind": ["missed_target"],
                          "text_zh": [bad_text], "text_en": [bad_text]})
    monkeypatch.setattr(fmod, "findings", lambda pe_, **kw: frame.copy())
    for lang in ("zh", "en"):
        html = render_bureau_html(summary, hostile, lang=lang, performance=pe)  # passes check_no_script
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(" in html and "&amp;amp; 未完成" in html   # shown, as text
        assert _items(_page(html, 2)) == [bad_text]
        line = re.search(r'<p class="payment" id="payment-findings">(.*?)</p>', html, re.S).group(1)
        assert "&lt;img src=x" in line


def test_withheld_survey_cells_leave_no_survey_based_finding(setup):
    """gate_survey's withheld list: a community with a withheld cell shows none of the findings that
    rest on survey cells (grade uncertainty, cost per effect), nor its cost per effect, score, grade
    or grade-flip probability; its records-based findings stay."""
    from evalkit.performance.findings import findings

    study, summary, pe = setup
    p = pe.projects.copy()
    p.loc[p["community_id"] == "anning", "p_grade_differs"] = 0.4321   # a grade_uncertain finding
    c = pe.costs.copy()
    c.loc[c["community_id"] == "anning", "estimable"] = False            # a cost_not_estimable finding
    pe = dataclasses.replace(pe, projects=p, costs=c)
    found = findings(pe)
    kinds = set(found.loc[found["community_id"] == "anning", "kind"])
    assert {"grade_uncertain", "cost_not_estimable"} <= kinds
    withheld = pd.DataFrame({"community_id": ["anning"], "wave": [2016], "n": ["[c]"]})
    for lang in ("zh", "en"):
        open_ = render_bureau_html(summary, study, lang=lang, performance=pe)
        shut = render_bureau_html(summary, study, lang=lang, performance=pe, withheld=withheld)
        assert "43%" in " ".join(_items(_page(open_, 1)))      # shown without the gate ...
        page = _page(shut, 1)
        items = _items(page)
        for kind in SURVEY_KINDS:                                # ... and not with it
            for text in found.loc[(found["community_id"] == "anning") & (found["kind"] == kind), f"text_{lang}"]:
                assert text not in items
        assert "43%" not in page and "43.2" not in page
        assert t("findings_withheld", lang) in items
        records = found.loc[(found["community_id"] == "anning") & (found["kind"] == "records"), f"text_{lang}"]
        assert set(records) <= set(items)
        perf = re.search(r'<table class="perf">(.*?)</table>', page, re.S).group(1)
        assert perf.count("[c]") == 3                             # score, grade, chance the grade differs
        assert t("costs_line", lang, items="").strip(" :：") not in page
        first_row = re.search(r'<tr>\s*<td class="c-name"[^>]*><a href="#c1">.*?</tr>', shut, re.S).group(0)
        assert "[c]" in first_row
        # the other pages keep their survey-based findings
        assert _items(_page(shut, 2)) == found.loc[found["community_id"] == "xingsheng", f"text_{lang}"].tolist()


def test_the_gates_own_withheld_list_reaches_the_findings(setup, tmp_path):
    """build_bureau_report takes the withheld cells from gate_survey: anning 2016 cut to three
    respondents withholds anning's survey-based findings."""
    import evalkit.datasets as ds

    study, summary, pe = setup
    _, survey = ds.dongying_survey()
    cell = survey.index[(survey["community_id"] == "anning") & (survey["wave"] == 2016)]
    p = pe.projects.copy()
    p.loc[p["community_id"] == "anning", "p_grade_differs"] = 0.4321
    pe = dataclasses.replace(pe, projects=p)
    path = build_bureau_report(survey.drop(cell[3:]), study, out_dir=tmp_path, lang="en", summary=summary,
                               performance=pe)[0]
    page = _page(path.read_text(encoding="utf-8"), 1)
    assert "43%" not in page and t("findings_withheld", "en") in _items(page)
