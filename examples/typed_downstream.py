"""A small user program written against boltzkit's typed API (all four modules).

``tests/test_typing.py`` checks it with ``mypy --strict``: option names are ``Literal`` aliases
(``fp.FormatName``, ``hmc.Method``, ``mlp.Activation``, ``spin.Schedule``, ...), so a misspelled
option is a type error before anything runs. It also runs as a quick smoke test:

    python examples/typed_downstream.py
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats

from boltzkit import fpentropy as fp
from boltzkit import hmc, mlp, spin


def entropies(formats: list[fp.FormatName]) -> dict[str, float]:
    """Exact entropy of N(0, 1) in each format, in bits."""
    law: fp.FrozenDistribution = stats.norm()
    method: fp.EntropyMethod = "auto"
    return {name: fp.entropy(law, name, method=method).bits for name in formats}


def custom_format() -> fp.FloatFormat:
    zero: fp.ZeroMode = "single"
    overflow: fp.Overflow = "nan"
    return fp.FloatFormat(exponent_bits=4, mantissa_bits=3, zero=zero, overflow=overflow)


def sample_gaussian(method: hmc.Method = "nuts", metric: hmc.Metric = "diag") -> float:
    """Mean effective sample size of a 2-D Gaussian."""
    trace = hmc.sample(hmc.GaussianAniso(dim=2, log10_cond=1), method=method, metric=metric, n_samples=200, warmup=100)
    quantity: hmc.Quantity = "x2"
    return float(np.mean(trace.ess(quantity)))


def network(act: mlp.Activation = "tanh") -> mlp.MLP:
    return mlp.random_mlp([4, 16, 16, 1], act=act, init="critical", seed=1)


def output_variance(net: mlp.MLP, method: mlp.EstimateMethod = "kprop", kind: mlp.KpropKind = "simple") -> float:
    est = net.estimate(method, k_max=2, kind=kind)
    diag: mlp.EstimateDiagnostics = est.diagnostics
    if not diag["reliable"]:
        print("fell back to", diag["fallback"])
    return float(est.variances[-1][0])


def tail(net: mlp.MLP, method: mlp.TailMethod = "gauss") -> float:
    return float(net.tail_probability(threshold=2.0, method=method).p[0])


def ground_state(n: int = 12, schedule: spin.Schedule = "geometric", proposal: spin.Proposal = "metropolis") -> float:
    model = spin.sk(n, seed=3)
    order: spin.SweepOrder = "random"
    result = model.anneal(4, 200, schedule=schedule, proposal=proposal, order=order, seed=0)
    storage: spin.Storage = model.storage
    vartype: spin.Vartype = "BINARY"
    print("storage:", storage, "BQM variables:", model.to_bqm(vartype).num_variables)
    return float(result.best_energies.min())


def custom_schedule(n: int = 8) -> float:
    betas: npt.NDArray[np.float64] = np.linspace(0.1, 3.0, 50)
    return float(spin.sk(n, seed=0).anneal(2, 50, schedule=betas, seed=0).best_energies.min())


def main() -> None:
    print(entropies(["bfloat16", "float8_e4m3fn"]))
    print(custom_format().xmax)
    print("ess:", sample_gaussian())
    net = network()
    print("var:", output_variance(net), "tail:", tail(net))
    print("ground state:", ground_state(), custom_schedule())


if __name__ == "__main__":
    main()
