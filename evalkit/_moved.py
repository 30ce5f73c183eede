"""Old import paths of the flat 0.1 layout, kept working for one release with a warning.

``import evalkit.design`` (0.1) imports :mod:`evalkit.survey.design` (0.2) and warns with a
:class:`FutureWarning` naming the new path. Only module paths are forwarded; the public names of
``evalkit`` itself (``evalkit.validate``, ``evalkit.regress`` ...) are the functions, as before.
The modules ``validate``, ``simulate``, ``regress`` and ``reliability`` are not forwarded: their
old paths were shadowed by the functions of the same name, so they never worked as modules.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: old module path -> new module path (0.1 -> 0.2); removed in 0.3.
MOVED: dict[str, str] = {
    "evalkit.codebook": "evalkit.spec.codebook",
    "evalkit.codebook_schema": "evalkit.spec.codebook_schema",
    "evalkit.communities": "evalkit.spec.registry",
    "evalkit.read": "evalkit.io.read",
    "evalkit.exports": "evalkit.io.exports",
    "evalkit.privacy": "evalkit.io.privacy",
    "evalkit.manifest": "evalkit.io.manifest",
    "evalkit.scales": "evalkit.measure.scales",
    "evalkit.design": "evalkit.survey.design",
    "evalkit.indicators": "evalkit.survey.indicators",
    "evalkit.baseline": "evalkit.evaluation.baseline",
    "evalkit.comparison": "evalkit.evaluation.comparison",
    "evalkit.impact": "evalkit.evaluation.impact",
    "evalkit.sensitivity": "evalkit.evaluation.sensitivity",
    "evalkit.disclosure": "evalkit.publish.disclosure",
    "evalkit.plots": "evalkit.publish.plots",
    "evalkit.fonts": "evalkit.publish.style",
    "evalkit.report": "evalkit.publish.report",
    "evalkit.inference.core": "evalkit.inference",
    "evalkit.did.core": "evalkit.did",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path and loads the module at its new path under the old name."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new} in evalkit 0.2; the old path goes in 0.3.",
                      FutureWarning, stacklevel=3)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())
