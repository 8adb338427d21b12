"""Issue 14 ("trust at the edges") for boltzkit.spin: sizes bounded before work, scale-aware results,
named errors for every bad argument, semantic mistakes warned about or refused."""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
import pytest

from boltzkit import spin as sp
from boltzkit.errors import ComputationError, InvalidArgumentError, InvalidTypeError
from boltzkit.spin import phase


def _two(a: float) -> sp.SpinModel:
    return sp.SpinModel([[0.0, a], [a, 0.0]])


def _fast(call: Any, exc: type[Exception], pattern: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(exc, match=pattern):
        call()
    assert time.perf_counter() - t0 < 2.0


# ------------------------------------------------------------------ sizes before work


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: sp.sk(10**6), r"^n: .*memory"),
        (lambda: sp.curie_weiss(10**6), r"^n: .*memory"),
        (lambda: sp.chain(10**6), r"^n: .*memory"),
        (lambda: sp.lattice_2d(10**6), r"^L: .*memory"),
        (lambda: sp.layered_sk([10**6, 10**6]), r"^widths: .*memory"),
        (lambda: sp.sk(5).anneal(num_reads=2**40), r"^num_reads: .*steps"),
        (lambda: sp.sk(5).anneal(2, num_sweeps_per_beta=2**62), r"^num_sweeps_per_beta: .*steps"),
        (lambda: sp.sk(5).anneal(2, num_sweeps=2**62), r"^num_sweeps: .*steps"),
        (lambda: sp.sk(5).tempering([0.5, 1.0], 10, burn_in=10**12), r"^burn_in: .*steps"),
        (lambda: sp.sk(5).tempering([0.5, 1.0], 10**13), r"^num_sweeps: .*steps"),
        (lambda: sp.sk(5).tap(1.0, max_iter=10**15), r"^max_iter: .*steps"),
        (lambda: sp.sk(20).enumerate_exact(np.ones(10**7)), r"^betas: .*steps"),
        (lambda: phase.tc_glass(sp.sk(5), max_iter=10**15), r"^max_iter: .*steps"),
        (lambda: sp.SpinModel.from_ising({0: 1.0}, {(0, 2**40): 1.0}), r"^J: .*memory"),
        (lambda: sp.SpinModel.from_qubo({(0, 2**40): 1.0}), r"^Q: .*memory"),
        (lambda: sp.beta_schedule((0.1, 1.0), 2**62), r"^num_betas: .*memory"),
    ],
)
def test_sizes_refused_before_work(call: Any, pattern: str) -> None:
    _fast(call, InvalidArgumentError, pattern)


# ------------------------------------------------------------------ scale-aware results


@pytest.mark.parametrize("a", [3.0, 1e100, -1e100, 1e-100, 1e-250])
def test_tc_glass_is_homogeneous_closed_form(a: float) -> None:
    # J∘J of two spins is [[0, a²], [a², 0]]: λ_Perron = a², so T_c = |a| (1e100 used to give 0.0)
    assert phase.tc_glass(_two(a)) == pytest.approx(abs(a), rel=1e-9)


def test_huge_couplings_refused_with_a_named_error() -> None:
    for bad in (1e155, 1e308):
        with pytest.raises(InvalidArgumentError, match=r"^J: .*between"):
            _two(bad)
    with pytest.raises(InvalidArgumentError, match=r"^h: "):
        sp.SpinModel(np.zeros((2, 2)), [1e200, 0.0])
    with pytest.raises(InvalidArgumentError, match=r"^scale: "):
        sp.SpinModel.from_layers([np.ones((2, 2))], scale=1e300)


@pytest.mark.parametrize("a", [1e90, 1e-200])
def test_default_beta_range_scales_like_one_over_j(a: float) -> None:
    # square lattice, J = 1: λ_max = 4, σ = 2 -> (1/8, ln(1e4)/2) (closed forms); J = a scales β by 1/a
    hot, cold = sp.lattice_2d(8, J=a).default_beta_range()
    assert hot == pytest.approx(0.125 / a, rel=1e-3)
    assert cold == pytest.approx(math.log(1e4) / 2 / a, rel=2e-3)
    assert 0 < hot < cold and math.isfinite(cold)


