"""Fuzz entries of boltzkit.spin: models, samplers, solvers, conversions, fits and phase tools."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg
import scipy.stats
from hypothesis import strategies as st

from boltzkit import spin as sp
from boltzkit.spin import nn, phase
from fuzz._harness import Call, Entry
from fuzz._strategies import EXTREME_FLOATS, any_array, bad_scalars, floats_or_bad, sizes

# imported here so that every forked child inherits them instead of importing them again
_PRELOADED = (scipy.linalg, scipy.optimize, scipy.sparse.linalg, scipy.stats)

# ------------------------------------------------------------------ checks


def _finite(x: Any, what: str = "result", allow_nan: bool = False) -> None:
    """Every number inside ``x`` (arrays, floats, tuples, dataclasses) is finite."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            _finite(getattr(x, f.name), f"{what}.{f.name}", allow_nan)
    elif isinstance(x, (tuple, list)):
        for k, v in enumerate(x):
            _finite(v, f"{what}[{k}]", allow_nan)
    elif isinstance(x, dict):
        for k, v in x.items():
            _finite(v, f"{what}[{k!r}]", allow_nan)
    elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
        bad = ~np.isfinite(x) & ~(np.isnan(x) if allow_nan else False)
        assert not np.any(bad), f"{what}: non-finite values"
    elif isinstance(x, float):
        assert math.isfinite(x) or (allow_nan and math.isnan(x)), f"{what}: {x}"


def _spins_ok(s: Any, what: str) -> None:
    a = np.asarray(s)
    assert a.size == 0 or np.all((a == 1) | (a == -1)), f"{what}: not ±1"


def _check_model(m: object) -> None:
    assert isinstance(m, sp.SpinModel), type(m)
    assert m.n >= 1
    _finite(m.h, "h")
    assert math.isfinite(m.offset)
    j = m.J if m.n <= 64 else None
    if j is not None:
        _finite(j, "J")
        assert np.array_equal(j, j.T), "J not symmetric"
        assert np.all(np.diag(j) == 0), "J diagonal"


def _check_anneal(r: object) -> None:
    assert isinstance(r, sp.AnnealResult)
    _finite(r)
    _spins_ok(r.states, "states")
    _spins_ok(r.final_states, "final_states")
    assert np.all(r.energies <= r.final_energies + 1e-6 * (1 + np.abs(r.final_energies))), "best worse than final"
    assert np.all(r.betas >= 0)


def _check_tempering(r: object) -> None:
    assert isinstance(r, sp.TemperingResult)
    _finite(r)
    assert np.all((r.swap_acceptance >= 0) & (r.swap_acceptance <= 1)), "swap acceptance outside [0, 1]"
    assert np.all(np.abs(r.magnetizations) <= 1 + 1e-12)
    assert np.all(np.abs(r.overlaps) <= 1 + 1e-12)
    _spins_ok(r.best_state, "best_state")


def _check_enum(r: object) -> None:
    assert isinstance(r, sp.Enumeration)
    _finite(r)
    assert np.all(r.heat_capacity >= -1e-9 * (1 + np.abs(r.mean_energy) ** 2)), "C < 0"
    for name in ("mean_abs_m", "mean_m2", "mean_m4", "mean_q"):
        v = getattr(r, name)
        assert np.all((v >= -1e-12) & (v <= 1 + 1e-12)), name
    if r.pq.size:
        assert np.allclose(r.pq.sum(axis=1), 1, atol=1e-9), "P(q) mass"
    assert r.degeneracy >= 1


def _check_tap(r: object) -> None:
    assert isinstance(r, sp.TapResult)
    _finite(r)
    assert np.all(np.abs(r.m) <= 1), "|m| > 1"
    assert np.all((r.q >= 0) & (r.q <= 1)), "q outside [0, 1]"


def _check_descend(r: object) -> None:
    assert isinstance(r, sp.DescendResult)
    _finite(r)
    _spins_ok(r.states, "states")


def _check_float(x: object) -> None:
    assert isinstance(x, float) and math.isfinite(x), x


def _check_nonneg_float(x: object) -> None:
    _check_float(x)
    assert isinstance(x, float) and x >= 0, x


def _check_finite(x: object) -> None:
    _finite(x)


# ------------------------------------------------------------------ dimod (issue 17)


def _bqm(spec: tuple[int, int, int, str, float]) -> Any:
    """A dimod BQM (or a wrong input) from a small spec; dimod is imported in the child."""
    import dimod

    kind, n, seed, vartype, offset = spec
    rng = np.random.default_rng(seed)
    if kind == 0:  # dense, shuffled integer labels, some zero couplings
        labels: list[Any] = [int(v) for v in rng.permutation(n)]
    elif kind == 1:  # mixed labels
        labels = (["a", ("x", 1), -3, 2.5, frozenset({1}), "b", 7, ("y",)] * 2)[:n]
    elif kind == 2:  # offset only
        return dimod.BinaryQuadraticModel({}, {}, offset, vartype)
    elif kind == 3:
        return {0: 1.0}
    else:  # sparse chain with string labels
        labels = [f"v{k}" for k in range(n)]
        return dimod.BinaryQuadraticModel(
            {v: float(rng.normal()) for v in labels}, {(labels[k], labels[k + 1]): 1.0 for k in range(n - 1)}, offset, vartype
        )
    bqm = dimod.BinaryQuadraticModel(vartype)
    for i, u in enumerate(labels):
        for v in labels[i + 1 :]:
            bqm.add_quadratic(u, v, float(rng.choice([0.0, rng.normal()])))
    for u in labels:
        bqm.add_linear(u, float(rng.normal()))
    bqm.offset = offset
    return bqm


