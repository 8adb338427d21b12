"""SpinModel: couplings, fields, conversions and the samplers / solvers of the Rust core."""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import numpy.typing as npt

from boltzkit import _core
from boltzkit._progress import counter
from boltzkit._threads import resolve_threads
from boltzkit._typing import RealArray
from boltzkit._validate import I64_MAX, as_bool, as_float, as_int, as_seed, check_bytes, check_steps, memory_limit
from boltzkit.errors import ComputationError, InvalidArgumentError, InvalidTypeError

if TYPE_CHECKING:
    from dimod import BinaryQuadraticModel
    from matplotlib.axes import Axes
    from scipy.sparse import csr_array, sparray, spmatrix

__all__ = [
    "ENUMERATE_MAX_N",
    "AnnealResult",
    "BetaScheduleType",
    "DescendResult",
    "Diagonal",
    "Enumeration",
    "FloatDtype",
    "InitialStateGenerator",
    "Kernel",
    "Proposal",
    "ProposalAcceptance",
    "QuboFormat",
    "RealArray",
    "Schedule",
    "SpinModel",
    "Storage",
    "StorageChoice",
    "SweepOrder",
    "TapInit",
    "TapResult",
    "TapSolver",
    "TemperingResult",
    "Vartype",
    "batch_means",
    "beta_schedule",
]

#: ``schedule=`` of :meth:`SpinModel.anneal` and :func:`beta_schedule` (or an explicit array of betas).
Schedule = Literal["geometric", "linear"]
#: ``proposal=``: Metropolis or heat-bath (Gibbs) single-spin updates.
Proposal = Literal["metropolis", "heat_bath"]
#: ``order=``: the order in which a sweep visits the spins.
SweepOrder = Literal["sequential", "random"]
#: ``kernel=`` of :meth:`SpinModel.anneal`.
Kernel = Literal["single", "layered"]
#: :attr:`SpinModel.storage`: how the couplings are held.
Storage = Literal["dense", "csr", "layered"]
#: ``storage=`` of the constructors: a storage, or ``"auto"`` (by density).
StorageChoice = Literal["auto", "dense", "csr"]
#: ``vartype=`` of :meth:`SpinModel.to_bqm` (dimod's names).
Vartype = Literal["SPIN", "BINARY"]
#: ``diagonal=`` of :class:`SpinModel`: refuse a non-zero diagonal of ``J`` or drop it.
Diagonal = Literal["reject", "drop"]
#: ``init=`` of :meth:`SpinModel.tap` (or an explicit array of magnetisations).
TapInit = Literal["random", "eigen", "zeros"]
#: ``solver=`` of :meth:`SpinModel.tap`.
TapSolver = Literal["iterate", "newton"]
#: ``format=`` of :meth:`SpinModel.to_qubo`.
QuboFormat = Literal["dense", "csr", "dict"]
#: ``beta_schedule_type=`` of the dimod samplers (dwave-samplers' names).
BetaScheduleType = Literal["linear", "geometric", "custom"]
#: ``initial_states_generator=`` of the dimod samplers.
InitialStateGenerator = Literal["none", "tile", "random"]
#: ``proposal_acceptance_criteria=`` of the dimod samplers.
ProposalAcceptance = Literal["Metropolis", "Gibbs"]
#: ``dtype=`` of the models: float64 (default) or float32 couplings.
FloatDtype = type[np.float64] | type[np.float32] | np.dtype[np.float64] | np.dtype[np.float32] | Literal["float64", "float32"]

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
#: Largest number of spins :meth:`SpinModel.enumerate_exact` accepts.
ENUMERATE_MAX_N = 26
_PQ_MAX_N = 22


def _seed(seed: object) -> int:
    return as_seed(seed)


def _posint(name: str, v: object, lo: int = 1, hi: int = I64_MAX) -> int:
    return as_int(name, v, lo, hi)


#: Largest magnitude of a coupling, field or offset: energies, their squares and ``β·E`` stay finite.
MAX_COUPLING = 1e100


def _finite_array(name: str, x: object, ndim: int | None = None, limit: float | None = None) -> F64:
    if x is None or isinstance(x, (str, bytes, Mapping)):
        raise InvalidTypeError(f"{name}: expected an array of real numbers, got {type(x).__name__}")
    try:
        raw = np.asarray(x)
        if raw.dtype.kind in "cUSaMm":
            raise InvalidTypeError(f"{name}: expected an array of real numbers, got dtype {raw.dtype}")
        a = raw.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InvalidTypeError(f"{name}: expected an array of real numbers") from None
    if ndim is not None and a.ndim != ndim:
        raise InvalidArgumentError(f"{name}: expected a {ndim}-d array, got shape {a.shape}")
    if a.size:
        # max |a| from two reductions, no temporary; NaN propagates through np.maximum
        top = float(np.maximum(a.max(), -a.min()))
        if not math.isfinite(top):
            raise InvalidArgumentError(f"{name}: every value must be finite")
        if limit is not None and top > limit:
            raise InvalidArgumentError(
                f"{name}: every value must be between -{limit:g} and {limit:g} (energies and their squares must "
                f"stay finite), got {top:g}"
            )
    return np.ascontiguousarray(a)


def _betas(name: str, x: object) -> F64:
    b = _finite_array(name, x, 1)
    if b.size == 0:
        raise InvalidArgumentError(f"{name}: must not be empty")
    if np.any(b < 0):
        raise InvalidArgumentError(f"{name}: inverse temperatures must be >= 0, got {b.min()}")
    return b


def _temps(name: str, x: object) -> F64:
    t = np.atleast_1d(_finite_array(name, x))
    if t.ndim != 1 or t.size == 0:
        raise InvalidArgumentError(f"{name}: expected a temperature or a non-empty 1-d array of them")
    if np.any(t <= 0):
        raise InvalidArgumentError(f"{name}: temperatures must be > 0, got {t.min()}")
    return t


def _states(name: str, s: object, n: int) -> I8:
    """States as a C-contiguous int8 array of shape (k, n) with values ±1."""
    try:
        a = np.asarray(s)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"{name}: expected an array of ±1 spins") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise InvalidTypeError(f"{name}: expected a numeric array of ±1 spins, got dtype {a.dtype}")
    shape0 = a.shape
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != n:
        raise InvalidArgumentError(f"{name}: expected shape (k, {n}), got {shape0}")
    if a.size and not np.all((a == 1) | (a == -1)):
        raise InvalidArgumentError(f"{name}: spins must be -1 or +1")
    out: I8 = np.ascontiguousarray(a, dtype=np.int8)
    return out


def beta_schedule(beta_range: tuple[float, float], num_betas: int, schedule: Schedule = "geometric") -> F64:
    """Inverse temperatures from ``beta_range[0]`` (hot) to ``beta_range[1]`` (cold).

    Parameters
    ----------
    beta_range : (float, float)
        Hot and cold β, both finite and > 0 for ``"geometric"`` (≥ 0 for ``"linear"``).
    num_betas : int
        Number of β values (≥ 1; a single value is the cold β).
    schedule : {"geometric", "linear"}
        Spacing of the values.

    Returns
    -------
    ndarray of shape (num_betas,), float64
    """
    n = _posint("num_betas", num_betas)
    if not isinstance(schedule, str) or schedule not in ("geometric", "linear"):
        raise InvalidArgumentError(f"schedule: expected 'geometric', 'linear' or an array of betas, got {schedule!r}")
    b0, b1 = _beta_range(beta_range, stacklevel=3)
    check_bytes("num_betas", 8.0 * n, f"a schedule of {n} betas")
    if n == 1:
        return np.array([b1])
    if schedule == "geometric":
        if b0 <= 0 or b1 <= 0:
            raise InvalidArgumentError(f"beta_range: a geometric schedule needs β > 0, got {beta_range!r}")
        return np.geomspace(b0, b1, n)
    if schedule == "linear":
        return np.linspace(b0, b1, n)
    raise InvalidArgumentError(f"schedule: expected 'geometric', 'linear' or an array of betas, got {schedule!r}")


def _beta_range(beta_range: object, stacklevel: int = 2) -> tuple[float, float]:
    """``(hot, cold)`` as finite floats >= 0; a reversed pair is swapped with a warning."""
    if isinstance(beta_range, (str, bytes, Mapping)) or not isinstance(beta_range, (Sequence, np.ndarray)):
        raise InvalidTypeError(f"beta_range: expected a pair (hot, cold) of floats, got {type(beta_range).__name__}")
    if len(beta_range) != 2:
        raise InvalidArgumentError(f"beta_range: expected a pair (hot, cold), got {len(beta_range)} values")
    b0 = as_float("beta_range", beta_range[0], 0.0)
    b1 = as_float("beta_range", beta_range[1], 0.0)
    if b0 > b1:
        warnings.warn(
            f"beta_range: ({b0:g}, {b1:g}) is (cold, hot); annealing runs from hot (small β) to cold (large β), "
            f"so it was swapped to ({b1:g}, {b0:g})",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
        b0, b1 = b1, b0
    return b0, b1


def batch_means(x: npt.ArrayLike, n_batches: int = 20, axis: int = 0) -> tuple[F64, F64]:
    """Mean and its standard error from ``n_batches`` batch means along ``axis``.

    Returns
    -------
    mean, stderr : ndarray
        Arrays of the shape of ``x`` without ``axis``.
    """
    nb = _posint("n_batches", n_batches, 2)
    a = _finite_array("x", x)
    if np.ndim(x) == 0:
        raise InvalidArgumentError("x: expected an array of samples with at least one axis, got a scalar")
    ax = as_int("axis", axis, -a.ndim, a.ndim - 1)
    a = np.moveaxis(a, ax, 0)
    n_batches = nb
    k = a.shape[0] // n_batches
    if k < 1:
        raise InvalidArgumentError(f"x: need at least n_batches = {n_batches} samples, got {a.shape[0]}")
    # far from 1 the sums and squares would overflow or underflow: work on x / 2^e (exact)
    top = float(np.max(np.abs(a))) if a.size else 0.0
    scale = math.ldexp(1.0, math.frexp(top)[1]) if top > 0 and not 1e-150 < top < 1e150 else 1.0
    if scale != 1.0:
        a = a / scale
    b = a[: k * n_batches].reshape(n_batches, k, *a.shape[1:]).mean(axis=1)
    mean = a.mean(axis=0) * scale
    stderr = b.std(axis=0, ddof=1) / math.sqrt(n_batches) * scale
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(stderr))):
        raise InvalidArgumentError("x: the mean or its standard error exceeds the float64 range (|x| up to 1.8e308)")
    return mean, stderr


