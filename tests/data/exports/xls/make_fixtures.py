"""Write the old-format (.xls) fixtures of tests/test_xls.py.

Provenance: the .xls files here were written from an .xlsx twin by LibreOffice Calc 7.4.7 (Debian 12
package ``libreoffice-calc-nogui``, ``soffice --headless --convert-to 'xls:MS Excel 97'``, BIFF8),
except the two named below:

* ``handtyped.xls``, ``wjx_text.xls``, ``wjx_number.xls``, ``kobo_labels.xls``, ``form.xls``: the
  committed .xlsx fixtures of tests/data/exports/{workbook,wjx,kobo}/ converted as they are;
* ``types.xls`` / ``types.xlsx`` and ``types1904.xls`` / ``types1904.xlsx``: written below by openpyxl
  (dates, date-times, a time of day, whole and fractional numbers, booleans, an error formula
  result, Chinese text, a merged range), in the 1900 and the 1904 date system.

``handtyped_page.xls`` is not an Excel file: it is ``handtyped.xlsx`` exported by the same LibreOffice
as a web page (``--convert-to html``: one ``<table>`` per sheet, ``colspan``/``rowspan`` for merged
cells) and named ``.xls``, as many office systems "export to Excel".

``types_biff7_gbk.xls`` is ``types.xlsx`` as Excel 5.0/95 (BIFF7: text in a code page, not UTF-16)
with code page 936 (GBK), written by Gnumeric 1.12.55 (Debian 12 package ``gnumeric``:
``ssconvert --export-type=Gnumeric_Excel:excel_biff7`` under the locale ``zh_CN.GBK``, made with
``localedef -i zh_CN -f GBK zh_CN.GBK``); LibreOffice 7.4 no longer writes BIFF5/7 (its
``MS Excel 95`` export fails).

No Python package writes .xls any more (xlwt is unmaintained since 2017), so the fixtures are
committed and the tests compare each with its .xlsx twin cell by cell. LibreOffice is not needed
to run the tests; to regenerate: ``apt-get install libreoffice-calc-nogui gnumeric``, the
``zh_CN.GBK`` locale as above, then
``.venv/bin/python tests/data/exports/xls/make_fixtures.py``.
"""
import datetime as dt
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPORTS = HERE.parent
TWINS = {"handtyped": "workbook", "wjx_text": "wjx", "wjx_number": "wjx", "kobo_labels": "kobo", "form": "kobo"}


def types_workbook(path: Path, epoch1904: bool) -> None:
    import openpyxl
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    wb = openpyxl.Workbook()
    if epoch1904:
        wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    ws.title = "类型"
    ws.append(["社区调查 2017（东营）"])
    ws.merge_cells("A1:F1")
    ws.append(["编号", "填写日期", "提交时间", "时刻", "分数", "是否同意", "备注"])
    rows = [
        (1, dt.datetime(2017, 6, 1), dt.datetime(2017, 6, 1, 9, 20, 5), dt.time(9, 20), 3.5, True, "和谐社区"),
        (2, dt.datetime(2016, 2, 29), dt.datetime(2016, 2, 29, 23, 59, 59), dt.time(23, 59, 59), 4, False, "邻里互助"),
        (3, dt.datetime(1999, 12, 31), dt.datetime(2000, 1, 1, 0, 0, 1), dt.time(0, 0, 1), -2.25, True, None),
    ]
    for r in rows:
        ws.append(list(r))
    ws.append([4, None, None, None, "=1/0", None, "错误单元格"])
    for row in ws.iter_rows(min_row=3, min_col=2, max_col=4):
        row[0].number_format = "yyyy-mm-dd"
        row[1].number_format = "yyyy-mm-dd hh:mm:ss"
        row[2].number_format = "hh:mm:ss"
    wb.save(path)


def convert(sources: list[Path], out: Path) -> None:
    subprocess.run(["soffice", "--headless", "--norestore", "--convert-to", "xls:MS Excel 97", "--outdir", str(out),
                    *map(str, sources)], check=True, capture_output=True, timeout=300)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = []
        for name, folder in TWINS.items():
            shutil.copy(EXPORTS / folder / f"{name}.xlsx", tmp / f"{name}.xlsx")
            sources.append(tmp / f"{name}.xlsx")
        for name, epoch in (("types", False), ("types1904", True)):
            types_workbook(HERE / f"{name}.xlsx", epoch)
            sources.append(HERE / f"{name}.xlsx")
        convert(sources, HERE)
        subprocess.run(["soffice", "--headless", "--norestore", "--convert-to", "html", "--outdir", str(tmp),
                        str(tmp / "handtyped.xlsx")], check=True, capture_output=True, timeout=300)
        shutil.copy(tmp / "handtyped.html", HERE / "handtyped_page.xls")
        subprocess.run(["ssconvert", "--export-type=Gnumeric_Excel:excel_biff7", str(HERE / "types.xlsx"),
                        str(HERE / "types_biff7_gbk.xls")], check=True, capture_output=True, timeout=300,
                       env={**os.environ, "LC_ALL": "zh_CN.GBK", "LANG": "zh_CN.GBK"})


if __name__ == "__main__":
    main()
