"""Fuzz entries of ``boltzkit.hmc``: targets, exact draws, samplers (built-in and callable
targets, misbehaving callbacks), traces and diagnostics."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from boltzkit import hmc
from fuzz._harness import Call, CallbackError, Entry
from fuzz._strategies import EXTREME_FLOATS, HUGE_INTS, any_array, bad_scalars, floats_or_bad, sizes


def _finite_array(out: object, shape: tuple[int, ...] | None = None) -> np.ndarray[Any, Any]:
    assert isinstance(out, np.ndarray), type(out)
    if shape is not None:
        assert out.shape == shape, (out.shape, shape)
    assert np.isfinite(out).all(), "non-finite values"
    return out


def _target_is_valid(out: object) -> None:
    assert isinstance(out, hmc.BuiltinTarget)
    d = out.ndim
    assert d >= 1
    e, g = out.energy_grad(np.zeros((1, d)))
    assert e.shape == (1,) and g.shape == (1, d)
    assert not np.isnan(e).any() and not np.isnan(g).any()


_TARGETS: dict[str, Callable[..., Any]] = {
    "GaussianAniso": lambda d, p: hmc.GaussianAniso(dim=d, log10_cond=p),
    "RoughWell": lambda d, p: hmc.RoughWell(dim=d, a=p, b=4.0),
    "RoughWell.b": lambda d, p: hmc.RoughWell(dim=d, a=100.0, b=p),
    "Bimodal": lambda d, p: hmc.Bimodal(dim=d, sep=p),
    "Funnel": lambda d, p: hmc.Funnel(dim=d, sigma=p),
    "ProductOfT": lambda d, p: hmc.ProductOfT(dim=d, seed=0 if isinstance(p, float) else p),
}


def _ctor(name: str) -> st.SearchStrategy[Call]:
    make = _TARGETS[name]

    def build(d: Any, p: Any) -> Call:
        return Call(lambda: make(d, p), f"{name}({d!r}, {p!r})", _target_is_valid)

    good_d = st.integers(2, 6)
    good_p = st.integers(0, 5) if name == "ProductOfT" else st.floats(0.5, 8.0)
    bad_p = sizes(0, 5) if name == "ProductOfT" else floats_or_bad(-3.0, 8.0)
    return st.one_of(
        st.builds(build, good_d, good_p),
        st.builds(build, sizes(1, 6), good_p),
        st.builds(build, good_d, bad_p),
    )


def _dense_ctor() -> st.SearchStrategy[Call]:
    def build(a: Any) -> Call:
        def fn() -> object:
            return hmc.GaussianDense(precision=a)

        return Call(fn, f"GaussianDense({a!r})", _target_is_valid)

    spd = np.array([[2.0, 0.5], [0.5, 1.0]])
    sym = st.floats(-0.9, 0.9).map(lambda r: np.array([[1.0, r], [r, 1.0]]))
    return st.one_of(st.just(spd), sym, sym, any_array((2, 2), 0.1, 2.0)).map(build)


def _pot_arrays() -> st.SearchStrategy[Call]:
    def build(w: Any, b: Any, nu: Any) -> Call:
        return Call(lambda: hmc.ProductOfT(dim=2, w=w, b=b, nu=nu), f"ProductOfT(w={w!r}, b={b!r}, nu={nu!r})", _target_is_valid)

    return st.builds(build, any_array((3, 2)), any_array((3,)), any_array((3,), 0.5, 6.0))


def _pot_exact() -> st.SearchStrategy[Call]:
    def build(w: Any, n: Any) -> Call:
        def fn() -> object:
            return hmc.ProductOfT(dim=2, w=w).exact_sample(n)

        def check(out: object) -> None:
            _finite_array(out, (int(n), 2))

        return Call(fn, f"ProductOfT(w={w!r}).exact_sample({n!r})", check)

    singular = st.floats(-3, 3).map(lambda v: np.array([[v, v], [v, v]]))
    return st.builds(build, st.one_of(singular, any_array((2, 2))), st.one_of(st.integers(0, 20), sizes(0, 20)))


def _logistic() -> st.SearchStrategy[Call]:
    def build(x: Any, y: Any, s: Any) -> Call:
        return Call(
            lambda: hmc.LogisticRegression(x=x, y=y, prior_scale=s), f"LogisticRegression({x!r}, {y!r}, {s!r})", _target_is_valid
        )

    labels = st.lists(st.integers(0, 1), min_size=6, max_size=6).map(lambda v: np.array(v, dtype=float))
    good_x = st.integers(0, 2**32 - 1).map(lambda sd: np.random.default_rng(sd).standard_normal((6, 2)))
    return st.one_of(
        st.builds(build, good_x, labels, st.floats(0.1, 10.0)),
        st.builds(build, any_array((6, 2)), labels, st.floats(0.1, 10.0)),
        st.builds(build, good_x, st.one_of(labels, any_array((6,), 0.0, 1.0)), floats_or_bad(0.1, 10.0)),
    )


def _energy_grad() -> st.SearchStrategy[Call]:
    def build(x: Any, threads: Any) -> Call:
        def fn() -> object:
            return hmc.Funnel(dim=3).energy_grad(x, threads=threads)

        def check(out: object) -> None:
            assert isinstance(out, tuple) and len(out) == 2

        return Call(fn, f"Funnel(3).energy_grad({x!r}, threads={threads!r})", check)

    return st.builds(build, any_array((4, 3)), st.one_of(st.none(), sizes(1, 4)))


def _exact_sample() -> st.SearchStrategy[Call]:
    def build(name: str, n: Any, seed: Any) -> Call:
        makers: dict[str, Callable[[], hmc.BuiltinTarget]] = {
            "gauss": lambda: hmc.GaussianAniso(dim=2, log10_cond=2),
            "rough": lambda: hmc.RoughWell(dim=2),
            "bimodal": lambda: hmc.Bimodal(dim=2),
            "funnel": lambda: hmc.Funnel(dim=3),
            "pot": lambda: hmc.ProductOfT(dim=3),
            "dense": lambda: hmc.GaussianDense(precision=np.eye(2)),
        }
        t = makers[name]

        def fn() -> object:
            tgt = t()
            return tgt, tgt.exact_sample(n, seed=seed)

        def check(out: object) -> None:
            assert isinstance(out, tuple)
            tgt, x = out
            _finite_array(x, (int(n), tgt.ndim))

        return Call(fn, f"{name}.exact_sample({n!r}, seed={seed!r})", check)

    return st.builds(
        build,
        st.sampled_from(["gauss", "rough", "bimodal", "funnel", "pot", "dense"]),
        st.one_of(st.integers(0, 50), st.integers(0, 50), sizes(0, 50)),
        st.one_of(st.integers(0, 9), st.integers(0, 9), sizes(0, 9)),
    )


def _trace_check(n_chains: int, dim: int) -> Callable[[object], None]:
    def check(out: object) -> None:
        assert isinstance(out, hmc.Trace)
        assert out.records.shape[0] == n_chains and out.records.shape[2] == dim, out.records.shape
        assert np.isfinite(out.records).all(), "non-finite record"
        if out.tau is not None:
            assert (out.tau >= 0).all() and np.isfinite(out.tau).all(), "bad holding time"
        acc = out.accept[np.isfinite(out.accept)]
        assert ((acc >= 0) & (acc <= 1)).all(), "acceptance outside [0, 1]"
        assert (out.n_grad >= 0).all()
        fr = out.move_fractions
        assert abs(sum(fr.values()) - 1) < 1e-9 or out.method in ("lahmc", "nuts"), fr

    return check


@st.composite
def _sample_builtin(draw: st.DrawFn) -> Call:
    # a valid call, then (half of the time) one argument replaced by a bad or extreme value
    method: Any = draw(st.sampled_from(hmc.METHODS))
    kw: dict[str, Any] = {
        "n_samples": draw(st.integers(1, 30)),
        "n_chains": draw(st.integers(1, 3)),
        "step_size": draw(st.floats(0.05, 1.0)),
        "n_leapfrog": draw(st.integers(1, 5)),
        "seed": draw(st.integers(0, 9)),
    }
    bad: dict[str, st.SearchStrategy[Any]] = {
        "method": st.sampled_from(["bogus", None, 3]),
        "n_samples": sizes(1, 30),
        "n_chains": sizes(1, 3),
        "step_size": st.one_of(floats_or_bad(0.05, 1.0), st.none()),
        "n_leapfrog": sizes(1, 5),
        "seed": st.sampled_from(HUGE_INTS),
    }
    if draw(st.booleans()):
        k = draw(st.sampled_from(sorted(bad)))
        if k == "method":
            method = draw(bad[k])
        else:
            kw[k] = draw(bad[k])
    for k, strat in (
        ("beta", floats_or_bad(0.01, 0.99)),
        ("refresh_rate", floats_or_bad(0.0, 2.0)),
        ("look_ahead", sizes(1, 4)),
        ("warmup", st.one_of(st.integers(0, 20), sizes(0, 20))),
        ("target_accept", floats_or_bad(0.1, 0.95)),
        ("adapt_step_size", st.one_of(st.booleans(), bad_scalars())),
        ("cache", st.one_of(st.booleans(), bad_scalars())),
        ("thin", sizes(1, 3)),
        ("threads", st.one_of(st.none(), sizes(1, 4))),
        ("x0", st.one_of(st.just("exact"), st.just("nope"), any_array((3,)), any_array((2, 3)))),
        ("inverse_mass_matrix", st.one_of(any_array((3,), 0.1, 2.0), any_array((3, 3)))),
        ("jitter", floats_or_bad(0.0, 0.9)),
        ("max_tree_depth", sizes(1, 12)),
        ("metric", st.sampled_from(["diag", "dense", "full", None])),
        ("pool_warmup", st.one_of(st.booleans(), bad_scalars())),
        ("save_warmup", st.one_of(st.booleans(), bad_scalars())),
        ("pad_batch", st.one_of(st.booleans(), bad_scalars())),
    ):
        if draw(st.integers(0, 7)) == 0:
            kw[k] = draw(strat)
        elif k == "refresh_rate" and method in ("ct_hmc", "mjhmc") and draw(st.booleans()):
            kw[k] = draw(st.floats(0.0, 1.0))
    d = 3

    def fn() -> object:
        return hmc.sample(hmc.Funnel(dim=d), method=method, progress=False, **kw)

    nc = int(kw["n_chains"]) if isinstance(kw["n_chains"], int | np.integer) else 0  # np.int32 is valid too
    return Call(fn, f"sample(Funnel(3), method={method!r}, {kw!r})", _trace_check(nc, d))


def _callback(kind: str, sign: float = 1.0) -> Callable[[np.ndarray[Any, Any]], Any]:
    def good(x: np.ndarray[Any, Any]) -> Any:
        return sign * 0.5 * (x**2).sum(axis=1), sign * x

    def fn(x: np.ndarray[Any, Any]) -> Any:
        e, g = good(x)
        if kind == "good":
            return e, g
        if kind == "lists":
            return e.tolist(), g.tolist()
        if kind == "shape":
            return e[:-1], g
        if kind == "nan":
            return e * math.nan, g
        if kind == "inf_grad":
            return e, g * math.inf
        if kind == "raise":
            raise CallbackError("boom")
        if kind == "scalar":
            return 1.0
        if kind == "triple":
            return e, g, g
        if kind == "none":
            return None
        if kind == "complex":
            return e.astype(complex), g
        if kind == "object":
            return np.array([object()] * len(e)), g
        if kind == "sleep":
            time.sleep(0.05)
            return e, g
        if kind == "huge":
            return e * 1e308, g * 1e308
        return e, g.T

    return fn


_KINDS = [
    "good",
    "good",
    "good",
    "good",
    "good",
    "lists",
    "shape",
    "nan",
    "inf_grad",
    "raise",
    "scalar",
    "triple",
    "none",
    "complex",
    "object",
    "sleep",
    "huge",
    "transposed",
]


def _sample_callable() -> st.SearchStrategy[Call]:
    def build(kind: str, method: Any, as_log: bool, dim: Any, x0: Any) -> Call:
        cb = _callback(kind, -1.0 if as_log else 1.0)

        def fn() -> object:
            if as_log:
                return hmc.sample(
                    logdensity=cb,
                    method=method,
                    n_samples=10,
                    n_chains=2,
                    step_size=0.3,
                    n_leapfrog=3,
                    dim=dim,
                    x0=x0,
                    progress=False,
                )
            return hmc.sample(
                cb, method=method, n_samples=10, n_chains=2, step_size=0.3, n_leapfrog=3, dim=dim, x0=x0, progress=False
            )

        # a 0-d x0 is one point of a 1-D target
        d = (
            int(np.shape(x0)[-1])
            if np.ndim(x0) >= 1
            else (int(dim) if isinstance(dim, (int, np.integer)) else 1 if x0 is not None else 0)
        )
        return Call(
            fn, f"sample(callback={kind}, method={method}, logdensity={as_log}, dim={dim!r}, x0={x0!r})", _trace_check(2, d)
        )

    return st.builds(
        build,
        st.sampled_from(_KINDS),
        st.sampled_from(hmc.METHODS),
        st.booleans(),
        st.one_of(st.just(2), st.just(2), st.just(2), sizes(1, 3)),
        st.one_of(st.none(), st.none(), st.none(), any_array((2,))),
    )


def _trace(jump: bool) -> hmc.Trace:
    return hmc.sample(
        hmc.GaussianAniso(dim=2, log10_cond=1),
        method="mjhmc" if jump else "hmc",
        n_samples=40,
        n_chains=2,
        step_size=0.4,
        n_leapfrog=3,
        seed=1,
        progress=False,
    )


def _trace_methods() -> st.SearchStrategy[Call]:
    def build(jump: bool, which: str, arg: Any) -> Call:
        def fn() -> object:
            tr = _trace(jump)
            if which == "on_grid":
                return tr.on_grid(arg)
            if which == "ess":
                return tr.ess(arg)
            if which == "autocorrelation":
                return tr.autocorrelation(arg)
            if which == "mean_autocorrelation":
                return tr.mean_autocorrelation(quantity=arg)
            if which == "grads_to_autocorr":
                return np.array([tr.grads_to_autocorr(arg)])
            if which == "efficiency":
                return np.array(list(tr.efficiency().values()))
            if which == "summary":
                return np.concatenate(list(tr.summary(prob=arg).values()))
            if which == "sample_stats":
                st_ = tr.sample_stats()
                assert all(v.shape == tr.draws.shape[:2] for v in st_.values())
                return np.concatenate([np.ravel(v).astype(np.float64) for v in st_.values()])
            if which == "divergences":
                return tr.divergences.astype(np.float64)
            if which == "mean":
                return tr.mean()
            return tr.var()

        def check(out: object) -> None:
            assert isinstance(out, np.ndarray)
            if which == "grads_to_autocorr":
                assert np.isnan(out).all() or (np.isfinite(out) & (out >= 0)).all(), out
            elif which in ("efficiency", "summary"):
                assert not np.isinf(out).any(), out
            elif which in ("autocorrelation", "mean_autocorrelation"):
                ok = out[np.isfinite(out)]
                assert (np.abs(ok) <= 1 + 1e-9).all(), out
            else:
                _finite_array(out)

        return Call(fn, f"Trace(jump={jump}).{which}({arg!r})", check)

    args = st.one_of(
        st.sampled_from(["x", "x2", "y"]),
        st.sampled_from(EXTREME_FLOATS),
        st.sampled_from([1e-9, 1e-100, 0.5, 2.0]),
        sizes(0, 10),
        st.none(),
        bad_scalars(),
    )
    which = st.sampled_from(
        [
            "on_grid",
            "ess",
            "autocorrelation",
            "mean_autocorrelation",
            "grads_to_autocorr",
            "efficiency",
            "summary",
            "sample_stats",
            "divergences",
            "mean",
            "var",
        ]
    )
    return st.builds(build, st.booleans(), which, args)


def _trace_by_hand() -> st.SearchStrategy[Call]:
    def build(records: Any, tau: Any, which: str) -> Call:
        def fn() -> object:
            tr = hmc.Trace(
                method="mjhmc",
                records=records,
                tau=tau,
                moves=np.zeros((2, 6), np.uint8),
                accept=np.ones((2, 6)),
                energy=np.zeros((2, 6)),
                n_grad=np.ones(2, np.int64),
                n_grad_warmup=np.zeros(2, np.int64),
                step_size=0.1,
                n_leapfrog=1,
                beta=None,
                refresh_rate=0.1,
                look_ahead=1,
                inverse_mass_matrix=np.ones(2),
                seed=0,
                wall_time=0.0,
            )
            return tr.on_grid(0.5) if which == "on_grid" else tr.mean()

        def check(out: object) -> None:
            _finite_array(out)

        return Call(fn, f"Trace(records={records!r}, tau={tau!r}).{which}()", check)

    return st.builds(
        build, any_array((2, 6, 2)), st.one_of(any_array((2, 6), 0.1, 1.0), st.none()), st.sampled_from(["on_grid", "mean"])
    )


def _diag(fname: str) -> st.SearchStrategy[Call]:
    def build(x: Any, flag: Any, extra: Any, threads: Any) -> Call:
        def fn() -> object:
            if fname == "ess":
                return hmc.ess(x, square=flag, split=extra, threads=threads)
            return hmc.autocorrelation(x, extra, square=flag, threads=threads)

        def check(out: object) -> None:
            assert isinstance(out, np.ndarray)
            ok = out[~np.isnan(out)]
            if fname == "ess":
                assert (ok >= 0).all() and np.isfinite(ok).all(), out
            else:
                assert (np.abs(ok) <= 1 + 1e-9).all(), out

        return Call(fn, f"{fname}({x!r}, square={flag!r}, {extra!r}, threads={threads!r})", check)

    good = st.integers(0, 2**32 - 1).map(lambda sd: np.random.default_rng(sd).standard_normal((2, 12, 2)))
    arrays = st.one_of(
        good, good, any_array((2, 12)), any_array((2, 12, 2)), any_array((3, 0)), any_array((2, 12), -1e300, 1e300)
    )
    flags = st.one_of(st.booleans(), st.booleans(), st.booleans(), bad_scalars(), st.sampled_from([0, 1]))
    extra = (
        st.one_of(st.booleans(), st.booleans(), bad_scalars())
        if fname == "ess"
        else st.one_of(st.none(), st.integers(0, 20), sizes(0, 20))
    )
    threads = st.one_of(st.none(), st.none(), st.integers(1, 4), sizes(1, 4))
    # one bad argument at a time, mostly: a valid array with bad flags, or bad arrays with valid flags
    return st.one_of(
        st.builds(build, good, st.booleans(), extra, threads),
        st.builds(build, arrays, st.booleans(), st.booleans() if fname == "ess" else st.none(), st.none()),
        st.builds(build, good, flags, extra, threads),
    )


def _beta() -> st.SearchStrategy[Call]:
    def build(b: Any) -> Call:
        def check(out: object) -> None:
            assert isinstance(out, float) and math.isfinite(out) and out > 0, out

        return Call(lambda: hmc.refresh_rate_from_beta(b), f"refresh_rate_from_beta({b!r})", check)

    return floats_or_bad(0.0, 1.0).map(build)


ENTRIES: list[Entry] = [
    *(Entry(f"hmc.{name}", _ctor(name)) for name in _TARGETS),
    Entry("hmc.GaussianDense", _dense_ctor()),
    Entry("hmc.ProductOfT.arrays", _pot_arrays()),
    Entry("hmc.ProductOfT.exact_sample", _pot_exact()),
    Entry("hmc.LogisticRegression", _logistic()),
    Entry("hmc.BuiltinTarget.energy_grad", _energy_grad()),
    Entry("hmc.BuiltinTarget.exact_sample", _exact_sample()),
    Entry("hmc.sample", _sample_builtin()),
    Entry("hmc.sample.callable", _sample_callable()),
    Entry("hmc.Trace", _trace_methods()),
    Entry("hmc.Trace.__init__", _trace_by_hand()),
    Entry("hmc.ess", _diag("ess")),
    Entry("hmc.autocorrelation", _diag("autocorrelation")),
    Entry("hmc.refresh_rate_from_beta", _beta()),
]
