"""Codebook drafts from a Kobo XLSForm and from an SPSS file (:func:`evalkit.io.draft.draft_codebook`).

A Kobo XLSForm's ``survey`` sheet gives each question's type, name and label (``label`` or
``label::Chinese (zh)``), its ``choices`` sheet the options of every ``select_one <list>``; an SPSS
file gives variable labels, value labels and user-missing codes. Both become entries of the draft
(:class:`evalkit.io.draft._Builder`); free text and form structure are left out and listed.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import ReadError
from .draft import MISSING, _MISSING_TEXT, _PERSONAL, _add_column, _Builder, _cell, _known_order, _nfkc, _role_of


# ------------------------------------------------------------------------------------------ Kobo
def _label_columns(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    labels = [c for c in frame.columns if str(c).lower().startswith("label")]
    zh = next((c for c in labels if re.search(r"zh|chinese|中文|汉", str(c), re.I)), None)
    en = next((c for c in labels if re.search(r"\ben\b|english|\(en\)", str(c), re.I)), None)
    if zh is None and en is None and labels:
        col = labels[0]
        cjk = frame[col].dropna().astype(str).str.contains(r"[\u4e00-\u9fff]").any()
        return (col, None) if cjk else (None, col)
    return zh, en


def _kobo_label(row, zh, en, fallback: str) -> dict:
    out = {}
    for key, col in (("zh", zh), ("en", en)):
        if col is not None and _cell(row.get(col)) is not None:
            out[key] = re.sub(r"<[^>]+>", "", _cell(row.get(col)))
    return out or {"en": fallback}


def draft_kobo(path: Path) -> _Builder:
    """The draft's entries from a Kobo XLSForm (survey and choices sheets)."""
    try:
        book = pd.read_excel(path, sheet_name=None, dtype=object)
    except Exception as exc:
        raise ReadError(f"{path}: cannot read the XLSForm ({type(exc).__name__}: {exc}).") from None
    sheets = {str(k).strip().lower(): v for k, v in book.items()}
    if "survey" not in sheets:
        raise ReadError(f"{path}: an XLSForm needs a 'survey' sheet (its sheets: {list(book)}).")
    survey, choices = sheets["survey"], sheets.get("choices", pd.DataFrame(columns=["list_name", "name"]))
    survey.columns = [str(c).strip() for c in survey.columns]
    choices.columns = [str(c).strip() for c in choices.columns]
    zh, en = _label_columns(survey)
    czh, cen = _label_columns(choices)
    lists: dict[str, list[dict]] = {}
    for _, c in choices.iterrows():
        if _cell(c.get("list_name")) and _cell(c.get("name")) is not None:
            lists.setdefault(_cell(c["list_name"]), []).append(c)
    b = _Builder(str(path), "kobo")
    for i, row in survey.iterrows():
        kind, name = (_cell(row.get("type")) or "").split(), _cell(row.get("name"))
        if not kind or not name:
            continue
        label = _kobo_label(row, zh, en, name)
        text = label.get("zh") or label.get("en")
        t = kind[0].lower()
        if t in ("integer", "decimal", "range"):
            role = _role_of(text) or _role_of(name)
            spec = {"type": "integer" if t != "decimal" else "number", **label}
            if role in ("age", "wave") and role not in b.fields:
                b.add(role, {**spec, "required": True}, name, section="fields")
            else:
                b.add(name, spec, name, "TODO: add min/max (the form's constraint)")
        elif t in ("select_one", "select_multiple") and len(kind) > 1:
            opts = lists.get(kind[1], [])
            if not opts:
                b.left_out[name] = f"choices list {kind[1]!r} not found in the choices sheet"
                continue
            if t == "select_multiple":
                for c in opts:
                    cl = _kobo_label(c, czh, cen, str(c["name"]))
                    b.add(f"{name}_{_cell(c['name'])}", {"type": "code", "codes": {0: "未选", 1: "选中"},
                                                           "zh": f"{text}:{cl.get('zh') or cl.get('en')}"},
                          f"{name}/{_cell(c['name'])}", "select_multiple option (0/1 column in the export)")
                continue
            _kobo_select_one(b, name, text, label, opts, czh, cen)
        elif t in ("text",) and (_role_of(text or "") or _role_of(name)) in ("respondent_id", "community_id",
                                                                             "household_id", "psu"):
            role = _role_of(text or "") or _role_of(name)
            b.add(role, {"type": "community" if role == "community_id" else "id",
                         "required": role in ("respondent_id", "community_id"), **label}, name, section="fields")
        elif t in ("text", "integer", "decimal") and name in ("stratum", "base_weight", "age_group", "role"):
            b.left_out[name] = "a design field: the design step adds it (study.yaml design:), or map it by hand"
        elif t in ("text", "geopoint", "image", "audio", "barcode"):
            b.left_out[name] = f"{t}: free text or media (can hold personal data)"
        else:
            b.left_out[name] = f"{t}: not an answer (form structure or metadata)"
    return b


