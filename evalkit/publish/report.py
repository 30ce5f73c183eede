"""The evaluation report: execute the notebooks and write one self-contained HTML file.

``python -m evalkit report`` calls :func:`build_report`, which executes the numbered notebooks of
``notebooks/`` (in memory: the committed notebooks are never modified), joins them into one
document without code cells, with figures embedded as base64 images, a table of contents built
from the headings and a data-and-methods appendix (data checksums, package versions, the seed),
and writes ``reports/evalkit_report.html``. With ``community="mingyue"`` it also renders
``03_community_profiles`` for that community alone (``reports/community_mingyue.html``), for
handing to the community's social-work organisation.

The module also holds the few helpers the notebooks share so that their code cells stay short:
:func:`setup_notebook` (deterministic display options, warnings without file paths, the figure
font) and :func:`problems_table` (the validation problems without identifying values).
"""
from __future__ import annotations

import copy
import hashlib
import platform
import re
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .._literals import Language, check_choice
from ..errors import EvalkitError, FontFallbackWarning
from .disclosure import assert_no_personal_data

__all__ = [
    "NOTEBOOKS",
    "REPORT_NOTEBOOKS",
    "build_report",
    "data_checksums",
    "execute_notebook",
    "inject_parameters",
    "package_versions",
    "problems_table",
    "render_html",
    "sample_sizes",
    "setup_notebook",
    "certainty",
    "community_profile",
    "leave_one_out_summary",
    "target_estimates",
    "target_domain",
    "target_name",
    "targeted_indicators",
    "verdict",
]

#: The numbered notebooks, in reading order.
NOTEBOOKS: tuple[str, ...] = (
    "00_quickstart", "01_indicators", "02_programme_impact", "03_community_profiles",
    "04_robustness", "05_your_data",
)
#: The notebooks that make up the evaluation report: all of them (05, the how-to for an
#: evaluator's own data, ends the report as its worked example on a platform export).
REPORT_NOTEBOOKS: tuple[str, ...] = NOTEBOOKS
PROFILE_NOTEBOOK = "03_community_profiles"

_ROOT = Path(__file__).resolve().parents[2]
_TEMPLATES = Path(__file__).resolve().parent / "templates"
_PACKAGES = ("evalkit", "numpy", "scipy", "pandas", "statsmodels", "matplotlib", "PyYAML",
             "nbclient", "nbconvert", "nbformat", "ipykernel")



# --------------------------------------------------------------------------------------------
# notebook helpers
# --------------------------------------------------------------------------------------------
def _format_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as ``Category: message`` — no file paths or line numbers, which differ by machine."""
    return f"{category.__name__}: {message}\n"


class _WarningText:
    """An evalkit warning as notebook output: plain text, highlighted in HTML like stderr was."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        import html

        return ('<pre class="evalkit-warning" style="background:#fff8e6;padding:0.3em 0.5em;'
                f'white-space:pre-wrap">{html.escape(self.text)}</pre>')


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (a notebook), where output can be displayed."""
    try:
        from IPython import get_ipython
    except ImportError:  # IPython not installed: not a notebook
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` of a notebook: evalkit's warnings are output, the rest stderr.

    Warnings readers should see (:class:`~evalkit.errors.EvalkitWarning` and subclasses) become
    evalkit text: displayed in a notebook (``text/plain`` ``Category: message`` and highlighted
    HTML), printed to stdout elsewhere, so no stored notebook output is a stderr stream. Other
    libraries' warnings depend on their versions and go to stderr as ``Category: message``.
    """
    import sys

    from ..errors import EvalkitWarning

    text = _format_warning(message, category, filename, lineno, line)
    if not issubclass(category, EvalkitWarning):
        (file or sys.stderr).write(text)
    elif _in_kernel():
        from IPython.display import display

        display(_WarningText(text.rstrip("\n")))
    else:
        sys.stdout.write(text)


def _setup_figures() -> None:
    """Inline PNG figures without software metadata in a notebook; fixed size and resolution."""
    import matplotlib

    if _in_kernel():  # always the inline backend (also under MPLBACKEND=Agg, as in CI)
        from IPython import get_ipython
        import matplotlib_inline.backend_inline as inline

        get_ipython().run_line_magic("matplotlib", "inline")
        inline.InlineBackend.instance().print_figure_kwargs.update(
            {"bbox_inches": "tight", "metadata": {"Software": None}})
    rc = matplotlib.rcParams
    rc["figure.figsize"] = (8.0, 4.5)
    rc["figure.dpi"] = 100
    rc["savefig.dpi"] = 100
    rc["svg.hashsalt"] = "evalkit"  # fixed SVG element ids
    rc["pdf.compression"] = 6


