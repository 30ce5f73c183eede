"""The HTML report: no code, a table of contents, the data checksum, no personal data.

Kept cheap: one small notebook is executed (a few seconds); the full build runs in `make report`.
"""
import hashlib
import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from evalkit.datasets import data_dir
from evalkit.errors import EvalkitError, PersonalDataError
from evalkit.evaluation import targets
from evalkit.publish import disclosure, provenance, render, report


@pytest.fixture(scope="module")
def small_notebook(tmp_path_factory):
    d = tmp_path_factory.mktemp("nb")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 明月社区 Mingyue\n\nIntro text."),
        nbformat.v4.new_code_cell("community = 'anning'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("SECRET_CODE_MARKER = 41 + 1\nprint('answer', SECRET_CODE_MARKER, community)"),
        nbformat.v4.new_code_cell("import os\nprint('env', os.environ.get('EVALKIT_TEST_MARKER'))"),
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
    return render.execute_notebook(small_notebook, parameters={"community": "mingyue"},
                                   env={"EVALKIT_TEST_MARKER": "from-env"})


def test_parameters_injected_and_file_untouched(small_notebook, executed):
    before = small_notebook.read_bytes()
    outs = [o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert "answer 42 mingyue\n" in outs
    assert "env from-env\n" in outs  # env= reaches the kernel (build_report passes EVALKIT_DATA)
    assert small_notebook.read_bytes() == before
    tags = [c.metadata.get("tags", []) for c in executed.cells]
    assert ["injected-parameters"] in tags


def test_html_has_no_code_has_toc_checksum_and_figure(executed):
    sums = provenance.data_checksums(data_dir())
    appendix = provenance.appendix_markdown(sums, provenance.package_versions(), 20171, {"small": 1.0},
                                            data_dir=data_dir(), data_note="Synthetic answers.")
    html = render.render_html([executed], title="测试报告 Test report", appendix=appendix)
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
    assert "<strong>Data.</strong> Synthetic answers. Checksums" in html
    assert "data:image/png;base64," in html  # figure embedded
    assert not re.search(r'<script[^>]+src="https?://', html)  # self-contained: no web scripts
    assert "<link" not in html or 'rel="stylesheet" href="http' not in html


def test_personal_data_is_refused():
    from evalkit.publish.disclosure import assert_no_personal_data
    from evalkit.io.privacy import citizen_id_check_digit

    with pytest.raises(PersonalDataError, match="phone"):
        assert_no_personal_data("<td>13812345678</td>", source="the report")
    first17 = "37052119800101123"  # a made-up number; its check digit by ISO 7064 MOD 11-2
    with pytest.raises(PersonalDataError, match="citizen_id"):
        assert_no_personal_data(f"<td>{first17}{citizen_id_check_digit(first17)}</td>")
    assert_no_personal_data("<td>2017</td><td>0.123456789012</td>")  # numbers are fine
    # digits inside an embedded image are not scanned
    assert_no_personal_data('<img src="data:image/png;base64,AAAA13812345678BBBB=">')


def test_problems_table_withholds_ids(codebook):
    from evalkit.datasets import data_path
    from evalkit.io.read import read_survey
    from evalkit.io.validate import validate

    messy = validate(read_survey(data_path("raw/messy_export_gbk.csv")), codebook)
    table = disclosure.problems_table(messy, codebook)
    assert list(table.columns) == ["row", "column", "value", "rule"]
    assert len(table) == len(messy.problems)
    assert (table.loc[table["column"] == "respondent_id", "value"] == "‹withheld›").all()
    ids = set(messy.quarantined.get("respondent_id", []).dropna().astype(str))
    assert not ids & set(table["value"])
    with pytest.raises(EvalkitError, match="codebook"):
        disclosure.problems_table(messy)  # no hidden shipped codebook


def test_unknown_community_is_an_error(tmp_path):
    with pytest.raises(EvalkitError, match="programme community"):
        report.build_report(tmp_path, community="wenyuan", progress=None, data_dir=data_dir())


def test_build_report_needs_the_data_folder(tmp_path):
    with pytest.raises(EvalkitError, match="data folder"):
        report.build_report(tmp_path, progress=None)
    with pytest.raises(EvalkitError, match="does not exist"):
        report.build_report(tmp_path, progress=None, data_dir=tmp_path / "nowhere")


def test_old_names_of_report_forward_with_a_warning():
    with pytest.warns(FutureWarning, match="evalkit.evaluation.targets.verdict"):
        assert report.verdict is targets.verdict
    with pytest.warns(FutureWarning, match="evalkit.publish.notebook.setup_notebook"):
        from evalkit.publish.report import setup_notebook  # noqa: F401
    with pytest.raises(AttributeError):
        report.no_such_name


def test_publish_reads_no_shipped_files():
    """Nothing in evalkit/publish imports evalkit.datasets (above it) or loads a shipped file."""
    import ast
    from pathlib import Path

    import evalkit.publish

    for path in Path(evalkit.publish.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = "." * node.level + (node.module or "")
                assert "datasets" not in mod, (path.name, mod)
                assert not {a.name for a in node.names} & {"load_communities", "load_codebook", "SEED"}, path.name


def test_target_domain(codebook):
    assert targets.target_domain(None) is None
    assert targets.target_domain(float("nan")) is None
    assert targets.target_domain("elderly", codebook) == {"role": ["elderly"]}
    # a codebook group with several roles (codebook.yaml: adults = adult + elderly)
    assert targets.target_domain("adults", codebook) == {"role": ["adult", "elderly"]}
    assert targets.target_domain("volunteer") == {"role": ["volunteer"]}  # not a group: one role
    assert targets.target_name("ucla3", "elderly") == "ucla3@elderly"
    assert targets.target_name("bscs", None) == "bscs"


def test_targeted_indicators_from_the_registry(registry, codebook):
    from evalkit.spec.registry import programme_targets

    focus = targets.targeted_indicators(programme_targets(registry), registry, codebook).set_index("target")
    comparison = list(registry.loc[registry["role"] == "comparison", "community_id"])
    # data/communities.csv: Mingyue targets ucla3@elderly first; Shengxing and Heping (both 2016)
    # target selforg_member; Anning (2015) and Shengxing (2016) participation_ladder
    ucla = focus.loc["ucla3@elderly"]
    assert ucla["communities"] == ("mingyue",) and bool(ucla["primary"])
    assert ucla["domain"] == {"community_id": ["mingyue", *comparison], "role": ["elderly"]}
    assert focus.loc["selforg_member", "communities"] == ("shengxing", "heping")
    assert focus.loc["selforg_member", "start_years"] == (2016, 2016)
    assert focus.loc["participation_ladder", "start_years"] == (2015, 2016)
    assert "role" not in focus.loc["participation_ladder", "domain"]
    # programme communities that do not target an indicator are neither treated nor comparison
    assert "heping" not in focus.loc["participation_ladder", "domain"]["community_id"]
    first = {"participation_ladder", "grid_awareness", "cohesion", "ucla3@elderly", "selforg_member",
             "kidscreen10"}  # the first-named target of each of the seven communities
    assert set(focus.index[focus["primary"]]) == first


def test_leave_one_out_summary_by_hand():
    loo = pd.DataFrame({
        "target": ["a"] * 4 + ["b"] * 3,
        "left_out": ["(none)", "x", "y", "z", "(none)", "x", "y"],
        "estimate": [0.30, 0.10, 0.35, 0.28, -0.20, -0.25, -0.21],
        "p_value": [0.01, 0.20, 0.01, 0.02, 0.30, 0.25, 0.40],
        "ci_low": [0.10, -0.05, 0.15, 0.08, -0.50, -0.60, -0.55],
        "ci_high": [0.50, 0.25, 0.55, 0.48, 0.10, 0.05, 0.12],
    })
    loo["change"] = loo["estimate"] - loo.groupby("target")["estimate"].transform("first")
    from evalkit.results import check_vocabulary

    s = check_vocabulary(targets.leave_one_out_summary(loo), "leave_one_out_summary").set_index("target")
    assert s.loc["a", "n_left_out"] == 3 and s.loc["b", "n_left_out"] == 2
    assert s.loc["a", "most_influential"] == "x"  # |0.10 - 0.30| is the largest change
    assert s.loc["a", "largest_change"] == pytest.approx(-0.20)
    assert (s.loc["a", "lowest"], s.loc["a", "highest"]) == (0.10, 0.35)
    assert not s.loc["a", "conclusion_holds"]  # x's interval includes zero, the full one does not
    assert s.loc["b", "conclusion_holds"]  # all intervals include zero
    assert s.loc["b", "most_influential"] == "x"


def test_certainty_bands():
    # the bands of targets.CERTAINTY: < 0.01 strong, < 0.05 moderate, < 0.10 weak, else cannot tell
    assert targets.certainty(0.004)[1].startswith("strong")
    assert targets.certainty(0.01)[1].startswith("moderate")
    assert targets.certainty(0.049)[1].startswith("moderate")
    assert targets.certainty(0.07)[1].startswith("weak")
    assert targets.certainty(0.5)[1].startswith("the data cannot tell")
    assert targets.certainty(float("nan"))[1] == "not estimable"


def test_verdict_reads_direction_interval_and_p(codebook):
    ucla = codebook.scales["ucla3"]  # higher_is: worse — a fall in loneliness is an improvement
    row = pd.Series({"wave": 2017, "event_time": 2, "estimate": -1.03, "ci_low": -1.97, "ci_high": -0.08,
                     "p_value": 0.038})
    short, sentence = targets.verdict(row, ucla, who="residents aged 60+")
    assert short == "改善 improved"
    # the label is escaped Markdown (evalkit.evaluation.targets.md_text): read it as a renderer does
    assert r"\(residents aged 60\+\)" in sentence and "year 3 of the programme" in sentence
    assert "95% CI -1.97 to -0.08; p = 0.038" in sentence and "moderate evidence" in sentence
    worse = row.copy()
    worse[["estimate", "ci_low", "ci_high"]] = [1.03, 0.08, 1.97]
    assert targets.verdict(worse, ucla)[0] == "变差 worsened"
    unclear = row.copy()
    unclear[["ci_high", "p_value"]] = [0.3, 0.2]
    assert targets.verdict(unclear, ucla)[0] == "无明显变化 no clear change"
    share = codebook.scales["selforg_member"]  # a proportion: percentage points
    row2 = pd.Series({"wave": 2016, "estimate": 0.234, "ci_low": 0.094, "ci_high": 0.374, "p_value": 0.007})
    assert "+23.4 pp (95% CI +9.4 pp to +37.4 pp; p = 0.007) — 很有把握" in targets.verdict(row2, share)[1]


def test_target_estimates_use_the_targets_group(survey, codebook, registry):
    from evalkit.evaluation.comparison import community_effects
    from evalkit.survey.design import SurveyDesign
    from evalkit.measure.scales import score

    scored = score(survey, codebook)
    design = SurveyDesign(scored, weight="base_weight", strata="stratum", psu="psu")
    wanted = pd.DataFrame({"community_id": ["mingyue", "mingyue"], "indicator": ["ucla3", "care_access"],
                            "group": ["elderly", None]})
    table, effects = targets.target_estimates(design, wanted, registry, codebook)
    assert sorted(table["target"].unique()) == ["care_access", "ucla3@elderly"]
    # the same numbers as estimating on the elderly domain directly (consistency: two routes)
    elderly = scored["role"].eq("elderly").to_numpy()
    direct = design.subset(elderly).mean("ucla3", by=["community_id", "wave"])
    got = table[table["target"] == "ucla3@elderly"].reset_index(drop=True)
    pd.testing.assert_series_equal(got["estimate"], direct["estimate"], check_names=False)
    ref = community_effects(design, "ucla3", registry=registry, domain={"role": ["elderly"]})
    mine = effects[effects["target"] == "ucla3@elderly"].drop(columns="target").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, ref)
    # ... and not the all-adults numbers
    adults = community_effects(design, "ucla3", registry=registry)
    assert not np.allclose(mine["estimate"], adults["estimate"])


def test_demo_export_reads_and_validates_as_documented(codebook):
    # data/raw/wjx_export_demo.xlsx is written by notebooks/build_notebooks.py --demo-export:
    # 5 communities x 4 waves x 60 respondents, three cells spoiled on purpose (rows 5, 12, 22 of
    # the sheet: an age in words, an answer that is not an option, the year 2019)
    from evalkit.datasets import data_path
    from evalkit.io.exports import read_wjx
    from evalkit.io.validate import validate

    raw = read_wjx(data_path("raw/wjx_export_demo.xlsx"), codebook=codebook)
    assert len(raw) == 5 * 4 * 60
    assert raw.attrs["unmapped"] == ["序号", "提交答卷时间", "所用时间"]
    checked = validate(raw, codebook)
    assert checked.n_quarantined == 3
    probs = disclosure.problems_table(checked, codebook)
    assert list(zip(probs["row"], probs["column"], probs["rule"])) == [
        (5, "age", "not_numeric"), (12, "who5_1", "not_numeric"), (22, "wave", "unknown_wave")]
    assert render.REPORT_NOTEBOOKS == render.NOTEBOOKS  # 04 and 05 are part of the report


def test_appendix_cites_the_manifest_checksum(tmp_path):
    import shutil

    from evalkit.io import manifest

    sums = provenance.data_checksums(data_dir())
    line = provenance.checksum_line(sums, data_dir())
    # the fingerprint is the SHA-256 of data/MANIFEST.sha256 itself, computed here independently
    digest = hashlib.sha256((data_dir() / manifest.MANIFEST).read_bytes()).hexdigest()
    assert digest in line and "files match it" in line
    # a changed file is named, not hidden
    d = tmp_path / "data"
    shutil.copytree(data_dir(), d)
    (d / "truth.csv").write_text("changed\n")
    assert r"truth\.csv (changed)" in provenance.checksum_line(provenance.data_checksums(d), d)
    # no manifest: one SHA-256 over the file checksums
    (d / manifest.MANIFEST).unlink()
    assert "over the file checksums" in provenance.checksum_line(provenance.data_checksums(d), d)


def test_sample_sizes_in_registry_order(survey, registry, codebook):
    sizes = targets.sample_sizes(survey, registry)
    body = sizes[sizes["community_id"] != "total"]
    assert list(body["community_id"]) == [c for c in registry["community_id"] if c in set(body["community_id"])]
    assert sizes.iloc[-1]["total"] == len(survey)
    assert (body["total"] == body[[c for c in body.columns if c.isdigit()]].sum(axis=1)).all()
    with pytest.raises(EvalkitError, match="registry"):
        targets.sample_sizes(survey)  # no hidden shipped registry
    # the study's roles name the columns
    from evalkit.spec.study import Roles, Study

    study = Study(codebook, registry, roles=Roles(community="社区", wave="年份"))
    renamed = survey.rename(columns={"community_id": "社区", "wave": "年份"})
    pd.testing.assert_frame_equal(targets.sample_sizes(renamed, study=study), sizes)


def test_package_versions_without_installed_metadata(monkeypatch):
    import evalkit
    from importlib import metadata

    real = metadata.version

    def version(name):
        if name == "evalkit":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(provenance.metadata, "version", version)
    v = provenance.package_versions(("evalkit", "no-such-package-xyz")).set_index("package")["version"]
    assert v["evalkit"] == evalkit.__version__ and v["no-such-package-xyz"] == "not installed"


def test_build_report_runs_the_notebooks_on_the_given_data(tmp_path, monkeypatch, registry):
    """The orchestration on two tiny stand-in notebooks: kernels read EVALKIT_DATA = data_dir, the
    appendix cites that folder and the study's seed, the community page has the community's name."""
    import shutil

    from evalkit.spec.study import Study

    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    show = "import os, pathlib\nprint('data in', pathlib.Path(os.environ['EVALKIT_DATA']).name)"
    for name, cells in {
        "00_quickstart": [nbformat.v4.new_markdown_cell("# Start"), nbformat.v4.new_code_cell(show)],
        render.PROFILE_NOTEBOOK: [nbformat.v4.new_code_cell("community = 'anning'", metadata={"tags": ["parameters"]}),
                                  nbformat.v4.new_code_cell("print('profile of', community)")],
    }.items():
        nb = nbformat.v4.new_notebook(cells=cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(nb_dir / f"{name}.ipynb"))
    monkeypatch.setattr(render, "notebooks_dir", lambda: nb_dir)
    data = tmp_path / "mydata"
    shutil.copytree(data_dir(), data)
    from evalkit.spec.codebook import load_codebook

    study = Study(load_codebook(data / "codebook.yaml"), registry, seed=123)
    paths = report.build_report(tmp_path / "out", community="mingyue", progress=None, data_dir=data, study=study,
                                title="My report", data_note="Made up.")
    assert [p.name for p in paths] == ["evalkit_report.html", "community_mingyue.html"]
    html = paths[0].read_text(encoding="utf-8")
    assert "data in mydata" in html and "My report" in html and "Made up." in html
    assert "<code>123</code>" in html  # the study's seed
    assert hashlib.sha256((data / "MANIFEST.sha256").read_bytes()).hexdigest() in html
    page = paths[1].read_text(encoding="utf-8")
    assert "profile of mingyue" in page and "明月社区" in page


def test_warnings_become_one_paragraph_of_prose_not_boxes():
    """Issue 12 item 8: a warning printed by a cell is no pink stderr box but a sentence."""
    import nbformat

    cell = nbformat.v4.new_code_cell("estimate()")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr",
                               text="/x/few_clusters.py:88: FewClustersWarning: 7 clusters: CR2 with Satterthwaite df\n"
                                    "  warnings.warn(\n"),
        nbformat.v4.new_output("stream", name="stdout", text="estimate 0.21\n"),
        nbformat.v4.new_output("display_data", data={
            "text/plain": "LonelyPSUWarning: 2 strata have one PSU",
            "text/html": '<pre class="evalkit-warning">LonelyPSUWarning: 2 strata have one PSU</pre>'}),
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Results"), cell])
    html = render.render_html([nb], title="t")
    assert "output_stderr" not in html and "warnings.warn" not in html
    assert "estimate 0.21" in html
    prose = re.sub(r"<[^>]+>", "", html)
    assert "7 clusters: CR2 with Satterthwaite df (FewClustersWarning)" in prose
    assert "2 strata have one PSU (LonelyPSUWarning)" in prose and "evalkit-warning" not in html
