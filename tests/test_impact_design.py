"""The survey design through the comparisons (issue 15 item 1): every kind of design — linearisation
with strata, PSUs and fpc; JK1; JKn; BRR; Fay's BRR; the bootstrap — gives the cell means, the
per-community DiD (community_effects), the change from baseline and the pooled effect
(programme_effect).

Each replicate path is checked against the replicate formula computed here by hand from the
design's replicate weights (cell means by explicit group sums under every replicate; variance
``scale * sum_r rscales_r (theta_r - mean_r theta)^2``, R ``svrVar``), the linearisation path
against the textbook stratified with-replacement formula with fpc by explicit loops, and the
replicate designs made from the linearisation one with ``as_replicate`` against it: same
estimates, same programme_effect, close sampling SEs, the same per-community df.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import EstimationError, FewClustersWarning, ShockVarianceWarning
from evalkit.evaluation.baseline import change_from_baseline
from evalkit.evaluation.comparison import community_dof, community_effects
from evalkit.evaluation.impact import community_panel, programme_effect
from evalkit.survey.design import SurveyDesign
from evalkit.survey.domains import domain_means
from evalkit.survey.replicate import ReplicateDesign

WAVES = [2014, 2015, 2016, 2017]
N_COMM, N_PSU, M = 14, 12, 5
STARTS = {f"c{i:02d}": s for i, s in enumerate([2015] * 4 + [2016] * 3 + [None] * 7)}
CONTROLS = [c for c, s in STARTS.items() if s is None]
N_BUILDINGS = 40  # population number of buildings (PSUs) per community: fpc 1 - 12/40


def _survey(seed: int = 11) -> pd.DataFrame:
    """14 communities x 4 waves; 12 buildings per community surveyed in every wave (5 new
    respondents each), building effects (SD 0.3), community-by-wave shocks (SD 0.1), lognormal
    weights, a planted effect of 0.3 from the start year on."""
    rng = np.random.default_rng(seed)
    names = np.array(sorted(STARTS))
    c = np.repeat(np.arange(N_COMM), len(WAVES) * N_PSU * M)
    t = np.tile(np.repeat(np.arange(len(WAVES)), N_PSU * M), N_COMM)
    b = np.tile(np.repeat(np.arange(N_PSU), M), N_COMM * len(WAVES))
    start = np.array([STARTS[n] or 9999 for n in names])[c]
    year = np.array(WAVES)[t]
    y = (0.3 * (year >= start) + rng.normal(0, 0.1, (N_COMM, len(WAVES)))[c, t]
         + rng.normal(0, 0.3, (N_COMM, N_PSU))[c, b] + rng.normal(0, 1, c.size))
    return pd.DataFrame({"comm": names[c], "year": year, "building": names[c] + "-" + b.astype(str).astype(object),
                         "pair": names[c] + "-" + (b // 2).astype(str).astype(object),
                         "w": np.exp(rng.normal(0, 0.3, c.size)), "y": y,
                         "N_comm": float(N_BUILDINGS), "N_all": float(N_COMM * N_BUILDINGS)})


DATA = _survey()
LINEAR = {  # the linearisation design each replicate design is made from
    "strata_fpc": SurveyDesign(DATA, weight="w", strata="comm", psu="building", fpc="N_comm"),
    "clusters_fpc": SurveyDesign(DATA, weight="w", psu="building", fpc="N_all"),
    "pairs": SurveyDesign(DATA, weight="w", strata="pair", psu="building"),
}
KINDS = {  # name: (linearisation design, as_replicate arguments, the scale R's as.svrepdesign gives)
    # R jk1weights: scale (1 - n/N) (n - 1)/n with the fpc (168 of 560 buildings sampled)
    "JK1": ("clusters_fpc", {"type": "JK1"}, lambda R: (1 - R / (N_COMM * N_BUILDINGS)) * (R - 1) / R),
    "JKn": ("strata_fpc", {"type": "JKn"}, lambda R: 1.0),
    "BRR": ("pairs", {"type": "BRR"}, lambda R: 1 / R),
    "Fay": ("pairs", {"type": "Fay", "rho": 0.5}, lambda R: 1 / (R * 0.5 ** 2)),
    # R bootweights: nbar / ((nbar - 1)(R - 1)), nbar the (harmonic) mean PSUs per stratum, 12
    "bootstrap": ("strata_fpc", {"type": "bootstrap", "replicates": 400, "seed": 5},
                  lambda R: N_PSU / ((N_PSU - 1) * (R - 1))),
}


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShockVarianceWarning)
        warnings.simplefilter("ignore", FewClustersWarning)
        return fn(*args, **kwargs)


@pytest.fixture(scope="module", params=list(KINDS))
def pair(request):
    """(kind, linearisation design, replicate design made from it)."""
    lin_name, args, _ = KINDS[request.param]
    lin = LINEAR[lin_name]
    return request.param, lin, lin.as_replicate(**args)


def _effects(design):
    return _quiet(community_effects, design, "y", registry=STARTS, community="comm", wave="year")


# ---- hand computations ---------------------------------------------------------------------------
def _cell_means_by_hand(weights: np.ndarray) -> pd.DataFrame:
    """Weighted mean of y in every community x wave, one column per weight column (groupby sums)."""
    W = pd.DataFrame(weights, index=DATA.index)
    key = [DATA["comm"], DATA["year"]]
    return W.mul(DATA["y"], axis=0).groupby(key).sum() / W.groupby(key).sum()


def _did(means: pd.DataFrame, c: str, b: int, t: int) -> pd.Series:
    """(m_ct - m_cb) - mean over the comparison communities of (m_kt - m_kb), per weight column."""
    own = means.loc[(c, t)] - means.loc[(c, b)]
    return own - sum(means.loc[(k, t)] - means.loc[(k, b)] for k in CONTROLS) / len(CONTROLS)


def _replicate_variance_by_hand(rep: ReplicateDesign, full: float, thetas: np.ndarray) -> float:
    """R svrVar, mse=FALSE: scale * sum_r rscales_r (theta_r - mean theta)^2."""
    return rep.scale * float(np.sum(rep.rscales * (thetas - thetas.mean()) ** 2))


def _linearised_variance_by_hand(lin_strata: str | None, psu: str, fpc: str | None, cvec: dict) -> float:
    """Stratified with-replacement variance with fpc of the contrast ``sum_d c_d ybar_d`` by loops:
    score ``z_i = sum_d c_d 1[i in d] w_i (y_i - ybar_d) / W_d``, PSU totals, within stratum
    ``(1 - n_h/N_h) n_h/(n_h - 1) sum_j (z_hj - zbar_h)^2``."""
    z = np.zeros(len(DATA))
    for (c, t), coef in cvec.items():
        cell = ((DATA["comm"] == c) & (DATA["year"] == t)).to_numpy()
        w, y = DATA["w"].to_numpy()[cell], DATA["y"].to_numpy()[cell]
        z[cell] += coef * w * (y - np.sum(w * y) / np.sum(w)) / np.sum(w)
    frame = DATA.assign(z=z, h="all" if lin_strata is None else DATA[lin_strata])
    total = 0.0
    for _, stratum in frame.groupby("h"):
        zj = stratum.groupby(psu)["z"].sum().to_numpy()
        n_h = zj.size
        f = 1 - n_h / stratum[fpc].iloc[0] if fpc else 1.0
        total += f * n_h / (n_h - 1) * np.sum((zj - zj.mean()) ** 2)
    return total


def _contrast(c: str, b: int, t: int) -> dict:
    cvec = {(c, t): 1.0, (c, b): -1.0}
    for k in CONTROLS:
        cvec[(k, t)] = cvec.get((k, t), 0.0) - 1 / len(CONTROLS)
        cvec[(k, b)] = cvec.get((k, b), 0.0) + 1 / len(CONTROLS)
    return cvec


# ---- linearisation: strata, PSUs, fpc ----------------------------------------------------------------
@pytest.mark.parametrize("name", list(LINEAR))
def test_linearised_sampling_se_is_the_textbook_formula(name):
    lin = LINEAR[name]
    eff = _effects(lin)
    strata, fpc = {"strata_fpc": ("comm", "N_comm"), "clusters_fpc": (None, "N_all"), "pairs": ("pair", None)}[name]
    assert len(eff) == 7 * 3  # every programme community in every wave but its base wave
    for r in eff.itertuples():
        v = _linearised_variance_by_hand(strata, "building", fpc, _contrast(r.comm, r.base_wave, r.year))
        assert r.se_sampling == pytest.approx(np.sqrt(v), rel=1e-10)


# ---- replicate designs ----------------------------------------------------------------------------
def test_scale_is_r_as_svrepdesigns(pair):
    kind, _, rep = pair
    assert rep.type == kind
    assert rep.scale == pytest.approx(KINDS[kind][2](rep.n_replicates), rel=1e-12)


def test_cell_means_and_covariance_from_the_replicates_by_hand(pair):
    _, lin, rep = pair
    cells, V = domain_means(rep, "y", ["comm", "year"])
    by_hand = _cell_means_by_hand(np.column_stack([rep.weights, rep.replicate_weights]))
    full, thetas = by_hand.iloc[:, 0].to_numpy(), by_hand.iloc[:, 1:].to_numpy()
    assert np.allclose(cells["estimate"], full, rtol=0, atol=1e-12)
    dev = (thetas - thetas.mean(axis=1, keepdims=True)) * np.sqrt(rep.rscales)
    assert np.allclose(V, rep.scale * dev @ dev.T, rtol=1e-10, atol=1e-15)
    lin_cells, _ = domain_means(lin, "y", ["comm", "year"])
    assert np.allclose(cells["estimate"], lin_cells["estimate"], rtol=0, atol=1e-12)


def test_community_effects_sampling_se_by_hand_and_the_rest_unchanged(pair):
    kind, lin, rep = pair
    eff, eff_lin = _effects(rep), _effects(lin)
    means = _cell_means_by_hand(np.column_stack([rep.weights, rep.replicate_weights]))
    assert len(eff) == len(eff_lin) == 21
    for r in eff.itertuples():
        d = _did(means, r.comm, r.base_wave, r.year).to_numpy()
        assert r.estimate == pytest.approx(d[0], abs=1e-12)
        v = _replicate_variance_by_hand(rep, d[0], d[1:])
        assert r.se_sampling == pytest.approx(np.sqrt(v), rel=1e-9)
    # the estimates are the full-sample ones, whatever the design
    assert np.allclose(eff["estimate"], eff_lin["estimate"], rtol=0, atol=1e-12)
    # the total variance is the sampling part plus the community-shock part, as for a linearisation design
    assert np.allclose(eff["se"] ** 2, eff["se_sampling"] ** 2 + eff["se_shock"] ** 2, rtol=1e-12)
    assert community_dof(rep, "comm") == community_dof(lin, "comm")


# Replicate and linearisation variances estimate the same quantity: (expected SE ratio, tolerance).
# JKn (strata = communities), BRR and Fay agree with linearisation within a few per cent for these
# ratio means. The unstratified JK1 deletes one of 168 buildings and rescales the others by
# 168/167, but a cell lives in 12 buildings: deleting one removes 1/12 of the cell's weight, so its
# deviation is the linearised score times 12/11 (theta_(j) - theta = -(a_j - theta b_j) / (B - b_j)
# against z_j = (a_j - theta b_j) / B), and its SE is linearisation's times ~12/11 — the jackknife's
# known excess for a domain confined to a few PSUs. The bootstrap's 400 replicates carry Monte Carlo
# error: its variance has a relative SD of about sqrt(2/399) = 7%, so its SE ratio gets a wider band.
AGREE = {"JK1": (N_PSU / (N_PSU - 1), 0.03), "JKn": (1.0, 0.03), "BRR": (1.0, 0.05), "Fay": (1.0, 0.05),
         "bootstrap": (1.0, 0.15)}


def test_replicate_sampling_se_close_to_linearisation(pair):
    kind, lin, rep = pair
    ratio = (_effects(rep)["se_sampling"] / _effects(lin)["se_sampling"]).to_numpy()
    expected, tol = AGREE[kind]
    assert np.all(np.abs(ratio / expected - 1) < tol), (kind, ratio.round(4))


def test_programme_effect_is_the_same_with_every_design(pair):
    """The pooled effect uses the design's means only: identical numbers for the replicate design."""
    _, lin, rep = pair
    a = _quiet(programme_effect, rep, "y", registry=STARTS, community="comm", wave="year", n_perm=500, seed=3)
    b = _quiet(programme_effect, lin, "y", registry=STARTS, community="comm", wave="year", n_perm=500, seed=3)
    pd.testing.assert_frame_equal(a.tidy(), b.tidy(), check_exact=False, rtol=0, atol=1e-12)
    panel = community_panel(rep, "y", community="comm", wave="year")
    hand = _cell_means_by_hand(rep.weights[:, None]).iloc[:, 0].unstack()
    assert np.allclose(panel.loc[hand.index, WAVES].to_numpy(), hand[WAVES].to_numpy(), rtol=0, atol=1e-12)


