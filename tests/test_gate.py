"""Issue 16 item 2: one disclosure gate every published number passes (contract C5).

A community-year with three respondents is made from the shipped survey (mingyue 2016 cut to three
of its respondents). Its respondents must leave no trace in anything published: not their count,
not their means, not an effect resting on them, not a total from which they could be recovered by
subtraction, not the data of a figure. The gate is :func:`evalkit.publish.disclosure.gate_survey`
(applied to the data before anything is estimated), :func:`gate_table` (domain tables resting on
counts) and :func:`assert_publishable` (the last check on a rendered page).
"""
import functools
import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.errors import EvalkitError
from evalkit.publish.disclosure import (MIN_N, MIN_N_ENV, DisclosureError, Gated, assert_publishable,
                                        gate_published, gate_survey, gate_table)

from .test_disclosure import _recoverable

SMALL = ("mingyue", 2016)


@pytest.fixture(scope="module")
def shipped():
    return evalkit.datasets.dongying_survey()


@pytest.fixture(scope="module")
def three(shipped):
    """The shipped survey with mingyue 2016 cut to its first three respondents."""
    study, survey = shipped
    cell = survey.index[(survey["community_id"] == SMALL[0]) & (survey["wave"] == SMALL[1])]
    assert len(cell) >= MIN_N
    return study, survey.drop(cell[3:])


def _in_small(frame):
    return (frame["community_id"] == SMALL[0]) & (frame["wave"] == SMALL[1])


def test_gate_survey_withholds_the_three_respondents_and_nothing_else(three):
    study, survey = three
    gated = gate_survey(survey, study, min_n=10)
    assert isinstance(gated, Gated) and gated.min_n == 10
    assert not _in_small(gated.data).any()
    assert len(gated.data) == len(survey) - 3  # rows in = published + withheld
    pd.testing.assert_frame_equal(gated.data, survey[~_in_small(survey)])
    assert gated.data.attrs["withheld"] == [{"community_id": "mingyue", "wave": 2016, "n": "[c]"}]
    assert gated.data.attrs["disclosure"]["min_n"] == 10
    # the withheld list names the cell and shows the marker, never the count
    assert gated.withheld.to_dict("records") == [{"community_id": "mingyue", "wave": 2016, "n": "[c]"}]
    assert "3" not in gated.withheld.astype(str).to_string(index=False, header=False).replace("2016", "")
    assert "[c]" in gated.note("en") and "10" in gated.note("en") and "[c]" in gated.note("zh")
    with pytest.raises(AttributeError):
        gated.min_n = 1  # frozen


def test_the_threshold_is_min_n_itself_and_defaults_to_ten(shipped):
    study, survey = shipped
    cell = survey.index[_in_small(survey)]
    exactly = survey.drop(cell[10:])   # 10 respondents: published (the rule is n < min_n)
    assert _in_small(gate_survey(exactly, study).data).sum() == 10
    nine = survey.drop(cell[9:])
    assert MIN_N == 10 and not _in_small(gate_survey(nine, study).data).any()
    assert gate_survey(survey, study).withheld.empty and gate_survey(survey, study).note() == ""
    # a study-level threshold (studies that carry min_n) is used when min_n= is not given
    bigger = type("S", (), {"roles": study.roles, "min_n": 400})()
    assert len(gate_survey(survey, bigger).withheld) == survey.groupby(["community_id", "wave"]).ngroups


def test_no_total_or_mean_computed_after_the_gate_rests_on_the_cell(three, shipped):
    # every number derived from the gated data is the same as if the three had never answered:
    # the wave-2016 total and mean over all communities, and mingyue's total over all waves
    study, survey = three
    _, full = shipped
    never = full[~_in_small(full)]
    gated = gate_survey(survey, study, min_n=10).data
    for by in ("wave", "community_id"):
        pd.testing.assert_series_equal(gated.groupby(by).size(), never.groupby(by).size())
        pd.testing.assert_series_equal(gated.groupby(by)["who5"].mean(), never.groupby(by)["who5"].mean())
    assert len(gated) == len(never)