bqm_specs = st.tuples(
    st.integers(0, 4), st.integers(1, 8), st.integers(0, 9), st.sampled_from(["SPIN", "BINARY"]), st.floats(-3, 3)
)


def _check_model0(m: object) -> None:
    assert isinstance(m, sp.SpinModel), type(m)
    if m.n:
        _check_model(m)
    assert len(m.labels) == m.n and len(set(m.labels)) == m.n


def _check_sampleset(ss: object) -> None:
    import dimod

    assert isinstance(ss, dimod.SampleSet), type(ss)
    e = ss.record.energy
    assert np.all(np.isfinite(e)), "energies not finite"
    assert np.all(ss.record.num_occurrences >= 1)
    if len(ss):
        vals = np.unique(ss.record.sample)
        assert set(vals.tolist()) <= ({-1, 1} if ss.vartype is dimod.SPIN else {0, 1}), vals


def _sample(cls_name: str, kw: dict[str, Any]) -> object:
    bqm = _bqm(kw.pop("spec"))
    return getattr(sp, cls_name)().sample(bqm, **kw)


_sampler_common = {
    "spec": bqm_specs,
    "num_reads": st.one_of(st.none(), sizes(1, 4)),
    "seed": st.one_of(st.none(), st.integers(0, 2**32 - 1), st.sampled_from([-1, 2**32, 1.5, True, "1"])),
}

# ------------------------------------------------------------------ models


def _model_from(kind: int, n: int, seed: int, scale: float) -> sp.SpinModel:
    if kind == 0:
        m = sp.sk(n, seed=seed)
    elif kind == 1:
        m = sp.lattice_2d(3, kind="pm_j", seed=seed)
    elif kind == 2:
        m = sp.layered_sk([2, n, 2], seed=seed)
    elif kind == 3:
        m = sp.chain(max(n, 3), h=0.3)
    else:
        m = sp.curie_weiss(n, J0=1.2, h=0.1)
    if scale == 1.0:
        return m
    if m.storage == "layered":
        return sp.SpinModel.from_layers(m.layer_weights, scale=scale)
    return sp.SpinModel(m.to_csr() * scale if m.storage == "csr" else m.J * scale, m.h * scale)


_scales = st.sampled_from([1.0, 1.0, 1.0, 1e-100, 1e-30, 1e30, 1e99, 0.0])
models = st.tuples(st.integers(0, 4), st.integers(2, 6), st.integers(0, 5), _scales)
_SPIN_DTYPES = [np.int8, np.int64, np.float64, np.float32, np.bool_, np.complex128, object, np.uint8, np.float16]


@st.composite
def spin_arrays(draw: st.DrawFn, n: int, k: int | None = None, valid: bool = False) -> Any:
    rows = draw(st.integers(1, 3)) if k is None else k
    kind = 0 if valid else draw(st.integers(0, 7))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.choice(np.array([-1, 1]), size=(rows, n))
    if kind == 1:
        return a[0]
    if kind == 2:
        return a.astype(draw(st.sampled_from(_SPIN_DTYPES)))
    if kind == 3:
        return draw(any_array((rows, n)))
    if kind == 4:
        return draw(bad_scalars())
    if kind == 5:
        return np.zeros((rows, n + draw(st.sampled_from([-1, 1]))), dtype=np.int8) + 1
    if kind == 6:
        return np.repeat(a, 2, axis=1)[:, ::2][::-1]
    return a


def _sym(seed: int) -> Any:
    a = np.random.default_rng(seed).normal(size=(3, 3))
    a = np.triu(a, 1)
    return a + a.T


def _layers(seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3, 2)), rng.normal(size=(2, 3))]


def _mk(name: str, fn: Callable[[], object], desc: str, check: Callable[[object], None] | None) -> Call:
    return Call(fn, f"{name}({desc})", check)


def _method_entry(
    name: str,
    strat: st.SearchStrategy[dict[str, Any]],
    call: Callable[[sp.SpinModel, dict[str, Any]], object],
    check: Callable[[object], None] | None,
    mods: st.SearchStrategy[Any] = models,
    valid: st.SearchStrategy[dict[str, Any]] | None = None,
) -> Entry:
    def build(t: tuple[Any, dict[str, Any]]) -> Call:
        spec, kw = t

        def fn() -> object:
            return call(_model_from(*spec), kw)

        return _mk(name, fn, f"model={spec}, {kw!r}", check)

    if valid is not None:
        strat = st.one_of(valid, strat)
    return Entry(name, st.tuples(mods, strat).map(build))


def _func_entry(
    name: str,
    f: Callable[..., object],
    strat: st.SearchStrategy[dict[str, Any]],
    check: Any,
    valid: st.SearchStrategy[dict[str, Any]] | None = None,
) -> Entry:
    def build(kw: dict[str, Any]) -> Call:
        return _mk(name, lambda: f(**kw), repr(kw), check)

    if valid is not None:
        strat = st.one_of(valid, strat)
    return Entry(name, strat.map(build))


