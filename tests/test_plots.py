"""Plot functions: Axes in, Axes out; what is drawn is what the tidy frame says."""
import io
import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from evalkit.publish import style as fonts, plots  # noqa: E402
from evalkit.errors import EvalkitError, FontFallbackWarning  # noqa: E402

PROGRAMME = ["anning", "shenghong", "xingsheng", "mingyue", "shengxing", "heping", "yangmiao"]
COMPARISON = ["wenyuan", "qingfeng", "huimin", "zhenhua", "fengyuan", "lijia", "haojia"]


@pytest.fixture(autouse=True)
def _english_then_close(registry):
    """English labels; the shipped registry set once, as setup_notebook(study=...) does."""
    fonts.set_language("en")
    fonts.set_registry(registry)
    yield
    fonts.set_registry(None)
    fonts.set_language("zh")
    plt.close("all")


def _table(seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for cid in PROGRAMME + COMPARISON:
        for wave in (2014, 2015, 2016, 2017):
            est = 50 + rng.normal(0, 5)
            rows.append({"indicator": "who5", "community_id": cid, "wave": wave, "estimate": est,
                         "se": 2.0, "ci_low": est - 3.92, "ci_high": est + 3.92})
    return pd.DataFrame(rows)


def _no_missing_glyphs(ax):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax.figure.savefig(io.BytesIO(), format="png")
    return not [w for w in caught if "missing from font" in str(w.message)]


def test_indicator_plot_one_bar_per_community_and_wave():
    tab = _table()
    ax = plots.indicator_plot(tab)
    assert isinstance(ax, matplotlib.axes.Axes)
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(bars) == 14 * 4
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:7] == [fonts.label(c) for c in PROGRAMME]  # programme first, registry order
    assert set(labels[7:]) == {fonts.label(c) for c in COMPARISON}
    # the error bar of anning 2014 spans exactly its CI
    segs = np.concatenate([b.get_segments() for b in bars])
    r = tab.iloc[0]
    assert any(np.isclose(s[0][1], r.ci_low) and np.isclose(s[1][1], r.ci_high) for s in segs)
    assert _no_missing_glyphs(ax)


def test_indicator_plot_asks_which_indicator():
    tab = pd.concat([_table(), _table(2).assign(indicator="ucla3")])
    with pytest.raises(EvalkitError, match="indicator="):
        plots.indicator_plot(tab)
    fig, ax = plt.subplots()
    assert plots.indicator_plot(tab, "ucla3", ax=ax) is ax


def test_event_study_pointwise_and_uniform_bands():
    es = pd.DataFrame({"event_time": [-2, -1, 0, 1, 2], "estimate": [0.01, -0.02, 0.3, 0.4, 0.5],
                       "se": [0.05, 0.05, 0.06, 0.07, 0.1], "crit_value": 2.7, "band": "uniform"})
    ax = plots.event_study_plot(es)
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    half = sorted({round(abs(s[1][1] - s[0][1]) / 2, 6) for lc in lines for s in lc.get_segments()})
    z = 1.959963984540054  # scipy.stats.norm.ppf(0.975)
    expected = sorted({round(v, 6) for se in es["se"] for v in (z * se, 2.7 * se)})
    assert half == expected
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-2", "-1", "0", "1", "2"]


def test_forest_plot_with_truth():
    tab = pd.DataFrame({"community_id": PROGRAMME, "estimate": np.linspace(-0.1, 0.6, 7),
                        "ci_low": np.linspace(-0.3, 0.4, 7), "ci_high": np.linspace(0.1, 0.8, 7),
                        "truth": np.linspace(0, 0.5, 7)})
    ax = plots.forest_plot(tab, truth_col="truth")
    yl = [t.get_text() for t in ax.get_yticklabels()]
    assert yl == [fonts.label(c) for c in PROGRAMME]  # first row on top (y = 6 ... 0)
    assert [t.get_position()[1] for t in ax.get_yticklabels()] == list(range(6, -1, -1))
    diamonds = [ln for ln in ax.lines if ln.get_marker() == "D"]
    assert len(diamonds) == 1
    np.testing.assert_allclose(diamonds[0].get_xdata(), tab["truth"])
    # each community keeps its colour from fonts.community_colors
    dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert [matplotlib.colors.to_hex(d.get_color()).upper() for d in dots] == \
        [fonts.community_color(c).upper() for c in PROGRAMME]


