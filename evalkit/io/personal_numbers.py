"""Personal numbers in text: one normaliser and the finders shared by what is read and what is published.

:func:`normalise_text` (HTML tags removed without inserting separators, entities decoded, NFKC, Unicode
format characters removed) is applied both by :mod:`evalkit.io.privacy` to the cells of an input file
and by :mod:`evalkit.publish.disclosure` to rendered output, so a number hidden by markup, full-width
digits, zero-width characters, separators or a trailing ``.0`` is found in either. The finders are
linear in the length of the text: :func:`find_personal_numbers` (mobile numbers, 15- and 18-digit
citizen IDs with a valid check digit and birth date) and :func:`find_emails`.
"""
from __future__ import annotations

import bisect
import datetime as _dt
import functools
import html as _html
import re
import unicodedata

import numpy as np
import pandas as pd

# --- citizen ID numbers (GB 11643-1999) --------------------------------------------------------
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2^(17-i) mod 11
_ID_CHECK = "10X98765432"


def citizen_id_check_digit(first17: str) -> str:
    """The check character of an 18-digit resident ID number from its first 17 digits.

    Notes
    -----
    GB 11643-1999, ISO 7064 MOD 11-2: ``S = sum(d_i * W_i)`` with ``W_i = 2^(17-i) mod 11``
    (7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2); the check character is ``"10X98765432"[S mod 11]``.
    Worked example of the standard: 11010519491231002 -> S = 167, 167 mod 11 = 2 -> ``X``.
    """
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("first17 must be 17 digits")
    s = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[s % 11]


def is_citizen_id(value: str, *, today: _dt.date | None = None) -> bool:
    """True if `value` is a well-formed 18-character resident ID number.

    Checks the shape (17 digits and a digit or ``X``), the region code's first digit (1-8), the
    birth date (a real date from 1900-01-01 to today) and the MOD 11-2 check character.
    """
    v = str(value).strip().upper()
    if len(v) != 18 or not v[:17].isdigit() or not (v[17].isdigit() or v[17] == "X"):
        return False
    if v[0] not in "12345678":
        return False
    try:
        born = _dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    if not (_dt.date(1900, 1, 1) <= born <= (today or _dt.date.today())):
        return False
    return citizen_id_check_digit(v[:17]) == v[17]


# --- one normaliser for what is read and what is published ---------------------------------------
# Tags that render as a break between their neighbours; every other tag (b, span, a, custom ...)
# is removed without a separator, because the browser shows the text on either side as one run.
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br caption dd details div dl dt fieldset figcaption figure footer "
    "form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody td tfoot th "
    "thead tr ul".split())
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")
_BREAK = "\x1f"  # stands for a block boundary: not a digit separator, not a line break


@functools.lru_cache(maxsize=1)
def _format_chars() -> re.Pattern:
    """Unicode format characters (category Cf: zero-width space and joiner, BOM, bidi marks ...)."""
    cf = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    return re.compile("[" + "".join(re.escape(c) for c in cf) + "]")


