"""Labelled, sparse-aware conversions between SpinModel and dimod / Ising / QUBO forms (issue 17.1).

The truth is dimod's own energy function (``bqm.energies``, and dimod's ``from_ising`` /
``from_qubo``), evaluated on every state of small models; labels are compared by name, never
by position.
"""

from __future__ import annotations

import copy
import itertools
import pickle
from collections.abc import Hashable
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import boltzkit.spin as sp
from boltzkit.errors import InvalidArgumentError
from boltzkit.spin import SpinModel

dimod: Any = pytest.importorskip("dimod")


def _all_states(n: int, vartype: str) -> np.ndarray:
    s = np.array(list(itertools.product([-1, 1], repeat=n)), dtype=np.int8).reshape(2**n, n)
    return s if vartype == "SPIN" else (s + 1) // 2


def _spins(states: np.ndarray, vartype: Any) -> np.ndarray:
    return states if vartype is dimod.SPIN else 2 * states - 1


def _check_energies(m: SpinModel, bqm: Any, rtol: float = 1e-12, free_ok: bool = False) -> None:
    """Every state: the model's energy equals dimod's, matching variables by label.

    ``free_ok``: the model may have extra spins (integer indices dimod does not list) that must be free.
    """
    extra = [k for k, v in enumerate(m.labels) if v not in bqm.variables]
    if free_ok:
        assert np.all(m.h[extra] == 0) and np.all(m.to_csr().toarray()[extra] == 0)
    else:
        assert not extra
    assert set(bqm.variables) <= set(m.labels) and m.n == len(bqm.variables) + len(extra)
    # enumerate dimod's variables only (integer labels up to 40 may make 41 spins): the extra,
    # free spins take random values, which must not change the energy
    keep = [k for k in range(m.n) if k not in extra]
    if len(keep) <= 14:
        xk = _all_states(len(keep), bqm.vartype.name)
    else:  # a QUBO dict made from a model with integer labels up to 40 lists every index: sample states
        xk = np.random.default_rng(len(keep)).integers(0, 2, (4096, len(keep))).astype(np.int8)
        xk = 2 * xk - 1 if bqm.vartype.name == "SPIN" else xk
    truth = bqm.energies((xk, [m.labels[k] for k in keep]))
    x = np.random.default_rng(len(extra)).integers(0, 2, size=(len(xk), m.n)).astype(np.int8)
    if bqm.vartype.name == "SPIN":
        x = 2 * x - 1
    x[:, keep] = xk
    got = m.energy(_spins(x, bqm.vartype))
    scale = 1 + np.abs(list(bqm.linear.values())).sum() + np.abs(list(bqm.quadratic.values())).sum() + abs(bqm.offset)
    np.testing.assert_allclose(got, truth, rtol=0, atol=rtol * scale)


_label_kinds = st.sampled_from(["range_shuffled", "ints_gaps", "str", "mixed"])


@st.composite
def labelled_bqms(draw: st.DrawFn) -> Any:
    """Random BQMs: SPIN / BINARY, shuffled / out-of-order / mixed labels, zero couplings, isolated spins."""
    n = draw(st.integers(0, 6))
    kind = draw(_label_kinds)
    if kind == "range_shuffled":
        labels: list[Hashable] = list(draw(st.permutations(list(range(n)))))
    elif kind == "ints_gaps":
        labels = draw(st.lists(st.integers(-20, 40), min_size=n, max_size=n, unique=True))
    elif kind == "str":
        labels = [f"v{k}" for k in draw(st.permutations(list(range(n))))]
    else:
        pool: list[Hashable] = [0, 3, "a", "b", ("x", 1), ("x", 2), frozenset({5}), -7, 2.5]
        labels = draw(st.permutations(pool))[:n]
    bias = st.one_of(st.just(0.0), st.floats(-3, 3, allow_nan=False), st.sampled_from([1.0, -1.0, 0.5]))
    vartype = draw(st.sampled_from(["SPIN", "BINARY"]))
    bqm = dimod.BinaryQuadraticModel(vartype)
    pairs = [(labels[i], labels[j]) for i in range(n) for j in range(i + 1, n)]
    chosen = [p for p in pairs if draw(st.booleans())]
    # dimod orders variables by first appearance: add some through couplings first
    for u, v in draw(st.permutations(chosen)):
        bqm.add_quadratic(u, v, draw(bias))  # zero couplings stay as explicit interactions
    for v in labels:
        bqm.add_linear(v, draw(bias))  # isolated variables included
    bqm.offset = draw(st.floats(-5, 5, allow_nan=False))
    return bqm


