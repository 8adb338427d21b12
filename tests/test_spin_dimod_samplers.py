"""boltzkit.spin's dimod samplers (issue 17.2): dimod's own conformance checks, dwave-samplers'
usage examples run unchanged apart from the import, and energies / distributions checked against
dimod's ExactSolver (brute force, independent of boltzkit)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest

import boltzkit.spin as sp
from boltzkit.errors import InvalidArgumentError, InvalidTypeError

dimod: Any = pytest.importorskip("dimod")
asserts: Any = pytest.importorskip("dimod.testing.asserts")

SAMPLERS = [sp.SimulatedAnnealingSampler, sp.SteepestDescentSolver, sp.TemperingSampler]


def _bqms() -> list[Any]:
    spin = dimod.BinaryQuadraticModel({"a": 0.5, ("x", 1): -1.0, 3: 0.0}, {("a", ("x", 1)): 1.0, (3, "a"): -0.7}, 1.25, "SPIN")
    binary = dimod.BinaryQuadraticModel({2: 1.0, 0: -2.0, 1: 0.5}, {(2, 0): 1.5, (0, 1): 0.0}, -0.5, "BINARY")
    return [spin, binary, dimod.BinaryQuadraticModel({}, {}, 3.0, "SPIN")]


@pytest.mark.parametrize("cls", SAMPLERS)
def test_dimod_conformance(cls: Any) -> None:
    sampler = cls()
    asserts.assert_sampler_api(sampler)
    for bqm in _bqms():
        ss = sampler.sample(bqm, num_reads=3, seed=4)
        asserts.assert_sampleset_energies(ss, bqm)
        assert ss.vartype is bqm.vartype and set(ss.variables) == set(bqm.variables)
        assert len(ss) == 3 and np.all(ss.record.num_occurrences == 1)
        assert set(ss.info["timing"]) == {"preprocessing_ns", "sampling_ns", "postprocessing_ns"}
        asserts.assert_response_energies(ss, bqm)
    # the mixins build the BQM from Ising / QUBO dicts
    asserts.assert_sampleset_energies(
        sampler.sample_ising({"p": 1.0}, {("p", "q"): -1.0}, seed=1), dimod.BQM.from_ising({"p": 1.0}, {("p", "q"): -1.0})
    )
    asserts.assert_sampleset_energies(
        sampler.sample_qubo({(0, 0): 1.0, (0, 1): -3.0}, seed=1), dimod.BQM.from_qubo({(0, 0): 1.0, (0, 1): -3.0})
    )
    for name in sampler.parameters:
        assert name in cls.sample.__code__.co_varnames, name


@pytest.mark.filterwarnings("ignore:SampleSet.samples:DeprecationWarning")
def test_dwave_samplers_examples_run_unchanged() -> None:
    """Examples from dwave-samplers' README and docstrings; only the import line differs."""
    from boltzkit.spin import SimulatedAnnealingSampler

    sampler = SimulatedAnnealingSampler()
    h = {"a": 0.0, "b": 0.0, "c": 0.0}
    J = {("a", "b"): 1.0, ("b", "c"): 1.0, ("a", "c"): 1.0}
    sampleset = sampler.sample_ising(h, J, num_reads=10)
    assert sampleset.first.energy == -1.0

    bqm = dimod.BinaryQuadraticModel({"a": 0.5, "b": -0.5}, {("a", "b"): -1}, 0.0, dimod.SPIN)
    sampleset = sampler.sample(bqm)
    sampleset = sampler.sample(bqm, seed=1234, beta_range=[0.1, 4.2], num_sweeps=20, beta_schedule_type="geometric")
    a1 = next((sampler.sample(bqm, seed=88)).samples())["a"]
    a2 = next((sampler.sample(bqm, seed=88)).samples())["a"]
    assert a1 == a2

    bqm = dimod.generators.gnp_random_bqm(100, 0.5, "BINARY")
    sampleset = sampler.sample(bqm)
    sampleset = sampler.sample(bqm, beta_range=[0.1, 4.2], beta_schedule_type="linear")
    asserts.assert_sampleset_energies(sampleset, bqm)

    from boltzkit.spin import SteepestDescentSolver

    solver = SteepestDescentSolver()
    from dimod import Binaries

    x, y = Binaries(["x", "y"])
    qubo = x + y - 2.5 * x * y
    sampleset = solver.sample(qubo, initial_states={"x": 0, "y": 1})
    assert sampleset.first.sample == {"x": 1, "y": 1} and sampleset.first.energy == -0.5
    sampleset = solver.sample(qubo, initial_states={"x": 0, "y": 0})
    assert sampleset.first.sample == {"x": 0, "y": 0}

    samples = solver.sample_ising({0: 2, 1: 2}, {(0, 1): -1})
    assert samples.first.energy == -5.0
    bqm = dimod.BQM.from_ising({"x": 2, "y": 2}, {"xy": -1})
    samples = solver.sample(bqm, initial_states=([1, 1], "xy"), num_reads=3)
    assert np.all(samples.record.energy == -5.0) and samples.record.num_steps[0] == 2
    bqm = dimod.generators.ran_r(5, 3)
    samples = SimulatedAnnealingSampler().sample(bqm)
    postprocessed = SteepestDescentSolver().sample(bqm, initial_states=samples)
    assert postprocessed.first.energy <= samples.first.energy


