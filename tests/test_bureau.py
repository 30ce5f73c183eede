"""The bureau report (issue 12, contract C6): rendered in headless Chromium and checked as a reader sees it.

How positions are measured without a DevTools client: the written report forbids scripts (its
Content-Security-Policy and ``check_no_script``), so the test renders a *copy* of it in which the
CSP meta is removed and one measuring script is appended; Chromium (``--window-size=1400,900
--dump-dom``) lays the page out at 1400 px and the script writes the banner's and the summary
table's boxes, the visible text (``innerText``) and every image's alt text into the DOM it dumps.
The PDF is the report printed by :func:`evalkit.publish.pdf.print_pdf` and is read with poppler's
``pdfinfo`` / ``pdftotext``. The browser tests are skipped, saying why, only when chromium is absent.
"""
from __future__ import annotations

import html as _html
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import EvalkitError
from evalkit.publish import tables as tb
from evalkit.publish.bureau import MIN_N, build_bureau_report, render_bureau_html
from evalkit.publish.pdf import find_chromium
from tests.bureau_fixture import fake_summary, small_study

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or shutil.which("pdftotext") is None,
    reason="headless chromium and poppler-utils are not installed (apt-get install chromium poppler-utils; CI has both)")

_MEASURE = """<script>
(function () {
  function box(e) { if (!e) return null; var b = e.getBoundingClientRect();
    return {top: b.top + window.scrollY, bottom: b.bottom + window.scrollY, left: b.left, right: b.right}; }
  var out = {banner: box(document.getElementById('synthetic-banner')),
             table: box(document.getElementById('summary-table')),
             rows: document.querySelectorAll('#summary-table tbody tr').length,
             viewport: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
             text: document.body.innerText,
             alts: Array.prototype.map.call(document.images, function (i) { return i.getAttribute('alt') || ''; })};
  var pre = document.createElement('pre'); pre.id = 'evalkit-measure'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def _measure(path, tmp_path, width=1400, height=900) -> dict:
    page = path.read_text(encoding="utf-8")
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    copy = tmp_path / f"measure_{path.stem}_{width}.html"
    copy.write_text(page.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--window-size={width},{height}", "--virtual-time-budget=5000", "--dump-dom",
                           copy.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="evalkit-measure">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"chromium dumped no measurement: {proc.stderr[-500:]}"
    return json.loads(_html.unescape(m.group(1)))


@pytest.fixture(scope="module")
def shipped():
    import evalkit.datasets as ds

    return ds.dongying_survey()


@pytest.fixture(scope="module")
def small():
    """Three programme communities of the shipped study: the quick rendering tests use it."""
    import evalkit.datasets as ds

    return small_study(ds.dongying())


@pytest.fixture(scope="module")
def reports(shipped, tmp_path_factory):
    """The shipped example's bureau report in zh (with its PDF when chromium exists) and en,
    from one evaluation summary of the gated survey."""
    from evalkit.evaluation.summary import summarise
    from evalkit.publish.disclosure import gate_survey

    study, survey = shipped
    out = tmp_path_factory.mktemp("bureau")
    summary = summarise(gate_survey(survey, study, min_n=MIN_N).data, study, seed=study.seed, min_n=MIN_N)
    zh = build_bureau_report(survey, study, out_dir=out, lang="zh", synthetic=True, summary=summary,
                             pdf=CHROMIUM is not None)
    en = build_bureau_report(survey, study, out_dir=out, lang="en", synthetic=True, summary=summary)
    return {"zh": zh, "en": en, "study": study, "summary": summary}


def _codes(study, summary) -> set[str]:
    """Every code a reader must never see: variables, scales, groups, community ids, targets,
    the summary's column names."""
    cb = study.codebook
    codes = set(cb.variables) | set(cb.scales) | set(cb.groups) | set(summary.effects.columns)
    codes |= set(study.registry["community_id"].astype(str))
    for spec in study.registry["target_indicators"].dropna():
        codes |= {p.strip() for p in str(spec).split(";")}
    return {c for c in codes if len(c) >= 3}


def _leaks(text: str, codes, *, english: bool) -> list[str]:
    found = []
    for code in codes:
        if english and "_" not in code and "@" not in code and not re.search(r"\d", code):
            continue  # an ordinary English word ("adults", "elderly") may be English prose
        if re.search(rf"(?<![A-Za-z0-9_@]){re.escape(code)}(?![A-Za-z0-9_@])", text):
            found.append(code)
    return sorted(found)


