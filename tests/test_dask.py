"""Scale-out of the power simulation: picklable survey designs, executors, a local Dask cluster.

The simulation's result must not depend on where it runs: seeds are per simulated evaluation
(``SeedSequence(seed).spawn(n_sims)``), so a plain loop, a process pool and a Dask cluster give
bit-identical tables with the same seed (``docs/scale_out.md``).
"""
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import EstimationError
from evalkit.evaluation.power import VarianceComponents
from evalkit.evaluation.power_sim import simulated_power
from evalkit.survey.design import SurveyDesign
from evalkit.survey.replicate import ReplicateDesign


def _survey(seed=0, I=8, T=2, n=40):
    """I communities x T waves, 4 PSUs per community-wave, unequal weights; half start in wave 2."""
    rng = np.random.default_rng(seed)
    c = np.repeat(np.arange(I), T * n)
    t = np.tile(np.repeat(np.arange(T), n), I)
    psu = c * 100 + t * 10 + np.tile(np.arange(n) % 4, I * T)
    d = pd.DataFrame({"community_id": [f"c{i}" for i in c], "wave": 2016 + t,
                      "y": rng.normal(0, 1, c.size) + 0.3 * c, "sex": rng.choice(["m", "f"], c.size),
                      "w": rng.uniform(1, 3, c.size), "psu": psu})
    reg = {f"c{i}": (2017 if i < I // 2 else None) for i in range(I)}
    return d, reg


def _same_design(a, b):
    assert type(a) is type(b)
    assert a.data.equals(b.data)
    assert np.array_equal(a.weights, b.weights) and a.degf == b.degf and a.summary == b.summary
    for by in (None, ["community_id", "wave"]):
        assert a.mean("y", by=by).equals(b.mean("y", by=by))  # estimates and SEs to the last bit


def test_survey_design_pickles_round_trip():
    d, _ = _survey()
    design = SurveyDesign(d, "w", strata="community_id", psu="psu")
    raked = design.rake({"sex": {"m": 700.0, "f": 800.0}})
    for x in (design, raked, design.subset(d["wave"] == 2017), raked.assign(z=d["y"] * 2)):
        back = pickle.loads(pickle.dumps(x))
        _same_design(x, back)
        assert back.is_calibrated == x.is_calibrated
        with pytest.raises(AttributeError):  # still immutable
            back._w = None
    assert pickle.loads(pickle.dumps(raked)).weighting_info.headline == raked.weighting_info.headline


# a bootstrap replicate may miss a subset's rows altogether (R svrVar's warning, not this test's subject)
@pytest.mark.filterwarnings("ignore:.*replicate\\(s\\) gave no estimate")
def test_replicate_design_pickles_round_trip():
    d, _ = _survey(1)
    base = SurveyDesign(d, "w", strata="community_id", psu="psu")
    jkn = base.as_replicate("JKn")
    boot = base.as_replicate("bootstrap", replicates=20, seed=3)
    reps = d.assign(**{f"r{j}": d["w"] * (1 + 0.1 * np.sin(np.arange(len(d)) + j)) for j in range(4)})
    sdr = ReplicateDesign(reps, "w", r"^r\d$", "successive-difference")
    for x in (jkn, boot, sdr, jkn.subset(d["wave"] == 2016), jkn.rake({"sex": {"m": 700.0, "f": 800.0}})):
        back = pickle.loads(pickle.dumps(x))
        _same_design(x, back)
        assert np.array_equal(back.replicate_weights, x.replicate_weights)
        assert (back.type, back.scale, back.mse) == (x.type, x.scale, x.mse)
        assert np.array_equal(back.rscales, x.rscales)


def _power(design, reg, **kw):
    vc = VarianceComponents(tau2=0.1, gamma2=0.01, sigma2=1.0, deff=1.2, m=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulated_power(design, vc, registry=reg, effect=0.4, n_sims=24, seed=11, batch=6, **kw)


def test_any_executor_gives_the_loop_result():
    d, reg = _survey(2)
    design = SurveyDesign(d, "w", strata="community_id", psu="psu")
    loop = _power(design, reg, workers=1)
    with ThreadPoolExecutor(2) as ex:
        assert _power(design, reg, executor=ex).table.equals(loop.table)
    assert _power(design, reg, workers=2).table.equals(loop.table)  # a process pool: the design pickled
    assert loop.table["n_sims"].eq(24).all()
    with pytest.raises(EstimationError, match="executor="):
        _power(design, reg, executor=object())


def test_dask_local_cluster_is_bit_identical_to_the_loop():
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install 'evalkit[cluster]')")
    d, reg = _survey(3)
    design = SurveyDesign(d, "w", strata="community_id", psu="psu")
    loop = _power(design, reg, workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        res = _power(design, reg, executor=client)
    assert res.workers == 2
    assert res.table.equals(loop.table)


def test_a_replicate_design_is_refused_with_the_fix():
    d, reg = _survey(5)
    rep = SurveyDesign(d, "w", strata="community_id", psu="psu").as_replicate("JKn")
    with pytest.raises(EstimationError, match="ReplicateDesign"):
        _power(rep, reg, workers=1)
