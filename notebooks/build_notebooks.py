"""Build the numbered evalkit notebooks from their cell sources, then execute them.

    .venv/bin/python notebooks/build_notebooks.py              # all notebooks
    .venv/bin/python notebooks/build_notebooks.py 00 01        # some (by number or name)
    .venv/bin/python notebooks/build_notebooks.py --no-execute # write without outputs
    .venv/bin/python notebooks/build_notebooks.py --demo-export # write the shipped raw/wjx_export_demo.xlsx

Each notebook is a list of markdown and code cells below. Cell ids are fixed (``<nb>-<k>``) and
execution timing is not recorded, so rebuilding on unchanged data and code gives the same file.
The committed outputs are what ``pytest --nbval`` compares against. Code cells stay short (at most
15 lines): longer logic belongs in the library.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
MAX_CODE_LINES = 15

SETUP = """\
from pathlib import Path
import pandas as pd
import matplotlib.pyplot as plt
import evalkit
from evalkit.publish.report import setup_notebook
SEED = setup_notebook(lang="zh")   # display options, warnings, Chinese figure font
DATA = evalkit.datasets.data_dir()  # the shipped example data (or the folder in $EVALKIT_DATA)"""

LOAD = """\
from evalkit.spec.codebook import load_codebook
from evalkit.io.read import read_survey
from evalkit.io.validate import validate
from evalkit.measure.scales import score
codebook = load_codebook(DATA / "codebook.yaml")
checked = validate(read_survey(DATA / "survey.csv"), codebook)
survey = score(checked.valid, codebook)
print(checked.describe())"""


_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef\u201c\u201d"


def md(text: str) -> dict:
    """A markdown cell; a line break between two Chinese characters is removed (it would show
    as a space)."""
    text = re.sub(f"(?<=[{_CJK}])\n(?=[{_CJK}])", "", text.strip("\n"))
    return {"cell_type": "markdown", "source": text}


def code(text: str, *tags: str) -> dict:
    return {"cell_type": "code", "source": text.strip("\n"), "tags": list(tags)}


NOTEBOOKS: dict[str, list[dict]] = {}

# --------------------------------------------------------------------------------------------
NOTEBOOKS["00_quickstart"] = [
    md("""
# 00 快速入门：读取、校验、样本量 · Quickstart: load, validate, sample sizes

这本笔记本回答评估的第一个问题：**数据可信吗？** 我们读取东营市居民调查（2014年基线，
2015–2017年三个项目年度；14个社区：7个项目社区、7个对照社区），按编码手册逐条校验，
再看每个社区每年有多少受访者。

*Is the data fit to use?* We read the resident survey, check every rule the codebook implies,
and count respondents by community and wave. **All answers are synthetic** (made by
`evalkit.simulate`); the comparison communities are fictional.
"""),
    code(SETUP, "setup"),
    md("""
## 1. 调查数据校验 · Validating the shipped survey

`validate` 检查编码手册隐含的每条规则（未知社区或年份、重复受访者、超出范围或非数字的答案、
问错了对象的题目、必填字段缺失），把数据分成**有效行**和**隔离行**：进来多少行，出去多少行，
一行不丢。

Every row that comes in leaves as either valid or quarantined — nothing is dropped silently.
"""),
    code("""
from evalkit.spec.codebook import load_codebook
from evalkit.io.read import read_survey
from evalkit.io.validate import validate
codebook = load_codebook(DATA / "codebook.yaml")
checked = validate(read_survey(DATA / "survey.csv"), codebook)
print(checked.describe())"""),
    md("""
“不知道”“拒绝回答”“不适用”这些缺失码会变成缺失值，但原因被保留下来，不会和空白混淆：

Missing-value codes (97 don't know, 98 refused, 99 not applicable) become missing values with
their reason kept. Below: coded missing answers by reason, for the eight items with the most.
"""),
    code("""
coded = checked.missing.groupby(["column", "reason"]).size().unstack(fill_value=0)
coded.assign(all=coded.sum(axis=1)).sort_values(["all", "column"], ascending=[False, True]).head(8)"""),
    md("""
## 2. 一份杂乱的导出文件 · A messy platform export

真实的导出文件很少干净。`raw/messy_export_gbk.csv` 是中文 Excel 存成的 GBK 编码文件，
故意包含：用中文名称写的社区（可以映射）、一个不存在的社区、错误的答案代码、文本写在数字列里、
一个“不知道”代码、问错了对象的儿童题、缺失的受访者编号、不存在的调查年份和一个重复受访者。

The messy export is read with its encoding detected (GBK) and checked against the same codebook.
"""),
    code("""
from evalkit.publish.report import problems_table
messy = validate(read_survey(DATA / "raw" / "messy_export_gbk.csv"), codebook)
print(messy.describe())"""),
    md("""
问题表列出每个问题所在的**行号**（与 Excel 中看到的一致）、列、值和违反的规则。
受访者编号等识别信息不显示（‹withheld›）。

The problems table: row number as the spreadsheet shows it, column, value and rule broken.
Identifying values (respondent and household ids) are withheld.
"""),
    code("problems_table(messy, codebook)"),
    code("""
print("rows in:", messy.n_rows, "= valid", messy.n_valid, "+ quarantined", messy.n_quarantined)
print("missing-value codes met:", messy.missing["reason"].value_counts().sort_index().to_dict())"""),
    md("""
## 3. 样本量 · Sample sizes by community and wave

每个社区每年约300名受访者（农村社区另有8–17岁儿童）。住户样本跟踪调查：每年约14%的住户流失，
由同一楼栋或村民小组的新住户补充。

About 300 respondents per community and wave (rural communities add children aged 8–17);
households are followed from wave to wave, with attrition replaced from the same buildings.
"""),
    code("""
from evalkit.publish.report import sample_sizes
sample_sizes(checked.valid)"""),
    md("""
**下一步 Next:** `01_indicators` 计算量表得分、信度和加权指标 · scores the scales, checks their
reliability and estimates weighted indicators with confidence intervals.
"""),
]

