"""Report figures (evalkit.publish.figures): they draw what they claim, in the report's language.

The frames are small hand-made tables with the columns of the evaluation summary's ``trends``
and ``effects`` (contract C4); the numbers are made up for the test and checked against what the
Axes hold, not against stored output.
"""
import base64
import io
import os
import re
import struct
import warnings

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.publish import style  # noqa: E402
from evalkit.publish.figures import figure_html, plot_community_effect, plot_effects_overview  # noqa: E402
from evalkit.publish.labels import Labels, effect_text  # noqa: E402

DROID = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
WQY = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
NOTO = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
WAVES = [2014, 2015, 2016, 2017]
CODES = ("mingyue", "anning", "yangmiao", "ucla3", "elderly", "volunteering_any", "kidscreen10", "child",
         "care_access", "@")


@pytest.fixture(scope="module")
def study(codebook, registry):
    from evalkit.spec.study import Study

    return Study(codebook=codebook, registry=registry)


@pytest.fixture(autouse=True)
def _default_font():
    style.use_cjk_font(refresh=True)
    yield
    style.use_cjk_font(refresh=True)


def _trends():
    mean = [5.2, 5.0, 4.6, 4.3]
    comp = [5.0, 5.1, 5.0, 5.05]
    cf = [5.2 + c - comp[0] for c in comp]  # baseline + the comparison change since 2014
    loneliness = pd.DataFrame({
        "community_id": "mingyue", "target": "ucla3@elderly", "indicator": "ucla3", "group": "elderly",
        "wave": WAVES, "mean": mean, "ci_low": [m - 0.25 for m in mean], "ci_high": [m + 0.25 for m in mean],
        "n": 80, "comparison_mean": comp, "counterfactual": cf})
    vol = [0.20, 0.22, 0.30, 0.38]
    vcomp = [0.21, 0.22, 0.23, 0.24]
    volunteering = pd.DataFrame({
        "community_id": "anning", "target": "volunteering_any", "indicator": "volunteering_any", "group": None,
        "wave": WAVES, "mean": vol, "ci_low": [v - 0.05 for v in vol], "ci_high": [v + 0.05 for v in vol],
        "n": 120, "comparison_mean": vcomp, "counterfactual": [0.20 + c - vcomp[0] for c in vcomp]})
    return pd.concat([loneliness, volunteering], ignore_index=True)


def _effects():
    base = {"start_year": 2015, "baseline_wave": 2014, "explanation": None}
    rows = [
        dict(base, community_id="mingyue", target="ucla3@elderly", indicator="ucla3", group="elderly",
             kind="mean", better="lower", wave=2016, estimate=-0.5, ci_low=-1.0, ci_high=0.1, evidence=1,
             std_effect=-0.3, std_ci_low=-0.6, std_ci_high=0.05),
        dict(base, community_id="mingyue", target="ucla3@elderly", indicator="ucla3", group="elderly",
             kind="mean", better="lower", wave=2017, estimate=-0.95, ci_low=-1.4, ci_high=-0.5, evidence=3,
             std_effect=-0.6, std_ci_low=-0.9, std_ci_high=-0.3),
        dict(base, community_id="anning", target="volunteering_any", indicator="volunteering_any", group=None,
             kind="proportion", better="higher", wave=2017, estimate=0.15, ci_low=-0.02, ci_high=0.30,
             evidence=1, std_effect=0.35, std_ci_low=-0.05, std_ci_high=np.inf),
        dict(base, community_id="yangmiao", target="kidscreen10@child", indicator="kidscreen10", group="child",
             kind="mean", better="higher", wave=2017, estimate=np.nan, ci_low=np.nan, ci_high=np.nan,
             evidence=0, std_effect=np.nan, std_ci_low=np.nan, std_ci_high=np.nan,
             explanation="no_base_wave: no survey wave before the start year"),
    ]
    return pd.DataFrame(rows)


def _texts(fig):
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def _no_codes(fig):
    text = "\n".join(_texts(fig))
    return [c for c in CODES if re.search(rf"(?<![A-Za-z_]){re.escape(c)}(?![A-Za-z_])", text)]


