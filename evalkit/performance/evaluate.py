"""The performance evaluation in one call: records + contracts + survey effects -> per-project costs,
scores, grades and their uncertainty (contract C9), and the mid-term/final rounds.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from ..results import Result, critical_value
from .contracts import against_targets, budget_execution, project_outputs
from .cost import cost_per_effect
from .records import RecordsReport, combine_records
from .scorecard import Scorecard, grade_uncertainty, load_scorecard, reweight, score_sheet

#: Columns of :attr:`PerformanceEvaluation.projects` (contract C9), in order.
PROJECT_COLUMNS = ("community_id", "budget", "spent", "execution_rate", "unique_beneficiaries", "service_visits",
                   "cost_per_beneficiary", "cost_per_visit", "score", "grade", "p_grade_differs")


def records_quality(reports: Sequence[RecordsReport]) -> pd.DataFrame:
    """``community_id, rows, valid, valid_share`` per project from its record sheets (totals rows are
    not counted: they are not activities). A sheet belongs to the community of most of its valid rows."""
    rows = []
    for r in reports:
        if r.valid.empty:
            continue
        cid = r.valid["community_id"].astype(str).mode().iloc[0]
        bad = int((r.quarantined.get("rule", pd.Series(dtype=str)) != "totals_row").sum())
        rows.append({"community_id": cid, "rows": len(r.valid) + bad, "valid": len(r.valid)})
    q = pd.DataFrame(rows, columns=["community_id", "rows", "valid"]).groupby("community_id", as_index=False).sum()
    q["valid_share"] = q["valid"] / q["rows"]
    return q


@dataclass(frozen=True)
class RecordsFolder:
    """A folder of records read by :func:`read_records_folder`: ``reports`` (one
    :class:`RecordsReport` per sheet), ``contracts``, ``targets``, ``satisfaction`` and ``reviews``
    (None when the file is absent)."""

    reports: tuple
    contracts: pd.DataFrame
    targets: pd.DataFrame
    satisfaction: pd.DataFrame | None
    reviews: pd.DataFrame | None


def read_records_folder(folder, *, study=None, registry: pd.DataFrame | None = None, **read_kw) -> RecordsFolder:
    """Read a performance-evaluation folder: every ``ledger_*.csv`` / ``ledger_*.xlsx`` file (every
    sheet of a workbook: :func:`read_workbook`, within the contracts' period), ``contracts.csv`` and ``targets.csv``
    (required), ``satisfaction.csv`` and ``reviews.csv`` (optional); the columns are described in
    :mod:`evalkit.performance.contracts` and :func:`evaluate_performance`."""
    from pathlib import Path

    from .records import read_workbook

    base = Path(folder)
    if not (base / "contracts.csv").is_file() or not (base / "targets.csv").is_file():
        raise EvalkitError(f"{base}: a records folder needs contracts.csv and targets.csv (see "
                           "evalkit/datasets/dongying/records/README.md for their columns).")
    read = {n: pd.read_csv(base / f"{n}.csv", dtype={"community_id": str}, keep_default_na=False, na_values=[""])
            if (base / f"{n}.csv").is_file() else None for n in ("contracts", "targets", "satisfaction", "reviews")}
    c = read["contracts"]
    c["community_id"] = c["community_id"].fillna("")
    period = (c["period_start"].min(), c["period_end"].max()) if {"period_start", "period_end"} <= set(c) else None
    sheets = sorted(p for p in base.glob("ledger_*.*") if p.suffix.lower() in (".csv", ".xlsx", ".xlsm"))
    if not sheets:
        raise EvalkitError(f"{base}: no service-record sheets named ledger_<anything>.csv or .xlsx.")
    reports = tuple(r for p in sheets for r in read_workbook(p, study=study, registry=registry, period=period, **read_kw))
    return RecordsFolder(reports, c, read["targets"], read["satisfaction"], read["reviews"])


def survey_effects(survey: pd.DataFrame, study, *, wave: int | None = None, level: float = 0.95,
                   seed: int | None = None) -> pd.DataFrame:
    """The programme targets' per-community effects at one wave: the ``effects`` of
    :func:`evalkit.evaluation.summary.summarise` (contract C4) at the latest wave (or `wave`), with
    the study's seed unless `seed` is given.

    Returns
    -------
    DataFrame
        The summary's effects rows of that wave (``community_id, target, indicator, group, kind,
        better, wave, estimate, se, df, ci_low, ci_high, std_effect, std_ci_low, std_ci_high,
        population, explanation`` among others).
    """
    from ..evaluation.summary import summarise

    eff = summarise(survey, study, level=level, seed=getattr(study, "seed", None) if seed is None else seed).effects
    w = int(eff["wave"].max()) if wave is None else int(wave)
    return eff[eff["wave"] == w].reset_index(drop=True)


def _effect_metric(effects: pd.DataFrame, level: float) -> pd.DataFrame:
    rows = []
    for cid, e in effects.groupby("community_id", sort=False):
        e = e[e["std_effect"].notna()]
        if "explanation" in e.columns:
            e = e[e["explanation"].isna()]
        if e.empty:
            continue
        sign = np.where(e["better"].astype(str) == "lower", -1.0, 1.0)
        crit = np.asarray(critical_value(level, e["df"].to_numpy(dtype=float)))
        se = (e["std_ci_high"] - e["std_ci_low"]).to_numpy(dtype=float) / (2 * crit)
        rows.append({"community_id": cid, "metric": "effect_std", "value": float(np.mean(sign * e["std_effect"])),
                     "se": float(np.sqrt(np.sum(se ** 2)) / len(e)), "df": float(e["df"].min()), "source": "survey"})
    return pd.DataFrame(rows)


def project_metrics(budget: pd.DataFrame, completion: pd.DataFrame, *, effects: pd.DataFrame | None = None,
                    satisfaction: pd.DataFrame | None = None, reviews: pd.DataFrame | None = None,
                    quality: pd.DataFrame | None = None, level: float = 0.95) -> pd.DataFrame:
    """Every project's value of every scorecard metric: ``community_id, metric, value, se, df, source``.

    ``completion`` is the mean of the targets' completion rates, each capped at 1 (over-delivering
    one target does not make up for missing another); ``effect_std`` the mean standardised effect
    of the project's targets in the beneficial direction, its se ``sqrt(sum se_i^2) / k`` (the
    targets' estimates taken as independent); ``satisfaction`` the share satisfied among
    ``n_asked`` service users (table ``community_id, n_asked, n_satisfied``) with the
    Agresti-Coull standard error ``sqrt(p~(1-p~)/(n+4))``, ``p~ = (x+2)/(n+4)``; ``review:<item>``
    a reviewer's rating (table ``community_id, item, rating``).
    """
    frames = [budget[["community_id", "execution_rate"]].rename(columns={"execution_rate": "value"}).assign(
        metric="execution_rate", source="records"),
        budget[["community_id", "reach"]].rename(columns={"reach": "value"}).assign(metric="reach", source="records"),
        completion.assign(value=completion["completion_rate"].clip(upper=1.0)).groupby("community_id", as_index=False)
        ["value"].mean().assign(metric="completion", source="records")]
    if quality is not None:
        frames.append(quality[["community_id", "valid_share"]].rename(columns={"valid_share": "value"}).assign(
            metric="records_valid_share", source="records"))
    if effects is not None and len(effects):
        frames.append(_effect_metric(effects, level))
    if satisfaction is not None:
        n, x = satisfaction["n_asked"].astype(float), satisfaction["n_satisfied"].astype(float)
        if ((x > n) | (n <= 0) | (x < 0)).any():
            raise EvalkitError("satisfaction: every n_satisfied must lie between 0 and n_asked > 0; check the table.")
        pt = (x + 2) / (n + 4)
        frames.append(pd.DataFrame({"community_id": satisfaction["community_id"], "metric": "satisfaction",
                                    "value": x / n, "se": np.sqrt(pt * (1 - pt) / (n + 4)), "df": np.inf,
                                    "source": "survey"}))
    if reviews is not None:
        if not reviews["rating"].between(0, 100).all():
            raise EvalkitError("reviews: ratings must lie between 0 and 100; check the table.")
        frames.append(pd.DataFrame({"community_id": reviews["community_id"], "metric": "review:" + reviews["item"],
                                    "value": reviews["rating"].astype(float), "source": "reviewer"}))
    out = pd.concat(frames, ignore_index=True)
    for c in ("se", "df"):
        if c not in out.columns:
            out[c] = np.nan
    return out[["community_id", "metric", "value", "se", "df", "source"]]


@dataclass(frozen=True, repr=False)
class PerformanceEvaluation(Result):
    """The performance evaluation of the purchased projects (contract C9).

    Attributes
    ----------
    projects
        One row per project: :data:`PROJECT_COLUMNS` plus ``project, reach, score_ci_low,
        score_ci_high``.
    outputs
        Outputs against the contract's targets (:func:`against_targets`).
    budget
        Budget execution and cost per result (:func:`budget_execution`).
    costs
        Cost per unit of effect (:func:`cost_per_effect`).
    sheet
        The scoring sheet (:func:`score_sheet`).
    grades
        Grades and their uncertainty (:func:`grade_uncertainty`).
    weightings
        Scores and grades under the alternative weightings (:func:`reweight`).
    metrics
        The values scored (:func:`project_metrics`).
    """

    projects: pd.DataFrame
    outputs: pd.DataFrame
    budget: pd.DataFrame
    costs: pd.DataFrame
    sheet: pd.DataFrame
    grades: pd.DataFrame
    weightings: pd.DataFrame
    metrics: pd.DataFrame
    notes: dict = field(default_factory=dict)
    title = "Performance evaluation"

    def tidy(self) -> pd.DataFrame:
        return self.projects

    def detail(self, community_id: str) -> dict[str, pd.DataFrame]:
        """One project's detail frames: ``outputs``, ``costs``, ``sheet``, ``weightings``."""
        pick = {k: getattr(self, k) for k in ("outputs", "costs", "sheet", "weightings")}
        return {k: v[v["community_id"] == community_id].reset_index(drop=True) for k, v in pick.items()}

    def _headline(self) -> str:
        gaps = self.notes.get("not_graded") or {}
        miss = "; not graded (values missing): " + ", ".join(f"{c} ({', '.join(m)})" for c, m in gaps.items()) \
            if gaps else ""
        return f"Performance evaluation of {len(self.projects)} projects ({self.notes.get('round', 'final')} round){miss}"


