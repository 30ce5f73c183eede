"""Freeze HonestDiD's published FLCI results into flci_*.json (run once; evalkit does not need rdata).

Run with a separate virtual environment holding ``rdata`` and ``numpy`` (R is not needed):

    python3 -m venv /tmp/rvenv && /tmp/rvenv/bin/pip install rdata numpy
    /tmp/rvenv/bin/python tests/reference/honestdid/make_flci_refs.py HONESTDID_GIT_DIR OUT_DIR

HONESTDID_GIT_DIR is a clone of github.com/asheshrambachan/HonestDiD (bare is fine). Sources:

* flci_medicaid.json: README "Sensitivity Analysis Using Smoothness Restrictions"
  (``createSensitivityResults(betahat, sigma, numPrePeriods = 5, numPostPeriods = 2,
  Mvec = seq(0, 0.05, by = 0.01))``): lb/ub at full precision from the knitr cache object
  ``delta_sd_results`` (README_cache/gfm/unnamed-chunk-6_*.rdb). betahat/sigma of that chunk are
  not cached (chunk 3); they are refitted here: the README's
  ``feols(dins ~ i(year, D, ref = 2013) | stfips + year, cluster = "stfips")`` on
  ``df_nonstaggered`` (the cached copy in unnamed-chunk-8_*.rdb, the README's filter of
  ehec_data.dta), with fixest's clustered vcov ``G/(G-1) (n-1)/(n-K) bread meat bread``,
  K = #coefficients + #years (stfips fixed effects nested in the clusters are not counted).
  The same code reproduces the cached betahat/sigma of chunk 8 (the regression with the control)
  to 1e-12 relative, which this script asserts.
* flci_medicaid_control.json: README "Regressions with controls": betahat/sigma at full
  precision from the cache (chunk 8); FLCI lb/ub only as printed in README.md (3 significant
  digits).
* sensitivity_medicaid_rm.json: README relative magnitudes on the same betahat/sigma (C-LF):
  ``delta_rm_results`` (chunk 4, Mbarvec = seq(0.5, 2, by = 0.5)), ``delta_rm_results_avg`` and
  ``originalResults_avg`` (chunk 7, l_vec = c(0.5, 0.5), Mbarvec = seq(0, 2, by = 0.5)), full precision
  from the knitr cache.
* flci_lw.json: the old vignette (commit fdadae33428a024df204c210da48cc5362966e89):
  ``LWdata_EventStudy`` (data/LWdata_EventStudy.rda) and the precomputed
  ``LW_DeltaSD_RobustResults`` = ``VignetteResults[[4]]`` (data/VignetteResults.rda;
  ``createSensitivityResults(..., l_vec = basisVector(15 - (-2), 23), Mvec = seq(0, 0.04, by = 0.005))``).
"""
import gzip
import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import rdata

VIGNETTE = "fdadae33428a024df204c210da48cc5362966e89"


def _git(repo, rev_path):
    return subprocess.run(["git", "-C", repo, "show", rev_path], check=True, capture_output=True).stdout


def _attrs(o):
    out, a = {}, o.attributes
    while a is not None and a.info.type.name != "NILVALUE":
        t = a.tag
        while hasattr(t, "value") and not isinstance(t.value, (bytes, str)):
            t = t.value[0] if isinstance(t.value, list) else t.value
        t = t.value if hasattr(t, "value") else t
        out[t.decode() if isinstance(t, bytes) else str(t)] = a.value[0]
        a = a.value[1]
    return out


def _arr(o):
    v = np.asarray(o.value, dtype=float)
    a = _attrs(o) if o.attributes is not None else {}
    return v.reshape(tuple(a["dim"].value), order="F") if "dim" in a else v


def _names(o):
    return [x.value.decode() for x in _attrs(o)["names"].value]


