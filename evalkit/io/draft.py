"""Draft a codebook from an export: :func:`draft_codebook` (``evalkit codebook draft <export>``).

The evaluator's own questionnaire needs a codebook (fields, items, answer codes, scales). The draft
takes what the export already says:

* a **问卷星 text download** (``.xlsx``/``.csv``): numbered headers ("3、您在本社区居住了多少年？"),
  matrix sub-items ("7、(社区为老服务)", one item each, drafted as one scale), multi-select answers
  (0/1 option columns "5(散步)", or one column joined by "┋": one 0/1 item per option) and the
  option texts seen in the answers (known Chinese answer scales are put in their order, others in
  the order first seen, marked TODO);
* a **KoboToolbox XLSForm** (``survey`` and ``choices`` sheets: type, name, label or
  ``label::Chinese (zh)``, ``select_one <list>``);
* an **SPSS** ``.sav`` file's variable labels and value labels (user-missing codes become the
  item's own missing codes).

The draft is a YAML text that loads as a codebook (it is checked against the codebook JSON schema
before it is returned) with ``# TODO`` comments where a person must decide: names, the order of
codes, scales and reverse keys, ranges. Columns that hold personal data (names, phones, addresses)
or free text are left out and listed. Nothing here reads any answer into the draft except option
texts and numeric ranges.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml

from ..errors import ReadError
from ..spec.codebook import Codebook, codebook_from_dict
from .prepare import _key_text

DraftKind = Literal["auto", "wjx", "kobo", "spss"]
_HEADER = re.compile(r"^\s*第?\s*(\d+)\s*题?\s*(?:[、.．:：)）]\s*)?(.*)$")
_SUB = re.compile(r"^[(（](.+)[)）]$")
_META = ("序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP", "来自ip", "总分", "答题时长", "IP", "ip")
_PERSONAL = re.compile(r"姓名|名字|电话|手机|联系方式|身份证|证件|住址|地址|门牌|微信|QQ|邮箱|name|phone|mobile|address|email",
                       re.IGNORECASE)
_MULTI_SEP = "┋"
#: Missing-value codes every draft declares (the labels 问卷星 and evaluators use).
MISSING = {97: {"reason": "dont_know", "zh": "不知道", "en": "don't know"},
           98: {"reason": "refused", "zh": "拒绝回答", "en": "refused"},
           99: {"reason": "not_applicable", "zh": "不适用", "en": "not applicable"}}
_MISSING_TEXT = {"不知道", "拒绝回答", "拒答", "不适用", "dontknow", "refused", "notapplicable"}
#: Answer scales whose order is known: each a list of levels, each level a set of spellings.
KNOWN_SCALES: list[list[set[str]]] = [
    [{"否", "没有", "不是"}, {"是", "有"}],
    [{"男"}, {"女"}],
    [{"非常不满意", "很不满意"}, {"不满意", "不太满意", "比较不满意"}, {"一般", "说不清"}, {"满意", "比较满意"},
     {"非常满意", "很满意"}],
    [{"非常不同意", "完全不同意"}, {"不同意", "不太同意", "比较不同意"}, {"一般", "说不清", "中立"},
     {"同意", "比较同意"}, {"非常同意", "完全同意"}],
    [{"从不", "从来没有", "从没有", "几乎从不"}, {"很少", "偶尔"}, {"有时", "有时候"}, {"经常"}, {"总是", "一直"}],
    [{"从未", "从来没有"}, {"有时", "偶尔"}, {"少于一半时间", "少于一半的时间", "一半以下时间"},
     {"超过一半时间", "超过一半的时间", "一半以上时间"}, {"大部分时间", "大多数时间"}, {"所有时间", "所有的时间"}],
    [{"非常不可能"}, {"不太可能", "不可能"}, {"说不准", "说不清", "一般"}, {"比较可能", "可能"}, {"非常可能"}],
    [{"小学及以下", "小学", "未上学"}, {"初中"}, {"高中/中专", "高中", "中专", "高中或中专"},
     {"大专及以上", "大专", "本科", "本科及以上"}],
    [{"非常不信任", "完全不信任"}, {"不太信任", "不信任"}, {"一般"}, {"比较信任", "信任"}, {"非常信任", "完全信任"}],
]


def _nfkc(v) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(v))).strip("*？?。.:：!！")


def _cell(v) -> str | None:
    """An answer cell as text (:func:`evalkit.io.prepare._key_text`), inner spaces of Chinese removed."""
    t = _key_text(v)
    if t is None:
        return None
    if re.search(r"[\u4e00-\u9fff]", t):   # spaces inside Chinese text are typing noise
        t = re.sub(r"(?<=[\u4e00-\u9fff])\s+|\s+(?=[\u4e00-\u9fff])", "", t)
    return None if t in ("", "(跳过)", "(空)", "-3", "-2", "nan") else t


def _clean_label(text: str) -> str:
    """A question text without the platform's marks: [多选题], a trailing colon."""
    t = re.sub(r"[\[【](多选题|单选题|矩阵单选题|矩阵量表题|必答)[\]】]", "", str(text)).strip()
    return t.rstrip("：:").strip() or str(text)


