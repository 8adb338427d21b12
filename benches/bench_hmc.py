"""Side-by-side benchmarks of boltzkit.hmc (issue 4 points 10–11, spec §8), printed as markdown.

    python benches/bench_hmc.py --peer-python /work/peers-hmc/venv/bin/python \\
        --peers-dir /work/peers-hmc --out /tmp/bench-hmc --seeds 3   # everything, ~40 min on 2 cores
    python benches/bench_hmc.py --quick --seeds 1 --peer-python ... --peers-dir ...   # smoke run, ~10 min
    python benches/bench_hmc.py --quick                                      # ours only

The peers run in one subprocess through their own interpreter (``benches/_hmc_peer.py``): the
reference code (Sohl-Dickstein/LAHMC python/LAHMC.py, rueberger/MJHMC
mjhmc/samplers/markov_jump_hmc.py) from a fetched copy outside the repository with the spec's
print/xrange shims, and BlackJAX (CPU, float64). All diagnostics are computed here with the same
estimators for every implementation (mean-subtracted FFT autocorrelation, Geyer ESS).

P10a  Gradients per chain until the autocorrelation of x falls to 0.5, the spec §8 settings
      (ε 1, M 10, β 0.1, K 4, 100 chains, exact start, 200 burn-in, 2000 recorded iterations),
      ours vs the reference code, mean ± standard error over seeds.
P10b  ESS per gradient of x² (and x) for mjhmc vs ct_hmc vs hmc with the MJHMC authors' tuned
      settings on the three figure targets (+ a PNG of autocorrelation vs gradients per target).
P10c  The reference MJHMC code with the tuned settings, read with the same estimators (is a
      shortfall of mjhmc ours or the algorithm's?).
P11a  Gradient evaluations per second, ours vs the reference MJHMC / LAHMC Python code.
P11b  ESS of x² per second: our hmc vs BlackJAX hmc, same ε, M, identity metric, full refresh.
P11c  BlackJAX nuts after window_adaptation vs our samplers after our warm-up.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

# boltzkit's samplers call no BLAS, but this script's own numpy work does, and OpenBLAS workers
# left spinning after it compete with boltzkit's threads on a 2-core machine (measured: the
# rough-well rate fell from 1.3e8 to 0.8e8 gradients/s). One BLAS thread in this process; the
# peers' subprocess gets the environment as it was (their BLAS is theirs to use).
_PEER_ENV = dict(os.environ)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from boltzkit import get_num_threads, hmc  # noqa: E402

PEER = Path(__file__).with_name("_hmc_peer.py")

# the three figure targets of the papers (LAHMC fig. 2, MJHMC figs.)
TARGETS: dict[str, dict[str, Any]] = {
    "gaussian_aniso d=2, 1e6": {"name": "gaussian", "dim": 2, "log10_cond": 6.0},
    "gaussian_aniso d=100, 1e6": {"name": "gaussian", "dim": 100, "log10_cond": 6.0},
    "rough_well d=2": {"name": "rough_well", "dim": 2, "a": 100.0, "b": 4.0},
}
# MJHMC authors' hyper-parameter search (spec §8): (eps, M, beta) for mjhmc and for the control
TUNED = {
    "gaussian": {"mjhmc": (1.458, 25, 0.01), "control": (0.851, 25, 0.0113)},
    "rough_well": {"mjhmc": (3.0, 25, 0.0123), "control": (0.592, 25, 0.430)},
}
# the papers' figure settings (spec §8, the LAHMC figure script)
FIGURE = (1.0, 10, 0.1)
# mjhmc's best settings for ESS/grad of x² from the equal-budget search of benches/bench_hmc_tune.py
# (its run of 2026-12-03, RESULTS "Point 10b re-examined"), per target
X2_SEARCH = {
    "gaussian_aniso d=2, 1e6": (1.1, 50, 0.1),
    "gaussian_aniso d=100, 1e6": (0.85, 50, 0.1),
    "rough_well d=2": (3.0, 10, 0.3),
}


def curve(tr: hmc.Trace) -> tuple[np.ndarray, np.ndarray]:
    """(gradients per chain, mean autocorrelation of x) for the plot."""
    c = tr.mean_autocorrelation()
    return np.arange(c.size) * tr.grads_per_draw, c


def exact_var(t: dict[str, Any]) -> np.ndarray:
    """Exact marginal variances: 1/c_i (Gaussian) or 1-D quadrature (rough well, product form)."""
    if t["name"] == "gaussian":
        return 1.0 / (10.0 ** np.linspace(-t["log10_cond"], 0, t["dim"]))
    from scipy import integrate

    a, b = t["a"], t["b"]

    def w(x: float) -> float:
        return float(np.exp(-x * x / (2 * a * a) - np.cos(2 * np.pi * x / b)))

    lim = 15 * a
    z = integrate.quad(w, -lim, lim, limit=4000)[0]
    v = integrate.quad(lambda x: x * x * w(x), -lim, lim, limit=4000)[0] / z
    return np.full(t["dim"], v)


def make_target(t: dict[str, Any]) -> hmc.BuiltinTarget:
    if t["name"] == "gaussian":
        return hmc.GaussianAniso(dim=t["dim"], log10_cond=t["log10_cond"])
    return hmc.RoughWell(dim=t["dim"], a=t["a"], b=t["b"])


def peer_trace(method: str, res: Any, eps: float, m: int, beta: float, k: int = 1) -> hmc.Trace:
    """A Trace built from a peer's recorded states, so that every diagnostic is the same code."""
    x = np.ascontiguousarray(res["x"], dtype=np.float64)
    c, n, _ = x.shape
    tau = np.ascontiguousarray(res["tau"]) if "tau" in res else None
    return hmc.Trace(
        method=method, records=x, tau=tau, moves=np.ones((c, n), np.uint8), accept=np.ones((c, n)),
        energy=np.zeros((c, n)), n_grad=np.asarray(np.round(res["grads"]), dtype=np.int64),
        n_grad_warmup=np.zeros(c, np.int64), step_size=eps, n_leapfrog=m, beta=beta,
        refresh_rate=-math.log(1 - beta) / 2 if tau is not None else None, look_ahead=k,
        inverse_mass_matrix=np.ones(x.shape[2]), seed=0, wall_time=float(res["seconds"]),
    )  # fmt: skip


