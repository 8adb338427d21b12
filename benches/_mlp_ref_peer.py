"""Driver run by the reference's interpreter (bench_mlp_reference.py starts it as a subprocess).

Our code, not the reference's: loads weights from an .npz into the reference's ``MLP`` and prints,
as JSON, the output means and variances of ``mlp_kprop`` for every configuration listed in the
.npz (``configs``: ``[label, k_max, kind, use_avg_metric, factor]``), with the wall time of each
call (median and minimum of ``repeats`` runs, after one warm-up run).
Usage: python _mlp_ref_peer.py PEER_DIR NETS.npz THREADS
"""

import json
import sys
import time

import numpy as np


def main() -> None:
    peer_dir, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.path.insert(0, f"{peer_dir}/src")
    import torch
    from mlp_kprop.kprop_harmonic import AUGMENT, SIMPLE, mlp_kprop
    from mlp_kprop.mlp import MLP

    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    torch.set_default_dtype(torch.float64)
    data = np.load(path)
    names = json.loads(str(data["names"]))
    configs = json.loads(str(data["configs"]))
    repeats = int(data["repeats"])
    out = {}
    for name in names:
        meta = json.loads(str(data[f"{name}/meta"]))
        widths, act, w_var, bias = meta["widths"], meta["act"], meta["w_var"], meta["bias"]
        depth = len(widths) - 1
        mlp = MLP(
            input_dim=widths[0],
            hidden_dim=widths[1],
            output_dim=widths[-1],
            num_layers=depth,
            nonlin=act,
            init_kind="manual",
            w_var=w_var,
            b_var=(0.1 if bias else None),
        )
        for i, lin in enumerate(mlp.Ws):
            w = torch.as_tensor(data[f"{name}/W{i}"], dtype=torch.float64)
            lin.weight = torch.nn.Parameter(w, requires_grad=False)
            if bias:
                lin.bias = torch.nn.Parameter(torch.as_tensor(data[f"{name}/b{i}"], dtype=torch.float64), requires_grad=False)
            else:
                assert lin.bias is None
        n0 = widths[0]
        K_in = {1: torch.zeros(n0), 2: torch.eye(n0)}
        res = {}
        for label, k_max, kind, avg, factor in configs:
            if label not in meta["configs"]:
                continue
            kk = SIMPLE if kind == "simple" else AUGMENT
            times = []
            for rep in range(max(repeats, 0) + 1):
                t0 = time.perf_counter()
                K = mlp_kprop(mlp, K_in, k_max=k_max, kind=kk, use_avg_metric=avg, factor=factor)
                if rep > 0 or repeats < 0:
                    times.append(time.perf_counter() - t0)
                if repeats < 0:
                    break
            mean = K[1].to_tensor()
            cov = K[2].to_tensor()
            var = cov.diagonal() if cov.ndim == 2 else cov
            seconds = float(np.median(times)) if times else float("nan")
            best = float(np.min(times)) if times else float("nan")
            res[label] = {"mean": mean.tolist(), "var": var.tolist(), "seconds": seconds, "best": best}
        out[name] = res
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
