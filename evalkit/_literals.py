"""Choices accepted by evalkit functions, as ``Literal`` aliases checked in one place.

Each helper module appends its aliases here; :func:`check_choice` turns a bad
value into an :class:`~evalkit.errors.EvalkitError` that lists the valid ones.
"""
from __future__ import annotations

from typing import Any, Literal, get_args

from .errors import EvalkitError


def check_choice(value: Any, alias: Any, argument: str) -> str:
    """Return ``value`` if it is one of the strings of ``alias``; else raise EvalkitError."""
    allowed = get_args(alias)
    if value not in allowed:
        raise EvalkitError(
            f"{argument}={value!r} is not a valid choice; use one of: "
            + ", ".join(repr(a) for a in allowed)
            + "."
        )
    return value


# --- reliability.py -------------------------------------------------------
#: How missing item responses enter the covariance matrix (psych::alpha's ``use``).
MissingPolicy = Literal["pairwise", "listwise"]

# --- design.py ------------------------------------------------------------
#: How a stratum with a single PSU enters the variance (R ``options(survey.lonely.psu)``).
LonelyPSU = Literal["adjust", "remove", "certainty", "average", "fail"]
#: What ``SurveyDesign`` estimators compute.
DesignStatistic = Literal["mean", "total", "proportion"]
#: Confidence interval of a proportion: Wald, or Wald on the logit scale (R ``svyciprop``).
ProportionCI = Literal["wald", "logit"]

# --- did.py ---------------------------------------------------------------
#: Comparison units of ``att_gt`` (R did's ``control_group``: nevertreated / notyettreated).
DidControl = Literal["never", "notyet"]
#: The 2x2 DiD estimator (R did's ``est_method``).
DidMethod = Literal["dr", "reg", "ipw"]
#: Base period of pre-treatment ATT(g, t) (R did's ``base_period``).
DidBasePeriod = Literal["varying", "universal"]
#: Aggregation of ATT(g, t) (R ``aggte``'s ``type``).
DidAggregation = Literal["simple", "group", "dynamic", "calendar"]

# --- fonts.py / plots.py --------------------------------------------------
#: Label language of figures and reports.
Language = Literal["zh", "en"]

# --- regress.py / inference.py ------------------------------------------------
#: Cluster-robust variance estimator of ``regress`` (clubSandwich / Stata names).
VcovType = Literal["CR2", "CR1"]
#: What ``regress`` does with rows that have missing values.
MissingAction = Literal["raise", "drop"]
#: Wild bootstrap weight distribution (boottest's ``weighttype``).
BootWeights = Literal["webb", "rademacher"]
#: How ``inference.headline`` chooses the headline p-value and CI.
HeadlineMethod = Literal["auto", "wild_bootstrap", "randomization", "analytic"]

# --- privacy.py / read.py -------------------------------------------------------
#: What ``read_survey`` does with columns that look like personal data.
PersonalDataPolicy = Literal["refuse", "quarantine", "ignore"]

# --- exports.py -----------------------------------------------------------------
#: How ``read_wjx`` reads numeric answers: the codebook's codes, or option order 1, 2, 3 ...
OptionNumbers = Literal["codes", "order"]
#: How ``to_wjx_excel`` writes coded answers.
WjxAnswers = Literal["text", "number"]
