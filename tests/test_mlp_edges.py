"""boltzkit.mlp at the edges (issue 14): huge values, huge sizes, degenerate nets, bad arguments,
estimators that cannot be trusted. Truths are closed forms or independent numpy sampling."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from scipy import special

from boltzkit import mlp
from boltzkit.errors import ComputationError, InvalidArgumentError, InvalidTypeError


def _numpy_mc(net: mlp.MLP, n: int, seed: int, layer: int = -1) -> Any:
    """Pre-activations of ``layer`` for ``n`` standard-normal inputs (numpy forward pass)."""
    x = np.random.default_rng(seed).standard_normal((n, net.widths[0]))
    return net.forward(x, layer)


# --------------------------------------------------------------------------- huge weights
def test_weights_changed_in_place_are_seen_and_checked_by_the_next_call() -> None:
    # the core reads the caller's weight arrays on every call (no copy, no cache): a change made
    # in place is used, and a non-finite one is refused by name with its position
    net = mlp.random_mlp([5, 7, 3], act="tanh", init="he", seed=3)
    before = net.estimate("kprop", k_max=1).means[-1].copy()
    net.weights[1][2, 6] *= 3.0
    after = net.estimate("kprop", k_max=1).means[-1]
    assert after[2] != before[2] and np.array_equal(after[:2], before[:2])
    for bad in (np.nan, np.inf, -np.inf):
        net.weights[0][4, 3] = bad
        with pytest.raises(InvalidArgumentError, match=r"^weights: layer 0 must be finite, .* at flat index 23$"):
            net.estimate("kprop", k_max=1)
    net.weights[0][4, 3] = 0.5
    net.biases[1][1] = np.nan
    with pytest.raises(InvalidArgumentError, match=r"^biases: layer 1 must be finite"):
        net.estimate("kprop", k_max=2, kind="augment")


def test_estimate_overflow_is_a_named_error() -> None:
    net = mlp.MLP([np.eye(2) * 1e300, np.ones((1, 2))], activations=["tanh"])
    with pytest.raises(InvalidArgumentError, match=r"^weights: .*too large"):
        net.estimate("cov_prop")


@pytest.mark.parametrize("scale", [1e100, 1e150])
def test_tanh_of_huge_preactivations_is_the_sign(scale: float) -> None:
    # z_i = scale x_i: tanh is sign(x_i), independent fair coins, so y = sign(x1) + sign(x2) has
    # mean 0 and variance 2 (closed form)
    net = mlp.MLP([np.eye(2) * scale, np.ones((1, 2))], activations=["tanh"])
    est = net.estimate("cov_prop")
    assert abs(est.mean[0]) < 1e-9
    assert est.act_means[0] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert est.act_variances[0] == pytest.approx([1.0, 1.0], rel=1e-9)
    assert est.variances[-1][0] == pytest.approx(2.0, rel=1e-6)


@pytest.mark.parametrize(("m", "v"), [(0.0, 1e4), (30.0, 1e6), (-5e3, 4e6), (1e5, 1e12)])
def test_tanh_moments_of_wide_inputs_match_closed_forms(m: float, v: float) -> None:
    # for s >> 1, E tanh(Z) = 1 - 2 Phi(-m/s) + O(1/s^2) and E tanh'(Z) = 2 pdf(m/s)/s + O(1/s^3)
    s = math.sqrt(v)
    r = mlp.gauss_moments("tanh", [m], [v], kmax=3)
    assert r["g"][0, 0] == pytest.approx(1 - 2 * special.ndtr(-m / s), abs=5 / v)
    assert r["g"][0, 1] == pytest.approx(2 * math.exp(-0.5 * (m / s) ** 2) / math.sqrt(2 * math.pi) / s, rel=1e-3, abs=1e-300)
    assert r["e2"][0] == pytest.approx(1 - 2 * math.exp(-0.5 * (m / s) ** 2) / math.sqrt(2 * math.pi) / s, rel=1e-3)


def test_monte_carlo_with_overflowing_weights_is_a_named_error() -> None:
    net = mlp.MLP([np.full((2, 2), 1e200), np.full((1, 2), 1e200)], activations=["relu"])
    with pytest.raises(InvalidArgumentError, match=r"^weights: "):
        net.monte_carlo(n_samples=1000)


# --------------------------------------------------------------------------- sizes
def test_random_mlp_refuses_widths_beyond_memory() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^widths: .*memory"):
        mlp.random_mlp([10**6] * 3)


def test_monte_carlo_refuses_too_many_samples() -> None:
    net = mlp.random_mlp([4, 4, 1], seed=0)
    with pytest.raises(InvalidArgumentError, match=r"^n_samples: "):
        net.monte_carlo(2**64)
    with pytest.raises(InvalidArgumentError, match=r"^n_samples: .*steps"):
        net.monte_carlo(2**63)


def test_cumulant3_width_limit_is_named() -> None:
    net = mlp.random_mlp([300, 1], seed=0)
    with pytest.raises(InvalidArgumentError, match=r"^method: cumulant3"):
        net.estimate("cumulant3")


# --------------------------------------------------------------------------- negative variances
def test_cumulant3_negative_variance_falls_back_and_says_so() -> None:
    rng = np.random.default_rng(324)  # widths 1 -> 2 -> 2 -> 1, erf, weights ~ N(0, 1)
    ws = [rng.standard_normal((2, 1)), rng.standard_normal((2, 2)), rng.standard_normal((1, 2))]
    net = mlp.MLP(ws, activations=["erf", "erf"])
    with pytest.warns(RuntimeWarning, match="negative variance"):
        est = net.estimate("cumulant3")
    assert est.diagnostics["reliable"] is False
    assert est.diagnostics["fallback"] == "cov_prop:2"
    y = _numpy_mc(net, 200_000, 1)
    assert all(np.all(v >= 0) for v in est.variances + est.act_variances)
    assert 0.2 * y.var() < est.variances[-1][0] < 5 * y.var()


def test_high_mehler_order_negative_variance_falls_back() -> None:
    w_var = float(np.random.default_rng(1).uniform(20, 40)) ** 2 * 4
    net = mlp.random_mlp([4, 4, 4, 1], act="gelu", init="manual", w_var=w_var, seed=1)
    with pytest.warns(RuntimeWarning, match="negative variance|above the bound"):
        est = net.estimate("cov_prop", mehler_order=6)
    assert est.diagnostics["reliable"] is False
    y = _numpy_mc(net, 100_000, 2, layer=1)
    assert np.all(est.variances[1] >= 0)
    assert np.all(est.variances[1] < 5 * y.var(0)) and np.all(est.variances[1] > 0.2 * y.var(0))


def test_reliable_estimate_has_no_warning() -> None:
    net = mlp.random_mlp([8, 8, 1], act="erf", seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = net.estimate("cumulant3")
    assert est.diagnostics["reliable"] is True and est.diagnostics["fallback"] is None


# --------------------------------------------------------------------------- tails
def test_importance_sampling_flags_weight_degeneracy_or_holds() -> None:
    # width 256: plain Monte Carlo (numpy) gives P(z > 2) ~ 1e-4; IS must not return a confident
    # number that is orders of magnitude off
    net = mlp.random_mlp([256, 256, 256, 1], act="relu", init="he", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = net.tail_probability(threshold=3.0, method="is", neuron=0, n_samples=2**13)
    y = _numpy_mc(net, 2**15, 5)[:, 0]
    truth = float(np.mean(y > 3.0))
    p = float(r.p[0])
    assert r.ess is not None and r.stderr is not None
    assert 0.0 <= p <= 1.0
    if r.reliable:
        assert abs(p - truth) < 5 * float(r.stderr[0]) + 5 * math.sqrt(truth / 2**15), (p, truth)
    else:
        assert any("degenerate" in str(w.message) for w in caught)


@pytest.mark.parametrize("width", [16, 256])
def test_importance_sampling_agrees_with_plain_mc(width: int) -> None:
    net = mlp.random_mlp([width, width, 1], act="relu", init="he", seed=2)
    y = _numpy_mc(net, 2**16, 7)[:, 0]
    t = float(np.quantile(y, 1 - 5e-3))  # P ~ 5e-3
    truth = float(np.mean(y > t))
    r = net.tail_probability(threshold=t, method="is", neuron=0, n_samples=2**14, seed=3)
    assert r.stderr is not None
    se_truth = math.sqrt(truth * (1 - truth) / 2**16)
    assert abs(float(r.p[0]) - truth) < 5 * (float(r.stderr[0]) + se_truth)


def test_tail_probabilities_are_probabilities_for_huge_weights() -> None:
    net = mlp.MLP([np.full((2, 2), 1e150), np.full((1, 2), 1.0)], activations=["relu"])
    for method in ("gauss", "mc"):
        r = net.tail_probability(threshold=1.0, method=method, n_samples=2000)
        assert np.all((r.p >= 0) & (r.p <= 1)) and np.all(np.isfinite(r.p))
    # y = 2e150 relu(x1 + x2) > 1 iff x1 + x2 > 0: P = 1/2
    r = net.tail_probability(threshold=1.0, method="mc", n_samples=20_000)
    assert float(r.p[0]) == pytest.approx(0.5, abs=0.03)


# --------------------------------------------------------------------------- python helpers
def test_critical_init_without_critical_point_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^init: "):
        mlp.random_mlp([4, 1, 1, 3], act="heaviside", init="critical")


def test_he_init_with_dead_units_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^b_mean: "):
        mlp.random_mlp([4, 3, 3], act="relu", b_mean=-1e3)


def test_tail_gradient_of_a_zero_net() -> None:
    net = mlp.MLP([np.zeros((3, 4)), np.zeros((1, 3))])
    g = net.tail_gradient(1.0)
    assert g.value == 0.0  # y = 0 surely
    assert all(np.all(d == 0) for d in g.d_weights)
    assert net.tail_gradient(-1.0).value == 1.0


def test_design_point_bad_neuron_is_named() -> None:
    net = mlp.random_mlp([4, 3, 2], seed=0)
    with pytest.raises(InvalidArgumentError, match=r"^neuron: must be an int between 0 and 2, got 5"):
        net.design_point(0, 5, 1.0)


def test_negative_w_var_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^w_var: "):
        mlp.random_mlp([4, 3], init="manual", w_var=-1)


def test_gauss_moments_names_its_argument() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^activation: "):
        mlp.gauss_moments("softplus", [0.0], [1.0])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"^v: "):
        mlp.gauss_moments("relu", [0.0], [0.0])
    with pytest.raises(InvalidTypeError, match=r"^m: "):
        mlp.gauss_moments("relu", "a", [1.0])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "name", "exc"),
    [
        (lambda n: n.monte_carlo(n_samples=True), "n_samples", InvalidTypeError),
        (lambda n: n.monte_carlo(n_samples=-1), "n_samples", InvalidArgumentError),
        (lambda n: n.monte_carlo(n_samples=10, seed=2**64), "seed", InvalidArgumentError),
        (lambda n: n.monte_carlo(n_samples=10, antithetic=1), "antithetic", InvalidTypeError),
        (lambda n: n.estimate(keep_cov=1), "keep_cov", InvalidTypeError),
        (lambda n: n.estimate(mehler_order=2**63), "mehler_order", InvalidArgumentError),
        (lambda n: n.estimate(method=3), "method", InvalidArgumentError),
        (lambda n: n.estimate(threads=-1), "threads", InvalidArgumentError),
        (lambda n: n.tail_probability(method="x"), "method", InvalidArgumentError),
        (lambda n: n.tail_probability(threshold=float("nan")), "threshold", InvalidArgumentError),
        (lambda n: n.tail_probability(method="mc", batch=0), "batch", InvalidArgumentError),
        (lambda n: n.gradient("x"), "c_mean", InvalidTypeError),
        (lambda n: n.gradient([1.0, 2.0, 3.0]), "c_mean", InvalidArgumentError),
        (lambda n: n.forward(np.ones((2, 5))), "x", InvalidArgumentError),
        (lambda n: n.forward(np.ones((2, 4)), layer=2**64), "layer", InvalidArgumentError),
        (lambda n: n.is_shift(0, 0, 1.0, rho=2.0), "rho", InvalidArgumentError),
        (lambda n: mlp.compare_equal_flops(n, methods=["cov_prop:x"]), "methods", InvalidArgumentError),
        (lambda n: mlp.compare_equal_flops(n, truth_samples=2**62), "truth_samples", InvalidArgumentError),
        (lambda n: mlp.compare_equal_flops(n, truth_samples=1.5), "truth_samples", InvalidTypeError),  # type: ignore[arg-type]
        (lambda n: mlp.plot_mse_vs_flops([1]), "comparisons", InvalidTypeError),  # type: ignore[list-item]
        (lambda n: mlp.mean_field(["relu"], [2.0]), "w_var", InvalidArgumentError),
        (lambda n: mlp.MLP([np.ones((2, 2), dtype=complex)]), "weights[0]", InvalidTypeError),
        (lambda n: mlp.MLP([np.ones((2, 2))], biases=3), "biases", InvalidTypeError),  # type: ignore[arg-type]
        (lambda n: mlp.MLP([np.ones((2, 2)), np.ones((1, 2))], activations="relu"), "activations", InvalidTypeError),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_raise_named_errors(call: Any, name: str, exc: type[Exception]) -> None:
    net = mlp.random_mlp([4, 3, 1], seed=0)
    with pytest.raises(exc) as info:
        call(net)
    assert str(info.value).startswith(f"{name}: ")


def test_constant_output_comparison_is_named() -> None:
    net = mlp.MLP([np.zeros((3, 4)), np.zeros((1, 3))])
    with pytest.raises(InvalidArgumentError, match=r"^net: "):
        mlp.compare_equal_flops(net, truth_samples=1000)


def test_probability_check_refuses_out_of_range() -> None:
    with pytest.raises(ComputationError):
        mlp._prob(np.array([1.0015]))


def test_importance_sampling_is_bit_identical_across_threads() -> None:
    net = mlp.random_mlp([8, 8, 1], act="tanh", seed=4)
    runs = [net.tail_probability(threshold=2.0, method="is", neuron=0, n_samples=5000, batch=256, threads=t) for t in (1, 2, 4)]
    for r in runs[1:]:
        assert np.array_equal(r.p, runs[0].p) and r.stderr is not None and runs[0].stderr is not None
        assert np.array_equal(r.stderr, runs[0].stderr)


def test_unreachable_threshold_gives_a_probability_not_an_overflow() -> None:
    # tanh outputs are bounded by sum |W2| (= 3 here): P(y > 1e300) = 0 and P(y > -1e300) = 1 exactly
    net = mlp.MLP([np.eye(3), np.ones((1, 3))], activations=["tanh"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hi = net.tail_probability(threshold=1e300, method="is", neuron=0, n_samples=2000)
        lo = net.tail_probability(threshold=-1e300, method="is", neuron=0, n_samples=2000)
    assert float(hi.p[0]) == 0.0 and float(lo.p[0]) == 1.0


@pytest.mark.parametrize("kmax", [0, 1, 2, 5])
def test_gauss_moments_has_kmax_plus_one_orders(kmax: int) -> None:
    r = mlp.gauss_moments("identity", [0.5, -1.0], [2.0, 3.0], kmax=kmax)
    assert r["g"].shape == (2, kmax + 1)
    assert r["g"][:, 0] == pytest.approx([0.5, -1.0])  # E Z = m


def test_kprop_of_a_wide_tanh_input_is_prompt_and_right() -> None:
    """Found by the long fuzz run: tanh pre-activations of sd ~1e100 made kprop's Wick quadrature
    take ~1e101 trapezoid nodes (it hung). The wide-input rule is exact in the step limit:
    tanh(Z) = sign(Z) for Z ~ N(0, 1e200), so the first activations have mean 0 and variance 1."""
    import subprocess
    import sys

    code = """
import numpy as np
from boltzkit import mlp
w = [np.array([[2.11742562e100, 7.79624387e98, 4.54918855e99, -6.25136509e99]]), np.array([[0.53097594]]),
     np.array([[-1.28973001], [0.50300005], [1.11923162], [-2.93467197]])]
net = mlp.MLP(w, activations=["tanh", "tanh"])
for k, kind in [(1, "simple"), (2, "simple"), (2, "augment"), (3, "simple")]:
    e = net.estimate("kprop", k_max=k, kind=kind)
    assert all(np.all(np.isfinite(x)) for x in e.means + e.variances), (k, kind)
    assert abs(e.act_means[0][0]) < 1e-12 and abs(e.act_variances[0][0] - 1) < 1e-12, (k, kind, e.act_variances[0])
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
