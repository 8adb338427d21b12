"""Built-in targets of boltzkit.hmc: energies against independent numpy formulas, gradients
against finite differences, exact samplers against known moments (spec §5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from boltzkit import hmc

F = np.ndarray[Any, np.dtype[np.float64]]
_M = np.array([1.5, 0.0, 0.0])


def _targets() -> list[tuple[hmc.BuiltinTarget, Any]]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    j = a @ a.T + 4 * np.eye(4)
    xs = rng.standard_normal((30, 3))
    ys = (rng.random(30) < 0.4).astype(float)
    pot = hmc.ProductOfT(dim=5, sparse=True, seed=2)
    assert pot.w is not None and pot.nu is not None

    def e_pot(x: F) -> F:
        u = x @ pot.w.T
        return np.asarray(((pot.nu + 1) / 2 * np.log1p(u**2 / pot.nu)).sum(axis=1))

    return [
        (hmc.GaussianAniso(dim=4, log10_cond=3), lambda x: 0.5 * (x**2 * 10.0 ** np.linspace(-3, 0, 4)).sum(axis=1)),
        (hmc.GaussianDense(j), lambda x: 0.5 * np.einsum("ni,ij,nj->n", x, j, x)),
        (hmc.RoughWell(dim=3, a=5.0, b=2.0), lambda x: (x**2 / 50 + np.cos(np.pi * x)).sum(axis=1)),
        (pot, e_pot),
        (
            hmc.Bimodal(dim=3, sep=1.5),
            lambda x: (
                -np.logaddexp(-((x - np.array([1.5, 0, 0])) ** 2).sum(axis=1), -((x + np.array([1.5, 0, 0])) ** 2).sum(axis=1))
            ),
        ),
        (
            hmc.Funnel(dim=4, sigma=3.0),
            lambda x: x[:, 0] ** 2 / 18 + (x[:, 1:] ** 2 * np.exp(-x[:, :1]) / 2 + x[:, :1] / 2).sum(axis=1),
        ),
        (
            hmc.LogisticRegression(xs, ys, prior_scale=2.0),
            lambda w: (np.logaddexp(0, w @ xs.T) - ys * (w @ xs.T)).sum(axis=1) + (w**2).sum(axis=1) / 8,
        ),
    ]


@pytest.mark.parametrize(("target", "energy"), _targets(), ids=lambda t: getattr(t, "name", ""))
def test_energy_and_gradient(target: hmc.BuiltinTarget, energy: Any) -> None:
    rng = np.random.default_rng(1)
    d = target.ndim
    x = rng.uniform(-2, 2, (20, d))
    e, g = target.energy_grad(x)
    np.testing.assert_allclose(e, energy(x), rtol=1e-12, atol=1e-12)
    h = 1e-6
    for i in range(d):
        dx = np.zeros(d)
        dx[i] = h
        fd = (energy(x + dx) - energy(x - dx)) / (2 * h)
        np.testing.assert_allclose(g[:, i], fd, rtol=1e-6, atol=1e-6)
    e1, g1 = target.energy_grad(x[3])
    assert float(e1) == e[3] and np.array_equal(g1, g[3])


@pytest.mark.parametrize(
    "target",
    [hmc.GaussianAniso(dim=3, log10_cond=2), hmc.RoughWell(dim=2, a=10.0), hmc.Bimodal(), hmc.Funnel(dim=3, sigma=1.0)],
    ids=lambda t: t.name,
)
def test_exact_samplers_match_known_variances(target: hmc.BuiltinTarget) -> None:
    x = target.exact_sample(200_000, seed=3)
    assert x.shape == (200_000, target.ndim)
    var = target.variance()
    if var is None:  # rough well: quadrature of one coordinate
        from scipy import integrate

        def w(t: float) -> float:
            return float(np.exp(-(t**2) / 200 - np.cos(2 * np.pi * t / 4)))

        z = integrate.quad(w, -150, 150, limit=500)[0]
        var = np.full(2, integrate.quad(lambda t: t * t * w(t), -150, 150, limit=500)[0] / z)
    # sd of a variance estimate ≤ √(kurtosis/n)·var; funnel tails are heavy, allow 5 %
    np.testing.assert_allclose(x.var(axis=0), var, rtol=0.05)


def test_product_of_t_exact_draws_are_student_t() -> None:
    from scipy import stats

    t = hmc.ProductOfT(dim=3, seed=4)
    assert t.nu is not None
    x = t.exact_sample(20_000, seed=1)
    for i in range(3):
        assert stats.kstest(x[:, i], stats.t(t.nu[i]).cdf).pvalue > 1e-3
    v = t.variance()
    assert v is not None and np.allclose(v, t.nu / (t.nu - 2))


def test_logistic_regression_has_no_exact_sampler() -> None:
    t = hmc.LogisticRegression(np.ones((3, 2)), np.array([0.0, 1.0, 1.0]))
    assert not t.has_exact_sample
    assert t.dim == 2


def test_funnel_energy_far_out_is_infinite_not_nan() -> None:
    e, _ = hmc.Funnel(dim=3).energy_grad(np.array([[-800.0, 1.0, 1.0]]))
    assert e[0] == np.inf  # e^{800} overflows: the samplers read it as a divergent point
