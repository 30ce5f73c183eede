"""One set of results for every product: the evaluation summary (:func:`summarise`).

The bureau report, the technical appendix, the figures, the performance scores and the notebooks
all take their headline numbers from one :class:`EvaluationSummary`, so the same question gets
the same number everywhere. The headline estimator of each question "did programme community
*c* change target *x* of its programme?" is the per-community difference-in-differences of
:mod:`evalkit.evaluation.comparison` (the community's change since its last pre-programme wave
minus the comparison communities' mean change, with community-shock variance from the
comparison communities' scatter: Ferman & Pinto 2019), **within the target's group** (e.g.
``ucla3@elderly``: residents 60+ in every community). Other estimates of the same question go to
``reconciliation`` with the reason they differ.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import EvalkitError, FewClustersWarning
from ..results import Result, wald_columns
from ..spec.registry import programme_targets
from ..spec.study import Study
from ..survey.design import SurveyDesign
from ..survey.domains import domain_means
from .comparison import _Changes, _effect_row, _shock_by_gap, community_dof
from .effect_terms import (evidence_level, evidence_scale_frame, headcount, holm, pct_of_baseline,
                           pooled_sd, ruled_out, target_population)
from .honest_events import attach_breakdown, event_studies, sensitivity_frame
from .impact import confidence_level
from .reconcile import reconciliation_rows
from .summary_notes import EXPLANATIONS, MIN_COMPARISONS, _explain, _labels, honest_note, methods_notes
from .targets import target_domain, target_name

__all__ = ["EFFECT_COLUMNS", "EXPLANATIONS", "EvaluationSummary", "summarise", "target_group"]

EFFECT_COLUMNS = [
    "community_id", "target", "indicator", "group", "kind", "better", "start_year", "wave", "event_time",
    "baseline_wave", "baseline", "estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high",
    "p_adjusted", "pct_of_baseline", "std_effect", "std_ci_low", "std_ci_high", "sd_baseline",
    "population", "headcount", "headcount_low", "headcount_high", "ruled_out", "direction", "evidence",
    "loo_holds", "shock_estimable", "n_base", "n_wave", "n_comparison", "explanation", "explanation_zh",
    "explanation_en", "breakdown_rm",
]
TREND_COLUMNS = ["community_id", "target", "indicator", "group", "wave", "mean", "ci_low", "ci_high", "n",
                 "comparison_mean", "counterfactual", "n_comparison", "suppressed"]



@dataclass(frozen=True, eq=False, repr=False)
class EvaluationSummary(Result):
    """The evaluation's results, computed once for every product (contract C4).

    Attributes
    ----------
    effects : DataFrame
        One row per programme community × target × wave from the programme's start
        (:data:`EFFECT_COLUMNS`); rows without an estimate carry ``explanation`` and NA numbers.
    headline : DataFrame
        The effects at each community's latest wave, with ``programme``.
    trends : DataFrame
        Community mean by wave with its interval and ``n``, the comparison communities' mean and
        the counterfactual (:data:`TREND_COLUMNS`); a cell with fewer than ``min_n`` respondents
        has ``suppressed=True`` and neither mean nor ``n``.
    reconciliation : DataFrame
        Other estimates of each headline question and why they differ.
    evidence_scale : DataFrame
        The four-level scale with its rule (:data:`~evalkit.evaluation.effect_terms.EVIDENCE_SCALE`).
    notes : dict
        Prose facts for the methods section, ``{key: {"zh": ..., "en": ...}}``; ``caveats`` lists
        the warnings raised while summarising, as sentences.
    level : float
        Confidence level of every interval.
    honest : DataFrame
        Sensitivity of each programme community's first-target headline to violations of parallel
        trends and the power of its pre-test
        (:func:`evalkit.evaluation.honest_summary.sensitivity_of_headlines`, columns
        :data:`~evalkit.evaluation.honest_summary.HONEST_COLUMNS`); empty with ``summarise(honest=False)``.
    """

    effects: pd.DataFrame
    headline: pd.DataFrame
    trends: pd.DataFrame
    reconciliation: pd.DataFrame
    evidence_scale: pd.DataFrame
    notes: dict = field(default_factory=dict)
    level: float = 0.95
    honest: pd.DataFrame = field(default_factory=pd.DataFrame)

    title: ClassVar[str] = "Evaluation summary"

    def tidy(self) -> pd.DataFrame:
        """The headline table (one row per community × target at its latest wave)."""
        return self.headline

    def _headline(self) -> str:
        n = int(self.headline["estimate"].notna().sum())
        return (f"Evaluation summary: {len(self.headline)} community × target questions, {n} estimated "
                f"(per-community DiD within the target group, {self.level:.0%} intervals)")


def target_group(indicator: str, group, codebook) -> str | None:
    """The group a target is estimated in: its ``@group``, else the scale's group, else its items' common group."""
    if group is not None and not (isinstance(group, float) and np.isnan(group)) and str(group):
        return str(group)
    scale = codebook.scales.get(indicator) if codebook is not None else None
    if scale is None:
        return None
    if scale.group:
        return str(scale.group)
    asked = {getattr(codebook.items.get(i), "asked_of", None) for i in scale.items}
    asked |= {target_group(part, None, codebook) for part in scale.composite_of if part != indicator}
    return asked.pop() if len(asked) == 1 and None not in asked else None


def _scale_facts(indicator: str, codebook) -> tuple[str, str]:
    scale = codebook.scales.get(indicator) if codebook is not None else None
    kind = getattr(scale, "kind", "mean") if scale is not None else "mean"
    better = "lower" if scale is not None and scale.higher_is == "worse" else "higher"
    return ("proportion" if kind == "proportion" else "mean"), better


def _community_dof(design, community: str) -> dict:
    """Each community's design df (:func:`~evalkit.evaluation.comparison.community_dof`), at least 1."""
    return {c: max(d, 1) for c, d in community_dof(design, community).items()}


