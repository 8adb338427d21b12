"""Issue 14 ("trust at the edges") for boltzkit.hmc: sizes checked before work, no abort or panic,
named errors for every bad argument, bounded rejection loops, results checked."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

from boltzkit import ComputationError, InvalidArgumentError, InvalidTypeError, hmc

NAMED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*: ")


@pytest.fixture(scope="module")
def ct_trace() -> hmc.Trace:
    return hmc.sample(hmc.Funnel(5), method="ct_hmc", n_samples=43, n_chains=2, step_size=0.4, seed=1, progress=False)


@pytest.mark.parametrize("dt", [1e-9, 1e-100, 5e-324])
def test_on_grid_with_a_tiny_dt_is_refused_naming_dt(ct_trace: hmc.Trace, dt: float) -> None:
    # before: 1e-9 aborted the interpreter (a 772 GB allocation), 1e-100 a capacity-overflow panic
    with pytest.raises(InvalidArgumentError, match=r"^dt: .*(memory|fit)"):
        ct_trace.on_grid(dt)


def test_on_grid_reads_the_trajectory_at_the_midpoints() -> None:
    # independent truth: a hand-written piecewise-constant trajectory read at (j + 1/2) dt
    tr = hmc.Trace(
        method="ct_hmc",
        records=np.array([[[1.0], [2.0], [3.0]]]),
        tau=np.array([[0.5, 1.0, 0.7]]),
        moves=np.zeros((1, 3), np.uint8),
        accept=np.ones((1, 3)),
        energy=np.zeros((1, 3)),
        n_grad=np.zeros(1, np.int64),
        n_grad_warmup=np.zeros(1, np.int64),
        step_size=0.1,
        n_leapfrog=1,
        beta=None,
        refresh_rate=0.1,
        look_ahead=1,
        inverse_mass_matrix=np.ones(1),
        seed=0,
        wall_time=0.0,
    )
    # T = 2.2, dt = 0.5: 4 points at 0.25, 0.75, 1.25, 1.75 -> states 1, 2, 3, 3
    np.testing.assert_array_equal(tr.on_grid(0.5)[0, :, 0], [1.0, 2.0, 2.0, 3.0])


def test_memory_check_uses_the_address_space_limit() -> None:
    # before: n_chains=10**6 under a 4 GiB RLIMIT_AS aborted ("memory allocation of 75 bytes failed")
    code = textwrap.dedent(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
        from boltzkit import hmc, InvalidArgumentError
        try:
            hmc.sample(hmc.Funnel(5), method="ct_hmc", n_samples=43, n_chains=10**6, step_size=0.4, progress=False)
        except InvalidArgumentError as e:
            print("REFUSED", e)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("REFUSED n_"), r.stdout
    assert "memory" in r.stdout


def test_rough_well_with_a_degenerate_period_is_refused() -> None:
    # before: RoughWell(dim=1, b=5e-324).exact_sample(1) never returned (cos(inf) = NaN rejects all)
    with pytest.raises(InvalidArgumentError, match=r"^b: "):
        hmc.RoughWell(dim=1, b=5e-324)
    with pytest.raises(InvalidArgumentError, match=r"^b: "):
        hmc.RoughWell(dim=1, a=1e20, b=1.0)
    with pytest.raises(InvalidArgumentError, match=r"^a: "):
        hmc.RoughWell(dim=1, a=1e308)


def test_rough_well_exact_draws_match_the_marginal() -> None:
    # independent truth: the density ∝ exp(-x²/(2a²) - cos(2πx/b)) integrated by quadrature
    t = hmc.RoughWell(dim=1, a=2.0, b=1.5)
    x = t.exact_sample(20000, seed=3)[:, 0]
    grid = np.linspace(-20, 20, 400001)
    w = np.exp(-(grid**2) / 8 - np.cos(2 * np.pi * grid / 1.5))
    var = float((grid**2 * w).sum() / w.sum())
    assert abs(float(x.var()) - var) < 5 * var * math.sqrt(2 / x.size) * 2


@pytest.mark.parametrize(
    ("call", "name", "exc"),
    [
        (lambda: hmc.ess(np.ones((2, 10)), square=1), "square", InvalidTypeError),  # type: ignore[arg-type]
        (lambda: hmc.ess(np.ones((2, 10)), split="no"), "split", InvalidTypeError),  # type: ignore[arg-type]
        (lambda: hmc.autocorrelation(np.ones((3, 0))), "x", InvalidArgumentError),
        (lambda: hmc.autocorrelation(np.ones((2, 10)), max_lag=2**64), "max_lag", InvalidArgumentError),
        (lambda: hmc.autocorrelation(np.ones((2, 10)), square=1), "square", InvalidTypeError),  # type: ignore[arg-type]
        (lambda: hmc.ess(np.ones((2, 3))), "x", InvalidArgumentError),
        (lambda: hmc.ess(np.array([[1.0, np.nan, 2.0, 3.0, 4.0]])), "x", InvalidArgumentError),
        (lambda: hmc.ess(np.ones((2, 10), complex)), "x", InvalidTypeError),
        (lambda: hmc.ess("abc"), "x", InvalidTypeError),
        (lambda: hmc.sample(hmc.Funnel(3), warmup=2**64, step_size=0.1), "warmup", InvalidArgumentError),
        (lambda: hmc.sample(hmc.Funnel(3), seed=-1, step_size=0.1), "seed", InvalidArgumentError),
        (lambda: hmc.sample(hmc.Funnel(3), cache=1, step_size=0.1), "cache", InvalidTypeError),  # type: ignore[arg-type]
        (lambda: hmc.sample(hmc.Funnel(3), n_samples=10**12, n_chains=1000, step_size=0.1), "n_", InvalidArgumentError),
        (lambda: hmc.sample(hmc.Funnel(3), n_samples=10**9, n_leapfrog=10**5, step_size=0.1), "n_samples", InvalidArgumentError),
        (lambda: hmc.sample(hmc.Funnel(3), method=3, step_size=0.1), "method", InvalidTypeError),  # type: ignore[arg-type]
        (lambda: hmc.GaussianAniso(dim=2**63), "dim", InvalidArgumentError),
        (lambda: hmc.Funnel(3, sigma=1e308), "sigma", InvalidArgumentError),
        (lambda: hmc.Funnel(3).exact_sample(-1), "n", InvalidArgumentError),
        (lambda: hmc.Funnel(3).exact_sample(2**62), "n", InvalidArgumentError),
        (lambda: hmc.Funnel(3).exact_sample(2, seed=2**64), "seed", InvalidArgumentError),
        (lambda: hmc.Funnel(3).energy_grad(np.ones((2, 3), complex)), "x", InvalidTypeError),
        (lambda: hmc.ProductOfT(dim=2, b=[1e300, 0.0]), "b", InvalidArgumentError),
        (lambda: hmc.ProductOfT(dim=2, sparse=1), "sparse", InvalidTypeError),  # type: ignore[arg-type]
        (lambda: hmc.refresh_rate_from_beta(5e-324), "beta", InvalidArgumentError),
    ],
)
def test_bad_arguments_raise_named_errors(call: Any, name: str, exc: type[Exception]) -> None:
    with pytest.raises(exc) as info:
        call()
    assert str(info.value).startswith(name), str(info.value)
    assert NAMED.match(str(info.value)), str(info.value)
    assert "None" not in str(info.value) and "inf]" not in str(info.value)


def test_trace_methods_name_their_arguments(ct_trace: hmc.Trace) -> None:
    with pytest.raises(InvalidTypeError, match=r"^dt: "):
        ct_trace.on_grid("1")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"^quantity: "):
        ct_trace.autocorrelation(quantity="y")  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match=r"^level: "):
        ct_trace.grads_to_autocorr(level=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"^max_lag: "):
        ct_trace.autocorrelation(max_lag=-1)


def test_ess_is_scale_free_at_extreme_scales() -> None:
    # ESS does not depend on the units: 1e300 (squares would overflow) and 1e-300 give the same
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 200))
    ref = hmc.ess(x)
    for s in (2.0**900, 2.0**-900):
        np.testing.assert_allclose(hmc.ess(x * s), ref, rtol=1e-12)
        np.testing.assert_allclose(hmc.ess(x * s, square=True), hmc.ess(x, square=True), rtol=1e-12)
    # white noise: ESS close to the number of draws (independent truth)
    assert 250 < float(ref[0]) < 600


@pytest.mark.parametrize(
    ("kind", "exc"),
    [
        ("lists", None),
        ("shape", InvalidArgumentError),
        ("nan", InvalidArgumentError),
        ("scalar", InvalidArgumentError),
        ("object", InvalidArgumentError),
    ],
)
def test_misbehaving_callbacks_give_named_errors(kind: str, exc: type[Exception] | None) -> None:
    def f(x: Any) -> Any:
        e, g = 0.5 * (x**2).sum(axis=1), x
        return {
            "lists": (e.tolist(), g.tolist()),
            "shape": (e[:-1], g),
            "nan": (e * np.nan, g),
            "scalar": 1.0,
            "object": (np.array([object()] * len(e)), g),
        }[kind]

    def run() -> hmc.Trace:
        return hmc.sample(f, method="hmc", n_samples=5, n_chains=2, step_size=0.2, dim=2, progress=False)

    if exc is None:
        tr = run()
        assert np.isfinite(tr.records).all()
    else:
        with pytest.raises(exc, match=r"^(target|x0): "):
            run()


def test_callback_exception_is_reraised_unchanged() -> None:
    class Boom(Exception):
        pass

    def f(x: Any) -> Any:
        raise Boom("mine")

    with pytest.raises(Boom, match=r"^mine$"):
        hmc.sample(f, method="mjhmc", n_samples=5, n_chains=2, step_size=0.2, dim=2, progress=False)


def test_the_fuzz_entries_cover_every_public_name() -> None:
    from fuzz.fz_hmc import ENTRIES

    names = " ".join(e.name for e in ENTRIES)
    for public in ("GaussianAniso", "GaussianDense", "RoughWell", "ProductOfT", "Bimodal", "Funnel", "LogisticRegression"):
        assert public in names
    for fn in ("sample", "ess", "autocorrelation", "refresh_rate_from_beta", "Trace", "energy_grad", "exact_sample"):
        assert fn in names


def test_stuck_chain_is_a_computation_error_or_result() -> None:
    # an energy that is +inf everywhere but the start: every trajectory diverges
    def f(x: Any) -> Any:
        far = np.abs(x).max(axis=1) > 1e-12
        e = np.where(far, np.inf, 0.0)
        return e, np.zeros_like(x)

    try:
        tr = hmc.sample(
            f, method="mjhmc", n_samples=5, n_chains=1, step_size=0.5, refresh_rate=0.0, x0=np.zeros(2), progress=False
        )
    except ComputationError as e:
        assert str(e).startswith("step_size: ")
    else:
        assert np.isfinite(tr.records).all()


def test_warmup_that_adapts_nothing_warns() -> None:
    with pytest.warns(UserWarning, match=r"^warmup: "):
        hmc.sample(
            hmc.Funnel(3),
            method="hmc",
            n_samples=3,
            n_chains=1,
            step_size=0.1,
            warmup=3,
            adapt_step_size=False,
            adapt_metric=False,
            progress=False,
        )


def test_autocorrelation_of_an_alternating_chain_is_minus_one() -> None:
    # independent truth: x_t = (-1)^t has mean 0 over all chains; the biased lag-k autocovariance
    # is (-1)^k (n - k) / n
    n = 10
    x = np.array([[(-1.0) ** t for t in range(n)]])
    rho = hmc.autocorrelation(x, 3)[0]
    np.testing.assert_allclose(rho, [1.0, -(n - 1) / n, (n - 2) / n, -(n - 3) / n], atol=1e-12)


def test_a_trace_built_by_hand_is_validated(ct_trace: hmc.Trace) -> None:
    import dataclasses

    with pytest.raises(InvalidTypeError, match=r"^records: "):
        dataclasses.replace(ct_trace, records=ct_trace.records.astype(complex))
    with pytest.raises(InvalidArgumentError, match=r"^tau: "):
        dataclasses.replace(ct_trace, tau=ct_trace.tau[:, :-1] if ct_trace.tau is not None else None)
    # an int array is converted, not passed to the native code as is
    tr = dataclasses.replace(ct_trace, records=np.rint(ct_trace.records).astype(np.int64))
    assert tr.on_grid(0.5).dtype == np.float64


def test_trace_ess_of_too_few_draws_is_nan_with_a_warning() -> None:
    tr = hmc.sample(hmc.Funnel(3), method="hmc", n_samples=3, n_chains=2, step_size=0.1, progress=False)
    with pytest.warns(UserWarning, match=r"^ess: "):
        out = tr.ess()
    assert out.shape == (3,) and np.isnan(out).all()


def test_ctrl_c_interrupts_a_sleeping_callback() -> None:
    import os
    import signal
    import threading
    import time

    def slow(x: Any) -> Any:
        time.sleep(0.2)
        return 0.5 * (x**2).sum(axis=1), x

    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            hmc.sample(slow, method="mjhmc", n_samples=1000, n_chains=2, step_size=0.1, dim=2, progress=False)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, old)
    assert time.perf_counter() - t0 < 2.0


def test_on_grid_longer_than_the_run_warns(ct_trace: hmc.Trace) -> None:
    with pytest.warns(UserWarning, match=r"^dt: "):
        g = ct_trace.on_grid(1e300)
    assert g.shape == (2, 0, 5)


def test_product_of_t_with_a_singular_filter_has_no_exact_draws() -> None:
    t = hmc.ProductOfT(dim=2, w=[[1.0, 1.0], [1.0, 1.0]])
    assert not t.has_exact_sample
    with pytest.raises(ComputationError, match="invertible"):
        t.exact_sample(3)
    with pytest.raises(InvalidArgumentError, match=r"^x0: "):
        hmc.sample(t, method="hmc", n_samples=3, n_chains=1, step_size=0.1, x0="exact", progress=False)
    with pytest.raises(NotImplementedError):
        hmc.LogisticRegression(x=np.ones((3, 1)), y=np.array([0.0, 1.0, 1.0])).exact_sample(2)


def test_native_run_out_of_address_space_is_an_error_not_an_abort() -> None:
    # the Rust side alone (past the Python pre-check): the chains' state fits, their records do
    # not; before, a partial reservation left no memory and the next small allocation aborted
    code = textwrap.dedent(
        """
        import resource
        import numpy as np
        from boltzkit import _core, hmc
        t = hmc.Funnel(5)._native
        x0 = np.zeros((2 * 10**5, 5))
        used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        lim = used + 700 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        r = _core.HmcRun(t, "ct_hmc", x0, 0.4, 10, 0.5, 0.05, 1, True, 1, None, 0)
        r.init()
        try:
            r.reserve(10**4)
        except ValueError as e:
            print("REFUSED", e)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("REFUSED n_samples: "), r.stdout
