"""Sensitivity checks of the programme estimates: leave one community out, and a mixed model.

Neither replaces the headline analysis (:func:`evalkit.programme_effect`,
:func:`evalkit.community_effects`); they show whether it hinges on one community or on the
estimator. Start years come from ``study=`` or an explicit ``registry=``, columns from the study's
roles or explicit arguments (:func:`evalkit.evaluation.impact.study_args`).
"""
from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConvergenceWarning, EstimationError, FewClustersWarning
from ..results import check_vocabulary, wald_columns
from ..spec.study import Roles, Study
from ..survey.design import SurveyDesign
from .impact import UNSET, community_panel, confidence_level, programme_effect, study_args

LOO_COLUMNS = ["indicator", "left_out", "left_out_role", "estimate", "p_value", "ci_low", "ci_high",
               "change", "n_assignments", "exact"]
MIXED_COLUMNS = ["indicator", "term", "estimate", "se", "df", "statistic", "p_value", "ci_low", "ci_high",
                 "var_community", "var_respondent", "var_residual", "n", "n_respondents",
                 "n_communities", "converged"]


def leave_one_out(
    design: SurveyDesign | pd.DataFrame,
    y: str,
    *,
    study: Study | None = None,
    registry: pd.DataFrame | Mapping | None = None,
    community: str | None = None,
    wave: str | None = None,
    domain: Mapping[str, Sequence] | None = None,
    n_perm: int | None = None,
    seed: int | None = UNSET,
    level: float = 0.95,
    alpha: float | None = None,
) -> pd.DataFrame:
    """The pooled programme effect recomputed with each community left out in turn.

    Arguments as :func:`evalkit.programme_effect` (``study=`` or ``registry=`` required). By
    default every refit is exact randomization inference (all reassignments of the start years:
    about 0.4 s each on the shipped 14 communities); ``n_perm=`` caps it as there.

    Returns
    -------
    DataFrame
        ``indicator, left_out, left_out_role, estimate, p_value, ci_low, ci_high, change,
        n_assignments, exact`` (one row per community, plus a first row ``left_out = "(none)"``
        with the full estimate; ``change`` is the estimate minus the full one).
    """
    level = confidence_level("leave_one_out", level, alpha)
    args = study_args("leave_one_out", study, registry, community, wave, seed)
    starts = args.start_years
    panel = community_panel(design, y, study=study, community=args.community, wave=args.wave, domain=domain)
    waves = list(panel.columns)
    fits = [("(none)", panel)] + [(c, panel.drop(index=c)) for c in panel.index]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        for left_out, sub in fits:
            try:
                r = programme_effect(sub, y, registry=starts, n_perm=n_perm, seed=args.seed, level=level)
            except EstimationError:
                if left_out == "(none)":
                    raise
                continue
            role = "" if left_out == "(none)" else (
                "programme" if waves[0] < (starts.get(left_out) or 0) <= waves[-1] else "comparison")
            rows.append({"indicator": y, "left_out": left_out, "left_out_role": role, "estimate": r.simple,
                         "p_value": r.p_value, "ci_low": r.ci[0], "ci_high": r.ci[1],
                         "n_assignments": r.n_assignments, "exact": r.exact})
    out = pd.DataFrame(rows)
    out["change"] = out["estimate"] - out["estimate"].iloc[0]
    warnings.warn(
        f"{len(panel)} communities: leave-one-out intervals come from randomization inference.",
        FewClustersWarning, stacklevel=2)
    return check_vocabulary(out[LOO_COLUMNS], "leave_one_out()")


