"""Chinese labels without missing-glyph boxes under every font situation, the pinyin fallback,
the language switch and colours.

Each font situation is forced through ``EVALKIT_CJK_FONT`` (nothing is uninstalled): only Droid
Sans Fallback (a CJK font without digits or Latin letters), only WenQuanYi Micro Hei, and no CJK
font at all. Missing glyphs are detected twice: by matplotlib's own "Glyph ... missing from
font(s)" warning while drawing, and by the character maps of the font files.
"""
import io
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from evalkit.publish import style as fonts  # noqa: E402
from evalkit.errors import EvalkitError, FontFallbackWarning  # noqa: E402

# Debian/Ubuntu package fonts-droid-fallback (pulled in by many packages, R among them).
DROID = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
# Chinese, digits, Latin letters, the Unicode minus, percent and full-width punctuation.
SAMPLE = "东营市社区治理评估：明月社区 2017 −0.5 Abc xyz 95%"


def _font_file(basename: str, *known: str) -> str:
    """An installed font file by name: the usual Debian/Fedora paths, then matplotlib's search;
    the first usual path when absent (the test then skips, naming it)."""
    for path in known:
        if os.path.isfile(path):
            return path
    return next((p for p in font_manager.findSystemFonts() if Path(p).name == basename), known[0])


