"""The printed bureau report of the shipped example with its performance evaluation (as
``evalkit report --pdf`` builds it): at most 12 A4 pages in Chinese and in English, every community
page with its problems and required fixes. Needs headless Chromium and poppler-utils; skipped,
saying so, without them (CI has both).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import pytest

from evalkit.publish.pdf import find_chromium
from evalkit.publish.i18n import t

needs_chromium = pytest.mark.skipif(
    find_chromium() is None or shutil.which("pdfinfo") is None,
    reason="headless chromium and poppler-utils are not installed (apt-get install chromium poppler-utils; CI has both)")


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """zh and en PDFs built the way `evalkit report` builds the shipped example's (cli/report.py)."""
    import evalkit.datasets as ds
    from evalkit.datasets.records import dongying_performance
    from evalkit.evaluation.summary import summarise
    from evalkit.publish.bureau import MIN_N, build_bureau_report
    from evalkit.publish.disclosure import gate_survey

    study, survey = ds.dongying_survey()
    gated = gate_survey(survey, study, min_n=MIN_N)
    summary = summarise(gated.data, study, seed=study.seed, min_n=MIN_N, withheld=gated.withheld)
    latest = summary.effects[summary.effects["wave"] == summary.effects["wave"].max()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pe = dongying_performance(effects=latest, seed=study.seed)
    out = tmp_path_factory.mktemp("printed")
    return {lang: build_bureau_report(survey, study, out_dir=out, lang=lang, pdf=True, synthetic=True,
                                      summary=summary, performance=pe, data_dir=ds.data_dir())
            for lang in ("zh", "en")}


@needs_chromium
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_printed_report_with_findings_is_at_most_12_a4_pages(printed, lang):
    html_path, pdf = printed[lang]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert "(A4)" in info
    assert 1 <= pages <= 12, f"{pages} pages"
    page = html_path.read_text(encoding="utf-8")
    n_pages = page.count('<section class="community"')
    assert page.count('<ul class="findings">') == n_pages == 7
    # the printed text carries the findings heading once per community page, and the payment line
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    flat = re.sub(r"\s+", "", text)
    # once per community page and once in the first page's payment line, which points to them
    assert 'id="payment-findings"' in page
    assert flat.count(re.sub(r"\s+", "", t("findings_heading", lang))) == 7 + 1


@needs_chromium
def test_charts_print_two_across(printed):
    """Each community chart prints about half the text width (two across), not a third or a quarter:
    the print style sheet sets two equal columns for every page's charts."""
    css = printed["zh"][0].read_text(encoding="utf-8")
    block = css[css.index("@media print"):]
    rule = re.search(r"\.figures, \.figures\.few, \.figures\.many \{([^}]*)\}", block)
    assert rule and "repeat(2, minmax(0, 1fr))" in rule.group(1)
    assert not re.search(r"\.figures(\.\w+)? \{[^}]*repeat\([34],", block)
