"""boltzkit.mlp kprop beside the paper's reference code, side by side, printed as markdown.

    python benches/bench_mlp_reference.py --peer-python /tmp/peers-mlp/venv312/bin/python \\
        --peer-dir /tmp/peers-mlp/ref [--widths 8 16 32 64] [--time-widths 16 32 64 128] \\
        [--mc-samples 1048576] [--configs 'K3 augment' 'K3 augment avg']

The reference (alignment-research-center/mlp_cumulant_propagation, PyTorch, float64) is a fetched
copy outside the repository, run by its own interpreter through ``benches/_mlp_ref_peer.py``;
nothing is fetched here, and without ``--peer-python`` / ``--peer-dir`` (or when they do not
exist) the script says so and exits 0. Random nets (numpy, float64): widths ``--widths`` (hidden
width n; the input has n + 3 and the output n // 2 + 1 neurons, so widths are unequal), 2–4 linear
layers, relu / tanh / gelu, with and without biases; input N(0, I). For every implemented
``(k_max, kind, avg_metric)`` the reference's ``mlp_kprop`` output means and variances are compared
with ``MLP.estimate("kprop", …)`` on the same weights, raw (the core result before our
negative-variance fallback). Differences: means relative to the largest output standard
deviation, variances relative to the largest variance (max over neurons, then over nets).

``--time-widths``: wall time (median of ``--repeats`` calls after one warm-up, and with two or more
repeats the fastest call of each side beside it; ``--repeats 0``: one cold call, for cells where the
reference needs minutes; ``--rounds R``: R rounds of the reference's run then ours, each round's
ratio printed — the two sides of a ratio a minute apart at most) of both at equal
``(k_max, kind)``, width and thread count (``--threads``, default 1), ReLU depth 4. Without it,
widths 16, 32, 64, 128 with K = 4 timed only at 16 and 32 (the reference's K = 4 needs minutes to
hours per call from 64 on; naming a width times every configuration there); with no value, no timing.
``--mc-samples N``: MSE of the output means of both against a Monte Carlo truth (depth ≥ 3 nets).
``--configs``: only these configuration labels (all three parts). ``--equal-widths``: every layer
``n`` wide (the reference's ``factor=True`` asserts square weight matrices).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit import _core
from boltzkit.mlp import MLP

PEER = Path(__file__).with_name("_mlp_ref_peer.py")
# label, k_max, kind, avg_metric, factor
CONFIGS: list[tuple[str, int, str, bool, bool]] = [
    ("K1 simple", 1, "simple", False, False),
    ("K1 simple avg", 1, "simple", True, False),
    ("K1 augment", 1, "augment", False, False),
    ("K2 simple", 2, "simple", False, False),
    ("K2 simple avg", 2, "simple", True, False),
    ("K2 augment", 2, "augment", False, False),
    ("K2 augment avg", 2, "augment", True, False),
    ("K3 simple", 3, "simple", False, False),
    ("K3 simple avg", 3, "simple", True, False),
    ("K3 augment", 3, "augment", False, False),
    ("K3 augment avg", 3, "augment", True, False),
    ("K3 simple factor", 3, "simple", False, True),
    ("K3 augment factor", 3, "augment", False, True),
    ("K3 augment factor avg", 3, "augment", True, True),
    ("K4 simple", 4, "simple", False, False),
    ("K4 simple factor", 4, "simple", False, True),
    ("K4 augment", 4, "augment", False, False),
    ("K4 augment avg", 4, "augment", True, False),
    ("K4 augment factor", 4, "augment", False, True),
    ("K4 augment factor avg", 4, "augment", True, True),
]
W_VAR = {"relu": 2.0, "tanh": 1.0, "gelu": 2.0}


def make_nets(widths: list[int], seed: int, equal: bool = False) -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Any]] = {}
    for n in widths:
        for depth in (2, 3, 4):
            for act in ("relu", "tanh", "gelu"):
                for bias in (False, True):
                    ws_ = [n] * (depth + 1) if equal else [n + 3] + [n] * (depth - 1) + [n // 2 + 1]
                    wv = [1.0] + [W_VAR[act]] * (depth - 1)
                    ws = [rng.normal(0.0, np.sqrt(wv[i] / ws_[i]), (ws_[i + 1], ws_[i])) for i in range(depth)]
                    bs = [rng.normal(0.0, np.sqrt(0.1), ws_[i + 1]) for i in range(depth)] if bias else None
                    name = f"{act} n={n} L={depth}{' +b' if bias else ''}"
                    out[name] = {"widths": ws_, "act": act, "bias": bias, "ws": ws, "bs": bs, "w_var": wv}
    return out


def run_peer(
    args: argparse.Namespace,
    nn: dict[str, dict[str, Any]],
    labels: list[str],
    repeats: int,
    per_net: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The reference's results for every net and label (``per_net``: the labels of each net)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nets.npz"
        arrays: dict[str, Any] = {
            "names": json.dumps(list(nn)),
            "configs": json.dumps([list(c) for c in CONFIGS]),
            "repeats": repeats,
        }
        for name, d in nn.items():
            meta = {k: d[k] for k in ("widths", "act", "bias", "w_var")}
            meta["configs"] = labels if per_net is None else per_net[name]
            arrays[f"{name}/meta"] = json.dumps(meta)
            for i, w in enumerate(d["ws"]):
                arrays[f"{name}/W{i}"] = w
                if d["bs"] is not None:
                    arrays[f"{name}/b{i}"] = d["bs"][i]
        np.savez(path, **arrays)
        r = subprocess.run(
            [args.peer_python, str(PEER), args.peer_dir, str(path), str(args.threads)],
            capture_output=True,
            text=True,
            check=False,
        )
    if r.returncode != 0:
        raise RuntimeError(f"peer run failed:\n{r.stderr[-4000:]}")
    res: dict[str, Any] = json.loads(r.stdout)
    return res


def ours_raw(net: MLP, k: int, kind: str, avg: bool, threads: int, factor: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Output mean and variance of our kprop core, before the negative-variance fallback."""
    if k == 1:
        method = "kprop1"
    elif k >= 3:
        method = f"kprop{k}_{kind}" + ("_factor" if factor and kind == "augment" else "")
    elif kind == "augment":
        method = "kprop2_augment"
    else:
        method = "cov_prop"
    scale = net._init_scale() if avg and method != "cov_prop" else None
    r = _core.mlp_estimate(net._tuple(), method, 1, False, threads, scale)
    return np.asarray(r["pre_mean"][-1]), np.asarray(r["pre_var"][-1])


