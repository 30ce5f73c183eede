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