@dataclass
class Draft:
    """What :func:`draft_codebook` returns.

    Attributes
    ----------
    raw : dict
        The codebook as a mapping (as ``yaml.safe_load`` of :attr:`text` gives it).
    text : str
        The YAML with ``# TODO`` comments, ready to write and edit.
    column_map : dict
        ``{export header: codebook name}`` for the reader's ``column_map`` (headers the reader
        matches by text are listed too).
    left_out : dict
        ``{export header: why}``: platform metadata, personal data, free text.
    kind : str
        The export kind read (``wjx``, ``kobo``, ``spss``).
    notes : dict
        ``{name: comment}``: where each entry came from and its TODO.
    """

    raw: dict
    text: str
    column_map: dict = field(default_factory=dict)
    left_out: dict = field(default_factory=dict)
    kind: str = ""

    notes: dict = field(default_factory=dict)

    def notes_for(self, name: str) -> str:
        """The draft's comment on one field or item ("" if none)."""
        return self.notes.get(name, "")

    @property
    def codebook(self) -> Codebook:
        """The draft loaded as a :class:`Codebook` (checked against the schema)."""
        return codebook_from_dict(yaml.safe_load(self.text), "<draft>", text=self.text)

    def write(self, path) -> Path:
        path = Path(path)
        path.write_text(self.text, encoding="utf-8")
        return path


class _Builder:
    """Collects fields, items, scales and their TODO comments."""

    def __init__(self, source: str, kind: str):
        self.source, self.kind = source, kind
        self.fields: dict[str, dict] = {}
        self.items: dict[str, dict] = {}
        self.scales: dict[str, dict] = {}
        self.notes: dict[str, str] = {}
        self.column_map: dict[str, str] = {}
        self.left_out: dict[str, str] = {}

    def add(self, name: str, spec: dict, header: str, note: str = "", section: str = "items") -> str:
        base, k = name, 2
        while name in self.fields or name in self.items:
            name, k = f"{base}_{k}", k + 1
        (self.fields if section == "fields" else self.items)[name] = spec
        self.column_map[header] = name
        self.notes[name] = "; ".join(x for x in ((f"from {header!r}" if header != name else ""), note) if x)
        return name


def _known_order(opts: list[str]) -> dict[int, str] | None:
    """Codes for option texts that all belong to one known answer scale, in its order."""
    for scale in KNOWN_SCALES:
        levels = []
        for o in opts:
            hit = [i for i, level in enumerate(scale) if _nfkc(o) in level]
            if not hit:
                break
            levels.append(hit[0])
        else:
            if opts and len(set(levels)) == len(levels):
                first = 0 if scale is KNOWN_SCALES[0] else 1   # yes/no as 0/1, others 1..k in level order
                return {k: o for k, (_, o) in enumerate(sorted(zip(levels, opts)), start=first)}
    return None


