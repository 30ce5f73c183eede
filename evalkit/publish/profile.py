"""A programme community's profile in a notebook: programme theory, trends, effects, verdicts.

:func:`community_profile` displays one section per programme community (``03_community_profiles``
and the community pages of the report): the programme theory from the registry, one trend figure
per target, the per-community DiD for every programme year and a plain-language verdict
(:func:`evalkit.evaluation.targets.verdict`).
"""
from __future__ import annotations

import pandas as pd

from ..errors import EvalkitError
from ..evaluation.targets import format_effect, format_p, md_text, target_domain, target_name, verdict
from ..spec.registry import programme_targets
from ..spec.study import resolve

__all__ = ["community_profile"]


def _effects_markdown(rows: pd.DataFrame, kind: str) -> str:
    """One line per programme year: estimate, 95% CI and p (markdown table cells)."""
    cells = []
    for r in rows.itertuples(index=False):
        cells.append(f"{int(r.wave)}: {format_effect(r.estimate, kind)} "
                     f"[{format_effect(r.ci_low, kind)}, {format_effect(r.ci_high, kind)}], {format_p(r.p_value)}")
    return " · ".join(cells)


def community_profile(community: str, *, table: pd.DataFrame, effects: pd.DataFrame,
                      registry: pd.DataFrame | None = None, codebook=None, targets: pd.DataFrame | None = None,
                      study=None) -> None:
    """Display one programme community's profile in a notebook.

    Shows a section heading, the programme theory from the registry (what it set out to change,
    start year, the indicators it targets and in which group), one trend figure per target (the
    community against its own baseline and the comparison communities, in the target's group,
    :func:`evalkit.publish.plots.trend_plot`), the per-community DiD for every programme year and a
    plain-language verdict per target with its 95% interval, p-value and how sure that lets us
    be (:func:`evalkit.evaluation.targets.verdict`, from the latest wave).

    Parameters
    ----------
    table, effects
        :func:`evalkit.evaluation.targets.target_estimates` output: means by community × wave and
        :func:`evalkit.community_effects` rows, both with a ``target`` column (``indicator`` or
        ``indicator@group``). Frames without ``target`` are matched on ``indicator`` (whole
        population).
    registry, codebook
        The community registry and the codebook (default: those of ``study``).
    targets
        :func:`evalkit.programme_targets` rows (default: all of the registry's).
    """
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    codebook, registry = resolve(codebook, registry, study, "community_profile")
    if registry is None:
        raise EvalkitError("community_profile needs the community registry: registry=... or study=....")
    reg = registry.set_index("community_id")
    if community not in reg.index or reg.loc[community, "role"] != "programme":
        raise EvalkitError(f"{community!r} is not a programme community of the registry.")
    targets = programme_targets(registry) if targets is None else targets
    mine = targets[targets["community_id"] == community]
    mine = [(i, None if target_domain(g) is None else str(g)) for i, g in
            mine[["indicator", "group"]].itertuples(index=False) if i in codebook.scales]
    display(Markdown(_heading(reg.loc[community], mine, codebook)))
    _trend_figures(community, mine, table, registry, codebook)
    plt.show()
    display(Markdown(_effects_and_verdicts(community, mine, effects, codebook)))


def _group_label(codebook, g, lang: str) -> str:
    if g is None:
        return ""
    lab = codebook.groups[g].label if g in codebook.groups else None
    return getattr(lab, lang) if lab is not None else g


def _pick(frame: pd.DataFrame, i: str, g) -> pd.DataFrame:
    """The rows of one target: by ``target`` when the frame has it, else by ``indicator``."""
    if "target" in frame.columns:
        return frame[frame["target"] == target_name(i, g)]
    return frame[frame["indicator"] == i]


def _heading(r: pd.Series, mine: list, codebook) -> str:
    """Section heading and programme theory of one community (markdown)."""
    def described(i, g):
        return md_text(f"{codebook.scales[i].label.zh} ({target_name(i, g)}"
                       + (f"，{_group_label(codebook, g, 'zh')}" if g else "") + ")")

    def field(key):
        return md_text(r.get(key, ""))

    return "\n".join([
        f"## {field('name_zh')} {field('name_pinyin')}",
        "",
        f"**项目 Programme:** {field('programme_zh')} · {field('programme_domain')}  ",
        f"**地点 Location:** {field('district')} {field('street')} ({field('urban_rural')})  ",
        f"**开始 Started:** {int(r['start_year'])}  ",
        "**项目理论 Programme theory — targeted indicators:** " + "; ".join(described(i, g) for i, g in mine),
    ])


def _trend_figures(community: str, mine: list, table: pd.DataFrame, registry, codebook) -> None:
    """One trend panel per target, one legend per row of panels."""
    import matplotlib.pyplot as plt

    from .plots import trend_plot
    from .style import tr

    _, axes = plt.subplots(1, len(mine), figsize=(4.2 * len(mine), 3.6), layout="constrained",
                             squeeze=False)
    for ax, (i, g) in zip(axes.flat, mine):
        lab = codebook.scales[i].label
        title = tr(lab.zh, lab.en) + (tr(f"\n（{_group_label(codebook, g, 'zh')}）",
                                         f"\n({_group_label(codebook, g, 'en')})") if g else "")
        trend_plot(_pick(table, i, g).dropna(subset=["estimate"]), community, ax=ax,
                   registry=registry, title=title, ylabel="")
        if ax is not axes.flat[0] and ax.get_legend() is not None:
            ax.get_legend().remove()


def _effects_and_verdicts(community: str, mine: list, effects: pd.DataFrame, codebook) -> str:
    """The per-year effects table and the verdict sentences (markdown)."""
    per_year, sentences = [], []
    for i, g in mine:
        rows = _pick(effects, i, g)
        rows = rows[(rows["community_id"] == community) & (rows["event_time"] >= 0)].sort_values("wave")
        if rows.empty:
            continue
        scale = codebook.scales[i]
        per_year.append(f"| {md_text(f'{scale.label.zh} ({target_name(i, g)})')} | "
                        f"{_effects_markdown(rows, scale.kind)} |")
        short, sentence = verdict(rows.iloc[-1], scale, who=_group_label(codebook, g, "en") or None)
        earlier = [verdict(row, scale)[0] for _, row in rows.iloc[:-1].iterrows()]
        gone = [int(w) for w, v in zip(rows["wave"].iloc[:-1], earlier) if v != short and v.startswith("改善")]
        if gone and not short.startswith("改善"):
            sentence += (f" (earlier: improved in {', '.join(map(str, gone))} — 早期的改善没有持续 · "
                         "the earlier improvement did not last)")
        sentences.append("- " + sentence)
    return ("**逐年效应 Effect in each programme year** (DiD against the comparison communities, "
            "95% CI, p):\n\n| indicator | by year |\n|---|---|\n" + "\n".join(per_year)
            + "\n\n**结论 Verdict** (latest year; 项目社区相对对照社区的变化，与基线相比 · change "
            "against the comparison communities since the baseline):\n\n" + "\n".join(sentences))
