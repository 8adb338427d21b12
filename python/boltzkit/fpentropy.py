"""Entropy of floating-point-quantized random variables.

Implements "The Entropy of Floating-Point Numbers" (Daniels, D'Ambrosia, DeWeese, Sahai, 2026):
the exact entropy of ``Q_F(X)``, a continuous random variable rounded (to nearest, ties to even)
to a binary floating-point format ``F``, the paper's approximation ``H ≈ p − 1/2 + K`` with its
error terms, and the empirical bits per value of real arrays.

Formats are given by name (``"float32"``, ``"bfloat16"``, ``"float8_e4m3fn"``, ...), as a numpy /
ml_dtypes dtype, or as a :class:`FloatFormat` for user-defined minifloats. Laws are frozen
``scipy.stats`` continuous distributions; the common ones (normal, uniform, exponential, laplace,
logistic, gamma, chi2, weibull_min, lognorm, pareto, beta, t, cauchy, halfnorm, loguniform) are
evaluated natively in Rust, any other through a handful of vectorised calls of its
``logpdf`` / ``cdf`` / ``sf``.

Examples
--------
>>> from scipy import stats
>>> from boltzkit import fpentropy
>>> round(fpentropy.entropy(stats.norm(), "float16").bits, 10)
13.4637230653
>>> a = fpentropy.approx_entropy(stats.norm(), "bfloat16")
>>> round(a.paper, 4)
10.4635
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import numpy as np
import numpy.typing as npt

from boltzkit import _core
from boltzkit._progress import track
from boltzkit._threads import resolve_threads
from boltzkit._validate import as_bool, as_int
from boltzkit.errors import BoltzkitError, ComputationError, InvalidArgumentError, InvalidTypeError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from scipy.stats import rv_continuous

__all__ = [
    "FORMATS",
    "ApproxResult",
    "ApproxTerms",
    "Correction",
    "EmpiricalResult",
    "EntropyMethod",
    "EntropyResult",
    "FloatFormat",
    "FormatLike",
    "FormatName",
    "FrozenDistribution",
    "Method",
    "Overflow",
    "ScaleSweep",
    "ZeroMode",
    "approx_entropy",
    "closed_form_k",
    "empirical_entropy",
    "entropy",
    "entropy_vs_scale",
    "get_format",
    "quantize",
    "quantize_codes",
]

FormatName = Literal[
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "float8_e5m2",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float6_e2m3fn",
    "float6_e3m2fn",
    "float4_e2m1fn",
    "float8_e4m3",
    "float8_e3m4",
    "float8_e4m3b11fnuz",
]

#: Names of the built-in formats.
FORMATS: tuple[FormatName, ...] = cast("tuple[FormatName, ...]", tuple(_core.format_names()))

#: ``method=`` of :func:`entropy`.
EntropyMethod = Literal["auto", "enumerate", "classes"]
#: Alias of :data:`EntropyMethod` (older name).
Method = EntropyMethod
#: ``FloatFormat.zero``: two signed zeros (IEEE) or one zero ("fnuz" formats).
ZeroMode = Literal["signed", "single"]
#: ``FloatFormat.overflow``: what values past ``xmax`` become.
Overflow = Literal["inf", "nan", "saturate"]
#: ``correction=`` of :func:`empirical_entropy`.
Correction = Literal["miller-madow"]


class FrozenDistribution(Protocol):
    """What :func:`entropy` and friends use of a frozen continuous ``scipy.stats`` law
    (``scipy.stats.norm(loc=0, scale=1)``): its generator and parameters (to recognise the laws
    evaluated natively and to rescale it), its support, and the vectorised ``logpdf`` / ``cdf`` /
    ``sf`` / ``ppf`` (the callbacks for the other laws)."""

    @property
    def dist(self) -> rv_continuous: ...
    @property
    def args(self) -> tuple[object, ...]: ...
    @property
    def kwds(self) -> Mapping[str, object]: ...
    def support(self, /) -> tuple[float, float]: ...
    def logpdf(self, x: npt.NDArray[np.float64], /) -> npt.ArrayLike: ...
    def cdf(self, x: npt.NDArray[np.float64], /) -> npt.ArrayLike: ...
    def sf(self, x: npt.NDArray[np.float64], /) -> npt.ArrayLike: ...
    def ppf(self, q: npt.NDArray[np.float64], /) -> npt.ArrayLike: ...


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format with an IEEE-style code layout.

    Parameters
    ----------
    exponent_bits : int
        Width of the exponent field (1–11).
    mantissa_bits : int
        Stored fraction bits ``m``; the precision is ``p = m + 1`` (0–52).
    bias : int, optional
        Exponent bias; ``emin = 1 - bias``. Defaults to ``2**(exponent_bits - 1) - 1``.
    zero : {"signed", "single"}
        Two zeros (IEEE), or one zero whose negative code is the NaN ("fnuz" formats).
    overflow : {"inf", "nan", "saturate"}
        What values past the largest finite value become: ±inf (the top exponent field is
        reserved, IEEE), NaN (only the all-ones code is NaN, "fn" formats; with ``zero="single"``
        the NaN is the negative-zero code), or the largest finite value ("saturate", no inf/NaN).
    name : str, optional
        Display name; generated when omitted.

    Examples
    --------
    >>> f = FloatFormat(exponent_bits=4, mantissa_bits=3, bias=7, overflow="nan")
    >>> f.xmax, f.precision
    (448.0, 4)
    >>> FloatFormat.from_name("float8_e4m3fn") == FloatFormat(4, 3, 7, "signed", "nan", "float8_e4m3fn")
    True
    """

    exponent_bits: int
    mantissa_bits: int
    bias: int | None = None
    zero: ZeroMode = "signed"
    overflow: Overflow = "inf"
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "exponent_bits", as_int("exponent_bits", self.exponent_bits, 1, 11))
        object.__setattr__(self, "mantissa_bits", as_int("mantissa_bits", self.mantissa_bits, 0, 52))
        if self.bias is None:
            object.__setattr__(self, "bias", (1 << (self.exponent_bits - 1)) - 1)
        else:
            object.__setattr__(self, "bias", as_int("bias", self.bias, -1100, 1100))
        if not isinstance(self.zero, str) or not isinstance(self.overflow, str):
            bad = "zero" if not isinstance(self.zero, str) else "overflow"
            raise InvalidTypeError(f"{bad}: expected a str, got {type(getattr(self, bad)).__name__}")
        if not isinstance(self.name, str):
            raise InvalidTypeError(f"name: expected a str, got {type(self.name).__name__}")
        if self.zero not in ("signed", "single"):
            raise InvalidArgumentError(f"zero: expected 'signed' or 'single', got {self.zero!r}")
        if self.overflow not in ("inf", "nan", "saturate"):
            raise InvalidArgumentError(f"overflow: expected 'inf', 'nan' or 'saturate', got {self.overflow!r}")
        if not self.name:
            suffix = {"inf": "", "nan": "fn", "saturate": "sat"}[self.overflow] + ("uz" if self.zero == "single" else "")
            object.__setattr__(
                self,
                "name",
                f"float{1 + self.exponent_bits + self.mantissa_bits}_e{self.exponent_bits}m{self.mantissa_bits}{suffix}",
            )
        _ = self._derived  # validates the combination in Rust (raises InvalidArgumentError)

    @classmethod
    def from_name(cls, name: FormatName) -> FloatFormat:
        """The named format (one of :data:`FORMATS`)."""
        if not isinstance(name, str):
            raise InvalidTypeError(f"fmt: expected a format name, got {type(name).__name__}")
        n, e, m, b, z, o = _core.format_params(name)
        return cls(e, m, b, z, o, n)  # type: ignore[arg-type]

    @classmethod
    def from_range(
        cls,
        precision: int,
        emin: int,
        emax: int,
        zero: ZeroMode = "signed",
        overflow: Overflow = "inf",
        name: str = "",
    ) -> FloatFormat:
        """The format with precision ``p`` (fraction bits ``p - 1``) and normal exponents
        ``emin..emax``.

        The exponent field must hold exactly that range: ``emax - emin + 1`` normal binades plus
        the subnormal field (and the reserved all-ones field for ``overflow="inf"``) must fill a
        power of two of fields.

        Raises
        ------
        InvalidArgumentError
            When no exponent width gives exactly that range (the message names the nearest one).
        """
        precision = as_int("precision", precision, 1, 53)
        emin = as_int("emin", emin, -1022, 1023)
        emax = as_int("emax", emax, emin, 1023)
        if overflow not in ("inf", "nan", "saturate"):
            raise InvalidArgumentError(f"overflow: expected 'inf', 'nan' or 'saturate', got {overflow!r}")
        reserved = 1 if overflow == "inf" else 0
        fields = (emax - emin + 1) + 1 + reserved  # normal binades, the subnormal field, inf/NaN
        eb = max(1, (fields - 1).bit_length())
        if 1 << eb != fields:
            lo = (1 << (eb - 1)) - 1 - reserved + emin - 1
            hi = (1 << eb) - 1 - reserved + emin - 1
            raise InvalidArgumentError(
                f"emax: emin..emax must span 2^k - {1 + reserved} binades for overflow={overflow!r}; "
                f"with emin = {emin} the nearest are emax = {lo} or {hi}"
            )
        return cls(eb, precision - 1, 1 - emin, zero, overflow, name)

    @property
    def spec(self) -> tuple[str, int, int, int, str, str]:
        """The tuple the compiled core takes."""
        return (self.name, int(self.exponent_bits), int(self.mantissa_bits), int(self.bias or 0), self.zero, self.overflow)

    @cached_property
    def _derived(self) -> dict[str, Any]:
        return dict(_core.format_derived(self.spec))

    @property
    def precision(self) -> int:
        """Significand bits including the implicit one, ``p = m + 1``."""
        return int(self._derived["precision"])

    @property
    def emin(self) -> int:
        """Smallest normal exponent."""
        return int(self._derived["emin"])

    @property
    def emax(self) -> int:
        """Largest exponent (that of the binade of ``xmax``)."""
        return int(self._derived["emax"])

    @property
    def xmax(self) -> float:
        """Largest finite value."""
        return float(self._derived["xmax"])

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value ``2**(emin - m)``."""
        return float(self._derived["min_subnormal"])

    @property
    def min_normal(self) -> float:
        """Smallest positive normal value ``2**emin``."""
        return float(self._derived["min_normal"])

    @property
    def bits(self) -> int:
        """Width of a code in bits."""
        return int(self._derived["bits"])

    @property
    def n_symbols(self) -> int:
        """Number of output symbols of the quantizer (finite values, zeros, inf/NaN)."""
        return int(self._derived["n_symbols"])

    @property
    def max_entropy(self) -> float:
        """``log2(n_symbols)``: the entropy can never exceed it."""
        return math.log2(self.n_symbols)


#: A format: a :class:`FloatFormat`, a name from :data:`FORMATS`, or a numpy / ml_dtypes float
#: dtype or scalar type (``np.float16``, ``np.dtype("float32")``, ``ml_dtypes.bfloat16``).
FormatLike = FloatFormat | FormatName | np.dtype[Any] | type[np.generic] | type[float]


def get_format(fmt: FormatLike) -> FloatFormat:
    """Resolve a format given by name, dtype or :class:`FloatFormat`.

    Raises
    ------
    InvalidArgumentError
        For an unknown name.
    InvalidTypeError
        For anything that is not a name, a dtype or a :class:`FloatFormat`.
    """
    if isinstance(fmt, FloatFormat):
        return fmt
    if isinstance(fmt, str):
        return FloatFormat.from_name(fmt)  # unknown names (from untyped callers) raise InvalidArgumentError
    if fmt is None:  # np.dtype(None) would silently be float64
        raise InvalidTypeError("fmt: expected a format name, a float dtype or a FloatFormat, got None")
    try:
        dt = np.dtype(fmt)
    except TypeError:
        raise InvalidTypeError(f"fmt: expected a format name, a float dtype or a FloatFormat, got {type(fmt).__name__}") from None
    return FloatFormat.from_name(cast("FormatName", dt.name))


# --------------------------------------------------------------------------- quantization

_STORAGE = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}


def _as_float64(x: npt.ArrayLike, name: str = "x") -> npt.NDArray[np.float64]:
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype.kind == "V" or _ml_float(a.dtype)):
        raise InvalidTypeError(f"{name}: expected a numeric array, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.complexfloating):
        raise InvalidTypeError(f"{name}: complex values cannot be quantized")
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(a, dtype=np.float64, order="C")


def _ml_float(dt: np.dtype[Any]) -> bool:
    return dt.name in FORMATS


def quantize(x: npt.ArrayLike, fmt: FormatLike, *, threads: int | None = None) -> npt.NDArray[np.float64]:
    """Round values to a float format: round to nearest, ties to even, then the overflow rule.

    The rounding is applied to the real value itself (no double rounding). For float32 input this
    is bit for bit what ``x.astype(ml_dtypes.<fmt>)`` gives; ml_dtypes casts float64 through
    float32, so for float64 input the two can differ by one code near ties.

    Parameters
    ----------
    x : array_like
        Values (any shape), converted to float64.
    fmt : str, dtype or FloatFormat
        Target format.
    threads : int, optional
        Worker threads (default: :func:`boltzkit.get_num_threads`).

    Returns
    -------
    ndarray of float64, same shape as ``x``
        The quantized values. NaN inputs give NaN; formats without NaN (float6 / float4) map NaN
        to a zero of the opposite sign bit, as ml_dtypes does.

    Examples
    --------
    >>> quantize([1.0 + 2**-11, 464.0, 1e6], "float8_e4m3fn")
    array([  1., 448.,  nan])
    """
    f = get_format(fmt)
    a = _as_float64(x)
    out = _core.quantize(a.ravel(), f.spec, resolve_threads(threads))
    return out.reshape(a.shape)


def quantize_codes(x: npt.ArrayLike, fmt: FormatLike, *, threads: int | None = None) -> npt.NDArray[np.unsignedinteger[Any]]:
    """Codes (bit patterns) of the quantized values, as ``uint8`` / ``uint16`` / ``uint32`` / ``uint64``.

    For the ml_dtypes formats these equal ``x.astype(ml_dtypes.<fmt>).view(uintN)`` (float32 input).
    """
    f = get_format(fmt)
    a = _as_float64(x)
    codes = _core.quantize_codes(a.ravel(), f.spec, resolve_threads(threads))
    width = 8 if f.bits <= 8 else 16 if f.bits <= 16 else 32 if f.bits <= 32 else 64
    return codes.astype(_STORAGE[width]).reshape(a.shape)


# --------------------------------------------------------------------------- laws

# scipy name -> (native kind, transform of (shapes, loc, scale))
_NATIVE: dict[str, str] = {
    "norm": "normal",
    "halfnorm": "halfnormal",
    "uniform": "uniform",
    "expon": "exponential",
    "laplace": "laplace",
    "logistic": "logistic",
    "cauchy": "cauchy",
    "gamma": "gamma",
    "chi2": "gamma",
    "weibull_min": "weibull",
    "lognorm": "lognormal",
    "pareto": "pareto",
    "t": "studentt",
    "beta": "beta",
    "loguniform": "loguniform",
    "reciprocal": "loguniform",
}


@dataclass(frozen=True)
class _Law:
    """A validated law: native spec, or a Python adapter for scipy's methods."""

    native: tuple[str, list[float], float, float] | None
    adapter: _ScipyAdapter | None
    support: tuple[float, float]
    breakpoints: list[float] = field(default_factory=list)
    description: str = ""
    fd_scale: float = 1.0
    anchors: list[float] = field(default_factory=list)


