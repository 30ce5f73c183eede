"""Score the questionnaire scales the codebook defines: one vectorised pass per scale.

:func:`score` reads every scale's published scoring rule from the codebook (``scales:`` and
``tables:`` of the study's ``codebook.yaml``) and applies it generically
(:mod:`evalkit.measure.scoring`): reverse-keying, the minimum number of answered items, proration,
the transform to the reported metric (multiply, conversion table, linear 0–100) and the labelled
cut-off bands. Adding a scale is an edit to the YAML file, not to this module.
:func:`describe_scales` lists the scales and their rules for a notebook. Both need the codebook
(or a :class:`evalkit.Study`): nothing here reads the shipped example's files.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..errors import CodebookError, EvalkitError
from ..spec.codebook import Codebook, Scale, as_codebook
from .scoring import band_bounds as _band_bounds  # noqa: F401  (evalkit.survey.indicators, one release)
from .scoring import band_codes as _band_codes  # noqa: F401
from .scoring import fill, fmt

__all__ = ["score", "describe_scales", "score_columns"]


def _codebook(codebook: Any, study: Any, caller: str) -> Codebook:
    """The codebook given, else the study's; an error naming both ways when there is neither."""
    if codebook is None and study is not None:
        codebook = getattr(study, "codebook", None)
        if codebook is None:
            raise EvalkitError(f"{caller}: study= needs an evalkit.Study (with a codebook), got "
                               f"{type(study).__name__}.")
    if codebook is None:
        raise EvalkitError(f"{caller} needs the codebook of your survey: pass its path, "
                           "evalkit.load_codebook(path), or study=evalkit.Study.from_files(codebook_path, ...).")
    return as_codebook(codebook, caller)


def _order(codebook: Codebook, names: list[str]) -> list[str]:
    """Requested scales plus the components of composites, components first.

    The codebook's schema check refuses composites that contain themselves when it loads.
    """
    out: list[str] = []

    def visit(name: str) -> None:
        if name in out:
            return
        for c in codebook._scale(name).composite_of:
            visit(c)
        out.append(name)

    for n in names:
        visit(n)
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


def score(
    df: pd.DataFrame,
    codebook: Codebook | str | None = None,
    *,
    study: Any = None,
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
    codebook, study
        The codebook or the path of its YAML file, or a :class:`evalkit.Study` (its codebook);
        one of them is required.
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
    >>> import evalkit
    >>> cb = evalkit.load_codebook(evalkit.datasets.data_path("codebook.yaml"))
    >>> df = pd.DataFrame({f"who5_{i}": [3, 3, 1] for i in range(1, 6)})
    >>> df.loc[2, "who5_5"] = float("nan")  # one item missing: prorated from the other four
    >>> evalkit.score(df, cb, scales="who5")[["who5", "who5_n", "who5_band"]]
       who5  who5_n           who5_band
    0  60.0       5  adequate_wellbeing
    1  60.0       5  adequate_wellbeing
    2  20.0       4   likely_depression
    """
    codebook = _codebook(codebook, study, "score()")
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
    _check_item_names(codebook, wanted)
    floats, counts, band_cols = _plan(codebook, wanted, bands)
    F, N, B = fill(df, codebook, order, floats, counts, band_cols)
    added = [
        pd.DataFrame(F.T, index=df.index, columns=floats, copy=False),
        pd.DataFrame(N.T, index=df.index, columns=counts, copy=False),
    ]
    if band_cols:
        added.append(pd.DataFrame({
            c: pd.Categorical.from_codes(
                B[i], categories=[str(x["label"]) for x in codebook.scales[c[:-len("_band")]].cutoffs],
                ordered=True, validate=False)
            for i, c in enumerate(band_cols)}, index=df.index))
    base = df.drop(columns=[c for c in floats + counts + band_cols if c in df.columns])
    return pd.concat([base, *added], axis=1)


def _check_item_names(codebook: Codebook, wanted: list[str]) -> None:
    """A scale named like an item replaces that column: allowed only when its score is the item unchanged."""
    for name in wanted:
        sc = codebook.scales[name]
        identity = (sc.scoring["method"] == "single" and sc.items == (name,)
                    and not sc.scoring.get("transform") and not sc.reverse_items)
        if name in codebook.items and not identity:
            raise CodebookError(
                f"{codebook.path}: scale {name!r} has the name of an item but is not that item "
                "unchanged, so its score would overwrite the answers. Rename the scale."
            )


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
        rng = f" ({fmt(scale.item_range[0])}–{fmt(scale.item_range[1])})"
    elif k == 1:
        vr = codebook.items[scale.items[0]].valid_range
        if vr is not None:
            rng = f" ({fmt(vr[0])}–{fmt(vr[1])})"
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
        txt += f"; × {fmt(s['factor'])}"
    elif t == "table":
        txt += f"; conversion table {s['table']}"
    elif t == "linear_0_100":
        txt += "; rescaled linearly to 0–100"
    if scale.subscales:
        txt += f"; subscales: {', '.join(scale.subscales)}"
    if scale.cutoffs:
        txt += "; bands: " + ", ".join(f"≤{fmt(c['upto'])} {c['label']}" for c in scale.cutoffs)
    return txt


def describe_scales(codebook: Codebook | str | None = None, *, study: Any = None) -> pd.DataFrame:
    """One row per scale: what it measures, how it is scored, and where the rule comes from.

    Parameters
    ----------
    codebook, study
        The codebook or the path of its YAML file, or a :class:`evalkit.Study` (its codebook);
        one of them is required.

    Returns
    -------
    pandas.DataFrame
        Columns ``scale, zh, en, domain, group, kind, n_items, range, rule, citation``:
        ``group`` is the respondent group the scale is reported for (``"all"`` when it is not
        restricted), ``kind`` is ``"mean"`` or ``"proportion"``, ``range`` the score range and
        ``rule`` a one-line summary of the scoring rule generated from the codebook.

    Examples
    --------
    >>> import evalkit
    >>> t = evalkit.describe_scales(evalkit.load_codebook(evalkit.datasets.data_path("codebook.yaml")))
    >>> t.set_index("scale").loc["who5", "rule"]
    'sum of 5 items (0–5); at least 4 answered, prorated; × 4; bands: ≤28 likely_depression, ≤50 poor_wellbeing, ≤100 adequate_wellbeing'
    """
    codebook = _codebook(codebook, study, "describe_scales()")
    rows = []
    for sc in codebook.scales.values():
        rng = "" if sc.score_range is None else f"{fmt(sc.score_range[0])}–{fmt(sc.score_range[1])}"
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
