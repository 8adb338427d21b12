"""Exact enumeration against closed forms: 1-D ring (transfer matrix), Curie–Weiss (binomial
sum), 2-D torus (Kaufman's finite-lattice formula, itself checked against a numpy brute force),
independent spins (P(q) by convolution), and a hand-computed two-spin model."""

from __future__ import annotations

import itertools
import math
from typing import Any

import mpmath
import numpy as np
import pytest

import boltzkit.spin as sp


def all_states(n: int) -> np.ndarray:
    return np.array(list(itertools.product([-1, 1], repeat=n)), dtype=np.float64)


def numpy_truth(j: np.ndarray, h: np.ndarray, beta: float) -> dict[str, Any]:
    """Brute force in numpy: every state, energies as −½ sᵀJs − h·s."""
    s = all_states(len(h))
    e = -0.5 * np.einsum("ki,ij,kj->k", s, j, s) - s @ h
    w = np.exp(-beta * (e - e.min()))
    z = w.sum()
    p = w / z
    return {
        "ln_z": math.log(z) - beta * e.min(),
        "mean_e": float(p @ e),
        "var_e": float(p @ e**2 - (p @ e) ** 2),
        "mean_s": p @ s,
        "corr": (s * p[:, None]).T @ s,
        "abs_m": float(p @ np.abs(s.mean(1))),
        "energies": np.sort(e),
        "p": p,
        "s": s,
    }


def test_two_spins_by_hand() -> None:
    j, h1, h2 = 0.7, 0.2, -0.5
    m = sp.SpinModel([[0, j], [j, 0]], [h1, h2])
    beta = 1.3
    es = {(a, b): -j * a * b - h1 * a - h2 * b for a in (-1, 1) for b in (-1, 1)}
    z = sum(math.exp(-beta * e) for e in es.values())
    r = m.enumerate_exact([beta], correlations=True)
    assert r.ln_z[0] == pytest.approx(math.log(z), rel=1e-14)
    assert r.mean_energy[0] == pytest.approx(sum(e * math.exp(-beta * e) for e in es.values()) / z, rel=1e-13)
    c01 = sum(a * b * math.exp(-beta * e) for (a, b), e in es.items()) / z
    assert r.corr[0, 0, 1] == pytest.approx(c01, rel=1e-13)
    assert r.ground_energy == pytest.approx(min(es.values()), abs=1e-15)
    assert r.degeneracy == 1


def ring_ln_z(n: int, jc: float, h: float, beta: float) -> mpmath.mpf:
    b, jc, h = mpmath.mpf(beta), mpmath.mpf(jc), mpmath.mpf(h)
    root = mpmath.sqrt(mpmath.exp(2 * b * jc) * mpmath.sinh(b * h) ** 2 + mpmath.exp(-2 * b * jc))
    lp = mpmath.exp(b * jc) * mpmath.cosh(b * h) + root
    lm = mpmath.exp(b * jc) * mpmath.cosh(b * h) - root
    return mpmath.log(lp**n + lm**n)


@pytest.mark.parametrize(("jc", "h"), [(1.0, 0.3), (-0.7, 0.1), (0.4, -1.2)])
def test_ring_against_transfer_matrix(jc: float, h: float) -> None:
    mpmath.mp.dps = 40
    n = 16
    betas = np.array([0.1, 0.5, 1.0, 2.5])
    r = sp.chain(n, J=jc, h=h).enumerate_exact(betas)
    for k, b in enumerate(betas):
        lz = ring_ln_z(n, jc, h, float(b))
        assert r.ln_z[k] == pytest.approx(float(lz), rel=1e-12)
        u = -mpmath.diff(lambda x: ring_ln_z(n, jc, h, x), mpmath.mpf(float(b)))
        assert r.mean_energy[k] == pytest.approx(float(u), rel=1e-10, abs=1e-11)
        c = mpmath.mpf(float(b)) ** 2 * mpmath.diff(lambda x: ring_ln_z(n, jc, h, x), mpmath.mpf(float(b)), 2)
        assert r.heat_capacity[k] == pytest.approx(float(c), rel=1e-8, abs=1e-10)