def test_change_from_baseline_replicate_se_by_hand(pair):
    _, lin, rep = pair
    out = change_from_baseline(rep, "y", community="comm", wave="year", baseline=2014)
    means = _cell_means_by_hand(np.column_stack([rep.weights, rep.replicate_weights]))
    dof = community_dof(rep, "comm")
    for r in out.itertuples():
        d = (means.loc[(r.comm, r.year)] - means.loc[(r.comm, 2014)]).to_numpy()
        assert r.estimate == pytest.approx(d[0], abs=1e-12)
        assert r.se == pytest.approx(np.sqrt(_replicate_variance_by_hand(rep, d[0], d[1:])), rel=1e-9)
        assert r.df == max(dof[r.comm], 1)
    lin_out = change_from_baseline(lin, "y", community="comm", wave="year", baseline=2014)
    assert np.allclose(out["estimate"], lin_out["estimate"], rtol=0, atol=1e-12)
    assert (out["df"] == lin_out["df"]).all()


def test_replicate_df_of_a_community_is_its_rank_minus_one():
    """JK1 of 12 buildings per community: rank 12 on its rows (R degf of the subset) -> 11 = PSUs - 1;
    BRR of 6 pairs per community: the two PSUs of a pair are complementary -> rank 7 -> 6 = PSUs - strata."""
    assert set(community_dof(LINEAR["clusters_fpc"].as_replicate("JK1"), "comm").values()) == {N_PSU - 1}
    assert set(community_dof(LINEAR["pairs"].as_replicate("BRR"), "comm").values()) == {N_PSU // 2}


def test_shipped_replicate_columns_are_the_same_design():
    """Replicate weights shipped as columns (R svrepdesign(repweights="...")) give what as_replicate gives."""
    rep = LINEAR["clusters_fpc"].as_replicate("JK1")
    cols = pd.DataFrame(rep.replicate_weights, index=DATA.index,
                        columns=[f"rw{j + 1}" for j in range(rep.n_replicates)])
    shipped = ReplicateDesign(pd.concat([DATA, cols], axis=1), "w", r"^rw\d+$", "JK1", scale=rep.scale,
                              rscales=rep.rscales)
    a, b = _effects(shipped), _effects(rep)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-14)


