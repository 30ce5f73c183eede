"""The indicator table: every scale and participation indicator by community and wave, in one call.

:func:`indicator_table` takes a scored survey table (:func:`evalkit.score`) and a survey design
and returns one tidy row per indicator and cell (by default the study's community × wave) with the
design-based estimate, its standard error, degrees of freedom and interval, the unweighted and
effective sample sizes and the design effect. Estimation is :class:`~evalkit.survey.design.SurveyDesign`'s (Taylor
linearisation, R ``svyby(..., svymean)``); this module only decides *which* rows each indicator is
estimated among and assembles the table.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, EvalkitError, SmallSampleWarning
from ..spec.codebook import Codebook, Scale, as_codebook
from ..spec.study import Roles, Study
from .design import SurveyDesign
from .replicate import ReplicateDesign

__all__ = ["indicator_table", "INDICATOR_COLUMNS"]

#: Columns of :func:`indicator_table` after the by-columns, in order.
INDICATOR_COLUMNS = ["indicator", "zh", "en", "domain", "group", "kind", "estimate", "se", "df",
                     "ci_low", "ci_high", "n", "n_eff", "deff", "flag_small"]


def _design_arguments(roles: Roles) -> dict[str, str | None]:
    """:class:`SurveyDesign` arguments from the column roles (weight, strata, PSU)."""
    return {"weight": roles.weight, "strata": roles.strata, "psu": roles.psu}


#: The design columns of a study with the standard column names (:class:`evalkit.Roles` defaults):
#: base weight = 1 / selection probability, strata, PSU.
DEFAULT_DESIGN = _design_arguments(Roles())


def _reported_group(codebook: Codebook, scale: Scale) -> str:
    """The group a scale is reported for: its ``group``, else its items' common ``asked_of``."""
    if scale.group:
        return scale.group
    if scale.composite_of:
        parts = {_reported_group(codebook, codebook.scales[c]) for c in scale.composite_of}
    else:
        parts = {codebook.items[i].asked_of or "all" for i in scale.items}
    return parts.pop() if len(parts) == 1 else "all"


def _band_indicators(df: pd.DataFrame, scale: Scale) -> dict[str, tuple[np.ndarray, Mapping]]:
    """0/1 indicator of each cut-off band (NaN where the score is missing)."""
    from ..measure.scales import _band_bounds, _band_codes

    values = df[scale.name].to_numpy(dtype=np.float64, na_value=np.nan)
    codes = np.empty(values.shape, dtype=np.int8)
    _band_codes(values, _band_bounds(scale), codes)
    out = {}
    for j, cut in enumerate(scale.cutoffs):
        ind = (codes == j).astype(np.float64)
        ind[np.isnan(values)] = np.nan
        out[f"{scale.name}_{cut['label']}"] = (ind, cut)
    return out


def _inputs(df_scored: Any, codebook: Any, study: Study | None, by: Any, indicators: Any,
            min_n_eff: Any) -> tuple[Codebook, Roles, list[str], list[str]]:
    """The codebook, column roles, cell columns and scale names; checks the arguments."""
    if study is not None and not isinstance(study, Study):
        raise EvalkitError(f"indicator_table(study=...) needs an evalkit.Study, got {type(study).__name__}.")
    if codebook is None and study is None:
        raise EvalkitError(
            "indicator_table() needs the codebook of your survey: indicator_table(df, codebook) or "
            "indicator_table(df, study=study) (evalkit.Study.from_files(...); the shipped example is "
            "evalkit.datasets.dongying()).")
    codebook = as_codebook(codebook if codebook is not None else study.codebook, "indicator_table")
    if not isinstance(df_scored, pd.DataFrame):
        raise EvalkitError(f"indicator_table() needs a pandas DataFrame, got {type(df_scored).__name__}.")
    roles = study.roles if study is not None else Roles()
    by = [roles.community, roles.wave] if by is None else [by] if isinstance(by, str) else list(by)
    if isinstance(indicators, str):
        indicators = [indicators]
    names = list(codebook.scales) if indicators is None else [codebook._scale(s).name for s in indicators]
    if not (isinstance(min_n_eff, (int, float)) and not isinstance(min_n_eff, bool) and min_n_eff >= 0):
        raise EvalkitError(f"min_n_eff={min_n_eff!r} must be a number >= 0, e.g. 30.")
    missing = [s for s in names if s not in df_scored.columns]
    if missing:
        raise EvalkitError(
            f"The table has no score column for {', '.join(missing[:8])}"
            f"{' …' if len(missing) > 8 else ''}. Score it first: df_scored = evalkit.score(df, codebook)."
        )
    absent_by = [c for c in by if c not in df_scored.columns]
    if absent_by:
        raise EvalkitError(f"by column(s) {absent_by} are not in the table; available: "
                           f"{', '.join(map(str, df_scored.columns[:20]))} ...")
    return codebook, roles, by, names


