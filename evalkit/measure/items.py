"""Item matrices for reliability and factor analysis: checks, reverse-keying, covariance.

The shared first step of :mod:`evalkit.measure.reliability` and :mod:`evalkit.measure.factor`:
:func:`prepare` checks an item frame (numeric, unique columns, answers inside the range) and
reverse-keys items; :func:`covariance` gives the pairwise-complete (or listwise) covariance matrix
as R's ``cov(x, use="pairwise")``; :func:`confidence_level` reads ``level=`` (``ci=`` deprecated).
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EvalkitError


def confidence_level(func: str, level: float, ci: float | None = None) -> float:
    """The confidence level from ``level=`` or the deprecated ``ci=`` (one release, FutureWarning)."""
    if ci is not None:
        warnings.warn(f"{func}(ci=...) is deprecated and will be removed in the next release; use "
                      f"level={ci!r} (the confidence level).", FutureWarning, stacklevel=3)
        level = ci
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0.0 < level < 1.0:
        raise EvalkitError(f"{func}: level={level!r} must be a confidence level strictly between 0 and 1, "
                           "e.g. 0.95.")
    return float(level)


def as_frame(items: Any, func: str) -> pd.DataFrame:
    if isinstance(items, pd.DataFrame):
        return items
    if isinstance(items, np.ndarray) and items.ndim == 2:
        return pd.DataFrame(items, columns=[f"item{j + 1}" for j in range(items.shape[1])])
    raise EvalkitError(
        f"{func}: items must be a pandas DataFrame with one column per item "
        f"(got {type(items).__name__}). Select the item columns, e.g. df[['q1', 'q2', 'q3']]."
    )


def prepare(
    items: Any,
    func: str,
    reverse: Iterable[str] | None,
    item_min: float | None,
    item_max: float | None,
    min_items: int = 2,
) -> tuple[np.ndarray, list[str], list[str]]:
    """Check the item frame, reverse-key, and return (float matrix, names, reversed names)."""
    df = as_frame(items, func)
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise EvalkitError(f"{func}: item columns must be unique; repeated: {dup}.")
    k = len(names)
    if k < min_items:
        got = f" ({names[0]!r})" if k == 1 else ""
        raise EvalkitError(
            f"{func} needs at least {min_items} items; got {k}{got}. A single item has no internal "
            "consistency to estimate: pass all the items of the scale (one column each)."
        )
    bad = [c for c in df.columns if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
    if bad:
        raise EvalkitError(
            f"{func}: item columns must be numeric; {', '.join(repr(str(c)) for c in bad)} "
            f"{'is' if len(bad) == 1 else 'are'} {df[bad[0]].dtype}. Convert the answer codes first, "
            "e.g. df[col] = pd.to_numeric(df[col], errors='coerce') after mapping labels to codes."
        )
    X = np.array(df.to_numpy(dtype="float64", na_value=np.nan), dtype="float64", copy=True)
    if X.size and np.isinf(X).any():
        j = int(np.where(np.isinf(X).any(axis=0))[0][0])
        raise EvalkitError(f"{func}: item {names[j]!r} contains infinite values; recode them as missing (NaN).")

    if (item_min is None) != (item_max is None):
        raise EvalkitError(f"{func}: give both item_min and item_max (the answer range), or neither.")
    if item_min is not None:
        lo, hi = float(item_min), float(item_max)
        if not lo < hi:
            raise EvalkitError(f"{func}: item_min={item_min} must be below item_max={item_max}.")
        out = (X < lo) | (X > hi)
        if out.any():
            j = int(np.where(out.any(axis=0))[0][0])
            vals = sorted(set(X[out[:, j], j].tolist()))[:5]
            raise EvalkitError(
                f"{func}: item {names[j]!r} has values {vals} outside the answer range "
                f"[{item_min:g}, {item_max:g}]. Recode missing-value codes (e.g. 98, 99) to NaN "
                "before computing reliability, or correct item_min/item_max."
            )

    rev = [] if reverse is None else [str(r) for r in ([reverse] if isinstance(reverse, str) else reverse)]
    unknown = [r for r in rev if r not in names]
    if unknown:
        raise EvalkitError(
            f"{func}: reverse-keyed item(s) {unknown} are not among the item columns {names}."
        )
    if rev:
        if item_min is None:
            # psych::alpha: reverse with (min + max) of all observed answers. The constant does
            # not change alpha, omega or any correlation, only the reversed item's mean.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi = np.nanmin(X), np.nanmax(X)
        idx = [names.index(r) for r in rev]
        X[:, idx] = (lo + hi) - X[:, idx]
    return X, names, rev


def pairwise_cov(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Covariances from pairwise-complete observations, by masked matrix products.

    Element (i, j) equals ``pandas.DataFrame.cov()`` / R's ``cov(x, use="pairwise")``:
    the sample covariance (divisor n_ij - 1) over rows where both items are answered,
    each mean taken over those same rows. Returns (C, N) with N[i, j] = n_ij.
    """
    M = ~np.isnan(X)
    Mf = M.astype("float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(X, axis=0)  # any constant per column works; this one limits cancellation
    centre = np.where(np.isnan(centre), 0.0, centre)
    Xc = np.where(M, X - centre, 0.0)
    N = Mf.T @ Mf                       # n_ij: rows answering both i and j
    S = Xc.T @ Mf                       # S[i, j] = sum of x_i over rows answering i and j
    P = Xc.T @ Xc                       # sum of x_i x_j over rows answering i and j
    with np.errstate(divide="ignore", invalid="ignore"):
        C = (P - S * S.T / N) / (N - 1)
    C[N < 2] = np.nan
    return C, N


def covariance(X: np.ndarray, method: str) -> tuple[np.ndarray, int, np.ndarray]:
    """(C, n, X_used): the covariance matrix, the n used for the CI, the rows used."""
    if method == "listwise":
        Xu = X[~np.isnan(X).any(axis=1)]
        n = Xu.shape[0]
        C = np.cov(Xu, rowvar=False) if n >= 2 else np.full((X.shape[1],) * 2, np.nan)
        return np.atleast_2d(C), n, Xu
    Xu = X[~np.isnan(X).all(axis=1)]
    C, _ = pairwise_cov(Xu)
    return C, Xu.shape[0], Xu


def degenerate(C: np.ndarray) -> np.ndarray:
    """Items without variance: variance zero (to rounding) or undefined (fewer than 2 answers)."""
    d = np.diag(C)
    scale = np.nanmax(np.abs(d)) if np.isfinite(d).any() else 1.0
    return ~np.isfinite(d) | (d <= 1e-12 * max(scale, 1.0))
