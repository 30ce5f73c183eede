"""Absorbed fixed effects against frozen pyfixest 0.60.0 results on the benchmark's panel generator.

Reference: tests/reference/fixest/pyfixest_0.60.0_panel.json, written once by
tests/reference/fixest/make_pyfixest_reference.py (pyfixest ``feols(..., vcov={"CRV1": "community"})``;
the call and the data are in that script; pyfixest is not needed here). The panel has 10,000 rows, so
evalkit's row-chunked products run over several chunks, and an income regressor in the tens of
thousands of yuan next to a 0/1 treatment.
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from evalkit.inference.regress import regress

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "fixest" / "pyfixest_0.60.0_panel.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def panel():
    spec = importlib.util.spec_from_file_location("bench_fixest", ROOT / "benchmarks" / "bench_fixest.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    d = bench.make_panel(seed=2017, households=2500, communities=30)
    d["w"] = 0.5 + (d["household"] % 7) / 4
    return d


@pytest.mark.parametrize("model", REF["models"], ids=lambda m: f"{m['formula']} w={m['weights']}")
def test_cr1_matches_pyfixest_crv1(panel, model):
    fit = regress(model["formula"], panel, cluster="community", vcov="CR1", weights=model["weights"])
    terms = list(model["coef"])
    assert list(fit.params.index) == terms
    np.testing.assert_allclose(fit.params[terms].to_numpy(), [model["coef"][t] for t in terms], rtol=1e-8)
    np.testing.assert_allclose(fit.se[terms].to_numpy(), [model["se"][t] for t in terms], rtol=1e-8)
    np.testing.assert_array_equal(fit.df.to_numpy(), model["df_t"])


def test_reference_file_names_its_source():
    assert "make_pyfixest_reference.py" in REF["source"] and "pyfixest 0.60.0" in REF["source"]
