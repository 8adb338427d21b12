"""Expected outputs and tail probabilities of wide random MLPs by moment propagation.

Follows Wu, Lecomte, Winer et al., "Estimating the expected output of wide random MLPs more
efficiently than sampling" (ARC). For a fixed network and a Gaussian input ``x ~ N(mean, cov)``
the deterministic estimators propagate a Gaussian-like summary layer by layer:

``mean_prop`` (K = 1)
    mean vector and one isotropic activation variance; MSE ~ 1/n, cost ~ n² per layer.
``cov_prop`` (K = 2, ``mehler_order`` M)
    mean vector and full covariance (off-diagonal by the Mehler series to order M); MSE ~ 1/n²,
    cost ~ n³ per layer.
``cumulant3`` (K = 3, width ≤ 256)
    also the full third cumulant (leading-order activation rule); cost ~ n⁴ per layer.

:meth:`MLP.monte_carlo` is the sampling baseline (Rust, batched GEMM, per-neuron f64
accumulators, bit-identical at any thread count). FLOPs of every method come from one table
(GEMM ``(a×b)(b×c)`` = 2abc, elementwise 1, activation relu 1 / smooth 20, one 1-D Gaussian
coefficient 30 (closed form) or ``D (c_act + 3)`` with ``D = 100`` Gauss–Hermite nodes), so
:func:`compare_equal_flops` compares methods at equal cost.

Examples
--------
>>> from boltzkit import mlp
>>> net = mlp.random_mlp([64, 64, 64, 1], act="relu", seed=0)
>>> est = net.estimate("cov_prop")
>>> mc = net.monte_carlo(n_samples=2**14, seed=1)
>>> bool(abs(est.mean[0] - mc.mean[0]) < 5 * mc.stderr[-1][0] + 1e-3)
True
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from boltzkit import _core
from boltzkit._threads import resolve_threads
from boltzkit.errors import InvalidArgumentError, InvalidTypeError

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "Comparison",
    "Estimate",
    "Gradient",
    "MonteCarlo",
    "TailProbability",
    "compare_equal_flops",
    "gauss_moments",
    "mean_field",
    "plot_mse_vs_flops",
    "random_mlp",
]

F64 = npt.NDArray[np.float64]
#: Activations accepted for hidden layers (``heaviside`` and ``square`` are for tests / tails).
ACTIVATIONS = ("relu", "gelu", "erf", "tanh", "identity", "heaviside", "square")
_METHODS = ("mean_prop", "cov_prop", "cumulant3")
_C_ACT = {"identity": 0.0, "relu": 1.0, "heaviside": 1.0, "square": 1.0, "gelu": 20.0, "erf": 20.0, "tanh": 20.0}


# --------------------------------------------------------------------------- helpers
def _int(name: str, v: object, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise InvalidTypeError(f"{name}: expected an int, got {type(v).__name__}")
    i = int(v)
    if i < lo or (hi is not None and i > hi):
        raise InvalidArgumentError(f"{name}: must be in [{lo}, {hi if hi is not None else 'inf'}], got {i}")
    return i


def _float(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise InvalidTypeError(f"{name}: expected a number, got {type(v).__name__}")
    f = float(v)
    if not math.isfinite(f):
        raise InvalidArgumentError(f"{name}: must be finite, got {f}")
    return f


def _array(name: str, x: object, ndim: int) -> F64:
    if isinstance(x, (str, bytes)):
        raise InvalidTypeError(f"{name}: expected an array of numbers, got {type(x).__name__}")
    try:
        a = np.asarray(x)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"{name}: expected an array of numbers") from None
    if a.dtype.kind not in "biuf":
        raise InvalidTypeError(f"{name}: expected a real numeric array, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise InvalidArgumentError(f"{name}: expected a {ndim}-D array, got shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise InvalidArgumentError(f"{name}: must be finite (contains NaN or inf)")
    return a


def _act_np(name: str, z: F64) -> F64:
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "gelu":
        return np.asarray(z * special.ndtr(z))
    if name == "erf":
        return np.asarray(special.erf(z))
    if name == "tanh":
        return np.tanh(z)
    if name == "heaviside":
        return (z > 0).astype(np.float64)
    if name == "square":
        return z * z
    return z


def _dact_np(name: str, z: F64) -> F64:
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "gelu":
        return np.asarray(special.ndtr(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
    if name == "erf":
        return 2.0 / math.sqrt(math.pi) * np.exp(-z * z)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "heaviside":
        return np.zeros_like(z)
    if name == "square":
        return 2.0 * z
    return np.ones_like(z)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Estimate:
    """A deterministic estimate. Index ``l`` runs over the linear layers (the last is the output).

    Attributes
    ----------
    method : str
    means, variances : list of ndarray (n_l,), float64
        Estimated means / variances of the pre-activations of layer ``l``.
    act_means, act_variances : list of ndarray (n_l,)
        Of the activations (equal to the pre-activations for the last layer).
    cov : list of ndarray (n_l, n_l)
        Pre-activation covariances (``keep_cov=True`` with ``cov_prop`` / ``cumulant3``), else empty.
    kappa3 : list of ndarray (n_l,)
        Third cumulants of the pre-activations (``cumulant3`` only), else empty.
    flops_by_layer : list of float
    diagnostics : dict
        ``variance_clamps`` (variances raised to 1e-10), ``gh_nodes``, ``seconds``.
    """

    method: str
    means: list[F64]
    variances: list[F64]
    act_means: list[F64]
    act_variances: list[F64]
    cov: list[F64]
    kappa3: list[F64]
    flops_by_layer: list[float]
    diagnostics: dict[str, Any]

    @property
    def mean(self) -> F64:
        """Estimated output means (last layer)."""
        return self.means[-1]

    @property
    def flops(self) -> float:
        """Total FLOPs."""
        return float(sum(self.flops_by_layer))


@dataclass(frozen=True)
class MonteCarlo:
    """Monte Carlo estimate: per-layer sample means, variances and standard errors."""

    means: list[F64]
    variances: list[F64]
    act_means: list[F64]
    act_variances: list[F64]
    n_samples: int
    flops: float
    flops_per_sample: float
    antithetic: bool = False

    @property
    def mean(self) -> F64:
        """Output means."""
        return self.means[-1]

    @property
    def stderr(self) -> list[F64]:
        """Standard errors ``sqrt(var / N)`` of :attr:`means` (plain MC; antithetic is usually smaller)."""
        return [np.sqrt(v / self.n_samples) for v in self.variances]


@dataclass(frozen=True)
class TailProbability:
    """``P(z_i > threshold)`` for the neurons of one layer (or one neuron)."""

    p: F64
    method: str
    flops: float
    stderr: F64 | None = None
    raw: F64 | None = None
    hits: npt.NDArray[np.uint64] | None = None
    neurons: npt.NDArray[np.int64] | None = None

    def log_error(self, truth: F64 | float) -> F64:
        """``|log P_est − log P_true|`` (the relative-error metric for rare events)."""
        t = np.asarray(truth, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return np.asarray(np.abs(np.log(self.p) - np.log(t)))


@dataclass(frozen=True)
class Gradient:
    """Value and gradient of an objective of an estimate with respect to every weight and bias."""

    value: float
    d_weights: list[F64]
    d_biases: list[F64]


# --------------------------------------------------------------------------- the network
class MLP:
    """A fixed MLP with a Gaussian input.

    Parameters
    ----------
    weights : sequence of ndarray, shapes (n_l, n_{l-1})
        Weight matrices of the ``L`` linear layers.
    biases : sequence of ndarray (n_l,) or None, optional
        Biases (``None`` entries or ``None`` overall mean zero).
    activations : sequence of str, optional
        ``L - 1`` names from :data:`ACTIVATIONS`; the last layer is linear. Default relu.
    input_mean : ndarray (n_0,), optional
        Mean of the Gaussian input (default 0).
    input_cov : ndarray (n_0,) or (n_0, n_0), optional
        Variances (1-D) or full covariance (2-D, symmetric PSD) of the input (default identity).

    Raises
    ------
    InvalidArgumentError
        Shapes that do not chain, NaN/inf values, unknown activations, a non-PSD covariance.
    InvalidTypeError
        Non-numeric arrays.
    """

    def __init__(
        self,
        weights: Sequence[Any],
        biases: Sequence[Any] | None = None,
        activations: Sequence[str] | None = None,
        input_mean: Any = None,
        input_cov: Any = None,
    ) -> None:
        if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or len(weights) == 0:
            raise InvalidTypeError("weights: expected a non-empty list of 2-D arrays")
        ws = [_array(f"weights[{i}]", w, 2) for i, w in enumerate(weights)]
        depth = len(ws)
        for i in range(1, depth):
            if ws[i].shape[1] != ws[i - 1].shape[0]:
                raise InvalidArgumentError(
                    f"weights: shapes do not chain: weights[{i}] has shape {ws[i].shape} "
                    f"but weights[{i - 1}] has {ws[i - 1].shape}"
                )
        if biases is None:
            bs = [np.zeros(w.shape[0]) for w in ws]
        else:
            if len(biases) != depth:
                raise InvalidArgumentError(f"biases: expected {depth} entries, got {len(biases)}")
            bs = [
                np.zeros(w.shape[0]) if b is None else _array(f"biases[{i}]", b, 1)
                for i, (w, b) in enumerate(zip(ws, biases, strict=True))
            ]
        for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
            if b.shape[0] != w.shape[0]:
                raise InvalidArgumentError(f"biases[{i}]: expected length {w.shape[0]}, got {b.shape[0]}")
        acts = ["relu"] * (depth - 1) if activations is None else list(activations)
        if len(acts) != depth - 1:
            raise InvalidArgumentError(f"activations: expected {depth - 1} names (the last layer is linear), got {len(acts)}")
        for a in acts:
            if not isinstance(a, str) or a not in ACTIVATIONS:
                raise InvalidArgumentError(f"activations: unknown activation {a!r}; expected one of {', '.join(ACTIVATIONS)}")
        n0 = ws[0].shape[1]
        mean = np.zeros(n0) if input_mean is None else _array("input_mean", input_mean, 1)
        if mean.shape[0] != n0:
            raise InvalidArgumentError(f"input_mean: expected length {n0}, got {mean.shape[0]}")
        if input_cov is None:
            cov = np.ones(n0)
        else:
            c = np.asarray(input_cov)
            cov = _array("input_cov", c, c.ndim if c.ndim in (1, 2) else 1)
            if cov.shape not in ((n0,), (n0, n0)):
                raise InvalidArgumentError(f"input_cov: expected shape ({n0},) or ({n0}, {n0}), got {cov.shape}")
        self.weights: list[F64] = ws
        self.biases: list[F64] = bs
        self.activations: list[str] = acts
        self.input_mean: F64 = mean
        self.input_cov: F64 = cov
        # the core checks PSD and everything else once, here
        _core.mlp_estimate(self._tuple(), "mean_prop", 1, False, 1)

    # ---- basic properties
    @property
    def widths(self) -> list[int]:
        """``[n_0, n_1, …, n_L]``."""
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    @property
    def depth(self) -> int:
        """Number of linear layers ``L``."""
        return len(self.weights)

    @property
    def flops_per_sample(self) -> float:
        """Monte Carlo FLOPs per sample: ``Σ_l (2 n_l n_{l-1} + n_l + c_act n_l)``."""
        w = self.widths
        acts = [*self.activations, "identity"]
        return float(sum(2 * w[i + 1] * w[i] + w[i + 1] * (1 + _C_ACT[acts[i]]) for i in range(self.depth)))

    def _tuple(self) -> tuple[list[F64], list[F64], list[str], F64, F64]:
        return (self.weights, self.biases, self.activations, self.input_mean, self.input_cov)

    def _layer(self, layer: int) -> int:
        layer = _int("layer", layer, -self.depth, self.depth - 1)
        return layer % self.depth

    def replace(self, weights: Sequence[Any] | None = None, biases: Sequence[Any] | None = None) -> MLP:
        """A copy with new weights and/or biases (same activations and input)."""
        return MLP(
            self.weights if weights is None else weights,
            self.biases if biases is None else biases,
            self.activations,
            self.input_mean,
            self.input_cov,
        )

    # ---- exact forward pass (numpy)
    def forward(self, x: Any, layer: int = -1) -> F64:
        """Pre-activations of ``layer`` for inputs ``x`` of shape (n_samples, n_0) (numpy)."""
        h = _array("x", x, 2)
        last = self._layer(layer)
        for i in range(last + 1):
            z = h @ self.weights[i].T + self.biases[i]
            if i == last:
                return np.asarray(z)
            h = _act_np(self.activations[i], z)
        raise AssertionError("unreachable")

    # ---- estimators
    def estimate(
        self,
        method: Literal["mean_prop", "cov_prop", "cumulant3"] = "cov_prop",
        mehler_order: int = 1,
        keep_cov: bool = False,
        threads: int | None = None,
    ) -> Estimate:
        """Deterministic estimate of every layer's means and variances.

        Parameters
        ----------
        method : {"mean_prop", "cov_prop", "cumulant3"}
        mehler_order : int
            Order M of the Mehler series for the off-diagonal covariance (1..40; 1 = basic).
        keep_cov : bool
            Keep every layer's pre-activation covariance (``cov_prop`` / ``cumulant3``).
        threads : int or None

        Returns
        -------
        Estimate

        Raises
        ------
        InvalidArgumentError
            Unknown method, bad order, ``cumulant3`` above width 256.
        """
        if method not in _METHODS:
            raise InvalidArgumentError(f"method: expected one of {', '.join(_METHODS)}, got {method!r}")
        order = _int("mehler_order", mehler_order, 1, 40)
        t0 = time.perf_counter()
        r = _core.mlp_estimate(self._tuple(), method, order, bool(keep_cov), resolve_threads(threads))
        diag = {"variance_clamps": int(r["clamps"]), "gh_nodes": 100, "seconds": time.perf_counter() - t0}
        return Estimate(
            method=method,
            means=list(r["pre_mean"]),
            variances=list(r["pre_var"]),
            act_means=list(r["post_mean"]),
            act_variances=list(r["post_var"]),
            cov=list(r["pre_cov"]),
            kappa3=list(r["pre_kappa3"]),
            flops_by_layer=[float(f) for f in r["flops_by_layer"]],
            diagnostics=diag,
        )

    def monte_carlo(
        self,
        n_samples: int = 2**20,
        batch: int = 1024,
        seed: int = 0,
        antithetic: bool = False,
        threads: int | None = None,
    ) -> MonteCarlo:
        """Monte Carlo means and variances of every neuron (Rust, batched GEMM, f64 sums).

        Results are bit-identical for any ``threads``. ``antithetic`` uses pairs ``(ξ, −ξ)``.

        Raises
        ------
        InvalidArgumentError
            ``n_samples < 1``, a bad batch, an odd batch with ``antithetic``.
        """
        n = _int("n_samples", n_samples, 1)
        b = _int("batch", batch, 1, 1 << 20)
        s = _int("seed", seed, 0, 2**64 - 1)
        r = _core.mlp_monte_carlo(self._tuple(), n, b, s, bool(antithetic), resolve_threads(threads))
        return MonteCarlo(
            means=list(r["pre_mean"]),
            variances=list(r["pre_var"]),
            act_means=list(r["post_mean"]),
            act_variances=list(r["post_var"]),
            n_samples=n,
            flops=float(r["flops"]),
            flops_per_sample=float(r["flops_per_sample"]),
            antithetic=bool(antithetic),
        )

    # ---- rare events
    def design_point(self, layer: int, neuron: int, threshold: float, iters: int = 30) -> tuple[F64, int]:
        """Most likely input (whitened coordinates ξ, ``x = mean + F ξ``) with ``z_i(x) = threshold``.

        HL-RF iteration ``ξ ← ((t − y + g·ξ)/|g|²) g`` with ``g = ∇_ξ y`` (numpy). Returns
        ``(ξ*, iterations)``.
        """
        layer = self._layer(layer)
        f = self._factor()
        xi = np.zeros(self.widths[0])
        it = 0
        for _ in range(iters):
            it += 1
            y, g = self._value_grad(xi, f, layer, neuron)
            gg = float(g @ g)
            if gg == 0.0:
                break
            new = ((threshold - y + g @ xi) / gg) * g
            if np.linalg.norm(new - xi) < 1e-10 * (1 + np.linalg.norm(xi)):
                xi = new
                break
            xi = new
        return xi, it

    def is_shift(
        self,
        layer: int,
        neuron: int,
        threshold: float,
        n_per_iter: int = 4000,
        rho: float = 0.1,
        seed: int = 0,
        max_iter: int = 12,
    ) -> tuple[F64, float]:
        """Mean shift of the importance-sampling proposal ``N(a, I)`` (whitened input coordinates).

        Starts at the HL-RF :meth:`design_point`, then refines by the cross-entropy method: draw
        ``n_per_iter`` inputs from the current proposal, raise the level to ``min(t, (1 − rho)``
        quantile), and move ``a`` to the weighted mean of the inputs above the level (the KL-optimal
        Gaussian shift). Returns ``(a, flops)`` with the FLOPs of every forward pass used.
        """
        layer = self._layer(layer)
        a, iters = self.design_point(layer, neuron, threshold)
        flops = 3.0 * iters * self.flops_per_sample
        f = self._factor()
        rng = np.random.default_rng(seed)
        for _ in range(max_iter):
            xi = rng.standard_normal((n_per_iter, a.shape[0])) + a
            y = self.forward(self.input_mean + xi @ f.T, layer)[:, neuron]
            flops += n_per_iter * self.flops_per_sample
            level = min(float(threshold), float(np.quantile(y, 1 - rho)))
            sel = y >= level
            logw = -(xi[sel] @ a) + 0.5 * float(a @ a)
            w = np.exp(logw - logw.max())
            a = np.asarray((w[:, None] * xi[sel]).sum(0) / w.sum())
            if level >= threshold:
                break
        return a, flops

    def _factor(self) -> F64:
        if self.input_cov.ndim == 1:
            return np.diag(np.sqrt(self.input_cov))
        w, v = np.linalg.eigh(self.input_cov)
        return np.asarray(v * np.sqrt(np.maximum(w, 0.0)))

    def _value_grad(self, xi: F64, f: F64, layer: int, neuron: int) -> tuple[float, F64]:
        h = self.input_mean + f @ xi
        zs = []
        for i in range(layer + 1):
            z = self.weights[i] @ h + self.biases[i]
            zs.append(z)
            if i < layer:
                h = _act_np(self.activations[i], z)
        g = self.weights[layer][neuron].copy()
        for i in range(layer - 1, -1, -1):
            g = g * _dact_np(self.activations[i], zs[i])
            g = self.weights[i].T @ g
        return float(zs[layer][neuron]), np.asarray(f.T @ g)

    def tail_probability(
        self,
        layer: int = -1,
        threshold: float = 3.0,
        method: Literal["gauss", "edgeworth", "mc", "is"] = "gauss",
        neuron: int | None = None,
        n_samples: int = 2**20,
        batch: int = 1024,
        seed: int = 0,
        threads: int | None = None,
    ) -> TailProbability:
        """``P(z_{layer,i} > threshold)`` for the pre-activations of ``layer``.

        Parameters
        ----------
        method : {"gauss", "edgeworth", "mc", "is"}
            ``gauss``: ``Q((t − μ)/σ)`` from ``cov_prop``; ``edgeworth``: with the skewness of
            ``cumulant3`` (``Q(u) + p(u) [g1 He2(u)/6 + g1² He5(u)/72]``, clipped to [0, 1]; raw kept);
            ``mc``: plain Monte Carlo; ``is``: importance sampling with the input mean shifted by
            :meth:`is_shift` (HL-RF design point refined by the cross-entropy method; its FLOPs are
            included), one neuron (``neuron`` required).
        neuron : int, optional
            Restrict to one neuron (required for ``is``).

        Raises
        ------
        InvalidArgumentError
            NaN threshold, bad layer / neuron, ``is`` without a neuron, zero samples.
        """
        layer = self._layer(layer)
        if isinstance(threshold, numbers.Real) and not isinstance(threshold, bool) and math.isnan(float(threshold)):
            raise InvalidArgumentError("threshold: must be a finite number, got nan")
        t = _float("threshold", threshold)
        width = self.widths[layer + 1]
        idx = np.arange(width) if neuron is None else np.array([_int("neuron", neuron, 0, width - 1)])
        if method in ("gauss", "edgeworth"):
            sub = self._truncated(layer)
            est = sub.estimate("cov_prop" if method == "gauss" else "cumulant3", threads=threads)
            mu, var = est.means[layer][idx], est.variances[layer][idx]
            sd = np.sqrt(np.maximum(var, 1e-300))
            u = (t - mu) / sd
            q = special.ndtr(-u)
            if method == "gauss":
                return TailProbability(p=np.asarray(q), method=method, flops=est.flops, neurons=idx)
            g1 = est.kappa3[layer][idx] / sd**3
            pdf = np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
            he2 = u * u - 1
            he5 = u**5 - 10 * u**3 + 15 * u
            raw = q + pdf * (g1 * he2 / 6 + g1 * g1 * he5 / 72)
            return TailProbability(p=np.clip(raw, 0.0, 1.0), method=method, flops=est.flops, raw=np.asarray(raw), neurons=idx)
        if method not in ("mc", "is"):
            raise InvalidArgumentError(f"method: expected gauss, edgeworth, mc or is, got {method!r}")
        n = _int("n_samples", n_samples, 1)
        b = _int("batch", batch, 1, 1 << 20)
        s = _int("seed", seed, 0, 2**64 - 1)
        shift = None
        extra = 0.0
        if method == "is":
            if neuron is None:
                raise InvalidArgumentError("neuron: required for method='is' (the shift is per neuron)")
            shift, extra = self.is_shift(layer, int(idx[0]), t, seed=s + 1)
        r = _core.mlp_tail_mc(self._tuple(), layer, t, shift, n, b, s, resolve_threads(threads))
        return TailProbability(
            p=np.asarray(r["p"])[idx],
            method=method,
            flops=float(r["flops"]) + extra,
            stderr=np.asarray(r["stderr"])[idx],
            hits=np.asarray(r["hits"])[idx],
            neurons=idx,
        )

    def _truncated(self, layer: int) -> MLP:
        if layer == self.depth - 1:
            return self
        return MLP(self.weights[: layer + 1], self.biases[: layer + 1], self.activations[:layer], self.input_mean, self.input_cov)

    # ---- gradients
    def gradient(
        self,
        c_mean: Any,
        c_var: Any = None,
        layer: int = -1,
        method: Literal["mean_prop", "cov_prop"] = "cov_prop",
        mehler_order: int = 1,
        threads: int | None = None,
    ) -> Gradient:
        """Reverse-mode gradient of ``J = Σ c_mean_i m_i + Σ c_var_i v_i`` (estimated pre-activation
        means ``m`` and variances ``v`` of ``layer``) with respect to every weight and bias."""
        layer = self._layer(layer)
        w = self.widths[layer + 1]
        cm = _array("c_mean", np.broadcast_to(np.asarray(c_mean, dtype=np.float64), (w,)), 1)
        cv = np.zeros(w) if c_var is None else _array("c_var", np.broadcast_to(np.asarray(c_var, dtype=np.float64), (w,)), 1)
        if method not in ("mean_prop", "cov_prop"):
            raise InvalidArgumentError(f"method: expected mean_prop or cov_prop, got {method!r}")
        order = _int("mehler_order", mehler_order, 1, 38)
        v, dws, dbs = _core.mlp_gradient(self._tuple(), method, order, layer, cm, cv, resolve_threads(threads))
        return Gradient(value=float(v), d_weights=list(dws), d_biases=list(dbs))

    def tail_gradient(
        self, threshold: float, neuron: int = 0, layer: int = -1, method: Literal["mean_prop", "cov_prop"] = "cov_prop"
    ) -> Gradient:
        """Gaussian tail ``P = Q((t − m_i)/√v_i)`` of one neuron and its gradient (chain rule through
        :meth:`gradient`)."""
        layer = self._layer(layer)
        t = _float("threshold", threshold)
        w = self.widths[layer + 1]
        i = _int("neuron", neuron, 0, w - 1)
        est = self._truncated(layer).estimate("cov_prop" if method == "cov_prop" else "mean_prop")
        m, v = float(est.means[layer][i]), float(est.variances[layer][i])
        sd = math.sqrt(max(v, 1e-300))
        u = (t - m) / sd
        p = float(special.ndtr(-u))
        pdf = math.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
        cm = np.zeros(w)
        cv = np.zeros(w)
        cm[i] = pdf / sd
        cv[i] = pdf * u / (2 * v)
        g = self.gradient(cm, cv, layer=layer, method=method)
        return Gradient(value=p, d_weights=g.d_weights, d_biases=g.d_biases)


# --------------------------------------------------------------------------- constructors
def _gh(n: int = 100) -> tuple[F64, F64]:
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / math.sqrt(2 * math.pi)


def random_mlp(
    widths: Sequence[int],
    act: str = "relu",
    init: Literal["he", "critical", "manual"] = "he",
    w_var: float | None = None,
    b_var: float = 0.0,
    b_mean: float = 0.0,
    seed: int = 0,
    input_mean: Any = None,
    input_cov: Any = None,
) -> MLP:
    """A random MLP with ``W_ij ~ N(0, w_var_l / fan_in)`` and biases ``N(b_mean, b_var)``.

    ``init="he"``: ``w_var_1 = 1``, ``w_var_l = 1 / E[φ(Z)²]`` with ``Z ~ N(b_mean, 1)`` (ReLU: 2).
    ``init="critical"``: edge of chaos with ``q* = 1``: ``σ_w² = 1/E[φ'(Z)²]``, ``σ_b² = 1 − σ_w² E[φ(Z)²]``
    (``Z ~ N(0, 1)``; ReLU: 2, 0). ``init="manual"``: ``w_var`` and ``b_var`` as given.
    """
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) < 2:
        raise InvalidArgumentError("widths: expected a list of at least two positive ints")
    ws = [_int(f"widths[{i}]", w, 1) for i, w in enumerate(widths)]
    if act not in ACTIVATIONS:
        raise InvalidArgumentError(f"act: unknown activation {act!r}; expected one of {', '.join(ACTIVATIONS)}")
    s = _int("seed", seed, 0, 2**64 - 1)
    bv = _float("b_var", b_var)
    bm = _float("b_mean", b_mean)
    if bv < 0:
        raise InvalidArgumentError(f"b_var: must be >= 0, got {bv}")
    x, gw = _gh()
    depth = len(ws) - 1
    if init == "he":
        e2 = float(gw @ _act_np(act, x + bm) ** 2)
        wv = [1.0] + [1.0 / e2] * (depth - 1)
    elif init == "critical":
        d2 = float(gw @ _dact_np(act, x) ** 2) if act != "relu" else 0.5
        sw = 1.0 / d2
        e2 = float(gw @ _act_np(act, x) ** 2) if act != "relu" else 0.5
        sb = 1.0 - sw * e2
        if sb < -1e-9:
            raise InvalidArgumentError(f"init: no critical point with q* = 1 for {act} (sigma_b^2 = {sb:.3g} < 0)")
        wv = [1.0] + [sw] * (depth - 1)
        bv = max(sb, 0.0)
    elif init == "manual":
        if w_var is None:
            raise InvalidArgumentError("w_var: required with init='manual'")
        wv = [_float("w_var", w_var)] * depth
    else:
        raise InvalidArgumentError(f"init: expected he, critical or manual, got {init!r}")
    rng = np.random.default_rng(s)
    weights = [rng.standard_normal((ws[i + 1], ws[i])) * math.sqrt(wv[i] / ws[i]) for i in range(depth)]
    biases = [
        bm + math.sqrt(bv) * rng.standard_normal(ws[i + 1]) if (bv > 0 or bm != 0) else np.zeros(ws[i + 1]) for i in range(depth)
    ]
    return MLP(weights, biases, [act] * (depth - 1), input_mean, input_cov)


def mean_field(
    activations: Sequence[str], w_var: Sequence[float], b_var: Sequence[float] | float = 0.0, q_in: float = 1.0
) -> F64:
    """Infinite-width (NNGP) recursion; returns an array (L, 2) of ``(q_l, k_l)``: the second moment
    of a layer-``l`` pre-activation, and its covariance under two independent inputs."""
    depth = len(activations) + 1
    bv = [float(b_var)] * depth if isinstance(b_var, (int, float)) else [float(b) for b in b_var]
    out = _core.mlp_mean_field(list(activations), [float(w) for w in w_var], bv, _float("q_in", q_in))
    return np.array(out, dtype=np.float64)


def gauss_moments(activation: str, m: Any, v: Any, kmax: int = 6) -> dict[str, F64]:
    """1-D Gaussian expectations for ``Z ~ N(m, v)`` (arrays): ``g`` (n, kmax+1) with
    ``g[:, k] = E φ^(k)(Z)``, ``e2 = E φ²``, ``var``, ``e3``, ``e4``, ``kappa3``, ``kappa4``."""
    mm = _array("m", np.atleast_1d(np.asarray(m, dtype=np.float64)), 1)
    vv = _array("v", np.atleast_1d(np.asarray(v, dtype=np.float64)), 1)
    r = _core.mlp_gauss_moments(activation, mm, vv, _int("kmax", kmax, 0, 40))
    return {k: np.asarray(val) for k, val in r.items()}


# --------------------------------------------------------------------------- equal-FLOPs comparison
@dataclass(frozen=True)
class Comparison:
    """Per method: MSE of the output means against a truth, FLOPs, and the MC MSE at equal FLOPs.

    ``rows`` entries: ``method, mse, mse_over_var, flops, mc_mse_equal_flops, speedup`` where
    ``speedup = Var · flops_per_sample / (MSE · FLOPs)`` (FLOPs MC needs for the same MSE over the
    method's FLOPs). ``noise_floor`` is the truth's own mean squared standard error, already
    subtracted from every MSE.
    """

    rows: list[dict[str, Any]]
    var: float
    flops_per_sample: float
    noise_floor: float
    widths: list[int] = field(default_factory=list)

    def table(self) -> str:
        """A plain-text table."""
        lines = [f"{'method':<14}{'MSE/Var':>12}{'FLOPs':>12}{'speedup':>10}"]
        for r in self.rows:
            lines.append(f"{r['method']:<14}{r['mse_over_var']:>12.3e}{r['flops']:>12.3e}{r['speedup']:>10.3g}")
        return "\n".join(lines)


def compare_equal_flops(
    net: MLP,
    methods: Sequence[str] = ("mean_prop", "cov_prop"),
    truth: MonteCarlo | None = None,
    truth_samples: int = 2**20,
    seed: int = 12345,
    threads: int | None = None,
) -> Comparison:
    """Compare estimators with Monte Carlo at equal FLOPs on the output means of ``net``.

    ``methods`` are ``mean_prop``, ``cov_prop``, ``cov_prop:M`` (Mehler order M) or ``cumulant3``.
    ``truth`` is a long Monte Carlo run (made with ``truth_samples`` if not given); the noise floor
    ``mean SE²`` is subtracted from each MSE and reported.
    """
    if truth is None:
        truth = net.monte_carlo(n_samples=truth_samples, seed=seed, threads=threads)
    ref = truth.means[-1]
    var = float(np.mean(truth.variances[-1]))
    floor = float(np.mean(truth.variances[-1] / truth.n_samples))
    rows = []
    for m in methods:
        name, _, order = m.partition(":")
        est = net.estimate(name, mehler_order=int(order) if order else 1, threads=threads)  # type: ignore[arg-type]
        mse_raw = float(np.mean((est.means[-1] - ref) ** 2))
        mse = max(mse_raw - floor, floor / 10)
        n_eq = est.flops / truth.flops_per_sample
        rows.append(
            {
                "method": m,
                "mse": mse,
                "mse_raw": mse_raw,
                "mse_over_var": mse / var,
                "flops": est.flops,
                "mc_mse_equal_flops": var / n_eq,
                "speedup": var * truth.flops_per_sample / (mse * est.flops),
                "truth_limited": mse_raw < 10 * floor,
            }
        )
    return Comparison(rows=rows, var=var, flops_per_sample=truth.flops_per_sample, noise_floor=floor, widths=net.widths)


def plot_mse_vs_flops(comparisons: Sequence[Comparison], ax: Any = None) -> Any:
    """Plot MSE/Var against FLOPs: Monte Carlo as the line ``flops_per_sample / F``, each estimator as
    points (one per comparison). Returns the matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4.5))
    else:
        fig = ax.figure
    markers = {"mean_prop": "o", "cov_prop": "s", "cumulant3": "^"}
    for ci, c in enumerate(comparisons):
        fl = np.array([r["flops"] for r in c.rows])
        f = np.logspace(np.log10(fl.min()) - 1, np.log10(fl.max()) + 1, 50)
        (line,) = ax.loglog(f, c.flops_per_sample / f, "-", alpha=0.6, label=f"MC n={c.widths[1:-1]}" if c.widths else "MC")
        for r in c.rows:
            ax.loglog(
                r["flops"],
                r["mse_over_var"],
                markers.get(r["method"].split(":")[0], "D"),
                color=line.get_color(),
                label=r["method"] if ci == 0 else None,
            )
    ax.set_xlabel("FLOPs")
    ax.set_ylabel("MSE / Var (output means)")
    ax.legend(fontsize=7)
    return fig
