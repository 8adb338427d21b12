"""Side-by-side benchmarks of boltzkit.spin (issue 5 points 10–11), printed as markdown tables.

    python benches/bench_spin.py --dwave-python /work/peers-spin/bin/python     # all, ~10 min on 2 cores
    python benches/bench_spin.py --quick                                          # smaller sizes, no peer

The peer (dwave-samplers) lives in its own virtual environment outside the repository; this
script runs it through that interpreter on the same instance files, in the same run.

B1  Dense SK N = 1000, J ~ N(0, 1/N): (a) the same explicit geometric schedule β ∈ [0.1, 5],
    same sweeps and reads: spin-flip attempts per second and mean e/N; (b) equal wall time, each
    with its own default schedule: mean e/N.
B2  e/N against sweeps for N = 250 … 4000 (best and mean of the reads), against Parisi −0.7633.
B3  Exact enumeration at N = 24; MPF objective + gradient at N = 100, 10^4 samples; MPF and
    pseudolikelihood fits at N = 100 from Monte Carlo samples: time and coupling error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit import get_num_threads
from boltzkit import spin as sp

DWAVE_SCRIPT = r"""
import json, sys, time
import numpy as np, dimod
from dwave.samplers import SimulatedAnnealingSampler
j = np.load(sys.argv[1]); cfg = json.loads(sys.argv[2])
n = j.shape[0]
iu = np.triu_indices(n, 1)
# canonical E = -sum J s s  ->  dimod J = -J
bqm = dimod.BinaryQuadraticModel(np.zeros(n), -np.triu(j, 1), 0.0, dimod.SPIN)
x = np.random.default_rng(0).choice([-1, 1], size=(3, n))
assert np.allclose(bqm.energies((x, list(range(n)))), -0.5 * np.einsum("ki,ij,kj->k", x, j, x))
s = SimulatedAnnealingSampler()
out = []
for run in cfg["runs"]:
    kw = dict(num_reads=run["reads"], num_sweeps=run["sweeps"], seed=run.get("seed", 1))
    if run.get("beta_range"):
        kw["beta_range"] = tuple(run["beta_range"]); kw["beta_schedule_type"] = "geometric"
    t0 = time.perf_counter(); ss = s.sample(bqm, **kw); dt = time.perf_counter() - t0
    states = ss.record.sample.astype(np.int8)
    order = [list(ss.variables).index(v) for v in range(n)]
    states = states[:, order]
    e = -0.5 * np.einsum("ki,ij,kj->k", states.astype(float), j, states.astype(float))
    br = ss.info.get("beta_range", kw.get("beta_range", (0, 0)))
    out.append(dict(seconds=dt, energies=(e / n).tolist(), beta_range=list(br)))