def test_trend_plot_baseline_and_comparison():
    tab = _table()
    pooled = tab[tab["community_id"].isin(COMPARISON)].groupby("wave", as_index=False)[
        ["estimate", "ci_low", "ci_high"]].mean().assign(community_id="comparison", indicator="who5")
    ax = plots.trend_plot(pd.concat([tab, pooled]), "mingyue")
    base = tab[(tab.community_id == "mingyue") & (tab.wave == 2014)]["estimate"].iloc[0]
    hlines = [ln for ln in ax.lines if ln.get_linestyle() == ":" and len(set(ln.get_ydata())) == 1]
    assert any(np.isclose(ln.get_ydata()[0], base) for ln in hlines)
    vlines = [ln for ln in ax.lines if ln.get_linestyle() == ":" and len(set(ln.get_xdata())) == 1]
    assert [ln.get_xdata()[0] for ln in vlines] == [2014.5]  # mingyue started in 2015 (registry)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Mingyue" in legend and "comparison" in legend
    with pytest.raises(EvalkitError, match="'nowhere'"):
        plots.trend_plot(tab, "nowhere")


DROID = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"  # Debian fonts-droid-fallback


@pytest.mark.parametrize("forced, name", [(DROID, "安宁社区"), ("none", "Anning")], ids=["droid", "none"])
def test_chinese_or_pinyin_labels_in_plots_without_boxes(monkeypatch, forced, name):
    """Droid Sans Fallback has no digits or Latin letters: they must come from DejaVu Sans."""
    if forced != "none" and not os.path.isfile(forced):
        pytest.skip(f"font file not installed: {forced}")
    monkeypatch.setenv("EVALKIT_CJK_FONT", forced)
    with matplotlib.rc_context():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FontFallbackWarning)
            fonts.use_cjk_font(refresh=True)
        fonts.set_language("zh")
        ax = plots.indicator_plot(_table())
        assert name in [t.get_text() for t in ax.get_xticklabels()]
        assert _no_missing_glyphs(ax)
    monkeypatch.delenv("EVALKIT_CJK_FONT")
    fonts._STATE.update(resolved=False, warned=False, font=None)  # later tests resolve afresh


def test_reliability_plot_flags_low_alpha():
    rel = pd.DataFrame({"indicator": ["who5", "ucla3"], "estimate": [0.85, 0.6],
                        "ci_low": [0.83, 0.55], "ci_high": [0.87, 0.65]})
    ax = plots.reliability_plot(rel)
    cols = ax.collections[-1].get_facecolors()
    assert matplotlib.colors.to_hex(cols[1]).upper() == "#D55E00"


def test_reliability_plot_draws_the_alpha_rows_of_reliability(survey, codebook):
    from evalkit.measure.reliability import reliability
    from evalkit.measure.scales import score

    rel = reliability(score(survey[survey["wave"] == 2014], codebook, scales=["who5", "ucla3"]), codebook)
    ax = plots.reliability_plot(rel)
    alpha = rel[rel["coefficient"] == "alpha"]
    np.testing.assert_allclose(sorted(ax.collections[-1].get_offsets()[:, 0]), sorted(alpha["estimate"]))
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == sorted(alpha["indicator"])


def _loo_frame():
    # a leave_one_out()-shaped frame: first row all communities, then one row per community left out
    rows = [("(none)", 0.30, 0.10, 0.50)]
    rows += [("anning", -0.02, -np.inf, np.inf), ("wenyuan", 0.31, 0.12, 0.52),
             ("huimin", 0.28, 0.05, 0.49)]
    return pd.DataFrame(rows, columns=["left_out", "estimate", "ci_low", "ci_high"]).assign(
        indicator="participation_ladder")


