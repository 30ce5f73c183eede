"""Romano-Wolf and Westfall-Young step-down p-values (evalkit.inference.stepdown).

Under full enumeration (all 2^G Rademacher sign vectors of the wild cluster bootstrap, or all
C(G, G1) assignments of a randomization test) the adjusted p-values are deterministic. They are
checked *exactly* against an independent brute-force computation written here: every bootstrap
or permuted data set is refitted by plain least squares with its own CR1 t-statistic (no closed
forms, no evalkit engine), then the textbook algorithms are run with explicit loops —
Romano & Wolf (2005), Algorithm 2.1 / Romano & Wolf (2016) adjusted p-values (max |t|), and
Westfall & Young (1993), Algorithm 2.8 (minP step-down).
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import DesignError, EvalkitError
from evalkit.inference.regress import regress
from evalkit.inference.stepdown import (stepdown, stepdown_pvalues, stepdown_randomization,
                                        stepdown_wild)
from evalkit.inference.wild import wild_cluster_bootstrap

RTOL = 1e-9   # ties: |t*| >= (1 - RTOL) |t| counts (v = +-1 reproduce the sample exactly in theory)


def _family(G=8, n_per=6, seed=5, effects=(0.0, 0.4, 0.0, 0.8)):
    """Cluster-randomized data: G clusters, half treated, a covariate, K correlated outcomes."""
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(G), n_per)
    treat = (cl % 2 == 1).astype(float)
    x = rng.normal(size=cl.size)
    common = rng.normal(size=G)[cl] + rng.normal(size=cl.size)
    d = pd.DataFrame({"cl": [f"c{g:02d}" for g in cl], "treat": treat, "x": x})
    for k, eff in enumerate(effects):
        d[f"y{k}"] = eff * treat + 0.5 * x + 0.7 * common + rng.normal(0, 1, cl.size) + 0.3 * rng.normal(size=G)[cl]
    return d


def _cr1_t(X, y, cl, j):
    """OLS coefficient j / its CR1 standard error, by the textbook sandwich."""
    N, K = X.shape
    XtX_inv = np.linalg.inv(X.T @ X)
    b = XtX_inv @ X.T @ y
    e = y - X @ b
    G = len(np.unique(cl))
    meat = np.zeros((K, K))
    for g in np.unique(cl):
        s = X[cl == g].T @ e[cl == g]
        meat += np.outer(s, s)
    V = G / (G - 1) * (N - 1) / (N - K) * XtX_inv @ meat @ XtX_inv
    return b[j] / np.sqrt(V[j, j])


def _brute_wild(d, outcomes, G):
    """Observed t and all 2^G WCR bootstrap t's per outcome, refitting every bootstrap sample."""
    X = np.column_stack([np.ones(len(d)), d.treat, d.x])
    Xr = X[:, [0, 2]]                                   # restricted model: treat = 0 imposed
    cl = pd.factorize(d.cl, sort=True)[0]
    obs, draws = [], []
    signs = list(itertools.product([-1.0, 1.0], repeat=G))
    for y in outcomes:
        yv = d[y].to_numpy()
        obs.append(_cr1_t(X, yv, cl, 1))
        br = np.linalg.lstsq(Xr, yv, rcond=None)[0]
        fit_r, u = Xr @ br, yv - Xr @ br
        draws.append([_cr1_t(X, fit_r + np.array(v)[cl] * u, cl, 1) for v in signs])
    return np.array(obs), np.array(draws).T


def _brute_ri(d, outcomes):
    """Observed t and the t under all C(G, G/2) assignments of treatment to clusters, refitted."""
    cl = pd.factorize(d.cl, sort=True)[0]
    G = cl.max() + 1
    treated = sorted(set(cl[d.treat.to_numpy() == 1]))
    obs, draws = [], []
    for y in outcomes:
        yv = d[y].to_numpy()
        row = []
        for A in itertools.combinations(range(G), len(treated)):
            t = np.isin(cl, A).astype(float)
            X = np.column_stack([np.ones(len(d)), t, d.x])
            row.append(_cr1_t(X, yv, cl, 1))
            if list(A) == treated:
                obs.append(row[-1])
        draws.append(row)
    return np.array(obs), np.array(draws).T