def test_gate_survey_uses_the_study_roles_and_refuses_bad_input(three):
    study, survey = three
    renamed = survey.rename(columns={"community_id": "shequ", "wave": "year"})
    roles = evalkit.Roles(community="shequ", wave="year")
    g = gate_survey(renamed, study.with_(roles=roles) if hasattr(study, "with_") else
                    type("S", (), {"roles": roles})(), min_n=10)
    assert len(g.data) == len(survey) - 3 and g.withheld.iloc[0].tolist() == ["mingyue", 2016, "[c]"]
    with pytest.raises(EvalkitError, match="no column 'community_id'"):
        gate_survey(renamed, min_n=10)
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(EvalkitError, match="min_n"):
            gate_survey(survey, study, min_n=bad)
    with pytest.raises(EvalkitError, match="DataFrame"):
        gate_survey(survey.to_dict(), study)


def test_missing_community_or_wave_form_their_own_cell(shipped):
    study, survey = shipped
    part = survey.iloc[:50].copy()
    part.loc[part.index[:2], "community_id"] = None
    g = gate_survey(part, study, min_n=2)
    assert len(g.data) == 50 and g.withheld.empty  # 2 rows with no community: a cell of 2, kept at min_n=2
    g = gate_survey(part, study, min_n=3)
    assert len(g.data) == 48 and g.withheld["community_id"].isna().all()


def test_gate_published_gates_only_when_asked(three, monkeypatch):
    study, survey = three
    monkeypatch.delenv(MIN_N_ENV, raising=False)
    assert gate_published(survey, study) is survey  # interactive use: every row
    monkeypatch.setenv(MIN_N_ENV, "10")              # inside build_report's kernels
    out = gate_published(survey, study)
    assert len(out) == len(survey) - 3 and out.attrs["withheld"] == [{"community_id": "mingyue", "wave": 2016,
                                                                       "n": "[c]"}]
    pd.concat([out, out.iloc[:2]])  # attrs that pandas can compare when frames are joined
    assert len(gate_published(survey, study, min_n=2)) == len(survey)
    monkeypatch.setenv(MIN_N_ENV, "ten")
    with pytest.raises(EvalkitError, match=MIN_N_ENV):
        gate_published(survey, study)


# --- gate_table ---------------------------------------------------------------------------------------
def _effects():
    return pd.DataFrame({
        "community_id": ["a", "b", "c", "d"],
        "target": ["who5"] * 4,
        "estimate": [0.10, 0.20, np.nan, 0.30],
        "ci_low": [0.0, 0.1, np.nan, 0.2],
        "n_base": [40, 4, pd.NA, 60],
        "n_wave": [45, 50, pd.NA, 9],
        "explanation": [None, None, "no_base_wave", None],
    }).astype({"n_base": "Int64", "n_wave": "Int64"})


def test_gate_table_blanks_rows_resting_on_a_small_count():
    t = _effects()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the report states it; no warning in notebooks
        out = gate_table(t, n=["n_base", "n_wave"], min_n=10)
    assert out.attrs["suppressed"] == (False, True, False, True)
    mask = pd.Series(out.attrs["suppressed"], index=out.index)  # b: 4 at base; d: 9 in the wave; c: nothing to hide
    assert out.loc[mask, ["estimate", "ci_low", "n_base", "n_wave"]].isna().all().all()
    pd.testing.assert_frame_equal(out.loc[~mask], t.loc[~mask])
    assert out["explanation"].tolist() == t["explanation"].tolist()
    assert out.attrs["suppression"] == {"min_n": 10, "marker": "[c]", "primary": 2, "complementary": 0}
    assert t["estimate"].notna().sum() == 3  # the input is not modified


def test_gate_table_complementary_suppression_along_dims():
    # a community x wave sample-size table with a published total row per wave: the small cell
    # (a, 2016) must not be recoverable from the total minus the others
    rng = np.random.default_rng(7)
    rows = [(c, w, int(rng.integers(20, 60))) for c in "abcd" for w in (2015, 2016, 2017)]
    t = pd.DataFrame(rows, columns=["community_id", "wave", "n"])
    t.loc[(t["community_id"] == "a") & (t["wave"] == 2016), "n"] = 3
    t["estimate"] = np.linspace(0.2, 0.8, len(t))
    out = gate_table(t, n="n", min_n=10, dims=["community_id", "wave"])
    mask = pd.Series(out.attrs["suppressed"], index=out.index)
    pd.concat([out, out])  # attrs that pandas can compare when frames are joined
    assert mask.sum() >= 4 and out.attrs["suppression"]["complementary"] >= 3
    assert out.loc[mask, "n"].isna().all() and out["n"].dtype == "Int64"
    assert _recoverable(t, out.assign(suppressed=np.where(mask, "x", "")), ["community_id", "wave"]) == []
    for d, other in (("community_id", "wave"), ("wave", "community_id")):
        assert not (mask.groupby(t[other]).sum() == 1).any()


