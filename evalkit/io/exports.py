"""Survey-platform exports, mapped through the codebook, ready for :func:`evalkit.validate`.

Three readers for the files evaluators actually receive:

* :func:`read_wjx` -- Excel downloaded from Chinese online-survey platforms (问卷星 / 腾讯问卷
  style): headers are numbered question texts ("1、您的年龄段"), answers are option numbers or
  option texts ("男", "非常同意", "不知道"), and skipped questions read "(跳过)" or "(空)";
* :func:`read_kobo` -- KoboToolbox / ODK CSV: semicolon-separated, ``group/question`` headers,
  select-multiple answers as space-separated choice codes plus one 0/1 column per choice, and
  submission metadata (``_uuid``, ``start``, ``deviceid`` ...);
* :func:`read_spss` -- SPSS ``.sav`` with value labels and user-missing values and ranges.

Each maps the export's columns to codebook names (``column_map`` plus automatic matching of
variable names and of the codebook's Chinese or English question text), turns option text into
the codebook's answer codes, keeps the spreadsheet row number as the index (header = row 1), and
returns text that :func:`evalkit.validate` checks: nothing is dropped or guessed, an answer that
cannot be mapped stays as it was, so validation quarantines its row and names row and column.
Only mapped columns are kept (the rest -- platform metadata, IP addresses, names -- are listed in
``attrs["unmapped"]``), and the kept columns go through the personal-data check of
:mod:`evalkit.io.privacy`.

:func:`to_wjx_excel` writes a survey table in the 问卷星 layout, for demonstrations and tests.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .._literals import OptionNumbers, WjxAnswers, check_choice
from ..spec.codebook import Codebook, Variable
from ..spec.study import resolve
from ..errors import ReadError

#: Cells that survey platforms write for a question the respondent skipped or left empty.
SKIPPED = ("(跳过)", "(空)", "（跳过）", "（空）", "-3")
_WJX_HEADER = re.compile(r"^\s*第?\s*(\d+)\s*题?\s*[、.．:：)）]\s*(.+)$")
_WJX_META = ("序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP", "总分")


def _norm(s) -> str:
    s = unicodedata.normalize("NFKC", str(s))
    s = re.sub(r"\s+", "", s)
    return s.strip("*？?。.:：!！").lower()


def _text(v) -> str | None:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return None
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    t = str(v).strip()
    return t or None


def _codebook(codebook, study, caller: str) -> tuple[Codebook, pd.DataFrame | None]:
    """The codebook (required) and registry (optional) given explicitly or through `study`."""
    return resolve(codebook, None, study, caller)


def _resolve(headers: Sequence[str], keys: Mapping[str, list[str]], column_map, codebook: Codebook,
             source: str) -> dict[str, str]:
    """{header: codebook name}: the explicit map first, then names and question texts."""
    variables = codebook.variables
    lookup: dict[str, list[str]] = {}
    for h in headers:
        for k in {h, _norm(h), *keys.get(h, [])}:
            lookup.setdefault(k, []).append(h)
    out: dict[str, str] = {}
    for k, target in (column_map or {}).items():
        hits = lookup.get(str(k)) or lookup.get(_norm(k)) or []
        hits = list(dict.fromkeys(hits))
        if not hits:
            raise ReadError(f"{source}: column_map key {k!r} matches no column of the export. Columns: "
                            f"{list(headers)[:12]}{' ...' if len(headers) > 12 else ''}.")
        if len(hits) > 1:
            raise ReadError(f"{source}: column_map key {k!r} matches several columns {hits}; use the "
                            "full header text as the key.")
        if target not in variables:
            raise ReadError(f"{source}: column_map maps {k!r} to {target!r}, which is not a codebook "
                            "variable. Use a name from the codebook (codebook.columns).")
        out[hits[0]] = target
    by_text: dict[str, list[str]] = {}
    for name, var in variables.items():
        for t in (name, _norm(name), _norm(var.label.zh), _norm(var.label.en)):
            by_text.setdefault(t, []).append(name)
    taken = set(out.values())
    for h in headers:
        if h in out:
            continue
        cands = set()
        for k in (h, _norm(h), *keys.get(h, [])):
            cands.update(by_text.get(k, []))
            cands.update(by_text.get(_norm(k), []))
        cands -= taken
        if len(cands) == 1:
            out[h] = cands.pop()
            taken.add(out[h])
    dup = pd.Series(list(out.values())).value_counts()
    dup = dup[dup > 1]
    if len(dup):
        name = dup.index[0]
        raise ReadError(f"{source}: columns {[h for h, v in out.items() if v == name]} all map to "
                        f"{name!r}; keep one in column_map.")
    return out


def _label_lookup(var: Variable, codebook: Codebook) -> dict[str, int]:
    lut: dict[str, int] = {}
    by_reason: dict[str, list] = {}
    for m in codebook.missing_codes.values():
        by_reason.setdefault(m.reason, []).append(m.label)
    for code, reason in var.missing_codes.items():
        for lab in by_reason.get(reason, []):
            lut[_norm(lab.zh)] = code
            lut[_norm(lab.en)] = code
    for code, lab in (var.codes or {}).items():
        lut[_norm(lab.zh)] = code
        lut[_norm(lab.en)] = code
    return lut


def _to_codes(values: pd.Series, var: Variable, codebook: Codebook,
              option_numbers: str = "codes", skipped: Sequence[str] = ()) -> pd.Series:
    """Option text -> answer code (as text); unknown text is kept for validate to flag."""
    lut = _label_lookup(var, codebook)
    order = sorted(var.codes) if var.codes else []

    def conv(v):
        t = _text(v)
        if t is None or t in skipped:
            return None
        if re.fullmatch(r"-?\d+(?:\.0+)?", t):
            if option_numbers == "order" and order:
                k = int(float(t))
                return str(order[k - 1]) if 1 <= k <= len(order) else t
            return t
        code = lut.get(_norm(t))
        return t if code is None else str(code)

    return values.map(conv).astype(object)


def _finish(raw: pd.DataFrame, mapping: dict[str, str], codebook: Codebook, fmt: str, *,
            option_numbers: str = "codes", skipped: Sequence[str] = (), allow: Sequence[str] = (), extra: dict | None = None,
            notes: list[str] | None = None, registry: pd.DataFrame | None = None) -> pd.DataFrame:
    from .privacy import check_personal_data

    source = str(raw.attrs.get("source", "<DataFrame>"))
    if not mapping:
        raise ReadError(f"{source}: no column of the export matches the codebook (by column_map, name "
                        "or question text). Pass column_map={export header or question number: "
                        "codebook name}.")
    cols = {}
    for h, name in mapping.items():
        var = codebook.variables[name]
        s = raw[h]
        if var.codes or var.missing_codes:
            cols[name] = _to_codes(s, var, codebook, option_numbers, skipped)
        else:
            cols[name] = s.map(lambda v: None if _text(v) in skipped else _text(v)).astype(object)
    cols.update(extra or {})
    order = [c for c in codebook.columns if c in cols]
    out = pd.DataFrame({c: cols[c] for c in order}, index=raw.index)
    out.index.name = "row"
    unmapped = [h for h in raw.columns if h not in mapping]
    out.attrs = {"source": source, "format": fmt,
                 "column_map": dict(mapping), "unmapped": unmapped, "notes": list(notes or [])}
    return check_personal_data(out, allow=allow, source=source, call=f"read_{fmt}(path, ...)",
                               codebook=codebook, registry=registry)


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


# --- KoboToolbox / ODK CSV ---------------------------------------------------------------------
def read_kobo(
    path: str | Path,
    column_map: Mapping[str, str] | None = None,
    codebook: Codebook | str | Path | None = None,
    *,
    select_multiple: Mapping[str, Mapping[str, str]] | None = None,
    sep: str = ";",
    allow: Sequence[str] = (),
    study=None,
) -> pd.DataFrame:
    """Read a KoboToolbox / ODK CSV export ("XML values and headers", semicolon-separated).

    Parameters
    ----------
    path
        The ``.csv`` as downloaded.
    column_map
        ``{header or last path segment: codebook name}``; headers whose last segment
        (``wellbeing/who5_1`` -> ``who5_1``) is a codebook name map automatically.
    select_multiple
        ``{question: {choice code: codebook item}}`` for select-multiple questions whose choices
        are codebook yes/no items: each item becomes 1 if its choice is among the space-separated
        codes, 0 if not, blank if the question is blank. The 0/1 columns Kobo adds per choice
        (``question/choice``) are checked against the list.
    codebook, study
        As :func:`read_wjx` (one of them is required).
    sep
        The separator (Kobo's default is ";").
    allow
        Codebook columns that the personal-data check should not examine.

    Returns
    -------
    DataFrame
        As :func:`read_wjx` (``format`` "kobo"); ``attrs["notes"]`` lists cells where a
        select-multiple answer and its 0/1 columns disagree.

    Notes
    -----
    A select-multiple cell with a choice not in the map, or whose 0/1 columns disagree with it,
    puts the cell's text (with the reason) into every item of that question in that row, so
    :func:`evalkit.validate` quarantines the row and names the row and column; nothing is
    guessed. Kobo metadata (``start``, ``end``, ``deviceid``, ``_uuid``, ``_submission_time``,
    ``_geolocation`` ...) is not kept.
    """
    from .read import read_survey

    codebook, registry = _codebook(codebook, study, "read_kobo()")
    raw = read_survey(path, sep=sep, personal_data="ignore")
    source = str(path)
    headers = [str(h) for h in raw.columns]
    select_multiple = {str(k): {str(c): v for c, v in m.items()} for k, m in (select_multiple or {}).items()}

    def last(h: str) -> str:
        return h.rsplit("/", 1)[-1]

    # the select-multiple questions and their 0/1 choice columns
    sm_cols: dict[str, str] = {}
    choice_cols: dict[str, dict[str, str]] = {}
    for q, choices in select_multiple.items():
        hits = [h for h in headers if h == q or last(h) == q]
        if len(hits) != 1:
            raise ReadError(f"{source}: select_multiple question {q!r} matches {len(hits)} columns "
                            f"({hits}); give its full header.")
        sm_cols[q] = hits[0]
        choice_cols[q] = {h[len(hits[0]) + 1:]: h for h in headers if h.startswith(hits[0] + "/")}
        bad = [v for v in choices.values() if v not in codebook.variables]
        if bad:
            raise ReadError(f"{source}: select_multiple maps {q!r} to {bad}, not codebook variables.")
    reserved = set(sm_cols.values()) | {h for d in choice_cols.values() for h in d.values()}
    rest = [h for h in headers if h not in reserved]
    keys = {h: [last(h), _norm(last(h))] for h in rest}
    mapping = _resolve(rest, keys, column_map, codebook, source)
    extra: dict[str, pd.Series] = {}
    notes: list[str] = []
    for q, choices in select_multiple.items():
        col = [_text(v) for v in raw[sm_cols[q]]]
        items = {name: [] for name in choices.values()}
        for row, cell in zip(raw.index, col):
            if cell is None:
                for name in items:
                    items[name].append(None)
                continue
            chosen = cell.split()
            problem = [c for c in chosen if c not in choices]
            why = f"{cell} (choice {', '.join(problem)} of {q!r} not in select_multiple)" if problem else ""
            for code, h in choice_cols[q].items():
                flag = _text(raw.at[row, h])
                if flag is not None and flag in ("0", "1") and (flag == "1") != (code in chosen):
                    why = f"{cell} (disagrees with the 0/1 column {h!r})"
                    notes.append(f"row {row}: {q!r} = {cell!r} but column {h!r} = {flag}")
                    break
            for code, name in choices.items():
                items[name].append(why if why else ("1" if code in chosen else "0"))
        for name, vals in items.items():
            if name in mapping.values():
                raise ReadError(f"{source}: {name!r} comes both from a column and from select_multiple {q!r}.")
            extra[name] = pd.Series(vals, index=raw.index, dtype=object)
    return _finish(raw, mapping, codebook, "kobo", allow=allow, extra=extra, notes=notes, registry=registry)


# --- SPSS .sav ----------------------------------------------------------------------------------
def read_spss(
    path: str | Path,
    column_map: Mapping[str, str] | None = None,
    codebook: Codebook | str | Path | None = None,
    *,
    missing_map: Mapping[float, int] | Mapping[str, Mapping[float, int]] | None = None,
    allow: Sequence[str] = (),
    study=None,
) -> pd.DataFrame:
    """Read an SPSS ``.sav`` file, recoding through its value labels and user-missing values.

    Parameters
    ----------
    path
        The ``.sav`` / ``.zsav`` file.
    column_map
        ``{SPSS variable name or variable label: codebook name}``; variables whose name, or whose
        variable label equals a codebook question text, map automatically.
    missing_map
        User-missing SPSS codes without a recognisable label, mapped to codebook missing codes:
        ``{-9: 98}`` for every variable or ``{"who5_1": {-9: 98}}`` per variable.
    codebook, study
        As :func:`read_wjx` (one of them is required).
    allow
        Codebook columns that the personal-data check should not examine.

    Returns
    -------
    DataFrame
        As :func:`read_wjx` (``format`` "sav"); ``attrs["recoded"]`` lists the variables whose
        SPSS codes were translated through their value labels.

    Notes
    -----
    For each mapped coded variable: when every SPSS value label of a valid answer equals a
    codebook answer label (Chinese or English) the SPSS codes are translated to the codebook
    codes (an SPSS file coding sex 0/1 = 男/女 becomes 1/2); otherwise the codes are kept as they
    are. A user-missing value (discrete or in a range) whose label names a missing reason
    (不知道/don't know, 拒绝回答/refused, 不适用/not applicable) becomes that codebook missing
    code, so :func:`evalkit.validate` keeps the reason; other user-missing values are mapped by
    `missing_map`, or kept, so validation flags them. System-missing values are blank.
    """
    from .read import read_survey

    codebook, registry = _codebook(codebook, study, "read_spss()")
    raw = read_survey(path, personal_data="ignore")
    source = str(path)
    labels_of = raw.attrs.get("value_labels", {})
    ranges_of = raw.attrs.get("missing_ranges", {})
    col_labels = raw.attrs.get("column_labels", {})
    keys = {h: [_norm(col_labels[h])] for h in raw.columns if col_labels.get(h)}
    mapping = _resolve(list(raw.columns), keys, column_map, codebook, source)
    per_var = {}
    if missing_map:
        if all(isinstance(v, Mapping) for v in missing_map.values()):
            per_var = {k: dict(v) for k, v in missing_map.items()}
        else:
            per_var = {"*": dict(missing_map)}
    conv_raw = raw.copy()
    recoded = []
    for h, name in mapping.items():
        var = codebook.variables[name]
        vlabels = {float(k): str(v) for k, v in (labels_of.get(h) or {}).items()}
        ranges = [(float(r["lo"]), float(r["hi"])) for r in (ranges_of.get(h) or [])]

        def is_user_missing(x):
            return any(lo <= x <= hi for lo, hi in ranges)

        table: dict[float, str] = {}
        lut = _label_lookup(var, codebook)
        valid_labels = {k: v for k, v in vlabels.items() if not is_user_missing(k)}
        if var.codes and valid_labels and all(_norm(v) in lut and lut[_norm(v)] in var.codes
                                              for v in valid_labels.values()):
            table.update({k: str(lut[_norm(v)]) for k, v in valid_labels.items()})
            if any(float(t) != k for k, t in table.items()):
                recoded.append(name)
        explicit = {**per_var.get("*", {}), **per_var.get(h, {}), **per_var.get(name, {})}
        for k, v in vlabels.items():
            if is_user_missing(k) and _norm(v) in lut and lut[_norm(v)] in var.missing_codes:
                table[k] = str(lut[_norm(v)])
        for k, v in explicit.items():
            table[float(k)] = str(int(v))

        def conv(x, table=table):
            if x is None or (isinstance(x, float) and np.isnan(x)):
                return None
            if isinstance(x, (int, float, np.number)):
                return table.get(float(x), _text(x))
            return _text(x)

        conv_raw[h] = raw[h].map(conv).astype(object)
    conv_raw.attrs = raw.attrs
    out = _finish(conv_raw, mapping, codebook, "sav", allow=allow, registry=registry)
    out.attrs["recoded"] = recoded
    return out


__all__ = ["read_wjx", "read_kobo", "read_spss", "to_wjx_excel", "SKIPPED"]
