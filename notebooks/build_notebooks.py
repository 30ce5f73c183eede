"""Build the numbered evalkit notebooks from their text sources, then execute them.

    .venv/bin/python notebooks/build_notebooks.py               # all notebooks
    .venv/bin/python notebooks/build_notebooks.py 00 01         # some (by number or name)
    .venv/bin/python notebooks/build_notebooks.py --no-execute  # new inputs, stored outputs kept
    .venv/bin/python notebooks/build_notebooks.py --demo-export # write the shipped raw/wjx_export_demo.xlsx

The source of ``NN_name.ipynb`` is ``NN_name.md`` beside it: MyST Markdown read by jupytext, the
file to edit and review (notebooks/jupytext.toml pairs the two, so saving in JupyterLab with
jupytext installed writes both). A build reads the text file's cells into the notebook as
``jupytext --to ipynb --update`` does (the stored outputs of unchanged cells are kept), fixes
the cell ids (``<nb>-<k>``) and the metadata, and executes the notebook with nbclient without
timing metadata: rebuilding unchanged sources on unchanged data and code gives the same file.
``--no-execute`` stops before executing. The committed outputs are what ``pytest --nbval``
compares against. Code cells stay short (at most ``MAX_CODE_LINES``): longer logic belongs in the
library. tests/test_notebooks.py checks that every pair is in sync.
"""
from __future__ import annotations

import difflib
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
from jupytext.combine import combine_inputs_with_outputs
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
MAX_CODE_LINES = 15
TEXT_FORMAT = "md:myst"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def names() -> list[str]:
    """The notebooks, by their text sources: ``NN_name`` for every ``NN_name.md``."""
    return sorted(p.stem for p in HERE.glob("[0-9][0-9]_*.md"))


def inputs(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    """What a text source holds of each cell: its type, source and tags."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def out_of_sync(name: str, directory: Path = HERE) -> str | None:
    """Why ``<name>.ipynb`` does not hold the cells of ``<name>.md`` (None when it does): the
    first differing cell, as a diff from the notebook to the text source, and how to fix it."""
    text = jupytext.read(directory / f"{name}.md", fmt=TEXT_FORMAT)
    stored = nbformat.read(directory / f"{name}.ipynb", as_version=4)
    have, want = inputs(stored), inputs(text)
    if have == want:
        return None
    k = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want)))
    a, b = (have[k] if k < len(have) else ("", "", [])), (want[k] if k < len(want) else ("", "", []))
    diff = "\n".join(difflib.unified_diff(
        [f"[{a[0]}] tags={a[2]}", *a[1].splitlines()], [f"[{b[0]}] tags={b[2]}", *b[1].splitlines()],
        f"{name}.ipynb", f"{name}.md", lineterm="", n=1))
    return (f"notebooks/{name}.ipynb is out of sync with its source {name}.md ({len(have)} vs "
            f"{len(want)} cells; first difference at cell {k}):\n{diff}\nThe .md file is the source: "
            f"rebuild with `.venv/bin/python notebooks/build_notebooks.py {name[:2]}` (add --no-execute "
            f"to keep the stored outputs). If the edit was made in the .ipynb instead, bring it into the "
            f".md first: `jupytext --sync notebooks/{name}.ipynb`.")


def long_code_cells(nb: nbformat.NotebookNode) -> list[tuple[int, int]]:
    """(cell index, lines) of the code cells over ``MAX_CODE_LINES`` lines."""
    counts = [(k, c.source.count("\n") + 1) for k, c in enumerate(nb.cells) if c.cell_type == "code"]
    return [(k, n) for k, n in counts if n > MAX_CODE_LINES]


def normalise(name: str, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Fixed cell ids ``<nb>-<k>``, no timing or version-specific metadata, no jupytext header."""
    prefix = name.split("_")[0]
    for k, cell in enumerate(nb.cells):
        cell.id = f"{prefix}-{k:02d}"
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = nb.metadata.get("kernelspec") or dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}   # drop the version-specific details
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def assemble(name: str, directory: Path = HERE) -> nbformat.NotebookNode:
    """The notebook built from ``<name>.md`` with the stored outputs of ``<name>.ipynb`` kept
    for the cells whose code is unchanged (``jupytext --to ipynb --update``)."""
    text = directory / f"{name}.md"
    if not text.is_file():
        raise SystemExit(f"{text.name} is missing: every notebook is built from its text source.")
    nb = jupytext.read(text, fmt=TEXT_FORMAT)
    too_long = long_code_cells(nb)
    if too_long:
        raise SystemExit(f"{text.name}: code cell {too_long[0][0]} has {too_long[0][1]} lines "
                         f"(at most {MAX_CODE_LINES}); move logic into evalkit.")
    stored = directory / f"{name}.ipynb"
    if stored.is_file():
        nb = combine_inputs_with_outputs(nb, nbformat.read(stored, as_version=4), fmt=TEXT_FORMAT)
    return normalise(name, nb)


