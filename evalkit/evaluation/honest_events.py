"""The headlines as event studies and their parallel-trends sensitivity: the machinery.

:func:`event_studies` writes each programme community's first-target headline (the per-community
difference-in-differences of :mod:`evalkit.evaluation.summary`) as an event study against its base
wave, from the summary's cell means; :func:`sensitivity_frame` gives each one's relative-magnitudes
breakdown value (Rambachan & Roth 2023) and pre-test power (Roth 2022). :func:`evalkit.summarise`
calls them with its own cell means; :mod:`evalkit.evaluation.honest_summary` is the entry point for
a survey and a study.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from ..results import wald_columns
from ..spec.registry import programme_targets
from .comparison import _effect_row
from .summary_notes import HONEST_EXPLANATIONS, MIN_COMPARISONS, _labels
from .targets import target_name

__all__ = ["HONEST_COLUMNS", "HeadlineEventStudy", "attach_breakdown", "event_studies", "sensitivity_frame"]

#: Columns of :func:`sensitivity_frame` (and :func:`evalkit.evaluation.honest_summary.sensitivity_of_headlines`).
HONEST_COLUMNS = ["community_id", "target", "wave", "estimate", "restriction", "method", "breakdown", "pretest_p",
                  "pretest_power_50", "pretest_power_80", "num_pre", "num_post", "df", "sentence_zh", "sentence_en",
                  "power_sentence_zh", "power_sentence_en", "explanation", "explanation_zh", "explanation_en"]


class HeadlineEventStudy(NamedTuple):
    """One community's headline as an event study (pre then post, the base wave left out).

    ``betahat``/``sigma`` are the inputs of :func:`evalkit.did.honest.sensitivity`; ``l_vec`` picks
    the headline's wave (the latest); ``df`` is the headline's degrees of freedom; ``why`` is ``None``
    or the code of :data:`~evalkit.evaluation.summary_notes.HONEST_EXPLANATIONS` saying why there is
    no event study to check (then the arrays are empty).
    """

    community_id: str
    target: str
    event_times: np.ndarray
    betahat: np.ndarray
    sigma: np.ndarray
    num_pre: int
    num_post: int
    l_vec: np.ndarray
    df: float
    wave: float
    why: str | None
    facts: dict


def _shock_cov(tgt, ks: list, b: float, times: list[float], sh_diag: np.ndarray, K: int) -> np.ndarray:
    """Community-shock covariance of the event-study vector from the shock variogram.

    A community's shock changes between waves have stationary increments, so with ``g(d)`` the
    variance of a change over ``d`` waves, ``cov(s_t1 - s_b, s_t2 - s_b) = (g(|t1-b|) + g(|t2-b|)
    - g(|t1-t2|)) / 2``; the DiD's noise is the community's minus the mean of ``K`` comparison
    communities', hence the factor ``1 + 1/K``. ``g(|t-b|)`` is read off the headline variance's
    own shock part (``sh_diag``); ``g`` between two other waves is the summary's estimate for that
    distance, or where it is not estimable the comparison communities' scatter of that change net
    of sampling variance (the conservative fallback of the headline). When these estimates do not
    form a valid variogram the matrix is made positive semi-definite (eigenvalues below 0 set to 0)
    and rescaled to keep its diagonal, so each entry's variance stays the summary's.
    """
    n = len(times)
    g_b = sh_diag / (1 + 1 / K)
    G = np.diag(g_b)
    for i in range(n):
        for j in range(i + 1, n):
            gap = abs(times[i] - times[j])
            got = tgt.shock.get(gap)
            if got is not None and got[0] > 0:
                g_ij = got[0]
            else:
                D, v = tgt.ch.change(ks, min(times[i], times[j]), max(times[i], times[j]))
                g_ij = max(float(np.var(D, ddof=1)) - float(np.mean(v)), 0.0)
            G[i, j] = G[j, i] = (g_b[i] + g_b[j] - g_ij) / 2
    S = (1 + 1 / K) * G
    w, U = np.linalg.eigh(S)
    if w.min() >= 0:
        return S
    P = (U * np.clip(w, 0.0, None)) @ U.T  # nearest PSD, then rescaled to keep the headline's variances
    d = np.sqrt(np.clip(np.diag(P), 1e-300, None))
    return P / np.outer(d, d) * np.sqrt(np.outer(np.diag(S), np.diag(S)))


def _event_study(tgt, cid: str, name: str, start: int, b, waves: list[float], min_n: int,
                 facts: dict) -> HeadlineEventStudy:
    """The event study of community ``cid`` against base wave ``b`` (or why there is none)."""
    empty = np.zeros(0)

    def nothing(why, **more):
        return HeadlineEventStudy(cid, name, empty, empty, np.zeros((0, 0)), 0, 0, empty, np.nan, np.nan, why,
                                  {**facts, **more})

    if b is None:
        return nothing("no_base_wave")
    pre = [t for t in waves if t < b]
    post = [t for t in waves if t >= start]
    times = pre + [b] + post
    steps = np.diff(times)
    if not post:
        return nothing("no_post_wave")
    if not pre:
        return nothing("one_pre_wave", base=int(b))
    if not (len(set(steps)) == 1 and waves[waves.index(times[0]):waves.index(times[-1]) + 1] == times):
        return nothing("irregular_waves")
    if any(tgt.cell(cid, t)[1] < min_n for t in times) or not tgt.ch.usable(cid, *times):
        return nothing("no_pre_cells")
    ks = [k for k in tgt.controls if tgt.ch.usable(k, *times) and all(tgt.cell(k, t)[1] >= min_n for t in times)]
    if len(ks) < MIN_COMPARISONS:
        return nothing("few_comparisons", k=len(ks))
    others = pre + post
    rows = [_effect_row(tgt.ch, cid, ks, b, t, tgt.shock.get(abs(t - b)), tgt.dof) for t in others]
    C = np.zeros((len(others), tgt.ch.est.size))
    for i, t in enumerate(others):
        tgt.ch.vec(cid, b, t, C[i])
        for k in ks:
            tgt.ch.vec(k, b, t, C[i], -1.0 / len(ks))
    sampling = C @ tgt.V @ C.T
    sigma = sampling + _shock_cov(tgt, ks, b, others, np.array([r["se_shock"] ** 2 for r in rows]), len(ks))
    betahat = np.array([r["estimate"] for r in rows])
    l_vec = np.zeros(len(post))
    l_vec[-1] = 1.0
    return HeadlineEventStudy(cid, name, np.array([int(t - start) for t in others]), betahat, sigma, len(pre),
                              len(post), l_vec, float(rows[-1]["df"]), float(post[-1]), None,
                              {**facts, "pre_df": [float(r["df"]) for r in rows[:len(pre)]], "base": int(b),
                               "base_time": float(b - start)})


def base_wave(tgt, start: int, survey_waves: list[float], study) -> float | None:
    """The summary's base wave: the last wave before the start in which the indicator was asked."""
    measured = [t for t in tgt.waves if t < start]
    pre = [t for t in survey_waves if t < start]
    b = measured[-1] if measured else (pre[-1] if pre else None)
    if study.baseline_wave is not None and study.baseline_wave < start:
        b = float(study.baseline_wave)
    return b


