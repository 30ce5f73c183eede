"""What the communities say together: random-effects pooling, shrunken community effects, a
randomization test of "no difference between communities", and pre-specified summary indices.

* :func:`pool_effects` pools one effect per community (on a common, e.g. standardised, scale)
  with a random-effects model: tau^2 by DerSimonian-Laird or REML, the pooled effect with a
  normal or Hartung-Knapp interval, a prediction interval for a new community, I^2, H^2,
  Cochran's Q, and the empirical-Bayes (BLUP) shrunken effect of every community
  (:attr:`PooledEffect.communities`). It matches R metafor's ``rma(yi, vi, method=...)`` and
  ``blup()``.
* :func:`heterogeneity_test` is the randomization test of "the programme changed the outcome by
  the same amount in every community", from respondent-level data (Freedman-Lane permutation of
  the residuals of the common-change model; statistic: Cochran's Q of the community changes).
* :func:`summary_index` / :func:`theme_indices` build the pre-specified summary index of a
  programme theme from several outcomes: Anderson (2008) inverse-covariance weighted, or
  Kling, Liebman & Katz (2007) mean of standardised outcomes.

References
----------
DerSimonian, R. and Laird, N. (1986). Meta-analysis in clinical trials. Controlled Clinical
Trials 7(3), 177-188.
Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance estimators in the
random-effects model. Journal of Educational and Behavioral Statistics 30(3), 261-293.
Hartung, J. and Knapp, G. (2001). A refined method for the meta-analysis of controlled clinical
trials with binary outcome. Statistics in Medicine 20(24), 3875-3889.
Higgins, J. P. T., Thompson, S. G. and Spiegelhalter, D. J. (2009). A re-evaluation of
random-effects meta-analysis. JRSS A 172(1), 137-159.
Freedman, D. and Lane, D. (1983). A nonstochastic interpretation of reported significance
levels. Journal of Business & Economic Statistics 1(4), 292-298.
Anderson, M. L. (2008). Multiple inference and gender differences in the effects of early
intervention. Journal of the American Statistical Association 103(484), 1481-1495.
Kling, J. R., Liebman, J. B. and Katz, L. F. (2007). Experimental analysis of neighborhood
effects. Econometrica 75(1), 83-119.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .._literals import check_choice
from ..errors import EstimationError, EvalkitError
from ..inference import permutation
from ..results import Result, critical_value

__all__ = ["pool_effects", "PooledEffect", "heterogeneity_test", "HeterogeneityTest",
           "summary_index", "theme_indices", "TauMethod", "IndexMethod"]

#: Estimator of the between-community variance tau^2 (metafor's ``method=``).
TauMethod = Literal["REML", "DL"]
#: Summary index: Anderson (2008) inverse-covariance weights or Kling-Liebman-Katz (2007) mean.
IndexMethod = Literal["anderson", "klk"]


def _column(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    if name not in frame.columns:
        raise EvalkitError(f"pool_effects: column {name!r} ({what}) is not in the effects table "
                           f"(columns: {list(frame.columns)}); name it with {what}=...")
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
    return values


def _tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    w = 1.0 / v
    mu = np.sum(w * y) / np.sum(w)
    Q = np.sum(w * (y - mu) ** 2)
    c = np.sum(w) - np.sum(w ** 2) / np.sum(w)
    return float(max(0.0, (Q - (y.size - 1)) / c))


def _tau2_reml(y: np.ndarray, v: np.ndarray, tol: float = 1e-12, max_iter: int = 10_000) -> tuple[float, bool]:
    """REML tau^2 by Fisher scoring (metafor's algorithm), truncated at 0; returns (tau2, converged)."""
    tau2 = _tau2_dl(y, v)
    for _ in range(max_iter):
        w = 1.0 / (v + tau2)
        # P = W - w w' / sum(w): the REML projection of the intercept-only model
        P = np.diag(w) - np.outer(w, w) / np.sum(w)
        Py = P @ y
        score = 0.5 * (Py @ Py - np.trace(P))
        info = 0.5 * np.sum(P * P)
        step = score / info
        new = max(0.0, tau2 + step)
        if abs(new - tau2) <= tol * max(1.0, tau2):
            return float(new), True
        tau2 = new
    return float(tau2), False


@dataclass(frozen=True, repr=False)
class PooledEffect(Result):
    """Random-effects pooling of community effects.

    Attributes
    ----------
    estimate, se, df, statistic, p_value, ci_low, ci_high : float
        The pooled effect mu, its standard error, the degrees of freedom of its reference
        distribution (``inf``: normal; ``k - 1`` with Hartung-Knapp), z or t for mu = 0, p-value
        and confidence interval at ``level``.
    pi_low, pi_high : float
        Prediction interval for the effect in a new community (metafor ``predict()``:
        mu +- crit sqrt(se^2 + tau^2), crit the normal or t(k-1) quantile as for the CI).
    tau2, tau2_se, tau : float
        Between-community variance (its standard error from the information matrix; NaN for
        DL) and standard deviation.
    i2, h2 : float
        I^2 (percent of total variability due to between-community differences) and H^2,
        computed as metafor does for every estimator: with the "typical" sampling variance
        s^2 = (k-1) sum w / ((sum w)^2 - sum w^2), I^2 = 100 tau^2 / (tau^2 + s^2).
    q, q_df, q_p_value : float
        Cochran's Q test of homogeneity (chi^2 on k - 1 df, a large-sample test: see
        :func:`heterogeneity_test` for a randomization test).
    k : int
        Number of communities pooled.
    method : str
        ``"REML"`` or ``"DL"``; ``hartung_knapp`` whether the Hartung-Knapp interval was used.
    communities : pandas.DataFrame
        One row per community: ``label, observed, observed_se, weight`` (percent of the pooled
        estimate) and the empirical-Bayes shrunken effect ``estimate, se, ci_low, ci_high``
        (metafor ``blup()``), plus ``shrinkage`` (share pulled to the pooled effect,
        v_i / (v_i + tau^2)).
    """

    title: ClassVar[str] = "Random-effects pooling"

    estimate: float
    se: float
    df: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    tau2_se: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_p_value: float
    k: int
    method: str
    hartung_knapp: bool
    level: float
    converged: bool
    communities: pd.DataFrame = field(repr=False, compare=False)

    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))

    def tidy(self) -> pd.DataFrame:
        """One row ``term="pooled"``: ``estimate, se, df, statistic, p_value, ci_low, ci_high,
        pi_low, pi_high, tau2, tau, i2, h2, q, q_df, q_p_value, k, method, level``."""
        return pd.DataFrame({
            "term": ["pooled"], "estimate": [self.estimate], "se": [self.se], "df": [self.df],
            "statistic": [self.statistic], "p_value": [self.p_value], "ci_low": [self.ci_low],
            "ci_high": [self.ci_high], "pi_low": [self.pi_low], "pi_high": [self.pi_high],
            "tau2": [self.tau2], "tau": [self.tau], "i2": [self.i2], "h2": [self.h2], "q": [self.q],
            "q_df": [self.q_df], "q_p_value": [self.q_p_value], "k": [self.k],
            "method": [self.method + (" + Hartung-Knapp" if self.hartung_knapp else "")],
            "level": [self.level]})

    def _headline(self) -> str:
        return (f"random-effects pooling of {self.k} communities, tau^2 by {self.method}"
                + (", Hartung-Knapp interval" if self.hartung_knapp else ""))


