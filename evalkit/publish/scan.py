"""Scanners of what evalkit publishes: personal numbers and small counts in text, HTML and notebooks.

* :func:`scan_text` / :func:`assert_no_personal_data` -- look for citizen ID numbers (with a valid
  check digit), Chinese phone numbers and e-mail addresses in text or HTML (reports, notebook
  outputs); findings give the place and the kind, never the value.
* :func:`small_cells` -- respondent counts below the threshold in the HTML tables of a report.
* :func:`scan_notebook` -- both scans over the outputs of a Jupyter notebook.
* :func:`assert_publishable` -- the last check on a rendered page: nothing a browser would run, no
  personal number, no small count (raises :class:`DisclosureError`).

They read the text through the normaliser the input check uses
(:func:`evalkit.io.privacy.normalise_text`), so input and output see the same numbers.
:mod:`evalkit.publish.disclosure` re-exports every name.
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import PersonalDataError
from ..io.privacy import _LANDLINE, find_emails, find_personal_numbers, normalise_text

__all__ = ["scan_text", "assert_no_personal_data", "small_cells", "scan_notebook", "assert_publishable",
           "DisclosureError"]

_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+")

def _findings(text: str) -> set[tuple[str, int, int]]:
    """(kind, line, column) of every personal number and e-mail address in normalised `text`."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(kind, pos):
        line = int(np.searchsorted(starts, pos, side="right"))
        return kind, line, pos - starts[line - 1] + 1

    found = {where(k, pos) for k, pos in find_personal_numbers(text)}
    found |= {where("landline", m.start()) for m in _LANDLINE.finditer(text)}
    found |= {where("email", pos) for pos in find_emails(text)}
    return found


def scan_text(text: str) -> pd.DataFrame:
    """Personal data in `text` (plain text or HTML): ``kind, line, column`` per finding, no values.

    Kinds: ``citizen_id`` (18 characters with a valid check digit and birth date, or 15 digits
    with a real birth date), ``phone`` (Chinese mobile, optional +86/86/0086), ``landline``
    (0xx-xxxxxxx), ``email``. The text is read through the normaliser the input check uses
    (:func:`evalkit.io.privacy.normalise_text`: NFKC, format characters removed): as it is; with
    tags removed without a separator and entities decoded, as a browser shows it; and once more
    so, for escaped tags a reader sees and skips (``138&lt;b&gt;&lt;/b&gt;1234...`` shows as
    ``138<b></b>1234...``) -- so ``138<b></b>1234<b></b>5678``, ``１３８１２３４５６７８``,
    ``138-1234-5678``, ``13812345678.0`` and ``370502 19800101 1239`` are all found. Embedded images (``data:`` URIs) are skipped;
    numbers inside hexadecimal checksums or between letters do not count. Linear time.
    """
    text = _DATA_URI.sub(" ", str(text))
    found = _findings(normalise_text(text, markup=False))
    seen = {(k, ln) for k, ln, _ in found}
    shown = normalise_text(text, markup=True)
    readings = [shown]
    if "<" in shown or "&" in shown:  # escaped tags a reader sees and skips: 138&lt;b&gt;&lt;/b&gt;1234...
        readings.append(normalise_text(shown, markup=True))
    for reading in readings:
        new = {f for f in _findings(reading) if f[:2] not in seen}
        found |= new
        seen |= {(k, ln) for k, ln, _ in new}
    return pd.DataFrame(sorted(found, key=lambda f: (f[1], f[2], f[0])), columns=["kind", "line", "column"])