def evaluate_performance(
    records: pd.DataFrame | Sequence[RecordsReport],
    contracts: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    effects: pd.DataFrame | None = None,
    satisfaction: pd.DataFrame | None = None,
    reviews: pd.DataFrame | None = None,
    registry: pd.DataFrame | None = None,
    study=None,
    scorecard: Scorecard | str | None = None,
    bands: str | list | None = None,
    weightings: Mapping[str, Mapping[str, float]] | None = None,
    share: float = 1.0,
    until: dt.date | str | None = None,
    level: float = 0.95,
    n_draws: int = 4000,
    seed: int | None = 0,
) -> PerformanceEvaluation:
    """Evaluate every purchased project: outputs against targets, budget execution, cost per result,
    cost per unit of effect, the scoring sheet, the total and grade, the probability that the grade
    would differ, and the grades under alternative weightings.

    Parameters
    ----------
    records
        Valid service records (a frame) or the :class:`RecordsReport` of each sheet (then the
        share of valid rows feeds the ``records_valid_share`` item).
    contracts, targets
        See :mod:`evalkit.performance.contracts`.
    effects
        The summary's per-community effects at the wave evaluated (C4 columns;
        :func:`survey_effects`); None: outcomes items are missing and projects are not graded
        unless the scorecard has none.
    satisfaction, reviews
        Service-user satisfaction (``community_id, n_asked, n_satisfied``) and reviewer ratings
        (``community_id, item, rating`` 0-100).
    registry, study
        The registry for target populations (reach).
    scorecard, bands, weightings
        The indicator system (default the shipped ``scorecard.yaml``), the grade bands (a name in
        it, e.g. ``"civil_affairs"``, or ``[(grade, min), ...]``) and alternative weightings
        (``{name: {dimension: points}}``).
    share, until
        A mid-term round: only records dated on or before `until`, targets due at `share`.
    n_draws, seed
        Simulation draws for ``p_grade_differs`` and its seed (reproducible).
    """
    registry = registry if registry is not None else getattr(study, "registry", None)
    sc = scorecard if isinstance(scorecard, Scorecard) else load_scorecard(scorecard)
    band = sc.band(bands)
    reports = None if isinstance(records, pd.DataFrame) else list(records)
    rec = combine_records(reports) if reports is not None else records
    if until is not None:
        rec = rec[pd.to_datetime(rec["date"]) <= pd.Timestamp(until)]
    service = contracts[contracts.get("kind", pd.Series("service", index=contracts.index)).fillna("service") == "service"]
    outputs = project_outputs(rec, communities=list(service["community_id"].astype(str)))
    done = against_targets(outputs, targets, share=share)
    budget = budget_execution(contracts, outputs, registry=registry)
    costs = cost_per_effect(effects, budget, level=level) if effects is not None else \
        pd.DataFrame(columns=["community_id"])
    quality = records_quality(reports) if reports is not None else None
    metrics = project_metrics(budget, done, effects=effects, satisfaction=satisfaction, reviews=reviews,
                              quality=quality, level=level)
    metrics = metrics[metrics["community_id"].isin(budget["community_id"])]
    sheet = score_sheet(metrics.assign(community_id=pd.Categorical(metrics["community_id"], budget["community_id"]))
                        .sort_values("community_id").assign(community_id=lambda d: d["community_id"].astype(str)), sc)
    dfs = {(c, m): d for c, m, d in metrics[["community_id", "metric", "df"]].itertuples(index=False) if np.isfinite(d)}
    grades = grade_uncertainty(sheet, sc, band, dfs=dfs, n_draws=n_draws, seed=seed)
    weigh = reweight(sheet, sc, weightings or {}, band)
    projects = budget.merge(grades, on="community_id", how="left")
    projects = projects[[*PROJECT_COLUMNS, "project", "reach", "score_ci_low", "score_ci_high"]]
    missing = sheet.loc[sheet["value"].isna(), ["community_id", "metric"]]
    notes = {"not_graded": {c: sorted(g["metric"]) for c, g in missing.groupby("community_id")},
             "round": "final" if until is None and share == 1 else "mid-term", "until": None if until is None else str(until),
             "share_due": share, "bands": band, "level": level, "n_draws": n_draws, "seed": seed,
             "scorecard": sc.path}
    return PerformanceEvaluation(projects=projects, outputs=done, budget=budget, costs=costs, sheet=sheet,
                                 grades=grades, weightings=weigh, metrics=metrics, notes=notes)


