"""The design step: add the fields no export contains (wave, weights, PSUs, strata, derived fields).

A platform export (问卷星, KoboToolbox, SPSS, a typed workbook) holds the answers. The codebook's
sampling fields -- ``wave``, ``stratum``, ``psu``, ``base_weight`` -- and the fields that follow
from age (``age_group``, ``role``) are usually not in it. :func:`add_design` adds them, each from a
stated source, and never drops a row:

* **wave**: a constant (``wave=2017``) or the year of the submission time (``wave="submitted"``,
  the ``submitted`` column the platform readers keep from 提交答卷时间 / ``_submission_time``),
  optionally with a cut-off date (``wave_cutoff="03-01"``: answers before 1 March count to the
  previous year's wave, for fieldwork that runs over the new year);
* **base_weight, psu, stratum**: merged from a fieldwork file by respondent (``by="respondent_id"``)
  or by PSU (``by="psu"``, one weight per building or villager group); rows the file does not
  match are reported in ``attrs["design_problems"]`` and keep a blank, so validation quarantines
  them with the reason;
* **stratum**: defaults to the community column (the usual design: communities are strata);
* **derived fields**: the codebook's ``derive`` rules (:func:`evalkit.io.derive.derive`).

>>> import pandas as pd, evalkit
>>> from evalkit.io.prepare import add_design
>>> study = evalkit.datasets.dongying()
>>> raw = pd.DataFrame({"respondent_id": ["a", "b"], "community_id": ["anning", "anning"], "age": ["34", "70"],
...                     "submitted": ["2017-06-01 09:00:00", "2017-06-02 10:00:00"]})
>>> out = add_design(raw, study=study, wave="submitted", fieldwork=pd.DataFrame(
...     {"respondent_id": ["a", "b"], "psu": ["P1", "P2"], "base_weight": ["12.5", "20"]}))
>>> out[["wave", "stratum", "psu", "base_weight", "age_group", "role"]]
   wave stratum psu base_weight age_group     role
0  2017  anning  P1        12.5     18-39    adult
1  2017  anning  P2          20       60+  elderly
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Literal, Mapping

import numpy as np
import pandas as pd

from ..errors import DesignError
from ..spec.study import Study

#: Columns, in order of preference, that hold a submission time when ``submitted=None``.
SUBMITTED_COLUMNS = ("submitted", "提交答卷时间", "_submission_time", "end", "SubmissionDate", "submission_time")
#: Columns of ``attrs["design_problems"]``.
PROBLEM_COLUMNS = ["row", "column", "value", "rule", "message"]
DesignKey = Literal["respondent_id", "psu"]
_CUTOFF = re.compile(r"^\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")


def _blank(s: pd.Series) -> np.ndarray:
    return s.isna().to_numpy() | s.astype(str).str.strip().isin(["", "nan", "NaN", "<NA>", "None"]).to_numpy()


def _key_text(v) -> str | None:
    """A key cell as text: NFKC, stripped, whole-number floats without '.0'."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    t = unicodedata.normalize("NFKC", str(v)).strip()
    return t or None


def _problems(rows) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PROBLEM_COLUMNS})
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


# --------------------------------------------------------------------------------------------- wave
def _parse_cutoff(cutoff) -> tuple[int, int] | None:
    if cutoff is None:
        return None
    m = _CUTOFF.match(unicodedata.normalize("NFKC", str(cutoff)))
    if not m or not (1 <= int(m.group(1)) <= 12 and 1 <= int(m.group(2)) <= 31):
        raise DesignError(f"add_design(wave_cutoff={cutoff!r}): give the first day of a wave year as "
                          "'MM-DD', e.g. wave_cutoff='03-01' (answers before 1 March count to the previous "
                          "year's wave).")
    return int(m.group(1)), int(m.group(2))