# --------------------------------------------------------------------------------------------
NOTEBOOKS["01_indicators"] = [
    md("""
# 01 指标：信度与加权估计 · Indicators: reliability and weighted estimates

**居民过得怎么样？有多少人参与？** 每个社区、每一年，并给出诚实的不确定性。

How are residents doing, and how many take part — per community, per year, with honest
uncertainty. Scales are scored by their published rules (codebook), their reliability is checked,
and every estimate respects the sampling design (strata = communities, PSUs = buildings or
villager groups, weights raked to the registry's population by sex and age group).
"""),
    code(SETUP, "setup"),
    code(LOAD),
    md("""
## 1. 量表信度 · Scale reliability

Cronbach's α（成对完整协方差，Feldt 置信区间）与 McDonald's ω；α < 0.70 的量表被标记。

Cronbach's alpha (pairwise-complete covariances, Feldt interval) and McDonald's omega total for
every multi-item scale; `flag` marks alpha below 0.70.
"""),
    code("""
from evalkit.measure.reliability import reliability
rel = reliability(survey, codebook)
rel[["scale", "k", "n", "alpha", "ci_low", "ci_high", "omega_total", "flag"]]"""),
    code("""
from evalkit.publish.plots import reliability_plot
ax = reliability_plot(rel)"""),
    md("""
## 2. 加权：把样本校准到社区人口 · Weighting: raking to the registry's population

设计权数（入样概率的倒数）让样本代表各社区的住户；再用社区登记表中的人口数，把每个社区、每一年的
样本按**性别**和**年龄组**两个边际校准（迭代比例拟合，即 raking，R `survey::calibrate(...,
calfun="raking")`）。调查没有抽到的人群单元（城市社区不调查儿童）不参与校准：权数代表被调查覆盖的
人口——城市社区18岁以上、农村社区8岁以上的居民。标准误考虑了校准（Deville & Särndal 1992）。

Design weights (1 / selection probability) make the sample represent each community's
households; raking then adjusts them so that every community × wave sample matches the
registry's population by **sex** and by **age group** (iterative proportional fitting, as R's
`calibrate(..., calfun="raking")`). Cells the survey never samples (children in urban
communities) are left out, so the weights represent the covered population: residents 18+ in
urban and 8+ in rural communities. Standard errors account for the calibration.
"""),
    code("""
from evalkit import crossing, population_margins
from evalkit.spec.registry import load_communities
from evalkit.survey.design import SurveyDesign
registry = load_communities(DATA / "communities.csv")
margins = population_margins(registry, by=("sex", "age_group"), covered=survey)
waves = sorted(survey["wave"].unique())        # every wave is raked to the same population
margins = {f"{k}|wave": {f"{lvl}|{w}": v for lvl, v in m.items() for w in waves} for k, m in margins.items()}
cells = [crossing(survey, ["community_id", var, "wave"]) for var in ("sex", "age_group")]
raked = SurveyDesign(survey.assign(**{c.name: c for c in cells}), weight="base_weight",
                     strata="stratum", psu="psu").rake(margins)
print(raked.weighting_info.summary)"""),
    md("""
**权数诊断 Weighting diagnostics.** g 权数 = 校准后权数 / 设计权数：接近1说明样本结构本来就接近人口；
远离1的权数会增大方差（Kish 的加权设计效应 1 + CV²）。每个社区一行（四个年度合计），以及校准后每个
边际与人口目标的最大相对误差。

g-weight = raked / design weight: values near 1 mean the sample already looked like the
population; far from 1 they cost precision (Kish's weighting design effect 1 + CV² of the
weights, within each community × wave). One row per community, all waves.
"""),
    code("""
g = survey.assign(g=raked.weights / survey["base_weight"].to_numpy(), w=raked.weights)
kish = g.groupby(["community_id", "wave"])["w"].agg(lambda w: 1 + w.var(ddof=0) / w.mean() ** 2)
diag = g.groupby("community_id")["g"].describe()[["count", "min", "50%", "max"]].astype({"count": int})
diag.columns = ["n", "g_min", "g_median", "g_max"]
err = raked.weighting_info.tidy().assign(community_id=lambda d: d["level"].str.split("|").str[0])
diag.assign(kish_deff=kish.groupby("community_id").mean(),
            max_margin_error=err.groupby("community_id")["rel_error"].apply(lambda e: e.abs().max()))"""),
    md("""
## 3. 加权指标 · Weighted indicators by community and wave

`indicator_table` 一次估计每个量表、参与指标和分界段比例（例如“孤独”“可能抑郁”的比例）在每个
社区×年份的加权值、95%置信区间、样本量 n、有效样本量 n_eff（= n / 设计效应）；针对特定人群的指标
（老年人照护、儿童幸福感）只在该人群中估计（作为全样本设计的子域，不丢行）。有效样本量低于30的单元
被标记（`flag_small`），并给出一次 `SmallSampleWarning`。显示的表格经过小单元格抑制：受访者少于10人的
单元格显示为 `[c]`（`evalkit.publish.disclosure.suppress`）。

One call estimates every scale, participation indicator and cut-off band share by community ×
wave on the raked design: estimate, 95% CI, n, effective n (n / design effect) and the design
effect; group-targeted indicators within their group (as domains of the full design). Cells with
an effective sample size below 30 are flagged (`flag_small`), with one `SmallSampleWarning`.
Tables shown go through small-cell suppression: fewer than 10 respondents shows as `[c]`
(`evalkit.publish.disclosure.suppress`, with complementary suppression).
"""),
    code("""
from evalkit import indicator_table
table = indicator_table(survey, codebook, raked)
print(len(table), "rows:", table["indicator"].nunique(), "indicators x", table["community_id"].nunique(),
      "communities x", table["wave"].nunique(), "waves")
cols = ["indicator", "zh", "group", "estimate", "ci_low", "ci_high", "n", "n_eff", "deff", "flag_small"]
from evalkit.publish.disclosure import suppress                      # published tables: small cells hidden
example = table.query("community_id == 'mingyue' and wave == 2017 and n > 0")   # one community-year
suppress(example[example["indicator"].isin(list(codebook.scales))][["community_id", "wave", *cols]].round(3))"""),
    md("""
**被标记的单元 Flagged cells** (n_eff < 30, respondents present): read them with their intervals,
or pool waves. Cells where an indicator has no respondent at all (children's indicators in urban
communities) are flagged too but not listed.
"""),
    code("""
suppress(table[table["flag_small"] & table["n"].gt(0)][["community_id", "wave", "indicator", "estimate",
                                                          "ci_low", "ci_high", "n", "n_eff"]].round(3))"""),
    md("""
**校准改变了多少？ How much does raking move the estimates?** The same table with design weights
only; the change in units of the design-weighted standard error, over all non-empty cells.
"""),
    code("""
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore", evalkit.SmallSampleWarning)   # the same cells as above
    base = indicator_table(survey, codebook)                      # design weights only
shift = ((table["estimate"] - base["estimate"]) / base["se"]).abs().dropna()
print(f"raking moves estimates by {shift.median():.2f} SE (median), {shift.quantile(0.9):.2f} (90th pct), "
      f"{shift.max():.2f} (max) over {len(shift)} cells")"""),
    md("""
## 4. 各社区各年份的指标 · Indicators with error bars, all communities × waves

每幅图：横轴为社区（左侧彩色为7个项目社区，右侧灰色为7个对照社区），每个社区内从左到右依次为
2014–2017年，竖线为95%置信区间。

Each figure: communities along the x axis (programme communities in colour, comparison
communities in grey), the four waves left to right within each, 95% confidence intervals.
"""),
    code("""
from evalkit.publish.style import tr
from evalkit.publish.plots import indicator_plot
shown = table.dropna(subset=["estimate"])      # leave out cells without respondents
for name in ["who5", "participation_any", "grid_awareness", "selforg_member"]:
    lab = codebook.scales[name].label
    fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
    indicator_plot(shown, name, ax=ax, ylabel=tr(lab.zh, lab.en), title=tr(lab.zh, lab.en))"""),
    md("""
针对特定人群的指标只在该人群中估计：60岁以上居民的照护可及性（明月社区项目的目标），
以及8–17岁儿童的 KIDSCREEN-10 幸福感（杨庙社区项目的目标；只有农村社区调查了儿童）。

Group-specific indicators are estimated in their group only: care access among residents 60+
(Mingyue's target) and KIDSCREEN-10 wellbeing of children 8–17 (Yangmiao's target; children were
surveyed in the rural communities only).
"""),
    code("""
for name in ["care_access", "kidscreen10"]:
    lab = codebook.scales[name].label
    fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
    indicator_plot(shown, name, ax=ax, ylabel=tr(lab.zh, lab.en), title=tr(lab.zh, lab.en))"""),
    md("""
**下一步 Next:** `02_programme_impact` 把每个项目社区与自身基线和对照社区比较 · compares each
programme community with its own baseline and with the comparison communities.
"""),
]