@dataclass(frozen=True)
class AnnealResult:
    """Result of :meth:`SpinModel.anneal`.

    Attributes
    ----------
    best_states : ndarray of shape (num_reads, n), int8
        The lowest-energy state each read visited along its schedule (then greedily descended to
        a local minimum when ``polish=True``).
    best_energies : ndarray of shape (num_reads,), float64
        Their energies, recomputed in float64 (offset included).
    final_states, final_energies : ndarray
        The state at the end of each read's schedule and its energy (never polished): what
        dwave-samplers' and OpenJij's samplers return, and what
        :class:`boltzkit.spin.SimulatedAnnealingSampler` puts in its ``SampleSet``.
        ``best_energies <= final_energies`` read by read (up to rounding for float32 couplings).
    betas : ndarray of shape (num_betas,), float64
        The schedule used.
    trace : ndarray of shape (num_reads, num_betas), float64
        Energy after each β step (empty ``(num_reads, 0)`` unless ``trace=True``).
    attempts : int
        Spin-flip attempts per read (``n · num_sweeps``); single-spin kernel only, else 0.
    accepted : ndarray of shape (num_reads,), uint64
        Accepted flips per read (single-spin kernel; zeros otherwise).
    seconds : float
        Wall time of the core call.
    labels : tuple of hashable, optional
        The model's :attr:`SpinModel.labels`: column ``k`` of every state array is spin ``labels[k]``.
    """

    best_states: I8
    best_energies: F64
    final_states: I8
    final_energies: F64
    betas: F64
    trace: F64
    attempts: int
    accepted: npt.NDArray[np.uint64]
    seconds: float
    labels: tuple[Hashable, ...] | None = None

    @property
    def states(self) -> I8:
        """The best state of each read: :attr:`best_states` (not the final one; see :attr:`final_states`)."""
        return self.best_states

    @property
    def energies(self) -> F64:
        """The best energy of each read: :attr:`best_energies` (see :attr:`final_energies`)."""
        return self.best_energies

    @property
    def best_energy(self) -> float:
        """Lowest energy over the reads."""
        return float(self.best_energies.min())

    @property
    def best_state(self) -> I8:
        """State of the lowest energy (first read on ties)."""
        return np.asarray(self.best_states[int(np.argmin(self.best_energies))], dtype=np.int8)

    def flips_per_ns(self) -> float:
        """Spin-flip attempts per nanosecond of wall time (all reads)."""
        return self.attempts * len(self.energies) / (self.seconds * 1e9) if self.seconds > 0 else float("nan")

    def plot_trace(self, ax: Axes | None = None, n: int | None = None) -> Axes:
        """Plot energy (per spin when ``n`` is given) against β step for every read.

        ``ax``: matplotlib Axes (pyplot's current axes when None); returns the axes."""
        from .._plot import axes_or_current

        if self.trace.shape[1] == 0:
            raise InvalidArgumentError("trace: run anneal(..., trace=True) to record it")
        if n is not None:
            n = as_int("n", n, 1, 1 << 40)
        ax = axes_or_current(ax)
        y = self.trace / (n or 1)
        lines = ax.plot(self.betas, y.T, lw=0.7, alpha=0.6)
        lines[0].set_label(f"{len(lines)} read{'s' if len(lines) > 1 else ''}")
        ax.set_xscale("log")
        ax.set_xlabel("β")
        ax.set_ylabel("E / N" if n else "E")
        ax.legend(fontsize=7)
        return ax


@dataclass(frozen=True)
class DescendResult:
    """Result of :meth:`SpinModel.descend`: local minima, their energies and flips used.

    ``labels`` is the model's :attr:`SpinModel.labels` (column ``k`` of ``states`` is spin ``labels[k]``).
    """

    states: I8
    energies: F64
    flips: npt.NDArray[np.uint64]
    labels: tuple[Hashable, ...] | None = None


@dataclass(frozen=True)
class TemperingResult:
    """Result of :meth:`SpinModel.tempering`; column ``k`` always belongs to ``betas[k]``.

    Attributes
    ----------
    betas : ndarray of shape (R,)
    energies, magnetizations : ndarray of shape (n_meas, n_sets, R), float64
        Measurements (energies include the offset; magnetisation per spin).
    overlaps : ndarray of shape (n_meas, n_sets // 2, R), float64
        ``q = s·s'/n`` between ladders ``2k`` and ``2k+1``.
    states : ndarray of shape (n_meas, n_sets, R, n), int8
        Recorded states (first dimension 0 unless ``record_states=True``).
    swap_acceptance : ndarray of shape (R - 1,)
    best_state : ndarray of shape (n,), int8
    best_energy : float
    final_states : ndarray of shape (n_sets, R, n), int8
    n : int
    seconds : float
    labels : tuple of hashable, optional
        The model's :attr:`SpinModel.labels` (the last axis of every state array follows them).
    """

    betas: F64
    energies: F64
    magnetizations: F64
    overlaps: F64
    states: I8
    swap_acceptance: F64
    best_state: I8
    best_energy: float
    final_states: I8
    n: int
    seconds: float
    labels: tuple[Hashable, ...] | None = None

    def mean_energy(self, n_batches: int = 20) -> tuple[F64, F64]:
        """``⟨E⟩`` per β and its batch-means standard error (ladders pooled as independent runs)."""
        return self._pooled(self.energies, n_batches)

    def mean_abs_m(self, n_batches: int = 20) -> tuple[F64, F64]:
        """``⟨|m|⟩`` per β with its standard error."""
        return self._pooled(np.abs(self.magnetizations), n_batches)

    def mean_m2(self, n_batches: int = 20) -> tuple[F64, F64]:
        """``⟨m²⟩`` per β with its standard error."""
        return self._pooled(self.magnetizations**2, n_batches)

    def heat_capacity(self) -> F64:
        """``C = β² Var(E)`` per β (pooled over ladders)."""
        e = self.energies.reshape(-1, len(self.betas))
        return np.asarray(self.betas**2 * e.var(axis=0), dtype=np.float64)

    def binder(self) -> F64:
        """Binder cumulant ``1 − ⟨m⁴⟩ / (3⟨m²⟩²)`` per β (``nan`` where every measured ``m`` is 0)."""
        m = self.magnetizations.reshape(-1, len(self.betas))
        m2, m4 = (m**2).mean(0), (m**4).mean(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(m2 > 0, 1 - m4 / (3 * m2**2), np.nan), dtype=np.float64)

    def q2(self) -> F64:
        """``⟨q²⟩`` per β from the two-replica overlaps."""
        if self.overlaps.shape[1] == 0:
            raise InvalidArgumentError("n_sets: overlaps need n_sets >= 2")
        return np.asarray((self.overlaps**2).reshape(-1, len(self.betas)).mean(0), dtype=np.float64)

    def overlap_histogram(self, k: int, bins: int | None = None) -> tuple[F64, F64]:
        """``P(q)`` at ``betas[k]``: densities and bin edges (default: one bin per q value)."""
        if self.overlaps.shape[1] == 0:
            raise InvalidArgumentError("n_sets: overlaps need n_sets >= 2")
        r = len(self.betas)
        k = as_int("k", k, -r, r - 1)
        if bins is not None:
            bins = as_int("bins", bins, 1, 10**6)
        q = self.overlaps[:, :, k].ravel()
        edges = (np.arange(self.n + 2) * 2 - self.n - 1) / self.n if bins is None else np.linspace(-1, 1, bins + 1)
        hist, e = np.histogram(q, bins=edges, density=True)
        return hist.astype(np.float64), e.astype(np.float64)

    def _pooled(self, x: F64, n_batches: int) -> tuple[F64, F64]:
        means, errs = [], []
        for a in range(x.shape[1]):
            m, s = batch_means(x[:, a, :], n_batches)
            means.append(m)
            errs.append(s)
        mm, ee = np.array(means), np.array(errs)
        k = len(means)
        return mm.mean(0), np.sqrt((ee**2).sum(0)) / k

    def plot(self, axes: Sequence[Axes] | None = None) -> list[Axes]:
        """Energy per spin, |m| and swap acceptance against temperature.

        ``axes``: three matplotlib Axes (a new figure when None); returns them."""
        from .._plot import axes_row_or_new

        _, axes = axes_row_or_new(axes, 3, (12, 3.5))
        t = 1 / self.betas
        e, de = self.mean_energy()
        axes[0].errorbar(t, e / self.n, de / self.n, fmt="o-", ms=3)
        axes[0].set_xlabel("T")
        axes[0].set_ylabel("E / N")
        m, dm = self.mean_abs_m()
        axes[1].errorbar(t, m, dm, fmt="o-", ms=3)
        axes[1].set_xlabel("T")
        axes[1].set_ylabel("⟨|m|⟩")
        axes[2].plot((t[1:] + t[:-1]) / 2, self.swap_acceptance, "o-", ms=3)
        axes[2].set_xlabel("T")
        axes[2].set_ylabel("swap acceptance")
        return axes


