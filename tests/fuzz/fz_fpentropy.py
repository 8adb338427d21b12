"""Fuzz entries of boltzkit.fpentropy: formats, quantization, exact / approximate / empirical entropy."""

from __future__ import annotations

import math
import time
from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import strategies as st
from scipy import stats

from boltzkit import fpentropy as fp
from fuzz._harness import Call, CallbackError, Entry
from fuzz._strategies import EXTREME_FLOATS, HUGE_INTS, any_array, bad_scalars, floats_or_bad, sizes

_SMALL_FORMATS = [
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float6_e2m3fn",
    "float6_e3m2fn",
    "float4_e2m1fn",
    "float8_e4m3",
    "float8_e3m4",
    "float8_e4m3b11fnuz",
    "float16",
    "bfloat16",
]


def _formats() -> st.SearchStrategy[Any]:
    """Mostly small valid formats, sometimes wide ones, dtypes, FloatFormats or junk."""
    return st.one_of(
        st.sampled_from(_SMALL_FORMATS),
        st.sampled_from(_SMALL_FORMATS),
        st.sampled_from(["float32", "float64", np.float16, np.dtype(ml_dtypes.bfloat16), "float7", "", "FLOAT16"]),
        st.builds(_try_format, st.integers(2, 5), st.integers(1, 4)),
        bad_scalars(),
    )


def _try_format(e: int, m: int) -> Any:
    try:
        return fp.FloatFormat(e, m)
    except Exception:  # an invalid combination: fall back to a name
        return "float8_e4m3fn"


class _Inconsistent(stats.rv_continuous):
    """A user law whose pdf disagrees with its cdf by a factor (or returns junk)."""

    mode = 0
    factor = 1.0

    def _pdf(self, x: Any) -> Any:  # type: ignore[override]
        if self.mode == 1:
            return np.full_like(x, np.nan)
        if self.mode == 2:
            raise CallbackError("pdf failed")
        if self.mode == 3:
            time.sleep(0.001)
        return self.factor * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def _cdf(self, x: Any) -> Any:  # type: ignore[override]
        return stats.norm.cdf(x)


def _laws() -> st.SearchStrategy[Any]:
    loc = st.one_of(st.floats(-3, 3), st.sampled_from([0.0, -1.1e-308, 1e-300, 1e150, -1e300, 1e308]))
    scale = st.one_of(st.floats(1e-3, 10), st.sampled_from([1e-300, 1e-150, 1e-40, 1e40, 1e150, 1e300, 1e308, 0.0, -1.0]))
    return st.one_of(
        st.builds(lambda lo, sc: _frozen(stats.norm, loc=lo, scale=sc), loc, scale),
        st.builds(lambda sc: _frozen(stats.expon, scale=sc), scale),
        st.builds(lambda df, sc: _frozen(stats.t, df, scale=sc), st.sampled_from([0.5, 1.0, 4.5, 1e-300, 1e300]), scale),
        st.builds(lambda lo, sc: _frozen(stats.rayleigh, loc=lo, scale=sc), loc, scale),
        st.builds(lambda a, sc: _frozen(stats.reciprocal, a, a + 1.0, scale=sc), st.floats(0.1, 2), scale),
        st.builds(lambda sc: _frozen(stats.gamma, 2.5, scale=sc), scale),
        st.builds(_inconsistent, st.integers(0, 3), st.sampled_from([1.0, 0.5, 67.0, 1e30, 1e300])),
        st.sampled_from([stats.norm, stats.poisson(3.0), None, "norm", 1.0]),
    )


def _inconsistent(mode: int, factor: float) -> Any:
    cls = type("_Law", (_Inconsistent,), {"mode": mode, "factor": factor})
    return cls(name="inconsistent")()


def _frozen(d: Any, *args: Any, **kw: Any) -> Any:
    return d(*args, **kw)


def _d(d: Any) -> str:
    """A readable description of a drawn law."""
    if hasattr(d, "dist") and hasattr(d, "args"):
        extra = f" mode={getattr(d.dist, 'mode', '')} factor={getattr(d.dist, 'factor', '')}" if hasattr(d.dist, "factor") else ""
        return f"{d.dist.name}(*{d.args!r}, **{d.kwds!r}){extra}"
    return repr(d)