def pool_effects(effects: pd.DataFrame, *, estimate: str = "estimate", se: str | None = "se",
                 variance: str | None = None, label: str | None = None, scale: str | None = None,
                 method: TauMethod = "REML",
                 hartung_knapp: bool = False, level: float = 0.95) -> PooledEffect:
    """Pool one effect per community with a random-effects model (metafor ``rma``).

    Parameters
    ----------
    effects : pandas.DataFrame
        One row per community: its effect on a common scale (e.g. standardised) and its
        standard error (or sampling variance), e.g. a tidy frame of community effects.
    estimate, se : str
        Columns of the effect and its standard error.
    variance : str, optional
        Column of the sampling variance instead of ``se`` (metafor's ``vi``).
    label : str, optional
        Column naming the communities (default: the frame's index).
    scale : str, optional
        Column to divide each effect and its standard error by before pooling, e.g.
        ``"sd_baseline"`` to pool standardised effects (effect sizes in baseline SDs).
    method : {"REML", "DL"}
        Estimator of tau^2: restricted maximum likelihood (metafor's default, Fisher scoring)
        or DerSimonian-Laird.
    hartung_knapp : bool
        Hartung-Knapp(-Sidik-Jonkman) interval: se^2 = sum w (y - mu)^2 / ((k-1) sum w), t on
        k - 1 df (metafor ``test="knha"``); advisable with few communities.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    PooledEffect
        ``.estimate, .se, .ci_low, .ci_high, .pi_low, .pi_high, .tau2, .i2, .q ...``, ``.tidy()``
        and ``.communities`` (the empirical-Bayes shrunken community effects).

    Notes
    -----
    With w_i = 1/(v_i + tau^2): mu = sum w y / sum w, se = 1/sqrt(sum w). DL: tau^2 =
    max(0, (Q - (k-1)) / (sum w0 - sum w0^2 / sum w0)), w0 = 1/v. REML: the root of the
    restricted score by Fisher scoring, truncated at 0 (Viechtbauer 2005). Shrunken effect
    (BLUP): mu + lambda_i (y_i - mu), lambda_i = tau^2/(tau^2 + v_i), variance lambda_i v_i +
    (1 - lambda_i)^2 se^2 (metafor ``blup.rma.uni``). Checked against metafor's published BCG
    results (``tests/test_pooling.py``).
    """
    check_choice(method, TauMethod, "method")
    if not isinstance(effects, pd.DataFrame):
        raise EvalkitError(f"pool_effects needs a DataFrame of effects, not {type(effects).__name__}.")
    if not 0 < level < 1:
        raise EvalkitError(f"level={level!r} must be between 0 and 1, e.g. 0.95.")
    y = _column(effects, estimate, "estimate")
    if variance is not None:
        v = _column(effects, variance, "variance")
    elif se is not None:
        v = _column(effects, se, "se") ** 2
    else:
        raise EvalkitError("pool_effects: give se=... (standard errors) or variance=... (sampling variances).")
    if scale is not None:
        sd = _column(effects, scale, "scale")
        y, v = y / sd, v / sd ** 2
    labels = (effects[label] if label is not None and label in effects.columns else effects.index).astype(str)
    if label is not None and label not in effects.columns:
        raise EvalkitError(f"pool_effects: label column {label!r} is not in the effects table.")
    bad = ~np.isfinite(y) | ~np.isfinite(v) | (v <= 0)
    if bad.any():
        rows = [f"{lab} (estimate={a}, variance={b})" for lab, a, b in zip(labels[bad], y[bad], v[bad])]
        raise EstimationError(
            "pool_effects: these rows have a missing estimate or a missing, zero or negative "
            f"standard error: {rows[:5]}; drop them explicitly (and say so) or fix their standard errors.")
    k = y.size
    if k < 2:
        raise EstimationError(f"pool_effects needs at least 2 communities, got {k}.")
    converged = True
    if method == "DL":
        tau2 = _tau2_dl(y, v)
    else:
        tau2, converged = _tau2_reml(y, v)
    w0 = 1.0 / v
    mu0 = np.sum(w0 * y) / np.sum(w0)
    q = float(np.sum(w0 * (y - mu0) ** 2))
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    se_mu = float(np.sqrt(1.0 / np.sum(w)))
    df = np.inf
    if hartung_knapp:
        se_mu = float(np.sqrt(np.sum(w * (y - mu) ** 2) / ((k - 1) * np.sum(w))))
        df = float(k - 1)
    crit = critical_value(level, df)
    stat = mu / se_mu
    p = float(2 * (stats.t.sf(abs(stat), df) if np.isfinite(df) else stats.norm.sf(abs(stat))))
    s2 = (k - 1) * np.sum(w0) / (np.sum(w0) ** 2 - np.sum(w0 ** 2))
    tau2_se = np.nan
    if method == "REML":
        P = np.diag(w) - np.outer(w, w) / np.sum(w)
        tau2_se = float(np.sqrt(2.0 / np.sum(P * P)))
    lam = tau2 / (tau2 + v)
    blup = mu + lam * (y - mu)
    blup_se = np.sqrt(lam * v + (1 - lam) ** 2 * se_mu ** 2)
    communities = pd.DataFrame({
        "label": labels.to_numpy(), "observed": y, "observed_se": np.sqrt(v),
        "weight": 100 * w / np.sum(w), "estimate": blup, "se": blup_se,
        "ci_low": blup - crit * blup_se, "ci_high": blup + crit * blup_se, "shrinkage": 1 - lam})
    half_pi = crit * np.sqrt(se_mu ** 2 + tau2)
    return PooledEffect(
        estimate=mu, se=se_mu, df=df, statistic=float(stat), p_value=p,
        ci_low=mu - crit * se_mu, ci_high=mu + crit * se_mu, pi_low=mu - half_pi, pi_high=mu + half_pi,
        tau2=float(tau2), tau2_se=tau2_se, i2=float(100 * tau2 / (tau2 + s2)), h2=float((tau2 + s2) / s2),
        q=q, q_df=k - 1, q_p_value=float(stats.chi2.sf(q, k - 1)), k=k, method=method,
        hartung_knapp=bool(hartung_knapp), level=level, converged=converged, communities=communities)