DESIGN = """\
import warnings
from evalkit.spec.registry import load_communities, programme_targets
from evalkit.survey.design import SurveyDesign
registry = load_communities(DATA / "communities.csv")
targets = programme_targets(registry)      # the programme theory: which indicators each targets
design = SurveyDesign(survey, weight="base_weight", strata="stratum", psu="psu")"""

# --------------------------------------------------------------------------------------------
NOTEBOOKS["02_programme_impact"] = [
    md("""
# 02 项目效应 · Programme impact

**项目有效吗？** 评估者必须同时给出两个诚实的回答：每个社区相对**自身基线**变化了多少；
其中多少是**项目造成的**——与没有项目的对照社区相比。各社区的项目开始年份不同（2015年或2016年），
所以用交错双重差分（Callaway & Sant'Anna 2021），而不是有偏的双向固定效应回归；只有7个项目社区，
所以p值和置信区间来自随机化推断和野聚类自助法，而不是聚类稳健的正态近似。

Did the programme work? Two answers side by side: how each community moved from its own
baseline, and how much of that move the programme caused, judged against comparison communities.
Starts are staggered (2015 and 2016), so we use staggered difference-in-differences; with seven
programme communities, inference comes from randomization and the wild cluster bootstrap.
Because the data are synthetic, we can check every estimate against the **planted truth**.
"""),
    code(SETUP, "setup"),
    code(LOAD),
    code(DESIGN),
    md("""
## 1. 与自身基线相比 · Change from each community's baseline

每个项目社区所针对的指标在2017年与2014年基线之差；标准误考虑了同一住户被重复访问
（PSU 在各年份保持不变），p 值按 Benjamini–Hochberg 方法在每个社区的指标族内校正。
基线变化不是因果效应：全市的共同趋势也包含在内。

The change of each community's targeted indicators from its 2014 baseline to 2017, with
design-based SEs that account for re-interviewed households, Hedges' g and BH-adjusted p-values.
A change from baseline is not an effect: it also contains the city-wide trend.
"""),
    code("""
from evalkit.baseline import change_from_baseline
change = change_from_baseline(design, sorted(set(targets["indicator"])))
mine = change.merge(targets[["community_id", "indicator"]].drop_duplicates())
mine.query("wave == 2017")[["community_id", "indicator", "baseline_mean", "wave_mean", "estimate",
                            "ci_low", "ci_high", "hedges_g", "p_adjusted"]]"""),
    md("""
## 2. 交错双重差分：项目的总体效应 · Staggered DiD: the programme's pooled effect

`programme_effect` 在社区×年份的设计加权均值面板上估计 Callaway–Sant'Anna ATT（以从未参与项目的
对照社区为对照），p 值与置信区间来自对项目开始年份在14个社区间重新分配的随机化推断。

The pooled effect over the programme communities (overall ATT and by years since the start),
with randomization-inference p-values and test-inverted intervals.
"""),
    code("""
from evalkit.evaluation.impact import programme_effect
indicators = ["participation_ladder", "selforg_member", "bscs", "who5"]
results = [programme_effect(design, indicators[0], registry=registry, seed=SEED)]  # warns once
with warnings.catch_warnings():
    warnings.simplefilter("ignore", evalkit.FewClustersWarning)  # same warning for the others
    results += [programme_effect(design, y, registry=registry, seed=SEED) for y in indicators[1:]]
pd.concat([r.tidy() for r in results]).drop(columns=["method"])"""),
    md("""
## 3. 事件研究 · Event studies, one per programme community

每个项目社区的首要目标指标，以受访者为单位（重复横截面）与7个对照社区比较：粗线为逐点95%置信区间，
细线和浅色带为同时覆盖所有事件时间的一致置信带（乘数自助法，按 PSU 聚类）。项目开始前（e < 0）
的估计是安慰剂检验，应接近0。

Each community's first targeted indicator against the seven comparison communities
(repeated cross-sections, `att_gt`): thick bars are pointwise 95% intervals, the light band the
uniform band over all event times (multiplier bootstrap clustered on PSUs). Pre-programme points
(e < 0) are placebo checks. Rows without an answer are left out (`DroppedUnitsWarning`, expected).
"""),
    code("""
from evalkit.did.core import att_gt, DroppedUnitsWarning
from evalkit.publish.style import community_color, label
from evalkit.publish.plots import event_study_plot
warnings.simplefilter("ignore", DroppedUnitsWarning)
start = registry.set_index("community_id")["start_year"]
data = survey.assign(first_year=survey["community_id"].map(start).fillna(0).astype(int))
fig, axes = plt.subplots(2, 4, figsize=(15, 7), layout="constrained")
for ax, (cid, y, group) in zip(axes.flat, targets.drop_duplicates("community_id").itertuples(index=False)):
    sub = data[((data["community_id"] == cid) | (data["first_year"] == 0))
               & (data["role"].eq(group) if isinstance(group, str) else True)]
    res = att_gt(sub, y=y, group="first_year", time="wave", panel=False, weight="base_weight",
                 cluster="psu", bootstrap=999, seed=SEED)
    event_study_plot(res.aggregate("dynamic"), ax=ax, color=community_color(cid), title=f"{label(cid)} · {y}")
axes.flat[-1].axis("off")
plt.show()"""),
    md("""
## 4. 少聚类推断 · Few-cluster inference

只有14个社区时，常用的聚类稳健标准误（CR1 + 正态临界值）会过度拒绝原假设。下面用同一个双向固定效应
模型比较：CR1 的解析结果与野聚类限制性自助法（WCR，Webb 权重，B = 9999）的结果。

With 14 communities, cluster-robust (CR1) p-values with normal critical values over-reject. The
same two-way fixed-effects model on the community panel, first with CR1, then with the wild cluster
restricted bootstrap (the headline method evalkit picks when clusters are few).
"""),
    code("""
from evalkit.evaluation.impact import community_panel
from evalkit.inference.regress import regress
from evalkit.inference.core import headline
wide = community_panel(design, "participation_ladder")
panel = wide.stack().rename("y").rename_axis(["community_id", "wave"]).reset_index()
panel["treat"] = (panel["wave"] >= panel["community_id"].map(start).fillna(9999).astype(int)).astype(int)
fit = regress("y ~ treat + C(community_id) + C(wave)", panel, cluster="community_id", vcov="CR1")
pd.concat([fit.tidy().query("term == 'treat'").assign(method="CR1 analytic"),
           headline(fit, "treat", seed=SEED)])[["term", "estimate", "se", "p_value", "ci_low", "ci_high", "method"]]"""),
    md("""
## 5. 估计值与真实值 · Estimates next to the planted truth

数据是模拟的，所以我们知道真实效应（`truth.csv`）。`community_effects` 对每个项目社区单独做
双重差分（与对照社区比较），其标准误同时包含抽样误差和社区层面的年度冲击（Ferman & Pinto 2019）。
我们检查95%置信区间是否覆盖真实值——包括没有效应的社区（兴盛）和效应逐渐消退的社区（和平）。

Each community's DiD against the comparison communities (`community_effects`, SEs with sampling
error and community-level shocks), next to the planted effect. The intervals should cover the truth,
including the community with no effect (Xingsheng) and the one whose effect fades (Heping).
"""),
    code("""
from evalkit.comparison import community_effects
effects = community_effects(design, sorted(set(targets["indicator"])), registry=registry)
truth = pd.read_csv(DATA / "truth.csv").query("group != 'elderly'")[["community_id", "wave", "indicator", "att"]]
check = effects.merge(targets[["community_id", "indicator"]].drop_duplicates()).merge(truth)
check = check.assign(truth=check["att"], covered=check["ci_low"].le(check["att"]) & check["att"].le(check["ci_high"]))
print(f"{check['covered'].mean():.0%} of {len(check)} intervals cover the planted effect")
check[["community_id", "indicator", "wave", "estimate", "ci_low", "ci_high", "truth", "covered"]]"""),
    code("""
from evalkit.publish.plots import forest_plot
first = targets.drop_duplicates("community_id")[["community_id", "indicator"]]
latest = check.merge(first).sort_values("wave").groupby("community_id").tail(1)
latest = latest.set_index("community_id").loc[first["community_id"]].reset_index()
ax = forest_plot(latest, truth_col="truth", title="2017: " + ", ".join(first["indicator"]))"""),
    md("""
**解读 Reading.** 置信区间覆盖真实值的比例应接近95%。兴盛社区（没有植入效应）的区间应包含0；
和平社区的效应在第二年明显减弱。

About 95% of intervals should cover the truth; Xingsheng's (no planted effect) should include
zero, and Heping's effect should shrink in its second year. `03_community_profiles` turns these
numbers into one page per community.
"""),
]

