# Stubs of the compiled module boltzkit._core (checked by `python -m mypy.stubtest boltzkit._core`).
from collections.abc import Callable
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "HMC_MOVE_REFRESH",
    "HmcRun",
    "HmcTarget",
    "NutsRun",
    "__version__",
    "approx_callback",
    "approx_law",
    "closed_form_k_law",
    "default_num_threads",
    "empirical_u8",
    "empirical_u16",
    "empirical_u32",
    "empirical_u64",
    "entropy_callback",
    "entropy_law",
    "format_derived",
    "format_names",
    "format_params",
    "hmc_autocorr",
    "hmc_ess",
    "hmc_grid",
    "mlp_estimate",
    "mlp_gauss_moments",
    "mlp_gradient",
    "mlp_mean_field",
    "mlp_monte_carlo",
    "mlp_tail_mc",
    "quantize",
    "quantize_codes",
    "spin_anneal",
    "spin_anneal_layered",
    "spin_descend",
    "spin_energies",
    "spin_enumerate",
    "spin_fit_objective",
    "spin_fit_objective01",
    "spin_local_fields",
    "spin_perron_hadamard",
    "spin_tap",
    "spin_tap_free_energy",
    "spin_tempering",
]

__version__: str

_FormatSpec = tuple[str, int, int, int, str, str]
_LawSpec = tuple[str, list[float], float, float]

def default_num_threads() -> int: ...
def format_params(name: str) -> _FormatSpec: ...
def format_names() -> list[str]: ...
def format_derived(fmt: _FormatSpec) -> dict[str, Any]: ...
def quantize(x: npt.NDArray[np.float64], fmt: _FormatSpec, threads: int | None = None) -> npt.NDArray[np.float64]: ...
def quantize_codes(x: npt.NDArray[np.float64], fmt: _FormatSpec, threads: int | None = None) -> npt.NDArray[np.uint64]: ...
def entropy_law(
    law: _LawSpec, fmt: _FormatSpec, merge_zero: bool = False, method: str = "auto", threads: int | None = None
) -> dict[str, Any]: ...
def entropy_callback(
    adapter: Any,
    support: tuple[float, float],
    breakpoints: list[float],
    anchors: list[float],
    fd_scale: float,
    fmt: _FormatSpec,
    scale: float = 1.0,
    merge_zero: bool = False,
    method: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]: ...
def approx_law(law: _LawSpec, fmt: _FormatSpec, merge_zero: bool = False, threads: int | None = None) -> dict[str, Any]: ...
def approx_callback(
    adapter: Any,
    support: tuple[float, float],
    breakpoints: list[float],
    anchors: list[float],
    fd_scale: float,
    fmt: _FormatSpec,
    scale: float = 1.0,
    merge_zero: bool = False,
    threads: int | None = None,
) -> dict[str, Any]: ...
def closed_form_k_law(law: _LawSpec) -> float | None: ...
def empirical_u8(
    codes: npt.NDArray[np.uint8], exponent_bits: int, mantissa_bits: int, threads: int | None = None
) -> dict[str, Any]: ...
def empirical_u16(
    codes: npt.NDArray[np.uint16], exponent_bits: int, mantissa_bits: int, threads: int | None = None
) -> dict[str, Any]: ...
def empirical_u32(
    codes: npt.NDArray[np.uint32], exponent_bits: int, mantissa_bits: int, threads: int | None = None
) -> dict[str, Any]: ...
def empirical_u64(
    codes: npt.NDArray[np.uint64], exponent_bits: int, mantissa_bits: int, threads: int | None = None
) -> dict[str, Any]: ...

# ---- hmc ----------------------------------------------------------------------------------

HMC_MOVE_REFRESH: int

