"""The community registry (``communities.csv``) and the population totals used for weighting.

One row per community: id, Chinese name, pinyin, district, street/town, urban/rural, role
(``programme`` or ``comparison``), programme domain, the indicators the programme targets
(``target_indicators``, see :func:`programme_targets`), programme start year (empty for comparison
communities), whether the community is fictional, and the resident population by sex and age
group in columns ``pop_<sex>_<agegroup>`` (``pop_female_60plus``...).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import EvalkitError

REQUIRED_COLUMNS = (
    "community_id", "name_zh", "name_pinyin", "district", "street", "urban_rural", "role",
    "programme_domain", "start_year", "fictional",
)
SEX_CODES = {"male": 1, "female": 2}
_POP = re.compile(r"^pop_(male|female)_(.+)$")
#: Largest registry file read (one row per community: the shipped one is 3 KB).
MAX_REGISTRY_BYTES = 10 * 1024 * 1024
#: How to get the shipped example's registry, for messages of functions that were given none.
SHIPPED_HINT = ("for the shipped Dongying example use evalkit.datasets.dongying() (a Study) or "
                "evalkit.datasets.data_path(\"communities.csv\")")


def _age_label(token: str) -> str:
    if token.endswith("plus"):
        return token[: -len("plus")] + "+"
    return token.replace("_", "-")


def load_communities(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read and check the community registry.

    Parameters
    ----------
    path
        A registry CSV (UTF-8); required (the shipped example's is
        ``evalkit.datasets.data_path("communities.csv")``, or use :func:`evalkit.datasets.dongying`).

    Returns
    -------
    DataFrame
        One row per community with the registry columns; ``start_year`` is a nullable integer
        (``<NA>`` for comparison communities) and ``fictional`` a boolean.

    Raises
    ------
    EvalkitError
        No path was given, the file is over :data:`MAX_REGISTRY_BYTES`, a required column is missing, an id is duplicated, a programme community has no start
        year, or a population count is missing or negative. The message names row and column.
    """
    if path is None:
        raise EvalkitError(f"load_communities() needs the path of your community registry CSV; {SHIPPED_HINT}.")
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_REGISTRY_BYTES:
        raise EvalkitError(f"{path}: the community registry is {path.stat().st_size / 2**20:.1f} MB, over the "
                           f"limit of {MAX_REGISTRY_BYTES / 2**20:g} MB for one row per community; is it the "
                           "right file?")
    try:
        reg = pd.read_csv(path, dtype={"community_id": str}, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise EvalkitError(f"Cannot read the community registry {str(path)!r}: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in reg.columns]
    if missing:
        raise EvalkitError(f"{path}: the registry lacks column(s) {missing}. Required: {list(REQUIRED_COLUMNS)}.")
    dup = reg.loc[reg["community_id"].duplicated(), "community_id"]
    if len(dup):
        row = int(dup.index[0]) + 2
        raise EvalkitError(f"{path}, row {row}, column 'community_id': id {dup.iloc[0]!r} appears twice.")
    bad_role = ~reg["role"].isin(["programme", "comparison"])
    if bad_role.any():
        i = int(np.flatnonzero(bad_role)[0])
        raise EvalkitError(
            f"{path}, row {i + 2}, column 'role': {reg['role'].iloc[i]!r} must be 'programme' or 'comparison'."
        )
    start = pd.to_numeric(reg["start_year"], errors="coerce").astype("Int64")
    no_start = (reg["role"] == "programme") & start.isna()
    if no_start.any():
        i = int(np.flatnonzero(no_start)[0])
        raise EvalkitError(
            f"{path}, row {i + 2}, column 'start_year': programme community "
            f"{reg['community_id'].iloc[i]!r} needs the year its programme started."
        )
    reg["start_year"] = start
    reg["fictional"] = reg["fictional"].astype(str).str.lower().isin(["true", "1", "yes"])
    for col in [c for c in reg.columns if _POP.match(c)]:
        vals = pd.to_numeric(reg[col], errors="coerce")
        bad = vals.isna() | (vals < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise EvalkitError(
                f"{path}, row {i + 2}, column {col!r}: population {reg[col].iloc[i]!r} must be a count ≥ 0."
            )
        reg[col] = vals.astype("int64")
    reg.attrs["source"] = str(path)
    return reg


def population_table(registry: pd.DataFrame) -> pd.DataFrame:
    """Population counts in long form: ``community_id, sex, age_group, population``.

    ``sex`` uses the survey's codes (1 = male, 2 = female); ``age_group`` the survey's labels
    (``"8-17"``, ``"18-39"``, ``"40-59"``, ``"60+"``).
    """
    cols = [c for c in registry.columns if _POP.match(c)]
    if not cols:
        raise EvalkitError("The registry has no population columns named pop_<male|female>_<agegroup>.")
    long = registry.melt(id_vars="community_id", value_vars=cols, var_name="cell", value_name="population")
    parts = long["cell"].str.extract(_POP)
    long["sex"] = parts[0].map(SEX_CODES).astype("int64")
    long["age_group"] = parts[1].map(_age_label)
    return long[["community_id", "sex", "age_group", "population"]].reset_index(drop=True)


def population_margins(
    registry: pd.DataFrame,
    by: Iterable[str] = ("sex", "age_group"),
    *,
    within: str | None = "community_id",
    age_groups: Iterable[str] | None = None,
    covered: pd.DataFrame | None = None,
) -> dict[str, dict]:
    """Margins for :meth:`SurveyDesign.rake` built from the registry.

    Each variable in ``by`` becomes one margin; with ``within="community_id"`` each margin is
    crossed with community (keys ``"anning|2"``...), matching a column built by
    :func:`crossing`. ``age_groups`` restricts the population to the groups the survey covers;
    ``covered`` (the survey table) restricts it, community by community, to the sex × age-group
    cells that the survey samples at all (e.g. children are interviewed only in rural
    communities, so urban children are left out of the margins rather than being an empty cell).
    The weights then represent the covered population; say so when reporting.

    Returns
    -------
    dict
        ``{column_name: {level: population_total}}`` where ``column_name`` is e.g.
        ``"community_id|sex"``.
    """
    pop = population_table(registry)
    if age_groups is not None:
        pop = pop[pop["age_group"].isin(list(age_groups))]
    if covered is not None:
        keys = ["community_id", "age_group"]
        seen = covered[keys].astype(str).drop_duplicates()
        pop = pop.merge(seen, on=keys, how="inner")
    margins = {}
    for var in by:
        keys = [within, var] if within else [var]
        tot = pop.groupby(keys, sort=True)["population"].sum()
        name = "|".join(keys)
        if within:
            margins[name] = {f"{a}|{b}": int(v) for (a, b), v in tot.items()}
        else:
            margins[name] = {k: int(v) for k, v in tot.items()}
    return margins


def _as_key(s: pd.Series) -> pd.Series:
    """Values as text keys; whole-number floats (codes after validation) lose their '.0'."""
    if pd.api.types.is_float_dtype(s):
        whole = s.notna() & (s == s.round())
        return s.astype(object).where(~whole, s.where(whole).astype("Int64").astype(str)).astype(str)
    return s.astype(str)


def crossing(df: pd.DataFrame, columns: Iterable[str]) -> pd.Series:
    """A column that crosses several columns, as ``"anning|2"``; its name is ``"a|b"``.

    Matches the keys of :func:`population_margins` (codes written without a decimal part).
    """
    columns = list(columns)
    out = _as_key(df[columns[0]])
    for c in columns[1:]:
        out = out + "|" + _as_key(df[c])
    return out.rename("|".join(columns))


def programme_targets(registry: pd.DataFrame) -> pd.DataFrame:
    """The programme theory as data: which indicators each programme sets out to change.

    Reads the registry's ``target_indicators`` column (``;``-separated indicator names, each
    optionally ``indicator@group`` to measure it on one respondent role, e.g. ``ucla3@elderly``).

    Returns
    -------
    DataFrame
        ``community_id, indicator, group`` (group ``None`` = the indicator's own population).
    """
    if "target_indicators" not in registry.columns:
        return pd.DataFrame(columns=["community_id", "indicator", "group"])
    rows = []
    for cid, spec in zip(registry["community_id"], registry["target_indicators"]):
        if not isinstance(spec, str) or not spec.strip():
            continue
        for part in spec.split(";"):
            name, _, group = part.strip().partition("@")
            rows.append({"community_id": cid, "indicator": name, "group": group or None})
    return pd.DataFrame(rows, columns=["community_id", "indicator", "group"])


def start_years(registry: pd.DataFrame | dict | None = None) -> dict[str, int | None]:
    """``{community_id: programme start year}``, ``None`` for comparison communities.

    Accepts the registry table or an existing mapping (returned as a plain dict; 0 and NaN mean
    no programme). The one place where estimators learn who was treated when.
    """
    if registry is None:
        raise EvalkitError(f"start_years() needs the community registry (a table from load_communities(path) "
                           f"or a mapping {{community: start year}}); {SHIPPED_HINT}.")
    if isinstance(registry, pd.DataFrame):
        s = registry.set_index("community_id")["start_year"]
        return {str(k): (None if pd.isna(v) else int(v)) for k, v in s.items()}
    return {str(k): (None if v is None or (isinstance(v, float) and np.isnan(v)) or v == 0 else int(v))
            for k, v in dict(registry).items()}