# --------------------------------------------------------------------------------------------
NOTEBOOKS["03_community_profiles"] = [
    md("""
# 03 社区档案 · Community profiles

每个项目社区一节：项目理论（它想改变什么）、项目针对的指标、该社区相对自身基线和对照社区在三个项目年度
中的变化轨迹，以及带不确定性的通俗结论。设置下面的 `community` 参数（例如 `"mingyue"`）即可只生成
一个社区的档案，交给该社区的社工机构。

One section per programme community: its programme theory, the indicators it targets, its
trajectory against its own baseline and the comparison communities, and a plain-language verdict
with its uncertainty. Set `community` below (e.g. `"mingyue"`) to render a single community.
"""),
    code('community = None   # None: all seven programme communities; or an id such as "mingyue"',
         "parameters"),
    code(SETUP, "setup"),
    code(LOAD),
    code(DESIGN),
    code("""
from evalkit.publish.report import community_profile, target_estimates
# every target in its own group (e.g. Mingyue's ucla3@elderly among residents 60+ in all communities):
# means by community x wave for the trend figures, per-community DiD (community_effects) for the verdicts
table, effects = target_estimates(design, targets, registry, codebook)
programme = registry.query("role == 'programme'")["community_id"].tolist()
chosen = programme if community is None else [community]"""),
    md("""
**如何阅读 How to read.** 图中彩色线为该社区（阴影为95%置信区间），点线为其2014年基线，
灰色细线为7个对照社区；竖虚线为项目开始。结论比较的是：与对照社区同期的变化相比，该社区自基线以来
多变化了多少（双重差分），并给出95%置信区间和 p 值；区间不含0才判为“改善”或“变差”。针对特定人群的
指标（如明月社区60岁以上居民的孤独感）在项目社区和对照社区都只在该人群中估计和判断。p 值说明有多大
把握：低于0.01很有把握，0.01–0.05较有把握，0.05–0.10把握不足，高于0.10无法与“没有变化”区分。

Coloured line: the community (shaded: 95% CI); dotted: its 2014 baseline; thin grey lines: the
comparison communities; vertical dotted line: programme start. An indicator targeted at a group
(e.g. Mingyue's loneliness *among residents 60+*) is shown and judged in that group, in the
programme community and in the comparison communities alike. The verdict is the
difference-in-differences against the comparison communities (`community_effects`: its standard
error adds community-level year-to-year shocks to the sampling error) with its 95% interval and
p-value; only an interval that excludes zero counts as *improved* or *worsened*, and the p-value
says how sure we are: below 0.01 strong evidence, 0.01–0.05 moderate, 0.05–0.10 weak, above 0.10
the data cannot tell the change apart from none. Proportions are in percentage points (pp).
"""),
    code("""
for cid in chosen:
    community_profile(cid, table=table, effects=effects, registry=registry, codebook=codebook,
                      targets=targets)"""),
]

