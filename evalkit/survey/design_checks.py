"""Checks and coding of a survey design's columns: weights, strata, PSUs and fpc.

The constructor checks of :class:`evalkit.survey.design.SurveyDesign` (moved here from ``design.py``
unchanged), shared with the replicate-weight designs of :mod:`evalkit.survey.replicate`: every bad
value is a :class:`~evalkit.errors.DesignError` naming the column, the row and the fix.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._literals import LonelyPSU, check_choice
from ..errors import DesignError
from ._common import factorize, numeric, row_label

__all__: list[str] = []  # helpers of design.py and replicate.py

def _check_arguments(data: Any, named: dict[str, str | None], lonely_psu: Any) -> None:
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    check_choice(lonely_psu, LonelyPSU, "lonely_psu")
    for arg, col in named.items():
        if col is None:
            if arg == "weight":
                raise DesignError("weight= is required: name the column of sampling weights.")
            continue
        if not isinstance(col, str):
            raise DesignError(f"{arg}= must be a column name (str), got {col!r}.")
        if col not in data.columns:
            raise DesignError(f"{arg}={col!r} is not a column of data; available columns: "
                              f"{', '.join(map(str, data.columns[:30]))}{' ...' if data.shape[1] > 30 else ''}.")
    if data.shape[0] == 0:
        raise DesignError("data has no rows; a survey design needs at least one respondent.")


def _weights(df: pd.DataFrame, weight: str) -> np.ndarray:
    w = numeric(df, weight, "weight")
    bad = ~np.isfinite(w) | (w <= 0)
    if bad.any():
        pos = np.flatnonzero(bad)
        first = int(pos[0])
        raise DesignError(
            f"The weight column {weight!r} has {pos.size} invalid value(s) (missing, infinite, "
            f"zero or negative); first at {row_label(df, first)}: {float(w[first])!r}. "
            f"Every sampling weight must be a finite number > 0: drop or repair these rows."
        )
    return w


def _coded(df: pd.DataFrame, col: str, what: str, need: str) -> tuple[np.ndarray, pd.Index]:
    """Sorted codes and levels of column ``col``; a missing value is a DesignError."""
    codes, levels = factorize(df[col])
    if (codes < 0).any():
        first = int(np.flatnonzero(codes < 0)[0])
        raise DesignError(f"The {what} column {col!r} has {int((codes < 0).sum())} missing value(s); first "
                          f"at {row_label(df, first)}. Every row needs {need}.")
    return codes, levels


def _strata_codes(df: pd.DataFrame, strata: str | None) -> tuple[np.ndarray, pd.Index]:
    if strata is None:
        return np.zeros(df.shape[0], dtype=np.int64), pd.Index([1])
    return _coded(df, strata, "strata", "a stratum")


def _psu_codes(df: pd.DataFrame, h: np.ndarray, psu: str | None, strata: str | None,
               nest: bool) -> tuple[np.ndarray, np.ndarray]:
    """PSU code per row, ordered by stratum so that a stratum's PSUs are contiguous, and the
    stratum of each PSU."""
    if psu is None:
        order = np.argsort(h, kind="stable")
        p = np.empty(h.size, dtype=np.int64)
        p[order] = np.arange(h.size)
        return p, h[order]
    raw, raw_levels = _coded(df, psu, "psu", "a PSU (cluster) id")
    key = h * len(raw_levels) + raw
    uk, p = np.unique(key, return_inverse=True)
    if not nest and strata is not None:
        per_label = np.bincount(uk % len(raw_levels), minlength=len(raw_levels))
        if (per_label > 1).any():
            lab = raw_levels[int(np.flatnonzero(per_label > 1)[0])]
            raise DesignError(
                f"PSU {lab!r} of column {psu!r} appears in more than one stratum of "
                f"{strata!r}: PSUs must be nested in strata. If PSU labels are re-used "
                f"across strata, pass nest=True."
            )
    return p.astype(np.int64), uk // len(raw_levels)


def _fpc_factor(df: pd.DataFrame, fpc: str | None, h: np.ndarray, psu_stratum: np.ndarray,
                strata_levels: pd.Index) -> np.ndarray:
    """``1 - n_h / N_h`` per stratum (1 without fpc, 0 below 1e-7 as R: a census of PSUs)."""
    n_strata = len(strata_levels)
    if fpc is None:
        return np.ones(n_strata)
    n_h = np.bincount(psu_stratum, minlength=n_strata)
    N_row = numeric(df, fpc, "fpc")
    if not np.all(np.isfinite(N_row)):
        first = int(np.flatnonzero(~np.isfinite(N_row))[0])
        raise DesignError(
            f"The fpc column {fpc!r} has a missing or infinite value at {row_label(df, first)}; it "
            f"must hold the population number of PSUs of the row's stratum."
        )
    lo = np.full(n_strata, np.inf)
    hi = np.full(n_strata, -np.inf)
    np.minimum.at(lo, h, N_row)
    np.maximum.at(hi, h, N_row)
    varying = np.flatnonzero(lo != hi)
    if varying.size:
        s = strata_levels[int(varying[0])]
        raise DesignError(
            f"The fpc column {fpc!r} varies within stratum {s!r} (from {lo[varying[0]]:g} "
            f"to {hi[varying[0]]:g}); it must be the stratum's population number of PSUs, "
            f"constant within the stratum."
        )
    too_small = np.flatnonzero(lo < n_h)
    if too_small.size:
        j = int(too_small[0])
        hint = (" It looks like a sampling fraction; evalkit's fpc= takes population sizes "
                "N_h (R's convention): pass n_h / fraction." if lo[j] <= 1 else "")
        raise DesignError(
            f"fpc {fpc!r} gives N_h = {lo[j]:g} for stratum {strata_levels[j]!r}, fewer "
            f"than the {n_h[j]} PSUs sampled there (FPC implies >100% sampling).{hint}"
        )
    f = 1.0 - n_h / lo
    f[f < 1e-7] = 0.0  # self-representing stratum (R: f < 1e-7)
    return f



def _subset_mask(data: pd.DataFrame, old: np.ndarray | None, mask: Any) -> np.ndarray:
    """The read-only boolean mask of ``subset(mask)`` (a column name or a boolean array/Series aligned
    with ``data``), combined with the design's current mask ``old``."""
    if isinstance(mask, str):
        if mask not in data.columns:
            raise DesignError(f"subset mask column {mask!r} is not a column of the data.")
        m = data[mask]
    else:
        m = mask
    if isinstance(m, pd.Series):
        if not m.index.equals(data.index):
            raise DesignError("The subset mask Series is not aligned with the design's data index.")
        if m.isna().any():
            raise DesignError("The subset mask has missing values; fill them (e.g. mask.fillna(False)).")
        m = m.to_numpy()
    m = np.asarray(m)
    n = data.shape[0]
    if m.shape != (n,) or m.dtype != bool:
        raise DesignError(
            f"subset mask must be a boolean array of length {n}, got dtype "
            f"{m.dtype} and shape {m.shape}."
        )
    new_mask = m.copy() if old is None else (old & m)
    if not new_mask.any():
        raise DesignError("The subset mask selects no rows.")
    new_mask.setflags(write=False)
    return new_mask
