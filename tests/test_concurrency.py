"""Reproducibility and resource behaviour of every seeded (or threaded) API, all modules.

- the same seed gives bit-identical results at 1, 2 and 4 rayon threads;
- calls made at once from several Python threads equal the same calls made one after another
  (the core keeps no shared mutable state, and the GIL is released around it);
- memory stays flat over 1,000 calls, valid ones and ones that fail (with a Python- or a
  Rust-side error), so no buffer, error object or callback reference leaks per call.

Ctrl-C on long calls is tested in ``test_ctrl_c.py``.
"""

from __future__ import annotations

import dataclasses
import gc
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from boltzkit import fpentropy as fp
from boltzkit import hmc, mlp
from boltzkit import spin as sp
from boltzkit.errors import BoltzkitError

# names of result fields that measure time, not the computation
_CLOCK = ("seconds", "wall_time", "elapsed", "time_per")


def _values(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Every number and array a result holds, by dotted name (clock readings left out)."""
    out: dict[str, Any] = {}
    if isinstance(obj, np.ndarray | np.generic | float | int | bool | str) or obj is None:
        return {prefix: obj}
    if isinstance(obj, tuple | list):
        for i, v in enumerate(obj):
            out.update(_values(v, f"{prefix}[{i}]"))
        return out
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not any(c in str(k) for c in _CLOCK):
                out.update(_values(v, f"{prefix}.{k}"))
        return out
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if not any(c in f.name for c in _CLOCK):
                out.update(_values(getattr(obj, f.name), f"{prefix}.{f.name}"))
        return out
    if isinstance(obj, sp.SpinModel):
        return {prefix + ".J": obj.to_dense(), prefix + ".h": obj.h, prefix + ".offset": obj.offset}
    if isinstance(obj, mlp.MLP):
        return {f"{prefix}.W{i}": w for i, w in enumerate(obj.weights)}
    raise TypeError(f"test helper: no rule for {type(obj).__name__} at {prefix!r}")


def _assert_identical(a: Any, b: Any, what: str) -> None:
    va, vb = _values(a), _values(b)
    assert va.keys() == vb.keys(), what
    for k in va:
        x, y = va[k], vb[k]
        if isinstance(x, np.ndarray | np.generic | float):
            assert np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True), f"{what}: {k} differs"
        else:
            assert x == y, f"{what}: {k} differs ({x!r} vs {y!r})"


def _quad(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A Python callback target: energy and gradient of a standard Gaussian, rows are points."""
    return 0.5 * np.sum(x * x, axis=1), x.copy()


_SK = sp.sk(24, seed=3)
_LAYERED = sp.layered_sk([6, 5, 4], seed=2)
_NET = mlp.random_mlp([8, 16, 16, 1], act="tanh", seed=1)
_DATA = _SK.anneal(64, 50, seed=9).states

# every seeded or multithreaded API, each as threads -> result (small sizes: milliseconds each)
CASES: dict[str, Callable[[int, int], Any]] = {
    "fpentropy.entropy": lambda t, s: fp.entropy(stats.t(3.0 + s), "float16", threads=t),
    "fpentropy.empirical_entropy": lambda t, s: fp.empirical_entropy(np.random.default_rng(s).standard_normal(50_000), threads=t),
    "fpentropy.entropy_vs_scale": lambda t, s: fp.entropy_vs_scale(stats.norm(), "float8_e4m3fn", [0.5, 2.0 + s], threads=t),
    "hmc.sample[callback]": lambda t, s: hmc.sample(
        logdensity=_quad, dim=3, method="hmc", n_samples=60, n_chains=3, step_size=0.4, seed=s, threads=t
    ),
    "spin.sk": lambda t, s: sp.sk(16, seed=s),
    "spin.anneal": lambda t, s: _SK.anneal(8, 40, seed=s, threads=t),
    "spin.anneal[layered]": lambda t, s: _LAYERED.anneal(8, 40, kernel="layered", order="random", seed=s, threads=t),
    "spin.tempering": lambda t, s: _SK.tempering([0.3, 0.6, 1.0], 200, seed=s, threads=t),
    "spin.tap": lambda t, s: _SK.tap([2.0, 0.5], n_starts=3, seed=s, threads=t, warn=False),
    "spin.enumerate_exact": lambda t, s: sp.sk(14, seed=s).enumerate_exact([0.5, 1.0], threads=t),
    "spin.fit_mpf": lambda t, s: sp.fit_mpf(_DATA, maxiter=30, seed=s, threads=t),
    "spin.fit_pseudolikelihood": lambda t, s: sp.fit_pseudolikelihood(_DATA, maxiter=30, threads=t),
    "mlp.random_mlp": lambda t, s: mlp.random_mlp([4, 8, 1], seed=s),
    "mlp.monte_carlo": lambda t, s: _NET.monte_carlo(n_samples=8192, seed=s, threads=t),
    "mlp.tail_probability[mc]": lambda t, s: _NET.tail_probability(
        threshold=1.0, method="mc", neuron=0, n_samples=8192, seed=s, threads=t
    ),
    "mlp.tail_probability[is]": lambda t, s: _NET.tail_probability(
        threshold=0.8, method="is", neuron=0, n_samples=8192, seed=s, threads=t
    ),
}


def _hmc_case(method: Any) -> Callable[[int, int], Any]:
    return lambda t, s: hmc.sample(
        hmc.GaussianAniso(4), method=method, n_samples=80, n_chains=4, step_size=0.3, seed=s, threads=t
    )


for _m in hmc.METHODS:
    CASES[f"hmc.sample[{_m}]"] = _hmc_case(_m)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bit_identical_at_1_2_and_4_threads(name: str) -> None:
    call = CASES[name]
    ref = call(1, 5)
    for t in (2, 4):
        _assert_identical(ref, call(t, 5), f"{name}: threads=1 vs threads={t}")


def test_concurrent_python_threads_equal_sequential_calls() -> None:
    """Every API called from 4 Python threads at once (different seeds, mixed thread counts)
    gives what the same calls give one after another."""
    jobs = [(name, seed, 1 + seed % 2) for name in sorted(CASES) for seed in (1, 2)]
    sequential = [CASES[n](t, s) for n, s, t in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda j: CASES[j[0]](j[2], j[1]), jobs))
    for (n, s, t), a, b in zip(jobs, sequential, concurrent, strict=True):
        _assert_identical(a, b, f"{n} (seed {s}, threads {t}): concurrent vs sequential")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _raises(call: Callable[[], object], exc: type[BaseException] = BoltzkitError) -> Callable[[], None]:
    def run() -> None:
        try:
            call()
        except exc:
            return
        raise AssertionError(f"expected {exc.__name__}")

    return run


