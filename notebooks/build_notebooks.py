"""Build the numbered evalkit notebooks from their cell sources, then execute them.

    .venv/bin/python notebooks/build_notebooks.py              # all notebooks
    .venv/bin/python notebooks/build_notebooks.py 00 01        # some (by number or name)
    .venv/bin/python notebooks/build_notebooks.py --no-execute # write without outputs

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
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
MAX_CODE_LINES = 15

SETUP = """\
from pathlib import Path
import pandas as pd
import matplotlib.pyplot as plt
import evalkit
from evalkit.report import setup_notebook
SEED = setup_notebook(lang="zh")   # display options, warnings, Chinese figure font
DATA = Path("../data")             # the shipped data, relative to this notebook"""

LOAD = """\
from evalkit.codebook import load_codebook
from evalkit.read import read_survey
from evalkit.validate import validate
from evalkit.scales import score
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
from evalkit.codebook import load_codebook
from evalkit.read import read_survey
from evalkit.validate import validate
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

真实的导出文件很少干净。`data/raw/messy_export_gbk.csv` 是中文 Excel 存成的 GBK 编码文件，
故意包含：用中文名称写的社区（可以映射）、一个不存在的社区、错误的答案代码、文本写在数字列里、
一个“不知道”代码、问错了对象的儿童题、缺失的受访者编号、不存在的调查年份和一个重复受访者。

The messy export is read with its encoding detected (GBK) and checked against the same codebook.
"""),
    code("""
from evalkit.report import problems_table
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
from evalkit.report import sample_sizes
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
from evalkit.reliability import reliability
rel = reliability(survey, codebook)
rel[["scale", "k", "n", "alpha", "ci_low", "ci_high", "omega_total", "flag"]]"""),
    code("""
from evalkit.plots import reliability_plot
ax = reliability_plot(rel)"""),
    md("""
## 2. 加权指标 · Weighted indicators by community and wave

抽样设计：以社区为层、楼栋或村民小组为初级抽样单元（PSU）的分层两阶段抽样，权数为入样概率的倒数。
每个指标、每个社区×年份的加权估计、95%置信区间、样本量 n 和有效样本量 n_eff 由一次调用得到；
标准误按泰勒线性化计算（与 R 的 survey 包相同）。

The design: stratified (community) two-stage sample, PSUs = buildings or villager groups, design
weights = 1 / selection probability. One call estimates every indicator by community × wave with
Taylor-linearised standard errors (as R's `survey`), n and effective n.
"""),
    code("""
from evalkit.design import SurveyDesign
design = SurveyDesign(survey, weight="base_weight", strata="stratum", psu="psu")
table = design.mean(list(codebook.scales), by=["community_id", "wave"])
print(len(table), "estimates:", table["variable"].nunique(), "indicators x",
      table["community_id"].nunique(), "communities x", table["wave"].nunique(), "waves")
table.head()"""),
    md("""
有效样本量低于30的估计不够稳定，报告中应谨慎解读（多为小群体指标，如农村社区的老年人照护指标）：

Estimates resting on an effective sample size below 30 are unstable; read them with care.
"""),
    code("""
table[table["n_eff"] < 30][["community_id", "wave", "variable", "estimate", "ci_low", "ci_high", "n", "n_eff"]]"""),
    md("""
## 3. 各社区各年份的指标 · Indicators with error bars, all communities × waves

每幅图：横轴为社区（左侧彩色为7个项目社区，右侧灰色为7个对照社区），每个社区内从左到右依次为
2014–2017年，竖线为95%置信区间。

Each figure: communities along the x axis (programme communities in colour, comparison
communities in grey), the four waves left to right within each, 95% confidence intervals.
"""),
    code("""
from evalkit.fonts import tr
from evalkit.plots import indicator_plot
for name in ["who5", "participation_any", "grid_awareness", "selforg_member"]:
    lab = codebook.scales[name].label
    fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
    indicator_plot(table, name, ax=ax, ylabel=tr(lab.zh, lab.en), title=tr(lab.zh, lab.en))"""),
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
    indicator_plot(table.dropna(subset=["estimate"]), name, ax=ax, ylabel=tr(lab.zh, lab.en),
                   title=tr(lab.zh, lab.en))"""),
    md("""
**下一步 Next:** `02_programme_impact` 把每个项目社区与自身基线和对照社区比较 · compares each
programme community with its own baseline and with the comparison communities.
"""),
]

DESIGN = """\
import warnings
from evalkit.communities import load_communities, programme_targets
from evalkit.design import SurveyDesign
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
from evalkit.impact import programme_effect
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
from evalkit.did import att_gt, DroppedUnitsWarning
from evalkit.fonts import community_color, label
from evalkit.plots import event_study_plot
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
from evalkit.impact import community_panel
from evalkit.regress import regress
from evalkit.inference import headline
wide = community_panel(design, "participation_ladder")
panel = wide.stack().rename("y").rename_axis(["community_id", "wave"]).reset_index()
panel["treat"] = (panel["wave"] >= panel["community_id"].map(start).fillna(9999).astype(int)).astype(int)
fit = regress("y ~ treat + C(community_id) + C(wave)", panel, cluster="community_id", vcov="CR1")
pd.concat([fit.tidy().query("term == 'treat'").assign(method="CR1 analytic"),
           headline(fit, "treat", seed=SEED)])[["term", "estimate", "se", "p_value", "ci_low", "ci_high", "method"]]"""),
    md("""
## 5. 估计值与真实值 · Estimates next to the planted truth

数据是模拟的，所以我们知道真实效应（`data/truth.csv`）。`community_effects` 对每个项目社区单独做
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
from evalkit.plots import forest_plot
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
from evalkit.comparison import community_effects
from evalkit.report import community_profile
table = design.mean(sorted(set(targets["indicator"])), by=["community_id", "wave"])
effects = community_effects(design, sorted(set(targets["indicator"])), registry=registry)
programme = registry.query("role == 'programme'")["community_id"].tolist()
chosen = programme if community is None else [community]"""),
    md("""
**如何阅读 How to read.** 图中彩色线为该社区（阴影为95%置信区间），点线为其2014年基线，
灰色细线为7个对照社区；竖虚线为项目开始。结论比较的是：与对照社区同期的变化相比，该社区自基线以来
多变化了多少（双重差分），并给出95%置信区间；区间不含0才判为“改善”或“变差”。

Coloured line: the community (shaded: 95% CI); dotted: its 2014 baseline; thin grey lines: the
comparison communities; vertical dotted line: programme start. The verdict is the
difference-in-differences against the comparison communities with its 95% interval; only an
interval that excludes zero counts as *improved* or *worsened*. Proportions are in percentage
points (pp).
"""),
    code("""
for cid in chosen:
    community_profile(cid, table=table, effects=effects, registry=registry, codebook=codebook,
                      targets=targets)"""),
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
    execute = "--no-execute" not in argv
    wanted = [a for a in argv if not a.startswith("--")]
    names = [n for n in NOTEBOOKS if not wanted or any(n == w or n.startswith(w + "_") for w in wanted)]
    for name in names:
        secs = build(name, execute)
        print(f"{name}.ipynb {'executed' if execute else 'written'} in {secs:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
