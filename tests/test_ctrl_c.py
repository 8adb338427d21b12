"""Ctrl-C stops long Rust calls of the spin and mlp modules within a second (the GIL is released
and signals are polled while the core runs; the core polls the cancellation flag)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from boltzkit import mlp
from boltzkit import spin as sp


def _interrupt_after(seconds: float, call: Callable[[], object]) -> float:
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    old = signal.signal(signal.SIGINT, signal.default_int_handler)  # in case SIGINT is ignored
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, old)
    return time.perf_counter() - t0 - seconds


def test_ctrl_c_stops_a_long_anneal() -> None:
    m = sp.sk(2000, seed=0)  # ~1e11 spin updates: hours
    assert _interrupt_after(0.5, lambda: m.anneal(64, 10**6, seed=0, threads=1)) < 2.0


def test_ctrl_c_stops_a_long_monte_carlo() -> None:
    net = mlp.random_mlp([256] * 5, act="relu", seed=0)
    assert _interrupt_after(0.5, lambda: net.monte_carlo(n_samples=2**22, threads=1)) < 2.0
