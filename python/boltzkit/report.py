"""``boltzkit report STORE``: tables and plots of stored sweep metrics against the swept parameters."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit._plot import MARKERS
from boltzkit._table import format_table, write_csv
from boltzkit._validate import out_folder
from boltzkit.jobs import ConfigError
from boltzkit.store import ResultStore, TaskRow

__all__ = ["default_out", "report"]


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _sort_key(v: Any) -> tuple[int, float, str]:
    """Numbers first and by value, then everything else by its text, missing values last."""
    if _is_number(v):
        return (0, float(v), "")
    if v is None:
        return (2, 0.0, "")
    return (1, 0.0, str(v))


def _is_bound(metric: str, metrics: dict[str, Any]) -> bool:
    """Whether a row's value of ``metric`` is only a lower bound: a ``speedup[m]`` (or ``speedup``)
    whose ``truth_limited[m]`` (or ``truth_limited``) flag is set."""
    m = re.fullmatch(r"speedup(\[.*\])?", metric)
    if m is None:
        return False
    return bool(metrics.get(f"truth_limited{m.group(1) or ''}", False))


def default_out(store: str | Path) -> Path:
    """The report folder of a store when none is given: beside it, named after it without its
    extension (``results/wobble.sqlite`` → ``results/wobble-report``)."""
    path = Path(store)
    return path.with_name(path.stem + "-report")


def report(
    store: str | Path, out: str | Path | None = None, *, metrics: Sequence[str] | None = None, max_plots: int = 8
) -> list[Path]:
    """Summarise a results store: a CSV and a printed table per task type, and one PNG per
    (task type, numeric metric) plotting the metric against the first numeric swept parameter,
    one line per combination of the other swept parameters, mean ± standard error over seeds.

    Parameters
    ----------
    store : str or Path
        The SQLite store of a sweep.
    out : str or Path, optional
        Output folder (default: :func:`default_out`, ``<store without extension>-report`` beside it).
    metrics : sequence of str, optional
        The metrics to plot (default: the first ``max_plots`` numeric metrics in alphabetical order,
        leaving out those that are zero everywhere; the report says which were plotted).
    max_plots : int
        Plots per task type when ``metrics`` is not given.

    Tables are sorted by the swept parameters (numbers by value). A speedup that is only a lower
    bound (its ``truth_limited`` flag set) is printed as ``≥ x``.

    Returns the files written.

    Raises
    ------
    ConfigError
        If ``store`` does not exist or holds no tasks, ``out`` cannot be written, or ``metrics``
        names a metric the store does not hold (the message lists those it holds).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(store)
    if not path.exists():
        raise ConfigError(f"store: no such file {str(path)!r}")
    if path.is_dir():
        raise ConfigError(f"store: {str(path)!r} is a folder, not an SQLite store")
    if metrics is not None and (isinstance(metrics, str) or not all(isinstance(m, str) for m in metrics) or not metrics):
        raise ConfigError(f"metrics: expected a non-empty list of metric names, got {metrics!r}")
    folder = out_folder("out", out if out is not None else default_out(path))
    with ResultStore(path) as db:
        rows = db.rows()
        counts = db.count()
    if not rows:
        raise ConfigError(f"store: {str(path)!r} holds no tasks")
    by_task: dict[str, list[TaskRow]] = defaultdict(list)
    for r in rows:
        by_task[r.task].append(r)
    if metrics is not None:
        available = sorted({k for r in rows if r.status == "ok" for k, v in r.metrics.items() if _is_number(v)})
        unknown = [m for m in metrics if m not in available]
        if unknown:
            raise ConfigError(f"metrics: unknown metric {unknown[0]!r}; the store holds: {', '.join(available) or '(none)'}")
    print(f"{path}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    files: list[Path] = []
    for task, trs in by_task.items():
        files.extend(_task_report(task, trs, folder, metrics, max_plots, plt))
    return files


def _task_report(
    task: str, trs: list[TaskRow], folder: Path, chosen: Sequence[str] | None, max_plots: int, plt: Any
) -> list[Path]:
    files: list[Path] = []
    flat = [_flatten(r.params) for r in trs]
    keys = sorted({k for f in flat for k in f})
    swept = [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]
    # sorted by the swept parameters (numbers by value), then the seed
    order = sorted(range(len(trs)), key=lambda i: ([_sort_key(flat[i].get(k)) for k in swept], trs[i].seed))
    flat, trs = [flat[i] for i in order], [trs[i] for i in order]
    ok = [(f, r) for f, r in zip(flat, trs, strict=True) if r.status == "ok"]
    metric_names = sorted({k for _, r in ok for k, v in r.metrics.items() if _is_number(v)})
    # a metric named like a swept parameter (or seed / status) gets its own column name
    taken = {*swept, "seed", "status"}
    columns = [m if m not in taken else f"{m} (metric)" for m in metric_names]
    headers = [*swept, "seed", "status", *columns]
    csv_rows = [
        [f.get(k) for k in swept] + [r.seed, r.status] + [r.metrics.get(m) for m in metric_names]
        for f, r in zip(flat, trs, strict=True)
    ]
    csv = folder / f"{task.replace('.', '_')}.csv"
    write_csv(csv, headers, csv_rows)
    files.append(csv)
    if chosen is not None:
        plotted = [m for m in chosen if m in metric_names]
    else:
        nonzero = [m for m in metric_names if any(r.metrics.get(m) for _, r in ok)]
        plotted = nonzero[:max_plots]
        zero = [m for m in metric_names if m not in nonzero]
        if zero:
            print(f"{task}: not plotted, zero in every task: {', '.join(zero)}")
        if len(nonzero) > max_plots:
            print(
                f"{task}: plotted {max_plots} of {len(nonzero)} metrics: {', '.join(plotted)}; "
                f"not plotted: {', '.join(nonzero[max_plots:])} (choose with --metrics a,b,...)"
            )
    # the printed table: the plotted metrics first, five at most; bounds as "≥ x"
    shown_metrics = (plotted + [m for m in metric_names if m not in plotted])[:5]
    shown = [*swept, "seed", "status", *(columns[metric_names.index(m)] for m in shown_metrics)]
    shown_rows = [
        [f.get(k) for k in swept] + [r.seed, r.status] + [_cell(r.metrics.get(m), _is_bound(m, r.metrics)) for m in shown_metrics]
        for f, r in zip(flat, trs, strict=True)
    ]
    note = "; ≥: a lower bound (truth-limited)" if any(_is_bound(m, r.metrics) for _, r in ok for m in shown_metrics) else ""
    title = f"{task}: {len(trs)} tasks (first 40 shown; all in {csv}){note}"
    print(format_table(shown, shown_rows[:40], title))
    for r in [r for r in trs if r.status != "ok"][:5]:
        print(f"  failed {r.key} {r.params}: {r.error}")
    numeric_swept = [k for k in swept if all(_is_number(f.get(k)) for f, _ in ok)]
    if not ok or not numeric_swept:
        if plotted:
            print(f"{task}: no numeric swept parameter to plot against")
        return files
    x_key = numeric_swept[0]
    others = [k for k in swept if k != x_key]
    for metric in plotted:
        png = _plot_metric(task, metric, ok, x_key, others, folder, plt)
        if png is not None:
            files.append(png)
    return files


def _cell(v: Any, bound: bool) -> Any:
    if bound and _is_number(v):
        return f"≥ {v:.4g}"
    return v


# drawn over a point whose value is only a lower bound
_BOUND_MARKER = r"$\geq$"


def _plot_metric(
    task: str, metric: str, ok: list[tuple[dict[str, Any], TaskRow]], x_key: str, others: list[str], folder: Path, plt: Any
) -> Path | None:
    groups: dict[tuple[Any, ...], dict[float, list[tuple[float, bool]]]] = defaultdict(lambda: defaultdict(list))
    labels: dict[tuple[Any, ...], str] = {}
    for f, r in ok:
        v: Any = r.metrics.get(metric)
        if _is_number(v):
            g = tuple(_sort_key(f.get(k)) for k in others)
            labels[g] = ", ".join(f"{k}={f.get(k)}" for k in others) or metric
            groups[g][float(f[x_key])].append((float(v), _is_bound(metric, r.metrics)))
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    all_zero = all(v == 0.0 for pts in groups.values() for vs in pts.values() for v, _ in vs)
    any_bound = False
    for i, g in enumerate(sorted(groups)[:10]):
        pts = groups[g]
        xs = sorted(pts)
        vals = [[v for v, _ in pts[x]] for x in xs]
        mean = np.array([np.mean(v) for v in vals])
        sem = np.array([np.std(v, ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0 for v in vals])
        marker = MARKERS[i % len(MARKERS)]
        (line, *_rest) = ax.errorbar(xs, mean, yerr=sem, marker=marker, ms=4, capsize=2, label=labels[g])
        bound = np.array([any(b for _, b in pts[x]) for x in xs])
        if bound.any():
            any_bound = True
            ax.plot(np.array(xs)[bound], mean[bound], linestyle="none", marker=_BOUND_MARKER, ms=14, color=line.get_color())
    if any_bound:
        ax.plot([], [], linestyle="none", marker=_BOUND_MARKER, ms=14, color="0.3", label="lower bound (truth-limited)")
    xs_all = [float(f[x_key]) for f, _ in ok]
    if min(xs_all) > 0 and max(xs_all) / min(xs_all) > 20:
        ax.set_xscale("log")
    ax.set_xlabel(x_key)
    ax.set_ylabel(metric)
    ax.set_title(f"{task}: {metric}")
    if all_zero:
        ax.text(0.5, 0.5, f"{metric} is 0 in every task", transform=ax.transAxes, ha="center", va="center")
    if len(groups) > 1 or any_bound:
        ax.legend(fontsize=7)
    png = folder / f"{task.replace('.', '_')}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', metric).strip('_')}.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
