"""Personal data: keep it out of the analysis, and replace identifiers by keyed pseudonyms.

Survey exports often carry columns that identify residents: names, phone numbers, citizen ID
numbers (身份证号), addresses, WeChat/QQ/e-mail contacts, the IP address or GPS position of the
device. :func:`detect_personal_data` finds such columns **by their name and by their content**;
:func:`check_personal_data` (called by :func:`evalkit.read_survey`) refuses a table holding any of
them with a :class:`~evalkit.errors.PersonalDataError` that lists the columns, what was found and
an example row number -- never the value itself -- and says how to proceed: drop the columns
(``drop=[...]``) or, if a column is not personal data, mark it allowed (``allow=[...]``).

:func:`pseudonymise` replaces respondent and household ids by keyed pseudonyms
(HMAC-SHA256 with a secret the user supplies through the environment), the same in every wave
so that the panel still links, and not reversible without the key.

The patterns (``PATTERNS``, one line each in :func:`patterns_table`):

========== ============================================================================
kind       found by
========== ============================================================================
name       column name (姓名, 名字, 联系人, 称呼, name, full_name, respondent_name ...);
           content: 2-4 Chinese characters starting with one of the ~250 commonest
           surnames (or a compound surname), not ending like a place (社区, 村, 镇, 街道,
           路 ...), not a community of the registry nor a label of the codebook (when given), in a
           column where such values are at least half of the answers and mostly distinct
phone      column name (手机号, 电话, 联系电话, phone, mobile, tel ...); content: a Chinese
           mobile number 1[3-9]x xxxx xxxx, optionally after +86/86 and with spaces or
           hyphens between the groups, or a landline 0xx(x)-xxxxxxx(x)
citizen_id column name (身份证, 证件号, id_card, citizen_id, national_id ...); content: an
           18-character resident ID number whose ISO 7064 MOD 11-2 check digit is right and
           whose birth date (characters 7-14) is a real date from 1900 to today
address    column name (地址, 住址, 门牌, 房号, address ...); content: a house number such as
           "3号楼", "2单元", "301室", "5栋", or a street with a number ("黄河路58号"), or 门牌
contact    column name (微信, WeChat, QQ, 邮箱, e-mail, 联系方式, contact ...); content: an
           e-mail address, "QQ: 12345678", "微信: ..." or a ``wxid_`` WeChat id
ip_address column name (IP, 来自IP, ip_address); content: an IPv4 address
location   column name (GPS, 经纬度, 定位, latitude, longitude, geopoint); content: a
           KoboToolbox/ODK geopoint "lat lon [alt acc]"
device_id  column name (deviceid, device_id, IMEI, 设备号)
birth_date column name (出生日期, 生日, 出生年月, birth_date, date_of_birth, dob)
========== ============================================================================

A column whose name matches but whose every answer is a short number (a coded answer to a
question that merely mentions a phone, say) is not flagged by its name.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import PersonalDataError
from ..spec.study import resolve
from .pseudonyms import (  # noqa: F401  (re-exported)
    KEY_ENV, KEY_FILE_ENV, MIN_KEY_BYTES, PSEUDONYM_LENGTH, load_pseudonym_key, check_key_strength, pseudonym, pseudonymise,
)
from .personal_numbers import cell_text as _cell_text
from .personal_numbers import (  # noqa: F401  (re-exported: the public names of this module)
    citizen_id_check_digit, find_emails, find_personal_numbers, is_citizen_id, is_citizen_id15, normalise_text, strip_markup,
)

#: Hex characters of a pseudonym (64 bits): the chance that two of 100 000 ids share a pseudonym
#: is about n^2 / 2^65 = 3e-10, and :func:`pseudonymise` checks for it anyway.

# --- content regular expressions ---------------------------------------------------------------
_LANDLINE = re.compile(r"(?<![\d.])(?:\(0\d{2,3}\)|0\d{2,3})[ -]\d{7,8}(?![\d.])")
_QQ_WX = re.compile(r"(?i)(?:\bqq|微信|vx|wechat)\s{0,3}(?:号码|号|id)?\s{0,3}[:：]\s{0,3}\S{5,}|\bwxid_[a-z0-9]{6,}")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])")
_GEOPOINT = re.compile(r"^\s*-?\d{1,2}\.\d{4,}[\s,]+-?\d{1,3}\.\d{4,}(?:\s+-?\d+(?:\.\d+)?){0,2}\s*$")
_ADDRESS = re.compile(
    r"(?:[路街巷道里弄]\s{0,3}(?<!\d)\d{1,6}\s{0,3}号)"
    r"|(?:(?<!\d)\d{1,6}\s{0,3}(?:号楼|栋|幢|单元|号院|号门))"
    r"|(?:(?<!\d)\d{2,5}\s{0,3}(?:室|房|号房))"
    r"|门牌"
)

# The commonest Chinese surnames (about 250, covering well over 90% of the population) and the
# compound ones; used only by the name heuristic.
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃"
    "武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒"
    "阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓"
    "古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣"
    "巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_COMPOUND = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "司徒",
             "夏侯", "长孙", "宇文", "端木", "西门", "南宫", "独孤", "轩辕")
_PLACE_SUFFIX = ("社区", "小区", "村", "镇", "乡", "街道", "区", "县", "市", "省", "路", "街", "巷", "楼",
                 "院", "组", "队", "委", "会", "站", "所", "校", "园", "馆", "中心", "公司", "厂", "店")
_HAN_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$|^[\u4e00-\u9fff]{1,6}·[\u4e00-\u9fff]{1,8}$")


def _looks_like_name(v: str, exclude: frozenset) -> bool:
    if not _HAN_NAME.match(v) or v in exclude or v.endswith(_PLACE_SUFFIX):
        return False
    return v[0] in _SURNAMES or v[:2] in _COMPOUND


# --- the pattern table -------------------------------------------------------------------------
@dataclass(frozen=True)
class Pattern:
    """One kind of personal data: how a column name and a cell's content give it away."""

    kind: str
    label: str
    column_name: re.Pattern
    content: Callable[[str], bool] | None
    content_rule: str


