"""Chinese-capable fonts, the label language and the colours of communities in every figure.

Text in every figure is set in DejaVu Sans (shipped with matplotlib, so the same on every machine)
for Latin letters, digits and symbols, and falls back glyph by glyph to a CJK font for Chinese:
``rcParams["font.family"] = ["DejaVu Sans", <CJK font>]`` (matplotlib >= 3.6 falls back across the
families of that list). Putting the CJK font first instead would draw every digit and Latin letter
as an empty box with a CJK font that has none, such as Droid Sans Fallback (Debian's
``fonts-droid-fallback``, which many packages pull in).

evalkit finds a CJK font among the fonts installed on the system by itself (it ships none):
Noto Sans CJK / Source Han Sans, WenQuanYi (Debian's ``fonts-wqy-microhei``), PingFang and Heiti
(macOS), Microsoft YaHei and SimHei (Windows), Droid Sans Fallback and a few more. A candidate
counts only if the fonts of the resulting list cover Chinese (from the candidate itself), digits
and Latin letters (from DejaVu Sans or the candidate) — checked on the font files' character maps.
When none is installed it warns once (:class:`~evalkit.errors.FontFallbackWarning`) and every
label falls back to pinyin, so a figure never shows missing-glyph boxes.

Report figures take their texts from a :class:`~evalkit.publish.labels.Labels` object built from
the study in the report's language (``Labels.from_study(study, lang)``, also importable from here).

The label language is one switch, :func:`set_language` (``"zh"`` or ``"en"``); every plot of
:mod:`evalkit.publish.plots` asks :func:`label` for a community's name and :func:`tr` for its axis text.
Names and roles come from the community registry, passed as ``registry=`` or set once with
:func:`set_registry` (``setup_notebook(study=...)`` does): evalkit never falls back to the
shipped example's registry.
Colours are fixed per community (:func:`community_colors`): programme communities get distinct
colours, comparison communities shades of one grey family, so they read as one group.

Set ``EVALKIT_CJK_FONT`` to force the CJK font: a font family name, the path of a font file
(``.ttf``, ``.otf``, ``.ttc``), or ``none`` for the pinyin fallback (what a machine without CJK
fonts shows). ``EVALKIT_FONT``, its former name, is still read when ``EVALKIT_CJK_FONT`` is unset.
"""
from __future__ import annotations

import os
import string
import warnings
from functools import lru_cache
from typing import Iterable, NamedTuple, Sequence

import matplotlib
from matplotlib import font_manager

from .._literals import Language, check_choice
from ..errors import EvalkitError, FontFallbackWarning
from .labels import Labels, study_labels

