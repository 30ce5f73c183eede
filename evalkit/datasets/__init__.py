"""The shipped synthetic Dongying example, installed with the package, and loaders for it.

The files live in ``evalkit/datasets/dongying/`` (package data, so they are there after
``pip install evalkit`` as in a checkout): ``codebook.yaml``, ``communities.csv`` (the registry),
``survey.csv``, ``truth.csv`` (the planted effects), ``raw/`` (a GBK export with mistakes and a
问卷星-style Excel export), ``MANIFEST.sha256`` and ``README.md`` (what every column means).

All survey data shipped with evalkit is synthetic (made by :mod:`evalkit.datasets.simulate`); the
seven programme communities carry real names, the comparison communities are fictional.

This is the only module of evalkit that knows the shipped example: everything else takes a
:class:`~evalkit.spec.study.Study` or explicit files. :func:`dongying` is the example's study.

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
from .simulate import SEED

__all__ = ["DONGYING", "CODEBOOK_FILE", "SURVEY_FILE", "COMMUNITIES_FILE", "TRUTH_FILE", "MESSY_FILE",
           "data_dir", "data_path", "dongying", "load_truth"]

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
    ``stratum``, ``psu``), the simulation's seed (:data:`evalkit.datasets.simulate.SEED`) and
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
