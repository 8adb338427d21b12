"""dimod samplers backed by boltzkit's Rust kernels (needs dimod: ``pip install 'boltzkit[spin]'``).

``SimulatedAnnealingSampler`` and ``SteepestDescentSolver`` take the parameters of
dwave-samplers' classes of the same name, with the same names, defaults and meanings; the
differences are listed in each ``sample`` docstring. ``TemperingSampler`` has no dwave-samplers
counterpart; it uses the same names where they apply (``num_reads``, ``num_sweeps``,
``beta_range``, ``beta_schedule_type``, ``beta_schedule``, ``seed``,
``proposal_acceptance_criteria``).

Every sampler returns a ``dimod.SampleSet`` labelled by the BQM's variables, in the BQM's
vartype, with energies in the BQM's own convention (offset included; recomputed in float64),
``num_occurrences`` and ``info["timing"]`` (``preprocessing_ns``, ``sampling_ns``,
``postprocessing_ns``, as dwave-samplers reports them).
"""

from __future__ import annotations

import math
import secrets
import time
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import dimod as _dimod_module
import numpy as np
import numpy.typing as npt

from boltzkit._validate import as_bool, as_int, check_bytes
from boltzkit.errors import InvalidArgumentError, InvalidTypeError
from boltzkit.spin._model import BetaScheduleType, FloatDtype, InitialStateGenerator, ProposalAcceptance, SpinModel

# bqm / initial_states / the returned SampleSet stay ``Any``: dimod's own annotations are partial
# (SampleSet's methods are untyped, its SamplesLike alias leaves out the SampleSet it accepts).

__all__ = ["SimulatedAnnealingSampler", "SteepestDescentSolver", "TemperingSampler"]

dimod: Any = _dimod_module  # untyped for mypy
F64 = npt.NDArray[np.float64]

_SEED_MAX = 2**32 - 1


def _as_bqm(bqm: object) -> Any:
    if not isinstance(bqm, dimod.BinaryQuadraticModel):
        raise InvalidTypeError(f"bqm: expected a dimod.BinaryQuadraticModel, got {type(bqm).__name__}")
    return bqm


def _seed(seed: object) -> int:
    """dwave-samplers' seed: ``None`` (a fresh random one) or an integer 0 … 2³² − 1."""
    if seed is None:
        return secrets.randbits(32)
    return as_int("seed", seed, 0, _SEED_MAX)


def _num_reads(num_reads: object) -> int | None:
    return None if num_reads is None else as_int("num_reads", num_reads, 1)


def _initial(
    sampler: Any, spin_bqm: Any, initial_states: object, generator: object, num_reads: int | None, seed: int
) -> tuple[npt.NDArray[np.int8], list[Any]]:
    """dimod's ``Initialized.parse_initial_states`` (dwave-samplers' semantics) with boltzkit errors."""
    if generator not in ("none", "tile", "random"):
        raise InvalidArgumentError(f"initial_states_generator: expected 'none', 'tile' or 'random', got {generator!r}")
    n = len(spin_bqm.variables)
    # dimod draws the random states as int64 and copies them: bound that before it allocates
    check_bytes("num_reads", 32.0 * (num_reads or 1) * n, f"{num_reads or 1} initial states of {n} variables")
    try:
        parsed = sampler.parse_initial_states(
            spin_bqm, initial_states=initial_states, initial_states_generator=generator, num_reads=num_reads, seed=seed
        )
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidArgumentError(f"initial_states: {e}") from None
    init = np.ascontiguousarray(parsed.initial_states.record.sample, dtype=np.int8)
    if init.size and not np.all((init == 1) | (init == -1)):
        raise InvalidArgumentError("initial_states: values must be -1/+1 (SPIN) or 0/1 (BINARY)")
    return init, list(parsed.initial_states.variables)


def _model(spin_bqm: Any, variables: list[Any], dtype: Any = np.float64) -> SpinModel:
    return SpinModel.from_bqm(spin_bqm, variable_order=variables, dtype=dtype)


