"""The fuzz harness classifies every way a call can end, in a forked child."""

from __future__ import annotations

import os
import signal
import time

import pytest

from boltzkit import ComputationError, InvalidArgumentError, InvalidTypeError
from fuzz._harness import Call, CallbackError, run_call


class PanicException(BaseException):
    """Stands in for pyo3_runtime.PanicException (classified by name)."""


def _raise(e: BaseException) -> object:
    raise e


def _abort() -> object:
    os.abort()


def _killed() -> object:
    os.kill(os.getpid(), signal.SIGKILL)
    return None


def _sleep() -> object:
    time.sleep(30)
    return None


def _deaf_sleep() -> object:
    # stands in for a loop that never returns to Python nor polls for Ctrl-C
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    time.sleep(30)
    return None


def _alloc() -> object:
    return bytearray(2**42)


def _bad_check(out: object) -> None:
    assert out == 2, f"expected 2, got {out}"


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        (Call(lambda: 1, "ok"), "valid"),
        (Call(lambda: 1, "invariant", check=_bad_check), "invariant"),
        (Call(lambda: _raise(InvalidArgumentError("n_chains: must be at least 1, got 0")), "named"), "documented_error"),
        (Call(lambda: _raise(InvalidTypeError("x[0]: expected a float")), "named"), "documented_error"),
        (Call(lambda: _raise(InvalidArgumentError("density evaluations exceed the limit")), "unnamed"), "bad_message"),
        (Call(lambda: _raise(ComputationError("no convergence")), "computation"), "documented_error"),
        (Call(lambda: _raise(CallbackError("user")), "callback"), "documented_error"),
        (Call(lambda: _raise(OverflowError("int too big to convert")), "overflow"), "wrong_exception"),
        (Call(lambda: _raise(PanicException("boom")), "panic"), "panic"),
        (Call(_alloc, "memory"), "wrong_exception"),
        (Call(_abort, "abort"), "crash"),
        (Call(_killed, "killed"), "oom"),
        (Call(_sleep, "sleep", timeout=0.5), "long"),
        (Call(_deaf_sleep, "deaf", timeout=0.5), "hang"),
    ],
)
def test_harness_classifies_outcomes(call: Call, kind: str) -> None:
    out = run_call(call)
    assert out.kind == kind, out
