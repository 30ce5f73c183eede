"""KoboToolbox / ODK exports: :func:`read_kobo`.

Reads what KoboToolbox's "Download data" page and ODK Central write:

* CSV (KoboToolbox separates with ``;`` by default, ODK Central and re-saved files with ``,``;
  the separator is sniffed from the header line) or XLSX (first sheet = the submissions; every
  other sheet is a repeat group, one row per repeat, linked by ``_parent_index`` -- each is
  reported in ``attrs["notes"]`` and ``attrs["repeat_groups"]``, not merged; read one with
  :func:`evalkit.io.kobo_repeat.read_kobo_repeat`, its rows carrying their submission's id,
  community and wave);
* "XML values and headers" (question *names*, choice *names*) or "Labels" (question and choice
  labels): both are matched to the codebook, names by name, labels by question text and answer
  label;
* group paths in the headers, ``group/question`` with KoboToolbox's default separator or any
  other single-character separator chosen on export (ODK Central writes ``group-question``):
  a header matches a codebook variable by its whole text or by any trailing part of its path;
* ``select_multiple`` as one column of space-separated choices, as one 0/1 column per choice
  (``question/choice``), or both (then they are cross-checked); an exclusive choice such as
  ``none`` (:data:`EXCLUSIVE`, or the names passed as ``exclusive=``) sets every item to 0;
* submission metadata (``_uuid``, ``_id``, ``start``, ``end``, ``deviceid``, ``meta/instanceID``
  ...) is not kept, except the submission time, kept as ``submitted`` (ISO text) and listed in
  ``attrs["meta"]``;
* an XLSForm (``xlsform=``: the form's ``survey`` and ``choices`` sheets) maps the form's choice
  names to the codebook's codes through their labels, so a form whose choice names are not the
  codebook's codes (``m``/``f``, or ``1``=女) still reads right.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..errors import EvalkitWarning, ReadError
from ..spec.codebook import Codebook
from .platform import _codebook, _finish, _label_lookup, _norm, _resolve, _text
from .privacy import PersonalDataPolicy, check_mapped

#: Metadata columns of KoboToolbox / ODK exports (matched on the last part of the header).
KOBO_META = frozenset({
    "start", "end", "today", "deviceid", "subscriberid", "simserial", "phonenumber", "username", "email",
    "audit", "_id", "_uuid", "_submission_time", "_validation_status", "_notes", "_status", "_submitted_by",
    "__version__", "_version_", "_version", "_tags", "_index", "instanceid", "instancename", "deprecatedid",
    "_attachments", "_geolocation", "_xform_id_string", "_parent_table_name", "_parent_index",
    "_submission__id", "_submission__uuid", "_submission__submission_time", "_submission__validation_status",
    "_submission__notes", "_submission__status", "_submission__submitted_by", "_submission___version__",
    "_submission__tags", "formhub/uuid", "uuid", "key", "submitterid", "submittername", "attachmentspresent",
    "attachmentsexpected", "reviewstate", "deviceid", "edits", "formversion", "submissiondate",
})
#: Headers holding the submission time, best first: the interview's end on the device (local time,
#: e.g. ``2017-06-01T09:20:00.000+08:00``), else the server's receipt (UTC; a phone that was
#: offline uploads days later, possibly in the next year).
SUBMITTED = ("end", "_submission_time", "submissiondate", "_submission__submission_time")
#: Choice names (and labels) that mean "none of these" in a select_multiple question.
EXCLUSIVE = ("none", "no_one", "nobody", "none_of_the_above", "none_of_above", "no", "以上都没有",
             "以上皆无", "以上均无", "都没有", "都不是", "无", "没有")
_SEPARATORS = "/-.:"
#: 0/1 column values as older KoboToolbox versions and spreadsheets write them.
_FLAGS = {"true": "1", "false": "0", "1.0": "1", "0.0": "0"}


def _last(h: str) -> str:
    """The last part of a group path (``"/"``, ``":"`` or ``"-"`` separated), stripped, lower case."""
    return re.split(r"[/:]|-(?=[^-]*$)", h.strip())[-1].strip().lower() if h else h


def _suffixes(h: str) -> list[str]:
    """Trailing parts of a group path, longest first: ``"a/b-c"`` -> ``["b-c", "c"]`` (for any separator)."""
    cuts = sorted({i + 1 for i, ch in enumerate(h) if ch in _SEPARATORS and 0 < i < len(h) - 1})
    return [h[i:] for i in cuts]


def _is_meta(h: str) -> bool:
    low = h.strip().lower()
    return low in KOBO_META or _last(low) in KOBO_META or low.startswith(("meta/", "meta-", "formhub/", "__"))


# --- XLSForm ------------------------------------------------------------------------------------
def xlsform_sheets(path: str | Path, *, require: Sequence[str] = ("survey", "choices"),
                   header: int | None = None) -> dict[str, pd.DataFrame]:
    """``{"survey": ..., "choices": ...}``: an XLSForm's sheets as text, read by evalkit's bounded
    readers (.xlsx and old .xls alike); a sheet named in ``require`` that is absent is a ReadError,
    another absent one is left out. ``header``: as :func:`evalkit.read_survey` (default: detected)."""
    from .read import read_survey
    from .workbook import sheet_names

    try:
        sheets = sheet_names(Path(path))
    except ReadError:
        raise
    except Exception as exc:  # damaged or not an Excel file
        raise ReadError(f"{path}: cannot open the XLSForm ({type(exc).__name__}: {exc}).") from None
    out = {}
    for want in ("survey", "choices"):
        hit = [s for s in sheets if s.strip().lower() == want]
        if not hit:
            if want in require:
                raise ReadError(f"{path}: an XLSForm needs a sheet named {want!r}; the sheets are {sheets}.")
            continue
        with warnings.catch_warnings():  # an XLSForm's settings sheet is not data
            warnings.simplefilter("ignore", EvalkitWarning)
            out[want] = read_survey(path, sheet=hit[0], personal_data="ignore",
                                    **({} if header is None else {"header": header}))
    return out


def read_xlsform(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``survey`` and ``choices`` sheets of an XLSForm as text (label columns: every ``label*``)."""
    sheets = xlsform_sheets(path)
    for t in sheets.values():
        t.columns = [str(c).strip().lower() for c in t.columns]
    survey, choices = sheets["survey"], sheets["choices"]
    if "list_name" not in choices.columns and "list name" in choices.columns:
        choices = choices.rename(columns={"list name": "list_name"})
    for what, t, need in (("survey", survey, ("type", "name")), ("choices", choices, ("list_name", "name"))):
        missing = [c for c in need if c not in t.columns]
        if missing:
            raise ReadError(f"{path}: the {what} sheet has no column {missing}; is it an XLSForm?")
    return survey, choices