def setup_notebook(lang: Language = "zh", *, seed: int | None = None) -> int:
    """Make a notebook's output deterministic and its figures readable; return the seed.

    Sets fixed pandas display options (precision 3, at most 60 rows and 30 columns, width 120),
    fixes matplotlib's figure size and resolution, strips date and software metadata from saved
    figures, selects the figure fonts (:func:`evalkit.publish.style.use_cjk_font`: DejaVu Sans for Latin
    text, a CJK font for Chinese) and sets the label language.

    Warnings: evalkit's own (:class:`~evalkit.errors.EvalkitWarning`), which readers should see,
    are shown as notebook output ``Category: message`` (displayed text, not stderr); other
    libraries' warnings go to stderr as ``Category: message`` (no file paths). So a stored
    notebook holds no stderr stream, whose presence would depend on library versions or fonts.

    Prints one line saying how figure labels are written: ``figure labels: Chinese (font: ...)``,
    or, when no CJK font is installed, ``figure labels: pinyin.`` with the
    :class:`~evalkit.errors.FontFallbackWarning` text. It is the only output that depends on the
    machine's fonts; nbval's sanitize file (``notebooks/sanitize.cfg``) masks it.

    Returns
    -------
    int
        The seed the notebook passes to every random step (``evalkit.datasets.simulate.SEED`` by default).
    """
    from . import style as fonts
    from ..datasets.simulate import SEED

    lang = check_choice(lang, Language, "lang")
    pd.set_option("display.precision", 3)
    pd.set_option("display.max_rows", 60)
    pd.set_option("display.min_rows", 20)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 120)
    pd.set_option("display.max_colwidth", 80)
    warnings.formatwarning = _format_warning
    warnings.showwarning = _show_warning
    _setup_figures()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FontFallbackWarning)
        font = fonts.use_cjk_font()
    fonts.set_language(lang)
    if font is not None:
        print(f"figure labels: {'Chinese' if lang == 'zh' else 'English'} (font: {font})")
    else:
        msg = "; ".join(str(w.message) for w in caught if issubclass(w.category, FontFallbackWarning))
        print(f"figure labels: pinyin. FontFallbackWarning: {msg}".rstrip(": "))
    return int(SEED if seed is None else seed)


def problems_table(report, codebook=None) -> pd.DataFrame:
    """The problems of a validation report, safe to show: ``row, column, value, rule``.

    Values of identifier fields (codebook type ``id``: respondent and household ids, PSU) are
    withheld, so the table shows where a problem is and what rule it breaks without naming a
    respondent. ``row`` is the row number in the file as a spreadsheet shows it.
    """
    from ..spec.codebook import load_codebook

    codebook = load_codebook() if codebook is None else codebook
    ids = {name for name, var in codebook.variables.items() if var.type == "id"}
    ids |= {"name", "phone", "id_number", "address"}
    p = report.problems
    out = pd.DataFrame({
        "row": p["row"].astype("Int64"),
        "column": p["column"].astype(str),
        "value": [("‹withheld›" if c in ids else str(v)) for c, v in zip(p["column"], p["value"])],
        "rule": p["rule"].astype(str),
    })
    return out.reset_index(drop=True)


def sample_sizes(df: pd.DataFrame, registry: pd.DataFrame | None = None, *,
                 community: str = "community_id", wave: str = "wave") -> pd.DataFrame:
    """Respondents by community and wave, communities in registry order with their names.

    Returns
    -------
    DataFrame
        ``community_id, name_zh, name_pinyin, role, start_year`` and one column per wave, plus
        ``total``; a last row ``total`` sums each wave. Counts only: no respondent-level data.
    """
    from ..spec.registry import load_communities

    reg = load_communities() if registry is None else registry
    counts = pd.crosstab(df[community].astype(str), df[wave]).rename_axis(index="community_id", columns=None)
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
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    return out


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
        ``<by>, estimate, ci_low, ci_high, p_value`` (all communities), ``n_left_out`` (refits),
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
        rows.append({by: key, "estimate": full["estimate"], "ci_low": full["ci_low"],
                     "ci_high": full["ci_high"], "p_value": full["p_value"], "n_left_out": len(rest),
                     "lowest": rest["estimate"].min(), "highest": rest["estimate"].max(),
                     "most_influential": None if top is None else top["left_out"],
                     "largest_change": np.nan if top is None else top["change"],
                     "conclusion_holds": holds})
    return pd.DataFrame(rows)


