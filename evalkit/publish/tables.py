"""Numbers and tables formatted for people (the bureau report's cells).

One or two decimals, ``%`` for proportions, 个百分点 in Chinese, thousands separators, a true
minus sign, ``—`` for a number that does not exist and ``[c]`` for a suppressed one; never
``nan``, ``inf``, ``True``/``False``, ``<NA>``, scientific notation, tuples or an index column.
:func:`people_table` turns a tidy frame into headers and rows of such strings for the templates
(which escape them); :func:`check_cell` refuses anything else, so a raw value cannot slip through.
"""
from __future__ import annotations

import math
import re
from typing import Callable, Mapping

import pandas as pd

from ..errors import EvalkitError
from .i18n import t

__all__ = ["MISSING", "SUPPRESSED", "is_missing", "fmt_number", "fmt_int", "fmt_people", "fmt_pct",
           "fmt_effect", "fmt_interval", "check_cell", "people_table"]

MISSING = "—"
SUPPRESSED = "[c]"
MINUS = "−"

_BAD = re.compile(r"\b(nan|NaN|inf|Inf|True|False|None)\b|<NA>|NaT|\d[eE][+-]?\d|^\(.*,.*\)$")


def is_missing(x) -> bool:
    """True for None, NA, NaN and ±inf (numbers a reader must not see)."""
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    try:
        return not math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_number(x, decimals: int = 1, *, sign: bool = False) -> str:
    """``x`` with ``decimals`` decimals, thousands separators and a true minus (``−1.5``)."""
    if is_missing(x):
        return MISSING
    x = float(x)
    if round(x, decimals) == 0:
        x = 0.0
    text = f"{abs(x):,.{decimals}f}"
    if x < 0:
        return MINUS + text
    return ("+" + text) if sign and x > 0 else text


def fmt_int(x) -> str:
    """A whole number with thousands separators (``9,160``)."""
    return MISSING if is_missing(x) else fmt_number(round(float(x)), 0)


def fmt_people(x) -> str:
    """A headcount for prose: rounded to tens above 100 (``1,400``), to units below."""
    if is_missing(x):
        return MISSING
    x = float(x)
    return fmt_number(round(x, -1) if abs(x) >= 100 else round(x), 0)


def fmt_pct(fraction, decimals: int = 1, *, sign: bool = False) -> str:
    """A fraction as a percentage (``0.155`` → ``15.5%``)."""
    return MISSING if is_missing(fraction) else fmt_number(100 * float(fraction), decimals, sign=sign) + "%"


def _mean_decimals(x) -> int:
    return 2 if not is_missing(x) and abs(float(x)) < 10 else 1


def fmt_effect(x, kind: str, lang: str, *, sign: bool = True, unit: bool = True) -> str:
    """An effect in plain units: ``+15.5个百分点`` / ``+15.5 percentage points`` for a proportion
    (given as a fraction), ``−1.03分`` / ``−1.03 points`` for a mean."""
    if is_missing(x):
        return MISSING
    if kind == "proportion":
        text = fmt_number(100 * float(x), 1, sign=sign)
        return text + (t("unit_pp", lang) if unit else "")
    text = fmt_number(x, _mean_decimals(x), sign=sign)
    return text + (t("unit_points", lang) if unit else "")


def fmt_level(kind: str, x) -> str:
    """A level (not a change): a percentage for a proportion, a number for a mean."""
    return fmt_pct(x) if kind == "proportion" else fmt_number(x, _mean_decimals(x))


def fmt_interval(low, high, kind: str, lang: str, *, level: float = 0.95, bare: bool = False) -> str:
    """``95%区间 +3.1 至 +27.9个百分点`` (the unit once, after the upper end; ``bare``: without the
    "95%区间" words, for a table column headed by them)."""
    if is_missing(low) or is_missing(high):
        return MISSING
    lo = fmt_effect(low, kind, lang, unit=False)
    hi = fmt_effect(high, kind, lang)
    if bare:
        return t("range", lang, low=lo, high=hi)
    pct = fmt_number(100 * level, 0)
    if pct == "95":
        return t("interval", lang, low=lo, high=hi)
    return t("interval_level", lang, level=pct, low=lo, high=hi)


def check_cell(text: str, where: str) -> str:
    """``text`` if a reader may see it; else :class:`~evalkit.errors.EvalkitError` naming the place."""
    text = str(text)
    if _BAD.search(text):
        raise EvalkitError(f"{where}: the cell {text[:40]!r} is not formatted for people (nan, inf, True/False, "
                           "<NA>, scientific notation or a tuple); format it with evalkit.publish.tables.")
    return text


def people_table(frame: pd.DataFrame, columns: Mapping[str, str],
                 formats: Mapping[str, Callable] | None = None, *, name: str = "table") -> dict:
    """Headers and rows of strings for a template: ``{"headers": [...], "rows": [[...], ...], "suppressed": bool}``.

    Parameters
    ----------
    frame
        A tidy frame; its index is not shown. ``frame.attrs["suppressed"]`` (a boolean frame or
        mapping of column -> boolean sequence, as the disclosure gate sets it) marks cells shown
        as ``[c]``.
    columns
        ``{column: header in the report's language}``, in display order.
    formats
        ``{column: function(value) -> str}``; default: missing → ``—``, else ``str``.
    """
    formats = dict(formats or {})
    mask = frame.attrs.get("suppressed")
    rows, any_suppressed = [], False
    for i in range(len(frame)):
        cells = []
        for col in columns:
            value = frame[col].iloc[i] if col in frame.columns else None
            hidden = False
            if mask is not None and col in getattr(mask, "columns", mask):
                hidden = bool(pd.Series(mask[col]).iloc[i])
            if hidden:
                any_suppressed = True
                cells.append(SUPPRESSED)
                continue
            fmt = formats.get(col)
            text = fmt(value) if fmt is not None else (MISSING if is_missing(value) else str(value))
            cells.append(check_cell(text, f"{name}, column {columns[col]!r}"))
        rows.append(cells)
    return {"headers": list(columns.values()), "rows": rows, "suppressed": any_suppressed}