def test_leave_one_out_plot_rows_colours_and_unbounded_ends():
    df = _loo_frame()
    ax = plots.leave_one_out_plot(df)
    names = [t.get_text() for t in ax.get_yticklabels()]
    # programme community first, then comparison communities in registry order (top to bottom)
    assert names == [fonts.label(c) for c in ["anning", "wenyuan", "huimin"]]
    dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert [matplotlib.colors.to_hex(d.get_color()).upper() for d in dots] == \
        [fonts.community_color(c).upper() for c in ["anning", "wenyuan", "huimin"]]
    np.testing.assert_allclose([d.get_xdata()[0] for d in dots], [-0.02, 0.31, 0.28])
    # the unbounded interval of Anning ends at the frame, with arrow heads at both ends
    lo, hi = ax.get_xlim()
    assert np.isfinite(lo) and np.isfinite(hi)
    # finite values span -0.02 .. 0.52 (and 0); 12% padding on each side: hand computation
    np.testing.assert_allclose([lo, hi], [-0.02 - 0.12 * 0.54, 0.52 + 0.12 * 0.54])
    assert sum(ln.get_marker() in ("<", ">") for ln in ax.lines) == 2
    # the full estimate as a vertical line at 0.30
    assert any(np.allclose(ln.get_xdata(), [0.30, 0.30]) for ln in ax.lines)


def test_leave_one_out_plot_needs_the_full_row():
    with pytest.raises(EvalkitError, match="none"):
        plots.leave_one_out_plot(_loo_frame().iloc[1:])


def test_no_registry_is_a_clear_error_not_the_shipped_one(registry):
    fonts.set_registry(None)
    for draw in (lambda: plots.indicator_plot(_table()), lambda: plots.trend_plot(_table(), "mingyue"),
                 lambda: plots.leave_one_out_plot(_loo_frame()), lambda: fonts.label("mingyue")):
        with pytest.raises(EvalkitError, match="registry"):
            draw()
    # explicit registry= works without the default
    ax = plots.indicator_plot(_table(), registry=registry)
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["Anning", "Shenghong"]
    # the forest plot of indicators names no community: no registry needed
    plots.forest_plot(pd.DataFrame({"indicator": ["a"], "estimate": [0.1], "ci_low": [0.0], "ci_high": [0.2]}),
                      label_col="indicator")


def test_study_names_the_columns_and_gives_the_registry(registry, codebook):
    from evalkit.spec.study import Roles, Study

    fonts.set_registry(None)
    study = Study(codebook, registry, roles=Roles(community="社区", wave="年份"))
    tab = _table().rename(columns={"community_id": "社区", "wave": "年份"})
    ax = plots.trend_plot(tab, "mingyue", study=study)
    vlines = [ln for ln in ax.lines if ln.get_linestyle() == ":" and len(set(ln.get_xdata())) == 1]
    assert [ln.get_xdata()[0] for ln in vlines] == [2014.5]  # start year from the study's registry
    ax = plots.indicator_plot(tab, study=study)
    assert len([c for c in ax.collections if isinstance(c, LineCollection)]) == 14 * 4


def test_old_vocabulary_is_refused():
    es = pd.DataFrame({"event_time": [0, 1], "att": [0.3, 0.4], "se": [0.1, 0.1], "ci_low": 0.0, "ci_high": 1.0})
    with pytest.raises(EvalkitError, match="estimate"):
        plots.event_study_plot(es)


