"""Diagnostics of boltzkit.hmc against ArviZ, numpy and theory (spec §6, issue 4 point 4)."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from boltzkit import hmc

F = np.ndarray[Any, np.dtype[np.float64]]


def ar1(n_chains: int, n: int, phi: float, seed: int) -> F:
    rng = np.random.default_rng(seed)
    x = np.empty((n_chains, n))
    x[:, 0] = rng.standard_normal(n_chains)
    z = rng.standard_normal((n_chains, n)) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + z[:, t]
    return x


@pytest.mark.parametrize(
    ("phi", "n_chains", "n"), [(0.0, 4, 1000), (0.5, 4, 2000), (0.9, 8, 5000), (0.99, 4, 20000), (-0.6, 2, 999)]
)
def test_ess_matches_arviz_on_ar1(phi: float, n_chains: int, n: int) -> None:
    array_stats: Any = importlib.import_module("arviz_stats.base").array_stats

    x = ar1(n_chains, n, phi, seed=int(1000 * abs(phi)) + n)
    ours = float(hmc.ess(x)[0])
    theirs = float(array_stats.ess(x, method="mean"))
    assert abs(ours / theirs - 1) < 0.02, (ours, theirs)
    # and both agree with the AR(1) integrated time (1 + φ)/(1 − φ) within sampling error
    expect = n_chains * n * (1 - phi) / (1 + phi)
    assert abs(ours / expect - 1) < 0.35, (ours, expect)


def test_ess_of_several_coordinates_and_squares() -> None:
    x = np.stack([ar1(4, 3000, 0.3, 1), ar1(4, 3000, 0.8, 2)], axis=2)
    e = hmc.ess(x)
    assert e.shape == (2,) and e[0] > e[1]
    array_stats: Any = importlib.import_module("arviz_stats.base").array_stats

    e2 = hmc.ess(x, square=True)
    ref = [float(array_stats.ess(x[:, :, i] ** 2, method="mean")) for i in range(2)]
    np.testing.assert_allclose(e2, ref, rtol=1e-8)


def test_autocorrelation_against_direct_sums() -> None:
    x = ar1(3, 400, 0.7, 5) + 2.0  # a non-zero mean: it must be subtracted
    rho = hmc.autocorrelation(x, max_lag=50)[0]
    y = x - x.mean()
    direct = np.array([(y[:, : 400 - k] * y[:, k:]).sum() for k in range(51)])
    np.testing.assert_allclose(rho, direct / direct[0], atol=1e-12)


def test_grid_against_numpy() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 50, 2))
    tau = rng.exponential(1.0, (3, 50))
    dt = 0.37
    tr = hmc.Trace(
        method="mjhmc",
        records=x,
        tau=tau,
        moves=np.ones((3, 50), dtype=np.uint8),
        accept=np.ones((3, 50)),
        energy=np.zeros((3, 50)),
        n_grad=np.full(3, 100),
        n_grad_warmup=np.zeros(3, dtype=np.int64),
        step_size=1.0,
        n_leapfrog=1,
        beta=0.1,
        refresh_rate=0.05,
        look_ahead=1,
        inverse_mass_matrix=np.ones(2),
        seed=0,
        wall_time=0.0,
    )
    g = tr.on_grid(dt)
    n_grid = int(np.floor(tau.sum(axis=1).min() / dt))
    assert g.shape == (3, n_grid, 2)
    for c in range(3):
        ends = np.cumsum(tau[c])
        for j in range(n_grid):
            k = np.searchsorted(ends, (j + 0.5) * dt, side="right")
            np.testing.assert_array_equal(g[c, j], x[c, k])
    # cost per grid draw: total gradients / total time × dt, not divided by the truncated grid
    assert tr.grads_per_draw == pytest.approx(300 / tau.sum() * tau.mean())


def test_grads_to_autocorr_interpolates() -> None:
    from boltzkit.hmc import _first_crossing

    assert _first_crossing(np.array([1.0, 0.8, 0.4, 0.1]), 0.5) == pytest.approx(1.75)
    assert np.isnan(_first_crossing(np.array([1.0, 0.9]), 0.5))