def assert_no_personal_data(text: str, *, source: str = "text") -> None:
    """Raise :class:`PersonalDataError` if `text` shows an ID number, phone number or e-mail.

    The message names `source`, the kinds and the line numbers, never the values.
    """
    found = scan_text(text)
    if not found.empty:
        where = ", ".join(f"{k} on line {ln}" for k, ln in found[["kind", "line"]].head(10).itertuples(index=False))
        raise PersonalDataError(
            f"{source} shows personal data: {where}{' ...' if len(found) > 10 else ''}. Remove the "
            "column or cell from the output (publish aggregates, pseudonymised ids or problem "
            "locations only) and build it again.")


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[tuple[str, str]]]] = []
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = [tag, ""]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append((self._cell[0], self._cell[1].strip()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def small_cells(html: str, threshold: int = 10, *, n_names: Sequence[str] = ("n",),
                zeros: bool = False) -> pd.DataFrame:
    """Counts below `threshold` in the HTML tables of `html` (pandas ``to_html`` layout).

    A column whose header cell is one of `n_names` (case and surrounding space ignored) is read
    as a respondent count; numeric cells
    with ``0 < n < threshold`` (``0 <= n`` with ``zeros=True``) are returned as
    ``table, row, n`` (table and row numbered from 1; the header rows are not counted).
    """
    wanted = {str(name).strip().casefold() for name in n_names}
    p = _Tables()
    p.feed(_DATA_URI.sub(" ", str(html)))
    rows = []
    for t, table in enumerate(p.tables, start=1):
        col = None
        body = 0
        for r in table:
            names = [c[1] for c in r]
            if col is None and all(tag == "th" for tag, _ in r[1:] or r):
                hit = [i for i, name in enumerate(names) if name.strip().casefold() in wanted]
                if hit:
                    col = hit[0]
                continue
            if col is None or all(tag == "th" for tag, _ in r):
                continue
            body += 1
            if col < len(r):
                try:
                    v = float(r[col][1].replace(",", ""))
                except ValueError:
                    continue
                if v < threshold and (v > 0 or (zeros and v == 0)):
                    rows.append((t, body, v))
    return pd.DataFrame(rows, columns=["table", "row", "n"])


def scan_notebook(path: str | Path, threshold: int | None = 10) -> pd.DataFrame:
    """Scan a notebook's outputs: personal data, and counts below `threshold` in HTML tables.

    Returns
    -------
    DataFrame
        ``cell, kind, line`` -- ``kind`` is a personal-data kind of :func:`scan_text` or
        ``"small_cell"`` (``line`` is then the table row); ``cell`` numbers code cells from 1.
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = []
    code_cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for i, cell in enumerate(code_cells, start=1):
        for out in cell.get("outputs", []):
            texts = []
            if "text" in out:
                texts.append("".join(out["text"]) if isinstance(out["text"], list) else out["text"])
            for mime, val in (out.get("data") or {}).items():
                if mime.startswith("text/") or mime == "application/json":
                    texts.append("".join(val) if isinstance(val, list) else str(val))
                    if mime == "text/html" and threshold is not None:
                        for r in small_cells(texts[-1], threshold).itertuples(index=False):
                            rows.append((i, "small_cell", int(r.row)))
            for t in texts:
                for r in scan_text(t).itertuples(index=False):
                    rows.append((i, r.kind, int(r.line)))
    return pd.DataFrame(rows, columns=["cell", "kind", "line"]).drop_duplicates().reset_index(drop=True)


# --- the last check of a rendered page ---------------------------------------------------------------
class DisclosureError(PersonalDataError):
    """Rendered output would disclose: executable markup, a personal number or a small cell."""


#: Elements that run or load active content, and attributes whose value is a URL.
_ACTIVE_TAGS = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form",
                          "portal", "handler", "listener", "foreignobject"})
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background",
                        "srcset", "codebase", "cite", "longdesc", "ping", "lowsrc", "dynsrc", "values", "to", "from"})
_BAD_URL = re.compile(r"^(javascript|vbscript|livescript|mocha):|^data:(text/html|application/(x?html|javascript)"
                      r"|text/javascript)", re.I)
_BAD_CSS = re.compile(r"expression\s*\(|(java|vb)script:|behaviou?r\s*:|-moz-binding|@import", re.I)


class _Active(HTMLParser):
    """Collects what a browser would execute: ``(rule, shape)`` per finding, never the text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []
        self._style = False

    def handle_starttag(self, tag, attrs):
        if tag in _ACTIVE_TAGS:
            self.found.append(("executable_markup", f"<{tag}> element"))
        self._style = tag == "style"
        for name, value in attrs:
            name, value = name.lower(), value or ""
            bare = re.sub(r"[\s\x00-\x20]", "", value)
            if name.startswith("on"):
                self.found.append(("executable_markup", f"event-handler attribute {name[:20]}= on <{tag}>"))
            elif name in _URL_ATTRS and _BAD_URL.search(bare):
                self.found.append(("executable_markup", f"{bare.split(':')[0][:12].lower()}: URL in {name}= of <{tag}>"))
            elif name == "style" and _BAD_CSS.search(value):
                self.found.append(("executable_markup", f"script in the style= of <{tag}>"))
            elif name == "http-equiv" and value.strip().lower() == "refresh":
                self.found.append(("executable_markup", "meta refresh"))
            elif name == "attributename" and re.sub(r"\s", "", value).lower().removeprefix("xlink:").startswith(("on", "href")):
                self.found.append(("executable_markup", f"<{tag}> animating {name}"))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self._style = False

    def handle_endtag(self, tag):
        self._style = False

    def handle_data(self, data):
        if self._style and _BAD_CSS.search(data):
            self.found.append(("executable_markup", "script in a <style> element"))


def assert_publishable(html: str, *, source: str, min_n: int | None = None,
                       n_names: Sequence[str] = ("n", "n_base", "n_wave", "样本量", "样本数", "回答人数",
                                                 "受访者", "受访人数", "respondents")) -> None:
    """The last check before a rendered page is written: raise if it would disclose or run anything.

    Parameters
    ----------
    html
        The rendered page (or fragment).
    source
        What it is, for the message (e.g. ``"reports/bureau_report.html"``).
    min_n
        Also refuse a table column headed by one of `n_names` that shows a count
        ``0 < n < min_n`` (:func:`small_cells`). ``None``: not checked.

    Raises
    ------
    DisclosureError
        Naming `source`, the rule (``executable_markup``, ``personal_number``, ``small_cell``) and
        the shape of what was found (``<script> element``, ``phone on line 12``, ``table 3 row 2``),
        never the value. The HTML is parsed as a browser would (entities decoded), so a script
        written with character references is found too.
    """
    text = str(html)
    parser = _Active()
    parser.feed(text)
    parser.close()
    found = list(dict.fromkeys(parser.found))
    found += [("personal_number", f"{k} on line {ln}") for k, ln in
              scan_text(text)[["kind", "line"]].drop_duplicates().itertuples(index=False)]
    if min_n is not None:
        small = small_cells(text, min_n, n_names=n_names)
        found += [("small_cell", f"a count below {min_n} in table {t} row {r}")
                  for t, r in small[["table", "row"]].itertuples(index=False)]
    if found:
        rules = sorted({r for r, _ in found})
        shown = "; ".join(f"{r}: {shape}" for r, shape in found[:8]) + (" ..." if len(found) > 8 else "")
        raise DisclosureError(
            f"{source}: refused to publish ({', '.join(rules)}): {shown}. "
            "Markup must be escaped where a string is put into the page; personal numbers must not "
            "reach any output (publish aggregates only); counts must go through the gate "
            "(evalkit.publish.disclosure.gate_survey / gate_table) before they are rendered.")