class _Target:
    """Cell means of one indicator within one group, with what the per-community DiD needs."""

    def __init__(self, design, survey, indicator, group, codebook, community, wave, controls, dof, own=False):
        self.indicator, self.group = indicator, group
        self.domain = target_domain(group, codebook)
        self.present = set(survey[community].astype(str))
        self.missing_column = next((col for col in (self.domain or {}) if col not in survey.columns), None)
        if own and self.missing_column:  # everyone who answered is the indicator's own population
            self.domain, self.missing_column = None, None
        self.measured = indicator in survey.columns and self.missing_column is None
        self.ch = None
        if self.measured:
            inside = np.ones(len(survey), bool)
            for col, values in (self.domain or {}).items():
                inside &= survey[col].isin(list(values)).to_numpy()
            vals = pd.to_numeric(survey[indicator], errors="coerce")
            self.measured = bool((vals.notna().to_numpy() & inside).any())
        if not self.measured:
            return
        cells, V = domain_means(design, indicator, (community, wave), domain=self.domain)
        cells[community] = cells[community].astype(str)
        self.cells, self.V = cells, V
        self.ch = _Changes(cells, V, community, wave)
        self.waves = sorted(float(t) for t in pd.unique(cells[wave]))
        self.controls = [k for k in controls if any((k, t) in self.ch.pos for t in self.waves)]
        self.shock = _shock_by_gap(self.ch, self.controls, self.waves)
        self._loo_shock: dict = {}
        self.dof = dof
        self.vals, self.inside = vals.to_numpy(float), inside
        self.weights = np.asarray(design.weights, float)

    def cell(self, c, t):
        i = self.ch.pos.get((c, float(t)))
        return (np.nan, 0, np.nan) if i is None else (self.ch.est[i], int(self.ch.n[i]), self.V[i, i])

    def loo_shock(self, k):
        if k not in self._loo_shock:
            rest = [x for x in self.controls if x != k]
            self._loo_shock[k] = _shock_by_gap(self.ch, rest, self.waves)
        return self._loo_shock[k]


