"""Annealing, tempering, greedy descent and the layered kernel against exact truths:
enumeration (N = 16–20), Onsager / Kaufman for the 2-D Ising model (L = 32), SK at high T.
Statistical tolerances are 4 standard errors (iid reads, or batch means over 20 batches)."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pytest
from test_spin_exact import kaufman_energy_per_spin

import boltzkit.spin as sp
from boltzkit.spin import SpinModel


def yang_magnetisation(t: float) -> float:
    return float((1 - math.sinh(2 / t) ** -4) ** 0.125)


@pytest.fixture(scope="module")
def sk_instances() -> list[tuple[SpinModel, float]]:
    out = []
    for seed in range(20):
        m = sp.sk(20, seed=100 + seed)
        out.append((m, m.enumerate_exact([1.0], n_lowest=1).ground_energy))
    return out


def test_annealing_finds_ground_states(sk_instances: list[tuple[SpinModel, float]]) -> None:
    hits = total = 0
    for k, (m, e0) in enumerate(sk_instances):
        for proposal in ("metropolis", "heat_bath"):
            r = m.anneal(10, 1000, proposal=proposal, seed=k)
            assert np.all(r.energies >= e0 - 1e-9)
            hits += int(np.sum(np.abs(r.energies - e0) < 1e-9))
            total += 10
    assert hits >= 0.95 * total, f"{hits}/{total}"


def test_tempering_finds_ground_states(sk_instances: list[tuple[SpinModel, float]]) -> None:
    hits = 0
    for k, (m, e0) in enumerate(sk_instances):
        r = m.tempering(np.geomspace(0.2, 3.0, 8), 1000, burn_in=0, n_sets=1, seed=k)
        assert r.best_energy >= e0 - 1e-9
        hits += int(abs(r.best_energy - e0) < 1e-9)
    assert hits >= 19


def test_greedy_with_restarts_finds_ground_states(sk_instances: list[tuple[SpinModel, float]]) -> None:
    rng = np.random.default_rng(0)
    hits = total = 0
    for m, e0 in sk_instances:
        for _ in range(5):  # a "read" = the best of 200 random restarts
            d = m.descend(rng.choice([-1, 1], size=(200, m.n)))
            phi = m.local_fields(d.states)
            assert np.all(d.states * phi >= -1e-12), "a descent ended where a flip still lowers the energy"
            hits += int(abs(d.energies.min() - e0) < 1e-9)
            total += 1
    assert hits >= 0.95 * total, f"{hits}/{total}"


@pytest.fixture(scope="module", params=[16, 20])
def sk16(request: pytest.FixtureRequest) -> tuple[SpinModel, sp.Enumeration]:
    """SK with random fields at N = 16 and N = 20 (the issue's range), enumerated exactly."""
    m = sp.sk(request.param, seed=7, h_std=0.2)
    return m, m.enumerate_exact([1.0], correlations=True)


def _check_moments(states: np.ndarray, ex: sp.Enumeration, m: SpinModel, batches: bool) -> None:
    s = states.astype(np.float64)
    e = m.energy(states)
    iu = np.triu_indices(m.n, 1)
    pairs = (s[:, :, None] * s[:, None, :])[:, iu[0], iu[1]]
    # ⟨E⟩ within 4 standard errors; the N + N(N−1)/2 magnetisations and correlations (up to 210
    # numbers at N = 20) within 4.5 each, so that the family as a whole fails by chance < 0.2%.
    for x, truth, zmax in ((e, ex.mean_energy[0], 4.0), (s, ex.mean_s[0], 4.5), (pairs, ex.corr[0][iu], 4.5)):
        if batches:
            mean, se = sp.batch_means(x, 20)
        else:
            mean, se = x.mean(axis=0), x.std(axis=0, ddof=1) / math.sqrt(len(x))
        z = np.abs(mean - truth) / np.maximum(se, 1e-12)
        assert np.all(z < zmax), f"max z = {np.max(z):.2f}"


@pytest.mark.parametrize(("proposal", "order"), [("metropolis", "sequential"), ("heat_bath", "random")])
def test_fixed_temperature_annealing_samples_boltzmann(sk16: tuple[SpinModel, sp.Enumeration], proposal: str, order: str) -> None:
    m, ex = sk16
    r = m.anneal(6000, schedule=np.full(60, 1.0), proposal=proposal, order=order, seed=11)  # type: ignore[arg-type]
    _check_moments(r.final_states, ex, m, batches=False)


def test_tempering_samples_boltzmann(sk16: tuple[SpinModel, sp.Enumeration]) -> None:
    m, ex = sk16
    betas = np.array([0.3, 0.55, 1.0])
    r = m.tempering(betas, 40_000, burn_in=1000, n_sets=2, record_states=True, thin=2, seed=5)
    assert np.all((r.swap_acceptance > 0) & (r.swap_acceptance < 1))
    _check_moments(r.states[:, :, 2, :].reshape(-1, m.n), ex, m, batches=True)


def test_layered_kernel_samples_boltzmann() -> None:
    rng = np.random.default_rng(3)
    widths = [5, 6, 5]
    ws = [rng.standard_normal((widths[k + 1], widths[k])) / 2 for k in range(2)]
    bs = [0.3 * rng.standard_normal(widths[k + 1]) for k in range(2)]
    m = SpinModel.from_layers(ws, bs, use_biases=True)
    ex = m.enumerate_exact([1.0], correlations=True)
    r = m.anneal(6000, schedule=np.full(40, 1.0), kernel="layered", seed=2)
    _check_moments(r.final_states, ex, m, batches=False)
    # and the single-spin kernel on the layered storage equals the dense kernel's law
    d = SpinModel(m.J, m.h)
    np.testing.assert_allclose(d.enumerate_exact([1.0]).ln_z, ex.ln_z, rtol=1e-13)


@pytest.mark.parametrize(("ladder", "t"), [((2.6, 2.8, 3.0), 3.0), ((1.7, 1.85, 2.0), 2.0)])
def test_2d_ising_against_onsager(ladder: tuple[float, ...], t: float) -> None:
    L = 32
    m = sp.lattice_2d(L)
    r = m.tempering(1 / np.array(ladder), 12_000, burn_in=1000, n_sets=2, seed=int(t * 10))
    k = ladder.index(t)
    e, de = r.mean_energy()
    exact_e = kaufman_energy_per_spin(L, 1 / t)  # exact for the 32×32 torus
    assert abs(e[k] / L**2 - exact_e) < 4 * de[k] / L**2 + 1e-4
    am, dam = r.mean_abs_m()
    if t < 2.269:
        # finite-size corrections to |m| are O(e^{-L/ξ}) here, far below the statistical error
        assert abs(am[k] - yang_magnetisation(t)) < 4 * dam[k] + 1e-3
    else:
        m2, _ = r.mean_m2()
        # paramagnet: <m²> = χT/N with χT ≈ 10 at T = 3 (high-temperature series), so |m| ~ 0.1
        assert am[k] < 0.12 and m2[k] < 20 / L**2


def test_tempering_high_temperature_sk_energy() -> None:
    m = sp.sk(2000, seed=9)
    betas = np.array([0.15, 0.2, 0.25])
    r = m.tempering(betas, 300, burn_in=100, n_sets=1, seed=1)
    e, _ = r.mean_energy(n_batches=10)
    np.testing.assert_allclose(e / m.n, -betas / 2, rtol=0.02)
    assert np.all((r.swap_acceptance > 0) & (r.swap_acceptance < 1))


def test_results_do_not_depend_on_threads() -> None:
    m = sp.sk(60, seed=2, h_std=0.1)
    a = m.anneal(6, 300, seed=4, trace=True, threads=1)
    b = m.anneal(6, 300, seed=4, trace=True, threads=2)
    np.testing.assert_array_equal(a.states, b.states)
    np.testing.assert_array_equal(a.trace, b.trace)
    p1 = m.tempering(np.geomspace(0.3, 2, 6), 300, seed=1, threads=1)
    p2 = m.tempering(np.geomspace(0.3, 2, 6), 300, seed=1, threads=2)
    np.testing.assert_array_equal(p1.energies, p2.energies)
    np.testing.assert_array_equal(p1.overlaps, p2.overlaps)
    t1 = m.tap([2.0, 1.0, 0.5], n_starts=4, threads=1, warn=False)
    t2 = m.tap([2.0, 1.0, 0.5], n_starts=4, threads=2, warn=False)
    np.testing.assert_array_equal(t1.m, t2.m)
    lay = sp.layered_sk([20, 30, 10], seed=1)
    l1 = lay.anneal(5, 100, kernel="layered", seed=3, threads=1)
    l2 = lay.anneal(5, 100, kernel="layered", seed=3, threads=2)
    np.testing.assert_array_equal(l1.states, l2.states)
    s0 = np.random.default_rng(0).choice([-1, 1], size=(8, 60))
    np.testing.assert_array_equal(m.descend(s0, threads=1).states, m.descend(s0, threads=2).states)


def test_float32_storage_and_polish() -> None:
    m64 = sp.sk(200, seed=5)
    m32 = sp.sk(200, seed=5, dtype=np.float32)
    a = m64.anneal(4, 500, seed=1, polish=True)
    b = m32.anneal(4, 500, seed=1, polish=True)
    np.testing.assert_allclose(b.energies, m64.energy(b.states), rtol=1e-13)  # reported in float64
    assert abs(a.best_energy - b.best_energy) < 0.01 * abs(a.best_energy)
    assert np.all(m64.local_fields(b.states) * b.states >= -1e-12)


def test_default_schedule_reaches_sk_energies() -> None:
    m = sp.sk(400, seed=3)
    r = m.anneal(4, 2000, seed=0)
    # Parisi e0 = −0.7633; finite-size mean ground state ≈ e0 + 0.7 N^{-2/3} ≈ −0.75 at N = 400;
    # a quench from random states stays near −0.70.
    assert r.best_energy / m.n < -0.735
    quench = m.descend(np.random.default_rng(0).choice([-1, 1], size=(20, m.n)))
    assert r.best_energy < quench.energies.min()


def test_default_beta_range_follows_closed_forms() -> None:
    """``T_hot = 2 (λ_max(J) + max|h|)``, ``β_cold = ln(10⁴) / median σ_i`` (three digits)."""
    # 2-D ferromagnet: λ_max = 4 (uniform eigenvector), σ_i = 2; T_hot = 8 lies far above T_c = 2.269
    assert sp.lattice_2d(16).default_beta_range() == (0.125, 4.61)
    # Curie–Weiss J0/n without self-coupling: λ_max = J0 (n − 1)/n, σ_i = J0 √(n − 1)/n
    n, j0 = 50, 1.5
    hot, cold = sp.curie_weiss(n, J0=j0, h=0.2).default_beta_range()
    assert hot == pytest.approx(1 / (2 * (j0 * (n - 1) / n + 0.2)), rel=2e-3)
    assert cold == pytest.approx(math.log(1e4) / math.sqrt(j0**2 * (n - 1) / n**2 + 0.04), rel=2e-3)
    # SK N(0, 1/N): semicircle edge λ_max → 2 (finite-N deficit ~ N^{-2/3}) and σ_i → 1
    hot, cold = sp.sk(1000, seed=0).default_beta_range()
    assert hot == pytest.approx(0.25, rel=0.04) and cold == pytest.approx(math.log(1e4), rel=0.02)
    # deterministic, and the annealer uses it
    m = sp.sk(500, seed=1)
    assert m.default_beta_range() == sp.sk(500, seed=1).default_beta_range()
    r = m.anneal(1, 10)
    assert (r.betas[0], r.betas[-1]) == pytest.approx(m.default_beta_range(), rel=1e-12)


@pytest.mark.parametrize("kernel", ["single", "layered"])
def test_best_and_final_states_are_what_their_names_say(kernel: Literal["single", "layered"]) -> None:
    """``best_*`` is the lowest state a read visited, ``final_*`` where its schedule ended (what
    dwave-samplers returns); ``states``/``energies`` are the best ones. A hot-ending schedule makes
    the two differ: the final state is a random high-temperature state, the best one is not."""
    m = sp.layered_sk([12, 10, 8], seed=3) if kernel == "layered" else sp.sk(30, seed=3)
    betas = np.concatenate([np.geomspace(0.1, 3.0, 40), np.full(5, 0.05)])  # anneal, then melt
    r = m.anneal(16, schedule=betas, seed=2, kernel=kernel)
    for s, e in ((r.best_states, r.best_energies), (r.final_states, r.final_energies)):
        np.testing.assert_allclose(m.energy(s), e, rtol=0, atol=1e-9)
    assert r.states is r.best_states and r.energies is r.best_energies
    assert np.all(r.best_energies <= r.final_energies + 1e-9)
    assert r.best_energies.mean() < r.final_energies.mean() - 0.1 * m.n**0.5
    assert r.best_energy == r.best_energies.min()
    np.testing.assert_array_equal(r.best_state, r.best_states[np.argmin(r.best_energies)])
