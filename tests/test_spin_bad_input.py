"""Bad input to boltzkit.spin gives a clear exception naming the argument; nothing panics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sps
from hypothesis import given, settings
from hypothesis import strategies as st

import boltzkit.spin as sp
from boltzkit import BoltzkitError, InvalidArgumentError, InvalidTypeError, _core
from boltzkit.spin import SpinModel, phase

GOOD = np.array([[0.0, 1.0, -0.5], [1.0, 0.0, 0.2], [-0.5, 0.2, 0.0]])
M = SpinModel(GOOD)


def _no_panic(fn: Any) -> None:
    try:
        fn()
    except BoltzkitError:
        pass
    except BaseException as e:  # pyo3's PanicException derives from BaseException
        if type(e).__name__ == "PanicException":
            pytest.fail(f"Rust panic crossed the FFI: {e}")
        raise


@pytest.mark.parametrize(
    ("call", "exc", "arg"),
    [
        (lambda: SpinModel(np.zeros((3, 2))), InvalidArgumentError, "J"),
        (lambda: SpinModel(np.zeros(3)), InvalidArgumentError, "J"),
        (lambda: SpinModel(np.zeros((0, 0))), InvalidArgumentError, "J"),
        (lambda: SpinModel(GOOD + np.triu(np.ones((3, 3)), 1)), InvalidArgumentError, "symmetric"),
        (lambda: SpinModel(np.where(GOOD == 1.0, np.nan, GOOD)), InvalidArgumentError, "J"),
        (lambda: SpinModel(np.where(GOOD == 1.0, np.inf, GOOD)), InvalidArgumentError, "J"),
        (lambda: SpinModel(GOOD + np.eye(3)), InvalidArgumentError, "diagonal"),
        (lambda: SpinModel(sps.csr_array(GOOD + np.eye(3))), InvalidArgumentError, "diagonal"),
        (lambda: SpinModel(sps.csr_array(np.triu(GOOD))), InvalidArgumentError, "symmetric"),
        (lambda: SpinModel(GOOD, [1.0, 2.0]), InvalidArgumentError, "h"),
        (lambda: SpinModel(GOOD, [1.0, np.nan, 2.0]), InvalidArgumentError, "h"),
        (lambda: SpinModel(GOOD, dtype=np.int32), InvalidTypeError, "dtype"),  # type: ignore[arg-type]
        (lambda: SpinModel([["a", "b"], ["c", "d"]]), InvalidTypeError, "J"),
        (lambda: M.energy([1, 0, 1]), InvalidArgumentError, "spins must be -1 or \\+1"),
        (lambda: M.energy([1, 1]), InvalidArgumentError, "states"),
        (lambda: M.energy([[1.5, 1, 1]]), InvalidArgumentError, "states"),
        (lambda: M.energy(np.array(["a", "b", "c"])), InvalidTypeError, "states"),
        (lambda: M.anneal(0), InvalidArgumentError, "num_reads"),
        (lambda: M.anneal(2, 0), InvalidArgumentError, "num_sweeps"),
        (lambda: M.anneal(2, schedule=[]), InvalidArgumentError, "schedule"),
        (lambda: M.anneal(2, schedule=[1.0, -1.0]), InvalidArgumentError, "schedule"),
        (lambda: M.anneal(2, schedule=[np.nan]), InvalidArgumentError, "schedule"),
        (lambda: M.anneal(2, schedule="cosine"), InvalidArgumentError, "schedule"),  # type: ignore[arg-type]
        (lambda: M.anneal(2, beta_range=(-1.0, 2.0)), InvalidArgumentError, "beta_range"),
        (lambda: M.anneal(2, beta_range=(0.0, 2.0)), InvalidArgumentError, "beta_range"),
        (lambda: M.anneal(2, proposal="gibbs"), InvalidArgumentError, "proposal"),  # type: ignore[arg-type]
        (lambda: M.anneal(2, order="zigzag"), InvalidArgumentError, "order"),  # type: ignore[arg-type]
        (lambda: M.anneal(2, kernel="layered"), InvalidArgumentError, "kernel"),
        (lambda: M.anneal(2, initial_states=[[1, 1, 1]]), InvalidArgumentError, "initial_states"),
        (lambda: M.anneal(2, seed=-1), InvalidArgumentError, "seed"),
        (lambda: M.anneal(2, seed=1.5), InvalidTypeError, "seed"),  # type: ignore[arg-type]
        (lambda: M.anneal(2, threads=0), InvalidArgumentError, "threads"),
        (lambda: M.tempering([]), InvalidArgumentError, "betas"),
        (lambda: M.tempering([1.0, -0.5]), InvalidArgumentError, "betas"),
        (lambda: M.tempering([1.0], thin=0), InvalidArgumentError, "thin"),
        (
            lambda: M.tempering([1.0], 10**7, record_states=True, n_sets=200),
            InvalidArgumentError,
            "^(record_states|num_sweeps): ",
        ),
        (lambda: M.tap(0.0), InvalidArgumentError, "T"),
        (lambda: M.tap(-1.0), InvalidArgumentError, "T"),
        (lambda: M.tap([]), InvalidArgumentError, "T"),
        (lambda: M.tap(1.0, damping=0.0), InvalidArgumentError, "damping"),
        (lambda: M.tap(1.0, init=[[2.0, 0, 0]]), InvalidArgumentError, "init"),
        (lambda: M.tap(1.0, init="hot"), InvalidArgumentError, "init"),  # type: ignore[arg-type]
        (lambda: M.tap(1.0, tol=0.0), InvalidArgumentError, "tol"),
        (lambda: M.enumerate_exact([]), InvalidArgumentError, "betas"),
        (lambda: M.enumerate_exact([np.inf]), InvalidArgumentError, "betas"),
        (lambda: sp.sk(27).enumerate_exact(), InvalidArgumentError, "n"),
        (lambda: sp.sk(23).enumerate_exact(overlap_distribution=True), InvalidArgumentError, "overlap"),
        (lambda: M.descend([[1, 1]]), InvalidArgumentError, "states"),
        (lambda: SpinModel.from_layers([]), InvalidArgumentError, "weights"),
        (lambda: SpinModel.from_layers([np.ones((3, 2)), np.ones((2, 4))]), InvalidArgumentError, "weights\\[1\\]"),
        (lambda: SpinModel.from_layers([np.ones((3, 2))], [np.ones(2)]), InvalidArgumentError, "biases\\[0\\]"),
        (lambda: SpinModel.from_layers([np.full((3, 2), np.nan)]), InvalidArgumentError, "weights\\[0\\]"),
        (lambda: sp.fit_mpf(np.zeros((10, 3))), InvalidArgumentError, "data"),
        (lambda: sp.fit_mpf(np.ones((10, 3)), spins="binary"), InvalidArgumentError, "spins"),  # type: ignore[arg-type]
        (lambda: sp.fit_mpf(np.ones((10, 3)), l2=-1.0), InvalidArgumentError, "l2"),
        (lambda: sp.fit_mpf(np.ones((0, 3))), InvalidArgumentError, "data"),
        (lambda: sp.fit_exact_ml(np.ones((10, 21))), InvalidArgumentError, "data"),
        (lambda: phase.tc_layered_theory([10], 1.0), InvalidArgumentError, "widths"),
        (lambda: phase.fit_power_law([1, 2], [1, 2]), InvalidArgumentError, "window"),
        (lambda: phase.hidden_order([1.0, 2.0], [1.0]), InvalidArgumentError, "v"),
        (lambda: sp.lattice_2d(2), InvalidArgumentError, "L"),
        (lambda: sp.layered_sk([5]), InvalidArgumentError, "widths"),
        # zero temperature (β = ∞) and negative / non-finite temperatures everywhere a temperature enters
        (lambda: M.anneal(2, schedule=[np.inf]), InvalidArgumentError, "schedule"),
        (lambda: M.anneal(2, beta_range=(0.1, np.inf)), InvalidArgumentError, "beta_range"),
        (lambda: M.anneal(2, beta_range=(np.nan, 1.0)), InvalidArgumentError, "beta_range"),
        (lambda: M.tempering([np.inf]), InvalidArgumentError, "betas"),
        (lambda: M.tempering([np.nan]), InvalidArgumentError, "betas"),
        (lambda: M.enumerate_exact([-1.0]), InvalidArgumentError, "betas"),
        (lambda: M.tap(np.nan), InvalidArgumentError, "T"),
        (lambda: M.tap(np.inf), InvalidArgumentError, "T"),
        (lambda: M.tap_free_energy([0.0, 0.0, 0.0], 0.0), InvalidArgumentError, "T"),
        (lambda: M.tap_free_energy([2.0, 0.0, 0.0], 1.0), InvalidArgumentError, "m"),
        (lambda: phase.tap_hessian_scan(M, [0.0, 1.0]), InvalidArgumentError, "T"),
        # spins not in {-1, +1} wherever states enter
        (lambda: M.descend([[1, 0, 1]]), InvalidArgumentError, "spins must be -1 or \\+1"),
        (lambda: M.anneal(2, initial_states=[[1, 0, 1], [1, 1, 1]]), InvalidArgumentError, "initial_states"),
        (lambda: sp.fit_mpf(np.array([[1, 2, 1], [1, 1, 1]])), InvalidArgumentError, "data"),
        (lambda: sp.fit_pseudolikelihood(np.array([[1, 0, 1], [1, 1, 1]])), InvalidArgumentError, "data"),
        # non-finite fields, non-square converters, sizes
        (lambda: SpinModel(GOOD, [np.inf, 0.0, 0.0]), InvalidArgumentError, "h"),
        (lambda: SpinModel.from_qubo(np.zeros((2, 3))), InvalidArgumentError, "Q"),
        (lambda: sp.sk(0), InvalidArgumentError, "n"),
        (lambda: SpinModel(np.zeros((27, 27))).enumerate_exact(), InvalidArgumentError, "n"),
    ],
)
def test_clear_errors(call: Any, exc: type[Exception], arg: str) -> None:
    with pytest.raises(exc, match=arg):
        call()


def test_the_binding_checks_what_python_would() -> None:
    """Direct calls of the compiled functions with inconsistent arrays fail cleanly too."""
    j = np.ascontiguousarray(GOOD)
    h = np.zeros(3)
    s = np.ones((2, 3), dtype=np.int8)
    for spec in [
        ("dense", np.zeros((2, 2)), h),
        ("dense", j + np.eye(3), h),
        ("dense", j + np.triu(np.ones((3, 3)), 1), h),
        ("csr", np.array([0, 1, 2, 3]), np.array([5, 0, 0]), np.ones(3), h),
        ("csr", np.array([0, 1, 2]), np.array([1, 0]), np.ones(2), h),
        ("csr", np.array([0, 1, 2, 3]), np.array([-1, 0, 0]), np.ones(3), h),
        ("layered", [2, 2], [np.ones((3, 2))], np.zeros(4)),
        ("layered", [2, 0], [np.ones((0, 2))], np.zeros(2)),
        ("nonsense", j, h),
    ]:
        with pytest.raises((InvalidArgumentError, TypeError, ValueError)):
            _core.spin_energies(spec, s)
    with pytest.raises(InvalidArgumentError, match="spins"):
        _core.spin_energies(("dense", j, h), np.zeros((1, 3), dtype=np.int8))
    with pytest.raises(InvalidArgumentError, match="num_sweeps_per_beta"):
        _core.spin_anneal(("dense", j, h), np.ones(3), 0, 1, "metropolis", "sequential", None, 0, False)
    with pytest.raises(InvalidArgumentError, match="diagonal"):
        _core.spin_fit_objective(s, j + np.eye(3), h, "mpf")
    with pytest.raises(InvalidArgumentError, match="m"):
        _core.spin_tap_free_energy(("dense", j, h), np.full(3, np.nan), 1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=0, max_size=40),
    st.lists(st.integers(-2, 2), min_size=0, max_size=12),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_random_inputs_never_panic(n: int, vals: list[float], spins: list[int], beta: float) -> None:
    a = np.resize(np.array([*vals, 0.0]), (n, n))
    _no_panic(lambda: SpinModel(a))
    c = np.clip(np.nan_to_num(a), -1e100, 1e100)  # larger magnitudes are refused (energies² must stay finite)
    m = SpinModel(np.triu(c, 1) + np.triu(c, 1).T)
    st_ = np.resize(np.array([*spins, 1]), (2, n))
    _no_panic(lambda: m.energy(st_))
    _no_panic(lambda: m.anneal(2, schedule=[beta, 1.0]))
    _no_panic(lambda: m.tempering([beta], 5))
    _no_panic(lambda: m.tap(beta, warn=False))
    _no_panic(lambda: m.enumerate_exact([beta]))
    _no_panic(lambda: m.descend(st_))
    _no_panic(lambda: sp.fit_mpf(st_, maxiter=3))