def _chinese(lang):
    return lang == "zh" and style.use_cjk_font() is not None


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_community_chart_draws_the_difference_in_differences(study, lang):
    trends, row = _trends(), _effects().iloc[1]
    fig = plot_community_effect(trends, row, labels=Labels.from_study(study, lang))
    ax = fig.axes[0]
    own = trends[trends["community_id"] == "mingyue"]
    (line,) = _gid(ax, "community")
    assert list(line.get_xdata()) == WAVES and np.allclose(line.get_ydata(), own["mean"])
    (comp,) = _gid(ax, "comparison")
    assert np.allclose(comp.get_ydata(), own["comparison_mean"])
    (cf,) = _gid(ax, "counterfactual")
    assert np.allclose(cf.get_ydata(), own["counterfactual"])
    # the shaded polygon is exactly the gap between the community and the counterfactual
    (gap,) = _gid(ax, "gap")
    assert isinstance(gap, PolyCollection)
    verts = {(round(x, 9), round(y, 9)) for x, y in gap.get_paths()[0].vertices}
    expected = {(w, round(v, 9)) for w, v in zip(WAVES, own["mean"])} | \
               {(w, round(v, 9)) for w, v in zip(WAVES, own["counterfactual"])}
    assert verts == expected
    # the community's interval at every wave
    (ci,) = _gid(ax, "ci")
    assert isinstance(ci, LineCollection)
    segs = [tuple(map(tuple, s)) for s in ci.get_segments()]
    assert segs == [((w, lo), (w, hi)) for w, lo, hi in zip(WAVES, own["ci_low"], own["ci_high"])]
    (start,) = _gid(ax, "start")
    assert start.get_xdata()[0] == 2014.5
    assert ax.get_legend() is None and len(_gid(ax, "direct_label")) == 3
    title = ax.get_title(loc="left").replace("\n", "")
    sub = _gid(ax, "subtitle")[0].get_text()
    if _chinese(lang):
        assert title == "明月社区老年居民的UCLA孤独感量表在项目开始后下降"
        assert "越低越好" in sub and "−0.95分" in sub and "证据强度：强" in sub
    else:
        assert "fell after the programme began" in title and "Mingyue" in title
        assert "lower is better" in sub and "−0.95 points" in sub and "strong" in sub
    assert _no_codes(fig) == []
    assert np.isfinite(ax.get_ylim()).all() and np.isfinite(ax.get_xlim()).all()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_community_chart_of_a_proportion_in_percent_and_no_clear_change(study, lang):
    trends = _trends()
    row = _effects().iloc[2]
    fig = plot_community_effect(trends, row, labels=Labels.from_study(study, lang))
    ax = fig.axes[0]
    (line,) = _gid(ax, "community")
    assert np.allclose(line.get_ydata(), [20, 22, 30, 38])  # percent, not fractions
    title = ax.get_title(loc="left").replace("\n", "")
    sub = _gid(ax, "subtitle")[0].get_text()
    if _chinese(lang):
        assert title.endswith("在项目开始后无明显变化") and ax.get_ylabel() == "比例（%）"
        assert "+15.0个百分点" in sub and "越高越好" in sub
    else:
        assert "no clear change" in title and ax.get_ylabel() == "share (%)"
        assert "+15.0 percentage points" in sub
    assert _no_codes(fig) == []


def test_only_the_gap_from_the_last_wave_before_the_start_is_shaded(study):
    """A study-wide baseline (2014) before a later start (2016): the 2014-2015 difference is a
    pre-programme difference, not part of the effect; the shading starts at 2015."""
    trends = _trends()
    row = _effects().iloc[1].copy()
    row["start_year"] = 2016
    fig = plot_community_effect(trends, row, labels=Labels.from_study(study, "en"))
    ax = fig.axes[0]
    own = trends[trends["community_id"] == "mingyue"].set_index("wave")
    (gap,) = _gid(ax, "gap")
    verts = {(round(x, 9), round(y, 9)) for x, y in gap.get_paths()[0].vertices}
    assert verts == {(w, round(own.at[w, c], 9)) for w in (2015, 2016, 2017) for c in ("mean", "counterfactual")}
    (cf,) = _gid(ax, "counterfactual")  # the counterfactual line itself still starts at the baseline
    assert list(cf.get_xdata()) == WAVES
    assert _gid(ax, "start")[0].get_xdata()[0] == 2015.5


def test_community_chart_without_an_estimate_says_why(study):
    trends = _trends().assign(community_id="yangmiao", target="kidscreen10@child", indicator="kidscreen10",
                              group="child", counterfactual=np.nan)
    fig = plot_community_effect(trends, _effects().iloc[3], labels=Labels.from_study(study, "en"))
    ax = fig.axes[0]
    assert "cannot be estimated" in ax.get_title(loc="left").replace("\n", " ")
    assert "no survey wave before the programme started" in _gid(ax, "subtitle")[0].get_text()
    assert _gid(ax, "gap") == [] and _no_codes(fig) == []


