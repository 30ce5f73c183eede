"""``evalkit simulate``: regenerate the synthetic data and service records (byte-identical for the same seed).

In a checkout, ``--out evalkit/datasets/dongying`` rewrites the shipped example (``make data``).
"""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("simulate", help="regenerate the shipped synthetic data")
    p.add_argument("--out", required=True,
                   help="output folder (the shipped example: evalkit/datasets/dongying of the checkout)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: evalkit.datasets.simulate.SEED)")
    return p


def run(args) -> int:
    from ..datasets import SEED
    from ..datasets.simulate import write_shipped
    from ..io.manifest import write_manifest

    from pathlib import Path

    from ..datasets.records import write_records
    from ..datasets.simulate import file_digest

    seed = SEED if args.seed is None else args.seed
    digests = write_shipped(args.out, seed=seed)
    out = Path(args.out)
    # the projects' service records, consistent with the survey just written (issue 13)
    for path in write_records(out / "records", seed, survey_path=out / "survey.csv"):
        digests[path.relative_to(out).as_posix()] = file_digest(path)
    for name, digest in digests.items():
        print(f"{digest}  {name}")
    print(f"wrote {write_manifest(args.out)}")
    return 0