def mixed_model(
    data: pd.DataFrame,
    y: str,
    *,
    study: Study | None = None,
    registry: pd.DataFrame | Mapping | None = None,
    community: str | None = None,
    unit: str | None = None,
    wave: str | None = None,
    balanced: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """Linear mixed model with community and respondent random intercepts (statsmodels MixedLM).

    ``y ~ treated + C(wave) + C(cohort) + (1 | community) + (1 | respondent within community)``,
    where ``treated`` = 1 in a programme community from its start year on and ``cohort`` is the
    start year (0 for comparison communities), so the programme effect is identified from change
    over time, as in the DiD, while communities and respondents get random rather than fixed levels.

    Parameters
    ----------
    data
        Respondent-level scored data (one row per respondent per wave).
    y
        Indicator column.
    study, registry
        Start years from the study's registry or an explicit ``registry=`` (one is required).
    community, unit, wave
        Columns; default the study's roles (``community_id``, ``respondent_id``, ``wave``).
    balanced
        Use only respondents interviewed in every wave (the panel core; default). This keeps the
        fit to about a minute on two cores; ``False`` uses every row and is much slower.
    level
        Confidence level of the interval.

    Returns
    -------
    DataFrame
        One row for the ``treated`` term: ``indicator, term, estimate, se, df, statistic, p_value,
        ci_low, ci_high, var_community, var_respondent, var_residual, n, n_respondents,
        n_communities, converged`` (``df`` is inf: a Wald z test).

    Notes
    -----
    REML fit, ``statsmodels.regression.mixed_linear_model.MixedLM`` with ``groups=community`` and a
    variance component for respondents (nested random intercepts; R ``lme4::lmer(y ~ treated +
    factor(wave) + factor(cohort) + (1 | community/respondent))``). Its Wald SE assumes the model;
    with 14 communities it is a sensitivity check, not the headline inference. Sampling weights
    are not used (MixedLM has none).
    """
    level = confidence_level("mixed_model", level, None)
    args = study_args("mixed_model", study, registry, community, wave)
    unit = unit or (study.roles if study is not None else Roles()).unit
    d = _mixed_rows(data, y, args.community, unit, args.wave, args.start_years, balanced)
    fit, converged = _fit_mixed(d, args.community)
    if not converged:
        warnings.warn(f"The mixed model for {y!r} did not converge; read it with care.",
                      ConvergenceWarning, stacklevel=2)
    wald = wald_columns(float(fit.params["treated"]), float(fit.bse["treated"]), np.inf, level)
    row = {"indicator": y, "term": "treated", **{k: float(v) for k, v in wald.items()},
           "var_community": float(fit.cov_re.iloc[0, 0]), "var_respondent": float(fit.vcomp[0]),
           "var_residual": float(fit.scale), "n": int(len(d)), "n_respondents": int(d["_unit"].nunique()),
           "n_communities": int(d[args.community].nunique()), "converged": converged}
    return check_vocabulary(pd.DataFrame([row], columns=MIXED_COLUMNS), "mixed_model()")


def _mixed_rows(data: pd.DataFrame, y: str, community: str, unit: str, wave: str,
                starts: Mapping[str, int | None], balanced: bool) -> pd.DataFrame:
    """The rows of the mixed model: ``y, community, _unit, _wave, cohort, treated`` (balanced if asked)."""
    for col in [y, community, unit, wave]:
        if col not in data.columns:
            raise EstimationError(f"Column {col!r} is not in the data.")
    d = data[[y, community, unit, wave]].dropna().copy()
    d[community] = d[community].astype(str)
    d["cohort"] = d[community].map(lambda c: int(starts.get(c) or 0))
    d["treated"] = ((d["cohort"] > 0) & (d[wave] >= d["cohort"])).astype(float)
    if balanced:
        nw = d.groupby(unit)[wave].nunique()
        d = d[d[unit].isin(nw[nw == d[wave].nunique()].index)]
    if d.empty or d["treated"].nunique() < 2:
        raise EstimationError(f"No variation in treatment for {y!r} among the rows used.")
    return d.rename(columns={y: "_y", unit: "_unit", wave: "_wave"})


def _fit_mixed(d: pd.DataFrame, community: str):
    """REML fit of the mixed model; ``(fit, converged)``."""
    import statsmodels.formula.api as smf

    model = smf.mixedlm("_y ~ treated + C(_wave) + C(cohort)", d, groups=community, re_formula="1",
                        vc_formula={"respondent": "0 + C(_unit)"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(method="lbfgs", reml=True)
    converged = bool(getattr(fit, "converged", True)) and not any(
        "converge" in str(w.message).lower() for w in caught)
    return fit, converged