# --------------------------------------------------------------------------------------------
NOTEBOOKS["04_robustness"] = [
    md("""
# 04 稳健性检验 · Robustness: would the conclusions change?

`02` 和 `03` 的结论建立在一组选择之上：哪些社区作对照、用哪种估计方法、怎样做推断。
这本笔记本逐一改变这些选择，看项目所针对的指标上的结论是否站得住：
去掉一个社区重算（留一法）；用“尚未开始项目”的社区补充对照组；检验项目开始前的趋势是否平行；
用少聚类回归和随机化推断重新检验；以及混合效应模型。

The conclusions of `02` and `03` rest on choices: which communities serve as comparisons, which
estimator, which inference. Here we change them one at a time, for the indicators the programmes
set out to change: leave one community out; add not-yet-treated communities to the comparison
group; test for parallel pre-programme trends; re-test with few-cluster regression inference and
randomization; and fit a mixed-effects model.
"""),
    code(SETUP, "setup"),
    code(LOAD),
    code(DESIGN),
    md("""
## 0. 检验哪些估计 · Which estimates we check

项目理论按指标整理：每个指标由哪些项目社区针对（`指标@人群` 表示只在该人群中估计，如明月社区的
`ucla3@elderly`：老年人的孤独感）。每项检验只用**针对该指标的项目社区**和7个对照社区——
没有针对它的项目社区既不算处理组，也不算对照组。

The programme theory by indicator: which programme communities target it (`indicator@group`:
measured within that group, e.g. Mingyue's `ucla3@elderly`, loneliness of residents 60+). Every
check uses the programme communities that target the indicator and the seven comparison
communities; programme communities that did not target it are left out, not used as comparisons.
`primary` marks each community's first-named target.
"""),
    code("""
from evalkit.publish.report import targeted_indicators
focus = targeted_indicators(targets, registry, codebook)
focus[["target", "communities", "start_years", "n_communities", "primary"]]"""),
    md("""
## 1. 留一法 · Leave one community out

每次去掉一个社区，重新估计项目的总体效应（交错双重差分，`programme_effect`），p 值和置信区间来自
随机化推断（`leave_one_out` 对此给出 `FewClustersWarning`，下面不再重复显示）。
如果结论只靠某一个社区撑着，去掉它后结论就会改变。只有一个项目社区针对的指标，去掉该社区后无法估计，
所以只去掉对照社区。

The pooled effect re-estimated with each community left out in turn (staggered DiD with
randomization-inference p-values and intervals; `leave_one_out` says so in a
`FewClustersWarning`, silenced here). `conclusion_holds`: every refit's 95% interval lies on the
same side of zero as the full one (or all include zero). Where a single programme community
targets the indicator, only comparison communities can be left out.
"""),
    code("""
from evalkit.publish.report import leave_one_out_summary
checks = focus[focus["primary"]]                      # each community's first-named target
with warnings.catch_warnings():
    warnings.simplefilter("ignore", evalkit.FewClustersWarning)
    loo = pd.concat([evalkit.leave_one_out(design, f.indicator, registry=registry, domain=f.domain, seed=SEED)
                     .assign(target=f.target) for f in checks.itertuples()], ignore_index=True)
leave_one_out_summary(loo)"""),
    code("""
from evalkit.publish.plots import leave_one_out_plot
fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), layout="constrained")
for ax, (name, rows) in zip(axes.flat, loo.groupby("target", sort=False)):
    leave_one_out_plot(rows, ax=ax, registry=registry, title=name)
plt.show()"""),
    md("""
**解读 Reading.**
- **参与阶梯**（安宁、胜兴）：全部社区的估计约 +0.36（p = 0.06）。去掉安宁后降到约 0，去掉胜兴后升到约
  0.6——总体效应主要来自安宁社区；去掉任何一个对照社区，估计几乎不变。
- **自组织参与**（胜兴、和平）：约 +0.15，区间不含0；去掉任何一个对照社区都稳定。`conclusion_holds`
  为 False 只因为去掉一个项目社区后只剩一个：随机化推断此时只有8种分配，在5%水平上无法拒绝。
- **只有一个项目社区针对的指标**（网格员知晓、凝聚力、老年人孤独感、儿童幸福感）：随机化推断的 p 值
  不可能低于 1/8（儿童指标 1/4），所以区间无界——单个社区的判断要看 `03` 的 `community_effects`。
  留一法在这里说明的是：去掉任何一个对照社区，点估计变化很小；只有儿童幸福感例外（只有3个农村对照村，
  估计在 3.3 到 8.0 之间变动）。

*Participation ladder* (Anning, Shengxing): about +0.36 (p = 0.06); without Anning it falls to about
0, without Shengxing it rises to about 0.6 — the pooled effect is Anning's. No comparison community
moves it. *Self-organisation membership* (Shengxing, Heping): about +0.15, interval above zero,
stable when any comparison community is left out; `conclusion_holds` is False only because with
one programme community left, randomization inference has eight assignments and cannot reject at
5%. *Single-community targets*: randomization p-values cannot fall below 1/8 (1/4 for the children's
indicator), so the intervals are unbounded — judge single communities by `community_effects` in
`03`. What leave-one-out shows here is that no comparison community drives the point estimate,
except for children's wellbeing, which has only three rural comparison villages (3.3 to 8.0).
"""),
    md("""
## 2. 尚未参与项目的社区作对照 · Not-yet-treated communities as controls

有的项目社区2015年开始，有的2016年开始。2015年时，2016年才开始的社区还没有项目，也可以充当对照
（`control="notyet"`，R `did` 的 `"notyettreated"`）。如果两种对照组给出相近的估计，结论就不取决于
对照组的选择。这里用受访者层面的重复横截面数据（`att_gt(..., panel=False)`，抽样权数
`base_weight`，按社区聚类），对由一个以上项目社区针对的指标估计。

Programmes started in 2015 or 2016, so in 2015 the 2016 starters can serve as comparisons too
(`control="notyet"`). Respondent-level repeated cross-sections, weighted by `base_weight`,
clustered by community, for the indicators targeted by more than one programme community (only
they mix start years). Rows without an answer are left out (`DroppedUnitsWarning`, expected).
"""),
    code("""
from evalkit.did.core import att_gt, DroppedUnitsWarning
warnings.simplefilter("ignore", DroppedUnitsWarning)
start = registry.set_index("community_id")["start_year"]
data = survey.assign(first_year=survey["community_id"].map(start).fillna(0).astype(int))
data["treated"] = (data["first_year"].gt(0) & data["wave"].ge(data["first_year"])).astype(int)
several = focus[focus["n_communities"] > 1]           # targets of more than one programme community
fits, rows = {}, []
for f in several.itertuples():
    sub = data[data["community_id"].isin(f.domain["community_id"])]
    for control in ["never", "notyet"]:
        fits[f.target, control] = res = att_gt(sub, y=f.indicator, group="first_year", time="wave", panel=False,
                                               weight="base_weight", cluster="community_id", control=control)
        rows.append(res.aggregate("simple").overall().assign(target=f.target, control=control))
pd.concat(rows)[["target", "control", "att", "se", "ci_low", "ci_high"]]"""),
    code("""
from evalkit.publish.style import tr
from evalkit.publish.plots import event_study_plot
fig, axes = plt.subplots(2, len(several), figsize=(4.2 * len(several), 7), layout="constrained", sharey="col")
for j, target in enumerate(several["target"]):
    for i, (control, name) in enumerate([("never", tr("从未参与", "never-treated")),
                                         ("notyet", tr("尚未参与", "not-yet-treated"))]):
        event_study_plot(fits[target, control].aggregate("dynamic"), ax=axes[i, j], title=f"{target} · {name}")
plt.show()"""),
    md("""
**解读 Reading.** 两种对照组的估计几乎相同（差别不超过0.01）：2015年时，2016年开始的社区只在7个
从未参与的社区之外多加了一个对照（例如胜兴之于安宁）；自组织参与的两个项目社区都在2016年开始，
没有“尚未参与”的社区，两种估计按定义相同。结论不取决于对照组的选择。注意：这里的区间按社区聚类，
每个开始年份只有一两个项目社区，区间过窄（例如参与阶梯 e = 2 只来自安宁一个社区）；结论的不确定性
以 `02` 的随机化推断和 `03` 的 `community_effects` 为准。

The two control groups give practically the same estimates (differences ≤ 0.01): in 2015 the
2016 starters add one comparison community to the seven never-treated ones (e.g. Shengxing for
Anning), and both self-organisation communities started in 2016, so there is no not-yet-treated
community and the two estimates are identical by construction. The choice of control group does
not drive the results. These intervals are clustered on communities with one or two programme
communities per start year and are too narrow (participation at e = 2 rests on Anning alone): for
uncertainty, rely on the randomization inference of `02` and `community_effects` in `03`.
"""),
    md("""
## 3. 平行趋势的预检验 · Pre-trend test

双重差分的前提是：如果没有项目，项目社区和对照社区会平行变化。项目开始前的“效应”（安慰剂估计）
应为0；Wald 检验同时检验所有项目前的估计（R `did` 的 pre-test）。只有2016年开始的社区有项目前的
变化（2014→2015）可以检验。

DiD assumes that without the programme, programme and comparison communities would have moved in
parallel. Before the start the "effects" (placebo estimates) should be zero; the Wald pre-test
tests all of them at once (R `did`'s pre-test). Only the 2016 starters have a pre-programme change
(2014 to 2015) to test.
"""),
    code("""
pd.concat([fits[key].pretrend_test().tidy().assign(target=key[0], control=key[1]) for key in fits],
          ignore_index=True)[["target", "control", "test", "stat", "df", "p_value"]]"""),
    md("""
这个 Wald 检验的协方差按社区聚类，而每组只有一两个项目社区：聚类太少时它会低估不确定性（与 `02`
中 CR1 的问题相同），也看不到社区层面的年度冲击。更可靠的安慰剂检验来自随机化推断：`programme_effect`
对项目开始前一年（e = −1）的估计，p 值来自重新分配项目开始年份。

The Wald test's covariance is clustered by community, with one or two programme communities per
start year: with so few clusters it understates the uncertainty (the CR1 problem of `02`) and it
cannot see community-level shocks. The placebo estimate at e = −1 from `programme_effect`, with a
randomization-inference p-value, is the check that holds with few communities:
"""),
    code("""
from evalkit.evaluation.impact import programme_effect
with warnings.catch_warnings():
    warnings.simplefilter("ignore", evalkit.FewClustersWarning)
    placebo = pd.concat([programme_effect(design, f.indicator, registry=registry, domain=f.domain, seed=SEED)
                         .tidy().assign(target=f.target) for f in several.itertuples()])
placebo.query("event_time < 0")[["target", "event_time", "estimate", "p_value", "ci_low", "ci_high", "n_assignments"]]"""),
    md("""
**解读 Reading.** 聚类 Wald 检验对归属感（bscs）和自组织参与拒绝了平行趋势（p < 0.001），但随机化推断
下项目开始前一年的安慰剂估计都与0没有可区分的差别（p 在0.14到0.86之间）：Wald 检验的“拒绝”来自聚类
太少，不是趋势不平行的证据。诚实的结论是：**没有证据表明项目前趋势不同**，但检验能力有限——只有
2016年开始的社区有一个项目前年度（2014→2015），2015年开始的社区没有项目前的变化可以检验，平行趋势
对它们只是假设。自组织参与在项目前一年略有下降（−0.07，区间含0）；如果这是一次性的冲击，以2015年为
基期的效应会被高估至多约这么多。

The clustered Wald test rejects for belonging (bscs) and self-organisation (p < 0.001), while
none of the placebo estimates one year before the start differs detectably from zero under
randomization inference (p from 0.14 to 0.86): the Wald rejections come from too few clusters,
not from diverging trends. Honestly put: **no evidence of different pre-programme trends**, with
little power — only the 2016 starters have one pre-programme year (2014 to 2015); for the 2015
starters parallel trends is an assumption the data cannot test. Self-organisation dipped slightly
the year before the start (−0.07, interval includes 0); were that a one-off shock, effects measured
from 2015 would be overstated by up to about that much.
"""),
    md("""
## 4. 少聚类回归与随机化推断 · The few-cluster regression view

同样的指标，用受访者层面的双向固定效应回归（社区和年份固定效应）估计，比较三种推断：CR2 聚类稳健
标准误（Bell–McCaffrey，Satterthwaite 自由度）；野聚类限制性自助法（WCR，`headline` 在聚类少时自动
选用并给出 `FewClustersWarning`）；以及对哪些社区接受项目的随机化推断。注意：在交错开始时，双向
固定效应的点估计本身可能有偏（它把早开始的社区当作晚开始社区的对照）；这里比较的是推断方法。

The same indicators by two-way fixed-effects regression on respondents (community and wave fixed
effects, weighted), with three kinds of inference: CR2 cluster-robust SEs with Satterthwaite df;
the wild cluster restricted bootstrap (what `headline` picks when clusters are few, with a
`FewClustersWarning`); and randomization inference over which communities got the programme.
With staggered starts the TWFE point estimate itself can be biased (early starters serve as
controls for late ones); the point here is the inference.
"""),
    code("""
from evalkit.inference.core import headline, randomization_test
from evalkit.inference.regress import regress
rows = []
for k, f in enumerate(several.itertuples()):
    d = data[data["community_id"].isin(f.domain["community_id"])].dropna(subset=[f.indicator])
    formula = f"{f.indicator} ~ treated + C(community_id) + C(wave)"
    fit = regress(formula, d, cluster="community_id", vcov="CR2", weights="base_weight")
    ri = randomization_test(d, formula=formula, treatment="treated", cluster="community_id", time="wave",
                            weights="base_weight", seed=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if k else "default", evalkit.FewClustersWarning)  # shown once
        rows += [fit.tidy().query("term == 'treated'").assign(method="CR2, Satterthwaite t"),
                 headline(fit, "treated", seed=SEED), ri.tidy().assign(estimate=fit.params["treated"])]
view = pd.concat(rows, ignore_index=True).assign(target=several["target"].repeat(3).to_numpy())
view[["target", "estimate", "p_value", "ci_low", "ci_high", "method"]]"""),
    md("""
**解读 Reading.** 三种推断方法的结论一致：只有自组织参与与0有明确区别（CR2 p = 0.02，WCR p = 0.004，
随机化 p = 0.03）；参与阶梯、志愿参与和归属感都不能与0区分（p 在0.17到0.53之间）——尽管上面 `att_gt`
按社区聚类的区间对志愿参与和归属感不含0。只有两个项目社区时，即使是模拟中真实存在的效应，也难以与社区
层面的年度波动区分开；少聚类推断如实地反映了这一点。双向固定效应的点估计比交错双重差分略小
（参与阶梯 0.31 对 0.37，志愿参与 0.05 对 0.07），与效应随时间增长时 TWFE 的已知偏差方向一致。

The three kinds of inference agree: only self-organisation membership is clearly different from
zero (CR2 p = 0.02, WCR p = 0.004, randomization p = 0.03); participation, volunteering and
belonging are not (p from 0.17 to 0.53), although `att_gt`'s community-clustered intervals above
exclude zero for volunteering and belonging. With two programme communities even effects that
are really there in the simulation are hard to tell apart from community-level year-to-year
swings, and few-cluster inference says so. The TWFE estimates are a little smaller than the
staggered DiD ones (participation 0.31 vs 0.37, volunteering 0.05 vs 0.07), the direction of
TWFE's known bias when effects grow over time.
"""),
    md("""
## 5. 混合效应模型 · The mixed model (one indicator)

混合效应模型给社区和受访者各一个随机截距（受访者嵌套在社区内），用在所有四年都接受访问的住户
（平衡面板）。这里只对一个指标拟合：明月社区老年人的孤独感（`ucla3@elderly`，UCLA 3 项孤独量表，
3–9分，分数越高越孤独），并与 `community_effects` 对明月社区的逐年双重差分并列。

A linear mixed model with random intercepts for community and for respondent within community, on
the respondents interviewed in all four waves (balanced panel). One indicator only: loneliness of
Mingyue's residents 60+ (`ucla3@elderly`, UCLA 3-item scale 3–9, higher = lonelier), next to
Mingyue's per-year DiD from `community_effects` on the same group.
"""),
    code("""
from evalkit.comparison import community_effects
m = focus.set_index("target").loc["ucla3@elderly", "domain"]
elderly = survey[survey["community_id"].isin(m["community_id"]) & survey["role"].isin(m["role"])]
evalkit.mixed_model(elderly, "ucla3", registry=registry)      # the elderly panel: a few seconds"""),
    code("""
did = community_effects(design, "ucla3", registry=registry, domain={"role": m["role"]})
did.query("community_id == 'mingyue'")[["wave", "event_time", "estimate", "se", "se_shock", "ci_low", "ci_high", "p_value"]]"""),
    md("""
**解读 Reading.** 混合模型估计：项目开始后，明月社区60岁以上居民的孤独感平均下降约0.68分（95% CI −1.08
到 −0.27），与双重差分的方向和大小一致（2015–2017年分别为 −0.28、−1.27、−1.03）。它的区间更窄，
但不应据此更有把握：随机截距允许每个社区有自己的水平，却不允许有自己的年度冲击（`community_effects`
从对照社区估计了这部分，`se_shock` ≈ 0.29），而且它只用了四年都接受访问的225位老人。混合模型确认了
方向；不确定性以双重差分为准。

The mixed model estimates that loneliness among Mingyue's residents 60+ fell by about 0.68 points
after the programme started (95% CI −1.08 to −0.27), the same direction and size as the DiD (−0.28,
−1.27, −1.03 in 2015–2017). Its interval is narrower, but that is no reason to be surer: random
intercepts let each community have its own level, not its own year-to-year shocks (which
`community_effects` estimates from the comparison communities, `se_shock` ≈ 0.29), and it uses only
the 225 older residents interviewed in all four waves. The mixed model confirms the direction; the
DiD gives the uncertainty.
"""),
    md("""
## 小结 · What the checks say

- **对照社区 Comparison communities:** 没有哪个对照社区单独决定结论；儿童指标例外，只有3个农村对照村
  · no single comparison community drives an estimate, except for the children's indicator
  (three rural comparison villages only).
- **项目社区 Programme communities:** 参与阶梯的总体效应主要来自安宁 · the pooled participation
  effect is Anning's; Shengxing's is small.
- **对照组 Control group:** 用尚未参与的社区作对照，结论不变 · not-yet-treated controls give the
  same answers.
- **平行趋势 Pre-trends:** 随机化推断下没有项目前趋势不同的证据，但只有2016年开始的社区可以检验，
  且只有一年 · no evidence of diverging pre-trends under randomization inference; testable for the
  2016 starters only, over one year.
- **推断 Inference:** 按社区聚类的解析区间在社区很少时过窄；野聚类自助法与随机化推断一致 ·
  community-clustered analytic intervals are too narrow with so few communities; the wild bootstrap
  and randomization inference agree with each other.
- **模型 Model:** 混合模型与双重差分方向一致，但其更窄的区间不可信 · the mixed model agrees in
  direction; its narrower interval is not to be trusted.
"""),
]

