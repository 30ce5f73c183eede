"""evalkit: evaluate community-governance programmes from resident survey data.

``import evalkit as ek`` gives every public function; each lives in one layer (a subpackage),
and a layer imports only from the layers above it in this table:

===================  ==================================================================
``ek.errors``        every evalkit error and warning; ``ek.results``: the one result vocabulary
``ek.spec``          the study: codebook (+ schema), community registry, :class:`Study`
``ek.io``            read exports (CSV/Excel/SPSS/问卷星/Kobo), validate, derive, privacy, manifest
``ek.measure``       scale scoring and reliability
``ek.survey``        the survey design, domain estimation, calibration, the indicator table
``ek.inference``     regression with CR2, wild cluster bootstrap, randomization inference
``ek.did``           Callaway & Sant'Anna ATT(g,t) and its aggregations
``ek.evaluation``    baseline change, community effects, pooled effect, sensitivity, targets
``ek.publish``       disclosure control, figures, notebooks and the HTML report
``ek.datasets``      the shipped synthetic Dongying example and its simulator (the only layer that
                     knows Dongying)
===================  ==================================================================
"""
from __future__ import annotations

from . import _moved

_moved.install()  # old 0.1 module paths (evalkit.design ...) keep working for one release

from .evaluation.baseline import change_from_baseline
from .io.derive import Derived, derive
from .spec.codebook import Codebook, load_codebook
from .spec.study import Roles, Study
from .spec.registry import (crossing, load_communities, population_margins, population_table, programme_targets,
                          start_years)
from .evaluation.comparison import community_effects
from .survey.domains import domain_means
from .survey.design import SurveyDesign, WeightingInfo
from .survey.replicate import ReplicateDesign
from .did import (AggregateResult, ATTGTResult, PretrendPower, PretrendTest, SensitivityResult, att_gt, breakdown_value,
                  honest_did, pretrend_power, sensitivity)
from .evaluation.impact import ImpactResult, community_panel, programme_effect
from .errors import (
    CodebookError,
    ConvergenceWarning,
    DesignError,
    DidWarning,
    DisclosureWarning,
    DroppedUnitsWarning,
    EstimationError,
    EvalkitError,
    EvalkitWarning,
    FewClustersWarning,
    FontFallbackWarning,
    LonelyPSUWarning,
    PersonalDataError,
    ManifestError,
    ReadError,
    ReliabilityWarning,
    ShockVarianceWarning,
    SmallSampleWarning,
    ValidationError,
)
from .publish.disclosure import (MIN_N, DisclosureError, Gated, assert_no_personal_data, assert_publishable, gate_published,
                                 gate_survey, gate_table, scan_text, suppress)
from .io.exports import read_kobo, read_kobo_repeat, read_spss, repeat_study, read_wjx, to_wjx_excel, wjx_option_map
from .io.prepare import add_design, design_problems
from .io.draft import draft_codebook
from .publish.style import community_colors, label, set_language, use_cjk_font
from .survey.indicators import indicator_table
from .inference import RandomizationResult, WildBootstrapResult, headline, randomization_test, wild_cluster_bootstrap
from .io.manifest import check_manifest, data_checksum, verify_data, write_manifest
from .publish.plots import event_study_plot, forest_plot, indicator_plot, leave_one_out_plot, reliability_plot, trend_plot
from .io.privacy import check_personal_data, detect_personal_data, pseudonymise, quarantine_personal_cells
from .io.kobo import read_xlsform
from .io.read import read_survey
from .inference.regress import RegressionResult, regress
from .publish.report import build_report
from .publish.bureau import build_bureau_report
from .publish.labels import Labels
from .publish.figures import figure_html, plot_community_effect, plot_effects_overview
from .evaluation.summary import EvaluationSummary, summarise
from .evaluation.power import comparisons_needed, mde, power, respondents_needed
from .evaluation.power_components import VarianceComponents, target_mdes, variance_components
from .evaluation.power_sim import SimulatedPower, simulated_power
from .evaluation.pooling import HeterogeneityTest, PooledEffect, heterogeneity_test, pool_effects, summary_index, theme_indices
from .inference.stepdown import StepdownResult, stepdown, stepdown_pvalues, stepdown_randomization, stepdown_wild
from .performance import evaluate_performance, read_records
from .project import open_study
from .measure.reliability import cronbach_alpha, feldt_ci, item_rest, omega_total, one_factor, reliability
from .measure.scales import describe_scales, score, score_columns
from .evaluation.sensitivity import leave_one_out, mixed_model
from .datasets.simulate import simulate
from .io.validate import ValidationReport, validate
from . import datasets

