"""Every plot the demo, the jobs, the report and the plot functions make is readable (issue 17
point 5g): labelled axes, a legend where there is more than one series, distinct markers (or line
styles) per series, titles that overlap nothing and stay inside the figure, axis labels inside the
figure, and no plot whose data are all zero without a note saying so.

Figures are checked at the moment they are saved (``Figure.savefig`` is wrapped), so the demo and
the jobs are checked exactly as they run."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox

from boltzkit.cli import main
from boltzkit.store import ResultStore, content_key

ROOT = Path(__file__).resolve().parent.parent


def _no_marker(m: Any) -> bool:
    return m is None or m in ("None", "none", "", " ", ",")


def _series(ax: Axes) -> list[tuple[Any, str]]:
    handles, labels = ax.get_legend_handles_labels()
    return list(zip(handles, labels, strict=True))


def _line_of(handle: Any) -> Line2D | None:
    if isinstance(handle, Line2D):
        return handle
    if isinstance(handle, ErrorbarContainer):
        line = handle.lines[0]
        return line if isinstance(line, Line2D) else None
    return None


def _data_lines(ax: Axes) -> list[Line2D]:
    """Lines that carry data (not a two-point reference line such as axhline)."""
    return [ln for ln in ax.get_lines() if len(np.atleast_1d(ln.get_xdata())) > 2]


def figure_problems(fig: Figure, name: str) -> list[str]:
    """Everything that makes ``fig`` hard to read, as messages (empty when it is fine)."""
    fig.canvas.draw()
    renderer: Any = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    fig_box = fig.bbox
    problems: list[str] = []
    titles: list[tuple[str, Bbox]] = []
    st: Any = getattr(fig, "_suptitle", None)  # the artist (matplotlib has a getter of its text only)
    if st is not None and st.get_text():
        titles.append(("suptitle", st.get_window_extent(renderer)))

    def inside(box: Bbox) -> bool:
        return bool(
            box.x0 >= fig_box.x0 - 1 and box.y0 >= fig_box.y0 - 1 and box.x1 <= fig_box.x1 + 1 and box.y1 <= fig_box.y1 + 1
        )

    for i, ax in enumerate(fig.axes):
        where = f"{name} axes {i} ({ax.get_title() or 'untitled'})"
        if not ax.has_data():
            continue
        if not ax.get_xlabel().strip():
            problems.append(f"{where}: no x label")
        if not ax.get_ylabel().strip():
            problems.append(f"{where}: no y label")
        for lab in (ax.xaxis.label, ax.yaxis.label):
            if lab.get_text() and not inside(lab.get_window_extent(renderer)):
                problems.append(f"{where}: the axis label {lab.get_text()!r} is cut by the figure's edge")
        for t in (ax.title, getattr(ax, "_left_title", ax.title), getattr(ax, "_right_title", ax.title)):
            if t.get_text():
                titles.append((f"{where} title", t.get_window_extent(renderer)))
        series = _series(ax)
        n_series = max(len(series), len(_data_lines(ax)))
        if n_series > 1 and ax.get_legend() is None:
            problems.append(f"{where}: {n_series} series and no legend")
        lines = [(ln, lab) for h, lab in series if (ln := _line_of(h)) is not None]
        marked = [(str(ln.get_marker()), lab) for ln, lab in lines if not _no_marker(ln.get_marker())]
        for (m1, l1), (m2, l2) in itertools.combinations(marked, 2):
            if m1 == m2:
                problems.append(f"{where}: {l1!r} and {l2!r} share the marker {m1!r}")
        plain = [((str(ln.get_color()), str(ln.get_linestyle())), lab) for ln, lab in lines if _no_marker(ln.get_marker())]
        for (s1, l1), (s2, l2) in itertools.combinations(plain, 2):
            if s1 == s2:
                problems.append(f"{where}: {l1!r} and {l2!r} have the same colour and line style and no markers")
        ys = [np.asarray(ln.get_ydata(), dtype=float) for ln in _data_lines(ax)]
        if ys and all(np.all(y[np.isfinite(y)] == 0) for y in ys) and not ax.texts:
            problems.append(f"{where}: every value plotted is 0 and nothing says so")
    for label, box in titles:
        if not inside(box):
            problems.append(f"{label} is cut by the figure's edge")
    for (l1, b1), (l2, b2) in itertools.combinations(titles, 2):
        if b1.overlaps(b2):
            problems.append(f"{l1} overlaps {l2}")
    return problems


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """Checks every figure saved during the test; maps the file name to its problems."""
    found: dict[str, list[str]] = {}
    original = Figure.savefig

    def savefig(self: Figure, fname: Any, *args: Any, **kwargs: Any) -> None:
        found[Path(str(fname)).name] = figure_problems(self, Path(str(fname)).name)
        original(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    yield found
    plt.close("all")


def _assert_clean(found: dict[str, list[str]], expected: set[str]) -> None:
    assert expected <= set(found), f"figures not made: {expected - set(found)}"
    problems = [p for ps in found.values() for p in ps]
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the checker itself


def test_the_checker_finds_the_problems_it_should(saved: dict[str, list[str]], tmp_path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(4, 2))
    axes[0].plot([1, 2, 3], [1, 2, 3], "o-", label="a")
    axes[0].plot([1, 2, 3], [2, 3, 4], "o-", label="b")
    axes[0].set_title("a very long title that runs into the next panel's title for sure")
    axes[1].plot([1, 2, 3], [0, 0, 0])
    axes[1].set_title("another long title running into the first panel's title")
    fig.savefig(tmp_path / "bad.png")
    text = "\n".join(saved["bad.png"])
    for what in ("no x label", "no y label", "no legend", "share the marker 'o'", "overlaps", "every value plotted is 0"):
        assert what in text, what


# --------------------------------------------------------------------------- demo, jobs, report


def test_demo_plots(saved: dict[str, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    expected = {
        "fpentropy_scale_wobble.png",
        "fpentropy_approximation_error.png",
        "hmc_autocorrelation.png",
        "spin_exact_ising_anneal.png",
        "mlp_mse_vs_flops.png",
        "mlp_rare_event_training.png",
    }
    try:
        import sklearn  # noqa: F401
    except ImportError:  # pragma: no cover - the spin extra is missing
        pass
    else:
        expected |= {"spin_nn_tc_vs_training.png", "spin_nn_bond_spectrum.png"}
    _assert_clean(saved, expected)


def test_job_plots(saved: dict[str, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = {
        "scale_sweep.png": 'type = "fpentropy.scale_sweep"\n[params]\ndist = { law = "norm" }\n'
        'formats = ["bfloat16", "float16"]\nn = 5\n',
        "autocorrelation.png": 'type = "hmc.sample"\n[params]\ntarget = { name = "rough_well", dim = 2 }\n'
        'methods = ["hmc", "mjhmc", "lahmc"]\nn_samples = 200\nn_chains = 4\nstep_size = 1.0\nn_leapfrog = 5\n',
        "mlp_mse_vs_flops.png": 'type = "mlp.compare"\n[params]\nwidths = [8, 16]\ndepths = [2, 3]\n'
        'methods = ["mean_prop", "cov_prop", "cov_prop:2"]\ntruth_samples = 2000\n',
    }
    for i, (png, text) in enumerate(jobs.items()):
        job = tmp_path / f"job{i}.toml"
        job.write_text(text)
        assert main(["run", str(job), "--out", str(tmp_path / f"o{i}"), "--no-progress"]) == 0, png
    capsys.readouterr()
    _assert_clean(saved, set(jobs))


def test_report_plots(saved: dict[str, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s.sqlite"
    rows: list[dict[str, Any]] = []
    for fmt, scale, seed in itertools.product(["bfloat16", "float16", "float8_e4m3fn"], [0.5, 1.0, 2.0, 4.0], [0, 1]):
        params: dict[str, Any] = {"format": fmt, "dist": {"law": "norm", "scale": scale}}
        metrics: dict[str, Any] = {"bits": 8.0 + np.log2(scale) + 0.01 * seed, "p_overflow": 0.0}
        rows.append({"key": content_key("fpentropy.entropy", params, seed), "task": "fpentropy.entropy", "params": params,
                     "seed": seed, "status": "ok", "metrics": metrics})  # fmt: skip
    for w in (8, 16, 32):
        params = {"width": w, "depth": 2}
        metrics = {"speedup[cov_prop]": float(w), "truth_limited[cov_prop]": w == 32}
        rows.append({"key": content_key("mlp.compare", params, 0), "task": "mlp.compare", "params": params, "seed": 0,
                     "status": "ok", "metrics": metrics})  # fmt: skip
    with ResultStore(store) as db:
        db.write("s", rows)
    assert main(["report", str(store), "--out", str(tmp_path / "rep")]) == 0
    assert main(["report", str(store), "--out", str(tmp_path / "rep2"), "--metrics", "p_overflow"]) == 0
    capsys.readouterr()
    _assert_clean(saved, {"fpentropy_entropy_bits.png", "mlp_compare_speedup_cov_prop.png", "fpentropy_entropy_p_overflow.png"})


# --------------------------------------------------------------------------- plot functions on new figures


def test_plot_functions_on_new_figures(saved: dict[str, list[str]], tmp_path: Path) -> None:
    from scipy import stats

    from boltzkit import fpentropy as fp
    from boltzkit import hmc, mlp
    from boltzkit import spin as sp

    # the README's fpentropy example, as written there
    fp.entropy_vs_scale(stats.norm(), "bfloat16", 2.0 ** np.linspace(-1, 1, 9)).plot().savefig(tmp_path / "fp.png")
    tr = hmc.sample(hmc.RoughWell(dim=2), method="hmc", n_samples=200, n_chains=4, seed=1)
    tr.plot_autocorr().savefig(tmp_path / "hmc.png")
    net = mlp.random_mlp([8, 8, 8], act="relu", seed=0)
    cmp = mlp.compare_equal_flops(net, ["mean_prop", "cov_prop", "cov_prop:2"], truth_samples=2000, seed=1)
    mlp.plot_mse_vs_flops([cmp]).savefig(tmp_path / "mlp.png")
    m = sp.sk(12, seed=0)
    fig = plt.figure(layout="constrained")
    m.anneal(3, 50, seed=0, trace=True).plot_trace(fig.add_subplot(), n=12)
    fig.savefig(tmp_path / "trace.png")
    axes = m.tempering(np.linspace(0.3, 1.5, 4), 200, seed=0).plot()
    axes[0].get_figure(root=True).savefig(tmp_path / "tempering.png")  # type: ignore[union-attr]
    _assert_clean(saved, {"fp.png", "hmc.png", "mlp.png", "trace.png", "tempering.png"})
