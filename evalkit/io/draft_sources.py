"""The sources of a codebook draft (:func:`evalkit.io.draft.draft_codebook`): 问卷星, Kobo XLSForm, SPSS.

Each source adds its fields and items to a :class:`_Builder` (name, entry, where it came from, its
TODO); :mod:`evalkit.io.draft` turns the builder into the YAML text. A 问卷星 text download gives
numbered headers, matrix rows and the option texts seen; a Kobo XLSForm's ``survey`` sheet gives each
question's type, name and label (``label`` or ``label::Chinese (zh)``), its ``choices`` sheet the
options of every ``select_one <list>``; an SPSS file gives variable labels, value labels and
user-missing codes. Free text, personal data and form structure are left out and listed.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pandas as pd

from ..errors import ReadError
from .prepare import _key_text


_HEADER = re.compile(r"^\s*第?\s*(\d+)\s*题?\s*(?:[、.．:：)）]\s*)?(.*)$")
_SUB = re.compile(r"^[(（](.+)[)）]$")
_META = ("序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP", "来自ip", "总分", "答题时长", "IP", "ip")
#: Metadata columns of KoboToolbox / ODK data exports (left out of a draft).
_DEVICE_META = {"start", "end", "today", "deviceid", "subscriberid", "simserial", "phonenumber", "username",
                "_id", "_uuid", "_submission_time", "_validation_status", "_notes", "_status", "_submitted_by",
                "__version__", "_tags", "_index", "_parent_index", "_parent_table_name", "_submission__uuid",
                "instanceid", "submissiondate", "key", "submitterid", "submittername", "attachmentspresent",
                "attachmentsexpected", "status", "reviewstate", "deviceid", "edits", "formversion"}
_PERSONAL = re.compile(r"姓名|名字|电话|手机|联系方式|身份证|证件|住址|地址|门牌|微信|QQ|邮箱|name|phone|mobile|address|email",
                       re.IGNORECASE)
_MULTI_SEP = "┋"
#: Missing-value codes every draft declares (the labels 问卷星 and evaluators use).
MISSING = {97: {"reason": "dont_know", "zh": "不知道", "en": "don't know"},
           98: {"reason": "refused", "zh": "拒绝回答", "en": "refused"},
           99: {"reason": "not_applicable", "zh": "不适用", "en": "not applicable"}}
_MISSING_TEXT = {"不知道", "拒绝回答", "拒答", "不适用", "dontknow", "refused", "notapplicable"}
#: Answer scales whose order is known: each a list of levels, each level a set of spellings.
KNOWN_SCALES: list[list[tuple[str, ...]]] = [
    [("否", "没有", "不是"), ("是", "有")],
    [("男",), ("女",)],
    [("几乎从不",), ("有时",), ("经常",)],                      # the three-point loneliness items (UCLA-3)
    [("非常不满意", "很不满意"), ("不满意", "不太满意", "比较不满意"), ("一般", "说不清"), ("满意", "比较满意"),
     ("非常满意", "很满意")],
    [("非常不同意", "完全不同意"), ("不同意", "不太同意", "比较不同意"), ("一般", "说不清", "中立"),
     ("同意", "比较同意"), ("非常同意", "完全同意")],
    [("从不", "从来没有", "从没有", "几乎从不"), ("很少", "偶尔"), ("有时", "有时候"), ("经常",), ("总是", "一直")],
    [("从未", "从来没有"), ("偶尔", "有时"), ("一半以下时间", "少于一半时间", "少于一半的时间"),
     ("一半以上时间", "超过一半时间", "超过一半的时间"), ("大部分时间", "大多数时间"), ("所有时间", "所有的时间")],
    [("非常不可能",), ("不太可能", "不可能"), ("说不准", "说不清", "一般"), ("比较可能", "可能"), ("非常可能",)],
    [("小学及以下", "小学", "未上学"), ("初中",), ("高中/中专", "高中", "中专", "高中或中专"),
     ("大专及以上", "大专", "本科", "本科及以上")],
    [("非常不信任", "完全不信任"), ("不太信任", "不信任"), ("一般",), ("比较信任", "信任"), ("非常信任", "完全信任")],
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


def _known_order(opts: list[str]) -> tuple[dict[int, str], str] | None:
    """Codes for option texts that all belong to one known answer scale, in its order.

    Options seen at levels with a gap between them get the missing level too (its usual wording),
    so the codes keep their distances; levels beyond the lowest and highest seen are not added. A
    TODO names what was added or not seen.
    """
    for scale in KNOWN_SCALES:
        levels = []
        for o in opts:
            hit = [i for i, level in enumerate(scale) if _nfkc(o) in level]
            if not hit:
                break
            levels.append(hit[0])
        else:
            if not opts or len(set(levels)) != len(levels):
                continue
            seen = dict(zip(levels, opts))
            span = range(min(levels), max(levels) + 1)
            first = 0 if scale is KNOWN_SCALES[0] else 1   # yes/no as 0/1, others 1..k in level order
            codes = {k: seen.get(lv, scale[lv][0]) for k, lv in enumerate(span, start=first)}
            added = [scale[lv][0] for lv in span if lv not in seen]
            unseen = [scale[lv][0] for lv in range(len(scale)) if lv not in span]
            todo = "; ".join(x for x in (
                f"TODO: {added} not seen in the answers, added in their place" if added else "",
                f"TODO: {unseen} not seen; add them in their place if the questionnaire has them" if unseen else "")
                if x)
            return codes, todo
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
        return known
    counts = counts or {}
    total = sum(counts.get(o, 1) for o in opts)
    rare = [o for o in opts if counts.get(o, 1) <= max(2, 0.03 * total)]
    if rare and len(rare) < len(opts) / 2:
        known = _known_order([o for o in opts if o not in rare])
        if known is not None:
            return known[0], "; ".join(x for x in (
                f"TODO: answers {rare} fit no option of this scale and were left out; validation quarantines "
                "their rows -- add them if they are real options", known[1]) if x)
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


def _last(header: str) -> str:
    """The question name of a grouped export header ("intro/respondent_id", "demo-age" as ODK writes)."""
    return re.split(r"[/]", str(header))[-1]


#: Header or label patterns of the fields a codebook needs, tried in this order (first match wins).
ROLE_PATTERNS = [
    ("respondent_id", r"^(序号|编号|问卷编号|受访者编号|respondent_?id|id|case_?id)$"),
    ("household_id", r"户编号|家庭编号|household"),
    ("psu", r"初级抽样单元|楼栋|楼号|号楼|哪栋楼|村民小组|^psu$"),
    ("community_id", r"(所在|居住)?(的)?社区(名称|编号)?$|^社区|小区名称|community"),
    ("wave", r"调查年份|^年份$|^wave$|^year$"),
    ("stratum", r"^抽样层$|^stratum$|^strata$"),
    ("base_weight", r"基础权数|^权数$|^权重$|^base_?weight$|^weight$"),
    ("age_group", r"年龄组|年龄段|^age_?group$"),
    ("role", r"受访者类型|^role$"),
    ("sex", r"性别|^sex$|^gender$"),
    ("age", r"^(?!.*段).*(年龄|周岁)|^age$"),
]


def _role_of(text: str) -> str | None:
    """The codebook field a header names (:data:`ROLE_PATTERNS`), or ``None``."""
    t = _nfkc(_last(text)).lower()
    return next((role for role, pattern in ROLE_PATTERNS if re.search(pattern, t)), None)


def _sex_codes(values: pd.Series) -> dict:
    """1 = 男, 2 = 女, with the export's own spelling (m/f, male/female) kept as the English label."""
    seen = {str(v).strip().lower() for v in values.dropna()}
    for male, female in (("m", "f"), ("male", "female"), ("man", "woman")):
        if seen and seen <= {male, female}:
            return {1: {"zh": "男", "en": male}, 2: {"zh": "女", "en": female}}
    return {1: "男", 2: "女"}


