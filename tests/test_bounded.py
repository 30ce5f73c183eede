"""Bounded reads (issue 16, item 5): hostile inputs are refused before parsing, fast, with an
evalkit error naming the file, what was measured and the limit.

Each hostile input is built here. Run against commit 3b52242 (before the bounds; old modules in an
extracted copy of that commit), every test here fails except three that document behaviour that
already held (a damaged zip is a ReadError; a list and a mapping label are refused by the schema):
the 75 KB workbook with a 20 MB sheet was parsed by openpyxl (12.1 s, 278 MB RSS; the issue's
142 MB one took 204 s); a 395-byte alias codebook (7 levels) took 9.0 s and 592 MB before the
schema refused it, the 10-level one here did not finish within 500 s; 100,000 nested brackets
raised an uncaught ``RecursionError``; a symlink out of the data folder was read.
"""
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from evalkit.errors import CodebookError, ReadError
from evalkit.io.read import ReadLimits, read_survey
from evalkit.spec.codebook import MAX_YAML_DEPTH, load_codebook

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- Excel: zip bombs and dimensions

_ROW = b'<row><c t="inlineStr"><is><t>1</t></is></c><c t="inlineStr"><is><t>2</t></is></c></row>'


def _bomb_xlsx(path: Path, sheet_mb: float = 20) -> Path:
    """A well-formed .xlsx whose one sheet is `sheet_mb` MB of identical rows (compresses ~1000x)."""
    buf = io.BytesIO()
    pd.DataFrame({"a": ["x"], "b": ["y"]}).to_excel(buf, index=False)
    n = int(sheet_mb * 2**20 / len(_ROW))
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             b'spreadsheetml/2006/main"><sheetData><row><c t="inlineStr"><is><t>a</t></is></c>'
             b'<c t="inlineStr"><is><t>b</t></is></c></row>' + _ROW * n + b"</sheetData></worksheet>")
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            data = sheet if info.filename == "xl/worksheets/sheet1.xml" else src.read(info)
            dst.writestr(info.filename, data)
    return path


def test_zip_bomb_workbook_is_refused_by_its_expansion_ratio(tmp_path):
    p = _bomb_xlsx(tmp_path / "bomb.xlsx")
    assert p.stat().st_size < 200_000  # 20 MB of sheet packed into well under 1% of it
    with pytest.raises(ReadError, match=r"bomb\.xlsx: the expansion ratio .* over the limit of 100x") as e:
        read_survey(p, personal_data="ignore")
    assert "EVALKIT_MAX_EXPANSION_RATIO" in str(e.value) and "ReadLimits(max_ratio" in str(e.value)


def test_unpacked_size_limit_and_its_override(tmp_path, monkeypatch):
    p = _bomb_xlsx(tmp_path / "big.xlsx", sheet_mb=2)
    with pytest.raises(ReadError, match=r"unpacked is 2\.0 MB, over the limit of 1 MB"):
        read_survey(p, personal_data="ignore", limits=ReadLimits(max_uncompressed_mb=1, max_ratio=1e9))
    monkeypatch.setenv("EVALKIT_MAX_UNCOMPRESSED_MB", "1")
    monkeypatch.setenv("EVALKIT_MAX_EXPANSION_RATIO", "1e9")
    with pytest.raises(ReadError, match="EVALKIT_MAX_UNCOMPRESSED_MB"):
        read_survey(p, personal_data="ignore")
    # the keyword wins over the environment: raised limits read the (harmless) file
    got = read_survey(p, personal_data="ignore", limits=ReadLimits(max_ratio=1e9))
    assert list(got.columns) == ["a", "b"] and len(got) > 20_000


def test_bad_environment_limit_is_an_evalkit_error(tmp_path, monkeypatch):
    p = tmp_path / "s.csv"
    p.write_text("a,b\n1,2\n", encoding="utf-8")
    monkeypatch.setenv("EVALKIT_MAX_CELLS", "lots")
    with pytest.raises(ReadError, match=r"EVALKIT_MAX_CELLS='lots' must be a positive number"):
        read_survey(p)


def test_declared_sheet_dimension_is_bounded(tmp_path):
    p = tmp_path / "wide.xlsx"
    pd.DataFrame({f"c{j}": range(30) for j in range(10)}).to_excel(p, index=False)  # A1:J31
    assert read_survey(p, personal_data="ignore").shape == (30, 10)
    with pytest.raises(ReadError, match=r"31 rows x 10 columns = 310 cells, over the limit of 300 cells"):
        read_survey(p, personal_data="ignore", limits=ReadLimits(max_cells=300))


def test_damaged_zip_is_a_read_error(tmp_path):
    p = tmp_path / "cut.xlsx"
    _bomb_xlsx(tmp_path / "whole.xlsx", sheet_mb=0.1)
    p.write_bytes((tmp_path / "whole.xlsx").read_bytes()[:-200])  # central directory cut off
    with pytest.raises(ReadError, match="cannot open as an Excel workbook"):
        read_survey(p, personal_data="ignore")


# ------------------------------------------------------------------------ CSV, .sav: size, cells

