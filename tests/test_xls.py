"""Old binary Excel (.xls, BIFF8) read like its .xlsx twin.

The .xls fixtures in tests/data/exports/xls/ were written by LibreOffice Calc 7.4.7 from .xlsx
twins (provenance and the command: make_fixtures.py there): the committed 问卷星, hand-typed
workbook and Kobo fixtures converted as they are, and a workbook of dates, times, numbers,
booleans, an error cell and Chinese text in the 1900 and the 1904 date system. Every test compares
the .xls with its .xlsx twin (read by openpyxl), cell by cell and through the readers.
"""
import datetime as dt
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

import evalkit
from evalkit.errors import EvalkitWarning, ReadError
from evalkit.io.kobo import read_kobo
from evalkit.io.read import ReadLimits, read_survey
from evalkit.io.validate import validate
from evalkit.io.workbook import read_sheet, sheet_names
from evalkit.io.wjx import read_wjx

EXPORTS = Path(__file__).resolve().parent / "data" / "exports"
XLS = EXPORTS / "xls"
TWINS = {"handtyped": "workbook", "wjx_text": "wjx", "wjx_number": "wjx", "kobo_labels": "kobo", "form": "kobo"}


def _cells_equal(a: pd.DataFrame, b: pd.DataFrame, skip=()) -> list:
    assert a.shape == b.shape and list(a.index) == list(b.index)
    out = []
    for r in a.index:
        for c in a.columns:
            x, y = a.at[r, c], b.at[r, c]
            if (r, c) in skip:
                continue
            if not (x is None and y is None) and not (type(x) is type(y) and x == y):
                out.append((r, c, x, y))
    return out


@pytest.mark.parametrize("name", sorted(TWINS))
def test_every_sheet_cell_by_cell_as_its_xlsx_twin(name):
    xlsx, xls = EXPORTS / TWINS[name] / f"{name}.xlsx", XLS / f"{name}.xls"
    assert sheet_names(xls) == sheet_names(xlsx)
    for sheet in sheet_names(xlsx):
        a, merged_a, _ = read_sheet(xlsx, sheet)
        b, merged_b, got = read_sheet(xls, sheet)
        assert got == sheet
        assert _cells_equal(a, b) == []
        assert sorted(merged_a) == sorted(merged_b)


@pytest.mark.parametrize("name", ["types", "types1904", "types_biff7_gbk"])
def test_dates_times_numbers_booleans_and_chinese(name):
    """BIFF8 from LibreOffice in the 1900 and 1904 date systems; BIFF7 (Excel 95) from Gnumeric with
    its text in code page 936 (GBK)."""
    twin = "types1904" if name == "types1904" else "types"
    a, merged_a, _ = read_sheet(XLS / f"{twin}.xlsx", 0)
    b, merged_b, sheet = read_sheet(XLS / f"{name}.xls", 0)
    assert sheet == "类型" and merged_a == merged_b == [(1, 1, 1, 6)]
    # the formula =1/0 has no cached value in the openpyxl-written twin; LibreOffice computed it
    assert a.at[6, 4] is None and b.at[6, 4] == "#DIV/0!"
    assert _cells_equal(a, b, skip={(6, 4)}) == []
    # the values make_fixtures.py wrote, whatever the date system (serials differ by 1462 days in 1904)
    assert b.at[3, 1] == dt.datetime(2017, 6, 1) and b.at[4, 1] == dt.datetime(2016, 2, 29)
    assert b.at[4, 2] == dt.datetime(2016, 2, 29, 23, 59, 59) and b.at[5, 2] == dt.datetime(2000, 1, 1, 0, 0, 1)
    assert b.at[3, 3] == dt.time(9, 20) and b.at[3, 4] == 3.5 and b.at[4, 4] == 4 and type(b.at[4, 4]) is int
    assert b.at[3, 5] is True and b.at[4, 5] is False and b.at[1, 0] == "社区调查 2017（东营）"


def test_handtyped_workbook_reads_and_validates_as_the_xlsx(study):
    for sheet in (None, "all"):
        with pytest.warns(EvalkitWarning):
            a = read_survey(EXPORTS / "workbook" / "handtyped.xlsx", study=study, sheet=sheet)
        with pytest.warns(EvalkitWarning):
            b = read_survey(XLS / "handtyped.xls", study=study, sheet=sheet)
        pd.testing.assert_frame_equal(a, b)
        assert {k: v for k, v in a.attrs.items() if k != "source"} == {k: v for k, v in b.attrs.items()
                                                                     if k != "source"}
        assert any("merged cells C5:C14" in n for n in b.attrs["notes"])
        ra, rb = validate(a, study=study), validate(b, study=study)
        assert rb.n_rows == rb.n_valid + rb.n_quarantined and rb.n_valid == ra.n_valid > 0
        pd.testing.assert_frame_equal(ra.valid, rb.valid)


