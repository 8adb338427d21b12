"""``boltzkit report STORE``: tables and plots of stored sweep metrics against the swept parameters."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit._table import format_table, write_csv
from boltzkit._validate import out_folder
from boltzkit.jobs import ConfigError
from boltzkit.store import ResultStore, TaskRow

__all__ = ["report"]


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


def report(store: str | Path, out: str | Path | None = None, *, max_plots: int = 8) -> list[Path]:
    """Summarise a results store: a CSV and a printed table per task type, and one PNG per
    (task type, numeric metric) plotting the metric against the first numeric swept parameter,
    one line per combination of the other swept parameters, mean ± standard error over seeds.

    Returns the files written.

    Raises
    ------
    ConfigError
        If ``store`` does not exist or holds no tasks.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(store)
    if not path.exists():
        raise ConfigError(f"store: no such file {str(path)!r}")
    folder = out_folder("out", out if out is not None else path.with_name(path.stem + "-report"))
    with ResultStore(path) as db:
        rows = db.rows()
        counts = db.count()
    if not rows:
        raise ConfigError(f"store: {str(path)!r} holds no tasks")
    print(f"{path}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    files: list[Path] = []
    by_task: dict[str, list[TaskRow]] = defaultdict(list)
    for r in rows:
        by_task[r.task].append(r)
    for task, trs in by_task.items():
        flat = [_flatten(r.params) for r in trs]
        keys = sorted({k for f in flat for k in f})
        swept = [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]
        ok = [(f, r) for f, r in zip(flat, trs, strict=True) if r.status == "ok"]
        metric_names = sorted({k for _, r in ok for k, v in r.metrics.items() if _is_number(v)})
        headers = [*swept, "seed", "status", *metric_names]
        table_rows = [
            [f.get(k) for k in swept] + [r.seed, r.status] + [r.metrics.get(m) for m in metric_names]
            for f, r in zip(flat, trs, strict=True)
        ]
        csv = folder / f"{task.replace('.', '_')}.csv"
        write_csv(csv, headers, table_rows)
        files.append(csv)
        shown = [*swept, "seed", "status", *metric_names[:5]]
        title = f"{task}: {len(trs)} tasks (first 40 shown; all in {csv})"
        print(format_table(shown, [row[: len(shown)] for row in table_rows[:40]], title))
        failed = [r for r in trs if r.status != "ok"]
        for r in failed[:5]:
            print(f"  failed {r.key} {r.params}: {r.error}")
        numeric_swept = [k for k in swept if all(_is_number(f.get(k)) for f, _ in ok)]
        if not ok or not numeric_swept or not metric_names:
            continue
        x_key = numeric_swept[0]
        others = [k for k in swept if k != x_key]
        for metric in metric_names[:max_plots]:
            groups: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
            for f, r in ok:
                v: Any = r.metrics.get(metric)
                if _is_number(v):
                    label = ", ".join(f"{k}={f.get(k)}" for k in others) or metric
                    groups[label][float(f[x_key])].append(float(v))
            fig, ax = plt.subplots(figsize=(7, 4))
            for label, pts in list(groups.items())[:10]:
                xs = sorted(pts)
                mean = np.array([np.mean(pts[x]) for x in xs])
                sem = np.array([np.std(pts[x], ddof=1) / math.sqrt(len(pts[x])) if len(pts[x]) > 1 else 0.0 for x in xs])
                ax.errorbar(xs, mean, yerr=sem, marker="o", ms=3, capsize=2, label=label)
            xs_all = [float(f[x_key]) for f, _ in ok]
            if min(xs_all) > 0 and max(xs_all) / min(xs_all) > 20:
                ax.set_xscale("log")
            ax.set_xlabel(x_key)
            ax.set_ylabel(metric)
            ax.set_title(f"{task}: {metric}")
            if len(groups) > 1:
                ax.legend(fontsize=7)
            fig.tight_layout()
            png = folder / f"{task.replace('.', '_')}_{metric}.png"
            fig.savefig(png, dpi=110)
            plt.close(fig)
            files.append(png)
    return files