def strip_markup(text: str) -> str:
    """`text` without HTML tags and comments, in linear time.

    Inline tags (``<b>``, ``<span>``, unknown tags ...) are removed without a separator, so
    ``138<b></b>1234`` reads ``1381234`` as the browser shows it; block tags (``td``, ``p``,
    ``br``, ``tr`` ...) become a break character that no pattern crosses. A ``<`` not followed
    by a letter, ``/`` or ``!`` is text, as in HTML.
    """
    out, i, n = [], 0, len(text)
    while i < n:
        j = text.find("<", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        if text.startswith("<!--", j):
            k = text.find("-->", j + 4)
            i = n if k < 0 else k + 3
            continue
        nxt = text[j + 1:j + 2]
        if not (nxt.isascii() and (nxt.isalpha() or nxt in "/!?")):
            out.append("<")
            i = j + 1
            continue
        k = text.find(">", j + 1)
        if k < 0:
            out.append(text[j:])
            break
        m = _TAG_NAME.match(text, j, k + 1)
        if m and m.group(1).lower() in _BLOCK_TAGS:
            out.append(_BREAK)
        i = k + 1
    return "".join(out)


def normalise_text(value, *, markup: bool = True) -> str:
    """The text personal-data patterns are matched against, for cells read and outputs published.

    Steps: HTML comments and tags removed (:func:`strip_markup`, when `markup`), entities
    decoded, Unicode NFKC (full-width digits and letters become ASCII, no-break and ideographic
    spaces become spaces), format characters (category Cf: zero-width spaces, joiners, bidi
    marks, soft hyphens) removed. Used by :func:`detect_personal_data` (input) and by
    :func:`evalkit.publish.disclosure.scan_text` (output), so both see the same thing.
    """
    t = str(value)
    if markup and ("<" in t or "&" in t):
        t = _html.unescape(strip_markup(t))
    t = unicodedata.normalize("NFKC", t)
    return _format_chars().sub("", t)


# Digit runs whose groups are separated by at most one space, hyphen or dot ("138 1234 5678",
# "370502 19800101 1239", "13812345678.0"); each match is linear in its length.
_NUM_RUN = re.compile(r"(?<![0-9])[0-9](?:[ .\-]?[0-9])*(?:[ .\-]?[Xx](?![0-9A-Za-z]))?")
_GROUP = re.compile(r"[0-9]+[Xx]?")
_ALNUM = re.compile(r"[0-9A-Za-z]+")
_HEX_TOKEN = re.compile(r"[0-9a-fA-F]{16,}")
# Tokens that are not personal numbers although their digit groups can add up to 11 or 18 digits:
# a UUID (KoboToolbox _uuid / instanceID "uuid:4f1c...-1381-2345-6789-..."), an IPv4 address
# (问卷星 来自IP "139.227.12.145(山东-东营)": 4 octets of 11 digits).
_UUID = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
                   r"(?![0-9A-Za-z])")
_IPV4_TOKEN = re.compile(r"(?<![0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                         r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?![0-9]|\.[0-9])")


def is_citizen_id15(value: str, *, today: _dt.date | None = None) -> bool:
    """True for a first-generation 15-digit resident ID: region (first digit 1-8), YYMMDD of a
    real 19YY birth date up to today, and a 3-digit sequence number (no check digit)."""
    v = str(value)
    if len(v) != 15 or not v.isdigit() or v[0] not in "12345678":
        return False
    try:
        born = _dt.date(1900 + int(v[6:8]), int(v[8:10]), int(v[10:12]))
    except ValueError:
        return False
    return born <= (today or _dt.date.today())


def _number_kind(digits: str, high_confidence: bool) -> str | None:
    if len(digits) in (11, 13, 15) and digits[-11:-9] in {f"1{d}" for d in "3456789"} \
            and digits[-11:].isdigit() and digits[:-11] in ("", "86", "0086"):
        return "phone"
    if len(digits) == 18 and is_citizen_id(digits):
        return "citizen_id"
    if not high_confidence and len(digits) == 15 and is_citizen_id15(digits):
        return "citizen_id"
    return None