def _submission_times(frame: pd.DataFrame, submitted: str | None, source: str) -> tuple[str, pd.Series]:
    """The submission-time column (or attrs entry) named `submitted`, or the first known one."""
    names = [submitted] if submitted else list(SUBMITTED_COLUMNS)
    for name in names:
        if name in frame.columns:
            return name, frame[name]
        held = frame.attrs.get(name)
        if held is not None and not isinstance(held, (str, bytes)) and len(held) == len(frame):
            return name, pd.Series(list(held), index=frame.index)
    wanted = f"{submitted!r}" if submitted else f"any of {list(SUBMITTED_COLUMNS)}"
    raise DesignError(f"{source}: add_design(wave='submitted') needs the submission time, but the table has no "
                      f"column {wanted} (its columns: {list(frame.columns)[:12]}). Read the export with "
                      "read_wjx/read_kobo (they keep it as 'submitted'), name the column with submitted='...', "
                      "or give the wave as a constant: wave=2017.")


def _parse_time(v) -> pd.Timestamp | None:
    if isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "isoformat"):
        ts = pd.Timestamp(v)
        return None if pd.isna(ts) else (ts.tz_localize(None) if ts.tzinfo is not None else ts)
    t = _key_text(v)
    if t is None:
        return None
    if re.fullmatch(r"\d{5}(\.\d+)?", t) and 20000 <= float(t) <= 80000:   # an Excel serial date (1954-2119)
        return pd.Timestamp("1899-12-30") + pd.to_timedelta(float(t), unit="D")
    t = t.replace("年", "-").replace("月", "-").replace("日", " ").strip()
    try:
        ts = pd.Timestamp(t)
    except (ValueError, TypeError, OverflowError):
        return None
    if ts is pd.NaT or pd.isna(ts):
        return None
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def _waves_from_time(times: pd.Series, name: str, cutoff: tuple[int, int] | None,
                     wave_col: str) -> tuple[pd.Series, list]:
    waves, problems = [], []
    for row, v in times.items():
        ts = _parse_time(v)
        if ts is None:
            waves.append(pd.NA)
            blank = _key_text(v) is None
            problems.append((row, wave_col, "" if blank else str(v)[:40], "no_wave",
                             f"cannot set the wave: the submission time ({name}) is "
                             + ("blank" if blank else f"{str(v)[:40]!r}, not a date and time")
                             + "; give the wave as a constant (wave=2017) or correct the cell"))
            continue
        year = ts.year
        if cutoff is not None and (ts.month, ts.day) < cutoff:
            year -= 1
        waves.append(str(year))
    return pd.Series(waves, index=times.index, dtype=object), problems


def _wave_from_column(out: pd.DataFrame, column: str, wave_col: str) -> tuple[list, str]:
    """The wave from a column holding a year as typed ("2017", "2017年", "２０１７")."""
    values, problems = [], []
    for row, v in out[column].items():
        t = _key_text(v)
        m = re.fullmatch(r"((?:19|20)\d\d)\s*年?(?:度)?", t or "")
        values.append(m.group(1) if m else pd.NA)
        if not m:
            problems.append((row, wave_col, "" if t is None else t[:40], "no_wave",
                             f"cannot set the wave: {column} is " + ("blank" if t is None else f"{t[:40]!r}, not a year")))
    out[wave_col] = pd.Series(values, index=out.index, dtype=object)
    return problems, f"{wave_col}: the year in {column}"


