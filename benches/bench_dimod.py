"""boltzkit's dimod SimulatedAnnealingSampler against dwave-samplers' (issue 17.3), side by side.

    python benches/bench_dimod.py --dwave-python /tmp/peers-dimod/bin/python    # ~3 min on 2 cores

On a busy machine add ``--rounds 3``: the dwave side and boltzkit's then alternate three times
(best of each kept), so both see the same load.

The peer (dwave-samplers + dimod) runs from its own virtual environment outside the repository,
through that interpreter, in the same run, on the same BQMs (saved as dimod's numpy vectors and
rebuilt on each side outside the timed call). Both samplers get the same explicit schedule
(geometric, dwave's default ``beta_range`` for the instance), sweeps, reads and seed, through
``sampler.sample(bqm, ...)``: the timed call includes the BQM conversion on both sides.

D1  Dense SK N = 1000 (dimod J ~ N(0, 1/N), zero fields), 1000 sweeps, 4 reads.
D2  Sparse random 3-regular N = 10,000 (±1 couplings), 1000 sweeps, 8 reads.
D3  Periodic 2-D ±J lattice 100 × 100, 1000 sweeps, 8 reads.
D4  The spin map of an MLP 784-256-256-10 at initialisation (W ~ N(0, 1/fan_in)), 1000 sweeps, 8 reads.

Printed: wall seconds (best of ``--repeats``), boltzkit's split into preprocessing (conversion,
initial states, schedule) / sampling / postprocessing, the ratio dwave / boltzkit, and mean e/N
± standard error over the reads of both (same dynamics, so they must agree within noise).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import dimod
import numpy as np

from boltzkit import get_num_threads
from boltzkit import spin as sp
from boltzkit.spin._samplers import default_ising_beta_range

DWAVE_SCRIPT = r"""
import json, sys, time
import numpy as np, dimod
from dwave.samplers import SimulatedAnnealingSampler
cfg = json.loads(sys.argv[1])
s = SimulatedAnnealingSampler()
out = []
for run in cfg["runs"]:
    z = np.load(run["path"])
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(z["h"], (z["row"], z["col"], z["q"]), float(z["offset"]), "SPIN")
    best = None
    for _ in range(run["repeats"]):
        t0 = time.perf_counter()
        ss = s.sample(bqm, num_reads=run["reads"], num_sweeps=run["sweeps"], beta_range=run["beta_range"],
                      beta_schedule_type="geometric", seed=run["seed"])
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    t = ss.info["timing"]
    out.append(dict(seconds=best, energies=ss.record.energy.tolist(),
                    pre=t["preprocessing_ns"] * 1e-9, sampling=t["sampling_ns"] * 1e-9, post=t["postprocessing_ns"] * 1e-9))
print(json.dumps(out))
"""


def sk_bqm(n: int, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    r, c = np.triu_indices(n, 1)
    return dimod.BinaryQuadraticModel.from_numpy_vectors(np.zeros(n), (r, c, rng.normal(0, 1 / np.sqrt(n), r.size)), 0.0, "SPIN")


def regular3_bqm(n: int, seed: int) -> Any:
    """Random 3-regular graph (union of three random perfect matchings, no repeated edge), ±1 couplings."""
    rng = np.random.default_rng(seed)
    while True:
        edges = np.concatenate([rng.permutation(n).reshape(-1, 2) for _ in range(3)])
        edges.sort(axis=1)
        if len(np.unique(edges, axis=0)) == len(edges):
            break
    q = rng.choice([-1.0, 1.0], len(edges))
    return dimod.BinaryQuadraticModel.from_numpy_vectors(np.zeros(n), (edges[:, 0], edges[:, 1], q), 0.0, "SPIN")


def lattice_pmj_bqm(side: int, seed: int) -> Any:
    """Periodic 2-D lattice side × side with ±1 couplings (±J spin glass)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate([idx.ravel(), idx.ravel()])
    b = np.concatenate([np.roll(idx, -1, axis=1).ravel(), np.roll(idx, -1, axis=0).ravel()])
    q = rng.choice([-1.0, 1.0], a.size)
    return dimod.BinaryQuadraticModel.from_numpy_vectors(np.zeros(side * side), (a, b, q), 0.0, "SPIN")


def mlp_map_bqm(widths: list[int], seed: int) -> Any:
    """The spin model of an MLP at initialisation (W_l ~ N(0, 1/fan_in)), as a BQM: spins are neurons."""
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal((o, i)) / np.sqrt(i) for i, o in itertools.pairwise(widths)]
    return sp.SpinModel.from_layers(ws).to_bqm()


def save(bqm: Any, path: Path) -> None:
    h, (row, col, q), off = bqm.to_numpy_vectors(variable_order=range(len(bqm.variables)))
    np.savez(path, h=h, row=row, col=col, q=q, offset=off)