WQY = _font_file("wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                 "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc")


@pytest.fixture(autouse=True)
def _fresh_font_state(monkeypatch, registry):
    """Each test resolves the font itself and leaves matplotlib's rcParams as it found them;
    community names come from the shipped registry, set once as setup_notebook(study=...) does."""
    monkeypatch.delenv("EVALKIT_CJK_FONT", raising=False)
    monkeypatch.delenv("EVALKIT_FONT", raising=False)
    with matplotlib.rc_context():
        monkeypatch.setitem(fonts._STATE, "language", "zh")
        fonts._STATE.update(resolved=False, warned=False, font=None)
        fonts.set_registry(registry)
        yield
    fonts._STATE.update(resolved=False, warned=False, font=None, language="zh", registry=None)


def _missing_while_drawing(text: str) -> list[str]:
    """Draw ``text`` as title, axis label and tick label (with negative ticks) to PNG; return
    matplotlib's missing-glyph warnings."""
    fig, ax = plt.subplots()
    ax.set_title(text)
    ax.set_xlabel(fonts.tr("调查年份", "wave"))
    ax.set_xticks([0, 1], [fonts.label("mingyue"), "2017"])
    ax.plot([0, 1], [-1.5, 1])  # negative tick labels: the minus sign must render too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def _situation(monkeypatch, path):
    if not os.path.isfile(path):
        pytest.skip(f"font file not installed: {path}")
    monkeypatch.setenv("EVALKIT_CJK_FONT", path)
    return fonts.use_cjk_font(refresh=True)


@pytest.mark.parametrize("path, family", [(DROID, "Droid Sans Fallback"),
                                          (WQY, "WenQuanYi Micro Hei")], ids=["droid", "wqy"])
def test_only_one_cjk_font_renders_chinese_digits_and_latin(monkeypatch, path, family):
    name = _situation(monkeypatch, path)
    assert name == family
    # Latin font first, CJK font second: matplotlib falls back glyph by glyph in this order
    assert matplotlib.rcParams["font.family"] == ["DejaVu Sans", family]
    assert fonts.label("mingyue") == "明月社区"
    assert fonts.missing_glyphs(SAMPLE) == ""
    assert _missing_while_drawing(SAMPLE) == []


def test_no_cjk_font_gives_pinyin_said_once_and_no_boxes(monkeypatch):
    monkeypatch.setenv("EVALKIT_CJK_FONT", "none")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = fonts.use_cjk_font(refresh=True)
        names = [fonts.label(c) for c in ("anning", "mingyue", "yangmiao", "wenyuan")]
        again = fonts.use_cjk_font()
        axis = fonts.tr("调查年份", "wave")
        boxes = _missing_while_drawing(f"{names[1]} · 2017 −0.5 Abc 95%")
    assert first is None and again is None
    assert matplotlib.rcParams["font.family"] == ["DejaVu Sans"]
    fallback = [w for w in caught if issubclass(w.category, FontFallbackWarning)]
    assert len(fallback) == 1
    assert "pinyin" in str(fallback[0].message) and "EVALKIT_CJK_FONT" in str(fallback[0].message)
    # registry's name_pinyin (evalkit/datasets/dongying/communities.csv)
    assert names == ["Anning", "Mingyue", "Yangmiao", "Wenyuan"]
    assert axis == "wave"
    assert boxes == []


def test_the_checks_catch_the_old_cjk_first_configuration(monkeypatch):
    """Before the fix the CJK font came first as the only family: Droid drew every digit and
    Latin letter as a box. Both checks see it, and agree on which characters."""
    if not os.path.isfile(DROID):
        pytest.skip(f"font file not installed: {DROID}")
    font_manager.fontManager.addfont(DROID)
    fonts.use_cjk_font(refresh=True)  # resolve first: the rc below must not be replaced meanwhile
    old = {"font.family": "sans-serif", "font.sans-serif": ["Droid Sans Fallback", "DejaVu Sans"]}
    with matplotlib.rc_context(old):
        text = "明月社区 2017 Abc"
        missing = fonts.missing_glyphs(text)
        warned = _missing_while_drawing(text)
    assert set(missing) == set("2017Abc")
    warned_chars = {m.split("(")[1][0] for m in warned if m.startswith("Glyph ") and "(" in m}
    assert set("2017Abc") <= warned_chars


def test_a_candidate_needs_digits_and_latin_from_somewhere(monkeypatch):
    """Droid has Chinese but no digits: usable only because DejaVu Sans supplies them."""
    if not os.path.isfile(DROID):
        pytest.skip(f"font file not installed: {DROID}")
    font_manager.fontManager.addfont(DROID)
    droid = font_manager.FontPath(DROID, 0)
    assert fonts._usable(droid)
    monkeypatch.setattr(fonts, "LATIN_FONT", "No Such Latin Font")
    assert not fonts._usable(droid)
    monkeypatch.setenv("EVALKIT_CJK_FONT", DROID)
    with pytest.raises(EvalkitError, match="digits and Latin letters"):
        fonts.find_cjk_font()


def test_default_lookup_on_this_machine_draws_no_boxes():
    name = fonts.use_cjk_font(refresh=True)
    if name is None:
        pytest.skip("no CJK font installed (CI installs fonts-wqy-microhei)")
    assert matplotlib.rcParams["font.family"] == ["DejaVu Sans", name]
    assert fonts.missing_glyphs(SAMPLE) == ""
    assert _missing_while_drawing(SAMPLE) == []


def test_dejavu_alone_would_draw_boxes():
    """The checks can fail: DejaVu Sans alone lacks every Chinese character."""
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        assert fonts.missing_glyphs("明月社区 2017") == "明月社区"
        assert len(_missing_while_drawing("明月社区")) >= 4


@pytest.mark.parametrize("value, match", [
    ("/nonexistent/font.ttf", "no such font file"),
    ("No Such Family Sans", "no installed font has this family name"),
    ("DejaVu Sans", "lacks Chinese characters"),
])
def test_a_bad_forced_font_is_a_clear_error(monkeypatch, value, match):
    monkeypatch.setenv("EVALKIT_CJK_FONT", value)
    with pytest.raises(EvalkitError, match=match) as err:
        fonts.find_cjk_font()
    assert "EVALKIT_CJK_FONT" in str(err.value) and "'none'" in str(err.value)


def test_former_env_var_name_still_forces_fallback(monkeypatch):
    monkeypatch.setenv("EVALKIT_FONT", "none")
    assert fonts.find_cjk_font() is None


def test_language_switch():
    cjk = fonts.use_cjk_font(refresh=True)
    fonts.set_language("en")
    assert fonts.get_language() == "en"
    assert fonts.label("heping") == "Heping"
    assert fonts.label("heping", "zh") in ("和平社区", "Heping")
    with pytest.raises(EvalkitError, match="'zh', 'en'"):
        fonts.set_language("fr")
    fonts.set_language("zh")
    if cjk:
        assert fonts.label("heping") == "和平社区"
        assert fonts.label("heping", "en") == "Heping"


def test_colours_fixed_and_comparison_grey(registry):
    a = fonts.community_colors()  # the registry set by the fixture
    b = fonts.community_colors(registry.iloc[::-1].iloc[::-1])
    assert a == b
    # the same communities in another order get the colours in that order: registry order counts
    assert fonts.community_colors(registry.iloc[::-1]) != a
    prog = registry.loc[registry["role"] == "programme", "community_id"]
    comp = registry.loc[registry["role"] == "comparison", "community_id"]
    assert len({a[c] for c in prog}) == len(prog)  # distinct hues
    for c in comp:  # greys: R == G == B
        hexc = a[c].lstrip("#")
        assert hexc[0:2] == hexc[2:4] == hexc[4:6], (c, a[c])
    for c in prog:
        hexc = a[c].lstrip("#")
        assert not hexc[0:2] == hexc[2:4] == hexc[4:6]


# --------------------------------------------------------------------------------------------
# notebook output: the same on every machine (setup_notebook, notebooks/sanitize.cfg)
# --------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
_NOTEBOOK_START = """
import warnings
from evalkit.errors import SmallSampleWarning
from evalkit.publish.notebook import setup_notebook
setup_notebook(lang="zh")
warnings.warn("3 cells have an effective sample size below 30.", SmallSampleWarning)
warnings.warn("a third-party deprecation", UserWarning)
print("done")
"""


def _sanitize(text: str) -> str:
    """Apply notebooks/sanitize.cfg as nbval does (each section: regex -> replace)."""
    import configparser
    import re

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "notebooks" / "sanitize.cfg", encoding="utf-8")
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    return text