def test_curie_weiss_against_binomial_sum() -> None:
    mpmath.mp.dps = 40
    n, j0, h = 20, 1.3, 0.05
    m = sp.curie_weiss(n, J0=j0, h=h)
    betas = np.array([0.3, 1.0, 2.0])
    r = m.enumerate_exact(betas)
    for k, b in enumerate(betas):
        bb = mpmath.mpf(float(b))
        terms = []
        for up in range(n + 1):
            mm = 2 * up - n
            e = -mpmath.mpf(j0) / n * (mm * mm - n) / 2 - mpmath.mpf(h) * mm
            terms.append((mpmath.binomial(n, up) * mpmath.exp(-bb * e), e, mm))
        z = mpmath.fsum(t[0] for t in terms)
        assert r.ln_z[k] == pytest.approx(float(mpmath.log(z)), rel=1e-12)
        assert r.mean_energy[k] == pytest.approx(float(mpmath.fsum(w * e for w, e, _ in terms) / z), rel=1e-11)
        assert r.mean_abs_m[k] == pytest.approx(float(mpmath.fsum(w * abs(mm) for w, _, mm in terms) / z / n), rel=1e-11)
        assert r.mean_m2[k] == pytest.approx(float(mpmath.fsum(w * mm**2 for w, _, mm in terms) / z / n**2), rel=1e-11)


def kaufman_ln_z(L: int, beta: mpmath.mpf) -> mpmath.mpf:
    """Kaufman's exact partition function of the L×L periodic ferromagnet (J = 1)."""
    k = mpmath.mpf(beta)
    n = m = L

    def gamma(q: int) -> mpmath.mpf:
        if q == 0:
            return 2 * k + mpmath.log(mpmath.tanh(k))
        return mpmath.acosh(mpmath.cosh(2 * k) * mpmath.coth(2 * k) - mpmath.cos(mpmath.pi * q / n))

    odd = [gamma(2 * r + 1) for r in range(n)]
    even = [gamma(2 * r) for r in range(n)]
    z1 = mpmath.fprod(2 * mpmath.cosh(m * g / 2) for g in odd)
    z2 = mpmath.fprod(2 * mpmath.sinh(m * g / 2) for g in odd)
    z3 = mpmath.fprod(2 * mpmath.cosh(m * g / 2) for g in even)
    z4 = mpmath.fprod(2 * mpmath.sinh(m * g / 2) for g in even)
    return mpmath.log(mpmath.mpf(1) / 2 * (2 * mpmath.sinh(2 * k)) ** (m * n / mpmath.mpf(2)) * (z1 + z2 + z3 + z4))


def kaufman_energy_per_spin(L: int, beta: float) -> float:
    """``u = −(1/L²) d ln Z / dβ`` of the L×L torus (used here and by the tempering test)."""
    mpmath.mp.dps = 50
    return float(-mpmath.diff(lambda b: kaufman_ln_z(L, b), mpmath.mpf(beta)) / L**2)


def test_kaufman_formula_is_right_on_4x4() -> None:
    mpmath.mp.dps = 40
    m = sp.lattice_2d(4)
    for beta in (0.2, 0.44, 0.9):
        t = numpy_truth(m.J, m.h, beta)
        assert float(kaufman_ln_z(4, mpmath.mpf(beta))) == pytest.approx(t["ln_z"], rel=1e-12)


def test_4x4_torus_against_kaufman() -> None:
    mpmath.mp.dps = 40
    betas = np.array([0.2, 0.4406868, 0.7])
    r = sp.lattice_2d(4).enumerate_exact(betas)
    for k, b in enumerate(betas):
        assert r.ln_z[k] == pytest.approx(float(kaufman_ln_z(4, mpmath.mpf(float(b)))), rel=1e-12)
        assert r.mean_energy[k] / 16 == pytest.approx(kaufman_energy_per_spin(4, float(b)), rel=1e-9)
    assert r.degeneracy == 2 and r.ground_energy == pytest.approx(-32.0)


