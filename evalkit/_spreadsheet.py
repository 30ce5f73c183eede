"""Files a spreadsheet will open, written so that no cell becomes a formula (issue 16, item 4).

:func:`write_csv` is how evalkit writes every CSV (the shipped data, service records, a new study's
registry, performance tables); :func:`formula_safe` is the rule. Base layer: any module may use it.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

__all__ = ["FORMULA_STARTS", "formula_safe", "write_csv"]


def write_csv(frame: pd.DataFrame, path: str | Path, *, lineterminator: str = "\n", **kwargs) -> None:
    """Write `frame` as CSV (no index) safe to open in a spreadsheet.

    Text cells and headers that would start a formula are prefixed (:func:`formula_safe`). If
    any text holds a line break the line terminator does not contain (a lone CR with ``"\n"``),
    every field is quoted: Python's csv writer quotes only the terminator's characters, so a bare
    CR would otherwise end the row in every reader. Files without such text are written exactly
    as ``frame.to_csv(path, index=False, lineterminator=...)`` writes them.
    """
    import csv

    safe = formula_safe(frame)
    texts = [c for c in safe.columns if safe[c].dtype == object or pd.api.types.is_string_dtype(safe[c])]
    breaks = any(isinstance(v, str) and ("\r" in v or "\n" in v)
                 for v in [*map(str, safe.columns), *(x for c in texts for x in safe[c].to_numpy())])
    if breaks:
        kwargs["quoting"] = csv.QUOTE_ALL
    safe.to_csv(path, index=False, lineterminator=lineterminator, **kwargs)


#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")


def formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot be read as spreadsheet formulas.

    A text cell (in any column, also a header) starting with ``= + - @``, a tab, CR or LF (or the
    full-width ``＝ ＋ － ＠``, which Excel's input method turns into formulas) gets a leading
    apostrophe, so Excel, WPS and LibreOffice show it as text instead of evaluating it
    (``=HYPERLINK(...)`` would otherwise become a live link). Numbers are left alone, and so is
    text that is exactly a plain decimal number (``-3``, ``-0.5``, ``+86``: a spreadsheet reads it
    as that number, nothing is evaluated). Apply it to every frame written as CSV.
    """

    def safe(v):
        if not isinstance(v, str) or not v.startswith(FORMULA_STARTS) or _PLAIN_NUMBER.fullmatch(v):
            return v
        return "'" + v

    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(object)
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(safe)
    out.columns = [safe(c) for c in out.columns]
    return out
