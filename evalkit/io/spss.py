"""SPSS ``.sav`` files with value labels and user-missing values and ranges: :func:`read_spss`."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..spec.codebook import Codebook
from .platform import _codebook, _finish, _label_lookup, _norm, _resolve, _text
from .privacy import PersonalDataPolicy, check_mapped


def community_lookup(registry: pd.DataFrame | None) -> dict[str, str]:
    """{normalised community name, pinyin or id: community_id} of a registry ("明月社区", "明月", "Mingyue")."""
    out: dict[str, str] = {}
    if registry is None or "community_id" not in registry.columns:
        return out
    for _, r in registry.iterrows():
        cid = str(r["community_id"])
        for name in (cid, r.get("name_pinyin"), r.get("name_zh")):
            if isinstance(name, str) and name.strip():
                out[_norm(name)] = cid
                out[_norm(name.removesuffix("社区"))] = cid
    out.pop("", None)
    return out


def _missing_spec(missing_map) -> tuple[dict, dict]:
    """(global map, per-variable maps) from ``{-9: 98}`` or ``{"who5_1": {-9: 98}}`` (or both)."""
    glob, per = {}, {}
    for k, v in (missing_map or {}).items():
        if isinstance(v, Mapping):
            per[str(k)] = {float(a): int(b) for a, b in v.items()}
        else:
            glob[float(k)] = int(v)
    return glob, per


def _valid_value(x: float, var) -> bool:
    """`x` is a valid answer of `var`: one of its codes, or a number within its range."""
    if var.codes:
        return x in {float(c) for c in var.codes}
    if var.values:
        return any(_text(v) == _text(x) for v in var.values)
    lo = -np.inf if var.min is None else var.min
    hi = np.inf if var.max is None else var.max
    return lo <= x <= hi


def _value_table(h: str, var, codebook: Codebook, vlabels: dict, user_missing, communities: dict,
                 glob: dict, explicit: dict, notes: list[str], applied: dict) -> dict[float, str]:
    """{SPSS value: text to read} for one variable (codes through labels, missing codes)."""
    table: dict[float, str] = {}
    lut = _label_lookup(var, codebook)
    if var.codes or var.missing_codes:
        matched = {k: lut[_norm(v)] for k, v in vlabels.items() if _norm(v) in lut}
        if matched:
            table.update({k: str(c) for k, c in matched.items()})
        if matched and var.codes:
            # a labelled value whose label is no codebook answer is read as its label, so validation
            # flags it rather than taking its number for a code it may not be (a number's labels,
            # such as 99 = "99岁及以上", stay numbers)
            table.update({k: str(v) for k, v in vlabels.items() if k not in matched})
        elif vlabels and var.codes and not matched:
            notes.append(f"{h!r}: no value label matches a codebook answer of {var.name!r}; the SPSS codes "
                         "are read as codebook codes -- check that they mean the same")
    elif var.type == "community":
        for k, v in vlabels.items():
            table[k] = communities.get(_norm(v), str(v))
    elif var.values:
        allowed = {_norm(x): str(x) for x in var.values}
        table.update({k: allowed[_norm(v)] for k, v in vlabels.items() if _norm(v) in allowed})
    for k, v in vlabels.items():  # user-missing values labelled with a reason (不知道, refused ...)
        if user_missing(k) and _norm(v) in lut and lut[_norm(v)] in var.missing_codes:
            table[k] = str(lut[_norm(v)])
    for k, v in glob.items():  # the global map: only values that cannot be valid answers, to a missing code of var
        if (user_missing(k) or not _valid_value(k, var)) and int(v) in var.missing_codes:
            if k not in table or table[k] == vlabels.get(k):  # not a label-matched code
                table[k] = str(v)
            applied.setdefault(k, []).append(var.name)
    for k, v in explicit.items():  # per variable: always
        table[k] = str(v)
    return table


def read_spss(
    path: str | Path,
    column_map: Mapping[str, str] | None = None,
    codebook: Codebook | str | Path | None = None,
    *,
    missing_map: Mapping[float, int] | Mapping[str, Mapping[float, int]] | None = None,
    drop: Sequence[str] = (),
    allow: Sequence[str] = (),
    personal_data: PersonalDataPolicy = "refuse",
    study=None,
    registry: pd.DataFrame | None = None,
    limits=None,
) -> pd.DataFrame:
    """Read an SPSS ``.sav`` file, recoding through its value labels and user-missing values.

    Parameters
    ----------
    path
        The ``.sav`` / ``.zsav`` file.
    column_map
        ``{SPSS variable name or variable label: codebook name}``; variables whose name, or whose
        variable label equals a codebook question text, map automatically.
    missing_map
        SPSS codes to codebook missing codes. Per variable, ``{"who5_1": {-9: 98}}``, applied to
        every cell of that variable. Global, ``{9: 98}``, applied only where the value cannot be a
        valid answer: a value declared user-missing in the file (discrete or range) or outside the
        variable's codes or range, and only to a missing-value code the variable has -- so 9 years
        of residence stays 9 while 9 on a 0-5 scale becomes 98, and -9 in an age (no missing
        codes) is left for validation to flag, not read as an age of 98. Both forms may be mixed. ``attrs["notes"]`` says where the global map applied.
    codebook, study, registry
        As :func:`read_wjx` (a codebook is required). The registry (given or from `study`) maps
        the community's value labels ("明月社区", "明月", "Mingyue") to its community_id.
    drop, allow, personal_data
        As :func:`evalkit.read_survey`; names may be SPSS variable names or codebook names.

    Returns
    -------
    DataFrame
        As :func:`read_wjx` (``format`` "sav"); ``attrs["recoded"]`` lists the variables whose
        SPSS codes were translated through their value labels.

    Notes
    -----
    Every mapped variable with value labels is read through them: a coded variable's labelled
    values whose label is a codebook answer label (Chinese or English, compared after width,
    dash and space normalisation) become that code (an SPSS file coding sex 0/1 = 男/女 becomes
    1/2); a labelled value whose label is no codebook answer is read as its label, so
    :func:`evalkit.validate` quarantines the row instead of trusting a number that may mean
    something else (if no label matches at all, the codes are kept and a note says so). The
    community's labels become registry ids; a category's labels its allowed values. A
    user-missing value (discrete or in a range) labelled with a missing reason (不知道/don't know,
    拒绝回答/refused, 不适用/not applicable) becomes that codebook missing code; in a variable
    without missing-value codes (an age) it is blank, with a note -- never a valid-looking 98.
    System-missing values are blank.
    """
    from .read import read_survey

    codebook, registry_ = _codebook(codebook, study, "read_spss()")
    registry = registry if registry is not None else registry_
    raw = read_survey(path, personal_data="ignore", limits=limits)
    source = str(path)
    labels_of = raw.attrs.get("value_labels", {})
    ranges_of = raw.attrs.get("missing_ranges", {})
    discrete_of = raw.attrs.get("user_missing", {})
    col_labels = raw.attrs.get("column_labels", {})
    drop = [drop] if isinstance(drop, str) else list(drop)
    headers = [str(h) for h in raw.columns]
    rest = [h for h in headers if h not in drop]
    keys = {h: [_norm(col_labels[h])] for h in rest if col_labels.get(h)}
    mapping = {h: n for h, n in _resolve(rest, keys, column_map, codebook, source).items() if n not in drop}
    glob, per_var = _missing_spec(missing_map)
    communities = community_lookup(registry)
    conv_raw = raw.copy()
    recoded, notes, applied = [], [], {}
    for h, name in mapping.items():
        var = codebook.variables[name]
        vlabels = {float(k): str(v) for k, v in (labels_of.get(h) or {}).items() if _is_number(k)}
        ranges = [(float(r["lo"]), float(r["hi"])) for r in (ranges_of.get(h) or [])]
        discrete = {float(x) for x in (discrete_of.get(h) or []) if _is_number(x)}

        def user_missing(x, ranges=ranges, discrete=discrete):
            return x in discrete or any(lo <= x <= hi for lo, hi in ranges)

        explicit = {**per_var.get(h, {}), **per_var.get(name, {})}
        table = _value_table(h, var, codebook, vlabels, user_missing, communities, glob, explicit, notes, applied)
        if any(table.get(k, _text(k)) != _text(k) for k in vlabels if not user_missing(k)):
            recoded.append(name)  # valid answers translated through their labels

        blank = not var.missing_codes  # no codebook code for a missing reason: user-missing reads as blank

        def conv(x, table=table, user_missing=user_missing, blank=blank):
            if x is None or (isinstance(x, float) and np.isnan(x)):
                return None
            if isinstance(x, (int, float, np.number)):
                if float(x) in table:
                    return table[float(x)]
                return None if blank and user_missing(float(x)) else _text(x)
            t = _text(x)  # a string variable labelled by its codes ("01" = 明月社区)
            return table.get(float(t), t) if t is not None and _is_number(t) else t

        conv_raw[h] = raw[h].map(conv).astype(object)
        if blank:
            n = int(sum(isinstance(x, (int, float, np.number)) and not np.isnan(x) and user_missing(float(x))
                        and float(x) not in table for x in raw[h]))
            if n:
                notes.append(f"{h!r}: {n} user-missing value(s) read as blank ({var.name!r} has no missing-value codes)")
    for k, names in applied.items():
        notes.append(f"missing_map: {k:g} -> {glob[k]} applied to {names} (user-missing there or not a valid "
                     "answer); valid answers of other variables are kept")
    conv_raw.attrs = raw.attrs
    out = _finish(conv_raw, mapping, codebook, "sav", registry=registry, notes=notes, personal_data="ignore")
    out = check_mapped(out, mapping=mapping, headers=headers, allow=allow, personal_data=personal_data,
                       source=source, call="read_spss(path, ...)", codebook=codebook, registry=registry)
    out.attrs["recoded"] = recoded
    return out


def _is_number(x) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


__all__ = ["read_spss", "community_lookup"]
