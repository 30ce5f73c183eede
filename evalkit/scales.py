"""Score the questionnaire scales the codebook defines: one vectorised pass per scale.

:func:`score` reads every scale's published scoring rule from the codebook (``scales:`` and
``tables:`` in ``data/codebook.yaml``) and applies it generically: reverse-keying, the
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

from .codebook import Codebook, Scale, Variable
from .errors import CodebookError, EvalkitError

__all__ = ["score", "describe_scales", "score_columns"]


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


def _item_values(df: pd.DataFrame, var: Variable) -> np.ndarray:
    """One item as a float64 array the caller owns: missing codes -> NaN; invalid -> error.

    Missing-value codes (the item's own ``missing_codes``, by default 97/98/99) still present in
    the column are treated as missing, not as answers. Any other value outside the item's codes or
    range raises :class:`EvalkitError`.
    """
    col = df[var.name]
    try:
        if isinstance(col.dtype, pd.api.extensions.ExtensionDtype):  # Int64, Float64, ...
            x = np.array(col.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64, copy=True)
        else:
            x = np.array(col.to_numpy(), dtype=np.float64, copy=True)  # our own copy
    except (TypeError, ValueError):
        raise EvalkitError(
            f"Column {var.name!r} is not numeric (dtype {col.dtype}); scale items must hold numeric "
            "answer codes. Read the file with evalkit.read_survey and run evalkit.validate first: "
            "it types the columns and quarantines text answers."
        ) from None
    if x.size == 0:
        return x
    lo_seen, hi_seen = np.nanmin(x, initial=np.inf), np.nanmax(x, initial=-np.inf)
    rng = var.valid_range
    lo = -np.inf if rng is None or rng[0] is None else float(rng[0])
    hi = np.inf if rng is None or rng[1] is None else float(rng[1])
    if lo_seen >= lo and hi_seen <= hi and (var.codes is None or _integral(x)):
        if var.codes is None or _contiguous(var.codes):
            return x  # fast path: everything is a valid answer or NaN
    if var.missing_codes:
        codes = np.fromiter(var.missing_codes, dtype=np.float64)
        if hi_seen >= codes.min() or lo_seen <= codes.max():
            x[np.isin(x, codes)] = np.nan
    if var.codes is not None:
        bad = ~np.isnan(x) & ~np.isin(x, np.fromiter(var.codes, dtype=np.float64))
        allowed = f"codes {', '.join(_fmt(c) for c in var.codes)}"
    else:
        bad = ~np.isnan(x) & ((x < lo) | (x > hi))
        allowed = f"range {_fmt(lo)}–{_fmt(hi)}"
    if bad.any():
        vals = x[bad]
        raise EvalkitError(
            f"Column {var.name!r} has {int(bad.sum())} value(s) outside its valid {allowed} "
            f"(e.g. {_fmt(vals[0])}) that are not missing-value codes. Scores would be wrong. "
            "Run evalkit.validate(df, codebook) first and score its .valid table: it quarantines "
            "rows with invalid answers and turns missing-value codes into missing values."
        )
    return x


def _integral(x: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.isnan(x) | (x == np.floor(x))))


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


def _table_lookup(raw: np.ndarray, table: Mapping[int, float], scale: Scale) -> np.ndarray:
    keys = np.array(sorted(table), dtype=np.int64)
    vals = np.array([table[k] for k in keys], dtype=np.float64)
    out = np.full(raw.shape, np.nan)
    ok = ~np.isnan(raw)
    r = _round_half_up(raw[ok]).astype(np.int64)
    pos = np.searchsorted(keys, r)
    pos_c = np.minimum(pos, len(keys) - 1)
    found = keys[pos_c] == r
    if not found.all():
        missing = np.unique(r[~found])
        raise CodebookError(
            f"scale {scale.name!r}: conversion table {scale.scoring.get('table')!r} has no entry for "
            f"raw score(s) {', '.join(str(int(m)) for m in missing[:5])}. Complete the table in the "
            "codebook's 'tables:' section."
        )
    out[ok] = vals[pos_c]
    return out


def _transform(raw: np.ndarray, scale: Scale, codebook: Codebook, method: str) -> np.ndarray:
    t = scale.scoring.get("transform")
    if t is None:
        return raw
    if t == "multiply":
        return raw * float(scale.scoring["factor"])
    if t == "table":
        return _table_lookup(raw, codebook.tables[scale.scoring["table"]], scale)
    if t == "linear_0_100":
        lo, hi = _raw_range(scale, codebook, method)
        if hi <= lo:
            raise CodebookError(f"scale {scale.name!r}: raw range {lo}–{hi} is empty.")
        return (raw - lo) / (hi - lo) * 100.0
    raise CodebookError(f"scale {scale.name!r}: transform {t!r} is not known.")  # pragma: no cover


def _small_int(n: np.ndarray, k: int) -> np.ndarray:
    return n.astype(np.int8 if k < 127 else np.int32, copy=False)


def _combine(method: str, total: np.ndarray, n: np.ndarray, k: int, need: int, prorate: bool) -> np.ndarray:
    """Raw score from the sum of the answered (keyed) items and their count."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "mean":
            raw = total / n
        elif prorate:
            raw = total / n * k
        else:
            raw = total.copy()
    raw[n < need] = np.nan
    return raw


def _bands(values: np.ndarray, scale: Scale) -> pd.Categorical:
    labels = [str(c["label"]) for c in scale.cutoffs]
    bounds = np.array([float(c["upto"]) for c in scale.cutoffs])
    if np.any(np.diff(bounds) <= 0):
        raise CodebookError(
            f"scale {scale.name!r}: cutoffs must be listed with increasing 'upto' values; got "
            f"{', '.join(_fmt(b) for b in bounds)}."
        )
    codes = np.searchsorted(bounds, values, side="left")  # bounds[i-1] < v <= bounds[i]
    codes[np.isnan(values) | (codes >= len(bounds))] = -1
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=labels, ordered=True)