__version__ = "0.2.0"

__all__ = [
    "__version__",
    "Study", "Roles", "open_study",
    "datasets",
    # data in
    "read_survey", "validate", "ValidationReport", "derive", "Derived", "load_codebook", "Codebook", "load_communities",
    "population_table", "population_margins", "crossing", "programme_targets", "start_years", "simulate",
    "add_design", "design_problems", "draft_codebook",
    # exports, privacy, disclosure, data integrity
    "read_wjx", "wjx_option_map", "read_kobo", "read_kobo_repeat", "repeat_study", "read_xlsform", "read_spss", "to_wjx_excel", "quarantine_personal_cells", "detect_personal_data", "check_personal_data",
    "pseudonymise", "suppress", "scan_text", "assert_no_personal_data", "MIN_N", "Gated", "DisclosureError", "gate_survey",
    "gate_table", "gate_published", "assert_publishable", "write_manifest", "check_manifest",
    "data_checksum", "verify_data",
    # scales
    "score", "score_columns", "describe_scales", "cronbach_alpha", "omega_total", "item_rest",
    "one_factor", "feldt_ci", "reliability",
    # design-based estimation
    "SurveyDesign", "ReplicateDesign", "WeightingInfo", "domain_means", "indicator_table",
    # comparisons
    "change_from_baseline", "community_effects", "programme_effect", "community_panel", "ImpactResult",
    "att_gt", "ATTGTResult", "AggregateResult", "summarise", "EvaluationSummary",
    # performance evaluation (service records, contracts, cost, scorecard)
    "evaluate_performance", "read_records",
    "PretrendTest",
    # parallel-trends sensitivity (Rambachan & Roth 2023) and pre-test power (Roth 2022)
    "sensitivity", "honest_did", "breakdown_value", "SensitivityResult", "pretrend_power", "PretrendPower",
    # few-cluster inference and sensitivity
    "regress", "RegressionResult", "wild_cluster_bootstrap", "WildBootstrapResult", "randomization_test",
    "RandomizationResult", "headline", "leave_one_out", "mixed_model",
    # power and minimum detectable effects
    "power", "mde", "respondents_needed", "comparisons_needed", "VarianceComponents", "variance_components",
    "target_mdes", "simulated_power", "SimulatedPower",
    # many outcomes and pooling
    "stepdown", "stepdown_wild", "stepdown_randomization", "stepdown_pvalues", "StepdownResult", "pool_effects",
    "PooledEffect", "heterogeneity_test", "HeterogeneityTest", "summary_index", "theme_indices",
    # figures and the report
    "use_cjk_font", "set_language", "label", "community_colors", "indicator_plot", "reliability_plot",
    "event_study_plot", "forest_plot", "trend_plot", "leave_one_out_plot", "build_report",
    "build_bureau_report", "Labels", "plot_community_effect", "plot_effects_overview", "figure_html",
    # errors and warnings
    "CodebookError", "ConvergenceWarning", "DesignError", "DisclosureWarning", "DidWarning",
    "DroppedUnitsWarning", "EstimationError", "EvalkitError", "EvalkitWarning", "FewClustersWarning",
    "FontFallbackWarning", "LonelyPSUWarning", "ManifestError", "PersonalDataError", "ReadError",
    "ReliabilityWarning", "ShockVarianceWarning",
    "SmallSampleWarning",
    "ValidationError",
]