def _cache(repo, stem):
    """Objects of one knitr cache chunk (.rdx: gzip RDS index; .rdb: 4-byte length + zlib blocks)."""
    idx = rdata.parser.parse_data(gzip.decompress(_git(repo, f"HEAD:README_cache/gfm/{stem}.rdx")))
    rdb = _git(repo, f"HEAD:README_cache/gfm/{stem}.rdb")
    variables = idx.object.value[0]
    out = {}
    for name, ent in zip(_names(variables), variables.value):
        off, ln = (int(v) for v in ent.value)
        try:
            out[name] = rdata.parser.parse_data(zlib.decompress(rdb[off + 4: off + ln])).object
        except Exception:  # objects rdata cannot parse (formulas, environments) are not needed
            pass
    return out


def _frame(o):
    return {n: (_arr(c) if c.info.type.name != "STR" else [x.value.decode() for x in c.value])
            for n, c in zip(_names(o), o.value)}


def _twfe(data, control):
    """feols(dins ~ i(year, D, ref = 2013) [+ control] | stfips + year, cluster = "stfips")."""
    st, yr, y, D, ctl = (data[k] for k in ("stfips", "year", "dins", "D", "control"))
    X = np.column_stack([(yr == t) * D for t in (2008, 2009, 2010, 2011, 2012, 2014, 2015)]
                        + ([ctl] if control else []))
    F = np.column_stack([st[:, None] == np.unique(st)[None, :], yr[:, None] == np.unique(yr)[None, 1:]]).astype(float)
    Xt = X - F @ np.linalg.lstsq(F, X, rcond=None)[0]
    yt = y - F @ np.linalg.lstsq(F, y, rcond=None)[0]
    bread = np.linalg.inv(Xt.T @ Xt)
    b = bread @ Xt.T @ yt
    u = yt - Xt @ b
    scores = [Xt[st == c].T @ u[st == c] for c in np.unique(st)]
    G, n, K = len(scores), y.size, X.shape[1] + np.unique(yr).size
    V = G / (G - 1) * (n - 1) / (n - K) * bread @ sum(np.outer(s, s) for s in scores) @ bread
    return b[:7], V[:7, :7]