def _sampleset(
    samples: npt.NDArray[np.int8], variables: list[Any], energies: F64, vartype: Any, info: dict[str, Any], **vectors: Any
) -> Any:
    ss = dimod.SampleSet.from_samples((samples, variables), vartype=dimod.SPIN, energy=energies, info=info, **vectors)
    if vartype is not dimod.SPIN:
        ss.change_vartype(vartype, inplace=True)
    return ss


def _timing(t0: int, t1: int, t2: int) -> dict[str, int]:
    return {"preprocessing_ns": t1 - t0, "sampling_ns": t2 - t1, "postprocessing_ns": time.perf_counter_ns() - t2}


def default_ising_beta_range(model: SpinModel, max_single_qubit_excitation_rate: float = 0.01) -> list[float]:
    """dwave-samplers' default ``beta_range`` (``_default_ising_beta_range``, ``scale_T_with_N=True``).

    Hot: every spin flips with probability ≥ ½ at the largest possible field,
    ``β_hot = ln 2 / (2 max_i (|h_i| + Σ_j |J_ij|))``. Cold: ``β_cold = ln(k / rate) / (2 b_min)``,
    ``b_min`` the smallest nonzero ``|h_i|`` or ``|J_ij|`` and ``k`` the number of spins whose
    smallest nonzero bias equals it. All-zero models give ``[0.1, 1]`` with a warning, as there.
    Vectorised over the CSR couplings (no Python loop over biases).
    """
    if model.n == 0:
        return [0.1, 1.0]
    ah = np.abs(model.h)
    smallest = np.where(ah > 0, ah, np.inf)
    if model.storage == "dense":  # row sums and minima of the matrix (no CSR copy: 5x faster at n = 1000)
        a2 = np.abs(np.asarray(model.J, dtype=np.float64))
        total = ah + a2.sum(axis=1)
        a2[a2 == 0] = np.inf
        smallest = np.minimum(smallest, a2.min(axis=1))
    else:
        m = model.to_csr()
        a = np.abs(m.data)
        rows = np.repeat(np.arange(model.n), np.diff(m.indptr))
        total = ah + np.bincount(rows, weights=a, minlength=model.n)
        if a.size:
            np.minimum.at(smallest, rows, np.where(a > 0, a, np.inf))
    has = np.isfinite(smallest)
    if not has.any():
        warnings.warn(
            "All bqm biases are zero (all energies are zero), this is likely a value error. Temperature range is set "
            "arbitrarily to [0.1,1]. Metropolis-Hastings update is non-ergodic.",
            UserWarning,
            stacklevel=3,
        )
        return [0.1, 1.0]
    hot = math.log(2) / (2 * float(total.max()))
    vals = smallest[has]
    bmin = float(vals.min())
    count = int(np.sum(vals == bmin))
    cold = math.log(count / max_single_qubit_excitation_rate) / (2 * bmin)
    return [hot, cold]


def _beta_range(beta_range: object) -> list[float]:
    if isinstance(beta_range, (str, bytes)) or not isinstance(beta_range, (Sequence, np.ndarray)):
        raise InvalidTypeError(f"beta_range: expected a pair (hot, cold) of numbers, got {type(beta_range).__name__}")
    try:
        br = [float(x) for x in beta_range]
    except (TypeError, ValueError):
        raise InvalidTypeError("beta_range: expected a pair (hot, cold) of numbers") from None
    if len(br) != 2 or min(br) < 0 or not all(math.isfinite(x) for x in br):
        raise InvalidArgumentError(
            f"beta_range: expected 2 finite non-negative numbers (hot, cold; the latter is the target), got {beta_range!r}"
        )
    return br


def _custom_schedule(beta_schedule: object, name: str = "beta_schedule") -> F64:
    if beta_schedule is None:
        raise InvalidArgumentError(f"{name}: must be provided for beta_schedule_type = 'custom'")
    try:
        b = np.asarray(beta_schedule, dtype=float)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"{name}: expected a sequence of numbers") from None
    if b.ndim != 1 or not np.all(np.isfinite(b)):
        raise InvalidArgumentError(f"{name}: expected a 1-d sequence of finite numbers, got shape {b.shape}")
    if b.size and float(b.min()) < 0:
        raise InvalidArgumentError(f"{name}: values must be >= 0, got {float(b.min())}")
    return np.ascontiguousarray(b)


