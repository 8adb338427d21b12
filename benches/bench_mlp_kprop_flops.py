"""MSE against FLOPs for kprop K = 1…4 and Monte Carlo: the paper's figure (issue 15 point 3).

Results in benches/RESULTS.md, section "Issue 15 point 3". The commands behind them (one process at a
time; the package as built in the main checkout, ``OPENBLAS_NUM_THREADS=1``):

    python benches/bench_mlp_kprop_flops.py --plot benches/figures --json kprop_flops.json
    python benches/bench_mlp_kprop_flops.py --acts relu --widths 16 32 64 128 256 --max-seconds 150 \
        --json kprop_flops_relu.json
    python benches/bench_mlp_kprop_flops.py --acts tanh --widths 16 32 64 --ks 4 --json kprop_flops_tanh_k4.json
    python benches/bench_mlp_kprop_flops.py --widths 4 8 --json kprop_flops_small.json
    python benches/bench_mlp_kprop_flops.py --plot benches/figures \
        --from-json kprop_flops.json kprop_flops_relu.json kprop_flops_tanh_k4.json

The first is the whole grid (widths 16–1024, relu and tanh, 3 nets each, every K the package has);
the others add what it could not have (K = 4 appeared in the package during it; the relu fallback
columns; K = 3 augment at relu n = 256 with a longer time limit) and widths below 16 (crossovers).
``--from-json`` re-makes the tables and figures from saved runs without measuring again; when files
hold the same (act, n, seed, K, kind), the later file's (scored against its own truth) is used.
A quick smoke test:

    python benches/bench_mlp_kprop_flops.py --widths 16 32 --seeds 1 --truth-seconds 5 --plot /tmp/fig

Design. Per activation (relu: He init, no bias; tanh: critical init q* = 1 with its bias variance,
because a bias-free tanh net has E y = 0 exactly by symmetry and every estimator is then exact), per
width n (square nets ``[n] * (depth + 1)``, ``depth`` linear layers, n outputs) and per net seed
(``random_mlp(..., seed=1000 n + s)``):

* every ``(K, kind)`` of ``mlp.KPROP_IMPLEMENTED`` (read at run time: K = 4 is picked up as soon as
  the package lists it) runs ``net.estimate("kprop", k_max=K, kind=kind, avg_metric=False)``, unless
  its top cumulant tensor (``8 n^K`` bytes for K >= 3 augment) exceeds ``--max-tensor-gb``, or its run time
  predicted from the smaller widths (exponent ``max(K + 1, measured)``) exceeds ``--max-seconds``,
  or the package refuses the width (K = 3 augment: n <= 256, K = 4 augment: n <= 128; K = 3 simple
  keeps the third cumulant in factored form, no ``n^3`` tensor, and runs to n = 1024, K = 4 simple
  the fourth, no ``n^4`` tensor, to n = 256); each skip is printed with its reason;
* an estimate that fell back to a lower order (``diagnostics["fallback"]`` set: the K estimate had a
  non-finite variance or a mean outside the activation's range, or, before the library kept kprop's
  means, a negative variance) is scored as returned (the fallback's mean) but charged the FLOPs of
  the discarded K estimate plus the fallback's, and flagged (``fb`` in the tables, a black cross in
  the figure); a kprop estimate flagged ``reliable=False`` that kept its own means (a negative
  variance set to 0) is scored and charged as itself; the core's own K estimate of those seeds (what the reference code returns,
  read from ``_core.mlp_estimate`` as in ``bench_mlp_reference.py``) is scored too, in the columns
  "before the fallback" (a ``+`` in the figure);
* the truth is Monte Carlo of the output means in doubling chunks (``--truth-min`` samples first),
  stopped as soon as the best estimate's raw MSE is ``--truth-ratio`` times the truth's noise floor
  ``mean(SE²)``, or at ``--truth-samples`` samples, or when the next chunk would pass
  ``--truth-seconds`` for the net (then the last chunk fills the remaining time);
* per estimate: MSE = mean over the output neurons of (est − truth)² minus the floor (at least
  floor / 10), relative to Var = the mean per-neuron output variance of the truth run; "truth-limited"
  when the raw MSE is below 10 × floor (the library's rule): then only an upper bound on the MSE and a
  lower bound on the speedup are known, computed with the raw MSE, and printed as ``≤`` / ``≥``.
  Speedup at equal FLOPs = Var · flops_per_sample / (MSE · FLOPs_est): > 1 means the estimator beats
  Monte Carlo (whose MSE/Var after F FLOPs is flops_per_sample / F). FLOPs are the library's counts
  (``Estimate.flops``, ``MLP.flops_per_sample``), not wall-clock time.

Per (act, n, K, kind) the geometric means over the seeds are reported (a bound when any seed is
truth-limited); per (act, K, kind) the crossover width: the smallest n from which the speedup stays
above 1, interpolated in log n between the grid widths around it (or "beats MC at every width" /
"never"), over the widths where that estimator ran.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

import numpy as np
import numpy.typing as npt

from boltzkit import _core, mlp
from boltzkit._validate import MAX_STEPS
from boltzkit.errors import InvalidArgumentError

F64 = npt.NDArray[np.float64]


class EstRecord(TypedDict):
    k: int
    kind: str
    mse_raw: float
    flops: float
    seconds: float
    reliable: bool
    fallback: str | None
    #: fallback seeds only: MSE (raw) and FLOPs of the core's own K estimate before the fallback
    raw_mse: NotRequired[float | None]
    raw_flops: NotRequired[float | None]


class NetRecord(TypedDict):
    act: str
    n: int
    seed: int
    net_seed: int
    flops_per_sample: float
    var: float
    floor: float
    truth_n: int
    truth_seconds: float
    truth_chunks: int
    truth_stop: str
    ests: list[EstRecord]
    #: which --from-json file it came from (set when files are merged)
    source: NotRequired[int]


class Skip(TypedDict):
    act: str
    n: int
    k: int
    kind: str
    reason: str


class Row(TypedDict):
    act: str
    n: int
    k: int
    kind: str
    seeds: int
    rel_mse: float
    flops: float
    mc_rel_mse_equal_flops: float
    speedup: float
    #: any seed truth-limited: rel_mse is an upper bound and speedup a lower bound
    bound: bool
    limited: int
    fallback: int
    seconds: float
    #: rows with a fallback: the same with the core's own K estimates of those seeds (None: not available)
    raw_rel_mse: float | None
    raw_speedup: float | None
    raw_bound: bool


class Crossover(TypedDict):
    act: str
    k: int
    kind: str
    widths: list[int]
    n_star: float | None
    text: str
    #: the same with the core's own K estimates on the fallback seeds (what the reference returns)
    raw_n_star: float | None
    raw_text: str


def _speed(r: Row, raw: bool) -> tuple[float, bool]:
    """(speedup, is a lower bound): the library's (fallback charged), or the core's own K estimate's."""
    if raw and r["raw_speedup"] is not None:
        return r["raw_speedup"], r["raw_bound"]
    return r["speedup"], r["bound"]


