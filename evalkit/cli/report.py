"""``evalkit report``: write the bureau report (and, with ``--appendix``, the technical appendix).

``evalkit report [--study PATH] [--lang zh|en] [--pdf] [--appendix] [--out DIR]``

* ``--study PATH``: a study folder (or its ``study.yaml``) opened with
  :func:`evalkit.project.open_study`; without it, the ``study.yaml`` of the current folder if
  there is one, else the shipped (synthetic) Dongying example.
* The bureau report (:func:`evalkit.publish.bureau.build_bureau_report`) is computed from the
  data once and rendered by templates (no notebook is executed); the build time is printed. For
  the shipped example it carries the performance evaluation of the service records (cost and
  grade columns, outputs and scores per community: :func:`evalkit.datasets.records.dongying_performance`);
  for a study, the performance evaluation of the service records in ``<study folder>/records`` (or
  ``--records DIR``) when that folder exists (as ``evalkit performance --study``), else none (said).
* ``--pdf``: also the A4 PDF, printed by headless Chromium.
* ``--appendix``: also the technical appendix, the executed notebooks
  (:func:`evalkit.publish.report.build_report`: ``evalkit_report.html``; ``--community ID``
  adds that community's profile page). It is built from the shipped example's notebooks.
"""
from __future__ import annotations

import time
from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("report", help="write the bureau report (HTML, --pdf for the PDF, --appendix for the "
                                      "technical appendix)")
    p.add_argument("--study", default=None, metavar="PATH",
                   help="study folder or study.yaml (default: ./study.yaml if present, else the shipped example)")
    p.add_argument("--lang", choices=("zh", "en"), default=None,
                   help="language of the report (default: the study's, zh for the shipped example)")
    p.add_argument("--pdf", action="store_true", help="also print the report to an A4 PDF (needs chromium)")
    p.add_argument("--appendix", action="store_true",
                   help="also write the technical appendix (executes the notebooks; minutes, not seconds)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: the study's report folder, or reports/)")
    p.add_argument("--synthetic", action="store_true",
                   help="mark the report as made from synthetic data (the shipped example always is)")
    p.add_argument("--records", default=None, metavar="DIR",
                   help="with --study: the service records folder (default: <study>/records if it exists)")
    p.add_argument("--community", default=None,
                   help="with --appendix: also render the community profile of this community id")
    return p


def _shipped(args):
    from ..datasets import data_dir, dongying_survey

    study, survey = dongying_survey(language=args.lang or "zh")
    out = Path(args.out or "reports")
    return study, survey, {"out_dir": out, "lang": args.lang or "zh", "synthetic": True, "data_dir": data_dir()}


def _shipped_performance(study, survey, options):
    """The shipped example's summary (computed once) and its performance evaluation (issue 13)."""
    from ..datasets.records import dongying_performance
    from ..errors import EvalkitError
    from ..evaluation.summary import summarise
    from ..publish.disclosure import MIN_N, gate_survey

    min_n = options.get("min_n", MIN_N)
    gated = gate_survey(survey, study, min_n=min_n)
    summary = summarise(gated.data, study, seed=study.seed, min_n=min_n, withheld=gated.withheld)
    latest = summary.effects[summary.effects["wave"] == summary.effects["wave"].max()]
    try:
        performance = dongying_performance(effects=latest, seed=study.seed)
    except EvalkitError as exc:  # e.g. EVALKIT_DATA points at a folder without service records
        print(f"no performance columns: {exc}")
        performance = None
    return {"summary": summary, "performance": performance}


def _project(path, args):
    from ..project import open_study

    project = open_study(path)
    report, survey = project.load_survey()
    if len(report.quarantined):
        print(f"{len(report.quarantined)} row(s) quarantined by validation (not in the report); "
              "see `evalkit validate --study`.")
    study = project.study
    return study, survey, {"out_dir": Path(args.out) if args.out else project.report_dir,
                           "lang": args.lang or project.lang, "min_n": project.min_n,
                           "title": getattr(study, "title", None) or None,
                           "synthetic": bool(args.synthetic or getattr(study, "synthetic", False)),
                           "data_dir": project.folder,
                           "performance": _study_performance(project, study, survey, args)}


def _study_performance(project, study, survey, args):
    """The performance evaluation of the study's service records, or None when it has none."""
    from .performance import evaluate_folder

    folder = Path(args.records) if getattr(args, "records", None) else project.folder / "records"
    if not folder.is_dir():
        if getattr(args, "records", None):
            from ..errors import EvalkitError

            raise EvalkitError(f"--records {folder}: no such folder.")
        print(f"no service records in {folder}: the report has no performance evaluation (put the ledgers, "
              "contracts.csv and targets.csv there, or pass --records DIR).")
        return None
    return evaluate_folder(folder, study, survey)


def run(args) -> int:
    from ..errors import EvalkitError
    from ..publish.bureau import build_bureau_report

    t0 = time.perf_counter()
    path = args.study or ("." if Path("study.yaml").is_file() else None)
    if path is None:
        study, survey, options = _shipped(args)
        options.update(_shipped_performance(study, survey, options))
    else:
        if args.appendix:
            raise EvalkitError("--appendix is built from the shipped example's notebooks; for your own study "
                               "run the notebooks of its folder (notebooks/) instead, and drop --appendix.")
        study, survey, options = _project(path, args)
    paths = build_bureau_report(survey, study, pdf=args.pdf, progress=print, **options)
    print(f"bureau report built in {time.perf_counter() - t0:.1f} s (reading and validating the data included)")
    if args.appendix:
        from ..datasets import REPORT_TEXT, data_dir, dongying
        from ..publish.report import build_report

        paths += build_report(out_dir=options["out_dir"], community=args.community, progress=print,
                              data_dir=data_dir(), study=dongying(), summary=options.get("summary"),
                              min_n=options.get("min_n"), **REPORT_TEXT)
    for p in paths:
        print(f"wrote {p}")
    return 0
