"""evalkit: evaluate community-governance programmes from resident survey data."""
from __future__ import annotations

from .errors import (
    CodebookError,
    ConvergenceWarning,
    DesignError,
    DisclosureWarning,
    EstimationError,
    EvalkitError,
    EvalkitWarning,
    FewClustersWarning,
    FontFallbackWarning,
    LonelyPSUWarning,
    PersonalDataError,
    ReadError,
    SmallSampleWarning,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "CodebookError",
    "ConvergenceWarning",
    "DesignError",
    "DisclosureWarning",
    "EstimationError",
    "EvalkitError",
    "EvalkitWarning",
    "FewClustersWarning",
    "FontFallbackWarning",
    "LonelyPSUWarning",
    "PersonalDataError",
    "ReadError",
    "SmallSampleWarning",
    "ValidationError",
]
