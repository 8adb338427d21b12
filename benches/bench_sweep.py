"""Throughput of sweeps: 1,000 small tasks on the embedded Dask cluster vs a plain sequential loop.

    python benches/bench_sweep.py             # 1,000 tasks
    python benches/bench_sweep.py --n 200     # smoke run

Each task is `fpentropy.entropy` of a normal law in float32 without the approximation (≈ 2 ms of
Rust work). Reported: tasks per second, the fraction of wall time spent inside the tasks (the Rust
core; summed task durations / (wall time × workers)), and the batch size the sweep chose.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from boltzkit.store import ResultStore
from boltzkit.sweep import _run_batch, expand, parse_sweep, sweep


def job_table(n: int, store: Path) -> dict[str, object]:
    return {
        "type": "sweep",
        "task": "fpentropy.entropy",
        "store": str(store),
        "base": {"dist": {"law": "norm"}, "format": "float32", "approx": False},
        "grid": {"dist.scale": [float(s) for s in np.exp(np.linspace(-3, 3, n))]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        job = parse_sweep(job_table(args.n, Path(tmp) / "seq.sqlite"))
        tasks = expand(job)
        t0 = time.perf_counter()
        rows = _run_batch(job.task, tasks, 1)
        t_seq = time.perf_counter() - t0
        in_tasks_seq = sum(r["duration_s"] for r in rows)

        job = parse_sweep(job_table(args.n, Path(tmp) / "dask.sqlite"))
        t0 = time.perf_counter()
        rep = sweep(job, progress=False)
        t_dask = time.perf_counter() - t0
        with ResultStore(job.store) as db:
            in_tasks = sum(r.duration_s or 0.0 for r in db.rows())
            assert len(db.rows()) == args.n
        t0 = time.perf_counter()
        again = sweep(job, progress=False)
        t_resume = time.perf_counter() - t0

        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        with cluster, Client(cluster) as client:
            job = parse_sweep(job_table(args.n, Path(tmp) / "warm.sqlite"))
            t0 = time.perf_counter()
            warm = sweep(job, client=client, progress=False)
            t_warm = time.perf_counter() - t0
            with ResultStore(job.store) as db:
                in_tasks_warm = sum(r.duration_s or 0.0 for r in db.rows())

    print(f"{args.n} tasks of fpentropy.entropy (float32, no approximation); machine: {workers} cores\n")
    print("| run | wall (s) | tasks/s | fraction of time in tasks | notes |")
    print("|---|---|---|---|---|")
    print(f"| sequential loop, 1 process | {t_seq:.2f} | {args.n / t_seq:.0f} | {in_tasks_seq / t_seq:.0%} | |")
    print(
        f"| sweep, embedded LocalCluster ({workers} workers, incl. start-up) | {t_dask:.2f} | {args.n / t_dask:.0f} | "
        f"{in_tasks / (t_dask * workers):.0%} | batch size {rep.batch_size}, {rep.n_ok} ok |"
    )
    print(
        f"| sweep on a running cluster ({workers} workers) | {t_warm:.2f} | {args.n / t_warm:.0f} | "
        f"{in_tasks_warm / (t_warm * workers):.0%} | batch size {warm.batch_size}, {warm.n_ok} ok |"
    )
    print(f"| sweep run again (all stored) | {t_resume:.2f} | | | {again.n_skipped} skipped |")


if __name__ == "__main__":
    main()