# --- randomization test of "no difference between communities" -------------------------------

@dataclass(frozen=True, repr=False)
class HeterogeneityTest(Result):
    """Randomization test that the change was the same in every community.

    Attributes
    ----------
    statistic : float
        Cochran's Q of the communities' changes (post minus base means).
    p_value : float
        Share of the permutations (the observed data included) with Q at least the observed.
    p_value_chi2 : float
        The large-sample chi^2 (k - 1 df) p-value of the same Q, for comparison.
    n_permutations : int
        Number of data sets evaluated (observed included).
    k : int
        Number of communities.
    changes : pandas.DataFrame
        ``community, estimate, se, n`` of each community's change.
    """

    title: ClassVar[str] = "Randomization test of equal changes across communities"

    statistic: float
    p_value: float
    p_value_chi2: float
    n_permutations: int
    k: int
    seed: object
    changes: pd.DataFrame = field(repr=False, compare=False)

    def tidy(self) -> pd.DataFrame:
        """One row: ``term, statistic, p_value, p_value_chi2, n_permutations, k, method``."""
        return pd.DataFrame({"term": ["equal changes"], "statistic": [self.statistic],
                             "p_value": [self.p_value], "p_value_chi2": [self.p_value_chi2],
                             "n_permutations": [self.n_permutations], "k": [self.k],
                             "method": ["Freedman-Lane permutation of Cochran's Q"]})

    def _headline(self) -> str:
        return f"{self.title}: {self.k} communities, {self.n_permutations} permutations"