def _labels_of(row: pd.Series) -> list[str]:
    return [str(v) for k, v in row.items() if str(k).startswith("label") and _text(v)]


def xlsform_tables(survey: pd.DataFrame, choices: pd.DataFrame) -> dict[str, dict]:
    """``{question name: {"type", "labels", "choices": {choice name: [labels]}}}`` of an XLSForm."""
    lists: dict[str, dict[str, list[str]]] = {}
    for _, row in choices.iterrows():
        ln, name = _text(row.get("list_name")), _text(row.get("name"))
        if ln and name:
            lists.setdefault(ln, {})[name] = _labels_of(row)
    out = {}
    for _, row in survey.iterrows():
        typ, name = (_text(row.get("type")) or ""), _text(row.get("name"))
        if not name:
            continue
        parts = typ.split()
        kind = parts[0] if parts else ""
        out[name] = {"type": kind, "labels": _labels_of(row),
                     "choices": lists.get(parts[1], {}) if kind in ("select_one", "select_multiple") and len(parts) > 1 else {}}
    return out


def _choice_codes(choices: Mapping[str, list[str]], var, codebook: Codebook) -> dict[str, str]:
    """{choice name or label: codebook code} for the choices whose label is a codebook answer label."""
    lut = _label_lookup(var, codebook)
    table = {}
    for name, labels in choices.items():
        code = next((lut[_norm(lab)] for lab in labels if _norm(lab) in lut), None)
        if code is None and _norm(name) in lut:
            code = lut[_norm(name)]
        if code is not None:
            table[name] = str(code)
            table.update({lab: str(code) for lab in labels})
    return table


# --- select_multiple ------------------------------------------------------------------------------
def _split_choices(cell: str, known: Sequence[str]) -> list[str]:
    """The choices of a select_multiple cell: space-separated names, or known labels (which may hold spaces)."""
    tokens = cell.split()
    if all(t in known for t in tokens):
        return tokens
    found, rest = [], cell
    for k in sorted(known, key=len, reverse=True):  # labels, longest first
        if k and k in rest:
            found.append(k)
            rest = rest.replace(k, " ")
    return found + rest.split()


