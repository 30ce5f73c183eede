"""The study file (``study.yaml``): one's own evaluation described once, read by :func:`load_study_file`.

``evalkit new`` writes one; :func:`evalkit.project.open_study` reads it. Every path in it is
relative to the file's folder. Sections (unknown keys are refused, naming the key and the file)::

    title: 某市社区服务项目评估            # for reports
    synthetic: false                      # true: the answers are synthetic (a demo); reports say so
    language: zh                          # zh | en
    seed: 20171                           # every random step (bootstrap, randomization inference)
    min_n: 10                             # smallest community x wave cell that may be published
    waves: [2016, 2017]                   # the design's waves
    baseline_wave: 2016                   # optional: the wave every change is measured from
    codebook: codebook.yaml
    communities: communities.csv          # the registry CSV, or a list (below)
    roles: {community: community_id}      # optional: which data column plays which part
    export:                               # the raw export and the reader's parameters
      path: data/raw/export.xlsx
      kind: wjx                           # wjx | kobo | spss | table
      options: {column_map: {}, drop: [], allow: []}   # keyword arguments of the reader
    design:                               # keyword arguments of evalkit.io.prepare.add_design
      wave: submitted
      fieldwork: data/fieldwork.csv
      by: respondent_id

``communities`` as a list: one mapping per community with ``id``, ``role`` (programme |
comparison), ``start_year`` (programme communities), and optionally ``name`` (Chinese),
``pinyin``, ``urban_rural``, ``district``, ``street``, ``domain``, ``targets`` (indicator names,
``indicator@group``), ``budget`` (yuan) and ``population`` (``{male_18_39: 1830, ...}``: counts
by sex and age group, the registry's ``pop_<sex>_<age group>`` columns).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..errors import CodebookError, EvalkitError
from .codebook import _load_yaml, load_codebook
from .registry import REQUIRED_COLUMNS, load_communities
from .study import Roles, Study

#: The keys of a study file.
KEYS = ("title", "synthetic", "language", "seed", "min_n", "waves", "baseline_wave", "codebook", "communities", "roles",
        "export", "design", "report")
#: The keys of one community in an inline ``communities`` list.
COMMUNITY_KEYS = ("id", "name", "pinyin", "role", "start_year", "urban_rural", "district", "street", "domain",
                  "programme", "targets", "budget", "population", "fictional")
#: Reader kinds of ``export.kind``.
EXPORT_KINDS = ("wjx", "kobo", "spss", "table")
_PATH_OPTIONS = ("fieldwork", "option_map", "xlsform")


def _refuse_unknown(spec: Mapping, allowed, where: str, source: str) -> None:
    unknown = [k for k in spec if k not in allowed]
    if unknown:
        raise EvalkitError(f"{source}: unknown key(s) {unknown} in {where}; the keys are {list(allowed)}.")


def _mapping(value, where: str, source: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EvalkitError(f"{source}: {where} must be a mapping (key: value lines), got {type(value).__name__}.")
    return dict(value)


def _resolve_path(value, folder: Path) -> Any:
    if isinstance(value, str) and value and not value.startswith(("http://", "https://")):
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else folder / p)
    return value


def _inline_registry(entries, source: str) -> pd.DataFrame:
    """An inline ``communities`` list as a registry table, checked by :func:`load_communities`."""
    if not isinstance(entries, list) or not entries:
        raise EvalkitError(f"{source}: communities must be the path of a registry CSV or a list of communities "
                           "(- {id: anning, role: programme, start_year: 2016}).")
    rows = []
    for i, e in enumerate(entries, start=1):
        where = f"communities, entry {i}"
        if not isinstance(e, Mapping) or "id" not in e or "role" not in e:
            raise EvalkitError(f"{source}: {where} needs at least id and role (programme or comparison).")
        _refuse_unknown(e, COMMUNITY_KEYS, where, source)
        targets = e.get("targets") or ""
        if isinstance(targets, (list, tuple)):
            targets = ";".join(str(t) for t in targets)
        row = {"community_id": str(e["id"]), "name_zh": str(e.get("name", e["id"])),
               "name_pinyin": str(e.get("pinyin", e["id"])), "district": e.get("district", ""),
               "street": e.get("street", ""), "urban_rural": e.get("urban_rural", ""), "role": e["role"],
               "programme_domain": e.get("domain", ""), "programme_zh": e.get("programme", ""),
               "target_indicators": targets, "start_year": e.get("start_year"),
               "fictional": bool(e.get("fictional", False))}
        if e.get("budget") is not None:
            row["budget"] = e["budget"]
        pop = _mapping(e.get("population"), f"{where}, population", source)
        for cell, n in pop.items():
            row[f"pop_{str(cell).replace('+', 'plus')}"] = n
        rows.append(row)
    table = pd.DataFrame(rows)
    pops = [c for c in table.columns if c.startswith("pop_")]
    if pops and table[pops].isna().any().any():
        raise EvalkitError(f"{source}: every community needs the same population cells ({pops}); some lack one.")
    with tempfile.TemporaryDirectory() as tmp:  # one checker for inline and file registries
        csv = Path(tmp) / "communities.csv"
        table.to_csv(csv, index=False, encoding="utf-8")
        try:
            reg = load_communities(csv)
        except EvalkitError as exc:
            raise EvalkitError(str(exc).replace(str(csv), f"{source} (communities list; row 2 = entry 1)")) from None
    reg.attrs["source"] = source
    return reg


def _section(raw: Mapping, name: str, folder: Path, source: str) -> dict:
    spec = _mapping(raw.get(name), name, source)
    if name == "export":
        _refuse_unknown(spec, ("path", "kind", "options"), "export", source)
        kind = spec.get("kind", "table")
        if kind not in EXPORT_KINDS:
            raise EvalkitError(f"{source}: export.kind {kind!r} is not a reader; use one of {list(EXPORT_KINDS)} "
                               "(wjx = 问卷星/腾讯问卷, kobo = KoboToolbox CSV/XLSX, spss = .sav, table = any "
                               "CSV/Excel/Stata table).")
        options = _mapping(spec.get("options"), "export.options", source)
        for k in _PATH_OPTIONS:
            if k in options:
                options[k] = _resolve_path(options[k], folder)
        return {"path": _resolve_path(spec.get("path"), folder), "kind": kind, "options": options}
    if name == "design" and "fieldwork" in spec:
        spec["fieldwork"] = _resolve_path(spec["fieldwork"], folder)
    return spec


def load_study_file(path: str | os.PathLike) -> Study:
    """Read a study file (``study.yaml``) into a :class:`~evalkit.spec.study.Study`.

    Parameters
    ----------
    path
        The study file, or a folder holding ``study.yaml``.

    Returns
    -------
    Study
        Codebook and registry loaded and checked, roles, seed, language, ``min_n``, ``waves``,
        ``title``; ``read`` (``path``, ``kind``, ``options`` of the export's reader) and
        ``design`` (the keyword arguments of :func:`evalkit.io.prepare.add_design`), every path
        resolved against the file's folder; ``path`` = the study file.

    Raises
    ------
    EvalkitError
        The file is missing or not YAML, has an unknown key, lacks the codebook, or a value is of
        the wrong kind; the message names the file and the key.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "study.yaml"
    if not p.is_file():
        raise EvalkitError(f"{p}: no study file here. Make one with `evalkit new <folder>` (it writes study.yaml), "
                           "or give the path of your study.yaml.")
    try:
        raw, _ = _load_yaml(p)
    except CodebookError as exc:
        raise EvalkitError(str(exc).replace("the codebook", "the study file").replace("a codebook", "a study file")) \
            from None
    source = str(p)
    raw = _mapping(raw, "the study file", source)
    _refuse_unknown(raw, KEYS, "the study file", source)
    folder = p.parent.resolve()
    if not raw.get("codebook"):
        raise EvalkitError(f"{source}: the study file needs `codebook: <your codebook.yaml>` (draft one with "
                           "`evalkit codebook draft <export>`).")
    codebook = load_codebook(_resolve_path(str(raw["codebook"]), folder))
    comm = raw.get("communities")
    if comm is None:
        registry = None
    elif isinstance(comm, str):
        registry = load_communities(_resolve_path(comm, folder))
    else:
        registry = _inline_registry(comm, source)
    roles = _mapping(raw.get("roles"), "roles", source)
    try:
        roles = Roles(**roles)
    except TypeError:
        raise EvalkitError(f"{source}: unknown role(s) in roles: {sorted(roles)}; roles are "
                           f"{list(Roles.__dataclass_fields__)}.") from None
    title = raw.get("title")
    if isinstance(title, Mapping):
        title = title.get(raw.get("language", "zh")) or next(iter(title.values()), None)
    return Study(codebook, registry, roles, baseline_wave=raw.get("baseline_wave"),
                 seed=raw.get("seed", 20171), language=raw.get("language", "zh"), min_n=raw.get("min_n"),
                 waves=raw.get("waves"), title=None if title is None else str(title), path=source,
                 synthetic=raw.get("synthetic", False),
                 read=_section(raw, "export", folder, source), design=_section(raw, "design", folder, source))


__all__ = ["load_study_file", "KEYS", "COMMUNITY_KEYS", "EXPORT_KINDS"]