def find_personal_numbers(text: str, *, high_confidence: bool = False) -> list[tuple[str, int]]:
    """Mobile numbers and citizen ID numbers in normalised `text`: ``[(kind, position), ...]``.

    A run of digit groups separated by single spaces, hyphens or dots is read group by group:
    any consecutive groups whose digits form a mobile number (11 digits ``1[3-9]...``, optionally
    after 86 or 0086), an 18-character ID with a valid check digit and birth date, or (unless
    `high_confidence`) a 15-digit ID with a real birth date count -- so ``138-1234-5678``,
    ``13812345678.0`` and ``370502 19800101 1239`` are found. A run inside a hexadecimal token of
    16 or more characters (a checksum) or with letters on both sides (a hash, a code) does not
    count, nor does the fraction of a decimal number with at most 3 digits before the point
    (``0.13812345678``), nor a UUID (8-4-4-4-12 hex digits: Kobo's ``_uuid``) or an IPv4 address
    (four octets 0-255: ``139.227.12.145`` holds 11 digits starting 139). Linear in ``len(text)``: each start extends over at most 18 digits.
    """
    hex_spans = sorted([(m.start(), m.end()) for m in _HEX_TOKEN.finditer(text)
                        if any(c.isalpha() for c in m.group(0)) and _token_is_hex(text, m)]
                       + [(m.start(), m.end()) for pat in (_UUID, _IPV4_TOKEN) for m in pat.finditer(text)])
    merged: list[tuple[int, int]] = []
    for a, b in hex_spans:  # overlapping spans merged, so the bisect below finds the one around a run
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    hex_spans = merged
    starts = [s for s, _ in hex_spans]
    found = []
    for m in _NUM_RUN.finditer(text):
        a, b = m.start(), m.end()
        k = bisect.bisect_right(starts, a) - 1
        if k >= 0 and hex_spans[k][0] <= a < hex_spans[k][1]:
            continue
        if a > 0 and b < len(text) and text[a - 1].isascii() and text[a - 1].isalpha() \
                and text[b].isascii() and text[b].isalpha():
            continue
        groups = [(g.start() + a, g.group(0)) for g in _GROUP.finditer(m.group(0))]
        if len(groups) == 2 and len(groups[0][1]) <= 3 and text[groups[1][0] - 1] == ".":
            groups = groups[:1]  # a decimal number such as 0.13812345678: its fraction is no phone
        found.extend(_numbers_in_run(groups, high_confidence))
    return found


def _numbers_in_run(groups: list[tuple[int, str]], high_confidence: bool) -> list[tuple[str, int]]:
    """Personal numbers formed by consecutive digit groups of one run (each group used once)."""
    found, i = [], 0
    while i < len(groups):
        digits, hit = "", None
        for j in range(i, len(groups)):
            digits += groups[j][1].upper()
            if len(digits) > 18 or "X" in digits[:-1]:
                break
            kind = _number_kind(digits, high_confidence)
            if kind:
                hit = (kind, j)
                break
        if hit:
            found.append((hit[0], groups[i][0]))
            i = hit[1] + 1
        else:
            i += 1
    return found


def _token_is_hex(text: str, m: re.Match) -> bool:
    """The hex match is a whole alphanumeric token (not part of a word with other letters)."""
    a, b = m.start(), m.end()
    return not (a > 0 and text[a - 1].isascii() and text[a - 1].isalnum()) \
        and not (b < len(text) and text[b].isascii() and text[b].isalnum())


_LOCAL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN_AT = re.compile(r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}")


def find_emails(text: str) -> list[int]:
    """Start positions of e-mail addresses in `text`, in linear time.

    Only the characters around each ``@`` are examined (a local part of up to 64 characters, a
    domain of up to 255), so a long run of letters without ``@`` costs one pass.
    """
    out, at = [], text.find("@")
    while at >= 0:
        i = at
        while i > 0 and at - i < 64 and text[i - 1] in _LOCAL:
            i -= 1
        if i < at and _DOMAIN_AT.match(text[at + 1:at + 256]):
            out.append(i)
        at = text.find("@", at + 1)
    return out


def cell_text(v, detect: bool = True) -> str | None:
    """A cell as text: :func:`normalise_text` for detection, NFKC only for ids (``detect=False``:
    pseudonyms must keep ids apart that differ only in markup or invisible characters)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return None
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e19 else repr(float(v))
    if isinstance(v, (bytes, bytearray)):
        v = bytes(v).decode("utf-8", "replace")
    t = (normalise_text(v) if detect else unicodedata.normalize("NFKC", str(v))).strip()
    return t or None