def _interpolate(beta_range: list[float], num: int, kind: str) -> F64:
    if num == 1:
        return np.array([beta_range[-1]], dtype=float)
    if kind == "linear":
        return np.linspace(beta_range[0], beta_range[1], num=num)
    if min(beta_range) <= 0:
        raise InvalidArgumentError("beta_range: must hold values > 0 for beta_schedule_type = 'geometric'")
    return np.geomspace(beta_range[0], beta_range[1], num=num)


def _proposal(proposal_acceptance_criteria: object) -> Literal["metropolis", "heat_bath"]:
    if proposal_acceptance_criteria == "Metropolis":
        return "metropolis"
    if proposal_acceptance_criteria == "Gibbs":
        return "heat_bath"
    raise InvalidArgumentError(
        f"proposal_acceptance_criteria: expected 'Metropolis' or 'Gibbs', got {proposal_acceptance_criteria!r}"
    )


class SimulatedAnnealingSampler(dimod.Sampler, dimod.Initialized):  # type: ignore[misc]
    """Simulated annealing as a dimod sampler: a drop-in for ``dwave.samplers.SimulatedAnnealingSampler``.

    Each read anneals one state over the β schedule with single-spin Metropolis (or Gibbs)
    updates, sequential or random order, on boltzkit's Rust kernels (reads run in parallel over
    ``threads``). The BQM becomes a :class:`SpinModel` first (dense or CSR by density, labels
    kept; see :meth:`SpinModel.from_bqm`).

    Examples
    --------
    >>> from boltzkit.spin import SimulatedAnnealingSampler
    >>> sampler = SimulatedAnnealingSampler()
    >>> h = {'a': 0.0, 'b': 0.0, 'c': 0.0}
    >>> J = {('a', 'b'): 1.0, ('b', 'c'): 1.0, ('a', 'c'): 1.0}
    >>> sampleset = sampler.sample_ising(h, J, num_reads=10)
    >>> print(sampleset.first.energy)
    -1.0
    """

    @property
    def parameters(self) -> dict[str, list[str]]:
        """Keyword arguments of :meth:`sample` (dimod's sampler API)."""
        return self._parameters

    @property
    def properties(self) -> dict[str, Any]:
        """Allowed values of some parameters (dimod's sampler API)."""
        return self._properties

    def __init__(self) -> None:
        self._parameters: dict[str, list[str]] = {
            "beta_range": [],
            "num_reads": [],
            "num_sweeps": [],
            "num_sweeps_per_beta": [],
            "beta_schedule_type": ["beta_schedule_options"],
            "beta_schedule": [],
            "seed": [],
            "interrupt_function": [],
            "initial_states": [],
            "initial_states_generator": [],
            "randomize_order": [],
            "proposal_acceptance_criteria": [],
            "threads": [],
            "dtype": [],
        }
        self._properties: dict[str, Any] = {"beta_schedule_options": ("linear", "geometric", "custom")}

    def sample(
        self,
        bqm: Any,
        beta_range: Sequence[float] | None = None,
        num_reads: int | None = None,
        num_sweeps: int | None = None,
        num_sweeps_per_beta: int = 1,
        beta_schedule_type: BetaScheduleType = "geometric",
        seed: int | None = None,
        interrupt_function: None = None,
        beta_schedule: npt.ArrayLike | None = None,
        initial_states: Any = None,
        initial_states_generator: InitialStateGenerator = "random",
        randomize_order: bool = False,
        proposal_acceptance_criteria: ProposalAcceptance = "Metropolis",
        *,
        threads: int | None = None,
        dtype: FloatDtype = np.float64,
        **kwargs: object,
    ) -> Any:
        """Anneal ``num_reads`` states of a binary quadratic model.

        Parameters (same names, defaults and meanings as dwave-samplers)
        ----------------------------------------------------------------
        bqm : dimod.BinaryQuadraticModel
            SPIN or BINARY; results come back in its vartype, labelled by its variables.
        beta_range : (float, float), optional
            Hot and cold β of a "linear" or "geometric" schedule. Default: dwave-samplers' rule
            (:func:`default_ising_beta_range`). For "custom", ``None`` or equal to the schedule's
            first and last values.
        num_reads : int, optional
            Default: the number of ``initial_states``, else 1.
        num_sweeps : int, optional
            Default 1000 ("linear" / "geometric"); must be divisible by ``num_sweeps_per_beta``.
            With "custom", ``None`` or ``len(beta_schedule) * num_sweeps_per_beta``.
            ``0`` returns the initial states.
        num_sweeps_per_beta : int
            Sweeps at each β (default 1).
        beta_schedule_type : {"geometric", "linear", "custom"}
            ``numpy.geomspace`` / ``numpy.linspace`` over ``beta_range`` with
            ``num_sweeps // num_sweeps_per_beta`` values (one value: the cold β), or
            ``beta_schedule`` as given.
        seed : int, optional
            0 … 2³² − 1; default a fresh random seed. Equal seeds and parameters give identical
            sample sets (for any ``threads``).
        interrupt_function : None
            **Difference:** not supported (must be ``None``); reads run in parallel in Rust, and
            Ctrl-C interrupts a call.
        beta_schedule : array_like, optional
            The β values of a "custom" schedule (non-negative).
        initial_states : samples-like, optional
            Start states, one per read (``dimod.as_samples`` formats, either vartype).
        initial_states_generator : {"random", "tile", "none"}
            How missing initial states are made (dimod's ``Initialized`` rules, as dwave-samplers).
        randomize_order : bool
            ``False``: sequential sweeps in the BQM's variable order; ``True``: each update picks a
            variable uniformly at random.
        proposal_acceptance_criteria : {"Metropolis", "Gibbs"}

        Parameters (boltzkit only)
        --------------------------
        threads : int, optional
            Threads over reads (results do not depend on it).
        dtype : {numpy.float64, numpy.float32}
            Storage of dense couplings while annealing (float32 halves memory traffic; energies
            are always recomputed in float64).

        Returns
        -------
        dimod.SampleSet
            The final state of each read (as dwave-samplers), its energy in the BQM's convention,
            ``num_occurrences`` of 1 each; ``info``: ``beta_range``, ``beta_schedule_type`` and
            ``timing`` (``preprocessing_ns`` includes the BQM → :class:`SpinModel` conversion).

        Notes
        -----
        Other differences from dwave-samplers: errors are boltzkit's ``InvalidArgumentError`` /
        ``InvalidTypeError`` (subclasses of ``ValueError`` / ``TypeError``, as dwave raises) with
        messages naming the argument; seeds give other random streams than dwave's (same
        distribution, different numbers); unknown keyword arguments warn
        (``dimod.exceptions.SamplerUnknownArgWarning``) and are ignored.
        """
        t0 = time.perf_counter_ns()
        if kwargs:
            self.remove_unknown_kwargs(**kwargs)
        bqm = _as_bqm(bqm)
        vartype = bqm.vartype
        spin = bqm if vartype is dimod.SPIN else bqm.change_vartype(dimod.SPIN, inplace=False)
        sd = _seed(seed)
        if interrupt_function is not None:
            raise InvalidArgumentError(
                "interrupt_function: not supported by boltzkit (reads run in parallel in Rust; Ctrl-C interrupts); pass None"
            )
        spb = as_int("num_sweeps_per_beta", num_sweeps_per_beta, 1)
        order: Literal["sequential", "random"] = "random" if as_bool("randomize_order", randomize_order) else "sequential"
        proposal = _proposal(proposal_acceptance_criteria)
        init, variables = _initial(self, spin, initial_states, initial_states_generator, _num_reads(num_reads), sd)
        model = _model(spin, variables, dtype)
        if beta_schedule_type == "custom":
            betas = _custom_schedule(beta_schedule)
            if num_sweeps is not None and as_int("num_sweeps", num_sweeps, 0) != betas.size * spb:
                raise InvalidArgumentError(
                    "num_sweeps: must be None or len(beta_schedule) * num_sweeps_per_beta for beta_schedule_type = 'custom'"
                )
            if beta_range is not None:
                br = _beta_range(beta_range)
                if betas.size == 0 or br[0] != betas[0] or br[-1] != betas[-1]:
                    raise InvalidArgumentError("beta_range: must be None or the first and last values of beta_schedule")
            br_info: Any = beta_range
        elif beta_schedule_type in ("linear", "geometric"):
            if beta_schedule is not None:
                raise InvalidArgumentError("beta_schedule: must be None unless beta_schedule_type = 'custom'")
            ns = 1000 if num_sweeps is None else as_int("num_sweeps", num_sweeps, 0)
            nb, rem = divmod(ns, spb)
            if rem:
                raise InvalidArgumentError(f"num_sweeps: must be divisible by num_sweeps_per_beta = {spb}, got {ns}")
            br = default_ising_beta_range(model) if beta_range is None else _beta_range(beta_range)
            betas = _interpolate(br, nb, beta_schedule_type) if nb else np.zeros(0)
            br_info = br
        else:
            raise InvalidArgumentError(
                f"beta_schedule_type: expected 'linear', 'geometric' or 'custom', got {beta_schedule_type!r}"
            )
        t1 = time.perf_counter_ns()
        if betas.size == 0 or model.n == 0:
            states, energies = init, model.energy(init)
        else:
            r = model.anneal(
                init.shape[0], schedule=betas, num_sweeps_per_beta=spb, proposal=proposal, order=order,
                initial_states=init, seed=sd, threads=threads,
            )  # fmt: skip
            states, energies = r.final_states, r.final_energies
        t2 = time.perf_counter_ns()
        info = {"beta_range": br_info, "beta_schedule_type": beta_schedule_type}
        ss = _sampleset(states, variables, np.asarray(energies, dtype=np.float64), vartype, info)
        ss.info["timing"] = _timing(t0, t1, t2)
        return ss


