"""Report figures that state their finding: one community's effect, the overview, and their HTML.

The bureau report's figures are drawn from the evaluation summary
(:func:`evalkit.evaluation.summary.summarise`): its ``trends`` and ``effects`` tables, which
carry codes; every text of a figure comes from a :class:`~evalkit.publish.labels.Labels` object
in the report's language (community names, indicator and group labels, units, direction words),
never a variable code.

- :func:`plot_community_effect` — one community, one target: the community's mean by wave with
  its confidence band, the comparison communities' average, and the counterfactual (the
  community's baseline plus the comparison communities' change since the baseline), with the
  gap between the community and the counterfactual — the difference-in-differences the verdict
  rests on — shaded from the baseline wave on; the programme's start marked; a title that says
  what happened, a subtitle with the measure, its unit and whether lower or higher is better,
  the effect with its interval and the evidence level; lines labelled directly, no legend.
- :func:`plot_effects_overview` — standardised effects (baseline standard deviations) of every
  community × target at the latest wave, grouped by community, with intervals and evidence
  levels; rows without an estimate are a text mark with the reason.
- :func:`figure_html` — a figure as an ``<img>`` with alt text and a ``data:`` URI: SVG with text
  drawn as paths (the reader needs none of our fonts) or a 200-dpi PNG, byte-for-byte the same
  for the same figure.

>>> import evalkit.datasets as ds
>>> from evalkit.evaluation.summary import summarise
>>> from evalkit.publish.labels import Labels
>>> study, survey = ds.dongying_survey()                                   # doctest: +SKIP
>>> summary = summarise(survey, study)                                      # doctest: +SKIP
>>> row = summary.headline.query("community_id == 'mingyue'").iloc[0]      # doctest: +SKIP
>>> fig = plot_community_effect(summary.trends, row, labels=Labels.from_study(study, "zh"))  # doctest: +SKIP
>>> html = figure_html(fig)   # <img src="data:image/svg+xml;base64,..." alt="明月社区...">  # doctest: +SKIP

Chinese text needs a CJK font (:func:`evalkit.publish.style.use_cjk_font`); without one the
figures fall back to English with pinyin names, as every evalkit figure does.
"""
from __future__ import annotations

import base64
import html
import io
import textwrap
from typing import Any, Mapping

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .._literals import Language, check_choice
from ..errors import EvalkitError
from .labels import Labels, effect_text
from .style import COMPARISON_GREY, community_colors, use_cjk_font

__all__ = ["figure_html", "plot_community_effect", "plot_effects_overview"]

_TREND_COLUMNS = ("community_id", "wave", "mean", "ci_low", "ci_high", "comparison_mean", "counterfactual")
_EFFECT_COLUMNS = ("community_id", "indicator", "kind", "better", "estimate", "ci_low", "ci_high")
_IMPROVED, _WORSENED, _UNCLEAR = "#009E73", "#D55E00", "#6E6E6E"


def _figure_lang(lang: str | None, labels: Labels) -> str:
    """The language figures are drawn in: Chinese only when a CJK font is installed."""
    lang = check_choice(lang or labels.lang, Language, "lang")
    return "zh" if lang == "zh" and use_cjk_font() is not None else "en"


def _color(labels: Labels, community_id) -> str:
    """The community's fixed colour (:func:`community_colors` of the study's registry)."""
    if labels.registry is None:
        return "#0072B2"
    return community_colors(labels.registry).get(str(community_id), "#0072B2")


def _row(effect_row: Any) -> Mapping:
    if isinstance(effect_row, pd.DataFrame):
        if len(effect_row) != 1:
            raise EvalkitError(f"plot_community_effect: effect_row must be one row of the summary's "
                               f"effects, got a frame of {len(effect_row)} rows (select one with .iloc[i]).")
        effect_row = effect_row.iloc[0]
    if isinstance(effect_row, pd.Series):
        effect_row = effect_row.to_dict()
    if not isinstance(effect_row, Mapping):
        raise EvalkitError("plot_community_effect: effect_row must be one row of the summary's effects "
                           f"(a Series or dict), got {type(effect_row).__name__}.")
    missing = [c for c in _EFFECT_COLUMNS if c not in effect_row]
    if missing:
        raise EvalkitError(f"plot_community_effect: effect_row lacks {missing}; pass a row of "
                           "summarise(...).effects.")
    return effect_row


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) or \
        (not isinstance(value, str) and bool(pd.isna(value)))