def _set_wave(out: pd.DataFrame, wave, submitted, cutoff, wave_col: str, source: str) -> tuple[list, str]:
    if wave is None:
        if wave_col not in out.columns:
            raise DesignError(f"{source}: the table has no {wave_col!r} column (the survey wave). Give it to "
                              f"add_design: wave=2017 (one wave for every row) or wave='submitted' (the year of "
                              f"the submission time).")
        return [], f"{wave_col}: kept from the export"
    if isinstance(wave, str) and wave == "submitted":
        name, times = _submission_times(out, submitted, source)
        values, problems = _waves_from_time(times, name, _parse_cutoff(cutoff), wave_col)
        out[wave_col] = values
        how = f"{wave_col}: year of {name}" + (f" (wave year starts {cutoff})" if cutoff else "")
        if name in out.columns:
            meta = list(out.attrs.get("meta", []))
            out.attrs["meta"] = meta + ([name] if name not in meta else [])
        return problems, how
    if isinstance(wave, str) and wave in out.columns:
        return _wave_from_column(out, wave, wave_col)
    if isinstance(wave, bool) or not isinstance(wave, (int, np.integer)):
        raise DesignError(f"add_design(wave={wave!r}): give a year (wave=2017), 'submitted' (the year of the "
                          "submission time), the name of a column holding the year (e.g. '调查年份'), or None "
                          "(keep the export's wave column).")
    out[wave_col] = str(int(wave))
    return [], f"{wave_col}: {int(wave)} for every row"


# ------------------------------------------------------------------------------------ fieldwork
def _read_fieldwork(fieldwork, source: str) -> tuple[pd.DataFrame, str]:
    if isinstance(fieldwork, pd.DataFrame):
        fw = fieldwork.copy()
        name = str(fieldwork.attrs.get("source", "the fieldwork table"))
        fw.index = pd.RangeIndex(2, len(fw) + 2)
        return fw, name
    if not isinstance(fieldwork, (str, os.PathLike)):
        raise DesignError(f"add_design(fieldwork=...) takes the path of a CSV or Excel file or a DataFrame, "
                          f"got {type(fieldwork).__name__}.")
    path = Path(fieldwork)
    if not path.is_file():
        raise DesignError(f"add_design(fieldwork={str(path)!r}): no such file.")
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            fw = pd.read_excel(path, dtype=str)
        else:
            try:
                fw = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
            except UnicodeDecodeError:
                fw = pd.read_csv(path, dtype=str, encoding="gb18030", keep_default_na=False)
    except Exception as exc:  # a damaged file: one clear error naming it
        raise DesignError(f"{path}: cannot read the fieldwork file ({type(exc).__name__}: {exc}).") from None
    fw.columns = [unicodedata.normalize("NFKC", str(c)).strip() for c in fw.columns]
    fw.index = pd.RangeIndex(2, len(fw) + 2)  # spreadsheet rows: header = row 1
    return fw, str(path)


