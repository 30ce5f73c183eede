"""The codebook: one machine-readable file that drives validation and scoring.

The codebook (the shipped survey's is ``codebook.yaml`` of :mod:`evalkit.datasets`) lists every
field and questionnaire item with its Chinese and English text, answer codes, valid range,
missing-value codes, reverse keying, scale and the group of respondents it is asked of; and every
scale with its published scoring rule and citation. :func:`load_codebook` reads and checks it;
everything else in evalkit takes the resulting :class:`Codebook`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from .errors import CodebookError

VARIABLE_TYPES = ("id", "community", "integer", "number", "code", "category")
MISSING_REASONS = ("dont_know", "refused", "not_applicable")


@dataclass(frozen=True)
class Label:
    zh: str
    en: str

    def text(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class MissingCode:
    code: int
    reason: str
    label: Label


@dataclass(frozen=True)
class Group:
    name: str
    roles: tuple[str, ...]
    label: Label


@dataclass(frozen=True)
class Variable:
    """One column of the tidy survey table: an identifier, sampling field, demographic or item."""

    name: str
    kind: str  # "field" or "item"
    type: str
    label: Label
    required: bool = False
    codes: Mapping[int, Label] | None = None
    values: tuple | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    asked_of: str | None = None
    roles: tuple[str, ...] | None = None  # roles that are asked; None = everyone
    scale: str | None = None
    subscale: str | None = None
    reverse: bool = False
    missing_codes: Mapping[int, str] = field(default_factory=dict)  # code -> reason, for this variable

    @property
    def is_numeric(self) -> bool:
        return self.type in ("integer", "number", "code")

    @property
    def valid_range(self) -> tuple[float, float] | None:
        """(low, high) of valid answers, from the codes or min/max."""
        if self.codes:
            return (min(self.codes), max(self.codes))
        if self.min is not None or self.max is not None:
            return (self.min, self.max)
        return None


@dataclass(frozen=True)
class Scale:
    """A scored instrument: which items, how they are combined, and where the rule comes from."""

    name: str
    label: Label
    domain: str
    scoring: Mapping[str, Any]
    citation: str
    items: tuple[str, ...] = ()
    reverse_items: tuple[str, ...] = ()
    item_range: tuple[float, float] | None = None
    score_range: tuple[float, float] | None = None
    subscales: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    subscale_min_answered: int | None = None
    cutoffs: tuple[Mapping[str, Any], ...] = ()
    group: str | None = None
    kind: str = "mean"  # "mean" or "proportion": how the indicator table summarises it
    higher_is: str = "better"
    composite_of: tuple[str, ...] = ()

    @property
    def item_min(self) -> float | None:
        return None if self.item_range is None else self.item_range[0]

    @property
    def item_max(self) -> float | None:
        return None if self.item_range is None else self.item_range[1]


@dataclass(frozen=True)
class Codebook:
    """A loaded, checked codebook. Build one with :func:`load_codebook`."""

    path: str
    title: Label
    version: str
    missing_codes: Mapping[int, MissingCode]
    groups: Mapping[str, Group]
    fields: Mapping[str, Variable]
    items: Mapping[str, Variable]
    scales: Mapping[str, Scale]
    tables: Mapping[str, Mapping[int, float]]

    @property
    def variables(self) -> dict[str, Variable]:
        """Fields and items together, in file order."""
        return {**self.fields, **self.items}

    @property
    def columns(self) -> list[str]:
        return list(self.fields) + list(self.items)

    def scale_items(self, scale: str) -> list[str]:
        return list(self._scale(scale).items)

    def _scale(self, name: str) -> Scale:
        try:
            return self.scales[name]
        except KeyError:
            raise CodebookError(
                f"{self.path}: no scale named {name!r}. Known scales: {', '.join(self.scales)}."
            ) from None

    def missing_reason(self, code) -> str | None:
        mc = self.missing_codes.get(code)
        return None if mc is None else mc.reason

    def to_frame(self):
        """One row per variable: name, kind, type, scale, asked_of, range, zh, en (for reading)."""
        import pandas as pd

        rows = []
        for v in self.variables.values():
            rng = v.valid_range
            rows.append(
                {
                    "name": v.name,
                    "kind": v.kind,
                    "type": v.type,
                    "scale": v.scale or "",
                    "asked_of": v.asked_of or "all",
                    "reverse": v.reverse,
                    "range": "" if rng is None else f"{_fmt(rng[0])}–{_fmt(rng[1])}",
                    "zh": v.label.zh,
                    "en": v.label.en,
                }
            )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (
            f"Codebook({self.path!r}: {len(self.fields)} fields, {len(self.items)} items, "
            f"{len(self.scales)} scales)"
        )


def _fmt(x) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


def _label(spec: Mapping, where: str) -> Label:
    zh, en = spec.get("zh"), spec.get("en")
    if zh is None and en is None:
        raise CodebookError(f"{where}: needs a Chinese ('zh') or English ('en') label.")
    return Label(zh=str(zh if zh is not None else en), en=str(en if en is not None else zh))


def _codes(spec, code_sets: Mapping, where: str) -> dict[int, Label] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in code_sets:
            raise CodebookError(
                f"{where}: codes {spec!r} is not defined under 'code_sets'. "
                f"Defined: {', '.join(code_sets) or 'none'}."
            )
        spec = code_sets[spec]
    if not isinstance(spec, Mapping) or not spec:
        raise CodebookError(f"{where}: 'codes' must map answer codes to labels.")
    out = {}
    for k, lab in spec.items():
        try:
            code = int(k)
        except (TypeError, ValueError):
            raise CodebookError(f"{where}: answer code {k!r} is not an integer.") from None
        if isinstance(lab, Mapping):
            out[code] = _label(lab, f"{where} code {code}")
        else:
            out[code] = Label(zh=str(lab), en=str(lab))
    return dict(sorted(out.items()))


def _variable(name: str, spec: Mapping, kind: str, code_sets, groups, where: str,
              global_missing: Mapping[int, str]) -> Variable:
    if not isinstance(spec, Mapping):
        raise CodebookError(f"{where}: expected a mapping of properties, got {spec!r}.")
    codes = _codes(spec.get("codes"), code_sets, where)
    vtype = spec.get("type", "code" if codes else None)
    if vtype not in VARIABLE_TYPES:
        raise CodebookError(
            f"{where}: type {vtype!r} is not one of {', '.join(VARIABLE_TYPES)} "
            "(items with 'codes' default to type 'code')."
        )
    if vtype == "code" and not codes:
        raise CodebookError(f"{where}: type 'code' needs 'codes'.")
    asked_of = spec.get("asked_of")
    roles = None
    if asked_of is not None:
        if asked_of not in groups:
            raise CodebookError(
                f"{where}: asked_of {asked_of!r} is not a group. Groups: {', '.join(groups)}."
            )
        roles = groups[asked_of].roles
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None and hi is not None and lo > hi:
        raise CodebookError(f"{where}: min {lo} is greater than max {hi}.")
    values = spec.get("values")
    if "missing_codes" in spec:
        own = spec.get("missing_codes") or {}
        bad = [r for r in own.values() if r not in MISSING_REASONS]
        if bad:
            raise CodebookError(f"{where}: missing_codes reasons {bad} not in {', '.join(MISSING_REASONS)}.")
        var_missing = {int(k): str(r) for k, r in own.items()}
    elif kind == "item" or vtype == "code":
        var_missing = dict(global_missing)
    else:
        var_missing = {}
    for code in var_missing:
        inside = (codes is not None and code in codes) or (
            codes is None and lo is not None and hi is not None and lo <= code <= hi
        )
        if inside:
            raise CodebookError(
                f"{where}: missing-value code {code} is also a valid answer ({_fmt(lo) if codes is None else 'an answer code'}"
                f"{'' if codes is not None else '–' + _fmt(hi)}). Give the item its own 'missing_codes' "
                "outside its valid range, e.g. {9997: dont_know, 9998: refused}."
            )
    return Variable(
        name=name,
        kind=kind,
        type=vtype,
        label=_label(spec, where),
        required=bool(spec.get("required", False)),
        codes=MappingProxyType(codes) if codes else None,
        values=tuple(values) if values is not None else None,
        min=lo,
        max=hi,
        min_exclusive=bool(spec.get("min_exclusive", False)),
        asked_of=asked_of,
        roles=roles,
        scale=spec.get("scale"),
        subscale=spec.get("subscale"),
        reverse=bool(spec.get("reverse", False)),
        missing_codes=MappingProxyType(var_missing),
    )


_SCORING_METHODS = ("sum", "mean", "single", "count", "mean_of_scales")
_TRANSFORMS = (None, "multiply", "table", "linear_0_100")


def _scale(name: str, spec: Mapping, items: Mapping[str, Variable], tables, groups, where) -> Scale:
    if not isinstance(spec, Mapping):
        raise CodebookError(f"{where}: expected a mapping of properties.")
    scoring = dict(spec.get("scoring") or {})
    method = scoring.get("method")
    if method not in _SCORING_METHODS:
        raise CodebookError(
            f"{where}: scoring method {method!r} is not one of {', '.join(_SCORING_METHODS)}."
        )
    if scoring.get("transform") not in _TRANSFORMS:
        raise CodebookError(f"{where}: transform {scoring.get('transform')!r} is not known.")
    if scoring.get("transform") == "table" and scoring.get("table") not in tables:
        raise CodebookError(f"{where}: conversion table {scoring.get('table')!r} is not under 'tables'.")
    if scoring.get("transform") == "multiply" and "factor" not in scoring:
        raise CodebookError(f"{where}: transform 'multiply' needs a 'factor'.")
    scale_items = tuple(spec.get("items") or ())
    composite = tuple(spec.get("composite_of") or ())
    if method == "mean_of_scales":
        if not composite:
            raise CodebookError(f"{where}: method 'mean_of_scales' needs 'composite_of'.")
    elif not scale_items:
        raise CodebookError(f"{where}: a scale needs 'items'.")
    for it in scale_items:
        if it not in items:
            raise CodebookError(f"{where}: item {it!r} is not defined under 'items'.")
        if items[it].scale != name:
            raise CodebookError(
                f"{where}: item {it!r} says it belongs to scale {items[it].scale!r}; "
                f"set 'scale: {name}' on the item."
            )
    n_items = len(scale_items)
    min_answered = scoring.get("min_answered")
    if min_answered is not None and not (1 <= int(min_answered) <= max(n_items, 1)):
        raise CodebookError(f"{where}: min_answered {min_answered} must be between 1 and {n_items}.")
    item_range = spec.get("item_range")
    if item_range is None and method in ("sum", "mean") and scale_items:
        rngs = {items[i].valid_range for i in scale_items}
        if len(rngs) == 1:
            item_range = next(iter(rngs))
    if item_range is not None:
        item_range = (float(item_range[0]), float(item_range[1]))
    subscales = {str(k): tuple(v) for k, v in (spec.get("subscales") or {}).items()}
    for sub, its in subscales.items():
        bad = [i for i in its if i not in scale_items]
        if bad:
            raise CodebookError(f"{where}: subscale {sub!r} lists items not in the scale: {bad}.")
    group = spec.get("group")
    if group is not None and group not in groups:
        raise CodebookError(f"{where}: group {group!r} is not defined under 'groups'.")
    score_range = spec.get("range")
    return Scale(
        name=name,
        label=_label(spec, where),
        domain=str(spec.get("domain", "other")),
        scoring=MappingProxyType(scoring),
        citation=str(spec.get("citation", "")),
        items=scale_items,
        reverse_items=tuple(i for i in scale_items if items[i].reverse),
        item_range=item_range,
        score_range=None if score_range is None else (float(score_range[0]), float(score_range[1])),
        subscales=MappingProxyType(subscales),
        subscale_min_answered=spec.get("subscale_min_answered"),
        cutoffs=tuple(spec.get("cutoffs") or ()),
        group=group,
        kind=str(spec.get("kind", "mean")),
        higher_is=str(spec.get("higher_is", "better")),
        composite_of=composite,
    )


def load_codebook(path: str | Path | None = None) -> Codebook:
    """Read and check a codebook YAML file.

    Parameters
    ----------
    path
        The codebook file. ``None`` loads the shipped ``codebook.yaml`` (``$EVALKIT_DATA`` if set;
        see :func:`evalkit.datasets.data_dir`).

    Returns
    -------
    Codebook
        Fields, items, groups, missing-value codes, scales and conversion tables.

    Raises
    ------
    CodebookError
        The file is missing, is not YAML, or is inconsistent (an item refers to an unknown scale,
        code set or group; a scale lists an unknown item; ...). The message names the entry.

    Examples
    --------
    >>> import evalkit
    >>> cb = evalkit.load_codebook()
    >>> cb.scales["who5"].items
    ('who5_1', 'who5_2', 'who5_3', 'who5_4', 'who5_5')
    """
    if path is None:
        from .datasets import data_dir

        path = data_dir() / "codebook.yaml"
    path = Path(path)
    if not path.exists():
        raise CodebookError(f"Codebook file {str(path)!r} does not exist.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CodebookError(f"{path}: not a readable UTF-8 YAML file ({exc}).") from None
    if not isinstance(raw, Mapping):
        raise CodebookError(f"{path}: the top level must be a mapping with 'fields', 'items', 'scales'.")
    for key in ("fields", "items"):
        if not isinstance(raw.get(key), Mapping) or not raw[key]:
            raise CodebookError(f"{path}: section {key!r} is missing or empty.")
    p = str(path)

    missing = {}
    for k, spec in (raw.get("missing_codes") or {}).items():
        reason = (spec or {}).get("reason")
        if reason not in MISSING_REASONS:
            raise CodebookError(
                f"{p}: missing code {k}: reason {reason!r} is not one of {', '.join(MISSING_REASONS)}."
            )
        missing[int(k)] = MissingCode(int(k), reason, _label(spec, f"{p}: missing code {k}"))

    groups = {}
    for g, spec in (raw.get("groups") or {}).items():
        roles = tuple((spec or {}).get("roles") or ())
        if not roles:
            raise CodebookError(f"{p}: group {g!r} needs a list of 'roles'.")
        groups[g] = Group(g, roles, _label(spec, f"{p}: group {g}"))

    code_sets = raw.get("code_sets") or {}
    gm = {c: m.reason for c, m in missing.items()}
    fields = {
        n: _variable(n, s, "field", code_sets, groups, f"{p}: field {n!r}", gm) for n, s in raw["fields"].items()
    }
    items = {
        n: _variable(n, s, "item", code_sets, groups, f"{p}: item {n!r}", gm) for n, s in raw["items"].items()
    }
    dup = set(fields) & set(items)
    if dup:
        raise CodebookError(f"{p}: names used both as field and item: {sorted(dup)}.")
    for name in ("respondent_id", "community_id", "wave"):
        if name not in fields:
            raise CodebookError(f"{p}: the fields section must define {name!r}.")
    tables = {}
    for t, spec in (raw.get("tables") or {}).items():
        tables[t] = MappingProxyType({int(k): float(v) for k, v in spec.items()})

    scales = {
        n: _scale(n, s, items, tables, groups, f"{p}: scale {n!r}") for n, s in (raw.get("scales") or {}).items()
    }
    for n, s in scales.items():
        for c in s.composite_of:
            if c not in scales:
                raise CodebookError(f"{p}: scale {n!r} is a composite of unknown scale {c!r}.")
    for v in items.values():
        if v.scale is not None and v.scale not in scales:
            raise CodebookError(f"{p}: item {v.name!r} names scale {v.scale!r}, which is not defined.")

    return Codebook(
        path=p,
        title=_label(raw.get("title") or {"en": path.stem}, f"{p}: title"),
        version=str(raw.get("version", "")),
        missing_codes=MappingProxyType(missing),
        groups=MappingProxyType(groups),
        fields=MappingProxyType(fields),
        items=MappingProxyType(items),
        scales=MappingProxyType(scales),
        tables=MappingProxyType(tables),
    )


def as_codebook(codebook: Codebook | str | os.PathLike | None, caller: str) -> Codebook:
    """The codebook a function was given: a :class:`Codebook`, a path to its YAML file, or ``None``.

    Parameters
    ----------
    codebook
        A loaded codebook (returned as is), a path (loaded with :func:`load_codebook`), or
        ``None`` for the shipped one.
    caller
        The function's name, for the error message.

    Raises
    ------
    CodebookError
        `codebook` is of another type, or the file cannot be loaded.
    """
    if codebook is None or isinstance(codebook, (str, os.PathLike)):
        return load_codebook(codebook)
    if isinstance(codebook, Codebook):
        return codebook
    raise CodebookError(
        f"{caller}: codebook must be a Codebook (evalkit.load_codebook(path)), the path of a codebook "
        f"YAML file, or None for the shipped codebook; got {type(codebook).__name__}."
    )