def test_community_chart_refuses_rows_it_cannot_draw(study):
    lab = Labels.from_study(study, "en")
    with pytest.raises(EvalkitError, match="no rows for community"):
        plot_community_effect(_trends(), _effects().iloc[3], labels=lab)
    with pytest.raises(EvalkitError, match="lacks"):
        plot_community_effect(_trends().drop(columns="counterfactual"), _effects().iloc[1], labels=lab)
    with pytest.raises(EvalkitError, match="one row"):
        plot_community_effect(_trends(), _effects(), labels=lab)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_overview_one_row_per_target_at_the_latest_wave(study, lang):
    eff = _effects()
    fig = plot_effects_overview(eff, labels=Labels.from_study(study, lang))
    ax = fig.axes[0]
    points = _gid(ax, "effect")
    # mingyue 2017 (not 2016) and anning; yangmiao has no estimate
    assert sorted(p.get_xdata()[0] for p in points) == [-0.6, 0.35]
    spans = sorted(tuple(line.get_xdata()) for line in _gid(ax, "interval"))
    lo, hi = ax.get_xlim()
    assert np.isfinite([lo, hi]).all()
    assert spans[0] == (-0.9, -0.3)
    assert spans[1] == (-0.05, hi)  # the infinite end stops at the frame ...
    assert len(_gid(ax, "unbounded")) == 1  # ... with an arrow head
    (none,) = _gid(ax, "no_estimate")
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    evidence = [t.get_text() for t in _gid(ax, "evidence")]
    title = fig._suptitle.get_text().replace("\n", "")
    if _chinese(lang):
        # a community whose targets share one group names it once, in its header row
        assert ticks[0] == "安宁社区" and "明月社区 · 老年居民" in ticks and "杨庙社区 · 儿童" in ticks
        assert "UCLA孤独感量表（越低越好）" in ticks
        assert "无估计" in none.get_text() and "基线" in none.get_text()
        assert set(evidence) == {"●●● 强", "●○○ 弱"}
        assert title == "3项目标中1项在项目开始后明确改善"
        assert any("越低越好" in t for t in ticks)
    else:
        assert ticks[0] == "Anning" and "Mingyue · residents aged 60+" in ticks
        assert "no estimate" in none.get_text()
        assert set(evidence) == {"●●● strong", "●○○ weak"}
        assert title == "1 of 3 targets improved clearly after the programmes began"
    assert _no_codes(fig) == []
    assert fig.get_label()


def test_overview_needs_the_standardised_columns(study):
    with pytest.raises(EvalkitError, match="std_effect"):
        plot_effects_overview(_effects().drop(columns="std_effect"), labels=Labels.from_study(study))


def _svg(tag):
    m = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', tag)
    return base64.b64decode(m.group(1))


def test_figure_html_svg_is_deterministic_text_as_paths_with_alt(study):
    def draw():
        return plot_community_effect(_trends(), _effects().iloc[1], labels=Labels.from_study(study, "zh"))

    fig = draw()
    one, two = figure_html(fig), figure_html(draw())
    assert one == two  # the same input gives the same bytes
    svg = _svg(one)
    assert b"<text" not in svg and b"<path" in svg  # glyphs drawn as paths: no font needed
    assert b"<dc:date>" not in svg
    alt = re.search(r'alt="([^"]*)"', one).group(1)
    assert alt and ("明月社区" in alt or "Mingyue" in alt) and "5.20" in alt
    assert 'alt="a &lt;b&gt; &amp; &quot;c&quot;"' in figure_html(fig, alt='a <b> & "c"')


def test_figure_html_png_at_200_dpi_and_alt_required():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    fig.add_subplot().plot([0, 1], [0, 1])
    with pytest.raises(EvalkitError, match="alt text"):
        figure_html(fig)
    tag = figure_html(fig, alt="a rising line", format="png")
    png = base64.b64decode(re.search(r"base64,([^\"]+)", tag).group(1))
    width, height = struct.unpack(">II", png[16:24])  # IHDR
    assert (width, height) == (800, 600)
    assert tag == figure_html(fig, alt="a rising line", format="png")


@pytest.mark.parametrize("path", [DROID, WQY, NOTO], ids=["droid", "wqy", "noto"])
def test_report_figures_render_with_one_cjk_font_alone(monkeypatch, study, path):
    if not os.path.isfile(path):
        pytest.skip(f"font file not installed: {path}")
    monkeypatch.setenv("EVALKIT_CJK_FONT", path)
    assert style.use_cjk_font(refresh=True) is not None
    lab = Labels.from_study(study, "zh")
    figs = [plot_community_effect(_trends(), _effects().iloc[1], labels=lab),
            plot_community_effect(_trends(), _effects().iloc[2], labels=lab),
            plot_effects_overview(_effects(), labels=lab)]
    for fig in figs:
        text = "".join(_texts(fig))
        assert re.search(r"[\u4e00-\u9fff]", text)
        assert style.missing_glyphs(text) == ""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig.savefig(io.BytesIO(), format="png")
            figure_html(fig)
        assert [str(w.message) for w in caught if "missing from font" in str(w.message)] == []


