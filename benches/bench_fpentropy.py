"""Side-by-side benchmarks of boltzkit.fpentropy (spec §8), printed as markdown tables.

    python benches/bench_fpentropy.py            # B1-B4, about 3 minutes on 2 cores
    python benches/bench_fpentropy.py --quick    # smaller sizes, for a smoke run

B1  exact entropy of N(0,1) in float32 / float64: time (mean ± sd of runs) and error against the
    spec's reference values; anchor: mpmath enumeration of bfloat16 at 40 digits.
B2  exact entropy over 11 formats x 6 laws x 64 scales: time per call and max |H - refined|.
B3  empirical_entropy of 1e8 float32 (Gaussian x 0.02, and uniform random codes) against
    np.unique(return_counts=True) + the entropy sum, and GB/s against a plain copy of the buffer;
    1e8 bfloat16 against np.bincount.
B4  the scipy path (vectorised logpdf / cdf / sf callbacks) against the built-in Rust laws.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
from scipy import stats

from boltzkit import fpentropy as fp
from boltzkit import get_num_threads

REFERENCE = {"float32": 26.463733990789, "float64": 55.463733980233}


def timeit(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """Mean and sd of the wall time of `runs` calls (after one warm-up call)."""
    out = fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.mean(ts), statistics.stdev(ts) if len(ts) > 1 else 0.0, out


def header() -> None:
    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores; boltzkit threads: {get_num_threads()}; numpy {np.__version__}\n")


def b1(runs: int) -> None:
    print("### B1: exact entropy of N(0,1)\n")
    print("| format | method | time (ms), mean ± sd | bits | error vs reference |")
    print("|---|---|---|---|---|")
    for name in ("float32", "float64"):
        m, s, r = timeit(lambda n=name: fp.entropy(stats.norm(), n), runs)
        print(f"| {name} | {r.method} | {m * 1e3:.2f} ± {s * 1e3:.2f} | {r.bits:.12f} | {abs(r.bits - REFERENCE[name]):.1e} |")
    import mpmath

    mpmath.mp.dps = 40
    v = np.arange(2**15, dtype=np.uint16).view(ml_dtypes.bfloat16).astype(np.float64)
    v = np.unique(v[np.isfinite(v) & (v > 0)])
    t0 = time.perf_counter()
    edges = [mpmath.mpf(float(x)) for x in np.concatenate([[v[0] / 2], (v[1:] + v[:-1]) / 2, [v[-1] * 1.00390625]])]
    sf = [mpmath.ncdf(-e) for e in edges]
    h = 2 * mpmath.fsum(-(a - b) * mpmath.log(a - b, 2) for a, b in itertools.pairwise(sf) if a > b)
    t_mp = time.perf_counter() - t0
    m, s, r = timeit(lambda: fp.entropy(stats.norm(), "bfloat16"), runs)
    print(f"| bfloat16 (anchor) | mpmath enumeration, 40 digits | {t_mp * 1e3:.0f} (1 run) | {float(h):.10f} (cells only) | |")
    print(f"| bfloat16 | {r.method} | {m * 1e3:.2f} ± {s * 1e3:.2f} | {r.bits:.12f} | speedup over mpmath ×{t_mp / m:.0f} |")
    print()


LAWS: dict[str, Callable[[float], Any]] = {
    "norm": lambda c: stats.norm(scale=c),
    "laplace": lambda c: stats.laplace(scale=c),
    "logistic": lambda c: stats.logistic(scale=c),
    "t(4.5)": lambda c: stats.t(4.5, scale=c),
    "gamma(2.5)": lambda c: stats.gamma(2.5, scale=c),
    "cauchy": lambda c: stats.cauchy(scale=c),
}
# the 11 formats of the issue (the named extras float8_e4m3, float8_e3m4, float8_e4m3b11fnuz left out)
FORMATS11 = [f for f in fp.FORMATS if f not in ("float8_e4m3", "float8_e3m4", "float8_e4m3b11fnuz")]


def b2(n_scales: int) -> None:
    print(f"### B2: exact entropy, 11 formats x 6 laws x {n_scales} scales (2^-2 ... 2^2)\n")
    print("| format | time per call (ms) | max abs(H - refined) | max abs(H - paper) | max bound |")
    print("|---|---|---|---|---|")
    scales = 2.0 ** np.linspace(-2, 2, n_scales)
    for name in FORMATS11:
        t_total, calls, d_ref, d_pap, bnd = 0.0, 0, 0.0, 0.0, 0.0
        for make in LAWS.values():
            for c in scales:
                d = make(float(c))
                t0 = time.perf_counter()
                h = fp.entropy(d, name).bits
                t_total += time.perf_counter() - t0
                calls += 1
                a = fp.approx_entropy(d, name)
                d_ref, d_pap, bnd = max(d_ref, abs(h - a.refined)), max(d_pap, abs(h - a.paper)), max(bnd, a.bound)
        print(f"| {name} | {t_total / calls * 1e3:.2f} | {d_ref:.2e} | {d_pap:.2e} | {bnd:.2e} |")
    print()


def numpy_entropy(x: np.ndarray[Any, Any]) -> float:
    _, counts = np.unique(x, return_counts=True)
    p = counts / x.size
    return float(-np.sum(p * np.log2(p)))


def b3(n: int, runs: int) -> None:
    print(f"### B3: empirical entropy of {n:.0e} values\n")
    print("| data | numpy (s) | boltzkit (s), mean ± sd | speedup | boltzkit GB/s | copy GB/s | fraction of copy | bits agree |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    data = {
        "float32 N(0, 0.02²)": (0.02 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32),
        "float32 random codes": rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32).view(np.float32),
    }
    for label, x in data.items():
        t0 = time.perf_counter()
        ref = numpy_entropy(x.view(np.uint32))
        t_np = time.perf_counter() - t0
        m, s, r = timeit(lambda x=x: fp.empirical_entropy(x), runs)
        dst = np.empty_like(x)
        mc, _, _ = timeit(lambda x=x, dst=dst: np.copyto(dst, x), runs)
        gb = x.nbytes / 1e9
        print(
            f"| {label} | {t_np:.2f} | {m:.3f} ± {s:.3f} | ×{t_np / m:.1f} | {gb / m:.2f} | {gb / mc:.2f} | "
            f"{mc / m:.0%} | {abs(r.bits_per_value - ref) < 1e-9} |"
        )
    xb = (0.02 * rng.standard_normal(n, dtype=np.float32)).astype(ml_dtypes.bfloat16)
    codes = xb.view(np.uint16)

    def bincount() -> float:
        c = np.bincount(codes, minlength=65536)
        c = c[c > 0]
        p = c / codes.size
        return float(-np.sum(p * np.log2(p)))

    mb, _, ref = timeit(bincount, max(1, runs // 2))
    m, s, r = timeit(lambda: fp.empirical_entropy(xb), runs)
    dst = np.empty_like(codes)
    mc, _, _ = timeit(lambda: np.copyto(dst, codes), runs)
    gb = codes.nbytes / 1e9
    print(
        f"| bfloat16 N(0, 0.02²) vs np.bincount | {mb:.3f} | {m:.3f} ± {s:.3f} | ×{mb / m:.1f} | {gb / m:.2f} | {gb / mc:.2f} | "
        f"{mc / m:.0%} | {abs(r.bits_per_value - ref) < 1e-9} |"
    )
    print()


def b4(runs: int) -> None:
    print("### B4: scipy callbacks vs built-in Rust laws (same law)\n")
    print("| law | format | built-in (ms) | scipy path (ms) | overhead | abs difference (bits) |")
    print("|---|---|---|---|---|---|")
    for label, d in (("norm", stats.norm()), ("t(4.5)", stats.t(4.5)), ("gamma(2.5)", stats.gamma(2.5))):
        for name in ("float16", "float32", "float64"):
            mn, _, rn = timeit(lambda d=d, n=name: fp.entropy(d, n), runs)
            ms, _, rs = timeit(lambda d=d, n=name: fp.entropy(d, n, native=False), runs)
            print(f"| {label} | {name} | {mn * 1e3:.1f} | {ms * 1e3:.1f} | ×{ms / mn:.1f} | {abs(rn.bits - rs.bits):.1e} |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--only", choices=["b1", "b2", "b3", "b4"], action="append")
    args = ap.parse_args()
    runs = 3 if args.quick else 5
    header()
    todo = args.only or ["b1", "b2", "b3", "b4"]
    if "b1" in todo:
        b1(runs)
    if "b2" in todo:
        b2(8 if args.quick else 64)
    if "b3" in todo:
        b3(10**6 if args.quick else 10**8, runs)
    if "b4" in todo:
        b4(runs)


if __name__ == "__main__":
    main()