def _opt(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(s, s, s, bad_scalars())


betas_arr = st.one_of(
    st.lists(st.floats(0.01, 3.0), min_size=1, max_size=4).map(lambda v: np.sort(np.array(v))),
    st.lists(st.floats(0.01, 3.0), min_size=1, max_size=4),
    any_array((3,), 0.0, 2.0),
    st.sampled_from([[], [1.0, np.nan], [-1.0], [1e308], [2.0, 0.5, 1.0], [5e-324]]),
)
temps = st.one_of(st.floats(0.1, 3.0), floats_or_bad(0.1, 3.0), any_array((3,), 0.2, 3.0))
seeds = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([-1, 2**64, 1.5, True, None, "1"]))
threads = st.one_of(st.none(), st.just(1), st.just(2), sizes(1, 4))
bools = st.one_of(st.booleans(), st.booleans(), st.sampled_from([0, 1, None, "yes", np.bool_(True)]))


def _tempering_methods(r: sp.TemperingResult, kw: dict[str, Any]) -> object:
    nb = kw["n_batches"]
    return (
        r.mean_energy(nb),
        r.mean_abs_m(nb),
        r.mean_m2(nb),
        r.heat_capacity(),
        r.binder(),
        r.q2(),
        r.overlap_histogram(kw["k"], kw["bins"]),
    )


def _kw(**kw: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(kw)


def _data(seed: int) -> tuple[Any, Any, Any, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, 4))
    y = rng.integers(0, 3, 12)
    return x[:8], y[:8], x[8:], y[8:]


def _train(kw: dict[str, Any]) -> object:
    xtr, ytr, xte, yte = _data(kw["seed"])
    for key in ("x_train", "y_train"):
        if key in kw:
            xtr, ytr = (kw[key], ytr) if key == "x_train" else (xtr, kw[key])
    cfg = nn.TrainConfig(hidden=(3,), steps=kw["steps"], batch_size=4, n_snapshots=2, seed=kw["seed"])
    return nn.train_mlp(xtr, ytr, xte, yte, cfg, progress=False)


def _analyse(kw: dict[str, Any]) -> object:
    xtr, ytr, xte, yte = _data(0)
    tr = nn.train_mlp(xtr, ytr, xte, yte, nn.TrainConfig(hidden=(3,), steps=3, batch_size=4, n_snapshots=2), progress=False)
    return nn.analyse_training(tr, progress=False, **kw)


def _matching(data: Any, m: sp.SpinModel) -> Any:
    """``data`` as drawn, or (None) four random ±1 states of the model's size."""
    return np.where(np.random.default_rng(m.n).random((4, m.n)) < 0.5, -1, 1) if data is None else data


def _check_training(r: object) -> None:
    assert isinstance(r, nn.Training)
    for sn in r.snapshots:
        _finite(sn.weights, "weights")
        assert 0 <= sn.train_accuracy <= 1 and 0 <= sn.test_accuracy <= 1


# ------------------------------------------------------------------ entries