__all__ = [
    "CJK_FONT_CANDIDATES",
    "LATIN_FONT",
    "DisplayName",
    "Labels",
    "Language",
    "community_colors",
    "community_color",
    "display_names",
    "find_cjk_font",
    "get_language",
    "get_registry",
    "is_comparison",
    "label",
    "missing_glyphs",
    "resolve_registry",
    "set_language",
    "indicator_label",
    "set_registry",
    "set_study",
    "study_labels",
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

#: The font of Latin letters, digits and symbols in every figure; it ships with matplotlib.
LATIN_FONT = "DejaVu Sans"

# Characters the CJK font itself must have (社区 "community", 东营 "Dongying", 安宁 "Anning") ...
_PROBE = "社区东营安宁"
# ... and characters the font list as a whole must have: digits, Latin letters, what ticks and
# titles print (percent, decimal point, the Unicode minus of negative tick labels, the middle dot).
_LATIN_PROBE = string.digits + string.ascii_letters + "%.,:()-\u2212\u00b7"
_OFF = ("none", "0", "off", "pinyin")

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

_STATE: dict = {"language": "zh", "font": None, "resolved": False, "warned": False, "registry": None,
                "study": None}


def _codepoints(path) -> frozenset[int]:
    """The characters a font file has (empty when FreeType cannot read it)."""
    try:
        return _charmap(str(path), int(getattr(path, "face_index", 0)))
    except Exception:  # unreadable font file: covers nothing
        return frozenset()


@lru_cache(maxsize=None)
def _charmap(path: str, face_index: int) -> frozenset[int]:
    font = font_manager.get_font(font_manager.FontPath(path, face_index))
    return frozenset(code for code, glyph in font.get_charmap().items() if glyph != 0)


def _resolve(family: str):
    """The font file matplotlib uses for ``family`` (a name or generic family), or None."""
    try:
        # a list: a bare string would be parsed as a fontconfig pattern ("sans-serif" fails)
        return font_manager.findfont(font_manager.FontProperties(family=[family]),
                                     fallback_to_default=False)
    except ValueError:  # family not installed
        return None


def missing_glyphs(text: str, families: Sequence[str] | None = None) -> str:
    """The characters of ``text`` that no font of a font-family list has: what would be boxes.

    Parameters
    ----------
    text
        The text to check (whitespace is ignored).
    families
        Family names in matplotlib's fallback order (default ``rcParams["font.family"]``). Each is
        resolved as matplotlib resolves it when drawing (a generic family such as ``"sans-serif"``
        to the first installed font of its list), and a character counts as present if any of
        the resolved fonts has it in its character map.

    Returns
    -------
    str
        The missing characters, each once, in order of appearance (``""`` when all are present).
    """
    fams = matplotlib.rcParams["font.family"] if families is None else families
    fams = [fams] if isinstance(fams, str) else list(fams)
    covered: set[int] = set()
    for fam in fams:
        path = _resolve(fam)
        if path is not None:
            covered |= _codepoints(path)
    out = dict.fromkeys(ch for ch in text if not ch.isspace() and ord(ch) not in covered)
    return "".join(out)


def _usable(path) -> bool:
    """Chinese from the candidate itself; digits and Latin letters from it or from LATIN_FONT."""
    cmap = _codepoints(path)
    if not all(ord(ch) in cmap for ch in _PROBE):
        return False
    latin = _resolve(LATIN_FONT)
    cover = cmap | (_codepoints(latin) if latin is not None else frozenset())
    return all(ord(ch) in cover for ch in _LATIN_PROBE)


@lru_cache(maxsize=None)
def _installed_fonts() -> tuple[tuple[str, str], ...]:
    """(family name, file) of every font matplotlib's font manager knows."""
    return tuple((f.name, f.fname) for f in font_manager.fontManager.ttflist)


def _forced_font() -> str | None:
    """``EVALKIT_CJK_FONT`` (or its former name ``EVALKIT_FONT``), stripped; None when unset."""
    for var in ("EVALKIT_CJK_FONT", "EVALKIT_FONT"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return None


def find_cjk_font(candidates: Iterable[str] | None = None, *, scan: bool = True) -> str | None:
    """The family name of an installed font that renders simplified Chinese, or ``None``.

    Parameters
    ----------
    candidates
        Family names to try in order (default :data:`CJK_FONT_CANDIDATES`). ``EVALKIT_CJK_FONT``,
        when set, replaces them: a family name or a font file (registered with matplotlib), or
        ``none`` to make the lookup fail on purpose.
    scan
        When no candidate is installed, also look through every installed font for one whose
        character map has the probe characters 社区东营安宁.

    Returns
    -------
    str or None
        A family name usable in ``rcParams["font.family"]`` after :data:`LATIN_FONT`.

    Raises
    ------
    EvalkitError
        ``EVALKIT_CJK_FONT`` names a file or family that does not exist, or a font without
        Chinese characters.

    Notes
    -----
    Only fonts installed on the system (or named by path) are used; evalkit bundles no font. A
    candidate counts only if the font matplotlib resolves its name to really has the Chinese
    probe characters and, together with :data:`LATIN_FONT`, all digits and Latin letters.
    """
    forced = _forced_font()
    if forced is not None:
        return None if forced.lower() in _OFF else _forced_lookup(forced)
    names = list(candidates if candidates is not None else CJK_FONT_CANDIDATES)
    found = _lookup(names, scan=scan and candidates is None)
    if found is None and _register_new_system_fonts():
        # matplotlib's font cache predates a font installed since: look again
        found = _lookup(names, scan=scan and candidates is None)
    return found


def _forced_lookup(forced: str) -> str:
    fix = ("Set EVALKIT_CJK_FONT to an installed font family (e.g. 'WenQuanYi Micro Hei'), the path "
           "of a font file with Chinese characters, or 'none' for pinyin labels.")
    if os.sep in forced or forced.lower().endswith((".ttf", ".otf", ".ttc")):
        forced = os.path.abspath(forced)
        if not os.path.isfile(forced):
            raise EvalkitError(f"EVALKIT_CJK_FONT={forced!r}: no such font file. {fix}")
        if forced not in {p for _, p in _installed_fonts()}:
            try:
                font_manager.fontManager.addfont(forced)
            except Exception as exc:  # not a font FreeType can read
                raise EvalkitError(f"EVALKIT_CJK_FONT={forced!r}: not a readable font ({exc}). {fix}") from exc
            _installed_fonts.cache_clear()
        name = next(n for n, p in _installed_fonts() if p == forced)
    else:
        name = forced
        if _resolve(name) is None:
            _register_new_system_fonts()
    path = _resolve(name)
    if path is None:
        raise EvalkitError(f"EVALKIT_CJK_FONT={forced!r}: no installed font has this family name. {fix}")
    if not _usable(path):
        raise EvalkitError(
            f"EVALKIT_CJK_FONT={forced!r}: the font {name!r} ({path}) lacks Chinese characters "
            f"({_PROBE}) or, with {LATIN_FONT}, digits and Latin letters. {fix}")
    return name


def _lookup(names: list[str], *, scan: bool) -> str | None:
    installed = {n.lower(): n for n, _ in _installed_fonts()}
    for name in names:
        if name.lower() in installed:
            path = _resolve(installed[name.lower()])
            if path is not None and _usable(path):
                return installed[name.lower()]
    if scan:
        for name in sorted(set(installed.values())):
            # matplotlib's "Last Resort" font maps every character to a box: not a CJK font
            if name.lower().startswith("last resort"):
                continue
            path = _resolve(name)
            if path is not None and _usable(path):
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

    Sets ``rcParams["font.family"]`` to ``[LATIN_FONT, <CJK font>]``: Latin letters, digits and
    symbols (the Unicode minus of negative ticks too) come from DejaVu Sans, Chinese falls back to
    the CJK font glyph by glyph. The CJK font is also put after DejaVu Sans in
    ``rcParams["font.sans-serif"]``. Without a CJK font the family is ``[LATIN_FONT]``, one
    :class:`~evalkit.errors.FontFallbackWarning` is issued and figures label communities in
    pinyin. The lookup runs once per process (``refresh=True`` repeats it and re-reads
    ``EVALKIT_CJK_FONT``).
    """
    if refresh:
        _STATE.update(resolved=False, warned=False, font=None)
        _installed_fonts.cache_clear()
    if not _STATE["resolved"]:
        font = find_cjk_font()
        _STATE.update(font=font, resolved=True)
        rc = matplotlib.rcParams
        if font is not None:
            rest = [f for f in rc["font.sans-serif"] if f not in (font, LATIN_FONT)]
            rc["font.sans-serif"] = [LATIN_FONT, font] + rest
            rc["font.family"] = [LATIN_FONT, font]
        else:
            rc["font.family"] = [LATIN_FONT]
            if not _STATE["warned"]:
                _STATE["warned"] = True
                warnings.warn(
                    "No font with Chinese characters was found on this system, so figure labels "
                    "use pinyin (e.g. 'Anning' for 安宁社区). To get Chinese labels install a CJK "
                    "font (Debian/Ubuntu: apt-get install fonts-noto-cjk or fonts-wqy-microhei) and "
                    "restart Python, or set EVALKIT_CJK_FONT to an installed font's name or file.",
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


class DisplayName(NamedTuple):
    """How a figure names a community: Chinese name, pinyin, and its role in the registry."""

    zh: str
    pinyin: str
    role: str


def display_names(registry) -> dict[str, DisplayName]:
    """``{community_id: DisplayName(zh, pinyin, role)}`` from a registry, in registry order.

    Parameters
    ----------
    registry
        The community registry (:func:`evalkit.load_communities`): ``community_id, name_zh,
        name_pinyin, role``; or a :class:`evalkit.Study` with one.
    """
    registry = _as_registry(registry, "display_names")
    missing = [c for c in ("community_id", "name_zh", "name_pinyin", "role") if c not in registry.columns]
    if missing:
        raise EvalkitError(f"display_names: the registry lacks column(s) {missing}.")
    return {
        str(c): DisplayName(str(z), str(p), str(r))
        for c, z, p, r in zip(registry["community_id"], registry["name_zh"],
                              registry["name_pinyin"], registry["role"])
    }


def set_registry(registry) -> None:
    """Set the registry every figure names and colours communities from when given no ``registry=``.

    ``registry`` is a registry table or a :class:`evalkit.Study` (its registry); ``None`` clears
    it. :func:`evalkit.publish.notebook.setup_notebook` calls it with the notebook's study.
    """
    _STATE["registry"] = None if registry is None else _as_registry(registry, "set_registry")
    _STATE["study"] = registry if hasattr(registry, "codebook") else None


def set_study(study) -> None:
    """Set the study every figure takes community names (registry) and indicator labels
    (codebook) from when given no ``study=``; ``None`` clears both."""
    if study is not None and not hasattr(study, "codebook"):
        raise EvalkitError(f"set_study: expected an evalkit.Study, got {type(study).__name__}.")
    set_registry(study if study is None or study.registry is not None else None)
    _STATE["study"] = study


def indicator_label(code, lang: Language | None = None, *, study=None) -> str:
    """An indicator's (or an ``indicator@group`` target's) label for a figure, from the codebook.

    ``study`` (default: the one set by :func:`set_study`, or :func:`set_registry` given a Study)
    supplies the codebook: ``"ucla3@elderly"`` becomes ``老年居民的UCLA孤独感量表`` (Chinese when
    the language is ``"zh"`` and a CJK font is installed, as :func:`tr`) or
    ``UCLA 3-item Loneliness Scale (residents aged 60+)``. Without a study, or for a code the
    codebook does not know, the code itself is returned (the figure's caller should then pass
    its own title).
    """
    study = study if study is not None else _STATE["study"]
    code = str(code)
    if study is None or getattr(study, "codebook", None) is None:
        return code
    indicator, _, group = code.partition("@")
    labels = Labels.from_study(study, "zh" if _chinese_ok(lang) else "en")
    try:
        return labels.target(indicator, group or None, short=False)
    except EvalkitError:
        return code


def get_registry():
    """The registry set by :func:`set_registry` (``None`` when none is set)."""
    return _STATE["registry"]


def _as_registry(registry, caller: str):
    """A registry table from a table or a study; a clear error otherwise."""
    if hasattr(registry, "require_registry"):  # a Study
        return registry.require_registry(caller)
    if not hasattr(registry, "columns"):
        raise EvalkitError(f"{caller}: registry= must be the community registry (a DataFrame, "
                           f"evalkit.load_communities(path)) or a Study, got {type(registry).__name__}.")
    return registry


def resolve_registry(registry=None, study=None, caller: str = "this figure"):
    """The registry a figure uses: ``registry``, else ``study.registry``, else :func:`set_registry`'s.

    Raises :class:`~evalkit.errors.EvalkitError` when there is none: evalkit never falls back to
    the shipped example.
    """
    if registry is not None:
        return _as_registry(registry, caller)
    if study is not None:
        return study.require_registry(caller)
    if _STATE["registry"] is not None:
        return _STATE["registry"]
    raise EvalkitError(
        f"{caller} needs the community registry for community names, roles and colours: pass "
        "registry=load_communities(path) (or study=...), or set it once with "
        "evalkit.publish.style.set_registry(registry) / setup_notebook(study=study).")


def _names(registry=None) -> dict[str, DisplayName]:
    return display_names(resolve_registry(registry, caller="community names"))


def label(community_id: str, lang: Language | None = None, *, registry=None) -> str:
    """A community's name for a figure: Chinese (``安宁社区``) or pinyin (``Anning``).

    Chinese only when ``lang`` (default: the current language) is ``"zh"`` and a CJK font is
    installed; otherwise the registry's ``name_pinyin``. Ids not in the registry are returned as
    they are; ``"comparison"`` (pooled comparison communities) gets a generic label. The registry
    is ``registry`` or the one set by :func:`set_registry` (:func:`resolve_registry`).
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
    the same colours, in every figure. The registry is ``registry`` or the one set by
    :func:`set_registry`.
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
