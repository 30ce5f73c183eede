"""The HTML report: no code, a table of contents, the data checksum, no personal data.

Kept cheap: one small notebook is executed (a few seconds); the full build runs in `make report`.
"""
import hashlib
import re

import nbformat
import pytest

from evalkit import report
from evalkit.errors import EvalkitError, PersonalDataError


@pytest.fixture(scope="module")
def small_notebook(tmp_path_factory):
    d = tmp_path_factory.mktemp("nb")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 明月社区 Mingyue\n\nIntro text."),
        nbformat.v4.new_code_cell("community = 'anning'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("SECRET_CODE_MARKER = 41 + 1\nprint('answer', SECRET_CODE_MARKER, community)"),
        nbformat.v4.new_markdown_cell("## 1. 图 Figure"),
        nbformat.v4.new_code_cell(
            "import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
            "from IPython.display import Image\nimport io\nfig, ax = plt.subplots()\nax.plot([1, 2])\n"
            "buf = io.BytesIO(); fig.savefig(buf, format='png'); Image(buf.getvalue())"),
    ]
    path = d / "small.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def executed(small_notebook):
    return report.execute_notebook(small_notebook, parameters={"community": "mingyue"})


def test_parameters_injected_and_file_untouched(small_notebook, executed):
    before = small_notebook.read_bytes()
    outs = [o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert "answer 42 mingyue\n" in outs
    assert small_notebook.read_bytes() == before
    tags = [c.metadata.get("tags", []) for c in executed.cells]
    assert ["injected-parameters"] in tags


def test_html_has_no_code_has_toc_checksum_and_figure(executed):
    sums = report.data_checksums()
    appendix = report._appendix_markdown(sums, report.package_versions(), 20171, {"small": 1.0})
    html = report.render_html([executed], title="测试报告 Test report", appendix=appendix)
    assert "SECRET_CODE_MARKER" not in html  # code inputs excluded
    assert "answer 42 mingyue" in html  # outputs kept
    assert 'class="evalkit-toc"' in html
    toc = re.search(r'<nav class="evalkit-toc">(.*?)</nav>', html, re.S).group(1)
    assert "明月社区 Mingyue" in toc and "1. 图 Figure" in toc
    for anchor in re.findall(r'href="#(sec-\d+)"', toc):
        assert f'id="{anchor}"' in html
    # the data checksum: sha256 of data/survey.csv computed here independently
    from evalkit.datasets import data_path

    digest = hashlib.sha256(data_path("survey.csv").read_bytes()).hexdigest()
    assert digest in html
    assert "data:image/png;base64," in html  # figure embedded
    assert not re.search(r'<script[^>]+src="https?://', html)  # self-contained: no web scripts
    assert "<link" not in html or 'rel="stylesheet" href="http' not in html


def test_personal_data_is_refused():
    with pytest.raises(PersonalDataError, match="mobile phone"):
        report.check_personal_data("<td>13812345678</td>")
    with pytest.raises(PersonalDataError, match="citizen ID"):
        report.check_personal_data("<td>37052119800101123X</td>")
    report.check_personal_data("<td>2017</td><td>0.123456789012</td>")  # numbers are fine
    # digits inside an embedded image are not scanned
    report.check_personal_data('<img src="data:image/png;base64,AAAA13812345678BBBB=">')


def test_problems_table_withholds_ids(codebook):
    from evalkit.datasets import data_path
    from evalkit.read import read_survey
    from evalkit.validate import validate

    messy = validate(read_survey(data_path("raw/messy_export_gbk.csv")), codebook)
    table = report.problems_table(messy, codebook)
    assert list(table.columns) == ["row", "column", "value", "rule"]
    assert len(table) == len(messy.problems)
    assert (table.loc[table["column"] == "respondent_id", "value"] == "‹withheld›").all()
    ids = set(messy.quarantined.get("respondent_id", []).dropna().astype(str))
    assert not ids & set(table["value"])


def test_unknown_community_is_an_error():
    with pytest.raises(EvalkitError, match="programme community"):
        report.build_report(community="wenyuan", progress=None)
