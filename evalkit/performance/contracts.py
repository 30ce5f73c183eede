"""Outputs against the contract: what each project delivered, by its service records, against the
targets written in its contract, its budget execution and its reach.

Inputs are plain tables, so an evaluator can type them from the contracts:

* ``contracts``: one row per purchased project: ``community_id, project, budget`` (yuan) and
  optionally ``organisation, target_group, period_start, period_end, kind`` (``"service"`` or
  ``"evaluation"``; an evaluation project has no community and no records).
* ``targets``: one row per contract target: ``community_id, output, target``. ``output`` is an
  activity type of the records spec (``case``, ``group``, ``event``, ``volunteer``,
  ``training``: the number of such activities) or one of :data:`OUTPUT_MEASURES`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from ..spec.registry import population_table

#: Outputs a target may name besides activity counts.
OUTPUT_MEASURES = {
    "service_visits": "服务人次 (attendances, the sum of each activity's count)",
    "unique_beneficiaries": "unique people served (distinct pseudonymous ids)",
    "activities": "activities of any type",
    "service_hours": "hours of service delivered",
    "volunteer_hours": "volunteer hours recorded",
}
#: Age groups of the registry's population columns that make up each target group.
GROUP_AGES = {"elderly": ("60+",), "child": ("8-17",), "adult": ("18-39", "40-59"),
              "adults": ("18-39", "40-59", "60+"), "all": ("8-17", "18-39", "40-59", "60+")}


def _need(frame: pd.DataFrame, cols, what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise EvalkitError(f"{what} needs the column(s) {missing}; it has {list(frame.columns)}. "
                           f"Rename the columns or add them.")


def project_outputs(records: pd.DataFrame, *, activity_types=("case", "group", "event", "volunteer", "training"),
                    communities=None) -> pd.DataFrame:
    """What each community's project delivered, from its valid service records.

    Parameters
    ----------
    records
        Valid records (:attr:`RecordsReport.valid` or :func:`combine_records`).
    activity_types
        Activity codes to count (one column each).
    communities
        Communities to report even without any record (a row of zeros, never a dropped project).

    Returns
    -------
    DataFrame
        One row per ``community_id``: a count column per activity type, ``activities``,
        ``service_visits`` (服务人次: the sum of the activities' attendance counts),
        ``unique_beneficiaries`` (distinct attendee ids over all the project's activities),
        ``visits_without_ids`` (attendances recorded as a count only, which cannot be
        de-duplicated), ``service_hours``, ``volunteer_hours``, ``spent`` (yuan).
    """
    _need(records, ["community_id", "activity_type", "attendee_ids", "attendees"], "project_outputs()")
    rows = []
    comms = list(dict.fromkeys([*(communities or []), *records["community_id"].astype(str)]))
    for cid in comms:
        r = records[records["community_id"].astype(str) == cid]
        ids = set()
        for t in r["attendee_ids"]:
            ids.update(t or ())
        visits = pd.to_numeric(r["attendees"], errors="coerce").fillna(0)
        n_ids = r["attendee_ids"].map(lambda t: len(t or ()))
        row = {"community_id": cid}
        for a in activity_types:
            row[a] = int((r["activity_type"] == a).sum())
        row.update(activities=int(r["activity_type"].isin(activity_types).sum()), service_visits=int(visits.sum()), unique_beneficiaries=len(ids),
                   visits_without_ids=int((visits - n_ids).clip(lower=0).sum()),
                   service_hours=float(pd.to_numeric(r.get("hours"), errors="coerce").fillna(0).sum()),
                   volunteer_hours=float(pd.to_numeric(r.get("volunteer_hours"), errors="coerce").fillna(0).sum()),
                   spent=float(pd.to_numeric(r.get("spending"), errors="coerce").fillna(0).sum()))
        rows.append(row)
    return pd.DataFrame(rows)


def against_targets(outputs: pd.DataFrame, targets: pd.DataFrame, *, share: float = 1.0) -> pd.DataFrame:
    """Completion of every contract target.

    Parameters
    ----------
    outputs
        :func:`project_outputs`.
    targets
        ``community_id, output, target``.
    share
        Share of each target due by now (1 = the final round; e.g. 0.5 at a mid-term review whose
        contract asks for half the outputs by then).

    Returns
    -------
    DataFrame
        ``community_id, output, target, due, achieved, completion_rate`` (achieved / due, not
        capped) ``, met`` (achieved >= due).

    Examples
    --------
    >>> out = pd.DataFrame({"community_id": ["a"], "group": [9], "service_visits": [300]})
    >>> t = pd.DataFrame({"community_id": ["a", "a"], "output": ["group", "service_visits"], "target": [12, 240]})
    >>> against_targets(out, t)[["output", "completion_rate", "met"]].to_numpy().tolist()
    [['group', 0.75, False], ['service_visits', 1.25, True]]
    """
    _need(targets, ["community_id", "output", "target"], "against_targets()")
    if not 0 < share <= 1:
        raise EvalkitError(f"share={share!r}: the share of the targets due must be in (0, 1].")
    out = outputs.set_index("community_id")
    rows = []
    for cid, output, target in targets[["community_id", "output", "target"]].itertuples(index=False):
        if output not in out.columns:
            raise EvalkitError(f"targets: output {output!r} of {cid} is neither an activity type of the records "
                               f"nor one of {sorted(OUTPUT_MEASURES)}; fix the targets table.")
        if not np.isfinite(float(target)) or float(target) <= 0:
            raise EvalkitError(f"targets: {cid} {output} has target {target!r}; targets must be positive numbers.")
        achieved = float(out.loc[cid, output]) if cid in out.index else 0.0
        due = float(target) * share
        rows.append({"community_id": cid, "output": output, "target": float(target), "due": due,
                     "achieved": achieved, "completion_rate": achieved / due, "met": bool(achieved >= due)})
    return pd.DataFrame(rows, columns=["community_id", "output", "target", "due", "achieved", "completion_rate", "met"])


def target_population(registry: pd.DataFrame, community_id: str, group: str | None = None) -> float:
    """People in a community's target group by the registry's population columns (all ages if no group)."""
    pop = population_table(registry)
    g = "all" if group is None or (isinstance(group, float) and np.isnan(group)) or group == "" else str(group)
    if g not in GROUP_AGES:
        raise EvalkitError(f"target group {g!r} is not one of {sorted(GROUP_AGES)}; fix the contracts' target_group.")
    sel = pop[(pop["community_id"] == community_id) & pop["age_group"].isin(GROUP_AGES[g])]
    if sel.empty:
        raise EvalkitError(f"community {community_id!r} has no population in the registry; check its id.")
    return float(sel["population"].sum())


def budget_execution(contracts: pd.DataFrame, outputs: pd.DataFrame, *, registry: pd.DataFrame | None = None
                     ) -> pd.DataFrame:
    """Budget, spending, execution rate, cost per result and reach of every service project.

    Returns
    -------
    DataFrame
        ``community_id, project, budget, spent, execution_rate`` (spent / budget) ``,
        unique_beneficiaries, service_visits, cost_per_beneficiary`` (spent / unique people)
        ``, cost_per_visit`` (spent / 服务人次) ``, target_group, population`` (the target group in
        the registry, NA without one) ``, reach`` (unique people / population). A cost per result
        is NA when nothing was recorded (never a division by zero).
    """
    _need(contracts, ["community_id", "project", "budget"], "budget_execution()")
    c = contracts[contracts.get("kind", pd.Series("service", index=contracts.index)).fillna("service") == "service"]
    out = outputs.set_index("community_id")
    rows = []
    for r in c.itertuples(index=False):
        cid = str(r.community_id)
        o = out.loc[cid] if cid in out.index else None
        spent = float(o["spent"]) if o is not None else 0.0
        ub = int(o["unique_beneficiaries"]) if o is not None else 0
        sv = int(o["service_visits"]) if o is not None else 0
        group = getattr(r, "target_group", None)
        pop = target_population(registry, cid, group) if registry is not None else np.nan
        rows.append({"community_id": cid, "project": r.project, "budget": float(r.budget), "spent": spent,
                     "execution_rate": spent / float(r.budget), "unique_beneficiaries": ub, "service_visits": sv,
                     "cost_per_beneficiary": spent / ub if ub else np.nan,
                     "cost_per_visit": spent / sv if sv else np.nan,
                     "target_group": None if group is None or (isinstance(group, float) and np.isnan(group)) else group,
                     "population": pop, "reach": ub / pop if pop and np.isfinite(pop) else np.nan})
    return pd.DataFrame(rows)


def check_budgets(contracts: pd.DataFrame, total: float | None = None) -> float:
    """The sum of all contracts' budgets; with `total`, raise if it differs (e.g. the 1.4 million
    yuan the bureau spent on the round, evaluation project included)."""
    s = float(pd.to_numeric(contracts["budget"]).sum())
    if total is not None and abs(s - total) > 0.5:
        raise EvalkitError(f"the contracts' budgets sum to {s:,.0f} yuan, not {total:,.0f}; check each budget "
                           "and that the evaluation project is listed.")
    return s


__all__ = ["OUTPUT_MEASURES", "GROUP_AGES", "project_outputs", "against_targets", "target_population",
           "budget_execution", "check_budgets"]