def _check_entropy(r: object, f: Any) -> None:
    assert isinstance(r, fp.EntropyResult), type(r)
    top = fp.get_format(f).max_entropy
    assert math.isfinite(r.bits) and -1e-9 <= r.bits <= top + 1e-9, (r.bits, top)
    assert abs(r.total_mass - 1.0) <= 1e-6, r.total_mass
    for p in (r.p_zero, r.p_overflow, r.p_subnormal):
        assert -1e-9 <= p <= 1 + 1e-9, p
    assert math.isfinite(r.error_estimate) and r.error_estimate >= 0, r.error_estimate


def _check_approx(r: object) -> None:
    assert isinstance(r, fp.ApproxResult), type(r)
    vals = [r.paper, r.refined, r.bound, *(float(v) for v in vars(r.terms).values())]
    assert all(math.isfinite(v) for v in vals), vals
    assert r.bound >= 0, r.bound


def _entropy(d: Any, f: Any, mz: Any, method: Any, native: Any, threads: Any) -> Call:
    def fn() -> object:
        return fp.entropy(d, f, merge_zero=mz, method=method, native=native, threads=threads)

    desc = f"entropy({_d(d)}, {f!r}, merge_zero={mz!r}, method={method!r}, native={native!r}, threads={threads!r})"
    return Call(fn, desc, lambda r: _check_entropy(r, f))


def _approx(d: Any, f: Any, mz: Any, native: Any) -> Call:
    def fn() -> object:
        return fp.approx_entropy(d, f, merge_zero=mz, native=native)

    return Call(fn, f"approx_entropy({_d(d)}, {f!r}, merge_zero={mz!r}, native={native!r})", _check_approx)


def _closed(d: Any) -> Call:
    def fn() -> object:
        return fp.closed_form_k(d)

    def check(k: object) -> None:
        assert isinstance(k, float) and math.isfinite(k), k

    return Call(fn, f"closed_form_k({_d(d)})", check)


def _vs_scale(d: Any, f: Any, scales: Any) -> Call:
    def fn() -> object:
        return fp.entropy_vs_scale(d, f, scales, progress=False)

    def check(r: object) -> None:
        assert isinstance(r, fp.ScaleSweep)
        for a in (r.exact, r.paper, r.refined, r.wobble, r.bound):
            assert a.shape == r.scales.shape and np.all(np.isfinite(a)), a

    return Call(fn, f"entropy_vs_scale({_d(d)}, {f!r}, {scales!r})", check)


def _format(e: Any, m: Any, bias: Any, zero: Any, overflow: Any) -> Call:
    def fn() -> object:
        return fp.FloatFormat(e, m, bias, zero, overflow)

    def check(f: object) -> None:
        assert isinstance(f, fp.FloatFormat)
        assert f.xmax > 0 and math.isfinite(f.xmax) and 0 < f.min_subnormal <= f.min_normal, f
        assert 1 <= f.precision <= 53 and f.bits <= 64, f

    return Call(fn, f"FloatFormat({e!r}, {m!r}, {bias!r}, {zero!r}, {overflow!r})", check)


def _from_range(p: Any, emin: Any, emax: Any, overflow: Any) -> Call:
    def fn() -> object:
        return fp.FloatFormat.from_range(p, emin, emax, overflow=overflow)

    def check(f: object) -> None:
        assert isinstance(f, fp.FloatFormat) and f.precision == p and f.emin == emin, f

    return Call(fn, f"FloatFormat.from_range({p!r}, {emin!r}, {emax!r}, overflow={overflow!r})", check)


def _get_format(f: Any) -> Call:
    def fn() -> object:
        return fp.get_format(f)

    def check(r: object) -> None:
        assert isinstance(r, fp.FloatFormat)

    return Call(fn, f"get_format({f!r})", check)


def _quantize(x: Any, f: Any, codes: bool, threads: Any) -> Call:
    def fn() -> object:
        if codes:
            return fp.quantize_codes(x, f, threads=threads)
        return fp.quantize(x, f, threads=threads)

    def check(out: object) -> None:
        assert isinstance(out, np.ndarray) and out.shape == np.shape(np.asarray(x)), (getattr(out, "shape", None), np.shape(x))
        if not codes:
            fin = out[np.isfinite(out)]
            assert np.all(np.abs(fin) <= fp.get_format(f).xmax), fin

    name = "quantize_codes" if codes else "quantize"
    return Call(fn, f"{name}({x!r}, {f!r}, threads={threads!r})", check)


