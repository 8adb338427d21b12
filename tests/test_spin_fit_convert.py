"""MPF / pseudolikelihood fits against exact sampling and exact ML; exact conversions between
the canonical form, dimod's Ising convention, QUBO and the {0,1} MPF form; the NN→spin map."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import boltzkit.spin as sp
from boltzkit import _core
from boltzkit.spin import SpinModel


def random_model(n: int, rng: np.random.Generator, scale: float = 1.0, h: float = 0.1) -> SpinModel:
    a = scale * rng.standard_normal((n, n)) / np.sqrt(n)
    j = np.triu(a, 1)
    return SpinModel(j + j.T, h * rng.standard_normal(n))


def exact_samples(m: SpinModel, sizes: list[int], seed: int) -> list[np.ndarray]:
    """Samples drawn from the Boltzmann law (β = 1) computed over all states in numpy."""
    s = np.array(list(itertools.product([-1, 1], repeat=m.n)), dtype=np.int8)
    sf = s.astype(np.float64)
    e = -0.5 * ((sf @ m.J) * sf).sum(axis=1) - sf @ m.h
    p = np.exp(-(e - e.min()))
    p /= p.sum()
    rng = np.random.default_rng(seed)
    return [s[rng.choice(len(s), size=b, p=p)] for b in sizes]


def test_gradients_match_finite_differences(rng: np.random.Generator) -> None:
    m = random_model(8, rng)
    data = rng.choice([-1, 1], size=(400, 8)).astype(np.int8)
    eps = 1e-6
    for obj in ("mpf", "pl"):
        _, gj, gh = sp.mpf_objective(data, m, objective=obj)
        for i, j in ((0, 1), (2, 7), (5, 6)):
            jp, jm = m.J.copy(), m.J.copy()
            jp[i, j] += eps
            jp[j, i] += eps
            jm[i, j] -= eps
            jm[j, i] -= eps
            fd = (sp.mpf_objective(data, SpinModel(jp, m.h), objective=obj)[0]
                  - sp.mpf_objective(data, SpinModel(jm, m.h), objective=obj)[0]) / (2 * eps)  # fmt: skip
            assert gj[i, j] == pytest.approx(fd, rel=1e-6, abs=1e-9)
        for i in (0, 3):
            hp, hm = m.h.copy(), m.h.copy()
            hp[i] += eps
            hm[i] -= eps
            fd = (sp.mpf_objective(data, SpinModel(m.J, hp), objective=obj)[0]
                  - sp.mpf_objective(data, SpinModel(m.J, hm), objective=obj)[0]) / (2 * eps)  # fmt: skip
            assert gh[i] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    w, _ = m.to_mpf_form()
    for all_flip in (False, True):
        _, gw = _core.spin_fit_objective01(data, w, all_flip)
        for i, j in ((0, 1), (3, 3), (4, 7)):
            wp, wm = w.copy(), w.copy()
            for a, b in {(i, j), (j, i)}:
                wp[a, b] += eps
                wm[a, b] -= eps
            fd = (_core.spin_fit_objective01(data, wp, all_flip)[0] - _core.spin_fit_objective01(data, wm, all_flip)[0]) / (
                2 * eps
            )
            assert gw[i, j] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_pm1_and_01_objectives_agree_exactly(rng: np.random.Generator) -> None:
    m = random_model(9, rng)
    data = rng.choice([-1, 1], size=(300, 9)).astype(np.int8)
    w, _ = m.to_mpf_form()
    k_pm1 = sp.mpf_objective(data, m)[0]
    k_01 = _core.spin_fit_objective01(data, w, False)[0]
    assert k_01 == pytest.approx(k_pm1, rel=1e-12)


@pytest.fixture(scope="module")
def n10() -> tuple[SpinModel, np.ndarray]:
    truth = random_model(10, np.random.default_rng(1))
    return truth, exact_samples(truth, [100_000], 0)[0]


def test_mpf_recovers_couplings_and_agrees_with_exact_ml(n10: tuple[SpinModel, np.ndarray]) -> None:
    truth, data = n10
    mpf = sp.fit_mpf(data)
    ml = sp.fit_exact_ml(data)
    pl = sp.fit_pseudolikelihood(data)
    assert mpf.converged and pl.converged
    assert sp.coupling_rmse(mpf.model, truth) < 0.05
    assert sp.coupling_rmse(pl.model, truth) < 0.05
    # all three are consistent estimators: they differ by much less than their error
    assert sp.coupling_rmse(mpf.model, ml.model) < 0.01
    assert sp.coupling_rmse(pl.model, ml.model) < 0.01
    np.testing.assert_allclose(mpf.model.h, truth.h, atol=0.05)


def test_01_mode_gives_the_same_model(n10: tuple[SpinModel, np.ndarray]) -> None:
    _, data = n10
    a = sp.fit_mpf(data[:10_000])
    b = sp.fit_mpf((data[:10_000] + 1) // 2, spins="01")
    assert sp.coupling_rmse(a.model, b.model) < 1e-4
    np.testing.assert_allclose(a.model.h, b.model.h, atol=1e-4)
    c = sp.fit_mpf((data[:10_000] + 1) // 2, spins="01", all_flip=True)
    assert c.converged and sp.coupling_rmse(a.model, c.model) < 0.05


def test_mpf_error_shrinks_like_one_over_sqrt_samples() -> None:
    truth = random_model(20, np.random.default_rng(2), h=0.0)
    bs = np.array([1000, 4000, 16000])
    errs = np.array([sp.coupling_rmse(sp.fit_mpf(d).model, truth) for d in exact_samples(truth, [int(b) for b in bs], 7)])
    slope = np.polyfit(np.log(bs), np.log(errs), 1)[0]
    assert -0.65 < slope < -0.35, (errs, slope)


def test_l2_shrinks_couplings(n10: tuple[SpinModel, np.ndarray]) -> None:
    _, data = n10
    a = sp.fit_mpf(data[:5000])
    b = sp.fit_mpf(data[:5000], l2=1.0)
    assert np.abs(b.model.J).sum() < np.abs(a.model.J).sum()


# --------------------------------------------------------------------------------- conversions
def _all(n: int) -> np.ndarray:
    return np.array(list(itertools.product([-1, 1], repeat=n)), dtype=np.int8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qubo_mpf_and_ising_forms_have_equal_energies(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = SpinModel(random_model(7, rng, h=0.7).J, rng.standard_normal(7), offset=0.3)
    s = _all(7)
    e = m.energy(s)
    x = (1 + s.astype(np.float64)) / 2
    q, qo = m.to_qubo()
    np.testing.assert_allclose(np.einsum("ki,ij,kj->k", x, q, x) + qo, e, atol=1e-12)
    w, wo = m.to_mpf_form()
    np.testing.assert_allclose(np.einsum("ki,ij,kj->k", x, w, x) + wo, e, atol=1e-12)
    hd, jd, off = m.to_ising_dicts()
    sf = s.astype(np.float64)
    ed = sum(v * sf[:, i] for i, v in hd.items()) + sum(v * sf[:, i] * sf[:, j] for (i, j), v in jd.items()) + off
    np.testing.assert_allclose(ed, e, atol=1e-12)
    for back in (SpinModel.from_qubo(q, qo), SpinModel.from_mpf_form(w, wo), SpinModel.from_ising(hd, jd, off)):
        np.testing.assert_allclose(back.energy(s), e, atol=1e-12)
        np.testing.assert_allclose(back.J, m.J, atol=1e-12)
    # a full (non-triangular) QUBO matrix and a dict
    qf = rng.standard_normal((7, 7))
    mq = SpinModel.from_qubo(qf, 1.5)
    np.testing.assert_allclose(mq.energy(s), np.einsum("ki,ij,kj->k", x, qf, x) + 1.5, atol=1e-12)
    qd = {(i, j): float(qf[i, j]) for i in range(7) for j in range(7)}
    np.testing.assert_allclose(SpinModel.from_qubo(qd, 1.5).energy(s), mq.energy(s), atol=1e-12)


@pytest.mark.parametrize("empty", [{}, np.zeros((0, 0))])
def test_empty_qubo_and_mpf_forms_are_the_offset_alone(empty: Any) -> None:
    # fuzz regression: from_mpf_form({}, offset=2**62) returned a model without spins while a
    # 0x0 matrix was refused as "J: the model has no spins"; both are now the offset alone
    for make in (SpinModel.from_qubo, SpinModel.from_mpf_form):
        m = make(empty, 2.0**62)
        assert m.n == 0 and m.offset == 2.0**62
        assert m.energy(np.zeros(0, dtype=np.int8)) == 2.0**62


def test_mpf_form_errors_name_w() -> None:
    from boltzkit.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=r"^W: expected a square matrix"):
        SpinModel.from_mpf_form(np.zeros((2, 3)))
    with pytest.raises(InvalidArgumentError, match=r"^W\[0, 1\]: must be a finite"):
        SpinModel.from_mpf_form({(0, 1): float("nan")})
    with pytest.raises(InvalidArgumentError, match=r"^Q: expected a square matrix"):
        SpinModel.from_qubo(np.zeros((2, 3)))


def test_dimod_round_trip() -> None:
    dimod: Any = pytest.importorskip("dimod")
    rng = np.random.default_rng(5)
    m = SpinModel(random_model(8, rng).J, rng.standard_normal(8), offset=-0.4)
    bqm = m.to_bqm()
    s = _all(8)
    np.testing.assert_allclose(bqm.energies((s, list(range(8)))), m.energy(s), atol=1e-12)
    back = SpinModel.from_bqm(bqm)
    np.testing.assert_allclose(back.energy(s), m.energy(s), atol=1e-12)
    # a bqm built independently in dimod's own convention, BINARY vartype
    q = {(0, 1): 1.5, (1, 2): -2.0, (0, 0): 0.5, (2, 2): -1.0}
    bq = dimod.BinaryQuadraticModel.from_qubo(q, offset=0.25)
    mb = SpinModel.from_bqm(bq)
    xs = (1 + _all(3)) // 2
    np.testing.assert_allclose(mb.energy(2 * xs - 1), bq.energies((xs, list(bq.variables))), atol=1e-12)
    # dimod's sign convention: a positive dimod J is antiferromagnetic, i.e. a negative canonical J
    anti = SpinModel.from_bqm(dimod.BinaryQuadraticModel({}, {(0, 1): 1.0}, 0.0, dimod.SPIN))
    assert anti.J[0, 1] == -1.0


# --------------------------------------------------------------------------------- NN map
def test_from_layers_builds_block_tridiagonal_couplings() -> None:
    rng = np.random.default_rng(0)
    widths = [30, 12, 5]  # "784-100-10 style", small
    ws = [rng.standard_normal((widths[k + 1], widths[k])) for k in range(2)]
    bs = [rng.standard_normal(widths[k + 1]) for k in range(2)]
    m = SpinModel.from_layers(ws, bs)
    j = m.J
    assert j.shape == (47, 47) and m.widths == widths
    np.testing.assert_array_equal(j, j.T)
    np.testing.assert_array_equal(np.diag(j), 0)
    np.testing.assert_array_equal(j[30:42, 0:30], ws[0])
    np.testing.assert_array_equal(j[42:47, 30:42], ws[1])
    for a, b in ((0, 30), (30, 42), (42, 47)):
        np.testing.assert_array_equal(j[a:b, a:b], 0)  # no intra-layer couplings
    np.testing.assert_array_equal(j[42:47, 0:30], 0)  # no skip connections
    np.testing.assert_array_equal(m.h, 0)  # biases ignored by default
    np.testing.assert_array_equal(m.to_csr().toarray(), j)
    s = np.random.default_rng(1).choice([-1, 1], size=(50, 47))
    np.testing.assert_allclose(m.energy(s), SpinModel(j).energy(s), atol=1e-10)
    np.testing.assert_allclose(m.local_fields(s), SpinModel(j).local_fields(s), atol=1e-10)
    mb = SpinModel.from_layers(ws, bs, use_biases=True, scale=0.5)
    np.testing.assert_allclose(mb.h[30:42], 0.5 * bs[0])
    np.testing.assert_allclose(mb.J, 0.5 * j)
    x = rng.choice([-1.0, 1.0], size=30)
    clamp = SpinModel.from_layers(ws, include_input=False, input_pattern=x)
    assert clamp.n == 17
    np.testing.assert_allclose(clamp.h[:12], ws[0] @ x)
    # clamping the input equals conditioning the full model on it
    full = SpinModel.from_layers(ws)
    rest = np.random.default_rng(2).choice([-1, 1], size=(20, 17))
    e_full = full.energy(np.hstack([np.tile(x, (20, 1)), rest]))
    e_clamp = clamp.energy(rest)
    np.testing.assert_allclose(e_full - e_clamp, (e_full - e_clamp)[0], atol=1e-10)
