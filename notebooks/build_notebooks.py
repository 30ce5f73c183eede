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
reliability_plot(rel);"""),
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
