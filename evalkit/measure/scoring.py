"""The scoring rules of the codebook's scales, applied to whole columns (used by :func:`~evalkit.measure.scales.score`).

Per scale, one vectorised pass over row chunks: read each item as numbers (:class:`Source`, which
treats missing-value codes as missing and refuses other out-of-range values), reverse-key, count
answered items, combine (sum, mean, count, single item, proration; the mean of component scales
for a composite), transform to the reported metric (multiply, conversion table, linear 0–100) and
assign the cut-off band. The rules themselves are the codebook's (``scales:`` and ``tables:``);
nothing here knows a particular questionnaire.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CodebookError, EvalkitError
from ..spec.codebook import Codebook, Scale, Variable

#: Rows scored at a time: temporaries stay small (cache-resident, reused by the allocator).
CHUNK = 1 << 18


def fmt(x: float | None) -> str:
    """A number as the codebook writes it: ``5``, ``2.5``; empty for None."""
    if x is None:
        return ""
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def _round_half_up(x: np.ndarray) -> np.ndarray:
    """Nearest whole number, halves rounded up (12.5 -> 13), NaN kept."""
    return np.floor(x + 0.5)


def _item_range(scale: Scale, var: Variable) -> tuple[float, float]:
    """(low, high) of the answers to one item of a scale, used for reverse-keying."""
    if scale.item_range is not None:
        return scale.item_range
    rng = var.valid_range
    if rng is None or rng[0] is None or rng[1] is None:
        raise CodebookError(
            f"scale {scale.name!r}: item {var.name!r} has no valid range (codes or min/max) and the "
            "scale has no 'item_range'; add one so the item can be reverse-keyed and checked."
        )
    return (float(rng[0]), float(rng[1]))


class Source:
    """One item column, ready to be read in row chunks as numbers.

    ``lo``/``hi`` are the item's valid range (its codes' min and max, or min/max), ``codes`` its
    answer codes (None for numeric items) and ``missing`` its missing-value codes.
    """

    def __init__(self, df: pd.DataFrame, var: Variable, scale: Scale):
        col = df[var.name]
        self.var = var
        self.name = var.name
        self.is_ea = isinstance(col.dtype, pd.api.extensions.ExtensionDtype)  # Int64, Float64, str
        if self.is_ea:
            if not (pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype)):
                self._not_numeric(col.dtype)
            self.src = col.array
        else:
            a = col.to_numpy()
            if a.dtype.kind not in "fiu":
                try:
                    a = a.astype(np.float64)
                except (TypeError, ValueError):
                    self._not_numeric(col.dtype)
            self.src = a
        rng = var.valid_range
        if rng is None and scale.item_range is not None:
            rng = scale.item_range
        self.lo = -np.inf if rng is None or rng[0] is None else float(rng[0])
        self.hi = np.inf if rng is None or rng[1] is None else float(rng[1])
        self.codes = None if var.codes is None else np.fromiter(var.codes, dtype=np.float64)
        self.contiguous = var.codes is None or _contiguous(var.codes)
        self.missing = np.fromiter(var.missing_codes, dtype=np.float64) if var.missing_codes else None

    def _not_numeric(self, dtype) -> None:
        raise EvalkitError(
            f"Column {self.name!r} is not numeric (dtype {dtype}); scale items must hold numeric "
            "answer codes. Read the file with evalkit.read_survey and run evalkit.validate first: "
            "it types the columns and quarantines text answers."
        )

    def chunk(self, s: int, e: int) -> np.ndarray:
        if self.is_ea:
            return self.src[s:e].to_numpy(dtype=np.float64, na_value=np.nan)
        return self.src[s:e]  # a view: never written to

    def answers(self, a: np.ndarray) -> np.ndarray:
        """The answered mask of a chunk: valid answers only (not NaN, not a missing-value code).

        Vectorised with a cheap path: one min/max reduction shows whether every value is a valid
        answer or NaN; only otherwise are the odd values looked at. Invalid values raise.
        """
        is_float = a.dtype.kind == "f"
        if a.size == 0:
            return np.zeros(0, dtype=bool)
        if is_float:
            lo_seen, hi_seen = np.fmin.reduce(a), np.fmax.reduce(a)  # NaN-ignoring
            if np.isnan(lo_seen):
                return np.zeros(a.shape, dtype=bool)  # nothing answered
        else:
            lo_seen, hi_seen = a.min(), a.max()
        whole = (not is_float) or self.codes is None or _integral(a)
        if lo_seen >= self.lo and hi_seen <= self.hi and self.contiguous and whole:
            return (a == a) if is_float else np.ones(a.shape, dtype=bool)
        with np.errstate(invalid="ignore"):
            if self.contiguous and whole:
                valid = (a >= self.lo) & (a <= self.hi)
            else:
                valid = np.isin(a, self.codes)
        other = ~valid
        if is_float:
            other &= a == a
        if other.any():
            vals = a[other]
            ok = np.isin(vals, self.missing) if self.missing is not None else np.zeros(vals.shape, bool)
            if not ok.all():
                self._raise_invalid()
        return valid

    def _raise_invalid(self) -> None:
        """Count the invalid values of the whole column and raise a readable error."""
        a = self.chunk(0, len(self.src)).astype(np.float64)
        bad = ~np.isnan(a)
        if self.codes is not None:
            bad &= ~np.isin(a, self.codes)
            allowed = f"codes {', '.join(fmt(c) for c in self.codes)}"
        else:
            with np.errstate(invalid="ignore"):
                bad &= (a < self.lo) | (a > self.hi)
            allowed = f"range {fmt(self.lo)}–{fmt(self.hi)}"
        if self.missing is not None:
            bad &= ~np.isin(a, self.missing)
        vals = a[bad]
        raise EvalkitError(
            f"Column {self.name!r} has {vals.size} value(s) outside its valid {allowed} "
            f"(e.g. {fmt(vals[0])}) that are not missing-value codes. Scores would be wrong. "
            "Run evalkit.validate(df, codebook) first and score its .valid table: it quarantines "
            "rows with invalid answers and turns missing-value codes into missing values."
        )


def _integral(a: np.ndarray) -> bool:
    """True when every non-NaN value is a whole number (NaN - floor(NaN) is NaN: ignored)."""
    frac = np.floor(a)
    np.subtract(a, frac, out=frac)
    return not (np.fmax.reduce(frac) > 0)


def _contiguous(codes: Mapping[int, Any]) -> bool:
    ks = sorted(codes)
    return ks == list(range(ks[0], ks[-1] + 1))


def _raw_range(scale: Scale, codebook: Codebook, method: str) -> tuple[float, float]:
    """Bounds of the raw (untransformed) score, for ``linear_0_100``."""
    rr = scale.scoring.get("raw_range")
    if rr is not None:
        return float(rr[0]), float(rr[1])
    k = len(scale.items)
    lows, highs = zip(*(_item_range(scale, codebook.items[i]) for i in scale.items))
    if method == "sum":
        return float(sum(lows)), float(sum(highs))
    if method in ("mean", "single"):
        return float(min(lows)), float(max(highs))
    if method == "count":
        return 0.0, float(k)
    raise CodebookError(
        f"scale {scale.name!r}: give 'raw_range' under 'scoring' for transform 'linear_0_100'."
    )


def _table_lookup(raw: np.ndarray, table: Mapping[int, float], scale: Scale) -> None:
    """Replace raw sums by their table value, in place (prorated sums rounded half up first)."""
    keys = np.array(sorted(table), dtype=np.int64)
    vals = np.array([table[k] for k in keys], dtype=np.float64)
    ok = raw == raw
    r = _round_half_up(raw[ok]).astype(np.int64)
    pos = np.clip(r - keys[0], 0, len(keys) - 1) if keys[-1] - keys[0] == len(keys) - 1 \
        else np.minimum(np.searchsorted(keys, r), len(keys) - 1)
    found = keys[pos] == r
    if not found.all():
        missing = np.unique(r[~found])
        raise CodebookError(
            f"scale {scale.name!r}: conversion table {scale.scoring.get('table')!r} has no entry for "
            f"raw score(s) {', '.join(str(int(m)) for m in missing[:5])}. Complete the table in the "
            "codebook's 'tables:' section."
        )
    raw[ok] = vals[pos]


def _transform(raw: np.ndarray, scale: Scale, codebook: Codebook, method: str) -> None:
    """Apply the scale's transform to the raw scores, in place."""
    t = scale.scoring.get("transform")
    if t is None:
        return
    if t == "multiply":
        np.multiply(raw, float(scale.scoring["factor"]), out=raw)
    elif t == "table":
        _table_lookup(raw, codebook.tables[scale.scoring["table"]], scale)
    elif t == "linear_0_100":
        lo, hi = _raw_range(scale, codebook, method)
        if hi <= lo:
            raise CodebookError(f"scale {scale.name!r}: raw range {lo}–{hi} is empty.")
        np.subtract(raw, lo, out=raw)
        np.multiply(raw, 100.0, out=raw)
        np.divide(raw, hi - lo, out=raw)
    else:  # pragma: no cover - the codebook loader rejects unknown transforms
        raise CodebookError(f"scale {scale.name!r}: transform {t!r} is not known.")


