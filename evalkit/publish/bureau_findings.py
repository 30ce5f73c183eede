"""The performance evaluation's problems and required fixes (问题与整改要求) in the bureau report.

:func:`report_findings` reads :func:`evalkit.performance.findings.findings` off a
:class:`~evalkit.performance.PerformanceEvaluation` and passes it through the disclosure gate;
:func:`page_findings` gives one community page its list and :func:`payment_line` the first page
its one-line count of the findings that bear on payment.

Which findings bear on payment (:data:`PAYMENT_KINDS`): a contract target not met and budget
execution outside the agreed range (under- or overspent). They are facts of the contract and the
service records that the buyer settles the final instalment against; the other kinds (records to
correct, a grade the sampling error could change, a cost per unit of effect that cannot be
bounded) ask for corrections or caution but do not by themselves change what is owed.

The disclosure gate (:data:`SURVEY_KINDS`): ``grade_uncertain`` and ``cost_not_estimable`` rest
on the resident survey's cells. The report cannot tell whether the performance evaluation was
computed from the gated survey, so a community with any withheld community × wave cell (the
``withheld`` list of :func:`evalkit.publish.disclosure.gate_survey`) shows none of its
survey-based findings, only a sentence that they are withheld; its records-based findings stay.
"""
from __future__ import annotations

import pandas as pd

from .i18n import t

__all__ = ["PAYMENT_KINDS", "SURVEY_KINDS", "report_findings", "page_findings", "payment_line",
           "withheld_communities"]

#: Finding kinds the buyer settles payment against (contract outputs and budget execution).
PAYMENT_KINDS = ("missed_target", "underspent", "overspent")
#: Finding kinds that rest on the resident survey's cells (withheld with a withheld cell).
SURVEY_KINDS = frozenset({"grade_uncertain", "cost_not_estimable"})


def withheld_communities(withheld) -> set[str]:
    """Community ids with at least one withheld community × wave cell (``gate_survey(...).withheld``)."""
    if withheld is None or not len(withheld) or "community_id" not in getattr(withheld, "columns", ()):
        return set()
    return set(withheld["community_id"].astype(str))


def report_findings(performance, withheld=None) -> pd.DataFrame | None:
    """The findings of a :class:`~evalkit.performance.PerformanceEvaluation` the report may show,
    or ``None`` for anything else (a plain performance table has no findings).

    Returns
    -------
    DataFrame or None
        ``community_id, kind, text_zh, text_en`` (:func:`evalkit.performance.findings.findings`)
        without the :data:`SURVEY_KINDS` rows of communities with a withheld cell;
        ``attrs["withheld"]``: the ids of the communities that lost such rows.
    """
    if not all(hasattr(performance, a) for a in ("outputs", "projects", "metrics", "costs")):
        return None
    from ..performance.findings import findings

    found = findings(performance)
    found["community_id"] = found["community_id"].astype(str)
    hidden = found["kind"].isin(SURVEY_KINDS) & found["community_id"].isin(withheld_communities(withheld))
    out = found[~hidden].reset_index(drop=True)
    out.attrs["withheld"] = sorted(set(found.loc[hidden, "community_id"]))
    return out


def page_findings(found: pd.DataFrame | None, cid: str, lang: str) -> dict | None:
    """One community page's list: ``{"items": [text, ...], "withheld": sentence or None}``;
    ``None`` when the report has no findings table. An empty ``items`` says "no problem found"."""
    if found is None:
        return None
    part = found[found["community_id"] == str(cid)]
    items = [str(x) for x in part[f"text_{lang}"]]
    note = t("findings_withheld", lang) if str(cid) in found.attrs.get("withheld", ()) else None
    return {"items": items, "withheld": note, "none": t("findings_none", lang)}


def payment_line(found: pd.DataFrame | None, name, lang: str) -> str | None:
    """The first page's count of projects with a finding of :data:`PAYMENT_KINDS` (``name`` maps a
    community id to its name), or ``None`` when there is none."""
    if found is None or not len(found):
        return None
    pay = found[found["kind"].isin(PAYMENT_KINDS)]
    if pay.empty:
        return None
    ids = list(dict.fromkeys(pay["community_id"]))
    sep = "、" if lang == "zh" else ", "
    return t("findings_payment", lang, k=len(ids), n=len(pay), names=sep.join(name(c) for c in ids))