def _cell_moments(y: np.ndarray, w: np.ndarray, cell: np.ndarray, n_cells: int):
    """Weighted means and the variance of the mean (Kish-style, with-replacement) of each cell."""
    sw = np.bincount(cell, w, n_cells)
    mean = np.bincount(cell, w * y, n_cells) / sw
    dev = y - mean[cell]
    var = np.bincount(cell, (w * dev) ** 2, n_cells) / sw ** 2
    n = np.bincount(cell, minlength=n_cells)
    var = var * n / np.maximum(n - 1, 1)
    return mean, var


def _q_of_changes(Y: np.ndarray, w: np.ndarray, cell: np.ndarray, k: int) -> np.ndarray:
    """Cochran's Q of the k community changes for each row of Y (b x N)."""
    out = np.empty(len(Y))
    for i, y in enumerate(Y):
        mean, var = _cell_moments(y, w, cell, 2 * k)
        d = mean[k:] - mean[:k]
        vd = var[k:] + var[:k]
        wd = 1.0 / vd
        out[i] = np.sum(wd * (d - np.sum(wd * d) / np.sum(wd)) ** 2)
    return out


def heterogeneity_test(data: pd.DataFrame, *, outcome: str, community: str, post: str,
                       weights: str | None = None, n_perm: int = 1999, seed=0) -> HeterogeneityTest:
    """Randomization test of "the outcome changed by the same amount in every community".

    Parameters
    ----------
    data : pandas.DataFrame
        Respondent rows of the communities compared, in a base wave and one later wave.
    outcome : str
        The outcome column (numeric).
    community : str
        The community column.
    post : str
        0/1 column: 0 for the base wave, 1 for the later wave.
    weights : str, optional
        Survey weight column (weighted means; default equal weights).
    n_perm : int
        Number of random permutations.
    seed : int
        Seed of the permutations (reproducible).

    Returns
    -------
    HeterogeneityTest
        ``.statistic`` (Q), ``.p_value``, ``.p_value_chi2``, ``.changes`` and ``.tidy()``.

    Notes
    -----
    Each community's change d_c is its weighted post mean minus its base mean, with variance
    the sum of the two means' variances; Q = sum (d_c - dbar)^2 / var(d_c), dbar their
    inverse-variance mean. Freedman & Lane (1983): fit the model of the null hypothesis (a level
    per community and one common change, weighted least squares), permute its residuals within
    each wave (:mod:`evalkit.inference.permutation` draws the permutations; the observed data
    count as one of them), add them back to the fitted values and recompute Q. Exact for
    exchangeable errors; approximately valid otherwise (Anderson & ter Braak 2003). Rows with a
    missing outcome are refused, not dropped.
    """
    if not isinstance(data, pd.DataFrame):
        raise EvalkitError(f"heterogeneity_test needs a DataFrame, not {type(data).__name__}.")
    for col in [outcome, community, post] + ([weights] if weights else []):
        if col not in data.columns:
            raise EvalkitError(f"heterogeneity_test: column {col!r} is not in the data.")
    y = pd.to_numeric(data[outcome], errors="coerce").to_numpy(float)
    t = pd.to_numeric(data[post], errors="coerce").to_numpy(float)
    w = (np.ones(len(data)) if weights is None
         else pd.to_numeric(data[weights], errors="coerce").to_numpy(float))
    bad = ~np.isfinite(y) | ~np.isin(t, [0.0, 1.0]) | ~(w > 0) | data[community].isna().to_numpy()
    if bad.any():
        rows = list(np.flatnonzero(bad)[:5])
        raise EstimationError(
            f"heterogeneity_test: {int(bad.sum())} row(s) (e.g. positions {rows}) have a missing "
            f"{outcome!r}, a {post!r} other than 0/1, a missing community or a weight <= 0; "
            "filter them out before the test (and report how many).")
    codes, labels = pd.factorize(data[community], sort=True)
    k = len(labels)
    t = t.astype(int)
    cell = codes + k * t
    counts = np.bincount(cell, minlength=2 * k)
    if k < 2 or (counts < 2).any():
        thin = [f"{labels[c % k]} ({'post' if c >= k else 'base'})" for c in np.flatnonzero(counts < 2)]
        raise EstimationError(f"heterogeneity_test needs >= 2 communities and >= 2 respondents in each "
                              f"community and wave; too few in: {thin[:5]}.")
    # null model: community level + common change (WLS)
    X = np.column_stack([np.eye(k)[codes], t])
    sw = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    fitted = X @ beta
    resid = y - fitted
    groups = [np.flatnonzero(t == p) for p in (0, 1)]
    rng = np.random.default_rng(seed)
    n_perm = int(n_perm)
    if n_perm < 1:
        raise EvalkitError(f"n_perm={n_perm} must be a positive number of permutations, e.g. 1999.")

    def blocks():
        yield np.arange(len(y))[None, :]
        sub = [permutation.random_arrangements(g, n_perm, rng.integers(2 ** 63)) for g in groups]
        for gen in sub:
            next(gen)                                    # each generator starts with the identity
        for parts in zip(*sub):
            idx = np.empty((parts[0].shape[0], len(y)), dtype=np.intp)
            for g, part in zip(groups, parts):
                idx[:, g] = part
            yield idx

    def statistic(idx: np.ndarray) -> np.ndarray:
        return _q_of_changes(fitted[None, :] + resid[idx], w, cell, k)

    q = permutation.null_distribution(blocks(), statistic, np.arange(len(y)), n_perm + 1)
    mean, var = _cell_moments(y, w, cell, 2 * k)
    changes = pd.DataFrame({"community": labels.astype(str), "estimate": mean[k:] - mean[:k],
                            "se": np.sqrt(var[k:] + var[:k]),
                            "n": counts[:k] + counts[k:]})
    return HeterogeneityTest(statistic=float(q[0]), p_value=permutation.p_value(q),
                             p_value_chi2=float(stats.chi2.sf(q[0], k - 1)), n_permutations=n_perm + 1,
                             k=k, seed=seed, changes=changes)


