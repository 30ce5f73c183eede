"""One page per programme community of the bureau report: table, figures, performance, limitations.

:func:`community_pages` builds the template context of each page from the evaluation summary.
Rows the disclosure gate suppressed (fewer than ``min_n`` respondents) show ``[c]``. Figures come from :func:`evalkit.publish.figures.plot_community_effect` and
:func:`~evalkit.publish.figures.figure_html` (contract C7).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import tables as tb
from .bureau_findings import page_findings
from .bureau_context import SYMBOLS, Labels, _level, _order, _perf_row, _year, effect_text
from .i18n import TEXT, grade, t

__all__ = ["community_pages", "effects_table", "honest_lines", "overview_figure"]


#: Size (inches) of a community page's figure. Smaller than plot_community_effect's 7.5 x 4.8 with
#: the same font sizes, so its words stay legible printed two across on A4 (about 90 mm wide: the
#: 13 pt title prints at 7.7 pt, was 4 pt three across at 7.5 in) and its rows short enough for one
#: page per community; wide enough that the direct labels and the wrapped title fit (zh and en).
FIGSIZE = (6.0, 3.2)


def _figures(summary, labels: Labels, part: pd.DataFrame, *, level: float) -> list[dict]:
    """One figure per target with an estimate (:func:`evalkit.publish.figures.plot_community_effect`)."""
    import matplotlib.pyplot as plt
    from markupsafe import Markup
    from matplotlib.figure import Figure

    from .figures import figure_html, plot_community_effect
    from .style import use_cjk_font

    trends, scale = summary.trends, getattr(summary, "evidence_scale", None)
    out = []
    for _, r in part.iterrows():
        if tb.is_missing(r.get("estimate")):
            continue
        sel = trends[(trends["community_id"].astype(str) == str(r["community_id"])) & (trends["target"] == r["target"])]
        if sel.empty:
            continue
        use_cjk_font()  # before the Figure exists, so all its text gets the CJK font
        ax = Figure(figsize=FIGSIZE, layout="constrained").add_subplot()
        fig = plot_community_effect(sel, r, labels=labels.base, lang=labels.lang, evidence_scale=scale, level=level,
                                    ax=ax)
        alt = t("figure_alt", labels.lang, community=labels.community(r["community_id"]),
                target=labels.target(r["indicator"], r.get("group")), finding=_finding(labels, r))
        out.append({"html": Markup(figure_html(fig, alt=alt)), "caption": _finding(labels, r)})
        plt.close(fig)
    return out


def overview_figure(summary, labels: Labels, *, level: float):
    """Every target's standardised effect on one scale (:func:`evalkit.publish.figures.plot_effects_overview`)
    as ``<img>`` markup with alt text, or ``None`` when no row has a standardised effect."""
    import matplotlib.pyplot as plt
    from markupsafe import Markup

    from .figures import figure_html, plot_effects_overview

    head = summary.headline
    if "std_effect" not in head.columns or not pd.to_numeric(head["std_effect"], errors="coerce").notna().any():
        return None
    fig = plot_effects_overview(head.drop(columns=["_suppressed"], errors="ignore"), labels=labels.base,
                                lang=labels.lang, evidence_scale=getattr(summary, "evidence_scale", None), level=level)
    html = Markup(figure_html(fig, alt=t("overview_alt", labels.lang)))
    plt.close(fig)
    return html


def _finding(labels: Labels, r) -> str:
    lang = labels.lang
    sep = "：" if lang == "zh" else ": "
    return (labels.target(r["indicator"], r.get("group")) + sep + effect_text(labels, r) + ("，" if lang == "zh"
            else ", ") + tb.fmt_interval(r.get("ci_low"), r.get("ci_high"), r.get("kind"), lang))


def _people(r, lang) -> str:
    if r.get("kind") != "proportion" or tb.is_missing(r.get("headcount")):
        return tb.MISSING
    return t("headcount", lang, n=tb.fmt_people(r["headcount"]), low=tb.fmt_people(r.get("headcount_low")),
             high=tb.fmt_people(r.get("headcount_high")))


def _pct_of_baseline(r) -> str:
    est, base = r.get("estimate"), r.get("baseline")
    if tb.is_missing(est) or tb.is_missing(base) or float(base) == 0:
        return tb.MISSING
    return tb.fmt_pct(float(est) / float(base), sign=True)


def effects_table(part: pd.DataFrame, labels: Labels, evidence: dict, *, level: float) -> dict:
    """The community's effects (latest wave, one row per target) for people; rows the disclosure
    gate suppressed (``_suppressed``, :func:`evalkit.publish.bureau_context.gated_summary`) show ``[c]``."""
    lang = labels.lang
    headers = [t(f"tcol_{k}", lang) for k in ("target", "baseline", "effect", "interval", "pct", "people",
                                              "evidence", "n")]
    rows, any_hidden = [], False
    for _, r in part.iterrows():
        hidden = bool(r.get("_suppressed", False))
        any_hidden |= hidden
        lvl = _level(r)
        cells = [labels.target(r["indicator"], r.get("group"))]
        if hidden:
            cells += [tb.SUPPRESSED] * 5
        else:
            cells += [tb.fmt_level(r.get("kind"), r.get("baseline")), effect_text(labels, r),
                      tb.fmt_interval(r.get("ci_low"), r.get("ci_high"), r.get("kind"), lang, level=level, bare=True),
                      _pct_of_baseline(r), _people(r, lang)]
        cells += [f"{SYMBOLS.get(lvl, SYMBOLS[0])} {evidence.get(lvl, ('', ''))[0]}".strip(),
                  tb.SUPPRESSED if hidden else tb.fmt_int(r.get("n_wave"))]
        rows.append([tb.check_cell(c, f"{labels.community(r['community_id'])} effects table") for c in cells])
    return {"headers": headers, "rows": rows, "suppressed": any_hidden}


def _population(part: pd.DataFrame, labels: Labels) -> list[str]:
    out = []
    for grp, sub in part.groupby(part["group"].fillna("") if "group" in part.columns else pd.Series("", index=part.index)):
        pop = sub["population"].dropna() if "population" in sub.columns else pd.Series(dtype=float)
        name = labels.group(grp) or t("all_residents", labels.lang)
        if len(pop):
            out.append(t("page_population_n", labels.lang, group=name, n=tb.fmt_int(pop.iloc[0])))
        else:
            out.append(name)
    return out


def _outputs_line(outputs: pd.DataFrame | None, lang: str) -> str | None:
    """``合同产出（完成/目标）：个案 22/20；小组 24/24……`` from the detail's outputs table."""
    if outputs is None or not len(outputs):
        return None
    parts = []
    for _, r in outputs.iterrows():
        key = f"output_{r.get('output')}"
        name = t(key, lang) if key in TEXT else None
        if name is None:
            continue  # an output without a label in i18n is left out rather than shown by its code
        parts.append(f"{name} {tb.fmt_int(r.get('achieved'))}/{tb.fmt_int(r.get('target'))}")
    sep = "；" if lang == "zh" else "; "
    return t("outputs_line", lang, items=sep.join(parts)) if parts else None


