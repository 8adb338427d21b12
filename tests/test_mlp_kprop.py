"""boltzkit.mlp: the paper's cumulant propagation (``estimate("kprop")``) and the splitting
rare-event estimator against independent truths (closed forms, Isserlis, exact Gaussian tails,
Monte Carlo with error bars)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pytest
from scipy import special

from boltzkit import errors, mlp

F64 = np.ndarray


def _rng_net(widths: list[int], act: mlp.Activation, seed: int, bias: bool = True) -> mlp.MLP:
    rng = np.random.default_rng(seed)
    ws = [
        rng.normal(0.0, math.sqrt((1.0 if i == 0 else 2.0) / widths[i]), (widths[i + 1], widths[i]))
        for i in range(len(widths) - 1)
    ]
    bs = [rng.normal(0.0, 0.3, widths[i + 1]) for i in range(len(widths) - 1)] if bias else None
    return mlp.MLP(ws, bs, [act] * (len(widths) - 2))


Kind = Literal["simple", "augment"]
KPROP: list[tuple[int, Kind]] = [
    (1, "simple"),
    (1, "augment"),
    (2, "simple"),
    (2, "augment"),
    (3, "simple"),
    (3, "augment"),
    (4, "simple"),
    (4, "augment"),
]


@pytest.mark.parametrize(("k", "kind"), KPROP)
def test_kprop_is_exact_on_identity_nets(k: int, kind: Kind) -> None:
    # identity activations: everything stays Gaussian, the means are exact for every K; K = 2
    # also gets the covariance exactly (K = 1 keeps only an isotropic covariance)
    net = _rng_net([6, 9, 7, 5], "identity", seed=1)
    w1, w2, w3 = net.weights
    b1, b2, b3 = net.biases
    mean = w3 @ (w2 @ b1 + b2) + b3
    cov = w3 @ w2 @ w1 @ w1.T @ w2.T @ w3.T
    est = net.estimate("kprop", k_max=k, kind=kind, keep_cov=True)
    np.testing.assert_allclose(est.mean, mean, rtol=1e-12, atol=1e-12)
    if k >= 2:
        np.testing.assert_allclose(est.cov[-1], cov, rtol=1e-11, atol=1e-12)
    if k >= 3:
        np.testing.assert_allclose(est.kappa3[-1], 0.0, atol=1e-12)  # Gaussian: no third cumulant
    assert est.diagnostics["reliable"]
    assert est.diagnostics["kprop"]["k_max"] == k


@pytest.mark.parametrize(("k", "kind"), KPROP)
@pytest.mark.parametrize("act", ["relu", "tanh", "gelu"])
def test_kprop_is_exact_with_one_hidden_layer(k: int, kind: Kind, act: mlp.Activation) -> None:
    # one hidden layer: z = W1 x + b1 is exactly Gaussian, E y = W2 E phi(z) + b2 (scipy quadrature)
    net = _rng_net([5, 12, 4], act, seed=2)
    w1, b1, w2, b2 = net.weights[0], net.biases[0], net.weights[1], net.biases[1]
    m, v = b1, np.sum(w1 * w1, axis=1)
    nodes, weights = np.polynomial.hermite_e.hermegauss(160)
    table: dict[str, Callable[[Any], Any]] = {
        "relu": lambda z: np.maximum(z, 0),
        "tanh": np.tanh,
        "gelu": lambda z: z * special.ndtr(z),
    }
    phi = table[act]
    if act == "relu":
        s = np.sqrt(v)
        g0 = s * np.exp(-0.5 * (m / s) ** 2) / math.sqrt(2 * math.pi) + m * special.ndtr(m / s)
    else:
        g0 = (phi(m[:, None] + np.sqrt(v)[:, None] * nodes[None, :]) @ weights) / math.sqrt(2 * math.pi)
    truth = w2 @ g0 + b2
    est = net.estimate("kprop", k_max=k, kind=kind)
    np.testing.assert_allclose(est.mean, truth, rtol=1e-9, atol=1e-10)


def _square_truth(net: mlp.MLP) -> tuple[F64, F64, F64]:
    """Exact (Isserlis) output mean of a square-activation net with two hidden layers, and the exact
    output mean and covariance of its first two layers (z -> z^2 -> linear)."""
    w1, w2, w3 = net.weights
    b1, b2, b3 = net.biases
    m1, s1 = b1, w1 @ w1.T
    e1 = m1**2 + np.diag(s1)
    c1 = 2 * s1**2 + 4 * np.outer(m1, m1) * s1  # Cov(z_i^2, z_j^2) for Gaussian z
    m2, s2 = w2 @ e1 + b2, w2 @ c1 @ w2.T
    mean3 = w3 @ (m2**2 + np.diag(s2)) + b3
    return mean3, m2, s2


def test_kprop_augment_is_exact_for_square_activations() -> None:
    # square activations: with one hidden layer the output covariance needs the S_ij^2 / 2 G2 G2
    # diagram (AUGMENT keeps it, SIMPLE drops it); with two, the mean needs only the exact mean and
    # variance of the second pre-activation (E z^2 = m^2 + v, no higher Wick terms)
    net = _rng_net([6, 10, 8, 4], "square", seed=3)
    mean3, m2, s2 = _square_truth(net)
    for k, kind in [(2, "augment"), (3, "simple"), (4, "simple"), (4, "augment")]:
        aug = net.estimate("kprop", k_max=k, kind=kind, keep_cov=True)  # type: ignore[arg-type]
        np.testing.assert_allclose(aug.means[1], m2, rtol=1e-12)
        np.testing.assert_allclose(aug.cov[1], s2, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(aug.mean, mean3, rtol=1e-11)
    simple = net.estimate("kprop", k_max=2, kind="simple", keep_cov=True)
    assert np.max(np.abs(simple.cov[1] - s2)) > 1e-3 * np.max(np.abs(s2))


def test_kprop3_augment_gets_the_third_cumulant_after_a_square_layer() -> None:
    # square activations, x = z^2 with z ~ N(m, S) exactly Gaussian: the Wick sum terminates and
    # kappa(x_i, x_j, x_k) = 8 S_ij S_jk S_ki + 8 (m_i m_j S_ik S_jk + m_j m_k S_ji S_ki + m_i m_k S_ij S_jk)
    # (the cumulants of Gaussian quadratic forms). The triangle 8 S S S is a diagram of cost 3:
    # K = 3 AUGMENT sums it, SIMPLE does not, so the next pre-activation's kappa3 is exact only
    # with AUGMENT. Read from the core (narrow square nets give negative later variances, and
    # the estimate would fall back); means and covariances stay exact as for K = 2 augment.
    from boltzkit import _core

    net = _rng_net([6, 10, 8, 4], "square", seed=3)
    w1, w2 = net.weights[0], net.weights[1]
    m, s = net.biases[0], w1 @ w1.T
    k3 = 8 * np.einsum("ij,jk,ki->ijk", s, s, s) + 8 * (
        np.einsum("i,j,ik,jk->ijk", m, m, s, s)
        + np.einsum("j,k,ji,ki->ijk", m, m, s, s)
        + np.einsum("i,k,ij,jk->ijk", m, m, s, s)
    )
    truth = np.einsum("iii->i", np.einsum("ai,bj,ck,ijk->abc", w2, w2, w2, k3))
    mean3, m2, s2 = _square_truth(net)
    simple = _core.mlp_estimate(net._tuple(), "kprop3_simple", 1, True, 1, None)
    assert np.max(np.abs(simple["pre_kappa3"][0] - truth)) > 0.1 * np.max(np.abs(truth))
    # K = 4 (both kinds) sums the triangle too (cost 3 is within SIMPLE's budget there)
    for method in ("kprop3_augment", "kprop4_simple", "kprop4_augment"):
        aug = _core.mlp_estimate(net._tuple(), method, 1, True, 1, None)
        np.testing.assert_allclose(aug["pre_kappa3"][0], truth, rtol=1e-11, atol=1e-11 * np.max(np.abs(truth)))
        np.testing.assert_allclose(aug["pre_mean"][1], m2, rtol=1e-12)
        np.testing.assert_allclose(aug["pre_cov"][1], s2, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(aug["pre_mean"][2], mean3, rtol=1e-11)


def test_kprop4_augment_is_exact_through_three_square_layers() -> None:
    # x ~ N(0, I_3) and three square layers: the output is a polynomial of degree 8 in x, so a
    # 5-node-per-axis Gauss-Hermite product rule (exact to degree 9) gives the exact output mean.
    # The mean needs the exact variance of the third pre-activation, i.e. Cov(z2_a^2, z2_b^2), i.e.
    # the exact fourth cumulant of z2 = W2 x1 + b2, i.e. of x1 = z1^2: its all-distinct slice
    # includes the Gaussian 4-cycle 16 S_ij S_jk S_kl S_li, a diagram of cost 4 that only K = 4
    # AUGMENT sums. K = 4 SIMPLE and K = 3 AUGMENT (fourth cumulant as Sym(A x I) only) are not exact.
    from boltzkit import _core

    net = _rng_net([3, 6, 5, 4, 2], "square", seed=12)
    nodes, weights = np.polynomial.hermite_e.hermegauss(5)
    grid = np.stack(np.meshgrid(nodes, nodes, nodes, indexing="ij"), axis=-1).reshape(-1, 3)
    wgt = np.einsum("i,j,k->ijk", weights, weights, weights).reshape(-1) / (2 * math.pi) ** 1.5
    truth = wgt @ net.forward(grid)
    spread = float(np.max(np.abs(truth)))

    def raw(method: str) -> F64:
        return np.asarray(_core.mlp_estimate(net._tuple(), method, 1, False, 1, None)["pre_mean"][-1])

    np.testing.assert_allclose(raw("kprop4_augment"), truth, rtol=1e-10, atol=1e-12 * spread)
    for other in ("kprop4_simple", "kprop3_augment"):
        assert np.max(np.abs(raw(other) - truth)) > 1e-4 * spread, other


def test_kprop_avg_metric_equals_exact_metric_on_normalised_rows() -> None:
    # rows of equal norm sqrt(w_var): the average metric w_var I has the exact metric's diagonal
    rng = np.random.default_rng(4)
    ws = []
    for n_in, n_out in [(8, 16), (16, 16), (16, 16), (16, 3)]:
        w = rng.normal(size=(n_out, n_in))
        ws.append(w / np.linalg.norm(w, axis=1, keepdims=True) * math.sqrt(2.0))
    net = mlp.MLP(ws, None, ["relu"] * 3)
    net.init_scale = [2.0] * 4
    a = net.estimate("kprop", k_max=1, avg_metric=True)
    b = net.estimate("kprop", k_max=1, avg_metric=False)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-13)
    np.testing.assert_allclose(a.variances[-1], b.variances[-1], rtol=1e-13)
    # random_mlp records w_var; a hand-built net uses the mean squared row norm
    assert mlp.random_mlp([4, 8, 2], seed=0).init_scale == pytest.approx([1.0, 2.0])
    net.init_scale = None
    assert net.estimate("kprop", k_max=1, avg_metric=True).diagnostics["kprop"]["init_scale"] == pytest.approx([2.0] * 4)


def test_kprop_k2_simple_is_cov_prop_and_k1_is_mean_prop() -> None:
    net = mlp.random_mlp([12, 20, 20, 5], act="tanh", b_var=0.1, seed=5)
    np.testing.assert_array_equal(net.estimate("kprop", k_max=2).mean, net.estimate("cov_prop").mean)
    np.testing.assert_allclose(net.estimate("kprop", k_max=1).mean, net.estimate("mean_prop").mean, rtol=1e-14)


def test_kprop_mse_falls_with_k_against_monte_carlo() -> None:
    # a small wide net: MSE of the output means against a MC truth (antithetic, 2^21 samples, its
    # noise floor subtracted) falls with each order: K = 1, 2 simple, 2 augment, 3 simple; K = 3
    # augment is as good as K = 3 simple here (not measurably better at width 40: 1.97e-6 vs
    # 2.03e-6 on this net, 1.5e-6 vs 1.1e-6 and 1.8e-6 vs 4.0e-6 on seeds 9 and 11)
    net = mlp.random_mlp([40, 40, 40, 16], act="relu", b_var=0.05, seed=8)
    mc = net.monte_carlo(n_samples=2**21, batch=4096, seed=7, antithetic=True)
    floor = float(np.mean(mc.stderr[-1] ** 2))
    mse = []
    for k, kind in [(1, "simple"), (2, "simple"), (2, "augment"), (3, "simple"), (3, "augment")]:
        est = net.estimate("kprop", k_max=k, kind=kind)  # type: ignore[arg-type]
        assert est.diagnostics["reliable"]
        mse.append(float(np.mean((est.mean - mc.mean) ** 2)) - floor)
    assert mse[1] < mse[0] / 5
    assert mse[2] < mse[1] / 2
    assert mse[3] < mse[2] / 2
    assert mse[4] < mse[2] / 2
    assert floor < mse[2] / 10


def test_kprop_factor_keeps_the_references_term_sets() -> None:
    # factored SIMPLE keeps every term (the same numbers); factored AUGMENT drops the augmented
    # diagrams that do not factor: a small change, not none (equality with the reference's own
    # factored runs is measured side by side in benches/bench_mlp_reference.py)
    from boltzkit import _core

    net = _rng_net([10, 16, 16, 16, 4], "relu", seed=13)
    for k in (3, 4):
        a = net.estimate("kprop", k_max=k, kind="simple")
        b = net.estimate("kprop", k_max=k, kind="simple", factor=True)
        assert a.diagnostics["reliable"] and b.diagnostics["reliable"]
        np.testing.assert_array_equal(a.mean, b.mean)
        assert b.diagnostics["kprop"]["factor"] is True
        full = _core.mlp_estimate(net._tuple(), f"kprop{k}_augment", 1, False, 1, None)
        fac = _core.mlp_estimate(net._tuple(), f"kprop{k}_augment_factor", 1, False, 1, None)
        diff = float(np.max(np.abs(full["pre_mean"][-1] - fac["pre_mean"][-1])))
        assert 0.0 < diff < 0.05 * float(np.max(np.sqrt(np.abs(full["pre_var"][-1]))))


def test_kprop3_simple_runs_past_the_dense_width_limit() -> None:
    # K = 3 SIMPLE keeps the third cumulant factored (O(n^2) numbers per unit of rank): width 300,
    # past the dense n^3 limit of 256. One hidden layer: the mean is exact (closed form); identity
    # activations: mean, covariance and the vanishing third cumulant exact through two layers.
    net = _rng_net([5, 300, 4], "relu", seed=21)
    w1, b1, w2, b2 = net.weights[0], net.biases[0], net.weights[1], net.biases[1]
    m, s = b1, np.sqrt(np.sum(w1 * w1, axis=1))
    g0 = s * np.exp(-0.5 * (m / s) ** 2) / math.sqrt(2 * math.pi) + m * special.ndtr(m / s)
    est = net.estimate("kprop", k_max=3)
    np.testing.assert_allclose(est.mean, w2 @ g0 + b2, rtol=1e-9, atol=1e-10)
    assert est.diagnostics["reliable"]
    ident = _rng_net([6, 300, 300, 3], "identity", seed=22)
    v1, v2, v3 = ident.weights
    c1, c2, c3 = ident.biases
    est = ident.estimate("kprop", k_max=3, keep_cov=True)
    np.testing.assert_allclose(est.mean, v3 @ (v2 @ c1 + c2) + c3, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(est.cov[-1], v3 @ v2 @ v1 @ v1.T @ v2.T @ v3.T, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(est.kappa3[-1], 0.0, atol=1e-10)


def test_kprop4_simple_runs_past_the_dense_width_limit() -> None:
    # K = 4 SIMPLE keeps the fourth cumulant factored (O(n^2) numbers per unit of rank): width 150,
    # past the dense n^4 limit of 128. One hidden layer: the exact mean (closed form); identity
    # activations through three hidden layers (the fourth cumulant carried through two): mean,
    # covariance and the vanishing third cumulant exact.
    net = _rng_net([5, 150, 4], "relu", seed=23)
    w1, b1, w2, b2 = net.weights[0], net.biases[0], net.weights[1], net.biases[1]
    m, s = b1, np.sqrt(np.sum(w1 * w1, axis=1))
    g0 = s * np.exp(-0.5 * (m / s) ** 2) / math.sqrt(2 * math.pi) + m * special.ndtr(m / s)
    est = net.estimate("kprop", k_max=4)
    np.testing.assert_allclose(est.mean, w2 @ g0 + b2, rtol=1e-9, atol=1e-10)
    assert est.diagnostics["reliable"]
    ident = _rng_net([6, 150, 150, 150, 3], "identity", seed=24)
    v1, v2, v3, v4 = ident.weights
    c1, c2, c3, c4 = ident.biases
    est = ident.estimate("kprop", k_max=4, keep_cov=True)
    np.testing.assert_allclose(est.mean, v4 @ (v3 @ (v2 @ c1 + c2) + c3) + c4, rtol=1e-11, atol=1e-12)
    prod = v4 @ v3 @ v2 @ v1
    np.testing.assert_allclose(est.cov[-1], prod @ prod.T, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(est.kappa3[-1], 0.0, atol=1e-10)
    with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
        ident.estimate("kprop", k_max=4, kind="augment")


def test_kprop4_simple_is_bit_identical_for_any_thread_count_at_width_70() -> None:
    # wide enough that the factored fourth cumulant's matrix products split into row blocks
    net = _rng_net([9, 70, 70, 70, 3], "tanh", seed=15)
    a = net.estimate("kprop", k_max=4, threads=1)
    b = net.estimate("kprop", k_max=4, threads=2)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.variances[-1], b.variances[-1])
    assert a.flops == b.flops > 0


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_kprop_is_bit_identical_for_any_thread_count(k: int) -> None:
    # K ≤ 2 at width 100: the parallel per-row sums (K = 2 augment's fourth-cumulant trace summed
    # by a thread-split parallel sum once differed in the last bit) and the blocked symmetric
    # products; every layer compared
    widths = {1: [9, 100, 100, 100, 3], 2: [9, 100, 100, 100, 3], 3: [9, 70, 70, 14, 3], 4: [9, 14, 14, 14, 3]}[k]
    net = _rng_net(widths, "tanh", seed=14)
    cases: tuple[tuple[Kind, bool], ...] = (("simple", False), ("augment", False), ("augment", True))
    for kind, factor in cases:
        a = net.estimate("kprop", k_max=k, kind=kind, factor=factor, threads=1)
        b = net.estimate("kprop", k_max=k, kind=kind, factor=factor, threads=2)
        for x, y in [(a.means, b.means), (a.variances, b.variances), (a.act_means, b.act_means)]:
            for u, v in zip(x, y, strict=True):
                np.testing.assert_array_equal(u, v)
        for u, v in zip(a.act_variances, b.act_variances, strict=True):
            np.testing.assert_array_equal(u, v)
        assert a.flops == b.flops > 0


def test_kprop_bad_options() -> None:
    net = mlp.random_mlp([4, 6, 2], seed=0)
    with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
        mlp.random_mlp([4, 300, 2], seed=0).estimate("kprop", k_max=3, kind="augment")
    with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
        mlp.random_mlp([4, 130, 2], seed=0).estimate("kprop", k_max=4, kind="augment")
    with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
        mlp.random_mlp([4, 260, 2], seed=0).estimate("kprop", k_max=4)
    with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
        net.estimate("kprop", k_max=5)
    with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
        mlp.random_mlp([4, 1030, 2], seed=0).estimate("kprop", k_max=3)
    with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
        mlp.random_mlp([4, 300, 2], seed=0).estimate("kprop", k_max=3, kind="augment", factor=True)
    with pytest.raises(errors.InvalidArgumentError, match=r"^k_max"):
        net.estimate("kprop", k_max=0)
    with pytest.raises(errors.InvalidArgumentError, match=r"^kind"):
        net.estimate("kprop", kind="base")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidTypeError, match=r"^avg_metric"):
        net.estimate("kprop", avg_metric="yes")  # type: ignore[arg-type]
    net.init_scale = [1.0]
    with pytest.raises(errors.InvalidArgumentError, match=r"^init_scale"):
        net.estimate("kprop", k_max=1, avg_metric=True)


def test_kprop_negative_variance_is_set_to_zero_with_a_warning() -> None:
    # narrow AUGMENT nets can produce a negative activation variance: never returned silently
    found = False
    for seed in range(40):
        net = _rng_net([12, 16, 16, 16, 8], "relu", seed=seed, bias=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = net.estimate("kprop", k_max=2, kind="augment")
        if not est.diagnostics["reliable"]:
            # kprop keeps its own means (as the reference returns them) and sets the negative
            # variances to 0, flagged and warned
            from boltzkit import _core

            found = True
            raw = _core.mlp_estimate(net._tuple(), "kprop2_augment", 1, False, 1, None)
            assert est.diagnostics["fallback"] is None
            assert "set to 0" in est.diagnostics["problem"]
            assert any("kprop (k_max=2, kind='augment')" in str(w.message) for w in caught)
            assert all(np.all(v >= 0) for v in est.variances)
            assert all(np.all(v >= 0) for v in est.act_variances)
            np.testing.assert_array_equal(est.mean, raw["pre_mean"][-1])
            assert any(np.any(np.asarray(v) < 0) for v in raw["post_var"] + raw["pre_var"])
            break
    assert found


def test_kprop3_augment_negative_variance_keeps_the_exact_means() -> None:
    # the narrow square net above: K = 3 AUGMENT's truncated fourth cumulant gives a negative
    # activation variance at layer 1 (the core returns it as the reference would)
    net = _rng_net([6, 10, 8, 4], "square", seed=3)
    with pytest.warns(RuntimeWarning, match=r"kprop \(k_max=3, kind='augment'\).*set to 0"):
        est = net.estimate("kprop", k_max=3, kind="augment", keep_cov=True)
    assert not est.diagnostics["reliable"]
    assert est.diagnostics["fallback"] is None
    # its means are kept: exact here (Isserlis), where the cov_prop fallback was not
    mean3, _, _ = _square_truth(net)
    np.testing.assert_allclose(est.mean, mean3, rtol=1e-11)
    assert np.max(np.abs(net.estimate("cov_prop").mean - mean3)) > 1e-6 * np.max(np.abs(mean3))
    assert all(np.all(v >= 0) for v in est.variances + est.act_variances)
    assert all(np.all(np.diag(c) >= 0) for c in est.cov if c is not None)


@pytest.mark.parametrize(("seed", "k"), [(324, 3), (177, 4)])
def test_kprop_that_diverges_out_of_the_activations_range_falls_back(seed: int, k: int) -> None:
    # width-4 tanh nets where the augmented estimate diverges (a tanh activation mean of -15.9 or
    # -5.8e20 at layer 2, the reference's numbers are as far off): an activation mean outside the
    # activation's range is impossible, so the estimate is not kept; cov_prop:1 is returned, flagged
    from boltzkit import _core

    rng = np.random.default_rng(seed)
    ws = [rng.normal(0.0, 0.5, (4, 4)) for _ in range(4)]
    bs = [rng.normal(0.0, math.sqrt(0.1), 4) for _ in range(4)]
    net = mlp.MLP(ws, bs, ["tanh"] * 3)
    raw = _core.mlp_estimate(net._tuple(), f"kprop{k}_augment", 1, False, 1, None)
    assert max(float(np.max(np.abs(a))) for a in raw["post_mean"][:-1]) > 1.0
    with pytest.warns(RuntimeWarning, match=r"outside tanh's range"):
        est = net.estimate("kprop", k_max=k, kind="augment")
    assert not est.diagnostics["reliable"]
    assert est.diagnostics["fallback"] == "cov_prop:1"
    np.testing.assert_array_equal(est.mean, net.estimate("cov_prop").mean)
    assert all(np.all(np.abs(m) <= 1.0) for m in est.act_means[:-1])


# ---------------------------------------------------------------- splitting (rare events)
def test_splitting_is_exact_on_a_first_layer_tail() -> None:
    # a first-layer pre-activation is exactly Gaussian: P = Q((t - b) / ||w||), here ~ 3e-6
    net = mlp.random_mlp([24, 24, 4], act="relu", b_var=0.1, seed=8)
    w, b = net.weights[0][2], net.biases[0][2]
    t = float(b + 4.5 * np.linalg.norm(w))
    exact = float(special.ndtr(-(t - b) / np.linalg.norm(w)))
    r = net.tail_probability(layer=0, threshold=t, method="splitting", neuron=2, n_samples=60000, seed=1)
    assert r.reliable
    assert r.stderr is not None and r.ess is not None
    assert abs(r.p[0] - exact) < 4 * r.stderr[0]
    assert r.stderr[0] < 0.3 * exact
    assert r.details["nonzero"] >= 8


def test_splitting_agrees_with_monte_carlo_on_a_deep_net() -> None:
    net = mlp.random_mlp([32, 32, 32, 32, 4], act="tanh", b_var=0.05, seed=9)
    mc = net.monte_carlo(n_samples=2**15, seed=2)
    t = float(mc.mean[1] + 2.3 * math.sqrt(mc.variances[-1][1]))
    ref = net.tail_probability(threshold=t, method="mc", neuron=1, n_samples=2**20, seed=3)
    r = net.tail_probability(threshold=t, method="splitting", neuron=1, n_samples=40000, seed=4)
    assert r.reliable
    assert r.stderr is not None and ref.stderr is not None
    z = (r.p[0] - ref.p[0]) / math.hypot(r.stderr[0], ref.stderr[0])
    assert abs(z) < 4


def test_splitting_bad_input_and_unreachable_threshold() -> None:
    net = mlp.random_mlp([6, 8, 2], seed=0)
    with pytest.raises(errors.InvalidArgumentError, match=r"^neuron"):
        net.tail_probability(method="splitting")
    with pytest.raises(errors.InvalidArgumentError, match=r"^n_samples"):
        net.tail_probability(method="splitting", neuron=0, n_samples=100)
    with pytest.warns(RuntimeWarning, match="splitting"):
        r = net.tail_probability(threshold=1e6, method="splitting", neuron=0, n_samples=4000)
    assert not r.reliable
    assert 0.0 <= r.p[0] <= 1.0


def test_estimates_no_distribution_allows_are_caught() -> None:
    # the checks every estimate passes before it is returned: Popoviciu's bound on a bounded
    # activation's variance and the Cauchy–Schwarz bound Var(Σ_j W_ij φ_j) ≤ (Σ_j |W_ij| sd_j)²
    from boltzkit.mlp import _estimate_problem

    w1 = np.array([[1.0, -2.0], [0.5, 0.5]])
    ws = [np.eye(2), w1]

    def raw(post_var: list[float], pre_var1: list[float]) -> dict[str, list[np.ndarray]]:
        return {
            "pre_mean": [np.zeros(2), np.zeros(2)],
            "post_mean": [np.zeros(2), np.zeros(2)],
            "pre_var": [np.ones(2), np.array(pre_var1)],
            "post_var": [np.array(post_var), np.array(pre_var1)],
            "pre_cov": [],
            "pre_kappa3": [],
        }

    # sd = (0.6, 0.8): the bounds are (0.6 + 1.6)² = 4.84 and (0.3 + 0.4)² = 0.49
    assert _estimate_problem(raw([0.36, 0.64], [4.84, 0.49]), ["tanh"], ws) is None
    msg = _estimate_problem(raw([0.36, 0.64], [4.84, 0.4901]), ["tanh"], ws)
    assert msg is not None and "above the bound" in msg and "layer 1" in msg
    msg = _estimate_problem(raw([0.36, 1.01], [1.0, 0.1]), ["tanh"], ws)
    assert msg is not None and "above tanh's bound 1" in msg
    assert _estimate_problem(raw([0.36, 1.01], [1.0, 0.1]), ["relu"], ws) is None  # unbounded above
    msg = _estimate_problem(raw([0.3, 0.1], [0.1, 0.1]), ["heaviside"], ws)
    assert msg is not None and "heaviside's bound 0.25" in msg


def test_the_finiteness_check_names_the_array_and_survives_an_overflowing_sum() -> None:
    # _estimate_problem screens every array by its sum (nan and inf propagate into it); a sum of
    # finite values that overflows must not be reported, and a bad value anywhere must be, by name
    from boltzkit.mlp import _estimate_problem

    def raw() -> dict[str, list[np.ndarray]]:
        return {
            "pre_mean": [np.zeros(3), np.zeros(3)],
            "post_mean": [np.zeros(3), np.zeros(3)],
            "pre_var": [np.ones(3), np.ones(3)],
            "post_var": [np.ones(3), np.ones(3)],
            "pre_cov": [np.eye(3), np.eye(3)],
            "pre_kappa3": [np.zeros(3)],
        }

    assert _estimate_problem(raw(), ["identity"]) is None
    r = raw()
    r["pre_mean"][1][:] = [1.7e308, 1.7e308, 0.0]  # finite, but the sum overflows to inf
    r["pre_cov"][0][0, 1] = r["pre_cov"][0][1, 0] = 1.7e308
    assert _estimate_problem(r, ["identity"]) is None
    for key, layer in [("pre_mean", 1), ("post_var", 0), ("pre_cov", 1), ("pre_kappa3", 0)]:
        for bad in (np.nan, np.inf, -np.inf):
            r = raw()
            r[key][layer].flat[1] = bad
            assert _estimate_problem(r, ["identity"]) == f"a non-finite value in {key} of layer {layer}"
    r = raw()
    r["pre_cov"][0][0, 1], r["pre_cov"][0][1, 0] = np.inf, -np.inf  # the sum is nan
    assert _estimate_problem(r, ["identity"]) == "a non-finite value in pre_cov of layer 0"


@pytest.mark.parametrize(
    "method",
    [
        "kprop3_simple",
        "kprop3_augment",
        "kprop3_augment_factor",
        "kprop4_simple",
        "kprop4_augment",
        "kprop4_augment_factor",
    ],
)
def test_the_last_hidden_layer_computes_what_the_output_needs(method: str) -> None:
    # the last hidden layer skips the cumulants only later layers would read: a net with one more
    # layer runs those layers in full, and its first layers must give the same numbers
    from boltzkit import _core

    long = _rng_net([6, 7, 8, 5, 6, 3], "tanh", seed=21)
    short = mlp.MLP(long.weights[:-1], long.biases[:-1], list(long.activations[:-1]))
    a = _core.mlp_estimate(short._tuple(), method, 1, False, 1, None)
    b = _core.mlp_estimate(long._tuple(), method, 1, False, 1, None)
    assert len(a["pre_mean"]) == 4 and len(b["pre_mean"]) == 5
    for key in ("pre_mean", "pre_var", "pre_kappa3"):  # κ3 from the second layer on
        for x, y in zip(a[key], b[key][: len(a[key])], strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)
    # and the output's κ3 is the diagonal of the mapped third cumulant, not zero
    assert np.max(np.abs(a["pre_kappa3"][-1])) > 1e-4
