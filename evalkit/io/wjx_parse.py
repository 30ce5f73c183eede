"""The pieces of a 问卷星 / 腾讯问卷 download that :func:`evalkit.io.wjx.read_wjx` reads.

Question headers ("1、您的性别：", "7、(社区为老服务)", "9(文体活动)", "第3题：..."), the submission
time, per-question option maps for option-number downloads, and multiple-choice questions
("┋"-joined option texts, or one 0/1 column per option) turned into codebook yes/no items.
Everything is matched through :func:`evalkit.io.platform._norm` (width, dashes, tildes, spaces and
punctuation); what does not match is refused at reading time with the fix, or kept as text so
that :func:`evalkit.validate` quarantines the row.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from ..errors import ReadError
from ..spec.codebook import Codebook, Variable
from .platform import _drop_fill_in, _label_lookup, _norm, _number_text, _text, option_list

#: "1、您的性别：", "第3题：...", "7(社区为老服务)", "12. ..." -> number, rest.
_HEADER = re.compile(r"^\s*(?:第\s*)?(\d{1,4})\s*(?:题)?\s*(?:[、.．:：)）]\s*)?(.*)$", re.S)
#: A trailing bracketed text: a matrix row or a multiple-choice option ("(社区为老服务)").
_ITEM = re.compile(r"^(.*?)\s*[(（]([^()（）]+)[)）]\s*$", re.S)
#: Separators before a matrix row in some downloads ("7、满意度—社区为老服务").
_ROW_SEP = re.compile(r"[—－\-:：_]+")
#: Columns holding the submission time (问卷星, 腾讯问卷), in order of preference.
SUBMITTED = ("提交答卷时间", "提交时间", "答题结束时间", "结束答题时间")
#: The platforms' own columns: never codebook variables.
PLATFORM_COLUMNS = ("序号", "编号", "提交答卷时间", "提交时间", "所用时间", "答题时长", "来源", "来源详情",
                    "来自IP", "IP", "总分", "开始答题时间", "结束答题时间", "答题结束时间")
#: Options that mean "none of these" in a multiple-choice question (exclusive: every item 0).
NONE_OPTIONS = ("以上都没有", "以上均没有", "以上都不是", "以上均不是", "以上皆无", "以上都无", "都没有",
                "均无", "无", "没有", "none", "none of the above")
#: Separators of the options a respondent ticked, in a text download.
_MULTI_SEP = re.compile(r"[┋┊]")


@dataclass(frozen=True)
class Header:
    """A question header split into its parts (``number`` is None for the platform's columns)."""

    text: str
    number: str | None
    rest: str
    item: str | None

    def keys(self) -> list[str]:
        """Texts the header is known by, most specific first (see ``platform._resolve``)."""
        out = [_norm(self.rest)] if self.rest else []
        if self.item:
            out.append(_norm(self.item))
        parts = [p for p in _ROW_SEP.split(self.rest) if p.strip()]
        if len(parts) > 1 and len(_norm(parts[-1])) >= 2:
            out.append(_norm(parts[-1]))
        if self.number is not None:
            out.append(self.number)
        return [k for k in dict.fromkeys(out) if k]


def parse_header(h) -> Header:
    """Split "7、(社区为老服务)" into number "7", rest "(社区为老服务)", item "社区为老服务"."""
    text = str(h)
    if text.strip() in PLATFORM_COLUMNS:
        return Header(text, None, text.strip(), None)
    m = _HEADER.match(text)
    if not m:
        return Header(text, None, text.strip(), None)
    rest = m.group(2).strip()
    item = _ITEM.match(rest)
    return Header(text, m.group(1), rest, item.group(2).strip() if item else None)


def submitted_column(raw: pd.DataFrame) -> tuple[str | None, pd.Series | None, list[str]]:
    """(header, ISO text "2017-06-03T10:21:07" per row, notes) of the submission time, if any.

    A cell that is not a date and time is kept as it was (and named in the notes)."""
    header = next((h for name in SUBMITTED for h in raw.columns if str(h).strip() == name), None)
    if header is None:
        return None, None, []
    notes: list[str] = []

    def iso(v):
        t = _text(v)
        if t is None:
            return None
        if isinstance(v, pd.Timestamp):
            return v.isoformat()
        stamp = pd.to_datetime(t.replace("/", "-"), errors="coerce", format="mixed")
        if pd.isna(stamp):
            return t
        return stamp.isoformat()

    out = raw[header].map(iso).astype(object)
    bad = [r for r, v, o in zip(raw.index, out, raw[header]) if v is not None and v == _text(o) and "T" not in v]
    if bad:
        notes.append(f"column {header!r}: {len(bad)} cell(s) are not a date and time (e.g. row {bad[0]}); "
                     "kept as text in 'submitted'")
    return str(header), out, notes


# --- option maps (option-number downloads) ----------------------------------------------------------
def _code_of(value, var: Variable, codebook: Codebook, lut: Mapping[str, int], where: str) -> str:
    """The codebook code an option map entry names (a code, or an option text)."""
    valid = set(var.codes or {}) | set(var.missing_codes)
    t = _text(value)
    num = _number_text(t) if t is not None else None
    if isinstance(value, (int, float)) or (num is not None and _norm(t) not in lut):
        if num is None or float(num) not in {float(c) for c in valid}:
            raise ReadError(f"{where}: {value!r} is not an answer code of {var.name!r} (one of: "
                            f"{option_list(var, codebook)}).")
        return num
    code = lut.get(_norm(t)) if t is not None else None
    if code is None:
        raise ReadError(f"{where}: option text {value!r} is not an answer of {var.name!r} (one of: "
                        f"{option_list(var, codebook)}). Correct the text, or give the code instead "
                        f"({{option number: code}}).")
    return str(code)


def option_maps(option_map: Mapping, headers: Sequence[Header], mapping: Mapping[str, str],
                codebook: Codebook, source: str) -> dict[str, dict[str, str]]:
    """``{header: {option number: code}}`` from the user's ``option_map``.

    A key is a question number (every column of that question: the rows of a matrix share its
    options), a codebook name, or a header / question text. A value is the option texts in
    questionnaire order (option 1 first), ``{option number: code}`` or ``{option number: option
    text}``; every text must be an answer label of the codebook, every code one of its codes.
    """
    by_name = {v: h for h, v in mapping.items()}
    out: dict[str, dict[str, str]] = {}
    for key, options in (option_map or {}).items():
        k = str(key).strip()
        if k in by_name:
            cols = [by_name[k]]
        else:
            cols = [h.text for h in headers if h.number == k or h.text == k or (h.rest and _norm(h.rest) == _norm(k))
                    or _norm(h.text) == _norm(k)]
            cols = [h for h in cols if h in mapping]
        if not cols:
            raise ReadError(f"{source}: option_map key {key!r} names no question read into the codebook "
                            "(a question number, a codebook name or a header). Mapped questions: "
                            f"{sorted(set(mapping.values()))[:12]}.")
        if isinstance(options, Mapping):
            pairs = [(_number_text(str(n)) or str(n), v) for n, v in options.items()]
        elif isinstance(options, (list, tuple)):
            pairs = [(str(i), v) for i, v in enumerate(options, start=1)]
        else:
            raise ReadError(f"{source}: option_map[{key!r}] must be a list of option texts in questionnaire "
                            "order or a dict {option number: code or option text}; got "
                            f"{type(options).__name__}.")
        for h in cols:
            var = codebook.variables[mapping[h]]
            if not (var.codes or var.missing_codes):  # a community, a category: the option text itself
                out[h] = {n: str(v).strip() for n, v in pairs}
                continue
            lut = _label_lookup(var, codebook)
            out[h] = {n: _code_of(v, var, codebook, lut, f"{source}: option_map[{key!r}], option {n}")
                      for n, v in pairs}
    return out


# --- multiple choice ----------------------------------------------------------------------------
def _yes_no(var: Variable, source: str) -> tuple[str, str]:
    """The codes meaning "ticked" and "not ticked" for a yes/no codebook item."""
    yes = [c for c, lab in (var.codes or {}).items() if _norm(lab.zh) in ("是", "有") or _norm(lab.en) in ("yes", "true")]
    no = [c for c, lab in (var.codes or {}).items() if _norm(lab.zh) in ("否", "无", "没有") or _norm(lab.en) in ("no", "false")]
    if len(yes) == 1 and len(no) == 1:
        return str(yes[0]), str(no[0])
    if set(var.codes or {}) == {0, 1}:
        return "1", "0"
    raise ReadError(f"{source}: select_multiple maps an option to {var.name!r}, which is not a yes/no item "
                    f"(its codes: {list(var.codes or {})}); an option can only tick a yes/no item.")


@dataclass
class _Question:
    key: str
    options: dict[str, str | None]       # normalised option text -> item ("" none of them; None: exclusive none)
    text_col: str | None
    flag_cols: dict[str, str]            # header -> normalised option text
    fill_ins: list[str]                  # bracketed columns beside a text column (not read)


def _question(key, choices: Mapping, headers: Sequence[Header], codebook: Codebook, source: str) -> _Question:
    k = str(key).strip()
    number = k if k.isdigit() else next((h.number for h in headers if h.number and h.rest
                                          and _norm(_ITEM.sub(r"\1", h.rest) if h.item else h.rest) == _norm(k)), None)
    if number is None:
        raise ReadError(f"{source}: select_multiple key {key!r} names no question of the export; use the "
                        "question number (9 for \"9、您参加过哪些活动？\").")
    options: dict[str, str | None] = {}
    for text, item in choices.items():
        if item not in (None, "") and item not in codebook.variables:
            raise ReadError(f"{source}: select_multiple[{key!r}] maps {text!r} to {item!r}, not a codebook "
                            "variable (use None for an exclusive 'none of these' option, \"\" for an option "
                            "that ticks no item).")
        options[_norm(text)] = item
    for t in NONE_OPTIONS:
        options.setdefault(_norm(t), None)
    cols = [h for h in headers if h.number == number]
    flags = {h.text: _norm(h.item) for h in cols if h.item and _norm(h.item) in options}
    plain = [h for h in cols if not h.item]
    if len(plain) == 1:  # one answer column ("┋"); bracketed columns beside it are fill-ins ("13、(其他)")
        return _Question(str(key), options, plain[0].text, {}, [h.text for h in cols if h.item])
    if not flags or plain:
        raise ReadError(f"{source}: select_multiple question {key!r} matches {len(plain)} answer columns and "
                        f"{len(flags)} option columns ({[h.text for h in cols][:6]}); give the question "
                        "number of one multiple-choice question.")
    for h in cols:
        if h.text not in flags:
            raise ReadError(f"{source}: column {h.text!r} looks like an option of multiple-choice question "
                            f"{number}, but {h.item!r} is not in select_multiple[{key!r}]. Add it "
                            f"({{{h.item!r}: codebook item}}, or \"\" if it ticks no item).")
    text_col = None
    return _Question(str(key), options, text_col, flags, [])


def _flag(t: str | None, free: bool = False) -> bool | None | str:
    """A 0/1 option cell: True, False, None (skipped) or the text itself (not 0/1).

    `free`: the option ticks no item (其他), so any text in its column (the fill-in) means ticked."""
    if t is None:
        return None
    if free:
        return _number_text(t) != "0"
    u = _drop_fill_in(t)  # "1〖下棋〗" -> "1"; a fill-in alone ("〖下棋〗") means ticked
    n = _number_text(u)
    if u.startswith("〖") or n == "1":
        return True
    return False if n == "0" else t


def select_multiple(raw: pd.DataFrame, spec: Mapping, headers: Sequence[Header], codebook: Codebook,
                    skipped: Sequence[str], source: str) -> tuple[dict[str, pd.Series], set[str], list[str]]:
    """({item: codes per row}, the headers used, notes) for the multiple-choice questions of `spec`.

    Each item is its "ticked" code when any option mapped to it was ticked, "not ticked" when
    none was, blank when the question was skipped. An exclusive "none" option sets every item of
    the question to "not ticked"; ticked together with another option, or an option that is not
    in the map, leaves every item of that row blank and lists the row in the returned problems
    (``row, column, rule, message``; rule ``multiple_choice``), which the reader puts into
    ``attrs["read_problems"]`` and :func:`evalkit.validate` quarantines (never a guess).
    """
    items: dict[str, list] = {}
    used: set[str] = set()
    notes: list[str] = []
    problems: list[dict] = []
    for key, choices in (spec or {}).items():
        q = _question(key, choices, headers, codebook, source)
        names = list(dict.fromkeys(v for v in q.options.values() if v))
        codes = {n: _yes_no(codebook.variables[n], source) for n in names}
        for n in names:
            if n in items:
                raise ReadError(f"{source}: {n!r} is ticked by two select_multiple questions; map it once.")
            items[n] = []
        used.update(q.flag_cols)
        if q.text_col:
            used.update([q.text_col, *q.fill_ins])
        for row in raw.index:
            if q.text_col:
                t = _text(raw.at[row, q.text_col])
                if t is None or t in skipped:
                    ticked, why = None, ""
                else:
                    parts = [_norm(_drop_fill_in(p.strip())) for p in _MULTI_SEP.split(t) if p.strip()]
                    unknown = [p for p in parts if p not in q.options]
                    ticked, why = set(parts), (f"option {_shown(unknown[0])} of question {q.key} is not in "
                                               "select_multiple; add it to the map" if unknown else "")
            else:
                cells = {h: _flag(None if _text(raw.at[row, h]) in skipped else _text(raw.at[row, h]),
                                  free=q.options.get(q.flag_cols[h]) == "")
                         for h in q.flag_cols}
                if all(v is None for v in cells.values()):
                    ticked, why = None, ""
                else:
                    bad = [h for h, v in cells.items() if not isinstance(v, bool)]
                    ticked = {q.flag_cols[h] for h, v in cells.items() if v is True}
                    why = f"column {bad[0]!r} is neither 0 nor 1" if bad else ""
            if ticked is not None and not why:
                exclusive = [p for p in ticked if q.options.get(p, "") is None]
                if exclusive and len(ticked) > 1:
                    why = f"'none of these' ticked together with other options of question {q.key}"
            if why:
                notes.append(f"row {row}: {why}")
                problems.append({"row": row, "column": names[0] if names else str(q.key), "rule": "multiple_choice",
                                 "message": f"{why} (items {', '.join(names)} left blank)"})
            for n in names:
                if ticked is None or why:
                    items[n].append(None)
                else:
                    hit = any(q.options.get(p) == n for p in ticked)
                    items[n].append(codes[n][0] if hit else codes[n][1])
    return {n: pd.Series(v, index=raw.index, dtype=object) for n, v in items.items()}, used, notes, problems


def _shown(text: str) -> str:
    """An unknown option as quoted text, or only its shape if it holds a long number (a phone?)."""
    from .display import value_shape

    return f"‹{value_shape(text)}›" if re.search(r"\d{5,}", text) else repr(text)


__all__ = ["Header", "parse_header", "submitted_column", "option_maps", "select_multiple", "NONE_OPTIONS",
           "SUBMITTED", "PLATFORM_COLUMNS"]