def _refuse_newer_notebook(name: str, directory: Path = HERE) -> None:
    """Stop rather than overwrite a notebook edited after its text source (outside jupytext)."""
    text, stored = directory / f"{name}.md", directory / f"{name}.ipynb"
    if not stored.is_file() or stored.stat().st_mtime <= text.stat().st_mtime:
        return
    if inputs(nbformat.read(stored, as_version=4)) != inputs(jupytext.read(text, fmt=TEXT_FORMAT)):
        raise SystemExit(f"{stored.name} was edited after {text.name} and they differ; bring the "
                         f"edit into the text source first: jupytext --sync notebooks/{stored.name}")


def execute(nb: nbformat.NotebookNode, directory: Path = HERE) -> nbformat.NotebookNode:
    """Run every cell in ``directory`` (fresh outputs, no timing metadata)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(nb, timeout=900, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(directory)}}).execute()
    return nb


def build(name: str, execute_cells: bool = True, directory: Path = HERE) -> float:
    """Write ``<name>.ipynb`` from ``<name>.md`` (executed unless ``execute_cells`` is false)."""
    _refuse_newer_notebook(name, directory)
    nb = assemble(name, directory)
    t0 = time.perf_counter()
    if execute_cells:
        nb = normalise(name, execute(nb, directory))
    nbformat.validate(nb)
    nbformat.write(nb, str(directory / f"{name}.ipynb"))
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
#: The platform-style demo export of 05_your_data (written by make_demo_export, not by hand).
DEMO_EXPORT = HERE.parent / "evalkit" / "datasets" / "dongying" / "raw" / "wjx_export_demo.xlsx"
DEMO_COMMUNITIES = ("mingyue", "wenyuan", "qingfeng", "huimin", "zhenhua")


def make_demo_export(path: Path = DEMO_EXPORT, per_cell: int = 60, seed: int = 2017) -> Path:
    """Write the 问卷星-style demo export that ``05_your_data`` reads.

        .venv/bin/python notebooks/build_notebooks.py --demo-export

    ``per_cell`` respondents per community and wave are drawn (seeded) from the shipped
    ``survey.csv`` of :mod:`evalkit.datasets` for Mingyue and the four urban comparison communities, and written by
    :func:`evalkit.io.exports.to_wjx_excel` as a 问卷星 download looks: metadata columns 序号,
    提交答卷时间, 所用时间, headers "<n>、<Chinese question text>", answers as option text,
    skipped questions as "(跳过)". Three cells are then spoiled the way real exports are, so that
    validation has something to find: an age written in words, an answer text that is not an
    option of its item, and a survey year that does not exist. All answers are synthetic.
    """
    from evalkit.io.exports import to_wjx_excel
    from evalkit.io.read import read_survey

    survey = read_survey(DEMO_EXPORT.parent.parent / "survey.csv", personal_data="ignore")
    part = survey[survey["community_id"].isin(DEMO_COMMUNITIES)]
    rows = [g.sample(n=min(per_cell, len(g)), random_state=seed) for _, g in
            part.groupby(["community_id", "wave"], sort=True)]
    demo = pd.concat(rows).reset_index(drop=True)
    demo.loc[3, "age"] = "六十五"            # an age in words
    demo.loc[10, "who5_1"] = "不清楚"        # not an answer option (the codebook's is 不知道)
    demo.loc[20, "wave"] = "2019"            # a wave the codebook does not know
    path.parent.mkdir(parents=True, exist_ok=True)
    return to_wjx_excel(demo, path)


def main(argv: list[str]) -> int:
    if "--demo-export" in argv:
        print(f"wrote {make_demo_export()}")
        return 0
    execute_cells = "--no-execute" not in argv
    wanted = [a for a in argv if not a.startswith("--")]
    chosen = [n for n in names() if not wanted or any(n == w or n.startswith(w + "_") for w in wanted)]
    if wanted and not chosen:
        raise SystemExit(f"no notebook matches {' '.join(wanted)}; the notebooks are {', '.join(names())}")
    for name in chosen:
        secs = build(name, execute_cells)
        print(f"{name}.ipynb {'executed' if execute_cells else 'written'} in {secs:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
