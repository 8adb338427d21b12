"""Our own overhead per callback call (issue 16, deliverable 4): NUTS with a trivial batched
callback (returns preallocated arrays), per call and per coordinate.

    python benches/bench_hmc_callback.py [--dims 2 100 1000] [--chains 4] [--draws 300]

Overhead per call = (wall time − time inside the callback) / calls; the callback's own time is
measured around its body. Target (issue 16): ≤ 5 µs + 0.05 µs per coordinate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from boltzkit import hmc


def measure(d: int, chains: int, draws: int, pad: bool) -> tuple[float, int, float]:
    inside = [0.0]
    calls = [0]
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def f(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        n = x.shape[0]
        if n not in cache:
            cache[n] = (np.zeros(n), np.zeros((n, d)))
        e, _ = cache[n]
        # a unit Gaussian with the least work numpy allows (the gradient is x itself)
        out = (e, x)
        calls[0] += 1
        inside[0] += time.perf_counter() - t0
        return out

    tr = hmc.sample(f, x0=np.zeros((chains, d)), n_samples=draws, step_size=0.5, warmup=0, n_chains=chains,
                    pad_batch=pad, seed=1, progress=False)  # fmt: skip
    wall = tr.wall_time
    return (wall - inside[0]) / calls[0] * 1e6, calls[0], inside[0] / calls[0] * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 100, 1000])
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=300)
    a = ap.parse_args()
    print(f"{'dim':>6} {'pad':>5} {'calls':>8} {'overhead µs/call':>17} {'target µs':>10} {'callback µs':>12}")
    for d in a.dims:
        for pad in (False, True):
            best = min((measure(d, a.chains, a.draws, pad) for _ in range(3)), key=lambda r: r[0])
            print(f"{d:>6} {pad!s:>5} {best[1]:>8} {best[0]:>17.2f} {5 + 0.05 * d:>10.2f} {best[2]:>12.2f}")


if __name__ == "__main__":
    main()