def _fin(value) -> bool:
    return not _missing(value) and np.isfinite(float(value))


def _clear(row: Mapping) -> bool:
    """Does the interval exclude zero (a clear change)?"""
    lo, hi = row.get("ci_low"), row.get("ci_high")
    return not _missing(lo) and not _missing(hi) and (float(lo) > 0 or float(hi) < 0)


def _wrap(text: str, lang: str, width_en: int = 62, width_zh: int = 30) -> str:
    if lang == "en":
        return textwrap.fill(text, width_en)
    return "\n".join(text[i:i + width_zh] for i in range(0, len(text), width_zh))


def _select_trend(trends: pd.DataFrame, row: Mapping) -> pd.DataFrame:
    if not isinstance(trends, pd.DataFrame):
        raise EvalkitError(f"plot_community_effect: trends must be the summary's trends table, "
                           f"got {type(trends).__name__}.")
    missing = [c for c in _TREND_COLUMNS if c not in trends.columns]
    if missing:
        raise EvalkitError(f"plot_community_effect: the trends table lacks {missing}; pass "
                           "summarise(...).trends.")
    keep = trends["community_id"].astype(str) == str(row["community_id"])
    if "target" in trends.columns and not _missing(row.get("target")):
        keep &= trends["target"].astype(str) == str(row["target"])
    else:
        keep &= trends["indicator"].astype(str) == str(row["indicator"])
        if "group" in trends.columns:
            g = row.get("group")
            keep &= trends["group"].isna() if _missing(g) else trends["group"].astype(str) == str(g)
    out = trends[keep].sort_values("wave").reset_index(drop=True)
    if out.empty:
        raise EvalkitError(f"plot_community_effect: the trends table has no rows for community "
                           f"{row['community_id']!r} and target {row.get('target', row['indicator'])!r}.")
    return out


def _title(row: Mapping, labels: Labels, lang: str) -> str:
    comm = labels.community(row["community_id"], lang)
    ind = labels.indicator(row["indicator"], lang, short=True)
    grp = labels.group(row.get("group"), lang, short=True)
    est = row.get("estimate")
    if not _fin(est):
        return (f"{comm}{grp or ''}的{ind}：无法估计项目效应" if lang == "zh"
                else f"{comm}: the effect on {ind}{f' among {grp}' if grp else ''} cannot be estimated")
    if _clear(row):
        up = float(est) > 0
        if lang == "zh":
            return f"{comm}{grp or ''}的{ind}在项目开始后{'上升' if up else '下降'}"
        return f"{ind}{f' among {grp}' if grp else ''} in {comm} {'rose' if up else 'fell'} after the programme began"
    if lang == "zh":
        return f"{comm}{grp or ''}的{ind}在项目开始后无明显变化"
    return f"{ind}{f' among {grp}' if grp else ''} in {comm}: no clear change after the programme began"


def _subtitle(row: Mapping, labels: Labels, lang: str, evidence_scale, level: float) -> list[str]:
    kind, zh = str(row["kind"]), lang == "zh"
    ind = labels.indicator(row["indicator"], lang)
    grp = labels.group(row.get("group"), lang)
    axis = labels.axis_label(row["indicator"], kind, lang)
    direction = labels.direction(row["better"], lang)
    first = (f"{ind}，{grp}；{axis}，{direction}" if zh and grp else f"{ind}；{axis}，{direction}" if zh
             else f"{ind}, {grp}; {axis}; {direction}" if grp else f"{ind}; {axis}; {direction}")
    lines = [first]
    wave = row.get("wave")
    when = "" if _missing(wave) else (f"{int(wave)}年" if zh else f" in {int(wave)}")
    if _fin(row.get("estimate")):
        eff = effect_text(row["estimate"], kind, lang)
        lo = effect_text(row["ci_low"], kind, lang, unit=False) if _fin(row["ci_low"]) else "—"
        hi = effect_text(row["ci_high"], kind, lang, unit=False) if _fin(row["ci_high"]) else "—"
        ev = labels.evidence(row.get("evidence"), lang, evidence_scale)
        pct = f"{level:.0%}"
        lines.append(f"{when}项目效应（阴影部分）：{eff}，{pct}置信区间 {lo}至{hi}" if zh else
                     f"Effect{when} (the shaded gap): {eff} ({pct} CI {lo} to {hi})")
        lines.append(f"证据强度：{ev}" if zh else f"Strength of evidence: {ev}")
    else:
        why = labels.explanation(row.get("explanation"), lang)
        lines.append(f"无估计：{why}" if zh else f"No estimate: {why}")
    return [_wrap(s, lang, 100, 60) for s in lines]


