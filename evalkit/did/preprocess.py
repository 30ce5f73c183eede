"""Data preparation of :func:`evalkit.did.att_gt` (R ``did::pre_process_did``).

:func:`prepare` checks the columns, drops incomplete rows and units without a pre-treatment
period, recodes groups first treated after the last period as never treated, and lays the data
out for the loop over (g, t) cells as a :class:`Layout`:

* ``"panel"``: a balanced panel as unit x period matrices;
* ``"rows"``: repeated cross-sections, one influence-function row per observation;
* ``"unbalanced"``: an unbalanced panel as R did's ``allow_unbalanced_panel=TRUE``: each cell is
  estimated from its rows as repeated cross-sections and the influence function is summed
  within unit.

Without never-treated units and with ``control="notyet"`` the last cohort becomes the
comparison group and the periods from its start on are dropped, as R does.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DroppedUnitsWarning, EstimationError


def prepare(data: pd.DataFrame, *, y: str, group: str, time: str, unit: str | None,
            covariates: Sequence[str] | str | None, weight: str | None, cluster: str | None,
            panel: bool, allow_unbalanced_panel: bool, control: str) -> tuple[Layout, np.ndarray]:
    """Check and lay out the data of :func:`~evalkit.did.att_gt`; return the layout and the
    treated groups (first-treated periods) that get ATT(g, t) cells."""
    if not isinstance(allow_unbalanced_panel, (bool, np.bool_)):
        raise EstimationError("allow_unbalanced_panel must be True or False, got "
                              f"{allow_unbalanced_panel!r}.")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
    if panel and unit is None:
        raise EstimationError("panel=True needs the unit identifier: pass unit='<id column>', or "
                              "panel=False for repeated cross-sections.")
    _require_columns(data, {"outcome": y, "group": group, "time": time, "unit": unit,
                            "weight": weight, "cluster": cluster})
    for c in covariates:
        _require_columns(data, {"covariate": c})
    for col, role in [(time, "time"), (group, "group"), (y, "outcome"), (weight, "weight"),
                      *((c, "covariate") for c in covariates)]:
        if col is not None:
            _numeric(data, col, role)

    cols = [c for c in dict.fromkeys([y, group, time, unit, weight, cluster, *covariates]) if c is not None]
    df, vals, periods, pos = _clean_rows(data, cols, y, group, time, unit, weight, cluster, panel)
    roles = dict(y=y, group=group, time=time, weight=weight, cluster=cluster, covariates=covariates)
    if panel:
        lay = _unit_layout(df, vals, periods, unit=unit, allow_unbalanced_panel=allow_unbalanced_panel,
                           **roles)
        lay.pos = pos[np.unique(pd.factorize(df[unit], sort=True)[0], return_index=True)[1]]
    else:
        lay = _row_layout(df, vals, periods, **roles)
        lay.pos = pos
    return _treated_groups(lay, group, control, panel)


def _treated_groups(lay: Layout, group: str, control: str, panel: bool) -> tuple[Layout, np.ndarray]:
    """The groups with cells; checks that a comparison group exists and groups have two units."""
    glist = np.unique(lay.G[lay.G > 0])
    if glist.size == 0:
        raise EstimationError(f"No unit is ever treated (the group column {group!r} is 0 everywhere).")
    what_unit = "units" if panel else "rows"
    if not (lay.G == 0).any():
        if control == "never":
            raise EstimationError(
                f"There are no never-treated {what_unit} (group {group!r} == 0), so control='never' has "
                "no comparison group. Use control='notyet' to compare with not-yet-treated units.")
        lay, glist = _last_cohort_as_control(lay, glist, what_unit)
    sizes = np.array([(lay.G == gg).sum() for gg in glist])
    if (sizes < 2).any():
        gs = [f"{gg:g}" for gg in glist[sizes < 2]]
        raise EstimationError(
            f"Treatment group(s) {', '.join(gs)} contain a single {'unit' if panel else 'observation'}; "
            "a group-time ATT needs at least two. Merge the group with a neighbouring start period or "
            "drop it.")
    return lay, glist


def _require_columns(data: pd.DataFrame, cols: dict[str, str | None]):
    for role, col in cols.items():
        if col is not None and col not in data.columns:
            raise EstimationError(f"The {role} column {col!r} is not in the data; available columns "
                                  f"are {list(data.columns)[:20]}.")


def _show(values) -> str:
    """Comma-separated plain values (numpy scalars shown as Python ones)."""
    return ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in values)


def _numeric(data, col, role):
    if not (pd.api.types.is_numeric_dtype(data[col]) and not pd.api.types.is_bool_dtype(data[col])):
        raise EstimationError(f"The {role} variable {col!r} must be numeric. Please convert it.")


@dataclass
class Layout:
    """The cleaned data of :func:`~evalkit.did.att_gt`, laid out for the loop over (g, t) cells.

    ``mode`` is ``"panel"`` (balanced panel: unit x period matrices), ``"rows"``
    (repeated cross-sections: one influence-function row per observation) or
    ``"unbalanced"`` (an unbalanced panel as R did's ``allow_unbalanced_panel=TRUE``:
    each cell is estimated from its rows as repeated cross-sections and the influence
    function is summed within unit, so there is one influence row per unit).
    """

    mode: str
    periods: np.ndarray
    n: int                          # rows of the influence function
    G: np.ndarray                   # group of each influence row
    W: np.ndarray                   # weight of each influence row
    cl_codes: np.ndarray | None     # cluster of each influence row (None: the row itself)
    Ymat: np.ndarray | None = None  # panel: n x T outcomes
    Xmat: np.ndarray | None = None  # panel: n x T x k covariates (with intercept)
    Yv: np.ndarray | None = None    # rows / unbalanced: observation-level arrays
    Xr: np.ndarray | None = None
    tv: np.ndarray | None = None
    Gr: np.ndarray | None = None
    Wr: np.ndarray | None = None
    row_unit: np.ndarray | None = None  # unbalanced: unit (influence row) of each observation
    pos: np.ndarray | None = None       # position in the data of each influence row (a unit's first row)


def _clean_rows(data, cols, y, group, time, unit, weight, cluster, panel):
    """Drop incomplete rows, recode late groups, drop units treated in the first period.

    Returns the kept frame, its numeric columns as float arrays, the sorted periods and the
    positions of the kept rows in `data`.
    """
    df = data[cols]
    pos = np.arange(len(df))
    num_cols = [c for c in cols if c not in (unit, cluster)]
    vals = {c: df[c].to_numpy(dtype=float) for c in num_cols}
    bad = np.zeros(len(df), dtype=bool)
    for c in num_cols:
        bad |= np.isnan(vals[c])
    for c in (unit, cluster):
        if c is not None:
            bad |= df[c].isna().to_numpy()
    if bad.any():
        warnings.warn(f"Dropped {int(bad.sum())} rows with missing values in {cols}.",
                      DroppedUnitsWarning, stacklevel=4)
        df = df.loc[~bad]
        vals = {c: v[~bad] for c, v in vals.items()}
        pos = pos[~bad]
    if weight is not None and (vals[weight] < 0).any():
        raise EstimationError(f"The weight column {weight!r} has negative values; sampling weights "
                              "must be non-negative.")
    gv = vals[group] = vals[group].copy()  # never write into the caller's frame
    gv[np.isinf(gv)] = 0.0
    if (gv < 0).any():
        raise EstimationError(f"The group column {group!r} has negative values; use the first treated "
                              "period, or 0 for never-treated units.")
    periods = np.unique(vals[time])
    if periods.size < 2:
        raise EstimationError(f"The time column {time!r} has a single period; DiD needs at least two.")

    def count(mask):
        return (f"{len(pd.unique(df[unit].to_numpy()[mask]))} units" if panel
                else f"{int(mask.sum())} rows")

    late = gv > periods[-1]
    if late.any():
        warnings.warn(f"{count(late)} are first treated after the last period {periods[-1]:g}; they are "
                      "treated as never treated (as R did does).", DroppedUnitsWarning, stacklevel=4)
        gv[late] = 0.0
    early = (gv > 0) & (gv <= periods[0])
    if early.any():
        warnings.warn(f"Dropped {count(early)} that were already treated in the first period "
                      f"({periods[0]:g}); they have no pre-treatment period.",
                      DroppedUnitsWarning, stacklevel=4)
        df = df.loc[~early]
        vals = {c: v[~early] for c, v in vals.items()}
        pos = pos[~early]
    return df, vals, periods, pos


def _per_unit(v, ucodes, uniq, what):
    """The unit-level value of a column that must not vary within a unit (else raise)."""
    _, first = np.unique(ucodes, return_index=True)
    per_unit = v[first]
    varies = v != per_unit[ucodes]
    if varies.any():
        u = uniq[np.unique(ucodes[varies])[:5]]
        raise EstimationError(what.format(units=_show(u)))
    return per_unit


def _unit_layout(df, vals, periods, *, y, group, time, unit, weight, cluster, covariates,
                 allow_unbalanced_panel) -> Layout:
    """Layout of panel data: balanced matrices, or rows summed to units when unbalanced."""
    T = periods.size
    tidx = np.searchsorted(periods, vals[time])
    ucodes, uniq = pd.factorize(df[unit], sort=True)
    nU = len(uniq)
    code = ucodes.astype(np.int64) * T + tidx
    counts = np.bincount(code, minlength=nU * T).reshape(nU, T)
    if (counts > 1).any():
        dup = uniq[np.flatnonzero((counts > 1).any(axis=1))[:5]]
        raise EstimationError(f"Units appear more than once in a period (e.g. {unit}={_show(dup)}); "
                              f"panel data need one row per {unit!r} and {time!r}.")
    unbalanced = bool((counts == 0).any())
    if unbalanced and not allow_unbalanced_panel:
        miss_units = np.flatnonzero((counts == 0).any(axis=1))
        examples = [f"{_show([uniq[u]])} (missing {', '.join(f'{p:g}' for p in periods[counts[u] == 0])})"
                    for u in miss_units[:5]]
        raise EstimationError(
            f"The panel is unbalanced: {len(miss_units)} of {nU} units are not observed in every "
            f"period, e.g. {unit}={'; '.join(examples)}. Pass allow_unbalanced_panel=True to use every "
            f"row, as R did's allow_unbalanced_panel=TRUE does: each ATT(g,t) is estimated from its rows "
            f"as repeated cross-sections and the influence function is summed within {unit!r} (standard "
            f"errors clustered on the unit, aggregations weighting groups by units). Or balance the panel "
            f"(df.groupby({unit!r}).filter(lambda d: d[{time!r}].nunique() == {T})). panel=False alone "
            f"treats the rows as independent and overstates the standard errors unless you also pass "
            f"cluster={unit!r}.")
    Gu = _per_unit(vals[group], ucodes, uniq,
                   f"The group column {group!r} changes over time within units {{units}}; it must be "
                   "the unit's first treated period in every row.")
    Wu = np.ones(nU) if weight is None else _per_unit(
        vals[weight], ucodes, uniq,
        f"The weight column {weight!r} varies over time within units {{units}}; panel weights must "
        "be time-invariant.")
    cl_codes = None
    if cluster is not None:
        cc = _per_unit(pd.factorize(df[cluster])[0], ucodes, uniq,
                       f"The cluster column {cluster!r} varies over time within units {{units}}; "
                       "clusters must be time-invariant.")
        if cluster != unit:
            cl_codes = pd.factorize(cc)[0]
    if unbalanced:
        Xr = np.column_stack([np.ones(len(df))] + [vals[c] for c in covariates])
        return Layout("unbalanced", periods, nU, Gu, Wu, cl_codes, Yv=vals[y], Xr=Xr,
                       tv=vals[time], Gr=vals[group], Wr=Wu[ucodes], row_unit=ucodes)

    def unit_matrix(v):
        out = np.empty(nU * T)
        out[code] = v
        return out.reshape(nU, T)

    Xmat = np.ones((nU, T, 1 + len(covariates)))
    for j, c in enumerate(covariates):
        Xmat[:, :, j + 1] = unit_matrix(vals[c])
    return Layout("panel", periods, nU, Gu, Wu, cl_codes, Ymat=unit_matrix(vals[y]), Xmat=Xmat)


def _row_layout(df, vals, periods, *, y, group, time, weight, cluster, covariates) -> Layout:
    """Layout of repeated cross-sections: every observation is its own influence row."""
    n = len(df)
    Xr = np.column_stack([np.ones(n)] + [vals[c] for c in covariates])
    W = vals[weight] if weight is not None else np.ones(n)
    cl_codes = pd.factorize(df[cluster])[0] if cluster is not None else None
    return Layout("rows", periods, n, vals[group], W, cl_codes, Yv=vals[y], Xr=Xr, tv=vals[time],
                   Gr=vals[group], Wr=W)


def _last_cohort_as_control(lay: Layout, glist: np.ndarray, what: str) -> tuple[Layout, np.ndarray]:
    """control='notyet' without never-treated units: R did drops the periods from the last
    cohort's start on and uses that cohort as the not-yet-treated comparison."""
    if glist.size < 2:
        raise EstimationError(
            f"There are neither never-treated nor not-yet-treated {what}: every treated unit "
            f"starts in {glist[0]:g}, so no comparison group exists.")
    gmax = glist[-1]
    warnings.warn(f"No never-treated {what}: as R did does, periods >= {gmax:g} are dropped and "
                  f"the last-treated group ({gmax:g}) serves as the not-yet-treated comparison.",
                  DroppedUnitsWarning, stacklevel=5)
    keep_t = lay.periods < gmax
    if keep_t.sum() < 2:
        raise EstimationError("After dropping periods from the last cohort on, fewer than two periods "
                              "remain; no not-yet-treated comparison is possible.")
    new = dict(lay.__dict__, periods=lay.periods[keep_t])
    if lay.mode == "panel":
        new.update(Ymat=lay.Ymat[:, keep_t], Xmat=lay.Xmat[:, keep_t])
    else:
        r = lay.tv < gmax
        new.update(Yv=lay.Yv[r], Xr=lay.Xr[r], tv=lay.tv[r], Gr=lay.Gr[r], Wr=lay.Wr[r])
        if lay.mode == "rows":
            new.update(n=int(r.sum()), G=lay.G[r], W=lay.W[r], pos=lay.pos[r])
            if lay.cl_codes is not None:
                new["cl_codes"] = pd.factorize(lay.cl_codes[r])[0]
        else:  # units observed only from gmax on leave the sample (R drops those rows first)
            kept, ru = np.unique(lay.row_unit[r], return_inverse=True)
            new.update(n=kept.size, G=lay.G[kept], W=lay.W[kept], row_unit=ru, pos=lay.pos[kept])
            if lay.cl_codes is not None:
                new["cl_codes"] = pd.factorize(lay.cl_codes[kept])[0]
    new["G"] = np.where(new["G"] == gmax, 0.0, new["G"])
    if new["Gr"] is not None:
        new["Gr"] = np.where(new["Gr"] == gmax, 0.0, new["Gr"])
    return Layout(**new), glist[:-1]

