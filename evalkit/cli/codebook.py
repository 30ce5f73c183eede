"""``evalkit codebook draft <export> [--out codebook.yaml]``: draft a codebook from an export.

From a 问卷星 text download (headers, option texts, matrix and multi-select questions), a Kobo
XLSForm (survey/choices sheets) or an SPSS file (variable and value labels); the draft loads as a
codebook and marks with ``# TODO`` what a person must decide (names, code order, scales, reverse keys).
"""
from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("codebook", help="draft a codebook from an export (evalkit codebook draft <export>)")
    actions = p.add_subparsers(dest="action", required=True)
    d = actions.add_parser("draft", help="draft a codebook from a 问卷星 download, a Kobo XLSForm or an SPSS file")
    d.add_argument("export", help="the export (.xlsx/.csv 问卷星 download, XLSForm .xlsx, .sav)")
    d.add_argument("--out", default=None, help="write the draft here (default: print it)")
    d.add_argument("--kind", default="auto", choices=["auto", "wjx", "kobo", "spss"])
    d.add_argument("--sheet", default=None, help="the sheet of a 问卷星 workbook (default: the first)")
    d.add_argument("--force", action="store_true", help="replace an existing --out file")
    return p


def run(args) -> int:
    from ..errors import EvalkitError
    from ..io.draft import draft_codebook

    draft = draft_codebook(args.export, args.kind, sheet=args.sheet)
    if args.out is None:
        print(draft.text, end="")
        return 0
    out = Path(args.out)
    if out.exists() and not args.force:
        raise EvalkitError(f"{out} exists; give another --out, or --force to replace it.")
    draft.write(out)
    todo = draft.text.count("TODO")
    print(f"evalkit codebook draft: wrote {out} ({draft.kind}; {len(draft.raw['fields'])} fields, "
          f"{len(draft.raw['items'])} items, {len(draft.raw.get('scales') or {})} scales; {todo} TODO marks; "
          f"{len(draft.left_out)} columns left out, listed at the end)")
    return 0
