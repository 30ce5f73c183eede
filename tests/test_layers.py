"""The package's architecture, measured: the import graph has no circle and no upward import, and no
module or function is too long (issue 10).

How it is measured: every ``.py`` file under ``evalkit/`` is parsed with :mod:`ast` (nothing is
imported or run); every ``import``/``from ... import`` anywhere in the file -- at module level,
inside functions and under ``if TYPE_CHECKING:`` -- becomes an edge from that module to the evalkit
module it names (``from .codebook import Codebook`` -> ``evalkit.spec.codebook``;
``from .. import datasets`` -> ``evalkit.datasets``; ``import evalkit`` -> the package root).
Circles are the strongly connected components of that graph (Tarjan); an upward import is an edge
to a module of a higher layer than the importer's:

    errors, _literals, results < spec < io < measure < survey < inference < did < evaluation
    < performance < publish < datasets < evalkit/__init__, __main__, _moved, cli, project

Known violations in areas being redesigned by others are listed below, each with a comment; the
lead shrinks the lists (an entry that is no longer a violation gives a warning naming it).
Run ``python tests/test_layers.py`` for the measured summary.
"""
from __future__ import annotations

import ast
import sys
import warnings
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "evalkit"

#: Layers, bottom to top; a module may import from its own layer or lower ones.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("evalkit.errors", "evalkit._literals", "evalkit.results", "evalkit._spreadsheet"),
    ("evalkit.spec",),
    ("evalkit.io",),
    ("evalkit.measure",),
    ("evalkit.survey",),
    ("evalkit.inference",),
    ("evalkit.did",),
    ("evalkit.evaluation",),
    ("evalkit.performance",),
    ("evalkit.publish",),
    ("evalkit.datasets",),
    ("evalkit", "evalkit.__main__", "evalkit._moved", "evalkit.cli", "evalkit.project"),
)
LAYER_NAMES = ("base", "spec", "io", "measure", "survey", "inference", "did", "evaluation", "performance",
               "publish", "datasets", "top")

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 120

#: Upward imports still in the code: (importer, imported), each with its owner. None today.
KNOWN_UPWARD: set[tuple[str, str]] = set()

#: Import circles still in the code, as the sorted tuple of their modules. None today.
KNOWN_CIRCLES: set[tuple[str, ...]] = set()

#: Modules over MAX_MODULE_LINES lines: module -> owner / reason.
KNOWN_LONG_MODULES: dict[str, str] = {}

#: Functions over MAX_FUNCTION_LINES lines: "module:qualified.name" -> owner / reason.
KNOWN_LONG_FUNCTIONS: dict[str, str] = {}


# ----------------------------------------------------------------------------------- measuring

def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """{dotted name: file} of every module of the package (``__pycache__`` left out)."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _target(name: str, known: dict[str, Path]) -> str | None:
    """The evalkit module an import of `name` loads: the longest known prefix of the dotted name."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every evalkit module that module `name` imports, anywhere in its file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if _is_package(path) else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(t for a in node.names if (t := _target(a.name, known)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            if not stem.startswith("evalkit"):
                continue
            for a in node.names:  # `from pkg import sub` imports the submodule when there is one
                t = _target(f"{stem}.{a.name}", known) if f"{stem}.{a.name}" in known else _target(stem, known)
                if t:
                    out.add(t)
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {n: imports(n, p, known) for n, p in known.items()}


def layer(name: str) -> int:
    best, level = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and len(p) > best and not (p == "evalkit" and name != p):
                best, level = len(p), i
    if level is None:
        raise AssertionError(f"module {name} has no layer: add it (or its subpackage) to LAYERS in {__file__}")
    return level