class Peers:
    """Collects peer jobs, runs them all in one subprocess, hands back the results."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp, self.jobs, self.res = args, tmp, [], {}  # type: ignore[var-annotated]

    @property
    def enabled(self) -> bool:
        return bool(self.args.peer_python)

    def add(self, name: str, x0: np.ndarray, **job: Any) -> None:
        path = self.tmp / f"{name}.x0.npy"
        np.save(path, x0)
        self.jobs.append({"name": name, "x0": str(path), "peers_dir": self.args.peers_dir, **job})

    def run(self) -> None:
        if not self.enabled or not self.jobs:
            return
        spec = self.tmp / "jobs.json"
        spec.write_text(json.dumps(self.jobs))
        t0 = time.perf_counter()
        r = subprocess.run(
            [self.args.peer_python, str(PEER), str(spec), str(self.tmp)],
            capture_output=True,
            text=True,
            check=False,
            env=_PEER_ENV,
        )
        if r.returncode != 0:
            raise RuntimeError(f"peer run failed:\n{r.stderr[-4000:]}")
        print(f"<!-- peers: {len(self.jobs)} jobs in {time.perf_counter() - t0:.0f} s -->\n")
        for j in self.jobs:
            self.res[j["name"]] = self.tmp / f"{j['name']}.npz"
        self.jobs = []

    def get(self, name: str) -> dict[str, Any]:
        with np.load(self.res[name]) as f:
            return dict(f)


def ms(v: list[float]) -> tuple[float, float]:
    a = np.asarray(v, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else math.nan


def fmt_ms(v: list[float], digits: int = 0) -> str:
    m, s = ms(v)
    if not math.isfinite(m):
        return "never"
    n_nan = sum(1 for x in v if not math.isfinite(x))
    extra = f" ({n_nan} never)" if n_nan else ""
    return f"{m:.{digits}f} ± {s:.{digits}f}{extra}"


def header(args: argparse.Namespace) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; boltzkit threads: {get_num_threads()}; "
          f"numpy {np.__version__}{'; --quick' if args.quick else ''}\n")  # fmt: skip


# ------------------------------------------------------------------------------------------------
# P10a: gradients to autocorrelation 0.5, ours vs the reference code, shared settings


def p10a(args: argparse.Namespace, peers: Peers, curves: dict[str, Any]) -> None:
    n_chains, burn, n = 100, 200, (600 if args.quick else 2000)
    seeds = range(args.seeds)
    eps, m, beta, k = 1.0, 10, 0.1, 4
    samplers = [("hmc", "lahmc_ref", "hmc"), ("lahmc", "lahmc_ref", "lahmc"), ("ct_hmc", "mjhmc_ref", "ct_hmc"),
                ("mjhmc", "mjhmc_ref", "mjhmc")]  # fmt: skip
    ours: dict[tuple[str, str], list[float]] = {}
    gpi: dict[tuple[str, str], list[float]] = {}
    for tname, t in TARGETS.items():
        target = make_target(t)
        for s in seeds:
            x0 = target.exact_sample(n_chains, seed=1000 + s)
            for meth, lib, psamp in samplers:
                look = k if meth == "lahmc" else 1
                if peers.enabled:
                    peers.add(f"p10a|{tname}|{meth}|{s}", x0, lib=lib, sampler=psamp, target=t, eps=eps, M=m, beta=beta,
                              K=look, burn=burn, n=n, seed=s)  # fmt: skip
                kw: dict[str, Any] = {"look_ahead": k} if meth == "lahmc" else {}
                tr0 = hmc.sample(target, method=meth, n_samples=burn, n_chains=n_chains, step_size=eps, n_leapfrog=m,
                                 beta=beta, x0=x0, seed=s, **kw)  # fmt: skip
                tr = hmc.sample(target, method=meth, n_samples=n, n_chains=n_chains, step_size=eps, n_leapfrog=m,
                                beta=beta, x0=tr0.records[:, -1], seed=10_000 + s, **kw)  # fmt: skip
                ours.setdefault((tname, meth), []).append(tr.grads_to_autocorr(0.5))
                gpi.setdefault((tname, meth), []).append(float(tr.n_grad.mean() / n))
                if s == 0:
                    curves[f"{tname}|{meth}|ours"] = curve(tr)
    peers.run()
    print(f"### P10a: gradients per chain to autocorrelation 0.5 (spec §8 settings: ε {eps}, M {m}, β {beta}, "
          f"K {k}, {n_chains} chains, exact start, {burn} burn-in, {n} recorded iterations; mean ± s.e. over "
          f"{args.seeds} seeds)\n")  # fmt: skip
    print("Reference: hmc and lahmc rows from Sohl-Dickstein/LAHMC `LAHMC` (K = 1 / 4); ct_hmc and mjhmc rows from "
          "rueberger/MJHMC `ContinuousTimeHMC` / `MarkovJumpHMC`, read on each chain's own time grid at the mean "
          "holding time. z = (ours − ref) / combined s.e.\n")  # fmt: skip
    print("| target | sampler | ours: grads to AC 0.5 | reference | ours / ref | z | ours: grads per iteration | "
          "ref: grads per iteration | ours / ref in iterations | spec's reference run |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    spec = {
        "gaussian_aniso d=2, 1e6": (10670, 3261, 7810, 6927),
        "gaussian_aniso d=100, 1e6": (9960, 3585, 8450, 7202),
        "rough_well d=2": (4690, 1350, ">20000", 19622),
    }
    for tname in TARGETS:
        for i, (meth, _, _) in enumerate(samplers):
            g_o = ours[(tname, meth)]
            gpi_o = np.mean(gpi[(tname, meth)])
            row = f"| {tname} | {meth} | {fmt_ms(g_o)} |"
            if peers.res:
                look = k if meth == "lahmc" else 1
                g_r, gpis = [], []
                for s in seeds:
                    p = peer_trace(meth, peers.get(f"p10a|{tname}|{meth}|{s}"), eps, m, beta, look)
                    g_r.append(p.grads_to_autocorr(0.5))
                    gpis.append(float(p.n_grad.mean() / n))
                    if s == 0:
                        curves[f"{tname}|{meth}|ref"] = curve(p)
                    del p
                gpi_r = np.mean(gpis)
                (mo, so), (mr, sr) = ms(g_o), ms(g_r)
                z = (mo - mr) / math.hypot(so, sr) if math.isfinite(mo) and math.isfinite(mr) else math.nan
                it = mo / gpi_o / (mr / gpi_r)
                row += f" {fmt_ms(g_r)} | {mo / mr:.2f} | {z:+.1f} | {gpi_o:.1f} | {gpi_r:.1f} | {it:.2f} |"
            else:
                row += f" | | | {gpi_o:.1f} | | |"
            print(row + f" {spec[tname][i]} |")
    print()


# ------------------------------------------------------------------------------------------------
# P10b: ESS per gradient with the tuned settings


def p10b(args: argparse.Namespace, curves: dict[str, Any]) -> dict[str, Any]:
    n_chains = 100
    seeds = range(args.seeds)
    print(f"### P10b: ESS per gradient with the MJHMC authors' tuned settings ({n_chains} chains, exact start, "
          f"mean ± s.e. over {len(seeds)} seeds; multi-chain ESS divided by all chains' gradients)\n")  # fmt: skip
    print("mjhmc uses the mjhmc settings; ct_hmc and hmc use the control's (the authors tuned their control on the "
          "same objective). Two more rows: hmc at the papers' figure settings (ε 1, M 10, β 0.1; it has no tuned "
          "settings of its own), and mjhmc at its best setting for x² from the equal-budget search of "
          "`benches/bench_hmc_tune.py`. Jump samplers are read on each chain's time grid at the mean holding "
          "time.\n")  # fmt: skip
    print("| target | sampler | ε, M, β | ESS/grad x² (worst coord.) | ESS/grad x² (mean over coords.) | "
          "ESS/grad x (worst) | grads to AC 0.5 | grads per iteration | mjhmc ÷ this, x² worst | "
          "mjhmc ÷ this, x² mean |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    wins: dict[str, Any] = {}
    for tname, t in TARGETS.items():
        target = make_target(t)
        n = {2: 20_000, 100: 4_000}[t["dim"]] // (4 if args.quick else 1)
        rows = {}
        settings = {
            "mjhmc": ("mjhmc", TUNED[t["name"]]["mjhmc"]),
            "ct_hmc": ("ct_hmc", TUNED[t["name"]]["control"]),
            "hmc": ("hmc", TUNED[t["name"]]["control"]),
            "hmc (figure settings)": ("hmc", FIGURE),
            "mjhmc (x² search)": ("mjhmc", X2_SEARCH[tname]),
        }
        for label, (meth, (eps, m, beta)) in settings.items():
            vals: dict[str, list[float]] = {"x2w": [], "x2m": [], "xw": [], "g": [], "gpi": []}
            for s in seeds:
                x0 = target.exact_sample(n_chains, seed=2000 + s)
                tr = hmc.sample(target, method=meth, n_samples=n, n_chains=n_chains, step_size=eps, n_leapfrog=m, beta=beta,
                                x0=x0, seed=s)  # fmt: skip
                e2 = tr.ess_per_grad("x2")
                vals["x2w"].append(float(e2.min()))
                vals["x2m"].append(float(e2.mean()))
                vals["xw"].append(float(tr.ess_per_grad("x").min()))
                vals["g"].append(tr.grads_to_autocorr(0.5))
                vals["gpi"].append(float(tr.n_grad.mean() / tr.records.shape[1]))
                if s == 0 and label in ("mjhmc", "ct_hmc", "hmc"):
                    curves[f"{tname}|{meth}|tuned"] = curve(tr)
                del tr
            rows[label] = (eps, m, beta, vals)
        for label, (eps, m, beta, v) in rows.items():
            ref = "mjhmc (x² search)" if label == "mjhmc (x² search)" else "mjhmc"
            r_w = ms(rows[ref][3]["x2w"])[0] / ms(v["x2w"])[0]
            r_m = ms(rows[ref][3]["x2m"])[0] / ms(v["x2m"])[0]
            if not label.startswith("mjhmc"):
                wins[f"{tname}|{label}"] = (r_w, r_m)
                wins[f"{tname}|{label}|search"] = ms(rows["mjhmc (x² search)"][3]["x2w"])[0] / ms(v["x2w"])[0]
            print(f"| {tname} | {label} | {eps}, {m}, {beta} | {fmt_ms([1e4 * a for a in v['x2w']], 2)} e-4 | "
                  f"{fmt_ms([1e4 * a for a in v['x2m']], 2)} e-4 | {fmt_ms([1e4 * a for a in v['xw']], 2)} e-4 | "
                  f"{fmt_ms(v['g'])} | {np.mean(v['gpi']):.1f} | {'' if label.startswith('mjhmc') else f'{r_w:.2f}'} | "
                  f"{'' if label.startswith('mjhmc') else f'{r_m:.2f}'} |")  # fmt: skip
    print()
    for others in (("ct_hmc", "hmc"), ("ct_hmc", "hmc (figure settings)")):
        n_beat = sum(1 for tn in TARGETS if all(wins[f"{tn}|{mm}"][0] > 1 for mm in others))
        n_srch = sum(1 for tn in TARGETS if all(wins[f"{tn}|{mm}|search"] > 1 for mm in others))
        print(f"- mjhmc ahead of both {others[0]} and {others[1]} on ESS/grad of x² (worst coordinate): authors' "
              f"settings {n_beat} of 3 targets; x²-searched setting {n_srch} of 3.")  # fmt: skip
    print()
    return wins


def p10c(args: argparse.Namespace, peers: Peers) -> None:
    """The reference code with the tuned settings, read with the same estimators as ours."""
    if not peers.enabled:
        return
    n_chains = 100
    lens = {2: 600 if args.quick else 3000, 100: 200 if args.quick else 500}
    for tname, t in TARGETS.items():
        x0 = make_target(t).exact_sample(n_chains, seed=3000)
        for samp, key in (("mjhmc", "mjhmc"), ("control", "control")):
            eps, m, beta = TUNED[t["name"]][key]
            peers.add(f"p10c|{tname}|{samp}", x0, lib="mjhmc_ref", sampler=samp, target=t, eps=eps, M=m, beta=beta, K=1,
                      burn=0, n=lens[t["dim"]], seed=4)  # fmt: skip
    peers.run()
    print(f"### P10c: the reference code (rueberger/MJHMC) with the tuned settings, {n_chains} chains, exact start, "
          f"1 seed; `MarkovJumpHMC` read on each chain's time grid, `ControlHMC` (the authors' control: "
          f"discrete HMC, full refresh with probability −ln(1−β)/2 per step) per iteration\n")  # fmt: skip
    print("Var ratio: the time-weighted variance of x (mean over coordinates of var / exact var; exact: 1/c_i "
          "for the Gaussians, 1-D quadrature for the rough well) — a sanity check of the run itself; boltzkit mjhmc "
          "on the same start and length for comparison.\n")  # fmt: skip
    print("| target | sampler | ε, M, β | iterations | ESS/grad x² (worst) | ESS/grad x² (mean) | "
          "ESS/grad x (worst) | grads to AC 0.5 | grads per iteration | Var ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for tname, t in TARGETS.items():
        target = make_target(t)
        exact = exact_var(t)
        x0 = target.exact_sample(n_chains, seed=3000)
        for samp in ("mjhmc", "control", "ours"):
            eps, m, beta = TUNED[t["name"]]["control" if samp == "control" else "mjhmc"]
            if samp == "ours":
                tr = hmc.sample(target, method="mjhmc", n_samples=lens[t["dim"]], n_chains=n_chains, step_size=eps,
                                n_leapfrog=m, beta=beta, x0=x0, seed=4)  # fmt: skip
                label = "boltzkit mjhmc"
            else:
                r = peers.get(f"p10c|{tname}|{samp}")
                tr = peer_trace("mjhmc" if samp == "mjhmc" else "hmc", r, eps, m, beta)
                label = f"reference {'MarkovJumpHMC' if samp == 'mjhmc' else 'ControlHMC'}"
            e2, e1 = tr.ess_per_grad("x2"), tr.ess_per_grad("x")
            n = tr.records.shape[1]
            vr = float(np.mean(tr.var() / exact))
            print(f"| {tname} | {label} | {eps}, {m}, {beta} | {n} | {1e4 * e2.min():.2f} e-4 | {1e4 * e2.mean():.2f} e-4 | "
                  f"{1e4 * e1.min():.2f} e-4 | {tr.grads_to_autocorr(0.5):.0f} | {tr.n_grad.mean() / n:.1f} | "
                  f"{vr:.2f} |")  # fmt: skip
    print()


def plot(args: argparse.Namespace, curves: dict[str, Any]) -> None:
    if not args.out:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    colours = {"hmc": "C0", "lahmc": "C1", "ct_hmc": "C2", "mjhmc": "C3"}
    for j, tname in enumerate(TARGETS):
        for row, kinds in ((0, ("ours", "ref")), (1, ("tuned",))):
            ax = axes[row, j]
            xmax = 0.0
            for meth, colour in colours.items():
                for kind in kinds:
                    gc = curves.get(f"{tname}|{meth}|{kind}")
                    if gc is None:
                        continue
                    g, c = gc
                    cut = int(np.searchsorted(-c, -0.02)) + 1
                    xmax = max(xmax, float(g[min(cut, g.size - 1)]))
                    lab = f"{meth} ({'reference' if kind == 'ref' else 'boltzkit'})"
                    ax.plot(g, c, color=colour, ls="--" if kind == "ref" else "-", label=lab)
            ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
            ax.axhline(0.0, color="0.8", lw=0.8)
            ax.set_xlim(0, min(xmax, 40_000) or None)
            ax.set_title(f"{tname}: {'ε 1, M 10, β 0.1' if row == 0 else 'tuned settings'}")
            ax.set_xlabel("gradient evaluations per chain")
            ax.set_ylabel("autocorrelation of x")
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "hmc_autocorrelation.png"
    fig.savefig(path, dpi=90)
    print(f"Plot: `{path}` (top: shared settings, ours solid, reference dashed; bottom: tuned settings).\n")


# ------------------------------------------------------------------------------------------------
# P11a: gradient evaluations per second vs the reference Python code


def p11a(args: argparse.Namespace, peers: Peers) -> dict[str, float]:
    # ours runs 40-50x more iterations than the reference: a run must last long enough (~0.3-1 s)
    # for its rate to be the steady state, not call overheads; the rough well runs longer on both
    # sides (its iterations are cheap); the 100-D Gaussian's records are 0.8 GB at 10000. Every
    # rate is measured `reps` times on both sides (the reference in one process, one job after the
    # other; ours in this one); both vary by 10-30 % between runs on this machine, ours on 2
    # threads by up to 2x (runs where the VM's two vCPUs are slow: less CPU time per wall second
    # and less work per CPU second), so the table gives the median and the best run on each side
    # and the ratios of both (the best run is timeit's estimate: what the code does when nothing
    # else interferes).
    n_chains, reps = 100, (1 if args.quick else 5)
    n_ref = {"gaussian_aniso d=100, 1e6": 75 if args.quick else 250, "rough_well d=2": 250 if args.quick else 1000}
    n_ours = {"gaussian_aniso d=100, 1e6": 3000 if args.quick else 10_000, "rough_well d=2": 10_000 if args.quick else 50_000}
    eps, m, beta = 1.0, 10, 0.1
    names = ["gaussian_aniso d=100, 1e6", "rough_well d=2"]
    meths = [("mjhmc", "mjhmc_ref", "mjhmc"), ("hmc", "lahmc_ref", "hmc"), ("lahmc", "lahmc_ref", "lahmc")]
    if peers.enabled:
        for tname in names:
            target = make_target(TARGETS[tname])
            x0 = target.exact_sample(n_chains, seed=7)
            for meth, lib, ps in meths:
                for rep in range(reps):
                    peers.add(f"p11a|{tname}|{meth}|{rep}", x0, lib=lib, sampler=ps, target=TARGETS[tname], eps=eps, M=m,
                              beta=beta, K=4 if meth == "lahmc" else 1, burn=0, n=n_ref[tname], seed=1 + rep)  # fmt: skip
        peers.run()
    runs = "; ".join(f"{t}: ours {n_ours[t]}, the reference {n_ref[t]}" for t in names)
    print(f"### P11a: gradient evaluations per second (ε {eps}, M {m}, β {beta}, {n_chains} chains; iterations: {runs}; "
          f"median [min, max] of {reps} runs each; same run)\n")  # fmt: skip
    print("| target | sampler | implementation | threads | seconds (median) | gradients | gradients / s: median "
          "[min, max] | ours ÷ reference (medians) | ours ÷ reference (best runs) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    ratios = {}

    def cell(rates: list[float]) -> str:
        return f"{np.median(rates):.3g} [{min(rates):.3g}, {max(rates):.3g}]"

    for tname in names:
        target = make_target(TARGETS[tname])
        x0 = target.exact_sample(n_chains, seed=7)
        for meth, lib, _ in meths:
            ref_rate = ref_best = math.nan
            if peers.res:
                rr, secs, g = [], [], 0.0
                for rep in range(reps):
                    r = peers.get(f"p11a|{tname}|{meth}|{rep}")
                    g = float(r["grads"].sum())
                    rr.append(g / float(r["seconds"]))
                    secs.append(float(r["seconds"]))
                ref_rate, ref_best = float(np.median(rr)), max(rr)
                src = "rueberger/MJHMC `MarkovJumpHMC`" if lib == "mjhmc_ref" else "Sohl-Dickstein/LAHMC `LAHMC`"
                print(f"| {tname} | {meth} | {src} (numpy) | 1 | {np.median(secs):.2f} | {g:.3g} | {cell(rr)} | 1 | 1 |")
            kw: dict[str, Any] = {"look_ahead": 4} if meth == "lahmc" else {}
            for th in (1, 2):
                rates, secs = [], []
                for _ in range(reps):
                    # an untimed run of the same size first: the first touch of memory this VM has
                    # not used lately costs ~3 s per GB here (np.ones(10**8) takes 2.6 s the first
                    # time in a fresh process, 0.12 s after), which is the machine's, not the sampler's
                    hmc.sample(target, method=meth, n_samples=n_ours[tname], n_chains=n_chains, step_size=eps,
                               n_leapfrog=m, beta=beta, x0=x0, seed=3, threads=th, **kw)  # fmt: skip
                    tr = hmc.sample(target, method=meth, n_samples=n_ours[tname], n_chains=n_chains, step_size=eps,
                                    n_leapfrog=m, beta=beta, x0=x0, seed=3, threads=th, **kw)  # fmt: skip
                    g = float(tr.n_grad.sum())
                    rates.append(g / tr.wall_time)
                    secs.append(tr.wall_time)
                    del tr
                ratio, best = float(np.median(rates)) / ref_rate, max(rates) / ref_best
                ratios[f"{tname}|{meth}|{th}"] = ratio
                ratios[f"{tname}|{meth}|{th}|best"] = best
                rq = "" if math.isnan(ratio) else f"{ratio:.0f}"
                bq = "" if math.isnan(best) else f"{best:.0f}"
                print(f"| {tname} | {meth} | boltzkit | {th} | {np.median(secs):.3f} | {g:.3g} | {cell(rates)} | {rq} | {bq} |")
    print()
    if peers.res:
        for how, suffix in (("medians", ""), ("best runs", "|best")):
            rs = {t: ratios[f"{t}|mjhmc|2{suffix}"] for t in names}
            verdict = "met" if min(rs.values()) >= 100 else "not met"
            cells = ", ".join(f"{t} {r:.0f}x" for t, r in rs.items())
            print(f"- mjhmc on 2 threads ÷ the reference MJHMC ({how}): {cells}; >= 100x on both: {verdict}")
        print()
    return ratios


# ------------------------------------------------------------------------------------------------
# P11b: ESS of x² per second vs BlackJAX hmc


def ess_row(tr: hmc.Trace, seconds: float) -> tuple[float, float, float, float]:
    e2 = tr.ess("x2")
    return float(e2.min()), float(e2.mean()), float(e2.min()) / seconds, float(e2.mean()) / seconds


def p11b(args: argparse.Namespace, peers: Peers) -> None:
    n_chains, n = 100, (300 if args.quick else 2000)
    eps, m = 1.0, 10
    names = ["gaussian_aniso d=100, 1e6", "rough_well d=2"]
    x0s = {}
    for tname in names:
        x0s[tname] = make_target(TARGETS[tname]).exact_sample(n_chains, seed=11)
        if peers.enabled:
            peers.add(f"p11b|{tname}", x0s[tname], lib="blackjax", sampler="hmc", target=TARGETS[tname], eps=eps, M=m,
                      n=n, seed=5)  # fmt: skip
    peers.run()
    print(f"### P11b: ESS of x² per second, our hmc vs BlackJAX `hmc` (ε {eps}, M {m}, identity metric, full momentum "
          f"refresh every iteration (our β = 1), {n_chains} chains, exact start, {n} iterations, float64 on CPU)\n")  # fmt: skip
    print("BlackJAX: `jax.vmap(kernel.step)` over chains inside a jitted `lax.scan`; its time is the second call "
          "(compilation excluded and reported apart).\n")  # fmt: skip
    print("| target | implementation | threads | seconds | ESS x² worst | ESS x² mean | ESS x² / s worst | "
          "ESS x² / s mean | ours ÷ BlackJAX (mean) | gradients / s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for tname in names:
        target = make_target(TARGETS[tname])
        base = math.nan
        if peers.res:
            r = peers.get(f"p11b|{tname}")
            pt = peer_trace("hmc", r, eps, m, 1.0)
            w, mn, ws, mns = ess_row(pt, float(r["seconds"]))
            base = mns
            print(f"| {tname} | BlackJAX hmc (compile {float(r['compile_seconds']):.1f} s) | XLA | {float(r['seconds']):.2f} | "
                  f"{w:.0f} | {mn:.0f} | {ws:.3g} | {mns:.3g} | 1 | {pt.n_grad.sum() / float(r['seconds']):.3g} |")  # fmt: skip
        for th in (1, 2):
            tr = hmc.sample(target, method="hmc", n_samples=n, n_chains=n_chains, step_size=eps, n_leapfrog=m, beta=1.0,
                            x0=x0s[tname], seed=5, threads=th)  # fmt: skip
            w, mn, ws, mns = ess_row(tr, tr.wall_time)
            print(f"| {tname} | boltzkit hmc | {th} | {tr.wall_time:.2f} | {w:.0f} | {mn:.0f} | {ws:.3g} | {mns:.3g} | "
                  f"{mns / base:.1f} | {tr.n_grad.sum() / tr.wall_time:.3g} |")  # fmt: skip
    print()


# ------------------------------------------------------------------------------------------------
# P11c: BlackJAX nuts after window_adaptation vs ours after our warm-up


def p11c(args: argparse.Namespace, peers: Peers) -> None:
    n_chains, warm, n = 16, (300 if args.quick else 1000), (300 if args.quick else 1000)
    names = ["gaussian_aniso d=100, 1e6", "rough_well d=2"]
    x0s = {}
    for tname in names:
        # a start away from the typical set (uniform on ±2 in the wide units): warm-up has work to do
        x0s[tname] = make_target(TARGETS[tname]).exact_sample(n_chains, seed=13)
        if peers.enabled:
            peers.add(f"p11c|{tname}", x0s[tname], lib="blackjax", sampler="nuts", target=TARGETS[tname], warmup=warm, n=n,
                      seed=9)  # fmt: skip
    peers.run()
    print(f"### P11c: BlackJAX `nuts` after `window_adaptation` vs our samplers after our warm-up ({n_chains} chains, "
          f"{warm} warm-up + {n} iterations, exact start, float64 on CPU)\n")  # fmt: skip
    print("BlackJAX: `window_adaptation(nuts)` per chain (vmapped; Stan's windows, step size + diagonal metric), then "
          "`nuts` vmapped over chains in a jitted `lax.scan` (time of the second call). Ours: `sample(warmup=...)` "
          "(dual averaging to 0.8 + windowed diagonal metric, pooled over chains) with M = 10, then M set to "
          "⌈(π/2)/ε⌉ (a quarter period of a unit-scale oscillator in the adapted metric) and run from the warm-up's "
          "end point. ESS/grad counts the sampling phase's gradients; warm-up gradients and times are listed "
          "apart.\n")  # fmt: skip
    print("| target | sampler | ε (median) | M or mean steps | warm-up grads / chain | warm-up s | sampling s | "
          "ESS x² worst | ESS x² mean | ESS/grad x² worst | ESS/grad x² mean | ESS/s x² worst | "
          "ESS/s x² mean |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for tname in names:
        target = make_target(TARGETS[tname])
        rows = []
        if peers.res:
            r = peers.get(f"p11c|{tname}")
            pt = peer_trace("hmc", r, 1.0, 1, 1.0)
            rows.append(("BlackJAX nuts", float(np.median(r["step_size"])), f"{pt.n_grad.mean() / n:.1f}",
                         float(r["warmup_grads"].mean()), float(r["warmup_seconds"]), float(r["seconds"]), pt))  # fmt: skip
        for meth, beta in (("hmc", 1.0), ("lahmc", 1.0), ("mjhmc", 0.5)):
            tw = hmc.sample(target, method=meth, n_samples=1, n_chains=n_chains, n_leapfrog=10, beta=beta, warmup=warm,
                            x0=x0s[tname], seed=21)  # fmt: skip
            eps = tw.step_size
            mm = max(1, math.ceil((math.pi / 2) / eps))
            tr = hmc.sample(target, method=meth, n_samples=n, n_chains=n_chains, step_size=eps, n_leapfrog=mm, beta=beta,
                            inverse_mass_matrix=tw.inverse_mass_matrix, x0=tw.records[:, -1], seed=22)  # fmt: skip
            label = f"boltzkit {meth} (β {beta})"
            rows.append((label, eps, str(mm), float(tw.n_grad_warmup.mean() + tw.n_grad.mean()), tw.warmup_time + tw.wall_time,
                         tr.wall_time, tr))  # fmt: skip
        for label, eps, steps, wg, ws, sec, tr in rows:
            e2 = tr.ess("x2")
            g = float(tr.grads_per_draw * tr.draws.shape[0] * tr.draws.shape[1])
            print(f"| {tname} | {label} | {eps:.3g} | {steps} | {wg:.0f} | {ws:.2f} | {sec:.2f} | {e2.min():.0f} | "
                  f"{e2.mean():.0f} | {e2.min() / g:.2e} | {e2.mean() / g:.2e} | {e2.min() / sec:.3g} | "
                  f"{e2.mean() / sec:.3g} |")  # fmt: skip
    print()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    ap.add_argument("--peer-python", default=None, help="python of the scratch venv with numpy, scipy, blackjax, jax")
    ap.add_argument("--peers-dir", default="/work/peers-hmc", help="folder with the fetched LAHMC/ and MJHMC/ copies")
    ap.add_argument("--out", default=None, help="folder for the autocorrelation plot")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per cell in P10 (default 5, quick 2)")
    ap.add_argument("--only", choices=["p10a", "p10b", "p10c", "p11a", "p11b", "p11c"], action="append")
    args = ap.parse_args()
    if args.seeds is None:
        args.seeds = 2 if args.quick else 5
    header(args)
    curves: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        peers = Peers(args, Path(d))
        want = args.only or ["p10a", "p10b", "p10c", "p11a", "p11b", "p11c"]
        if "p10a" in want:
            p10a(args, peers, curves)
        if "p10b" in want:
            p10b(args, curves)
        if "p10a" in want or "p10b" in want:
            plot(args, curves)
        if "p10c" in want:
            p10c(args, peers)
        if "p11a" in want:
            p11a(args, peers)
        if "p11b" in want:
            p11b(args, peers)
        if "p11c" in want:
            p11c(args, peers)


if __name__ == "__main__":
    main()
