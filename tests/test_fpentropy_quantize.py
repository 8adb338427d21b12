"""Formats and quantization against ml_dtypes and numpy (independent implementations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import ml_dtypes
import numpy as np
import numpy.typing as npt
import pytest

from boltzkit import InvalidArgumentError, InvalidTypeError
from boltzkit import fpentropy as fp

ML_FORMATS = [
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
_finfo = cast(Callable[[Any], Any], ml_dtypes.finfo)  # ml_dtypes ships no type hints
STORAGE = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _dtype(name: fp.FormatName) -> np.dtype[Any]:
    return np.dtype(getattr(ml_dtypes, name)) if hasattr(ml_dtypes, name) else np.dtype(name)


def _all_values(name: fp.FormatName) -> npt.NDArray[np.float64]:
    """Every value of a ≤16-bit format, decoded by ml_dtypes / numpy."""
    dt = _dtype(name)
    bits = fp.get_format(name).bits
    codes = np.arange(2**bits, dtype=STORAGE[dt.itemsize])
    return codes.view(dt).astype(np.float64)


@pytest.mark.parametrize("name", [*ML_FORMATS, "float16"])
def test_format_parameters_match_ml_dtypes_finfo(name: fp.FormatName) -> None:
    f = fp.get_format(name)
    fi = _finfo(_dtype(name))
    assert f.xmax == float(fi.max)
    assert f.min_normal == float(fi.smallest_normal)
    assert f.min_subnormal == float(fi.smallest_subnormal)
    assert f.precision == int(fi.nmant) + 1
    v = _all_values(name)
    finite = v[np.isfinite(v)]
    assert f.xmax == finite.max()
    # the symbol count: distinct finite values (zeros by sign), inf symbols, one NaN symbol
    zeros = 2 if np.signbit(finite[finite == 0]).any() else 1
    n_pos = int(np.sum(finite > 0))
    inf = int(np.isinf(v).any()) * 2
    nan = 1 if (np.isnan(v).any() and f.overflow == "nan") else 0
    assert f.n_symbols == 2 * n_pos + zeros + inf + nan


def _probe_inputs(name: fp.FormatName, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """≥ 1e6 float32 inputs: random bit patterns, every value, every tie, ± one ulp around ties,
    subnormals, the overflow region, ±0, ±inf and NaN."""
    f = fp.get_format(name)
    v = _all_values(name)
    pos = np.unique(v[np.isfinite(v) & (v >= 0)])
    mids = 0.5 * (pos[1:] + pos[:-1])
    top = np.array([f.xmax + 0.5 * (f.xmax - pos[-2]) if f.bits > 4 else f.xmax + 1.0])
    grid = np.concatenate([pos, mids, top, [f.xmax * 2, f.xmax * 1.01, f.min_subnormal / 2, f.min_subnormal / 4]])
    with np.errstate(over="ignore"):
        g32 = grid.astype(np.float32)
    near = np.concatenate([g32, np.nextafter(g32, np.float32(np.inf)), np.nextafter(g32, np.float32(-np.inf))])
    rand_bits = rng.integers(0, 2**32, size=600_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    scale = np.float32(max(f.xmax, 1.0))
    with np.errstate(over="ignore"):
        uni = (rng.uniform(-1.2, 1.2, size=400_000) * scale).astype(np.float32)
    tiny = (rng.uniform(-2, 2, size=100_000) * f.min_normal).astype(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan], dtype=np.float32)
    x = np.concatenate([near, -near, rand_bits, uni, tiny, special]).astype(np.float32)
    assert x.size >= 1_000_000
    return x


@pytest.mark.parametrize("name", ML_FORMATS)
def test_quantize_matches_ml_dtypes_bit_for_bit(name: fp.FormatName, rng: np.random.Generator) -> None:
    x = _probe_inputs(name, rng)
    dt = _dtype(name)
    with np.errstate(invalid="ignore", over="ignore"):
        ref = x.astype(dt)
    got = fp.quantize(x, name)
    want = ref.astype(np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    same &= np.signbit(got) == np.signbit(want)
    bad = np.flatnonzero(~same)
    assert bad.size == 0, f"{bad.size} mismatches, e.g. x={x[bad[:5]]} got={got[bad[:5]]} want={want[bad[:5]]}"
    codes = fp.quantize_codes(x, name)
    ref_codes = ref.view(STORAGE[dt.itemsize])
    assert codes.dtype == ref_codes.dtype
    # NaN payloads: ml_dtypes keeps the quiet NaN of the input's sign; compare exactly anyway
    assert np.array_equal(codes, ref_codes)


def test_float16_matches_numpy_from_float64(rng: np.random.Generator) -> None:
    # numpy casts float64 -> float16 directly (no double rounding): a second, independent truth
    x = np.concatenate([rng.standard_normal(500_000) * 10.0 ** rng.uniform(-9, 6, 500_000), _all_values("float16")])
    x = np.concatenate([x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf)])
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    got = fp.quantize(x, "float16")
    assert np.array_equal(got, want.astype(np.float64), equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    # numpy keeps NaN payloads, we emit the canonical quiet NaN: compare codes of non-NaN inputs
    ok = ~np.isnan(x)
    assert np.array_equal(fp.quantize_codes(x, "float16")[ok], want.view(np.uint16)[ok])


def test_float32_matches_numpy_from_float64(rng: np.random.Generator) -> None:
    bits = rng.integers(0, 2**63, size=1_000_000, dtype=np.int64).view(np.float64)
    x = np.concatenate([bits, -bits, rng.standard_normal(100_000)])
    with np.errstate(over="ignore", invalid="ignore"):
        want = x.astype(np.float32)
    got = fp.quantize(x, "float32")
    assert np.array_equal(got, want.astype(np.float64), equal_nan=True)
    assert np.array_equal(fp.quantize_codes(x, "float32")[~np.isnan(x)], want.view(np.uint32)[~np.isnan(x)])


def test_float64_is_the_identity(rng: np.random.Generator) -> None:
    x = rng.integers(0, 2**64, size=100_000, dtype=np.uint64).view(np.float64)
    got = fp.quantize(x, "float64")
    assert np.array_equal(got.view(np.uint64)[~np.isnan(x)], x.view(np.uint64)[~np.isnan(x)])


def test_quantize_keeps_shape_and_accepts_lists() -> None:
    x = np.arange(12.0).reshape(3, 4) / 7
    assert fp.quantize(x, "bfloat16").shape == (3, 4)
    assert fp.quantize([1.0, 2.5], np.dtype(np.float16)).tolist() == [1.0, 2.5]
    assert fp.quantize(np.float32(3.3), ml_dtypes.bfloat16).shape == ()


def test_user_minifloat_matches_an_equivalent_named_format() -> None:
    user = fp.FloatFormat(exponent_bits=4, mantissa_bits=3, bias=7, overflow="nan")
    named = fp.get_format("float8_e4m3fn")
    assert (user.xmax, user.emin, user.precision) == (named.xmax, named.emin, named.precision)
    x = np.linspace(-500, 500, 100_001)
    assert np.array_equal(fp.quantize(x, user), fp.quantize(x, named), equal_nan=True)
    ieee = fp.FloatFormat(5, 10)
    assert ieee.xmax == 65504.0 and ieee.bias == 15


@pytest.mark.parametrize(
    ("fmt", "exc"),
    [
        ("float7", InvalidArgumentError),
        (3.0, InvalidTypeError),
        (np.dtype(np.int32), InvalidArgumentError),
    ],
)
def test_bad_formats(fmt: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc, match="fmt"):
        fp.quantize([1.0], fmt)


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"exponent_bits": 0, "mantissa_bits": 3}, "exponent_bits"),
        ({"exponent_bits": 4, "mantissa_bits": 60}, "mantissa_bits"),
        ({"exponent_bits": 4, "mantissa_bits": 3, "zero": "single", "overflow": "inf"}, "zero"),
        ({"exponent_bits": 4, "mantissa_bits": 3, "overflow": "wrap"}, "overflow"),
        ({"exponent_bits": 11, "mantissa_bits": 10, "bias": 5000}, "bias"),
        ({"exponent_bits": 4.0, "mantissa_bits": 3}, "exponent_bits"),
    ],
)
def test_bad_user_formats_name_the_field(kwargs: dict[str, Any], arg: str) -> None:
    with pytest.raises((InvalidArgumentError, InvalidTypeError), match=arg):
        fp.FloatFormat(**kwargs)


def test_non_numeric_input_is_rejected() -> None:
    with pytest.raises(InvalidTypeError, match="x"):
        fp.quantize(np.array(["a", "b"]), "float16")
    with pytest.raises(InvalidTypeError, match="x"):
        fp.quantize(np.array([1 + 1j]), "float16")


def test_format_from_precision_and_exponent_range() -> None:
    names: list[fp.FormatName] = ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float6_e3m2fn", "float8_e4m3fnuz"]
    for name in names:
        f = fp.get_format(name)
        g = fp.FloatFormat.from_range(f.precision, f.emin, f.emax, f.zero, f.overflow)
        assert (g.exponent_bits, g.mantissa_bits, g.bias, g.xmax) == (f.exponent_bits, f.mantissa_bits, f.bias, f.xmax)
    with pytest.raises(InvalidArgumentError, match="emax"):
        fp.FloatFormat.from_range(11, -14, 14)
    with pytest.raises(InvalidArgumentError, match="precision"):
        fp.FloatFormat.from_range(0, -14, 15)
