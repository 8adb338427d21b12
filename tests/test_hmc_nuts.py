"""NUTS, divergences, sample statistics, the ArviZ summary and callbacks: checked against
independent truths (closed-form moments with ESS-based error bars, ArviZ's own diagnostics)."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np
import pytest

from boltzkit import hmc
from boltzkit.errors import InvalidArgumentError


def _z_moments(tr: hmc.Trace, var: np.ndarray, mean: np.ndarray | None = None) -> tuple[float, float]:
    """Largest |z| of the means and variances against the truth, with ESS-based standard errors
    (Gaussian fourth moment for the variance)."""
    x = tr.draws
    flat = x.reshape(-1, x.shape[2])
    m0 = np.zeros(x.shape[2]) if mean is None else mean
    ess_x, ess_x2 = tr.ess("x"), tr.ess("x2")
    zm = (flat.mean(axis=0) - m0) / np.sqrt(var / ess_x)
    zv = (((flat - m0) ** 2).mean(axis=0) / var - 1.0) / np.sqrt(2.0 / ess_x2)
    return float(np.abs(zm).max()), float(np.abs(zv).max())


def test_nuts_diagonal_gaussian_moments_and_threads() -> None:
    t = hmc.GaussianAniso(dim=5, log10_cond=2)
    kw: dict[str, Any] = {"n_samples": 1000, "warmup": 400, "seed": 3, "progress": False}
    tr = hmc.sample(t, threads=1, **kw)
    zm, zv = _z_moments(tr, t.variance())
    assert zm < 4.5 and zv < 4.5, (zm, zv)
    assert tr.divergences.sum() == 0
    # adapted per chain: every chain learned the scales (metric ≈ variances, within 30 %)
    ratio = tr.inverse_mass_matrix / t.variance()
    assert tr.inverse_mass_matrix.shape == (4, 5) and np.all((ratio > 0.7) & (ratio < 1.3)), ratio
    assert tr.n_steps is not None and tr.tree_depth is not None
    assert np.all(tr.n_steps >= 1) and np.all(tr.n_steps <= 2 ** (tr.tree_depth + 1) - 1)
    other = hmc.sample(t, threads=2, **kw)
    np.testing.assert_array_equal(tr.records, other.records)
    np.testing.assert_array_equal(tr.n_grad, other.n_grad)


def test_nuts_dense_metric_on_a_correlated_gaussian() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    cov = a @ a.T + 0.05 * np.eye(4)  # strongly correlated
    t = hmc.GaussianDense(np.asarray(np.linalg.inv(cov), dtype=np.float64))
    tr = hmc.sample(t, metric="dense", n_samples=1000, warmup=500, seed=5, progress=False)
    assert tr.inverse_mass_matrix.shape == (4, 4, 4)
    zm, zv = _z_moments(tr, np.diag(cov))
    assert zm < 4.5 and zv < 4.5, (zm, zv)
    flat = tr.draws.reshape(-1, 4)
    corr = np.corrcoef(flat.T)
    true_corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert np.abs(corr - true_corr).max() < 0.08
    # the dense metric decorrelates: short trees
    assert tr.tree_depth is not None and tr.tree_depth.mean() < 3.5


def test_nuts_bimodal_exact_variance() -> None:
    t = hmc.Bimodal(dim=3, sep=1.0)
    tr = hmc.sample(t, n_samples=1500, warmup=300, seed=2, progress=False)
    zm, _ = _z_moments(tr, t.variance())
    assert zm < 4.5
    # variance of the bimodal coordinate against 1/2 + sep²: the ESS of x² bounds the error
    v = tr.draws.reshape(-1, 3).var(axis=0)
    se = np.sqrt(2.0 / tr.ess("x2")) * 2.0  # generous for a non-Gaussian fourth moment
    assert np.all(np.abs(v / t.variance() - 1) < 4.5 * se), (v, t.variance())


def test_nan_region_is_divergent_not_an_exception() -> None:
    calls: list[int] = []

    def logdensity(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append(x.shape[0])
        lp = -0.5 * (x**2).sum(axis=1)
        g = -x.copy()
        lp[x[:, 0] > 1.0] = np.nan  # a float32 model overflowing, say
        g[x[:, 1] > 1.5] = np.inf
        return lp, g

    with pytest.warns(hmc.DivergenceWarning, match="divergent"):
        tr = hmc.sample(logdensity=logdensity, x0=np.zeros(2), n_samples=300, warmup=200, seed=1, progress=False)
    assert tr.divergences.shape == (4,) and tr.divergences.sum() > 0
    assert tr.diverging is not None and tr.diverging.shape == tr.draws.shape[:2]
    assert tr.draws[..., 0].max() <= 1.0 and tr.draws[..., 1].max() <= 1.5
    assert max(calls) <= 4  # one row per chain and round
    # the other samplers: rejected as well
    for m in ("hmc", "mjhmc"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", hmc.DivergenceWarning)
            tr = hmc.sample(logdensity=logdensity, x0=np.zeros(2), method=m, n_samples=200, step_size=0.5, seed=1, progress=False)
        assert tr.diverging is not None and tr.diverging.any()


def test_existing_samplers_flag_divergences_by_energy_error() -> None:
    t = hmc.GaussianAniso(dim=2, log10_cond=0)
    with pytest.warns(hmc.DivergenceWarning):
        tr = hmc.sample(t, method="hmc", n_samples=50, step_size=2.5, n_leapfrog=200, seed=1, progress=False)
    # ε = 2.5 > 2 is unstable on a unit Gaussian: energy errors blow up beyond 1000
    assert tr.diverging is not None and tr.diverging.all() and np.all(tr.accept == 0)


def test_hamiltonian_energy_and_bfmi() -> None:
    pytest.importorskip("arviz_base")
    t = hmc.GaussianAniso(dim=3, log10_cond=1)
    tr = hmc.sample(t, n_samples=400, warmup=200, seed=4, save_warmup=True, progress=False)
    st = tr.sample_stats()
    # the Hamiltonian of a d-dim Gaussian at equilibrium: potential + kinetic ~ Gamma(d, 1) + const
    assert abs(st["energy"].mean() - 3.0) < 0.3
    np.testing.assert_allclose(st["lp"], -tr.energy)
    assert np.all(st["energy"] >= tr.energy)  # kinetic ≥ 0
    dt = tr.to_arviz(names={"a": (2,), "b": ()}, dims={"a": ["a_dim"]}, coords={"a_dim": ["u", "v"]})
    assert set(dt.children) >= {"posterior", "sample_stats", "warmup_posterior", "warmup_sample_stats"}
    from xarray import DataTree

    post = dt["posterior"]
    assert isinstance(post, DataTree)
    assert post["a"].shape == (4, 400, 2) and list(post.ds["a_dim"].values) == ["u", "v"]
    assert dt["warmup_posterior"]["b"].shape == (4, 200)
    np.testing.assert_array_equal(np.asarray(dt["sample_stats"]["energy"]), st["energy"])
    # E-BFMI from its definition: near 1 for NUTS on a Gaussian (a small value flags trouble)
    e = st["energy"]
    bfmi = np.square(np.diff(e, axis=1)).mean(axis=1) / e.var(axis=1)
    assert np.all(bfmi > 0.6)


def test_summary_agrees_with_arviz() -> None:
    pytest.importorskip("arviz_base")
    diag: Any = importlib.import_module("arviz_stats.base").array_stats
    t = hmc.GaussianAniso(dim=3, log10_cond=1)
    tr = hmc.sample(t, n_samples=301, warmup=150, seed=6, progress=False)
    s = tr.summary()
    x = np.moveaxis(tr.draws, 2, 0)  # (dim, chain, draw)
    for i in range(3):
        np.testing.assert_allclose(s["ess_bulk"][i], diag.ess(x[i], method="bulk"), rtol=1e-6)
        np.testing.assert_allclose(s["ess_tail"][i], diag.ess(x[i], method="tail", prob=0.05), rtol=1e-6)
        np.testing.assert_allclose(s["r_hat"][i], diag.rhat(x[i], method="rank"), rtol=1e-9)
    np.testing.assert_allclose(s["mean"], tr.draws.reshape(-1, 3).mean(axis=0))
    np.testing.assert_allclose(s["sd"], tr.draws.reshape(-1, 3).std(axis=0, ddof=1))


def test_single_point_callback_and_fixed_batch_shape() -> None:
    t = hmc.GaussianAniso(dim=2, log10_cond=1)
    shapes: list[tuple[int, ...]] = []

    def batch(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shapes.append(x.shape)
        e, g = t.energy_grad(x)
        return e, g

    def point(x: np.ndarray) -> tuple[float, np.ndarray]:
        e, g = t.energy_grad(x)
        return float(e), g

    kw: dict[str, Any] = {"dim": 2, "n_samples": 60, "warmup": 60, "seed": 9, "progress": False}
    ref = hmc.sample(t, **{k: v for k, v in kw.items() if k != "dim"})
    a = hmc.sample(batch, pad_batch=True, **kw)
    b = hmc.sample(point, vectorized=False, **kw)
    np.testing.assert_array_equal(a.records, ref.records)
    np.testing.assert_array_equal(b.records, ref.records)
    assert set(shapes) == {(4, 2)}
    shapes.clear()
    hmc.sample(batch, method="mjhmc", pad_batch=True, step_size=0.3, n_samples=30, dim=2, seed=1, progress=False)
    assert set(shapes) == {(8, 2)}


def test_callback_results_of_any_layout_and_sign_give_the_same_draws() -> None:
    """The core negates a log density, maps non-finite values to +inf and reads any strides
    itself: a log density returning lists, Fortran-ordered gradients and NaN outside a box gives
    the same draws as the built-in target restricted to the box, and the user's arrays are never
    written."""
    t = hmc.GaussianAniso(dim=3, log10_cond=1)
    seen: list[np.ndarray] = []

    def energy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e, g = t.energy_grad(x)
        e = np.where(np.abs(x).max(axis=1) > 2.0, np.inf, e)
        return e, g

    def logdensity(x: np.ndarray) -> tuple[list[float], np.ndarray]:
        e, g = t.energy_grad(x)
        lp = -e
        lp[np.abs(x).max(axis=1) > 2.0] = np.nan
        seen.append(lp)
        return lp.tolist(), np.asfortranarray(-g)

    for method in ("nuts", "hmc", "mjhmc"):
        kw: dict[str, Any] = {"dim": 3, "method": method, "n_samples": 80, "seed": 4, "progress": False}
        if method != "nuts":
            kw["step_size"] = 0.4
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", hmc.DivergenceWarning)
            a = hmc.sample(energy, **kw)
            b = hmc.sample(logdensity=logdensity, **kw)
        np.testing.assert_array_equal(a.records, b.records)
        np.testing.assert_array_equal(a.energy, b.energy)
        assert np.abs(a.records).max() <= 2.0
    assert any(np.isnan(v).any() for v in seen)  # the NaNs handed back stay NaN in the user's arrays


def test_pooled_warmup_shares_the_adapted_values() -> None:
    t = hmc.GaussianAniso(dim=3, log10_cond=1)
    tr = hmc.sample(t, n_samples=100, warmup=200, pool_warmup=True, seed=1, progress=False)
    assert tr.step_sizes is not None and own_sizes(tr) == 1
    assert np.all(tr.step_sizes == tr.step_sizes[0])
    assert np.all(tr.inverse_mass_matrix == tr.inverse_mass_matrix[0])
    own = hmc.sample(t, n_samples=100, warmup=200, seed=1, progress=False)
    assert own_sizes(own) > 1


def own_sizes(tr: hmc.Trace) -> int:
    assert tr.step_sizes is not None
    return len(set(tr.step_sizes.tolist()))


def test_jitter_breaks_a_resonant_path_length() -> None:
    # unit Gaussian: L leapfrog steps of ε = 2 sin(π / 2L) turn the phase by exactly π (each step
    # rotates by θ with cos θ = 1 − ε²/2), so x → −x and |x| never changes with a fixed L (the
    # variance stays at the start's 9, whatever the momentum); jitter of L and ε mixes
    t = hmc.GaussianAniso(dim=1, log10_cond=0)
    eps = 2 * np.sin(np.pi / 62)
    kw: dict[str, Any] = {"method": "hmc", "n_samples": 2000, "step_size": eps, "n_leapfrog": 31,
                          "x0": np.full((4, 1), 3.0), "seed": 2, "progress": False}  # fmt: skip
    fixed = hmc.sample(t, **kw)
    assert abs(fixed.draws.var() - 9.0) < 0.01
    jit = hmc.sample(t, jitter=0.5, **kw)
    zm, zv = _z_moments(jit, np.ones(1))
    assert zm < 4.5 and zv < 4.5, (zm, zv)
    # the same settings for every chain at each iteration, drawn from the seed: chains cost the
    # same, and the callback driver and any thread count give the same bits
    assert len(set(jit.n_grad.tolist())) == 1 and jit.n_grad[0] != 31 * 2000
    short = {**kw, "n_samples": 100}
    np.testing.assert_array_equal(
        hmc.sample(t, jitter=0.5, threads=2, **short).records,
        hmc.sample(t.energy_grad, dim=1, threads=1, jitter=0.5, **short).records,
    )
    short["method"] = "lahmc"
    la = hmc.sample(t, jitter=0.5, **short)
    lb = hmc.sample(t.energy_grad, dim=1, jitter=0.5, **short)
    np.testing.assert_array_equal(la.records, lb.records)
    with pytest.raises(InvalidArgumentError, match="jitter"):
        hmc.sample(t, method="mjhmc", jitter=0.5, step_size=0.1, n_samples=5)


def test_a_batch_dependent_callback_gives_the_same_draws_however_fast_it_runs() -> None:
    """A callback whose rows depend on the batch (here: explicitly, by 1e-9 per row; numpy's
    BLAS does it by blocking) must see the same batches in every run of a seed: the batches may
    not follow the wall clock (found by the posterior bench: runs of one seed differed)."""
    import time

    slow = [False]

    def logdensity(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if slow[0]:
            time.sleep(0.002)
        return -0.5 * (x**2).sum(axis=1), -x + 1e-9 * x.shape[0]

    kw: dict[str, Any] = {"dim": 2, "n_samples": 150, "warmup": 100, "seed": 3, "progress": False}
    for method in ("nuts", "lahmc"):
        extra: dict[str, Any] = {} if method == "nuts" else {"step_size": 0.5, "warmup": 0}
        a = hmc.sample(logdensity=logdensity, method=method, **{**kw, **extra})
        slow[0] = True
        b = hmc.sample(logdensity=logdensity, method=method, **{**kw, **extra})
        slow[0] = False
        np.testing.assert_array_equal(a.records, b.records)