def _cn(words: str) -> str:
    return "(?:" + words + ")"


def _has_citizen_id(text: str) -> bool:
    return any(k == "citizen_id" for k, _ in find_personal_numbers(text))


def _has_phone(text: str) -> bool:
    return any(k == "phone" for k, _ in find_personal_numbers(text)) or bool(_LANDLINE.search(text))


_EN_NAME = (r"^(?:(?:full|first|last|given|family|sur|respondent|resident|contact|person|child|parent|"
            r"guardian|interviewee|household_head|head)[_ .-]?)?name$")
PATTERNS: tuple[Pattern, ...] = (
    Pattern("name", "personal name",
            re.compile(_cn("姓名|名字|联系人|称呼") + "|" + _EN_NAME, re.I), None,
            "2-4 Chinese characters beginning with a common surname, not a place, community or answer label; "
            "at least half of a column's answers, mostly distinct"),
    Pattern("phone", "phone number",
            re.compile(_cn("手机号|手机号码|电话|联系电话|手机") + r"|(?:^|[^a-z])(?:tel|telephone|phone|mobile|cellphone)(?:[^a-z]|$)", re.I),
            _has_phone,
            "Chinese mobile 1[3-9]x xxxx xxxx (+86/86/0086 prefix; spaces, hyphens or dots between digit "
            "groups and a trailing .0 allowed) or landline 0xx-xxxxxxx"),
    Pattern("citizen_id", "citizen ID number (身份证号)",
            re.compile(_cn("身份证|证件号|公民身份") + r"|id[_ -]?card|citizen[_ -]?id|national[_ -]?id|id[_ -]?number|sfz", re.I),
            _has_citizen_id,
            "18 characters with a valid ISO 7064 MOD 11-2 check digit and a real birth date (1900-today), "
            "or 15 digits with a real YYMMDD birth date (first generation); digit groups may be separated"),
    Pattern("address", "address",
            re.compile(_cn("地址|住址|门牌|房号|楼号|门牌号") + r"|address|(?:^|[^a-z])addr(?:[^a-z]|$)", re.I),
            lambda t: bool(_ADDRESS.search(t)),
            "a house number (3号楼, 2单元, 301室, 5栋), a street with a number (黄河路58号) or 门牌"),
    Pattern("contact", "contact detail (WeChat, QQ, e-mail)",
            re.compile(_cn("微信|邮箱|电子邮件|联系方式|QQ") + r"|wechat|weixin|e-?mail|(?:^|[^a-z])qq(?:[^a-z]|$)|contact", re.I),
            lambda t: bool(find_emails(t) or _QQ_WX.search(t)),
            "an e-mail address, 'QQ: <number>', '微信: <id>' or a wxid_ WeChat id"),
    Pattern("ip_address", "IP address",
            re.compile(r"(?:^|[^a-z])ip(?:[^a-z]|$)|ip[_ -]?address", re.I),
            lambda t: bool(_IPV4.search(t)),
            "an IPv4 address"),
    Pattern("location", "GPS position",
            re.compile(_cn("经纬度|定位|坐标") + r"|gps|geopoint|geolocation|latitude|longitude", re.I),
            lambda t: bool(_GEOPOINT.match(t)),
            "a KoboToolbox/ODK geopoint 'latitude longitude [altitude accuracy]'"),
    Pattern("device_id", "device identifier",
            re.compile(_cn("设备号|设备编号") + r"|device[_ -]?id|imei", re.I), None, ""),
    Pattern("birth_date", "date of birth",
            re.compile(_cn("出生日期|生日|出生年月") + r"|birth[_ -]?date|date[_ -]?of[_ -]?birth|^dob$|birthday", re.I),
            None, ""),
)
KINDS = tuple(p.kind for p in PATTERNS)
FINDING_COLUMNS = ["column", "kind", "label", "detected_by", "n_rows", "example_row"]


