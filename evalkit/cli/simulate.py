"""``evalkit simulate``: regenerate the synthetic data (byte-identical for the same seed).

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

    digests = write_shipped(args.out, seed=SEED if args.seed is None else args.seed)
    for name, digest in digests.items():
        print(f"{digest}  {name}")
    print(f"wrote {write_manifest(args.out)}")
    return 0