# ---- a design with one PSU per respondent and no strata: today's answers ---------------------------
def test_one_psu_per_respondent_reduces_to_the_weight_only_design():
    plain = SurveyDesign(DATA, weight="w")
    own = SurveyDesign(DATA.assign(rid=np.arange(len(DATA))), weight="w", psu="rid")
    pd.testing.assert_frame_equal(_effects(plain), _effects(own), check_exact=True)
    pd.testing.assert_frame_equal(change_from_baseline(plain, "y", community="comm", wave="year"),
                                  change_from_baseline(own, "y", community="comm", wave="year"), check_exact=True)
    dof = community_dof(own, "comm")
    assert set(dof.values()) == {len(WAVES) * N_PSU * M - 1}  # respondents - 1 per community


# ---- bad input --------------------------------------------------------------------------------------
def test_respondent_rows_with_a_study_are_its_design(study):
    """community_effects(rows, study=) builds the design from the study's weight, strata and PSU roles."""
    from evalkit.datasets import dongying_survey

    _, rows = dongying_survey()
    a = _quiet(community_effects, rows, ["who5", "bscs"], study=study)
    b = _quiet(community_effects, SurveyDesign.from_study(rows, study), ["who5", "bscs"], registry=study.registry)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.columns[0] == study.roles.community and len(a) > 0


def test_respondent_rows_without_a_design_are_a_clear_error():
    with pytest.raises(EstimationError, match="SurveyDesign or ReplicateDesign, or respondent rows together with study="):
        community_effects(DATA, "y", registry=STARTS, community="comm", wave="year")
    with pytest.raises(EstimationError, match="SurveyDesign or ReplicateDesign.*from_study"):
        change_from_baseline(DATA, "y", community="comm", wave="year")
    with pytest.raises(EstimationError, match="SurveyDesign or ReplicateDesign.*got list"):
        programme_effect([1, 2], "y", registry=STARTS)