print(json.dumps(out))
"""


def dwave(python: str, j: np.ndarray, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "J.npy"
        np.save(path, j)
        r = subprocess.run(
            [python, "-c", DWAVE_SCRIPT, str(path), json.dumps({"runs": runs})], capture_output=True, text=True, check=True
        )
    out: list[dict[str, Any]] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def header() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; boltzkit threads: {get_num_threads()}\n")


def b1(args: argparse.Namespace) -> None:
    n, reads = (500, 2) if args.quick else (1000, 4)
    sweeps_list = [100, 1000] if args.quick else [100, 1000, 10000]
    print(f"### B1: dense SK N = {n}, J ~ N(0, 1/N), {reads} reads, schedule geometric β ∈ [0.1, 5]\n")
    print("| sweeps | solver | threads | time (s) | attempts / s | mean e/N | best e/N | speed ratio |")
    print("|---|---|---|---|---|---|---|---|")
    m = sp.sk(n, seed=0)
    m32 = sp.sk(n, seed=0, dtype=np.float32)
    for ns in sweeps_list:
        dw = None
        if args.dwave_python:
            dw = dwave(args.dwave_python, m.J, [{"reads": reads, "sweeps": ns, "beta_range": [0.1, 5.0]}])[0]
            e = np.array(dw["energies"])
            rate_d = n * ns * reads / dw["seconds"]
            print(f"| {ns} | dwave-samplers SA | 1 | {dw['seconds']:.3f} | {rate_d:.3g} | {e.mean():.4f} | {e.min():.4f} | 1 |")
        for label, model, th in (("boltzkit anneal f64", m, 1), ("boltzkit anneal f64", m, 2), ("boltzkit anneal f32", m32, 2)):
            r = model.anneal(reads, ns, beta_range=(0.1, 5.0), seed=1, threads=th)
            rate = n * ns * reads / r.seconds
            e = r.energies / n
            ratio = f"{rate / rate_d:.1f}" if dw else ""
            print(f"| {ns} | {label} | {th} | {r.seconds:.3f} | {rate:.3g} | {e.mean():.4f} | {e.min():.4f} | {ratio} |")
    print()
    if not args.dwave_python:
        return
    print(f"#### B1b: equal wall time, each solver with its default schedule (N = {n}, {reads} reads)\n")
    print("| solver | schedule | sweeps | time (s) | mean e/N | best e/N |")
    print("|---|---|---|---|---|---|")
    dw = dwave(args.dwave_python, m.J, [{"reads": reads, "sweeps": 10000}])[0]
    e = np.array(dw["energies"])
    br = dw["beta_range"]
    print(
        f"| dwave-samplers SA | default, β ∈ [{br[0]:.3g}, {br[1]:.3g}] | 10000 | {dw['seconds']:.2f} | "
        f"{e.mean():.4f} | {e.min():.4f} |"
    )
    # boltzkit: sweeps chosen to fill the same wall time (rate measured on a short run)
    probe = m.anneal(reads, 1000, seed=2)
    ns = max(100, int(1000 * dw["seconds"] / probe.seconds))
    r = m.anneal(reads, ns, seed=1, polish=True)
    bh, bc = m.default_beta_range()
    print(f"| boltzkit anneal (2 threads) + greedy polish | default, β ∈ [{bh:.3g}, {bc:.3g}] | {ns} | {r.seconds:.2f} | "
          f"{r.energies.mean() / n:.4f} | {r.energies.min() / n:.4f} |")  # fmt: skip
    print()


def b2(args: argparse.Namespace) -> None:
    ns_list = [250, 500, 1000] if args.quick else [250, 500, 1000, 2000, 4000]
    sweeps = [100, 1000] if args.quick else [100, 1000, 10000]
    print("### B2: e/N against sweeps and N (default schedule, 4 reads, 2 threads, greedy polish)\n")
    print("| N | N^(-2/3) | " + " | ".join(f"{s} sweeps: best / mean" for s in sweeps) + " | time at the largest (s) |")
    print("|---|---|" + "---|" * len(sweeps) + "---|")
    best = []
    for n in ns_list:
        m = sp.sk(n, seed=n, dtype=np.float32)
        cells = []
        dt = 0.0
        for s in sweeps:
            if n >= 4000 and s >= 10000 and args.quick:
                continue
            r = m.anneal(4, s, seed=1, polish=True)
            dt = r.seconds
            cells.append(f"{r.energies.min() / n:.4f} / {r.energies.mean() / n:.4f}")
        best.append(r.energies.min() / n)
        print(f"| {n} | {n ** (-2 / 3):.4f} | " + " | ".join(cells) + f" | {dt:.1f} |")
    x = np.array(ns_list, dtype=float) ** (-2 / 3)
    slope, icpt = np.polyfit(x, best, 1)
    print(
        "\nLinear fit of the best e/N at the largest sweep count against N^(-2/3): "
        f"intercept {icpt:.4f} (Parisi -0.7633), slope {slope:.3f}\n"
    )


def b3(args: argparse.Namespace) -> None:
    print("### B3: exact enumeration and MPF\n")
    print("| task | size | threads | time (s) | result |")
    print("|---|---|---|---|---|")
    n = 20 if args.quick else 24
    m = sp.sk(n, seed=1)
    for th in (1, 2):
        t0 = time.perf_counter()
        ex = m.enumerate_exact([1.0], threads=th)
        dt = time.perf_counter() - t0
        print(f"| enumerate_exact (ln Z, <E>, C, <m>) | N = {n}, 1 β | {th} | {dt:.3f} | ln Z = {ex.ln_z[0]:.6f}, "
              f"{2**n / dt / 1e6:.0f} M states/s |")  # fmt: skip
    t0 = time.perf_counter()
    ex = m.enumerate_exact([1.0], correlations=True)
    print(f"| enumerate_exact + correlations | N = {n} | 2 | {time.perf_counter() - t0:.3f} | <q²> = {ex.mean_q2[0]:.4f} |")
    nm, b = (50, 2000) if args.quick else (100, 10_000)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((nm, nm)) / np.sqrt(nm)
    truth = sp.SpinModel(np.triu(a, 1) + np.triu(a, 1).T, 0.1 * rng.standard_normal(nm))
    t0 = time.perf_counter()
    data = truth.anneal(b, schedule=np.full(200, 1.0), seed=3).final_states  # independent Gibbs chains at β = 1
    t_mc = time.perf_counter() - t0
    print(f"| samples: {b} independent Metropolis chains, 200 sweeps at β = 1 | N = {nm} | 2 | {t_mc:.2f} | |")
    for obj in ("mpf", "pl"):
        for th in (1, 2):
            t0 = time.perf_counter()
            for _ in range(5):
                sp.mpf_objective(data, truth, objective=obj, threads=th)  # type: ignore[arg-type]
            print(f"| {obj} objective + gradient | N = {nm}, B = {b} | {th} | {(time.perf_counter() - t0) / 5:.4f} | per call |")
    for name, fn in (("MPF fit (L-BFGS)", sp.fit_mpf), ("pseudolikelihood fit (L-BFGS)", sp.fit_pseudolikelihood)):
        r = fn(data)
        print(
            f"| {name} | N = {nm}, B = {b} | 2 | {r.seconds:.2f} | "
            f"J rmse {sp.coupling_rmse(r.model, truth):.4f}, {r.n_iter} iters |"
        )
    print()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dwave-python", default=None, help="python of a venv with dwave-samplers installed")
    ap.add_argument("--only", choices=["b1", "b2", "b3"], action="append")
    args = ap.parse_args()
    header()
    for name, fn in (("b1", b1), ("b2", b2), ("b3", b3)):
        if args.only is None or name in args.only:
            fn(args)


if __name__ == "__main__":
    main()
