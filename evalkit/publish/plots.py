"""Figures for the evaluation: indicators with error bars, reliability, event studies, forest,
trend and leave-one-out plots.

Every function takes a tidy frame (or a result object with ``.tidy()``) in evalkit's one result
vocabulary (``estimate, se, ..., ci_low, ci_high``; rows named by ``indicator``) and ``ax=None``,
and returns the matplotlib Axes. Figures that name communities take the community registry as
``registry=`` or ``study=`` (whose roles also name the community and wave columns), else the one
set by :func:`evalkit.publish.style.set_registry`; none is read from the shipped example.
Community names come from :func:`evalkit.publish.style.label` (Chinese or pinyin, by
:func:`evalkit.publish.style.set_language`) and colours from
:func:`evalkit.publish.style.community_colors`, so a community looks the same in every figure and
comparison communities form one grey group.

The plots draw no statistics of their own: intervals are those of the estimators
(:class:`evalkit.SurveyDesign`, :func:`evalkit.att_gt`, ...), except that the
event-study plot derives the pointwise band ``estimate ± z·se`` next to the estimator's uniform band.

The bureau report's figures (:func:`plot_community_effect`, :func:`plot_effects_overview`,
:func:`figure_html`) live in :mod:`evalkit.publish.figures` and are importable from here too.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EvalkitError
from ..spec.registry import start_years
from .figures import figure_html, plot_community_effect, plot_effects_overview
from .style import community_colors, indicator_label, is_comparison, label, resolve_registry, tr, use_cjk_font

__all__ = [
    "event_study_plot",
    "figure_html",
    "forest_plot",
    "indicator_plot",
    "leave_one_out_plot",
    "plot_community_effect",
    "plot_effects_overview",
    "reliability_plot",
    "trend_plot",
]

_WAVE_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _axes(ax, figsize=(8, 4.5)):
    # fonts first: the texts an Axes creates keep the font list of the moment they are made
    use_cjk_font()
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _plain_text(ax):
    """Draw every text of ``ax`` as typed: ``$`` in a community name or label starts no mathtext."""
    from matplotlib.text import Text

    for text in ax.findobj(Text):
        text.set_parse_math(False)
    return ax


def _unbounded(ax, axis: str, pos, ends, lim, colors) -> None:
    """Arrow heads where interval ends are not finite (drawn clipped to ``lim``)."""
    for p, end, c in zip(np.atleast_1d(pos), np.atleast_1d(ends), np.broadcast_to(colors, np.shape(np.atleast_1d(pos)))):
        if np.isfinite(end) or np.isnan(end):
            continue
        at, mark = (lim[1], ">^") if end > 0 else (lim[0], "<v")
        xy = (at, p) if axis == "x" else (p, at)
        ax.plot(*xy, mark[0] if axis == "x" else mark[1], color=c, ms=5, clip_on=False, gid="unbounded")


def _finite_limits(*arrays) -> tuple[float, float] | None:
    """Padded limits of the finite values (and 0), or None when every value is finite
    (autoscaling is then left alone)."""
    vals = np.r_[tuple(np.asarray(a, dtype=float).ravel() for a in arrays) + (np.zeros(1),)]
    if np.isfinite(vals[~np.isnan(vals)]).all():
        return None
    vals = vals[np.isfinite(vals)]
    pad = 0.12 * (np.ptp(vals) or 1.0)
    return float(vals.min() - pad), float(vals.max() + pad)


def _frame(data: Any, what: str) -> pd.DataFrame:
    if hasattr(data, "tidy") and not isinstance(data, pd.DataFrame):
        data = data.tidy()
    if not isinstance(data, pd.DataFrame):
        raise EvalkitError(f"{what}: expected a DataFrame or a result with .tidy(), got {type(data).__name__}.")
    return data


def _require(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise EvalkitError(
            f"{what}: the frame lacks column(s) {missing}; it has {list(df.columns)}. "
            "Pass the tidy output of the matching evalkit estimator."
        )


def _community_col(df: pd.DataFrame, what: str, study=None) -> str:
    names = (study.roles.community,) if study is not None else ("community_id", "community")
    for c in names:
        if c in df.columns:
            return c
    raise EvalkitError(f"{what}: the frame needs a {names[0]!r} column (the community of each row).")


def _wave_col(study=None) -> str:
    return study.roles.wave if study is not None else "wave"


def _community_order(ids, registry) -> list[str]:
    """Programme communities first (registry order), then comparison communities."""
    colors = community_colors(registry)
    ids = [str(i) for i in pd.unique(pd.Series(ids, dtype=object))]
    order = {cid: k for k, cid in enumerate(colors)}
    return sorted(ids, key=lambda c: (is_comparison(c, registry), order.get(c, len(order)), c))


def _one_indicator(df: pd.DataFrame, indicator: str | None, what: str) -> tuple[pd.DataFrame, str | None]:
    col = "indicator"
    if col not in df.columns:
        return df, indicator
    present = list(pd.unique(df[col]))
    if indicator is None:
        if len(present) != 1:
            raise EvalkitError(
                f"{what}: the frame holds {len(present)} indicators; choose one with "
                f"indicator=..., e.g. indicator={present[0]!r}."
            )
        indicator = present[0]
    if indicator not in present:
        raise EvalkitError(f"{what}: indicator {indicator!r} is not in the frame; it has {present}.")
    return df[df[col] == indicator], indicator


def indicator_plot(
    table: Any,
    indicator: str | None = None,
    *,
    ax=None,
    registry=None,
    study=None,
    ylabel: str | None = None,
    title: str | None = None,
):
    """Estimates ± CI of one indicator by community and wave.

    Parameters
    ----------
    table : DataFrame
        Tidy estimates with ``community_id`` (or ``community``), ``wave``, ``estimate``,
        ``ci_low``, ``ci_high`` and optionally ``indicator`` (then pick one with ``indicator``),
        e.g. the output of ``SurveyDesign.mean(y, by=["community_id", "wave"])`` or of
        ``evalkit.survey.indicators.indicator_table``.
    indicator : str, optional
        Which indicator to draw when the table holds several.
    ax : matplotlib Axes, optional
    registry : DataFrame, optional
        The community registry: names, roles and colours (default ``study.registry``, else the
        one set by :func:`evalkit.publish.style.set_registry`).
    study : Study, optional
        Its registry, and the names of the community and wave columns (``study.roles``).

    Returns
    -------
    matplotlib.axes.Axes
        Communities along x (programme communities first, then the grey comparison group);
        within each community one point per wave, left to right, marker by wave.
    """
    what = "indicator_plot"
    registry = resolve_registry(registry, study, what)
    df = _frame(table, what)
    df, indicator = _one_indicator(df, indicator, what)
    ccol, wcol = _community_col(df, what, study), _wave_col(study)
    _require(df, [wcol, "estimate", "ci_low", "ci_high"], what)
    df = df.assign(**{ccol: df[ccol].astype(str)})
    order = _community_order(df[ccol], registry)
    waves = sorted(pd.unique(df[wcol]))
    colors = community_colors(registry)
    ax = _axes(ax, figsize=(max(8, 0.75 * len(order) + 2), 4.5))
    width = 0.7
    offs = np.linspace(-width / 2, width / 2, len(waves)) if len(waves) > 1 else np.zeros(1)
    xpos = {}
    x = 0.0
    prev_comp = None
    for cid in order:
        comp = is_comparison(cid, registry)
        if prev_comp is not None and comp != prev_comp:
            x += 0.6  # gap between programme and comparison communities
        xpos[cid] = x
        prev_comp = comp
        x += 1.0
    for k, wave in enumerate(waves):
        sub = df[df[wcol] == wave]
        for cid, row in zip(sub[ccol], sub.itertuples(index=False)):
            xx = xpos[cid] + offs[k]
            est = float(row.estimate)
            ax.errorbar(
                xx, est, yerr=[[est - float(row.ci_low)], [float(row.ci_high) - est]],
                fmt=_WAVE_MARKERS[k % len(_WAVE_MARKERS)], color=colors.get(cid, "#8A8A8A"),
                ms=5, capsize=0, lw=1.2,
            )
    for k, wave in enumerate(waves):
        ax.plot([], [], _WAVE_MARKERS[k % len(_WAVE_MARKERS)], color="#333333", label=str(wave))
    ax.legend(title=tr("调查年份", "wave"), fontsize="small", loc="upper left",
              bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0)
    ax.set_xticks([xpos[c] for c in order], [label(c, registry=registry) for c in order],
                  rotation=45, ha="right")
    for tick, cid in zip(ax.get_xticklabels(), order):
        tick.set_color("#555555" if is_comparison(cid, registry) else "black")
    name = indicator_label(indicator, study=study) if indicator else ""
    ax.set_ylabel(ylabel or (name or tr("估计值", "estimate")))
    ax.set_title(title or tr(f"{name}：各社区各年份估计值与95%置信区间",
                             f"{name}: estimate and 95% CI by community and wave").lstrip(":： "))
    ax.grid(axis="y", alpha=0.3)
    return _plain_text(ax)


def reliability_plot(table: Any, *, ax=None, threshold: float = 0.70, coefficient: str = "alpha",
                     title: str | None = None, study=None):
    """Cronbach's alpha with its Feldt interval for each scale (from :func:`evalkit.reliability`).

    Parameters
    ----------
    table : DataFrame
        ``indicator, estimate, ci_low, ci_high`` and, as :func:`evalkit.reliability` gives it,
        ``coefficient``: the rows of ``coefficient`` are drawn, one per scale (extra grouping
        columns: every row is drawn, under its scale's name).
    coefficient : str
        Which coefficient's rows to draw when the table has a ``coefficient`` column
        (``"alpha"``, or ``"omega_total"``, which has no interval).
    threshold : float
        Reference line (0.70, the conventional minimum).
    study : Study, optional
        Names the scales by their codebook labels (default: the study set by
        :func:`evalkit.publish.style.set_study`; without one, the scale codes).

    Returns
    -------
    matplotlib.axes.Axes
    """
    what = "reliability_plot"
    df = _frame(table, what)
    _require(df, ["indicator", "estimate", "ci_low", "ci_high"], what)
    if "coefficient" in df.columns:
        if coefficient not in set(df["coefficient"]):
            raise EvalkitError(f"{what}: no {coefficient!r} rows; coefficients: {sorted(set(df['coefficient']))}.")
        df = df[df["coefficient"] == coefficient]
    df = df.dropna(subset=["estimate"]).reset_index(drop=True)
    ax = _axes(ax, figsize=(7, max(3, 0.35 * len(df) + 1)))
    y = np.arange(len(df))[::-1]
    est = df["estimate"]
    low = est < threshold
    ax.errorbar(est, y, xerr=[est - df["ci_low"], df["ci_high"] - est], fmt="none", ecolor="#555555", lw=1)
    ax.scatter(est, y, c=np.where(low, "#D55E00", "#0072B2"), zorder=3, s=25)
    ax.axvline(threshold, color="#D55E00", ls="--", lw=1)
    ax.set_yticks(y, [indicator_label(c, study=study) for c in df["indicator"].astype(str)])
    ax.set_xlabel(tr("克隆巴赫 α（95%置信区间）", "Cronbach's alpha (95% CI)") if coefficient == "alpha"
                  else tr(f"{coefficient}（95%置信区间）", f"{coefficient} (95% CI)"))
    ax.set_title(title or tr("量表信度", "Scale reliability"))
    ax.grid(axis="x", alpha=0.3)
    return _plain_text(ax)


def event_study_plot(
    result: Any,
    *,
    ax=None,
    level: float = 0.95,
    color: str = "#0072B2",
    title: str | None = None,
    ylabel: str | None = None,
):
    """Event-study plot: ATT by years since the programme started, pointwise and uniform bands.

    Parameters
    ----------
    result : AggregateResult or DataFrame
        ``att_gt(...).aggregate("dynamic")`` or its ``.tidy()``: ``event_time, estimate, se``, and
        ``ci_low, ci_high`` (the estimator's band; uniform when ``band == "uniform"``) or
        ``crit_value``.
    level : float
        Level of the pointwise band ``estimate ± z_{1-(1-level)/2} · se`` drawn as thick bars.

    Returns
    -------
    matplotlib.axes.Axes
        Thick bars: pointwise intervals; thin bars with a light band: simultaneous (uniform)
        band, which covers all event times at once. Pre-programme event times (e < 0) in grey,
        a dashed line at zero effect and a dotted line before the programme's first year.
    """
    what = "event_study_plot"
    df = _frame(result, what)
    _require(df, ["event_time", "estimate", "se"], what)
    df = df.sort_values("event_time").reset_index(drop=True)
    e = df["event_time"].to_numpy(dtype=float)
    att = df["estimate"].to_numpy(dtype=float)
    se = df["se"].to_numpy(dtype=float)
    z = stats.norm.ppf(0.5 + level / 2)
    p_lo, p_hi = att - z * se, att + z * se
    if "crit_value" in df.columns:
        crit = df["crit_value"].to_numpy(dtype=float)
        u_lo, u_hi = att - crit * se, att + crit * se
    else:
        _require(df, ["ci_low", "ci_high"], what)
        u_lo, u_hi = df["ci_low"].to_numpy(dtype=float), df["ci_high"].to_numpy(dtype=float)
    uniform = "band" not in df.columns or (df["band"] == "uniform").any()
    ax = _axes(ax, figsize=(7, 4))
    pre = e < 0
    cols = np.where(pre, "#7F7F7F", color)
    # unbounded ends (an infinite se or interval) stop at the frame with an arrow head
    lim = _finite_limits(att, p_lo, p_hi, *((u_lo, u_hi) if uniform else ()))
    raw = (p_lo, p_hi, u_lo, u_hi)
    if lim is not None:
        p_lo, p_hi, u_lo, u_hi = (np.clip(np.nan_to_num(a, nan=np.nan, posinf=lim[1], neginf=lim[0]), *lim)
                                  for a in raw)
    if uniform:
        ax.fill_between(e, u_lo, u_hi, color=color, alpha=0.12, lw=0,
                        label=tr("一致置信带（同时覆盖）", "uniform band (all event times)"))
        ax.vlines(e, u_lo, u_hi, colors=cols, lw=1)
    for i in range(len(e)):
        ax.vlines(e[i], p_lo[i], p_hi[i], colors=cols[i], lw=3.2,
                  label=tr(f"逐点{level:.0%}置信区间", f"pointwise {level:.0%} CI") if i == 0 else None)
    if lim is not None:
        ax.set_ylim(*lim)
        for ends in raw[:2] + (raw[2:] if uniform else ()):
            _unbounded(ax, "y", e, ends, lim, cols)
    ax.scatter(e, att, c=cols, zorder=3, s=30)
    ax.axhline(0, color="black", lw=0.8, ls="--")
    ax.axvline(-0.5, color="#999999", lw=0.8, ls=":")
    ax.set_xticks(e, [str(int(v)) if float(v).is_integer() else str(v) for v in e])
    ax.set_xlabel(tr("项目开始后年数（e）", "years since programme start (e)"))
    ax.set_ylabel(ylabel or tr("处理效应 ATT", "effect (ATT)"))
    ax.set_title(title or tr("事件研究：项目效应随时间的变化", "Event study: effect by years since start"))
    ax.legend(fontsize="small", loc="best")
    ax.grid(axis="y", alpha=0.3)
    return _plain_text(ax)


def forest_plot(
    table: Any,
    *,
    label_col: str | None = None,
    truth_col: str | None = None,
    ax=None,
    registry=None,
    study=None,
    title: str | None = None,
    xlabel: str | None = None,
):
    """Forest plot of effects with their intervals, optionally with the planted truth.

    Parameters
    ----------
    table : DataFrame
        One row per effect: ``estimate``, ``ci_low``, ``ci_high`` and a label column —
        ``community_id`` (drawn with the community's name and colour, from ``registry`` or
        ``study``) or any column named by ``label_col`` (e.g. ``indicator``).
    truth_col : str, optional
        Column with the true effect (e.g. from ``data/truth.csv``), drawn as a hollow diamond.

    Returns
    -------
    matplotlib.axes.Axes
    """
    what = "forest_plot"
    df = _frame(table, what).reset_index(drop=True)
    _require(df, ["estimate", "ci_low", "ci_high"], what)
    if label_col is None:
        label_col = _community_col(df, what, study)
    _require(df, [label_col], what)
    is_comm = label_col in ("community_id", "community") or (study is not None and label_col == study.roles.community)
    registry = resolve_registry(registry, study, what) if is_comm else None
    colors = community_colors(registry) if is_comm else {}
    ax = _axes(ax, figsize=(7, max(3, 0.4 * len(df) + 1.2)))
    y = np.arange(len(df))[::-1]
    names = []
    lim = _finite_limits(df[["estimate", "ci_low", "ci_high"]].to_numpy(dtype=float))
    for yy, row in zip(y, df.itertuples(index=False)):
        key = str(getattr(row, label_col))
        c = colors.get(key, "#333333") if is_comm else "#333333"
        names.append(label(key, registry=registry) if is_comm
                     else indicator_label(key, study=study) if label_col in ("indicator", "target") else key)
        v = float(row.estimate)
        ends = [float(row.ci_low), float(row.ci_high)]
        ax.plot(ends if lim is None else list(np.clip(ends, *lim)), [yy, yy], color=c, lw=2)
        ax.plot(v, yy, "o", color=c, ms=6)
        if lim is not None:
            _unbounded(ax, "x", [yy, yy], ends, lim, c)
    if truth_col is not None:
        _require(df, [truth_col], what)
        ax.plot(df[truth_col].to_numpy(dtype=float), y, "D", mfc="none", mec="black", ms=7,
                label=tr("真实效应（模拟设定）", "true (planted) effect"))
        ax.legend(fontsize="small", loc="best")
    ax.axvline(0, color="black", lw=0.8, ls="--")
    if lim is not None:
        ax.set_xlim(*lim)
    ax.set_yticks(y, names)
    ax.set_xlabel(xlabel or tr("效应估计（95%置信区间）", "effect (95% CI)"))
    if title:
        ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _plain_text(ax)


def trend_plot(
    table: Any,
    community: str,
    indicator: str | None = None,
    *,
    start_year: int | None = None,
    ax=None,
    registry=None,
    study=None,
    title: str | None = None,
    ylabel: str | None = None,
):
    """One community's trajectory against its own baseline and the comparison communities.

    Parameters
    ----------
    table : DataFrame
        Tidy estimates by community and wave (``community_id``, ``wave``, ``estimate``,
        ``ci_low``, ``ci_high``; optional ``indicator``), as for :func:`indicator_plot`.
        Rows with ``community_id == "comparison"`` (pooled comparison communities) are drawn
        as a dashed grey line; individual comparison communities as thin grey lines.
    community : str
        The programme community's id.
    start_year : int, optional
        Programme start (default: from the registry); marked with a vertical line.
    registry, study
        The community registry (names, roles, colours, start years), as for :func:`indicator_plot`.

    Returns
    -------
    matplotlib.axes.Axes
        The community with its 95% CI band, a dotted line at its baseline (first wave) level,
        thin grey lines for each comparison community, and the pooled comparison if given.
    """
    what = "trend_plot"
    registry = resolve_registry(registry, study, what)
    df = _frame(table, what)
    df, indicator = _one_indicator(df, indicator, what)
    ccol, wcol = _community_col(df, what, study), _wave_col(study)
    _require(df, [wcol, "estimate", "ci_low", "ci_high"], what)
    df = df.assign(**{ccol: df[ccol].astype(str)}).sort_values(wcol)
    if wcol != "wave":
        df = df.rename(columns={wcol: "wave"})
    community = str(community)
    own = df[df[ccol] == community]
    if own.empty:
        raise EvalkitError(f"{what}: community {community!r} has no rows in the frame.")
    if start_year is None:
        start_year = start_years(registry).get(community)
    colors = community_colors(registry)
    ax = _axes(ax, figsize=(7, 4))
    for cid, sub in df[df[ccol] != community].groupby(ccol, sort=True):
        if cid == "comparison":
            ax.plot(sub["wave"], sub["estimate"], "--", color="#555555", lw=2,
                    label=label("comparison", registry=registry))
        elif is_comparison(cid, registry):
            ax.plot(sub["wave"], sub["estimate"], "-", color=colors.get(cid, "#AAAAAA"), lw=0.9, alpha=0.8)
    if any(is_comparison(c, registry) and c != "comparison" for c in df[ccol].unique()):
        ax.plot([], [], "-", color="#8A8A8A", lw=0.9, label=tr("各对照社区", "comparison communities"))
    c = colors.get(community, "#0072B2")
    ax.fill_between(own["wave"], own["ci_low"], own["ci_high"], color=c, alpha=0.18, lw=0)
    ax.plot(own["wave"], own["estimate"], "o-", color=c, lw=2.2, label=label(community, registry=registry))
    base = own.iloc[0]
    ax.axhline(float(base["estimate"]), color=c, ls=":", lw=1,
               label=tr(f"基线（{int(base['wave'])}年）", f"baseline ({int(base['wave'])})"))
    if start_year is not None:
        ax.axvline(start_year - 0.5, color="#999999", lw=0.8, ls=":")
        ymax = ax.get_ylim()[1]
        ax.text(start_year - 0.45, ymax, tr("项目开始", "programme starts"), va="top", ha="left",
                fontsize="x-small", color="#666666", zorder=0)
    waves = sorted(pd.unique(df["wave"]))
    ax.set_xticks(waves, [str(int(w)) for w in waves])
    name = indicator_label(indicator, study=study) if indicator else ""
    ax.set_ylabel(ylabel or (name or tr("估计值", "estimate")))
    sep = tr("：", ": ")
    ax.set_title(title or (f"{label(community, registry=registry)}{sep}{name}" if name
                           else label(community, registry=registry)))
    ax.legend(fontsize="x-small", loc="best", framealpha=0.85)
    ax.grid(axis="y", alpha=0.3)
    return _plain_text(ax)


def leave_one_out_plot(
    table: Any,
    *,
    ax=None,
    registry=None,
    study=None,
    title: str | None = None,
    xlabel: str | None = None,
):
    """Leave-one-community-out estimates next to the estimate from all communities.

    Parameters
    ----------
    table : DataFrame
        :func:`evalkit.leave_one_out` output for one estimate: ``left_out, estimate, ci_low,
        ci_high``, its first row ``left_out = "(none)"`` (all communities).

    Returns
    -------
    matplotlib.axes.Axes
        One row per community left out (name and colour of that community; programme communities
        first, then comparison communities), its estimate and interval; the estimate from all
        communities as a solid vertical line with its interval shaded, zero as a dashed line.
        Unbounded interval ends (randomization inference with too few assignments to reject at
        the level) stop at the frame with an arrow head.
    """
    what = "leave_one_out_plot"
    registry = resolve_registry(registry, study, what)
    df = _frame(table, what)
    _require(df, ["left_out", "estimate", "ci_low", "ci_high"], what)
    if "indicator" in df.columns and df["indicator"].nunique() > 1:
        raise EvalkitError(f"{what}: the frame holds {df['indicator'].nunique()} indicators; pass the "
                           "rows of one leave_one_out() call.")
    full = df[df["left_out"] == "(none)"]
    if full.empty:
        raise EvalkitError(f"{what}: no row with left_out == '(none)' (the estimate from all communities).")
    full = full.iloc[0]
    rest = df[df["left_out"] != "(none)"].assign(left_out=lambda d: d["left_out"].astype(str))
    order = _community_order(rest["left_out"], registry)
    rest = rest.set_index("left_out").loc[order].reset_index()
    colors = community_colors(registry)
    # unbounded intervals (randomization inference with very few assignments) end at the frame,
    # with an arrow head, instead of stretching the axis to infinity
    vals = np.r_[df[["estimate", "ci_low", "ci_high"]].to_numpy(dtype=float).ravel(), 0.0]
    vals = vals[np.isfinite(vals)]
    pad = 0.12 * (np.ptp(vals) or 1.0)
    lim = (vals.min() - pad, vals.max() + pad)

    def clip(v):
        return float(np.clip(float(v), *lim))

    ax = _axes(ax, figsize=(6, max(3, 0.32 * len(rest) + 1.2)))
    ax.axvspan(clip(full["ci_low"]), clip(full["ci_high"]), color="#DDDDDD", alpha=0.6, lw=0,
               label=tr("全部社区：95%置信区间", "all communities: 95% CI"))
    ax.axvline(float(full["estimate"]), color="black", lw=1.4, label=tr("全部社区：估计值", "all communities: estimate"))
    ax.axvline(0, color="black", lw=0.8, ls="--")
    y = np.arange(len(rest))[::-1]
    for yy, row in zip(y, rest.itertuples(index=False)):
        c = colors.get(row.left_out, "#333333")
        ax.plot([clip(row.ci_low), clip(row.ci_high)], [yy, yy], color=c, lw=2)
        ax.plot(float(row.estimate), yy, "o", color=c, ms=5)
        for end, mark in ((row.ci_low, "<"), (row.ci_high, ">")):
            if not np.isfinite(float(end)):
                ax.plot(clip(end), yy, mark, color=c, ms=5)
    ax.set_xlim(*lim)
    ax.set_yticks(y, [label(c, registry=registry) for c in rest["left_out"]])
    ax.set_ylabel(tr("去掉的社区", "community left out"))
    ax.set_xlabel(xlabel or tr("项目效应（95%置信区间）", "programme effect (95% CI)"))
    if title:
        ax.set_title(title)
    ax.legend(fontsize="x-small", loc="best", framealpha=0.85)
    ax.grid(axis="x", alpha=0.3)
    return _plain_text(ax)