def _combine(method: str, total: np.ndarray, n: np.ndarray, k: int, need: int, prorate: bool) -> None:
    """Turn the running sum of the answered (keyed) items into the raw score, in place.

    ``mean``: sum / n.  ``sum`` with ``prorate``: (sum * k) / n, which is exact when all k items
    are answered (an exact multiple divided by k).  Plain ``sum``: the sum.  Rows with fewer than
    ``need`` answers become NaN.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "mean":
            np.divide(total, n, out=total)
        elif prorate:
            np.multiply(total, k, out=total)
            np.divide(total, n, out=total)
    np.copyto(total, np.nan, where=n < need)


def band_bounds(scale: Scale) -> np.ndarray:
    """The inclusive upper bounds of a scale's cut-off bands (increasing: checked when the codebook loads)."""
    return np.array([float(c["upto"]) for c in scale.cutoffs])


def band_codes(values: np.ndarray, bounds: np.ndarray, out: np.ndarray) -> None:
    """Band index of each score: i where bounds[i-1] < v <= bounds[i]; -1 for NaN or above."""
    out[:] = 0
    for b in bounds[:-1]:
        np.add(out, (values > b).view(np.int8), out=out)
    out[~(values <= bounds[-1])] = -1  # NaN compares False


def score_items(src: Mapping[str, Source], scale: Scale, codebook: Codebook, s: int, e: int,
                 total: np.ndarray, n: np.ndarray, subs: Mapping[str, np.ndarray]) -> None:
    """Score rows s:e of one item-based scale into the zero-filled arrays given."""
    method = scale.scoring["method"]
    k = len(scale.items)
    need = int(scale.scoring.get("min_answered") or k)
    prorate = bool(scale.scoring.get("prorate", False))
    sub_of = {it: sub for sub, its in scale.subscales.items() for it in its}
    sub_n = {sub: np.zeros(e - s, dtype=np.int8) for sub in scale.subscales}
    reverse = set(scale.reverse_items)
    for it in scale.items:
        item = src[it]
        x = item.chunk(s, e)
        answered = item.answers(x)
        if it in reverse:
            lo, hi = _item_range(scale, item.var)
            x = np.subtract(lo + hi, x, dtype=np.float64)
        if method == "count":
            thr = scale.scoring.get("threshold")
            thr = _item_range(scale, item.var)[1] if thr is None else float(thr)
            with np.errstate(invalid="ignore"):
                x = x >= thr
        elif x.dtype != np.float64:
            x = x.astype(np.float64)
        counted = answered.view(np.int8)
        np.add(total, x, out=total, where=answered)
        np.add(n, counted, out=n)
        sub = sub_of.get(it)
        if sub is not None:
            np.add(subs[sub], x, out=subs[sub], where=answered)
            np.add(sub_n[sub], counted, out=sub_n[sub])
    if method == "single":
        np.copyto(total, np.nan, where=n < 1)
    else:
        _combine(method, total, n, k, need, prorate)
    _transform(total, scale, codebook, method)
    sub_need = scale.subscale_min_answered
    for sub, its in scale.subscales.items():
        ks = len(its)
        sneed = min(int(sub_need), ks) if sub_need is not None else ks
        _combine("sum" if method in ("sum", "count") else "mean", subs[sub], sub_n[sub], ks, sneed,
                 prorate)


