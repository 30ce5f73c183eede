"""Sensitivity checks of the programme estimates: leave one community out, and a mixed model.

Neither replaces the headline analysis (:func:`evalkit.programme_effect`,
:func:`evalkit.community_effects`); they show whether it hinges on one community or on the
estimator.
"""
from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import pandas as pd

from ..survey.design import SurveyDesign
from ..errors import ConvergenceWarning, EstimationError, FewClustersWarning
from ..spec.registry import start_years
from .impact import community_panel, programme_effect

LOO_COLUMNS = ["indicator", "left_out", "left_out_role", "estimate", "p_value", "ci_low", "ci_high",
               "change"]
MIXED_COLUMNS = ["indicator", "term", "estimate", "se", "z", "p_value", "ci_low", "ci_high",
                 "var_community", "var_respondent", "var_residual", "n", "n_respondents",
                 "n_communities", "converged"]


def leave_one_out(
    design: SurveyDesign,
    y: str,
    *,
    registry: pd.DataFrame | Mapping | None = None,
    community: str = "community_id",
    wave: str = "wave",
    domain: Mapping[str, Sequence] | None = None,
    n_perm: int = 999,
    seed: int | None = 2017,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """The pooled programme effect recomputed with each community left out in turn.

    Returns
    -------
    DataFrame
        ``indicator, left_out, left_out_role, estimate, p_value, ci_low, ci_high, change`` (one row
        per community, plus a first row ``left_out = "(none)"`` with the full estimate; ``change``
        is the estimate minus the full one). Inference as :func:`evalkit.programme_effect`.
    """
    registry = start_years(registry)
    panel = community_panel(design, y, community=community, wave=wave, domain=domain)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        full = programme_effect(panel, y, registry=registry, n_perm=n_perm, seed=seed, alpha=alpha)
        rows.append({"indicator": y, "left_out": "(none)", "left_out_role": "", "estimate": full.simple,
                     "p_value": full.p_value, "ci_low": full.ci[0], "ci_high": full.ci[1]})
        for c in panel.index:
            try:
                r = programme_effect(panel.drop(index=c), y, registry=registry, n_perm=n_perm, seed=seed,
                                     alpha=alpha)
            except EstimationError:
                continue
            rows.append({"indicator": y, "left_out": c,
                         "left_out_role": "programme" if registry.get(c) else "comparison",
                         "estimate": r.simple, "p_value": r.p_value, "ci_low": r.ci[0], "ci_high": r.ci[1]})
    out = pd.DataFrame(rows)
    out["change"] = out["estimate"] - full.simple
    warnings.warn(
        f"{len(panel)} communities: leave-one-out intervals come from randomization inference.",
        FewClustersWarning, stacklevel=2)
    return out[LOO_COLUMNS]


def mixed_model(
    data: pd.DataFrame,
    y: str,
    *,
    registry: pd.DataFrame | Mapping | None = None,
    community: str = "community_id",
    unit: str = "respondent_id",
    wave: str = "wave",
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
    balanced
        Use only respondents interviewed in every wave (the panel core; default). This keeps the
        fit to about a minute on two cores; ``False`` uses every row and is much slower.

    Returns
    -------
    DataFrame
        One row for the ``treated`` term: ``indicator, term, estimate, se, z, p_value, ci_low,
        ci_high, var_community, var_respondent, var_residual, n, n_respondents, n_communities,
        converged``.

    Notes
    -----
    REML fit, ``statsmodels.regression.mixed_linear_model.MixedLM`` with ``groups=community`` and a
    variance component for respondents (nested random intercepts; R ``lme4::lmer(y ~ treated +
    factor(wave) + factor(cohort) + (1 | community/respondent))``). Its Wald SE assumes the model;
    with 14 communities it is a sensitivity check, not the headline inference. Sampling weights
    are not used (MixedLM has none).
    """
    import statsmodels.formula.api as smf

    for col in [y, community, unit, wave]:
        if col not in data.columns:
            raise EstimationError(f"Column {col!r} is not in the data.")
    registry = start_years(registry)
    d = data[[y, community, unit, wave]].dropna().copy()
    d[community] = d[community].astype(str)
    d["cohort"] = d[community].map(lambda c: int(registry.get(c) or 0))
    d["treated"] = ((d["cohort"] > 0) & (d[wave] >= d["cohort"])).astype(float)
    if balanced:
        nw = d.groupby(unit)[wave].nunique()
        d = d[d[unit].isin(nw[nw == d[wave].nunique()].index)]
    if d.empty or d["treated"].nunique() < 2:
        raise EstimationError(f"No variation in treatment for {y!r} among the rows used.")
    d = d.rename(columns={y: "_y", unit: "_unit", wave: "_wave"})
    model = smf.mixedlm("_y ~ treated + C(_wave) + C(cohort)", d, groups=community, re_formula="1",
                        vc_formula={"respondent": "0 + C(_unit)"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(method="lbfgs", reml=True)
    converged = bool(getattr(fit, "converged", True)) and not any(
        "converge" in str(w.message).lower() for w in caught)
    if not converged:
        warnings.warn(f"The mixed model for {y!r} did not converge; read it with care.",
                      ConvergenceWarning, stacklevel=2)
    from scipy import stats

    est, se = float(fit.params["treated"]), float(fit.bse["treated"])
    q = stats.norm.ppf(0.5 + level / 2)
    return pd.DataFrame([{
        "indicator": y, "term": "treated", "estimate": est, "se": se, "z": est / se,
        "p_value": 2 * stats.norm.sf(abs(est / se)), "ci_low": est - q * se, "ci_high": est + q * se,
        "var_community": float(fit.cov_re.iloc[0, 0]), "var_respondent": float(fit.vcomp[0]),
        "var_residual": float(fit.scale), "n": int(len(d)), "n_respondents": int(d["_unit"].nunique()),
        "n_communities": int(d[community].nunique()), "converged": converged,
    }], columns=MIXED_COLUMNS)
