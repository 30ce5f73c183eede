"""``evalkit new <folder>``: a new evaluation folder that runs end to end on a demo export."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("new", help="scaffold an evaluation of your own (study.yaml, codebook, demo export, notebook)")
    p.add_argument("folder", help="a new or empty folder")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    p.add_argument("--no-execute", dest="execute", action="store_false",
                   help="write the notebook without executing it (no Jupyter kernel needed)")
    p.add_argument("--seed", type=int, default=None, help="seed of the synthetic demo export (default 2017)")
    return p


def run(args) -> int:
    from ..project.new import DEMO_SEED, create_study

    written = create_study(args.folder, seed=DEMO_SEED if args.seed is None else args.seed,
                           execute=args.execute, force=args.force)
    print(f"evalkit new: wrote {len(written)} files in {args.folder}:")
    for path in written:
        print(f"  {path}")
    print(f"next: cd {args.folder} && evalkit validate --study . && evalkit report --study .")
    return 0