def patterns_table() -> pd.DataFrame:
    """The personal-data patterns evalkit looks for: ``kind, label, column_name, content``."""
    return pd.DataFrame(
        [(p.kind, p.label, p.column_name.pattern, p.content_rule if (p.content or p.kind == "name") else "")
         for p in PATTERNS],
        columns=["kind", "label", "column_name", "content"],
    )


# --- detection -----------------------------------------------------------------------------------
def _column_text(series: pd.Series) -> pd.Series:
    """Non-blank cells as normalised text (computed once per distinct value), index kept."""
    raw = series.to_numpy(dtype=object)
    try:
        uniq = pd.unique(raw)
    except TypeError:  # unhashable cells (lists from odd readers): text them one by one
        uniq = None
    if uniq is None:
        text = pd.Series([_cell_text(v) for v in raw], index=series.index, dtype=object)
    else:
        lut = {}
        for u in uniq:
            try:
                lut[u] = _cell_text(u)
            except TypeError:
                lut[u] = None
        text = pd.Series(raw, index=series.index, dtype=object).map(lut)
    return text[text.notna()]


def _coded(texts: Iterable[str]) -> bool:
    """Every value a short number (a coded answer)."""
    return all(re.fullmatch(r"-?\d{1,4}(?:\.0+)?", t) for t in texts)


