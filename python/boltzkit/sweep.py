"""Parameter sweeps on Dask distributed, with a resumable SQLite results store.

A sweep file names a task type, its base parameters, and what to vary::

    type = "sweep"
    task = "fpentropy.entropy"          # boltzkit sweep --list
    name = "wobble"                     # optional (default: the file's stem)
    store = "results/wobble.sqlite"     # optional; --store overrides
    threads_per_task = 1                # Rust threads inside each task (parallelism is across tasks)
    batch_size = "auto"                 # or an int: tasks per Dask task
    seeds = [0, 1, 2]                   # replicate every point (default [0])

    [base]
    dist = { law = "norm" }
    format = "bfloat16"

    [grid]                              # cartesian product; dotted keys reach into tables
    "dist.scale" = [0.5, 0.75, 1.0, 1.5]
    format = ["bfloat16", "float16"]

    [random]                            # optional random draws, crossed with the grid
    n = 8
    seed = 1
    "dist.loc" = { uniform = [-0.1, 0.1] }     # also loguniform, normal, choice

Every task is validated before any work starts. Tasks run on an embedded ``LocalCluster`` (one
single-threaded worker process per core) or, with ``--scheduler`` / ``client=``, on an existing
cluster unchanged. Small tasks are batched so that scheduling overhead stays small. Results are
written by this process only, one row per task keyed by its content, so re-running a sweep skips
finished tasks and retries failed ones; a task that raises is stored as a failed row with its
traceback; a worker that dies has its tasks rerun by Dask; Ctrl-C keeps everything finished so far.

Requires the ``dask`` extra: ``pip install 'boltzkit[dask]'``.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import socket
import sys
import time
import tomllib
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit import __version__
from boltzkit._progress import want_progress
from boltzkit.jobs import ConfigError, Table
from boltzkit.store import ResultStore, content_key
from boltzkit.tasks import TASKS, check_params

__all__ = ["SweepJob", "SweepReport", "expand", "load_sweep", "sweep"]


@dataclass(frozen=True)
class SweepJob:
    """A parsed sweep file (see the module docstring for the format)."""

    name: str
    task: str
    base: dict[str, Any]
    grid: dict[str, list[Any]]
    random: dict[str, Any] = field(default_factory=dict)
    random_n: int = 0
    random_seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    store: Path = Path("boltzkit-sweep.sqlite")
    batch_size: int | None = None
    threads_per_task: int = 1
    source: str = "sweep"


@dataclass(frozen=True)
class SweepReport:
    """What a sweep did."""

    name: str
    store: Path
    n_tasks: int
    n_skipped: int
    n_ok: int
    n_failed: int
    seconds: float
    batch_size: int
    interrupted: bool = False


_DISTRIBUTIONS = ("uniform", "loguniform", "normal", "choice")


def load_sweep(path: str | Path) -> SweepJob:
    """Parse and validate a sweep file; every expanded task is checked before anything runs.

    Raises
    ------
    ConfigError
        For a missing file, invalid TOML, an unknown task type or key, a bad value, or a grid that
        expands to nothing.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p.name}: no such file ({p})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p.name}: cannot read {p}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p.name}: invalid TOML ({p}): {e}") from None
    jtype = data.get("type")
    if isinstance(jtype, str) and jtype != "sweep":
        from boltzkit.jobs import JOB_TYPES

        if jtype in JOB_TYPES:
            raise ConfigError(f"{p.name}: is a job file (type = {jtype!r}), not a sweep file; run it with: boltzkit run {p}")
    return parse_sweep(data, source=p.name, default_name=p.stem)


