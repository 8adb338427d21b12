"""boltzkit.mlp beside the paper's reference code (issue 6 point 9), printed as markdown.

    python benches/bench_mlp_reference.py --peer-python /work/peers-mlp/venv/bin/python \\
        --peer-dir /work/peers-mlp/ref [--mc-samples 1048576]   # ~40 s on 2 cores with MC truths

The reference (alignment-research-center/mlp_cumulant_propagation, PyTorch) is a fetched copy
outside the repository; nothing is fetched here. Random nets are drawn with numpy (float64),
written to a temporary .npz and loaded by ``benches/_mlp_ref_peer.py`` (run through the peer's
interpreter) into the reference's ``MLP``; its ``mlp_kprop`` output means and variances for
K = 1 and K = 2 are compared with our ``mean_prop`` / ``cov_prop`` on the same weights. Input:
standard Gaussian. Pairs compared (max |difference| over the output neurons):

- K=1 exact metric  vs mean_prop  (``use_avg_metric=False``: v_i = s ||W_i||^2, as ours)
- K=1 avg metric    vs mean_prop  (the reference default: v_i = s w_var, not ours; a convention gap)
- K=2 SIMPLE        vs cov_prop, mehler_order=1
- K=2 AUGMENT       vs cov_prop, mehler_order=2 (information only: AUGMENT also keeps other terms)

With ``--mc-samples N`` it also prints the MSE of every estimator's output means against a Monte
Carlo truth on the depth >= 3 nets.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit.mlp import MLP

PEER = Path(__file__).with_name("_mlp_ref_peer.py")
PAIRS = [
    ("k1_exact_metric", "mean_prop", 1),
    ("k1_avg_metric", "mean_prop", 1),
    ("k2_simple", "cov_prop", 1),
    ("k2_augment", "cov_prop", 2),
]


def nets(seed: int) -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Any]] = {}
    for n in (16, 32, 64):
        for depth in (2, 3, 4):
            for act, w_var in (("relu", 2.0), ("tanh", 1.0)):
                for bias in (False, True):
                    ws = [rng.normal(0.0, np.sqrt((1.0 if i == 0 else w_var) / n), (n, n)) for i in range(depth)]
                    bs = [rng.normal(0.0, np.sqrt(0.1), n) for _ in range(depth)] if bias else None
                    name = f"{act} n={n} L={depth}{' +b' if bias else ''}"
                    out[name] = {
                        "n": n,
                        "depth": depth,
                        "act": act,
                        "bias": bias,
                        "ws": ws,
                        "bs": bs,
                        "w_var": [1.0] + [w_var] * (depth - 1),
                    }
    return out


def run_peer(args: argparse.Namespace, nn: dict[str, dict[str, Any]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nets.npz"
        arrays: dict[str, Any] = {"names": json.dumps(list(nn))}
        for name, d in nn.items():
            meta = {k: d[k] for k in ("n", "depth", "act", "bias", "w_var")}
            arrays[f"{name}/meta"] = json.dumps(meta)
            for i, w in enumerate(d["ws"]):
                arrays[f"{name}/W{i}"] = w
                if d["bs"] is not None:
                    arrays[f"{name}/b{i}"] = d["bs"][i]
        np.savez(path, **arrays)
        r = subprocess.run([args.peer_python, str(PEER), args.peer_dir, str(path)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"peer run failed:\n{r.stderr[-4000:]}")
    res: dict[str, Any] = json.loads(r.stdout)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer-python", required=True)
    ap.add_argument("--peer-dir", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--mc-samples", type=int, default=0, help="if > 0: also MSE of the output means against MC truth (depth >= 3 nets)"
    )
    args = ap.parse_args()
    nn = nets(args.seed)
    ref = run_peer(args, nn)
    head = " | ".join(f"{p} vs {m}{'' if m == 'mean_prop' else f'(M={k})'} mean / var" for p, m, k in PAIRS)
    print(f"| net | {head} |")
    print("|---|" + "---|" * len(PAIRS))
    worst: dict[str, list[float]] = {p: [0.0, 0.0] for p, _, _ in PAIRS}
    for name, d in nn.items():
        net = MLP(d["ws"], d["bs"], [d["act"]] * (d["depth"] - 1))
        cells = []
        for label, method, order in PAIRS:
            est = net.estimate(method, mehler_order=order)
            dm = float(np.max(np.abs(est.means[-1] - np.asarray(ref[name][label]["mean"]))))
            dv = float(np.max(np.abs(est.variances[-1] - np.asarray(ref[name][label]["var"]))))
            worst[label] = [max(worst[label][0], dm), max(worst[label][1], dv)]
            cells.append(f"{dm:.1e} / {dv:.1e}")
        print(f"| {name} | {' | '.join(cells)} |")
    print(f"| **max** | {' | '.join(f'**{w[0]:.1e} / {w[1]:.1e}**' for w in worst.values())} |")
    if args.mc_samples > 0:
        print(f"\nMSE of the output means against Monte Carlo ({args.mc_samples} samples, antithetic) on the depth >= 3 nets:\n")
        cols = ["mean_prop", "ref K=1 exact", "cov_prop M=1", "ref K=2 SIMPLE", "cov_prop M=2", "ref K=2 AUGMENT"]
        print("| net | " + " | ".join(cols) + " | MC stderr² (mean) |")
        print("|---|" + "---|" * (len(cols) + 1))
        for name, d in nn.items():
            if d["depth"] < 3:
                continue
            net = MLP(d["ws"], d["bs"], [d["act"]] * (d["depth"] - 1))
            mc = net.monte_carlo(n_samples=args.mc_samples, batch=4096, seed=1, antithetic=True)
            truth = mc.mean
            ests = [
                net.estimate("mean_prop").means[-1],
                np.asarray(ref[name]["k1_exact_metric"]["mean"]),
                net.estimate("cov_prop").means[-1],
                np.asarray(ref[name]["k2_simple"]["mean"]),
                net.estimate("cov_prop", mehler_order=2).means[-1],
                np.asarray(ref[name]["k2_augment"]["mean"]),
            ]
            mse = [float(np.mean((e - truth) ** 2)) for e in ests]
            se2 = float(np.mean(mc.variances[-1] / mc.n_samples))
            print(f"| {name} | " + " | ".join(f"{m:.2e}" for m in mse) + f" | {se2:.1e} |")


if __name__ == "__main__":
    main()
