"""Checking a codebook file before it is built: its schema and the references between its entries.

Two layers, both collected into one :class:`~evalkit.errors.CodebookError` that lists every
problem (not only the first), each named by its entry and key, with the line of the file:

1. **Structure**, by the JSON Schema shipped next to this module (``codebook.schema.json``, draft
   2020-12): the sections, every key an entry may have (unknown keys are refused at every level,
   with the closest valid key suggested: ``min_anwsered`` → ``min_answered``), the type of each
   value and the allowed words (``method``, ``transform``, ``reason``, ``type`` ...). Editors can
   use the same file: put ``# yaml-language-server: $schema=<path to codebook.schema.json>`` at
   the top of a codebook for completion and live checking in VS Code.
2. **References and values** the scoring code relies on, which a schema cannot express: a code
   set, group, scale, item or table named by an entry must exist; a scale's items must say they
   belong to it; no scale is a composite of itself through other scales; ``min`` ≤ ``max``;
   cut points (a scale's ``cutoffs``, the bands of a ``derive`` rule) increase; a derived field
   and its numeric source exist and each band's value is valid for the field; a missing-value
   code must not also be a valid answer; keys that would have no effect (``factor`` without
   ``transform: multiply`` ...) are refused.

:func:`check_codebook` runs both and raises; :func:`codebook_problems` returns the list.
The module reads plain YAML data (dicts and lists) and imports nothing else of evalkit but its
errors, so :mod:`evalkit.spec.codebook` can build on it without a circle.
"""
from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import yaml

from ..errors import CodebookError

SCHEMA_PATH = Path(__file__).with_name("codebook.schema.json")

_TYPE_WORDS = {"integer": "a whole number", "number": "a number", "string": "text", "object": "a mapping",
               "array": "a list", "boolean": "true or false", "null": "empty"}


@dataclass(frozen=True)
class Problem:
    """One problem found in a codebook.

    Attributes
    ----------
    path
        Keys from the top of the file to the entry, e.g. ``("scales", "who5", "scoring")``.
    message
        What is wrong and how to fix it; names the key when the problem is one key.
    key
        The key the problem is about, when it is one key of the entry (used to find its line).
    line
        Line of the file (1-based), when known.
    """

    path: tuple
    message: str
    key: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        """The entry as a dotted path, e.g. ``scales.who5.scoring`` (``items[2]`` for list positions)."""
        out = ""
        for k in self.path:
            out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
        return out or "top level"

    def __str__(self) -> str:
        return (f"line {self.line}, " if self.line else "") + f"{self.where}: {self.message}"


# ---------------------------------------------------------------------------------------------
# public API

def check_codebook(raw: Any, source: str, text: str | None = None) -> None:
    """Raise one :class:`CodebookError` listing every problem of a parsed codebook, if any.

    Parameters
    ----------
    raw
        The codebook as parsed by ``yaml.safe_load``.
    source
        The file name, for the message.
    text
        The YAML text, to give each problem its line number (optional).

    Raises
    ------
    CodebookError
        With ``.problems``, a list of :class:`Problem`; the message names the file and lists
        each problem as ``line N, <entry>: <what is wrong and how to fix it>``.

    Examples
    --------
    >>> check_codebook({"fields": {"respondent_id": {"type": "id", "en": "respondent"}},
    ...                 "itmes": {"q1": {"type": "integer", "en": "question 1"}}}, "cb.yaml")
    Traceback (most recent call last):
    ...
    evalkit.errors.CodebookError: cb.yaml: 4 problems in the codebook:
      - top level: unknown section `itmes`; did you mean `items`?
      - top level: missing section `items`
      - fields: missing field `community_id`
      - fields: missing field `wave`
    """
    problems = codebook_problems(raw)
    if not problems:
        return
    if text is not None:
        problems = _with_lines(problems, text)
    n = len(problems)
    head = f"{source}: {n} problem{'s' if n > 1 else ''} in the codebook:"
    raise CodebookError("\n  - ".join([head, *map(str, problems)]), problems=problems)