_RAW = re.compile(r"(?<![A-Za-z])(nan|NaN|inf|Inf|True|False|None|NaT)(?![A-Za-z])|<NA>|\d[eE][+-]?\d")


@needs_chromium
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_first_screen_and_visible_text(reports, lang, tmp_path):
    study = reports["study"]
    html_path = reports[lang][0]
    m = _measure(html_path, tmp_path)
    assert m["viewport"] == 1400
    n_programme = int((study.registry["role"] == "programme").sum())
    assert m["rows"] == n_programme == 7
    assert m["banner"] is not None and m["banner"]["bottom"] <= 900, m["banner"]
    assert m["table"]["bottom"] <= 900, f"the summary table ends at {m['table']['bottom']:.0f} px"
    assert m["scrollWidth"] <= 1400  # nothing wider than the screen
    text = m["text"]
    assert "模拟" in text if lang == "zh" else "synthetic" in text
    assert not _RAW.findall(text), sorted(set(_RAW.findall(text)))[:5]
    assert _leaks(text, _codes(study, reports["summary"]), english=lang == "en") == []
    assert m["alts"] and all(a.strip() for a in m["alts"])


@needs_chromium
def test_chinese_report_has_no_english_sentence(reports, tmp_path):
    study = reports["study"]
    text = _measure(reports["zh"][0], tmp_path)["text"]
    names = set(study.registry["name_pinyin"].astype(str))
    # proper names and units allowed: pinyin, authors cited in the methods, scale acronyms (WHO-5, UCLA)
    runs = re.findall(r"[A-Za-z][A-Za-z'’-]*(?:[ ,]+[A-Za-z][A-Za-z'’-]*){2,}", text)
    english = [r for r in runs if not set(re.findall(r"[A-Za-z]+", r)) <= names | {"evalkit"}]
    assert english == []


@needs_chromium
def test_phone_layout_fits_the_screen(reports, tmp_path):
    m = _measure(reports["zh"][0], tmp_path, width=390, height=844)
    # headless Chromium lays out at least 500 px wide; that is inside the phone layout (< 700 px)
    assert m["viewport"] < 700
    assert m["scrollWidth"] <= m["viewport"]  # no sideways scrolling


@needs_chromium
def test_pdf_is_at_most_12_a4_pages_with_no_table_cut_off(reports):
    html_path, pdf = reports["zh"]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 1 <= pages <= 12
    assert "(A4)" in info
    width = float(re.search(r"Page size:\s+([\d.]+)", info).group(1))
    # every word lies inside the page (a table wider than the page would run past its edge)
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True).stdout
    x_max = [float(x) for x in re.findall(r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)"', bbox)]
    assert x_max and max(x_max) <= width
    # every table's headers and its last column (the right edge a cut would lose) are printed
    printed = re.sub(r"\s+", "", subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout)
    page = html_path.read_text(encoding="utf-8")
    for table in re.findall(r"<table.*?</table>", page, re.S):
        cells = re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)
        cells += [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[-1]
                  for row in re.findall(r"<tr>(.*?)</tr>", table, re.S) if "<td" in row]
        for cell in cells:  # each piece of text of the cell (a cell may hold a list, laid out in a grid)
            for piece in re.split(r"<[^>]+>", cell):
                text = re.sub(r"\s+", "", _html.unescape(piece))
                assert text in printed, f"table cell text {text!r} is not in the printed PDF"


def test_build_time_and_page_size(reports):
    """The shipped report is self-contained and not the concatenated notebooks."""
    page = reports["zh"][0].read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page and "Content-Security-Policy" in page and "script-src 'none'" in page
    assert "个百分点" in page and "nbconvert" not in page
    assert '<html lang="en">' in reports["en"][0].read_text(encoding="utf-8")


# --- rendering from a stand-in summary (no browser, fast) ----------------------------------------
def _quick(summary):
    """The summary without trends: pages without figures render in well under a second."""
    from dataclasses import replace

    return replace(summary, trends=summary.trends.iloc[0:0])


