"""KoboToolbox / ODK repeat groups: :func:`read_kobo_repeat`.

A form with a repeat group (household members, one row per member) is exported as one table per
group besides the submissions:

* KoboToolbox XLSX: the submissions on the first sheet (named after the form, cut to Excel's 31
  characters), one sheet per repeat group (the group's name, cut to 31 characters). Every row of
  a repeat sheet carries ``_index`` (its number in the sheet), ``_parent_table_name`` (the full,
  uncut name of the table it belongs to) and ``_parent_index`` (that table's ``_index``); the
  submissions sheet has ``_index`` too. A nested repeat (a member's jobs) points to its parent
  repeat's sheet, which points to the submissions.
* KoboToolbox CSV: the same tables as one ``.csv`` file each, same columns.
* ODK Central CSV (the zip of one file per table, ``<form>.csv`` and ``<form>-<group>.csv``):
  ``KEY`` on every table (``uuid:...`` for a submission, ``uuid:.../members[2]`` for a repeat) and
  ``PARENT_KEY`` on the repeat tables; the submission of any row, nested or not, is the part of
  ``PARENT_KEY`` before the first ``/``.

The repeat group is a table of its own with its own unit (a member, not a respondent), so it has
its own codebook: an ordinary evalkit codebook file describing the group's fields. It may also
declare the parent's columns (``respondent_id``, ``community_id``, ``wave`` ...): then
:func:`evalkit.validate` checks them like any field (community in the registry, wave listed) and
keeps them in the valid table; columns it does not declare are attached as metadata
(``attrs["meta"]``). :func:`repeat_study` builds the study to validate the rows with.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..errors import EvalkitWarning, ReadError
from ..spec.codebook import Codebook, as_codebook
from .kobo import EXCLUSIVE, _last, convert_table, read_kobo, read_xlsform, xlsform_tables
from .platform import _text
from .privacy import PersonalDataPolicy

#: Parent columns attached to every repeat row (the study's roles), besides the submission time.
PARENT_ROLES = ("unit", "household", "community", "wave", "strata", "psu", "weight")
_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_MAX_DEPTH = 32


def _sheet_key(name: str) -> str:
    """A table name as Kobo writes it as a sheet name: characters Excel forbids removed, cut to 31."""
    return _SHEET_CHARS.sub("", str(name)).strip()[:31].casefold()


def _key(v) -> str | None:
    """An ``_index``/``_parent_index`` or ``KEY`` cell as text (``1``, ``1.0`` and ``"1"`` agree)."""
    t = _text(v)
    if t is None:
        return None
    t = t.strip()
    return t[:-2] if re.fullmatch(r"\d+\.0", t) else t


def _header(raw: pd.DataFrame, *wanted: str) -> str | None:
    for want in wanted:
        hit = next((str(h) for h in raw.columns if str(h).strip().lower() == want), None)
        hit = hit or next((str(h) for h in raw.columns if _last(str(h)) == want), None)
        if hit:
            return hit
    return None


class _Tables:
    """The submissions and repeat tables of one export: sheets of a workbook, or CSV files in
    the folder of the submissions file."""

    def __init__(self, path: Path, sep, sheet, limits):
        from .read import EXCEL_SUFFIXES
        from .workbook import sheet_names

        self.path, self.sep, self.limits, self.cache = path, sep, limits, {}
        self.excel = path.suffix.lower() in EXCEL_SUFFIXES
        if self.excel:
            self.names = sheet_names(path)
            self.main = self.names[sheet] if isinstance(sheet, int) else (sheet or self.names[0])
        else:
            self.names = sorted(p.name for p in path.parent.glob("*") if p.suffix.lower() in (".csv", ".tsv", ".txt"))
            self.main = path.name

    def where(self, name: str) -> str:
        return f"sheet {name!r}" if self.excel else f"file {name!r}"

    def find(self, group) -> str:
        """The table of a repeat group: a sheet (by name, by the name cut to 31 characters, or by the
        last part of a group path), or a CSV file (a path, or ``<group>.csv``/``<form>-<group>.csv``
        beside the submissions file)."""
        if not self.excel and Path(group).suffix.lower() in (".csv", ".tsv", ".txt"):
            p = Path(group)
            p = p if p.is_file() else self.path.parent / p.name
            if not p.is_file():
                raise ReadError(f"{p}: no such file (the repeat group's table).")
            if p.resolve().parent != self.path.resolve().parent:
                raise ReadError(f"{p}: a repeat group's file must be in the folder of the submissions file "
                                f"{str(self.path.parent)!r} (the export's files together).")
            return p.name
        hit = self.table(str(group)) or self.table(re.split(r"[/:]", str(group).strip())[-1])
        if hit is None or hit == self.main:
            others = [n for n in self.names if n != self.main]
            raise ReadError(f"{self.path}: no repeat group {group!r}; the export's repeat tables are {others}. Name "
                            "one of them (a sheet name, or the group's name as in the form).")
        return hit

    def table(self, name: str | None) -> str | None:
        """The table a ``_parent_table_name`` (or a group name) names, or None."""
        if not name:
            return None
        if name in self.names:
            return name
        want = _sheet_key(name)
        if self.excel:
            hits = [n for n in self.names if _sheet_key(n) == want]
        else:
            stems = {n: Path(n).stem.casefold() for n in self.names}
            hits = [n for n, stem in stems.items()
                    if any(stem == w or stem.endswith(("-" + w, "_" + w)) for w in (name.casefold(), want))]
        if len(hits) > 1:
            raise ReadError(f"{self.path}: {name!r} matches several tables {hits}; name the "
                            f"{'sheet' if self.excel else 'file'} exactly.")
        return hits[0] if hits else None

    def raw(self, name: str) -> pd.DataFrame:
        from .read import read_survey

        if name not in self.cache:
            with warnings.catch_warnings():  # the other sheets are the other tables
                warnings.simplefilter("ignore", EvalkitWarning)
                if self.excel:
                    t = read_survey(self.path, sheet=name, personal_data="ignore", limits=self.limits, labels=False)
                else:
                    t = read_survey(self.path.parent / name, sep=self.sep, personal_data="ignore", limits=self.limits,
                                    labels=False)
            self.cache[name] = t
        return self.cache[name]

    def index_map(self, name: str, notes: list[str]) -> dict[str, object]:
        """{``_index`` value: spreadsheet row} of a table (its row order when it has no ``_index``)."""
        t = self.raw(name)
        col = _header(t, "_index")
        if col is None:
            notes.append(f"{self.where(name)} has no _index column; its rows are numbered 1, 2, ... in order, "
                         "as KoboToolbox numbers them")
            return {str(i + 1): r for i, r in enumerate(t.index)}
        out: dict[str, object] = {}
        for r, v in t[col].items():
            k = _key(v)
            if k is not None:
                out.setdefault(k, r)
        return out


def _link_kobo(tables: _Tables, name: str, notes: list[str]) -> tuple[dict, dict]:
    """{repeat row: submissions row} and {repeat row: why it is an orphan}, following
    ``_parent_table_name``/``_parent_index`` through nested repeats."""
    maps: dict[str, dict] = {}
    linked, orphans, unknown = {}, {}, set()
    for row in tables.raw(name).index:
        table, r, path = name, row, []
        for _ in range(_MAX_DEPTH):
            t = tables.raw(table)
            pcol, tcol = _header(t, "_parent_index"), _header(t, "_parent_table_name")
            pidx = _key(t.at[r, pcol]) if pcol else None
            ptable_name = _text(t.at[r, tcol]) if tcol else None
            parent = tables.table(ptable_name) if ptable_name else None
            if parent is None and ptable_name and ptable_name not in unknown:
                unknown.add(ptable_name)
                kind = "sheet" if tables.excel else "file"
                notes.append(f"_parent_table_name {ptable_name!r} is no {kind} of the export; "
                             f"its rows are taken to belong to the submissions ({tables.where(tables.main)}), "
                             "checked by _submission__uuid/_submission__id where exported")
            parent = tables.main if parent is None or parent == table else parent
            where = f"{tables.where(name)}, row {row}" + (f": through {' -> '.join(path)}," if path else ":")
            if pidx is None:
                orphans[row] = f"{where} _parent_index is blank, so the row belongs to no submission"
                break
            if parent not in maps:
                maps[parent] = tables.index_map(parent, notes)
            hit = maps[parent].get(pidx)
            if hit is None:
                orphans[row] = f"{where} _parent_index {pidx} matches no row of {tables.where(parent)} (its _index)"
                break
            if parent == tables.main:
                linked[row] = hit
                break
            path.append(f"{tables.where(parent)} row {hit}")
            table, r = parent, hit
        else:
            orphans[row] = f"{tables.where(name)}, row {row}: its parents form a loop"
    _cross_check(tables, name, linked, orphans, notes)
    return linked, orphans


def _cross_check(tables: _Tables, name: str, linked: dict, orphans: dict, notes: list[str]) -> None:
    """KoboToolbox also writes each repeat row's submission (``_submission__uuid``, ``_submission__id``):
    a row whose ``_parent_index`` chain reaches another submission than it names is quarantined."""
    raw, main = tables.raw(name), tables.raw(tables.main)
    for own, theirs in (("_submission__uuid", "_uuid"), ("_submission__id", "_id")):
        a, b = _header(raw, own), _header(main, theirs)
        if a is None or b is None:
            continue
        subs: dict[str, object] = {}
        for r, v in main[b].items():
            if _key(v) is not None:
                subs.setdefault(_key(v), r)
        unmatched = 0
        for row, sub in list(linked.items()):
            k = _key(raw.at[row, a])
            if k is None:
                continue
            if k not in subs:
                unmatched += 1
            elif subs[k] != sub:
                del linked[row]
                orphans[row] = (f"{tables.where(name)}, row {row}: _parent_index leads to the submission in row {sub} "
                                f"of {tables.where(tables.main)}, but {own} names the one in row {subs[k]}")
        if unmatched:
            notes.append(f"{tables.where(name)}: {unmatched} row(s) name a {own} that no submission has; linked by "
                         "_parent_index")
        return


def _link_odk(tables: _Tables, name: str, pkey: str) -> tuple[dict, dict]:
    """ODK Central: the submission of a row is ``PARENT_KEY`` up to its first ``/``."""
    main = tables.raw(tables.main)
    kcol = _header(main, "key", "instanceid")
    if kcol is None:
        raise ReadError(f"{tables.path}: the submissions table has no KEY (or meta/instanceID) column to link "
                        f"{tables.where(name)} by its PARENT_KEY. Export the submissions with their KEY column.")
    keys = {}
    for r, v in main[kcol].items():
        k = _key(v)
        if k is not None:
            keys.setdefault(k, r)
    linked, orphans = {}, {}
    for row, v in tables.raw(name)[pkey].items():
        k = _key(v)
        sub = k.split("/")[0] if k else None
        if sub is not None and sub in keys:
            linked[row] = keys[sub]
        else:
            orphans[row] = (f"{tables.where(name)}, row {row}: PARENT_KEY "
                            + (f"{k!r} names no submission (no KEY {sub!r} in {tables.where(tables.main)})" if k
                               else "is blank, so the row belongs to no submission"))
    return linked, orphans


def read_kobo_repeat(
    path: str | Path,
    group: str | Path,
    codebook: Codebook | str | Path | None = None,
    *,
    study=None,
    column_map: Mapping[str, str] | None = None,
    parent_column_map: Mapping[str, str] | None = None,
    select_multiple: Mapping[str, Mapping[str, str]] | None = None,
    exclusive: Sequence[str] = EXCLUSIVE,
    xlsform: str | Path | None = None,
    sep: str | None = None,
    sheet: int | str | None = None,
    drop: Sequence[str] = (),
    allow: Sequence[str] = (),
    personal_data: PersonalDataPolicy = "refuse",
    id_column: str = "repeat_id",
    limits=None,
) -> pd.DataFrame:
    """Read one repeat group of a KoboToolbox / ODK export, each row with its submission's id,
    community and wave, ready for :func:`evalkit.validate`.

    Parameters
    ----------
    path
        The export: the ``.xlsx`` (submissions and one sheet per repeat group), or the
        submissions' ``.csv`` with the repeat groups' ``.csv`` files in the same folder.
    group
        The repeat group: its sheet name, its name in the form (``household_members`` or the
        group path ``household/household_members``; names longer than 31 characters are matched
        to the sheet name KoboToolbox cut them to), or for CSV its file (a path, or found as
        ``<group>.csv`` / ``<form>-<group>.csv`` beside `path`).
    codebook
        The repeat group's own codebook (a codebook file describing the group's fields: one row
        per repeat, e.g. per household member). Fields it shares with the submissions
        (``respondent_id``, ``community_id``, ``wave``) may be declared there to be validated.
    study
        The survey's :class:`~evalkit.spec.study.Study`: its codebook reads the submissions, its
        roles say which of their columns to attach (unit, household, community, wave, strata,
        PSU, weight) and its registry serves the personal-data check.
    column_map, select_multiple, exclusive, xlsform
        As :func:`evalkit.read_kobo`, for the repeat group's columns.
    drop, allow, personal_data
        As :func:`evalkit.read_kobo`, for the repeat group's columns and the submissions' (a
        phone number used as the respondent id is refused, or blanked, before it is attached).
    parent_column_map, sep, sheet
        :func:`evalkit.read_kobo`'s `column_map`, `sep` and `sheet` for the submissions.
    id_column
        Name of the column identifying each repeat row: ``<submission's unit id>/<table>[<_index>]``
        (ODK Central: its ``KEY``).

    Returns
    -------
    DataFrame
        The group's codebook columns as text (index = the row number in its sheet or file), the
        parent's role columns, ``submitted`` (the submission time, when exported),
        ``submission_row`` (the submission's row number, the index of :func:`read_kobo`'s table)
        and `id_column`. Columns the group's codebook does not declare are listed in
        ``attrs["meta"]``. ``attrs["read_problems"]`` lists the orphans -- rows whose
        ``_parent_index`` (``PARENT_KEY``) matches no submission: their parent columns are blank
        and :func:`evalkit.validate` quarantines them with a message naming the sheet, the row and
        the fix. ``attrs["repeat"]`` gives the table, its rows, linked rows and orphans.

    Raises
    ------
    ReadError
        No such group (the message lists the repeat tables), no ``_parent_index``/``PARENT_KEY``
        column, or a damaged or oversized file (as :func:`evalkit.read_survey`).

    Examples
    --------
    >>> members = read_kobo_repeat("export.xlsx", "household_members", "members_codebook.yaml",
    ...                            study=study)                                  # doctest: +SKIP
    >>> report = evalkit.validate(members, study=repeat_study(study, "members_codebook.yaml"))  # doctest: +SKIP
    """
    if codebook is None:
        raise ReadError("read_kobo_repeat(path, group, codebook, study=...): the repeat group needs its own codebook "
                        "(a codebook file describing the group's fields, one row per repeat); the study's codebook "
                        "describes the submissions.")
    if study is None:
        raise ReadError("read_kobo_repeat(..., study=...): pass the survey's Study (its codebook reads the "
                        "submissions, its roles name the id, community and wave columns to attach).")
    codebook = as_codebook(codebook, "read_kobo_repeat()")
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such file.")
    tables = _Tables(path, sep, sheet, limits)
    name = tables.find(group)
    raw = tables.raw(name)
    notes: list[str] = []
    pkey = _header(raw, "_parent_index")
    odk = pkey is None and _header(raw, "parent_key") is not None
    if pkey is None and not odk:
        raise ReadError(f"{path}, {tables.where(name)}: no _parent_index (KoboToolbox) or PARENT_KEY (ODK Central) "
                        "column, so its rows cannot be linked to their submissions. Download the export again "
                        "and keep those columns (KoboToolbox: XLS or CSV export of all versions; ODK Central: the "
                        "CSV zip).")
    linked, orphans = (_link_odk(tables, name, _header(raw, "parent_key")) if odk else _link_kobo(tables, name, notes))
    # the submissions under the same personal-data policy: a phone number used as the respondent id
    # is refused (or blanked) there, so it never reaches the repeat rows
    heads = {str(h) for h in tables.raw(tables.main).columns}
    parent = read_kobo(path, parent_column_map, study=study, sep=sep, sheet=sheet if tables.excel else None,
                       personal_data=personal_data, drop=drop, limits=limits,
                       allow=[a for a in ([allow] if isinstance(allow, str) else allow)
                              if a in heads or a in study.codebook.variables])
    keep = [h for h in (pkey, _header(raw, "_parent_table_name"), _header(raw, "parent_key"), _header(raw, "key"))
            if h]
    raw = raw.copy()
    raw.attrs = {"source": str(path if tables.excel else path.parent / name)}
    form = xlsform_tables(*read_xlsform(xlsform)) if xlsform is not None else {}
    out, _ = convert_table(raw, codebook, study.registry, column_map=column_map, select_multiple=select_multiple,
                           exclusive=exclusive, form=form, drop=drop, allow=allow, personal_data=personal_data,
                           notes=notes, call="read_kobo_repeat(path, group, ...)", keep=keep)
    return _attach(out, raw, parent, linked, orphans, tables, name, codebook, study, id_column, odk, notes)


def _attach(out, raw, parent, linked, orphans, tables, name, codebook, study, id_column, odk, notes):
    """The parent's role columns, the submission row and a row id attached; orphans recorded."""
    roles = [getattr(study.roles, r) for r in PARENT_ROLES if getattr(study.roles, r, None)]
    attach = [c for c in dict.fromkeys(roles + ["submitted"]) if c in parent.columns]
    rows = pd.Series([linked.get(r) for r in out.index], index=out.index, dtype=object)
    attrs = dict(out.attrs)
    out = out.copy()
    for col in attach:
        if col in out.columns:
            notes.append(f"{col!r}: the repeat group has its own column; the submission's is not attached")
            continue
        values = parent[col].to_dict()
        out[col] = rows.map(lambda r, v=values: v.get(r) if r is not None else None).astype(object)
    out["submission_row"] = rows
    unit = study.roles.unit if study.roles.unit in parent.columns else None
    ikey = _header(raw, "key") if odk else _header(raw, "_index")
    ids = []
    for r in out.index:
        own = _key(raw.at[r, ikey]) if ikey else None
        if odk and own:
            ids.append(own)
            continue
        sub = linked.get(r)
        head = _text(parent.at[sub, unit]) if sub is not None and unit else (f"row{sub}" if sub is not None else None)
        ids.append(f"{head}/{name}[{own if own is not None else r}]" if head else None)
    out[id_column] = pd.Series(ids, index=out.index, dtype=object)
    meta = [c for c in [*attach, "submission_row", id_column] if c in out.columns and c not in codebook.variables]
    problems = list(attrs.get("read_problems") or [])
    for r, why in orphans.items():
        problems.append({"row": r, "column": "_parent_index" if not odk else "PARENT_KEY", "rule": "orphan",
                         "message": f"{why}. The submission was deleted after the download, or the tables come from "
                                    "different downloads: download the export again (all tables at once), or delete "
                                    "the row."})
    attrs.update({
        "meta": list(dict.fromkeys([*attrs.get("meta", []), *meta])),
        "read_problems": problems,
        "notes": list(attrs.get("notes", [])) + [n for n in notes if n not in attrs.get("notes", [])],
        "repeat": {"table": name, "submissions": tables.main, "rows": len(out), "linked": len(linked),
                   "orphans": len(orphans)},
    })
    out.attrs = attrs
    return out


def repeat_study(study, codebook: Codebook | str | Path, id_column: str = "repeat_id"):
    """`study` with the repeat group's `codebook` and `id_column` as its unit, for
    :func:`evalkit.validate` (the same registry and community and wave roles; a household's
    members share the respondent id, so the respondent is not the unit)."""
    return study.with_(codebook=as_codebook(codebook, "repeat_study()"), roles=replace(study.roles, unit=id_column))


__all__ = ["read_kobo_repeat", "repeat_study", "PARENT_ROLES"]
