"""TOML job types of the spin module (see :mod:`boltzkit.jobs`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit import spin as sp
from boltzkit.jobs import ConfigError, JobResult, Table, as_array, write_rows


def _instance(t: Table) -> sp.SpinModel:
    """``{kind = "sk", n = 1000, seed = 0}``, ``{kind = "lattice", L = 32, bonds = "pm_j"}``,
    ``{kind = "layered", widths = [...]}`` or ``{file = "J.npy"}`` (a symmetric (n, n) array)."""
    if "file" in t.data:
        path = t.get_str("file")
        t.done()
        try:
            j = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{t.path}.file: cannot load {path!r}: {e}") from None
        return sp.SpinModel(j)
    kind = t.get_str("kind", choices=("sk", "lattice", "layered"))
    seed = t.get_int("seed", 0, lo=0)
    if kind == "sk":
        m = sp.sk(t.get_int("n", lo=2, hi=100_000), seed=seed, J0=t.get_float("J0", 0.0),
                  dtype=np.float32 if t.get_bool("float32", False) else np.float64)  # fmt: skip
    elif kind == "lattice":
        bonds: Any = t.get_str("bonds", "ferro", choices=("ferro", "pm_j", "gaussian"))
        m = sp.lattice_2d(t.get_int("L", lo=3, hi=4096), kind=bonds, seed=seed)
    else:
        m = sp.layered_sk([int(w) for w in t.get_list("widths")], seed=seed)
    t.done()
    return m


def run_anneal(p: Table, out: Path, threads: int | None, progress: bool | None) -> JobResult:
    """Simulated annealing of an instance; writes per-read energies."""
    model = _instance(p.get_table("instance"))
    num_reads = p.get_int("num_reads", 8, lo=1, hi=1_000_000)
    sweeps = [int(s) for s in p.get_list("num_sweeps", [1000])]
    if any(s < 1 for s in sweeps):
        raise ConfigError(f"{p.path}.num_sweeps: every value must be >= 1")
    br = p.get_list("beta_range", []) if "beta_range" in p.data else None
    beta_range = None if br is None else tuple(float(x) for x in as_array(br, f"{p.path}.beta_range"))
    if beta_range is not None and len(beta_range) != 2:
        raise ConfigError(f"{p.path}.beta_range: expected [hot, cold]")
    schedule = p.get_str("schedule", "geometric", choices=("geometric", "linear"))
    proposal = p.get_str("proposal", "metropolis", choices=("metropolis", "heat_bath"))
    kernel = p.get_str("kernel", "single", choices=("single", "layered"))
    polish = p.get_bool("polish", False)
    seed = p.get_int("seed", 0, lo=0)
    p.done()
    rows: list[list[Any]] = []
    per_read: list[list[Any]] = []
    for ns in sweeps:
        r = model.anneal(num_reads, ns, beta_range=beta_range, schedule=schedule, proposal=proposal,  # type: ignore[arg-type]
                         kernel=kernel, polish=polish, seed=seed, threads=threads)  # type: ignore[arg-type]  # fmt: skip
        e = r.energies / model.n
        rows.append(
            [ns, float(e.min()), float(np.median(e)), float(e.mean()), r.seconds, r.flips_per_ns() if r.attempts else 0.0]
        )
        per_read += [[ns, k, float(v)] for k, v in enumerate(e)]
    headers = ["num_sweeps", "best_e_per_spin", "median", "mean", "seconds", "flips_per_ns"]
    t1, f1 = write_rows(out, "anneal", headers, rows, f"Simulated annealing, n = {model.n}")
    _, f2 = write_rows(out, "anneal_reads", ["num_sweeps", "read", "e_per_spin"], per_read, "")
    return JobResult([t1], [f1, f2])


def run_mpf(p: Table, out: Path, threads: int | None, progress: bool | None) -> JobResult:
    """Coupling recovery of MPF and pseudolikelihood from exact samples of a random model (n ≤ 20)."""
    n = p.get_int("n", 12, lo=2, hi=20)
    sizes = [int(b) for b in p.get_list("samples", [1000, 10000])]
    scale = p.get_float("coupling_scale", 1.0, positive=True)
    seed = p.get_int("seed", 0, lo=0)
    p.done()
    rng = np.random.default_rng(seed)
    a = scale * rng.standard_normal((n, n)) / np.sqrt(n)
    truth = sp.SpinModel(np.triu(a, 1) + np.triu(a, 1).T, 0.1 * rng.standard_normal(n))
    ex = truth.enumerate_exact([1.0], n_lowest=1)
    states = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
    p_all = np.exp(-(truth.energy(states) + ex.ln_z[0]))
    rows: list[list[Any]] = []
    for b in sizes:
        if b < 1:
            raise ConfigError(f"{p.path}.samples: every value must be >= 1")
        data = states[rng.choice(len(states), size=b, p=p_all / p_all.sum())]
        for name, fn in (("mpf", sp.fit_mpf), ("pseudolikelihood", sp.fit_pseudolikelihood)):
            t0 = time.perf_counter()
            r = fn(data, threads=threads)
            rows.append([name, b, sp.coupling_rmse(r.model, truth), r.n_iter, time.perf_counter() - t0])
    t1, f1 = write_rows(out, "mpf", ["method", "samples", "coupling_rmse", "iterations", "seconds"], rows,
                        f"Coupling recovery, n = {n} (exact samples)")  # fmt: skip
    return JobResult([t1], [f1])


def run_nn_phases(p: Table, out: Path, threads: int | None, progress: bool | None) -> JobResult:
    """The paper's experiment: train MLPs, snapshot, map to spin models, T_c vs training time."""
    from boltzkit.spin import nn

    dataset = p.get_str("dataset", "digits")
    hidden = tuple(int(h) for h in p.get_list("hidden", [64, 64]))
    acts = [str(a) for a in p.get_list("activations", ["tanh", "sign"])]
    steps = p.get_int("steps", 2000, lo=1)
    lr = p.get_float("lr", 1e-3, positive=True)
    batch = p.get_int("batch_size", 64, lo=1)
    snaps = p.get_int("n_snapshots", 10, lo=3)
    seed = p.get_int("seed", 0, lo=0)
    include_input = p.get_bool("include_input", True)
    window = p.get_list("fit_window", []) if "fit_window" in p.data else None
    p.done()
    fw = None
    if window is not None:
        w = as_array(window, f"{p.path}.fit_window")
        if w.shape != (2,) or not 0 < w[0] < w[1]:
            raise ConfigError(f"{p.path}.fit_window: expected [first_step, last_step] with 0 < first < last")
        fw = (float(w[0]), float(w[1]))
    data = nn.load_dataset(dataset, seed)
    trajs = []
    rows: list[list[Any]] = []
    for a in acts:
        if a not in ("tanh", "relu", "sign"):
            raise ConfigError(f"{p.path}.activations: expected tanh, relu or sign, got {a!r}")
        act: Any = a
        cfg = nn.TrainConfig(hidden=hidden, activation=act, steps=steps, lr=lr, batch_size=batch, n_snapshots=snaps, seed=seed)
        tr = nn.train_mlp(*data, cfg, progress=progress)
        tj = nn.analyse_training(tr, fit_window=fw, include_input=include_input, progress=progress, threads=threads)
        trajs.append(tj)
        for k in range(len(tj.steps)):
            rows.append([a, int(tj.steps[k]), tj.T_c[k], tj.tc_glass[k], tj.T_glass[k], tj.T_hidden[k], tj.lambda_top[k],
                         int(tj.n_outliers[k]), tj.hidden_p[k], tj.hidden_z[k], tj.q[k], tj.overlap[k],
                         tj.test_accuracy[k]])  # fmt: skip
    headers = [
        "activation",
        "step",
        "T_c",
        "tc_glass",
        "T_glass",
        "T_hidden",
        "lambda_top",
        "outliers",
        "hidden_p",
        "hidden_z",
        "q",
        "overlap",
        "test_acc",
    ]
    t1, f1 = write_rows(out, "nn_phases", headers, rows, "Spin-model phases of MLP snapshots")
    nan = float("nan")
    fits = [
        [tj.label, tj.tc_theory_init, *((tj.fit.exponent, *tj.fit.exponent_ci) if tj.fit else (nan, nan, nan))] for tj in trajs
    ]
    t2, f2 = write_rows(out, "nn_power_law", ["activation", "tc_theory_init", "exponent", "ci_low", "ci_high"], fits,
                        "T_c(t) ∝ t^exponent (95% CI)")  # fmt: skip
    pngs = nn.plot_trajectories(trajs, out)
    return JobResult([t1, t2], [f1, f2, *pngs])
