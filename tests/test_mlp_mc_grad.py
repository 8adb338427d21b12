"""boltzkit.mlp: the Monte Carlo baseline's statistics and determinism, gradients against finite
differences, estimator ordering, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from boltzkit import errors, mlp


def _exact_depth1_mean(net: mlp.MLP) -> np.ndarray:
    """E y of a one-hidden-layer ReLU net (z is exactly Gaussian; closed form)."""
    w1, b1, w2, b2 = net.weights[0], net.biases[0], net.weights[1], net.biases[1]
    m = w1 @ net.input_mean + b1
    s = np.sqrt(np.einsum("ij,j,ij->i", w1, net.input_cov, w1))
    a = m / s
    g0 = s * np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi) + m * special.ndtr(a)
    return np.asarray(w2 @ g0 + b2)


def test_mc_mse_equals_var_over_n() -> None:
    # 32 independent runs; empirical MSE / (Var/N) within 1 +- 3 sqrt(2/32) (spec 7.8)
    net = mlp.random_mlp([10, 40, 8], act="relu", b_var=0.2, seed=3)
    truth = _exact_depth1_mean(net)
    n = 2048
    errs = []
    var = None
    for r in range(32):
        mc = net.monte_carlo(n_samples=n, batch=512, seed=100 + r)
        errs.append((mc.mean - truth) ** 2)
        var = mc.variances[-1] if var is None else var + mc.variances[-1]
    assert var is not None
    ratio = float(np.mean(errs) / np.mean(var / 32 / n))
    # neurons are correlated, so use the per-neuron ratios' spread too: the bound is loose but real
    assert abs(ratio - 1) < 3 * math.sqrt(2 / 32), ratio


def test_mc_is_bit_identical_for_any_thread_count() -> None:
    net = mlp.random_mlp([16, 32, 32, 4], act="tanh", seed=1)
    a = net.monte_carlo(n_samples=10_000, batch=256, seed=9, threads=1)
    b = net.monte_carlo(n_samples=10_000, batch=256, seed=9, threads=3)
    for x, y in zip(a.means + a.variances, b.means + b.variances, strict=True):
        assert np.array_equal(x, y)
    c = net.monte_carlo(n_samples=10_000, batch=256, seed=10, threads=1)
    assert not np.array_equal(a.mean, c.mean)
    e1 = net.estimate("cov_prop", threads=1)
    e2 = net.estimate("cov_prop", threads=2)
    assert np.array_equal(e1.mean, e2.mean)


def test_estimators_beat_mc_ordering_at_depth_three() -> None:
    # ReLU He, width 64, depth 3: MSE(cov_prop) < MSE(mean_prop) against a 2^20-sample truth,
    # noise floor subtracted (spec CI subset: ordering, loosely)
    net = mlp.random_mlp([64, 64, 64, 64], act="relu", seed=5)
    cmp = mlp.compare_equal_flops(net, ["mean_prop", "cov_prop"], truth_samples=2**20, seed=77)
    rows = {r["method"]: r for r in cmp.rows}
    assert rows["cov_prop"]["mse_raw"] < rows["mean_prop"]["mse_raw"]
    assert rows["mean_prop"]["mse_raw"] > 10 * cmp.noise_floor
    assert rows["mean_prop"]["speedup"] > 1
    assert "cov_prop" in cmp.table()


def _fd_check(net: mlp.MLP, method: str, order: int, cm: np.ndarray, cv: np.ndarray) -> None:
    g = net.gradient(cm, cv, method=method, mehler_order=order)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)

    def obj(n2: mlp.MLP) -> float:
        e = n2.estimate(method, mehler_order=order)  # type: ignore[arg-type]
        return float(cm @ e.means[-1] + cv @ e.variances[-1])

    assert g.value == pytest.approx(obj(net), rel=1e-12, abs=1e-14)
    h = 1e-6
    for layer in range(net.depth):
        for _ in range(4):
            i, j = rng.integers(net.weights[layer].shape[0]), rng.integers(net.weights[layer].shape[1])
            wp = [w.copy() for w in net.weights]
            wm = [w.copy() for w in net.weights]
            wp[layer][i, j] += h
            wm[layer][i, j] -= h
            fd = (obj(net.replace(weights=wp)) - obj(net.replace(weights=wm))) / (2 * h)
            assert g.d_weights[layer][i, j] == pytest.approx(fd, rel=1e-5, abs=1e-8), (method, layer, i, j)
        i = rng.integers(net.biases[layer].shape[0])
        bp = [b.copy() for b in net.biases]
        bm = [b.copy() for b in net.biases]
        bp[layer][i] += h
        bm[layer][i] -= h
        fd = (obj(net.replace(biases=bp)) - obj(net.replace(biases=bm))) / (2 * h)
        assert g.d_biases[layer][i] == pytest.approx(fd, rel=1e-5, abs=1e-8)


@pytest.mark.parametrize(
    ("method", "order", "act"),
    [
        ("mean_prop", 1, "tanh"),
        ("mean_prop", 1, "relu"),
        ("cov_prop", 1, "relu"),
        ("cov_prop", 2, "gelu"),
        ("cov_prop", 1, "erf"),
    ],
)
def test_gradients_match_finite_differences(method: str, order: int, act: mlp.Activation) -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 5)) * 0.3
    net = mlp.random_mlp(
        [5, 12, 10, 3], act=act, b_var=0.3, seed=2, input_mean=rng.standard_normal(5) * 0.2, input_cov=a @ a.T + np.eye(5)
    )
    cm = rng.standard_normal(3)
    cv = rng.standard_normal(3)
    _fd_check(net, method, order, cm, cv)


def test_tail_gradient_pushes_probability_down() -> None:
    net = mlp.random_mlp([6, 16, 16, 1], act="relu", b_var=0.2, seed=4)
    t = 2.0
    g = net.tail_gradient(t)
    step = 0.05 / max(float(np.abs(w).max()) for w in g.d_weights)
    new = net.replace(weights=[w - step * d for w, d in zip(net.weights, g.d_weights, strict=True)])
    assert new.tail_gradient(t).value < g.value
    h = 1e-6
    wp = [w.copy() for w in net.weights]
    wp[1][3, 5] += h
    wm = [w.copy() for w in net.weights]
    wm[1][3, 5] -= h
    fd = (net.replace(weights=wp).tail_gradient(t).value - net.replace(weights=wm).tail_gradient(t).value) / (2 * h)
    assert g.d_weights[1][3, 5] == pytest.approx(fd, rel=1e-5, abs=1e-10)


def test_bad_input_raises_clear_errors() -> None:
    w = [np.ones((3, 2)), np.ones((1, 3))]
    with pytest.raises(errors.InvalidArgumentError, match="weights"):
        mlp.MLP([np.ones((3, 2)), np.ones((1, 4))])
    with pytest.raises(errors.InvalidArgumentError, match="finite"):
        mlp.MLP([np.array([[np.nan, 1.0]]), np.ones((1, 1))])
    with pytest.raises(errors.InvalidArgumentError, match="finite"):
        mlp.MLP([np.array([[np.inf, 1.0]]), np.ones((1, 1))])
    with pytest.raises(errors.InvalidArgumentError, match="activations"):
        mlp.MLP(w, activations=["softplus"])  # type: ignore[list-item]
    with pytest.raises(errors.InvalidArgumentError, match="activations"):
        mlp.MLP(w, activations=["relu", "relu"])
    with pytest.raises(errors.InvalidArgumentError, match="input_cov"):
        mlp.MLP(w, input_cov=np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(errors.InvalidArgumentError, match="input_cov"):
        mlp.MLP(w, input_cov=np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(errors.InvalidArgumentError, match="input_cov"):
        mlp.MLP(w, input_cov=np.array([1.0, -1.0]))
    with pytest.raises(errors.InvalidArgumentError, match="input_mean"):
        mlp.MLP(w, input_mean=np.zeros(3))
    with pytest.raises(errors.InvalidTypeError, match="weights"):
        mlp.MLP([np.array([["a", "b"]])])
    with pytest.raises(errors.InvalidTypeError):
        mlp.MLP(np.ones((3, 3)))  # type: ignore[arg-type]
    net = mlp.MLP(w)
    with pytest.raises(errors.InvalidArgumentError, match="n_samples"):
        net.monte_carlo(n_samples=0)
    with pytest.raises(errors.InvalidArgumentError, match="batch"):
        net.monte_carlo(n_samples=10, batch=3, antithetic=True)
    with pytest.raises(errors.InvalidArgumentError, match="threshold"):
        net.tail_probability(threshold=float("nan"))
    with pytest.raises(errors.InvalidArgumentError, match="threshold"):
        net.tail_probability(threshold=float("inf"), method="mc")
    with pytest.raises(errors.InvalidArgumentError, match="method"):
        net.estimate("cumulant9")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgumentError, match="method"):
        net.tail_probability(method="bogus")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgumentError, match="neuron"):
        net.tail_probability(method="is")
    with pytest.raises(errors.InvalidArgumentError, match="mehler_order"):
        net.estimate("cov_prop", mehler_order=0)
    with pytest.raises(errors.InvalidArgumentError, match="layer"):
        net.tail_probability(layer=5)
    with pytest.raises(errors.InvalidArgumentError, match="cumulant3"):
        mlp.random_mlp([4, 300, 1]).estimate("cumulant3")
    with pytest.raises(errors.InvalidArgumentError, match="init"):
        mlp.random_mlp([4, 4, 1], init="xavier")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgumentError, match="widths"):
        mlp.random_mlp([4])
    with pytest.raises(errors.InvalidTypeError, match="seed"):
        net.monte_carlo(seed=1.5)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(0, 4),
    cols=st.integers(0, 4),
    bad=st.sampled_from([np.nan, np.inf, -np.inf, 1.0]),
    ndim=st.integers(0, 3),
    cov_kind=st.sampled_from(["ok", "neg", "asym", "shape"]),
)
def test_random_bad_networks_raise_clean_errors(rows: int, cols: int, bad: float, ndim: int, cov_kind: str) -> None:
    shape = (rows, cols, 2)[:ndim]
    w = np.full(shape, 0.5)
    if w.size:
        w.flat[0] = bad
    n0 = cols if ndim == 2 else 1
    cov = {"ok": np.ones(n0), "neg": -np.ones(n0), "asym": np.triu(np.ones((n0, n0))), "shape": np.ones(n0 + 1)}[cov_kind]
    try:
        net = mlp.MLP([w, np.ones((1, rows if ndim == 2 else 1))], input_cov=cov)
    except (errors.InvalidArgumentError, errors.InvalidTypeError):
        return
    # only a genuinely valid network gets here
    assert ndim == 2 and rows > 0 and cols > 0 and np.isfinite(bad)
    assert np.all(np.isfinite(net.estimate("cov_prop").mean))
