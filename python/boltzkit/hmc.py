"""Hamiltonian Monte Carlo without detailed balance: Markov-jump HMC, look-ahead HMC and HMC.

The No-U-Turn sampler as Stan runs it (the default), and the samplers of "A Markov Jump Process
for More Efficient Hamiltonian Monte Carlo" (Berger, Mudigonda, DeWeese, Sohl-Dickstein 2015) and
"Hamiltonian Monte Carlo Without Detailed Balance" (Sohl-Dickstein, Mudigonda, DeWeese 2014). Five
samplers share one interface, :func:`sample`:

``"nuts"``
    The No-U-Turn sampler exactly as Stan runs it (multinomial sampling, the generalised U-turn
    criterion with the extra checks across subtrees, maximum tree depth 10, a divergence at an
    energy error above 1000), with Stan's windowed warm-up per chain (the default).

``"hmc"``
    Standard HMC with partial momentum refresh ``p ← √(1−β) p + √β n`` and a momentum flip on
    rejection (``beta=1``: full refresh, as in Stan or BlackJAX).
``"lahmc"``
    Look-ahead HMC: on rejection, tries up to ``look_ahead`` further trajectories before flipping.
``"ct_hmc"``
    Continuous-time HMC with detailed balance (the papers' control): jumps ``FL``, ``F`` and a
    full momentum refresh ``R`` with exponential holding times.
``"mjhmc"``
    Markov-jump HMC: jumps ``L``, ``F`` (at the reduced rate ``max(0, r_{L⁻¹} − r_L)``) and ``R``;
    ``L z`` and ``L⁻¹ z`` are cached, so a flip costs no gradient.

The jump samplers return a time-weighted trajectory; :meth:`Trace.on_grid` reads it at equally
spaced times, which gives an exactly stationary chain that ordinary MCMC diagnostics apply to.
All samplers count gradient evaluations exactly, per chain. Targets are the built-ins below
(evaluated in Rust) or any Python callable that returns energies and gradients for a whole batch
of chains at once.

Examples
--------
>>> from boltzkit import hmc
>>> target = hmc.GaussianAniso(dim=2, log10_cond=2)
>>> tr = hmc.sample(target, method="mjhmc", n_samples=500, n_chains=4, step_size=0.2,
...                 n_leapfrog=10, beta=0.1, x0="exact", seed=1)
>>> tr.draws.shape[0], tr.draws.shape[2]
(4, 2)
>>> sorted(tr.move_fractions)
['F', 'L', 'R']
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from boltzkit import _core
from boltzkit._progress import want_progress
from boltzkit._threads import resolve_threads
from boltzkit._typing import RealArray
from boltzkit._validate import I64_MAX, as_bool, as_float, as_int, as_seed, check_bytes, check_steps
from boltzkit.errors import ComputationError, InvalidArgumentError, InvalidTypeError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from xarray import DataTree

__all__ = [
    "METHODS",
    "Bimodal",
    "BuiltinTarget",
    "DivergenceWarning",
    "EnergyGrad",
    "Funnel",
    "GaussianAniso",
    "GaussianDense",
    "InitialPoint",
    "LogisticRegression",
    "Method",
    "Metric",
    "NoExactSamplerError",
    "ProductOfT",
    "Quantity",
    "RealArray",
    "RoughWell",
    "Trace",
    "autocorrelation",
    "ess",
    "refresh_rate_from_beta",
    "sample",
]

#: ``method=`` of :func:`sample`: the samplers.
Method = Literal["nuts", "hmc", "lahmc", "ct_hmc", "mjhmc"]
#: ``metric=`` of :func:`sample`: the adapted inverse mass matrix, diagonal or dense.
Metric = Literal["diag", "dense"]
#: ``quantity=`` of the :class:`Trace` diagnostics: the draws ``x`` or their squares ``x²``.
Quantity = Literal["x", "x2"]
#: ``x0=`` of :func:`sample`: starting points, or ``"exact"`` (draws from the target's exact sampler).
InitialPoint = RealArray | Literal["exact"]
#: The samplers.
METHODS: tuple[str, ...] = ("nuts", "hmc", "lahmc", "ct_hmc", "mjhmc")
#: Warm-up iterations when ``warmup`` is not given and the step size is to be adapted (Stan's).
DEFAULT_WARMUP = 1000
JUMP_METHODS = ("ct_hmc", "mjhmc")
_MOVE_R = int(_core.HMC_MOVE_REFRESH)

F64 = npt.NDArray[np.float64]
# The largest dimension of a built-in target: far beyond any use, small enough that every size
# computed from it stays an exact int and a float.
_MAX_DIM = 2**40
#: A user target: ``x`` (a batch of points, or one point with ``vectorized=False``) to
#: ``(value, gradient)`` of the log-density (or of the energy, for ``target=``).
EnergyGrad = Callable[[F64], tuple[npt.ArrayLike, npt.ArrayLike]]


# --------------------------------------------------------------------------------------------
# validation helpers


def _int(name: str, v: object, lo: int, hi: int | None = None) -> int:
    return as_int(name, v, lo, I64_MAX if hi is None else hi)


def _float(name: str, v: object) -> float:
    return as_float(name, v)


def _positive(name: str, v: object, hi: float | None = None) -> float:
    return as_float(name, v, 0.0, hi, lo_open=True)


def _dim(v: object, lo: int = 1) -> int:
    """A target's dimension: an int that a handful of float64 vectors of that length fit."""
    d = as_int("dim", v, lo, _MAX_DIM)
    check_bytes("dim", 64.0 * d, f"a target of dimension {d}")
    return d


def _real_array(name: str, v: object) -> npt.NDArray[Any]:
    """``v`` as a float64 array (real numbers only: bool, complex, object and str refused)."""
    if isinstance(v, (str, bytes, dict, set)) or v is None:
        raise InvalidTypeError(f"{name}: expected an array of numbers, got {type(v).__name__}")
    try:
        raw = np.asarray(v)
    except (TypeError, ValueError, OverflowError):
        raise InvalidTypeError(f"{name}: expected an array of numbers") from None
    if raw.dtype.kind not in "iuf":
        raise InvalidTypeError(f"{name}: expected an array of real numbers, got dtype {raw.dtype}")
    try:
        return np.ascontiguousarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # pragma: no cover - numeric dtypes convert
        raise InvalidTypeError(f"{name}: expected an array of numbers") from None


def _array(name: str, v: object, ndim: int) -> F64:
    a = _real_array(name, v)
    if a.ndim != ndim:
        raise InvalidArgumentError(f"{name}: expected a {ndim}-D array, got shape {a.shape}")
    if a.size == 0:
        raise InvalidArgumentError(f"{name}: must not be empty")
    if not np.all(np.isfinite(a)):
        raise InvalidArgumentError(f"{name}: every value must be finite")
    if np.abs(a).max() > 1e100:
        # beyond this, squares and products in the energies overflow: refuse rather than return inf/NaN
        raise InvalidArgumentError(
            f"{name}: every value must be between -1e100 and 1e100, got {a.flat[np.argmax(np.abs(a))]:.3g}"
        )
    return a


class DivergenceWarning(UserWarning):
    """A run had divergent transitions (as PyMC warns): its draws may be biased; raise
    ``target_accept`` or reparameterise."""


class NoExactSamplerError(ComputationError, NotImplementedError):
    """A target without exact draws (a :class:`ComputationError` and a ``NotImplementedError``)."""


def refresh_rate_from_beta(beta: float) -> float:
    """The full-refresh rate ``λ = −ln(1 − β)/2`` of a jump sampler that matches the discrete
    samplers' partial refresh ``β`` (one unit of jump time ≈ one discrete step); ``β < 1``."""
    b = _float("beta", beta)
    # below 1e-300 the rate −ln(1 − β)/2 ≈ β/2 underflows towards 0 (no refresh at all)
    if not 1e-300 <= b < 1:
        raise InvalidArgumentError(f"beta: must be >= 1e-300 and < 1 for a jump sampler (λ = −ln(1 − β)/2), got {b}")
    return -math.log1p(-b) / 2


# --------------------------------------------------------------------------------------------
# targets


@dataclass(frozen=True, eq=False)
class BuiltinTarget:
    """Base of the built-in targets: an energy ``E(x) = −ln π(x) + const`` evaluated in Rust."""

    @cached_property
    def _native(self) -> Any:
        raise NotImplementedError

    @property
    def ndim(self) -> int:
        """Dimension ``d`` of the state space."""
        return int(self._native.dim)

    @property
    def name(self) -> str:
        """Short name of the target."""
        return type(self).__name__

    def energy_grad(self, x: npt.ArrayLike, threads: int | None = None) -> tuple[F64, F64]:
        """Energies and gradients.

        Parameters
        ----------
        x : array_like of shape (n, dim) or (dim,), float64

        Returns
        -------
        energy : ndarray of shape (n,) (a scalar array for a single point)
        grad : ndarray of shape (n, dim) (``(dim,)`` for a single point)
        """
        a = _real_array("x", x)
        single = a.ndim == 1
        d = self.ndim
        if a.ndim not in (1, 2) or a.shape[-1] != d:
            raise InvalidArgumentError(f"x: expected shape (n, {d}) or ({d},), got {a.shape}")
        a2 = np.ascontiguousarray(a.reshape(1, -1) if single else a)
        check_bytes("x", 8.0 * a2.shape[0] * (d + 1), f"energies and gradients of {a2.shape[0]} points in dimension {d}")
        e, g = self._native.energy_grad(a2, resolve_threads(threads))
        return (e[0], g[0]) if single else (e, g)

    def _exact_args(self, n: object, seed: object) -> tuple[int, int]:
        """``n`` and ``seed`` of :meth:`exact_sample`, validated (sizes against memory)."""
        k = as_int("n", n, 0)
        sd = as_seed(seed)
        check_bytes("n", 24.0 * k * self.ndim, f"{k} exact draws in dimension {self.ndim}")
        return k, sd

    def exact_sample(self, n: int, seed: int = 0) -> F64:
        """``n`` independent exact draws from the target, shape (n, dim).

        Raises
        ------
        NotImplementedError
            For targets without an exact sampler (logistic regression, a product of t experts
            with a non-square filter matrix).
        """
        raise NoExactSamplerError(f"{self.name} has no exact sampler")

    @property
    def has_exact_sample(self) -> bool:
        """Whether :meth:`exact_sample` works."""
        try:
            self.exact_sample(1)
        except NotImplementedError:
            return False
        return True

    def variance(self) -> F64 | None:
        """Exact marginal variances of the coordinates, when known in closed form."""
        return None