def test_random_model_against_numpy_brute_force(rng: np.random.Generator) -> None:
    n = 10
    a = rng.standard_normal((n, n))
    j = np.triu(a, 1) + np.triu(a, 1).T
    h = 0.3 * rng.standard_normal(n)
    m = sp.SpinModel(j, h)
    betas = np.array([0.0, 0.3, 1.7])
    r = m.enumerate_exact(betas, correlations=True, n_lowest=20)
    for k, b in enumerate(betas):
        t = numpy_truth(j, h, float(b))
        assert r.ln_z[k] == pytest.approx(t["ln_z"], rel=1e-12)
        assert r.mean_energy[k] == pytest.approx(t["mean_e"], rel=1e-11, abs=1e-12)
        assert r.heat_capacity[k] == pytest.approx(b * b * t["var_e"], rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(r.mean_s[k], t["mean_s"], atol=1e-12)
        np.testing.assert_allclose(r.corr[k], t["corr"], atol=1e-12)
        assert r.mean_abs_m[k] == pytest.approx(t["abs_m"], rel=1e-11)
        assert r.mean_q2[k] == pytest.approx(float((t["corr"] ** 2).sum() / n**2), rel=1e-11)
    np.testing.assert_allclose(r.lowest_energies, numpy_truth(j, h, 1.0)["energies"][:20], atol=1e-12)
    np.testing.assert_allclose(m.energy(r.lowest_states), r.lowest_energies, atol=1e-12)


def test_overlap_distribution_of_independent_spins(rng: np.random.Generator) -> None:
    """J = 0: τ_i = s_i s'_i are independent with P(τ_i = 1) = (1 + m_i²)/2, so P(q) is a
    convolution of two-point laws."""
    n = 14
    h = rng.uniform(-1, 1, n)
    m = sp.SpinModel(np.zeros((n, n)), h)
    beta = 0.8
    r = m.enumerate_exact([beta], overlap_distribution=True)
    mi = np.tanh(beta * h)
    dist = np.array([1.0])  # distribution of the number of +1 among the τ_i
    for x in mi:
        p = (1 + x * x) / 2
        dist = np.convolve(dist, [1 - p, p])
    np.testing.assert_allclose(r.pq[0], dist, atol=1e-13)
    assert r.mean_q[0] == pytest.approx(float(np.mean(mi**2)), rel=1e-12)


def test_pq_of_a_glass_agrees_with_pair_sum(rng: np.random.Generator) -> None:
    n = 8
    a = rng.standard_normal((n, n))
    j = np.triu(a, 1) + np.triu(a, 1).T
    t = numpy_truth(j, np.zeros(n), 1.2)
    p, s = t["p"], t["s"]
    q = (s @ s.T) / n
    pq = np.zeros(n + 1)
    np.add.at(pq, np.rint((q * n + n) / 2).astype(int), np.outer(p, p))
    r = sp.SpinModel(j).enumerate_exact([1.2], overlap_distribution=True, correlations=True)
    np.testing.assert_allclose(r.pq[0], pq, atol=1e-13)
    assert float(r.pq[0] @ r.q_values**2) == pytest.approx(r.mean_q2[0], rel=1e-10)


def test_thread_count_does_not_change_enumeration() -> None:
    m = sp.sk(18, seed=4)
    a = m.enumerate_exact([0.5, 2.0], correlations=True, threads=1)
    b = m.enumerate_exact([0.5, 2.0], correlations=True, threads=2)
    for f in ("ln_z", "mean_energy", "heat_capacity", "mean_s", "corr", "lowest_energies"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_offset_carries_through() -> None:
    m = sp.SpinModel([[0, 1.0], [1.0, 0]], [0.1, 0.2], offset=3.0)
    r = m.enumerate_exact([0.7])
    m0 = sp.SpinModel([[0, 1.0], [1.0, 0]], [0.1, 0.2])
    r0 = m0.enumerate_exact([0.7])
    assert r.ln_z[0] == pytest.approx(r0.ln_z[0] - 0.7 * 3.0)
    assert r.mean_energy[0] == pytest.approx(r0.mean_energy[0] + 3.0)
