"""Command line: ``python -m evalkit <command>``.

Commands
--------
simulate  regenerate the synthetic data (byte-identical for the same seed); in a checkout,
          ``--out evalkit/datasets/dongying`` rewrites the shipped example (``make data``)
validate  validate a survey export against a codebook and print the problems
report    execute the notebooks and write the HTML evaluation report to reports/
"""
from __future__ import annotations

import argparse
import sys


def _simulate(args) -> int:
    from .io.manifest import write_manifest
    from .datasets.simulate import write_shipped

    digests = write_shipped(args.out, seed=args.seed)
    for name, digest in digests.items():
        print(f"{digest}  {name}")
    print(f"wrote {write_manifest(args.out)}")
    return 0


def _validate(args) -> int:
    from .errors import EvalkitError
    from .io.read import read_survey
    from .io.validate import validate
    from .spec.study import Study

    try:
        if args.codebook is None:
            from .datasets import dongying

            study = dongying()
        else:
            study = Study.from_files(args.codebook, args.registry)
        report = validate(read_survey(args.path, encoding=args.encoding, study=study), study=study)
    except EvalkitError as exc:
        print(f"evalkit: {exc}", file=sys.stderr)
        return 2
    print(report.describe())
    if not report.problems.empty:
        print(report.problems.head(args.max_listed).to_string(index=False))
        return 1
    return 0


def _report(args) -> int:
    from .datasets import REPORT_TEXT, data_dir, dongying
    from .publish.report import build_report

    paths = build_report(out_dir=args.out, community=args.community, progress=print, data_dir=data_dir(),
                         study=dongying(), **REPORT_TEXT)
    for p in paths:
        print(f"wrote {p}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evalkit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("simulate", help="regenerate the shipped synthetic data")
    p.add_argument("--out", required=True,
                   help="output folder (the shipped example: evalkit/datasets/dongying of the checkout)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: evalkit.datasets.simulate.SEED)")
    p.set_defaults(func=_simulate)
    p = sub.add_parser("validate", help="validate a survey export")
    p.add_argument("path")
    p.add_argument("--codebook", default=None, help="codebook YAML (default: the shipped example's)")
    p.add_argument("--registry", default=None, help="community registry CSV for the community check")
    p.add_argument("--encoding", default=None)
    p.add_argument("--max-listed", type=int, default=20)
    p.set_defaults(func=_validate)
    p = sub.add_parser("report", help="execute the notebooks and write the HTML report")
    p.add_argument("--out", default="reports")
    p.add_argument("--community", default=None,
                   help="also render the community profile of this community id as its own report")
    p.set_defaults(func=_report)
    args = parser.parse_args(argv)
    if getattr(args, "seed", 0) is None:
        from .datasets import SEED

        args.seed = SEED
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
