"""``evalkit validate``: read a survey export (问卷星, KoboToolbox, SPSS or a plain table) and print its problems.

    evalkit validate --study .                      # the study's own export, reader options and design step
    evalkit validate data/raw/export.xlsx --study study.yaml
    evalkit validate kobo.csv --format kobo --codebook codebook.yaml --drop intro/phone
    evalkit validate survey.sav --allow q12 --personal-data quarantine

Exit codes: 0 every row valid, 1 rows quarantined (listed), 2 an input error (printed as
``evalkit: ...``, with the command-line options that fix it).
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import EvalkitError, PersonalDataError

FORMATS = ("auto", "table", "wjx", "kobo", "spss")
_WJX_HEADER = re.compile(r"^\s*\d+\s*[、.．]")
_WJX_META = {"序号", "提交答卷时间", "所用时间", "来自IP", "来源详情"}
_KOBO_META = {"_uuid", "_submission_time", "_id", "meta/instanceid", "__version__", "_index", "instanceid",
              "submissiondate", "meta-instanceid"}


def add_parser(sub):
    p = sub.add_parser("validate", help="validate a survey export (问卷星, Kobo, SPSS or a table) and list its problems",
                       description=__doc__)
    p.add_argument("path", nargs="?", default=None,
                   help="the export as downloaded (.csv, .xlsx, .xls, .sav, .dta); default with --study: the "
                        "study's own export")
    p.add_argument("--study", default=None, help="a study.yaml (its codebook, registry and reader options); "
                   "default: the shipped example unless --codebook is given")
    p.add_argument("--codebook", default=None, help="codebook YAML (instead of --study)")
    p.add_argument("--registry", default=None, help="community registry CSV for the community check")
    p.add_argument("--format", default="auto", choices=FORMATS,
                   help="the export's kind: wjx (问卷星), kobo (KoboToolbox/ODK), spss (.sav), table "
                        "(columns already named as the codebook, or by its question texts); default: "
                        "recognised from the file")
    p.add_argument("--drop", action="append", default=[], metavar="COLUMN",
                   help="a column to remove before any check (repeat, or separate with commas)")
    p.add_argument("--allow", action="append", default=[], metavar="COLUMN",
                   help="a column that is not personal data (still scanned for phone and ID numbers)")
    p.add_argument("--personal-data", default="refuse", choices=("refuse", "quarantine", "ignore"),
                   help="columns that are personal data: refuse the file (default), or quarantine = remove "
                        "them; stray phone/ID numbers in other cells are blanked and their rows quarantined")
    p.add_argument("--sheet", default=None, help="Excel sheet name or 0-based number; 'all' (table format) "
                   "reads every sheet with the same header")
    p.add_argument("--header", type=int, default=None,
                   help="table format: the spreadsheet row number of the column names (default: found)")
    p.add_argument("--encoding", default=None)
    p.add_argument("--max-listed", type=int, default=20)
    return p


def _columns(values: list[str]) -> list[str]:
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


def detect_format(path: Path) -> str:
    """``spss`` for .sav, ``wjx`` for a 问卷星 download, ``kobo`` for a KoboToolbox/ODK one, else ``table``."""
    if path.suffix.lower() in (".sav", ".zsav"):
        return "spss"
    if path.suffix.lower() == ".dta":
        return "table"
    import warnings

    from ..errors import EvalkitWarning
    from ..io.read import read_survey

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        head = [str(c).strip() for c in read_survey(path, personal_data="ignore", header=None).columns]
    if len(_WJX_META & set(head)) >= 2 or sum(bool(_WJX_HEADER.match(h)) for h in head) >= max(2, len(head) // 3):
        return "wjx"
    if {h.lower() for h in head} & _KOBO_META or any(h.lower().startswith(("meta/", "meta-")) for h in head):
        return "kobo"
    return "table"


def _study(args):
    from ..spec.study import Study

    if args.study:
        from ..project import open_study

        return open_study(args.study).study
    if args.codebook:
        return Study.from_files(args.codebook, args.registry)
    from ..datasets import dongying

    return dongying()


def _options(args, study, fmt: str) -> dict:
    """The reader's keyword arguments: the study file's options for this kind, then the command line."""
    read = getattr(study, "read", None) or {}
    opts = dict(read.get("options") or {}) if isinstance(read, dict) and read.get("kind") == fmt else {}
    if args.drop:
        opts["drop"] = _columns(args.drop)
    if args.allow:
        opts["allow"] = _columns(args.allow)
    opts["personal_data"] = args.personal_data
    if args.sheet is not None:
        if fmt == "spss":
            raise EvalkitError("--sheet applies to Excel files, not SPSS.")
        opts["sheet"] = int(args.sheet) if args.sheet.isdigit() else args.sheet
    if args.header is not None:
        if fmt != "table":
            raise EvalkitError(f"--header applies to --format table; a {fmt} export has its header in row 1.")
        opts["header"] = args.header
    if args.encoding and fmt == "table":
        opts["encoding"] = args.encoding
    return opts


def _cli_remedy(exc: PersonalDataError, path: str) -> PersonalDataError:
    """The refusal with the command-line options that fix it instead of the Python call."""
    lines = [ln for ln in str(exc).splitlines() if not ln.startswith("Drop them when reading")]
    cols = list(exc.columns or [])
    drops = " ".join(f"--drop {c!r}" for c in cols)
    lines.append(f"Drop them: evalkit validate {path} {drops}; or, if a column is not personal data, say so: "
                 f"--allow {cols[0]!r}; or remove every such column with --personal-data quarantine."
                 if cols else "Use --drop COLUMN or --allow COLUMN.")
    out = PersonalDataError("\n".join(lines), columns=cols)
    return out


def _read(args, path: Path | None):
    """(frame, format, design problems): read with the reader of the format; with --study, the
    study's reader options and then its design step (wave, weights, derived fields)."""
    from ..project import reader

    if args.study:
        from ..project import open_study

        project = open_study(args.study)
        study = project.study
        spec = dict(study.read or {})
        if path is None:
            if not spec.get("path"):
                raise EvalkitError(f"{args.study}: the study names no export (export: path:); pass the file: "
                                   "evalkit validate <export> --study ...")
            path = Path(spec["path"])
        fmt = args.format if args.format != "auto" else (
            spec.get("kind", "table") if spec.get("path") and Path(spec["path"]).resolve() == path.resolve()
            else detect_format(path))
        project.study = study.with_(read={"path": str(path), "kind": fmt, "options": _options(args, study, fmt)})
        try:
            frame = project.prepare()
        except PersonalDataError as exc:
            raise _cli_remedy(exc, str(path)) from None
        return frame, fmt, project.design_problems, project.study, path
    if path is None:
        raise EvalkitError("name the export to validate (evalkit validate <export>), or the study: --study <folder>.")
    study = _study(args)
    fmt = args.format if args.format != "auto" else detect_format(path) if path.is_file() else "table"
    try:
        frame = reader(fmt)(path, study=study, **_options(args, study, fmt))
    except PersonalDataError as exc:
        raise _cli_remedy(exc, str(path)) from None
    return frame, fmt, None, study, path


def run(args) -> int:
    from ..io.validate import validate
    from ..project.replicates import keep_replicate_weights

    frame, fmt, design, study, path = _read(args, Path(args.path) if args.path else None)
    report = validate(frame, study=study)
    if study is not None:  # replicate weight columns declared in study.yaml are data, not unknown columns
        report = keep_replicate_weights(frame, report, study)
    print(f"{path}: read as {fmt}")
    for note in frame.attrs.get("notes", []):
        print(f"note: {note}")
    if design is not None and len(design):
        print(f"design step: {len(design)} problem(s)")
        print(design.drop(columns=[c for c in ("value",) if c in design.columns]).head(args.max_listed)
              .to_string(index=False))
    print(report.describe())
    if not report.problems.empty:
        print(report.problems.head(args.max_listed).to_string(index=False))
        return 1
    return 0