def _merge_fieldwork(out: pd.DataFrame, fieldwork, by: str, fieldwork_map: Mapping[str, str] | None,
                     study: Study, source: str) -> tuple[list, str]:
    roles = study.roles
    fw, fw_name = _read_fieldwork(fieldwork, source)
    if fieldwork_map:
        fw = fw.rename(columns={str(k): v for k, v in fieldwork_map.items()})
    key = {"respondent_id": roles.unit, "psu": roles.psu}.get(by)
    if key is None:
        raise DesignError(f"add_design(by={by!r}): merge the fieldwork file by 'respondent_id' (one row per "
                          "respondent) or 'psu' (one row per building or villager group).")
    if key not in fw.columns:
        raise DesignError(f"{fw_name}: the fieldwork file has no column {key!r} to merge by (by={by!r}); its "
                          f"columns: {list(fw.columns)[:12]}. Rename it with fieldwork_map={{'<its header>': "
                          f"{key!r}}}.")
    if key not in out.columns:
        hint = ("read it from the export (column_map) or merge by respondent (by='respondent_id')"
                if by == "psu" else "map the export's respondent number to it (column_map)")
        raise DesignError(f"{source}: add_design(by={by!r}) merges on {key!r}, which the survey table lacks; "
                          f"{hint}.")
    keys = [key]
    if by == "psu" and roles.community in fw.columns and roles.community in out.columns:
        keys = [roles.community, key]  # building numbers repeat across communities
    if roles.wave in fw.columns and roles.wave in out.columns:
        keys.append(roles.wave)        # a panel: one row per respondent (or PSU) and wave
    design_cols = [c for c in (roles.weight, roles.psu, roles.strata) if c and c in fw.columns and c not in keys]
    if not design_cols:
        raise DesignError(f"{fw_name}: the fieldwork file has none of the design columns "
                          f"{[c for c in (roles.weight, roles.psu, roles.strata) if c]}; rename its columns with "
                          "fieldwork_map={'<its header>': 'base_weight', ...}.")
    fkey = pd.Series(list(zip(*[fw[k].map(_key_text) for k in keys])), index=fw.index)
    dup = fkey[fkey.duplicated(keep=False)]
    if len(dup):
        row = int(dup.index[1])
        raise DesignError(f"{fw_name}, row {row}, column {key!r}: {'/'.join(map(str, dup.iloc[1]))!r} appears "
                          f"more than once (first at row {int(dup.index[0])}); one row per {by} is needed.")
    lookup = {k: i for i, k in fkey.items()}
    skey = pd.Series(list(zip(*[out[k].map(_key_text) for k in keys])), index=out.index)
    problems = []
    for c in design_cols:
        if c not in out.columns:
            out[c] = pd.Series(pd.NA, index=out.index, dtype=object)
        out[c] = out[c].astype(object)
    for row, k in skey.items():
        i = lookup.get(k)
        if i is None:
            problems.append((row, key, "" if k[-1] is None else str(k[-1]), "not_in_fieldwork",
                             f"{'/'.join('' if x is None else x for x in k)} is not in the fieldwork file "
                             f"{fw_name}, so {', '.join(design_cols)} stay blank; add it there"))
            continue
        for c in design_cols:
            new = _key_text(fw.at[i, c])
            old = _key_text(out.at[row, c])
            if old is None:
                out.at[row, c] = new if new is not None else pd.NA
            elif new is not None and old != new:
                problems.append((row, c, old, "design_conflict",
                                 f"the export has {c} {old!r} but the fieldwork file {fw_name} (row {i}) has "
                                 f"{new!r}; the export's value is kept, correct one of them"))
    return problems, f"{', '.join(design_cols)}: from {fw_name} by {'+'.join(keys)}"


# ---------------------------------------------------------------------------------------- step
def _nest_psu(out: pd.DataFrame, psu: str, strata: str) -> list[str]:
    """Make PSU labels unique within strata when one label is used in several strata."""
    keys = pd.DataFrame({"p": out[psu].map(_key_text), "s": out[strata].map(_key_text)}).dropna()
    shared = keys.groupby("p")["s"].nunique()
    shared = shared[shared > 1]
    if shared.empty:
        return []
    ok = out[psu].map(_key_text).notna() & out[strata].map(_key_text).notna()
    out[psu] = out[psu].astype(object)
    out.loc[ok, psu] = out.loc[ok, strata].map(_key_text) + ":" + out.loc[ok, psu].map(_key_text)
    return [f"{psu}: {len(shared)} label(s) used in several strata (e.g. {shared.index[0]!r}) made unique as "
            f"<{strata}>:<{psu}>"]


def _fill_weight(out: pd.DataFrame, weight, column: str | None) -> list[str]:
    """A constant design weight for the rows without one (``add_design(weight=...)``)."""
    if weight is None:
        return []
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) or not weight > 0:
        raise DesignError(f"add_design(weight={weight!r}): give a positive number (weight=1 for a self-weighting "
                          "sample), or the fieldwork file with the weights (fieldwork=...).")
    if not column:
        raise DesignError("add_design(weight=...): the study names no weight column (Roles(weight=None)).")
    if column not in out.columns:
        out[column] = pd.Series(pd.NA, index=out.index, dtype=object)
    out[column] = out[column].astype(object)
    fill = _blank(out[column])
    out.loc[fill, column] = _key_text(float(weight))
    return [f"{column}: {weight:g} for {int(fill.sum())} rows without a weight"]