def _number_order(opts: list[str]) -> list[str] | None:
    """Options such as 没有参加, 1-2次, 3-5次, 每月至少一次 ordered by the numbers in them (none first)."""
    nums = {o: re.search(r"\d+", unicodedata.normalize("NFKC", o)) for o in opts}
    if sum(m is not None for m in nums.values()) < 2:
        return None
    none = [o for o in opts if nums[o] is None and re.search(r"没有|从不|从未|无|0", o)]
    rest = [o for o in opts if nums[o] is None and o not in none]
    return none + sorted((o for o in opts if nums[o] is not None), key=lambda o: int(nums[o].group())) + rest


def _codes_from_options(options: list[str], counts: dict[str, int] | None = None) -> tuple[dict[int, str], str]:
    """Codes for option texts: a known scale's order, else the order first seen (with a TODO).

    An option seen in very few answers that keeps the others from matching a known scale (a typo,
    "挺好的") is left out of the codes and named in the TODO, so validation quarantines its rows.
    """
    opts = [o for o in options if _nfkc(o) not in _MISSING_TEXT]
    known = _known_order(opts)
    if known is not None:
        return known, ""
    counts = counts or {}
    total = sum(counts.get(o, 1) for o in opts)
    rare = [o for o in opts if counts.get(o, 1) <= max(2, 0.03 * total)]
    if rare and len(rare) < len(opts) / 2:
        known = _known_order([o for o in opts if o not in rare])
        if known is not None:
            return known, (f"TODO: answers {rare} fit no option of this scale and were left out; validation "
                           "quarantines their rows -- add them if they are real options")
    ordered = _number_order(opts)
    if ordered is not None:
        return ({i: o for i, o in enumerate(ordered, start=1)},
                "TODO: codes follow the numbers in the option texts; check against the questionnaire")
    return ({i: o for i, o in enumerate(opts, start=1)},
            "TODO: codes follow the order first seen in the export; put them in the questionnaire's order")


def _numeric_spec(values: pd.Series, label: str) -> dict | None:
    values = values[~values.map(lambda v: v is None or _nfkc(v) in _MISSING_TEXT)]
    nums = pd.to_numeric(values, errors="coerce")
    if values.notna().sum() == 0 or nums[values.notna()].isna().any():
        return None
    whole = bool((nums.dropna() == nums.dropna().round()).all())
    spec = {"type": "integer" if whole else "number", "min": float(nums.min()) if not whole else int(nums.min()),
            "max": float(nums.max()) if not whole else int(nums.max()), "zh": label}
    if spec["min"] <= max(MISSING) and spec["max"] >= min(MISSING):  # 97-99 would be valid answers
        spec["missing_codes"] = {9990 + k % 10: m["reason"] for k, m in MISSING.items()}
    return spec


def _role_of(text: str) -> str | None:
    t = _nfkc(text).lower()
    if t in ("序号", "编号", "问卷编号", "受访者编号", "respondent_id", "respondentid", "id", "caseid", "case_id"):
        return "respondent_id"
    if re.search(r"户编号|家庭编号|household", t):
        return "household_id"
    if re.search(r"初级抽样单元|楼栋|楼号|号楼|哪栋楼|村民小组|^psu$", t):
        return "psu"
    if re.search(r"(所在|居住)?(的)?社区(名称|编号)?$|^社区|小区名称|community", t):
        return "community_id"
    if re.search(r"调查年份|^年份$|^wave$|^year$", t):
        return "wave"
    if re.search(r"性别|^sex$|^gender$", t):
        return "sex"
    if re.search(r"年龄|周岁|^age$", t) and "段" not in t:
        return "age"
    return None


