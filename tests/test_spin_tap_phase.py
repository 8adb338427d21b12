"""TAP solutions and phase criteria against closed forms and Monte Carlo."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.optimize import brentq

import boltzkit.spin as sp
from boltzkit.errors import InvalidArgumentError
from boltzkit.spin import phase


@pytest.mark.parametrize("onsager", [True, False])
@pytest.mark.parametrize("t", [0.8, 1.5])
def test_curie_weiss_tap_matches_mean_field_solution(t: float, onsager: bool) -> None:
    n, j0, h = 2000, 1.0, 0.05
    m = sp.curie_weiss(n, J0=j0, h=h)
    r = m.tap(t, init="zeros", onsager=onsager)
    assert r.converged.all()
    exact = brentq(lambda x: x - math.tanh((j0 * x + h) / t), -1e-9, 1.0)
    # J_ij = J0/n excludes i = j, and the Onsager term is O(1/n): both shift m by O(1/n)
    np.testing.assert_allclose(r.m[0, 0], exact, atol=5 / n)


def test_sk_tap_is_paramagnetic_above_tc_and_not_below() -> None:
    m = sp.sk(400, seed=2)
    low = m.anneal(2, 500, seed=1).states  # start near low-energy configurations
    init = 0.99 * low.astype(np.float64)
    hot = m.tap(1.5, init=init)
    assert hot.converged.all() and np.all(hot.q < 1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # Naive mean field has stable magnetised solutions below T = 1 ...
        nmf = m.tap(0.5, init=init, onsager=False)
        # ... and TAP stays magnetised too; its plain (same-time) iteration does not settle in the
        # glass phase (a known property of TAP iteration; see TapResult.converged).
        cold = m.tap(0.5, init=init, max_iter=2000)
    assert nmf.converged.all() and np.all(nmf.q > 0.5)
    assert np.all(cold.q > 0.05)


def test_sk_tap_newton_finds_converged_nonzero_solutions_below_tc() -> None:
    # Newton continuation from an annealed ground state: converged, non-zero TAP solutions of SK
    # below T = 1, checked against the TAP equations evaluated here in numpy, and inside Plefka's
    # validity region 1 − β² mean((1 − m²)²) ≥ 0 (where m = 0 is not: it fails it below T = 1).
    n = 300
    m = sp.sk(n, seed=1)
    r = m.anneal(4, 2000, seed=0)
    ground = r.states[np.argmin(r.energies)].astype(np.float64)
    temps = np.round(np.arange(0.10, 0.205, 0.02), 2)
    res = m.tap(temps, init=0.999 * ground, solver="newton", max_iter=200)
    assert res.converged.all()
    j, j2 = m.J, m.J**2
    for k, t in enumerate(temps):
        mk = res.m[0, k]
        b = 1.0 / t
        rhs = np.tanh(b * (j @ mk) - b * b * mk * (j2 @ (1 - mk**2)))
        assert np.max(np.abs(mk - rhs)) < 1e-9
        assert res.q[0, k] > 0.9 and 1 - b * b * np.mean((1 - mk**2) ** 2) > 0
        # the magnetisations follow the ground state's spins
        assert np.mean(np.sign(mk) == ground) > 0.99
    # above T = 1 Newton, like the iteration, goes to the paramagnet
    hot = m.tap(1.5, init=0.5 * ground, solver="newton", max_iter=200)
    assert hot.converged.all() and hot.q[0, 0] < 1e-20


def test_tap_solver_argument_is_checked() -> None:
    m = sp.sk(8, seed=0)
    with pytest.raises(ValueError, match="solver"):
        m.tap(0.5, solver="bfgs")  # type: ignore[arg-type]


def test_sk_tap_agrees_with_monte_carlo_in_a_field() -> None:
    m = sp.sk(1000, seed=3, h_std=0.3)
    r = m.tap(2.0)
    assert r.converged.all()
    pt = m.tempering([0.5], 1000, burn_in=100, n_sets=4, record_states=True, thin=2, seed=1)
    mc = pt.states.reshape(-1, m.n).mean(axis=0)
    assert np.corrcoef(mc, r.m[0, 0])[0, 1] > 0.95


def test_hitting_max_iter_warns_and_flags() -> None:
    m = sp.sk(100, seed=1)
    with pytest.warns(RuntimeWarning, match="max_iter"):
        r = m.tap(0.3, init="random", noise=0.5, max_iter=3)
    assert not r.converged.any()
    assert np.all(r.residual > 1e-10)


def test_tap_free_energy_is_stationary_and_matches_closed_form() -> None:
    m = sp.sk(50, seed=4, h_std=0.5)
    t = 1.3
    r = m.tap(t, tol=1e-13)
    sol = r.m[0, 0]
    eps = 1e-6
    for i in (0, 17, 42):
        e = np.zeros(m.n)
        e[i] = eps
        g = (m.tap_free_energy(sol + e, t) - m.tap_free_energy(sol - e, t)) / (2 * eps)
        assert abs(g) < 1e-6
    j2 = m.J**2
    f0 = -t * m.n * math.log(2) - j2.sum() / (4 * t)
    assert m.tap_free_energy(np.zeros(m.n), t) == pytest.approx(f0, rel=1e-12)
    assert r.free_energy[0, 0] == pytest.approx(m.tap_free_energy(sol, t), rel=1e-12)


@pytest.mark.parametrize("L", [1, 2, 3, 5])
def test_layered_theory_closed_form(L: int) -> None:
    n, v = 300, 1.3 / 300
    assert phase.tc_layered_theory([n] * (L + 1), v) == pytest.approx(math.sqrt(2 * 1.3 * math.cos(math.pi / (L + 2))), rel=1e-12)
    if L == 1:
        assert phase.tc_layered_theory([n, n], v) == pytest.approx(math.sqrt(1.3), rel=1e-12)


def test_tc_glass_matches_theory_on_sampled_layered_couplings() -> None:
    for L in (1, 2):
        m = sp.layered_sk([500] * (L + 1), seed=L)
        assert phase.tc_glass(m) == pytest.approx(phase.tc_layered_theory([500] * (L + 1), 1 / 500), rel=0.03)
    assert phase.tc_glass(sp.sk(600, seed=1)) == pytest.approx(1.0, rel=0.03)


def test_hidden_order_temperature_of_sk_with_ferromagnetic_mean() -> None:
    j0 = 2.0
    m = sp.sk(700, seed=5, J0=j0)
    scan = phase.tap_hessian_scan(m, np.linspace(1.2, 2.8, 9))
    assert scan.T_hidden == pytest.approx(j0, rel=0.05)
    # The closed form assumes equal row sums d_i; on one instance they fluctuate by O(N^-1/2),
    # which moves the crossing by a few 1e-4 (measured 4e-4 at N = 2000).
    assert scan.T_hidden == pytest.approx(scan.formula, rel=3e-3)
    assert scan.T_c == pytest.approx(scan.T_hidden)
    uniform = np.ones(m.n) / math.sqrt(m.n)
    assert phase.hidden_order(scan.hidden_vector, uniform) > 0.8
    spec = phase.bond_spectrum(m)
    assert spec.n_outliers == 1 and spec.outliers[0] == pytest.approx(j0 + 1 / j0, rel=0.05)


def test_pure_sk_has_only_the_glass_criterion() -> None:
    m = sp.sk(500, seed=6)
    scan = phase.tap_hessian_scan(m, np.linspace(0.6, 1.6, 11))
    assert scan.T_glass == pytest.approx(1.0, abs=0.11)
    # λ_min(T·A(T)) = T (1 − 1/T)² in the large-N limit (the β-form: (1 − 1/T)²)
    far = np.abs(scan.T - 1) > 0.3
    np.testing.assert_allclose(scan.lambda_min[far], scan.T[far] * (1 - 1 / scan.T[far]) ** 2, atol=0.05)
    beta = phase.tap_hessian_scan(m, scan.T, form="beta")
    assert beta.form == "beta" and beta.T_hidden != beta.T_hidden  # nan: no crossing in either form
    np.testing.assert_allclose(beta.lambda_min, scan.lambda_min / scan.T, rtol=1e-9)
    assert phase.bond_spectrum(m).n_outliers <= 2


def test_glass_temperature_is_refined_off_the_grid() -> None:
    """±1/√n couplings have equal row sums d = (n − 1)/n, so A(T) = (1 + d/T²) − J/T has
    λ_min(T) = 1 + d/T² − λ_max(J)/T, minimal at T = 2d/λ_max(J) exactly (the β-form), while
    T·A(T) = T + d/T − J has λ_min = T + d/T − λ_max(J), minimal at T = √d whatever λ_max."""
    n = 300
    m = sp.sk(n, seed=3, couplings="pm1")
    lam_max = float(np.linalg.eigvalsh(m.J)[-1])
    d = (n - 1) / n
    scan = phase.tap_hessian_scan(m, np.linspace(0.5, 1.6, 12), form="beta")
    assert scan.T_glass == pytest.approx(2 * d / lam_max, rel=1e-5)
    assert scan.lambda_min == pytest.approx(1 + d / scan.T**2 - lam_max / scan.T, abs=1e-9)
    tf = phase.tap_hessian_scan(m, np.linspace(0.5, 1.6, 12))
    assert tf.form == "T" and tf.T_glass == pytest.approx(math.sqrt(d), rel=1e-5)
    assert tf.lambda_min == pytest.approx(tf.T + d / tf.T - lam_max, abs=1e-9)
    # the β-form moves with the fluctuating edge λ_max ≠ 2√d (here 1.93); the T-form does not
    assert abs(scan.T_glass - math.sqrt(d)) > 0.03


def test_hessian_form_is_checked() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^form: "):
        phase.tap_hessian_scan(sp.sk(10, seed=0), [0.5, 1.0], form="temperature")  # type: ignore[arg-type]


def test_power_law_fit_recovers_the_exponent() -> None:
    rng = np.random.default_rng(0)
    t = np.geomspace(1, 1e4, 30)
    y = 0.7 * t**0.31 * np.exp(0.01 * rng.standard_normal(t.size))
    f = phase.fit_power_law(t, y, window=(10, 1e4))
    assert f.exponent_ci[0] < 0.31 < f.exponent_ci[1]
    assert f.prefactor == pytest.approx(0.7, rel=0.05)
    assert f.n_points == int(np.sum(t >= 10))
    exact = phase.fit_power_law(t, 2.0 * t**-0.5)  # an exact power law: zero-width interval, no nan
    assert exact.exponent == pytest.approx(-0.5, abs=1e-12) and exact.exponent_ci == pytest.approx((-0.5, -0.5), abs=1e-9)
    flat = phase.fit_power_law(t, np.ones_like(t))
    assert flat.exponent == 0.0 and flat.exponent_ci == (0.0, 0.0)


def test_hidden_order_overlap() -> None:
    assert phase.hidden_order([1.0, 0.0], [0.0, 2.0]) == 0.0
    assert phase.hidden_order([1.0, -1.0], [-3.0, 3.0]) == pytest.approx(1.0)
    assert phase.hidden_order([0.0, 0.0], [1.0, 1.0]) == 0.0
