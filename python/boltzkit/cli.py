"""The ``boltzkit`` command line: ``demo``, ``run CONFIG.toml``, ``sweep SWEEP.toml`` and ``report STORE``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from boltzkit import __version__
from boltzkit.errors import BoltzkitError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from boltzkit.demo import SECTIONS
    from boltzkit.jobs import JOB_TYPES

    p = argparse.ArgumentParser(prog="boltzkit", description="Tools from the statistical physics of learning.")
    p.add_argument("--version", action="version", version=f"boltzkit {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="a short tour of every module (tables and PNG plots)")
    d.add_argument("--out", type=Path, default=Path("boltzkit-demo"), help="folder for the plots (default: ./boltzkit-demo)")
    d.add_argument("--quick", action="store_true", help="smaller grids and samples")
    d.add_argument("--only", choices=sorted(SECTIONS), action="append", help="run only this section (repeatable)")
    d.add_argument("--no-progress", action="store_true", help="never show progress bars")
    r = sub.add_parser("run", help="run a job described in a TOML file")
    r.add_argument("config", type=Path, nargs="?", help="the job file")
    r.add_argument("--out", type=Path, default=None, help="output folder (overrides the file's 'out')")
    r.add_argument("--list", action="store_true", help="list the job types")
    r.add_argument("--no-progress", action="store_true", help="never show progress bars")
    r.epilog = "job types: " + ", ".join(sorted(JOB_TYPES))
    sw = sub.add_parser("sweep", help="run a parameter sweep on Dask (resumable; results in SQLite)")
    sw.add_argument("config", type=Path, nargs="?", help="the sweep file")
    sw.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (default: a local cluster)")
    sw.add_argument("--store", type=Path, default=None, help="SQLite results store (overrides the file's 'store')")
    sw.add_argument("--workers", type=int, default=None, help="workers of the local cluster (default: one per core)")
    sw.add_argument("--list", action="store_true", help="list the task types")
    sw.add_argument("--no-progress", action="store_true", help="never show progress bars")
    rp = sub.add_parser("report", help="tables and plots of a results store")
    rp.add_argument("store", type=Path, help="the SQLite store")
    rp.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: beside the store, named after it without its extension: results/wobble.sqlite -> "
        "results/wobble-report)",
    )
    rp.add_argument(
        "--metrics",
        default=None,
        help="comma-separated metrics to plot (default: the first 8 in alphabetical order; the report says which)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``boltzkit`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    progress = False if getattr(args, "no_progress", False) else None
    try:
        if getattr(args, "out", None) is not None:
            from boltzkit._validate import out_folder

            out_folder("--out", args.out)  # a file, an unwritable folder or a file as parent: refused before any work
        if args.command == "demo":
            from boltzkit.demo import run_demo

            run_demo(args.out, quick=args.quick, sections=args.only, progress=progress)
            return 0
        if args.command == "sweep":
            return _sweep(args, progress)
        if args.command == "report":
            from boltzkit.report import report

            metrics = None if args.metrics is None else [m.strip() for m in args.metrics.split(",") if m.strip()]
            for f in report(args.store, args.out, metrics=metrics):
                print(f"wrote {f}")
            return 0
        from boltzkit.jobs import JOB_TYPES, load_job, run_job

        if args.list:
            for name, (desc, _) in sorted(JOB_TYPES.items()):
                print(f"{name:28s} {desc}")
            return 0
        if args.config is None:
            print("boltzkit run: give a CONFIG.toml (or --list)", file=sys.stderr)
            return 2
        job = load_job(args.config)
        res = run_job(job, out=args.out, progress=progress)
        for t in res.tables:
            print(t)
            print()
        for f in res.files:
            print(f"wrote {f}")
        return 0
    except BoltzkitError as e:
        print(f"boltzkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("boltzkit: interrupted", file=sys.stderr)
        return 130


def _sweep(args: argparse.Namespace, progress: bool | None) -> int:
    from boltzkit.sweep import load_sweep, sweep
    from boltzkit.tasks import TASKS

    if args.list:
        for name, t in sorted(TASKS.items()):
            print(f"{name:28s} {t.description}")
        return 0
    if args.config is None:
        print("boltzkit sweep: give a SWEEP.toml (or --list)", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("boltzkit: error: --workers must be >= 1", file=sys.stderr)
        return 2
    job = load_sweep(args.config)
    rep = sweep(job, scheduler=args.scheduler, store=args.store, n_workers=args.workers, progress=progress)
    print(
        f"sweep {rep.name}: {rep.n_tasks} tasks, {rep.n_skipped} already stored, {rep.n_ok} ok, {rep.n_failed} failed "
        f"in {rep.seconds:.1f} s (batch size {rep.batch_size}); store {rep.store}"
        + ("; interrupted: finished tasks are stored, run again to resume" if rep.interrupted else "")
    )
    return 130 if rep.interrupted else (1 if rep.n_failed else 0)


if __name__ == "__main__":
    sys.exit(main())
