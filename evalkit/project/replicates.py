"""Replicate weights declared in ``study.yaml`` kept through validation (:meth:`Project.load_survey`).

:func:`evalkit.validate` keeps only the codebook's columns. A survey company's replicate weights
(``design: replicate_weights: {columns: "repw_*", ...}``) are usually not in the codebook, so the
project carries the declared columns from the prepared export into the valid rows, checked: a valid
row whose replicate weight is missing, not a number or negative is moved to the quarantined rows
with rule ``replicate_weight`` (rows in = valid + quarantined still holds), and the codebook's
"unknown column" notes for the declared columns are withdrawn.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..spec.study import Study
from ..spec.study_replicates import replicate_columns

__all__ = ["keep_replicate_weights", "RULE"]

#: The rule name of a bad replicate weight in the validation report's problems.
RULE = "replicate_weight"


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
        The declared columns are not in the export (the message names the study file and the fix).
    """
    spec = study.replicate_weights
    if spec is None:
        return report
    source = study.path or "the study"
    cols = replicate_columns(spec, prepared, study.roles.weight, source, study.roles)
    cols = [c for c in cols if c not in report.valid.columns]
    if not cols:
        return report
    rows = report.valid.index
    raw = prepared.loc[rows, cols]
    values = raw.apply(pd.to_numeric, errors="coerce").astype(float)
    bad = ~np.isfinite(values.to_numpy()) | (values.to_numpy() < 0)
    records = [{"row": int(rows[i]), "column": cols[j], "value": "" if pd.isna(raw.iat[i, j]) else str(raw.iat[i, j]),
                "rule": RULE, "message": f"replicate weight {cols[j]!r} is {raw.iat[i, j]!r}: every row needs a "
                                         "number >= 0 (0 where a replicate leaves the row out); ask the survey "
                                         "company for the corrected file"}
               for i, j in zip(*np.nonzero(bad))]
    bad_rows = rows[bad.any(axis=1)]
    moved = prepared.loc[bad_rows].copy()
    moved["problems"] = RULE
    keep = ~report.valid.index.isin(bad_rows)
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
