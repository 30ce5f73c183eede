"""Freeze HonestDiD's published ARP (conditional / hybrid) results into arp_*.json (run once).

Run like make_flci_refs.py (a separate virtual environment with ``rdata`` and ``numpy``; no R):

    /tmp/rvenv/bin/python tests/reference/honestdid/make_arp_refs.py HONESTDID_GIT_DIR OUT_DIR

Sources (all full precision; R objects read from the repository, nothing retyped):

* arp_rm_sunab.json: README "Sun and Abraham" example, knitr cache
  README_cache/gfm/unnamed-chunk-10_*.rdb: ``kwargs`` (betahat, sigma: 10 pre- and 6 post-periods),
  ``extra`` (Mbarvec = 0.5..2, gridPoints = 100) and ``sensitivity_results``
  (createSensitivityResults_relativeMagnitudes, C-LF, Delta^RM).
* arp_rm_medicaid_2022.json: the README's relative-magnitudes table as knitted in 2022
  (README_cache/gfm/unnamed-chunk-5_*.rdb, commit fa4ce02, Mbar = 0..2), computed on HonestDiD's
  earlier default grid +-20 sd(theta); betahat/sigma as flci_medicaid.json (refit, see there).
* arp_bc_vignette.json: the old vignette (commit fdadae33...): ``BCdata_EventStudy``
  (data/BCdata_EventStudy.rda) and the precomputed ``BC_DeltaSDRM_RobustResults``
  (VignetteResults[[1]]: Delta^SDRM, C-LF, gridPoints = 100 on [-1, 1]) and
  ``BC_DeltaSDNB_RobustResults`` (VignetteResults[[3]]: Delta^SD with negative bias, C-F).
"""
import json
import sys
from pathlib import Path

import rdata

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_flci_refs import VIGNETTE, _arr, _cache, _frame, _git, _names  # noqa: E402


def _vignette_object(repo, name):
    obj = rdata.parser.parse_data(_git(repo, f"{VIGNETTE}:data/{name}.rda")).object
    return obj.value[0] if obj.info.type.name == "LIST" else obj


def main(repo, out):
    out = Path(out)
    c10 = _cache(repo, "unnamed-chunk-10_1f3c743ec6ce57aeac2e128cd86dc961")
    kw = dict(zip(_names(c10["kwargs"]), c10["kwargs"].value))
    res = _frame(c10["sensitivity_results"])
    extra = dict(zip(_names(c10["extra"]), c10["extra"].value))
    n = int(_arr(kw["numPrePeriods"])[0]) + int(_arr(kw["numPostPeriods"])[0])
    json.dump(dict(source="HonestDiD README.md (HEAD), Sun-Abraham example: knitr cache "
                   "README_cache/gfm/unnamed-chunk-10_*.rdb objects kwargs, extra, sensitivity_results",
                   num_pre=int(_arr(kw["numPrePeriods"])[0]), num_post=int(_arr(kw["numPostPeriods"])[0]),
                   l_vec=[1.0] + [0.0] * (int(_arr(kw["numPostPeriods"])[0]) - 1), level=0.95, method="C-LF",
                   grid_points=int(_arr(extra["gridPoints"])[0]),
                   betahat=_arr(kw["betahat"]).ravel().tolist(), sigma=_arr(kw["sigma"]).reshape(n, n).tolist(),
                   Mbar=res["Mbar"].tolist(), ci_low=res["lb"].ravel().tolist(), ci_high=res["ub"].ravel().tolist(),
                   tolerance=1e-4), open(out / "arp_rm_sunab.json", "w"), indent=1)

    c5 = _frame(_cache(repo, "unnamed-chunk-5_8563727fbd64847ebb1d79b8a34b25a1")["delta_rm_results"])
    med = json.load(open(out / "flci_medicaid.json"))
    json.dump(dict(source="HonestDiD README as knitted at commit fa4ce02 (2022): knitr cache "
                   "README_cache/gfm/unnamed-chunk-5_*.rdb object delta_rm_results (C-LF, Delta^RM, HonestDiD's "
                   "grid of that time, +-20 sd(theta) around 0); betahat/sigma as flci_medicaid.json",
                   num_pre=5, num_post=2, l_vec=[1.0, 0.0], level=0.95, method="C-LF",
                   betahat=med["betahat"], sigma=med["sigma"], Mbar=c5["Mbar"].tolist(),
                   ci_low=c5["lb"].ravel().tolist(), ci_high=c5["ub"].ravel().tolist(), tolerance=1e-4),
              open(out / "arp_rm_medicaid_2022.json", "w"), indent=1)

    bc = _vignette_object(repo, "BCdata_EventStudy")
    bcd = dict(zip(_names(bc), bc.value))
    beta = _arr(bcd["betahat"]).ravel()
    vr = _vignette_object(repo, "VignetteResults")
    sdrm, sdnb = (dict(zip(["lb", "ub", "method", "Delta", "bound"], r.value)) for r in (vr.value[0], vr.value[2]))
    assert [x.value.decode() for x in sdrm["Delta"].value] == ["DeltaSDRM"] * 5
    assert [x.value.decode() for x in sdnb["Delta"].value] == ["DeltaSDNB"] * 4
    json.dump(dict(source=f"HonestDiD commit {VIGNETTE}: data/BCdata_EventStudy.rda and data/VignetteResults.rda "
                   "(VignetteResults[[1]] = BC_DeltaSDRM_RobustResults, VignetteResults[[3]] = "
                   "BC_DeltaSDNB_RobustResults; vignettes/HonestDiD_Example.Rmd)",
                   num_pre=4, num_post=4, l_vec=[1.0, 0.0, 0.0, 0.0], level=0.95,
                   betahat=beta.tolist(), sigma=_arr(bcd["sigma"]).reshape(beta.size, beta.size).tolist(),
                   sdrm=dict(method="C-LF", grid_lb=-1.0, grid_ub=1.0, grid_points=100,
                             Mbar=_arr(sdrm["bound"]).tolist(), ci_low=_arr(sdrm["lb"]).ravel().tolist(),
                             ci_high=_arr(sdrm["ub"]).ravel().tolist()),
                   sdnb=dict(method="C-F", M=_arr(sdnb["bound"]).tolist(), ci_low=_arr(sdnb["lb"]).ravel().tolist(),
                             ci_high=_arr(sdnb["ub"]).ravel().tolist()),
                   tolerance=1e-4), open(out / "arp_bc_vignette.json", "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
