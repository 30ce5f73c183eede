"""``evalkit new``: a study folder that runs end to end on its demo export, from parameters alone.

The demo export is written from :func:`evalkit.project.new.demo_tables` (the simulated survey with
its answer codes); the test reads it back through the study file's reader and design parameters
and checks that every valid row carries the codes it was simulated with -- the truth is the
simulated table, not a number typed here.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.errors import EvalkitError
from evalkit.project import open_study
from evalkit.project.new import DEMO_COMMUNITIES, create_study, demo_tables

PER_CELL = 20  # small, so the test is quick; the CLI default is 50


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("new") / "my_study"
    create_study(root, per_cell=PER_CELL, execute=False)
    return root


@pytest.fixture(scope="module")
def loaded(folder):
    project = open_study(folder)
    report, survey = project.load_survey()
    return project, report, survey


def test_the_folder_has_every_piece(folder):
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert names == ["README.md", "codebook.yaml", "communities.csv", "data/fieldwork.csv", "data/raw/wjx_demo.xlsx",
                     "notebooks/your_study.ipynb", "notebooks/your_study.md", "study.yaml"]
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "evalkit validate --study ." in readme and "evalkit report --study ." in readme
    nb = (folder / "notebooks/your_study.md").read_text(encoding="utf-8").splitlines()
    assert any(line.startswith('study_file = "../study.yaml"') for line in nb)   # the parameters cell itself
    assert any(line.startswith("community = None") for line in nb)


def test_the_study_file_describes_the_demo(loaded):
    project, _, _ = loaded
    study = project.study
    assert sorted(study.registry["community_id"]) == sorted(DEMO_COMMUNITIES)
    assert study.waves == (2014, 2015, 2016, 2017) and study.baseline_wave == 2014 and project.min_n == 10
    assert study.read["kind"] == "wjx" and study.read["path"].endswith("data/raw/wjx_demo.xlsx") and study.synthetic
    assert study.design == {"wave": "submitted", "fieldwork": str(project.folder / "data/fieldwork.csv"), "by": "psu"}
    assert project.report_dir == project.folder / "reports"
    assert study.registry.set_index("community_id")["budget"].dropna().to_dict() == {"anning": 300000,
                                                                                    "xingsheng": 250000}


def test_every_row_arrives_with_the_codes_it_was_simulated_with(loaded):
    project, report, survey = loaded
    _, export, submitted, fieldwork = demo_tables(per_cell=PER_CELL)
    assert report.n_rows == len(export) == report.n_valid + report.n_quarantined
    assert report.n_quarantined == 0 and project.design_problems.empty
    truth = export.set_index(pd.RangeIndex(2, len(export) + 2))   # spreadsheet rows: header = row 1
    valid = report.valid
    coded = [c for c in truth.columns if c in project.study.codebook.variables
             and project.study.codebook.variables[c].codes]
    assert len(coded) > 40
    for col in coded:
        var = project.study.codebook.variables[col]
        got = pd.to_numeric(valid[col], errors="coerce").to_numpy(dtype=float)
        want = pd.to_numeric(truth.loc[valid.index, col], errors="coerce")
        # validation turns missing-value codes (97 don't know ...) into blanks with their reason kept
        missing = want.isin(list(var.missing_codes))
        assert np.array_equal(got, want.mask(missing).to_numpy(dtype=float), equal_nan=True), col
        n_missing = int(((report.missing["column"] == col) & report.missing["row"].isin(valid.index)).sum())
        assert n_missing == int(missing.sum()), col
    # the design step: wave from the submission year, weight of the row's building, stratum = community
    assert (valid["wave"].astype(int) == pd.to_datetime(submitted.to_numpy()).year[valid.index - 2]).all()
    weights = fieldwork.set_index(["community_id", "psu"])["base_weight"]
    want_w = weights.loc[list(zip(truth.loc[valid.index, "community_id"], truth.loc[valid.index, "psu"]))]
    assert np.allclose(valid["base_weight"].astype(float), want_w.to_numpy())
    assert (valid["stratum"] == valid["community_id"]).all()
    assert set(survey.columns) >= {"bscs", "cohesion", "who5"}


def test_the_comparisons_run_from_the_study_file(loaded):
    from evalkit.evaluation.summary import summarise
    from evalkit.publish.disclosure import gate_survey

    project, _, survey = loaded
    gated = gate_survey(survey, project.study, min_n=project.min_n)
    effects = summarise(gated.data, project.study, min_n=project.min_n, withheld=gated.withheld).effects
    assert set(effects["community_id"]) == {"anning", "xingsheng"}
    # anning starts 2015, xingsheng 2016: one row per target and post wave, none dropped
    waves = effects.groupby("community_id")["wave"].agg(lambda w: sorted(set(w))).to_dict()
    assert waves == {"anning": [2015, 2016, 2017], "xingsheng": [2016, 2017]}
    estimated = effects[effects["explanation"].isna()]
    assert len(estimated) > 0 and (estimated["ci_low"] <= estimated["ci_high"]).all()


def test_the_demo_is_reproducible(folder, tmp_path):
    from evalkit.project.new import write_demo_export

    _, export, submitted, _ = demo_tables(per_cell=PER_CELL)      # the same seed again
    again = write_demo_export(tmp_path / "again.xlsx", export, submitted, evalkit.datasets.dongying().codebook)
    assert again.read_bytes() == (folder / "data/raw/wjx_demo.xlsx").read_bytes()


def test_without_a_jupyter_kernel_the_study_is_written_and_the_warning_says_so(tmp_path, monkeypatch):
    import nbclient

    def no_kernel(self, *a, **k):
        raise RuntimeError("No such kernel named python3")

    monkeypatch.setattr(nbclient.NotebookClient, "execute", no_kernel)
    with pytest.warns(evalkit.EvalkitWarning, match=r"written but not executed \(RuntimeError: No such kernel"):
        written = create_study(tmp_path / "s", per_cell=PER_CELL)
    assert (tmp_path / "s/notebooks/your_study.ipynb") in written and (tmp_path / "s/study.yaml").is_file()


def test_new_refuses_a_demo_too_small_to_simulate(tmp_path):
    with pytest.raises(EvalkitError, match=r"per_cell=4.*at least 10"):
        create_study(tmp_path / "x", per_cell=4, execute=False)
    assert not (tmp_path / "x").exists()


def test_new_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    with pytest.raises(EvalkitError, match="not empty.*--force"):
        create_study(tmp_path, execute=False, notebooks=False)
    res = subprocess.run([sys.executable, "-m", "evalkit", "new", str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 2 and "not empty" in res.stderr and "Traceback" not in res.stderr


def test_open_study_names_what_is_missing(tmp_path):
    with pytest.raises(EvalkitError, match=r"no study file here.*evalkit new"):
        open_study(tmp_path)
    (tmp_path / "study.yaml").write_text("codebook: codebook.yaml\ncomunities: x.csv\n", encoding="utf-8")
    with pytest.raises(EvalkitError, match=r"unknown key\(s\) \['comunities'\]"):
        open_study(tmp_path)


def test_study_file_options_a_reader_does_not_take_are_named(folder, tmp_path):
    import shutil

    from evalkit.project import read_export

    study = open_study(folder).study
    with pytest.raises(EvalkitError, match=r"read_wjx\(\) takes no option \['option_numbrs'\]; its options are"):
        read_export(study.read["path"], "wjx", study=study, options={"option_numbrs": "codes"})
    with pytest.raises(EvalkitError, match=r"export.path '.*nowhere.xlsx' does not exist"):
        read_export(tmp_path / "nowhere.xlsx", "wjx", study=study)
    copy = tmp_path / "s"
    shutil.copytree(folder, copy)
    text = (copy / "study.yaml").read_text(encoding="utf-8").replace("by: psu", "by: psu\n  weigth: 1")
    (copy / "study.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(EvalkitError, match=r"design section has a key add_design\(\) does not take.*weigth"):
        open_study(copy).prepare()


def test_from_parameters_is_the_study_file_without_the_file(folder):
    from evalkit.project import from_parameters

    a = open_study(folder)
    b = from_parameters(export_path=a.study.read["path"], export_kind="wjx", codebook_path=folder / "codebook.yaml",
                        registry_path=folder / "communities.csv", read_options={"column_map": {}},
                        design=dict(a.study.design))
    ra, rb = a.prepare(), b.prepare()
    pd.testing.assert_frame_equal(ra, rb)
    assert from_parameters(folder / "study.yaml").study.read == a.study.read
