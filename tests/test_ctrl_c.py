"""Ctrl-C stops every call that can run longer than a second, within a second.

Each call below would run for minutes (bounded memory); SIGINT arrives 0.5 s in and the call must
raise ``KeyboardInterrupt`` within a second of it: the GIL is released around the core, which
polls a cancellation flag set by the signal watcher, and Python-side loops check signals between
steps. Python's own SIGINT handler is installed for each test, since a shell that starts pytest in
the background ignores SIGINT.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from boltzkit import fpentropy as fp
from boltzkit import hmc, mlp
from boltzkit import spin as sp


def _interrupt_after(seconds: float, call: Callable[[], object]) -> float:
    """Seconds from the SIGINT to the KeyboardInterrupt."""
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    old = signal.signal(signal.SIGINT, signal.default_int_handler)  # in case SIGINT is ignored
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, old)
    return time.perf_counter() - t0 - seconds


def _gauss(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    return 0.5 * np.sum(x * x, axis=1), x.copy()


class _SlowNorm(stats.rv_continuous):
    """A law known to scipy only through Python callbacks (pdf, cdf): every evaluation is Python."""

    def _pdf(self, x: Any) -> Any:  # type: ignore[override]
        time.sleep(0.5)  # an expensive user density: the whole computation takes minutes
        return np.asarray(np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi))

    def _cdf(self, x: Any) -> Any:  # type: ignore[override]
        return np.asarray(stats.norm.cdf(x))


_BIG_SK = sp.sk(2000, seed=0)
_MID_SK = sp.sk(400, seed=0)
_WIDE = mlp.random_mlp([256] * 5, act="relu", seed=0)
_DATA = np.sign(np.random.default_rng(0).standard_normal((20_000, 400)))

# every one of these runs for minutes uninterrupted
LONG: dict[str, Callable[[], object]] = {
    "spin.anneal": lambda: _BIG_SK.anneal(64, 10**6, seed=0, threads=1),
    "spin.tempering": lambda: _MID_SK.tempering(np.linspace(0.2, 2.0, 16), 10**7, thin=1000, threads=1),
    "spin.tap": lambda: _MID_SK.tap(np.linspace(0.2, 2.0, 64), n_starts=64, max_iter=5000, tol=1e-300, threads=1, warn=False),
    "spin.enumerate_exact": lambda: sp.sk(26, seed=0).enumerate_exact(np.linspace(0.1, 2.0, 64), threads=1),
    "spin.fit_mpf": lambda: sp.fit_mpf(_DATA, maxiter=50, gtol=0.0, threads=1),
    "mlp.monte_carlo": lambda: _WIDE.monte_carlo(n_samples=2**22, threads=1),
    "mlp.tail_probability[is]": lambda: _WIDE.tail_probability(threshold=2.0, method="is", neuron=0, n_samples=2**22, threads=1),
    "hmc.sample[native]": lambda: hmc.sample(
        hmc.GaussianAniso(50),
        method="hmc",
        n_samples=10**5,
        n_chains=4,
        step_size=0.1,
        n_leapfrog=50_000,
        threads=1,
        progress=False,
    ),
    "hmc.sample[callback]": lambda: hmc.sample(
        logdensity=_gauss, dim=2, method="hmc", n_samples=10**5, n_chains=2, step_size=0.1, n_leapfrog=1000, progress=False
    ),
    "fpentropy.entropy[callbacks]": lambda: fp.entropy(_SlowNorm(name="slownorm")(), "float32", native=False, threads=1),
    "fpentropy.entropy_vs_scale": lambda: fp.entropy_vs_scale(stats.t(2.5), "float32", np.logspace(-30, 30, 10_000), threads=1),
}


@pytest.mark.parametrize("name", sorted(LONG))
def test_ctrl_c_stops_a_long_call_within_a_second(name: str) -> None:
    late = _interrupt_after(0.5, LONG[name])
    assert late < 1.0, f"{name}: KeyboardInterrupt came {late:.2f} s after SIGINT"
