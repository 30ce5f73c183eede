"""The shipped synthetic Dongying example, installed with the package, and its simulator.

The files live in ``evalkit/datasets/dongying/`` (package data, so they are there after
``pip install evalkit`` as in a checkout): ``codebook.yaml``, ``communities.csv`` (the registry),
``survey.csv``, ``truth.csv`` (the planted effects), ``raw/`` (a GBK export with mistakes and a
问卷星-style Excel export), ``MANIFEST.sha256`` and ``README.md`` (what every column means).

All survey data shipped with evalkit is synthetic (made by :mod:`evalkit.datasets.simulate`); the
seven programme communities carry real names, the comparison communities are fictional.

This is the only subpackage of evalkit that knows the shipped example (:mod:`.shipped`: file
locations, :func:`dongying` -> the example's :class:`~evalkit.spec.study.Study`,
:func:`dongying_survey` -> its validated, scored survey); :mod:`.simulate` makes the data.
"""
from .shipped import (CODEBOOK_FILE, COMMUNITIES_FILE, DONGYING, MESSY_FILE, REPORT_TEXT, SEED, SURVEY_FILE, TRUTH_FILE,
                      data_dir, data_path, dongying, dongying_survey, load_truth)

__all__ = ["DONGYING", "SEED", "CODEBOOK_FILE", "SURVEY_FILE", "COMMUNITIES_FILE", "TRUTH_FILE", "MESSY_FILE", "REPORT_TEXT",
           "data_dir", "data_path", "dongying", "dongying_survey", "load_truth"]
