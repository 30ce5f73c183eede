"""Personal data: keep it out of the analysis, and replace identifiers by keyed pseudonyms.

Survey exports often carry columns that identify residents: names, phone numbers, citizen ID
numbers (身份证号), addresses, WeChat/QQ/e-mail contacts, the IP address or GPS position of the
device. :func:`detect_personal_data` finds such columns **by their name and by their content**;
:func:`check_personal_data` (called by every reader) refuses a table holding any of them with a
:class:`~evalkit.errors.PersonalDataError` that lists the columns, what was found and an example
row number -- never the value itself -- and says how to proceed: drop the columns (``drop=[...]``),
or, if a column is not personal data, mark it allowed (``allow=[...]``), or remove every such
column (``personal_data="quarantine"``).

A phone or ID number in a column that is *not* personal data -- typed into the age box, or in an
allowed column -- does not refuse the file: :func:`quarantine_personal_cells` blanks that cell and
lists it in ``attrs["personal_cells"]`` (row, column, rule, shape; never the value), and
:func:`evalkit.validate` quarantines its row. A column is personal data by content when such
numbers fill at least half of its answers (:data:`COLUMN_SHARE`). Not taken for personal data:
UUIDs (KoboToolbox ``_uuid``), IPv4 addresses, dates, a building or entrance alone ("18号楼",
"3栋2单元": a sampling unit).

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
address    column name (地址, 住址, 门牌, 房号, address ...); content: a flat ("301室",
           "3栋2单元301"), a street with a number ("黄河路58号"), or 门牌. A building or an
           entrance alone ("18号楼", "3栋2单元") is a sampling unit (PSU) of many households,
           not an address, and is not flagged
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
from typing import Callable, Iterable, Literal, Sequence

import numpy as np
import pandas as pd

from .._literals import check_choice
from ..errors import PersonalDataError
from ..spec.study import resolve
from .pseudonyms import (  # noqa: F401  (re-exported)
    KEY_ENV, KEY_FILE_ENV, MIN_KEY_BYTES, PSEUDONYM_LENGTH, load_pseudonym_key, check_key_strength, pseudonym, pseudonymise,
)
from .personal_numbers import cell_text as _cell_text
from .display import non_name_words, value_shape, display_value, known_values  # noqa: F401  (re-exported)
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
    r"|(?:(?<!\d)\d{2,5}\s{0,3}(?:室|房|号房))"
    r"|(?:(?:号楼|栋|幢|单元)\s{0,3}-?\s{0,3}\d{3,4}(?!\d))"
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
            re.compile(_cn("地址|住址|门牌|房号|门牌号") + r"|address|(?:^|[^a-z])addr(?:[^a-z]|$)", re.I),
            lambda t: bool(_ADDRESS.search(t)),
            "a flat (301室, 3栋2单元301), a street with a number (黄河路58号) or 门牌; a building or "
            "entrance alone (18号楼, 3栋2单元: a sampling unit of many households) is not an address"),
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
FINDING_COLUMNS = ["column", "kind", "label", "detected_by", "n_rows", "example_row", "n_answers"]


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
        ``example_row`` (the first such row, ``<NA>`` when found by name only) and ``n_answers``
        (the column's non-blank cells). Values are never included.

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
            rows.append((name, kind, p.label, by, n, ex, len(values)))
    out = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    out["n_rows"] = out["n_rows"].astype("int64")
    out["n_answers"] = out["n_answers"].astype("int64")
    out["example_row"] = pd.array([None if pd.isna(x) else int(x) for x in out["example_row"]], dtype="Int64")
    return out


#: What readers do with personal data (``"quarantine"`` is not yet in :mod:`evalkit._literals`).
PersonalDataPolicy = Literal["refuse", "quarantine", "ignore"]


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
                    values.index[mask.to_numpy()][0], len(values)))
    return out


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


#: Kinds found per cell: a stray phone or ID number in a column that is not personal data.
CELL_KINDS = ("phone", "citizen_id")
#: A column whose non-blank cells hold phone or ID numbers at least this often IS a phone or ID
#: column (refused as a whole); below it, the numbers are strays typed into the wrong box.
COLUMN_SHARE = 0.5


class CellTable(pd.DataFrame):
    """The table of ``attrs["personal_cells"]``: a DataFrame that compares equal as a whole.

    pandas compares ``attrs`` with ``==`` when it concatenates or merges frames; a plain DataFrame
    there makes ``pd.concat`` raise "truth value of a DataFrame is ambiguous". This one answers
    ``==`` with one bool (same cells), everything else is a DataFrame's.
    """

    @property
    def _constructor(self):
        return CellTable

    def __eq__(self, other):  # type: ignore[override]
        return isinstance(other, pd.DataFrame) and pd.DataFrame(self).equals(pd.DataFrame(other))

    def __ne__(self, other):  # type: ignore[override]
        return not self.__eq__(other)

    __hash__ = None


def cell_rules(text: str, *, allowed: bool = False) -> list[str]:
    """The per-cell rules a normalised cell breaks: ``"phone"`` (mobile; a landline too unless
    `allowed`) and ``"citizen_id"`` (18 characters with a valid check digit; a 15-digit
    first-generation ID too unless `allowed`). The same finders as :func:`detect_personal_data`."""
    kinds = [k for k, _ in find_personal_numbers(text, high_confidence=allowed)]
    if not allowed and "phone" not in kinds and _LANDLINE.search(text):
        kinds.append("phone")
    return list(dict.fromkeys(kinds))


def quarantine_personal_cells(
    frame: pd.DataFrame,
    *,
    source: str,
    allow: Sequence[str] = (),
    codebook=None,
    registry=None,
) -> pd.DataFrame:
    """Blank every cell holding a phone or citizen ID number and list it, without the value.

    Parameters
    ----------
    frame
        A table as read; its index is the row number a user sees in the file.
    source
        The file name, for messages.
    allow
        Columns the user declared are not personal data: still scanned, for the high-confidence
        patterns only (mobile numbers, 18-character IDs with a valid check digit).
    codebook, registry
        Accepted for the readers' uniform call; numbers do not depend on them.

    Returns
    -------
    DataFrame
        A copy of `frame` in which each such cell is blank (``None``), with
        ``attrs["personal_cells"]``: one row per blanked cell, ``row`` (the index label),
        ``column``, ``rule`` (``"phone"`` or ``"citizen_id"``) and ``shape`` (what it looked like,
        e.g. ``"11 digits"``, :func:`value_shape`) -- never the value. Cells listed by an earlier
        call (``frame.attrs["personal_cells"]``) are kept in the list.
        :func:`evalkit.validate` quarantines these rows (rule ``personal_data``), so rows in =
        valid + quarantined still holds.

    Notes
    -----
    Cells are compared after :func:`normalise_text` (NFKC, markup and format characters removed,
    digit groups separated by spaces, hyphens or dots, a trailing ``.0``), so a phone typed as
    ``138-1234-5678`` or ``１３８１２３４５６７８`` into the age box is found. UUIDs (Kobo
    ``_uuid``), IPv4 addresses (问卷星 来自IP), dates and short numbers are not personal numbers.
    """
    allowed = set(map(str, allow))
    out = frame.copy()
    out.attrs = dict(frame.attrs)
    rows: list[tuple] = []
    for pos, col in enumerate(frame.columns):
        raw = frame.iloc[:, pos]
        is_allowed = str(col) in allowed
        hits: dict = {}
        try:
            uniq = pd.unique(raw.to_numpy(dtype=object))
        except TypeError:  # unhashable cells: text them one by one
            uniq = None
        for u in (uniq if uniq is not None else raw.to_numpy(dtype=object)):
            try:
                t = _cell_text(u)
            except TypeError:
                t = None
            if t is None or sum(ch.isdigit() for ch in t) < 10:  # no phone or ID has fewer digits
                continue
            rules = cell_rules(t, allowed=is_allowed)
            if rules:
                hits[u] = (rules[0], value_shape(t))
        if not hits:
            continue
        mask = raw.isin(list(hits)).to_numpy() if uniq is not None else raw.map(lambda v: v in hits).to_numpy()
        for label, v in zip(frame.index[mask], raw.to_numpy(dtype=object)[mask]):
            rows.append((label, str(col), *hits[v]))
        positions = np.flatnonzero(mask)
        if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
            column = out.iloc[:, pos].astype("float64")  # numbers stay numbers; blank = NaN
            column.iloc[positions] = np.nan
        else:
            column = out.iloc[:, pos].astype(object)
            column.iloc[positions] = None
        out.isetitem(pos, column)
    found = pd.DataFrame(rows, columns=["row", "column", "rule", "shape"])
    before = frame.attrs.get("personal_cells")
    if isinstance(before, pd.DataFrame) and not before.empty:
        found = pd.concat([before[["row", "column", "rule", "shape"]], found], ignore_index=True)
    out.attrs["personal_cells"] = CellTable(found)
    return out


def _stray(f) -> bool:
    """A finding that is handled cell by cell rather than by refusing the column."""
    if f.detected_by == "content (allowed column)":
        return True
    return f.detected_by == "content" and f.kind in CELL_KINDS and f.n_rows < COLUMN_SHARE * f.n_answers


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
    personal_data: str = "refuse",
) -> pd.DataFrame:
    """Drop the `drop` columns, refuse columns that are personal data, blank stray personal numbers.

    Parameters
    ----------
    df
        The table as read.
    drop
        Columns to remove (personal data the analysis does not need). Naming a column that is not
        there is an error, so a typo cannot let personal data through.
    allow
        Columns the caller declares are not personal data (e.g. a ``tel_support`` yes/no item);
        still scanned cell by cell for mobile numbers and valid 18-character IDs.
    source
        The file name for the message; default ``df.attrs["source"]``.
    call
        The reader call the message's remedy names (``"read_kobo(path, ...)"``).
    codebook, registry, study
        Words that are not names (see :func:`detect_personal_data`).
    personal_data
        ``"refuse"`` (default): a column that is personal data (by its name, or by its content:
        names, addresses, contacts, or phone/ID numbers in at least half of its answers) refuses
        the table; a phone or ID number elsewhere -- one typed into the age box, or in an allowed
        column -- is blanked and listed in ``attrs["personal_cells"]``
        (:func:`quarantine_personal_cells`), so :func:`evalkit.validate` quarantines its row.
        ``"quarantine"``: such columns are removed instead (listed in
        ``attrs["dropped_personal_data"]`` and ``attrs["notes"]``) and stray numbers blanked as
        before. ``"ignore"``: only `drop` is applied (for tables known to be clean).

    Returns
    -------
    DataFrame
        `df` without the dropped columns and with stray personal numbers blanked (``attrs`` kept,
        with ``dropped_personal_data`` and ``personal_cells``).

    Raises
    ------
    PersonalDataError
        Some column looks like personal data. The message lists each column, what was found and
        an example row number, never a value; ``.columns`` lists the columns.
    """
    check_choice(personal_data, PersonalDataPolicy, "personal_data")
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
    attrs = {**df.attrs, "dropped_personal_data": [str(c) for c in drop]}
    if personal_data == "ignore":
        out.attrs = attrs
        return out
    findings = detect_personal_data(out, allow=allow, codebook=codebook, registry=registry, study=study)
    whole = findings[[not _stray(f) for f in findings.itertuples(index=False)]] if len(findings) else findings
    if not whole.empty and personal_data == "refuse":
        err = PersonalDataError(format_findings(whole, source, call), columns=list(dict.fromkeys(whole["column"])))
        err.findings = whole
        raise err
    if not whole.empty:  # "quarantine": the personal columns go, with a note saying so
        gone = list(dict.fromkeys(whole["column"]))
        out = out[[c for c in out.columns if str(c) not in gone]]
        attrs["dropped_personal_data"] += gone
        attrs["notes"] = list(attrs.get("notes", [])) + [
            f"column {c!r} removed: it looks like personal data ({', '.join(whole.loc[whole['column'] == c, 'kind'])})"
            for c in gone]
    out.attrs = attrs
    return quarantine_personal_cells(out, source=source, allow=allow)


def check_mapped(out: pd.DataFrame, *, mapping: dict, headers: Sequence[str], allow: Sequence[str] = (),
                 personal_data: str = "refuse", source: str, call: str, codebook=None, registry=None) -> pd.DataFrame:
    """:func:`check_personal_data` for a platform reader's output (codebook columns): `allow` may
    name export headers (translated through `mapping`) or codebook names."""
    allow = [allow] if isinstance(allow, str) else list(allow)
    allow = [a if a in out.columns else mapping.get(a, a) for a in allow]
    unknown = [a for a in allow if a not in out.columns and a not in headers]
    if unknown:
        raise PersonalDataError(f"{source}: allow= names column(s) neither in the export nor read from it: "
                                f"{unknown}.", columns=unknown)
    return check_personal_data(out, allow=[a for a in allow if a in out.columns], source=source, call=call,
                               codebook=codebook, registry=registry, personal_data=personal_data)


__all__ = [
    "check_mapped", "quarantine_personal_cells", "CellTable", "cell_rules", "CELL_KINDS", "COLUMN_SHARE", "PATTERNS", "Pattern", "KINDS", "patterns_table", "detect_personal_data", "check_personal_data", "non_name_words",
    "format_findings", "citizen_id_check_digit", "is_citizen_id", "is_citizen_id15", "normalise_text",
    "strip_markup", "find_personal_numbers", "find_emails", "value_shape", "display_value", "known_values", "pseudonymise", "pseudonym",
    "load_pseudonym_key", "check_key_strength", "PSEUDONYM_LENGTH", "KEY_ENV", "KEY_FILE_ENV",
]
