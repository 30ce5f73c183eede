"""The scorecard (指标体系与评分表): weighted items scored from records, survey estimates and reviewer
ratings, a total out of 100, a grade under configurable bands, the probability that the grade
would differ given the sampling uncertainty of the survey-based items, and the grade under
alternative weightings.

The indicator system is data (``scorecard.yaml``, checked against ``scorecard.schema.json``): an
evaluator edits a copy and passes it as ``scorecard=``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import CodebookError, EvalkitError
from .records import load_checked_yaml

SCORECARD_FILE = Path(__file__).with_name("scorecard.yaml")
SCORECARD_SCHEMA = Path(__file__).with_name("scorecard.schema.json")
#: Columns of the scoring sheet.
SHEET_COLUMNS = ("community_id", "dimension", "dimension_zh", "item", "item_zh", "source", "metric", "value", "se",
                 "points", "score")


@dataclass(frozen=True)
class Scorecard:
    """A loaded indicator system: ``items`` (one row per item: ``dimension, dimension_zh,
    dimension_en, item, item_zh, item_en, source, metric, points, rule``), ``bands`` (name -> list
    of ``(grade, min)`` from the best grade down), ``default_bands`` and the file."""

    items: pd.DataFrame
    bands: dict
    default_bands: str
    path: str

    def band(self, bands: str | list | None = None) -> list[tuple[str, float]]:
        """The grade bands by name (or given as ``[(grade, min), ...]``), best first."""
        if bands is None:
            bands = self.default_bands
        if isinstance(bands, str):
            if bands not in self.bands:
                raise EvalkitError(f"bands={bands!r}: the scorecard defines {sorted(self.bands)}.")
            bands = self.bands[bands]
        out = sorted(((str(g), float(m)) for g, m in bands), key=lambda b: -b[1])
        if len(out) < 2 or len({m for _, m in out}) < len(out):
            raise EvalkitError(f"grade bands {out}: give at least two grades with different minimum scores.")
        return out


def load_scorecard(path: str | Path | None = None) -> Scorecard:
    """Load and check an indicator system (default: the shipped ``scorecard.yaml``).

    Raises :class:`~evalkit.errors.CodebookError` naming the entry when the file does not follow
    the schema, when the points do not sum to 100, or a rule has equal ends.
    """
    raw, p = load_checked_yaml(path, SCORECARD_FILE, SCORECARD_SCHEMA, "scorecard", "scorecard=")
    rows = []
    for d in raw["dimensions"]:
        for it in d["items"]:
            r = it["rule"]
            if (r["type"] == "linear" and r["zero"] == r["full"]) or (
                    r["type"] == "range" and not r["zero_low"] < r["full_low"] <= r["full_high"] < r["zero_high"]):
                raise CodebookError(f"{p}: item {it['key']}: rule {r} cannot turn values into points (linear needs "
                                    "zero != full; range needs zero_low < full_low <= full_high < zero_high).")
            rows.append({"dimension": d["key"], "dimension_zh": d["zh"], "dimension_en": d["en"], "item": it["key"],
                         "item_zh": it["zh"], "item_en": it["en"], "source": it["source"], "metric": it["metric"],
                         "points": float(it["points"]), "rule": dict(r)})
    items = pd.DataFrame(rows)
    if items["item"].duplicated().any():
        raise CodebookError(f"{p}: item keys repeat: {sorted(items.loc[items['item'].duplicated(), 'item'])}.")
    total = items["points"].sum()
    if abs(total - 100) > 1e-9:
        raise CodebookError(f"{p}: the items' points sum to {total:g}, not 100; adjust the points.")
    bands = {k: [(b["grade"], b["min"]) for b in v] for k, v in raw["bands"].items()}
    default = raw.get("default_bands", next(iter(bands)))
    if default not in bands:
        raise CodebookError(f"{p}: default_bands {default!r} is not one of {sorted(bands)}.")
    return Scorecard(items=items, bands=bands, default_bands=default, path=str(p))


def rule_points(value, rule: Mapping, points: float) -> np.ndarray:
    """Points for value(s) under one item's rule (see ``scorecard.yaml``); NaN stays NaN.

    >>> float(rule_points(0.75, {"type": "linear", "zero": 0.5, "full": 1.0}, 20))
    10.0
    """
    v = np.asarray(value, dtype=float)
    if rule["type"] == "linear":
        frac = (v - rule["zero"]) / (rule["full"] - rule["zero"])
    else:
        up = (v - rule["zero_low"]) / (rule["full_low"] - rule["zero_low"])
        down = (rule["zero_high"] - v) / (rule["zero_high"] - rule["full_high"])
        frac = np.minimum(up, down)
    return points * np.clip(frac, 0.0, 1.0)


def grade_of(total, bands: list[tuple[str, float]]):
    """The grade of total score(s): the best band whose minimum the total reaches.

    Totals are rounded to 2 decimals first, as a scoring sheet prints them, so a total of
    89.995 (printed 90.00) is graded as 90.00 and floating-point sums such as 89.99999999999 do
    not fall a band. A total below every minimum gets the lowest grade; NaN gets None.

    >>> grade_of([89.99, 90.0, 59.99], [("优", 90), ("良", 80), ("中", 60), ("差", 0)])
    ['良', '优', '差']
    """
    scalar = np.ndim(total) == 0
    t = np.round(np.atleast_1d(np.asarray(total, dtype=float)), 2)
    out = []
    for x in t:
        if np.isnan(x):
            out.append(None)
            continue
        out.append(next((g for g, m in bands if x >= m), bands[-1][0]))
    return out[0] if scalar else out


def score_sheet(metrics: pd.DataFrame, scorecard: Scorecard) -> pd.DataFrame:
    """The scoring sheet: one row per project and item.

    Parameters
    ----------
    metrics
        ``community_id, metric, value`` and optionally ``se, df`` (sampling uncertainty of
        survey-based metrics): :func:`evalkit.performance.project_metrics`.

    Returns
    -------
    DataFrame
        :data:`SHEET_COLUMNS`: ``value`` the project's metric, ``points`` the item's weight,
        ``score`` its points earned (NaN when the metric is missing: the total is then NaN and
        the project is not graded, rather than scored as if the item earned nothing).
    """
    m = metrics.set_index(["community_id", "metric"])
    rows = []
    for cid in dict.fromkeys(metrics["community_id"]):
        for it in scorecard.items.itertuples(index=False):
            key = (cid, it.metric)
            value = float(m.loc[key, "value"]) if key in m.index else np.nan
            se = float(m.loc[key, "se"]) if key in m.index and "se" in m.columns else np.nan
            rows.append({"community_id": cid, "dimension": it.dimension, "dimension_zh": it.dimension_zh,
                         "item": it.item, "item_zh": it.item_zh, "source": it.source, "metric": it.metric,
                         "value": value, "se": se, "points": it.points,
                         "score": float(rule_points(value, it.rule, it.points))})
    return pd.DataFrame(rows, columns=list(SHEET_COLUMNS))


def totals(sheet: pd.DataFrame, bands: list[tuple[str, float]]) -> pd.DataFrame:
    """``community_id, score, grade`` from a scoring sheet (NaN score and None grade if an item is missing)."""
    t = sheet.groupby("community_id", sort=False)["score"].apply(lambda s: s.sum() if s.notna().all() else np.nan)
    return pd.DataFrame({"community_id": t.index, "score": t.to_numpy(), "grade": grade_of(t.to_numpy(), bands)})


def grade_uncertainty(sheet: pd.DataFrame, scorecard: Scorecard, bands: list[tuple[str, float]], *,
                      dfs: Mapping | None = None, n_draws: int = 4000, seed: int | None = 0) -> pd.DataFrame:
    """How likely the grade would differ given the sampling uncertainty of the survey-based items.

    Each survey-based item's value is drawn from its estimate's sampling distribution (normal
    with the item's ``se``, or Student t with ``dfs[(community_id, metric)]`` degrees of freedom),
    independently across items; the items are re-scored, the total re-graded, and the share of
    draws whose grade differs from the reported one is ``p_grade_differs``. Records, contract
    and reviewer items are held fixed (they are counts and ratings, not samples).

    Returns
    -------
    DataFrame
        ``community_id, score, grade, score_ci_low, score_ci_high`` (2.5 and 97.5 percentiles of
        the simulated totals) ``, p_grade_differs, grade_distribution`` (``{grade: share}``).
    """
    rng = np.random.default_rng(seed)
    rules = scorecard.items.set_index("item")["rule"].to_dict()
    base = totals(sheet, bands).set_index("community_id")
    rows = []
    for cid, s in sheet.groupby("community_id", sort=False):
        fixed = s.loc[s["source"] != "survey", "score"].sum()
        draws = np.full(n_draws, fixed, dtype=float)
        for it in s[s["source"] == "survey"].itertuples(index=False):
            se = it.se if np.isfinite(it.se) else 0.0
            df = (dfs or {}).get((cid, it.metric), np.inf)
            z = rng.standard_t(df, n_draws) if np.isfinite(df) else rng.standard_normal(n_draws)
            draws += rule_points(it.value + se * z, rules[it.item], it.points)
        grade = base.loc[cid, "grade"]
        if grade is None:
            rows.append({"community_id": cid, "score": np.nan, "grade": None, "score_ci_low": np.nan,
                         "score_ci_high": np.nan, "p_grade_differs": np.nan, "grade_distribution": {}})
            continue
        g = pd.Series(grade_of(draws, bands))
        dist = g.value_counts(normalize=True).round(4).to_dict()
        rows.append({"community_id": cid, "score": base.loc[cid, "score"], "grade": grade,
                     "score_ci_low": float(np.percentile(draws, 2.5)), "score_ci_high": float(np.percentile(draws, 97.5)),
                     "p_grade_differs": float((g != grade).mean()), "grade_distribution": dist})
    return pd.DataFrame(rows)


def reweight(sheet: pd.DataFrame, scorecard: Scorecard, weightings: Mapping[str, Mapping[str, float]],
             bands: list[tuple[str, float]]) -> pd.DataFrame:
    """Totals and grades under alternative weightings of the dimensions.

    Parameters
    ----------
    weightings
        ``{name: {dimension key: points}}``, each summing to 100, e.g. ``{"成效优先": {"management":
        10, "outputs": 20, "outcomes": 45, "satisfaction": 15, "finance": 10}}``. Within a
        dimension the items keep their relative weights.

    Returns
    -------
    DataFrame
        ``community_id, weighting, score, grade, grade_changed`` with the scorecard's own
        weighting first (``weighting == "default"``).
    """
    dims = scorecard.items.groupby("dimension", sort=False)["points"].sum()
    base = totals(sheet, bands).assign(weighting="default")
    frames = [base]
    for name, w in weightings.items():
        unknown = sorted(set(w) - set(dims.index))
        if unknown or set(w) != set(dims.index):
            raise EvalkitError(f"weighting {name!r}: give points for exactly the dimensions {list(dims.index)} "
                               f"(unknown: {unknown}).")
        if abs(sum(w.values()) - 100) > 1e-9:
            raise EvalkitError(f"weighting {name!r}: the points sum to {sum(w.values()):g}, not 100.")
        factor = sheet["dimension"].map(lambda d: w[d] / dims[d])
        frames.append(totals(sheet.assign(score=sheet["score"] * factor), bands).assign(weighting=name))
    out = pd.concat(frames, ignore_index=True)
    ref = base.set_index("community_id")["grade"]
    out["grade_changed"] = out["grade"] != out["community_id"].map(ref)
    return out[["community_id", "weighting", "score", "grade", "grade_changed"]]


__all__ = ["Scorecard", "SCORECARD_FILE", "SCORECARD_SCHEMA", "SHEET_COLUMNS", "load_scorecard", "rule_points",
           "grade_of", "score_sheet", "totals", "grade_uncertainty", "reweight"]
