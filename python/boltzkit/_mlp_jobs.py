"""TOML job types of the mlp module (see :mod:`boltzkit.jobs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boltzkit import mlp
from boltzkit._progress import track
from boltzkit._table import format_table, write_csv
from boltzkit.jobs import ConfigError, JobResult, Table

_METHOD_NAMES = ("mean_prop", "cov_prop", "cumulant3")


def parse_methods(p: Table) -> list[str]:
    """``methods = ["mean_prop", "cov_prop", "cov_prop:2"]`` (``:M`` is the Mehler order)."""
    methods = [str(m) for m in p.get_list("methods", ["mean_prop", "cov_prop"])]
    for i, m in enumerate(methods):
        name, _, order = m.partition(":")
        if name not in _METHOD_NAMES or (order and not (order.isdigit() and 1 <= int(order) <= 40)):
            raise ConfigError(f"{p.path}.methods[{i}]: expected mean_prop, cov_prop, cov_prop:M or cumulant3; got {m!r}")
    return methods


def compare_cell(
    width: int, depth: int, act: str, init: str, seed: int, methods: list[str], truth_samples: int, threads: int | None
) -> mlp.Comparison:
    """One grid cell: a random square MLP of ``depth`` linear layers, compared at equal FLOPs.

    ``init="auto"`` is He for relu / gelu and critical (with its bias variance) for the odd
    activations tanh / erf, whose bias-free nets have ``E y = 0`` exactly by symmetry.
    """
    if init == "auto":
        init = "he" if act in ("relu", "gelu", "identity") else "critical"
    net = mlp.random_mlp([width] * (depth + 1), act=act, init=init, seed=seed)  # type: ignore[arg-type]
    ms = [m for m in methods if not (m == "cumulant3" and width > 256)]
    return mlp.compare_equal_flops(net, ms, truth_samples=truth_samples, seed=seed + 10_000, threads=threads)


def run_compare(p: Table, out: Path, threads: int | None, progress: bool | None) -> JobResult:
    """Equal-FLOPs comparison over a grid of widths, depths and activations; CSV and a plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    widths = [int(w) for w in p.get_list("widths", [64, 128])]
    depths = [int(d) for d in p.get_list("depths", [2, 4])]
    acts = [str(a) for a in p.get_list("activations", ["relu"])]
    for i, a in enumerate(acts):
        if a not in mlp.ACTIVATIONS:
            raise ConfigError(f"{p.path}.activations[{i}]: unknown activation {a!r}")
    for key, vals in (("widths", widths), ("depths", depths)):
        if any(v < 1 or (key == "depths" and v < 2) for v in vals):
            raise ConfigError(f"{p.path}.{key}: values must be >= {2 if key == 'depths' else 1}")
    init = p.get_str("init", "auto", choices=("auto", "he", "critical"))
    methods = parse_methods(p)
    n_nets = p.get_int("n_nets", 1, lo=1, hi=100)
    truth_samples = p.get_int("truth_samples", 2**20, lo=1000)
    seed = p.get_int("seed", 0, lo=0)
    p.done()
    rows: list[list[Any]] = []
    cells = [(a, d, w, s) for a in acts for d in depths for w in widths for s in range(n_nets)]
    fig, axes = plt.subplots(
        len(acts), len(depths), figsize=(5 * len(depths), 4 * len(acts)), squeeze=False, layout="constrained"
    )
    by_panel: dict[tuple[int, int], list[mlp.Comparison]] = {}
    for a, d, w, s in track(cells, total=len(cells), desc="mlp.compare", progress=progress):
        c = compare_cell(w, d, a, init, seed + s, methods, truth_samples, threads)
        by_panel.setdefault((acts.index(a), depths.index(d)), []).append(c)
        for r in c.rows:
            bound = r["truth_limited"]
            speedup = r["speedup_lower_bound"] if bound else r["speedup"]
            rows.append([a, d, w, seed + s, r["method"], r["mse_over_var"], r["flops"], speedup, bound])
    for (i, j), comps in by_panel.items():
        mlp.plot_mse_vs_flops(comps, ax=axes[i][j])
        axes[i][j].set_title(f"{acts[i]}, depth {depths[j]}")
    png = out / "mlp_mse_vs_flops.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    # the CSV keeps numbers (the speedup column holds the lower bound where truth_limited is True);
    # the printed table writes a bound as "≥ x"
    headers = ["act", "depth", "width", "seed", "method", "MSE/Var", "FLOPs", "speedup", "truth_limited"]
    path = out / "mlp_compare.csv"
    write_csv(path, headers, rows)
    shown = [[*r[:7], f"≥ {r[7]:.3g}" if r[8] else r[7], "yes" if r[8] else ""] for r in rows]
    title = f"Equal-FLOPs comparison with Monte Carlo ({init} init; ≥: truth-limited cell, only a lower bound on the speedup)"
    return JobResult([format_table(headers, shown, title)], [path, png])