def _notebook_start(forced: str | None):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("EVALKIT_CJK_FONT", "EVALKIT_FONT")}
    if forced is not None:
        env["EVALKIT_CJK_FONT"] = forced
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-c", _NOTEBOOK_START], env=env, cwd=ROOT,
                          capture_output=True, text=True, encoding="utf-8", timeout=300)


def test_notebook_output_is_the_same_under_every_font_situation():
    """No CJK font, only Droid, and this machine's own lookup: stdout equal after sanitizing;
    evalkit's warning is stdout text, a third-party warning is stderr without a file path."""
    situations = {"none": "none", "default": None}
    if os.path.isfile(DROID):
        situations["droid"] = DROID
    runs = {name: _notebook_start(forced) for name, forced in situations.items()}
    for name, run in runs.items():
        assert run.returncode == 0, (name, run.stderr)
        assert run.stdout.splitlines()[0].startswith("figure labels: "), (name, run.stdout)
        assert "SmallSampleWarning: 3 cells have an effective sample size below 30.\n" in run.stdout
        assert run.stderr == "UserWarning: a third-party deprecation\n", (name, run.stderr)
    assert "pinyin" in runs["none"].stdout and "FontFallbackWarning" in runs["none"].stdout
    if "droid" in runs:
        assert "(font: Droid Sans Fallback)" in runs["droid"].stdout
    shown = {name: _sanitize(run.stdout) for name, run in runs.items()}
    assert len(set(shown.values())) == 1, shown
    assert shown["none"].splitlines()[0] == "figure labels: <font>"


def test_in_a_notebook_evalkit_warnings_are_displayed_not_stderr(monkeypatch, capsys):
    from IPython import display as ipy_display

    from evalkit.publish import notebook
    from evalkit.errors import FewClustersWarning

    shown = []
    monkeypatch.setattr(notebook, "_in_kernel", lambda: True)
    monkeypatch.setattr(ipy_display, "display", shown.append)
    notebook._show_warning(FewClustersWarning("14 clusters <few>"), FewClustersWarning, "/x/y.py", 3)
    notebook._show_warning(DeprecationWarning("old API"), DeprecationWarning, "/x/y.py", 3)
    out, err = capsys.readouterr()
    assert [repr(s) for s in shown] == ["FewClustersWarning: 14 clusters <few>"]
    assert "14 clusters &lt;few&gt;" in shown[0]._repr_html_()
    assert out == "" and err == "DeprecationWarning: old API\n"


def test_display_names_take_the_registry_explicitly(registry, codebook):
    names = fonts.display_names(registry)
    assert names["mingyue"] == ("明月社区", "Mingyue", "programme") and names["mingyue"].pinyin == "Mingyue"
    assert list(names) == list(registry["community_id"])
    fonts.set_registry(None)
    with pytest.raises(EvalkitError, match="registry"):
        fonts.label("mingyue")
    assert fonts.label("mingyue", "en", registry=registry) == "Mingyue"
    assert fonts.label("comparison", "en") == "comparison"  # the pooled id needs no registry


def test_setup_notebook_takes_the_study(registry, codebook, capsys):
    from evalkit.publish.notebook import setup_notebook
    from evalkit.spec.study import Study

    fonts.set_registry(None)
    assert setup_notebook(lang="en") == 20171  # Study's default seed; no registry set without a study
    assert fonts.get_registry() is None
    study = Study(codebook, registry.assign(name_pinyin=registry["name_pinyin"] + "!"), seed=7, language="en")
    assert setup_notebook(study) == 7
    assert fonts.get_language() == "en" and fonts.label("mingyue") == "Mingyue!"
    assert setup_notebook(study=study, seed=3) == 3
    with pytest.warns(FutureWarning, match="positional"):
        assert setup_notebook("en") == 20171  # 0.1 call shape, for one release
    with pytest.raises(EvalkitError, match="Study"):
        setup_notebook(registry)
    capsys.readouterr()