def test_gate_table_errors():
    with pytest.raises(EvalkitError, match="not in the table"):
        gate_table(_effects(), n="n", min_n=10)
    with pytest.raises(EvalkitError, match="min_n"):
        gate_table(_effects(), n="n_base", min_n=0)


# --- assert_publishable --------------------------------------------------------------------------------
CLEAN = ('<html><head><meta http-equiv="Content-Security-Policy" content="script-src \'none\'">'
         '<style>td{color:#333}</style></head><body><h1>报告</h1>'
         '<img alt="fig" src="data:image/png;base64,iVBORw0KGgo=">'
         '<table><tr><th></th><th>n</th></tr><tr><td>a</td><td>300</td></tr><tr><td>b</td><td>[c]</td></tr></table>'
         '<p>javascript: is a word here; 2017 年 13 个社区</p></body></html>')


@pytest.mark.parametrize("bad, rule", [
    ("<script>alert(1)</script>", "<script> element"),
    ("<SCRIPT SRC=//x.js></SCRIPT>", "<script> element"),
    ('<img src=x onerror="alert(1)">', "onerror="),
    ('<svg onload=alert(1)>', "onload="),
    ('<a href="&#106;avascript:alert(1)">x</a>', "javascript: URL"),
    ('<a href=" java\tscript:alert(1)">x</a>', "javascript: URL"),
    ('<iframe src="data:text/html,<b>x</b>"></iframe>', "<iframe> element"),
    ('<div style="width: expression(alert(1))">x</div>', "style="),
    ('<style>body{background:url("javascript:alert(1)")}</style>', "<style> element"),
    ('<meta http-equiv="refresh" content="0;url=http://x">', "meta refresh"),
    ('<svg><animate attributeName="href" to="javascript:alert(1)"/></svg>', "animating"),
    ("<p>电话 138<b></b>1234<b></b>5678</p>", "phone"),
    ("<td>13812345678.0</td>", "phone"),
    ("<td>138&lt;b&gt;&lt;/b&gt;1234&lt;b&gt;&lt;/b&gt;5678</td>", "phone"),  # escaped split: a reader skips the tags
    ("<td>370502 19800101 1239</td>", "citizen_id"),
    ("<table><tr><th></th><th>n_wave</th></tr><tr><td>mingyue</td><td>3</td></tr></table>", "small_cell"),
    ("<table><tr><th>社区</th><th>回答人数</th></tr><tr><td>明月</td><td>3</td></tr></table>", "small_cell"),
    ("<table><tr><th>Community</th><th> Respondents </th></tr><tr><td>Mingyue</td><td>3</td></tr></table>",
     "small_cell"),  # the bureau report's headers
])
def test_assert_publishable_refuses_with_rule_and_shape(bad, rule):
    with pytest.raises(DisclosureError, match="report.html: refused") as err:
        assert_publishable(CLEAN.replace("</body>", bad + "</body>"), source="report.html", min_n=10)
    assert rule in str(err.value)
    assert "13812345678" not in str(err.value) and "1239" not in str(err.value)  # the shape, never the value
    assert isinstance(err.value, evalkit.EvalkitError)


def test_assert_publishable_passes_a_clean_page_and_skips_counts_without_min_n():
    assert_publishable(CLEAN, source="report.html", min_n=10)
    small = CLEAN.replace("<td>300</td>", "<td>3</td>")
    assert_publishable(small, source="report.html")
    with pytest.raises(DisclosureError, match="small_cell"):
        assert_publishable(small, source="report.html", min_n=10)