def _fmt_effect(value: float, kind: str) -> str:
    return f"{100 * value:+.1f} pp" if kind == "proportion" else f"{value:+.2f}"


def _fmt_p(p: float) -> str:
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
    ``event_time`` (a row of :func:`evalkit.comparison.community_effects`); ``scale`` is the
    codebook's scale (its ``higher_is`` says which direction is good, its ``kind`` whether the
    effect is in percentage points); ``who`` names the group it was estimated in (e.g.
    "residents aged 60+"). The verdict reads the 95% interval: *improved* / *worsened* when it
    lies on one side of zero, *no clear change* otherwise; the sentence adds the p-value and
    how sure that lets us be (:func:`certainty`).
    """
    est, lo, hi = float(effect_row["estimate"]), float(effect_row["ci_low"]), float(effect_row["ci_high"])
    good_up = getattr(scale, "higher_is", "better") == "better"
    kind = getattr(scale, "kind", "mean")
    if lo > 0 or hi < 0:
        better = (lo > 0) == good_up
        short = "改善 improved" if better else "变差 worsened"
    else:
        short = "无明显变化 no clear change"
    name = scale.label.zh + " · " + scale.label.en + (f" ({who})" if who else "")
    when = f"{int(effect_row['wave'])}"
    if "event_time" in effect_row and pd.notna(effect_row["event_time"]):
        when += f", year {int(effect_row['event_time']) + 1} of the programme"
    sure = ""
    if "p_value" in effect_row and pd.notna(effect_row["p_value"]):
        zh, en = certainty(effect_row["p_value"])
        sure = f"; {_fmt_p(float(effect_row['p_value']))}) — {zh} · {en}"
    else:
        sure = ")"
    sentence = (f"**{name}** — {when}: {_fmt_effect(est, kind)} "
                f"(95% CI {_fmt_effect(lo, kind)} to {_fmt_effect(hi, kind)}{sure} → **{short}**")
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
        ``table``: :meth:`SurveyDesign.mean` rows (``community_id, wave, variable, estimate, se,
        ci_low, ci_high, n, n_eff, ...``) plus ``target``; ``effects``: ``community_effects``
        rows plus ``target``.
    """
    from ..comparison import community_effects

    tables, effects = [], []
    data = design.data
    pairs = targets[["indicator", "group"]].astype(object).drop_duplicates()
    for ind, grp in pairs.itertuples(index=False):
        dom = target_domain(grp, codebook)
        name = target_name(ind, grp)
        if dom is None:
            sub = design
        else:
            inside = np.ones(len(data), bool)
            for col, values in dom.items():
                inside &= data[col].isin(list(values)).to_numpy()
            sub = design.subset(inside)
        tables.append(sub.mean(ind, by=list(by)).assign(target=name))
        effects.append(community_effects(design, ind, registry=registry, domain=dom).assign(target=name))
    return pd.concat(tables, ignore_index=True), pd.concat(effects, ignore_index=True)


def _effects_markdown(rows: pd.DataFrame, kind: str) -> str:
    """One line per programme year: estimate, 95% CI and p (markdown table cells)."""
    cells = []
    for r in rows.itertuples(index=False):
        cells.append(f"{int(r.wave)}: {_fmt_effect(r.estimate, kind)} "
                     f"[{_fmt_effect(r.ci_low, kind)}, {_fmt_effect(r.ci_high, kind)}], {_fmt_p(r.p_value)}")
    return " · ".join(cells)


