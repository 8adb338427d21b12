"""Two boltzkit builds side by side on the dimod bench's BQMs: same samples, and the time ratio.

    python benches/bench_anneal_builds.py --before /path/to/old/python --after python [--threads 1]

Each ``--before`` / ``--after`` is a directory holding a built ``boltzkit`` package (its
``_core`` extension included). For each case of ``bench_dimod.py`` (D1–D4, 1000 sweeps, dwave's
default ``beta_range``, geometric schedule, seed 1) the two builds run alternately in fresh
interpreters, 3 rounds × 2 repeats, best time of each kept (alternating makes both see the same
load on a busy machine); the process CPU time of the same calls is reported beside the wall time
(on a machine shared with other work it is the steadier of the two). Samples and energies are
hashed: a change that is meant to keep every bit must print ``True``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import bench_dimod as bd

CHILD = r"""
import hashlib, json, sys, time
import numpy as np, dimod
from boltzkit import spin as sp
cfg = json.loads(sys.argv[1])
z = np.load(cfg["path"])
bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(z["h"], (z["row"], z["col"], z["q"]), float(z["offset"]), "SPIN")
s = sp.SimulatedAnnealingSampler()
best, cpu = float("inf"), float("inf")
for _ in range(cfg["repeats"]):
    t0, c0 = time.perf_counter(), time.process_time()
    ss = s.sample(bqm, num_reads=cfg["reads"], num_sweeps=1000, beta_range=cfg["br"], beta_schedule_type="geometric",
                  seed=1, threads=cfg["threads"])
    best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
h = hashlib.sha256(np.ascontiguousarray(ss.record.sample).tobytes() + np.ascontiguousarray(ss.record.energy).tobytes())
print(json.dumps(dict(seconds=best, cpu=cpu, hash=h.hexdigest()[:16])))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="directory with the reference boltzkit package")
    ap.add_argument("--after", required=True, help="directory with the boltzkit package under test")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2, help="calls per fresh interpreter (the best is kept)")
    args = ap.parse_args()
    from boltzkit import spin as sp
    from boltzkit.spin._samplers import default_ising_beta_range

    cases = {
        "D1 dense SK N = 1000, 4 reads": (bd.sk_bqm(1000, 1), 4),
        "D2 sparse 3-regular N = 10000, 8 reads": (bd.regular3_bqm(10_000, 2), 8),
        "D3 sparse ±J lattice 100×100, 8 reads": (bd.lattice_pmj_bqm(100, 3), 8),
        "D4 MLP map 784-256-256-10, 8 reads": (bd.mlp_map_bqm([784, 256, 256, 10], 4), 8),
    }
    builds = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}
    res: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, (bqm, reads)) in enumerate(cases.items()):
            path = Path(tmp) / f"bqm{k}.npz"
            bd.save(bqm, path)
            br = default_ising_beta_range(sp.SpinModel.from_bqm(bqm))
            cfg = json.dumps(dict(path=str(path), reads=reads, br=br, repeats=args.repeats, threads=args.threads))
            for _ in range(args.rounds):
                for b, pp in builds.items():
                    env = dict(os.environ, PYTHONPATH=pp, OPENBLAS_NUM_THREADS="1")
                    r = subprocess.run([sys.executable, "-c", CHILD, cfg], env=env, capture_output=True, text=True, check=True)
                    out = json.loads(r.stdout.strip().splitlines()[-1])
                    got = res.setdefault((name, b), dict(seconds=float("inf"), cpu=float("inf"), hash=out["hash"]))
                    got["seconds"] = min(got["seconds"], out["seconds"])
                    got["cpu"] = min(got["cpu"], out["cpu"])
                    assert got["hash"] == out["hash"], "a build is not reproducible"
    print(f"# threads = {args.threads}, best of {args.repeats} × {args.rounds} rounds, load {os.getloadavg()[0]:.1f}\n")
    print(
        "| case | before s | after s | before ÷ after | before CPU s | after CPU s | CPU before ÷ after "
        "| same samples and energies |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name in cases:
        a, b = res[(name, "before")], res[(name, "after")]
        ratio, cr = a["seconds"] / b["seconds"], a["cpu"] / b["cpu"]
        print(
            f"| {name} | {a['seconds']:.3f} | {b['seconds']:.3f} | {ratio:.2f}× | {a['cpu']:.3f} | {b['cpu']:.3f} | {cr:.2f}× "
            f"| {a['hash'] == b['hash']} |"
        )


if __name__ == "__main__":
    main()