def _crossing(rs: list[Row], raw: bool) -> tuple[float | None, str]:
    """The smallest width from which the speedup stays above 1 (rows sorted by width)."""
    ws = [r["n"] for r in rs]
    sp = [_speed(r, raw) for r in rs]
    rng = f"n = {ws[0]}–{ws[-1]}" if len(ws) > 1 else f"n = {ws[0]}"
    # beats: True (measured > 1 or a lower bound > 1), False (measured ≤ 1), None (a lower bound ≤ 1: unknown)
    beats: list[bool | None] = [True if q > 1 else (None if b else False) for q, b in sp]
    i = len(rs)
    while i > 0 and beats[i - 1] is True:
        i -= 1
    if i == 0:
        return None, f"< {ws[0]}: beats MC at every width measured ({rng})"
    if i == len(rs):
        return None, (
            f"never beats MC ({rng})" if beats[-1] is False else f"unresolved at n = {ws[-1]} (speedup ≥ {sp[-1][0]:.2g})"
        )
    if beats[i - 1] is None:
        return None, f"between n = {ws[i - 1]} (unresolved) and n = {ws[i]}"
    (a, _), (b, hb) = sp[i - 1], sp[i]
    la, lb = math.log(a), math.log(b)
    frac = -la / (lb - la) if lb != la else 1.0
    n_star = math.exp(math.log(ws[i - 1]) + frac * (math.log(ws[i]) - math.log(ws[i - 1])))
    text = f"{'≤ ' if hb else ''}{n_star:.0f} (between n = {ws[i - 1]} and {ws[i]})"
    if any(beats[j] is True for j in range(i - 1)):
        text += "; also > 1 at a smaller width"
    return n_star, text


