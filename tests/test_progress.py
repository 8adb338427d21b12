"""progress= on long calls: a bar on request (never when not asked or not on a terminal), same results."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from scipy import stats

from boltzkit import InvalidTypeError, mlp
from boltzkit import fpentropy as fp
from boltzkit import spin as sp
from boltzkit.spin import phase

_M = sp.sk(10, seed=0)
_DATA = _M.tempering([1.0], 200, record_states=True).states.reshape(-1, 10)


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("fit_mpf", lambda p: sp.fit_mpf(_DATA, maxiter=30, progress=p).model.J),
        ("fit_pseudolikelihood", lambda p: sp.fit_pseudolikelihood(_DATA, maxiter=30, progress=p).model.J),
        ("TAP Hessian scan", lambda p: phase.tap_hessian_scan(_M, np.geomspace(0.3, 3, 6), progress=p).lambda_min),
        (
            "entropy vs scale",
            lambda p: fp.entropy_vs_scale(stats.norm(), "float8_e4m3fn", 2.0 ** np.linspace(-1, 1, 5), progress=p).exact,
        ),
    ],
)
def test_progress_bar_on_request_only(name: str, call: object) -> None:
    runs = {}
    for p in (True, False, None):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            runs[p] = call(p)  # type: ignore[operator]
        # stderr here is not a terminal: the default (None) shows nothing
        assert (name in err.getvalue()) == (p is True), (p, err.getvalue()[:200])
    assert np.array_equal(runs[True], runs[False]) and np.array_equal(runs[True], runs[None])


def test_progress_must_be_a_bool() -> None:
    with pytest.raises(InvalidTypeError, match=r"^progress: "):
        sp.fit_mpf(_DATA, maxiter=5, progress="yes")  # type: ignore[arg-type]


# ----------------------------------------------------------- calls into the Rust core
_NET = mlp.random_mlp([16, 32, 32, 1], seed=3)


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("anneal", lambda p: _M.anneal(4, 2000, progress=p).energies),
        (
            "anneal",
            lambda p: (
                sp.SpinModel.from_layers([np.ones((3, 4)) / 2, np.ones((2, 3)) / 2])
                .anneal(4, 500, kernel="layered", progress=p)
                .energies
            ),
        ),
        ("tempering", lambda p: _M.tempering([0.5, 1.0], 2000, progress=p).energies),
        ("enumerate 2^10", lambda p: _M.enumerate_exact([0.5, 1.0], progress=p).ln_z),
        ("TAP", lambda p: _M.tap(np.geomspace(3, 0.3, 8), progress=p).m),
        ("Monte Carlo", lambda p: _NET.monte_carlo(2**16, progress=p).means[-1]),
        ("tail (mc)", lambda p: _NET.tail_probability(threshold=1.0, method="mc", n_samples=2**14, progress=p).p),
        (
            "tail (is)",
            lambda p: _NET.tail_probability(threshold=2.0, method="is", neuron=0, n_samples=2**14, progress=p).p,
        ),
        (
            "splitting",
            lambda p: _NET.tail_probability(threshold=2.0, method="splitting", neuron=0, n_samples=4000, progress=p).p,
        ),
        (
            "Monte Carlo",
            lambda p: np.array([r["mse"] for r in mlp.compare_equal_flops(_NET, truth_samples=2**14, progress=p).rows]),
        ),
    ],
)
def test_core_calls_show_a_bar_on_request_only(name: str, call: object) -> None:
    test_progress_bar_on_request_only(name, call)


def test_core_progress_counts_every_unit_once() -> None:
    """The core's counter only grows, never passes its total, and covers the whole run: anneal
    counts sweeps of reads (reads × β steps × sweeps per β)."""
    from boltzkit import _core

    seen: list[tuple[int, int]] = []
    m = sp.sk(300, seed=2)
    betas = np.linspace(0.1, 3.0, 4000)
    r = _core.spin_anneal(m._spec(True), betas, 1, 12, "metropolis", "sequential", None, 1, False, None,
                          lambda d, t: seen.append((d, t)))  # fmt: skip
    plain = _core.spin_anneal(m._spec(True), betas, 1, 12, "metropolis", "sequential", None, 1, False, None)
    assert np.array_equal(r["best_energies"], plain["best_energies"])
    assert seen, "no progress was reported during a run of several hundred ms"
    done = [d for d, _ in seen]
    assert all(t == 12 * 4000 for _, t in seen)
    assert done == sorted(done) and 0 < done[-1] <= 12 * 4000


def test_a_failing_progress_callback_stops_the_call() -> None:
    from boltzkit import _core

    def boom(done: int, total: int) -> None:
        raise RuntimeError("bar broke")

    m = sp.sk(300, seed=2)
    t0 = __import__("time").perf_counter()
    with pytest.raises(RuntimeError, match="bar broke"):
        _core.spin_anneal(m._spec(True), np.linspace(0.1, 3, 10**6), 1, 8, "metropolis", "sequential", None, 1,
                          False, None, boom)  # fmt: skip
    assert __import__("time").perf_counter() - t0 < 5.0


def test_bar_shows_on_a_terminal_reporting_size_0x0() -> None:
    """A pty whose window size is 0×0 (as some CI runners and `docker exec` report): the default
    progress=None sees a terminal and draws a real bar, not a 0-column one. The child writes to the
    pty while this process drains it (a full pty buffer would block the writer)."""
    import fcntl
    import os
    import select
    import struct
    import subprocess
    import sys
    import termios
    import time

    main_fd, sub_fd = os.openpty()
    fcntl.ioctl(sub_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    code = "import boltzkit.spin as sp; sp.sk(300, seed=1).anneal(8, 6000)"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=sub_fd, stdout=subprocess.DEVNULL)
    os.close(sub_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(main_fd, 65536)
                except OSError:  # EIO: the child closed its side
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        proc.kill() if proc.poll() is None else None
        proc.wait()
        os.close(main_fd)
    out = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, out[-500:]
    # a bar with a count and a rate, drawn at tqdm's fallback width rather than 0 columns
    assert "anneal" in out and "sweep" in out and "/48000" in out, out[-500:]