# --------------------------------------------------------------------------------------------
#: The platform-style demo export of 05_your_data (written by make_demo_export, not by hand).
DEMO_EXPORT = HERE.parent / "evalkit" / "datasets" / "dongying" / "raw" / "wjx_export_demo.xlsx"
DEMO_COMMUNITIES = ("mingyue", "wenyuan", "qingfeng", "huimin", "zhenhua")


def make_demo_export(path: Path = DEMO_EXPORT, per_cell: int = 60, seed: int = 2017) -> Path:
    """Write the 问卷星-style demo export that ``05_your_data`` reads.

        .venv/bin/python notebooks/build_notebooks.py --demo-export

    ``per_cell`` respondents per community and wave are drawn (seeded) from the shipped
    ``survey.csv`` of :mod:`evalkit.datasets` for Mingyue and the four urban comparison communities, and written by
    :func:`evalkit.io.exports.to_wjx_excel` as a 问卷星 download looks: metadata columns 序号,
    提交答卷时间, 所用时间, headers "<n>、<Chinese question text>", answers as option text,
    skipped questions as "(跳过)". Three cells are then spoiled the way real exports are, so that
    validation has something to find: an age written in words, an answer text that is not an
    option of its item, and a survey year that does not exist. All answers are synthetic.
    """
    from evalkit.io.exports import to_wjx_excel
    from evalkit.io.read import read_survey

    survey = read_survey(DEMO_EXPORT.parent.parent / "survey.csv", personal_data="ignore")
    part = survey[survey["community_id"].isin(DEMO_COMMUNITIES)]
    rows = [g.sample(n=min(per_cell, len(g)), random_state=seed) for _, g in
            part.groupby(["community_id", "wave"], sort=True)]
    demo = pd.concat(rows).reset_index(drop=True)
    demo.loc[3, "age"] = "六十五"            # an age in words
    demo.loc[10, "who5_1"] = "不清楚"        # not an answer option (the codebook's is 不知道)
    demo.loc[20, "wave"] = "2019"            # a wave the codebook does not know
    path.parent.mkdir(parents=True, exist_ok=True)
    return to_wjx_excel(demo, path)


