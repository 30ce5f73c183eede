"""``evalkit new <folder>``: scaffold an evaluation of one's own that runs end to end straight away.

:func:`create_study` writes, into an empty (or new) folder::

    study.yaml                 the study file (evalkit.spec.study_file), commented
    codebook.yaml              the questionnaire's codebook (a copy of the shipped one, to edit;
                               or draft your own: evalkit codebook draft <export>)
    communities.csv            the community registry: role, start year, targets, budget, population
    data/raw/wjx_demo.xlsx     a small synthetic 问卷星 download (evalkit.datasets.simulate, fixed seed)
    data/fieldwork.csv         the design weight of each building (PSU), as a fieldwork team keeps it
    notebooks/your_study.ipynb notebook 05 pointed at study.yaml (executed copy) and its text source
    README.md                  the two commands: evalkit validate --study .  /  evalkit report --study .

The demo export is synthetic: six communities of the shipped example (two programme communities,
Anning from 2015 and Xingsheng from 2016, and four comparison communities), four waves,
:data:`DEMO_PER_CELL` respondents per community and wave, drawn by
:func:`evalkit.datasets.simulate.simulate` with :data:`DEMO_SEED`; the same seed gives the same bytes.
The export holds what a 问卷星 download holds: the submission time (the design step takes the
wave from its year), the building (PSU) and the answers as option text, but no weights, strata,
age groups or roles -- the design step adds them (``design:`` in study.yaml).
"""
from __future__ import annotations

import os
import re
import shutil
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import EvalkitError, EvalkitWarning

#: Seed of the demo export (evalkit.datasets.simulate).
DEMO_SEED = 2017
#: Respondents per community and wave in the demo export.
DEMO_PER_CELL = 50
#: The smallest demo: fewer respondents per community and wave leave the simulation without households.
MIN_PER_CELL = 10
#: The demo's communities (two programme communities, four comparison communities of the shipped example).
DEMO_COMMUNITIES = ("anning", "xingsheng", "wenyuan", "qingfeng", "huimin", "zhenhua")
#: Demo budgets of the programme communities (yuan), for the performance section of the report.
DEMO_BUDGETS = {"anning": 300000, "xingsheng": 250000}
#: Columns a platform export does not hold: the design step adds them.
DESIGN_ONLY = ("wave", "stratum", "base_weight", "age_group", "role")
EXPORT_NAME = "data/raw/wjx_demo.xlsx"
FIELDWORK_NAME = "data/fieldwork.csv"
NOTEBOOK_NAME = "notebooks/your_study"


def _template(name: str) -> str:
    return resources.files("evalkit.project").joinpath("template", name).read_text(encoding="utf-8")


def demo_tables(seed: int = DEMO_SEED, per_cell: int = DEMO_PER_CELL):
    """The demo's registry, its survey as a 问卷星 download would hold it, and the fieldwork table.

    Returns
    -------
    (registry, export, submitted, fieldwork)
        ``registry``: the six communities with a ``budget`` column; ``export``: the survey without
        :data:`DESIGN_ONLY` columns; ``submitted``: one submission time per row (in its wave's
        June, a few minutes apart); ``fieldwork``: ``community_id, psu, base_weight`` (the mean
        design weight of each building).
    """
    from ..datasets import dongying
    from ..datasets.simulate import EFFECTS, simulate

    shipped = dongying()
    reg = shipped.registry[shipped.registry["community_id"].isin(DEMO_COMMUNITIES)].copy()
    reg["budget"] = reg["community_id"].map(DEMO_BUDGETS).astype("Int64")
    sim = simulate(seed, n_per_wave=per_cell, registry=reg, codebook=shipped.codebook,
                   effects={k: v for k, v in EFFECTS.items() if k in DEMO_COMMUNITIES})
    survey = sim.survey.reset_index(drop=True)
    minutes = pd.to_timedelta(np.arange(len(survey)) % 600 * 11, unit="min")
    when = pd.to_datetime(survey["wave"].astype(int).astype(str) + "-06-01 08:00:00") + minutes
    submitted = when.dt.strftime("%Y-%m-%d %H:%M:%S")
    fieldwork = (survey.groupby(["community_id", "psu"], sort=True)["base_weight"].mean().round(1)
                 .reset_index())
    export = survey.drop(columns=list(DESIGN_ONLY))
    return reg.reset_index(drop=True), export, submitted, fieldwork


def write_demo_export(path: str | os.PathLike, export: pd.DataFrame, submitted: pd.Series, codebook) -> Path:
    """Write `export` as a 问卷星 Excel download with the submission times `submitted`."""
    import tempfile

    from ..io.wjx import _write_xlsx_reproducibly, to_wjx_excel

    with tempfile.TemporaryDirectory() as tmp:
        first = to_wjx_excel(export, Path(tmp) / "export.xlsx", codebook)
        frame = pd.read_excel(first, dtype=object)
    frame["提交答卷时间"] = list(submitted)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_xlsx_reproducibly(frame, path)
    return path