def _select_multiple(raw: pd.DataFrame, q: str, header: str | None, choice_cols: dict[str, str],
                     choices: dict[str, str], exclusive: set[str], notes: list[str]) -> dict[str, pd.Series]:
    """The codebook 0/1 items of one select_multiple question, row by row."""
    items: dict[str, list] = {name: [] for name in dict.fromkeys(choices.values())}
    known = list(choices) + [c for c in choice_cols if c not in choices] + sorted(exclusive)
    for row in raw.index:
        cell = _text(raw.at[row, header]) if header else None
        flags = {c: _FLAGS.get(str(_text(raw.at[row, h])).lower(), _text(raw.at[row, h]))
                 for c, h in choice_cols.items()}
        if header is None:  # only the 0/1 columns were exported
            if all(v is None for v in flags.values()):
                cell = None
            else:
                cell = " ".join(c for c, v in flags.items() if v == "1")
                cell = cell if cell or any(v is not None for v in flags.values()) else None
        if cell is None:
            for name in items:
                items[name].append(None)
            continue
        chosen = _split_choices(cell, known)
        why = ""
        bad = [c for c in chosen if c not in choices and c not in exclusive]
        if bad:
            why = f"{cell} (choice {', '.join(bad)} of {q!r} not in select_multiple)"
        elif any(c in exclusive and c not in choices for c in chosen) and any(c in choices for c in chosen):
            why = f"{cell} (an exclusive choice of {q!r} ticked together with others)"
        for code, h in choice_cols.items():
            flag = flags[code]
            if header and flag in ("0", "1") and (flag == "1") != (code in chosen):
                why = f"{cell} (disagrees with the 0/1 column {h!r})"
                notes.append(f"row {row}: {q!r} and its 0/1 column {h!r} disagree")
                break
        for name in items:
            on = any(choices[c] == name for c in chosen if c in choices)
            items[name].append(why if why else ("1" if on else "0"))
    return {name: pd.Series(v, index=raw.index, dtype=object) for name, v in items.items()}


# --- the reader -----------------------------------------------------------------------------------
def _raw_sheets(path: Path, sep, sheet, limits) -> tuple[pd.DataFrame, list[str], dict]:
    """The submissions table and a note per further sheet (repeat groups)."""
    from .read import EXCEL_SUFFIXES, read_survey
    from .workbook import sheet_names

    if path.suffix.lower() not in EXCEL_SUFFIXES:
        return read_survey(path, sep=sep, personal_data="ignore", limits=limits), [], {}
    with warnings.catch_warnings():  # the other sheets are reported below, as repeat groups
        warnings.simplefilter("ignore", EvalkitWarning)
        raw = read_survey(path, sheet=sheet if sheet is not None else 0, personal_data="ignore", limits=limits)
    names = sheet_names(path)
    first = names[sheet] if isinstance(sheet, int) else (sheet if sheet is not None else names[0])
    notes, groups = [], {}
    for i, name in enumerate(names):
        if name == first:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EvalkitWarning)
                t = read_survey(path, sheet=name, personal_data="ignore", limits=limits)
            n, cols = len(t), [str(c) for c in t.columns]
        except ReadError:
            n, cols = 0, []
        link = "linked to the submissions by _parent_index" if "_parent_index" in cols else "not linked"
        groups[name] = {"rows": n, "columns": cols}
        notes.append(f"sheet {i + 1} {name!r} not read: a repeat group ({n} rows, {link}); read it with "
                     f"read_kobo_repeat(path, {name!r}, <its codebook>, study=...) (evalkit.io.kobo_repeat)")
    return raw, notes, groups


