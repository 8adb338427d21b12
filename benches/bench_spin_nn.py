"""The paper's experiment on scikit-learn's digits (or MNIST), printed as markdown tables (issue 18.2).

Barney, Winer, Galitski, "Neural Networks as Spin Models: From Glass to Hidden Order Through
Training" (arXiv:2408.06421) report, for an MLP with continuous and one with binarised
activations trained on MNIST: the random network is a layered SK glass, training destroys the
glass quickly, a hidden-order phase appears whose melting temperature ``T_c`` grows as a power
law in training time, and the bond matrix develops spectral outliers. This script measures each
of these on networks trained here:

    python benches/bench_spin_nn.py                        # digits, 4 seeds x (tanh, sign), ~5.5 min on 2 loaded cores
    python benches/bench_spin_nn.py --mnist DIR --mc-hidden # MNIST from IDX files (or mnist.npz) in DIR
    python benches/bench_spin_nn.py --quick                # 1 seed, 1000 steps (smoke test)
    python benches/bench_spin_nn.py --plot benches/figures # also write the figures

For every snapshot (log-spaced steps): ``T_glass`` (bulk of the bond spectrum / TAP Hessian),
``T_hidden`` (the top outlier), ``T_c`` (the larger one when the hidden order is significant by
``phase.hidden_order_test`` against 99 weight-shuffled controls, else ``T_glass``), outliers of the
spectrum of ``J`` beyond 1.02 x the initial edge, and a Monte Carlo check of the phase that does not
use TAP: parallel tempering at ``T = 0.7 T_c(t)`` (2 independent ladders, 10 temperatures up to
1.6 T_c), the replica overlap ``√⟨q²⟩``, the glass's weight at small overlap ``P(|q| < 0.1)`` (a
glass has a continuous ``P(q)`` reaching 0; a two-state ordered phase ``±m*`` has none) and how
much the order prefers the top bond eigenvector ``v₁`` over the second one, ``μ₁²/μ₂²`` with
``μ_k² = ⟨(s·v_k)²⟩/n`` (order spread over several near-degenerate eigenvectors in a glass, one
dominant direction in a hidden-order state); ``--mc-hidden`` adds ``√⟨q²⟩`` and ``P(|q| < 0.1)`` of
the overlap over the non-input spins only (on MNIST the 784 input spins, many of them pixels that
are always blank, dilute the overlap over all spins). Power laws ``T_c ∝ t^α`` are fitted by
``phase.fit_power_law`` per seed (95 % CI from the regression) and pooled over seeds (mean ± t-based
95 % CI of the per-seed exponents).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit import spin as sp
from boltzkit.spin import nn, phase

Data = tuple[nn.F64, np.ndarray[Any, np.dtype[np.int64]], nn.F64, np.ndarray[Any, np.dtype[np.int64]]]


def _md(headers: list[str], rows: list[list[Any]]) -> str:
    def f(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            x = float(v)
            return "nan" if not math.isfinite(x) else f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"
        return str(v)

    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(f(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def mc_phase(model: sp.SpinModel, t_c: float, seed: int, sweeps: int, n_in: int) -> tuple[float, ...]:
    """Parallel tempering (2 ladders) at ``T = 0.7 T_c``: ``√⟨q²⟩``, ``P(|q| < 0.1)`` and ``μ₁²/μ₂²``.

    ``μ_k² = ⟨(s·v_k)²⟩/n`` with ``v_k`` the k-th eigenvector of ``J`` from the top. Then ``√⟨q²⟩``
    and ``P(|q| < 0.1)`` again with the overlap taken over the spins after the ``n_in`` input spins.
    """
    temps = np.geomspace(0.7 * t_c, 1.6 * t_c, 10)
    pt = model.tempering(1 / temps, sweeps, n_sets=2, record_states=True, thin=5, seed=seed, progress=False)
    q = pt.overlaps[:, 0, 0]
    _, vecs = np.linalg.eigh(model.J)
    s = pt.states[:, :, 0, :].astype(np.float64)  # (meas, set, n) at the coldest temperature
    mu2 = ((s @ vecs[:, [-1, -2]]) ** 2).mean(axis=(0, 1)) / model.n
    qh = (s[:, 0, n_in:] * s[:, 1, n_in:]).mean(axis=1)
    return (math.sqrt(float((q**2).mean())), float((np.abs(q) < 0.1).mean()), float(mu2[0] / mu2[1]),
            math.sqrt(float((qh**2).mean())), float((np.abs(qh) < 0.1).mean()))  # fmt: skip


def run_one(data: Data, act: nn.Activation, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    cfg = nn.TrainConfig(
        hidden=tuple(args.hidden), activation=act, steps=args.steps, n_snapshots=args.snapshots, lr=args.lr, seed=seed
    )
    t0 = time.perf_counter()
    x_tr, y_tr, x_te, y_te = data
    tr = nn.train_mlp(x_tr, y_tr, x_te, y_te, cfg, progress=False)
    t1 = time.perf_counter()
    tj = nn.analyse_training(tr, progress=False, label=act)
    t2 = time.perf_counter()
    mc = [mc_phase(sp.SpinModel.from_layers(s.weights), float(tj.T_c[k]), seed * 1000 + k, args.mc_sweeps, tr.widths[0])
          for k, s in enumerate(tr.snapshots)]  # fmt: skip
    t3 = time.perf_counter()
    pos = tj.steps > 0
    fit_all = phase.fit_power_law(tj.steps[pos], tj.T_c[pos])
    try:
        fit_win = phase.fit_power_law(tj.steps, tj.T_c, window=(args.fit_from, args.steps))
    except Exception:  # too few points in the window
        fit_win = None
    hidden = tj.hidden_significant & (tj.T_hidden > tj.T_glass)
    # the glass is gone from the first snapshot after which T_c is always set by a significant hidden order
    gone = next((int(tj.steps[k]) for k in range(len(hidden)) if hidden[k:].all()), None)
    return {"tj": tj, "mc": np.array(mc), "fit_all": fit_all, "fit_win": fit_win, "glass_gone": gone,
            "seconds": (t1 - t0, t2 - t1, t3 - t2), "widths": tr.widths}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnist", type=Path, default=None, help="MNIST: IDX directory / images file or mnist.npz")
    ap.add_argument("--max-train", type=int, default=None, help="use only the first k training images")
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--snapshots", type=int, default=14)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--fit-from", type=float, default=100.0, help="first step of the power-law window")
    ap.add_argument("--mc-sweeps", type=int, default=4000)
    ap.add_argument(
        "--mc-hidden",
        action="store_true",
        help="also print the Monte Carlo overlap over the non-input spins (on MNIST most spins are inputs)",
    )
    ap.add_argument("--plot", type=Path, default=None, help="folder for the figures")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.seeds, args.snapshots, args.mc_sweeps, args.fit_from = 1000, 1, 10, 1000, 30.0
    t_start = time.perf_counter()
    if args.mnist is not None:
        data = nn.load_dataset(args.mnist)
        name = f"MNIST ({args.mnist})"
    else:
        data = nn.load_digits(0)
        name = "scikit-learn digits (8x8, 1347 train / 450 test)"
    if args.max_train is not None:
        data = (data[0][: args.max_train], data[1][: args.max_train], data[2], data[3])
    print(f"## NN spin-model experiment on {name}\n")
    print(f"MLP {[data[0].shape[1], *args.hidden, 10]}, Adam lr {args.lr}, batch 64, {args.steps} steps, "
          f"{args.snapshots} log-spaced snapshots, seeds 0..{args.seeds - 1}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus\n")  # fmt: skip
    res: dict[str, list[dict[str, Any]]] = {}
    acts: tuple[nn.Activation, ...] = ("tanh", "sign")
    for act in acts:
        res[act] = [run_one(data, act, s, args) for s in range(args.seeds)]
    summary = []
    for label, runs in res.items():
        tjs = [r["tj"] for r in runs]
        steps = tjs[0].steps
        mc = np.stack([r["mc"] for r in runs])  # (seed, snap, 2)
        tc = np.stack([t.T_c for t in tjs])
        rows = []
        for k in range(len(steps)):
            sig = sum(bool(t.hidden_significant[k]) for t in tjs)
            th = np.array([t.T_hidden[k] for t in tjs])
            rows.append([int(steps[k]), np.mean([t.test_accuracy[k] for t in tjs]), np.mean([t.T_glass[k] for t in tjs]),
                         np.nanmean(th) if np.isfinite(th).any() else float("nan"),
                         f"{tc[:, k].mean():.3f} ± {tc[:, k].std(ddof=1) if len(tjs) > 1 else 0:.3f}",
                         np.mean([t.lambda_top[k] for t in tjs]), np.mean([t.n_outliers[k] for t in tjs]),
                         max(t.hidden_p[k] for t in tjs), f"{sig}/{len(tjs)}", mc[:, k, 0].mean(), mc[:, k, 1].mean(),
                         mc[:, k, 2].mean()] + ([mc[:, k, 3].mean(), mc[:, k, 4].mean()] if args.mc_hidden else []))  # fmt: skip
        print(f"### {label}: snapshots (means over {len(tjs)} seeds)\n")
        print(_md(["step", "test acc", "T_glass", "T_hidden", "T_c (± sd)", "λ_top(J)", "outliers", "max p (hidden)",
                   "significant", "MC √⟨q²⟩", "MC P(|q|<0.1)", "MC μ₁²/μ₂²"]
                  + (["MC √⟨q²⟩ non-input", "MC P(|q|<0.1) non-input"] if args.mc_hidden else []), rows))  # fmt: skip
        print()
        al = np.array([r["fit_all"].exponent for r in runs])
        aw = np.array([r["fit_win"].exponent if r["fit_win"] else np.nan for r in runs])
        per_seed = "; ".join(
            f"{r['fit_win'].exponent:.3f} [{r['fit_win'].exponent_ci[0]:.3f}, {r['fit_win'].exponent_ci[1]:.3f}]"
            for r in runs
            if r["fit_win"]
        )

        def pooled(a: np.ndarray) -> str:
            a = a[np.isfinite(a)]
            if len(a) < 2:
                return f"{a.mean():.3f}" if len(a) else "nan"
            from scipy import stats

            h = stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a))
            return f"{a.mean():.3f} [{a.mean() - h:.3f}, {a.mean() + h:.3f}]"

        gone = [r["glass_gone"] for r in runs]
        secs = np.array([r["seconds"] for r in runs]).sum(0)
        summary.append([label, f"{tjs[0].tc_theory_init:.3f}", f"{np.mean([t.T_glass[0] for t in tjs]):.3f}",
                        pooled(al), pooled(aw), per_seed, ", ".join(str(g) for g in gone),
                        f"{np.mean([t.n_outliers[0] for t in tjs]):.1f} → {np.mean([t.n_outliers[-1] for t in tjs]):.1f}",
                        f"{mc[:, 0, 1].mean():.3f} → {mc[:, -1, 1].mean():.3f}",
                        f"{mc[:, 0, 2].mean():.1f} → {mc[:, -1, 2].mean():.1f}"]
                       + ([f"{mc[:, 0, 4].mean():.3f} → {mc[:, -1, 4].mean():.3f}"] if args.mc_hidden else [])
                       + [f"{secs[0]:.0f} / {secs[1]:.0f} / {secs[2]:.0f}"])  # fmt: skip
    print("### Summary\n")
    print(_md(["net", "T_c theory (layered SK, init)", "T_glass(0) measured", "α, all steps > 0 (mean [95% CI])",
               f"α, steps ≥ {args.fit_from:g} (mean [95% CI])", "α per seed [95% CI]", "glass gone from step (per seed)",
               "outliers init → end", "MC P(|q|<0.1) init → end", "MC μ₁²/μ₂² init → end"]
              + (["MC P(|q|<0.1) non-input init → end"] if args.mc_hidden else [])
              + ["s train / analyse / MC"], summary))  # fmt: skip
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    if args.plot is not None:
        args.plot.mkdir(parents=True, exist_ok=True)
        tag = "mnist" if args.mnist is not None else "digits"
        files = nn.plot_trajectories([res["tanh"][0]["tj"], res["sign"][0]["tj"]], args.plot, prefix=f"spin_nn_{tag}")
        print("wrote " + ", ".join(str(f) for f in files))


if __name__ == "__main__":
    main()