def _indicator_spec(df_scored: pd.DataFrame, codebook: Codebook, names: list[str], bands: bool,
                    role: str | None) -> tuple[list[tuple[str, Scale, Mapping | None]], dict[str, np.ndarray]]:
    """The indicators ``(name, scale, band cut-off or None)`` and the values of the band indicators."""
    spec: list[tuple[str, Scale, Mapping | None]] = []
    extra: dict[str, np.ndarray] = {}
    for s in names:
        sc = codebook.scales[s]
        spec.append((s, sc, None))
        if bands and sc.cutoffs:
            for ind, (values, cut) in _band_indicators(df_scored, sc).items():
                spec.append((ind, sc, cut))
                extra[ind] = values
    clash = [c for c in extra if c in df_scored.columns]
    if clash:
        raise EvalkitError(f"Band indicator name(s) {clash} are already columns of the table; "
                           "rename those columns or pass bands=False.")
    targeted = {sc.group for _, sc, _ in spec if sc.group}
    if targeted and (role is None or role not in df_scored.columns):
        raise EvalkitError(
            f"Scales for the group(s) {sorted(targeted)} are estimated among respondents of those "
            f"roles, but the table has no {role!r} column. Keep the codebook field {role!r} "
            "(or name your role column: Study(..., roles=Roles(role=...))).")
    return spec, extra


def _survey_design(df_scored: pd.DataFrame, design: Any, roles: Roles, columns: list[str],
                   extra: dict[str, np.ndarray]) -> SurveyDesign:
    """The design, with every indicator, cell and role column in its data."""
    if isinstance(design, (SurveyDesign, ReplicateDesign)):  # a replicate design is used as it is too
        data = design.data
        if len(data) != len(df_scored) or not data.index.equals(df_scored.index):
            raise EvalkitError(
                "The design's data and df_scored do not have the same rows (index). Build the "
                "design from the scored table, or pass design keyword arguments instead."
            )
        add = {c: df_scored[c] for c in columns if c in df_scored.columns and c not in data.columns}
        add.update({c: pd.Series(v, index=df_scored.index) for c, v in extra.items()})
        return design.assign(**add) if add else design
    if design is not None and not isinstance(design, Mapping):
        raise EvalkitError(f"design= must be a SurveyDesign, a mapping of SurveyDesign arguments or None; got "
                           f"{type(design).__name__}.")
    kwargs = {**_design_arguments(roles), **(dict(design) if design else {})}
    design_cols = [kwargs[k] for k in ("weight", "strata", "psu", "fpc") if kwargs.get(k)]
    lacking = [c for c in design_cols if c not in df_scored.columns]
    if lacking:
        raise DesignError(
            f"Design column(s) {lacking} are not in the table. Pass design={{'weight': ..., "
            "'strata': ..., 'psu': ...}} naming your columns, a SurveyDesign, or study= with its roles."
        )
    keep = list(dict.fromkeys([*design_cols, *(c for c in columns if c in df_scored.columns)]))
    return SurveyDesign(df_scored[keep].assign(**extra), **kwargs)


