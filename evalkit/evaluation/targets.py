"""Programme targets and plain-language verdicts: what each community set out to change, the
estimates for exactly those targets, and how sure the estimates let us be.

* :func:`target_domain`, :func:`target_name`, :func:`targeted_indicators` -- the programme
  theory of the registry (``indicator@group`` targets) as estimation domains.
* :func:`target_estimates` -- design-based means and per-community DiD for every target, each in
  its own group.
* :func:`certainty`, :func:`verdict` -- an effect estimate in plain words (improved / worsened /
  no clear change, with its interval and p-value).
* :func:`leave_one_out_summary` -- does an estimate hinge on one community?
* :func:`sample_sizes` -- respondents by community and wave, in registry order.

Everything here computes or words evaluation results; displaying them (figures, notebook
sections, the report) is :mod:`evalkit.publish`.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from ..spec.study import Roles, resolve

#: ASCII characters with a meaning in Markdown or inline HTML (CommonMark escapes any ASCII punctuation).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>&$~:\"'=])")
#: Line and paragraph breaks (also Unicode ones), which would start a new Markdown block.
_MD_BREAK = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")


def md_text(text) -> str:
    """A string from data, a registry, a codebook or a file name, safe inside Markdown text.

    Line breaks become spaces (a name cannot start a heading, list or table row) and every
    ASCII punctuation character with a meaning in Markdown or HTML is backslash-escaped, so
    ``<script>``, ``**``, ``|``, backticks and ``$`` are shown as typed, never interpreted.

    Examples
    --------
    >>> md_text("Anning\\n# 结论 <b>")
    'Anning \\\\# 结论 \\\\<b\\\\>'
    """
    return _MD_SPECIAL.sub(r"\\\1", _MD_BREAK.sub(" ", str(text)))

__all__ = [
    "CERTAINTY",
    "certainty",
    "format_effect",
    "format_p",
    "leave_one_out_summary",
    "sample_sizes",
    "target_domain",
    "target_estimates",
    "target_name",
    "targeted_indicators",
    "verdict",
]


def sample_sizes(df: pd.DataFrame, registry: pd.DataFrame | None = None, *, study=None) -> pd.DataFrame:
    """Respondents by community and wave, communities in registry order with their names.

    Parameters
    ----------
    df
        Respondent-level data.
    registry
        The community registry; default ``study.registry``.
    study
        :class:`evalkit.Study`: its registry and the names of the community and wave columns
        (``study.roles``; default ``community_id`` and ``wave``).

    Returns
    -------
    DataFrame
        ``community_id, name_zh, name_pinyin, role, start_year`` and one column per wave, plus
        ``total``; a last row ``total`` sums each wave. Counts only: no respondent-level data.
    """
    _, reg = resolve(None, registry, study, "sample_sizes", codebook_required=False)
    if reg is None:
        raise EvalkitError("sample_sizes needs the community registry: pass registry=load_communities(path) "
                           "or study=Study.from_files(codebook, registry).")
    roles = study.roles if study is not None else Roles()
    counts = pd.crosstab(df[roles.community].astype(str), df[roles.wave]).rename_axis(
        index="community_id", columns=None)
    counts.columns = [str(c) for c in counts.columns]
    info = reg[["community_id", "name_zh", "name_pinyin", "role", "start_year"]]
    out = info.merge(counts, left_on="community_id", right_index=True, how="right")
    order = {c: i for i, c in enumerate(reg["community_id"])}
    out = out.sort_values("community_id", key=lambda s: s.map(order).fillna(len(order)))
    waves = list(counts.columns)
    out[waves] = out[waves].astype("int64")
    out["total"] = out[waves].sum(axis=1)
    total = {"community_id": "total", "name_zh": "合计", "name_pinyin": "total", "role": "",
             **{w: int(out[w].sum()) for w in waves + ["total"]}}
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def target_domain(group: str | None, codebook=None) -> dict[str, list[str]] | None:
    """The ``domain=`` mapping for an ``indicator@group`` programme target, or ``None``.

    ``group`` is a codebook group (``elderly``, ``child``, ``adults`` ...: its roles) or a single
    respondent role. ``target_domain("elderly")`` is ``{"role": ["elderly"]}``, the argument
    :func:`evalkit.community_effects` and :func:`evalkit.leave_one_out` take to estimate within
    that role.
    """
    if group is None or (isinstance(group, float) and pd.isna(group)) or str(group) == "":
        return None
    if codebook is not None and str(group) in getattr(codebook, "groups", {}):
        return {"role": list(codebook.groups[str(group)].roles)}
    return {"role": [str(group)]}


def target_name(indicator: str, group: str | None) -> str:
    """``"ucla3@elderly"`` for a group-targeted indicator, else the indicator name."""
    return indicator if target_domain(group) is None else f"{indicator}@{group}"


def targeted_indicators(targets: pd.DataFrame, registry: pd.DataFrame, codebook=None) -> pd.DataFrame:
    """The programme theory by indicator: who targets it, and the domain to estimate it on.

    Parameters
    ----------
    targets
        :func:`evalkit.programme_targets` output (``community_id, indicator, group``).
    registry
        The community registry (roles and start years).
    codebook
        Optional: maps a target group to its roles (else the group is taken as a role).

    Returns
    -------
    DataFrame
        One row per targeted ``indicator`` and ``group`` in the order the registry names them:
        ``target`` (``indicator`` or ``indicator@group``), ``indicator``, ``group``,
        ``communities`` (tuple of the programme communities that target it), ``start_years``
        (their start years), ``n_communities``, ``primary`` (it is the first-named target of at
        least one of them) and ``domain``: ``{"community_id": [targeting and comparison
        communities], "role": [...]}`` — the rows an estimate of *this programme theory* uses
        (programme communities that did not target the indicator are left out, not counted as
        comparisons).
    """
    reg = registry.set_index("community_id")
    comparison = [str(c) for c in reg.index[reg["role"] == "comparison"]]
    firsts = {target_name(i, g) for i, g in targets.drop_duplicates("community_id")[["indicator", "group"]]
              .itertuples(index=False)}
    rows: dict[str, dict] = {}
    for cid, ind, grp in targets[["community_id", "indicator", "group"]].itertuples(index=False):
        grp = None if target_domain(grp) is None else str(grp)
        name = target_name(ind, grp)
        row = rows.setdefault(name, {"target": name, "indicator": ind, "group": grp, "communities": [],
                                     "primary": False})
        row["communities"].append(str(cid))
        row["primary"] = name in firsts
    out = []
    for row in rows.values():
        comms = tuple(row["communities"])
        domain = {"community_id": [*comms, *comparison], **(target_domain(row["group"], codebook) or {})}
        out.append({**row, "communities": comms,
                    "start_years": tuple(int(reg.loc[c, "start_year"]) for c in comms),
                    "n_communities": len(comms), "domain": domain})
    cols = ["target", "indicator", "group", "communities", "start_years", "n_communities", "primary", "domain"]
    return pd.DataFrame(out, columns=cols)


def leave_one_out_summary(loo: pd.DataFrame, by: str = "target") -> pd.DataFrame:
    """One line per estimate of :func:`evalkit.leave_one_out`: does it hinge on one community?

    Parameters
    ----------
    loo
        Leave-one-out tables (``left_out, estimate, p_value, ci_low, ci_high, change``; first row
        of each estimate ``left_out = "(none)"``), stacked, with a column ``by`` naming the
        estimate (default ``target``; ``indicator`` works too).

    Returns
    -------
    DataFrame
        ``<by>, estimate, p_value, ci_low, ci_high`` (all communities), ``n_left_out`` (refits),
        ``lowest, highest`` (range of the refitted estimates), ``most_influential`` (the
        community whose removal moves the estimate most), ``largest_change`` (signed), and
        ``conclusion_holds``: every refit's 95% interval excludes zero on the same side as the
        full one, or — when the full interval includes zero — every refit's does too.
    """
    rows = []
    for key, g in loo.groupby(by, sort=False):
        full = g[g["left_out"] == "(none)"].iloc[0]
        rest = g[g["left_out"] != "(none)"]
        sig = lambda lo, hi: np.sign(lo) * (np.sign(lo) == np.sign(hi))  # noqa: E731 — +1, -1 or 0
        side = sig(full["ci_low"], full["ci_high"])
        holds = bool((sig(rest["ci_low"], rest["ci_high"]) == side).all())
        top = rest.loc[rest["change"].abs().idxmax()] if len(rest) else None
        rows.append({by: key, "estimate": full["estimate"], "p_value": full["p_value"],
                     "ci_low": full["ci_low"], "ci_high": full["ci_high"], "n_left_out": len(rest),
                     "lowest": rest["estimate"].min(), "highest": rest["estimate"].max(),
                     "most_influential": None if top is None else top["left_out"],
                     "largest_change": np.nan if top is None else top["change"],
                     "conclusion_holds": holds})
    return pd.DataFrame(rows)


def format_effect(value: float, kind: str) -> str:
    """An effect as text: percentage points for a proportion (``+23.4 pp``), else ``+0.25``."""
    return f"{100 * value:+.1f} pp" if kind == "proportion" else f"{value:+.2f}"


def format_p(p: float) -> str:
    """``p = 0.038`` (``p < 0.001`` below 0.001)."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


