"""evalkit: evaluate community-governance programmes from resident survey data.

The steps, each in its own module:

============================  ====================================================
read and validate             :func:`read_survey` (read.py), :func:`validate` (validate.py)
codebook and registry         :func:`load_codebook` (codebook.py), :func:`load_communities`
score and check scales        :func:`score` (scales.py), :func:`reliability`, :func:`cronbach_alpha`
weight and estimate           :class:`SurveyDesign` (design.py), :func:`indicator_table`
against the baseline          :func:`change_from_baseline` (baseline.py)
against comparison            :func:`community_effects` (comparison.py), :func:`att_gt` (did.py)
pooled programme effect       :func:`programme_effect` (impact.py): staggered DiD + randomization inference
few-cluster inference         :func:`regress` (regress.py), :func:`randomization_test` (inference.py)
============================  ====================================================
"""
from __future__ import annotations

from .baseline import change_from_baseline
from .codebook import Codebook, load_codebook
from .communities import crossing, load_communities, population_margins, population_table, programme_targets
from .comparison import community_effects, domain_means
from .design import SurveyDesign, WeightingInfo
from .did import AggregateResult, ATTGTResult, DidWarning, DroppedUnitsWarning, PretrendTest, att_gt
from .impact import ImpactResult, community_panel, programme_effect
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
from .read import read_survey
from .reliability import cronbach_alpha, item_rest, omega_total, reliability
from .scales import describe_scales, score, score_columns
from .simulate import simulate
from .validate import ValidationReport, validate
from . import datasets

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "datasets",
    # data in
    "read_survey", "validate", "ValidationReport", "load_codebook", "Codebook", "load_communities",
    "population_table", "population_margins", "crossing", "programme_targets", "simulate",
    # scales
    "score", "score_columns", "describe_scales", "cronbach_alpha", "omega_total", "item_rest",
    "reliability",
    # design-based estimation
    "SurveyDesign", "WeightingInfo", "domain_means",
    # comparisons
    "change_from_baseline", "community_effects", "programme_effect", "community_panel", "ImpactResult",
    "att_gt", "ATTGTResult", "AggregateResult",
    "PretrendTest",
    # errors and warnings
    "CodebookError", "ConvergenceWarning", "DesignError", "DisclosureWarning", "DidWarning",
    "DroppedUnitsWarning", "EstimationError", "EvalkitError", "EvalkitWarning", "FewClustersWarning",
    "FontFallbackWarning", "LonelyPSUWarning", "PersonalDataError", "ReadError", "SmallSampleWarning",
    "ValidationError",
]