class _ScipyAdapter:
    """Vectorised callbacks the Rust core calls for a law it does not know natively."""

    def __init__(self, dist: FrozenDistribution) -> None:
        self._d = dist

    def logpdf3(self, x: npt.NDArray[np.float64], h: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        with np.errstate(all="ignore"):
            xs = np.concatenate([x, x + h, x - h])
            v = np.asarray(self._d.logpdf(xs), dtype=np.float64)
        return np.ascontiguousarray(v.reshape(-1))

    def cdf_sf(self, x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        with np.errstate(all="ignore"):
            c = np.ascontiguousarray(np.asarray(self._d.cdf(x), dtype=np.float64).reshape(-1))
            s = np.ascontiguousarray(np.asarray(self._d.sf(x), dtype=np.float64).reshape(-1))
        return c, s


def _law(dist: FrozenDistribution, *, native: bool = True) -> _Law:
    from scipy import stats

    if isinstance(dist, stats.rv_continuous):
        raise InvalidTypeError(f"dist: {type(dist).__name__} is not frozen; pass e.g. scipy.stats.{dist.name}(loc=0, scale=1)")
    if not hasattr(dist, "dist") or not hasattr(dist, "args"):
        raise InvalidTypeError(f"dist: expected a frozen scipy.stats distribution, got {type(dist).__name__}")
    if not isinstance(dist.dist, stats.rv_continuous):
        raise InvalidTypeError(f"dist: {dist.dist.name} is discrete; only continuous laws can be quantized")
    name = str(dist.dist.name)
    try:
        shapes, loc, scale = getattr(dist.dist, "_parse_args")(*dist.args, **dist.kwds)  # noqa: B009
    except TypeError as e:
        raise InvalidArgumentError(f"dist: bad parameters for scipy.stats.{name}: {e}") from None
    shapes = [float(s) for s in shapes]
    loc, scale = float(loc), float(scale)
    desc = f"{name}({', '.join([*(f'{s:g}' for s in shapes), f'loc={loc:g}', f'scale={scale:g}'])})"
    for label, v in [
        *zip(dist.dist.shapes.split(", ") if dist.dist.shapes else [], shapes, strict=False),
        ("loc", loc),
        ("scale", scale),
    ]:
        if not math.isfinite(v):
            raise InvalidArgumentError(f"dist: {label} must be finite, got {v}")
    if not scale > 0:
        raise InvalidArgumentError(f"dist: scale must be > 0, got {scale}")
    lo, hi = (float(v) for v in dist.support())
    if math.isnan(lo) or math.isnan(hi):
        raise InvalidArgumentError(f"dist: invalid parameters for scipy.stats.{name} ({desc})")
    if native and name in _NATIVE:
        kind = _NATIVE[name]
        if name == "chi2":
            shapes, scale = [0.5 * shapes[0]], 2.0 * scale
        return _Law((kind, shapes, loc, scale), None, (lo, hi), [], desc)
    bps = [v for v in (lo, hi) if math.isfinite(v)]
    try:
        with np.errstate(all="ignore"):
            qs = np.asarray(
                dist.ppf(np.array([1e-6, 1e-3, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1 - 1e-6])), dtype=np.float64
            )
        iqr = float(qs[6] - qs[4])
        anchors = [float(q) for q in qs if math.isfinite(q) and lo < q < hi]
    except Exception:  # a user law whose ppf fails: its pdf / cdf are checked later anyway
        iqr, anchors = math.nan, []
    fd_scale = 1e-3 * iqr if math.isfinite(iqr) and iqr > 0 else 1e-3 * scale
    return _Law(None, _ScipyAdapter(dist), (lo, hi), bps, desc, fd_scale, anchors)


# --------------------------------------------------------------------------- exact entropy


@dataclass(frozen=True)
class EntropyResult:
    """Exact entropy of a quantized law.

    Attributes
    ----------
    bits : float
        ``H_F(X)`` in bits, over the format's codes (±0 distinct unless ``merge_zero``).
    method : str
        ``"enumerate"`` (every cell) or ``"classes"`` (width classes).
    error_estimate : float
        Estimated absolute error in bits.
    p_zero, p_overflow, p_subnormal : float
        Probabilities of the zero symbol(s), of overflow (inf / NaN / saturated), and of the
        subnormal cells.
    total_mass : float
        Sum of all symbol probabilities (1 up to rounding).
    n_evaluations : int
        Number of density / cdf evaluations.
    fmt : str
        Format name.
    dist : str
        Description of the law.
    """

    bits: float
    method: Literal["enumerate", "classes"]
    error_estimate: float
    p_zero: float
    p_overflow: float
    p_subnormal: float
    total_mass: float
    n_evaluations: int
    fmt: str
    dist: str


def _check_method(method: str) -> None:
    if method not in ("auto", "enumerate", "classes"):
        raise InvalidArgumentError(f"method: expected 'auto', 'enumerate' or 'classes', got {method!r}")


def _check_bool(v: object, name: str) -> bool:
    return as_bool(name, v)


def entropy(
    dist: FrozenDistribution,
    fmt: FormatLike,
    *,
    merge_zero: bool = False,
    method: EntropyMethod = "auto",
    native: bool = True,
    threads: int | None = None,
) -> EntropyResult:
    """Exact entropy in bits of a continuous law quantized to a float format.

    ``H_F(X) = -Σ_c P_c log2 P_c`` over every output code: finite values (±0 distinct where the
    format has both), ±inf or the NaN symbol for overflow, or the saturated ±xmax cells.

    Parameters
    ----------
    dist : frozen scipy.stats continuous distribution
        The law of ``X``.
    fmt : str, dtype or FloatFormat
        The format.
    merge_zero : bool, default False
        Count +0 and −0 as one symbol (value entropy).
    method : {"auto", "enumerate", "classes"}
        ``"auto"`` enumerates every cell for formats of ≤ 16 bits and uses the width-class method
        (exact up to O(w⁴) per cell, error estimated) for wider ones.
    native : bool, default True
        Evaluate the common laws in Rust; ``False`` forces scipy's vectorised ``logpdf`` / ``cdf``
        / ``sf`` (useful to cross-check).
    threads : int, optional
        Worker threads.

    Returns
    -------
    EntropyResult

    Raises
    ------
    InvalidTypeError
        If ``dist`` is not a frozen continuous scipy distribution or ``fmt`` has the wrong type.
    InvalidArgumentError
        For an unknown format, bad law parameters (NaN, non-positive scale), or a law whose
        callbacks return invalid values.

    Examples
    --------
    >>> from scipy import stats
    >>> round(entropy(stats.norm(), "float8_e4m3fn").bits, 12)
    6.450363225379
    """
    f = get_format(fmt)
    _check_method(method)
    mz = _check_bool(merge_zero, "merge_zero")
    law = _law(dist, native=_check_bool(native, "native"))
    return _entropy(law, f, 1.0, mz, method, resolve_threads(threads))


# scales one entropy_vs_scale call may sweep (each is a full exact + approximate computation)
_MAX_SCALES = 100_000

# |total mass - 1| above this means the law's pdf and cdf disagree (the methods reach ~1e-12)
_MASS_TOL = 1e-6


def _law_error(law: _Law, msg: str) -> Exception:
    """A result that breaks its invariants: the user's law is to blame when it came through
    callbacks (its methods disagree), our computation when the law is native."""
    if law.native is None:
        return InvalidArgumentError(f"dist: {msg}: its logpdf/pdf and cdf disagree or are not a normalised law")
    return ComputationError(f"dist: {msg} for {law.description}; the computation cannot be trusted")


def _check_entropy(r: dict[str, Any], law: _Law, f: FloatFormat, scale: float) -> None:
    """Checks a result's invariants before it is returned (issue 14)."""
    for k in ("bits", "error_estimate", "p_zero", "p_overflow", "p_subnormal", "total_mass"):
        if not math.isfinite(float(r[k])):
            raise _law_error(law, f"the entropy computation gave {k} = {float(r[k])}")
    tm = float(r["total_mass"])
    if abs(tm - 1.0) > _MASS_TOL:
        raise _law_error(law, f"the law's probabilities sum to {tm:.9g}, not 1")
    for k in ("p_zero", "p_overflow", "p_subnormal"):
        if not -_MASS_TOL <= float(r[k]) <= 1.0 + _MASS_TOL:
            raise _law_error(law, f"{k} = {float(r[k]):.9g} is not a probability")
    bits, top = float(r["bits"]), f.max_entropy
    if not -1e-9 <= bits <= top + 1e-9:
        raise _law_error(law, f"the entropy {bits:.9g} bits is outside [0, log2(#codes) = {top:.6g}]")


def _entropy(law: _Law, f: FloatFormat, scale: float, merge_zero: bool, method: str, threads: int | None) -> EntropyResult:
    if law.native is not None:
        kind, shapes, loc, sc = law.native
        r = _core.entropy_law((kind, shapes, loc * scale, sc * scale), f.spec, merge_zero, method, threads)
    else:
        cb = (law.adapter, law.support, law.breakpoints, law.anchors, law.fd_scale * scale)
        r = _core.entropy_callback(*cb, f.spec, scale, merge_zero, method, threads)
    _check_entropy(r, law, f, scale)
    return EntropyResult(
        bits=float(r["bits"]),
        method=cast('Literal["enumerate", "classes"]', str(r["method"])),
        error_estimate=float(r["error_estimate"]),
        p_zero=float(r["p_zero"]),
        p_overflow=float(r["p_overflow"]),
        p_subnormal=float(r["p_subnormal"]),
        total_mass=float(r["total_mass"]),
        n_evaluations=int(r["n_evaluations"]),
        fmt=f.name,
        dist=law.description if scale == 1.0 else f"{scale:g} * {law.description}",
    )


# --------------------------------------------------------------------------- approximation


@dataclass(frozen=True)
class ApproxTerms:
    """Terms of ``H = paper + b + u + v + d + w`` (bits); see :func:`approx_entropy`."""

    k: float
    k_closed_form: bool
    b: float
    b_point: float
    u: float
    v: float
    d: float
    d_bound: float
    w: float
    w_bound: float


@dataclass(frozen=True)
class ApproxResult:
    """The paper's approximation, the refined one and a bound on the refined one's error.

    Attributes
    ----------
    paper : float
        ``p − 1/2 + K`` with ``K = h(sign, ln|X|)`` in bits (exactly scale-invariant).
    refined : float
        ``paper + b + u + v + d``: boundary cells, underflow, overflow and within-cell KL terms.
    bound : float
        ``|H − refined| ≤ bound`` (``w_bound`` plus the spread of the KL term).
    terms : ApproxTerms
        The individual terms, the wobble ``w`` (the periodic remainder, computed) and its bound.
    """

    paper: float
    refined: float
    bound: float
    terms: ApproxTerms

    @property
    def refined_with_wobble(self) -> float:
        """``refined + w``: within ``|d_true − d|`` of the exact entropy."""
        return self.refined + self.terms.w


def approx_entropy(
    dist: FrozenDistribution,
    fmt: FormatLike,
    *,
    merge_zero: bool = False,
    native: bool = True,
    threads: int | None = None,
) -> ApproxResult:
    """The paper's analytic approximation of the entropy, refined, with error terms and a bound.

    ``H ≈ p − 1/2 + K`` (``p`` the precision, ``K = −E[log2(|X| f(X))]``), and the exact
    decomposition ``H = paper + B + U + V + W + D``:

    - ``b``: the 3/4-width power-of-two cells (≈ ``0.0884 · 2^(1−p)`` for smooth laws),
    - ``u``: subnormals / underflow, ``v``: overflow symbols,
    - ``d``: within-cell KL, ``≈ E[(w f'/f)²]/(24 ln 2)`` (``d_bound`` bounds the true value),
    - ``w``: the wobble ``E[frac(log2|X|)] − 1/2``, periodic in ``log2`` of the scale, with
      ``|w| ≤ w_bound = min(TV(g)/12, Σ_{k≤64} |E sin(2πkY)|/(πk) + TV(g)/(128π²))``
      (``Y = log2|X|``, ``g`` its density): 8e-4 bits for a normal law, whose observed wobble
      amplitude is 3.6e-4.

    The approximation is meaningless for 4- and 6-bit formats (errors of 0.5–1.4 bits).

    Parameters
    ----------
    dist, fmt, merge_zero, native, threads
        As in :func:`entropy`.

    Returns
    -------
    ApproxResult
    """
    f = get_format(fmt)
    mz = _check_bool(merge_zero, "merge_zero")
    law = _law(dist, native=_check_bool(native, "native"))
    return _approx(law, f, 1.0, mz, resolve_threads(threads))


# laws wider than this have densities near float64's subnormals: the quadrature of the
# approximation cannot converge on them (and every such law overflows every format anyway)
_APPROX_MAX_WIDTH = 1e290


def _approx(law: _Law, f: FloatFormat, scale: float, merge_zero: bool, threads: int | None) -> ApproxResult:
    width = (law.native[3] if law.native is not None else 1e3 * law.fd_scale) * scale
    if not width <= _APPROX_MAX_WIDTH:
        raise ComputationError(
            f"dist: {law.description} has a width of {width:.3g}, above {_APPROX_MAX_WIDTH:g}: its density "
            "underflows float64, so the approximation cannot be computed; use entropy() instead"
        )
    if law.native is not None:
        kind, shapes, loc, sc = law.native
        r = _core.approx_law((kind, shapes, loc * scale, sc * scale), f.spec, merge_zero, threads)
    else:
        cb = (law.adapter, law.support, law.breakpoints, law.anchors, law.fd_scale * scale)
        r = _core.approx_callback(*cb, f.spec, scale, merge_zero, threads)
    for k in ("paper", "refined", "bound", "k", "b", "b_point", "u", "v", "d", "d_bound", "w", "w_bound"):
        if not math.isfinite(float(r[k])):
            raise ComputationError(
                f"dist: the approximation's term {k} is {float(r[k])} for {law.description}; use entropy() instead"
            )
    refined, bound = float(r["refined"]), float(r["bound"])
    if refined + bound < -1e-9 or refined - bound > f.max_entropy + 1e-9:
        raise ComputationError(
            f"dist: the refined approximation {refined:.6g} ± {bound:.3g} bits lies outside "
            f"[0, log2(#codes) = {f.max_entropy:.6g}] for {law.description}: the approximation breaks down "
            "for this law and format; use entropy() instead"
        )
    terms = ApproxTerms(
        k=float(r["k"]),
        k_closed_form=bool(r["k_closed_form"]),
        b=float(r["b"]),
        b_point=float(r["b_point"]),
        u=float(r["u"]),
        v=float(r["v"]),
        d=float(r["d"]),
        d_bound=float(r["d_bound"]),
        w=float(r["w"]),
        w_bound=float(r["w_bound"]),
    )
    return ApproxResult(paper=float(r["paper"]), refined=float(r["refined"]), bound=float(r["bound"]), terms=terms)


def closed_form_k(dist: FrozenDistribution) -> float:
    """``K = h(sign, ln|X|)`` in bits from the closed forms of the paper's table.

    Available for laws with location 0 (uniform: ``[0, a]`` or ``[−a, a]``): normal, half-normal,
    uniform, exponential, Laplace, logistic, gamma, χ², Weibull, log-normal, Pareto, beta,
    Student t, Cauchy, log-uniform. ``approx_entropy(...).paper - p + 1/2`` equals it.

    Raises
    ------
    InvalidArgumentError
        When the law has no closed form (another family, or a non-zero location).
    """
    law = _law(dist)
    k = _core.closed_form_k_law(law.native) if law.native is not None else None
    if k is None:
        raise InvalidArgumentError(f"dist: no closed form of K for {law.description}; use approx_entropy(...).terms.k")
    return float(k)


# --------------------------------------------------------------------------- scale sweeps


@dataclass(frozen=True)
class ScaleSweep:
    """Exact and approximate entropy of ``c · X`` over a grid of scales ``c``."""

    scales: npt.NDArray[np.float64]
    exact: npt.NDArray[np.float64]
    paper: npt.NDArray[np.float64]
    refined: npt.NDArray[np.float64]
    wobble: npt.NDArray[np.float64]
    bound: npt.NDArray[np.float64]
    fmt: str
    dist: str

    def plot(self, ax: Axes | None = None) -> Figure:
        """Plot ``H − paper``, ``refined − paper`` and ``refined + wobble − paper`` against
        ``log2(scale)``, with the bound as a band (clipped when it dwarfs the curves).

        ``ax``: matplotlib Axes to draw on (a new figure when None). Returns the figure."""
        from ._plot import axes_or_new

        fig, ax = axes_or_new(ax, (7, 4))
        x = np.log2(self.scales)
        exact, refined = self.exact - self.paper, self.refined - self.paper
        ax.plot(x, exact, "o-", ms=3, label="exact H − paper")
        ax.plot(x, refined, "--", label="refined − paper")
        ax.plot(x, refined + self.wobble, ":", lw=2, label="refined + wobble − paper")
        band = f"refined ± bound (≤ {self.bound.max():.1e})"
        ax.fill_between(x, refined - self.bound, refined + self.bound, alpha=0.15, label=band)
        lo, hi = float(min(exact.min(), refined.min())), float(max(exact.max(), refined.max()))
        span = max(hi - lo, 1e-12)
        if self.bound.max() > 3 * span:
            ax.set_ylim(lo - 0.5 * span, hi + 0.5 * span)
        ax.set_xlabel("log2(scale)")
        ax.set_ylabel("bits")
        ax.set_title(f"{self.dist} in {self.fmt}")
        ax.legend(fontsize=7)
        return fig


_TINY = float(np.finfo(np.float64).tiny)


def _scaled_law(dist: FrozenDistribution, law: _Law, c: float) -> tuple[_Law, float]:
    """The law of ``c * X`` and the scale still to apply: a law evaluated through scipy is refrozen
    with ``loc * c`` and ``scale * c`` (scaling its callbacks instead leaves the quadrature without
    split points where the mass is, which costs minutes for ``c`` far from 1)."""
    if law.native is not None or c == 1.0:
        return law, c
    try:
        shapes, loc, scale = getattr(dist.dist, "_parse_args")(*dist.args, **dist.kwds)  # noqa: B009
        return _law(dist.dist(*shapes, loc=float(loc) * c, scale=float(scale) * c), native=False), 1.0
    except (BoltzkitError, TypeError, ValueError, ArithmeticError):
        return law, c


def _check_scales(law: _Law, s: npt.NDArray[np.float64]) -> None:
    """Every scaled law must stay within float64: its loc, scale, support and step."""
    if law.native is not None:
        vals = [law.native[2], law.native[3]]
    else:
        vals = [v for v in law.support if math.isfinite(v)] + [law.fd_scale]
    big = max((abs(v) for v in vals), default=0.0)
    small = min((abs(v) for v in vals if v != 0.0), default=1.0)
    with np.errstate(over="ignore", under="ignore"):
        bad = ~np.isfinite(s * big) | (s * small < _TINY) | (s < _TINY)
    if np.any(bad):
        c = float(s[np.argmax(bad)])
        raise InvalidArgumentError(
            f"scales: the scale {c:g} times the law's parameters ({law.description}) leaves float64's range; "
            f"every scale, and every scale times |loc| and scale, must be finite and at least {_TINY:.4g} (a normal float64)"
        )


def entropy_vs_scale(
    dist: FrozenDistribution,
    fmt: FormatLike,
    scales: npt.ArrayLike,
    *,
    native: bool = True,
    progress: bool | None = None,
    threads: int | None = None,
) -> ScaleSweep:
    """Exact entropy, approximation and wobble of ``c · X`` for every ``c`` in ``scales``.

    While no mass reaches the subnormals or overflows, ``H(2^k X) = H(X)`` exactly, and for
    other scales ``H(cX)`` is 1-periodic in ``log2 c`` with the wobble's amplitude.

    Parameters
    ----------
    dist, fmt, native, threads
        As in :func:`entropy`.
    scales : array_like of float
        Positive, finite scale factors.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    """
    f = get_format(fmt)
    s = _as_float64(scales, "scales").ravel()
    if s.size == 0:
        raise InvalidArgumentError("scales: is empty")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise InvalidArgumentError("scales: every scale must be finite and > 0")
    if s.size > _MAX_SCALES:
        raise InvalidArgumentError(f"scales: must hold at most {_MAX_SCALES} scales, got {s.size}")
    if s.size > 1 and np.any(np.diff(s) < 0):
        warnings.warn("scales: not in increasing order; the sweep keeps the given order", stacklevel=2)
    law = _law(dist, native=_check_bool(native, "native"))
    _check_scales(law, s)
    t = resolve_threads(threads)
    rows = []
    for c in track(s.tolist(), total=s.size, desc=f"entropy vs scale ({f.name})", progress=progress):
        lc, sc = _scaled_law(dist, law, float(c))
        e = _entropy(lc, f, sc, False, "auto", t)
        a = _approx(lc, f, sc, False, t)
        rows.append((e.bits, a.paper, a.refined, a.terms.w, a.bound))
    arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return ScaleSweep(s, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4], f.name, law.description)


# --------------------------------------------------------------------------- empirical entropy


@dataclass(frozen=True)
class EmpiricalResult:
    """Empirical (plug-in) entropy of an array of floats, with its field split.

    Attributes
    ----------
    bits_per_value : float
        Entropy of the codes in bits per value (with the correction, if one was asked for).
    bitwidth : int
        Width of the format (the storage of float4/float6 is a byte, their width 4/6).
    ideal_ratio : float
        ``bitwidth / bits_per_value``: the best lossless compression ratio an order-0 coder
        could reach; ``inf`` (documented) for an array of a single code, whose entropy is 0.
    sign_bits, exponent_bits : float
        Entropies of the sign bit and of the exponent field.
    sign_exponent_bits : float
        Joint entropy of sign and exponent.
    mantissa_bits_given_exp : float
        Conditional entropy of the fraction given sign and exponent
        (``bits_per_value = sign_exponent_bits + mantissa_bits_given_exp`` without correction).
    n, n_distinct : int
        Number of values and of distinct codes.
    correction : float
        The Miller–Madow term that was added (0 without correction).
    fmt : str
        Format name.
    """

    bits_per_value: float
    bitwidth: int
    ideal_ratio: float
    sign_bits: float
    exponent_bits: float
    sign_exponent_bits: float
    mantissa_bits_given_exp: float
    n: int
    n_distinct: int
    correction: float
    fmt: str


_EMPIRICAL: dict[int, Callable[..., dict[str, Any]]] = {
    8: _core.empirical_u8,
    16: _core.empirical_u16,
    32: _core.empirical_u32,
    64: _core.empirical_u64,
}


def empirical_entropy(
    arr: npt.NDArray[Any],
    *,
    fmt: FormatLike | None = None,
    correction: Correction | None = None,
    threads: int | None = None,
) -> EmpiricalResult:
    """Bits per value of a float array: the plug-in entropy of its codes, split by field.

    Parameters
    ----------
    arr : ndarray
        A C-contiguous numpy ``float16`` / ``float32`` / ``float64`` array or an ml_dtypes
        ``bfloat16`` / ``float8_*`` / ``float6_*`` / ``float4_*`` array (any shape), or an unsigned
        integer array of raw codes together with ``fmt``. NaN codes count as codes.
    fmt : str, dtype or FloatFormat, optional
        Required for raw ``uint`` codes; otherwise taken from the dtype.
    correction : {"miller-madow"}, optional
        Add the Miller–Madow bias correction ``(K − 1)/(2 N ln 2)``.
    threads : int, optional
        Worker threads.

    Returns
    -------
    EmpiricalResult

    Raises
    ------
    InvalidTypeError
        For integer (without ``fmt``), object or other non-float arrays.
    InvalidArgumentError
        For empty or non-contiguous arrays, or an unknown ``correction``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=100_000).astype(np.float16)
    >>> r = empirical_entropy(x)
    >>> r.bitwidth, round(r.sign_bits, 3)
    (16, 1.0)
    """
    if not isinstance(arr, np.ndarray):
        raise InvalidTypeError(f"arr: expected a numpy array, got {type(arr).__name__}")
    if correction not in (None, "miller-madow"):
        raise InvalidArgumentError(f"correction: expected None or 'miller-madow', got {correction!r}")
    dt = arr.dtype
    if dt.kind == "u":
        if fmt is None:
            raise InvalidTypeError("arr: unsigned integer codes need fmt= to say which format they encode")
        f = get_format(fmt)
        if dt.itemsize * 8 < f.bits or (dt.itemsize * 8 != f.bits and f.bits > 16):
            raise InvalidArgumentError(f"arr: {dt} codes cannot hold the {f.bits}-bit format {f.name}")
        if f.bits < dt.itemsize * 8 and arr.size and int(arr.max()) >> f.bits:
            raise InvalidArgumentError(
                f"arr: the code {int(arr.max())} does not fit the {f.bits}-bit format {f.name} "
                f"(codes must be between 0 and {(1 << f.bits) - 1})"
            )
        codes = arr
    elif dt.name in FORMATS:
        f = get_format(dt.name) if fmt is None else get_format(fmt)
        if f.name != dt.name:
            raise InvalidArgumentError(f"fmt: {f.name} does not match the array's dtype {dt.name}")
        codes = arr.view(_STORAGE[dt.itemsize * 8])
    else:
        raise InvalidTypeError(
            f"arr: expected a float16/32/64 or ml_dtypes float array (or uint codes with fmt=), got dtype {dt}"
        )
    if arr.size == 0:
        raise InvalidArgumentError("arr: is empty; the entropy of no values is undefined")
    if not arr.flags.c_contiguous:
        raise InvalidArgumentError(
            "arr: must be C-contiguous (use np.ascontiguousarray(arr)); a copy of a large array is not made silently"
        )
    fn = _EMPIRICAL[codes.dtype.itemsize * 8]
    r = fn(codes.reshape(-1), int(f.exponent_bits), int(f.mantissa_bits), resolve_threads(threads))
    mm = float(r["miller_madow"]) if correction == "miller-madow" else 0.0
    bits = float(r["bits_per_value"]) + mm
    return EmpiricalResult(
        bits_per_value=bits,
        bitwidth=f.bits,
        ideal_ratio=f.bits / bits if bits > 0 else math.inf,
        sign_bits=float(r["sign_bits"]),
        exponent_bits=float(r["exponent_bits"]),
        sign_exponent_bits=float(r["sign_exponent_bits"]),
        mantissa_bits_given_exp=float(r["mantissa_bits_given_exp"]),
        n=int(r["n"]),
        n_distinct=int(r["n_distinct"]),
        correction=mm,
        fmt=f.name,
    )