def test_strings_from_the_registry_and_codebook_are_escaped(small):
    reg = small.registry.copy()
    reg.loc[reg["community_id"] == "mingyue", "name_zh"] = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    reg.loc[reg["community_id"] == "anning", "programme_zh"] = "\n# 结论：所有项目均无效 <b onclick=x>"
    hostile = small.with_(registry=reg)
    html = render_bureau_html(fake_summary(hostile), hostile, lang="zh", synthetic=True)
    assert "<script>alert" not in html and "<img src=x" not in html and "<b onclick" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def _section(html: str, name: str) -> str:
    start = html.index(f"<h2>{name}<span")
    return html[start:html.index("</section>", start)]


def test_small_cells_show_c_with_a_note(small):
    summary = _quick(fake_summary(small))
    summary.headline.loc[summary.headline["community_id"] == "heping", "n_wave"] = MIN_N - 3
    html = render_bureau_html(summary, small, lang="zh")
    page = _section(html, "和平社区")
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    assert "[c]" in body and f"少于{MIN_N}人" in page
    assert f">{MIN_N - 3}<" not in body  # the small count itself is not shown
    first = html[html.index('id="summary-table"'):html.index("</table>")]
    heping = first[first.index("和平社区"):]
    heping = heping[:heping.index("</tr>")]
    assert "样本过少" in heping and "个百分点" not in heping  # no effect shown for the small cell


def test_rows_without_estimate_say_why(small):
    summary = _quick(fake_summary(small, explain={("mingyue", "care_access"): "not_measured: the survey lacks it"}))
    html = render_bureau_html(summary, small, lang="en")
    assert "did not measure" in html and "the survey lacks it" not in html


def test_performance_columns_only_when_given(small):
    summary = _quick(fake_summary(small))
    assert "Cost per beneficiary" not in render_bureau_html(summary, small, lang="en")
    perf = pd.DataFrame({"community_id": ["anning", "mingyue"], "budget": [200000.0, 180000.0],
                         "spent": [190000.0, 120000.0], "cost_per_beneficiary": [412.4, np.nan],
                         "score": [91.25, 78.0], "grade": ["优", "中"], "p_grade_differs": [0.31, 0.05]})
    html = render_bureau_html(summary, small, lang="en", performance=perf)
    assert "Cost per beneficiary" in html and "412" in html and "91.2 (excellent)" in html and "31.0%" in html
    assert "优" not in html  # grades in the report's language


def test_bad_language_is_an_error(small):
    with pytest.raises(EvalkitError, match="lang"):
        render_bureau_html(_quick(fake_summary(small)), small, lang="fr")


# --- numbers for people -----------------------------------------------------------------------------
@pytest.mark.parametrize("value,kind,lang,expected", [
    (0.155, "proportion", "zh", "+15.5个百分点"),
    (-0.0312, "proportion", "en", "−3.1 percentage points"),
    (-1.034, "mean", "zh", "−1.03分"),
    (12.345, "mean", "en", "+12.3 points"),
    (float("nan"), "mean", "zh", "—"),
    (float("inf"), "proportion", "zh", "—"),
    (-0.0004, "proportion", "zh", "0.0个百分点"),
])
def test_effects_in_plain_units(value, kind, lang, expected):
    assert tb.fmt_effect(value, kind, lang) == expected


def test_cells_refuse_raw_values():
    for bad in ("nan", "inf", "True", "<NA>", "2.550e-01", "(1, 2)"):
        with pytest.raises(EvalkitError, match="not formatted for people"):
            tb.check_cell(bad, "t")
    assert tb.fmt_people(1437.2) == "1,440" and tb.fmt_pct(0.1234) == "12.3%"
    assert tb.fmt_interval(-0.05, 0.2, "proportion", "zh") == "95%区间 −5.0 至 +20.0个百分点"


def test_pdf_without_chromium_names_the_package(monkeypatch, tmp_path):
    from evalkit.publish import pdf

    monkeypatch.setattr(pdf, "find_chromium", lambda: None)
    (tmp_path / "r.html").write_text("<p>x</p>", encoding="utf-8")
    with pytest.raises(EvalkitError, match="chromium"):
        pdf.print_pdf(tmp_path / "r.html", tmp_path / "r.pdf")


