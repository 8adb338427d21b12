"""Sweepable task types: one evaluation of a module's computation, returning metrics.

A task takes a parameter table (what one grid point of a sweep sets) and a seed, and returns a dict
of scalar metrics (floats, ints, strings) and, optionally, numpy arrays. Tasks are pure functions of
``(params, seed)``, so a sweep can skip any task whose content key is already stored.

Each module registers its task types in :data:`TASKS`; ``boltzkit sweep --list`` prints them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from boltzkit.jobs import ConfigError, Table

__all__ = ["TASKS", "TaskType", "check_params"]

Metrics = dict[str, Any]


@dataclass(frozen=True)
class TaskType:
    """A sweepable computation.

    Attributes
    ----------
    name : str
        ``"<module>.<task>"``.
    description : str
        One line for ``boltzkit sweep --list``.
    check : callable
        ``check(table)`` reads every parameter through the strict :class:`~boltzkit.jobs.Table`
        accessors (raising :class:`~boltzkit.jobs.ConfigError` naming a bad or unknown key).
    run : callable
        ``run(params, seed, threads) -> metrics``.
    """

    name: str
    description: str
    check: Callable[[Table], None]
    run: Callable[[dict[str, Any], int, int | None], Metrics]


def check_params(task: str, params: dict[str, Any], path: str) -> None:
    """Validate one task's parameters (raises ConfigError naming the key)."""
    if task not in TASKS:
        raise ConfigError(f"{path}: unknown task type {task!r}; expected one of: {', '.join(sorted(TASKS))}")
    t = Table(params, path)
    TASKS[task].check(t)
    t.done()


# --------------------------------------------------------------------------- fpentropy


def _check_dist_and_format(t: Table) -> None:
    from boltzkit import fpentropy as fp
    from boltzkit._fpentropy_jobs import parse_dist
    from boltzkit.errors import BoltzkitError

    parse_dist(t.get_table("dist"))
    try:
        fp.get_format(cast("fp.FormatName", t.get_str("format")))  # an unknown name raises
    except BoltzkitError as e:
        raise ConfigError(f"{t.path}.format: {e}") from None


def _fp_entropy_check(t: Table) -> None:
    _check_dist_and_format(t)
    t.get_bool("merge_zero", False)
    t.get_bool("approx", True)
    t.get_str("method", "auto", choices=("auto", "enumerate", "classes"))


def _fp_entropy_run(params: dict[str, Any], seed: int, threads: int | None) -> Metrics:
    from boltzkit import fpentropy as fp
    from boltzkit._fpentropy_jobs import parse_dist

    dist = parse_dist(Table(dict(params["dist"]), "dist"))
    fmt = params["format"]
    t0 = time.perf_counter()
    e = fp.entropy(dist, fmt, merge_zero=params.get("merge_zero", False), method=params.get("method", "auto"), threads=threads)
    t_exact = time.perf_counter() - t0
    out: Metrics = {
        "bits": e.bits,
        "error_estimate": e.error_estimate,
        "method": e.method,
        "p_zero": e.p_zero,
        "p_overflow": e.p_overflow,
        "p_subnormal": e.p_subnormal,
        "time_exact_s": t_exact,
    }
    if not params.get("approx", True):
        return out
    a = fp.approx_entropy(dist, fmt, merge_zero=params.get("merge_zero", False), threads=threads)
    return out | {
        "paper": a.paper,
        "refined": a.refined,
        "bound": a.bound,
        "wobble": a.terms.w,
        "exact_minus_paper": e.bits - a.paper,
        "exact_minus_refined": e.bits - a.refined,
    }


def _fp_empirical_check(t: Table) -> None:
    from boltzkit._validate import check_bytes

    _check_dist_and_format(t)
    n = t.get_int("n", 100_000, lo=1, hi=500_000_000)
    # samples (float64), their quantized values (float64) and the codes (up to 8 bytes)
    check_bytes(f"{t.path}.n", 24 * n, f"{n} samples")


def _fp_empirical_run(params: dict[str, Any], seed: int, threads: int | None) -> Metrics:
    from boltzkit import fpentropy as fp
    from boltzkit._fpentropy_jobs import _dtype_of, parse_dist

    dist = parse_dist(Table(dict(params["dist"]), "dist"))
    f = fp.get_format(params["format"])
    n = int(params.get("n", 100_000))
    x = dist.rvs(size=n, random_state=np.random.default_rng(seed))
    arr = fp.quantize(x, f, threads=threads).astype(_dtype_of(f))
    r = fp.empirical_entropy(arr, threads=threads)
    return {
        "bits_per_value": r.bits_per_value,
        "sign_bits": r.sign_bits,
        "exponent_bits": r.exponent_bits,
        "mantissa_bits_given_exp": r.mantissa_bits_given_exp,
        "n_distinct": r.n_distinct,
        "miller_madow": r.bits_per_value + (r.n_distinct - 1) / (2 * r.n * np.log(2)),
        "ideal_ratio": r.ideal_ratio,
    }


