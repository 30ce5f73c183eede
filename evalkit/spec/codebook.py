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

import numpy as np
import pandas as pd
import yaml

from .codebook_schema import applicable_missing, check_codebook, variable_type
from ..errors import CodebookError

#: How to get the shipped example's codebook, for messages of functions that were given none.
SHIPPED_HINT = ("for the shipped Dongying example use evalkit.datasets.dongying() (a Study) or "
                "evalkit.datasets.data_path(\"codebook.yaml\")")

#: Bounds of a codebook file: its size and how deeply its mappings and lists may nest (the
#: shipped codebook is 40 KB deep 4).
MAX_CODEBOOK_BYTES = 5 * 1024 * 1024
MAX_YAML_DEPTH = 20


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader refusing anchors and aliases (``&a``, ``*a``: a few hundred bytes of
    nested aliases expand to millions of nodes) and nesting deeper than :data:`MAX_YAML_DEPTH`."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _YamlRefused(line, "uses a YAML anchor or alias (`&name` / `*name`); evalkit codebooks "
                               "refuse them (they can expand a small file enormously). Write the "
                               "repeated part out, or use a named code set (`codes: <name>`)")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _YamlRefused(line, f"nests mappings or lists more than {MAX_YAML_DEPTH} levels deep; "
                                   "a codebook needs a few. Check the indentation or brackets")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _YamlRefused(Exception):
    def __init__(self, line: int, what: str):
        super().__init__(what)
        self.line, self.what = line, what


def _load_yaml(path: Path):
    """Parse a codebook file with :class:`_BoundedLoader`; every failure is a :class:`CodebookError`
    naming the file and, where known, the line."""
    size = path.stat().st_size
    if size > MAX_CODEBOOK_BYTES:
        raise CodebookError(f"{path}: the codebook file is {size / 2**20:.1f} MB, over the limit of "
                            f"{MAX_CODEBOOK_BYTES / 2**20:g} MB for a codebook; is it the right file?")
    try:
        text = path.read_text(encoding="utf-8")
        loader = _BoundedLoader(text)
        try:
            raw = loader.get_single_data()
        finally:
            loader.dispose()
    except _YamlRefused as exc:
        raise CodebookError(f"{path}, line {exc.line}: the codebook {exc.what}.") from None
    except RecursionError:
        raise CodebookError(f"{path}: the codebook nests too deeply to read (over {MAX_YAML_DEPTH} "
                            "levels); check the indentation or brackets.") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CodebookError(f"{path}: not a readable UTF-8 YAML file ({exc}).") from None
    return raw, text


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
class Cut:
    """One band of a derivation rule: values up to `upto` (inclusive; ``None``: no upper end) get `value`."""

    upto: float | None
    value: Any


@dataclass(frozen=True)
class DeriveRule:
    """A field derived from another by cut points (the codebook's ``derive`` section).

    ``derive: {role: {from: age, cuts: [{upto: 17, value: child}, {upto: 59, value: adult},
    {value: elderly}]}}`` says that ``role`` is ``child`` for ages up to 17, ``adult`` up to 59
    and ``elderly`` above. A source value above the last ``upto`` (when the last cut has one) or
    a missing source has no derived value.
    """

    name: str
    source: str
    cuts: tuple[Cut, ...]

    def apply(self, source) -> np.ndarray:
        """The derived value for each source value (object array; ``None`` where none applies)."""
        x = np.asarray(pd.to_numeric(pd.Series(np.asarray(source, dtype=object)), errors="coerce"), dtype=float)
        out = np.full(x.shape, None, dtype=object)
        done = np.isnan(x)
        for cut in self.cuts:
            hit = ~done & ((x <= cut.upto) if cut.upto is not None else True)
            out[hit] = cut.value
            done |= hit
        return out

    def describe(self) -> str:
        """The rule as text, e.g. ``child ≤ 17, adult ≤ 59, elderly above``."""
        return ", ".join(f"{c.value} ≤ {_fmt(c.upto)}" if c.upto is not None else f"{c.value} above"
                         for c in self.cuts)


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
    derived: Mapping[str, DeriveRule] = field(default_factory=lambda: MappingProxyType({}))

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