def _role_spec(role: str, label: str, values: pd.Series) -> dict:
    label = _clean_label(label)
    if role in ("respondent_id", "household_id", "psu"):
        return {"type": "id", "required": role == "respondent_id", "zh": label}
    if role == "community_id":
        return {"type": "community", "required": True, "zh": label}
    if role == "wave":
        return {"type": "integer", "required": True, "zh": label}
    if role == "sex":
        return {"type": "code", "required": True, "codes": {1: "男", 2: "女"}, "zh": label}
    spec = _numeric_spec(values, label) or {"type": "integer", "zh": label}
    return {**spec, "required": True}


def _add_column(b: _Builder, header: str, name: str, label: str, values: pd.Series, scale: str | None = None):
    """One export column as a field or item (by its values)."""
    role = _role_of(label) or _role_of(header)
    if role and role not in b.fields:
        b.add(role, _role_spec(role, label, values), header, section="fields")
        return
    seen = [v for v in dict.fromkeys(values.dropna()) if v is not None]
    num = _numeric_spec(values, label)
    if num is not None:
        b.add(name, num, header, "TODO: check the range (drafted from the answers seen)")
        return
    label = _clean_label(label)
    if any(_MULTI_SEP in v for v in seen):
        opts = list(dict.fromkeys(re.sub(r"〖.*?〗", "", p).strip() for v in seen for p in v.split(_MULTI_SEP)
                                  if p.strip()))
        for k, o in enumerate(opts, start=1):
            b.add(f"{name}_{k}", {"type": "code", "codes": {0: "未选", 1: "选中"}, "zh": f"{label}:{o}"},
                  f"{header} ┋ {o}", "multi-select option (select_multiple of the reader)")
        return
    opts = [v for v in seen if _nfkc(v) not in _MISSING_TEXT]
    if len(opts) > 12 or (len(values.dropna()) >= 20 and len(opts) > 0.5 * len(values.dropna())):
        b.left_out[header] = "free text (many distinct answers); free text can hold personal data"
        return
    counts = values.value_counts().to_dict()
    codes, todo = _codes_from_options(opts, counts)
    if not codes:
        b.left_out[header] = "no answer in the export to draft codes from; add it by hand"
        return
    spec = {"type": "code", "codes": codes, "zh": label}
    if scale:
        spec["scale"] = scale
    b.add(name, spec, header, todo)


# ------------------------------------------------------------------------------------------ 问卷星
def _draft_wjx(path: Path, sheet) -> _Builder:
    from .read import read_survey

    raw = read_survey(path, sheet=sheet, personal_data="ignore")
    b = _Builder(str(path), "wjx")
    cells = raw.map(_cell) if hasattr(raw, "map") else raw.applymap(_cell)
    groups: dict[str, list[tuple[str, str]]] = {}
    order: list[tuple[str, str | None, str]] = []
    serial = None
    for h in raw.columns:
        text = str(h)
        if _nfkc(text) in {_nfkc(m) for m in _META}:
            if _nfkc(text) == "序号":
                serial = text
            else:
                b.left_out[text] = "platform metadata" + ("; the design step takes the wave from it (wave: submitted)"
                                                          if "提交" in text else "")
            continue
        if _PERSONAL.search(text):
            b.left_out[text] = "personal data: leave it out of the analysis (reader drop=[...])"
            continue
        m = _HEADER.match(text)
        number, rest = (m.group(1), m.group(2).strip()) if m else (None, text.strip())
        order.append((text, number, rest))
        if number:
            groups.setdefault(number, []).append((text, rest))
    done: set[str] = set()
    for text, number, rest in order:
        if text in done:
            continue
        members = groups.get(number, []) if number else []
        if len(members) > 1:  # a matrix question or 0/1 option columns
            _draft_group(b, number, members, cells)
            done.update(h for h, _ in members)
            continue
        label = _SUB.sub(r"\1", rest) or text
        _add_column(b, text, f"q{number}" if number else _ascii_name(text, len(b.items) + 1), label, cells[text])
        done.add(text)
    if serial is not None and "respondent_id" not in b.fields:
        b.add("respondent_id", {"type": "id", "required": True, "zh": "序号"}, serial,
              "the platform's serial number; use your own respondent number if the survey has one",
              section="fields")
    elif serial is not None:
        b.left_out[serial] = "platform metadata (the row's serial number)"
    return b


