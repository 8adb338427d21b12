"""Fuzz harness: every case runs in a forked child with a wall-clock timeout and an address-space limit.

A segfault, abort, hang or out-of-memory kill is caught and classified instead of killing the run.
Outcome classes:

- ``valid``: the call returned and the entry's invariant check passed;
- ``long``: the call was accepted (its size is within the documented memory and time bounds) and
  was still working at the time limit; SIGINT then stopped it with ``KeyboardInterrupt`` within
  2 s, as Ctrl-C must. Not a defect, but listed by the runner so each can be looked at;
- ``documented_error``: ``InvalidArgumentError`` / ``InvalidTypeError`` whose message starts with an
  argument name followed by ``": "``, ``ComputationError``, or the user's own callback exception
  (:class:`CallbackError`) re-raised unchanged;
- defects: ``panic`` (a Rust panic reached Python), ``wrong_exception`` (any other exception type,
  ``MemoryError`` included), ``bad_message`` (our exception without the argument's name first),
  ``invariant`` (a returned value broke its invariants), ``crash`` (signal: segfault, abort),
  ``hang`` (no answer at the time limit and none within 2 s of SIGINT), ``oom`` (killed by the
  kernel for memory).

The parent never calls into boltzkit's compute functions: it only draws cases and forks. Children
set a fixed thread count so no child ever touches a thread pool created before the fork.
"""

from __future__ import annotations

import faulthandler
import json
import os
import re
import resource
import signal
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

__all__ = ["DEFECTS", "OUTCOMES", "Call", "CallbackError", "Entry", "Outcome", "run_call"]

OUTCOMES = ("valid", "documented_error", "long", "panic", "wrong_exception", "bad_message", "invariant", "crash", "hang", "oom")
DEFECTS = frozenset(OUTCOMES) - {"valid", "documented_error", "long"}
# seconds a child may take to stop after SIGINT at the time limit before it counts as hung
INTERRUPT_GRACE = 2.0

# extra address space a child may map on top of what the parent already maps
CHILD_EXTRA_BYTES = 3 * 2**30
_NAME_FIRST = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(\[[^\]]*\])*(\.[A-Za-z_][A-Za-z0-9_]*)*: ")


class CallbackError(Exception):
    """Raised on purpose by a misbehaving user callback: re-raising it unchanged is documented."""


@dataclass(frozen=True)
class Call:
    """One fuzz case: ``fn`` runs in a forked child; ``check`` asserts the invariants of its result."""

    fn: Callable[[], object]
    desc: str
    check: Callable[[object], None] | None = None
    timeout: float = 20.0


@dataclass(frozen=True)
class Entry:
    """A public entry point and the strategy that draws calls to it."""

    name: str
    calls: st.SearchStrategy[Call]


@dataclass(frozen=True)
class Outcome:
    kind: str
    detail: str
    seconds: float


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _classify(call: Call) -> tuple[str, str]:
    """Runs the call (in the child) and names its outcome."""
    from boltzkit.errors import ComputationError, InvalidArgumentError, InvalidTypeError

    try:
        out = call.fn()
    except (InvalidArgumentError, InvalidTypeError) as e:
        msg = str(e)
        if _NAME_FIRST.match(msg):
            return "documented_error", f"{type(e).__name__}: {msg}"
        return "bad_message", f"{type(e).__name__}: {msg}"
    except ComputationError as e:
        return "documented_error", f"ComputationError: {e}"
    except CallbackError as e:
        return "documented_error", f"CallbackError: {e}"
    except KeyboardInterrupt:  # only the parent sends SIGINT: at the time limit
        return "long", "still working at the time limit; stopped by SIGINT (KeyboardInterrupt)"
    except BaseException as e:  # the child reports every other exception as what it is
        name = type(e).__name__
        kind = "panic" if name == "PanicException" else "wrong_exception"
        return kind, f"{type(e).__module__}.{name}: {e}"
    if call.check is not None:
        try:
            call.check(out)
        except BaseException as e:
            return "invariant", f"{type(e).__name__}: {e}"
    return "valid", type(out).__name__


def _child(call: Call, wfd: int, errfd: int, limit: int) -> None:  # pragma: no cover - runs after fork
    code = 0
    try:
        faulthandler.disable()
        os.dup2(errfd, 2)
        os.dup2(errfd, 1)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        signal.signal(signal.SIGINT, signal.default_int_handler)
        warnings.simplefilter("ignore")
        import boltzkit

        boltzkit.set_num_threads(2)
        kind, detail = _classify(call)
        payload = json.dumps({"kind": kind, "detail": detail[:2000]}).encode()
        os.write(wfd, payload)
    except BaseException:
        code = 3
    finally:
        os._exit(code)


def _interrupt(pid: int) -> int | None:
    """SIGINT to a child past its time limit: its exit status if it stops within the grace
    period (it then reports ``long``), else None after SIGKILL (a hang)."""
    os.kill(pid, signal.SIGINT)
    t1 = time.perf_counter()
    while time.perf_counter() - t1 < INTERRUPT_GRACE:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def run_call(call: Call, timeout: float | None = None, extra_bytes: int = CHILD_EXTRA_BYTES) -> Outcome:
    """Runs ``call`` in a forked child and classifies what happened."""
    limit = _mapped_bytes() + extra_bytes
    tmo = call.timeout if timeout is None else timeout
    r, w = os.pipe()
    err = tempfile.TemporaryFile()  # noqa: SIM115 - closed below, after the child ends
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        _child(call, w, err.fileno(), limit)
    os.close(w)
    chunks: list[bytes] = []
    status = None
    os.set_blocking(r, False)
    while True:
        try:
            data = os.read(r, 65536)
            if data:
                chunks.append(data)
        except BlockingIOError:
            pass
        done, st_ = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st_
            break
        if time.perf_counter() - t0 > tmo:
            status = _interrupt(pid)
            break
        time.sleep(0.002)
    while True:
        try:
            data = os.read(r, 65536)
        except BlockingIOError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(r)
    secs = time.perf_counter() - t0
    err.seek(0)
    tail = err.read()[-600:].decode(errors="replace").strip()
    err.close()
    if status is None:
        return Outcome("hang", f"no answer within {tmo:.0f} s, nor within {INTERRUPT_GRACE:.0f} s of SIGINT", secs)
    payload = b"".join(chunks)
    if payload:
        try:
            d = json.loads(payload)
            return Outcome(str(d["kind"]), str(d["detail"]), secs)
        except (ValueError, KeyError):
            pass
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        kind = "oom" if sig == signal.SIGKILL else "crash"
        return Outcome(kind, f"killed by {signal.Signals(sig).name}: {tail}", secs)
    return Outcome("crash", f"exit status {os.waitstatus_to_exitcode(status)}: {tail}", secs)
