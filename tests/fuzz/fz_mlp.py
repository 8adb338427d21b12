"""Fuzz entries of boltzkit.mlp: every public function, class and method with bad and extreme inputs."""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import numpy as np
from hypothesis import strategies as st

from boltzkit import mlp
from fuzz._harness import Call, Entry
from fuzz._strategies import EXTREME_FLOATS, HUGE_INTS, any_array, bad_scalars, floats_or_bad, sizes

matplotlib.use("Agg")  # imported once in the parent, so each forked child need not
import matplotlib.pyplot as plt

_ACTS = st.one_of(st.sampled_from(mlp.ACTIVATIONS), st.sampled_from(["softplus", "", "RELU"]), bad_scalars())
_SCALES = st.sampled_from([1.0, 1.0, 1.0, 0.0, 1e-300, 1e-150, 1e100, 1e150, 1e300, 1e308])


def _mostly(valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` most of the time (a middle selector value: hypothesis favours the ends of a range)."""
    return st.integers(0, 7).flatmap(lambda k: bad if k in (3, 5) else valid)


def _rare(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws (a middle value: hypothesis favours the ends of a range)."""
    return bool(draw(st.integers(0, n - 1)) == n // 2)


def _finite_arrays(xs: list[Any]) -> None:
    for a in xs:
        assert np.all(np.isfinite(a)), a


def _check_estimate(e: object) -> None:
    assert isinstance(e, mlp.Estimate)
    _finite_arrays([*e.means, *e.variances, *e.act_means, *e.act_variances])
    for v in [*e.variances, *e.act_variances]:
        assert np.all(v >= 0), v
    assert e.flops >= 0


def _check_mc(r: object) -> None:
    assert isinstance(r, mlp.MonteCarlo)
    _finite_arrays([*r.means, *r.variances, *r.act_means, *r.act_variances])
    assert all(np.all(v >= 0) for v in r.variances)


def _check_tail(r: object) -> None:
    assert isinstance(r, mlp.TailProbability)
    assert np.all(np.isfinite(r.p)) and np.all((r.p >= 0) & (r.p <= 1)), r.p
    if r.stderr is not None:
        assert np.all(np.isfinite(r.stderr)) and np.all(r.stderr >= 0), r.stderr
    if r.ess is not None:
        assert np.all(r.ess >= 0)


def _check_grad(g: object) -> None:
    assert isinstance(g, mlp.Gradient)
    assert math.isfinite(g.value)
    _finite_arrays([*g.d_weights, *g.d_biases])


@st.composite
def _net_args(draw: st.DrawFn, bad: bool = True) -> dict[str, Any]:
    """Constructor arguments of a small MLP (widths 1..5, depth 1..3), mostly valid."""
    depth = draw(st.integers(1, 3))
    widths = [draw(st.integers(1, 5)) for _ in range(depth + 1)]
    scale = draw(_SCALES) if bad and _rare(draw, 3) else 1.0
    weights = [draw(any_array((widths[i + 1], widths[i]), bad=bad and _rare(draw, 4))) for i in range(depth)]
    if scale != 1.0:
        with np.errstate(all="ignore"):
            weights = [w * scale if isinstance(w, np.ndarray) and w.dtype.kind == "f" else w for w in weights]
    acts: Any = [
        draw(st.sampled_from(["relu", "gelu", "erf", "tanh", "identity", "heaviside", "square"])) for _ in range(depth - 1)
    ]
    if bad and _rare(draw, 10):
        acts = draw(st.one_of(st.lists(_ACTS, max_size=3), bad_scalars()))
    args: dict[str, Any] = {"weights": weights, "activations": acts}
    if bad and _rare(draw, 5):
        args["biases"] = draw(
            st.one_of(st.just([draw(any_array((w,))) for w in widths[1:]]), st.just([None] * depth), bad_scalars())
        )
    if bad and _rare(draw, 6):
        args["input_mean"] = draw(any_array((widths[0],)))
    if bad and _rare(draw, 6):
        n0 = widths[0]
        a = np.eye(n0) * draw(st.sampled_from([1.0, 0.0, -1.0, 1e300]))
        args["input_cov"] = draw(st.one_of(st.just(a), any_array((n0,), 0.0, 2.0), bad_scalars()))
    if bad and _rare(draw, 20):
        args["weights"] = draw(st.one_of(st.just([]), bad_scalars(), st.just(np.ones((2, 2)))))
    return args


def _net(args: dict[str, Any]) -> mlp.MLP:
    return mlp.MLP(**args)


def _mk(desc: str, fn: Any, check: Any = None, timeout: float = 20.0) -> Call:
    return Call(fn, desc, check, timeout)


# ---- constructor
@st.composite
def _ctor(draw: st.DrawFn) -> Call:
    args = draw(_net_args())

    def fn() -> object:
        net = _net(args)
        return (net.widths, net.depth, net.flops_per_sample)

    def check(out: object) -> None:
        assert isinstance(out, tuple) and math.isfinite(out[2])

    return _mk(f"MLP(**{args!r})", fn, check)


@st.composite
def _estimate(draw: st.DrawFn) -> Call:
    args = draw(_net_args())
    method = draw(_mostly(st.sampled_from(["mean_prop", "cov_prop", "cumulant3"]), _ACTS))
    order = draw(_mostly(st.integers(1, 8), sizes(1, 40)))
    keep = draw(_mostly(st.booleans(), bad_scalars()))
    threads = draw(_mostly(st.one_of(st.none(), st.integers(1, 2)), sizes(1, 4)))
    return _mk(
        f"MLP(**{args!r}).estimate({method!r}, mehler_order={order!r}, keep_cov={keep!r}, threads={threads!r})",
        lambda: _net(args).estimate(method, mehler_order=order, keep_cov=keep, threads=threads),
        _check_estimate,
    )


@st.composite
def _kprop(draw: st.DrawFn) -> Call:
    args = draw(_net_args())
    k = draw(_mostly(st.integers(1, 4), sizes(0, 5)))
    kind = draw(_mostly(st.sampled_from(["simple", "augment"]), _ACTS))
    avg = draw(_mostly(st.booleans(), bad_scalars()))
    factor = draw(_mostly(st.booleans(), bad_scalars()))
    keep = draw(_mostly(st.booleans(), bad_scalars()))
    return _mk(
        f"MLP(**{args!r}).estimate('kprop', k_max={k!r}, kind={kind!r}, avg_metric={avg!r}, "
        f"factor={factor!r}, keep_cov={keep!r})",
        lambda: _net(args).estimate("kprop", k_max=k, kind=kind, avg_metric=avg, factor=factor, keep_cov=keep),
        _check_estimate,
    )


@st.composite
def _monte_carlo(draw: st.DrawFn) -> Call:
    args = draw(_net_args())
    n = draw(_mostly(st.integers(1, 3000), sizes(1, 3000)))
    batch = draw(_mostly(st.integers(1, 512), sizes(1, 512)))
    seed = draw(_mostly(st.integers(0, 2**64 - 1), sizes(0, 10)))
    anti = draw(_mostly(st.booleans(), bad_scalars()))
    return _mk(
        f"MLP(**{args!r}).monte_carlo({n!r}, batch={batch!r}, seed={seed!r}, antithetic={anti!r})",
        lambda: _net(args).monte_carlo(n, batch=batch, seed=seed, antithetic=anti),
        _check_mc,
    )


@st.composite
def _tail(draw: st.DrawFn) -> Call:
    args = draw(_net_args())
    method = draw(_mostly(st.sampled_from(["gauss", "edgeworth", "mc", "is", "splitting"]), _ACTS))
    thr = draw(_mostly(st.floats(-5.0, 5.0), floats_or_bad(-5.0, 5.0)))
    layer = draw(_mostly(st.integers(-3, 2), sizes(0, 3)))
    neuron = draw(_mostly(st.one_of(st.none(), st.integers(0, 4)), sizes(0, 4)))
    hi = 6000 if isinstance(method, str) and method == "splitting" else 2000
    n = draw(_mostly(st.integers(1, hi), sizes(1, hi)))
    batch = draw(_mostly(st.integers(1, 256), sizes(1, 256)))
    seed = draw(_mostly(st.integers(0, 2**64 - 1), sizes(0, 10)))
    return _mk(
        f"MLP(**{args!r}).tail_probability(layer={layer!r}, threshold={thr!r}, method={method!r}, "
        f"neuron={neuron!r}, n_samples={n!r}, batch={batch!r}, seed={seed!r})",
        lambda: _net(args).tail_probability(
            layer=layer, threshold=thr, method=method, neuron=neuron, n_samples=n, batch=batch, seed=seed
        ),
        _check_tail,
    )


@st.composite
def _gradient(draw: st.DrawFn) -> Call:
    args = draw(_net_args())
    cm = draw(_mostly(st.floats(-2.0, 2.0), st.one_of(floats_or_bad(-2.0, 2.0), any_array((3,)))))
    cv = draw(_mostly(st.one_of(st.none(), st.floats(-2.0, 2.0)), st.one_of(floats_or_bad(-2.0, 2.0), any_array((3,)))))
    layer = draw(_mostly(st.integers(-3, 2), sizes(0, 3)))
    method = draw(_mostly(st.sampled_from(["mean_prop", "cov_prop", "kprop"]), _ACTS))
    order = draw(_mostly(st.integers(1, 6), sizes(1, 40)))
    k, kind, avg = draw(_kprop_opts())
    return _mk(
        f"MLP(**{args!r}).gradient({cm!r}, {cv!r}, layer={layer!r}, method={method!r}, mehler_order={order!r}, "
        f"k_max={k!r}, kind={kind!r}, avg_metric={avg!r})",
        lambda: _net(args).gradient(cm, cv, layer=layer, method=method, mehler_order=order, k_max=k, kind=kind, avg_metric=avg),
        _check_grad,
    )


@st.composite
def _kprop_opts(draw: st.DrawFn) -> tuple[Any, Any, Any]:
    """``k_max``, ``kind``, ``avg_metric`` of a kprop gradient (mostly the ones that exist)."""
    k = draw(_mostly(st.sampled_from([2, 2, 1, 3]), sizes(0, 5)))
    kind = draw(_mostly(st.sampled_from(["simple", "augment"]), _ACTS))
    avg = draw(_mostly(st.booleans(), bad_scalars()))
    return k, kind, avg


@st.composite
def _tail_gradient(draw: st.DrawFn) -> Call:
    args = draw(_net_args())
    thr = draw(_mostly(st.floats(-5.0, 5.0), floats_or_bad(-5.0, 5.0)))
    neuron = draw(_mostly(st.integers(0, 4), sizes(0, 4)))
    layer = draw(_mostly(st.integers(-3, 2), sizes(0, 3)))
    method = draw(_mostly(st.sampled_from(["mean_prop", "cov_prop", "kprop"]), _ACTS))
    k, kind, avg = draw(_kprop_opts())

    def check(g: object) -> None:
        _check_grad(g)
        assert isinstance(g, mlp.Gradient) and 0.0 <= g.value <= 1.0

    return _mk(
        f"MLP(**{args!r}).tail_gradient({thr!r}, neuron={neuron!r}, layer={layer!r}, method={method!r}, "
        f"k_max={k!r}, kind={kind!r}, avg_metric={avg!r})",
        lambda: _net(args).tail_gradient(thr, neuron=neuron, layer=layer, method=method, k_max=k, kind=kind, avg_metric=avg),
        check,
    )


@st.composite
def _forward(draw: st.DrawFn) -> Call:
    args = draw(_net_args())
    w0 = args["weights"][0] if isinstance(args["weights"], list) and args["weights"] else None
    n0 = int(np.shape(w0)[-1]) if w0 is not None and np.ndim(w0) == 2 else 3
    rows = draw(st.integers(0, 20))
    x = draw(_mostly(any_array((rows, n0), bad=False), st.one_of(any_array((rows, n0)), any_array((rows, 5)), bad_scalars())))
    layer = draw(_mostly(st.integers(-3, 2), sizes(0, 3)))

    def check(out: object) -> None:
        assert isinstance(out, np.ndarray) and out.ndim == 2

    return _mk(f"MLP(**{args!r}).forward({x!r}, layer={layer!r})", lambda: _net(args).forward(x, layer), check)


@st.composite
def _design_point(draw: st.DrawFn) -> Call:
    args = draw(_net_args())
    layer = draw(_mostly(st.integers(-3, 2), sizes(0, 3)))
    neuron = draw(_mostly(st.integers(0, 5), sizes(0, 5)))
    thr = draw(_mostly(st.floats(-5.0, 5.0), floats_or_bad(-5.0, 5.0)))
    iters = draw(_mostly(st.integers(1, 30), sizes(1, 30)))

    def check(out: object) -> None:
        assert isinstance(out, tuple) and np.all(np.isfinite(out[0]))

    return _mk(
        f"MLP(**{args!r}).design_point({layer!r}, {neuron!r}, {thr!r}, iters={iters!r})",
        lambda: _net(args).design_point(layer, neuron, thr, iters=iters),
        check,
    )


@st.composite
def _is_shift(draw: st.DrawFn) -> Call:
    args = draw(_net_args())
    layer = draw(_mostly(st.integers(-3, 2), sizes(0, 3)))
    neuron = draw(_mostly(st.integers(0, 5), sizes(0, 5)))
    thr = draw(_mostly(st.floats(-5.0, 5.0), floats_or_bad(-5.0, 5.0)))
    n = draw(_mostly(st.integers(10, 500), sizes(10, 500)))
    rho = draw(_mostly(st.floats(0.01, 0.5), floats_or_bad(0.01, 0.5)))
    seed = draw(_mostly(st.integers(0, 2**64 - 1), sizes(0, 5)))
    it = draw(_mostly(st.integers(0, 5), sizes(0, 5)))

    def check(out: object) -> None:
        assert isinstance(out, tuple) and np.all(np.isfinite(out[0])) and math.isfinite(out[1])

    return _mk(
        f"MLP(**{args!r}).is_shift({layer!r}, {neuron!r}, {thr!r}, n_per_iter={n!r}, rho={rho!r}, "
        f"seed={seed!r}, max_iter={it!r})",
        lambda: _net(args).is_shift(layer, neuron, thr, n_per_iter=n, rho=rho, seed=seed, max_iter=it),
        check,
    )


@st.composite
def _replace(draw: st.DrawFn) -> Call:
    args = draw(_net_args(bad=False))
    new = draw(_net_args())

    def fn() -> object:
        return _net(args).replace(weights=new["weights"], biases=new.get("biases")).widths

    return _mk(f"MLP(**{args!r}).replace(weights={new['weights']!r}, biases={new.get('biases')!r})", fn)


@st.composite
def _random_mlp(draw: st.DrawFn) -> Call:
    widths = draw(
        _mostly(
            st.lists(st.integers(1, 8), min_size=2, max_size=4),
            st.one_of(st.lists(st.one_of(st.integers(1, 8), st.sampled_from(HUGE_INTS)), min_size=0, max_size=4), bad_scalars()),
        )
    )
    act = draw(_ACTS)
    init = draw(_mostly(st.sampled_from(["he", "critical", "manual"]), _ACTS))
    w_var = draw(_mostly(st.one_of(st.none(), st.floats(0.1, 4.0)), floats_or_bad(0.1, 4.0)))
    b_var = draw(_mostly(st.floats(0.0, 2.0), floats_or_bad(0.0, 2.0)))
    b_mean = draw(_mostly(st.floats(-2.0, 2.0), floats_or_bad(-2.0, 2.0)))
    seed = draw(_mostly(st.integers(0, 2**64 - 1), sizes(0, 5)))

    def check(out: object) -> None:
        assert isinstance(out, mlp.MLP)
        _finite_arrays([*out.weights, *out.biases])

    return _mk(
        f"random_mlp({widths!r}, act={act!r}, init={init!r}, w_var={w_var!r}, b_var={b_var!r}, b_mean={b_mean!r}, seed={seed!r})",
        lambda: mlp.random_mlp(widths, act=act, init=init, w_var=w_var, b_var=b_var, b_mean=b_mean, seed=seed),  # type: ignore[arg-type]
        check,
    )


@st.composite
def _mean_field(draw: st.DrawFn) -> Call:
    depth = draw(st.integers(1, 4))
    acts = draw(
        _mostly(
            st.lists(st.sampled_from(mlp.ACTIVATIONS), min_size=depth - 1, max_size=depth - 1),
            st.one_of(st.lists(_ACTS), bad_scalars()),
        )
    )
    fl = _mostly(st.floats(0.0, 4.0), floats_or_bad(0.0, 4.0))
    w_var = draw(_mostly(st.lists(fl, min_size=depth, max_size=depth), st.one_of(st.lists(fl), bad_scalars())))
    b_var = draw(st.one_of(fl, st.lists(fl, min_size=depth, max_size=depth)))
    q_in = draw(fl)

    def check(out: object) -> None:
        assert isinstance(out, np.ndarray) and np.all(np.isfinite(out)) and np.all(out[:, 0] >= 0)

    return _mk(f"mean_field({acts!r}, {w_var!r}, {b_var!r}, {q_in!r})", lambda: mlp.mean_field(acts, w_var, b_var, q_in), check)


@st.composite
def _gauss_moments(draw: st.DrawFn) -> Call:
    act = draw(_mostly(st.sampled_from(mlp.ACTIVATIONS), _ACTS))
    n = draw(st.integers(0, 5))
    m = draw(_mostly(any_array((n,), -5.0, 5.0, bad=False), st.one_of(any_array((n,), -5.0, 5.0), floats_or_bad(-5.0, 5.0))))
    v = draw(
        _mostly(any_array((n,), 0.01, 4.0, bad=False), st.one_of(any_array((n,), 0.01, 4.0), st.sampled_from(EXTREME_FLOATS)))
    )
    kmax = draw(_mostly(st.integers(0, 10), sizes(0, 40)))

    def check(out: object) -> None:
        assert isinstance(out, dict)
        _finite_arrays(list(out.values()))

    return _mk(f"gauss_moments({act!r}, {m!r}, {v!r}, kmax={kmax!r})", lambda: mlp.gauss_moments(act, m, v, kmax), check)


@st.composite
def _compare(draw: st.DrawFn) -> Call:
    args = draw(_net_args())
    methods = draw(
        _mostly(
            st.lists(st.sampled_from(["mean_prop", "cov_prop", "cov_prop:2", "cumulant3"]), min_size=1, max_size=3),
            st.one_of(
                st.lists(st.one_of(_ACTS, st.sampled_from(["cov_prop:0", "cov_prop:x", "cov_prop:99"])), max_size=2),
                bad_scalars(),
            ),
        )
    )
    ts = draw(_mostly(st.integers(1000, 4000), sizes(1, 4000)))
    seed = draw(_mostly(st.integers(0, 2**64 - 1), sizes(0, 5)))

    def check(out: object) -> None:
        assert isinstance(out, mlp.Comparison)
        for r in out.rows:
            assert all(math.isfinite(r[k]) for k in ("mse", "mse_over_var", "flops", "speedup")), r
        out.table()

    return _mk(
        f"compare_equal_flops(MLP(**{args!r}), {methods!r}, truth_samples={ts!r}, seed={seed!r})",
        lambda: mlp.compare_equal_flops(_net(args), methods, truth_samples=ts, seed=seed),
        check,
    )


@st.composite
def _log_error(draw: st.DrawFn) -> Call:
    truth = draw(_mostly(st.floats(0.0, 1.0), st.one_of(floats_or_bad(0.0, 1.0), any_array((2,), 0.0, 1.0))))

    def fn() -> object:
        tp = mlp.TailProbability(p=np.array([0.25, 0.5]), method="gauss", flops=1.0)
        return tp.log_error(truth)

    return _mk(f"TailProbability(p=[0.25, 0.5]).log_error({truth!r})", fn)


@st.composite
def _plot(draw: st.DrawFn) -> Call:
    kind = draw(st.integers(0, 3))
    bad = draw(bad_scalars())

    def fn() -> object:
        if kind == 0:
            net = mlp.random_mlp([3, 3, 1], seed=0)
            comps: Any = [mlp.compare_equal_flops(net, truth_samples=2000)]
        elif kind == 1:
            comps = [mlp.Comparison(rows=[], var=1.0, flops_per_sample=1.0, noise_floor=0.0)]
        elif kind == 2:
            comps = [bad]
        else:
            comps = bad
        fig = mlp.plot_mse_vs_flops(comps)
        plt.close(fig)
        return True

    return _mk(f"plot_mse_vs_flops(kind={kind}, bad={bad!r})", fn, timeout=60.0)


ENTRIES: list[Entry] = [
    Entry("mlp.MLP", _ctor()),
    Entry("mlp.MLP.estimate", _estimate()),
    Entry("mlp.MLP.estimate[kprop]", _kprop()),
    Entry("mlp.MLP.monte_carlo", _monte_carlo()),
    Entry("mlp.MLP.tail_probability", _tail()),
    Entry("mlp.MLP.gradient", _gradient()),
    Entry("mlp.MLP.tail_gradient", _tail_gradient()),
    Entry("mlp.MLP.forward", _forward()),
    Entry("mlp.MLP.design_point", _design_point()),
    Entry("mlp.MLP.is_shift", _is_shift()),
    Entry("mlp.MLP.replace", _replace()),
    Entry("mlp.random_mlp", _random_mlp()),
    Entry("mlp.mean_field", _mean_field()),
    Entry("mlp.gauss_moments", _gauss_moments()),
    Entry("mlp.compare_equal_flops", _compare()),
    Entry("mlp.TailProbability.log_error", _log_error()),
    Entry("mlp.plot_mse_vs_flops", _plot()),
]