def _fp_scale_curve_check(t: Table) -> None:
    _check_dist_and_format(t)
    lo = t.get_float("log2_min", -1.0)
    hi = t.get_float("log2_max", 1.0)
    for key, v in (("log2_min", lo), ("log2_max", hi)):
        if not -1000.0 <= v <= 1000.0:
            raise ConfigError(f"{t.path}.{key}: must be between -1000 and 1000 (a scale 2**{key} within float64), got {v}")
    if not hi > lo:
        raise ConfigError(f"{t.path}.log2_max: must be > log2_min = {lo}, got {hi}")
    t.get_int("n", 17, lo=2, hi=10_000)


def _fp_scale_curve_run(params: dict[str, Any], seed: int, threads: int | None) -> Metrics:
    from boltzkit import fpentropy as fp
    from boltzkit._fpentropy_jobs import parse_dist

    dist = parse_dist(Table(dict(params["dist"]), "dist"))
    scales = 2.0 ** np.linspace(params.get("log2_min", -1.0), params.get("log2_max", 1.0), int(params.get("n", 17)))
    sw = fp.entropy_vs_scale(dist, params["format"], scales, progress=False, threads=threads)
    return {
        "wobble_amplitude": float(np.ptp(sw.exact) / 2),
        "max_abs_exact_minus_refined": float(np.max(np.abs(sw.exact - sw.refined))),
        "max_bound": float(np.max(sw.bound)),
        "scales": sw.scales,
        "exact": sw.exact,
        "paper": sw.paper,
    }


# --------------------------------------------------------------------------- hmc


def _hmc_sample_check(t: Table) -> None:
    from boltzkit import hmc
    from boltzkit._hmc_jobs import _settings, parse_target

    parse_target(t.get_table("target"))
    t.get_str("method", "nuts", choices=hmc.METHODS)
    kw = _settings(t)
    t.get_int("n_samples", 1000, lo=1, hi=10_000_000)
    t.get_int("n_chains", 8, lo=1, hi=1_000_000)
    if "step_size" not in kw and kw.get("warmup") == 0:
        raise ConfigError(f"{t.path}: step_size is required with warmup = 0")


def _hmc_sample_run(params: dict[str, Any], seed: int, threads: int | None) -> Metrics:
    from boltzkit import hmc
    from boltzkit._hmc_jobs import _settings, parse_target

    t = Table(dict(params), "params")
    target = parse_target(t.get_table("target"))
    method = t.get_str("method", "nuts", choices=hmc.METHODS)
    kw = _settings(t)
    tr = hmc.sample(
        target,
        method=method,  # type: ignore[arg-type]
        n_samples=t.get_int("n_samples", 1000, lo=1),
        n_chains=t.get_int("n_chains", 8, lo=1),
        x0="exact",
        seed=seed,
        threads=threads,
        progress=False,
        **kw,
    )
    s = tr.efficiency()
    out: Metrics = {k.replace(".", "_"): v for k, v in s.items()}
    out |= {f"frac_{k}": v for k, v in tr.move_fractions.items()}
    out |= {
        "step_size": tr.step_size,
        "n_grad_total": int(tr.n_grad.sum()),
        "mean_x2": float(np.mean(tr.draws**2)),
        "autocorrelation": tr.mean_autocorrelation(),
    }
    return out


# --------------------------------------------------------------------------- spin


def _spin_instance(params: dict[str, Any], seed: int) -> Any:
    from boltzkit._spin_jobs import _instance

    inst = dict(params["instance"])
    if "file" not in inst:
        inst.setdefault("seed", seed)
    return _instance(Table(inst, "instance"))


def _spin_anneal_check(t: Table) -> None:
    from boltzkit._spin_jobs import _instance

    inst = t.get_table("instance")
    _instance(Table(dict(inst.data), inst.path))
    inst.used.update(inst.data)
    t.get_int("num_reads", 8, lo=1, hi=1_000_000)
    t.get_int("num_sweeps", 1000, lo=1, hi=100_000_000)
    if "beta_range" in t.data:
        br = t.get_list("beta_range")
        if len(br) != 2 or not all(isinstance(b, int | float) and b > 0 for b in br) or not br[0] < br[1]:
            raise ConfigError(f"{t.path}.beta_range: expected [hot, cold] with 0 < hot < cold")
    t.get_str("schedule", "geometric", choices=("geometric", "linear"))
    t.get_str("proposal", "metropolis", choices=("metropolis", "heat_bath"))
    t.get_bool("polish", False)