def summarise(survey: pd.DataFrame, study: Study, *, level: float = 0.95, seed: int | None = None,
              min_n: int | None = None, reconcile: bool = True, withheld=None, honest: bool = True) -> EvaluationSummary:
    """Every programme community's targets, estimated once, in the terms every product shows.

    Parameters
    ----------
    survey
        Validated, scored respondent rows (as :func:`evalkit.datasets.dongying_survey` returns;
        for publishing, first pass them through the disclosure gate).
    study
        The :class:`evalkit.Study`: registry (start years, ``target_indicators``, populations),
        codebook (scales: proportion or mean, which direction is better; groups), column roles.
    level
        Confidence level of every interval (and ``1 - level`` the significance level of the
        evidence scale).
    seed
        Seed of the randomization inference of the pooled estimates in ``reconciliation``
        (default: the study's seed).
    min_n
        Fewest respondents in the programme community's base-wave and current-wave cells (and in
        a comparison community's cells for it to count) for an estimate; default 2.
    reconcile
        Compute the other estimates of ``reconciliation`` (``False`` leaves it empty and saves
        about a second per target).
    withheld
        Community × wave cells the disclosure gate removed (``Gated.withheld`` of
        :func:`evalkit.publish.disclosure.gate_survey`, or records with ``community_id, wave``);
        default ``survey.attrs["withheld"]`` (set by ``gate_published``). Rows resting on them
        are explained as ``small_cell`` rather than as a missing wave. ``min_n`` defaults to the
        gate's (``survey.attrs["disclosure"]["min_n"]``) when the survey was gated.
    honest
        Compute ``honest`` (breakdown and pre-test power of the first targets' headlines), ``breakdown_rm``.

    Returns
    -------
    EvaluationSummary
        ``effects``, ``headline``, ``trends``, ``reconciliation``, ``evidence_scale``, ``notes``.

    Notes
    -----
    *Headline estimate.* For community ``c`` starting in ``g`` the base wave ``b`` is the last
    surveyed wave before ``g`` (``g - 1`` with yearly waves); for every wave ``t >= g``:
    ``(ybar_ct - ybar_cb) - mean_k (ybar_kt - ybar_kb)`` over the comparison (never-treated)
    communities ``k`` with respondents of the target group in both waves, all means within the
    target group (:func:`target_group`). Its standard error adds the design-based sampling
    variance and the community-shock variance estimated from the comparison communities
    (:func:`evalkit.community_effects`, Ferman & Pinto 2019), with Welch–Satterthwaite df.

    *Meaningful terms.* ``pct_of_baseline = 100 * estimate / baseline``. ``std_effect`` divides
    the estimate (and its interval) by ``sd_baseline``, the pooled within-community SD of the
    indicator among the target group in the base wave (the programme community and its
    comparison communities, design-weighted; :func:`~evalkit.evaluation.effect_terms.pooled_sd`),
    taken as known. ``population`` counts the target group's residents of the community from the
    registry's ``pop_<sex>_<age>`` columns; for proportions ``headcount`` = estimate ×
    population, with the interval's ends. ``ruled_out``: for an interval including 0, the
    interval's end on the beneficial side (more beneficial effects are ruled out at ``level``).

    *Multiple testing.* Holm's step-down adjustment (it controls the family-wise error rate
    without assuming independence, and the report states findings one by one) over the family of
    all community × target tests **at the same wave**; the headline family is the latest wave.

    *Evidence.* :data:`~evalkit.evaluation.effect_terms.EVIDENCE_SCALE`: 3 when the Holm-adjusted
    test rejects and every leave-one-comparison-community-out re-estimate's interval excludes 0
    on the same side; 2 when only the unadjusted interval excludes 0; 1 when the interval includes
    0 but the estimate has the same sign in every programme wave; 0 otherwise or with no estimate.
    Why this scale: the report states findings one community and target at a time, so "strong"
    must survive the family-wise adjustment over all of them; with 7 comparison communities a
    finding that hinges on one of them is fragile, so "strong" also asks the leave-one-out check
    (impossible with three comparison communities: two would remain, so those findings stop at 2);
    an interval excluding 0 only before adjustment is still evidence, "moderate"; an interval
    including 0 is "weak" when the direction at least repeats in every programme year and "cannot
    tell" when it does not. The levels read the interval, never the point estimate alone.

    *Explanations.* A row without an estimate is kept, with ``explanation`` (a code of
    :data:`EXPLANATIONS`) and its ``explanation_zh``/``explanation_en`` text: ``not_surveyed``,
    ``no_group_column``, ``not_measured``, ``no_base_wave``, ``no_post_wave``, ``no_wave``,
    ``small_cell``, ``no_variance``, ``few_comparisons`` (fewer than :data:`MIN_COMPARISONS`).
    """
    cut = _withheld_cells(survey if withheld is None else None, withheld)
    survey, level, min_n = _checked(survey, study, level, min_n)
    registry = study.registry
    seed = study.seed if seed is None else seed
    community, wave = study.roles.community, study.roles.wave
    starts = {str(c): (None if pd.isna(s) else int(s))
              for c, s in zip(registry["community_id"], registry["start_year"])}
    present = set(survey[community])
    controls = sorted(c for c, s in starts.items() if s is None and c in present)
    targets = programme_targets(registry)
    codebook = study.codebook
    caveats: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        design = SurveyDesign.from_study(survey, study)  # replicate weights when the study declares them
        dof = _community_dof(design, community)
        cache: dict = {}
        effect_rows, trend_rows = [], []
        for cid, ind, grp in targets[["community_id", "indicator", "group"]].itertuples(index=False):
            cid = str(cid)
            group = target_group(ind, grp, codebook)
            key = (ind, group)
            if key not in cache:
                own = grp is None or pd.isna(grp) or not str(grp)  # the group is the indicator's own population
                cache[key] = _Target(design, survey, ind, group, codebook, community, wave, controls, dof, own)
            tgt = cache[key]
            name = target_name(ind, None if grp is None or pd.isna(grp) else grp)
            rows, trend = _community_target(tgt, cid, name, starts[cid], survey, study, level, min_n, community,
                                            wave, cut)
            effect_rows += rows
            trend_rows += trend
    caveats += [str(w.message) for w in caught]
    effects = _finish_effects(pd.DataFrame(effect_rows, columns=EFFECT_COLUMNS), level)
    _warn_few(effects)
    headline = _headline_table(effects, registry)
    trends = pd.DataFrame(trend_rows, columns=TREND_COLUMNS)
    trends["n"] = pd.to_numeric(trends["n"], errors="coerce").astype("Int64")
    recon = reconciliation_rows(headline, cache, survey, study, design, level=level, seed=seed,
                                enabled=reconcile, caveats=caveats)
    notes = methods_notes(level, min_n, len(controls), caveats, effects)  # _honest adds its note
    effects, headline, sens = _honest(honest, study, survey, cache, effects, headline, notes, level, min_n)
    return EvaluationSummary(effects, headline, trends, recon, evidence_scale_frame(), notes, level, sens)


