"""Building blocks for the fuzz entries: bad and extreme scalars, sizes and arrays."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import strategies as st

__all__ = [
    "EXTREME_FLOATS",
    "HUGE_INTS",
    "any_array",
    "bad_scalars",
    "floats_or_bad",
    "sizes",
    "vary_layout",
]

HUGE_INTS: list[int] = [-(2**64), -(2**63), -(2**31), -1, 0, 2**31, 2**32, 2**53, 2**62, 2**63 - 1, 2**63, 2**64, 10**30]
EXTREME_FLOATS: list[float] = [
    0.0,
    -0.0,
    5e-324,
    1e-308,
    1e-150,
    1e-100,
    1e100,
    1e150,
    1e300,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
]


def bad_scalars() -> st.SearchStrategy[Any]:
    """Values of the wrong type for a number: None, strings, bools, lists, dicts, complex, objects."""
    return st.one_of(
        st.none(),
        st.text(max_size=4),
        st.booleans(),
        st.just([1]),
        st.just({}),
        st.just(1 + 2j),
        st.just(object()),
        st.just(np.array([1.0, 2.0])),
    )


def sizes(lo: int = 1, hi: int = 8) -> st.SearchStrategy[Any]:
    """Mostly valid counts in ``[lo, hi]``, with huge, negative, float-typed and wrong-type values."""
    return st.one_of(
        st.integers(lo, hi),
        st.integers(lo, hi),
        st.sampled_from(HUGE_INTS),
        st.integers(lo, hi).map(float),
        st.integers(lo, hi).map(np.int32),
        bad_scalars(),
    )


def floats_or_bad(lo: float, hi: float) -> st.SearchStrategy[Any]:
    """Mostly valid floats in ``[lo, hi]``, with extreme values and wrong types."""
    return st.one_of(
        st.floats(lo, hi),
        st.floats(lo, hi),
        st.sampled_from(EXTREME_FLOATS),
        st.sampled_from(HUGE_INTS),
        bad_scalars(),
    )


_DTYPES: list[Any] = [
    np.float64,
    np.float64,
    np.float32,
    np.float16,
    np.int64,
    np.int8,
    np.uint8,
    np.bool_,
    np.complex128,
    object,
    ml_dtypes.bfloat16,
]


def vary_layout(a: np.ndarray[Any, Any], how: int) -> Any:
    """The same values in another layout: 0 as is, 1 non-contiguous, 2 negative strides, 3 a list,
    4 Fortran order, 5 read-only."""
    if how == 1 and a.ndim >= 1 and a.size:
        big = np.repeat(a, 2, axis=-1)
        return big[..., ::2]
    if how == 2 and a.ndim >= 1:
        return a[::-1]
    if how == 3:
        return a.tolist()
    if how == 4:
        return np.asfortranarray(a)
    if how == 5:
        b = a.copy()
        b.flags.writeable = False
        return b
    return a


@st.composite
def any_array(
    draw: st.DrawFn,
    shape: tuple[int, ...],
    lo: float = -3.0,
    hi: float = 3.0,
    bad: bool = True,
) -> Any:
    """An array of ``shape`` with values in ``[lo, hi]`` most of the time; otherwise another shape
    (empty, 0-d, one more or one fewer axis), another dtype, special values or another layout."""
    kind = draw(st.integers(0, 9)) if bad else 0
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shp = shape
    if kind == 1:
        odd = [(), (0,), (*shape[:-1], 0) if shape else (0,), (*shape, 2), shape[:-1], (1,) * (len(shape) + 1)]
        shp = draw(st.sampled_from(odd))
    a = rng.uniform(lo, hi, size=shp)
    if kind == 2:
        a = a.astype(draw(st.sampled_from(_DTYPES)))
    elif kind == 3 and a.size:
        flat = a.reshape(-1)
        flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from(EXTREME_FLOATS))
        a = flat.reshape(a.shape)
    elif kind == 4:
        a = a * draw(st.sampled_from([1e-300, 1e-150, 1e100, 1e150, 1e300]))
    elif kind == 5:
        return draw(bad_scalars())
    how = draw(st.integers(0, 5)) if bad and kind in (0, 6, 7) else 0
    return vary_layout(a, how)
