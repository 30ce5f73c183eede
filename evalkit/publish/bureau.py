"""The bureau report: the answer on the first screen, one page per community, in one language.

:func:`build_bureau_report` turns the validated, scored survey into the report a civil-affairs
bureau reads: the disclosure gate first (small community × wave cells leave the data before any
number is computed), then the evaluation summary (:func:`evalkit.evaluation.summary.summarise`,
computed once), then Jinja2 templates (``templates/bureau/``, autoescaped: every string from the
data, registry or codebook is escaped by construction). No notebook is executed.

The page: a red banner when the data are synthetic; a seven-row table (community, programme,
start year, each target's change in plain units with its evidence level, cost and score when a
performance table is given) with the evidence rule under it; three lines of what this means and
two of how sure; then one page per community (page break in print) with the programme, the target
population, each target's change with its interval and headcount, a figure per target and the
limitations; the methods in prose (the few-cluster method and the multiple-testing adjustment in
one sentence each, never a warning box). A Content-Security-Policy forbids scripts, and the
written page passes :func:`evalkit.publish.render.check_no_script` and the disclosure check.

Words are in :mod:`evalkit.publish.i18n`, number formatting in :mod:`evalkit.publish.tables`,
the page structure in :mod:`evalkit.publish.bureau_context`, printing in :mod:`evalkit.publish.pdf`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pandas as pd

from ..errors import EvalkitError
from ..spec.study import Study
from . import bureau_context as ctx
from . import disclosure
from .bureau_findings import payment_line, report_findings, withheld_communities
from .bureau_pages import community_pages, overview_figure
from .i18n import HTML_LANG, check_lang
from .render import check_no_script

__all__ = ["build_bureau_report", "render_bureau_html", "MIN_N"]

_TEMPLATES = Path(__file__).resolve().parent / "templates" / "bureau"

#: The disclosure gate of every publishing path (contract C5): cells under ``min_n`` respondents.
MIN_N = disclosure.MIN_N


def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render_bureau_html(summary, study: Study, *, lang: str = "zh", title: str | None = None,
                       synthetic: bool = False, min_n: int = MIN_N, performance: pd.DataFrame | None = None,
                       withheld: pd.DataFrame | None = None, data_dir=None, level: float = 0.95) -> str:
    """The bureau report of an evaluation summary as one self-contained HTML page (not written).

    Parameters are those of :func:`build_bureau_report`; ``summary`` is the
    :class:`~evalkit.evaluation.summary.EvaluationSummary` (or an object with its ``effects``,
    ``headline``, ``trends``, ``evidence_scale`` and ``notes``), ``withheld`` the disclosure gate's
    withheld cells.
    """
    lang = check_lang(lang)
    detail = getattr(performance, "detail", None)  # a PerformanceEvaluation: its table and per-community detail
    found = report_findings(performance, withheld)  # its problems and required fixes, gated
    performance = getattr(performance, "projects", performance)
    summary, labels, evidence = ctx.prepare(summary, study, lang=lang, gate=disclosure.gate_table, min_n=min_n)
    if found is not None:  # only the communities that have a page in this report
        found = found[found["community_id"].isin(summary.headline["community_id"].astype(str))]
    pages = community_pages(summary, labels, performance=performance, evidence=evidence, level=level,
                            synthetic=synthetic, detail=detail, findings=found,
                            withheld=withheld_communities(withheld))
    context = ctx.page_context(summary, study, labels, evidence, pages, title=title, synthetic=synthetic,
                               min_n=min_n, performance=performance, withheld=withheld, data_dir=data_dir,
                               level=level)
    context["payment_line"] = payment_line(found, labels.community, lang)
    context["overview"] = overview_figure(summary, labels, level=level)
    html = _environment().get_template("report.html.j2").render(html_lang=HTML_LANG[lang], **context)
    check_no_script(html, page=context["title"])
    disclosure.assert_publishable(html, source=f"the bureau report ({lang})", min_n=min_n)
    return html


def build_bureau_report(survey: pd.DataFrame, study: Study, *, out_dir: str | Path, lang: str = "zh",
                        pdf: bool = False, data_dir: str | Path | None = None, title: str | None = None,
                        synthetic: bool = False, min_n: int = MIN_N, performance: pd.DataFrame | None = None,
                        summary=None, level: float = 0.95,
                        progress: Callable[[str], None] | None = None) -> list[Path]:
    """Write the bureau report (HTML, and with ``pdf=True`` the A4 PDF); return the written paths.

    Parameters
    ----------
    survey
        The validated and scored respondent data (as :func:`evalkit.datasets.dongying_survey`
        returns), with the study's column roles.
    study
        Codebook (indicator and group labels, scale ranges), registry (community names,
        programmes, start years, populations) and seed.
    out_dir
        Output folder (created if needed). Files: ``bureau_report_<lang>.html`` (``.pdf``).
    lang
        ``"zh"`` (default; ``<html lang="zh-CN">``, 个百分点) or ``"en"``: one language per report.
    pdf
        Also print the page to an A4 PDF with headless Chromium (:mod:`evalkit.publish.pdf`).
    data_dir
        The data folder the survey was read from, named in the report's source line.
    title
        The report's title (default: the codebook's title and "项目成效评估报告").
    synthetic
        Show the red banner saying the data are synthetic (the shipped example is).
    min_n
        Fewest respondents a community × wave cell needs to be used at all, and a published cell
        to be shown (the disclosure gate, :mod:`evalkit.publish.disclosure`).
    performance
        Optional per-project performance table (:mod:`evalkit.performance`): ``community_id`` and
        ``budget, spent, cost_per_beneficiary, score, grade, p_grade_differs``; adds the cost and
        score columns to the summary and a performance block to each community page. A
        :class:`~evalkit.performance.PerformanceEvaluation` (its ``projects`` table) also adds each
        community's outputs against the contract and its scores by dimension (``detail(cid)``), its
        problems and required fixes (:func:`evalkit.performance.findings.findings`, under the
        performance block) and, on the first page, a count of the projects with a finding that
        bears on payment (:mod:`evalkit.publish.bureau_findings`). A community with a withheld
        survey cell shows none of the survey-based findings, costs per unit of effect, score, grade
        or grade-flip probability (``[c]``).
    summary
        A precomputed evaluation summary of the *gated* survey (default: computed here).
    level
        Confidence level of the intervals.
    progress
        Called with one line of text per step (``None``: silent).

    Raises
    ------
    EvalkitError
        Bad ``lang``, a study without registry, a page that would publish script or personal
        data, or (``pdf=True``) Chromium missing.
    """
    say = progress or (lambda _msg: None)
    lang = check_lang(lang)
    study.require_registry("build_bureau_report")
    t0 = time.perf_counter()
    gated = disclosure.gate_survey(survey, study, min_n=min_n)
    if summary is None:
        try:
            from ..evaluation.summary import summarise
        except ImportError:  # pragma: no cover - until evalkit.evaluation.summary exists
            raise EvalkitError("build_bureau_report needs evalkit.evaluation.summary.summarise, which this "
                               "installation lacks; pass summary=... or update evalkit.") from None
        say("estimating the effects (summarise) ...")
        summary = summarise(gated.data, study, level=level, seed=study.seed, min_n=min_n, withheld=gated.withheld)
    say("rendering the bureau report ...")
    html = render_bureau_html(summary, study, lang=lang, title=title, synthetic=synthetic, min_n=min_n,
                              performance=performance, withheld=gated.withheld, data_dir=data_dir, level=level)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bureau_report_{lang}.html"
    path.write_text(html, encoding="utf-8")
    say(f"wrote {path} ({len(html) // 1024} KB, {time.perf_counter() - t0:.1f} s)")
    written = [path]
    if pdf:
        from .pdf import print_pdf

        written.append(print_pdf(path, path.with_suffix(".pdf")))
        say(f"wrote {written[-1]}")
    return written
