"""Ising spin models: neural networks as spin models, fast minimisation, TAP phases, MPF fitting.

Conventions: spins ``s_i ∈ {−1, +1}``, energy ``E(s) = −Σ_{i<j} J_ij s_i s_j − Σ_i h_i s_i``
(+ a constant ``offset``), ``p(s) ∝ exp(−β E(s))``; ``J`` symmetric with a zero diagonal.
Conversions to dimod's Ising convention (``J_dimod = −J``, ``h_dimod = −h``), QUBO and the
``{0,1}`` MPF form are exact, offsets included.

Main entry points
-----------------
SpinModel
    Couplings (dense float64 / float32, sparse CSR, or layered for networks) and fields, with
    ``energy``, ``anneal``, ``descend``, ``tempering``, ``tap``, ``enumerate_exact`` and
    conversions (``to_bqm`` / ``from_bqm``, ``to_qubo`` / ``from_qubo``, ``to_mpf_form``).
sk, layered_sk, lattice_2d, curie_weiss, chain
    Standard instances.
fit_mpf, fit_pseudolikelihood, fit_exact_ml
    Learning couplings from samples.
SimulatedAnnealingSampler, TemperingSampler, SteepestDescentSolver
    ``dimod.Sampler`` classes (need dimod, the ``spin`` extra; imported on first use) taking
    dwave-samplers' parameters; they return labelled ``dimod.SampleSet`` objects.
phase
    T_c from theory, from ``J∘J`` and from the TAP Hessian; bond spectrum; power-law fits.
nn
    The paper's experiment: train small MLPs, map snapshots to spin models, follow T_c.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boltzkit.spin import nn, phase
from boltzkit.spin._fit import (
    FitObjective,
    FitResult,
    SpinEncoding,
    coupling_rmse,
    fit_exact_ml,
    fit_mpf,
    fit_pseudolikelihood,
    mpf_objective,
)
from boltzkit.spin._generators import Bonds, Couplings, chain, curie_weiss, lattice_2d, layered_sk, sk
from boltzkit.spin._model import (
    ENUMERATE_MAX_N,
    AnnealResult,
    BetaScheduleType,
    DescendResult,
    Diagonal,
    Enumeration,
    FloatDtype,
    InitialStateGenerator,
    Kernel,
    Proposal,
    ProposalAcceptance,
    QuboFormat,
    RealArray,
    Schedule,
    SpinModel,
    Storage,
    StorageChoice,
    SweepOrder,
    TapInit,
    TapResult,
    TapSolver,
    TemperingResult,
    Vartype,
    batch_means,
    beta_schedule,
)

if TYPE_CHECKING:
    from boltzkit.spin._samplers import SimulatedAnnealingSampler, SteepestDescentSolver, TemperingSampler

_SAMPLERS = ("SimulatedAnnealingSampler", "SteepestDescentSolver", "TemperingSampler")


if not TYPE_CHECKING:  # hidden from type checkers: they see the samplers above, and a typo stays an error

    def __getattr__(name: str) -> object:
        """The dimod samplers, imported on first use so that ``import boltzkit.spin`` works without dimod."""
        if name in _SAMPLERS:
            try:
                from boltzkit.spin import _samplers
            except ModuleNotFoundError as e:
                if e.name != "dimod":
                    raise
                raise ModuleNotFoundError(
                    f"{name}: needs dimod; pip install 'boltzkit[spin]' or pip install dimod", name="dimod"
                ) from None
            return getattr(_samplers, name)
        raise AttributeError(f"module 'boltzkit.spin' has no attribute {name!r}")


__all__ = [
    "ENUMERATE_MAX_N",
    "AnnealResult",
    "BetaScheduleType",
    "Bonds",
    "Couplings",
    "DescendResult",
    "Diagonal",
    "Enumeration",
    "FitObjective",
    "FitResult",
    "FloatDtype",
    "InitialStateGenerator",
    "Kernel",
    "Proposal",
    "ProposalAcceptance",
    "QuboFormat",
    "RealArray",
    "Schedule",
    "SimulatedAnnealingSampler",
    "SpinEncoding",
    "SpinModel",
    "SteepestDescentSolver",
    "Storage",
    "StorageChoice",
    "SweepOrder",
    "TapInit",
    "TapResult",
    "TapSolver",
    "TemperingResult",
    "TemperingSampler",
    "Vartype",
    "batch_means",
    "beta_schedule",
    "chain",
    "coupling_rmse",
    "curie_weiss",
    "fit_exact_ml",
    "fit_mpf",
    "fit_pseudolikelihood",
    "lattice_2d",
    "layered_sk",
    "mpf_objective",
    "nn",
    "phase",
    "sk",
]