def _role_spec(role: str, label: str, values: pd.Series) -> dict:
    label = _clean_label(label)
    if role in ("respondent_id", "household_id", "psu"):
        return {"type": "id", "required": role == "respondent_id", "zh": label}
    if role == "community_id":
        return {"type": "community", "required": True, "zh": label}
    if role == "wave":
        return {"type": "integer", "required": True, "zh": label}
    if role == "sex":
        return {"type": "code", "required": True, "codes": _sex_codes(values), "zh": label}
    if role == "stratum":
        return {"type": "id", "required": False, "zh": label}
    if role == "base_weight":
        return {"type": "number", "required": False, "min": 0, "min_exclusive": True, "zh": label}
    if role in ("age_group", "role"):
        seen = sorted({v for v in values.dropna() if v is not None})
        return {"type": "category", "required": False, "values": seen or ["TODO"], "zh": label}
    spec = _numeric_spec(values, label) or {"type": "integer", "zh": label}
    return {**spec, "required": True}


def _add_column(b: _Builder, header: str, name: str, label: str, values: pd.Series, scale: str | None = None):
    """One export column as a field or item (by its values)."""
    role = _role_of(label) or _role_of(header)
    if role and role not in b.fields:
        b.add(role, _role_spec(role, label, values), header, section="fields")
        return
    seen = [v for v in dict.fromkeys(values.dropna()) if v is not None]
    if "/" in header and seen and set(seen) <= {"0", "1", "True", "False"}:   # a Kobo select_multiple option
        b.add(name, {"type": "code", "codes": {0: "未选", 1: "选中"}, "zh": label}, header,
              "multiple-choice option (0/1 column)")
        return
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
def draft_wjx(path: Path, sheet) -> _Builder:
    """The draft's entries from a 问卷星 text download."""
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
        if _last(text).lower() in _DEVICE_META or _last(text).lower().startswith("_") or "meta/" in text.lower():
            b.left_out[text] = "platform metadata" + ("; the design step takes the wave from it (wave: submitted)"
                                                      if "submission" in text.lower() or text == "end" else "")
            continue
        if _PERSONAL.search(_last(text)):
            b.left_out[text] = "personal data: leave it out of the analysis (reader drop=[...])"
            continue
        if any(str(o).startswith(text + "/") for o in raw.columns):
            b.left_out[text] = "a multiple-choice question: drafted from its 0/1 option columns"
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
    last = _last(text)   # Kobo readers match a grouped header by its last part
    t = re.sub(r"[^0-9a-zA-Z_]+", "_", unicodedata.normalize("NFKC", last)).strip("_").lower()
    return t if t and t[0].isalpha() else f"v{k}"