def _spin_anneal_run(params: dict[str, Any], seed: int, threads: int | None) -> Metrics:
    model = _spin_instance(params, seed)
    br = params.get("beta_range")
    r = model.anneal(
        int(params.get("num_reads", 8)),
        int(params.get("num_sweeps", 1000)),
        beta_range=None if br is None else (float(br[0]), float(br[1])),
        schedule=params.get("schedule", "geometric"),
        proposal=params.get("proposal", "metropolis"),
        polish=bool(params.get("polish", False)),
        seed=seed,
        threads=threads,
    )
    e = r.energies / model.n
    return {
        "n": model.n,
        "best_e_per_spin": float(e.min()),
        "mean_e_per_spin": float(e.mean()),
        "sem_e_per_spin": float(e.std(ddof=1) / np.sqrt(len(e))) if len(e) > 1 else 0.0,
        "seconds": r.seconds,
        "flips_per_ns": r.flips_per_ns() if r.attempts else 0.0,
        "e_per_spin": e,
    }


def _spin_exact_check(t: Table) -> None:
    t.get_int("n", 16, lo=2, hi=26)
    t.get_str("kind", "sk", choices=("sk", "ferro_chain", "curie_weiss"))
    t.get_float("T", 1.0, positive=True)
    t.get_float("field", 0.0)


def _spin_exact_run(params: dict[str, Any], seed: int, threads: int | None) -> Metrics:
    from boltzkit import spin as sp

    n, kind = int(params.get("n", 16)), params.get("kind", "sk")
    if kind == "sk":
        model = sp.sk(n, seed=seed)
    else:
        j = np.zeros((n, n))
        if kind == "ferro_chain":
            i = np.arange(n)
            j[i, (i + 1) % n] = j[(i + 1) % n, i] = 1.0
        else:
            j[:] = 1.0 / n
            np.fill_diagonal(j, 0.0)
        model = sp.SpinModel(j, np.full(n, float(params.get("field", 0.0))))
    if kind == "sk" and params.get("field", 0.0):
        model = sp.SpinModel(model.J, np.full(n, float(params["field"])))
    T = float(params.get("T", 1.0))
    ex = model.enumerate_exact([1.0 / T], overlap_distribution=True, threads=threads)
    return {
        "ln_z_per_spin": float(ex.ln_z[0]) / n,
        "energy_per_spin": float(ex.mean_energy[0]) / n,
        "heat_capacity_per_spin": float(ex.heat_capacity[0]) / n,
        "mean_abs_m": float(ex.mean_abs_m[0]),
        "mean_q": float(ex.mean_q[0]),
        "ground_energy_per_spin": ex.ground_energy / n,
        "seconds": ex.seconds,
        "pq": ex.pq[0],
    }


def _spin_nn_tc_check(t: Table) -> None:
    t.get_list("hidden", [32, 32])
    t.get_str("activation", "tanh", choices=("tanh", "relu", "sign"))
    t.get_int("steps", 400, lo=1, hi=10_000_000)
    t.get_float("lr", 1e-3, positive=True)
    t.get_int("batch_size", 64, lo=1)
    t.get_int("n_snapshots", 6, lo=3, hi=1000)


def _spin_nn_tc_run(params: dict[str, Any], seed: int, threads: int | None) -> Metrics:
    from boltzkit.spin import nn

    cfg = nn.TrainConfig(
        hidden=tuple(int(h) for h in params.get("hidden", [32, 32])),
        activation=params.get("activation", "tanh"),
        steps=int(params.get("steps", 400)),
        lr=float(params.get("lr", 1e-3)),
        batch_size=int(params.get("batch_size", 64)),
        n_snapshots=int(params.get("n_snapshots", 6)),
        seed=seed,
    )
    tr = nn.train_mlp(*nn.load_digits(seed), cfg, progress=False)
    tj = nn.analyse_training(tr, progress=False, threads=threads)
    out: Metrics = {
        "tc_theory_init": tj.tc_theory_init,
        "tc_first": float(tj.T_c[0]),
        "tc_last": float(tj.T_c[-1]),
        "test_accuracy_last": float(tj.test_accuracy[-1]),
        "steps": tj.steps.astype(np.float64),
        "T_c": tj.T_c,
        "tc_glass": tj.tc_glass,
    }
    if tj.fit is not None:
        out["tc_exponent"] = tj.fit.exponent
    return out


# --------------------------------------------------------------------------- mlp


def _mlp_compare_check(t: Table) -> None:
    from boltzkit import mlp
    from boltzkit._mlp_jobs import parse_methods

    t.get_int("width", lo=1, hi=4096)
    t.get_int("depth", lo=2, hi=64)
    t.get_str("act", "relu", choices=tuple(a for a in mlp.ACTIVATIONS if a not in ("heaviside", "square")))
    t.get_str("init", "auto", choices=("auto", "he", "critical"))
    t.get_int("truth_samples", 2**18, lo=1000)
    parse_methods(t)


