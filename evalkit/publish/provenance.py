"""Where a report's numbers come from: data checksums, package versions, the seed, the appendix.

:func:`appendix_markdown` writes the report's data-and-methods appendix: the SHA-256 of every
data file (:func:`evalkit.io.manifest.checksums`), the manifest's checksum and whether the files
still match it, the seed of every random step, the methods in one paragraph, the versions of
Python and the packages, and the notebooks executed.
"""
from __future__ import annotations

import hashlib
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..errors import EvalkitError
from ..evaluation.targets import md_text

__all__ = ["appendix_markdown", "checksum_line", "data_checksums", "package_versions"]

PACKAGES = ("evalkit", "numpy", "scipy", "pandas", "statsmodels", "matplotlib", "PyYAML",
            "nbclient", "nbconvert", "nbformat", "ipykernel")

_METHODS = (
    "**Methods.** Answers are validated against the codebook (`codebook.yaml`); scales are "
    "scored by their published rules; means and proportions by community and wave are "
    "design-based (stratified two-stage sample, design weights, Taylor linearisation, as R's "
    "`survey` package). Programme effects are estimated by difference-in-differences against "
    "the never-treated comparison communities: per community with sampling and "
    "community-shock variance (Ferman & Pinto 2019), and pooled by staggered DiD (Callaway & "
    "Sant'Anna 2021, as R's `did`) with randomization inference; with few treated "
    "communities, headline inference never uses normal critical values. Tables show "
    "aggregates only; identifying values in problem tables are withheld."
)


def _folder(data_dir, caller: str) -> Path:
    if data_dir is None:
        raise EvalkitError(f"{caller} needs the data folder the report was computed from (data_dir=...; "
                           "the shipped example is evalkit.datasets.data_dir()).")
    return Path(data_dir)


def data_checksums(data_dir: str | Path) -> pd.DataFrame:
    """SHA-256 of the data files of a folder: ``file, sha256, bytes`` (:func:`evalkit.io.manifest.checksums`)."""
    from ..io.manifest import checksums

    return checksums(_folder(data_dir, "data_checksums"))


def checksum_line(sums: pd.DataFrame, data_dir: str | Path) -> str:
    """The appendix line citing the data.

    With ``MANIFEST.sha256`` in the data folder (:mod:`evalkit.io.manifest`): the manifest's checksum
    (:func:`evalkit.io.manifest.data_checksum`) and the result of checking every file against it —
    files that differ are named. Without a manifest: one SHA-256 over the file checksums.
    """
    from ..io import manifest

    base = _folder(data_dir, "checksum_line")
    if not (base / manifest.MANIFEST).is_file():
        return f"**Data checksum** (SHA-256 over the file checksums above): `{_combined_checksum(sums)}`"
    table = manifest.check_manifest(base, strict=False)
    bad = table[table["status"] != "ok"]
    state = (f"all {len(table)} files match it" if bad.empty else
             "**the data differ from it**: " + ", ".join(f"{md_text(f)} ({st})" for f, st in zip(bad["file"], bad["status"])))
    return (f"**Data checksum** (SHA-256 of the data's `{manifest.MANIFEST}`; {state}; verify with "
            f"`python -m evalkit.io.manifest check`): `{manifest.data_checksum(base)}`")


def _combined_checksum(sums: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for f, s in zip(sums["file"], sums["sha256"]):
        h.update(f"{f}\0{s}\n".encode())
    return h.hexdigest()


def package_versions(packages: Iterable[str] = PACKAGES) -> pd.DataFrame:
    """Versions of Python and the packages the report depends on: ``package, version``."""
    rows = [{"package": "python", "version": platform.python_version()}]
    for name in packages:
        try:
            v = metadata.version(name)
        except metadata.PackageNotFoundError:  # evalkit run from a checkout without installing it
            # the package root is imported before any of its modules; read its version without
            # importing the root from here (a module imports only from its own or lower layers)
            v = getattr(sys.modules.get("evalkit"), "__version__", "unknown") if name == "evalkit" else "not installed"
        rows.append({"package": name, "version": v})
    return pd.DataFrame(rows)


def appendix_markdown(sums: pd.DataFrame, versions: pd.DataFrame, seed: int, run_seconds: dict, *,
                      data_dir: str | Path, data_note: str = "") -> str:
    """The data-and-methods appendix of a report (markdown).

    Parameters
    ----------
    sums
        :func:`data_checksums` of ``data_dir``.
    versions
        :func:`package_versions`.
    seed
        The seed of every random step.
    run_seconds
        ``{notebook name: seconds}`` of the notebooks executed.
    data_dir
        The data folder (its manifest is cited and checked).
    data_note
        A sentence about the data put before the checksums (e.g. that the answers are synthetic).
    """
    lines = [
        "# 附录：数据与方法 Appendix: data and methods",
        "",
        "**Data.** " + (data_note.strip() + " " if data_note else "")  # data_note: the caller's own Markdown
        + "Checksums of the files this report was computed from (SHA-256):",
        "",
        "| file | bytes | sha256 |",
        "|---|---:|---|",
    ]
    for f, b, s in zip(sums["file"], sums["bytes"] if "bytes" in sums else [""] * len(sums), sums["sha256"]):
        lines.append(f"| {md_text(f)} | {b} | `{s}` |")
    lines += [
        "",
        checksum_line(sums, data_dir),
        "",
        f"**Seed** of every random step (simulation, bootstrap, permutation): `{seed}`",
        "",
        _METHODS,
        "",
        "**Software.**",
        "",
        "| package | version |",
        "|---|---|",
    ]
    lines += [f"| {p} | {v} |" for p, v in zip(versions["package"], versions["version"])]
    lines += ["", "**Notebooks executed** for this report: "
              + ", ".join(md_text(f"{k}.ipynb") for k in run_seconds) + "."]
    return "\n".join(lines)