def test_tap_paramagnet_of_tiny_couplings_closed_form() -> None:
    # naive mean field at m = 0: F = -n T ln 2, any coupling scale (T/J = 2 is paramagnetic)
    for a in (1e-200, 1.0, 1e90):
        r = _two(a).tap(2 * a, init="zeros", onsager=False, warn=False)
        assert bool(r.converged.all())
        assert float(r.free_energy[0, 0]) == pytest.approx(-2 * 2 * a * math.log(2), rel=1e-12)


# ------------------------------------------------------------------ one error convention


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (lambda: phase.tc_glass(sp.sk(4), max_iter=-1), InvalidArgumentError, r"^max_iter: must be an int between 1 and"),
        (lambda: sp.sk(4).tap(1.0, max_iter=2**64), InvalidArgumentError, r"^max_iter: must be an int between"),
        (lambda: sp.batch_means(0.0), InvalidArgumentError, r"^x: "),
        (lambda: sp.batch_means(np.ones(40), axis=3), InvalidArgumentError, r"^axis: "),
        (lambda: sp.batch_means(np.ones(40), n_batches=0), InvalidArgumentError, r"^n_batches: "),
        (lambda: sp.sk(4).anneal(True), InvalidTypeError, r"^num_reads: "),
        (lambda: sp.sk(4).anneal(2, trace=1), InvalidTypeError, r"^trace: "),  # type: ignore[arg-type]
        (lambda: sp.sk(4).anneal(2, seed=-1), InvalidArgumentError, r"^seed: "),
        (lambda: sp.sk(4).anneal(2, seed=2**64), InvalidArgumentError, r"^seed: "),
        (lambda: sp.sk(4).anneal(2, proposal="x"), InvalidArgumentError, r"^proposal: "),  # type: ignore[arg-type]
        (lambda: sp.sk(4).tempering([1.0], 10, record_states=1), InvalidTypeError, r"^record_states: "),  # type: ignore[arg-type]
        (lambda: sp.sk(4).tempering([1.0], 10, n_sets=2**40), InvalidArgumentError, r"^n_sets: "),
        (lambda: sp.sk(4).tap(1.0, onsager=1), InvalidTypeError, r"^onsager: "),  # type: ignore[arg-type]
        (lambda: sp.sk(4).tap(1.0, damping=2.0), InvalidArgumentError, r"^damping: "),
        (lambda: sp.sk(4).tap_free_energy(np.zeros(4), float("nan")), InvalidArgumentError, r"^T: "),
        (lambda: sp.sk(4).enumerate_exact(correlations=1), InvalidTypeError, r"^correlations: "),  # type: ignore[arg-type]
        (lambda: sp.sk(4).enumerate_exact("hot"), InvalidTypeError, r"^betas: "),
        (lambda: sp.SpinModel(np.zeros((2, 2), dtype=complex)), InvalidTypeError, r"^J: "),
        (lambda: sp.SpinModel([[0.0, np.nan], [np.nan, 0.0]]), InvalidArgumentError, r"^J: "),
        (lambda: sp.SpinModel([[0.0, 1.0], [2.0, 0.0]]), InvalidArgumentError, r"^J: must be symmetric"),
        (lambda: sp.SpinModel(np.zeros((2, 2)), offset="1"), InvalidTypeError, r"^offset: "),  # type: ignore[arg-type]
        (lambda: sp.SpinModel.from_ising({"a": 1.0}, np.zeros((1, 1))), InvalidArgumentError, r"^J: "),
        (lambda: sp.SpinModel.from_ising({"a": 1.0}, {}, n=3), InvalidArgumentError, r"^n: "),
        (lambda: sp.SpinModel.from_ising({0: 1.0}, {}, variable_order=[1]), InvalidArgumentError, r"^variable_order: "),
        (lambda: sp.SpinModel.from_bqm({"a": 1.0}), InvalidTypeError, r"^bqm: .*from_ising"),  # type: ignore[arg-type]
        (lambda: sp.SpinModel(np.zeros((2, 2)), labels=["a", "a"]), InvalidArgumentError, r"^labels: .*distinct"),
        (lambda: sp.SpinModel(np.zeros((2, 2)), labels=["a"]), InvalidArgumentError, r"^labels: expected 2"),
        (lambda: sp.SpinModel(np.zeros((2, 2)), labels=[[1], 2]), InvalidTypeError, r"^labels: .*hashable"),  # type: ignore[list-item]
        (lambda: sp.SpinModel(np.zeros((2, 2)), labels="ab"), InvalidTypeError, r"^labels: "),
        (lambda: sp.SpinModel.from_ising({}, {}, storage="sparse"), InvalidArgumentError, r"^storage: "),  # type: ignore[arg-type]
        (lambda: sp.sk(3).to_qubo("coo"), InvalidArgumentError, r"^format: "),  # type: ignore[call-overload]
        (lambda: sp.SpinModel.from_qubo(np.eye(2), offset=1j), InvalidTypeError, r"^offset: "),  # type: ignore[arg-type]
        (lambda: sp.sk(4, J0=float("inf")), InvalidArgumentError, r"^J0: "),
        (lambda: sp.chain(5, periodic=1), InvalidTypeError, r"^periodic: "),  # type: ignore[arg-type]
        (lambda: sp.layered_sk([3, 3], variances=-1.0), InvalidArgumentError, r"^variances: "),
        (lambda: phase.tc_layered_theory([3, True], 1.0), InvalidTypeError, r"^widths\[1\]: "),
        (lambda: phase.bond_spectrum(sp.sk(4), k=0), InvalidArgumentError, r"^k: "),
        (lambda: sp.fit_mpf(np.ones((4, 3)), maxiter=2**64), InvalidArgumentError, r"^maxiter: "),
        (lambda: sp.fit_mpf(np.ones((4, 3)), all_flip=1), InvalidTypeError, r"^all_flip: "),  # type: ignore[arg-type]
    ],
)
def test_named_errors(call: Any, exc: type[Exception], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        call()


def test_core_size_errors_name_the_argument() -> None:
    # the core's own measurement bound (2^28) reports the public argument first
    with pytest.raises(InvalidArgumentError, match=r"^num_sweeps: "):
        sp.sk(3).tempering([1.0], 3 * 10**8, n_sets=1)


# ------------------------------------------------------------------ semantic mistakes


def test_reversed_beta_range_is_swapped_with_a_warning() -> None:
    m = sp.sk(6, seed=0)
    with pytest.warns(UserWarning, match=r"^beta_range: .*swapped"):
        r = m.anneal(2, 40, beta_range=(5.0, 0.1), seed=0)
    np.testing.assert_allclose(r.betas, np.geomspace(0.1, 5.0, 40))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = m.anneal(2, 40, beta_range=(0.1, 5.0), seed=0)
    np.testing.assert_array_equal(ok.states, r.states)


def test_beta_range_with_explicit_schedule_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^beta_range: "):
        sp.sk(4).anneal(2, schedule=[0.1, 1.0], beta_range=(0.1, 1.0))


def test_unsorted_tempering_ladder_refused_sorted_either_way_accepted() -> None:
    m = sp.sk(6, seed=0)
    with pytest.raises(InvalidArgumentError, match=r"^betas: .*sorted"):
        m.tempering([1.0, 0.1, 2.0], 10)
    up = m.tempering([0.1, 1.0, 2.0], 20, seed=1)
    down = m.tempering([2.0, 1.0, 0.1], 20, seed=1)
    assert up.swap_acceptance.shape == down.swap_acceptance.shape == (2,)


def test_reversed_fit_window_is_swapped_with_a_warning() -> None:
    t = np.arange(1.0, 9.0)
    y = 3.0 * t**1.5
    with pytest.warns(UserWarning, match=r"^window: "):
        f = phase.fit_power_law(t, y, window=(8.0, 2.0))
    assert f.exponent == pytest.approx(1.5, rel=1e-12)
    assert f.prefactor == pytest.approx(3.0, rel=1e-12)


def test_power_law_prefactor_beyond_the_float_range_is_an_error() -> None:
    # found by the long fuzz run: t ~ 1e300, y ~ 1e300 with no trend gave prefactor = inf
    rng = np.random.default_rng(0)
    t = rng.uniform(1e299, 1e301, 6)
    y = rng.uniform(1e299, 1e301, 6)
    f = phase.fit_power_law(t / t.max(), y)  # rescaled: A is finite
    assert math.isfinite(f.prefactor) and f.prefactor > 0
    ok = phase.fit_power_law(t, 1e300 / t)  # y = A t^-1 with A = 1e300: representable
    assert ok.exponent == pytest.approx(-1.0, rel=1e-9) and ok.prefactor == pytest.approx(1e300, rel=1e-6)
    with pytest.raises(InvalidArgumentError, match=r"^t: the fitted prefactor"):
        phase.fit_power_law(t, 1e300 / (t / 1e300))  # y = 1e600 / t: A = 1e600 is not a float


def test_enumeration_refuses_betas_beyond_the_coupling_scale() -> None:
    # β·J = 1e200 used to give heat_capacity = nan; now refused up front, and 2 spins at β·J = 1e100
    # stay exact: C = β² Var E = 0 in the ground states' limit, ln Z = βJ + ln 2
    m = _two(1.0)
    with pytest.raises(InvalidArgumentError, match=r"^betas: "):
        m.enumerate_exact([1e200])
    r = m.enumerate_exact([1e100])
    assert r.ln_z[0] == pytest.approx(1e100 + math.log(2), rel=1e-12)
    assert np.isfinite(r.heat_capacity).all()


def test_binder_is_nan_only_where_m_is_always_zero() -> None:
    # an antiferromagnetic pair at low T: m = 0 in (almost) every measurement; binder nan or finite, never a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = _two(-1.0).tempering([5.0, 10.0], 50, seed=0).binder()
    assert b.shape == (2,)
    assert np.all(np.isnan(b) | np.isfinite(b))


def test_tap_hessian_scan_is_scale_free() -> None:
    # A(T) = diag(1 + d/T²) − J/T is homogeneous of degree 0 in (J, T): at couplings of 1e-170
    # (J² used to underflow to 0) the critical temperatures scale exactly with J
    m = sp.sk(20, seed=3)
    t = np.linspace(0.5, 2.0, 12)
    ref = phase.tap_hessian_scan(m, t)
    tiny = phase.tap_hessian_scan(sp.SpinModel(m.J * 1e-170), t * 1e-170)
    assert tiny.T_glass == pytest.approx(ref.T_glass * 1e-170, rel=1e-6)
    np.testing.assert_allclose(tiny.lambda_min, ref.lambda_min * 1e-170, rtol=1e-9, atol=1e-182)  # T·A(T) scales as T
    tiny_b, ref_b = (phase.tap_hessian_scan(mm, tt, form="beta") for mm, tt in ((sp.SpinModel(m.J * 1e-170), t * 1e-170), (m, t)))
    assert tiny_b.T_glass == pytest.approx(ref_b.T_glass * 1e-170, rel=1e-6)
    np.testing.assert_allclose(tiny_b.lambda_min, ref_b.lambda_min, rtol=1e-9, atol=1e-12)
    with pytest.raises(InvalidArgumentError, match=r"^T: "):
        phase.tap_hessian_scan(m, [1e300])


def test_load_npz_errors_name_path(tmp_path: Any) -> None:
    with pytest.raises(InvalidTypeError, match=r"^path: "):
        sp.nn.load_npz(1 + 2j)  # type: ignore[arg-type]
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(InvalidArgumentError, match=r"^path: "):
        sp.nn.load_npz(empty)
    with pytest.raises(InvalidArgumentError, match=r"^test_fraction: "):
        sp.nn.load_npz(empty, test_fraction=1.0)


def test_sparse_tempering_ladder_warns() -> None:
    # Curie-Weiss n = 40, J0 = 1: between β = 0.05 and β = 5 the energies differ by ~n/2, so a swap
    # is accepted with probability about exp(-5 · 20) ≈ 0: the run cannot mix and says so
    m = sp.curie_weiss(40, J0=1.0)
    with pytest.warns(RuntimeWarning, match=r"^tempering: swaps between betas\[0\]"):
        m.tempering([0.05, 5.0], 200, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.tempering(np.linspace(0.8, 1.2, 4), 200, seed=0)


def test_phase_functions_name_model_for_bad_matrices_and_helpers_validate() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^model: J: "):
        phase.tc_glass([[0.0, 1.0], [2.0, 0.0]])
    with pytest.raises(InvalidTypeError, match=r"^truth: "):
        sp.coupling_rmse(sp.sk(3), "x")  # type: ignore[arg-type]
    assert sp.coupling_rmse(sp.SpinModel([[0.0]]), sp.SpinModel([[0.0]])) == 0.0
    r = _two(1.0).tap([2.0, 1.5], init="zeros", warn=False)
    with pytest.raises(InvalidArgumentError, match=r"^k: "):
        r.best(5)


def test_beta_schedule_reversed_range_warns_and_runs_hot_to_cold() -> None:
    with pytest.warns(UserWarning, match=r"^beta_range: "):
        b = sp.beta_schedule((4.0, 0.5), 4)
    np.testing.assert_allclose(b, [0.5, 1.0, 2.0, 4.0])
    with pytest.raises(InvalidArgumentError, match=r"^schedule: "):
        sp.beta_schedule((0.5, 4.0), 4, "cubic")  # type: ignore[arg-type]


@pytest.mark.parametrize("a", [1e50, 1e-50])
def test_float32_storage_out_of_range_falls_back_to_float64(a: float) -> None:
    # two spins coupled ferromagnetically: the ground energy is -a (float32 made it inf or 0)
    with pytest.warns(UserWarning, match=r"^dtype: "):
        m = sp.SpinModel([[0.0, a], [a, 0.0]], dtype=np.float32)
    assert m.dtype == np.float64
    r = m.anneal(2, 50, seed=0)
    assert r.best_energy == pytest.approx(-a, rel=1e-12)


def test_hidden_order_of_huge_vectors_closed_form() -> None:
    # parallel vectors overlap 1, orthogonal 0, at any scale (|m|² used to overflow to inf -> nan)
    v = np.array([3.0, -4.0, 0.0, 1.0])
    assert phase.hidden_order(v * 1e300, v * 1e-300) == pytest.approx(1.0, rel=1e-15)
    assert phase.hidden_order(np.array([1e300, 0.0]), np.array([0.0, 1e300])) == 0.0


def test_enumeration_never_returns_probabilities_that_do_not_sum_to_one() -> None:
    # ±J lattice at β·|J| ≈ 3e99: the weights of degenerate ground states lose all precision
    base = sp.lattice_2d(3, kind="pm_j", seed=2)
    m = sp.SpinModel(base.to_csr() * 1e99, base.h * 1e99)
    try:
        r = m.enumerate_exact([2.9], overlap_distribution=True)
    except ComputationError as e:
        assert str(e).startswith("enumerate_exact: ")
    else:
        np.testing.assert_allclose(r.pq.sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.parametrize("scale", [1e300, 1e-300, 2.0**-1070])
def test_batch_means_is_homogeneous_at_the_ends_of_the_float_range(scale: float) -> None:
    """Found by the long fuzz run: x ~ 1e300 gave an infinite standard error (squares overflow).
    Mean and standard error scale with x; the truth is the same data at scale 1, in mpmath-free
    closed form (the batch means of a known sequence)."""
    x = np.tile([1.0, -0.5, 2.0, 0.25], 10)  # 40 samples, 20 batches of 2: batch means 0.25 / 1.125
    m1, s1 = sp.batch_means(x)
    bm = np.tile([0.25, 1.125], 10)
    assert m1 == pytest.approx(x.mean(), rel=1e-15)
    assert s1 == pytest.approx(bm.std(ddof=1) / math.sqrt(20), rel=1e-15)
    m, s = sp.batch_means(x * scale)
    assert np.isfinite(m) and np.isfinite(s) and s > 0
    assert m == pytest.approx(m1 * scale, rel=1e-12 if scale > 1e-300 else 1e-3)
    assert s == pytest.approx(s1 * scale, rel=1e-12 if scale > 1e-300 else 1e-3)
