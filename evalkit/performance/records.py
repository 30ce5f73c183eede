"""Service records (服务台账): read the activity logs organisations keep, check them, count once.

An organisation's log has one row per activity: the date, the community, the type of service
(个案 / 小组 / 社区活动 / 志愿服务 / 培训), who came (pseudonymous ids where recorded, a head count
otherwise), hours, volunteers and spending. Real sheets carry a title row above the headings,
merged cells (a date or community written once for several rows), 合计/小计 rows, dates typed as
text ("2017.6.3", "2017年6月3日") or stored as Excel serial numbers, and the same activity or
person entered twice. :func:`read_records` reads them by the records spec (``records.yaml``, in
the codebook's style, checked against ``records.schema.json``) and returns a
:class:`RecordsReport` in which every data row is either valid or quarantined with its file, row,
column and fix: rows in = valid + quarantined.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import CodebookError, ReadError
from ..io.privacy import check_personal_data, display_value
from ..results import Result
from ..spec.codebook import _load_yaml
from .sheets import _blank, _find_header, _headings, _number, _sheet_rows, parse_date

SPEC_FILE = Path(__file__).with_name("records.yaml")
SCHEMA_FILE = Path(__file__).with_name("records.schema.json")
#: Columns of :attr:`RecordsReport.valid` (index: the row of the sheet).
RECORD_COLUMNS = ("date", "project", "community_id", "activity_type", "title", "attendee_ids", "attendees",
                  "hours", "volunteers", "volunteer_hours", "spending", "spending_line")
PROBLEM_COLUMNS = ("source", "row", "column", "value", "rule", "message")
_ID_SPLIT = re.compile(r"[,，;；、/\s]+")
#: ``activity_type`` of a row that records spending only (staff pay, rent): no type, no attendees.
SPENDING_ONLY = "spending"


@dataclass(frozen=True)
class RecordsSpec:
    """The parsed records spec: ``fields`` (name -> settings), ``activity_types`` (code -> labels and
    aliases), ``totals_words`` and the file it came from."""

    fields: dict
    activity_types: dict
    totals_words: tuple
    path: str

    def column_of(self, heading) -> str | None:
        """The spec field a sheet heading names (aliases compared after NFKC, case and spaces removed;
        failing that, without a bracketed unit or note: 支出金额（元） is 支出金额)."""
        h = _key(heading)
        bare = re.sub(r"[(\[【].*?[)\]】]", "", h)
        for key in dict.fromkeys((h, bare)):
            for name, f in self.fields.items():
                if key == _key(name) or any(key == _key(a) for a in f["aliases"]):
                    return name
        return None

    def activity_code(self, value) -> str | None:
        v = _key(value)
        for code, a in self.activity_types.items():
            if v == _key(code) or v == _key(a["zh"]) or any(v == _key(x) for x in a["aliases"]):
                return code
        return None


def _key(text) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def load_checked_yaml(path, default: Path, schema_file: Path, what: str, argument: str):
    """``(data, path)`` of a YAML file (default `default`) checked against a JSON Schema; a
    :class:`~evalkit.errors.CodebookError` naming each failing entry otherwise."""
    import jsonschema

    p = Path(path) if path is not None else default
    if not p.is_file():
        raise CodebookError(f"{p}: no such {what}. Omit {argument} to use the shipped one ({default.name}).")
    raw, _ = _load_yaml(p)
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(raw), key=lambda e: list(e.path))
    if errors:
        lines = [f"  {'/'.join(map(str, e.path)) or '(top)'}: {e.message[:200]}" for e in errors[:10]]
        raise CodebookError(f"{p}: the {what} does not follow {schema_file.name}:\n" + "\n".join(lines)
                            + f"\nCompare with the shipped evalkit/performance/{default.name}.")
    return raw, p


def load_records_spec(path: str | Path | None = None) -> RecordsSpec:
    """Load and check a records spec (default: the shipped ``records.yaml``).

    Raises :class:`~evalkit.errors.CodebookError` naming the entry and what is wrong when the file
    does not follow ``records.schema.json``.
    """
    raw, p = load_checked_yaml(path, SPEC_FILE, SCHEMA_FILE, "records spec", "spec=")
    return RecordsSpec(fields=dict(raw["fields"]), activity_types=dict(raw["activity_types"]),
                       totals_words=tuple(raw.get("totals_words", ("合计", "小计"))), path=str(p))


@dataclass(frozen=True, repr=False)
class RecordsReport(Result):
    """What :func:`read_records` found.

    Attributes
    ----------
    valid
        One row per activity (index: the sheet's row number), columns :data:`RECORD_COLUMNS` plus
        ``source``; ``attendee_ids`` holds a tuple of distinct ids (empty when not recorded),
        ``attendees`` the number of attendances (服务人次) of the activity.
    quarantined
        The rows set aside, as read (text), with ``rule`` and ``message``.
    problems
        ``source, row, column, value, rule, message``: every problem, one line each; values shown
        only when they cannot be personal data (:func:`evalkit.io.privacy.display_value`).
    notes
        What was done that is not a problem of a row: merged cells filled, title rows skipped,
        ids entered twice within an activity counted once, columns not in the spec ignored.
    rows_in
        Data rows below the headings (blank rows not counted); ``rows_in == len(valid) +
        len(quarantined)``.
    """

    valid: pd.DataFrame
    quarantined: pd.DataFrame
    problems: pd.DataFrame
    notes: tuple = field(default_factory=tuple)
    rows_in: int = 0
    source: str = ""
    title = "Service records"

    @property
    def ok(self) -> bool:
        return self.quarantined.empty

    def tidy(self) -> pd.DataFrame:
        return self.problems

    def _headline(self) -> str:
        return (f"{self.source}: {self.rows_in} rows in = {len(self.valid)} valid + {len(self.quarantined)} "
                f"quarantined; {len(self.notes)} notes")


_FIX = {"date": "type the date as 2017-06-03 (or 2017.6.3, 2017年6月3日) or format the cell as a date",
        "count": "write a whole number of people", "number": "write a number", "money": "write the amount in yuan"}


def _parse_row(cells: dict, spec: RecordsSpec, communities: dict | None, year: int | None = None):
    """(record, problems) for one data row: problems are (column heading, value, rule, message)."""
    rec, probs = {}, []
    spending_only = all(_blank(cells.get(n, ("", None))[1]) for n in ("activity_type", "attendees", "attendee_ids")) \
        and not _blank(cells.get("spending", ("", None))[1])
    for name, f in spec.fields.items():
        heading, value = cells.get(name, (f["zh"], None))
        if name == "activity_type" and spending_only:
            rec[name] = SPENDING_ONLY
            continue
        if _blank(value):
            if f.get("required"):
                probs.append((heading, value, "required", f"{f['zh']} ({name}) is empty; fill it in"))
            rec[name] = None
            continue
        kind = f["type"]
        if kind == "date":
            d = parse_date(value, year=year)
            if d is None:
                probs.append((heading, value, "date_unreadable", f"not a date; {_FIX['date']}"))
            rec[name] = d
        elif kind == "activity_type":
            code = spec.activity_code(value)
            if code is None:
                ok = "/".join(a["zh"] for a in spec.activity_types.values())
                probs.append((heading, value, "unknown_activity_type", f"not a service type; use one of {ok}"))
            rec[name] = code
        elif kind == "community":
            key = _key(value)
            cid = key if communities is None else communities.get(key)
            if cid is None:
                probs.append((heading, value, "unknown_community",
                              "not a community of the registry; use its id or Chinese name"))
            rec[name] = cid if communities is not None else str(value).strip()
        elif kind == "ids":
            text = unicodedata.normalize("NFKC", str(value)).strip()
            ids = [re.sub(r"^(\d+)\.0$", r"\1", t) for t in _ID_SPLIT.split(text) if t]  # Excel's 1023.0
            rec[name] = ids
        elif kind in ("count", "number", "money"):
            x = _number(value, kind)
            lo, hi = f.get("min", 0), f.get("max", np.inf)
            if x is None:
                probs.append((heading, value, f"not_{kind}", f"not a {kind}; {_FIX[kind]}"))
            elif not lo <= x <= hi:
                probs.append((heading, value, "out_of_range", f"outside {lo:g}-{hi:g}; check the entry"))
                x = None
            rec[name] = x
        else:
            rec[name] = str(value).strip()
    return rec, probs


def _community_lookup(registry: pd.DataFrame | None) -> dict | None:
    if registry is None:
        return None
    out = {}
    for r in registry.itertuples(index=False):
        for col in ("community_id", "name_zh", "name_pinyin"):
            v = getattr(r, col, None)
            if not _blank(v):
                out[_key(v)] = str(r.community_id)
        zh = getattr(r, "name_zh", None)
        if isinstance(zh, str) and zh.endswith("社区"):
            out[_key(zh[:-2])] = str(r.community_id)
    return out


# ----------------------------------------------------------------------------- the reader
def read_records(
    path: str | Path,
    *,
    study=None,
    registry: pd.DataFrame | None = None,
    spec: RecordsSpec | str | Path | None = None,
    sheet: int | str = 0,
    drop: Sequence[str] = (),
    allow: Sequence[str] = (),
    personal_data: str = "refuse",
    period: tuple | None = None,
    limits=None,
) -> RecordsReport:
    """Read one service-records sheet (.xlsx or .csv) and check every row.

    Parameters
    ----------
    path
        The sheet. A title row above the headings is skipped; headings are matched to the spec's
        fields by their aliases (服务日期, 服务类型, 服务对象编号, 服务人次, 支出（元）...).
    study, registry
        The community registry (or a Study holding it): community cells may hold its ids or
        Chinese names and are stored as ids; without it communities are kept as written.
    spec
        A records spec (:func:`load_records_spec`); default the shipped one.
    sheet
        Excel sheet name or position.
    drop, allow, personal_data
        As for :func:`evalkit.read_survey`: columns removed before any check; columns declared not
        to be personal data (still scanned for phone and ID numbers); ``"refuse"`` (default)
        raises :class:`~evalkit.errors.PersonalDataError` when a column looks like names, phones or
        ID numbers; ``"quarantine"`` removes such columns instead (a note says so); ``"ignore"``
        skips the check (only for data already cleared). In every mode but ``"ignore"`` a phone
        or ID number typed into another cell (an id list, a title) is blanked and its row
        quarantined with rule ``personal_data`` (the number's shape is named, never its value).
    period
        ``(first, last)`` dates of the contract: an activity dated outside is quarantined (rule
        ``outside_period``: a typo such as 2107 for 2017, or another year's activity). When the
        period lies within one year, dates written without it (``6月3日``, ``6.3``) are read in it.
    limits
        Bounds checked before parsing (:class:`evalkit.io.read.ReadLimits`, as for surveys).

    Returns
    -------
    RecordsReport
        ``valid`` / ``quarantined`` / ``problems`` / ``notes``; see :class:`RecordsReport`.

    Notes
    -----
    Rows whose cells say 合计, 小计, 总计 (the spec's ``totals_words``) are sheet totals: they are
    quarantined with rule ``totals_row`` (totals are recomputed from the activities, never read).
    A row equal to an earlier one in date, community, type, title, ids, count, hours and spending
    is quarantined with rule ``duplicate_row`` naming the earlier row. An id listed twice within
    one activity is counted once (a note says where). A row with spending but no service type and
    no attendees (staff pay, rent, materials) is a spending line: ``activity_type`` is
    :data:`SPENDING_ONLY` and it counts towards spending, not activities. The count of attendances (``attendees``)
    defaults to the number of distinct ids when only ids are recorded; a count smaller than the
    ids listed is a problem (rule ``count_below_ids``).
    """
    path = Path(path)
    source = path.name
    if personal_data not in ("refuse", "quarantine", "ignore"):
        raise ReadError(f"personal_data={personal_data!r}: use 'refuse' (default), 'quarantine' or 'ignore'.")
    if not path.is_file():
        raise ReadError(f"{path}: no such file.")
    spec = spec if isinstance(spec, RecordsSpec) else load_records_spec(spec)
    if registry is None and study is not None:
        registry = study.registry
    rows, notes, source = _sheet_rows(path, sheet, limits)
    h = _find_header(rows, spec, source)
    if h:
        notes.append(f"rows 1-{rows[h][0] - 1} above the headings skipped (title)")
    headings, h = _headings(rows, h, spec, notes)
    body = [(n, cells + [None] * (len(headings) - len(cells))) for n, cells in rows[h + 1:]]
    blank = [n for n, cells in body if all(_blank(c) for c in cells)]
    body = [(n, cells) for n, cells in body if not all(_blank(c) for c in cells)]
    if blank:
        notes.append(f"{len(blank)} blank rows not counted")
    raw = pd.DataFrame([[None if _blank(c) else str(c) if not isinstance(c, (dt.date, dt.datetime)) else c
                         for c in cells[:len(headings)]] for _, cells in body],
                       index=pd.Index([n for n, _ in body], name="row"),
                       columns=[c or f"(column {i + 1})" for i, c in enumerate(headings)])
    raw.attrs["source"] = source
    raw = check_personal_data(raw, drop=drop, allow=allow, source=source, registry=registry,
                              call="read_records(path, ...)", personal_data=personal_data)
    for col in raw.attrs.get("dropped_personal_data", []):
        if col not in drop:
            notes.append(f"column {col!r} looks like personal data: removed (personal_data='quarantine')")
    cells = raw.attrs.get("personal_cells")
    personal = {} if cells is None or len(cells) == 0 else {
        r: f"{c}: {rule} ({shape}) blanked" for r, c, rule, shape in cells[["row", "column", "rule", "shape"]]
        .itertuples(index=False)}
    mapping: dict[str, str] = {}
    for col in raw.columns:
        name = spec.column_of(col)
        if name is None:
            notes.append(f"column {col!r} is not in the records spec: ignored")
        elif name in mapping.values():
            notes.append(f"column {col!r} names {name} again: ignored (the first one is read)")
        else:
            mapping[col] = name
    missing = [f"{f['zh']} ({n})" for n, f in spec.fields.items() if f.get("required") and n not in mapping.values()]
    if missing:
        raise ReadError(f"{source}: no column for {', '.join(missing)} (headings found: {list(raw.columns)}). "
                        "Rename the heading or add its name to the spec's aliases.")
    if personal_data != "ignore":
        raw, mapping = _names_in_ids(raw, mapping, registry, personal_data, source, personal, notes)
    communities = _community_lookup(registry)
    span = None if period is None else tuple(pd.Timestamp(d).date() for d in period)
    return _check_rows(raw, mapping, spec, communities, source, notes, personal, span)


def _names_in_ids(raw, mapping, registry, personal_data, source, personal, notes):
    """People's names typed into the id list (a sign-in sheet copied in): refuse the column when
    they are common (or remove it with ``personal_data="quarantine"``); blank a stray one and
    quarantine its row. Names are found as in surveys (a common surname and 2-4 Chinese
    characters, registry and place names excepted: :mod:`evalkit.io.privacy`)."""
    from ..errors import PersonalDataError
    from ..io.privacy import _looks_like_name, non_name_words

    col = next((c for c, n in mapping.items() if n == "attendee_ids"), None)
    if col is None:
        return raw, mapping
    exclude = non_name_words(registry=registry)
    hits = [r for r, v in raw[col].items() if not _blank(v) and any(
        _looks_like_name(t, exclude) for t in _ID_SPLIT.split(unicodedata.normalize("NFKC", str(v))) if t)]
    if not hits:
        return raw, mapping
    filled = int(raw[col].map(lambda v: not _blank(v)).sum())
    if len(hits) >= max(3, 0.2 * filled):
        if personal_data == "refuse":
            raise PersonalDataError(
                f"{source}: column {col!r} lists people's names ({len(hits)} rows, e.g. row {hits[0]}), not "
                "pseudonymous ids. Replace the names by keyed pseudonyms (evalkit.io.privacy.pseudonymise) before "
                f"reading, or read without the column: read_records(path, drop=[{col!r}]) (attendances are then "
                "counted from the count column and cannot be de-duplicated).", columns=[col])
        notes.append(f"column {col!r} lists people's names: removed (personal_data='quarantine')")
        return raw.drop(columns=[col]), {c: n for c, n in mapping.items() if c != col}
    raw = raw.copy()
    for r in hits:
        raw.at[r, col] = None
        personal[r] = f"{col}: name (Chinese characters) blanked"
    return raw, mapping


def _check_rows(raw, mapping, spec, communities, source, notes, personal=None, period=None) -> RecordsReport:
    totals = {_key(w) for w in spec.totals_words}
    year = period[0].year if period is not None and period[0].year == period[1].year else None
    valid, quarantined, problems, seen = [], [], [], {}
    for rown, values in raw.iterrows():
        texts = [_key(v) for v in values if not _blank(v)]
        if any(t in totals or any(t.startswith(w) for w in totals) for t in texts):
            msg = "a totals row (合计/小计): excluded, totals are recomputed from the activities"
            problems.append((source, rown, "", "", "totals_row", f"{source}, row {rown}: {msg}"))
            quarantined.append({**values.to_dict(), "row": rown, "rule": "totals_row", "message": msg})
            continue
        cells = {name: (col, values[col]) for col, name in mapping.items()}
        rec, probs = _parse_row(cells, spec, communities, year)
        if period is not None and rec.get("date") is not None and not period[0] <= rec["date"] <= period[1]:
            col = next(c for c, n in mapping.items() if n == "date")
            probs.append((col, rec["date"], "outside_period", f"dated outside the contract period {period[0]} to "
                          f"{period[1]}; correct the date or move the row to its year's sheet"))
        if personal and rown in personal:
            probs.insert(0, ("", "", "personal_data", f"a personal number in {personal[rown]}; remove it from the "
                             "sheet (record a pseudonymous id instead)"))
        ids = rec.get("attendee_ids") or []
        distinct = tuple(dict.fromkeys(ids))
        if len(distinct) < len(ids):
            notes.append(f"row {rown}: {len(ids) - len(distinct)} id(s) entered twice in one activity, counted once")
        rec["attendee_ids"] = distinct
        if rec.get("attendees") is None and "attendees" not in [p[0] for p in probs]:
            rec["attendees"] = len(distinct) if distinct else None
        elif rec.get("attendees") is not None and rec["attendees"] < len(distinct):
            probs.append((next(c for c, n in mapping.items() if n == "attendees"), rec["attendees"],
                          "count_below_ids", f"fewer attendances than the {len(distinct)} ids listed; "
                          "correct the count or the ids"))
        if not probs:
            key = tuple((k, rec.get(k)) for k in ("date", "community_id", "activity_type", "title", "attendee_ids",
                                                  "attendees", "hours", "spending", "spending_line"))
            if key in seen:
                probs.append(("", "", "duplicate_row", f"the same activity as row {seen[key]}; delete one of them"))
            else:
                seen[key] = rown
        if probs:
            for col, val, rule, msg in probs:
                problems.append((source, rown, col, display_value(val) if not isinstance(val, dt.date) else str(val),
                                 rule, f"{source}, row {rown}, column {col or '-'}: {msg}"))
            quarantined.append({**values.to_dict(), "row": rown, "rule": probs[0][2],
                                "message": "; ".join(p[3] for p in probs)})
        else:
            valid.append({"row": rown, **{c: rec.get(c) for c in RECORD_COLUMNS}})
    v = pd.DataFrame(valid, columns=["row", *RECORD_COLUMNS]).set_index("row")
    if v.empty:
        v["attendee_ids"] = v["attendee_ids"].astype(object)
    v["date"] = pd.to_datetime(v["date"])
    for c in ("attendees", "volunteers"):
        v[c] = pd.array(v[c], dtype="Int64")
    for c in ("hours", "volunteer_hours", "spending"):
        v[c] = pd.to_numeric(v[c]).astype(float)
    v["source"] = source
    q = pd.DataFrame(quarantined)
    q = q.set_index("row") if not q.empty else pd.DataFrame(columns=[*raw.columns, "rule", "message"])
    return RecordsReport(valid=v, quarantined=q, problems=pd.DataFrame(problems, columns=PROBLEM_COLUMNS),
                         notes=tuple(notes), rows_in=len(raw), source=source)


def read_workbook(path: str | Path, **kw) -> tuple[RecordsReport, ...]:
    """Read every sheet of a workbook kept one sheet per month (or per service type) with
    :func:`read_records` (keywords passed on); each report's ``source`` is ``file[sheet]``. Sheets
    without a heading row (a cover page, instructions, an empty sheet) are skipped, and each
    report's notes say which were."""
    import openpyxl

    path = Path(path)
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return (read_records(path, **kw),)
    try:
        names = openpyxl.load_workbook(path, read_only=True).sheetnames
    except Exception as exc:  # openpyxl raises many kinds on damaged files
        raise ReadError(f"{path}: not a readable Excel workbook ({type(exc).__name__}). Save it again from Excel "
                        "as .xlsx.") from None
    reports, skipped = [], []
    for name in names:
        try:
            reports.append(read_records(path, sheet=name, **kw))
        except ReadError as exc:
            if "no heading row" not in str(exc):
                raise
            skipped.append(name)
    if not reports:
        raise ReadError(f"{path}: no sheet has a heading row of service records (sheets: {names}).")
    note = f"sheets without record headings skipped: {skipped}" if skipped else None
    return tuple(replace(r, notes=(*r.notes, note)) if note else r for r in reports)


def combine_records(reports: Sequence[RecordsReport]) -> pd.DataFrame:
    """The valid rows of several sheets in one frame (``source`` and ``row`` as columns), with the
    same activity entered in two sheets kept once (``attrs["duplicates_across_sheets"]`` counts them)."""
    frames = [r.valid.reset_index() for r in reports]
    if not frames:
        return pd.DataFrame(columns=["row", *RECORD_COLUMNS, "source"])
    allrec = pd.concat(frames, ignore_index=True)
    key = allrec[["date", "community_id", "activity_type", "title", "attendees", "hours", "spending"]].astype(str)
    key["ids"] = allrec["attendee_ids"].map(lambda t: ";".join(t))
    dup = key.duplicated()
    out = allrec[~dup].reset_index(drop=True)
    out.attrs["duplicates_across_sheets"] = int(dup.sum())
    return out


__all__ = ["RecordsSpec", "RecordsReport", "RECORD_COLUMNS", "PROBLEM_COLUMNS", "load_records_spec", "read_records",
           "parse_date", "combine_records", "read_workbook", "SPEC_FILE", "SCHEMA_FILE", "SPENDING_ONLY"]
