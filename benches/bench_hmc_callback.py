"""Our own overhead per callback call (issue 16, deliverable 4): NUTS with a trivial batched
callback (returns preallocated arrays), per call and per coordinate.

    python benches/bench_hmc_callback.py [--dims 2 100 1000] [--chains 4] [--draws 300]

Overhead per call = (wall time − time inside the callback) / calls; the callback's own time is
measured around its body. The same with process CPU time (less sensitive to other jobs on a shared
machine, but it also counts rayon's worker threads while they spin idle: an upper bound).
Target (issue 16): ≤ 5 µs + 0.05 µs per coordinate — shown per coordinate of a chain (d) and per
coordinate of the call (chains × d).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from boltzkit import hmc


def measure(d: int, chains: int, draws: int, pad: bool) -> tuple[float, int, float, float]:
    inside = [0.0]
    inside_cpu = [0.0]
    calls = [0]
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def f(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        c0 = time.process_time()
        n = x.shape[0]
        if n not in cache:
            cache[n] = (np.zeros(n), np.zeros((n, d)))
        e, _ = cache[n]
        # a unit Gaussian with the least work numpy allows (the gradient is x itself)
        out = (e, x)
        calls[0] += 1
        inside_cpu[0] += time.process_time() - c0
        inside[0] += time.perf_counter() - t0
        return out

    c_start = time.process_time()

    tr = hmc.sample(f, x0=np.zeros((chains, d)), n_samples=draws, step_size=0.5, warmup=0, n_chains=chains,
                    pad_batch=pad, seed=1, progress=False)  # fmt: skip
    cpu = time.process_time() - c_start
    wall = tr.wall_time
    k = calls[0]
    return (wall - inside[0]) / k * 1e6, k, inside[0] / k * 1e6, (cpu - inside_cpu[0]) / k * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 100, 1000])
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=300)
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {a.chains} chains, {a.draws} draws")
    head = ("dim", "pad", "calls", "wall µs/call", "cpu µs/call", "target (d)", "target (chains×d)", "callback µs")
    print(" | ".join(head))
    for d in a.dims:
        for pad in (False, True):
            runs = [measure(d, a.chains, a.draws, pad) for _ in range(3)]
            wall = min(r[0] for r in runs)
            cpu = min(r[3] for r in runs)
            row = (d, pad, runs[0][1], f"{wall:.2f}", f"{cpu:.2f}", f"{5 + 0.05 * d:.2f}",
                   f"{5 + 0.05 * d * a.chains:.2f}", f"{runs[0][2]:.2f}")  # fmt: skip
            print(" | ".join(str(v) for v in row))


if __name__ == "__main__":
    main()