def test_csv_size_and_cells_are_bounded(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("a,b,c\n" + "1,2,3\n" * 2000, encoding="utf-8")
    assert read_survey(p).shape == (2000, 3)
    with pytest.raises(ReadError, match=r"s\.csv: the file is 0\.0 MB, over the limit of 0\.001 MB"):
        read_survey(p, limits=ReadLimits(max_file_mb=0.001))
    with pytest.raises(ReadError, match=r"2,001 rows x 3 columns = 6,003 cells, over the limit of 6,000"):
        read_survey(p, limits=ReadLimits(max_cells=6000))
    assert read_survey(p, limits=ReadLimits(max_cells=6003)).shape == (2000, 3)  # the bound is inclusive


def test_sav_cells_are_bounded_from_its_header(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]}), str(p))
    assert read_survey(p, personal_data="ignore").shape == (3, 2)
    with pytest.raises(ReadError, match=r"3 rows x 2 columns = 6 cells, over the limit of 5 cells"):
        read_survey(p, personal_data="ignore", limits=ReadLimits(max_cells=5))
    with pytest.raises(ReadError, match=r"over the limit of 1e-06 MB"):
        read_survey(p, personal_data="ignore", limits=ReadLimits(max_file_mb=1e-6))


# ------------------------------------------------------------------------------------- symlinks

def test_symlink_out_of_its_folder_is_refused_inside_is_read(tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    data.mkdir(), elsewhere.mkdir()
    (elsewhere / "altered.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (data / "real.csv").write_text("a,b\n3,4\n", encoding="utf-8")
    try:
        (data / "survey.csv").symlink_to(elsewhere / "altered.csv")
        (data / "alias.csv").symlink_to(data / "real.csv")
    except OSError:
        pytest.skip("symbolic links not permitted here")
    with pytest.raises(ReadError, match=r"survey\.csv: is a symbolic link to a file outside its folder"):
        read_survey(data / "survey.csv")
    assert read_survey(data / "alias.csv")["a"].tolist() == ["3"]  # a link within the folder is fine
    assert read_survey(elsewhere / "altered.csv")["a"].tolist() == ["1"]  # the real path is fine


# ------------------------------------------------------------------------------ codebook YAML

def _alias_yaml(levels: int) -> str:
    """The issue's 'billion laughs' codebook: each level repeats the previous one nine times."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nfields:\n  respondent_id: {{type: id, en: *a{levels - 1}}}\nitems: {{}}\n"


def test_yaml_aliases_are_refused_with_file_and_line(tmp_path):
    p = tmp_path / "cb.yaml"
    p.write_text(_alias_yaml(10), encoding="utf-8")  # 9**10 = 3.5 billion strings if expanded
    assert p.stat().st_size < 700
    with pytest.raises(CodebookError, match=r"cb\.yaml, line 1: the codebook uses a YAML anchor or alias"):
        load_codebook(p)


def test_a_lone_anchor_is_refused_too(tmp_path):
    p = tmp_path / "cb.yaml"
    p.write_text("fields:\n  respondent_id: &x {type: id, en: respondent}\nitems: {}\n", encoding="utf-8")
    with pytest.raises(CodebookError, match=r"line 2: .*anchor or alias"):
        load_codebook(p)


@pytest.mark.parametrize("text", ["fields: " + "[" * 100_000 + "]" * 100_000 + "\n",
                                  "fields:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 60)) + " " * 60 + "v\n"])
def test_deep_nesting_is_a_codebook_error_not_a_recursion_error(tmp_path, text):
    p = tmp_path / "deep.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(CodebookError, match=rf"deep\.yaml, line \d+: .*more than {MAX_YAML_DEPTH} levels deep"):
        load_codebook(p)


@pytest.mark.parametrize("label, shown", [("[1, 2]", r"\[1, 2\]"), ("{a: 1}", r"\{'a': 1\}")])
def test_a_label_that_is_not_text_is_refused_with_its_line(tmp_path, label, shown):
    p = tmp_path / "cb.yaml"
    p.write_text(f"fields:\n  respondent_id: {{type: id, en: respondent}}\n  community_id: {{type: community, "
                 f"zh: {label}}}\nitems: {{}}\n", encoding="utf-8")
    with pytest.raises(CodebookError, match=rf"line 3, fields\.community_id\.zh: `zh` must be text.*got {shown}"):
        load_codebook(p)


def test_oversized_codebook_is_refused(tmp_path, monkeypatch):
    import evalkit.spec.codebook as cbmod

    p = tmp_path / "cb.yaml"
    p.write_text("fields: {}\n# " + "x" * 2000 + "\n", encoding="utf-8")
    monkeypatch.setattr(cbmod, "MAX_CODEBOOK_BYTES", 1024)
    with pytest.raises(CodebookError, match=r"cb\.yaml: the codebook file is .* over the limit"):
        load_codebook(p)


# ------------------------------------------------------------- command line: exit code 2, fast

def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "evalkit", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg", **(env or {})})


def test_cli_exits_2_on_hostile_codebook_and_workbook(tmp_path):
    cb = tmp_path / "cb.yaml"
    cb.write_text(_alias_yaml(10), encoding="utf-8")
    export = tmp_path / "s.csv"
    export.write_text("a,b\n1,2\n", encoding="utf-8")
    r = _cli("validate", export, "--codebook", cb)
    assert r.returncode == 2 and "anchor or alias" in r.stderr, r.stderr[-2000:]
    r = _cli("validate", _bomb_xlsx(tmp_path / "bomb.xlsx"))
    assert r.returncode == 2 and "expansion ratio" in r.stderr, r.stderr[-2000:]
