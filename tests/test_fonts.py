"""Chinese labels without missing-glyph boxes, the pinyin fallback, language switch, colours."""
import io
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from evalkit import fonts  # noqa: E402
from evalkit.errors import EvalkitError, FontFallbackWarning  # noqa: E402

CJK_FONT = fonts.find_cjk_font()


@pytest.fixture(autouse=True)
def _fresh_font_state(monkeypatch):
    """Each test resolves the font itself and leaves matplotlib's rcParams as it found them."""
    with matplotlib.rc_context():
        monkeypatch.setitem(fonts._STATE, "language", "zh")
        fonts.use_cjk_font(refresh=True) if CJK_FONT else None
        yield
    fonts._STATE.update(resolved=False, warned=False, font=None, language="zh")


def _render(fig) -> list[str]:
    """Draw the figure to PNG and return the texts of the warnings raised while drawing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
    return [str(w.message) for w in caught]


@pytest.mark.skipif(CJK_FONT is None, reason="no CJK font installed (CI installs fonts-wqy-microhei)")
def test_chinese_text_renders_without_missing_glyphs():
    name = fonts.use_cjk_font()
    assert name == CJK_FONT
    assert matplotlib.rcParams["font.sans-serif"][0] == name
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    fig, ax = plt.subplots()
    ax.set_title("东营市社区治理评估：" + fonts.label("mingyue"))
    ax.set_xlabel(fonts.tr("调查年份", "wave"))
    ax.plot([2014, 2015], [-1, 1])  # negative tick labels: the minus sign must render too
    msgs = _render(fig)
    assert fonts.label("mingyue") == "明月社区"
    assert not [m for m in msgs if "missing from font" in m], msgs


def test_without_cjk_font_matplotlib_would_draw_boxes():
    """The check above can fail: DejaVu Sans alone reports the missing glyphs."""
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}):
        fig, ax = plt.subplots()
        ax.set_title("明月社区")
        msgs = _render(fig)
    assert any("missing from font" in m for m in msgs)


def test_lookup_forced_to_fail_gives_one_warning_and_pinyin(monkeypatch):
    monkeypatch.setattr(fonts, "find_cjk_font", lambda *a, **k: None)
    fonts._STATE.update(resolved=False, warned=False, font=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = fonts.use_cjk_font()
        names = [fonts.label(c) for c in ("anning", "mingyue", "yangmiao", "wenyuan")]
        again = fonts.use_cjk_font()
        axis = fonts.tr("调查年份", "wave")
        with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}):
            fig, ax = plt.subplots()
            ax.set_xticks(range(4), names)
            ax.set_xlabel(axis)
            fig.savefig(io.BytesIO(), format="png")
            plt.close(fig)
    assert first is None and again is None
    fallback = [w for w in caught if issubclass(w.category, FontFallbackWarning)]
    assert len(fallback) == 1
    assert "pinyin" in str(fallback[0].message)
    # registry's name_pinyin (data/communities.csv)
    assert names == ["Anning", "Mingyue", "Yangmiao", "Wenyuan"]
    assert axis == "wave"
    assert not [w for w in caught if "missing from font" in str(w.message)]


def test_env_var_none_forces_fallback(monkeypatch):
    monkeypatch.setenv("EVALKIT_FONT", "none")
    assert fonts.find_cjk_font() is None


def test_language_switch():
    fonts.set_language("en")
    assert fonts.get_language() == "en"
    assert fonts.label("heping") == "Heping"
    assert fonts.label("heping", "zh") in ("和平社区", "Heping")
    with pytest.raises(EvalkitError, match="'zh', 'en'"):
        fonts.set_language("fr")
    fonts.set_language("zh")
    if CJK_FONT:
        assert fonts.label("heping") == "和平社区"
        assert fonts.label("heping", "en") == "Heping"


def test_colours_fixed_and_comparison_grey(registry):
    a = fonts.community_colors()
    b = fonts.community_colors(registry.iloc[::-1].iloc[::-1])
    assert a == b
    prog = registry.loc[registry["role"] == "programme", "community_id"]
    comp = registry.loc[registry["role"] == "comparison", "community_id"]
    assert len({a[c] for c in prog}) == len(prog)  # distinct hues
    for c in comp:  # greys: R == G == B
        hexc = a[c].lstrip("#")
        assert hexc[0:2] == hexc[2:4] == hexc[4:6], (c, a[c])
    for c in prog:
        hexc = a[c].lstrip("#")
        assert not hexc[0:2] == hexc[2:4] == hexc[4:6]
