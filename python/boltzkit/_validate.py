"""Validation shared by every module: scalar arguments, sizes, and the memory a call may use.

One error convention (issue 14): a type problem raises :class:`InvalidTypeError`, a value problem
:class:`InvalidArgumentError`; the message starts with the public argument's name and states the
allowed range in words (never a ``None`` bound).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import resource
import time
from pathlib import Path

from boltzkit.errors import InvalidArgumentError, InvalidTypeError

__all__ = [
    "I64_MAX",
    "MAX_STEPS",
    "U64_MAX",
    "as_bool",
    "as_float",
    "as_int",
    "as_seed",
    "check_bytes",
    "check_steps",
    "checked_product",
    "fmt_bytes",
    "memory_limit",
    "out_folder",
    "range_words",
]

U64_MAX = 2**64 - 1
I64_MAX = 2**63 - 1
# A sane bound on the elementary steps (spin updates, gradients, samples x layers ...) one call may
# take: about an hour at 1e9 steps per second on a few cores. Larger requests are refused up front.
MAX_STEPS = 4 * 10**12


def range_words(lo: float | None, hi: float | None) -> str:
    """The allowed range in words: ``"between 1 and 10"``, ``"at least 0"``, ``"at most 5"``."""
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    if lo is not None:
        return f"at least {lo}"
    if hi is not None:
        return f"at most {hi}"
    return "any value"


def as_int(name: str, v: object, lo: int | None = 0, hi: int | None = I64_MAX) -> int:
    """``v`` as a Python int in ``[lo, hi]`` (bools refused), else a named error."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise InvalidTypeError(f"{name}: expected an int, got {type(v).__name__}")
    n = int(v)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise InvalidArgumentError(f"{name}: must be an int {range_words(lo, hi)}, got {n}")
    return n


def as_seed(v: object, name: str = "seed") -> int:
    """A seed: an int in ``[0, 2**64 - 1]``."""
    return as_int(name, v, 0, U64_MAX)


def as_bool(name: str, v: object) -> bool:
    """``v`` as a bool (Python or numpy bool only; ints are refused as ambiguous)."""
    if isinstance(v, bool):
        return v
    try:
        import numpy as np

        if isinstance(v, np.bool_):
            return bool(v)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    raise InvalidTypeError(f"{name}: expected True or False, got {type(v).__name__}")


def as_float(
    name: str,
    v: object,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    finite: bool = True,
) -> float:
    """``v`` as a finite float in a (half-)open or closed range, else a named error."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise InvalidTypeError(f"{name}: expected a real number, got {type(v).__name__}")
    try:
        x = float(v)
    except OverflowError:
        raise InvalidArgumentError(f"{name}: must be a finite number, got an int too large for a float") from None
    if math.isnan(x) or (finite and math.isinf(x)):
        raise InvalidArgumentError(f"{name}: must be a finite number, got {x}")
    bad = (lo is not None and (x < lo or (lo_open and x == lo))) or (hi is not None and (x > hi or (hi_open and x == hi)))
    if bad:
        lo_s = None if lo is None else (f"> {lo}" if lo_open else f">= {lo}")
        hi_s = None if hi is None else (f"< {hi}" if hi_open else f"<= {hi}")
        words = " and ".join(s for s in (lo_s, hi_s) if s is not None)
        raise InvalidArgumentError(f"{name}: must be {words}, got {x}")
    return x


def checked_product(*factors: int) -> int:
    """Exact product of non-negative ints (Python ints never overflow)."""
    p = 1
    for f in factors:
        p *= int(f)
    return p


_CGROUP_CACHE: dict[int, tuple[float, int | None]] = {}


def _cgroup_limit() -> int | None:
    """The cgroup (v2 or v1) memory limit of this process, or None when there is none; read
    from ``/sys/fs/cgroup`` at most once a second per process (reading it costs ~0.1 ms, and
    every sized call asks)."""
    now = time.monotonic()
    hit = _CGROUP_CACHE.get(os.getpid())
    if hit is not None and now - hit[0] < 1.0:
        return hit[1]
    value = _read_cgroup_limit()
    _CGROUP_CACHE.clear()
    _CGROUP_CACHE[os.getpid()] = (now, value)
    return value


def _read_cgroup_limit() -> int | None:
    candidates = []
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            parts = line.split(":", 2)
            if len(parts) == 3:
                rel = parts[2].lstrip("/")
                if parts[0] == "0":
                    candidates.append(Path("/sys/fs/cgroup") / rel / "memory.max")
                elif "memory" in parts[1].split(","):
                    candidates.append(Path("/sys/fs/cgroup/memory") / rel / "memory.limit_in_bytes")
    except OSError:
        pass
    candidates += [Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")]
    for p in candidates:
        try:
            s = p.read_text().strip()
        except OSError:
            continue
        if s and s != "max":
            try:
                v = int(s)
            except ValueError:
                continue
            if 0 < v < 2**60:  # v1 reports "no limit" as a huge number
                return v
    return None


def memory_limit() -> int | None:
    """Bytes of memory this process may use: the smallest of physical memory, the address-space
    limit (RLIMIT_AS, less what the process already maps) and the cgroup limit; None if unknown."""
    limits: list[int] = []
    with contextlib.suppress(AttributeError, ValueError, OSError):
        limits.append(int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES")))
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY and soft > 0:
            used = 0
            with contextlib.suppress(OSError, ValueError, IndexError):
                used = int(Path("/proc/self/statm").read_text().split()[0]) * int(os.sysconf("SC_PAGE_SIZE"))
            limits.append(max(int(soft) - used, 0))
    except (ValueError, OSError):
        pass
    cg = _cgroup_limit()
    if cg is not None:
        limits.append(cg)
    return min(limits) if limits else None


def fmt_bytes(n: float) -> str:
    """Bytes in human units (``"7.3 TiB"``)."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def check_bytes(name: str, nbytes: float, what: str) -> None:
    """Refuse work that needs ``nbytes`` of memory when the process may use less.

    ``name`` is the argument to blame, ``what`` a description of the buffer (``"1000 chains x
    10^9 records of dimension 3"``).
    """
    lim = memory_limit()
    if lim is not None and nbytes > lim:
        raise InvalidArgumentError(
            f"{name}: {what} would need about {fmt_bytes(nbytes)} of memory, more than the "
            f"{fmt_bytes(lim)} this process may use (the smaller of physical memory, RLIMIT_AS and the cgroup limit)"
        )


def check_steps(name: str, steps: int, what: str, limit: int = MAX_STEPS) -> None:
    """Refuse work of more than ``limit`` elementary steps (a sane time bound)."""
    if steps > limit:
        raise InvalidArgumentError(
            f"{name}: {what} is {steps:.3g} steps, more than the {limit:.0e} one call may take "
            "(about an hour); split the work into several calls"
        )


def out_folder(name: str, value: object) -> Path:
    """An output folder: created if missing and checked writable before any work starts.

    Raises ``InvalidTypeError`` for a value that is not a path and ``InvalidArgumentError`` (naming
    ``name`` and saying why) for a path that is a file, cannot be created or cannot be written.
    """
    if not isinstance(value, str | os.PathLike):
        raise InvalidTypeError(f"{name}: expected a folder path (str or Path), got {type(value).__name__}")
    folder = Path(value)
    if folder.exists() and not folder.is_dir():
        raise InvalidArgumentError(f"{name}: {str(folder)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".boltzkit-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise InvalidArgumentError(f"{name}: cannot write to {str(folder)!r} ({e.strerror or e})") from None
    return folder