def event_studies(study, survey_waves: list[float], min_n: int, lookup: Callable, communities=None
                  ) -> list[HeadlineEventStudy]:
    """The event study of each programme community's first target (registry order).

    ``lookup(indicator, group)`` returns ``(cell means, group code, kind)`` of a target: the
    summary's ``_Target`` (cell means, design covariance, shock variances by gap), the group it is
    estimated in and ``"mean"``/``"proportion"``. ``communities`` keeps only those ids.
    """
    registry, codebook = study.registry, study.codebook
    starts = {str(c): (None if pd.isna(s) else int(s)) for c, s in zip(registry["community_id"], registry["start_year"])}
    keep = None if communities is None else {str(c) for c in ([communities] if isinstance(communities, str)
                                                                else communities)}
    out = []
    for cid, ind, grp in programme_targets(registry).drop_duplicates("community_id")[
            ["community_id", "indicator", "group"]].itertuples(index=False):
        cid = str(cid)
        if keep is not None and cid not in keep:
            continue
        own = grp is None or pd.isna(grp) or not str(grp)
        tgt, group, kind = lookup(ind, grp)
        facts = {"start": starts[cid], "min_n": min_n, "kind": kind,
                 "yearly": all(1900 <= t <= 2200 for t in survey_waves), **_labels(codebook, ind, group)}
        name = target_name(ind, None if own else grp)
        if tgt.ch is None or cid not in tgt.present or starts[cid] is None:
            out.append(_event_study(tgt, cid, name, starts[cid], None, [], min_n, facts))
            continue
        b = base_wave(tgt, starts[cid], survey_waves, study)
        out.append(_event_study(tgt, cid, name, starts[cid], b, tgt.waves, min_n, facts))
    return out


def _explained(es: HeadlineEventStudy) -> dict:
    zh, en = HONEST_EXPLANATIONS[es.why]
    return {"explanation": es.why, "explanation_zh": zh.format(**es.facts), "explanation_en": en.format(**es.facts)}


def _pretest(es: HeadlineEventStudy, level: float) -> tuple[float, float, float, str | None, str | None]:
    """p-value of the Wald pre-test, the linear pre-trends detected half / 80% of the time and the power sentence."""
    from scipy import stats

    from ..did.pretrend_power import pretrend_power

    pre, S = es.betahat[:es.num_pre], es.sigma[:es.num_pre, :es.num_pre]
    if es.num_pre == 1:
        p = float(wald_columns(pre, np.sqrt(np.diag(S)), es.facts["pre_df"][0], level)["p_value"][0])
    else:
        p = float(stats.chi2.sf(float(pre @ np.linalg.pinv(S) @ pre), es.num_pre))
    pw = pretrend_power(es.betahat, es.sigma, es.num_pre, test="wald", level=level,  # trend 0 at the base wave
                        event_times=[int(e) for e in es.event_times], reference_time=es.facts["base_time"])
    tidy = pw.tidy()
    slope = {float(r.power_target): float(r.slope) for r in tidy.itertuples() if np.isfinite(r.power_target)}
    prop = es.facts.get("kind") == "proportion"
    yearly = es.facts.get("yearly", False)
    words = {lang: pw.sentence(lang=lang, scale=100.0 if prop else 1.0,
                               unit=(("个百分点", "percentage points") if prop else ("分", "points"))[lang == "en"],
                               period=(("年", "year") if yearly else ("期", "wave"))[lang == "en"])
             for lang in ("zh", "en")}
    return p, slope.get(0.5, np.nan), slope.get(0.8, np.nan), words["zh"], words["en"]