#: How sure the verdict is, by p-value: (upper bound, Chinese, English).
CERTAINTY = (
    (0.01, "很有把握", "strong evidence: a change this large would be very unusual without a real effect"),
    (0.05, "较有把握", "moderate evidence: probably a real change, though its size is uncertain"),
    (0.10, "把握不足", "weak evidence: suggestive, not enough to conclude"),
    (1.01, "无法判断", "the data cannot tell this apart from no change"),
)


def certainty(p_value: float) -> tuple[str, str]:
    """Plain words for how sure a p-value lets us be: ``(Chinese, English)`` (:data:`CERTAINTY`)."""
    p = float(p_value)
    if not np.isfinite(p):
        return "无法判断", "not estimable"
    return next((zh, en) for bound, zh, en in CERTAINTY if p < bound)


def verdict(effect_row, scale, *, who: str | None = None) -> tuple[str, str]:
    """Plain-language verdict on one effect estimate: ``(short verdict, sentence)``.

    ``effect_row`` has ``estimate, ci_low, ci_high, wave`` and, when present, ``p_value`` and
    ``event_time`` (a row of :func:`evalkit.community_effects`); ``scale`` is the codebook's scale
    (its ``higher_is`` says which direction is good, its ``kind`` whether the effect is in
    percentage points); ``who`` names the group it was estimated in (e.g. "residents aged 60+").
    The verdict reads the 95% interval: *improved* / *worsened* when it lies on one side of zero,
    *no clear change* otherwise; the sentence adds the p-value and how sure that lets us be
    (:func:`certainty`).
    """
    est, lo, hi = float(effect_row["estimate"]), float(effect_row["ci_low"]), float(effect_row["ci_high"])
    good_up = getattr(scale, "higher_is", "better") == "better"
    kind = getattr(scale, "kind", "mean")
    if lo > 0 or hi < 0:
        better = (lo > 0) == good_up
        short = "改善 improved" if better else "变差 worsened"
    else:
        short = "无明显变化 no clear change"
    name = md_text(scale.label.zh + " · " + scale.label.en + (f" ({who})" if who else ""))
    when = f"{int(effect_row['wave'])}"
    if "event_time" in effect_row and pd.notna(effect_row["event_time"]):
        when += f", year {int(effect_row['event_time']) + 1} of the programme"
    if "p_value" in effect_row and pd.notna(effect_row["p_value"]):
        zh, en = certainty(effect_row["p_value"])
        sure = f"; {format_p(float(effect_row['p_value']))}) — {zh} · {en}"
    else:
        sure = ")"
    sentence = (f"**{name}** — {when}: {format_effect(est, kind)} "
                f"(95% CI {format_effect(lo, kind)} to {format_effect(hi, kind)}{sure} → **{short}**")
    return short, sentence