def _draft_group(b: _Builder, number: str, members: list[tuple[str, str]], cells: pd.DataFrame) -> None:
    subs = [(h, _SUB.sub(r"\1", r)) for h, r in members]
    binary = all(set(cells[h].dropna()) <= {"0", "1", "选中", "未选"} for h, _ in subs)
    if binary:
        for k, (h, s) in enumerate(subs, start=1):
            b.add(f"q{number}_{k}", {"type": "code", "codes": {0: "未选", 1: "选中"}, "zh": s}, h,
                  "multi-select option (0/1 column)")
        return
    scale = f"q{number}"
    names = []
    for k, (h, s) in enumerate(subs, start=1):
        before = set(b.items)
        _add_column(b, h, f"q{number}_{k}", s, cells[h], scale=scale)
        names += [n for n in b.items if n not in before and b.items[n].get("type") == "code"]
    names = [n for n in names if b.items[n].get("scale") == scale]
    if len(names) >= 2:
        b.scales[scale] = {"zh": f"第{number}题（矩阵题）", "domain": "TODO", "items": names,
                           "scoring": {"method": "mean", "min_answered": max(1, (len(names) + 1) // 2)},
                           "citation": "TODO: the instrument's source, or 'own questionnaire'"}


def _ascii_name(text: str, k: int) -> str:
    t = re.sub(r"[^0-9a-zA-Z_]+", "_", unicodedata.normalize("NFKC", text)).strip("_").lower()
    return t if t and t[0].isalpha() else f"v{k}"


# ------------------------------------------------------------------------------------------ output
def _flow(spec) -> str:
    return yaml.safe_dump(spec, default_flow_style=True, allow_unicode=True, width=10**6, sort_keys=False).strip()


def _placeholders(b: _Builder) -> None:
    if "respondent_id" not in b.fields:
        b.fields["respondent_id"] = {"type": "id", "required": True, "zh": "受访者编号"}
        b.notes["respondent_id"] = "TODO: not found in the export; map its respondent number with column_map"
    if "community_id" not in b.fields:
        b.fields["community_id"] = {"type": "community", "required": True, "zh": "社区"}
        b.notes["community_id"] = "TODO: not found; map the community question with column_map"
    if "wave" not in b.fields:
        b.fields["wave"] = {"type": "integer", "required": True, "zh": "调查年份"}
        b.notes["wave"] = "not in the export: the design step adds it (study.yaml design: wave: submitted or 2017)"
    for name, spec, note in (("stratum", {"type": "id", "required": False, "zh": "抽样层"}, "design step: the community"),
                             ("psu", {"type": "id", "required": False, "zh": "初级抽样单元（楼栋/村民小组）"},
                              "design step: fieldwork file, or a building question in the export"),
                             ("base_weight", {"type": "number", "required": False, "min": 0, "min_exclusive": True,
                                              "zh": "基础权数"}, "design step: the fieldwork file (set required: true)")):
        if name not in b.fields:
            b.fields[name], b.notes[name] = spec, note


def _text(b: _Builder, path: Path) -> str:
    lines = [f"# Codebook drafted by `evalkit codebook draft` from {path.name} ({b.kind}). Edit it before use:",
             "#  - names: short ASCII names you will recognise (the reader matches export headers by the `zh` text);",
             "#  - codes: check every TODO (order of answer codes, ranges);",
             "#  - scales: which items form a scale, its scoring rule, reverse-keyed items (`reverse: true`);",
             "#  - see docs/your_own_study.md. Check it with: python -c \"import evalkit; evalkit.load_codebook('codebook.yaml')\"",
             "title: " + _flow({"zh": f"{path.stem} 问卷", "en": f"{path.stem} questionnaire"}),
             'version: "0.1"', "missing_codes:"]
    lines += [f"  {k}: {_flow(v)}" for k, v in MISSING.items()]
    for section, entries in (("fields", b.fields), ("items", b.items)):
        lines.append(f"{section}:")
        for name, spec in entries.items():
            note = b.notes.get(name, "")
            lines.append(f"  {_flow({name: spec})[1:-1]}" + (f"   # {note}" if note else ""))
    if b.scales:
        lines += ["# TODO scales: check the items, `reverse: true` on reverse-keyed items, the scoring rule and citation",
                  "scales:"]
        lines += [f"  {_flow({n: s})[1:-1]}" for n, s in b.scales.items()]
    else:
        lines += ["# TODO scales: none drafted. A scale, e.g. a five-item neighbourhood scale:",
                  "# scales:",
                  "#   neighbourhood: {zh: 邻里关系, domain: social, items: [q7_1, q7_2, q7_3, q7_4, q7_5],",
                  "#                   scoring: {method: mean, min_answered: 4}, citation: own questionnaire}"]
    if b.left_out:
        lines.append("# Left out of the draft (not answers, or personal data / free text):")
        lines += [f"#   {h!r}: {why}" for h, why in b.left_out.items()]
    return "\n".join(lines) + "\n"


def _kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".sav", ".zsav"):
        return "spss"
    if suffix in (".xlsx", ".xlsm", ".xls"):
        try:
            import openpyxl

            names = [s.lower() for s in openpyxl.load_workbook(path, read_only=True).sheetnames]
        except Exception as exc:
            raise ReadError(f"{path}: cannot open the workbook ({type(exc).__name__}: {exc}).") from None
        if "survey" in names:
            return "kobo"
    return "wjx"


def draft_codebook(path, kind: DraftKind = "auto", *, sheet=None) -> Draft:
    """Draft a codebook from a 问卷星 download, a Kobo XLSForm or an SPSS file.

    Parameters
    ----------
    path
        The export (``.xlsx``/``.csv`` 问卷星 text download), the XLSForm (``.xlsx`` with a
        ``survey`` sheet) or the ``.sav`` file.
    kind
        ``"auto"`` (by suffix and sheets), ``"wjx"``, ``"kobo"`` or ``"spss"``.
    sheet
        The sheet of a 问卷星 workbook (default: the first).

    Returns
    -------
    Draft
        ``text`` (YAML with TODO comments; loads as a codebook), ``raw``, ``column_map``,
        ``left_out``, ``kind``; ``.write(path)`` saves it, ``.codebook`` loads it.

    Raises
    ------
    ReadError
        The file cannot be read, or is not of the kind asked for.
    """
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such file to draft a codebook from.")
    kind = _kind_of(path) if kind == "auto" else kind
    if kind not in ("wjx", "kobo", "spss"):
        raise ReadError(f"draft_codebook(kind={kind!r}): use 'auto', 'wjx', 'kobo' or 'spss'.")
    from .draft_forms import draft_kobo, draft_spss

    b = {"wjx": lambda: _draft_wjx(path, sheet), "kobo": lambda: draft_kobo(path),
         "spss": lambda: draft_spss(path)}[kind]()
    if not b.items:
        raise ReadError(f"{path}: no question found to draft a codebook from (left out: {list(b.left_out)[:8]}).")
    _placeholders(b)
    text = _text(b, path)
    raw = yaml.safe_load(text)
    codebook_from_dict(raw, f"draft of {path.name}", text=text)  # the draft loads, or this is a bug
    return Draft(raw, text, dict(b.column_map), dict(b.left_out), kind, dict(b.notes))


__all__ = ["draft_codebook", "Draft", "KNOWN_SCALES", "MISSING"]
