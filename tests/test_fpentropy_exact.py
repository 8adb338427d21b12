"""Exact entropy against independent truths: ml_dtypes' own values with scipy's cdf, mpmath
high-precision enumeration and Euler–Maclaurin sums, closed-form cases and properties."""

from __future__ import annotations

import itertools
import math
from typing import Any

import ml_dtypes
import mpmath
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from boltzkit import fpentropy as fp

SMALL = [
    "float16",
    "bfloat16",
    "float8_e5m2",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float6_e2m3fn",
    "float6_e3m2fn",
    "float4_e2m1fn",
]
STORAGE = {1: np.uint8, 2: np.uint16}


def _values(name: fp.FormatName) -> npt.NDArray[np.float64]:
    """Sorted positive finite values of a format, decoded by ml_dtypes / numpy (not by us)."""
    dt = np.dtype(getattr(ml_dtypes, name)) if hasattr(ml_dtypes, name) else np.dtype(name)
    bits = fp.get_format(name).bits  # how many codes to decode; the values come from ml_dtypes
    with np.errstate(invalid="ignore"):
        v = np.arange(2**bits, dtype=STORAGE[dt.itemsize]).view(dt).astype(np.float64)
    out: npt.NDArray[np.float64] = np.unique(v[np.isfinite(v) & (v > 0)])
    return out


