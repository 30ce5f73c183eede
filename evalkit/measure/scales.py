"""Score the questionnaire scales the codebook defines: one vectorised pass per scale.

:func:`score` reads every scale's published scoring rule from the codebook (``scales:`` and
``tables:`` in the shipped ``codebook.yaml``) and applies it generically: reverse-keying, the
minimum number of answered items, proration, the transform to the reported metric (multiply,
conversion table, linear 0–100) and the labelled cut-off bands. Adding a scale is an edit to the
YAML file, not to this module. :func:`describe_scales` lists the scales and their rules for a
notebook.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..spec.codebook import Codebook, Scale, Variable, as_codebook
from ..errors import CodebookError, EvalkitError

__all__ = ["score", "describe_scales", "score_columns"]

#: Rows scored at a time: temporaries stay small (cache-resident, reused by the allocator).
_CHUNK = 1 << 18


# ---------------------------------------------------------------------------------------------
# helpers

def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def _round_half_up(x: np.ndarray) -> np.ndarray:
    """Nearest whole number, halves rounded up (12.5 -> 13), NaN kept."""
    return np.floor(x + 0.5)


def _order(codebook: Codebook, names: list[str]) -> list[str]:
    """Requested scales plus the components of composites, components first."""
    out: list[str] = []
    seen: set[str] = set()

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in stack:
            raise CodebookError(
                f"{codebook.path}: scale {name!r} is (indirectly) a composite of itself "
                f"({' -> '.join(stack + (name,))}). Fix 'composite_of'."
            )
        sc = codebook._scale(name)
        for c in sc.composite_of:
            visit(c, stack + (name,))
        seen.add(name)
        out.append(name)

    for n in names:
        visit(n, ())
    return out


def _absent_items_message(codebook: Codebook, order: list[str], wanted: list[str], absent: list[str],
                          columns: set) -> str:
    """What is missing for :func:`score`, and a complete call that scores what the table holds."""
    held = {s: all(it in columns for c in _order(codebook, [s]) for it in codebook.scales[c].items)
            for s in order}  # a composite needs the items of its components
    affected = [s for s in order if not held[s]]
    scorable = [s for s in wanted if held[s]]
    if scorable:
        fix = ("Score only the scales the table holds: "
               f"score(df, codebook, scales=[{', '.join(repr(s) for s in scorable)}]).")
    else:
        fix = ("The table holds every item of none of them: add the item columns, or map the export's "
               "headers to the codebook's names with read_survey(path, codebook, column_map={...}).")
    return (f"The table lacks item column(s) {', '.join(absent[:10])}"
            f"{' …' if len(absent) > 10 else ''} needed by scale(s) {', '.join(affected)}. {fix}")


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


class _Source:
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
            allowed = f"codes {', '.join(_fmt(c) for c in self.codes)}"
        else:
            with np.errstate(invalid="ignore"):
                bad &= (a < self.lo) | (a > self.hi)
            allowed = f"range {_fmt(self.lo)}–{_fmt(self.hi)}"
        if self.missing is not None:
            bad &= ~np.isin(a, self.missing)
        vals = a[bad]
        raise EvalkitError(
            f"Column {self.name!r} has {vals.size} value(s) outside its valid {allowed} "
            f"(e.g. {_fmt(vals[0])}) that are not missing-value codes. Scores would be wrong. "
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


def _band_bounds(scale: Scale) -> np.ndarray:
    bounds = np.array([float(c["upto"]) for c in scale.cutoffs])
    if np.any(np.diff(bounds) <= 0):
        raise CodebookError(
            f"scale {scale.name!r}: cutoffs must be listed with increasing 'upto' values; got "
            f"{', '.join(_fmt(b) for b in bounds)}."
        )
    return bounds


def _band_codes(values: np.ndarray, bounds: np.ndarray, out: np.ndarray) -> None:
    """Band index of each score: i where bounds[i-1] < v <= bounds[i]; -1 for NaN or above."""
    out[:] = 0
    for b in bounds[:-1]:
        np.add(out, (values > b).view(np.int8), out=out)
    out[~(values <= bounds[-1])] = -1  # NaN compares False


def _plan(codebook: Codebook, names: list[str], bands: bool) -> tuple[list[str], list[str], list[str]]:
    floats, counts, band_cols = [], [], []
    for name in names:
        sc = codebook._scale(name)
        floats += [name] + [f"{name}_{s}" for s in sc.subscales]
        counts.append(f"{name}_n")
        if bands and sc.cutoffs:
            band_cols.append(f"{name}_band")
    return floats, counts, band_cols


def score_columns(codebook: Codebook, scales: Iterable[str] | str | None = None, *,
                  bands: bool = True) -> list[str]:
    """Names of the columns :func:`score` adds, in the order it adds them.

    First every score and subscale (float64, scale by scale in codebook order), then every
    ``<scale>_n`` (int8), then every ``<scale>_band`` (categorical): columns of one type are
    stored together, so the scored table is built without copying.
    """
    if isinstance(scales, str):
        scales = [scales]
    wanted = list(codebook.scales) if scales is None else [codebook._scale(s).name for s in scales]
    wanted = [s for s in codebook.scales if s in set(wanted)]
    floats, counts, band_cols = _plan(codebook, wanted, bands)
    return floats + counts + band_cols


# ---------------------------------------------------------------------------------------------
# one scale

def _score_items(src: Mapping[str, _Source], scale: Scale, codebook: Codebook, s: int, e: int,
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


def _score_composite(scale: Scale, done: Mapping[str, np.ndarray], total: np.ndarray,
                     n: np.ndarray) -> None:
    for c in scale.composite_of:
        v = done[c]
        ok = v == v
        np.add(total, v, out=total, where=ok)
        np.add(n, ok.view(np.int8), out=n)
    _combine("mean", total, n, len(scale.composite_of),
             int(scale.scoring.get("min_answered") or len(scale.composite_of)), False)


# ---------------------------------------------------------------------------------------------
# public API

def score(
    df: pd.DataFrame,
    codebook: Codebook | str | None = None,
    *,
    scales: Iterable[str] | str | None = None,
    bands: bool = True,
) -> pd.DataFrame:
    """Score every scale of the codebook (or the ones named) for every row.

    Parameters
    ----------
    df
        Survey table with one column per questionnaire item (e.g. the ``.valid`` table of
        :func:`evalkit.validate`). Answers must be numeric codes with missing answers as NaN.
        Defensively, missing-value codes still present in an item (97 don't know, 98 refused,
        99 not applicable, or the item's own codes such as 9997) are treated as *missing*, never
        as answers. Any other value outside the item's codes or range raises
        :class:`~evalkit.errors.EvalkitError` naming the column, the count and an example value.
    codebook
        The codebook, or the path of its YAML file; ``None`` loads the shipped ``codebook.yaml``.
    scales
        Names of the scales to score (default: all). Components of a composite scale are scored
        internally but only the scales named are added.
    bands
        Add ``<scale>_band`` for scales with ``cutoffs``.

    Returns
    -------
    pandas.DataFrame
        A new table: ``df``'s columns (unchanged; score columns of the same name are replaced,
        e.g. when a scored table is scored again; a single-item scale that has the name of its
        item, such as ``deliberation``, replaces the item column with identical values) followed
        by these columns for each scale (all scores first, then all counts, then all bands; see
        :func:`score_columns`):

        - ``<scale>`` (float64): the score on the reported metric, NaN when too few items are
          answered (so NaN for respondents the items are not asked of: their answers are NaN);
        - ``<scale>_n`` (int8): number of answered items (for a composite: of component scores);
        - ``<scale>_<subscale>`` (float64): each subscale, raw metric (mean or prorated sum of
          its items; no transform), NaN below ``subscale_min_answered`` (default: all its items);
        - ``<scale>_band`` (ordered categorical): the cut-off band label, NaN when the score is.

    Raises
    ------
    EvalkitError
        An item column is missing or not numeric, or holds a value outside its codes that is not
        a missing-value code.
    CodebookError
        A scale's rule cannot be applied (e.g. a conversion table lacks an entry).

    Notes
    -----
    For each scale (items :math:`x_1..x_k`, answered set :math:`A`, :math:`m=|A|`):

    1. reverse-keyed items are recoded :math:`x' = x_{min} + x_{max} - x`;
    2. if :math:`m <` ``min_answered`` (default :math:`k`) the score is missing;
    3. raw score: ``sum`` :math:`\\sum_A x` (with ``prorate``: :math:`\\bar x_A \\cdot k`, i.e.
       person-mean imputation of the missing items); ``mean`` :math:`\\bar x_A`; ``single`` the
       item; ``count`` the number of items at or above ``threshold`` (default the top code;
       prorated like a sum); ``mean_of_scales`` the mean of the component scores (all required
       unless ``min_answered`` says otherwise);
    4. transform: ``multiply`` (WHO-5: raw 0–25 × 4, Topp et al. 2015); ``table`` — lookup of
       the raw sum in the codebook's conversion table (SWEMWBS Rasch metric, Stewart-Brown et al.
       2009). A prorated sum is first rounded to the nearest whole number, halves up, because
       the table is defined on whole raw scores only; this follows the practice of the PROMIS
       scoring manuals (HealthMeasures), which prorate and then round before their raw-score
       conversion tables (some PROMIS manuals round fractions up instead; evalkit rounds to the
       nearest). ``linear_0_100``: :math:`(raw - raw_{min})/(raw_{max} - raw_{min}) \\times 100`
       with the raw range implied by the item range (KIDSCREEN-10-style index);
    5. bands: the first cut-off whose inclusive upper bound ``upto`` is at least the score.

    Every scale is computed with numpy on whole columns (no loop over rows). Each scale's rule
    and citation are listed by :func:`describe_scales`.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.spec.codebook import load_codebook
    >>> from evalkit.measure.scales import score
    >>> cb = load_codebook()
    >>> df = pd.DataFrame({f"who5_{i}": [3, 3, 1] for i in range(1, 6)})
    >>> df.loc[2, "who5_5"] = float("nan")  # one item missing: prorated from the other four
    >>> score(df, cb, scales="who5")[["who5", "who5_n", "who5_band"]]
       who5  who5_n           who5_band
    0  60.0       5  adequate_wellbeing
    1  60.0       5  adequate_wellbeing
    2  20.0       4   likely_depression
    """
    codebook = as_codebook(codebook, "score()")
    if not isinstance(df, pd.DataFrame):
        raise EvalkitError(f"score() needs a pandas DataFrame, got {type(df).__name__}.")
    if isinstance(scales, str):
        scales = [scales]
    wanted = list(codebook.scales) if scales is None else [codebook._scale(s).name for s in scales]
    wanted = [s for s in codebook.scales if s in set(wanted)]  # codebook order
    order = _order(codebook, wanted)

    needed = {it for s in order for it in codebook.scales[s].items}
    absent = [it for it in codebook.items if it in needed and it not in df.columns]
    if absent:
        raise EvalkitError(_absent_items_message(codebook, order, wanted, absent, set(df.columns)))

    for name in wanted:  # a scale named like an item replaces that column: only when identical
        sc = codebook.scales[name]
        identity = (sc.scoring["method"] == "single" and sc.items == (name,)
                    and not sc.scoring.get("transform") and not sc.reverse_items)
        if name in codebook.items and not identity:
            raise CodebookError(
                f"{codebook.path}: scale {name!r} has the name of an item but is not that item "
                "unchanged, so its score would overwrite the answers. Rename the scale."
            )

    n_rows = len(df)
    floats, counts, band_cols = _plan(codebook, wanted, bands)
    src = {it: _Source(df, codebook.items[it], codebook.scales[codebook.items[it].scale])
           for it in codebook.items if it in needed}
    bounds = {name: _band_bounds(codebook.scales[name]) for name in wanted
              if bands and codebook.scales[name].cutoffs}
    # one block per dtype, filled in place chunk by chunk (no copies when the frame is built)
    F = np.empty((len(floats), n_rows))
    N = np.empty((len(counts), n_rows), dtype=np.int8)
    B = np.empty((len(band_cols), n_rows), dtype=np.int8)
    fpos = {c: i for i, c in enumerate(floats)}
    npos = {c: i for i, c in enumerate(counts)}
    bpos = {c: i for i, c in enumerate(band_cols)}
    for s in range(0, max(n_rows, 1), _CHUNK):
        e = min(s + _CHUNK, n_rows)
        done: dict[str, np.ndarray] = {}
        for name in order:
            sc = codebook.scales[name]
            mine = name in fpos
            total = F[fpos[name], s:e] if mine else np.empty(e - s)
            n = N[npos[f"{name}_n"], s:e] if mine else np.empty(e - s, dtype=np.int8)
            total[:] = 0.0
            n[:] = 0
            if sc.scoring["method"] == "mean_of_scales":
                _score_composite(sc, done, total, n)
            else:
                subs = {}
                for sub in sc.subscales:
                    subs[sub] = F[fpos[f"{name}_{sub}"], s:e] if mine else np.empty(e - s)
                    subs[sub][:] = 0.0
                _score_items(src, sc, codebook, s, e, total, n, subs)
            done[name] = total
            if name in bounds:
                _band_codes(total, bounds[name], B[bpos[f"{name}_band"], s:e])
    added = [
        pd.DataFrame(F.T, index=df.index, columns=floats, copy=False),
        pd.DataFrame(N.T, index=df.index, columns=counts, copy=False),
    ]
    if band_cols:
        added.append(pd.DataFrame({
            c: pd.Categorical.from_codes(
                B[bpos[c]], categories=[str(x["label"]) for x in codebook.scales[c[:-5]].cutoffs],
                ordered=True, validate=False)
            for c in band_cols}, index=df.index))
    base = df.drop(columns=[c for c in floats + counts + band_cols if c in df.columns])
    return pd.concat([base, *added], axis=1)


def _rule(scale: Scale, codebook: Codebook) -> str:
    s = scale.scoring
    method = s["method"]
    k = len(scale.items)
    if method == "mean_of_scales":
        txt = f"mean of the scales {', '.join(scale.composite_of)}"
        if s.get("min_answered"):
            txt += f" (at least {s['min_answered']} scored)"
        return txt
    rng = ""
    if scale.item_range is not None:
        rng = f" ({_fmt(scale.item_range[0])}–{_fmt(scale.item_range[1])})"
    elif k == 1:
        vr = codebook.items[scale.items[0]].valid_range
        if vr is not None:
            rng = f" ({_fmt(vr[0])}–{_fmt(vr[1])})"
    if method == "single":
        txt = f"single item {scale.items[0]}{rng}"
    else:
        what = {"sum": "sum", "mean": "mean", "count": "count"}[method]
        txt = f"{what} of {k} items{rng}"
        need = int(s.get("min_answered") or k)
        txt += "; all items required" if need >= k else f"; at least {need} answered"
        if s.get("prorate") and method != "mean" and need < k:
            txt += ", prorated"
    if scale.reverse_items:
        txt += f"; reversed: {', '.join(scale.reverse_items)}"
    t = s.get("transform")
    if t == "multiply":
        txt += f"; × {_fmt(s['factor'])}"
    elif t == "table":
        txt += f"; conversion table {s['table']}"
    elif t == "linear_0_100":
        txt += "; rescaled linearly to 0–100"
    if scale.subscales:
        txt += f"; subscales: {', '.join(scale.subscales)}"
    if scale.cutoffs:
        txt += "; bands: " + ", ".join(f"≤{_fmt(c['upto'])} {c['label']}" for c in scale.cutoffs)
    return txt


def describe_scales(codebook: Codebook | str | None = None) -> pd.DataFrame:
    """One row per scale: what it measures, how it is scored, and where the rule comes from.

    Parameters
    ----------
    codebook
        The codebook, or the path of its YAML file; ``None`` loads the shipped one.

    Returns
    -------
    pandas.DataFrame
        Columns ``scale, zh, en, domain, group, kind, n_items, range, rule, citation``:
        ``group`` is the respondent group the scale is reported for (``"all"`` when it is not
        restricted), ``kind`` is ``"mean"`` or ``"proportion"``, ``range`` the score range and
        ``rule`` a one-line summary of the scoring rule generated from the codebook.

    Examples
    --------
    >>> from evalkit.spec.codebook import load_codebook
    >>> from evalkit.measure.scales import describe_scales
    >>> t = describe_scales(load_codebook())
    >>> t.set_index("scale").loc["who5", "rule"]
    'sum of 5 items (0–5); at least 4 answered, prorated; × 4; bands: ≤28 likely_depression, ≤50 poor_wellbeing, ≤100 adequate_wellbeing'
    """
    codebook = as_codebook(codebook, "describe_scales()")
    rows = []
    for sc in codebook.scales.values():
        rng = "" if sc.score_range is None else f"{_fmt(sc.score_range[0])}–{_fmt(sc.score_range[1])}"
        rows.append({
            "scale": sc.name,
            "zh": sc.label.zh,
            "en": sc.label.en,
            "domain": sc.domain,
            "group": sc.group or "all",
            "kind": sc.kind,
            "n_items": len(sc.items),
            "range": rng,
            "rule": _rule(sc, codebook),
            "citation": sc.citation,
        })
    return pd.DataFrame(rows, columns=["scale", "zh", "en", "domain", "group", "kind", "n_items",
                                       "range", "rule", "citation"])