@dataclass(frozen=True)
class Enumeration:
    """Exact thermodynamics from :meth:`SpinModel.enumerate_exact`; per-β arrays follow ``betas``.

    Attributes
    ----------
    betas : ndarray of shape (B,)
    ln_z : ndarray of shape (B,)
        ``ln Z(β)`` (the offset included: ``Z = Σ exp(−β(E + offset))``).
    mean_energy, heat_capacity : ndarray of shape (B,)
        ``⟨E⟩`` and ``C = β² Var E`` (whole system, ``k_B = 1``).
    mean_abs_m, mean_m2, mean_m4 : ndarray of shape (B,)
        Moments of ``m = Σ s_i / n``.
    mean_s : ndarray of shape (B, n)
        ``⟨s_i⟩``.
    corr : ndarray of shape (B, n, n)
        ``⟨s_i s_j⟩`` (shape ``(0, n, n)`` unless ``correlations=True``).
    mean_q : ndarray of shape (B,)
        ``⟨q⟩ = Σ⟨s_i⟩²/n`` for two independent replicas.
    mean_q2 : ndarray of shape (B,)
        ``⟨q²⟩ = Σ⟨s_i s_j⟩²/n²`` (empty unless ``correlations=True``).
    q_values : ndarray of shape (n + 1,)
        ``q_k = (2k − n)/n``.
    pq : ndarray of shape (B, n + 1)
        ``P(q_k)`` of two independent replicas (shape ``(0, n+1)`` unless requested).
    lowest_energies : ndarray of shape (k,)
    lowest_states : ndarray of shape (k, n), int8
    ground_energy : float
    degeneracy : int
        Number of ground states (within 1e-9 of the energy scale).
    seconds : float
    """

    betas: F64
    ln_z: F64
    mean_energy: F64
    heat_capacity: F64
    mean_abs_m: F64
    mean_m2: F64
    mean_m4: F64
    mean_s: F64
    corr: F64
    mean_q: F64
    mean_q2: F64
    q_values: F64
    pq: F64
    lowest_energies: F64
    lowest_states: I8
    ground_energy: float
    degeneracy: int
    seconds: float

    @property
    def free_energy(self) -> F64:
        """``F = −ln Z / β`` (``nan`` at β = 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.betas > 0, -self.ln_z / self.betas, np.nan)

    @property
    def entropy(self) -> F64:
        """``S = ln Z + β⟨E⟩``."""
        return np.asarray(self.ln_z + self.betas * self.mean_energy, dtype=np.float64)


@dataclass(frozen=True)
class TapResult:
    """TAP solutions from :meth:`SpinModel.tap`; arrays are ``(n_starts, n_T, …)``.

    Attributes
    ----------
    temperatures : ndarray of shape (n_T,)
    m : ndarray of shape (n_starts, n_T, n)
    iterations : ndarray of shape (n_starts, n_T), uint64
    converged : ndarray of shape (n_starts, n_T), bool
        False where ``max_iter`` was hit (``m`` is then the last iterate; a warning was raised).
    residual : ndarray of shape (n_starts, n_T)
        ``max_i |F(m)_i − m_i|``.
    free_energy : ndarray of shape (n_starts, n_T)
        TAP free energy (offset included).
    q : ndarray of shape (n_starts, n_T)
        ``mean(m²)``.
    onsager : bool
    """

    temperatures: F64
    m: F64
    iterations: npt.NDArray[np.uint64]
    converged: npt.NDArray[np.bool_]
    residual: F64
    free_energy: F64
    q: F64
    onsager: bool

    def best(self, k: int = -1) -> F64:
        """The converged solution of lowest free energy at temperature index ``k`` (shape (n,))."""
        nt = len(self.temperatures)
        k = as_int("k", k, -nt, nt - 1)
        f = np.where(self.converged[:, k], self.free_energy[:, k], np.inf)
        if not np.isfinite(f).any():
            raise InvalidArgumentError("k: no start converged at this temperature")
        return np.asarray(self.m[int(np.argmin(f)), k], dtype=np.float64)


class SpinModel:
    """An Ising model ``E(s) = −Σ_{i<j} J_ij s_i s_j − Σ_i h_i s_i + offset``, ``s_i ∈ {−1, +1}``.

    ``p(s) ∝ exp(−β E(s))``. ``J`` is symmetric with a zero diagonal; the local field is
    ``φ_i = Σ_j J_ij s_j + h_i`` and flipping spin ``i`` costs ``ΔE_i = 2 s_i φ_i``.

    Parameters
    ----------
    J : array_like of shape (n, n), or a scipy.sparse matrix
        Couplings. Must be symmetric (to 1e-10 of ``max|J|``; it is then symmetrised exactly) and
        finite. A dense array is stored dense (row-major); a sparse matrix as CSR.
    h : array_like of shape (n,), optional
        Fields (default zeros).
    offset : float
        Constant added to every energy (what conversions from dimod / QUBO carry).
    dtype : {numpy.float64, numpy.float32}
        Storage of dense couplings for annealing; float32 halves memory traffic. Energies are
        always recomputed in float64 from the float64 couplings.
    diagonal : {"reject", "drop"}
        Since ``s_i² = 1`` a diagonal only adds the constant ``−½ Σ_i J_ii``. It is rejected by
        default (it usually means a wrong matrix); ``"drop"`` zeroes it and adds that constant to
        ``offset``, so energies are unchanged.
    labels : sequence of hashable, optional
        One distinct label per spin (default ``0..n-1``): spin ``k`` is variable ``labels[k]`` of
        the dimod / QUBO conversions, and results name their state columns by them
        (:attr:`labels`).

    Raises
    ------
    InvalidArgumentError
        Non-square, asymmetric or non-finite ``J``; ``h`` of the wrong length or non-finite;
        a nonzero diagonal with ``diagonal="reject"``; labels not distinct or not ``n`` of them.
    """

    n: int
    h: F64
    offset: float
    dtype: np.dtype[Any]
    _labels: tuple[Hashable, ...] | None

    def __init__(
        self,
        J: npt.ArrayLike | sparray | spmatrix,
        h: npt.ArrayLike | None = None,
        *,
        offset: float = 0.0,
        dtype: FloatDtype = np.float64,
        diagonal: Diagonal = "reject",
        labels: Sequence[Hashable] | None = None,
    ) -> None:
        import scipy.sparse as sps

        if diagonal not in ("reject", "drop"):
            raise InvalidArgumentError(f"diagonal: expected 'reject' or 'drop', got {diagonal!r}")
        offset = as_float("offset", offset, -MAX_COUPLING, MAX_COUPLING)
        try:
            dt = np.dtype(dtype)
        except (TypeError, ValueError):
            raise InvalidTypeError(f"dtype: expected float64 or float32, got {dtype!r}") from None
        if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise InvalidTypeError(f"dtype: expected float64 or float32, got {dt}")
        self.offset = float(offset)
        self.dtype = dt
        self._layers: tuple[list[F64], list[int]] | None = None
        self._dense: F64 | None = None
        self._csr: csr_array[np.float64] | None = None
        self._j32: npt.NDArray[np.float32] | None = None
        if sps.issparse(J):
            jdt = np.dtype(getattr(J, "dtype", np.float64))
            if jdt.kind not in "biuf":
                raise InvalidTypeError(f"J: expected a sparse matrix of real numbers, got dtype {jdt}")
            m = sps.csr_array(J, dtype=np.float64)
            if m.ndim != 2 or m.shape[0] != m.shape[1]:
                raise InvalidArgumentError(f"J: expected a square matrix, got shape {m.shape}")
            _finite_array("J", m.data, limit=MAX_COUPLING)
            d = m.diagonal()
            if np.any(d != 0):
                if diagonal == "reject":
                    raise InvalidArgumentError("J: the diagonal must be zero (it only adds a constant); pass diagonal='drop'")
                self.offset -= 0.5 * float(d.sum())
                m = m - sps.diags_array(d, format="csr")
            asym = abs(m - m.T)
            amax = float(abs(m).max()) if m.nnz else 0.0
            if asym.nnz and float(asym.max()) > 1e-10 * amax:
                raise InvalidArgumentError("J: must be symmetric")
            m = sps.csr_array((m + m.T) / 2)
            m.eliminate_zeros()
            m.sum_duplicates()
            m.sort_indices()
            self._csr = m
            self.n = int(m.shape[0])
        else:
            a = _finite_array("J", J, limit=MAX_COUPLING)
            if a.ndim != 2 or a.shape[0] != a.shape[1]:
                raise InvalidArgumentError(f"J: expected a square (n, n) matrix, got shape {a.shape}")
            if a.shape[0] == 0:
                raise InvalidArgumentError("J: the model has no spins")
            d = np.diag(a).copy()
            if np.any(d != 0):
                if diagonal == "reject":
                    raise InvalidArgumentError("J: the diagonal must be zero (it only adds a constant); pass diagonal='drop'")
                self.offset -= 0.5 * float(d.sum())
                a = a.copy()
                np.fill_diagonal(a, 0.0)
            amax = float(np.abs(a).max()) if a.size else 0.0
            if a.size and float(np.abs(a - a.T).max()) > 1e-10 * amax:
                i, j = np.unravel_index(int(np.argmax(np.abs(a - a.T))), a.shape)
                raise InvalidArgumentError(f"J: must be symmetric; J[{i},{j}] = {a[i, j]} but J[{j},{i}] = {a[j, i]}")
            self._dense = np.ascontiguousarray((a + a.T) / 2)
            self.n = int(a.shape[0])
        if self.n == 0:
            raise InvalidArgumentError("J: the model has no spins")
        if self.dtype == np.float32 and self._dense is not None:
            nz = np.abs(self._dense[self._dense != 0])
            if nz.size and (float(nz.max()) > 1e30 or float(nz.min()) < 1e-30):
                warnings.warn(
                    f"dtype: couplings from {float(nz.min()):g} to {float(nz.max()):g} do not fit float32 "
                    "(overflow or underflow); storing them as float64 instead",
                    UserWarning,
                    stacklevel=2,
                )
                self.dtype = np.dtype(np.float64)
        self.h = self._fields(h)
        self._labels = _check_labels(labels, self.n)

    def _fields(self, h: npt.ArrayLike | None) -> F64:
        if h is None:
            return np.zeros(self.n)
        hv = _finite_array("h", h, limit=MAX_COUPLING)
        if hv.shape != (self.n,):
            raise InvalidArgumentError(f"h: expected shape ({self.n},) to match J, got {hv.shape}")
        return hv

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_layers(
        cls,
        weights: Sequence[npt.ArrayLike],
        biases: Sequence[npt.ArrayLike] | None = None,
        *,
        include_input: bool = True,
        input_pattern: npt.ArrayLike | None = None,
        use_biases: bool = False,
        scale: float = 1.0,
        labels: Sequence[Hashable] | None = None,
    ) -> SpinModel:
        """The spin model of a multilayer network (spec §2).

        One spin per neuron of every layer; neuron ``j`` of layer ``l`` and neuron ``i`` of layer
        ``l+1`` are coupled by ``scale · W_l[i, j]``; no couplings inside a layer. Continuous and
        binarised networks map the same way: pass the weights the activations see (e.g. the sign
        of binarised weights).

        Parameters
        ----------
        weights : sequence of array_like of shape (n_{l+1}, n_l)
            Weight matrices in PyTorch's (out, in) layout, input layer first.
        biases : sequence of array_like of shape (n_{l+1},), optional
            Biases of layers 1..L; used as fields only when ``use_biases=True``.
        include_input : bool
            Keep one spin per input neuron (default). ``False`` drops the input layer: the first
            matrix then only matters through ``input_pattern``.
        input_pattern : array_like of shape (n_0,), optional
            With ``include_input=False``, clamp the input layer to this pattern; its couplings
            become fields ``scale · W_0 @ pattern`` on layer 1 (zero fields when not given).
        use_biases : bool
            Use the biases as fields (default False: the replica T_c assumes zero field).
        scale : float
            Factor applied to every coupling and field (no other rescaling happens).
        labels : sequence of hashable, optional
            One label per spin, layer by layer (default ``0..n-1``); see :attr:`labels`.

        Returns
        -------
        SpinModel
            Stored by layers (whole-layer kernel available); ``J`` builds the dense matrix.
        """
        scale = as_float("scale", scale)
        include_input = as_bool("include_input", include_input)
        use_biases = as_bool("use_biases", use_biases)
        if isinstance(weights, (np.ndarray, str, bytes, Mapping)) or not isinstance(weights, Sequence):
            raise InvalidTypeError(f"weights: expected a list of 2-d weight matrices, got {type(weights).__name__}")
        if len(weights) == 0:
            raise InvalidArgumentError("weights: expected a non-empty list of 2-d weight matrices")
        if biases is not None and (isinstance(biases, (np.ndarray, str, bytes, Mapping)) or not isinstance(biases, Sequence)):
            raise InvalidTypeError(f"biases: expected a list of 1-d bias vectors, got {type(biases).__name__}")
        ws = []
        for k, w in enumerate(weights):
            wk = _finite_array(f"weights[{k}]", w, 2)
            with np.errstate(over="ignore"):
                ws.append(_finite_array("scale", wk * scale, limit=MAX_COUPLING))
        for k in range(1, len(ws)):
            if ws[k].shape[1] != ws[k - 1].shape[0]:
                raise InvalidArgumentError(
                    f"weights[{k}]: expected {ws[k - 1].shape[0]} input columns to match weights[{k - 1}], "
                    f"got shape {ws[k].shape}"
                )
        widths = [ws[0].shape[1]] + [w.shape[0] for w in ws]
        if min(widths) == 0:
            raise InvalidArgumentError("weights: every layer needs at least one neuron")
        hs = [np.zeros(n) for n in widths]
        if biases is not None:
            if len(biases) != len(ws):
                raise InvalidArgumentError(f"biases: expected {len(ws)} vectors, got {len(biases)}")
            for k, b in enumerate(biases):
                bv = _finite_array(f"biases[{k}]", b, 1, limit=MAX_COUPLING)
                if bv.shape != (widths[k + 1],):
                    raise InvalidArgumentError(f"biases[{k}]: expected shape ({widths[k + 1]},), got {bv.shape}")
                if use_biases:
                    hs[k + 1] = hs[k + 1] + float(scale) * bv
        if not include_input:
            if input_pattern is not None:
                x = _finite_array("input_pattern", input_pattern, 1, limit=MAX_COUPLING)
                if x.shape != (widths[0],):
                    raise InvalidArgumentError(f"input_pattern: expected shape ({widths[0]},), got {x.shape}")
                with np.errstate(over="ignore", invalid="ignore"):
                    hs[1] = _finite_array("input_pattern", hs[1] + ws[0] @ x, limit=MAX_COUPLING)
            ws, widths, hs = ws[1:], widths[1:], hs[1:]
            if not ws:
                raise InvalidArgumentError("include_input: dropping the input of a one-layer network leaves no couplings")
        elif input_pattern is not None:
            raise InvalidArgumentError("input_pattern: only used with include_input=False")
        self = cls.__new__(cls)
        self.offset = 0.0
        self.dtype = np.dtype(np.float64)
        self._layers = ([np.ascontiguousarray(w) for w in ws], widths)
        self._dense = None
        self._csr = None
        self._j32 = None
        self.n = int(sum(widths))
        self.h = np.concatenate(hs)
        self._labels = _check_labels(labels, self.n)
        return self

    @classmethod
    def _offset_only(cls, offset: float, dtype: Any = np.float64) -> SpinModel:
        """A model without spins whose only energy is ``offset`` (what an offset-only BQM becomes)."""
        self = cls.__new__(cls)
        self.offset = float(offset)
        self.dtype = np.dtype(dtype)
        self._layers = None
        self._dense = np.zeros((0, 0))
        self._csr = None
        self._j32 = None
        self.n = 0
        self.h = np.zeros(0)
        self._labels = None
        return self

    # ----------------------------------------------------------------- labels
    @property
    def labels(self) -> list[Hashable]:
        """The variable label of every spin, in spin order (default ``[0, 1, …, n-1]``).

        Conversions use them (``to_bqm``, ``to_ising_dicts``, ``to_qubo(format="dict")``; ``from_bqm``,
        ``from_ising`` and ``from_qubo`` set them) and result objects carry them as ``labels``:
        column ``k`` of a state array is variable ``labels[k]``.
        """
        return list(range(self.n)) if self._labels is None else list(self._labels)

    def with_labels(self, labels: Sequence[Hashable] | None) -> SpinModel:
        """A copy sharing the couplings, with new labels (``None``: ``0..n-1``)."""
        import copy

        out = copy.copy(self)
        out._labels = _check_labels(labels, self.n)
        return out

    def _label_tuple(self) -> tuple[Hashable, ...]:
        return tuple(range(self.n)) if self._labels is None else self._labels

    # ----------------------------------------------------------------- storage
    @property
    def storage(self) -> Storage:
        """How the couplings are stored."""
        if self._layers is not None:
            return "layered"
        return "csr" if self._csr is not None else "dense"

    @property
    def widths(self) -> list[int]:
        """Layer widths of a model built by :meth:`from_layers`."""
        if self._layers is None:
            raise InvalidArgumentError("model: not a layered model (build it with SpinModel.from_layers)")
        return list(self._layers[1])

    @property
    def layer_weights(self) -> list[F64]:
        """The blocks ``W_l`` (``(n_{l+1}, n_l)``) of a layered model."""
        if self._layers is None:
            raise InvalidArgumentError("model: not a layered model (build it with SpinModel.from_layers)")
        return list(self._layers[0])

    @property
    def J(self) -> F64:
        """Dense couplings, shape (n, n), float64 (built on first use for sparse / layered storage)."""
        if self._dense is None:
            if self._csr is not None:
                self._dense = np.ascontiguousarray(self._csr.toarray())
            else:
                self._dense = self._layered_dense()
        return self._dense

    def to_dense(self) -> F64:
        """The dense coupling matrix (a copy), shape (n, n)."""
        return self.J.copy()

    def to_csr(self) -> csr_array[np.float64]:
        """The couplings as a ``scipy.sparse.csr_array``."""
        import scipy.sparse as sps

        if self._csr is not None:
            return self._csr.copy()
        if self._layers is not None:
            ws, widths = self._layers
            off = np.concatenate([[0], np.cumsum(widths)])
            rows, cols, vals = [], [], []
            for k, w in enumerate(ws):
                r, c = np.nonzero(w)
                rows += [off[k + 1] + r, off[k] + c]
                cols += [off[k] + c, off[k + 1] + r]
                vals += [w[r, c], w[r, c]]
            m = sps.coo_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(self.n, self.n))
            return sps.csr_array(m)
        return sps.csr_array(self.J)

    def _layered_dense(self) -> F64:
        assert self._layers is not None
        if self.n > 40_000:
            raise InvalidArgumentError(f"model: n = {self.n} is too large for a dense matrix; use to_csr()")
        ws, widths = self._layers
        off = np.concatenate([[0], np.cumsum(widths)])
        j = np.zeros((self.n, self.n))
        for k, w in enumerate(ws):
            j[off[k + 1] : off[k + 2], off[k] : off[k + 1]] = w
            j[off[k] : off[k + 1], off[k + 1] : off[k + 2]] = w.T
        return j

    def _need_spins(self) -> None:
        if self.n == 0:
            raise InvalidArgumentError(
                "model: has no spins (only an offset); only energy() and the conversions accept such a model"
            )

    def _spec(self, for_anneal: bool = False) -> tuple[Any, ...]:
        self._need_spins()
        if self._layers is not None:
            return ("layered", list(self._layers[1]), list(self._layers[0]), self.h)
        if self._csr is not None:
            m = self._csr
            return ("csr", m.indptr.astype(np.int64), m.indices.astype(np.int64), np.ascontiguousarray(m.data), self.h)
        if for_anneal and self.dtype == np.float32:
            if self._j32 is None:
                self._j32 = np.ascontiguousarray(self.J.astype(np.float32))
            return ("dense32", self._j32, self.h)
        return ("dense", self.J, self.h)

    def __repr__(self) -> str:
        lab = "" if self._labels is None else ", labelled"
        return f"SpinModel(n={self.n}, storage={self.storage!r}, dtype={self.dtype.name}, offset={self.offset:g}{lab})"

    # ----------------------------------------------------------------- energies
    def energy(self, states: npt.ArrayLike, *, threads: int | None = None) -> Any:
        """Energies of states.

        Parameters
        ----------
        states : array_like of shape (n,) or (k, n)
            Spins ±1 (any integer or float dtype holding ±1).

        Returns
        -------
        float or ndarray of shape (k,), float64
        """
        single = np.ndim(states) == 1
        s = _states("states", states, self.n)
        if self.n == 0:
            e = np.full(s.shape[0], self.offset)
        else:
            e = _core.spin_energies(self._spec(), s, resolve_threads(threads)) + self.offset
        return float(e[0]) if single else e

    def local_fields(self, states: npt.ArrayLike, *, threads: int | None = None) -> F64:
        """Local fields ``φ = J s + h``, shape (n,) or (k, n)."""
        self._need_spins()
        single = np.ndim(states) == 1
        s = _states("states", states, self.n)
        f = _core.spin_local_fields(self._spec(), s, resolve_threads(threads))
        return f[0] if single else f

    # ----------------------------------------------------------------- annealing
    def default_beta_range(self) -> tuple[float, float]:
        """The default annealing range ``(β_hot, β_cold)``.

        ``T_hot = 1/β_hot = 2 (λ_max(J) + max_i |h_i|)``: twice the mean-field critical
        temperature (the paramagnet ``m = 0`` of naive mean field loses stability at
        ``T = λ_max(J)``, and the true ``T_c`` of ferromagnets, spin glasses and network models lies
        below it), so every read starts well inside the paramagnetic phase without wasting sweeps
        far above it. ``β_cold = ln(10⁴) / median_i σ_i`` with ``σ_i = sqrt(Σ_j J_ij² + h_i²)``, the
        typical size of a local field: a flip that costs ``ΔE = σ_i`` is accepted with probability
        1e-4, so the last sweeps are a near-greedy quench. Both values are rounded to three
        significant digits (so the schedule does not depend on the last bits of the eigensolver).

        For SK couplings ``N(0, 1/N)`` this gives about ``(0.25, 9.2)`` at any N (``λ_max → 2``,
        ``σ → 1``); the rule does not look at the smallest coupling (dwave-samplers' cold rule, which
        gives absurdly cold β for Gaussian couplings) nor at the worst-case field ``Σ_j |J_ij|``
        (which makes ``β_hot`` shrink like ``N^{-1/2}`` for SK and spends most sweeps of a geometric
        schedule deep in the paramagnet: 0.013 at N = 1000). Computed once per model and cached.
        """
        self._need_spins()
        cached: tuple[float, float] | None = getattr(self, "_default_br", None)
        if cached is not None:
            return cached
        self._default_br = self._compute_default_beta_range()
        return self._default_br

    def _coupling_scale(self, fields: bool = True) -> float:
        """``max(max|J_ij|, max|h_i|)``: every T and 1/β of the model is proportional to it."""
        if self._layers is not None:
            js = [float(np.abs(w).max()) if w.size else 0.0 for w in self._layers[0]]
        elif self._csr is not None:
            js = [float(np.abs(self._csr.data).max()) if self._csr.nnz else 0.0]
        else:
            js = [float(np.abs(self.J).max())]
        s = max([*js, float(np.abs(self.h).max()) if self.h.size and fields else 0.0])
        # A power of two, so dividing by it is exact (results bit-identical to the unscaled ones).
        return math.ldexp(1.0, math.frexp(s)[1]) if s > 0 else 0.0

    def _scaled_spec(self, scale: float) -> tuple[Any, ...]:
        """The core's model spec with couplings and fields divided by ``scale``."""
        spec = self._spec()
        if spec[0] == "layered":
            return ("layered", spec[1], [np.ascontiguousarray(w / scale) for w in spec[2]], spec[3] / scale)
        if spec[0] == "csr":
            return ("csr", spec[1], spec[2], np.ascontiguousarray(spec[3] / scale), spec[4] / scale)
        return ("dense", np.ascontiguousarray(spec[1] / scale), spec[2] / scale)

    def _nnz(self) -> int:
        """Stored couplings (the work of one pass over J)."""
        if self._layers is not None:
            return max(1, 2 * sum(int(w.size) for w in self._layers[0]))
        if self._csr is not None:
            return max(1, int(self._csr.nnz))
        return self.n * self.n

    def _compute_default_beta_range(self) -> tuple[float, float]:
        # Scale-aware: the rule is homogeneous of degree -1 in (J, h), so it runs on (J, h)/scale
        # (no overflow of J**2 from 1e155 up, no underflow for tiny couplings) and divides back.
        scale = self._coupling_scale()
        if scale <= 0:
            return (0.1, 10.0)
        if self.storage != "dense":
            m = self.to_csr() / scale
            sq: F64 = np.asarray(m.multiply(m).sum(axis=1)).ravel()
        else:
            sq = ((self.J / scale) ** 2).sum(axis=1)
        hs = self.h / scale
        sigma = float(np.median(np.sqrt(sq + hs**2)))
        top = max(self._top_eigenvalue() / scale, 0.0) + float(np.max(np.abs(hs)))
        if top <= 0 or sigma <= 0:
            return (0.1 / scale, 10.0 / scale)

        def r3(x: float) -> float:
            return float(f"{x:.3g}")

        hot, cold = r3(1.0 / (2.0 * top) / scale), r3(math.log(1e4) / sigma / scale)
        if not (math.isfinite(hot) and math.isfinite(cold) and hot > 0 and cold > 0):
            raise InvalidArgumentError(
                f"beta_range: no default for couplings of scale {scale:g} (β would be {hot:g} … {cold:g}); pass beta_range"
            )
        return (hot, cold)

    def _top_eigenvalue(self) -> float:
        """Largest eigenvalue of ``J`` (dense LAPACK for small n, Lanczos with a fixed start above)."""
        import scipy.linalg as sla
        import scipy.sparse.linalg as spla

        n = self.n
        if n <= 400:
            return float(sla.eigh(self.J, eigvals_only=True, subset_by_index=[n - 1, n - 1])[0])
        a: Any = self.J if self.storage == "dense" else self.to_csr()
        v0 = np.random.default_rng(0).standard_normal(n)
        return float(spla.eigsh(a, k=1, which="LA", v0=v0, tol=1e-4, return_eigenvectors=False)[0])

    def anneal(
        self,
        num_reads: int = 8,
        num_sweeps: int = 1000,
        *,
        beta_range: tuple[float, float] | None = None,
        schedule: Schedule | RealArray = "geometric",
        num_sweeps_per_beta: int = 1,
        proposal: Proposal = "metropolis",
        order: SweepOrder = "sequential",
        kernel: Kernel = "single",
        initial_states: npt.ArrayLike | None = None,
        polish: bool = False,
        trace: bool = False,
        seed: int = 0,
        threads: int | None = None,
        progress: bool | None = None,
    ) -> AnnealResult:
        """Simulated annealing, one independent read per random stream (rayon over reads).

        Parameters
        ----------
        num_reads : int
            Independent runs.
        num_sweeps : int
            Sweeps per read (``n`` spin-flip attempts each); the schedule has
            ``num_sweeps // num_sweeps_per_beta`` values.
        beta_range : (float, float), optional
            Hot and cold β; default :meth:`default_beta_range`.
        schedule : {"geometric", "linear"} or array_like
            Spacing of β, or an explicit array of β values (then ``num_sweeps`` is ignored and
            each value is used for ``num_sweeps_per_beta`` sweeps). A constant array samples the
            Boltzmann distribution at that β.
        num_sweeps_per_beta : int
            Sweeps at each β.
        proposal : {"metropolis", "heat_bath"}
            Acceptance ``min(1, e^{−βΔE})`` or ``1/(1 + e^{βΔE})``.
        order : {"sequential", "random"}
            Spin order within a sweep.
        kernel : {"single", "layered"}
            Single-spin moves on the dense / sparse / layered couplings, or whole-layer heat-bath
            sweeps (layered models only; ``proposal`` and ``order`` do not apply).
        initial_states : array_like of shape (num_reads, n), optional
            Start states (default: uniformly random).
        polish : bool
            Finish every read with greedy descent from its best state.
        trace : bool
            Record the energy after each β step.
        seed : int
            Read ``r`` uses random stream ``(seed, r)``: results do not depend on ``threads``.
        threads : int, optional
            Worker threads (default: the cores available); results do not depend on it.
        progress : bool, optional
            A progress bar (sweeps of all reads); default: shown when stderr is a terminal.

        Returns
        -------
        AnnealResult
        """
        self._need_spins()
        nr = _posint("num_reads", num_reads)
        spb = _posint("num_sweeps_per_beta", num_sweeps_per_beta)
        do_polish = as_bool("polish", polish)
        do_trace = as_bool("trace", trace)
        if kernel not in ("single", "layered"):
            raise InvalidArgumentError(f"kernel: expected 'single' or 'layered', got {kernel!r}")
        if kernel == "single" and proposal not in ("metropolis", "heat_bath"):
            raise InvalidArgumentError(f"proposal: expected 'metropolis' or 'heat_bath', got {proposal!r}")
        if kernel == "single" and order not in ("sequential", "random"):
            raise InvalidArgumentError(f"order: expected 'sequential' or 'random', got {order!r}")
        if isinstance(schedule, str):
            ns = _posint("num_sweeps", num_sweeps)
            nb = max(1, ns // spb)
            name = "num_sweeps"
        else:
            betas = _betas("schedule", schedule)
            nb, name = len(betas), "schedule"
        steps = nr * nb * spb * self.n
        biggest = max((nr, "num_reads"), (nb, name), (spb, "num_sweeps_per_beta"))[1]
        check_steps(biggest, steps, f"{nr} reads x {nb * spb} sweeps x {self.n} spins")
        check_bytes(
            "num_reads", 8.0 * nb + nr * self.n * 4.0 + (8.0 * nr * nb if do_trace else 0.0),
            f"{nr} reads of {self.n} spins" + (f" with a trace of {nb} energies each" if do_trace else ""),
        )  # fmt: skip
        if isinstance(schedule, str):
            br = self.default_beta_range() if beta_range is None else _beta_range(beta_range, stacklevel=2)
            betas = beta_schedule(br, nb, schedule)
        elif beta_range is not None:
            raise InvalidArgumentError("beta_range: not used with an explicit schedule array; pass one or the other")
        init = None if initial_states is None else _states("initial_states", initial_states, self.n)
        if init is not None and init.shape[0] != nr:
            raise InvalidArgumentError(f"initial_states: expected {nr} states (one per read), got {init.shape[0]}")
        sd = _seed(seed)
        th = resolve_threads(threads)
        t0 = time.perf_counter()
        if kernel == "layered" and self._layers is None:
            raise InvalidArgumentError("kernel: 'layered' needs a model built with SpinModel.from_layers")
        spec = self._spec(kernel != "layered")
        with counter(progress, "anneal", "sweep") as report:
            if kernel == "layered":
                r = _core.spin_anneal_layered(self._spec(), betas, spb, nr, init, sd, do_trace, th, report)
                r["accepted"] = np.zeros(nr, dtype=np.uint64)
                r["attempts"] = 0
            else:
                r = _core.spin_anneal(spec, betas, spb, nr, proposal, order, init, sd, do_trace, th, report)
        dt = time.perf_counter() - t0
        states = r["best_states"]
        if do_polish:
            states, _, _ = _core.spin_descend(self._spec(), states, th)
        # The core recomputes both energies from the states (not the running sums) with the
        # couplings it ran on: exactly `spin_energies` unless those were the float32 copy.
        same = kernel != "layered" and spec[0] != "dense32"
        exact = (r["best_energies"] if same and not do_polish else _core.spin_energies(self._spec(), states, th)) + self.offset
        final_e = (r["final_energies"] if same else _core.spin_energies(self._spec(), r["final_states"], th)) + self.offset
        if not (np.all(np.isfinite(exact)) and np.all(np.isfinite(final_e)) and np.all(np.isfinite(r["trace"]))):
            raise ComputationError("anneal: the energies are not finite")
        return AnnealResult(
            best_states=states,
            best_energies=exact,
            final_states=r["final_states"],
            final_energies=final_e,
            betas=betas,
            trace=r["trace"] + self.offset,
            attempts=int(r["attempts"]),
            accepted=r["accepted"],
            seconds=dt,
            labels=self._label_tuple(),
        )

    def descend(self, states: npt.ArrayLike, *, threads: int | None = None) -> DescendResult:
        """Greedy steepest descent to a single-flip local minimum from every state.

        Parameters
        ----------
        states : array_like of shape (k, n) or (n,)

        Returns
        -------
        DescendResult
            States in which every ``ΔE_i ≥ 0``, their energies and the flips used.
        """
        self._need_spins()
        s = _states("states", states, self.n)
        st, e, k = _core.spin_descend(self._spec(), s, resolve_threads(threads))
        return DescendResult(st, e + self.offset, k, self._label_tuple())

    def tempering(
        self,
        betas: npt.ArrayLike,
        num_sweeps: int = 10_000,
        *,
        burn_in: int | None = None,
        thin: int = 1,
        n_sets: int = 2,
        proposal: Proposal = "metropolis",
        record_states: bool = False,
        seed: int = 0,
        threads: int | None = None,
        progress: bool | None = None,
    ) -> TemperingResult:
        """Parallel tempering on a ladder of β with ``n_sets`` independent ladders.

        Each round every replica makes one sweep at its β; then neighbours ``(k, k+1)`` (even
        ``k`` on even rounds, odd on odd rounds) exchange states with probability
        ``min(1, exp((β_k − β_{k+1})(E_k − E_{k+1})))``.

        Parameters
        ----------
        betas : array_like of shape (R,)
            The ladder (e.g. ``np.geomspace(0.1, 2, 16)``).
        num_sweeps : int
            Measured rounds.
        burn_in : int, optional
            Discarded rounds (default ``num_sweeps // 10``).
        thin : int
            Measure every ``thin`` rounds.
        n_sets : int
            Independent ladders; pairs ``(2k, 2k+1)`` give overlaps ``q`` (default 2).
        record_states : bool
            Keep every measured state (``n_meas × n_sets × R × n`` int8).
        progress : bool, optional
            A progress bar (rounds); default: shown when stderr is a terminal.

        Returns
        -------
        TemperingResult

        Warns
        -----
        RuntimeWarning
            When some neighbour pair of the ladder exchanged in under 0.5 % of at least 50 attempts
            (the ladder is too sparse there: the replicas do not mix, so the measurements at the cold
            end are not equilibrium averages).

        Raises
        ------
        InvalidArgumentError
            An unsorted ladder (swaps between non-neighbouring temperatures are rarely accepted).
        """
        self._need_spins()
        b = _betas("betas", betas)
        if b.size > 1:
            d = np.diff(b)
            if not (np.all(d >= 0) or np.all(d <= 0)):
                raise InvalidArgumentError(
                    "betas: the ladder must be sorted (increasing or decreasing); swaps between neighbours of an "
                    "unsorted ladder are rarely accepted. Pass np.sort(betas)"
                )
        ns = _posint("num_sweeps", num_sweeps)
        bi = ns // 10 if burn_in is None else _posint("burn_in", burn_in, 0)
        th_ = _posint("thin", thin)
        nsets = _posint("n_sets", n_sets, 1, 1024)
        rec = as_bool("record_states", record_states)
        if proposal not in ("metropolis", "heat_bath"):
            raise InvalidArgumentError(f"proposal: expected 'metropolis' or 'heat_bath', got {proposal!r}")
        sd = _seed(seed)
        slots = nsets * b.size
        what = f"{slots} replicas ({nsets} ladders x {b.size} betas) of {self.n} spins"
        check_steps("burn_in" if bi > ns else "num_sweeps", (bi + ns) * slots * self.n, f"{bi + ns} rounds of {what}")
        n_meas = ns // th_
        if rec:
            check_bytes("record_states", float(n_meas) * slots * self.n, f"{n_meas} recorded states of {what}")
        check_bytes("num_sweeps", 24.0 * n_meas * slots, f"{n_meas} measurements of {what}")
        t0 = time.perf_counter()
        with counter(progress, "tempering", "round") as report:
            r = _core.spin_tempering(
                self._spec(), b, nsets, ns, bi, th_, proposal, rec, sd, resolve_threads(threads), report,
            )  # fmt: skip
        dt = time.perf_counter() - t0
        for key in ("energies", "magnetizations", "overlaps", "swap_acceptance"):
            if not np.all(np.isfinite(r[key])):
                raise ComputationError(f"tempering: the {key} are not finite")
        acc = np.asarray(r["swap_acceptance"])
        if acc.size and (ns + bi) * nsets >= 100 and float(acc.min()) < 0.005:
            k = int(np.argmin(acc))
            warnings.warn(
                f"tempering: swaps between betas[{k}] = {b[k]:g} and betas[{k + 1}] = {b[k + 1]:g} were accepted "
                f"{float(acc[k]):.2%} of the time; the ladder is too sparse there (add betas between them)",
                RuntimeWarning,
                stacklevel=2,
            )
        return TemperingResult(
            betas=b,
            energies=r["energies"] + self.offset,
            magnetizations=r["magnetizations"],
            overlaps=r["overlaps"],
            states=r["states"],
            swap_acceptance=r["swap_acceptance"],
            best_state=r["best_state"],
            best_energy=float(r["best_energy"]) + self.offset,
            final_states=r["final_states"],
            n=self.n,
            seconds=dt,
            labels=self._label_tuple(),
        )

    def enumerate_exact(
        self,
        betas: npt.ArrayLike = (1.0,),
        *,
        n_lowest: int = 16,
        correlations: bool = False,
        overlap_distribution: bool = False,
        threads: int | None = None,
        progress: bool | None = None,
    ) -> Enumeration:
        """Exact thermodynamics by visiting all ``2^n`` states (Gray code; ``n ≤ 26``).

        Parameters
        ----------
        betas : array_like of shape (B,)
            Inverse temperatures (≥ 0).
        n_lowest : int
            How many lowest-energy states to return.
        correlations : bool
            Also ``⟨s_i s_j⟩`` and ``⟨q²⟩`` (``O(n)`` more work per state and β).
        overlap_distribution : bool
            Also the two-replica ``P(q)`` (``n ≤ 22``; a Walsh–Hadamard transform of ``p``).
        progress : bool, optional
            A progress bar (blocks of states); default: shown when stderr is a terminal.

        Returns
        -------
        Enumeration

        Raises
        ------
        InvalidArgumentError
            ``n > 26`` (or ``n > 22`` with ``overlap_distribution``), bad β.
        """
        self._need_spins()
        if self.n > ENUMERATE_MAX_N:
            raise InvalidArgumentError(f"n: exact enumeration is limited to n <= {ENUMERATE_MAX_N} spins, got {self.n}")
        b = _betas("betas", np.atleast_1d(_finite_array("betas", betas)))
        nl = _posint("n_lowest", n_lowest, 1, 1 << 16)
        corr = as_bool("correlations", correlations)
        pq = as_bool("overlap_distribution", overlap_distribution)
        if pq and self.n > _PQ_MAX_N:
            raise InvalidArgumentError(
                f"overlap_distribution: P(q) is limited to n <= {_PQ_MAX_N} spins, got a model of {self.n}"
            )
        nb = int(b.size)
        scale = self._coupling_scale()
        if scale > 0 and float(b.max()) * scale > 1e150:
            raise InvalidArgumentError(
                f"betas: every β must be at most {1e150 / scale:g} for couplings of scale {scale:g} "
                f"(β·E must stay representable), got {float(b.max()):g}"
            )
        check_steps("betas", (2**self.n) * nb * (self.n if corr else 1), f"enumerating 2^{self.n} states at {nb} betas")
        check_bytes("betas", 8.0 * nb * (self.n + 8 + (self.n * self.n if corr else 0) + (self.n + 1 if pq else 0)),
                    f"the results at {nb} betas")  # fmt: skip
        t0 = time.perf_counter()
        with counter(progress, f"enumerate 2^{self.n}", "block") as report:
            r = _core.spin_enumerate(self._spec(), b, nl, corr, pq, resolve_threads(threads), report)
        dt = time.perf_counter() - t0
        for key in ("ln_z", "mean_energy", "heat_capacity", "mean_s", "corr", "mean_q2", "pq", "lowest_energies"):
            if not np.all(np.isfinite(r[key])):
                raise ComputationError(f"enumerate_exact: {key} is not finite at these betas; use smaller betas")
        tiny = 1e-9
        sane = (
            (r["pq"].size == 0 or bool(np.all(np.abs(r["pq"].sum(axis=1) - 1) <= tiny)))
            and bool(np.all(r["heat_capacity"] >= -tiny * (1 + r["mean_energy"] ** 2 * b**2)))
            and all(bool(np.all((r[k] >= -tiny) & (r[k] <= 1 + tiny))) for k in ("mean_abs_m", "mean_m2", "mean_m4", "mean_q"))
        )
        if not sane:
            raise ComputationError(
                f"enumerate_exact: at β·|J| up to {float(b.max()) * scale:.3g} the Boltzmann weights lose precision "
                "(probabilities do not sum to 1); use smaller betas"
            )
        return Enumeration(
            betas=b,
            ln_z=r["ln_z"] - b * self.offset,
            mean_energy=r["mean_energy"] + self.offset,
            heat_capacity=r["heat_capacity"],
            mean_abs_m=r["mean_abs_m"],
            mean_m2=r["mean_m2"],
            mean_m4=r["mean_m4"],
            mean_s=r["mean_s"],
            corr=r["corr"],
            mean_q=r["mean_q"],
            mean_q2=r["mean_q2"],
            q_values=(2 * np.arange(self.n + 1) - self.n) / self.n,
            pq=r["pq"],
            lowest_energies=r["lowest_energies"] + self.offset,
            lowest_states=r["lowest_states"],
            ground_energy=float(r["ground_energy"]) + self.offset,
            degeneracy=int(r["degeneracy"]),
            seconds=dt,
        )

    def tap(
        self,
        T: float | npt.ArrayLike,
        *,
        damping: float = 0.5,
        onsager: bool = True,
        init: TapInit | RealArray = "random",
        n_starts: int = 1,
        noise: float = 1e-3,
        tol: float = 1e-10,
        max_iter: int = 10_000,
        seed: int = 0,
        threads: int | None = None,
        progress: bool | None = None,
        warn: bool = True,
        solver: TapSolver = "iterate",
    ) -> TapResult:
        """Solve the TAP equations by damped iteration, annealed over the temperatures ``T``.

        ``m_i = tanh(β h_i + β Σ_j J_ij m_j − β² m_i Σ_j J_ij² (1 − m_j²))`` (the last term is the
        Onsager reaction; ``onsager=False`` gives naive mean field), iterated as
        ``m ← (1 − γ) m + γ F(m)`` until ``max|F(m) − m| < tol``.

        Parameters
        ----------
        T : float or array_like of shape (n_T,)
            Temperatures, solved in the given order (use decreasing T to anneal), each warm-started
            from the previous solution.
        damping : float
            ``γ ∈ (0, 1]``.
        init : {"random", "eigen", "zeros"} or array_like of shape (n_starts, n)
            ``"random"``: ``noise · N(0, 1)`` around zero (glass search); ``"eigen"``: ``±0.5 ·
            √n · v₁`` (clipped), alternating sign over starts, with ``v₁`` the top eigenvector of J
            plus the same noise (hidden-order search); ``"zeros"``: exactly zero.
        n_starts : int
            Independent starts (run in parallel).
        warn : bool
            Warn (RuntimeWarning) when some start hit ``max_iter``.
        solver : {"iterate", "newton"}
            ``"iterate"``: the damped iteration above. ``"newton"``: Newton's method on
            ``m − F(m) = 0`` (dense Jacobian, backtracking line search inside ``(−1, 1)^n``;
            ``max_iter`` counts Newton steps, ``damping`` is unused; ``n ≤ 4096``). Damped
            iteration oscillates at the non-zero solutions of glassy models (SK below ``T = 1``);
            Newton converges to them from a nearby start, e.g. ``0.999 ·`` an annealed ground
            state at low ``T``, continued to higher ``T`` in small steps.
        progress : bool, optional
            A progress bar (temperatures of all starts); default: shown when stderr is a terminal.

        Examples
        --------
        >>> import numpy as np
        >>> from boltzkit import spin as sp
        >>> m = sp.sk(300, seed=1)
        >>> s = m.anneal(4, 2000, seed=0)
        >>> g = s.states[np.argmin(s.energies)]
        >>> r = m.tap(np.arange(0.10, 0.205, 0.02), init=0.999 * g, solver="newton", max_iter=200)
        >>> bool(r.converged.all()) and float(r.q[0, -1]) > 0.9
        True

        Returns
        -------
        TapResult
        """
        self._need_spins()
        t = _temps("T", T)
        ns = _posint("n_starts", n_starts)
        if solver not in ("iterate", "newton"):
            raise InvalidArgumentError(f"solver: expected 'iterate' or 'newton', got {solver!r}")
        damping = as_float("damping", damping, 0.0, 1.0, lo_open=True)
        noise = as_float("noise", noise, 0.0, 1.0)
        tol = as_float("tol", tol, 0.0, lo_open=True)
        mi = _posint("max_iter", max_iter)
        ons = as_bool("onsager", onsager)
        warn = as_bool("warn", warn)
        rng = np.random.default_rng(_seed(seed))
        if not isinstance(init, str):
            ns = int(np.shape(init)[0]) if np.ndim(init) == 2 else 1
        nt = int(t.size)
        work = self._nnz() * (self.n if solver == "newton" else 1)
        check_steps("max_iter", mi * ns * nt * work, f"{mi} iterations x {ns} starts x {nt} temperatures")
        check_bytes("n_starts", 8.0 * ns * (nt + 1) * self.n, f"{ns} starts x {nt} temperatures x {self.n} spins")
        if isinstance(init, str):
            if init == "zeros":
                m0 = np.zeros((ns, self.n))
            elif init == "random":
                m0 = noise * rng.standard_normal((ns, self.n))
            elif init == "eigen":
                v = _top_eigvec(self)
                sign = np.where(np.arange(ns) % 2 == 0, 1.0, -1.0)[:, None]
                m0 = sign * 0.5 * math.sqrt(self.n) * v[None, :] + noise * rng.standard_normal((ns, self.n))
            else:
                raise InvalidArgumentError(f"init: expected 'random', 'eigen', 'zeros' or an array, got {init!r}")
            m0 = np.clip(m0, -0.999, 0.999)
        else:
            m0 = _finite_array("init", init)
            if m0.ndim == 1:
                m0 = m0[None, :]
            if m0.ndim != 2 or m0.shape[1] != self.n:
                raise InvalidArgumentError(f"init: expected shape (n_starts, {self.n}), got {m0.shape}")
            if np.any(np.abs(m0) > 1):
                raise InvalidArgumentError("init: magnetisations must be in [-1, 1]")
        # Scale-aware: TAP is homogeneous in (J, h, T); solve on (J, h, T)/scale (a power of two, so
        # the iterates are bit-identical) and multiply the free energy back.
        scale = self._coupling_scale() or 1.0
        ts = t / scale
        if not np.all((ts > 1e-150) & (ts < 1e150)):
            raise InvalidArgumentError(
                f"T: every temperature must be between {1e-150 * scale:g} and {1e150 * scale:g} for couplings of "
                f"scale {scale:g}, got {float(t.min()):g} … {float(t.max()):g}"
            )
        spec = self._spec() if scale == 1.0 else self._scaled_spec(scale)
        with counter(progress, "TAP", "T") as report:
            r = _core.spin_tap(
                spec, ts, damping, tol, mi, ons, np.ascontiguousarray(m0), resolve_threads(threads),
                solver == "newton", report,
            )  # fmt: skip
        res = TapResult(
            temperatures=t,
            m=r["m"],
            iterations=r["iterations"],
            converged=r["converged"],
            residual=r["residual"],
            free_energy=r["free_energy"] * scale + self.offset,
            q=r["q"],
            onsager=ons,
        )
        for name in ("m", "residual", "free_energy", "q"):
            if not np.all(np.isfinite(getattr(res, name))):
                raise ComputationError(f"TAP: the solution has non-finite {name}; the iteration broke down")
        if warn and not res.converged.all():
            bad = int((~res.converged).sum())
            warnings.warn(
                f"TAP: {bad} of {res.converged.size} (start, T) solves hit max_iter = {max_iter} without reaching "
                f"tol = {tol:g} (largest residual {float(res.residual.max()):.2e}); see TapResult.converged",
                RuntimeWarning,
                stacklevel=2,
            )
        return res

    def tap_free_energy(self, m: npt.ArrayLike, T: float, *, onsager: bool = True) -> float:
        """TAP free energy ``F(m)`` at temperature ``T`` (offset included)."""
        self._need_spins()
        mv = _finite_array("m", m, 1)
        if mv.shape != (self.n,) or np.any(np.abs(mv) > 1):
            raise InvalidArgumentError(f"m: expected {self.n} magnetisations in [-1, 1], got shape {mv.shape}")
        t = as_float("T", T, 0.0, lo_open=True)
        ons = as_bool("onsager", onsager)
        scale = self._coupling_scale() or 1.0
        if not 1e-150 < t / scale < 1e150:
            raise InvalidArgumentError(
                f"T: must be between {1e-150 * scale:g} and {1e150 * scale:g} for couplings of scale {scale:g}, got {t:g}"
            )
        spec = self._spec() if scale == 1.0 else self._scaled_spec(scale)
        f = float(_core.spin_tap_free_energy(spec, mv, t / scale, ons)) * scale + self.offset
        if not math.isfinite(f):
            raise ComputationError(f"TAP: the free energy is not finite ({f})")
        return f

    # ----------------------------------------------------------------- conversions
    def _upper_coo(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], F64]:
        """Nonzero couplings ``J_ij``, ``i < j``, as ``(rows, cols, values)`` (no dense matrix for CSR / layered)."""
        import scipy.sparse as sps

        if self.storage == "dense":
            r, c = np.nonzero(np.triu(self.J, 1))
            return r.astype(np.int64), c.astype(np.int64), np.ascontiguousarray(self.J[r, c])
        coo = sps.triu(self.to_csr(), k=1).tocoo()
        keep = coo.data != 0
        return coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), np.asarray(coo.data[keep], dtype=np.float64)

    def to_ising_dicts(self) -> tuple[dict[Any, float], dict[tuple[Any, Any], float], float]:
        """``(h, J, offset)`` in dimod's convention ``E = Σ h_i s_i + Σ_{i<j} J_ij s_i s_j + offset``.

        ``h_dimod = −h``, ``J_dimod[i, j] = −J_ij`` for ``i < j`` (nonzero couplings only); keys are
        the :attr:`labels` (``0..n-1`` by default), every spin is a key of ``h``.
        """
        lab = self._label_tuple()
        hd = {lab[i]: -float(v) for i, v in enumerate(self.h)}
        r, c, v = self._upper_coo()
        jd = {(lab[i], lab[j]): -float(x) for i, j, x in zip(r.tolist(), c.tolist(), v.tolist(), strict=True)}
        return hd, jd, self.offset

    def to_bqm(self, vartype: Vartype = "SPIN") -> BinaryQuadraticModel:
        """A ``dimod.BinaryQuadraticModel`` with the same energies, labelled by :attr:`labels` (needs dimod).

        Parameters
        ----------
        vartype : {"SPIN", "BINARY"}
            ``"SPIN"`` (default): ``h_dimod = −h``, ``J_dimod = −J``, the same offset. ``"BINARY"``:
            the same model over ``x = (1 + s)/2`` (energies equal state by state).

        Returns
        -------
        dimod.BinaryQuadraticModel
            Variables in spin order (``bqm.variables == labels``), couplings only where ``J_ij ≠ 0``;
            built from numpy vectors (no dense matrix for CSR or layered models).
        """
        dimod = _dimod()
        if vartype not in ("SPIN", "BINARY"):
            raise InvalidArgumentError(f"vartype: expected 'SPIN' or 'BINARY', got {vartype!r}")
        r, c, v = self._upper_coo()
        bqm: BinaryQuadraticModel = dimod.BinaryQuadraticModel.from_numpy_vectors(
            -self.h, (r, c, -v), self.offset, dimod.SPIN, variable_order=list(self._label_tuple())
        )
        if vartype == "BINARY":
            bqm.change_vartype(dimod.BINARY, inplace=True)
        return bqm

    @overload
    def to_qubo(self, format: Literal["dense"] = "dense") -> tuple[F64, float]: ...
    @overload
    def to_qubo(self, format: Literal["csr"]) -> tuple[csr_array[np.float64], float]: ...
    @overload
    def to_qubo(self, format: Literal["dict"]) -> tuple[dict[tuple[Any, Any], float], float]: ...
    def to_qubo(self, format: QuboFormat = "dense") -> tuple[F64 | csr_array[np.float64] | dict[tuple[Any, Any], float], float]:
        """``(Q, offset)`` with ``E(s) = xᵀ Q x + offset`` for ``x = (1 + s)/2``; ``Q`` upper triangular.

        ``Q_ij = −4 J_ij`` (``i < j``), ``Q_ii = 2 Σ_j J_ij − 2 h_i``,
        ``offset = −Σ_{i<j} J_ij + Σ_i h_i + self.offset``.

        Parameters
        ----------
        format : {"dense", "csr", "dict"}
            ``"dense"``: an (n, n) array, rows and columns in spin order (:attr:`labels`).
            ``"csr"``: the same as a ``scipy.sparse.csr_array`` (no dense matrix is built).
            ``"dict"``: dimod's QUBO form ``{(u, v): Q_uv}`` keyed by :attr:`labels`, with every
            diagonal ``(u, u)`` and the nonzero ``u < v`` terms (what ``dimod.BQM.from_qubo`` takes).
        """
        import scipy.sparse as sps

        if format not in ("dense", "csr", "dict"):
            raise InvalidArgumentError(f"format: expected 'dense', 'csr' or 'dict', got {format!r}")
        r, c, v = self._upper_coo()
        rowsum = np.bincount(r, weights=v, minlength=self.n) + np.bincount(c, weights=v, minlength=self.n)
        diag = 2 * rowsum - 2 * self.h
        off = -float(v.sum()) + float(self.h.sum()) + self.offset
        if format == "dict":
            lab = self._label_tuple()
            qd: dict[tuple[Any, Any], float] = {(u, u): float(x) for u, x in zip(lab, diag.tolist(), strict=True)}
            for i, j, x in zip(r.tolist(), c.tolist(), v.tolist(), strict=True):
                qd[(lab[i], lab[j])] = -4.0 * x
            return qd, off
        idx = np.arange(self.n)
        q = sps.coo_array(
            (np.concatenate([diag, -4 * v]), (np.concatenate([idx, r]), np.concatenate([idx, c]))), shape=(self.n, self.n)
        )
        if format == "csr":
            return sps.csr_array(q), off
        check_bytes("format", 8.0 * self.n * self.n, f"a dense {self.n} x {self.n} QUBO matrix (use format='csr')")
        return np.ascontiguousarray(q.toarray()), off

    def to_mpf_form(self) -> tuple[F64, float]:
        """``(W, offset)`` with ``E(s) = xᵀ W x + offset``, ``W`` symmetric, biases on the diagonal.

        ``W = −2J + diag(2 J·1 − 2h)`` (the MPF reference code's ``{0,1}`` parametrisation).
        """
        j = self.J
        w = -2 * j
        w[np.diag_indices(self.n)] = 2 * j.sum(axis=1) - 2 * self.h
        off = -0.5 * float(j.sum()) + float(self.h.sum()) + self.offset
        return w, off

    @classmethod
    def from_ising(
        cls,
        h: Mapping[Any, float] | npt.ArrayLike,
        J: Mapping[tuple[Any, Any], float] | npt.ArrayLike,
        offset: float = 0.0,
        n: int | None = None,
        *,
        variable_order: Sequence[Hashable] | None = None,
        storage: StorageChoice = "auto",
        dtype: FloatDtype = np.float64,
    ) -> SpinModel:
        """From dimod's convention ``E = Σ h_i s_i + Σ_{i<j} J_ij s_i s_j + offset``.

        Parameters
        ----------
        h, J : dict or array_like
            Dicts keyed by variable labels (a ``(u, v)`` pair may appear in either order; repeated
            pairs add up), or arrays (``J`` an upper-triangular or symmetric-half matrix: entry
            ``(i, j)`` and ``(j, i)`` both count as ``i<j`` terms). Labels that are all non-negative
            integers are spin indices (``n`` spins, default largest label + 1; unlisted indices are
            free spins) and the model keeps the default labels; any other hashable labels (strings,
            tuples, negative or mixed) become :attr:`labels` in order of first appearance (``h``
            first, then ``J``), as in ``dimod.BinaryQuadraticModel(h, J, offset, "SPIN")``.
        offset : float
        n : int, optional
            Number of spins for integer labels.
        variable_order : sequence of hashable, optional
            The spins and their order, explicitly (every label of ``h`` and ``J`` must be in it;
            listed labels without terms are free spins). Overrides ``n``.
        storage : {"auto", "dense", "csr"}
            Coupling storage; ``"auto"`` is dense for up to 256 spins or when at least 10 % of the
            couplings are nonzero and the dense matrix fits comfortably in memory, CSR otherwise.
        dtype : {numpy.float64, numpy.float32}
            Dense annealing storage (see :class:`SpinModel`).
        """
        offset = as_float("offset", offset, -MAX_COUPLING, MAX_COUPLING)
        if storage not in ("auto", "dense", "csr"):
            raise InvalidArgumentError(f"storage: expected 'auto', 'dense' or 'csr', got {storage!r}")
        hmap, jmap = isinstance(h, Mapping), isinstance(J, Mapping)
        if not hmap and not jmap:
            hv = _finite_array("h", h, 1)
            jm = _finite_array("J", J, 2)
            if jm.shape != (len(hv), len(hv)):
                raise InvalidArgumentError(f"J: expected shape ({len(hv)}, {len(hv)}), got {jm.shape}")
            if np.any(np.diag(jm) != 0):
                raise InvalidArgumentError("J: the diagonal must be zero")
            if n is not None and _posint("n", n, 0) != len(hv):
                raise InvalidArgumentError(f"n: must equal len(h) = {len(hv)} for arrays, got {n}")
            r, c = np.nonzero(jm)
            order = None if variable_order is None else _order("variable_order", variable_order, len(hv))
            return _from_ising_coo(len(hv), hv, r, c, jm[r, c], offset, order, storage, dtype, "J")
        hd_map: Mapping[Any, float] = h if isinstance(h, Mapping) else {}
        jd_map: Mapping[tuple[Any, Any], float] = J if isinstance(J, Mapping) else {}
        hkeys: list[Hashable] = list(hd_map)
        pairs = [_pair_any("J", p) for p in jd_map]
        seen: list[Hashable] = list(dict.fromkeys([*hkeys, *(x for p in pairs for x in p)]))
        labels: list[Hashable] | None
        index: dict[Hashable, int] | None
        if variable_order is not None:
            order = _order("variable_order", variable_order, None)
            labels, index = order, {v: i for i, v in enumerate(order)}
            missing = [k for k in seen if k not in index]
            if missing:
                raise InvalidArgumentError(f"variable_order: misses label {missing[0]!r} of h or J")
            size = len(order)
        elif all(_is_index(k) for k in seen):
            labels = None
            mx = max((int(k) for k in seen), default=-1)  # type: ignore[call-overload]
            size = mx + 1 if n is None else _posint("n", n, 0)
            if mx >= size:
                raise InvalidArgumentError(f"n: must be larger than every label, got n = {size} and label {mx}")
            index = None
        else:
            if n is not None:
                raise InvalidArgumentError("n: only applies to integer labels 0..n-1; use variable_order for other labels")
            bad = "J" if hmap else "h"
            if not (hmap and jmap):
                raise InvalidArgumentError(
                    f"{bad}: an array goes with integer labels 0..n-1; with labels like {seen[0]!r} pass a dict keyed by them"
                )
            labels, index = seen, {v: i for i, v in enumerate(seen)}
            size = len(seen)
        what = f"a model of {size} spins" + (f" (largest label {size - 1})" if labels is None else "")
        check_bytes("J", 16.0 * size + 24.0 * len(pairs), what)

        def pos(k: Hashable) -> int:
            return int(k) if index is None else index[k]  # type: ignore[call-overload]

        if hmap:
            hv = np.zeros(size)
            for k, v in hd_map.items():
                hv[pos(k)] += as_float(f"h[{k!r}]", v, -MAX_COUPLING, MAX_COUPLING)
        else:
            hv = _finite_array("h", h, 1)
            if hv.shape != (size,):
                raise InvalidArgumentError(f"h: expected shape ({size},) to match the labels of J, got {hv.shape}")
        if jmap:
            rows = np.empty(len(pairs), dtype=np.int64)
            cols = np.empty(len(pairs), dtype=np.int64)
            vals = np.empty(len(pairs))
            for k, ((a, b), v) in enumerate(zip(pairs, jd_map.values(), strict=True)):
                if a == b:
                    raise InvalidArgumentError(f"J: self-coupling ({a!r}, {a!r}) is not an Ising term")
                rows[k], cols[k] = pos(a), pos(b)
                vals[k] = as_float(f"J[{a!r}, {b!r}]", v, -MAX_COUPLING, MAX_COUPLING)
        else:
            jm = _finite_array("J", J, 2)
            if jm.shape != (size, size):
                raise InvalidArgumentError(f"J: expected shape ({size}, {size}), got {jm.shape}")
            if np.any(np.diag(jm) != 0):
                raise InvalidArgumentError("J: the diagonal must be zero")
            r, c = np.nonzero(jm)
            rows, cols, vals = r.astype(np.int64), c.astype(np.int64), jm[r, c]
        return _from_ising_coo(size, hv, rows, cols, vals, offset, labels, storage, dtype, "J")

    @classmethod
    def from_bqm(
        cls,
        bqm: BinaryQuadraticModel,
        *,
        variable_order: Sequence[Hashable] | None = None,
        storage: StorageChoice = "auto",
        dtype: FloatDtype = np.float64,
    ) -> SpinModel:
        """From a ``dimod.BinaryQuadraticModel`` (SPIN or BINARY), labels and offset kept.

        Spin ``k`` is variable ``labels[k]``; energies are equal state by state (a BINARY model
        through ``s = 2x − 1``), offsets included.

        Parameters
        ----------
        bqm : dimod.BinaryQuadraticModel
            Any labels dimod allows. A model with only an offset (no variables) gives a model
            without spins whose energy is the offset.
        variable_order : sequence of hashable, optional
            The spin order (every variable exactly once). Default: sorted when every label is an
            integer (so integer labels ``0..n-1`` are spin indices, whatever order dimod keeps
            them in), else ``bqm.variables`` order.
        storage : {"auto", "dense", "csr"}
            As in :meth:`from_ising` (``"auto"`` keeps a sparse BQM sparse).
        dtype : {numpy.float64, numpy.float32}

        Raises
        ------
        InvalidTypeError
            ``bqm`` is not a dimod BQM (for dicts use :meth:`from_ising` or :meth:`from_qubo`).
        """
        if isinstance(bqm, Mapping):
            raise InvalidTypeError(
                "bqm: expected a dimod.BinaryQuadraticModel, got a dict; for dicts of biases use "
                "SpinModel.from_ising(h, J) or SpinModel.from_qubo(Q)"
            )
        dimod = _dimod()
        if not isinstance(bqm, dimod.BinaryQuadraticModel):
            raise InvalidTypeError(f"bqm: expected a dimod.BinaryQuadraticModel, got {type(bqm).__name__}")
        if storage not in ("auto", "dense", "csr"):
            raise InvalidArgumentError(f"storage: expected 'auto', 'dense' or 'csr', got {storage!r}")
        b = bqm if bqm.vartype is dimod.SPIN else bqm.change_vartype(dimod.SPIN, inplace=False)
        variables = list(b.variables)
        if variable_order is None:
            order = sorted(variables) if all(_is_int(v) for v in variables) else variables
        else:
            order = _order("variable_order", variable_order, len(variables))
            if set(order) != set(variables):
                raise InvalidArgumentError("variable_order: must list every variable of bqm exactly once")
        ld, (ir, ic, qd), off = b.to_numpy_vectors(variable_order=order)
        return _from_ising_coo(
            len(order), np.asarray(ld, dtype=np.float64), np.asarray(ir, dtype=np.int64), np.asarray(ic, dtype=np.int64),
            np.asarray(qd, dtype=np.float64), as_float("bqm.offset", float(off), -MAX_COUPLING, MAX_COUPLING),
            order, storage, dtype, "bqm", unique=True,
        )  # fmt: skip

    @classmethod
    def from_qubo(
        cls,
        Q: npt.ArrayLike | Mapping[tuple[Any, Any], float],
        offset: float = 0.0,
        *,
        variable_order: Sequence[Hashable] | None = None,
        storage: StorageChoice = "auto",
        dtype: FloatDtype = np.float64,
    ) -> SpinModel:
        """From ``E(x) = Σ_{i,j} Q_ij x_i x_j + offset`` over ``x ∈ {0,1}``, with ``s = 2x − 1``.

        ``Q`` may be any square matrix (both triangles count) or a dimod-style dict ``{(u, v): Q_uv}``
        (``(u, u)`` terms are linear; labels as in :meth:`from_ising`: non-negative integers are spin
        indices, other labels become :attr:`labels` in order of first appearance). ``variable_order``,
        ``storage`` and ``dtype`` as in :meth:`from_ising`.
        """
        return cls._from_qubo(Q, offset, variable_order, storage, dtype, "Q")

    @classmethod
    def _from_qubo(
        cls,
        Q: npt.ArrayLike | Mapping[tuple[Any, Any], float],
        offset: float,
        variable_order: Sequence[Hashable] | None,
        storage: str,
        dtype: Any,
        arg: str,
    ) -> SpinModel:
        """:meth:`from_qubo` with its matrix argument called ``arg`` in messages."""
        offset = as_float("offset", offset, -MAX_COUPLING, MAX_COUPLING)
        if storage not in ("auto", "dense", "csr"):
            raise InvalidArgumentError(f"storage: expected 'auto', 'dense' or 'csr', got {storage!r}")
        if isinstance(Q, Mapping):
            pairs = [_pair_any(arg, p) for p in Q]
            seen: list[Hashable] = list(dict.fromkeys(x for p in pairs for x in p))
            labels: list[Hashable] | None
            index: dict[Hashable, int] | None
            if variable_order is not None:
                order = _order("variable_order", variable_order, None)
                labels, index = order, {v: i for i, v in enumerate(order)}
                missing = [k for k in seen if k not in index]
                if missing:
                    raise InvalidArgumentError(f"variable_order: misses label {missing[0]!r} of {arg}")
                size = len(order)
            elif all(_is_index(k) for k in seen):
                labels, index = None, None
                size = max((int(k) for k in seen), default=-1) + 1  # type: ignore[call-overload]
            else:
                labels, index = seen, {v: i for i, v in enumerate(seen)}
                size = len(seen)
            what = f"a model of {size} spins" + (f" (largest label {size - 1})" if labels is None else "")
            check_bytes(arg, 16.0 * size + 24.0 * len(pairs), what)
            hv = np.zeros(size)
            rows: list[int] = []
            cols: list[int] = []
            vals: list[float] = []
            off = offset
            for (u, w), v in zip(pairs, Q.values(), strict=True):
                q = as_float(f"{arg}[{u!r}, {w!r}]", v, -MAX_COUPLING, MAX_COUPLING)
                i = int(u) if index is None else index[u]  # type: ignore[call-overload]
                j = int(w) if index is None else index[w]  # type: ignore[call-overload]
                if i == j:
                    hv[i] += q / 2
                    off += q / 2
                else:
                    rows.append(i)
                    cols.append(j)
                    vals.append(q / 4)
                    hv[i] += q / 4
                    hv[j] += q / 4
                    off += q / 4
            return _from_ising_coo(
                size, hv, np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), np.asarray(vals, dtype=np.float64),
                as_float("offset", off, -MAX_COUPLING, MAX_COUPLING), labels, storage, dtype, arg,
            )  # fmt: skip
        qm = _finite_array(arg, Q, 2)
        if qm.ndim != 2 or qm.shape[0] != qm.shape[1]:
            raise InvalidArgumentError(f"{arg}: expected a square matrix, got shape {qm.shape}")
        qorder = None if variable_order is None else _order("variable_order", variable_order, qm.shape[0])
        if qm.shape[0] == 0:  # like an empty dict: a model of the offset alone
            return cls._offset_only(offset, dtype)
        b = np.diag(qm).copy()
        a = qm + qm.T
        np.fill_diagonal(a, 0.0)  # a_ij = Q_ij + Q_ji, each unordered pair counted in both (i,j) and (j,i)
        j = -a / 4
        h = -(b / 2 + a.sum(axis=1) / 4)
        off = float(a.sum()) / 8 + float(b.sum()) / 2 + float(offset)
        if storage == "csr":
            import scipy.sparse as sps

            return cls(sps.csr_array(j), h, offset=off, dtype=dtype, labels=qorder)
        return cls(j, h, offset=off, dtype=dtype, labels=qorder)

    @classmethod
    def from_mpf_form(cls, W: npt.ArrayLike | Mapping[tuple[Any, Any], float], offset: float = 0.0) -> SpinModel:
        """From ``E = xᵀ W x + offset`` (``W`` symmetric, biases on the diagonal), ``s = 2x − 1``.

        An empty ``W`` (``{}`` or a 0×0 matrix) gives the model of the offset alone, as in
        :meth:`from_qubo`.
        """
        return cls._from_qubo(W, offset, None, "auto", np.float64, "W")