def circles(g: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(tuple(sorted(comp)))
    return sorted(out)


def upward(g: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in g.items() for b in targets if layer(b) > layer(a)}


def long_modules() -> dict[str, int]:
    out = {}
    for name, path in modules().items():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_MODULE_LINES:
            out[name] = n
    return out


def long_functions() -> dict[str, int]:
    out = {}
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    q = f"{prefix}{child.name}"
                    n = child.end_lineno - child.lineno + 1
                    if n > MAX_FUNCTION_LINES:
                        out[f"{name}:{q}"] = n
                    visit(child, q + ".")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")
                else:
                    visit(child, prefix)

        visit(tree, "")
    return out


def summary(g: dict[str, set[str]] | None = None) -> str:
    """The measured graph: modules and edges per layer, layer-to-layer edges, circles, upward imports."""
    g = graph() if g is None else g
    per_layer = defaultdict(list)
    for n in g:
        per_layer[layer(n)].append(n)
    between = defaultdict(int)
    for a, targets in g.items():
        for b in targets:
            between[(layer(a), layer(b))] += 1
    lines = [f"{len(g)} modules, {sum(map(len, g.values()))} import edges (ast, function-level imports included)"]
    for i, name in enumerate(LAYER_NAMES):
        mods = sorted(per_layer.get(i, []))
        deps = sorted({LAYER_NAMES[j] for (k, j), _ in between.items() if k == i and j != i})
        lines.append(f"  {i:2d} {name:<10} {len(mods):2d} modules; imports from: {', '.join(deps) or '-'}")
    lines.append("circles: " + ("; ".join(" <-> ".join(c) for c in circles(g)) or "none"))
    up = sorted(upward(g))
    lines.append(f"upward imports: {len(up)}" + "".join(f"\n  {a} -> {b}" for a, b in up))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- the tests

def _stale(name: str, entries) -> None:
    if entries:
        warnings.warn(f"{name} lists {sorted(entries)}, which is no longer a violation: remove it", UserWarning)


def test_every_module_has_a_layer():
    for name in modules():
        layer(name)


def test_the_graph_sees_relative_absolute_and_function_level_imports():
    g = graph()
    assert "evalkit.spec.codebook" in g["evalkit.spec.codebook_schema"] or \
        "evalkit.errors" in g["evalkit.spec.codebook_schema"]
    assert "evalkit.spec.study" in g["evalkit.io.validate"]           # from ..spec.study import ...
    assert "evalkit.datasets.shipped" in g["evalkit.datasets"]         # from .shipped import (...)
    assert "evalkit.datasets.shipped" in g["evalkit.datasets.simulate"]
    assert "evalkit.measure.scales" in g["evalkit.datasets.simulate"]  # inside simulate()
    assert "evalkit.datasets" in g["evalkit"]                          # from . import datasets


def test_no_import_circle():
    g = graph()
    found = set(circles(g))
    assert found <= KNOWN_CIRCLES, f"new import circle(s) {sorted(found - KNOWN_CIRCLES)}\n{summary(g)}"
    _stale("KNOWN_CIRCLES", KNOWN_CIRCLES - found)


def test_no_upward_import():
    g = graph()
    found = upward(g)
    new = sorted(found - KNOWN_UPWARD)
    assert not new, "upward import(s) " + ", ".join(f"{a} ({LAYER_NAMES[layer(a)]}) -> {b} ({LAYER_NAMES[layer(b)]})"
                                                    for a, b in new) + f"\n{summary(g)}"
    _stale("KNOWN_UPWARD", KNOWN_UPWARD - found)


def test_no_module_over_600_lines():
    found = long_modules()
    new = {m: n for m, n in found.items() if m not in KNOWN_LONG_MODULES}
    assert not new, f"modules over {MAX_MODULE_LINES} lines: {new}"
    _stale("KNOWN_LONG_MODULES", set(KNOWN_LONG_MODULES) - set(found))


def test_no_function_over_120_lines():
    found = long_functions()
    new = {f: n for f, n in found.items() if f not in KNOWN_LONG_FUNCTIONS}
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines: {new}"
    _stale("KNOWN_LONG_FUNCTIONS", set(KNOWN_LONG_FUNCTIONS) - set(found))


def test_only_datasets_knows_the_shipped_example():
    # the words of the shipped example's folder appear in code only in evalkit.datasets (and the
    # layers above it): generic code takes a Study or explicit files
    offenders = []
    for name, path in modules().items():
        if layer(name) >= layer("evalkit.datasets"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("data_dir", "data_path", "DONGYING", "dongying") \
                    and isinstance(node.value, ast.Name) and node.value.id != "self":
                offenders.append(f"{name}:{node.lineno}")
    assert not offenders, offenders


if __name__ == "__main__":  # the measured summary, for the note
    g = graph()
    print(summary(g))
    print("modules over 600 lines:", long_modules())
    print("functions over 120 lines:", long_functions())
    sys.exit(0)
