"""One event study per programme community (its first target), for the figures of notebook 02.

:func:`first_target_event_studies` runs :func:`evalkit.att_gt` (repeated cross-sections of
respondents, clustered on PSUs) for each programme community against the never-treated comparison
communities, within the target's group, and aggregates it by event time. A community whose event
study cannot be computed (a withheld or unsurveyed wave, too few respondents) gets the reason in
words instead of stopping the notebook.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import pandas as pd

from ..did.estimator import att_gt
from ..errors import DidWarning, DroppedUnitsWarning, EstimationError, EvalkitError
from ..spec.registry import programme_targets
from .summary import target_group
from .targets import target_domain, target_name

__all__ = ["EventStudy", "first_target_event_studies"]


class EventStudy(NamedTuple):
    """One community's event study: ``result`` (the ``"dynamic"`` aggregation) or ``None`` and ``why``.

    ``notes`` holds the texts of the :class:`~evalkit.errors.DidWarning` raised on the way (e.g. no
    uniform band: the pointwise intervals are drawn), for a caller that shows them as prose.
    """

    community_id: str
    target: str
    result: object | None
    why: str | None
    notes: tuple = ()


def first_target_event_studies(survey: pd.DataFrame, study, *, bootstrap: int = 999,
                               seed: int | None = None) -> list[EventStudy]:
    """The event study of each programme community's first target, in registry order.

    Parameters
    ----------
    survey
        Validated, scored respondent rows.
    study
        The :class:`evalkit.Study` (registry: start years and targets; codebook: target groups;
        roles: community, wave, weight, PSU columns).
    bootstrap, seed
        Multiplier-bootstrap draws for the uniform band and their seed (default the study's).

    Returns
    -------
    list of EventStudy
        ``community_id, target, result, why, notes``: ``result`` is
        ``att_gt(...).aggregate("dynamic")`` or ``None`` with ``why`` (the error, in English) when
        it cannot be computed; ``notes`` the texts of its :class:`~evalkit.errors.DidWarning`
        (caught, not re-raised: e.g. no uniform band, so the pointwise intervals are drawn).
    """
    registry = study.require_registry("first_target_event_studies")
    roles = study.roles
    seed = study.seed if seed is None else seed
    start = {str(c): (0 if pd.isna(s) else int(s)) for c, s in zip(registry["community_id"], registry["start_year"])}
    data = survey.assign(first_year=survey[roles.community].astype(str).map(start).fillna(0).astype(int))
    out = []
    firsts = programme_targets(registry).drop_duplicates("community_id")
    for cid, ind, grp in firsts[["community_id", "indicator", "group"]].itertuples(index=False):
        cid = str(cid)
        name = target_name(ind, None if grp is None or pd.isna(grp) else grp)
        dom = target_domain(target_group(ind, grp, study.codebook), study.codebook) or {}
        rows = (data[roles.community].astype(str) == cid) | (data["first_year"] == 0)
        for col, values in dom.items():
            if col in data.columns:
                rows &= data[col].isin(list(values))
        try:
            if ind not in data.columns:
                raise EvalkitError(f"the survey has no column {ind!r}")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("ignore", DroppedUnitsWarning)  # rows without an answer are expected
                warnings.simplefilter("always", DidWarning)
                res = att_gt(data[rows], y=ind, group="first_year", time=roles.wave, panel=False,
                             weight=roles.weight, cluster=roles.psu, bootstrap=bootstrap, seed=seed)
                agg = res.aggregate("dynamic")
            for w in caught:  # other warnings are not ours to swallow
                if not issubclass(w.category, DidWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            notes = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, DidWarning)))
            out.append(EventStudy(cid, name, agg, None, notes))
        except (EstimationError, EvalkitError) as exc:
            out.append(EventStudy(cid, name, None, str(exc)))
    return out