def _honest(on, study, survey, cache, effects, headline, notes, level, min_n):
    """``summary.honest`` from the summary's own cell means, ``breakdown_rm`` on effects and headline,
    the methods note (added to ``notes``); unchanged frames and an empty one when ``on`` is false."""
    if not on or not len(headline):
        return effects, headline, pd.DataFrame()

    def lookup(ind, grp):
        group = target_group(ind, grp, study.codebook)
        return cache[ind, group], group, _scale_facts(ind, study.codebook)[0]

    waves = sorted(float(t) for t in pd.unique(survey[study.roles.wave]))
    sens = sensitivity_frame(event_studies(study, waves, min_n, lookup), level=level)
    notes.update(honest_note(level))
    return attach_breakdown(effects, sens), attach_breakdown(headline, sens), sens


def _warn_few(effects: pd.DataFrame) -> None:
    """Say it, not only in the rows: the whole design may lack comparison communities."""
    few = effects[effects["explanation"] == "few_comparisons"]
    if len(few):
        warnings.warn(FewClustersWarning(
            f"{len(few)} community × target × wave estimate(s) have fewer than {MIN_COMPARISONS} comparison "
            f"communities with data (as few as {int(few['n_comparison'].min())}) and are left without an "
            "estimate (explanation 'few_comparisons'): with two, intervals of ±200 percentage points are "
            "typical. Add comparison communities to the survey."), stacklevel=3)


def _withheld_cells(survey, withheld) -> frozenset:
    """``{(community, wave)}`` withheld by the disclosure gate: from ``withheld`` or ``survey.attrs``."""
    if withheld is None and survey is not None and isinstance(survey, pd.DataFrame):
        withheld = survey.attrs.get("withheld")
    if withheld is None:
        return frozenset()
    records = withheld.to_dict("records") if isinstance(withheld, pd.DataFrame) else list(withheld)
    out = set()
    for r in records:
        try:
            out.add((str(r["community_id"]), float(r["wave"])))
        except (KeyError, TypeError, ValueError):
            raise EvalkitError("summarise(withheld=...): each withheld cell needs a community_id and a numeric "
                               "wave (pass Gated.withheld from evalkit.publish.disclosure.gate_survey).") from None
    return frozenset(out)