def compare_rounds(midterm: PerformanceEvaluation, final: PerformanceEvaluation) -> pd.DataFrame:
    """The change from the mid-term to the final round, per project.

    Returns
    -------
    DataFrame
        ``community_id, score_midterm, grade_midterm, score_final, grade_final, score_change,
        grade_changed, execution_midterm, execution_final, completion_midterm, completion_final``
        (completion: mean capped completion rate of the targets due in that round).
    """
    def part(pe, tag):
        comp = pe.outputs.assign(c=pe.outputs["completion_rate"].clip(upper=1)).groupby("community_id")["c"].mean()
        p = pe.projects.set_index("community_id")
        return pd.DataFrame({f"score_{tag}": p["score"], f"grade_{tag}": p["grade"],
                             f"execution_{tag}": p["execution_rate"], f"completion_{tag}": comp})
    m, f = part(midterm, "midterm"), part(final, "final")
    out = m.join(f, how="outer")
    out["score_change"] = out["score_final"] - out["score_midterm"]
    out["grade_changed"] = out["grade_final"] != out["grade_midterm"]
    cols = ["score_midterm", "grade_midterm", "score_final", "grade_final", "score_change", "grade_changed",
            "execution_midterm", "execution_final", "completion_midterm", "completion_final"]
    return out[cols].rename_axis("community_id").reset_index()


__all__ = ["PROJECT_COLUMNS", "PerformanceEvaluation", "evaluate_performance", "compare_rounds", "project_metrics",
           "records_quality", "survey_effects", "RecordsFolder", "read_records_folder"]