@pytest.mark.filterwarnings("ignore:dtype. couplings:UserWarning")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bqm=labelled_bqms(), storage=st.sampled_from(["auto", "dense", "csr"]), f32=st.booleans())
def test_from_bqm_energies_and_round_trip(bqm: Any, storage: Any, f32: bool) -> None:
    m = SpinModel.from_bqm(bqm, storage=storage, dtype=np.float32 if f32 else np.float64)
    if m.n:
        assert m.storage == ("csr" if storage == "csr" else "dense")
    _check_energies(m, bqm)
    # integer labels are spin indices: sorted, whatever dimod's order
    if all(isinstance(v, int) for v in bqm.variables):
        assert m.labels == sorted(bqm.variables)
    back = m.to_bqm(vartype=bqm.vartype.name)
    assert back.vartype is bqm.vartype
    assert list(back.variables) == m.labels
    dimod.testing.assert_bqm_almost_equal(back, bqm, places=10, ignore_zero_interactions=True)
    again = SpinModel.from_bqm(back, variable_order=m.labels, storage=storage)
    assert again.labels == m.labels
    np.testing.assert_allclose(again.h, m.h, rtol=0, atol=1e-12)
    if m.n:
        np.testing.assert_allclose(again.to_csr().toarray(), m.to_csr().toarray(), rtol=0, atol=1e-12)
    # the spin-order results carry the labels
    if m.n:
        d = m.descend(np.ones(m.n))
        assert d.labels == tuple(m.labels)


@settings(max_examples=40, deadline=None)
@given(bqm=labelled_bqms())
def test_ising_and_qubo_dicts_match_dimod(bqm: Any) -> None:
    h, J, off = bqm.spin.to_ising()
    m = SpinModel.from_ising(h, J, off)
    _check_energies(m, bqm.spin, free_ok=True)
    _check_energies(SpinModel.from_ising(h, J, off, variable_order=list(bqm.variables)), bqm.spin)
    hd, jd, o2 = m.to_ising_dicts()
    _check_energies(SpinModel.from_ising(hd, jd, o2, variable_order=m.labels), bqm.spin, free_ok=True)
    q, qoff = bqm.binary.to_qubo()
    mq = SpinModel.from_qubo(q, qoff)
    _check_energies(mq, bqm.binary, free_ok=True)
    _check_energies(SpinModel.from_qubo(q, qoff, variable_order=list(bqm.variables)), bqm.binary)
    qd, qo = mq.to_qubo("dict")
    _check_energies(SpinModel.from_qubo(qd, qo, variable_order=mq.labels), dimod.BinaryQuadraticModel.from_qubo(qd, qo))
    if mq.n:
        qm, qmo = mq.to_qubo()
        qc, _ = mq.to_qubo("csr")
        np.testing.assert_array_equal(qc.toarray(), qm)
        assert qmo == qo
        # integer labels up to 40 make up to 41 spins (most free): all states when few, else 4096 random ones
        x = (
            _all_states(mq.n, "BINARY")
            if mq.n <= 12
            else np.random.default_rng(mq.n).integers(0, 2, (4096, mq.n)).astype(np.int8)
        )
        np.testing.assert_allclose(np.einsum("ki,ij,kj->k", x, qm, x) + qmo, mq.energy(2 * x - 1), atol=1e-9)


def _random_states(n: int, k: int = 64, seed: int = 0) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random((k, n)) < 0.5, -1, 1).astype(np.int8)


@pytest.mark.parametrize(
    "model",
    [
        SpinModel(np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -2.0], [1.0, -2.0, 0.0]]), [0.1, -0.2, 0.3], offset=0.7),
        sp.lattice_2d(8, kind="pm_j", seed=1),
        sp.layered_sk([6, 5, 4], seed=2),
        sp.SpinModel(sp.sk(12, seed=3).J, dtype=np.float32),
    ],
    ids=["3spin_J01_zero", "lattice8x8", "layered654", "sk_float32"],
)
def test_issue_examples_round_trip_exactly(model: SpinModel) -> None:
    """The issue's cases: J[0,1] = 0 made dimod reorder the variables, spins came back permuted."""
    bqm = model.to_bqm()
    if model.n == 3:
        assert list(bqm.variables) == [0, 1, 2]
    back = SpinModel.from_bqm(bqm)
    assert back.labels == list(range(model.n))
    np.testing.assert_array_equal(back.to_csr().toarray(), model.to_csr().toarray())
    np.testing.assert_array_equal(back.h, model.h)
    s = _random_states(model.n)
    np.testing.assert_allclose(back.energy(s), model.energy(s), rtol=0, atol=1e-12)
    np.testing.assert_allclose(bqm.energies((s, list(range(model.n)))), model.energy(s), rtol=0, atol=1e-12)
    # dimod sees the variables in its own order; a shuffled copy of the same BQM maps by label
    perm = list(np.random.default_rng(0).permutation(model.n))
    shuffled = dimod.BinaryQuadraticModel(dimod.SPIN)
    for v in perm:
        shuffled.add_linear(int(v), bqm.get_linear(int(v)))
    for (u, v), w in bqm.quadratic.items():
        shuffled.add_quadratic(u, v, w)
    shuffled.offset = bqm.offset
    np.testing.assert_allclose(SpinModel.from_bqm(shuffled).energy(s), model.energy(s), rtol=0, atol=1e-12)


