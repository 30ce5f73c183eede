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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from ..errors import ReadError
from ..spec.codebook import Codebook, codebook_from_dict
from .draft_sources import KNOWN_SCALES, MISSING, _Builder, draft_kobo, draft_spss, draft_wjx

DraftKind = Literal["auto", "wjx", "kobo", "spss"]


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
        from .workbook import sheet_names

        try:
            names = [s.lower() for s in sheet_names(path)]
        except ReadError:
            raise
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
    b = {"wjx": lambda: draft_wjx(path, sheet), "kobo": lambda: draft_kobo(path),
         "spss": lambda: draft_spss(path)}[kind]()
    if not b.items:
        raise ReadError(f"{path}: no question found to draft a codebook from (left out: {list(b.left_out)[:8]}).")
    _placeholders(b)
    text = _text(b, path)
    raw = yaml.safe_load(text)
    codebook_from_dict(raw, f"draft of {path.name}", text=text)  # the draft loads, or this is a bug
    return Draft(raw, text, dict(b.column_map), dict(b.left_out), kind, dict(b.notes))


__all__ = ["draft_codebook", "Draft", "KNOWN_SCALES", "MISSING"]