def read_kobo(
    path: str | Path,
    column_map: Mapping[str, str] | None = None,
    codebook: Codebook | str | Path | None = None,
    *,
    select_multiple: Mapping[str, Mapping[str, str]] | None = None,
    exclusive: Sequence[str] = EXCLUSIVE,
    xlsform: str | Path | None = None,
    sep: str | None = None,
    sheet: int | str | None = None,
    drop: Sequence[str] = (),
    allow: Sequence[str] = (),
    personal_data: PersonalDataPolicy = "refuse",
    study=None,
    limits=None,
) -> pd.DataFrame:
    """Read a KoboToolbox / ODK export (CSV or XLSX; XML values or labels) into codebook columns.

    Parameters
    ----------
    path
        The ``.csv`` or ``.xlsx`` as downloaded.
    column_map
        ``{header, or any trailing part of its group path: codebook name}``; headers whose
        trailing part (``wellbeing/who5_1`` -> ``who5_1``) is a codebook name or question text
        (Chinese or English), or whose XLSForm label is, map automatically.
    codebook, study
        The codebook (required, directly or through `study`); `study` also gives the registry
        (community names are not taken for personal names).
    select_multiple
        ``{question: {choice name (or label): codebook item}}`` for select_multiple questions
        whose choices are codebook yes/no items: an item is 1 if its choice was ticked, 0 if
        not, blank if the question is blank. Read from the space-separated column, from the 0/1
        columns (``question/choice``) when only those were exported, and cross-checked when both
        were.
    exclusive
        Choice names (or labels) meaning "none of these" (default :data:`EXCLUSIVE`: none,
        no_one, 以上都没有 ...): ticked alone, every item of the question is 0; ticked with
        another choice, the row is quarantined by :func:`evalkit.validate`.
    xlsform
        The form's XLSForm (``.xlsx`` with ``survey`` and ``choices`` sheets): question labels
        are matched to codebook question texts, and choice names translated to codebook codes
        through their labels (a choice whose label is no codebook answer is kept as exported,
        so validation flags it).
    sep, sheet
        CSV separator (default: sniffed, ``;`` or ``,``) and the submissions sheet of an XLSX
        (default: the first).
    drop, allow, personal_data
        As :func:`evalkit.read_survey`; names may be export headers or codebook names.

    Returns
    -------
    DataFrame
        Codebook columns as text, index = the spreadsheet row number; ``submitted`` (ISO text)
        when the export has a submission time. ``attrs``: ``source``, ``format`` ("kobo"),
        ``column_map``, ``unmapped``, ``notes`` (repeat-group sheets not read, choices not
        matched, 0/1 columns that disagree), ``meta``, ``personal_cells``, ``repeat_groups``.

    Notes
    -----
    Nothing is guessed: an answer that matches no codebook code or label, a choice not in
    `select_multiple`, or 0/1 columns contradicting the choice list stays as text, so
    :func:`evalkit.validate` quarantines the row and names row and column.
    """
    codebook, registry = _codebook(codebook, study, "read_kobo()")
    path = Path(path)
    raw, notes, groups = _raw_sheets(path, sep, sheet, limits)
    raw.attrs = {"source": str(path)}
    form = xlsform_tables(*read_xlsform(xlsform)) if xlsform is not None else {}
    out, submitted = convert_table(raw, codebook, registry, column_map=column_map, select_multiple=select_multiple,
                                   exclusive=exclusive, form=form, drop=drop, allow=allow,
                                   personal_data=personal_data, notes=notes, call="read_kobo(path, ...)")
    return _with_meta(out, submitted, groups)


def convert_table(raw: pd.DataFrame, codebook: Codebook, registry, *, column_map=None, select_multiple=None,
                  exclusive: Sequence[str] = EXCLUSIVE, form: Mapping | None = None, drop: Sequence[str] = (),
                  allow: Sequence[str] = (), personal_data: PersonalDataPolicy = "refuse",
                  notes: list[str] | None = None, call: str = "read_kobo(path, ...)",
                  keep: Sequence[str] = ()) -> tuple[pd.DataFrame, pd.Series | None]:
    """One Kobo table as read (``raw.attrs["source"]`` names it) in codebook columns, and its
    submission times: the body of :func:`read_kobo`, shared with
    :func:`evalkit.io.kobo_repeat.read_kobo_repeat` (a repeat group's sheet). Headers in `keep`
    (the linking columns of a repeat group) are neither mapped nor checked."""
    source = str(raw.attrs.get("source", "<DataFrame>"))
    notes = [] if notes is None else notes
    form = form or {}
    headers = [str(h) for h in raw.columns if str(h) not in set(keep)]
    # the submission time, then metadata out; drop= on export headers (codebook names after mapping)
    when = next((h for want in SUBMITTED for h in headers if _last(h.lower()) == want), None)
    submitted = raw[when].map(_iso) if when else None
    drop = [drop] if isinstance(drop, str) else list(drop)
    gone = {h for h in headers if h in drop or (_is_meta(h) and _last(h) not in codebook.variables)}
    keys = {h: _suffixes(h) for h in headers}
    for h in headers:
        for k in [h, *keys[h]]:
            if k in form:
                keys[h] = keys[h] + [_norm(lab) for lab in form[k]["labels"]]
                break
    # select_multiple questions and their 0/1 columns
    sm, sm_headers = _select_multiple_items(raw, headers, select_multiple or {}, form, exclusive, codebook,
                                            source, notes)
    rest = [h for h in headers if h not in gone and h not in sm_headers]
    mapping = _resolve(rest, keys, column_map, codebook, source)
    mapping = {h: n for h, n in mapping.items() if n not in drop}
    conv = raw.copy()
    for h, name in mapping.items():
        q = next((k for k in [h, *keys[h]] if k in form), None)
        var = codebook.variables[name]
        if q is not None and form[q]["choices"] and var.codes:
            table = _choice_codes(form[q]["choices"], var, codebook)
            unmatched = [c for c in form[q]["choices"] if c not in table]
            if unmatched:
                notes.append(f"{h!r}: XLSForm choice(s) {unmatched} have no codebook answer label; "
                             "rows choosing them are quarantined")
            conv[h] = raw[h].map(lambda v, t=table: t.get(_text(v), v) if _text(v) is not None else v)
    extra = {k: v for k, v in sm.items() if k not in drop}
    out = _finish(conv, mapping, codebook, "kobo", extra=extra, notes=notes, registry=registry,
                  personal_data="ignore")
    out = check_mapped(out, mapping=mapping, headers=headers, allow=allow, personal_data=personal_data,
                       source=source, call=call, codebook=codebook, registry=registry)
    return out, submitted


