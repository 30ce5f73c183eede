"""Chinese-capable fonts, the label language and the colours of communities in every figure.

evalkit finds a CJK font among the fonts installed on the system by itself (it ships none):
Noto Sans CJK / Source Han Sans, WenQuanYi (Debian's ``fonts-wqy-microhei``), PingFang and Heiti
(macOS), Microsoft YaHei and SimHei (Windows) and a few more. When none is installed it warns
once (:class:`~evalkit.errors.FontFallbackWarning`) and every label falls back to pinyin, so a
figure never shows missing-glyph boxes.

The label language is one switch, :func:`set_language` (``"zh"`` or ``"en"``); every plot of
:mod:`evalkit.plots` asks :func:`label` for a community's name and :func:`tr` for its axis text.
Colours are fixed per community (:func:`community_colors`): programme communities get distinct
colours, comparison communities shades of one grey family, so they read as one group.

Set ``EVALKIT_FONT`` to a font family name to force that font, or to ``none`` to force the pinyin
fallback (what a machine without CJK fonts shows).
"""
from __future__ import annotations

import os
import warnings
from functools import lru_cache
from typing import Iterable

import matplotlib
from matplotlib import font_manager

from ._literals import Language, check_choice
from .errors import FontFallbackWarning

__all__ = [
    "CJK_FONT_CANDIDATES",
    "Language",
    "community_colors",
    "community_color",
    "find_cjk_font",
    "get_language",
    "label",
    "set_language",
    "tr",
    "use_cjk_font",
]

#: System fonts known to cover simplified Chinese, in order of preference.
CJK_FONT_CANDIDATES: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "STHeiti",
    "Microsoft YaHei",
    "SimHei",
    "DengXian",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Source Han Sans",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "AR PL UKai CN",
)

# Characters a font must have to count as CJK-capable (社区 "community", 东营 "Dongying").
_PROBE = "社区东营安宁"

# Programme communities: distinct, colour-blind-friendly hues (Okabe-Ito order, then Tableau).
_PROGRAMME_COLORS = (
    "#0072B2",  # blue
    "#D55E00",  # vermilion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#8C564B",  # brown
    "#9467BD",  # purple
    "#17BECF",  # cyan
    "#BCBD22",  # olive
)
# Comparison communities: one grey family, dark to light.
_COMPARISON_COLORS = (
    "#4D4D4D", "#636363", "#7A7A7A", "#8F8F8F", "#A3A3A3", "#B5B5B5", "#C4C4C4",
    "#585858", "#6E6E6E", "#858585", "#999999", "#ADADAD",
)
#: Colour of pooled comparison communities (one line/band "comparison").
COMPARISON_GREY = "#8A8A8A"

_STATE: dict = {"language": "zh", "font": None, "resolved": False, "warned": False}


def _has_glyphs(path: str, text: str = _PROBE) -> bool:
    try:
        from matplotlib.ft2font import FT2Font

        font = FT2Font(path)
        return all(font.get_char_index(ord(ch)) != 0 for ch in text)
    except Exception:  # unreadable font file: not usable
        return False


@lru_cache(maxsize=None)
def _installed_fonts() -> tuple[tuple[str, str], ...]:
    """(family name, file) of every font matplotlib's font manager knows."""
    return tuple((f.name, f.fname) for f in font_manager.fontManager.ttflist)


def find_cjk_font(candidates: Iterable[str] | None = None, *, scan: bool = True) -> str | None:
    """The family name of an installed font that renders simplified Chinese, or ``None``.

    Parameters
    ----------
    candidates
        Family names to try in order (default :data:`CJK_FONT_CANDIDATES`). ``EVALKIT_FONT``, when
        set, is tried first (``EVALKIT_FONT=none`` makes the lookup fail on purpose).
    scan
        When no candidate is installed, also look through every installed font for one whose
        character map has the probe characters 社区东营安宁.

    Returns
    -------
    str or None
        A family name usable in ``rcParams["font.sans-serif"]``.

    Notes
    -----
    Only fonts installed on the system are used (matplotlib's ``font_manager.fontManager``);
    evalkit bundles no font. A candidate counts only if its file really has the glyphs.
    """
    env = os.environ.get("EVALKIT_FONT", "").strip()
    if env.lower() in ("none", "0", "off", "pinyin"):
        return None
    names = list(candidates if candidates is not None else CJK_FONT_CANDIDATES)
    if env:
        names.insert(0, env)
    found = _lookup(names, scan=scan and candidates is None)
    if found is None and _register_new_system_fonts():
        # matplotlib's font cache predates a font installed since: look again
        found = _lookup(names, scan=scan and candidates is None)
    return found


def _lookup(names: list[str], *, scan: bool) -> str | None:
    installed = _installed_fonts()
    by_name: dict[str, list[str]] = {}
    for name, path in installed:
        by_name.setdefault(name.lower(), []).append(path)
    for name in names:
        for path in by_name.get(name.lower(), []):
            if _has_glyphs(path):
                return next(n for n, p in installed if p == path)
    if scan:
        for name, path in sorted(set(installed)):
            # matplotlib's "Last Resort" font maps every character to a box: not a CJK font
            if not name.lower().startswith("last resort") and _has_glyphs(path):
                return name
    return None


