"""Replicate weights declared in a study (``design: replicate_weights:`` of ``study.yaml``).

A survey company often ships replicate weights (jackknife, BRR, Fay, bootstrap, successive
difference) instead of, or besides, strata and PSUs. The study file declares them once::

    design:
      replicate_weights:
        columns: "repw_*"        # a glob pattern over the data's columns, or a list of names
        type: JK1                # JK1 | JKn | JK2 | BRR | Fay | bootstrap | subbootstrap | SDR | ACS | other
        scale: 0.95              # optional (the type's default; required for type: other)
        rscales: 1               # optional: one number or one per replicate (required for JKn)
        rho: 0.5                 # Fay's coefficient (type: Fay only, required there)
        mse: false               # centre at the full-sample estimate (true) or the replicates' mean
        combined_weights: true   # the columns are final weights (true) or factors of the weight (false)
        file: data/repweights.csv  # optional: the weights in a file of their own, merged by respondent
        by: respondent_id        # optional: the file's key column (default the study's unit role)

and :meth:`evalkit.SurveyDesign.from_study` then returns a
:class:`~evalkit.survey.replicate.ReplicateDesign` (R ``svrepdesign``) whose full-sample weight
is the study's ``weight`` role. This module checks the declaration when the study is made
(:func:`check_replicate_spec`) and finds the columns in the data when the design is made
(:func:`replicate_columns`); both raise errors naming the study file, the key and the fix.
"""
from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, EvalkitError

__all__ = ["REPLICATE_KEYS", "REPLICATE_TYPES", "check_replicate_spec", "replicate_columns",
           "replicate_options"]

#: The keys of ``design.replicate_weights``.
REPLICATE_KEYS = ("columns", "type", "scale", "rscales", "rho", "mse", "combined_weights", "file", "by")
#: Replicate types (R ``svrepdesign(type=)``; those of :data:`evalkit.survey.replicate.ReplicateType`).
REPLICATE_TYPES = ("JK1", "JKn", "JK2", "BRR", "Fay", "bootstrap", "subbootstrap", "SDR",
                   "successive-difference", "ACS", "other")
_KEY = "design.replicate_weights"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and bool(np.isfinite(value))


def _columns(value: Any, source: str) -> str | list[str]:
    fix = ("give a glob pattern over your data's columns (columns: \"repw_*\") or the list of the "
           "replicate weight columns (columns: [repw_1, repw_2, ...])")
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, (list, tuple)) and value and all(isinstance(c, str) and c.strip() for c in value):
        names = [c.strip() for c in value]
        twice = sorted({c for c in names if names.count(c) > 1})
        if twice:
            raise EvalkitError(f"{source}: {_KEY}.columns lists {twice} more than once; list each replicate "
                               "weight column once.")
        return names
    raise EvalkitError(f"{source}: {_KEY}.columns is {value!r}; {fix}.")