def _costs_line(costs: pd.DataFrame | None, labels: Labels) -> str | None:
    """``每单位效果的成本：志愿服务参与率 每多1人123元（68至630元）……`` from the detail's costs."""
    if costs is None or not len(costs) or "estimate" not in costs.columns:
        return None
    lang, parts, skipped = labels.lang, [], 0
    for _, r in costs.iterrows():
        if not bool(r.get("estimable", True)) or tb.is_missing(r.get("estimate")):
            skipped += 1
            continue
        unit = t("cost_unit_person" if r.get("kind") == "proportion" else "cost_unit_point", lang)
        name = labels.base.indicator(r.get("indicator", str(r.get("target")).split("@")[0]), short=True)
        parts.append(t("cost_item", lang, target=name, unit=unit, cost=tb.fmt_int(r["estimate"]),
                       low=tb.fmt_int(r.get("ci_low")), high=tb.fmt_int(r.get("ci_high"))))
    if not parts:
        return t("costs_none", lang, k=skipped) if skipped else None
    sep = "；" if lang == "zh" else "; "
    text = t("costs_line", lang, items=sep.join(parts))
    return text + (t("costs_skipped", lang, k=skipped) if skipped else "")


def _dimensions(sheet: pd.DataFrame | None, lang: str) -> dict | None:
    """The scoring sheet by dimension (score of points) as a one-row table."""
    if sheet is None or not len(sheet) or not {"dimension", "points", "score"} <= set(sheet.columns):
        return None
    label_col = "dimension_zh" if lang == "zh" else "dimension_en"
    if label_col not in sheet.columns:
        from ..performance.scorecard import load_scorecard

        names = load_scorecard().items.drop_duplicates("dimension").set_index("dimension")[label_col]
        sheet = sheet.assign(**{label_col: sheet["dimension"].map(names)})
    by = sheet.groupby(label_col, sort=False)[["score", "points"]].sum()
    return {"headers": [str(h) for h in by.index],
            "rows": [[f"{tb.fmt_number(sc, 1)}/{tb.fmt_number(pt, 0)}" for sc, pt in zip(by["score"], by["points"])]]}


#: Columns of the performance table that rest on the resident survey (``[c]`` with a withheld cell).
_SURVEY_COLUMNS = ("score", "grade", "p_grade_differs")