def non_name_words(codebook=None, registry: pd.DataFrame | None = None) -> frozenset:
    """Words that are not personal names: the registry's community, street and district names and
    the codebook's Chinese labels (questions, answers, missing-value reasons)."""
    words: set[str] = set()
    if registry is not None:
        for n in registry["name_zh"].dropna().astype(str) if "name_zh" in registry.columns else ():
            words.update({n, n.removesuffix("社区"), n.removesuffix("村社区")})
        for c in ("district", "street"):
            if c in registry.columns:
                words.update(registry[c].dropna().astype(str))
    if codebook is not None:
        for v in codebook.variables.values():
            words.add(v.label.zh)
            for lab in (v.codes or {}).values():
                words.add(lab.zh)
        for m in codebook.missing_codes.values():
            words.add(m.label.zh)
    return frozenset(words)


def detect_personal_data(
    df: pd.DataFrame,
    *,
    allow: Sequence[str] = (),
    not_names: Iterable[str] = (),
    codebook=None,
    registry: pd.DataFrame | str | os.PathLike | None = None,
    study=None,
) -> pd.DataFrame:
    """Columns of `df` that look like personal data, found by column name and by content.

    Parameters
    ----------
    df
        A table as read (strings or numbers); the index is taken as the row number.
    allow
        Columns the caller has declared are not personal data: not examined by name, and their
        content only for mobile numbers and check-digit-valid 18-character ID numbers
        (``detected_by == "content (allowed column)"``), which nothing else resembles.
    not_names
        Extra words that are not personal names.
    codebook, registry, study
        The survey's codebook and community registry (or a :class:`~evalkit.spec.study.Study`
        holding them), both optional: their Chinese labels and community, street and district
        names are not taken for personal names (:func:`non_name_words`). Without them a column of
        community names such as 明月, 文苑 may look like names.

    Returns
    -------
    DataFrame
        One row per (column, kind): ``column, kind, label, detected_by`` (``"column name"``,
        ``"content"`` or ``"content (allowed column)"``), ``n_rows`` (rows whose content matched; 0 when found by name only) and
        ``example_row`` (the first such row, ``<NA>`` when found by name only). Values are never
        included.

    Notes
    -----
    See the module docstring (or :func:`patterns_table`) for every pattern. Content is compared
    after Unicode NFKC normalisation (full-width digits count) and numbers that Excel stored as
    floats are read as whole numbers.
    """
    allow = set(map(str, allow))
    codebook, registry = resolve(codebook, registry, study, "detect_personal_data()", codebook_required=False)
    exclude = non_name_words(codebook, registry) | frozenset(map(str, not_names))
    rows = []
    for pos, col in enumerate(df.columns):
        name = str(col)
        values = _column_text(df.iloc[:, pos])
        if name in allow:
            rows.extend(_high_confidence(name, values))
            continue
        uniq = pd.unique(values.to_numpy(dtype=object))
        coded = len(uniq) > 0 and _coded(uniq)
        found: dict[str, tuple[str, int, object]] = {}
        last = re.split(r"[/.]", name)[-1]
        for p in PATTERNS:
            if p.column_name.search(name) or p.column_name.search(last):
                if not coded:
                    found[p.kind] = ("column name", 0, pd.NA)
        # content, tested on the distinct values
        for p in PATTERNS:
            if p.content is None or p.kind in found or not len(uniq):
                continue
            hits = {u for u in uniq if p.content(u)}
            if hits:
                mask = values.isin(hits)
                found[p.kind] = ("content", int(mask.sum()), values.index[mask.to_numpy()][0])
        if "name" not in found and len(uniq) >= 3:
            name_like = {u for u in uniq if _looks_like_name(u, exclude)}
            if len(name_like) >= 3:
                mask = values.isin(name_like)
                n = int(mask.sum())
                if n >= 0.5 * len(values) and (len(name_like) >= 20 or len(name_like) >= 0.2 * n):
                    found["name"] = ("content", n, values.index[mask.to_numpy()][0])
        for kind, (by, n, ex) in found.items():
            p = PATTERNS[KINDS.index(kind)]
            rows.append((name, kind, p.label, by, n, ex))
    out = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    out["n_rows"] = out["n_rows"].astype("int64")
    out["example_row"] = pd.array([None if pd.isna(x) else int(x) for x in out["example_row"]], dtype="Int64")
    return out