def _checked(survey, study, level, min_n) -> tuple[pd.DataFrame, float, int]:
    """The arguments of :func:`summarise`, checked: a copy of the survey with text community ids."""
    if not isinstance(study, Study):
        raise EvalkitError(f"summarise(survey, study): study must be an evalkit.Study, got {type(study).__name__}.")
    if not isinstance(survey, pd.DataFrame):
        raise EvalkitError("summarise(survey, study): survey must be the validated, scored respondent table "
                           "(a DataFrame), e.g. from evalkit.datasets.dongying_survey().")
    level = confidence_level("summarise", level, None)
    study.require_registry("summarise")
    gate = survey.attrs.get("disclosure")
    if min_n is None and isinstance(gate, dict) and gate.get("min_n"):  # the disclosure gate's threshold
        min_n = int(gate["min_n"])
    min_n = 2 if min_n is None else max(int(min_n), 2)
    community, wave = study.roles.community, study.roles.wave
    for role, col in (("community", community), ("wave", wave)):
        if col not in survey.columns:
            raise EvalkitError(f"summarise: the survey has no {role} column {col!r} (study.roles.{role}); "
                               "pass the validated survey or set the role with Study.from_files(..., "
                               f"{role}=\"<your column>\").")
    survey = survey.copy()
    survey[community] = survey[community].astype(str)
    survey[wave] = pd.to_numeric(survey[wave], errors="coerce")
    if survey[wave].isna().any():
        raise EvalkitError(f"summarise: the wave column {wave!r} must be a year in every row; "
                           f"{int(survey[wave].isna().sum())} rows have none. Validate the survey first.")
    return survey, level, min_n


def _community_target(tgt: _Target, cid, name, start, survey, study, level, min_n, community, wave, cut=frozenset()):
    """Effect rows (every wave from the start) and trend rows of one community × target."""
    codebook, registry = study.codebook, study.registry
    kind, better = _scale_facts(tgt.indicator, codebook)
    group = tgt.group
    roles = (tgt.domain or {}).get("role")
    base_row = {"community_id": cid, "target": name, "indicator": tgt.indicator,
                "group": group, "kind": kind, "better": better, "start_year": start,
                "population": target_population(registry, cid, roles, codebook) if roles else np.nan}
    survey_waves = sorted(float(t) for t in pd.unique(survey[wave]))
    post = [t for t in survey_waves if t >= start]
    pre = [t for t in survey_waves if t < start]
    facts = {"start": start, "min_n": min_n, **_labels(codebook, tgt.indicator, group)}
    why = ("not_surveyed" if cid not in tgt.present else "no_group_column" if tgt.missing_column
           else "not_measured" if not tgt.measured else None)
    if why is not None:
        text = _explain(why, column=tgt.missing_column, **facts)
        return [{**base_row, "wave": int(t) if post else np.nan, "event_time": t - start if post else np.nan,
                 **dict(zip(("explanation", "explanation_zh", "explanation_en"), text))}
                for t in (post or [np.nan])], []
    measured = [t for t in tgt.waves if t < start]  # the base wave: the last wave before the start
    b = measured[-1] if measured else (pre[-1] if pre else None)  # in which the indicator was asked
    if study.baseline_wave is not None and study.baseline_wave < start:
        b = float(study.baseline_wave)
    if not post:
        text = _explain("no_post_wave", **facts)
        return [{**base_row, "wave": np.nan, "baseline_wave": b,
                 **dict(zip(("explanation", "explanation_zh", "explanation_en"), text))}], []
    yb, nb, _ = tgt.cell(cid, b) if b is not None else (np.nan, 0, np.nan)
    rows = []
    sd = _baseline_sd(tgt, survey, cid, b, community, wave) if b is not None and nb else np.nan
    for t in post:
        yt, nt, _ = tgt.cell(cid, t)
        ks = [k for k in tgt.controls if min(tgt.cell(k, b)[1], tgt.cell(k, t)[1]) >= min_n
              and tgt.ch.usable(k, b, t)] if b is not None else []
        row = {**base_row, "wave": int(t), "event_time": int(t - start),
               "baseline_wave": None if b is None else int(b), "baseline": yb,
               "n_base": nb, "n_wave": nt, "n_comparison": len(ks), "sd_baseline": sd}
        code = None
        if (cid, b) in cut or (cid, float(t)) in cut:  # withheld by the disclosure gate
            code = _explain("small_cell", **facts)
        elif b is None or nb == 0:
            code = _explain("no_base_wave", **facts)
        elif nt == 0:
            code = _explain("no_wave", **facts)
        elif nb < min_n or nt < min_n:
            code = _explain("small_cell", **facts)
            row.update(n_base=pd.NA if nb < min_n else nb, n_wave=pd.NA if nt < min_n else nt)  # never a small count
            row.update(baseline=np.nan if nb < min_n else yb)
        elif not tgt.ch.usable(cid, b, t):
            code = _explain("no_variance", **facts)
        elif len(ks) < MIN_COMPARISONS:
            code = _explain("few_comparisons", k=len(ks), **facts)
        if code is not None:
            row.update(zip(("explanation", "explanation_zh", "explanation_en"), code))
            rows.append(row)
            continue
        est = _effect_row(tgt.ch, cid, ks, b, t, tgt.shock.get(abs(t - b)), tgt.dof)
        w = wald_columns([est["estimate"]], [est["se"]], [est["df"]], level)
        row.update({k: float(v[0]) for k, v in w.items()})
        row["loo_holds"] = _loo_holds(tgt, cid, ks, b, t, row, level)
        row["shock_estimable"] = bool(est["shock_estimable"])
        rows.append(row)
    return rows, _trend_rows(tgt, cid, b, base_row, survey_waves, min_n, level, wave)