def _label(spec: Mapping) -> Label:
    zh, en = spec.get("zh"), spec.get("en")
    return Label(zh=str(zh if zh is not None else en), en=str(en if en is not None else zh))


def _codes(spec, code_sets: Mapping) -> dict[int, Label] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = code_sets[spec]
    out = {int(k): _label(lab) if isinstance(lab, Mapping) else Label(zh=str(lab), en=str(lab))
           for k, lab in spec.items()}
    return dict(sorted(out.items()))


def _variable(name: str, spec: Mapping, kind: str, code_sets, groups,
              global_missing: Mapping[int, str]) -> Variable:
    """Build one field or item from its checked spec (see :mod:`evalkit.spec.codebook_schema`)."""
    codes = _codes(spec.get("codes"), code_sets)
    asked_of = spec.get("asked_of")
    values = spec.get("values")
    return Variable(
        name=name,
        kind=kind,
        type=variable_type(spec),
        label=_label(spec),
        required=bool(spec.get("required", False)),
        codes=MappingProxyType(codes) if codes else None,
        values=tuple(values) if values is not None else None,
        min=spec.get("min"),
        max=spec.get("max"),
        min_exclusive=bool(spec.get("min_exclusive", False)),
        asked_of=asked_of,
        roles=None if asked_of is None else groups[asked_of].roles,
        scale=spec.get("scale"),
        subscale=spec.get("subscale"),
        reverse=bool(spec.get("reverse", False)),
        missing_codes=MappingProxyType(applicable_missing(spec, kind, global_missing)),
    )


def _pair(x) -> tuple[float, float] | None:
    return None if x is None else (float(x[0]), float(x[1]))


def _scale(name: str, spec: Mapping, items: Mapping[str, Variable]) -> Scale:
    """Build one scale from its checked spec (see :mod:`evalkit.spec.codebook_schema`)."""
    scoring = dict(spec["scoring"])
    scale_items = tuple(spec.get("items") or ())
    item_range = spec.get("item_range")
    if item_range is None and scoring["method"] in ("sum", "mean") and scale_items:
        rngs = {items[i].valid_range for i in scale_items}
        if len(rngs) == 1:
            item_range = next(iter(rngs))
    return Scale(
        name=name,
        label=_label(spec),
        domain=str(spec.get("domain", "other")),
        scoring=MappingProxyType(scoring),
        citation=str(spec.get("citation", "")),
        items=scale_items,
        reverse_items=tuple(i for i in scale_items if items[i].reverse),
        item_range=_pair(item_range),
        score_range=_pair(spec.get("range")),
        subscales=MappingProxyType({str(k): tuple(v) for k, v in (spec.get("subscales") or {}).items()}),
        subscale_min_answered=spec.get("subscale_min_answered"),
        cutoffs=tuple(spec.get("cutoffs") or ()),
        group=spec.get("group"),
        kind=str(spec.get("kind", "mean")),
        higher_is=str(spec.get("higher_is", "better")),
        composite_of=tuple(spec.get("composite_of") or ()),
    )


def load_codebook(path: str | os.PathLike | None = None) -> Codebook:
    """Read and check a codebook YAML file.

    Parameters
    ----------
    path
        The codebook file (required; the shipped example's is
        ``evalkit.datasets.data_path("codebook.yaml")``, or use :func:`evalkit.datasets.dongying`).

    Returns
    -------
    Codebook
        Fields, items, groups, missing-value codes, scales and conversion tables.

    Raises
    ------
    CodebookError
        No path was given; the file is missing, over :data:`MAX_CODEBOOK_BYTES`, is not YAML, uses
        YAML anchors or aliases, or nests deeper than :data:`MAX_YAML_DEPTH`; or it breaks the codebook schema or is inconsistent (an
        unknown key, a wrong type, an item referring to an unknown scale, code set or group, a scale
        listing an unknown item, ...). Every problem is listed, with its line, entry and key; the
        list is in ``.problems`` (see :mod:`evalkit.spec.codebook_schema`).

    Examples
    --------
    >>> import evalkit
    >>> cb = evalkit.load_codebook(evalkit.datasets.data_path("codebook.yaml"))
    >>> cb.scales["who5"].items
    ('who5_1', 'who5_2', 'who5_3', 'who5_4', 'who5_5')
    """
    if path is None:
        raise CodebookError(f"load_codebook() needs the path of your codebook YAML file; {SHIPPED_HINT}.")
    path = Path(path)
    if not path.exists():
        raise CodebookError(f"Codebook file {str(path)!r} does not exist.")
    if not path.is_file():
        raise CodebookError(f"Codebook {str(path)!r} is not a file; name the codebook YAML file itself.")
    raw, text = _load_yaml(path)
    return codebook_from_dict(raw, str(path), text=text, title=path.stem)


