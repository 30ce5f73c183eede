"""A study of one's own: a folder with ``study.yaml`` (:func:`open_study`) and ``evalkit new`` (:mod:`.new`).

A project folder, as ``evalkit new <folder>`` writes it::

    study.yaml          the study file (evalkit.spec.study_file): communities, waves, codebook,
                        the export and its reader's parameters, the design step's parameters
    codebook.yaml       the questionnaire: fields, items, scales (draft one: evalkit codebook draft)
    communities.csv     the community registry (or a list in study.yaml)
    data/raw/           the raw export as downloaded
    notebooks/          the analysis notebooks (text sources and executed copies)
    README.md           the two commands

>>> from evalkit.project import open_study
>>> project = open_study("my_study")                  # doctest: +SKIP
>>> report, survey = project.load_survey()            # doctest: +SKIP
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path

import pandas as pd

from ..errors import EvalkitError
from ..spec.codebook import _load_yaml
from ..spec.study import Study
from ..spec.study_file import load_study_file

#: The reader of each ``export.kind``: (module under evalkit.io, function).
READERS = {"wjx": ("wjx", "read_wjx"), "kobo": ("kobo", "read_kobo"), "spss": ("spss", "read_spss"),
           "table": ("read", "read_survey")}


def reader(kind: str):
    """The reader function of an export kind (``wjx``, ``kobo``, ``spss``, ``table``)."""
    import importlib

    if kind not in READERS:
        raise EvalkitError(f"export kind {kind!r} has no reader; use one of {list(READERS)}.")
    module, name = READERS[kind]
    return getattr(importlib.import_module(f"evalkit.io.{module}"), name)


def read_export(path, kind: str, *, study: Study, options: dict | None = None, source: str = "") -> pd.DataFrame:
    """Read a raw export with the reader of `kind` and its keyword `options` (the study file's ``export``).

    An option the reader does not take is an :class:`EvalkitError` naming it and the reader's
    parameters (never a TypeError).
    """
    fn = reader(kind)
    options = dict(options or {})
    params = inspect.signature(fn).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [k for k in options if k not in params and not takes_any]
    if unknown or "study" in options or "path" in options:
        bad = unknown or [k for k in ("study", "path") if k in options]
        allowed = [k for k in params if k not in ("path", "study", "codebook")]
        raise EvalkitError(f"{source or 'export.options'}: {fn.__name__}() takes no option {bad}; its options are "
                           f"{allowed}.")
    if not path:
        raise EvalkitError(f"{source or 'the study'}: export.path is empty; put your export in data/raw/ and name it "
                           "in study.yaml (export: path: data/raw/<file>).")
    if not Path(path).is_file():
        raise EvalkitError(f"{source or 'the study'}: export.path {str(path)!r} does not exist.")
    if kind == "wjx" and isinstance(options.get("option_map"), (str, os.PathLike)):
        # the text download of the same answers: the option map is drafted from it
        from ..io.wjx import wjx_option_map

        options["option_map"] = wjx_option_map(options["option_map"], path, sheet=options.get("sheet"))
    return fn(path, study=study, **options)


class Project:
    """An evaluation folder opened by :func:`open_study`.

    Attributes
    ----------
    study : Study
        The study of ``study.yaml`` (codebook, registry, roles, seed, language, min_n, waves,
        the export's reader parameters in ``study.read``, the design step's in ``study.design``).
    folder : Path
        The project folder.
    report_dir : Path
        Where reports go (``report: {out: ...}`` of the study file; default ``reports/``).
    lang : {"zh", "en"}
        The report language (``study.language``).
    min_n : int
        The smallest publishable community x wave cell (``study.min_n``, else the disclosure
        gate's default of 10).
    """

    def __init__(self, study: Study, folder: Path, report_dir: Path):
        self.study, self.folder, self.report_dir = study, folder, report_dir
        self.design_problems: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return f"Project({str(self.folder)!r}; {self.study!r})"

    @property
    def lang(self) -> str:
        return self.study.language

    @property
    def min_n(self) -> int:
        if self.study.min_n is not None:
            return int(self.study.min_n)
        from ..publish.disclosure import MIN_N

        return int(MIN_N)

    def read(self) -> pd.DataFrame:
        """The raw export read with the study file's reader parameters (nothing validated yet)."""
        spec = self.study.read
        return read_export(spec.get("path"), spec.get("kind", "table"), study=self.study,
                           options=spec.get("options"), source=str(self.study.path))

    def prepare(self) -> pd.DataFrame:
        """:meth:`read` plus the design step (:func:`evalkit.io.prepare.add_design` with ``study.design``)."""
        from ..io.prepare import add_design, design_problems

        design = dict(self.study.design)
        try:
            out = add_design(self.read(), study=self.study, **design)
        except TypeError as exc:
            raise EvalkitError(f"{self.study.path}: the design section has a key add_design() does not take ({exc}); "
                               "its keys: wave, submitted, wave_cutoff, fieldwork, by, fieldwork_map, stratum, "
                               "weight, derive.") from None
        self.design_problems = design_problems(out)
        return out

    def load_survey(self, *, scored: bool = True):
        """Read, add the design, validate and score: ``(ValidationReport, scored valid rows)``.

        Every row read is in the report (valid or quarantined, with the reason); the design
        step's own findings are in :attr:`design_problems`. Scales whose items the export lacks
        are not scored (their columns are absent), so a target the survey did not measure is
        explained downstream rather than crashing here. Replicate weights the study file declares
        (``design: replicate_weights:``) stay in the valid rows although the codebook does not list
        them (:func:`evalkit.project.replicates.keep_replicate_weights`).
        """
        from ..io.validate import validate
        from ..measure.scales import score
        from .replicates import keep_replicate_weights

        prepared = self.prepare()
        report = keep_replicate_weights(prepared, validate(prepared, study=self.study), self.study)
        return report, (score_measured(report.valid, self.study.codebook) if scored else report.valid)


def score_measured(survey: pd.DataFrame, codebook) -> pd.DataFrame:
    """:func:`evalkit.score` for the scales whose items the survey has (the others stay absent).

    ``attrs["not_measured"]`` lists the scales left out, so a target the export cannot measure is
    explained (the summary's ``not_measured``) instead of failing.
    """
    from ..measure.scales import score

    measured = [s for s, sc in codebook.scales.items() if _measured(sc, survey, codebook)]
    out = score(survey, codebook, scales=measured) if measured else survey.copy()
    out.attrs["not_measured"] = [s for s in codebook.scales if s not in measured]
    return out


def _measured(scale, survey: pd.DataFrame, codebook) -> bool:
    """Whether the survey has every item (and every scale of a composite) a scale needs."""
    if not all(i in survey.columns for i in scale.items):
        return False
    return all(s in codebook.scales and _measured(codebook.scales[s], survey, codebook) for s in scale.composite_of)


def from_parameters(study_file=None, *, export_path=None, export_kind: str = "table", codebook_path=None,
                    registry_path=None, read_options: dict | None = None, design: dict | None = None,
                    language: str = "zh", seed: int = 20171, min_n: int | None = None) -> Project:
    """A :class:`Project` from a study file, or from the same parameters given one by one (notebook 05).

    With `study_file` every other argument is ignored (the study file holds them); otherwise
    `export_path`, `export_kind` (``wjx``, ``kobo``, ``spss``, ``table``), `codebook_path`,
    `registry_path`, `read_options` (the reader's keyword arguments) and `design` (those of
    :func:`evalkit.io.prepare.add_design`) describe the study; the folder is the export's.
    """
    if study_file is not None:
        return open_study(study_file)
    if codebook_path is None:
        raise EvalkitError("from_parameters: give study_file (a study.yaml) or codebook_path (your codebook).")
    if export_kind not in READERS:
        raise EvalkitError(f"export_kind={export_kind!r}: use one of {list(READERS)}.")
    study = Study.from_files(codebook_path, registry_path, seed=seed, language=language)
    design = dict(design or {})
    replicates = design.pop("replicate_weights", None)  # study.yaml's design: replicate_weights:
    study = study.with_(min_n=min_n, read={"path": None if export_path is None else str(export_path),
                                           "kind": export_kind, "options": dict(read_options or {})},
                        design=design, replicate_weights=replicates)
    folder = Path(export_path).resolve().parent if export_path else Path.cwd()
    return Project(study, folder, Path.cwd() / "reports")


def open_study(path: str | os.PathLike = ".") -> Project:
    """Open an evaluation folder (or its ``study.yaml``): the :class:`Project` with its study.

    Raises
    ------
    EvalkitError
        No ``study.yaml`` there (make one with ``evalkit new <folder>``), or the file is invalid
        (the message names the key).
    """
    p = Path(path)
    file = p / "study.yaml" if p.is_dir() else p
    study = load_study_file(file)
    folder = file.resolve().parent
    raw, _ = _load_yaml(file)
    out = ((raw or {}).get("report") or {}) if isinstance(raw, dict) else {}
    if not isinstance(out, dict) or set(out) - {"out"}:
        raise EvalkitError(f"{file}: report must be a mapping with `out: <folder>` (where reports go).")
    report_dir = Path(out.get("out") or "reports")
    return Project(study, folder, report_dir if report_dir.is_absolute() else folder / report_dir)


__all__ = ["open_study", "from_parameters", "score_measured", "Project", "read_export", "reader", "READERS"]