def _estimates(dsg: SurveyDesign, spec, codebook: Codebook, by: list[str], role: str | None,
               level: float, df: Any) -> pd.DataFrame:
    """One :meth:`SurveyDesign.mean` call per respondent group (a group's domain of the full design)."""
    data = dsg.data
    parts = []
    for group in dict.fromkeys(sc.group for _, sc, _ in spec):
        ys = [name for name, sc, _ in spec if sc.group == group]
        if group is None:
            sub = dsg
        else:
            inside = data[role].isin(list(codebook.groups[group].roles)).to_numpy()
            if not inside.any():
                continue  # nobody of the group: the rows are filled with n = 0 below
            sub = dsg.subset(inside)
        parts.append(sub.mean(ys, by=by or None, level=level, df=df))
    return pd.concat(parts, ignore_index=True)


def _assemble(data: pd.DataFrame, spec, codebook: Codebook, est: pd.DataFrame, by: list[str],
              min_n_eff: float) -> pd.DataFrame:
    """Every cell × every indicator, labelled, with its estimate (``n = 0`` where there is none)."""
    cells = data[by].dropna().drop_duplicates().sort_values(by).reset_index(drop=True) if by \
        else pd.DataFrame(index=range(1))
    labels = pd.DataFrame([
        {
            "indicator": name,
            "zh": sc.label.zh if cut is None else f"{sc.label.zh}：{cut.get('zh', cut['label'])}",
            "en": sc.label.en if cut is None else f"{sc.label.en}: {cut.get('en', cut['label'])}",
            "domain": sc.domain,
            "group": _reported_group(codebook, sc),
            "kind": sc.kind if cut is None else "proportion",
            "_order": i,
        }
        for i, (name, sc, cut) in enumerate(spec)
    ])
    grid = labels.merge(cells, how="cross")
    for c in by:  # align dtypes of the keys before merging
        est[c] = est[c].astype(grid[c].dtype)
    out = grid.merge(est, on=["indicator", *by], how="left")
    out["n"] = out["n"].fillna(0).astype(np.int64)
    out["flag_small"] = ~(out["n_eff"] >= min_n_eff)
    out = out.sort_values(["_order", *by], kind="stable").reset_index(drop=True)
    return out[[*by, *INDICATOR_COLUMNS]]


def _warn_small(out: pd.DataFrame, min_n_eff: float) -> None:
    empty = out["n"] == 0
    small = out["flag_small"] & ~empty
    if not small.any():
        return
    worst = out.loc[small].groupby("indicator", sort=False).size().sort_values(ascending=False)
    listed = ", ".join(f"{k} ({v})" for k, v in worst.head(5).items())
    also = (f" A further {int(empty.sum())} cells have no respondent for their indicator "
            "(n = 0, estimate NaN; also flagged)." if empty.any() else "")
    warnings.warn(
        f"{int(small.sum())} of {len(out)} indicator cells have an effective sample size below "
        f"{min_n_eff:g} (flag_small=True), mostly {listed}. Their estimates are imprecise: "
        f"report them with their intervals, pool waves or communities, or suppress them.{also}",
        SmallSampleWarning,
        stacklevel=3,
    )