def _loo_holds(tgt: _Target, cid, ks, b, t, row, level) -> bool:
    """Does the interval keep excluding 0 on the same side with each comparison community left out?"""
    side = np.sign(row["ci_low"]) if np.sign(row["ci_low"]) == np.sign(row["ci_high"]) else 0.0
    if side == 0 or len(ks) <= MIN_COMPARISONS:
        return bool(side != 0 and len(ks) > MIN_COMPARISONS)
    for k in ks:
        rest = [x for x in ks if x != k]
        shock = tgt.loo_shock(k).get(abs(t - b))
        r = _effect_row(tgt.ch, cid, rest, b, t, shock, tgt.dof)
        w = wald_columns([r["estimate"]], [r["se"]], [r["df"]], level)
        lo, hi = float(w["ci_low"][0]), float(w["ci_high"][0])
        if not (np.sign(lo) == side and np.sign(hi) == side):
            return False
    return True


def _baseline_sd(tgt: _Target, survey, cid, b, community, wave) -> float:
    comms = [cid, *tgt.controls]
    m = tgt.inside & (survey[wave].to_numpy() == b) & survey[community].isin(comms).to_numpy()
    weight = tgt.weights[m]
    return pooled_sd(tgt.vals[m], weight, survey.loc[m, community].to_numpy())


def _trend_rows(tgt: _Target, cid, b, base_row, waves, min_n, level, wave) -> list:
    """Community mean by wave, comparison mean and counterfactual (baseline + comparison change)."""
    from ..results import critical_value

    out = []
    q = critical_value(level, tgt.dof.get(cid, np.inf))
    for t in waves:
        y, n, v = tgt.cell(cid, t)
        ks = [k for k in tgt.controls if tgt.cell(k, t)[1] >= min_n
              and (b is None or tgt.cell(k, b)[1] >= min_n)]
        comp = float(np.mean([tgt.cell(k, t)[0] for k in ks])) if ks else np.nan
        cf = np.nan
        base_ok = b is not None and tgt.cell(cid, b)[1] >= min_n
        if base_ok and t >= b and ks and np.isfinite(tgt.cell(cid, b)[0]):
            cf = tgt.cell(cid, b)[0] + comp - float(np.mean([tgt.cell(k, b)[0] for k in ks]))
        se = np.sqrt(v) if np.isfinite(v) and v > 0 else np.nan  # no estimable variance: no interval
        small = 0 < n < min_n  # a cell below min_n shows neither its mean nor its count
        if small:
            y = se = np.nan
        out.append({"community_id": cid, "target": base_row["target"], "indicator": tgt.indicator,
                    "group": tgt.group, "wave": int(t), "mean": y, "ci_low": y - q * se, "ci_high": y + q * se,
                    "n": pd.NA if small else n, "comparison_mean": comp, "counterfactual": cf,
                    "n_comparison": len(ks), "suppressed": small})
    return out


