"""A study: the codebook, the community registry and the roles of the data's columns, passed once.

Generic evalkit code never reads the shipped Dongying files: a function that needs to know which
column holds the community, which communities started when, or which answer codes an item has,
takes a :class:`Study` (or the explicit argument) and raises a clear error when it has neither.
Only :mod:`evalkit.datasets` knows the shipped example (:func:`evalkit.datasets.dongying`).

>>> import evalkit as ek
>>> study = ek.Study.from_files("my_codebook.yaml", "my_communities.csv",
...                             community="社区", wave="年份", weight="权数")   # doctest: +SKIP
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .._literals import Language, check_choice
from ..errors import CodebookError, EvalkitError
from .codebook import Codebook, _load_yaml, as_codebook, load_codebook
from .registry import load_communities, start_years
from .study_replicates import check_replicate_spec


@dataclass(frozen=True)
class Roles:
    """Which column of the data plays which part. Defaults are the codebook's standard names."""

    community: str = "community_id"
    wave: str = "wave"
    unit: str = "respondent_id"
    household: str | None = "household_id"
    role: str | None = "role"
    weight: str | None = "base_weight"
    strata: str | None = "stratum"
    psu: str | None = "psu"

    def rename_map(self) -> dict[str, str]:
        """``{data column: standard name}`` for the roles whose column differs from the default."""
        default = Roles()
        return {getattr(self, f.name): getattr(default, f.name) for f in fields(self)
                if getattr(self, f.name) is not None and getattr(self, f.name) != getattr(default, f.name)}