ENTRIES: list[Entry] = [
    _func_entry(
        "spin.SpinModel",
        lambda J, h, offset, diagonal, dtype: sp.SpinModel(J, h, offset=offset, diagonal=diagonal, dtype=dtype),
        _kw(
            J=st.one_of(
                any_array((3, 3)).map(
                    lambda a: (
                        (a + np.transpose(a))
                        if isinstance(a, np.ndarray) and a.ndim == 2 and a.shape[0] == a.shape[1] and a.dtype.kind in "fiu"
                        else a
                    )
                ),
                any_array((3, 3)),
                st.sampled_from(
                    [
                        [[0, 1e100], [1e100, 0]],
                        [[0, 1e155], [1e155, 0]],
                        [[0, 1e308], [1e308, 0]],
                        [[1, 2], [3, 0]],
                        [[0, np.nan], [np.nan, 0]],
                    ]
                ),
            ),
            h=st.one_of(st.none(), any_array((3,))),
            offset=floats_or_bad(-5, 5),
            diagonal=st.sampled_from(["reject", "drop", "x", None]),
            dtype=st.sampled_from([np.float64, np.float32, np.int8, "float64", None, "bogus"]),
        ),
        _check_model,
        valid=_kw(
            J=st.integers(0, 99).map(_sym),
            h=st.one_of(st.none(), st.just([0.1, -0.2, 0.3])),
            offset=st.floats(-5, 5),
            diagonal=st.just("reject"),
            dtype=st.sampled_from([np.float64, np.float32]),
        ),
    ),
    _func_entry(
        "spin.SpinModel.from_layers",
        lambda weights, biases, include_input, use_biases, scale: sp.SpinModel.from_layers(
            weights, biases, include_input=include_input, use_biases=use_biases, scale=scale
        ),
        _kw(
            weights=st.one_of(st.tuples(any_array((3, 2)), any_array((2, 3))).map(list), st.just([]), bad_scalars()),
            biases=st.one_of(st.none(), st.tuples(any_array((3,)), any_array((2,))).map(list), bad_scalars()),
            include_input=bools,
            use_biases=bools,
            scale=floats_or_bad(-2, 2),
        ),
        _check_model,
        valid=_kw(
            weights=st.integers(0, 99).map(_layers),
            biases=st.none(),
            include_input=st.booleans(),
            use_biases=st.booleans(),
            scale=st.floats(-2, 2),
        ),
    ),
    _func_entry(
        "spin.SpinModel.from_qubo",
        sp.SpinModel.from_qubo,
        _kw(
            Q=st.one_of(
                any_array((3, 3)), st.just({(0, 1): 1.0, (1, 1): -2.0}), st.just({(0, -1): 1.0}), st.just({("a", 0): 1.0})
            ),
            offset=floats_or_bad(-3, 3),
        ),
        _check_model0,
    ),
    _func_entry(
        "spin.SpinModel.from_mpf_form",
        sp.SpinModel.from_mpf_form,
        _kw(W=any_array((3, 3)), offset=floats_or_bad(-3, 3)),
        _check_model0,
    ),
    _func_entry(
        "spin.SpinModel.from_ising",
        sp.SpinModel.from_ising,
        _kw(
            h=st.one_of(any_array((3,)), st.just({0: 1.0, 2: -1.0}), st.just({-1: 1.0}), st.just({"a": 1.0})),
            J=st.one_of(any_array((3, 3)), st.just({(0, 1): 1.0}), st.just({(1, 1): 1.0}), st.just({(0, 2**40): 1.0})),
            offset=floats_or_bad(-3, 3),
        ),
        _check_model0,  # empty h and J with an offset: an n = 0 model, as from_bqm (issue 17)
        valid=_kw(h=st.just([0.5, -0.5, 0.0]), J=st.just({(0, 1): 1.0, (2, 1): -0.5}), offset=st.floats(-3, 3)),
    ),
    _method_entry(
        "spin.SpinModel.energy",
        _kw(seed=st.integers(0, 9)),
        lambda m, kw: m.energy(np.where(np.random.default_rng(kw["seed"]).random(m.n) < 0.5, -1, 1)),
        _check_float,
    ),
    _method_entry(
        "spin.SpinModel.energies",
        _kw(states=st.integers(0, 1000), threads=threads),
        lambda m, kw: m.energy(np.ones((2, m.n)), threads=kw["threads"]),
        _check_finite,
    ),
    _method_entry(
        "spin.SpinModel.local_fields",
        _kw(states=st.integers(1, 6).flatmap(spin_arrays)),
        lambda m, kw: m.local_fields(kw["states"]),
        _check_finite,
        mods=st.tuples(st.just(0), st.integers(2, 6), st.integers(0, 5), _scales),
        valid=_kw(states=st.integers(1, 6).flatmap(lambda n: spin_arrays(n, valid=True))),
    ),
    _method_entry("spin.SpinModel.default_beta_range", _kw(), lambda m, kw: m.default_beta_range(), _check_finite),
    _method_entry(
        "spin.SpinModel.anneal",
        _kw(
            num_reads=sizes(1, 4),
            num_sweeps=sizes(1, 50),
            beta_range=st.one_of(
                st.none(), st.none(), st.tuples(floats_or_bad(0, 5), floats_or_bad(0, 5)), st.just((5.0, 0.1)), bad_scalars()
            ),
            schedule=st.one_of(st.sampled_from(["geometric", "linear", "cubic", None]), betas_arr),
            num_sweeps_per_beta=sizes(1, 3),
            proposal=st.sampled_from(["metropolis", "heat_bath", "x"]),
            order=st.sampled_from(["sequential", "random", 1]),
            kernel=st.sampled_from(["single", "single", "layered", "x"]),
            polish=bools,
            trace=bools,
            seed=seeds,
            threads=threads,
        ),
        lambda m, kw: m.anneal(**kw),
        _check_anneal,
        valid=_kw(
            num_reads=st.integers(1, 4),
            num_sweeps=st.integers(1, 50),
            beta_range=st.one_of(st.none(), st.just((0.1, 3.0)), st.just((3.0, 0.1))),
            schedule=st.sampled_from(["geometric", "linear"]),
            num_sweeps_per_beta=st.integers(1, 3),
            proposal=st.sampled_from(["metropolis", "heat_bath"]),
            order=st.sampled_from(["sequential", "random"]),
            kernel=st.just("single"),
            polish=st.booleans(),
            trace=st.booleans(),
            seed=st.integers(0, 2**64 - 1),
            threads=st.sampled_from([None, 1, 2]),
        ),
    ),
    _method_entry(
        "spin.SpinModel.anneal.initial_states",
        _kw(init=st.integers(0, 2**32 - 1), bad=st.integers(0, 3)),
        lambda m, kw: m.anneal(
            2, 20, initial_states=np.ones((2 + (kw["bad"] == 1), m.n)) if kw["bad"] < 2 else np.full((2, m.n), 2)
        ),
        _check_anneal,
    ),
    _method_entry(
        "spin.SpinModel.descend",
        _kw(states=st.integers(2, 6).flatmap(spin_arrays), threads=threads),
        lambda m, kw: m.descend(kw["states"], threads=kw["threads"]),
        _check_descend,
        mods=st.tuples(st.just(0), st.integers(2, 6), st.integers(0, 5), _scales),
        valid=_kw(states=st.integers(2, 6).flatmap(lambda n: spin_arrays(n, valid=True)), threads=st.sampled_from([None, 1, 2])),
    ),
    _method_entry(
        "spin.SpinModel.tempering",
        _kw(
            betas=betas_arr,
            num_sweeps=sizes(1, 30),
            burn_in=st.one_of(st.none(), sizes(0, 10)),
            thin=sizes(1, 3),
            n_sets=sizes(1, 4),
            proposal=st.sampled_from(["metropolis", "heat_bath", "x"]),
            record_states=bools,
            seed=seeds,
            threads=threads,
        ),
        lambda m, kw: m.tempering(**kw),
        _check_tempering,
        valid=_kw(
            betas=st.lists(st.floats(0.05, 2.0), min_size=1, max_size=4).map(sorted),
            num_sweeps=st.integers(1, 30),
            burn_in=st.one_of(st.none(), st.integers(0, 10)),
            thin=st.integers(1, 3),
            n_sets=st.integers(1, 4),
            proposal=st.sampled_from(["metropolis", "heat_bath"]),
            record_states=st.booleans(),
            seed=st.integers(0, 9),
            threads=st.sampled_from([None, 1, 2]),
        ),
    ),
    _method_entry(
        "spin.TemperingResult.methods",
        _kw(n_batches=sizes(2, 5), k=st.integers(-3, 3), bins=st.one_of(st.none(), sizes(1, 5))),
        lambda m, kw: _tempering_methods(m.tempering([0.5, 1.0], 40, seed=1), kw),
        lambda r: _finite(r, allow_nan=True),
    ),
    _method_entry(
        "spin.SpinModel.enumerate_exact",
        _kw(
            betas=st.one_of(betas_arr, temps),
            n_lowest=sizes(1, 5),
            correlations=bools,
            overlap_distribution=bools,
            threads=threads,
        ),
        lambda m, kw: m.enumerate_exact(**kw),
        _check_enum,
        valid=_kw(
            betas=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=3),
            n_lowest=st.integers(1, 5),
            correlations=st.booleans(),
            overlap_distribution=st.booleans(),
            threads=st.sampled_from([None, 1, 2]),
        ),
    ),
    _method_entry(
        "spin.SpinModel.tap",
        _kw(
            T=temps,
            damping=floats_or_bad(0.1, 1.0),
            onsager=bools,
            init=st.sampled_from(["random", "eigen", "zeros", "bogus", None]),
            n_starts=sizes(1, 3),
            noise=floats_or_bad(0, 0.1),
            tol=floats_or_bad(1e-10, 1e-3),
            max_iter=sizes(1, 200),
            seed=seeds,
            solver=st.sampled_from(["iterate", "newton", "x"]),
        ),
        lambda m, kw: m.tap(warn=False, **kw),
        _check_tap,
        valid=_kw(
            T=st.one_of(st.floats(0.2, 3.0), st.lists(st.floats(0.2, 3.0), min_size=1, max_size=3)),
            damping=st.floats(0.1, 1.0),
            onsager=st.booleans(),
            init=st.sampled_from(["random", "eigen", "zeros"]),
            n_starts=st.integers(1, 3),
            noise=st.floats(0, 0.1),
            tol=st.floats(1e-10, 1e-3),
            max_iter=st.integers(1, 200),
            seed=st.integers(0, 9),
            solver=st.sampled_from(["iterate", "newton"]),
        ),
    ),
    _method_entry(
        "spin.SpinModel.tap_free_energy",
        _kw(T=floats_or_bad(0.1, 3), m=st.one_of(st.floats(-1, 1), st.sampled_from([1.5, np.nan])), onsager=bools),
        lambda m, kw: m.tap_free_energy(np.full(m.n, kw["m"]), kw["T"], onsager=kw["onsager"]),
        _check_float,
    ),
    _method_entry("spin.SpinModel.to_qubo", _kw(), lambda m, kw: m.to_qubo(), _check_finite),
    _method_entry("spin.SpinModel.to_mpf_form", _kw(), lambda m, kw: m.to_mpf_form(), _check_finite),
    _method_entry("spin.SpinModel.to_ising_dicts", _kw(), lambda m, kw: m.to_ising_dicts(), _check_finite),
    _method_entry("spin.SpinModel.to_dense", _kw(), lambda m, kw: m.to_dense(), _check_finite),
    _method_entry("spin.SpinModel.to_csr", _kw(), lambda m, kw: m.to_csr().toarray(), _check_finite),
    _func_entry(
        "spin.sk",
        sp.sk,
        _kw(
            n=sizes(2, 8),
            seed=seeds,
            J0=floats_or_bad(-2, 2),
            h_std=floats_or_bad(0, 1),
            couplings=st.sampled_from(["gaussian", "pm1", "x"]),
            dtype=st.sampled_from([np.float64, np.float32, np.int32]),
        ),
        _check_model,
        valid=_kw(
            n=st.integers(2, 8),
            seed=st.integers(0, 9),
            J0=st.floats(-2, 2),
            h_std=st.floats(0, 1),
            couplings=st.sampled_from(["gaussian", "pm1"]),
            dtype=st.sampled_from([np.float64, np.float32]),
        ),
    ),
    _func_entry(
        "spin.layered_sk",
        sp.layered_sk,
        _kw(
            widths=st.one_of(st.lists(sizes(1, 5), min_size=1, max_size=4), bad_scalars()),
            variances=st.one_of(st.none(), floats_or_bad(0, 2), st.lists(floats_or_bad(0, 2), max_size=3)),
            seed=seeds,
        ),
        _check_model,
        valid=_kw(
            widths=st.lists(st.integers(1, 5), min_size=2, max_size=4),
            variances=st.one_of(st.none(), st.floats(0, 2)),
            seed=st.integers(0, 9),
        ),
    ),
    _func_entry(
        "spin.lattice_2d",
        sp.lattice_2d,
        _kw(
            L=sizes(3, 6),
            kind=st.sampled_from(["ferro", "pm_j", "gaussian", "x"]),
            J=floats_or_bad(-2, 2),
            h=floats_or_bad(-1, 1),
            seed=seeds,
        ),
        _check_model,
        valid=_kw(
            L=st.integers(3, 6),
            kind=st.sampled_from(["ferro", "pm_j", "gaussian"]),
            J=st.floats(-2, 2),
            h=st.floats(-1, 1),
            seed=st.integers(0, 9),
        ),
    ),
    _func_entry(
        "spin.curie_weiss",
        sp.curie_weiss,
        _kw(n=sizes(2, 8), J0=floats_or_bad(-2, 2), h=floats_or_bad(-1, 1)),
        _check_model,
        valid=_kw(n=st.integers(2, 8), J0=st.floats(-2, 2), h=st.floats(-1, 1)),
    ),
    _func_entry(
        "spin.chain",
        sp.chain,
        _kw(n=sizes(2, 8), J=floats_or_bad(-2, 2), h=floats_or_bad(-1, 1), periodic=bools),
        _check_model,
        valid=_kw(n=st.integers(3, 8), J=st.floats(-2, 2), h=st.floats(-1, 1), periodic=st.booleans()),
    ),
    _func_entry(
        "spin.beta_schedule",
        sp.beta_schedule,
        _kw(
            beta_range=st.one_of(st.tuples(floats_or_bad(0, 5), floats_or_bad(0, 5)), bad_scalars(), st.just((1.0, 2.0, 3.0))),
            num_betas=sizes(1, 20),
            schedule=st.sampled_from(["geometric", "linear", "x", None]),
        ),
        _check_finite,
        valid=_kw(
            beta_range=st.tuples(st.floats(0.01, 5), st.floats(0.01, 5)),
            num_betas=st.integers(1, 20),
            schedule=st.sampled_from(["geometric", "linear"]),
        ),
    ),
    _func_entry(
        "spin.batch_means",
        sp.batch_means,
        _kw(
            x=st.one_of(any_array((40,)), any_array((40, 2)), st.sampled_from(EXTREME_FLOATS)),
            n_batches=sizes(2, 10),
            axis=st.one_of(st.integers(-3, 3), bad_scalars()),
        ),
        _check_finite,
        valid=_kw(
            x=st.integers(0, 99).map(lambda k: np.random.default_rng(k).normal(size=(40, 2))),
            n_batches=st.integers(2, 10),
            axis=st.just(0),
        ),
    ),
    _func_entry(
        "spin.fit_mpf",
        lambda **kw: sp.fit_mpf(**kw).model,
        _kw(
            data=st.one_of(st.integers(2, 4).flatmap(lambda n: spin_arrays(n, 6)), any_array((6, 3))),
            spins=st.sampled_from(["pm1", "01", "x"]),
            all_flip=bools,
            l2=floats_or_bad(0, 1),
            maxiter=sizes(1, 20),
            gtol=floats_or_bad(1e-8, 1e-3),
            seed=seeds,
        ),
        _check_model,
        valid=_kw(
            data=st.integers(2, 4).flatmap(lambda n: spin_arrays(n, 6, valid=True)),
            spins=st.just("pm1"),
            all_flip=st.just(False),
            l2=st.floats(0, 1),
            maxiter=st.integers(1, 20),
            gtol=st.floats(1e-8, 1e-3),
            seed=st.integers(0, 9),
        ),
    ),
    _func_entry(
        "spin.fit_pseudolikelihood",
        lambda **kw: sp.fit_pseudolikelihood(**kw).model,
        _kw(
            data=st.one_of(st.integers(2, 4).flatmap(lambda n: spin_arrays(n, 6)), any_array((6, 3))),
            l2=floats_or_bad(0, 1),
            maxiter=sizes(1, 20),
            gtol=floats_or_bad(1e-8, 1e-3),
        ),
        _check_model,
        valid=_kw(
            data=st.integers(2, 4).flatmap(lambda n: spin_arrays(n, 6, valid=True)),
            l2=st.floats(0, 1),
            maxiter=st.integers(1, 20),
            gtol=st.floats(1e-8, 1e-3),
        ),
    ),
    _func_entry(
        "spin.fit_exact_ml",
        lambda **kw: sp.fit_exact_ml(**kw).model,
        _kw(
            data=st.one_of(st.integers(2, 4).flatmap(lambda n: spin_arrays(n, 6)), any_array((6, 3))),
            l2=floats_or_bad(0, 1),
            maxiter=sizes(1, 20),
            gtol=floats_or_bad(1e-8, 1e-3),
        ),
        _check_model,
        valid=_kw(
            data=st.integers(2, 4).flatmap(lambda n: spin_arrays(n, 6, valid=True)),
            l2=st.floats(0.01, 1),
            maxiter=st.integers(1, 20),
            gtol=st.floats(1e-8, 1e-3),
        ),
    ),
    _method_entry(
        "spin.mpf_objective",
        _kw(data=st.integers(2, 6).flatmap(lambda n: spin_arrays(n, 4)), objective=st.sampled_from(["mpf", "pl", "x"])),
        lambda m, kw: sp.mpf_objective(_matching(kw["data"], m), m, objective=kw["objective"]),
        _check_finite,
        mods=st.tuples(st.just(0), st.integers(2, 6), st.integers(0, 5), _scales),
        valid=_kw(data=st.none(), objective=st.sampled_from(["mpf", "pl"])),
    ),
    _method_entry(
        "spin.coupling_rmse",
        _kw(other=st.integers(0, 3)),
        lambda m, kw: sp.coupling_rmse(m, _model_from(0, max(2, m.n - kw["other"] % 2), 1, 1.0)),
        _check_nonneg_float,
    ),
    _func_entry(
        "spin.phase.tc_layered_theory",
        phase.tc_layered_theory,
        _kw(
            widths=st.one_of(st.lists(sizes(1, 5), min_size=1, max_size=4), bad_scalars()),
            variances=st.one_of(floats_or_bad(0, 2), st.lists(floats_or_bad(0, 2), max_size=3)),
        ),
        _check_nonneg_float,
        valid=_kw(widths=st.lists(st.integers(1, 5), min_size=2, max_size=4), variances=st.floats(0, 2)),
    ),
    _method_entry(
        "spin.phase.tc_glass",
        _kw(tol=floats_or_bad(1e-12, 1e-3), max_iter=sizes(1, 1000)),
        lambda m, kw: phase.tc_glass(m, **kw),
        _check_nonneg_float,
        valid=_kw(tol=st.floats(1e-12, 1e-3), max_iter=st.integers(1, 1000)),
    ),
    _method_entry(
        "spin.phase.t_hidden_formula", _kw(), lambda m, kw: phase.t_hidden_formula(m), lambda r: _finite(r, allow_nan=True)
    ),
    _method_entry(
        "spin.phase.tap_hessian",
        _kw(T=floats_or_bad(0.1, 3), mm=st.one_of(st.floats(-0.9, 0.9), st.sampled_from([1.0, np.nan]))),
        lambda m, kw: phase.tap_hessian(m, np.full(m.n, kw["mm"]), kw["T"]),
        _check_finite,
        valid=_kw(T=st.floats(0.1, 3), mm=st.floats(-0.9, 0.9)),
    ),
    _method_entry(
        "spin.phase.tap_hessian_scan",
        _kw(T=st.one_of(any_array((5,), 0.2, 3.0), temps)),
        lambda m, kw: phase.tap_hessian_scan(m, kw["T"]),
        lambda r: _finite(r, allow_nan=True),
    ),
    _method_entry(
        "spin.phase.bond_spectrum",
        _kw(edge=st.one_of(st.none(), floats_or_bad(0, 3)), k=sizes(1, 4)),
        lambda m, kw: phase.bond_spectrum(m, **kw),
        _check_finite,
    ),
    _func_entry(
        "spin.phase.hidden_order",
        phase.hidden_order,
        _kw(m=any_array((4,)), v=any_array((4,))),
        _check_nonneg_float,
    ),
    _func_entry(
        "spin.phase.fit_power_law",
        lambda t, y, window: phase.fit_power_law(t, y, window=window),
        _kw(
            t=any_array((6,), 0.1, 10.0),
            y=any_array((6,), 0.1, 10.0),
            window=st.one_of(st.none(), st.tuples(floats_or_bad(0, 10), floats_or_bad(0, 10)), bad_scalars()),
        ),
        _check_finite,
        valid=_kw(
            t=st.just(np.arange(1.0, 7.0)),
            y=st.integers(0, 99).map(lambda k: np.random.default_rng(k).uniform(0.5, 2.0, 6)),
            window=st.one_of(st.none(), st.just((1.0, 6.0)), st.just((6.0, 1.0))),
        ),
    ),
    _func_entry(
        "spin.nn.TrainConfig",
        nn.TrainConfig,
        _kw(
            hidden=st.one_of(st.tuples(sizes(1, 8)), st.just(()), bad_scalars()),
            activation=st.sampled_from(["tanh", "relu", "sign", "x", None]),
            steps=sizes(1, 10),
            batch_size=sizes(1, 10),
            lr=floats_or_bad(1e-4, 1e-1),
            n_snapshots=sizes(2, 5),
            init_scale=floats_or_bad(0.1, 2),
            seed=seeds,
        ),
        lambda r: None,
        valid=_kw(
            hidden=st.tuples(st.integers(1, 8)), activation=st.sampled_from(["tanh", "relu", "sign"]), steps=st.integers(1, 10)
        ),
    ),
    _func_entry(
        "spin.nn.train_mlp",
        lambda **kw: _train(kw),
        _kw(
            seed=st.integers(0, 9),
            steps=st.integers(1, 5),
            x_train=st.one_of(any_array((8, 4)), any_array((8, 4))),
            y_train=st.one_of(st.just(np.arange(8) % 3), st.just(np.full(8, -1)), st.just(np.ones(8)), st.just(np.arange(5))),
        ),
        _check_training,
        valid=_kw(seed=st.integers(0, 9), steps=st.integers(1, 5)),
    ),
    _func_entry(
        "spin.nn.analyse_training",
        lambda **kw: _analyse(kw),
        _kw(
            T_grid=st.one_of(st.none(), any_array((4,), 0.2, 3.0)),
            T_frac=floats_or_bad(0.3, 1.0),
            include_input=bools,
            fit_window=st.one_of(st.none(), st.tuples(floats_or_bad(0, 5), floats_or_bad(0, 5))),
        ),
        lambda r: _finite(r, allow_nan=True),
        valid=_kw(T_grid=st.none(), T_frac=st.floats(0.3, 1.0), include_input=st.booleans(), fit_window=st.none()),
    ),
    _func_entry(
        "spin.nn.load_npz",
        nn.load_npz,
        _kw(
            path=st.one_of(st.just("/nonexistent.npz"), st.just("/dev/null"), bad_scalars()),
            seed=seeds,
            test_fraction=floats_or_bad(0.1, 0.9),
        ),
        _check_finite,
    ),
    _func_entry(
        "spin.SpinModel.from_bqm",
        lambda **kw: sp.SpinModel.from_bqm(_bqm(kw.pop("spec")), **kw),
        _kw(
            spec=bqm_specs,
            variable_order=st.one_of(st.none(), st.sampled_from(["ab", [0], [[1], 2], 5])),
            storage=st.sampled_from(["auto", "dense", "csr", "x"]),
            dtype=st.sampled_from([np.float64, np.float32, np.int8]),
        ),
        _check_model0,
        valid=_kw(spec=bqm_specs, storage=st.sampled_from(["auto", "dense", "csr"])),
    ),
    _method_entry(
        "spin.SpinModel.to_bqm", _kw(vartype=st.sampled_from(["SPIN", "BINARY", "x"])), lambda m, kw: m.to_bqm(**kw), None
    ),
    _method_entry(
        "spin.SpinModel.with_labels",
        _kw(
            labels=st.one_of(
                st.none(), st.sampled_from(["ab", [0], [[1], 2], 5, ("a",) * 9]), st.lists(st.text(max_size=2), max_size=20)
            )
        ),
        lambda m, kw: m.with_labels(**kw),
        _check_model0,
    ),
    _method_entry(
        "spin.SpinModel.to_qubo[format]",
        _kw(format=st.sampled_from(["dense", "csr", "dict", "x"])),
        lambda m, kw: m.to_qubo(**kw)[1],
        _check_float,
    ),
    _func_entry(
        "spin.SimulatedAnnealingSampler.sample",
        lambda **kw: _sample("SimulatedAnnealingSampler", kw),
        _kw(
            **_sampler_common,
            num_sweeps=st.one_of(st.none(), sizes(0, 50)),
            num_sweeps_per_beta=st.one_of(st.just(1), sizes(1, 3)),
            beta_range=st.one_of(
                st.none(), st.tuples(floats_or_bad(0, 5), floats_or_bad(0, 5)), st.sampled_from([[1.0], "ab", 3])
            ),
            beta_schedule_type=st.sampled_from(["geometric", "linear", "custom", "x"]),
            beta_schedule=st.one_of(st.none(), betas_arr),
            initial_states_generator=st.sampled_from(["random", "tile", "none", "x"]),
            randomize_order=bools,
            proposal_acceptance_criteria=st.sampled_from(["Metropolis", "Gibbs", "x"]),
        ),
        _check_sampleset,
        valid=_kw(spec=bqm_specs, num_reads=st.integers(1, 4), num_sweeps=st.integers(0, 50), seed=st.integers(0, 9)),
    ),
    _func_entry(
        "spin.SteepestDescentSolver.sample",
        lambda **kw: _sample("SteepestDescentSolver", kw),
        _kw(**_sampler_common, initial_states_generator=st.sampled_from(["random", "tile", "none", "x"]), large_sparse_opt=bools),
        _check_sampleset,
        valid=_kw(spec=bqm_specs, num_reads=st.integers(1, 4), seed=st.integers(0, 9)),
    ),
    _func_entry(
        "spin.TemperingSampler.sample",
        lambda **kw: _sample("TemperingSampler", kw),
        _kw(
            **_sampler_common,
            num_sweeps=sizes(1, 50),
            num_replicas=sizes(1, 6),
            beta_range=st.one_of(st.none(), st.tuples(floats_or_bad(0, 5), floats_or_bad(0, 5))),
            beta_schedule_type=st.sampled_from(["geometric", "linear", "custom", "x"]),
            beta_schedule=st.one_of(st.none(), betas_arr),
            proposal_acceptance_criteria=st.sampled_from(["Metropolis", "Gibbs", "x"]),
        ),
        _check_sampleset,
        valid=_kw(spec=bqm_specs, num_reads=st.integers(1, 4), num_sweeps=st.integers(1, 50), seed=st.integers(0, 9)),
    ),
]