def parse_sweep(data: dict[str, Any], *, source: str = "sweep", default_name: str = "sweep") -> SweepJob:
    """Build a :class:`SweepJob` from a parsed TOML table."""
    top = Table(data, source)
    top.get_str("type", choices=("sweep",))
    task = top.get_str("task")
    if task not in TASKS:
        raise ConfigError(f"{source}.task: unknown task type {task!r}; expected one of: {', '.join(sorted(TASKS))}")
    name = top.get_str("name", default_name)
    store = Path(top.get_str("store", f"{name}.sqlite"))
    threads = top.get_int("threads_per_task", 1, lo=1, hi=1024)
    bs = top.get_value("batch_size", "auto")
    if bs == "auto":
        batch_size = None
    elif isinstance(bs, int) and not isinstance(bs, bool) and bs >= 1:
        batch_size = bs
    else:
        raise ConfigError(f'{source}.batch_size: expected "auto" or a positive integer, got {bs!r}')
    seeds = top.get_list("seeds", [0])
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**64 for s in seeds):
        raise ConfigError(f"{source}.seeds: expected integers between 0 and 2**64 - 1, got {seeds!r}")
    base = top.get_table("base", {}).data
    grid_t = top.get_table("grid", {})
    grid: dict[str, list[Any]] = {}
    for k, v in grid_t.data.items():
        if not isinstance(v, list):
            raise ConfigError(f"{source}.grid.{k}: expected a list of values, got {v!r}")
        if not v:
            raise ConfigError(f"{source}.grid.{k}: is empty, so the grid expands to nothing")
        _check_grid_order(k, v, source)
        grid[k] = v
        grid_t.used.add(k)
    rnd = top.get_table("random", {})
    random_n = rnd.get_int("n", 0, lo=0, hi=10_000_000) if rnd.data else 0
    random_seed = rnd.get_int("seed", 0, lo=0) if rnd.data else 0
    draws: dict[str, Any] = {}
    for k, v in rnd.data.items():
        if k in ("n", "seed"):
            continue
        rnd.used.add(k)
        if not (isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _DISTRIBUTIONS):
            expected = "{uniform|loguniform|normal = [a, b]} or {choice = [...]}"
            raise ConfigError(f"{source}.random.{k}: expected one of {expected}")
        kind, args = next(iter(v.items()))
        ok = isinstance(args, list) and (len(args) >= 1 if kind == "choice" else len(args) == 2)
        if not ok or (kind == "loguniform" and not all(isinstance(a, (int, float)) and a > 0 for a in args)):
            raise ConfigError(f"{source}.random.{k}: bad arguments for {kind}: {args!r}")
        if kind != "choice":
            if not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) for a in args):
                raise ConfigError(f"{source}.random.{k}: the arguments of {kind} must be finite numbers, got {args!r}")
            if kind in ("uniform", "loguniform") and not args[0] < args[1]:
                raise ConfigError(f"{source}.random.{k}: {kind} = [a, b] needs a < b, got {args!r}")
            if kind == "normal" and not args[1] >= 0:
                raise ConfigError(f"{source}.random.{k}: normal = [mean, sd] needs sd >= 0, got {args!r}")
        draws[k] = (kind, args)
    if draws and random_n == 0:
        raise ConfigError(f"{source}.random.n: must be >= 1 when random draws are given")
    top.done()
    rnd.done()
    seed_list = [int(s) for s in seeds]
    _check_size(grid, random_n, seed_list, source)
    job = SweepJob(name, task, base, grid, draws, random_n, random_seed, seed_list, store, batch_size, threads, source)
    tasks = expand(job)
    if not tasks:
        raise ConfigError(f"{source}: the sweep expands to nothing")
    for params in _to_validate(job, tasks):
        check_params(task, params, f"{source}: task {_describe(job, params)}")
    return job


# tasks one sweep may hold: every task is expanded (and its parameters kept) before anything runs
MAX_SWEEP_TASKS = 1_000_000


def _check_size(grid: dict[str, list[Any]], random_n: int, seeds: list[int], source: str) -> None:
    """Refuses a sweep whose task count (grid product x random draws x seeds) is too large,
    before it is expanded."""
    n_grid = 1
    for v in grid.values():
        n_grid *= len(v)
    n = n_grid * max(random_n, 1) * len(seeds)
    if n > MAX_SWEEP_TASKS:
        key = "random.n" if random_n > 1 else "grid" if n_grid > 1 else "seeds"
        raise ConfigError(
            f"{source}.{key}: the sweep would expand to {n} tasks ({n_grid} grid points x "
            f"{max(random_n, 1)} random draws x {len(seeds)} seeds); at most {MAX_SWEEP_TASKS} are allowed"
        )


def _check_grid_order(key: str, values: list[Any], source: str) -> None:
    """Warns about grid values that repeat or are numbers out of order (likely a typo)."""
    nums = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if nums:
        fl = [float(v) for v in values]
        if len(set(fl)) != len(fl):
            warnings.warn(f"{source}.grid.{key}: repeats values, so the sweep holds the same tasks more than once", stacklevel=3)
        elif fl != sorted(fl) and fl != sorted(fl, reverse=True):
            warnings.warn(f"{source}.grid.{key}: values are not in order; the sweep keeps the given order", stacklevel=3)


