"""Integrity of the data: a SHA-256 manifest of the data folder, checked before analysis and cited in reports.

``MANIFEST.sha256`` in a data folder (the shipped example's is :func:`evalkit.datasets.data_dir`) lists every data file
with its SHA-256 in the format of GNU ``sha256sum`` (``<hex>  <path>``, paths relative to the data
folder with ``/``, sorted), so that ``cd evalkit/datasets/dongying && sha256sum -c MANIFEST.sha256``
checks the shipped example without evalkit. :func:`check_manifest` compares the files with it;
:func:`data_checksum` is one SHA-256 of the manifest itself -- the fingerprint a report prints so
that its reader knows exactly which data produced it; :func:`verify_data` does both for a
notebook's first cell.

Documentation (``*.md``), hidden files and the manifest itself are not listed: editing the
README does not change the data.

Every function takes the data folder; there is no default (generic code does not know where the
shipped example lies). Command line: ``python -m evalkit.io.manifest write <data_dir>`` after
regenerating the data, ``python -m evalkit.io.manifest check <data_dir>``.
"""
from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pandas as pd

from ..errors import EvalkitError, ManifestError

MANIFEST = "MANIFEST.sha256"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def _dir(data_dir) -> Path:
    if data_dir is None:
        raise ManifestError("Name the data folder whose manifest to use, e.g. verify_data(\"data/\"); for the "
                            "shipped Dongying example: verify_data(evalkit.datasets.data_dir()).")
    p = Path(data_dir)
    if not p.is_dir():
        raise ManifestError(f"{p}: not a folder.")
    return p


def _listed(path: Path, base: Path) -> bool:
    rel = path.relative_to(base)
    return (path.is_file() and path.name != MANIFEST and path.suffix.lower() != ".md"
            and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksums(data_dir: str | Path | None = None) -> pd.DataFrame:
    """SHA-256 of every data file under `data_dir`: ``file, sha256, bytes``, sorted by file."""
    base = _dir(data_dir)
    files = sorted((p for p in base.rglob("*") if _listed(p, base)), key=lambda p: p.relative_to(base).as_posix())
    return pd.DataFrame(
        [(p.relative_to(base).as_posix(), _sha256(p), p.stat().st_size) for p in files],
        columns=["file", "sha256", "bytes"],
    )


def write_manifest(data_dir: str | Path | None = None) -> Path:
    """Write ``MANIFEST.sha256`` in `data_dir` (sha256sum format, sorted relative paths).

    Returns
    -------
    Path
        The manifest written.
    """
    base = _dir(data_dir)
    sums = checksums(base)
    path = base / MANIFEST
    path.write_text("".join(f"{s}  {f}\n" for f, s in zip(sums["file"], sums["sha256"])),
                    encoding="utf-8", newline="\n")
    return path


def read_manifest(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The manifest as ``file, sha256``; :class:`ManifestError` if missing or malformed."""
    base = _dir(data_dir)
    path = base / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest. Write one with `python -m evalkit.io.manifest write {base}` "
                            "(evalkit.io.manifest.write_manifest) once the data are final.")
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            raise ManifestError(f"{path}, line {i}: not '<64 hex digits>  <file>'. Write the manifest again.")
        rows.append((m.group(2), m.group(1)))
    return pd.DataFrame(rows, columns=["file", "sha256"])


def check_manifest(data_dir: str | Path | None = None, *, strict: bool = True) -> pd.DataFrame:
    """Compare the data files with ``MANIFEST.sha256``.

    Parameters
    ----------
    data_dir
        The data folder (the shipped example's is :func:`evalkit.datasets.data_dir`).
    strict
        Raise :class:`ManifestError` when anything differs (default); else only return the table.

    Returns
    -------
    DataFrame
        ``file, expected, actual, bytes, status`` with ``status`` one of ``"ok"``, ``"changed"``
        (different content), ``"missing"`` (listed, not on disk) and ``"unlisted"`` (on disk, not
        in the manifest).

    Raises
    ------
    ManifestError
        With ``strict``, any status other than ``"ok"``; the message names each file and what to do.
    """
    base = _dir(data_dir)
    listed = read_manifest(base)
    actual = checksums(base)
    t = listed.merge(actual, on="file", how="outer", suffixes=("_expected", ""), indicator=True)
    t = t.rename(columns={"sha256_expected": "expected", "sha256": "actual"})
    status = pd.Series("ok", index=t.index)
    status[t["_merge"] == "left_only"] = "missing"
    status[t["_merge"] == "right_only"] = "unlisted"
    status[(t["_merge"] == "both") & (t["expected"] != t["actual"])] = "changed"
    t["status"] = status
    t["bytes"] = t["bytes"].astype("Int64")
    t = t[["file", "expected", "actual", "bytes", "status"]].sort_values("file").reset_index(drop=True)
    bad = t[t["status"] != "ok"]
    if strict and len(bad):
        listing = "; ".join(f"{f} ({s})" for f, s in zip(bad["file"], bad["status"]))
        raise ManifestError(
            f"{base}: the data do not match {MANIFEST}: {listing}. If the data were changed on "
            "purpose (regenerated, new wave), write the manifest again with `python -m "
            f"evalkit.io.manifest write {base}`; otherwise restore the files -- results computed from "
            "them would not be the published ones.", table=t)
    return t


def data_checksum(data_dir: str | Path | None = None) -> str:
    """One SHA-256 (hex) of ``MANIFEST.sha256``: the fingerprint of the data a report cites."""
    base = _dir(data_dir)
    path = base / MANIFEST
    if not path.is_file():
        read_manifest(base)  # raises the helpful error
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_data(data_dir: str | Path | None = None) -> str:
    """Check the data against the manifest and return a line to print in a notebook or report.

    Raises :class:`ManifestError` on any mismatch (see :func:`check_manifest`).

    Examples
    --------
    >>> import evalkit
    >>> evalkit.io.manifest.verify_data(evalkit.datasets.data_dir()).startswith("data checked:")
    True
    """
    base = _dir(data_dir)
    t = check_manifest(base)
    return (f"data checked: {len(t)} files match {MANIFEST}; data checksum (SHA-256 of the manifest) "
            f"{data_checksum(base)}")


__all__ = ["MANIFEST", "ManifestError", "checksums", "write_manifest", "read_manifest", "check_manifest",
           "data_checksum", "verify_data"]


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("write", "check"):
        print("usage: python -m evalkit.io.manifest write|check <data_dir>  (the shipped example: "
              "evalkit/datasets/dongying)", file=sys.stderr)
        return 2
    d = argv[1]
    try:
        if argv[0] == "write":
            print(f"wrote {write_manifest(d)}; data checksum {data_checksum(d)}")
        else:
            print(verify_data(d))
    except EvalkitError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