def _performance(perf, lang, detail=None, labels: Labels | None = None, hidden: bool = False) -> dict | None:
    if perf is None:
        return None
    cols = [("budget", tb.fmt_int), ("spent", tb.fmt_int), ("cost_per_beneficiary", tb.fmt_int),
            ("score", lambda v: tb.fmt_number(v, 1)), ("grade", lambda v: tb.MISSING if tb.is_missing(v) else grade(v, lang)),
            ("p_grade_differs", tb.fmt_pct)]
    keys = {"budget": "budget", "spent": "spent", "cost_per_beneficiary": "cpb", "score": "score",
            "grade": "grade", "p_grade_differs": "flip"}
    present = [(c, f) for c, f in cols if c in perf.index]
    out = {"headers": [t(f"tcol_{keys[c]}", lang) for c, _ in present],
           "rows": [[tb.SUPPRESSED if hidden and c in _SURVEY_COLUMNS else
                     tb.check_cell(f(perf.get(c)), "performance table") for c, f in present]],
           "outputs": None, "dimensions": None, "costs": None}
    if detail is not None:
        parts = detail(str(perf.get("community_id"))) or {}
        out["outputs"] = _outputs_line(parts.get("outputs"), lang)
        out["costs"] = _costs_line(parts.get("costs"), labels) if labels is not None and not hidden else None
        out["dimensions"] = _dimensions(parts.get("sheet"), lang)
    return out


def _times(x: float) -> str:
    """A breakdown value for prose: 1 decimal from 1 up, 2 below (``1.5``, ``0.35``)."""
    return tb.fmt_number(x, 1 if abs(float(x)) >= 1 else 2)


def honest_lines(part: pd.DataFrame, honest, labels: Labels) -> list[str]:
    """The parallel-trends sentences of a community page: how large a difference in trends the
    headline of its first target survives (Rambachan & Roth 2023 relative magnitudes) and what the
    pre-test could detect (Roth 2022), from ``summary.honest``
    (:func:`evalkit.evaluation.honest_summary.sensitivity_of_headlines`); the reason when it cannot
    be checked; nothing when the summary has no such frame or the first target's row is withheld."""
    if honest is None or not len(honest) or part.empty:
        return []
    first = part.iloc[0]
    hit = honest[(honest["community_id"].astype(str) == str(first["community_id"]))
                 & (honest["target"] == first["target"])]
    if hit.empty or bool(first.get("_suppressed", False)):
        return []
    h, lang = hit.iloc[0], labels.lang
    target = labels.target(first["indicator"], first.get("group"))
    if isinstance(h.get("explanation"), str) and h["explanation"]:
        key = f"honest_why_{h['explanation']}"
        key = key if key in TEXT else "honest_why_other"
        return [t("honest_cannot", lang, why=t(key, lang))]
    b = h.get("breakdown")
    if tb.is_missing(b):
        out = [t("honest_no_conclusion", lang, target=target)]
    elif not np.isfinite(float(b)):
        out = [t("honest_holds_always", lang, target=target)]
    elif float(b) == 0:
        out = [t("honest_fragile", lang, target=target)]
    else:
        out = [t("honest_holds", lang, target=target, x=_times(b))]
    if not tb.is_missing(h.get("pretest_power_50")):
        kind = first.get("kind", "mean")
        out.append(t("pretest_power", lang, p=tb.fmt_number(h.get("pretest_p"), 2),
                     y=tb.fmt_effect(abs(float(h["pretest_power_50"])), kind, lang, sign=False),
                     y80=tb.fmt_effect(abs(float(h["pretest_power_80"])), kind, lang, sign=False)))
    return out


def _limitations(part: pd.DataFrame, labels: Labels, synthetic: bool, honest=None) -> list[str]:
    lang = labels.lang
    out = [t("limit_synthetic", lang)] if synthetic else []
    out += [t("limit_design", lang), *honest_lines(part, honest, labels), t("limit_few", lang),
            t("limit_self_report", lang)]
    missing = [f"{labels.target(r['indicator'], r.get('group'))}（{labels.explanation(r.get('explanation'))}）"
               if lang == "zh" else f"{labels.target(r['indicator'], r.get('group'))} "
               f"({labels.explanation(r.get('explanation'))})"
               for _, r in part.iterrows() if labels.explanation(r.get("explanation"))]
    if missing:
        out.append(t("limit_missing", lang, k=len(missing), what=("；" if lang == "zh" else "; ").join(missing)))
    return out


def community_pages(summary, labels: Labels, *, performance, evidence: dict, level: float, detail=None,
                    synthetic: bool, findings=None, withheld=frozenset()) -> list[dict]:
    """One context entry per programme community, in registry order. ``findings``: the report's
    problems and required fixes (:func:`evalkit.publish.bureau_findings.report_findings`);
    ``withheld``: ids of communities with a withheld survey cell (their survey-based performance
    cells show ``[c]``)."""
    head = summary.headline
    pages = []
    for cid in _order(labels, head["community_id"]):
        part = head[head["community_id"].astype(str) == cid]
        perf = _performance(_perf_row(performance, cid), labels.lang, detail, labels, hidden=cid in withheld)
        pages.append({
            "id": f"c{len(pages) + 1}",
            "name": labels.community(cid), "programme": labels.programme(cid),
            "start": t("page_start", labels.lang, year=_year(part.iloc[0].get("start_year"))),
            "population": _population(part, labels),
            "table": effects_table(part, labels, evidence, level=level),
            "figures": _figures(summary, labels, part, level=level),
            "performance": perf,
            "findings": page_findings(findings, cid, labels.lang) if perf is not None else None,
            "limitations": _limitations(part, labels, synthetic, getattr(summary, "honest", None)),
        })
    return pages