def _gmean(xs: list[float]) -> float:
    return float(math.exp(sum(math.log(max(x, 1e-300)) for x in xs) / len(xs)))


def _init(act: str) -> mlp.InitScheme:
    return "he" if act in ("relu", "gelu") else "critical"


def _init_text(act: str) -> str:
    return "He init, no bias" if _init(act) == "he" else "critical init q* = 1 with its bias variance"


def _kinds(args: argparse.Namespace) -> list[tuple[int, mlp.KpropKind]]:
    out: list[tuple[int, mlp.KpropKind]] = []
    for k, kind in mlp.KPROP_IMPLEMENTED:
        if kind in args.kinds and (args.ks is None or k in args.ks):
            out.append((int(k), cast(mlp.KpropKind, kind)))
    return out


# --------------------------------------------------------------------------- measuring
class Timer:
    """Per (act, K, kind): the slowest run at each width, to predict the next width's time."""

    def __init__(self) -> None:
        self.times: dict[tuple[str, int, str], dict[int, float]] = {}

    def add(self, act: str, k: int, kind: str, n: int, seconds: float) -> None:
        d = self.times.setdefault((act, k, kind), {})
        d[n] = max(d.get(n, 0.0), seconds)

    def predict(self, act: str, k: int, kind: str, n: int) -> float | None:
        d = {w: t for w, t in self.times.get((act, k, kind), {}).items() if w < n}
        if not d:
            return None
        ws = sorted(d)
        expo = float(k + 1)
        if len(ws) >= 2 and d[ws[-2]] >= 0.05:
            expo = max(expo, math.log(d[ws[-1]] / d[ws[-2]]) / math.log(ws[-1] / ws[-2]))
        return float(d[ws[-1]] * (n / ws[-1]) ** expo)


def _skip_reason(args: argparse.Namespace, timer: Timer, act: str, n: int, k: int, kind: str) -> str | None:
    if k >= 3 and kind != "simple":  # K = 3 and 4 simple keep their top cumulant factored
        gb = 8.0 * float(n) ** k / 1e9
        if gb > args.max_tensor_gb:
            return f"memory: the K = {k} tensor of n^{k} float64 is {gb:.3g} GB > {args.max_tensor_gb:g} GB"
    pred = timer.predict(act, k, kind, n)
    if pred is not None and pred > args.max_seconds:
        return f"time: predicted {pred:.3g} s per estimate > {args.max_seconds:g} s (from the smaller widths)"
    return None


def _run_estimate(net: mlp.MLP, k: int, kind: mlp.KpropKind, threads: int | None) -> tuple[mlp.Estimate, float]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the fallback is recorded from diagnostics
        est = net.estimate("kprop", k_max=k, kind=kind, avg_metric=False, threads=threads)
    return est, time.perf_counter() - t0


def _raw_core(net: mlp.MLP, k: int, kind: str, threads: int | None) -> tuple[F64, float] | None:
    """Output means and FLOPs of the kprop core before the library's negative-variance fallback (what
    the reference code returns; the same call as ``benches/bench_mlp_reference.py``). None when the
    core refuses it (a private API)."""
    if k == 1:
        method = "kprop1"
    elif k == 2:
        method = "kprop2_augment" if kind == "augment" else "cov_prop"
    else:
        method = f"kprop{k}_{kind}"
    try:
        r = _core.mlp_estimate(net._tuple(), method, 1, False, threads, None)
    except Exception:  # any failure only loses the extra column
        return None
    return np.asarray(r["pre_mean"][-1]), float(sum(r["flops_by_layer"]))


