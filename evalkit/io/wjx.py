"""问卷星 / 腾讯问卷 Excel downloads: :func:`read_wjx`, and :func:`to_wjx_excel` for demonstrations and tests.

Headers are numbered question texts ("1、您的年龄段"), answers are option numbers or option texts
("男", "非常同意", "不知道"), and skipped questions read "(跳过)" or "(空)".
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .._literals import OptionNumbers, WjxAnswers, check_choice
from ..spec.codebook import Codebook

from .platform import SKIPPED, _WJX_HEADER, _norm, _text, _codebook, _resolve, _finish


# --- 问卷星 / 腾讯问卷 Excel ----------------------------------------------------------------
def read_wjx(
    path: str | Path,
    column_map: Mapping[str | int, str] | None = None,
    codebook: Codebook | str | Path | None = None,
    *,
    sheet=None,
    option_numbers: OptionNumbers = "codes",
    allow: Sequence[str] = (),
    study=None,
) -> pd.DataFrame:
    """Read an Excel export of a Chinese online-survey platform (问卷星 / 腾讯问卷 layout).

    Parameters
    ----------
    path
        ``.xlsx`` (or ``.csv``) as downloaded, headers in row 1.
    column_map
        ``{key: codebook name}``; a key is the full header ("3、您的性别"), the question number
        (3 or "3") or the question text ("您的性别"). Headers not in the map are matched
        automatically when the header or question text equals a codebook name or its Chinese or
        English question text.
    codebook, study
        The survey's codebook (a :class:`~evalkit.spec.codebook.Codebook` or the path of its
        YAML file), or a :class:`~evalkit.spec.study.Study` holding it (and the registry, whose
        community names the personal-data check then does not take for personal names).
    option_numbers
        How numeric answers are read: ``"codes"`` (the platform's option values were set to the
        codebook's codes; they are kept) or ``"order"`` (option k is the k-th smallest code of the
        item, the platform's default numbering 1, 2, 3 ...).
    allow
        Codebook columns that the personal-data check should not examine.

    Returns
    -------
    DataFrame
        One column per mapped codebook variable (codebook order), answers as text codes, index =
        spreadsheet row. ``attrs``: ``source``, ``format`` ("wjx"), ``column_map`` (header ->
        name, as resolved), ``unmapped`` (headers left out: 序号, 提交答卷时间, 来自IP ...).

    Raises
    ------
    ReadError
        The file cannot be read, a ``column_map`` key matches no header or several, two headers
        map to one variable, or nothing maps.
    PersonalDataError
        A kept column looks like personal data.

    Notes
    -----
    Option text is matched to the codebook's Chinese and English answer labels (and the labels
    of the missing-value codes: 不知道 -> 97, 拒绝回答 -> 98, 不适用 -> 99) after Unicode NFKC
    normalisation, ignoring spaces and trailing punctuation. "(跳过)", "(空)" and -3 (the
    platform's marks for a skipped question) become blank. Text that matches no label is kept
    as it is, so :func:`evalkit.validate` quarantines the row and names the cell.
    """
    from .read import read_survey

    check_choice(option_numbers, OptionNumbers, "option_numbers")
    codebook, registry = _codebook(codebook, study, "read_wjx()")
    raw = read_survey(path, sheet=sheet, personal_data="ignore")
    keys: dict[str, list[str]] = {}
    for h in raw.columns:
        m = _WJX_HEADER.match(str(h))
        if m:
            keys[h] = [m.group(1), _norm(m.group(2))]
    mapping = _resolve(list(raw.columns), keys, {str(k): v for k, v in (column_map or {}).items()},
                       codebook, str(path))
    return _finish(raw, mapping, codebook, "wjx", option_numbers=option_numbers, skipped=SKIPPED,
                   allow=allow, registry=registry)


def to_wjx_excel(
    df: pd.DataFrame,
    path: str | Path,
    codebook: Codebook | str | Path | None = None,
    *,
    answers: WjxAnswers = "text",
    study=None,
) -> Path:
    """Write a survey table as a 问卷星-style Excel export (for demonstrations and tests).

    Headers are ``"<n>、<Chinese question text>"`` after the platform's metadata columns 序号,
    提交答卷时间 and 所用时间; coded answers are written as their Chinese option text
    (``answers="text"``) or as codes (``"number"``); missing-value codes as their label
    (不知道, 拒绝回答, 不适用) in text mode; blanks as "(跳过)". :func:`read_wjx` reads it back.
    The codebook is given as `codebook` or through `study` (one of them is required).
    """
    check_choice(answers, WjxAnswers, "answers")
    codebook, _ = _codebook(codebook, study, "to_wjx_excel()")
    cols = [c for c in df.columns if c in codebook.variables]
    reasons = {m.reason: m.label.zh for m in codebook.missing_codes.values()}
    out = {"序号": np.arange(1, len(df) + 1),
           "提交答卷时间": pd.Timestamp("2017-06-01 09:00:00") + pd.to_timedelta(np.arange(len(df)) * 7, unit="min"),
           "所用时间": [f"{200 + (i * 37) % 300}秒" for i in range(len(df))]}
    for i, c in enumerate(cols, start=1):
        var = codebook.variables[c]

        def conv(v, var=var):
            t = _text(v)
            if t is None:
                return "(跳过)"
            if answers == "text":
                try:
                    code = int(float(t))
                except ValueError:
                    return t
                if float(t) != code:
                    return t
                if var.codes and code in var.codes:
                    return var.codes[code].zh
                if code in var.missing_codes:
                    return reasons.get(var.missing_codes[code], t)
            return t

        out[f"{i}、{var.label.zh}"] = [conv(v) for v in df[c]]
    path = Path(path)
    _write_xlsx_reproducibly(pd.DataFrame(out), path)
    return path


def _as_text_cells(book) -> None:
    """Store every cell openpyxl took for a formula (a string starting with ``=``) as text.

    openpyxl writes a string beginning with ``=`` as a live formula, so an id such as
    ``=HYPERLINK("http://...", "点击查看详情")`` would run when the file is opened. Setting the cell's
    ``data_type`` to ``"s"`` stores the same string as a shared string: Excel shows it and does
    not evaluate it, and :func:`read_wjx` (openpyxl / pandas) reads back exactly the string that
    was written. Strings starting with ``+ - @``, a tab or a carriage return are already text
    cells in .xlsx (only CSV imports evaluate those). evalkit writes no formulas of its own.
    """
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"


def _write_xlsx_reproducibly(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` to .xlsx so that the same frame always gives the same bytes.

    openpyxl stamps the save time into ``docProps/core.xml`` and into every zip entry; both are
    replaced by a fixed time (the survey's 2017 fieldwork), so the file's checksum in
    ``data/MANIFEST.sha256`` only changes when its content does. Every string is stored as a
    text cell (:func:`_as_text_cells`), never as a formula.
    """
    import io
    import re
    import zipfile

    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        frame.to_excel(writer, index=False)
        _as_text_cells(writer.book)
    stamp = "2017-06-01T00:00:00Z"
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                              rb"\g<1>" + stamp.encode() + rb"\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(2017, 6, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, data)



__all__ = ["read_wjx", "to_wjx_excel"]