def sensitivity_frame(studies: list[HeadlineEventStudy], *, level: float = 0.95, method: str = "C-LF") -> pd.DataFrame:
    """Relative-magnitudes breakdown value and pre-test power of each event study's headline.

    Parameters
    ----------
    studies
        The event studies of :func:`event_studies`.
    level
        Confidence level of the robust intervals and the pre-test.
    method
        HonestDiD method of the relative-magnitudes intervals (``"C-LF"``, HonestDiD's default).

    Returns
    -------
    DataFrame
        :data:`HONEST_COLUMNS`, one row per programme community (registry order): ``target`` (its
        first target), ``wave`` and ``estimate`` (the headline's: latest wave), ``restriction``
        (``"relative_magnitude"``), ``method``, ``breakdown`` (the smallest Mbar at which the robust
        interval includes 0: the post-start difference in trends may be up to ``breakdown`` times the
        largest pre-start one before the conclusion changes; ``nan`` when the headline's interval
        already includes 0), ``pretest_p`` (Wald pre-test of the placebo estimates), the linear
        pre-trend slopes (outcome units per wave) the pre-test detects with 50% and 80% probability,
        ``df`` (t critical values), ``sentence_zh/_en`` and ``power_sentence_zh/_en``; a community
        that cannot be checked has NA numbers and ``explanation`` (code) with its texts.

    Notes
    -----
    Rambachan & Roth (2023) Delta^RM(Mbar); the interval is HonestDiD's conditional-least-favourable
    hybrid with t critical values on the headline's df (``evalkit.did.honest.sensitivity(df=)``,
    which ``studies/honest_coverage.py`` shows keeps coverage with 14 communities). Pre-test power:
    Roth (2022), a linear violation ``delta_t = slope * t`` (t the event time, base wave 0).
    """
    from ..did.honest import sensitivity

    rows = []
    for es in studies:
        row = dict.fromkeys(HONEST_COLUMNS)
        row.update(community_id=es.community_id, target=es.target, restriction="relative_magnitude", method=method)
        if es.why is not None:
            rows.append({**row, **_explained(es)})
            continue
        try:
            res = sensitivity(es.betahat, es.sigma, es.num_pre, es.num_post, restriction="relative_magnitude",
                              method=method, l_vec=es.l_vec, level=level, df=es.df)
            p, s50, s80, pz, pe = _pretest(es, level)
            breakdown = float(res.breakdown)
        except (EvalkitError, np.linalg.LinAlgError) as exc:  # said in the row, never a number made up
            rows.append({**row, **_explained(es._replace(why="not_computable", facts={**es.facts, "reason": str(exc)}))})
            continue
        rows.append({**row, "wave": es.wave, "estimate": float(es.l_vec @ es.betahat[es.num_pre:]),
                     "breakdown": breakdown, "pretest_p": p, "pretest_power_50": s50,
                     "pretest_power_80": s80, "num_pre": es.num_pre, "num_post": es.num_post, "df": es.df,
                     "sentence_zh": res.sentence(lang="zh"), "sentence_en": res.sentence(lang="en"),
                     "power_sentence_zh": pz, "power_sentence_en": pe})
    out = pd.DataFrame(rows, columns=HONEST_COLUMNS)
    for col in ("wave", "estimate", "breakdown", "pretest_p", "pretest_power_50", "pretest_power_80", "df"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    for col in ("num_pre", "num_post"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    for col in ("sentence_zh", "sentence_en", "power_sentence_zh", "power_sentence_en", "explanation",
                "explanation_zh", "explanation_en"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def attach_breakdown(frame: pd.DataFrame, honest: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (summary effects or headline) with ``breakdown_rm`` set on the rows of the headlines
    that were checked (same community, target and wave), ``nan`` elsewhere."""
    if not isinstance(honest, pd.DataFrame) or not set(HONEST_COLUMNS) <= set(honest.columns):
        raise EvalkitError("attach_breakdown: expected the frame of "
                           "evalkit.evaluation.honest_summary.sensitivity_of_headlines "
                           f"(columns {', '.join(HONEST_COLUMNS)}).")
    key = {(str(c), t, float(w)): b for c, t, w, b in
           zip(honest["community_id"], honest["target"], honest["wave"], honest["breakdown"]) if pd.notna(w)}
    out = frame.copy()
    waves = pd.to_numeric(out["wave"], errors="coerce").astype(float)
    out["breakdown_rm"] = [key.get((str(c), t, w), np.nan) for c, t, w in zip(out["community_id"], out["target"], waves)]
    return out