def mean_se(e: np.ndarray, n: int) -> str:
    x = np.asarray(e) / n
    return f"{x.mean():.4f} ± {x.std(ddof=1) / np.sqrt(x.size):.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dwave-python", required=True, help="interpreter of a venv with dwave-samplers and dimod")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sweeps", type=int, default=1000)
    ap.add_argument("--cases", default="D1,D2,D3,D4", help="comma-separated subset of D1,D2,D3,D4")
    ap.add_argument(
        "--rounds", type=int, default=1,
        help="alternate the dwave side and boltzkit's this many times (repeats each), best over all rounds: "
        "on a loaded machine both sides then see the same load",
    )  # fmt: skip
    args = ap.parse_args()
    make = {
        "D1": lambda: ("D1 dense SK", sk_bqm(1000, 1), 4),
        "D2": lambda: ("D2 sparse 3-regular", regular3_bqm(10_000, 2), 8),
        "D3": lambda: ("D3 sparse ±J lattice 100×100", lattice_pmj_bqm(100, 3), 8),
        "D4": lambda: ("D4 MLP map 784-256-256-10", mlp_map_bqm([784, 256, 256, 10], 4), 8),
    }
    cases = [make[c.strip()]() for c in args.cases.split(",")]
    cpu = platform.processor() or platform.machine()
    print(f"# bench_dimod: {cpu}, {os.cpu_count()} CPUs, boltzkit threads = {get_num_threads()}, load {os.getloadavg()[0]:.1f}")
    print(
        f"sweeps = {args.sweeps}, geometric schedule over dwave's default beta_range, seed 1, "
        f"best of {args.repeats} × {args.rounds} round(s)\n"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for k, (_name, bqm, reads) in enumerate(cases):
            path = Path(tmp) / f"bqm{k}.npz"
            save(bqm, path)
            br = default_ising_beta_range(sp.SpinModel.from_bqm(bqm))
            runs.append(dict(path=str(path), reads=reads, sweeps=args.sweeps, beta_range=br, seed=1, repeats=args.repeats))
        sampler = sp.SimulatedAnnealingSampler()
        labels: tuple[tuple[str, dict[str, Any]], ...] = (
            ("float64", {}), ("float32", {"dtype": np.float32}), ("float64, 1 thread", {"threads": 1}),
        )  # fmt: skip
        peer: list[dict[str, Any]] = []
        ours: dict[tuple[int, str], tuple[float, Any]] = {}
        for _round in range(args.rounds):
            t0 = time.perf_counter()
            cmd = [args.dwave_python, "-c", DWAVE_SCRIPT, json.dumps({"runs": runs})]
            r = subprocess.run(cmd, capture_output=True, text=True, check=True)
            got = json.loads(r.stdout.strip().splitlines()[-1])
            peer = got if not peer else [g if g["seconds"] < p["seconds"] else p for p, g in zip(peer, got, strict=True)]
            print(f"(dwave side ran in {time.perf_counter() - t0:.1f} s)")
            for c, ((name, bqm, reads), run) in enumerate(zip(cases, runs, strict=True)):
                for label, kw in labels:
                    if not name.startswith("D1") and label == "float32":
                        continue  # float32 storage applies to dense couplings only
                    best, ss = ours.get((c, label), (np.inf, None))
                    for _ in range(args.repeats):
                        t1 = time.perf_counter()
                        ss = sampler.sample(bqm, num_reads=reads, num_sweeps=args.sweeps, beta_range=run["beta_range"],
                                            beta_schedule_type="geometric", seed=1, **kw)  # fmt: skip
                        best = min(best, time.perf_counter() - t1)
                    ours[(c, label)] = (best, ss)
        print()
        for c, ((name, bqm, reads), pr) in enumerate(zip(cases, peer, strict=True)):
            n = len(bqm.variables)
            for label, _kw in labels:
                if (c, label) not in ours:
                    continue
                best, ss = ours[(c, label)]
                assert ss is not None
                truth = bqm.energies((ss.record.sample, ss.variables))
                assert np.allclose(ss.record.energy, truth, rtol=1e-9, atol=1e-9), "energies differ from dimod's"
                t = ss.info["timing"]
                rows.append(
                    f"| {name} N = {n}, {reads} reads | boltzkit {label} | {best:.3f} | {t['preprocessing_ns'] * 1e-9:.3f} / "
                    f"{t['sampling_ns'] * 1e-9:.3f} / {t['postprocessing_ns'] * 1e-9:.3f} | **{pr['seconds'] / best:.2f}×** | "
                    f"{mean_se(ss.record.energy, n)} |"
                )
            rows.append(
                f"| {name} N = {n}, {reads} reads | dwave-samplers | {pr['seconds']:.3f} | {pr['pre']:.3f} / "
                f"{pr['sampling']:.3f} / {pr['post']:.3f} | 1 | {mean_se(np.array(pr['energies']), n)} |"
            )
    print("| case | sampler | wall s (best) | pre / sampling / post s | dwave ÷ boltzkit | e/N ± se |")
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