@dataclass(frozen=True, eq=False)
class Study:
    """Everything about a study that analysis functions would otherwise guess.

    Attributes
    ----------
    codebook : Codebook
        Fields, items, scales and derivation rules (:func:`evalkit.load_codebook`).
    registry : pandas.DataFrame or None
        The community registry (:func:`evalkit.load_communities`): programme start years,
        programme theory (target indicators), population margins. ``None`` for a survey without
        programme comparisons.
    roles : Roles
        Column roles (community, wave, unit, household, role, weight, strata, PSU).
    baseline_wave : int or None
        The wave every change is measured from (``None``: each community's last wave before its
        programme started).
    seed : int
        The seed of every random step (bootstrap, randomization inference, simulation).
    language : {"zh", "en"}
        Language of labels, figures and report text.
    min_n : int or None
        The smallest community x wave cell that may be published (``None``: the disclosure
        gate's default, :data:`evalkit.publish.disclosure.MIN_N`).
    waves : tuple of int or None
        The survey waves of the design (``None``: whatever the data hold).
    title : str or None
        The study's title, for reports.
    path : str or None
        The study file it was loaded from (:meth:`from_yaml`), else ``None``.
    synthetic : bool
        The survey answers are synthetic (a demo): reports say so on their first page.
    read, design : dict
        The study file's ``export`` (export ``path``, reader ``kind`` and the reader's keyword
        arguments) and ``design`` (keyword arguments of :func:`evalkit.io.prepare.add_design`)
        sections, paths resolved against the study file's folder; empty when not given.
    replicate_weights : dict or None
        Replicate weights shipped with the data (the study file's ``design: replicate_weights:``,
        checked by :func:`evalkit.spec.study_replicates.check_replicate_spec`): ``columns`` (a glob
        pattern or a list), ``type`` and optionally ``scale``, ``rscales``, ``rho``, ``mse``,
        ``combined_weights``. When given, :meth:`evalkit.SurveyDesign.from_study` returns a
        replicate-weight design (the strata and PSU roles are then not used for variances).

    Notes
    -----
    A study is immutable: its attributes cannot be reassigned (use :meth:`with_`), and the
    registry is copied when the study is made, so later edits of the caller's table do not
    reach it. Two studies are equal only if they are the same object.
    """

    codebook: Codebook
    registry: pd.DataFrame | None = None
    roles: Roles = field(default_factory=Roles)
    baseline_wave: int | None = None
    seed: int = 20171
    language: Language = "zh"
    min_n: int | None = None
    waves: tuple[int, ...] | None = None
    title: str | None = None
    path: str | None = None
    synthetic: bool = False
    read: dict = field(default_factory=dict)
    design: dict = field(default_factory=dict)
    replicate_weights: dict | None = None

    def __post_init__(self):
        if not isinstance(self.codebook, Codebook):
            raise EvalkitError("Study(codebook=...) needs a loaded codebook: use Study.from_files(path, ...) "
                               "or evalkit.load_codebook(path).")
        if not isinstance(self.roles, Roles):
            raise EvalkitError("Study(roles=...) needs an evalkit.Roles(...) object.")
        if self.registry is not None and not isinstance(self.registry, pd.DataFrame):
            raise EvalkitError("Study(registry=...) needs a table from evalkit.load_communities(path) or None; "
                               "to read a file use Study.from_files(codebook, registry=\"communities.csv\").")
        if self.registry is not None:
            object.__setattr__(self, "registry", self.registry.copy())
        for name in ("baseline_wave", "seed", "min_n"):
            value = getattr(self, name)
            if not (value is None and name != "seed") and (isinstance(value, bool)
                                                           or not isinstance(value, (int, np.integer))):
                raise EvalkitError(f"Study({name}=...) must be a whole number, got {value!r}.")
        if self.waves is not None:
            waves = list(self.waves) if isinstance(self.waves, (list, tuple)) else [self.waves, None]
            if not waves or any(isinstance(w, bool) or not isinstance(w, (int, np.integer)) for w in waves):
                raise EvalkitError(f"Study(waves=...) must list the waves as years, e.g. [2016, 2017]; got {waves!r}.")
            object.__setattr__(self, "waves", tuple(int(w) for w in waves))
        if not isinstance(self.synthetic, bool):
            raise EvalkitError(f"Study(synthetic=...) must be true or false, got {self.synthetic!r}.")
        for name in ("read", "design"):
            if not isinstance(getattr(self, name), dict):
                raise EvalkitError(f"Study({name}=...) must be a mapping of keyword arguments.")
            object.__setattr__(self, name, dict(getattr(self, name)))
        check_choice(self.language, Language, "language")
        object.__setattr__(self, "replicate_weights",
                           check_replicate_spec(self.replicate_weights, self.path or "Study(replicate_weights=...)"))

    def __repr__(self) -> str:
        reg = "no registry" if self.registry is None else f"{len(self.registry)} communities"
        roles = ", ".join(f"{f.name}={getattr(self.roles, f.name)!r}" for f in fields(Roles))
        rep = self.replicate_weights
        rep = "" if rep is None else f"; replicate weights {rep['type']} {rep['columns']!r}"
        return (f"Study({self.codebook!r}; {reg}; roles: {roles}; baseline_wave={self.baseline_wave}, "
                f"seed={self.seed}, language={self.language!r}{rep})")

    @classmethod
    def from_files(cls, codebook: str | os.PathLike | Codebook, registry: str | os.PathLike | None = None,
                   *, baseline_wave: int | None = None, seed: int = 20171, language: Language = "zh",
                   **roles: Any) -> "Study":
        """Load the codebook (and registry) from files; keyword arguments name column roles.

        Examples: ``community="社区"``, ``wave="年份"``, ``weight="权数"``, ``strata=None``.
        """
        unknown = sorted(set(roles) - {f.name for f in fields(Roles)})
        if unknown:
            raise EvalkitError(f"Study.from_files: unknown role(s) {unknown}; roles are "
                               f"{[f.name for f in fields(Roles)]}.")
        if codebook is None:
            raise EvalkitError("Study.from_files needs the codebook file of your survey "
                               "(the shipped example is evalkit.datasets.dongying()).")
        cb = as_codebook(codebook, "Study.from_files")
        reg = load_communities(registry) if registry is not None else None
        return cls(cb, reg, Roles(**roles), baseline_wave, seed, language)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "Study":
        """Load a study file (``study.yaml``, as ``evalkit new`` writes it): see :func:`load_study_file`."""
        return load_study_file(path)

    def with_(self, **changes: Any) -> "Study":
        """A copy with some attributes changed (a study is immutable)."""
        return replace(self, **changes)

    def start_years(self) -> dict[str, int | None]:
        """``{community: programme start year or None}`` from the registry."""
        return start_years(self.require_registry("start_years"))

    def require_registry(self, caller: str) -> pd.DataFrame:
        """The registry, or a clear error naming `caller` when the study has none."""
        if self.registry is None:
            raise EvalkitError(f"{caller} needs the community registry (programme start years): "
                               "Study.from_files(codebook, registry=\"communities.csv\").")
        return self.registry