def build(d: dict[str, Any]) -> MLP:
    net = MLP(d["ws"], d["bs"], [d["act"]] * (len(d["ws"]) - 1))
    net.init_scale = list(d["w_var"])
    return net


def equality(args: argparse.Namespace) -> None:
    nn = make_nets(args.widths, args.seed, args.equal_widths)
    if args.only:
        nn = {k: v for k, v in nn.items() if k in args.only}
    labels = [c[0] for c in CONFIGS if not args.configs or c[0] in args.configs]
    ref = run_peer(args, nn, labels, repeats=0)
    worst: dict[tuple[str, str], list[float]] = {}
    for name, d in nn.items():
        net = build(d)
        for label, k, kind, avg, fac in CONFIGS:
            if label not in labels:
                continue
            m, v = ours_raw(net, k, kind, avg, args.threads, fac)
            rm, rv = np.asarray(ref[name][label]["mean"]), np.asarray(ref[name][label]["var"])
            scale = float(np.sqrt(np.max(np.abs(rv))))
            dm = float(np.max(np.abs(m - rm))) / scale
            dv = float(np.max(np.abs(v - rv))) / float(np.max(np.abs(rv)))
            w = worst.setdefault((d["act"], label), [0.0, 0.0])
            w[0], w[1] = max(w[0], dm), max(w[1], dv)
    shape = "every layer n wide" if args.equal_widths else "input n+3, output n//2+1"
    print(f"Equality on {len(nn)} nets (hidden widths {args.widths}, 2-4 linear layers, ± biases, {shape}):\n")
    print("| activation | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for act in ("relu", "tanh", "gelu"):
        if (act, labels[0]) not in worst:  # --only left no net with this activation
            continue
        print(f"| {act} | " + " | ".join(f"{worst[(act, lab)][0]:.1e} / {worst[(act, lab)][1]:.1e}" for lab in labels) + " |")
    print("\n(max relative difference of the output means / variances)")


# without --time-widths: these widths, K = 4 timed only up to SLOW_FROM - 1 (the reference's K = 4
# takes from half a minute (SIMPLE, n = 64) to hours (AUGMENT, n = 128) per call there)
DEFAULT_TIME_WIDTHS = [16, 32, 64, 128]
SLOW_FROM = 64


def timing(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed + 1)
    default = args.time_widths is None
    widths = DEFAULT_TIME_WIDTHS if default else args.time_widths
    nn: dict[str, dict[str, Any]] = {}
    for n in widths:
        ws_ = [n] * 5
        ws = [rng.normal(0.0, np.sqrt((1.0 if i == 0 else 2.0) / n), (n, n)) for i in range(4)]
        nn[f"n={n}"] = {"widths": ws_, "act": "relu", "bias": False, "ws": ws, "bs": None, "w_var": [1.0, 2.0, 2.0, 2.0]}
    labels = [c[0] for c in CONFIGS if not c[3]]  # every (K, kind, factor) with the exact metric
    labels = [lab for lab in labels if not args.configs or lab in args.configs]
    # --repeats 0: one cold call each (for cells where the reference takes minutes)
    per_net = {
        name: [lab for lab in labels if not (default and d["widths"][0] >= SLOW_FROM and lab.startswith("K4"))]
        for name, d in nn.items()
    }
    nets = {name: build(d) for name, d in nn.items()}
    # per round: the reference's run (every net and label), then ours; a round's ratio compares the
    # two sides a minute apart at most (the machine's speed drifts by tens of percent between minutes)
    rounds: list[dict[tuple[str, str], tuple[float, float, float, float]]] = []
    for _ in range(args.rounds):
        ref = run_peer(args, nn, labels, repeats=args.repeats if args.repeats > 0 else -1, per_net=per_net)
        cells: dict[tuple[str, str], tuple[float, float, float, float]] = {}
        for name, net in nets.items():
            for lab in per_net[name]:
                _, k, kind, avg, fac = next(c for c in CONFIGS if c[0] == lab)
                if args.repeats > 0:
                    ours_raw(net, k, kind, avg, args.threads, fac)
                times = []
                for _ in range(max(args.repeats, 1)):
                    t0 = time.perf_counter()
                    ours_raw(net, k, kind, avg, args.threads, fac)
                    times.append(time.perf_counter() - t0)
                tr, trb = float(ref[name][lab]["seconds"]), float(ref[name][lab].get("best", float("nan")))
                cells[(name, lab)] = (tr, float(np.median(times)), trb, float(np.min(times)))
        rounds.append(cells)
    how = f"median of {args.repeats} after a warm-up (and the fastest call)" if args.repeats > 0 else "one cold call"
    if args.rounds > 1:
        how += f"; {args.rounds} rounds (the reference, then ours): the first round's times, then the ratio of every round"
    print(f"\nWall time, ReLU depth 4 (4 linear layers), {args.threads} thread(s) each, {how}:\n")
    print("| width | " + " | ".join(f"{lab}: ref / ours / ratio" for lab in labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name, d in nn.items():
        row = []
        for lab in labels:
            if lab not in per_net[name]:
                row.append(f"not timed (the reference takes minutes: name {d['widths'][0]} in --time-widths)")
                continue
            tr, t, trb, tb = rounds[0][(name, lab)]
            cell = f"{tr:.2e} / {t:.2e} / {tr / t:.0f}x"
            if args.repeats > 1:
                cell += f" (fastest: {trb:.2e} / {tb:.2e} / {trb / tb:.0f}x)"
            if args.rounds > 1:
                ratios = [c[(name, lab)][0] / c[(name, lab)][1] for c in rounds]
                cell += "; rounds: " + ", ".join(f"{x:.0f}x" for x in ratios)
            row.append(cell)
        print(f"| {name} | " + " | ".join(row) + " |")


def mse(args: argparse.Namespace) -> None:
    nn = {k: v for k, v in make_nets(args.widths, args.seed, args.equal_widths).items() if len(v["ws"]) >= 3}
    labels = [c[0] for c in CONFIGS if not c[3] and (not args.configs or c[0] in args.configs)]
    ref = run_peer(args, nn, labels, repeats=0)
    print(f"\nMSE of the output means against Monte Carlo ({args.mc_samples} samples, antithetic), depth >= 3:\n")
    print("| net | " + " | ".join(f"{lab} ours / ref" for lab in labels) + " | MC stderr² |")
    print("|---|" + "---|" * (len(labels) + 1))
    for name, d in nn.items():
        net = build(d)
        mc = net.monte_carlo(n_samples=args.mc_samples, batch=4096, seed=1, antithetic=True)
        cells = []
        for lab in labels:
            _, k, kind, avg, _ = next(c for c in CONFIGS if c[0] == lab)
            ours = net.estimate("kprop", k_max=k, kind=kind, avg_metric=avg).mean  # type: ignore[arg-type]
            theirs = np.asarray(ref[name][lab]["mean"])
            cells.append(f"{np.mean((ours - mc.mean) ** 2):.2e} / {np.mean((theirs - mc.mean) ** 2):.2e}")
        se2 = float(np.mean(mc.variances[-1] / mc.n_samples))
        print(f"| {name} | " + " | ".join(cells) + f" | {se2:.1e} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer-python", default=None)
    ap.add_argument("--peer-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument(
        "--time-widths",
        type=int,
        nargs="*",
        default=None,
        help=f"widths to time (default {DEFAULT_TIME_WIDTHS}, K = 4 only below {SLOW_FROM}; no value: no timing)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="timing rounds, each the reference's run then ours (ratios robust to the machine's drift)",
    )
    ap.add_argument("--mc-samples", type=int, default=0)
    ap.add_argument("--configs", nargs="*", default=None, help="labels to run (default: all), e.g. 'K3 augment'")
    ap.add_argument("--only", nargs="*", default=None, help="equality on these nets only, e.g. 'relu n=64 L=3 +b'")
    ap.add_argument(
        "--equal-widths",
        action="store_true",
        help="every layer n wide (the reference's factored kinds need square weight matrices)",
    )
    args = ap.parse_args()
    if not args.peer_python or not args.peer_dir or not Path(args.peer_python).exists() or not Path(args.peer_dir).is_dir():
        print("reference code not available (pass --peer-python and --peer-dir of a fetched copy); skipping")
        sys.exit(0)
    equality(args)
    if args.time_widths is None or args.time_widths:
        timing(args)
    if args.mc_samples > 0:
        mse(args)


if __name__ == "__main__":
    main()
