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
    also the full third cumulant (an own leading-order activation rule, kept for old callers; the
    paper's K = 3 is ``estimate("kprop", k_max=3)``); cost ~ n⁴ per layer.
``kprop`` (``k_max`` K, ``kind`` simple / augment, ``avg_metric``)
    the paper's cumulant propagation, equal to its reference code (K = 1, 2, 3, both kinds; K = 4
    not yet).

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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

import numpy as np
import numpy.typing as npt
from scipy import special

from boltzkit import _core
from boltzkit._progress import Report, counter, want_progress
from boltzkit._threads import resolve_threads
from boltzkit._typing import RealArray
from boltzkit._validate import I64_MAX, U64_MAX, as_bool, as_float, as_int, check_bytes, check_steps
from boltzkit.errors import ComputationError, InvalidArgumentError, InvalidTypeError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "ACTIVATIONS",
    "KPROP_GRADIENT",
    "KPROP_IMPLEMENTED",
    "MLP",
    "Activation",
    "Comparison",
    "ComparisonRow",
    "Estimate",
    "EstimateDiagnostics",
    "EstimateMethod",
    "Gradient",
    "GradientMethod",
    "InitScheme",
    "KpropDiagnostics",
    "KpropKind",
    "MonteCarlo",
    "RealArray",
    "SplittingDetails",
    "TailMethod",
    "TailProbability",
    "compare_equal_flops",
    "gauss_moments",
    "mean_field",
    "plot_mse_vs_flops",
    "random_mlp",
    "speedup_text",
]

F64 = npt.NDArray[np.float64]
#: A hidden layer's activation (``heaviside`` and ``square`` are for tests / tails).
Activation = Literal["relu", "gelu", "erf", "tanh", "identity", "heaviside", "square"]
#: ``method=`` of :meth:`MLP.estimate`.
EstimateMethod = Literal["mean_prop", "cov_prop", "cumulant3", "kprop"]
#: ``kind=`` of ``MLP.estimate("kprop")``.
KpropKind = Literal["simple", "augment"]
#: ``method=`` of :meth:`MLP.gradient` and :meth:`MLP.tail_gradient`.
GradientMethod = Literal["mean_prop", "cov_prop", "kprop"]
#: ``method=`` of :meth:`MLP.tail_probability`.
TailMethod = Literal["gauss", "edgeworth", "mc", "is", "splitting"]
#: ``init=`` of :func:`random_mlp`.
InitScheme = Literal["he", "critical", "manual"]
#: Activations accepted for hidden layers (``heaviside`` and ``square`` are for tests / tails).
ACTIVATIONS: tuple[Activation, ...] = ("relu", "gelu", "erf", "tanh", "identity", "heaviside", "square")
_METHODS = ("mean_prop", "cov_prop", "cumulant3", "kprop")
#: ``(k_max, kind)`` pairs of ``estimate("kprop")`` implemented so far (equal to the paper's reference code).
KPROP_IMPLEMENTED = (
    (1, "simple"),
    (1, "augment"),
    (2, "simple"),
    (2, "augment"),
    (3, "simple"),
    (3, "augment"),
    (4, "simple"),
    (4, "augment"),
)
#: ``(k_max, kind)`` pairs of ``gradient(method="kprop")`` / ``tail_gradient(method="kprop")``.
KPROP_GRADIENT = ((2, "simple"), (2, "augment"))
_C_ACT = {"identity": 0.0, "relu": 1.0, "heaviside": 1.0, "square": 1.0, "gelu": 20.0, "erf": 20.0, "tanh": 20.0}


# --------------------------------------------------------------------------- helpers
def _int(name: str, v: object, lo: int = 0, hi: int = I64_MAX) -> int:
    return as_int(name, v, lo, hi)


def _float(name: str, v: object, lo: float | None = None, hi: float | None = None) -> float:
    return as_float(name, v, lo, hi)


def _method(name: str, v: object, choices: Sequence[str]) -> str:
    if not isinstance(v, str) or v not in choices:
        shown = repr(v) if isinstance(v, str) else type(v).__name__
        raise InvalidArgumentError(f"{name}: expected one of {', '.join(choices)}, got {shown}")
    return v


def _array(name: str, x: object, ndim: int | tuple[int, ...]) -> F64:
    if isinstance(x, (str, bytes)) or x is None or isinstance(x, dict):
        raise InvalidTypeError(f"{name}: expected an array of numbers, got {type(x).__name__}")
    try:
        a = np.asarray(x)
    except (TypeError, ValueError, OverflowError):
        raise InvalidTypeError(f"{name}: expected an array of numbers") from None
    if a.dtype.kind not in "biuf" or (a.dtype.kind == "f" and a.dtype.itemsize > 8):
        raise InvalidTypeError(f"{name}: expected a real numeric array, got dtype {a.dtype}")
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise InvalidArgumentError(f"{name}: expected a {want} array, got shape {a.shape}")
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


#: The range of each activation's values (the mean of an activation lies in it).
_ACT_RANGE: dict[str, tuple[float, float]] = {
    "relu": (0.0, math.inf),
    "gelu": (-0.17, math.inf),  # min_x x Φ(x) = -0.16997…
    "erf": (-1.0, 1.0),
    "tanh": (-1.0, 1.0),
    "identity": (-math.inf, math.inf),
    "heaviside": (0.0, 1.0),
    "square": (0.0, math.inf),
}


def _range_problem(r: dict[str, Any], acts: Sequence[str], weights: Sequence[Any] = ()) -> str | None:
    """What no distribution allows (an estimate that has diverged), or None: an activation mean
    outside its activation's range; for a bounded activation a variance above Popoviciu's bound
    ``(hi - lo)² / 4``; with ``weights``, a pre-activation variance above the Cauchy–Schwarz bound
    ``(Σ_j |W_ij| sd_j)²`` of the previous layer's activation standard deviations."""
    # ndarray methods rather than np.min / np.max: these checks run on every estimate, and the
    # function wrappers cost more than the reductions on small layers
    for layer, act in enumerate(acts):
        lo, hi = _ACT_RANGE[act]
        a = np.asarray(r["post_mean"][layer])
        if not a.size:
            continue
        amin, amax = float(np.minimum.reduce(a)), float(np.maximum.reduce(a))
        tol = 1e-9 * max(1.0, abs(amin), abs(amax))
        if amin < lo - tol or amax > hi + tol:
            bad = float(a[np.argmax(np.maximum(lo - a, a - hi))])
            return f"an activation mean ({bad:.3g}) outside {act}'s range [{lo:g}, {hi:g}] in post_mean of layer {layer}"
        v = np.asarray(r["post_var"][layer])
        cap = (hi - lo) ** 2 / 4.0
        if v.size and math.isfinite(cap) and float(np.maximum.reduce(v)) > cap * (1.0 + 1e-9):
            return (
                f"an activation variance ({float(v.max()):.3g}) above {act}'s bound {cap:g} ((hi - lo)² / 4) "
                f"in post_var of layer {layer}"
            )
    for layer in range(1, min(len(weights), len(r["pre_var"]))):
        pv = np.asarray(r["post_var"][layer - 1], dtype=np.float64)
        if pv.size and float(np.minimum.reduce(pv)) < 0.0:
            continue  # a negative variance: reported as such by the caller
        sd = np.sqrt(pv)
        bound = (np.abs(np.asarray(weights[layer], dtype=np.float64)) @ sd) ** 2
        v = np.asarray(r["pre_var"][layer], dtype=np.float64)
        over = v - bound * (1.0 + 1e-6) - 1e-300
        if v.size and float(np.maximum.reduce(over)) > 0.0:
            i = int(np.argmax(over))
            return (
                f"a pre-activation variance ({v[i]:.4g}) above the bound (Σ_j |W_ij| sd_j)² = {bound[i]:.4g} "
                f"that the activations' own variances allow, in pre_var of layer {layer}"
            )
    return None


def _estimate_problem(r: dict[str, Any], acts: Sequence[str] = (), weights: Sequence[Any] = ()) -> str | None:
    """What is wrong with a raw core estimate (a non-finite number, a mean or variance that no
    distribution allows: :func:`_range_problem`, a negative variance), or None."""
    keys = ("pre_mean", "post_mean", "pre_var", "post_var", "pre_cov", "pre_kappa3")
    # a sum is finite only if every term is (inf and nan propagate; a finite sum can overflow to
    # inf, which only sends us to the exact check): the vectors in one sum (these checks run on
    # every estimate: per-array calls cost more than the sums on small layers), each covariance
    # in its own
    vecs = [np.ravel(a) for key in keys if key != "pre_cov" for a in r[key]]
    sums = [float(np.add.reduce(np.concatenate(vecs)))] if vecs else []
    sums += [float(np.add.reduce(a, axis=None)) for a in r["pre_cov"]]
    if not all(math.isfinite(x) for x in sums):
        for key in keys:
            for layer, a in enumerate(r[key]):
                if not np.isfinite(a).all():
                    return f"a non-finite value in {key} of layer {layer}"
    out_of_range = _range_problem(r, acts, weights)
    if out_of_range is not None:
        return out_of_range
    for key in ("pre_var", "post_var"):
        for layer, arr in enumerate(r[key]):
            a = np.asarray(arr)
            lo = float(np.minimum.reduce(a, axis=None)) if a.size else 0.0
            if lo < 0.0:
                return f"a negative variance ({lo:.3g}) in {key} of layer {layer}"
    return None


def _clamp_diag(c: Any) -> Any:
    """A covariance with its negative diagonal entries set to 0 (None passes through)."""
    if c is None:
        return c
    c = np.array(c, dtype=np.float64)
    d = np.einsum("ii->i", c)
    d[d < 0] = 0.0
    return c


