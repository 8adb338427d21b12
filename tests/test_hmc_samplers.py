"""Samplers of boltzkit.hmc against independent truths (spec §7.2-7.7, issue 4 point 8).

Statistical tolerances: 4 standard errors, where the standard error comes from the effective
sample size of the same draws (mean: sd/√ESS_x; variance of a Gaussian: √(2/ESS_{x²})). Seeds are
fixed, so every test is deterministic.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from boltzkit import hmc

METHODS = ["hmc", "lahmc", "ct_hmc", "mjhmc"]


def _state_at(tr: hmc.Trace, t: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Each chain's state at time t (jump samplers), read from the trajectory with numpy."""
    x, tau = tr.weighted()
    ends = np.cumsum(tau, axis=1)
    assert np.all(ends[:, -1] > t), "run more jumps"
    k = np.array([np.searchsorted(e, t, side="right") for e in ends])
    return np.asarray(x[np.arange(x.shape[0]), k], dtype=np.float64)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dim", [1, 2, 10])
def test_gaussian_moments_within_ess_bounds(method: Any, dim: int) -> None:
    target = hmc.GaussianAniso(dim=dim, log10_cond=2)
    tr = hmc.sample(
        target, method=method, n_samples=20_000, n_chains=8, step_size=0.3, n_leapfrog=10, beta=0.1, x0="exact", seed=11
    )
    x = tr.draws
    var = target.variance()
    ess_x, ess_x2 = tr.ess("x"), tr.ess("x2")
    assert np.all(ess_x > 100) and np.all(ess_x2 > 100), (ess_x, ess_x2)
    mean = x.mean(axis=(0, 1))
    assert np.all(np.abs(mean) < 4 * np.sqrt(var / ess_x)), (mean, var, ess_x)
    vhat = (x**2).mean(axis=(0, 1))
    assert np.all(np.abs(vhat / var - 1) < 4 * np.sqrt(2 / ess_x2)), (vhat / var, ess_x2)


@pytest.mark.parametrize("method", ["ct_hmc", "mjhmc"])
def test_time_weighted_moments(method: Any) -> None:
    # the time-weighted trajectory (no grid) estimates the same moments
    target = hmc.GaussianAniso(dim=2, log10_cond=1)
    tr = hmc.sample(target, method=method, n_samples=40_000, n_chains=8, step_size=0.4, n_leapfrog=8, x0="exact", seed=5)
    ess_x2 = tr.ess("x2")
    assert np.all(np.abs(tr.var() / target.variance() - 1) < 4 * np.sqrt(2 / ess_x2))


def _ks_start(target: hmc.BuiltinTarget, method: Any, k: int, cdf: Any) -> float:
    n = 10_000
    if method in ("hmc", "lahmc"):
        tr = hmc.sample(target, method=method, n_samples=k, n_chains=n, step_size=0.5, n_leapfrog=10, x0="exact", seed=k)
        x1 = tr.records[:, -1, 0]
    else:
        tr = hmc.sample(target, method=method, n_samples=3 * k + 60, n_chains=n, step_size=0.5, n_leapfrog=10, x0="exact", seed=k)
        x1 = _state_at(tr, float(k))[:, 0]
    return float(stats.kstest(x1, cdf).pvalue)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k", [1, 10, 100])
def test_stationarity_from_exact_starts(method: Any, k: int) -> None:
    g = hmc.GaussianAniso(dim=2, log10_cond=1)
    p = _ks_start(g, method, k, stats.norm(scale=math.sqrt(g.variance()[0])).cdf)
    assert p > 1e-3, p
    # a non-Gaussian marginal: the bimodal target's x_1 is ½N(−1, ½) + ½N(1, ½)
    b = hmc.Bimodal(dim=2, sep=1.0)
    s = math.sqrt(0.5)
    p = _ks_start(b, method, k, lambda x: 0.5 * (stats.norm.cdf(x, -1, s) + stats.norm.cdf(x, 1, s)))
    assert p > 1e-3, p


def test_lahmc_with_one_look_ahead_is_hmc_draw_for_draw() -> None:
    t = hmc.RoughWell(dim=2)
    kw: dict[str, Any] = {"n_samples": 500, "n_chains": 4, "step_size": 1.0, "n_leapfrog": 10, "beta": 0.1, "seed": 3}
    a = hmc.sample(t, method="hmc", **kw)
    b = hmc.sample(t, method="lahmc", look_ahead=1, **kw)
    np.testing.assert_array_equal(a.draws, b.draws)
    np.testing.assert_array_equal(a.n_grad, b.n_grad)