def _point_at_study(text: str) -> str:
    """Notebook 05's parameters cell pointed at ../study.yaml (the user edits that file, not the cell)."""
    text = re.sub(r"^study_file = None\b.*$", 'study_file = "../study.yaml"   # this study: the lines below are not used',
                  text, flags=re.M)
    return re.sub(r"^community = .*$", "community = None                # the community to show (None: every one)",
                  text, flags=re.M)


def _write_notebook(folder: Path, execute: bool) -> list[Path]:
    """Notebook 05 reading ../study.yaml: ``.ipynb`` (executed when Jupyter can) and its text source.

    Needs no notebook package to write the ``.ipynb``; the text source needs jupytext and the
    execution nbclient with a Python kernel -- without them an :class:`EvalkitWarning` says what
    was not done and how to do it, and the rest of the study is still written.
    """
    import json

    from ..publish.render import notebooks_dir

    nb = json.loads((notebooks_dir() / "05_your_data.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                src = cell["source"]
                cell["source"] = _point_at_study("".join(src) if isinstance(src, list) else src)
    out = folder / f"{NOTEBOOK_NAME}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    written = [out]
    try:
        import jupytext

        jupytext.write(jupytext.read(out), str(folder / f"{NOTEBOOK_NAME}.md"), fmt="md:myst")
        written.insert(0, folder / f"{NOTEBOOK_NAME}.md")
    except ImportError:
        warnings.warn("evalkit new: the notebook's text source (notebooks/your_study.md) needs jupytext "
                      "(pip install jupytext); the .ipynb is written.", EvalkitWarning, stacklevel=3)
    if execute:
        try:
            import nbformat
            from nbclient import NotebookClient

            executed = nbformat.read(out, as_version=4)
            NotebookClient(executed, timeout=900, kernel_name="python3", record_timing=False,
                           resources={"metadata": {"path": str(out.parent)}}).execute()
            nbformat.write(executed, str(out))
        except Exception as exc:  # no Jupyter, no kernel, or a cell failed: the study is still usable
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            warnings.warn(f"evalkit new: notebooks/your_study.ipynb was written but not executed "
                          f"({type(exc).__name__}: {first}); run it in Jupyter (pip install jupyterlab ipykernel), "
                          "or use --no-execute.", EvalkitWarning, stacklevel=3)
    return written


def create_study(folder: str | os.PathLike, *, seed: int = DEMO_SEED, per_cell: int = DEMO_PER_CELL,
                 notebooks: bool = True, execute: bool = True, force: bool = False) -> list[Path]:
    """Write a new evaluation folder with a demo export that runs end to end.

    Parameters
    ----------
    folder
        A new or empty folder.
    seed, per_cell
        The demo export's seed and respondents per community and wave (at least :data:`MIN_PER_CELL`).
    notebooks, execute
        Write the notebook (text source and ``.ipynb``), and execute it (needs a Jupyter kernel).
    force
        Write into a folder that is not empty (files of the same name are replaced).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    EvalkitError
        The folder exists and is not empty (and ``force`` is false), or is a file.
    """
    from ..datasets import data_path
    from ..datasets.simulate import write_csv

    if isinstance(per_cell, bool) or not isinstance(per_cell, int) or per_cell < MIN_PER_CELL:
        raise EvalkitError(f"create_study(per_cell={per_cell!r}): the demo needs at least {MIN_PER_CELL} respondents "
                           "per community and wave (the simulation draws households and buildings from them).")
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise EvalkitError(f"evalkit new {root}: that is a file; give a new or empty folder.")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise EvalkitError(f"evalkit new {root}: the folder is not empty; give a new folder, or --force to write "
                           "into it (files of the same name are replaced).")
    root.mkdir(parents=True, exist_ok=True)
    registry, export, submitted, fieldwork = demo_tables(seed, per_cell)
    written = [root / "codebook.yaml", root / "communities.csv", root / FIELDWORK_NAME]
    shutil.copyfile(data_path("codebook.yaml"), written[0])
    written[2].parent.mkdir(parents=True, exist_ok=True)
    for frame, path in ((registry, written[1]), (fieldwork, written[2])):  # formula-safe (names opened in Excel)
        write_csv(frame, path, encoding="utf-8")
    from ..spec.codebook import load_codebook

    written.append(write_demo_export(root / EXPORT_NAME, export, submitted, load_codebook(written[0])))
    for name in ("study.yaml", "README.md"):
        (root / name).write_text(_template(name).replace("{{seed}}", str(seed)), encoding="utf-8")
        written.append(root / name)
    if notebooks:
        written += _write_notebook(root, execute)
    return written


__all__ = ["create_study", "demo_tables", "write_demo_export", "DEMO_SEED", "DEMO_PER_CELL", "DEMO_COMMUNITIES"]