def _spread(ys: list[float], gap: float) -> list[float]:
    """Move label positions apart (keeping their order) so that neighbours are ``gap`` apart."""
    order = np.argsort(ys)
    out = np.asarray(ys, dtype=float).copy()
    for k in range(1, len(order)):
        lo, hi = order[k - 1], order[k]
        if out[hi] - out[lo] < gap:
            out[hi] = out[lo] + gap
    shift = (np.mean(ys) - np.mean(out)) if len(ys) else 0.0
    return list(out + shift)


def _direct_labels(ax, items: list[tuple[float, float, str, str]]) -> None:
    """Label line ends at the right of the plot: (x, y, text, colour), no legend."""
    if not items:
        return
    y0, y1 = ax.get_ylim()
    lines = max(t.count("\n") + 1 for _, _, t, _ in items)
    ys = _spread([y for _, y, _, _ in items], 0.075 * lines * (y1 - y0))
    for (x, y, text, color), yl in zip(items, ys):
        ax.annotate(text, xy=(x, y), xytext=(x, yl), textcoords="data", color=color,
                    fontsize=9, va="center", ha="left", annotation_clip=False,
                    xycoords="data").set_gid("direct_label")


def plot_community_effect(trends: pd.DataFrame, effect_row: Any, *, labels: Labels,
                          lang: Language | None = None, evidence_scale: pd.DataFrame | None = None,
                          level: float = 0.95, ax=None) -> Figure:
    """One community's effect on one target, drawn as the difference-in-differences it is.

    Parameters
    ----------
    trends : DataFrame
        The summary's ``trends``: ``community_id, target, indicator, group, wave, mean, ci_low,
        ci_high, n, comparison_mean, counterfactual`` (proportions as fractions 0-1).
    effect_row : Series or dict
        One row of the summary's ``effects`` (``community_id, target, indicator, group, kind,
        better, start_year, wave, estimate, ci_low, ci_high, evidence, explanation``).
    labels : Labels
        :meth:`evalkit.publish.labels.Labels.from_study` of the study.
    lang : {"zh", "en"}, optional
        The report's language (default ``labels.lang``; English when no CJK font is installed).
    evidence_scale : DataFrame, optional
        The summary's ``evidence_scale`` (names of the evidence levels).
    level : float
        Level of the effect's interval (the summary's ``level``), for the subtitle.
    ax : matplotlib Axes, optional
        Draw into this Axes (default: a new 7.5 × 4.8 in figure).

    Returns
    -------
    matplotlib.figure.Figure
        One panel: the community's mean (points and line, ``gid="community"``) with its interval
        band (``gid="ci"``), the comparison average (dashed grey, ``gid="comparison"``), the
        counterfactual (dotted, ``gid="counterfactual"``), the gap between community and
        counterfactual shaded (``gid="gap"``) from the last wave before the start year on, a vertical
        line before the start year, direct labels at the line ends and a title stating the
        finding. Proportions are drawn in percent. The figure's label (``fig.get_label()``)
        is a text description for alt text (:func:`figure_html`).
    """
    row = _row(effect_row)
    lang = _figure_lang(lang, labels)
    zh = lang == "zh"
    tr = _select_trend(trends, row)
    kind = str(row["kind"])
    s = 100.0 if kind == "proportion" else 1.0
    color = _color(labels, row["community_id"])
    if ax is None:
        fig = Figure(figsize=(7.5, 4.8), layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    x = tr["wave"].astype(int).to_numpy()
    mean = pd.to_numeric(tr["mean"], errors="coerce").to_numpy(dtype=float) * s
    lo = pd.to_numeric(tr["ci_low"], errors="coerce").to_numpy(dtype=float) * s
    hi = pd.to_numeric(tr["ci_high"], errors="coerce").to_numpy(dtype=float) * s
    comp = pd.to_numeric(tr["comparison_mean"], errors="coerce").to_numpy(dtype=float) * s
    cf = pd.to_numeric(tr["counterfactual"], errors="coerce").to_numpy(dtype=float) * s
    gap = np.isfinite(cf) & np.isfinite(mean)
    shade = _after_start(x, gap, row.get("start_year"))
    if shade.sum() >= 2:
        ax.fill_between(x[shade], cf[shade], mean[shade], color=color, alpha=0.32, lw=0, gid="gap")
    ok = np.isfinite(comp)
    ax.plot(x[ok], comp[ok], "s--", color=COMPARISON_GREY, lw=1.6, ms=4, gid="comparison")
    ax.plot(x[gap], cf[gap], ":", color=color, lw=1.8, gid="counterfactual")
    has = np.isfinite(mean)
    ax.plot(x[has], mean[has], "o-", color=color, lw=2.4, ms=5, gid="community")
    band = has & np.isfinite(lo) & np.isfinite(hi)
    if band.any():
        ax.vlines(x[band], lo[band], hi[band], color=color, lw=1.2, alpha=0.8, gid="ci")
    start = row.get("start_year")
    ax.set_xticks(x, [str(v) for v in x])
    ax.set_xlim(x.min() - 0.4, x.max() + 0.4)
    ax.set_xlabel("调查年份" if zh else "survey year")
    ax.set_ylabel(labels.axis_label(row["indicator"], kind, lang))
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not _missing(start):
        ax.axvline(int(start) - 0.5, color="#999999", lw=0.9, ls="-", gid="start")
        ax.text(int(start) - 0.45, 1.0, f"项目开始（{int(start)}年）" if zh else f"programme starts ({int(start)})",
                transform=ax.get_xaxis_transform(), va="top", ha="left", fontsize=8, color="#555555")
    items = []
    for vals, mask, text, c in (
            (mean, has, labels.community(row["community_id"], lang), color),
            (comp, ok, "对照社区平均" if zh else "comparison\naverage", COMPARISON_GREY),
            (cf, gap, "若无项目\n（基线＋对照社区变化）" if zh else "without the programme\n"
                                                             "(baseline + comparison change)", color)):
        if mask.any():
            last = np.flatnonzero(mask)[-1]
            items.append((float(x[last]) + 0.12, float(vals[last]), text, c))
    _direct_labels(ax, items)
    sub = _subtitle(row, labels, lang, evidence_scale, level)
    nlines = sum(t.count("\n") + 1 for t in sub)
    ax.text(0, 1.0, "\n".join(sub), transform=ax.transAxes, ha="left", va="bottom", fontsize=8.5,
            color="#333333", gid="subtitle").set_in_layout(True)
    ax.set_title(_wrap(_title(row, labels, lang), lang), loc="left", fontsize=13, color="#111111",
                 pad=6 + 12.5 * nlines)
    _plain_text(fig)
    fig.set_label(_alt(row, labels, lang, tr, s, sub, x, mean, comp, cf))
    return fig


def _after_start(x: np.ndarray, gap: np.ndarray, start) -> np.ndarray:
    """Waves whose gap is shaded: from the last wave before the start year (where the gap opens;
    zero at the baseline) on. Gaps at earlier waves are pre-programme differences, not effects."""
    if _missing(start):
        return gap
    before = gap & (x < int(start))
    anchor = x[before].max() if before.any() else -np.inf
    return gap & (x >= anchor)


def _alt(row, labels, lang, tr, s, sub, x, mean, comp, cf) -> str:
    """A text description of the community chart (its title, subtitle and the plotted values)."""
    zh = lang == "zh"
    unit = "%" if s == 100.0 else ("分" if zh else "")
    digits = 1 if s == 100.0 else 2

    def series(name, vals):
        pts = [f"{w}{'年' if zh else ''} {v:.{digits}f}{unit}".replace("-", "\u2212")
               for w, v in zip(x, vals) if np.isfinite(v)]
        return f"{name}：{'，'.join(pts)}" if zh else f"{name}: {', '.join(pts)}"

    parts = [_title(row, labels, lang), ("；" if zh else "; ").join(t.replace("\n", " ") for t in sub),
             series(labels.community(row["community_id"], lang), mean),
             series("对照社区平均" if zh else "comparison average", comp),
             series("若无项目" if zh else "without the programme", cf)]
    return ("。" if zh else ". ").join(parts) + ("。" if zh else ".")


def _plain_text(fig) -> None:
    """Every text drawn as typed: a ``$`` in a label starts no mathtext."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)


def figure_html(fig, *, alt: str | None = None, format: str = "svg", dpi: int = 200,
                css_class: str = "figure") -> str:
    """A figure as an ``<img>`` element with a ``data:`` URI and alt text.

    Parameters
    ----------
    fig : matplotlib Figure (or Axes: its figure)
    alt : str
        The alt text (what the figure shows, for readers who cannot see it). Default: the
        description the report figures store as the figure's label
        (:func:`plot_community_effect`, :func:`plot_effects_overview`); a figure with neither
        is an error.
    format : {"svg", "png"}
        ``"svg"`` (default): vector, every glyph drawn as a path so the reader needs no font;
        ``"png"``: ``dpi`` dots per inch (200).

    Returns
    -------
    str
        ``<img class=... src="data:image/svg+xml;base64,..." alt="..." width=... >``; the same
        figure gives the same bytes every time (fixed SVG id salt, no date or software stamps).
    """
    fig = getattr(fig, "figure", fig) if not isinstance(fig, Figure) else fig
    if not isinstance(fig, Figure):
        raise EvalkitError(f"figure_html: expected a matplotlib Figure, got {type(fig).__name__}.")
    alt = fig.get_label() if alt is None else alt
    if not isinstance(alt, str) or not alt.strip():
        raise EvalkitError("figure_html: every image needs alt text: pass alt='what the figure shows'.")
    if format not in ("svg", "png"):
        raise EvalkitError(f"figure_html: format={format!r}; use 'svg' or 'png'.")
    buf = io.BytesIO()
    rc = {"svg.fonttype": "path", "svg.hashsalt": "evalkit", "svg.image_inline": True}
    with matplotlib.rc_context(rc):
        if format == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
            mime = "image/svg+xml"
        else:
            fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
            mime = "image/png"
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    width = int(round(fig.get_figwidth() * 96))
    return (f'<img class="{html.escape(css_class, quote=True)}" src="data:{mime};base64,{data}" '
            f'alt="{html.escape(" ".join(alt.split()), quote=True)}" width="{width}" '
            'style="max-width:100%;height:auto">')



def _latest(effects: pd.DataFrame) -> pd.DataFrame:
    """One row per community × target: the latest wave's."""
    key = ["community_id", "target"] if "target" in effects.columns else ["community_id", "indicator", "group"]
    df = effects.copy()
    for k in key:
        if k not in df.columns:
            df[k] = None
    if "wave" in df.columns:
        df = df.assign(_w=pd.to_numeric(df["wave"], errors="coerce").fillna(-np.inf))
        df = df.sort_values("_w", kind="stable").drop(columns="_w")
        df = df.groupby([df[k].astype(str) for k in key], sort=False, dropna=False).tail(1)
    return df


def _overview_rows(effects: pd.DataFrame, labels: Labels) -> list[tuple[str, Any]]:
    """[("header", (community_id, shared group)) | ("row", effect row)] in registry order, targets in
    frame order; the shared group is the target group of all the community's rows (else None)."""
    df = _latest(effects)
    order = {cid: k for k, cid in enumerate(labels.communities)}
    comms = sorted(pd.unique(df["community_id"].astype(str)), key=lambda c: (order.get(c, len(order)), c))
    out: list[tuple[str, Any]] = []
    for cid in comms:
        sub = df[df["community_id"].astype(str) == cid]
        groups = {None if _missing(g) else str(g) for g in sub["group"]} if "group" in sub.columns else {None}
        out.append(("header", (cid, groups.pop() if len(groups) == 1 else None)))
        out.extend(("row", r) for _, r in sub.iterrows())
    return out


def _is_good(row: Mapping, est: float) -> bool:
    return (est > 0) == (str(row.get("better", "higher")) != "lower")


def _overview_title(rows: list, lang: str) -> str:
    eff = [r for kind, r in rows if kind == "row"]
    clear = [r for r in eff if _fin(r.get("std_effect"))
             and _clear({"ci_low": r.get("std_ci_low"), "ci_high": r.get("std_ci_high")})]
    good = sum(1 for r in clear if _is_good(r, float(r["std_effect"])))
    bad = len(clear) - good
    if lang == "zh":
        return f"{len(eff)}项目标中{good}项在项目开始后明确改善" + (f"，{bad}项明确变差" if bad else "")
    return (f"{good} of {len(eff)} targets improved clearly after the programmes began"
            + (f", {bad} worsened" if bad else ""))


def plot_effects_overview(effects: pd.DataFrame, *, labels: Labels, lang: Language | None = None,
                          evidence_scale: pd.DataFrame | None = None, level: float = 0.95) -> Figure:
    """Standardised effects of every community × target, grouped by community, with evidence.

    Parameters
    ----------
    effects : DataFrame
        The summary's ``effects`` (``community_id, target, indicator, group, kind, better, wave,
        estimate, ci_low, ci_high, std_effect, std_ci_low, std_ci_high, evidence,
        explanation``); the latest wave of each community × target is drawn.
    labels, lang, evidence_scale, level
        As for :func:`plot_community_effect`.

    Returns
    -------
    matplotlib.figure.Figure
        One row per community × target under a bold row naming the community: the standardised
        effect (points, ``gid="effect"``) and its interval (``gid="interval"``; an end that is not
        finite stops at the frame with an arrow head), coloured green (clear improvement),
        orange (clear worsening) or grey (no clear change); the evidence level as filled dots
        and its name at the right; a row without an estimate shows its reason as text at zero.
        Axis limits are finite. The title counts the clear improvements; ``fig.get_label()``
        describes every row (alt text).
    """
    if not isinstance(effects, pd.DataFrame):
        raise EvalkitError(f"plot_effects_overview: effects must be the summary's effects table, "
                           f"got {type(effects).__name__}.")
    need = ["community_id", "indicator", "better", "std_effect", "std_ci_low", "std_ci_high"]
    missing = [c for c in need if c not in effects.columns]
    if missing:
        raise EvalkitError(f"plot_effects_overview: the effects table lacks {missing}; pass "
                           "summarise(...).effects.")
    lang = _figure_lang(lang, labels)
    zh = lang == "zh"
    rows = _overview_rows(effects, labels)
    vals = [0.0]
    for kind, r in rows:
        if kind == "row":
            vals += [float(r[c]) for c in ("std_effect", "std_ci_low", "std_ci_high") if _fin(r[c])]
    pad = 0.12 * (max(vals) - min(vals) or 1.0)
    lim = (min(vals) - pad, max(vals) + pad)
    fig = Figure(figsize=(8.0, 1.5 + 0.3 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    ys = -np.arange(len(rows), dtype=float)
    ticks, bold, alt = [], [], []
    for y, (kind, r) in zip(ys, rows):
        if kind == "header":
            cid, shared = r
            grp = labels.group(shared, lang, short=True)
            ticks.append(labels.community(cid, lang) + ("" if grp is None else (f" · {grp}")))
            bold.append(True)
            continue
        name = (labels.indicator(r["indicator"], lang, short=True) if shared is not None
                else labels.target(r["indicator"], r.get("group"), lang))
        if str(r.get("better")) == "lower":
            name += "（越低越好）" if zh else " (lower is better)"
        ticks.append(_wrap(name, lang, 44, 22))
        bold.append(False)
        ev = labels.evidence(r.get("evidence"), lang, evidence_scale)
        level_i = 0 if _missing(r.get("evidence")) else int(r.get("evidence"))
        who = f"{labels.community(r['community_id'], lang)} {labels.target(r['indicator'], r.get('group'), lang)}"
        if not _fin(r["std_effect"]):
            why = labels.explanation(r.get("explanation"), lang)
            ax.text(0, y, f"无估计：{why}" if zh else f"no estimate: {why}", ha="center", va="center",
                    fontsize=8, color="#777777", style="italic", gid="no_estimate")
            alt.append(f"{who}：无估计（{why}）" if zh else f"{who}: no estimate ({why})")
            continue
        est = float(r["std_effect"])
        rr = {"ci_low": r.get("std_ci_low"), "ci_high": r.get("std_ci_high")}
        color = (_IMPROVED if _is_good(r, est) else _WORSENED) if _clear(rr) else _UNCLEAR
        ends = [float(r[c]) if _missing(r[c]) is False else np.nan for c in ("std_ci_low", "std_ci_high")]
        lo_c, hi_c = (float(np.clip(v, *lim)) if not np.isnan(v) else est for v in ends)
        ax.plot([lo_c, hi_c], [y, y], color=color, lw=2, gid="interval")
        ax.plot([est], [y], "o", color=color, ms=6, gid="effect")
        for end, mark, edge in ((ends[0], "<", lim[0]), (ends[1], ">", lim[1])):
            if not np.isfinite(end) and not np.isnan(end):
                ax.plot([edge], [y], mark, color=color, ms=5, gid="unbounded")
        dots = "●" * level_i + "○" * (3 - level_i)
        ax.text(1.01, y, f"{dots} {ev}", transform=ax.get_yaxis_transform(), va="center", ha="left",
                fontsize=8, color="#333333", gid="evidence")
        span = _interval_text(ends[0], ends[1], zh)
        alt.append(f"{who}：{_num_text(est)}（{span}），证据强度{ev}" if zh
                   else f"{who}: {_num_text(est)} ({span}), evidence {ev}")
    ax.axvline(0, color="black", lw=0.8, ls="--")
    ax.set_xlim(*lim)
    ax.set_ylim(ys.min() - 0.7, 0.7)
    ax.set_yticks(ys, ticks)
    for tick, b in zip(ax.get_yticklabels(), bold):
        tick.set_fontsize(10.5 if b else 8.5)
        tick.set_color("#000000" if b else "#333333")
    for y, b in zip(ys, bold):
        if b:
            ax.axhspan(y - 0.45, y + 0.45, color="#EEEEEE", lw=0, zorder=0, gid="header")
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    pct = f"{level:.0%}"
    ax.set_xlabel(f"标准化效应（以基线标准差为单位，{pct}置信区间）" if zh
                  else f"standardised effect (in baseline standard deviations, {pct} CI)")
    note = ("绿色＝明确改善，橙色＝明确变差，灰色＝无明显变化；右侧圆点为证据强度" if zh
            else "green = clear improvement, orange = clear worsening, grey = no clear change; "
                 "dots at the right: strength of evidence")
    ax.set_title(_wrap(note, lang, 70, 36), loc="left", fontsize=8.5, color="#333333")
    title = _overview_title(rows, lang)
    fig.suptitle(_wrap(title, lang, 70, 34), x=0.01, ha="left", fontsize=13, color="#111111")
    _plain_text(fig)
    fig.set_label(("。" if zh else ". ").join([title, note] + alt) + ("。" if zh else "."))
    return fig


def _num_text(v: float) -> str:
    return "—" if not np.isfinite(v) else f"{v:+.2f}".replace("-", "\u2212")


def _interval_text(lo: float, hi: float, zh: bool) -> str:
    """``−0.90至−0.30`` / ``−0.90 to −0.30``; an unbounded end is said in words."""
    a = _num_text(lo) if np.isfinite(lo) else ("无下限" if zh else "unbounded")
    b = _num_text(hi) if np.isfinite(hi) else ("无上限" if zh else "unbounded")
    return f"{a}至{b}" if zh else f"{a} to {b}"