def _finish_effects(effects: pd.DataFrame, level: float) -> pd.DataFrame:
    """Holm per wave, effects in meaningful terms, direction and evidence."""
    if effects.empty:
        return effects
    eff = effects.copy()
    for col in ("estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high", "baseline", "sd_baseline",
                "population"):
        eff[col] = pd.to_numeric(eff[col], errors="coerce").astype(float)
    eff["p_adjusted"] = np.nan
    for _, idx in eff.groupby("wave", dropna=True).groups.items():
        eff.loc[idx, "p_adjusted"] = holm(eff.loc[idx, "p_value"].to_numpy(float))
    eff["pct_of_baseline"] = pct_of_baseline(eff["estimate"], eff["baseline"])
    sd = eff["sd_baseline"].where(eff["sd_baseline"] > 0)
    eff["std_effect"], eff["std_ci_low"], eff["std_ci_high"] = (
        eff["estimate"] / sd, eff["ci_low"] / sd, eff["ci_high"] / sd)
    prop = eff["kind"] == "proportion"
    hc = [headcount(e, lo, hi, p) if is_p else (np.nan,) * 3
          for e, lo, hi, p, is_p in zip(eff["estimate"], eff["ci_low"], eff["ci_high"], eff["population"], prop)]
    eff[["headcount", "headcount_low", "headcount_high"]] = pd.DataFrame(hc, index=eff.index, dtype=float)
    eff["ruled_out"] = [ruled_out(lo, hi, b) for lo, hi, b in zip(eff["ci_low"], eff["ci_high"], eff["better"])]
    good = np.where(eff["better"] == "higher", 1.0, -1.0)
    eff["direction"] = np.select(
        [eff["ci_low"] > 0, eff["ci_high"] < 0, eff["estimate"].notna()],
        [np.where(good > 0, "improved", "worsened"), np.where(good > 0, "worsened", "improved"),
         "no_clear_change"], default=None)
    eff["direction"] = eff["direction"].where(eff["estimate"].notna(), None)
    signs = eff.groupby(["community_id", "target"])["estimate"].transform(
        lambda s: float(s.dropna().size > 0 and (np.sign(s.dropna()) == np.sign(s.dropna().iloc[0])).all()))
    eff["evidence"] = [evidence_level(has_estimate=np.isfinite(e), p_value=p, p_adjusted=pa, level=level,
                                      loo_holds=bool(lh) if lh is not None and lh == lh else False,
                                      same_direction=bool(sd_))
                       for e, p, pa, lh, sd_ in zip(eff["estimate"], eff["p_value"], eff["p_adjusted"],
                                                    eff["loo_holds"], signs)]
    eff["evidence"] = eff["evidence"].astype("int64")
    for col in ("explanation", "explanation_zh", "explanation_en", "direction"):
        eff[col] = eff[col].astype(object).where(eff[col].notna(), None)
    eff["breakdown_rm"] = np.nan
    for col in ("n_base", "n_wave", "n_comparison", "event_time"):
        eff[col] = pd.to_numeric(eff[col], errors="coerce").astype("Int64")
    return eff[EFFECT_COLUMNS]


def _headline_table(effects: pd.DataFrame, registry: pd.DataFrame) -> pd.DataFrame:
    """One row per community × target: its latest wave (or its explanation row)."""
    if effects.empty:
        return effects.assign(programme=pd.Series(dtype=object))
    eff = effects.copy()
    eff["_w"] = eff["wave"].fillna(-np.inf)
    last = eff.sort_values("_w").groupby(["community_id", "target"], sort=False).tail(1).drop(columns="_w")
    order = {c: i for i, c in enumerate(registry["community_id"].astype(str))}
    tord = {(c, t): i for i, (c, t) in enumerate(zip(effects["community_id"], effects["target"]))}
    last = last.assign(_o=[(order.get(c, 1e9), tord[(c, t)]) for c, t in zip(last["community_id"], last["target"])])
    last = last.sort_values("_o").drop(columns="_o").reset_index(drop=True)
    prog_col = "programme_domain" if "programme_domain" in registry.columns else None
    prog = registry.set_index(registry["community_id"].astype(str))[prog_col] if prog_col else None
    last.insert(1, "programme", last["community_id"].map(prog) if prog is not None else None)
    return last