def _empirical(a: Any, f: Any, corr: Any, threads: Any) -> Call:
    def fn() -> object:
        return fp.empirical_entropy(a, fmt=f, correction=corr, threads=threads)

    def check(r: object) -> None:
        assert isinstance(r, fp.EmpiricalResult)
        assert 0 <= r.bits_per_value <= r.bitwidth + 1e-9 + r.correction, r
        for v in (r.sign_bits, r.exponent_bits, r.sign_exponent_bits, r.mantissa_bits_given_exp):
            assert math.isfinite(v) and v >= -1e-12, r
        assert 1 <= r.n_distinct <= r.n, r

    return Call(fn, f"empirical_entropy({a!r}, fmt={f!r}, correction={corr!r}, threads={threads!r})", check)


@st.composite
def _emp_arrays(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 4))
    n = draw(st.integers(0, 50))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == 0:
        dt = draw(st.sampled_from([np.float16, np.float32, np.float64, ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn]))
        a = rng.normal(size=n).astype(dt)
    elif kind == 1:
        a = rng.integers(0, 255, size=n).astype(np.uint8)
    elif kind == 2:
        a = rng.normal(size=n).astype(draw(st.sampled_from([np.int64, np.bool_, np.complex128, object, np.uint16])))
    elif kind == 3:
        return draw(st.one_of(bad_scalars(), st.just(np.float16(1.0)), st.just(np.array(1.0, np.float16))))
    else:
        a = rng.normal(size=(n, 3)).astype(np.float32)
    how = draw(st.integers(0, 3))
    if how == 1 and a.ndim and a.size:
        a = a[::2]
    elif how == 2 and a.ndim:
        a = a[::-1]
    return a


_threads = st.one_of(
    st.none(), st.none(), st.none(), st.integers(1, 4), st.sampled_from([0, -1, 2**31, 2**63, 2**64, True, 2.0, "2"])
)
_bools = st.one_of(
    st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.sampled_from([0, 1, None, "yes", np.bool_(True)])
)
_ints = st.one_of(st.integers(-3, 60), st.sampled_from([*HUGE_INTS, 2**63, 2**64, -1]), bad_scalars())

ENTRIES: list[Entry] = [
    Entry(
        "fpentropy.FloatFormat",
        st.builds(
            _format,
            st.one_of(st.integers(1, 11), _ints),
            st.one_of(st.integers(0, 10), _ints),
            st.one_of(st.none(), st.none(), _ints),
            st.sampled_from(["signed", "signed", "single", "both", None]),
            st.sampled_from(["inf", "nan", "nan", "saturate", "wrap", 1]),
        ),
    ),
    Entry(
        "fpentropy.FloatFormat.from_range",
        st.builds(
            _from_range,
            st.one_of(st.integers(1, 12), _ints),
            st.one_of(st.integers(-20, 2), _ints),
            st.one_of(st.integers(-2, 20), _ints),
            st.sampled_from(["inf", "nan", "saturate", "wrap"]),
        ),
    ),
    Entry("fpentropy.get_format", _formats().map(_get_format)),
    Entry(
        "fpentropy.quantize",
        st.builds(_quantize, any_array((7,), -500.0, 500.0), _formats(), st.just(False), _threads),
    ),
    Entry(
        "fpentropy.quantize_codes",
        st.builds(_quantize, any_array((2, 3), -500.0, 500.0), _formats(), st.just(True), _threads),
    ),
    Entry(
        "fpentropy.entropy",
        st.builds(
            _entropy,
            _laws(),
            _formats(),
            _bools,
            st.sampled_from(["auto", "auto", "enumerate", "classes", "fast", None]),
            _bools,
            _threads,
        ),
    ),
    Entry("fpentropy.approx_entropy", st.builds(_approx, _laws(), _formats(), _bools, _bools)),
    Entry("fpentropy.closed_form_k", _laws().map(_closed)),
    Entry(
        "fpentropy.entropy_vs_scale",
        st.builds(
            _vs_scale,
            _laws(),
            st.sampled_from(["float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", 3]),
            st.one_of(
                st.lists(st.floats(0.01, 100), min_size=1, max_size=3),
                st.lists(st.sampled_from(EXTREME_FLOATS), min_size=1, max_size=2),
                any_array((2,), 0.1, 10.0),
                floats_or_bad(0.1, 10.0),
                sizes(),
            ),
        ),
    ),
    Entry(
        "fpentropy.empirical_entropy",
        st.builds(
            _empirical,
            _emp_arrays(),
            st.one_of(st.none(), st.none(), _formats()),
            st.sampled_from([None, None, "miller-madow", "mm", 1]),
            _threads,
        ),
    ),
]