def target_estimates(design, targets: pd.DataFrame, registry: pd.DataFrame, codebook=None, *,
                     by: Sequence[str] = ("community_id", "wave")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Means and per-community DiD for every programme target, each within its own group.

    For each distinct ``indicator@group`` of ``targets`` (:func:`evalkit.programme_targets`) the
    design-based means by community × wave and :func:`evalkit.community_effects` are computed on
    the target's domain (:func:`target_domain`: e.g. Mingyue's ``ucla3@elderly`` among residents
    60+ only, in every community, so the comparison is like with like).

    Returns
    -------
    (DataFrame, DataFrame)
        ``table``: :meth:`SurveyDesign.mean` rows (``community_id, wave, indicator, estimate, se,
        ..., ci_low, ci_high, n, ...``) plus ``target``; ``effects``: ``community_effects`` rows
        plus ``target``, and in ``effects.attrs["explanations"]`` every programme community × wave
        × target without a row and why (:func:`evalkit.community_effects`, each also warned).
    """
    import warnings

    from ..errors import DroppedUnitsWarning
    from .comparison import community_effects

    tables, effects, why = [], [], []
    data = design.data
    pairs = targets[["indicator", "group"]].astype(object).drop_duplicates()
    for ind, grp in pairs.itertuples(index=False):
        dom = target_domain(grp, codebook)
        name = target_name(ind, grp)
        inside = np.ones(len(data), bool)
        for col, values in (dom or {}).items():
            inside &= data[col].isin(list(values)).to_numpy()
        if ind not in data.columns or not (pd.to_numeric(data[ind], errors="coerce").notna().to_numpy()
                                           & inside).any():
            who = targets.loc[(targets["indicator"] == ind), "community_id"].astype(str)
            why += [{"community_id": c, "wave": None, "indicator": ind, "explanation": "not_measured",
                     "message": f"the survey does not measure {ind!r}" + (f" among {grp}" if dom else ""),
                     "target": name} for c in pd.unique(who)]
            continue
        sub = design if dom is None else design.subset(inside)
        tables.append(sub.mean(ind, by=list(by)).assign(target=name))
        eff = community_effects(design, ind, registry=registry, domain=dom)
        mine = set(targets.loc[targets["indicator"] == ind, "community_id"].astype(str))
        why += [{**r, "target": name} for r in eff.attrs.get("explanations", ()) if r["community_id"] in mine]
        eff.attrs = {}
        effects.append(eff.assign(target=name))
    unmeasured = sorted({f"{r['target']} ({r['community_id']})" for r in why if r["explanation"] == "not_measured"})
    if unmeasured:
        warnings.warn(DroppedUnitsWarning(
            f"The survey does not measure the programme target(s) {', '.join(unmeasured)} (no such column, or "
            "nobody in the target group of that community answered): they have no estimates; "
            "effects.attrs['explanations'] lists them."), stacklevel=2)
    if not effects:
        raise EvalkitError("target_estimates: the survey measures none of the programme targets "
                           f"({', '.join(unmeasured)}); check the registry's target_indicators against the "
                           "scored survey's columns.")
    out = pd.concat(effects, ignore_index=True)
    out.attrs["explanations"] = tuple(why)
    return pd.concat(tables, ignore_index=True), out
