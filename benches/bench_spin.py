"""Side-by-side benchmarks of boltzkit.spin (issue 5 points 10–11), printed as markdown tables.

    python benches/bench_spin.py --dwave-python /work/peers-spin/venv/bin/python \
        --plot benches/figures/spin_e_vs_sweeps.png                                 # all, ~20 min on 2 cores
    python benches/bench_spin.py --quick                                            # smaller sizes, no peer

The peer (dwave-samplers + dimod) lives in its own virtual environment outside the repository;
this script runs it through that interpreter on the same saved coupling matrices, in the same run.

B1a Dense SK N = 1000, J ~ N(0, 1/N), 3 instances × 4 reads: the same explicit geometric schedule
    (dwave's own default β range for each instance, and [0.1, 5]), same sweeps and reads:
    spin-flip attempts per second (ratio to dwave) and mean e/N ± standard error.
B1b Equal wall time (dwave's default schedule with 10^4 sweeps sets it), each solver with its
    best schedule: mean e/N, raw and after greedy polish.
B2  e/N against sweeps (10 … 10^4) for N = 250 … 4000 with the default schedule, the finite-size
    trend against N^(-2/3) and the Parisi value −0.7633 (optionally plotted).
B3  Exact enumeration at N = 24; MPF and pseudolikelihood objective + gradient at N = 100 with
    10^4 samples; both fits: time to reach equal coupling error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit import get_num_threads
from boltzkit import spin as sp

DWAVE_SCRIPT = r"""
import json, sys, time
import numpy as np, dimod
from dwave.samplers import SimulatedAnnealingSampler
from dwave.samplers.sa.sampler import default_beta_range
cfg = json.loads(sys.argv[1])
s = SimulatedAnnealingSampler()
out = []
bqms = {}
for run in cfg["runs"]:
    path = run["J"]
    if path not in bqms:
        j = np.load(path); n = j.shape[0]
        # canonical E = -sum_{i<j} J s s  ->  dimod J = -J
        bqm = dimod.BinaryQuadraticModel(np.zeros(n), -np.triu(j, 1), 0.0, dimod.SPIN)
        x = np.random.default_rng(0).choice([-1, 1], size=(3, n))
        assert np.allclose(bqm.energies((x, list(range(n)))), -0.5 * np.einsum("ki,ij,kj->k", x, j, x))
        bqms[path] = (bqm, j)
    bqm, j = bqms[path]
    n = j.shape[0]
    if run.get("default_range_only"):
        out.append(dict(beta_range=list(default_beta_range(bqm)))); continue
    kw = dict(num_reads=run["reads"], num_sweeps=run["sweeps"], seed=run.get("seed", 1))
    if run.get("beta_range"):
        kw["beta_range"] = tuple(run["beta_range"]); kw["beta_schedule_type"] = "geometric"
    t0 = time.perf_counter(); ss = s.sample(bqm, **kw); dt = time.perf_counter() - t0
    states = ss.record.sample.astype(np.int8)
    order = [list(ss.variables).index(v) for v in range(n)]
    states = states[:, order]
    e = -0.5 * np.einsum("ki,ij,kj->k", states.astype(float), j, states.astype(float))
    br = ss.info.get("beta_range", kw.get("beta_range", (0, 0)))
    out.append(dict(seconds=dt, sampling_seconds=ss.info["timing"]["sampling_ns"] * 1e-9, energies=(e / n).tolist(),
                    beta_range=[float(b) for b in br], states=states.tolist()))
print(json.dumps(out))
"""


def dwave(python: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs the peer in its own interpreter; every run names a saved coupling matrix ``J``."""
    r = subprocess.run([python, "-c", DWAVE_SCRIPT, json.dumps({"runs": runs})], capture_output=True, text=True, check=True)
    out: list[dict[str, Any]] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def header() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; boltzkit threads: {get_num_threads()}\n")


def _mse(e: np.ndarray) -> str:
    return f"{e.mean():.4f} ± {e.std(ddof=1) / np.sqrt(len(e)):.4f}"