def score_composite(scale: Scale, done: Mapping[str, np.ndarray], total: np.ndarray,
                     n: np.ndarray) -> None:
    for c in scale.composite_of:
        v = done[c]
        ok = v == v
        np.add(total, v, out=total, where=ok)
        np.add(n, ok.view(np.int8), out=n)
    _combine("mean", total, n, len(scale.composite_of),
             int(scale.scoring.get("min_answered") or len(scale.composite_of)), False)


def fill(df: pd.DataFrame, codebook: Codebook, order: list[str], floats: list[str], counts: list[str],
         band_cols: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score the scales ``order`` (components before composites) for every row of ``df``.

    Returns three blocks, one row per output column: ``F`` (float64: ``floats``, the scores and
    subscales), ``N`` (int8: ``counts``, answered items) and ``B`` (int8: ``band_cols``, band
    codes, -1 for none). Filled in place chunk by chunk, so the frames built on them need no copy.
    Scales in ``order`` without a column of their own (components of a composite) are scored
    into scratch arrays.
    """
    n_rows = len(df)
    needed = {it for s in order for it in codebook.scales[s].items}
    src = {it: Source(df, codebook.items[it], codebook.scales[codebook.items[it].scale])
           for it in codebook.items if it in needed}
    bounds = {c[:-len("_band")]: band_bounds(codebook.scales[c[:-len("_band")]]) for c in band_cols}
    F = np.empty((len(floats), n_rows))
    N = np.empty((len(counts), n_rows), dtype=np.int8)
    B = np.empty((len(band_cols), n_rows), dtype=np.int8)
    fpos = {c: i for i, c in enumerate(floats)}
    npos = {c: i for i, c in enumerate(counts)}
    bpos = {c: i for i, c in enumerate(band_cols)}
    for s in range(0, max(n_rows, 1), CHUNK):
        e = min(s + CHUNK, n_rows)
        done: dict[str, np.ndarray] = {}
        for name in order:
            sc = codebook.scales[name]
            mine = name in fpos
            total = F[fpos[name], s:e] if mine else np.empty(e - s)
            n = N[npos[f"{name}_n"], s:e] if mine else np.empty(e - s, dtype=np.int8)
            total[:] = 0.0
            n[:] = 0
            if sc.scoring["method"] == "mean_of_scales":
                score_composite(sc, done, total, n)
            else:
                subs = {}
                for sub in sc.subscales:
                    subs[sub] = F[fpos[f"{name}_{sub}"], s:e] if mine else np.empty(e - s)
                    subs[sub][:] = 0.0
                score_items(src, sc, codebook, s, e, total, n, subs)
            done[name] = total
            if name in bounds:
                band_codes(total, bounds[name], B[bpos[f"{name}_band"], s:e])
    return F, N, B
