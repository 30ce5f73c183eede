"""How far parallel trends may fail before a headline changes: HonestDiD sensitivity of the summary's rows.

For every programme community's first target, :func:`headline_event_study` writes the evaluation
summary's own per-community difference-in-differences (:mod:`evalkit.evaluation.summary`) as an
event study against the base wave (the last wave before the start): placebo "effects" for the waves
before the base wave, effects for the waves from the start. Its covariance adds the design-based
sampling covariance of the cell means and the community-shock covariance estimated from the
comparison communities (the headline's variance, Ferman & Pinto 2019), so the diagonal entry of the
headline's wave is the headline's own ``se**2`` and its estimate is the headline's estimate.

:func:`sensitivity_of_headlines` then gives, per community, the relative-magnitudes breakdown value
of Rambachan & Roth (2023) (:func:`evalkit.did.honest.sensitivity`, ``"C-LF"``, t critical values on
the headline's degrees of freedom), the pre-test's p-value and the linear pre-trend it would detect
half of the time (Roth 2022, :func:`evalkit.did.pretrend_power.pretrend_power`), with one sentence
in Chinese and English, or the reason the community cannot be checked. :func:`evalkit.summarise`
computes the same frame from its own cell means (``EvaluationSummary.honest``); the machinery is in
:mod:`evalkit.evaluation.honest_events`.
"""
from __future__ import annotations

import warnings

import pandas as pd

from ..survey.design import SurveyDesign
from .honest_events import (HONEST_COLUMNS, HeadlineEventStudy, attach_breakdown, event_studies,
                            sensitivity_frame)
from .summary import _checked, _community_dof, _scale_facts, _Target, target_group

__all__ = ["HONEST_COLUMNS", "HeadlineEventStudy", "attach_breakdown", "headline_event_study",
           "sensitivity_of_headlines"]


def headline_event_study(survey: pd.DataFrame, study, *, communities=None, min_n: int | None = None
                         ) -> list[HeadlineEventStudy]:
    """Each programme community's first target as an event study of the summary's estimator.

    Parameters
    ----------
    survey
        Validated, scored respondent rows (gated for publishing, as for :func:`evalkit.summarise`).
    study
        The :class:`evalkit.Study` (registry, codebook, roles).
    communities
        Programme community ids to keep (default: all, in registry order).
    min_n
        Fewest respondents per cell, as :func:`evalkit.summarise` (default the gate's, else 2).

    Returns
    -------
    list of HeadlineEventStudy
        ``betahat`` (placebo estimates for the waves before the base wave, then effects for the
        waves from the start), ``sigma`` (their covariance), ``num_pre``, ``num_post``, ``l_vec``
        (the latest wave, the summary's headline), ``df`` (the headline's), or ``why`` it has none:
        ``one_pre_wave`` (the only wave before the start is the base wave itself: nothing to check),
        ``no_base_wave``, ``no_post_wave``, ``irregular_waves``, ``no_pre_cells``, ``few_comparisons``.

    Notes
    -----
    For community ``c`` with base wave ``b`` and waves ``t``: ``beta_t = (ybar_ct - ybar_cb) -
    mean_k (ybar_kt - ybar_kb)`` over the comparison communities ``k`` observed (with ``min_n``
    respondents) in every wave of the event study. ``sigma = C V C' + (1 + 1/K) Gamma``: ``V`` the
    design covariance of the cell means, ``C`` the contrasts, ``Gamma`` the shock covariance from
    the shock variogram (:func:`evalkit.evaluation.honest_events._shock_cov`). With the same
    comparison communities as the headline (every comparison community observed in every wave)
    the last entry of ``betahat`` is the headline's estimate and ``sigma[-1, -1]`` its ``se**2``.
    """
    survey, _, min_n = _checked(survey, study, 0.95, min_n)
    codebook, community, wave = study.codebook, study.roles.community, study.roles.wave
    starts = dict(zip(study.registry["community_id"].astype(str), study.registry["start_year"]))
    present = set(survey[community])
    controls = sorted(c for c, s in starts.items() if pd.isna(s) and c in present)
    cache: dict = {}
    design = dof = None

    def lookup(ind, grp):
        nonlocal design, dof
        group = target_group(ind, grp, codebook)
        if (ind, group) not in cache:
            if design is None:
                design = SurveyDesign.from_study(survey, study)  # as summarise: replicate weights if declared
                dof = _community_dof(design, community)
            own = grp is None or pd.isna(grp) or not str(grp)
            cache[ind, group] = _Target(design, survey, ind, group, codebook, community, wave, controls, dof, own)
        return cache[ind, group], group, _scale_facts(ind, codebook)[0]

    waves = sorted(float(t) for t in pd.unique(survey[wave]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the summary itself reports the design's warnings
        return event_studies(study, waves, min_n, lookup, communities)


def sensitivity_of_headlines(survey: pd.DataFrame, study, *, level: float = 0.95, method: str = "C-LF",
                             min_n: int | None = None) -> pd.DataFrame:
    """Relative-magnitudes breakdown value and pre-test power of each programme community's headline.

    ``survey, study, min_n`` as :func:`evalkit.summarise`; ``level`` of the robust intervals and the
    pre-test; ``method`` of the relative-magnitudes intervals (``"C-LF"``, HonestDiD's default).
    Returns :func:`evalkit.evaluation.honest_events.sensitivity_frame` of :func:`headline_event_study`:
    :data:`HONEST_COLUMNS`, one row per programme community (``breakdown``: the smallest Mbar at which
    the robust interval of the headline includes 0; ``pretest_p``; ``pretest_power_50``/``_80``: the
    linear pre-trend slopes detected half / 80% of the time; sentences; or ``explanation`` when the
    community cannot be checked). The same frame as ``summarise(survey, study).honest``.
    """
    return sensitivity_frame(headline_event_study(survey, study, min_n=min_n), level=level, method=method)
