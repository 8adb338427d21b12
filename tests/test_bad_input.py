"""Bad input gives a clear exception naming the argument; nothing panics across the FFI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import boltzkit
from boltzkit import BoltzkitError, InvalidArgumentError, InvalidTypeError
from boltzkit import fpentropy as fp


def _no_panic(fn: Any) -> None:
    """Run fn; a BoltzkitError (ValueError/TypeError) is fine, a PanicException is a bug."""
    try:
        fn()
    except BoltzkitError:
        pass
    except BaseException as e:  # pyo3's PanicException derives from BaseException
        if type(e).__name__ == "PanicException":
            pytest.fail(f"Rust panic crossed the FFI: {e}")
        raise


@pytest.mark.parametrize(
    ("call", "exc", "arg"),
    [
        (lambda: fp.entropy(stats.norm(), "float7"), InvalidArgumentError, "fmt"),  # type: ignore[arg-type]
        (lambda: fp.entropy(stats.norm, "float16"), InvalidTypeError, "dist"),  # type: ignore[arg-type]
        (lambda: fp.entropy(stats.poisson(3), "float16"), InvalidTypeError, "dist"),  # type: ignore[arg-type]
        (lambda: fp.entropy("norm", "float16"), InvalidTypeError, "dist"),  # type: ignore[arg-type]
        (lambda: fp.entropy(stats.norm(scale=np.nan), "float16"), InvalidArgumentError, "dist"),
        (lambda: fp.entropy(stats.norm(scale=-1.0), "float16"), InvalidArgumentError, "dist"),
        (lambda: fp.entropy(stats.norm(loc=np.inf), "float16"), InvalidArgumentError, "dist"),
        (lambda: fp.entropy(stats.t(np.nan), "float16"), InvalidArgumentError, "dist"),
        (lambda: fp.entropy(stats.norm(), "float16", method="fast"), InvalidArgumentError, "method"),  # type: ignore[arg-type]
        (lambda: fp.entropy(stats.norm(), "float32", method="enumerate"), InvalidArgumentError, "cells"),
        (lambda: fp.entropy(stats.norm(), "float16", merge_zero="yes"), InvalidTypeError, "merge_zero"),  # type: ignore[arg-type]
        (lambda: fp.entropy(stats.norm(), "float16", threads=0), InvalidArgumentError, "threads"),
        (lambda: fp.entropy(stats.norm(), "float16", threads=2.5), InvalidTypeError, "threads"),  # type: ignore[arg-type]
        (lambda: fp.approx_entropy(stats.norm(), "floatX"), InvalidArgumentError, "fmt"),  # type: ignore[arg-type]
        (lambda: fp.entropy_vs_scale(stats.norm(), "float16", [1.0, -2.0]), InvalidArgumentError, "scales"),
        (lambda: fp.entropy_vs_scale(stats.norm(), "float16", [np.nan]), InvalidArgumentError, "scales"),
        (lambda: fp.entropy_vs_scale(stats.norm(), "float16", []), InvalidArgumentError, "scales"),
        (lambda: boltzkit.set_num_threads(-1), InvalidArgumentError, "threads"),
    ],
)
def test_clear_errors(call: Any, exc: type[Exception], arg: str) -> None:
    with pytest.raises(exc, match=arg):
        call()


class _Raising(stats.rv_continuous):
    """A user law whose pdf raises."""

    def _pdf(self, x: Any, *args: Any) -> Any:
        raise RuntimeError("user pdf exploded")


class _NanPdf(stats.rv_continuous):
    """A user law whose pdf is NaN."""

    def _pdf(self, x: Any, *args: Any) -> Any:
        return np.full_like(x, np.nan)

    def _cdf(self, x: Any, *args: Any) -> Any:  # scipy would integrate the pdf
        return stats.norm.cdf(x)


class _BadCdf(stats.rv_continuous):
    """A user law whose cdf is out of [0, 1]."""

    def _pdf(self, x: Any, *args: Any) -> Any:
        return stats.norm.pdf(x)

    def _cdf(self, x: Any, *args: Any) -> Any:
        return np.full_like(x, 2.0)


def test_a_raising_user_law_re_raises_its_own_exception() -> None:
    with pytest.raises(RuntimeError, match="user pdf exploded"):
        fp.entropy(_Raising(name="raising")(), "float32")


@pytest.mark.parametrize("law", [_NanPdf, _BadCdf])
def test_a_user_law_returning_garbage_is_rejected(law: type[stats.rv_continuous]) -> None:
    with pytest.raises(InvalidArgumentError, match="dist"):
        fp.entropy(law(name="garbage")(), "float16")


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["norm", "t", "gamma", "beta", "lognorm", "pareto", "loguniform", "uniform"]),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from(["float16", "float32", "float8_e4m3fn", "float4_e2m1fn", "float64"]),
)
def test_random_parameters_never_panic(law: str, a: float, b: float, name: fp.FormatName) -> None:
    def call() -> None:
        with np.errstate(all="ignore"):
            makers: dict[str, Any] = {
                "norm": lambda: stats.norm(loc=a, scale=b),
                "t": lambda: stats.t(a, scale=b),
                "gamma": lambda: stats.gamma(a, scale=b),
                "beta": lambda: stats.beta(a, b),
                "lognorm": lambda: stats.lognorm(a, scale=b),
                "pareto": lambda: stats.pareto(a, scale=b),
                "loguniform": lambda: stats.loguniform(a, b),
                "uniform": lambda: stats.uniform(a, b),
            }
            dist = makers[law]()
        fp.entropy(dist, name)
        fp.approx_entropy(dist, name)

    _no_panic(call)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50),
    st.sampled_from(list(fp.FORMATS)),
)
def test_quantize_never_panics(xs: list[float], name: fp.FormatName) -> None:
    _no_panic(lambda: fp.quantize(np.array(xs, dtype=np.float64), name))
    _no_panic(lambda: fp.quantize_codes(np.array(xs, dtype=np.float64), name))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 12), st.integers(0, 60), st.integers(-3000, 3000), st.sampled_from(["signed", "single"]))
def test_user_formats_never_panic(e: int, m: int, bias: int, zero: str) -> None:
    for overflow in ("inf", "nan", "saturate"):
        _no_panic(lambda o=overflow: fp.FloatFormat(e, m, bias, zero, o))  # type: ignore[arg-type]


def test_unusable_output_folder_is_named_before_any_work(tmp_path: Path) -> None:
    from boltzkit.jobs import load_job, run_job

    job = tmp_path / "job.toml"
    job.write_text('type = "fpentropy.entropy"\n[params]\nformats = ["float8_e4m3fn"]\ndists = [{ law = "norm" }]\n')
    with pytest.raises(InvalidArgumentError, match=r"^out: .* is a file, not a folder"):
        run_job(load_job(job), out=job, progress=False)
    with pytest.raises(InvalidTypeError, match=r"^out: expected a folder path"):
        run_job(load_job(job), out=3, progress=False)  # type: ignore[arg-type]
    r = run_job(load_job(job), out=tmp_path / "new" / "deeper", progress=False)
    assert (tmp_path / "new" / "deeper").is_dir() and r.tables


def test_plot_methods_name_a_bad_ax() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    from boltzkit import fpentropy as fp
    from boltzkit import spin as sp

    sw = fp.entropy_vs_scale(stats.norm(), "float8_e4m3fn", [0.5, 1.0])
    with pytest.raises(InvalidTypeError, match=r"^ax: expected a matplotlib Axes or None, got int"):
        sw.plot(1)  # type: ignore[arg-type]
    fig, ax = plt.subplots()
    assert sw.plot(ax) is fig
    pt = sp.sk(8, seed=0).tempering([0.5, 1.0], 50)
    with pytest.raises(InvalidTypeError, match=r"^axes: expected a sequence of 3 matplotlib Axes, got 2"):
        pt.plot(list(plt.subplots(1, 2)[1]))
    assert len(pt.plot()) == 3
    plt.close("all")