def score_columns(codebook: Codebook, scales: Iterable[str] | None = None, *, bands: bool = True) -> list[str]:
    """Names of the columns :func:`score` adds, in order (score, ``_n``, subscales, ``_band``)."""
    names = list(codebook.scales) if scales is None else list(scales)
    cols: list[str] = []
    for name in names:
        sc = codebook._scale(name)
        cols += [name, f"{name}_n"] + [f"{name}_{s}" for s in sc.subscales]
        if bands and sc.cutoffs:
            cols.append(f"{name}_band")
    return cols


# ---------------------------------------------------------------------------------------------
# one scale

def _score_items(df: pd.DataFrame, scale: Scale, codebook: Codebook) -> dict[str, np.ndarray]:
    method = scale.scoring["method"]
    k = len(scale.items)
    need = int(scale.scoring.get("min_answered") or k)
    prorate = bool(scale.scoring.get("prorate", False))
    n_rows = len(df)
    total = np.zeros(n_rows)
    n = np.zeros(n_rows, dtype=np.int32)
    sub_of = {it: s for s, its in scale.subscales.items() for it in its}
    sub_total = {s: np.zeros(n_rows) for s in scale.subscales}
    sub_n = {s: np.zeros(n_rows, dtype=np.int32) for s in scale.subscales}
    reverse = set(scale.reverse_items)
    for it in scale.items:
        var = codebook.items[it]
        x = _item_values(df, var)
        if it in reverse:
            lo, hi = _item_range(scale, var)
            np.subtract(lo + hi, x, out=x)
        if method == "count":
            thr = scale.scoring.get("threshold")
            thr = _item_range(scale, var)[1] if thr is None else float(thr)
            answered = ~np.isnan(x)
            with np.errstate(invalid="ignore"):
                x = (x >= thr).astype(np.float64)
            x[~answered] = np.nan
        answered = ~np.isnan(x)
        np.copyto(x, 0.0, where=~answered)
        total += x
        n += answered
        s = sub_of.get(it)
        if s is not None:
            sub_total[s] += x
            sub_n[s] += answered
    if method == "single":
        raw = np.where(n >= 1, total, np.nan)
    else:
        raw = _combine(method, total, n, k, need, prorate)
    out = {scale.name: _transform(raw, scale, codebook, method), f"{scale.name}_n": _small_int(n, k)}
    sub_need_default = scale.subscale_min_answered
    for s, its in scale.subscales.items():
        ks = len(its)
        sneed = min(int(sub_need_default), ks) if sub_need_default is not None else ks
        smethod = "sum" if method in ("sum", "count") else "mean"
        out[f"{scale.name}_{s}"] = _combine(smethod, sub_total[s], sub_n[s], ks, sneed, prorate)
    return out