def _with_meta(out: pd.DataFrame, submitted: pd.Series | None, groups: dict) -> pd.DataFrame:
    attrs = dict(out.attrs)
    if submitted is not None:
        out = out.copy()
        out["submitted"] = submitted.reindex(out.index).astype(object)
        attrs["meta"] = list(attrs.get("meta", [])) + ["submitted"]
    attrs["repeat_groups"] = groups
    out.attrs = attrs
    return out


def _iso(v) -> str | None:
    """A submission time as ISO text (``2017-06-03T10:21:07``, the wall-clock time of its own time
    zone when it has one); unparseable text kept as it was."""
    t = _text(v)
    if t is None:
        return None
    try:
        ts = pd.Timestamp(t)
    except (ValueError, TypeError):
        return t
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.isoformat()


def _choice_columns(headers: Sequence[str], bases: Sequence[str]) -> dict[str, str]:
    """{choice: header} of the 0/1 columns ``<group path><base><sep><choice>`` of a question."""
    cols: dict[str, str] = {}
    for h in headers:
        for base in bases:
            for s in _SEPARATORS:
                i = h.find(base + s)
                if i < 0 or (i > 0 and h[i - 1] not in _SEPARATORS):
                    continue
                choice = h[i + len(base) + 1:]
                if choice:
                    cols.setdefault(choice, h)
    return cols


def _select_multiple_items(raw, headers, select_multiple, form, exclusive, codebook, source, notes):
    """The codebook items of every select_multiple question, and the headers they consumed."""
    out: dict[str, pd.Series] = {}
    used: set[str] = set()
    for q, choices in select_multiple.items():
        q = str(q)
        hits = [h for h in headers if h == q or q in _suffixes(h)]
        hits = [h for h in hits if not any(h.startswith(o + s) for o in hits if o != h for s in _SEPARATORS)]
        labels = form.get(q, {}).get("labels", [])
        if not hits and labels:
            hits = [h for h in headers if any(_norm(h) == _norm(lab) or _norm(lab) in map(_norm, _suffixes(h))
                                              for lab in labels)]
        prefix = hits[0] if len(hits) == 1 else None
        choice_cols = _choice_columns(headers, [prefix] if prefix else [q, *labels])
        if len(hits) > 1 or (not hits and not choice_cols):
            raise ReadError(f"{source}: select_multiple question {q!r} matches {len(hits)} columns ({hits[:5]}); "
                            "give its full header as exported.")
        aliases = {}
        for name, labs in form.get(q, {}).get("choices", {}).items():
            aliases.update({lab: name for lab in labs})
        choices = {str(c): v for c, v in choices.items()}
        choices.update({lab: choices[name] for lab, name in aliases.items() if name in choices})
        bad = sorted({v for v in choices.values() if v not in codebook.variables})
        if bad:
            raise ReadError(f"{source}: select_multiple maps {q!r} to {bad}, not codebook variables.")
        excl = set(map(str, exclusive)) | {lab for lab, name in aliases.items() if name in set(map(str, exclusive))}
        out.update(_select_multiple(raw, q, prefix, choice_cols, choices, excl, notes))
        used.update(([prefix] if prefix else []) + list(choice_cols.values()))
    return out, used


__all__ = ["read_kobo", "read_xlsform", "xlsform_tables", "convert_table", "KOBO_META", "EXCLUSIVE"]