def _cap_shift(a: F64) -> F64:
    """An importance-sampling shift of norm at most 40 (beyond, every shifted sample has weight below
    e^-800 and the defensive mixture's unshifted samples carry the estimate anyway)."""
    with np.errstate(all="ignore"):
        norm = float(np.linalg.norm(a))
    if not math.isfinite(norm):
        return np.zeros_like(a)
    return a * (40.0 / norm) if norm > 40.0 else a


def _prob(p: Any) -> F64:
    """Probabilities checked before they are returned: finite and in [0, 1]."""
    a = np.asarray(p, dtype=np.float64)
    if not np.all(np.isfinite(a)) or np.any(a < 0.0) or np.any(a > 1.0):
        raise ComputationError(f"tail_probability: the estimate left [0, 1] or was not finite ({a})")
    return a


def _overflow(name: str, arrays: Sequence[F64]) -> None:
    """A named error when a sampled statistic overflowed float64 (weights too large)."""
    for a in arrays:
        if not np.all(np.isfinite(a)):
            raise InvalidArgumentError(
                f"{name}: the values are too large: the forward pass overflowed float64 (non-finite sums); rescale the weights"
            )


# --------------------------------------------------------------------------- results
class KpropDiagnostics(TypedDict):
    """``Estimate.diagnostics["kprop"]``: the options of a ``kprop`` estimate."""

    k_max: int
    kind: KpropKind
    avg_metric: bool
    factor: bool
    #: the ``w_var`` per linear layer used for ``avg_metric`` (None when it was not needed)
    init_scale: list[float] | None


class EstimateDiagnostics(TypedDict):
    """:attr:`Estimate.diagnostics`."""

    #: False when the method gave a negative or non-finite variance or a mean or variance no
    #: distribution allows (see :meth:`MLP.estimate`): a lower-order estimate was returned
    #: (``fallback``), or, for ``kprop`` with a negative variance, its own means with the negative
    #: variances set to 0 (``fallback`` None, ``problem`` says how many)
    reliable: bool
    #: that lower-order estimate: ``"cov_prop:2"``, ``"cov_prop:1"`` or ``"mean_prop"`` (None when reliable
    #: or when a ``kprop`` estimate kept its means)
    fallback: str | None
    #: what was wrong with the method's own estimate (only when not reliable)
    problem: NotRequired[str]
    #: the options of a ``kprop`` estimate (only for ``method="kprop"``)
    kprop: NotRequired[KpropDiagnostics]
    #: variances raised to 1e-10
    variance_clamps: int
    #: Gauss–Hermite nodes of the 1-D expectations
    gh_nodes: int
    seconds: float


class SplittingDetails(TypedDict, total=False):
    """:attr:`TailProbability.details` of ``method="splitting"`` (empty for the other methods)."""

    #: the levels ``γ_1 < … < γ_T = t`` fixed by the pilot run
    levels: list[float]
    #: the per-replicate estimates
    replicates: F64
    #: how many replicates reached the threshold
    nonzero: int
    forward_passes: int
    #: the pilot run's estimate
    pilot_p: float
    #: the population exceeded its cap (the estimate is then unreliable)
    capped: bool
    n_per_level: int


