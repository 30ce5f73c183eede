"""Display labels of a study in one language: community names, indicator and group labels, units.

A figure or table for people never shows a variable code (``ucla3``, ``elderly``, ``mingyue``):
it asks a :class:`Labels` object, built once from the study (:meth:`Labels.from_study`), for the
name of each code in the report's language. Community names come from the registry
(``name_zh``; ``name_pinyin`` in English), indicator labels from the codebook's scales (else its
items and fields), group labels from the codebook's groups. A code the study does not label is a
clear :class:`~evalkit.errors.EvalkitError` naming the code and where to add its label, never the
code printed in its place.

Units and direction words live here too: proportions are reported in percentage points
(``个百分点`` in Chinese), means in points of the scale's range (``分``); ``better="lower"`` reads
``越低越好`` / ``lower is better``.

>>> import evalkit.datasets as ds
>>> lab = Labels.from_study(ds.dongying(), "zh")
>>> lab.community("mingyue"), lab.group("elderly", short=True)
('明月社区', '老年居民')
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from .._literals import Language, check_choice
from ..errors import EvalkitError

__all__ = ["EVIDENCE_LABELS", "Labels", "effect_text", "study_labels"]

#: Default names of the four evidence levels (0-3) when no ``evidence_scale`` table is given;
#: the summary's own scale (:func:`evalkit.evaluation.summary.summarise`) replaces them.
EVIDENCE_LABELS: Mapping[int, tuple[str, str]] = {
    0: ("无法判断", "insufficient"),
    1: ("弱", "weak"),
    2: ("中等", "moderate"),
    3: ("强", "strong"),
}

# Why a row has no estimate (the summary's ``explanation`` codes), in both languages.
_EXPLANATIONS: Mapping[str, tuple[str, str]] = {
    "no_base_wave": ("数据中没有项目开始前的基线年份", "no survey wave before the programme started"),
    "not_measured": ("调查没有测量这一指标", "the survey did not measure this indicator"),
    "few_comparisons": ("对照社区太少，无法可靠估计", "too few comparison communities for a reliable estimate"),
    "no_post_wave": ("项目开始之后尚无调查", "no survey wave since the programme started"),
    "small_cell": ("样本过少，无法可靠估计", "too few respondents for a reliable estimate"),
}

_PAREN = re.compile(r"\s*[（(][^（）()]*[）)]\s*$")


def _short(text: str) -> str:
    """``text`` without trailing parentheticals: ``老年居民（60岁及以上）`` -> ``老年居民``."""
    out = str(text)
    while True:
        cut = _PAREN.sub("", out)
        if cut == out or not cut.strip():
            return out.strip()
        out = cut


def _num(x: float, digits: int) -> str:
    """A number with the typographic minus sign (``−1.03``)."""
    return f"{x:.{digits}f}".replace("-", "\u2212")


def effect_text(value: float, kind: str, lang: str, *, sign: bool = True, unit: bool = True) -> str:
    """An effect in the report's units: ``+15.5个百分点`` / ``+15.5 percentage points`` for a
    proportion (given as a fraction), ``−1.03分`` / ``−1.03 points`` for a mean."""
    v = float(value)
    if not np.isfinite(v):
        return "—"
    if kind == "proportion":
        num = _num(100 * v, 1) if not sign else (("+" if v > 0 else "") + _num(100 * v, 1))
        tail = "个百分点" if lang == "zh" else " percentage points"
    else:
        num = _num(v, 2) if not sign else (("+" if v > 0 else "") + _num(v, 2))
        tail = "分" if lang == "zh" else " points"
    return num + (tail if unit else "")


@dataclass(frozen=True)
class Labels:
    """Codes to display labels for one study, in ``lang`` (each method also takes ``lang=``).

    Build it with :meth:`from_study`. Attributes hold ``{code: (zh, en)}`` mappings.

    Attributes
    ----------
    lang : {"zh", "en"}
        Default language of every lookup.
    communities, indicators, groups : mapping
        ``{code: (zh, en)}``: registry names (Chinese, pinyin), codebook scale/item labels,
        codebook group labels.
    ranges : mapping
        ``{indicator: (low, high)}``: the score range of mean indicators (for the unit text).
    registry : DataFrame or None
        The study's community registry (the figures take community colours from it,
        :func:`evalkit.publish.style.community_colors`).
    """

    lang: str = "zh"
    communities: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    indicators: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    groups: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    registry: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        check_choice(self.lang, Language, "lang")

    @classmethod
    def from_study(cls, study, lang: Language = "zh") -> "Labels":
        """Labels of ``study`` (its codebook and registry) in ``lang``."""
        check_choice(lang, Language, "lang")
        codebook = getattr(study, "codebook", None)
        registry = getattr(study, "registry", None)
        if codebook is None:
            raise EvalkitError("Labels.from_study: expected a Study (evalkit.Study.from_files(codebook, "
                               f"registry)), got {type(study).__name__}.")
        comms: dict[str, tuple[str, str]] = {}
        if registry is not None:
            for cid, zh, py in zip(registry["community_id"], registry["name_zh"], registry["name_pinyin"]):
                comms[str(cid)] = (str(zh), str(py))
        inds: dict[str, tuple[str, str]] = {}
        ranges: dict[str, tuple[float, float]] = {}
        for name, var in codebook.variables.items():
            inds[name] = (var.label.zh, var.label.en)
            if var.valid_range is not None and None not in var.valid_range:
                ranges[name] = tuple(float(v) for v in var.valid_range)
        for name, scale in codebook.scales.items():
            inds[name] = (scale.label.zh, scale.label.en)
            if scale.score_range is not None:
                ranges[name] = tuple(float(v) for v in scale.score_range)
        groups = {name: (g.label.zh, g.label.en) for name, g in codebook.groups.items()}
        return cls(lang=lang, communities=comms, indicators=inds, groups=groups, ranges=ranges,
                   registry=registry)

    # -- lookups ---------------------------------------------------------------------------
    def _lang(self, lang: str | None) -> int:
        return 0 if check_choice(lang or self.lang, Language, "lang") == "zh" else 1

    def _get(self, table: Mapping, code, what: str, where: str, lang: str | None) -> str:
        key = str(code)
        if key not in table:
            raise EvalkitError(
                f"No {what} label for {key!r}: add it to the {where}, so that figures and tables show "
                "a name instead of the code.")
        return table[key][self._lang(lang)]

    def community(self, community_id, lang: str | None = None) -> str:
        """A community's name: ``明月社区`` (zh) or ``Mingyue`` (en)."""
        if str(community_id) == "comparison":
            return ("对照社区", "comparison communities")[self._lang(lang)]
        return self._get(self.communities, community_id, "community", "registry (name_zh, name_pinyin)", lang)

    def indicator(self, code, lang: str | None = None, *, short: bool = False) -> str:
        """An indicator's label from the codebook (``short``: without trailing parentheses)."""
        text = self._get(self.indicators, code, "indicator", "codebook (the scale's or item's label)", lang)
        return _short(text) if short else text

    def group(self, code, lang: str | None = None, *, short: bool = False) -> str | None:
        """A target group's label (``None`` when the target has no group: its own population)."""
        if code is None or (isinstance(code, float) and np.isnan(code)) or code is pd.NA or str(code) == "":
            return None
        text = self._get(self.groups, code, "group", "codebook's groups", lang)
        return _short(text) if short else text

    def target(self, indicator, group=None, lang: str | None = None, *, short: bool = True) -> str:
        """``老年居民的孤独感`` / ``loneliness (residents aged 60+)``: name of a target: the indicator within its group."""
        ind = self.indicator(indicator, lang, short=short)
        grp = self.group(group, lang, short=short)
        if grp is None:
            return ind
        return f"{grp}的{ind}" if self._lang(lang) == 0 else f"{ind} ({grp})"

    # -- units and words -------------------------------------------------------------------
    def effect_unit(self, kind: str, lang: str | None = None) -> str:
        """Unit of an effect: ``个百分点`` / ``percentage points`` or ``分`` / ``points``."""
        zh = self._lang(lang) == 0
        if kind == "proportion":
            return "个百分点" if zh else "percentage points"
        return "分" if zh else "points"

    def axis_label(self, indicator, kind: str, lang: str | None = None) -> str:
        """The y-axis text: ``比例（%）`` / ``share (%)``, or ``平均分（3–9分）`` / ``mean score (3–9)``."""
        zh = self._lang(lang) == 0
        if kind == "proportion":
            return "比例（%）" if zh else "share (%)"
        rng = self.ranges.get(str(indicator))
        span = "" if rng is None else f"{_num(rng[0], 0 if rng[0] == int(rng[0]) else 1)}–" \
                                      f"{_num(rng[1], 0 if rng[1] == int(rng[1]) else 1)}"
        if zh:
            return f"平均分（{span}分）" if span else "平均分"
        return f"mean score ({span})" if span else "mean score"

    def direction(self, better: str, lang: str | None = None) -> str:
        """``越低越好`` / ``lower is better`` (``better`` is ``"lower"`` or ``"higher"``)."""
        zh = self._lang(lang) == 0
        if str(better) == "lower":
            return "越低越好" if zh else "lower is better"
        return "越高越好" if zh else "higher is better"

    def evidence(self, level, lang: str | None = None, scale: pd.DataFrame | None = None) -> str:
        """Name of an evidence level (0-3): from ``scale`` (the summary's ``evidence_scale``:
        ``level, label_zh, label_en``) when given, else :data:`EVIDENCE_LABELS`."""
        if level is None or pd.isna(level):
            level = 0
        level = int(level)
        zh = self._lang(lang) == 0
        if scale is not None and {"level", "label_zh", "label_en"} <= set(scale.columns):
            hit = scale[scale["level"].astype(int) == level]
            if len(hit):
                return str(hit.iloc[0]["label_zh" if zh else "label_en"])
        pair = EVIDENCE_LABELS.get(level)
        if pair is None:
            raise EvalkitError(f"Evidence level {level!r} is not one of 0, 1, 2, 3.")
        return pair[0 if zh else 1]

    def explanation(self, text, lang: str | None = None) -> str:
        """Why a row has no estimate, in ``lang``: the summary's ``explanation`` (``"code: text"``
        or a code) translated by its code; an unknown code gives a generic sentence. The text is
        evalkit's own (never the summary's free text, which may name variables or counts)."""
        zh = self._lang(lang) == 0
        raw = "" if text is None or (not isinstance(text, str) and pd.isna(text)) else str(text)
        code = re.split(r"[\s:：]", raw.strip(), maxsplit=1)[0] if raw.strip() else ""
        if code in _EXPLANATIONS:
            return _EXPLANATIONS[code][0 if zh else 1]
        return "无法估计" if zh else "no estimate"


def study_labels(study, lang: Language = "zh") -> Labels:
    """The :class:`Labels` of ``study`` in ``lang`` (same as :meth:`Labels.from_study`)."""
    return Labels.from_study(study, lang)
