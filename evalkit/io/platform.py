"""What the platform readers share: header matching, option text to codes, the finishing step.

:mod:`evalkit.io.wjx` (问卷星 / 腾讯问卷), :mod:`evalkit.io.kobo` (KoboToolbox / ODK) and
:mod:`evalkit.io.spss` (SPSS ``.sav``) map an export's columns to codebook names (``column_map``
plus automatic matching of variable names and of the codebook's Chinese or English question text),
turn option text into the codebook's answer codes, keep the spreadsheet row number as the index
(header = row 1), and return text that :func:`evalkit.validate` checks: nothing is dropped or
guessed, an answer that cannot be mapped stays as it was, so validation quarantines its row and
names row and column. Only mapped columns are kept (the rest -- platform metadata, IP addresses,
names -- are listed in ``attrs["unmapped"]``), and the kept columns go through the personal-data
check of :mod:`evalkit.io.privacy`.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..spec.codebook import Codebook, Variable
from ..spec.study import resolve
from ..errors import ReadError

#: Cells that survey platforms write for a question the respondent skipped or left empty.
SKIPPED = ("(跳过)", "(空)", "（跳过）", "（空）", "-3")
_WJX_HEADER = re.compile(r"^\s*第?\s*(\d+)\s*题?\s*[、.．:：)）]\s*(.+)$")
_WJX_META = ("序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP", "总分")


#: Dash-like characters read as ASCII "-" (hyphen, non-breaking hyphen, figure dash, en and em
#: dash, horizontal bar, minus sign, small and full-width hyphen-minus).
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
#: Tilde-like characters read as ASCII "~" (full-width tilde, wave dash, wavy dash, swung dash).
_TILDES = "\uff5e\u301c\u3030\u2053\u223c"
_DASH_TABLE = str.maketrans({**{c: "-" for c in _DASHES}, **{c: "~" for c in _TILDES}})
#: Punctuation kept by :func:`_norm` because it changes what an answer means ("60+", "1-2", "3.5").
_KEEP = set("-~+.%/<>=")


def _norm(s) -> str:
    """Text as compared when matching headers and option texts (both sides go through it).

    Unicode NFKC (full-width letters and digits become ASCII: "７９" -> "79"), every dash
    (‐‑‒–—―－) as "-", every tilde (～〜) as "~", no white space, no punctuation other than
    ``- ~ + . % / < > =`` (brackets, commas, colons, quotes, question marks go), repeated dashes
    or tildes as one, no trailing ".", lower case.
    """
    s = unicodedata.normalize("NFKC", str(s)).translate(_DASH_TABLE)
    s = "".join(ch for ch in s if not ch.isspace() and (ch in _KEEP or not unicodedata.category(ch).startswith("P")))
    s = re.sub(r"-{2,}", "-", re.sub(r"~{2,}", "~", s))
    return s.rstrip(".").lower()


def _number_text(t: str) -> str | None:
    """`t` as a plain number text if it is one after NFKC ("７９" -> "79", "3.0" -> "3"), else None."""
    u = unicodedata.normalize("NFKC", t).strip().translate(_DASH_TABLE)
    if not re.fullmatch(r"[-+]?\d+(?:\.\d+)?", u):
        return None
    whole = re.fullmatch(r"([-+]?)(\d+)(?:\.0+)?", u)  # exact for any length (an 18-digit ID stays itself)
    return (whole.group(1).replace("+", "") + str(int(whole.group(2)))) if whole else u


#: A filled-in "其他" text (问卷星 writes "其他〖自己写的〗"; the fill-in is never kept).
_FILL_IN = re.compile(r"〖([^〗]*)〗\s*$")


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
    """{header: codebook name}: the explicit map first, then names and question texts.

    ``keys[header]`` lists further texts a header is known by, most specific first (问卷星: the
    question text, then a matrix row's text in brackets, then the question number). A header is
    matched automatically by the first of its texts that names any codebook variable (by name or
    Chinese or English question text, compared with :func:`_norm`), and only if it names exactly
    one not yet taken: nothing is guessed.
    """
    variables = codebook.variables
    lookup: dict[str, list[str]] = {}
    for h in headers:
        for k in dict.fromkeys([h, _norm(h), *keys.get(h, [])]):
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
        for t in dict.fromkeys((name, _norm(name), _norm(var.label.zh), _norm(var.label.en))):
            if t:
                by_text.setdefault(t, []).append(name)
    taken = set(out.values())
    for h in headers:
        if h in out:
            continue
        for k in dict.fromkeys([h, _norm(h), *keys.get(h, [])]):
            cands = set(by_text.get(k, [])) | set(by_text.get(_norm(k), []))
            if not cands:
                continue
            cands -= taken
            if len(cands) == 1:
                out[h] = cands.pop()
                taken.add(out[h])
            break  # the most specific text that names a variable decides; several -> left unmapped
    dup = pd.Series(list(out.values()), dtype=object).value_counts()
    dup = dup[dup > 1]
    if len(dup):
        name = dup.index[0]
        raise ReadError(f"{source}: columns {[h for h, v in out.items() if v == name]} all map to "
                        f"{name!r}; keep one in column_map.")
    return out


def _label_lookup(var: Variable, codebook: Codebook) -> dict[str, int]:
    """{normalised option text: code} for the codebook's answer labels and missing-value labels."""
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
    lut.pop("", None)
    return lut


def option_list(var: Variable, codebook: Codebook, limit: int = 12) -> str:
    """The answers of a coded variable as text: ``"1=从不, 2=1–2次, ...; missing: 97=不知道"``."""
    def code(c) -> str:
        return str(int(c)) if float(c).is_integer() else str(c)

    items = [f"{code(c)}={lab.zh or lab.en}" for c, lab in (var.codes or {}).items()]
    if len(items) > limit:
        items = items[:limit - 1] + ["...", items[-1]]
    labels = {m.reason: m.label for m in codebook.missing_codes.values()}
    miss = [f"{code(c)}={labels[r].zh if r in labels else r}" for c, r in var.missing_codes.items()]
    return ", ".join(items) + (f"; missing: {', '.join(miss)}" if miss else "")


def _drop_fill_in(t: str) -> str:
    """"其他〖自己写的〗" -> "其他": the fill-in text is not kept (it can hold anything, a phone too)."""
    m = _FILL_IN.search(t)
    return t[:m.start()].strip() if m and t[:m.start()].strip() else t


def _to_codes(values: pd.Series, var: Variable, codebook: Codebook,
              option_numbers: str | None = "codes", skipped: Sequence[str] = (),
              option_map: Mapping[str, str] | None = None) -> pd.Series:
    """Option text (or option number through `option_map`) -> answer code as text.

    Text is matched to the codebook's labels by :func:`_norm`; a number is looked up in
    `option_map` (``{option number: code}``) when one is given, kept as a code under
    ``option_numbers="codes"``. Anything else is kept as it is (a number not in the map as
    ``"option N (not in option_map)"``), so :func:`evalkit.validate` quarantines the row.
    """
    lut = _label_lookup(var, codebook)

    def conv(v):
        t = _text(v)
        if t is None or t in skipped:
            return None
        t = _drop_fill_in(t)
        num = _number_text(t)
        if num is not None and option_map is not None:
            code = option_map.get(num)
            return code if code is not None else f"option {num} (not in option_map)"
        code = lut.get(_norm(t))
        if code is not None:
            return str(code)
        return num if num is not None else t

    return values.map(conv).astype(object)


def _unmapped_numbers(values: pd.Series, var: Variable, codebook: Codebook, skipped: Sequence[str]) -> int:
    """How many cells of a coded column are bare numbers that are not an option text."""
    lut = _label_lookup(var, codebook)
    n = 0
    for v in values:
        t = _text(v)
        if t is None or t in skipped:
            continue
        t = _drop_fill_in(t)
        n += _number_text(t) is not None and _norm(t) not in lut
    return n


def _finish(raw: pd.DataFrame, mapping: dict[str, str], codebook: Codebook, fmt: str, *,
            option_numbers: str | None = "codes", skipped: Sequence[str] = (), allow: Sequence[str] = (),
            extra: dict | None = None, notes: list[str] | None = None, registry: pd.DataFrame | None = None,
            option_maps: Mapping[str, Mapping[str, str]] | None = None, drop: Sequence[str] = (),
            personal_data: str = "refuse", meta: Mapping[str, pd.Series] | None = None,
            refuse_numbers: str | None = None) -> pd.DataFrame:
    """The mapped columns converted to codes, checked for personal data, with metadata appended.

    `option_maps` is ``{header: {option number: code}}``; with ``option_numbers=None`` a coded
    column holding option numbers and no map refuses the file (`refuse_numbers` is the remedy).
    `meta` columns (the submission time) are added after the personal-data check and listed in
    ``attrs["meta"]``, so :func:`evalkit.validate` leaves them alone.
    """
    from .privacy import check_personal_data

    source = str(raw.attrs.get("source", "<DataFrame>"))
    if not mapping and not extra:
        raise ReadError(f"{source}: no column of the export matches the codebook (by column_map, name "
                        "or question text). Pass column_map={export header or question number: "
                        "codebook name}.")
    option_maps = option_maps or {}
    if option_numbers is None:
        numbered = [(h, name) for h, name in mapping.items()
                    if h not in option_maps and codebook.variables[name].codes
                    and _unmapped_numbers(raw[h], codebook.variables[name], codebook, skipped)]
        if numbered:
            listed = ", ".join(f"{h!r} -> {name}" for h, name in numbered[:8])
            raise ReadError(
                f"{source}: {len(numbered)} coded question(s) hold option numbers, not option texts: {listed}"
                f"{' ...' if len(numbered) > 8 else ''}. The platform numbers options 1, 2, 3 in the order "
                "the questionnaire lists them, which need not be the codebook's codes (WHO-5 listed "
                "所有时间 -> 从未 would be read reversed), so evalkit does not guess. "
                + (refuse_numbers or "Pass option_map={question: [option texts in questionnaire order]}, "
                   "or option_numbers=\"codes\" if the numbers are the codebook's codes."))
    cols = {}
    for h, name in mapping.items():
        var = codebook.variables[name]
        s = raw[h]
        if var.codes or var.missing_codes:
            cols[name] = _to_codes(s, var, codebook, option_numbers, skipped, option_maps.get(h))
        elif h in option_maps:  # options that are not codes (community names): number -> text
            cols[name] = _to_codes(s, var, codebook, None, skipped, option_maps[h])
        elif var.is_numeric:
            cols[name] = s.map(lambda v: None if _text(v) in skipped or _text(v) is None
                               else (_number_text(_text(v)) or _text(v))).astype(object)
        else:
            cols[name] = s.map(lambda v: None if _text(v) in skipped else _text(v)).astype(object)
            if var.values is not None:  # a category: "18—39" is the codebook's "18-39"
                canon = {_norm(v): str(v) for v in var.values}
                cols[name] = cols[name].map(lambda t: canon.get(_norm(t), t) if t is not None else None).astype(object)
    for name, series in (extra or {}).items():
        if name in cols:
            raise ReadError(f"{source}: {name!r} comes both from a column and from select_multiple.")
        cols[name] = series
    order = [c for c in codebook.columns if c in cols]
    out = pd.DataFrame({c: cols[c] for c in order}, index=raw.index)
    out.index.name = "row"
    unmapped = [h for h in raw.columns if h not in mapping]
    out.attrs = {"source": source, "format": fmt,
                 "column_map": dict(mapping), "unmapped": unmapped, "notes": list(notes or [])}
    out = check_personal_data(out, drop=drop, allow=allow, source=source, call=f"read_{fmt}(path, ...)",
                              codebook=codebook, registry=registry, personal_data=personal_data)
    if meta:
        attrs = dict(out.attrs)
        out = out.copy()
        for name, series in meta.items():
            out[name] = series.reindex(out.index).astype(object)
        attrs["meta"] = list(attrs.get("meta", [])) + list(meta)
        out.attrs = attrs
    return out