class SteepestDescentSolver(dimod.Sampler, dimod.Initialized):  # type: ignore[misc]
    """Greedy steepest descent as a dimod sampler: a drop-in for ``dwave.samplers.SteepestDescentSolver``.

    From each initial state, flip the spin that lowers the energy most until no flip lowers it
    (a single-flip local minimum). ``num_steps`` counts the flips of each read.

    Examples
    --------
    >>> from boltzkit.spin import SteepestDescentSolver
    >>> samples = SteepestDescentSolver().sample_ising({0: 2, 1: 2}, {(0, 1): -1})
    >>> samples.first.energy
    -5.0
    """

    @property
    def parameters(self) -> dict[str, list[str]]:
        """Keyword arguments of :meth:`sample` (dimod's sampler API)."""
        return self._parameters

    @property
    def properties(self) -> dict[str, Any]:
        """Allowed values of some parameters (dimod's sampler API)."""
        return self._properties

    def __init__(self) -> None:
        self._parameters: dict[str, list[str]] = {
            "num_reads": [],
            "initial_states": [],
            "initial_states_generator": ["initial_states_generators"],
            "seed": [],
            "large_sparse_opt": ["large_sparse_opt_values"],
            "threads": [],
        }
        self._properties: dict[str, Any] = {
            "initial_states_generators": ("none", "tile", "random"),
            "large_sparse_opt_values": (True, False),
        }

    def sample(
        self,
        bqm: Any,
        num_reads: int | None = None,
        initial_states: Any = None,
        initial_states_generator: InitialStateGenerator = "random",
        seed: int | None = None,
        large_sparse_opt: bool = False,
        *,
        threads: int | None = None,
        **kwargs: object,
    ) -> Any:
        """Descend from ``num_reads`` initial states to local minima.

        Parameters (same names, defaults and meanings as dwave-samplers)
        ----------------------------------------------------------------
        bqm : dimod.BinaryQuadraticModel
        num_reads : int, optional
            Default: the number of ``initial_states``, else 1.
        initial_states : samples-like, optional
        initial_states_generator : {"random", "tile", "none"}
        seed : int, optional
            0 … 2³² − 1 (only used for random initial states); default a fresh random seed.
        large_sparse_opt : bool
            **Difference:** accepted and ignored; boltzkit chooses dense or CSR storage by density
            (:meth:`SpinModel.from_bqm`) and its descent keeps the local fields up to date either way.

        Parameters (boltzkit only)
        --------------------------
        threads : int, optional

        Returns
        -------
        dimod.SampleSet
            Local minima, energies in the BQM's convention, ``num_occurrences``, the data vector
            ``num_steps`` (flips per read) and ``info["timing"]``.

        Notes
        -----
        Ties between equally steep flips may be broken differently from dwave-samplers, so from
        the same start the two can reach different (equally valid) local minima.
        """
        t0 = time.perf_counter_ns()
        if kwargs:
            self.remove_unknown_kwargs(**kwargs)
        bqm = _as_bqm(bqm)
        vartype = bqm.vartype
        spin = bqm if vartype is dimod.SPIN else bqm.change_vartype(dimod.SPIN, inplace=False)
        sd = _seed(seed)
        as_bool("large_sparse_opt", large_sparse_opt)
        init, variables = _initial(self, spin, initial_states, initial_states_generator, _num_reads(num_reads), sd)
        model = _model(spin, variables)
        t1 = time.perf_counter_ns()
        if model.n == 0:
            states, energies, steps = init, model.energy(init), np.zeros(init.shape[0], dtype=np.uint64)
        else:
            r = model.descend(init, threads=threads)
            states, energies, steps = r.states, r.energies, r.flips
        t2 = time.perf_counter_ns()
        ss = _sampleset(states, variables, np.asarray(energies, dtype=np.float64), vartype, {}, num_steps=steps)
        ss.info["timing"] = _timing(t0, t1, t2)
        return ss


