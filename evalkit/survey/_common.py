"""Small helpers shared by the survey modules: argument lists, row labels, codes, numeric columns."""
from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import DesignError


def as_list(cols: str | Sequence[str] | None, argument: str) -> list[str]:
    """``cols`` as a list of column names (``None``: empty); a repeated name is an error."""
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    if isinstance(cols, Sequence) and all(isinstance(c, str) for c in cols):
        out = list(cols)
        if len(set(out)) != len(out):
            raise DesignError(f"{argument}={out!r} names a column twice; name each column once.")
        return out
    raise DesignError(f"{argument} must be a column name or a list of column names, got {cols!r}.")


def row_label(data: pd.DataFrame, pos: int) -> str:
    """How an error message names the row at position ``pos``."""
    return f"row {data.index[pos]!r} (position {pos})"


def factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Sorted integer codes (-1 for missing) and the levels."""
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques)


def numeric(data: pd.DataFrame, col: str, what: str) -> np.ndarray:
    """Column ``col`` as float64 (booleans as 0/1); a text column is a DesignError."""
    s = data[col]
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype="float64", na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(s):
        raise DesignError(
            f"The {what} column {col!r} must be numeric, but it has dtype {s.dtype}. "
            f"Convert it (e.g. pd.to_numeric) or, for a categorical variable, use "
            f".proportion({col!r})."
        )
    return s.to_numpy(dtype="float64", na_value=np.nan)


def summary_html(name: str, summary: str) -> str:
    """A design's ``summary`` as a notebook HTML list, every line escaped (column names are user text)."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in summary.split("\n"))
    return f"<b>{html.escape(name)}</b><ul>{items}</ul>"