def check_replicate_spec(spec: Any, source: str) -> dict | None:
    """The checked ``replicate_weights`` declaration (``None`` when there is none).

    Parameters
    ----------
    spec
        The mapping under ``design: replicate_weights:`` (or ``Study(replicate_weights=...)``).
    source
        Where it comes from (the study file's path), for messages.

    Returns
    -------
    dict or None
        ``columns`` (pattern or list), ``type`` (spelled as :data:`REPLICATE_TYPES`), and the given
        ones of ``scale``, ``rscales``, ``rho``, ``mse``, ``combined_weights``.

    Raises
    ------
    EvalkitError
        An unknown key, a missing ``columns`` or ``type``, an unknown type, or a value of the wrong
        kind; the message names `source`, the key and the fix.
    """
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise EvalkitError(f"{source}: {_KEY} must be a mapping (columns: \"repw_*\", type: JK1, ...), got "
                           f"{type(spec).__name__}.")
    unknown = [k for k in spec if k not in REPLICATE_KEYS]
    if unknown:
        raise EvalkitError(f"{source}: unknown key(s) {unknown} in {_KEY}; the keys are {list(REPLICATE_KEYS)}.")
    for key in ("columns", "type"):
        if spec.get(key) is None:
            raise EvalkitError(f"{source}: {_KEY} needs `{key}:` ("
                               + ("the replicate weight columns, e.g. columns: \"repw_*\")" if key == "columns" else
                                  f"how the replicates were made, one of {list(REPLICATE_TYPES)}; ask the survey "
                                  "company which)"))
    out: dict[str, Any] = {"columns": _columns(spec["columns"], source)}
    kind = {t.lower(): t for t in REPLICATE_TYPES}.get(str(spec["type"]).lower())
    if kind is None:
        raise EvalkitError(f"{source}: {_KEY}.type {spec['type']!r} is not a replicate type; use one of "
                           f"{list(REPLICATE_TYPES)} (other: give scale: and rscales: yourself).")
    out["type"] = kind
    scale = spec.get("scale")
    if scale is not None and not (_number(scale) and scale > 0):
        raise EvalkitError(f"{source}: {_KEY}.scale must be a number > 0, got {scale!r}.")
    if kind == "other" and scale is None:
        raise EvalkitError(f"{source}: {_KEY} with type: other needs scale: (the variance multiplier the survey "
                           "company gives; evalkit does not guess it).")
    rscales = spec.get("rscales")
    if rscales is not None:
        values = list(rscales) if isinstance(rscales, (list, tuple)) else [rscales]
        if not values or not all(_number(v) and v >= 0 for v in values):
            raise EvalkitError(f"{source}: {_KEY}.rscales must be one number >= 0 or a list of them (one per "
                               f"replicate), got {rscales!r}.")
        rscales = [float(v) for v in values] if isinstance(rscales, (list, tuple)) else float(rscales)
    if kind == "JKn" and rscales is None:
        raise EvalkitError(f"{source}: {_KEY} with type: JKn needs rscales: (per replicate (n_h - 1)/n_h of the "
                           "stratum whose PSU it deletes, as R svrepdesign; the survey company's documentation "
                           "gives them).")
    rho = spec.get("rho")
    if kind == "Fay" and not (_number(rho) and 0 <= rho < 1):
        raise EvalkitError(f"{source}: {_KEY} with type: Fay needs rho: (Fay's coefficient, 0 <= rho < 1, e.g. "
                           f"0.5), got {rho!r}.")
    if kind != "Fay" and rho is not None:
        raise EvalkitError(f"{source}: {_KEY}.rho is Fay's coefficient and applies only to type: Fay; remove it "
                           f"or set type: Fay (type is {kind}).")
    for key in ("mse", "combined_weights"):
        if key in spec and not isinstance(spec[key], bool):
            raise EvalkitError(f"{source}: {_KEY}.{key} must be true or false, got {spec[key]!r}.")
    for key in ("file", "by"):
        if key in spec and not (isinstance(spec[key], str) and spec[key].strip()):
            raise EvalkitError(f"{source}: {_KEY}.{key} must be " + ("the path of a CSV or Excel file with the "
                               "replicate weights" if key == "file" else "the name of the file's respondent "
                               f"column") + f", got {spec[key]!r}.")
    if "by" in spec and "file" not in spec:
        raise EvalkitError(f"{source}: {_KEY}.by names the key of a replicate weight file; give file: too, or "
                           "remove by: (without a file the columns are in the export).")
    for key, value in (("scale", scale), ("rscales", rscales), ("rho", rho), ("mse", spec.get("mse")),
                       ("combined_weights", spec.get("combined_weights")), ("file", spec.get("file")),
                       ("by", spec.get("by"))):
        if value is not None:
            out[key] = float(value) if key in ("scale", "rho") else value
    return out


def replicate_columns(spec: Mapping, data: pd.DataFrame, weight: str | None, source: str,
                      roles: Any = None) -> list[str]:
    """The data's replicate weight columns named by a checked declaration, in the data's order
    for a pattern (the weight column excluded) and in the listed order for a list.

    Raises
    ------
    DesignError
        The pattern matches no column, or listed columns are missing, or the columns include one
        of the study's `roles` (a :class:`~evalkit.spec.study.Roles`: community, wave, PSU ...); the
        message names `source`, the key, the columns and the fix.
    """
    cols = spec["columns"]
    names = [str(c) for c in data.columns]
    hint = ("validate() leaves out columns the codebook does not list: keep them by loading with "
            "evalkit.open_study(...).load_survey(), which carries the declared replicate weights, or list "
            "them in the codebook (type: number).")
    if isinstance(cols, str):
        found = [c for c in names if c != weight and fnmatchcase(c, cols)]
        if not found:
            near = [c for c in names if c.lower().startswith(cols.split("*")[0].lower()[:3])][:5] \
                if cols.split("*")[0] else []
            raise DesignError(f"{source}: {_KEY}.columns {cols!r} (a glob pattern: * any characters, ? one) "
                              f"matches no column of the data ({len(names)} columns"
                              + (f"; similar: {near}" if near else "") + "). Fix the pattern or list the "
                              f"columns. {hint}")
        return _not_roles(found, roles, source)
    missing = [c for c in cols if c not in names]
    if missing:
        raise DesignError(f"{source}: {_KEY}.columns lists {len(missing)} column(s) the data lack: {missing[:10]}"
                          + (" ..." if len(missing) > 10 else "") + f". Fix the names in the study file. {hint}")
    if weight in cols:
        raise DesignError(f"{source}: {_KEY}.columns lists the full-sample weight {weight!r}; list only the "
                          "replicate weights (the weight is the study's weight role).")
    return _not_roles(list(cols), roles, source)


def _not_roles(cols: list[str], roles: Any, source: str) -> list[str]:
    taken = {getattr(roles, f): f for f in ("community", "wave", "unit", "household", "role", "strata", "psu")
             if roles is not None and getattr(roles, f, None) is not None}
    clash = [f"{c} (the {taken[c]} column)" for c in cols if c in taken]
    if clash:
        raise DesignError(f"{source}: {_KEY}.columns takes in {clash}, which are not replicate weights; use a "
                          "narrower pattern (e.g. \"repw_*\") or list the replicate weight columns.")
    return cols


def replicate_options(spec: Mapping) -> dict:
    """The keyword arguments of :class:`~evalkit.survey.replicate.ReplicateDesign` besides data,
    weight, columns and type."""
    return {k: spec[k] for k in ("scale", "rscales", "rho", "mse", "combined_weights") if k in spec}
