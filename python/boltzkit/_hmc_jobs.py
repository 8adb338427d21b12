"""TOML job types of the hmc module (see :mod:`boltzkit.jobs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from boltzkit import hmc
from boltzkit.errors import InvalidArgumentError
from boltzkit.jobs import ConfigError, JobResult, Table, write_rows

_TARGETS = ("gaussian_aniso", "gaussian_dense", "rough_well", "product_of_t", "bimodal", "funnel", "logistic")


def parse_target(t: Table) -> hmc.BuiltinTarget:
    """A built-in target from ``{name = "rough_well", dim = 2, a = 100, b = 4}``."""
    name = t.get_str("name", choices=_TARGETS)
    target: hmc.BuiltinTarget
    if name == "gaussian_aniso":
        target = hmc.GaussianAniso(dim=t.get_int("dim", 2, lo=1), log10_cond=t.get_float("log10_cond", 6.0))
    elif name == "gaussian_dense":
        target = hmc.GaussianDense(np.asarray(t.get_list("precision"), dtype=np.float64))
    elif name == "rough_well":
        target = hmc.RoughWell(
            dim=t.get_int("dim", 2, lo=1), a=t.get_float("a", 100.0, positive=True), b=t.get_float("b", 4.0, positive=True)
        )
    elif name == "product_of_t":
        dim, sparse = t.get_int("dim", 36, lo=1), t.get_bool("sparse", False)
        target = hmc.ProductOfT(dim=dim, sparse=sparse, seed=t.get_int("seed", 0, lo=0))
    elif name == "bimodal":
        target = hmc.Bimodal(dim=t.get_int("dim", 5, lo=1), sep=t.get_float("sep", 1.0))
    elif name == "funnel":
        target = hmc.Funnel(dim=t.get_int("dim", 10, lo=2), sigma=t.get_float("sigma", 3.0, positive=True))
    else:
        xs, ys = t.get_str("x_file"), t.get_str("y_file")
        try:
            x, y = np.load(xs, allow_pickle=False), np.load(ys, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{t.path}: cannot load the data: {e}") from None
        target = hmc.LogisticRegression(x, y, prior_scale=t.get_float("prior_scale", 1.0, positive=True))
    t.done()
    return target


_SETTINGS = ("step_size", "n_leapfrog", "beta", "refresh_rate", "look_ahead", "warmup")


def _settings(p: Table) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _SETTINGS:
        if key in p.data:
            out[key] = p.get_int(key, lo=0) if key in ("n_leapfrog", "look_ahead", "warmup") else p.get_float(key)
        else:
            p.used.add(key)
    return out


def run_sample(p: Table, out: Path, threads: int | None, progress: bool | None) -> JobResult:
    """Run one or more samplers on a built-in target; a summary table, an autocorrelation plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = parse_target(p.get_table("target"))
    methods = [str(m) for m in p.get_list("methods", ["nuts"])]
    for i, m in enumerate(methods):
        if m not in hmc.METHODS:
            raise ConfigError(f"{p.path}.methods[{i}]: expected one of {', '.join(hmc.METHODS)}; got {m!r}")
    common = _settings(p)
    over_t = p.get_table("overrides", {})
    overrides: dict[str, dict[str, Any]] = {}
    for m in list(over_t.data):
        if m not in methods:
            raise ConfigError(f"{over_t.path}: '{m}' is not one of the methods {methods}")
        sub = over_t.get_table(m)
        overrides[m] = _settings(sub)
        sub.done()
    n_samples = p.get_int("n_samples", 2000, lo=1)
    n_chains = p.get_int("n_chains", 20, lo=1, hi=1_000_000)
    seed = p.get_int("seed", 0, lo=0)
    start = p.get_str("x0", "exact", choices=("exact", "uniform"))
    save = p.get_bool("save_draws", False)
    p.done()
    rows: list[list[Any]] = []
    files: list[Path] = []
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    for m in methods:
        kw = {**common, **overrides.get(m, {})}
        if "step_size" not in kw and kw.get("warmup") == 0:
            raise ConfigError(f"{p.path}: step_size is required for {m} with warmup = 0")
        try:
            tr = hmc.sample(
                target,
                method=m,  # type: ignore[arg-type]
                n_samples=n_samples,
                n_chains=n_chains,
                x0="exact" if start == "exact" else None,
                seed=seed,
                threads=threads,
                progress=progress,
                **kw,
            )
        except InvalidArgumentError as e:
            raise ConfigError(f"{p.path} ({m}): {e}") from None
        s = tr.efficiency()
        moves = ", ".join(f"{k} {v:.3f}" for k, v in tr.move_fractions.items())
        rows.append([m, tr.step_size, tr.n_leapfrog, s["ess_per_grad_x_min"], s["ess_per_grad_x2_min"],
                     s["grads_to_ac_0.5"], s["grads_per_draw"], moves, s["wall_time"]])  # fmt: skip
        tr.plot_autocorr(ax, label=m)
        if save:
            path = out / f"draws_{m}.npz"
            np.savez_compressed(path, draws=tr.draws, n_grad=tr.n_grad, records=tr.records, tau=tr.weighted()[1])
            files.append(path)
    ax.set_title(f"{target.name}: autocorrelation of x vs gradient evaluations")
    ax.legend()
    png = out / "autocorrelation.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    headers = ["method", "step_size", "n_leapfrog", "ess/grad x (min)", "ess/grad x² (min)", "grads to AC 0.5",
               "grads/draw", "moves", "time_s"]  # fmt: skip
    table, path = write_rows(out, "hmc_summary", headers, rows, f"HMC samplers on {target.name} ({n_chains} chains)")
    return JobResult([table], [path, png, *files])