def _textbook_romano_wolf(t, T):
    """Romano & Wolf (2016): adjusted p of the j-th largest |t| = max over steps <= j of
    mean_b[max over hypotheses not yet rejected of |t*_b| >= |t_(j)|]."""
    t, T = np.abs(t), np.abs(T)
    K, B = len(t), T.shape[0]
    order = sorted(range(K), key=lambda k: (-t[k], k))
    p = {}
    running = 0.0
    for j, k in enumerate(order):
        rest = order[j:]
        count = sum(1 for b in range(B) if max(T[b, r] for r in rest) >= (1 - RTOL) * t[k])
        running = max(running, count / B)
        p[k] = running
    return np.array([p[k] for k in range(K)])


def _textbook_westfall_young(t, T):
    """Westfall & Young (1993) Algorithm 2.8: minP step-down over resampled marginal p-values."""
    t, T = np.abs(t), np.abs(T)
    K, B = len(t), T.shape[0]
    pm = [sum(1 for b in range(B) if T[b, k] >= (1 - RTOL) * t[k]) / B for k in range(K)]
    pstar = [[sum(1 for c in range(B) if T[c, k] >= (1 - RTOL) * T[b, k]) / B for k in range(K)] for b in range(B)]
    order = sorted(range(K), key=lambda k: (pm[k], -t[k], k))
    out, running = {}, 0.0
    for j, k in enumerate(order):
        rest = order[j:]
        count = sum(1 for b in range(B) if min(pstar[b][r] for r in rest) <= pm[k])
        running = max(running, count / B)
        out[k] = running
    return np.array([out[k] for k in range(K)]), np.array(pm)


OUTCOMES = ["y0", "y1", "y2", "y3"]


@pytest.fixture(scope="module")
def fam():
    return _family()


@pytest.fixture(scope="module")
def brute_wild(fam):
    return _brute_wild(fam, OUTCOMES, 8)


@pytest.mark.parametrize("method", ["romano_wolf", "westfall_young"])
def test_enumerated_wild_stepdown_equals_brute_force_exactly(fam, brute_wild, method):
    fits = {y: regress(f"{y} ~ treat + x", fam, cluster="cl", vcov="CR1") for y in OUTCOMES}
    res = stepdown_wild(fits, "treat", method=method, B=2 ** 8, weights="rademacher")
    assert res.exact and res.n_draws == 256
    t, T = brute_wild
    tab = res.table.set_index("indicator").loc[OUTCOMES]
    np.testing.assert_allclose(tab.statistic, t, rtol=1e-10)
    if method == "romano_wolf":
        expected = _textbook_romano_wolf(t, T)
    else:
        expected, pm = _textbook_westfall_young(t, T)
        assert tab.p_value.tolist() == pm.tolist()
    assert tab.p_adjusted.tolist() == expected.tolist()            # exact: fractions of 256
    assert (tab.p_adjusted >= tab.p_value).all()