def test_wjx_downloads_as_xls(codebook, registry):
    from tests.test_wjx import COLUMN_MAP, MULTI, OPTION_MAP

    study = evalkit.Study(codebook, registry)
    for name, extra in (("wjx_text", {}), ("wjx_number", {"option_map": OPTION_MAP})):
        a = read_wjx(EXPORTS / "wjx" / f"{name}.xlsx", COLUMN_MAP, study=study, select_multiple=MULTI, **extra)
        b = read_wjx(XLS / f"{name}.xls", COLUMN_MAP, study=study, select_multiple=MULTI, **extra)
        pd.testing.assert_frame_equal(a, b)
        assert len(b) == 48


def test_kobo_xlsx_and_xlsform_as_xls(study):
    from tests.test_kobo import ACTIVITIES

    a = read_kobo(EXPORTS / "kobo" / "kobo_labels.xlsx", study=study, select_multiple=ACTIVITIES,
                  xlsform=EXPORTS / "kobo" / "form.xlsx")
    b = read_kobo(XLS / "kobo_labels.xls", study=study, select_multiple=ACTIVITIES, xlsform=XLS / "form.xls")
    pd.testing.assert_frame_equal(a, b)
    assert b.attrs["repeat_groups"] == a.attrs["repeat_groups"]


def test_a_codebook_drafted_from_the_xls_is_the_one_drafted_from_the_xlsx():
    from evalkit.io.draft import _kind_of, draft_codebook

    assert _kind_of(XLS / "form.xls") == "kobo" and _kind_of(XLS / "wjx_text.xls") == "wjx"
    for name in ("form", "wjx_text"):
        a = draft_codebook(EXPORTS / TWINS[name] / f"{name}.xlsx").text
        b = draft_codebook(XLS / f"{name}.xls").text
        assert b == a.replace(f"{name}.xlsx", f"{name}.xls") and "TODO" in b


def test_too_many_cells_is_refused_before_reading():
    with pytest.raises(ReadError) as exc:
        read_survey(XLS / "wjx_text.xls", limits=ReadLimits(max_cells=500))
    msg = str(exc.value)
    assert "wjx_text.xls" in msg and "declares 49 rows x 21 columns" in msg and "max_cells" in msg


def test_damaged_xls_and_impostors_get_a_read_error(tmp_path):
    raw = (XLS / "handtyped.xls").read_bytes()
    cases = {
        "truncated.xls": raw[:3000],
        "zeros.xls": raw[:512] + b"\0" * 4096,
        "page.xls": "<html><body><p>没有数据</p></body></html>".encode(),
        "xml2003.xls": b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">',
        "text.xls": "编号 性别 年龄\n1 男 20\n".encode("gbk"),
        "empty.xls": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ReadError) as exc:
            read_survey(tmp_path / name)
        msg = str(exc.value)
        assert name in msg and (".xlsx" in msg or "empty" in msg), msg
    assert "web page saved with an Excel extension, and it holds no table" in str(
        pytest.raises(ReadError, read_survey, tmp_path / "page.xls").value)
    assert "Excel 2003 XML spreadsheet" in str(pytest.raises(ReadError, read_survey, tmp_path / "xml2003.xls").value)


def test_an_xlsx_named_xls_is_read_as_xlsx(tmp_path, study):
    p = tmp_path / "export.xls"
    p.write_bytes((EXPORTS / "workbook" / "handtyped.xlsx").read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        a = read_survey(EXPORTS / "workbook" / "handtyped.xlsx", study=study)
        b = read_survey(p, study=study)
    pd.testing.assert_frame_equal(a, b)


def test_without_xlrd_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "xlrd", None)
    with pytest.raises(ReadError, match=r"needs the xlrd package .*save it as \.xlsx"):
        read_survey(XLS / "wjx_text.xls")


def test_flipped_bytes_give_a_read_error_or_a_table_and_print_nothing(tmp_path, capsys):
    import random

    from evalkit.errors import EvalkitError

    raw = (XLS / "handtyped.xls").read_bytes()
    rng = random.Random(20171)
    p = tmp_path / "damaged.xls"
    for i in range(80):
        b = bytearray(raw)
        for _ in range(rng.choice([1, 5, 40])):
            b[rng.randrange(len(b))] = rng.randrange(256)
        p.write_bytes(bytes(b[:rng.randrange(512, len(b))] if i % 5 == 0 else b))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EvalkitWarning)
                read_survey(p, personal_data="ignore")
        except EvalkitError as exc:
            assert "damaged.xls" in str(exc)
    assert capsys.readouterr().out == ""      # xlrd's repair notes stay out of the output


def _patched_dimension(tmp_path, rows: int, cols: int) -> Path:
    """wjx_text.xls with its sheet's DIMENSIONS record (BIFF8: 0x0200, 14 bytes) rewritten."""
    import struct

    raw = bytearray((XLS / "wjx_text.xls").read_bytes())
    at = raw.find(b"\x00\x02\x0e\x00")
    assert at > 0 and raw.find(b"\x00\x02\x0e\x00", at + 1) < 0     # the one sheet's record
    raw[at + 4:at + 16] = struct.pack("<IIHH", 0, rows, 0, cols)
    p = tmp_path / "dims.xls"
    p.write_bytes(bytes(raw))
    return p