def codebook_from_dict(raw: Mapping, source: str = "<codebook>", *, text: str | None = None,
                       title: str | None = None) -> Codebook:
    """Check a parsed codebook (the YAML as dicts and lists) and build the :class:`Codebook`.

    Parameters
    ----------
    raw
        The codebook as ``yaml.safe_load`` returns it.
    source
        Where it came from (a file name), for messages and :attr:`Codebook.path`.
    text
        The YAML text, so that problems carry their line numbers (optional).
    title
        English title when the codebook has no ``title`` (default: `source`).

    Returns
    -------
    Codebook

    Raises
    ------
    CodebookError
        Listing every problem :func:`evalkit.spec.codebook_schema.check_codebook` finds: unknown keys
        (with the closest valid key), wrong types, unknown names, inconsistent values.
    """
    check_codebook(raw, source, text)
    missing = {int(k): MissingCode(int(k), s["reason"], _label(s))
               for k, s in (raw.get("missing_codes") or {}).items()}
    groups = {g: Group(g, tuple(s["roles"]), _label(s)) for g, s in (raw.get("groups") or {}).items()}
    code_sets = raw.get("code_sets") or {}
    gm = {c: m.reason for c, m in missing.items()}
    fields = {n: _variable(n, s, "field", code_sets, groups, gm) for n, s in raw["fields"].items()}
    items = {n: _variable(n, s, "item", code_sets, groups, gm) for n, s in raw["items"].items()}
    tables = {t: MappingProxyType({int(k): float(v) for k, v in s.items()})
              for t, s in (raw.get("tables") or {}).items()}
    scales = {n: _scale(n, s, items) for n, s in (raw.get("scales") or {}).items()}
    derived = {n: DeriveRule(n, str(s["from"]), tuple(Cut(None if c.get("upto") is None else float(c["upto"]),
                                                          c["value"]) for c in s["cuts"]))
               for n, s in (raw.get("derive") or {}).items()}
    return Codebook(
        path=source,
        title=_label(raw.get("title") or {"en": title or source}),
        version=str(raw.get("version", "")),
        missing_codes=MappingProxyType(missing),
        groups=MappingProxyType(groups),
        fields=MappingProxyType(fields),
        items=MappingProxyType(items),
        scales=MappingProxyType(scales),
        tables=MappingProxyType(tables),
        derived=MappingProxyType(derived),
    )


def as_codebook(codebook, caller: str) -> Codebook:
    """The codebook a function was given: a :class:`Codebook`, a path to its YAML file, or a study.

    Parameters
    ----------
    codebook
        A loaded codebook (returned as is), a path (loaded with :func:`load_codebook`), or an
        object with a ``codebook`` attribute (a :class:`evalkit.Study`). ``None`` is an error:
        generic code never guesses the codebook.
    caller
        The function's name, for the error message.

    Raises
    ------
    CodebookError
        `codebook` is ``None`` or of another type, or the file cannot be loaded.
    """
    if isinstance(codebook, (str, os.PathLike)):
        return load_codebook(codebook)
    if isinstance(codebook, Codebook):
        return codebook
    if isinstance(getattr(codebook, "codebook", None), Codebook):  # a Study (spec.study imports this module)
        return codebook.codebook
    if codebook is None:
        raise CodebookError(f"{caller} needs the codebook of your survey: pass its path, "
                            f"evalkit.load_codebook(path) or study=evalkit.Study.from_files(...); {SHIPPED_HINT}.")
    raise CodebookError(
        f"{caller}: codebook must be a Codebook (evalkit.load_codebook(path)), the path of a codebook "
        f"YAML file, or a Study; got {type(codebook).__name__}."
    )
