"""Driver run by the reference's interpreter (bench_mlp_reference.py starts it as a subprocess).

Our code, not the reference's: loads weights from an .npz into the reference's ``MLP`` and prints,
as JSON, the output means and variances of ``mlp_kprop`` for K = 1 (average metric on / off),
K = 2 (SIMPLE) and K = 2 (AUGMENT). Usage: python _mlp_ref_peer.py PEER_DIR NETS.npz
"""

import json
import sys

import numpy as np


def main() -> None:
    peer_dir, path = sys.argv[1], sys.argv[2]
    sys.path.insert(0, f"{peer_dir}/src")
    import torch
    from mlp_kprop.kprop_harmonic import AUGMENT, SIMPLE, mlp_kprop
    from mlp_kprop.mlp import MLP

    torch.set_grad_enabled(False)
    torch.set_default_dtype(torch.float64)
    data = np.load(path)
    names = json.loads(str(data["names"]))
    out = {}
    for name in names:
        meta = json.loads(str(data[f"{name}/meta"]))
        depth, n, act, w_var = meta["depth"], meta["n"], meta["act"], meta["w_var"]
        bias = meta["bias"]
        mlp = MLP(
            input_dim=n,
            hidden_dim=n,
            output_dim=n,
            num_layers=depth,
            nonlin=act,
            init_kind="manual",
            w_var=w_var,
            b_var=(0.1 if bias else None),
        )
        for i, lin in enumerate(mlp.Ws):
            lin.weight.data = torch.as_tensor(data[f"{name}/W{i}"], dtype=torch.float64)
            if bias:
                lin.bias.data = torch.as_tensor(data[f"{name}/b{i}"], dtype=torch.float64)
            else:
                assert lin.bias is None
        K_in = {1: torch.zeros(n), 2: torch.eye(n)}
        res = {}
        for label, k_max, kind, avg in [
            ("k1_exact_metric", 1, SIMPLE, False),
            ("k1_avg_metric", 1, SIMPLE, True),
            ("k2_simple", 2, SIMPLE, False),
            ("k2_augment", 2, AUGMENT, False),
        ]:
            K = mlp_kprop(mlp, K_in, k_max=k_max, kind=kind, use_avg_metric=avg)
            mean = K[1].to_tensor()
            cov = K[2].to_tensor()
            var = cov.diagonal() if cov.ndim == 2 else cov
            res[label] = {"mean": mean.tolist(), "var": var.tolist()}
        out[name] = res
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