class ComparisonRow(TypedDict):
    """One entry of :attr:`Comparison.rows`."""

    method: str
    mse: float
    mse_raw: float
    mse_over_var: float
    flops: float
    mc_mse_equal_flops: float
    speedup: float
    #: the MSE is within 10x of the truth's own noise floor
    truth_limited: bool
    #: when truth_limited, the speedup that the raw MSE (truth noise included) guarantees; else None
    speedup_lower_bound: float | None


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
        FLOPs of the work each layer did, counted as the paper counts them (a product of an
        ``m × k`` and a ``k × n`` matrix is ``2 m k n``). Work whose result nothing reads is not
        done and not counted: kprop's last hidden layer computes only the mean, covariance and
        third cumulant the output layer reads, not its higher cumulants.
    diagnostics : dict
        ``variance_clamps`` (variances raised to 1e-10), ``gh_nodes``, ``seconds``; ``reliable``
        (False when the method gave a negative or non-finite variance and the lower-order estimate
        named in ``fallback`` — ``cov_prop:2``, ``cov_prop:1`` or ``mean_prop``, the first without
        that problem — is returned instead, with a ``RuntimeWarning``; ``problem`` says what was
        wrong).
    """

    method: EstimateMethod
    means: list[F64]
    variances: list[F64]
    act_means: list[F64]
    act_variances: list[F64]
    cov: list[F64]
    kappa3: list[F64]
    flops_by_layer: list[float]
    diagnostics: EstimateDiagnostics

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
    method: TailMethod
    flops: float
    stderr: F64 | None = None
    raw: F64 | None = None
    hits: npt.NDArray[np.uint64] | None = None
    neurons: npt.NDArray[np.int64] | None = None
    #: ``mc`` / ``is``: effective number of hits, the Kish ESS ``(Σ w 1{hit})² / Σ w² 1{hit}`` of the
    #: importance weights of the samples above the threshold (the hit count for plain MC); the
    #: relative standard error is about ``1/√ess``. ``splitting``: ``(p / stderr)²``, the number of
    #: plain-MC hits with the same relative error.
    ess: F64 | None = None
    #: False when the estimate cannot be trusted: ``is`` or ``splitting`` with fewer than 50 effective
    #: hits (``splitting`` also with fewer than 8 of 16 replicates reaching the threshold; ``is``: weight
    #: degeneracy, a few samples carry all the weight, the standard error is itself unreliable), or a
    #: deterministic estimate that fell back to a lower order. A ``RuntimeWarning`` is issued too.
    reliable: bool = True
    #: ``splitting``: ``levels``, per-replicate estimates ``replicates``, ``nonzero`` replicates,
    #: ``forward_passes``, the pilot's estimate ``pilot_p``, ``n_per_level``, ``capped``.
    details: SplittingDetails = field(default_factory=SplittingDetails)

    def log_error(self, truth: F64 | float) -> F64:
        """``|log P_est − log P_true|`` (the relative-error metric for rare events); ``inf`` where
        exactly one of the two is 0, ``nan`` where both are."""
        t = _array("truth", np.atleast_1d(truth) if isinstance(truth, (numbers.Real, np.ndarray)) else truth, (1, 2))
        if np.any(t < 0) or np.any(t > 1):
            raise InvalidArgumentError("truth: probabilities must be between 0 and 1")
        if t.shape != self.p.shape and t.size != 1:
            raise InvalidArgumentError(f"truth: expected shape {self.p.shape} or a scalar, got {t.shape}")
        if np.ndim(truth) == 0:
            t = t.reshape(())
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

    Notes
    -----
    The Rust core reads ``weights`` and ``biases`` in place on every call (no copy, no cache), with
    the GIL released: a change made to them between calls is used by the next call (and checked:
    NaN/inf raise ``InvalidArgumentError``), but writing to them from another thread *during* a call
    is a data race, as with numpy's own kernels. Use :meth:`replace` for a modified copy.
    """

    def __init__(
        self,
        weights: Sequence[RealArray],
        biases: Sequence[RealArray | None] | None = None,
        activations: Sequence[Activation] | None = None,
        input_mean: RealArray | None = None,
        input_cov: RealArray | None = None,
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
            if isinstance(biases, (str, bytes, np.ndarray)) or not isinstance(biases, Sequence):
                raise InvalidTypeError(f"biases: expected a list of {depth} 1-D arrays or None, got {type(biases).__name__}")
            if len(biases) != depth:
                raise InvalidArgumentError(f"biases: expected {depth} entries, got {len(biases)}")
            bs = [
                np.zeros(w.shape[0]) if b is None else _array(f"biases[{i}]", b, 1)
                for i, (w, b) in enumerate(zip(ws, biases, strict=True))
            ]
        for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
            if b.shape[0] != w.shape[0]:
                raise InvalidArgumentError(f"biases[{i}]: expected length {w.shape[0]}, got {b.shape[0]}")
        if activations is not None and (isinstance(activations, (str, bytes)) or not isinstance(activations, Sequence)):
            raise InvalidTypeError(f"activations: expected a list of names, got {type(activations).__name__}")
        acts: list[Activation] = ["relu"] * (depth - 1) if activations is None else list(activations)
        if len(acts) != depth - 1:
            raise InvalidArgumentError(f"activations: expected {depth - 1} names (the last layer is linear), got {len(acts)}")
        for a in acts:
            if not isinstance(a, str) or a not in ACTIVATIONS:
                shown = repr(a) if isinstance(a, str) else type(a).__name__
                raise InvalidArgumentError(f"activations: unknown activation {shown}; expected one of {', '.join(ACTIVATIONS)}")
        n0 = ws[0].shape[1]
        mean = np.zeros(n0) if input_mean is None else _array("input_mean", input_mean, 1)
        if mean.shape[0] != n0:
            raise InvalidArgumentError(f"input_mean: expected length {n0}, got {mean.shape[0]}")
        if input_cov is None:
            cov = np.ones(n0)
        else:
            cov = _array("input_cov", input_cov, (1, 2))
            if cov.shape not in ((n0,), (n0, n0)):
                raise InvalidArgumentError(f"input_cov: expected shape ({n0},) or ({n0}, {n0}), got {cov.shape}")
        self.weights: list[F64] = ws
        self.biases: list[F64] = bs
        self.activations: list[Activation] = acts
        self.input_mean: F64 = mean
        self.input_cov: F64 = cov
        #: ``w_var`` of every linear layer (``W_ij ~ N(0, w_var / fan_in)``), set by :func:`random_mlp`;
        #: used by ``estimate("kprop", avg_metric=True)`` (``None``: the mean of the squared row norms).
        self.init_scale: list[float] | None = None
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
        acts: list[str] = list(self.activations)
        return (self.weights, self.biases, acts, self.input_mean, self.input_cov)

    def _layer(self, layer: int) -> int:
        layer = _int("layer", layer, -self.depth, self.depth - 1)
        return layer % self.depth

    def replace(self, weights: Sequence[RealArray] | None = None, biases: Sequence[RealArray | None] | None = None) -> MLP:
        """A copy with new weights and/or biases (same activations, input and ``init_scale``)."""
        out = MLP(
            self.weights if weights is None else weights,
            self.biases if biases is None else biases,
            self.activations,
            self.input_mean,
            self.input_cov,
        )
        out.init_scale = None if self.init_scale is None else list(self.init_scale)
        return out

    def _check_estimate_size(self, method: str, order: int, keep_cov: bool) -> None:
        w = self.widths
        wmax = max(w)
        if method == "cumulant3" and wmax > 256:
            raise InvalidArgumentError(f"method: cumulant3 needs every width at most 256 (n^3 third cumulants), got width {wmax}")
        if method in ("mean_prop", "kprop1"):
            return
        if method == "kprop2_augment":
            method = "cov_prop"
        if method == "kprop4_simple":
            # the fourth cumulant in factored form: rank ~2n per layer, n^2 numbers per rank
            if wmax > 256:
                raise InvalidArgumentError(
                    f"k_max: kprop with k_max=4, kind='simple' needs every width at most 256, got width {wmax}"
                )
            rank = 2 * wmax * self.depth
            check_bytes("weights", 8 * (2 * wmax * wmax * rank + 5 * wmax**3), f"kprop k_max=4 on widths up to {wmax}")
            check_steps("weights", sum(10 * w[i + 1] ** 3 * rank for i in range(self.depth)), f"kprop k_max=4 on widths {w}")
            return
        if method.startswith("kprop4_"):
            if wmax > 128:
                raise InvalidArgumentError(
                    f"k_max: kprop with k_max=4, kind='augment' needs every width at most 128 (n^4 fourth "
                    f"cumulants), got width {wmax}"
                )
            check_bytes("weights", 8 * (6 * wmax * wmax + 4 * wmax**4), f"kprop k_max=4 on widths up to {wmax}")
            return
        if method == "kprop3_simple":
            # the third cumulant in factored form: rank ~2n per layer, O(n^2 rank) per layer
            if wmax > 1024:
                raise InvalidArgumentError(
                    f"k_max: kprop with k_max=3, kind='simple' needs every width at most 1024, got width {wmax}"
                )
            rank = 2 * wmax * self.depth
            check_bytes("weights", 8 * (9 * wmax * rank + 12 * wmax * wmax), f"kprop k_max=3 on widths up to {wmax}")
            check_steps("weights", sum(20 * w[i + 1] ** 2 * rank for i in range(self.depth)), f"kprop k_max=3 on widths {w}")
            return
        if method.startswith("kprop3_"):
            if wmax > 256:
                raise InvalidArgumentError(
                    f"k_max: kprop with k_max=3, kind='augment' needs every width at most 256 (n^3 work per "
                    f"activation), got width {wmax}"
                )
            method = "cumulant3"
        cubes = 3 * wmax**3 if method == "cumulant3" else 0
        nbytes = 8 * (6 * wmax * wmax + cubes + (sum(n * n for n in w[1:]) if keep_cov else 0))
        check_bytes("weights", nbytes, f"{method} on widths up to {wmax}")
        steps = sum(2 * w[i + 1] * w[i] * (w[i + 1] + w[i]) + 100 * order * w[i + 1] ** 2 for i in range(self.depth))
        if method == "cumulant3":
            steps += sum(4 * w[i + 1] ** 4 for i in range(self.depth))
        check_steps("weights", steps, f"{method} on widths {w}")

    # ---- exact forward pass (numpy)
    def forward(self, x: RealArray, layer: int = -1) -> F64:
        """Pre-activations of ``layer`` for inputs ``x`` of shape (n_samples, n_0) (numpy)."""
        h = _array("x", x, 2)
        if h.shape[1] != self.widths[0]:
            raise InvalidArgumentError(f"x: expected shape (n_samples, {self.widths[0]}), got {h.shape}")
        last = self._layer(layer)
        check_bytes("x", 8 * h.shape[0] * 3 * max(self.widths), f"{h.shape[0]} rows of width {max(self.widths)}")
        for i in range(last + 1):
            z = h @ self.weights[i].T + self.biases[i]
            if i == last:
                return np.asarray(z)
            h = _act_np(self.activations[i], z)
        raise AssertionError("unreachable")

    def _init_scale(self) -> list[float]:
        if self.init_scale is not None:
            if len(self.init_scale) != self.depth:
                raise InvalidArgumentError(
                    f"init_scale: expected {self.depth} values (one per linear layer), got {len(self.init_scale)}"
                )
            return [_float(f"init_scale[{i}]", v, 0.0) for i, v in enumerate(self.init_scale)]
        return [float(np.mean(np.sum(w * w, axis=1))) for w in self.weights]

    # ---- estimators
    def estimate(
        self,
        method: EstimateMethod = "cov_prop",
        mehler_order: int = 1,
        keep_cov: bool = False,
        threads: int | None = None,
        k_max: int = 2,
        kind: KpropKind = "simple",
        avg_metric: bool = False,
        factor: bool = False,
    ) -> Estimate:
        """Deterministic estimate of every layer's means and variances.

        Parameters
        ----------
        method : {"mean_prop", "cov_prop", "cumulant3", "kprop"}
            ``kprop`` is the paper's cumulant propagation with the options of its reference code
            (``mlp_kprop(mlp, K_in, k_max, kind, use_avg_metric, factor)``, input cumulants
            ``{1: input_mean, 2: input_cov}``); see ``k_max``, ``kind``, ``avg_metric``, ``factor``.
            Implemented: :data:`KPROP_IMPLEMENTED` (``k_max`` 1 to 4 with either kind, and the factored
            term sets of ``k_max`` 3 and 4). ``cumulant3`` is an older, own K = 3 rule (not the
            paper's term selection; kept for old callers): prefer ``kprop`` with ``k_max=3``.
        mehler_order : int
            Order M of the Mehler series for the off-diagonal covariance (1..40; 1 = basic;
            ``cov_prop`` / ``cumulant3``).
        keep_cov : bool
            Keep every layer's pre-activation covariance (``cov_prop`` / ``cumulant3`` /
            ``kprop`` with ``k_max=2``).
        threads : int or None
        k_max : int
            ``kprop`` only: the budget ``K``, the highest cumulant degree tracked in full (error
            ``O(n^-K)``). ``K = 1``: the mean and one isotropic covariance ``s I`` per layer (the
            input covariance enters through its trace ``tr Σ / n₀`` only); ``K = 2``: the mean and
            the full covariance (``simple`` equals ``cov_prop`` with ``mehler_order=1``;
            ``augment`` adds the third cumulant's one-trace part ``Sym(a ⊗ I)`` and the fourth's
            pure trace ``c Sym(I ⊗ I)``); ``K = 3``: also the full third cumulant and the fourth's
            pure trace (``simple``, widths ≤ 1024: the third cumulant is kept in the reference's
            factored form ``Sym(Σ_r a_r ⊗ b_r ⊗ c_r)``, rank ``~2n`` more per layer, cost
            ``~n³ × depth`` per layer) or its one-trace part ``Sym(A ⊗ I)`` with an ``n × n`` core
            ``A`` (``augment``, widths ≤ 256, which also sums the diagrams of cost 3: the third
            cumulant dense, ``n³`` numbers and ``~n⁴`` per layer; with ``factor=True`` factored
            as ``simple``); ``K = 4``: the first four cumulants in full (``simple``, widths ≤ 256:
            the fourth cumulant kept in the reference's factored form ``Sym(Σ_r A_r ⊗ B_r)`` with
            rank-2 ``A_r``, rank ``2n`` more per layer, ``n²`` numbers per unit of rank, cost
            ``~10 n³ × rank`` per layer), plus the fifth cumulant's one-trace part ``Sym(A ⊗ I)``
            with an order-3 core and the sixth's pure trace (``augment``, widths ≤ 128, diagrams up
            to cost 4: the fourth cumulant dense, ``n⁴`` numbers, ``~5 n⁵`` per layer).
            ``Estimate.kappa3`` holds the tracked third cumulants ``κ3_iii`` of the
            pre-activations (the trace part's diagonal for ``K = 2`` augment).
        kind : {"simple", "augment"}
            ``kprop`` only. ``simple``: degrees ``≤ K`` in full and degree ``K + 1`` as its
            pure-trace part when ``K + 1`` is even; the activation step sums the Wick diagrams of
            power-counting cost ``≤ K − 1``. ``augment``: also degree ``K + 1`` with one trace
            factor and ``K + 2`` as pure trace, and diagrams up to cost ``K`` (one order more).
            At ``K = 1`` both kinds track the same pieces and sum the same diagrams.
        avg_metric : bool
            ``kprop`` only: the metric of the trace parts after a linear layer is the average
            ``E[W Wᵀ] = w_var_l I`` (:attr:`init_scale`; when ``None``, the mean squared row norm
            of ``W_l``) instead of the exact ``W Wᵀ``. Only used when a trace part is tracked
            (``K = 1``, ``K = 2`` augment, ``K = 3``, ``K = 4`` augment); ignored otherwise, as in
            the reference.
        factor : bool
            ``kprop`` only: the reference's factored top-degree cumulant for ``K = 3, 4``
            (``factored_keeps_term``). At ``K ≤ 2`` and with ``simple`` it has no effect on the
            numbers (the reference's factored SIMPLE keeps every term). With ``augment`` it drops
            the augmented diagrams that do not factor: in the all-distinct slice of degree ``K``
            only hypertree diagrams are kept, and elsewhere no diagram that multiplies the
            all-distinct degree-``K`` block with another block; a slightly different estimate
            (the reference's). ``K = 3`` keeps the third cumulant factored as the reference does
            (for ``simple`` whatever ``factor`` is: the same numbers); so does ``K = 4`` with
            ``simple``; ``K = 4`` with ``augment`` evaluates the factored term set densely (``n⁴``).

        Returns
        -------
        Estimate
            For ``kprop``, ``diagnostics["kprop"]`` holds ``k_max``, ``kind``, ``avg_metric``,
            ``factor`` and the ``init_scale`` used. A method that gives a negative or non-finite
            variance, or numbers no distribution allows (an activation mean outside the
            activation's range; for tanh, erf and heaviside an activation variance above
            ``(hi - lo)² / 4``; a pre-activation variance above ``(Σ_j |W_ij| sd_j)²`` of the
            previous layer's activation standard deviations), returns the next
            lower-order estimate (``diagnostics["fallback"]``,
            ``reliable=False``, a ``RuntimeWarning``), except ``kprop`` with a negative variance:
            it keeps its own means (the reference code's numbers; on such nets they were measured
            closer to the truth than any fallback) and sets the negative variances to 0, flagged
            (``reliable=False``, ``fallback=None``, ``problem``) and warned.

        Raises
        ------
        InvalidArgumentError
            Unknown method, bad order, ``cumulant3`` or kprop ``k_max=3`` augment above width 256
            (``simple``: 1024), kprop
            ``k_max=4`` augment above width 128 (``simple``: 256), ``k_max`` outside 1..4, bad ``kind``.
        """
        method = _method("method", method, _METHODS)  # type: ignore[assignment]
        order = _int("mehler_order", mehler_order, 1, 40)
        keep = as_bool("keep_cov", keep_cov)
        k = _int("k_max", k_max, 1, 4)
        kind = _method("kind", kind, ("simple", "augment"))  # type: ignore[assignment]
        avg = as_bool("avg_metric", avg_metric)
        fac = as_bool("factor", factor)
        nthreads = resolve_threads(threads)
        core_method: str = method
        scale: list[float] | None = None
        kdiag: KpropDiagnostics | None = None
        if method == "kprop":
            if (k, kind) not in KPROP_IMPLEMENTED:
                raise InvalidArgumentError(
                    f"k_max: kprop is implemented for (k_max, kind) in {list(KPROP_IMPLEMENTED)}, got ({k}, {kind!r})"
                )
            if k == 1 or kind == "augment" or k >= 3:
                core_method = {1: "kprop1", 2: "kprop2_augment", 3: f"kprop3_{kind}", 4: f"kprop4_{kind}"}[k]
                if fac and k >= 3 and kind == "augment":
                    core_method += "_factor"
                # the metric is read only by trace parts (K = 4 simple tracks none)
                if avg and core_method != "kprop4_simple":
                    scale = self._init_scale()
            else:
                core_method, order = "cov_prop", 1
            kdiag = {"k_max": k, "kind": kind, "avg_metric": avg, "factor": fac, "init_scale": scale}
        self._check_estimate_size(core_method, order, keep)
        t0 = time.perf_counter()
        diag: EstimateDiagnostics = {"reliable": True, "fallback": None, "variance_clamps": 0, "gh_nodes": 100, "seconds": 0.0}
        if kdiag is not None:
            diag["kprop"] = kdiag
        r = _core.mlp_estimate(self._tuple(), core_method, order, keep, nthreads, scale)
        bad = _estimate_problem(r, self.activations, self.weights)
        if bad is not None and method == "kprop" and "negative variance" in bad:
            # kprop: keep its means (what the reference code returns; a lower-order fallback was
            # measured less accurate on such nets, benches/RESULTS.md) and set the negative
            # variances to 0, flagged
            nneg = 0
            for key in ("pre_var", "post_var"):
                nneg += sum(int(np.count_nonzero(a < 0)) for a in r[key])
                r[key] = [np.maximum(a, 0.0) for a in r[key]]
            r["pre_cov"] = [_clamp_diag(c) for c in r["pre_cov"]]
            diag["reliable"] = False
            diag["problem"] = f"{bad}; {nneg} negative variance(s) set to 0"
            warnings.warn(
                f"estimate: kprop (k_max={k}, kind={kind!r}) gave {bad}; its means are kept and the {nneg} negative "
                "variance(s) set to 0 (diagnostics['reliable'] is False)",
                RuntimeWarning,
                stacklevel=2,
            )
            bad = None
        if bad is not None:
            # a negative or non-finite variance: fall back to the lower-order estimators in turn
            chain = [("cov_prop", 2), ("cov_prop", 1), ("mean_prop", 1)]
            if core_method in ("mean_prop", "kprop1"):
                chain = []
            elif core_method.startswith(("kprop2_", "kprop3_", "kprop4_")):
                chain = [("cov_prop", 1), ("mean_prop", 1)]
            elif core_method == "cov_prop":
                chain = [c for c in chain if c[0] == "mean_prop" or c[1] < order]
            for m2, o2 in chain:
                r2 = _core.mlp_estimate(self._tuple(), m2, o2, keep, nthreads)
                if _estimate_problem(r2, self.activations, self.weights) is None:
                    diag["reliable"] = False
                    diag["fallback"] = f"{m2}:{o2}" if m2 == "cov_prop" else m2
                    diag["problem"] = bad
                    what = f"kprop (k_max={k}, kind={kind!r})" if method == "kprop" else f"{method} (mehler_order={order})"
                    warnings.warn(
                        f"estimate: {what} gave {bad}; returning the {diag['fallback']} "
                        "estimate instead (diagnostics['reliable'] is False)",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    r = r2
                    break
            else:
                if "non-finite" in bad:
                    raise InvalidArgumentError(
                        f"weights: the values are too large: {method} gave {bad} (float64 overflow), and so did every "
                        "lower-order estimator; rescale the weights"
                    )
                raise ComputationError(f"estimate: {method} gave {bad}, and so did every lower-order estimator")
        diag["variance_clamps"] = int(r["clamps"])
        diag["seconds"] = time.perf_counter() - t0
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
        progress: bool | None = None,
    ) -> MonteCarlo:
        """Monte Carlo means and variances of every neuron (Rust, batched GEMM, f64 sums).

        Results are bit-identical for any ``threads``. ``antithetic`` uses pairs ``(ξ, −ξ)``.
        ``progress``: a bar over the batches (default: shown when stderr is a terminal).

        Raises
        ------
        InvalidArgumentError
            ``n_samples < 1``, a bad batch, an odd batch with ``antithetic``.
        """
        n, b, s = self._mc_args(n_samples, batch, seed, self.depth - 1)
        anti = as_bool("antithetic", antithetic)
        if anti and b % 2:
            raise InvalidArgumentError(f"batch: must be even with antithetic=True, got {b}")
        with counter(progress, "Monte Carlo", "batch") as report:
            r = _core.mlp_monte_carlo(self._tuple(), n, b, s, anti, resolve_threads(threads), report)
        _overflow("weights", [*r["pre_mean"], *r["pre_var"], *r["post_mean"], *r["post_var"]])
        return MonteCarlo(
            means=list(r["pre_mean"]),
            variances=list(r["pre_var"]),
            act_means=list(r["post_mean"]),
            act_variances=list(r["post_var"]),
            n_samples=n,
            flops=float(r["flops"]),
            flops_per_sample=float(r["flops_per_sample"]),
            antithetic=anti,
        )

    def _mc_args(self, n_samples: object, batch: object, seed: object, layer: int) -> tuple[int, int, int]:
        n = _int("n_samples", n_samples, 1, U64_MAX)
        b = _int("batch", batch, 1, 1 << 20)
        s = _int("seed", seed, 0, U64_MAX)
        w = self.widths
        per = sum(2 * w[i + 1] * w[i] + 2 * w[i + 1] for i in range(layer + 1))
        check_steps("n_samples", n * per, f"{n} samples through layers of widths {w[: layer + 2]}")
        rows = min(b, n)
        check_bytes("batch", 8 * rows * (3 * max(w) + w[0]) * 2, f"batches of {rows} rows of width {max(w)}")
        return n, b, s

    # ---- rare events
    def design_point(self, layer: int, neuron: int, threshold: float, iters: int = 30) -> tuple[F64, int]:
        """Most likely input (whitened coordinates ξ, ``x = mean + F ξ``) with ``z_i(x) = threshold``.

        HL-RF iteration ``ξ ← ((t − y + g·ξ)/|g|²) g`` with ``g = ∇_ξ y`` (numpy). Returns
        ``(ξ*, iterations)``.
        """
        layer = self._layer(layer)
        neuron = _int("neuron", neuron, 0, self.widths[layer + 1] - 1)
        threshold = _float("threshold", threshold)
        iters = _int("iters", iters, 1, 10_000)
        f = self._factor()
        xi = np.zeros(self.widths[0])
        it = 0
        for _ in range(iters):
            it += 1
            with np.errstate(all="ignore"):
                y, g = self._value_grad(xi, f, layer, neuron)
                gg = float(g @ g)
            if not (math.isfinite(gg) and math.isfinite(y)):
                raise InvalidArgumentError(
                    "weights: the values are too large: the gradient of the design point overflowed float64; rescale the weights"
                )
            if gg == 0.0:
                break
            with np.errstate(all="ignore"):
                new = ((threshold - y + g @ xi) / gg) * g
            if not np.all(np.isfinite(new)):
                raise InvalidArgumentError(
                    f"threshold: the design point for threshold {threshold:g} overflowed float64 (the threshold is "
                    "unreachable or too far in the tail)"
                )
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
        neuron = _int("neuron", neuron, 0, self.widths[layer + 1] - 1)
        threshold = _float("threshold", threshold)
        n_per_iter = _int("n_per_iter", n_per_iter, 10, 1 << 20)
        rho = as_float("rho", rho, 0.0, 1.0, lo_open=True, hi_open=True)
        seed = _int("seed", seed, 0, U64_MAX)
        max_iter = _int("max_iter", max_iter, 0, 1000)
        check_bytes("n_per_iter", 8 * n_per_iter * 3 * max(self.widths), f"{n_per_iter} rows of width {max(self.widths)}")
        try:
            a, iters = self.design_point(layer, neuron, threshold)
        except InvalidArgumentError as e:
            if not str(e).startswith("threshold: "):
                raise
            a, iters = np.zeros(self.widths[0]), 30
        a = _cap_shift(a)
        flops = 3.0 * iters * self.flops_per_sample
        f = self._factor()
        rng = np.random.default_rng(seed)
        for _ in range(max_iter):
            xi = rng.standard_normal((n_per_iter, a.shape[0])) + a
            y = self.forward(self.input_mean + xi @ f.T, layer)[:, neuron]
            flops += n_per_iter * self.flops_per_sample
            if not np.all(np.isfinite(y)):
                raise InvalidArgumentError(
                    "weights: the values are too large: the forward pass overflowed float64; rescale the weights"
                )
            level = min(float(threshold), float(np.quantile(y, 1 - rho)))
            sel = y >= level
            logw = -(xi[sel] @ a) + 0.5 * float(a @ a)
            w = np.exp(logw - logw.max())
            new = np.asarray((w[:, None] * xi[sel]).sum(0) / w.sum())
            if not np.all(np.isfinite(new)):
                break
            a = _cap_shift(new)
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

    def _splitting(
        self,
        layer: int,
        neuron: int,
        t: float,
        budget: int,
        seed: int,
        reps: int = 16,
        p0: float = 0.1,
        report: Report | None = None,
    ) -> dict[str, Any]:
        """Generalized splitting (Botev & Kroese 2012) for ``P(z_{layer,neuron} > t)``.

        A pilot subset-simulation run (``N`` samples per level) fixes the levels
        ``γ_1 < … < γ_T = t`` (the ``1 − p0`` quantiles), the splitting factors ``s_k = round(1/p_k)``
        and the preconditioned Crank–Nicolson step ``x' = c x + √(1 − c²) ξ`` (acceptance near 0.3).
        Then ``reps`` independent replicates: ``N`` i.i.d. inputs, the ones above ``γ_1`` each start
        a chain of ``s_1`` pCN steps restricted to ``{z ≥ γ_1}`` (the kernel leaves ``N(0, I)``
        conditioned on that set invariant), the chain states above ``γ_2`` go on, and so on; a
        replicate returns ``N_T / (N ∏ s_k)``, an unbiased estimate for any fixed levels. The
        result is the mean over replicates with their empirical standard error (honest at any
        width: no likelihood ratios are involved).
        """
        f = self._factor()
        n0 = self.widths[0]
        rng = np.random.default_rng(seed)
        passes = [0]

        def score(xi: F64) -> F64:
            passes[0] += xi.shape[0]
            if report is not None:
                report(min(passes[0], budget), budget)
            with np.errstate(all="ignore"):
                y = self.forward(self.input_mean + xi @ f.T, layer)[:, neuron]
            if not np.all(np.isfinite(y)):
                raise InvalidArgumentError(
                    "weights: the values are too large: the forward pass overflowed float64; rescale the weights"
                )
            return np.asarray(y)

        def move(x: F64, y: F64, level: float, steps: int, c: float, keep: float | None) -> tuple[F64, F64, F64, float]:
            # `steps` pCN steps of every chain restricted to {y >= level}; collects the states above `keep`
            out_x, out_y, acc = [], [], 0.0
            cc = math.sqrt(max(1.0 - c * c, 0.0))
            for _ in range(steps):
                prop = c * x + cc * rng.standard_normal(x.shape)
                yp = score(prop)
                ok = yp >= level
                acc += float(ok.mean()) if ok.size else 0.0
                x = np.where(ok[:, None], prop, x)
                y = np.where(ok, yp, y)
                if keep is not None:
                    sel = y >= keep
                    out_x.append(x[sel])
                    out_y.append(y[sel])
            if keep is None:
                return x, y, np.empty(0), acc / max(steps, 1)
            return (
                np.concatenate(out_x) if out_x else np.empty((0, n0)),
                np.concatenate(out_y) if out_y else np.empty(0),
                np.empty(0),
                acc / max(steps, 1),
            )

        # ---- pilot: adaptive levels (subset simulation)
        n_lvl = max(100, budget // (reps * 6))
        x = rng.standard_normal((n_lvl, n0))
        y = score(x)
        levels: list[float] = []
        fracs: list[float] = []
        corr: list[float] = []
        c = 0.8
        stuck = False
        while True:
            g = float(np.quantile(y, 1.0 - p0))
            if g >= t or len(levels) >= 40:
                stuck = g < t
                fracs.append(max(float(np.mean(y >= t)), 1.0 / n_lvl))
                break
            if levels and g <= levels[-1]:
                g = float(np.nextafter(levels[-1], np.inf))
            sel = y >= g
            if not np.any(sel):
                stuck = True  # the level set cannot be raised any more: t is out of reach
                break
            levels.append(g)
            fracs.append(float(sel.mean()))
            ex, ey = x[sel], y[sel]
            reps_each = math.ceil(n_lvl / max(ex.shape[0], 1))
            ex, ey = np.repeat(ex, reps_each, 0)[:n_lvl], np.repeat(ey, reps_each, 0)[:n_lvl]
            # tune the pCN correlation on this level towards acceptance ~0.3, then mix
            for _ in range(3):
                ex, ey, _, acc = move(ex, ey, g, 2, c, None)
                c = min(0.995, max(0.05, c + (0.15 if acc < 0.2 else -0.1 if acc > 0.45 else 0.0)))
            corr.append(c)
            x, y, _, _ = move(ex, ey, g, 2, c, None)
        if stuck:
            return {
                "p": 0.0,
                "stderr": 0.0,
                "levels": levels,
                "replicates": np.zeros(reps),
                "nonzero": 0,
                "forward_passes": passes[0],
                "pilot_p": 0.0,
                "capped": False,
                "n_per_level": n_lvl,
            }
        pilot_p = float(np.prod(fracs))
        pilot_cost = passes[0]
        levels.append(t)
        split = [max(1, round(1.0 / max(fr, 1e-12))) for fr in fracs[1:]]
        # ---- main run: `reps` independent replicates with the fixed levels
        n_main = max(100, (budget - pilot_cost) // (reps * max(len(levels), 1)))
        ests = np.zeros(reps)
        cap = 50 * n_main
        capped = False
        for r in range(reps):
            x = rng.standard_normal((n_main, n0))
            y = score(x)
            sel = y >= levels[0]
            x, y = x[sel], y[sel]
            for k in range(len(levels) - 1):
                if x.shape[0] == 0:
                    break
                if x.shape[0] * split[k] > cap:
                    capped = True
                    break
                x, y, _, _ = move(x, y, levels[k], split[k], corr[k], levels[k + 1])
            if capped:
                break
            ests[r] = x.shape[0] / (n_main * float(np.prod(split, dtype=np.float64)))
        p = float(ests.mean())
        se = float(ests.std(ddof=1) / math.sqrt(reps)) if reps > 1 else float("nan")
        return {
            "p": p,
            "stderr": se,
            "levels": levels,
            "replicates": ests,
            "nonzero": int(np.count_nonzero(ests)),
            "forward_passes": passes[0],
            "pilot_p": pilot_p,
            "capped": capped,
            "n_per_level": n_main,
        }

    def tail_probability(
        self,
        layer: int = -1,
        threshold: float = 3.0,
        method: TailMethod = "gauss",
        neuron: int | None = None,
        n_samples: int = 2**20,
        batch: int = 1024,
        seed: int = 0,
        threads: int | None = None,
        progress: bool | None = None,
    ) -> TailProbability:
        """``P(z_{layer,i} > threshold)`` for the pre-activations of ``layer``.

        Parameters
        ----------
        method : {"gauss", "edgeworth", "mc", "is"}
            ``gauss``: ``Q((t − μ)/σ)`` from ``cov_prop``; ``edgeworth``: with the skewness of
            ``cumulant3`` (``Q(u) + p(u) [g1 He2(u)/6 + g1² He5(u)/72]``, clipped to [0, 1]; raw kept);
            ``mc``: plain Monte Carlo; ``is``: importance sampling from the defensive mixture
            ``α N(0, I) + (1 − α) N(a, I)`` (one sample in 8 unshifted, weights at most ``1/α``) with
            the shift ``a`` of :meth:`is_shift` (HL-RF design point refined by the cross-entropy
            method; its FLOPs are included), one neuron (``neuron`` required). ``ess`` is the
            effective number of hits; below 50 (weight degeneracy, e.g. a poor shift in high
            dimension) the result has ``reliable=False`` and a ``RuntimeWarning`` is issued.
            Importance sampling with one shifted Gaussian degenerates on wide nets (width ≥ 256:
            the event is not a half-space in input space); use ``splitting`` there.
            ``splitting``: generalized splitting (multilevel, Botev & Kroese 2012), one neuron:
            levels fixed by a pilot subset-simulation run, then 16 independent replicates of
            ``N`` inputs per level moved by preconditioned Crank–Nicolson steps restricted to each
            level set; unbiased for fixed levels and free of likelihood ratios, so it holds at any
            width. ``stderr`` is the empirical standard error over the replicates, ``ess`` is
            ``(p / stderr)²`` (the number of plain-MC hits with the same relative error);
            ``reliable=False`` with a ``RuntimeWarning`` when ``ess < 50`` or fewer than half the
            replicates reach the threshold. ``n_samples`` is the budget of forward passes
            (pilot included); ``batch`` and ``threads`` are not used (numpy forward passes).
        neuron : int, optional
            Restrict to one neuron (required for ``is`` and ``splitting``).
        progress : bool, optional
            A bar over the Monte Carlo batches (``mc``, ``is``) or the forward passes
            (``splitting``); default: shown when stderr is a terminal.

        Raises
        ------
        InvalidArgumentError
            NaN threshold, bad layer / neuron, ``is`` without a neuron, zero samples, more samples
            than one call may take.
        ComputationError
            A probability outside [0, 1] or not finite (never returned).
        """
        method = _method("method", method, ("gauss", "edgeworth", "mc", "is", "splitting"))  # type: ignore[assignment]
        layer = self._layer(layer)
        t = _float("threshold", threshold)
        width = self.widths[layer + 1]
        idx = np.arange(width) if neuron is None else np.array([_int("neuron", neuron, 0, width - 1)])
        if method in ("gauss", "edgeworth"):
            sub = self._truncated(layer)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                est = sub.estimate("cov_prop" if method == "gauss" else "cumulant3", threads=threads)
            for w in caught:
                warnings.warn(w.message, w.category, stacklevel=2)
            reliable = bool(est.diagnostics["reliable"])
            mu, var = est.means[layer][idx], est.variances[layer][idx]
            sd = np.sqrt(np.maximum(var, 1e-300))
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                u = (t - mu) / sd
                q = special.ndtr(-u)
                if method == "gauss" or not est.kappa3:
                    return TailProbability(p=_prob(q), method=method, flops=est.flops, neurons=idx, reliable=reliable)
                g1 = est.kappa3[layer][idx] / sd**3
                pdf = np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
                he2 = u * u - 1
                he5 = u**5 - 10 * u**3 + 15 * u
                raw = q + pdf * (g1 * he2 / 6 + g1 * g1 * he5 / 72)
            raw = np.where(np.isfinite(raw), raw, q)
            return TailProbability(
                p=_prob(np.clip(raw, 0.0, 1.0)),
                method=method,
                flops=est.flops,
                raw=np.asarray(raw),
                neurons=idx,
                reliable=reliable,
            )
        n, b, s = self._mc_args(n_samples, batch, seed, layer)
        nthreads = resolve_threads(threads)
        if method == "splitting":
            if neuron is None:
                raise InvalidArgumentError("neuron: required for method='splitting' (the levels are per neuron)")
            if n < 2000:
                raise InvalidArgumentError(f"n_samples: must be at least 2000 for method='splitting', got {n}")
            check_bytes(
                "n_samples", 8 * 4 * (n // 96 + 100) * max(self.widths), f"splitting populations of width {max(self.widths)}"
            )
            with counter(progress, "splitting", "pass") as report:
                res = self._splitting(layer, int(idx[0]), t, n, s, report=report)
            p1, se1 = res["p"], res["stderr"]
            if not (math.isfinite(p1) and math.isfinite(se1)) or p1 < 0 or p1 > 1:
                raise ComputationError(f"tail_probability: splitting gave p={p1}, stderr={se1}")
            ess1 = (p1 / se1) ** 2 if se1 > 0 else (float("inf") if p1 > 0 else 0.0)
            reliable = ess1 >= 50 and res["nonzero"] >= 8 and not res["capped"]
            if not reliable:
                warnings.warn(
                    f"tail_probability: splitting is not reliable here (equivalent hits {ess1:.3g} < 50, or only "
                    f"{res['nonzero']} of 16 replicates reached the threshold, or the population exploded); "
                    "p and stderr are not reliable, use more samples",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return TailProbability(
                p=_prob(np.array([p1])),
                method=method,
                flops=float(res["forward_passes"]) * self._flops_to(layer),
                stderr=np.array([se1]),
                neurons=idx,
                ess=np.array([ess1]),
                reliable=reliable,
                details=SplittingDetails(
                    levels=res["levels"],
                    replicates=res["replicates"],
                    nonzero=res["nonzero"],
                    forward_passes=res["forward_passes"],
                    pilot_p=res["pilot_p"],
                    capped=res["capped"],
                    n_per_level=res["n_per_level"],
                ),
            )
        shift = None
        extra = 0.0
        if method == "is":
            if neuron is None:
                raise InvalidArgumentError("neuron: required for method='is' (the shift is per neuron)")
            shift, extra = self.is_shift(layer, int(idx[0]), t, seed=(s + 1) % (U64_MAX + 1))
        with counter(progress, f"tail ({method})", "batch") as report:
            r = _core.mlp_tail_mc(self._tuple(), layer, t, shift, n, b, s, nthreads, report)
        p = np.asarray(r["p"])[idx]
        se = np.asarray(r["stderr"])[idx]
        hits = np.asarray(r["hits"])[idx]
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(se))):
            raise ComputationError("tail_probability: the importance weights overflowed float64 (the shift is too large)")
        if method == "mc":
            ess = hits.astype(np.float64)
            reliable = True
        else:
            # Kish ESS of the weights of the hits: (Σ w)² / Σ w² = N p² / (N se² + p²)
            denom = n * se * se + p * p
            ess = np.where(denom > 0, n * p * p / np.where(denom > 0, denom, 1.0), 0.0)
            reliable = bool(np.all(ess >= 50))
            if not reliable:
                warnings.warn(
                    f"tail_probability: importance sampling is degenerate (effective number of hits {float(ess.min()):.3g} "
                    "< 50: a few samples carry all the weight); p and stderr are not reliable, use method='mc' "
                    "or more samples",
                    RuntimeWarning,
                    stacklevel=2,
                )
            p = np.clip(p, 0.0, 1.0)
        return TailProbability(
            p=_prob(p),
            method=method,
            flops=float(r["flops"]) + extra,
            stderr=se,
            hits=hits,
            neurons=idx,
            ess=np.asarray(ess, dtype=np.float64),
            reliable=reliable,
        )

    def _flops_to(self, layer: int) -> float:
        w = self.widths
        acts = [*self.activations, "identity"]
        return float(sum(2 * w[i + 1] * w[i] + w[i + 1] * (1 + _C_ACT[acts[i]]) for i in range(layer + 1)))

    def _truncated(self, layer: int) -> MLP:
        if layer == self.depth - 1:
            return self
        out = MLP(self.weights[: layer + 1], self.biases[: layer + 1], self.activations[:layer], self.input_mean, self.input_cov)
        out.init_scale = None if self.init_scale is None else list(self.init_scale[: layer + 1])
        return out

    # ---- gradients
    def _gradient_route(
        self, method: object, mehler_order: object, k_max: object, kind: object, avg_metric: object
    ) -> tuple[str, int, bool]:
        """``(core method, Mehler order, avg_metric)`` of a gradient request (validated)."""
        m = _method("method", method, ("mean_prop", "cov_prop", "kprop"))
        order = _int("mehler_order", mehler_order, 1, 38)
        if m != "kprop":
            return m, order, False
        k = _int("k_max", k_max, 1, 4)
        kd = _method("kind", kind, ("simple", "augment"))
        avg = as_bool("avg_metric", avg_metric)
        if (k, kd) not in KPROP_GRADIENT:
            raise InvalidArgumentError(
                f"k_max: gradients through kprop exist for (k_max, kind) in {list(KPROP_GRADIENT)}, got ({k}, {kd!r})"
            )
        if kd == "simple":
            # kprop K = 2 SIMPLE is cov_prop with mehler_order=1 (the metric is not used)
            return "cov_prop", 1, False
        return "kprop2_augment", 1, avg

    def gradient(
        self,
        c_mean: float | RealArray,
        c_var: float | RealArray | None = None,
        layer: int = -1,
        method: GradientMethod = "cov_prop",
        mehler_order: int = 1,
        threads: int | None = None,
        k_max: int = 2,
        kind: KpropKind = "simple",
        avg_metric: bool = False,
    ) -> Gradient:
        """Reverse-mode gradient of ``J = Σ c_mean_i m_i + Σ c_var_i v_i`` (estimated pre-activation
        means ``m`` and variances ``v`` of ``layer``) with respect to every weight and bias.

        Parameters
        ----------
        c_mean : float or ndarray (n_layer,)
            Coefficients of the means (a number: the same for every neuron).
        c_var : float or ndarray (n_layer,) or None
            Coefficients of the variances (``None``: zero).
        layer : int
            The linear layer whose pre-activations enter ``J`` (negative counts from the end).
        method : {"mean_prop", "cov_prop", "kprop"}
            The estimator differentiated, as in :meth:`estimate`.
        mehler_order : int
            ``cov_prop`` only: its Mehler order (1..38).
        threads : int or None
        k_max, kind, avg_metric
            ``kprop`` only, as in :meth:`estimate`; gradients exist for :data:`KPROP_GRADIENT`:
            ``k_max=2`` with ``kind="simple"`` (the same estimator as ``cov_prop`` with
            ``mehler_order=1``, hence its gradient) or ``kind="augment"`` (exact metric, or with
            ``avg_metric`` the average metric ``w_var_l I``: :attr:`init_scale` as constants, or,
            when ``init_scale`` is ``None``, the mean squared row norm of ``W_l``, which is
            differentiated through).

        Returns
        -------
        Gradient
            ``value`` (``J``), ``d_weights`` (shapes of the weights), ``d_biases`` (of the biases).
            The gradient of the estimate as computed: when :meth:`estimate` would fall back to a
            lower order (a negative variance), this is still the requested estimator's gradient
            (:meth:`tail_gradient` follows the fallback).

        Raises
        ------
        InvalidArgumentError
            Bad coefficients or layer, unknown method or kind, a ``(k_max, kind)`` without gradients
            (names ``k_max``), a bad ``init_scale``, weights so large that the gradient overflows.
        """
        layer = self._layer(layer)
        w = self.widths[layer + 1]
        cm = _coef("c_mean", c_mean, w)
        cv = np.zeros(w) if c_var is None else _coef("c_var", c_var, w)
        core_method, order, avg = self._gradient_route(method, mehler_order, k_max, kind, avg_metric)
        scale = self._init_scale() if avg and self.init_scale is not None else None
        nthreads = resolve_threads(threads)
        self._check_estimate_size(core_method, order, False)
        sq = sum(n * n for n in self.widths)
        need = 8 * (4 * sq + 12 * max(self.widths) ** 2) if core_method == "kprop2_augment" else 8 * 4 * sq
        check_bytes("weights", need, f"the reverse pass over widths {self.widths}")
        v, dws, dbs = _core.mlp_gradient(self._tuple(), core_method, order, layer, cm, cv, nthreads, scale, avg)
        if not math.isfinite(v) or not all(np.all(np.isfinite(a)) for a in [*dws, *dbs]):
            raise InvalidArgumentError(
                "weights: the values are too large: the gradient overflowed float64 (non-finite); rescale the weights"
            )
        return Gradient(value=float(v), d_weights=list(dws), d_biases=list(dbs))

    def tail_gradient(
        self,
        threshold: float,
        neuron: int = 0,
        layer: int = -1,
        method: GradientMethod = "cov_prop",
        k_max: int = 2,
        kind: KpropKind = "simple",
        avg_metric: bool = False,
    ) -> Gradient:
        """Gaussian tail ``P = Q((t − m_i)/√v_i)`` of one neuron and its gradient (chain rule through
        :meth:`gradient`).

        ``method``, ``k_max``, ``kind``, ``avg_metric`` choose the estimator of ``m_i`` and ``v_i``
        as in :meth:`gradient` (e.g. ``method="kprop", kind="augment"``); when the estimate falls
        back to a lower order (``diagnostics["fallback"]``), ``P`` and its gradient are those of
        the fallback estimator."""
        layer = self._layer(layer)
        t = _float("threshold", threshold)
        w = self.widths[layer + 1]
        i = _int("neuron", neuron, 0, w - 1)
        core_method, _, avg = self._gradient_route(method, 1, k_max, kind, avg_metric)
        sub = self._truncated(layer)
        if core_method == "kprop2_augment":
            est = sub.estimate("kprop", k_max=2, kind="augment", avg_metric=avg)
        else:
            est = sub.estimate(core_method)  # type: ignore[arg-type]
        m, v = float(est.means[layer][i]), float(est.variances[layer][i])
        zeros = Gradient(
            value=0.0, d_weights=[np.zeros_like(a) for a in self.weights], d_biases=[np.zeros_like(a) for a in self.biases]
        )
        if v <= 1e-280 or abs(t - m) / math.sqrt(v) > 37.0:
            # a degenerate (constant) neuron or a tail beyond float64: P is 0 or 1, flat in the weights
            p0 = float(special.ndtr((m - t) / math.sqrt(v))) if v > 1e-280 else (1.0 if m > t else 0.0)
            return Gradient(value=p0, d_weights=zeros.d_weights, d_biases=zeros.d_biases)
        sd = math.sqrt(v)
        u = (t - m) / sd
        p = float(special.ndtr(-u))
        pdf = math.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
        cm = np.zeros(w)
        cv = np.zeros(w)
        cm[i] = pdf / sd
        cv[i] = pdf * u / (2 * v)
        # the gradient of the estimator that gave m and v (a lower order when the estimate fell back)
        fallback = est.diagnostics.get("fallback")
        if fallback == "mean_prop":
            g = self.gradient(cm, cv, layer=layer, method="mean_prop")
        elif fallback is not None and fallback.startswith("cov_prop:"):
            g = self.gradient(cm, cv, layer=layer, method="cov_prop", mehler_order=int(fallback.split(":")[1]))
        elif core_method == "kprop2_augment":
            g = self.gradient(cm, cv, layer=layer, method="kprop", k_max=2, kind="augment", avg_metric=avg)
        else:
            g = self.gradient(cm, cv, layer=layer, method=core_method)  # type: ignore[arg-type]
        return Gradient(value=p, d_weights=g.d_weights, d_biases=g.d_biases)


def _coef(name: str, c: object, w: int) -> F64:
    """A coefficient vector: a number or an array of length ``w``."""
    if isinstance(c, numbers.Real) and not isinstance(c, bool):
        return np.full(w, _float(name, c))
    a = _array(name, c, (0, 1))
    if np.ndim(c) == 0:  # type: ignore[arg-type]
        return np.full(w, float(a.reshape(-1)[0]))
    if a.shape != (w,):
        raise InvalidArgumentError(f"{name}: expected a number or an array of length {w}, got shape {a.shape}")
    return a


# --------------------------------------------------------------------------- constructors
def _gh(n: int = 100) -> tuple[F64, F64]:
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / math.sqrt(2 * math.pi)


def random_mlp(
    widths: Sequence[int],
    act: Activation = "relu",
    init: InitScheme = "he",
    w_var: float | None = None,
    b_var: float = 0.0,
    b_mean: float = 0.0,
    seed: int = 0,
    input_mean: RealArray | None = None,
    input_cov: RealArray | None = None,
) -> MLP:
    """A random MLP with ``W_ij ~ N(0, w_var_l / fan_in)`` and biases ``N(b_mean, b_var)``.

    ``init="he"``: ``w_var_1 = 1``, ``w_var_l = 1 / E[φ(Z)²]`` with ``Z ~ N(b_mean, 1)`` (ReLU: 2).
    ``init="critical"``: edge of chaos with ``q* = 1``: ``σ_w² = 1/E[φ'(Z)²]``, ``σ_b² = 1 − σ_w² E[φ(Z)²]``
    (``Z ~ N(0, 1)``; ReLU: 2, 0). ``init="manual"``: ``w_var`` and ``b_var`` as given.
    """
    if isinstance(widths, (str, bytes, np.ndarray)) or not isinstance(widths, Sequence):
        raise InvalidTypeError(f"widths: expected a list of at least two positive ints, got {type(widths).__name__}")
    if len(widths) < 2:
        raise InvalidArgumentError(f"widths: expected a list of at least two positive ints, got {len(widths)} entries")
    ws = [_int(f"widths[{i}]", w, 1) for i, w in enumerate(widths)]
    act = _method("act", act, ACTIVATIONS)  # type: ignore[assignment]
    init = _method("init", init, ("he", "critical", "manual"))  # type: ignore[assignment]
    s = _int("seed", seed, 0, U64_MAX)
    bv = _float("b_var", b_var, 0.0)
    bm = _float("b_mean", b_mean)
    depth = len(ws) - 1
    n_weights = sum(ws[i] * ws[i + 1] for i in range(depth))
    # the drawn weights, numpy's temporary, the float64 copy the core makes: 3 copies of 8 bytes
    check_bytes("widths", 24 * n_weights, f"{n_weights} weights")
    check_steps("widths", 10 * n_weights, f"drawing {n_weights} weights")
    x, gw = _gh()
    with np.errstate(all="ignore"):
        if init == "he":
            e2 = float(gw @ _act_np(act, x + bm) ** 2)
            if not (math.isfinite(e2) and e2 > 1e-300):
                raise InvalidArgumentError(
                    f"b_mean: init='he' needs 0 < E[act(Z)^2] < inf for Z ~ N(b_mean, 1), got {e2:.3g} for {act} at b_mean={bm}"
                )
            wv = [1.0] + [1.0 / e2] * (depth - 1)
        elif init == "critical":
            d2 = float(gw @ _dact_np(act, x) ** 2) if act != "relu" else 0.5
            if not d2 > 0:
                raise InvalidArgumentError(f"init: no critical point for {act} (E[act'(Z)^2] = 0)")
            sw = 1.0 / d2
            e2 = float(gw @ _act_np(act, x) ** 2) if act != "relu" else 0.5
            sb = 1.0 - sw * e2
            if sb < -1e-9:
                raise InvalidArgumentError(f"init: no critical point with q* = 1 for {act} (sigma_b^2 = {sb:.3g} < 0)")
            wv = [1.0] + [sw] * (depth - 1)
            bv = max(sb, 0.0)
        else:
            if w_var is None:
                raise InvalidArgumentError("w_var: required with init='manual'")
            wv = [_float("w_var", w_var, 0.0)] * depth
    if w_var is not None and init != "manual":
        _float("w_var", w_var, 0.0)
    rng = np.random.default_rng(s)
    weights = [rng.standard_normal((ws[i + 1], ws[i])) * math.sqrt(wv[i] / ws[i]) for i in range(depth)]
    biases = [
        bm + math.sqrt(bv) * rng.standard_normal(ws[i + 1]) if (bv > 0 or bm != 0) else np.zeros(ws[i + 1]) for i in range(depth)
    ]
    net = MLP(weights, biases, [act] * (depth - 1), input_mean, input_cov)
    net.init_scale = [float(v) for v in wv]
    return net


def mean_field(
    activations: Sequence[str], w_var: Sequence[float], b_var: Sequence[float] | float = 0.0, q_in: float = 1.0
) -> F64:
    """Infinite-width (NNGP) recursion; returns an array (L, 2) of ``(q_l, k_l)``: the second moment
    of a layer-``l`` pre-activation, and its covariance under two independent inputs."""
    if isinstance(activations, (str, bytes)) or not isinstance(activations, Sequence):
        raise InvalidTypeError(f"activations: expected a list of names, got {type(activations).__name__}")
    acts = [_method(f"activations[{i}]", a, ACTIVATIONS) for i, a in enumerate(activations)]
    depth = len(acts) + 1
    if isinstance(w_var, (str, bytes)) or not isinstance(w_var, Sequence):
        raise InvalidTypeError(f"w_var: expected a list of {depth} numbers, got {type(w_var).__name__}")
    if len(w_var) != depth:
        raise InvalidArgumentError(f"w_var: expected {depth} values (one per linear layer), got {len(w_var)}")
    wv = [_float(f"w_var[{i}]", w, 0.0) for i, w in enumerate(w_var)]
    if isinstance(b_var, numbers.Real) and not isinstance(b_var, bool):
        bv = [_float("b_var", b_var, 0.0)] * depth
    else:
        if isinstance(b_var, (str, bytes)) or not isinstance(b_var, Sequence):
            raise InvalidTypeError(f"b_var: expected a number or a list of {depth} numbers, got {type(b_var).__name__}")
        if len(b_var) != depth:
            raise InvalidArgumentError(f"b_var: expected {depth} values (one per linear layer), got {len(b_var)}")
        bv = [_float(f"b_var[{i}]", b, 0.0) for i, b in enumerate(b_var)]
    q = _float("q_in", q_in, 0.0)
    out = np.array(_core.mlp_mean_field(acts, wv, bv, q), dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise InvalidArgumentError("w_var: the recursion overflowed float64 (non-finite second moments); use smaller variances")
    return out


def gauss_moments(activation: Activation, m: float | RealArray, v: float | RealArray, kmax: int = 6) -> dict[str, F64]:
    """1-D Gaussian expectations for ``Z ~ N(m, v)`` (arrays): ``g`` (n, kmax+1) with
    ``g[:, k] = E φ^(k)(Z)``, ``e2 = E φ²``, ``var``, ``e3``, ``e4``, ``kappa3``, ``kappa4``."""
    act = _method("activation", activation, ACTIVATIONS)
    mm = _array("m", m, (0, 1)).reshape(-1)
    vv = _array("v", v, (0, 1)).reshape(-1)
    k = _int("kmax", kmax, 0, 40)
    if mm.shape != vv.shape:
        raise InvalidArgumentError(f"v: expected the length of m ({mm.shape[0]}), got {vv.shape[0]}")
    if np.any(vv <= 0):
        raise InvalidArgumentError("v: variances must be > 0")
    check_bytes("m", 8 * mm.shape[0] * (k + 12), f"{mm.shape[0]} moments of order {k}")
    check_steps("m", mm.shape[0] * 400 * (k + 4), f"{mm.shape[0]} quadratures")
    r = _core.mlp_gauss_moments(act, mm, vv, k)
    out = {key: np.asarray(val) for key, val in r.items()}
    out["g"] = np.ascontiguousarray(out["g"][:, : k + 1])  # the core computes at least 3 orders
    if not all(np.all(np.isfinite(a)) for a in out.values()):
        raise InvalidArgumentError("m: the moments overflowed float64 (non-finite); use smaller means or variances")
    return out


# --------------------------------------------------------------------------- equal-FLOPs comparison
@dataclass(frozen=True)
class Comparison:
    """Per method: MSE of the output means against a truth, FLOPs, and the MC MSE at equal FLOPs.

    ``rows`` entries: ``method, mse, mse_over_var, flops, mc_mse_equal_flops, speedup`` where
    ``speedup = Var · flops_per_sample / (MSE · FLOPs)`` (FLOPs MC needs for the same MSE over the
    method's FLOPs). ``noise_floor`` is the truth's own mean squared standard error, already
    subtracted from every MSE. A row with ``truth_limited`` (raw MSE below 10× the noise floor: the
    truth cannot resolve the method's error) has no measured speedup, only the lower bound
    ``speedup_lower_bound = Var · flops_per_sample / (raw MSE · FLOPs)``; :func:`speedup_text`
    prints it as ``≥ …``. ``speedup_lower_bound`` is None for the other rows.
    """

    rows: list[ComparisonRow]
    var: float
    flops_per_sample: float
    noise_floor: float
    widths: list[int] = field(default_factory=list)

    def table(self) -> str:
        """A plain-text table."""
        lines = [f"{'method':<14}{'MSE/Var':>12}{'FLOPs':>12}{'speedup':>10}"]
        for r in self.rows:
            lines.append(f"{r['method']:<14}{r['mse_over_var']:>12.3e}{r['flops']:>12.3e}{speedup_text(r):>10}")
        return "\n".join(lines)


def speedup_text(row: ComparisonRow | dict[str, Any]) -> str:
    """A row's speedup for printing: ``"12.3"`` when measured, ``"≥ 4.5"`` (the lower bound) when the
    row is truth-limited, so that a bound is never shown as a measurement."""
    if row.get("truth_limited"):
        return f"≥ {row['speedup_lower_bound']:.3g}"
    return f"{row['speedup']:.3g}"


def compare_equal_flops(
    net: MLP,
    methods: Sequence[str] = ("mean_prop", "cov_prop"),
    truth: MonteCarlo | None = None,
    truth_samples: int = 2**20,
    seed: int = 12345,
    threads: int | None = None,
    progress: bool | None = None,
) -> Comparison:
    """Compare estimators with Monte Carlo at equal FLOPs on the output means of ``net``.

    ``methods`` are ``mean_prop``, ``cov_prop``, ``cov_prop:M`` (Mehler order M) or ``cumulant3``.
    ``truth`` is a long Monte Carlo run (made with ``truth_samples`` if not given); the noise floor
    ``mean SE²`` is subtracted from each MSE and reported. ``progress``: a bar over the truth's
    Monte Carlo batches (default: shown when stderr is a terminal).
    """
    if not isinstance(net, MLP):
        raise InvalidTypeError(f"net: expected an MLP, got {type(net).__name__}")
    if isinstance(methods, (str, bytes)) or not isinstance(methods, Sequence) or len(methods) == 0:
        raise InvalidArgumentError("methods: expected a non-empty list of mean_prop, cov_prop, cov_prop:M or cumulant3")
    for i, m in enumerate(methods):
        ok = isinstance(m, str) and (
            m in _METHODS or (m.startswith("cov_prop:") and m[9:].isdigit() and m[9:].isascii() and 1 <= int(m[9:]) <= 40)
        )
        if not ok:
            raise InvalidArgumentError(
                f"methods: entry {i} must be mean_prop, cov_prop, cov_prop:M (M 1..40) or cumulant3, got {m!r}"
            )
    if truth is not None and not isinstance(truth, MonteCarlo):
        raise InvalidTypeError(f"truth: expected a MonteCarlo result or None, got {type(truth).__name__}")
    if truth is not None and [a.shape for a in truth.means] != [(w,) for w in net.widths[1:]]:
        raise InvalidArgumentError("truth: a Monte Carlo result of another network (widths differ)")
    ts = _int("truth_samples", truth_samples, 2, U64_MAX)
    sd = _int("seed", seed, 0, U64_MAX)
    resolve_threads(threads)
    want_progress(progress)  # checks its type before any work
    if truth is None:
        w = net.widths
        per = sum(2 * w[i + 1] * w[i] + 2 * w[i + 1] for i in range(net.depth))
        check_steps("truth_samples", ts * per, f"{ts} samples through widths {w}")
        truth = net.monte_carlo(n_samples=ts, seed=sd, threads=threads, progress=progress)
    ref = truth.means[-1]
    var = float(np.mean(truth.variances[-1]))
    floor = float(np.mean(truth.variances[-1] / truth.n_samples))
    if not (var > 0 and math.isfinite(var)):
        raise InvalidArgumentError(f"net: the output variance is {var:.3g}; MSE/Var and the speedup are undefined")
    rows: list[ComparisonRow] = []
    for m in methods:
        name, _, order = m.partition(":")
        est = net.estimate(name, mehler_order=int(order) if order else 1, threads=threads)  # type: ignore[arg-type]
        mse_raw = float(np.mean((est.means[-1] - ref) ** 2))
        mse = max(mse_raw - floor, floor / 10, 1e-300)
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
                "speedup_lower_bound": (
                    var * truth.flops_per_sample / (max(mse_raw, 1e-300) * est.flops) if mse_raw < 10 * floor else None
                ),
            }
        )
    return Comparison(rows=rows, var=var, flops_per_sample=truth.flops_per_sample, noise_floor=floor, widths=net.widths)


def plot_mse_vs_flops(comparisons: Sequence[Comparison], ax: Axes | None = None) -> Figure:
    """Plot MSE/Var against FLOPs: Monte Carlo as the line ``flops_per_sample / F``, each estimator as
    points (one per comparison). Returns the matplotlib Figure."""
    if isinstance(comparisons, Comparison) or not isinstance(comparisons, Sequence):
        raise InvalidTypeError(f"comparisons: expected a list of Comparison results, got {type(comparisons).__name__}")
    for i, c in enumerate(comparisons):
        if not isinstance(c, Comparison):
            raise InvalidTypeError(f"comparisons: entry {i} is a {type(c).__name__}, not a Comparison")
        if not c.rows:
            raise InvalidArgumentError(f"comparisons: entry {i} has no rows")
    import matplotlib

    matplotlib.use("Agg", force=False)

    from ._plot import MARKERS, axes_or_new

    fig, ax = axes_or_new(ax, (6, 4.5))
    # one marker per method (cov_prop and cov_prop:2 apart), one colour per comparison
    methods = list(dict.fromkeys(r["method"] for c in comparisons for r in c.rows))
    markers = {m: MARKERS[i % len(MARKERS)] for i, m in enumerate(methods)}
    for c in comparisons:
        fl = np.array([r["flops"] for r in c.rows])
        f = np.logspace(np.log10(fl.min()) - 1, np.log10(fl.max()) + 1, 50)
        (line,) = ax.loglog(f, c.flops_per_sample / f, "-", alpha=0.6, label=f"MC n={c.widths[1:-1]}" if c.widths else "MC")
        for r in c.rows:
            ax.loglog(
                r["flops"],
                r["mse_over_var"],
                markers[r["method"]],
                color=line.get_color(),
                label="_nolegend_",
            )
    for m in methods:  # legend entries of the methods, in grey (the colour is the comparison's)
        ax.plot([], [], markers[m], color="0.35", linestyle="none", label=m)
    ax.set_xlabel("FLOPs")
    ax.set_ylabel("MSE / Var (output means)")
    ax.legend(fontsize=7)
    return fig