def _fill_stratum(out: pd.DataFrame, stratum: str | None, nest: bool, roles, source: str) -> list[str]:
    """The stratum from `stratum` (default: the community) where blank; PSUs nested in strata."""
    if not roles.strata:
        return []
    src = stratum or roles.community
    if src not in out.columns:
        raise DesignError(f"{source}: add_design(stratum={stratum!r}) takes the stratum from column {src!r}, "
                          "which the table lacks; name a column that holds it.")
    if roles.strata not in out.columns:
        out[roles.strata] = pd.Series(pd.NA, index=out.index, dtype=object)
    out[roles.strata] = out[roles.strata].astype(object)
    fill = _blank(out[roles.strata]) & ~_blank(out[src])
    out.loc[fill, roles.strata] = out.loc[fill, src].map(_key_text)
    steps = [f"{roles.strata}: {int(fill.sum())} cells from {src}"]
    if nest and roles.psu and roles.psu in out.columns:
        steps += _nest_psu(out, roles.psu, roles.strata)
    return steps


def _required_absent(out: pd.DataFrame, study: Study, source: str) -> None:
    """A field the codebook requires that the step left absent: an error naming the parameter."""
    roles = study.roles
    supply = {roles.wave: "wave=2017 or wave='submitted'",
              roles.weight: "fieldwork='fieldwork.csv' (with by='respondent_id' or by='psu'), or weight=1 "
                            "(a self-weighting sample)",
              roles.psu: "fieldwork='fieldwork.csv' (by='respondent_id'), or read it from the export",
              roles.strata: "stratum=None (the community column) or stratum='<column>'"}
    for rule, spec in study.codebook.derived.items():
        supply.setdefault(rule, f"derive=True with the source column {spec.source!r} in the export")
    for col, how in supply.items():
        if not col:
            continue
        var = study.codebook.variables.get(col)
        if var is not None and getattr(var, "required", False) and col not in out.columns:
            raise DesignError(f"{source}: the codebook requires the field {col!r}, which neither the export nor "
                              f"the design step supplies; give it to add_design with {how}.")


