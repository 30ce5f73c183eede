"""What the bureau report's template shows: every cell and sentence as a string for people.

:func:`page_context` builds, from an evaluation summary and the study, the template's context:
the first-screen rows, the evidence rule, the "what this means" / "how sure" lines, one entry
per programme community (table, figures, limitations) and the methods in prose. Labels come from
the codebook and registry in the report's language (:class:`Labels`), never variable codes;
numbers are formatted by :mod:`evalkit.publish.tables`.
"""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from ..spec.study import Study
from . import tables as tb
from .i18n import TEXT, t
from .i18n import grade as grade_text

__all__ = ["Labels", "prepare", "page_context", "effect_text", "gated_summary", "SYMBOLS"]

#: Evidence level -> symbols (filled circles = level, of three).
SYMBOLS = {0: "○○○", 1: "●○○", 2: "●●○", 3: "●●●"}


class Labels:
    """The study's labels in the report's language: :class:`evalkit.publish.labels.Labels`
    (communities, indicators, groups, explanations) plus each community's programme text."""

    def __init__(self, study: Study, lang: str):
        from .labels import Labels as _Labels

        self.study, self.lang = study, lang
        self.registry = study.require_registry("the bureau report")
        self._reg = self.registry.set_index(self.registry["community_id"].astype(str))
        self.base = _Labels.from_study(study, lang)

    def programme(self, cid) -> str:
        """The registry's programme text (``programme_zh``; English ``programme_en``/``programme_domain``)."""
        cols = (("programme_zh", "programme") if self.lang == "zh"
                else ("programme_en", "programme_domain", "programme"))
        cid = str(cid)
        for col in cols:
            v = self._reg.at[cid, col] if cid in self._reg.index and col in self._reg.columns else None
            if isinstance(v, str) and v.strip():
                v = v.strip()
                return v[:1].upper() + v[1:] if self.lang == "en" else v
        return ""

    def community(self, cid) -> str:
        return self.base.community(cid)

    def group(self, code) -> str | None:
        return self.base.group(code)

    def target(self, indicator, group=None) -> str:
        return self.base.target(indicator, None if tb.is_missing(group) else group)

    def scale_range(self, code):
        return self.base.ranges.get(str(code))

    def explanation(self, text) -> str | None:
        """Why a row has no estimate, or ``None`` when it has one."""
        if text is None or (not isinstance(text, str)) or not text.strip():
            return None
        return self.base.explanation(text)


# --- helpers ------------------------------------------------------------------------------------
def _improving(row) -> float:
    """+1 when the estimate is in the beneficial direction, −1 when harmful, 0 when none."""
    direction = row.get("direction")
    if isinstance(direction, str) and direction in ("improved", "worsened"):
        return 1.0 if direction == "improved" else -1.0
    est = row.get("estimate")
    if tb.is_missing(est) or float(est) == 0:
        return 0.0
    return float(np.sign(est)) * (-1.0 if row.get("better") == "lower" else 1.0)


def _level(row) -> int:
    v = row.get("evidence")
    return 0 if tb.is_missing(v) else int(v)


def _scale_note(labels: Labels, row) -> str:
    if row.get("kind") == "proportion":
        return ""
    rng = labels.scale_range(row.get("indicator"))
    if rng is None:
        return ""
    return t("scale_range", labels.lang, low=tb.fmt_number(rng[0], 0), high=tb.fmt_number(rng[1], 0))


def effect_text(labels: Labels, row) -> str:
    """``−1.03分（3–9分）`` / ``+15.5个百分点``, or the reason there is no estimate."""
    why = labels.explanation(row.get("explanation"))
    if why or tb.is_missing(row.get("estimate")):
        return why or t("no_estimate", labels.lang)
    return tb.fmt_effect(row["estimate"], row.get("kind", "mean"), labels.lang) + _scale_note(labels, row)


def _evidence_labels(scale: pd.DataFrame | None, lang: str) -> dict[int, tuple[str, str]]:
    out = {}
    if scale is None or not len(scale):
        return out
    for _, r in scale.iterrows():
        out[int(r["level"])] = (str(r.get(f"label_{lang}", "")), str(r.get(f"rule_{lang}", "")))
    return out


def _year(x) -> str:
    return tb.MISSING if tb.is_missing(x) else str(int(float(x)))


def _order(labels: Labels, ids) -> list[str]:
    reg = [str(c) for c in labels.registry["community_id"]]
    ids = [str(i) for i in dict.fromkeys(ids)]
    return [c for c in reg if c in ids] + [c for c in ids if c not in reg]


def _perf_row(performance, cid):
    if performance is None or "community_id" not in performance.columns:
        return None
    hit = performance[performance["community_id"].astype(str) == cid]
    return None if hit.empty else hit.iloc[0]


