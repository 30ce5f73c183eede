"""Power of evalkit's headline per-community estimator by simulation on a real survey design.

Each simulated evaluation keeps the survey's rows, communities, waves, strata, PSUs and weights and
draws a new outcome from the model of :mod:`evalkit.evaluation.power` calibrated to the observed
components (:func:`evalkit.evaluation.power_components.variance_components`)::

    y = a_c + (ab)_ct + u_(psu, t) + e + effect * treated_ct,

``a ~ N(0, tau2)``, ``ab ~ N(0, gamma2)``, and the respondent variance ``sigma2`` split into a
PSU-by-wave part ``rho sigma2`` and an individual part, with ``rho`` chosen so that the cell
means have the observed design effect: ``deff = deff_w (1 + (b - 1) rho)`` (Kish), ``deff_w`` the
weighting effect ``n sum w^2 / (sum w)^2`` and ``b`` the mean respondents per PSU of a cell. Then
:func:`evalkit.evaluation.comparison.community_effects` is run on every draw and the power is the
share of draws whose two-sided p-value is below ``1 - level``, with Monte Carlo SE
``sqrt(p (1 - p) / n_sims)``.

Every simulated evaluation has its own seed, ``numpy.random.SeedSequence(seed).spawn(n_sims)``;
the draws are grouped in batches of ``batch`` (one ``community_effects`` call per batch) whatever
runs them, so the result is bit-identical for a plain loop (``workers=1``), a process pool
(``workers > 1``) or any :class:`concurrent.futures.Executor` or Dask ``Client`` passed as
``executor=`` (``docs/scale_out.md``). The design travels to each process once (pickled once,
unpickled once per process and cached there); every batch runs with one BLAS thread
(threadpoolctl), so the arithmetic is the same in every process.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import time
import uuid
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EstimationError
from .comparison import community_effects
from .power import VarianceComponents
from .power_components import comparison_design_df, design_dfs, did_power, did_variance, gap_pairs

__all__ = ["SimulatedPower", "simulated_power"]


@dataclass(frozen=True)
class SimulatedPower:
    """Result of :func:`simulated_power`."""

    table: pd.DataFrame  # community, wave, power, mc_se, analytic, estimate / se summaries, n_sims
    n_sims: int
    seconds: float
    workers: int

    def tidy(self) -> pd.DataFrame:
        return self.table.copy()

    @property
    def summary(self) -> str:
        return (f"{self.n_sims} simulated evaluations in {self.seconds:.1f} s on {self.workers} "
                f"process(es); simulated vs analytic power per community:\n{self.table.to_string(index=False)}")


_CACHE: dict = {}  # per process: the last simulation job, by token (unpickled once per process)


@dataclass(frozen=True, eq=False)
class _Job:
    """Everything one batch of simulated evaluations needs."""

    design: object
    comps: VarianceComponents
    registry: object
    effect: float
    community: str
    wave: str
    level: float
    ci: np.ndarray
    cell: np.ndarray
    n_comm: int
    n_cell: int
    treated: np.ndarray
    pi: np.ndarray
    n_psu: int
    rho: float


class _Shared:
    """A :class:`_Job` pickled at most once in this process and unpickled once per receiving process."""

    def __init__(self, job: _Job):
        self.token, self._job, self._blob = uuid.uuid4().hex, job, None

    def __getstate__(self):
        if self._blob is None:
            self._blob = pickle.dumps(self._job, protocol=pickle.HIGHEST_PROTOCOL)
        return {"token": self.token, "blob": self._blob}

    def __setstate__(self, state):
        self.token, self._blob, self._job = state["token"], state["blob"], None

    def job(self) -> _Job:
        if self._job is None:
            if self.token not in _CACHE:
                _CACHE.clear()
                _CACHE[self.token] = pickle.loads(self._blob)
            self._job = _CACHE[self.token]
        return self._job


def _prepare(design, comps, registry, effect, community, wave, level) -> _Job:
    d = design.data
    comm = d[community].astype(str).to_numpy()
    t = d[wave].astype(float).to_numpy()
    from ..spec.registry import start_years

    starts = start_years(registry)
    cu, ci = np.unique(comm, return_inverse=True)
    tu, ti = np.unique(t, return_inverse=True)
    cell = ci * tu.size + ti
    g = np.array([np.inf if starts.get(c) is None else float(starts[c]) for c in cu])
    treated = t >= g[ci]
    psu = design.psu_codes
    pk, pi = np.unique(psu.astype(np.int64) * (tu.size + 1) + ti, return_inverse=True)
    w = design.weights
    n_c = np.bincount(cell, minlength=cu.size * tu.size)
    sw, sw2 = np.bincount(cell, w), np.bincount(cell, w * w)
    keep = n_c > 0
    deff_w = float(np.mean(n_c[keep] * sw2[keep] / sw[keep] ** 2))
    b = float(np.mean(n_c[keep] / np.maximum(np.bincount(np.unique(np.c_[cell, pi], axis=0)[:, 0],
                                                          minlength=n_c.size)[keep], 1)))
    rho = float(np.clip((comps.deff / deff_w - 1) / (b - 1), 0.0, 1.0)) if b > 1 else 0.0
    return _Job(design=design, comps=comps, registry=registry, effect=effect, community=community, wave=wave,
                level=level, ci=ci, cell=cell, n_comm=cu.size, n_cell=cu.size * tu.size, treated=treated, pi=pi,
                n_psu=pk.size, rho=rho)


def _one_blas_thread():
    """One BLAS thread while a batch runs (same arithmetic in every process; processes share the cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without threadpoolctl the BLAS runs as configured
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _install(shared: _Shared) -> None:
    """Pool initializer: the job arrives once per worker process; tasks then name it by its token."""
    job = shared.job()  # unpickled here (spawn) or inherited as it is (fork)
    _CACHE.clear()
    _CACHE[shared.token] = job


def _run(shared: _Shared | str, seeds: list) -> pd.DataFrame:
    """One batch: a simulated outcome per seed, then one ``community_effects`` call on all of them."""
    s = _CACHE[shared] if isinstance(shared, str) else shared.job()
    vc, n, cols = s.comps, s.ci.size, {}
    for r, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        a = rng.normal(0.0, np.sqrt(vc.tau2), s.n_comm)
        ab = rng.normal(0.0, np.sqrt(vc.gamma2), s.n_cell)
        u = rng.normal(0.0, np.sqrt(s.rho * vc.sigma2), s.n_psu)
        e = rng.normal(0.0, np.sqrt((1 - s.rho) * vc.sigma2), n)
        cols[f"_sim{r}"] = a[s.ci] + ab[s.cell] + u[s.pi] + e + s.effect * s.treated
    design = s.design.assign(**cols)
    with warnings.catch_warnings(), _one_blas_thread():
        warnings.simplefilter("ignore")
        eff = community_effects(design, list(cols), registry=s.registry, community=s.community,
                                wave=s.wave, level=s.level)
    eff = eff[eff["event_time"] >= 0]
    return eff[[s.community, s.wave, "indicator", "estimate", "se", "p_value"]]


def _execute(shared: _Shared, tasks: list, executor, workers: int) -> tuple[list, int]:
    """Run the batches: here, in a process pool of ``workers``, or on ``executor`` (Executor or Dask Client)."""
    if executor is None and workers == 1:
        return [_run(shared, t) for t in tasks], 1
    if executor is None:
        with ProcessPoolExecutor(max_workers=workers, initializer=_install, initargs=(shared,)) as ex:
            return [f.result() for f in [ex.submit(_run, shared.token, t) for t in tasks]], workers
    if hasattr(executor, "scatter") and hasattr(executor, "gather"):  # a dask.distributed Client
        remote = executor.scatter(shared, broadcast=True)  # the design reaches each worker once
        futures = [executor.submit(_run, remote, t, pure=False) for t in tasks]
        return executor.gather(futures), int(sum(executor.nthreads().values()))
    if not callable(getattr(executor, "submit", None)):
        raise EstimationError(f"executor= must be a concurrent.futures.Executor or a dask.distributed Client; "
                              f"got {type(executor).__name__}.")
    futures = [executor.submit(_run, shared, t) for t in tasks]
    return [f.result() for f in futures], int(getattr(executor, "_max_workers", 0) or 0)


def simulated_power(design, components: VarianceComponents, *, registry, effect: float, n_sims: int = 1000,
                    seed: int = 0, level: float = 0.95, community: str = "community_id", wave: str = "wave",
                    workers: int | None = None, batch: int = 25, executor=None) -> SimulatedPower:
    """Simulated power of :func:`~evalkit.evaluation.comparison.community_effects` on ``design``.

    Parameters
    ----------
    design
        :class:`~evalkit.survey.design.SurveyDesign` whose rows, PSUs and weights are kept.
    components
        Variance components to simulate from (e.g. ``variance_components(design, "bscs", ...)``).
    registry
        Community registry (start years; comparison communities have none).
    effect
        Effect planted in every programme community's post-start cells (indicator units).
    n_sims, seed
        Simulated evaluations and the seed (reproducible for any ``workers``).
    workers
        Processes of a pool started here (default: ``os.cpu_count()``; 1 = a plain loop in this
        process); ignored when ``executor`` is given.
    batch
        Draws per task (one ``community_effects`` call with ``batch`` outcomes).
    executor
        Where to run the batches instead: any :class:`concurrent.futures.Executor` (left open) or a
        ``dask.distributed.Client`` (the design is scattered to every worker once). The result is
        bit-identical to ``workers=1`` with the same ``seed`` and ``batch``.

    Returns
    -------
    SimulatedPower
        ``table``: ``<community>, <wave>, power, mc_se, analytic`` (the DiD's analytic power from
        :func:`~evalkit.evaluation.power_components.did_variance` with the cell sizes of the design,
        estimated shock variance integrated out, :func:`~evalkit.evaluation.power_components.did_power`), ``mean_estimate, sd_estimate``
        (the estimator's simulated SD), ``analytic_se``, ``mean_se`` (the mean reported SE),
        ``n_sims``; plus ``seconds`` and ``workers`` (processes used: a Client's worker threads,
        an executor's ``_max_workers``, 0 when it does not say).
    """
    if n_sims < 1 or batch < 1:
        raise EstimationError("n_sims and batch must be positive whole numbers.")
    if getattr(design, "is_replicate", False):
        raise EstimationError(
            "simulated_power redraws the outcome PSU by PSU and needs the strata and PSUs of a "
            "linearisation design; this is a ReplicateDesign (replicate weights only). Simulate on the "
            "survey's SurveyDesign with strata and PSUs (e.g. SurveyDesign(rows, weight, strata=, psu=)); "
            "the simulated evaluations can still be analysed as your report analyses them.")
    workers = int(workers or os.cpu_count() or 1)
    seeds = np.random.SeedSequence(seed).spawn(n_sims)  # one per simulated evaluation
    tasks = [seeds[i:i + batch] for i in range(0, n_sims, batch)]
    shared = _Shared(_prepare(design, components, registry, effect, community, wave, level))
    t0 = time.perf_counter()
    parts, workers = _execute(shared, tasks, executor, workers)
    seconds = time.perf_counter() - t0
    res = pd.concat(parts, ignore_index=True)
    alpha = 1 - level
    out = (res.assign(hit=res["p_value"] < alpha).groupby([community, wave])
           .agg(power=("hit", "mean"), mean_estimate=("estimate", "mean"), sd_estimate=("estimate", "std"),
                mean_se=("se", "mean"),
                n_sims=("hit", "size")).reset_index())
    out["mc_se"] = np.sqrt(out["power"] * (1 - out["power"]) / out["n_sims"])
    out["analytic"] = _analytic(design, components, registry, effect, out, community, wave, level)
    out["analytic_se"] = _analytic(design, components, registry, effect, out, community, wave, level, se_only=True)
    cols = [community, wave, "power", "mc_se", "analytic", "mean_estimate", "sd_estimate", "analytic_se",
            "mean_se", "n_sims"]
    return SimulatedPower(table=out[cols], n_sims=n_sims, seconds=seconds, workers=workers)


def _analytic(design, comps, registry, effect, out, community, wave, level, se_only=False) -> list[float]:
    from ..spec.registry import start_years
    from .comparison import base_wave

    starts = start_years(registry)
    d = design.data
    n = d.groupby([d[community].astype(str), d[wave].astype(float)]).size()
    waves = sorted(n.index.get_level_values(1).unique())
    controls = [c for c, v in starts.items() if v is None]
    K = len(controls)
    dfs = design_dfs(design, community)
    df_k = comparison_design_df(dfs, controls)
    res = []
    for c, t in zip(out[community], out[wave]):
        b = base_wave(int(starts[str(c)]), waves)
        m_t = float(np.mean([n.get((str(c), float(b)), comps.m), n.get((str(c), float(t)), comps.m)]))
        se = float(np.sqrt(did_variance(comps, K, m_treated=m_t)))
        res.append(se if se_only else did_power(effect, comps, K, m_treated=m_t, level=level,
                                                shock_pairs=gap_pairs(waves, b, t), n_waves=len(waves),
                                                df_treated=max(dfs.get(str(c), 1), 1), df_comparison=df_k))
    return res
