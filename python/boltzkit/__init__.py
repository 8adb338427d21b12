"""boltzkit: fast, typed tools from the statistical physics of learning.

Modules
-------
fpentropy
    Entropy of random variables quantized to floating-point formats (float64 … float4).
hmc
    Markov-jump HMC, look-ahead HMC and HMC, many chains in parallel, with diagnostics.
mlp
    Expected outputs and tail probabilities of wide random MLPs by moment propagation.
spin
    Ising spin models: neural networks as spin models, annealing, tempering, TAP, MPF fitting.

The heavy lifting runs in a Rust core (``boltzkit._core``), multithreaded with rayon, with the
GIL released. ``set_num_threads`` sets the default thread count; every entry point also takes
``threads=``. Results never depend on the thread count.
"""

from __future__ import annotations

from boltzkit import _core, fpentropy, hmc, mlp, spin
from boltzkit._threads import get_num_threads, set_num_threads
from boltzkit.errors import BoltzkitError, ComputationError, InvalidArgumentError, InvalidTypeError

__version__: str = _core.__version__

__all__ = [
    "BoltzkitError",
    "ComputationError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "__version__",
    "fpentropy",
    "get_num_threads",
    "hmc",
    "mlp",
    "set_num_threads",
    "spin",
]