def _cost_score(perf, lang) -> tuple[str, str]:
    if perf is None:
        return tb.MISSING, tb.MISSING
    cost = tb.fmt_int(perf.get("cost_per_beneficiary"))
    score = tb.fmt_number(perf.get("score"), 1)
    grade = perf.get("grade")
    if isinstance(grade, str) and grade and score != tb.MISSING:
        grade = grade_text(grade, lang)
        score = f"{score}（{grade}）" if lang == "zh" else f"{score} ({grade})"
    return cost, score


def _first_rows(summary, labels: Labels, performance, evidence, hidden=frozenset()) -> list[dict]:
    """The first screen's rows; ``hidden``: communities with a withheld survey cell, whose score
    (it rests on the survey's effects) shows ``[c]``."""
    head = summary.headline
    rows = []
    for cid in _order(labels, head["community_id"]):
        part = head[head["community_id"].astype(str) == cid]
        first = part.iloc[0]
        targets = []
        groups = {None if tb.is_missing(g) else g for g in part.get("group", pd.Series([None] * len(part)))}
        one_group = labels.group(next(iter(groups))) if len(groups) == 1 else None  # named once for the row
        for _, r in part.iterrows():
            lvl = _level(r)
            name = labels.base.indicator(r["indicator"], short=True) if one_group else \
                labels.target(r["indicator"], r.get("group"))
            targets.append({"label": name, "effect": effect_text(labels, r),
                            "level": lvl, "symbols": SYMBOLS.get(lvl, SYMBOLS[0]),
                            "evidence": evidence.get(lvl, ("", ""))[0]})
        cost, score = _cost_score(_perf_row(performance, cid), labels.lang)
        score = tb.SUPPRESSED if cid in hidden and performance is not None else score
        rows.append({"community": labels.community(cid), "programme": labels.programme(cid),
                     "population": labels.base.group(next(iter(groups)), short=True) if one_group else None,
                     "start": _year(first.get("start_year")), "targets": targets, "cost": cost, "score": score})
    return rows


def note_text(notes, lang: str, *keys: str) -> str | None:
    """The summary's prose note ``key`` in ``lang`` (notes as ``{key: {lang: text}}``,
    ``{lang: {key: text}}`` or ``{f"{key}_{lang}": text}``); ``None`` when absent."""
    if not notes:
        return None
    for key in keys:
        v = notes.get(key)
        if isinstance(v, dict) and isinstance(v.get(lang), str):
            return v[lang]
        by_lang = notes.get(lang)
        if isinstance(by_lang, dict) and isinstance(by_lang.get(key), str):
            return by_lang[key]
        if isinstance(notes.get(f"{key}_{lang}"), str):
            return notes[f"{key}_{lang}"]
    return None


def all_notes(notes, lang: str) -> list[str]:
    """Every prose note of the summary in ``lang``, in the summary's order."""
    if not notes:
        return []
    out = []
    if isinstance(notes.get(lang), dict):
        out += [v for v in notes[lang].values() if isinstance(v, str)]
    for key, v in notes.items():
        if isinstance(v, dict) and isinstance(v.get(lang), str):
            out.append(v[lang])
        elif isinstance(v, str) and key.endswith(f"_{lang}"):
            out.append(v)
    return [s for s in dict.fromkeys(out) if s.strip()]


def _rows(frame) -> list:
    return [r for _, r in frame.iterrows()]


def _strength(r) -> float:
    for col in ("std_effect", "statistic", "estimate"):
        v = r.get(col)
        if not tb.is_missing(v):
            return abs(float(v))
    return 0.0


def _ruled(labels: Labels, r) -> str | None:
    x = r.get("ruled_out")
    if tb.is_missing(x):
        return None
    return t("ruled_out", labels.lang, x=tb.fmt_effect(abs(float(x)), r.get("kind", "mean"), labels.lang, sign=False))


def meaning_lines(summary, labels: Labels, evidence: dict, level: float) -> list[str]:
    """The three lines of "what this means"."""
    lang = labels.lang
    rows = _rows(summary.headline)
    est = [r for r in rows if not tb.is_missing(r.get("estimate"))]
    clear = [r for r in est if _level(r) >= 2 and _improving(r) > 0]
    worse = [r for r in est if _level(r) >= 2 and _improving(r) < 0]
    unclear = [r for r in est if _level(r) <= 1]
    lines = [t("meaning_1", lang, n_comm=summary.headline["community_id"].nunique(), n_targets=len(rows),
               n_clear=len(clear), n_worse=len(worse), level2=evidence.get(2, ("2", ""))[0])]
    if clear:
        best = max(clear, key=_strength)
        lines.append(t("meaning_2_best", lang, community=labels.community(best["community_id"]),
                       target=labels.target(best["indicator"], best.get("group")), effect=effect_text(labels, best),
                       interval=tb.fmt_interval(best.get("ci_low"), best.get("ci_high"), best.get("kind"), lang,
                                                level=level)))
    else:
        lines.append(t("meaning_2_none", lang))
    lines.append(t("meaning_3", lang, n_unclear=len(unclear)) if unclear else t("meaning_3_none", lang))
    return lines