def b1(args: argparse.Namespace, tmp: Path) -> None:
    n, reads, seeds = (500, 2, [0]) if args.quick else (1000, 4, [0, 1, 2])
    models = {sd: sp.sk(n, seed=sd) for sd in seeds}
    models32 = {sd: sp.sk(n, seed=sd, dtype=np.float32) for sd in seeds}
    paths = {}
    for sd, m in models.items():
        paths[sd] = str(tmp / f"sk{n}_{sd}.npy")
        np.save(paths[sd], m.J)
    print(f"### B1a: dense SK N = {n}, J ~ N(0, 1/N), same explicit geometric schedule, sweeps and reads\n")
    print(
        f"{len(seeds)} instances (`sp.sk({n}, seed=s)`, s = {seeds}) × {reads} reads each; e/N: mean ± standard error over "
        "all reads. dwave-samplers is single-threaded; its rate is taken from its own `sampling_ns` (the C++ loop "
        "alone, which favours it; the whole `sample()` call is in the next column). The ratio is boltzkit's "
        "attempts/s over dwave's.\n"
    )
    print("| schedule (β range) | sweeps | solver | threads | time (s) | attempts / s | mean e/N | best e/N | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    if args.dwave_python:
        dr = dwave(args.dwave_python, [{"J": paths[sd], "default_range_only": True} for sd in seeds])
        dw_default = {sd: tuple(d["beta_range"]) for sd, d in zip(seeds, dr, strict=True)}
    else:
        dw_default = {sd: (0.0128, 2.86e7) for sd in seeds}
    schedules: list[tuple[str, dict[int, tuple[float, float]], list[int]]] = [
        ("dwave default (per instance, ≈ [{:.3g}, {:.3g}])".format(*dw_default[seeds[0]]), dw_default,
         [100, 1000] if args.quick else [100, 1000, 10000]),
        ("[0.1, 5]", {sd: (0.1, 5.0) for sd in seeds}, [100, 1000]),
    ]  # fmt: skip
    for label, ranges, sweeps_list in schedules:
        for ns in sweeps_list:
            rate_d = None
            if args.dwave_python:
                runs = [{"J": paths[sd], "reads": reads, "sweeps": ns, "beta_range": list(ranges[sd]), "seed": sd + 1}
                        for sd in seeds]  # fmt: skip
                dws = dwave(args.dwave_python, runs)
                tot = sum(d["seconds"] for d in dws)
                samp = sum(d["sampling_seconds"] for d in dws)
                e = np.concatenate([d["energies"] for d in dws])
                rate_d = n * ns * reads * len(seeds) / samp
                print(f"| {label} | {ns} | dwave-samplers SA | 1 | {tot:.2f} (sampling {samp:.2f}) | {rate_d:.3g} | {_mse(e)} | "
                      f"{e.min():.4f} | 1 |")  # fmt: skip
            for tag, ms, th in (("f64", models, 1), ("f64", models, 2), ("f32", models32, 2)):
                rs = [ms[sd].anneal(reads, ns, beta_range=ranges[sd], seed=sd + 1, threads=th) for sd in seeds]
                dt = sum(r.seconds for r in rs)
                e = np.concatenate([r.energies for r in rs]) / n
                rate = n * ns * reads * len(seeds) / dt
                ratio = f"**{rate / rate_d:.1f}**" if rate_d else ""
                print(f"| {label} | {ns} | boltzkit anneal {tag} | {th} | {dt:.2f} | {rate:.3g} | {_mse(e)} | {e.min():.4f} | "
                      f"{ratio} |")  # fmt: skip
    print()


def b1c(args: argparse.Namespace, tmp: Path) -> None:
    """Mean energy at the identical schedule with enough reads to resolve it (B1a has 12 reads per cell)."""
    if not args.dwave_python:
        return
    n, reads, seeds = (500, 8, [0]) if args.quick else (1000, 32, [0, 1, 2])
    print(f"### B1c: mean e/N at the same explicit schedule, {len(seeds)} instances × {reads} reads (N = {n})\n")
    print("Δ: boltzkit f64 (2 threads) − dwave-samplers, per-instance mean e/N averaged over instances ± standard error.\n")
    print("| schedule (β range) | sweeps | dwave mean e/N | boltzkit mean e/N | Δ |")
    print("|---|---|---|---|---|")
    models = {sd: sp.sk(n, seed=sd) for sd in seeds}
    paths = {}
    for sd, m in models.items():
        paths[sd] = str(tmp / f"b1c_{sd}.npy")
        np.save(paths[sd], m.J)
    dr = dwave(args.dwave_python, [{"J": paths[sd], "default_range_only": True} for sd in seeds])
    ranges = {sd: tuple(d["beta_range"]) for sd, d in zip(seeds, dr, strict=True)}
    for label, rng_of, ns in (("dwave default", ranges, 100), ("dwave default", ranges, 1000),
                              ("[0.1, 5]", {sd: (0.1, 5.0) for sd in seeds}, 100)):  # fmt: skip
        runs = [{"J": paths[sd], "reads": reads, "sweeps": ns, "beta_range": list(rng_of[sd]), "seed": 100 + sd} for sd in seeds]
        dws = dwave(args.dwave_python, runs)
        ed = [np.array(d["energies"]) for d in dws]
        eb = [models[sd].anneal(reads, ns, beta_range=rng_of[sd], seed=100 + sd, threads=2).energies / n for sd in seeds]
        diff = [b.mean() - d.mean() for b, d in zip(eb, ed, strict=True)]
        se = np.sqrt(sum(b.var(ddof=1) / len(b) + d.var(ddof=1) / len(d) for b, d in zip(eb, ed, strict=True))) / len(seeds)
        print(f"| {label} | {ns} | {_mse(np.concatenate(ed))} | {_mse(np.concatenate(eb))} | {np.mean(diff):+.4f} ± {se:.4f} |")
    print()


def b1b(args: argparse.Namespace, tmp: Path) -> None:
    if not args.dwave_python:
        return
    n, reads, seeds = (500, 2, [0, 1]) if args.quick else (1000, 4, list(range(8)))
    ns_ref = 1000 if args.quick else 10000
    print(f"### B1b: equal wall time, each solver with its best schedule (N = {n}, {len(seeds)} instances × {reads} reads)\n")
    print(
        f"Per instance, the reference wall time is that of dwave-samplers with its default schedule and {ns_ref} sweeps (the "
        "whole `sample()` call); every other solver gets the same time on that instance (sweeps chosen from a "
        "1,000-sweep probe of its own rate on it). e/N: mean ± standard error over all reads; Δ: mean over "
        "instances of (solver − dwave default) per-instance mean e/N ± its standard error (paired, so the "
        "instance-to-instance spread of ground-state energies cancels). '+ polish': boltzkit's greedy descent "
        "applied to the returned states (any solver's).\n"
    )
    print("| solver | schedule | mean sweeps | total time (s) | mean e/N | Δ vs dwave default | mean e/N + polish |")
    print("|---|---|---|---|---|---|---|")
    rows: dict[str, dict[str, Any]] = {}

    def add(name: str, sched: str, ns: int, t: float, e: np.ndarray, ep: np.ndarray) -> None:
        r = rows.setdefault(name, {"sched": sched, "ns": [], "t": 0.0, "e": [], "ep": []})
        r["ns"].append(ns)
        r["t"] += t
        r["e"].append(e)
        r["ep"].append(ep)

    for sd in seeds:
        m = sp.sk(n, seed=sd)
        m32 = sp.sk(n, seed=sd, dtype=np.float32)
        path = str(tmp / f"b1b_{sd}.npy")
        np.save(path, m.J)
        d = dwave(args.dwave_python, [{"J": path, "reads": reads, "sweeps": ns_ref, "seed": sd + 1}])[0]
        t_ref = d["seconds"]
        e_pol = m.descend(np.array(d["states"])).energies / n
        add("dwave-samplers SA", "its default", ns_ref, t_ref, np.array(d["energies"]), e_pol)
        br = m.default_beta_range()
        probe = dwave(args.dwave_python, [{"J": path, "reads": reads, "sweeps": 1000, "beta_range": list(br)}])[0]
        ns = max(10, int(1000 * t_ref / probe["seconds"]))
        d = dwave(args.dwave_python, [{"J": path, "reads": reads, "sweeps": ns, "beta_range": list(br), "seed": sd + 1}])[0]
        add("dwave-samplers SA ", "boltzkit's default range", ns, d["seconds"], np.array(d["energies"]),
            m.descend(np.array(d["states"])).energies / n)  # fmt: skip
        for tag, mm in (("f64", m), ("f32", m32)):
            t_probe = mm.anneal(reads, 1000, seed=99, threads=2).seconds
            ns = max(10, int(1000 * t_ref / t_probe))
            r = mm.anneal(reads, ns, seed=sd + 1, threads=2)
            e_pol = m.descend(r.states).energies / n
            add(f"boltzkit anneal {tag}, 2 threads", "its default", ns, r.seconds, r.energies / n, e_pol)
    ref = np.array([e.mean() for e in rows["dwave-samplers SA"]["e"]])
    for name, r in rows.items():
        e = np.concatenate(r["e"])
        ep = np.concatenate(r["ep"])
        per = np.array([x.mean() for x in r["e"]]) - ref
        delta = "" if name == "dwave-samplers SA" else f"{per.mean():+.4f} ± {per.std(ddof=1) / np.sqrt(len(per)):.4f}"
        print(f"| {name.strip()} | {r['sched']} | {np.mean(r['ns']):.0f} | {r['t']:.1f} | {_mse(e)} | {delta} | {_mse(ep)} |")
    print(f"\n(boltzkit's default range on these instances: β ∈ [{sp.sk(n, seed=0).default_beta_range()[0]:.3g}, "
          f"{sp.sk(n, seed=0).default_beta_range()[1]:.3g}] at seed 0.)\n")  # fmt: skip


def b2(args: argparse.Namespace, tmp: Path) -> None:
    ns_list = [250, 500, 1000] if args.quick else [250, 500, 1000, 2000, 4000]
    sweeps = [10, 100, 1000] if args.quick else [10, 100, 1000, 10000]
    reads = 4
    print(f"### B2: e/N against sweeps and N (boltzkit default schedule, f32, {reads} reads per instance, 2 threads, "
          "greedy polish)\n")  # fmt: skip
    print("Instances `sp.sk(N, seed=N + k)`, k < max(1, 4000 / N); e/N: mean ± standard error over instances × reads.\n")
    print("| N | instances | N^(-2/3) | " + " | ".join(f"{s} sweeps" for s in sweeps) + " | time at the most sweeps (s) |")
    print("|---|---|---|" + "---|" * len(sweeps) + "---|")
    table: dict[int, list[tuple[float, float, float]]] = {}
    for n in ns_list:
        n_inst = max(1, 4000 // n) if not args.quick else 1
        models = [sp.sk(n, seed=n + k, dtype=np.float32) for k in range(n_inst)]
        cells = []
        dt = 0.0
        table[n] = []
        for s in sweeps:
            rs = [m.anneal(reads, s, seed=1, polish=True, threads=2) for m in models]
            dt = sum(r.seconds for r in rs)
            e = np.concatenate([r.energies for r in rs]) / n
            table[n].append((e.mean(), e.min(), e.std(ddof=1) / np.sqrt(len(e))))
            cells.append(f"{e.mean():.4f} ± {e.std(ddof=1) / np.sqrt(len(e)):.4f}")
        print(f"| {n} | {n_inst} | {n ** (-2 / 3):.4f} | " + " | ".join(cells) + f" | {dt:.1f} |")
    x = np.array(ns_list, dtype=float) ** (-2 / 3)
    last = np.array([table[n][-1][0] for n in ns_list])
    slope, icpt = np.polyfit(x, last, 1)
    print(
        f"\nLinear fit of the mean e/N at {sweeps[-1]} sweeps against N^(-2/3): intercept {icpt:.4f} "
        f"(Parisi ground state -0.7633), slope {slope:.3f} (extremal-optimisation studies: e_N ≈ -0.7633 + 0.7 N^(-2/3)).\n"
    )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
        for n in ns_list:
            mean = np.array([t[0] for t in table[n]])
            se = np.array([t[2] for t in table[n]])
            ax.errorbar(sweeps, mean, yerr=se, marker="o", capsize=2, label=f"N = {n}")
        ax.axhline(-0.7633, color="k", ls="--", lw=1, label="Parisi −0.7633")
        ax.set_xscale("log")
        ax.set_xlabel("sweeps")
        ax.set_ylabel("mean e/N (polished)")
        ax.set_title("SK: simulated annealing, boltzkit default schedule")
        ax.legend(fontsize=8)
        bx.plot(x, last, "o", label=f"{sweeps[-1]} sweeps")
        xx = np.linspace(0, x.max() * 1.05, 50)
        bx.plot(xx, icpt + slope * xx, "-", label=f"fit: {icpt:.4f} + {slope:.2f} N^(-2/3)")
        bx.plot(xx, -0.7633 + 0.7 * xx, ":", color="k", label="−0.7633 + 0.7 N^(-2/3)")
        bx.set_xlabel("N^(-2/3)")
        bx.set_ylabel("mean e/N")
        bx.set_title("finite-size trend")
        bx.legend(fontsize=8)
        fig.tight_layout()
        out = Path(args.plot)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
        print(f"Plot: `{out}`\n")


def b3(args: argparse.Namespace, tmp: Path) -> None:
    print("### B3: exact enumeration and MPF\n")
    print("| task | size | threads | time (s) | result |")
    print("|---|---|---|---|---|")
    n = 20 if args.quick else 24
    m = sp.sk(n, seed=1)
    for th in (1, 2):
        t0 = time.perf_counter()
        ex = m.enumerate_exact([1.0], threads=th)
        dt = time.perf_counter() - t0
        print(f"| enumerate_exact (ln Z, <E>, C, <m>) | N = {n}, 1 β | {th} | {dt:.3f} | ln Z = {ex.ln_z[0]:.6f}, "
              f"{2**n / dt / 1e6:.0f} M states/s |")  # fmt: skip
    t0 = time.perf_counter()
    ex = m.enumerate_exact([1.0], correlations=True)
    print(f"| enumerate_exact + correlations | N = {n} | 2 | {time.perf_counter() - t0:.3f} | <q²> = {ex.mean_q2[0]:.4f} |")
    nm, b = (50, 2000) if args.quick else (100, 10_000)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((nm, nm)) / np.sqrt(nm)
    truth = sp.SpinModel(np.triu(a, 1) + np.triu(a, 1).T, 0.1 * rng.standard_normal(nm))
    t0 = time.perf_counter()
    data = truth.anneal(b, schedule=np.full(200, 1.0), seed=3).final_states  # independent Gibbs chains at β = 1
    t_mc = time.perf_counter() - t0
    print(f"| samples: {b} independent Metropolis chains, 200 sweeps at β = 1 | N = {nm} | 2 | {t_mc:.2f} | |")
    for obj in ("mpf", "pl"):
        for th in (1, 2):
            t0 = time.perf_counter()
            for _ in range(5):
                sp.mpf_objective(data, truth, objective=obj, threads=th)  # type: ignore[arg-type]
            print(f"| {obj} objective + gradient | N = {nm}, B = {b} | {th} | {(time.perf_counter() - t0) / 5:.4f} | per call |")
    curves: dict[str, list[tuple[float, float, int]]] = {}
    for name, fn in (("MPF", sp.fit_mpf), ("pseudolikelihood", sp.fit_pseudolikelihood)):
        r = fn(data)
        print(f"| {name} fit to convergence (L-BFGS) | N = {nm}, B = {b} | 2 | {r.seconds:.2f} | "
              f"J rmse {sp.coupling_rmse(r.model, truth):.4f}, {r.n_iter} iters, {r.n_eval} evaluations |")  # fmt: skip
        # L-BFGS is deterministic: the fit stopped after k iterations is the k-th iterate
        curves[name] = []
        for k in (*range(1, 13), 16, 24, 32, 48, 64, 96, 128, 192, 256):
            rk = fn(data, maxiter=k)
            curves[name].append((rk.seconds, sp.coupling_rmse(rk.model, truth), rk.n_iter))
            if rk.n_iter < k:
                break
    final = max(min(c[1] for c in cv) for cv in curves.values())
    print(f"\n#### MPF against pseudolikelihood at equal coupling error (N = {nm}, B = {b}, 2 threads)\n")
    print(
        "Time until the iterate's coupling RMSE first falls to a target (a multiple of the worse of the two final errors); "
        "each point is a fresh fit stopped after k L-BFGS iterations (deterministic, so it is the k-th iterate).\n"
    )
    print("| target J rmse | MPF: k, time (s) | pseudolikelihood: k, time (s) | time ratio PL / MPF |")
    print("|---|---|---|---|")
    for mult in (2.0, 1.25, 1.05):
        target = mult * final
        hits = {name: next(c for c in cv if c[1] <= target) for name, cv in curves.items()}
        hm, hp = hits["MPF"], hits["pseudolikelihood"]
        print(f"| {target:.4f} ({mult}× final) | {hm[2]}, {hm[0]:.3f} | {hp[2]}, {hp[0]:.3f} | **{hp[0] / hm[0]:.2f}** |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dwave-python", default=None, help="python of a venv with dwave-samplers installed")
    ap.add_argument("--only", choices=["b1", "b1c", "b1b", "b2", "b3"], action="append")
    ap.add_argument("--plot", default=None, help="where B2 writes its e/N-against-sweeps figure (PNG)")
    args = ap.parse_args()
    header()
    with tempfile.TemporaryDirectory() as d:
        for name, fn in (("b1", b1), ("b1c", b1c), ("b1b", b1b), ("b2", b2), ("b3", b3)):
            if args.only is None or name in args.only:
                fn(args, Path(d))


if __name__ == "__main__":
    main()
