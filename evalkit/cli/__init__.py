"""Command line: ``evalkit <command>`` (or ``python -m evalkit <command>``).

One module per command, each with ``add_parser(sub)`` (its arguments) and ``run(args) -> int``
(its exit code: 0 done, 1 problems found, 2 an input error, printed as ``evalkit: ...``):

simulate  :mod:`evalkit.cli.simulate`  regenerate the synthetic data (byte-identical for the same seed)
validate  :mod:`evalkit.cli.validate`  validate a survey export against a codebook and print the problems
report    :mod:`evalkit.cli.report`    write the evaluation report
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import EvalkitError

#: The commands, in the order ``evalkit --help`` lists them: name -> module under evalkit.cli.
COMMANDS = {"simulate": "simulate", "validate": "validate", "report": "report", "new": "new", "codebook": "codebook",
            "performance": "performance"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evalkit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        mod = importlib.import_module(f"{__name__}.{module}")
        p = mod.add_parser(sub)
        p.set_defaults(func=mod.run)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EvalkitError as exc:
        print(f"evalkit: {exc}", file=sys.stderr)
        return 2


__all__ = ["main", "COMMANDS"]