NOTEBOOKS["05_your_data"] = [
    md("""
# 05 用你自己的数据 · Your own data

这本笔记本说明评估者怎样把整套分析指向自己的调查导出文件：在**一个参数单元格**里写明导出文件、
编码手册、社区登记表、列名对照和化名密钥所在的环境变量，然后从上到下运行——读取 → 个人信息检查 →
校验 → 计分 → 抽样设计 → 指标 → 社区效应。用 papermill 也可以直接传参数（单元格带 `parameters` 标签）：
`papermill 05_your_data.ipynb out.ipynb -p export_path my_export.xlsx -p community anning`。

How an evaluator points the whole analysis at their own export: set the parameters in **one
cell** (export file, codebook, community registry, column map, the environment variable that holds
the pseudonym key), then run top to bottom: read → personal-data check → validate → score →
design → indicators → community effects. The cell is tagged `parameters`, so papermill (or
`evalkit.publish.report.execute_notebook(..., parameters={...})`) can set them from outside.

**The demo export.** `raw/wjx_export_demo.xlsx` of the shipped example (`evalkit.datasets`) is a 问卷星-style Excel download (metadata
columns, numbered Chinese question texts as headers, option texts as answers, "(跳过)" for skipped
questions) for Mingyue and four urban comparison communities, 60 respondents per community and
wave, with three cells spoiled on purpose. It is written from the synthetic survey by
`make_demo_export()` in `notebooks/build_notebooks.py`
(`.venv/bin/python notebooks/build_notebooks.py --demo-export`), never edited by hand.

**What you need.** *Codebook*: copy the shipped `codebook.yaml` (`evalkit.datasets.data_path("codebook.yaml")`) and edit items, codes and scales to your
questionnaire. *Registry*: one row per community with its role (programme/comparison), start year,
targeted indicators (`indicator@group` to measure within a group) and population by sex and age.
*Export*: the design fields (`stratum`, `psu`, `base_weight`) must be in it — ask the fieldwork team.
"""),
    code('''
from evalkit.datasets import data_path           # the shipped example; put your own paths instead
export_path = data_path("raw/wjx_export_demo.xlsx")  # your export, e.g. "my_export.xlsx"
export_format = "wjx"           # "wjx" (问卷星/腾讯问卷 Excel), "kobo" (KoboToolbox CSV) or "csv" (evalkit layout)
codebook_path = data_path("codebook.yaml")         # your codebook
registry_path = data_path("communities.csv")       # your communities: role, start year, targets, population
column_map = {}                 # {export header or question number: codebook name}, where matching by text fails
pseudonym_key_env = "EVALKIT_PSEUDONYM_KEY"        # environment variable holding your secret pseudonym key
community = "mingyue"           # the programme community to report on''', "parameters"),
    code(SETUP, "setup"),
    md("""
## 1. 读取 · Read the export

读取器把导出文件的列对应到编码手册（先看 `column_map`，再按变量名和中英文题目文字自动匹配），把选项
文字换成编码手册的答案代码；不在编码手册中的列（平台的序号、提交时间、IP 地址等）不读入，只列出列名。

The reader maps the export's columns to the codebook (the `column_map` first, then by name and by
the Chinese or English question text) and turns option text into the codebook's codes. Columns the
codebook does not know (the platform's serial number, submission time, IP address ...) are not
read in; only their headers are listed.
"""),
    code("""
from evalkit.spec.codebook import load_codebook
from evalkit.spec.registry import load_communities, programme_targets
from evalkit.io.exports import read_kobo, read_wjx
from evalkit.io.read import read_survey
codebook, registry = load_codebook(codebook_path), load_communities(registry_path)
if export_format == "csv":
    raw = read_survey(export_path, codebook, column_map=column_map)
else:
    raw = {"wjx": read_wjx, "kobo": read_kobo}[export_format](export_path, column_map, codebook)
print(f"{len(raw)} rows; {raw.shape[1]} columns mapped to the codebook")
print("not read (not in the codebook):", raw.attrs.get("unmapped", []))"""),
    md("""
## 2. 个人信息 · Personal data

分析不需要任何能识别居民的信息。读取时已经检查过：如果某一列像姓名、手机号、身份证号、地址或联系方式
（按列名和内容判断），读取器会拒绝文件并说明是哪一列（不显示其值）。受访者和住户编号再换成带密钥的
化名（HMAC-SHA256）：同一编号在各年份得到同一化名，面板仍能连接，但没有密钥无法还原。密钥放在
`pseudonym_key_env` 指定的环境变量中（每个项目生成一次，放在仓库和输出之外，各年份用同一个）；
没有设置时只为本次运行生成一个临时密钥——本次运行内面板照样连接，但与以后的导出无法对应。

The analysis needs nothing that identifies a resident. Reading already checked every kept column:
one that looks like names, phone numbers, citizen ID numbers, addresses or contacts (by header or
content) makes the reader refuse the file, naming the column, never the value. Respondent and
household ids are then replaced by keyed pseudonyms (HMAC-SHA256): the same id gets the same
pseudonym in every wave, so the panel still links, and without the key nothing can be reversed.
Keep the key in the environment variable named by `pseudonym_key_env` (one key per project, outside
the repository and the outputs, the same for every wave). Without it a one-off key is made for this
run: the panel links within the run, but not with later exports.
"""),
    code("""
import os
import secrets
from evalkit.io.privacy import check_personal_data, pseudonymise
raw = check_personal_data(raw)      # raises PersonalDataError naming any identifying column
key = os.environ.get(pseudonym_key_env) or secrets.token_hex(32)
raw = pseudonymise(raw, ["respondent_id", "household_id"], key=key)
print("personal-data check passed; respondent and household ids replaced by keyed pseudonyms")"""),
    md("""
## 3. 校验 · Validate

每一行要么有效、要么被隔离，一行不丢；问题表给出行号（与 Excel 中一致）、列、值和规则，识别信息不显示。

Every row leaves as valid or quarantined; the problems table gives the spreadsheet row, column,
value and the rule broken (identifying values withheld).
"""),
    code("""
from evalkit.publish.report import problems_table
from evalkit.io.validate import validate
checked = validate(raw, codebook)
print(checked.describe())
problems_table(checked, codebook)"""),
    md("""
## 4. 计分与抽样设计 · Score and design

量表按编码手册中公布的计分规则计分；抽样设计与 `01` 相同（社区为层，楼栋或村民小组为初级抽样单元，
设计权数）。

Scales are scored by the codebook's published rules; the design is that of `01` (strata =
communities, PSUs = buildings or villager groups, design weights).
"""),
    code("""
from evalkit.survey.design import SurveyDesign
from evalkit.measure.scales import score
survey = score(checked.valid, codebook)
design = SurveyDesign(survey, weight="base_weight", strata="stratum", psu="psu")
print(f"{len(survey)} respondents in {survey['stratum'].nunique()} strata and {survey['psu'].nunique()} PSUs, "
      f"waves {', '.join(str(w) for w in sorted(survey['wave'].unique()))}")"""),
    md("""
## 5. 指标 · Indicators

该社区项目所针对的指标，在各社区最近一年的加权估计（`indicator_table`：估计值、95%置信区间、n、
有效样本量）；有效样本量低于30的单元格被标记。发布的表格经过小单元格抑制（`evalkit.publish.disclosure.suppress`）：
受访者少于10人的单元格显示为 `[c]`，并抑制必要的补充单元格，使其无法从合计中推算出来。这里的 `ucla3` 是全体成年居民的；项目针对的是60岁以上
居民，第6节在该人群中估计。

The indicators the community's programme targets, by community, latest wave (`indicator_table`:
estimate, 95% CI, n, effective n); cells with an effective sample size below 30 are flagged.
Published tables go through small-cell suppression (`evalkit.publish.disclosure.suppress`): a cell of
fewer than 10 respondents shows as `[c]`, with complementary cells suppressed so that it cannot be
recovered from totals. `ucla3`
here covers all adults; the programme targets residents 60+, which section 6 estimates.
"""),
    code("""
from evalkit import indicator_table
from evalkit.publish.disclosure import suppress
targets = programme_targets(registry)
mine = targets[targets["community_id"] == community]
table = indicator_table(survey, codebook, design, indicators=sorted(set(mine["indicator"])), bands=False)
latest = table[table["wave"] == table["wave"].max()]
cols = ["community_id", "wave", "indicator", "estimate", "ci_low", "ci_high", "n", "n_eff", "flag_small"]
suppress(latest[cols].round(3), n_col="n", threshold=10)    # fewer than 10 respondents: shown as [c]"""),
    md("""
## 6. 社区效应 · The community's effects

与 `03` 相同：每个目标指标在其目标人群中估计，相对对照社区的双重差分、95%置信区间、p 值，以及通俗的结论。
只有4个对照社区、每个社区每年60人时，区间很宽——这正是诚实的结论；用完整调查数据（`03`：每个社区每年
约300人、7个对照社区），同样的指标显示出明确的改善。

As in `03`: each targeted indicator in its target group, the DiD against the comparison
communities with its 95% interval and p-value, and a plain-language verdict. With four comparison
communities and 60 respondents per community and year the intervals are wide — the honest
answer for data this size. On the full survey (`03`: about 300 respondents per community and
year, seven comparison communities) the same indicators show clear improvements.
"""),
    code("""
from evalkit.publish.report import community_profile, target_estimates
tbl, effects = target_estimates(design, mine, registry, codebook)
community_profile(community, table=tbl, effects=effects, registry=registry, codebook=codebook, targets=mine)"""),
]


