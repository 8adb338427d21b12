"""Equal-budget hyper-parameter search of mjhmc, ct_hmc and hmc for ESS per gradient of x².

    nice -n 19 python benches/bench_hmc_tune.py --json /tmp/search.json > /tmp/hmc_tune.md
        # full run: 56 min (3359 s) at nice 19 on 2 cores shared with a build, threads = 1
    python benches/bench_hmc_tune.py --quick      # smoke run (1/10 budgets, 2 seeds)

Question (issue acceptance point): does mjhmc beat ct_hmc and hmc on ESS per gradient of x²
(worst coordinate) on at least two of the three figure targets (gaussian_aniso d=2 and d=100 with
condition number 1e6, rough_well d=2 with a=100, b=4) once every sampler is tuned for that
objective? The MJHMC authors tuned on the autocorrelation of x, not x².

Procedure, identical for every sampler on a target (conventions of benches/bench_hmc.py P10b:
exact start, multi-chain Geyer ESS of x² divided by all chains' gradients, worst coordinate;
jump samplers read on their time grid, the default ``Trace`` reading at the mean holding time):

1. Grid: 5 step sizes ε (target-specific, see GRIDS) × M ∈ {1, 2, 5, 10, 25, 50} ×
   β ∈ {0.003, 0.01, 0.03, 0.1, 0.3, 0.9} (jump samplers get ``beta=``, i.e. a full refresh at rate
   λ = −ln(1−β)/2): 180 settings.
2. Successive halving on a gradient budget: round 0 runs every setting with 20 chains and G0
   gradients (all chains together); each later round keeps the best third and triples the budget
   (180 @ G0 → 60 @ 3 G0 → 20 @ 9 G0 → 7 @ 27 G0); the best 3 of the last round go on. The run
   length in jumps/iterations is budget ÷ measured gradients per iteration (a 100-iteration pilot in
   round 0, the previous round's value afterwards), so each setting of each sampler spends the same
   number of gradients. Ranking: "resolved" settings first (worst-coordinate ESS of x² ≥ 5 per
   chain, i.e. integrated autocorrelation ≤ a fifth of a chain — from exact starts even a stuck
   sampler shows an ESS of about the number of chains — and ≥ 200 grid draws per chain), by ESS/grad
   of x² (worst coordinate); then the others by ESS of x².
   Every setting of every sampler sees the same starts and seeds in a round.
3. Confirmation: the 3 finalists of each sampler and the authors' tuned setting (mjhmc: the
   mjhmc setting; ct_hmc and hmc: the control's, as in P10b) with 100 chains, the same gradient
   budget GC per run and the same 3 seeds (same exact starts) for every sampler and row. The best
   setting of a sampler is the one of its 4 confirmed rows (resolved on every seed) with the highest
   mean ESS/grad of x² (worst coordinate); ratios carry the standard error of both means (first-order propagation).
   Picking the best of 4 on the same runs that report it favours every sampler alike (slightly).

Memory: the library records every iteration/jump, so runs are split into batches of chains (the
draws concatenated; chains are independent) and a batch's record is capped at MAX_RECORD_BYTES;
a run that hits the cap spends fewer gradients ("capped" in the tables; this lowers precision,
not the expectation). Long runs are read on a thinned grid (at most ESS_DRAWS draws per chain,
same rule for every sampler).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# the figure targets, the MJHMC authors' settings (eps, M, beta) and the target constructor of the
# main hmc bench (this script runs from benches/, which is then first on sys.path)
from bench_hmc import TARGETS, TUNED, make_target

import boltzkit
from boltzkit import hmc
from boltzkit.errors import BoltzkitError

SAMPLERS = ("mjhmc", "ct_hmc", "hmc")
JUMP = ("mjhmc", "ct_hmc")

# stiffest direction of the Gaussians has precision 1 (leapfrog stable for ε < 2); the rough well's
# ripples have curvature up to (2π/b)² ≈ 2.5 and the authors' mjhmc used ε = 3
GRIDS = {"gaussian": (0.6, 0.85, 1.1, 1.4, 1.8), "rough_well": (0.5, 1.0, 1.5, 2.0, 3.0)}
M_GRID = (1, 2, 5, 10, 25, 50)
BETA_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 0.9)
# a run is "resolved" when its worst-coordinate ESS of x² is at least 5 per chain (from exact starts
# even a stuck sampler shows an ESS of about the number of chains) and its grid has >= MIN_GRID draws
# per chain (a jump sampler with a few very long holding times gets a short grid)
RESOLVED_PER_CHAIN, MIN_GRID = 5.0, 200
SEARCH_CHAINS, CONFIRM_CHAINS = 20, 100
MAX_RECORD_BYTES = 6e8  # per sample() call: chains × iterations × (8 d + 25) bytes
# per target: G0 (search round 0, gradients per setting, all chains), GC (confirmation, per run),
# chains per sample() call, and the cap on grid draws per chain used for the ESS
BUDGETS: dict[str, dict[str, float]] = {
    "gaussian_aniso d=2, 1e6": {"g0": 2e6, "gc": 5e7, "batch": 20, "ess_draws": 10_000},
    "gaussian_aniso d=100, 1e6": {"g0": 1e6, "gc": 2e7, "batch": 10, "ess_draws": 2_000},
    "rough_well d=2": {"g0": 1e6, "gc": 5e7, "batch": 20, "ess_draws": 10_000},
}

Setting = tuple[float, int, float]


@dataclass
class Result:
    """One measurement (one setting, one seed)."""

    x2w: float  # ESS/grad of x², worst coordinate
    x2m: float  # ESS/grad of x², mean over coordinates
    xw: float  # ESS/grad of x, worst coordinate (nan when not computed)
    ess_x2w: float  # ESS of x², worst coordinate
    gpi: float  # gradients per iteration (per jump for the jump samplers)
    grads: float  # gradients spent, all chains
    n: int  # iterations/jumps per chain
    length: int  # grid draws per chain used for the ESS
    chains: int
    capped: bool
    flip: float  # fraction of F moves (rejections)
    refresh: float  # fraction of R moves (jump samplers)
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def resolved(self) -> bool:
        return math.isfinite(self.x2w) and self.ess_x2w >= RESOLVED_PER_CHAIN * self.chains and self.length >= MIN_GRID


def run_kw(meth: str, s: Setting, n: int, x0: np.ndarray, seed: int) -> dict[str, Any]:
    eps, m, beta = s
    return {"method": meth, "n_samples": n, "n_chains": x0.shape[0], "step_size": eps, "n_leapfrog": m, "beta": beta,
            "x0": x0, "seed": seed, "threads": 1, "progress": False}  # fmt: skip


def pilot_gpi(target: hmc.BuiltinTarget, meth: str, s: Setting, x0: np.ndarray, seed: int) -> float:
    """Gradients per iteration/jump from a 100-iteration run (not counted in any ESS)."""
    try:
        tr = hmc.sample(target, **run_kw(meth, s, 100, x0[:10], seed))
    except BoltzkitError:
        return float(s[1])
    return max(float(tr.n_grad.mean()) / 100.0, 0.05)


def measure(target: hmc.BuiltinTarget, meth: str, s: Setting, x0: np.ndarray, seed: int, grads: float, gpi: float,
            budget: dict[str, float], with_x: bool = False) -> Result:  # fmt: skip
    """Run ``meth`` at setting ``s`` from ``x0`` (one row per chain) for about ``grads`` gradients."""
    n_chains, d = x0.shape
    batch = int(min(budget["batch"], n_chains))
    n_max = int(MAX_RECORD_BYTES // (batch * (8 * d + 25)))
    n_want = math.ceil(grads / n_chains / gpi)
    n = int(min(max(n_want, 100), n_max))
    k = max(1, math.ceil(n / budget["ess_draws"]))  # grid thinning
    parts, spent, t_total, dt, flip, refresh = [], 0.0, 0.0, 0.0, [], []
    try:
        for b in range(0, n_chains, batch):
            tr = hmc.sample(target, **run_kw(meth, s, n, x0[b : b + batch], seed * 1000 + b))
            spent += float(tr.n_grad.sum())
            mf = tr.move_fractions
            flip.append(mf["F"])
            refresh.append(mf.get("R", 0.0))
            if tr.tau is not None:
                if b == 0:
                    dt = tr.mean_holding_time * k
                t_total += float(tr.total_time.sum())
                parts.append(tr.on_grid(dt))
            else:
                parts.append(tr.records[:, ::k])
            del tr
    except BoltzkitError as e:
        nan = math.nan
        return Result(nan, nan, nan, nan, gpi, spent, n, 0, n_chains, n < n_want, nan, nan, error=f"{type(e).__name__}: {e}")
    length = min(p.shape[1] for p in parts)
    draws = np.ascontiguousarray(np.concatenate([p[:, :length] for p in parts]))
    del parts
    gpd = spent / t_total * dt if meth in JUMP else spent / (n_chains * n) * k
    cost = gpd * n_chains * length
    e2 = hmc.ess(draws, square=True, threads=1)
    xw = float(hmc.ess(draws, threads=1).min() / cost) if with_x else math.nan
    return Result(x2w=float(e2.min() / cost), x2m=float(e2.mean() / cost), xw=xw, ess_x2w=float(e2.min()),
                  gpi=spent / (n_chains * n), grads=spent, n=n, length=length, chains=n_chains, capped=n < n_want,
                  flip=float(np.mean(flip)),
                  refresh=float(np.mean(refresh)))  # fmt: skip


def rec_resolved(r: dict[str, Any]) -> bool:
    """:attr:`Result.resolved` of a logged record."""
    ok = math.isfinite(r["x2w"]) and r["ess_x2w"] >= RESOLVED_PER_CHAIN * r["chains"]
    return bool(ok and r["length"] >= MIN_GRID)


def keep_schedule(n: int) -> list[int]:
    """Survivors after each round: a third (rounded up) while more than 9 are left, then 3."""
    keep = []
    while n > 9:
        n = math.ceil(n / 3)
        keep.append(n)
    return [*keep, 3]


def rank_key(r: Result) -> tuple[int, float]:
    """Resolved runs first, by ESS/grad of x² (worst coordinate); then unresolved ones with a long
    enough grid, by ESS of x² (equal budgets: the same order unless capped); then the rest."""
    if not math.isfinite(r.x2w):
        return (0, -math.inf)
    if r.resolved:
        return (3, r.x2w)
    if r.length >= MIN_GRID:
        return (2, r.ess_x2w)
    return (1, r.ess_x2w)


def search(target: hmc.BuiltinTarget, tname: str, meth: str, grid: list[Setting], g0: float,
           budget: dict[str, float]) -> list[dict[str, Any]]:  # fmt: skip
    """Successive halving; returns one record per (round, setting)."""
    log: list[dict[str, Any]] = []
    cands = list(grid)
    gpi: dict[Setting, float] = {}
    g = g0
    for rnd, keep in enumerate(keep_schedule(len(grid))):
        x0 = target.exact_sample(SEARCH_CHAINS, seed=10_000 + rnd)
        res: dict[Setting, Result] = {}
        for s in cands:
            if s not in gpi:
                gpi[s] = pilot_gpi(target, meth, s, x0, seed=999)
            res[s] = measure(target, meth, s, x0, seed=100 + rnd, grads=g, gpi=gpi[s], budget=budget)
            gpi[s] = res[s].gpi if math.isfinite(res[s].gpi) and res[s].gpi > 0 else gpi[s]
            log.append({"target": tname, "sampler": meth, "round": rnd, "budget": g, "setting": s, **asdict(res[s])})
        cands = sorted(cands, key=lambda s: rank_key(res[s]), reverse=True)[:keep]
        for i, s in enumerate(cands):
            for rec in log:
                if rec["round"] == rnd and rec["setting"] == s:
                    rec["rank"] = i
        g *= 3
    return log


# ------------------------------------------------------------------------------------------------
# statistics and formatting


def ms(v: Iterable[float]) -> tuple[float, float]:
    a = np.asarray(list(v), dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else math.nan


def ratio(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    r = a[0] / b[0]
    return r, abs(r) * math.hypot(a[1] / a[0], b[1] / b[0])


def f4(v: Iterable[float]) -> str:
    """Mean ± s.e. in units of 1e-4."""
    m, s = ms(v)
    return "n/a" if not math.isfinite(m) else f"{1e4 * m:.3g} ± {1e4 * s:.2g}"


def fs(s: Setting) -> str:
    return f"{s[0]:g}, {s[1]}, {s[2]:g}"


# ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: budgets ÷ 10, 2 confirmation seeds")
    ap.add_argument("--seeds", type=int, default=None, help="confirmation seeds (default 3, quick 2)")
    ap.add_argument("--targets", nargs="*", choices=list(TARGETS), default=list(TARGETS))
    ap.add_argument("--json", default=None, help="write every measurement here")
    args = ap.parse_args()
    seeds = args.seeds or (2 if args.quick else 3)
    scale = 0.1 if args.quick else 1.0
    boltzkit.set_num_threads(1)
    t_start = time.perf_counter()
    print(f"machine: {platform.machine()}, boltzkit threads 1, numpy {np.__version__}"
          f"{', --quick (budgets ÷ 10)' if args.quick else ''}\n")  # fmt: skip
    n_grid = len(M_GRID) * len(BETA_GRID) * 5
    print(f"Grid: M ∈ {M_GRID}, β ∈ {BETA_GRID}, 5 step sizes per target (below); successive halving "
          f"{n_grid} → {' → '.join(map(str, keep_schedule(n_grid)))}, budget ×3 per round; "
          f"{SEARCH_CHAINS} chains in the search, {CONFIRM_CHAINS} chains × {seeds} seeds in the confirmation. "
          "ESS/grad values are in units of 1e-4.\n")  # fmt: skip
    log: list[dict[str, Any]] = []
    summary: list[tuple[str, dict[str, Any]]] = []
    for tname in args.targets:
        t = TARGETS[tname]
        target = make_target(t)
        budget = BUDGETS[tname]
        g0, gc = budget["g0"] * scale, budget["gc"] * scale
        eps_grid = GRIDS[t["name"]]
        grid = [(e, m, b) for e in eps_grid for m in M_GRID for b in BETA_GRID]
        last_round = len(keep_schedule(len(grid))) - 1
        t0 = time.perf_counter()
        finalists: dict[str, list[Setting]] = {}
        tlog: list[dict[str, Any]] = []
        for meth in SAMPLERS:
            recs = search(target, tname, meth, grid, g0, budget)
            tlog += recs
            last = [r for r in recs if r["round"] == last_round and "rank" in r]
            finalists[meth] = [r["setting"] for r in sorted(last, key=lambda r: r["rank"])]
        t_search = time.perf_counter() - t0
        log += tlog
        print(f"## {tname}\n")
        print(f"ε grid {eps_grid}; search budget G0 = {g0:.3g} gradients per setting in round 0 (all "
              f"{SEARCH_CHAINS} chains), ×3 per round; confirmation budget {gc:.3g} gradients per run "
              f"({CONFIRM_CHAINS} chains). Search: {t_search:.0f} s.\n")  # fmt: skip
        # landscape: round 0, best resolved ESS/grad per M and per beta
        r0 = [r for r in tlog if r["round"] == 0]
        print("### Search, round 0: best ESS/grad x² (worst coord.) over the other two parameters (resolved "
              f"runs only: ESS x² ≥ {RESOLVED_PER_CHAIN:g} per chain and ≥ {MIN_GRID} grid draws per chain; "
              "'–' none resolved)\n")  # fmt: skip
        for pname, idx, vals in (("M", 1, M_GRID), ("β", 2, BETA_GRID), ("ε", 0, eps_grid)):
            print(f"| sampler | resolved / {len(grid)} | " + " | ".join(f"{pname} {v:g}" for v in vals) + " |")
            print("|---|---|" + "---|" * len(vals))
            for meth in SAMPLERS:
                rs = [r for r in r0 if r["sampler"] == meth]
                n_res = sum(1 for r in rs if rec_resolved(r))
                cells = []
                for v in vals:
                    ok = [r["x2w"] for r in rs if r["setting"][idx] == v and rec_resolved(r)]
                    cells.append(f"{1e4 * max(ok):.3g}" if ok else "–")
                print(f"| {meth} | {n_res} | " + " | ".join(cells) + " |")
            print()
        print(f"### Search, last round (budget {3**last_round} G0): the 3 finalists per sampler\n")
        print("| sampler | rank | ε, M, β | ESS/grad x² worst | ESS x² worst | grid draws/chain | grads/iter | "
              "F fraction | R fraction | resolved | capped |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for meth in SAMPLERS:
            for i, s in enumerate(finalists[meth]):
                r = next(r for r in tlog if r["sampler"] == meth and r["round"] == last_round and r["setting"] == s)
                print(f"| {meth} | {i + 1} | {fs(s)} | {1e4 * r['x2w']:.3g} | {r['ess_x2w']:.0f} | {r['length']} | "
                      f"{r['gpi']:.1f} | {r['flip']:.3f} | {r['refresh']:.4f} | {'yes' if rec_resolved(r) else 'no'} | "
                      f"{'yes' if r['capped'] else ''} |")  # fmt: skip
        print()
        # confirmation
        t1 = time.perf_counter()
        conf: dict[tuple[str, str], list[Result]] = {}
        settings: dict[tuple[str, str], Setting] = {}
        for meth in SAMPLERS:
            authors = TUNED[t["name"]]["mjhmc" if meth == "mjhmc" else "control"]
            cands = [(f"search #{i + 1}", s) for i, s in enumerate(finalists[meth])] + [("authors", authors)]
            for label, s in cands:
                x0p = target.exact_sample(CONFIRM_CHAINS, seed=19_999)
                prev = next((r["gpi"] for r in tlog if r["sampler"] == meth and r["setting"] == s
                             and r["round"] == last_round), None)  # fmt: skip
                gpi = prev if prev is not None else pilot_gpi(target, meth, s, x0p, seed=998)
                out = []
                for sd in range(seeds):
                    x0 = target.exact_sample(CONFIRM_CHAINS, seed=20_000 + sd)
                    out.append(measure(target, meth, s, x0, seed=sd, grads=gc, gpi=gpi, budget=budget, with_x=True))
                conf[(meth, label)] = out
                settings[(meth, label)] = s
                log += [{"target": tname, "sampler": meth, "confirm": label, "setting": s, "seed": sd, **asdict(r)}
                        for sd, r in enumerate(out)]  # fmt: skip
        t_conf = time.perf_counter() - t1
        best: dict[str, str] = {}
        for meth in SAMPLERS:  # over the finalists and the authors' setting, the same for every sampler
            labels = [lb for (mm, lb) in conf if mm == meth]
            ok = [lb for lb in labels if all(r.resolved for r in conf[(meth, lb)])] or labels
            best[meth] = max(ok, key=lambda lb: ms(r.x2w for r in conf[(meth, lb)])[0])
        print(f"### Confirmation ({CONFIRM_CHAINS} chains, {seeds} seeds, same starts and gradient budget for "
              f"every row; mean ± s.e.; best = highest mean ESS/grad x² worst among the rows resolved on every "
              f"seed; {t_conf:.0f} s)\n")  # fmt: skip
        print("| sampler | setting | ε, M, β | ESS/grad x² worst | ESS/grad x² mean | ESS/grad x worst | "
              "ESS x² worst | grid draws/chain | grads/iter | F fraction | R fraction | resolved seeds | "
              "capped |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for (meth, label), out in conf.items():
            tag = " **(best)**" if best[meth] == label else ""
            cap = sum(r.capped for r in out)
            err = sum(1 for r in out if r.error)
            print(f"| {meth} | {label}{tag} | {fs(settings[(meth, label)])} | {f4(r.x2w for r in out)} | "
                  f"{f4(r.x2m for r in out)} | {f4(r.xw for r in out)} | {ms(r.ess_x2w for r in out)[0]:.0f} | "
                  f"{min(r.length for r in out)} | {ms(r.gpi for r in out)[0]:.1f} | {ms(r.flip for r in out)[0]:.3f} | "
                  f"{ms(r.refresh for r in out)[0]:.4f} | {sum(r.resolved for r in out)}/{len(out)} | "
                  f"{f'{cap}/{len(out)}' if cap else ''}"
                  f"{f' ({err} failed)' if err else ''} |")  # fmt: skip
        print()
        row: dict[str, Any] = {"best": {}, "ratios": {}}
        for kind, pick in (("tuned", best), ("authors", dict.fromkeys(SAMPLERS, "authors"))):
            mj = conf[("mjhmc", pick["mjhmc"])]
            for other in ("ct_hmc", "hmc"):
                ot = conf[(other, pick[other])]
                row["ratios"][(kind, other, "x2w")] = ratio(ms(r.x2w for r in mj), ms(r.x2w for r in ot))
                row["ratios"][(kind, other, "x2m")] = ratio(ms(r.x2m for r in mj), ms(r.x2m for r in ot))
                row["ratios"][(kind, other, "xw")] = ratio(ms(r.xw for r in mj), ms(r.xw for r in ot))
        for meth in SAMPLERS:
            out = conf[(meth, best[meth])]
            row["best"][meth] = (best[meth], settings[(meth, best[meth])], f4(r.x2w for r in out),
                                 f4(r.x2m for r in out), f4(r.xw for r in out))  # fmt: skip
        summary.append((tname, row))
        print(f"<!-- {tname}: {time.perf_counter() - t0:.0f} s -->\n", flush=True)
    # ---------------------------------------------------------------------------------------------
    print("## Summary: best setting of each sampler (confirmation runs, ESS/grad in 1e-4)\n")
    print("| target | sampler | row | ε, M, β | ESS/grad x² worst | ESS/grad x² mean | ESS/grad x worst |")
    print("|---|---|---|---|---|---|---|")
    for tname, row in summary:
        for meth in SAMPLERS:
            lb, s, a, b, c = row["best"][meth]
            print(f"| {tname} | {meth} | {lb} | {fs(s)} | {a} | {b} | {c} |")
    print()
    print("## Ratios mjhmc ÷ other (ratio ± s.e.; 'tuned': each sampler's best setting from this search; "
          "'authors': the MJHMC authors' settings, control's for ct_hmc and hmc)\n")  # fmt: skip
    print("| target | settings | ÷ ct_hmc, x² worst | ÷ hmc, x² worst | ÷ ct_hmc, x² mean | ÷ hmc, x² mean | "
          "÷ ct_hmc, x worst | ÷ hmc, x worst | mjhmc beats both on x² worst (1 s.e. / 2 s.e.) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    counts = {("tuned", 1): 0, ("tuned", 2): 0, ("authors", 1): 0, ("authors", 2): 0}
    for tname, row in summary:
        for kind in ("tuned", "authors"):
            rr = row["ratios"]
            cells = [f"{rr[(kind, o, q)][0]:.2f} ± {rr[(kind, o, q)][1]:.2f}" for q in ("x2w", "x2m", "xw")
                     for o in ("ct_hmc", "hmc")]  # fmt: skip
            beat = {z: all(rr[(kind, o, "x2w")][0] - z * rr[(kind, o, "x2w")][1] > 1 for o in ("ct_hmc", "hmc"))
                    for z in (1, 2)}  # fmt: skip
            for z in (1, 2):
                counts[(kind, z)] += beat[z]
            print(f"| {tname} | {kind} | " + " | ".join(cells) +
                  f" | {'yes' if beat[1] else 'no'} / {'yes' if beat[2] else 'no'} |")  # fmt: skip
    print()
    n_t = len(summary)
    print(f"mjhmc beats both ct_hmc and hmc on ESS/grad of x² (worst coordinate), ratio − 1 s.e. > 1: "
          f"{counts[('tuned', 1)]} of {n_t} targets with every sampler tuned for x² "
          f"({counts[('tuned', 2)]} at 2 s.e.); {counts[('authors', 1)]} of {n_t} with the authors' settings "
          f"({counts[('authors', 2)]} at 2 s.e.).\n")  # fmt: skip
    print(f"Total wall time: {time.perf_counter() - t_start:.0f} s.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(log, f, default=str)


if __name__ == "__main__":
    main()
