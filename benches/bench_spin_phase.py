"""Phase diagnostics of boltzkit.spin.phase against truths (issue 18 point 1), as markdown tables.

    python benches/bench_spin_phase.py                 # ~15 min on 2 cores
    python benches/bench_spin_phase.py --quick         # N ≤ 1000, fewer nets (~2 min)

P1  Finite-N bias of the glass temperature on layered SK (three equal layers, J ~ N(0, 1/w)),
    N = 250 … 4000 spins, several instances each: T_glass of the TAP-Hessian scan in its T-form
    (``T·A(T) = diag(T + d_i/T) − J``, the default) and its β-form (``A(T)``), and ``tc_glass``
    (√λ_Perron(J∘J)), each as (estimate / tc_layered_theory − 1), mean ± standard error over
    instances. The theory value is the N → ∞ limit, so the bias is what the table shows.
P2  False alarms on untrained networks: random [w, w, w] layered nets (i.i.d. N(0, 1/w) weights,
    i.e. an MLP at initialisation, nothing learned). Old criterion: the scan's hidden-order
    crossing above the glass temperature (``T_hidden > T_glass``); new criterion:
    ``hidden_order_test`` at its default level 0.01 (99 weight-shuffled controls). The rate of
    "hidden order" verdicts with a Wilson 95 % interval; a correct test stays near 1 %.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from boltzkit import spin as sp
from boltzkit.spin import phase


def _mean_se(x: list[float]) -> str:
    a = np.asarray(x)
    se = a.std(ddof=1) / math.sqrt(a.size) if a.size > 1 else float("nan")
    return f"{100 * a.mean():+.2f} ± {100 * se:.2f} %"


def bias_table(sizes: list[int], instances: dict[int, int]) -> str:
    rows = ["| N | instances | T-form T_glass | β-form T_glass | tc_glass | seconds |", "|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        w = n // 3
        widths = [w, w, w]
        th = phase.tc_layered_theory(widths, 1.0 / w)
        grid = np.linspace(0.7, 1.3, 13) * th
        tf, bf, pg = [], [], []
        t0 = time.perf_counter()
        for s in range(instances[n]):
            m = sp.layered_sk(widths, variances=1.0 / w, seed=1000 * n + s)
            tf.append(phase.tap_hessian_scan(m, grid, form="T", progress=False).T_glass / th - 1)
            bf.append(phase.tap_hessian_scan(m, grid, form="beta", progress=False).T_glass / th - 1)
            pg.append(phase.tc_glass(m) / th - 1)
        dt = time.perf_counter() - t0
        rows.append(f"| {3 * w} | {instances[n]} | {_mean_se(tf)} | {_mean_se(bf)} | {_mean_se(pg)} | {dt:.0f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def _wilson(k: int, n: int) -> str:
    z = 1.96
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{100 * p:.1f} % [{100 * max(c - h, 0):.1f}, {100 * min(c + h, 1):.1f}]"


def false_alarm_table(widths: list[int], nets: int) -> str:
    rows = [
        "| widths | nets | scan: T_hidden > T_glass | hidden_order_test (level 0.01) | seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for w in widths:
        old = new = 0
        t0 = time.perf_counter()
        th = phase.tc_layered_theory([w, w, w], 1.0 / w)
        grid = np.linspace(0.7, 1.6, 19) * th
        for s in range(nets):
            m = sp.layered_sk([w, w, w], variances=1.0 / w, seed=77_000 + s)
            sc = phase.tap_hessian_scan(m, grid, progress=False)
            old += bool(math.isfinite(sc.T_hidden) and sc.T_hidden > sc.T_glass)
            new += phase.hidden_order_test(m, seed=s, progress=False).significant
        dt = time.perf_counter() - t0
        rows.append(f"| [{w}, {w}, {w}] | {nets} | {_wilson(old, nets)} | {_wilson(new, nets)} | {dt:.0f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="N ≤ 1000 and fewer networks")
    a = p.parse_args()
    if a.quick:
        sizes, inst = [250, 500, 1000], {250: 6, 500: 6, 1000: 4}
        fa_w, fa_n = [60], 100
    else:
        sizes, inst = [250, 500, 1000, 2000, 4000], {250: 16, 500: 16, 1000: 10, 2000: 6, 4000: 4}
        fa_w, fa_n = [60, 150], 150
    print("P1  T_glass bias on layered SK [N/3]*3, (estimate / tc_layered_theory − 1), mean ± s.e.\n")
    print(bias_table(sizes, inst))
    print("\nP2  'hidden order' verdicts on untrained random [w, w, w] networks (Wilson 95 % CI)\n")
    print(false_alarm_table(fa_w, fa_n))


if __name__ == "__main__":
    main()