@final
class HmcTarget:
    @staticmethod
    def gaussian_diag(precisions: npt.NDArray[np.float64]) -> HmcTarget: ...
    @staticmethod
    def gaussian_dense(precision: npt.NDArray[np.float64]) -> HmcTarget: ...
    @staticmethod
    def rough_well(dim: int, a: float, b: float) -> HmcTarget: ...
    @staticmethod
    def product_of_t(w: npt.NDArray[np.float64], b: npt.NDArray[np.float64], nu: npt.NDArray[np.float64]) -> HmcTarget: ...
    @staticmethod
    def bimodal(m: npt.NDArray[np.float64]) -> HmcTarget: ...
    @staticmethod
    def funnel(dim: int, sigma: float) -> HmcTarget: ...
    @staticmethod
    def logistic(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], prior_scale: float) -> HmcTarget: ...
    @property
    def dim(self) -> int: ...
    def energy_grad(
        self, x: npt.NDArray[np.float64], threads: int | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

@final
class HmcRun:
    def __new__(
        cls,
        target: Any,
        method: str,
        x0: npt.NDArray[np.float64],
        step_size: float,
        n_leapfrog: int,
        beta: float,
        refresh_rate: float,
        look_ahead: int,
        cache: bool,
        thin: int,
        inverse_mass_matrix: npt.NDArray[np.float64] | None,
        seed: int,
    ) -> HmcRun: ...
    def set_jitter(self, jitter: float, seed: int) -> None: ...
    def init(self) -> None: ...
    def start_warmup(self, n_iter: int, adapt_step_size: bool, adapt_metric: bool, target_accept: float) -> None: ...
    @property
    def warmup_left(self) -> int: ...
    def warmup(self, n_iter: int, threads: int | None = None) -> None: ...
    def reserve(self, n_iter: int) -> None: ...
    def run(self, n_iter: int, threads: int | None = None) -> None: ...
    @property
    def step_size(self) -> float: ...
    @property
    def inverse_mass_matrix(self) -> npt.NDArray[np.float64]: ...
    def output(self) -> dict[str, Any]: ...

@final
class NutsRun:
    def __new__(
        cls,
        target: Any,
        x0: npt.NDArray[np.float64],
        step_size: float,
        inverse_mass_matrix: npt.NDArray[np.float64] | None,
        max_tree_depth: int,
        max_energy_error: float,
        seed: int,
    ) -> NutsRun: ...
    def init(self) -> None: ...
    def start_warmup(
        self,
        n_iter: int,
        adapt_step_size: bool,
        adapt_metric: bool,
        dense: bool,
        target_accept: float,
        pooled: bool,
        save: bool,
    ) -> None: ...
    @property
    def warmup_left(self) -> int: ...
    def warmup(self, n_iter: int, threads: int | None = None) -> None: ...
    def reserve(self, n_iter: int) -> None: ...
    def run(self, n_iter: int, threads: int | None = None) -> None: ...
    @property
    def step_sizes(self) -> npt.NDArray[np.float64]: ...
    def inverse_mass_matrix(self, c: int) -> npt.NDArray[np.float64]: ...
    def output(self, warmup: bool) -> dict[str, Any]: ...

def hmc_ess(
    x: npt.NDArray[np.float64], square: bool = False, split: bool = True, threads: int | None = None
) -> npt.NDArray[np.float64]: ...
def hmc_autocorr(
    x: npt.NDArray[np.float64], max_lag: int, square: bool = False, threads: int | None = None
) -> npt.NDArray[np.float64]: ...
def hmc_grid(x: npt.NDArray[np.float64], tau: npt.NDArray[np.float64], dt: float) -> npt.NDArray[np.float64]: ...

# ---------------------------------------------------------------------------------------- spin
# A model is ("dense", J f64 (n,n), h), ("dense32", J f32 (n,n), h),
# ("csr", indptr int64, indices int64, data f64, h) or ("layered", widths, [W_l f64 2-d], h).
_Model = tuple[Any, ...]
_F64 = npt.NDArray[np.float64]
_I8 = npt.NDArray[np.int8]
_Progress = Callable[[int, int], object]

def spin_energies(model: _Model, states: _I8, threads: int | None = None) -> _F64: ...
def spin_local_fields(model: _Model, states: _I8, threads: int | None = None) -> _F64: ...
def spin_anneal(
    model: _Model,
    betas: _F64,
    sweeps_per_beta: int,
    num_reads: int,
    proposal: str,
    order: str,
    initial_states: _I8 | None,
    seed: int,
    trace: bool,
    threads: int | None = None,
    progress: _Progress | None = None,
) -> dict[str, Any]: ...
def spin_anneal_layered(
    model: _Model,
    betas: _F64,
    sweeps_per_beta: int,
    num_reads: int,
    initial_states: _I8 | None,
    seed: int,
    trace: bool,
    threads: int | None = None,
    progress: _Progress | None = None,
) -> dict[str, Any]: ...
def spin_descend(model: _Model, states: _I8, threads: int | None = None) -> tuple[_I8, _F64, npt.NDArray[np.uint64]]: ...
def spin_tempering(
    model: _Model,
    betas: _F64,
    n_sets: int,
    num_sweeps: int,
    burn_in: int,
    thin: int,
    proposal: str,
    record_states: bool,
    seed: int,
    threads: int | None = None,
    progress: _Progress | None = None,
) -> dict[str, Any]: ...
def spin_enumerate(
    model: _Model,
    betas: _F64,
    n_lowest: int,
    correlations: bool,
    overlap_distribution: bool,
    threads: int | None = None,
    progress: _Progress | None = None,
) -> dict[str, Any]: ...
def spin_tap(
    model: _Model,
    temperatures: _F64,
    damping: float,
    tol: float,
    max_iter: int,
    onsager: bool,
    inits: _F64,
    threads: int | None = None,
    newton: bool = False,
    progress: _Progress | None = None,
) -> dict[str, Any]: ...
def spin_tap_free_energy(model: _Model, m: _F64, temperature: float, onsager: bool = True) -> float: ...
def spin_perron_hadamard(model: _Model, tol: float, max_iter: int, threads: int | None = None) -> tuple[float, _F64, int]: ...
def spin_fit_objective(data: _I8, j: _F64, h: _F64, objective: str, threads: int | None = None) -> tuple[float, _F64, _F64]: ...
def spin_fit_objective01(data: _I8, w: _F64, all_flip: bool, threads: int | None = None) -> tuple[float, _F64]: ...

# ---- mlp ----
_MlpNet = tuple[list[_F64], list[_F64], list[str], _F64, _F64]

def mlp_estimate(
    net: _MlpNet,
    method: str,
    mehler_order: int = 1,
    keep_cov: bool = False,
    threads: int | None = None,
    init_scale: list[float] | None = None,
) -> dict[str, Any]: ...
def mlp_monte_carlo(
    net: _MlpNet,
    n_samples: int,
    batch: int,
    seed: int,
    antithetic: bool = False,
    threads: int | None = None,
    progress: _Progress | None = None,
) -> dict[str, Any]: ...
def mlp_tail_mc(
    net: _MlpNet,
    layer: int,
    threshold: float,
    shift: _F64 | None,
    n_samples: int,
    batch: int,
    seed: int,
    threads: int | None = None,
    progress: _Progress | None = None,
) -> dict[str, Any]: ...
def mlp_gradient(
    net: _MlpNet,
    method: str,
    mehler_order: int,
    layer: int,
    c_mean: _F64,
    c_var: _F64,
    threads: int | None = None,
    init_scale: list[float] | None = None,
    avg_metric: bool = False,
) -> tuple[float, list[_F64], list[_F64]]: ...
def mlp_mean_field(acts: list[str], w_var: list[float], b_var: list[float], q_in: float) -> list[tuple[float, float]]: ...
def mlp_gauss_moments(activation: str, m: _F64, v: _F64, kmax: int) -> dict[str, Any]: ...