#: ``storage="auto"``: always dense up to this many spins.
_DENSE_ALWAYS_N = 256


def _auto_dense(n: int, nnz: int) -> bool:
    """Dense couplings for small models, or when ≥ 10 % are nonzero and the matrix fits comfortably."""
    if n <= _DENSE_ALWAYS_N:
        return True
    lim = memory_limit()
    budget = min(2.0**31, lim / 8 if lim else 2.0**31)
    return nnz >= 0.1 * n * n and 8.0 * n * n <= budget


def _from_ising_coo(
    n: int,
    hd: F64,
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    qd: F64,
    offset: float,
    labels: Sequence[Hashable] | None,
    storage: str,
    dtype: Any,
    name: str,
    unique: bool = False,
) -> SpinModel:
    """The canonical model of dimod Ising terms ``Σ hd_i s_i + Σ_k qd_k s_{rows_k} s_{cols_k} + offset``.

    ``unique``: every unordered pair appears at most once (a BQM's vectors); then the couplings are
    written straight into their storage, exactly symmetric, without the constructor's O(n²) checks.
    """
    import scipy.sparse as sps

    if n == 0:
        return SpinModel._offset_only(offset, dtype)
    _finite_array(name, hd, limit=MAX_COUPLING)
    _finite_array(name, qd, limit=MAX_COUPLING)
    if np.any(rows == cols):
        k = int(np.argmax(rows == cols))
        raise InvalidArgumentError(f"{name}: self-coupling of spin {int(rows[k])} is not an Ising term")
    if not unique:
        m = sps.csr_array(sps.coo_array((-qd, (rows, cols)), shape=(n, n)))
        sym = sps.csr_array(m + m.T)
        sym.eliminate_zeros()
        if storage == "dense" or (storage == "auto" and _auto_dense(n, int(sym.nnz))):
            check_bytes(name, 16.0 * n * n, f"a dense coupling matrix of {n} spins (pass storage='csr')")
            j: Any = sym.toarray()
        else:
            j = sym
        return SpinModel(j, -hd, offset=offset, dtype=dtype, labels=labels)
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"dtype: expected float64 or float32, got {dtype!r}") from None
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise InvalidTypeError(f"dtype: expected float64 or float32, got {dt}")
    nz = qd != 0
    r, c, v = (rows, cols, -qd) if nz.all() else (rows[nz], cols[nz], -qd[nz])
    self = SpinModel.__new__(SpinModel)
    self.offset = float(offset)
    self.dtype = dt
    self._layers = None
    self._j32 = None
    self.n = n
    self.h = np.ascontiguousarray(-hd, dtype=np.float64)
    self._labels = _check_labels(labels, n)
    if storage == "dense" or (storage == "auto" and _auto_dense(n, 2 * int(r.size))):
        check_bytes(name, 8.0 * n * n, f"a dense coupling matrix of {n} spins (pass storage='csr')")
        j = np.zeros((n, n))
        j[r, c] = v
        j[c, r] = v
        self._dense, self._csr = j, None
        a = np.abs(v)
        if dt == np.float32 and a.size and (float(a.max()) > 1e30 or float(a.min()) < 1e-30):
            warnings.warn(
                f"dtype: couplings from {float(a.min()):g} to {float(a.max()):g} do not fit float32 "
                "(overflow or underflow); storing them as float64 instead",
                UserWarning,
                stacklevel=4,
            )
            self.dtype = np.dtype(np.float64)
    else:
        both = sps.coo_array((np.concatenate([v, v]), (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n, n))
        csr = sps.csr_array(both)
        csr.sum_duplicates()
        csr.sort_indices()
        self._dense, self._csr = None, csr
    return self


def _is_int(k: object) -> bool:
    return isinstance(k, numbers.Integral) and not isinstance(k, bool)


def _is_index(k: object) -> bool:
    return _is_int(k) and int(k) >= 0  # type: ignore[call-overload]


def _check_labels(labels: object, n: int) -> tuple[Hashable, ...] | None:
    """Validated labels as a tuple (numpy scalars unwrapped); ``None`` for the default ``0..n-1``."""
    if labels is None:
        return None
    lab = tuple(_order("labels", labels, n))
    if all(_is_int(v) for v in lab) and list(lab) == list(range(n)):
        return None
    return lab


def _order(name: str, labels: object, n: int | None) -> list[Hashable]:
    if isinstance(labels, (str, bytes, Mapping)) or not hasattr(labels, "__iter__"):
        raise InvalidTypeError(f"{name}: expected a sequence of hashable labels, got {type(labels).__name__}")
    lab = [v.item() if isinstance(v, np.generic) else v for v in labels]
    for v in lab:
        try:
            hash(v)
        except TypeError:
            raise InvalidTypeError(f"{name}: every label must be hashable, got {type(v).__name__}") from None
    if n is not None and len(lab) != n:
        raise InvalidArgumentError(f"{name}: expected {n} labels (one per spin), got {len(lab)}")
    if len(set(lab)) != len(lab):
        raise InvalidArgumentError(f"{name}: labels must be distinct (dimod treats 1, 1.0 and True as one label)")
    return lab


def _pair_any(name: str, p: object) -> tuple[Hashable, Hashable]:
    if not isinstance(p, tuple) or len(p) != 2:
        raise InvalidArgumentError(f"{name}: dict keys must be pairs (u, v) of labels, got {p!r}")
    return p[0], p[1]


def _top_eigvec(model: SpinModel) -> F64:
    import scipy.linalg as sla
    import scipy.sparse.linalg as spla

    if model.n <= 2000:
        _, v = sla.eigh(model.J, subset_by_index=[model.n - 1, model.n - 1])
        vec = v[:, 0]
    else:
        _, v = spla.eigsh(model.to_csr(), k=1, which="LA")
        vec = v[:, 0]
    return np.asarray(vec / np.linalg.norm(vec), dtype=np.float64)


def _dimod() -> Any:
    try:
        import dimod
    except ImportError:
        raise InvalidArgumentError("dimod: not installed; pip install 'boltzkit[spin]' or pip install dimod") from None
    return dimod
