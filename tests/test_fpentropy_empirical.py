"""Empirical entropy against np.unique (bit for bit), field split, and convergence to the exact value."""

from __future__ import annotations

import math
from typing import Any

import ml_dtypes
import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from boltzkit import InvalidArgumentError, InvalidTypeError
from boltzkit import fpentropy as fp


def _plugin_from_unique(codes: npt.NDArray[Any]) -> tuple[float, int]:
    """The same formula boltzkit documents, from np.unique's counts:
    H = log2 N − (Σ_c n_c · c log2 c)/N over the count of counts, summed in increasing c with
    Neumaier compensation."""
    _, counts = np.unique(codes, return_counts=True)
    cs, mult = np.unique(counts, return_counts=True)
    total, comp = 0.0, 0.0
    for c, m in zip(cs.tolist(), mult.tolist(), strict=True):
        x = float(m) * (float(c) * math.log2(float(c)))
        t = total + x
        comp += (total - t) + x if abs(total) >= abs(x) else (x - t) + total
        total = t
    n = float(codes.size)
    return math.log2(n) - (total + comp) / n, int(counts.size)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_bit_for_bit_equal_to_np_unique(dtype: Any, rng: np.random.Generator) -> None:
    n = 300_000
    width = np.dtype(dtype).itemsize * 8
    fmts: dict[int, fp.FormatName] = {8: "float8_e4m3fn", 16: "float16", 32: "float32", 64: "float64"}
    fmt = fmts[width]
    # random codes with a skewed distribution (many repeats, many singletons)
    hi = 2**width if width < 64 else 2**63
    codes = (rng.integers(0, hi, size=n, dtype=np.uint64) >> rng.integers(0, width, size=n, dtype=np.uint64)).astype(dtype)
    r = fp.empirical_entropy(codes, fmt=fmt)
    want, k = _plugin_from_unique(codes)
    assert r.n_distinct == k
    assert r.bits_per_value == want  # bit for bit


FLOAT_DTYPES = [np.float16, np.float32, np.float64, ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, ml_dtypes.float4_e2m1fn]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_float_arrays_and_field_split(dtype: Any, rng: np.random.Generator) -> None:
    x = (rng.standard_normal(200_000) * 0.02).astype(np.float32).astype(dtype)
    r = fp.empirical_entropy(x)
    codes = x.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[x.itemsize])
    assert r.bits_per_value == _plugin_from_unique(codes)[0]
    f = fp.get_format(np.dtype(dtype).name)
    assert r.bitwidth == f.bits
    m = f.precision - 1
    se = codes.astype(np.uint64) >> np.uint64(m)
    sign = se >> np.uint64(f.bits - 1 - m)
    expo = se & np.uint64((1 << (f.bits - 1 - m)) - 1)

    def h(a: npt.NDArray[Any]) -> float:
        _, c = np.unique(a, return_counts=True)
        p = c / a.size
        return float(-np.sum(p * np.log2(p)))

    assert abs(r.sign_bits - h(sign)) < 1e-12
    assert abs(r.exponent_bits - h(expo)) < 1e-12
    assert abs(r.sign_exponent_bits - h(se)) < 1e-12
    assert abs(r.sign_exponent_bits + r.mantissa_bits_given_exp - r.bits_per_value) < 1e-12
    assert abs(r.ideal_ratio - f.bits / r.bits_per_value) < 1e-12


def test_converges_to_the_exact_entropy(rng: np.random.Generator) -> None:
    # spec §7.7: 20M samples of N(0,1) in bf16 give 10.4636 vs exact 10.4644 (plug-in bias)
    x = rng.standard_normal(4_000_000).astype(np.float32).astype(ml_dtypes.bfloat16)
    exact = fp.entropy(stats.norm(), "bfloat16").bits
    r = fp.empirical_entropy(x)
    mm = fp.empirical_entropy(x, correction="miller-madow")
    assert r.bits_per_value < exact
    # plug-in bias ≈ −(K−1)/(2N ln 2); sd of the estimate ≈ sd(log2 p(X))/√N ≈ 1e-3 here
    se = 2.0 / math.sqrt(x.size)
    assert abs(mm.bits_per_value - exact) < 4 * se
    assert mm.correction > 0 and mm.bits_per_value > r.bits_per_value


def test_thread_count_does_not_change_the_result(rng: np.random.Generator) -> None:
    x = (rng.standard_normal(1_000_000) * 0.02).astype(np.float32)
    assert fp.empirical_entropy(x, threads=1) == fp.empirical_entropy(x, threads=2)


def test_nan_codes_are_counted() -> None:
    x = np.array([np.nan, np.nan, 1.0, 2.0], dtype=np.float32)
    r = fp.empirical_entropy(x)
    assert r.n_distinct == 3 and abs(r.bits_per_value - 1.5) < 1e-15


def test_bad_arrays() -> None:
    with pytest.raises(InvalidTypeError, match="arr"):
        fp.empirical_entropy(np.arange(10))  # integers without fmt
    with pytest.raises(InvalidTypeError, match="arr"):
        fp.empirical_entropy(np.array(["a"], dtype=object))
    with pytest.raises(InvalidTypeError, match="arr"):
        fp.empirical_entropy([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="empty"):
        fp.empirical_entropy(np.array([], dtype=np.float32))
    with pytest.raises(InvalidArgumentError, match="contiguous"):
        fp.empirical_entropy(np.ones((10, 10), dtype=np.float32)[:, ::2])
    with pytest.raises(InvalidArgumentError, match="correction"):
        fp.empirical_entropy(np.ones(3, dtype=np.float32), correction="jackknife")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="arr"):
        fp.empirical_entropy(np.ones(3, dtype=np.uint16), fmt="float32")
