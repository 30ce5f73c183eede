"""Checksum manifest of the data folder: sha256sum format, the shipped data match it, changes are caught."""
import hashlib
import shutil
import subprocess

import pytest

import evalkit
from evalkit.io.manifest import (MANIFEST, ManifestError, check_manifest, checksums, data_checksum,
                              read_manifest, verify_data, write_manifest)

from .conftest import DATA


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "data"
    (d / "raw").mkdir(parents=True)
    (d / "survey.csv").write_bytes(b"a,b\n1,2\n")
    (d / "raw" / "export.csv").write_bytes("编号\n1\n".encode("gb18030"))
    (d / "README.md").write_text("docs")
    (d / ".hidden").write_text("x")
    return d


def test_manifest_format_matches_sha256sum(folder):
    path = write_manifest(folder)
    text = path.read_text()
    # hand check: sha256 of the bytes written above, two spaces, sorted relative posix paths;
    # README.md and hidden files are not listed
    expected = "".join(f"{hashlib.sha256((folder / f).read_bytes()).hexdigest()}  {f}\n"
                       for f in ["raw/export.csv", "survey.csv"])
    assert text == expected
    if shutil.which("sha256sum"):  # coreutils agrees (the check needs no evalkit)
        res = subprocess.run(["sha256sum", "-c", MANIFEST], cwd=folder, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    t = check_manifest(folder)
    # bytes: "编号" is 2 x 2 bytes in GB18030 + "\n1\n" = 7; "a,b\n1,2\n" = 8
    assert t["status"].tolist() == ["ok", "ok"] and t["bytes"].tolist() == [7, 8]
    assert data_checksum(folder) == hashlib.sha256(text.encode()).hexdigest()


def test_changes_are_named(folder):
    write_manifest(folder)
    before = data_checksum(folder)
    (folder / "survey.csv").write_bytes(b"a,b\n1,3\n")
    (folder / "raw" / "export.csv").unlink()
    (folder / "new.csv").write_text("x")
    (folder / "README.md").write_text("edited docs do not matter")
    with pytest.raises(ManifestError) as exc:
        check_manifest(folder)
    msg = str(exc.value)
    assert "survey.csv (changed)" in msg and "raw/export.csv (missing)" in msg and "new.csv (unlisted)" in msg
    assert "python -m evalkit.io.manifest write" in msg
    t = check_manifest(folder, strict=False)
    assert dict(zip(t["file"], t["status"])) == {"new.csv": "unlisted", "raw/export.csv": "missing",
                                                 "survey.csv": "changed"}
    write_manifest(folder)
    assert data_checksum(folder) != before
    assert isinstance(exc.value, evalkit.EvalkitError)


def test_missing_or_malformed_manifest(folder):
    with pytest.raises(ManifestError, match="no manifest"):
        check_manifest(folder)
    with pytest.raises(ManifestError, match="no manifest"):
        data_checksum(folder)
    (folder / MANIFEST).write_text("not a checksum line\n")
    with pytest.raises(ManifestError, match="line 1"):
        read_manifest(folder)


def test_shipped_data_match_their_manifest():
    t = check_manifest(DATA)
    assert {"survey.csv", "communities.csv", "codebook.yaml", "truth.csv", "raw/messy_export_gbk.csv"} <= set(t["file"])
    line = verify_data(DATA)
    assert data_checksum(DATA) in line and line.startswith("data checked:")


def test_checksums_frame_for_reports(folder):
    sums = checksums(folder)
    assert list(sums.columns) == ["file", "sha256", "bytes"]
    assert sums["file"].tolist() == ["raw/export.csv", "survey.csv"]


def test_no_folder_is_an_error_naming_the_fix():
    # generic code never falls back on the shipped data folder (issue 10: hidden Dongying defaults)
    for call in (verify_data, checksums, check_manifest, data_checksum, read_manifest, write_manifest):
        with pytest.raises(ManifestError, match=r"evalkit\.datasets\.data_dir\(\)"):
            call()
    assert evalkit.io.manifest._main(["check"]) == 2
    assert evalkit.io.manifest._main(["check", str(DATA)]) == 0