def main(repo, out):
    out = Path(out)
    c6 = _frame(_cache(repo, "unnamed-chunk-6_6a1a19c1b25737f3167f0bb30e5b250d")["delta_sd_results"])
    c8 = _cache(repo, "unnamed-chunk-8_f68e98bbac13a1932bc9db93b38f3a59")
    data = dict(zip(["stfips", "year", "dins", "yexp2", "W", "D", "control"],
                    (_arr(c) for c in c8["df_nonstaggered"].value)))
    b8, V8 = _twfe(data, control=True)
    assert np.allclose(b8, _arr(c8["betahat"]), rtol=1e-12, atol=1e-15)
    assert np.allclose(V8, _arr(c8["sigma"]), rtol=1e-12, atol=0)
    b, V = _twfe(data, control=False)
    common = dict(num_pre=5, num_post=2, l_vec=[1.0, 0.0], level=0.95, method="FLCI")
    json.dump(dict(source="HonestDiD README.md (HEAD), Medicaid example, createSensitivityResults(Mvec = "
                   "seq(0, 0.05, by = 0.01)); lb/ub: knitr cache README_cache/gfm/unnamed-chunk-6_*.rdb object "
                   "delta_sd_results (full precision); betahat/sigma: refit of the README's TWFE on the cached "
                   "df_nonstaggered (unnamed-chunk-8_*.rdb) with fixest's clustered vcov, see make_flci_refs.py",
                   **common, betahat=b.tolist(), sigma=V.tolist(), M=c6["M"].tolist(),
                   ci_low=c6["lb"].tolist(), ci_high=c6["ub"].tolist(), tolerance=1e-4),
              open(out / "flci_medicaid.json", "w"), indent=1)
    json.dump(dict(source="HonestDiD README.md (HEAD), 'Regressions with controls': betahat/sigma from the knitr "
                   "cache README_cache/gfm/unnamed-chunk-8_*.rdb (full precision); lb/ub as printed in README.md "
                   "(3 significant digits)",
                   **common, betahat=_arr(c8["betahat"]).tolist(), sigma=_arr(c8["sigma"]).tolist(),
                   M=[0.0, 0.01, 0.02, 0.03, 0.04, 0.05],
                   ci_low=[0.0264, 0.0128, 0.00186, -0.00814, -0.0181, -0.0281],
                   ci_high=[0.0607, 0.0788, 0.0908, 0.101, 0.111, 0.121], tolerance="3 significant digits",
                   r_rnorm_seed0=dict(source="the README's fake control: set.seed(0); rnorm(344, 0, 1) (column "
                                      "'control' of the cached df_nonstaggered), first 20 values",
                                      values=data["control"][:20].tolist())),
              open(out / "flci_medicaid_control.json", "w"), indent=1)
    c4 = _frame(_cache(repo, "unnamed-chunk-4_d08e39374736e71fa1379f8379b56bb5")["delta_rm_results"])
    c7 = _cache(repo, "unnamed-chunk-7_40d31aed1b8b0bc2d595204b6c288837")
    avg, orig = _frame(c7["delta_rm_results_avg"]), _frame(c7["originalResults_avg"])
    json.dump(dict(source="HonestDiD README.md (HEAD), Medicaid example, createSensitivityResults_relativeMagnitudes: "
                   "knitr cache README_cache/gfm/unnamed-chunk-4_*.rdb (delta_rm_results) and unnamed-chunk-7_*.rdb "
                   "(delta_rm_results_avg, originalResults_avg), full precision; betahat/sigma as flci_medicaid.json",
                   num_pre=5, num_post=2, level=0.95, method="C-LF", betahat=b.tolist(), sigma=V.tolist(),
                   first=dict(l_vec=[1.0, 0.0], Mbar=c4["Mbar"].tolist(), ci_low=c4["lb"].tolist(),
                              ci_high=c4["ub"].tolist()),
                   average=dict(l_vec=[0.5, 0.5], Mbar=avg["Mbar"].tolist(), ci_low=avg["lb"].tolist(),
                                ci_high=avg["ub"].tolist(), original_ci=[float(np.ravel(orig["lb"])[0]),
                                                                         float(np.ravel(orig["ub"])[0])]),
                   tolerance=1e-4),
              open(out / "sensitivity_medicaid_rm.json", "w"), indent=1)
    lw = rdata.read_rda(_save(_git(repo, f"{VIGNETTE}:data/LWdata_EventStudy.rda")))["LWdata_EventStudy"]
    vr = rdata.parser.parse_data(_git(repo, f"{VIGNETTE}:data/VignetteResults.rda")).object
    res = vr.value[0].value[3] if vr.info.type.name == "LIST" else vr.value[3]
    lb, ub, method, delta, M = (res.value[i] for i in range(5))
    assert [x.value.decode() for x in method.value] == ["FLCI"] * 9
    assert [x.value.decode() for x in delta.value] == ["DeltaSD"] * 9
    l_vec = np.zeros(23)
    l_vec[15 - (-2) - 1] = 1.0
    json.dump(dict(source=f"HonestDiD commit {VIGNETTE}: vignettes/HonestDiD_Example.Rmd LW_DeltaSD_RobustResults, "
                   "precomputed in data/VignetteResults.rda (VignetteResults[[4]], full precision); "
                   "betahat/sigma: data/LWdata_EventStudy.rda",
                   num_pre=9, num_post=23, l_vec=l_vec.tolist(), level=0.95, method="FLCI",
                   betahat=np.asarray(lw["betahat"]).tolist(), sigma=np.asarray(lw["sigma"]).tolist(),
                   M=_arr(M).tolist(), ci_low=_arr(lb).tolist(), ci_high=_arr(ub).tolist(), tolerance=1e-4),
              open(out / "flci_lw.json", "w"), indent=1)


def _save(raw):
    path = Path("/tmp") / "honestdid_lw.rda"
    path.write_bytes(raw)
    return path


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
