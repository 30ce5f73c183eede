"""Shared fixtures: the shipped data, loaded once per session."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "evalkit" / "datasets" / "dongying"  # the shipped example (evalkit.datasets.DONGYING)
REFERENCE = ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def codebook():
    from evalkit.codebook import load_codebook

    return load_codebook()


@pytest.fixture(scope="session")
def registry():
    from evalkit.communities import load_communities

    return load_communities()


@pytest.fixture(scope="session")
def survey_raw():
    from evalkit.read import read_survey

    return read_survey(DATA / "survey.csv")


@pytest.fixture(scope="session")
def survey_report(survey_raw, codebook):
    from evalkit.validate import validate

    return validate(survey_raw, codebook)


@pytest.fixture(scope="session")
def survey(survey_report):
    """The validated shipped survey (typed)."""
    return survey_report.valid