# --- summary indices ------------------------------------------------------------------------

def summary_index(data: pd.DataFrame, outcomes: Sequence[str], *, reference=None,
                  method: IndexMethod = "anderson", signs: dict[str, int] | None = None,
                  weights: str | None = None, name: str = "index") -> pd.Series:
    """A pre-specified summary index of several outcomes (one value per row of ``data``).

    Parameters
    ----------
    data : pandas.DataFrame
        Respondent rows.
    outcomes : list of str
        The outcomes of the theme (numeric columns), fixed before looking at the results.
    reference : array-like of bool, optional
        Rows that define the scale (e.g. the base wave, or the comparison communities): each
        outcome is standardised by their (weighted) mean and SD. Default: all rows.
    method : {"anderson", "klk"}
        ``"anderson"``: weighted mean of the standardised outcomes with weights the row sums of
        the inverse of their covariance (correlation) matrix in the reference rows, so highly
        correlated outcomes count less; the index is then re-standardised to mean 0, SD 1 in the
        reference rows (Anderson 2008). ``"klk"``: the plain mean of the standardised outcomes
        (Kling, Liebman & Katz 2007).
    signs : dict, optional
        ``{outcome: -1}`` for outcomes where lower is better (e.g. loneliness), so that a higher
        index is always better; others count +1.
    weights : str, optional
        Survey weight column for the reference means, SDs and covariances.
    name : str
        Name of the returned Series.

    Returns
    -------
    pandas.Series
        The index of every row (NaN only where every outcome is missing). ``attrs``:
        ``weights`` (the outcome weights, summing to 1), ``n_outcomes`` (per row, how many
        outcomes it rests on), ``method``.

    Notes
    -----
    A row with some outcomes missing gets the weighted mean of those it has (weights
    renormalised), as Anderson (2008) does; KLK's index is the mean of the available z-scores.
    """
    check_choice(method, IndexMethod, "method")
    outcomes = list(outcomes)
    if not outcomes:
        raise EvalkitError("summary_index needs at least one outcome column.")
    missing = [c for c in outcomes + ([weights] if weights else []) if c not in data.columns]
    if missing:
        raise EvalkitError(f"summary_index: column(s) {missing} are not in the data.")
    signs = dict(signs or {})
    unknown = sorted(set(signs) - set(outcomes))
    if unknown or any(s not in (1, -1) for s in signs.values()):
        raise EvalkitError(f"summary_index: signs must map outcomes of the index to +1 or -1; got {signs}.")
    Y = data[outcomes].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    ref = np.ones(len(data), bool) if reference is None else np.asarray(reference, dtype=bool)
    if ref.shape != (len(data),):
        raise EvalkitError(f"summary_index: reference must be {len(data)} booleans (one per row).")
    w = np.ones(len(data)) if weights is None else pd.to_numeric(data[weights], errors="coerce").to_numpy(float)
    if not np.all(w[ref] > 0):
        raise EvalkitError(f"summary_index: weights {weights!r} must be positive in the reference rows.")
    Z = np.empty_like(Y)
    for j, col in enumerate(outcomes):
        ok = ref & np.isfinite(Y[:, j])
        if ok.sum() < 2:
            raise EstimationError(f"summary_index: outcome {col!r} has fewer than 2 values in the reference rows.")
        m = np.average(Y[ok, j], weights=w[ok])
        sd = np.sqrt(np.average((Y[ok, j] - m) ** 2, weights=w[ok]))
        if not sd > 0:
            raise EstimationError(f"summary_index: outcome {col!r} does not vary in the reference rows; "
                                  "it cannot be standardised (leave it out of the index).")
        Z[:, j] = signs.get(col, 1) * (Y[:, j] - m) / sd
    avail = np.isfinite(Z)
    if method == "klk":
        wt = np.full(len(outcomes), 1.0 / len(outcomes))
    else:
        complete = ref & avail.all(axis=1)
        if complete.sum() <= len(outcomes):
            raise EstimationError("summary_index: too few reference rows with every outcome to estimate "
                                  "their covariance; use method='klk'.")
        C = np.cov(Z[complete].T, aweights=w[complete]).reshape(len(outcomes), len(outcomes))
        try:
            wt = np.linalg.inv(C).sum(axis=1)
        except np.linalg.LinAlgError as exc:
            raise EstimationError("summary_index: the outcomes are perfectly collinear in the reference "
                                  "rows; drop one of them or use method='klk'.") from exc
        if np.any(wt <= 0):
            raise EstimationError(
                "summary_index: an outcome gets a negative Anderson weight (it is strongly correlated "
                f"with the others: weights {dict(zip(outcomes, np.round(wt, 3)))}); use method='klk' "
                "or rethink which outcomes form the theme.")
        wt = wt / wt.sum()
    num = np.where(avail, Z, 0.0) @ wt
    den = avail @ wt
    with np.errstate(invalid="ignore", divide="ignore"):
        index = np.where(den > 0, num / den, np.nan)
    if method == "anderson":
        ok = ref & np.isfinite(index)
        m = np.average(index[ok], weights=w[ok])
        sd = np.sqrt(np.average((index[ok] - m) ** 2, weights=w[ok]))
        index = (index - m) / sd
    out = pd.Series(index, index=data.index, name=name)
    out.attrs = {"weights": dict(zip(outcomes, wt.tolist())), "n_outcomes": avail.sum(axis=1).tolist(),
                 "method": method}
    return out


def theme_indices(data: pd.DataFrame, themes: dict[str, Sequence[str]], *, reference=None,
                  method: IndexMethod = "anderson", signs: dict[str, int] | None = None,
                  weights: str | None = None) -> pd.DataFrame:
    """One :func:`summary_index` column per programme theme (``{theme: [outcomes]}``), same rows as ``data``."""
    if not themes:
        raise EvalkitError("theme_indices needs at least one theme: {'theme': ['outcome', ...]}.")
    cols = {}
    for theme, outcomes in themes.items():
        own = {o: s for o, s in (signs or {}).items() if o in outcomes}
        cols[theme] = summary_index(data, outcomes, reference=reference, method=method, signs=own,
                                    weights=weights, name=theme)
    return pd.DataFrame(cols, index=data.index)