def _high_confidence(name: str, values: pd.Series) -> list[tuple]:
    """Findings in an allowed column: mobile numbers and check-digit-valid IDs only (``allow=``
    says the column is not personal data; these patterns are too specific to be anything else)."""
    hits: dict[str, set] = {}
    for u in pd.unique(values.to_numpy(dtype=object)):
        for kind, _ in find_personal_numbers(u, high_confidence=True):
            hits.setdefault(kind, set()).add(u)
    out = []
    for kind, us in hits.items():
        mask = values.isin(us)
        p = PATTERNS[KINDS.index(kind)]
        out.append((name, kind, p.label, "content (allowed column)", int(mask.sum()),
                    values.index[mask.to_numpy()][0]))
    return out


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff]")


def value_shape(value) -> str:
    """What a value looks like, without the value: ``"11 digits"``, ``"3 Chinese characters"``,
    ``"12 characters: 8 letters, 4 digits"``, ``"blank"`` (counted after :func:`normalise_text`)."""
    t = normalise_text(value).strip() if value is not None else ""
    if not t:
        return "blank"
    parts = {"digits": sum(c.isdigit() for c in t), "Chinese characters": len(_HAN.findall(t))}
    parts["letters"] = sum(c.isalpha() for c in t) - parts["Chinese characters"]
    parts["other"] = len(t) - sum(parts.values())
    present = [(f"{n} {k[:-1] if n == 1 and k != 'other' else k}", k) for k, n in parts.items() if n]
    if len(present) == 1:
        return present[0][0] if present[0][1] != "other" else f"{len(t)} other characters"
    return f"{len(t)} characters: " + ", ".join(p for p, _ in present)


_SHORT_NUMBER = re.compile(r"-?\d{1,4}(?:\.\d{1,3})?")


