"""SPSS ``.sav`` files with value labels and user-missing values and ranges: :func:`read_spss`."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..spec.codebook import Codebook

from .platform import _norm, _text, _codebook, _resolve, _label_lookup, _finish


# --- SPSS .sav ----------------------------------------------------------------------------------
def read_spss(
    path: str | Path,
    column_map: Mapping[str, str] | None = None,
    codebook: Codebook | str | Path | None = None,
    *,
    missing_map: Mapping[float, int] | Mapping[str, Mapping[float, int]] | None = None,
    allow: Sequence[str] = (),
    study=None,
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
        User-missing SPSS codes without a recognisable label, mapped to codebook missing codes:
        ``{-9: 98}`` for every variable or ``{"who5_1": {-9: 98}}`` per variable.
    codebook, study
        As :func:`read_wjx` (one of them is required).
    allow
        Codebook columns that the personal-data check should not examine.

    Returns
    -------
    DataFrame
        As :func:`read_wjx` (``format`` "sav"); ``attrs["recoded"]`` lists the variables whose
        SPSS codes were translated through their value labels.

    Notes
    -----
    For each mapped coded variable: when every SPSS value label of a valid answer equals a
    codebook answer label (Chinese or English) the SPSS codes are translated to the codebook
    codes (an SPSS file coding sex 0/1 = 男/女 becomes 1/2); otherwise the codes are kept as they
    are. A user-missing value (discrete or in a range) whose label names a missing reason
    (不知道/don't know, 拒绝回答/refused, 不适用/not applicable) becomes that codebook missing
    code, so :func:`evalkit.validate` keeps the reason; other user-missing values are mapped by
    `missing_map`, or kept, so validation flags them. System-missing values are blank.
    """
    from .read import read_survey

    codebook, registry = _codebook(codebook, study, "read_spss()")
    raw = read_survey(path, personal_data="ignore")
    source = str(path)
    labels_of = raw.attrs.get("value_labels", {})
    ranges_of = raw.attrs.get("missing_ranges", {})
    col_labels = raw.attrs.get("column_labels", {})
    keys = {h: [_norm(col_labels[h])] for h in raw.columns if col_labels.get(h)}
    mapping = _resolve(list(raw.columns), keys, column_map, codebook, source)
    per_var = {}
    if missing_map:
        if all(isinstance(v, Mapping) for v in missing_map.values()):
            per_var = {k: dict(v) for k, v in missing_map.items()}
        else:
            per_var = {"*": dict(missing_map)}
    conv_raw = raw.copy()
    recoded = []
    for h, name in mapping.items():
        var = codebook.variables[name]
        vlabels = {float(k): str(v) for k, v in (labels_of.get(h) or {}).items()}
        ranges = [(float(r["lo"]), float(r["hi"])) for r in (ranges_of.get(h) or [])]

        def is_user_missing(x):
            return any(lo <= x <= hi for lo, hi in ranges)

        table: dict[float, str] = {}
        lut = _label_lookup(var, codebook)
        valid_labels = {k: v for k, v in vlabels.items() if not is_user_missing(k)}
        if var.codes and valid_labels and all(_norm(v) in lut and lut[_norm(v)] in var.codes
                                              for v in valid_labels.values()):
            table.update({k: str(lut[_norm(v)]) for k, v in valid_labels.items()})
            if any(float(t) != k for k, t in table.items()):
                recoded.append(name)
        explicit = {**per_var.get("*", {}), **per_var.get(h, {}), **per_var.get(name, {})}
        for k, v in vlabels.items():
            if is_user_missing(k) and _norm(v) in lut and lut[_norm(v)] in var.missing_codes:
                table[k] = str(lut[_norm(v)])
        for k, v in explicit.items():
            table[float(k)] = str(int(v))

        def conv(x, table=table):
            if x is None or (isinstance(x, float) and np.isnan(x)):
                return None
            if isinstance(x, (int, float, np.number)):
                return table.get(float(x), _text(x))
            return _text(x)

        conv_raw[h] = raw[h].map(conv).astype(object)
    conv_raw.attrs = raw.attrs
    out = _finish(conv_raw, mapping, codebook, "sav", allow=allow, registry=registry)
    out.attrs["recoded"] = recoded
    return out

__all__ = ["read_spss"]