# --- the command line ---------------------------------------------------------------------------------
def test_cli_refuses_the_appendix_for_an_own_study(tmp_path, capsys):
    from evalkit.cli import main

    assert main(["report", "--study", str(tmp_path), "--appendix", "--out", str(tmp_path / "out")]) == 2
    assert "--appendix" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_cli_without_study_yaml_names_the_remedy(tmp_path, capsys):
    from evalkit.cli import main

    assert main(["report", "--study", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert "study.yaml" in capsys.readouterr().err


def test_cli_language_choices():
    from evalkit.cli import main

    with pytest.raises(SystemExit):
        main(["report", "--lang", "fr"])


def test_appendix_reconciliation_table(small):
    """The appendix's "why the numbers differ" table: labels not codes, unbounded intervals in words."""
    from dataclasses import replace

    from evalkit.publish.appendix import reconciliation_markdown

    summary = fake_summary(small)
    row = summary.headline[summary.headline["target"] == "ucla3@elderly"].iloc[0]
    rec = pd.DataFrame({"question": ["q"] * 2, "community_id": ["mingyue"] * 2, "target": [row["target"]] * 2,
                        "wave": [row["wave"]] * 2, "estimate_kind": ["headline", "pooled"],
                        "population": ["elderly", "elderly"], "estimate": [row["estimate"], -0.4],
                        "ci_low": [row["ci_low"], -np.inf], "ci_high": [row["ci_high"], np.inf],
                        "why": ["the headline | <b>", "pooled over communities"], "why_zh": ["主要估计", "合并平均"]})
    md = reconciliation_markdown(replace(summary, reconciliation=rec), small, lang="en")
    assert "unbounded" in md and "inf" not in md and "ucla3" not in md and "elderly |" not in md
    assert "Mingyue" in md and "\\<b\\>" in md and "\\|" in md  # data text escaped for Markdown
    assert "无界" in reconciliation_markdown(replace(summary, reconciliation=rec), small, lang="zh")


def test_cli_report_of_an_own_study(tmp_path, capsys):
    """``evalkit report --study`` on the demo study ``evalkit new`` writes (synthetic, two programme communities)."""
    from evalkit.cli import main
    from evalkit.project.new import create_study

    create_study(tmp_path / "study", notebooks=False)
    assert main(["report", "--study", str(tmp_path / "study"), "--lang", "en", "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr().out
    assert "bureau report built in" in said
    page = (tmp_path / "out" / "bureau_report_en.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and 'id="synthetic-banner"' in page  # study.yaml says synthetic: true
    assert page.count('<section class="community"') >= 1


def test_performance_detail_per_community(small):
    """With a PerformanceEvaluation (projects + detail(cid)): outputs against the contract, cost per
    unit of effect (only where estimable) and the score by dimension on the community page."""
    from types import SimpleNamespace

    projects = pd.DataFrame({"community_id": ["mingyue"], "budget": [200000.0], "spent": [198000.0],
                             "cost_per_beneficiary": [1042.1], "score": [95.5], "grade": ["优"],
                             "p_grade_differs": [0.037]})
    detail = {"outputs": pd.DataFrame({"output": ["case", "service_visits"], "target": [20.0, 1500.0],
                                       "achieved": [22.0, 1627.0]}),
              "costs": pd.DataFrame({"target": ["mutual_help_ties", "care_access"],
                                     "indicator": ["mutual_help_ties", "care_access"], "kind": ["mean", "mean"],
                                     "estimate": [32.36, np.nan], "ci_low": [22.6, np.nan], "ci_high": [57.1, np.nan],
                                     "estimable": [True, False]}),
              "sheet": pd.DataFrame({"dimension": ["outputs", "outputs", "finance"], "dimension_zh": ["服务产出"] * 2 + ["财务管理"],
                                     "points": [20.0, 5.0, 10.0], "score": [20.0, 0.9, 9.7]})}
    pe = SimpleNamespace(projects=projects, detail=lambda cid: detail if cid == "mingyue" else {})
    page = _section(render_bureau_html(_quick(fake_summary(small)), small, lang="zh", performance=pe), "明月社区")
    assert "个案 22/20" in page and "服务人次 1,627/1,500" in page
    assert "互助关系数每人每提高1分32元（23至57元）" in page and "另有1个目标" in page
    assert "20.9/25" in page and "9.7/10" in page and "95.5" in page