def resolve(codebook, registry, study, caller: str, *, codebook_required: bool = True,
            error: type[EvalkitError] = EvalkitError) -> tuple[Codebook | None, pd.DataFrame | None]:
    """The codebook and registry a function was given, explicitly or through `study` (explicit wins).

    Parameters
    ----------
    codebook
        A :class:`Codebook`, the path of its YAML file, or ``None`` (take the study's).
    registry
        A registry table, the path of its CSV, or ``None`` (take the study's, which may be ``None``).
    study
        A :class:`Study` or ``None``.
    caller
        The function's name, for messages.
    codebook_required
        Raise when neither a codebook nor a study was given (else return ``None`` for it).
    error
        The class of the error raised for a registry of the wrong kind.
    """
    if study is not None and not isinstance(study, Study):
        raise EvalkitError(f"{caller}: study must be an evalkit.Study (evalkit.Study.from_files(...), or "
                           f"evalkit.datasets.dongying() for the shipped example); got {type(study).__name__}.")
    cb = codebook if codebook is not None else (study.codebook if study is not None else None)
    if cb is not None or codebook_required:
        cb = as_codebook(cb, caller)
    reg = registry if registry is not None else (study.registry if study is not None else None)
    if isinstance(reg, (str, os.PathLike)):
        reg = load_communities(reg)
    elif reg is not None and not isinstance(reg, pd.DataFrame):
        raise error(f"{caller}: registry must be a DataFrame (evalkit.load_communities(path)) or the path of a "
                    f"registry CSV; got {type(reg).__name__}.")
    return cb, reg


# ------------------------------------------------------------------------------ the study file
# The study file (``study.yaml``) is described in :mod:`evalkit.spec.study_file`.
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
    return _checked_registry(table, source, f"{source} (communities list; row 2 = entry 1)")


def _checked_registry(table: pd.DataFrame, source: str, where: str) -> pd.DataFrame:
    """A registry table checked by :func:`load_communities` (one checker for every registry)."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "communities.csv"
        table.to_csv(csv, index=False, encoding="utf-8")
        try:
            reg = load_communities(csv)
        except EvalkitError as exc:
            raise EvalkitError(str(exc).replace(str(csv), where)) from None
    reg.attrs["source"] = source
    return reg


#: A short registry's column names and the registry's (``id`` -> ``community_id`` ...).
REGISTRY_ALIASES = {"id": "community_id", "name": "name_zh", "pinyin": "name_pinyin", "targets": "target_indicators",
                    "domain": "programme_domain", "programme": "programme_zh"}


def _registry_file(path: str) -> pd.DataFrame:
    """A registry CSV; one with only the columns a study needs (id, role, start_year, targets ...) is
    completed with blank descriptive columns (names default to the id)."""
    try:
        table = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError):
        return load_communities(path)              # its own clear error
    table = table.rename(columns={k: v for k, v in REGISTRY_ALIASES.items() if k in table.columns
                                  and v not in table.columns})
    if "community_id" not in table.columns or "role" not in table.columns:
        return load_communities(path)
    if "start_year" not in table.columns:
        table["start_year"] = ""
    for col, default in (("name_zh", table["community_id"]), ("name_pinyin", table["community_id"]), ("district", ""),
                         ("street", ""), ("urban_rural", ""), ("programme_domain", ""), ("fictional", "false")):
        if col not in table.columns:
            table[col] = default
    return _checked_registry(table, str(path), str(path))


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
        resolved against the file's folder; ``replicate_weights`` (``design: replicate_weights:``,
        taken out of ``design``); ``path`` = the study file.

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
        registry = _registry_file(_resolve_path(comm, folder))
    else:
        registry = _inline_registry(comm, source)
    roles = _mapping(raw.get("roles"), "roles", source)
    try:
        roles = Roles(**roles)
    except TypeError:
        raise EvalkitError(f"{source}: unknown role(s) in roles: {sorted(roles)}; roles are "
                           f"{list(Roles.__dataclass_fields__)}.") from None
    design = _section(raw, "design", folder, source)
    replicates = check_replicate_spec(design.pop("replicate_weights", None), source)
    if replicates and "file" in replicates:
        replicates["file"] = _resolve_path(replicates["file"], folder)
    title = raw.get("title")
    if isinstance(title, Mapping):
        title = title.get(raw.get("language", "zh")) or next(iter(title.values()), None)
    return Study(codebook, registry, roles, baseline_wave=raw.get("baseline_wave"),
                 seed=raw.get("seed", 20171), language=raw.get("language", "zh"), min_n=raw.get("min_n"),
                 waves=raw.get("waves"), title=None if title is None else str(title), path=source,
                 synthetic=raw.get("synthetic", False),
                 read=_section(raw, "export", folder, source), design=design, replicate_weights=replicates)