def codebook_problems(raw: Any) -> list[Problem]:
    """Every problem of a parsed codebook: schema first, then references and values.

    Parameters
    ----------
    raw
        The codebook as parsed by ``yaml.safe_load``.

    Returns
    -------
    list of Problem
        Empty when the codebook is sound.
    """
    if not isinstance(raw, Mapping):
        return [Problem((), "the file must be a mapping with the sections `fields` and `items` "
                            f"(and usually `scales`); it holds {type(raw).__name__}")]
    return schema_problems(raw) + reference_problems(raw)


@functools.cache
def codebook_schema() -> dict:
    """The JSON Schema of a codebook (``codebook.schema.json``), as a dict."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_problems(raw: Mapping) -> list[Problem]:
    """The problems the JSON Schema finds: unknown keys, wrong types, unknown words, missing keys."""
    errors = sorted(_validator().iter_errors(_jsonable(raw)), key=lambda e: [str(k) for k in e.absolute_path])
    return list(dict.fromkeys(p for e in errors for p in _explain(e)))  # one `required` error per missing key


# rules shared with evalkit.spec.codebook, which builds the objects from the checked data

def variable_type(spec: Mapping) -> str | None:
    """The type of a field or item: its ``type``, else ``code`` when it has ``codes``."""
    return spec.get("type", "code" if spec.get("codes") else None)


def applicable_missing(spec: Mapping, kind: str, global_missing: Mapping[int, str]) -> dict[int, str]:
    """{code: reason} of the missing-value codes that apply to one field (``kind="field"``) or item.

    A variable's own ``missing_codes`` replace the global ones; otherwise items and coded fields
    take the global codes and other fields none.
    """
    if "missing_codes" in spec:
        return {int(k): str(r) for k, r in (spec.get("missing_codes") or {}).items()}
    if kind == "item" or variable_type(spec) == "code":
        return dict(global_missing)
    return {}


def global_missing_codes(raw: Mapping) -> dict[int, str]:
    """{code: reason} of the codebook's ``missing_codes`` section (entries that are well formed)."""
    out = {}
    for k, spec in _entries(raw, "missing_codes"):
        code = _int(k)
        if code is not None and isinstance(spec.get("reason"), str):
            out[code] = spec["reason"]
    return out


# ---------------------------------------------------------------------------------------------
# layer 1: the JSON Schema

@functools.cache
def _validator():
    from jsonschema import Draft202012Validator

    schema = codebook_schema()
    return Draft202012Validator(_inline_refs(schema, schema["$defs"]))