def test_cache_on_off_gives_the_same_moves() -> None:
    t = hmc.GaussianAniso(dim=3, log10_cond=2)
    kw: dict[str, Any] = {"method": "mjhmc", "n_samples": 3000, "n_chains": 4, "step_size": 0.3, "n_leapfrog": 8, "seed": 9}
    a = hmc.sample(t, cache=True, **kw)
    b = hmc.sample(t, cache=False, **kw)
    np.testing.assert_array_equal(a.moves, b.moves)
    # leapfrog is reversible only to round-off: the cached L⁻¹(Lz) = z differs in the last bits
    np.testing.assert_allclose(a.records, b.records, rtol=0, atol=1e-9)
    assert np.all(a.n_grad < b.n_grad)
    assert np.all(b.n_grad == 2 * 8 * 3000)


@pytest.mark.parametrize("method", METHODS)
def test_same_output_for_one_and_two_threads(method: Any) -> None:
    t = hmc.Funnel(dim=4)
    kw: dict[str, Any] = {"method": method, "n_samples": 300, "n_chains": 7, "step_size": 0.2, "n_leapfrog": 5, "seed": 1}
    a = hmc.sample(t, threads=1, **kw)
    b = hmc.sample(t, threads=2, **kw)
    np.testing.assert_array_equal(a.records, b.records)
    np.testing.assert_array_equal(a.moves, b.moves)
    np.testing.assert_array_equal(a.n_grad, b.n_grad)
    if a.tau is not None:
        assert b.tau is not None
        np.testing.assert_array_equal(a.tau, b.tau)