def test_annealing_finds_ground_states_and_follows_dwave_semantics() -> None:
    rng = np.random.default_rng(0)
    labels = [f"s{k}" for k in rng.permutation(10)]
    bqm = dimod.BinaryQuadraticModel("SPIN")
    for k, u in enumerate(labels):
        bqm.add_linear(u, float(rng.normal()))
        for v in labels[k + 1 :]:
            bqm.add_quadratic(u, v, float(rng.normal()))
    bqm.offset = 2.0
    ground = dimod.ExactSolver().sample(bqm).first.energy
    sa = sp.SimulatedAnnealingSampler()
    ss = sa.sample(bqm, num_reads=20, num_sweeps=500, seed=7)
    assert ss.first.energy == pytest.approx(ground, abs=1e-9)
    assert ss.info["beta_schedule_type"] == "geometric" and len(ss.info["beta_range"]) == 2
    again = sa.sample(bqm, num_reads=20, num_sweeps=500, seed=7, threads=1)
    np.testing.assert_array_equal(again.record.sample, ss.record.sample)
    # BINARY in, BINARY out, same energies
    b = bqm.binary
    ssb = sa.sample(b, num_reads=20, num_sweeps=500, seed=7, randomize_order=True, proposal_acceptance_criteria="Gibbs")
    assert ssb.vartype is dimod.BINARY and ssb.first.energy == pytest.approx(ground, abs=1e-9)
    # custom schedule, num_sweeps_per_beta, num_sweeps = 0 returns the initial states
    init = dimod.SampleSet.from_samples_bqm(([[1] * 10, [-1] * 10], labels), bqm)
    ss0 = sa.sample(bqm, num_sweeps=0, initial_states=init, seed=1)
    np.testing.assert_array_equal(np.sort(ss0.record.sample.sum(axis=1)), [-10, 10])
    ssc = sa.sample(bqm, beta_schedule_type="custom", beta_schedule=[0.1, 1.0, 10.0], num_sweeps_per_beta=50, num_reads=8, seed=2)
    asserts.assert_sampleset_energies(ssc, bqm)
    # initial_states_generator: 'none' needs enough states, 'tile' repeats them
    with pytest.raises(InvalidArgumentError, match=r"^initial_states: "):
        sa.sample(bqm, num_reads=3, initial_states=init, initial_states_generator="none")
    tiled = sa.sample(bqm, num_reads=4, num_sweeps=0, initial_states=init, initial_states_generator="tile")
    assert len(tiled) == 4
    # steepest descent from the annealed states stays put
    sd = sp.SteepestDescentSolver().sample(bqm, initial_states=ss)
    np.testing.assert_allclose(np.sort(sd.record.energy), np.sort(ss.record.energy), atol=1e-9)
    assert np.all(sd.record.num_steps == 0)


def test_tempering_samples_the_boltzmann_distribution() -> None:
    """Mean energy at β = 0.7 against the exact Boltzmann average (ExactSolver), within 5 standard errors."""
    rng = np.random.default_rng(1)
    bqm = dimod.BinaryQuadraticModel("SPIN")
    for i in range(6):
        bqm.add_linear(("v", i), float(rng.normal(scale=0.5)))
        for j in range(i + 1, 6):
            bqm.add_quadratic(("v", i), ("v", j), float(rng.normal()))
    exact = dimod.ExactSolver().sample(bqm)
    beta = 0.7
    w = np.exp(-beta * (exact.record.energy - exact.record.energy.min()))
    mean = float(np.sum(w * exact.record.energy) / w.sum())
    ss = sp.TemperingSampler().sample(
        bqm, num_reads=400, num_sweeps=60, beta_schedule_type="custom", beta_schedule=[0.3, 0.5, beta], seed=3
    )
    e = ss.record.energy
    assert abs(e.mean() - mean) < 5 * e.std(ddof=1) / np.sqrt(e.size) + 1e-9
    assert ss.info["beta_schedule"] == [0.3, 0.5, beta] and len(ss.info["swap_acceptance"]) == 2