def _bad_callback(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    raise ValueError("user code failed")


def _bad_shape(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    return np.zeros(len(x) + 1), x


_SMALL = sp.sk(10, seed=1)
_TINY_NET = mlp.random_mlp([3, 4, 1], seed=2)
_HUGE_NET = mlp.MLP([np.full((2, 2), 1e200), np.ones((1, 2))])
_ARR = np.linspace(-3, 3, 257)
_CB = {"dim": 2, "method": "hmc", "n_samples": 5, "n_chains": 2, "step_size": 0.3}
LOOPS: dict[str, Callable[[], object]] = {
    "valid: fpentropy.quantize": lambda: fp.quantize(_ARR, "float8_e5m2"),
    "valid: fpentropy.entropy": lambda: fp.entropy(stats.norm(), "float8_e4m3fn"),
    "valid: hmc.sample[callback]": lambda: hmc.sample(logdensity=_quad, **_CB),  # type: ignore[arg-type]
    "valid: spin.anneal": lambda: _SMALL.anneal(2, 5, seed=0),
    "valid: mlp.monte_carlo": lambda: _TINY_NET.monte_carlo(n_samples=256),
    # refused in Python, at the boundary
    "failing: fpentropy.quantize[unknown format]": _raises(lambda: fp.quantize(_ARR, "float7")),  # type: ignore[arg-type]
    "failing: spin.anneal[beta_range]": _raises(lambda: _SMALL.anneal(2, 5, beta_range=(0.0, 0.0))),
    "failing: mlp.MLP[NaN weights]": _raises(lambda: mlp.MLP([np.full((2, 2), np.nan), np.ones((1, 2))])),
    # refused by the Rust core, after buffers were allocated and a callback was entered
    "failing in Rust: hmc.sample[callback shape]": _raises(lambda: hmc.sample(logdensity=_bad_shape, **_CB)),  # type: ignore[arg-type]
    "failing in Rust: mlp.monte_carlo[overflow]": _raises(lambda: _HUGE_NET.monte_carlo(n_samples=256)),
    # the user's exception passes through the core unchanged
    "failing callback: hmc.sample": _raises(lambda: hmc.sample(logdensity=_bad_callback, **_CB), ValueError),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_memory_stays_flat_over_1000_calls(name: str) -> None:
    call = LOOPS[name]
    for _ in range(200):  # warm-up: caches, allocator pools, first-call imports
        call()
    gc.collect()
    before = _rss()
    for _ in range(1000):
        call()
    gc.collect()
    grown = _rss() - before
    # a leak of even 4 KiB per call would show as 4 MB
    assert grown < 3 * 2**20, f"{name}: resident memory grew by {grown / 2**20:.1f} MiB over 1000 calls"
