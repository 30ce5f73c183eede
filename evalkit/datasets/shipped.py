"""The shipped synthetic Dongying example: where its files are, and the example as a Study.

See :mod:`evalkit.datasets` for what the files hold. This is the only module of evalkit that knows
the shipped example: everything else takes a :class:`~evalkit.spec.study.Study` or explicit files.
:func:`dongying` is the example's study, :func:`dongying_survey` its validated, scored survey.

Examples
--------
>>> import evalkit
>>> evalkit.datasets.data_path("survey.csv").name
'survey.csv'
>>> study = evalkit.datasets.dongying()
>>> study.roles.community, study.seed, len(study.registry)
('community_id', 20171, 14)
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import EvalkitError
from ..spec.codebook import load_codebook
from ..spec.registry import load_communities
from ..spec.study import Roles, Study

__all__ = ["DONGYING", "SEED", "CODEBOOK_FILE", "SURVEY_FILE", "COMMUNITIES_FILE", "TRUTH_FILE", "MESSY_FILE",
           "data_dir", "data_path", "dongying", "dongying_survey", "load_truth"]

#: The seed of the shipped example: the simulation that made it and every random step of its
#: notebooks (bootstrap, randomization inference). ``evalkit.datasets.simulate.SEED`` is the same.
SEED = 20171

#: The shipped Dongying example inside the installed package (``$EVALKIT_DATA`` does not change it).
DONGYING = Path(__file__).resolve().parent / "dongying"

CODEBOOK_FILE = "codebook.yaml"
SURVEY_FILE = "survey.csv"
COMMUNITIES_FILE = "communities.csv"
TRUTH_FILE = "truth.csv"
MESSY_FILE = "raw/messy_export_gbk.csv"


def data_dir() -> Path:
    """The folder with the data: ``$EVALKIT_DATA`` if set, else the shipped :data:`DONGYING`.

    Returns
    -------
    Path
        A folder holding ``codebook.yaml``, ``communities.csv``, ``survey.csv`` ...

    Raises
    ------
    EvalkitError
        ``$EVALKIT_DATA`` names a folder that does not exist, or the package was installed
        without its data.
    """
    env = os.environ.get("EVALKIT_DATA")
    path = Path(env) if env else DONGYING
    if not path.is_dir():
        how = ("Set EVALKIT_DATA to the folder holding codebook.yaml and communities.csv, or unset "
               "it to use the shipped example." if env else
               "The package was installed without its data; reinstall it (pip install evalkit) or "
               "set EVALKIT_DATA to a folder holding codebook.yaml and communities.csv.")
        source = "EVALKIT_DATA" if env else "The shipped data folder"
        raise EvalkitError(f"{source} {str(path)!r} does not exist. {how}")
    return path


def data_path(name: str) -> Path:
    """Path of a data file, e.g. ``data_path("survey.csv")`` or ``data_path("raw/messy_export_gbk.csv")``."""
    return data_dir() / name


def load_truth() -> pd.DataFrame:
    """The planted programme effects (``truth.csv``; its columns are described in the data's ``README.md``)."""
    return pd.read_csv(data_path(TRUTH_FILE))


def dongying(*, language: str = "zh") -> Study:
    """The shipped Dongying example as a :class:`~evalkit.spec.study.Study`.

    Codebook ``codebook.yaml`` and registry ``communities.csv`` from :func:`data_dir` (so
    ``$EVALKIT_DATA`` points it at another folder with the same files), the standard column roles
    (``community_id``, ``wave``, ``respondent_id``, ``household_id``, ``role``, ``base_weight``,
    ``stratum``, ``psu``), the simulation's seed (:data:`SEED`) and
    Chinese labels (``language="en"`` for English).

    Examples
    --------
    >>> import evalkit
    >>> study = evalkit.datasets.dongying()
    >>> raw = evalkit.read_survey(evalkit.datasets.data_path("survey.csv"), study=study)
    >>> evalkit.validate(raw, study=study).ok
    True
    """
    return Study(load_codebook(data_path(CODEBOOK_FILE)), load_communities(data_path(COMMUNITIES_FILE)),
                 Roles(), baseline_wave=None, seed=SEED, language=language)


def dongying_survey(*, language: str = "zh", scored: bool = True) -> tuple[Study, pd.DataFrame]:
    """The shipped example's study and its survey, read, validated and scored: one call for a notebook.

    Reads ``survey.csv`` (:func:`evalkit.read_survey`), validates it against the study's codebook and
    registry with ``strict=True`` (the shipped survey is clean; a changed file raises and lists its
    problems), and adds every scale score (:func:`evalkit.score`) unless ``scored=False``.

    Returns
    -------
    (Study, DataFrame)
        :func:`dongying` and the valid rows (index = row of ``survey.csv``; no ``attrs``).

    Examples
    --------
    >>> import evalkit
    >>> study, survey = evalkit.datasets.dongying_survey()
    >>> len(survey) > 15000 and "who5" in survey.columns
    True
    """
    from ..io.read import read_survey
    from ..io.validate import validate
    from ..measure.scales import score

    study = dongying(language=language)
    survey = validate(read_survey(data_path(SURVEY_FILE), study=study), study=study, strict=True).valid
    if scored:
        survey = score(survey, study.codebook)
    survey.attrs = {}
    return study, survey