def community_profile(community: str, *, table: pd.DataFrame, effects: pd.DataFrame,
                      registry: pd.DataFrame, codebook, targets: pd.DataFrame | None = None) -> None:
    """Display one programme community's profile in a notebook.

    Shows a section heading, the programme theory from the registry (what it set out to change,
    start year, the indicators it targets and in which group), one trend figure per target (the
    community against its own baseline and the comparison communities, in the target's group,
    :func:`evalkit.publish.plots.trend_plot`), the per-community DiD for every programme year and a
    plain-language verdict per target with its 95% interval, p-value and how sure that lets us
    be (:func:`verdict`, from the latest wave).

    Parameters
    ----------
    table, effects
        :func:`target_estimates` output: means by community × wave and
        :func:`evalkit.comparison.community_effects` rows, both with a ``target`` column
        (``indicator`` or ``indicator@group``). Frames without ``target`` are matched on the
        indicator (whole population).
    """
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    from ..spec.registry import programme_targets
    from .style import tr
    from .plots import trend_plot

    reg = registry.set_index("community_id")
    if community not in reg.index or reg.loc[community, "role"] != "programme":
        raise EvalkitError(f"{community!r} is not a programme community of the registry.")
    r = reg.loc[community]
    targets = programme_targets(registry) if targets is None else targets
    mine = targets[targets["community_id"] == community]
    mine = [(i, None if target_domain(g) is None else str(g)) for i, g in
            mine[["indicator", "group"]].itertuples(index=False) if i in codebook.scales]

    def group_label(g, lang):
        if g is None:
            return ""
        lab = codebook.groups[g].label if g in codebook.groups else None
        return (getattr(lab, lang) if lab is not None else g)

    def described(i, g):
        return (f"{codebook.scales[i].label.zh} ({target_name(i, g)}"
                + (f"，{group_label(g, 'zh')}" if g else "") + ")")

    lines = [
        f"## {r['name_zh']} {r['name_pinyin']}",
        "",
        f"**项目 Programme:** {r.get('programme_zh', '')} · {r['programme_domain']}  ",
        f"**地点 Location:** {r['district']} {r['street']} ({r['urban_rural']})  ",
        f"**开始 Started:** {int(r['start_year'])}  ",
        "**项目理论 Programme theory — targeted indicators:** " + "; ".join(described(i, g) for i, g in mine),
    ]
    display(Markdown("\n".join(lines)))

    def pick(frame, i, g):
        if "target" in frame.columns:
            return frame[frame["target"] == target_name(i, g)]
        col = "indicator" if "indicator" in frame.columns else "variable"
        return frame[frame[col] == i]

    fig, axes = plt.subplots(1, len(mine), figsize=(4.2 * len(mine), 3.6), layout="constrained",
                             squeeze=False)
    for ax, (i, g) in zip(axes.flat, mine):
        lab = codebook.scales[i].label
        title = tr(lab.zh, lab.en) + (tr(f"\n（{group_label(g, 'zh')}）", f"\n({group_label(g, 'en')})") if g else "")
        trend_plot(pick(table, i, g).dropna(subset=["estimate"]), community, ax=ax,
                   registry=registry, title=title, ylabel="")
        if ax is not axes.flat[0] and ax.get_legend() is not None:
            ax.get_legend().remove()  # one legend per row of panels
    plt.show()
    per_year, sentences = [], []
    for i, g in mine:
        rows = pick(effects, i, g)
        rows = rows[(rows["community_id"] == community) & (rows["event_time"] >= 0)].sort_values("wave")
        if rows.empty:
            continue
        scale = codebook.scales[i]
        per_year.append(f"| {scale.label.zh} ({target_name(i, g)}) | {_effects_markdown(rows, scale.kind)} |")
        short, sentence = verdict(rows.iloc[-1], scale, who=group_label(g, "en") or None)
        earlier = [verdict(row, scale)[0] for _, row in rows.iloc[:-1].iterrows()]
        gone = [int(w) for w, v in zip(rows["wave"].iloc[:-1], earlier) if v != short and v.startswith("改善")]
        if gone and not short.startswith("改善"):
            sentence += (f" (earlier: improved in {', '.join(map(str, gone))} — 早期的改善没有持续 · "
                         "the earlier improvement did not last)")
        sentences.append("- " + sentence)
    display(Markdown(
        "**逐年效应 Effect in each programme year** (DiD against the comparison communities, "
        "95% CI, p):\n\n| indicator | by year |\n|---|---|\n" + "\n".join(per_year)
        + "\n\n**结论 Verdict** (latest year; 项目社区相对对照社区的变化，与基线相比 · change "
        "against the comparison communities since the baseline):\n\n" + "\n".join(sentences)))


# --------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------
def data_checksums(data_dir: str | Path | None = None) -> pd.DataFrame:
    """SHA-256 of the shipped data files: ``file, sha256, bytes`` (:func:`evalkit.io.manifest.checksums`)."""
    from ..io.manifest import checksums

    return checksums(data_dir)


