"""KoboToolbox / ODK exports: :func:`read_kobo`.

CSV ("XML values and headers", semicolon-separated): ``group/question`` headers, select-multiple
answers as space-separated choice codes plus one 0/1 column per choice, and submission metadata
(``_uuid``, ``start``, ``deviceid`` ...).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..spec.codebook import Codebook
from ..errors import ReadError

from .platform import _norm, _text, _codebook, _resolve, _finish


# --- KoboToolbox / ODK CSV ---------------------------------------------------------------------
def read_kobo(
    path: str | Path,
    column_map: Mapping[str, str] | None = None,
    codebook: Codebook | str | Path | None = None,
    *,
    select_multiple: Mapping[str, Mapping[str, str]] | None = None,
    sep: str = ";",
    allow: Sequence[str] = (),
    study=None,
) -> pd.DataFrame:
    """Read a KoboToolbox / ODK CSV export ("XML values and headers", semicolon-separated).

    Parameters
    ----------
    path
        The ``.csv`` as downloaded.
    column_map
        ``{header or last path segment: codebook name}``; headers whose last segment
        (``wellbeing/who5_1`` -> ``who5_1``) is a codebook name map automatically.
    select_multiple
        ``{question: {choice code: codebook item}}`` for select-multiple questions whose choices
        are codebook yes/no items: each item becomes 1 if its choice is among the space-separated
        codes, 0 if not, blank if the question is blank. The 0/1 columns Kobo adds per choice
        (``question/choice``) are checked against the list.
    codebook, study
        As :func:`read_wjx` (one of them is required).
    sep
        The separator (Kobo's default is ";").
    allow
        Codebook columns that the personal-data check should not examine.

    Returns
    -------
    DataFrame
        As :func:`read_wjx` (``format`` "kobo"); ``attrs["notes"]`` lists cells where a
        select-multiple answer and its 0/1 columns disagree.

    Notes
    -----
    A select-multiple cell with a choice not in the map, or whose 0/1 columns disagree with it,
    puts the cell's text (with the reason) into every item of that question in that row, so
    :func:`evalkit.validate` quarantines the row and names the row and column; nothing is
    guessed. Kobo metadata (``start``, ``end``, ``deviceid``, ``_uuid``, ``_submission_time``,
    ``_geolocation`` ...) is not kept.
    """
    from .read import read_survey

    codebook, registry = _codebook(codebook, study, "read_kobo()")
    raw = read_survey(path, sep=sep, personal_data="ignore")
    source = str(path)
    headers = [str(h) for h in raw.columns]
    select_multiple = {str(k): {str(c): v for c, v in m.items()} for k, m in (select_multiple or {}).items()}

    def last(h: str) -> str:
        return h.rsplit("/", 1)[-1]

    # the select-multiple questions and their 0/1 choice columns
    sm_cols: dict[str, str] = {}
    choice_cols: dict[str, dict[str, str]] = {}
    for q, choices in select_multiple.items():
        hits = [h for h in headers if h == q or last(h) == q]
        if len(hits) != 1:
            raise ReadError(f"{source}: select_multiple question {q!r} matches {len(hits)} columns "
                            f"({hits}); give its full header.")
        sm_cols[q] = hits[0]
        choice_cols[q] = {h[len(hits[0]) + 1:]: h for h in headers if h.startswith(hits[0] + "/")}
        bad = [v for v in choices.values() if v not in codebook.variables]
        if bad:
            raise ReadError(f"{source}: select_multiple maps {q!r} to {bad}, not codebook variables.")
    reserved = set(sm_cols.values()) | {h for d in choice_cols.values() for h in d.values()}
    rest = [h for h in headers if h not in reserved]
    keys = {h: [last(h), _norm(last(h))] for h in rest}
    mapping = _resolve(rest, keys, column_map, codebook, source)
    extra: dict[str, pd.Series] = {}
    notes: list[str] = []
    for q, choices in select_multiple.items():
        col = [_text(v) for v in raw[sm_cols[q]]]
        items = {name: [] for name in choices.values()}
        for row, cell in zip(raw.index, col):
            if cell is None:
                for name in items:
                    items[name].append(None)
                continue
            chosen = cell.split()
            problem = [c for c in chosen if c not in choices]
            why = f"{cell} (choice {', '.join(problem)} of {q!r} not in select_multiple)" if problem else ""
            for code, h in choice_cols[q].items():
                flag = _text(raw.at[row, h])
                if flag is not None and flag in ("0", "1") and (flag == "1") != (code in chosen):
                    why = f"{cell} (disagrees with the 0/1 column {h!r})"
                    notes.append(f"row {row}: {q!r} = {cell!r} but column {h!r} = {flag}")
                    break
            for code, name in choices.items():
                items[name].append(why if why else ("1" if code in chosen else "0"))
        for name, vals in items.items():
            if name in mapping.values():
                raise ReadError(f"{source}: {name!r} comes both from a column and from select_multiple {q!r}.")
            extra[name] = pd.Series(vals, index=raw.index, dtype=object)
    return _finish(raw, mapping, codebook, "kobo", allow=allow, extra=extra, notes=notes, registry=registry)



__all__ = ["read_kobo"]
