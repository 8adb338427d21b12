"""Fuzz entries of result objects' methods (plots, accessors) and of running a job file.

Results are made small and valid; the fuzzed part is what a user passes to their methods:
``ax``/``axes`` of every type, labels, bin counts, indices, format names, job files and output
folders.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from hypothesis import strategies as st
from scipy import stats

from boltzkit import fpentropy as fp
from boltzkit import hmc
from boltzkit import spin as sp
from boltzkit.jobs import load_job, run_job
from boltzkit.spin import phase
from fuzz._harness import Call, Entry
from fuzz._strategies import bad_scalars, sizes

_MAKERS: dict[str, Any] = {
    "ScaleSweep": lambda: fp.entropy_vs_scale(stats.norm(), "float8_e4m3fn", [0.5, 1.0, 2.0]),
    "Trace": lambda: hmc.sample(hmc.GaussianAniso(2), method="hmc", n_samples=30, n_chains=2, step_size=0.4, progress=False),
    "AnnealResult": lambda: sp.sk(12, seed=0).anneal(2, 20, trace=True, seed=0),
    "TemperingResult": lambda: sp.sk(12, seed=0).tempering([0.3, 0.7, 1.0], 100, seed=0),
    "HessianScan": lambda: phase.tap_hessian_scan(sp.layered_sk([5, 4, 3], seed=1), np.geomspace(0.3, 5, 12)),
    "BondSpectrum": lambda: phase.bond_spectrum(sp.layered_sk([5, 4, 3], seed=1)),
    "TapResult": lambda: sp.sk(12, seed=0).tap([2.0, 1.0, 0.5], seed=0, warn=False),
}


@cache
def _result(name: str) -> Any:
    """Made in the forked child, never in the parent: a thread pool started before fork() is not
    usable in the child (its worker threads do not exist there)."""
    return _MAKERS[name]()


def _axes_values() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.just("new"), st.just("three"), bad_scalars())


def _resolve_ax(v: Any) -> Any:
    if isinstance(v, str) and v == "new":
        return plt.subplots()[1]
    if isinstance(v, str) and v == "three":
        return list(plt.subplots(1, 3)[1])
    return v


_PLOTS: dict[str, tuple[str, str, dict[str, st.SearchStrategy[Any]]]] = {
    "ScaleSweep.plot": ("ScaleSweep", "plot", {}),
    "Trace.plot_autocorr": (
        "Trace",
        "plot_autocorr",
        {
            "quantity": st.sampled_from(["x", "x2", "x3", None, 1]),
            "label": st.one_of(st.none(), st.text(max_size=5), bad_scalars()),
        },
    ),
    "AnnealResult.plot_trace": ("AnnealResult", "plot_trace", {"n": st.one_of(st.none(), sizes(1, 100))}),
    "TemperingResult.plot": ("TemperingResult", "plot", {}),
    "HessianScan.plot": ("HessianScan", "plot", {}),
    "BondSpectrum.plot": (
        "BondSpectrum",
        "plot",
        {"label": st.one_of(st.none(), st.text(max_size=5), bad_scalars()), "bins": sizes(1, 100)},
    ),
}


def _plot_entry(name: str) -> Entry:
    res, meth, extra = _PLOTS[name]
    ax_name = "axes" if name == "TemperingResult.plot" else "ax"

    @st.composite
    def calls(draw: st.DrawFn) -> Call:
        ax = draw(_axes_values())
        kw = {k: draw(s) for k, s in extra.items() if draw(st.booleans())}

        def fn() -> object:
            out = getattr(_result(res), meth)(_resolve_ax(ax), **kw)
            plt.close("all")
            return out

        def check(out: object) -> None:
            assert out is not None

        return Call(fn, f"{name}({ax_name}={ax!r}, **{kw!r})", check, timeout=60.0)

    return Entry(f"results.{name}", calls())


def _from_name(name: Any) -> Call:
    def check(out: object) -> None:
        assert isinstance(out, fp.FloatFormat)

    return Call(lambda: fp.FloatFormat.from_name(name), f"FloatFormat.from_name({name!r})", check)


def _tap_best(k: Any) -> Call:
    def check(out: object) -> None:
        a = np.asarray(out)
        assert a.shape == (12,) and np.all(np.abs(a) <= 1.0 + 1e-12), a

    return Call(lambda: _result("TapResult").best(k), f"TapResult.best({k!r})", check)


_JOB_DISTS = ['[{ law = "norm" }]', '[{ law = "t", df = 3.0, scale = 0.02 }]', '[{ law = "norm" }]', '[{ law = "nope" }]', "[1]"]
_JOB_FORMATS = ['["float8_e4m3fn"]', '["float16", "bfloat16"]', '["float8_e5m2"]', '["float7"]', "3"]


@st.composite
def _run_job(draw: st.DrawFn) -> Call:
    text = "\n".join(
        [
            'type = "fpentropy.entropy"',
            "[params]",
            f"formats = {draw(st.sampled_from(_JOB_FORMATS))}",
            f"dists = {draw(st.sampled_from(_JOB_DISTS))}",
        ]
    )
    out_kind = draw(st.sampled_from(["dir", "dir", "none", "file", "missing_parent"]))

    def fn() -> object:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "job.toml"
            # out=None: the file's own `out` (inside the scratch folder, never the working directory)
            p.write_text((f'out = "{Path(d) / "res"}"\n' if out_kind == "none" else "") + text + "\n")
            out = {"dir": Path(d) / "out", "none": None, "file": p, "missing_parent": Path(d) / "a" / "b" / "c"}[out_kind]
            r = run_job(load_job(p), out=out, progress=False)
            return r.tables

    def check(out: object) -> None:
        assert out is not None

    return Call(fn, f"run_job({text!r}, out={out_kind})", check, timeout=60.0)


ENTRIES: list[Entry] = [
    *(_plot_entry(n) for n in _PLOTS),
    Entry(
        "fpentropy.FloatFormat.from_name",
        st.one_of(st.sampled_from([*fp.FORMATS, "float7", "", "FLOAT16"]), st.text(max_size=8), bad_scalars()).map(_from_name),
    ),
    Entry("spin.TapResult.best", sizes(-4, 3).map(_tap_best)),
    Entry("jobs.run_job", _run_job()),
]
