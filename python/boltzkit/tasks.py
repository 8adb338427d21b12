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
from typing import Any

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
        fp.get_format(t.get_str("format"))
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
    _check_dist_and_format(t)
    t.get_int("n", 100_000, lo=1, hi=500_000_000)


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
    t.get_float("log2_min", -1.0)
    t.get_float("log2_max", 1.0)
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
        out[f"speedup[{r['method']}]"] = r["speedup"]
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
    net = mlp.random_mlp([w] * d + [1], act=str(params.get("act", "relu")), seed=seed)
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