def test_integer_labels_out_of_order_are_labels_not_positions() -> None:
    bqm = dimod.BinaryQuadraticModel({2: 1.0, 0: -0.5, 1: 0.25}, {(2, 0): 0.75}, 0.0, dimod.SPIN)
    assert list(bqm.variables) == [2, 0, 1]
    m = SpinModel.from_bqm(bqm)
    assert m.labels == [0, 1, 2]
    assert m.h.tolist() == [0.5, -0.25, -1.0] and m.J[0, 2] == -0.75 and m.J[0, 1] == 0.0
    kept = SpinModel.from_bqm(bqm, variable_order=[2, 0, 1])
    assert kept.labels == [2, 0, 1] and kept.h.tolist() == [-1.0, 0.5, -0.25]
    assert list(kept.to_bqm().variables) == [2, 0, 1]


def test_labels_survive_storages_copies_and_results() -> None:
    lab = ["in0", "in1", "h0", "h1", "h2", "out"]
    lay = SpinModel.from_layers([np.ones((3, 2)), np.ones((1, 3))], labels=lab)
    assert lay.storage == "layered" and lay.labels == lab
    bqm = lay.to_bqm()
    assert list(bqm.variables) == lab
    back = SpinModel.from_bqm(bqm)
    assert back.labels == lab
    np.testing.assert_array_equal(back.J, lay.J)
    csr = SpinModel(lay.to_csr(), lay.h, labels=lab)
    f32 = SpinModel(lay.J, lay.h, dtype=np.float32, labels=lab)
    for m in (lay, csr, f32, copy.deepcopy(csr), pickle.loads(pickle.dumps(f32)), lay.with_labels(lab)):
        assert m.labels == lab
        r = m.anneal(2, 5, seed=1)
        assert r.labels == tuple(lab)
        assert m.tempering([0.5, 1.0], 20, n_sets=1).labels == tuple(lab)
    assert lay.with_labels(None).labels == list(range(6))
    assert SpinModel(np.zeros((2, 2)), labels=np.array([0, 1])).labels == [0, 1]  # type: ignore[arg-type]
    assert "labelled" in repr(csr)


def test_sparse_bqm_stays_sparse() -> None:
    n = 20_000
    bqm = dimod.BinaryQuadraticModel.from_ising({}, {(i, i + 1): 1.0 for i in range(n - 1)}, 0.5)
    m = SpinModel.from_bqm(bqm)
    assert m.storage == "csr" and m.n == n and m.to_csr().nnz == 2 * (n - 1)
    s = _random_states(n, 4)
    np.testing.assert_allclose(m.energy(s), bqm.energies((s, m.labels)), rtol=1e-12)
    back = m.to_bqm()
    assert back.num_interactions == n - 1 and back.offset == 0.5
    # a dense BQM stays dense
    assert SpinModel.from_bqm(sp.sk(300, seed=0).to_bqm()).storage == "dense"
    assert SpinModel.from_bqm(bqm, variable_order=list(range(n)), storage="csr").storage == "csr"
    assert SpinModel.from_bqm(dimod.BinaryQuadraticModel({}, {(0, 1): 1.0}, 0, "SPIN"), storage="dense").storage == "dense"
    assert SpinModel.from_ising({}, {(0, 1): 1.0}, storage="csr").storage == "csr"
    assert isinstance(SpinModel.from_qubo(np.eye(3), storage="csr").to_csr(), sps.csr_array)


def test_offset_only_and_empty_models() -> None:
    bqm = dimod.BinaryQuadraticModel({}, {}, 2.5, dimod.BINARY)
    m = SpinModel.from_bqm(bqm)
    assert m.n == 0 and m.labels == [] and m.energy(np.zeros((3, 0))).tolist() == [2.5] * 3
    back = m.to_bqm()
    assert len(back.variables) == 0 and back.offset == 2.5
    assert SpinModel.from_ising({}, {}, 1.5).energy(np.zeros(0)) == 1.5
    assert SpinModel.from_qubo({}, -1.0).to_qubo("dict") == ({}, -1.0)
    for call in (lambda: m.anneal(1, 1), lambda: m.descend(np.zeros((1, 0))), lambda: m.tempering([1.0], 10)):
        with pytest.raises(InvalidArgumentError, match=r"^model: "):
            call()
    # variables with all-zero biases are spins too
    z = SpinModel.from_bqm(dimod.BinaryQuadraticModel({"a": 0.0, "b": 0.0}, {}, 1.0, dimod.SPIN))
    assert z.n == 2 and z.labels == ["a", "b"] and np.all(z.energy(_all_states(2, "SPIN")) == 1.0)