def _inline_refs(node: Any, defs: Mapping) -> Any:
    """The schema with each ``$ref`` replaced by its definition (validates ~2× faster; same result)."""
    if isinstance(node, list):
        return [_inline_refs(n, defs) for n in node]
    if not isinstance(node, Mapping):
        return node
    out = {k: _inline_refs(v, defs) for k, v in node.items() if k not in ("$ref", "$defs")}
    if "$ref" not in node:
        return out
    target = _inline_refs(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    return {**out, "allOf": [*out.get("allOf", []), target]} if out else target


def _jsonable(x: Any) -> Any:
    """Mapping keys as text (YAML answer codes are integers; JSON Schema object keys are text)."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    return x


def _suggest(word: Any, choices: Iterable[str]) -> str:
    """``; did you mean `x`?`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def _explain(e) -> Iterator[Problem]:
    """Turn one jsonschema error into problems with a plain message."""
    path = tuple(e.absolute_path)
    schema = e.schema if isinstance(e.schema, Mapping) else {}
    hint = schema.get("description")
    kind = "section" if not path else "field" if path == ("fields",) else "key"
    if e.validator == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        for key in sorted(set(e.instance) - set(allowed)):
            more = _suggest(key, allowed) or f"; valid {kind}s: {', '.join(f'`{a}`' for a in allowed)}"
            yield Problem(path, f"unknown {kind} `{key}`{more}", key=key)
    elif e.validator == "required":
        conditional = hint and ("then" in e.schema_path or "else" in e.schema_path)
        for key in e.validator_value:
            if key not in e.instance:
                yield Problem(path, f"missing {kind} `{key}`" + (f": {hint}" if conditional else ""))
    elif e.validator == "pattern" and e.validator_value == "^-?[0-9]+$":
        yield Problem(path, f"`{e.instance}` is not a whole number; answer codes and table keys must be",
                      key=str(e.instance))
    else:
        yield Problem(path, _value_message(e, path, hint))


def _value_message(e, path: tuple, hint: str | None) -> str:
    """The message for a value that has the wrong type, word, size or form."""
    name = f"`{path[-1]}`" if path and isinstance(path[-1], str) else "the value"
    got = e.instance
    if e.validator == "type":
        want = e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
        msg = f"{name} must be {' or '.join(_TYPE_WORDS.get(w, w) for w in want)}, got {got!r}"
        if isinstance(got, bool) and "string" in want:
            msg += " (YAML reads yes/no/on/off/true/false as true or false: put the text in quotes)"
        return msg
    if e.validator in ("enum", "const"):
        words = e.validator_value if e.validator == "enum" else [e.validator_value]
        return (f"{name} is {got!r}, which is not one of "
                + ", ".join(f"`{w}`" for w in words if w is not None) + _suggest(got, [w for w in words if w]))
    if e.validator in ("minProperties", "minItems") and e.validator_value == 1:
        return "must not be empty"
    if e.validator in ("minItems", "maxItems") and hint == "[low, high]":
        return f"{name} must be a pair [low, high], got {got!r}"
    if e.validator == "minimum":
        return f"{name} must be at least {e.validator_value}, got {got!r}"
    if e.validator in ("anyOf", "not") and hint:
        return hint
    return e.message + (f" ({hint})" if hint else "")


# ---------------------------------------------------------------------------------------------
# layer 2: references between entries and relations between values

def reference_problems(raw: Mapping) -> list[Problem]:
    """The problems a schema cannot see: unknown names, inconsistent values, keys without effect.

    Entries that are not well formed are skipped here (the schema reports them).
    """
    out = list(_duplicate_names(raw))
    gm = global_missing_codes(raw)
    for section, kind in (("fields", "field"), ("items", "item")):
        for name, spec in _entries(raw, section):
            out += _variable_problems(raw, (section, name), spec, kind, gm)
    for name, spec in _entries(raw, "items"):
        out += _item_scale_problems(raw, name, spec)
    for name, spec in _entries(raw, "scales"):
        out += _scale_reference_problems(raw, name, spec)
        out += _scale_value_problems(name, spec)
    out += _composite_cycles(raw)
    for name, spec in _entries(raw, "derive"):
        out += _derive_problems(raw, name, spec)
    return out


def _entries(raw: Mapping, section: str) -> list[tuple[Any, Mapping]]:
    """(name, spec) of the entries of a section whose spec is a mapping."""
    sec = raw.get(section)
    return [(k, v) for k, v in sec.items() if isinstance(v, Mapping)] if isinstance(sec, Mapping) else []


def _names(raw: Mapping, section: str) -> list:
    sec = raw.get(section)
    return list(sec) if isinstance(sec, Mapping) else []


def _int(x) -> int | None:
    if isinstance(x, bool):
        return None
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _unknown(raw: Mapping, path: tuple, key: str, name: Any, section: str, what: str) -> list[Problem]:
    """A problem if `name` is not an entry of `section`, with the closest entry suggested."""
    known = _names(raw, section)
    if not isinstance(name, str) or name in known:
        return []
    listed = ", ".join(f"`{k}`" for k in known[:12]) + (" ..." if len(known) > 12 else "") or "none"
    return [Problem(path, f"`{key}` names {what} `{name}`, which is not defined under `{section}`"
                          f"{_suggest(name, known) or f' (defined: {listed})'}", key=key)]


def _duplicate_names(raw: Mapping) -> list[Problem]:
    dup = sorted(set(map(str, _names(raw, "fields"))) & set(map(str, _names(raw, "items"))))
    return [Problem(("items", d), f"`{d}` is both a field and an item; rename one") for d in dup]


def _answer_codes(raw: Mapping, codes: Any) -> set[int] | None:
    """The integer answer codes of a variable's ``codes`` (a code-set name or a mapping)."""
    if isinstance(codes, str):
        sets = raw.get("code_sets")
        codes = sets.get(codes) if isinstance(sets, Mapping) else None
    if not isinstance(codes, Mapping):
        return None
    return {c for c in map(_int, codes) if c is not None}


def _variable_problems(raw: Mapping, path: tuple, spec: Mapping, kind: str,
                       global_missing: Mapping[int, str]) -> list[Problem]:
    """Code set and group references of one field or item; min ≤ max; missing codes outside answers."""
    out = _unknown(raw, path, "codes", spec.get("codes"), "code_sets", "the code set")
    out += _unknown(raw, path, "asked_of", spec.get("asked_of"), "groups", "the group")
    lo, hi = spec.get("min"), spec.get("max")
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi))
    if numeric and lo > hi:
        out.append(Problem(path, f"`min` {lo} is greater than `max` {hi}", key="min"))
    own = spec.get("missing_codes")
    if own is not None and not isinstance(own, Mapping):
        return out  # the schema reports it
    try:
        missing = applicable_missing(spec, kind, global_missing)
    except (TypeError, ValueError):
        return out  # a code that is not a whole number: the schema reports it
    answers = _answer_codes(raw, spec.get("codes"))
    clash = [c for c in missing if (c in answers if answers is not None else numeric and lo <= c <= hi)]
    if clash:
        valid = "one of its answer codes" if answers is not None else f"inside its range {lo}–{hi}"
        out.append(Problem(path, f"missing-value code {clash[0]} is also a valid answer ({valid}). Give "
                                 "the entry its own `missing_codes` outside its valid range, e.g. "
                                 "{9997: dont_know, 9998: refused}", key="missing_codes"))
    return out


def _item_scale_problems(raw: Mapping, name: Any, spec: Mapping) -> list[Problem]:
    """An item's ``scale`` exists; its ``subscale`` is a subscale of that scale listing the item."""
    path = ("items", name)
    out = _unknown(raw, path, "scale", spec.get("scale"), "scales", "the scale")
    sub, scale = spec.get("subscale"), spec.get("scale")
    scale = dict(_entries(raw, "scales")).get(scale) if isinstance(scale, str) else None
    if out or scale is None:
        return out
    listed = scale.get("items" if "composite_of" not in scale else "composite_of")
    if isinstance(listed, list) and name not in listed:
        out.append(Problem(path, f"`scale` says `{spec['scale']}`, but that scale does not list `{name}` "
                                 "under its `items`: add it there or remove `scale`", key="scale"))
    if not isinstance(sub, str):
        return out
    subs = scale.get("subscales") if isinstance(scale.get("subscales"), Mapping) else {}
    if sub not in subs:
        return out + [Problem(path, f"`subscale` `{sub}` is not a subscale of scale `{spec['scale']}` "
                                    f"(its subscales: {', '.join(map(str, subs)) or 'none'})"
                                    + _suggest(sub, subs), key="subscale")]
    if isinstance(subs[sub], list) and name not in subs[sub]:
        out.append(Problem(path, f"`subscale` says `{sub}`, but scale `{spec['scale']}` does not list "
                                 f"`{name}` under subscales.{sub}", key="subscale"))
    return out


def _scale_reference_problems(raw: Mapping, name: Any, spec: Mapping) -> list[Problem]:
    """The items, component scales, group and table a scale names exist and agree with it."""
    path = ("scales", name)
    items = dict(_entries(raw, "items"))
    its = spec.get("items") if isinstance(spec.get("items"), list) else []
    out = []
    for i, it in enumerate(its):
        ipath = path + ("items", i)
        if not isinstance(it, str):
            continue  # the schema reports it
        if it not in items:
            out += _unknown(raw, ipath, "items", it, "items", "the item")
        elif items[it].get("scale") != name:
            out.append(Problem(ipath, f"item `{it}` says it belongs to scale `{items[it].get('scale')}`; "
                                      f"set `scale: {name}` on the item"))
    for i, c in enumerate(spec.get("composite_of") if isinstance(spec.get("composite_of"), list) else []):
        if c == name:
            out.append(Problem(path + ("composite_of", i), "a scale cannot be a composite of itself"))
        out += _unknown(raw, path + ("composite_of", i), "composite_of", c, "scales", "the scale")
    out += _unknown(raw, path, "group", spec.get("group"), "groups", "the group")
    scoring = spec.get("scoring") if isinstance(spec.get("scoring"), Mapping) else {}
    if scoring.get("transform") == "table":
        out += _unknown(raw, path + ("scoring",), "table", scoring.get("table"), "tables", "the table")
    subs = spec.get("subscales") if isinstance(spec.get("subscales"), Mapping) else {}
    for sub, members in subs.items():
        bad = [m for m in members if m not in its] if isinstance(members, list) else []
        if bad:
            out.append(Problem(path + ("subscales",), f"subscale `{sub}` lists items that are not in the "
                                                      f"scale's `items`: {', '.join(map(str, bad))}", key=sub))
    return out


# scoring keys that only act together with another setting: (key, needs, explanation)
_NEEDS = (
    ("factor", lambda s: s.get("transform") == "multiply", "is used only with `transform: multiply`"),
    ("table", lambda s: s.get("transform") == "table", "is used only with `transform: table`"),
    ("raw_range", lambda s: s.get("transform") == "linear_0_100", "is used only with `transform: linear_0_100`"),
    ("threshold", lambda s: s.get("method") == "count", "is used only with `method: count`"),
    ("prorate", lambda s: s.get("method") in ("sum", "mean", "count"), "is used only with methods sum, mean, count"),
    ("min_answered", lambda s: s.get("method") != "single", "has no effect with `method: single`"),
)


def _scale_value_problems(name: Any, spec: Mapping) -> list[Problem]:
    """min_answered within the number of parts; ranges low ≤ high; keys that would have no effect."""
    path = ("scales", name)
    scoring = spec.get("scoring") if isinstance(spec.get("scoring"), Mapping) else {}
    out = [Problem(path + ("scoring",), f"`{key}` {why}", key=key)
           for key, ok, why in _NEEDS if key in scoring and not ok(scoring)]
    composite = scoring.get("method") == "mean_of_scales"
    parts = spec.get("composite_of" if composite else "items")
    n = _int(scoring.get("min_answered"))
    if isinstance(parts, list) and n is not None and n > len(parts) and scoring.get("method") != "single":
        out.append(Problem(path + ("scoring",), f"`min_answered` {n} is more than the scale's "
                                                f"{len(parts)} {'scales' if composite else 'items'}",
                           key="min_answered"))
    if composite and "items" in spec:
        out.append(Problem(path, "`items` has no effect with `method: mean_of_scales` (it averages "
                                 "`composite_of`); remove it", key="items"))
    if "subscale_min_answered" in spec and not spec.get("subscales"):
        out.append(Problem(path, "`subscale_min_answered` has no effect without `subscales`",
                           key="subscale_min_answered"))
    for where, key in (((), "item_range"), ((), "range"), (("scoring",), "raw_range")):
        pair = (scoring if where else spec).get(key)
        if _is_pair(pair) and (pair[0] > pair[1] or (key == "raw_range" and pair[0] == pair[1])):
            out.append(Problem(path + where, f"`{key}` {pair} has low {'>' if pair[0] > pair[1] else '='} high",
                               key=key))
    cuts = spec.get("cutoffs") if isinstance(spec.get("cutoffs"), list) else []
    out += _increasing(path + ("cutoffs",), [c.get("upto") if isinstance(c, Mapping) else None for c in cuts])
    return out


def _is_pair(x) -> bool:
    return isinstance(x, list) and len(x) == 2 and all(_number(v) for v in x)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _increasing(path: tuple, bounds: list) -> list[Problem]:
    """A problem at the first `upto` that is not above the one before it (cut points must increase)."""
    for i in range(1, len(bounds)):
        a, b = bounds[i - 1], bounds[i]
        if _number(a) and _number(b) and b <= a:
            return [Problem(path + (i,), f"`upto` {b} is not above the previous band's {a}: list the bands "
                                         "with increasing `upto`", key="upto")]
    return []


def _composite_cycles(raw: Mapping) -> list[Problem]:
    """A problem for each scale that is a composite of itself through other scales (a -> b -> a)."""
    graph = {n: [c for c in s.get("composite_of") if isinstance(c, str) and c != n]
             for n, s in _entries(raw, "scales") if isinstance(s.get("composite_of"), list)}
    out, reported = [], set()
    for start in graph:
        stack, path = [(start, (start,))], None
        while stack and path is None:
            node, trail = stack.pop()
            for c in graph.get(node, ()):
                if c == start:
                    path = trail + (c,)
                    break
                if c not in trail:
                    stack.append((c, trail + (c,)))
        if path is not None and frozenset(path) not in reported:
            reported.add(frozenset(path))
            out.append(Problem(("scales", start), "the scale is a composite of itself through other scales ("
                                                   + " -> ".join(path) + "): fix `composite_of`", key="composite_of"))
    return out


def _derive_problems(raw: Mapping, name: Any, spec: Mapping) -> list[Problem]:
    """A derived field and its source exist, the source is numeric, cut points increase, values are valid."""
    path = ("derive", name)
    variables = {**dict(_entries(raw, "fields")), **dict(_entries(raw, "items"))}
    out = []
    for what, var in (("derived field", name), ("source `from`", spec.get("from"))):
        if isinstance(var, str) and var not in variables:
            out.append(Problem(path, f"the {what} `{var}` is not defined under `fields` or `items`"
                                     + _suggest(var, variables), key=None if var == name else "from"))
    src = spec.get("from") if isinstance(spec.get("from"), str) else None
    source, target = variables.get(src), variables.get(name)
    if src is not None and src == name:
        out.append(Problem(path, "a field cannot be derived from itself", key="from"))
    elif source is not None and variable_type(source) not in ("integer", "number", "code"):
        out.append(Problem(path, f"`from` names `{spec['from']}` of type `{variable_type(source)}`; cut points "
                                 "need a numeric field (type integer, number or code)", key="from"))
    cuts = [c if isinstance(c, Mapping) else {} for c in spec.get("cuts")] if isinstance(spec.get("cuts"), list) else []
    for i, c in enumerate(cuts[:-1]):
        if c and "upto" not in c:
            out.append(Problem(path + ("cuts", i), "only the last band may leave out `upto` (it takes every "
                                                   "value above the band before it)"))
    out += _increasing(path + ("cuts",), [c.get("upto") for c in cuts])
    allowed = target.get("values") if isinstance(target, Mapping) else None
    allowed = allowed if isinstance(allowed, list) else None
    codes = _answer_codes(raw, target.get("codes")) if isinstance(target, Mapping) else None
    for i, c in enumerate(cuts):
        v = c.get("value")
        bad = "value" in c and ((allowed is not None and str(v) not in map(str, allowed))
                                or (codes is not None and _int(v) not in codes))
        if bad:
            valid = ", ".join(map(str, allowed if allowed is not None else sorted(codes)))
            out.append(Problem(path + ("cuts", i), f"`value` {v!r} is not a valid value of `{name}` "
                                                   f"(its values: {valid})", key="value"))
    return out


# ---------------------------------------------------------------------------------------------
# line numbers

def _with_lines(problems: list[Problem], text: str) -> list[Problem]:
    """The problems with the line of their key (or entry) in the YAML text, in file order."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return problems
    out = [Problem(p.path, p.message, p.key, _line(root, p.path + ((p.key,) if p.key else ())))
           for p in problems]
    return sorted(out, key=lambda p: p.line or 0)


def _line(node, path: tuple) -> int | None:
    """1-based line of the deepest node along `path` (a key's line for a mapping key)."""
    line = None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if k.value == str(step)), None)
            if hit is None:
                break
            line, node = hit[0].start_mark.line + 1, hit[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line