def _score_composite(scale: Scale, done: dict[str, np.ndarray], n_rows: int) -> dict[str, np.ndarray]:
    comps = scale.composite_of
    total = np.zeros(n_rows)
    n = np.zeros(n_rows, dtype=np.int32)
    for c in comps:
        v = done[c]
        ok = ~np.isnan(v)
        total += np.where(ok, v, 0.0)
        n += ok
    need = int(scale.scoring.get("min_answered") or len(comps))
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = total / n
    raw[n < need] = np.nan
    return {scale.name: raw, f"{scale.name}_n": _small_int(n, len(comps))}


# ---------------------------------------------------------------------------------------------
# public API

def score(
    df: pd.DataFrame,
    codebook: Codebook | None = None,
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
        The codebook; ``None`` loads the shipped ``data/codebook.yaml``.
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
        by, for each scale in codebook order:

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
    >>> from evalkit.codebook import load_codebook
    >>> from evalkit.scales import score
    >>> cb = load_codebook()
    >>> df = pd.DataFrame({f"who5_{i}": [3, 3, 1] for i in range(1, 6)})
    >>> df.loc[2, "who5_5"] = float("nan")  # one item missing: prorated from the other four
    >>> score(df, cb, scales="who5")[["who5", "who5_n", "who5_band"]]
       who5  who5_n           who5_band
    0  60.0       5  adequate_wellbeing
    1  60.0       5  adequate_wellbeing
    2  20.0       4   likely_depression
    """
    if codebook is None:
        from .codebook import load_codebook

        codebook = load_codebook()
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
        affected = [s for s in order if any(it in absent for it in codebook.scales[s].items)]
        raise EvalkitError(
            f"The table lacks item column(s) {', '.join(absent[:10])}"
            f"{' …' if len(absent) > 10 else ''} needed by scale(s) {', '.join(affected)}. "
            "Score only the scales the table holds, e.g. "
            f"score(df, codebook, scales=[{', '.join(repr(s) for s in wanted if s not in affected)[:200]}])."
        )

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
    done: dict[str, np.ndarray] = {}
    new: dict[str, Any] = {}
    for name in order:
        sc = codebook.scales[name]
        if sc.scoring["method"] == "mean_of_scales":
            res = _score_composite(sc, done, n_rows)
        else:
            res = _score_items(df, sc, codebook)
        done[name] = res[name]
        if name in wanted:
            new.update(res)
            if bands and sc.cutoffs:
                new[f"{name}_band"] = _bands(res[name], sc)
    cols = [c for c in score_columns(codebook, wanted, bands=bands) if c in new]
    added = pd.DataFrame({c: new[c] for c in cols}, index=df.index)
    base = df.drop(columns=[c for c in cols if c in df.columns])
    return pd.concat([base, added], axis=1)


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


def describe_scales(codebook: Codebook | None = None) -> pd.DataFrame:
    """One row per scale: what it measures, how it is scored, and where the rule comes from.

    Parameters
    ----------
    codebook
        The codebook; ``None`` loads the shipped one.

    Returns
    -------
    pandas.DataFrame
        Columns ``scale, zh, en, domain, group, kind, n_items, range, rule, citation``:
        ``group`` is the respondent group the scale is reported for (``"all"`` when it is not
        restricted), ``kind`` is ``"mean"`` or ``"proportion"``, ``range`` the score range and
        ``rule`` a one-line summary of the scoring rule generated from the codebook.

    Examples
    --------
    >>> from evalkit.codebook import load_codebook
    >>> from evalkit.scales import describe_scales
    >>> t = describe_scales(load_codebook())
    >>> t.set_index("scale").loc["who5", "rule"]
    'sum of 5 items (0–5); at least 4 answered, prorated; × 4; bands: ≤28 likely_depression, ≤50 poor_wellbeing, ≤100 adequate_wellbeing'
    """
    if codebook is None:
        from .codebook import load_codebook

        codebook = load_codebook()
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