def indicator_table(
    df_scored: pd.DataFrame,
    codebook: Codebook | str | None = None,
    design: SurveyDesign | Mapping[str, Any] | None = None,
    *,
    study: Study | None = None,
    by: str | Sequence[str] | None = None,
    min_n_eff: float = 30.0,
    indicators: Sequence[str] | str | None = None,
    bands: bool = True,
    level: float = 0.95,
    df: Any = None,
) -> pd.DataFrame:
    """Design-based estimates of every scale and participation indicator, cell by cell.

    Parameters
    ----------
    df_scored
        The survey table with score columns (:func:`evalkit.score`).
    codebook
        The codebook (or the path of its file). Required unless ``study`` is given.
    design
        How to weight: ``None`` builds ``SurveyDesign`` from the weight, strata and PSU columns
        of the study's roles (default names ``base_weight``, ``stratum``, ``psu``); a mapping
        of :class:`~evalkit.survey.design.SurveyDesign` arguments overrides those (e.g.
        ``{"weight": "raked_weight"}``); a ``SurveyDesign`` (e.g. raked) is used as it is,
        after adding the columns of ``df_scored`` it lacks (the two must share their index).
    study
        Supplies the codebook (if not given) and the column roles: community, wave, role,
        weight, strata, PSU.
    by
        Cell columns; default the study's community × wave (``community_id``, ``wave``
        without a study). ``()`` gives one overall row per indicator.
    min_n_eff
        Cells with an effective sample size below this (or undefined) are flagged ``flag_small``
        and counted in one :class:`~evalkit.errors.SmallSampleWarning`.
    indicators
        Scale names to report (default: every scale of the codebook).
    bands
        Also report, for each scale with cut-offs, the share of respondents in each band (e.g.
        ``ucla3_lonely``; kind ``"proportion"``).
    level, df
        Confidence level and degrees of freedom of the intervals, as in :meth:`SurveyDesign.mean`.

    Returns
    -------
    pandas.DataFrame
        One row per indicator and cell (every cell observed in the data; an indicator without
        respondents there has ``n = 0`` and NaN statistics), sorted by indicator (codebook
        order) then cell: the ``by`` columns, then ``indicator`` (scale, or ``<scale>_<band>``),
        ``zh``, ``en`` (labels), ``domain`` (thematic domain), ``group`` (who it is reported
        for), ``kind`` (``"mean"`` or ``"proportion"``), ``estimate, se, df, ci_low, ci_high``
        (weighted mean, Taylor-linearised SE, Wald interval), ``n`` (respondents with a score),
        ``n_eff`` (``n / deff``), ``deff`` (against SRS with replacement) and ``flag_small``.

    Raises
    ------
    EvalkitError
        Neither codebook nor study; a score column is missing (score the table first); the
        table lacks the role column needed for a group-targeted scale.
    DesignError
        The design cannot be built (e.g. a weight column is missing or has zero weights).

    Notes
    -----
    A scale targeted at a group (``group:`` in the codebook, e.g. ``care_access`` for
    ``elderly``) is estimated in the domain of that group's roles *within the full design*
    (:meth:`SurveyDesign.subset`): no row is dropped, so every PSU and stratum of the sample
    enters the variance. Respondents without a score are outside the domain of that indicator
    (R ``na.rm=TRUE``): R ``svyby(~y, ~community_id + wave, subset(design, role == "elderly"),
    svymean, na.rm=TRUE)``.

    Examples
    --------
    >>> import warnings, evalkit
    >>> from evalkit.survey.indicators import indicator_table
    >>> cb = evalkit.load_codebook(evalkit.datasets.data_path("codebook.yaml"))
    >>> survey = evalkit.validate(evalkit.read_survey(evalkit.datasets.data_path("survey.csv")), cb).valid
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", evalkit.SmallSampleWarning)
    ...     table = indicator_table(evalkit.score(survey, cb), cb)
    >>> list(table.columns[:4])
    ['community_id', 'wave', 'indicator', 'zh']
    """
    codebook, roles, by, names = _inputs(df_scored, codebook, study, by, indicators, min_n_eff)
    spec, extra = _indicator_spec(df_scored, codebook, names, bands, roles.role)
    dsg = _survey_design(df_scored, design, roles, [*names, *by, *([roles.role] if roles.role else [])], extra)
    est = _estimates(dsg, spec, codebook, by, roles.role, level, df)
    out = _assemble(dsg.data, spec, codebook, est, by, min_n_eff)
    _warn_small(out, min_n_eff)
    return out