def family_size(summary) -> int:
    """How many tests the first screen's Holm adjustment is over: the community × target tests with a
    p-value at the latest wave of the headline (summarise's family), or the headline's estimated rows."""
    head, eff = summary.headline, getattr(summary, "effects", None)
    waves = pd.to_numeric(head.get("wave"), errors="coerce") if "wave" in head.columns else None
    if eff is None or not len(eff) or waves is None or waves.isna().all() or "p_value" not in eff.columns:
        return int(pd.to_numeric(head.get("estimate"), errors="coerce").notna().sum())
    latest = float(waves.max())
    return int((pd.to_numeric(eff["wave"], errors="coerce").eq(latest)
                & pd.to_numeric(eff["p_value"], errors="coerce").notna()).sum())


def sure_lines(summary, labels: Labels, level: float) -> list[str]:
    """The two lines of "how sure": the multiple-testing statement and what "no clear change" rules out."""
    lang = labels.lang
    rows = _rows(summary.headline)
    est = [r for r in rows if not tb.is_missing(r.get("estimate"))]
    first = t("sure_1", lang, n_tests=family_size(summary), method=t("method_holm", lang))
    examples = []
    for r in sorted((r for r in est if _level(r) <= 1 and _ruled(labels, r)), key=_strength)[:2]:
        examples.append(t("sure_2_example", lang, community=labels.community(r["community_id"]),
                          target=labels.target(r["indicator"], r.get("group")), ruled=_ruled(labels, r)))
    if examples:
        second = t("sure_2", lang, example=("；" if lang == "zh" else "; ").join(examples))
    else:
        second = t("sure_2_none", lang, level=tb.fmt_number(100 * level, 0))
    return [first, second]


def design_lines(summary, lang: str, level: float) -> list[str]:
    """Methods sentences on what the study could detect and what the communities say together.

    The MDE of each headline row comes from its own ``se`` and ``df`` (80% power, two-sided test at
    ``level``), in baseline SDs so rows compare; the pooled effect is a random-effects pool of each
    community's first target in baseline SDs, signed so that positive is better, left out with fewer
    than three communities (:mod:`evalkit.evaluation.together`, which notebook 07 shows too).
    """
    from ..evaluation.together import mde_in_sd, pool_programmes

    lines = []
    mdes = mde_in_sd(summary.headline, power=0.8, level=level)
    pct = tb.fmt_number(100 * (1 - level), 0)
    if len(mdes):
        lines.append(t("design_mde", lang, n=len(mdes), low=tb.fmt_number(mdes.min(), 2),
                       high=tb.fmt_number(mdes.max(), 2), median=tb.fmt_number(float(mdes.median()), 2), alpha=pct))
    pooled = pool_programmes(summary.headline, level=level)
    if pooled is not None:
        fmt = lambda x: tb.fmt_number(x, 2, sign=True)  # noqa: E731
        lines.append(t("design_pooled", lang, k=pooled.k, estimate=fmt(pooled.estimate), low=fmt(pooled.ci_low),
                       high=fmt(pooled.ci_high), pi_low=fmt(pooled.pi_low), pi_high=fmt(pooled.pi_high),
                       level=tb.fmt_number(100 * level, 0)))
    return lines


#: The numbers of a headline row that rest on its respondents (blanked when the row is suppressed).
_ESTIMATES = ("baseline", "estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high", "p_adjusted",
              "pct_of_baseline", "std_effect", "std_ci_low", "std_ci_high", "headcount", "headcount_low",
              "headcount_high", "ruled_out")
#: A variable code in parentheses inside prose (``（p_adjusted）``): dropped from the summary's notes.
_CODE_IN_PROSE = re.compile(r"\s*[（(]\s*[a-z]+(?:_[a-z0-9]+)+\s*[)）]")