def display_value(value, known: Iterable[str] = ()) -> str:
    """A value as it may be shown in a problems table or an error message.

    The rule: a value is shown as it is only if it is one of `known` (the codebook's codes,
    labels and names, the registry's ids and names: :func:`known_values`) or a short number (at
    most 4 digits before and 3 after the point: an age of 150, a code of 7, a wave of 2017).
    Anything else -- a phone number, an ID number, a name typed into the wrong field -- is
    replaced by its shape (:func:`value_shape`) in angle quotes, e.g. ``‹11 digits›``.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    t = str(value)
    if not t.strip():
        return t
    if t.strip() in known or _SHORT_NUMBER.fullmatch(t.strip()):
        return t.strip()
    return f"‹{value_shape(t)}›"


def known_values(codebook=None, registry: pd.DataFrame | None = None) -> frozenset:
    """Values that identify no one and may be shown: every word of :func:`non_name_words`, the
    codebook's variable names, codes, English labels and allowed values, and the registry's
    community ids and pinyin names."""
    words = set(non_name_words(codebook, registry))
    if codebook is not None:
        for v in codebook.variables.values():
            words.update({v.name, v.label.en})
            words.update(str(c) for c in (v.codes or {}))
            words.update(lab.en for lab in (v.codes or {}).values())
            words.update(str(c) for c in (v.missing_codes or {}))
            words.update(str(x) for x in (v.values or ()))
    if registry is not None:
        for c in ("community_id", "name_pinyin"):
            if c in registry.columns:
                words.update(registry[c].dropna().astype(str))
    return frozenset(w for w in words if isinstance(w, str) and w)


def format_findings(findings: pd.DataFrame, source: str, call: str = "read_survey(path, ...)") -> str:
    """The message of :class:`PersonalDataError` for a findings table (values never shown)."""
    cols = list(dict.fromkeys(findings["column"]))
    lines = [
        f"{source}: {len(cols)} column(s) look like personal data about residents; evalkit refuses "
        "to take them into the analysis:"
    ]
    for c in cols:
        parts = []
        for f in findings[findings["column"] == c].itertuples(index=False):
            if f.detected_by == "content":
                parts.append(f"{f.label} (found in the content of {f.n_rows} row(s), e.g. row {f.example_row})")
            elif f.detected_by == "content (allowed column)":
                parts.append(f"{f.label} in {f.n_rows} row(s), e.g. row {f.example_row}, although the column "
                             "is allowed: allow= does not cover mobile numbers and valid ID numbers; drop "
                             "the column or remove those values")
            else:
                parts.append(f"{f.label} (found by the column name)")
        lines.append(f"  column {c!r}: " + "; ".join(parts))
    fn = call.split("(")[0]
    lines.append(
        f"Drop them when reading: {fn}(..., drop={cols!r}); or, if a column is not personal data, "
        f"say so: {fn}(..., allow=[{cols[0]!r}]). Respondent and household ids should be replaced "
        "by keyed pseudonyms: evalkit.io.privacy.pseudonymise(df)."
    )
    return "\n".join(lines)


def check_personal_data(
    df: pd.DataFrame,
    *,
    drop: Sequence[str] = (),
    allow: Sequence[str] = (),
    source: str | None = None,
    call: str = "read_survey(path, ...)",
    codebook=None,
    registry: pd.DataFrame | str | os.PathLike | None = None,
    study=None,
) -> pd.DataFrame:
    """Drop the `drop` columns, then refuse the table if any other column looks like personal data.

    Parameters
    ----------
    df
        The table as read.
    drop
        Columns to remove (personal data the analysis does not need). Naming a column that is not
        there is an error, so a typo cannot let personal data through.
    allow
        Columns the caller declares are not personal data (e.g. a ``tel_support`` yes/no item).
    source
        The file name for the message; default ``df.attrs["source"]``.
    codebook, registry, study
        Words that are not names (see :func:`detect_personal_data`).

    Returns
    -------
    DataFrame
        `df` without the dropped columns (``attrs`` kept, with ``dropped_personal_data``).

    Raises
    ------
    PersonalDataError
        Some column looks like personal data. The message lists each column, what was found and
        an example row number, never a value; ``.columns`` lists the columns.
    """
    source = source or str(df.attrs.get("source", "<DataFrame>"))
    drop = [drop] if isinstance(drop, str) else list(drop)
    allow = [allow] if isinstance(allow, str) else list(allow)
    cols = [str(c) for c in df.columns]
    for what, names in (("drop", drop), ("allow", allow)):
        unknown = [c for c in names if str(c) not in cols]
        if unknown:
            raise PersonalDataError(
                f"{source}: {what}= names column(s) not in the file: {unknown}. The file's columns "
                f"are {cols[:15]}{' ...' if len(cols) > 15 else ''}.", columns=unknown)
    keep = [i for i, c in enumerate(cols) if c not in set(map(str, drop))]
    out = df.iloc[:, keep]
    findings = detect_personal_data(out, allow=allow, codebook=codebook, registry=registry, study=study)
    if not findings.empty:
        err = PersonalDataError(format_findings(findings, source, call), columns=list(dict.fromkeys(findings["column"])))
        err.findings = findings
        raise err
    out.attrs = {**df.attrs, "dropped_personal_data": [str(c) for c in drop]}
    return out

__all__ = [
    "PATTERNS", "Pattern", "KINDS", "patterns_table", "detect_personal_data", "check_personal_data", "non_name_words",
    "format_findings", "citizen_id_check_digit", "is_citizen_id", "is_citizen_id15", "normalise_text",
    "strip_markup", "find_personal_numbers", "find_emails", "value_shape", "display_value", "known_values", "pseudonymise", "pseudonym",
    "load_pseudonym_key", "check_key_strength", "PSEUDONYM_LENGTH", "KEY_ENV", "KEY_FILE_ENV",
]
