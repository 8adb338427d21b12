"""boltzkit.mlp: gradients through kprop K = 2 (simple and augment, exact and average metric)
against central finite differences of the estimate itself, the routing of ``kind="simple"`` to
cov_prop, the kprop tail gradient, thread invariance and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from boltzkit import _core, errors, mlp


def _net(widths: list[int], act: mlp.Activation, bias: bool, seed: int, full_cov: bool) -> mlp.MLP:
    rng = np.random.default_rng(seed)
    n0 = widths[0]
    a = rng.standard_normal((n0, n0)) * 0.4
    cov = a @ a.T + 0.3 * np.eye(n0) if full_cov else 0.5 + rng.random(n0)
    return mlp.random_mlp(
        widths, act=act, b_var=0.1 if bias else 0.0, seed=seed, input_mean=0.3 * rng.standard_normal(n0), input_cov=cov
    )


def _objective(net: mlp.MLP, layer: int, cm: np.ndarray, cv: np.ndarray, avg: bool) -> float:
    e = net.estimate("kprop", k_max=2, kind="augment", avg_metric=avg)
    assert e.diagnostics["reliable"]
    return float(cm @ e.means[layer] + cv @ e.variances[layer])


CASES = [
    # widths, activation, biases, full input covariance, avg_metric, keep init_scale
    ([3, 5, 4], "relu", True, False, False, True),
    ([4, 6, 5, 3], "tanh", True, True, False, True),
    ([3, 8, 4, 6, 2], "gelu", False, False, True, True),
    ([5, 4, 7, 3], "relu", False, True, True, False),
    ([3, 7, 5, 8, 4], "tanh", False, False, True, False),
    ([4, 5, 6, 2], "gelu", True, True, True, True),
]


@pytest.mark.parametrize(("widths", "act", "bias", "full", "avg", "keep_scale"), CASES)
def test_kprop2_augment_gradient_matches_finite_differences(
    widths: list[int], act: mlp.Activation, bias: bool, full: bool, avg: bool, keep_scale: bool
) -> None:
    net = _net(widths, act, bias, seed=len(widths) * 10 + widths[1], full_cov=full)
    if keep_scale:
        net.init_scale = [1.7 + 0.2 * i for i in range(net.depth)]  # constants: no gradient through them
    else:
        net.init_scale = None  # average metric = mean squared row norm of W_l: differentiated through
    rng = np.random.default_rng(5)
    layer = net.depth - 1
    cm = rng.standard_normal(widths[-1])
    cv = rng.standard_normal(widths[-1])
    g = net.gradient(cm, cv, method="kprop", k_max=2, kind="augment", avg_metric=avg)
    assert g.value == pytest.approx(_objective(net, layer, cm, cv, avg), rel=1e-12, abs=1e-14)
    gmax = max(float(np.abs(d).max()) for d in [*g.d_weights, *g.d_biases])
    h = 1e-5
    worst = 0.0
    for lay in range(net.depth):
        for idx in np.ndindex(net.weights[lay].shape):
            wp = [w.copy() for w in net.weights]
            wm = [w.copy() for w in net.weights]
            wp[lay][idx] += h
            wm[lay][idx] -= h
            fd = (
                _objective(net.replace(weights=wp), layer, cm, cv, avg) - _objective(net.replace(weights=wm), layer, cm, cv, avg)
            ) / (2 * h)
            rel = float(abs(fd - g.d_weights[lay][idx])) / max(abs(fd), 1e-3 * gmax)
            assert rel < 1e-5, (lay, idx, fd, g.d_weights[lay][idx])
            worst = max(worst, rel)
        for i in range(net.biases[lay].shape[0]):
            bp = [b.copy() for b in net.biases]
            bm = [b.copy() for b in net.biases]
            bp[lay][i] += h
            bm[lay][i] -= h
            fd = (
                _objective(net.replace(biases=bp), layer, cm, cv, avg) - _objective(net.replace(biases=bm), layer, cm, cv, avg)
            ) / (2 * h)
            rel = abs(fd - g.d_biases[lay][i]) / max(abs(fd), 1e-3 * gmax)
            assert rel < 1e-5, (lay, i, fd, g.d_biases[lay][i])
            worst = max(worst, rel)
    print(f"{widths} {act} avg={avg} init_scale={keep_scale}: worst relative error {worst:.2e}")


def test_metrics_give_different_gradients() -> None:
    # the metric enters from the second hidden layer on: exact and average gradients differ there
    net = _net([4, 6, 5, 3], "tanh", True, seed=3, full_cov=False)
    cm = np.array([0.5, -0.2, 0.9])
    exact = net.gradient(cm, 0.3, method="kprop", kind="augment")
    average = net.gradient(cm, 0.3, method="kprop", kind="augment", avg_metric=True)
    assert not np.allclose(exact.d_weights[0], average.d_weights[0], rtol=1e-6, atol=0)
    assert exact.value != average.value


def test_kprop2_simple_is_the_cov_prop_gradient() -> None:
    net = _net([4, 7, 6, 3], "relu", True, seed=8, full_cov=True)
    cm = np.array([0.3, -1.0, 0.4])
    cv = np.array([0.2, 0.1, -0.5])
    a = net.gradient(cm, cv, method="kprop", k_max=2, kind="simple")
    b = net.gradient(cm, cv, method="cov_prop", mehler_order=1)
    assert a.value == b.value
    for x, y in zip([*a.d_weights, *a.d_biases], [*b.d_weights, *b.d_biases], strict=True):
        assert np.array_equal(x, y)
    # ... and the value is the objective of estimate("kprop", k_max=2, kind="simple")
    e = net.estimate("kprop", k_max=2, kind="simple")
    assert a.value == pytest.approx(float(cm @ e.means[-1] + cv @ e.variances[-1]), rel=1e-13)
    # the metric does not enter K = 2 simple
    c = net.gradient(cm, cv, method="kprop", k_max=2, kind="simple", avg_metric=True)
    assert c.value == a.value


@pytest.mark.parametrize("avg", [False, True])
def test_kprop_tail_gradient_matches_the_estimate_and_finite_differences(avg: bool) -> None:
    net = mlp.random_mlp([6, 16, 12, 1], act="relu", b_var=0.2, seed=4)
    t = 2.0
    g = net.tail_gradient(t, method="kprop", kind="augment", avg_metric=avg)
    e = net.estimate("kprop", k_max=2, kind="augment", avg_metric=avg)
    m, v = float(e.means[-1][0]), float(e.variances[-1][0])
    assert g.value == pytest.approx(float(special.ndtr((m - t) / math.sqrt(v))), rel=1e-12)
    assert g.value != net.tail_gradient(t).value  # a different estimator than cov_prop
    for lay, idx in [(0, (3, 2)), (1, (5, 7)), (2, (0, 4))]:
        h = 1e-6
        wp = [w.copy() for w in net.weights]
        wm = [w.copy() for w in net.weights]
        wp[lay][idx] += h
        wm[lay][idx] -= h
        fp = net.replace(weights=wp).tail_gradient(t, method="kprop", kind="augment", avg_metric=avg).value
        fm = net.replace(weights=wm).tail_gradient(t, method="kprop", kind="augment", avg_metric=avg).value
        assert g.d_weights[lay][idx] == pytest.approx((fp - fm) / (2 * h), rel=1e-5, abs=1e-10)
    # an intermediate layer (the truncated net keeps init_scale)
    gi = net.tail_gradient(1.0, neuron=3, layer=1, method="kprop", kind="augment", avg_metric=avg)
    ei = net.estimate("kprop", k_max=2, kind="augment", avg_metric=avg)
    m, v = float(ei.means[1][3]), float(ei.variances[1][3])
    assert gi.value == pytest.approx(float(special.ndtr((m - 1.0) / math.sqrt(v))), rel=1e-12)


def test_kprop_gradient_is_bit_identical_for_any_thread_count() -> None:
    net = mlp.random_mlp([8, 40, 33, 5], act="tanh", b_var=0.1, seed=2)
    a = net.gradient(0.3, -0.2, method="kprop", kind="augment", threads=1)
    b = net.gradient(0.3, -0.2, method="kprop", kind="augment", threads=2)
    assert a.value == b.value
    for x, y in zip([*a.d_weights, *a.d_biases], [*b.d_weights, *b.d_biases], strict=True):
        assert np.array_equal(x, y)


def test_kprop_gradient_bad_input_raises_clear_errors() -> None:
    net = mlp.random_mlp([3, 5, 4, 2], act="relu", seed=1)
    for k, kind in [(1, "simple"), (1, "augment"), (3, "simple"), (3, "augment"), (4, "simple")]:
        with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
            net.gradient(1.0, method="kprop", k_max=k, kind=kind)  # type: ignore[arg-type]
        with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
            net.tail_gradient(1.0, method="kprop", k_max=k, kind=kind)  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
        net.gradient(1.0, method="kprop", k_max=7)
    with pytest.raises(errors.InvalidArgumentError, match=r"^kind"):
        net.gradient(1.0, method="kprop", kind="both")  # type: ignore[arg-type]
    with pytest.raises((errors.InvalidArgumentError, errors.InvalidTypeError), match=r"^avg_metric"):
        net.gradient(1.0, method="kprop", kind="augment", avg_metric="yes")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgumentError, match=r"^method"):
        net.gradient(1.0, method="cumulant3")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgumentError, match=r"^method"):
        net.tail_gradient(1.0, method="kprop1")  # type: ignore[arg-type]
    bad = net.replace()
    bad.init_scale = [1.0]
    with pytest.raises(errors.InvalidArgumentError, match=r"^init_scale"):
        bad.gradient(1.0, method="kprop", kind="augment", avg_metric=True)
    bad.init_scale = [1.0, float("nan"), 2.0]
    with pytest.raises(errors.InvalidArgumentError, match=r"^init_scale"):
        bad.gradient(1.0, method="kprop", kind="augment", avg_metric=True)
    # the compiled entry point: bad init_scale, kprop methods without gradients, bad layer
    cm = np.ones(2)
    with pytest.raises(errors.InvalidArgumentError, match=r"^init_scale"):
        _core.mlp_gradient(net._tuple(), "kprop2_augment", 1, 2, cm, cm, 1, [1.0, -1.0, 1.0], True)
    for m in ("kprop1", "kprop3_simple", "cumulant3"):
        with pytest.raises(errors.InvalidArgumentError, match=r"^method"):
            _core.mlp_gradient(net._tuple(), m, 1, 2, cm, cm, 1)
    with pytest.raises(errors.InvalidArgumentError, match=r"^layer"):
        _core.mlp_gradient(net._tuple(), "kprop2_augment", 1, 3, cm, cm, 1)
    with pytest.raises(errors.InvalidArgumentError, match=r"^c_mean"):
        _core.mlp_gradient(net._tuple(), "kprop2_augment", 1, 2, np.ones(3), cm, 1)
    with pytest.raises(errors.InvalidArgumentError, match=r"^c_mean"):
        _core.mlp_gradient(net._tuple(), "kprop2_augment", 1, 2, np.array([np.nan, 1.0]), cm, 1)
