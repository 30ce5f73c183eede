"""Replicate weights declared in ``study.yaml`` kept through validation (:meth:`Project.load_survey`).

:func:`evalkit.validate` keeps only the codebook's columns, and the platform readers (问卷星, Kobo,
SPSS) read only columns the codebook names. A survey company's replicate weights
(``design: replicate_weights: {columns: "repw_*", ...}``) are usually in neither, so the project
carries the declared columns into the valid rows: from the export as read (``kind: table``), or from
a file of their own (``file: data/repweights.csv``, merged by the respondent column ``by``, default
the study's unit role, and by wave when the file has the wave column). Checked: a valid row whose
replicate weight is missing, not a number or negative, or whose respondent the file lacks, is moved
to the quarantined rows with rule ``replicate_weight`` (rows in = valid + quarantined still holds),
and the "unknown column" notes for the declared columns are withdrawn.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DesignError
from ..io.prepare import _key_text
from ..spec.study import Study
from ..spec.study_replicates import replicate_columns

__all__ = ["keep_replicate_weights", "replicate_file", "RULE"]

#: The rule name of a bad replicate weight in the validation report's problems.
RULE = "replicate_weight"


def replicate_file(spec: dict, prepared: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, list[str]]:
    """The declared replicate weights read from ``spec["file"]``, one row per row of `prepared`
    (its index; missing where the file lacks the respondent), and their column names.

    Raises
    ------
    DesignError
        The file cannot be read, lacks the key column, matches no replicate column, or holds a
        respondent twice; the message names the file, the row or column and the fix.
    """
    from ..io.read import read_survey

    path = str(spec["file"])
    if not Path(path).is_file():
        raise DesignError(f"{study.path}: design.replicate_weights.file {path!r} does not exist; put the survey "
                          "company's replicate weight file there or fix the path.")
    table = read_survey(path)
    by = spec.get("by", study.roles.unit)
    keys = [by] + ([study.roles.wave] if study.roles.wave in table.columns and study.roles.wave in prepared.columns
                   else [])
    for k, frame, where in ((by, table, path), (by, prepared, "the export")):
        if k not in frame.columns:
            raise DesignError(f"{where}: no column {k!r} to merge the replicate weights by; name the respondent "
                              f"column of both in design.replicate_weights.by (columns of {where}: "
                              f"{[str(c) for c in frame.columns][:10]}).")
    cols = replicate_columns(spec, table.drop(columns=keys), study.roles.weight, path, study.roles)
    fkey = pd.Series(list(zip(*[table[k].map(_key_text) for k in keys])), index=table.index)
    dup = fkey[fkey.duplicated(keep=False)]
    if len(dup):
        raise DesignError(f"{path}, row {dup.index[1]}, column {by!r}: {'/'.join(map(str, dup.iloc[1]))!r} appears "
                          f"more than once (first at row {dup.index[0]}); one row per respondent"
                          + (" and wave" if len(keys) > 1 else "") + " is needed.")
    pos = {k: i for i, k in enumerate(fkey)}
    skey = list(zip(*[prepared[k].map(_key_text) for k in keys]))
    at = np.array([pos.get(k, -1) for k in skey], dtype=np.int64)
    values = table[cols].reset_index(drop=True).astype(object)
    out = values.reindex(np.where(at >= 0, at, len(values))).set_axis(prepared.index)
    out.attrs["unmatched"] = prepared.index[at < 0]
    return out, cols


def keep_replicate_weights(prepared: pd.DataFrame, report, study: Study):
    """The validation report with the study's replicate weight columns in its valid rows.

    Parameters
    ----------
    prepared
        The table :func:`evalkit.validate` was given (the export after the design step).
    report
        Its :class:`~evalkit.io.validate.ValidationReport`.
    study
        The study; without ``replicate_weights`` the report is returned unchanged.

    Returns
    -------
    ValidationReport
        ``valid`` with the declared columns (float) the codebook does not list; rows with a bad
        replicate weight moved to ``quarantined`` (their ``problems`` naming ``replicate_weight``)
        with one ``problems`` record per bad cell (``row, column, value, rule, message``).

    Raises
    ------
    DesignError
        The declared columns are neither in the export nor in a replicate weight file (the message
        names the study file and the fix).
    """
    spec = study.replicate_weights
    if spec is None:
        return report
    if "file" in spec:
        source, cols = replicate_file(spec, prepared, study)
        unmatched = set(source.attrs["unmatched"])
    else:
        cols, unmatched = _export_columns(spec, prepared, study), set()
        source = prepared
    cols = [c for c in cols if c not in report.valid.columns]
    if not cols:
        return report
    rows = report.valid.index
    raw = source.loc[rows, cols]
    values = raw.apply(pd.to_numeric, errors="coerce").astype(float)
    bad = ~np.isfinite(values.to_numpy()) | (values.to_numpy() < 0)
    where = f"the replicate weight file {spec.get('file')}" if "file" in spec else "the export"
    records = [_record(rows[i], cols[j], raw.iat[i, j], rows[i] in unmatched, where) for i, j in zip(*np.nonzero(bad))
               if not (rows[i] in unmatched and j > 0)]
    bad_rows = rows[bad.any(axis=1)]
    moved = prepared.loc[bad_rows].copy()
    moved["problems"] = RULE
    keep = ~rows.isin(bad_rows)
    valid = report.valid[keep].join(values[keep])
    valid.attrs = dict(report.valid.attrs)
    quarantined = pd.concat([report.quarantined, moved]).sort_index() if len(moved) else report.quarantined
    problems = report.problems
    known = ~((problems["rule"] == "unknown_column") & problems["column"].isin(cols))
    problems = pd.concat([problems[known], pd.DataFrame(records, columns=problems.columns)], ignore_index=True) \
        if records else problems[known].reset_index(drop=True)
    if records:
        problems["row"] = problems["row"].astype(report.problems["row"].dtype)
    gone = {f"column {c!r} is not in the codebook and was left out" for c in cols}
    notes = tuple(n for n in report.notes if n not in gone) + (
        f"{len(cols)} replicate weight columns declared in the study file kept ({RULE} checked)",)
    return replace(report, valid=valid, quarantined=quarantined, problems=problems, notes=notes)


def _export_columns(spec: dict, prepared: pd.DataFrame, study: Study) -> list[str]:
    try:
        return replicate_columns(spec, prepared, study.roles.weight, study.path or "the study", study.roles)
    except DesignError as exc:
        kind = study.read.get("kind", "table")
        if kind == "table":
            raise
        raise DesignError(f"{exc} The {kind} reader keeps only the columns your codebook names: give the "
                          "replicate weights in a file of their own (design.replicate_weights.file: "
                          "data/repweights.csv, with the respondent column) or list them in the codebook.") from None


def _record(row, column: str, value, unmatched: bool, where: str) -> dict:
    if unmatched:
        message = (f"the respondent is not in {where}; every respondent needs replicate weights: ask the survey "
                   "company for the complete file, or check the key (design.replicate_weights.by)")
        return {"row": int(row), "column": column, "value": "", "rule": RULE, "message": message}
    return {"row": int(row), "column": column, "value": "" if pd.isna(value) else str(value), "rule": RULE,
            "message": f"replicate weight {column!r} is {value!r} in {where}: every row needs a number >= 0 (0 "
                       "where a replicate leaves the row out); ask the survey company for the corrected file"}