def test_enumerated_wild_draws_are_the_brute_force_draws(fam, brute_wild):
    # the engine's closed-form t* equal the refitted ones, sign vector by sign vector
    r = wild_cluster_bootstrap(regress("y1 ~ treat + x", fam, cluster="cl", vcov="CR1"), "treat",
                               B=256, weights="rademacher")
    np.testing.assert_allclose(r.t_boot, brute_wild[1][:, 1], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method", ["romano_wolf", "westfall_young"])
def test_enumerated_randomization_stepdown_equals_brute_force_exactly(method):
    d = _family(G=10, n_per=5, seed=11, effects=(0.0, 1.0, 0.3))
    outs = ["y0", "y1", "y2"]
    res = stepdown_randomization(d, outcomes=outs, formula="{outcome} ~ treat + x", treatment="treat",
                                 cluster="cl", method=method, n_perm=10_000)
    assert res.exact and res.n_draws == 252                          # C(10, 5)
    t, T = _brute_ri(d, outs)
    tab = res.table.set_index("indicator").loc[outs]
    np.testing.assert_allclose(tab.statistic, t, rtol=1e-8)
    expected = _textbook_romano_wolf(t, T) if method == "romano_wolf" else _textbook_westfall_young(t, T)[0]
    assert tab.p_adjusted.tolist() == expected.tolist()
    assert tab.n.tolist() == [50, 50, 50]


def test_single_outcome_adjusted_equals_marginal_and_family_only_raises():
    rng = np.random.default_rng(0)
    T = rng.normal(size=(999, 5))
    t = np.array([3.0, 0.2, 2.0, 1.0, -2.5])
    p1, a1 = stepdown_pvalues(t[:1], T[:, :1])
    assert a1[0] == p1[0]
    for m in ("romano_wolf", "westfall_young"):
        p, a = stepdown_pvalues(t, T, method=m)
        assert np.all(a >= p)
        # monotone in the step-down order (by |t| here, the columns share one distribution)
        order = np.argsort(-np.abs(t))
        assert np.all(np.diff(a[order]) >= 0)
    # with independent columns Romano-Wolf is close to Sidak on the largest statistic
    p, a = stepdown_pvalues(t, T)
    assert a[0] == pytest.approx(1 - (1 - p[0]) ** 5, abs=0.01)


def test_random_draws_are_reproducible_and_the_family_must_share_them(fam):
    fits = {y: regress(f"{y} ~ treat + x", fam, cluster="cl", vcov="CR1") for y in OUTCOMES[:2]}
    a = stepdown_wild(fits, "treat", B=499, seed=7)
    b = stepdown_wild(fits, "treat", B=499, seed=7)
    assert a.table.equals(b.table) and not a.exact
    r1 = wild_cluster_bootstrap(fits["y0"], "treat", B=499, seed=1)
    r2 = wild_cluster_bootstrap(fits["y1"], "treat", B=499, seed=2)
    with pytest.raises(EvalkitError, match="same draws"):
        stepdown({"y0": r1, "y1": r2})


def test_family_with_different_clusters_is_refused(fam):
    f1 = regress("y0 ~ treat + x", fam, cluster="cl", vcov="CR1")
    f2 = regress("y1 ~ treat + x", fam[fam.cl != "c03"], cluster="cl", vcov="CR1")
    with pytest.raises(DesignError, match="c03"):
        stepdown_wild({"y0": f1, "y1": f2}, "treat", B=99)


def test_randomization_family_leaves_out_missing_rows_per_outcome_and_counts_them():
    d = _family(G=10, n_per=5, seed=11, effects=(0.0, 1.0))
    d.loc[[0, 7], "y1"] = np.nan
    res = stepdown_randomization(d, outcomes=["y0", "y1"], formula="{outcome} ~ treat + x", treatment="treat",
                                 cluster="cl", n_perm=10_000)
    assert res.table.n.tolist() == [50, 48]
    d.loc[d.cl == "c04", "y1"] = np.nan                                 # a whole cluster unanswered
    with pytest.raises(DesignError, match="missing 'y1'"):
        stepdown_randomization(d, outcomes=["y0", "y1"], formula="{outcome} ~ treat + x", treatment="treat",
                               cluster="cl", n_perm=10_000)


def test_bad_arguments_are_explained():
    with pytest.raises(EvalkitError, match="method="):
        stepdown_pvalues([1.0], [[0.5]], method="holm")
    with pytest.raises(EvalkitError, match="one column per statistic"):
        stepdown_pvalues([1.0, 2.0], np.zeros((10, 3)))
    with pytest.raises(EvalkitError, match="outcome"):
        stepdown_randomization(pd.DataFrame({"a": [1]}), outcomes=["a"], formula="a ~ t", treatment="t",
                               cluster="c")