def test_without_a_cjk_font_the_figures_are_english_with_pinyin(monkeypatch, study):
    monkeypatch.setenv("EVALKIT_CJK_FONT", "none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        style.use_cjk_font(refresh=True)
    lab = Labels.from_study(study, "zh")
    fig = plot_community_effect(_trends(), _effects().iloc[1], labels=lab)
    title = fig.axes[0].get_title(loc="left")
    assert "Mingyue" in title
    for fig in (fig, plot_effects_overview(_effects(), labels=lab)):
        assert not re.search(r"[\u4e00-\u9fff]", "".join(_texts(fig)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig.savefig(io.BytesIO(), format="png")
        assert [str(w.message) for w in caught if "missing from font" in str(w.message)] == []


def test_labels_name_codes_from_the_study_never_the_code(study):
    zh, en = Labels.from_study(study, "zh"), Labels.from_study(study, "en")
    # communities.csv name_zh / name_pinyin; codebook.yaml groups and scales
    assert zh.community("mingyue") == "明月社区" and en.community("mingyue") == "Mingyue"
    assert zh.group("elderly") == "老年居民（60岁及以上）" and zh.group("elderly", short=True) == "老年居民"
    assert zh.target("ucla3", "elderly") == "老年居民的UCLA孤独感量表"
    assert en.target("volunteering_any", None) == "Volunteered"
    assert zh.effect_unit("proportion") == "个百分点" and en.effect_unit("proportion") == "percentage points"
    assert zh.direction("lower") == "越低越好" and en.direction("lower") == "lower is better"
    assert zh.axis_label("ucla3", "mean") == "平均分（3–9分）"
    assert zh.evidence(2) == "中等" and en.evidence(None) == "insufficient"
    scale = pd.DataFrame({"level": [0, 1, 2, 3], "label_zh": ["无", "低", "中", "高"],
                          "label_en": ["none", "low", "mid", "high"]})
    assert zh.evidence(3, scale=scale) == "高"
    assert effect_text(0.155, "proportion", "zh") == "+15.5个百分点"
    assert effect_text(-1.034, "mean", "en") == "\u22121.03 points"
    with pytest.raises(EvalkitError, match="No indicator label for 'no_such_scale'"):
        zh.indicator("no_such_scale")
    with pytest.raises(EvalkitError, match="registry"):
        zh.community("atlantis")
    assert style.Labels is Labels


@pytest.fixture(scope="module")
def shipped_summary(survey, study):
    """The summary of the shipped survey (conftest's validated survey, shared with other test
    modules in one session, scored as evalkit.datasets.dongying_survey() scores it)."""
    from evalkit.evaluation.summary import summarise
    from evalkit.measure.scales import score

    scored = score(survey, study.codebook)
    scored.attrs = {}
    return study, summarise(scored, study, reconcile=False)


def test_every_headline_target_of_the_shipped_example_draws_without_codes(shipped_summary):
    """The shipped summary: one chart per community × target at the latest wave, each naming the
    community and the measure in words; no community id, indicator, group or target code in
    any text (in English, codes with ``_`` or ``@``: ``cohesion`` is also an English word)."""
    study, summary = shipped_summary
    head = summary.headline
    codes = set(map(str, head["community_id"])) | set(map(str, head["indicator"])) | \
        set(map(str, head["target"])) | {str(g) for g in head["group"].dropna()}
    word = {c: re.compile(rf"(?<![A-Za-z0-9_]){re.escape(c)}(?![A-Za-z0-9_])") for c in codes}
    for lang in ("zh", "en"):
        lab = Labels.from_study(study, lang)
        for _, row in head.iterrows():
            fig = plot_community_effect(summary.trends, row, labels=lab, evidence_scale=summary.evidence_scale)
            text = "\n".join(_texts(fig))
            leaked = [c for c in codes if word[c].search(text) and (lang == "zh" or re.search(r"[_@]", c))]
            assert leaked == [], (row["target"], lang, leaked)
            assert lab.community(row["community_id"]) in fig.axes[0].get_title(loc="left").replace("\n", "")
        fig = plot_effects_overview(summary.effects, labels=lab, evidence_scale=summary.evidence_scale)
        ax = fig.axes[0]
        n_est = int(np.isfinite(pd.to_numeric(head["std_effect"], errors="coerce")).sum())
        assert len(_gid(ax, "effect")) == n_est
        assert len(_gid(ax, "effect")) + len(_gid(ax, "no_estimate")) == len(head)
        assert np.isfinite(ax.get_xlim()).all()


def test_docstring_examples_run():
    import doctest

    from evalkit.publish import labels as labels_module

    failures, tried = doctest.testmod(labels_module)
    assert tried >= 3 and failures == 0
