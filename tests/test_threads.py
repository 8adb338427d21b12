"""Thread control and GIL release."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy import stats

import boltzkit
from boltzkit import fpentropy as fp


def test_set_and_get_num_threads() -> None:
    default = boltzkit.get_num_threads()
    assert default >= 1
    try:
        boltzkit.set_num_threads(1)
        assert boltzkit.get_num_threads() == 1
        a = fp.entropy(stats.t(3.0), "float32")
        boltzkit.set_num_threads(2)
        b = fp.entropy(stats.t(3.0), "float32")
        assert a == b
    finally:
        boltzkit.set_num_threads(None)
    assert boltzkit.get_num_threads() == default


def test_heavy_calls_release_the_gil() -> None:
    """While a long core call runs in a worker thread, the main thread keeps executing Python."""
    x = (0.02 * np.random.default_rng(1).standard_normal(30_000_000)).astype(np.float32)
    inside = threading.Event()
    done = threading.Event()

    def work() -> None:
        inside.set()
        fp.empirical_entropy(x, threads=1)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    inside.wait()
    ticks = 0
    while not done.is_set():
        ticks += 1
    t.join()
    # with the GIL held for the whole call the main thread could not run this loop at all
    assert ticks > 1000, ticks


@pytest.mark.parametrize("threads", [1, 2])
def test_explicit_threads_argument(threads: int) -> None:
    r = fp.entropy(stats.norm(), "float16", threads=threads)
    assert abs(r.bits - 13.4637230653) < 1e-10


def test_calls_work_in_a_forked_child() -> None:
    """multiprocessing's default start method on Linux is fork: the child inherits the parent's
    thread pools without their threads. A call there must not wait forever on them."""
    import os
    import time

    from boltzkit import hmc

    def work() -> float:
        tr = hmc.sample(hmc.GaussianAniso(2), method="hmc", n_samples=20, n_chains=2, step_size=0.4, progress=False)
        return float(tr.summary()["ess_bulk"].sum() + fp.entropy(stats.norm(), "float8_e4m3fn", threads=2).bits)

    expected = work()  # builds the pools in this process
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = 0 if work() == expected else 2
        finally:
            os._exit(code)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("a boltzkit call in a forked child hung on the parent's thread pool")