def _kobo_select_one(b, name, text, label, opts, czh, cen) -> None:
    opts = [c for c in opts if _nfkc(_kobo_label(c, czh, cen, "").get("zh", "")) not in _MISSING_TEXT]
    numeric = all(re.fullmatch(r"-?\d+", str(_cell(c["name"]))) for c in opts)   # 不知道 (dk) aside
    codes, note = {}, ""
    for k, c in enumerate(opts, start=1):
        cl = _kobo_label(c, czh, cen, str(c["name"]))
        if not numeric:  # the choice name as English label, so an export of names reads back
            cl = {**cl, "en": str(_cell(c["name"]))}
        code = int(_cell(c["name"])) if numeric else k
        if code in MISSING or _nfkc(cl.get("zh", "")) in _MISSING_TEXT:
            continue
        codes[code] = cl
    if not numeric:
        note = "TODO: choice names are not numbers; codes follow the choices sheet's order, names kept as `en`"
    else:
        texts = [lab.get("zh") or lab.get("en") or "" for _, lab in sorted(codes.items())]
        known = _known_order(texts)
        if known is not None and list(known.values()) != texts:
            note = ("TODO: the choice numbers run against the answer scale (" + "、".join(texts[:2]) + " ...): "
                    "a higher code means less; mark the items `reverse: true` in their scale or renumber")
    role = _role_of(text) or _role_of(name)
    if role == "community_id" and role not in b.fields:
        b.add(role, {"type": "community", "required": True, **label}, name, section="fields")
    elif role == "sex" and role not in b.fields:
        b.add(role, {"type": "code", "required": True, "codes": codes, **label}, name, note, section="fields")
    else:
        b.add(name, {"type": "code", "codes": codes, **label}, name, note)


# ------------------------------------------------------------------------------------------ SPSS
def draft_spss(path: Path) -> _Builder:
    """The draft's entries from an SPSS file's variable labels, value labels and user-missing codes."""
    import pyreadstat

    try:
        data, meta = pyreadstat.read_sav(str(path), user_missing=True)
    except Exception as exc:
        raise ReadError(f"{path}: cannot read the SPSS file ({type(exc).__name__}: {exc}).") from None
    b = _Builder(str(path), "spss")
    labels = meta.column_names_to_labels or {}
    for col in meta.column_names:
        label = _cell(labels.get(col)) or col
        if _PERSONAL.search(col) or _PERSONAL.search(label):
            b.left_out[col] = "personal data: leave it out of the analysis (reader drop=[...])"
            continue
        vl = (meta.variable_value_labels or {}).get(col)
        miss = _spss_missing(meta, col)
        role = _role_of(label) or _role_of(col)
        if vl:
            codes = {int(k): str(v) for k, v in vl.items() if float(k).is_integer() and int(k) not in miss}
            spec = {"type": "code", "codes": codes, "zh": label}
            if miss:
                spec["missing_codes"] = miss
            if role == "community_id" and role not in b.fields:
                b.add(role, {"type": "community", "required": True, "zh": label}, col,
                      "value labels are the community names (read_spss maps them)", section="fields")
            elif role in ("sex", "wave") and role not in b.fields:
                b.add(role, {**spec, "required": True}, col, section="fields")
            else:
                b.add(col, spec, col)
            continue
        values = data[col].map(_cell)
        _add_column(b, col, col, label, values)
    return b


def _spss_missing(meta, col) -> dict[int, str]:
    """User-missing codes of one variable as ``{code: reason}`` (reasons from the value labels)."""
    out: dict[int, str] = {}
    labels = (meta.variable_value_labels or {}).get(col, {})
    for r in (meta.missing_ranges or {}).get(col, []):
        lo, hi = r.get("lo"), r.get("hi")
        if isinstance(lo, (int, float)) and lo == hi and float(lo).is_integer():
            text = _nfkc(labels.get(lo, ""))
            reason = ("refused" if "拒" in text or "refus" in text.lower() else
                      "not_applicable" if "不适用" in text or "applicable" in text.lower() else "dont_know")
            out[int(lo)] = reason
    return out


__all__ = ["draft_kobo", "draft_spss"]
