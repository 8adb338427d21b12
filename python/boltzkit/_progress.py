"""Progress bars: shown on a terminal, silent otherwise."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from tqdm import tqdm

T = TypeVar("T")


def want_progress(progress: bool | None) -> bool:
    """``progress=None`` means: show a bar when stderr is a terminal."""
    if progress is None:
        return sys.stderr.isatty()
    if not isinstance(progress, (bool, np.bool_)):
        from boltzkit.errors import InvalidTypeError

        raise InvalidTypeError(f"progress: expected True, False or None, got {type(progress).__name__}")
    return bool(progress)


def bar(total: int | None, desc: str = "", **kw: Any) -> tqdm[Any]:
    """A tqdm bar on stderr that stays visible on a terminal reporting a size of 0×0 (some CI
    runners, ``docker exec`` without a tty size): tqdm would then draw a bar 0 columns wide, or
    none at all (it hides bars below the last of 0 rows)."""
    from tqdm import tqdm

    try:
        cols, rows = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        cols, rows = shutil.get_terminal_size((0, 0))
    size: dict[str, Any] = {"dynamic_ncols": True} if cols > 0 else {"ncols": 80}
    if rows <= 0:
        size["nrows"] = 24  # tqdm hides every bar at a position >= nrows (and 0 rows hides all)
    return tqdm(total=total, desc=desc, leave=False, **size, **kw)


def track(items: Iterable[T], *, total: int | None = None, desc: str = "", progress: bool | None = None) -> Iterator[T]:
    """Iterate over ``items``, with a tqdm bar when :func:`want_progress` says so."""
    if not want_progress(progress):
        yield from items
        return
    with bar(total, desc) as b:
        for x in items:
            yield x
            b.update(1)


#: What the Rust core calls while it works: ``report(done, total)`` (``total`` 0 = not known).
Report = Callable[[int, int], None]


@contextmanager
def counter(progress: bool | None, desc: str, unit: str = "it") -> Iterator[Report | None]:
    """A callback for a core call's ``progress=`` argument, drawing a bar while the call runs.

    Yields ``None`` (no callback, no overhead) when :func:`want_progress` says no bar. The core
    calls the callback at most every 100 ms from the thread that made the call; the bar closes
    when the block ends, whether the call finished, failed or was interrupted.
    """
    if not want_progress(progress):
        yield None
        return
    with bar(None, desc, unit=unit) as b:

        def report(done: int, total: int) -> None:
            if total and b.total != total:
                b.total = total
            b.n = min(done, total) if total else done
            b.refresh()

        yield report
