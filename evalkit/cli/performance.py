"""``evalkit performance``: the performance evaluation (绩效评价) of the purchased projects.

``evalkit performance [--study PATH] [--records DIR] [--bands finance|civil_affairs] [--out DIR]``

* ``--study PATH``: a study folder (or its ``study.yaml``) opened with
  :func:`evalkit.project.open_study`; its survey gives the effects. Without it, the shipped
  (synthetic) Dongying example.
* ``--records DIR``: the folder with ``ledger_*.csv|xlsx``, ``contracts.csv``, ``targets.csv``
  and optionally ``satisfaction.csv``, ``reviews.csv`` (default: ``<study folder>/records``, or the
  shipped records).
* Prints each sheet's rows in = valid + quarantined and the per-project table (budget, spending,
  costs, score, grade, probability that the grade differs); ``--out DIR`` also writes
  ``performance_projects.csv``, ``performance_outputs.csv``, ``performance_costs.csv`` and
  ``performance_sheet.csv``.
"""
from __future__ import annotations

from pathlib import Path

from .._spreadsheet import write_csv


def add_parser(sub):
    p = sub.add_parser("performance", help="score the purchased projects: outputs against contracts, cost per "
                                           "result, grade and its uncertainty")
    p.add_argument("--study", default=None, metavar="PATH", help="study folder or study.yaml (default: the shipped "
                                                                 "example)")
    p.add_argument("--records", default=None, metavar="DIR", help="records folder (default: <study>/records)")
    p.add_argument("--bands", default=None, help="grade bands of the scorecard (finance: 优/良/中/差; civil_affairs: "
                                                 "优秀/良好/合格/不合格)")
    p.add_argument("--out", default=None, metavar="DIR", help="also write the tables as CSV files here")
    return p


def evaluate_folder(folder: Path, study, survey, *, bands=None, progress=print):
    """The performance evaluation of the records in ``folder`` (each sheet's rows in = valid +
    quarantined printed), the effects from ``survey``; shared by ``evalkit report --study``."""
    from ..performance import evaluate_performance, read_records_folder, survey_effects

    recs = read_records_folder(folder, study=study)
    for r in recs.reports:
        progress(r._headline())
    return evaluate_performance(recs.reports, recs.contracts, recs.targets, effects=survey_effects(survey, study),
                                satisfaction=recs.satisfaction, reviews=recs.reviews, study=study, bands=bands,
                                seed=study.seed)


def run(args) -> int:
    import pandas as pd

    if args.study:
        from ..project import open_study

        project = open_study(args.study)
        study, folder = project.study, Path(args.records) if args.records else project.folder / "records"
        _, survey = project.load_survey()
    else:
        from ..datasets import DONGYING, dongying_survey

        folder = Path(args.records) if args.records else DONGYING / "records"
        study, survey = dongying_survey()
    pe = evaluate_folder(folder, study, survey, bands=args.bands)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(pe.projects.drop(columns=["project"]).round(3).to_string(index=False))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("projects", "outputs", "costs", "sheet"):
            write_csv(getattr(pe, name), out / f"performance_{name}.csv", encoding="utf-8")
        print(f"wrote {out}/performance_{{projects,outputs,costs,sheet}}.csv")
    return 0
