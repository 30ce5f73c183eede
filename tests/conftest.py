"""Shared fixtures: the shipped data, loaded once per session; deterministic property tests.

Property-based tests (hypothesis) run under the profile ``evalkit``: derandomized (the examples
are a fixed function of each test, so a run fails or passes the same way on every machine and
every rerun), no deadline (a loaded CI runner must not turn a slow example into a failure) and no
example database (nothing is carried over between runs). To explore with fresh random examples
locally: ``EVALKIT_HYPOTHESIS_PROFILE=explore python -m pytest tests/test_fuzz.py``.
"""
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("evalkit", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", parent=settings.get_profile("evalkit"), derandomize=False)
settings.load_profile(os.environ.get("EVALKIT_HYPOTHESIS_PROFILE", "evalkit"))

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "evalkit" / "datasets" / "dongying"  # the shipped example (evalkit.datasets.DONGYING)
REFERENCE = ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def codebook():
    from evalkit.spec.codebook import load_codebook

    return load_codebook(DATA / "codebook.yaml")


@pytest.fixture(scope="session")
def registry():
    from evalkit.spec.registry import load_communities

    return load_communities(DATA / "communities.csv")


@pytest.fixture(scope="session")
def survey_raw():
    from evalkit.io.read import read_survey

    return read_survey(DATA / "survey.csv")


@pytest.fixture(scope="session")
def survey_report(survey_raw, codebook):
    from evalkit.io.validate import validate

    return validate(survey_raw, codebook)


@pytest.fixture(scope="session")
def survey(survey_report):
    """The validated shipped survey (typed)."""
    return survey_report.valid


@pytest.fixture(scope="session")
def study():
    """The shipped example as a Study (codebook, registry, roles, seed)."""
    from evalkit.datasets import dongying

    return dongying()


@pytest.fixture(scope="module")
def apistrat() -> pd.DataFrame:
    """R survey's ``apistrat`` (stratified sample of California schools; tests/data/apistrat.csv)."""
    return pd.read_csv(ROOT / "tests" / "data" / "apistrat.csv")


@pytest.fixture(scope="module")
def apiclus1() -> pd.DataFrame:
    """R survey's ``apiclus1`` (one-stage cluster sample of California schools; tests/data/apiclus1.csv)."""
    return pd.read_csv(ROOT / "tests" / "data" / "apiclus1.csv")


@pytest.fixture(scope="session")
def shipped():
    """``(study, survey)`` of :func:`evalkit.datasets.dongying_survey`: the shipped study and its validated,
    scored survey (read-only: copy before changing it)."""
    from evalkit.datasets import dongying_survey

    return dongying_survey()


@pytest.fixture(autouse=True)
def _pandas_display_defaults():
    """Each test starts from pandas' display defaults: ``setup_notebook`` (tested in test_fonts)
    sets ``display.precision`` to 3 for the notebooks, which leaked into later doctests."""
    yield
    pd.reset_option("^display\\.")