def test_a_sheet_declaring_a_huge_table_is_refused_before_its_cells_are_read(tmp_path):
    p = _patched_dimension(tmp_path, 65536, 256)
    with pytest.raises(ReadError, match=r"dims\.xls: the table \(sheet 'Sheet1' declares 65,536 rows x 256 columns\)"):
        read_survey(p)


def test_a_sheet_declaring_less_than_it_holds_is_bounded_by_what_is_read(tmp_path):
    p = _patched_dimension(tmp_path, 1, 1)
    with pytest.raises(ReadError, match=r"sheet 'Sheet1' as read\) is 49 rows x 21 columns"):
        read_survey(p, limits=ReadLimits(max_cells=500))
    assert len(read_survey(p, personal_data="ignore")) == 48      # within the bound it reads as before


def test_an_old_workbook_named_xlsx_is_read_as_xls(tmp_path, study):
    p = tmp_path / "export.xlsx"
    p.write_bytes((XLS / "handtyped.xls").read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        a = read_survey(XLS / "handtyped.xls", study=study)
        b = read_survey(p, study=study)
    pd.testing.assert_frame_equal(a, b)


def test_a_password_protected_workbook_says_so(tmp_path):
    # Excel stores a password-protected .xlsx as an OLE2 file with an EncryptedPackage stream; this
    # stand-in has the OLE2 signature and the stream's name in its directory, nothing readable
    from evalkit.io.xls import OLE2

    p = tmp_path / "locked.xlsx"
    p.write_bytes(OLE2 + b"\0" * 1016 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 2000)
    with pytest.raises(ReadError, match=r"locked\.xlsx: the workbook is protected by a password .* save it as \.xlsx"):
        read_survey(p)


def test_a_web_page_saved_as_xls_reads_as_the_workbook_it_was_exported_from(study):
    with pytest.warns(EvalkitWarning):
        a = read_survey(EXPORTS / "workbook" / "handtyped.xlsx", study=study)
    with pytest.warns(EvalkitWarning, match="table2"):
        b = read_survey(XLS / "handtyped_page.xls", study=study)
    assert b.attrs["header_row"] == 4 and list(b.index) == list(a.index)
    assert any("merged cells C5:C14" in n for n in b.attrs["notes"])
    ra, rb = validate(a, study=study), validate(b, study=study)      # the page's cells are text, typed by validate
    assert rb.n_rows == rb.n_valid + rb.n_quarantined == 10 and rb.n_quarantined == 0
    pd.testing.assert_frame_equal(ra.valid, rb.valid)


def test_a_gbk_office_page_with_spans(tmp_path, codebook):
    page = ("<html xmlns:x=\"urn:schemas-microsoft-com:office:excel\"><head><meta http-equiv=Content-Type "
            "content=\"text/html; charset=gb2312\"></head><body><table border=1>"
            "<tr><td colspan=3>和谐社区 居民调查 导出</td></tr>"
            "<tr><th>社区</th><th>性别</th><th>年龄</th></tr>"
            "<tr><td rowspan=2>和谐社区</td><td>男</td><td>20</td></tr>"
            "<tr><td>女&nbsp;</td><td>35</td></tr>"
            "<tr><td>文苑社区</td><td>女</td><td><font>41</font></td></tr></table></body></html>")
    p = tmp_path / "导出.xls"
    p.write_bytes(page.encode("gbk"))
    got = read_survey(p, personal_data="ignore")
    assert got.attrs["header_row"] == 2 and list(got.columns) == ["社区", "性别", "年龄"]
    assert got.values.tolist() == [["和谐社区", "男", "20"], ["和谐社区", "女", "35"], ["文苑社区", "女", "41"]]


def test_a_span_bomb_in_a_web_page_is_refused(tmp_path):
    p = tmp_path / "bomb.xls"
    p.write_bytes(b"<table>" + b"<tr><td colspan=1000000>x</td></tr>" * 50 + b"</table>")
    with pytest.raises(ReadError, match=r"bomb\.xls: the table \(table 'table1' of the web page, spans "
                                        r"included\)"):
        read_survey(p)


def test_tab_separated_text_named_xls_is_read_as_csv(tmp_path):
    p = tmp_path / "export.xls"
    p.write_bytes("编号\t社区\t性别\n1\t和谐社区\t男\n2\t文苑社区\t女\n".encode("gbk"))
    got = read_survey(p, personal_data="ignore")
    assert got.attrs["format"] == "csv" and got.attrs["encoding"] == "gb18030"
    assert got.attrs["notes"][0] == "export.xls is text (separated by '\\t'), not an Excel workbook: read as CSV"
    assert got.values.tolist() == [["1", "和谐社区", "男"], ["2", "文苑社区", "女"]]
    p.write_bytes("编号\t社区\n1\t和谐社区\n".encode("utf-16"))          # Excel's "Unicode text"
    got = read_survey(p, personal_data="ignore")
    assert got.attrs["encoding"] == "utf-16" and got.values.tolist() == [["1", "和谐社区"]]
