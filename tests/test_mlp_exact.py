"""boltzkit.mlp against independent truths: closed forms, quadrature, Isserlis, piecewise-linear
integration, NNGP recursion (spec section 7)."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from scipy import integrate, special

from boltzkit import mlp

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

F64 = Any


def _quad_normal(f: Callable[[float], float], m: float, v: float, lo: float = -np.inf) -> float:
    """E f(Z), Z ~ N(m, v), by adaptive quadrature over the standard variable."""
    s = math.sqrt(v)
    a = max(lo, -12.0)
    val, _ = integrate.quad(
        lambda x: f(m + s * x) * math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), a, 12.0, epsabs=1e-14, epsrel=1e-12, limit=400
    )
    return float(val)


def _phi(act: mlp.Activation) -> Callable[[Any], Any]:
    table: dict[str, Callable[[Any], Any]] = {
        "erf": special.erf,
        "gelu": lambda z: z * special.ndtr(z),
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0),
    }
    return table[act]


def _hermite_times(phi: Callable[[Any], Any], k: int, m: float, s: float) -> Callable[[float], float]:
    return lambda z: _hermite_e(k, (z - m) / s) * float(phi(z))


def _hermite_e(k: int, x: float) -> float:
    return float(special.eval_hermitenorm(k, x))


GRID = [(m, v) for v in (0.04, 1.0, 3.0) for m in (-8 * math.sqrt(v), -2.0, -0.3, 0.0, 0.7, 4 * math.sqrt(v), 8 * math.sqrt(v))]


@pytest.mark.parametrize(("m", "v"), GRID)
def test_relu_primitives_match_quadrature(m: float, v: float) -> None:
    s = math.sqrt(v)
    r = mlp.gauss_moments("relu", [m], [v], kmax=6)
    a = -m / s  # relu is zero below xi = a
    mean = _quad_normal(lambda z: max(z, 0.0), m, v, lo=a)
    e2 = _quad_normal(lambda z: max(z, 0.0) ** 2, m, v, lo=a)
    assert r["g"][0, 0] == pytest.approx(mean, rel=1e-9, abs=1e-14)
    assert r["e2"][0] == pytest.approx(e2, rel=1e-9, abs=1e-14)
    # G_k = s^-k E[He_k(xi) relu(m + s xi)] (Stein / Hermite identity), k = 1..6
    for k in range(1, 7):
        want = (
            s**-k
            * integrate.quad(
                lambda x, k=k: _hermite_e(k, x) * (m + s * x) * math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi),
                a,
                max(a, 0) + 14,
                epsabs=1e-15,
                epsrel=1e-12,
                limit=400,
            )[0]
        )
        scale = max(1.0, abs(want), s**-k)
        assert abs(r["g"][0, k] - want) < 1e-9 * scale, (k, r["g"][0, k], want)


@pytest.mark.parametrize(("m", "v"), GRID)
@pytest.mark.parametrize("act", ["erf", "gelu", "tanh"])
def test_smooth_primitives_match_quadrature(act: mlp.Activation, m: float, v: float) -> None:
    s = math.sqrt(v)
    r = mlp.gauss_moments(act, [m], [v], kmax=4)
    phi = _phi(act)
    mean = _quad_normal(lambda z: float(phi(z)), m, v)
    e2 = _quad_normal(lambda z: float(phi(z)) ** 2, m, v)
    # closed forms (erf G_k, gelu G_0) to 1e-10; Gauss-Hermite (D = 100) to 1e-6
    tol0 = 1e-10 if act in ("erf", "gelu") else 1e-9
    assert abs(r["g"][0, 0] - mean) < tol0 * max(1.0, abs(mean))
    assert abs(r["e2"][0] - e2) < 1e-6 * max(1.0, e2)
    for k in range(1, 5):
        want = s**-k * _quad_normal(_hermite_times(phi, k, m, s), m, v)
        # erf: closed form; gelu: Gauss-Hermite (D = 100); tanh: pole-adapted trapezoid rule
        tol = {"erf": 1e-9, "gelu": 1e-7, "tanh": 1e-8}[act]
        assert abs(r["g"][0, k] - want) < tol * max(1.0, abs(want)), (k, r["g"][0, k], want)


def test_mehler_series_converges_to_arccos_and_arcsine_kernels() -> None:
    # two neurons with unit variances and correlation rho, zero mean; output = identity
    for rho, order, tol in ((0.5, 30, 1e-8), (-0.5, 30, 1e-8), (0.9, 30, 5e-5)):
        w1 = np.array([[1.0, 0.0], [rho, math.sqrt(1 - rho * rho)]])
        net = mlp.MLP([w1, np.eye(2)], activations=["relu"])
        est = net.estimate("cov_prop", mehler_order=order, keep_cov=True)
        th = math.acos(rho)
        second = (math.sin(th) + (math.pi - th) * rho) / (2 * math.pi)
        exact_cov = second - (1 / math.sqrt(2 * math.pi)) ** 2
        assert abs(est.cov[1][0, 1] - exact_cov) < tol
        # the error decreases with the order
        e1 = abs(net.estimate("cov_prop", mehler_order=1, keep_cov=True).cov[1][0, 1] - exact_cov)
        assert abs(est.cov[1][0, 1] - exact_cov) < e1
    for c in (0.4, 0.9):
        v = 0.8
        w1 = math.sqrt(v) * np.array([[1.0, 0.0], [c, math.sqrt(1 - c * c)]])
        net = mlp.MLP([w1, np.eye(2)], activations=["erf"])
        est = net.estimate("cov_prop", mehler_order=30, keep_cov=True)
        exact = 2 / math.pi * math.asin(2 * c * v / (1 + 2 * v))
        assert abs(est.cov[1][0, 1] - exact) < 1e-9


def _identity_truth(net: mlp.MLP) -> tuple[F64, F64]:
    mean = net.input_mean.copy()
    cov = np.diag(net.input_cov) if net.input_cov.ndim == 1 else net.input_cov.copy()
    for w, b in zip(net.weights, net.biases, strict=True):
        mean = w @ mean + b
        cov = w @ cov @ w.T
    return mean, cov


def test_identity_nets_are_exact() -> None:
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal((7, 5)) / 2, rng.standard_normal((6, 7)) / 2, rng.standard_normal((3, 6)) / 2]
    bs = [rng.standard_normal(7), rng.standard_normal(6), rng.standard_normal(3)]
    a = rng.standard_normal((5, 5))
    for cov in (np.array([0.5, 1.0, 2.0, 0.1, 1.5]), a @ a.T):
        net = mlp.MLP(ws, bs, ["identity", "identity"], input_mean=rng.standard_normal(5), input_cov=cov)
        mean, c = _identity_truth(net)
        for method in ("mean_prop", "cov_prop", "cumulant3"):
            est = net.estimate(method, keep_cov=True)
            np.testing.assert_allclose(est.mean, mean, rtol=0, atol=1e-12)
            if method != "mean_prop":
                np.testing.assert_allclose(est.cov[-1], c, rtol=0, atol=1e-12)
            if method == "cumulant3":
                np.testing.assert_allclose(est.kappa3[-1], 0.0, atol=1e-12)
        # Monte Carlo: antithetic pairs make the mean of a linear map exact
        mc = net.monte_carlo(n_samples=64, batch=32, seed=3, antithetic=True)
        np.testing.assert_allclose(mc.mean, mean, atol=1e-12)


@pytest.mark.parametrize("act", ["relu", "erf", "tanh", "gelu"])
def test_depth_one_nets_are_exact(act: mlp.Activation) -> None:
    rng = np.random.default_rng(2)
    net = mlp.random_mlp([6, 24, 3], act=act, b_var=0.3, seed=5, input_mean=rng.standard_normal(6) * 0.3)
    w1, b1, w2, b2 = net.weights[0], net.biases[0], net.weights[1], net.biases[1]
    m = w1 @ net.input_mean + b1
    v = np.einsum("ij,j,ij->i", w1, net.input_cov, w1)
    phi = _phi(act)
    g0 = np.array([_quad_normal(lambda z: float(phi(z)), mi, vi) for mi, vi in zip(m, v, strict=True)])
    truth = w2 @ g0 + b2
    tol = 1e-10 if act in ("relu", "erf", "gelu") else 1e-7
    for method in ("mean_prop", "cov_prop", "cumulant3"):
        est = net.estimate(method)
        np.testing.assert_allclose(est.mean, truth, rtol=0, atol=tol * max(1.0, float(np.abs(truth).max())))


def test_square_activation_matches_isserlis() -> None:
    rng = np.random.default_rng(3)
    w1 = rng.standard_normal((5, 4)) / 2
    b1 = rng.standard_normal(5)
    w2 = rng.standard_normal((3, 5)) / 2
    net = mlp.MLP([w1, w2], [b1, None], ["square"])
    m = b1
    s = w1 @ w1.T
    # Isserlis: E z_i^2 = S_ii + m_i^2; Cov(z_i^2, z_j^2) = 2 S_ij^2 + 4 m_i m_j S_ij
    mean = w2 @ (np.diag(s) + m**2)
    cov = w2 @ (2 * s**2 + 4 * np.outer(m, m) * s) @ w2.T
    est = net.estimate("cov_prop", mehler_order=2, keep_cov=True)
    np.testing.assert_allclose(est.mean, mean, atol=1e-12)
    np.testing.assert_allclose(est.cov[-1], cov, atol=1e-11)
    # order 1 misses the 2 S_ij^2 term off the diagonal
    est1 = net.estimate("cov_prop", mehler_order=1, keep_cov=True)
    assert np.abs(est1.cov[-1] - cov).max() > 1e-3


def _pdf(u: float) -> float:
    return 0.0 if not np.isfinite(u) else math.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)


def _piecewise_linear_mean(net: mlp.MLP) -> F64:
    """Exact E y for a 1-D-input ReLU net: split the real line at every kink, integrate a x + c
    against N(mu, s^2) on each segment."""
    mu, s = float(net.input_mean[0]), math.sqrt(float(net.input_cov[0]))
    # each segment carries the affine map x -> A x + C of the current layer's activations
    segs: list[tuple[float, float, F64, F64]] = [(-np.inf, np.inf, np.ones(1), np.zeros(1))]
    for li, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        new = []
        last = li == net.depth - 1
        for lo, hi, a, c in segs:
            za, zc = w @ a, w @ c + b
            if last:
                new.append((lo, hi, za, zc))
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                roots = -zc / za
            cuts = sorted(r for r in roots[np.isfinite(roots)] if lo < r < hi)
            pts = [lo, *cuts, hi]
            for p, q in pairwise(pts):
                mid = (
                    (p + q) / 2
                    if np.isfinite(p) and np.isfinite(q)
                    else (q - 1 if np.isfinite(q) else (p + 1 if np.isfinite(p) else 0.0))
                )
                on = (za * mid + zc) > 0
                new.append((p, q, np.where(on, za, 0.0), np.where(on, zc, 0.0)))
        segs = new
    out = np.zeros(net.widths[-1])
    for lo, hi, a, c in segs:
        ul, uh = (lo - mu) / s, (hi - mu) / s
        pmass = special.ndtr(uh) - special.ndtr(ul)
        ex = mu * pmass + s * (_pdf(ul) - _pdf(uh))  # E[x 1{lo<x<hi}]
        out += a * ex + c * pmass
    return out


def test_one_dim_input_relu_nets_exact_piecewise_linear_truth() -> None:
    net = mlp.random_mlp([1, 12, 12, 12, 2], act="relu", b_var=0.2, seed=7, input_mean=[0.3], input_cov=[1.7])
    truth = _piecewise_linear_mean(net)
    mc = net.monte_carlo(n_samples=2**18, seed=11)
    z = (mc.mean - truth) / mc.stderr[-1]
    assert np.all(np.abs(z) < 5), z
    # depth 1 (one hidden layer) is exact for the estimators: two independent truths agree
    net1 = mlp.random_mlp([1, 20, 3], act="relu", b_var=0.5, seed=8)
    np.testing.assert_allclose(net1.estimate("cov_prop").mean, _piecewise_linear_mean(net1), atol=1e-12)


def test_nngp_limits_as_width_grows() -> None:
    n, depth = 384, 4
    net = mlp.random_mlp([n] * depth + [n], act="relu", init="he", seed=4)
    est = net.estimate("cov_prop")
    mf = mlp.mean_field(["relu"] * (depth - 1), [1.0] + [2.0] * (depth - 1))
    # (a) q_l = 1 at every layer for He ReLU; (b) k_l: 0, 1/pi, ...
    np.testing.assert_allclose(mf[:, 0], 1.0, atol=1e-12)
    assert mf[0, 1] == 0.0
    assert mf[1, 1] == pytest.approx(1 / math.pi, abs=1e-12)
    for l_ in range(depth):
        q_hat = float(np.mean(est.variances[l_] + est.means[l_] ** 2))
        k_hat = float(np.mean(est.means[l_] ** 2))
        assert abs(q_hat - mf[l_, 0]) < 3 / math.sqrt(n)
        assert abs(k_hat - mf[l_, 1]) < 3 / math.sqrt(n)
    # tanh goes through the 2-D quadrature branch of the recursion; compare with direct quadrature
    mt = mlp.mean_field(["tanh"], [1.0, 1.5], 0.1)
    e2 = _quad_normal(lambda z: math.tanh(z) ** 2, 0.0, mt[0, 0])
    assert mt[1, 0] == pytest.approx(1.5 * e2 + 0.1, rel=1e-9)


def test_first_layer_tails_are_exact() -> None:
    rng = np.random.default_rng(6)
    net = mlp.random_mlp([8, 16, 16, 1], act="tanh", seed=2, b_var=0.1, input_mean=rng.standard_normal(8) * 0.2)
    w, b = net.weights[0], net.biases[0]
    m = w @ net.input_mean + b
    s = np.sqrt(np.einsum("ij,j,ij->i", w, net.input_cov, w))
    t = 2.5
    exact = special.ndtr(-(t - m) / s)
    for method in ("gauss", "edgeworth"):
        p = net.tail_probability(layer=0, threshold=t, method=method)
        np.testing.assert_allclose(p.p, exact, rtol=1e-10)
    # importance sampling at a rare threshold (P ~ 1e-6): within 5 standard errors of exact
    t = float(m[3] + 4.75 * s[3])
    p_is = net.tail_probability(layer=0, threshold=t, method="is", neuron=3, n_samples=20000, seed=1)
    ex = float(special.ndtr(-(t - m[3]) / s[3]))
    assert p_is.stderr is not None
    assert abs(float(p_is.p[0]) - ex) < 5 * float(p_is.stderr[0])
    assert float(p_is.stderr[0]) < 0.05 * ex
    p_mc = net.tail_probability(layer=0, threshold=t, method="mc", neuron=3, n_samples=20000, seed=1)
    assert p_mc.hits is not None and int(p_mc.hits[0]) <= 2