@pytest.mark.parametrize("method", METHODS)
def test_python_callback_reproduces_the_builtin(method: Any) -> None:
    # the batched lock-step driver (one Python call per leapfrog step) gives the same bits
    t = hmc.RoughWell(dim=3, a=10.0)
    calls: list[int] = []

    def energy_grad(x: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[Any, Any]:
        calls.append(x.shape[0])
        return t.energy_grad(x)

    def logdensity(x: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[Any, Any]:
        e, g = t.energy_grad(x)
        return -e, -g

    kw: dict[str, Any] = {"method": method, "n_samples": 200, "n_chains": 5, "step_size": 0.5, "n_leapfrog": 4, "seed": 2}
    a = hmc.sample(t, **kw)
    b = hmc.sample(energy_grad, x0=a.records[:, 0] * 0 + np.linspace(-1, 1, 15).reshape(5, 3), **kw)
    c = hmc.sample(t, x0=np.linspace(-1, 1, 15).reshape(5, 3), **kw)
    d = hmc.sample(logdensity=logdensity, x0=np.linspace(-1, 1, 15).reshape(5, 3), **kw)
    np.testing.assert_array_equal(b.records, c.records)
    np.testing.assert_array_equal(d.records, c.records)
    np.testing.assert_array_equal(b.n_grad, c.n_grad)
    # one call per leapfrog step for all chains that need it: never more rows than 2 per chain
    assert max(calls) <= 10 and len(calls) < 5 * 200 * 4 * 2


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("eps", "n_leapfrog", "n_samples"), [(0.9, 7, 150), (2.5, 600, 12)])
@pytest.mark.parametrize("unit_metric", [True, False])
def test_per_chain_driver_reproduces_the_batched_one(
    method: Any, eps: float, n_leapfrog: int, n_samples: int, unit_metric: bool
) -> None:
    # d = 12 runs chain by chain, the diagonal Gaussian through its fused trajectory kernel (which
    # reads each start where it lies and skips the per-step checks; ε = 2.5 with 600 steps
    # overflows on the stiff coordinates, so trajectories diverge and are redone the checked way);
    # the Python callable runs the lock-step driver with the plain leapfrog: the same bits
    t = hmc.GaussianAniso(dim=12, log10_cond=2.0)
    x0 = t.exact_sample(4, seed=3)
    minv = None if unit_metric else np.linspace(0.5, 1.5, 12)
    kw: dict[str, Any] = {"method": method, "n_samples": n_samples, "n_chains": 4, "step_size": eps,
                          "n_leapfrog": n_leapfrog, "seed": 4, "x0": x0, "inverse_mass_matrix": minv}  # fmt: skip
    a = hmc.sample(t, **kw)
    b = hmc.sample(t.energy_grad, dim=12, **kw)
    np.testing.assert_array_equal(a.records, b.records)
    np.testing.assert_array_equal(a.moves, b.moves)
    np.testing.assert_array_equal(a.energy, b.energy)
    np.testing.assert_array_equal(a.n_grad, b.n_grad)
    if eps > 2:
        # the divergent case did diverge (H = +inf: acceptance statistic 0)
        assert np.any(a.accept == 0.0)


def test_gradient_counts_hmc() -> None:
    tr = hmc.sample(hmc.GaussianAniso(dim=3, log10_cond=1), method="hmc", n_samples=250, n_chains=3, step_size=0.1, n_leapfrog=7)
    assert np.all(tr.n_grad == 7 * 250)
    assert tr.grads_per_draw == 7.0


def _rough_well_moments(a: float, b: float) -> tuple[float, float]:
    """E[x²] and Var[x²] of one rough-well coordinate by quadrature."""

    def w(x: float) -> float:
        return math.exp(-(x * x) / (2 * a * a) - math.cos(2 * math.pi * x / b))

    lim = 12 * a
    pts = list(np.arange(-lim, lim + b, b))
    z = integrate.quad(w, -lim, lim, points=pts[:50], limit=2000)[0]
    m2 = integrate.quad(lambda x: x * x * w(x), -lim, lim, limit=2000)[0] / z
    m4 = integrate.quad(lambda x: x**4 * w(x), -lim, lim, limit=2000)[0] / z
    return m2, m4 - m2 * m2


@pytest.mark.parametrize("method", METHODS)
def test_rough_well_variance_against_quadrature(method: Any) -> None:
    t = hmc.RoughWell(dim=2, a=10.0, b=4.0)
    m2, v2 = _rough_well_moments(10.0, 4.0)
    tr = hmc.sample(t, method=method, n_samples=20_000, n_chains=8, step_size=1.0, n_leapfrog=10, x0="exact", seed=4)
    x2 = (tr.draws**2).mean(axis=(0, 1))
    se = np.sqrt(v2 / tr.ess("x2"))
    assert np.all(np.abs(x2 - m2) < 4 * se), (x2, m2, se)


@pytest.mark.parametrize("method", METHODS)
def test_product_of_t_quantiles(method: Any) -> None:
    # W = I: x_j ~ Student-t(ν_j). ν < 4 makes x² heavy-tailed, so test quantiles: the fraction
    # of draws below the q-quantile is q, with standard error √(q(1−q)/ESS) of the indicator.
    t = hmc.ProductOfT(dim=4, seed=1)
    assert t.nu is not None
    tr = hmc.sample(t, method=method, n_samples=10_000, n_chains=8, step_size=0.5, n_leapfrog=5, x0="exact", seed=8)
    x = tr.draws
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        cut = stats.t.ppf(q, t.nu)
        ind = (x < cut).astype(np.float64)
        frac = ind.mean(axis=(0, 1))
        e = hmc.ess(ind)
        assert np.all(np.abs(frac - q) < 4 * np.sqrt(q * (1 - q) / e)), (q, frac, e)


def test_warmup_adapts_step_size_and_metric() -> None:
    t = hmc.GaussianAniso(dim=5, log10_cond=2)
    tr = hmc.sample(t, method="hmc", n_samples=1000, n_chains=8, n_leapfrog=10, beta=1.0, warmup=600, target_accept=0.8, seed=3)
    # the diagonal metric is the variance (regularised), within sampling error of the windows
    ratio = tr.inverse_mass_matrix / t.variance()
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio
    # dual averaging hits 0.8 on average during warm-up; the final averaged step size is a bit
    # smaller and the acceptance of a unit Gaussian with 10 steps is very flat near ε ≈ 1
    assert 0.6 < tr.accept.mean() < 0.98, tr.accept.mean()
    assert 0.5 < tr.step_size < 1.5, tr.step_size
    assert np.all(tr.n_grad_warmup > 0) and np.all(tr.n_grad == 10 * 1000)
    # after warm-up every coordinate mixes about equally well
    e = tr.ess("x")
    assert e.min() > 0.2 * e.max()


def test_arviz_export_and_ess_agree() -> None:
    pytest.importorskip("arviz_base")
    array_stats: Any = importlib.import_module("arviz_stats.base").array_stats

    tr = hmc.sample(hmc.GaussianAniso(dim=2, log10_cond=1), method="hmc", n_samples=500, n_chains=4, step_size=0.5, seed=1)
    dt = tr.to_arviz()
    x = np.asarray(dt["posterior"]["x"].values)
    np.testing.assert_array_equal(x, tr.draws)
    ours = tr.ess("x")
    theirs = np.asarray(array_stats.ess(np.moveaxis(tr.draws, 2, 0), method="mean"))
    np.testing.assert_allclose(ours, theirs, rtol=1e-8)
