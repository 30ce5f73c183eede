"""What a problems table or a message may show of a value: the value itself if it identifies no one,
else its shape (``‹11 digits›``). Shared by :mod:`evalkit.io.privacy` and :mod:`evalkit.io.validate`."""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import pandas as pd

from .personal_numbers import normalise_text


def non_name_words(codebook=None, registry: pd.DataFrame | None = None) -> frozenset:
    """Words that are not personal names: the registry's community, street and district names and
    the codebook's Chinese labels (questions, answers, missing-value reasons)."""
    words: set[str] = set()
    if registry is not None:
        for n in registry["name_zh"].dropna().astype(str) if "name_zh" in registry.columns else ():
            words.update({n, n.removesuffix("社区"), n.removesuffix("村社区")})
        for c in ("district", "street"):
            if c in registry.columns:
                words.update(registry[c].dropna().astype(str))
    if codebook is not None:
        for v in codebook.variables.values():
            words.add(v.label.zh)
            for lab in (v.codes or {}).values():
                words.add(lab.zh)
        for m in codebook.missing_codes.values():
            words.add(m.label.zh)
    return frozenset(words)


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff]")


def value_shape(value) -> str:
    """What a value looks like, without the value: ``"11 digits"``, ``"3 Chinese characters"``,
    ``"12 characters: 8 letters, 4 digits"``, ``"blank"`` (counted after :func:`normalise_text`)."""
    t = normalise_text(value).strip() if value is not None else ""
    if not t:
        return "blank"
    parts = {"digits": sum(c.isdigit() for c in t), "Chinese characters": len(_HAN.findall(t))}
    parts["letters"] = sum(c.isalpha() for c in t) - parts["Chinese characters"]
    parts["other"] = len(t) - sum(parts.values())
    present = [(f"{n} {k[:-1] if n == 1 and k != 'other' else k}", k) for k, n in parts.items() if n]
    if len(present) == 1:
        return present[0][0] if present[0][1] != "other" else f"{len(t)} other characters"
    return f"{len(t)} characters: " + ", ".join(p for p, _ in present)


_SHORT_NUMBER = re.compile(r"-?\d{1,4}(?:\.\d{1,3})?")


def display_value(value, known: Iterable[str] = ()) -> str:
    """A value as it may be shown in a problems table or an error message.

    The rule: a value is shown as it is only if it is one of `known` (the codebook's codes,
    labels and names, the registry's ids and names: :func:`known_values`) or a short number (at
    most 4 digits before and 3 after the point: an age of 150, a code of 7, a wave of 2017).
    Anything else -- a phone number, an ID number, a name typed into the wrong field -- is
    replaced by its shape (:func:`value_shape`) in angle quotes, e.g. ``‹11 digits›``.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    t = str(value)
    if not t.strip():
        return t
    if t.strip() in known or _SHORT_NUMBER.fullmatch(t.strip()):
        return t.strip()
    return f"‹{value_shape(t)}›"


def known_values(codebook=None, registry: pd.DataFrame | None = None) -> frozenset:
    """Values that identify no one and may be shown: every word of :func:`non_name_words`, the
    codebook's variable names, codes, English labels and allowed values, and the registry's
    community ids and pinyin names."""
    words = set(non_name_words(codebook, registry))
    if codebook is not None:
        for v in codebook.variables.values():
            words.update({v.name, v.label.en})
            words.update(str(c) for c in (v.codes or {}))
            words.update(lab.en for lab in (v.codes or {}).values())
            words.update(str(c) for c in (v.missing_codes or {}))
            words.update(str(x) for x in (v.values or ()))
    if registry is not None:
        for c in ("community_id", "name_pinyin"):
            if c in registry.columns:
                words.update(registry[c].dropna().astype(str))
    return frozenset(w for w in words if isinstance(w, str) and w)


__all__ = ["non_name_words", "value_shape", "display_value", "known_values"]
