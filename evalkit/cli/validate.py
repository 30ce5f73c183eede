"""``evalkit validate``: validate a survey export against a codebook and print the problems."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("validate", help="validate a survey export")
    p.add_argument("path")
    p.add_argument("--codebook", default=None, help="codebook YAML (default: the shipped example's)")
    p.add_argument("--registry", default=None, help="community registry CSV for the community check")
    p.add_argument("--encoding", default=None)
    p.add_argument("--max-listed", type=int, default=20)
    return p


def run(args) -> int:
    from ..io.read import read_survey
    from ..io.validate import validate
    from ..spec.study import Study

    if args.codebook is None:
        from ..datasets import dongying

        study = dongying()
    else:
        study = Study.from_files(args.codebook, args.registry)
    report = validate(read_survey(args.path, encoding=args.encoding, study=study), study=study)
    print(report.describe())
    if not report.problems.empty:
        print(report.problems.head(args.max_listed).to_string(index=False))
        return 1
    return 0
