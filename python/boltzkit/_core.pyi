# Stubs of the compiled module boltzkit._core (checked by `python -m mypy.stubtest boltzkit._core`).
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
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
    "quantize",
    "quantize_codes",
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
