"""Benchmarks of boltzkit.mlp (spec section 9; results in benches/RESULTS.md, section '## mlp').

    python benches/bench_mlp.py grid --widths 64 128 256 512 --depths 2 4 8 --acts relu tanh
    python benches/bench_mlp.py slopes --widths 32 64 128 --depth 3
    python benches/bench_mlp.py wallclock --width 512 --depth 4
    python benches/bench_mlp.py rare --target 1e-6

grid: per (act, depth, width) one He-initialised square network; truth = Monte Carlo with
``--truth-samples`` samples (per-neuron f64 sums); MSE of the output means with the truth's noise
floor mean(SE^2) subtracted; speedup = Var * flops_per_sample / (MSE * FLOPs_estimator). A cell
whose MSE is below 10x the noise floor is "truth-limited": its speedup is reported as a lower
bound computed with the raw (floor-included) MSE.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from boltzkit import mlp


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def grid(args: argparse.Namespace) -> None:
    print("| act | depth | width | method | MSE/Var | FLOPs | speedup | truth |")
    print("|---|---|---|---|---|---|---|---|")
    for act in args.acts:
        for depth in args.depths:
            for w in args.widths:
                # odd activations (tanh, erf) without biases have E y = 0 exactly by symmetry: use the
                # critical (edge-of-chaos, q* = 1) init with its bias variance for them
                init = "he" if act in ("relu", "gelu") else "critical"
                net = mlp.random_mlp([w] * (depth + 1), act=act, init=init, seed=w + depth)  # type: ignore[arg-type]
                n = args.truth_samples if w <= 256 else max(args.truth_samples // 4, 2**16)
                t0 = time.perf_counter()
                truth = net.monte_carlo(n_samples=n, batch=1024, seed=1)
                t_mc = time.perf_counter() - t0
                methods = ["mean_prop", "cov_prop"] + (["cumulant3"] if w <= 128 and args.cumulant3 else [])
                c = mlp.compare_equal_flops(net, methods, truth=truth)
                for r in c.rows:
                    lim = r["truth_limited"]
                    sp = c.var * c.flops_per_sample / (r["mse_raw"] * r["flops"]) if lim else r["speedup"]
                    print(
                        f"| {act} | {depth} | {w} | {r['method']} | {_fmt(r['mse_over_var'])} | {_fmt(r['flops'])} | "
                        f"{'>=' if lim else ''}{_fmt(sp)} | "
                        f"{'limited' if lim else 'ok'} (N=2^{int(math.log2(n))}, {t_mc:.0f}s) |",
                        flush=True,
                    )


def slopes(args: argparse.Namespace) -> None:
    res: dict[str, list[float]] = {"mean_prop": [], "cov_prop": [], "cumulant3": []}
    floors = []
    for w in args.widths:
        mses: dict[str, list[float]] = {k: [] for k in res}
        fl = []
        for s in range(args.nets):
            net = mlp.random_mlp([w] * (args.depth + 1), act=args.act, seed=1000 * w + s)
            truth = net.monte_carlo(n_samples=args.truth_samples, batch=2048, seed=7 + s)
            c = mlp.compare_equal_flops(net, list(res), truth=truth)
            for r in c.rows:
                mses[r["method"]].append(r["mse_raw"] - c.noise_floor)
            fl.append(c.noise_floor)
        for k, v in res.items():
            v.append(float(np.mean(mses[k])))
        floors.append(float(np.mean(fl)))
        print(f"width {w}: " + ", ".join(f"{k} {res[k][-1]:.3e}" for k in res) + f", noise floor {floors[-1]:.1e}", flush=True)
    lw = np.log(np.array(args.widths, dtype=float))
    for k, v in res.items():
        y = np.log(np.maximum(np.array(v), 1e-300))
        slope = np.polyfit(lw, y, 1)[0]
        print(f"slope {k}: {slope:.2f}")


def _best_of(f: Any, reps: int = 3) -> float:
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def wallclock(args: argparse.Namespace) -> None:
    n, depth = args.width, args.depth
    net = mlp.random_mlp([n] * (depth + 1), act="relu", seed=0)
    rng = np.random.default_rng(0)
    # cov_prop vs numpy W C W^T on the same shapes
    est = net.estimate("cov_prop")
    t_cp = _best_of(lambda: net.estimate("cov_prop"))
    gemm_flops = depth * 0 + sum(2.0 * n**3 * 2 for _ in range(depth - 1)) + 2.0 * n**3
    c = rng.standard_normal((n, n))
    c = c @ c.T / n
    w = net.weights[1]

    def np_cov() -> None:
        for _ in range(depth - 1):
            _ = (w @ c) @ w.T
        _ = w @ w.T

    t_np = _best_of(np_cov)
    print(f"cov_prop n={n} L={depth}: {est.flops / t_cp / 1e9:.2f} GFLOP/s (all FLOPs),", end=" ")
    print(f"{gemm_flops / t_cp / 1e9:.2f} GFLOP/s (GEMM FLOPs)")
    print(f"numpy  W C W^T      : {gemm_flops / t_np / 1e9:.2f} GFLOP/s   ratio cov_prop/numpy = {t_np / t_cp:.2f}")
    # MC forward vs numpy batched forward (normals drawn inside both)
    ns = args.samples
    t_mc = _best_of(lambda: net.monte_carlo(n_samples=ns, batch=1024, seed=1), reps=2)
    fps = net.flops_per_sample

    def np_mc() -> None:
        g = np.random.default_rng(1)
        s1 = [np.zeros(x) for x in net.widths[1:]]
        for _ in range(ns // 1024):
            h = g.standard_normal((1024, n))
            for li, (wl, bl) in enumerate(zip(net.weights, net.biases, strict=True)):
                z = h @ wl.T + bl
                s1[li] += z.sum(0)
                h = np.maximum(z, 0) if li < depth - 1 else z

    t_np_mc = _best_of(np_mc, reps=2)
    gemm_mc = ns * sum(2.0 * a * b for a, b in zip(net.widths[1:], net.widths[:-1], strict=True))
    print(f"MC forward n={n} L={depth} N={ns}: {gemm_mc / t_mc / 1e9:.2f} GFLOP/s (GEMM), {ns / t_mc:.3g} samples/s")
    print(f"numpy batched forward       : {gemm_mc / t_np_mc / 1e9:.2f} GFLOP/s (GEMM), {ns / t_np_mc:.3g} samples/s", end=" ")
    print(f"ratio = {t_np_mc / t_mc:.2f}")
    print(f"(flops_per_sample = {fps:.3g})")


def rare(args: argparse.Namespace) -> None:
    net = mlp.random_mlp([32, 64, 64, 1], act="relu", b_var=0.1, seed=args.seed)
    est = net.estimate("cov_prop")
    mu, sd = float(est.mean[0]), math.sqrt(float(est.variances[-1][0]))
    # find t with IS probability ~ target (bisection on log P with medium IS runs)
    lo, hi = mu + 2 * sd, mu + 12 * sd
    for _ in range(18):
        t = 0.5 * (lo + hi)
        p = float(net.tail_probability(threshold=t, method="is", neuron=0, n_samples=2**14, seed=3).p[0])
        if p > args.target:
            lo = t
        else:
            hi = t
    t = 0.5 * (lo + hi)
    t0 = time.perf_counter()
    truth = net.tail_probability(threshold=t, method="is", neuron=0, n_samples=2**22, seed=11)
    assert truth.stderr is not None
    p_true = float(truth.p[0])
    dt = time.perf_counter() - t0
    print(f"threshold t = {t:.4f} ({(t - mu) / sd:.2f} sd of cov_prop); truth (IS, 2^22 samples, {dt:.0f}s):", end=" ")
    print(f"P = {p_true:.4e} ± {float(truth.stderr[0]):.1e}")
    fps = net.flops_per_sample
    budget_samples = int(0.1 / p_true)  # MC expects 0.1 events
    budget = budget_samples * fps
    print(f"FLOP budget {budget:.3g} = {budget_samples} MC samples (expected MC events {budget_samples * p_true:.2f})")
    print("| method | P | P/P_true | FLOPs | MC hits |")
    print("|---|---|---|---|---|")
    for m in ("gauss", "edgeworth"):
        r = net.tail_probability(threshold=t, method=m)  # type: ignore[arg-type]
        print(f"| {m} | {float(r.p[0]):.3e} | {float(r.p[0]) / p_true:.3f} | {r.flops:.3g} | |")
    _, ce_flops = net.is_shift(-1, 0, t, seed=6)  # same seed as the run below: same shift, same cost
    n_is = max(1000, int((budget - ce_flops) / (fps + 2 * 32)))
    r = net.tail_probability(threshold=t, method="is", neuron=0, n_samples=n_is, seed=5)
    print(f"| is ({n_is} samples) | {float(r.p[0]):.3e} | {float(r.p[0]) / p_true:.3f} | {r.flops:.3g} | |")
    for seed in range(3):
        r = net.tail_probability(threshold=t, method="mc", neuron=0, n_samples=budget_samples, seed=100 + seed)
        assert r.hits is not None
        print(f"| mc (seed {seed}) | {float(r.p[0]):.3e} | {float(r.p[0]) / p_true:.3f} | {r.flops:.3g} | {int(r.hits[0])} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grid")
    g.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256])
    g.add_argument("--depths", type=int, nargs="+", default=[2, 4, 8])
    g.add_argument("--acts", nargs="+", default=["relu", "tanh"])
    g.add_argument("--truth-samples", type=int, default=2**20)
    g.add_argument("--cumulant3", action="store_true")
    s = sub.add_parser("slopes")
    s.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128])
    s.add_argument("--depth", type=int, default=3)
    s.add_argument("--act", default="relu")
    s.add_argument("--nets", type=int, default=2)
    s.add_argument("--truth-samples", type=int, default=2**22)
    w = sub.add_parser("wallclock")
    w.add_argument("--width", type=int, default=512)
    w.add_argument("--depth", type=int, default=4)
    w.add_argument("--samples", type=int, default=2**15)
    r = sub.add_parser("rare")
    r.add_argument("--target", type=float, default=1e-6)
    r.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    {"grid": grid, "slopes": slopes, "wallclock": wallclock, "rare": rare}[a.cmd](a)


if __name__ == "__main__":
    main()