def _to_validate(job: SweepJob, tasks: list[tuple[str, dict[str, Any], int]]) -> Iterator[dict[str, Any]]:
    """The parameter sets to check before a sweep starts: all of them for sweeps of up to 2,000
    distinct points; for larger ones, every grid value on its own (over the base) and the first
    500 points (an invalid combination found later becomes a failed row, not a crash)."""
    unique: dict[str, dict[str, Any]] = {}
    for _key, params, _seed in tasks:
        unique.setdefault(content_key(job.task, params, 0), params)
    if len(unique) <= 2000:
        yield from unique.values()
        return
    for k, values in job.grid.items():
        for v in values:
            p = copy.deepcopy(job.base)
            _set_path(p, k, v, job.source)
            yield p
    yield from itertools.islice(unique.values(), 500)


def _describe(job: SweepJob, params: dict[str, Any]) -> str:
    keys = list(job.grid) + list(job.random)
    return "{" + ", ".join(f"{k}={_get_path(params, k)!r}" for k in keys) + "}" if keys else "{base}"


def _get_path(d: dict[str, Any], dotted: str) -> Any:
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _set_path(d: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    parts = dotted.split(".")
    cur = d
    for part in parts[:-1]:
        nxt = cur.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{source}: {dotted}: {part!r} is not a table in [base]")
        cur = nxt
    cur[parts[-1]] = value


def _draw(kind: str, args: list[Any], rng: np.random.Generator) -> Any:
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if kind == "loguniform":
        return float(np.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
    if kind == "normal":
        return float(rng.normal(args[0], args[1]))
    return args[int(rng.integers(len(args)))]


def _points(job: SweepJob) -> Iterator[dict[str, Any]]:
    keys = list(job.grid)
    rng = np.random.default_rng(job.random_seed)
    randoms = [{k: _draw(kind, args, rng) for k, (kind, args) in job.random.items()} for _ in range(job.random_n)] or [{}]
    for combo in itertools.product(*(job.grid[k] for k in keys)):
        for r in randoms:
            p = copy.deepcopy(job.base)
            for k, v in zip(keys, combo, strict=True):
                _set_path(p, k, v, job.source)
            for k, v in r.items():
                _set_path(p, k, v, job.source)
            yield p


def expand(job: SweepJob) -> list[tuple[str, dict[str, Any], int]]:
    """Every task of a sweep as ``(content_key, params, seed)``, in a fixed order."""
    return [(content_key(job.task, p, s), p, s) for p in _points(job) for s in job.seeds]


# --------------------------------------------------------------------------- execution


_MALLOC_TUNED = False


def _tune_malloc() -> None:
    """Undo the allocator settings Dask's nanny gives its workers (once per process).

    The nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``. Setting any glibc threshold
    also freezes glibc's *mmap* threshold at 128 KiB, so every large buffer the Rust core allocates
    is a fresh ``mmap`` and is page-faulted in again on every call: tasks ran ~1.6× slower inside a
    worker than in a plain process. We set the mmap threshold to 32 MiB and the trim threshold to
    64 MiB, which keeps the nanny's intent (memory above 64 MiB free at the top of the heap is
    returned to the system) without the per-call page faults. No-op off glibc.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    if os.environ.get("MALLOC_TRIM_THRESHOLD_") is None or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def _run_batch(task: str, items: list[tuple[str, dict[str, Any], int]], threads: int) -> list[dict[str, Any]]:
    """Run tasks (on a worker); an exception of a task is recorded, not raised."""
    _tune_malloc()
    out = []
    worker = f"{socket.gethostname()}:{os.getpid()}"
    for key, params, seed in items:
        started = time.time()
        t0 = time.perf_counter()
        row: dict[str, Any] = {"key": key, "task": task, "params": params, "seed": seed, "started": started, "worker": worker}
        row["version"] = __version__
        try:
            metrics = TASKS[task].run(params, seed, threads)
            row["arrays"] = {k: v for k, v in metrics.items() if isinstance(v, np.ndarray)}
            row["metrics"] = {k: _scalar(v) for k, v in metrics.items() if not isinstance(v, np.ndarray)}
            row["status"] = "ok"
        except Exception as e:
            row["status"] = "failed"
            row["error"] = f"{type(e).__name__}: {e}"
            row["traceback"] = traceback.format_exc()
        row["finished"] = time.time()
        row["duration_s"] = time.perf_counter() - t0
        out.append(row)
    return out


def _scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def _auto_batch(seconds_per_task: float, n_tasks: int, n_workers: int) -> int:
    """Tasks per Dask task: at least ~0.25 s of work each (Dask's per-task overhead is ~1 ms),
    but enough batches to keep every worker busy."""
    by_time = max(1, math.ceil(0.25 / max(seconds_per_task, 1e-6)))
    by_balance = max(1, n_tasks // max(1, 4 * n_workers))
    return max(1, min(by_time, by_balance))


def sweep(
    job: SweepJob | str | Path,
    *,
    client: Any = None,
    scheduler: str | None = None,
    store: str | Path | None = None,
    n_workers: int | None = None,
    progress: bool | None = None,
) -> SweepReport:
    """Run a sweep, skipping tasks already stored.

    Parameters
    ----------
    job : SweepJob, str or Path
        A parsed sweep or the path of a sweep file.
    client : dask.distributed.Client, optional
        Run on this client's cluster.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); ignored when ``client`` is given.
    store : str or Path, optional
        The SQLite store (default: the sweep file's ``store``).
    n_workers : int, optional
        Workers of the embedded cluster (default: one per core).
    progress : bool, optional
        Progress bar with ETA (default: when stderr is a terminal).

    Returns
    -------
    SweepReport

    Raises
    ------
    ConfigError
        For a bad sweep file, an unwritable store or an unreachable scheduler (before any work).
    """
    if not isinstance(job, SweepJob):
        job = load_sweep(job)
    db = ResultStore(store if store is not None else job.store)
    t_start = time.perf_counter()
    own_client = None
    cluster = None
    interrupted = False
    try:
        tasks = expand(job)
        unique: dict[str, tuple[str, dict[str, Any], int]] = {}
        for t in tasks:
            unique.setdefault(t[0], t)
        status = db.status_of(list(unique))
        todo = [t for k, t in unique.items() if status.get(k) != "ok"]
        db.record_sweep(job.name, job.task, {"task": job.task, "base": job.base, "grid": job.grid, "seeds": job.seeds})
        n_skipped = len(unique) - len(todo)
        if not todo:
            return _report(job, db, len(unique), n_skipped, 0, 0, t_start, 0)
        try:
            import dask.distributed
        except ImportError:
            raise ConfigError("sweep: needs dask.distributed; pip install 'boltzkit[dask]'") from None
        dd: Any = dask.distributed  # (distributed ships no complete type hints)
        Client, LocalCluster, as_completed = dd.Client, dd.LocalCluster, dd.as_completed
        if client is None:
            if scheduler is not None:
                try:
                    client = own_client = Client(scheduler, timeout="5s")
                except (OSError, TimeoutError) as e:
                    raise ConfigError(f"scheduler: cannot reach {scheduler!r}: {e}") from None
            else:
                workers = n_workers or os.cpu_count() or 1
                cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
                )
                client = own_client = Client(cluster)
        n_workers_now = max(1, len(client.scheduler_info().get("workers", {})) or 1)
        # one probe task in this process times the work (its result is kept)
        first = _run_batch(job.task, [todo[0]], job.threads_per_task)
        db.write(job.name, first)
        ok, failed = int(first[0]["status"] == "ok"), int(first[0]["status"] != "ok")
        rest = todo[1:]
        bs = job.batch_size or _auto_batch(float(first[0]["duration_s"]), len(rest), n_workers_now)
        batches = [rest[i : i + bs] for i in range(0, len(rest), bs)]
        bar = None
        if want_progress(progress):
            from boltzkit._progress import bar as new_bar

            bar = new_bar(len(todo), f"sweep {job.name}", initial=1, unit="task")
        futures = client.map(
            _run_batch, [job.task] * len(batches), batches, [job.threads_per_task] * len(batches), retries=3, pure=False
        )
        try:
            for fut in as_completed(futures):
                try:
                    rows = fut.result()
                except Exception as e:  # the batch itself failed (e.g. its workers kept dying)
                    items = batches[futures.index(fut)]
                    rows = [_failed_row(job.task, it, e) for it in items]
                db.write(job.name, rows)
                ok += sum(r["status"] == "ok" for r in rows)
                failed += sum(r["status"] != "ok" for r in rows)
                if bar is not None:
                    bar.update(len(rows))
        except KeyboardInterrupt:
            interrupted = True
            client.cancel(futures)
        finally:
            if bar is not None:
                bar.close()
        return _report(job, db, len(unique), n_skipped, ok, failed, t_start, bs, interrupted)
    finally:
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()
        db.close()


def _failed_row(task: str, item: tuple[str, dict[str, Any], int], e: BaseException) -> dict[str, Any]:
    key, params, seed = item
    return {
        "key": key,
        "task": task,
        "params": params,
        "seed": seed,
        "status": "failed",
        "error": f"{type(e).__name__}: {e}",
        "traceback": "".join(traceback.format_exception(e)),
        "version": __version__,
    }


def _report(
    job: SweepJob, db: ResultStore, n: int, skipped: int, ok: int, failed: int, t0: float, bs: int, interrupted: bool = False
) -> SweepReport:
    return SweepReport(job.name, db.path, n, skipped, ok, failed, time.perf_counter() - t0, bs, interrupted)