def test_sampler_errors_name_the_argument() -> None:
    bqm = _bqms()[0]
    sa = sp.SimulatedAnnealingSampler()
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: sa.sample({"a": 1.0}), InvalidTypeError, r"^bqm: "),
        (lambda: sa.sample(bqm, seed=-1), InvalidArgumentError, r"^seed: "),
        (lambda: sa.sample(bqm, seed=2**32), InvalidArgumentError, r"^seed: "),
        (lambda: sa.sample(bqm, num_reads=0), InvalidArgumentError, r"^num_reads: "),
        (lambda: sa.sample(bqm, num_sweeps=10, num_sweeps_per_beta=3), InvalidArgumentError, r"^num_sweeps: "),
        (lambda: sa.sample(bqm, beta_schedule_type="geometrc"), InvalidArgumentError, r"^beta_schedule_type: "),  # type: ignore[arg-type]
        (lambda: sa.sample(bqm, beta_schedule_type="custom"), InvalidArgumentError, r"^beta_schedule: "),
        (lambda: sa.sample(bqm, beta_schedule=[1.0]), InvalidArgumentError, r"^beta_schedule: "),
        (lambda: sa.sample(bqm, beta_schedule_type="custom", beta_schedule=[-1.0]), InvalidArgumentError, r"^beta_schedule: "),
        (lambda: sa.sample(bqm, beta_range=[0.0, 1.0]), InvalidArgumentError, r"^beta_range: "),
        (lambda: sa.sample(bqm, beta_range=[1.0]), InvalidArgumentError, r"^beta_range: "),
        (lambda: sa.sample(bqm, interrupt_function=lambda: False), InvalidArgumentError, r"^interrupt_function: "),  # type: ignore[arg-type]
        (lambda: sa.sample(bqm, proposal_acceptance_criteria="metropolis"), InvalidArgumentError, r"^proposal_acceptance"),  # type: ignore[arg-type]
        (lambda: sa.sample(bqm, initial_states_generator="zeros"), InvalidArgumentError, r"^initial_states_generator: "),  # type: ignore[arg-type]
        (lambda: sa.sample(bqm, initial_states=[[1, 1]]), InvalidArgumentError, r"^initial_states: "),
        (lambda: sp.TemperingSampler().sample(bqm, num_reads=2000), InvalidArgumentError, r"^num_reads: "),
        (
            lambda: sp.TemperingSampler().sample(bqm, beta_schedule_type="custom", beta_schedule=[]),
            InvalidArgumentError,
            r"^beta_schedule: ",
        ),
        (lambda: sp.SteepestDescentSolver().sample(bqm, large_sparse_opt="x"), InvalidTypeError, r"^large_sparse_opt: "),  # type: ignore[arg-type]
    ]
    for call, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            call()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        sa.sample(bqm, num_sweeps=5, not_a_parameter=1)
    assert any(issubclass(x.category, dimod.exceptions.SamplerUnknownArgWarning) for x in w)


def test_import_without_dimod() -> None:
    code = (
        "import sys; sys.modules['dimod'] = None\n"
        "import boltzkit.spin as sp\n"
        "sp.SpinModel([[0, 1], [1, 0]]).anneal(1, 2)\n"
        "try:\n    sp.SimulatedAnnealingSampler\nexcept ModuleNotFoundError as e:\n    print('OK', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.startswith("OK SimulatedAnnealingSampler: needs dimod"), out.stdout + out.stderr


def _dwave_rule(bqm: Any, rate: float = 0.01) -> list[float]:
    """dwave-samplers' ``_default_ising_beta_range`` written out over the BQM's dicts (the truth)."""
    h, J, _ = bqm.spin.to_ising()
    total = {k: abs(v) for k, v in h.items()}
    smallest = {k: abs(v) for k, v in h.items() if v != 0}
    for (a, b), v in J.items():
        for k in (a, b):
            total[k] += abs(v)
            if v != 0:
                smallest[k] = min(abs(v), smallest.get(k, np.inf))
    vals = np.array(list(smallest.values()))
    cold = np.log(np.sum(vals == vals.min()) / rate) / (2 * vals.min())
    return [np.log(2) / (2 * max(total.values())), float(cold)]


@pytest.mark.parametrize("storage", ["dense", "csr", "layered", "float32"])
def test_default_beta_range_is_dwaves_rule(storage: str) -> None:
    from boltzkit.spin._samplers import default_ising_beta_range

    rng = np.random.default_rng(4)
    if storage == "layered":
        m = sp.SpinModel.from_layers([rng.standard_normal((5, 7)), rng.integers(-2, 3, (3, 5)).astype(float)])
    else:
        j = np.triu(rng.integers(-3, 4, (30, 30)) * 0.5, 1)
        j[rng.random((30, 30)) < 0.6] = 0  # zeros, and rows whose smallest coupling is shared
        import scipy.sparse as sps

        jj = sps.csr_array(j + j.T) if storage == "csr" else j + j.T
        m = sp.SpinModel(jj, rng.integers(-1, 2, 30) * 0.25, dtype=np.float32 if storage == "float32" else np.float64)
    assert m.storage == ("layered" if storage == "layered" else "csr" if storage == "csr" else "dense")
    np.testing.assert_allclose(default_ising_beta_range(m), _dwave_rule(m.to_bqm()), rtol=1e-12)