def _cells(name: str, spec: list[dict]) -> list:
    cells = []
    for k, c in enumerate(spec):
        cid = f"{name.split('_')[0]}-{k:02d}"
        if c["cell_type"] == "markdown":
            cell = nbformat.v4.new_markdown_cell(c["source"], id=cid)
        else:
            n_lines = c["source"].count("\n") + 1
            if n_lines > MAX_CODE_LINES:
                raise SystemExit(f"{name} cell {k}: {n_lines} lines of code; move logic into evalkit.")
            cell = nbformat.v4.new_code_cell(c["source"], id=cid)
            if c["tags"]:
                cell.metadata["tags"] = c["tags"]
        cells.append(cell)
    return cells


def build(name: str, execute: bool = True) -> float:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nb.cells = _cells(name, NOTEBOOKS[name])
    t0 = time.perf_counter()
    if execute:
        NotebookClient(nb, timeout=900, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(HERE)}}).execute()
        nb.metadata["language_info"] = {"name": "python"}  # drop the version-specific details
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
    nbformat.validate(nb)
    nbformat.write(nb, str(HERE / f"{name}.ipynb"))
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    if "--demo-export" in argv:
        print(f"wrote {make_demo_export()}")
        return 0
    execute = "--no-execute" not in argv
    wanted = [a for a in argv if not a.startswith("--")]
    names = [n for n in NOTEBOOKS if not wanted or any(n == w or n.startswith(w + "_") for w in wanted)]
    for name in names:
        secs = build(name, execute)
        print(f"{name}.ipynb {'executed' if execute else 'written'} in {secs:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