@dataclass(frozen=True, eq=False)
class GaussianAniso(BuiltinTarget):
    """``E = Σ c_i x_i² / 2`` with ``c_i = 10^(−s + s (i−1)/(d−1))``: condition number ``10^s``.

    Parameters
    ----------
    dim : int
        Dimension ``d`` (the papers use 2, 10 and 100).
    log10_cond : float
        ``s = log10`` of the condition number (the papers use 6). Precisions run from ``10^−s``
        to 1.
    """

    dim: int = 2
    log10_cond: float = 6.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", _dim(self.dim, 1))
        object.__setattr__(self, "log10_cond", as_float("log10_cond", self.log10_cond, -300.0, 300.0))

    @property
    def precisions(self) -> F64:
        """The precisions ``c_i``."""
        d, s = self.dim, self.log10_cond
        if d == 1:
            return np.ones(1)
        return np.asarray(10.0 ** (-s + s * np.arange(d) / (d - 1)), dtype=np.float64)

    @cached_property
    def _native(self) -> Any:
        return _core.HmcTarget.gaussian_diag(self.precisions)

    def exact_sample(self, n: int, seed: int = 0) -> F64:
        """Exact draws ``x_i ~ N(0, 1/c_i)``."""
        n, seed = self._exact_args(n, seed)
        rng = np.random.default_rng(seed)
        return np.asarray(rng.standard_normal((n, self.dim)) / np.sqrt(self.precisions), dtype=np.float64)

    def variance(self) -> F64:
        """``1 / c_i``."""
        return np.asarray(1.0 / self.precisions, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class GaussianDense(BuiltinTarget):
    """``E = xᵀ J x / 2`` with a symmetric positive-definite precision matrix ``J`` (d × d)."""

    precision: F64

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", _array("precision", self.precision, 2))
        _ = self._native

    @cached_property
    def _native(self) -> Any:
        return _core.HmcTarget.gaussian_dense(self.precision)

    @property
    def dim(self) -> int:
        """Dimension."""
        return self.ndim

    def exact_sample(self, n: int, seed: int = 0) -> F64:
        """``x = L⁻ᵀ z`` with ``J = L Lᵀ``, ``z ~ N(0, I)``."""
        n, seed = self._exact_args(n, seed)
        rng = np.random.default_rng(seed)
        chol = np.linalg.cholesky(self.precision)
        z = rng.standard_normal((self.ndim, n))
        return np.ascontiguousarray(np.linalg.solve(chol.T, z).T)

    def variance(self) -> F64:
        """``diag(J⁻¹)``."""
        return np.asarray(np.diag(np.linalg.inv(self.precision)), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class RoughWell(BuiltinTarget):
    """``E = Σ_i [x_i²/(2a²) + cos(2π x_i / b)]``: a wide well with many local minima.

    Parameters
    ----------
    dim : int
        Dimension (the papers use 2).
    a : float
        Width of the envelope (100).
    b : float
        Period of the ripples (4).
    """

    dim: int = 2
    a: float = 100.0
    b: float = 4.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", _dim(self.dim, 1))
        a = as_float("a", self.a, 1e-100, 1e100)
        b = as_float("b", self.b, 1e-100, 1e100)
        # ripples finer than the float spacing of the well are noise (cos of a huge argument),
        # and the energy and the rejection sampler stop meaning anything
        if a / b > 1e9:
            raise InvalidArgumentError(
                f"b: must be at least a / 1e9 = {a / 1e9:.3g} (ripples finer than that are numerical noise), got {b}"
            )
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)

    @cached_property
    def _native(self) -> Any:
        return _core.HmcTarget.rough_well(self.dim, self.a, self.b)

    def exact_sample(self, n: int, seed: int = 0) -> F64:
        """Rejection sampling per coordinate: propose ``N(0, a²)``, accept with
        ``exp(−cos(2πx/b) − 1) ≤ 1`` (exact)."""
        n, seed = self._exact_args(n, seed)
        rng = np.random.default_rng(seed)
        out = np.empty(n * self.dim)
        filled = 0
        # the acceptance probability is at least e^-2 per proposal, so 200 rounds of twice the
        # missing number of proposals never run out in practice; bounded all the same
        for _ in range(200):
            if filled >= out.size:
                break
            m = 2 * (out.size - filled) + 16
            x = self.a * rng.standard_normal(m)
            keep = x[rng.random(m) < np.exp(-np.cos(2 * np.pi * x / self.b) - 1.0)]
            k = min(keep.size, out.size - filled)
            out[filled : filled + k] = keep[:k]
            filled += k
        if filled < out.size:
            raise ComputationError("RoughWell.exact_sample: the rejection sampler accepted too few proposals")
        return out.reshape(n, self.dim)


@dataclass(frozen=True, eq=False)
class ProductOfT(BuiltinTarget):
    """Product of Student-t experts, ``E = Σ_j (ν_j+1)/2 · ln(1 + (w_j·x + b_j)²/ν_j)``.

    This is the standard Student-t form (the MJHMC reference code divides by ``ν²`` inside the
    square). With ``W = I`` and ``b = 0`` each ``x_j`` is Student-t(``ν_j``).

    Parameters
    ----------
    dim : int
        Dimension (the papers use 36).
    nu : array_like of shape (n_experts,), optional
        Degrees of freedom; default ``U(2.1, 4.1)`` draws from ``seed`` (one expert per dimension).
    w : array_like of shape (n_experts, dim), optional
        Filters; default ``I`` (or ``I`` + a 5 %-dense Gaussian matrix when ``sparse=True``).
    b : array_like of shape (n_experts,), optional
        Offsets; default 0.
    sparse : bool
        Add the sparse Gaussian part to the default filters.
    seed : int
        Seed of the default ``nu`` and sparse filters.
    """

    dim: int = 36
    nu: Any = None
    w: Any = None
    b: Any = None
    sparse: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        d = _dim(self.dim, 1)
        object.__setattr__(self, "dim", d)
        object.__setattr__(self, "sparse", as_bool("sparse", self.sparse))
        if self.w is None:
            check_bytes("dim", 16.0 * d * d, f"a {d} x {d} filter matrix")
        rng = np.random.default_rng(as_seed(self.seed))
        nu, w, b = self.nu, self.w, self.b
        if w is None:
            wm = np.eye(d)
            if self.sparse:
                mask = rng.random((d, d)) < 0.05
                wm = wm + mask * rng.standard_normal((d, d))
        else:
            wm = _array("w", w, 2)
            if wm.shape[1] != d:
                raise InvalidArgumentError(f"w: expected {d} columns (dim), got shape {wm.shape}")
        k = wm.shape[0]
        nua = rng.uniform(2.1, 4.1, k) if nu is None else _array("nu", nu, 1)
        ba = np.zeros(k) if b is None else _array("b", b, 1)
        if nua.shape != (k,):
            raise InvalidArgumentError(f"nu: expected {k} values (one per expert), got shape {nua.shape}")
        if ba.shape != (k,):
            raise InvalidArgumentError(f"b: expected {k} values (one per expert), got shape {ba.shape}")
        object.__setattr__(self, "nu", np.ascontiguousarray(nua))
        object.__setattr__(self, "w", np.ascontiguousarray(wm))
        object.__setattr__(self, "b", np.ascontiguousarray(ba))
        _ = self._native

    @cached_property
    def _native(self) -> Any:
        return _core.HmcTarget.product_of_t(self.w, self.b, self.nu)

    def exact_sample(self, n: int, seed: int = 0) -> F64:
        """For a square invertible ``W``: ``x = W⁻¹(u − b)``, ``u_j ~ t(ν_j)``."""
        assert self.w is not None and self.nu is not None and self.b is not None
        if self.w.shape[0] != self.w.shape[1]:
            raise NoExactSamplerError("ProductOfT: exact draws need a square filter matrix")
        n, seed = self._exact_args(n, seed)
        rng = np.random.default_rng(seed)
        u = rng.standard_t(self.nu, size=(n, self.nu.size))
        try:
            x = np.linalg.solve(self.w, (u - self.b).T).T
        except np.linalg.LinAlgError:
            raise NoExactSamplerError("ProductOfT: exact draws need an invertible filter matrix") from None
        if not np.isfinite(x).all():
            raise ComputationError("ProductOfT: exact draws overflowed (a nearly singular filter matrix)")
        return np.ascontiguousarray(x)

    def variance(self) -> F64 | None:
        """``ν/(ν−2)`` (∞ for ν ≤ 2) when ``W = I`` and ``b = 0``."""
        assert self.w is not None and self.nu is not None and self.b is not None
        if self.w.shape[0] != self.w.shape[1] or not np.array_equal(self.w, np.eye(self.w.shape[0])) or np.any(self.b):
            return None
        with np.errstate(divide="ignore"):
            return np.where(self.nu > 2, self.nu / (self.nu - 2), np.inf)


@dataclass(frozen=True, eq=False)
class Bimodal(BuiltinTarget):
    """``E = −ln(exp(−‖x−m‖²) + exp(−‖x+m‖²))``, ``m = (sep, 0, …, 0)``: two Gaussians
    ``N(±m, I/2)`` with equal weight.

    Parameters
    ----------
    dim : int
        Dimension (the papers use 5).
    sep : float
        Distance of each mode from the origin (1).
    """

    dim: int = 5
    sep: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", _dim(self.dim, 1))
        s = as_float("sep", self.sep, -1e100, 1e100)
        object.__setattr__(self, "sep", s)

    @property
    def mode(self) -> F64:
        """The mode ``m``."""
        m = np.zeros(self.dim)
        m[0] = self.sep
        return m

    @cached_property
    def _native(self) -> Any:
        return _core.HmcTarget.bimodal(self.mode)

    def exact_sample(self, n: int, seed: int = 0) -> F64:
        """A fair coin picks the mode, then ``N(±m, I/2)``."""
        n, seed = self._exact_args(n, seed)
        rng = np.random.default_rng(seed)
        sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        return np.asarray(sign[:, None] * self.mode + rng.standard_normal((n, self.dim)) / np.sqrt(2), dtype=np.float64)

    def variance(self) -> F64:
        """``1/2 + m_i²``."""
        return np.asarray(0.5 + self.mode**2, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Funnel(BuiltinTarget):
    """Neal's funnel, ``E = x₀²/(2σ²) + Σ_{i>0} [x_i² e^{−x₀}/2 + x₀/2]``: ``x₀ ~ N(0, σ²)``,
    ``x_i | x₀ ~ N(0, e^{x₀})``.

    Parameters
    ----------
    dim : int
        Dimension, ≥ 2 (Neal: 10).
    sigma : float
        Scale of the neck coordinate (3).
    """

    dim: int = 10
    sigma: float = 3.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", _dim(self.dim, 2))
        # e^{σ²/2} (the variance of the wide coordinates) must stay a float
        object.__setattr__(self, "sigma", as_float("sigma", self.sigma, 1e-100, 25.0))

    @cached_property
    def _native(self) -> Any:
        return _core.HmcTarget.funnel(self.dim, self.sigma)

    def exact_sample(self, n: int, seed: int = 0) -> F64:
        """``x₀ ~ N(0, σ²)``, then ``x_i ~ N(0, e^{x₀})``."""
        n, seed = self._exact_args(n, seed)
        rng = np.random.default_rng(seed)
        x0 = self.sigma * rng.standard_normal(n)
        rest = rng.standard_normal((n, self.dim - 1)) * np.exp(x0 / 2)[:, None]
        return np.ascontiguousarray(np.column_stack([x0, rest]))

    def variance(self) -> F64:
        """``σ²`` for ``x₀``, ``E[e^{x₀}] = e^{σ²/2}`` for the others."""
        v = np.full(self.dim, math.exp(self.sigma**2 / 2))
        v[0] = self.sigma**2
        return v


@dataclass(frozen=True, eq=False)
class LogisticRegression(BuiltinTarget):
    """Bayesian logistic regression, ``E(w) = Σ_i [log(1 + e^{x_i·w}) − y_i x_i·w] + ‖w‖²/(2 s²)``.

    Parameters
    ----------
    x : array_like of shape (n, dim), float64
        Features (add a column of ones for an intercept).
    y : array_like of shape (n,)
        Labels, 0 or 1.
    prior_scale : float
        Standard deviation ``s`` of the Gaussian prior of every coefficient (1e-100 … 1e100).
    """

    x: F64
    y: F64
    prior_scale: float = 1.0

    def __post_init__(self) -> None:
        x = _array("x", self.x, 2)
        y = _array("y", self.y, 1)
        if y.shape[0] != x.shape[0]:
            raise InvalidArgumentError(f"y: expected {x.shape[0]} labels (rows of x), got {y.shape[0]}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        # below ~1e-100 the prior precision 1/s² overflows (s = 5e-324 gave a NaN energy at 0)
        object.__setattr__(self, "prior_scale", as_float("prior_scale", self.prior_scale, 1e-100, 1e100))
        _ = self._native

    @cached_property
    def _native(self) -> Any:
        return _core.HmcTarget.logistic(self.x, self.y, self.prior_scale)

    @property
    def dim(self) -> int:
        """Dimension."""
        return self.ndim


# --------------------------------------------------------------------------------------------
# diagnostics


def _as3(name: str, x: npt.ArrayLike, min_draws: int = 1) -> F64:
    a = _real_array(name, x)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise InvalidArgumentError(f"{name}: expected shape (chain, draw) or (chain, draw, dim), got {a.shape}")
    c, n, d = a.shape
    if c < 1 or d < 1 or n < min_draws:
        raise InvalidArgumentError(f"{name}: needs at least 1 chain, {min_draws} draws and 1 coordinate, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise InvalidArgumentError(f"{name}: every value must be finite")
    # the FFTs pad every chain to twice its length (complex): about 8 copies of the input
    check_bytes(name, 8.0 * 8 * a.size, f"the FFTs of {c} chains x {n} draws x {d} coordinates")
    return np.ascontiguousarray(a)


def _rescaled(a: F64) -> F64:
    """``a`` times a power of two (exact) when its values are so large or small that squares and
    fourth powers would overflow or underflow; ESS and autocorrelations do not depend on it."""
    spread = float(np.max(np.abs(a)))
    if spread > 1e60 or 0 < spread < 1e-60:
        return np.ascontiguousarray(np.ldexp(a, -math.frexp(spread)[1]))
    return a


def ess(x: npt.ArrayLike, *, square: bool = False, split: bool = True, threads: int | None = None) -> F64:
    """Multi-chain effective sample size of the mean (Stan / ArviZ ``ess(method="mean")``).

    Per-chain mean-subtracted FFT autocovariances, the within/between-chain variance ``var⁺``,
    Geyer's initial positive and initial monotone sequences, ``τ = −1 + 2 Σ ρ̂``,
    ``ESS = chains · draws / τ``.

    Parameters
    ----------
    x : array_like of shape (chain, draw) or (chain, draw, dim)
    square : bool
        ESS of ``x²`` (the second moment) instead of ``x``.
    split : bool
        Split every chain in halves first (ArviZ does).

    Returns
    -------
    ndarray of shape (dim,) (``(1,)`` for 2-D input)
    """
    sq, sp = as_bool("square", square), as_bool("split", split)
    nt = resolve_threads(threads)
    a = _rescaled(_as3("x", x, 4))
    out = np.asarray(_core.hmc_ess(a, sq, sp, nt), dtype=np.float64)
    bad = ~(np.isfinite(out) & (out >= 0)) & ~np.isnan(out)
    if bad.any():
        raise ComputationError(f"ess: estimate out of range ({out[bad][0]}) for coordinate {int(np.nonzero(bad)[0][0])}")
    return out


def autocorrelation(x: npt.ArrayLike, max_lag: int | None = None, *, square: bool = False, threads: int | None = None) -> F64:
    """Normalised autocorrelation by FFT, averaged over chains.

    The mean over *all* chains is subtracted (no zero-mean assumption), each chain is zero-padded
    to twice its length, the biased autocovariance is averaged over chains and divided by lag 0.

    Parameters
    ----------
    x : array_like of shape (chain, draw) or (chain, draw, dim)
    max_lag : int, optional
        Largest lag (default and cap: ``draw − 1``).
    square : bool
        Autocorrelation of ``x²``.

    Returns
    -------
    ndarray of shape (dim, max_lag + 1)
    """
    sq = as_bool("square", square)
    lag_arg = None if max_lag is None else _int("max_lag", max_lag, 0)
    nt = resolve_threads(threads)
    a = _as3("x", x)
    n = a.shape[1]
    lag = n - 1 if lag_arg is None else min(lag_arg, n - 1)
    a = _rescaled(a)
    out = np.asarray(_core.hmc_autocorr(a, lag, sq, nt), dtype=np.float64)
    fin = out[~np.isnan(out)]
    if np.any(np.abs(fin) > 1 + 1e-9):
        raise ComputationError("autocorrelation: an estimate fell outside [-1, 1]")
    return out


def _first_crossing(curve: F64, level: float) -> float:
    """Fractional lag where ``curve`` first falls below ``level`` (linear interpolation); NaN if never."""
    below = np.nonzero(curve < level)[0]
    if below.size == 0:
        return math.nan
    k = int(below[0])
    if k == 0:
        return 0.0
    a, b = curve[k - 1], curve[k]
    return float(k - 1 + (a - level) / (a - b))


# --------------------------------------------------------------------------------------------
# the trace


@dataclass(frozen=True, eq=False)
class Trace:
    """The output of :func:`sample`.

    Attributes
    ----------
    method : str
        The sampler.
    records : ndarray of shape (chain, n, dim), float64
        Discrete samplers: the draws. Jump samplers: the state occupied during each holding time.
    tau : ndarray of shape (chain, n), float64, or None
        Holding times (jump samplers).
    moves : ndarray of shape (chain, n), uint8
        Move of each iteration: 0 = flip ``F`` (a rejection), ``a ≥ 1`` = ``L^a`` (``L`` for mjhmc,
        ``FL`` for ct_hmc), 255 = full momentum refresh ``R``.
    accept : ndarray of shape (chain, n), float64
        ``min(1, e^{−ΔH})`` of the first trajectory of each iteration (nuts: the mean
        Metropolis acceptance over the trajectory, Stan's ``accept_stat__``).
    energy : ndarray of shape (chain, n), float64
        Potential energy ``E(x)`` of each record (``−lp``).
    hamiltonian : ndarray of shape (chain, n), float64
        Hamiltonian ``E(x) + K(p)`` of each record with its momentum (before the refresh that
        follows it): ArviZ's ``energy`` (what ``az.bfmi`` needs).
    diverging : ndarray of shape (chain, n), bool
        Whether the iteration's (first) trajectory diverged: an energy error above 1000 or a
        non-finite energy or gradient anywhere on it. Divergent trajectories are rejected.
    tree_depth, n_steps : ndarray of shape (chain, n), int64, or None
        nuts: tree depth and leapfrog steps of each draw.
    step_sizes : ndarray of shape (chain,), float64
        The step size of every chain after warm-up (nuts adapts each chain on its own;
        :attr:`step_size` is their median).
    warmup_draws : ndarray of shape (chain, n_warmup, dim), or None
        The warm-up draws, when ``save_warmup=True`` (nuts).
    warmup_stats : dict of ndarray, or None
        Their sample statistics (as :meth:`sample_stats`).
    n_grad : ndarray of shape (chain,), int64
        Gradient evaluations per chain while sampling.
    n_grad_warmup : ndarray of shape (chain,), int64
        Gradient evaluations per chain during warm-up.
    step_size, n_leapfrog, beta, refresh_rate, look_ahead
        The settings used (after warm-up).
    inverse_mass_matrix : ndarray of shape (dim,) or (dim, dim); nuts: (chain, dim) or (chain, dim, dim)
        nuts adapts one per chain (all equal with ``pool_warmup=True``).
    wall_time : float
        Seconds spent sampling (after warm-up).
    """

    method: Method
    records: F64
    tau: F64 | None
    moves: npt.NDArray[np.uint8]
    accept: F64
    energy: F64
    n_grad: npt.NDArray[np.int64]
    n_grad_warmup: npt.NDArray[np.int64]
    step_size: float
    n_leapfrog: int
    beta: float | None
    refresh_rate: float | None
    look_ahead: int
    inverse_mass_matrix: F64
    seed: int
    wall_time: float
    warmup_time: float = 0.0
    hamiltonian: F64 | None = None
    diverging: npt.NDArray[np.bool_] | None = None
    tree_depth: npt.NDArray[np.int64] | None = None
    n_steps: npt.NDArray[np.int64] | None = None
    step_sizes: F64 | None = None
    warmup_draws: F64 | None = None
    warmup_stats: dict[str, npt.NDArray[Any]] | None = None

    def __post_init__(self) -> None:
        rec = _real_array("records", self.records)
        if rec.ndim != 3:
            raise InvalidArgumentError(f"records: expected shape (chain, n, dim), got {rec.shape}")
        if not np.isfinite(rec).all():
            raise InvalidArgumentError("records: every value must be finite")
        object.__setattr__(self, "records", rec)
        if self.tau is not None:
            tau = _real_array("tau", self.tau)
            if tau.shape != rec.shape[:2]:
                raise InvalidArgumentError(f"tau: expected shape {rec.shape[:2]} (chain, n of records), got {tau.shape}")
            if not (np.isfinite(tau).all() and (tau >= 0).all()):
                raise InvalidArgumentError("tau: every holding time must be finite and >= 0")
            object.__setattr__(self, "tau", tau)

    @property
    def n_chains(self) -> int:
        """Number of chains."""
        return int(self.records.shape[0])

    @property
    def dim(self) -> int:
        """Dimension."""
        return int(self.records.shape[2])

    @property
    def is_jump(self) -> bool:
        """Whether the sampler is a continuous-time jump process."""
        return self.method in JUMP_METHODS

    def weighted(self) -> tuple[F64, F64]:
        """The time-weighted trajectory: states ``(chain, n, dim)`` and holding times ``(chain, n)``.

        Expectations are ``Σ_k τ_k f(x_k) / Σ_k τ_k`` per chain. For the discrete samplers every
        draw has weight 1.
        """
        if self.tau is None:
            return self.records, np.ones(self.records.shape[:2])
        return self.records, self.tau

    @property
    def total_time(self) -> F64:
        """Simulated time per chain, shape (chain,) (the number of draws for discrete samplers)."""
        return np.asarray(self.weighted()[1].sum(axis=1), dtype=np.float64)

    @property
    def mean_holding_time(self) -> float:
        """Mean holding time over all chains (1 for discrete samplers)."""
        return float(self.weighted()[1].mean())

    def on_grid(self, dt: float | None = None) -> F64:
        """Equally spaced samples ``(chain, n_grid, dim)``.

        Jump samplers: each chain's trajectory read at the times ``(j + ½) dt``,
        ``j = 0 … n_grid − 1``, ``n_grid = min over chains of ⌊T_chain / dt⌋``. From a
        stationary start this is an exactly stationary chain. Default ``dt``: the mean holding
        time. Discrete samplers: the draws (``dt`` must be None).
        """
        if self.tau is None:
            if dt is not None:
                raise InvalidArgumentError("dt: only jump samplers have a time grid")
            return self.records
        step = self.mean_holding_time if dt is None else _positive("dt", dt)
        if not (math.isfinite(step) and step > 0):
            raise ComputationError(f"on_grid: the mean holding time is {step}; give dt")
        c, _n, d = self.records.shape
        t_min = float(self.total_time.min()) if c else 0.0
        n_grid = t_min / step if math.isfinite(t_min) else 0.0  # may be +inf for a subnormal dt
        check_bytes("dt", 8.0 * c * n_grid * d, f"a grid of {n_grid:.3g} points for {c} chains in dimension {d}")
        if c and n_grid < 1:
            warnings.warn(
                f"dt: {step:.6g} is longer than the shortest chain's simulated time {t_min:.6g}; the grid is empty",
                stacklevel=2,
            )
        return np.asarray(_core.hmc_grid(self.records, self.tau, step))

    @cached_property
    def draws(self) -> F64:
        """Draws ``(chain, draw, dim)``: the samples (discrete samplers) or :meth:`on_grid` at the
        mean holding time (jump samplers)."""
        return self.on_grid()

    @property
    def grads_per_draw(self) -> float:
        """Gradient evaluations attributed to one draw of :attr:`draws` (per chain).

        Jump samplers: total gradients / total simulated time × ``dt`` (the grid's truncation
        does not enter).
        """
        total = float(self.n_grad.sum())
        if self.tau is None:
            return total / float(self.n_chains * self.records.shape[1])
        return total / float(self.total_time.sum()) * self.mean_holding_time

    def mean(self) -> F64:
        """Time-weighted mean per coordinate over all chains, shape (dim,)."""
        x, w = self.weighted()
        total = w.sum()
        if not total > 0:
            raise ComputationError("mean: the trace has no weight (no records or zero holding times)")
        # normalised weights first: no overflow for huge states
        return np.asarray(np.einsum("cnd,cn->d", x, w / total), dtype=np.float64)

    def var(self) -> F64:
        """Time-weighted variance per coordinate over all chains, shape (dim,)."""
        x, w = self.weighted()
        m = self.mean()
        with np.errstate(over="ignore"):
            v = np.asarray(np.einsum("cnd,cn->d", (x - m) ** 2, w / w.sum()), dtype=np.float64)
        if not np.isfinite(v).all():
            raise ComputationError("var: the variance overflows a float (states of magnitude near 1e154 or more)")
        return v

    @property
    def move_fractions(self) -> dict[str, float]:
        """Fractions of the moves: hmc ``accept``/``F``; lahmc ``L1``…``LK``/``F``; mjhmc
        ``L``/``F``/``R``; ct_hmc ``FL``/``F``/``R``."""
        m = self.moves.ravel()
        n = max(m.size, 1)

        def frac(code: int) -> float:
            return float(np.count_nonzero(m == code) / n)

        if self.method == "nuts":
            return {"divergent": float(np.mean(self._diverging())) if m.size else 0.0}
        if self.method == "hmc":
            return {"accept": frac(1), "F": frac(0)}
        if self.method == "lahmc":
            out = {f"L{a}": frac(a) for a in range(1, self.look_ahead + 1)}
            out["F"] = frac(0)
            return out
        first = "L" if self.method == "mjhmc" else "FL"
        return {first: frac(1), "F": frac(0), "R": frac(_MOVE_R)}

    def ess(self, quantity: Quantity = "x") -> F64:
        """ESS of the mean of ``x_i`` (or ``x_i²``) for every coordinate, from :attr:`draws`.

        NaN (with a warning) when there are fewer than 4 draws per chain: no estimate then.
        """
        if not isinstance(quantity, str) or quantity not in ("x", "x2"):
            raise InvalidArgumentError(f"quantity: expected 'x' or 'x2', got {quantity!r}")
        draws = self.draws
        if draws.shape[1] < 4:
            warnings.warn(
                f"ess: {draws.shape[1]} draws per chain are too few for an ESS estimate (at least 4); returning NaN",
                stacklevel=2,
            )
            return np.full(self.dim, np.nan)
        return ess(draws, square=quantity == "x2")

    @staticmethod
    def _quantity(quantity: object) -> bool:
        if not isinstance(quantity, str) or quantity not in ("x", "x2"):
            raise InvalidArgumentError(f"quantity: expected 'x' or 'x2', got {quantity!r}")
        return quantity == "x2"

    def ess_per_grad(self, quantity: Quantity = "x") -> F64:
        """ESS per gradient evaluation for every coordinate (all chains' gradients)."""
        cost = self.grads_per_draw * self.draws.shape[0] * self.draws.shape[1]
        return np.asarray(self.ess(quantity) / cost, dtype=np.float64)

    def autocorrelation(self, max_lag: int | None = None, quantity: Quantity = "x") -> F64:
        """Autocorrelation of :attr:`draws` per coordinate, shape (dim, lags)."""
        return autocorrelation(self.draws, max_lag, square=self._quantity(quantity))

    def mean_autocorrelation(self, max_lag: int | None = None, quantity: Quantity = "x") -> F64:
        """Autocorrelation of the whole vector, shape (lags,): the coordinates' autocovariances
        summed, then divided by their sum at lag 0 (``Σ_i cov_i(k) / Σ_i var_i``; the papers'
        measure, dominated by the widest coordinates)."""
        sq = self._quantity(quantity)
        rho = self.autocorrelation(max_lag, quantity)
        y = self.draws**2 if sq else self.draws
        var = y.reshape(-1, self.dim).var(axis=0)
        if not np.any(var > 0):
            return np.asarray(rho.mean(axis=0), dtype=np.float64)
        return np.asarray(var @ rho / var.sum(), dtype=np.float64)

    def grads_to_autocorr(self, level: float = 0.5, quantity: Quantity = "x") -> float:
        """Gradient evaluations (per chain) until :meth:`mean_autocorrelation` first falls below
        ``level`` (the papers' measure; linear interpolation between lags). NaN if it never does."""
        lv = as_float("level", level, -1.0, 1.0)
        return _first_crossing(self.mean_autocorrelation(quantity=quantity), lv) * self.grads_per_draw

    def efficiency(self) -> dict[str, float]:
        """Headline cost numbers: ESS per gradient of ``x`` and ``x²`` (worst coordinate and
        mean), gradients to autocorrelation 0.5, gradients per draw, wall time."""
        ex, ex2 = self.ess_per_grad("x"), self.ess_per_grad("x2")
        return {
            "ess_per_grad_x_min": float(ex.min()),
            "ess_per_grad_x_mean": float(ex.mean()),
            "ess_per_grad_x2_min": float(ex2.min()),
            "ess_per_grad_x2_mean": float(ex2.mean()),
            "grads_to_ac_0.5": self.grads_to_autocorr(0.5),
            "grads_per_draw": self.grads_per_draw,
            "wall_time": self.wall_time,
        }

    def _diverging(self) -> npt.NDArray[np.bool_]:
        if self.diverging is None:
            return np.zeros(self.records.shape[:2], dtype=bool)
        return self.diverging

    @property
    def divergences(self) -> npt.NDArray[np.int64]:
        """Divergent transitions per chain while sampling, shape (chain,) (per draw:
        :attr:`diverging`)."""
        return np.asarray(self._diverging().sum(axis=1), dtype=np.int64)

    def _grid_index(self) -> npt.NDArray[np.int64]:
        """Jump samplers: the record occupied at each point of :attr:`draws`, (chain, n_grid)."""
        assert self.tau is not None
        n_grid = self.draws.shape[1]
        dt = self.mean_holding_time
        t = (np.arange(n_grid) + 0.5) * dt
        ends = np.cumsum(self.tau, axis=1)
        idx = np.stack([np.searchsorted(ends[c], t, side="right") for c in range(self.n_chains)])
        return np.asarray(np.minimum(idx, self.records.shape[1] - 1), dtype=np.int64)

    def sample_stats(self) -> dict[str, npt.NDArray[Any]]:
        """Per-draw statistics aligned with :attr:`draws`, named as ArviZ and PyMC name them:
        ``energy`` (the Hamiltonian), ``lp`` (``log π`` up to a constant), ``diverging``,
        ``acceptance_rate``, ``step_size``, ``n_steps`` (leapfrog steps), and ``tree_depth``
        (nuts), ``move`` (hmc, lahmc, jump samplers), ``holding_time`` (jump samplers: of the
        state each grid point reads)."""
        c, n = self.records.shape[:2]
        ham = self.hamiltonian if self.hamiltonian is not None else np.full((c, n), np.nan)
        eps = np.full((c, n), self.step_size)
        if self.method == "nuts" and self.n_steps is not None and self.tree_depth is not None:
            steps = self.n_steps
        elif self.method == "lahmc":
            steps = np.where(self.moves == 0, self.look_ahead, self.moves).astype(np.int64) * self.n_leapfrog
        else:
            steps = np.full((c, n), self.n_leapfrog, dtype=np.int64)
        st: dict[str, npt.NDArray[Any]] = {
            "energy": ham,
            "lp": -self.energy,
            "diverging": self._diverging(),
            "acceptance_rate": self.accept,
            "step_size": eps,
            "n_steps": np.asarray(steps, dtype=np.int64),
        }
        if self.method == "nuts":
            if self.tree_depth is not None:
                st["tree_depth"] = self.tree_depth
            return st
        st["move"] = self.moves.astype(np.int64)
        if self.tau is None:
            return st
        st["holding_time"] = self.tau
        idx = self._grid_index()
        return {k: np.take_along_axis(v, idx, axis=1) for k, v in st.items()}

    def summary(self, *, prob: float = 0.05) -> dict[str, F64]:
        """ArviZ's diagnostic summary of every coordinate of :attr:`draws`: ``mean``, ``sd``,
        ``mcse_mean``, ``ess_bulk``, ``ess_tail``, ``r_hat`` (each of shape (dim,)).

        The definitions are ArviZ's (Vehtari et al. 2021): rank-normalised split-R̂ (the larger of
        the bulk and the folded tail value), the bulk ESS of the rank-normalised split chains, the
        tail ESS as the smaller ESS of the indicators ``x ≤ q_prob`` and ``x ≤ q_{1−prob}``.
        R̂ needs at least 2 chains and 4 draws (NaN otherwise).
        """
        from scipy import stats as sps

        p = as_float("prob", prob, 0.0, 0.5, lo_open=True, hi_open=True)
        x = self.draws
        c, n, d = x.shape
        if n < 4:
            raise InvalidArgumentError(f"summary: needs at least 4 draws per chain, got {n}")
        half = n // 2
        split = np.concatenate([x[:, :half], x[:, n - half :]], axis=0)  # (2c, half, d)

        def z_scale(a: F64) -> F64:
            flat = a.reshape(-1, d)
            r = sps.rankdata(flat, method="average", axis=0)
            u = (r - 3.0 / 8.0) / (flat.shape[0] - 2 * 3.0 / 8.0 + 1.0)
            return np.asarray(sps.norm.ppf(u).reshape(a.shape), dtype=np.float64)

        def rhat(a: F64) -> F64:
            m = a.shape[1]
            means = a.mean(axis=1)
            b = m * means.var(axis=0, ddof=1)
            w = a.var(axis=1, ddof=1).mean(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.asarray(np.sqrt((b / w + m - 1) / m), dtype=np.float64)

        def ess_of(a: F64) -> F64:
            # constant columns: ArviZ returns the number of draws
            const = np.ptp(a.reshape(-1, d), axis=0) < np.finfo(float).resolution
            out = np.full(d, float(a.shape[0] * a.shape[1]))
            if not const.all():
                keep = ~const
                out[keep] = ess(np.ascontiguousarray(a[:, :, keep]), split=False)
            return out

        zs = z_scale(split)
        ess_bulk = ess_of(zs)
        q = np.quantile(x.reshape(-1, d), [p, 1 - p], axis=0)
        tails = [ess_of((split <= q[k]).astype(np.float64)) for k in range(2)]
        ess_tail = np.minimum(tails[0], tails[1])
        if c * 2 >= 2 and c >= 2:
            folded = np.abs(split - np.median(split.reshape(-1, d), axis=0))
            r_hat = np.maximum(rhat(zs), rhat(z_scale(folded)))
        else:
            r_hat = np.full(d, np.nan)
        mean = x.reshape(-1, d).mean(axis=0)
        sd = x.reshape(-1, d).std(axis=0, ddof=1)
        ess_mean = ess(x) if n >= 4 else np.full(d, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            mcse = sd / np.sqrt(ess_mean)
        return {
            "mean": np.asarray(mean, dtype=np.float64),
            "sd": np.asarray(sd, dtype=np.float64),
            "mcse_mean": np.asarray(mcse, dtype=np.float64),
            "ess_bulk": ess_bulk,
            "ess_tail": ess_tail,
            "r_hat": r_hat,
        }

    def to_arviz(
        self,
        names: Sequence[str] | Mapping[str, tuple[int, ...]] | None = None,
        *,
        coords: Mapping[str, npt.ArrayLike] | None = None,
        dims: Mapping[str, Sequence[str]] | None = None,
    ) -> DataTree:
        """The draws as ArviZ data: ``posterior`` and ``sample_stats`` (:meth:`sample_stats`:
        the Hamiltonian ``energy``, so ``az.bfmi`` means what it says, ``diverging``,
        ``acceptance_rate``, ``step_size``, ``n_steps``, ``lp``, …), and ``warmup_posterior`` /
        ``warmup_sample_stats`` when warm-up draws were kept (``save_warmup=True``).

        Parameters
        ----------
        names : sequence of str or dict, optional
            Names of the variables. A sequence of ``dim`` names: one scalar variable per
            coordinate. A dict ``{name: shape}``: consecutive blocks of coordinates (in that
            order, C order within a block; the sizes must add up to ``dim``). Default: one
            variable ``x`` with dims ``(chain, draw, x_dim)``.
        coords, dims : dict, optional
            Passed to ArviZ's ``from_dict`` (labels of the variables' dimensions).

        Needs the optional dependency ``arviz`` (``pip install boltzkit[arviz]``); returns what
        its ``from_dict`` returns: a ``DataTree`` with ArviZ ≥ 1 (``arviz_base``), an
        ``InferenceData`` with older ArviZ.
        """
        dim_map: dict[str, list[str]] = {k: list(v) for k, v in (dims or {}).items()}

        def split(draws: F64) -> dict[str, Any]:
            if names is None:
                return {"x": draws}
            c, n, d = draws.shape
            out: dict[str, Any] = {}
            if isinstance(names, Mapping):
                start = 0
                for k, shape in names.items():
                    shp = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
                    size = int(np.prod(shp)) if shp else 1
                    out[str(k)] = draws[:, :, start : start + size].reshape((c, n, *shp))
                    start += size
                if start != d:
                    raise InvalidArgumentError(f"names: the shapes cover {start} coordinates, the target has {d}")
                return out
            if isinstance(names, str) or len(names) != d:
                raise InvalidArgumentError(f"names: expected {d} names (one per coordinate) or a dict of shapes")
            for i, k in enumerate(names):
                out[str(k)] = draws[:, :, i]
            if len(out) != d:
                raise InvalidArgumentError("names: the names must be distinct")
            return out

        if names is None:
            dim_map.setdefault("x", ["x_dim"])
        data: dict[str, Any] = {"posterior": split(self.draws), "sample_stats": self.sample_stats()}
        if self.warmup_draws is not None and self.warmup_draws.shape[1] > 0:
            data["warmup_posterior"] = split(self.warmup_draws)
            if self.warmup_stats is not None:
                data["warmup_sample_stats"] = dict(self.warmup_stats)
        try:
            import arviz_base  # type: ignore[import-not-found,unused-ignore]

            return arviz_base.from_dict(
                data, dims=dim_map, coords=dict(coords) if coords else None, save_warmup="warmup_posterior" in data
            )
        except ImportError:
            pass
        try:
            import arviz  # type: ignore[import-not-found,unused-ignore]
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_arviz needs arviz: pip install 'boltzkit[arviz]'") from e
        # ArviZ < 1 returns an InferenceData (same groups, same access by name); typed as the current one
        legacy: DataTree = arviz.from_dict(  # pragma: no cover - depends on the environment
            posterior=data["posterior"],
            sample_stats=data["sample_stats"],
            warmup_posterior=data.get("warmup_posterior"),
            warmup_sample_stats=data.get("warmup_sample_stats"),
            save_warmup="warmup_posterior" in data,
            dims=dim_map,
            coords=dict(coords) if coords else None,
        )
        return legacy  # pragma: no cover - depends on the environment

    def plot_autocorr(self, ax: Axes | None = None, *, quantity: Quantity = "x", label: str | None = None) -> Figure:
        """Plot :meth:`mean_autocorrelation` against gradient evaluations per chain.

        ``ax``: matplotlib Axes to draw on (a new figure when None); ``label``: legend entry
        (default: the method). Returns the figure."""
        from ._plot import axes_or_new, next_marker

        if label is not None and not isinstance(label, str):
            raise InvalidTypeError(f"label: expected a str or None, got {type(label).__name__}")
        curve = self.mean_autocorrelation(quantity=quantity)
        fig, ax = axes_or_new(ax, (6, 4))
        every = max(1, curve.size // 12)
        marker = next_marker(ax)
        ax.plot(
            np.arange(curve.size) * self.grads_per_draw, curve, marker=marker, ms=4, markevery=every, label=label or self.method
        )
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.set_xlabel("gradient evaluations per chain")
        ax.set_ylabel(f"autocorrelation of {'x²' if quantity == 'x2' else 'x'}")
        return fig


# --------------------------------------------------------------------------------------------
# sampling


def _is_jax_function(fn: object) -> bool:
    """Whether ``fn`` is a JAX-transformed function (``jax.jit`` and friends)."""
    mod = type(fn).__module__ or ""
    return mod.startswith(("jax", "jaxlib"))


def _vectorize(fn: Callable[..., Any], what: str, d: int) -> Callable[[F64], tuple[F64, F64]]:
    """A batch function from a single-point ``fn(x) -> (value, grad)``: ``jax.vmap`` for a JAX
    function when JAX is installed, else a loop over the rows."""
    if _is_jax_function(fn):
        try:
            import jax  # type: ignore[import-not-found,unused-ignore]
        except ImportError:  # pragma: no cover - depends on the environment
            pass
        else:  # pragma: no cover - depends on the environment
            vf = jax.jit(jax.vmap(fn))

            def batched(x: F64) -> tuple[F64, F64]:
                e, g = vf(x)
                return np.asarray(e, dtype=np.float64), np.asarray(g, dtype=np.float64)

            return batched

    def loop(x: F64) -> tuple[F64, F64]:
        n = x.shape[0]
        e = np.empty(n)
        g = np.empty((n, d))
        for i in range(n):
            out = fn(x[i])
            if not isinstance(out, tuple) or len(out) != 2:
                raise InvalidArgumentError(
                    f"{what}: with vectorized=False, must return a pair (a number, a gradient of shape ({d},))"
                )
            try:
                ei = np.asarray(out[0], dtype=np.float64)
                gi = np.asarray(out[1], dtype=np.float64)
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"{what}: returned something that is not a number") from None
            if ei.size != 1 or gi.shape != (d,):
                raise InvalidArgumentError(
                    f"{what}: with vectorized=False, returned shapes {ei.shape} and {gi.shape} for one point; "
                    f"expected () and ({d},)"
                )
            e[i] = float(ei.reshape(()))
            g[i] = gi
        return e, g

    return loop


class _Callback:
    """A user batch callback as the Rust core calls it: validates the shapes of its results and
    hands back ``(values, gradients)``. The core reads ``negate`` once (a log density: it negates
    both while copying them), turns a NaN or infinite value into ``+inf`` (the point is outside the
    support: a divergence, not an error; never written into the user's array) and accepts any
    strides. ``pad_to``: call ``fn`` with exactly that many rows (copies of the first row fill
    up), so a jitted function compiles once. Kept lean: it runs once per leapfrog round."""

    __slots__ = ("d", "f", "negate", "pad_to", "what")

    def __init__(self, fn: Callable[..., Any], sign: float, d: int, vectorized: bool, pad_to: int | None) -> None:
        self.what = "target" if sign > 0 else "logdensity"
        self.f = fn if vectorized else _vectorize(fn, self.what, d)
        self.negate = sign < 0
        self.d = d
        self.pad_to = pad_to

    def __call__(self, x: F64) -> tuple[F64, F64]:
        n, d, pad_to = x.shape[0], self.d, self.pad_to
        xin = x
        if pad_to is not None and n < pad_to:
            xin = np.empty((pad_to, d))
            xin[:n] = x
            xin[n:] = x[0]
        m = xin.shape[0]
        out = self.f(xin)
        if not isinstance(out, tuple) or len(out) != 2:
            raise InvalidArgumentError(f"{self.what}: must return a pair (values of shape (n,), gradients of shape (n, {d}))")
        e, g = out
        if type(e) is not np.ndarray or e.dtype != np.float64 or type(g) is not np.ndarray or g.dtype != np.float64:
            try:
                e = np.asarray(e, dtype=np.float64)
                g = np.asarray(g, dtype=np.float64)
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"{self.what}: returned something that is not an array of numbers") from None
        if e.shape != (m,) or g.shape != (m, d):
            raise InvalidArgumentError(
                f"{self.what}: returned shapes {e.shape} and {g.shape} for a batch of {m} points; expected ({m},) and ({m}, {d})"
            )
        if m != n:
            return e[:n], g[:n]
        return e, g


def _wrap_callback(
    fn: Callable[..., Any], sign: float, d: int, *, vectorized: bool = True, pad_to: int | None = None
) -> _Callback:
    """The callback object the Rust core calls (:class:`_Callback`)."""
    return _Callback(fn, sign, d, vectorized, pad_to)


def _starts(x0: object, target: BuiltinTarget | None, d: int | None, n_chains: int, seed: int) -> F64:
    if isinstance(x0, str):
        if x0 != "exact":
            raise InvalidArgumentError(f"x0: expected an array, None or 'exact', got {x0!r}")
        if target is None:
            raise InvalidArgumentError("x0: 'exact' needs a built-in target")
        try:
            return target.exact_sample(n_chains, seed=seed + 0x5EED)
        except NotImplementedError as e:
            raise InvalidArgumentError(f"x0: {e}") from None
    if x0 is None:
        if d is None:
            raise InvalidArgumentError("x0: give x0 (or dim=) for a callable target")
        rng = np.random.default_rng([seed, 0x1A17])
        return rng.uniform(-2.0, 2.0, (n_chains, d))
    a = np.array(_real_array("x0", x0))
    given = a.shape
    if a.ndim == 1:
        a = np.tile(a, (n_chains, 1))
    if a.ndim != 2 or a.shape[0] != n_chains or a.size == 0:
        raise InvalidArgumentError(f"x0: expected shape ({n_chains}, dim) or (dim,), got {given}")
    if d is not None and a.shape[1] != d:
        raise InvalidArgumentError(f"x0: expected {d} columns (the target's dimension), got {a.shape[1]}")
    if not np.all(np.isfinite(a)):
        raise InvalidArgumentError("x0: every value must be finite")
    return np.ascontiguousarray(a)


#: Iterations per chunk of a run on a callback target: a fixed schedule 1, 2, 4, … up to this.
CALLBACK_CHUNK = 64


def _run_chunks(run: Any, total: int, step: Callable[[int], None], desc: str, progress: bool | None, timed: bool = True) -> float:
    """Advance ``total`` iterations in chunks, with a progress bar; returns the wall time.

    ``timed``: chunks of about 0.2 s (so Ctrl-C stops a native target within a second). A
    callback target (``timed=False``) gets a fixed schedule instead (1, 2, 4, … up to
    :data:`CALLBACK_CHUNK` iterations): chains wait for each other at a chunk's end, so the chunks
    decide which rows share a callback batch, and a callback whose rows depend on the batch (a
    BLAS product blocks differently for 3 rows than for 8) must see the same batches in every
    run of a seed. Ctrl-C reaches a callback target inside its next call."""
    bar = None
    if want_progress(progress) and total > 0:
        from boltzkit._progress import bar as new_bar

        bar = new_bar(total, desc)
    t0 = time.perf_counter()
    done, chunk = 0, 1
    try:
        while done < total:
            k = min(chunk, total - done)
            t1 = time.perf_counter()
            step(k)
            dt = time.perf_counter() - t1
            done += k
            if bar is not None:
                bar.update(k)
            per = dt / k
            timed_chunk = max(1, min(int(0.2 / per) if per > 0 else 1_000_000, 4 * k))
            chunk = timed_chunk if timed else min(2 * k, CALLBACK_CHUNK)
    finally:
        if bar is not None:
            bar.close()
    return time.perf_counter() - t0


def _record_bytes(n_chains: int, n_samples: int, d: int, jump: bool, look_ahead: int) -> tuple[int, int]:
    """Bytes a run needs: the per-chain state (positions, momenta, gradients of the current
    point and of every cached or look-ahead trajectory, scratch, bookkeeping, the starts and
    their numpy copies) and the records (held in Rust, copied out, then the numpy arrays and, for
    the jump samplers, the grid of :attr:`Trace.draws`)."""
    slots = max(look_ahead, 2) + 2
    state = n_chains * (8 * (slots * (3 * d + 8) + 4 * d + 2 * look_ahead + 64) + 1024)
    per_record = 8 * (d + 2 + (1 if jump else 0)) + 1
    copies = 3 if jump else 2
    return state, copies * n_chains * n_samples * per_record


def _check_record_memory(n_chains: int, n_samples: int, d: int, jump: bool, look_ahead: int = 1) -> None:
    """Refuse a run whose state and records cannot fit in the memory this process may use
    (physical memory, RLIMIT_AS and the cgroup limit: :func:`boltzkit._validate.memory_limit`)."""
    state, records = _record_bytes(n_chains, n_samples, d, jump, look_ahead)
    check_bytes("n_chains", state, f"the state of {n_chains} chains in dimension {d}")
    check_bytes(
        "n_samples",
        state + records,
        f"{n_chains} chains x {n_samples} records of dimension {d} (Rust buffers, copies and numpy arrays)",
    )


def _check_tree_memory(n_chains: int, d: int, max_depth: int) -> None:
    """Refuse a NUTS run whose trees do not fit: per chain (max_depth + 2) nodes of 8 vectors of
    length d, and 20 more vectors."""
    check_bytes(
        "n_chains",
        8.0 * n_chains * d * (8 * (max_depth + 2) + 20),
        f"the NUTS trees of {n_chains} chains in dimension {d}",
    )


def _check_output(out: dict[str, Any], jump: bool) -> None:
    """The invariants of a run's records: finite states, energies below +inf, acceptance
    statistics in [0, 1], positive finite holding times."""
    if not np.isfinite(out["x"]).all():
        raise ComputationError("sample: a recorded state is not finite (the target's gradient overflowed); lower step_size")
    acc = out["accept"]
    if np.any((acc < 0) | (acc > 1)):
        raise ComputationError("sample: an acceptance statistic fell outside [0, 1]")
    if jump:
        tau = out["tau"]
        if not (np.isfinite(tau).all() and (tau >= 0).all()):
            raise ComputationError("sample: a holding time is negative or not finite")


def sample(
    target: BuiltinTarget | EnergyGrad | None = None,
    *,
    logdensity: EnergyGrad | None = None,
    method: Method = "nuts",
    n_samples: int = 1000,
    n_chains: int = 4,
    step_size: float | None = None,
    n_leapfrog: int = 10,
    beta: float | None = None,
    refresh_rate: float | None = None,
    look_ahead: int = 4,
    inverse_mass_matrix: npt.ArrayLike | None = None,
    warmup: int | None = None,
    target_accept: float = 0.8,
    adapt_step_size: bool = True,
    adapt_metric: bool = True,
    metric: Metric = "diag",
    pool_warmup: bool = False,
    save_warmup: bool = False,
    max_tree_depth: int = 10,
    jitter: float = 0.0,
    vectorized: bool = True,
    pad_batch: bool = False,
    x0: InitialPoint | None = None,
    dim: int | None = None,
    thin: int = 1,
    cache: bool = True,
    seed: int = 0,
    threads: int | None = None,
    progress: bool | None = None,
) -> Trace:
    """Sample a target with NUTS (the default), HMC, look-ahead HMC, continuous-time HMC or
    Markov-jump HMC.

    The defaults are what a Stan or PyMC user expects: NUTS, 4 chains, 1000 warm-up iterations
    (Stan's windowed adaptation of the step size and a diagonal metric, per chain), 1000 draws,
    full momentum refresh. A divergent transition (an energy error above 1000, or a NaN or
    infinite energy or gradient from the target) is rejected and counted
    (:attr:`Trace.diverging`), never an exception; a :class:`DivergenceWarning` at the end of a
    run reports them.

    Parameters
    ----------
    target : BuiltinTarget or callable, optional
        A built-in target (:class:`GaussianAniso`, :class:`RoughWell`, ...) evaluated in Rust, or a
        callable ``f(x) -> (energy, grad)`` taking a batch ``x`` of shape ``(n, dim)`` (float64)
        and returning energies ``E = −ln π`` of shape ``(n,)`` and gradients ``(n, dim)``. It is
        called once per leapfrog step for all chains that need that step (``n`` varies between
        calls unless ``pad_batch``). A NaN or infinite energy or gradient marks a point outside
        the support: the trajectory reaching it is divergent and rejected.
    logdensity : callable, optional
        Instead of ``target``: ``f(x) -> (log π, ∇ log π)`` for a batch; negated internally.
    method : {"nuts", "hmc", "lahmc", "ct_hmc", "mjhmc"}
        The sampler (default ``"nuts"``).
    n_samples : int
        Iterations recorded per chain (discrete samplers: draws, times ``thin``; jump samplers:
        jumps, see :meth:`Trace.on_grid`).
    n_chains : int
        Independent chains, run in parallel.
    step_size : float, optional
        Leapfrog step size; required unless ``warmup > 0`` (then the start of dual averaging,
        default 1 for nuts as in Stan, 0.1 for the others).
    n_leapfrog : int
        Leapfrog steps per trajectory ``M`` (not nuts).
    beta : float, optional
        Momentum corruption per iteration, ``p ← √(1−β) p + √β n``. Discrete samplers:
        ``0 < β ≤ 1``, default 1 (a full refresh, as Stan and BlackJAX). Jump samplers:
        ``0 < β < 1`` (default 0.1), converted to the refresh rate ``λ = −ln(1 − β)/2``.
    refresh_rate : float, optional
        Jump samplers only, instead of ``beta``: the rate ``λ ≥ 0`` of full momentum refreshes.
    look_ahead : int
        ``K``, the maximum number of look-ahead trajectories (lahmc).
    inverse_mass_matrix : array_like of shape (dim,) or (dim, dim), optional
        Diagonal or dense ``M⁻¹`` (default identity). The kinetic energy is ``pᵀ M⁻¹ p / 2``.
    warmup : int, optional
        Warm-up iterations before recording (default 1000 when ``step_size`` is not given, else
        0). nuts: Stan's windowed adaptation per chain (dual averaging of the step size towards
        ``target_accept`` on the mean acceptance over the trajectory, the metric from the
        variances or covariances of each slow window, regularised as Stan does, Stan's step-size
        heuristic after each metric update). Other samplers: dual averaging on
        ``min(1, e^{−ΔH})`` and a diagonal ``M⁻¹`` from windowed variances, pooled over chains.
    target_accept : float
        Target acceptance statistic of the warm-up, in (0, 1).
    adapt_step_size, adapt_metric : bool
        What the warm-up adapts.
    metric : {"diag", "dense"}
        nuts: adapt a diagonal or a dense inverse mass matrix.
    pool_warmup : bool
        nuts: give every chain the element-wise median of the chains' metric estimates at each
        window end and the median of their step sizes at the end (robust to a stuck chain),
        instead of adapting each chain on its own (the default, as Stan).
    save_warmup : bool
        nuts: keep the warm-up draws (:attr:`Trace.warmup_draws`; ArviZ warm-up groups).
    max_tree_depth : int
        nuts: at most ``2^max_tree_depth − 1`` leapfrog steps per draw (Stan: 10).
    jitter : float
        hmc and lahmc: draw each iteration's step size uniformly in ``ε (1 ± jitter)`` and its
        leapfrog steps uniformly in ``round(M (1 ± jitter))`` (the same for every chain; each
        iteration is an exact kernel, so the target stays invariant), so that a fixed path
        length cannot resonate with one coordinate. In ``[0, 1)``; 0 (the default) keeps the
        papers' fixed settings.
    vectorized : bool
        False: ``target`` / ``logdensity`` takes one point ``(dim,)`` and returns ``(value,
        grad)``; boltzkit calls it row by row, or through ``jax.vmap`` when it is a JAX-jitted
        function and JAX is installed.
    pad_batch : bool
        Call a callable target with a fixed number of rows (``n_chains``, twice that for
        mjhmc), padding with copies of a row, so that a jitted function compiles only once.
    x0 : array_like of shape (n_chains, dim) or (dim,), "exact", or None
        Starting points. ``"exact"``: independent exact draws (built-ins that have them). None:
        uniform on ``[−2, 2]^dim`` (Stan's default).
    dim : int, optional
        Dimension of a callable target when ``x0`` is None.
    thin : int
        Record every ``thin``-th iteration (discrete samplers).
    cache : bool
        Jump samplers: keep ``L z`` and ``L⁻¹ z`` between jumps (turning it off only costs
        gradients; for checks).
    seed : int
        Seed; chain ``c`` uses its own stream, so results do not depend on ``threads``, nor on
        how fast a callback runs: its batches follow a fixed schedule, so even a callback whose
        rows depend on the batch they come in (BLAS blocking) reproduces bit for bit.
    threads : int, optional
        Worker threads (default: :func:`boltzkit.get_num_threads`).
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    Trace

    Raises
    ------
    InvalidArgumentError, InvalidTypeError
        For a bad argument (the message names it), a start where the energy is not finite, or a
        callable returning the wrong shape or NaN.
    ComputationError
        When a jump sampler gets stuck (every rate zero).
    Exception
        Whatever a user callable raises, unchanged. ``KeyboardInterrupt`` stops the run within
        about a second and returns nothing.
    """
    if not isinstance(method, str):
        raise InvalidTypeError(f"method: expected one of {', '.join(METHODS)}, got {type(method).__name__}")
    if method not in METHODS:
        raise InvalidArgumentError(f"method: expected one of {', '.join(METHODS)}; got {method!r}")
    jump = method in JUMP_METHODS
    n_samples = _int("n_samples", n_samples, 1)
    n_chains = _int("n_chains", n_chains, 1, 1_000_000)
    n_leapfrog = _int("n_leapfrog", n_leapfrog, 1, 100_000)
    look_ahead = _int("look_ahead", look_ahead, 1, 64)
    nuts = method == "nuts"
    warmup = (DEFAULT_WARMUP if step_size is None else 0) if warmup is None else _int("warmup", warmup, 0)
    thin = _int("thin", thin, 1)
    max_tree_depth = _int("max_tree_depth", max_tree_depth, 1, 20)
    jit = as_float("jitter", jitter, 0.0, 1.0, hi_open=True)
    if jit > 0 and method not in ("hmc", "lahmc"):
        raise InvalidArgumentError(f"jitter: only for hmc and lahmc (fixed path lengths), got method {method!r}")
    pool_warmup = as_bool("pool_warmup", pool_warmup)
    save_warmup = as_bool("save_warmup", save_warmup)
    vectorized = as_bool("vectorized", vectorized)
    pad_batch = as_bool("pad_batch", pad_batch)
    if not isinstance(metric, str) or metric not in ("diag", "dense"):
        raise InvalidArgumentError(f"metric: expected 'diag' or 'dense', got {metric!r}")
    if not nuts and (metric == "dense" or pool_warmup or save_warmup):
        what = "metric" if metric == "dense" else "pool_warmup" if pool_warmup else "save_warmup"
        raise InvalidArgumentError(f"{what}: only for method='nuts' (the other samplers pool a diagonal warm-up over chains)")
    seed = as_seed(seed)
    threads = resolve_threads(threads)
    adapt_step_size = as_bool("adapt_step_size", adapt_step_size)
    adapt_metric = as_bool("adapt_metric", adapt_metric)
    cache = as_bool("cache", cache)
    if progress is not None:
        progress = as_bool("progress", progress)
    if jump and thin != 1:
        raise InvalidArgumentError(f"thin: jump samplers record every jump (use Trace.on_grid(dt)); got {thin}")
    if step_size is None:
        if warmup == 0 or not adapt_step_size:
            raise InvalidArgumentError("step_size: required unless warmup > 0 adapts it")
        eps = 1.0 if nuts else 0.1
    else:
        eps = _positive("step_size", step_size)
    ta = as_float("target_accept", target_accept, 0.0, 1.0, lo_open=True, hi_open=True)
    if jump:
        if beta is not None and refresh_rate is not None:
            raise InvalidArgumentError("refresh_rate: give beta or refresh_rate, not both")
        if refresh_rate is not None:
            lam = as_float("refresh_rate", refresh_rate, 0.0, 1e100)
        else:
            lam = refresh_rate_from_beta(0.1 if beta is None else beta)
        b = 0.1 if beta is None else _float("beta", beta)
    else:
        if refresh_rate is not None:
            raise InvalidArgumentError(f"refresh_rate: only for the jump samplers (ct_hmc, mjhmc); use beta with {method}")
        b = 1.0 if beta is None else as_float("beta", beta, 0.0, 1.0, lo_open=True)
        lam = 0.0
    # the target
    builtin: BuiltinTarget | None = None
    if logdensity is not None:
        if target is not None:
            raise InvalidArgumentError("logdensity: give target or logdensity, not both")
        if not callable(logdensity):
            raise InvalidTypeError(f"logdensity: expected a callable, got {type(logdensity).__name__}")
        fn: Callable[..., Any] = logdensity
        sign = -1.0
    elif isinstance(target, BuiltinTarget):
        builtin = target
    elif callable(target):
        fn, sign = target, 1.0
    elif target is None:
        raise InvalidArgumentError("target: give a target (built-in or callable) or logdensity=")
    else:
        raise InvalidTypeError(f"target: expected a built-in target or a callable, got {type(target).__name__}")
    d_known = builtin.ndim if builtin is not None else (None if dim is None else _dim(dim))
    if d_known is not None:
        _check_record_memory(n_chains, n_samples + 1, d_known, jump, look_ahead)
        if nuts:
            _check_tree_memory(n_chains, d_known, max_tree_depth)
    starts = _starts(x0, builtin, d_known, n_chains, seed)
    d = starts.shape[1]
    _check_record_memory(n_chains, n_samples + 1 + (warmup if save_warmup else 0), d, jump, look_ahead)
    if nuts:
        _check_tree_memory(n_chains, d, max_tree_depth)
    # a time bound before any work: gradients per chain (lahmc: up to look_ahead trajectories
    # per iteration) times chains
    per_iter = 2**max_tree_depth if nuts else n_leapfrog * (look_ahead if method == "lahmc" else 1)
    check_steps(
        "n_samples",
        n_chains * (n_samples * thin + warmup) * per_iter,
        f"{n_chains} chains x ({n_samples} x {thin} + {warmup} warm-up) iterations x {per_iter} gradients",
    )
    pad_to = n_chains * (2 if method == "mjhmc" else 1) if pad_batch else None
    core_target: Any = (
        builtin._native if builtin is not None else _wrap_callback(fn, sign, d, vectorized=vectorized, pad_to=pad_to)
    )
    minv: F64 | None = None
    if inverse_mass_matrix is not None:
        minv = _real_array("inverse_mass_matrix", inverse_mass_matrix)
        if minv.ndim not in (1, 2) or minv.shape not in ((d,), (d, d)):
            raise InvalidArgumentError(f"inverse_mass_matrix: expected shape ({d},) or ({d}, {d}), got {minv.shape}")
        if not np.all(np.isfinite(minv)):
            raise InvalidArgumentError("inverse_mass_matrix: every value must be finite")
        minv = np.ascontiguousarray(minv)
    if warmup > 0 and not adapt_step_size and not adapt_metric:
        warnings.warn(
            f"warmup: {warmup} warm-up iterations adapt nothing (adapt_step_size and adapt_metric are False); "
            "they only move the chains towards the typical set",
            stacklevel=2,
        )
    if nuts:
        tr = _sample_nuts(
            core_target, starts, eps, minv, max_tree_depth, seed, warmup, adapt_step_size, adapt_metric,
            metric == "dense", ta, pool_warmup, save_warmup, n_samples, thin, threads, progress,
        )  # fmt: skip
    else:
        tr = _sample_hmc(
            core_target, method, starts, eps, n_leapfrog, b, lam, look_ahead, cache, thin, minv, seed, warmup,
            adapt_step_size, adapt_metric, ta, n_samples, threads, progress, beta, refresh_rate, jit,
        )  # fmt: skip
    k = int(tr.divergences.sum())
    if k:
        warnings.warn(
            f"sample: {k} divergent transition{'s' if k > 1 else ''} after warm-up "
            f"(of {tr.records.shape[0] * tr.records.shape[1]} draws): the draws may be biased; "
            "increase target_accept or reparameterise",
            DivergenceWarning,
            stacklevel=2,
        )
    return tr


def _sample_hmc(
    core_target: Any, method: Method, starts: F64, eps: float, n_leapfrog: int, b: float, lam: float, look_ahead: int,
    cache: bool, thin: int, minv: F64 | None, seed: int, warmup: int, adapt_step_size: bool, adapt_metric: bool,
    ta: float, n_samples: int, threads: int | None, progress: bool | None, beta: float | None, refresh_rate: float | None,
    jitter: float = 0.0,
) -> Trace:  # fmt: skip
    jump = method in JUMP_METHODS
    run = _core.HmcRun(
        core_target, method, starts, eps, n_leapfrog, b if not jump else 0.5, lam, look_ahead, cache, thin, minv, seed
    )
    if jitter > 0:
        run.set_jitter(jitter, seed)
    run.init()
    timed = not isinstance(core_target, _Callback)
    t_warm = 0.0
    if warmup > 0:
        run.start_warmup(warmup, adapt_step_size, adapt_metric, ta)
        t_warm = _run_chunks(run, warmup, lambda k: run.warmup(k, threads), f"{method} warm-up", progress, timed)
    run.reserve(n_samples * thin)
    wall = _run_chunks(run, n_samples * thin, lambda k: run.run(k, threads), method, progress, timed)
    out = run.output()
    _check_output(out, jump)
    return Trace(
        method=method,
        records=out["x"],
        tau=out["tau"] if jump else None,
        moves=out["moves"],
        accept=out["accept"],
        energy=out["energy"],
        n_grad=out["grads"].astype(np.int64),
        n_grad_warmup=out["warmup_grads"].astype(np.int64),
        step_size=float(run.step_size),
        n_leapfrog=n_leapfrog,
        beta=None if jump and beta is None and refresh_rate is not None else b,
        refresh_rate=lam if jump else None,
        look_ahead=look_ahead if method == "lahmc" else 1,
        inverse_mass_matrix=np.asarray(run.inverse_mass_matrix),
        seed=seed,
        wall_time=wall,
        warmup_time=t_warm,
        hamiltonian=out["energy"] + out["kinetic"],
        diverging=np.asarray(out["diverging"], dtype=bool),
        step_sizes=np.full(starts.shape[0], float(run.step_size)),
    )


def _nuts_stats(out: dict[str, Any], thin: int) -> dict[str, npt.NDArray[Any]]:
    sl = slice(thin - 1, None, thin)
    return {
        "energy": np.asarray(out["hamiltonian"][:, sl], dtype=np.float64),
        "lp": -np.asarray(out["energy"][:, sl], dtype=np.float64),
        "diverging": np.asarray(out["diverging"][:, sl], dtype=bool),
        "acceptance_rate": np.asarray(out["accept"][:, sl], dtype=np.float64),
        "step_size": np.asarray(out["step_size"][:, sl], dtype=np.float64),
        "n_steps": np.asarray(out["n_steps"][:, sl], dtype=np.int64),
        "tree_depth": np.asarray(out["depth"][:, sl], dtype=np.int64),
    }


def _sample_nuts(
    core_target: Any, starts: F64, eps: float, minv: F64 | None, max_depth: int, seed: int, warmup: int,
    adapt_step_size: bool, adapt_metric: bool, dense: bool, ta: float, pooled: bool, save: bool, n_samples: int,
    thin: int, threads: int | None, progress: bool | None,
) -> Trace:  # fmt: skip
    if dense and minv is not None and minv.ndim == 1 and adapt_metric and warmup > 0:
        minv = np.ascontiguousarray(np.diag(minv))
    if dense and minv is None:
        minv = np.ascontiguousarray(np.eye(starts.shape[1]))
    if adapt_metric and warmup > 0 and minv is not None and (minv.ndim == 2) != dense:
        raise InvalidArgumentError(
            "inverse_mass_matrix: give a diagonal (dim,) matrix with metric='diag', a dense one with metric='dense'"
        )
    run = _core.NutsRun(core_target, starts, eps, minv, max_depth, 1000.0, seed)
    run.init()
    timed = not isinstance(core_target, _Callback)
    t_warm = 0.0
    if warmup > 0:
        run.start_warmup(warmup, adapt_step_size, adapt_metric, dense, ta, pooled, save)
        t_warm = _run_chunks(run, warmup, lambda k: run.warmup(k, threads), "nuts warm-up", progress, timed)
    total = n_samples * thin
    run.reserve(total)
    wall = _run_chunks(run, total, lambda k: run.run(k, threads), "nuts", progress, timed)
    out = run.output(False)
    if not np.isfinite(out["x"]).all():  # pragma: no cover - divergent states are never kept
        raise ComputationError("sample: a recorded state is not finite")
    if np.any((out["accept"] < 0) | (out["accept"] > 1)):  # pragma: no cover - an invariant
        raise ComputationError("sample: an acceptance statistic fell outside [0, 1]")
    st = _nuts_stats(out, thin)
    sl = slice(thin - 1, None, thin)
    wdraws, wstats = None, None
    if save and warmup > 0:
        w = run.output(True)
        wdraws, wstats = np.asarray(w["x"]), _nuts_stats(w, 1)
    c = starts.shape[0]
    steps = np.asarray(run.step_sizes, dtype=np.float64)
    minvs = np.stack([np.asarray(run.inverse_mass_matrix(i)) for i in range(c)])
    return Trace(
        method="nuts",
        records=np.ascontiguousarray(out["x"][:, sl]),
        tau=None,
        moves=np.asarray(np.minimum(st["tree_depth"], 255), dtype=np.uint8),
        accept=st["acceptance_rate"],
        energy=-st["lp"],
        n_grad=out["grads"].astype(np.int64),
        n_grad_warmup=out["warmup_grads"].astype(np.int64),
        step_size=float(np.median(steps)),
        n_leapfrog=0,
        beta=1.0,
        refresh_rate=None,
        look_ahead=1,
        inverse_mass_matrix=minvs,
        seed=seed,
        wall_time=wall,
        warmup_time=t_warm,
        hamiltonian=st["energy"],
        diverging=st["diverging"],
        tree_depth=st["tree_depth"],
        n_steps=st["n_steps"],
        step_sizes=steps,
        warmup_draws=wdraws,
        warmup_stats=wstats,
    )
