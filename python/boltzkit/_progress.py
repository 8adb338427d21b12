"""Progress bars: shown on a terminal, silent otherwise."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tqdm import tqdm

T = TypeVar("T")


def want_progress(progress: bool | None) -> bool:
    """``progress=None`` means: show a bar when stderr is a terminal."""
    if progress is None:
        return sys.stderr.isatty()
    return bool(progress)


def bar(total: int | None, desc: str = "", **kw: Any) -> tqdm[Any]:
    """A tqdm bar on stderr that stays visible on a terminal reporting a size of 0×0 (some CI
    runners, ``docker exec`` without a tty size): tqdm would then draw a bar 0 columns wide."""
    from tqdm import tqdm

    try:
        cols = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        cols = shutil.get_terminal_size((0, 0)).columns
    size: dict[str, Any] = {"dynamic_ncols": True} if cols > 0 else {"ncols": 80}
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