# ------------------------------------------------------------------------------------------ Kobo
def _label_columns(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    labels = [c for c in frame.columns if str(c).lower().startswith("label")]
    zh = next((c for c in labels if re.search(r"zh|chinese|中文|汉", str(c), re.I)), None)
    en = next((c for c in labels if re.search(r"\ben\b|english|\(en\)", str(c), re.I)), None)
    if zh is None and en is None and labels:
        col = labels[0]
        cjk = frame[col].dropna().astype(str).str.contains(r"[\u4e00-\u9fff]").any()
        return (col, None) if cjk else (None, col)
    return zh, en


def _kobo_label(row, zh, en, fallback: str) -> dict:
    out = {}
    for key, col in (("zh", zh), ("en", en)):
        if col is not None and _cell(row.get(col)) is not None:
            out[key] = re.sub(r"<[^>]+>", "", _cell(row.get(col)))
    return out or {"en": fallback}


def draft_kobo(path: Path) -> _Builder:
    """The draft's entries from a Kobo XLSForm (survey and choices sheets)."""
    from .kobo import xlsform_sheets

    sheets = xlsform_sheets(path, require=("survey",), header=1)
    survey, choices = sheets["survey"], sheets.get("choices", pd.DataFrame(columns=["list_name", "name"]))
    survey.columns = [str(c).strip() for c in survey.columns]
    choices.columns = [str(c).strip() for c in choices.columns]
    zh, en = _label_columns(survey)
    czh, cen = _label_columns(choices)
    lists: dict[str, list[dict]] = {}
    for _, c in choices.iterrows():
        if _cell(c.get("list_name")) and _cell(c.get("name")) is not None:
            lists.setdefault(_cell(c["list_name"]), []).append(c)
    b = _Builder(str(path), "kobo")
    for i, row in survey.iterrows():
        kind, name = (_cell(row.get("type")) or "").split(), _cell(row.get("name"))
        if not kind or not name:
            continue
        label = _kobo_label(row, zh, en, name)
        text = label.get("zh") or label.get("en")
        t = kind[0].lower()
        if t in ("integer", "decimal", "range"):
            role = _role_of(text) or _role_of(name)
            spec = {"type": "integer" if t != "decimal" else "number", **label}
            if role in ("age", "wave") and role not in b.fields:
                b.add(role, {**spec, "required": True}, name, section="fields")
            else:
                b.add(name, spec, name, "TODO: add min/max (the form's constraint)")
        elif t in ("select_one", "select_multiple") and len(kind) > 1:
            opts = lists.get(kind[1], [])
            if not opts:
                b.left_out[name] = f"choices list {kind[1]!r} not found in the choices sheet"
                continue
            if t == "select_multiple":
                for c in opts:
                    cl = _kobo_label(c, czh, cen, str(c["name"]))
                    b.add(f"{name}_{_cell(c['name'])}", {"type": "code", "codes": {0: "未选", 1: "选中"},
                                                           "zh": f"{text}:{cl.get('zh') or cl.get('en')}"},
                          f"{name}/{_cell(c['name'])}", "select_multiple option (0/1 column in the export)")
                continue
            _kobo_select_one(b, name, text, label, opts, czh, cen)
        elif t in ("text",) and (_role_of(text or "") or _role_of(name)) in ("respondent_id", "community_id",
                                                                             "household_id", "psu"):
            role = _role_of(text or "") or _role_of(name)
            b.add(role, {"type": "community" if role == "community_id" else "id",
                         "required": role in ("respondent_id", "community_id"), **label}, name, section="fields")
        elif t in ("text", "integer", "decimal") and name in ("stratum", "base_weight", "age_group", "role"):
            b.left_out[name] = "a design field: the design step adds it (study.yaml design:), or map it by hand"
        elif t in ("text", "geopoint", "image", "audio", "barcode"):
            b.left_out[name] = f"{t}: free text or media (can hold personal data)"
        else:
            b.left_out[name] = f"{t}: not an answer (form structure or metadata)"
    return b


def _kobo_select_one(b, name, text, label, opts, czh, cen) -> None:
    opts = [c for c in opts if _nfkc(_kobo_label(c, czh, cen, "").get("zh", "")) not in _MISSING_TEXT]
    numeric = all(re.fullmatch(r"-?\d+", str(_cell(c["name"]))) for c in opts)   # 不知道 (dk) aside
    codes, note = {}, ""
    for k, c in enumerate(opts, start=1):
        cl = _kobo_label(c, czh, cen, str(c["name"]))
        if not numeric:  # the choice name as English label, so an export of names reads back
            cl = {**cl, "en": str(_cell(c["name"]))}
        code = int(_cell(c["name"])) if numeric else k
        if code in MISSING or _nfkc(cl.get("zh", "")) in _MISSING_TEXT:
            continue
        codes[code] = cl
    if not numeric:
        note = "TODO: choice names are not numbers; codes follow the choices sheet's order, names kept as `en`"
    else:
        texts = [lab.get("zh") or lab.get("en") or "" for _, lab in sorted(codes.items())]
        known = _known_order(texts)
        if known is not None and list(known[0].values()) != texts:
            note = ("TODO: the choice numbers run against the answer scale (" + "、".join(texts[:2]) + " ...): "
                    "a higher code means less; mark the items `reverse: true` in their scale or renumber")
    role = _role_of(text) or _role_of(name)
    if role == "community_id" and role not in b.fields:
        b.add(role, {"type": "community", "required": True, **label}, name, section="fields")
    elif role == "sex" and role not in b.fields:
        b.add(role, {"type": "code", "required": True, "codes": codes, **label}, name, note, section="fields")
    else:
        b.add(name, {"type": "code", "codes": codes, **label}, name, note)


# ------------------------------------------------------------------------------------------ SPSS
def draft_spss(path: Path) -> _Builder:
    """The draft's entries from an SPSS file's variable labels, value labels and user-missing codes."""
    import pyreadstat

    try:
        data, meta = pyreadstat.read_sav(str(path), user_missing=True)
    except Exception as exc:
        raise ReadError(f"{path}: cannot read the SPSS file ({type(exc).__name__}: {exc}).") from None
    b = _Builder(str(path), "spss")
    labels = meta.column_names_to_labels or {}
    for col in meta.column_names:
        label = _cell(labels.get(col)) or col
        if _PERSONAL.search(col) or _PERSONAL.search(label):
            b.left_out[col] = "personal data: leave it out of the analysis (reader drop=[...])"
            continue
        vl = (meta.variable_value_labels or {}).get(col)
        miss = _spss_missing(meta, col)
        role = _role_of(label) or _role_of(col)
        if vl:
            codes = {int(k): str(v) for k, v in vl.items() if float(k).is_integer() and int(k) not in miss}
            spec = {"type": "code", "codes": codes, "zh": label}
            if miss:
                spec["missing_codes"] = miss
            if role == "community_id" and role not in b.fields:
                b.add(role, {"type": "community", "required": True, "zh": label}, col,
                      "value labels are the community names (read_spss maps them)", section="fields")
            elif role in ("sex", "wave") and role not in b.fields:
                b.add(role, {**spec, "required": True}, col, section="fields")
            else:
                b.add(col, spec, col)
            continue
        values = data[col].map(_cell)
        _add_column(b, col, col, label, values)
    return b


def _spss_missing(meta, col) -> dict[int, str]:
    """User-missing codes of one variable as ``{code: reason}`` (reasons from the value labels)."""
    out: dict[int, str] = {}
    labels = (meta.variable_value_labels or {}).get(col, {})
    for r in (meta.missing_ranges or {}).get(col, []):
        lo, hi = r.get("lo"), r.get("hi")
        if isinstance(lo, (int, float)) and lo == hi and float(lo).is_integer():
            text = _nfkc(labels.get(lo, ""))
            reason = ("refused" if "拒" in text or "refus" in text.lower() else
                      "not_applicable" if "不适用" in text or "applicable" in text.lower() else "dont_know")
            out[int(lo)] = reason
    return out


__all__ = ["draft_wjx", "draft_kobo", "draft_spss", "MISSING", "KNOWN_SCALES"]