def _checksum_line(sums: pd.DataFrame, data_dir: str | Path | None = None) -> str:
    """The appendix line citing the data.

    With ``MANIFEST.sha256`` in the data folder (:mod:`evalkit.io.manifest`): the manifest's checksum
    (:func:`evalkit.io.manifest.data_checksum`) and the result of checking every file against it —
    files that differ are named. Without a manifest: one SHA-256 over the file checksums.
    """
    from ..io import manifest
    from ..datasets import data_dir as shipped

    base = Path(data_dir) if data_dir is not None else shipped()
    if not (base / manifest.MANIFEST).is_file():
        return f"**Data checksum** (SHA-256 over the file checksums above): `{_combined_checksum(sums)}`"
    table = manifest.check_manifest(base, strict=False)
    bad = table[table["status"] != "ok"]
    state = (f"all {len(table)} files match it" if bad.empty else
             "**the data differ from it**: " + ", ".join(f"`{f}` ({st})" for f, st in zip(bad["file"], bad["status"])))
    return (f"**Data checksum** (SHA-256 of the data's `{manifest.MANIFEST}`; {state}; verify with "
            f"`python -m evalkit.io.manifest check`): `{manifest.data_checksum(base)}`")


def _combined_checksum(sums: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for f, s in zip(sums["file"], sums["sha256"]):
        h.update(f"{f}\0{s}\n".encode())
    return h.hexdigest()


def package_versions(packages: Iterable[str] = _PACKAGES) -> pd.DataFrame:
    """Versions of Python and the packages the report depends on: ``package, version``."""
    rows = [{"package": "python", "version": platform.python_version()}]
    for name in packages:
        try:
            v = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "evalkit":
                from .. import __version__ as v
            else:
                v = "not installed"
        rows.append({"package": name, "version": v})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# execution
# --------------------------------------------------------------------------------------------
def notebooks_dir() -> Path:
    """The numbered notebooks: ``notebooks/`` of a checkout, else the copy installed with evalkit."""
    places = (_ROOT / "notebooks", Path(__file__).resolve().parents[1] / "_notebooks")
    for path in places:
        if (path / f"{NOTEBOOKS[0]}.ipynb").is_file():
            return path
    raise EvalkitError(
        f"The notebooks were not found (looked in {', '.join(map(str, places))}). Reinstall evalkit "
        "(pip install evalkit) or run the report from an evalkit checkout (make report)."
    )


def inject_parameters(nb, parameters: dict) -> None:
    """Insert a cell setting ``parameters`` after the cell tagged ``parameters`` (papermill style).

    The new cell is tagged ``injected-parameters``; values are written with ``repr``.
    """
    import nbformat

    if not parameters:
        return
    idx = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if idx is None:
        raise EvalkitError("The notebook has no cell tagged 'parameters' to inject parameters after.")
    src = "# injected parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(src, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(idx + 1, cell)


def execute_notebook(path: str | Path, *, parameters: dict | None = None, cwd: str | Path | None = None,
                     timeout: int = 900, save_to: str | Path | None = None):
    """Execute a notebook in memory and return the executed copy (the file is not modified).

    Parameters
    ----------
    path
        The ``.ipynb`` file.
    parameters
        Values injected after the cell tagged ``parameters``.
    cwd
        Working directory of the kernel (default: the notebook's folder, so relative paths in it
        work as when it is opened in JupyterLab).
    save_to
        Also write the executed copy there (e.g. a temporary folder).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    nb = copy.deepcopy(nb)
    if parameters:
        inject_parameters(nb, parameters)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    client.execute()
    if save_to is not None:
        nbformat.write(nb, str(save_to))
    return nb


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------
_HEADING = re.compile(r"<h([123])(\s[^>]*)?>(.*?)</h\1>", re.S)


def _add_toc(html: str) -> str:
    """Give every h1–h3 of the cells a unique id and fill the TOC slot with links to them."""
    entries = []
    counter = 0

    def repl(m):
        nonlocal counter
        level, attrs, inner = m.group(1), m.group(2) or "", m.group(3)
        if 'class="evalkit-title"' in attrs:
            return m.group(0)
        counter += 1
        anchor = f"sec-{counter}"
        attrs = re.sub(r'\sid="[^"]*"', "", attrs)
        text = re.sub(r"<[^>]+>", "", inner).replace("¶", "").strip()
        entries.append((int(level), anchor, text))
        return f'<h{level} id="{anchor}"{attrs}>{inner}</h{level}>'

    html = _HEADING.sub(repl, html)
    parts, open_sub = [], False
    for level, anchor, text in entries:
        link = f'<a href="#{anchor}">{text}</a>'
        if level == 1:
            if open_sub:
                parts.append("</ul>")
                open_sub = False
            parts.append(("</li>" if parts else "") + f'<li class="toc-h1">{link}')
        elif level == 2:
            if not open_sub:
                parts.append("<ul>")
                open_sub = True
            parts.append(f'<li class="toc-h2">{link}</li>')
    if open_sub:
        parts.append("</ul>")
    toc = ('<nav class="evalkit-toc"><h2 class="toc-title">目录 Contents</h2><ul class="toc-top">'
           + "".join(parts) + ("</li>" if parts else "") + "</ul></nav>")
    return html.replace("<!--EVALKIT-TOC-->", toc, 1)


def _appendix_markdown(sums: pd.DataFrame, versions: pd.DataFrame, seed: int, run_seconds: dict) -> str:
    lines = [
        "# 附录：数据与方法 Appendix: data and methods",
        "",
        "**Data.** All survey answers are synthetic (generated by `evalkit.simulate`; the seven "
        "programme communities carry their real names, the seven comparison communities are "
        "fictional). Checksums of the files this report was computed from (SHA-256):",
        "",
        "| file | bytes | sha256 |",
        "|---|---:|---|",
    ]
    for f, b, s in zip(sums["file"], sums["bytes"] if "bytes" in sums else [""] * len(sums), sums["sha256"]):
        lines.append(f"| `{f}` | {b} | `{s}` |")
    lines += [
        "",
        _checksum_line(sums),
        "",
        f"**Seed** of every random step (simulation, bootstrap, permutation): `{seed}`",
        "",
        "**Methods.** Answers are validated against the codebook (`codebook.yaml`); scales are "
        "scored by their published rules; means and proportions by community and wave are "
        "design-based (stratified two-stage sample, design weights, Taylor linearisation, as R's "
        "`survey` package). Programme effects are estimated by difference-in-differences against "
        "the never-treated comparison communities: per community with sampling and "
        "community-shock variance (Ferman & Pinto 2019), and pooled by staggered DiD (Callaway & "
        "Sant'Anna 2021, as R's `did`) with randomization inference; with seven treated "
        "communities, headline inference never uses normal critical values. Tables show "
        "aggregates only; identifying values in problem tables are withheld.",
        "",
        "**Software.**",
        "",
        "| package | version |",
        "|---|---|",
    ]
    lines += [f"| {p} | {v} |" for p, v in zip(versions["package"], versions["version"])]
    lines += ["", "**Notebooks executed** for this report: "
              + ", ".join(f"`{k}.ipynb`" for k in run_seconds) + "."]
    return "\n".join(lines)


def render_html(notebooks: Sequence, *, title: str, subtitle: str = "", appendix: str | None = None,
                lang: str = "zh-CN") -> str:
    """Join executed notebooks into one self-contained HTML document without code cells.

    Code inputs and prompts are left out, figures are embedded as base64 PNG, the template loads
    no script from the web, headings get a table of contents, and ``appendix`` (markdown) is
    added at the end. Raises :class:`PersonalDataError` if the text shows personal data.
    """
    import nbformat
    from nbconvert import HTMLExporter

    if not notebooks:
        raise EvalkitError("render_html: no notebooks to render.")
    merged = nbformat.v4.new_notebook()
    merged.metadata = copy.deepcopy(dict(notebooks[0].metadata))
    merged.metadata.pop("papermill", None)
    merged.metadata["evalkit"] = {"title": title, "subtitle": subtitle}
    merged.metadata["title"] = title
    for nb in notebooks:
        for cell in nb.cells:
            tags = cell.get("metadata", {}).get("tags", [])
            if "remove-cell" in tags or "injected-parameters" in tags:
                continue
            if cell.cell_type == "code" and ("parameters" in tags or "setup" in tags):
                continue
            merged.cells.append(copy.deepcopy(cell))
    if appendix:
        merged.cells.append(nbformat.v4.new_markdown_cell(appendix))
    exporter = HTMLExporter(template_name="evalkit_report", extra_template_basedirs=[str(_TEMPLATES)],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(merged, resources={"language_code": lang})
    body = _add_toc(body)
    assert_no_personal_data(body, source="the report")
    return body


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------
def build_report(out_dir: str | Path = "reports", community: str | None = None,
                 progress: Callable[[str], None] | None = print, *,
                 notebooks: Sequence[str] | None = None) -> list[Path]:
    """Execute the notebooks and write the HTML evaluation report; return the written paths.

    Parameters
    ----------
    out_dir
        Output folder (created if needed).
    community
        Also render ``03_community_profiles`` for this programme community alone, as
        ``community_<id>.html``.
    progress
        Called with one line of text per step (``print`` by default; ``None`` for silence).
    notebooks
        Names of the notebooks to include (default :data:`REPORT_NOTEBOOKS`, those present).

    Returns
    -------
    list of Path
        ``<out_dir>/evalkit_report.html`` and, with ``community``, ``<out_dir>/community_<id>.html``.
    """
    say = progress or (lambda _msg: None)
    nb_dir = notebooks_dir()
    names = list(notebooks or REPORT_NOTEBOOKS)
    present = [n for n in names if (nb_dir / f"{n}.ipynb").is_file()]
    if not present:
        raise EvalkitError(f"No notebooks found in {nb_dir} (looked for {names}).")
    if community is not None:
        from ..spec.registry import load_communities

        reg = load_communities()
        programme = list(reg.loc[reg["role"] == "programme", "community_id"])
        if community not in programme:
            raise EvalkitError(
                f"community={community!r} is not a programme community of the registry; use one of: "
                + ", ".join(programme) + "."
            )
        if not (nb_dir / f"{PROFILE_NOTEBOOK}.ipynb").is_file():
            raise EvalkitError(f"notebooks/{PROFILE_NOTEBOOK}.ipynb is missing; cannot render a community profile.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from ..datasets.simulate import SEED

    from ..io import manifest
    from ..datasets import data_dir as shipped

    if (shipped() / manifest.MANIFEST).is_file():  # the data must match the manifest the report cites
        say(manifest.verify_data())
    sums = data_checksums()
    versions = package_versions()
    executed, seconds = [], {}
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="evalkit-report-") as tmp:
        for k, name in enumerate(present, 1):
            say(f"[{k}/{len(present)}] running notebooks/{name}.ipynb ...")
            t0 = time.perf_counter()
            executed.append(execute_notebook(nb_dir / f"{name}.ipynb", cwd=nb_dir,
                                             save_to=Path(tmp) / f"{name}.ipynb"))
            seconds[name] = time.perf_counter() - t0
            say(f"      done in {seconds[name]:.1f} s")
        say("writing the HTML report ...")
        appendix = _appendix_markdown(sums, versions, SEED, seconds)
        html = render_html(
            executed,
            title="东营市社区治理服务项目评估报告 · Dongying community-governance programme evaluation",
            subtitle="七个项目社区，2014年基线与2015–2017年三个项目年度 · seven programme communities, "
                     "2014 baseline and the programme years 2015–2017 (synthetic data)",
            appendix=appendix,
        )
        path = out / "evalkit_report.html"
        path.write_text(html, encoding="utf-8")
        written.append(path)
        say(f"wrote {path} ({len(html) // 1024} KB)")
        if community is not None:
            say(f"running notebooks/{PROFILE_NOTEBOOK}.ipynb for community={community!r} ...")
            nb = execute_notebook(nb_dir / f"{PROFILE_NOTEBOOK}.ipynb", cwd=nb_dir,
                                  parameters={"community": community},
                                  save_to=Path(tmp) / f"{PROFILE_NOTEBOOK}_{community}.ipynb")
            from .style import label

            html = render_html(
                [nb],
                title=f"{label(community, 'zh')} 项目评估 · {label(community, 'en')} programme evaluation",
                subtitle="东营市社区治理服务项目（合成数据） · Dongying community-governance programme (synthetic data)",
                appendix=_appendix_markdown(sums, versions, SEED, {PROFILE_NOTEBOOK: 0.0}),
            )
            path = out / f"community_{community}.html"
            path.write_text(html, encoding="utf-8")
            written.append(path)
            say(f"wrote {path} ({len(html) // 1024} KB)")
    return written
