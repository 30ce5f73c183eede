"""Paths to, and loaders for, the shipped synthetic Dongying data in ``data/``.

All survey data shipped with evalkit is synthetic (made by :mod:`evalkit.simulate`); the seven
programme communities carry real names, the comparison communities are fictional.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .errors import EvalkitError

SURVEY_FILE = "survey.csv"
COMMUNITIES_FILE = "communities.csv"
TRUTH_FILE = "truth.csv"
MESSY_FILE = "raw/messy_export_gbk.csv"


def data_dir() -> Path:
    """The folder with the shipped data: ``$EVALKIT_DATA`` if set, else ``data/`` of the checkout."""
    env = os.environ.get("EVALKIT_DATA")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "data"
    if not path.is_dir():
        raise EvalkitError(
            f"The evalkit data folder {str(path)!r} does not exist. Set EVALKIT_DATA to the folder "
            "holding codebook.yaml and communities.csv, or run `make data` in the evalkit checkout."
        )
    return path


def data_path(name: str) -> Path:
    """Path of a shipped file, e.g. ``data_path("survey.csv")``."""
    return data_dir() / name


def load_truth() -> pd.DataFrame:
    """The planted programme effects (``data/truth.csv``); see ``data/README.md`` for columns."""
    return pd.read_csv(data_path(TRUTH_FILE))