# --- the test: the bureau report with a three-respondent community-year ----------------------------
@pytest.fixture(scope="module")
def bureau():
    pytest.importorskip("evalkit.publish.bureau")
    from . import _bureau_builds

    return _bureau_builds


@pytest.mark.slow
def test_bureau_report_with_a_three_respondent_community_year_shows_no_trace(bureau):
    """Rebuild the bureau report with mingyue 2016 cut to three respondents: the page is byte for byte
    the report of a survey in which they never answered (no count, mean, effect, total or figure
    pixel rests on them), except one sentence saying that one community-year was withheld."""
    import html as html_mod

    from evalkit.publish.i18n import t

    three, spy3 = bureau.variant_report("three")
    never, _ = bureau.variant_report("never")
    note = html_mod.escape(t("withheld_note", "en", k=1, min_n=10))
    assert three.count(note) == 1 and note not in never
    assert three.replace(f"<p>{note}</p>\n", "", 1) == never  # every number, table and figure identical
    # what the figures and tables were drawn from: the summary of the gated survey
    (data, summary), = spy3
    assert not _in_small(data).any()
    trends = summary.trends[_in_small(summary.trends)]
    assert len(trends) and trends[["mean", "ci_low", "ci_high"]].isna().all().all()
    assert (trends["n"].fillna(0) == 0).all()
    effects = summary.effects[_in_small(summary.effects)]
    assert len(effects) and effects["estimate"].isna().all() and effects["n_wave"].fillna(0).eq(0).all()
    # their own means appear nowhere in the summary's trends (what the per-community charts draw)
    study, survey = bureau.survey_variant("three")
    theirs = survey[_in_small(survey)]
    for ind in trends["indicator"].unique():
        m = theirs[ind].mean()
        if pd.notna(m):
            assert not np.isclose(summary.trends["mean"].dropna(), m, rtol=0, atol=1e-9).any(), ind


@functools.lru_cache(maxsize=None)
def _appendix(kind: str, notebooks: tuple[str, ...] = ("03_community_profiles",)) -> str:
    """The notebook report (build_report) of a copy of the shipped data folder whose survey.csv is
    the variant `kind`, without its appendix (which cites the differing checksums and run times)."""
    import re
    import shutil
    import tempfile
    from pathlib import Path

    from evalkit.datasets import DONGYING
    from evalkit.publish.report import build_report

    tmp = Path(tempfile.mkdtemp(prefix="evalkit-appendix-"))
    data = tmp / "data"
    shutil.copytree(DONGYING, data, ignore=shutil.ignore_patterns("MANIFEST.sha256"))
    raw = pd.read_csv(data / "survey.csv", dtype=str, keep_default_na=False)
    cell = raw.index[(raw["community_id"] == SMALL[0]) & (raw["wave"] == str(SMALL[1]))]
    raw.drop(cell[3:] if kind == "three" else cell).to_csv(data / "survey.csv", index=False, lineterminator="\n")
    out = build_report(tmp / "out", progress=None, data_dir=data, study=evalkit.datasets.dongying(),
                       notebooks=list(notebooks))
    html = out[0].read_text(encoding="utf-8")
    html = re.sub(r'id="cell-id=[0-9a-f]+"', 'id="cell-id"', html)  # random ids of the cells added by render
    return re.split(r"<h1[^>]*>附录：数据与方法", html, maxsplit=1)[0]


@pytest.mark.slow
def test_appendix_notebooks_run_by_build_report_show_no_trace_of_a_three_respondent_cell(monkeypatch):
    """build_report (the technical appendix route: notebooks executed on a data folder) on the
    shipped data with mingyue 2016 cut to three respondents shows what it shows for a survey in
    which they never answered: the notebooks read the gated survey (dongying_survey gates when
    build_report sets $EVALKIT_MIN_N for their kernels), and no table shows a count under 10.
    Notebook 03 (the community profiles); 01 and 02 stop on a survey missing a community-wave
    (raking margins, a balanced-panel estimator) -- logged for their owners."""
    monkeypatch.delenv(MIN_N_ENV, raising=False)  # build_report itself must set it for the kernels
    three, never = _appendix("three"), _appendix("never")
    assert_publishable(three, source="the notebook report", min_n=10)
    assert three == never