def _register_new_system_fonts() -> bool:
    """Add system font files missing from matplotlib's (possibly stale) cache; True if any."""
    known = {p for _, p in _installed_fonts()}
    added = False
    try:
        files = font_manager.findSystemFonts()
    except Exception:  # no font directories readable
        return False
    for path in sorted(files):
        if path in known:
            continue
        try:
            font_manager.fontManager.addfont(path)
            added = True
        except Exception:  # a file FreeType cannot read
            continue
    if added:
        _installed_fonts.cache_clear()
    return added


def use_cjk_font(*, refresh: bool = False) -> str | None:
    """Find a CJK font and configure matplotlib to use it; return its name or ``None``.

    Puts the font first in ``rcParams["font.sans-serif"]`` (keeping DejaVu Sans after it for
    Latin text and symbols), selects the sans-serif family and sets ``axes.unicode_minus`` to
    False (CJK fonts often lack the Unicode minus sign). The lookup runs once per process
    (``refresh=True`` repeats it). When no font is found, one
    :class:`~evalkit.errors.FontFallbackWarning` is issued and figures label communities in pinyin.
    """
    if refresh:
        _STATE.update(resolved=False, warned=False, font=None)
        _installed_fonts.cache_clear()
    if not _STATE["resolved"]:
        font = find_cjk_font()
        _STATE.update(font=font, resolved=True)
        rc = matplotlib.rcParams
        if font is not None:
            rest = [f for f in rc["font.sans-serif"] if f != font]
            rc["font.sans-serif"] = [font] + rest
            rc["font.family"] = "sans-serif"
            rc["axes.unicode_minus"] = False
        elif not _STATE["warned"]:
            _STATE["warned"] = True
            warnings.warn(
                "No font with Chinese characters was found on this system, so figure labels use "
                "pinyin (e.g. 'Anning' for 安宁社区). To get Chinese labels install a CJK font "
                "(Debian/Ubuntu: apt-get install fonts-noto-cjk or fonts-wqy-microhei) and restart "
                "Python, or set EVALKIT_FONT to an installed font's name.",
                FontFallbackWarning,
                stacklevel=2,
            )
    return _STATE["font"]


def set_language(lang: Language) -> None:
    """Set the label language of all evalkit figures: ``"zh"`` (Chinese) or ``"en"`` (English)."""
    _STATE["language"] = check_choice(lang, Language, "lang")
    if lang == "zh":
        use_cjk_font()


def get_language() -> str:
    """The current label language (``"zh"`` or ``"en"``)."""
    return _STATE["language"]


def _chinese_ok(lang: str | None) -> bool:
    lang = check_choice(lang or _STATE["language"], Language, "lang")
    return lang == "zh" and use_cjk_font() is not None


def tr(zh: str, en: str, lang: Language | None = None) -> str:
    """``zh`` when labels are Chinese and a CJK font is available, else ``en``."""
    return zh if _chinese_ok(lang) else en


@lru_cache(maxsize=8)
def _registry_names(source: str | None) -> dict[str, tuple[str, str, str]]:
    from .communities import load_communities

    reg = load_communities(source)
    return {
        str(r.community_id): (str(r.name_zh), str(r.name_pinyin), str(r.role))
        for r in reg.itertuples(index=False)
    }


def _names(registry=None) -> dict[str, tuple[str, str, str]]:
    if registry is None:
        return _registry_names(None)
    return {
        str(c): (str(z), str(p), str(r))
        for c, z, p, r in zip(registry["community_id"], registry["name_zh"],
                              registry["name_pinyin"], registry["role"])
    }


def label(community_id: str, lang: Language | None = None, *, registry=None) -> str:
    """A community's name for a figure: Chinese (``安宁社区``) or pinyin (``Anning``).

    Chinese only when ``lang`` (default: the current language) is ``"zh"`` and a CJK font is
    installed; otherwise the registry's ``name_pinyin``. Ids not in the registry (e.g.
    ``"comparison"`` for pooled comparison communities) get a generic label.
    """
    cid = str(community_id)
    if cid == "comparison":
        return tr("对照社区", "comparison", lang)
    names = _names(registry)
    if cid not in names:
        return cid
    zh, pinyin, _ = names[cid]
    return zh if _chinese_ok(lang) else pinyin


def community_colors(registry=None) -> dict[str, str]:
    """Fixed colour of every community: ``{community_id: "#RRGGBB"}``.

    Programme communities take distinct hues in registry order; comparison communities take
    shades of grey, so that in any figure they read as one group. The same registry always gives
    the same colours, in every figure.
    """
    names = _names(registry)
    out: dict[str, str] = {}
    i_prog = i_comp = 0
    for cid, (_, _, role) in names.items():
        if role == "programme":
            out[cid] = _PROGRAMME_COLORS[i_prog % len(_PROGRAMME_COLORS)]
            i_prog += 1
        else:
            out[cid] = _COMPARISON_COLORS[i_comp % len(_COMPARISON_COLORS)]
            i_comp += 1
    out["comparison"] = COMPARISON_GREY
    return out


def community_color(community_id: str, registry=None) -> str:
    """The colour of one community (grey for unknown ids)."""
    return community_colors(registry).get(str(community_id), COMPARISON_GREY)


def is_comparison(community_id: str, registry=None) -> bool:
    """True for comparison communities (and the pooled ``"comparison"`` id)."""
    cid = str(community_id)
    if cid == "comparison":
        return True
    names = _names(registry)
    return cid in names and names[cid][2] != "programme"