def _truth(net: mlp.MLP, means: list[F64], args: argparse.Namespace, mc_seed: int) -> tuple[F64, F64, int, float, int, str]:
    """Pooled Monte Carlo chunks; returns (mean, per-neuron variance, N, seconds, chunks, why it stopped)."""
    chunks: list[tuple[int, F64, F64]] = []
    spent = 0.0
    size = args.truth_min
    t_start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        mc = net.monte_carlo(n_samples=size, batch=args.batch, seed=mc_seed + len(chunks), threads=args.threads, progress=False)
        spent += time.perf_counter() - t0
        chunks.append((size, np.asarray(mc.means[-1]), np.asarray(mc.variances[-1])))
        n_tot = sum(c[0] for c in chunks)
        mean = np.asarray(sum(c[0] * c[1] for c in chunks) / n_tot)
        var = np.asarray(sum(c[0] * (c[2] + (c[1] - mean) ** 2) for c in chunks) / n_tot)
        floor = float(np.mean(var)) / n_tot
        if not means:
            why = "no estimator ran"
            break
        best = min(float(np.mean((m - mean) ** 2)) for m in means)
        if best >= args.truth_ratio * floor:
            why = "resolved"
            break
        if n_tot >= args.truth_samples:
            why = "max samples"
            break
        remaining = args.truth_seconds - (time.perf_counter() - t_start)
        nxt = min(n_tot, args.truth_samples - n_tot, int(remaining * n_tot / max(spent, 1e-9)))
        # one call may take at most MAX_STEPS steps (about an hour); keep chunks well under it
        w = net.widths
        per = sum(2 * w[i + 1] * w[i] + 2 * w[i + 1] for i in range(len(w) - 1))
        nxt = min(nxt, MAX_STEPS // (2 * per))
        nxt = nxt // args.batch * args.batch
        if nxt < max(args.batch, n_tot // 4):
            why = "time budget"
            break
        size = nxt
    return mean, var, n_tot, time.perf_counter() - t_start, len(chunks), why


def measure(args: argparse.Namespace) -> tuple[list[NetRecord], list[Skip]]:
    nets: list[NetRecord] = []
    skips: list[Skip] = []
    timer = Timer()
    pairs = _kinds(args)
    t_run = time.perf_counter()
    for act in args.acts:
        for n in args.widths:
            skipped: dict[tuple[int, str], str] = {}
            for k, kind in pairs:
                why = _skip_reason(args, timer, act, n, k, kind)
                if why is not None:
                    skipped[(k, kind)] = why
            for s in range(args.seeds):
                net_seed = 1000 * n + s
                net = mlp.random_mlp([n] * (args.depth + 1), act=cast(mlp.Activation, act), init=_init(act), seed=net_seed)
                ests: list[tuple[int, str, mlp.Estimate, float]] = []
                for k, kind in pairs:
                    if (k, kind) in skipped:
                        continue
                    try:
                        est, sec = _run_estimate(net, k, kind, args.threads)
                    except InvalidArgumentError as e:
                        skipped[(k, kind)] = f"refused by the package: {e}"
                        continue
                    timer.add(act, k, kind, n, sec)
                    if sec > args.max_seconds:  # the other seeds of this width would take as long
                        skipped[(k, kind)] = f"time: one estimate took {sec:.3g} s > {args.max_seconds:g} s (seeds after {s})"
                    ests.append((k, kind, est, sec))
                raws = {
                    (k, kind): _raw_core(net, k, kind, args.threads)
                    for k, kind, est, _ in ests
                    if not est.diagnostics["reliable"]
                }
                mean, var, n_tot, t_mc, n_chunks, stop = _truth(
                    net,
                    [e[2].mean for e in ests] + [r[0] for r in raws.values() if r is not None],
                    args,
                    7_000_000 + 97 * net_seed,
                )
                v = float(np.mean(var))
                floor = v / n_tot
                recs: list[EstRecord] = []
                for ke, kinde, est, sec in ests:
                    er: EstRecord = {
                        "k": ke,
                        "kind": kinde,
                        "mse_raw": float(np.mean((est.mean - mean) ** 2)),
                        "flops": est.flops,
                        "seconds": sec,
                        "reliable": bool(est.diagnostics["reliable"]),
                        "fallback": est.diagnostics["fallback"],
                    }
                    if (ke, kinde) in raws:
                        raw = raws[(ke, kinde)]
                        er["raw_mse"] = None if raw is None else float(np.mean((raw[0] - mean) ** 2))
                        er["raw_flops"] = None if raw is None else raw[1]
                    recs.append(er)
                nets.append(
                    {
                        "act": act,
                        "n": n,
                        "seed": s,
                        "net_seed": net_seed,
                        "flops_per_sample": net.flops_per_sample,
                        "var": v,
                        "floor": floor,
                        "truth_n": n_tot,
                        "truth_seconds": t_mc,
                        "truth_chunks": n_chunks,
                        "truth_stop": stop,
                        "ests": recs,
                    }
                )
                best = min((r["mse_raw"] for r in recs), default=math.nan)
                print(
                    f"# {act} n={n} seed {s}: truth N={n_tot} ({n_chunks} chunks, {t_mc:.1f} s, {stop}), "
                    f"floor/Var {floor / v:.2e}, "
                    f"best raw MSE/Var {best / v:.2e}; estimates {sum(r['seconds'] for r in recs):.1f} s; "
                    f"elapsed {time.perf_counter() - t_run:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            for (k_s, kind_s), why in skipped.items():
                skips.append({"act": act, "n": n, "k": k_s, "kind": kind_s, "reason": why})
    return nets, skips


# --------------------------------------------------------------------------- summarising
def _per_seed(rec: NetRecord, raw: float, flops: float) -> tuple[float, float, bool]:
    """(MSE/Var, speedup, truth-limited) of one estimate: the floor subtracted, or the raw MSE as a bound."""
    var, floor = rec["var"], rec["floor"]
    lim = raw < 10 * floor
    mse = raw if lim else max(raw - floor, floor / 10, 1e-300)
    return mse / var, var * rec["flops_per_sample"] / (mse * flops), lim


def pick(nets: list[NetRecord]) -> list[tuple[NetRecord, EstRecord]]:
    """Every (net, estimate) pair; where merged files measured the same (act, n, seed, K, kind), the
    later file's (with its own truth) replaces the earlier one's."""
    best: dict[tuple[str, int, int, int, str], tuple[NetRecord, EstRecord]] = {}
    for rec in sorted(nets, key=lambda r: r.get("source", 0)):
        for e in rec["ests"]:
            best[(rec["act"], rec["n"], rec["seed"], e["k"], e["kind"])] = (rec, e)
    return list(best.values())


def aggregate(nets: list[NetRecord]) -> list[Row]:
    groups: dict[tuple[str, int, int, str], list[tuple[NetRecord, EstRecord]]] = {}
    for rec, e in pick(nets):
        groups.setdefault((rec["act"], rec["n"], e["k"], e["kind"]), []).append((rec, e))
    rows: list[Row] = []
    for (act, n, k, kind), items in groups.items():
        own = [e["flops"] for _, e in items if e["reliable"] or e.get("fallback") is None]
        rel, sp, fl, raw_rel, raw_sp = [], [], [], [], []
        limited = raw_limited = 0
        raw_ok = True
        for rec, e in items:
            # a fallback seed paid for the K estimate it discarded, then for the fallback; an estimate
            # flagged unreliable that kept its own means (kprop with a negative variance set to 0,
            # `fallback` None) paid for itself only
            if e["reliable"] or e.get("fallback") is None:
                flops = e["flops"]
            else:
                kf = e.get("raw_flops")
                flops = e["flops"] + (kf if kf is not None else max(own, default=0.0))
            r, q, lim = _per_seed(rec, e["mse_raw"], flops)
            rel.append(r)
            sp.append(q)
            fl.append(flops)
            limited += lim
            fell = not e["reliable"] and e["fallback"] is not None
            kmse, kflops = (e.get("raw_mse"), e.get("raw_flops")) if fell else (e["mse_raw"], e["flops"])
            if kmse is None or kflops is None:
                raw_ok = False
                continue
            r, q, lim = _per_seed(rec, kmse, kflops)
            raw_rel.append(r)
            raw_sp.append(q)
            raw_limited += lim
        fps = _gmean([rec["flops_per_sample"] for rec, _ in items])
        n_fb = sum(not e["reliable"] and e["fallback"] is not None for _, e in items)
        rows.append(
            {
                "act": act,
                "n": n,
                "k": k,
                "kind": kind,
                "seeds": len(items),
                "rel_mse": _gmean(rel),
                "flops": _gmean(fl),
                "mc_rel_mse_equal_flops": fps / _gmean(fl),
                "speedup": _gmean(sp),
                "bound": limited > 0,
                "limited": limited,
                "fallback": n_fb,
                "seconds": float(np.mean([e["seconds"] for _, e in items])),
                "raw_rel_mse": _gmean(raw_rel) if n_fb and raw_ok else None,
                "raw_speedup": _gmean(raw_sp) if n_fb and raw_ok else None,
                "raw_bound": raw_limited > 0,
            }
        )
    rows.sort(key=lambda r: (r["act"], r["k"], r["kind"] != "simple", r["n"]))
    return rows


def crossovers(rows: list[Row]) -> list[Crossover]:
    groups: dict[tuple[str, int, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r["act"], r["k"], r["kind"]), []).append(r)
    out: list[Crossover] = []
    for (act, k, kind), group in groups.items():
        rs = sorted(group, key=lambda r: r["n"])
        n_star, text = _crossing(rs, raw=False)
        raw_n_star, raw_text = _crossing(rs, raw=True)
        ws = [r["n"] for r in rs]
        out.append(
            {
                "act": act,
                "k": k,
                "kind": kind,
                "widths": ws,
                "n_star": n_star,
                "text": text,
                "raw_n_star": raw_n_star,
                "raw_text": raw_text,
            }
        )
    out.sort(key=lambda c: (c["act"], c["k"], c["kind"] != "simple"))
    return out


def _frac(a: int, b: int, prefix: str = "") -> str:
    return f"{prefix}{a}/{b}" if a else ""


def _raw(r: Row) -> str:
    if r["raw_rel_mse"] is None or r["raw_speedup"] is None:
        return ""
    b = r["raw_bound"]
    return f"{'≤ ' if b else ''}{r['raw_rel_mse']:.3g}, {'≥ ' if b else ''}{r['raw_speedup']:.3g}"


def _sp(r: Row) -> str:
    return f"{'≥ ' if r['bound'] else ''}{r['speedup']:.3g}"


def print_tables(nets: list[NetRecord], skips: list[Skip], rows: list[Row], cross: list[Crossover], depth: int) -> None:
    used = {id(rec) for rec, _ in pick(nets)}
    nets = [rec for rec in nets if id(rec) in used]  # truths that some estimate is scored against
    for act in dict.fromkeys(rec["act"] for rec in nets):
        recs = [rec for rec in nets if rec["act"] == act]
        print(f"\n#### {act} ({_init_text(act)}), depth {depth}: the truths\n")
        print("| n | seeds | flops/sample | truth N per seed | floor/Var (gmean) | MC seconds per seed | stopped |")
        print("|---|---|---|---|---|---|---|")
        multi = len({rec.get("source", 0) for rec in nets}) > 1
        for n, src in sorted(dict.fromkeys((rec["n"], rec.get("source", 0)) for rec in recs)):
            rn = [rec for rec in recs if rec["n"] == n and rec.get("source", 0) == src]
            ran = ", ".join(dict.fromkeys(f"{e['k']}{e['kind'][0]}" for rec in rn for e in rec["ests"]))
            label = f"{n} (file {src + 1}: {ran})" if multi else str(n)
            stops = ", ".join(
                f"{s} {sum(rec['truth_stop'] == s for rec in rn)}" for s in dict.fromkeys(rec["truth_stop"] for rec in rn)
            )
            print(
                f"| {label} | {len(rn)} | {rn[0]['flops_per_sample']:.3g} | {', '.join(str(rec['truth_n']) for rec in rn)} | "
                f"{_gmean([rec['floor'] / rec['var'] for rec in rn]):.2e} | "
                f"{', '.join(format(rec['truth_seconds'], '.0f') for rec in rn)} | {stops} |"
            )
        print(f"\n#### {act}: MSE against FLOPs (geometric means over the seeds)\n")
        print(
            "| n | K | kind | MSE/Var | FLOPs | MC MSE/Var at equal FLOPs | speedup | truth-limited | fallback | s/estimate "
            "| before the fallback: MSE/Var, speedup |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in sorted((r for r in rows if r["act"] == act), key=lambda r: (r["n"], r["k"], r["kind"] != "simple")):
            print(
                f"| {r['n']} | {r['k']} | {r['kind']} | {'≤ ' if r['bound'] else ''}{r['rel_mse']:.3g} | {r['flops']:.3g} | "
                f"{r['mc_rel_mse_equal_flops']:.3g} | {_sp(r)} | {_frac(r['limited'], r['seeds'])} | "
                f"{_frac(r['fallback'], r['seeds'], 'fb ')} | {r['seconds']:.3g} | {_raw(r)} |"
            )
    print("\n#### Crossover widths (speedup > 1 from this width on)\n")
    print("| act | K | kind | crossover width | speedup by width | before the fallback: crossover width |")
    print("|---|---|---|---|---|---|")
    for c in cross:
        rs = sorted((r for r in rows if (r["act"], r["k"], r["kind"]) == (c["act"], c["k"], c["kind"])), key=lambda r: r["n"])
        raw = c["raw_text"] if c["raw_text"] != c["text"] else "(same)"
        by_width = ", ".join(f"{r['n']}: {_sp(r)}" for r in rs)
        print(f"| {c['act']} | {c['k']} | {c['kind']} | {c['text']} | {by_width} | {raw} |")
    if skips:
        print("\n#### Skipped\n")
        for s in skips:
            print(f"- {s['act']} n={s['n']} K={s['k']} {s['kind']}: {s['reason']}")


# --------------------------------------------------------------------------- the figure
_COLOURS = {1: "tab:blue", 2: "tab:green", 3: "tab:red", 4: "tab:purple", 5: "tab:brown"}


def plot(nets: list[NetRecord], rows: list[Row], outdir: Path, depth: int) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for act in dict.fromkeys(r["act"] for r in rows):
        ra = [r for r in rows if r["act"] == act]
        fig, ax = plt.subplots(figsize=(9, 6.5), layout="constrained")
        widths = sorted({r["n"] for r in ra})
        greys = np.linspace(0.75, 0.15, len(widths))
        for w, g in zip(widths, greys, strict=True):
            # Monte Carlo at width w, over the FLOPs of that width's estimates (a factor 4 either side)
            fps = _gmean([rec["flops_per_sample"] for rec in nets if rec["act"] == act and rec["n"] == w])
            fw = [r["flops"] for r in ra if r["n"] == w]
            f = np.logspace(math.log10(min(fw)) - 0.6, math.log10(max(fw)) + 0.6, 20)
            ax.loglog(f, fps / f, "-", color=str(g), lw=1.0, zorder=1)
            ax.annotate(f"MC n={w}", (f[0], fps / f[0]), fontsize=7, color=str(g), xytext=(0, 3), textcoords="offset points")
        series = {
            (k, kind): sorted((r for r in ra if (r["k"], r["kind"]) == (k, kind)), key=lambda r: r["n"])
            for k, kind in dict.fromkeys((r["k"], r["kind"]) for r in ra)
        }
        for (k, kind), rs in series.items():
            label = f"K = {k} {kind}"
            twin = series.get((k, "augment")) if kind == "simple" else None
            key = [(r["n"], r["rel_mse"], r["flops"]) for r in rs]
            if kind == "augment" and key == [(r["n"], r["rel_mse"], r["flops"]) for r in series.get((k, "simple"), [])]:
                continue  # the same estimator (K = 1): drawn once, as simple
            if twin is not None and key == [(r["n"], r["rel_mse"], r["flops"]) for r in twin]:
                label += " = augment"
            c = _COLOURS.get(k, "k")
            x = [r["flops"] for r in rs]
            y = [r["rel_mse"] for r in rs]
            simple = kind == "simple"
            ax.loglog(
                x,
                y,
                "-" if simple else "--",
                marker="o" if simple else "s",
                color=c,
                mfc=c if simple else "white",
                ms=6,
                lw=1.2,
                zorder=3,
                label=label,
            )
            for r in rs:
                ax.annotate(
                    str(r["n"]),
                    (r["flops"], r["rel_mse"]),
                    fontsize=6,
                    color=c,
                    xytext=(4, -8 if simple else 3),
                    textcoords="offset points",
                )
                if r["bound"]:
                    ax.annotate(
                        "",
                        (r["flops"], r["rel_mse"] / 3),
                        (r["flops"], r["rel_mse"]),
                        arrowprops={"arrowstyle": "->", "color": c, "lw": 0.8},
                    )
                if r["fallback"]:
                    ax.plot([r["flops"]], [r["rel_mse"]], "x", color="k", ms=9, zorder=4)
                    if r["raw_rel_mse"] is not None:
                        ax.plot([r["flops"]], [r["raw_rel_mse"]], "+", color=c, ms=8, zorder=4)
        ax.plot([], [], "x", color="k", linestyle="none", label="fell back to a lower order (some seed)")
        ax.plot([], [], "+", color="0.3", linestyle="none", label="the same, K estimates before the fallback")
        ax.plot([], [], "-", color="0.4", lw=1.0, label="Monte Carlo at width n: MSE/Var = flops_per_sample / FLOPs")
        ax.plot([], [], linestyle="none", marker=r"$\downarrow$", color="0.3", label="truth-limited: upper bound")
        lo = min([r["rel_mse"] for r in ra] + [r["raw_rel_mse"] or math.inf for r in ra])
        ax.set_ylim(bottom=lo / 6)
        ax.set_xlabel("FLOPs")
        ax.set_ylabel("MSE / Var of the output means")
        ax.set_title(
            f"{act} ({_init_text(act)}), depth {depth}, widths {widths[0]}–{widths[-1]}: kprop against Monte Carlo",
            fontsize=9,
        )
        ax.grid(alpha=0.25, which="both")
        ax.legend(fontsize=7, loc="lower left")
        p = outdir / f"mlp_kprop_flops_mse_{act}.png"
        fig.savefig(p, dpi=130)
        plt.close(fig)
        paths.append(p)
    return paths


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512, 1024])
    ap.add_argument("--depth", type=int, default=4, help="linear layers (nets [n] * (depth + 1))")
    ap.add_argument("--acts", nargs="+", default=["relu", "tanh"])
    ap.add_argument("--seeds", type=int, default=3, help="nets per (act, width)")
    ap.add_argument("--kinds", nargs="+", default=["simple", "augment"], choices=["simple", "augment"])
    ap.add_argument("--ks", type=int, nargs="+", default=None, help="K values (default: all of mlp.KPROP_IMPLEMENTED)")
    ap.add_argument("--truth-samples", type=int, default=2**26, help="at most this many truth samples per net")
    ap.add_argument("--truth-min", type=int, default=2**16, help="the first truth chunk")
    ap.add_argument("--truth-seconds", type=float, default=60.0, help="truth time budget per net")
    ap.add_argument("--truth-ratio", type=float, default=50.0, help="stop when the best raw MSE is this many noise floors")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--max-tensor-gb", type=float, default=2.0, help="skip K >= 3 augment when 8 n^K bytes exceed this")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="skip an estimate predicted to take longer")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--plot", type=Path, default=None, help="directory for mlp_kprop_flops_mse_<act>.png")
    ap.add_argument("--json", type=Path, default=None, help="write every measurement here")
    ap.add_argument("--from-json", type=Path, nargs="+", default=None, help="re-make the tables / figures from saved runs")
    args = ap.parse_args()

    t0 = time.perf_counter()
    meta: dict[str, Any]
    files: list[dict[str, Any]] = []
    if args.from_json is not None:
        # several files: their records are pooled (a later run that adds estimators at some widths,
        # with its own truths); a skip is dropped where some file has that estimator
        files = [json.loads(f.read_text()) for f in args.from_json]
        nets: list[NetRecord] = []
        for i, saved in enumerate(files):
            for rec in saved["nets"]:
                rec["source"] = i
                nets.append(rec)
        ran = {(rec["act"], rec["n"], e["k"], e["kind"]) for rec in nets for e in rec["ests"]}
        skips: list[Skip] = [
            sk for saved in files for sk in saved["skips"] if (sk["act"], sk["n"], sk["k"], sk["kind"]) not in ran
        ]
        meta = files[0]["meta"]
        depth = int(meta["args"]["depth"])
    else:
        depth = args.depth
        meta = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "kprop_implemented": [list(p) for p in mlp.KPROP_IMPLEMENTED],
            "command": " ".join(sys.argv),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        }
        print(f"# {meta['date']}, {meta['machine']}; KPROP_IMPLEMENTED = {mlp.KPROP_IMPLEMENTED}", flush=True)
        nets, skips = measure(args)
        meta["seconds"] = time.perf_counter() - t0
    rows = aggregate(nets)
    cross = crossovers(rows)
    print_tables(nets, skips, rows, cross, depth)
    if args.plot is not None:
        for p in plot(nets, rows, args.plot, depth):
            print(f"figure: {p}")
    if args.json is not None and args.from_json is None:
        out = {"meta": meta, "nets": nets, "skips": skips, "rows": rows, "crossovers": cross}
        args.json.write_text(json.dumps(out, indent=1))
        print(f"json: {args.json}")
    if "seconds" in meta:
        if args.from_json is not None:
            print("run time of the saved runs: " + ", ".join(f"{f['meta']['seconds']:.0f} s" for f in files))
        else:
            print(f"run time: {meta['seconds']:.0f} s")


if __name__ == "__main__":
    main()