def test_plots_given_a_study_name_indicators_by_their_codebook_labels(registry, codebook):
    """Issue 12: variable codes as titles and axes. With a study (or style.set_study), the codebook's
    label replaces the code; without one the code stays (the caller passes its own title)."""
    from evalkit.spec.study import Study

    study = Study(codebook=codebook, registry=registry)
    # codebook.yaml: scales.who5.label.en, scales.ucla3.label.en, groups.elderly.label.en
    assert fonts.indicator_label("who5", study=study) == "WHO-5 Well-Being Index"
    assert fonts.indicator_label("ucla3@elderly", study=study) == \
        "UCLA 3-item Loneliness Scale (residents aged 60+)"
    assert fonts.indicator_label("no_such_scale", study=study) == "no_such_scale"
    assert fonts.indicator_label("who5") == "who5"  # no study set: the code, unchanged
    rel = pd.DataFrame({"indicator": ["who5", "ucla3"], "estimate": [0.85, 0.6],
                        "ci_low": [0.83, 0.55], "ci_high": [0.87, 0.65]})
    ax = plots.reliability_plot(rel, study=study)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["WHO-5 Well-Being Index", "UCLA 3-item Loneliness Scale"]
    ax = plots.indicator_plot(_table(), study=study)
    assert ax.get_ylabel() == "WHO-5 Well-Being Index" and "who5" not in ax.get_title()
    fonts.set_study(study)
    try:
        ax = plots.trend_plot(_table(), "mingyue")
        assert ax.get_title() == "Mingyue: WHO-5 Well-Being Index"
        ax = plots.forest_plot(rel, label_col="indicator")
        assert "UCLA 3-item Loneliness Scale" in [t.get_text() for t in ax.get_yticklabels()]
    finally:
        fonts.set_study(None)
        fonts.set_registry(registry)


def test_a_plot_made_before_any_font_setup_draws_chinese_without_boxes(monkeypatch):
    """A fresh process (matplotlib's default font list, evalkit's lookup not run yet): the plot
    resolves the CJK font before it creates its Axes, whose texts keep the font list of that moment."""
    if fonts.find_cjk_font() is None:
        pytest.skip("no CJK font installed")
    fonts.set_language("zh")
    monkeypatch.setitem(fonts._STATE, "resolved", False)
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        ax = plots.event_study_plot(pd.DataFrame({"event_time": [-1, 0, 1], "estimate": [0.0, 0.3, 0.4],
                                                  "se": [0.1, 0.1, 0.1], "ci_low": [-0.2, 0.1, 0.2],
                                                  "ci_high": [0.2, 0.5, 0.6]}))
        assert "项目开始后年数" in ax.get_xlabel()
        assert _no_missing_glyphs(ax)


def test_unbounded_intervals_stop_at_the_frame_with_arrow_heads():
    """Issue 12: panels drawing ±inf intervals. Event study and forest plot keep finite limits;
    an infinite end is drawn to the frame and marked with an arrow head."""
    es = pd.DataFrame({"event_time": [-1, 0, 1], "estimate": [0.0, 0.3, 0.4], "se": [0.1, 0.1, np.inf],
                       "ci_low": [-0.2, 0.1, -np.inf], "ci_high": [0.2, 0.5, np.inf]})
    ax = plots.event_study_plot(es)
    lo, hi = ax.get_ylim()
    assert np.isfinite([lo, hi]).all() and lo < -0.2 and hi > 0.5
    arrows = [a for a in ax.get_children() if a.get_gid() == "unbounded"]
    assert sorted(a.get_marker() for a in arrows) == ["^", "^", "v", "v"]  # pointwise and uniform, both ends
    assert all(np.isfinite(seg).all() for c in ax.collections for seg in getattr(c, "get_segments", list)())
    fp = pd.DataFrame({"community_id": ["anning", "mingyue"], "estimate": [0.1, 0.2],
                       "ci_low": [-np.inf, 0.1], "ci_high": [np.inf, 0.3]})
    ax = plots.forest_plot(fp)
    lo, hi = ax.get_xlim()
    assert np.isfinite([lo, hi]).all()
    assert sorted(a.get_marker() for a in ax.get_children() if a.get_gid() == "unbounded") == ["<", ">"]
    # finite intervals: autoscaling untouched, no arrows
    ax = plots.forest_plot(fp.assign(ci_low=[0.0, 0.1], ci_high=[0.2, 0.3]))
    assert not [a for a in ax.get_children() if a.get_gid() == "unbounded"]
