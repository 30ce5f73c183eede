"""Bureau reports built once per test session (each build runs the summary and draws every figure).

Used by tests/test_gate.py (a three-respondent community-year leaves no trace) and
tests/test_hostile_report.py (hostile strings through the registry and codebook). The builds are
deterministic (the study's seed; matplotlib's SVG hash salt fixed), so two builds from the same
inputs are byte-identical.
"""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path

SMALL = ("mingyue", 2016)   # the community-year cut to three respondents


def shipped():
    import evalkit

    return evalkit.datasets.dongying_survey()


@functools.lru_cache(maxsize=None)
def survey_variant(kind: str):
    """``"three"``: mingyue 2016 cut to 3 respondents; ``"never"``: mingyue 2016 without any respondent."""
    study, survey = shipped()
    cell = survey.index[(survey["community_id"] == SMALL[0]) & (survey["wave"] == SMALL[1])]
    return study, survey.drop(cell[3:] if kind == "three" else cell)


def build(survey, study, *, lang: str, out_dir: Path | None = None, spy: list | None = None) -> str:
    """Build the bureau report and return its HTML; `spy` receives (input survey, summary) of summarise."""
    import matplotlib

    from evalkit.evaluation import summary as summary_mod
    from evalkit.publish.bureau import build_bureau_report

    matplotlib.rcParams["svg.hashsalt"] = "evalkit-tests"
    out = Path(out_dir or tempfile.mkdtemp(prefix="evalkit-bureau-"))
    original = summary_mod.summarise

    def summarise(data, *args, **kwargs):
        result = original(data, *args, **kwargs)
        if spy is not None:
            spy.append((data, result))
        return result

    summary_mod.summarise = summarise
    try:
        paths = build_bureau_report(survey, study, out_dir=out, lang=lang, min_n=10, synthetic=True)
    finally:
        summary_mod.summarise = original
    return paths[0].read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def variant_report(kind: str, lang: str = "en") -> tuple[str, tuple]:
    """(HTML, ((survey given to summarise, summary),)) of the report on :func:`survey_variant`."""
    study, survey = survey_variant(kind)
    spy: list = []
    html = build(survey, study, lang=lang, spy=spy)
    return html, tuple(spy)
