"""``evalkit report``: write the evaluation report."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("report", help="execute the notebooks and write the HTML report")
    p.add_argument("--out", default="reports")
    p.add_argument("--community", default=None,
                   help="also render the community profile of this community id as its own report")
    return p


def run(args) -> int:
    from ..datasets import REPORT_TEXT, data_dir, dongying
    from ..publish.report import build_report

    paths = build_report(out_dir=args.out, community=args.community, progress=print, data_dir=data_dir(),
                         study=dongying(), **REPORT_TEXT)
    for p in paths:
        print(f"wrote {p}")
    return 0
