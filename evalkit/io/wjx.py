"""问卷星 / 腾讯问卷 downloads: :func:`read_wjx`, :func:`wjx_option_map`, and :func:`to_wjx_excel`
for demonstrations and tests.

A 问卷星 download ("按文本下载" or "按选项序号下载", Excel or CSV) has the platform's columns 序号,
提交答卷时间 ("2017/6/3 10:21:07"), 所用时间 ("125秒"), 来源, 来源详情, 来自IP, then one column per
question headed by its number and text ("1、您的性别："); a matrix question has one column per row
("7、(社区为老服务)" or "7(社区为老服务)"); a multiple-choice question is one column of option texts
joined by "┋" (text download) or one 0/1 column per option ("9(文体活动)", option-number
download); a filled-in "其他" reads "其他〖...〗"; a skipped question "(跳过)", "(空)" or -3.

Every parameter of :func:`read_wjx` fits in a study file::

    read_wjx("data/raw/问卷星_按序号.xlsx", study=study,
             option_map={15: ["所有时间", "大部分时间", "一半以上时间", "一半以下时间", "偶尔", "从未"]},
             select_multiple={20: {"社区组织的活动": "part_any", "志愿服务": "vol_any", "其他": ""}},
             drop=["来自IP"])
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .._literals import OptionNumbers, WjxAnswers, check_choice
from ..errors import ReadError
from ..spec.codebook import Codebook

from .platform import SKIPPED, _codebook, _drop_fill_in, _finish, _norm, _number_text, _resolve, _text
from .wjx_parse import (option_maps, parse_header, select_multiple as select_multiple_items,
                        submitted_column)


#: 问卷星's marks for a question not answered: "(跳过)" / "(空)" in text downloads, -3 (skipped by the
#: questionnaire's jump logic) and -2 (not shown) in option-number downloads.
WJX_SKIPPED = (*SKIPPED, "-2")


# --- 问卷星 / 腾讯问卷 downloads --------------------------------------------------------------------
def read_wjx(
    path: str | Path,
    column_map: Mapping[str | int, str] | None = None,
    codebook: Codebook | str | Path | None = None,
    *,
    sheet=None,
    option_numbers: OptionNumbers | None = None,
    option_map: Mapping | None = None,
    select_multiple: Mapping | None = None,
    drop: Sequence[str | int] = (),
    allow: Sequence[str] = (),
    personal_data: str = "refuse",
    study=None,
) -> pd.DataFrame:
    """Read a 问卷星 (or 腾讯问卷) download, text or option numbers, Excel or CSV.

    Parameters
    ----------
    path
        ``.xlsx`` / ``.xls`` / ``.csv`` as downloaded ("按文本下载" or "按选项序号下载"), headers in row 1.
    column_map
        ``{key: codebook name}``; a key is the full header ("3、您的性别"), the question number
        (3 or "3"), the question text ("您的性别") or a matrix row ("7(社区为老服务)"). Headers not in
        the map are matched automatically when their question text -- or, for a matrix row, the
        row's text in brackets -- equals a codebook name or its Chinese or English question text
        (compared without regard to width, dashes, tildes, spaces and punctuation).
    codebook, study
        The survey's codebook (a :class:`~evalkit.spec.codebook.Codebook` or the path of its
        YAML file), or a :class:`~evalkit.spec.study.Study` holding it (and the registry, whose
        community names the personal-data check then does not take for personal names).
    option_numbers
        ``None`` (default): option texts are matched to the codebook's labels; a coded question
        holding option numbers needs an `option_map` entry, else the file is refused with the
        list of such questions. ``"codes"``: numbers are the codebook's codes (the questionnaire's
        option values were set to them, or a "按分数下载" whose scores are the codes). ``"order"`` is
        refused: option order is not code order.
    option_map
        For option-number downloads: ``{question number or codebook name: [option texts in
        questionnaire order]}`` or ``{...: {option number: code or option text}}``. A question
        number covers every row of a matrix question. Draft it with :func:`wjx_option_map` from
        the text download of the same answers, or copy the option lists from the questionnaire.
    select_multiple
        ``{question number: {option text: codebook yes/no item}}`` for multiple-choice questions,
        read from the "┋"-joined text column or the 0/1 column per option ("9(文体活动)").
        Several options may tick one item; an option mapped to ``None`` is an exclusive "none of
        these" (以上都没有 and the like are known without mapping) that sets every item to "no";
        ``""`` marks an option that ticks no item (其他).
    drop
        Export headers, question numbers or codebook names removed before any check (personal
        data the analysis does not need). A name matching nothing is an error.
    allow, personal_data
        As :func:`evalkit.read_survey` (:func:`evalkit.io.privacy.check_personal_data`):
        ``allow`` names kept columns that are not personal data (still scanned cell by cell for
        phone and ID numbers); ``personal_data="refuse"`` refuses a column that is personal data,
        ``"quarantine"`` removes it, ``"ignore"`` skips the check. A stray phone or ID number in
        an answer is blanked and listed in ``attrs["personal_cells"]``, so :func:`evalkit.validate`
        quarantines its row.

    Returns
    -------
    DataFrame
        One column per mapped codebook variable (codebook order), answers as text codes, then
        ``submitted`` (the submission time as ISO text, when the download has 提交答卷时间),
        index = spreadsheet row. ``attrs``: ``source``, ``format`` ("wjx"), ``column_map`` (header
        -> name, as resolved), ``unmapped`` (headers left out: 序号, 提交答卷时间, 来自IP ...),
        ``meta`` (["submitted"]), ``option_map`` (header -> {option number: code}), ``notes``,
        ``read_problems`` (``row, column, rule, message`` records of multiple-choice answers that
        cannot be coded; :func:`evalkit.validate` quarantines their rows).

    Raises
    ------
    ReadError
        The file cannot be read; a ``column_map``, ``option_map``, ``select_multiple`` or
        ``drop`` key matches nothing; an option map names a text or code the codebook does not
        have; option numbers without a map; two headers map to one variable; nothing maps.
    PersonalDataError
        A kept column is personal data (the message's remedy, ``read_wjx(..., drop=[...])`` or
        ``allow=[...]``, works as written).

    Notes
    -----
    Option text is matched to the codebook's Chinese and English answer labels (and the labels
    of the missing-value codes: 不知道 -> 97, 拒绝回答 -> 98, 不适用 -> 99) after Unicode NFKC
    normalisation, with every dash read as "-" and every tilde as "~", ignoring spaces and
    punctuation ("1-2次" is "1–2次"); full-width digits are digits ("７９" is 79). "(跳过)", "(空)"
    and -3 become blank; a "其他〖...〗" fill-in is not kept. Text that matches no label is kept as
    it is, so :func:`evalkit.validate` quarantines the row and lists the valid answers.

    """
    from .read import read_survey

    codebook, registry = _codebook(codebook, study, "read_wjx()")
    option_numbers = _option_numbers(option_numbers)
    raw = read_survey(path, sheet=sheet, personal_data="ignore")
    source = str(path)
    gone, late_drop = _split_drop(raw.columns, drop)
    column_map = {k: v for k, v in (column_map or {}).items() if not (_split_drop(gone, [k])[0])}
    raw = raw[[h for h in raw.columns if h not in gone]]
    headers = [parse_header(h) for h in raw.columns]
    extra, used, notes, problems = select_multiple_items(raw, select_multiple, headers, codebook, WJX_SKIPPED, source)
    rest = [h for h in headers if h.text not in used]  # platform columns (序号) map only by column_map or label
    mapping = _resolve([h.text for h in rest], {h.text: h.keys() for h in rest},
                       {str(k): v for k, v in (column_map or {}).items()}, codebook, source)
    maps = option_maps(option_map, rest, mapping, codebook, source)
    _, submitted, sub_notes = submitted_column(raw)
    out = _finish(raw, mapping, codebook, "wjx", option_numbers=option_numbers, skipped=WJX_SKIPPED,
                  allow=_allowed_names(allow, rest, mapping),
                  extra=extra, notes=notes + sub_notes, registry=registry, option_maps=maps,
                  drop=late_drop, personal_data=personal_data,
                  meta={"submitted": submitted} if submitted is not None else None,
                  refuse_numbers="Pass option_map={question number: [option texts in questionnaire order]} "
                  "(draft it with evalkit.io.wjx.wjx_option_map(text_download, number_download) or from the "
                  "questionnaire), or option_numbers=\"codes\" if the questionnaire's option values were set "
                  "to the codebook's codes.")
    out.attrs["option_map"] = {h: dict(m) for h, m in maps.items()}
    out.attrs["read_problems"] = [p for p in problems if p["row"] in out.index]
    return out


def wjx_option_map(
    text_download: str | Path,
    number_download: str | Path,
    *,
    sheet=None,
    id_column: str = "序号",
) -> dict[int, dict[int, str]]:
    """Draft the `option_map` of an option-number download from the text download of the same answers.

    Parameters
    ----------
    text_download, number_download
        The two downloads of one 问卷星 survey ("按文本下载" and "按选项序号下载"), Excel or CSV.
    sheet
        The sheet of both workbooks (default: the first).
    id_column
        The column pairing the respondents of the two files (问卷星's 序号).

    Returns
    -------
    dict
        ``{question number: {option number: option text}}`` for every question whose cells are
        option numbers in one file and option texts in the other (rows of a matrix question
        share one list), ready for ``read_wjx(number_download, option_map=...)``. Only options
        somebody chose appear: check the lists against the questionnaire and add the others.

    Raises
    ------
    ReadError
        A file lacks `id_column` or repeats an id; the files share no respondent; or the pairing
        is inconsistent: one option number read as two texts, or two numbers as one text, within
        a question (the message names the question, the numbers, texts and an id).
    """
    from .read import read_survey

    frames = []
    for p in (text_download, number_download):
        f = read_survey(p, sheet=sheet, personal_data="ignore")
        if id_column not in f.columns:
            raise ReadError(f"{p}: no column {id_column!r} to pair the respondents of the two downloads; "
                            f"name the column that identifies them: wjx_option_map(..., id_column=...).")
        ids = f[id_column].map(_text)
        if ids.duplicated().any() or ids.isna().any():
            raise ReadError(f"{p}: column {id_column!r} is blank or repeated (e.g. row "
                            f"{f.index[(ids.duplicated() | ids.isna()).to_numpy()][0]}); it cannot pair respondents.")
        frames.append(f.set_axis(ids.to_numpy(), axis=0))
    text, nums = frames
    common = [i for i in nums.index if i in set(text.index)]
    if not common:
        raise ReadError(f"{text_download} and {number_download}: no {id_column} in common; they are not "
                        "downloads of the same answers.")
    text_cols = {_norm(h): h for h in text.columns}
    out: dict[str, dict[str, str]] = {}
    seen: dict[tuple[str, str], str] = {}
    for hn in nums.columns:
        head = parse_header(hn)
        ht = text_cols.get(_norm(hn))
        if head.number is None or ht is None or str(hn) == id_column:
            continue
        pairs = []
        for i in common:
            a, b = _text(nums.at[i, hn]), _text(text.at[i, ht])
            if a is None or b is None or a in WJX_SKIPPED or b in WJX_SKIPPED:
                continue
            num = _number_text(_drop_fill_in(a))
            if num is None:
                pairs = []
                break  # not an option-number column (a text answer)
            pairs.append((num, _drop_fill_in(b), i))
        if not pairs or all(_norm(n) == _norm(b) for n, b, _ in pairs):
            continue  # a number question (age): the same in both
        m = out.setdefault(head.number, {})
        for num, b, i in pairs:
            if num in m and _norm(m[num]) != _norm(b):
                raise ReadError(f"{number_download}: question {head.number}, option {num} is {m[num]!r} for one "
                                f"respondent and {b!r} for {id_column} {i} ({hn!r}); the downloads do not "
                                "match. Download both again from the same survey.")
            other = seen.get((head.number, _norm(b)))
            if other is not None and other != num:
                raise ReadError(f"{number_download}: question {head.number}: option text {b!r} has the numbers "
                                f"{other} and {num} ({id_column} {i}, {hn!r}); the downloads do not match.")
            m[num] = b
            seen[(head.number, _norm(b))] = num
    return {int(q): {int(float(n)): t for n, t in sorted(m.items(), key=lambda kv: float(kv[0]))}
            for q, m in sorted(out.items(), key=lambda kv: int(kv[0]))}


def _option_numbers(option_numbers):
    if option_numbers == "order":
        raise ReadError(
            "read_wjx(option_numbers=\"order\") is gone: it took option k for the k-th smallest code, which "
            "reverses every question whose options are listed from high to low (WHO-5 所有时间 -> 从未, "
            "是 before 否). Pass option_map={question number: [option texts in questionnaire order]} "
            "(draft it with evalkit.io.wjx.wjx_option_map(text_download, number_download)), or "
            "option_numbers=\"codes\" if the numbers are the codebook's codes.")
    if option_numbers is not None:
        check_choice(option_numbers, OptionNumbers, "option_numbers")
    return option_numbers


def _allowed_names(allow, headers, mapping) -> list[str]:
    """`allow` as codebook names: an export header or question number names its mapped variables."""
    allow = [allow] if isinstance(allow, (str, int)) else list(allow or ())
    out = []
    for a in allow:
        k = str(a).strip()
        hits = [mapping[h.text] for h in headers if h.text in mapping and (h.text == k or h.number == k)]
        out.extend(hits or [k])
    return list(dict.fromkeys(out))


def _split_drop(columns, drop) -> tuple[set, list]:
    """(export headers to remove now, names left for after mapping: codebook names)."""
    drop = [drop] if isinstance(drop, (str, int)) else list(drop or ())
    gone: set = set()
    later = []
    for d in drop:
        k = str(d).strip()
        hits = [h for h in columns if str(h) == k or _norm(h) == _norm(k)
                or parse_header(h).number == k or (parse_header(h).rest and _norm(parse_header(h).rest) == _norm(k))]
        if hits:
            gone.update(hits)
        else:
            later.append(k)
    return gone, later


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



__all__ = ["read_wjx", "wjx_option_map", "to_wjx_excel"]
