"""Rare events at any width: ``tail_probability(method="splitting")`` (and ``is``) against plain
Monte Carlo, printed as markdown.

    python benches/bench_mlp_tail.py grid --widths 16 64 256 1024 --depths 2 4 8 \\
        --acts relu tanh gelu --targets 1e-2 1e-3 1e-4 [--mc-max 4194304]
    python benches/bench_mlp_tail.py issue      # the width-256 example of issue 15

For each net (``random_mlp``, He init, ``b_var=0.05``, seed = width + depth) and neuron (0 and 1)
the threshold is ``μ + σ z`` with ``z = Q⁻¹(target)`` from ``cov_prop``'s marginal (``mean_prop``
above width 512). Plain MC (Rust, ``method="mc"``) uses enough samples for about 400 hits (capped
at ``--mc-max``; cells where MC sees fewer than 30 hits are marked MC-limited and not scored).
Splitting runs with a budget of ``--split-budget`` forward passes.
``z = (p_split − p_mc) / √(se_split² + se_mc²)``; the cost ratio is the number of MC samples
needed for the splitting estimate's relative error (``(1 − p) / (p · rel²)``) divided by the
forward passes splitting used.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

from scipy import special

from boltzkit import mlp


def grid(args: argparse.Namespace) -> None:
    print(
        "| act | width | depth | neuron | target | t | MC p ± se (N) | splitting p ± se | z | ess | reliable | cost ratio | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for act in args.acts:
        for n in args.widths:
            for depth in args.depths:
                net = mlp.random_mlp([n] * depth + [4], act=act, b_var=0.05, seed=n + depth)
                est = net.estimate("cov_prop") if n <= 512 else net.estimate("mean_prop")
                for neuron in (0, 1):
                    mu, sd = float(est.mean[neuron]), math.sqrt(float(est.variances[-1][neuron]))
                    for target in args.targets:
                        t = mu + sd * float(special.ndtri(1 - target))
                        n_mc = int(min(args.mc_max, max(2**16, 400 / target)))
                        mc = net.tail_probability(threshold=t, method="mc", neuron=neuron, n_samples=n_mc, batch=4096, seed=11)
                        t0 = time.perf_counter()
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            sp = net.tail_probability(
                                threshold=t, method="splitting", neuron=neuron, n_samples=args.split_budget, seed=12
                            )
                        secs = time.perf_counter() - t0
                        assert mc.stderr is not None and sp.stderr is not None and mc.hits is not None and sp.ess is not None
                        pm, sm, ps, ss = float(mc.p[0]), float(mc.stderr[0]), float(sp.p[0]), float(sp.stderr[0])
                        if int(mc.hits[0]) < 30:
                            zs, ratio = "MC-limited", "-"
                        else:
                            z = (ps - pm) / math.hypot(ss, sm)
                            worst = max(worst, abs(z))
                            zs = f"{z:+.2f}"
                            rel = ss / ps if ps > 0 else math.inf
                            n_eq = (1 - pm) / (pm * rel * rel) if rel > 0 else math.inf
                            ratio = f"{n_eq / sp.details['forward_passes']:.1f}x"
                        print(
                            f"| {act} | {n} | {depth} | {neuron} | {target:.0e} | {t:.3g} | {pm:.3g} ± {sm:.2g} ({n_mc}) | "
                            f"{ps:.3g} ± {ss:.2g} | {zs} | {float(sp.ess[0]):.0f} | {sp.reliable} | {ratio} | {secs:.1f} |",
                            flush=True,
                        )
    print(f"\nmax |z| over the scored cells: {worst:.2f}")


def issue(args: argparse.Namespace) -> None:
    net = mlp.random_mlp([256] * 5, act="relu", init="he", seed=0)
    for t in (2.0, 4.0):
        mc = net.tail_probability(threshold=t, method="mc", neuron=0, n_samples=args.mc_max, batch=4096, seed=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            isr = net.tail_probability(threshold=t, method="is", neuron=0, n_samples=2**18)
            t0 = time.perf_counter()
            sp = net.tail_probability(threshold=t, method="splitting", neuron=0, n_samples=2**18, seed=3)
            secs = time.perf_counter() - t0
        assert mc.stderr is not None and isr.stderr is not None and sp.stderr is not None and sp.ess is not None
        print(
            f"t={t}: MC {mc.p[0]:.3g} ± {mc.stderr[0]:.2g} ({args.mc_max} samples) | is {isr.p[0]:.3g} ± {isr.stderr[0]:.2g} "
            f"(reliable={isr.reliable}) | splitting {sp.p[0]:.3g} ± {sp.stderr[0]:.2g} (ess {sp.ess[0]:.0f}, "
            f"reliable={sp.reliable}, {sp.details['forward_passes']} forward passes, {secs:.1f} s) | warnings: {len(caught)}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grid")
    g.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256])
    g.add_argument("--depths", type=int, nargs="+", default=[2, 4, 8])
    g.add_argument("--acts", nargs="+", default=["relu", "tanh", "gelu"])
    g.add_argument("--targets", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4])
    g.add_argument("--mc-max", type=int, default=2**22)
    g.add_argument("--split-budget", type=int, default=2**16)
    i = sub.add_parser("issue")
    i.add_argument("--mc-max", type=int, default=2**22)
    args = ap.parse_args()
    {"grid": grid, "issue": issue}[args.cmd](args)


if __name__ == "__main__":
    main()