def add_design(
    frame: pd.DataFrame,
    *,
    study: Study,
    wave: int | str | None = None,
    submitted: str | None = None,
    wave_cutoff: str | None = None,
    fieldwork: str | os.PathLike | pd.DataFrame | None = None,
    by: DesignKey = "respondent_id",
    fieldwork_map: Mapping[str, str] | None = None,
    stratum: str | None = None,
    weight: float | None = None,
    nest: bool = True,
    derive: bool = True,
    require: bool = True,
) -> pd.DataFrame:
    """Add the survey-design fields an export lacks: wave, weights, PSUs, strata and derived fields.

    Parameters
    ----------
    frame
        The export as read (:func:`evalkit.read_wjx`, :func:`evalkit.read_kobo`,
        :func:`evalkit.read_spss`, :func:`evalkit.read_survey`); answers are not touched.
    study
        The :class:`~evalkit.spec.study.Study`: its column roles name the wave, community, unit,
        weight, PSU and stratum columns, its codebook holds the ``derive`` rules.
    wave
        ``None`` (keep the table's wave column), a year (``2017``: one wave for every row),
        ``"submitted"`` (the calendar year of each row's submission time; Excel serial dates and
        Chinese dates are read) or the name of a column holding the year as typed ("2017年").
    submitted
        The column (or ``attrs`` key) holding the submission time; default: the first of
        :data:`SUBMITTED_COLUMNS` present (``submitted``, ``提交答卷时间``, ``_submission_time``, ...).
    wave_cutoff
        ``"MM-DD"``: the first day of a wave year; a submission before it counts to the previous
        year (fieldwork from December to February is one wave with ``wave_cutoff="03-01"``).
    fieldwork
        A CSV/Excel file or table with the design columns (``base_weight``, ``psu``, ``stratum``:
        the study's role names) and the key column; ``None``: no merge.
    by
        Merge by ``"respondent_id"`` (one row per respondent) or ``"psu"`` (one row per PSU; also
        by community when the file has the community column, since building numbers repeat). When
        the fieldwork file has the wave column too, the merge is per wave (a panel).
    fieldwork_map
        ``{fieldwork header: role name}``, e.g. ``{"编号": "respondent_id", "权数": "base_weight"}``.
    stratum
        The column whose values become the stratum where it is blank or absent; ``None``: the
        community column.
    weight
        A design weight for every row whose weight is still blank after the fieldwork merge
        (``weight=1``: a self-weighting sample, every respondent counts the same); ``None``: none.
    nest
        PSU labels that repeat across strata ("1号楼" in every community) name different
        buildings: they are made unique as ``<stratum>:<psu>`` (``False``: keep them, and the
        design refuses them unless built with ``nest=True``).
    derive
        Fill the codebook's derived fields (age group, role from age) by its ``derive`` rules.
    require
        Raise when a design field the codebook requires is still absent (``False``: leave it to
        :func:`evalkit.validate`, which then quarantines every row for it).

    Returns
    -------
    DataFrame
        The same rows and index with the design columns added (as text, like an export).
        ``attrs["design"]``: list of what each column came from; ``attrs["design_problems"]``
        (records; :func:`design_problems` gives the table): ``row, column, value, rule, message`` for rows left without a wave (``no_wave``), not
        in the fieldwork file (``not_in_fieldwork``), conflicting with it (``design_conflict``)
        or whose derived field cannot be computed (``not_derivable``). Such rows keep a blank,
        which :func:`evalkit.validate` quarantines; nothing is dropped.

    Raises
    ------
    DesignError
        A parameter is malformed, the submission time or a merge key is absent, the fieldwork
        file repeats a key, or a field the codebook requires is still absent afterwards (the
        message names the parameter that supplies it).
    """
    if not isinstance(frame, pd.DataFrame):
        raise DesignError(f"add_design() needs the survey table (a DataFrame), got {type(frame).__name__}.")
    if not isinstance(study, Study):
        raise DesignError("add_design(study=...) needs an evalkit.Study (evalkit.Study.from_files(codebook, "
                          "registry), evalkit.project.open_study(folder).study, or evalkit.datasets.dongying()).")
    roles = study.roles
    source = str(frame.attrs.get("source", "<DataFrame>"))
    out = frame.copy()
    out.attrs = dict(frame.attrs)
    problems, how = _set_wave(out, wave, submitted, wave_cutoff, roles.wave, source)
    steps = [how]
    if fieldwork is not None:
        more, how = _merge_fieldwork(out, fieldwork, by, fieldwork_map, study, source)
        problems += more
        steps.append(how)
    steps += _fill_weight(out, weight, roles.weight)
    steps += _fill_stratum(out, stratum, nest, roles, source)
    table = _problems(problems)
    if derive and study.codebook.derived:
        from .derive import derive as _derive

        rules = [n for n, r in study.codebook.derived.items() if r.source in out.columns]
        if rules:
            done = _derive(out, study=study, fields=rules)
            out = done.data
            steps += [f"{c}: {n} cells derived" for c, n in done.filled.items()]
            table = pd.concat([t for t in (table, done.problems) if len(t)], ignore_index=True) \
                if len(table) or len(done.problems) else table
    if require:
        _required_absent(out, study, source)
    out.attrs["design"] = steps
    # records, not a DataFrame: pandas compares attrs with == when frames are concatenated
    out.attrs["design_problems"] = table.to_dict("records")
    return out


def design_problems(frame: pd.DataFrame) -> pd.DataFrame:
    """The design step's findings of a table from :func:`add_design`: ``row, column, value, rule, message``."""
    return pd.DataFrame(list(frame.attrs.get("design_problems") or []), columns=PROBLEM_COLUMNS)


__all__ = ["add_design", "design_problems", "SUBMITTED_COLUMNS"]