def gated_summary(summary, gate, min_n: int):
    """The summary with its headline rows passed through the disclosure gate (``gate_table`` on
    ``n_base``/``n_wave``): a suppressed row loses its numbers, gets evidence 0, the explanation
    ``small_cell`` and ``_suppressed=True``. The notes lose variable codes in parentheses."""
    head = summary.headline.copy()
    n_cols = [c for c in ("n_base", "n_wave") if c in head.columns]
    suppressed = pd.Series(False, index=head.index)
    if n_cols:
        values = [c for c in _ESTIMATES if c in head.columns]
        for c in values:
            head[c] = pd.to_numeric(head[c], errors="coerce").astype("float64")
        has = head["estimate"].notna() if "estimate" in head.columns else pd.Series(True, index=head.index)
        gated = gate(head, n=n_cols, min_n=min_n, value_cols=values)
        suppressed = pd.Series(np.asarray(gated.attrs.get("suppressed", suppressed), dtype=bool), index=head.index) & has
        head.loc[suppressed, values] = np.nan
        head.loc[suppressed, "evidence"] = 0
        head["explanation"] = head["explanation"].astype(object) if "explanation" in head.columns else None
        head.loc[suppressed, "explanation"] = "small_cell"
    head["_suppressed"] = suppressed
    notes = getattr(summary, "notes", None) or {}
    clean = {k: ({lk: _CODE_IN_PROSE.sub("", lv) if isinstance(lv, str) else lv for lk, lv in v.items()}
                 if isinstance(v, dict) else v) for k, v in notes.items()}
    return SimpleNamespace(effects=summary.effects, headline=head, trends=summary.trends,
                           evidence_scale=getattr(summary, "evidence_scale", None), notes=clean,
                           honest=getattr(summary, "honest", None))


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("evalkit")
    except metadata.PackageNotFoundError:  # run from a checkout without installing it
        return "0.2"


def prepare(summary, study: Study, *, lang: str, gate, min_n: int):
    """The gated summary (:func:`gated_summary`), the study's labels and the evidence level names."""
    summary = gated_summary(summary, gate, min_n)
    return summary, Labels(study, lang), _evidence_labels(getattr(summary, "evidence_scale", None), lang)


def page_context(summary, study: Study, labels: Labels, evidence: dict, pages: list[dict], *, title,
                 synthetic: bool, min_n: int, performance, withheld, data_dir, level: float) -> dict:
    """Everything the template ``templates/bureau/report.html.j2`` shows (``summary``, ``labels``,
    ``evidence`` from :func:`prepare`; ``pages`` from :func:`evalkit.publish.bureau_pages.community_pages`)."""
    lang = labels.lang
    head = summary.headline
    if head is None or not len(head):
        raise EvalkitError("the evaluation summary has no headline rows: no programme community with a target "
                           "in the registry (column target_indicators).")
    waves = pd.to_numeric(summary.effects.get("baseline_wave"), errors="coerce") if len(summary.effects) else None
    latest = int(pd.to_numeric(head["wave"], errors="coerce").max())
    first = int(waves.min()) if waves is not None and waves.notna().any() else latest
    study_title = study.codebook.title.text(lang)
    title = title or (f"{study_title}：{t('title_suffix', lang)}" if lang == "zh"
                      else f"{study_title}: {t('title_suffix', lang)}")
    hidden = set() if withheld is None or not len(withheld) else set(withheld["community_id"].astype(str))
    rows = _first_rows(summary, labels, performance, evidence, hidden)
    show_perf = performance is not None
    withheld_n = 0 if withheld is None else len(withheld)
    methods = all_notes(getattr(summary, "notes", None), lang)
    if withheld_n:
        methods.append(t("withheld_note", lang, k=withheld_n, min_n=min_n))
    methods.extend(design_lines(summary, lang, level))
    methods.append(t("appendix_pointer", lang))
    source = study_title if data_dir is None else f"{study_title}（{Path(data_dir).name}）" if lang == "zh" \
        else f"{study_title} ({Path(data_dir).name})"
    return {
        "lang": lang, "title": title, "synthetic": synthetic, "t": {k: t(k, lang) for k in TEXT if "{" not in TEXT[k][0]},
        "subtitle": t("subtitle", lang, n=len(rows), first=first, last=latest),
        "targets_header": t("col_targets", lang, wave=latest), "rows": rows, "show_perf": show_perf,
        "evidence_rules": [{"symbols": SYMBOLS.get(k, ""), "label": v[0], "rule": v[1]}
                           for k, v in sorted(evidence.items(), reverse=True)],
        "meaning": meaning_lines(summary, labels, evidence, level), "sure": sure_lines(summary, labels, level),
        "pages": pages, "methods": methods,
        "suppressed_note": t("suppressed_note", lang, min_n=min_n),
        "overview_text": t("overview_text", lang, level=tb.fmt_number(100 * level, 0)),
        "any_suppressed": any(p["table"]["suppressed"] for p in pages),
        "source": t("source_line", lang, title=source, version=_version()),
    }
