"""Bad input to boltzkit.hmc gives a clear exception naming the argument, never a panic or a hang
(issue 4 point 9); a user callable's own exception is re-raised; Ctrl-C stops a run."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boltzkit import BoltzkitError, ComputationError, InvalidArgumentError, InvalidTypeError, hmc

G = hmc.GaussianAniso(dim=2, log10_cond=1)


def _ok(x: Any) -> tuple[Any, Any]:
    return 0.5 * (x**2).sum(axis=1), x


def _no_panic(fn: Any) -> None:
    try:
        fn()
    except BoltzkitError:
        pass
    except BaseException as e:  # pyo3's PanicException derives from BaseException
        if type(e).__name__ == "PanicException":
            pytest.fail(f"Rust panic crossed the FFI: {e}")
        raise


BASE: dict[str, Any] = {"n_samples": 5, "n_chains": 2, "step_size": 0.1}


@pytest.mark.parametrize(
    ("kwargs", "exc", "arg"),
    [
        ({"step_size": 0.0}, InvalidArgumentError, "step_size"),
        ({"step_size": -1.0}, InvalidArgumentError, "step_size"),
        ({"step_size": float("nan")}, InvalidArgumentError, "step_size"),
        ({"step_size": None, "warmup": 0}, InvalidArgumentError, "step_size"),
        ({"step_size": "big"}, InvalidTypeError, "step_size"),
        ({"n_leapfrog": 0}, InvalidArgumentError, "n_leapfrog"),
        ({"n_leapfrog": 2.5}, InvalidTypeError, "n_leapfrog"),
        ({"method": "hmc", "beta": 0.0}, InvalidArgumentError, "beta"),
        ({"method": "hmc", "beta": 1.5}, InvalidArgumentError, "beta"),
        ({"method": "lahmc", "beta": -0.1}, InvalidArgumentError, "beta"),
        ({"method": "mjhmc", "beta": 1.0}, InvalidArgumentError, "beta"),
        ({"method": "mjhmc", "beta": 0.1, "refresh_rate": 0.1}, InvalidArgumentError, "refresh_rate"),
        ({"method": "mjhmc", "refresh_rate": -1.0}, InvalidArgumentError, "refresh_rate"),
        ({"method": "hmc", "refresh_rate": 0.1}, InvalidArgumentError, "refresh_rate"),
        ({"method": "bogus"}, InvalidArgumentError, "method"),
        ({"method": "nuts", "max_tree_depth": 0}, InvalidArgumentError, "max_tree_depth"),
        ({"method": "hmc", "metric": "dense"}, InvalidArgumentError, "metric"),
        ({"metric": "full"}, InvalidArgumentError, "metric"),
        ({"method": "hmc", "save_warmup": True}, InvalidArgumentError, "save_warmup"),
        ({"look_ahead": 0}, InvalidArgumentError, "look_ahead"),
        ({"n_samples": 0}, InvalidArgumentError, "n_samples"),
        ({"n_chains": 0}, InvalidArgumentError, "n_chains"),
        ({"warmup": -1}, InvalidArgumentError, "warmup"),
        ({"warmup": 10, "target_accept": 1.0}, InvalidArgumentError, "target_accept"),
        ({"thin": 0}, InvalidArgumentError, "thin"),
        ({"method": "mjhmc", "thin": 2}, InvalidArgumentError, "thin"),
        ({"seed": -1}, InvalidArgumentError, "seed"),
        ({"threads": 0}, InvalidArgumentError, "threads"),
        ({"x0": np.zeros((3, 2))}, InvalidArgumentError, "x0"),
        ({"x0": np.zeros((2, 3))}, InvalidArgumentError, "x0"),
        ({"x0": np.array([[0.0, np.nan], [0.0, 0.0]])}, InvalidArgumentError, "x0"),
        ({"x0": np.array([np.inf, 0.0])}, InvalidArgumentError, "x0"),
        ({"x0": "random"}, InvalidArgumentError, "x0"),
        ({"inverse_mass_matrix": np.ones(3)}, InvalidArgumentError, "inverse_mass_matrix"),
        ({"inverse_mass_matrix": np.array([1.0, -1.0])}, InvalidArgumentError, "inverse_mass_matrix"),
        ({"inverse_mass_matrix": np.array([[1.0, 2.0], [2.0, 1.0]])}, InvalidArgumentError, "inverse_mass_matrix"),
        ({"inverse_mass_matrix": np.array([[1.0, 0.5], [0.0, 1.0]])}, InvalidArgumentError, "inverse_mass_matrix"),
        ({"inverse_mass_matrix": np.array([[1.0, 0.5], [0.5, 1.0]]), "warmup": 30}, InvalidArgumentError, "inverse_mass_matrix"),
    ],
)
def test_clear_errors(kwargs: dict[str, Any], exc: type[Exception], arg: str) -> None:
    with pytest.raises(exc, match=arg):
        hmc.sample(G, **{**BASE, **kwargs})


@pytest.mark.parametrize(
    ("make", "arg"),
    [
        (lambda: hmc.GaussianAniso(dim=0), "dim"),
        (lambda: hmc.GaussianDense(np.array([[1.0, 2.0], [2.0, 1.0]])), "precision"),
        (lambda: hmc.GaussianDense(np.ones((2, 3))), "precision"),
        (lambda: hmc.RoughWell(a=-1.0), "a"),
        (lambda: hmc.RoughWell(b=np.inf), "b"),
        (lambda: hmc.ProductOfT(dim=3, nu=[1.0, -1.0, 2.0]), "nu"),
        (lambda: hmc.ProductOfT(dim=3, nu=[1.0, 2.0]), "nu"),
        (lambda: hmc.ProductOfT(dim=3, w=np.ones((2, 4))), "w"),
        (lambda: hmc.Funnel(dim=1), "dim"),
        (lambda: hmc.Bimodal(sep=np.nan), "sep"),
        (lambda: hmc.LogisticRegression(np.ones((3, 2)), np.array([0.0, 1.0])), "y"),
        (lambda: hmc.LogisticRegression(np.ones((3, 2)), np.array([0.0, 1.0, 0.5])), "y"),
        (lambda: hmc.LogisticRegression(np.ones((3, 2)), np.array([0.0, 1.0, 1.0]), prior_scale=0.0), "prior_scale"),
        # found by the long fuzz run: a subnormal scale made 1/s² overflow and the energy at 0 NaN
        (lambda: hmc.LogisticRegression(np.ones((3, 2)), np.array([0.0, 1.0, 1.0]), prior_scale=5e-324), "prior_scale"),
    ],
)
def test_bad_targets(make: Any, arg: str) -> None:
    with pytest.raises(InvalidArgumentError, match=arg):
        make()


def test_target_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="target"):
        hmc.sample(None, **BASE)
    with pytest.raises(InvalidTypeError, match="target"):
        hmc.sample(3, **BASE)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="logdensity"):
        hmc.sample(G, logdensity=_ok, **BASE)
    with pytest.raises(InvalidArgumentError, match="x0"):
        hmc.sample(_ok, **BASE)  # dimension unknown
    with pytest.raises(InvalidArgumentError, match="x0"):
        hmc.sample(hmc.LogisticRegression(np.ones((3, 2)), np.array([0.0, 1.0, 1.0])), x0="exact", **BASE)
    with pytest.raises(InvalidArgumentError, match="x"):
        G.energy_grad(np.zeros((4, 3)))


class _Boom(Exception):
    pass


def _raising(x: Any) -> Any:
    raise _Boom("user energy exploded")


@pytest.mark.parametrize(
    ("fn", "exc", "match"),
    [
        (_raising, _Boom, "user energy exploded"),
        (lambda x: (np.zeros(x.shape[0] + 1), x), InvalidArgumentError, "target: returned shapes"),
        (lambda x: (np.zeros(x.shape[0]), x[:, :1]), InvalidArgumentError, "target: returned shapes"),
        (lambda x: np.zeros(x.shape[0]), InvalidArgumentError, "target: must return a pair"),
        # NaN or infinite values are divergences, not errors; at the start they are a bad x0
        (lambda x: (np.full(x.shape[0], np.nan), x), InvalidArgumentError, "x0"),
        (lambda x: (np.full(x.shape[0], -np.inf), x), InvalidArgumentError, "x0"),
        (lambda x: ("a", "b"), InvalidArgumentError, "not an array"),
        (lambda x: (np.full(x.shape[0], np.inf), x), InvalidArgumentError, "x0"),
    ],
)
@pytest.mark.parametrize("method", ["nuts", "hmc", "mjhmc"])
def test_bad_callbacks(fn: Any, exc: type[Exception], match: str, method: Any) -> None:
    with pytest.raises(exc, match=match):
        hmc.sample(fn, method=method, x0=np.zeros((3, 2)), **{**BASE, "n_chains": 3})


def test_callback_failing_mid_run_is_re_raised() -> None:
    n = {"calls": 0}

    def flaky(x: Any) -> tuple[Any, Any]:
        n["calls"] += 1
        if n["calls"] > 20:
            raise _Boom("late failure")
        return _ok(x)

    with pytest.raises(_Boom, match="late failure"):
        hmc.sample(flaky, method="lahmc", x0=np.zeros(2), n_samples=100, n_chains=3, step_size=0.1)


def test_a_jump_sampler_without_moves_is_a_computation_error() -> None:
    # both trajectories diverge (energy +inf away from 0) and no refresh: every rate is zero
    def wall(x: Any) -> tuple[Any, Any]:
        e = np.where(np.abs(x).max(axis=1) < 1e-9, 0.0, np.inf)
        return e, np.zeros_like(x)

    with pytest.raises(ComputationError, match="stuck"):
        hmc.sample(wall, method="mjhmc", refresh_rate=0.0, x0=np.zeros((2, 2)), n_samples=3, n_chains=2, step_size=1.0)


def test_ctrl_c_stops_within_a_second() -> None:
    # a run that would take minutes; SIGINT after 0.5 s must raise KeyboardInterrupt promptly
    # (bounded memory: ~2e10 gradients but only 1e5 draws; Python's own SIGINT handler is installed
    # for the test, since a shell that starts pytest in the background ignores SIGINT)
    t = hmc.GaussianAniso(dim=50, log10_cond=1)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            hmc.sample(t, method="mjhmc", n_samples=10**5, n_chains=4, step_size=0.1, n_leapfrog=50_000, threads=1)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, old)
    assert time.perf_counter() - t0 < 10.0


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(["hmc", "lahmc", "ct_hmc", "mjhmc"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-2, 50),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=4),
)
def test_random_arguments_never_panic(method: Any, eps: float, m: int, beta: float, x0: list[float]) -> None:
    def call() -> None:
        hmc.sample(
            hmc.Funnel(dim=2),
            method=method,
            step_size=eps,
            n_leapfrog=m,
            beta=beta,
            x0=np.array(x0) if x0 else None,
            n_samples=3,
            n_chains=2,
        )

    _no_panic(call)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=12), st.integers(1, 4))
def test_random_diagnostic_input_never_panics(vals: list[float], chains: int) -> None:
    x = np.resize(np.array(vals), (chains, max(1, len(vals) // chains)))
    _no_panic(lambda: hmc.ess(x))
    _no_panic(lambda: hmc.autocorrelation(x))


def test_records_too_large_for_memory_are_refused_before_running() -> None:
    # 10^12 records of 100 chains could never be held: refused up front (before any sampling,
    # which would otherwise run for hours), naming n_samples
    with pytest.raises(InvalidArgumentError, match=r"^n_samples: .*GiB"):
        hmc.sample(G, method="mjhmc", n_samples=10**12, n_chains=100, step_size=0.1, seed=0)
    # the core's own guard (reached directly through the bindings): an error, not an abort
    from boltzkit import _core

    run = _core.HmcRun(G._native, "hmc", np.zeros((2, 2)), 0.1, 2, 0.5, 0.0, 1, True, 1, None, 0)
    run.init()
    with pytest.raises(InvalidArgumentError, match=r"^n_samples: "):
        run.reserve(2**62)


def test_nuts_trees_are_checked_against_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # with 1 GB to use, the records and the other state of 10 chains in dimension 3e5 fit
    # (≈ 0.6 GB); the trees (12 nodes of 8 vectors per chain, ≈ 2.8 GB) do not
    monkeypatch.setattr("boltzkit._validate.memory_limit", lambda: 1e9)
    with pytest.raises(InvalidArgumentError, match=r"^n_chains: .*NUTS trees"):
        hmc.sample(lambda x: (0.5 * (x**2).sum(1), x), dim=300_000, n_chains=10, n_samples=1, warmup=0, step_size=0.1)
