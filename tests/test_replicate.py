"""Replicate-weight designs (issue 15 item 2): evalkit.survey.replicate.ReplicateDesign,
SurveyDesign.as_replicate / from_replicates, raking with replicates.

References
----------
* Published: R survey's example page "Simple summary statistics"
  (http://r-survey.r-forge.r-project.org/survey/example-summary.html), printed with
  ``dclus1 <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc); rclus1 <- as.svrepdesign(dclus1)``:
  ``svymean(~api00+api99+stype, rclus1)`` api00 644.169399 SE 26.3294, api99 606.978142 SE 26.9985,
  stype E/H/M SE 0.0514/0.0278/0.0332; ``svytotal(~enroll+stype, rclus1)`` enroll 3404940.13 SE 932235.03.
  They are printed to 4-6 digits, so they are matched to their printed precision; the 1e-10 checks are
  the first-principles ones below.
* First principles (computed in the tests by full enumeration, independently of evalkit's code):
  the delete-one-cluster jackknife (JK1: ``(1-f)(n-1)/n sum (theta_(j) - mean)^2``), the stratified
  jackknife (JKn), BRR and Fay with a Hadamard matrix (exactly the linearisation variance of a total
  for 2 PSUs per stratum, by orthogonality), post-stratification of each replicate in closed form.
Data: R survey's ``data(api)`` (tests/data/apiclus1.csv, apistrat.csv; see tests/data/README.md).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import hadamard

from evalkit.errors import DesignError, EvalkitError, EvalkitWarning
from evalkit.survey import ReplicateDesign, SurveyDesign, domain_means


@pytest.fixture(scope="module")
def rclus1(apiclus1):
    return SurveyDesign(apiclus1, weight="pw", psu="dnum", fpc="fpc").as_replicate()


def _jk1_by_hand(df: pd.DataFrame, y: str, mean: bool = True) -> tuple[float, float]:
    """Delete-one-cluster jackknife of apiclus1 written out: R jk1weights with fpc (scale (1-f)(n-1)/n)."""
    clusters = sorted(df["dnum"].unique())
    n, N = len(clusters), float(df["fpc"].iloc[0])

    def stat(w):
        return (w * df[y]).sum() / w.sum() if mean else (w * df[y]).sum()

    full = stat(df["pw"])
    reps = np.array([stat(df["pw"].where(df["dnum"] != c, 0.0) * n / (n - 1)) for c in clusters])
    var = (1 - n / N) * (n - 1) / n * ((reps - reps.mean()) ** 2).sum()
    return full, float(np.sqrt(var))


# --------------------------------------------------------------------------------------
# as.svrepdesign: published values and first principles
# --------------------------------------------------------------------------------------
def test_jk1_of_apiclus1_matches_r_survey_published_example(rclus1):
    # R: rclus1 <- as.svrepdesign(svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc))
    # R: svymean(~api00+api99+stype, rclus1); svytotal(~enroll, rclus1)  (example-summary.html)
    m = rclus1.mean(["api00", "api99"]).set_index("indicator")
    assert m.loc["api00", "estimate"] == pytest.approx(644.169399, rel=1e-8)
    assert m.loc["api00", "se"] == pytest.approx(26.3294, abs=5e-5)
    assert m.loc["api99", "estimate"] == pytest.approx(606.978142, rel=1e-8)
    assert m.loc["api99", "se"] == pytest.approx(26.9985, abs=5e-5)
    p = rclus1.proportion("stype").set_index("category")
    for cat, se in {"E": 0.0514, "H": 0.0278, "M": 0.0332}.items():
        assert p.loc[cat, "se"] == pytest.approx(se, abs=5e-5)
    t = rclus1.total("enroll").iloc[0]
    assert t["estimate"] == pytest.approx(3404940.13, abs=0.005)
    assert t["se"] == pytest.approx(932235.03, abs=0.005)
    assert rclus1.type == "JK1" and rclus1.n_replicates == 15 and rclus1.degf == 14


def test_jk1_equals_delete_one_cluster_enumeration(apiclus1, rclus1):
    for y in ("api00", "api99", "enroll"):
        for mean in (True, False):
            est, se = _jk1_by_hand(apiclus1, y, mean)
            got = (rclus1.mean(y) if mean else rclus1.total(y)).iloc[0]
            assert got["estimate"] == pytest.approx(est, rel=1e-12)
            assert got["se"] == pytest.approx(se, rel=1e-10)


def test_jk1_total_equals_linearisation_total(apiclus1, rclus1):
    # a linear statistic: the JK1 variance of a total is the linearisation variance exactly
    lin = SurveyDesign(apiclus1, weight="pw", psu="dnum", fpc="fpc").total("enroll").iloc[0]
    assert rclus1.total("enroll").iloc[0]["se"] == pytest.approx(lin["se"], rel=1e-10)


def test_jkn_of_apistrat_equals_enumeration_and_linearised_total(apistrat):
    lin = SurveyDesign(apistrat, weight="pw", strata="stype", fpc="fpc")
    rep = lin.as_replicate()  # auto: stratified -> JKn
    assert rep.type == "JKn" and rep.n_replicates == 200
    # R: svytotal(~enroll, dstrat) SE 114,642 (tests/api.Rout.save): JKn of a total = linearisation
    assert rep.total("enroll").iloc[0]["se"] == pytest.approx(lin.total("enroll").iloc[0]["se"], rel=1e-10)
    assert rep.total("enroll").iloc[0]["se"] == pytest.approx(114642, abs=0.5)
    # the same replicates given as factors without rscales: R svrepdesign guesses 1/max(factor) (n_h-1)/n_h
    F = rep.replicate_weights / apistrat["pw"].to_numpy()[:, None]
    with pytest.warns(EvalkitWarning, match="rscales not given"):
        guessed = ReplicateDesign(apistrat, "pw", F, "JKn", combined_weights=False)
    np.testing.assert_allclose(guessed.rscales, 1 / F.max(axis=0), rtol=1e-12)
    # ... which lacks the fpc that as_replicate puts in rscales: (1 - n_h/N_h) (n_h-1)/n_h
    corr = 1 - apistrat.groupby("stype")["fpc"].transform(lambda x: len(x) / x).to_numpy()
    deleted = (F == 0).argmax(axis=0)
    np.testing.assert_allclose(rep.rscales, guessed.rscales * corr[deleted], rtol=1e-12)
    # the mean by enumeration: delete unit j of stratum h, others of h get n_h/(n_h-1);
    # rscales (1 - f_h)(n_h-1)/n_h; centred at the mean of all replicates (R svrVar, mse=FALSE)
    w, y = apistrat["pw"].to_numpy(), apistrat["api00"].to_numpy()
    thetas, rscales = [], []
    for h, g in apistrat.groupby("stype"):
        nh, Nh = len(g), g["fpc"].iloc[0]
        for i in g.index:
            f = np.ones(len(w))
            f[g.index] = nh / (nh - 1)
            f[i] = 0
            thetas.append((w * f * y).sum() / (w * f).sum())
            rscales.append((1 - nh / Nh) * (nh - 1) / nh)
    thetas, rscales = np.array(thetas), np.array(rscales)
    se = np.sqrt((rscales * (thetas - thetas.mean()) ** 2).sum())
    assert rep.mean("api00").iloc[0]["se"] == pytest.approx(se, rel=1e-10)


def test_mse_centres_replicates_at_the_full_sample_estimate(apiclus1):
    lin = SurveyDesign(apiclus1, weight="pw", psu="dnum", fpc="fpc")
    a, b = lin.as_replicate(), lin.as_replicate(mse=True)
    est = a.mean("api00").iloc[0]["estimate"]
    W = b.replicate_weights
    y = apiclus1["api00"].to_numpy()
    thetas = (W * y[:, None]).sum(0) / W.sum(0)
    by_hand = np.sqrt(b.scale * ((thetas - est) ** 2).sum())
    assert b.mean("api00").iloc[0]["se"] == pytest.approx(by_hand, rel=1e-12)
    assert b.mean("api00").iloc[0]["se"] > a.mean("api00").iloc[0]["se"]


def test_bootstrap_is_seeded_and_estimates_the_linearisation_variance(apiclus1):
    lin = SurveyDesign(apiclus1, weight="pw", psu="dnum", fpc="fpc")
    b1 = lin.as_replicate("bootstrap", replicates=2000, seed=7)
    b2 = lin.as_replicate("bootstrap", replicates=2000, seed=7)
    np.testing.assert_array_equal(b1.replicate_weights, b2.replicate_weights)
    assert not np.array_equal(b1.replicate_weights,
                              lin.as_replicate("bootstrap", replicates=2000, seed=8).replicate_weights)
    # R bootweights: counts of 15 draws (without replacement from the 15 districts repeated to 757, the
    # fpc), scale nbar / ((nbar - 1)(R - 1)) with nbar = 15
    F = b1.replicate_weights / apiclus1["pw"].to_numpy()[:, None]
    np.testing.assert_array_equal(F, np.round(F))
    first = ~apiclus1["dnum"].duplicated().to_numpy()
    np.testing.assert_array_equal(F[first].sum(axis=0), 15)
    assert b1.scale == pytest.approx(15 / (14 * 1999)) and b1.degf == 14  # rank 15 (15 clusters) - 1
    # the variance of a total estimates the linearisation variance: 2000 replicates land within a few
    # percent (the SE of a variance from 2000 draws is ~3%)
    se_lin = lin.total("enroll").iloc[0]["se"]
    assert b1.total("enroll").iloc[0]["se"] == pytest.approx(se_lin, rel=0.05)
    with pytest.raises(DesignError, match="seed"):
        lin.as_replicate("bootstrap", replicates=50)


def test_subbootstrap_is_the_rao_wu_n_minus_1_bootstrap(apiclus1):
    lin = SurveyDesign(apiclus1, weight="pw", psu="dnum")  # R's subbootweights uses no fpc
    b = lin.as_replicate("subbootstrap", replicates=2000, seed=11)
    F = b.replicate_weights / apiclus1["pw"].to_numpy()[:, None]
    first = ~apiclus1["dnum"].duplicated().to_numpy()
    np.testing.assert_allclose(F[first].sum(axis=0), 15)  # 14 draws x 15/14
    assert b.type == "subbootstrap" and b.scale == pytest.approx(1 / 1999)
    # Rao-Wu: E[(t* - t)^2] is the with-replacement linearisation variance of a total exactly
    assert b.total("enroll").iloc[0]["se"] == pytest.approx(lin.total("enroll").iloc[0]["se"], rel=0.05)
    with pytest.warns(EvalkitWarning, match="finite population correction"):
        SurveyDesign(apiclus1, weight="pw", psu="dnum", fpc="fpc").as_replicate("subbootstrap", seed=1)


def test_as_replicate_refuses_what_r_refuses(apistrat, apiclus1):
    strat = SurveyDesign(apistrat, weight="pw", strata="stype", fpc="fpc")
    with pytest.raises(DesignError, match="JK1 cannot be used for a stratified design"):
        strat.as_replicate("JK1")
    with pytest.raises(DesignError, match="JKn needs strata"):
        SurveyDesign(apiclus1, weight="pw", psu="dnum").as_replicate("JKn")
    with pytest.raises(DesignError, match="rake the replicate design"):
        strat.rake({"sch.wide": {"No": 1072, "Yes": 5122}}).as_replicate()
    with pytest.raises(DesignError, match="subset"):
        strat.subset(apistrat["stype"] == "E").as_replicate()


# --------------------------------------------------------------------------------------
# svrepdesign: BRR, Fay, SDR, given replicate weights
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def paired() -> pd.DataFrame:
    """8 strata x 2 PSUs x 5 rows, seeded."""
    rng = np.random.default_rng(15)
    h = np.repeat(np.arange(8), 10)
    psu = np.repeat(np.arange(16), 5)
    return pd.DataFrame({"h": h, "psu": psu, "w": rng.uniform(5, 15, 80).round(2),
                         "y": rng.normal(50, 10, 80).round(1), "g": np.tile(["a", "b"], 40)})


def _brr_columns(d: pd.DataFrame, rho: float) -> np.ndarray:
    """BRR/Fay replicate weights from the columns 1..8 of a 16 x 16 Hadamard matrix (full
    orthogonal balance): in replicate r, PSU 1 of stratum h gets 2 - rho if H[r, h] = 1 else rho."""
    H = hadamard(16)[:, 1:9]
    first = (d["psu"] % 2 == 0).to_numpy()
    s = H[:, d["h"].to_numpy()].T  # rows x 16 replicates
    f = np.where((s == 1) == first[:, None], 2 - rho, rho)
    return d["w"].to_numpy()[:, None] * f


@pytest.mark.parametrize("kind,rho", [("BRR", None), ("Fay", 0.3)])
def test_brr_and_fay_totals_equal_the_linearisation_variance(paired, kind, rho):
    W = _brr_columns(paired, rho or 0.0)
    d = paired.assign(**{f"rw{j}": W[:, j] for j in range(16)})
    rep = SurveyDesign.from_replicates(d, "w", r"^rw\d+$", kind, rho=rho)
    lin = SurveyDesign(paired, weight="w", strata="h", psu="psu")
    assert rep.scale == pytest.approx(1 / 16 if kind == "BRR" else 1 / (16 * 0.7 ** 2))
    for mse in (False, True):  # balanced half-samples average to the full sample: both centres agree
        r = SurveyDesign.from_replicates(d, "w", r"^rw\d+$", kind, rho=rho, mse=mse)
        assert r.total("y").iloc[0]["se"] == pytest.approx(lin.total("y").iloc[0]["se"], rel=1e-10)
    assert rep.degf == 8  # rank 9 of the analysis weights (16 replicates in 8 balanced pairs) - 1


def test_sdr_scale_and_variance_by_hand(paired):
    rng = np.random.default_rng(3)
    F = rng.choice([1 - 2 ** -1.5 * 2, 1.0, 1 + 2 ** -1.5 * 2], size=(80, 12))
    rep = ReplicateDesign(paired, "w", F, "successive-difference", combined_weights=False)
    assert rep.type == "SDR" and rep.scale == pytest.approx(4 / 12)
    W = paired["w"].to_numpy()[:, None] * F
    y = paired["y"].to_numpy()
    thetas = (W * y[:, None]).sum(0) / W.sum(0)
    se = np.sqrt(4 / 12 * ((thetas - thetas.mean()) ** 2).sum())
    assert rep.mean("y").iloc[0]["se"] == pytest.approx(se, rel=1e-12)


def test_degf_is_rank_minus_one_and_a_duplicated_replicate_lowers_it(paired):
    rng = np.random.default_rng(4)
    F = rng.uniform(0.5, 1.5, size=(80, 8))
    assert ReplicateDesign(paired, "w", F, "other", scale=1.0, combined_weights=False).degf == 7
    F[:, 7] = F[:, 0]  # R: qr(weights(design, "analysis"), tol=1e-5)$rank - 1 -> 6
    assert ReplicateDesign(paired, "w", F, "other", scale=1.0, combined_weights=False).degf == 6


def test_bad_replicate_input_is_a_clear_design_error(paired):
    F = np.full((80, 4), 10.0)
    with pytest.raises(DesignError, match="rho"):
        ReplicateDesign(paired, "w", F, "Fay")
    with pytest.raises(DesignError, match="rscales"):
        ReplicateDesign(paired, "w", F, "JKn")
    with pytest.raises(DesignError, match="scale"):
        ReplicateDesign(paired, "w", F, "other")
    with pytest.raises(DesignError, match="matches no column"):
        ReplicateDesign(paired, "w", "^nothing", "BRR")
    with pytest.raises(EvalkitError, match="type="):
        ReplicateDesign(paired, "w", F, "jackknife")
    with pytest.raises(DesignError, match="regular expression"):
        ReplicateDesign(paired, "w", "wt[", "BRR")
    with pytest.raises(DesignError, match="numbers"):
        ReplicateDesign(paired, "w", [["a"] * 4] * 80, "BRR")
    with pytest.raises(DesignError, match="not aligned"):
        ReplicateDesign(paired, "w", pd.DataFrame(F).set_axis(range(1, 81)), "BRR")
    framed = ReplicateDesign(paired, "w", pd.DataFrame(F, index=paired.index), "BRR")
    assert framed.n_replicates == 4 and framed.scale == 0.25
    bad = paired.assign(r1=10.0, r2=10.0)
    bad.loc[bad.index[6], "r2"] = np.nan
    with pytest.raises(DesignError, match=r"'r2'.*row 6"):
        ReplicateDesign(bad, "w", ["r1", "r2"], "JK1")


# --------------------------------------------------------------------------------------
# domains: by=, subset and domain_means agree
# --------------------------------------------------------------------------------------
def test_domains_by_subset_and_domain_means_agree(apiclus1, rclus1):
    by = rclus1.mean("api00", by="stype").set_index("stype")
    for s in ("E", "H", "M"):
        sub = rclus1.subset(apiclus1["stype"] == s).mean("api00").iloc[0]
        assert sub["estimate"] == pytest.approx(by.loc[s, "estimate"], rel=1e-12)
        assert sub["se"] == pytest.approx(by.loc[s, "se"], rel=1e-12)
        # by hand: the domain mean in each delete-one-cluster replicate
        d = apiclus1["stype"] == s
        est, se = _jk1_by_hand(apiclus1.assign(pw=apiclus1["pw"] * d + 1e-300 * ~d), "api00")
        assert by.loc[s, "estimate"] == pytest.approx(est, rel=1e-9)
        assert by.loc[s, "se"] == pytest.approx(se, rel=1e-8)
    cells, cov = domain_means(rclus1, "api00", by=["stype"])
    np.testing.assert_allclose(cells["estimate"], by["estimate"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), by["se"].to_numpy(), rtol=1e-12)
    assert rclus1.subset(apiclus1["stype"] == "H").degf <= 14


def test_df_is_degf_by_default_and_normal_on_request(rclus1):
    from scipy import stats
    r = rclus1.mean("api00").iloc[0]
    assert r["df"] == 14
    q = stats.t.ppf(0.975, 14)
    assert r["ci_high"] == pytest.approx(r["estimate"] + q * r["se"], rel=1e-12)
    n = rclus1.total("enroll", df=None).iloc[0]
    assert n["df"] == np.inf
    assert n["ci_low"] == pytest.approx(n["estimate"] - stats.norm.ppf(0.975) * n["se"], rel=1e-12)


def test_a_replicate_without_the_domain_is_left_out_with_a_warning(apiclus1, rclus1):
    # the high schools of one district: deleting that district leaves the domain empty
    one = apiclus1.loc[apiclus1["stype"] == "H", "dnum"].iloc[0]
    d = rclus1.assign(dom=(apiclus1["dnum"] == one) & (apiclus1["stype"] == "H"))
    with pytest.warns(EvalkitWarning, match="left out"):
        r = d.mean("api00", by="dom").set_index("dom").loc[True]
    # by hand: the 14 replicates that keep the district; R svrVar centres at their mean
    W = rclus1.replicate_weights
    m = d.data["dom"].to_numpy()
    keep = W[m].sum(axis=0) > 0
    y = apiclus1["api00"].to_numpy()[m]
    thetas = (W[m][:, keep] * y[:, None]).sum(0) / W[m][:, keep].sum(0)
    assert keep.sum() == 14
    assert r["se"] == pytest.approx(np.sqrt(rclus1.scale * ((thetas - thetas.mean()) ** 2).sum()), rel=1e-12)


def test_indicator_table_takes_a_replicate_design(survey, codebook):
    from evalkit.measure.scales import score
    from evalkit.survey.indicators import indicator_table
    scored = score(survey, codebook)
    rep = SurveyDesign(scored, weight="base_weight", strata="stratum", psu="psu").as_replicate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = indicator_table(scored, codebook, rep, indicators="who5", bands=False, df="design")
    direct = rep.mean("who5", by=["community_id", "wave"])
    got = t.merge(direct, on=["community_id", "wave"], suffixes=("", "_direct"))
    assert len(got) == len(direct) > 0
    np.testing.assert_allclose(got["se"], got["se_direct"], rtol=1e-12)
    assert (got["df"] == rep.degf).all()


# --------------------------------------------------------------------------------------
# raking with replicates
# --------------------------------------------------------------------------------------
MARGINS = {"stype": {"E": 4421, "H": 755, "M": 1018}, "sch.wide": {"No": 1072, "Yes": 5122}}


def test_poststratifying_a_replicate_design_is_closed_form(apiclus1, rclus1):
    one = {"stype": MARGINS["stype"]}
    raked = rclus1.rake(one)
    W0 = np.column_stack([rclus1.weights, rclus1.replicate_weights])
    W = np.column_stack([raked.weights, raked.replicate_weights])
    codes = apiclus1["stype"].to_numpy()
    by_hand = W0.copy()
    for lev, N in one["stype"].items():
        m = codes == lev
        by_hand[m] *= N / W0[m].sum(axis=0)
    np.testing.assert_allclose(W, by_hand, rtol=1e-12)


def test_raking_rakes_every_replicate_to_the_margins(apiclus1, rclus1):
    raked = rclus1.rake(MARGINS, tol=1e-13)
    lin = SurveyDesign(apiclus1, weight="pw", psu="dnum", fpc="fpc").rake(MARGINS, tol=1e-13)
    # the same IPF on the full-sample weights (the replicate design sweeps until every column meets
    # tol, so with the default tol its full-sample weights may sit a sweep further along)
    np.testing.assert_allclose(raked.weights, lin.weights, rtol=1e-11)
    W = raked.replicate_weights
    for col, totals in MARGINS.items():
        for lev, N in totals.items():
            m = (apiclus1[col] == lev).to_numpy()
            np.testing.assert_allclose(W[m].sum(axis=0), N, rtol=1e-8)
    assert raked.weighting_info.converged
    # raking to stype and sch.wide lowers the SE of the enrolment total, as in R's example(rake)
    assert raked.total("enroll").iloc[0]["se"] < rclus1.total("enroll").iloc[0]["se"]
    # SE by hand from the raked replicate columns
    y = apiclus1["api00"].to_numpy()
    thetas = (W * y[:, None]).sum(0) / W.sum(0)
    se = np.sqrt(raked.scale * ((thetas - thetas.mean()) ** 2).sum())
    assert raked.mean("api00").iloc[0]["se"] == pytest.approx(se, rel=1e-12)


def test_a_replicate_without_weight_in_a_margin_level_is_refused(paired):
    F = np.ones((80, 3))
    F[paired["g"].to_numpy() == "b", 1] = 0.0
    rep = ReplicateDesign(paired, "w", F, "other", scale=1.0, combined_weights=False)
    with pytest.raises(DesignError, match=r"Replicate 'replicate 2'.*level 'b' of margin 'g'"):
        rep.rake({"g": {"a": 500, "b": 500}})


def test_with_replicates_any_statistic(rclus1):
    est, cov = rclus1.with_replicates(lambda w: np.average(rclus1.data["api00"], weights=w))
    r = rclus1.mean("api00").iloc[0]
    assert est[0] == pytest.approx(r["estimate"], rel=1e-12)
    assert np.sqrt(cov[0, 0]) == pytest.approx(r["se"], rel=1e-12)


def _three_strata() -> pd.DataFrame:
    """Stratum a: 3 PSUs, b: 2 PSUs, c: 1 PSU (lonely); 2 rows per PSU."""
    return pd.DataFrame({"h": list("aaaaaabbbbcc"), "psu": np.repeat([1, 2, 3, 4, 5, 6], 2),
                         "w": [2.0, 2, 3, 3, 4, 4, 1, 1, 2, 2, 5, 5],
                         "y": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]})


def test_jkn_lonely_psu_follows_r_jknweights():
    d = _three_strata()
    with pytest.warns(Warning):
        rep = SurveyDesign(d, weight="w", strata="h", psu="psu").as_replicate("JKn")
    # R jknweights, lonely.psu="adjust": 3 + 2 delete-one replicates, then one for stratum c where its
    # PSU gets 0 and every other PSU nstrat/(nstrat-1) = 3/2, rscale (nstrat-1)/nstrat = 2/3
    F = rep.replicate_weights / d["w"].to_numpy()[:, None]
    assert F.shape == (12, 6)
    np.testing.assert_allclose(F[:, 0], [0, 0, 1.5, 1.5, 1.5, 1.5, 1, 1, 1, 1, 1, 1])
    np.testing.assert_allclose(F[:, 3], [1, 1, 1, 1, 1, 1, 0, 0, 2, 2, 1, 1])
    np.testing.assert_allclose(F[:, 5], [1.5] * 10 + [0, 0])
    np.testing.assert_allclose(rep.rscales, [2 / 3] * 3 + [1 / 2] * 2 + [2 / 3])
    with pytest.warns(Warning):
        removed = SurveyDesign(d, weight="w", strata="h", psu="psu", lonely_psu="remove").as_replicate()
    assert removed.n_replicates == 5


def test_jkn_census_stratum_gets_no_replicate_and_fpc_scales_the_others():
    d = _three_strata()[lambda x: x["h"] != "c"].assign(N=lambda x: np.where(x["h"] == "a", 6, 2))
    rep = SurveyDesign(d, weight="w", strata="h", psu="psu", fpc="N").as_replicate()
    assert rep.n_replicates == 3  # stratum b sampled completely (N_h = n_h = 2)
    np.testing.assert_allclose(rep.rscales, [(1 - 3 / 6) * 2 / 3] * 3)
    lin = SurveyDesign(d, weight="w", strata="h", psu="psu", fpc="N")
    assert rep.total("y").iloc[0]["se"] == pytest.approx(lin.total("y").iloc[0]["se"], rel=1e-12)


@pytest.mark.parametrize("kind,rho", [("BRR", None), ("Fay", 0.5)])
def test_as_replicate_brr_and_fay_give_the_linearisation_variance_of_totals(paired, kind, rho):
    lin = SurveyDesign(paired, weight="w", strata="h", psu="psu")
    rep = lin.as_replicate(kind, rho=rho)
    assert rep.n_replicates == 16 and rep.type == kind  # Sylvester order 16 > 8 strata
    for y in ("y", "w"):
        assert rep.total(y).iloc[0]["se"] == pytest.approx(lin.total(y).iloc[0]["se"], rel=1e-10)
    with pytest.raises(DesignError, match="exactly 2 PSUs"):
        SurveyDesign(_three_strata(), weight="w", strata="h", psu="psu", lonely_psu="certainty").as_replicate("BRR")


def test_replicate_columns_that_do_not_match_combined_weights_warn(paired):
    factors = np.full((80, 4), 1.0)
    with pytest.warns(EvalkitWarning, match="combined_weights=False"):
        ReplicateDesign(paired, "w", factors, "other", scale=1.0)
    finals = paired["w"].to_numpy()[:, None] * factors
    with pytest.warns(EvalkitWarning, match="combined_weights=True"):
        ReplicateDesign(paired, "w", finals, "other", scale=1.0, combined_weights=False)


def test_bounded_raking_of_a_jackknife_keeps_deleted_psus_at_zero(rclus1):
    raked = rclus1.rake(MARGINS, trim=(0.3, 3.0))  # (0.5, 2) is too tight for some replicates: warns
    W0, W = rclus1.replicate_weights, raked.replicate_weights
    assert np.isfinite(W).all()
    np.testing.assert_array_equal(W[W0 == 0], 0.0)
    g = W[W0 > 0] / W0[W0 > 0]
    assert g.min() >= 0.3 - 1e-12 and g.max() <= 3.0 + 1e-12
    assert raked.weighting_info.converged
    assert np.isfinite(raked.mean("api00").iloc[0]["se"])


def test_module_examples_run():
    import doctest
    from evalkit.survey import replicate as module
    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0


def test_domain_means_covariance_between_cells_by_hand(apiclus1, rclus1):
    cells, cov = domain_means(rclus1, "api00", by=["stype", "sch.wide"])
    W = rclus1.replicate_weights
    y = apiclus1["api00"].to_numpy()
    thetas = []
    for _, c in cells.iterrows():
        m = ((apiclus1["stype"] == c["stype"]) & (apiclus1["sch.wide"] == c["sch.wide"])).to_numpy()
        thetas.append((W[m] * y[m, None]).sum(0) / W[m].sum(0))
    T = np.array(thetas).T  # replicates x cells (every cell has schools in every replicate here)
    dev = T - T.mean(axis=0)
    np.testing.assert_allclose(cov, rclus1.scale * dev.T @ dev, rtol=1e-10)
    assert np.abs(cov[np.triu_indices(len(cells), 1)]).max() > 0  # cells share districts


def test_fpc_of_given_jackknife_replicates_multiplies_rscales(apiclus1):
    # R: svrepdesign(repweights=<JK1 factors>, weights=~pw, type="JK1", combined.weights=FALSE,
    #                fpc=rep(15/757, 15), fpctype="fraction") equals as.svrepdesign(dclus1) (fpc in scale)
    rclus1 = SurveyDesign(apiclus1, weight="pw", psu="dnum", fpc="fpc").as_replicate()
    F = rclus1.replicate_weights / apiclus1["pw"].to_numpy()[:, None]
    given = ReplicateDesign(apiclus1, "pw", F, "JK1", combined_weights=False, fpc=15 / 757, fpctype="fraction")
    assert given.mean("api00").iloc[0]["se"] == pytest.approx(rclus1.mean("api00").iloc[0]["se"], rel=1e-12)
    with pytest.raises(DesignError, match="fpctype"):
        ReplicateDesign(apiclus1, "pw", F, "JK1", combined_weights=False, fpc=0.02)
    with pytest.raises(DesignError, match="cannot be used"):
        ReplicateDesign(apiclus1, "pw", F, "BRR", combined_weights=False, fpc=0.02, fpctype="fraction")