def _reference_entropy(name: fp.FormatName, dist: Any) -> float:
    """-Σ P log2 P over every code, with masses from scipy's cdf / sf on the non-cancelling side."""
    v = _values(name)
    top = v[-1] + 0.5 * (v[-1] - v[-2])  # xmax + ulp/2
    edges = np.concatenate([[0.5 * v[0]], 0.5 * (v[1:] + v[:-1]), [top]])

    def mass(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        fa, fb, sa, sb = dist.cdf(a), dist.cdf(b), dist.sf(a), dist.sf(b)
        out: npt.NDArray[np.float64] = np.where(fb <= sa, fb - fa, sa - sb)
        return out

    pos = mass(edges[:-1], edges[1:])
    neg = mass(-edges[1:], -edges[:-1])
    zp, zn = float(mass(np.array([0.0]), edges[:1])[0]), float(mass(-edges[:1], np.array([0.0]))[0])
    tp, tn = float(dist.sf(top)), float(dist.cdf(-top))
    fmt = fp.get_format(name)
    probs = list(pos) + list(neg)
    if fmt.overflow == "saturate":
        probs[len(pos) - 1] += tp
        probs[-1] += tn
    elif fmt.overflow == "inf":
        probs += [tp, tn]
    else:
        probs += [tp + tn]
    probs += [zp, zn] if fmt.zero == "signed" else [zp + zn]
    return -math.fsum(p * math.log2(p) for p in probs if p > 0)


LAWS = [stats.norm(), stats.laplace(scale=0.7), stats.t(4.5, scale=2.0), stats.expon(scale=0.3)]


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("dist", LAWS, ids=lambda d: d.dist.name)
def test_enumeration_with_ml_dtypes_values_and_scipy_cdf(name: fp.FormatName, dist: Any) -> None:
    want = _reference_entropy(name, dist)
    got = fp.entropy(dist, name)
    assert got.method == "enumerate"
    assert abs(got.bits - want) < 1e-10, (got.bits, want)
    assert abs(got.total_mass - 1) < 1e-13


SPEC_REFERENCE = {  # N(0,1); spec §7.1 (mpmath enumeration, brute force over float32 cells)
    "float8_e5m2": (5.48530774920, 1e-10),
    "float8_e5m2fnuz": (5.48535110688, 1e-10),
    "float8_e4m3fn": (6.450363225379, 1e-11),
    "float8_e4m3fnuz": (6.462145959211, 1e-11),
    "bfloat16": (10.4644254724, 1e-10),
    "float16": (13.4637230653, 1e-10),
    "float32": (26.463733990789, 1e-11),
    "float64": (55.463733980233, 1e-11),
    "float4_e2m1fn": (3.216366, 1e-6),
    "float6_e3m2fn": (5.107802, 1e-6),
    "float6_e2m3fn": (5.053733, 1e-6),
}


@pytest.mark.parametrize("name", list(SPEC_REFERENCE))
@pytest.mark.parametrize("native", [True, False])
def test_spec_reference_values(name: fp.FormatName, native: bool) -> None:
    want, tol = SPEC_REFERENCE[name]
    got = fp.entropy(stats.norm(), name, native=native)
    assert abs(got.bits - want) < tol
    assert got.error_estimate < 1e-9


# --------------------------------------------------------------------------- mpmath truths

mpmath.mp.dps = 40


def _mp_cdf(law: str, x: mpmath.mpf) -> mpmath.mpf:
    if law == "norm":
        return mpmath.ncdf(x)
    if law == "laplace":
        return mpmath.exp(x) / 2 if x < 0 else 1 - mpmath.exp(-x) / 2
    if law == "logistic":
        return 1 / (1 + mpmath.exp(-x))
    raise AssertionError(law)


def _mp_pdf(law: str, x: mpmath.mpf) -> mpmath.mpf:
    if law == "norm":
        return mpmath.npdf(x)
    if law == "laplace":
        return mpmath.exp(-abs(x)) / 2
    if law == "logistic":
        e = mpmath.exp(-abs(x))
        return e / (1 + e) ** 2
    raise AssertionError(law)


def _mp_enumerate(name: fp.FormatName, law: str) -> float:
    """Enumeration at 40 digits (symmetric laws: twice the positive half, plus zero / overflow)."""
    v = [mpmath.mpf(float(x)) for x in _values(name)]
    top = v[-1] + (v[-1] - v[-2]) / 2
    edges = [v[0] / 2] + [(a + b) / 2 for a, b in itertools.pairwise(v)] + [top]
    sf = [_mp_cdf(law, -e) for e in edges]  # symmetric laws: sf(x) = cdf(-x), exact in the tail
    half = mpmath.mpf(1) / 2
    probs = [a - b for a, b in itertools.pairwise(sf)]
    tail = sf[-1]
    fmt = fp.get_format(name)
    if fmt.overflow == "saturate":
        probs[-1] += tail
    s = mpmath.fsum(-p * mpmath.log(p, 2) for p in probs if p > 0)
    h = 2 * s
    z = half - sf[0]
    h += 2 * (-z * mpmath.log(z, 2)) if fmt.zero == "signed" else -(2 * z) * mpmath.log(2 * z, 2)
    if tail > 0 and fmt.overflow == "inf":
        h += 2 * (-tail * mpmath.log(tail, 2))
    elif tail > 0 and fmt.overflow == "nan":
        h += -(2 * tail) * mpmath.log(2 * tail, 2)
    return float(h)


@pytest.mark.parametrize(
    "name", ["float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2fnuz", "float4_e2m1fn", "float6_e3m2fn"]
)
@pytest.mark.parametrize("law", ["norm", "laplace"])
def test_mpmath_enumeration_small_formats(name: fp.FormatName, law: str) -> None:
    dist = stats.norm() if law == "norm" else stats.laplace()
    assert abs(fp.entropy(dist, name).bits - _mp_enumerate(name, law)) < 1e-11


def test_mpmath_enumeration_bfloat16() -> None:
    want = _mp_enumerate("bfloat16", "norm")
    assert abs(fp.entropy(stats.norm(), "bfloat16").bits - want) < 1e-11


def _em_run(law: str, a: mpmath.mpf, w: mpmath.mpf, n: int) -> mpmath.mpf:
    """Σ_{k=0}^{n-1} −P_k log2 P_k, P_k = F(a+(k+1)w) − F(a+kw), by Euler–Maclaurin with the
    integral done by mpmath.quad (independent of the width-class expansion)."""

    def phi(t: mpmath.mpf) -> mpmath.mpf:
        lo = a + t * w
        # positive runs of symmetric laws: sf(x) = cdf(-x) keeps full relative accuracy in the tail
        p = _mp_cdf(law, -lo) - _mp_cdf(law, -(lo + w))
        return -p * mpmath.log(p, 2) if p > 0 else mpmath.mpf(0)

    if n <= 4:
        return mpmath.fsum(phi(mpmath.mpf(k)) for k in range(n))
    b = mpmath.mpf(n - 1)
    pts = [mpmath.mpf(0), b / 8, b / 4, b / 2, 3 * b / 4, b]
    integral = mpmath.quad(phi, pts)
    d1 = mpmath.diff(phi, b) - mpmath.diff(phi, 0)
    return integral + (phi(mpmath.mpf(0)) + phi(b)) / 2 + d1 / 12


def _mp_wide(name: fp.FormatName, law: str) -> float:
    """float32 / float64 entropy of a symmetric law: every run of equal cells summed by
    Euler–Maclaurin at 40 digits; binades below 2^-60 (where the density is flat to 1e-36)
    in closed form with f = f(0)."""
    f = fp.get_format(name)
    m = f.precision - 1
    s = mpmath.mpf(f.min_subnormal)
    f0 = _mp_pdf(law, mpmath.mpf(0))
    total = mpmath.mpf(0)
    flat_e = -60
    # flat region: subnormals and binades below 2^flat_e, cells of width w have P = f0 w
    n_flat_sub = 2 ** (m + 1) - 1  # subnormal run + binade emin, width s
    total += -n_flat_sub * f0 * s * mpmath.log(f0 * s, 2)
    for e in range(f.emin + 1, flat_e):
        u = mpmath.ldexp(1, e - m)
        total += -f0 * u * 3 / 4 * mpmath.log(f0 * u * 3 / 4, 2)
        total += -(2**m - 1) * f0 * u * mpmath.log(f0 * u, 2)
    for e in range(flat_e, 7):
        u = mpmath.ldexp(1, e - m)
        c = mpmath.ldexp(1, e)
        p = _mp_cdf(law, -(c - u / 4)) - _mp_cdf(law, -(c + u / 2))
        total += -p * mpmath.log(p, 2)
        total += _em_run(law, c + u / 2, u, 2**m - 1)
    z = mpmath.quad(lambda x: _mp_pdf(law, x), [0, s / 2])  # the +0 half-cell (a cdf difference would cancel)
    h = 2 * total + 2 * (-z * mpmath.log(z, 2))
    return float(h)


@pytest.mark.parametrize("name", ["float32", "float64"])
@pytest.mark.parametrize("law", ["norm", "laplace", "logistic"])
def test_wide_formats_against_high_precision(name: fp.FormatName, law: str) -> None:
    dist = {"norm": stats.norm(), "laplace": stats.laplace(), "logistic": stats.logistic()}[law]
    got = fp.entropy(dist, name)
    assert got.method == "classes"
    want = _mp_wide(name, law)
    assert abs(got.bits - want) < 1e-9, (got.bits, want)


# --------------------------------------------------------------------------- closed-form cases


def test_uniform_on_whole_cells() -> None:
    v = _values("float16")
    edges = 0.5 * (v[1:] + v[:-1])
    lo_i, hi_i = int(np.searchsorted(edges, 0.3)), int(np.searchsorted(edges, 5.0))
    a, b = float(edges[lo_i]), float(edges[hi_i])
    widths = np.diff(edges[lo_i : hi_i + 1])
    p = widths / (b - a)
    want = -math.fsum(p * np.log2(p))
    assert abs(fp.entropy(stats.uniform(a, b - a), "float16").bits - want) < 1e-12
    assert abs(fp.entropy(stats.uniform(a, b - a), "float16", method="classes").bits - want) < 1e-11


def test_three_quarter_width_power_of_two_cell() -> None:
    # cells of 1.0 (width 3u/4) and of 1 - u/2 (width u/2) in float16, u = 2^-10
    u = 2.0**-10
    a, b = 1.0 - 0.75 * u, 1.0 + 0.5 * u
    h = fp.entropy(stats.uniform(a, b - a), "float16").bits
    assert abs(h - (-(0.4 * math.log2(0.4) + 0.6 * math.log2(0.6)))) < 1e-12
    assert abs(fp.entropy(stats.uniform(1.0 - 0.25 * u, 0.75 * u), "float16").bits) < 1e-12


@pytest.mark.parametrize(("name", "lo", "hi"), [("float16", -3, 2), ("float32", 0, 2), ("bfloat16", -40, 40)])
def test_loguniform_on_binades(name: fp.FormatName, lo: int, hi: int) -> None:
    # mass of the cell [c1, c2) is log(c2/c1) / ((hi - lo) ln 2), summed cell by cell in numpy
    v = _values(name) if name != "float32" else None
    if v is None:
        e = np.arange(2**23 * (hi - lo) + 1, dtype=np.float64)
        v = np.ldexp(1.0 + (e % 2**23) / 2**23, (e // 2**23).astype(int) + lo)
    inside = v[(v >= 2.0**lo) & (v <= 2.0**hi)]
    mids = 0.5 * (inside[1:] + inside[:-1])
    edges = np.concatenate([[2.0**lo], mids, [2.0**hi]])
    p = np.log2(edges[1:] / edges[:-1]) / (hi - lo)
    want = -math.fsum(p * np.log2(p))
    got = fp.entropy(stats.loguniform(2.0**lo, 2.0**hi), name).bits
    assert abs(got - want) < 1e-9


# --------------------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None)
@given(st.floats(-30, 30), st.integers(-20, 20), st.sampled_from(["bfloat16", "float32"]))
def test_powers_of_two_scale_exactly(log2_sigma: float, k: int, name: fp.FormatName) -> None:
    sigma = 2.0**log2_sigma
    h0 = fp.entropy(stats.norm(scale=sigma), name).bits
    hk = fp.entropy(stats.norm(scale=sigma * 2.0**k), name).bits
    assert abs(h0 - hk) <= 1e-12


@settings(max_examples=25, deadline=None)
@given(st.floats(-12, 12), st.sampled_from([*SMALL, "float32"]), st.sampled_from(["norm", "laplace", "t"]))
def test_properties_of_symmetric_laws(log2_sigma: float, name: fp.FormatName, law: str) -> None:
    sigma = 2.0**log2_sigma
    dist = {"norm": stats.norm(scale=sigma), "laplace": stats.laplace(scale=sigma), "t": stats.t(3.0, scale=sigma)}[law]
    f = fp.get_format(name)
    r = fp.entropy(dist, name)
    assert 0.0 <= r.bits <= f.max_entropy + 1e-12
    merged = fp.entropy(dist, name, merge_zero=True)
    if f.zero == "signed":
        # ±0 merged: lower by exactly P(|X| < s/2) bits for a symmetric law
        assert abs((r.bits - merged.bits) - r.p_zero) < 1e-12
    else:
        assert r.bits == merged.bits
    if f.zero == "signed" and f.overflow == "inf" and law == "norm":
        half = fp.entropy(stats.halfnorm(scale=sigma), name)
        assert abs(r.bits - (1.0 + half.bits)) < 1e-11


@settings(max_examples=20, deadline=None)
@given(st.floats(-6, 6), st.sampled_from(["float16", "bfloat16", "float8_e4m3fn", "float32"]))
def test_merge_zero_lowers_by_at_most_p_zero(loc: float, name: fp.FormatName) -> None:
    dist = stats.norm(loc=loc * 1e-3, scale=1e-3)
    r = fp.entropy(dist, name)
    m = fp.entropy(dist, name, merge_zero=True)
    assert -1e-12 <= r.bits - m.bits <= r.p_zero + 1e-12


@pytest.mark.parametrize(
    "dist", [stats.norm(0.3, 2.0), stats.gamma(2.5), stats.beta(2, 3), stats.cauchy(scale=0.1), stats.lognorm(0.6)]
)
@pytest.mark.parametrize("name", ["float16", "float32", "float8_e4m3fn"])
def test_native_and_scipy_paths_agree(dist: Any, name: fp.FormatName) -> None:
    a = fp.entropy(dist, name)
    b = fp.entropy(dist, name, native=False)
    assert abs(a.bits - b.bits) < 1e-10


def test_generic_scipy_law_is_supported() -> None:
    # a law boltzkit has no native code for goes through vectorised callbacks
    dist = stats.gumbel_r(loc=0.5, scale=0.8)
    r = fp.entropy(dist, "float16")
    assert abs(r.bits - _reference_entropy("float16", dist)) < 1e-10


@pytest.mark.parametrize("name", ["float16", "float32"])
def test_thread_count_does_not_change_results(name: fp.FormatName) -> None:
    dist = stats.t(3.0, loc=0.1, scale=2.0)
    r1 = fp.entropy(dist, name, threads=1)
    r2 = fp.entropy(dist, name, threads=2)
    assert r1 == r2
    a1 = fp.approx_entropy(dist, name, threads=1)
    a2 = fp.approx_entropy(dist, name, threads=2)
    assert a1 == a2


# --------------------------------------------------------------------------- extreme laws


def test_law_narrower_than_a_cell() -> None:
    # N(1e30, 1) in float32: cells there are 7.6e22 wide, so one code holds all the mass
    r = fp.entropy(stats.norm(1e30, 1.0), "float32")
    assert r.bits == 0.0 and abs(r.total_mass - 1) < 1e-12
    from boltzkit import ComputationError

    with pytest.raises(ComputationError, match="entropy"):
        fp.approx_entropy(stats.norm(1e30, 1.0), "float32")


@pytest.mark.parametrize("sigma", [1e-6, 1e-9])
def test_very_narrow_law_in_float64(sigma: float) -> None:
    # near 3 every float64 cell has width 2^-51 and the density is smooth on that scale, so
    # H = h(X) + 51 up to the (negligible) within-cell KL
    r = fp.entropy(stats.norm(3.0, sigma), "float64")
    want = math.log2(sigma * math.sqrt(2 * math.pi * math.e)) + 51
    assert abs(r.total_mass - 1) < 1e-7
    assert abs(r.bits - want) <= max(1e-9, 4 * r.error_estimate)


def test_law_spanning_600_decades() -> None:
    d = stats.loguniform(1e-300, 1e300)
    a = fp.entropy(d, "float64")
    b = fp.entropy(d, "float64", native=False)
    assert abs(a.total_mass - 1) < 1e-12 and abs(a.bits - b.bits) < 1e-9
    # every binade holds the same mass, each cell ≈ equal within a binade: H ≈ log2(#cells) - small
    n_cells = (math.log2(1e300) - math.log2(1e-300)) * 2**52
    assert 0 < math.log2(n_cells) - a.bits < 0.1
    approx = fp.approx_entropy(d, "float64")
    assert abs(a.bits - approx.refined) <= approx.bound
