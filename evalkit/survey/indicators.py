"""The indicator table: every scale and participation indicator by community and wave, in one call.

:func:`indicator_table` takes a scored survey table (:func:`evalkit.score`) and a survey design
and returns one tidy row per indicator and cell (by default community × wave) with the
design-based estimate, its standard error and interval, the unweighted and effective sample sizes
and the design effect. Estimation is :class:`~evalkit.survey.design.SurveyDesign`'s (Taylor
linearisation, R ``svyby(..., svymean)``); this module only decides *which* rows each indicator is
estimated among and assembles the table.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..spec.codebook import Codebook, Scale
from .design import SurveyDesign
from ..errors import DesignError, EvalkitError, SmallSampleWarning

__all__ = ["indicator_table", "INDICATOR_COLUMNS"]

#: Columns of :func:`indicator_table` after the by-columns, in order.
INDICATOR_COLUMNS = ["indicator", "zh", "en", "domain", "group", "kind", "estimate", "se",
                     "ci_low", "ci_high", "n", "n_eff", "deff", "flag_small"]

#: The design of the shipped survey (``data/codebook.yaml``): strata = community, PSU = building or
#: villager group, base weight = 1 / selection probability.
DEFAULT_DESIGN = {"weight": "base_weight", "strata": "stratum", "psu": "psu"}

_ROLE = "role"  # the field through which respondents belong to codebook groups


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


def indicator_table(
    df_scored: pd.DataFrame,
    codebook: Codebook | None = None,
    design: SurveyDesign | Mapping[str, Any] | None = None,
    *,
    by: str | Sequence[str] = ("community_id", "wave"),
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
        The survey table with score columns, as returned by :func:`evalkit.score` (one column
        per scale of the codebook, NaN where a respondent has no score).
    codebook
        The codebook; ``None`` loads the shipped one.
    design
        How to weight: ``None`` builds ``SurveyDesign(df_scored, weight="base_weight",
        strata="stratum", psu="psu")`` (the shipped survey's design); a mapping of
        :class:`~evalkit.survey.design.SurveyDesign` keyword arguments overrides those (e.g.
        ``{"weight": "raked_weight"}``); a ``SurveyDesign`` (e.g. raked with
        :meth:`SurveyDesign.rake`) is used as it is, after adding the score columns of
        ``df_scored`` it lacks (the two must share their index).
    by
        Cell columns (default community × wave). ``()`` gives one overall row per indicator.
    min_n_eff
        Cells whose effective sample size ``n_eff`` is below this (or undefined) are flagged
        ``flag_small`` and counted in one :class:`~evalkit.errors.SmallSampleWarning`.
    indicators
        Scale names to report (default: every scale of the codebook).
    bands
        Also report, for each scale with cut-offs, the share of respondents in each band (e.g.
        ``ucla3_lonely``, ``who5_likely_depression``; kind ``"proportion"``).
    level, df
        Confidence level and degrees of freedom of the intervals, as in
        :meth:`SurveyDesign.mean` (``df=None``: normal; ``"design"``: #PSU − #strata).

    Returns
    -------
    pandas.DataFrame
        One row per indicator and cell (every cell observed in the data, also where an
        indicator has no respondent: then ``n = 0`` and the estimate is NaN), sorted by
        indicator (codebook order) then cell. Columns: the ``by`` columns, then

        - ``indicator`` — scale name (or ``<scale>_<band>`` for band shares);
        - ``zh``, ``en`` — its Chinese and English label;
        - ``domain`` — its thematic domain in the codebook (wellbeing, participation, ...);
        - ``group`` — who it is reported for (``elderly``, ``child``, ``adults`` ...);
        - ``kind`` — ``"mean"`` or ``"proportion"`` (a mean of a 0/1 score);
        - ``estimate``, ``se``, ``ci_low``, ``ci_high`` — weighted mean and its
          Taylor-linearised standard error and Wald interval;
        - ``n`` — respondents in the cell with a score; ``n_eff`` = ``n / deff``; ``deff`` —
          design effect against simple random sampling with replacement;
        - ``flag_small`` — ``n_eff < min_n_eff``, or ``n_eff`` undefined (``n <= 1``, including
          empty cells).

    Raises
    ------
    EvalkitError
        A score column is missing (score the table first), or the table lacks the ``role``
        field needed for a group-targeted scale.
    DesignError
        The design cannot be built (e.g. a weight column is missing or has zero weights).

    Warns
    -----
    SmallSampleWarning
        How many non-empty cells are flagged ``flag_small`` (and how many are empty), naming
        the indicators with the most such cells. Not raised when only empty cells are flagged.

    Notes
    -----
    A scale targeted at a group (``group:`` in the codebook, e.g. ``care_access`` for
    ``elderly``, ``kidscreen10`` for ``child``) is estimated in the domain of that group's roles
    *within the full design* (:meth:`SurveyDesign.subset`, R ``subset(design, ...)``): no row is
    dropped, so every PSU and stratum size of the sample enters the variance. Within a cell,
    respondents without a score (not asked, or too few items answered) are outside the domain of
    that indicator (R ``na.rm=TRUE``). Each estimate equals
    ``SurveyDesign.mean(indicator, by=by)`` on that domain: R
    ``svyby(~y, ~community_id + wave, subset(design, role == "elderly"), svymean, na.rm=TRUE)``.

    Examples
    --------
    >>> import evalkit
    >>> from evalkit.survey.indicators import indicator_table
    >>> cb = evalkit.load_codebook()
    >>> survey = evalkit.validate(evalkit.read_survey(evalkit.datasets.data_path("survey.csv"))).valid
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", evalkit.SmallSampleWarning)
    ...     table = indicator_table(evalkit.score(survey, cb), cb)
    >>> list(table.columns[:4])
    ['community_id', 'wave', 'indicator', 'zh']
    >>> sorted(table.loc[table["indicator"] == "care_access", "group"].unique())
    ['elderly']
    """
    if codebook is None:
        from ..spec.codebook import load_codebook

        codebook = load_codebook()
    if not isinstance(df_scored, pd.DataFrame):
        raise EvalkitError(f"indicator_table() needs a pandas DataFrame, got {type(df_scored).__name__}.")
    by = [by] if isinstance(by, str) else list(by)
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

    # the indicators: (name, scale, band cut-off or None)
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
    if targeted and _ROLE not in df_scored.columns:
        raise EvalkitError(
            f"Scales for the group(s) {sorted(targeted)} are estimated among respondents of those "
            f"roles, but the table has no {_ROLE!r} column. Keep the codebook field {_ROLE!r}."
        )

    # the design, with every indicator column in its data
    if isinstance(design, SurveyDesign):
        data = design.data
        if len(data) != len(df_scored) or not data.index.equals(df_scored.index):
            raise EvalkitError(
                "The design's data and df_scored do not have the same rows (index). Build the "
                "design from the scored table, or pass design keyword arguments instead."
            )
        add = {c: df_scored[c] for c in [*names, *by, _ROLE] if c in df_scored.columns
               and c not in data.columns}
        add.update({c: pd.Series(v, index=df_scored.index) for c, v in extra.items()})
        dsg = design.assign(**add) if add else design
    else:
        if design is not None and not isinstance(design, Mapping):
            raise EvalkitError(
                f"design= must be a SurveyDesign, a mapping of SurveyDesign arguments or None; got "
                f"{type(design).__name__}."
            )
        kwargs = {**DEFAULT_DESIGN, **(dict(design) if design else {})}
        design_cols = [kwargs[k] for k in ("weight", "strata", "psu", "fpc") if kwargs.get(k)]
        keep = list(dict.fromkeys([*design_cols, *by, *names,
                                   *([_ROLE] if _ROLE in df_scored.columns else [])]))
        lacking = [c for c in design_cols if c not in df_scored.columns]
        if lacking:
            raise DesignError(
                f"Design column(s) {lacking} are not in the table. Pass design={{'weight': ..., "
                "'strata': ..., 'psu': ...}} naming your columns, or a SurveyDesign."
            )
        data = df_scored[keep].assign(**extra)
        dsg = SurveyDesign(data, **kwargs)
    data = dsg.data

    # estimate: one SurveyDesign.mean call per respondent group
    parts = []
    for group in dict.fromkeys(sc.group for _, sc, _ in spec):
        ys = [name for name, sc, _ in spec if sc.group == group]
        if group is None:
            sub = dsg
        else:
            inside = data[_ROLE].isin(list(codebook.groups[group].roles)).to_numpy()
            if not inside.any():
                continue  # nobody of the group: the rows are filled with n = 0 below
            sub = dsg.subset(inside)
        parts.append(sub.mean(ys, by=by or None, level=level, df=df))
    est = pd.concat(parts, ignore_index=True).rename(columns={"variable": "indicator"})

    # every cell × every indicator, labelled
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
    out = out[[*by, *INDICATOR_COLUMNS]]

    empty = out["n"] == 0
    small = out["flag_small"] & ~empty
    if small.any():
        worst = out.loc[small].groupby("indicator", sort=False).size().sort_values(ascending=False)
        listed = ", ".join(f"{k} ({v})" for k, v in worst.head(5).items())
        also = (f" A further {int(empty.sum())} cells have no respondent for their indicator "
                "(n = 0, estimate NaN; also flagged)." if empty.any() else "")
        warnings.warn(
            f"{int(small.sum())} of {len(out)} indicator cells have an effective sample size below "
            f"{min_n_eff:g} (flag_small=True), mostly {listed}. Their estimates are imprecise: "
            f"report them with their intervals, pool waves or communities, or suppress them.{also}",
            SmallSampleWarning,
            stacklevel=2,
        )
    return out