class TemperingSampler(dimod.Sampler):  # type: ignore[misc]
    """Parallel tempering as a dimod sampler (no dwave-samplers counterpart).

    Each read is one ladder of ``num_replicas`` replicas at the β of the schedule; every round
    each replica makes one sweep, then neighbours exchange states with the Metropolis rule
    (:meth:`SpinModel.tempering`). A read returns the final state of its coldest replica (the
    largest β), i.e. a sample of the Boltzmann distribution at that β once the ladder mixes.

    Examples
    --------
    >>> import dimod
    >>> from boltzkit.spin import TemperingSampler
    >>> bqm = dimod.BinaryQuadraticModel({"a": 0.5}, {("a", "b"): -1.0}, 0.0, "SPIN")
    >>> ss = TemperingSampler().sample(bqm, num_reads=4, num_sweeps=200, seed=1)
    >>> ss.first.energy
    -1.5
    """

    @property
    def parameters(self) -> dict[str, list[str]]:
        """Keyword arguments of :meth:`sample` (dimod's sampler API)."""
        return self._parameters

    @property
    def properties(self) -> dict[str, Any]:
        """Allowed values of some parameters (dimod's sampler API)."""
        return self._properties

    def __init__(self) -> None:
        self._parameters: dict[str, list[str]] = {
            "num_reads": [],
            "num_sweeps": [],
            "num_replicas": [],
            "beta_range": [],
            "beta_schedule_type": ["beta_schedule_options"],
            "beta_schedule": [],
            "seed": [],
            "proposal_acceptance_criteria": [],
            "threads": [],
        }
        self._properties: dict[str, Any] = {"beta_schedule_options": ("linear", "geometric", "custom")}

    def sample(
        self,
        bqm: Any,
        num_reads: int | None = None,
        num_sweeps: int = 1000,
        num_replicas: int = 16,
        beta_range: Sequence[float] | None = None,
        beta_schedule_type: BetaScheduleType = "geometric",
        beta_schedule: npt.ArrayLike | None = None,
        seed: int | None = None,
        proposal_acceptance_criteria: ProposalAcceptance = "Metropolis",
        *,
        threads: int | None = None,
        **kwargs: object,
    ) -> Any:
        """Run ``num_reads`` independent tempering ladders for ``num_sweeps`` rounds.

        Parameters
        ----------
        bqm : dimod.BinaryQuadraticModel
        num_reads : int, optional
            Independent ladders, 1 … 1024 (default 1); one sample each.
        num_sweeps : int
            Rounds (one sweep of every replica, then the exchanges); default 1000.
        num_replicas : int
            Ladder length for "linear" / "geometric" (default 16).
        beta_range : (float, float), optional
            Hottest and coldest β of the ladder; default dwave-samplers' annealing rule
            (:func:`default_ising_beta_range`).
        beta_schedule_type : {"geometric", "linear", "custom"}
        beta_schedule : array_like, optional
            The ladder itself for "custom" (sorted, non-negative).
        seed : int, optional
            0 … 2³² − 1; default a fresh random seed.
        proposal_acceptance_criteria : {"Metropolis", "Gibbs"}
        threads : int, optional

        Returns
        -------
        dimod.SampleSet
            The coldest replica's final state per ladder; ``info``: ``beta_schedule`` (the ladder),
            ``swap_acceptance`` (per neighbour pair) and ``timing``.

        Warns
        -----
        RuntimeWarning
            When a neighbour pair exchanged too rarely (the ladder does not mix; see
            :meth:`SpinModel.tempering`).
        """
        t0 = time.perf_counter_ns()
        if kwargs:
            self.remove_unknown_kwargs(**kwargs)
        bqm = _as_bqm(bqm)
        vartype = bqm.vartype
        spin = bqm if vartype is dimod.SPIN else bqm.change_vartype(dimod.SPIN, inplace=False)
        sd = _seed(seed)
        nr = 1 if num_reads is None else as_int("num_reads", num_reads, 1, 1024)
        ns = as_int("num_sweeps", num_sweeps, 1)
        proposal = _proposal(proposal_acceptance_criteria)
        variables = list(spin.variables)
        model = _model(spin, variables)
        if beta_schedule_type == "custom":
            ladder = _custom_schedule(beta_schedule)
            if ladder.size == 0:
                raise InvalidArgumentError("beta_schedule: must not be empty")
        elif beta_schedule_type in ("linear", "geometric"):
            if beta_schedule is not None:
                raise InvalidArgumentError("beta_schedule: must be None unless beta_schedule_type = 'custom'")
            nrep = as_int("num_replicas", num_replicas, 1, 4096)
            br = default_ising_beta_range(model) if beta_range is None else _beta_range(beta_range)
            ladder = _interpolate(br, nrep, beta_schedule_type)
        else:
            raise InvalidArgumentError(
                f"beta_schedule_type: expected 'linear', 'geometric' or 'custom', got {beta_schedule_type!r}"
            )
        t1 = time.perf_counter_ns()
        acc: list[float] = []
        if model.n == 0:
            states = np.zeros((nr, 0), dtype=np.int8)
        else:
            r = model.tempering(
                ladder, ns, burn_in=0, thin=ns, n_sets=nr, proposal=proposal, seed=sd, threads=threads,
            )  # fmt: skip
            states = np.ascontiguousarray(r.final_states[:, int(np.argmax(ladder)), :])
            acc = [float(x) for x in r.swap_acceptance]
        energies = model.energy(states)
        t2 = time.perf_counter_ns()
        info = {"beta_schedule": ladder.tolist(), "beta_schedule_type": beta_schedule_type, "swap_acceptance": acc}
        ss = _sampleset(states, variables, np.asarray(energies, dtype=np.float64), vartype, info)
        ss.info["timing"] = _timing(t0, t1, t2)
        return ss