def _mlp_compare_run(params: dict[str, Any], seed: int, threads: int | None) -> Metrics:
    from boltzkit._mlp_jobs import compare_cell

    t0 = time.perf_counter()
    c = compare_cell(
        int(params["width"]),
        int(params["depth"]),
        str(params.get("act", "relu")),
        str(params.get("init", "auto")),
        seed,
        [str(m) for m in params.get("methods", ["mean_prop", "cov_prop"])],
        int(params.get("truth_samples", 2**18)),
        threads,
    )
    out: Metrics = {
        "var": c.var,
        "noise_floor": c.noise_floor,
        "flops_per_sample": c.flops_per_sample,
        "time_s": time.perf_counter() - t0,
    }
    for r in c.rows:
        out[f"mse_over_var[{r['method']}]"] = r["mse_over_var"]
        # a truth-limited cell has only a lower bound on its speedup: stored as the bound, flagged
        out[f"speedup[{r['method']}]"] = r["speedup_lower_bound"] if r["truth_limited"] else r["speedup"]
        out[f"truth_limited[{r['method']}]"] = bool(r["truth_limited"])
        out[f"flops[{r['method']}]"] = r["flops"]
    return out


def _mlp_tail_check(t: Table) -> None:
    t.get_int("width", lo=1, hi=4096)
    t.get_int("depth", lo=2, hi=64)
    t.get_str("act", "relu", choices=("relu", "gelu", "erf", "tanh"))
    t.get_float("threshold_sd", 4.0, positive=True)
    t.get_int("n_samples", 20000, lo=1)


def _mlp_tail_run(params: dict[str, Any], seed: int, threads: int | None) -> Metrics:
    from boltzkit import mlp

    w, d = int(params["width"]), int(params["depth"])
    net = mlp.random_mlp([w] * d + [1], act=cast("mlp.Activation", str(params.get("act", "relu"))), seed=seed)
    est = net.estimate("cov_prop")
    t = float(est.mean[0] + float(params.get("threshold_sd", 4.0)) * np.sqrt(est.variances[-1][0]))
    n = int(params.get("n_samples", 20000))
    out: Metrics = {"threshold": t}
    for m in ("gauss", "edgeworth", "is", "mc"):
        if m == "edgeworth" and w > 256:
            continue
        p = net.tail_probability(threshold=t, method=m, neuron=0, n_samples=n, seed=seed + 1, threads=threads)
        out[f"p[{m}]"] = float(p.p[0])
        out[f"flops[{m}]"] = p.flops
    return out


#: Registered task types, ``name -> TaskType``.
TASKS: dict[str, TaskType] = {
    t.name: t
    for t in [
        TaskType(
            "fpentropy.entropy",
            "exact entropy (and, unless approx = false, the approximation) of one law in one format",
            _fp_entropy_check,
            _fp_entropy_run,
        ),
        TaskType(
            "fpentropy.empirical",
            "empirical bits per value of n samples of a law cast to a format (uses the seed)",
            _fp_empirical_check,
            _fp_empirical_run,
        ),
        TaskType(
            "fpentropy.scale_curve",
            "entropy vs scale curve of a law in a format (arrays + wobble amplitude)",
            _fp_scale_curve_check,
            _fp_scale_curve_run,
        ),
        TaskType(
            "hmc.sample",
            "one sampler on a built-in target: ESS per gradient (x, x²), grads to AC 0.5, move fractions",
            _hmc_sample_check,
            _hmc_sample_run,
        ),
        TaskType(
            "spin.anneal",
            "simulated annealing of an instance (sk / lattice / layered / file; seed draws the instance "
            "unless instance.seed is set): energies per spin",
            _spin_anneal_check,
            _spin_anneal_run,
        ),
        TaskType(
            "spin.exact",
            "exact enumeration (n <= 26) of an SK instance, ferromagnetic ring or Curie-Weiss model at T",
            _spin_exact_check,
            _spin_exact_run,
        ),
        TaskType(
            "spin.nn_tc",
            "train an MLP on the bundled digits (seed), map snapshots to spin models: T_c vs training step",
            _spin_nn_tc_check,
            _spin_nn_tc_run,
        ),
        TaskType(
            "mlp.compare",
            "one random MLP (width, depth, act): estimators vs Monte Carlo at equal FLOPs (MSE/Var, speedup)",
            _mlp_compare_check,
            _mlp_compare_run,
        ),
        TaskType(
            "mlp.tail",
            "tail probability of a random MLP's output at threshold_sd estimated sds: gauss, edgeworth, IS, MC",
            _mlp_tail_check,
            _mlp_tail_run,
        ),
    ]
}
